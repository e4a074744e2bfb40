/*
 * loop.c: one libwebsockets context served by one thread (the "loop
 * thread"), the doorway into it, its timers, its periodic tick, and what
 * its connections share: the resolver (resolver.c), the TLS cache (tls.c),
 * the dial slots and a scratch buffer.
 *
 * Only lws_cancel_service() is ever called from another thread. Everything
 * else a foreign thread wants done is put on the doorway (see loop.h) and
 * runs on the loop thread from LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 *
 * lws is used for what it does well: the event loop, TCP connects, timers,
 * WRITEABLE scheduling and receive flow control. Connections are raw
 * sockets (conn.c); TLS and the WebSocket protocol above the bytes are
 * ours, so there is one vhost and one protocol.
 */
#include "transport/loop.h"

#include <errno.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/clock.h"

typedef struct s_cmd {
    hb__cmd_fn fn;
    void *a;
    void *b;
    void *c;
} s_cmd;

struct hb__loop {
    struct lws_context *ctx;
    const hb_logger *logger;
    pthread_t thread;    /* written before the thread starts */
    bool thread_started; /* creating/destroying thread only */
    pthread_t self;      /* the loop thread's own id, published by `running` */
    atomic_bool running;
    atomic_bool stop;               /* set by hb__loop_free */
    atomic_bool exiting;            /* set by hb__loop_exiting */
    atomic_uint_fast64_t heartbeat; /* monotonic ns of the last loop turn */
    atomic_uint live_conns;         /* lws sockets we hold */
    atomic_uint tls_trims;          /* idle TLS buffer releases (tests) */
    void (*on_exit)(void *ud);
    void (*after_turn)(void *ud);
    void *ud;
    lws_sorted_usec_list_t tick; /* loop thread: keeps the heartbeat fresh */
    hb__theap theap;             /* loop thread: every hb__timer of this loop */
    int64_t wall_off;            /* loop thread: wall - monotonic, refreshed by the tick */
    hb__link open;               /* loop thread: every connection (list head) */
    uint32_t dials_done;         /* loop thread: dials ended since the last trim */
    uint64_t last_trim;          /* loop thread: monotonic ns of the last heap trim */
    uint32_t tick_dials;         /* loop thread: dials_done at the previous tick */
    uint8_t rest_ticks;          /* loop thread: ticks since a dial last ended */

    /* Dial slots: loop thread; the counts are published for stats. */
    uint32_t slot_cap;
    atomic_uint slots_busy, slots_waiting;
    hb__slot_wait *wait_head, *wait_tail;

    hb__tls_cache *tls; /* loop thread (created before the thread starts) */
    uint8_t *scratch;   /* loop thread, S_SCRATCH bytes, allocated on first use */

    /* The doorway. `mu` protects ring, notes and wake_pending. */
    pthread_mutex_t mu;
    s_cmd *ring;
    uint32_t cap, head, count;
    hb__note *notes_head, *notes_tail;
    bool wake_pending;

    hb__resolver *res; /* shared with the resolver threads, which may outlive us */
};

/*
 * Sizes (the measurements behind them are in docs/performance.md).
 * S_SERV_BUF: lws's receive buffer, one per service thread: the most one
 * RAW_RX callback hands over, so also the most a paused connection keeps
 * unconsumed (SPEC.md section 9: max_message_size plus one receive buffer).
 * S_SCRATCH: decrypted bytes per step of a TLS read (four 16 KiB records).
 * S_SLOTS: dials in flight by default (bridge.max_handshakes).
 */
#define S_SERV_BUF (256u * 1024)
#define S_SCRATCH  (64u * 1024)
#define S_SLOTS    128u

