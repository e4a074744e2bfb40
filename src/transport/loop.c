/*
 * loop.c: one libwebsockets context served by one thread (the "loop
 * thread"), the doorway into it, timers, resolver threads and the client
 * vhosts (one per distinct TLS profile).
 *
 * Only lws_cancel_service() is ever called from another thread. Everything
 * else a foreign thread wants done is put on the doorway (see loop.h) and
 * runs on the loop thread from LWS_CALLBACK_EVENT_WAIT_CANCELLED.
 *
 * lws 4.1.6 as Debian builds it has no asynchronous DNS: its connect path
 * would call getaddrinfo() on the loop thread and stall every peer. Host
 * names are therefore resolved by our own resolver threads; lws only ever
 * sees a numeric address.
 */
#include "transport/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netdb.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"

typedef struct s_cmd {
    hb__cmd_fn fn;
    void *a;
    void *b;
    void *c;
} s_cmd;

typedef struct s_vhost {
    struct s_vhost *next;
    char *ca, *cert, *key; /* the profile; NULL = none */
    struct lws_vhost *vh;
    int refs;            /* connections using it */
    bool keep;           /* the plain vhost: never destroyed */
    uint64_t idle_since; /* monotonic ns when refs went to 0 */
} s_vhost;

/*
 * The resolver threads and their queue. Detached threads that hold a
 * reference each, so hb__loop_free never waits for a slow getaddrinfo():
 * it orphans the resolver (loop = NULL) and returns; a thread that finishes
 * a lookup afterwards cancels that job itself. `mu` protects everything.
 */
typedef struct s_resolver {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    hb__resolve *head, *tail;
    uint32_t queued, cap;  /* waiting jobs and their bound */
    hb__resolve **running; /* one slot per thread: the job it is resolving */
    uint32_t nthreads;
    bool stop;
    int refs;       /* threads + the loop */
    hb__loop *loop; /* NULL once orphaned */
} s_resolver;

/* Tests only (hb__resolve_set_lookup): a stand-in for getaddrinfo(). */
static _Atomic(hb__lookup_fn) s_lookup_hook;

static void s_resolver_unref(s_resolver *rs)
{
    pthread_mutex_lock(&rs->mu);
    bool last = --rs->refs == 0;
    pthread_mutex_unlock(&rs->mu);
    if (!last) return;
    pthread_mutex_destroy(&rs->mu);
    pthread_cond_destroy(&rs->cond);
    free(rs->running);
    free(rs);
}

struct hb__loop {
    struct lws_context *ctx;
    const hb_logger *logger;
    pthread_t thread;    /* written before the thread starts */
    bool thread_started; /* creating/destroying thread only */
    pthread_t self;      /* the loop thread's own id, published by `running` */
    atomic_bool running;
    atomic_bool stop;               /* set by hb__loop_free */
    atomic_uint_fast64_t heartbeat; /* monotonic ns of the last loop turn */
    atomic_uint live_conns;         /* lws sockets we hold */
    atomic_uint tls_trims;          /* idle TLS buffer releases (tests) */
    void (*on_exit)(void *ud);
    void (*after_turn)(void *ud);
    void *ud;
    lws_sorted_usec_list_t tick; /* loop thread: keeps the heartbeat fresh */
    hb__theap theap;             /* loop thread: every hb__timer of this loop */
    int64_t wall_off;            /* loop thread: wall - monotonic, refreshed by the tick */
    hb__link tls_open;           /* loop thread: open TLS connections (list head) */
    uint32_t dials_done;         /* loop thread: handshakes ended since the last trim */
    uint64_t last_trim;          /* loop thread: monotonic ns of the last heap trim */
    uint32_t tick_dials;         /* loop thread: dials_done at the previous tick */
    uint8_t rest_ticks;          /* loop thread: ticks since a handshake last ended */
    struct lws_vhost *plain_vh;  /* the vhost that drains the doorway; set before the thread */

    /* The doorway. `mu` protects ring, notes and wake_pending. */
    pthread_mutex_t mu;
    s_cmd *ring;
    uint32_t cap, head, count;
    hb__note *notes_head, *notes_tail;
    bool wake_pending;

