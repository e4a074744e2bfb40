/*
 * bridge.c: the bridge thread, and the inbox publishing it lends the loop
 * thread.
 *
 * Threads. The bridge thread (s_run) creates the ZeroMQ context and binds
 * the four sockets; it keeps the events PUB, the send PULL and the control
 * REP for good. The inbox PUB is the exception: it is published from the
 * pool's loop thread, which collects the messages of one loop turn in the
 * sink (s_sink_inbox) and publishes them in one burst at the end of the
 * turn (s_flush), so a message goes from lws's receive buffer to ZeroMQ on
 * the thread that read it, with no queue, no wake-up and no second thread
 * on its way. That socket is owned by whoever holds `in_mu`: the bridge
 * thread when it binds and closes it, the loop thread for every burst in
 * between (the mutex is uncontended then, as only the bind and the close
 * take it from another thread; it is also the memory barrier ZeroMQ asks
 * for when a socket moves between threads). The hand-off it replaced (a
 * bounded list drained by the bridge thread) cost a lock, a cross-thread
 * free and a thread wake-up per batch, and was the largest part of what the
 * bridge added per message (docs/performance.md).
 *
 * Events still cross threads: the loop thread, or a pool caller's thread
 * (send_failed of a pool call), appends them to an intrusive list under
 * `mu` and writes the eventfd only when the bridge thread is not already
 * draining (`awake` false): one wake-up per batch. The bridge thread waits
 * in zmq_poll on the eventfd, the PULL and the REP socket, takes the whole
 * list at once and publishes it, and takes again until it finds it empty:
 * only then, under `mu`, does it clear `awake`, so a producer that appends
 * after that sees `awake` false and writes the eventfd (no lost wake-up),
 * and one that appends before it is picked up by the re-check.
 *
 * Bounds. Nothing waits between a peer and the inbox socket but one turn's
 * burst (at most HB_INBOX_BURST): a PUB socket never blocks, so the loop
 * thread reads on only after the last burst is with ZeroMQ, and a flood is
 * pushed back on by TCP at the rate the loop thread can publish. The events
 * list holds at most bridge.events_queue events; beyond that an event is
 * counted in events_dropped and logged (lifecycle events are rare: only a
 * stuck bridge thread can fill it). The only place a message can be lost
 * is ZeroMQ's SNDHWM per subscriber on the PUB sockets; `seq` shows those
 * gaps to the subscriber. Every socket has a ZMQ_MAXMSGSIZE (PUB sockets:
 * S_SUB_MAXMSG, the largest subscription a client may send) and the PULL
 * socket a bounded ZMQ_RCVHWM (s_send_rcvhwm), so no client can make the
 * bridge buffer without bound (docs/operations.md, "Memory").
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <zmq.h>

#include "bridge/bridge.h"
#include "core/clock.h"
#include "core/tsan.h"
#include "core/utf8.h"

/* ThreadSanitizer cannot see the happens-before that libzmq's pipe gives
 * between the loop thread handing a zero-copy message to zmq_msg_send and
 * libzmq's I/O thread calling s_free_msg for it (libzmq is not
 * instrumented). Without these annotations every zero-copy message is a
 * race report that tests/tsan.supp then suppresses, and TSan's report
 * bookkeeping grew the bridge by ~35 MiB in test_bridge_backpressure.
 * They compile to nothing outside TSan builds. */
#ifdef HB_TSAN
#include <sanitizer/tsan_interface.h>
#define S_HANDED_TO_ZMQ(m)      __tsan_release(m)
#define S_HANDED_BACK_BY_ZMQ(m) __tsan_acquire(m)
#else
#define S_HANDED_TO_ZMQ(m)      ((void)(m))
#define S_HANDED_BACK_BY_ZMQ(m) ((void)(m))
#endif

/* Payloads at least this big go to ZeroMQ zero-copy: the frame points into
 * the received message, which ZeroMQ hands back (s_free_msg) when the last
 * subscriber has it. Smaller ones fit inside a zmq_msg_t (ZeroMQ's "very
 * small message", 33 bytes on 64-bit) and are copied with no allocation. */
#define S_ZEROCOPY_MIN 34
/* Messages read from the PULL socket per turn, so control stays responsive. */
#define S_SEND_BATCH 256
/* Poll timeout: also the heartbeat period of the bridge thread. */
#define S_POLL_MS 250
/* Hand-off batches published per turn before control and send get a look. */
#define S_DRAIN_ROUNDS 8
/* ZMQ_MAXMSGSIZE of the PUB sockets: the only inbound messages there are
 * (un)subscriptions, a flag byte and a topic; an inbox topic is a peer id
 * (at most 128 bytes), an events topic a kind. */
#define S_SUB_MAXMSG 4096
/* Budget for the send PULL's receive queue: ZMQ_RCVHWM is this divided by
 * the largest message size, within [S_SEND_HWM_MIN, S_SEND_HWM_MAX]. */
#define S_SEND_BUDGET  (256ull << 20)
#define S_SEND_HWM_MIN 16
#define S_SEND_HWM_MAX 1000
/* Floor of the sockets' linger, so drain_timeout 0 still flushes the PUBs. */
#define S_LINGER_MIN_MS 250

/* A reload reconnect (one per id: the newest replaces an older one), or,
 * on the `failed` list, the id of one whose connect failed. */
typedef struct s_pending {
    struct s_pending *next;
    hb_peer_cfg peer;
    bool cancelled; /* a tombstone: only peer.id is set; drops older entries */
} s_pending;

