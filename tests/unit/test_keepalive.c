/*
 * test_keepalive.c: keepalive deadlines (pure): pings only when idle,
 * timeout reset by any frame, stall reset only by data, app_ping on a fixed
 * cadence, and `next` always pointing at the next thing that can be due.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "honeybee/session.h"

#define MS 1000000ull
#define T0 (1000 * MS)

static hb_keepalive s_ka(uint64_t ping, uint64_t timeout, uint64_t stall, const char *app)
{
    hb_keepalive_cfg c = {.ping_interval_ns = ping * MS,
                          .timeout_ns = timeout * MS,
                          .stall_timeout_ns = stall * MS,
                          .app_ping = (char *)app};
    hb_keepalive k;
    hb_keepalive_start(&k, &c, T0);
    return k;
}

static void test_disabled(void **state)
{
    hb_keepalive k = s_ka(0, 0, 0, "x");
    uint64_t next = 0;
    assert_int_equal(hb_keepalive_check(&k, T0 + 1000000 * MS, &next), 0);
    assert_int_equal(next, UINT64_MAX);
}

static void test_ping_when_idle(void **state)
{
    hb_keepalive k = s_ka(100, 0, 0, NULL);
    uint64_t next;
    assert_int_equal(hb_keepalive_check(&k, T0 + 50 * MS, &next), 0);
    assert_int_equal(next, T0 + 100 * MS);
    /* a frame at +80 pushes the ping to +180 */
    hb_keepalive_frame(&k, T0 + 80 * MS);
    assert_int_equal(hb_keepalive_check(&k, T0 + 100 * MS, &next), 0);
    assert_int_equal(next, T0 + 180 * MS);
    assert_int_equal(hb_keepalive_check(&k, T0 + 180 * MS, &next), HB_KA_PING);
    assert_int_equal(next, T0 + 280 * MS);
    /* no second ping before another interval */
    assert_int_equal(hb_keepalive_check(&k, T0 + 200 * MS, &next), 0);
    assert_int_equal(hb_keepalive_check(&k, T0 + 280 * MS, &next), HB_KA_PING);
}

static void test_timeout_reset_by_frames(void **state)
{
    hb_keepalive k = s_ka(0, 300, 0, NULL);
    uint64_t next;
    assert_int_equal(hb_keepalive_check(&k, T0 + 299 * MS, &next), 0);
    assert_int_equal(next, T0 + 300 * MS);
    hb_keepalive_frame(&k, T0 + 299 * MS); /* a pong */
    assert_int_equal(hb_keepalive_check(&k, T0 + 300 * MS, &next), 0);
    assert_int_equal(next, T0 + 599 * MS);
    assert_int_equal(hb_keepalive_check(&k, T0 + 599 * MS, &next), HB_KA_TIMEOUT);
}

static void test_stall_only_data(void **state)
{
    hb_keepalive k = s_ka(0, 300, 500, NULL);
    uint64_t next;
    for (int t = 100; t <= 500; t += 100) hb_keepalive_frame(&k, T0 + (uint64_t)t * MS);
    assert_int_equal(hb_keepalive_check(&k, T0 + 500 * MS, &next), HB_KA_STALL);
    hb_keepalive_data(&k, T0 + 500 * MS);
    assert_int_equal(hb_keepalive_check(&k, T0 + 700 * MS, &next), 0);
    assert_int_equal(next, T0 + 800 * MS); /* timeout first */
    hb_keepalive_frame(&k, T0 + 750 * MS);
    assert_int_equal(hb_keepalive_check(&k, T0 + 760 * MS, &next), 0);
    assert_int_equal(next, T0 + 1000 * MS); /* now the stall deadline */
}

static void test_app_ping_cadence(void **state)
{
    hb_keepalive k = s_ka(100, 0, 0, "ping");
    uint64_t next;
    /* data keeps arriving: no WebSocket ping, but app_ping regardless */
    for (int t = 10; t < 100; t += 10) hb_keepalive_data(&k, T0 + (uint64_t)t * MS);
    assert_int_equal(hb_keepalive_check(&k, T0 + 100 * MS, &next), HB_KA_APP_PING);
    assert_int_equal(next, T0 + 190 * MS); /* the WebSocket ping deadline */
    hb_keepalive_data(&k, T0 + 190 * MS);
    assert_int_equal(hb_keepalive_check(&k, T0 + 200 * MS, &next), HB_KA_APP_PING);
    /* late timer: does not fire a burst */
    unsigned d = hb_keepalive_check(&k, T0 + 650 * MS, &next);
    assert_true(d & HB_KA_APP_PING);
    assert_int_equal(hb_keepalive_check(&k, T0 + 651 * MS, &next) & HB_KA_APP_PING, 0);
    assert_int_equal(next, T0 + 750 * MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_ping_when_idle),
        cmocka_unit_test(test_timeout_reset_by_frames),
        cmocka_unit_test(test_stall_only_data),
        cmocka_unit_test(test_app_ping_cadence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
