/*
 * conn.c: one outbound WebSocket connection (conn.h). Loop thread only.
 *
 * Layers, bottom up: a raw lws client socket (lws does the TCP connect,
 * the event loop, WRITEABLE scheduling and receive flow control; it never
 * parses a byte of ours), TLS over those bytes (tls.c, wss:// only), and
 * the RFC 6455 codec (ws/) above the plaintext: its handshake while
 * dialing, its frame decoder and encoder once open.
 *
 * A dial: hb__conn_dial (build the upgrade request, arm connect_timeout)
 * -> next turn: wait for a dial slot (hb__loop_slot_take, FIFO) -> TLS
 * session -> resolve on a resolver thread unless numeric ->
 * lws_client_connect_via_info(method RAW) -> RAW_CONNECTED -> TLS
 * handshake -> write the request -> feed the answer to hb__ws_hs_feed ->
 * on_open, and bytes that came with the 101 are the first frames.
 * connect_timeout covers all of it. Every end of a dial (open, failure,
 * owner's close, teardown) gives the slot back exactly once (s_dial_end).
 *
 * Receiving: every RAW_RX buffer (decrypted into the loop's scratch for
 * TLS) goes to hb__ws_feed in one call; the codec hands out message pieces
 * pointing into that buffer. While the owner has paused reading, the codec
 * is not fed: the unconsumed rest of the buffer (at most one) is copied
 * aside, lws stops reading the socket, and resuming feeds the rest first.
 *
 * Writing: one lws_write per WRITEABLE for a plain socket (lws buffers a
 * partial raw write itself and calls WRITEABLE again only once it is
 * flushed); control frames (a pong, the close) go ahead of the owner's
 * data. Frames are built in place in the caller's headroom. With TLS,
 * everything of one WRITEABLE is encrypted into the session's output and
 * written with one lws_write.
 *
 * Closing (RFC 6455 section 7): our close sends close(code, reason) and
 * waits for the peer's close up to S_GRACE_NS, then drops TCP; a peer's
 * close is echoed with its code, then TCP is dropped once the echo is
 * flushed; a protocol error, invalid UTF-8 or an oversize message sends
 * 1002, 1007 or 1009 and drops TCP once that is flushed. The owner hears
 * of the end at once (on_closed) and is detached; the socket finishes on
 * its own, bounded by the grace timer. TCP is dropped by returning -1
 * from an lws callback of this connection, or from a timer with lws's
 * asynchronous kill; never while lws parses anything of ours (it does not).
 *
 * Lifetime: the struct is held by the owner (until on_dial_failed,
 * on_closed or hb__conn_close), by lws's wsi (until WSI_DESTROY), by a
 * resolver job, and by our own frames on the stack (`busy`). Only
 * s_release frees it, when none holds it.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "core/netrule.h"
#include "transport/conn.h"
#include "transport/loop.h"

#define S_GRACE_NS (2000ull * 1000 * 1000)

enum {
    S_SLOT = 0, /* waiting for a dial slot */
    S_RESOLVE,  /* a resolver thread looks the host up */
    S_TCP,      /* lws is connecting */
    S_TLS,      /* TLS handshake */
    S_UPGRADE,  /* request sent (or being sent), waiting for the 101 */
    S_OPEN,     /* frames */
};

/* What only a dial needs: freed when it ends, so an open connection holds none. */
typedef struct s_dial {
    struct hb__conn *c;
    char *host;   /* bare host: resolver input, TLS name */
    uint8_t *req; /* the upgrade request (plain: LWS_PRE bytes in front) */
    size_t req_len;
    bool req_sent; /* handed to lws / TLS */
    hb__ws_hs *hs;
    char *prof[3]; /* TLS profile files (copies) */
    bool tls;      /* wss:// */
    bool verify;
    hb__conn_memo *memo; /* a reference, taken with the TLS session */
    const void *owner;
    uint64_t max_message_size;
    bool numeric;
    bool public_only; /* dial public addresses only */
    bool slot_held;
    hb__slot_wait slot;
    char addr[64]; /* the numeric address dialled */
} s_dial;

/* A lookup and the connection waiting for it (its own allocation: the
 * resolver may hand it back after the dial ended). */
typedef struct s_lookup {
    hb__resolve r; /* first: the resolver links jobs through r.note */
    struct hb__conn *c;
    char host[];
} s_lookup;

