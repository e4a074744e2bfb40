/*
 * schema.c: the configuration table and the loops it drives.
 *
 * hb__cfg_keys is the single source of truth for every key of SPEC.md
 * section 3 plus the bridge queue bounds: type, default, bounds, flags
 * (HB__F_RESTART marks what only a restart applies), check, unit,
 * environment variable and documentation. The functions below set, check,
 * default, copy, compare and free a field knowing only its row; what
 * differs by type is in that type's interface (types.c), what a row checks
 * beyond its bounds in checks.c. Adding a key is adding a row (and a field
 * in config.h). Pure functions on caller-owned data; any thread.
 */
#include "config/schema.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(hb_log_level) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(hb_log_format) == sizeof(int), "enums are stored as int");

#define NS(x)        ((double)(x)*1e9)
#define MAX_DURATION NS(8760.0 * 3600.0) /* one year: deadlines never overflow */
#define GIB          (1024.0 * 1024.0 * 1024.0)

static const char *const s_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const s_formats[] = {"text", "json", NULL};

#define BR(field)        HB__S_BRIDGE, #field, 0, offsetof(hb_bridge_cfg, field), 0
#define BRF(path, field) HB__S_BRIDGE, path, 0, offsetof(hb_bridge_cfg, field), 0
#define BRN(path, field, count) \
    HB__S_BRIDGE, path, 0, offsetof(hb_bridge_cfg, field), offsetof(hb_bridge_cfg, count)
#define PW(path, field) HB__S_POOLWIDE, path, 0, offsetof(hb_pool_wide_cfg, field), 0
#define PWN(path, field, count) \
    HB__S_POOLWIDE, path, 0, offsetof(hb_pool_wide_cfg, field), offsetof(hb_pool_wide_cfg, count)
#define PO(path, field) HB__S_POOL, path, 0, offsetof(hb_peer_opts, field), 0
#define PE(field)       HB__S_PEER, #field, 0, offsetof(hb_peer_cfg, field), 0
#define PEN(field, count) \
    HB__S_PEER, #field, 0, offsetof(hb_peer_cfg, field), offsetof(hb_peer_cfg, count)
#define LO(field) HB__S_LOG, #field, 0, offsetof(hb_log_cfg, field), 0

/* Each row reads: where (section, path, field), type, default, min, max,
 * flags, choices, check (a function of checks.c, or NULL), unit, env, doc. R() is variadic so that
 * the helper macros (BR, PO, POS_DURATION...) expand into their several columns first. */
#define R(...) ROW(__VA_ARGS__)
#define ROW(sec, path_, zero, off_, coff, t, def_, mn, mx, fl, ch, chk, unit_, env_, doc_)     \
    {                                                                                          \
        .section = sec, .path = path_, .type = t, .off = off_, .count_off = coff, .def = def_, \
        .min = mn, .max = mx, .flags = fl, .choices = ch, .check = chk, .unit = unit_,         \
        .env = env_, .doc = doc_                                                               \
    }

#define POS_DURATION    0, MAX_DURATION, HB__F_MIN | HB__F_MIN_EXCL | HB__F_MAX
#define NONNEG_DURATION 0, MAX_DURATION, HB__F_MIN | HB__F_MAX

