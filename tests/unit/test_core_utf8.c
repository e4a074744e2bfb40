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
    /* Offsets across the 32-byte and the 8-byte steps and the tail. */
    char buf[160];
    for (size_t pos = 0; pos < 140; pos++) {
        memset(buf, 'a', sizeof buf);
        buf[pos] = (char)0x80; /* a stray continuation at every offset */
        assert_false(hb__utf8_valid(buf, 150));
        buf[pos] = (char)0xc3, buf[pos + 1] = (char)0xa9; /* a valid é there */
        assert_true(hb__utf8_valid(buf, 150));
        /* Truncated right at the end of the checked range. */
        assert_false(hb__utf8_valid(buf, pos + 1));
    }
}

/* A byte at a time, after the table of RFC 3629, for the differential test. */
static bool s_ref_valid(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = p[i], need, lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            need = 1;
        else if (c == 0xe0)
            need = 2, lo = 0xa0;
        else if (c == 0xed)
            need = 2, hi = 0x9f;
        else if (c >= 0xe1 && c <= 0xef)
            need = 2;
        else if (c == 0xf0)
            need = 3, lo = 0x90;
        else if (c == 0xf4)
            need = 3, hi = 0x8f;
        else if (c >= 0xf1 && c <= 0xf3)
            need = 3;
        else
            return false;
        if (n - i < need + 1 || p[i + 1] < lo || p[i + 1] > hi) return false;
        for (unsigned k = 2; k <= need; k++)
            if ((p[i + k] & 0xc0) != 0x80) return false;
        i += need + 1;
    }
    return true;
}

/* Mostly ASCII with a few bytes from the interesting ranges, at random
 * lengths: the fast validator agrees with the reference on every one. */
static void test_differential(void **state)
{
    (void)state;
    static const unsigned char pick[] = {0x80, 0xbf, 0xc2, 0xc3, 0xdf, 0xe0, 0xa0, 0xed,
                                         0x9f, 0xef, 0xf0, 0x90, 0xf4, 0x8f, 0xf5, 0xff};
    unsigned char buf[300];
    uint64_t x = 88172645463325252ull;
    int valid = 0;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = (size_t)(x % sizeof buf);
        uint64_t odds = 1 + (x >> 32) % 64; /* one byte in `odds` is not ASCII */
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = x % odds == 0 ? pick[(x >> 20) % sizeof pick]
                                   : (unsigned char)(0x20 + (x >> 24) % 95);
        }
        bool want = s_ref_valid(buf, n);
        valid += want;
        assert_int_equal(hb__utf8_valid(buf, n), want);
    }
    assert_true(valid > 1000); /* both outcomes are exercised */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_fast_path),
        cmocka_unit_test(test_differential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
