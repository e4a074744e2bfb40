/*
 * hbt.c: see hbt.h. A server child is driven through two pipes; one reader
 * thread per server stores its output lines; every wait has a deadline and
 * waits on a condition variable, so tests never sleep blindly.
 */
#include "hbt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- time ------------------------------------------------------------------ */

uint64_t hbt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void hbt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

bool hbt_until(bool (*cond)(void *), void *ud, int timeout_ms)
{
    uint64_t end = hbt_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (cond(ud)) return true;
        if (hbt_now_ms() >= end) return cond(ud);
        hbt_sleep_ms(5);
    }
}

bool hbt_slow(void)
{
    return getenv("HB_TEST_SLOW") != NULL;
}

static void s_deadline(struct timespec *abs, int ms)
{
    clock_gettime(CLOCK_REALTIME, abs);
    abs->tv_sec += ms / 1000;
    abs->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (abs->tv_nsec >= 1000000000L) {
        abs->tv_sec++;
        abs->tv_nsec -= 1000000000L;
    }
}

/* ---- the environment ----------------------------------------------------------- */

const char *hbt_source_dir(void)
{
    const char *s = getenv("HB_SOURCE_DIR");
    return s && *s ? s : ".";
}

const char *hbt_python(void)
{
    const char *s = getenv("HB_PYTHON");
    return s && *s ? s : "/usr/bin/python3";
}

int hbt_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* ---- servers ------------------------------------------------------------------ */

typedef struct s_line {
    char *text;
    bool used;
} s_line;

struct hbt_server {
    pid_t pid;
    int in_fd;  /* its stdin */
    int out_fd; /* its stdout (and stderr), -1 when quiet */
    int port;
    bool reading; /* a reader thread runs */
    pthread_t reader;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    s_line *lines;
    size_t n, cap;
    bool eof;
};

/* The servers not stopped yet, for hbt_reap. */
enum { S_LIVE = 32 };
static hbt_server *s_live[S_LIVE];
static pthread_mutex_t s_live_mu = PTHREAD_MUTEX_INITIALIZER;

static void s_live_set(hbt_server *s, hbt_server *to)
{
    pthread_mutex_lock(&s_live_mu);
    for (int i = 0; i < S_LIVE; i++)
        if (s_live[i] == s) {
            s_live[i] = to;
            break;
        }
    pthread_mutex_unlock(&s_live_mu);
}

/* Reader thread: stores every line of the server's output. */
static void *s_reader(void *arg)
{
    hbt_server *s = arg;
    FILE *f = fdopen(s->out_fd, "r");
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    while (f && (n = getline(&buf, &cap, f)) >= 0) {
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
        if (getenv("HBT_VERBOSE")) fprintf(stderr, "server %d: %s\n", (int)s->pid, buf);
        pthread_mutex_lock(&s->mu);
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 256;
            s->lines = realloc(s->lines, s->cap * sizeof(*s->lines));
        }
        s->lines[s->n++] = (s_line){strdup(buf), false};
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mu);
    }
    free(buf);
    pthread_mutex_lock(&s->mu);
    s->eof = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    if (f) fclose(f); /* closes out_fd */
    return NULL;
}

/* Polls until something accepts on 127.0.0.1:port, or the child exited. */
static bool s_wait_listening(hbt_server *s, int timeout_ms)
{
    uint64_t end = hbt_now_ms() + (uint64_t)timeout_ms;
    while (hbt_now_ms() < end) {
        int fd = hbt_tcp_connect(s->port);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return false;
        }
        hbt_sleep_ms(20);
    }
    return false;
}

