/*
 * http.c: the daemon's HTTP server (see http.h): one thread, one poll loop
 * over the listening sockets, the connections and an eventfd (the main
 * thread's stop, the only doorway in). Request heads are read by
 * http_req.c (over http-parser).
 *
 * A connection lives through two states. READ: bytes go to the parser
 * until the headers are complete (a request has no body we want); the
 * request must arrive within read_timeout and in at most HB__HTTP_REQ_MAX bytes.
 * WRITE: a status line and headers built into the connection, then the
 * body written straight from the shared body (no copy per client), within
 * write_timeout (Connection: close, one request per connection). An
 * Upgrade header is ignored: the answer is a plain response.
 * LINGER: the whole answer is written; our side is shut (FIN), and what the
 * client still sends (a body we never read, pipelined requests, garbage
 * after a refused head) is read and thrown away until the client closes,
 * for at most S_LINGER_MS and S_LINGER_MAX bytes; then close. Closing a
 * socket with unread input makes the kernel send RST instead of FIN, and
 * an RST can reach the client before it has read the answer, which is then
 * lost (the lingering close of production servers). Lingering is only
 * another state of the poll loop: it never blocks the thread.
 *
 * What one client can hold: a connection struct (about 400 bytes), a
 * reference to a body, and the kernel's send buffer, which SO_SNDBUF caps
 * at S_SNDBUF. At most max_connections connections: the one accepted
 * beyond closes the oldest, so a client that opens many cannot lock out
 * the next probe. When accept fails for want of descriptors the listening
 * sockets rest for S_ACCEPT_REST_MS instead of spinning.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/url.h"
#include "daemon/http.h"
#include "daemon/http_req.h"

#define S_MAX_LISTEN     8
#define S_SNDBUF         65536
#define S_WRITE_CHUNK    65536
#define S_ACCEPT_REST_MS 100
#define S_POLL_MAX_MS    1000
#define S_HEAD_MAX       320
#define S_LINGER_MS      2000
#define S_LINGER_MAX     (1024 * 1024)
#define S_DRAIN_CHUNK    16384

typedef enum s_state { S_READ, S_WRITE, S_LINGER } s_state;

const int hb__http_codes[HB__HTTP_N_CODES] = {200, 400, 404, 405, 431, 500, 503, 0};

/* One connection. HTTP thread only. */
typedef struct s_conn {
    int fd;
    s_state st;
    uint64_t accepted_ns, deadline_ns;
    hb__http_req req;
    char head[S_HEAD_MAX];
    size_t head_len, head_off;
    hb__http_body *body; /* NULL: none, or a HEAD */
    size_t body_off;
    size_t drained; /* LINGER: bytes read and thrown away */
} s_conn;

struct hb__http {
    pthread_t thread;
    int efd; /* stop: main thread writes, HTTP thread reads */
    int lfd[S_MAX_LISTEN];
    size_t nl;
    hb__http_limits lim;
    hb__http_handler fn;
    void *ud;
    const hb_logger *lg;
    /* HTTP thread only. */
    s_conn **conns;
    size_t nc;
    uint64_t accept_rest_until;
    /* Written by the HTTP thread, read anywhere. */
    _Atomic uint64_t c_codes[HB__HTTP_N_CODES], c_evicted, c_timed_out, c_accept_err;
};

/* ---- bodies: HTTP thread -------------------------------------------------- */

hb__http_body *hb__http_body_new(char *data, size_t len)
{
    hb__http_body *b = calloc(1, sizeof(*b));
    if (!b) {
        free(data);
        return NULL;
    }
    b->refs = 1;
    b->data = data;
    b->len = data ? len : 0;
    return b;
}

hb__http_body *hb__http_body_text(const char *text)
{
    char *d = strdup(text);
    return d ? hb__http_body_new(d, strlen(d)) : NULL;
}

hb__http_body *hb__http_body_ref(hb__http_body *b)
{
    if (b) b->refs++;
    return b;
}

void hb__http_body_unref(hb__http_body **bp)
{
    hb__http_body *b = *bp;
    *bp = NULL;
    if (!b || --b->refs) return;
    if (b->on_free) b->on_free(b->free_ud);
    free(b->data);
    free(b);
}

static const char *s_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* Switch `c` to WRITE with this status and body (one reference taken
 * over). `head_only`: headers only (HEAD), Content-Length still the body's. */
