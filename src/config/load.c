/*
 * load.c: from a YAML text to a validated hb_config, and the config's life
 * cycle (defaults, destroy).
 *
 * Two passes, as the house style asks. The first walks the parse tree
 * against the schema table: unknown keys, duplicate keys and values of the
 * wrong type or notation are errors here, and each key's line is recorded.
 * The `pool` section is read before `peers` whatever their order in the
 * file, so that each peer starts from a copy of the finished pool and its
 * own keys override it one by one. The second pass (validate.c) checks
 * ranges and cross-key rules on the plain structs, using the recorded lines
 * to name the place. Every problem is collected; nothing stops at the first.
 * Pure apart from reading the file; any thread.
 */
#include "config/load.h"

#include "config/tree.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Is there a row in the sections of `mask` whose path starts with "prefix."? */
static bool s_is_group(unsigned mask, const char *prefix, size_t plen)
{
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (!(mask & (1u << k->section))) continue;
        if (strncmp(k->path, prefix, plen) == 0 && k->path[plen] == '.') return true;
    }
    return false;
}

static const hb__cfg_key *s_find(unsigned mask, const char *path, size_t *index)
{
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if ((mask & (1u << k->section)) && strcmp(k->path, path) == 0) {
            *index = i;
            return k;
        }
    }
    return NULL;
}

void hb__cfg_walk(const hb__cfg_walk_ctx *c, const hb__node *map, const char *prefix,
                  const char *keyname)
{
    if (map->kind == HB__N_SCALAR && map->plain &&
        (map->len == 0 || !strcmp(map->text, "null") || !strcmp(map->text, "~")))
        return; /* "pool:" with nothing under it */
    if (map->kind != HB__N_MAP) {
        hb__errs_add(c->errs, c->file, map->line, keyname, "expected a mapping, got %s",
                     map->kind == HB__N_SEQ ? "a list" : "a scalar");
        return;
    }
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const hb__node *kn = map->kids[i], *vn = map->kids[i + 1];
        if (kn->kind != HB__N_SCALAR || memchr(kn->text, '\0', kn->len) || kn->len > 64) {
            hb__errs_add(c->errs, c->file, kn->line, keyname, "invalid key");
            continue;
        }
        char path[160], key[320];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", kn->text);
        snprintf(key, sizeof key, "%s.%s", keyname, kn->text);
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j += 2)
            dup = map->kids[j]->kind == HB__N_SCALAR && strcmp(map->kids[j]->text, kn->text) == 0;
        if (dup) {
            hb__errs_add(c->errs, c->file, kn->line, key, "duplicate key");
            continue;
        }
        size_t idx;
        /* A dotted key ("reconnect.jitter") would match a row's path: nest
         * mappings instead, so there is one way to write each key. */
        const hb__cfg_key *k = memchr(kn->text, '.', kn->len) ? NULL : s_find(c->mask, path, &idx);
        if (k) {
            if ((k->flags & HB__F_IDENTITY) && !c->allow_identity) {
                hb__errs_add(c->errs, c->file, kn->line, key,
                             "is given by the request itself, not in options");
                continue;
            }
            bool ok = hb__cfg_set(k, c->bases[k->section], vn, c->file, key, c->errs);
            if (c->lines) c->lines[idx] = !ok ? HB__LINE_FAILED : vn->line > 0 ? vn->line : -1;
        } else if (!memchr(kn->text, '.', kn->len) && s_is_group(c->mask, path, strlen(path))) {
            hb__cfg_walk(c, vn, path, key);
        } else {
            const char *hint = "";
            if ((c->mask & (1u << HB__S_POOLWIDE)) &&
                (!strcmp(path, "headers") || !strcmp(path, "subprotocols") ||
                 !strcmp(path, "on_connect")))
                hint = " (headers, subprotocols and on_connect belong to peers only)";
            if ((c->mask & (1u << HB__S_PEER)) && s_find(1u << HB__S_POOLWIDE, path, &idx))
                hint = " here (it is pool-wide: set it in `pool`, for every peer)";
            hb__errs_add(c->errs, c->file, kn->line, key, "unknown key%s", hint);
        }
    }
}

