/*
 * test_core_lograte.c: the log-line token bucket (src/core/lograte.c): the
 * burst, one line per interval after it, the count of lines held back and
 * its reset, the periodic flush (which takes a token only when something
 * was held back and counts nothing itself), and a full bucket's clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/lograte.h"

#define T0    UINT64_C(1000000000)
#define EVERY HB__LOGRATE_EVERY_NS

static void test_burst_then_interval(void **state)
{
    (void)state;
    hb__lograte r = {0};
    for (unsigned i = 0; i < HB__LOGRATE_BURST; i++) assert_true(hb__lograte_take(&r, T0));
    for (int i = 0; i < 100; i++) assert_false(hb__lograte_take(&r, T0 + 1));
    assert_false(hb__lograte_take(&r, T0 + EVERY - 1));
    assert_true(hb__lograte_take(&r, T0 + EVERY)); /* one token per interval */
    assert_false(hb__lograte_take(&r, T0 + EVERY));
    assert_int_equal(hb__lograte_dropped(&r), 102);
    assert_int_equal(hb__lograte_dropped(&r), 0); /* read once */
    /* Three intervals later: three lines. */
    for (int i = 0; i < 3; i++) assert_true(hb__lograte_take(&r, T0 + 4 * EVERY));
    assert_false(hb__lograte_take(&r, T0 + 4 * EVERY));
}

static void test_flush(void **state)
{
    (void)state;
    hb__lograte r = {0};
    assert_false(hb__lograte_flush_due(&r, T0)); /* nothing held back */
    for (unsigned i = 0; i < HB__LOGRATE_BURST; i++) assert_true(hb__lograte_take(&r, T0));
    assert_false(hb__lograte_flush_due(&r, T0)); /* nothing held back */
    assert_false(hb__lograte_take(&r, T0));
    assert_false(hb__lograte_take(&r, T0));
    assert_false(hb__lograte_flush_due(&r, T0 + EVERY / 2)); /* no token yet */
    assert_int_equal(r.dropped, 2);                          /* the flush counted nothing */
    assert_true(hb__lograte_flush_due(&r, T0 + EVERY));
    assert_int_equal(hb__lograte_dropped(&r), 2);
    assert_false(hb__lograte_flush_due(&r, T0 + EVERY)); /* said once */
    assert_false(hb__lograte_take(&r, T0 + EVERY));      /* the flush took the token */
}

static void test_full_bucket_restarts_its_clock(void **state)
{
    (void)state;
    hb__lograte r = {0};
    assert_true(hb__lograte_take(&r, T0));
    /* Long quiet: the bucket is full again, and stays at the burst. */
    uint64_t later = T0 + 1000 * EVERY;
    for (unsigned i = 0; i < HB__LOGRATE_BURST; i++) assert_true(hb__lograte_take(&r, later));
    assert_false(hb__lograte_take(&r, later));
    assert_true(hb__lograte_take(&r, later + EVERY));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_interval),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_full_bucket_restarts_its_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