struct hb__conn {
    hb__loop *loop;
    const hb__conn_ops *ops;
    void *ud;
    struct lws *wsi;
    s_dial *dial;        /* while dialing */
    hb__ws *ws;          /* once open */
    hb__tls *tls;        /* wss:// */
    hb__conn_memo *memo; /* the reference the TLS session needs */
    uint16_t port;
    uint8_t st;
    bool owned;      /* owner attached: callbacks allowed */
    bool wsi_live;   /* lws has a wsi pointing at us */
    bool resolving;  /* a resolver job holds us (job) */
    bool in_connect; /* inside lws_client_connect_via_info */
    bool in_lws;     /* inside an lws callback of this connection (drop by returning -1) */
    bool drop_req;   /* drop TCP when the current lws callback returns */
    bool drop_after; /* drop TCP once what was written is flushed */
    bool dropping;   /* the drop is under way */
    bool want_write; /* the owner asked for on_writable */
    bool in_writable;
    bool wrote; /* an lws_write was made in this WRITEABLE */
    bool write_failed;
    bool rx_paused;  /* the owner paused reading */
    bool rx_blocked; /* lws reading is off */
    bool ws_done;    /* the codec finished (close or error): ignore further input */
    bool pong_due, close_due, close_sent, close_rcvd;
    bool rx_seen;        /* something was received since the last tick */
    uint8_t quiet_ticks; /* ticks without anything received */
    uint8_t pong_len, close_len;
    int busy;
    uint64_t frame_left;
    uint64_t rx_ns; /* when the buffer being fed was read (monotonic) */
    uint8_t *ctl;   /* LWS_PRE + HB__WS_MAX_HEADER + 125: pong payload, close payload */
    uint8_t *rest;  /* input not fed while paused */
    size_t rest_len;
    hb__timer start_t;    /* the dial's next step; once open, resume after a pause */
    hb__timer end_t;      /* connect_timeout while dialing; the close grace after */
    hb__link link;        /* on the loop's list of connections, from dial to free */
    struct s_lookup *job; /* the lookup in flight (resolving) */
};

/* The control buffer: two frames' room (pong, close), made on first use. */
#define S_CTL_ONE      (HB__CONN_HEADROOM + 125)
#define S_CTL_PONG(c)  ((c)->ctl)
#define S_CTL_CLOSE(c) ((c)->ctl + S_CTL_ONE)

static const lws_retry_bo_t s_no_validity = {
    .secs_since_valid_ping = 0xfffe,
    .secs_since_valid_hangup = 0xffff,
};

/* ---- the resumption memo ----------------------------------------------------- */

struct hb__conn_memo {
    atomic_int refs;
    hb__tls_memo *m;
};

hb__conn_memo *hb__conn_memo_new(void)
{
    hb__conn_memo *cm = malloc(sizeof(*cm));
    if (!cm) return NULL;
    if (!(cm->m = hb__tls_memo_new())) {
        free(cm);
        return NULL;
    }
    atomic_init(&cm->refs, 1);
    return cm;
}

static hb__conn_memo *s_memo_ref(hb__conn_memo *cm)
{
    if (cm) atomic_fetch_add_explicit(&cm->refs, 1, memory_order_relaxed);
    return cm;
}

void hb__conn_memo_unref(hb__conn_memo **pcm)
{
    hb__conn_memo *cm = *pcm;
    if (!cm) return;
    *pcm = NULL;
    if (atomic_fetch_sub_explicit(&cm->refs, 1, memory_order_acq_rel) != 1) return;
    hb__tls_memo_free(&cm->m);
    free(cm);
}

/* ---- life -------------------------------------------------------------------- */

static void s_dial_free(hb__conn *c)
{
    s_dial *d = c->dial;
    if (!d) return;
    c->dial = NULL;
    hb__loop_slot_cancel(c->loop, &d->slot);
    if (d->slot_held) hb__loop_slot_give(c->loop);
    free(d->host);
    free(d->req);
    hb__ws_hs_free(&d->hs);
    for (int i = 0; i < 3; i++) free(d->prof[i]);
    free(d);
}

static void s_maybe_free(hb__conn *c)
{
    if (c->owned || c->wsi_live || c->resolving || c->busy) return;
    s_dial_free(c);
    hb__loop_unlink(c->loop, &c->link);
    hb__timer_cancel(&c->start_t);
    hb__timer_cancel(&c->end_t);
    hb__ws_free(&c->ws);
    hb__tls_free(&c->tls);
    hb__conn_memo_unref(&c->memo); /* after the session that writes to it */
    free(c->ctl);
    free(c->rest);
    free(c);
}

/* Every entry point holds the struct while it works; only the outermost
 * release frees. */
static void s_hold(hb__conn *c)
{
    c->busy++;
}

static void s_release(hb__conn *c)
{
    c->busy--;
    s_maybe_free(c);
}

/* Drop TCP: from inside an lws callback of ours by its return value, else
 * by lws's asynchronous kill (on the next service). */