int hb_config_defaults(hb_config **out)
{
    *out = NULL;
    hb_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) return HB_E_NOMEM;
    if (hb__cfg_section_defaults(HB__S_BRIDGE, &cfg->bridge) ||
        hb__cfg_section_defaults(HB__S_POOL, &cfg->pool) ||
        hb__cfg_section_defaults(HB__S_POOLWIDE, &cfg->pool_wide) ||
        hb__cfg_section_defaults(HB__S_LOG, &cfg->log)) {
        hb_config_destroy(&cfg);
        return HB_E_NOMEM;
    }
    *out = cfg;
    return 0;
}

void hb_config_destroy(hb_config **pcfg)
{
    if (!pcfg || !*pcfg) return;
    hb_config *cfg = *pcfg;
    hb__cfg_section_free(HB__S_BRIDGE, &cfg->bridge);
    hb__cfg_section_free(HB__S_POOL, &cfg->pool);
    hb__cfg_section_free(HB__S_POOLWIDE, &cfg->pool_wide);
    hb__cfg_section_free(HB__S_LOG, &cfg->log);
    for (size_t i = 0; i < cfg->n_peers; i++) hb_peer_cfg_free(&cfg->peers[i]);
    free(cfg->peers);
    free(cfg->path);
    free(cfg);
    *pcfg = NULL;
}

/* Reads the `peers` list: each peer starts as a copy of the finished pool. */
static int s_peers(hb_config *cfg, const hb__node *seq, const char *file, hb__cfg_lines **plines,
                   hb__errs *errs)
{
    if (seq->kind == HB__N_SCALAR && seq->plain &&
        (seq->len == 0 || !strcmp(seq->text, "null") || !strcmp(seq->text, "~")))
        return 0;
    if (seq->kind != HB__N_SEQ) {
        hb__errs_add(errs, file, seq->line, "peers", "expected a list of peers, got %s",
                     seq->kind == HB__N_MAP ? "a mapping" : "a scalar");
        return 0;
    }
    if (seq->n == 0) return 0;
    cfg->peers = calloc(seq->n, sizeof *cfg->peers);
    hb__cfg_lines *lines = calloc(seq->n, sizeof *lines);
    *plines = lines;
    if (!cfg->peers || !lines) return HB_E_NOMEM;
    for (size_t i = 0; i < seq->n; i++) {
        const hb__node *pn = seq->kids[i];
        hb_peer_cfg *p = &cfg->peers[cfg->n_peers];
        lines[cfg->n_peers].line = calloc(hb__cfg_nkeys, sizeof(int));
        if (!lines[cfg->n_peers].line) return HB_E_NOMEM;
        if (hb__cfg_section_copy(HB__S_POOL, &p->opts, &cfg->pool)) return HB_E_NOMEM;
        p->line = pn->line;
        cfg->n_peers++;
        char key[48];
        snprintf(key, sizeof key, "peers[%zu]", i);
        if (pn->kind != HB__N_MAP) {
            hb__errs_add(errs, file, pn->line, key, "expected a mapping (id, url, ...), got %s",
                         pn->kind == HB__N_SEQ ? "a list" : "a scalar");
            continue;
        }
        hb__cfg_walk_ctx c = {.file = file,
                              .errs = errs,
                              .mask = (1u << HB__S_POOL) | (1u << HB__S_PEER),
                              .allow_identity = true,
                              .lines = lines[cfg->n_peers - 1].line};
        c.bases[HB__S_POOL] = &p->opts;
        c.bases[HB__S_PEER] = p;
        hb__cfg_walk(&c, pn, "", key);
    }
    return 0;
}

