/*
 * handshake.c: the client's side of the opening handshake (RFC 6455 section
 * 4.1). The request is written here; the server's answer is parsed by
 * http-parser (the status line, header names and values, where the head
 * ends) and checked here, strictly, header by header. The head is capped
 * (max_response) before http-parser sees it, so a server that never ends
 * its head costs a bounded amount. Only the five headers the check needs
 * are kept (each value at most the cap); everything else is skipped as it
 * streams past. Pure; runs on the caller's thread (the transport's loop).
 */
#include "ws/ws.h"

#include <http_parser.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/http.h"

#define S_GUID         "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define S_DEFAULT_HEAD (16 * 1024)
#define S_NAME_MAX     32 /* longer names are none of the ones we keep */

typedef enum s_hdr {
    S_H_OTHER = 0,
    S_H_UPGRADE,
    S_H_CONNECTION,
    S_H_ACCEPT,
    S_H_PROTOCOL,
    S_H_EXTENSIONS,
    S_H__COUNT,
} s_hdr;

static const char *const s_hdr_names[S_H__COUNT] = {
    [S_H_UPGRADE] = "Upgrade",
    [S_H_CONNECTION] = "Connection",
    [S_H_ACCEPT] = "Sec-WebSocket-Accept",
    [S_H_PROTOCOL] = "Sec-WebSocket-Protocol",
    [S_H_EXTENSIONS] = "Sec-WebSocket-Extensions",
};

struct hb__ws_hs {
    http_parser parser;
    size_t cap;  /* the most bytes the head may have */
    size_t seen; /* bytes of the head given to the parser so far */
    char accept[32];
    char **protos; /* copies of the offered subprotocols */
    size_t n_protos;
    const char *chosen; /* one of protos, or NULL */

    /* the header being parsed */
    char name[S_NAME_MAX];
    size_t name_len;
    bool name_long, in_value;
    s_hdr cur;
    char *val;
    size_t val_len, val_cap;

    unsigned count[S_H__COUNT];
    bool upgrade_ok, conn_upgrade, accept_ok, ext, proto_bad;

    bool finished; /* OK or FAIL given */
    hb__ws_hs_result result;
    const char *why; /* static text, or err */
    char err[96];
};

/* ---- the request ------------------------------------------------------------ */

typedef struct s_buf {
    char *p;
    size_t len, cap;
} s_buf;

static void s_put(s_buf *b, const char *s, size_t n)
{
    /* Capacity was computed up front; this only guards the arithmetic. */
    if (b->len + n > b->cap) abort();
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void s_puts(s_buf *b, const char *s)
{
    s_put(b, s, strlen(s));
}

static bool s_visible(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) return false;
    return true;
}

static int s_fail_new(const char **err, const char *why)
{
    if (err) *err = why;
    return -1;
}

/* base64 of SHA-1(key || GUID): the answer the server must give. */
static int s_accept_for(const char *key, char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c) return -1;
    int ok = EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 &&
             EVP_DigestUpdate(c, key, strlen(key)) == 1 &&
             EVP_DigestUpdate(c, S_GUID, strlen(S_GUID)) == 1 &&
             EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 20;
    EVP_MD_CTX_free(c);
    if (!ok) return -1;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 chars and a NUL */
    return 0;
}

static void s_hs_destroy(hb__ws_hs *hs)
{
    if (!hs) return;
    for (size_t i = 0; i < hs->n_protos; i++) free(hs->protos[i]);
    free(hs->protos);
    free(hs->val);
    free(hs);
}

