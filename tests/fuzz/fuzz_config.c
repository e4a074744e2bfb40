/*
 * fuzz_config.c: libFuzzer target for the configuration loader. Any byte
 * string is fed to hb_config_load_string; it must return a config or
 * errors, never crash, leak or read out of bounds. A loaded config is also
 * deep-copied peer by peer and compared, and the environment overrides are
 * applied, to reach the table-driven helpers; bridge.shard is resolved and
 * its peers kept, and the input itself is read as a shard and as a HOSTNAME
 * (outside input both).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "honeybee/config.h"

#include "config/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *s_env(const char *name)
{
    return strcmp(name, "HONEYBEE_LOG_LEVEL") == 0 ? "debug" : NULL;
}

/* The bytes as a bridge.shard value and as the HOSTNAME of "auto/N". */
static void s_shard_text(const uint8_t *data, size_t size)
{
    char *t = malloc(size + 1);
    if (!t) return;
    memcpy(t, data, size);
    t[size] = 0;
    hb__shard sh;
    char why[64]; /* short on purpose: every message is cut, never overrun */
    if (hb__shard_parse(t, NULL, &sh, why, sizeof why) && sh.index != UINT32_MAX &&
        sh.index >= sh.count)
        abort();
    if (hb__shard_parse("auto/7", t, &sh, why, sizeof why) && sh.index >= 7) abort();
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_shard_text(data, size);
    hb_config *cfg = NULL;
    char *errors = NULL;
    int rc = hb_config_load_string((const char *)data, size, "fuzz.yaml", &cfg, &errors);
    if (rc == 0) {
        if (!cfg || errors) abort(); /* success means a config and no errors */
        for (size_t i = 0; i < cfg->n_peers; i++) {
            hb_peer_cfg copy;
            if (hb_peer_cfg_copy(&copy, &cfg->peers[i]) == 0) {
                if (!hb_peer_cfg_equal(&copy, &cfg->peers[i])) abort();
                hb_peer_cfg_free(&copy);
            }
        }
        char *env_errors = NULL;
        hb_config_apply_env(cfg, s_env, &env_errors);
        free(env_errors);
        hb__shard sh;
        char why[256];
        if (hb__shard_parse(cfg->bridge.shard, "honeybee-1", &sh, why, sizeof why)) {
            if (sh.index >= sh.count) abort();
            size_t n = cfg->n_peers, dropped = hb__config_shard_filter(cfg, sh);
            if (dropped + cfg->n_peers != n) abort();
        }
    } else if (cfg || (rc == HB_E_CONFIG && !errors)) {
        abort(); /* failure means no config, and HB_E_CONFIG always says why */
    }
    free(errors);
    hb_config_destroy(&cfg);
    return 0;
}
