/*
 * bridge.h: the ZeroMQ side of honeybee-bridge, the daemon's library
 * (src/bridge, built as honeybee_bridge; not part of libhoneybee).
 *
 * One "bridge thread" binds the four ZeroMQ sockets of SPEC.md section 1
 * and owns three of them (events PUB, send PULL, control REP) and an
 * eventfd in one zmq_poll loop (bridge.c). The inbox PUB is lent to the
 * pool's loop thread, which publishes the messages of each loop turn in one
 * burst from the sink's flush (inbox.c). The sink hands events over through
 * a bounded intrusive queue and wakes the bridge thread once per batch
 * (events.c). The send PULL is send.c, the control REP control.c.
 *
 * The pure pieces (metadata frame, event JSON, control request parsing,
 * base64, Prometheus text) are declared here too so unit tests reach them.
 */
#ifndef HB_BRIDGE_BRIDGE_H
#define HB_BRIDGE_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "honeybee/config.h"
#include "honeybee/pool.h"

#include "core/shard.h"

#define HB__META_LEN     24
#define HB__META_VERSION 1
/* Inbox messages the loop thread collects at most before it publishes them
 * in one burst (it also publishes at the end of every loop turn). */
#define HB__INBOX_BURST 64

/* The four sockets, in the order of SPEC.md section 1 (metrics labels). */
typedef enum hb__zsock {
    HB__ZS_INBOX = 0,
    HB__ZS_EVENTS,
    HB__ZS_SEND,
    HB__ZS_CONTROL,
    HB__ZS__COUNT
} hb__zsock;
extern const char *const hb__zsock_names[HB__ZS__COUNT];

/* How a client's handshake failed (ZeroMQ's socket monitor): refused by
 * the ZAP handler, a protocol error (a wrong server key, a NULL client on
 * a CURVE socket, garbage), or without detail (a client that vanished). */
typedef enum hb__hs_fail {
    HB__HS_AUTH = 0,
    HB__HS_PROTOCOL,
    HB__HS_OTHER,
    HB__HS__COUNT
} hb__hs_fail;
extern const char *const hb__hs_fail_names[HB__HS__COUNT];

/* Counters the bridge keeps itself (not the pool's). Snapshot, any thread. */
typedef struct hb__bridge_counters {
    uint64_t inbox_published;             /* messages written to the inbox PUB */
    uint64_t inbox_after_close;           /* messages that came while the inbox PUB was closed */
    uint64_t events_published;            /* events written to the events PUB */
    uint64_t events_dropped;              /* events lost because the events hand-off was full */
    uint64_t send_received;               /* messages read from the send PULL */
    uint64_t control_requests;            /* requests answered on the control REP */
    uint64_t control_errors[HB_E__COUNT]; /* of them, answered with each error code */
    bool auth;                            /* bridge.curve asks for ZAP: the next two are rendered */
    uint64_t handshake_failed[HB__ZS__COUNT][HB__HS__COUNT];
    uint64_t auth_denied[2][3];          /* [readers|writers][address|key|mechanism], auth.h */
    uint64_t disconnects[HB__ZS__COUNT]; /* client connections that ended */
    hb__shard shard;                     /* bridge.shard: honeybee_shard_info */
} hb__bridge_counters;

/* ---- pure helpers (wire.c, metrics.c); any thread ------------------------ */

/* The 24-byte metadata frame of the inbox socket (SPEC.md section 4). */
void hb__meta_encode(uint8_t out[HB__META_LEN], uint8_t flags, uint32_t conn, uint64_t seq,
                     uint64_t received_ns);

/*
 * The per-peer counter families of SPEC.md section 8, one table for both
 * renderings: /metrics names each "honeybee_" + key, the control op
 * `stats` uses the key itself. (send_failed, which has a reason label, is
 * rendered apart.)
 */
typedef struct hb__counter_family {
    const char *key; /* "messages_received_total" */
    const char *help;
    uint64_t (*get)(const hb_counters *c);
} hb__counter_family;
extern const hb__counter_family hb__counter_families[];
extern const size_t hb__n_counter_families;

/* The JSON object of the events socket's frame 2. Caller frees. NULL on ENOMEM. */
char *hb__event_json(const hb_event *e);

typedef enum hb__ctl_op {
    HB__OP_CONNECT = 0,
    HB__OP_REMOVE,
    HB__OP_SEND,
    HB__OP_LIST,
    HB__OP_STATS,
    HB__OP_PING,
} hb__ctl_op;