const hb__cfg_key hb__cfg_keys[] = {
    /* ---- bridge ---- */
    R(BR(inbox), HB__T_STRING, "tcp://127.0.0.1:5550", 0, 0, HB__F_RESTART, NULL,
      hb__cfg_check_endpoint, "endpoint", "HONEYBEE_INBOX",
      "PUB socket: one multipart message [peer id, payload, metadata] per WebSocket "
      "message received from any peer. Any ZeroMQ endpoint (tcp://, ipc://)."),
    R(BR(events), HB__T_STRING, "tcp://127.0.0.1:5551", 0, 0, HB__F_RESTART, NULL,
      hb__cfg_check_endpoint, "endpoint", "HONEYBEE_EVENTS",
      "PUB socket: lifecycle events [kind, peer id, JSON] of every peer."),
    R(BR(send), HB__T_STRING, "tcp://127.0.0.1:5552", 0, 0, HB__F_RESTART, NULL,
      hb__cfg_check_endpoint, "endpoint", "HONEYBEE_SEND",
      "PULL socket: messages [peer id, payload(, text|binary)] to write to a peer."),
    R(BR(control), HB__T_STRING, "tcp://127.0.0.1:5553", 0, 0, HB__F_RESTART, NULL,
      hb__cfg_check_endpoint, "endpoint", "HONEYBEE_CONTROL",
      "REP socket: JSON commands connect, remove, send, list, stats, ping."),
    R(BR(http), HB__T_STRING, "127.0.0.1:8080", 0, 0, HB__F_RESTART, NULL, hb__cfg_check_http,
      "host:port", "HONEYBEE_HTTP",
      "HTTP server for /healthz, /readyz and /metrics; \"\" disables it."),
    R(BR(inbox_hwm), HB__T_INT, "100000", 0, INT_MAX, HB__F_MIN | HB__F_MAX | HB__F_RESTART, NULL,
      NULL, "messages", NULL,
      "ZMQ_SNDHWM of the inbox socket: messages queued per subscriber before ZeroMQ drops "
      "(a gap in seq shows it); 0 = unlimited."),
    R(BR(events_hwm), HB__T_INT, "100000", 0, INT_MAX, HB__F_MIN | HB__F_MAX | HB__F_RESTART, NULL,
      NULL, "messages", NULL, "ZMQ_SNDHWM of the events socket; 0 = unlimited."),
    R(BRF("drain_timeout", drain_timeout_ns), HB__T_DURATION, "5s", NONNEG_DURATION | HB__F_RESTART,
      NULL, NULL, "duration", NULL,
      "Graceful shutdown budget for writing out queued messages before peers are closed."),
    R(BR(events_queue), HB__T_U32, "65536", 1, 0, HB__F_MIN | HB__F_RESTART, NULL, NULL, "events",
      NULL,
      "Events handed from the loop thread to the ZeroMQ thread; send_failed and dial_failed "
      "may fill three quarters (the rest is kept for lifecycle events)."),
    R(BR(control_queue), HB__T_U32, "65536", 1, 0, HB__F_MIN | HB__F_RESTART, NULL, NULL,
      "commands", NULL,
      "Bound of the pool's command doorway: connect, remove and send commands from the "
      "ZeroMQ thread waiting for the WebSocket loop thread."),
    R(BR(max_handshakes), HB__T_U32, "128", 1, 0, HB__F_MIN | HB__F_RESTART, NULL, NULL, "dials",
      NULL,
      "Dials in their handshake at once; more wait their turn (a cold start with thousands "
      "of peers stays fast and its memory compact). A peer that hangs in its handshake "
      "holds a slot until connect_timeout."),
    R(BR(http_max_connections), HB__T_U32, "64", 1, 65536, HB__F_MIN | HB__F_MAX | HB__F_RESTART,
      NULL, NULL, "connections", NULL,
      "HTTP connections open at once; one more closes the oldest, so a client that opens "
      "many cannot lock out the next probe."),
    R(BRF("http_read_timeout", http_read_timeout_ns), HB__T_DURATION, "5s",
      POS_DURATION | HB__F_RESTART, NULL, NULL, "duration", NULL,
      "Time an HTTP client has, from connecting, to send its request; then it is cut."),
    R(BRF("http_write_timeout", http_write_timeout_ns), HB__T_DURATION, "30s",
      POS_DURATION | HB__F_RESTART, NULL, NULL, "duration", NULL,
      "Time an HTTP client has to take the whole response (/metrics is about 620 bytes per "
      "peer); then it is cut."),
    R(BRF("curve.server_cert", curve.server_cert), HB__T_OPTSTR, "", 0, 0, HB__F_RESTART, NULL,
      hb__cfg_check_file, "path", NULL,
      "The bridge's czmq certificate with its secret key (honeybee-cli keygen; the _secret "
      "file). Set, every ZeroMQ socket is a CURVE server and only the clients of readers "
      "and writers get in; \"\" = plain TCP (docs/security.md)."),
    R(BRF("curve.readers", curve.readers), HB__T_OPTSTR, "", 0, 0, 0, NULL, hb__cfg_check_dir,
      "path", NULL,
      "Directory of the client certificates (czmq, public) allowed on inbox and events; "
      "required with server_cert. Re-read when it changes and on SIGHUP."),
    R(BRF("curve.writers", curve.writers), HB__T_OPTSTR, "", 0, 0, 0, NULL, hb__cfg_check_dir,
      "path", NULL,
      "Directory of the client certificates allowed on send and control (who steers the "
      "bridge); required with server_cert. Re-read when it changes and on SIGHUP."),
    R(BRN("curve.allow", curve.allow, curve.n_allow), HB__T_STRLIST, "", 0, 0, 0, NULL,
      hb__cfg_check_networks, "list", NULL,
      "Client addresses (192.0.2.7, 10.0.0.0/8, fd00::/8) admitted on every ZeroMQ socket, "
      "with or without CURVE; empty: any. Reloaded on SIGHUP."),
    R(BRN("curve.deny", curve.deny, curve.n_deny), HB__T_STRLIST, "", 0, 0, 0, NULL,
      hb__cfg_check_networks, "list", NULL,
      "Client addresses refused on every ZeroMQ socket (checked before allow). Reloaded on "
      "SIGHUP."),

    R(BR(shard), HB__T_STRING, "0/1", 0, 0, HB__F_RESTART, NULL, hb__cfg_check_shard, "I/N",
      "HONEYBEE_SHARD",
      "This replica owns the peers whose shard (a hash of the id, docs/protocol.md "
      "\"Sharding\") is I of N, from the file and from control connect; the others are "
      "skipped. \"auto/N\" takes I from HOSTNAME's trailing -<ordinal> (a StatefulSet "
      "pod). \"0/1\" = every peer."),

    /* ---- pool (and every peer) ---- */
    R(PO("connect_timeout", connect_timeout_ns), HB__T_DURATION, "10s", POS_DURATION, NULL, NULL,
      "duration", NULL, "Time allowed for TCP, TLS and the WebSocket handshake of one dial."),
    R(PO("reconnect.initial_delay", reconnect.initial_delay_ns), HB__T_DURATION, "1s", POS_DURATION,
      NULL, NULL, "duration", NULL,
      "Delay after the first failure; the n-th failure waits initial_delay * multiplier^(n-1)."),
    R(PO("reconnect.max_delay", reconnect.max_delay_ns), HB__T_DURATION, "30s", POS_DURATION, NULL,
      NULL, "duration", NULL, "Cap of the backoff delay, before jitter."),
    R(PO("reconnect.multiplier", reconnect.multiplier), HB__T_DOUBLE, "2.0", 1, 0, HB__F_MIN, NULL,
      NULL, "factor", NULL, "Growth of the delay per consecutive failure."),
    R(PO("reconnect.jitter", reconnect.jitter), HB__T_DOUBLE, "0.2", 0, 1, HB__F_MIN | HB__F_MAX,
      NULL, NULL, "fraction", NULL,
      "Each delay is scaled by a random factor in [1-jitter, 1+jitter]."),
    R(PO("reconnect.max_retries", reconnect.max_retries), HB__T_U32, "0", 0, 0, HB__F_MIN, NULL,
      NULL, "dials", NULL,
      "Give up (event removed, reason max_retries) after 1 + max_retries consecutive failed "
      "dials; 0 = retry forever."),
    R(PO("reconnect.stable_after", reconnect.stable_after_ns), HB__T_DURATION, "10s",
      NONNEG_DURATION, NULL, NULL, "duration", NULL,
      "A connection up this long resets the backoff and is redialled at once when it closes; 0 "
      "means initial_delay (a connection closed sooner still backs off)."),
    R(PO("keepalive.ping_interval", keepalive.ping_interval_ns), HB__T_DURATION, "20s",
      NONNEG_DURATION, NULL, NULL, "duration", NULL,
      "WebSocket ping after this long without receiving anything; 0 disables."),
    R(PO("keepalive.timeout", keepalive.timeout_ns), HB__T_DURATION, "60s", NONNEG_DURATION, NULL,
      NULL, "duration", NULL,
      "No frame or pong for this long: the connection is replaced (reason keepalive); 0 "
      "disables."),
    R(PO("keepalive.stall_timeout", keepalive.stall_timeout_ns), HB__T_DURATION, "0s",
      NONNEG_DURATION, NULL, NULL, "duration", NULL,
      "No data message for this long (pongs do not count): the connection is replaced "
      "(reason stall); 0 disables."),
    R(PO("keepalive.app_ping", keepalive.app_ping), HB__T_OPTSTR, "", 0, 0, 0, NULL,
      hb__cfg_check_utf8, "text", NULL,
      "If set, this text message is also sent every ping_interval; at most max_message_size."),
    R(PO("write_timeout", write_timeout_ns), HB__T_DURATION, "10s", POS_DURATION, NULL, NULL,
      "duration", NULL,
      "A write that cannot complete for this long closes the connection (reason write_timeout)."),
    R(PO("max_message_size", max_message_size), HB__T_SIZE, "16MiB", 1, 2 * GIB,
      HB__F_MIN | HB__F_MAX, NULL, NULL, "size", NULL,
      "Larger inbound message: close 1009 and reconnect; larger outbound message: refused "
      "with too_large."),
    R(PO("send_queue", send_queue), HB__T_U32, "1024", 1, 0, HB__F_MIN, NULL, NULL, "messages",
      NULL, "Per-peer outbound queue; a send to a full queue is refused (queue_full)."),
    R(PO("send_queue_bytes", send_queue_bytes), HB__T_SIZE, "64MiB", 1, 1024 * GIB,
      HB__F_MIN | HB__F_MAX, NULL, NULL, "size", NULL,
      "Per-peer outbound queue in payload bytes; a send that would pass it is refused "
      "(queue_full). An empty queue always takes one message (up to max_message_size)."),
    R(PO("tls.verify", tls.verify), HB__T_BOOL, "true", 0, 0, 0, NULL, NULL, "bool", NULL,
      "Verify the server certificate and host name (wss:// only)."),
    R(PO("tls.ca_file", tls.ca_file), HB__T_OPTSTR, "", 0, 0, 0, NULL, hb__cfg_check_pem, "path",
      NULL, "Extra CA bundle (PEM) trusted besides the system store; \"\" = none."),
    R(PO("tls.cert_file", tls.cert_file), HB__T_OPTSTR, "", 0, 0, 0, NULL, hb__cfg_check_pem,
      "path", NULL, "Client certificate (PEM); \"\" = none."),
    R(PO("tls.key_file", tls.key_file), HB__T_OPTSTR, "", 0, 0, 0, NULL, hb__cfg_check_pem, "path",
      NULL, "Private key of the client certificate (PEM); \"\" = none."),

    /* ---- pool, pool-wide: no peer or connect overrides these ---- */
    R(PWN("allow", allow, n_allow), HB__T_STRLIST, "", 0, 0, 0, NULL, hb__cfg_check_allow, "list",
      NULL,
      "URLs peers may dial, from the file and from control connect: rules such as "
      "wss://*.example.com, ws://10.0.0.0/8:8080, relay.example.com:443 or *; empty: any. "
      "A file peer outside them fails --check, a connect answers not_allowed."),
    R(PW("allow_private", allow_private), HB__T_BOOL, "true", 0, 0, 0, NULL, NULL, "bool", NULL,
      "false: control connect refuses (not_allowed) hosts written as loopback, private or "
      "link-local addresses (127.0.0.1, 10.x, 169.254.169.254, fd00::, localhost), and a "
      "name it accepted is dialled only at a public address: one whose every address is "
      "private fails the dial (dial_failed), and the address connected to is the one "
      "checked (docs/security.md). File peers are not affected."),

    R(PW("loops", loops), HB__T_AUTO_U32, "auto", 1, HB_POOL_MAX_LOOPS,
      HB__F_MIN | HB__F_MAX | HB__F_RESTART, NULL, NULL, "threads", NULL,
      "WebSocket loop threads; each peer lives on one, chosen by a hash of its id "
      "(docs/operations.md). auto = the CPUs the process may use (affinity, and the "
      "cgroup CPU quota) minus one (left to ZeroMQ), at least 1. Read at start only: a "
      "change needs a restart."),

    /* ---- peer only ---- */
    R(PE(id), HB__T_STRING, NULL, 0, 0, HB__F_REQUIRED | HB__F_IDENTITY, NULL,
      hb__cfg_check_peer_id, "text", NULL,
      "Unique peer id, 1..128 bytes of UTF-8, no \"*\", no control characters. Frame 0 of "
      "every inbox message."),
    R(PE(url), HB__T_STRING, NULL, 0, 0, HB__F_REQUIRED | HB__F_IDENTITY, NULL, hb__cfg_check_url,
      "URL", NULL,
      "ws:// or wss:// URL with a host, optional port, path and query; at most 2048 bytes."),
    R(PEN(headers, n_headers), HB__T_HEADERS, NULL, 0, 0, 0, NULL, hb__cfg_check_headers, "map",
      NULL, "Extra HTTP headers of the WebSocket handshake, name: value."),
    R(PEN(subprotocols, n_subprotocols), HB__T_STRLIST, NULL, 0, 0, 0, NULL, hb__cfg_check_tokens,
      "list", NULL, "Sec-WebSocket-Protocol values offered in the handshake."),
    R(PEN(on_connect, n_on_connect), HB__T_STRLIST, NULL, 0, 0, 0, NULL, hb__cfg_check_utf8, "list",
      NULL, "Text messages written, in order, after every (re)connect and before any queued send."),

    /* ---- log ---- */
    R(LO(level), HB__T_ENUM, "info", 0, 0, HB__F_RESTART, s_levels, NULL, "error|warn|info|debug",
      "HONEYBEE_LOG_LEVEL", "Records above this level are not even formatted."),
    R(LO(format), HB__T_ENUM, "text", 0, 0, HB__F_RESTART, s_formats, NULL, "text|json",
      "HONEYBEE_LOG_FORMAT", "One line per record on stderr: text, or JSON lines."),
};

