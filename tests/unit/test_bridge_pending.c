/*
 * test_bridge_pending.c: white-box tests of src/bridge/bridge.c without its
 * thread or sockets (bridge.c is compiled in to reach its statics):
 *
 * - reload reconnects: one pending entry per id, the newest replaces an
 *   older one, a cancel leaves a tombstone that s_check_pending drops, and
 *   the entry that is connected carries the newest configuration, and one
 *   whose connect fails is reported to the main thread;
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

#include <cmocka.h>

#include "../support/stubs.h"
#include "bridge/bridge.c"

static hb_config *s_cfg(void)
{
    hb_config *cfg = NULL;
    assert_int_equal(hb_config_defaults(&cfg), 0);
    return cfg;
}

static size_t s_pending_count(hb_bridge *b, const char *id, const char **url, bool *tomb)
{
    size_t n = 0;
    for (s_pending *p = b->pending; p; p = p->next)
        if (!strcmp(p->peer.id, id)) {
            n++;
            if (url) *url = p->peer.url;
            if (tomb) *tomb = p->cancelled;
        }
    return n;
}

static void s_peer(hb_peer_cfg *p, const hb_config *cfg, const char *id, const char *url)
{
    memset(p, 0, sizeof(*p));
    char *errors = NULL;
    assert_int_equal(hb_peer_cfg_from_json(&cfg->pool, id, url, NULL, p, &errors), 0);
    free(errors);
}

/* The eventfd's counter (reading resets it); 0 when nothing was written. */
static uint64_t s_wakes(hb_bridge *b)
{
    uint64_t v = 0;
    if (read(b->efd, &v, sizeof(v)) != (ssize_t)sizeof(v)) return 0;
    return v;
}

static void test_pending_newest_wins(void **state)
{
    hb_config *cfg = s_cfg();
    hb_bridge *b = NULL;
    assert_int_equal(hb__bridge_new(cfg, NULL, &b), 0);
    hb_peer_cfg v2, v3, other;
    s_peer(&v2, cfg, "a", "ws://127.0.0.1:2/");
    s_peer(&v3, cfg, "a", "ws://127.0.0.1:3/");
    s_peer(&other, cfg, "b", "ws://127.0.0.1:4/");

    hb__bridge_connect_after_removed(b, &v2);
    hb__bridge_connect_after_removed(b, &other);
    hb__bridge_connect_after_removed(b, &v3); /* a second reload changed a again */
    const char *url = NULL;
    bool tomb = true;
    assert_int_equal(s_pending_count(b, "a", &url, &tomb), 1);
    assert_string_equal(url, "ws://127.0.0.1:3/");
    assert_false(tomb);
    assert_int_equal(s_pending_count(b, "b", NULL, NULL), 1);

    /* A reload that removes `a` cancels its reconnect. */
    hb__bridge_cancel_pending(b, "a");
    assert_int_equal(s_pending_count(b, "a", NULL, &tomb), 1);
    assert_true(tomb);
    assert_int_equal(s_pending_count(b, "b", NULL, NULL), 1);

    /* With a real pool: the tombstone goes, `b` (not in the pool) connects. */
    hb_pool_config pc;
    memset(&pc, 0, sizeof(pc));
    pc.sink = hb__bridge_sink(b);
    hb_pool *pool = NULL;
    assert_int_equal(hb_pool_new(&pc, &pool), 0);
    b->pool = pool;
    s_check_pending(b);
    assert_null(b->pending);
    hb_peer_info info;
    memset(&info, 0, sizeof(info));
    assert_int_equal(hb_pool_peer_info(pool, "a", &info), HB_E_UNKNOWN_PEER);
    assert_int_equal(hb_pool_peer_info(pool, "b", &info), 0);
    free(info.url);

    /* A changed peer that is still in the pool waits; the newest entry is
     * the one connected once the old one is gone. */
    hb_peer_cfg b2, b3;
    s_peer(&b2, cfg, "b", "ws://127.0.0.1:5/");
    s_peer(&b3, cfg, "b", "ws://127.0.0.1:6/");
    hb__bridge_connect_after_removed(b, &b2);
    s_check_pending(b);
    assert_int_equal(s_pending_count(b, "b", &url, NULL), 1);
    hb__bridge_connect_after_removed(b, &b3);
    assert_int_equal(s_pending_count(b, "b", &url, NULL), 1);
    assert_string_equal(url, "ws://127.0.0.1:6/");
    assert_int_equal(hb_pool_remove(pool, "b"), 0);
    for (int i = 0; i < 500 && b->pending; i++) { /* until b's removed is out */
        usleep(10000);
        s_check_pending(b);
    }
    assert_null(b->pending);
    memset(&info, 0, sizeof(info));
    assert_int_equal(hb_pool_peer_info(pool, "b", &info), 0);
    assert_string_equal(info.url, "ws://127.0.0.1:6/");
    free(info.url);

    hb_pool_destroy(&pool);
    b->pool = NULL;
    hb__bridge_destroy(&b);
    hb_peer_cfg_free(&v2);
    hb_peer_cfg_free(&v3);
    hb_peer_cfg_free(&other);
    hb_peer_cfg_free(&b2);
    hb_peer_cfg_free(&b3);
    hb_config_destroy(&cfg);
}

