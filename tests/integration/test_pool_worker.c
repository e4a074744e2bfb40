/*
 * test_pool_worker.c: the worker contract, proven with a custom worker that
 * has no network at all: a loopback worker that "connects" at once and
 * echoes every message it is sent back into the inbox (after a loop timer,
 * to use the timer API). It is the worked example of EXTEND.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbt.h"
#include "honeybee/pool.h"
#include "honeybee/worker.h"

/* ---- the loopback worker -------------------------------------------------- */

typedef struct lb_msg {
    struct lb_msg *next;
    size_t len;
    bool binary;
    unsigned char data[];
} lb_msg;

typedef struct loopback {
    hb_worker base;
    hb_plugin *p;
    hb_timer *echo_t;   /* loop thread */
    pthread_mutex_t mu; /* protects the fields below */
    lb_msg *head, *tail;
    uint32_t depth;
    bool connected;
    _Atomic int state; /* hb_peer_state, for stats */
} loopback;

static void lb_echo(void *ud) /* loop thread: deliver what was sent */
{
    loopback *w = ud;
    pthread_mutex_lock(&w->mu);
    lb_msg *m = w->head;
    w->head = w->tail = NULL;
    w->depth = 0;
    pthread_mutex_unlock(&w->mu);
    while (m) {
        lb_msg *nx = m->next;
        hb_plugin_count_sent(w->p, m->len);
        hb_inbox_msg *im = hb_plugin_msg_new(w->p, m->len);
        if (im) {
            memcpy(im->data, m->data, m->len);
            im->len = m->len;
            hb_plugin_deliver(w->p, im, m->binary);
        }
        free(m);
        m = nx;
    }
}

static void lb_start(hb_worker *wk) /* loop thread */
{
    loopback *w = (loopback *)wk;
    pthread_mutex_lock(&w->mu);
    w->connected = true;
    pthread_mutex_unlock(&w->mu);
    w->state = HB_STATE_CONNECTED;
    hb_plugin_connected(w->p, 1);
}

static void lb_stop(hb_worker *wk, hb_stop_reason why, uint64_t drain_deadline)
{
    loopback *w = (loopback *)wk;
    hb_timer_cancel(w->echo_t);
    pthread_mutex_lock(&w->mu);
    bool was = w->connected;
    w->connected = false;
    pthread_mutex_unlock(&w->mu);
    w->state = HB_STATE_CLOSED;
    if (why == HB_STOP_DESTROY || !was) return;
    const char *word = why == HB_STOP_REMOVED ? "removed" : "shutdown";
    hb_plugin_disconnected(w->p, why == HB_STOP_REMOVED ? 1000 : 1001, word, NULL);
    hb_plugin_finished(w->p, word);
}

static int lb_send(hb_worker *wk, const void *data, size_t len, bool binary) /* any thread */
{
    loopback *w = (loopback *)wk;
    lb_msg *m = malloc(sizeof(*m) + len);
    if (!m) return HB_E_NOMEM;
    m->next = NULL;
    m->len = len;
    m->binary = binary;
    memcpy(m->data, data, len);
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    if (!w->connected)
        rc = HB_E_NOT_CONNECTED;
    else if (w->depth >= hb_plugin_config(w->p)->opts.send_queue)
        rc = HB_E_QUEUE_FULL;
    else {
        if (w->tail)
            w->tail->next = m;
        else
            w->head = m;
        w->tail = m;
        w->depth++;
    }
    pthread_mutex_unlock(&w->mu);
    if (rc) {
        free(m);
        return rc;
    }
    hb_plugin_kick(w->p);
    return 0;
}

static void lb_kick(hb_worker *wk) /* loop thread */
{
    loopback *w = (loopback *)wk;
    if (!hb_timer_armed(w->echo_t)) hb_timer_arm(w->echo_t, 1000000); /* 1 ms */
}

static void lb_stats(hb_worker *wk, hb_worker_stats *out)
{
    loopback *w = (loopback *)wk;
    out->state = (hb_peer_state)w->state;
    out->connected_at_ns = 0;
    out->attempt = 0;
    out->send_queue_depth = 0;
}

static void lb_destroy(hb_worker *wk)
{
    loopback *w = (loopback *)wk;
    hb_timer_free(&w->echo_t);
    while (w->head) {
        lb_msg *nx = w->head->next;
        free(w->head);
        w->head = nx;
    }
    pthread_mutex_destroy(&w->mu);
    free(w);
}

static const hb_worker_ops lb_ops = {
    .start = lb_start,
    .stop = lb_stop,
    .send = lb_send,
    .stats = lb_stats,
    .kick = lb_kick,
    .resume = NULL, /* never pauses: it ignores deliver's answer */
    .destroy = lb_destroy,
};