static void s_drop(hb__conn *c)
{
    if (c->dropping || !c->wsi_live || !c->wsi) return;
    c->dropping = true;
    if (c->in_lws)
        c->drop_req = true;
    else
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void s_want_write(hb__conn *c)
{
    if (c->wsi_live && c->wsi && !c->dropping) lws_callback_on_writable(c->wsi);
}

/* "addr:port" or "[v6]:port" of the dial, for error texts. */
static const char *s_where(hb__conn *c, char *buf, size_t cap)
{
    const char *a = c->dial && c->dial->addr[0] ? c->dial->addr : c->dial ? c->dial->host : "?";
    snprintf(buf, cap, strchr(a, ':') ? "[%s]:%u" : "%s:%u", a, (unsigned)c->port);
    return buf;
}

/* The dial ended (any way): the slot goes back, a lookup still wanted is
 * abandoned, connect_timeout is off, the dial's memory goes. */
static void s_dial_end(hb__conn *c)
{
    if (!c->dial) return;
    hb__loop_dial_done(c->loop);
    if (c->resolving && c->job) hb__resolve_abandon(&c->job->r);
    hb__timer_cancel(&c->end_t);
    s_dial_free(c);
}

/* The dial failed: tell the owner once, then forget it. */
__attribute__((format(printf, 2, 3))) static void s_fail(hb__conn *c, const char *fmt, ...)
{
    if (!c->owned || c->st == S_OPEN) return;
    char e[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e, sizeof(e), fmt, ap);
    va_end(ap);
    c->owned = false;
    s_dial_end(c);
    s_drop(c);
    c->ops->on_dial_failed(c->ud, c, e);
}

/* The connection ended after on_open: tell the owner once. */
static void s_end(hb__conn *c, hb__conn_end why, int code, const char *text)
{
    if (!c->owned) return;
    c->owned = false;
    c->want_write = false;
    c->ops->on_closed(c->ud, c, why, code, text && *text ? text : NULL);
}

/* The socket is gone (RAW_CLOSE, WSI_DESTROY): whoever still listens hears
 * why, in the words of the phase it was in. */
static void s_gone(hb__conn *c)
{
    if (!c->owned) return;
    if (c->st == S_OPEN) {
        s_end(c, HB__CONN_LOST, 1006, NULL);
        return;
    }
    char w[96];
    const char *last = hb__loop_lws_last();
    switch (c->st) {
    case S_TLS:
        s_fail(c, "TLS: the server closed the connection during the handshake");
        break;
    case S_UPGRADE:
        s_fail(c, "handshake: the server closed the connection before answering the upgrade");
        break;
    default:
        if (c->in_connect)
            s_fail(c, "connect %s: %s", s_where(c, w, sizeof(w)),
                   *last ? last : "libwebsockets could not start the connection");
        else
            s_fail(c, "connect %s: connection closed", s_where(c, w, sizeof(w)));
        break;
    }
}

static bool s_ctl(hb__conn *c)
{
    if (!c->ctl) c->ctl = malloc(2 * S_CTL_ONE);
    return c->ctl != NULL;
}

/* Queue our close frame (ahead of any data). With `drop_after`, TCP is
 * dropped once it is flushed; else the peer's close is awaited. Either way
 * the grace timer bounds the wait. A 1005 (no code) is echoed empty. */
static void s_queue_close(hb__conn *c, int code, const char *reason, bool drop_after)
{
    if (drop_after) c->drop_after = true;
    if (c->close_due || c->close_sent) return;
    if (!s_ctl(c)) {
        s_drop(c);
        return;
    }
    c->close_len = code == 1005 ? 0
                                : (uint8_t)hb__ws_close_payload(S_CTL_CLOSE(c) + HB__CONN_HEADROOM,
                                                                (uint16_t)code, reason);
    c->close_due = true;
    hb__timer_arm(&c->end_t, S_GRACE_NS);
    s_want_write(c);
}

/* We end the connection for what the peer sent (1002, 1007, 1009, 1011). */
static void s_ws_fail(hb__conn *c, hb__conn_end why, int code, const char *detail)
{
    c->ws_done = true;
    s_end(c, why, code, detail);
    if (c->close_sent) {
        s_drop(c); /* our close is out already: nothing more to say */
        return;
    }
    s_queue_close(c, code, NULL, true);
}

static void s_block(hb__conn *c)
{
    if (c->rx_blocked || !c->wsi_live || !c->wsi) return;
    lws_rx_flow_control(c->wsi, 0);
    c->rx_blocked = true;
}

/* Paused: keep what was not fed (at most one receive buffer: lws reads no
 * more once blocked). */
static void s_keep(hb__conn *c, const uint8_t *p, size_t n)
{
    s_block(c);
    if (!n) return;
    uint8_t *r = realloc(c->rest, c->rest_len + n);
    if (!r) {
        s_ws_fail(c, HB__CONN_LOST, 1011, "out of memory");
        return;
    }
    memcpy(r + c->rest_len, p, n);
    c->rest = r;
    c->rest_len += n;
}

/* ---- the codec's events ------------------------------------------------------- */

static int s_ws_data(void *ud, const uint8_t *p, size_t n, bool first, bool final, bool binary,
                     uint64_t frame_left)
{
    hb__conn *c = ud;
    if (!c->owned) return 0; /* closing: read on for the peer's close, drop data */
    c->frame_left = frame_left;
    c->ops->on_data(c->ud, c, p, n, first, final, binary);
    return c->rx_paused && c->owned;
}

static void s_ws_ping(void *ud, const uint8_t *p, size_t n)
{
    hb__conn *c = ud;
    if (!c->close_due && !c->close_sent && n <= 125 && s_ctl(c)) {
        /* Only the latest ping is answered (RFC 6455 section 5.5.3). */
        memcpy(S_CTL_PONG(c) + HB__CONN_HEADROOM, p, n);
        c->pong_len = (uint8_t)n;
        c->pong_due = true;
        s_want_write(c);
    }
    if (c->owned) c->ops->on_pong(c->ud, c);
}

static void s_ws_pong(void *ud, const uint8_t *p, size_t n)
{
    hb__conn *c = ud;
    (void)p;
    (void)n;
    if (c->owned) c->ops->on_pong(c->ud, c);
}

static void s_ws_close(void *ud, uint16_t code, const uint8_t *reason, size_t n)
{
    hb__conn *c = ud;
    char text[128];
    if (n > sizeof(text) - 1) n = sizeof(text) - 1;
    memcpy(text, reason, n);
    text[n] = 0;
    c->close_rcvd = true;
    s_end(c, HB__CONN_PEER_CLOSE, code, text);
    /* Echo it (section 5.5.1), or finish the close we began. */
    s_queue_close(c, code, NULL, true);
}

/* Frames: the whole buffer in one call. */
static void s_frames(hb__conn *c, const uint8_t *p, size_t n)
{
    if (c->ws_done || !n) return;
    if (c->rx_paused) {
        s_keep(c, p, n);
        return;
    }
    hb__ws_cb cb = {s_ws_data, s_ws_ping, s_ws_pong, s_ws_close, c};
    size_t used = 0;
    const char *detail = NULL;
    switch (hb__ws_feed(c->ws, p, n, &cb, &used, &detail)) {
    case HB__WS_OK:
        return;
    case HB__WS_STOPPED:
        s_keep(c, p + used, n - used);
        return;
    case HB__WS_CLOSED:
        c->ws_done = true;
        if (c->close_sent) s_drop(c); /* the answer to our close */
        return;
    case HB__WS_ERR_PROTOCOL:
        s_ws_fail(c, HB__CONN_PROTOCOL_ERROR, 1002, detail);
        return;
    case HB__WS_ERR_TOO_LARGE:
        s_ws_fail(c, HB__CONN_TOO_LARGE, 1009, detail);
        return;
    case HB__WS_ERR_UTF8:
        s_ws_fail(c, HB__CONN_INVALID_UTF8, 1007, detail);
        return;
    case HB__WS_ERR_NOMEM:
    default:
        s_ws_fail(c, HB__CONN_LOST, 1011, "out of memory");
        return;
    }
}

/* The handshake answer came: the codec takes over. */
static void s_opened(hb__conn *c)
{
    c->ws = hb__ws_new(c->dial->max_message_size);
    if (!c->ws) {
        s_fail(c, "out of memory");
        return;
    }
    c->st = S_OPEN;
    s_dial_end(c);
    if (c->rx_paused) s_block(c);
    c->ops->on_open(c->ud, c);
    if (c->owned && c->want_write) s_want_write(c);
}

/* The plaintext byte stream: the upgrade answer, then frames. */
static void s_plain(hb__conn *c, const uint8_t *p, size_t n)
{
    if (c->st == S_UPGRADE) {
        if (!c->owned) return;
        size_t used = 0;
        const char *err = NULL;
        switch (hb__ws_hs_feed(c->dial->hs, p, n, &used, &err)) {
        case HB__WS_HS_MORE:
            return;
        case HB__WS_HS_FAIL:
            s_fail(c, "handshake: %s", err ? err : "refused");
            return;
        case HB__WS_HS_OK:
            break;
        }
        if (used > n) used = n;
        s_opened(c);
        if (c->st != S_OPEN) return;
        p += used;
        n -= used;
    }
    if (c->st == S_OPEN) s_frames(c, p, n);
}

/* ---- TLS ------------------------------------------------------------------------- */

static void s_tls_sched(hb__conn *c)
{
    uint8_t *p;
    if (c->tls && hb__tls_out(c->tls, &p)) s_want_write(c);
}

/* tls.c's texts say "TLS ..." themselves at times; the prefix once. */
static const char *s_tls_pfx(const char *e)
{
    return strncmp(e, "TLS", 3) == 0 ? "" : "TLS: ";
}

/* A TLS failure: a dial fails, an open connection is lost. */
static void s_tls_broken(hb__conn *c, const char *e)
{
    if (c->st != S_OPEN) {
        s_fail(c, "%s%s", s_tls_pfx(e), e);
        return;
    }
    char t[240];
    snprintf(t, sizeof(t), "%s%s", s_tls_pfx(e), e);
    c->ws_done = true;
    s_end(c, HB__CONN_LOST, 1006, t);
    s_drop(c);
}

/* Ciphertext was put: drive the handshake, then decrypt what can be, into
 * the loop's scratch buffer, and hand it on. */
static void s_tls_in(hb__conn *c)
{
    char e[200] = "";
    if (c->st == S_TLS) {
        hb__tls_status ts = hb__tls_handshake(c->tls, e, sizeof(e));
        if (ts == HB__TLS_FAIL || ts == HB__TLS_CLOSED) {
            if (!*e) snprintf(e, sizeof(e), "the server closed the session during the handshake");
            s_fail(c, "%s%s", s_tls_pfx(e), e);
            return;
        }
        if (ts != HB__TLS_OK) {
            s_tls_sched(c);
            return;
        }
        c->st = S_UPGRADE;
        if (hb__tls_write(c->tls, c->dial->req, c->dial->req_len) != 0) {
            s_fail(c, "TLS: could not write the upgrade request");
            return;
        }
        c->dial->req_sent = true;
    }
    size_t cap = 0;
    uint8_t *buf = hb__loop_scratch(c->loop, &cap);
    while (buf && !c->rx_paused && !c->dropping && c->tls) {
        size_t got = 0;
        hb__tls_status ts = hb__tls_read(c->tls, buf, cap, &got, e, sizeof(e));
        if (ts == HB__TLS_OK && got) {
            s_plain(c, buf, got);
            continue;
        }
        if (ts == HB__TLS_OK || ts == HB__TLS_WANT) break;
        if (ts == HB__TLS_CLOSED) {
            /* close_notify: the stream ended like a TCP close. */
            s_gone(c);
            s_drop(c);
        } else {
            s_tls_broken(c, *e ? e : "record failure");
        }
        break;
    }
    if (!buf) s_tls_broken(c, "out of memory");
    s_tls_sched(c);
}

/* ---- writing ---------------------------------------------------------------------- */

static bool s_may_write(hb__conn *c)
{
    return !c->write_failed && !c->dropping && (c->tls || !c->wrote);
}

/* One frame (or request) out: straight to lws for a plain socket, into the
 * session's output with TLS (s_tls_flush writes it). */
static int s_out(hb__conn *c, uint8_t *p, size_t n)
{
    if (c->tls) {
        if (hb__tls_write(c->tls, p, n) == 0) return 0;
    } else if (c->wsi) {
        c->wrote = true;
        int w = lws_write(c->wsi, p, n, LWS_WRITE_RAW);
        if (w >= 0 && (size_t)w >= n) return 0; /* lws keeps what send() did not take */
    }
    c->write_failed = true;
    s_drop(c);
    return -1;
}

static void s_tls_flush(hb__conn *c)
{
    uint8_t *p = NULL;
    size_t n = c->tls && c->wsi ? hb__tls_out(c->tls, &p) : 0;
    if (!n || c->dropping) return;
    int w = lws_write(c->wsi, p, n, LWS_WRITE_RAW);
    hb__tls_out_done(c->tls, n);
    c->wrote = true;
    if (w < 0 || (size_t)w < n) {
        c->write_failed = true;
        s_drop(c);
    }
}

/* RAW_WRITEABLE: what is due, in order: the upgrade request, a pong, our
 * close, the owner's data. */
static void s_writable(hb__conn *c)
{
    c->wrote = false;
    if (c->dropping) return;
    if (c->drop_after && c->close_sent) {
        s_drop(c); /* our last frame is flushed */
        return;
    }
    switch (c->st) {
    case S_TLS:
        s_tls_flush(c);
        return;
    case S_UPGRADE:
        if (!c->tls && c->dial && !c->dial->req_sent) {
            c->dial->req_sent = true;
            s_out(c, c->dial->req + LWS_PRE, c->dial->req_len);
        }
        s_tls_flush(c);
        return;
    case S_OPEN:
        break;
    default:
        return;
    }
    if (c->pong_due && !c->close_sent && s_may_write(c)) {
        c->pong_due = false;
        uint8_t *f = hb__ws_frame(c->ws, HB__WS_OP_PONG, true, S_CTL_PONG(c) + HB__CONN_HEADROOM,
                                  c->pong_len);
        s_out(c, f, (size_t)(S_CTL_PONG(c) + HB__CONN_HEADROOM + c->pong_len - f));
    }
    if (c->close_due && s_may_write(c)) {
        c->close_due = false;
        c->close_sent = true;
        uint8_t *f = hb__ws_frame(c->ws, HB__WS_OP_CLOSE, true, S_CTL_CLOSE(c) + HB__CONN_HEADROOM,
                                  c->close_len);
        if (s_out(c, f, (size_t)(S_CTL_CLOSE(c) + HB__CONN_HEADROOM + c->close_len - f)) == 0 &&
            c->tls)
            hb__tls_shutdown(c->tls);
        if (c->close_rcvd) c->drop_after = true;
    }
    if (c->owned && c->want_write && !c->close_due && !c->close_sent && s_may_write(c)) {
        c->want_write = false;
        c->in_writable = true;
        int rc = c->ops->on_writable(c->ud, c);
        c->in_writable = false;
        if (rc < 0) {
            c->write_failed = true;
            s_drop(c);
        }
    }
    s_tls_flush(c);
    if (c->pong_due || c->close_due || (c->close_sent && c->drop_after) ||
        (c->owned && c->want_write))
        s_want_write(c);
}

int hb__conn_write(hb__conn *c, uint8_t *buf, size_t len, hb__conn_msg kind)
{
    if (!c->in_writable || c->st != S_OPEN || !s_may_write(c)) return -1;
    int op = kind == HB__CONN_TEXT     ? HB__WS_OP_TEXT
             : kind == HB__CONN_BINARY ? HB__WS_OP_BINARY
                                       : HB__WS_OP_PING;
    if (op == HB__WS_OP_PING && len > 125) return -1;
    uint8_t *payload = buf + HB__CONN_HEADROOM;
    uint8_t *f = hb__ws_frame(c->ws, op, true, payload, len);
    return s_out(c, f, (size_t)(payload + len - f));
}

/* ---- dialing ------------------------------------------------------------------------ */

static void s_connect(hb__conn *c, const char *addr)
{
    s_dial *d = c->dial;
    /* The address we connect to is the one checked: lws is given it, not
     * the name, so no second lookup can answer differently (DNS
     * rebinding). The resolver skipped private answers already; this also
     * covers a numeric host and a test's lookup hook. */
    if (d->public_only && hb__ip_private(addr)) {
        if (strcmp(addr, d->host) == 0)
            s_fail(c,
                   "connect %s: a loopback, private or link-local address "
                   "(pool.allow_private: false)",
                   addr);
        else
            s_fail(c,
                   "connect %s: %s is a loopback, private or link-local address "
                   "(pool.allow_private: false)",
                   d->host, addr);
        return;
    }
    snprintf(d->addr, sizeof(d->addr), "%s", addr);
    c->st = S_TCP;
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof(ci));
    ci.context = hb__loop_ctx(c->loop);
    ci.address = d->addr;
    ci.port = c->port;
    ci.path = "/";
    ci.host = d->addr;
    ci.method = "RAW";
    ci.local_protocol_name = "honeybee";
    ci.ietf_version_or_minus_one = -1;
    ci.pwsi = &c->wsi;
    ci.opaque_user_data = c;
    ci.retry_and_idle_policy = &s_no_validity;
    c->wsi_live = true;
    hb__loop_conn_count(c->loop, 1);
    hb__loop_lws_last_clear();
    /* lws may call back (even destroy the wsi) inside the call; the
     * caller's hold keeps the struct alive. */
    c->in_connect = true;
    struct lws *w = lws_client_connect_via_info(&ci);
    c->in_connect = false;
    if (!w && c->wsi_live) {
        /* Failed without a WSI_DESTROY: lws holds nothing of ours. */
        c->wsi_live = false;
        c->wsi = NULL;
        hb__loop_conn_count(c->loop, -1);
        char wh[96];
        const char *last = hb__loop_lws_last();
        s_fail(c, "connect %s: %s", s_where(c, wh, sizeof(wh)),
               *last ? last : "libwebsockets could not start the connection");
    }
}

