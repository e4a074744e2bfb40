/*
 * env.c: the container habit of SPEC.md section 2: HONEYBEE_* environment
 * variables override the keys whose schema row names them. A value goes
 * through the same setter and check as the file's, so HONEYBEE_LOG_LEVEL=loud
 * fails exactly like `level: loud` would. Any thread (getenv(3) itself is
 * not safe against a concurrent setenv; the daemon calls this at start-up).
 */
#include "config/schema.h"

#include <stdlib.h>
#include <string.h>

static const char *s_getenv(const char *name)
{
    return getenv(name);
}

int hb_config_apply_env(hb_config *cfg, const char *(*getenv_fn)(const char *), char **errors)
{
    if (errors) *errors = NULL;
    if (!getenv_fn) getenv_fn = s_getenv;
    hb__errs errs = {0};
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (!k->env) continue;
        const char *v = getenv_fn(k->env);
        if (!v) continue;
        void *base = hb__cfg_section_base(cfg, k->section);
        if (!base) continue;
        char key[160];
        snprintf(key, sizeof key, "%s.%s", hb__cfg_section_name(k->section), k->path);
        /* A quoted scalar: the text as given, never read as null. */
        hb__node n = {.kind = HB__N_SCALAR, .plain = false, .text = (char *)v, .len = strlen(v)};
        /* Set into a scratch copy so an invalid value leaves cfg untouched. */
        union {
            hb_bridge_cfg b;
            hb_peer_opts p;
            hb_log_cfg l;
            hb_pool_wide_cfg w;
        } scratch;
        if (hb__cfg_section_copy(k->section, &scratch, base)) {
            errs.oom = true;
            break;
        }
        if (hb__cfg_set(k, &scratch, &n, k->env, key, &errs) &&
            hb__cfg_check_value(k, &scratch, k->env, 0, key, &errs)) {
            hb__cfg_section_free(k->section, base);
            memcpy(base, &scratch, hb__cfg_section_size(k->section));
        } else {
            hb__cfg_section_free(k->section, &scratch);
        }
    }
    /* An override may put two sockets on one endpoint: the file's own were
     * apart, so the message names the variables that moved them. */
    if (!errs.n && !errs.oom) {
        char who[160] = "environment (";
        size_t used = strlen(who);
        for (size_t i = 0; i < hb__cfg_nkeys; i++) {
            const hb__cfg_key *k = &hb__cfg_keys[i];
            if (k->env && k->section == HB__S_BRIDGE && getenv_fn(k->env))
                used += (size_t)snprintf(who + used, used < sizeof who ? sizeof who - used : 0,
                                         "%s%s", who[used - 1] == '(' ? "" : ", ", k->env);
            if (used >= sizeof who) break;
        }
        if (used + 2 <= sizeof who) memcpy(who + used, ")", 2);
        hb__config_check_endpoints(cfg, who, NULL, &errs);
    }
    int rc = (errs.n || errs.dropped) ? HB_E_CONFIG : errs.oom ? HB_E_NOMEM : 0;
    if (rc && errors) *errors = hb__errs_take(&errs);
    hb__errs_free(&errs);
    return rc;
}
