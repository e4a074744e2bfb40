/*
 * http_req.c: one request's head over http-parser (see http_req.h).
 */
#include <string.h>

#include "daemon/http_req.h"

static int s_on_url(http_parser *p, const char *at, size_t len)
{
    hb__http_req *r = p->data;
    /* The URL may come in pieces; the query (from '?') is dropped. A path
     * longer than HB__HTTP_PATH_MAX is no route's. */
    if (r->in_query) return 0;
    const char *q = memchr(at, '?', len);
    size_t take = q ? (size_t)(q - at) : len;
    r->in_query = q != NULL;
    if (r->path_long || take > HB__HTTP_PATH_MAX - r->path_len) {
        r->path_long = true;
        return 0;
    }
    memcpy(r->path + r->path_len, at, take);
    r->path_len += take;
    return 0;
}

static int s_on_headers_complete(http_parser *p)
{
    hb__http_req *r = p->data;
    r->done = true;
    http_parser_pause(p, 1); /* the rest (a body, a pipelined request) is not read */
    return 0;
}

static const http_parser_settings s_settings = {
    .on_url = s_on_url,
    .on_headers_complete = s_on_headers_complete,
};

void hb__http_req_init(hb__http_req *r)
{
    memset(r, 0, sizeof(*r));
    http_parser_init(&r->parser, HTTP_REQUEST);
    r->parser.data = r;
}

hb__http_req_status hb__http_req_feed(hb__http_req *r, const char *buf, size_t n)
{
    r->bytes += n;
    size_t used = http_parser_execute(&r->parser, &s_settings, buf, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&r->parser);
    if (r->bytes > HB__HTTP_REQ_MAX) return HB__HTTP_REQ_TOO_LARGE;
    if (r->done) {
        r->path[r->path_len] = 0;
        return HB__HTTP_REQ_DONE;
    }
    if ((e != HPE_OK && e != HPE_PAUSED) || used != n) return HB__HTTP_REQ_BAD;
    return HB__HTTP_REQ_MORE;
}

bool hb__http_req_get_or_head(const hb__http_req *r)
{
    return r->parser.method == HTTP_GET || r->parser.method == HTTP_HEAD;
}

bool hb__http_req_is_head(const hb__http_req *r)
{
    return r->parser.method == HTTP_HEAD;
}

const char *hb__http_req_path(const hb__http_req *r)
{
    return r->path_long || !r->path_len ? NULL : r->path;
}
