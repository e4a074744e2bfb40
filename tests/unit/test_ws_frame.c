/*
 * test_ws_frame.c: the frame decoder and encoder of src/ws/frame.c against
 * ws.h. Every stream a test builds goes through s_check(), which feeds it
 * whole, split at every byte position, byte by byte and with the decoder
 * asked to stop after pieces, and demands the same events and status each
 * time, and the same as wslay's frame layer read with the rules of ws.h
 * (tests/support/ws_check.h). Then each test asserts what the stream must
 * give: every protocol rule, the limits (from the header, before payload),
 * UTF-8 across pieces and fragments (Autobahn category 6 style: valid and
 * invalid sequences at every split point), pings between fragments, the
 * close frame; and the encoder round-trips through the decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../support/ws_check.h"
#include "core/utf8.h"
#include "ws/ws.h"

/* ---- building server frames (the test's own writer) --------------------- */

static void s_frame(hbtw_bytes *s, bool fin, int op, const void *payload, size_t len)
{
    uint8_t h[10];
    size_t hn = 2;
    h[0] = (uint8_t)((fin ? 0x80 : 0) | op);
    if (len < 126) {
        h[1] = (uint8_t)len;
    } else if (len <= 0xFFFF) {
        h[1] = 126, h[2] = (uint8_t)(len >> 8), h[3] = (uint8_t)len, hn = 4;
    } else {
        h[1] = 127, hn = 10;
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    hbtw_put(s, h, hn);
    hbtw_put(s, payload, len);
}

static void s_raw(hbtw_bytes *s, const void *d, size_t n)
{
    hbtw_put(s, d, n);
}

#define TXT(s, fin, op, str) s_frame(s, fin, op, str, sizeof(str) - 1)

/* ---- the split-invariance and oracle check ----------------------------- */

static hbtw_log s_last; /* the events of the whole-buffer run of the last check */

static void s_dump(const char *what, const uint8_t *s, size_t n, const hbtw_log *a,
                   const hbtw_log *b)
{
    fprintf(stderr, "%s: stream", what);
    for (size_t i = 0; i < n && i < 200; i++) fprintf(stderr, " %02x", s[i]);
    fprintf(stderr, "\n  a: in_msg %d len %zu; b: in_msg %d len %zu\n", a->in_msg, a->msg.len,
            b->in_msg, b->msg.len);
}

/* Feeds s[0..n) every way (see the top of the file); returns the status. */
static hb__ws_status s_check_n(const uint8_t *s, size_t n, uint64_t max, bool every_split)
{
    hbtw_log whole, other, model;
    bool bad, open_tail;
    hb__ws_status st = hbtw_run(s, n, max, NULL, 0, 0, &whole, &bad);
    assert_false(bad);
    if (whole.broken) fail_msg("contract broken: %s", whole.broken_why);

    hb__ws_status mst = hbtw_model(s, n, max, &model, &open_tail);
    assert_true(hbtw_same_events(&whole, &model));
    if (!open_tail || st == HB__WS_OK) {
        if (st != mst) fail_msg("status %d, wslay model %d", st, mst);
    }
    if (st == HB__WS_OK) assert_true(hbtw_same_partial(&whole, &model, true));
    hbtw_log_free(&model);

    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t k = 0; k + 1 < n; k++) cuts[k] = k + 1;
    /* byte by byte, with and without stops */
    for (unsigned stop = 0; stop <= 3; stop++) {
        hb__ws_status st2 = hbtw_run(s, n, max, cuts, n ? n - 1 : 0, stop, &other, &bad);
        assert_false(bad);
        if (other.broken) fail_msg("contract broken: %s", other.broken_why);
        assert_int_equal(st2, st);
        assert_true(hbtw_same_events(&whole, &other));
        if (!hbtw_same_partial(&whole, &other, st == HB__WS_OK)) {
            s_dump("byte by byte", s, n, &whole, &other);
            fail();
        }
        hbtw_log_free(&other);
    }
    /* every single split position */
    size_t step = every_split ? 1 : n / 97 + 1;
    for (size_t k = 1; k < n; k += step) {
        hb__ws_status st2 = hbtw_run(s, n, max, &k, 1, k % 2, &other, &bad);
        assert_false(bad);
        assert_false(other.broken);
        assert_int_equal(st2, st);
        assert_true(hbtw_same_events(&whole, &other));
        assert_true(hbtw_same_partial(&whole, &other, st == HB__WS_OK));
        hbtw_log_free(&other);
    }
    free(cuts);
    hbtw_log_free(&s_last);
    s_last = whole;
    return st;
}

