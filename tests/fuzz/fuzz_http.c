/*
 * fuzz_http.c: libFuzzer target for hb__http_req_feed, which reads the head
 * of a request to the daemon's HTTP server (/healthz, /readyz, /metrics):
 * bytes from anyone who reaches bridge.http.
 *
 * The first input byte picks read sizes; the rest is the client's bytes.
 * Checked beyond "no crash, no leak":
 * - the stream fed as one read and in reads of the chosen sizes gives the
 *   same verdict, method and path while it fits the size cap (the cap is
 *   checked per read, so past it the split may decide first);
 * - no verdict but TOO_LARGE past HB__HTTP_REQ_MAX bytes;
 * - DONE only after a line end (where the head ends is http-parser's
 *   lenient call: see the check); the path with no '?', no NUL,
 *   at most HB__HTTP_PATH_MAX bytes, and in the request line; GET and HEAD
 *   only for a request line that starts so.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/http_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct s_result {
    hb__http_req_status st;
    bool gh, head;
    char path[HB__HTTP_PATH_MAX + 1];
    bool has_path;
} s_result;

static void s_feed(const char *buf, size_t n, unsigned step_seed, s_result *out)
{
    hb__http_req r;
    hb__http_req_init(&r);
    size_t off = 0;
    unsigned x = step_seed | 1;
    hb__http_req_status st = HB__HTTP_REQ_MORE;
    while (off < n && st == HB__HTTP_REQ_MORE) {
        size_t k = n - off;
        if (step_seed) {
            x = x * 1103515245u + 12345u;
            size_t want = 1 + (x >> 16) % 97;
            if (want < k) k = want;
        }
        st = hb__http_req_feed(&r, buf + off, k);
        off += k;
    }
    memset(out, 0, sizeof(*out));
    out->st = st;
    if (st != HB__HTTP_REQ_DONE) return;
    out->gh = hb__http_req_get_or_head(&r);
    out->head = hb__http_req_is_head(&r);
    const char *p = hb__http_req_path(&r);
    if (p) {
        size_t len = strlen(p);
        if (len > HB__HTTP_PATH_MAX || len != r.path_len || memchr(p, '?', len)) abort();
        memcpy(out->path, p, len + 1);
        out->has_path = true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned seed = data[0];
    const char *buf = (const char *)data + 1;
    size_t n = size - 1;

    s_result whole, split;
    s_feed(buf, n, 0, &whole);
    s_feed(buf, n, seed, &split);

    if (n > HB__HTTP_REQ_MAX) {
        /* One read of everything: past the cap whatever it holds. */
        if (whole.st != HB__HTTP_REQ_TOO_LARGE) abort();
    } else {
        if (whole.st == HB__HTTP_REQ_TOO_LARGE || split.st != whole.st) abort();
        if (whole.st == HB__HTTP_REQ_DONE &&
            (whole.gh != split.gh || whole.head != split.head || whole.has_path != split.has_path ||
             strcmp(whole.path, split.path) != 0))
            abort();
    }
    const s_result *res[2] = {&whole, &split};
    for (int i = 0; i < 2; i++) {
        const s_result *r = res[i];
        if (r->st != HB__HTTP_REQ_DONE) continue;
        /* A head ends at a line end. Where exactly is http-parser's
         * (lenient) call: this target used to require a blank line, and
         * found heads it ends on a lone CR after a folded empty value
         * ("A:\n \r3", "A:\r \n3") and on odd versions (corpus
         * lenient-*); the differential check above still holds for them. */
        /* http-parser skips empty lines before the request line. */
        size_t skip = 0;
        while (skip < n && (buf[skip] == '\r' || buf[skip] == '\n')) skip++;
        const char *req = buf + skip;
        size_t rn = n - skip;
        const char *line_end = memchr(req, '\n', rn);
        if (!line_end) abort();
        size_t line = (size_t)(line_end - req);
        if (r->gh) {
            bool get = rn >= 4 && !memcmp(req, "GET ", 4);
            bool head = rn >= 5 && !memcmp(req, "HEAD ", 5);
            if (!(get || head) || head != r->head) abort();
            /* The path is the request line's. */
            if (r->has_path && !memmem(req, line, r->path, strlen(r->path))) abort();
        }
    }
    return 0;
}
