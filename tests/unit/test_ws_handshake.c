/*
 * test_ws_handshake.c: the opening handshake of src/ws/handshake.c (RFC
 * 6455 section 4.1). The request:
 * its lines, a fresh key each time, the peer's headers and subprotocols,
 * what it refuses. The answer: every check of ws.h, each answer fed whole
 * and split at every byte position with the same verdict, bytes after the
 * head handed back as frames, the cap on the head (hb__http_header_check
 * itself: test_core_http.c). The expected
 * Sec-WebSocket-Accept is computed here with OpenSSL's EVP one-shot, itself
 * checked against the example of RFC 6455 section 1.3.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "ws/ws.h"

/* ---- helpers ------------------------------------------------------------------ */

static void s_accept_of(const char *key, char out[32])
{
    char in[128];
    snprintf(in, sizeof in, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(in, strlen(in), md, &n, EVP_sha1(), NULL), 1);
    assert_int_equal(n, 20);
    EVP_EncodeBlock((unsigned char *)out, md, 20);
}

/* The key the request carries. */
static void s_key_of(const char *req, size_t len, char key[32])
{
    const char *k = strstr(req, "\r\nSec-WebSocket-Key: ");
    assert_non_null(k);
    k += strlen("\r\nSec-WebSocket-Key: ");
    const char *e = strstr(k, "\r\n");
    assert_non_null(e);
    assert_int_equal(e - k, 24);
    memcpy(key, k, 24);
    key[24] = 0;
    assert_true((size_t)(e - req) < len);
}

typedef struct s_dial {
    hb__ws_hs *hs;
    char *req;
    size_t req_len;
    char accept[32];
} s_dial;

static const char *s_protos[] = {"chat", "superchat.v2"};

static void s_dial_new(s_dial *d, size_t n_protos, size_t max_response)
{
    hb__ws_hs_cfg cfg = {.host = "example.com:8080",
                         .path = "/feed?x=1",
                         .subprotocols = s_protos,
                         .n_subprotocols = n_protos,
                         .user_agent = "honeybee-test",
                         .max_response = max_response};
    const char *err = NULL;
    assert_int_equal(hb__ws_hs_new(&cfg, &d->hs, &d->req, &d->req_len, &err), 0);
    char key[32];
    d->req = realloc(d->req, d->req_len + 1);
    d->req[d->req_len] = 0;
    s_key_of(d->req, d->req_len, key);
    s_accept_of(key, d->accept);
}

static void s_dial_free(s_dial *d)
{
    hb__ws_hs_free(&d->hs);
    assert_null(d->hs);
    free(d->req);
}

/* Writes the answer: `fmt` with every "%A" replaced by the right accept. */
static char *s_answer(const s_dial *d, const char *fmt)
{
    size_t cap = strlen(fmt) * 2 + 64;
    char *out = malloc(cap);
    size_t o = 0;
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 'A') {
            o += (size_t)sprintf(out + o, "%s", d->accept);
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = 0;
    return out;
}

/*
 * Feeds `ans` (n bytes) whole and split at every position (and byte by
 * byte) to fresh handshakes with the same key... which a new handshake
 * cannot have: so each split feeds a fresh dial whose answer is rebuilt
 * from `fmt`. Returns the verdict; *head the head's length on OK; *why the
 * error text of the whole feed (copied).
 */
