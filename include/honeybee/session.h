/*
 * honeybee/session.h: the default worker ("session") and the building
 * blocks it is made of. Each block is usable on its own in a custom worker
 * (see EXTEND.md for the replacement patterns).
 *
 *   backoff    when to dial again (SPEC.md section 7 arithmetic); pure
 *   keepalive  which deadline is due: ping, app_ping, timeout, stall; pure
 *   reader     reassembles message pieces up to max_message_size (the
 *              dialer has checked UTF-8); allocates the inbox message once
 *   session    ties them to a connection (hb_conn) and the plugin: dial,
 *              serve, disconnect, back off, redial, until stopped
 *
 * The pure blocks take the time as an argument (monotonic ns) so that they
 * can be unit tested without clocks or sockets.
 */
#ifndef HONEYBEE_SESSION_H
#define HONEYBEE_SESSION_H

#include "worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- backoff ------------------------------------------------------------- */

typedef struct hb_backoff {
    hb_reconnect_cfg cfg;
    uint32_t n;            /* consecutive failures (failed dials + short connections) */
    uint32_t failed_dials; /* consecutive failed dials (max_retries counts these) */
    uint32_t attempt;      /* the dial in progress, 1-based within the run */
} hb_backoff;

HB_EXPORT void hb_backoff_init(hb_backoff *b, const hb_reconnect_cfg *cfg);
/*
 * The delay after `n` (>= 1) failures: min(max_delay,
 * initial_delay * multiplier^(n-1)) scaled by 1 + jitter * (2u - 1), with
 * `u` uniform in [0, 1). n = 0 gives 0.
 */
HB_EXPORT uint64_t hb_backoff_delay_ns(const hb_reconnect_cfg *cfg, uint32_t n, double u);
/* A dial starts; returns its attempt number. */
HB_EXPORT uint32_t hb_backoff_dial_started(hb_backoff *b);
/* A dial failed; returns true when max_retries is spent (give up). */
HB_EXPORT bool hb_backoff_dial_failed(hb_backoff *b);
/* A dial succeeded (resets the max_retries count and the attempt number). */
HB_EXPORT void hb_backoff_connected(hb_backoff *b);
/* A connection that was up `uptime_ns` closed: stable ones (up at least
 * stable_after; initial_delay when stable_after is 0) reset n. */
HB_EXPORT void hb_backoff_closed(hb_backoff *b, uint64_t uptime_ns);
/* The wait before the next dial (0: at once). */
HB_EXPORT uint64_t hb_backoff_next_delay(const hb_backoff *b, double u);

/* ---- keepalive ----------------------------------------------------------- */

enum {
    HB_KA_PING = 1u << 0,     /* send a WebSocket ping now */
    HB_KA_APP_PING = 1u << 1, /* send the app_ping text now */
    HB_KA_TIMEOUT = 1u << 2,  /* nothing received for `timeout`: replace (keepalive) */
    HB_KA_STALL = 1u << 3,    /* no data message for `stall_timeout`: replace (stall) */
};

typedef struct hb_keepalive {
    uint64_t ping_interval, timeout, stall;
    bool app_ping;
    uint64_t last_rx;   /* any frame or pong */
    uint64_t last_data; /* data messages only */
    uint64_t last_ping; /* our last WebSocket ping */
    uint64_t next_app;  /* when the next app_ping is due */
} hb_keepalive;

/* A connection opened at `now`. */
HB_EXPORT void hb_keepalive_start(hb_keepalive *k, const hb_keepalive_cfg *cfg, uint64_t now);
/* Any frame or pong. Cheap: records the time, never touches a timer. */
static inline void hb_keepalive_frame(hb_keepalive *k, uint64_t now)
{
    k->last_rx = now;
}
/* A data message (also a frame). */
static inline void hb_keepalive_data(hb_keepalive *k, uint64_t now)
{
    k->last_rx = k->last_data = now;
}
/*
 * What is due at `now` (HB_KA_* bits; a PING or APP_PING returned counts as
 * sent). *next is set to the next instant anything can become due (UINT64_MAX
 * for never), so one timer armed there is enough.
 */
HB_EXPORT unsigned hb_keepalive_check(hb_keepalive *k, uint64_t now, uint64_t *next);

/* ---- reader -------------------------------------------------------------- */

typedef enum hb_read_result {
    HB_READ_MORE = 0,     /* piece taken, message not complete */
    HB_READ_MESSAGE,      /* *out holds a complete message */
    HB_READ_TOO_LARGE,    /* over max_message_size: close 1009 */
    HB_READ_INVALID_UTF8, /* no longer returned: the dialer checks UTF-8 (kept for the ABI) */
    HB_READ_NOMEM,
} hb_read_result;

typedef struct hb_reader {
    hb_plugin *plugin;
    uint64_t max;
    hb_inbox_msg *msg; /* message being assembled */
    size_t cap;
    size_t expect; /* bytes announced after the next piece (hb_reader_expect) */
    bool binary;
} hb_reader;

HB_EXPORT void hb_reader_init(hb_reader *r, hb_plugin *p, uint64_t max_message_size);
/*
 * Feed one piece. A single-piece message costs one allocation and one copy.
 * On HB_READ_MESSAGE the caller owns *out (deliver it with
 * hb_plugin_deliver). After an error the partial message is dropped.
 */
HB_EXPORT hb_read_result hb_reader_feed(hb_reader *r, const void *data, size_t len, bool first,
                                        bool final, bool binary, hb_inbox_msg **out);
/*
 * Before feeding the first piece of a message that is not complete: `more`
 * bytes of it are known to follow (hb_conn_rx_remaining). The buffer is then
 * sized for piece + more at once, so a message sent as one frame costs one
 * allocation and one copy however many receive buffers it spans.
 */
HB_EXPORT void hb_reader_expect(hb_reader *r, size_t more);
/* Drop a partial message (connection gone). */
HB_EXPORT void hb_reader_reset(hb_reader *r);

/* ---- session --------------------------------------------------------------- */

typedef struct hb_session hb_session;

/*
 * Optional hooks to swap one block without rewriting the session. Each is
 * called on the loop thread; NULL means the default.
 */
typedef struct hb_session_hooks {
    /* A complete inbound message. Default: hb_plugin_deliver. Must take
     * ownership of `m` and return what hb_plugin_deliver would (false =
     * pause reading until resumed). */
    bool (*on_message)(void *ud, hb_session *s, hb_inbox_msg *m, bool binary);
    /* A pong or any other sign of life; default feeds the keepalive. */
    void (*on_heartbeat)(void *ud, hb_session *s);
    void *ud;
} hb_session_hooks;

/*
 * Build the default worker for `p` (for a factory). `hooks` may be NULL; it
 * is copied. Returns 0 or HB_E_NOMEM. Does not block; calls nothing in the
 * pool.
 */
HB_EXPORT int hb_session_new(hb_plugin *p, const hb_session_hooks *hooks, hb_worker **out);

/* The session's plugin (for hooks). */
HB_EXPORT hb_plugin *hb_session_plugin(hb_session *s);

/* The stock factory: hb_pool_config.factory = &hb_session_factory. */
HB_EXPORT extern const hb_worker_factory hb_session_factory;

#ifdef __cplusplus
}
#endif
#endif
