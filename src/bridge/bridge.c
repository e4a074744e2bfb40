/*
 * bridge.c: the bridge's life: the bridge thread, its sockets and its poll
 * loop, start and shutdown.
 *
 * The bridge thread (s_run) creates the ZeroMQ context and binds the four
 * sockets of SPEC.md section 1. It keeps the events PUB, the send PULL and
 * the control REP, and waits in zmq_poll on them and on an eventfd (the
 * events hand-off, the main thread's commands, the daemon's hook). The
 * inbox PUB it lends to the pool's loop thread (inbox.c) until it takes it
 * back to close it. The main thread starts it, asks it to stop reading the
 * send socket, then to finish (publish what is left, close, exit).
 *
 * Bounds: every socket has a ZMQ_MAXMSGSIZE and the PULL a bounded
 * ZMQ_RCVHWM, so no client makes the bridge buffer without bound; the
 * numbers and why are in docs/operations.md ("Memory").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bridge/bridge_int.h"
#include "core/clock.h"

/* Messages read from the PULL socket per turn, so control stays responsive. */
#define S_SEND_BATCH 256
/* Poll timeout: also the heartbeat period of the bridge thread. */
#define S_POLL_MS 250
/* Period of the daemon's hook while it has work left (hb__bridge_hook). */
#define S_HOOK_MS 50
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
/* ZMQ_RCVHWM of the control REP: requests waiting per connected client. */
#define S_CONTROL_HWM 4
/* What the socket monitors report: failed handshakes and ended connections. */
#define S_MON_EVENTS                                                              \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_DISCONNECTED)

const char *const hb__zsock_names[HB__ZS__COUNT] = {"inbox", "events", "send", "control"};
const char *const hb__hs_fail_names[HB__HS__COUNT] = {"auth", "protocol", "other"};

/* Any thread: a write to the eventfd (never blocks: the counter saturates
 * only after 2^64-2 wakes). */
void hb__bridge_wake(hb__bridge *b)
{
    uint64_t one = 1;
    ssize_t r = write(b->efd, &one, sizeof(one));
    (void)r; /* EAGAIN means the counter is already non-zero: awake anyway */
}

hb_sink hb__bridge_sink(hb__bridge *b)
{
    hb_sink s = {
        .inbox = hb__inbox_take, .event = hb__events_take, .ud = b, .flush = hb__inbox_flush};
    return s;
}

/* ---- frames: the thread that owns the socket ------------------------------ */

int hb__zframe_copy(zmq_msg_t *f, const void *p, size_t n)
{
    if (zmq_msg_init_size(f, n) != 0) return -1;
    if (n) memcpy(zmq_msg_data(f), p, n);
    return 0;
}

/* The frames are built beforehand, so nothing can fail between frame 0 and
 * the last but the send itself; a PUB socket with ZMQ_DONTWAIT never refuses
 * a part at HWM (it drops whole messages), so a send fails only on ETERM,
 * where no half message matters. */
int hb__zsend3(void *sock, zmq_msg_t f[3])
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

/* ---- sockets and the loop: bridge thread ---------------------------------- */

/* The flush window at close: drain_timeout, within [S_LINGER_MIN_MS, 2 s]
 * (with drain_timeout 0 the last events must still get out). */
static int s_linger_ms(const hb__bridge *b)
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

/* The socket monitor of socket `i`: a PAIR end the bridge thread reads.
 * Set up before the socket is lent (the inbox) or used. */
static int s_monitor(hb__bridge *b, void *s, hb__zsock i, char *err, size_t cap)
{
    char ep[64];
    snprintf(ep, sizeof(ep), "inproc://hb-monitor-%s", hb__zsock_names[i]);
    if (zmq_socket_monitor(s, ep, S_MON_EVENTS) != 0 ||
        !(b->mon[i] = zmq_socket(b->zctx, ZMQ_PAIR)) || zmq_connect(b->mon[i], ep) != 0) {
        snprintf(err, cap, "cannot monitor the %s socket: %s", hb__zsock_names[i],
                 zmq_strerror(errno));
        return -1;
    }
    int zero = 0;
    zmq_setsockopt(b->mon[i], ZMQ_LINGER, &zero, sizeof(zero));
    return 0;
}