    s_resolver *res; /* shared with the resolver threads, which may outlive us */

    /* Vhosts: loop thread only (creation happens at dial time). */
    s_vhost *vhosts;
    uint32_t vhost_serial;
    uint64_t vhost_idle_ns; /* an unused profile is destroyed after this */
    atomic_uint n_vhosts;   /* for tests and stats */
};

/*
 * Buffer sizes. lws's default restricts each send() to rx_buffer_size
 * (4 KiB) and buffers and drains the rest of a large message 4 KiB per loop
 * turn; tx_packet_size lifts that to 256 KiB and allocates nothing while a
 * connection is idle. The receive chunk (pt_serv_buf_size) is one buffer per
 * service thread, so it can be large. rx_buffer_size is allocated per
 * connection: measured with 1,000 idle peers, any size above 4 KiB costs
 * about 4 KiB more RSS per peer (13.0 instead of 9.0 KiB), and once a large
 * message went through, the whole buffer stays resident. Since the reader
 * sizes a message once from the frame header (hb_reader_expect), 4 KiB
 * pieces cost only callbacks, not copies: receiving 8 x 16 MB measured
 * within 5 % of 16 KiB pieces. So it stays at 4 KiB, explicitly (0 would
 * mean pt_serv_buf_size, 256 KiB per connection): 2 KiB would save 2 KiB
 * per idle peer but measured 7 % slower on 4 KiB messages (two pieces).
 *
 * Handshakes in flight (max_http_header_pool). lws gives every handshake a
 * header table (a ~1 KiB struct and 4 KiB of header data) and frees it once
 * the connection is up, right before it allocates the 4 KiB receive buffer.
 * When a cold start dials 1,000 peers in one loop turn, 1,000 tables are
 * live at once, and what each leaves behind once freed (the struct, the
 * client stash: ~1.1 KiB) sits between live blocks of its neighbours, where
 * nothing reuses it: measured 1.1-1.3 KiB of dead heap per peer, resident
 * for good (9.1 KiB per idle ws peer from the config file against 7.4 added
 * one by one over control). lws queues a client that finds the pool busy
 * and dials it when a table comes free, so capping the pool bounds that
 * residue by the cap instead of the peer count (7.5 KiB per peer with 1,000
 * and 10,000 peers), and it also keeps lws's sorted timeout list short
 * during a cold start: 10,000 peers connected in 2.0-2.5 s instead of 3.0.
 * The cap is `bridge.max_handshakes` (hb_pool_config.max_handshakes),
 * default S_AH_POOL. The price: a peer waiting for a table waits behind up
 * to that many handshakes in progress (its connect_timeout runs meanwhile), so as many
 * peers stuck in a dial (an address that drops SYNs, a server that never
 * answers) delay the others until their connect_timeout ends them.
 */
#define S_RX_BUFFER (4u * 1024)
#define S_TX_PACKET (256u * 1024)
#define S_SERV_BUF  (256u * 1024)
#define S_AH_POOL   128

