/*
 * loop.h: the libwebsockets service thread ("loop thread") and its one
 * doorway, timers, resolver threads and TLS client vhosts. Internal.
 *
 * The doorway has two lanes, both drained on the loop thread from
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED after one lws_cancel_service():
 *   - a bounded ring of commands (hb__loop_post), bound = command_queue;
 *   - an intrusive list of pre-allocated nodes (hb__loop_notify) for
 *     internal completions that must never be refused (a worker's coalesced
 *     kick, a resolver result): each node is queued at most once, so the
 *     list is bounded by the number of nodes that exist.
 * A wake-up (one write to lws's pipe) is made only when a lane goes from
 * empty to non-empty, so a burst of posts costs one syscall.
 */
#ifndef HB_TRANSPORT_LOOP_H
#define HB_TRANSPORT_LOOP_H

#include "transport/timers.h"
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "honeybee/common.h"
#include "honeybee/config.h"

typedef struct hb__loop hb__loop;

typedef void (*hb__cmd_fn)(void *a, void *b, void *c, bool cancelled);

/* A pre-allocated doorway node (intrusive). `queued` guards double queuing. */
typedef struct hb__note {
    struct hb__note *next;
    void (*fn)(struct hb__note *n, bool cancelled);
} hb__note;

typedef struct hb__loop_cfg {
    const hb_logger *logger;
    uint32_t command_queue;    /* 0 = 65536 */
    uint32_t resolver_threads; /* 0 = 2 */
    uint32_t max_handshakes;   /* lws header-table pool; 0 = S_AH_POOL */
    uint32_t resolver_queue;   /* lookups waiting at most; 0 = command_queue */
    /* Called on the loop thread once the loop was asked to stop, before it
     * exits (the pool stops its workers there). */
    void (*on_exit)(void *ud);
    /* Called on the loop thread after every turn (one lws_service: the
     * reads, timers and commands that were ready), before it waits again,
     * and once after the commands left at exit ran, before on_exit. NULL:
     * none. */
    void (*after_turn)(void *ud);
    void *ud;
} hb__loop_cfg;

/* Creates the lws context and starts the loop and resolver threads. */
int hb__loop_new(const hb__loop_cfg *cfg, hb__loop **out);
/* Stops and joins the loop thread (on_exit runs there), destroys the
 * context, runs leftover commands with cancelled = true. Not from the loop. */
void hb__loop_free(hb__loop **loop);

/* Any thread. 0 or HB_E_BUSY. */
int hb__loop_post(hb__loop *loop, hb__cmd_fn fn, void *a, void *b, void *c);
/* Any thread. The caller guarantees `n` is not already queued. */
void hb__loop_notify(hb__loop *loop, hb__note *n);

bool hb__loop_on_thread(hb__loop *loop);
uint64_t hb__loop_heartbeat(hb__loop *loop);
struct lws_context *hb__loop_ctx(hb__loop *loop);
const hb_logger *hb__loop_logger(hb__loop *loop);
/* Sockets lws currently holds for us (dialing, open or closing). */
uint32_t hb__loop_live_conns(hb__loop *loop);

/* ---- timers (loop thread): a heap behind one lws timer, see timers.c ---- */

void hb__timer_init(hb__timer *t, hb__loop *loop, void (*fn)(void *), void *ud);
void hb__timer_arm(hb__timer *t, uint64_t delay_ns);
void hb__timer_cancel(hb__timer *t);

/* ---- resolver (the loop thread submits; the result comes back as a note) ----
 * Bounded: at most `resolver_queue` lookups wait, and at most one lookup per
 * owner (a peer) is in flight, so a peer whose dials time out while a slow
 * getaddrinfo() runs cannot pile lookups up. A job whose owner gave up
 * (hb__resolve_abandon) is skipped if it has not started; its note still
 * comes back (the caller frees its memory there). */
typedef struct hb__resolve {
    hb__note note;         /* fn runs on the loop thread with the result filled */
    char *host;            /* input, owned by the caller */
    const void *owner;     /* input: one lookup per owner in flight (compared only) */
    atomic_bool abandoned; /* set by the loop thread, read by the resolver */
    char addr[64];         /* output: numeric address, "" on failure */
    char error[128];       /* output on failure */
} hb__resolve;
/* Loop thread. 0 once queued (the note follows), else -1 with a reason for
 * a person in err ("resolver busy", or a lookup of this owner still in
 * flight); no note then. */
int hb__resolve_submit(hb__loop *loop, hb__resolve *r, char *err, size_t errlen);
/* Loop thread: the owner no longer wants the answer. */
void hb__resolve_abandon(hb__resolve *r);
/* Tests: replace getaddrinfo() for every loop (NULL restores it). The hook
 * fills addr (numeric) or err and returns 0 or -1. */
typedef int (*hb__lookup_fn)(const char *host, char *addr, size_t addrlen, char *err,
                             size_t errlen);
void hb__resolve_set_lookup(hb__lookup_fn fn);

/* ---- TLS profiles: one client vhost each, created lazily (loop thread) ---- */
struct lws_vhost *hb__loop_vhost_acquire(hb__loop *loop, const hb_tls_cfg *tls, char *err,
                                         size_t errlen);
void hb__loop_vhost_release(hb__loop *loop, struct lws_vhost *vh);
/* Client vhosts (TLS profiles) alive, the plain one included. Any thread. */
uint32_t hb__loop_vhost_count(hb__loop *loop);

/* ---- internal plumbing between loop.c and conn.c ---- */
int hb__conn_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);
/* From hb__conn_lws_cb on LWS_CALLBACK_EVENT_WAIT_CANCELLED, which lws
 * broadcasts to every protocol of every vhost: drains the doorway once,
 * for the plain vhost only. */
void hb__loop_wait_cancelled(struct lws *wsi);
/* Loop thread: wall-clock ns for a monotonic instant, from an offset the
 * loop refreshes every tick (500 ms): no second clock read per message. */
uint64_t hb__loop_wall_from_mono(hb__loop *loop, uint64_t mono_ns);
void hb__loop_conn_count(hb__loop *loop, int delta);

/* ---- idle memory (loop thread) ----
 * Open TLS connections are linked here; every tick (500 ms) the loop calls
 * hb__conn_tls_idle() for each, which frees OpenSSL's buffers of one that
 * has been quiet (conn.c). */
typedef struct hb__link {
    struct hb__link *prev, *next;
} hb__link;
void hb__loop_tls_link(hb__loop *loop, hb__link *l);
/* Safe on a node that is not linked. */
void hb__loop_tls_unlink(hb__loop *loop, hb__link *l);
void hb__conn_tls_idle(hb__link *l);
/* Quiet ticks before a TLS connection's buffers are freed. */
#define HB__TLS_QUIET_TICKS 2u
/* Loop thread: an idle TLS connection's buffers were freed (counted for
 * tests); any thread: how many times so far. */
void hb__loop_tls_trimmed(hb__loop *loop);
uint32_t hb__loop_tls_trims(hb__loop *loop);
/* A handshake completed or failed (for the heap trim after a burst). */
void hb__loop_dial_done(hb__loop *loop);

#endif
