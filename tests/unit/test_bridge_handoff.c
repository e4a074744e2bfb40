/*
 * test_bridge_handoff.c: the bounded hand-off from the pool's sink to the
 * bridge thread, without a thread or sockets: the inbox sink answers false
 * at its bound (the pool then pauses reading) and never drops, the events
 * sink drops and counts beyond its bound, and destroy frees what is left
 * (ASan checks the leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridge/bridge.h"

static hb_inbox_msg *s_msg(void)
{
    /* One allocation, as the pool makes them (hb_inbox_msg_free is free). */
    hb_inbox_msg *m = calloc(1, sizeof(*m) + 8);
    assert_non_null(m);
    m->peer_id = "p";
    m->peer_id_len = 1;
    m->data = (unsigned char *)(m + 1);
    m->len = 3;
    memcpy(m->data, "abc", 3);
    return m;
}

static void test_bounds(void **state)
{
    hb_config *cfg = NULL;
    assert_int_equal(hb_config_defaults(&cfg), 0);
    cfg->bridge.inbox_queue = 4;
    cfg->bridge.events_queue = 2;
    hb_bridge *b = NULL;
    assert_int_equal(hb__bridge_new(cfg, NULL, &b), 0);
    hb_sink sink = hb__bridge_sink(b);

    assert_true(sink.inbox(sink.ud, s_msg()));
    assert_true(sink.inbox(sink.ud, s_msg()));
    assert_true(sink.inbox(sink.ud, s_msg()));
    assert_false(sink.inbox(sink.ud, s_msg())); /* at the bound: pause */
    assert_false(sink.inbox(sink.ud, s_msg())); /* still taken, never dropped */
    hb_bridge_counters c;
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.inbox_pauses, 1); /* one pause, not one per message */

    for (int i = 0; i < 3; i++)
        sink.event(sink.ud, hb_event_new(HB_EV_ADDED, "p", "ws://h/", NULL, NULL));
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.events_dropped, 1);
    assert_int_equal(c.inbox_published, 0);

    hb__bridge_destroy(&b); /* frees the 5 messages and 2 events */
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
