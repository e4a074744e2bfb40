/*
 * http_req.h: one HTTP request's head, read from a client of the daemon's
 * HTTP server (http.c), over http-parser. Pure: bytes in, a verdict out,
 * no I/O, so it is fuzzed on its own (tests/fuzz/fuzz_http.c).
 *
 * Only what routing needs is kept: the method and the path (the query
 * dropped). A request ends at the end of its headers; a body or a
 * pipelined request after it is not read.
 *
 * Thread: whoever owns the request (the HTTP thread in the daemon).
 */
#ifndef HB_DAEMON_HTTP_REQ_H
#define HB_DAEMON_HTTP_REQ_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

#define HB__HTTP_REQ_MAX  8192 /* request line and headers, bytes */
#define HB__HTTP_PATH_MAX 256  /* a longer path is kept as "too long" (no route's) */

typedef enum hb__http_req_status {
    HB__HTTP_REQ_MORE,      /* the head is not complete: feed more */
    HB__HTTP_REQ_DONE,      /* the head is complete: route it */
    HB__HTTP_REQ_BAD,       /* not HTTP/1.x as http-parser reads it: 400 */
    HB__HTTP_REQ_TOO_LARGE, /* more than HB__HTTP_REQ_MAX bytes so far: 431 */
} hb__http_req_status;

typedef struct hb__http_req {
    http_parser parser;
    size_t bytes;
    char path[HB__HTTP_PATH_MAX + 1]; /* NUL-terminated once DONE */
    size_t path_len;
    bool path_long, in_query, done;
} hb__http_req;

void hb__http_req_init(hb__http_req *r);

/* Feed the next `n` bytes the client sent (one read). Once the answer is
 * not MORE, the request is decided and further bytes are not looked at
 * (the caller answers and closes). The size cap is checked per read, so a
 * read that completes the head but carries the total past the cap is
 * TOO_LARGE. */
hb__http_req_status hb__http_req_feed(hb__http_req *r, const char *buf, size_t n);

/* After DONE: the method is GET or HEAD (the only ones served), HEAD,
 * and the path (NULL when it was longer than HB__HTTP_PATH_MAX or empty). */
bool hb__http_req_get_or_head(const hb__http_req *r);
bool hb__http_req_is_head(const hb__http_req *r);
const char *hb__http_req_path(const hb__http_req *r);

#endif