hbt_server *hbt_spawn(const char *const *argv, const char *ready, int flags)
{
    bool quiet = flags & HBT_SPAWN_QUIET, verbose = getenv("HBT_VERBOSE") != NULL;
    int port = ready ? 0 : hbt_closed_port();
    char portstr[16], arg[32][256];
    const char *av[32];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int n = 0;
    for (; argv[n] && n < 31; n++) {
        const char *p = ready ? NULL : strstr(argv[n], "%PORT%");
        if (p) {
            snprintf(arg[n], sizeof(arg[n]), "%.*s%s%s", (int)(p - argv[n]), argv[n], portstr,
                     p + 6);
            av[n] = arg[n];
        } else {
            av[n] = argv[n];
        }
    }
    av[n] = NULL;
    int pin[2], pout[2] = {-1, -1};
    if (pipe(pin) != 0) return NULL;
    if (!quiet && pipe(pout) != 0) {
        close(pin[0]);
        close(pin[1]);
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(pin[0]);
        close(pin[1]);
        if (!quiet) {
            close(pout[0]);
            close(pout[1]);
        }
        return NULL;
    }
    if (pid == 0) { /* the child of a threaded process: no allocation until exec */
        dup2(pin[0], 0);
        if (quiet) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            if (!verbose) dup2(null, 2);
        } else {
            dup2(pout[1], 1);
            if (flags & HBT_SPAWN_STDERR) dup2(pout[1], 2);
        }
        for (int fd = 3; fd < 1024; fd++) close(fd);
        execvp(av[0], (char *const *)av);
        _exit(127);
    }
    close(pin[0]);
    fcntl(pin[1], F_SETFD, FD_CLOEXEC);
    if (!quiet) {
        close(pout[1]);
        fcntl(pout[0], F_SETFD, FD_CLOEXEC);
    }
    hbt_server *s = calloc(1, sizeof(*s));
    s->pid = pid;
    s->in_fd = pin[1];
    s->out_fd = pout[0];
    s->port = port;
    s->eof = quiet;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (!quiet) s->reading = pthread_create(&s->reader, NULL, s_reader, s) == 0;
    s_live_set(NULL, s);
    char line[256];
    bool up;
    if (ready) {
        up = hbt_server_wait(s, ready, 15000, line, sizeof(line));
        if (up) {
            const char *colon = strrchr(line, ':');
            s->port = atoi(colon ? colon + 1 : line + strlen(ready));
        }
    } else {
        up = s_wait_listening(s, 10000);
    }
    if (!up) {
        fprintf(stderr, "hbt: %s did not start\n", av[0]);
        hbt_server_stop(&s);
        return NULL;
    }
    return s;
}

hbt_server *hbt_py_server(const char *script, const char *const *args, int flags)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/integration/servers/%s", hbt_source_dir(), script);
    const char *argv[32] = {hbt_python(), path};
    int k = 2;
    for (int i = 0; args && args[i] && k < 31; i++) argv[k++] = args[i];
    argv[k] = NULL;
    return hbt_spawn(argv, "PORT ", flags);
}

hbt_server *hbt_server_start(const char *const *args)
{
    return hbt_py_server("ws_server.py", args, 0);
}

int hbt_server_port(hbt_server *s)
{
    return s->port;
}

void hbt_server_cmd(hbt_server *s, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof(buf) - 2) n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(s->in_fd, p, (size_t)n);
        if (w <= 0) {
            if (errno == EINTR) continue;
            return;
        }
        p += w;
        n -= (int)w;
    }
}

bool hbt_server_wait(hbt_server *s, const char *prefix, int timeout_ms, char *out, size_t cap)
{
    struct timespec abs;
    s_deadline(&abs, timeout_ms);
    size_t pl = strlen(prefix);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (size_t i = 0; i < s->n; i++) {
            if (s->lines[i].used || strncmp(s->lines[i].text, prefix, pl) != 0) continue;
            s->lines[i].used = true;
            if (out && cap) snprintf(out, cap, "%s", s->lines[i].text);
            pthread_mutex_unlock(&s->mu);
            return true;
        }
        if (s->eof || pthread_cond_timedwait(&s->cond, &s->mu, &abs) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->mu);
            return false;
        }
    }
}

int hbt_server_count(hbt_server *s, const char *prefix)
{
    size_t pl = strlen(prefix);
    int c = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        if (strncmp(s->lines[i].text, prefix, pl) == 0) c++;
    pthread_mutex_unlock(&s->mu);
    return c;
}

/* Every server ends when its stdin closes or on SIGTERM; one that does
 * neither within 5 s is killed. */
void hbt_server_stop(hbt_server **ps)
{
    hbt_server *s = *ps;
    if (!s) return;
    *ps = NULL;
    s_live_set(s, NULL);
    close(s->in_fd);
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        uint64_t end = hbt_now_ms() + 5000;
        while (waitpid(s->pid, NULL, WNOHANG) == 0) {
            if (hbt_now_ms() >= end) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, NULL, 0);
                break;
            }
            hbt_sleep_ms(2);
        }
    }
    if (s->reading) pthread_join(s->reader, NULL);
    for (size_t i = 0; i < s->n; i++) free(s->lines[i].text);
    free(s->lines);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s);
}