int hb__ws_hs_new(const hb__ws_hs_cfg *cfg, hb__ws_hs **out, char **req, size_t *req_len,
                  const char **err)
{
    *out = NULL, *req = NULL, *req_len = 0;
    const char *path = cfg->path && *cfg->path ? cfg->path : "/";
    if (!cfg->host || !*cfg->host || !s_visible(cfg->host))
        return s_fail_new(err, "host is empty or has spaces or control characters");
    if (!s_visible(path)) return s_fail_new(err, "path has spaces or control characters");
    if (path[0] != '/' && path[0] != '?') return s_fail_new(err, "path must start with '/'");
    bool own_ua = false;
    size_t need = 256 + strlen(cfg->host) + strlen(path);
    for (size_t i = 0; i < cfg->n_headers; i++) {
        const hb__ws_header *h = &cfg->headers[i];
        const char *why;
        if (hb__http_header_check(h->name, h->value, &why) != 0) return s_fail_new(err, why);
        if (strcasecmp(h->name, "User-Agent") == 0) own_ua = true;
        need += strlen(h->name) + strlen(h->value) + 4;
    }
    for (size_t i = 0; i < cfg->n_subprotocols; i++) {
        const char *why;
        if (hb__http_token_check(cfg->subprotocols[i], &why) != 0) return s_fail_new(err, why);
        need += strlen(cfg->subprotocols[i]) + 2;
    }
    const char *ua = own_ua ? NULL : cfg->user_agent;
    if (ua) {
        const char *why;
        if (hb__http_header_check("User-Agent", ua, &why) != 0) return s_fail_new(err, why);
        need += strlen(ua) + 16;
    }

    hb__ws_hs *hs = calloc(1, sizeof *hs);
    s_buf b = {.cap = need};
    if (!hs || !(b.p = malloc(need))) goto nomem;
    hs->cap = cfg->max_response ? cfg->max_response : S_DEFAULT_HEAD;
    if (cfg->n_subprotocols) {
        if (!(hs->protos = calloc(cfg->n_subprotocols, sizeof *hs->protos))) goto nomem;
        for (size_t i = 0; i < cfg->n_subprotocols; i++, hs->n_protos++)
            if (!(hs->protos[i] = strdup(cfg->subprotocols[i]))) goto nomem;
    }

    unsigned char nonce[16];
    char key[32];
    if (RAND_bytes(nonce, sizeof nonce) != 1) {
        s_hs_destroy(hs), free(b.p);
        return s_fail_new(err, "no random bytes for Sec-WebSocket-Key");
    }
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof nonce); /* 24 chars and a NUL */
    if (s_accept_for(key, hs->accept) != 0) goto nomem;

    s_puts(&b, "GET ");
    if (path[0] == '?') s_puts(&b, "/");
    s_puts(&b, path);
    s_puts(&b, " HTTP/1.1\r\nHost: ");
    s_puts(&b, cfg->host);
    s_puts(&b, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    s_puts(&b, key);
    s_puts(&b, "\r\nSec-WebSocket-Version: 13\r\n");
    if (cfg->n_subprotocols) {
        s_puts(&b, "Sec-WebSocket-Protocol: ");
        for (size_t i = 0; i < cfg->n_subprotocols; i++) {
            if (i) s_puts(&b, ", ");
            s_puts(&b, cfg->subprotocols[i]);
        }
        s_puts(&b, "\r\n");
    }
    if (ua) {
        s_puts(&b, "User-Agent: ");
        s_puts(&b, ua);
        s_puts(&b, "\r\n");
    }
    for (size_t i = 0; i < cfg->n_headers; i++) {
        s_puts(&b, cfg->headers[i].name);
        s_puts(&b, ": ");
        s_puts(&b, cfg->headers[i].value);
        s_puts(&b, "\r\n");
    }
    s_puts(&b, "\r\n");

    http_parser_init(&hs->parser, HTTP_RESPONSE);
    hs->parser.data = hs;
    *out = hs, *req = b.p, *req_len = b.len;
    return 0;
nomem:
    s_hs_destroy(hs);
    free(b.p);
    return s_fail_new(err, "out of memory");
}

/* ---- the answer ------------------------------------------------------------- */

static int s_refuse(hb__ws_hs *hs, const char *why)
{
    if (!hs->why) hs->why = why;
    return -1;
}

static bool s_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* The value without the optional whitespace around it. */
static void s_trim(const char **s, size_t *n)
{
    while (*n && s_ws(**s)) (*s)++, (*n)--;
    while (*n && s_ws((*s)[*n - 1])) (*n)--;
}