struct hb_bridge {
    hb_bridge_cfg cfg; /* strings borrowed from the hb_config (outlives us) */
    const hb_peer_opts *defaults;
    uint64_t max_msg;
    const hb_logger *lg;
    hb_pool *pool; /* set before the thread starts */
    int efd;       /* eventfd: sink and commands -> bridge thread */

    /* The inbox PUB and what is counted with it: owned by the holder of
     * in_mu (see the top of this file). */
    pthread_mutex_t in_mu;
    void *in_sock; /* NULL before the bind and after the close */
    /* Written by the in_mu holder, read anywhere (metrics): */
    _Atomic uint64_t in_published; /* messages written to in_sock */
    _Atomic uint64_t in_closed;    /* messages that came after the close (shutdown) */
    /* Zero-copy messages ZeroMQ is done with: pushed by s_free_msg on
     * ZeroMQ's I/O thread, freed in batches by s_reclaim on the loop thread
     * that allocated them (see s_free_msg). Any thread pushes or takes. */
    _Atomic(hb_inbox_msg *) done;
    /* The burst being collected: the loop thread's alone (and destroy's,
     * once the pool is gone). At most HB_INBOX_BURST messages, published at
     * the end of the loop turn or when full, whichever comes first. */
    hb_inbox_msg *burst_head, *burst_tail;
    uint32_t burst_n;

    pthread_mutex_t mu; /* protects everything down to `pending` */
    pthread_cond_t cv;  /* start/ack hand-shakes with the main thread */
    hb_event *ev_head, *ev_tail;
    uint32_t ev_n;
    bool awake; /* the bridge thread will look at the list before it sleeps */
    bool cmd_stop_sends, ack_stop_sends;
    bool cmd_finish;
    bool started; /* the thread reported its bind result */
    int start_rc;
    char start_err[512];
    s_pending *pending;   /* reload: connect once the old peer is gone */
    s_pending *failed_rc; /* reload reconnects that failed, for the main thread */

    pthread_t thread;
    bool thread_running; /* main thread only */

    /* Written by the bridge thread, read anywhere. */
    _Atomic uint64_t heartbeat;
    _Atomic bool failed;
    _Atomic uint64_t c_events_published, c_events_dropped, c_send_received, c_control_requests;

    /* Bridge thread only. */
    void *zctx;
    void *s_events, *s_send, *s_control;
    bool sends_stopped;
    uint64_t next_pending_check;
};

/* ---- the sink: pool threads ---------------------------------------------- */

/* Any thread: a write to the eventfd (never blocks: the counter saturates
 * only after 2^64-2 wakes). */
static void s_wake(hb_bridge *b)
{
    uint64_t one = 1;
    ssize_t r = write(b->efd, &one, sizeof(one));
    (void)r; /* EAGAIN means the counter is already non-zero: awake anyway */
}

static bool s_publish_inbox(hb_bridge *b, void *sock, hb_inbox_msg *m);
static void s_reclaim(hb_bridge *b);

/*
 * Loop thread. Publish the burst collected since the end of the last turn,
 * under in_mu (the socket's owner). Publishing message by message, as they
 * are parsed, let ZeroMQ's I/O thread catch up after each one: it woke,
 * sent a few messages in one send(2) and slept again (~6 messages per
 * send at full speed, docs/performance.md); a burst gives it a read's
 * worth at once.
 */
static void s_flush(void *ud)
{
    hb_bridge *b = ud;
    /* Every turn, bursts or not: the loop turns at least twice a second
     * (its tick), so nothing ZeroMQ handed back waits longer than that, and
     * every message is freed on the thread that allocated it. */
    if (atomic_load_explicit(&b->done, memory_order_relaxed)) s_reclaim(b);
    hb_inbox_msg *m = b->burst_head;
    if (!m) return;
    b->burst_head = b->burst_tail = NULL;
    b->burst_n = 0;
    pthread_mutex_lock(&b->in_mu);
    uint64_t n = 0, lost = 0;
    while (m) {
        hb_inbox_msg *next = m->next;
        if (b->in_sock) {
            n += s_publish_inbox(b, b->in_sock, m);
        } else {
            /* The socket is closed (shutdown): only a peer still reading
             * after hb_pool_shutdown returned (its drain_timeout ran out)
             * gets here. Counted (metrics), logged at destroy. */
            lost++;
            hb_inbox_msg_free(m);
        }
        m = next;
    }
    pthread_mutex_unlock(&b->in_mu);
    if (n) atomic_fetch_add_explicit(&b->in_published, n, memory_order_relaxed);
    if (lost) atomic_fetch_add_explicit(&b->in_closed, lost, memory_order_relaxed);
}

/* Loop thread. Takes `m` into the burst; never pauses the pool: nothing
 * waits between a peer and the inbox socket but this burst, which is
 * published at the end of the loop turn at the latest (the pool calls
 * s_flush there), so the pool reads the next bytes only after the last
 * turn's messages are with ZeroMQ. */
static bool s_sink_inbox(void *ud, hb_inbox_msg *m)
{
    hb_bridge *b = ud;
    m->next = NULL;
    if (b->burst_tail)
        b->burst_tail->next = m;
    else
        b->burst_head = m;
    b->burst_tail = m;
    if (++b->burst_n >= HB_INBOX_BURST) s_flush(b);
    return true;
}

