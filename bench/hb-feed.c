/*
 * hb-feed: the feed generator. A WebSocket server (ws:// or wss://) that
 * accepts N connections and streams text messages of a fixed size to each,
 * at full speed or at a fixed total rate, every payload stamped with its send
 * time (layout in hb-bench.h).
 *
 * Design: one thread, one epoll set, edge-triggered sockets. The generator
 * must never be the bottleneck of a bridge benchmark, so after the HTTP
 * upgrade it does not use a WebSocket library: it copies a pre-encoded
 * server frame (unmasked, 2..10 byte header) into a 64 KiB batch, stamps the
 * time and sequence digits in place, and writes the whole batch with one
 * write() (or SSL_write). A partial write leaves the rest in a per-connection
 * pending buffer that goes out before anything new. lws would allow one
 * lws_write per WRITEABLE callback, i.e. one syscall per message, which is
 * what bench/README.md explains. This is a load generator, never linked into
 * the product.
 *
 * Pacing (--rate R): message k of the whole run is due at start + k/R and
 * goes to connection k mod N (round robin), so the total rate is exact and
 * every connection gets R/N. A timerfd wakes the loop at the next due time;
 * everything due is written at once and stamped with the actual write time.
 * A connection whose socket is full keeps what it owes and catches up when
 * writable (open loop: the schedule does not wait for the receiver).
 *
 * Client frames are parsed only as far as needed to stay a polite server:
 * ping is answered with pong, close with close; data is discarded.
 *
 * Control: SIGUSR1 starts streaming when --wait-signal is given (the runner
 * sends it once the subscriber is ready); SIGINT/SIGTERM print the summary
 * and exit. Progress goes to stdout as JSON lines.
 */
#include "hb-bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define RBUF_CAP   2048
#define MAX_LISTEN 64
#define TAG_LISTEN 1u
#define TAG_CONN   2u
#define TAG_SIGNAL 3u
#define TAG_TIMER  4u

enum conn_state { ST_TLS, ST_HTTP, ST_WS, ST_CLOSING };

typedef struct conn {
    int fd;
    SSL *ssl;
    enum conn_state state;
    bool writable;  /* last write did not hit EAGAIN */
    bool in_ready;  /* queued in s_ready */
    bool counted;   /* counted in s_ws_conns */
    uint32_t index; /* position in s_ws (round robin target) */
    uint64_t seq;   /* last sequence number stamped */
    uint64_t owed;  /* messages due but not yet built */
    uint64_t skip;  /* bytes of an oversized client frame still to drop */
    char *pend;     /* bytes built but not yet accepted by the kernel */
    size_t pend_len;
    size_t pend_off;
    size_t pend_cap;
    size_t rlen;
    unsigned char rbuf[RBUF_CAP];
} conn;

/* Options. */
static unsigned s_port = 0;
static unsigned s_listeners = 1;
static uint64_t s_conns = 1;
static size_t s_size = 200;
static uint64_t s_count = 0; /* per connection, 0 = unlimited */
static double s_rate = 0;    /* total msg/s, 0 = full speed */
static double s_duration = 0;
static bool s_wait_signal = false;
static bool s_idle = false;
static size_t s_batch_bytes = 65536;
static const char *s_cert = NULL;
static const char *s_key = NULL;

/* State; all of it belongs to the one thread. */
static int s_ep = -1;
static int s_sigfd = -1;
static int s_timerfd = -1;
static SSL_CTX *s_tls = NULL;
static conn **s_ws = NULL; /* upgraded connections, in arrival order */
static size_t s_ws_n = 0, s_ws_cap = 0;
static uint64_t s_ws_conns = 0; /* upgraded and still open */
static conn **s_ready = NULL;   /* full-speed: connections with work to do */
static size_t s_ready_n = 0, s_ready_cap = 0;
static bool s_streaming = false;
static bool s_done = false;
static bool s_go = false; /* SIGUSR1 seen */
static bool s_stop = false;
static uint64_t s_start_mono = 0, s_end_mono = 0, s_first_accept = 0;
static uint64_t s_sched = 0; /* paced: messages scheduled so far */
static uint64_t s_sent = 0;  /* messages built and handed to write */
static uint64_t s_total = 0; /* s_count * s_conns, 0 = unlimited */
static uint64_t s_max_late_ns = 0;
static uint64_t s_closed_early = 0;
static char *s_frame = NULL; /* one pre-encoded frame */
static size_t s_frame_len = 0, s_hdr_len = 0;
static char *s_scratch = NULL;
static size_t s_batch_frames = 1;

