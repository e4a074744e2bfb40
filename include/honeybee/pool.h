/*
 * honeybee/pool.h: a pool of WebSocket peers.
 *
 * The pool owns registration, event plumbing and lifecycle; a worker (see
 * worker.h; the default is the session of session.h) owns everything on the
 * wire between a peer's `added` and its `removed`. The pool runs one or
 * more libwebsockets service threads ("loop threads", hb_pool_config.loops);
 * a peer lives on one loop, chosen from its id, for its whole life. Every
 * hb_pool_* function may be called from any thread and reaches a loop
 * through that loop's doorway: a bounded command queue plus
 * lws_cancel_service().
 *
 * What the pool produces goes to a sink the user supplies (hb_sink): each
 * received message and each lifecycle event. The bridge plugs ZeroMQ in
 * there (it publishes on the loop thread); a library user can plug
 * anything.
 */
#ifndef HONEYBEE_POOL_H
#define HONEYBEE_POOL_H

#include "common.h"
#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hb_pool hb_pool;

/* ---- inbox messages ------------------------------------------------------ */

#define HB_MSG_F_BINARY 0x01u /* bit 0 of the metadata flags: binary message */

/*
 * One received WebSocket message. One allocation holds the struct, a copy of
 * the peer id and the payload, so a message outlives its peer safely.
 * Ownership passes to the sink; free it with hb_inbox_msg_free(), from any
 * thread (it is plain free(3), so it may be handed to ZeroMQ as the free
 * function of a zero-copy message).
 */
typedef struct hb_inbox_msg {
    struct hb_inbox_msg *next; /* free for the owner's use (intrusive queues) */
    const char *peer_id;       /* NUL-terminated, inside this allocation */
    uint32_t peer_id_len;
    uint32_t conn;        /* connection number of the peer: 1, 2, ... */
    uint64_t seq;         /* per peer, from 1, across reconnects */
    uint64_t received_ns; /* wall clock, ns since the Unix epoch */
    uint8_t flags;        /* HB_MSG_F_BINARY */
    size_t len;
    unsigned char *data; /* inside this allocation */
} hb_inbox_msg;

HB_EXPORT void hb_inbox_msg_free(hb_inbox_msg *m);

/* ---- events -------------------------------------------------------------- */

typedef enum hb_event_kind {
    HB_EV_ADDED = 0,
    HB_EV_CONNECTED,
    HB_EV_DISCONNECTED,
    HB_EV_DIAL_FAILED,
    HB_EV_SEND_FAILED,
    HB_EV_REMOVED,
    HB_EV__COUNT
} hb_event_kind;

/* "added", "connected", ... (the topic frame of the events socket). */
HB_EXPORT const char *hb_event_kind_name(hb_event_kind k);

/*
 * One lifecycle event (SPEC.md section 5). One allocation; strings point
 * inside it or to static text. Ownership passes to the sink; free with
 * hb_event_free() from any thread.
 */
typedef struct hb_event {
    struct hb_event *next; /* free for the owner's use */
    hb_event_kind kind;
    uint64_t at_ns;     /* wall clock */
    const char *id;     /* peer id ("" or "*" possible for send_failed) */
    const char *url;    /* NULL when it does not apply */
    uint32_t attempt;   /* dial_failed, connected; 0 = not set */
    int code;           /* disconnected: close code; 0 = not set */
    const char *reason; /* disconnected, send_failed, removed; NULL = not set */
    const char *error;  /* dial error text or the peer's close reason; NULL = not set */
    uint32_t conn;      /* connected/disconnected: connection number; 0 = not set */
} hb_event;

HB_EXPORT void hb_event_free(hb_event *e);

/*
 * Build an event (one allocation, strings copied). For sinks and workers
 * that emit events of their own (e.g. the bridge's send_failed for
 * bad_request). Returns NULL on allocation failure.
 */
HB_EXPORT hb_event *hb_event_new(hb_event_kind kind, const char *id, const char *url,
                                 const char *reason, const char *error);

/* ---- the sink ------------------------------------------------------------ */

