/*
 * test_bridge_handoff.c: what the pool's sink does with messages and events
 * before any thread or socket exists: inbox messages are collected into a
 * burst of at most HB_INBOX_BURST and handed on when it is full or when the
 * pool's loop turn ends (the sink's flush); with no inbox socket they are
 * counted and freed, never kept. The events sink drops and counts beyond
 * its bound, and destroy frees what is left (ASan checks the leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/stubs.h"
#include "bridge/bridge.h"

static void test_bounds(void **state)
{
    hb_config *cfg = NULL;
    assert_int_equal(hb_config_defaults(&cfg), 0);
    cfg->bridge.events_queue = 2;
    hb_bridge *b = NULL;
    assert_int_equal(hb__bridge_new(cfg, NULL, &b), 0);
    hb_sink sink = hb__bridge_sink(b);
    assert_non_null(sink.flush);

    /* A burst is held until it is full: nothing handed on before. */
    hb_bridge_counters c;
    for (int i = 0; i < HB_INBOX_BURST - 1; i++) assert_true(sink.inbox(sink.ud, hbts_msg()));
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.inbox_after_close, 0);
    /* The last one fills it: handed on at once, and with no inbox socket
     * yet, every message is counted and freed. The sink never pauses. */
    assert_true(sink.inbox(sink.ud, hbts_msg()));
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.inbox_after_close, HB_INBOX_BURST);
    /* The end of a loop turn hands on a partial burst. */
    assert_true(sink.inbox(sink.ud, hbts_msg()));
    assert_true(sink.inbox(sink.ud, hbts_msg()));
    sink.flush(sink.ud);
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.inbox_after_close, HB_INBOX_BURST + 2);
    sink.flush(sink.ud); /* an empty burst: nothing */
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.inbox_after_close, HB_INBOX_BURST + 2);
    assert_int_equal(c.inbox_published, 0);

    /* One more in the burst: destroy frees it. */
    assert_true(sink.inbox(sink.ud, hbts_msg()));

    for (int i = 0; i < 3; i++)
        sink.event(sink.ud, hb_event_new(HB_EV_ADDED, "p", "ws://h/", NULL, NULL));
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.events_dropped, 1);

    hb__bridge_destroy(&b); /* frees the last message and the 2 events */
    assert_null(b);
    hb_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