static void s_usage(void)
{
    fprintf(stderr, "usage: hb-feed [--port P] [--listeners K] [--conns N] [--size BYTES]\n"
                    "               [--count PER_CONN] [--rate TOTAL_MSG_S] [--duration SEC]\n"
                    "               [--wait-signal] [--idle] [--batch BYTES] [--tls CERT KEY]\n");
    exit(2);
}

static void s_fatal(const char *what)
{
    fprintf(stderr, "hb-feed: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ---- I/O over plain TCP or TLS ------------------------------------------ */

/* Returns bytes written (0 when the socket is full) or -1 on a dead socket. */
static ssize_t s_io_write(conn *c, const char *p, size_t n)
{
    if (!c->ssl) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w >= 0) return w;
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    }
    ERR_clear_error();
    int w = SSL_write(c->ssl, p, (int)(n > (1u << 30) ? (1u << 30) : n));
    if (w > 0) return w;
    int e = SSL_get_error(c->ssl, w);
    return (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? 0 : -1;
}

/* Returns bytes read, 0 when nothing is available, -1 on EOF or error. */
static ssize_t s_io_read(conn *c, void *p, size_t n)
{
    if (!c->ssl) {
        ssize_t r = recv(c->fd, p, n, 0);
        if (r > 0) return r;
        if (r == 0) return -1;
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    }
    ERR_clear_error();
    int r = SSL_read(c->ssl, p, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? 0 : -1;
}

/* ---- connection bookkeeping --------------------------------------------- */

static void s_ready_push(conn *c)
{
    if (c->in_ready) return;
    if (s_ready_n == s_ready_cap) {
        s_ready_cap = s_ready_cap ? s_ready_cap * 2 : 256;
        s_ready = realloc(s_ready, s_ready_cap * sizeof(*s_ready));
        if (!s_ready) s_fatal("realloc");
    }
    s_ready[s_ready_n++] = c;
    c->in_ready = true;
}

static void s_close(conn *c)
{
    if (c->counted) {
        s_ws_conns--;
        if (s_streaming && !s_done) s_closed_early++;
        s_ws[c->index] = NULL;
    }
    epoll_ctl(s_ep, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) SSL_free(c->ssl);
    close(c->fd);
    /* A closed connection may still sit in s_ready; mark it dead there. */
    for (size_t i = 0; i < s_ready_n; i++)
        if (s_ready[i] == c) s_ready[i] = NULL;
    free(c->pend);
    free(c);
}

/* Appends bytes to the pending buffer (they go out before anything new). */
static void s_pend_append(conn *c, const char *p, size_t n)
{
    if (c->pend_off && c->pend_off == c->pend_len) c->pend_off = c->pend_len = 0;
    if (c->pend_len + n > c->pend_cap) {
        if (c->pend_off) {
            memmove(c->pend, c->pend + c->pend_off, c->pend_len - c->pend_off);
            c->pend_len -= c->pend_off;
            c->pend_off = 0;
        }
        if (c->pend_len + n > c->pend_cap) {
            size_t cap = c->pend_cap ? c->pend_cap : 4096;
            while (cap < c->pend_len + n) cap *= 2;
            c->pend = realloc(c->pend, cap);
            if (!c->pend) s_fatal("realloc");
            c->pend_cap = cap;
        }
    }
    memcpy(c->pend + c->pend_len, p, n);
    c->pend_len += n;
}

/* Writes pending bytes. Returns 1 when all gone, 0 when blocked, -1 dead. */
static int s_flush(conn *c)
{
    while (c->pend_off < c->pend_len) {
        ssize_t w = s_io_write(c, c->pend + c->pend_off, c->pend_len - c->pend_off);
        if (w < 0) return -1;
        if (w == 0) {
            c->writable = false;
            return 0;
        }
        c->pend_off += (size_t)w;
    }
    c->pend_off = c->pend_len = 0;
    if (c->state == ST_CLOSING) return -1; /* close frame is out: done */
    return 1;
}

/* Builds up to s_batch_frames of what c owes and writes them with one
 * syscall. Returns 1 if more could be written now, 0 if blocked or owes
 * nothing, -1 if the connection is dead. */
static int s_pump_once(conn *c)
{
    int f = s_flush(c);
    if (f <= 0) return f;
    if (!c->owed || c->state != ST_WS) return 0;
    size_t k = c->owed < s_batch_frames ? (size_t)c->owed : s_batch_frames;
    char tsd[BENCH_TS_DIGITS];
    bench_put_digits(tsd, BENCH_TS_DIGITS, bench_wall_ns());
    char *p = s_scratch;
    for (size_t i = 0; i < k; i++) {
        memcpy(p, s_frame, s_frame_len);
        memcpy(p + s_hdr_len + BENCH_TS_OFF, tsd, BENCH_TS_DIGITS);
        bench_put_digits(p + s_hdr_len + BENCH_SEQ_OFF, BENCH_SEQ_DIGITS, ++c->seq);
        p += s_frame_len;
    }
    c->owed -= k;
    s_sent += k;
    size_t n = k * s_frame_len;
    ssize_t w = s_io_write(c, s_scratch, n);
    if (w < 0) return -1;
    if ((size_t)w < n) {
        /* Short is not always blocked: SSL_write in partial mode returns
         * after one record. s_flush writes on until the socket says EAGAIN
         * (the edge-triggered EPOLLOUT then wakes us); stopping here without
         * it waited for an edge that never came (a wss feed stalled after
         * its first record). */
        s_pend_append(c, s_scratch + w, n - (size_t)w);
        int r = s_flush(c);
        if (r <= 0) return r;
    }
    return c->owed ? 1 : 0;
}

/* ---- HTTP upgrade and client frames --------------------------------------- */

static void s_ws_accept_key(const char *key, size_t klen, char out[64])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char buf[256];
    unsigned char sha[SHA_DIGEST_LENGTH];
    if (klen > sizeof(buf) - sizeof(guid)) klen = sizeof(buf) - sizeof(guid);
    memcpy(buf, key, klen);
    memcpy(buf + klen, guid, sizeof(guid) - 1);
    SHA1((const unsigned char *)buf, klen + sizeof(guid) - 1, sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
}

static void s_became_ws(conn *c)
{
    c->state = ST_WS;
    c->writable = true;
    if (s_ws_n == s_ws_cap) {
        s_ws_cap = s_ws_cap ? s_ws_cap * 2 : 1024;
        s_ws = realloc(s_ws, s_ws_cap * sizeof(*s_ws));
        if (!s_ws) s_fatal("realloc");
    }
    c->index = (uint32_t)s_ws_n;
    s_ws[s_ws_n++] = c;
    c->counted = true;
    s_ws_conns++;
    if (s_ws_conns == s_conns) {
        printf("{\"event\":\"connected\",\"conns\":%llu,\"since_first_accept_ms\":%.1f}\n",
               (unsigned long long)s_ws_conns, (double)(bench_mono_ns() - s_first_accept) / 1e6);
        fflush(stdout);
    }
}

/* Parses the HTTP request in rbuf. Returns 1 done, 0 need more, -1 bad. */
static int s_http(conn *c)
{
    c->rbuf[c->rlen < RBUF_CAP ? c->rlen : RBUF_CAP - 1] = 0;
    char *end = strstr((char *)c->rbuf, "\r\n\r\n");
    if (!end) return c->rlen >= RBUF_CAP - 1 ? -1 : 0;
    const char *key = NULL;
    size_t klen = 0;
    for (char *line = strstr((char *)c->rbuf, "\r\n"); line && line < end;
         line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Sec-WebSocket-Key:", 18) == 0) {
            key = line + 20;
            while (*key == ' ') key++;
            const char *e = strstr(key, "\r\n");
            klen = (size_t)(e - key);
            while (klen && key[klen - 1] == ' ') klen--;
            break;
        }
    }
    if (!key) return -1;
    char acc[64];
    s_ws_accept_key(key, klen, acc);
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                     acc);
    s_pend_append(c, resp, (size_t)n);
    size_t used = (size_t)(end + 4 - (char *)c->rbuf);
    memmove(c->rbuf, c->rbuf + used, c->rlen - used);
    c->rlen -= used;
    s_became_ws(c);
    return 1;
}