static hb__ws_status s_check(hbtw_bytes *s, uint64_t max)
{
    hb__ws_status st = s_check_n(s->p, s->len, max, s->len <= 600);
    free(s->p);
    memset(s, 0, sizeof *s);
    return st;
}

/* The i-th event of the last check: its tag, and its bytes in *d, *n. */
static char s_event(size_t i, const uint8_t **d, size_t *n)
{
    size_t off = 0;
    for (size_t k = 0; off < s_last.events.len; k++) {
        char tag = (char)s_last.events.p[off];
        uint32_t len;
        memcpy(&len, s_last.events.p + off + 1, 4);
        if (k == i) {
            if (d) *d = s_last.events.p + off + 5;
            if (n) *n = len;
            return tag;
        }
        off += 5 + len;
    }
    return 0;
}

static size_t s_nevents(void)
{
    size_t k = 0;
    while (s_event(k, NULL, NULL)) k++;
    return k;
}

static void s_assert_event(size_t i, char tag, const void *data, size_t len)
{
    const uint8_t *d;
    size_t n;
    assert_int_equal(s_event(i, &d, &n), tag);
    assert_int_equal(n, len);
    if (len) assert_memory_equal(d, data, len);
}

#define EV(i, tag, str) s_assert_event(i, tag, str, sizeof(str) - 1)

/* ---- data messages ------------------------------------------------------------ */

static void test_messages(void **state)
{
    (void)state;
    hbtw_bytes s = {0};
    TXT(&s, 1, 1, "hello");
    TXT(&s, 1, 2, "\x00\xff\x80");
    TXT(&s, 1, 1, "");
    TXT(&s, 1, 2, "");
    assert_int_equal(s_check(&s, 100), HB__WS_OK);
    assert_int_equal(s_nevents(), 4);
    EV(0, 'T', "hello");
    EV(1, 'B', "\x00\xff\x80");
    EV(2, 'T', "");
    EV(3, 'B', "");

    /* 16-bit and 64-bit lengths, at their boundaries */
    static uint8_t big[70000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)('a' + i % 26);
    size_t sizes[] = {125, 126, 127, 65535, 65536, 70000};
    for (size_t i = 0; i < 6; i++) {
        s_frame(&s, 1, 1, big, sizes[i]);
        assert_int_equal(s_check(&s, 1 << 20), HB__WS_OK);
        s_assert_event(0, 'T', big, sizes[i]);
    }
}

static void test_fragments_and_control_between(void **state)
{
    (void)state;
    hbtw_bytes s = {0};
    TXT(&s, 0, 1, "frag");
    TXT(&s, 1, 9, "ping1");
    TXT(&s, 0, 0, "men");
    TXT(&s, 1, 10, "pong1");
    TXT(&s, 0, 0, "");
    TXT(&s, 1, 9, "");
    TXT(&s, 1, 0, "ted");
    TXT(&s, 0, 2, "");
    TXT(&s, 1, 0, "b");
    assert_int_equal(s_check(&s, 100), HB__WS_OK);
    assert_int_equal(s_nevents(), 5);
    EV(0, 'P', "ping1");
    EV(1, 'O', "pong1");
    EV(2, 'P', "");
    EV(3, 'T', "fragmented");
    EV(4, 'B', "b");

    /* A ping of 125 bytes between the fragments of a large message. */
    static uint8_t big[20000], ping[125];
    memset(big, 'x', sizeof big), memset(ping, 'p', sizeof ping);
    s_frame(&s, 0, 2, big, 10000);
    s_frame(&s, 1, 9, ping, 125);
    s_frame(&s, 1, 0, big, 10000);
    assert_int_equal(s_check(&s, 20000), HB__WS_OK);
    s_assert_event(0, 'P', ping, 125);
    s_assert_event(1, 'B', big, 20000);
}

/* frame_left says how much of the frame follows each piece. */
static int s_left_cb(void *ud, const uint8_t *p, size_t n, bool first, bool final, bool binary,
                     uint64_t frame_left)
{
    uint64_t *expect = ud;
    assert_int_equal(frame_left, *expect - n);
    *expect = frame_left;
    return 0;
}