static void s_respond(hb__http *h, s_conn *c, int status, const char *ctype, hb__http_body *body,
                      bool head_only)
{
    size_t len = body ? body->len : 0;
    int n =
        snprintf(c->head, sizeof(c->head),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                 "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
                 status, s_reason(status), ctype, len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
    c->head_len = n > 0 && (size_t)n < sizeof(c->head) ? (size_t)n : 0;
    c->head_off = 0;
    if (head_only) hb__http_body_unref(&body);
    c->body = body;
    c->body_off = 0;
    c->st = S_WRITE;
    c->deadline_ns = hb__mono_ns() + h->lim.write_timeout_ns;
    size_t k = 0;
    while (k < HB__HTTP_N_CODES - 1 && hb__http_codes[k] != status) k++;
    atomic_fetch_add_explicit(&h->c_codes[k], 1, memory_order_relaxed);
}

static void s_respond_text(hb__http *h, s_conn *c, int status, const char *text, bool head_only)
{
    s_respond(h, c, status, "text/plain; charset=utf-8", hb__http_body_text(text), head_only);
}

/* The request is complete: route it. */
static void s_route(hb__http *h, s_conn *c)
{
    bool head = hb__http_req_is_head(&c->req);
    if (!hb__http_req_get_or_head(&c->req)) {
        s_respond_text(h, c, 405, "method not allowed (GET or HEAD)\n", false);
        return;
    }
    const char *path = hb__http_req_path(&c->req);
    int status = 404;
    const char *ctype = "text/plain; charset=utf-8";
    hb__http_body *body = NULL;
    if (path) body = h->fn(h->ud, h, path, &status, &ctype);
    if (status == 404 && !body)
        body = hb__http_body_text("not found (try /healthz, /readyz, /metrics)\n");
    if (!body && status == 200) status = 500; /* the handler ran out of memory */
    s_respond(h, c, status, ctype, body, head);
}

/* ---- connections: HTTP thread --------------------------------------------- */

/* Close connection i (the last one takes its slot). A connection with an
 * answer to deliver ends through LINGER first (s_conn_linger); this close
 * is the last step, or the end of one that failed, timed out or was
 * evicted. HTTP thread. */
static void s_conn_close(hb__http *h, size_t i)
{
    s_conn *c = h->conns[i];
    close(c->fd);
    hb__http_body_unref(&c->body);
    free(c);
    h->conns[i] = h->conns[--h->nc];
}

/* Read what is there. Returns false when the connection is to be closed. */
static bool s_conn_read(hb__http *h, s_conn *c)
{
    char buf[4096];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        if (n == 0) return false; /* the client left before asking */
        switch (hb__http_req_feed(&c->req, buf, (size_t)n)) {
        case HB__HTTP_REQ_TOO_LARGE:
            s_respond_text(h, c, 431, "request too large\n", false);
            return true;
        case HB__HTTP_REQ_DONE:
            s_route(h, c);
            return true;
        case HB__HTTP_REQ_BAD:
            s_respond_text(h, c, 400, "bad request\n", false);
            return true;
        case HB__HTTP_REQ_MORE:
            break;
        }
        if ((size_t)n < sizeof(buf)) return true;
    }
}

/* LINGER: read and discard what is there. Returns false when the
 * connection is to be closed: the client closed or failed, or it sent
 * S_LINGER_MAX bytes (the deadline is the poll loop's). */
static bool s_conn_drain(s_conn *c)
{
    char buf[S_DRAIN_CHUNK];
    while (c->drained < S_LINGER_MAX) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        if (n == 0) return false; /* the client closed: nothing unread, close sends no RST */
        c->drained += (size_t)n;
    }
    return false;
}

/* The answer is all written: shut our side (the client reads EOF after
 * the answer) and linger. Returns false when the connection is to be
 * closed now. */
static bool s_conn_linger(s_conn *c)
{
    if (shutdown(c->fd, SHUT_WR) != 0) return false;
    c->st = S_LINGER;
    c->deadline_ns = hb__mono_ns() + S_LINGER_MS * 1000000ull;
    return s_conn_drain(c);
}

/* Write what the socket takes; once all is written, linger. Returns false
 * when the connection is to be closed. */
static bool s_conn_write(hb__http *h, s_conn *c)
{
    (void)h;
    for (;;) {
        const char *p;
        size_t n;
        if (c->head_off < c->head_len) {
            p = c->head + c->head_off;
            n = c->head_len - c->head_off;
        } else if (c->body && c->body_off < c->body->len) {
            p = c->body->data + c->body_off;
            n = c->body->len - c->body_off;
            if (n > S_WRITE_CHUNK) n = S_WRITE_CHUNK;
        } else {
            return s_conn_linger(c); /* all written */
        }
        ssize_t w = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        if (c->head_off < c->head_len)
            c->head_off += (size_t)w;
        else
            c->body_off += (size_t)w;
        if ((size_t)w < n) return true; /* the send buffer is full */
    }
}

