/*
 * bridge_int.h: what the files of src/bridge share and nobody else sees:
 * the bridge object's fields and the functions one file calls in another.
 *
 *   bridge.c    the bridge's life: new, the thread and its poll loop, the
 *               sockets' options, bind and close, shutdown, counters
 *   inbox.c     the inbox publisher: bursts on the pool's loop thread,
 *               zero-copy frames and their reclaim
 *   events.c    the events hand-off (the sink's side) and the events PUB
 *   send.c      the send PULL
 *   control.c   the control REP and its operations
 *   wire.c, metrics.c   pure formats (declared in bridge.h)
 *
 * Every field says which thread may touch it; `mu` and `in_mu` are the
 * two locks (see bridge.c and inbox.c for the protocols).
 */
#ifndef HB_BRIDGE_BRIDGE_INT_H
#define HB_BRIDGE_BRIDGE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <zmq.h>

#include "bridge/auth.h"
#include "core/lograte.h"
#include "bridge/bridge.h"

/* One loop thread's side of the inbox (inbox.c), found by
 * hb_pool_current_loop(). Padded to 64 bytes: loops do not write one
 * another's cache lines. */
typedef struct hb__inbox_lane {
    /* Zero-copy messages ZeroMQ is done with: pushed on ZeroMQ's I/O
     * thread, freed in batches on this loop's thread (which allocated
     * them). Any thread pushes or takes. */
    _Atomic(hb_inbox_msg *) done;
    /* The burst being collected: this loop thread's alone (and destroy's,
     * once the pool is gone). At most HB__INBOX_BURST messages. */
    hb_inbox_msg *burst_head, *burst_tail;
    uint32_t burst_n;
    char pad_[64 - 3 * sizeof(void *) - sizeof(uint32_t)];
} hb__inbox_lane;

struct hb__bridge {
    hb_bridge_cfg cfg; /* strings borrowed from the hb_config (outlives us) */
    uint64_t max_msg;
    const hb_logger *lg;
    hb_pool *pool; /* set before the thread starts */
    int efd;       /* eventfd: sink and commands -> bridge thread */

    /* ---- inbox.c: the inbox PUB, owned by the holder of in_mu ---- */
    pthread_mutex_t in_mu;
    void *in_sock; /* NULL before the bind and after the close */
    /* Written by the in_mu holder, read anywhere (metrics): */
    _Atomic uint64_t in_published; /* messages written to in_sock */
    _Atomic uint64_t in_closed;    /* messages that came after the close (shutdown) */
    /* Bursts and reclaim stacks, one per loop thread (pool.loops). */
    hb__inbox_lane lanes[HB_POOL_MAX_LOOPS];

    /* ---- mu: the events hand-off and the main thread's commands ---- */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* start/ack hand-shakes with the main thread */
    hb_event *ev_head, *ev_tail;
    uint32_t ev_n;
    bool awake; /* the bridge thread will look at the list before it sleeps */
    bool cmd_stop_sends, ack_stop_sends;
    bool cmd_finish;
    bool started; /* the thread reported its bind result */
    int start_rc;
    char start_err[512];

    /* The daemon's hooks (hb__bridge_set_hook, _set_ctl_hook): set before
     * start. */
    hb__bridge_hook hook;
    hb__bridge_ctl_hook ctl_hook;
    void *hook_ud;
    _Atomic bool hook_due; /* hb__bridge_poke: call the hook next turn */

    pthread_t thread;
    bool thread_running; /* main thread only */

    /* Written by the bridge thread, read anywhere. */
    _Atomic uint64_t heartbeat;
    _Atomic bool failed;
    _Atomic uint64_t c_events_published, c_events_dropped, c_send_received, c_control_requests;
    _Atomic uint64_t c_control_errors[HB_E__COUNT]; /* by the reply's error code */

    /* Written by the bridge thread (monitor events), read anywhere. */
    _Atomic uint64_t c_hs_failed[HB__ZS__COUNT][HB__HS__COUNT];
    _Atomic uint64_t c_disconnects[HB__ZS__COUNT];

