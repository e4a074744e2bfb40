/*
 * test_backoff.c: the reconnect arithmetic of SPEC.md section 7 (pure).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "honeybee/session.h"

#define MS 1000000ull

static hb_reconnect_cfg s_cfg(double jitter, uint32_t max_retries)
{
    hb_reconnect_cfg c = {.initial_delay_ns = 100 * MS,
                          .max_delay_ns = 1000 * MS,
                          .multiplier = 2.0,
                          .jitter = jitter,
                          .max_retries = max_retries,
                          .stable_after_ns = 500 * MS};
    return c;
}

static void test_delay_no_jitter(void **state)
{
    hb_reconnect_cfg c = s_cfg(0, 0);
    assert_int_equal(hb_backoff_delay_ns(&c, 0, 0.5), 0);
    assert_int_equal(hb_backoff_delay_ns(&c, 1, 0.9), 100 * MS);
    assert_int_equal(hb_backoff_delay_ns(&c, 2, 0.1), 200 * MS);
    assert_int_equal(hb_backoff_delay_ns(&c, 3, 0.5), 400 * MS);
    assert_int_equal(hb_backoff_delay_ns(&c, 4, 0.5), 800 * MS);
    assert_int_equal(hb_backoff_delay_ns(&c, 5, 0.5), 1000 * MS);           /* capped */
    assert_int_equal(hb_backoff_delay_ns(&c, 4000000000u, 0.5), 1000 * MS); /* no overflow */
    c.multiplier = 1.0;
    assert_int_equal(hb_backoff_delay_ns(&c, 7, 0.5), 100 * MS);
    c.multiplier = 1.5;
    assert_int_equal(hb_backoff_delay_ns(&c, 3, 0.5), 225 * MS);
}

static void test_delay_jitter_bounds(void **state)
{
    hb_reconnect_cfg c = s_cfg(0.2, 0);
    assert_int_equal(hb_backoff_delay_ns(&c, 1, 0.0), 80 * MS);
    assert_int_equal(hb_backoff_delay_ns(&c, 1, 0.5), 100 * MS);
    assert_true(hb_backoff_delay_ns(&c, 1, 0.999999) <= 120 * MS);
    assert_true(hb_backoff_delay_ns(&c, 1, 0.999999) >= 119 * MS);
    /* The cap applies before jitter: above max_delay by at most jitter. */
    assert_int_equal(hb_backoff_delay_ns(&c, 10, 0.0), 800 * MS);
    assert_true(hb_backoff_delay_ns(&c, 10, 0.999999) <= 1200 * MS);
    c.jitter = 1.0;
    assert_int_equal(hb_backoff_delay_ns(&c, 1, 0.0), 0);
    for (double u = 0; u < 1; u += 0.01) {
        uint64_t d = hb_backoff_delay_ns(&c, 2, u);
        assert_true(d <= 400 * MS);
    }
}

static void test_max_retries(void **state)
{
    hb_reconnect_cfg c = s_cfg(0, 2);
    hb_backoff b;
    hb_backoff_init(&b, &c);
    assert_int_equal(hb_backoff_dial_started(&b), 1);
    assert_false(hb_backoff_dial_failed(&b));
    assert_int_equal(hb_backoff_next_delay(&b, 0.5), 100 * MS);
    assert_int_equal(hb_backoff_dial_started(&b), 2);
    assert_false(hb_backoff_dial_failed(&b));
    assert_int_equal(hb_backoff_next_delay(&b, 0.5), 200 * MS);
    assert_int_equal(hb_backoff_dial_started(&b), 3);
    assert_true(hb_backoff_dial_failed(&b)); /* 1 + 2 failed dials: give up */

    /* A successful dial resets the count; a short connection still backs off. */
    hb_backoff_init(&b, &c);
    hb_backoff_dial_started(&b);
    hb_backoff_dial_failed(&b);
    hb_backoff_dial_started(&b);
    hb_backoff_dial_failed(&b);
    assert_int_equal(hb_backoff_dial_started(&b), 3);
    hb_backoff_connected(&b);
    hb_backoff_closed(&b, 10 * MS); /* short: n = 3 */
    assert_int_equal(hb_backoff_next_delay(&b, 0.5), 400 * MS);
    assert_int_equal(hb_backoff_dial_started(&b), 1); /* attempt restarts */
    assert_false(hb_backoff_dial_failed(&b));
    hb_backoff_dial_started(&b);
    assert_true(hb_backoff_dial_failed(&b) == false);
    hb_backoff_dial_started(&b);
    assert_true(hb_backoff_dial_failed(&b));

    /* max_retries 0: never gives up. */
    c = s_cfg(0, 0);
    hb_backoff_init(&b, &c);
    for (int i = 0; i < 1000; i++) {
        hb_backoff_dial_started(&b);
        assert_false(hb_backoff_dial_failed(&b));
    }
}