/* Handles whole client frames in rbuf: pong to ping, close to close. */
static void s_client_frames(conn *c)
{
    size_t off = 0;
    while (off < c->rlen) {
        if (c->skip) {
            size_t d = c->rlen - off < c->skip ? c->rlen - off : (size_t)c->skip;
            off += d;
            c->skip -= d;
            continue;
        }
        unsigned char *b = c->rbuf + off;
        size_t avail = c->rlen - off;
        if (avail < 2) break;
        unsigned op = b[0] & 0x0f;
        bool masked = b[1] & 0x80;
        uint64_t len = b[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (avail < 4) break;
            len = ((uint64_t)b[2] << 8) | b[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | b[2 + i];
            hl = 10;
        }
        if (masked) hl += 4;
        if (avail < hl) break;
        if (len > RBUF_CAP - 16) { /* data we do not care about: drop it */
            off += hl;
            c->skip = len;
            continue;
        }
        if (avail < hl + len) break;
        unsigned char *pl = b + hl;
        if (masked)
            for (uint64_t i = 0; i < len; i++) pl[i] ^= b[hl - 4 + (i & 3)];
        if (op == 0x9 || op == 0x8) {
            char out[2 + 125];
            size_t cl = len > 125 ? 125 : (size_t)len;
            if (op == 0x8 && cl > 2) cl = 2; /* echo the status code only */
            out[0] = (char)(op == 0x9 ? 0x8a : 0x88);
            out[1] = (char)cl;
            memcpy(out + 2, pl, cl);
            s_pend_append(c, out, 2 + cl);
            if (op == 0x8) c->state = ST_CLOSING;
        }
        off += hl + (size_t)len;
        if (c->state == ST_CLOSING) break;
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
}

/* Reads what is there, runs the state machine. Returns -1 if c was closed. */
static int s_on_readable(conn *c)
{
    if (c->state == ST_TLS) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
            s_close(c);
            return -1;
        }
        c->state = ST_HTTP;
    }
    for (;;) {
        if (c->rlen >= RBUF_CAP - 1) { /* cannot happen for sane clients */
            s_close(c);
            return -1;
        }
        ssize_t r = s_io_read(c, c->rbuf + c->rlen, RBUF_CAP - 1 - c->rlen);
        if (r < 0) {
            s_close(c);
            return -1;
        }
        if (r == 0) break;
        c->rlen += (size_t)r;
        if (c->state == ST_HTTP) {
            int h = s_http(c);
            if (h < 0) {
                s_close(c);
                return -1;
            }
            if (h == 0) continue;
        }
        if (c->state == ST_WS)
            s_client_frames(c);
        else if (c->state == ST_CLOSING)
            c->rlen = 0;
    }
    if (s_flush(c) < 0) {
        s_close(c);
        return -1;
    }
    return 0;
}