static void test_frame_left(void **state)
{
    (void)state;
    hbtw_bytes s = {0};
    static uint8_t big[5000];
    s_frame(&s, 1, 2, big, sizeof big);
    hb__ws *ws = hb__ws_new(10000);
    uint64_t expect = sizeof big;
    hb__ws_cb cb = {.on_data = s_left_cb, .ud = &expect};
    size_t used;
    for (size_t at = 0; at < s.len; at += 700) {
        size_t k = s.len - at < 700 ? s.len - at : 700;
        assert_int_equal(hb__ws_feed(ws, s.p + at, k, &cb, &used, NULL), HB__WS_OK);
        assert_int_equal(used, k);
    }
    assert_int_equal(expect, 0);
    hb__ws_free(&ws);
    free(s.p);
}

/* ---- protocol errors ------------------------------------------------------------ */

static hb__ws_status s_one(const void *bytes, size_t n, uint64_t max)
{
    return s_check_n(bytes, n, max, true);
}

#define ONE(lit, max) s_one(lit, sizeof(lit) - 1, max)

static void test_protocol_rules(void **state)
{
    (void)state;
    /* reserved bits */
    assert_int_equal(ONE("\xc1\x01x", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\xa1\x01x", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x91\x01x", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x89\x00\xc9\x00", 100), HB__WS_ERR_PROTOCOL);
    /* reserved opcodes, data and control */
    for (int op = 3; op <= 15; op++) {
        if (op >= 8 && op <= 10) continue;
        uint8_t f[3] = {(uint8_t)(0x80 | op), 1, 'x'};
        assert_int_equal(s_one(f, 3, 100), HB__WS_ERR_PROTOCOL);
        f[0] = (uint8_t)op; /* not final either */
        assert_int_equal(s_one(f, 3, 100), HB__WS_ERR_PROTOCOL);
    }
    /* a masked frame from the server */
    assert_int_equal(ONE("\x81\x83\x01\x02\x03\x04`fg", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x89\x80\x01\x02\x03\x04", 100), HB__WS_ERR_PROTOCOL);
    /* control frames: over 125 bytes, fragmented */
    uint8_t ping126[4 + 126] = {0x89, 126, 0, 126};
    assert_int_equal(s_one(ping126, sizeof ping126, 1000), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x09\x01x", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x0a\x00", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x08\x02\x03\xe8", 100), HB__WS_ERR_PROTOCOL);
    /* continuation without a start; new message inside a fragmented one */
    assert_int_equal(ONE("\x80\x01x", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x00\x00", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x81\x01x\x80\x01x", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x01\x01x\x81\x01x", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x01\x01x\x02\x01x", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x01\x01x\x89\x00\x82\x01x", 100), HB__WS_ERR_PROTOCOL);
    /* 64-bit length with the top bit set; lengths not in shortest form */
    assert_int_equal(ONE("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", UINT64_MAX),
                     HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x82\x7f\xff\xff\xff\xff\xff\xff\xff\xff", UINT64_MAX),
                     HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x82\x7e\x00\x7dxxxxx", 1000), HB__WS_ERR_PROTOCOL);
    assert_int_equal(ONE("\x82\x7f\x00\x00\x00\x00\x00\x00\xff\xff", 1000000), HB__WS_ERR_PROTOCOL);
    /* events before the bad frame are delivered, nothing after */
    assert_int_equal(ONE("\x81\x02ok\x89\x01p\xc1\x01x\x81\x01z", 100), HB__WS_ERR_PROTOCOL);
    assert_int_equal(s_nevents(), 2);
    EV(0, 'T', "ok");
    EV(1, 'P', "p");
}

static void test_detail_and_finished(void **state)
{
    (void)state;
    hb__ws *ws = hb__ws_new(100);
    hbtw_log l = {0};
    hb__ws_cb cb = hbtw_cb(&l);
    size_t used;
    const char *detail = NULL;
    assert_int_equal(hb__ws_feed(ws, (const uint8_t *)"\x81\x81", 2, &cb, &used, &detail),
                     HB__WS_ERR_PROTOCOL);
    assert_non_null(detail);
    assert_non_null(strstr(detail, "masked"));
    /* finished: the same answer, nothing taken */
    assert_int_equal(hb__ws_feed(ws, (const uint8_t *)"\x81\x00", 2, &cb, &used, NULL),
                     HB__WS_ERR_PROTOCOL);
    assert_int_equal(used, 0);
    hb__ws_free(&ws);
    assert_null(ws);
    hb__ws_free(&ws); /* twice is harmless */
    hbtw_log_free(&l);
}

/* ---- limits -------------------------------------------------------------------- */

static void test_limits(void **state)
{
    (void)state;
    static uint8_t big[40000];
    memset(big, 'a', sizeof big);
    hbtw_bytes s = {0};
    /* exactly max passes, max + 1 does not, at several sizes */
    uint64_t maxes[] = {1, 125, 126, 4096, 8192, 65535, 65536};
    for (size_t i = 0; i < 7; i++) {
        uint64_t m = maxes[i];
        if (m + 1 > sizeof big) continue;
        s_frame(&s, 1, 1, big, m);
        assert_int_equal(s_check(&s, m), HB__WS_OK);
        s_frame(&s, 1, 1, big, m + 1);
        assert_int_equal(s_check(&s, m), HB__WS_ERR_TOO_LARGE);
        assert_int_equal(s_nevents(), 0);
        assert_false(s_last.in_msg); /* no payload before the verdict */
    }
    /* summed over fragments, with control frames not counted */
    s_frame(&s, 0, 2, big, 3000);
    s_frame(&s, 1, 9, big, 125);
    s_frame(&s, 0, 0, big, 3000);
    s_frame(&s, 1, 0, big, 2000);
    assert_int_equal(s_check(&s, 8000), HB__WS_OK);
    s_frame(&s, 0, 2, big, 3000);
    s_frame(&s, 0, 0, big, 3000);
    s_frame(&s, 1, 0, big, 2001);
    assert_int_equal(s_check(&s, 8000), HB__WS_ERR_TOO_LARGE);
    /* the count starts again with each message */
    s_frame(&s, 1, 2, big, 8000);
    s_frame(&s, 0, 2, big, 4000);
    s_frame(&s, 1, 0, big, 4000);
    assert_int_equal(s_check(&s, 8000), HB__WS_OK);

    /* From the header alone: no payload byte has arrived. */
    const char *hdrs[] = {"\x82\x7e\x20\x01",                          /* 8193, 16-bit */
                          "\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00",  /* 2^32 */
                          "\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff"}; /* 2^63-1 */
    size_t lens[] = {4, 10, 10};
    for (size_t i = 0; i < 3; i++) {
        hb__ws *ws = hb__ws_new(8192);
        hbtw_log l = {0};
        hb__ws_cb cb = hbtw_cb(&l);
        size_t used;
        hb__ws_status st = HB__WS_OK;
        /* in one piece, and byte by byte */
        assert_int_equal(hb__ws_feed(ws, (const uint8_t *)hdrs[i], lens[i], &cb, &used, NULL),
                         HB__WS_ERR_TOO_LARGE);
        hb__ws_free(&ws);
        ws = hb__ws_new(8192);
        for (size_t k = 0; k < lens[i] && st == HB__WS_OK; k++)
            st = hb__ws_feed(ws, (const uint8_t *)hdrs[i] + k, 1, &cb, &used, NULL);
        assert_int_equal(st, HB__WS_ERR_TOO_LARGE);
        hb__ws_free(&ws);
        hbtw_log_free(&l);
    }
    /* the fragmented one: TOO_LARGE once the second header is whole, no
     * payload of the first fragment needed beyond its header */
    {
        hb__ws *ws = hb__ws_new(8192);
        hbtw_log l = {0};
        hb__ws_cb cb = hbtw_cb(&l);
        size_t used;
        s_frame(&s, 0, 2, big, 4096);
        s_raw(&s, "\x80\x7e\x10\x01", 4);
        assert_int_equal(hb__ws_feed(ws, s.p, s.len, &cb, &used, NULL), HB__WS_ERR_TOO_LARGE);
        hb__ws_free(&ws);
        hbtw_log_free(&l);
        free(s.p);
        memset(&s, 0, sizeof s);
    }
    /* max 0: only empty messages */
    TXT(&s, 1, 1, "");
    assert_int_equal(s_check(&s, 0), HB__WS_OK);
    TXT(&s, 1, 1, "x");
    assert_int_equal(s_check(&s, 0), HB__WS_ERR_TOO_LARGE);
}

/* ---- UTF-8 ------------------------------------------------------------------- */

typedef struct s_u8case {
    const char *bytes;
    bool valid;
} s_u8case;

/* Autobahn category 6 style: whole sequences and their broken forms. */
static const s_u8case s_u8cases[] = {
    {"", true},
    {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true}, /* kosme */
    {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", false},
    {"\x00", true},
    {"\xc2\x80", true},
    {"\xe0\xa0\x80", true},
    {"\xf0\x90\x80\x80", true},
    {"\x7f", true},
    {"\xdf\xbf", true},
    {"\xef\xbf\xbf", true},
    {"\xf4\x8f\xbf\xbf", true},
    {"\xed\x9f\xbf", true},
    {"\xee\x80\x80", true},
    {"\xef\xbf\xbd", true},
    {"\xf4\x90\x80\x80", false}, /* above U+10FFFF */
    {"\xf7\xbf\xbf\xbf", false},
    {"\xf8\x88\x80\x80\x80", false},
    {"\x80", false},
    {"\xbf", false},
    {"\x80\xbf\x80\xbf", false},
    {"\xc0 ", false},
    {"\xe0\x80 ", false},
    {"\xc0\xaf", false}, /* overlong "/" */
    {"\xe0\x80\xaf", false},
    {"\xf0\x80\x80\xaf", false},
    {"\xc1\xbf", false},
    {"\xe0\x9f\xbf", false},
    {"\xf0\x8f\xbf\xbf", false},
    {"\xed\xa0\x80", false}, /* surrogates */
    {"\xed\xad\xbf", false},
    {"\xed\xbf\xbf", false},
    {"\xed\xa0\x80\xed\xb0\x80", false},
    {"\xef\xbf\xbe", true}, /* noncharacters are valid */
    {"\xf4\x8f\xbf\xbe", true},
    {"\xc2", false}, /* cut short at the message end */
    {"\xe0\xa0", false},
    {"\xf0\x90\x80", false},
    {"abc\xf0\x90", false},
    {"\xfe", false},
    {"\xff", false},
    {"\xfe\xfe\xff\xff", false},
    {"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!", true},
};

static void test_utf8_every_split(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof s_u8cases / sizeof s_u8cases[0]; c++) {
        const char *b = s_u8cases[c].bytes;
        size_t n = strlen(b);
        if (c == 3) n = 1; /* the NUL */
        hb__ws_status want = s_u8cases[c].valid ? HB__WS_OK : HB__WS_ERR_UTF8;
        hbtw_bytes s = {0};
        /* one frame (split at every byte position by s_check) */
        s_frame(&s, 1, 1, b, n);
        assert_int_equal(s_check(&s, 1000), want);
        if (want == HB__WS_OK) s_assert_event(0, 'T', b, n);
        /* fragments cut at every position, and at every pair of positions */
        for (size_t i = 0; i <= n; i++) {
            s_frame(&s, 0, 1, b, i);
            s_frame(&s, 1, 9, "p", 1);
            s_frame(&s, 1, 0, b + i, n - i);
            assert_int_equal(s_check(&s, 1000), want);
            for (size_t j = i; j <= n; j++) {
                s_frame(&s, 0, 1, b, i);
                s_frame(&s, 0, 0, b + i, j - i);
                s_frame(&s, 1, 0, b + j, n - j);
                assert_int_equal(s_check(&s, 1000), want);
            }
        }
        /* as a close reason */
        uint8_t close[2 + 64] = {0x03, 0xe8};
        memcpy(close + 2, b, n);
        s_frame(&s, 1, 8, close, 2 + n);
        assert_int_equal(s_check(&s, 1000), s_u8cases[c].valid ? HB__WS_CLOSED : HB__WS_ERR_UTF8);
    }
}

/* The error comes as soon as the bytes cannot be UTF-8, before the message
 * or frame is whole (Autobahn 6.4: fail fast). */
static void test_utf8_fail_fast(void **state)
{
    (void)state;
    const char *head[] = {
        "\x81\x7e\x01\x00"
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80", /* frame */
        "\x01\x05\xce\xba\xe1\xbd\xb9\x80\x7e\x01\x00"
        "\xcf\x83\xce\xbc\xce\xb5\xf4\x90", /* frag */
        "\x81\x7e\x01\x00"
        "\xc0", /* overlong lead */
        "\x81\x7e\x01\x00"
        "abc\xed\xa0", /* surrogate after two bytes */
    };
    size_t lens[] = {4 + 15, 11 + 8, 5, 9};
    for (size_t i = 0; i < 4; i++) {
        hb__ws *ws = hb__ws_new(100000);
        hbtw_log l = {0};
        hb__ws_cb cb = hbtw_cb(&l);
        size_t used;
        assert_int_equal(hb__ws_feed(ws, (const uint8_t *)head[i], lens[i], &cb, &used, NULL),
                         HB__WS_ERR_UTF8);
        hb__ws_free(&ws);
        hbtw_log_free(&l);
    }
    /* but a cut, still completable sequence at the end of a piece is not an error */
    hb__ws *ws = hb__ws_new(100000);
    hbtw_log l = {0};
    hb__ws_cb cb = hbtw_cb(&l);
    size_t used;
    assert_int_equal(
        hb__ws_feed(ws, (const uint8_t *)"\x81\x7e\x01\x00\xf4\x8f\xbf", 7, &cb, &used, NULL),
        HB__WS_OK);
    hb__ws_free(&ws);
    hbtw_log_free(&l);
}

/* ---- close -------------------------------------------------------------------- */

static void test_close(void **state)
{
    (void)state;
    assert_int_equal(ONE("\x81\x01x\x88\x05\x03\xe8"
                         "bye\x81\x01z",
                         100),
                     HB__WS_CLOSED);
    assert_int_equal(s_nevents(), 2);
    EV(0, 'T', "x");
    EV(1, 'C',
       "\x03\xe8"
       "bye");
    assert_int_equal(ONE("\x88\x00", 100), HB__WS_CLOSED);
    EV(0, 'C', "\x03\xed"); /* 1005: no code */
    assert_int_equal(ONE("\x88\x01\x03", 100), HB__WS_ERR_PROTOCOL);
    /* between fragments, as RFC 6455 allows */
    assert_int_equal(ONE("\x01\x01x\x88\x02\x03\xe9", 100), HB__WS_CLOSED);
    EV(0, 'C', "\x03\xe9");

    /* *used is just past the close frame */
    hb__ws *ws = hb__ws_new(100);
    hbtw_log l = {0};
    hb__ws_cb cb = hbtw_cb(&l);
    size_t used;
    const char *detail;
    assert_int_equal(
        hb__ws_feed(ws, (const uint8_t *)"\x88\x02\x0f\xa0junk", 8, &cb, &used, &detail),
        HB__WS_CLOSED);
    assert_int_equal(used, 4);
    hb__ws_free(&ws);
    hbtw_log_free(&l);

    unsigned ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                     1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    unsigned bad[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint8_t f[4] = {0x88, 2, (uint8_t)(ok[i] >> 8), (uint8_t)ok[i]};
        assert_int_equal(s_one(f, 4, 100), HB__WS_CLOSED);
        s_assert_event(0, 'C', f + 2, 2);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t f[4] = {0x88, 2, (uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        assert_int_equal(s_one(f, 4, 100), HB__WS_ERR_PROTOCOL);
    }
    /* a 123-byte reason, split into pieces by s_check */
    uint8_t c[125] = {0x03, 0xe8};
    memset(c + 2, 'r', 123);
    hbtw_bytes s = {0};
    s_frame(&s, 1, 8, c, 125);
    assert_int_equal(s_check(&s, 100), HB__WS_CLOSED);
    s_assert_event(0, 'C', c, 125);
}

/* ---- stopping ----------------------------------------------------------------- */

static int s_stop_cb(void *ud, const uint8_t *p, size_t n, bool first, bool final, bool binary,
                     uint64_t frame_left)
{
    (*(int *)ud)++;
    return 1;
}

static void test_stop(void **state)
{
    (void)state;
    /* two messages and a ping in one buffer: each stop leaves *used just
     * past the piece, and feeding the rest goes on from there */
    const uint8_t in[] = "\x81\x03one\x89\x00\x82\x03two";
    size_t n = sizeof in - 1;
    hb__ws *ws = hb__ws_new(100);
    int calls = 0;
    hb__ws_cb cb = {.on_data = s_stop_cb, .ud = &calls};
    size_t used;
    assert_int_equal(hb__ws_feed(ws, in, n, &cb, &used, NULL), HB__WS_STOPPED);
    assert_int_equal(used, 5);
    assert_int_equal(hb__ws_feed(ws, in + 5, n - 5, &cb, &used, NULL), HB__WS_STOPPED);
    assert_int_equal(used, n - 5);
    assert_int_equal(hb__ws_feed(ws, in + n, 0, &cb, &used, NULL), HB__WS_OK);
    assert_int_equal(used, 0);
    assert_int_equal(calls, 2);
    hb__ws_free(&ws);
}

/* ---- the wslay model agrees on random streams ------------------------------ */

static uint64_t s_rng = 0x9E3779B97F4A7C15u;

static uint32_t s_rand(void)
{
    s_rng ^= s_rng << 13, s_rng ^= s_rng >> 7, s_rng ^= s_rng << 17;
    return (uint32_t)s_rng;
}

static void test_random_streams(void **state)
{
    (void)state;
    static const char *payloads[] = {
        "",     "a",    "\xc3\xa9",     "\xe2\x82\xac", "\xf0\x9f\x90\x9d",
        "\xc3", "\xa9", "\xed\xa0\x80", "\xff",         "hello"};
    for (int round = 0; round < 400; round++) {
        hbtw_bytes s = {0};
        int frames = 1 + (int)(s_rand() % 8);
        for (int f = 0; f < frames; f++) {
            static const int ops[] = {0, 1, 2, 8, 9, 10, 0, 0, 1, 3};
            int op = ops[s_rand() % 10];
            const char *pl = payloads[s_rand() % 10];
            if (op == 8 && s_rand() % 2) pl = "\x03\xe8ok";
            s_frame(&s, s_rand() % 3 != 0, op, pl, strlen(pl));
        }
        if (s_rand() % 4 == 0) s.len -= s_rand() % (s.len + 1) / 2; /* cut short */
        s_check(&s, s_rand() % 2 ? 1000 : 4);
    }
}

/* ---- the encoder --------------------------------------------------------------- */

/* The test's own unmasking: what a server does. Returns the header size. */
static size_t s_unmask(uint8_t *f, size_t n, uint64_t *len_out)
{
    assert_true(f[1] & 0x80);
    uint64_t len = f[1] & 0x7f;
    size_t h = 2;
    if (len == 126) len = (uint64_t)f[2] << 8 | f[3], h = 4;
    if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | f[2 + i];
        h = 10;
    }
    uint8_t *key = f + h;
    h += 4;
    assert_int_equal(h + len, n);
    for (uint64_t i = 0; i < len; i++) f[h + i] ^= key[i % 4];
    *len_out = len;
    return h;
}

static void test_encoder_round_trip(void **state)
{
    (void)state;
    size_t sizes[] = {0, 1, 7, 8, 9, 125, 126, 200, 4096, 65535, 65536, 100001};
    hb__ws *ws = hb__ws_new(1 << 20);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t len = sizes[i];
        for (int op = 1; op <= 2; op++) {
            uint8_t *buf = malloc(HB__WS_MAX_HEADER + len + 1);
            uint8_t *payload = buf + HB__WS_MAX_HEADER;
            for (size_t k = 0; k < len; k++) payload[k] = (uint8_t)('a' + k % 26);
            uint8_t *f = hb__ws_frame(ws, op, true, payload, len);
            size_t hlen = (size_t)(payload - f);
            assert_int_equal(hlen, 2 + (len < 126 ? 0 : len <= 65535 ? 2 : 8) + 4);
            assert_true(f >= buf);
            assert_int_equal(f[0], 0x80 | op);
            uint64_t got;
            assert_int_equal(s_unmask(f, hlen + len, &got), hlen);
            assert_int_equal(got, len);
            for (size_t k = 0; k < len; k++) assert_int_equal(payload[k], 'a' + k % 26);
            /* As the server would send it back: no mask. */
            hbtw_bytes s = {0};
            s_frame(&s, true, op, payload, len);
            assert_int_equal(s_check_n(s.p, s.len, 1 << 20, false), HB__WS_OK);
            s_assert_event(0, op == 1 ? 'T' : 'B', payload, len);
            free(s.p);
            free(buf);
        }
    }
    /* fragments and control frames */
    uint8_t buf[64];
    uint8_t *f = hb__ws_frame(ws, HB__WS_OP_TEXT, false, buf + 14, 3);
    assert_int_equal(f[0], 0x01);
    f = hb__ws_frame(ws, HB__WS_OP_CONT, true, buf + 14, 3);
    assert_int_equal(f[0], 0x80);
    f = hb__ws_frame(ws, HB__WS_OP_PING, true, buf + 14, 0);
    assert_int_equal(f[0], 0x89);
    assert_int_equal(f[1], 0x80);
    assert_ptr_equal(f, buf + 14 - 6);
    hb__ws_free(&ws);
}

static void test_masks_differ(void **state)
{
    (void)state;
    enum { N = 2000 };
    static uint32_t keys[N];
    uint8_t buf[32];
    for (int i = 0; i < N; i++) {
        uint8_t *f = hb__ws_frame(NULL, HB__WS_OP_BINARY, true, buf + 14, 4);
        memcpy(&keys[i], f + 2, 4);
        if (i) assert_true(keys[i] != keys[i - 1]);
    }
    /* 2000 random 32-bit keys: a repeat has odds of about 1 in 2000. */
    int repeats = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < i; j++) repeats += keys[i] == keys[j];
    assert_true(repeats <= 2);
    /* and a key is not all zero bytes every time: the bits vary */
    uint32_t or_all = 0, and_all = UINT32_MAX;
    for (int i = 0; i < N; i++) or_all |= keys[i], and_all &= keys[i];
    assert_int_equal(or_all, UINT32_MAX);
    assert_int_equal(and_all, 0);
}

static void test_close_payload(void **state)
{
    (void)state;
    uint8_t out[125];
    assert_int_equal(hb__ws_close_payload(out, 1000, "bye"), 5);
    assert_memory_equal(out,
                        "\x03\xe8"
                        "bye",
                        5);
    assert_int_equal(hb__ws_close_payload(out, 1009, NULL), 2);
    assert_memory_equal(out, "\x03\xf1", 2);
    assert_int_equal(hb__ws_close_payload(out, 1005, "x"), 0);
    assert_int_equal(hb__ws_close_payload(out, 1006, NULL), 0);
    assert_int_equal(hb__ws_close_payload(out, 1015, NULL), 0);
    assert_int_equal(hb__ws_close_payload(out, 999, NULL), 0);
    assert_int_equal(hb__ws_close_payload(out, 4999, ""), 2);
    /* cut to 123 bytes on a UTF-8 boundary */
    char r[200];
    memset(r, 'a', sizeof r);
    r[199] = 0;
    assert_int_equal(hb__ws_close_payload(out, 1000, r), 125);
    memcpy(r + 121, "\xe2\x82\xac", 3); /* a euro sign over the cut (bytes 121..123) */
    assert_int_equal(hb__ws_close_payload(out, 1000, r), 2 + 121);
    r[123] = 'a';
    memcpy(r + 120, "\xe2\x82\xac", 3); /* ends exactly at 123 */
    assert_int_equal(hb__ws_close_payload(out, 1000, r), 125);
    assert_true(hb__utf8_valid(out + 2, 123));
    /* not UTF-8: the code alone */
    assert_int_equal(hb__ws_close_payload(out, 1001, "\xff"), 2);
    /* what it builds, the decoder reads back */
    size_t n = hb__ws_close_payload(out, 4000, "going");
    hbtw_bytes s = {0};
    s_frame(&s, 1, 8, out, n);
    assert_int_equal(s_check(&s, 10), HB__WS_CLOSED);
    EV(0, 'C', "\x0f\xa0going");
}

static void test_trim(void **state)
{
    (void)state;
    /* trim between frames, mid-header and mid-frame changes nothing */
    const uint8_t in[] = "\x81\x05hello\x82\x7e\x00\x80";
    hb__ws *ws = hb__ws_new(1000);
    hbtw_log l = {0};
    hb__ws_cb cb = hbtw_cb(&l);
    size_t used;
    for (size_t i = 0; i < sizeof in - 1; i++) {
        assert_int_equal(hb__ws_feed(ws, in + i, 1, &cb, &used, NULL), HB__WS_OK);
        hb__ws_trim(ws);
    }
    uint8_t payload[128];
    memset(payload, 'z', sizeof payload);
    assert_int_equal(hb__ws_feed(ws, payload, 128, &cb, &used, NULL), HB__WS_OK);
    assert_int_equal(l.events.len, 2 * 5 + 5 + 128);
    hb__ws_free(&ws);
    hbtw_log_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_fragments_and_control_between),
        cmocka_unit_test(test_frame_left),
        cmocka_unit_test(test_protocol_rules),
        cmocka_unit_test(test_detail_and_finished),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_utf8_every_split),
        cmocka_unit_test(test_utf8_fail_fast),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_random_streams),
        cmocka_unit_test(test_encoder_round_trip),
        cmocka_unit_test(test_masks_differ),
        cmocka_unit_test(test_close_payload),
        cmocka_unit_test(test_trim),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    hbtw_log_free(&s_last);
    return rc;
}