int hbt_reap(void **state)
{
    (void)state;
    for (int i = 0; i < S_LIVE; i++) {
        pthread_mutex_lock(&s_live_mu);
        hbt_server *s = s_live[i];
        pthread_mutex_unlock(&s_live_mu);
        hbt_server_stop(&s);
    }
    return 0;
}

/* ---- sink ------------------------------------------------------------------ */

static bool s_inbox(void *ud, hb_inbox_msg *m)
{
    hbt_sink *k = ud;
    pthread_mutex_lock(&k->mu);
    if (k->n_msg == k->cap_msg) {
        k->cap_msg = k->cap_msg ? k->cap_msg * 2 : 256;
        k->msg = realloc(k->msg, k->cap_msg * sizeof(*k->msg));
    }
    k->msg[k->n_msg++] = m;
    k->inbox_thread = pthread_self();
    k->inbox_loop = hb_pool_current_loop();
    k->inbox_seen = true;
    k->last_inbox_ms = hbt_now_ms();
    bool more = k->inbox_budget < 0 || (int)k->n_msg < k->inbox_budget;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->mu);
    return more;
}

static void s_event(void *ud, hb_event *e)
{
    hbt_sink *k = ud;
    if (getenv("HBT_VERBOSE"))
        fprintf(stderr, "event: %s %s code=%d reason=%s error=%s attempt=%u conn=%u\n",
                hb_event_kind_name(e->kind), e->id, e->code, e->reason ? e->reason : "-",
                e->error ? e->error : "-", e->attempt, e->conn);
    pthread_mutex_lock(&k->mu);
    if (k->n_ev == k->cap_ev) {
        k->cap_ev = k->cap_ev ? k->cap_ev * 2 : 256;
        k->ev = realloc(k->ev, k->cap_ev * sizeof(*k->ev));
    }
    k->ev[k->n_ev++] = e;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->mu);
}

void hbt_sink_init(hbt_sink *k)
{
    memset(k, 0, sizeof(*k));
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cond, NULL);
    k->inbox_budget = -1;
}

void hbt_sink_free(hbt_sink *k)
{
    for (size_t i = 0; i < k->n_ev; i++) hb_event_free(k->ev[i]);
    for (size_t i = 0; i < k->n_msg; i++) hb_inbox_msg_free(k->msg[i]);
    free(k->ev);
    free(k->msg);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cond);
}

/* The end of a loop turn: records what had arrived by then. */
static void s_flush(void *ud)
{
    hbt_sink *k = ud;
    pthread_mutex_lock(&k->mu);
    /* Each loop flushes its own turns (pool.loops): compare within a loop. */
    if (k->inbox_seen && k->inbox_loop == hb_pool_current_loop() &&
        !pthread_equal(k->inbox_thread, pthread_self()))
        k->flush_off_thread = true;
    if (k->n_msg > k->n_msg_flushed) {
        uint64_t d = hbt_now_ms() - k->last_inbox_ms;
        if (d > k->max_flush_delay_ms) k->max_flush_delay_ms = d;
    }
    k->n_msg_flushed = k->n_msg;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->mu);
}

hb_sink hbt_sink_get(hbt_sink *k)
{
    return (hb_sink){.inbox = s_inbox, .event = s_event, .ud = k, .flush = s_flush};
}

static hb_event *s_nth_event(hbt_sink *k, hb_event_kind kind, const char *id, int n)
{
    int c = 0;
    for (size_t i = 0; i < k->n_ev; i++) {
        hb_event *e = k->ev[i];
        if (e->kind != kind || (id && strcmp(e->id, id) != 0)) continue;
        if (++c == n) return e;
    }
    return NULL;
}

hb_event *hbt_wait_event(hbt_sink *k, hb_event_kind kind, const char *id, int n, int timeout_ms)
{
    struct timespec abs;
    s_deadline(&abs, timeout_ms);
    pthread_mutex_lock(&k->mu);
    hb_event *e;
    while (!(e = s_nth_event(k, kind, id, n)))
        if (pthread_cond_timedwait(&k->cond, &k->mu, &abs) == ETIMEDOUT) {
            e = s_nth_event(k, kind, id, n);
            break;
        }
    pthread_mutex_unlock(&k->mu);
    return e;
}