int hb_config_load_string(const char *yaml, size_t len, const char *name, hb_config **out,
                          char **errors)
{
    *out = NULL;
    if (errors) *errors = NULL;
    if (!name) name = "<config>";
    hb__errs errs = {0};
    hb__node *root = NULL;
    hb_config *cfg = NULL;
    hb__cfg_lines top = {0};
    hb__cfg_lines *plines = NULL;
    size_t n_plines = 0;

    int rc = hb__yaml_tree(yaml ? yaml : "", yaml ? len : 0, name, &root, &errs);
    if (rc) goto done;
    rc = hb_config_defaults(&cfg);
    if (rc) goto done;
    cfg->path = strdup(name);
    top.line = calloc(hb__cfg_nkeys, sizeof(int));
    if (!cfg->path || !top.line) {
        rc = HB_E_NOMEM;
        goto done;
    }
    if (root && !(root->kind == HB__N_SCALAR && root->plain && root->len == 0)) {
        if (root->kind != HB__N_MAP) {
            hb__errs_add(&errs, name, root->line, "(root)",
                         "expected a mapping with bridge, pool, peers, log");
        } else {
            const hb__node *peers = NULL;
            for (size_t i = 0; i + 1 < root->n; i += 2) {
                const hb__node *kn = root->kids[i], *vn = root->kids[i + 1];
                const char *k = kn->kind == HB__N_SCALAR ? kn->text : "";
                bool dup = false;
                for (size_t j = 0; j < i && !dup; j += 2)
                    dup = root->kids[j]->kind == HB__N_SCALAR && !strcmp(root->kids[j]->text, k);
                int sec = -1;
                if (dup) {
                    hb__errs_add(&errs, name, kn->line, k, "duplicate key");
                    continue;
                } else if (!strcmp(k, "bridge")) {
                    sec = HB__S_BRIDGE;
                } else if (!strcmp(k, "pool")) {
                    sec = HB__S_POOL;
                } else if (!strcmp(k, "log")) {
                    sec = HB__S_LOG;
                } else if (!strcmp(k, "peers")) {
                    peers = vn;
                    continue;
                } else {
                    hb__errs_add(&errs, name, kn->line, kn->kind == HB__N_SCALAR ? k : "(key)",
                                 "unknown key (expected bridge, pool, peers or log)");
                    continue;
                }
                /* `pool` holds the peers' defaults and the pool-wide keys. */
                unsigned mask = 1u << sec;
                if (sec == HB__S_POOL) mask |= 1u << HB__S_POOLWIDE;
                hb__cfg_walk_ctx c = {.file = name,
                                      .errs = &errs,
                                      .mask = mask,
                                      .allow_identity = true,
                                      .lines = top.line};
                c.bases[HB__S_BRIDGE] = &cfg->bridge;
                c.bases[HB__S_POOL] = &cfg->pool;
                c.bases[HB__S_LOG] = &cfg->log;
                c.bases[HB__S_POOLWIDE] = &cfg->pool_wide;
                hb__cfg_walk(&c, vn, "", k);
            }
            if (peers) {
                rc = s_peers(cfg, peers, name, &plines, &errs);
                n_plines = plines ? peers->n : 0;
                if (rc) goto done;
            }
        }
    }
    hb__config_validate(cfg, name, &top, plines, &errs);
    rc = (errs.n || errs.dropped) ? HB_E_CONFIG : errs.oom ? HB_E_NOMEM : 0;

done:
    if (rc == 0) {
        *out = cfg;
        cfg = NULL;
    } else if (rc == HB_E_NOMEM && !errs.n) {
        hb__errs_add(&errs, name, 0, "(load)", "out of memory");
    }
    if (errors && (errs.n || errs.dropped || errs.oom)) *errors = hb__errs_take(&errs);
    hb__errs_free(&errs);
    hb__node_free(root);
    hb_config_destroy(&cfg);
    free(top.line);
    if (plines) {
        for (size_t i = 0; i < n_plines; i++) free(plines[i].line);
        free(plines);
    }
    return rc;
}