static bool s_ieq(const char *a, size_t n, const char *b)
{
    return n == strlen(b) && strncasecmp(a, b, n) == 0;
}

/* Connection is a comma-separated token list; it must name "upgrade". */
static bool s_has_upgrade_token(const char *v, size_t n)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ',') j++;
        const char *t = v + i;
        size_t tn = j - i;
        s_trim(&t, &tn);
        if (s_ieq(t, tn, "upgrade")) return true;
        i = j + 1;
    }
    return false;
}

/* A header ended: judge the kept ones. */
static void s_header_done(hb__ws_hs *hs)
{
    const char *v = hs->val ? hs->val : "";
    size_t n = hs->val_len;
    s_trim(&v, &n);
    switch (hs->cur) {
    case S_H_UPGRADE:
        hs->upgrade_ok = s_ieq(v, n, "websocket");
        break;
    case S_H_CONNECTION:
        if (s_has_upgrade_token(v, n)) hs->conn_upgrade = true;
        break;
    case S_H_ACCEPT:
        hs->accept_ok = n == strlen(hs->accept) && memcmp(v, hs->accept, n) == 0;
        break;
    case S_H_PROTOCOL:
        hs->chosen = NULL;
        for (size_t i = 0; i < hs->n_protos; i++)
            if (n == strlen(hs->protos[i]) && memcmp(v, hs->protos[i], n) == 0)
                hs->chosen = hs->protos[i];
        if (!hs->chosen) hs->proto_bad = true;
        break;
    case S_H_EXTENSIONS:
        if (n) hs->ext = true; /* an empty list names no extension */
        break;
    default:
        break;
    }
    hs->in_value = false;
    hs->name_len = 0, hs->name_long = false;
    hs->val_len = 0;
    hs->cur = S_H_OTHER;
}

static int s_on_status(http_parser *p, const char *at, size_t len)
{
    hb__ws_hs *hs = p->data;
    if (p->http_major != 1 || p->http_minor != 1) return s_refuse(hs, "not an HTTP/1.1 answer");
    if (p->status_code != 101) {
        snprintf(hs->err, sizeof hs->err, "status %u", (unsigned)p->status_code);
        return s_refuse(hs, hs->err);
    }
    return 0;
}

static int s_on_field(http_parser *p, const char *at, size_t len)
{
    hb__ws_hs *hs = p->data;
    if (hs->in_value) s_header_done(hs);
    if (hs->name_len + len > sizeof hs->name) {
        hs->name_long = true;
    } else {
        memcpy(hs->name + hs->name_len, at, len);
        hs->name_len += len;
    }
    return 0;
}

static int s_on_value(http_parser *p, const char *at, size_t len)
{
    hb__ws_hs *hs = p->data;
    if (!hs->in_value) {
        hs->in_value = true;
        hs->cur = S_H_OTHER;
        for (int h = 1; h < S_H__COUNT && !hs->name_long; h++)
            if (s_ieq(hs->name, hs->name_len, s_hdr_names[h])) hs->cur = (s_hdr)h;
        hs->count[hs->cur]++;
    }
    if (hs->cur == S_H_OTHER || len == 0) return 0;
    /* The value is part of the head, which is capped: so is this. */
    if (hs->val_len + len > hs->val_cap) {
        size_t cap = hs->val_cap ? hs->val_cap : 64;
        while (cap < hs->val_len + len) cap *= 2;
        char *v = realloc(hs->val, cap);
        if (!v) return s_refuse(hs, "out of memory");
        hs->val = v, hs->val_cap = cap;
    }
    memcpy(hs->val + hs->val_len, at, len);
    hs->val_len += len;
    return 0;
}

/* Returns 2: no body, and what follows the head is not HTTP (http-parser
 * then stops right after the head, so its return value is where frames
 * begin). The verdict is left in hs. */