/* A parsed control request. Strings point into `root` (owned). */
typedef struct hb__ctl_req {
    hb__ctl_op op;
    bool op_known; /* `op` was read: also kept when a later field was wrong */
    json_t *root;
    const char *id; /* NULL if absent (stats) */
    size_t id_len;
    const char *url;
    size_t url_len; /* may differ from strlen(url): JSON_ALLOW_NUL */
    char *options;  /* connect: the options object as JSON text (malloc'd), or NULL */
    const char *data;
    size_t data_len;
    bool binary;
} hb__ctl_req;

/* The most structural marks ('[', '{', ',', ':' outside strings) a control
 * request may hold. Each JSON value but the first follows one, so a request
 * holds at most this many plus one values. jansson builds about 250 bytes
 * per value: 16 MiB of "[{},{},..." would cost 1.2 GB and seconds of the
 * bridge thread, so more marks than this are refused before anything is
 * built (about 2 MiB at most). */
#define HB__CTL_MAX_MARKS 8192

/*
 * Parse one control request frame. Returns 0 and fills *req (release with
 * hb__ctl_req_free), or an hb_err (HB_E_BAD_REQUEST, HB_E_UNKNOWN_OP,
 * HB_E_INVALID_OPTION) with a message for a person in msg; then only
 * req->op and req->op_known are kept (the op of a request refused later).
 */
int hb__ctl_parse(const void *buf, size_t len, hb__ctl_req *req, char *msg, size_t cap);
void hb__ctl_req_free(hb__ctl_req *req);

/* {"ok":false,"error":CODE,"message":MSG} as text. Caller frees. */
char *hb__ctl_error_reply(int err, const char *message);

/*
 * Strict base64 (RFC 4648 alphabet; padding optional, no whitespace).
 * Returns 0 and a malloc'd *out, or HB_E_BAD_REQUEST.
 */
int hb__base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len);

/*
 * Prometheus text of SPEC.md section 8 from a stats snapshot and a peer
 * list (sorted by id). `bc` may be NULL. Caller frees. NULL on ENOMEM.
 */
char *hb__metrics_render(const hb_pool_stats *st, const hb_peer_info *peers, size_t n,
                         const hb__bridge_counters *bc);

/* The JSON objects of the control ops `list` and `stats`. Caller owns. */
json_t *hb__peer_info_json(const hb_peer_info *p);
json_t *hb__stats_json(const hb_pool_stats *st);
json_t *hb__peer_stats_json(const hb_peer_info *p);

/*
 * Execute one control request against the pool and return the reply text
 * (caller frees; never NULL unless out of memory). `policy` (may be NULL:
 * everything allowed) is what a `connect` may dial. `defaults` is the `pool`
 * section a `connect`'s options merge into. `shard` is this process's
 * (bridge.shard): a `connect` of another shard's peer answers wrong_shard
 * naming the owner, `list` and `stats` say which shard answered.
 * `shutting_down` makes connect, remove and send answer shutting_down.
 * *result is 0 or the reply's error code (the bridge counts them). A
 * malformed `send` counts in send_failed{bad_request}, as on the send
 * socket. `touched` (may be NULL; HB__CTL_ID_CAP bytes) gets the id of a
 * `connect` or `remove` the pool accepted, else "". Runs on the bridge
 * thread.
 */
#define HB__CTL_ID_CAP 129 /* a peer id (at most 128 bytes) and its NUL */
char *hb__ctl_handle(hb_pool *pool, const hb_peer_opts *defaults, const hb_pool_wide_cfg *policy,
                     hb__shard shard, bool shutting_down, const void *buf, size_t len,
                     const hb_logger *lg, int *result, char *touched);

/* A deep copy of the pool-wide keys (pool.allow, pool.allow_private) for
 * the bridge thread; NULL on ENOMEM. */
hb_pool_wide_cfg *hb__policy_copy(const hb_pool_wide_cfg *pw);
void hb__policy_free(hb_pool_wide_cfg **pw);

/* A deep copy of a `pool` section (the defaults of control `connect`) for
 * the bridge thread; NULL on ENOMEM. Any thread. */
hb_peer_opts *hb__defaults_copy(const hb_peer_opts *po);
void hb__defaults_free(hb_peer_opts **po);

/* ---- the bridge ---------------------------------------------------------- */

typedef struct hb__bridge hb__bridge;