/* Loop thread: the resolver's answer (or the loop's teardown). */
static void s_resolved(hb__note *n, bool cancelled)
{
    s_lookup *job = lws_container_of(n, s_lookup, r.note);
    hb__conn *c = job->c;
    s_hold(c);
    c->resolving = false;
    c->job = NULL;
    if (!cancelled && c->owned && c->dial && c->st == S_RESOLVE) {
        if (job->r.addr[0])
            s_connect(c, job->r.addr);
        else
            s_fail(c, "%s", job->r.error);
    }
    free(job);
    s_release(c);
}

/* The dial's next step, on its own loop turn: a slot, the TLS session, the
 * address. */
static void s_dial_step(hb__conn *c)
{
    s_dial *d = c->dial;
    if (!c->owned || !d || c->st != S_SLOT) return;
    if (!d->slot_held) {
        if (!hb__loop_slot_take(c->loop, &d->slot)) return; /* s_slot_granted follows */
        d->slot_held = true;
    }
    char e[256];
    if (d->tls && !c->tls) {
        hb__tls_profile prof = {d->prof[0], d->prof[1], d->prof[2]};
        c->memo = s_memo_ref(d->memo);
        if (hb__tls_new(hb__loop_tls(c->loop), &prof, d->host, d->verify,
                        c->memo ? c->memo->m : NULL, &c->tls, e, sizeof(e)) != 0) {
            s_fail(c, "%s%s", s_tls_pfx(e), e);
            return;
        }
    }
    if (d->numeric) {
        s_connect(c, d->host);
        return;
    }
    size_t hl = strlen(d->host);
    s_lookup *job = calloc(1, sizeof(*job) + hl + 1);
    if (!job) {
        s_fail(c, "resolve %s: out of memory", d->host);
        return;
    }
    memcpy(job->host, d->host, hl + 1);
    job->c = c;
    job->r.host = job->host;
    job->r.owner = d->owner;
    job->r.public_only = d->public_only;
    job->r.note.fn = s_resolved;
    c->st = S_RESOLVE;
    if (hb__resolve_submit(hb__loop_resolver(c->loop), &job->r, e, sizeof(e)) != 0) {
        free(job);
        s_fail(c, "%s", e);
        return;
    }
    c->job = job;
    c->resolving = true;
}