/* Loop thread or a pool caller's thread. Takes `e`. */
static void s_sink_event(void *ud, hb_event *e)
{
    hb_bridge *b = ud;
    e->next = NULL;
    pthread_mutex_lock(&b->mu);
    if (b->ev_n >= b->cfg.events_queue) {
        pthread_mutex_unlock(&b->mu);
        uint64_t n = atomic_fetch_add(&b->c_events_dropped, 1) + 1;
        /* Log the first and then every 1000th, not a line per event. */
        if (n == 1 || n % 1000 == 0)
            HB_LOG(b->lg, HB_LOG_WARN, e->id,
                   "events hand-off full (%" PRIu32 "): %s event dropped (%" PRIu64
                   " dropped so far)",
                   b->cfg.events_queue, hb_event_kind_name(e->kind), n);
        hb_event_free(e);
        return;
    }
    if (b->ev_tail)
        b->ev_tail->next = e;
    else
        b->ev_head = e;
    b->ev_tail = e;
    b->ev_n++;
    bool wake = !b->awake;
    b->awake = true;
    pthread_mutex_unlock(&b->mu);
    if (wake) s_wake(b);
}

hb_sink hb__bridge_sink(hb_bridge *b)
{
    hb_sink s = {.inbox = s_sink_inbox, .event = s_sink_event, .ud = b, .flush = s_flush};
    return s;
}

/* ---- publishing: loop thread --------------------------------------------- */

/*
 * The free function of a zero-copy frame: runs on ZeroMQ's I/O thread (or
 * on the thread that closes the frame when nobody subscribes). It does not
 * free: free(3) of a block the loop thread allocated takes the lock of the
 * loop thread's malloc arena, and with the loop thread allocating the next
 * messages at the same time, that lock was contended on every message
 * (~110,000 futex calls a second at full speed, docs/performance.md). It
 * pushes the message on the bridge's `done` stack (one CAS) instead, and
 * the loop thread frees the whole stack in one go (s_reclaim). While
 * ZeroMQ holds `m`, m->next carries the bridge (hb_inbox_msg.next is the
 * owner's to use).
 */
static void s_free_msg(void *data, void *hint)
{
    (void)data;
    hb_inbox_msg *m = hint;
    S_HANDED_BACK_BY_ZMQ(m);
    hb_bridge *b = (hb_bridge *)(void *)m->next;
    hb_inbox_msg *head = atomic_load_explicit(&b->done, memory_order_relaxed);
    do m->next = head;
    while (!atomic_compare_exchange_weak_explicit(&b->done, &head, m, memory_order_release,
                                                  memory_order_relaxed));
}

/* Free what ZeroMQ handed back. Loop thread at the end of every turn (the
 * stack is not empty), and destroy; taking the whole stack at once makes
 * any number of takers safe. */
static void s_reclaim(hb_bridge *b)
{
    hb_inbox_msg *m = atomic_exchange_explicit(&b->done, NULL, memory_order_acquire);
    while (m) {
        hb_inbox_msg *next = m->next;
        hb_inbox_msg_free(m);
        m = next;
    }
}

/* A frame holding a copy of p[0..n). 0, or -1 (ENOMEM) with `f` closed. */
static int s_frame_copy(zmq_msg_t *f, const void *p, size_t n)
{
    if (zmq_msg_init_size(f, n) != 0) return -1;
    if (n) memcpy(zmq_msg_data(f), p, n);
    return 0;
}

/*
 * Send three frames built beforehand, so that nothing can fail between
 * frame 0 and the last one except the send itself; a PUB socket with
 * ZMQ_DONTWAIT never refuses a part of a message at HWM (it drops whole
 * messages), so a send fails only on ETERM, where no half message matters.
 * Every frame is closed (sent or not). Returns 0 or -1 (errno set).
 */
static int s_send3(void *sock, zmq_msg_t f[3])
{
    int i = 0;
    for (; i < 3; i++)
        if (zmq_msg_send(&f[i], sock, ZMQ_DONTWAIT | (i < 2 ? ZMQ_SNDMORE : 0)) < 0) break;
    if (i == 3) return 0;
    int e = errno;
    for (; i < 3; i++) zmq_msg_close(&f[i]);
    errno = e;
    return -1;
}

/* Loop thread, holding in_mu. Takes `m`. Returns true once published. */
static bool s_publish_inbox(hb_bridge *b, void *sock, hb_inbox_msg *m)
{
    uint8_t meta[HB_META_LEN];
    hb__meta_encode(meta, m->flags, m->conn, m->seq, m->received_ns);
    zmq_msg_t f[3];
    if (s_frame_copy(&f[0], m->peer_id, m->peer_id_len) < 0) goto fail;
    if (s_frame_copy(&f[2], meta, sizeof(meta)) < 0) {
        zmq_msg_close(&f[0]);
        goto fail;
    }
    int rc;
    if (m->len >= S_ZEROCOPY_MIN) {
        /* ZeroMQ owns m from here: s_free_msg hands it back. */
        m->next = (hb_inbox_msg *)(void *)b;
        S_HANDED_TO_ZMQ(m);
        rc = zmq_msg_init_data(&f[1], m->data, m->len, s_free_msg, m);
    } else
        rc = s_frame_copy(&f[1], m->data, m->len);
    if (rc != 0) {
        zmq_msg_close(&f[0]);
        zmq_msg_close(&f[2]);
        goto fail;
    }
    if (m->len >= S_ZEROCOPY_MIN) m = NULL;
    rc = s_send3(sock, f);
    if (m) hb_inbox_msg_free(m);
    if (rc == 0) return true;
    m = NULL;
fail:
    /* ENOMEM, or ETERM at exit, after which nothing matters any more. */
    HB_LOG(b->lg, HB_LOG_ERROR, NULL, "inbox publish failed: %s", zmq_strerror(errno));
    if (m) hb_inbox_msg_free(m);
    return false;
}