static void s_collect(void *ud, const char *id)
{
    char *log = ud;
    strcat(log, id);
    strcat(log, " ");
}

/* A pending reconnect whose connect fails (here: the pool's max_peers, the
 * same HB_E_FD_LIMIT as near the open-file limit) is handed to the main
 * thread, which drops it from its file peers so a later reload retries. */
static void test_pending_failure_reported(void **state)
{
    hb_config *cfg = s_cfg();
    hb_bridge *b = NULL;
    assert_int_equal(hb__bridge_new(cfg, NULL, &b), 0);
    hb_pool_config pc;
    memset(&pc, 0, sizeof(pc));
    pc.sink = hb__bridge_sink(b);
    pc.max_peers = 1;
    hb_pool *pool = NULL;
    assert_int_equal(hb_pool_new(&pc, &pool), 0);
    b->pool = pool;
    hb_peer_cfg x, y;
    s_peer(&x, cfg, "x", "ws://127.0.0.1:1/");
    s_peer(&y, cfg, "y", "ws://127.0.0.1:1/");
    assert_int_equal(hb_pool_connect(pool, &x), 0);
    hb__bridge_connect_after_removed(b, &y);
    s_check_pending(b);
    assert_null(b->pending);
    char log[64] = "";
    assert_int_equal(hb__bridge_take_failed(b, s_collect, log), 1);
    assert_string_equal(log, "y ");
    assert_int_equal(hb__bridge_take_failed(b, s_collect, log), 0); /* taken once */
    hb_pool_destroy(&pool);
    b->pool = NULL;
    hb__bridge_destroy(&b);
    hb_peer_cfg_free(&x);
    hb_peer_cfg_free(&y);
    hb_config_destroy(&cfg);
}

static void test_wakeups(void **state)
{
    hb_config *cfg = s_cfg();
    hb_bridge *b = NULL;
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
    assert_false(s_drain(b, &removed));
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
    hb_bridge *b = NULL;
    assert_int_equal(hb__bridge_new(cfg, NULL, &b), 0);
    hb_inbox_msg *m[3];
    for (int i = 0; i < 3; i++) {
        m[i] = hbts_msg();
        m[i]->next = (hb_inbox_msg *)(void *)b; /* as s_publish_inbox leaves it */
        s_free_msg(m[i]->data, m[i]);
    }
    hb_inbox_msg *top = atomic_load(&b->done);
    assert_ptr_equal(top, m[2]);
    assert_ptr_equal(top->next, m[1]);
    assert_ptr_equal(top->next->next, m[0]);
    assert_null(m[0]->next);
    /* Collecting a message does not reclaim; the end of the turn does, and
     * so does the end of a turn with no messages (the loop's tick). */
    hb_sink sink = hb__bridge_sink(b);
    assert_true(sink.inbox(sink.ud, hbts_msg()));
    assert_non_null(atomic_load(&b->done));
    sink.flush(sink.ud);
    assert_null(atomic_load(&b->done));
    hb_inbox_msg *again = hbts_msg();
    again->next = (hb_inbox_msg *)(void *)b;
    s_free_msg(again->data, again);
    sink.flush(sink.ud); /* an empty turn */
    assert_null(atomic_load(&b->done));
    /* And destroy reclaims what is left. */
    hb_inbox_msg *last = hbts_msg();
    last->next = (hb_inbox_msg *)(void *)b;
    s_free_msg(last->data, last);
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
        cmocka_unit_test(test_pending_newest_wins),
        cmocka_unit_test(test_pending_failure_reported),
        cmocka_unit_test(test_wakeups),
        cmocka_unit_test(test_done_stack),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