static void s_slot_granted(hb__slot_wait *w)
{
    s_dial *d = lws_container_of(w, s_dial, slot);
    d->slot_held = true;
    hb__timer_arm(&d->c->start_t, 0);
}

/* After a pause: what was kept goes first, then the rest of the TLS
 * session's bytes, then lws reads again. */
static void s_resume(hb__conn *c)
{
    if (c->rx_paused || c->st != S_OPEN) return;
    c->rx_ns = hb__mono_ns(); /* what waited is read now, as far as anyone can tell */
    uint8_t *r = c->rest;
    size_t n = c->rest_len;
    c->rest = NULL;
    c->rest_len = 0;
    s_frames(c, r, n);
    free(r);
    if (c->rx_paused) return;
    if (c->tls) s_tls_in(c);
    if (c->rx_paused || c->rest) return;
    if (c->rx_blocked && c->wsi_live && c->wsi && !c->dropping) {
        lws_rx_flow_control(c->wsi, 1);
        c->rx_blocked = false;
    }
}

/* start_t: the dial's next step; once open, a resume. */
static void s_start_timer(void *ud)
{
    hb__conn *c = ud;
    s_hold(c);
    if (c->st == S_OPEN)
        s_resume(c);
    else
        s_dial_step(c);
    s_release(c);
}