/* One monitor event: count it. Bridge thread. */
static void s_monitor_read(hb__bridge *b, hb__zsock i)
{
    zmq_msg_t f;
    zmq_msg_init(&f);
    if (zmq_msg_recv(&f, b->mon[i], ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&f);
        return;
    }
    uint16_t ev = 0;
    if (zmq_msg_size(&f) >= 2) memcpy(&ev, zmq_msg_data(&f), 2);
    bool more = zmq_msg_more(&f);
    zmq_msg_close(&f);
    while (more) { /* the endpoint frame */
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, b->mon[i], 0) < 0)
            more = false;
        else
            more = zmq_msg_more(&f);
        zmq_msg_close(&f);
    }
    int kind = ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH        ? HB__HS_AUTH
               : ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL  ? HB__HS_PROTOCOL
               : ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ? HB__HS_OTHER
                                                            : -1;
    if (kind >= 0)
        atomic_fetch_add_explicit(&b->c_hs_failed[i][kind], 1, memory_order_relaxed);
    else if (ev == ZMQ_EVENT_DISCONNECTED)
        atomic_fetch_add_explicit(&b->c_disconnects[i], 1, memory_order_relaxed);
}

static void *s_socket(hb__bridge *b, int type, hb__zsock idx, const char *ep, char *err, size_t cap)
{
    const char *name = hb__zsock_names[idx];
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
        int hwm = idx == HB__ZS_INBOX ? b->cfg.inbox_hwm : b->cfg.events_hwm;
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
        max = S_SUB_MAXMSG;
    } else if (type == ZMQ_PULL) {
        int hwm = hb__bridge_send_rcvhwm(b->max_msg);
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
        max = (int64_t)b->max_msg + 65536;
    } else {
        /* REP answers one request at a time; a DEALER client can pipeline
         * more, and ZeroMQ would hold 1000 of them per client by default. */
        int hwm = S_CONTROL_HWM;
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof(hwm));
        max = hb__bridge_control_maxmsg(b->max_msg);
    }
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max));
    /* Readers and writers are told apart by their ZAP domain (auth.h). */
    if (b->auth &&
        hb__auth_secure(b->auth, s, idx <= HB__ZS_EVENTS ? HB__AUTH_READERS : HB__AUTH_WRITERS) !=
            0) {
        snprintf(err, cap, "cannot set up CURVE on the %s socket: %s", name, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    if (s_monitor(b, s, idx, err, cap) != 0) {
        zmq_close(s);
        return NULL;
    }
    if (zmq_bind(s, ep) != 0) {
        snprintf(err, cap, "cannot bind %s endpoint %s: %s", name, ep, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

/* Bridge thread: close socket `i`, its monitor stopped first. A socket
 * closed with its monitor on reports its teardown (DISCONNECTED, CLOSED)
 * from ZeroMQ's reaper thread, possibly after our PAIR end is closed too;
 * libzmq 4.3.4 ignores that failed send and leaks the event's endpoint
 * frame (seen by LeakSanitizer: 77 bytes, "ipc://.../send.sock"). Stopped
 * here, on the owner's thread, no event comes after. */
static void s_close_sock(hb__bridge *b, void **sock, hb__zsock i)
{
    if (!*sock) return;
    if (b->mon[i]) zmq_socket_monitor(*sock, NULL, 0);
    zmq_close(*sock);
    *sock = NULL;
}

static void s_close_all(hb__bridge *b)
{
    /* Take the inbox socket back from the loop thread (inbox.c). */
    pthread_mutex_lock(&b->in_mu);
    s_close_sock(b, &b->in_sock, HB__ZS_INBOX);
    pthread_mutex_unlock(&b->in_mu);
    s_close_sock(b, &b->s_events, HB__ZS_EVENTS);
    s_close_sock(b, &b->s_send, HB__ZS_SEND);
    s_close_sock(b, &b->s_control, HB__ZS_CONTROL);
    for (size_t i = 0; i < HB__ZS__COUNT; i++)
        if (b->mon[i]) {
            zmq_close(b->mon[i]);
            b->mon[i] = NULL;
        }
    hb__auth_stop(b->auth);
    if (b->zctx) {
        zmq_ctx_term(b->zctx); /* waits at most the linger for the PUB flush */
        b->zctx = NULL;
    }
}

static int s_open(hb__bridge *b, char *err, size_t cap)
{
    b->zctx = zmq_ctx_new();
    if (!b->zctx) {
        snprintf(err, cap, "cannot create ZeroMQ context: %s", zmq_strerror(errno));
        return HB_E_INTERNAL;
    }
    /* The ZAP handler first: a client that connects before it is bound
     * would not be asked about. */
    if (b->auth && hb__auth_start(b->auth, b->zctx) != 0) {
        snprintf(err, cap, "cannot start the ZAP handler: %s", zmq_strerror(errno));
        s_close_all(b);
        return HB_E_INTERNAL;
    }
    void *in = s_socket(b, ZMQ_PUB, HB__ZS_INBOX, b->cfg.inbox, err, cap);
    if (in) {
        /* From here on the loop thread publishes on it (under in_mu). */
        pthread_mutex_lock(&b->in_mu);
        b->in_sock = in;
        pthread_mutex_unlock(&b->in_mu);
    }
    if (!in || !(b->s_events = s_socket(b, ZMQ_PUB, HB__ZS_EVENTS, b->cfg.events, err, cap)) ||
        !(b->s_send = s_socket(b, ZMQ_PULL, HB__ZS_SEND, b->cfg.send, err, cap)) ||
        !(b->s_control = s_socket(b, ZMQ_REP, HB__ZS_CONTROL, b->cfg.control, err, cap))) {
        s_close_all(b);
        return HB_E_BIND;
    }
    return 0;
}

static void *s_run(void *arg)
{
    hb__bridge *b = arg;
    char err[512] = "";
    int rc = s_open(b, err, sizeof(err));
    pthread_mutex_lock(&b->mu);
    b->started = true;
    b->start_rc = rc;
    snprintf(b->start_err, sizeof(b->start_err), "%s", err);
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
    if (rc) return NULL;

    bool more = false;      /* the hand-off had more than one turn's worth */
    bool hook_more = false; /* the hook has work left: call it every S_HOOK_MS */
    uint64_t next_hook = 0;
    for (;;) {
        atomic_store(&b->heartbeat, hb__mono_ns());
        /* eventfd, control, the monitors, ZAP, then send (last: it is left
         * out once sends are stopped). */
        enum { I_EFD = 0, I_CONTROL, I_MON, I_ZAP = I_MON + HB__ZS__COUNT, I_SEND, I__N };
        zmq_pollitem_t items[I__N];
        memset(items, 0, sizeof(items));
        items[I_EFD] = (zmq_pollitem_t){.fd = b->efd, .events = ZMQ_POLLIN};
        items[I_CONTROL] = (zmq_pollitem_t){.socket = b->s_control, .events = ZMQ_POLLIN};
        for (int i = 0; i < HB__ZS__COUNT; i++)
            items[I_MON + i] = (zmq_pollitem_t){.socket = b->mon[i], .events = ZMQ_POLLIN};
        /* Without auth the slot is an fd of -1, which poll ignores. */
        void *zap = hb__auth_socket(b->auth);
        items[I_ZAP] = zap ? (zmq_pollitem_t){.socket = zap, .events = ZMQ_POLLIN}
                           : (zmq_pollitem_t){.fd = -1};
        items[I_SEND] = (zmq_pollitem_t){.socket = b->s_send, .events = ZMQ_POLLIN};
        int nitems = b->sends_stopped ? I_SEND : I__N;
        int n = zmq_poll(items, nitems, more ? 0 : hook_more ? S_HOOK_MS : S_POLL_MS);
        if (n < 0) {
            if (errno == EINTR) continue;
            HB_LOG(b->lg, HB_LOG_ERROR, NULL, "bridge thread: zmq_poll failed: %s",
                   zmq_strerror(errno));
            atomic_store(&b->failed, true);
            break;
        }
        if (items[I_ZAP].revents & ZMQ_POLLIN) hb__auth_serve(b->auth);
        for (int i = 0; i < HB__ZS__COUNT; i++)
            if (items[I_MON + i].revents & ZMQ_POLLIN) s_monitor_read(b, (hb__zsock)i);
        if (items[I_EFD].revents & ZMQ_POLLIN) {
            uint64_t v;
            ssize_t r = read(b->efd, &v, sizeof(v));
            (void)r;
        }
        /* Commands from the main thread. */
        pthread_mutex_lock(&b->mu);
        bool stop = b->cmd_stop_sends && !b->sends_stopped;
        bool finish = b->cmd_finish;
        if (stop) {
            /* Everything read from PULL so far went to the pool already. */
            b->sends_stopped = true;
            b->ack_stop_sends = true;
            pthread_cond_broadcast(&b->cv);
        }
        pthread_mutex_unlock(&b->mu);
        bool removed = false;
        more = hb__events_drain(b, &removed);
        if (finish) break;
        if (b->auth) hb__auth_apply(b->auth); /* stores a reload handed over */
        if (items[I_CONTROL].revents & ZMQ_POLLIN) hb__control_serve(b);
        if (!b->sends_stopped && (items[I_SEND].revents & ZMQ_POLLIN))
            for (int i = 0; i < S_SEND_BATCH && hb__send_handle(b); i++) {
            }
        hb__bridge_warn_tick(b, hb__mono_ns());
        if (b->hook) {
            /* After a removed event (the pool drops the id from its
             * registry right after emitting it), when poked, and while it
             * has work left. */
            bool due = atomic_exchange(&b->hook_due, false);
            uint64_t now = hb__mono_ns();
            if (removed || due || (hook_more && now >= next_hook)) {
                next_hook = now + S_HOOK_MS * 1000000ull;
                hook_more = b->hook(b->hook_ud, removed);
            }
        }
    }
    /* The pool is shut down (or never got going): what is left is bounded;
     * the cap only guards the error path, where peers may still send. */
    bool removed = false;
    for (int i = 0; i < 64 && hb__events_drain(b, &removed); i++) {
    }
    s_close_all(b);
    return NULL;
}

/* ---- the main thread's side ---------------------------------------------- */

int hb__bridge_new(const hb_config *cfg, const hb_logger *lg, hb__bridge **out)
{
    hb__bridge *b = calloc(1, sizeof(*b));
    if (!b) return HB_E_NOMEM;
    b->cfg = cfg->bridge;
    if (!b->cfg.events_queue) b->cfg.events_queue = 65536;
    b->defaults = hb__defaults_copy(&cfg->pool);
    b->policy = hb__policy_copy(&cfg->pool_wide);
    if (!b->policy || !b->defaults) {
        hb__policy_free(&b->policy);
        hb__defaults_free(&b->defaults);
        free(b);
        return HB_E_NOMEM;
    }
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
        hb__policy_free(&b->policy);
        hb__defaults_free(&b->defaults);
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

int hb__bridge_start(hb__bridge *b, hb_pool *pool, char *err, size_t cap)
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

void hb__bridge_begin_shutdown(hb__bridge *b)
{
    pthread_mutex_lock(&b->mu);
    b->cmd_stop_sends = true;
    pthread_mutex_unlock(&b->mu);
    if (!b->thread_running) return;
    hb__bridge_wake(b);
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

void hb__bridge_finish(hb__bridge *b)
{
    if (!b->thread_running) return;
    pthread_mutex_lock(&b->mu);
    b->cmd_finish = true;
    pthread_mutex_unlock(&b->mu);
    hb__bridge_wake(b);
    pthread_join(b->thread, NULL);
    b->thread_running = false;
}

void hb__bridge_destroy(hb__bridge **bp)
{
    hb__bridge *b = *bp;
    if (!b) return;
    hb__bridge_finish(b);
    hb__events_discard(b);
    close(b->efd);
    hb__inbox_destroy(b); /* pool and context gone: ZeroMQ handed everything back */
    uint64_t late = atomic_load(&b->in_closed);
    if (late)
        HB_LOG(b->lg, HB_LOG_WARN, NULL,
               "%" PRIu64 " inbox messages were received after the inbox socket closed at "
               "shutdown: not published",
               late);
    hb__auth_destroy(&b->auth);
    hb__policy_free(&b->policy);
    hb__policy_free(&b->policy_next);
    hb__defaults_free(&b->defaults);
    hb__defaults_free(&b->defaults_next);
    pthread_mutex_destroy(&b->in_mu);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    free(b);
    *bp = NULL;
}

uint64_t hb__bridge_heartbeat(hb__bridge *b)
{
    return atomic_load(&b->heartbeat);
}

bool hb__bridge_failed(hb__bridge *b)
{
    return atomic_load(&b->failed);
}

void hb__bridge_counters_get(hb__bridge *b, hb__bridge_counters *out)
{
    out->inbox_published = atomic_load_explicit(&b->in_published, memory_order_relaxed);
    out->inbox_after_close = atomic_load_explicit(&b->in_closed, memory_order_relaxed);
    out->events_published = atomic_load(&b->c_events_published);
    out->events_dropped = atomic_load(&b->c_events_dropped);
    out->send_received = atomic_load(&b->c_send_received);
    out->control_requests = atomic_load(&b->c_control_requests);
    for (int e = 0; e < HB_E__COUNT; e++)
        out->control_errors[e] =
            atomic_load_explicit(&b->c_control_errors[e], memory_order_relaxed);
    for (int i = 0; i < HB__ZS__COUNT; i++) {
        for (int k = 0; k < HB__HS__COUNT; k++)
            out->handshake_failed[i][k] =
                atomic_load_explicit(&b->c_hs_failed[i][k], memory_order_relaxed);
        out->disconnects[i] = atomic_load_explicit(&b->c_disconnects[i], memory_order_relaxed);
    }
    out->auth = b->auth != NULL;
    hb__auth_denied(b->auth, out->auth_denied);
    out->shard = (hb__shard){b->cfg.shard_index, b->cfg.shard_count ? b->cfg.shard_count : 1};
}

/* Main thread. The copies are made here, so the bridge thread only swaps
 * pointers; a pending pair a request has not taken yet is replaced (the
 * newest reload wins). Freed outside the lock. */
int hb__bridge_set_pool(hb__bridge *b, const hb_peer_opts *defaults, const hb_pool_wide_cfg *pw)
{
    hb_pool_wide_cfg *c = hb__policy_copy(pw);
    hb_peer_opts *d = hb__defaults_copy(defaults);
    if (!c || !d) {
        hb__policy_free(&c);
        hb__defaults_free(&d);
        return HB_E_NOMEM;
    }
    pthread_mutex_lock(&b->mu);
    hb_pool_wide_cfg *old = b->policy_next;
    hb_peer_opts *old_d = b->defaults_next;
    b->policy_next = c;
    b->defaults_next = d;
    pthread_mutex_unlock(&b->mu);
    hb__policy_free(&old);
    hb__defaults_free(&old_d);
    return 0;
}

void hb__bridge_set_auth(hb__bridge *b, hb__auth *auth)
{
    hb__auth_destroy(&b->auth);
    b->auth = auth;
}

int hb__bridge_reload_auth(hb__bridge *b, hb__auth_stores **s)
{
    if (!b->auth) {
        hb__auth_stores_destroy(s);
        return HB_E_INVALID;
    }
    hb__auth_swap_stores(b->auth, s);
    hb__bridge_wake(b);
    return 0;
}

/* A client can send refusals as fast as ZeroMQ carries them: the warnings
 * of each input socket share one limit (send_log, control_log). */
void hb__bridge_warn(hb__bridge *b, hb__lograte *r, const char *id, const char *fmt, ...)
{
    const hb_logger *lg = b->lg;
    if (!lg || !lg->fn || lg->level < HB_LOG_WARN) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    hb__lograte_log(r, lg, HB_LOG_WARN, id,
                    r == &b->send_log ? "send socket warnings" : "control socket warnings", msg);
}

void hb__bridge_warn_tick(hb__bridge *b, uint64_t now)
{
    static const char *const names[2] = {"send", "control"};
    hb__lograte *rs[2] = {&b->send_log, &b->control_log};
    for (int i = 0; i < 2; i++) {
        if (!hb__lograte_flush_due(rs[i], now)) continue;
        HB_LOG(b->lg, HB_LOG_WARN, NULL,
               "%s socket: %u more warnings went to debug (rate limit: %u lines, then one every "
               "%llu s)",
               names[i], hb__lograte_dropped(rs[i]), HB__LOGRATE_BURST,
               (unsigned long long)(HB__LOGRATE_EVERY_NS / 1000000000ull));
    }
}

void hb__bridge_set_hook(hb__bridge *b, hb__bridge_hook fn, void *ud)
{
    b->hook = fn;
    b->hook_ud = ud;
}

void hb__bridge_set_ctl_hook(hb__bridge *b, hb__bridge_ctl_hook fn)
{
    b->ctl_hook = fn;
}

void hb__bridge_poke(hb__bridge *b)
{
    atomic_store(&b->hook_due, true);
    hb__bridge_wake(b);
}
