/*
 * main.c: honeybee-bridge, the daemon (SPEC.md sections 2 and 7).
 *
 * Threads: the main thread (this file: arguments, signals, reload,
 * shutdown), the pool's loop thread (and its resolver threads; it also
 * publishes on the inbox socket), the bridge thread (the other ZeroMQ
 * sockets, src/bridge/) and the HTTP thread
 * (src/daemon/http.c). Signals are blocked in every thread and read here
 * from a signalfd, so no code runs in a signal handler.
 *
 * Start: configuration (cli.c), logger, the open file limit raised to the
 * hard limit, bridge (binds the four endpoints; failure = exit 1 naming the
 * endpoint), pool, HTTP, then the peers of the file. Stop (SIGTERM/SIGINT):
 * /readyz 503, the bridge stops reading the send socket (what it read is
 * already queued), the pool drains and closes every peer with 1001 and
 * emits disconnected/removed, the bridge publishes what is left and flushes
 * within a bounded linger, exit 0.
 *
 * Exit codes: 0 clean, 2 bad configuration or arguments (cli.c), 1 runtime
 * failure. This is the only place that exits.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "honeybee/config.h"
#include "honeybee/pool.h"

#include "bridge/auth.h"
#include "bridge/bridge.h"
#include "config/shard.h"
#include "core/endpoint.h"
#include "core/clock.h"
#include "core/tsan.h"
#include "daemon/cli.h"
#include "daemon/http.h"
#include "daemon/reload.h"
#include "pool/pool_int.h"

/*
 * TSan builds: libzmq and libwebsockets are not instrumented, so TSan sees
 * their I/O threads write message buffers (recv, memcpy) without the
 * lock-free hand-offs that order them, and reports every byte our threads
 * later read: slow and false. This asks TSan to ignore accesses made by
 * uninstrumented libraries (their interceptor calls); our own code stays
 * fully checked.
 */
#ifdef HB_TSAN
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "ignore_noninstrumented_modules=1";
}
#endif

/* An event loop that has not turned for this long fails /healthz. */
#define S_HEALTH_STALE_NS (10ull * 1000000000ull)

typedef struct s_daemon {
    hb_config *cfg; /* the configuration the daemon started with */
    hb_logger lg;
    hb_log_stderr_opts lgo;
    hb__bridge *bridge;
    hb_pool *pool;
    hb__http *http;
    hb__http_body *metrics_cur; /* HTTP thread (and main after it stopped) */
    int metrics_live;           /* /metrics bodies referenced; HTTP thread */
    uint64_t metrics_next_ns;   /* no new render before (monotonic); HTTP thread */
    hb__reconnects *reconnects; /* reload's pending reconnects */
    hb__file_peers file_peers;  /* main thread */
    _Atomic bool ready;         /* every socket bound; read by the HTTP thread */
    _Atomic bool shutting_down; /* from the signal on */
    /* Main thread: the signalfd, and what signals asked for. */
    int sfd;
    const char *stop_why; /* "SIGTERM" or "SIGINT": shut down */
    bool hup_pending;     /* SIGHUP while busy: reload when done */
} s_daemon;

/* ---- HTTP: the HTTP thread ----------------------------------------------- */

/*
 * /metrics bodies are shared so that slow clients cannot multiply them: a
 * scrape renders a fresh body unless two are alive already (the newest,
 * and an older one a slow client still reads) or the last render was too
 * recent (below), in which case it gets the newest. So /metrics holds at most two bodies however
 * many clients read slowly, and a scrape is fresh whenever nobody is stuck on an old one
 * (docs/operations.md, "HTTP").
 */
#define S_METRICS_MAX_BODIES 2

