/*
 * pool.c: the registry of peers, the public hb_pool_* API and the plugin
 * each worker talks to.
 *
 * Threads and locks:
 *   - `reg` (rwlock) protects the id hash, n_peers, shutting_down and the
 *     removed-peer totals. Connect/remove and the reaper take it for
 *     writing; send, broadcast, stats and list for reading. Send holds it
 *     only to find the peer and take a reference: UTF-8 validation and the
 *     worker's send (malloc + copy of up to max_message_size) run outside,
 *     so a big send never makes the loop thread's reaper (a writer) wait.
 *     Stats ops run under the read lock. `added` and `removed` are emitted
 *     under the write lock (see hb_sink in pool.h).
 *   - The pool owns n_loops loops (s_loop: an hb__loop with its own lws
 *     context, thread, doorway, resolvers and timers). A peer is placed on
 *     loop hb__loop_of(id) at connect and stays there for life (the same id
 *     always lands on the same loop, across removes and re-adds too).
 *   - Everything else about a peer's life runs on its loop's thread: start,
 *     stop, kick, resume, the worker's callbacks and the reaper that emits
 *     `removed` and drops the peer. The lists of s_loop (all, paused, fin)
 *     are that thread's alone.
 *   - Per-peer counters are relaxed atomics, read by stats from any thread.
 *     Those written only on the loop thread (rx, tx, reconnects) are bumped
 *     with a relaxed load + store (no locked instruction); the send_failed
 *     ones, bumped by send threads too, with fetch_add.
 * A peer (struct hb_plugin) is reference counted: the registry holds one
 * reference, and every doorway note or command that names it holds one.
 *
 * The doorway: start, stop, kick and resume use pre-allocated notes (each
 * queued at most once, so they never fail); hb_plugin_post and shutdown use
 * the bounded command ring (hb_pool_config.command_queue).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/clock.h"
#include "core/shard.h"
#include "core/url.h"
#include "core/utf8.h"
#include "honeybee/session.h"
#include "honeybee/worker.h"
#include "pool/pool_int.h"
#include "transport/conn.h"
#include "transport/loop.h"

#define S_FD_SPARE 64

typedef struct s_counters {
    atomic_uint_fast64_t rx_msgs, rx_bytes, tx_msgs, tx_bytes, reconnects;
    atomic_uint_fast64_t sf[HB_SF__COUNT];
} s_counters;

typedef struct s_loop s_loop;

struct hb_plugin {
    hb_pool *pool;
    s_loop *lp;      /* the loop it lives on, from its id (hb__loop_of), for life */
    hb_peer_cfg cfg; /* private copy; immutable while the peer lives */
    size_t id_len;
    hb_worker *worker;
    atomic_int refs;
    struct hb_plugin *hnext; /* hash chain: reg */
    bool removing;           /* reg: remove requested (or finished) */

    /* Loop thread only. */
    bool started, finished, paused;
    const char *removed_reason;
    struct hb_plugin *all_prev, *all_next; /* started, not yet reaped */
    struct hb_plugin *paused_next;         /* on lp->paused while paused */
    struct hb_plugin *fin_next;
    uint64_t seq;
    uint32_t conn;

    /* Published for stats (relaxed). */
    atomic_uint_fast64_t seq_pub;
    atomic_uint conn_pub;
    atomic_bool paused_pub;
    s_counters c;

    atomic_bool kick_pending;
    hb__note start_note, stop_note, kick_note;
    hb__conn_memo *memo; /* loop thread (freed by the last reference): TLS resumption */

    /* send_queue_bytes (s_send_one; any sending thread, under qmu). The
     * worker's queue keeps the messages it accepted in order and drops
     * them from the front only (written, or all at a disconnect), so the
     * bytes it holds are those of the last `depth` accepted messages:
     * qsum[c % qcap] is the byte total of the first c accepted messages,
     * kept for the last qcap counts; the ring grows on demand up to
     * send_queue + 1 entries. */
    pthread_mutex_t qmu;
    uint64_t *qsum;
    uint32_t qcap;
    uint64_t qn; /* messages accepted so far */
};

struct hb_timer {
    hb__timer t;
};

/* One loop thread and the peers that live on it. */
struct s_loop {
    hb_pool *pool;
    hb__loop *loop;
    uint32_t idx;

    /* This loop's thread only. */
    hb_plugin *all;
    hb_plugin *paused; /* peers paused by inbox back-pressure (each once) */
    hb_plugin *fin_head, *fin_tail;
    hb__timer reaper;
    bool shutdown_started;

    atomic_bool resume_pending;
    hb__note resume_note;
    atomic_uint n_peers;  /* peers placed here and not yet reaped (stats) */
    bool shutdown_posted; /* hb_pool_shutdown's caller, under shut_mu */
};

struct hb_pool {
    hb_sink sink;
    const hb_logger *logger;
    hb_worker_factory factory;
    uint32_t max_peers;
    s_loop *loops;
    uint32_t n_loops;
    rlim_t fd_limit;
    uint32_t base_fds;

    pthread_rwlock_t reg;
    hb_plugin **buckets;
    size_t nbuckets;
    uint32_t n_peers;
    bool shutting_down;
    hb_counters removed_totals;
    atomic_uint_fast64_t extra_sf[HB_SF__COUNT]; /* hb_pool_count_send_failed */

    uint64_t drain_deadline; /* written before the shutdown posts, read after */
    atomic_bool dead;        /* destroy in progress: events and messages are dropped */

    /* Shutdown waits here for n_peers to reach 0. */
    pthread_mutex_t wmu;
    pthread_mutex_t shut_mu; /* hb_pool_shutdown's posts (s_loop.shutdown_posted) */
    pthread_cond_t wcond;
};

/* ---- small helpers ------------------------------------------------------- */

static inline void s_inc(atomic_uint_fast64_t *a, uint64_t n)
{
    atomic_fetch_add_explicit(a, n, memory_order_relaxed);
}

