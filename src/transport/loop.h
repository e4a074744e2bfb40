/*
 * loop.h: the libwebsockets service thread ("loop thread"), its one
 * doorway, its timers, and what the connections of one loop share: the
 * resolver, the TLS cache, the dial slots and a scratch buffer. Internal.
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

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "honeybee/common.h"
#include "transport/resolver.h"
#include "transport/timers.h"
#include "transport/tls.h"

typedef struct hb__loop hb__loop;

typedef void (*hb__cmd_fn)(void *a, void *b, void *c, bool cancelled);

typedef struct hb__loop_cfg {
    const hb_logger *logger;
    uint32_t command_queue;    /* 0 = 65536 */
    uint32_t resolver_threads; /* 0 = 2 */
    uint32_t max_handshakes;   /* dials in flight at once (hb__loop_slot_take); 0 = 128 */
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
/*
 * The process is about to exit (the daemon, after its drain): the next
 * hb__loop_free frees every connection nobody owns in one pass, without
 * closing its socket, and when (open sockets x the open file limit) is at
 * least 2^26 (env HB_TEARDOWN_FAST_MIN overrides it) skips
 * lws_context_destroy, which closes sockets one by one in time that grows
 * with both (loop.c); the kernel closes them at exit. Logs "teardown:
 * released N connections in X ms". Any thread, before hb__loop_free.
 */
void hb__loop_exiting(hb__loop *loop);

/* Any thread. 0 or HB_E_BUSY. */
int hb__loop_post(hb__loop *loop, hb__cmd_fn fn, void *a, void *b, void *c);
/* Any thread. The caller guarantees `n` is not already queued. */
void hb__loop_notify(hb__loop *loop, hb__note *n);

bool hb__loop_on_thread(hb__loop *loop);
uint64_t hb__loop_heartbeat(hb__loop *loop);
struct lws_context *hb__loop_ctx(hb__loop *loop);
const hb_logger *hb__loop_logger(hb__loop *loop);
/* Sockets lws currently holds for us (dialing, open or closing). Any thread. */
uint32_t hb__loop_live_conns(hb__loop *loop);
void hb__loop_conn_count(hb__loop *loop, int delta);
/* Loop thread: wall-clock ns for a monotonic instant, from an offset the
 * loop refreshes every tick (500 ms): no second clock read per message. */
uint64_t hb__loop_wall_from_mono(hb__loop *loop, uint64_t mono_ns);

/* ---- timers (loop thread): a heap behind one lws timer, see timers.c ---- */

void hb__timer_init(hb__timer *t, hb__loop *loop, void (*fn)(void *), void *ud);
void hb__timer_arm(hb__timer *t, uint64_t delay_ns);
void hb__timer_cancel(hb__timer *t);

/* ---- what the connections of this loop share (loop thread) ---- */

hb__resolver *hb__loop_resolver(hb__loop *loop);
/* One SSL_CTX per TLS profile, for every wss:// connection of the loop. */
hb__tls_cache *hb__loop_tls(hb__loop *loop);
/* A buffer for one connection's decrypted bytes at a time (TLS reads):
 * valid until the callback that asked for it returns. */
uint8_t *hb__loop_scratch(hb__loop *loop, size_t *cap);

/*
 * Dial slots: at most max_handshakes dials (resolve, TCP, TLS, HTTP
 * upgrade) in flight at once; the others wait in FIFO order. A waiter is
 * an intrusive node: hb__loop_slot_take returns true when the slot is
 * taken now, else queues `w`, and later calls w->granted on the loop
 * thread (from inside hb__loop_slot_give: the callee should only arm a
 * timer). Every slot taken is given back exactly once; a queued waiter
 * that gives up leaves with hb__loop_slot_cancel (safe if not queued).
 */
typedef struct hb__slot_wait {
    struct hb__slot_wait *prev, *next;
    void (*granted)(struct hb__slot_wait *w);
    bool queued;
} hb__slot_wait;
bool hb__loop_slot_take(hb__loop *loop, hb__slot_wait *w);
void hb__loop_slot_cancel(hb__loop *loop, hb__slot_wait *w);
void hb__loop_slot_give(hb__loop *loop);
/* Slots in use and dials waiting (tests, stats). Any thread. */
uint32_t hb__loop_slots_busy(hb__loop *loop);
uint32_t hb__loop_slots_waiting(hb__loop *loop);

/*
 * Every connection is linked here from its dial until it is freed. Every
 * tick (500 ms) the loop calls hb__conn_idle() for each (conn.c), which
 * gives back the buffers of an open one that has been quiet; at exit
 * hb__conn_forget() frees each (see hb__loop_exiting).
 */
typedef struct hb__link {
    struct hb__link *prev, *next;
} hb__link;
void hb__loop_link(hb__loop *loop, hb__link *l);
/* Safe on a node that is not linked. */
void hb__loop_unlink(hb__loop *loop, hb__link *l);
void hb__conn_idle(hb__link *l);
/* conn.c, destroying thread, loop thread joined: does a lookup hold it;
 * give back what of it belongs to the loop (before the loop is freed);
 * free it without closing its socket (false: an owner or a lookup holds it). */
bool hb__conn_in_lookup(hb__link *l);
void hb__conn_loop_gone(hb__link *l);
bool hb__conn_forget(hb__link *l);
/* Quiet ticks before a connection's buffers are freed. */
#define HB__QUIET_TICKS 2u
/* Loop thread: an idle TLS connection's buffers were freed (counted for
 * tests); any thread: how many times so far. */
void hb__loop_tls_trimmed(hb__loop *loop);
uint32_t hb__loop_tls_trims(hb__loop *loop);
/* A dial ended (opened or failed): for the heap trim after a burst. */
void hb__loop_dial_done(hb__loop *loop);

/* ---- plumbing between loop.c and conn.c ---- */
/* The last warning or error libwebsockets logged on this thread ("" if
 * none since the last clear): the only word lws gives on some failures. */
const char *hb__loop_lws_last(void);
void hb__loop_lws_last_clear(void);
int hb__conn_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);
/* From hb__conn_lws_cb on LWS_CALLBACK_EVENT_WAIT_CANCELLED: drains the
 * doorway. */
void hb__loop_wait_cancelled(struct lws *wsi);

#endif