/* The daemon's log of a peer's lifecycle, one info line per step (dial
 * failures are logged by the pool, send_failed only at debug: it can be a
 * flood). */
static void s_log_event(hb_bridge *b, const hb_event *e)
{
    switch (e->kind) {
    case HB_EV_ADDED:
        HB_LOG(b->lg, HB_LOG_INFO, e->id, "added (%s)", e->url ? e->url : "");
        break;
    case HB_EV_CONNECTED:
        HB_LOG(b->lg, HB_LOG_INFO, e->id, "connected (conn %" PRIu32 ", attempt %" PRIu32 ")",
               e->conn, e->attempt);
        break;
    case HB_EV_DISCONNECTED:
        HB_LOG(b->lg, HB_LOG_INFO, e->id, "disconnected: %s, code %d%s%s",
               e->reason ? e->reason : "?", e->code, e->error ? ": " : "",
               e->error ? e->error : "");
        break;
    case HB_EV_REMOVED:
        HB_LOG(b->lg, HB_LOG_INFO, e->id, "removed: %s", e->reason ? e->reason : "?");
        break;
    case HB_EV_SEND_FAILED:
        HB_LOG(b->lg, HB_LOG_DEBUG, e->id, "send_failed: %s", e->reason ? e->reason : "?");
        break;
    default:
        break;
    }
}

/* Bridge thread. Returns true once published. */
static bool s_publish_event(hb_bridge *b, const hb_event *e)
{
    s_log_event(b, e);
    char *json = hb__event_json(e);
    const char *kind = hb_event_kind_name(e->kind);
    const char *id = e->id ? e->id : "";
    zmq_msg_t f[3];
    bool ok = false;
    if (json && s_frame_copy(&f[0], kind, strlen(kind)) == 0) {
        if (s_frame_copy(&f[1], id, strlen(id)) != 0) {
            zmq_msg_close(&f[0]);
        } else if (s_frame_copy(&f[2], json, strlen(json)) != 0) {
            zmq_msg_close(&f[1]);
            zmq_msg_close(&f[0]);
        } else {
            ok = s_send3(b->s_events, f) == 0;
        }
    }
    if (!ok) HB_LOG(b->lg, HB_LOG_ERROR, id, "event publish failed: %s", zmq_strerror(errno));
    free(json);
    return ok;
}

/* Reload: connect every pending peer whose old self is gone from the pool.
 * Bridge thread. A connect that fails (fd_limit, out of memory...) moves
 * the entry to `failed`, so that the main thread forgets the peer as a file
 * peer and a later reload adds it again (hb__bridge_take_failed). */
static void s_check_pending(hb_bridge *b)
{
    pthread_mutex_lock(&b->mu);
    s_pending *list = b->pending;
    b->pending = NULL;
    pthread_mutex_unlock(&b->mu);
    s_pending *keep = NULL, *failed = NULL;
    while (list) {
        s_pending *p = list;
        list = p->next;
        if (p->cancelled) { /* it did its job when it was queued */
            hb_peer_cfg_free(&p->peer);
            free(p);
            continue;
        }
        hb_peer_info info;
        memset(&info, 0, sizeof(info));
        int rc = hb_pool_peer_info(b->pool, p->peer.id, &info);
        if (rc == 0) {
            free(info.url);
            p->next = keep;
            keep = p;
            continue;
        }
        rc = hb_pool_connect(b->pool, &p->peer);
        if (rc == HB_E_PEER_EXISTS) { /* removed event not out yet: later */
            p->next = keep;
            keep = p;
            continue;
        }
        if (rc) {
            HB_LOG(b->lg, HB_LOG_ERROR, p->peer.id,
                   "reload: reconnecting changed peer failed: %s (a later reload retries it)",
                   hb_strerror(rc));
            p->next = failed;
            failed = p;
            continue;
        }
        HB_LOG(b->lg, HB_LOG_INFO, p->peer.id, "reload: changed peer connected again (%s)",
               p->peer.url);
        hb_peer_cfg_free(&p->peer);
        free(p);
    }
    pthread_mutex_lock(&b->mu);
    while (keep) {
        s_pending *p = keep;
        keep = p->next;
        /* A reload may have queued a newer entry for this id meanwhile (or
         * cancelled it): the newer one wins, this one goes. */
        bool superseded = false;
        for (s_pending *q = b->pending; q && !superseded; q = q->next)
            superseded = !strcmp(q->peer.id, p->peer.id);
        if (superseded) {
            hb_peer_cfg_free(&p->peer);
            free(p);
            continue;
        }
        p->next = b->pending;
        b->pending = p;
    }
    while (failed) {
        s_pending *p = failed;
        failed = p->next;
        p->next = b->failed_rc;
        b->failed_rc = p;
    }
    pthread_mutex_unlock(&b->mu);
}

/*
 * Publish the events handed over, taking again until the list is empty
 * (then `awake` is cleared under `mu`, see the top of this file) or
 * S_DRAIN_ROUNDS batches went out. Returns true if more may be waiting (the
 * caller polls without sleeping); *removed tells whether a `removed` went
 * out. Bridge thread.
 */