static int s_factory_calls;
static hb_plugin *s_last_plugin;

/* Called under the pool's lock: no blocking, no pool calls. */
static int lb_factory(void *ud, hb_plugin *p, hb_worker **out)
{
    s_factory_calls++;
    if (strcmp(hb_plugin_id(p), "refuse") == 0) return HB_E_INVALID_OPTION;
    loopback *w = calloc(1, sizeof(*w));
    if (!w) return HB_E_NOMEM;
    w->base.ops = &lb_ops;
    w->p = p;
    w->echo_t = hb_timer_new(p, lb_echo, w);
    pthread_mutex_init(&w->mu, NULL);
    w->state = HB_STATE_CONNECTING;
    s_last_plugin = p;
    *out = &w->base;
    return 0;
}

static const hb_worker_factory lb_factory_s = {lb_factory, NULL};

/* ---- the tests ------------------------------------------------------------- */

static void s_peer(hb_peer_cfg *p, const char *id)
{
    hbt_peer(p, id, "ws://loopback.invalid/");
}

static _Atomic int s_posted;
static void s_post_fn(hb_plugin *p, void *arg, bool cancelled)
{
    if (!cancelled && p == arg) s_posted++;
}

static void test_loopback_worker(void **state)
{
    hb_pool_config pc = {.factory = &lb_factory_s};
    hbt_fx *f = hbt_fx_new(&(hbt_fx_opts){.no_server = true, .pc = &pc});
    assert_non_null(f);
    hb_peer_cfg p;
    s_peer(&p, "lb");
    p.opts.send_queue = 4;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    s_peer(&p, "refuse");
    assert_int_equal(hb_pool_connect(f->pool, &p), HB_E_INVALID_OPTION);
    hb_peer_cfg_free(&p);
    assert_int_equal(s_factory_calls, 2);
    hb_event *c = hbt_wait_event(&f->sink, HB_EV_CONNECTED, "lb", 1, 5000);
    assert_non_null(c);
    assert_int_equal(c->conn, 1);

    assert_int_equal(hb_pool_send(f->pool, "lb", "hello", 5, HB_MSG_AUTO), 0);
    assert_int_equal(hb_pool_send(f->pool, "lb", "\x01", 1, HB_MSG_BINARY), 0);
    hb_inbox_msg *m1 = hbt_wait_msg(&f->sink, 1, 5000), *m2 = hbt_wait_msg(&f->sink, 2, 5000);
    assert_non_null(m2);
    assert_string_equal(m1->peer_id, "lb");
    assert_int_equal(m1->seq, 1);
    assert_int_equal(m1->conn, 1);
    assert_memory_equal(m1->data, "hello", 5);
    assert_int_equal(m1->flags, 0);
    assert_int_equal(m2->seq, 2);
    assert_int_equal(m2->flags, HB_MSG_F_BINARY);

    /* The pool validates before the worker sees anything. */
    assert_int_equal(hb_pool_send(f->pool, "lb", "\xff", 1, HB_MSG_TEXT), HB_E_BAD_REQUEST);

    /* The doorway is usable by a custom worker. */
    assert_int_equal(hb_plugin_post(s_last_plugin, s_post_fn, s_last_plugin), 0);
    for (int i = 0; i < 500 && !s_posted; i++) hbt_sleep_ms(5);
    assert_int_equal(s_posted, 1);

    hb_pool_stats st;
    hb_pool_stats_get(f->pool, &st);
    assert_int_equal(st.totals.messages_received, 2);
    assert_int_equal(st.totals.messages_sent, 2);
    assert_int_equal(st.totals.send_failed[HB_SF_BAD_REQUEST], 1);
    assert_int_equal(st.peers[HB_STATE_CONNECTED], 1);

    assert_int_equal(hb_pool_remove(f->pool, "lb"), 0);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "lb", 1, 5000);
    assert_non_null(r);
    assert_string_equal(r->reason, "removed");
    char trail[256];
    hbt_event_trail(&f->sink, "lb", trail, sizeof(trail));
    assert_string_equal(trail, "added,connected,disconnected,removed");
    /* Totals survive the removal. */
    hb_pool_stats_get(f->pool, &st);
    assert_int_equal(st.n_peers, 0);
    assert_int_equal(st.totals.messages_received, 2);
    assert_int_equal(st.totals.send_failed[HB_SF_BAD_REQUEST], 1);

    /* Destroy with a worker still running: no events, no leaks. */
    s_peer(&p, "left");
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "left", 1, 5000));
    int before = hbt_count_events(&f->sink, HB_EV_DISCONNECTED, NULL);
    hb_pool_destroy(&f->pool);
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DISCONNECTED, NULL), before);
    hbt_fx_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback_worker),
    };
    return HBT_RUN(tests);
}
