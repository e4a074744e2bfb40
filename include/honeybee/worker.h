/*
 * honeybee/worker.h: the worker contract, the plugin the pool hands to a
 * worker, the factory, and the dialer (WebSocket connections) a worker uses.
 *
 * The pool owns registration, event plumbing and lifecycle; a worker owns
 * the wire between its peer's `added` and its `removed`. The default worker
 * is the session of session.h; any other worker can be plugged in through
 * hb_pool_config.factory. EXTEND.md explains the model with an example.
 *
 * Threads. The pool runs one or more libwebsockets service threads
 * (pool.loops); a peer lives on one of them, its "loop thread", for its
 * whole life. Everything a worker does on the wire happens there: start,
 * stop, kick, resume, the timer callbacks, the dialer's callbacks and every
 * hb_plugin_* emitter. send and stats run on foreign threads and reach the
 * loop with hb_plugin_kick() or hb_plugin_post(); the factory runs on the
 * caller of hb_pool_connect, destroy wherever the last reference goes.
 */
#ifndef HONEYBEE_WORKER_H
#define HONEYBEE_WORKER_H

#include "common.h"
#include "config.h"
#include "pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hb_plugin hb_plugin; /* the pool's side, one per peer */
typedef struct hb_worker hb_worker;

/* Why a worker is asked to stop. */
typedef enum hb_stop_reason {
    HB_STOP_REMOVED = 0, /* hb_pool_remove: close 1000, reason `removed` */
    HB_STOP_SHUTDOWN,    /* hb_pool_shutdown: drain, close 1001, reason `shutdown` */
    HB_STOP_DESTROY,     /* hb_pool_destroy: stop at once, no events at all */
} hb_stop_reason;

/* What a worker reports about itself (hb_pool_list / hb_pool_peer_info). */
typedef struct hb_worker_stats {
    hb_peer_state state;
    uint64_t connected_at_ns; /* wall clock; 0 if not connected */
    uint32_t attempt;         /* current dial attempt in the run of failures */
    /* Messages accepted by send and not yet written or dropped. They must
     * leave in the order accepted: the pool bounds the queue's bytes
     * (send_queue_bytes) from this count. */
    uint32_t send_queue_depth;
} hb_worker_stats;

typedef struct hb_worker_ops {
    /* Loop thread, once, right after `added`. Returns at once: all work is
     * callbacks on the loop thread afterwards. */
    void (*start)(hb_worker *w);
    /*
     * Loop thread (the pool posts it through its doorway, so the caller of
     * hb_pool_remove/shutdown never waits). For REMOVED and SHUTDOWN the
     * worker winds down and calls hb_plugin_finished() exactly once, now or
     * later, in bounded time; after DESTROY nothing but destroy follows and
     * finished is not needed.
     * SHUTDOWN may write queued messages until `drain_deadline_ns`
     * (monotonic) first. DESTROY must release every timer and connection
     * before it returns; events emitted then are dropped by the pool.
     * May be called once more after finished (e.g. DESTROY): then a no-op.
     */
    void (*stop)(hb_worker *w, hb_stop_reason why, uint64_t drain_deadline_ns);
    /*
     * Any thread, concurrently. Copies the payload (validated by the pool:
     * size <= max_message_size, text is valid UTF-8). Returns 0 once
     * queued, HB_E_NOT_CONNECTED, HB_E_QUEUE_FULL or HB_E_NOMEM. Never
     * blocks on the network and never calls back into the pool except
     * hb_plugin_kick/post. The pool counts refusals.
     */
    int (*send)(hb_worker *w, const void *data, size_t len, bool binary);
    /* Any thread, never blocks (atomics or a short lock). */
    void (*stats)(hb_worker *w, hb_worker_stats *out);
    /* Loop thread, after hb_plugin_kick() (coalesced: several kicks, one call). */
    void (*kick)(hb_worker *w);
    /* Loop thread: the inbox sink has room again; resume reading. */
    void (*resume)(hb_worker *w);
    /* After finished and after the last reference is gone; any thread. */
    void (*destroy)(hb_worker *w);
} hb_worker_ops;

/* A worker embeds this as its first member. */
struct hb_worker {
    const hb_worker_ops *ops;
    hb_plugin *plugin; /* set by the pool once the factory returned (pool.c) */
};

/*
 * The factory. Called by hb_pool_connect under the pool's registry lock, so
 * it must neither block nor call any hb_pool_* function. It builds a worker
 * for `plugin` (whose id and config are already set) and returns 0, or an
 * hb_err (HB_E_INVALID_OPTION, HB_E_NOMEM, ...) that hb_pool_connect returns.
 */
typedef int (*hb_worker_factory_fn)(void *ud, hb_plugin *plugin, hb_worker **out);