/* The HTTP server's own families, appended to the bridge's text. */
static char *s_metrics_http(hb__http *srv, char *text)
{
    hb__http_counters hc;
    hb__http_counters_get(srv, &hc);
    char buf[2048];
    size_t n = 0;
#define S_ADD(...) \
    n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, __VA_ARGS__)
    S_ADD("# HELP honeybee_http_responses_total HTTP responses by status code.\n"
          "# TYPE honeybee_http_responses_total counter\n");
    for (size_t k = 0; k < HB__HTTP_N_CODES; k++) {
        if (hb__http_codes[k])
            S_ADD("honeybee_http_responses_total{code=\"%d\"} %" PRIu64 "\n", hb__http_codes[k],
                  hc.responses[k]);
        else
            S_ADD("honeybee_http_responses_total{code=\"other\"} %" PRIu64 "\n", hc.responses[k]);
    }
    S_ADD("# HELP honeybee_http_evicted_total HTTP connections closed to make room "
          "(bridge.http_max_connections).\n# TYPE honeybee_http_evicted_total counter\n"
          "honeybee_http_evicted_total %" PRIu64 "\n",
          hc.evicted);
    S_ADD("# HELP honeybee_http_timeouts_total HTTP connections closed at the read or write "
          "deadline.\n# TYPE honeybee_http_timeouts_total counter\n"
          "honeybee_http_timeouts_total %" PRIu64 "\n",
          hc.timed_out);
    S_ADD("# HELP honeybee_http_accept_errors_total accept(2) failures (out of descriptors).\n"
          "# TYPE honeybee_http_accept_errors_total counter\n"
          "honeybee_http_accept_errors_total %" PRIu64 "\n",
          hc.accept_errors);
#undef S_ADD
    if (n >= sizeof(buf)) n = sizeof(buf) - 1;
    size_t len = strlen(text);
    char *out = realloc(text, len + n + 1);
    if (!out) {
        free(text);
        return NULL;
    }
    memcpy(out + len, buf, n);
    out[len + n] = 0;
    return out;
}

static void s_metrics_freed(void *ud)
{
    ((s_daemon *)ud)->metrics_live--;
}

static hb__http_body *s_metrics(s_daemon *d, hb__http *srv, int *status)
{
    uint64_t t0 = hb__mono_ns();
    if (d->metrics_cur && (d->metrics_live >= S_METRICS_MAX_BODIES || t0 < d->metrics_next_ns)) {
        *status = 200;
        return hb__http_body_ref(d->metrics_cur);
    }
    hb_pool_stats st;
    hb_peer_info *list = NULL;
    size_t n = 0;
    hb__bridge_counters bc;
    memset(&st, 0, sizeof(st));
    hb__bridge_counters_get(d->bridge, &bc);
    if (hb_pool_stats_get(d->pool, &st) != 0 || hb_pool_list(d->pool, &list, &n) != 0) {
        *status = 500;
        return hb__http_body_text("cannot read the pool's statistics\n");
    }
    char *text = hb__metrics_render(&st, list, n, &bc);
    hb_peer_list_free(list, n);
    if (text) text = s_metrics_http(srv, text);
    hb__http_body *b = text ? hb__http_body_new(text, strlen(text)) : NULL;
    if (!b) {
        *status = 500;
        return hb__http_body_text("out of memory\n");
    }
    b->on_free = s_metrics_freed;
    b->free_ud = d;
    d->metrics_live++;
    /* Rendering takes the HTTP thread, about 5 ms per MB of body in a
     * release build: the next render waits 100 ms per MB of this one, so a
     * flood of scrapes takes about a twentieth of the thread and /healthz
     * keeps answering. A small pool (a few KB) is fresh at every scrape.
     * Sized by the body, not by the clock, so a loaded machine does not
     * make metrics stale. */
    d->metrics_next_ns = t0 + (uint64_t)b->len * 100u;
    /* The cache keeps one reference, on the newest. */
    hb__http_body_unref(&d->metrics_cur);
    d->metrics_cur = b;
    *status = 200;
    return hb__http_body_ref(b);
}