typedef struct hb_sink {
    /*
     * A received message. Called on the peer's loop thread, in order per
     * peer; with several loops, from several threads at once (a sink keeps
     * per-loop state by hb_pool_current_loop()).
     * Takes ownership of `m` always. Returns true while the sink can take
     * more; false means "over the bound": the pool stops reading from peers
     * (TCP then pushes back) until hb_pool_resume_reading() is called. The
     * message passed in is never dropped by the pool.
     */
    bool (*inbox)(void *ud, hb_inbox_msg *m);
    /*
     * A lifecycle event. Called on the loop thread, or on the thread of the
     * hb_pool_* call that caused it (`added` on the caller of
     * hb_pool_connect), in per-peer order for the lifecycle events. Takes
     * ownership. Must not block and must not call the pool.
     *
     * `added` and `removed` are emitted with the pool's registry lock held
     * for writing (that is what keeps a re-added id's `added` behind the old
     * `removed`), and every hb_pool_* call takes that lock. So the sink must
     * not take any lock that a thread may hold while it calls an hb_pool_*
     * function: that thread would wait for the registry while the sink
     * waits for it (deadlock). Hand events to a queue of your own instead.
     */
    void (*event)(void *ud, hb_event *e);
    void *ud;
    /*
     * Optional (NULL: none; last, so {inbox, event, ud} initialisers keep
     * their meaning). Called on each loop thread after every turn of the
     * loop (the reads, timers and commands that were ready at once), empty
     * turns included (the loop turns at least twice a second), before a
     * peer's `removed` is emitted, and once more as the loop exits. A sink
     * may hold the inbox messages of a turn and pass them on together here
     * (the bridge publishes them in one burst, so ZeroMQ's I/O thread wakes
     * once per burst). The pool does not bound how many messages one turn
     * delivers: a sink that collects must bound itself. Like `inbox`, it
     * must not block and must not call the pool.
     */
    void (*flush)(void *ud);
} hb_sink;

/* ---- the pool ------------------------------------------------------------ */

struct hb_worker_factory_s; /* see worker.h */

typedef struct hb_pool_config {
    hb_sink sink;            /* required: both callbacks */
    const hb_logger *logger; /* NULL: silent; must outlive the pool */
    /* NULL: the default session worker (session.h). */
    const struct hb_worker_factory_s *factory;
    uint32_t command_queue;    /* bound of the doorway into the loop; 0 = 65536 */
    uint32_t max_peers;        /* 0 = no limit other than file descriptors */
    uint32_t resolver_threads; /* DNS off the loop thread; 0 = 2 */
    /* Dials in flight at once (resolve, TCP, TLS, upgrade); more wait in
     * FIFO order while their connect_timeout runs. 0 = 128. */
    uint32_t max_handshakes;
    /* Loop threads, each its own lws context, doorway (command_queue each),
     * resolvers (resolver_threads each) and share of max_handshakes. 0 = 1;
     * at most HB_POOL_MAX_LOOPS. */
    uint32_t loops;
} hb_pool_config;

/*
 * Create a pool and start its loop thread. Returns 0 and *out, or an error
 * (HB_E_NOMEM, HB_E_INVALID for a missing sink, HB_E_INTERNAL if lws fails).
 * Caller owns the pool; release with hb_pool_destroy().
 *
 * The pool budgets file descriptors against the soft RLIMIT_NOFILE as it is
 * when this is called (connects near it fail with HB_E_FD_LIMIT) and never
 * changes it: a program that wants many peers raises its limit first, as
 * honeybee-bridge does at start.
 */
HB_EXPORT int hb_pool_new(const hb_pool_config *cfg, hb_pool **out);

/*
 * Register a peer and start its worker (the `added` event is emitted before
 * this returns; dialing starts at once on the loop thread). The config is
 * copied. Returns 0, HB_E_PEER_EXISTS (also while a removed peer's `removed`
 * event is not out yet), HB_E_BAD_REQUEST (bad id), HB_E_INVALID_URL,
 * HB_E_INVALID_OPTION, HB_E_FD_LIMIT (near the open-file limit),
 * HB_E_PEER_LIMIT (max_peers reached), HB_E_SHUTTING_DOWN. Any thread; does not block on the
 * network.
 */
HB_EXPORT int hb_pool_connect(hb_pool *pool, const hb_peer_cfg *peer);

