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
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "honeybee/config.h"
#include "honeybee/pool.h"

#include "bridge/bridge.h"
#include "core/clock.h"
#include "core/tsan.h"
#include "daemon/cli.h"
#include "daemon/http.h"
#include "daemon/reload.h"

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
    hb__reconnects *reconnects; /* reload's pending reconnects */
    hb__file_peers file_peers;  /* main thread */
    _Atomic bool ready;         /* every socket bound; read by the HTTP thread */
    _Atomic bool shutting_down; /* from the signal on */
} s_daemon;

/* ---- HTTP: the HTTP thread ----------------------------------------------- */

static char *s_text(const char *t, size_t *len)
{
    *len = strlen(t);
    return strdup(t);
}

static char *s_http(void *ud, const char *path, int *status, const char **ctype, size_t *len)
{
    s_daemon *d = ud;
    *ctype = "text/plain; charset=utf-8";
    if (!strcmp(path, "/healthz")) {
        uint64_t now = hb__mono_ns();
        uint64_t pb = hb_pool_loop_heartbeat(d->pool), bb = hb__bridge_heartbeat(d->bridge);
        bool pool_ok = now < pb + S_HEALTH_STALE_NS, bridge_ok = now < bb + S_HEALTH_STALE_NS;
        if (pool_ok && bridge_ok && !hb__bridge_failed(d->bridge)) {
            *status = 200;
            return s_text("ok\n", len);
        }
        *status = 503;
        return s_text(!pool_ok ? "pool loop stalled\n" : "bridge thread stalled\n", len);
    }
    if (!strcmp(path, "/readyz")) {
        if (atomic_load(&d->shutting_down)) {
            *status = 503;
            return s_text("shutting down\n", len);
        }
        if (!atomic_load(&d->ready)) {
            *status = 503;
            return s_text("starting\n", len);
        }
        *status = 200;
        return s_text("ready\n", len);
    }
    if (!strcmp(path, "/metrics")) {
        hb_pool_stats st;
        hb_peer_info *list = NULL;
        size_t n = 0;
        hb__bridge_counters bc;
        memset(&st, 0, sizeof(st));
        hb__bridge_counters_get(d->bridge, &bc);
        if (hb_pool_stats_get(d->pool, &st) != 0 || hb_pool_list(d->pool, &list, &n) != 0) {
            *status = 500;
            return s_text("cannot read the pool's statistics\n", len);
        }
        char *body = hb__metrics_render(&st, list, n, &bc);
        hb_peer_list_free(list, n);
        if (!body) {
            *status = 500;
            return s_text("out of memory\n", len);
        }
        *status = 200;
        *ctype = "text/plain; version=0.0.4; charset=utf-8";
        *len = strlen(body);
        return body;
    }
    *status = 404;
    return s_text("not found (try /healthz, /readyz, /metrics)\n", len);
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

static void s_reload(s_daemon *d)
{
    const char *path = hb__cli_config_path();
    if (!path) path = d->cfg->path;
    if (!path) {
        HB_LOG(&d->lg, HB_LOG_WARN, NULL, "SIGHUP: no configuration file (-c) to reload");
        return;
    }
    HB_LOG(&d->lg, HB_LOG_INFO, NULL, "SIGHUP: reloading peers from %s", path);
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
    char what[256];
    size_t n = hb__reload_needs_restart(d->cfg, next, what, sizeof what);
    if (n)
        HB_LOG(&d->lg, HB_LOG_WARN, NULL,
               "reload: %s changed but %s only read at start-up: the running value%s "
               "stay%s until a restart",
               what, n == 1 ? "is" : "are", n == 1 ? "" : "s", n == 1 ? "s" : "");
    /* Changed peers whose reconnect failed since the last reload are no
     * file peers any more: this reload adds them again. */
    hb__reconnects_take_failed(d->reconnects, s_drop_file_peer, &d->file_peers);
    hb__reload_ops ops = {s_op_connect, s_op_remove, s_op_after, s_op_exists, d, s_op_cancel};
    hb__reload_result r;
    if (hb__reload_diff(&d->file_peers, next->peers, next->n_peers, &ops, &d->lg, &r) != 0)
        HB_LOG(&d->lg, HB_LOG_ERROR, NULL, "reload: out of memory, nothing changed");
    else
        HB_LOG(&d->lg, HB_LOG_INFO, NULL,
               "reload: %zu added, %zu removed, %zu changed, %zu unchanged, %zu failed", r.added,
               r.removed, r.changed, r.unchanged, r.failed);
    hb_config_destroy(&next);
}

/* ---- main ---------------------------------------------------------------- */

static int s_signalfd(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    /* Blocked before any thread starts, so every thread inherits the mask
     * and the signals are only ever read from the signalfd. */
    if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
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
    if (sfd < 0) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "cannot set up signals: %s", strerror(errno));
        goto out;
    }

    s_raise_nofile(&d.lg);
    if (hb__bridge_new(d.cfg, &d.lg, &d.bridge) != 0) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "cannot create the bridge");
        goto out;
    }
    hb_pool_config pc;
    memset(&pc, 0, sizeof(pc));
    pc.sink = hb__bridge_sink(d.bridge);
    pc.logger = &d.lg;
    pc.command_queue = d.cfg->bridge.control_queue;
    pc.max_handshakes = d.cfg->bridge.max_handshakes;
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
    char err[600];
    rc = hb__bridge_start(d.bridge, d.pool, err, sizeof(err));
    if (rc != 0) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "%s", err);
        goto out;
    }
    if (d.cfg->bridge.http && d.cfg->bridge.http[0]) {
        rc = hb__http_start(d.cfg->bridge.http, s_http, &d, &d.lg, &d.http, err, sizeof(err));
        if (rc != 0) {
            HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "%s", err);
            goto out;
        }
    }
    atomic_store(&d.ready, true);
    HB_LOG(&d.lg, HB_LOG_INFO, NULL,
           "honeybee-bridge " HB_VERSION_STRING " ready: inbox %s, events %s, send %s, control %s",
           d.cfg->bridge.inbox, d.cfg->bridge.events, d.cfg->bridge.send, d.cfg->bridge.control);

    if (hb__file_peers_set(&d.file_peers, d.cfg->peers, d.cfg->n_peers) != 0) {
        HB_LOG(&d.lg, HB_LOG_ERROR, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < d.cfg->n_peers; i++) {
        rc = hb_pool_connect(d.pool, &d.cfg->peers[i]);
        if (rc != 0) {
            /* Not a file peer then (fd_limit, out of memory...): the next
             * reload adds it again instead of thinking it unchanged. */
            HB_LOG(&d.lg, HB_LOG_ERROR, d.cfg->peers[i].id,
                   "cannot add peer: %s (a reload retries it)", hb_strerror(rc));
            hb__file_peers_drop(&d.file_peers, d.cfg->peers[i].id);
        }
    }

    const char *why = NULL;
    while (!why) {
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
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGHUP)
                s_reload(&d);
            else if (si.ssi_signo == SIGTERM)
                why = "SIGTERM";
            else if (si.ssi_signo == SIGINT)
                why = "SIGINT";
            if (why) break;
        }
    }
    s_shutdown(&d, why);
    exit_code = HB__EXIT_OK;

out:
    if (exit_code != 0) atomic_store(&d.shutting_down, true);
    hb__http_stop(&d.http);
    if (d.bridge) hb__bridge_finish(d.bridge);
    if (d.pool) hb_pool_destroy(&d.pool);
    hb__bridge_destroy(&d.bridge);
    hb__reconnects_destroy(&d.reconnects);
    hb__file_peers_free(&d.file_peers);
    hb_config_destroy(&d.cfg);
    if (sfd >= 0) close(sfd);
    return exit_code;
}
