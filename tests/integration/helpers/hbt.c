/*
 * hbt.c: see hbt.h. The server child is driven through two pipes; one
 * reader thread per server stores its stdout lines; every wait has a
 * deadline and polls a condition variable, so tests never sleep blindly.
 */
#include "hbt.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* ---- server -------------------------------------------------------------- */

typedef struct s_line {
    char *text;
    bool used;
} s_line;

struct hbt_server {
    pid_t pid;
    int in_fd;  /* its stdin */
    int out_fd; /* its stdout */
    int port;
    pthread_t reader;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    s_line *lines;
    size_t n, cap;
    bool eof;
};

static void *s_reader(void *arg)
{
    hbt_server *s = arg;
    FILE *f = fdopen(s->out_fd, "r");
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    while (f && (n = getline(&buf, &cap, f)) >= 0) {
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
        if (getenv("HBT_VERBOSE")) fprintf(stderr, "server: %s\n", buf);
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
    if (f) fclose(f);
    return NULL;
}

hbt_server *hbt_server_start(const char *const *args)
{
    const char *py = getenv("HB_PYTHON");
    const char *src = getenv("HB_SOURCE_DIR");
    if (!py) py = "/usr/bin/python3";
    char script[1024];
    snprintf(script, sizeof(script), "%s/tests/integration/servers/ws_server.py", src ? src : ".");
    int pin[2], pout[2];
    if (pipe(pin) || pipe(pout)) return NULL;
    const char *argv[32];
    int k = 0;
    argv[k++] = py;
    argv[k++] = script;
    for (int i = 0; args && args[i] && k < 30; i++) argv[k++] = args[i];
    argv[k] = NULL;
    pid_t pid = fork();
    if (pid < 0) return NULL;
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        for (int fd = 3; fd < 1024; fd++) close(fd);
        execv(py, (char *const *)argv);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    fcntl(pin[1], F_SETFD, FD_CLOEXEC);
    fcntl(pout[0], F_SETFD, FD_CLOEXEC);
    hbt_server *s = calloc(1, sizeof(*s));
    s->pid = pid;
    s->in_fd = pin[1];
    s->out_fd = pout[0];
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_create(&s->reader, NULL, s_reader, s);
    char line[256];
    if (!hbt_server_wait(s, "PORT ", 15000, line, sizeof(line))) {
        fprintf(stderr, "hbt: server did not start\n");
        hbt_server_stop(&s);
        return NULL;
    }
    s->port = atoi(line + 5);
    return s;
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

void hbt_server_stop(hbt_server **ps)
{
    hbt_server *s = *ps;
    if (!s) return;
    *ps = NULL;
    kill(s->pid, SIGKILL);
    close(s->in_fd);
    waitpid(s->pid, NULL, 0);
    pthread_join(s->reader, NULL);
    for (size_t i = 0; i < s->n; i++) free(s->lines[i].text);
    free(s->lines);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s);
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

/* ---- sockets ---------------------------------------------------------------- */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int s_bound(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) return -1;
    socklen_t l = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &l);
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

int hbt_listen_noaccept(int *port)
{
    int fd = s_bound(port);
    if (fd >= 0) listen(fd, 64);
    return fd;
}

uint32_t hbt_loops(void)
{
    const char *v = getenv("HB_TEST_LOOPS");
    return v && *v ? (uint32_t)strtoul(v, NULL, 10) : 0;
}

hbt_fx *hbt_fx_new(const char *const *server_args, hb_pool_config *pc, const char *path)
{
    hbt_fx *f = calloc(1, sizeof(*f));
    if (!f) return NULL;
    hbt_sink_init(&f->sink);
    hb_pool_config def = {0};
    if (!pc) pc = &def;
    pc->sink = hbt_sink_get(&f->sink);
    if (!pc->loops) pc->loops = hbt_loops();
    if (!(f->srv = hbt_server_start(server_args)) || hb_pool_new(pc, &f->pool) != 0) {
        hbt_fx_free(&f);
        return NULL;
    }
    hbt_url(f->url, sizeof(f->url), hbt_server_port(f->srv), path);
    return f;
}

void hbt_fx_free(hbt_fx **pf)
{
    hbt_fx *f = *pf;
    if (!f) return;
    *pf = NULL;
    hb_pool_destroy(&f->pool);
    hbt_server_stop(&f->srv);
    hbt_sink_free(&f->sink);
    free(f);
}