/* end_t: connect_timeout while dialing, then the close grace. */
static void s_end_timer(void *ud)
{
    hb__conn *c = ud;
    s_hold(c);
    if (c->owned && c->dial) {
        static const char *const phase[] = {
            [S_SLOT] = "waiting for a dial slot: bridge.max_handshakes dials are in flight",
            [S_RESOLVE] = "resolving the host name",
            [S_TCP] = "TCP connect",
            [S_TLS] = "TLS handshake",
            [S_UPGRADE] = "waiting for the answer to the upgrade request",
        };
        char w[96], to[100] = "";
        if (c->st == S_TCP) snprintf(to, sizeof(to), " to %s", s_where(c, w, sizeof(w)));
        s_fail(c, "connect timeout (%s%s)", phase[c->st], to);
    } else {
        s_drop(c);
    }
    s_release(c);
}

static char *s_dup(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

hb__conn *hb__conn_dial(hb__loop *loop, const hb__conn_params *p, const hb__conn_ops *ops, void *ud,
                        int *err)
{
    *err = 0;
    if (!p->host || !*p->host || !p->path || !p->port) {
        *err = HB_E_INVALID_URL;
        return NULL;
    }
    hb__conn *c = calloc(1, sizeof(*c));
    s_dial *d = calloc(1, sizeof(*d));
    char *req = NULL, *hh = NULL;
    if (!c || !d) goto nomem;
    c->loop = loop;
    c->ops = ops;
    c->ud = ud;
    c->port = p->port;
    c->dial = d;
    d->c = c;
    d->slot.granted = s_slot_granted;
    if (!(d->host = strdup(p->host))) goto nomem;
    unsigned char tmp[16];
    bool v6 = inet_pton(AF_INET6, d->host, tmp) == 1;
    d->numeric = v6 || inet_pton(AF_INET, d->host, tmp) == 1;
    /* Host: the port only when it is not the scheme's (RFC 6455 4.1). */
    size_t hl = strlen(d->host) + 16;
    if (!(hh = malloc(hl))) goto nomem;
    bool dflt = p->port == (p->tls ? 443 : 80);
    if (dflt)
        snprintf(hh, hl, v6 ? "[%s]" : "%s", d->host);
    else
        snprintf(hh, hl, v6 ? "[%s]:%u" : "%s:%u", d->host, (unsigned)p->port);
    hb__ws_hs_cfg hc = {
        .host = hh,
        .path = p->path,
        .headers = p->headers,
        .n_headers = p->n_headers,
        .subprotocols = p->subprotocols,
        .n_subprotocols = p->n_subprotocols,
        .user_agent = p->user_agent,
    };
    size_t rl = 0;
    const char *e = NULL;
    if (hb__ws_hs_new(&hc, &d->hs, &req, &rl, &e) != 0) {
        *err = e && strstr(e, "memory") ? HB_E_NOMEM : HB_E_INVALID_OPTION;
        goto fail;
    }
    free(hh);
    hh = NULL;
    d->tls = p->tls;
    if (p->tls) {
        d->req = (uint8_t *)req; /* encrypted into the session's own buffer */
        req = NULL;
        d->prof[0] = s_dup(p->tls_profile.ca_file);
        d->prof[1] = s_dup(p->tls_profile.cert_file);
        d->prof[2] = s_dup(p->tls_profile.key_file);
        d->verify = p->tls_verify;
        d->memo = p->tls_memo;
    } else {
        if (!(d->req = malloc(LWS_PRE + rl))) goto nomem;
        memcpy(d->req + LWS_PRE, req, rl);
        free(req);
        req = NULL;
    }
    d->req_len = rl;
    d->owner = p->owner;
    d->public_only = p->public_only;
    d->max_message_size = p->max_message_size;
    c->owned = true;
    c->st = S_SLOT;
    hb__timer_init(&c->start_t, loop, s_start_timer, c);
    hb__timer_init(&c->end_t, loop, s_end_timer, c);
    hb__loop_link(loop, &c->link);
    hb__timer_arm(&c->start_t, 0);
    if (p->connect_timeout_ns) hb__timer_arm(&c->end_t, p->connect_timeout_ns);
    return c;
nomem:
    *err = HB_E_NOMEM;
fail:
    free(req);
    free(hh);
    if (c) {
        c->dial = d;
        s_dial_free(c);
        free(c);
    } else {
        free(d);
    }
    return NULL;
}

/* ---- the owner's calls --------------------------------------------------------------- */

void hb__conn_want_write(hb__conn *c)
{
    if (!c->owned) return;
    c->want_write = true;
    if (c->st == S_OPEN) s_want_write(c);
}

void hb__conn_rx(hb__conn *c, bool enable)
{
    if (!enable) {
        c->rx_paused = true;
        if (c->st == S_OPEN) s_block(c);
        return;
    }
    if (!c->rx_paused) return;
    c->rx_paused = false;
    if (c->st == S_OPEN) hb__timer_arm(&c->start_t, 0);
}

uint64_t hb__conn_frame_left(const hb__conn *c)
{
    return c->frame_left;
}

uint64_t hb__conn_rx_time(const hb__conn *c)
{
    return c->rx_ns;
}

void hb__conn_close(hb__conn *c, int code, const char *reason)
{
    if (!c || !c->owned) return;
    s_hold(c);
    c->owned = false;
    c->want_write = false;
    if (c->st != S_OPEN) {
        s_dial_end(c);
        s_drop(c);
    } else {
        s_queue_close(c, code, reason, false);
        /* Read on (and drop data) for the peer's close. */
        if (c->rx_paused) {
            c->rx_paused = false;
            hb__timer_arm(&c->start_t, 0);
        }
    }
    s_release(c);
}

/* ---- idle memory ------------------------------------------------------------------- */

/* Loop thread, from the loop's tick, for each open connection: one that
 * received nothing for HB__QUIET_TICKS ticks gives back the codec's and
 * TLS's buffers (they come back on the next use); again every 8 quiet
 * ticks, since a ping answered meanwhile brings them back. */
void hb__conn_idle(hb__link *l)
{
    hb__conn *c = lws_container_of(l, hb__conn, link);
    if (c->st != S_OPEN) return;
    if (c->rx_seen) {
        c->rx_seen = false;
        c->quiet_ticks = 0;
        return;
    }
    if (c->quiet_ticks < 255) c->quiet_ticks++;
    if (c->quiet_ticks < HB__QUIET_TICKS || (c->quiet_ticks - HB__QUIET_TICKS) % 8 != 0) return;
    if (c->ws) hb__ws_trim(c->ws);
    if (c->ctl && !c->pong_due && !c->close_due) {
        free(c->ctl);
        c->ctl = NULL;
    }
    if (c->tls) {
        hb__tls_trim(c->tls);
        if (c->quiet_ticks == HB__QUIET_TICKS) hb__loop_tls_trimmed(c->loop);
    }
}

/* ---- the process exits ------------------------------------------------------------ */

/* Destroying thread, the loop thread joined: a resolver job holds this
 * connection (its lookup's note frees it, maybe on a resolver thread once
 * the loop is gone). */
bool hb__conn_in_lookup(hb__link *l)
{
    return lws_container_of(l, hb__conn, link)->resolving;
}

/* Destroying thread, the loop thread joined, before the loop's TLS cache
 * and timer heap are freed: a connection a lookup still holds gives back
 * now what belongs to the loop (its TLS session holds a cache profile and
 * the cache's BIO method, its timers sit in the loop's heap, its dial may
 * hold a slot). The lookup's note, maybe on an orphaned resolver thread
 * later, then frees only memory of its own. */
void hb__conn_loop_gone(hb__link *l)
{
    hb__conn *c = lws_container_of(l, hb__conn, link);
    s_dial_free(c);
    hb__timer_cancel(&c->start_t);
    hb__timer_cancel(&c->end_t);
    hb__tls_free(&c->tls);
    hb__conn_memo_unref(&c->memo);
}

/* Destroying thread, the loop thread joined, the process exiting
 * (hb__loop_exiting): free what we hold of a connection nobody owns any
 * more, without closing its socket; lws's wsi forgets us (a context
 * destroy that may follow calls back with no connection). False, and
 * nothing touched, while an owner or a lookup holds it. The caller has
 * disarmed every timer and emptied the slot queue. */
bool hb__conn_forget(hb__link *l)
{
    hb__conn *c = lws_container_of(l, hb__conn, link);
    if (c->owned || c->resolving) return false;
    if (c->wsi_live && c->wsi) lws_set_opaque_user_data(c->wsi, NULL);
    c->wsi_live = false;
    c->wsi = NULL;
    c->busy = 0;
    s_maybe_free(c);
    return true;
}

/* ---- the lws callback ------------------------------------------------------------- */

static void s_dispatch(hb__conn *c, struct lws *wsi, enum lws_callback_reasons reason, void *in,
                       size_t len)
{
    char w[96];
    switch (reason) {
    case LWS_CALLBACK_RAW_CONNECTED:
        if (!c->owned || c->dropping) {
            s_drop(c);
            return;
        }
        if (c->tls) {
            c->st = S_TLS;
            s_tls_in(c); /* the ClientHello */
        } else {
            c->st = S_UPGRADE;
            s_want_write(c);
        }
        return;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        c->dropping = true; /* lws is closing it */
        char t[160] = "connection failed";
        if (in) snprintf(t, sizeof(t), "%.*s", (int)(len ? len : strnlen(in, 159)), (char *)in);
        if (strcmp(t, "Unable to connect") == 0)
            s_fail(c, "connect %s: refused or unreachable (libwebsockets: %s)",
                   s_where(c, w, sizeof(w)), t);
        else
            s_fail(c, "connect %s: %s", s_where(c, w, sizeof(w)), t);
        return;
    }
    case LWS_CALLBACK_RAW_RX:
        c->rx_seen = true;
        if (c->dropping || !in) return;
        c->rx_ns = hb__mono_ns();
        if (c->tls) {
            hb__tls_put(c->tls, in, len);
            s_tls_in(c);
        } else {
            s_plain(c, in, len);
        }
        return;
    case LWS_CALLBACK_RAW_WRITEABLE:
        s_writable(c);
        return;
    case LWS_CALLBACK_RAW_CLOSE:
        c->dropping = true;
        s_gone(c);
        return;
    case LWS_CALLBACK_WSI_DESTROY:
        c->dropping = true;
        if (c->wsi_live) {
            c->wsi_live = false;
            hb__loop_conn_count(c->loop, -1);
        }
        c->wsi = NULL;
        lws_set_opaque_user_data(wsi, NULL);
        s_gone(c);
        return;
    default:
        return;
    }
}

/* Loop thread: lws calls this for every event on our protocol. */
int hb__conn_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
        hb__loop_wait_cancelled(wsi);
        return 0;
    }
    hb__conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!c) return 0;
    s_hold(c);
    bool was = c->in_lws;
    c->in_lws = true;
    s_dispatch(c, wsi, reason, in, len);
    c->in_lws = was;
    int rc = 0;
    if (c->drop_req) {
        c->drop_req = false;
        if (reason == LWS_CALLBACK_RAW_RX || reason == LWS_CALLBACK_RAW_WRITEABLE ||
            reason == LWS_CALLBACK_RAW_CONNECTED)
            rc = -1;
        else if (c->wsi_live && c->wsi)
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    s_release(c);
    return rc;
}
