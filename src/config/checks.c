/*
 * checks.c: the extra checks a row of the schema table may name (its
 * `check` column), beyond its type and bounds: ZeroMQ endpoints, the HTTP
 * address, peer ids, WebSocket URLs, header names and values, tokens,
 * UTF-8. Each records one message per problem, naming `key` and `line`.
 * Pure; any thread.
 */
#include "config/schema.h"

#include "core/endpoint.h"
#include "core/http.h"
#include "core/shard.h"
#include "core/netrule.h"
#include "core/url.h"
#include "core/utf8.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *s_str(const hb__cfg_key *k, const void *base)
{
    return *(char *const *)((const char *)base + k->off);
}

static size_t s_count_of(const hb__cfg_key *k, const void *base)
{
    return *(const size_t *)((const char *)base + k->count_off);
}

bool hb__cfg_check_endpoint(const hb__cfg_key *k, const void *base, const char *file, int line,
                            const char *key, hb__errs *errs)
{
    const char *s = s_str(k, base);
    const char *why = NULL;
    if (hb__endpoint_parse(s, NULL, &why)) return true;
    char q[128];
    hb__errs_add(errs, file, line, key,
                 "must be a ZeroMQ endpoint like tcp://127.0.0.1:5550, tcp://*:5550 or "
                 "ipc:///run/hb.sock (%s), got %s",
                 why, s ? hb__cfg_quote(s, strlen(s), q, sizeof q) : "nothing");
    return false;
}

bool hb__cfg_check_http(const hb__cfg_key *k, const void *base, const char *file, int line,
                        const char *key, hb__errs *errs)
{
    /* "" disables; otherwise what the daemon's HTTP server will listen on. */
    const char *s = s_str(k, base);
    const char *why = NULL;
    if (!s || !*s || hb__listen_parse(s, NULL, &why)) return true;
    char q[128];
    (void)why;
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
        /* The handshake's own headers (Host, Upgrade, Connection,
         * Sec-WebSocket-*) and hop-by-hop or framing ones are refused: a
         * peer's configuration must not rewrite or smuggle them. */
        const char *why = NULL;
        const char *name = hb__cfg_quote(h[i].name, strlen(h[i].name), q, sizeof q);
        if (!hb__http_is_token(h[i].name, strlen(h[i].name))) {
            hb__errs_add(errs, file, line, key, "invalid header name %s", name);
            ok = false;
        } else if (hb__http_header_check(h[i].name, h[i].value, &why) != 0) {
            if (why && strstr(why, "control character"))
                hb__errs_add(errs, file, line, key,
                             "value of header %s contains a control character", name);
            else
                hb__errs_add(errs, file, line, key, "header %s is not allowed: %s", name,
                             why ? why : "refused");
            ok = false;
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
        if (tokens && hb__http_token_check(l[i], NULL) != 0) {
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

bool hb__cfg_check_networks(const hb__cfg_key *k, const void *base, const char *file, int line,
                            const char *key, hb__errs *errs)
{
    char *const *l = *(char **const *)((const char *)base + k->off);
    size_t n = s_count_of(k, base);
    bool ok = true;
    char q[128];
    for (size_t i = 0; i < n; i++)
        if (!hb__cidr_parse(l[i], NULL)) {
            hb__errs_add(errs, file, line, key,
                         "item %zu: %s is not an IP address or network (192.0.2.7, 10.0.0.0/8, "
                         "fd00::/8)",
                         i, hb__cfg_quote(l[i], strlen(l[i]), q, sizeof q));
            ok = false;
        }
    return ok;
}

bool hb__cfg_check_allow(const hb__cfg_key *k, const void *base, const char *file, int line,
                         const char *key, hb__errs *errs)
{
    char *const *l = *(char **const *)((const char *)base + k->off);
    size_t n = s_count_of(k, base);
    bool ok = true;
    char q[128];
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        if (!hb__allow_rule_check(l[i], &why)) {
            hb__errs_add(errs, file, line, key, "item %zu: %s: %s", i,
                         hb__cfg_quote(l[i], strlen(l[i]), q, sizeof q), why ? why : "invalid");
            ok = false;
        }
    }
    return ok;
}

/* Open `path` without blocking on a FIFO and make sure it is what the row
 * wants (a regular file, or a directory). -1 with a message recorded. */
static int s_open_kind(const char *path, bool dir, const char *file, int line, const char *key,
                       hb__errs *errs)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (dir ? O_DIRECTORY : 0));
    if (fd < 0) {
        hb__errs_add(errs, file, line, key, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
        hb__errs_add(errs, file, line, key, "%s is not a %s", path,
                     dir ? "directory" : "regular file");
        close(fd);
        return -1;
    }
    return fd;
}

/* How much of a file the PEM check reads: a PEM file says "-----BEGIN "
 * within its first lines (a bundle may open with a few comment lines). */
#define S_PEM_PREFIX 4096

bool hb__cfg_check_pem(const hb__cfg_key *k, const void *base, const char *file, int line,
                       const char *key, hb__errs *errs)
{
    const char *path = s_str(k, base);
    if (!path || !*path) return true;
    int fd = s_open_kind(path, false, file, line, key, errs);
    if (fd < 0) return false;
    char buf[S_PEM_PREFIX + 1];
    size_t got = 0;
    while (got < S_PEM_PREFIX) {
        ssize_t r = read(fd, buf + got, S_PEM_PREFIX - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    if (memmem(buf, got, "-----BEGIN ", 11)) return true;
    /* Nothing of the file is quoted: it may be anything the bridge can read. */
    hb__errs_add(errs, file, line, key,
                 "%s is not a PEM file (no \"-----BEGIN \" in its first %d bytes)", path,
                 S_PEM_PREFIX);
    return false;
}

bool hb__cfg_check_file(const hb__cfg_key *k, const void *base, const char *file, int line,
                        const char *key, hb__errs *errs)
{
    const char *path = s_str(k, base);
    if (!path || !*path) return true;
    int fd = s_open_kind(path, false, file, line, key, errs);
    if (fd < 0) return false;
    close(fd);
    return true;
}

bool hb__cfg_check_dir(const hb__cfg_key *k, const void *base, const char *file, int line,
                       const char *key, hb__errs *errs)
{
    const char *path = s_str(k, base);
    if (!path || !*path) return true;
    int fd = s_open_kind(path, true, file, line, key, errs);
    if (fd < 0) return false;
    close(fd);
    return true;
}

bool hb__cfg_check_shard(const hb__cfg_key *k, const void *base, const char *file, int line,
                         const char *key, hb__errs *errs)
{
    /* Syntax and range only: "auto" is resolved against HOSTNAME by the
     * daemon (hb__config_shard), which is not this pure check's to read. */
    const char *s = s_str(k, base);
    hb__shard sh;
    char why[160], q[64];
    if (hb__shard_parse(s, NULL, &sh, why, sizeof why)) return true;
    hb__errs_add(errs, file, line, key, "%s, got %s", why,
                 hb__cfg_quote(s ? s : "", s ? strlen(s) : 0, q, sizeof q));
    return false;
}