static bool s_drain(hb_bridge *b, bool *removed)
{
    for (int round = 0; round < S_DRAIN_ROUNDS; round++) {
        pthread_mutex_lock(&b->mu);
        hb_event *ev = b->ev_head;
        b->ev_head = b->ev_tail = NULL;
        b->ev_n = 0;
        if (!ev) b->awake = false; /* the next append writes the eventfd */
        pthread_mutex_unlock(&b->mu);
        if (!ev) return false;

        uint64_t n_ev = 0;
        while (ev) {
            hb_event *next = ev->next;
            n_ev += s_publish_event(b, ev);
            *removed |= ev->kind == HB_EV_REMOVED;
            hb_event_free(ev);
            ev = next;
        }
        atomic_fetch_add_explicit(&b->c_events_published, n_ev, memory_order_relaxed);
    }
    return true;
}

/* ---- the send socket: bridge thread -------------------------------------- */

/* send_failed from the bridge itself: published at once (this thread owns
 * the socket). */
static void s_send_failed(hb_bridge *b, const char *id, int err)
{
    hb_event *e = hb_event_new(HB_EV_SEND_FAILED, id, NULL, hb_errname(err), NULL);
    if (!e) return;
    if (s_publish_event(b, e))
        atomic_fetch_add_explicit(&b->c_events_published, 1, memory_order_relaxed);
    hb_event_free(e);
}

/* A peer that refused a "*" send on the send socket (bridge thread). */
static void s_broadcast_refused(void *ud, const char *id, int err)
{
    s_send_failed(ud, id, err);
}

static void s_bad_send(hb_bridge *b, const zmq_msg_t *f0, bool have_f0, const char *why)
{
    char id[129] = "";
    if (have_f0) {
        size_t n = zmq_msg_size((zmq_msg_t *)f0);
        const char *p = zmq_msg_data((zmq_msg_t *)f0);
        if (n <= 128 && hb__utf8_valid(p, n) && !memchr(p, 0, n)) {
            memcpy(id, p, n);
            id[n] = 0;
        }
    }
    HB_LOG(b->lg, HB_LOG_WARN, id[0] ? id : NULL, "send socket: bad request: %s", why);
    hb_pool_count_send_failed(b->pool, HB_E_BAD_REQUEST);
    s_send_failed(b, id, HB_E_BAD_REQUEST);
}

/* Read one multipart message from PULL. Returns false when none is waiting. */
static bool s_handle_send(hb_bridge *b)
{
    zmq_msg_t f[3];
    int nf = 0, total = 0;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, b->s_send, total ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            if (total == 0) return false;
            break; /* cannot happen: parts of one message arrive together */
        }
        total++;
        bool more = zmq_msg_more(&part);
        if (nf < 3) {
            zmq_msg_init(&f[nf]);
            zmq_msg_move(&f[nf++], &part);
        }
        zmq_msg_close(&part);
        if (!more) break;
    }
    atomic_fetch_add_explicit(&b->c_send_received, 1, memory_order_relaxed);

    if (total < 2 || total > 3) {
        s_bad_send(b, &f[0], true,
                   total < 2 ? "needs [id][payload] or [id][payload][type]" : "more than 3 frames");
        goto out;
    }
    hb_msg_type type = HB_MSG_AUTO;
    if (total == 3) {
        size_t n = zmq_msg_size(&f[2]);
        const char *t = zmq_msg_data(&f[2]);
        if (n == 4 && !memcmp(t, "text", 4))
            type = HB_MSG_TEXT;
        else if (n == 6 && !memcmp(t, "binary", 6))
            type = HB_MSG_BINARY;
        else {
            s_bad_send(b, &f[0], true, "frame 2 must be \"text\" or \"binary\"");
            goto out;
        }
    }
    size_t idn = zmq_msg_size(&f[0]);
    const char *idp = zmq_msg_data(&f[0]);
    bool star = idn == 1 && idp[0] == '*';
    if (!star && !hb_peer_id_valid(idp, idn)) {
        s_bad_send(b, &f[0], true, "invalid peer id");
        goto out;
    }
    const void *data = zmq_msg_data(&f[1]);
    size_t len = zmq_msg_size(&f[1]);
    if (type == HB_MSG_TEXT && !hb__utf8_valid(data, len)) {
        s_bad_send(b, &f[0], true, "\"text\" payload is not valid UTF-8");
        goto out;
    }
    char id[129];
    memcpy(id, idp, idn);
    id[idn] = 0;
    if (star) {
        /* Each connected peer that refuses gets its own send_failed (the
         * pool counted it); nobody connected is one send_failed for "*". */
        int n = hb_pool_broadcast_ex(b->pool, data, len, type, s_broadcast_refused, b);
        if (n == -HB_E_NOT_CONNECTED) {
            hb_pool_count_send_failed(b->pool, HB_E_NOT_CONNECTED);
            s_send_failed(b, "*", HB_E_NOT_CONNECTED);
        } else if (n < 0) {
            HB_LOG(b->lg, HB_LOG_WARN, NULL, "broadcast refused: %s", hb_strerror(-n));
        }
        goto out;
    }
    int rc = hb_pool_send(b->pool, id, data, len, type);
    if (rc) {
        /* hb_pool_send counted the refusal (unknown_peer in its totals). */
        if (hb_send_fail_from_err(rc) >= 0)
            s_send_failed(b, id, rc);
        else
            HB_LOG(b->lg, HB_LOG_WARN, id, "send refused: %s", hb_strerror(rc));
    }