static void s_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            if (errno == EMFILE || errno == ENFILE) {
                fprintf(stderr, "hb-feed: accept: %s\n", strerror(errno));
                return;
            }
            return;
        }
        if (!s_first_accept) s_first_accept = bench_mono_ns();
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn *c = calloc(1, sizeof(*c));
        if (!c) s_fatal("calloc");
        c->fd = fd;
        c->state = ST_HTTP;
        if (s_tls) {
            c->ssl = SSL_new(s_tls);
            if (!c->ssl) s_fatal("SSL_new");
            SSL_set_fd(c->ssl, fd);
            SSL_set_accept_state(c->ssl);
            SSL_set_mode(c->ssl,
                         SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
            c->state = ST_TLS;
        }
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.u64 = ((uint64_t)(uintptr_t)c << 3) | TAG_CONN};
        if (epoll_ctl(s_ep, EPOLL_CTL_ADD, fd, &ev) < 0) s_fatal("epoll_ctl");
        (void)s_on_readable(c);
    }
}

/* ---- streaming ------------------------------------------------------------ */

static void s_arm_timer(uint64_t at_mono)
{
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(at_mono / 1000000000u);
    its.it_value.tv_nsec = (long)(at_mono % 1000000000u);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    timerfd_settime(s_timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void s_finish(void)
{
    if (s_done) return;
    s_done = true;
    s_end_mono = bench_mono_ns();
    double el = (double)(s_end_mono - s_start_mono) / 1e9;
    printf("{\"event\":\"done\",\"sent\":%llu,\"elapsed_s\":%.6f,\"rate\":%.1f,"
           "\"max_late_us\":%.1f,\"closed_early\":%llu,\"conns\":%llu}\n",
           (unsigned long long)s_sent, el, el > 0 ? (double)s_sent / el : 0.0,
           (double)s_max_late_ns / 1e3, (unsigned long long)s_closed_early,
           (unsigned long long)s_ws_conns);
    fflush(stdout);
}

static void s_start(void)
{
    s_streaming = true;
    s_start_mono = bench_mono_ns();
    s_total = s_count ? s_count * s_conns : 0;
    printf("{\"event\":\"start\",\"conns\":%llu}\n", (unsigned long long)s_ws_conns);
    fflush(stdout);
    if (s_rate > 0) {
        s_arm_timer(s_start_mono);
        return;
    }
    /* Full speed: every connection owes its whole count up front. */
    for (size_t i = 0; i < s_ws_n; i++) {
        conn *c = s_ws[i];
        if (!c) continue;
        c->owed = s_count ? s_count : UINT64_MAX / 2;
        s_ready_push(c);
    }
}

/* Paced: hands out what is due by now, round robin, and re-arms the timer. */
static void s_on_timer(void)
{
    uint64_t exp;
    if (read(s_timerfd, &exp, sizeof(exp)) < 0 && errno != EAGAIN) s_fatal("read timerfd");
    if (!s_streaming || s_done) return;
    uint64_t now = bench_mono_ns();
    double el = (double)(now - s_start_mono) / 1e9;
    if (s_duration > 0 && el >= s_duration) {
        s_finish();
        return;
    }
    uint64_t due = (uint64_t)(el * s_rate) + 1;
    if (s_total && due > s_total) due = s_total;
    if (due > s_sched) {
        uint64_t intended = s_start_mono + (uint64_t)((double)s_sched / s_rate * 1e9);
        if (now > intended && now - intended > s_max_late_ns) s_max_late_ns = now - intended;
    }
    /* Slots of closed connections stay in s_ws (NULL): their share of the
     * schedule is skipped, not handed to the others. */
    while (s_sched < due && s_ws_n) {
        conn *c = s_ws[s_sched % s_ws_n];
        s_sched++;
        if (!c) continue;
        c->owed++;
        s_ready_push(c);
    }
    if (s_total && s_sched >= s_total) return; /* finish once written */
    uint64_t next = s_start_mono + (uint64_t)((double)s_sched / s_rate * 1e9);
    s_arm_timer(next);
}

/* Works the ready list: one batch per connection per round, for fairness.
 * Returns true if there is still work that does not wait for the kernel. */
static bool s_pump_ready(void)
{
    size_t w = 0;
    for (size_t i = 0; i < s_ready_n; i++) {
        conn *c = s_ready[i];
        if (!c) continue;
        int r = c->writable ? s_pump_once(c) : 0;
        if (r < 0) {
            c->in_ready = false;
            s_ready[i] = NULL;
            s_close(c);
            continue;
        }
        if (c->owed || c->pend_len)
            s_ready[w++] = c; /* still owes or blocked */
        else
            c->in_ready = false;
    }
    /* s_close may have nulled entries we already kept; compact again. */
    size_t k = 0;
    for (size_t i = 0; i < w; i++)
        if (s_ready[i]) s_ready[k++] = s_ready[i];
    s_ready_n = k;
    for (size_t i = 0; i < s_ready_n; i++)
        if (s_ready[i]->writable) return true;
    return false;
}

static void s_check_done(void)
{
    if (!s_streaming || s_done) return;
    if (s_total && s_sent >= s_total && s_ready_n == 0) s_finish();
    if (s_duration > 0 && s_rate <= 0 &&
        (double)(bench_mono_ns() - s_start_mono) / 1e9 >= s_duration) {
        for (size_t i = 0; i < s_ws_n; i++)
            if (s_ws[i]) s_ws[i]->owed = 0;
        s_finish();
    }
}

/* ---- setup ----------------------------------------------------------------- */

static void s_build_frame(void)
{
    s_hdr_len = s_size < 126 ? 2 : s_size < 65536 ? 4 : 10;
    s_frame_len = s_hdr_len + s_size;
    s_frame = malloc(s_frame_len);
    if (!s_frame) s_fatal("malloc");
    unsigned char *h = (unsigned char *)s_frame;
    h[0] = 0x81; /* FIN + text */
    if (s_size < 126) {
        h[1] = (unsigned char)s_size;
    } else if (s_size < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(s_size >> 8);
        h[3] = (unsigned char)s_size;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)s_size >> (56 - 8 * i));
    }
    bench_payload_init(s_frame + s_hdr_len, s_size);
    s_batch_frames = s_batch_bytes / s_frame_len;
    if (s_batch_frames < 1) s_batch_frames = 1;
    s_scratch = malloc(s_batch_frames * s_frame_len);
    if (!s_scratch) s_fatal("malloc");
}