static void s_accept(hb__http *h, int lfd, uint64_t now)
{
    for (int k = 0; k < 64; k++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: rest, or poll would wake us at once again. */
                atomic_fetch_add_explicit(&h->c_accept_err, 1, memory_order_relaxed);
                h->accept_rest_until = now + S_ACCEPT_REST_MS * 1000000ull;
            }
            return;
        }
        if (h->nc >= h->lim.max_connections) {
            /* Full: the oldest lingering connection makes room (its
             * answer is out: not counted as evicted), else the oldest. */
            size_t old = 0;
            for (size_t i = 1; i < h->nc; i++) {
                bool li = h->conns[i]->st == S_LINGER, lo = h->conns[old]->st == S_LINGER;
                if ((li && !lo) ||
                    (li == lo && h->conns[i]->accepted_ns < h->conns[old]->accepted_ns))
                    old = i;
            }
            if (h->conns[old]->st != S_LINGER)
                atomic_fetch_add_explicit(&h->c_evicted, 1, memory_order_relaxed);
            s_conn_close(h, old);
        }
        s_conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            return;
        }
        int sndbuf = S_SNDBUF;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        c->fd = fd;
        c->st = S_READ;
        c->accepted_ns = now;
        c->deadline_ns = now + h->lim.read_timeout_ns;
        hb__http_req_init(&c->req);
        h->conns[h->nc++] = c;
    }
}

/* The HTTP thread. */
static void *s_run(void *arg)
{
    hb__http *h = arg;
    size_t cap = h->nl + 1 + h->lim.max_connections;
    struct pollfd *pfd = calloc(cap, sizeof(*pfd));
    if (!pfd) {
        HB_LOG(h->lg, HB_LOG_ERROR, NULL, "http: out of memory, not serving");
        return NULL;
    }
    for (;;) {
        uint64_t now = hb__mono_ns();
        /* Deadlines first: a connection past its deadline goes (the end
         * of lingering is not a timeout: the answer was given). */
        uint64_t next = now + S_POLL_MAX_MS * 1000000ull;
        for (size_t i = 0; i < h->nc;) {
            if (h->conns[i]->deadline_ns <= now) {
                if (h->conns[i]->st != S_LINGER)
                    atomic_fetch_add_explicit(&h->c_timed_out, 1, memory_order_relaxed);
                s_conn_close(h, i);
                continue;
            }
            if (h->conns[i]->deadline_ns < next) next = h->conns[i]->deadline_ns;
            i++;
        }
        size_t n = 0;
        pfd[n++] = (struct pollfd){.fd = h->efd, .events = POLLIN};
        bool resting = now < h->accept_rest_until;
        if (resting && h->accept_rest_until < next) next = h->accept_rest_until;
        for (size_t i = 0; i < h->nl; i++)
            pfd[n++] = (struct pollfd){.fd = resting ? -1 : h->lfd[i], .events = POLLIN};
        size_t first_conn = n;
        for (size_t i = 0; i < h->nc; i++)
            pfd[n++] = (struct pollfd){.fd = h->conns[i]->fd,
                                       .events = h->conns[i]->st == S_WRITE ? POLLOUT : POLLIN};
        int ms = (int)((next - now + 999999) / 1000000);
        int r = poll(pfd, n, ms);
        if (r < 0 && errno != EINTR) {
            HB_LOG(h->lg, HB_LOG_ERROR, NULL, "http: poll failed: %s", strerror(errno));
            break;
        }
        if (r <= 0) continue;
        if (pfd[0].revents) break; /* stop */
        now = hb__mono_ns();
        /* Connections first (their indices move as they close), newest
         * last: walk the poll array, find each by fd. */
        size_t nconn = n - first_conn;
        for (size_t k = 0; k < nconn; k++) {
            struct pollfd *q = &pfd[first_conn + k];
            if (!q->revents) continue;
            size_t i = 0;
            while (i < h->nc && h->conns[i]->fd != q->fd) i++;
            if (i == h->nc) continue;
            s_conn *c = h->conns[i];
            bool keep = true;
            if (q->revents & (POLLERR | POLLNVAL))
                keep = false;
            else if (c->st == S_READ)
                keep = s_conn_read(h, c) && (c->st == S_READ || s_conn_write(h, c));
            else if (c->st == S_WRITE)
                keep = s_conn_write(h, c);
            else
                keep = s_conn_drain(c);
            if (!keep) s_conn_close(h, i);
        }
        for (size_t i = 0; i < h->nl; i++)
            if (pfd[1 + i].revents & POLLIN) s_accept(h, h->lfd[i], now);
    }
    free(pfd);
    while (h->nc) s_conn_close(h, h->nc - 1);
    return NULL;
}

/* ---- start and stop: main thread ------------------------------------------ */

