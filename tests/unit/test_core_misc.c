/*
 * test_core_misc.c: the small core pieces: the error table (every code has a
 * distinct machine name and a text, the control API's codes are spelled as
 * SPEC.md section 6 says), the clocks, RFC 3339 timestamps, and the
 * WebSocket URL recogniser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/url.h"
#include "honeybee/common.h"

static void test_errors(void **state)
{
    (void)state;
    for (int i = 0; i < HB_E__COUNT; i++) {
        assert_non_null(hb_errname(i));
        assert_non_null(hb_strerror(i));
        assert_true(strlen(hb_errname(i)) > 0);
        for (int j = 0; j < i; j++) assert_string_not_equal(hb_errname(i), hb_errname(j));
    }
    assert_int_equal(HB_OK, 0);
    assert_string_equal(hb_errname(HB_OK), "ok");
    assert_string_equal(hb_errname(-1), "unknown");
    assert_string_equal(hb_errname(HB_E__COUNT), "unknown");
    assert_string_equal(hb_strerror(HB_E__COUNT + 5), "unknown error");
    /* The wire names of SPEC.md section 6 and the send_failed reasons. */
    static const struct {
        int code;
        const char *name;
    } wire[] = {
        {HB_E_BAD_REQUEST, "bad_request"},     {HB_E_UNKNOWN_OP, "unknown_op"},
        {HB_E_PEER_EXISTS, "peer_exists"},     {HB_E_UNKNOWN_PEER, "unknown_peer"},
        {HB_E_INVALID_URL, "invalid_url"},     {HB_E_INVALID_OPTION, "invalid_option"},
        {HB_E_NOT_CONNECTED, "not_connected"}, {HB_E_QUEUE_FULL, "queue_full"},
        {HB_E_TOO_LARGE, "too_large"},         {HB_E_SHUTTING_DOWN, "shutting_down"},
    };
    for (size_t i = 0; i < sizeof wire / sizeof wire[0]; i++)
        assert_string_equal(hb_errname(wire[i].code), wire[i].name);
}

static void test_clocks(void **state)
{
    (void)state;
    uint64_t m1 = hb__mono_ns(), m2 = hb__mono_ns();
    assert_true(m2 >= m1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t w = hb__wall_ns();
    uint64_t ref = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    assert_true(w >= ref && w - ref < UINT64_C(5000000000)); /* generous on a loaded box */
}

static void test_rfc3339(void **state)
{
    (void)state;
    char buf[HB_RFC3339_LEN];
    assert_int_equal(hb__rfc3339(0, buf), 30);
    assert_string_equal(buf, "1970-01-01T00:00:00.000000000Z");
    /* 2026-11-28T09:17:08.123456789Z */
    uint64_t t = UINT64_C(1795857428) * 1000000000u + 123456789u;
    assert_int_equal(hb__rfc3339(t, buf), 30);
    assert_string_equal(buf, "2026-11-28T09:17:08.123456789Z");
    /* Leap day, last nanosecond of a day. */
    t = UINT64_C(1709251199) * 1000000000u + 999999999u;
    hb__rfc3339(t, buf);
    assert_string_equal(buf, "2024-02-29T23:59:59.999999999Z");
    /* Now parses back to about now. */
    hb__rfc3339(hb__wall_ns(), buf);
    assert_int_equal(strlen(buf), 30);
    assert_true(buf[4] == '-' && buf[10] == 'T' && buf[19] == '.' && buf[29] == 'Z');
}

static void url_ok(const char *u, bool tls, const char *host, int port, const char *path)
{
    hb__ws_url p;
    if (!hb__ws_url_parse(u, &p)) fail_msg("rejected %s", u);
    assert_int_equal(p.tls, tls);
    assert_int_equal(p.host_len, strlen(host));
    assert_memory_equal(u + p.host_off, host, p.host_len);
    assert_int_equal(p.port, port);
    assert_string_equal(u + p.path_off, path);
}

static void test_url(void **state)
{
    (void)state;
    url_ok("ws://example.com", false, "example.com", 80, "");
    url_ok("wss://relay.example.com/", true, "relay.example.com", 443, "/");
    url_ok("WSS://Relay.Example.com:8443/a/b?x=1&y=2", true, "Relay.Example.com", 8443,
           "/a/b?x=1&y=2");
    url_ok("ws://127.0.0.1:9000?q", false, "127.0.0.1", 9000, "?q");
    url_ok("ws://[::1]:1234/p", false, "::1", 1234, "/p");
    url_ok("wss://[2001:db8::1]/", true, "2001:db8::1", 443, "/");
    const char *bad[] = {
        "",
        "http://example.com/",
        "example.com",
        "ws://",
        "ws:///path",
        "ws://:80/",
        "ws://host:/",
        "ws://host:0/",
        "ws://host:65536/",
        "ws://host:12x/",
        "ws://user@host/",
        "ws://host/#frag",
        "ws://host/a b",
        "ws://ho st/",
        "ws://host/\n",
        "ws://[::1/",
        "ws://[]/",
        "ws://[zz]/",
        "wss//host",
        NULL,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hb__ws_url_parse(bad[i], NULL)) fail_msg("accepted %s", bad[i] ? bad[i] : "NULL");
    /* The length limit: HB__URL_MAX bytes pass, one more does not. */
    char longu[HB__URL_MAX + 2];
    memcpy(longu, "ws://h/", 7);
    memset(longu + 7, 'p', sizeof longu - 7);
    longu[HB__URL_MAX] = 0;
    assert_true(hb__ws_url_parse(longu, NULL));
    longu[HB__URL_MAX] = 'p';
    longu[HB__URL_MAX + 1] = 0;
    assert_false(hb__ws_url_parse(longu, NULL));
}

/* bridge.http: what --check accepts is exactly what the daemon can bind. */
static void test_hostport(void **state)
{
    (void)state;
    char host[64];
    int port = 0;
    assert_true(hb__hostport_split("127.0.0.1:8080", host, sizeof(host), &port));
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_true(hb__hostport_split("[::1]:9", host, sizeof(host), &port));
    assert_string_equal(host, "::1");
    assert_int_equal(port, 9);
    assert_true(hb__hostport_split("0.0.0.0:65535", NULL, 0, NULL));
    const char *bad[] = {"127.0.0.1:0", "127.0.0.1:65536", ":8080",  "host",   "host:", "host:8x",
                         "[::1:80",     "[]:80",           "a b:80", "a/b:80", "h:-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(hb__hostport_split(bad[i], host, sizeof(host), &port));
    assert_false(hb__hostport_split("longhostname:80", host, 4, &port)); /* no room */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),   cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_rfc3339),  cmocka_unit_test(test_url),
        cmocka_unit_test(test_hostport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