static void s_listen(int *fds, unsigned *ports)
{
    for (unsigned i = 0; i < s_listeners; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) s_fatal("socket");
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons((uint16_t)(s_port ? s_port + i : 0));
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) s_fatal("bind");
        if (listen(fd, 65535) < 0) s_fatal("listen");
        socklen_t al = sizeof(a);
        getsockname(fd, (struct sockaddr *)&a, &al);
        ports[i] = ntohs(a.sin_port);
        fds[i] = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ((uint64_t)i << 3) | TAG_LISTEN};
        if (epoll_ctl(s_ep, EPOLL_CTL_ADD, fd, &ev) < 0) s_fatal("epoll_ctl");
    }
}

static void s_parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--port"))
            s_port = (unsigned)bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--listeners"))
            s_listeners = (unsigned)bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--conns"))
            s_conns = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--size"))
            s_size = (size_t)bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--count"))
            s_count = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--rate"))
            s_rate = bench_arg_double(a, v), i++;
        else if (!strcmp(a, "--duration"))
            s_duration = bench_arg_double(a, v), i++;
        else if (!strcmp(a, "--batch"))
            s_batch_bytes = (size_t)bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--wait-signal"))
            s_wait_signal = true;
        else if (!strcmp(a, "--idle"))
            s_idle = true;
        else if (!strcmp(a, "--tls") && i + 2 < argc)
            s_cert = argv[i + 1], s_key = argv[i + 2], i += 2;
        else
            s_usage();
    }
    if (s_size < BENCH_HDR_LEN || s_listeners < 1 || s_listeners > MAX_LISTEN || s_conns < 1)
        s_usage();
    if (s_port && s_port + s_listeners > 65536) s_usage();
}