out:
    for (int i = 0; i < nf; i++) zmq_msg_close(&f[i]);
    return true;
}

/* ---- the control socket: bridge thread ----------------------------------- */

static void s_handle_control(hb_bridge *b)
{
    zmq_msg_t req;
    zmq_msg_init(&req);
    int total = 0;
    bool ok = true;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, b->s_control, total ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            if (total == 0) {
                zmq_msg_close(&req);
                return;
            }
            ok = false;
            break;
        }
        bool more = zmq_msg_more(&part);
        if (total++ == 0) {
            zmq_msg_move(&req, &part);
        }
        zmq_msg_close(&part);
        if (!more) break;
    }
    char *reply;
    if (!ok || total != 1) {
        reply = hb__ctl_error_reply(HB_E_BAD_REQUEST, "a request is exactly one frame");
    } else {
        pthread_mutex_lock(&b->mu);
        bool stopping = b->cmd_stop_sends;
        pthread_mutex_unlock(&b->mu);
        reply = hb__ctl_handle(b->pool, b->defaults, stopping, zmq_msg_data(&req),
                               zmq_msg_size(&req), b->lg);
    }
    zmq_msg_close(&req);
    const char *fallback = "{\"ok\":false,\"error\":\"internal\",\"message\":\"out of memory\"}";
    const char *r = reply ? reply : fallback;
    /* REP must answer every request, or the socket locks: never skip this. */
    if (zmq_send(b->s_control, r, strlen(r), 0) < 0)
        HB_LOG(b->lg, HB_LOG_WARN, NULL, "control reply failed: %s", zmq_strerror(errno));
    free(reply);
    atomic_fetch_add_explicit(&b->c_control_requests, 1, memory_order_relaxed);
}

/* ---- sockets and the loop: bridge thread --------------------------------- */

/* The flush window at close: drain_timeout, within [S_LINGER_MIN_MS, 2 s]
 * (with drain_timeout 0 the last events must still get out). */
static int s_linger_ms(const hb_bridge *b)
{
    uint64_t ms = b->cfg.drain_timeout_ns / 1000000u;
    if (ms < S_LINGER_MIN_MS) ms = S_LINGER_MIN_MS;
    return ms > 2000 ? 2000 : (int)ms;
}

/* ZMQ_RCVHWM of the send PULL: what the bridge may hold of messages read
 * off the wire but not yet taken, S_SEND_BUDGET worth of the largest
 * message, at least S_SEND_HWM_MIN, at most S_SEND_HWM_MAX (ZeroMQ's
 * default). Beyond it PUSH senders block or fail with EAGAIN. */
int hb__bridge_send_rcvhwm(uint64_t max_msg)
{
    uint64_t n = max_msg ? S_SEND_BUDGET / max_msg : S_SEND_HWM_MAX;
    if (n < S_SEND_HWM_MIN) n = S_SEND_HWM_MIN;
    if (n > S_SEND_HWM_MAX) n = S_SEND_HWM_MAX;
    return (int)n;
}

/* ZMQ_MAXMSGSIZE of the control REP: a `send` of the largest message as
 * JSON text. JSON escaping grows text by up to 6 times (a control byte
 * becomes \u0001), base64 only by 4/3, plus 64 KiB for the other fields. */
int64_t hb__bridge_control_maxmsg(uint64_t max_msg)
{
    return (int64_t)max_msg * 6 + 65536;
}