int hbt_count_events(hbt_sink *k, hb_event_kind kind, const char *id)
{
    int c = 0;
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < k->n_ev; i++)
        if (k->ev[i]->kind == kind && (!id || strcmp(k->ev[i]->id, id) == 0)) c++;
    pthread_mutex_unlock(&k->mu);
    return c;
}

hb_inbox_msg *hbt_wait_msg(hbt_sink *k, size_t n, int timeout_ms)
{
    struct timespec abs;
    s_deadline(&abs, timeout_ms);
    pthread_mutex_lock(&k->mu);
    while (k->n_msg < n)
        if (pthread_cond_timedwait(&k->cond, &k->mu, &abs) == ETIMEDOUT) break;
    hb_inbox_msg *m = k->n_msg >= n ? k->msg[n - 1] : NULL;
    pthread_mutex_unlock(&k->mu);
    return m;
}

static hb_inbox_msg *s_nth_msg_of(hbt_sink *k, const char *id, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < k->n_msg; i++)
        if (strcmp(k->msg[i]->peer_id, id) == 0 && ++c == n) return k->msg[i];
    return NULL;
}

hb_inbox_msg *hbt_wait_msg_of(hbt_sink *k, const char *id, size_t n, int timeout_ms)
{
    struct timespec abs;
    s_deadline(&abs, timeout_ms);
    pthread_mutex_lock(&k->mu);
    hb_inbox_msg *m;
    while (!(m = s_nth_msg_of(k, id, n)))
        if (pthread_cond_timedwait(&k->cond, &k->mu, &abs) == ETIMEDOUT) {
            m = s_nth_msg_of(k, id, n);
            break;
        }
    pthread_mutex_unlock(&k->mu);
    return m;
}

size_t hbt_count_msgs(hbt_sink *k)
{
    pthread_mutex_lock(&k->mu);
    size_t n = k->n_msg;
    pthread_mutex_unlock(&k->mu);
    return n;
}

void hbt_event_trail(hbt_sink *k, const char *id, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < k->n_ev && o + 20 < cap; i++) {
        hb_event *e = k->ev[i];
        if (id && strcmp(e->id, id) != 0) continue;
        if (e->kind == HB_EV_SEND_FAILED) continue;
        o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", hb_event_kind_name(e->kind));
    }
    pthread_mutex_unlock(&k->mu);
}

/* ---- peers ------------------------------------------------------------------- */

void hbt_url(char *out, size_t cap, int port, const char *path)
{
    snprintf(out, cap, "ws://127.0.0.1:%d%s", port, path ? path : "/");
}

void hbt_peer(hb_peer_cfg *p, const char *id, const char *url)
{
    memset(p, 0, sizeof(*p));
    p->id = strdup(id);
    p->url = strdup(url);
    hb_peer_opts *o = &p->opts;
    o->connect_timeout_ns = 2000000000ull;
    o->reconnect.initial_delay_ns = 50000000ull;
    o->reconnect.max_delay_ns = 200000000ull;
    o->reconnect.multiplier = 2.0;
    o->reconnect.jitter = 0.0;
    o->reconnect.max_retries = 0;
    o->reconnect.stable_after_ns = 500000000ull;
    o->keepalive.ping_interval_ns = 0;
    o->keepalive.timeout_ns = 0;
    o->keepalive.stall_timeout_ns = 0;
    o->keepalive.app_ping = NULL;
    o->write_timeout_ns = 2000000000ull;
    o->max_message_size = 1u << 20;
    o->send_queue = 1024;
    o->tls.verify = true;
}

/* ---- the common fixture ---------------------------------------------------------- */

uint32_t hbt_loops(void)
{
    const char *v = getenv("HB_TEST_LOOPS");
    return v && *v ? (uint32_t)strtoul(v, NULL, 10) : 0;
}

hbt_fx *hbt_fx_new(const hbt_fx_opts *o)
{
    hbt_fx_opts none = {0};
    if (!o) o = &none;
    hbt_fx *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    hbt_sink_init(&f->sink);
    hb_pool_config def = {0};
    hb_pool_config *pc = o->pc ? o->pc : &def;
    pc->sink = hbt_sink_get(&f->sink);
    if (!pc->loops) pc->loops = hbt_loops();
    if (!o->no_server && !(f->srv = hbt_server_start(o->server_args))) {
        hbt_fx_free(&f);
        return NULL;
    }
    int rc = hb_pool_new(pc, &f->pool);
    if (rc != 0) {
        fprintf(stderr, "hbt: hb_pool_new: %s\n", hb_errname(rc));
        hbt_fx_free(&f);
        return NULL;
    }
    if (f->srv) hbt_url(f->url, sizeof(f->url), hbt_server_port(f->srv), o->path);
    return f;
}

