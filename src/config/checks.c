/*
 * checks.c: the extra checks a row of the schema table may name (its
 * `check` column), beyond its type and bounds: ZeroMQ endpoints, the HTTP
 * address, peer ids, WebSocket URLs, header names and values, tokens,
 * UTF-8. Each records one message per problem, naming `key` and `line`.
 * Pure; any thread.
 */
#include "config/schema.h"

#include "core/url.h"
#include "core/utf8.h"

#include <ctype.h>
#include <string.h>

static const char *s_str(const hb__cfg_key *k, const void *base)
{
    return *(char *const *)((const char *)base + k->off);
}

static size_t s_count_of(const hb__cfg_key *k, const void *base)
{
    return *(const size_t *)((const char *)base + k->count_off);
}

static bool s_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool s_token(const char *s)
{
    if (!s || !*s) return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!s_tchar(*p)) return false;
    return true;
}

bool hb__cfg_check_endpoint(const hb__cfg_key *k, const void *base, const char *file, int line,
                            const char *key, hb__errs *errs)
{
    const char *s = s_str(k, base);
    const char *sep = s ? strstr(s, "://") : NULL;
    bool ok = sep && sep != s && sep[3];
    for (const char *p = s; ok && p < sep; p++)
        if (!isalnum((unsigned char)*p) && *p != '+') ok = false;
    for (const unsigned char *p = (const unsigned char *)s; ok && *p; p++)
        if (*p <= 0x20 || *p == 0x7f) ok = false;
    if (ok) return true;
    char q[128];
    hb__errs_add(errs, file, line, key,
                 "must be a ZeroMQ endpoint like tcp://127.0.0.1:5550 or ipc:///run/hb.sock, "
                 "got %s",
                 s ? hb__cfg_quote(s, strlen(s), q, sizeof q) : "nothing");
    return false;
}

bool hb__cfg_check_http(const hb__cfg_key *k, const void *base, const char *file, int line,
                        const char *key, hb__errs *errs)
{
    /* "" disables; otherwise what the daemon's HTTP server will accept. */
    const char *s = s_str(k, base);
    if (!s || !*s || hb__hostport_split(s, NULL, 0, NULL)) return true;
    char q[128];
    hb__errs_add(errs, file, line, key,
                 "must be host:port (e.g. 127.0.0.1:8080) or \"\" to disable, got %s",
                 hb__cfg_quote(s, strlen(s), q, sizeof q));
    return false;
}

bool hb__cfg_check_peer_id(const hb__cfg_key *k, const void *base, const char *file, int line,
                           const char *key, hb__errs *errs)
{
    const char *s = s_str(k, base);
    if (s && hb_peer_id_valid(s, strlen(s))) return true;
    char q[128];
    hb__errs_add(errs, file, line, key,
                 "must be 1 to 128 bytes of UTF-8 without \"*\" or control characters, got %s",
                 s ? hb__cfg_quote(s, strlen(s), q, sizeof q) : "nothing");
    return false;
}

bool hb__cfg_check_url(const hb__cfg_key *k, const void *base, const char *file, int line,
                       const char *key, hb__errs *errs)
{
    const char *s = s_str(k, base);
    if (s && hb__ws_url_parse(s, NULL)) return true;
    char q[128];
    hb__errs_add(errs, file, line, key,
                 "must be a ws:// or wss:// URL of at most 2048 bytes with a host (optional "
                 "port, path, query), "
                 "got %s",
                 s ? hb__cfg_quote(s, strlen(s), q, sizeof q) : "nothing");
    return false;
}

bool hb__cfg_check_headers(const hb__cfg_key *k, const void *base, const char *file, int line,
                           const char *key, hb__errs *errs)
{
    const hb_header *h = *(hb_header *const *)((const char *)base + k->off);
    size_t n = s_count_of(k, base);
    bool ok = true;
    char q[128];
    for (size_t i = 0; i < n; i++) {
        if (!s_token(h[i].name)) {
            hb__errs_add(errs, file, line, key, "invalid header name %s",
                         hb__cfg_quote(h[i].name, strlen(h[i].name), q, sizeof q));
            ok = false;
        }
        for (const unsigned char *p = (const unsigned char *)h[i].value; *p; p++) {
            if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
                hb__errs_add(errs, file, line, key,
                             "value of header %s contains a control character",
                             hb__cfg_quote(h[i].name, strlen(h[i].name), q, sizeof q));
                ok = false;
                break;
            }
        }
    }
    return ok;
}

/* Tokens or UTF-8 text, for a string or each item of a list. */
static bool s_check_items(const hb__cfg_key *k, const void *base, const char *file, int line,
                          const char *key, hb__errs *errs, bool tokens)
{
    if (k->type != HB__T_STRLIST) {
        const char *s = s_str(k, base);
        if (!s || hb__utf8_valid(s, strlen(s))) return true;
        hb__errs_add(errs, file, line, key, "must be valid UTF-8");
        return false;
    }
    char *const *l = *(char **const *)((const char *)base + k->off);
    size_t n = s_count_of(k, base);
    bool ok = true;
    char q[128];
    for (size_t i = 0; i < n; i++) {
        if (tokens && !s_token(l[i])) {
            hb__errs_add(errs, file, line, key, "item %zu: %s is not a valid token", i,
                         hb__cfg_quote(l[i], strlen(l[i]), q, sizeof q));
            ok = false;
        } else if (!tokens && !hb__utf8_valid(l[i], strlen(l[i]))) {
            hb__errs_add(errs, file, line, key, "item %zu: must be valid UTF-8", i);
            ok = false;
        }
    }
    return ok;
}

bool hb__cfg_check_tokens(const hb__cfg_key *k, const void *base, const char *file, int line,
                          const char *key, hb__errs *errs)
{
    return s_check_items(k, base, file, line, key, errs, true);
}

bool hb__cfg_check_utf8(const hb__cfg_key *k, const void *base, const char *file, int line,
                        const char *key, hb__errs *errs)
{
    return s_check_items(k, base, file, line, key, errs, false);
}