static int s_on_headers_complete(http_parser *p)
{
    hb__ws_hs *hs = p->data;
    if (hs->in_value) s_header_done(hs);
    hs->finished = true;
    if (!hs->why) s_on_status(p, NULL, 0); /* in case there was no status text */
    if (hs->why) {
        /* refused already */
    } else if (hs->count[S_H_UPGRADE] != 1 || !hs->upgrade_ok) {
        s_refuse(hs, "no Upgrade: websocket header");
    } else if (!hs->conn_upgrade) {
        s_refuse(hs, "no Connection: upgrade header");
    } else if (hs->count[S_H_ACCEPT] == 0) {
        s_refuse(hs, "no Sec-WebSocket-Accept header");
    } else if (hs->count[S_H_ACCEPT] > 1 || !hs->accept_ok) {
        s_refuse(hs, "bad Sec-WebSocket-Accept");
    } else if (hs->ext) {
        s_refuse(hs, "server chose an extension (none was offered)");
    } else if (hs->count[S_H_PROTOCOL] && hs->n_protos == 0) {
        s_refuse(hs, "server chose a subprotocol (none was offered)");
    } else if (hs->count[S_H_PROTOCOL] > 1 || hs->proto_bad) {
        s_refuse(hs, "server chose a subprotocol that was not offered");
    }
    hs->result = hs->why ? HB__WS_HS_FAIL : HB__WS_HS_OK;
    if (hs->result == HB__WS_HS_FAIL) hs->chosen = NULL;
    return 2;
}

static const http_parser_settings s_settings = {
    .on_status = s_on_status,
    .on_header_field = s_on_field,
    .on_header_value = s_on_value,
    .on_headers_complete = s_on_headers_complete,
};

hb__ws_hs_result hb__ws_hs_feed(hb__ws_hs *hs, const uint8_t *p, size_t n, size_t *used,
                                const char **err)
{
    *used = 0;
    if (hs->finished) {
        if (err) *err = hs->why;
        return hs->result;
    }
    size_t room = hs->cap - hs->seen;
    size_t give = n < room ? n : room;
    if (give == 0) { /* http-parser takes 0 bytes as the end of the stream */
        if (err) *err = NULL;
        return HB__WS_HS_MORE;
    }
    size_t took = http_parser_execute(&hs->parser, &s_settings, (const char *)p, give);
    hs->seen += took;
    *used = took;
    enum http_errno e = HTTP_PARSER_ERRNO(&hs->parser);
    /* Debian's http-parser is built lenient: a CR followed by any byte
     * ends a line, so "\r\n\r" and a frame's first byte would end the
     * head and swallow that byte. The head must end with a line feed. */
    if (hs->finished && hs->result == HB__WS_HS_OK && e == HPE_OK &&
        (took == 0 || p[took - 1] != '\n')) {
        hs->why = "malformed HTTP answer: the head does not end with an empty line";
        hs->result = HB__WS_HS_FAIL;
    }
    if (hs->finished && hs->result == HB__WS_HS_OK && e == HPE_OK) {
        if (err) *err = NULL;
        return HB__WS_HS_OK;
    }
    if (!hs->why && e != HPE_OK) {
        snprintf(hs->err, sizeof hs->err, "malformed HTTP answer: %s", http_errno_description(e));
        hs->why = hs->err;
    }
    if (!hs->why && hs->seen >= hs->cap && !hs->finished) {
        snprintf(hs->err, sizeof hs->err, "answer head over %zu bytes", hs->cap);
        hs->why = hs->err;
    }
    if (hs->why) {
        hs->finished = true;
        hs->result = HB__WS_HS_FAIL;
        hs->chosen = NULL;
        if (err) *err = hs->why;
        return HB__WS_HS_FAIL;
    }
    if (err) *err = NULL;
    return HB__WS_HS_MORE;
}

const char *hb__ws_hs_protocol(const hb__ws_hs *hs)
{
    return hs && hs->finished && hs->result == HB__WS_HS_OK ? hs->chosen : NULL;
}

void hb__ws_hs_free(hb__ws_hs **hs)
{
    if (!hs || !*hs) return;
    s_hs_destroy(*hs);
    *hs = NULL;
}