/*
 * Stop a peer's worker; its `disconnected` (if connected, reason `removed`,
 * close 1000) and `removed` (reason `removed`) events follow asynchronously.
 * Returns 0, HB_E_UNKNOWN_PEER (also if already being removed),
 * HB_E_SHUTTING_DOWN. Any thread.
 */
HB_EXPORT int hb_pool_remove(hb_pool *pool, const char *id);

typedef enum hb_msg_type {
    HB_MSG_AUTO = 0, /* text if valid UTF-8, else binary */
    HB_MSG_TEXT = 1,
    HB_MSG_BINARY = 2,
} hb_msg_type;

/*
 * Queue a message for a peer (copied). Returns 0 once queued, or
 * HB_E_UNKNOWN_PEER, HB_E_NOT_CONNECTED (a peer that is not connected does
 * not queue), HB_E_QUEUE_FULL (send_queue reached), HB_E_TOO_LARGE
 * (> max_message_size), HB_E_BAD_REQUEST (type TEXT with invalid UTF-8),
 * HB_E_SHUTTING_DOWN. Refusals are counted per peer (send_failed counters)
 * but no event is emitted: the caller decides (the bridge emits
 * `send_failed` for its send socket, answers the error for control).
 * Messages from one thread to one peer are written in the order queued.
 * Any thread; never blocks on the network.
 */
HB_EXPORT int hb_pool_send(hb_pool *pool, const char *id, const void *data, size_t len,
                           hb_msg_type type);

/*
 * Queue to every connected peer. Returns the number of peers it was queued
 * to (>= 0), or -HB_E_SHUTTING_DOWN. Per-peer refusals are counted.
 */
HB_EXPORT int hb_pool_broadcast(hb_pool *pool, const void *data, size_t len, hb_msg_type type);

/*
 * A refusal of one peer during a broadcast: `id` (valid for the call) and
 * the hb_err (HB_E_NOT_CONNECTED, HB_E_QUEUE_FULL, HB_E_TOO_LARGE, ...).
 * Called on the broadcasting thread, without any pool lock held.
 */
typedef void (*hb_refusal_fn)(void *ud, const char *id, int err);

/*
 * hb_pool_broadcast that also tells which peers refused (each refusal is
 * counted per peer as well) and tells "nobody was connected" apart from
 * "everybody refused": returns the number of peers the message was queued
 * to (>= 0), -HB_E_NOT_CONNECTED when no peer was connected, or
 * -HB_E_SHUTTING_DOWN. `on_refused` may be NULL. Any thread.
 */
HB_EXPORT int hb_pool_broadcast_ex(hb_pool *pool, const void *data, size_t len, hb_msg_type type,
                                   hb_refusal_fn on_refused, void *ud);

/*
 * Count a refusal that happened outside the pool (the bridge's
 * unknown_peer and bad_request on its send socket) so that the totals in
 * hb_pool_stats cover every refusal. `reason` is an hb_err.
 */
HB_EXPORT void hb_pool_count_send_failed(hb_pool *pool, int reason);

/*
 * The inbox sink has room again: resume reading from every paused peer.
 * Any thread; cheap when nothing is paused.
 */
HB_EXPORT void hb_pool_resume_reading(hb_pool *pool);

typedef enum hb_peer_state {
    HB_STATE_CONNECTING = 0,
    HB_STATE_CONNECTED,
    HB_STATE_WAITING,
    HB_STATE_CLOSED,
    HB_STATE__COUNT
} hb_peer_state;

/* "connecting", "connected", "waiting", "closed". */
HB_EXPORT const char *hb_peer_state_name(hb_peer_state s);

/* Indices of the send_failed counters, by reason. */
typedef enum hb_send_fail {
    HB_SF_UNKNOWN_PEER = 0,
    HB_SF_NOT_CONNECTED,
    HB_SF_QUEUE_FULL,
    HB_SF_TOO_LARGE,
    HB_SF_BAD_REQUEST,
    HB_SF__COUNT
} hb_send_fail;

/* "unknown_peer", ... */
HB_EXPORT const char *hb_send_fail_name(hb_send_fail r);
/* Map an hb_err to its send_failed reason; -1 if it is not one. */
HB_EXPORT int hb_send_fail_from_err(int err);