static const struct lws_protocols s_protocols[] = {
    {"honeybee", hb__conn_lws_cb, 0, S_RX_BUFFER, 0, NULL, S_TX_PACKET},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* lws's own keepalive ("validity") is not used: the session's keepalive
 * block does that job with per-peer settings. Push lws's far away. */
static const lws_retry_bo_t s_no_validity = {
    .secs_since_valid_ping = 0xfffe,
    .secs_since_valid_hangup = 0xffff,
};

static void s_lws_log(int level, const char *line)
{
    /* lws logs globally, not per context: we keep it quiet unless asked. */
    if (getenv("HB_LWS_DEBUG")) fprintf(stderr, "lws[%d]: %s", level, line);
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

/* Loop thread: lws broadcasts the wake-up to every protocol of every vhost
 * (one per TLS profile); the doorway is drained for the plain one only. */
void hb__loop_wait_cancelled(struct lws *wsi)
{
    hb__loop *loop = lws_context_user(lws_get_context(wsi));
    if (loop && lws_get_vhost(wsi) == loop->plain_vh) s_drain(loop, false);
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

/* ---- idle memory ---------------------------------------------------------- */

void hb__loop_tls_link(hb__loop *loop, hb__link *l)
{
    l->prev = &loop->tls_open;
    l->next = loop->tls_open.next;
    l->next->prev = l;
    loop->tls_open.next = l;
}

void hb__loop_tls_unlink(hb__loop *loop, hb__link *l)
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
 * Loop thread, from the tick. A burst of handshakes (a cold start with
 * hundreds of peers, a mass reconnect) leaves the loop thread's malloc
 * arena with free pages between the connections' live blocks: the
 * handshake's header table, and for TLS the certificate parsing and key
 * exchange (measured: 1,000 wss handshakes leave ~2 MiB of such pages).
 * glibc keeps them resident; malloc_trim() gives whole free pages back
 * (MADV_DONTNEED). It walks every arena under its lock, so it runs only
 * once handshakes have come to rest after at least S_TRIM_DIALS of them,
 * and at most every S_TRIM_GAP_NS: never on the per-message path.
 */
#define S_TRIM_DIALS  64u
#define S_TRIM_REST   (HB__TLS_QUIET_TICKS + 2u)
#define S_TRIM_GAP_NS (5000ull * 1000 * 1000)

static void s_trim(hb__loop *loop, uint64_t now, uint32_t dials_before)
{
#ifdef __GLIBC__
    /* At rest: none ended for S_TRIM_REST ticks, by which time the TLS
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

static void s_vhost_sweep(hb__loop *loop, uint64_t now);

static void s_tick(lws_sorted_usec_list_t *sul)
{
    hb__loop *loop = lws_container_of(sul, hb__loop, tick);
    uint64_t now = hb__mono_ns();
    atomic_store_explicit(&loop->heartbeat, now, memory_order_relaxed);
    s_wall_sync(loop, now);
    s_vhost_sweep(loop, now);
    hb__theap_poll(&loop->theap);
    for (hb__link *l = loop->tls_open.next, *nx; l != &loop->tls_open; l = nx) {
        nx = l->next; /* the callee never unlinks, but do not rely on it */
        hb__conn_tls_idle(l);
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

/* ---- resolver ------------------------------------------------------------ */

/* Loop thread. */
int hb__resolve_submit(hb__loop *loop, hb__resolve *r, char *err, size_t errlen)
{
    s_resolver *rs = loop->res;
    r->note.next = NULL;
    atomic_store_explicit(&r->abandoned, false, memory_order_relaxed);
    pthread_mutex_lock(&rs->mu);
    const char *why = NULL;
    if (rs->queued >= rs->cap) why = "resolver busy (lookup queue full)";
    for (uint32_t i = 0; !why && i < rs->nthreads; i++)
        if (rs->running[i] && rs->running[i]->owner == r->owner)
            why = "resolver busy (the previous lookup for this peer is still running)";
    if (why) {
        pthread_mutex_unlock(&rs->mu);
        snprintf(err, errlen, "resolve %s: %s", r->host, why);
        return -1;
    }
    if (rs->tail)
        rs->tail->note.next = &r->note;
    else
        rs->head = r;
    rs->tail = r;
    rs->queued++;
    pthread_cond_signal(&rs->cond);
    pthread_mutex_unlock(&rs->mu);
    return 0;
}

void hb__resolve_abandon(hb__resolve *r)
{
    atomic_store_explicit(&r->abandoned, true, memory_order_relaxed);
}

void hb__resolve_set_lookup(hb__lookup_fn fn)
{
    atomic_store(&s_lookup_hook, fn);
}

static void s_lookup(hb__resolve *r)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    r->addr[0] = 0;
    hb__lookup_fn hook = atomic_load(&s_lookup_hook);
    if (hook) {
        if (hook(r->host, r->addr, sizeof(r->addr), r->error, sizeof(r->error)) != 0)
            r->addr[0] = 0;
        return;
    }
    int rc = getaddrinfo(r->host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(r->error, sizeof(r->error), "resolve %s: %s", r->host, gai_strerror(rc));
    } else {
        /* Prefer IPv4: test and local servers often listen on 127.0.0.1
         * only while "localhost" resolves to ::1 first. */
        struct addrinfo *pick = res;
        for (struct addrinfo *a = res; a; a = a->ai_next)
            if (a->ai_family == AF_INET) {
                pick = a;
                break;
            }
        const void *src = pick->ai_family == AF_INET6
                              ? (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr
                              : (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr;
        if (!inet_ntop(pick->ai_family, src, r->addr, sizeof(r->addr))) r->addr[0] = 0;
        if (!r->addr[0]) snprintf(r->error, sizeof(r->error), "resolve %s: bad address", r->host);
    }
    if (res) freeaddrinfo(res);
}

/* Resolver thread: blocking getaddrinfo, the result handed back as a note. */
static void *s_resolver_run(void *arg)
{
    s_resolver *rs = arg;
    pthread_mutex_lock(&rs->mu);
    for (;;) {
        while (!rs->head && !rs->stop) pthread_cond_wait(&rs->cond, &rs->mu);
        if (rs->stop) break;
        hb__resolve *r = rs->head;
        rs->head = (hb__resolve *)r->note.next; /* note is the first member */
        if (!rs->head) rs->tail = NULL;
        rs->queued--;
        if (atomic_load_explicit(&r->abandoned, memory_order_relaxed)) {
            /* Nobody wants it: no getaddrinfo(), just hand the job back. */
            r->addr[0] = 0;
            snprintf(r->error, sizeof(r->error), "lookup abandoned");
        } else {
            uint32_t slot = 0;
            while (slot < rs->nthreads && rs->running[slot]) slot++;
            if (slot < rs->nthreads) rs->running[slot] = r;
            pthread_mutex_unlock(&rs->mu);
            s_lookup(r);
            pthread_mutex_lock(&rs->mu);
            if (slot < rs->nthreads) rs->running[slot] = NULL;
        }
        if (rs->loop) {
            hb__loop_notify(rs->loop, &r->note); /* order: rs->mu, then loop->mu */
        } else {
            /* The loop is gone: cancel the job here (it only frees memory). */
            pthread_mutex_unlock(&rs->mu);
            r->note.fn(&r->note, true);
            pthread_mutex_lock(&rs->mu);
        }
    }
    pthread_mutex_unlock(&rs->mu);
    s_resolver_unref(rs);
    return NULL;
}

/* ---- vhosts ------------------------------------------------------------- */

static bool s_streq(const char *a, const char *b)
{
    if (!a || !*a) return !b || !*b;
    return b && strcmp(a, b) == 0;
}

static char *s_dup(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static struct lws_vhost *s_make_vhost(hb__loop *loop, const char *name, const char *ca,
                                      const char *cert, const char *key)
{
    struct lws_context_creation_info vi;
    memset(&vi, 0, sizeof(vi));
    vi.port = CONTEXT_PORT_NO_LISTEN;
    vi.protocols = s_protocols;
    vi.vhost_name = name;
    vi.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    vi.client_ssl_ca_filepath = ca;
    vi.client_ssl_cert_filepath = cert;
    vi.client_ssl_private_key_filepath = key;
    vi.retry_and_idle_policy = &s_no_validity;
    vi.connect_timeout_secs = 3600; /* connect_timeout is our own timer */
    return lws_create_vhost(loop->ctx, &vi);
}

/*
 * Loop thread. The client vhost for a TLS profile (CA file, client cert,
 * key), created on first use and shared by every connection with that
 * profile; reference counted by connections. A profile nobody used for
 * vhost_idle_ns is destroyed by the tick (not at once: a peer in backoff
 * would otherwise rebuild its SSL_CTX on every dial). Only connections
 * that are completely gone release, so lws never destroys a vhost that a
 * closing socket still uses.
 */
struct lws_vhost *hb__loop_vhost_acquire(hb__loop *loop, const hb_tls_cfg *tls, char *err,
                                         size_t errlen)
{
    const char *ca = tls ? tls->ca_file : NULL, *cert = tls ? tls->cert_file : NULL,
               *key = tls ? tls->key_file : NULL;
    for (s_vhost *v = loop->vhosts; v; v = v->next)
        if (s_streq(v->ca, ca) && s_streq(v->cert, cert) && s_streq(v->key, key)) {
            v->refs++;
            return v->vh;
        }
    /* lws would build the vhost without a file it cannot read and fail
     * every handshake later with an opaque error: say it now. */
    const char *files[] = {ca, cert, key};
    const char *keys[] = {"tls.ca_file", "tls.cert_file", "tls.key_file"};
    for (int i = 0; i < 3; i++)
        if (files[i] && *files[i] && access(files[i], R_OK) != 0) {
            snprintf(err, errlen, "%s %s: %s", keys[i], files[i], strerror(errno));
            return NULL;
        }
    s_vhost *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    v->ca = s_dup(ca);
    v->cert = s_dup(cert);
    v->key = s_dup(key);
    char name[32];
    snprintf(name, sizeof(name), "hb-tls-%u", loop->vhost_serial++);
    v->vh = s_make_vhost(loop, name, v->ca, v->cert, v->key);
    if (!v->vh) {
        snprintf(err, errlen, "TLS setup failed (ca_file %s, cert_file %s, key_file %s)",
                 ca ? ca : "-", cert ? cert : "-", key ? key : "-");
        free(v->ca);
        free(v->cert);
        free(v->key);
        free(v);
        return NULL;
    }
    v->next = loop->vhosts;
    v->refs = 1;
    v->keep = loop->vhosts == NULL; /* the first one is the plain vhost */
    loop->vhosts = v;
    atomic_fetch_add_explicit(&loop->n_vhosts, 1, memory_order_relaxed);
    return v->vh;
}

/* Loop thread (or the destroying thread while lws is torn down): a
 * connection that used `vh` is gone. Never destroys anything itself. */
void hb__loop_vhost_release(hb__loop *loop, struct lws_vhost *vh)
{
    for (s_vhost *v = loop->vhosts; v; v = v->next)
        if (v->vh == vh) {
            if (v->refs > 0 && --v->refs == 0) v->idle_since = hb__mono_ns();
            return;
        }
}

/* Loop thread, from the tick. */
static void s_vhost_sweep(hb__loop *loop, uint64_t now)
{
    for (s_vhost **pv = &loop->vhosts; *pv;) {
        s_vhost *v = *pv;
        if (v->keep || v->refs > 0 || now - v->idle_since < loop->vhost_idle_ns) {
            pv = &v->next;
            continue;
        }
        *pv = v->next;
        lws_vhost_destroy(v->vh);
        atomic_fetch_sub_explicit(&loop->n_vhosts, 1, memory_order_relaxed);
        free(v->ca);
        free(v->cert);
        free(v->key);
        free(v);
    }
}

uint32_t hb__loop_vhost_count(hb__loop *loop)
{
    return atomic_load_explicit(&loop->n_vhosts, memory_order_relaxed);
}

/* ---- life ---------------------------------------------------------------- */

int hb__loop_new(const hb__loop_cfg *cfg, hb__loop **out)
{
    hb__loop *loop = calloc(1, sizeof(*loop));
    if (!loop) return HB_E_NOMEM;
    loop->logger = cfg->logger;
    loop->on_exit = cfg->on_exit;
    loop->after_turn = cfg->after_turn;
    loop->ud = cfg->ud;
    loop->tls_open.prev = loop->tls_open.next = &loop->tls_open;
    loop->cap = cfg->command_queue ? cfg->command_queue : 65536;
    loop->ring = calloc(loop->cap, sizeof(*loop->ring));
    pthread_mutex_init(&loop->mu, NULL);
    atomic_store(&loop->heartbeat, hb__mono_ns());
    /* How long an unused TLS profile is kept; the environment knob exists
     * for tests. */
    loop->vhost_idle_ns = 60000ull * 1000000ull;
    const char *idle = getenv("HB_TLS_PROFILE_IDLE_MS");
    if (idle && *idle) loop->vhost_idle_ns = strtoull(idle, NULL, 10) * 1000000ull;
    if (!loop->ring) goto nomem;

    lws_set_log_level(LLL_ERR | LLL_WARN, s_lws_log);
    s_wall_sync(loop, hb__mono_ns());

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.user = loop;
    info.timeout_secs = 600; /* handshake stages; connect_timeout is ours */
    info.connect_timeout_secs = 3600;
    info.pt_serv_buf_size = S_SERV_BUF;
    info.max_http_header_pool = (int)(cfg->max_handshakes ? cfg->max_handshakes : S_AH_POOL);
    loop->ctx = lws_create_context(&info);
    if (!loop->ctx) goto fail;
    hb__theap_init(&loop->theap, loop->ctx);
    /* The plain vhost: every EVENT_WAIT_CANCELLED reaches us through it. */
    hb_tls_cfg none = {0};
    char err[160];
    if (!(loop->plain_vh = hb__loop_vhost_acquire(loop, &none, err, sizeof(err)))) goto fail;

    s_resolver *rs = calloc(1, sizeof(*rs));
    if (!rs) goto fail;
    pthread_mutex_init(&rs->mu, NULL);
    pthread_cond_init(&rs->cond, NULL);
    rs->refs = 1;
    rs->loop = loop;
    loop->res = rs;
    uint32_t nr = cfg->resolver_threads ? cfg->resolver_threads : 2;
    rs->cap = cfg->resolver_queue ? cfg->resolver_queue : loop->cap;
    rs->nthreads = nr;
    rs->running = calloc(nr, sizeof(*rs->running));
    if (!rs->running) goto fail;
    for (uint32_t i = 0; i < nr; i++) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&rs->mu);
        rs->refs++;
        pthread_mutex_unlock(&rs->mu);
        int rc = pthread_create(&t, &at, s_resolver_run, rs);
        pthread_attr_destroy(&at);
        if (rc != 0) {
            s_resolver_unref(rs);
            goto fail;
        }
    }
    if (pthread_create(&loop->thread, NULL, s_run, loop) != 0) goto fail;
    loop->thread_started = true;
    *out = loop;
    return 0;
fail:
    hb__loop_free(&loop);
    return HB_E_INTERNAL;
nomem:
    hb__loop_free(&loop);
    return HB_E_NOMEM;
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
    /* Resolver threads: orphan them (a lookup in progress may take long;
     * we do not wait for it) and cancel the jobs still queued. */
    hb__resolve *pend = NULL;
    if (loop->res) {
        s_resolver *rs = loop->res;
        pthread_mutex_lock(&rs->mu);
        rs->stop = true;
        rs->loop = NULL;
        pend = rs->head;
        rs->head = rs->tail = NULL;
        pthread_cond_broadcast(&rs->cond);
        pthread_mutex_unlock(&rs->mu);
        s_resolver_unref(rs);
        loop->res = NULL;
    }
    while (pend) {
        hb__resolve *next = (hb__resolve *)pend->note.next;
        pend->note.fn(&pend->note, true);
        pend = next;
    }
    /* What is left in the doorway is cancelled (frees what it holds). */
    if (loop->ring) s_drain(loop, true);
    if (loop->ctx) {
        /* Closing connections may still cancel timers: the heap goes after
         * the context, and its lws timer went with the context. */
        lws_context_destroy(loop->ctx);
        loop->theap.sul_due = UINT64_MAX;
        hb__theap_fini(&loop->theap);
    }
    if (loop->ring) s_drain(loop, true);
    while (loop->vhosts) {
        s_vhost *v = loop->vhosts;
        loop->vhosts = v->next;
        free(v->ca);
        free(v->cert);
        free(v->key);
        free(v);
    }
    free(loop->ring);
    pthread_mutex_destroy(&loop->mu);
    free(loop);
}
