/*
 * test_bridge_handoff.c: the bridge's hand-offs without its thread or
 * sockets (white-box: bridge_int.h):
 *
 * - what the pool's sink does with messages and events: inbox messages are
 *   collected into a burst of at most HB__INBOX_BURST and handed on when it
 *   is full or when the pool's loop turn ends (the sink's flush); with no
 *   inbox socket they are counted and freed, never kept. The events sink
 *   drops and counts beyond its bound, and destroy frees what is left
 *   (ASan checks the leaks);
 * - the wake-up protocol of the events hand-off: one eventfd write per
 *   batch, none while the bridge thread is still draining (`awake`), and a
 *   write again once the drain found the list empty (no lost wake-up);
 *   inbox messages never wake the bridge thread;
 * - the `done` stack of zero-copy messages ZeroMQ handed back, freed in a
 *   batch at the end of the next loop turn or by destroy;
 * - the socket limits derived from max_message_size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/stubs.h"
#include "bridge/bridge_int.h"

static void test_bounds(void **state)
{
    hb_config *cfg = NULL;
    assert_int_equal(hb_config_defaults(&cfg), 0);
    cfg->bridge.events_queue = 2;
    hb__bridge *b = NULL;
    assert_int_equal(hb__bridge_new(cfg, NULL, &b), 0);
    hb_sink sink = hb__bridge_sink(b);
    assert_non_null(sink.flush);

    /* A burst is held until it is full: nothing handed on before. */
    hb__bridge_counters c;
    for (int i = 0; i < HB__INBOX_BURST - 1; i++) assert_true(sink.inbox(sink.ud, hbts_msg()));
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.inbox_after_close, 0);
    /* The last one fills it: handed on at once, and with no inbox socket
     * yet, every message is counted and freed. The sink never pauses. */
    assert_true(sink.inbox(sink.ud, hbts_msg()));
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.inbox_after_close, HB__INBOX_BURST);
    /* The end of a loop turn hands on a partial burst. */
    assert_true(sink.inbox(sink.ud, hbts_msg()));
    assert_true(sink.inbox(sink.ud, hbts_msg()));
    sink.flush(sink.ud);
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.inbox_after_close, HB__INBOX_BURST + 2);
    sink.flush(sink.ud); /* an empty burst: nothing */
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.inbox_after_close, HB__INBOX_BURST + 2);
    assert_int_equal(c.inbox_published, 0);

    /* One more in the burst: destroy frees it. */
    assert_true(sink.inbox(sink.ud, hbts_msg()));

    for (int i = 0; i < 3; i++)
        sink.event(sink.ud, hb_event_new(HB_EV_ADDED, "p", "ws://h/", NULL, NULL));
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.events_dropped, 1);

    hb__bridge_destroy(&b); /* frees the last message and the 2 events */
    assert_null(b);

    /* Flood kinds fill three quarters of the hand-off; lifecycle events
     * still get the rest. */
    cfg->bridge.events_queue = 8;
    assert_int_equal(hb__bridge_new(cfg, NULL, &b), 0);
    sink = hb__bridge_sink(b);
    for (int i = 0; i < 10; i++)
        sink.event(sink.ud, hb_event_new(i % 2 ? HB_EV_SEND_FAILED : HB_EV_DIAL_FAILED, "p",
                                         "ws://h/", NULL, NULL));
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.events_dropped, 4); /* 6 of 8 taken */
    for (int i = 0; i < 3; i++)
        sink.event(sink.ud, hb_event_new(HB_EV_DISCONNECTED, "p", "ws://h/", NULL, NULL));
    hb__bridge_counters_get(b, &c);
    assert_int_equal(c.events_dropped, 5); /* 2 more fit, the third does not */
    hb__bridge_destroy(&b);
    assert_null(b);
    hb_config_destroy(&cfg);
}

static hb_config *s_cfg(void)
{
    hb_config *cfg = NULL;
    assert_int_equal(hb_config_defaults(&cfg), 0);
    return cfg;
}

/* The eventfd's counter (reading resets it); 0 when nothing was written. */
static uint64_t s_wakes(hb__bridge *b)
{
    uint64_t v = 0;
    if (read(b->efd, &v, sizeof(v)) != (ssize_t)sizeof(v)) return 0;
    return v;
}