static hb__http_body *s_http(void *ud, hb__http *srv, const char *path, int *status,
                             const char **ctype)
{
    s_daemon *d = ud;
    *ctype = "text/plain; charset=utf-8";
    if (!strcmp(path, "/healthz")) {
        uint64_t now = hb__mono_ns();
        uint64_t pb = hb_pool_loop_heartbeat(d->pool), bb = hb__bridge_heartbeat(d->bridge);
        bool pool_ok = now < pb + S_HEALTH_STALE_NS, bridge_ok = now < bb + S_HEALTH_STALE_NS;
        if (pool_ok && bridge_ok && !hb__bridge_failed(d->bridge)) {
            *status = 200;
            return hb__http_body_text("ok\n");
        }
        *status = 503;
        return hb__http_body_text(!pool_ok ? "pool loop stalled\n" : "bridge thread stalled\n");
    }
    if (!strcmp(path, "/readyz")) {
        if (atomic_load(&d->shutting_down)) {
            *status = 503;
            return hb__http_body_text("shutting down\n");
        }
        if (!atomic_load(&d->ready)) {
            *status = 503;
            return hb__http_body_text("starting\n");
        }
        *status = 200;
        return hb__http_body_text("ready\n");
    }
    if (!strcmp(path, "/metrics")) {
        hb__http_body *b = s_metrics(d, srv, status);
        if (*status == 200) *ctype = "text/plain; version=0.0.4; charset=utf-8";
        return b;
    }
    *status = 404;
    return NULL;
}

/* ---- reload: main thread ------------------------------------------------- */

static int s_op_connect(void *ud, const hb_peer_cfg *p)
{
    return hb_pool_connect(((s_daemon *)ud)->pool, p);
}

static int s_op_remove(void *ud, const char *id)
{
    return hb_pool_remove(((s_daemon *)ud)->pool, id);
}

static void s_op_after(void *ud, const hb_peer_cfg *p)
{
    hb__reconnects_put(((s_daemon *)ud)->reconnects, p);
}

static void s_op_cancel(void *ud, const char *id)
{
    hb__reconnects_cancel(((s_daemon *)ud)->reconnects, id);
}

/* The bridge thread's hook: a removed event went out, a reconnect was
 * queued, or some still wait. */
static bool s_bridge_hook(void *ud, bool removed)
{
    (void)removed;
    return hb__reconnects_check(((s_daemon *)ud)->reconnects);
}

static void s_poke_bridge(void *ud)
{
    hb__bridge_poke(((s_daemon *)ud)->bridge);
}

static void s_drop_file_peer(void *ud, const char *id)
{
    hb__file_peers_drop(ud, id);
}

/* Main thread: control took this file peer's id (hb__reconnects_file_ids). */
static void s_release_file_peer(void *ud, const char *id)
{
    hb__file_peers_release(ud, id);
}

/* The bridge thread's control hook: a control connect or remove of `id`
 * succeeded. If it is a file peer's, the next reload leaves it alone. */
static void s_bridge_ctl_hook(void *ud, const char *id)
{
    hb__reconnects_claim(((s_daemon *)ud)->reconnects, id);
}

static bool s_op_exists(void *ud, const char *id)
{
    hb_peer_info info;
    memset(&info, 0, sizeof(info));
    if (hb_pool_peer_info(((s_daemon *)ud)->pool, id, &info) != 0) return false;
    free(info.url);
    return true;
}