static hb__ws_hs_result s_verdict(const char *fmt, size_t n_protos, size_t max_response,
                                  size_t *head, char *why, const char **proto)
{
    hb__ws_hs_result first = HB__WS_HS_MORE;
    size_t first_head = 0;
    static char proto_buf[64];
    if (proto) *proto = NULL;
    for (size_t split = 0;; split++) {
        s_dial d;
        s_dial_new(&d, n_protos, max_response);
        char *ans = s_answer(&d, fmt);
        size_t n = strlen(ans);
        if (split > n + 1) {
            free(ans);
            s_dial_free(&d);
            break;
        }
        hb__ws_hs_result r = HB__WS_HS_MORE;
        size_t at = 0, used = 0;
        const char *err = NULL;
        /* split 0: whole; split n+1: byte by byte; else two pieces */
        while (at < n && r == HB__WS_HS_MORE) {
            size_t k = split == 0 ? n - at : split == n + 1 ? 1 : at < split ? split - at : n - at;
            r = hb__ws_hs_feed(d.hs, (const uint8_t *)ans + at, k, &used, &err);
            assert_true(used <= k);
            if (r == HB__WS_HS_MORE) assert_int_equal(used, k);
            at += used;
        }
        if (r == HB__WS_HS_FAIL) assert_non_null(err);
        if (r == HB__WS_HS_OK) assert_null(err);
        if (split == 0) {
            first = r, first_head = at;
            if (why) snprintf(why, 128, "%s", err ? err : "");
            if (proto && hb__ws_hs_protocol(d.hs)) {
                snprintf(proto_buf, sizeof proto_buf, "%s", hb__ws_hs_protocol(d.hs));
                *proto = proto_buf;
            }
            /* after the verdict, more bytes change nothing */
            if (r != HB__WS_HS_MORE) {
                assert_int_equal(hb__ws_hs_feed(d.hs, (const uint8_t *)"x", 1, &used, &err), r);
                assert_int_equal(used, 0);
            }
        } else {
            assert_int_equal(r, first);
            if (r == HB__WS_HS_OK) assert_int_equal(at, first_head);
        }
        free(ans);
        s_dial_free(&d);
    }
    if (head) *head = first_head;
    return first;
}

#define OK_HEAD                                                                         \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
    "Sec-WebSocket-Accept: %A\r\n"

/* ---- the accept computation of the test itself ----------------------------- */

static void test_rfc_example(void **state)
{
    (void)state;
    char out[32];
    s_accept_of("dGhlIHNhbXBsZSBub25jZQ==", out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

/* ---- the request -------------------------------------------------------------- */

static void test_request(void **state)
{
    (void)state;
    hb__ws_header h[] = {{"Origin", "https://example.com"}, {"X-Token", "a b\tc"}};
    hb__ws_hs_cfg cfg = {.host = "[::1]:9001",
                         .path = "/p?q=1",
                         .headers = h,
                         .n_headers = 2,
                         .subprotocols = s_protos,
                         .n_subprotocols = 2,
                         .user_agent = "honeybee/0.1"};
    hb__ws_hs *hs;
    char *req;
    size_t len;
    const char *err;
    assert_int_equal(hb__ws_hs_new(&cfg, &hs, &req, &len, &err), 0);
    char *r = strndup(req, len);
    char key[32];
    s_key_of(r, len, key);
    char want[1024];
    snprintf(want, sizeof want,
             "GET /p?q=1 HTTP/1.1\r\nHost: [::1]:9001\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Protocol: chat, superchat.v2\r\nUser-Agent: honeybee/0.1\r\n"
             "Origin: https://example.com\r\nX-Token: a b\tc\r\n\r\n",
             key);
    assert_string_equal(r, want);
    /* the key is 16 bytes of base64 */
    unsigned char raw[32];
    assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)key, 24), 18); /* 16 + padding */
    assert_int_equal(key[22], '=');
    assert_int_equal(key[23], '=');
    /* and a new one every time */
    for (int i = 0; i < 20; i++) {
        hb__ws_hs *hs2;
        char *req2;
        size_t len2;
        assert_int_equal(hb__ws_hs_new(&cfg, &hs2, &req2, &len2, &err), 0);
        char *r2 = strndup(req2, len2);
        char key2[32];
        s_key_of(r2, len2, key2);
        assert_string_not_equal(key, key2);
        free(r2), free(req2);
        hb__ws_hs_free(&hs2);
    }
    free(r), free(req);
    hb__ws_hs_free(&hs);
    assert_null(hs);
    hb__ws_hs_free(&hs);

    /* the peer's User-Agent replaces the default; no subprotocols: no header;
     * a path that is only a query gets its '/' */
    hb__ws_header ua[] = {{"user-agent", "mine"}};
    hb__ws_hs_cfg c2 = {
        .host = "h", .path = "?x", .headers = ua, .n_headers = 1, .user_agent = "default"};
    assert_int_equal(hb__ws_hs_new(&c2, &hs, &req, &len, &err), 0);
    r = strndup(req, len);
    assert_true(strncmp(r, "GET /?x HTTP/1.1\r\nHost: h\r\n", 27) == 0);
    assert_null(strstr(r, "default"));
    assert_non_null(strstr(r, "\r\nuser-agent: mine\r\n"));
    assert_null(strstr(r, "Sec-WebSocket-Protocol"));
    free(r), free(req);
    hb__ws_hs_free(&hs);
    hb__ws_hs_cfg c3 = {.host = "h", .path = NULL};
    assert_int_equal(hb__ws_hs_new(&c3, &hs, &req, &len, &err), 0);
    assert_true(strncmp(req, "GET / HTTP/1.1\r\n", 16) == 0);
    assert_null(memmem(req, len, "User-Agent", 10));
    free(req);
    hb__ws_hs_free(&hs);
}