void hbt_fx_free(hbt_fx **pf)
{
    hbt_fx *f = *pf;
    if (!f) return;
    *pf = NULL;
    if (f->pool) hb_pool_destroy(&f->pool);
    hbt_server_stop(&f->srv);
    hbt_sink_free(&f->sink);
    free(f);
}

int hbt_fx_teardown(void **state)
{
    hbt_fx_free((hbt_fx **)state);
    return hbt_reap(NULL);
}

bool hbt_fx_connect(hbt_fx *f, const char *id, int conn)
{
    hb_peer_cfg p;
    hbt_peer(&p, id, f->url);
    int rc = hb_pool_connect(f->pool, &p);
    hb_peer_cfg_free(&p);
    if (rc != 0) {
        fprintf(stderr, "hbt: connect %s: %s\n", id, hb_errname(rc));
        return false;
    }
    if (!hbt_wait_event(&f->sink, HB_EV_CONNECTED, id, 1, 5000)) {
        fprintf(stderr, "hbt: %s: no connected event\n", id);
        return false;
    }
    char want[32] = "OPEN ";
    if (conn > 0) snprintf(want, sizeof(want), "OPEN %d ", conn);
    if (f->srv && !hbt_server_wait(f->srv, want, 5000, NULL, 0)) {
        fprintf(stderr, "hbt: %s: the server saw no \"%s\"\n", id, want);
        return false;
    }
    return true;
}

/* ---- sockets ------------------------------------------------------------------- */

static int s_bound(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0) return -1;
    socklen_t l = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int hbt_closed_port(void)
{
    int port = 0;
    int fd = s_bound(&port);
    if (fd >= 0) close(fd);
    return port;
}

int hbt_listen(int backlog, int *port)
{
    int fd = s_bound(port);
    if (fd >= 0 && listen(fd, backlog) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int hbt_tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- certificates ---------------------------------------------------------------- */

int hbt_certs(char *dir, size_t cap, const char *tag, const hbt_cert *certs, size_t n)
{
    snprintf(dir, cap, "/tmp/hb-%s-XXXXXX", tag);
    if (!mkdtemp(dir)) return -1;
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const hbt_cert *c = &certs[i];
        if (!c->ca) {
            rc = hbt_sh("cd %s && openssl req -x509 %s -keyout %s.key -out %s.pem -days %d "
                        "-subj '/CN=honeybee %s' >/dev/null 2>&1",
                        dir, ec, c->name, c->name, c->days, c->name);
            continue;
        }
        rc = hbt_sh("cd %s && printf '%s\\n' > %s.ext && openssl req %s -keyout %s.key "
                    "-out %s.csr -subj '/CN=honeybee %s' >/dev/null 2>&1 && openssl x509 -req "
                    "-in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -out %s.pem -days %d "
                    "-extfile %s.ext >/dev/null 2>&1",
                    dir, c->ext ? c->ext : "", c->name, ec, c->name, c->name, c->name, c->name,
                    c->ca, c->ca, c->name, c->days, c->name);
    }
    return rc == 0 ? 0 : -1;
}

/* ---- running ------------------------------------------------------------------- */

static bool s_picked(const char *filter, const char *name)
{
    char pat[256];
    for (const char *p = filter; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len < sizeof(pat)) {
            memcpy(pat, p, len);
            pat[len] = 0;
            if (fnmatch(pat, name, 0) == 0) return true;
        }
        if (!e) break;
        p = e + 1;
    }
    return false;
}

int hbt_run(const char *group, const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
            CMFixtureFunction teardown)
{
    const char *filter = getenv("HBT_FILTER");
    if (!filter || !*filter) return _cmocka_run_group_tests(group, tests, n, setup, teardown);
    struct CMUnitTest *sel = calloc(n ? n : 1, sizeof(*sel));
    if (!sel) return 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s_picked(filter, tests[i].name)) sel[k++] = tests[i];
    int rc = 1;
    if (k)
        rc = _cmocka_run_group_tests(group, sel, k, setup, teardown);
    else
        fprintf(stderr, "hbt: HBT_FILTER=%s picks no test of %s\n", filter, group);
    free(sel);
    return rc;
}
