/*
 * peer.c: one peer's configuration outside a file: the `options` of a
 * control `connect` (JSON, read through the same schema walker as YAML and
 * merged key by key into `pool`), id checks, deep copy, comparison and
 * release. Pure; any thread.
 */
#include "config/load.h"
#include "config/tree.h"

#include "core/url.h"
#include "core/utf8.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

bool hb_peer_id_valid(const char *id, size_t len)
{
    if (!id || len < 1 || len > 128) return false;
    if (!hb__utf8_valid(id, len)) return false;
    const unsigned char *p = (const unsigned char *)id;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '*') return false;
        /* C1 controls U+0080..U+009F are encoded C2 80..C2 9F. */
        if (p[i] == 0xC2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F) return false;
    }
    return true;
}

void hb_peer_cfg_free(hb_peer_cfg *p)
{
    if (!p) return;
    hb__cfg_section_free(HB__S_PEER, p);
    hb__cfg_section_free(HB__S_POOL, &p->opts);
    memset(p, 0, sizeof *p);
}

int hb_peer_cfg_copy(hb_peer_cfg *dst, const hb_peer_cfg *src)
{
    memset(dst, 0, sizeof *dst);
    if (hb__cfg_section_copy(HB__S_PEER, dst, src)) {
        memset(dst, 0, sizeof *dst);
        return HB_E_NOMEM;
    }
    /* The PEER copy memcpy'd src->opts; replace it with a deep copy. */
    if (hb__cfg_section_copy(HB__S_POOL, &dst->opts, &src->opts)) {
        memset(&dst->opts, 0, sizeof dst->opts);
        hb_peer_cfg_free(dst);
        return HB_E_NOMEM;
    }
    return 0;
}

bool hb_peer_cfg_equal(const hb_peer_cfg *a, const hb_peer_cfg *b)
{
    return hb__cfg_section_equal(HB__S_PEER, a, b) &&
           hb__cfg_section_equal(HB__S_POOL, &a->opts, &b->opts) &&
           a->public_only == b->public_only;
}

int hb_peer_cfg_from_json(const hb_peer_opts *pool, const char *id, const char *url,
                          const char *options_json, hb_peer_cfg *out, char **errors)
{
    memset(out, 0, sizeof *out);
    if (errors) *errors = NULL;
    hb__errs errs = {0};
    int rc = 0;
    json_t *json = NULL;
    hb__node *tree = NULL;
    int *lines = NULL;

    if (!id || !hb_peer_id_valid(id, strlen(id))) {
        hb__errs_add(&errs, NULL, 0, "id",
                     "must be 1 to 128 bytes of UTF-8 without \"*\" or control characters");
        rc = HB_E_BAD_REQUEST;
        goto done;
    }
    if (!url || !hb__ws_url_parse(url, NULL)) {
        hb__errs_add(&errs, NULL, 0, "url",
                     "must be a ws:// or wss:// URL of at most 2048 bytes with a host (optional "
                     "port, path, query)");
        rc = HB_E_INVALID_URL;
        goto done;
    }
    out->id = strdup(id);
    out->url = strdup(url);
    if (!out->id || !out->url || hb__cfg_section_copy(HB__S_POOL, &out->opts, pool)) {
        rc = HB_E_NOMEM;
        goto done;
    }
    if (options_json && *options_json) {
        json_error_t jerr;
        json = json_loads(options_json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (!json) {
            hb__errs_add(&errs, NULL, 0, "options", "invalid JSON: %s", jerr.text);
            rc = HB_E_INVALID_OPTION;
            goto done;
        }
        if (json_is_null(json)) goto done;
        if (!json_is_object(json)) {
            hb__errs_add(&errs, NULL, 0, "options", "must be a JSON object");
            rc = HB_E_INVALID_OPTION;
            goto done;
        }
        rc = hb__json_tree(json, &tree);
        if (rc == HB_E_INVALID_OPTION) hb__errs_add(&errs, NULL, 0, "options", "nested too deep");
        if (rc) goto done;
        lines = calloc(hb__cfg_nkeys, sizeof *lines);
        if (!lines) {
            rc = HB_E_NOMEM;
            goto done;
        }
        hb__cfg_walk_ctx c = {.file = NULL,
                              .errs = &errs,
                              .mask = (1u << HB__S_POOL) | (1u << HB__S_PEER),
                              .allow_identity = false,
                              .lines = lines};
        c.bases[HB__S_POOL] = &out->opts;
        c.bases[HB__S_PEER] = out;
        hb__cfg_walk(&c, tree, "", "options");
        hb__cfg_lines l = {.line = lines};
        hb__peer_validate(out, NULL, "options", &l, false, &errs);
        if (errs.n || errs.dropped)
            rc = HB_E_INVALID_OPTION;
        else if (errs.oom)
            rc = HB_E_NOMEM;
    }

done:
    if (rc) {
        hb_peer_cfg_free(out);
        if (errors) {
            if (!errs.n) hb__errs_add(&errs, NULL, 0, "options", "%s", hb_strerror(rc));
            *errors = hb__errs_take(&errs);
        }
    }
    hb__errs_free(&errs);
    hb__node_free(tree);
    free(lines);
    json_decref(json);
    return rc;
}