const size_t hb__cfg_nkeys = sizeof hb__cfg_keys / sizeof hb__cfg_keys[0];

static const char *const s_section_names[HB__S__COUNT] = {"bridge", "pool", "peers", "log", "pool"};
static const size_t s_section_sizes[HB__S__COUNT] = {sizeof(hb_bridge_cfg), sizeof(hb_peer_opts),
                                                     sizeof(hb_peer_cfg), sizeof(hb_log_cfg),
                                                     sizeof(hb_pool_wide_cfg)};

size_t hb__cfg_section_size(hb__cfg_section s)
{
    return (unsigned)s < HB__S__COUNT ? s_section_sizes[s] : 0;
}

const char *hb__cfg_section_name(hb__cfg_section s)
{
    return (unsigned)s < HB__S__COUNT ? s_section_names[s] : "?";
}

void *hb__cfg_field(const hb__cfg_key *k, void *base)
{
    return (char *)base + k->off;
}

static const hb__cfg_type_ops *s_type(const hb__cfg_key *k)
{
    return &hb__cfg_types[k->type];
}

/* ---- ranges ----------------------------------------------------------------- */

/* "must be between 0 and 1", "must be greater than 0", ... */
static void s_range_text(const hb__cfg_key *k, char *out, size_t cap, double repr_min,
                         double repr_max)
{
    char lo[48], hi[48];
    bool has_min = true, has_max = true;
    double mn = repr_min, mx = repr_max;
    if (k->flags & HB__F_MIN) mn = k->min;
    if (k->flags & HB__F_MAX) mx = k->max;
    if (!(k->flags & HB__F_MIN) && isinf(repr_min)) has_min = false;
    if (!(k->flags & HB__F_MAX) && isinf(repr_max)) has_max = false;
    s_type(k)->bound_text(mn, lo, sizeof lo);
    s_type(k)->bound_text(mx, hi, sizeof hi);
    if (k->flags & HB__F_MIN_EXCL) {
        if (has_max)
            snprintf(out, cap, "must be greater than %s and at most %s", lo, hi);
        else
            snprintf(out, cap, "must be greater than %s", lo);
    } else if (has_min && has_max) {
        snprintf(out, cap, "must be between %s and %s", lo, hi);
    } else if (has_min) {
        snprintf(out, cap, "must be at least %s", lo);
    } else {
        snprintf(out, cap, "must be at most %s", hi);
    }
}

