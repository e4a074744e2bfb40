/*
 * validate.c: the second pass over a loaded config. Ranges and checks come
 * from the schema table; the cross-key rules (every peer has an id and a
 * URL, ids are unique) live here. Each message names the line recorded by
 * the first pass, or the peer's own line when the key was not written.
 * Inherited pool values are checked once, at `pool`, not again per peer.
 * Pure; any thread.
 */
#include "config/schema.h"

#include "core/endpoint.h"
#include "core/netrule.h"

#include <stdlib.h>
#include <string.h>

static int s_line(const hb__cfg_lines *l, size_t i)
{
    return l && l->line ? l->line[i] : 0;
}

/* Line of the row at `path` in `section`, 0 if unknown. */
static int s_row_line(const hb__cfg_lines *l, hb__cfg_section section, const char *path)
{
    for (size_t i = 0; i < hb__cfg_nkeys; i++)
        if (hb__cfg_keys[i].section == section && !strcmp(hb__cfg_keys[i].path, path))
            return l && l->line ? l->line[i] : 0;
    return 0;
}

bool hb__peer_validate(const hb_peer_cfg *p, const char *file, const char *key,
                       const hb__cfg_lines *lines, bool check_all, hb__errs *errs)
{
    bool ok = true;
    char k[320];
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *row = &hb__cfg_keys[i];
        int line = s_line(lines, i);
        snprintf(k, sizeof k, "%s.%s", key, row->path);
        if (row->section == HB__S_POOL) {
            if (line == HB__LINE_FAILED || (line == 0 && !check_all)) continue;
            ok &= hb__cfg_check_value(row, &p->opts, file, line > 0 ? line : p->line, k, errs);
        } else if (row->section == HB__S_PEER) {
            if (line == HB__LINE_FAILED) continue;
            if ((row->flags & HB__F_REQUIRED) && !*(char *const *)((const char *)p + row->off)) {
                hb__errs_add(errs, file, p->line, k, "is required");
                ok = false;
                continue;
            }
            ok &= hb__cfg_check_value(row, p, file, line > 0 ? line : p->line, k, errs);
        }
    }
    /* What the peer writes itself must fit its own limit: a 20 MB
     * on_connect message would be refused on every connect. */
    uint64_t max = p->opts.max_message_size;
    for (size_t i = 0; i < p->n_on_connect; i++)
        if (p->on_connect[i] && strlen(p->on_connect[i]) > max) {
            snprintf(k, sizeof k, "%s.on_connect", key);
            hb__errs_add(errs, file, p->line, k,
                         "item %zu is %zu bytes, more than max_message_size (%llu bytes)", i,
                         strlen(p->on_connect[i]), (unsigned long long)max);
            ok = false;
        }
    /* Both inherited: checked once, at `pool` (hb__config_validate). */
    bool inherited = lines && lines->line &&
                     s_row_line(lines, HB__S_POOL, "keepalive.app_ping") == 0 &&
                     s_row_line(lines, HB__S_POOL, "max_message_size") == 0;
    if (!inherited && p->opts.keepalive.app_ping && strlen(p->opts.keepalive.app_ping) > max) {
        snprintf(k, sizeof k, "%s.keepalive.app_ping", key);
        hb__errs_add(errs, file, p->line, k, "is longer than max_message_size (%llu bytes)",
                     (unsigned long long)max);
        ok = false;
    }
    return ok;
}

bool hb__config_check_endpoints(const hb_config *cfg, const char *file, const hb__cfg_lines *top,
                                hb__errs *errs)
{
    const hb_bridge_cfg *b = &cfg->bridge;
    const char *names[5] = {"inbox", "events", "send", "control", "http"};
    const char *eps[5] = {b->inbox, b->events, b->send, b->control, b->http};
    hb__endpoint e[5];
    bool have[5], ok = true;
    for (int i = 0; i < 5; i++)
        have[i] = i < 4 ? hb__endpoint_parse(eps[i], &e[i], NULL)
                        : (eps[i] && *eps[i] && hb__listen_parse(eps[i], &e[i], NULL));
    for (int i = 1; i < 5; i++)
        for (int j = 0; j < i; j++) {
            if (!have[i] || !have[j] || !hb__endpoint_overlap(&e[i], &e[j])) continue;
            char key[64];
            snprintf(key, sizeof key, "bridge.%s", names[i]);
            hb__errs_add(errs, file, s_row_line(top, HB__S_BRIDGE, names[i]), key,
                         "%s binds where bridge.%s binds (%s): every socket needs its own "
                         "endpoint",
                         eps[i], names[j], eps[j]);
            ok = false;
            break;
        }
    return ok;
}

