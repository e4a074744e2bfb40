/*
 * session.c: the default worker. One session per peer, living on the loop
 * thread as a small state machine driven by callbacks:
 *
 *   CONNECTING --on_open--> CONNECTED --close/lost--> WAITING --timer--> CONNECTING
 *        \--on_dial_failed--> WAITING (or CLOSED after max_retries)
 *   stop: CONNECTING/WAITING -> CLOSED at once; CONNECTED -> close 1000/1001
 *   (SHUTDOWN first drains the send queue until the deadline).
 *
 * The blocks of the Go design map onto it like this: the dialer (one dial
 * at a time: `conn` is the only dial) with the backoff block; the reader
 * block in on_data; the heartbeat forwarder in on_pong; the keepalive block
 * and the stop monitor in the one keepalive timer (s_tick), which also
 * checks write_timeout; the session loop is the state machine itself.
 *
 * Threads: everything runs on the loop thread except s_send and s_stats.
 * `mu` protects the send queue and `accepting`; the published stats are
 * relaxed atomics.
 *
 * The send path costs one malloc + copy per message (s_send) and one kick
 * only when the queue goes from empty to non-empty: the WRITEABLE handler
 * asks for the next call itself while the queue is not empty. write_timeout
 * is measured from max(the head's enqueue time, the last successful write),
 * so a long queue towards a peer that keeps reading is not "timed out" for
 * the time its messages wait their turn.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/lograte.h"
#include "honeybee/session.h"
#include "pool/pool_int.h"

typedef struct s_out {
    struct s_out *next;
    size_t len;
    bool binary;
    uint64_t enq_ns;
    unsigned char buf[]; /* headroom, then payload */
} s_out;

struct hb_session {
    hb_worker base; /* base.plugin: the pool's side of this peer */
    const hb_peer_cfg *cfg;
    hb_session_hooks hooks;

    /* Loop thread. */
    hb_peer_state st;
    bool draining;
    hb_conn *conn;
    hb_backoff bo;
    hb_keepalive ka;
    hb_reader rd;
    hb_timer *retry_t, *tick_t;
    uint64_t tick_due; /* when tick_t fires, UINT64_MAX if not armed */
    uint64_t opened_ns;
    uint64_t last_write_ns; /* last successful write (or on_open) */
    uint32_t attempt;
    size_t on_connect_idx;
    bool want_ping, want_app_ping;
    bool stopping, finished, paused;
    hb_stop_reason why;
    uint64_t drain_deadline;
    uint64_t rng;
    /* Info log lines: a token bucket per peer (core/lograte.h), so a
     * flapping peer cannot flood the log. */
    hb__lograte log_rate;
    bool failing; /* in a run of failed dials (the first was logged) */
    /* on_connect and app_ping texts are copied here (the dialer masks the
     * payload in place, so a const string cannot be written as it is): headroom +
     * the longest of them, allocated once. An empty ping is written from
     * it too (it needs only the headroom). */
    unsigned char *scratch;
    size_t scratch_cap;

    /* Send queue: mu. */
    pthread_mutex_t mu;
    s_out *qhead, *qtail;
    uint32_t qlen;
    bool accepting;

    /* Published for stats (relaxed). */
    atomic_int st_pub;
    atomic_uint_fast64_t connected_at_pub;
    atomic_uint attempt_pub;
    atomic_uint depth_pub;
};

static void s_dial(hb_session *s);
static void s_arm_tick(hb_session *s, uint64_t now);

static void s_set_state(hb_session *s, hb_peer_state st)
{
    s->st = st;
    atomic_store_explicit(&s->st_pub, (int)st, memory_order_relaxed);
}

