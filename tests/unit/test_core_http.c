/*
 * test_core_http.c: the request header and token rules of src/core/http.c,
 * which the handshake builder and config validation share: what passes
 * (any token name, obs-text and HTAB in values, User-Agent), what does not
 * (the headers the WebSocket client writes, hop-by-hop and framing headers,
 * control characters, names that are not tokens), and subprotocol tokens.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/http.h"

static void test_http_checks(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(hb__http_header_check("Origin", "https://a.example", &why), 0);
    assert_int_equal(hb__http_header_check("User-Agent", "x/1 (y)", NULL), 0);
    assert_int_equal(hb__http_header_check("X-Empty", "", NULL), 0);
    assert_int_equal(hb__http_header_check("Authorization", "Bearer a.b\tc", NULL), 0);
    assert_int_equal(hb__http_header_check("X-Utf8", "caf\xc3\xa9", NULL), 0); /* obs-text */
    assert_int_equal(hb__http_header_check("!#$%&'*+-.^_`|~09azAZ", "v", NULL), 0);
    assert_int_equal(hb__http_header_check("Sec-WebSocket", "v", NULL), 0); /* not the prefix */
    assert_int_equal(hb__http_header_check("Proxy", "v", NULL), 0);
    assert_int_equal(hb__http_header_check("Hosts", "v", NULL), 0);
    assert_int_equal(hb__http_header_check("X", NULL, &why), -1);
    assert_int_equal(hb__http_header_check(NULL, "v", &why), -1);
    assert_int_equal(hb__http_header_check("Proxy-Connection", "v", &why), -1);
    assert_non_null(why);
    assert_int_equal(hb__http_token_check("chat", &why), 0);
    assert_int_equal(hb__http_token_check("v2.bybit.com", NULL), 0);
    assert_int_equal(hb__http_token_check(NULL, &why), -1);
    assert_true(hb__http_is_token("a", 1));
    assert_false(hb__http_is_token("a", 0));
    assert_false(hb__http_is_token("a(", 2));
}

static void test_refused_headers(void **state)
{
    (void)state;
    static const char *const names[] = {"Host",
                                        "host",
                                        "Upgrade",
                                        "CONNECTION",
                                        "Sec-WebSocket-Key",
                                        "sec-websocket-version",
                                        "Sec-WebSocket-Protocol",
                                        "Sec-WebSocket-Extensions",
                                        "Sec-WebSocket-Accept",
                                        "Transfer-Encoding",
                                        "Content-Length",
                                        "Keep-Alive",
                                        "TE",
                                        "te",
                                        "Trailer",
                                        "Proxy-Authorization",
                                        "proxy-connection",
                                        "X Y",
                                        "",
                                        "X:",
                                        "(X)",
                                        "X\x01",
                                        "\xc3\xa9"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *why = NULL;
        assert_int_equal(hb__http_header_check(names[i], "v", &why), -1);
        assert_non_null(why);
    }
    static const char *const values[] = {"a\r\nEvil: 1", "a\nb", "a\rb", "\x01", "\x7f", "\x1b[0m"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        const char *why = NULL;
        assert_int_equal(hb__http_header_check("X", values[i], &why), -1);
        assert_non_null(why);
    }
    static const char *const tokens[] = {"",         "a b",  "a,b", "\"q\"", "a/b",
                                         "\xc3\xa9", "a\tb", "[x]", "a=b",   "a;b"};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        const char *why = NULL;
        assert_int_equal(hb__http_token_check(tokens[i], &why), -1);
        assert_non_null(why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_checks),
        cmocka_unit_test(test_refused_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