/* Single writer (the loop thread): no locked read-modify-write needed. */
static inline void s_inc1(atomic_uint_fast64_t *a, uint64_t n)
{
    atomic_store_explicit(a, atomic_load_explicit(a, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t s_ld(atomic_uint_fast64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

static uint64_t s_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void s_ref(hb_plugin *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

/* Any thread; the last reference destroys the worker and the peer. */
static void s_unref(hb_plugin *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) return;
    if (p->worker) p->worker->ops->destroy(p->worker);
    hb__conn_memo_unref(&p->memo);
    hb_peer_cfg_free(&p->cfg);
    pthread_mutex_destroy(&p->qmu);
    free(p->qsum);
    free(p);
}

/* The loop the calling thread serves (hb_pool_current_loop): set before
 * each sink call on a loop thread. */
static _Thread_local uint32_t s_cur_loop;

static void s_emit(hb_pool *pool, hb_event *e)
{
    if (!e) return;
    if (atomic_load_explicit(&pool->dead, memory_order_relaxed)) {
        hb_event_free(e);
        return;
    }
    pool->sink.event(pool->sink.ud, e);
}

/* reg held. */
static hb_plugin *s_find(hb_pool *pool, const char *id, size_t n)
{
    for (hb_plugin *p = pool->buckets[s_hash(id, n) % pool->nbuckets]; p; p = p->hnext)
        if (p->id_len == n && memcmp(p->cfg.id, id, n) == 0) return p;
    return NULL;
}

/* reg held for writing. */
static void s_insert(hb_pool *pool, hb_plugin *p)
{
    if (pool->n_peers + 1 > pool->nbuckets) {
        size_t nb = pool->nbuckets * 2;
        hb_plugin **b = calloc(nb, sizeof(*b));
        if (b) {
            for (size_t i = 0; i < pool->nbuckets; i++)
                for (hb_plugin *q = pool->buckets[i], *nx; q; q = nx) {
                    nx = q->hnext;
                    size_t k = s_hash(q->cfg.id, q->id_len) % nb;
                    q->hnext = b[k];
                    b[k] = q;
                }
            free(pool->buckets);
            pool->buckets = b;
            pool->nbuckets = nb;
        }
    }
    size_t k = s_hash(p->cfg.id, p->id_len) % pool->nbuckets;
    p->hnext = pool->buckets[k];
    pool->buckets[k] = p;
    pool->n_peers++;
}

/* reg held for writing. */
static void s_unlink(hb_pool *pool, hb_plugin *p)
{
    hb_plugin **pp = &pool->buckets[s_hash(p->cfg.id, p->id_len) % pool->nbuckets];
    while (*pp && *pp != p) pp = &(*pp)->hnext;
    if (*pp) {
        *pp = p->hnext;
        pool->n_peers--;
    }
}

static void s_counters_get(hb_plugin *p, hb_counters *out)
{
    out->messages_received = s_ld(&p->c.rx_msgs);
    out->bytes_received = s_ld(&p->c.rx_bytes);
    out->messages_sent = s_ld(&p->c.tx_msgs);
    out->bytes_sent = s_ld(&p->c.tx_bytes);
    out->reconnects = s_ld(&p->c.reconnects);
    for (int i = 0; i < HB_SF__COUNT; i++) out->send_failed[i] = s_ld(&p->c.sf[i]);
}

static void s_counters_add(hb_counters *to, const hb_counters *from)
{
    to->messages_received += from->messages_received;
    to->bytes_received += from->bytes_received;
    to->messages_sent += from->messages_sent;
    to->bytes_sent += from->bytes_sent;
    to->reconnects += from->reconnects;
    for (int i = 0; i < HB_SF__COUNT; i++) to->send_failed[i] += from->send_failed[i];
}

/* ---- loop-thread handlers ------------------------------------------------ */

static void s_all_link(s_loop *lp, hb_plugin *p)
{
    p->all_prev = NULL;
    p->all_next = lp->all;
    if (lp->all) lp->all->all_prev = p;
    lp->all = p;
}

static void s_all_unlink(s_loop *lp, hb_plugin *p)
{
    if (p->all_prev)
        p->all_prev->all_next = p->all_next;
    else if (lp->all == p)
        lp->all = p->all_next;
    if (p->all_next) p->all_next->all_prev = p->all_prev;
    p->all_prev = p->all_next = NULL;
}

static void s_on_start(hb__note *n, bool cancelled)
{
    hb_plugin *p = lws_container_of(n, hb_plugin, start_note);
    hb_pool *pool = p->pool;
    if (!cancelled) {
        p->started = true;
        s_all_link(p->lp, p);
        p->worker->ops->start(p->worker);
        if (p->lp->shutdown_started && !p->finished)
            p->worker->ops->stop(p->worker, HB_STOP_SHUTDOWN, pool->drain_deadline);
    }
    s_unref(p);
}

static void s_on_stop(hb__note *n, bool cancelled)
{
    hb_plugin *p = lws_container_of(n, hb_plugin, stop_note);
    if (!cancelled && p->started && !p->finished)
        p->worker->ops->stop(p->worker, HB_STOP_REMOVED, 0);
    s_unref(p);
}

static void s_on_kick(hb__note *n, bool cancelled)
{
    hb_plugin *p = lws_container_of(n, hb_plugin, kick_note);
    atomic_store(&p->kick_pending, false);
    if (!cancelled && p->started && !p->finished && p->worker->ops->kick)
        p->worker->ops->kick(p->worker);
    s_unref(p);
}

static void s_on_resume(hb__note *n, bool cancelled)
{
    s_loop *lp = lws_container_of(n, s_loop, resume_note);
    atomic_store(&lp->resume_pending, false);
    if (cancelled) return;
    /* Only the paused peers, not every peer. A resume may deliver at once
     * and pause its peer again: take the list first. */
    hb_plugin *list = lp->paused;
    lp->paused = NULL;
    while (list) {
        hb_plugin *p = list;
        list = p->paused_next;
        p->paused_next = NULL;
        p->paused = false;
        atomic_store_explicit(&p->paused_pub, false, memory_order_relaxed);
        if (!p->finished && p->worker->ops->resume) p->worker->ops->resume(p->worker);
    }
}

/* Loop thread: take p off the paused list (it is being reaped). */
static void s_paused_unlink(s_loop *lp, hb_plugin *p)
{
    if (!p->paused) return;
    for (hb_plugin **pp = &lp->paused; *pp; pp = &(*pp)->paused_next)
        if (*pp == p) {
            *pp = p->paused_next;
            break;
        }
    p->paused = false;
    p->paused_next = NULL;
}

/* Loop thread: emit `removed` for finished workers and drop them. */
static void s_reap(void *ud)
{
    s_loop *lp = ud;
    hb_pool *pool = lp->pool;
    /* What a sink holds of this turn goes out before any `removed`: the
     * bridge publishes a peer's last messages before its removal can let
     * the daemon close the inbox socket (hb_pool_shutdown returns). */
    if (lp->fin_head && pool->sink.flush) {
        s_cur_loop = lp->idx;
        pool->sink.flush(pool->sink.ud);
    }
    while (lp->fin_head) {
        hb_plugin *p = lp->fin_head;
        lp->fin_head = p->fin_next;
        if (!lp->fin_head) lp->fin_tail = NULL;
        s_all_unlink(lp, p);
        s_paused_unlink(lp, p);
        hb_counters c;
        s_counters_get(p, &c);
        hb_event *e = hb_event_new(HB_EV_REMOVED, p->cfg.id, p->cfg.url, p->removed_reason, NULL);
        /* Unlink and emit under the lock: once `removed` is out the id is
         * free, and no `added` of a new peer with this id can precede it. */
        pthread_rwlock_wrlock(&pool->reg);
        s_unlink(pool, p);
        s_emit(pool, e);
        s_counters_add(&pool->removed_totals, &c);
        atomic_fetch_sub_explicit(&lp->n_peers, 1, memory_order_relaxed);
        uint32_t left = pool->n_peers;
        pthread_rwlock_unlock(&pool->reg);
        if (left == 0) {
            pthread_mutex_lock(&pool->wmu);
            pthread_cond_broadcast(&pool->wcond);
            pthread_mutex_unlock(&pool->wmu);
        }
        s_unref(p);
    }
}

static void s_on_shutdown(void *a, void *b, void *c, bool cancelled)
{
    s_loop *lp = a;
    hb_pool *pool = lp->pool;
    if (cancelled) return;
    lp->shutdown_started = true;
    for (hb_plugin *p = lp->all, *nx; p; p = nx) {
        nx = p->all_next;
        if (!p->finished) p->worker->ops->stop(p->worker, HB_STOP_SHUTDOWN, pool->drain_deadline);
    }
}

/* Loop thread, as the loop exits (hb_pool_destroy): stop what still runs.
 * The first loop to exit makes the whole pool dead (no more events). */
static void s_on_loop_exit(void *ud)
{
    s_loop *lp = ud;
    atomic_store(&lp->pool->dead, true);
    for (hb_plugin *p = lp->all; p; p = p->all_next)
        p->worker->ops->stop(p->worker, HB_STOP_DESTROY, 0);
    hb__timer_cancel(&lp->reaper);
    lp->fin_head = lp->fin_tail = NULL;
    lp->all = NULL;
    lp->paused = NULL;
}

/* Loop thread, after every turn: the sink's end of this loop's burst. */
static void s_after_turn(void *ud)
{
    s_loop *lp = ud;
    s_cur_loop = lp->idx;
    lp->pool->sink.flush(lp->pool->sink.ud);
}

uint32_t hb_pool_current_loop(void)
{
    return s_cur_loop;
}

/* ---- the plugin ------------------------------------------------------------ */

const char *hb_plugin_id(const hb_plugin *p)
{
    return p->cfg.id;
}

const hb_peer_cfg *hb_plugin_config(const hb_plugin *p)
{
    return &p->cfg;
}

const hb_logger *hb_plugin_logger(const hb_plugin *p)
{
    return p->pool->logger;
}

hb_inbox_msg *hb_plugin_msg_new(hb_plugin *p, size_t cap)
{
    hb_inbox_msg *m = malloc(sizeof(*m) + p->id_len + 1 + cap);
    if (!m) return NULL;
    char *id = (char *)(m + 1);
    memcpy(id, p->cfg.id, p->id_len + 1);
    m->next = NULL;
    m->peer_id = id;
    m->peer_id_len = (uint32_t)p->id_len;
    m->data = (unsigned char *)id + p->id_len + 1;
    m->len = 0;
    m->flags = 0;
    m->conn = 0;
    m->seq = 0;
    m->received_ns = 0;
    return m;
}

int hb_plugin_msg_reserve(hb_plugin *p, hb_inbox_msg **pm, size_t cap)
{
    hb_inbox_msg *m = realloc(*pm, sizeof(*m) + p->id_len + 1 + cap);
    if (!m) return HB_E_NOMEM;
    m->peer_id = (char *)(m + 1);
    m->data = (unsigned char *)(m + 1) + p->id_len + 1;
    *pm = m;
    return 0;
}

bool hb__plugin_deliver_at(hb_plugin *p, hb_inbox_msg *m, bool binary, uint64_t mono_ns)
{
    hb_pool *pool = p->pool;
    s_loop *lp = p->lp;
    m->seq = ++p->seq;
    m->conn = p->conn;
    m->received_ns = hb__loop_wall_from_mono(lp->loop, mono_ns);
    m->flags = binary ? HB_MSG_F_BINARY : 0;
    atomic_store_explicit(&p->seq_pub, p->seq, memory_order_relaxed);
    s_inc1(&p->c.rx_msgs, 1);
    s_inc1(&p->c.rx_bytes, m->len);
    if (atomic_load_explicit(&pool->dead, memory_order_relaxed)) {
        hb_inbox_msg_free(m);
        return true;
    }
    s_cur_loop = lp->idx;
    if (pool->sink.inbox(pool->sink.ud, m)) return true;
    if (!p->paused) {
        p->paused = true;
        p->paused_next = lp->paused;
        lp->paused = p;
    }
    atomic_store_explicit(&p->paused_pub, true, memory_order_relaxed);
    return false;
}

bool hb_plugin_deliver(hb_plugin *p, hb_inbox_msg *m, bool binary)
{
    return hb__plugin_deliver_at(p, m, binary, hb__mono_ns());
}

void hb_plugin_dial_failed(hb_plugin *p, uint32_t attempt, const char *error)
{
    hb_event *e = hb_event_new(HB_EV_DIAL_FAILED, p->cfg.id, p->cfg.url, NULL, error);
    if (e) e->attempt = attempt;
    s_emit(p->pool, e);
}

void hb_plugin_connected(hb_plugin *p, uint32_t attempt)
{
    p->conn++;
    atomic_store_explicit(&p->conn_pub, p->conn, memory_order_relaxed);
    if (p->conn > 1) s_inc1(&p->c.reconnects, 1);
    hb_event *e = hb_event_new(HB_EV_CONNECTED, p->cfg.id, p->cfg.url, NULL, NULL);
    if (e) {
        e->attempt = attempt;
        e->conn = p->conn;
    }
    s_emit(p->pool, e);
}

void hb_plugin_disconnected(hb_plugin *p, int code, const char *reason, const char *error)
{
    hb_event *e = hb_event_new(HB_EV_DISCONNECTED, p->cfg.id, p->cfg.url, reason, error);
    if (e) {
        e->code = code ? code : 1006;
        e->conn = p->conn;
    }
    s_emit(p->pool, e);
}

void hb_plugin_send_failed(hb_plugin *p, hb_send_fail reason)
{
    if ((unsigned)reason < HB_SF__COUNT) s_inc(&p->c.sf[reason], 1);
    s_emit(p->pool,
           hb_event_new(HB_EV_SEND_FAILED, p->cfg.id, p->cfg.url, hb_send_fail_name(reason), NULL));
}

void hb_plugin_count_sent(hb_plugin *p, size_t bytes)
{
    s_inc1(&p->c.tx_msgs, 1);
    s_inc1(&p->c.tx_bytes, bytes);
}

void hb_plugin_finished(hb_plugin *p, const char *removed_reason)
{
    hb_pool *pool = p->pool;
    if (p->finished) return;
    p->finished = true;
    p->removed_reason = removed_reason ? removed_reason : "removed";
    if (atomic_load(&pool->dead)) return; /* destroy: no events, the registry frees it */
    s_loop *lp = p->lp;
    p->fin_next = NULL;
    if (lp->fin_tail)
        lp->fin_tail->fin_next = p;
    else
        lp->fin_head = p;
    lp->fin_tail = p;
    hb__timer_arm(&lp->reaper, 0);
}

void hb_plugin_kick(hb_plugin *p)
{
    if (atomic_exchange(&p->kick_pending, true)) return;
    s_ref(p);
    hb__loop_notify(p->lp->loop, &p->kick_note);
}

static void s_post_run(void *a, void *b, void *c, bool cancelled)
{
    hb_plugin *p = a;
    hb_post_fn fn = (hb_post_fn)(uintptr_t)b;
    fn(p, c, cancelled);
    s_unref(p);
}

int hb_plugin_post(hb_plugin *p, hb_post_fn fn, void *arg)
{
    s_ref(p);
    int rc = hb__loop_post(p->lp->loop, s_post_run, p, (void *)(uintptr_t)fn, arg);
    if (rc) s_unref(p);
    return rc;
}

hb_timer *hb_timer_new(hb_plugin *p, hb_timer_fn fn, void *ud)
{
    hb_timer *t = malloc(sizeof(*t));
    if (t) hb__timer_init(&t->t, p->lp->loop, fn, ud);
    return t;
}

void hb_timer_arm(hb_timer *t, uint64_t delay_ns)
{
    hb__timer_arm(&t->t, delay_ns);
}

void hb_timer_cancel(hb_timer *t)
{
    hb__timer_cancel(&t->t);
}

bool hb_timer_armed(const hb_timer *t)
{
    return t->t.armed;
}

void hb_timer_free(hb_timer **t)
{
    if (!*t) return;
    hb__timer_cancel(&(*t)->t);
    free(*t);
    *t = NULL;
}

/* ---- the dialer: hb_conn over the transport's hb__conn (loop thread) ------ */

/*
 * The public hb_conn wraps one transport connection with the owner's ops:
 * the transport knows no plugin or worker type (layering: transport <-
 * pool), and the pool maps a peer's config onto the transport's plain dial
 * parameters. The wrapper lives from hb_conn_dial to the owner's terminal
 * callback or hb_conn_close.
 */
struct hb_conn {
    hb__conn *t;
    const hb_conn_ops *ops;
    void *ud;
    hb_conn_end end;
};

static void s_c_open(void *ud, hb__conn *t)
{
    hb_conn *c = ud;
    c->ops->on_open(c->ud, c);
}

static void s_c_failed(void *ud, hb__conn *t, const char *error)
{
    hb_conn *c = ud;
    c->ops->on_dial_failed(c->ud, c, error);
    free(c);
}

static void s_c_data(void *ud, hb__conn *t, const void *d, size_t n, bool first, bool final,
                     bool binary)
{
    hb_conn *c = ud;
    c->ops->on_data(c->ud, c, d, n, first, final, binary);
}

static void s_c_pong(void *ud, hb__conn *t)
{
    hb_conn *c = ud;
    c->ops->on_pong(c->ud, c);
}

static int s_c_writable(void *ud, hb__conn *t)
{
    hb_conn *c = ud;
    return c->ops->on_writable(c->ud, c);
}

static void s_c_closed(void *ud, hb__conn *t, hb__conn_end why, int code, const char *text)
{
    hb_conn *c = ud;
    switch (why) {
    case HB__CONN_PEER_CLOSE:
        c->end = HB_CONN_END_PEER_CLOSE;
        break;
    case HB__CONN_PROTOCOL_ERROR:
        c->end = HB_CONN_END_PROTOCOL_ERROR;
        break;
    case HB__CONN_TOO_LARGE:
        c->end = HB_CONN_END_TOO_LARGE;
        break;
    case HB__CONN_INVALID_UTF8:
        c->end = HB_CONN_END_INVALID_UTF8;
        break;
    default:
        c->end = HB_CONN_END_LOST;
        break;
    }
    c->ops->on_closed(c->ud, c, code, text);
    free(c);
}

static const hb__conn_ops s_conn_ops = {
    .on_open = s_c_open,
    .on_dial_failed = s_c_failed,
    .on_data = s_c_data,
    .on_pong = s_c_pong,
    .on_writable = s_c_writable,
    .on_closed = s_c_closed,
};

hb_conn *hb_conn_dial(hb_plugin *p, const hb_conn_ops *ops, void *ud, int *err)
{
    const hb_peer_cfg *cfg = &p->cfg;
    hb__ws_url u;
    int e = 0;
    hb_conn *c = NULL;
    char *host = NULL, *path = NULL;
    hb__ws_header *hdrs = NULL;
    if (!cfg->url || !hb__ws_url_parse(cfg->url, &u)) {
        e = HB_E_INVALID_URL;
        goto out;
    }
    host = strndup(cfg->url + u.host_off, u.host_len);
    const char *q = cfg->url + u.path_off;
    size_t ql = strlen(q);
    path = malloc(ql + 2);
    hdrs = cfg->n_headers ? calloc(cfg->n_headers, sizeof(*hdrs)) : NULL;
    c = calloc(1, sizeof(*c));
    if (!host || !path || (cfg->n_headers && !hdrs) || !c) {
        e = HB_E_NOMEM;
        goto out;
    }
    /* The request target always starts with '/' ("ws://h?q" is "/?q"). */
    snprintf(path, ql + 2, "%s%s", *q == '/' ? "" : "/", q);
    for (size_t i = 0; i < cfg->n_headers; i++)
        hdrs[i] = (hb__ws_header){cfg->headers[i].name, cfg->headers[i].value};
    if (u.tls && !p->memo) p->memo = hb__conn_memo_new(); /* no memory: no resumption */
    if (u.tls && !cfg->opts.tls.verify)
        HB_LOG(p->pool->logger, HB_LOG_WARN, cfg->id,
               "TLS certificate and host name NOT verified (tls.verify: false)");
    hb__conn_params cp = {
        .host = host,
        .port = u.port,
        .path = path,
        .tls = u.tls,
        .headers = hdrs,
        .n_headers = cfg->n_headers,
        .subprotocols = (const char *const *)cfg->subprotocols,
        .n_subprotocols = cfg->n_subprotocols,
        .user_agent = "honeybee/" HB_VERSION_STRING,
        .tls_profile = {cfg->opts.tls.ca_file, cfg->opts.tls.cert_file, cfg->opts.tls.key_file},
        .tls_verify = cfg->opts.tls.verify,
        .tls_memo = p->memo,
        .connect_timeout_ns = cfg->opts.connect_timeout_ns,
        .max_message_size = cfg->opts.max_message_size,
        .public_only = cfg->public_only,
        .owner = p,
    };
    c->ops = ops;
    c->ud = ud;
    c->t = hb__conn_dial(p->lp->loop, &cp, &s_conn_ops, c, &e);
out:
    free(host);
    free(path);
    free(hdrs);
    if (e || !c || !c->t) {
        free(c);
        c = NULL;
        if (!e) e = HB_E_NOMEM;
    }
    if (err) *err = e;
    return c;
}

hb_conn_end hb_conn_end_cause(const hb_conn *c)
{
    return c->end;
}

size_t hb_conn_rx_remaining(hb_conn *c)
{
    uint64_t n = hb__conn_frame_left(c->t);
    return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
}

uint64_t hb_conn_rx_time(const hb_conn *c)
{
    return hb__conn_rx_time(c->t);
}

size_t hb_conn_headroom(void)
{
    return HB__CONN_HEADROOM;
}

int hb_conn_write(hb_conn *c, unsigned char *buf, size_t len, hb_conn_msg kind)
{
    return hb__conn_write(c->t, buf, len, (hb__conn_msg)kind);
}

void hb_conn_want_write(hb_conn *c)
{
    hb__conn_want_write(c->t);
}

void hb_conn_rx(hb_conn *c, bool enable)
{
    hb__conn_rx(c->t, enable);
}

void hb_conn_close(hb_conn *c, int code, const char *reason)
{
    if (!c) return;
    hb__conn_close(c->t, code, reason);
    free(c);
}

/* ---- the pool ---------------------------------------------------------------- */

static uint32_t s_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    uint32_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') n++;
    closedir(d);
    return n ? n - 1 : 0; /* the DIR's own fd */
}

static int s_default_factory(void *ud, hb_plugin *p, hb_worker **out)
{
    return hb_session_new(p, NULL, out);
}

int hb_pool_new(const hb_pool_config *cfg, hb_pool **out)
{
    if (!cfg || !out || !cfg->sink.inbox || !cfg->sink.event) return HB_E_INVALID;
    if (cfg->factory && !cfg->factory->create) return HB_E_INVALID;
    hb_pool *pool = calloc(1, sizeof(*pool));
    if (!pool) return HB_E_NOMEM;
    pool->sink = cfg->sink;
    pool->logger = cfg->logger;
    pool->factory = cfg->factory ? *cfg->factory : (hb_worker_factory){s_default_factory, NULL};
    pool->max_peers = cfg->max_peers;
    pool->nbuckets = 64;
    pool->buckets = calloc(pool->nbuckets, sizeof(*pool->buckets));
    /* Writers first: connect/remove and the loop thread's reaper must not
     * starve behind a steady stream of senders holding the read side. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&pool->reg, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&pool->wmu, NULL);
    pthread_mutex_init(&pool->shut_mu, NULL);
    pthread_cond_init(&pool->wcond, NULL);
    pool->n_loops = cfg->loops ? cfg->loops : 1;
    if (pool->n_loops > HB_POOL_MAX_LOOPS) pool->n_loops = HB_POOL_MAX_LOOPS;
    pool->loops = calloc(pool->n_loops, sizeof(*pool->loops));
    if (!pool->buckets || !pool->loops) {
        free(pool->buckets);
        free(pool->loops);
        free(pool);
        return HB_E_NOMEM;
    }

    /* The budget of descriptors is the soft limit as the program set it:
     * the library never changes a process-wide limit (the daemon raises it
     * at start, before this). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) pool->fd_limit = rl.rlim_cur;
    pool->base_fds = s_count_fds();

    /* Each loop gets its own doorway, resolvers and dial slots; the dial
     * slots are split so that max_handshakes stays the process's bound
     * (every loop needs one: with fewer slots than loops, the bound is
     * the number of loops). */
    uint32_t hs = cfg->max_handshakes ? cfg->max_handshakes : 128;
    hs = hs / pool->n_loops ? hs / pool->n_loops : 1;
    for (uint32_t i = 0; i < pool->n_loops; i++) {
        s_loop *lp = &pool->loops[i];
        lp->pool = pool;
        lp->idx = i;
        lp->resume_note.fn = s_on_resume;
        hb__loop_cfg lc = {.logger = cfg->logger,
                           .command_queue = cfg->command_queue,
                           .resolver_threads = cfg->resolver_threads,
                           .max_handshakes = hs,
                           .on_exit = s_on_loop_exit,
                           .after_turn = cfg->sink.flush ? s_after_turn : NULL,
                           .ud = lp};
        int rc = hb__loop_new(&lc, &lp->loop);
        if (rc) {
            while (i--) hb__loop_free(&pool->loops[i].loop);
            pthread_rwlock_destroy(&pool->reg);
            free(pool->loops);
            free(pool->buckets);
            free(pool);
            return rc;
        }
        hb__timer_init(&lp->reaper, lp->loop, s_reap, lp);
    }
    *out = pool;
    return 0;
}

static bool s_opts_valid(const hb_peer_opts *o)
{
    const hb_reconnect_cfg *r = &o->reconnect;
    if (!o->connect_timeout_ns || !o->write_timeout_ns) return false;
    if (!r->initial_delay_ns || !r->max_delay_ns || !(r->multiplier >= 1.0)) return false;
    if (!(r->jitter >= 0.0 && r->jitter <= 1.0)) return false;
    if (!o->send_queue || !o->max_message_size || o->max_message_size > (2ull << 30)) return false;
    return true;
}

/* Would one more peer take us too close to the open-file limit? */
static bool s_fd_exhausted(hb_pool *pool, uint32_t n_peers)
{
    if (!pool->fd_limit || pool->fd_limit == RLIM_INFINITY) return false;
    uint64_t live = 0;
    for (uint32_t i = 0; i < pool->n_loops; i++) live += hb__loop_live_conns(pool->loops[i].loop);
    uint64_t est = pool->base_fds + (live > n_peers ? live : n_peers) + 1;
    if (est + S_FD_SPARE * 4 < pool->fd_limit) return false;
    /* Close to the edge: count for real (the estimate misses other users). */
    uint64_t open = s_count_fds();
    uint64_t pending = n_peers > live ? n_peers - live : 0;
    return open + pending + 1 + S_FD_SPARE > pool->fd_limit;
}

int hb_pool_connect(hb_pool *pool, const hb_peer_cfg *peer)
{
    if (!pool || !peer || !peer->id) return HB_E_BAD_REQUEST;
    pthread_rwlock_rdlock(&pool->reg);
    bool down = pool->shutting_down;
    pthread_rwlock_unlock(&pool->reg);
    if (down) return HB_E_SHUTTING_DOWN;
    size_t id_len = strlen(peer->id);
    if (!hb_peer_id_valid(peer->id, id_len)) return HB_E_BAD_REQUEST;
    if (!peer->url || !hb__ws_url_parse(peer->url, NULL)) return HB_E_INVALID_URL;
    if (!s_opts_valid(&peer->opts)) return HB_E_INVALID_OPTION;

    hb_plugin *p = calloc(1, sizeof(*p));
    if (!p) return HB_E_NOMEM;
    if (hb_peer_cfg_copy(&p->cfg, peer) != 0) {
        free(p);
        return HB_E_NOMEM;
    }
    p->pool = pool;
    p->lp = &pool->loops[hb__loop_of(peer->id, id_len, pool->n_loops)];
    p->id_len = id_len;
    atomic_init(&p->refs, 1);
    pthread_mutex_init(&p->qmu, NULL);
    p->start_note.fn = s_on_start;
    p->stop_note.fn = s_on_stop;
    p->kick_note.fn = s_on_kick;

    pthread_rwlock_wrlock(&pool->reg);
    int rc = 0;
    if (pool->shutting_down)
        rc = HB_E_SHUTTING_DOWN;
    else if (s_find(pool, peer->id, id_len))
        rc = HB_E_PEER_EXISTS;
    else if (pool->max_peers && pool->n_peers >= pool->max_peers)
        rc = HB_E_PEER_LIMIT;
    else if (s_fd_exhausted(pool, pool->n_peers))
        rc = HB_E_FD_LIMIT;
    else
        rc = pool->factory.create(pool->factory.ud, p, &p->worker);
    if (rc == 0 && !p->worker) rc = HB_E_INTERNAL;
    if (rc) {
        pthread_rwlock_unlock(&pool->reg);
        p->worker = NULL;
        s_unref(p);
        return rc;
    }
    p->worker->plugin = p;
    s_insert(pool, p);
    atomic_fetch_add_explicit(&p->lp->n_peers, 1, memory_order_relaxed);
    /* `added` goes out before the start note, both under the lock, so no
     * other event of this peer can precede it and a remove cannot overtake. */
    s_emit(pool, hb_event_new(HB_EV_ADDED, p->cfg.id, p->cfg.url, NULL, NULL));
    s_ref(p);
    /* Logged under the lock: once it is released the peer may be removed and
     * reaped by the loop thread at any moment. */
    HB_LOG(pool->logger, HB_LOG_DEBUG, p->cfg.id, "added %s", p->cfg.url);
    hb__loop_notify(p->lp->loop, &p->start_note);
    pthread_rwlock_unlock(&pool->reg);
    return 0;
}

int hb_pool_remove(hb_pool *pool, const char *id)
{
    if (!id) return HB_E_UNKNOWN_PEER;
    pthread_rwlock_wrlock(&pool->reg);
    int rc = 0;
    hb_plugin *p = pool->shutting_down ? NULL : s_find(pool, id, strlen(id));
    if (pool->shutting_down)
        rc = HB_E_SHUTTING_DOWN;
    else if (!p || p->removing)
        rc = HB_E_UNKNOWN_PEER;
    else {
        p->removing = true;
        s_ref(p);
        hb__loop_notify(p->lp->loop, &p->stop_note);
    }
    pthread_rwlock_unlock(&pool->reg);
    return rc;
}

static void s_count_refusal(hb_plugin *p, int err)
{
    int r = hb_send_fail_from_err(err);
    if (r >= 0) s_inc(&p->c.sf[r], 1);
}

/* Any thread, no lock held; the caller holds a reference on p. `utf8` is
 * the payload's validity, computed once by the caller (ignored for binary).
 * p->removing is read without the lock on purpose: a remove that races with
 * the send is decided by the worker (it stops accepting). */
/* Room for the byte totals of `need` counts in the ring (qmu held).
 * False on ENOMEM. */
static bool s_qsum_reserve(hb_plugin *p, uint64_t need)
{
    if (need <= p->qcap) return true;
    uint64_t cap = p->qcap ? p->qcap : 8;
    while (cap < need) cap *= 2;
    uint64_t max = (uint64_t)p->cfg.opts.send_queue + 2;
    if (cap > max) cap = max < need ? need : max;
    uint64_t *v = malloc(cap * sizeof(*v));
    if (!v) return false;
    /* Move the totals still needed: counts qn - (qcap-1) .. qn. */
    uint64_t first = p->qcap && p->qn >= p->qcap ? p->qn - (p->qcap - 1) : 0;
    for (uint64_t c = first; p->qcap && c <= p->qn; c++) v[c % cap] = p->qsum[c % p->qcap];
    if (!p->qcap) v[0] = 0;
    free(p->qsum);
    p->qsum = v;
    p->qcap = (uint32_t)cap;
    return true;
}

/* Any thread, no lock held; the caller holds a reference on p. `utf8` is
 * the payload's validity, computed once by the caller (ignored for binary).
 * p->removing is read without the lock on purpose: a remove that races with
 * the send is decided by the worker (it stops accepting). The byte bound
 * (send_queue_bytes; 0 = none, for options built in code) is checked
 * here, from the worker's queue depth (see qsum); an empty queue takes one
 * message whatever its size. */
static int s_send_one(hb_plugin *p, const void *data, size_t len, hb_msg_type type, bool utf8)
{
    int rc;
    if (len > p->cfg.opts.max_message_size) {
        rc = HB_E_TOO_LARGE;
    } else if (type == HB_MSG_TEXT && !utf8) {
        rc = HB_E_BAD_REQUEST;
    } else {
        pthread_mutex_lock(&p->qmu);
        hb_worker_stats ws;
        memset(&ws, 0, sizeof(ws));
        p->worker->ops->stats(p->worker, &ws);
        uint64_t depth = ws.send_queue_depth;
        if (depth > p->qn) depth = p->qn;
        rc = 0;
        if (!s_qsum_reserve(p, depth + 2)) {
            rc = HB_E_NOMEM;
        } else if (depth && p->cfg.opts.send_queue_bytes) {
            uint64_t queued = p->qsum[p->qn % p->qcap] - p->qsum[(p->qn - depth) % p->qcap];
            if (queued + len > p->cfg.opts.send_queue_bytes) rc = HB_E_QUEUE_FULL;
        }
        if (rc == 0)
            rc = p->worker->ops->send(p->worker, data, len, type == HB_MSG_BINARY || !utf8);
        if (rc == 0) {
            uint64_t total = p->qsum[p->qn % p->qcap] + len;
            p->qn++;
            p->qsum[p->qn % p->qcap] = total;
        }
        pthread_mutex_unlock(&p->qmu);
    }
    if (rc) s_count_refusal(p, rc);
    return rc;
}

int hb_pool_send(hb_pool *pool, const char *id, const void *data, size_t len, hb_msg_type type)
{
    if (!id || (!data && len)) return HB_E_BAD_REQUEST;
    /* Validate before taking the lock: up to max_message_size of work. */
    bool utf8 = type != HB_MSG_BINARY && hb__utf8_valid(data, len);
    pthread_rwlock_rdlock(&pool->reg);
    int rc = 0;
    hb_plugin *p = NULL;
    if (pool->shutting_down)
        rc = HB_E_SHUTTING_DOWN;
    else if (!(p = s_find(pool, id, strlen(id)))) {
        rc = HB_E_UNKNOWN_PEER;
        s_inc(&pool->extra_sf[HB_SF_UNKNOWN_PEER], 1);
    } else if (p->removing) {
        rc = HB_E_NOT_CONNECTED;
        s_count_refusal(p, rc);
        p = NULL;
    } else
        s_ref(p);
    pthread_rwlock_unlock(&pool->reg);
    if (!p) return rc;
    rc = s_send_one(p, data, len, type, utf8);
    s_unref(p);
    return rc;
}

int hb_pool_broadcast_ex(hb_pool *pool, const void *data, size_t len, hb_msg_type type,
                         hb_refusal_fn on_refused, void *ud)
{
    if (!data && len) return -HB_E_BAD_REQUEST;
    bool utf8 = type != HB_MSG_BINARY && hb__utf8_valid(data, len);
    /* Under the lock: collect the connected peers with a reference each;
     * the copies into their queues happen after it is released. */
    pthread_rwlock_rdlock(&pool->reg);
    if (pool->shutting_down) {
        pthread_rwlock_unlock(&pool->reg);
        return -HB_E_SHUTTING_DOWN;
    }
    hb_plugin **to = pool->n_peers ? malloc(pool->n_peers * sizeof(*to)) : NULL;
    size_t k = 0;
    for (size_t i = 0; to && i < pool->nbuckets; i++)
        for (hb_plugin *p = pool->buckets[i]; p && k < pool->n_peers; p = p->hnext) {
            hb_worker_stats ws;
            p->worker->ops->stats(p->worker, &ws);
            if (ws.state != HB_STATE_CONNECTED || p->removing) continue;
            s_ref(p);
            to[k++] = p;
        }
    pthread_rwlock_unlock(&pool->reg);
    int n = 0;
    for (size_t i = 0; i < k; i++) {
        int rc = s_send_one(to[i], data, len, type, utf8);
        if (rc == 0)
            n++;
        else if (on_refused)
            on_refused(ud, to[i]->cfg.id, rc);
        s_unref(to[i]);
    }
    free(to);
    return k ? n : -HB_E_NOT_CONNECTED;
}

int hb_pool_broadcast(hb_pool *pool, const void *data, size_t len, hb_msg_type type)
{
    int n = hb_pool_broadcast_ex(pool, data, len, type, NULL, NULL);
    return n == -HB_E_NOT_CONNECTED ? 0 : n;
}

void hb_pool_count_send_failed(hb_pool *pool, int reason)
{
    int r = hb_send_fail_from_err(reason);
    if (r >= 0) s_inc(&pool->extra_sf[r], 1);
}

void hb_pool_resume_reading(hb_pool *pool)
{
    for (uint32_t i = 0; i < pool->n_loops; i++) {
        s_loop *lp = &pool->loops[i];
        if (atomic_exchange(&lp->resume_pending, true)) continue;
        hb__loop_notify(lp->loop, &lp->resume_note);
    }
}

/* reg held. */
static void s_info(hb_plugin *p, hb_peer_info *out, bool dup_url)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%s", p->cfg.id);
    out->url = dup_url ? strdup(p->cfg.url) : NULL;
    hb_worker_stats ws = {0};
    p->worker->ops->stats(p->worker, &ws);
    out->state = ws.state;
    out->connected_at_ns = ws.connected_at_ns;
    out->attempt = ws.attempt;
    out->send_queue_depth = ws.send_queue_depth;
    out->conn = atomic_load_explicit(&p->conn_pub, memory_order_relaxed);
    out->seq = s_ld(&p->seq_pub);
    out->paused = atomic_load_explicit(&p->paused_pub, memory_order_relaxed);
    out->loop = p->lp->idx;
    s_counters_get(p, &out->counters);
}

int hb_pool_stats_get(hb_pool *pool, hb_pool_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_rwlock_rdlock(&pool->reg);
    out->totals = pool->removed_totals;
    for (size_t i = 0; i < pool->nbuckets; i++)
        for (hb_plugin *p = pool->buckets[i]; p; p = p->hnext) {
            hb_worker_stats ws = {0};
            p->worker->ops->stats(p->worker, &ws);
            if ((unsigned)ws.state < HB_STATE__COUNT) out->peers[ws.state]++;
            hb_counters c;
            s_counters_get(p, &c);
            s_counters_add(&out->totals, &c);
        }
    out->n_peers = pool->n_peers;
    pthread_rwlock_unlock(&pool->reg);
    out->loops = pool->n_loops;
    for (uint32_t i = 0; i < pool->n_loops; i++)
        out->loop_peers[i] = atomic_load_explicit(&pool->loops[i].n_peers, memory_order_relaxed);
    for (int i = 0; i < HB_SF__COUNT; i++) out->totals.send_failed[i] += s_ld(&pool->extra_sf[i]);
    return 0;
}

int hb_pool_peer_info(hb_pool *pool, const char *id, hb_peer_info *out)
{
    if (!id) return HB_E_UNKNOWN_PEER;
    pthread_rwlock_rdlock(&pool->reg);
    hb_plugin *p = s_find(pool, id, strlen(id));
    if (p) s_info(p, out, true);
    pthread_rwlock_unlock(&pool->reg);
    return p ? 0 : HB_E_UNKNOWN_PEER;
}

static int s_cmp_info(const void *a, const void *b)
{
    return strcmp(((const hb_peer_info *)a)->id, ((const hb_peer_info *)b)->id);
}

int hb_pool_list(hb_pool *pool, hb_peer_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_rwlock_rdlock(&pool->reg);
    size_t cnt = pool->n_peers, k = 0;
    hb_peer_info *arr = cnt ? calloc(cnt, sizeof(*arr)) : NULL;
    if (cnt && !arr) {
        pthread_rwlock_unlock(&pool->reg);
        return HB_E_NOMEM;
    }
    for (size_t i = 0; i < pool->nbuckets; i++)
        for (hb_plugin *p = pool->buckets[i]; p && k < cnt; p = p->hnext)
            s_info(p, &arr[k++], true);
    pthread_rwlock_unlock(&pool->reg);
    if (k) qsort(arr, k, sizeof(*arr), s_cmp_info); /* qsort(NULL, 0) is UB */
    *out = arr;
    *n = k;
    return 0;
}

void hb_peer_list_free(hb_peer_info *list, size_t n)
{
    if (!list) return;
    for (size_t i = 0; i < n; i++) free(list[i].url);
    free(list);
}

int hb_pool_peer_config(hb_pool *pool, const char *id, hb_peer_cfg *out)
{
    if (!id) return HB_E_UNKNOWN_PEER;
    pthread_rwlock_rdlock(&pool->reg);
    hb_plugin *p = s_find(pool, id, strlen(id));
    int rc = p ? hb_peer_cfg_copy(out, &p->cfg) : HB_E_UNKNOWN_PEER;
    pthread_rwlock_unlock(&pool->reg);
    return rc;
}

int hb_pool_shutdown(hb_pool *pool, uint64_t drain_ns)
{
    for (uint32_t i = 0; i < pool->n_loops; i++)
        if (hb__loop_on_thread(pool->loops[i].loop)) return HB_E_INVALID;
    uint64_t now = hb__mono_ns();
    pthread_rwlock_wrlock(&pool->reg);
    bool first = !pool->shutting_down;
    pool->shutting_down = true;
    pthread_rwlock_unlock(&pool->reg);
    /* Every loop gets its shutdown once; a call that gave up on a full
     * doorway (HB_E_BUSY) leaves the rest to the next call. */
    pthread_mutex_lock(&pool->shut_mu);
    if (first) pool->drain_deadline = now + drain_ns; /* read on the loops after the posts */
    for (uint32_t i = 0; i < pool->n_loops; i++) {
        s_loop *lp = &pool->loops[i];
        while (!lp->shutdown_posted) {
            if (hb__loop_post(lp->loop, s_on_shutdown, lp, NULL, NULL) == 0) {
                lp->shutdown_posted = true;
                break;
            }
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            if (hb__mono_ns() > now + drain_ns + 2000000000ull) {
                pthread_mutex_unlock(&pool->shut_mu);
                return HB_E_BUSY;
            }
        }
    }
    pthread_mutex_unlock(&pool->shut_mu);
    uint64_t deadline = now + drain_ns + 2000000000ull;
    struct timespec abs;
    clock_gettime(CLOCK_REALTIME, &abs);
    uint64_t wall = (uint64_t)abs.tv_sec * 1000000000ull + (uint64_t)abs.tv_nsec + (deadline - now);
    abs.tv_sec = (time_t)(wall / 1000000000ull);
    abs.tv_nsec = (long)(wall % 1000000000ull);
    int rc = 0;
    pthread_mutex_lock(&pool->wmu);
    for (;;) {
        pthread_rwlock_rdlock(&pool->reg);
        uint32_t left = pool->n_peers;
        pthread_rwlock_unlock(&pool->reg);
        if (!left) break;
        if (pthread_cond_timedwait(&pool->wcond, &pool->wmu, &abs) == ETIMEDOUT) {
            pthread_rwlock_rdlock(&pool->reg);
            left = pool->n_peers;
            pthread_rwlock_unlock(&pool->reg);
            rc = left ? HB_E_BUSY : 0;
            break;
        }
    }
    pthread_mutex_unlock(&pool->wmu);
    return rc;
}

/* The oldest turn of all loops: one stalled loop makes /healthz fail. */
uint64_t hb_pool_loop_heartbeat(hb_pool *pool)
{
    uint64_t min = UINT64_MAX;
    for (uint32_t i = 0; i < pool->n_loops; i++) {
        uint64_t h = hb__loop_heartbeat(pool->loops[i].loop);
        if (h < min) min = h;
    }
    return min;
}

uint32_t hb_pool_loops(hb_pool *pool)
{
    return pool->n_loops;
}

void hb_pool_destroy(hb_pool **pp)
{
    hb_pool *pool = pp ? *pp : NULL;
    if (!pool) return;
    *pp = NULL;
    /* Stops workers (DESTROY) on each loop thread, then frees lws. A copy
     * of the pointer: a loop thread reads its lp->loop until it is joined. */
    for (uint32_t i = 0; i < pool->n_loops; i++) {
        hb__loop *loop = pool->loops[i].loop;
        hb__loop_free(&loop);
    }
    atomic_store(&pool->dead, true);
    for (size_t i = 0; i < pool->nbuckets; i++)
        for (hb_plugin *p = pool->buckets[i], *nx; p; p = nx) {
            nx = p->hnext;
            s_unref(p);
        }
    free(pool->buckets);
    pthread_rwlock_destroy(&pool->reg);
    pthread_mutex_destroy(&pool->wmu);
    pthread_mutex_destroy(&pool->shut_mu);
    pthread_cond_destroy(&pool->wcond);
    free(pool->loops);
    free(pool);
}

/* destroy is near (the daemon's exit): each loop is told, so that its
 * hb__loop_free takes the fast teardown (loop.c). */
void hb__pool_exiting(hb_pool *pool)
{
    for (uint32_t i = 0; i < pool->n_loops; i++) hb__loop_exiting(pool->loops[i].loop);
}

/* Sums over the loops (tests, stats). Any thread. */
uint32_t hb__pool_tls_profiles(hb_pool *pool)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < pool->n_loops; i++)
        n += hb__tls_cache_count(hb__loop_tls(pool->loops[i].loop));
    return n;
}

uint32_t hb__pool_dials_in_flight(hb_pool *pool)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < pool->n_loops; i++) n += hb__loop_slots_busy(pool->loops[i].loop);
    return n;
}

uint32_t hb__pool_dials_waiting(hb_pool *pool)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < pool->n_loops; i++) n += hb__loop_slots_waiting(pool->loops[i].loop);
    return n;
}

uint32_t hb__pool_tls_trims(hb_pool *pool)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < pool->n_loops; i++) n += hb__loop_tls_trims(pool->loops[i].loop);
    return n;
}
