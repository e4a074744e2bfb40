/*
 * test_core_utf8.c: strict UTF-8 (src/core/utf8.c) against the boundaries of
 * RFC 3629: every sequence length at its lowest and highest code point,
 * overlongs, surrogates, code points above U+10FFFF, truncated and stray
 * continuation bytes, and errors placed after an ASCII run long enough to
 * exercise the eight-byte fast path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/utf8.h"

static bool v(const char *s)
{
    return hb__utf8_valid(s, strlen(s));
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(hb__utf8_valid("", 0));
    assert_true(hb__utf8_valid(NULL, 0));
    assert_true(v("plain ascii"));
    assert_true(v("\x7f"));
    assert_true(v("\xc2\x80"));         /* U+0080 */
    assert_true(v("\xdf\xbf"));         /* U+07FF */
    assert_true(v("\xe0\xa0\x80"));     /* U+0800 */
    assert_true(v("\xed\x9f\xbf"));     /* U+D7FF */
    assert_true(v("\xee\x80\x80"));     /* U+E000 */
    assert_true(v("\xef\xbf\xbf"));     /* U+FFFF */
    assert_true(v("\xf0\x90\x80\x80")); /* U+10000 */
    assert_true(v("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
    assert_true(v("h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9f\x90\x9d"));
    /* A NUL byte is valid UTF-8 (U+0000). */
    assert_true(hb__utf8_valid("a\0b", 3));
}

static void test_invalid(void **state)
{
    (void)state;
    assert_false(v("\x80")); /* stray continuation */
    assert_false(v("\xbf"));
    assert_false(v("\xc0\x80"));         /* overlong NUL */
    assert_false(v("\xc1\xbf"));         /* overlong */
    assert_false(v("\xe0\x9f\xbf"));     /* overlong 3-byte */
    assert_false(v("\xf0\x8f\xbf\xbf")); /* overlong 4-byte */
    assert_false(v("\xed\xa0\x80"));     /* U+D800 surrogate */
    assert_false(v("\xed\xbf\xbf"));     /* U+DFFF surrogate */
    assert_false(v("\xf4\x90\x80\x80")); /* U+110000 */
    assert_false(v("\xf5\x80\x80\x80"));
    assert_false(v("\xff"));
    assert_false(v("\xfe"));
    assert_false(v("\xc3")); /* truncated */
    assert_false(v("\xe2\x82"));
    assert_false(v("\xf0\x9f\x90"));
    assert_false(v("\xe2\x28\xa1")); /* bad continuation */
    assert_false(v("\xc3\x28"));
    /* A valid sequence cut by the length, not by the string. */
    assert_false(hb__utf8_valid("\xc3\xa9", 1));
}

static void test_fast_path(void **state)
{
    (void)state;
    char buf[64];
    for (size_t pos = 0; pos < 40; pos++) {
        memset(buf, 'a', sizeof buf);
        buf[pos] = (char)0x80; /* a stray continuation at every offset */
        assert_false(hb__utf8_valid(buf, 48));
        buf[pos] = (char)0xc3, buf[pos + 1] = (char)0xa9; /* a valid é there */
        assert_true(hb__utf8_valid(buf, 48));
        /* Truncated right at the end of the checked range. */
        assert_false(hb__utf8_valid(buf, pos + 1));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_fast_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