void hb__cfg_range_error(const hb__cfg_key *k, bool repr, const char *file, int line,
                         const char *key, hb__errs *errs)
{
    char text[160];
    double mn = repr ? s_type(k)->repr_min : -INFINITY;
    double mx = repr ? s_type(k)->repr_max : INFINITY;
    s_range_text(k, text, sizeof text, mn, mx);
    hb__errs_add(errs, file, line, key, "%s", text);
}

/* ---- set and check ---------------------------------------------------------- */

bool hb__cfg_set(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                 const char *key, hb__errs *errs)
{
    return s_type(k)->set(k, base, v, file, key, errs);
}

/* The row's bounds, for types that have a number. */
static bool s_in_bounds(const hb__cfg_key *k, const void *f)
{
    const hb__cfg_type_ops *t = s_type(k);
    if (!(k->flags & (HB__F_MIN | HB__F_MAX)) || !t->number) return true;
    double v = t->number(f);
    if (k->flags & HB__F_MIN) {
        if ((k->flags & HB__F_MIN_EXCL) ? !(v > k->min) : v < k->min) return false;
    }
    if (k->flags & HB__F_MAX) {
        if (v > k->max || (t->above && t->above(f, k->max))) return false;
    }
    return true;
}

bool hb__cfg_check_value(const hb__cfg_key *k, const void *base, const char *file, int line,
                         const char *key, hb__errs *errs)
{
    if (!s_in_bounds(k, (const char *)base + k->off)) {
        hb__cfg_range_error(k, false, file, line, key, errs);
        return false;
    }
    return !k->check || k->check(k, base, file, line, key, errs);
}