/* Line of a peer's `id` value, 0 if unknown. */
static int s_id_line(const hb__cfg_lines *l)
{
    for (size_t i = 0; i < hb__cfg_nkeys; i++)
        if (hb__cfg_keys[i].section == HB__S_PEER && !strcmp(hb__cfg_keys[i].path, "id"))
            return s_line(l, i);
    return 0;
}

/* Orders peer indices by id, then by position (so the later duplicate is
 * the one reported). qsort_r keeps this reentrant: several threads may
 * load configurations at once. */
static int s_by_id(const void *a, const void *b, void *ud)
{
    const hb_config *cfg = ud;
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    int c = strcmp(cfg->peers[ia].id, cfg->peers[ib].id);
    if (c) return c;
    return ia < ib ? -1 : ia > ib;
}

bool hb__config_validate(const hb_config *cfg, const char *file, const hb__cfg_lines *top,
                         const hb__cfg_lines *peers, hb__errs *errs)
{
    bool ok = true;
    char key[320];
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        const void *base = hb__cfg_section_base((hb_config *)cfg, k->section);
        if (!base) continue;
        int line = s_line(top, i);
        if (line == HB__LINE_FAILED) continue;
        snprintf(key, sizeof key, "%s.%s", hb__cfg_section_name(k->section), k->path);
        ok &= hb__cfg_check_value(k, base, file, line, key, errs);
    }
    /* The pool's own app_ping must fit its own limit, peers or not: a
     * control `connect` without options inherits both. */
    if (cfg->pool.keepalive.app_ping &&
        strlen(cfg->pool.keepalive.app_ping) > cfg->pool.max_message_size) {
        hb__errs_add(errs, file, s_row_line(top, HB__S_POOL, "keepalive.app_ping"),
                     "pool.keepalive.app_ping", "is longer than max_message_size (%llu bytes)",
                     (unsigned long long)cfg->pool.max_message_size);
        ok = false;
    }
    for (size_t i = 0; i < cfg->n_peers; i++) {
        snprintf(key, sizeof key, "peers[%zu]", i);
        ok &= hb__peer_validate(&cfg->peers[i], file, key, peers ? &peers[i] : NULL, false, errs);
    }

    ok &= hb__config_check_endpoints(cfg, file, top, errs);

    /* bridge.curve: a CURVE server needs both lists of clients. */
    const hb_curve_cfg *cv = &cfg->bridge.curve;
    if (cv->server_cert && *cv->server_cert) {
        const char *dirs[2] = {cv->readers, cv->writers};
        const char *nm[2] = {"curve.readers", "curve.writers"};
        for (int i = 0; i < 2; i++)
            if (!dirs[i] || !*dirs[i]) {
                snprintf(key, sizeof key, "bridge.%s", nm[i]);
                hb__errs_add(errs, file, s_row_line(top, HB__S_BRIDGE, "curve.server_cert"), key,
                             "is required with bridge.curve.server_cert (a directory of client "
                             "certificates)");
                ok = false;
            }
    }

    /* pool.allow: every peer of the file must be within it. */
    for (size_t i = 0; i < cfg->n_peers; i++) {
        const hb_peer_cfg *p = &cfg->peers[i];
        if (!p->url || hb__allow_match(cfg->pool_wide.allow, cfg->pool_wide.n_allow, p->url))
            continue;
        snprintf(key, sizeof key, "peers[%zu].url", i);
        hb__errs_add(errs, file, p->line, key, "%s is not allowed by pool.allow", p->url);
        ok = false;
    }

    /* Duplicate ids: sort indices by id and compare neighbours. */
    size_t n = 0;
    size_t *idx = cfg->n_peers ? malloc(cfg->n_peers * sizeof *idx) : NULL;
    if (cfg->n_peers && !idx) {
        errs->oom = true;
        return false;
    }
    for (size_t i = 0; i < cfg->n_peers; i++)
        if (cfg->peers[i].id) idx[n++] = i;
    if (n > 1) qsort_r(idx, n, sizeof *idx, s_by_id, (void *)cfg);
    size_t first = 0;
    for (size_t j = 1; j < n; j++) {
        const hb_peer_cfg *p = &cfg->peers[idx[j]];
        if (strcmp(p->id, cfg->peers[idx[first]].id) != 0) {
            first = j;
            continue;
        }
        const hb_peer_cfg *orig = &cfg->peers[idx[first]];
        snprintf(key, sizeof key, "peers[%zu].id", idx[j]);
        int line = s_id_line(peers ? &peers[idx[j]] : NULL);
        if (orig->line > 0)
            hb__errs_add(errs, file, line > 0 ? line : p->line, key,
                         "duplicate peer id (first used by peers[%zu] at line %d)", idx[first],
                         orig->line);
        else
            hb__errs_add(errs, file, line > 0 ? line : p->line, key,
                         "duplicate peer id (first used by peers[%zu])", idx[first]);
        ok = false;
    }
    free(idx);
    return ok;
}