static void s_tls_init(void)
{
    s_tls = SSL_CTX_new(TLS_server_method());
    if (!s_tls || SSL_CTX_use_certificate_chain_file(s_tls, s_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(s_tls, s_key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        fprintf(stderr, "hb-feed: cannot load %s / %s\n", s_cert, s_key);
        exit(1);
    }
    /* The feed's own memory does not matter; keep its TLS cheap anyway. */
    SSL_CTX_set_mode(s_tls, SSL_MODE_RELEASE_BUFFERS);
}

int main(int argc, char **argv)
{
    s_parse_args(argc, argv);
    bench_raise_nofile();
    s_build_frame();
    if (s_cert) s_tls_init();

    s_ep = epoll_create1(EPOLL_CLOEXEC);
    if (s_ep < 0) s_fatal("epoll_create1");
    int lfds[MAX_LISTEN];
    unsigned ports[MAX_LISTEN];
    s_listen(lfds, ports);

    sigset_t ss;
    sigemptyset(&ss);
    sigaddset(&ss, SIGUSR1);
    sigaddset(&ss, SIGINT);
    sigaddset(&ss, SIGTERM);
    sigprocmask(SIG_BLOCK, &ss, NULL);
    signal(SIGPIPE, SIG_IGN);
    s_sigfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
    s_timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (s_sigfd < 0 || s_timerfd < 0) s_fatal("signalfd/timerfd");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_SIGNAL};
    epoll_ctl(s_ep, EPOLL_CTL_ADD, s_sigfd, &ev);
    ev.data.u64 = TAG_TIMER;
    epoll_ctl(s_ep, EPOLL_CTL_ADD, s_timerfd, &ev);

    printf("{\"event\":\"listening\",\"tls\":%s,\"ports\":[", s_tls ? "true" : "false");
    for (unsigned i = 0; i < s_listeners; i++) printf("%s%u", i ? "," : "", ports[i]);
    printf("]}\n");
    fflush(stdout);

    struct epoll_event evs[256];
    while (!s_stop) {
        if (!s_streaming && !s_idle && s_ws_conns >= s_conns && (s_go || !s_wait_signal)) s_start();
        bool busy = s_streaming && !s_done && s_pump_ready();
        s_check_done();
        int timeout = busy ? 0 : (s_streaming && !s_done && s_duration > 0) ? 50 : 1000;
        int n = epoll_wait(s_ep, evs, 256, timeout);
        if (n < 0 && errno != EINTR) s_fatal("epoll_wait");
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            unsigned tag = (unsigned)(d & 7);
            if (tag == TAG_LISTEN) {
                s_accept(lfds[d >> 3]);
            } else if (tag == TAG_SIGNAL) {
                struct signalfd_siginfo si;
                while (read(s_sigfd, &si, sizeof(si)) == sizeof(si)) {
                    if (si.ssi_signo == SIGUSR1)
                        s_go = true;
                    else
                        s_stop = true;
                }
            } else if (tag == TAG_TIMER) {
                s_on_timer();
            } else {
                conn *c = (conn *)(uintptr_t)(d >> 3);
                uint32_t e = evs[i].events;
                if (c->state == ST_TLS) { /* the handshake may wait on either side */
                    (void)s_on_readable(c);
                    continue;
                }
                if (e & EPOLLOUT) {
                    c->writable = true;
                    if (s_flush(c) < 0) {
                        s_close(c);
                        continue;
                    }
                    if (c->owed) s_ready_push(c);
                }
                if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) (void)s_on_readable(c);
            }
        }
    }
    if (s_streaming) s_finish();
    return 0;
}