int hb_config_load_file(const char *path, hb_config **out, char **errors)
{
    *out = NULL;
    if (errors) *errors = NULL;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (!f) goto io_error;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 16384;
            if (cap > (64u << 20)) {
                errno = EFBIG; /* a config file of 64 MiB is a mistake */
                goto io_error;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                errno = ENOMEM;
                goto io_error;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) goto io_error;
            break;
        }
    }
    fclose(f);
    buf[len] = '\0';
    int rc = hb_config_load_string(buf, len, path, out, errors);
    free(buf);
    return rc;

io_error : {
    int e = errno;
    if (f) fclose(f);
    free(buf);
    if (errors) {
        hb__errs errs = {0};
        hb__errs_add(&errs, path, 0, "(file)", "cannot read: %s", strerror(e));
        *errors = hb__errs_take(&errs);
    }
    return HB_E_IO;
}
}

uint32_t hb__cfg_loops_auto(long cpus)
{
    if (cpus <= 2) return 1;
    return cpus - 1 > (long)HB_POOL_MAX_LOOPS ? HB_POOL_MAX_LOOPS : (uint32_t)(cpus - 1);
}

long hb__cfg_cpu_quota(const char *max, const char *quota_us, const char *period_us)
{
    long long q = 0, p = 0;
    if (max) {
        char tail;
        if (sscanf(max, "%lld %lld %c", &q, &p, &tail) != 2) return 0; /* "max ..." too */
    } else {
        if (!quota_us || !period_us || sscanf(quota_us, "%lld", &q) != 1 ||
            sscanf(period_us, "%lld", &p) != 1)
            return 0;
    }
    if (q <= 0 || p <= 0) return 0; /* v1 says -1 for none */
    long long cpus = (q + p - 1) / p;
    return cpus > 4096 ? 4096 : (long)cpus;
}

/* The first line of a small file under /sys, or NULL. */
static char *s_sysline(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f) return NULL;
    char *r = fgets(buf, (int)cap, f);
    fclose(f);
    return r;
}

/* cgroup v2: the smallest CPU quota on the way from this process's cgroup
 * (/proc/self/cgroup "0::/PATH") up to the root; 0 for none. A quota set
 * on a parent (a systemd slice, a pod) binds its children too. */
static long s_v2_quota(void)
{
    char line[512], path[600], a[64];
    const char *rel = "";
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "0::", 3)) {
                line[strcspn(line, "\n")] = 0;
                rel = line + 3;
                break;
            }
        fclose(f);
    }
    long best = 0;
    snprintf(path, sizeof path, "/sys/fs/cgroup%s", strcmp(rel, "/") ? rel : "");
    for (;;) {
        size_t n = strlen(path);
        snprintf(path + n, sizeof path - n, "/cpu.max");
        long q = hb__cfg_cpu_quota(s_sysline(path, a, sizeof a), NULL, NULL);
        if (q && (!best || q < best)) best = q;
        path[n] = 0;
        char *slash = strrchr(path, '/');
        if (n <= strlen("/sys/fs/cgroup") || !slash) break;
        *slash = 0;
    }
    return best;
}

/* Any thread (the daemon: once at start). The CPUs this process may run on, and no
 * more than its container's CPU quota allows: in a pod limited to 2 CPUs
 * on a 64-CPU node, affinity says 64 and the quota 2. */
uint32_t hb_config_loops(const hb_config *cfg)
{
    if (cfg && cfg->pool_wide.loops) return cfg->pool_wide.loops;
    cpu_set_t set;
    long cpus = 1;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
    char a[64], b[64];
    long quota = s_v2_quota();
    if (!quota)
        quota =
            hb__cfg_cpu_quota(NULL, s_sysline("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", a, sizeof a),
                              s_sysline("/sys/fs/cgroup/cpu/cpu.cfs_period_us", b, sizeof b));
    if (quota && quota < cpus) cpus = quota;
    return hb__cfg_loops_auto(cpus);
}