typedef struct hb_worker_factory_s {
    hb_worker_factory_fn create;
    void *ud;
} hb_worker_factory;

/* ---- the plugin: what the pool gives a worker --------------------------- */

/* Identity and configuration; valid until destroy. Any thread. */
HB_EXPORT const char *hb_plugin_id(const hb_plugin *p);
HB_EXPORT const hb_peer_cfg *hb_plugin_config(const hb_plugin *p);
HB_EXPORT const hb_logger *hb_plugin_logger(const hb_plugin *p);

/*
 * Inbox. hb_plugin_msg_new allocates a message able to hold `cap` payload
 * bytes with the peer id already copied in (len = 0); grow it with
 * hb_plugin_msg_reserve (may move it). hb_plugin_deliver (loop thread)
 * stamps seq, conn, received_ns and flags, counts it and hands it to the
 * sink; it takes ownership always. It returns false when the sink is over
 * its bound: the pool has then marked the peer paused and the worker must
 * stop reading until its resume op is called.
 */
HB_EXPORT hb_inbox_msg *hb_plugin_msg_new(hb_plugin *p, size_t cap);
HB_EXPORT int hb_plugin_msg_reserve(hb_plugin *p, hb_inbox_msg **m, size_t cap);
HB_EXPORT bool hb_plugin_deliver(hb_plugin *p, hb_inbox_msg *m, bool binary);

/*
 * Events, loop thread, in the order SPEC.md section 5 demands.
 * connected: increments the connection number (and `reconnects` after the
 * first). disconnected: `code` (1006 if none), `reason` (a SPEC reason
 * word), `error` (the peer's close text or NULL). send_failed: one event for
 * a message that was queued but could not be written (`not_connected`).
 */
HB_EXPORT void hb_plugin_dial_failed(hb_plugin *p, uint32_t attempt, const char *error);
HB_EXPORT void hb_plugin_connected(hb_plugin *p, uint32_t attempt);
HB_EXPORT void hb_plugin_disconnected(hb_plugin *p, int code, const char *reason,
                                      const char *error);
HB_EXPORT void hb_plugin_send_failed(hb_plugin *p, hb_send_fail reason);
/* A message written to the wire (loop thread). */
HB_EXPORT void hb_plugin_count_sent(hb_plugin *p, size_t bytes);
/*
 * The worker is done (loop thread, exactly once). `removed_reason` is
 * "removed", "max_retries" or "shutdown". The pool emits `removed` after
 * the current callback returns and drops the peer.
 */
HB_EXPORT void hb_plugin_finished(hb_plugin *p, const char *removed_reason);

/* Any thread: have the worker's kick op called on the loop thread soon.
 * Coalesced and never fails (one flag per peer, no queue slot). */
HB_EXPORT void hb_plugin_kick(hb_plugin *p);
/* Any thread: run fn(arg) on the loop thread through the bounded doorway.
 * The peer stays alive until it ran. Returns 0 or HB_E_BUSY (queue full).
 * If the pool is destroyed first, fn runs with cancelled = true. */
typedef void (*hb_post_fn)(hb_plugin *p, void *arg, bool cancelled);
HB_EXPORT int hb_plugin_post(hb_plugin *p, hb_post_fn fn, void *arg);

/* ---- timers (loop thread) ----------------------------------------------- */

typedef struct hb_timer hb_timer;
typedef void (*hb_timer_fn)(void *ud);
/* A one-shot timer on the pool's loop, disarmed; NULL on no memory. */
HB_EXPORT hb_timer *hb_timer_new(hb_plugin *p, hb_timer_fn fn, void *ud);
/* (Re)arm to fire after delay_ns; 0 fires on the next loop turn. */
HB_EXPORT void hb_timer_arm(hb_timer *t, uint64_t delay_ns);
HB_EXPORT void hb_timer_cancel(hb_timer *t);
HB_EXPORT bool hb_timer_armed(const hb_timer *t);
HB_EXPORT void hb_timer_free(hb_timer **t);

/* ---- the dialer: one WebSocket client connection (loop thread) ---------- */

typedef struct hb_conn hb_conn;