/* Counters; names follow the Prometheus families of SPEC.md section 8. */
typedef struct hb_counters {
    uint64_t messages_received;
    uint64_t messages_sent;
    uint64_t bytes_received;
    uint64_t bytes_sent;
    uint64_t reconnects; /* connections after the first */
    uint64_t send_failed[HB_SF__COUNT];
} hb_counters;

typedef struct hb_peer_info {
    char id[129];
    char *url; /* owned by the array, see hb_peer_list_free */
    hb_peer_state state;
    uint64_t connected_at_ns; /* wall clock; 0 if not connected */
    uint32_t attempt;         /* current dial attempt in the run of failures */
    uint32_t conn;            /* connection number */
    uint64_t seq;             /* last seq given out */
    uint32_t send_queue_depth;
    bool paused;   /* reading paused by inbox back-pressure */
    uint32_t loop; /* the loop thread it lives on, 0 .. loops-1 */
    hb_counters counters;
} hb_peer_info;

typedef struct hb_pool_stats {
    uint32_t peers[HB_STATE__COUNT]; /* current peers per state */
    uint32_t n_peers;
    hb_counters totals;                     /* monotonic: removed peers' counts stay in */
    uint32_t loops;                         /* loop threads */
    uint32_t loop_peers[HB_POOL_MAX_LOOPS]; /* peers placed on each loop */
} hb_pool_stats;

/* Totals. Any thread; takes the registry lock briefly, never blocks on I/O. */
HB_EXPORT int hb_pool_stats_get(hb_pool *pool, hb_pool_stats *out);

/* One peer; HB_E_UNKNOWN_PEER if none. Any thread. */
HB_EXPORT int hb_pool_peer_info(hb_pool *pool, const char *id, hb_peer_info *out);

/*
 * Every current peer (including those being removed, until `removed`),
 * sorted by id. *out is a new array (caller frees it with
 * hb_peer_list_free). Any thread.
 */
HB_EXPORT int hb_pool_list(hb_pool *pool, hb_peer_info **out, size_t *n);
HB_EXPORT void hb_peer_list_free(hb_peer_info *list, size_t n);

/* Copy of a peer's current config (for reload diffs). Caller frees with
 * hb_peer_cfg_free. HB_E_UNKNOWN_PEER if none. */
HB_EXPORT int hb_pool_peer_config(hb_pool *pool, const char *id, hb_peer_cfg *out);

/*
 * Graceful shutdown (SPEC.md section 7): refuse new connect/remove/send with
 * HB_E_SHUTTING_DOWN, let each connected peer write what it has queued for
 * up to `drain_ns`, then close every peer with 1001 and emit `disconnected`
 * (reason `shutdown`) and `removed` (reason `shutdown`) for each; messages
 * left queued are reported as `send_failed` `not_connected`. Blocks the
 * caller until every worker has finished or drain_ns + 2 s has passed.
 * Call from any thread but the loop thread. Returns 0, HB_E_BUSY on the
 * hard timeout, or HB_E_INVALID when called on the loop thread (from a sink
 * or worker callback: it would wait for itself).
 */
HB_EXPORT int hb_pool_shutdown(hb_pool *pool, uint64_t drain_ns);

/* Last time (monotonic ns) the slowest loop thread turned; for /healthz. */
HB_EXPORT uint64_t hb_pool_loop_heartbeat(hb_pool *pool);

/* The number of loop threads. Any thread. */
HB_EXPORT uint32_t hb_pool_loops(hb_pool *pool);

/* From a sink's `inbox` or `flush`: the index of the loop thread calling
 * it (0 .. loops-1), so a sink can keep per-loop state without a lock.
 * Not from `event`: events also come from the threads that call
 * hb_pool_connect, hb_pool_send and the like (0 there, meaning nothing). */
HB_EXPORT uint32_t hb_pool_current_loop(void);

/*
 * Stop the loop threads and free everything. Workers still running are
 * stopped without events. Sets *pool to NULL. Not from the loop thread.
 */
HB_EXPORT void hb_pool_destroy(hb_pool **pool);

#ifdef __cplusplus
}
#endif
#endif