static void *s_socket(hb_bridge *b, int type, const char *name, const char *ep, char *err,
                      size_t cap)
{
    void *s = zmq_socket(b->zctx, type);
    if (!s) {
        snprintf(err, cap, "cannot create %s socket: %s", name, zmq_strerror(errno));
        return NULL;
    }
    int linger = s_linger_ms(b);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
    /* tcp://[::1]:P and dual-stack wildcard binds (host "*") work; IPv4 is unchanged. */
    int ipv6 = 1;
    zmq_setsockopt(s, ZMQ_IPV6, &ipv6, sizeof(ipv6));
    /* ZMTP heartbeats reap half-open clients (a consumer whose host died). */
    int ivl = 10000, tmo = 30000;
    zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl));
    zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &tmo, sizeof(tmo));
    /* A larger inbound message disconnects its sender (ZeroMQ's own
     * guard): subscriptions on PUB, a message on PULL, a request on REP. */
    int64_t max;
    if (type == ZMQ_PUB) {
        int hwm = !strcmp(name, "inbox") ? b->cfg.inbox_hwm : b->cfg.events_hwm;
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
        max = S_SUB_MAXMSG;
    } else if (type == ZMQ_PULL) {
        int hwm = hb__bridge_send_rcvhwm(b->max_msg);
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
        max = (int64_t)b->max_msg + 65536;
    } else {
        max = hb__bridge_control_maxmsg(b->max_msg);
    }
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max));
    if (zmq_bind(s, ep) != 0) {
        snprintf(err, cap, "cannot bind %s endpoint %s: %s", name, ep, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static void s_close_all(hb_bridge *b)
{
    /* Take the inbox socket back from the loop thread (see the top). */
    pthread_mutex_lock(&b->in_mu);
    if (b->in_sock) zmq_close(b->in_sock);
    b->in_sock = NULL;
    pthread_mutex_unlock(&b->in_mu);
    void **socks[] = {&b->s_events, &b->s_send, &b->s_control};
    for (size_t i = 0; i < 3; i++)
        if (*socks[i]) {
            zmq_close(*socks[i]);
            *socks[i] = NULL;
        }
    if (b->zctx) {
        zmq_ctx_term(b->zctx); /* waits at most the linger for the PUB flush */
        b->zctx = NULL;
    }
}

static int s_open(hb_bridge *b, char *err, size_t cap)
{
    b->zctx = zmq_ctx_new();
    if (!b->zctx) {
        snprintf(err, cap, "cannot create ZeroMQ context: %s", zmq_strerror(errno));
        return HB_E_INTERNAL;
    }
    void *in = s_socket(b, ZMQ_PUB, "inbox", b->cfg.inbox, err, cap);
    if (in) {
        /* From here on the loop thread publishes on it (under in_mu). */
        pthread_mutex_lock(&b->in_mu);
        b->in_sock = in;
        pthread_mutex_unlock(&b->in_mu);
    }
    if (!in || !(b->s_events = s_socket(b, ZMQ_PUB, "events", b->cfg.events, err, cap)) ||
        !(b->s_send = s_socket(b, ZMQ_PULL, "send", b->cfg.send, err, cap)) ||
        !(b->s_control = s_socket(b, ZMQ_REP, "control", b->cfg.control, err, cap))) {
        s_close_all(b);
        return HB_E_BIND;
    }
    return 0;
}

static void *s_run(void *arg)
{
    hb_bridge *b = arg;
    char err[512] = "";
    int rc = s_open(b, err, sizeof(err));
    pthread_mutex_lock(&b->mu);
    b->started = true;
    b->start_rc = rc;
    snprintf(b->start_err, sizeof(b->start_err), "%s", err);
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (rc) return NULL;

    bool more = false;    /* the hand-off had more than one turn's worth */
    bool waiting = false; /* reload reconnects pending: check them often */
    for (;;) {
        atomic_store(&b->heartbeat, hb__mono_ns());
        zmq_pollitem_t items[3] = {
            {.fd = b->efd, .events = ZMQ_POLLIN},
            {.socket = b->s_control, .events = ZMQ_POLLIN},
            {.socket = b->s_send, .events = ZMQ_POLLIN},
        };
        int nitems = b->sends_stopped ? 2 : 3;
        int n = zmq_poll(items, nitems, more ? 0 : waiting ? 50 : S_POLL_MS);
        if (n < 0) {
            if (errno == EINTR) continue;
            HB_LOG(b->lg, HB_LOG_ERROR, NULL, "bridge thread: zmq_poll failed: %s",
                   zmq_strerror(errno));
            atomic_store(&b->failed, true);
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            uint64_t v;
            ssize_t r = read(b->efd, &v, sizeof(v));
            (void)r;
        }
        /* Commands from the main thread, and whether reconnects wait. */
        pthread_mutex_lock(&b->mu);
        bool stop = b->cmd_stop_sends && !b->sends_stopped;
        bool finish = b->cmd_finish;
        waiting = b->pending != NULL;
        if (stop) {
            /* Everything read from PULL so far went to the pool already. */
            b->sends_stopped = true;
            b->ack_stop_sends = true;
            pthread_cond_broadcast(&b->cv);
        }
        pthread_mutex_unlock(&b->mu);
        bool removed = false;
        more = s_drain(b, &removed);
        if (finish) break;
        if (items[1].revents & ZMQ_POLLIN) s_handle_control(b);
        if (!b->sends_stopped && (items[2].revents & ZMQ_POLLIN))
            for (int i = 0; i < S_SEND_BATCH && s_handle_send(b); i++) {
            }
        uint64_t now = hb__mono_ns();
        if (removed || now >= b->next_pending_check) {
            /* A removed event went out, or a short poll: the pool drops
             * the id from its registry right after emitting it. */
            b->next_pending_check = now + 50000000u;
            if (waiting || removed) s_check_pending(b);
        }
    }
    /* The pool is shut down (or never got going): what is left is bounded;
     * the cap only guards the error path, where peers may still send. */
    bool removed = false;
    for (int i = 0; i < 64 && s_drain(b, &removed); i++) {
    }
    s_close_all(b);
    return NULL;
}

/* ---- the main thread's side ---------------------------------------------- */

int hb__bridge_new(const hb_config *cfg, const hb_logger *lg, hb_bridge **out)
{
    hb_bridge *b = calloc(1, sizeof(*b));
    if (!b) return HB_E_NOMEM;
    b->cfg = cfg->bridge;
    if (!b->cfg.events_queue) b->cfg.events_queue = 65536;
    b->defaults = &cfg->pool;
    /* At least the default 16 MiB, so a peer added over control with a
     * larger limit than the file's is still reachable up to that. */
    b->max_msg = cfg->pool.max_message_size;
    if (b->max_msg < (16u << 20)) b->max_msg = 16u << 20;
    for (size_t i = 0; i < cfg->n_peers; i++)
        if (cfg->peers[i].opts.max_message_size > b->max_msg)
            b->max_msg = cfg->peers[i].opts.max_message_size;
    b->lg = lg;
    b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (b->efd < 0) {
        free(b);
        return HB_E_IO;
    }
    pthread_mutex_init(&b->in_mu, NULL);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    atomic_store(&b->heartbeat, hb__mono_ns());
    *out = b;
    return 0;
}

int hb__bridge_start(hb_bridge *b, hb_pool *pool, char *err, size_t cap)
{
    b->pool = pool;
    if (pthread_create(&b->thread, NULL, s_run, b) != 0) {
        snprintf(err, cap, "cannot start the bridge thread");
        return HB_E_INTERNAL;
    }
    b->thread_running = true;
    pthread_mutex_lock(&b->mu);
    while (!b->started) pthread_cond_wait(&b->cv, &b->mu);
    int rc = b->start_rc;
    snprintf(err, cap, "%s", b->start_err);
    pthread_mutex_unlock(&b->mu);
    if (rc) {
        pthread_join(b->thread, NULL);
        b->thread_running = false;
    }
    return rc;
}

void hb__bridge_begin_shutdown(hb_bridge *b)
{
    pthread_mutex_lock(&b->mu);
    b->cmd_stop_sends = true;
    pthread_mutex_unlock(&b->mu);
    if (!b->thread_running) return;
    s_wake(b);
    pthread_mutex_lock(&b->mu);
    while (!b->ack_stop_sends && !atomic_load(&b->failed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    }
    pthread_mutex_unlock(&b->mu);
}

void hb__bridge_finish(hb_bridge *b)
{
    if (!b->thread_running) return;
    pthread_mutex_lock(&b->mu);
    b->cmd_finish = true;
    pthread_mutex_unlock(&b->mu);
    s_wake(b);
    pthread_join(b->thread, NULL);
    b->thread_running = false;
}

void hb__bridge_destroy(hb_bridge **bp)
{
    hb_bridge *b = *bp;
    if (!b) return;
    hb__bridge_finish(b);
    while (b->ev_head) {
        hb_event *e = b->ev_head;
        b->ev_head = e->next;
        hb_event_free(e);
    }
    s_pending *lists[2] = {b->pending, b->failed_rc};
    for (int i = 0; i < 2; i++)
        while (lists[i]) {
            s_pending *p = lists[i];
            lists[i] = p->next;
            hb_peer_cfg_free(&p->peer);
            free(p);
        }
    close(b->efd);
    s_flush(b);   /* the pool is gone: the socket is closed, this only frees */
    s_reclaim(b); /* the context is terminated: ZeroMQ handed everything back */
    uint64_t late = atomic_load(&b->in_closed);
    if (late)
        HB_LOG(b->lg, HB_LOG_WARN, NULL,
               "%" PRIu64 " inbox messages were received after the inbox socket closed at "
               "shutdown: not published",
               late);
    pthread_mutex_destroy(&b->in_mu);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
    *bp = NULL;
}

uint64_t hb__bridge_heartbeat(hb_bridge *b)
{
    return atomic_load(&b->heartbeat);
}

bool hb__bridge_failed(hb_bridge *b)
{
    return atomic_load(&b->failed);
}

void hb__bridge_counters_get(hb_bridge *b, hb_bridge_counters *out)
{
    out->inbox_published = atomic_load_explicit(&b->in_published, memory_order_relaxed);
    out->inbox_after_close = atomic_load_explicit(&b->in_closed, memory_order_relaxed);
    out->events_published = atomic_load(&b->c_events_published);
    out->events_dropped = atomic_load(&b->c_events_dropped);
    out->send_received = atomic_load(&b->c_send_received);
    out->control_requests = atomic_load(&b->c_control_requests);
}

/* Queue `p` (taken) as the one entry of its id: an older entry for the
 * same id goes (the newest configuration wins). Any thread. */
static void s_pending_put(hb_bridge *b, s_pending *p)
{
    pthread_mutex_lock(&b->mu);
    for (s_pending **pp = &b->pending; *pp;) {
        s_pending *q = *pp;
        if (!strcmp(q->peer.id, p->peer.id)) {
            *pp = q->next;
            hb_peer_cfg_free(&q->peer);
            free(q);
        } else {
            pp = &q->next;
        }
    }
    p->next = b->pending;
    b->pending = p;
    pthread_mutex_unlock(&b->mu);
    s_wake(b);
}

void hb__bridge_connect_after_removed(hb_bridge *b, const hb_peer_cfg *peer)
{
    s_pending *p = calloc(1, sizeof(*p));
    if (!p || hb_peer_cfg_copy(&p->peer, peer) != 0) {
        free(p);
        HB_LOG(b->lg, HB_LOG_ERROR, peer->id, "reload: out of memory");
        return;
    }
    s_pending_put(b, p);
}

void hb__bridge_cancel_pending(hb_bridge *b, const char *id)
{
    /* A tombstone rather than a plain unlink: the bridge thread may hold
     * the entry outside the lock right now (s_check_pending), and puts it
     * back only if no newer entry for its id, tombstone included, exists. */
    s_pending *p = calloc(1, sizeof(*p));
    if (p) p->peer.id = strdup(id);
    if (!p || !p->peer.id) {
        free(p);
        HB_LOG(b->lg, HB_LOG_ERROR, id, "reload: out of memory");
        return;
    }
    p->cancelled = true;
    s_pending_put(b, p);
}

size_t hb__bridge_take_failed(hb_bridge *b, void (*fn)(void *ud, const char *id), void *ud)
{
    pthread_mutex_lock(&b->mu);
    s_pending *list = b->failed_rc;
    b->failed_rc = NULL;
    pthread_mutex_unlock(&b->mu);
    size_t n = 0;
    while (list) {
        s_pending *p = list;
        list = p->next;
        fn(ud, p->peer.id);
        hb_peer_cfg_free(&p->peer);
        free(p);
        n++;
    }
    return n;
}