static void test_stable_resets(void **state)
{
    hb_reconnect_cfg c = s_cfg(0, 0);
    hb_backoff b;
    hb_backoff_init(&b, &c);
    hb_backoff_dial_started(&b);
    hb_backoff_dial_failed(&b);
    hb_backoff_dial_started(&b);
    hb_backoff_connected(&b);
    hb_backoff_closed(&b, 100 * MS); /* short */
    assert_int_equal(b.n, 2);
    hb_backoff_dial_started(&b);
    hb_backoff_connected(&b);
    hb_backoff_closed(&b, 500 * MS); /* exactly stable_after: stable */
    assert_int_equal(b.n, 0);
    assert_int_equal(hb_backoff_next_delay(&b, 0.9), 0); /* at once */
}

static uint64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* multiplier 1.0 never reaches the cap: the delay must not cost n steps. */
static void test_delay_constant_time(void **state)
{
    hb_reconnect_cfg c = s_cfg(0, 0);
    c.multiplier = 1.0;
    uint64_t t0 = s_now_ns();
    for (int i = 0; i < 100; i++)
        assert_int_equal(hb_backoff_delay_ns(&c, 4000000000u, 0.5), 100 * MS);
    assert_true(s_now_ns() - t0 < 50 * MS); /* the old loop took seconds per call */
    c.multiplier = 1.0000001;
    assert_int_equal(hb_backoff_delay_ns(&c, UINT32_MAX, 0.5), 1000 * MS);
    /* n saturates rather than wrapping to 0 (= no delay). */
    hb_backoff b;
    hb_backoff_init(&b, &c);
    b.n = UINT32_MAX;
    hb_backoff_dial_failed(&b);
    assert_int_equal(b.n, UINT32_MAX);
    hb_backoff_closed(&b, 1);
    assert_int_equal(b.n, UINT32_MAX);
    assert_true(hb_backoff_next_delay(&b, 0.5) > 0);
}

/* stable_after 0: a connection that closes before initial_delay backs off;
 * one that lasted initial_delay is stable and redialled at once. */
static void test_stable_after_zero(void **state)
{
    hb_reconnect_cfg c = s_cfg(0, 0);
    c.stable_after_ns = 0;
    hb_backoff b;
    hb_backoff_init(&b, &c);
    for (int i = 1; i <= 3; i++) {
        hb_backoff_dial_started(&b);
        hb_backoff_connected(&b);
        hb_backoff_closed(&b, 1 * MS); /* accepted and closed at once */
        assert_int_equal(b.n, (uint32_t)i);
    }
    assert_int_equal(hb_backoff_next_delay(&b, 0.5), 400 * MS);
    hb_backoff_dial_started(&b);
    hb_backoff_connected(&b);
    hb_backoff_closed(&b, 100 * MS); /* up initial_delay: stable */
    assert_int_equal(b.n, 0);
    assert_int_equal(hb_backoff_next_delay(&b, 0.5), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_no_jitter),     cmocka_unit_test(test_delay_jitter_bounds),
        cmocka_unit_test(test_max_retries),         cmocka_unit_test(test_stable_resets),
        cmocka_unit_test(test_delay_constant_time), cmocka_unit_test(test_stable_after_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