/* ---- defaults, free, copy, equal ------------------------------------------------ */

int hb__cfg_section_defaults(hb__cfg_section section, void *base)
{
    memset(base, 0, s_section_sizes[section]);
    hb__errs errs = {0};
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (k->section != section || !k->def) continue;
        hb__node v = {
            .kind = HB__N_SCALAR, .plain = true, .text = (char *)k->def, .len = strlen(k->def)};
        if (!hb__cfg_set(k, base, &v, NULL, k->path, &errs)) {
            /* A default that does not parse is a bug in the table (a unit test
             * loads every default), or memory ran out. */
            assert(errs.oom);
            hb__errs_free(&errs);
            hb__cfg_section_free(section, base);
            return HB_E_NOMEM;
        }
    }
    hb__errs_free(&errs);
    return 0;
}

void hb__cfg_section_free(hb__cfg_section section, void *base)
{
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (k->section == section && s_type(k)->free) s_type(k)->free(k, base);
    }
}

int hb__cfg_section_copy(hb__cfg_section section, void *dst, const void *src)
{
    memcpy(dst, src, s_section_sizes[section]);
    /* First detach every owned pointer, so that a failure part-way frees
     * only copies. */
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (k->section != section || !s_type(k)->copy) continue;
        *(void **)hb__cfg_field(k, dst) = NULL;
        if (s_type(k)->counted) *(size_t *)((char *)dst + k->count_off) = 0;
    }
    bool ok = true;
    for (size_t i = 0; i < hb__cfg_nkeys && ok; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (k->section == section && s_type(k)->copy) ok = s_type(k)->copy(k, dst, src);
    }
    if (!ok) {
        hb__cfg_section_free(section, dst);
        return HB_E_NOMEM;
    }
    return 0;
}

bool hb__cfg_key_equal(const hb__cfg_key *k, const void *a, const void *b)
{
    return s_type(k)->equal(k, a, b);
}

bool hb__cfg_section_equal(hb__cfg_section section, const void *a, const void *b)
{
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (k->section == section && !hb__cfg_key_equal(k, a, b)) return false;
    }
    return true;
}

void *hb__cfg_section_base(hb_config *cfg, int section)
{
    switch (section) {
    case HB__S_BRIDGE:
        return &cfg->bridge;
    case HB__S_POOL:
        return &cfg->pool;
    case HB__S_LOG:
        return &cfg->log;
    case HB__S_POOLWIDE:
        return &cfg->pool_wide;
    default:
        return NULL;
    }
}
