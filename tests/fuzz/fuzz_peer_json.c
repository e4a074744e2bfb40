/*
 * fuzz_peer_json.c: libFuzzer target for hb_peer_cfg_from_json, the parser
 * of a control `connect`'s `options` (outside input from any ZeroMQ
 * client). The input is split at the first two newlines into id, url and
 * options, so ids and URLs are fuzzed too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "honeybee/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hb_config *s_defaults;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_defaults && hb_config_defaults(&s_defaults) != 0) abort();
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *id = buf, *url = NULL, *opts = NULL;
    char *nl = strchr(buf, '\n');
    if (nl) {
        *nl = '\0';
        url = nl + 1;
        nl = strchr(url, '\n');
        if (nl) {
            *nl = '\0';
            opts = nl + 1;
        }
    }
    hb_peer_cfg p;
    char *errors = NULL;
    int rc = hb_peer_cfg_from_json(&s_defaults->pool, id, url, opts, &p, &errors);
    if (rc == 0) {
        if (errors || !p.id || !p.url) abort();
        hb_peer_cfg copy;
        if (hb_peer_cfg_copy(&copy, &p) == 0) {
            if (!hb_peer_cfg_equal(&copy, &p)) abort();
            hb_peer_cfg_free(&copy);
        }
        hb_peer_cfg_free(&p);
    } else if (!errors && rc != HB_E_NOMEM) {
        abort();
    }
    free(errors);
    free(buf);
    return 0;
}