typedef struct hb_conn_ops {
    /* The handshake completed. */
    void (*on_open)(void *ud, hb_conn *c);
    /* The dial failed: `error` says what failed ("connect 10.0.0.1:443:
     * ...", "resolve name: ...", "TLS: certificate verify failed: ...",
     * "handshake: status 200", "connect timeout (TLS handshake)"). The
     * connection is gone afterwards. */
    void (*on_dial_failed)(void *ud, hb_conn *c, const char *error);
    /* A piece of a message: `first`/`final` mark message boundaries (a
     * message may come in many pieces and frames). Text is valid UTF-8 as
     * far as delivered: the dialer checks it (once, across fragments). */
    void (*on_data)(void *ud, hb_conn *c, const void *data, size_t len, bool first, bool final,
                    bool binary);
    /* A pong, or a ping from the peer (the dialer answers pings itself):
     * both are signs of life. */
    void (*on_pong)(void *ud, hb_conn *c);
    /* The connection may take one hb_conn_write() now. Return 0, or -1 to
     * drop the connection at once (no close frame; on_closed follows with
     * 1006). To close with a code, call hb_conn_close instead. */
    int (*on_writable)(void *ud, hb_conn *c);
    /* The connection ended after on_open; hb_conn_end_cause(c) says why.
     * `code` is the close code received, else the one the dialer sent
     * (1002 protocol error, 1007 invalid UTF-8, 1009 too large), else 1006
     * (SPEC.md section 5); `reason` is the peer's close text or, for the
     * dialer's own closes, what was wrong (NULL if none). The connection is
     * gone afterwards. */
    void (*on_closed)(void *ud, hb_conn *c, int code, const char *reason);
} hb_conn_ops;

/*
 * Start dialing the peer's URL with its headers, subprotocols, TLS options
 * and connect_timeout (host names are resolved on a resolver thread; at
 * most hb_pool_config.max_handshakes dials are in flight per pool, the
 * others wait their turn while their connect_timeout runs). One of on_open
 * or on_dial_failed follows, never inside this call. Returns NULL with
 * *err set (HB_E_INVALID_URL, HB_E_INVALID_OPTION, HB_E_NOMEM) on an
 * immediate failure; no callback then.
 */
HB_EXPORT hb_conn *hb_conn_dial(hb_plugin *p, const hb_conn_ops *ops, void *ud, int *err);

/* How a connection ended; valid inside on_closed. SPEC.md section 5 names
 * the reason of each. */
typedef enum hb_conn_end {
    HB_CONN_END_LOST = 0, /* no close frame: the socket failed or was cut (1006): connection_lost */
    HB_CONN_END_PEER_CLOSE, /* the peer sent a close frame (its code, 1005 if none): closed_by_peer
                             */
    HB_CONN_END_PROTOCOL_ERROR, /* the peer broke RFC 6455; closed with 1002: protocol_error */
    HB_CONN_END_TOO_LARGE,      /* a message over max_message_size; closed with 1009: too_large */
    HB_CONN_END_INVALID_UTF8, /* a text message that is not UTF-8; closed with 1007: invalid_utf8 */
} hb_conn_end;
HB_EXPORT hb_conn_end hb_conn_end_cause(const hb_conn *c);

/* Inside on_data: payload bytes of the current frame still to come after
 * this piece (from the frame header), to size a buffer once. */
HB_EXPORT size_t hb_conn_rx_remaining(hb_conn *c);
/* Inside on_data and on_pong: when the bytes being delivered were read from
 * the socket (monotonic ns, as hb_plugin_deliver's clock). One clock read
 * per receive buffer, so a worker need not read the clock per message. */
HB_EXPORT uint64_t hb_conn_rx_time(const hb_conn *c);

/* Bytes of headroom a payload buffer must have in front of its payload:
 * the frame header is written there and the frame is masked in place. */
HB_EXPORT size_t hb_conn_headroom(void);

/* What hb_conn_write writes. */
typedef enum hb_conn_msg {
    HB_CONN_TEXT = 0,   /* a text message (the pool validated its UTF-8) */
    HB_CONN_BINARY = 1, /* a binary message */
    HB_CONN_PING = 2,   /* a ping, at most 125 bytes */
} hb_conn_msg;

/*
 * Only from on_writable, at most once per call: write one message whose
 * payload starts `hb_conn_headroom()` bytes into `buf`. The headroom and
 * the payload are overwritten (the frame is built and masked in place).
 * Returns 0 or -1 (the connection is failing; on_closed follows).
 */
HB_EXPORT int hb_conn_write(hb_conn *c, unsigned char *buf, size_t len, hb_conn_msg kind);
/* Ask for on_writable. */
HB_EXPORT void hb_conn_want_write(hb_conn *c);
/* Pause (false) or resume (true) reading. While paused the dialer holds at
 * most one receive buffer of unread bytes and TCP pushes back. */
HB_EXPORT void hb_conn_rx(hb_conn *c, bool enable);
/*
 * Close with `code` and `reason` and detach: no callback of any kind
 * reaches the owner after this call; the caller reports the disconnect
 * itself. The close frame goes out, the peer's close is awaited up to 2 s,
 * then TCP is dropped. Also cancels a dial in progress. `c` is invalid
 * afterwards.
 */
HB_EXPORT void hb_conn_close(hb_conn *c, int code, const char *reason);

#ifdef __cplusplus
}
#endif
#endif