static void test_wakeups(void **state)
{
    hb_config *cfg = s_cfg();
    hb__bridge *b = NULL;
    assert_int_equal(hb__bridge_new(cfg, NULL, &b), 0);
    hb_sink sink = hb__bridge_sink(b);

    /* A batch of events: one eventfd write, whatever its size. Inbox
     * messages never wake the bridge thread (the loop thread publishes). */
    for (int i = 0; i < 100; i++) assert_true(sink.inbox(sink.ud, hbts_msg()));
    sink.flush(sink.ud);
    assert_int_equal(s_wakes(b), 0);
    for (int i = 0; i < 3; i++)
        sink.event(sink.ud, hb_event_new(HB_EV_ADDED, "p", "ws://h/", NULL, NULL));
    assert_int_equal(s_wakes(b), 1);

    /* The bridge thread takes the list and is still publishing: appends
     * meanwhile do not write the eventfd (it re-checks before sleeping). */
    pthread_mutex_lock(&b->mu);
    hb_event *taken = b->ev_head;
    b->ev_head = b->ev_tail = NULL;
    b->ev_n = 0;
    pthread_mutex_unlock(&b->mu);
    sink.event(sink.ud, hb_event_new(HB_EV_ADDED, "p", "ws://h/", NULL, NULL));
    assert_int_equal(s_wakes(b), 0);
    while (taken) {
        hb_event *next = taken->next;
        hb_event_free(taken);
        taken = next;
    }

    /* The drain (no sockets here: publishing fails) takes what came
     * meanwhile, finds the list empty and clears `awake`... */
    bool removed = false;
    assert_false(hb__events_drain(b, &removed));
    assert_false(b->awake);
    assert_null(b->ev_head);
    /* ...so the next append wakes it again: no lost wake-up. */
    sink.event(sink.ud, hb_event_new(HB_EV_ADDED, "p", "ws://h/", NULL, NULL));
    assert_int_equal(s_wakes(b), 1);
    sink.event(sink.ud, hb_event_new(HB_EV_ADDED, "p", "ws://h/", NULL, NULL));
    assert_int_equal(s_wakes(b), 0); /* same batch */

    hb__bridge_destroy(&b);
    hb_config_destroy(&cfg);
}

/* Zero-copy payloads ZeroMQ hands back are not freed on its thread: they
 * wait on `done` (newest first) until the end of the loop thread's next
 * turn frees them all (ASan: nothing leaks, nothing
 * is freed twice). */
static void test_done_stack(void **state)
{
    hb_config *cfg = s_cfg();
    hb__bridge *b = NULL;
    assert_int_equal(hb__bridge_new(cfg, NULL, &b), 0);
    hb_inbox_msg *m[3];
    for (int i = 0; i < 3; i++) {
        m[i] = hbts_msg();
        m[i]->next = (hb_inbox_msg *)(void *)&b->lanes[0]; /* as the publisher leaves it */
        hb__inbox_zmq_free(m[i]->data, m[i]);
    }
    hb_inbox_msg *top = atomic_load(&b->lanes[0].done);
    assert_ptr_equal(top, m[2]);
    assert_ptr_equal(top->next, m[1]);
    assert_ptr_equal(top->next->next, m[0]);
    assert_null(m[0]->next);
    /* Collecting a message does not reclaim; the end of the turn does, and
     * so does the end of a turn with no messages (the loop's tick). */
    hb_sink sink = hb__bridge_sink(b);
    assert_true(sink.inbox(sink.ud, hbts_msg()));
    assert_non_null(atomic_load(&b->lanes[0].done));
    sink.flush(sink.ud);
    assert_null(atomic_load(&b->lanes[0].done));
    hb_inbox_msg *again = hbts_msg();
    again->next = (hb_inbox_msg *)(void *)&b->lanes[0];
    hb__inbox_zmq_free(again->data, again);
    sink.flush(sink.ud); /* an empty turn */
    assert_null(atomic_load(&b->lanes[0].done));
    /* And destroy reclaims what is left. */
    hb_inbox_msg *last = hbts_msg();
    last->next = (hb_inbox_msg *)(void *)&b->lanes[0];
    hb__inbox_zmq_free(last->data, last);
    hb__bridge_destroy(&b);
    hb_config_destroy(&cfg);
}

static void test_limits(void **state)
{
    /* A control `send` of a max-size message of control bytes is 6 times
     * its size as JSON ("\u0001"); base64 would need only 4/3. */
    assert_true(hb__bridge_control_maxmsg(16u << 20) >= 6 * (int64_t)(16u << 20) + 1024);
    assert_true(hb__bridge_control_maxmsg(2048ull << 20) > 6 * (int64_t)(2048ull << 20));
    assert_int_equal(hb__bridge_send_rcvhwm(16u << 20), 16);
    assert_int_equal(hb__bridge_send_rcvhwm(2048ull << 20), 16);
    assert_int_equal(hb__bridge_send_rcvhwm(1u << 20), 256);
    assert_int_equal(hb__bridge_send_rcvhwm(1024), 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_wakeups),
        cmocka_unit_test(test_done_stack),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