/*
 * Allocate a bridge (queues, eventfd; no thread, no socket yet). `cfg` must
 * outlive the bridge (its `bridge` strings are borrowed); a copy of its
 * `pool` section is the first defaults of control `connect` (a reload
 * hands newer ones over, hb__bridge_set_pool); its largest
 * max_message_size sizes ZMQ_MAXMSGSIZE of the PULL and REP sockets.
 * Main thread.
 */
int hb__bridge_new(const hb_config *cfg, const hb_logger *lg, hb__bridge **out);

/* The sink to give to hb_pool_new. Its callbacks run on the pool's threads. */
hb_sink hb__bridge_sink(hb__bridge *b);

/*
 * Start the bridge thread, which creates and binds the four sockets. Blocks
 * until they are bound. Returns 0, or HB_E_BIND with a message naming the
 * endpoint and zmq_strerror in `err` (the thread is then gone). Main thread.
 */
int hb__bridge_start(hb__bridge *b, hb_pool *pool, char *err, size_t cap);

/*
 * Graceful shutdown, step 1: stop reading the send socket and answer
 * connect/remove/send with shutting_down. Returns once the bridge thread
 * has acknowledged, so every send read before is already queued in the
 * pool. Main thread.
 */
void hb__bridge_begin_shutdown(hb__bridge *b);

/*
 * Step 2 (after hb_pool_shutdown): publish every event still in the
 * hand-off queue, close the sockets (the inbox one taken back from the loop
 * thread) with a bounded linger, join the thread.
 */
void hb__bridge_finish(hb__bridge *b);

/* The ZAP handler and CURVE keys (auth.h), taken over; before start. */
struct hb__auth;
void hb__bridge_set_auth(hb__bridge *b, struct hb__auth *auth);

/* Client key stores reloaded from a new configuration (SIGHUP), taken
 * over; the bridge thread applies them. HB_E_INVALID (stores freed) when
 * the bridge started without a ZAP handler: then only a restart adds one.
 * Main thread. */
struct hb__auth_stores;
int hb__bridge_reload_auth(hb__bridge *b, struct hb__auth_stores **s);

/* What a reload read of the `pool` section: `defaults`, the section a later
 * control `connect`'s options merge into, and `pw`, the pool-wide keys
 * (pool.allow, pool.allow_private). Both copied and handed over together;
 * the bridge thread applies them before its next control request. The
 * configuration given to hb__bridge_new is the first. Returns 0, or
 * HB_E_NOMEM with nothing changed. Main thread. */
int hb__bridge_set_pool(hb__bridge *b, const hb_peer_opts *defaults, const hb_pool_wide_cfg *pw);

/* Free everything (after hb_pool_destroy: the sink must be idle). */
void hb__bridge_destroy(hb__bridge **b);

/* Monotonic ns of the bridge thread's last turn (for /healthz). Any thread. */
uint64_t hb__bridge_heartbeat(hb__bridge *b);

/* True once the bridge thread stopped on a runtime failure. Any thread. */
bool hb__bridge_failed(hb__bridge *b);

void hb__bridge_counters_get(hb__bridge *b, hb__bridge_counters *out);

/*
 * The daemon's hook on the bridge thread (reload's pending reconnects wait
 * for a peer's `removed` event, which this thread publishes). The bridge
 * thread calls it after a turn in which a `removed` event went out, on its
 * next turn after hb__bridge_poke, and every 50 ms for as long as it
 * returns true (work left). It runs on the bridge thread and must not
 * block. Set it on the main thread before hb__bridge_start.
 */
typedef bool (*hb__bridge_hook)(void *ud, bool removed);
void hb__bridge_set_hook(hb__bridge *b, hb__bridge_hook fn, void *ud);

/*
 * The daemon's second hook, with the same `ud` as the first: a control
 * `connect` or `remove` of `id` succeeded (called before its reply is
 * sent). The daemon stops treating a file peer of that id as its own.
 * Bridge thread; must not block. Set on the main thread before start.
 */
typedef void (*hb__bridge_ctl_hook)(void *ud, const char *id);
void hb__bridge_set_ctl_hook(hb__bridge *b, hb__bridge_ctl_hook fn);

/* Have the bridge thread call the hook on its next turn. Any thread. */
void hb__bridge_poke(hb__bridge *b);

/* Socket limits derived from the largest max_message_size (documented in
 * docs/operations.md): ZMQ_RCVHWM of the send PULL and ZMQ_MAXMSGSIZE of
 * the control REP. Pure. */
int hb__bridge_send_rcvhwm(uint64_t max_msg);
int64_t hb__bridge_control_maxmsg(uint64_t max_msg);

#endif
