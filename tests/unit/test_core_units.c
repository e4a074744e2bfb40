/*
 * test_core_units.c: durations and sizes (src/core/units.c): every notation
 * SPEC.md section 3 allows, the strictness rules (no sign, no spaces, no
 * trailing garbage, no precision below the unit, overflow), and that
 * formatting gives the shortest text that parses back to the same value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/units.h"

#define MS  UINT64_C(1000000)
#define SEC UINT64_C(1000000000)

static uint64_t dur(const char *s)
{
    uint64_t v = 12345;
    assert_true(hb__parse_duration(s, &v));
    return v;
}

static void bad_dur(const char *s)
{
    uint64_t v = 777;
    if (hb__parse_duration(s, &v))
        fail_msg("duration \"%s\" was accepted as %llu", s, (unsigned long long)v);
    assert_int_equal(v, 777); /* untouched on failure */
}

static void test_duration_valid(void **state)
{
    (void)state;
    assert_int_equal(dur("0"), 0);
    assert_int_equal(dur("0s"), 0);
    assert_int_equal(dur("0.0s"), 0);
    assert_int_equal(dur("250ms"), 250 * MS);
    assert_int_equal(dur("1.5s"), 1500 * MS);
    assert_int_equal(dur("5m"), 300 * SEC);
    assert_int_equal(dur("1h"), 3600 * SEC);
    assert_int_equal(dur("0.5h"), 1800 * SEC);
    assert_int_equal(dur("0.000001ms"), 1);
    assert_int_equal(dur("0.000000001s"), 1);
    assert_int_equal(dur("1.000000000000000000000000s"), SEC); /* trailing zeros fine */
    assert_int_equal(dur("10s"), 10 * SEC);
    assert_int_equal(dur("007s"), 7 * SEC);
    /* The largest value: 2^64-1 ns is 18446744073.709551615 s. */
    assert_int_equal(dur("18446744073.709551615s"), UINT64_MAX);
}

static void test_duration_invalid(void **state)
{
    (void)state;
    bad_dur("");
    bad_dur("5"); /* only 0 may omit the unit */
    bad_dur("1.5");
    bad_dur("s");
    bad_dur("-1s"); /* no sign */
    bad_dur("+1s");
    bad_dur(" 1s"); /* no spaces */
    bad_dur("1s ");
    bad_dur("1 s");
    bad_dur("1sx"); /* trailing garbage */
    bad_dur("1ss");
    bad_dur("1S");  /* units are case-sensitive */
    bad_dur("1us"); /* not a unit of the spec */
    bad_dur("1d");
    bad_dur(".5s"); /* a digit before the point */
    bad_dur("1.s"); /* and after it */
    bad_dur("1.5.5s");
    bad_dur("1e3s");
    bad_dur("0x10s");
    bad_dur("0.0000000001s");            /* below 1 ns */
    bad_dur("18446744073.709551616s");   /* overflow by 1 ns */
    bad_dur("5124096h");                 /* overflow */
    bad_dur("99999999999999999999999s"); /* digits overflow */
    bad_dur(NULL);
}

static uint64_t size(const char *s)
{
    uint64_t v = 12345;
    assert_true(hb__parse_size(s, &v));
    return v;
}

static void bad_size(const char *s)
{
    uint64_t v = 777;
    if (hb__parse_size(s, &v))
        fail_msg("size \"%s\" was accepted as %llu", s, (unsigned long long)v);
    assert_int_equal(v, 777);
}

static void test_size(void **state)
{
    (void)state;
    assert_int_equal(size("100B"), 100);
    assert_int_equal(size("0B"), 0);
    assert_int_equal(size("512KiB"), 512 * 1024);
    assert_int_equal(size("16MiB"), 16 * 1024 * 1024);
    assert_int_equal(size("2GiB"), UINT64_C(2) << 30);
    assert_int_equal(size("18446744073709551615B"), UINT64_MAX);
    bad_size("");
    bad_size("100");  /* unit required */
    bad_size("16MB"); /* only binary units */
    bad_size("16mib");
    bad_size("16 MiB");
    bad_size("-1B");
    bad_size("+1B");
    bad_size("1.5MiB"); /* an integer */
    bad_size("1MiBx");
    bad_size("18446744073709551616B");
    bad_size("17179869184GiB"); /* 2^34 GiB = 2^64 bytes: overflow */
    bad_size(NULL);
}

static void fmt_dur(uint64_t ns, const char *want)
{
    char buf[64];
    size_t n = hb__format_duration(ns, buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
    uint64_t back;
    assert_true(hb__parse_duration(buf, &back));
    assert_int_equal(back, ns);
}

static void test_format_duration(void **state)
{
    (void)state;
    fmt_dur(0, "0");
    fmt_dur(250 * MS, "250ms");
    fmt_dur(1500 * MS, "1.5s");
    fmt_dur(10 * SEC, "10s");
    fmt_dur(90 * SEC, "90s");
    fmt_dur(300 * SEC, "5m");
    fmt_dur(3600 * SEC, "1h");
    fmt_dur(5400 * SEC, "90m");
    fmt_dur(1, "0.000001ms");
    fmt_dur(1500, "0.0015ms");
    fmt_dur(SEC + 1, "1.000000001s");
    fmt_dur(UINT64_MAX, "18446744073.709551615s");
    /* Too small a buffer: truncated, length still reported (snprintf). */
    char small[4];
    assert_int_equal(hb__format_duration(250 * MS, small, sizeof small), 5);
    assert_string_equal(small, "250");
}

static void fmt_size(uint64_t b, const char *want)
{
    char buf[64];
    hb__format_size(b, buf, sizeof buf);
    assert_string_equal(buf, want);
    uint64_t back;
    assert_true(hb__parse_size(buf, &back));
    assert_int_equal(back, b);
}

static void test_format_size(void **state)
{
    (void)state;
    fmt_size(0, "0B");
    fmt_size(100, "100B");
    fmt_size(1024, "1KiB");
    fmt_size(1536, "1536B");
    fmt_size(512 * 1024, "512KiB");
    fmt_size(16 << 20, "16MiB");
    fmt_size(UINT64_C(2) << 30, "2GiB");
    fmt_size((UINT64_C(2) << 30) + 1024, "2097153KiB");
    fmt_size(UINT64_MAX, "18446744073709551615B");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_valid), cmocka_unit_test(test_duration_invalid),
        cmocka_unit_test(test_size),           cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_format_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