static double s_rand(hb_session *s)
{
    /* xorshift64*: jitter only needs to be spread, not secret */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (double)((s->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* A state change or the first failure of a run, at info, rate-limited per
 * peer (core/lograte.h): a line over the limit goes out at debug and is
 * counted; the next line that may go says how many were held back. Loop
 * thread. */
__attribute__((format(printf, 2, 3))) static void s_info(hb_session *s, const char *fmt, ...)
{
    const hb_logger *lg = hb_plugin_logger(s->base.plugin);
    if (!lg || !lg->fn || lg->level < HB_LOG_INFO) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hb__lograte_log(&s->log_rate, lg, HB_LOG_INFO, hb_plugin_id(s->base.plugin),
                    "lines of this peer", msg);
}

static s_out *s_out_new(const void *data, size_t len, bool binary)
{
    s_out *o = malloc(sizeof(*o) + hb_conn_headroom() + len);
    if (!o) return NULL;
    o->next = NULL;
    o->len = len;
    o->binary = binary;
    o->enq_ns = 0;
    if (len) memcpy(o->buf + hb_conn_headroom(), data, len);
    return o;
}

/* ---- finishing ------------------------------------------------------------ */

static void s_finish(hb_session *s, const char *removed_reason)
{
    if (s->finished) return;
    s->finished = true;
    s_set_state(s, HB_STATE_CLOSED);
    atomic_store_explicit(&s->connected_at_pub, 0, memory_order_relaxed);
    hb_timer_cancel(s->retry_t);
    hb_timer_cancel(s->tick_t);
    s->tick_due = UINT64_MAX;
    hb_plugin_finished(s->base.plugin, removed_reason);
}

static const char *s_stop_word(hb_session *s)
{
    return s->why == HB_STOP_REMOVED ? "removed" : "shutdown";
}

/* The connection is gone (any cause). Loop thread. */
static void s_disconnected(hb_session *s, int code, const char *reason, const char *error)
{
    pthread_mutex_lock(&s->mu);
    s->accepting = false;
    s_out *q = s->qhead;
    s->qhead = s->qtail = NULL;
    s->qlen = 0;
    atomic_store_explicit(&s->depth_pub, 0, memory_order_relaxed);
    pthread_mutex_unlock(&s->mu);

    s->conn = NULL;
    s->draining = false;
    hb_timer_cancel(s->tick_t);
    s->tick_due = UINT64_MAX;
    hb_reader_reset(&s->rd);
    atomic_store_explicit(&s->connected_at_pub, 0, memory_order_relaxed);
    hb_plugin_disconnected(s->base.plugin, code, reason, error);
    s_info(s, "disconnected: %s, code %d%s%s", reason, code, error ? ": " : "", error ? error : "");
    /* Queued messages that will never be written: one send_failed each. */
    while (q) {
        s_out *nx = q->next;
        hb_plugin_send_failed(s->base.plugin, HB_SF_NOT_CONNECTED);
        free(q);
        q = nx;
    }
    if (s->stopping) {
        s_finish(s, s_stop_word(s));
        return;
    }
    uint64_t now = hb__mono_ns();
    hb_backoff_closed(&s->bo, now - s->opened_ns);
    uint64_t delay = hb_backoff_next_delay(&s->bo, s_rand(s));
    if (delay == 0) {
        s_dial(s);
    } else {
        s_set_state(s, HB_STATE_WAITING);
        hb_timer_arm(s->retry_t, delay);
    }
}

/* We close the connection ourselves with `code`, reporting `reason`. */
static void s_drop(hb_session *s, int code, const char *reason)
{
    hb_conn *c = s->conn;
    s->conn = NULL;
    hb_conn_close(c, code, reason);
    s_disconnected(s, code, reason, NULL);
}

/* ---- connection callbacks (loop thread) ------------------------------------ */

static void s_on_open(void *ud, hb_conn *c)
{
    hb_session *s = ud;
    uint64_t now = hb__mono_ns();
    s_set_state(s, HB_STATE_CONNECTED);
    hb_backoff_connected(&s->bo);
    s->opened_ns = now;
    s->last_write_ns = now;
    atomic_store_explicit(&s->connected_at_pub, hb__wall_ns(), memory_order_relaxed);
    s->on_connect_idx = 0;
    s->want_ping = s->want_app_ping = false;
    hb_keepalive_start(&s->ka, &s->cfg->opts.keepalive, now);
    pthread_mutex_lock(&s->mu);
    s->accepting = true;
    pthread_mutex_unlock(&s->mu);
    hb_plugin_connected(s->base.plugin, s->attempt);
    s_info(s, "connected (dial %u)", s->attempt);
    s->failing = false;
    if (s->paused) hb_conn_rx(c, false);
    s->tick_due = UINT64_MAX;
    s_arm_tick(s, now);
    if (s->cfg->n_on_connect) hb_conn_want_write(c);
}

static void s_retry(void *ud)
{
    hb_session *s = ud;
    if (!s->stopping && !s->finished) s_dial(s);
}

static void s_on_dial_failed(void *ud, hb_conn *c, const char *error)
{
    hb_session *s = ud;
    s->conn = NULL;
    hb_plugin_dial_failed(s->base.plugin, s->attempt, error);
    if (!s->failing) {
        s->failing = true;
        s_info(s,
               "dial %u failed: %s (redialling with backoff; further failures of this run "
               "at debug)",
               s->attempt, error);
    } else {
        HB_LOG(hb_plugin_logger(s->base.plugin), HB_LOG_DEBUG, hb_plugin_id(s->base.plugin),
               "dial %u failed: %s", s->attempt, error);
    }
    if (s->stopping) {
        s_finish(s, s_stop_word(s));
        return;
    }
    if (hb_backoff_dial_failed(&s->bo)) {
        s_info(s, "giving up after %u failed dials (max_retries): %s", s->attempt, error);
        s_finish(s, "max_retries");
        return;
    }
    s_set_state(s, HB_STATE_WAITING);
    hb_timer_arm(s->retry_t, hb_backoff_next_delay(&s->bo, s_rand(s)));
}

static void s_on_data(void *ud, hb_conn *c, const void *data, size_t len, bool first, bool final,
                      bool binary)
{
    hb_session *s = ud;
    uint64_t now = hb_conn_rx_time(c); /* read once per receive buffer, not per piece */
    hb_keepalive_data(&s->ka, now);
    if (first && !final) hb_reader_expect(&s->rd, hb_conn_rx_remaining(c));
    hb_inbox_msg *m = NULL;
    switch (hb_reader_feed(&s->rd, data, len, first, final, binary, &m)) {
    case HB_READ_MORE:
        return;
    case HB_READ_MESSAGE: {
        bool more = s->hooks.on_message ? s->hooks.on_message(s->hooks.ud, s, m, binary)
                                        : hb__plugin_deliver_at(s->base.plugin, m, binary, now);
        if (!more && !s->paused) {
            s->paused = true;
            hb_conn_rx(c, false);
        }
        return;
    }
    case HB_READ_TOO_LARGE:
        s_drop(s, 1009, "too_large");
        return;
    case HB_READ_INVALID_UTF8: /* not returned any more: the dialer checks UTF-8 */
        s_drop(s, 1007, "invalid_utf8");
        return;
    case HB_READ_NOMEM:
        s_drop(s, 1011, "connection_lost");
        return;
    }
}

static void s_on_pong(void *ud, hb_conn *c)
{
    hb_session *s = ud;
    if (s->hooks.on_heartbeat)
        s->hooks.on_heartbeat(s->hooks.ud, s);
    else
        hb_keepalive_frame(&s->ka, hb_conn_rx_time(c));
}

/* Write a configured text (on_connect, app_ping) through the scratch buffer. */
static int s_write_text(hb_session *s, hb_conn *c, const char *t)
{
    size_t n = strlen(t);
    memcpy(s->scratch + hb_conn_headroom(), t, n);
    return hb_conn_write(c, s->scratch, n, HB_CONN_TEXT);
}

/* One write per call, in this order: ping, on_connect messages, app_ping,
 * the send queue. Asks for another call while anything is left. */
static int s_on_writable(void *ud, hb_conn *c)
{
    hb_session *s = ud;
    bool more = false;
    if (s->want_ping) {
        s->want_ping = false;
        if (hb_conn_write(c, s->scratch, 0, HB_CONN_PING) < 0) return -1;
        more = true;
    } else if (s->on_connect_idx < s->cfg->n_on_connect) {
        const char *t = s->cfg->on_connect[s->on_connect_idx++];
        if (s_write_text(s, c, t) < 0) return -1;
        hb_plugin_count_sent(s->base.plugin, strlen(t));
        more = true;
    } else if (s->want_app_ping) {
        s->want_app_ping = false;
        if (s_write_text(s, c, s->cfg->opts.keepalive.app_ping) < 0) return -1;
        more = true;
    } else {
        pthread_mutex_lock(&s->mu);
        s_out *o = s->qhead;
        if (o) {
            s->qhead = o->next;
            if (!s->qhead) s->qtail = NULL;
            s->qlen--;
            atomic_store_explicit(&s->depth_pub, s->qlen, memory_order_relaxed);
        }
        more = s->qhead != NULL;
        pthread_mutex_unlock(&s->mu);
        if (o) {
            int rc = hb_conn_write(c, o->buf, o->len, o->binary ? HB_CONN_BINARY : HB_CONN_TEXT);
            if (rc == 0)
                hb_plugin_count_sent(s->base.plugin, o->len);
            else /* out of the queue but never written: it is reported too */
                hb_plugin_send_failed(s->base.plugin, HB_SF_NOT_CONNECTED);
            free(o);
            if (rc < 0) return -1;
        }
    }
    s->last_write_ns = hb__mono_ns();
    if (more || s->want_ping || s->want_app_ping || s->on_connect_idx < s->cfg->n_on_connect) {
        hb_conn_want_write(c);
    } else if (s->draining) {
        /* Drained: the shutdown close. */
        s_drop(s, 1001, "shutdown");
    }
    return 0;
}

static void s_on_closed(void *ud, hb_conn *c, int code, const char *reason)
{
    hb_session *s = ud;
    s->conn = NULL;
    const char *word;
    switch (hb_conn_end_cause(c)) {
    case HB_CONN_END_PEER_CLOSE:
        word = "closed_by_peer";
        break;
    case HB_CONN_END_PROTOCOL_ERROR:
        word = "protocol_error";
        break;
    case HB_CONN_END_TOO_LARGE:
        word = "too_large";
        break;
    case HB_CONN_END_INVALID_UTF8:
        word = "invalid_utf8";
        break;
    default:
        word = "connection_lost";
        break;
    }
    s_disconnected(s, code, word, reason && reason[0] ? reason : NULL);
}

static const hb_conn_ops s_conn_ops = {
    .on_open = s_on_open,
    .on_dial_failed = s_on_dial_failed,
    .on_data = s_on_data,
    .on_pong = s_on_pong,
    .on_writable = s_on_writable,
    .on_closed = s_on_closed,
};

/* ---- dialing and the keepalive timer --------------------------------------- */

static void s_dial(hb_session *s)
{
    s->attempt = hb_backoff_dial_started(&s->bo);
    atomic_store_explicit(&s->attempt_pub, s->attempt, memory_order_relaxed);
    s_set_state(s, HB_STATE_CONNECTING);
    int err = 0;
    s->conn = hb_conn_dial(s->base.plugin, &s_conn_ops, s, &err);
    if (!s->conn) s_on_dial_failed(s, NULL, hb_strerror(err));
}

/* Loop thread. The head of the send queue must be written by this instant:
 * write_timeout after it was queued or after the last write that went
 * through, whichever is later (time spent waiting behind messages that are
 * being written is not the peer's fault). */
static uint64_t s_write_deadline(hb_session *s)
{
    uint64_t d = UINT64_MAX;
    pthread_mutex_lock(&s->mu);
    if (s->qhead) {
        uint64_t base = s->qhead->enq_ns > s->last_write_ns ? s->qhead->enq_ns : s->last_write_ns;
        d = base + s->cfg->opts.write_timeout_ns;
    }
    pthread_mutex_unlock(&s->mu);
    return d;
}

/* Arm the tick at the earliest of the keepalive, write and drain deadlines,
 * unless it is already armed at or before that. */
static void s_arm_tick(hb_session *s, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    hb_keepalive k = s->ka; /* peek without consuming a due ping */
    unsigned due = hb_keepalive_check(&k, now, &next);
    if (due) next = now;
    uint64_t w = s_write_deadline(s);
    if (w < next) next = w;
    if (s->draining && s->drain_deadline < next) next = s->drain_deadline;
    if (next == UINT64_MAX) return;
    if (hb_timer_armed(s->tick_t) && s->tick_due <= next) return;
    s->tick_due = next;
    hb_timer_arm(s->tick_t, next > now ? next - now : 0);
}

/* The stop monitor: decides, when a deadline comes, whether the connection
 * must be replaced, and sends what the keepalive asks for. */
static void s_tick(void *ud)
{
    hb_session *s = ud;
    s->tick_due = UINT64_MAX;
    if (!s->conn || s->st != HB_STATE_CONNECTED) return;
    uint64_t now = hb__mono_ns();
    if (s->draining && now >= s->drain_deadline) {
        s_drop(s, 1001, "shutdown");
        return;
    }
    if (s_write_deadline(s) <= now) {
        s_drop(s, 1001, "write_timeout");
        return;
    }
    /* While reading is paused by back-pressure nothing can arrive, pongs
     * included: that is our doing, not the peer's, so the watchdogs wait. */
    if (s->paused) hb_keepalive_data(&s->ka, now);
    uint64_t next;
    unsigned due = hb_keepalive_check(&s->ka, now, &next);
    if (due & HB_KA_TIMEOUT) {
        s_drop(s, 1001, "keepalive");
        return;
    }
    if (due & HB_KA_STALL) {
        s_drop(s, 1001, "stall");
        return;
    }
    if (due & (HB_KA_PING | HB_KA_APP_PING)) {
        if (due & HB_KA_PING) s->want_ping = true;
        if (due & HB_KA_APP_PING) s->want_app_ping = true;
        hb_conn_want_write(s->conn);
    }
    s_arm_tick(s, now);
}

/* ---- the worker ops -------------------------------------------------------- */

static void s_start(hb_worker *w)
{
    hb_session *s = (hb_session *)w;
    s_dial(s);
}

static void s_stop(hb_worker *w, hb_stop_reason why, uint64_t drain_deadline)
{
    hb_session *s = (hb_session *)w;
    if (why == HB_STOP_DESTROY) {
        s->stopping = true;
        s->why = why;
        hb_timer_cancel(s->retry_t);
        hb_timer_cancel(s->tick_t);
        if (s->conn) {
            hb_conn *c = s->conn;
            s->conn = NULL;
            hb_conn_close(c, 1001, "shutdown");
        }
        pthread_mutex_lock(&s->mu);
        s->accepting = false;
        pthread_mutex_unlock(&s->mu);
        s->finished = true;
        s_set_state(s, HB_STATE_CLOSED);
        return;
    }
    if (s->stopping || s->finished) return;
    s->stopping = true;
    s->why = why;
    switch (s->st) {
    case HB_STATE_CONNECTED: {
        uint64_t now = hb__mono_ns();
        bool pending = s->on_connect_idx < s->cfg->n_on_connect;
        pthread_mutex_lock(&s->mu);
        pending = pending || s->qhead;
        pthread_mutex_unlock(&s->mu);
        if (why == HB_STOP_SHUTDOWN && pending && drain_deadline > now) {
            s->draining = true;
            s->drain_deadline = drain_deadline;
            hb_conn_want_write(s->conn);
            s_arm_tick(s, now);
        } else {
            s_drop(s, why == HB_STOP_REMOVED ? 1000 : 1001, s_stop_word(s));
        }
        break;
    }
    case HB_STATE_CONNECTING:
        if (s->conn) {
            hb_conn *c = s->conn;
            s->conn = NULL;
            hb_conn_close(c, 1001, "shutdown");
        }
        s_finish(s, s_stop_word(s));
        break;
    default:
        s_finish(s, s_stop_word(s));
        break;
    }
}

static int s_send(hb_worker *w, const void *data, size_t len, bool binary)
{
    hb_session *s = (hb_session *)w;
    /* A full queue refuses before the copy, so a flood of refusals costs no
     * allocation; the locked check below stays the one that decides. */
    if (atomic_load_explicit(&s->depth_pub, memory_order_relaxed) >= s->cfg->opts.send_queue)
        return HB_E_QUEUE_FULL;
    s_out *o = s_out_new(data, len, binary);
    if (!o) return HB_E_NOMEM;
    o->enq_ns = hb__mono_ns();
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    bool was_empty = s->qhead == NULL;
    if (!s->accepting)
        rc = HB_E_NOT_CONNECTED;
    else if (s->qlen >= s->cfg->opts.send_queue)
        rc = HB_E_QUEUE_FULL;
    else {
        if (s->qtail)
            s->qtail->next = o;
        else
            s->qhead = o;
        s->qtail = o;
        s->qlen++;
        atomic_store_explicit(&s->depth_pub, s->qlen, memory_order_relaxed);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        free(o);
        return rc;
    }
    /* A non-empty queue already has a WRITEABLE request (and a write
     * deadline) in place: only the first message needs the loop's attention. */
    if (was_empty) hb_plugin_kick(s->base.plugin);
    return 0;
}

static void s_kick(hb_worker *w)
{
    hb_session *s = (hb_session *)w;
    if (!s->conn || s->st != HB_STATE_CONNECTED) return;
    hb_conn_want_write(s->conn);
    s_arm_tick(s, hb__mono_ns()); /* write_timeout of the new head */
}

static void s_resume(hb_worker *w)
{
    hb_session *s = (hb_session *)w;
    s->paused = false;
    hb_keepalive_data(&s->ka, hb__mono_ns()); /* the pause does not count as silence */
    if (s->conn && s->st == HB_STATE_CONNECTED) hb_conn_rx(s->conn, true);
}

static void s_stats(hb_worker *w, hb_worker_stats *out)
{
    hb_session *s = (hb_session *)w;
    out->state = (hb_peer_state)atomic_load_explicit(&s->st_pub, memory_order_relaxed);
    out->connected_at_ns = atomic_load_explicit(&s->connected_at_pub, memory_order_relaxed);
    out->attempt = atomic_load_explicit(&s->attempt_pub, memory_order_relaxed);
    out->send_queue_depth = atomic_load_explicit(&s->depth_pub, memory_order_relaxed);
}

static void s_destroy(hb_worker *w)
{
    hb_session *s = (hb_session *)w;
    hb_timer_free(&s->retry_t);
    hb_timer_free(&s->tick_t);
    hb_reader_reset(&s->rd);
    free(s->scratch);
    while (s->qhead) {
        s_out *nx = s->qhead->next;
        free(s->qhead);
        s->qhead = nx;
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static const hb_worker_ops s_ops = {
    .start = s_start,
    .stop = s_stop,
    .send = s_send,
    .stats = s_stats,
    .kick = s_kick,
    .resume = s_resume,
    .destroy = s_destroy,
};

int hb_session_new(hb_plugin *p, const hb_session_hooks *hooks, hb_worker **out)
{
    hb_session *s = calloc(1, sizeof(*s));
    if (!s) return HB_E_NOMEM;
    s->base.ops = &s_ops;
    s->base.plugin = p;
    s->cfg = hb_plugin_config(p);
    if (hooks) s->hooks = *hooks;
    s->retry_t = hb_timer_new(p, s_retry, s);
    s->tick_t = hb_timer_new(p, s_tick, s);
    if (!s->retry_t || !s->tick_t) {
        hb_timer_free(&s->retry_t);
        hb_timer_free(&s->tick_t);
        free(s);
        return HB_E_NOMEM;
    }
    size_t longest = s->cfg->opts.keepalive.app_ping ? strlen(s->cfg->opts.keepalive.app_ping) : 0;
    for (size_t i = 0; i < s->cfg->n_on_connect; i++) {
        size_t n = strlen(s->cfg->on_connect[i]);
        if (n > longest) longest = n;
    }
    s->scratch_cap = hb_conn_headroom() + longest;
    s->scratch = malloc(s->scratch_cap);
    if (!s->scratch) {
        hb_timer_free(&s->retry_t);
        hb_timer_free(&s->tick_t);
        free(s);
        return HB_E_NOMEM;
    }
    s->tick_due = UINT64_MAX;
    pthread_mutex_init(&s->mu, NULL);
    hb_backoff_init(&s->bo, &s->cfg->opts.reconnect);
    hb_reader_init(&s->rd, p, s->cfg->opts.max_message_size);
    s->rng = hb__mono_ns() ^ (uint64_t)(uintptr_t)s ^ 0x9E3779B97F4A7C15ull;
    if (!s->rng) s->rng = 1;
    s_set_state(s, HB_STATE_CONNECTING);
    /* The dial that start() makes is attempt 1: list never shows 0. */
    atomic_store_explicit(&s->attempt_pub, 1, memory_order_relaxed);
    *out = &s->base;
    return 0;
}

hb_plugin *hb_session_plugin(hb_session *s)
{
    return s->base.plugin;
}

static int s_factory(void *ud, hb_plugin *p, hb_worker **out)
{
    return hb_session_new(p, NULL, out);
}

const hb_worker_factory hb_session_factory = {s_factory, NULL};