    /* Set before the thread starts; then the bridge thread's (ZAP). */
    hb__auth *auth;
    /* What control connect may dial, and the `pool` section its options
     * merge into (owned copies): the bridge thread's. A reload hands new
     * ones over in `policy_next` and `defaults_next` (under mu, together),
     * taken before the next control request (hb__control_serve). */
    hb_pool_wide_cfg *policy, *policy_next;
    hb_peer_opts *defaults, *defaults_next;

    /* Bridge thread only. */
    void *zctx;
    void *s_events, *s_send, *s_control;
    void *mon[HB__ZS__COUNT]; /* PAIR ends of the sockets' monitors */
    bool sends_stopped;
    hb__lograte send_log;    /* the send socket's warnings (send.c) */
    hb__lograte control_log; /* the control socket's warnings (control.c) */
};

/* ---- bridge.c ------------------------------------------------------------- */

/* Wake the bridge thread (a write to the eventfd; never blocks). Any thread. */
void hb__bridge_wake(hb__bridge *b);

/* A frame holding a copy of p[0..n). 0, or -1 (ENOMEM) with `f` closed. */
int hb__zframe_copy(zmq_msg_t *f, const void *p, size_t n);

/* Send three frames built beforehand (ZMQ_DONTWAIT); every frame is closed,
 * sent or not. Returns 0 or -1 (errno set). The socket's owner thread. */
int hb__zsend3(void *sock, zmq_msg_t f[3]);

/* ---- inbox.c: the pool's loop threads ------------------------------------- */

/* The sink's inbox callback and its end-of-turn flush (hb_sink): the
 * calling loop's lane. */
bool hb__inbox_take(void *ud, hb_inbox_msg *m);
void hb__inbox_flush(void *ud);
/* Free the zero-copy messages ZeroMQ handed back to one lane (its loop
 * thread). */
void hb__inbox_reclaim(hb__inbox_lane *l);
/* Destroy, once the pool and the ZeroMQ context are gone: free what every
 * lane still holds (the socket is closed: counted in in_closed). */
void hb__inbox_destroy(hb__bridge *b);
/* The free function of a zero-copy frame (ZeroMQ's I/O thread). */
void hb__inbox_zmq_free(void *data, void *hint);

/* ---- events.c ------------------------------------------------------------- */

/* The sink's event callback: the loop thread or a pool caller's thread. */
void hb__events_take(void *ud, hb_event *e);
/* Publish one event on the events PUB (and log it). Bridge thread. */
bool hb__events_publish(hb__bridge *b, const hb_event *e);
/* Publish what the hand-off holds; true if more may be waiting. *removed
 * tells whether a `removed` went out. Bridge thread. */
bool hb__events_drain(hb__bridge *b, bool *removed);
/* Free what is left in the hand-off (destroy). */
void hb__events_discard(hb__bridge *b);

/* ---- send.c: bridge thread ------------------------------------------------ */

/* Read and act on one message of the send PULL; false when none waits. */
bool hb__send_handle(hb__bridge *b);

/* Every turn of the bridge loop: once the rate limit allows, say how many
 * of the send socket's warnings went to debug since the last line. */
/* A warning under one of the bridge's log rate limits (core/lograte.h: 10
 * lines, then one every 6 s; the rest at debug, counted, and the next
 * warning says how many). Bridge thread. */
__attribute__((format(printf, 4, 5))) void hb__bridge_warn(hb__bridge *b, hb__lograte *r,
                                                           const char *id, const char *fmt, ...);
/* The bridge loop's turn: for each limit that held lines back and may log
 * again, one line saying how many. Bridge thread. */
void hb__bridge_warn_tick(hb__bridge *b, uint64_t now);

/* ---- control.c: bridge thread --------------------------------------------- */

/* Read one request of the control REP and answer it (always). */
void hb__control_serve(hb__bridge *b);

#endif
