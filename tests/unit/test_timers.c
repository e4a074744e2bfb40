/*
 * test_timers.c: the loop's timer heap (src/transport/timers.c) on a real
 * lws context: timers fire once each, in deadline order, cancelled ones
 * never, and callbacks may arm and cancel timers (their own included).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/clock.h"
#include "transport/timers.h"

#define N 2000

static hb__theap s_heap;
static hb__timer s_t[N];
static int s_fired[N];
static uint64_t s_last_due;
static int s_order_violations;
static int s_total;

static void s_cb(void *ud)
{
    hb__timer *t = ud;
    int i = (int)(t - s_t);
    s_fired[i]++;
    s_total++;
    if (t->due_ns < s_last_due) s_order_violations++;
    s_last_due = t->due_ns;
    /* Every 7th timer cancels the next one; every 11th re-arms itself once. */
    if (i % 7 == 0 && i + 1 < N) hb__theap_cancel(&s_heap, &s_t[i + 1]);
    if (i % 11 == 0 && s_fired[i] == 1) hb__theap_arm(&s_heap, t, 1000000);
}

static struct lws_context *s_ctx(void)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    lws_set_log_level(0, NULL);
    return lws_create_context(&info);
}

static void test_order_cancel_rearm(void **state)
{
    (void)state;
    struct lws_context *ctx = s_ctx();
    assert_non_null(ctx);
    hb__theap_init(&s_heap, ctx);
    srand(42);
    for (int i = 0; i < N; i++) {
        s_t[i].fn = s_cb;
        s_t[i].ud = &s_t[i];
        hb__theap_arm(&s_heap, &s_t[i], (uint64_t)(rand() % 40) * 1000000u);
    }
    /* Re-arming an armed timer moves it, it does not duplicate it. */
    hb__theap_arm(&s_heap, &s_t[5], 1000000);
    /* A cancelled timer never fires. */
    hb__theap_cancel(&s_heap, &s_t[3]);
    uint64_t end = hb__mono_ns() + 5000000000ull;
    /* -1: do not wait in poll. With 0, lws would sleep its default 30 s
     * once the last timer fired, as nothing else is scheduled here. */
    while (s_heap.n && hb__mono_ns() < end) lws_service(ctx, -1);
    assert_int_equal(s_heap.n, 0);

    int sum = 0;
    for (int i = 0; i < N; i++) {
        int want = i % 11 == 0 ? 2 : 1;
        sum += s_fired[i];
        if (i == 3) {
            assert_int_equal(s_fired[i], 0);
        } else if (i > 0 && (i - 1) % 7 == 0) {
            /* May have been cancelled by its predecessor before it fired. */
            assert_true(s_fired[i] <= want);
        } else {
            assert_int_equal(s_fired[i], want);
        }
    }
    assert_int_equal(s_total, sum);
    /* Order holds within the first pass; re-armed timers restart the clock. */
    assert_true(s_order_violations <= N / 11 + 1);
    hb__theap_fini(&s_heap);
    lws_context_destroy(ctx);
}

static int s_hits;
static void s_count(void *ud)
{
    (void)ud;
    s_hits++;
}

static void test_overflow_poll(void **state)
{
    (void)state;
    /* The overflow list (used when the heap cannot grow) fires from poll. */
    hb__theap h;
    hb__theap_init(&h, NULL);
    hb__timer a = {.fn = s_count}, b = {.fn = s_count};
    a.armed = b.armed = true;
    a.in_overflow = b.in_overflow = true;
    a.due_ns = 0;
    b.due_ns = UINT64_MAX - 1;
    a.next = &b;
    h.overflow = &a;
    hb__theap_poll(&h);
    assert_int_equal(s_hits, 1);
    assert_false(a.armed);
    assert_ptr_equal(h.overflow, &b);
    hb__theap_cancel(&h, &b);
    assert_null(h.overflow);
    hb__theap_poll(&h);
    assert_int_equal(s_hits, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_cancel_rearm),
        cmocka_unit_test(test_overflow_poll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
