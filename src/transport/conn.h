/*
 * conn.h: one outbound WebSocket client connection: a raw lws socket, TLS
 * (tls.h) when wss://, and the RFC 6455 codec (ws.h) above the bytes.
 * Internal; loop thread only. Knows connections and bytes, not pools,
 * plugins or peers: the pool maps its peers onto hb__conn_params and its
 * public hb_conn_* (worker.h) onto these functions.
 *
 * Life: hb__conn_dial -> (wait for a dial slot) -> resolve -> TCP connect
 * -> TLS handshake -> HTTP upgrade -> on_open -> on_data / on_pong /
 * on_writable ... -> on_closed. Exactly one of on_open and on_dial_failed
 * follows a dial, never inside hb__conn_dial. After on_dial_failed or
 * on_closed (or hb__conn_close), nothing more reaches the owner and the
 * handle is invalid; the connection finishes closing on its own.
 */
#ifndef HB_TRANSPORT_CONN_H
#define HB_TRANSPORT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/loop.h"
#include "transport/tls.h"
#include "ws/ws.h"

typedef struct hb__conn hb__conn;

/*
 * A peer's TLS resumption memo, shared by its successive connections. A
 * connection may outlive its owner while it closes, and its TLS session
 * writes to the memo until it is freed, so the memo is reference counted:
 * the owner holds one reference, each TLS session another. Unref from any
 * thread; the last one frees.
 */
typedef struct hb__conn_memo hb__conn_memo;
hb__conn_memo *hb__conn_memo_new(void);
void hb__conn_memo_unref(hb__conn_memo **m);

/* How a connection ended (after on_open). The code reported with it is
 * the one received, else the one sent, else 1006 (SPEC.md section 5). */
typedef enum hb__conn_end {
    HB__CONN_LOST = 0,       /* no close frame: the socket failed or was cut (1006) */
    HB__CONN_PEER_CLOSE,     /* the peer sent a close frame (its code; 1005 if none) */
    HB__CONN_PROTOCOL_ERROR, /* the peer broke RFC 6455: we closed with 1002 */
    HB__CONN_TOO_LARGE,      /* a message over max_message_size: we closed with 1009 */
    HB__CONN_INVALID_UTF8,   /* text that is not UTF-8: we closed with 1007 */
} hb__conn_end;

/* What a data write carries. */
typedef enum hb__conn_msg {
    HB__CONN_TEXT = 0,
    HB__CONN_BINARY = 1,
    HB__CONN_PING = 2,
} hb__conn_msg;

typedef struct hb__conn_ops {
    /* The handshake completed. */
    void (*on_open)(void *ud, hb__conn *c);
    /* The dial failed; `error` says what ("connect 10.0.0.1:443: ...",
     * "resolve x: ...", "TLS: ...", "handshake: status 200",
     * "connect timeout (...)"). */
    void (*on_dial_failed)(void *ud, hb__conn *c, const char *error);
    /* A piece of a message; `first`/`final` mark its boundaries. Inside,
     * hb__conn_frame_left() says how much of the current frame follows. */
    void (*on_data)(void *ud, hb__conn *c, const void *p, size_t n, bool first, bool final,
                    bool binary);
    /* A pong, or a ping (answered by the connection itself): a sign of life. */
    void (*on_pong)(void *ud, hb__conn *c);
    /* One hb__conn_write() may be made now. 0, or -1 to drop the
     * connection at once (on_closed follows with LOST). */
    int (*on_writable)(void *ud, hb__conn *c);
    /* The connection ended after on_open: why, the close code, and the
     * peer's close reason or, for our own protocol closes, what was wrong
     * (NULL if none). */
    void (*on_closed)(void *ud, hb__conn *c, hb__conn_end why, int code, const char *text);
} hb__conn_ops;

/* Everything a dial needs; copied by hb__conn_dial (nothing is kept). */
typedef struct hb__conn_params {
    const char *host; /* name, IPv4 or IPv6 literal (no brackets) */
    uint16_t port;
    const char *path; /* request target, "/..." */
    bool tls;         /* wss:// */
    const hb__ws_header *headers;
    size_t n_headers;
    const char *const *subprotocols;
    size_t n_subprotocols;
    const char *user_agent;      /* unless the headers carry one; NULL: none */
    hb__tls_profile tls_profile; /* CA, certificate and key files (wss) */
    bool tls_verify;             /* certificate chain and host name */
    hb__conn_memo *tls_memo;     /* the peer's resumption memo (may be NULL) */
    uint64_t connect_timeout_ns; /* resolve + TCP + TLS + upgrade; 0: none */
    uint64_t max_message_size;   /* SPEC.md section 3 */
    const void *owner;           /* one DNS lookup per owner in flight (compared only) */
    bool public_only;            /* refuse loopback, private and link-local addresses */
} hb__conn_params;

/*
 * Start a dial. Returns the connection, or NULL with *err (HB_E_NOMEM,
 * HB_E_INVALID_OPTION for headers the codec refuses) and no callback.
 */
hb__conn *hb__conn_dial(hb__loop *loop, const hb__conn_params *p, const hb__conn_ops *ops, void *ud,
                        int *err);

/* Headroom a payload buffer must have in front of its data for
 * hb__conn_write (room for lws and the frame header). */
#define HB__CONN_HEADROOM (LWS_PRE + HB__WS_MAX_HEADER + 2)

/*
 * Only from on_writable, at most once per call: write one message whose
 * payload starts HB__CONN_HEADROOM bytes into `buf` (the headroom and the
 * payload are overwritten: the frame is built and masked in place). A ping
 * carries at most 125 bytes. 0, or -1 (the connection is failing;
 * on_closed follows).
 */
int hb__conn_write(hb__conn *c, uint8_t *buf, size_t len, hb__conn_msg kind);
/* Ask for on_writable. */
void hb__conn_want_write(hb__conn *c);
/* Pause (false) or resume (true) reading. While paused nothing is fed to
 * the codec; what was already read (at most one receive buffer) waits. */
void hb__conn_rx(hb__conn *c, bool enable);
/* Inside on_data: payload bytes of the current frame after this piece. */
uint64_t hb__conn_frame_left(const hb__conn *c);
/* Inside on_data and on_pong: when the bytes being delivered were read
 * (monotonic ns; one clock read per receive buffer, not per message). */
uint64_t hb__conn_rx_time(const hb__conn *c);
/*
 * Close with `code` and `reason` (RFC 6455 section 7: the close frame goes
 * out, the peer's answer is awaited up to a grace, then TCP is dropped) and
 * detach at once: nothing more reaches the owner. Cancels a dial in
 * progress. `c` is invalid afterwards.
 */
void hb__conn_close(hb__conn *c, int code, const char *reason);

#endif