static void s_log_lines(s_daemon *d, hb_log_level lvl, const char *prefix, const char *text)
{
    if (!text || !*text) {
        HB_LOG(&d->lg, lvl, NULL, "%s", prefix);
        return;
    }
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n) HB_LOG(&d->lg, lvl, NULL, "%s: %.*s", prefix, (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

static void s_signals(s_daemon *d, bool busy);

/* The reload's stop op: a SIGTERM during a long diff stops it. */
static bool s_op_stop(void *ud)
{
    s_daemon *d = ud;
    s_signals(d, true);
    return d->stop_why != NULL;
}

static void s_reload(s_daemon *d)
{
    const char *path = hb__cli_config_path();
    if (!path) path = d->cfg->path;
    if (!path) {
        HB_LOG(&d->lg, HB_LOG_WARN, NULL, "SIGHUP: no configuration file (-c) to reload");
        return;
    }
    HB_LOG(&d->lg, HB_LOG_INFO, NULL, "SIGHUP: reloading peers from %s", path);
    uint64_t t0 = hb__mono_ns();
    hb_config *next = NULL;
    char *errors = NULL;
    int rc = hb_config_load_file(path, &next, &errors);
    if (rc == 0) rc = hb_config_apply_env(next, NULL, &errors);
    if (rc != 0) {
        s_log_lines(d, HB_LOG_ERROR, "reload: invalid configuration, keeping the running peers",
                    errors);
        free(errors);
        hb_config_destroy(&next);
        return;
    }
    free(errors);
    /* The running shard decides, whatever the file now says (bridge.shard
     * needs a restart). */
    size_t skipped = hb__config_shard_filter(next, hb__config_shard(&d->cfg->bridge));
    char what[256];
    size_t n = hb__reload_needs_restart(d->cfg, next, what, sizeof what);
    if (n)
        HB_LOG(&d->lg, HB_LOG_WARN, NULL,
               "reload: %s changed but %s only read at start-up: the running value%s "
               "stay%s until a restart",
               what, n == 1 ? "is" : "are", n == 1 ? "" : "s", n == 1 ? "s" : "");
    /* The client keys and address rules of bridge.curve reload (the server
     * certificate needs a restart); a directory that went missing keeps
     * the running ones. */
    /* The `pool` section is also what a later control `connect` inherits. */
    if (hb__bridge_set_pool(d->bridge, &next->pool, &next->pool_wide) != 0)
        HB_LOG(&d->lg, HB_LOG_ERROR, NULL,
               "reload: out of memory, pool.allow and the defaults of control connect unchanged");
    char aerr[512] = "";
    hb__auth_stores *stores = hb__auth_stores_new(&next->bridge.curve, aerr, sizeof(aerr));
    const hb_curve_cfg *cv = &next->bridge.curve;
    /* Creation failed is the only error. hb__bridge_reload_auth takes the
     * stores either way (and NULLs `stores`), so it cannot be tested after
     * the call: every reload then logged a false error. */
    if (!stores)
        HB_LOG(&d->lg, HB_LOG_ERROR, NULL, "reload: %s; keeping the running client keys", aerr);
    else if (hb__bridge_reload_auth(d->bridge, &stores) != 0 && (cv->n_allow || cv->n_deny))
        HB_LOG(&d->lg, HB_LOG_WARN, NULL,
               "reload: bridge.curve.allow/deny need a restart: the bridge started without "
               "bridge.curve, so no ZAP handler checks its sockets");
    /* Changed peers whose reconnect failed since the last reload are no
     * file peers any more: this reload adds them again. */
    hb__reconnects_take_failed(d->reconnects, s_drop_file_peer, &d->file_peers);
    /* Ids control took since the last reload are no file peers any more
     * (parked: left alone unless their entry changes); from here on
     * control may claim the ids of this file. */
    if (hb__reconnects_file_ids(d->reconnects, next->peers, next->n_peers, s_release_file_peer,
                                &d->file_peers) != 0)
        HB_LOG(&d->lg, HB_LOG_ERROR, NULL,
               "reload: out of memory: a control connect or remove of a peer new in the file "
               "is not noticed until the next reload");
    hb__reload_ops ops = {s_op_connect, s_op_remove, s_op_after, s_op_exists, d,
                          s_op_cancel,  s_op_stop};
    hb__reload_result r;
    if (hb__reload_diff(&d->file_peers, next->peers, next->n_peers, &ops, &d->lg, &r) != 0)
        HB_LOG(&d->lg, HB_LOG_ERROR, NULL, "reload: out of memory, nothing changed");
    else
        HB_LOG(&d->lg, HB_LOG_INFO, NULL,
               "reload%s: %zu added, %zu removed, %zu changed, %zu unchanged, %zu failed, "
               "%zu of other shards skipped (%" PRIu64 " ms)",
               r.stopped ? " stopped by a signal" : "", r.added, r.removed, r.changed, r.unchanged,
               r.failed, skipped, (hb__mono_ns() - t0) / 1000000u);
    hb_config_destroy(&next);
}

/* SIGUSR1: every peer's state, one line each, at info. */
static void s_log_peers(s_daemon *d)
{
    hb_peer_info *list = NULL;
    size_t n = 0;
    if (hb_pool_list(d->pool, &list, &n) != 0) {
        HB_LOG(&d->lg, HB_LOG_ERROR, NULL, "SIGUSR1: cannot list the peers");
        return;
    }
    HB_LOG(&d->lg, HB_LOG_INFO, NULL, "SIGUSR1: %zu peers", n);
    for (size_t i = 0; i < n; i++)
        HB_LOG(&d->lg, HB_LOG_INFO, list[i].id,
               "state %s, url %s, conn %" PRIu32 ", attempt %" PRIu32 ", seq %" PRIu64
               ", send queue %" PRIu32 "%s",
               hb_peer_state_name(list[i].state), list[i].url ? list[i].url : "", list[i].conn,
               list[i].attempt, list[i].seq, list[i].send_queue_depth,
               list[i].paused ? ", reading paused" : "");
    hb_peer_list_free(list, n);
}

/* SIGUSR2: the pool's totals on one line, at info. */
static void s_log_totals(s_daemon *d)
{
    hb_pool_stats st;
    if (hb_pool_stats_get(d->pool, &st) != 0) return;
    const hb_counters *c = &st.totals;
    HB_LOG(&d->lg, HB_LOG_INFO, NULL,
           "SIGUSR2: %" PRIu32 " peers (%" PRIu32 " connected, %" PRIu32 " connecting, %" PRIu32
           " waiting), received %" PRIu64 " messages / %" PRIu64 " bytes, sent %" PRIu64
           " / %" PRIu64 ", %" PRIu64 " reconnects",
           st.n_peers, st.peers[HB_STATE_CONNECTED], st.peers[HB_STATE_CONNECTING],
           st.peers[HB_STATE_WAITING], c->messages_received, c->bytes_received, c->messages_sent,
           c->bytes_sent, c->reconnects);
}

/*
 * Read every pending signal. SIGTERM and SIGINT set stop_why; SIGHUP
 * reloads, or, when `busy` (adding peers or reloading already), is kept
 * for when that is done; SIGUSR1 and SIGUSR2 log. Main thread; called by
 * the main loop and between batches of long work, so a SIGTERM is never
 * kept waiting by a start or a reload of many peers.
 */
static void s_signals(s_daemon *d, bool busy)
{
    struct signalfd_siginfo si;
    while (read(d->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGTERM:
            if (!d->stop_why) d->stop_why = "SIGTERM";
            break;
        case SIGINT:
            if (!d->stop_why) d->stop_why = "SIGINT";
            break;
        case SIGHUP:
            d->hup_pending = true;
            break;
        case SIGUSR1:
            s_log_peers(d);
            break;
        case SIGUSR2:
            s_log_totals(d);
            break;
        default:
            break;
        }
    }
    while (!busy && !d->stop_why && d->hup_pending) {
        d->hup_pending = false;
        s_reload(d); /* a SIGHUP during it sets hup_pending again */
    }
}

/* ---- who may connect: main thread ---------------------------------------- */

/*
 * bridge.curve: load the server certificate and the client keys and hand
 * them to the bridge; without CURVE, warn about every socket bound beyond
 * loopback (anyone who reaches it reads every message, or steers the
 * bridge). Returns 0, or -1 after logging (a configuration error: exit 2).
 */
static int s_auth(s_daemon *d)
{
    const hb_bridge_cfg *bc = &d->cfg->bridge;
    char err[512];
    hb__auth *a = NULL;
    if (hb__auth_new(&bc->curve, &a, err, sizeof(err)) != 0) {
        HB_LOG(&d->lg, HB_LOG_ERROR, NULL, "%s", err);
        return -1;
    }
    if (hb__auth_curve(a)) {
        HB_LOG(&d->lg, HB_LOG_INFO, NULL,
               "CURVE on every ZeroMQ socket: readers' keys in %s, writers' keys in %s",
               bc->curve.readers, bc->curve.writers);
    } else {
        const char *eps[4] = {bc->inbox, bc->events, bc->send, bc->control};
        static const char *const what[4] = {"read every message", "read every event",
                                            "write to any peer", "steer the bridge"};
        for (int i = 0; i < 4; i++) {
            hb__endpoint e;
            if (hb__endpoint_parse(eps[i], &e, NULL) && !hb__endpoint_is_local(&e))
                HB_LOG(&d->lg, HB_LOG_WARN, NULL,
                       "bridge.%s binds %s beyond loopback without CURVE: anyone who reaches "
                       "it can %s (set bridge.curve, docs/security.md)",
                       hb__zsock_names[i], eps[i], what[i]);
        }
    }
    hb__bridge_set_auth(d->bridge, a);
    return 0;
}

/* ---- main ---------------------------------------------------------------- */

static int s_signalfd(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGUSR2);
    /* Blocked before any thread starts, so every thread inherits the mask
     * and the signals are only ever read from the signalfd. */
    if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/*
 * After a graceful shutdown everything a client can see is done: every
 * peer closed with 1001, its events published, the PUB sockets flushed.
 * What is left is freeing. The pool frees its connections in one pass and,
 * with many open sockets, leaves them to the exit instead of letting
 * libwebsockets close them one by one (hb__pool_exiting, loop.c: 5,000
 * peers took 0.3-0.5 s in lws_context_destroy here). The watchdog still
 * bounds whatever else the teardown meets: past S_TEARDOWN_MAX_MS the
 * process exits 0 without freeing. Its own thread, started once.
 */
#define S_TEARDOWN_MAX_MS 2000

static void *s_watchdog(void *arg)
{
    const hb_logger *lg = arg;
    struct timespec ts = {S_TEARDOWN_MAX_MS / 1000, (S_TEARDOWN_MAX_MS % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    HB_LOG(lg, HB_LOG_WARN, NULL,
           "teardown took longer than %d ms after a complete shutdown: exiting without freeing",
           S_TEARDOWN_MAX_MS);
    _exit(HB__EXIT_OK);
    return NULL;
}

static void s_start_watchdog(s_daemon *d)
{
    pthread_t t;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &a, s_watchdog, &d->lg) != 0)
        HB_LOG(&d->lg, HB_LOG_WARN, NULL, "cannot start the teardown watchdog");
    pthread_attr_destroy(&a);
}

/* Many peers need many descriptors: raise the soft limit to the hard one
 * before the pool exists (lws sizes its tables from it, and the pool
 * budgets against it). The library never does this itself. */
static void s_raise_nofile(const hb_logger *lg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    unsigned long long was = (unsigned long long)rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        HB_LOG(lg, HB_LOG_WARN, NULL, "cannot raise the open file limit from %llu: %s", was,
               strerror(errno));
    else
        HB_LOG(lg, HB_LOG_DEBUG, NULL, "open file limit raised from %llu to %llu", was,
               (unsigned long long)rl.rlim_cur);
}

static void s_shutdown(s_daemon *d, const char *why)
{
    uint64_t t0 = hb__mono_ns();
    HB_LOG(&d->lg, HB_LOG_INFO, NULL, "%s: shutting down (drain %" PRIu64 " ms)", why,
           d->cfg->bridge.drain_timeout_ns / 1000000u);
    atomic_store(&d->shutting_down, true);
    hb__bridge_begin_shutdown(d->bridge);
    if (hb_pool_shutdown(d->pool, d->cfg->bridge.drain_timeout_ns) != 0)
        HB_LOG(&d->lg, HB_LOG_WARN, NULL, "shutdown: some peers did not finish in time");
    hb__bridge_finish(d->bridge);
    HB_LOG(&d->lg, HB_LOG_INFO, NULL, "shutdown complete in %" PRIu64 " ms",
           (hb__mono_ns() - t0) / 1000000u);
}

int main(int argc, char **argv)
{
    s_daemon d;
    memset(&d, 0, sizeof(d));
    int rc = hb__cli_handle(argc, argv, &d.cfg);
    if (rc != -1) return rc;

    d.lgo.json = d.cfg->log.format == HB_LOG_JSON;
    d.lg.fn = hb_log_stderr;
    d.lg.ud = &d.lgo;
    d.lg.level = d.cfg->log.level;

    int exit_code = HB__EXIT_RUNTIME;
    sigset_t set;
    int sfd = s_signalfd(&set);
    d.sfd = sfd;
    if (sfd < 0) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "cannot set up signals: %s", strerror(errno));
        goto out;
    }

    s_raise_nofile(&d.lg);
    if (hb__bridge_new(d.cfg, &d.lg, &d.bridge) != 0) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "cannot create the bridge");
        goto out;
    }
    if (s_auth(&d) != 0) {
        exit_code = HB__EXIT_CONFIG;
        goto out;
    }
    hb_pool_config pc;
    memset(&pc, 0, sizeof(pc));
    pc.sink = hb__bridge_sink(d.bridge);
    pc.logger = &d.lg;
    pc.command_queue = d.cfg->bridge.control_queue;
    pc.max_handshakes = d.cfg->bridge.max_handshakes;
    pc.loops = hb_config_loops(d.cfg);
    rc = hb_pool_new(&pc, &d.pool);
    if (rc != 0) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "cannot start the pool: %s", hb_strerror(rc));
        goto out;
    }
    if (hb__reconnects_new(d.pool, &d.lg, s_poke_bridge, &d, &d.reconnects) != 0) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "out of memory");
        goto out;
    }
    hb__bridge_set_hook(d.bridge, s_bridge_hook, &d);
    hb__bridge_set_ctl_hook(d.bridge, s_bridge_ctl_hook);
    char err[600];
    rc = hb__bridge_start(d.bridge, d.pool, err, sizeof(err));
    if (rc != 0) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "%s", err);
        goto out;
    }
    if (d.cfg->bridge.http && d.cfg->bridge.http[0]) {
        hb__http_limits lim = {.max_connections = d.cfg->bridge.http_max_connections,
                               .read_timeout_ns = d.cfg->bridge.http_read_timeout_ns,
                               .write_timeout_ns = d.cfg->bridge.http_write_timeout_ns};
        rc = hb__http_start(d.cfg->bridge.http, &lim, s_http, &d, &d.lg, &d.http, err, sizeof(err));
        if (rc != 0) {
            HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "%s", err);
            goto out;
        }
    }
    atomic_store(&d.ready, true);
    HB_LOG(&d.lg, HB_LOG_INFO, NULL,
           "honeybee-bridge " HB_VERSION_STRING
           " ready: inbox %s, events %s, send %s, control %s; %" PRIu32 " loop thread%s",
           d.cfg->bridge.inbox, d.cfg->bridge.events, d.cfg->bridge.send, d.cfg->bridge.control,
           hb_pool_loops(d.pool), hb_pool_loops(d.pool) == 1 ? "" : "s");

    /* bridge.shard: the file's peers of other shards are theirs, not ours
     * (not an error: every replica reads the same file). */
    hb__shard sh = hb__config_shard(&d.cfg->bridge);
    size_t n_file = d.cfg->n_peers, skipped = hb__config_shard_filter(d.cfg, sh);
    if (sh.count > 1)
        HB_LOG(&d.lg, HB_LOG_INFO, NULL,
               "shard %u/%u: %zu of the file's %zu peers are this shard's, %zu belong to the "
               "other shards (skipped)",
               sh.index, sh.count, d.cfg->n_peers, n_file, skipped);
    if (hb__file_peers_set(&d.file_peers, d.cfg->peers, d.cfg->n_peers) != 0 ||
        hb__reconnects_file_ids(d.reconnects, d.cfg->peers, d.cfg->n_peers, NULL, NULL) != 0) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "out of memory");
        goto out;
    }
    /* The file's peers, in batches: signals are read between them, so a
     * SIGTERM during the start of many peers stops it. */
    bool *keep = d.cfg->n_peers ? malloc(d.cfg->n_peers * sizeof(*keep)) : NULL;
    if (d.cfg->n_peers && !keep) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "out of memory");
        goto out;
    }
    size_t added = 0, failed = 0;
    uint64_t t0 = hb__mono_ns();
    for (size_t i = 0; i < d.cfg->n_peers; i++) {
        if (i % HB__RELOAD_BATCH == HB__RELOAD_BATCH - 1) {
            s_signals(&d, true);
            if (d.stop_why) {
                for (size_t j = i; j < d.cfg->n_peers; j++) keep[j] = false;
                break;
            }
        }
        rc = hb_pool_connect(d.pool, &d.cfg->peers[i]);
        keep[i] = rc == 0;
        if (rc == 0) {
            added++;
            continue;
        }
        /* Not a file peer then (fd_limit, out of memory...): the next
         * reload adds it again instead of thinking it unchanged. */
        failed++;
        HB_LOG(&d.lg, HB_LOG_ERROR, d.cfg->peers[i].id, "cannot add peer: %s (a reload retries it)",
               hb_strerror(rc));
    }
    hb__file_peers_keep(&d.file_peers, keep);
    free(keep);
    if (d.cfg->n_peers)
        HB_LOG(&d.lg, HB_LOG_INFO, NULL,
               "%zu peers from the file added, %zu failed%s (%" PRIu64 " ms)", added, failed,
               d.stop_why ? ", the rest skipped: shutting down" : "",
               (hb__mono_ns() - t0) / 1000000u);

    while (!d.stop_why) {
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        int n = poll(&pfd, 1, 500);
        if (n < 0 && errno != EINTR) {
            HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "poll: %s", strerror(errno));
            goto out;
        }
        if (hb__bridge_failed(d.bridge)) {
            HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "the bridge thread failed; exiting");
            goto out;
        }
        s_signals(&d, false);
    }
    s_shutdown(&d, d.stop_why);
    exit_code = HB__EXIT_OK;
    s_start_watchdog(&d);

out:
    if (exit_code != 0) atomic_store(&d.shutting_down, true);
    hb__http_stop(&d.http);
    hb__http_body_unref(&d.metrics_cur);
    if (d.bridge) hb__bridge_finish(d.bridge);
    /* The process ends next: the pool frees its connections in one pass
     * and, at scale, leaves their sockets to the exit (loop.c). */
    if (d.pool) hb__pool_exiting(d.pool);
    if (d.pool) hb_pool_destroy(&d.pool);
    hb__bridge_destroy(&d.bridge);
    hb__reconnects_destroy(&d.reconnects);
    hb__file_peers_free(&d.file_peers);
    hb_config_destroy(&d.cfg);
    if (sfd >= 0) close(sfd);
    return exit_code;
}