static void test_request_refused(void **state)
{
    (void)state;
    static const hb__ws_header bad[] = {
        {"Host", "x"},
        {"upgrade", "x"},
        {"CONNECTION", "close"},
        {"Sec-WebSocket-Key", "x"},
        {"sec-websocket-extensions", "x"},
        {"Content-Length", "1"},
        {"Transfer-Encoding", "chunked"},
        {"TE", "trailers"},
        {"Trailer", "x"},
        {"Keep-Alive", "1"},
        {"Proxy-Authorization", "x"},
        {"X Y", "x"},
        {"", "x"},
        {"X:", "x"},
        {"X", "a\r\nEvil: 1"},
        {"X", "a\nb"},
        {"X", "a\rb"},
        {"X", "\x01"},
        {"X", "\x7f"},
        {"\xc3\xa9", "x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hb__ws_hs_cfg cfg = {.host = "h", .path = "/", .headers = &bad[i], .n_headers = 1};
        hb__ws_hs *hs = (hb__ws_hs *)1;
        char *req = (char *)1;
        size_t len = 1;
        const char *err = NULL;
        assert_int_equal(hb__ws_hs_new(&cfg, &hs, &req, &len, &err), -1);
        assert_non_null(err);
        assert_null(hs);
        assert_null(req);
        /* the same rule where headers are configured */
        assert_int_equal(hb__http_header_check(bad[i].name, bad[i].value, &err), -1);
    }
    const char *bad_protos[] = {"a b", "", "a,b", "\"q\"", "a/b", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad_protos / sizeof bad_protos[0]; i++) {
        hb__ws_hs_cfg cfg = {.host = "h", .subprotocols = &bad_protos[i], .n_subprotocols = 1};
        hb__ws_hs *hs;
        char *req;
        size_t len;
        const char *err = NULL;
        assert_int_equal(hb__ws_hs_new(&cfg, &hs, &req, &len, &err), -1);
        assert_non_null(err);
        assert_int_equal(hb__http_token_check(bad_protos[i], &err), -1);
    }
    const char *bad_hosts[] = {"", "a b", "a\r\n", NULL};
    for (size_t i = 0; i < 4; i++) {
        hb__ws_hs_cfg cfg = {.host = bad_hosts[i]};
        hb__ws_hs *hs;
        char *req;
        size_t len;
        const char *err = NULL;
        assert_int_equal(hb__ws_hs_new(&cfg, &hs, &req, &len, &err), -1);
        assert_non_null(err);
    }
    const char *bad_paths[] = {"/a b", "/a\r\nX: y", "x/", "/\x7f"};
    for (size_t i = 0; i < 4; i++) {
        hb__ws_hs_cfg cfg = {.host = "h", .path = bad_paths[i]};
        hb__ws_hs *hs;
        char *req;
        size_t len;
        const char *err = NULL;
        assert_int_equal(hb__ws_hs_new(&cfg, &hs, &req, &len, &err), -1);
        assert_non_null(err);
    }
    hb__ws_hs_cfg cfg = {.host = "h", .user_agent = "bad\r\nX: 1"};
    hb__ws_hs *hs;
    char *req;
    size_t len;
    const char *err;
    assert_int_equal(hb__ws_hs_new(&cfg, &hs, &req, &len, &err), -1);
}

/* ---- the answer --------------------------------------------------------------- */

static void test_answer_ok(void **state)
{
    (void)state;
    size_t head;
    char why[128];
    const char *proto;
    /* frames right behind the head are not taken */
    assert_int_equal(s_verdict(OK_HEAD "\r\n\x81\x02hi", 0, 0, &head, why, &proto), HB__WS_HS_OK);
    assert_null(proto);
    s_dial d;
    s_dial_new(&d, 0, 0);
    char *a = s_answer(&d, OK_HEAD "\r\n");
    assert_int_equal(head, strlen(a));
    free(a);
    s_dial_free(&d);
    /* header names and the Upgrade value in any case, extra headers,
     * Connection as a list, whitespace around values, empty values */
    assert_int_equal(s_verdict("HTTP/1.1 101 OK\r\nserver: x\r\nUPGRADE:  WebSocket \r\n"
                               "connection: keep-alive, upgrade\r\nX-Empty:\r\n"
                               "sec-websocket-accept: %A\r\nSec-WebSocket-Extensions:\r\n\r\n",
                               0, 0, NULL, why, NULL),
                     HB__WS_HS_OK);
    /* Connection over several lines */
    assert_int_equal(s_verdict("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Accept: %A\r\n\r\n",
                               0, 0, NULL, why, NULL),
                     HB__WS_HS_OK);
    /* a status line without text */
    assert_int_equal(s_verdict("HTTP/1.1 101 \r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: %A\r\n\r\n",
                               0, 0, NULL, why, NULL),
                     HB__WS_HS_OK);
    /* a subprotocol that was offered */
    assert_int_equal(
        s_verdict(OK_HEAD "Sec-WebSocket-Protocol: superchat.v2\r\n\r\n", 2, 0, NULL, why, &proto),
        HB__WS_HS_OK);
    assert_string_equal(proto, "superchat.v2");
    /* offered, none chosen */
    assert_int_equal(s_verdict(OK_HEAD "\r\n", 2, 0, NULL, why, &proto), HB__WS_HS_OK);
    assert_null(proto);
    /* an empty read is not the end of the answer */
    s_dial_new(&d, 0, 0);
    a = s_answer(&d, OK_HEAD "\r\n");
    size_t used = 1;
    const char *err;
    assert_int_equal(hb__ws_hs_feed(d.hs, (const uint8_t *)a, 10, &used, &err), HB__WS_HS_MORE);
    assert_int_equal(hb__ws_hs_feed(d.hs, (const uint8_t *)a + 10, 0, &used, &err), HB__WS_HS_MORE);
    assert_int_equal(used, 0);
    assert_int_equal(hb__ws_hs_feed(d.hs, (const uint8_t *)a + 10, strlen(a) - 10, &used, &err),
                     HB__WS_HS_OK);
    free(a);
    s_dial_free(&d);
    /* not finished yet */
    assert_int_equal(s_verdict("HTTP/1.1 101 Switching", 0, 0, NULL, why, NULL), HB__WS_HS_MORE);
}

static void s_refused(const char *fmt, size_t n_protos, const char *why_part)
{
    char why[128];
    hb__ws_hs_result r = s_verdict(fmt, n_protos, 0, NULL, why, NULL);
    if (r != HB__WS_HS_FAIL || !strstr(why, why_part))
        fail_msg("answer %s: result %d, why '%s', wanted '%s'", fmt, r, why, why_part);
}

static void test_answer_refused(void **state)
{
    (void)state;
    s_refused("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, "status 200");
    s_refused("HTTP/1.1 301 Moved\r\nLocation: ws://elsewhere/\r\n\r\n", 0, "status 301");
    s_refused("HTTP/1.1 200 OK\r\n", 0, "status 200"); /* known before the head ends */
    s_refused("HTTP/1.0 101 Switching\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: %A\r\n\r\n",
              0, "HTTP/1.1");
    s_refused("HTTP/1.1 101 X\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %A\r\n\r\n", 0,
              "Upgrade");
    s_refused("HTTP/1.1 101 X\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: %A\r\n\r\n",
              0, "Upgrade");
    s_refused("HTTP/1.1 101 X\r\nUpgrade: websocket\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Accept: %A\r\n\r\n",
              0, "Upgrade");
    s_refused("HTTP/1.1 101 X\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: %A\r\n\r\n", 0,
              "Connection");
    s_refused("HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
              "Sec-WebSocket-Accept: %A\r\n\r\n",
              0, "Connection");
    s_refused("HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: upgrades\r\n"
              "Sec-WebSocket-Accept: %A\r\n\r\n",
              0, "Connection");
    s_refused("HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 0,
              "no Sec-WebSocket-Accept");
    s_refused("HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
              0, "bad Sec-WebSocket-Accept");
    s_refused(OK_HEAD "Sec-WebSocket-Accept: %A\r\n\r\n", 0, "bad Sec-WebSocket-Accept");
    s_refused(OK_HEAD "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 0, "extension");
    s_refused(OK_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n", 0, "none was offered");
    s_refused(OK_HEAD "Sec-WebSocket-Protocol: other\r\n\r\n", 2, "not offered");
    s_refused(OK_HEAD "Sec-WebSocket-Protocol: CHAT\r\n\r\n", 2, "not offered");
    s_refused(OK_HEAD "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n\r\n", 2,
              "not offered");
    s_refused(OK_HEAD "Sec-WebSocket-Protocol: chat, superchat.v2\r\n\r\n", 2, "not offered");
    s_refused(OK_HEAD "\r\x81\x02hi", 0, "empty line"); /* the lenient parser's CR */
    s_refused("garbage\r\n\r\n", 0, "malformed");
    s_refused("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0, "malformed"); /* TLS */
    s_refused("HTTP/1.1 101 X\r\nUpgrade websocket\r\n\r\n", 0, "malformed");
}

static void test_answer_cap(void **state)
{
    (void)state;
    s_dial d;
    /* a head of exactly the cap passes; one byte more fails */
    const char *fmt = OK_HEAD "X-Pad: %s\r\n\r\n\x81\x00";
    for (int extra = 0; extra <= 1; extra++) {
        s_dial_new(&d, 0, 300);
        char *a0 = s_answer(&d, OK_HEAD "X-Pad: \r\n\r\n");
        size_t pad = 300 - strlen(a0) + (size_t)extra;
        char *padding = malloc(pad + 1);
        memset(padding, 'p', pad);
        padding[pad] = 0;
        char *a1 = s_answer(&d, fmt);
        char *ans = malloc(strlen(a1) + pad + 1);
        sprintf(ans, a1, padding);
        size_t used;
        const char *err;
        hb__ws_hs_result r = hb__ws_hs_feed(d.hs, (const uint8_t *)ans, strlen(ans), &used, &err);
        assert_int_equal(r, extra ? HB__WS_HS_FAIL : HB__WS_HS_OK);
        if (!extra) assert_int_equal(used, 300);
        if (extra) assert_non_null(strstr(err, "300"));
        free(a0), free(a1), free(ans), free(padding);
        s_dial_free(&d);
    }
    /* a 100 KB header and thousands of headers, with the default cap
     * (16 KiB), fed in 1 KiB reads */
    for (int kind = 0; kind < 2; kind++) {
        s_dial_new(&d, 0, 0);
        size_t cap = 200 * 1024;
        char *ans = malloc(cap);
        size_t n = (size_t)sprintf(ans, "HTTP/1.1 101 X\r\n");
        if (kind == 0) {
            n += (size_t)sprintf(ans + n, "X-Big: ");
            memset(ans + n, 'b', 100000);
            n += 100000;
            n += (size_t)sprintf(ans + n, "\r\n");
        } else {
            for (int i = 0; i < 5000; i++) n += (size_t)sprintf(ans + n, "X-%d: v\r\n", i);
        }
        n += (size_t)sprintf(ans + n, "\r\n");
        hb__ws_hs_result r = HB__WS_HS_MORE;
        size_t at = 0, used;
        const char *err;
        while (r == HB__WS_HS_MORE && at < n) {
            size_t k = n - at < 1024 ? n - at : 1024;
            r = hb__ws_hs_feed(d.hs, (const uint8_t *)ans + at, k, &used, &err);
            at += used;
        }
        assert_int_equal(r, HB__WS_HS_FAIL);
        assert_non_null(strstr(err, "16384"));
        assert_true(at <= 16384);
        free(ans);
        s_dial_free(&d);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_example),     cmocka_unit_test(test_request),
        cmocka_unit_test(test_request_refused), cmocka_unit_test(test_answer_ok),
        cmocka_unit_test(test_answer_refused),  cmocka_unit_test(test_answer_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