static int s_listen(hb__http *h, const struct addrinfo *a, const char *hostport, char *err,
                    size_t cap)
{
    int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, cap, "cannot bind http endpoint %s: %s", hostport, strerror(errno));
        return HB_E_BIND;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        snprintf(err, cap, "cannot bind http endpoint %s: %s", hostport, strerror(e));
        return HB_E_BIND;
    }
    h->lfd[h->nl++] = fd;
    return 0;
}

int hb__http_start(const char *hostport, const hb__http_limits *lim, hb__http_handler fn, void *ud,
                   const hb_logger *lg, hb__http **out, char *err, size_t cap)
{
    char host[256];
    int port = 0;
    *out = NULL;
    if (!hb__hostport_split(hostport, host, sizeof(host), &port)) {
        snprintf(err, cap, "http: invalid address \"%s\" (expected host:port)", hostport);
        return HB_E_CONFIG;
    }
    hb__http *h = calloc(1, sizeof(*h));
    if (!h) return HB_E_NOMEM;
    h->lim = *lim;
    if (!h->lim.max_connections) h->lim.max_connections = 1;
    h->fn = fn;
    h->ud = ud;
    h->lg = lg;
    h->efd = -1;
    h->conns = calloc(h->lim.max_connections, sizeof(*h->conns));
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%d", port);
    /* "*": every interface, IPv6 and IPv4 in one dual-stack socket where
     * the system has IPv6, else IPv4. A literal: that address. A name:
     * every address it resolves to. Nothing else is bound. */
    bool any = !strcmp(host, "*");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (any ? AI_PASSIVE : 0)};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(any ? NULL : host, portstr, &hints, &ai);
    int rc = 0;
    if (!h->conns) {
        rc = HB_E_NOMEM;
    } else if (gai != 0 || !ai) {
        snprintf(err, cap, "cannot bind http endpoint %s: %s", hostport, gai_strerror(gai));
        rc = HB_E_BIND;
    } else if (any) {
        /* Passive results list :: and 0.0.0.0; :: alone covers both. */
        const struct addrinfo *pick = ai;
        for (const struct addrinfo *a = ai; a; a = a->ai_next)
            if (a->ai_family == AF_INET6) pick = a;
        rc = s_listen(h, pick, hostport, err, cap);
        if (rc && pick->ai_family == AF_INET6)
            for (const struct addrinfo *a = ai; a && rc; a = a->ai_next)
                if (a->ai_family == AF_INET) rc = s_listen(h, a, hostport, err, cap);
    } else {
        for (const struct addrinfo *a = ai; a && !rc && h->nl < S_MAX_LISTEN; a = a->ai_next) {
            bool dup = false; /* getaddrinfo repeats an address per protocol */
            for (const struct addrinfo *b = ai; b != a && !dup; b = b->ai_next)
                dup = b->ai_addrlen == a->ai_addrlen &&
                      !memcmp(b->ai_addr, a->ai_addr, a->ai_addrlen);
            if (!dup) rc = s_listen(h, a, hostport, err, cap);
        }
    }
    if (ai) freeaddrinfo(ai);
    if (!rc) {
        h->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (h->efd < 0) {
            snprintf(err, cap, "http: eventfd: %s", strerror(errno));
            rc = HB_E_IO;
        }
    }
    if (!rc && pthread_create(&h->thread, NULL, s_run, h) != 0) {
        snprintf(err, cap, "cannot start the http thread");
        rc = HB_E_INTERNAL;
    }
    if (rc) {
        for (size_t i = 0; i < h->nl; i++) close(h->lfd[i]);
        if (h->efd >= 0) close(h->efd);
        free(h->conns);
        free(h);
        return rc;
    }
    HB_LOG(lg, HB_LOG_INFO, NULL, "http: listening on %s (%zu socket%s)", hostport, h->nl,
           h->nl == 1 ? "" : "s");
    *out = h;
    return 0;
}

void hb__http_counters_get(hb__http *h, hb__http_counters *out)
{
    memset(out, 0, sizeof(*out));
    if (!h) return;
    for (size_t k = 0; k < HB__HTTP_N_CODES; k++)
        out->responses[k] = atomic_load_explicit(&h->c_codes[k], memory_order_relaxed);
    out->evicted = atomic_load_explicit(&h->c_evicted, memory_order_relaxed);
    out->timed_out = atomic_load_explicit(&h->c_timed_out, memory_order_relaxed);
    out->accept_errors = atomic_load_explicit(&h->c_accept_err, memory_order_relaxed);
}

void hb__http_stop(hb__http **hp)
{
    hb__http *h = *hp;
    if (!h) return;
    uint64_t one = 1;
    ssize_t w = write(h->efd, &one, sizeof(one));
    (void)w;
    pthread_join(h->thread, NULL);
    for (size_t i = 0; i < h->nl; i++) close(h->lfd[i]);
    close(h->efd);
    free(h->conns);
    free(h);
    *hp = NULL;
}