static const struct lws_protocols s_protocols[] = {
    {"honeybee", hb__conn_lws_cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/*
 * lws logs globally, not per context, and the library never prints. Its
 * warnings and errors are kept, per thread, so that a dial lws fails inside
 * its own call ("Unable to open socket") can say why (hb__loop_lws_last).
 * initial-exec: the default model in position-independent code would call
 * __tls_get_addr and make the binaries link the dynamic loader directly.
 */
static _Thread_local char s_lws_last[160] __attribute__((tls_model("initial-exec")));

static void s_lws_log(int level, const char *line)
{
    if (!(level & (LLL_ERR | LLL_WARN))) return;
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    if (n >= sizeof(s_lws_last)) n = sizeof(s_lws_last) - 1;
    memcpy(s_lws_last, line, n);
    s_lws_last[n] = 0;
}

const char *hb__loop_lws_last(void)
{
    return s_lws_last;
}

void hb__loop_lws_last_clear(void)
{
    s_lws_last[0] = 0;
}

/* ---- the doorway ---------------------------------------------------------- */

int hb__loop_post(hb__loop *loop, hb__cmd_fn fn, void *a, void *b, void *c)
{
    bool wake = false;
    pthread_mutex_lock(&loop->mu);
    if (loop->count == loop->cap) {
        pthread_mutex_unlock(&loop->mu);
        return HB_E_BUSY;
    }
    loop->ring[(loop->head + loop->count) % loop->cap] = (s_cmd){fn, a, b, c};
    loop->count++;
    if (!loop->wake_pending) wake = loop->wake_pending = true;
    pthread_mutex_unlock(&loop->mu);
    if (wake) lws_cancel_service(loop->ctx);
    return 0;
}

void hb__loop_notify(hb__loop *loop, hb__note *n)
{
    bool wake = false;
    n->next = NULL;
    pthread_mutex_lock(&loop->mu);
    if (loop->notes_tail)
        loop->notes_tail->next = n;
    else
        loop->notes_head = n;
    loop->notes_tail = n;
    if (!loop->wake_pending) wake = loop->wake_pending = true;
    pthread_mutex_unlock(&loop->mu);
    if (wake) lws_cancel_service(loop->ctx);
}

/* Loop thread (or the destroying thread once the loop is gone): run what
 * was posted. Commands posted while we run are taken in the next round, so
 * a command that posts again cannot starve the loop. */
static void s_drain(hb__loop *loop, bool cancelled)
{
    for (int round = 0; round < 4; round++) {
        pthread_mutex_lock(&loop->mu);
        loop->wake_pending = false;
        uint32_t n = loop->count;
        hb__note *notes = loop->notes_head;
        loop->notes_head = loop->notes_tail = NULL;
        pthread_mutex_unlock(&loop->mu);
        if (!n && !notes) return;
        for (uint32_t i = 0; i < n; i++) {
            pthread_mutex_lock(&loop->mu);
            s_cmd c = loop->ring[loop->head];
            loop->head = (loop->head + 1) % loop->cap;
            loop->count--;
            pthread_mutex_unlock(&loop->mu);
            c.fn(c.a, c.b, c.c, cancelled);
        }
        while (notes) {
            hb__note *next = notes->next;
            notes->next = NULL;
            notes->fn(notes, cancelled);
            notes = next;
        }
    }
    /* More arrived meanwhile: make sure we come back. */
    pthread_mutex_lock(&loop->mu);
    bool more = loop->count || loop->notes_head;
    if (more) loop->wake_pending = true;
    pthread_mutex_unlock(&loop->mu);
    if (more && !cancelled) lws_cancel_service(loop->ctx);
}

/* Loop thread: lws broadcasts the wake-up to every protocol of every vhost;
 * there is one of each. */
void hb__loop_wait_cancelled(struct lws *wsi)
{
    hb__loop *loop = lws_context_user(lws_get_context(wsi));
    if (loop) s_drain(loop, false);
}

uint64_t hb__loop_wall_from_mono(hb__loop *loop, uint64_t mono_ns)
{
    return (uint64_t)((int64_t)mono_ns + loop->wall_off);
}

static void s_wall_sync(hb__loop *loop, uint64_t mono)
{
    loop->wall_off = (int64_t)hb__wall_ns() - (int64_t)mono;
}

/* ---- accessors ---------------------------------------------------------- */

bool hb__loop_on_thread(hb__loop *loop)
{
    return atomic_load_explicit(&loop->running, memory_order_acquire) &&
           pthread_equal(pthread_self(), loop->self);
}

uint64_t hb__loop_heartbeat(hb__loop *loop)
{
    return atomic_load_explicit(&loop->heartbeat, memory_order_relaxed);
}

struct lws_context *hb__loop_ctx(hb__loop *loop)
{
    return loop->ctx;
}

const hb_logger *hb__loop_logger(hb__loop *loop)
{
    return loop->logger;
}

uint32_t hb__loop_live_conns(hb__loop *loop)
{
    return atomic_load_explicit(&loop->live_conns, memory_order_relaxed);
}

void hb__loop_conn_count(hb__loop *loop, int delta)
{
    if (delta > 0)
        atomic_fetch_add_explicit(&loop->live_conns, (unsigned)delta, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&loop->live_conns, (unsigned)-delta, memory_order_relaxed);
}

hb__resolver *hb__loop_resolver(hb__loop *loop)
{
    return loop->res;
}

hb__tls_cache *hb__loop_tls(hb__loop *loop)
{
    return loop->tls;
}

uint8_t *hb__loop_scratch(hb__loop *loop, size_t *cap)
{
    if (!loop->scratch) loop->scratch = malloc(S_SCRATCH);
    *cap = loop->scratch ? S_SCRATCH : 0;
    return loop->scratch;
}

/* ---- timers -------------------------------------------------------------- */

void hb__timer_init(hb__timer *t, hb__loop *loop, void (*fn)(void *), void *ud)
{
    memset(t, 0, sizeof(*t));
    t->loop = loop;
    t->fn = fn;
    t->ud = ud;
}

/* Loop thread. */
void hb__timer_arm(hb__timer *t, uint64_t delay_ns)
{
    hb__theap_arm(&t->loop->theap, t, delay_ns);
}

/* Loop thread. */
void hb__timer_cancel(hb__timer *t)
{
    hb__theap_cancel(&t->loop->theap, t);
}

/* ---- dial slots (loop thread) ---------------------------------------------- */

bool hb__loop_slot_take(hb__loop *loop, hb__slot_wait *w)
{
    uint32_t busy = atomic_load_explicit(&loop->slots_busy, memory_order_relaxed);
    if (busy < loop->slot_cap && !loop->wait_head) {
        atomic_store_explicit(&loop->slots_busy, busy + 1, memory_order_relaxed);
        return true;
    }
    w->next = NULL;
    w->prev = loop->wait_tail;
    if (loop->wait_tail)
        loop->wait_tail->next = w;
    else
        loop->wait_head = w;
    loop->wait_tail = w;
    w->queued = true;
    atomic_fetch_add_explicit(&loop->slots_waiting, 1, memory_order_relaxed);
    return false;
}

void hb__loop_slot_cancel(hb__loop *loop, hb__slot_wait *w)
{
    if (!w->queued) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        loop->wait_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        loop->wait_tail = w->prev;
    w->prev = w->next = NULL;
    w->queued = false;
    atomic_fetch_sub_explicit(&loop->slots_waiting, 1, memory_order_relaxed);
}

/* The slot goes straight to the first waiter, if any (busy stays). */
void hb__loop_slot_give(hb__loop *loop)
{
    hb__slot_wait *w = loop->wait_head;
    if (!w) {
        atomic_fetch_sub_explicit(&loop->slots_busy, 1, memory_order_relaxed);
        return;
    }
    hb__loop_slot_cancel(loop, w);
    w->granted(w);
}

uint32_t hb__loop_slots_busy(hb__loop *loop)
{
    return atomic_load_explicit(&loop->slots_busy, memory_order_relaxed);
}

uint32_t hb__loop_slots_waiting(hb__loop *loop)
{
    return atomic_load_explicit(&loop->slots_waiting, memory_order_relaxed);
}

/* ---- idle memory ---------------------------------------------------------- */

void hb__loop_link(hb__loop *loop, hb__link *l)
{
    l->prev = &loop->open;
    l->next = loop->open.next;
    l->next->prev = l;
    loop->open.next = l;
}

void hb__loop_unlink(hb__loop *loop, hb__link *l)
{
    (void)loop;
    if (!l->next) return;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

void hb__loop_tls_trimmed(hb__loop *loop)
{
    atomic_fetch_add_explicit(&loop->tls_trims, 1, memory_order_relaxed);
}

uint32_t hb__loop_tls_trims(hb__loop *loop)
{
    return atomic_load_explicit(&loop->tls_trims, memory_order_relaxed);
}

void hb__loop_dial_done(hb__loop *loop)
{
    loop->dials_done++;
}

/*
 * Loop thread, from the tick. A burst of dials (a cold start with hundreds
 * of peers, a mass reconnect) leaves the loop thread's malloc arena with
 * free pages between the connections' live blocks, which glibc keeps
 * resident; malloc_trim() gives whole free pages back. It walks every
 * arena under its lock, so it runs only once dials have come to rest after
 * at least S_TRIM_DIALS of them, and at most every S_TRIM_GAP_NS.
 */
#define S_TRIM_DIALS  64u
#define S_TRIM_REST   (HB__QUIET_TICKS + 2u)
#define S_TRIM_GAP_NS (5000ull * 1000 * 1000)

static void s_trim(hb__loop *loop, uint64_t now, uint32_t dials_before)
{
#ifdef __GLIBC__
    /* At rest: none ended for S_TRIM_REST ticks, by which time the
     * connections of the burst have had their buffers freed too. */
    if (loop->dials_done != dials_before) loop->rest_ticks = 0;
    if (loop->rest_ticks < 255) loop->rest_ticks++;
    if (loop->dials_done < S_TRIM_DIALS || loop->rest_ticks < S_TRIM_REST) return;
    if (now - loop->last_trim < S_TRIM_GAP_NS) return;
    loop->dials_done = 0;
    loop->last_trim = now;
    malloc_trim(0);
#else
    (void)loop;
    (void)now;
    (void)dials_before;
#endif
}

/* ---- the thread ------------------------------------------------------------ */

/* Loop thread, every 500 ms. */
static void s_tick(lws_sorted_usec_list_t *sul)
{
    hb__loop *loop = lws_container_of(sul, hb__loop, tick);
    uint64_t now = hb__mono_ns();
    atomic_store_explicit(&loop->heartbeat, now, memory_order_relaxed);
    s_wall_sync(loop, now);
    hb__tls_cache_sweep(loop->tls, now);
    hb__theap_poll(&loop->theap);
    for (hb__link *l = loop->open.next, *nx; l != &loop->open; l = nx) {
        nx = l->next; /* the callee never unlinks, but do not rely on it */
        hb__conn_idle(l);
    }
    s_trim(loop, now, loop->tick_dials);
    loop->tick_dials = loop->dials_done;
    lws_sul_schedule(loop->ctx, 0, &loop->tick, s_tick, 500 * LWS_US_PER_MS);
}

static void *s_run(void *arg)
{
    hb__loop *loop = arg;
    loop->self = pthread_self();
    atomic_store_explicit(&loop->running, true, memory_order_release);
    lws_sul_schedule(loop->ctx, 0, &loop->tick, s_tick, 1);
    while (!atomic_load(&loop->stop)) {
        if (lws_service(loop->ctx, 0) < 0) break;
        if (loop->after_turn) loop->after_turn(loop->ud);
        atomic_store_explicit(&loop->heartbeat, hb__mono_ns(), memory_order_relaxed);
    }
    /* Commands still waiting run normally: they may be stops the pool needs. */
    s_drain(loop, false);
    if (loop->after_turn) loop->after_turn(loop->ud); /* the last turn */
    if (loop->on_exit) loop->on_exit(loop->ud);
    lws_sul_cancel(&loop->tick);
    return NULL;
}

/* ---- life ---------------------------------------------------------------- */

int hb__loop_new(const hb__loop_cfg *cfg, hb__loop **out)
{
    hb__loop *loop = calloc(1, sizeof(*loop));
    if (!loop) return HB_E_NOMEM;
    int rc = HB_E_INTERNAL;
    loop->logger = cfg->logger;
    loop->on_exit = cfg->on_exit;
    loop->after_turn = cfg->after_turn;
    loop->ud = cfg->ud;
    loop->open.prev = loop->open.next = &loop->open;
    loop->slot_cap = cfg->max_handshakes ? cfg->max_handshakes : S_SLOTS;
    loop->cap = cfg->command_queue ? cfg->command_queue : 65536;
    loop->ring = calloc(loop->cap, sizeof(*loop->ring));
    pthread_mutex_init(&loop->mu, NULL);
    atomic_store(&loop->heartbeat, hb__mono_ns());
    if (!loop->ring) {
        rc = HB_E_NOMEM;
        goto fail;
    }
    /* How long an unused TLS profile is kept; the environment knob exists
     * for tests. */
    uint64_t idle_ns = 60000ull * 1000000ull;
    const char *idle = getenv("HB_TLS_PROFILE_IDLE_MS");
    if (idle && *idle) idle_ns = strtoull(idle, NULL, 10) * 1000000ull;
    if ((rc = hb__tls_cache_new(LWS_PRE, idle_ns, &loop->tls)) != 0) goto fail;

    lws_set_log_level(LLL_ERR | LLL_WARN, s_lws_log);
    s_wall_sync(loop, hb__mono_ns());

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = s_protocols;
    info.user = loop;
    info.timeout_secs = 3600;         /* every timeout of a dial is ours */
    info.connect_timeout_secs = 3600; /* connect_timeout is our own timer */
    info.pt_serv_buf_size = S_SERV_BUF;
    rc = HB_E_INTERNAL;
    loop->ctx = lws_create_context(&info);
    if (!loop->ctx) goto fail;
    hb__theap_init(&loop->theap, loop->ctx);

    uint32_t rq = cfg->resolver_queue ? cfg->resolver_queue : loop->cap;
    if ((rc = hb__resolver_new(loop, cfg->resolver_threads, rq, &loop->res)) != 0) goto fail;
    rc = HB_E_INTERNAL;
    if (pthread_create(&loop->thread, NULL, s_run, loop) != 0) goto fail;
    loop->thread_started = true;
    *out = loop;
    return 0;
fail:
    hb__loop_free(&loop);
    return rc;
}

/* ---- the end ------------------------------------------------------------ */

void hb__loop_exiting(hb__loop *loop)
{
    atomic_store(&loop->exiting, true);
}

/*
 * Why the exit skips lws_context_destroy at scale: it closes every socket
 * one by one, and Debian's lws 4.1.6 is built with _DEBUG, whose
 * sanity_assert_no_sockfd_traces() scans the whole descriptor table (as
 * large as the open file limit) on each close, and each close also goes
 * through lws_set_timeout's sorted list: O(N x limit) and worse
 * (docs/performance.md, "Shutdown at scale"). Below S_FAST_MIN the context
 * is destroyed as usual.
 */
#define S_FAST_MIN (1ull << 26)

/* Contexts a process exit left undestroyed: kept reachable (leak checkers
 * see no lost block; the process is about to end). */
typedef struct s_kept {
    struct lws_context *ctx;
    struct s_kept *next;
} s_kept;
static s_kept *s_kept_ctxs;
static pthread_mutex_t s_kept_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t s_fast_min(void)
{
    const char *e = getenv("HB_TEARDOWN_FAST_MIN");
    if (!e || !*e) return S_FAST_MIN;
    char *end = NULL;
    unsigned long long v = strtoull(e, &end, 10);
    return end && !*end ? (uint64_t)v : S_FAST_MIN;
}

/*
 * Destroying thread, the loop thread joined, the process exiting: free
 * every connection nobody owns in one pass (its socket stays open), with
 * no timer left to fire and no dial slot left to grant. True when the
 * context is then to be left to the exit.
 */
static bool s_exit_pass(hb__loop *loop)
{
    uint64_t t0 = hb__mono_ns();
    uint64_t socks = hb__loop_live_conns(loop);
    for (hb__slot_wait *w = loop->wait_head, *nx; w; w = nx) {
        nx = w->next;
        w->prev = w->next = NULL;
        w->queued = false;
    }
    loop->wait_head = loop->wait_tail = NULL;
    hb__theap_clear(&loop->theap);
    uint32_t freed = 0, kept = 0;
    for (hb__link *l = loop->open.next, *nx; l != &loop->open; l = nx) {
        nx = l->next;
        if (hb__conn_forget(l))
            freed++;
        else
            kept++;
    }
    struct rlimit rl;
    uint64_t fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? (uint64_t)rl.rlim_cur
                       : 1u << 20;
    uint64_t min = s_fast_min();
    /* One still owned (a worker that kept its connection after DESTROY)
     * is closed by lws as usual. */
    bool skip = !kept && socks * fds >= min;
    uint64_t us = (hb__mono_ns() - t0) / 1000u;
    HB_LOG(loop->logger, HB_LOG_INFO, NULL,
           "teardown: released %" PRIu32 " connections in %" PRIu64 ".%03" PRIu64 " ms%s", freed,
           us / 1000u, us % 1000u, skip ? "; their sockets are left to the process exit" : "");
    return skip;
}

void hb__loop_free(hb__loop **pl)
{
    hb__loop *loop = *pl;
    if (!loop) return;
    *pl = NULL;
    if (loop->thread_started) {
        atomic_store(&loop->stop, true);
        lws_cancel_service(loop->ctx);
        pthread_join(loop->thread, NULL);
    }
    /* Connections a lookup holds leave the list while the resolver still
     * hands its answers to the doorway: once orphaned, a resolver thread
     * frees such a connection itself and must find nothing of the loop, so
     * they give back their TLS session, timers and slot now. */
    for (hb__link *l = loop->open.next, *nx; l != &loop->open; l = nx) {
        nx = l->next;
        if (hb__conn_in_lookup(l)) {
            hb__loop_unlink(loop, l);
            hb__conn_loop_gone(l);
        }
    }
    /* Resolver threads: orphaned (a lookup in progress may take long; we
     * do not wait for it), the jobs still queued cancelled. */
    hb__resolver_orphan(&loop->res);
    /* What is left in the doorway is cancelled (frees what it holds). */
    if (loop->ring) s_drain(loop, true);
    if (loop->ctx) {
        if (atomic_load(&loop->exiting) && s_exit_pass(loop)) {
            s_kept *k = malloc(sizeof(*k));
            if (k) {
                pthread_mutex_lock(&s_kept_mu);
                *k = (s_kept){loop->ctx, s_kept_ctxs};
                s_kept_ctxs = k;
                pthread_mutex_unlock(&s_kept_mu);
            }
        } else {
            /* Closing connections may still cancel timers: the heap goes
             * after the context, and its lws timer went with the context. */
            lws_context_destroy(loop->ctx);
        }
        loop->theap.sul_due = UINT64_MAX;
        hb__theap_fini(&loop->theap);
    }
    if (loop->ring) s_drain(loop, true);
    hb__tls_cache_free(&loop->tls);
    free(loop->scratch);
    free(loop->ring);
    pthread_mutex_destroy(&loop->mu);
    free(loop);
}
