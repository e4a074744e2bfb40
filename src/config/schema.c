/*
 * schema.c: the configuration table and the per-key operations it drives.
 *
 * hb__cfg_keys is the single source of truth for every key of SPEC.md
 * section 3 plus the bridge queue bounds: type, default, bounds, check,
 * unit, environment variable and documentation. The functions below set,
 * check, default, copy, compare and free a field knowing only its row, so
 * adding a key is adding a row (and a field in config.h). Pure functions on
 * caller-owned data; any thread.
 */
#include "config/schema.h"

#include "core/units.h"
#include "core/url.h"
#include "core/utf8.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

_Static_assert(sizeof(hb_log_level) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(hb_log_format) == sizeof(int), "enums are stored as int");

#define NS(x)        ((double)(x)*1e9)
#define MAX_DURATION NS(8760.0 * 3600.0) /* one year: deadlines never overflow */
#define GIB          (1024.0 * 1024.0 * 1024.0)

static const char *const s_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const s_formats[] = {"text", "json", NULL};

#define BR(field)        HB__S_BRIDGE, #field, 0, offsetof(hb_bridge_cfg, field), 0
#define BRF(path, field) HB__S_BRIDGE, path, 0, offsetof(hb_bridge_cfg, field), 0
#define PO(path, field)  HB__S_POOL, path, 0, offsetof(hb_peer_opts, field), 0
#define PE(field)        HB__S_PEER, #field, 0, offsetof(hb_peer_cfg, field), 0
#define PEN(field, count) \
    HB__S_PEER, #field, 0, offsetof(hb_peer_cfg, field), offsetof(hb_peer_cfg, count)
#define LO(field) HB__S_LOG, #field, 0, offsetof(hb_log_cfg, field), 0

/* Each row reads: where (section, path, field), type, default, min, max,
 * flags, choices, check, unit, env, doc. R() is variadic so that the helper
 * macros (BR, PO, POS_DURATION...) expand into their several columns first. */
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
    R(BR(inbox), HB__T_STRING, "tcp://127.0.0.1:5550", 0, 0, 0, NULL, HB__C_ENDPOINT, "endpoint",
      "HONEYBEE_INBOX",
      "PUB socket: one multipart message [peer id, payload, metadata] per WebSocket "
      "message received from any peer. Any ZeroMQ endpoint (tcp://, ipc://)."),
    R(BR(events), HB__T_STRING, "tcp://127.0.0.1:5551", 0, 0, 0, NULL, HB__C_ENDPOINT, "endpoint",
      "HONEYBEE_EVENTS", "PUB socket: lifecycle events [kind, peer id, JSON] of every peer."),
    R(BR(send), HB__T_STRING, "tcp://127.0.0.1:5552", 0, 0, 0, NULL, HB__C_ENDPOINT, "endpoint",
      "HONEYBEE_SEND",
      "PULL socket: messages [peer id, payload(, text|binary)] to write to a peer."),
    R(BR(control), HB__T_STRING, "tcp://127.0.0.1:5553", 0, 0, 0, NULL, HB__C_ENDPOINT, "endpoint",
      "HONEYBEE_CONTROL", "REP socket: JSON commands connect, remove, send, list, stats, ping."),
    R(BR(http), HB__T_STRING, "127.0.0.1:8080", 0, 0, 0, NULL, HB__C_HTTP, "host:port",
      "HONEYBEE_HTTP", "HTTP server for /healthz, /readyz and /metrics; \"\" disables it."),
    R(BR(inbox_hwm), HB__T_INT, "100000", 0, INT_MAX, HB__F_MIN | HB__F_MAX, NULL, HB__C_NONE,
      "messages", NULL,
      "ZMQ_SNDHWM of the inbox socket: messages queued per subscriber before ZeroMQ drops "
      "(a gap in seq shows it); 0 = unlimited."),
    R(BR(events_hwm), HB__T_INT, "100000", 0, INT_MAX, HB__F_MIN | HB__F_MAX, NULL, HB__C_NONE,
      "messages", NULL, "ZMQ_SNDHWM of the events socket; 0 = unlimited."),
    R(BRF("drain_timeout", drain_timeout_ns), HB__T_DURATION, "5s", NONNEG_DURATION, NULL,
      HB__C_NONE, "duration", NULL,
      "Graceful shutdown budget for writing out queued messages before peers are closed."),
    R(BR(events_queue), HB__T_U32, "65536", 1, 0, HB__F_MIN, NULL, HB__C_NONE, "events", NULL,
      "Events handed from the loop thread to the ZeroMQ thread."),
    R(BR(control_queue), HB__T_U32, "65536", 1, 0, HB__F_MIN, NULL, HB__C_NONE, "commands", NULL,
      "Bound of the pool's command doorway: connect, remove and send commands from the "
      "ZeroMQ thread waiting for the WebSocket loop thread."),
    R(BR(max_handshakes), HB__T_U32, "128", 1, 0, HB__F_MIN, NULL, HB__C_NONE, "dials", NULL,
      "Dials in their handshake at once; more wait their turn (a cold start with thousands "
      "of peers stays fast and its memory compact). A peer that hangs in its handshake "
      "holds a slot until connect_timeout."),

    /* ---- pool (and every peer) ---- */
    R(PO("connect_timeout", connect_timeout_ns), HB__T_DURATION, "10s", POS_DURATION, NULL,
      HB__C_NONE, "duration", NULL,
      "Time allowed for TCP, TLS and the WebSocket handshake of one dial."),
    R(PO("reconnect.initial_delay", reconnect.initial_delay_ns), HB__T_DURATION, "1s", POS_DURATION,
      NULL, HB__C_NONE, "duration", NULL,
      "Delay after the first failure; the n-th failure waits initial_delay * multiplier^(n-1)."),
    R(PO("reconnect.max_delay", reconnect.max_delay_ns), HB__T_DURATION, "30s", POS_DURATION, NULL,
      HB__C_NONE, "duration", NULL, "Cap of the backoff delay, before jitter."),
    R(PO("reconnect.multiplier", reconnect.multiplier), HB__T_DOUBLE, "2.0", 1, 0, HB__F_MIN, NULL,
      HB__C_NONE, "factor", NULL, "Growth of the delay per consecutive failure."),
    R(PO("reconnect.jitter", reconnect.jitter), HB__T_DOUBLE, "0.2", 0, 1, HB__F_MIN | HB__F_MAX,
      NULL, HB__C_NONE, "fraction", NULL,
      "Each delay is scaled by a random factor in [1-jitter, 1+jitter]."),
    R(PO("reconnect.max_retries", reconnect.max_retries), HB__T_U32, "0", 0, 0, HB__F_MIN, NULL,
      HB__C_NONE, "dials", NULL,
      "Give up (event removed, reason max_retries) after 1 + max_retries consecutive failed "
      "dials; 0 = retry forever."),
    R(PO("reconnect.stable_after", reconnect.stable_after_ns), HB__T_DURATION, "10s",
      NONNEG_DURATION, NULL, HB__C_NONE, "duration", NULL,
      "A connection up this long resets the backoff and is redialled at once when it closes."),
    R(PO("keepalive.ping_interval", keepalive.ping_interval_ns), HB__T_DURATION, "20s",
      NONNEG_DURATION, NULL, HB__C_NONE, "duration", NULL,
      "WebSocket ping after this long without receiving anything; 0 disables."),
    R(PO("keepalive.timeout", keepalive.timeout_ns), HB__T_DURATION, "60s", NONNEG_DURATION, NULL,
      HB__C_NONE, "duration", NULL,
      "No frame or pong for this long: the connection is replaced (reason keepalive); 0 "
      "disables."),
    R(PO("keepalive.stall_timeout", keepalive.stall_timeout_ns), HB__T_DURATION, "0s",
      NONNEG_DURATION, NULL, HB__C_NONE, "duration", NULL,
      "No data message for this long (pongs do not count): the connection is replaced "
      "(reason stall); 0 disables."),
    R(PO("keepalive.app_ping", keepalive.app_ping), HB__T_OPTSTR, "", 0, 0, 0, NULL, HB__C_UTF8,
      "text", NULL, "If set, this text message is also sent every ping_interval."),
    R(PO("write_timeout", write_timeout_ns), HB__T_DURATION, "10s", POS_DURATION, NULL, HB__C_NONE,
      "duration", NULL,
      "A write that cannot complete for this long closes the connection (reason write_timeout)."),
    R(PO("max_message_size", max_message_size), HB__T_SIZE, "16MiB", 1, 2 * GIB,
      HB__F_MIN | HB__F_MAX, NULL, HB__C_NONE, "size", NULL,
      "Larger inbound message: close 1009 and reconnect; larger outbound message: refused "
      "with too_large."),
    R(PO("send_queue", send_queue), HB__T_U32, "1024", 1, 0, HB__F_MIN, NULL, HB__C_NONE,
      "messages", NULL, "Per-peer outbound queue; a send to a full queue is refused (queue_full)."),
    R(PO("tls.verify", tls.verify), HB__T_BOOL, "true", 0, 0, 0, NULL, HB__C_NONE, "bool", NULL,
      "Verify the server certificate and host name (wss:// only)."),
    R(PO("tls.ca_file", tls.ca_file), HB__T_OPTSTR, "", 0, 0, 0, NULL, HB__C_NONE, "path", NULL,
      "Extra CA bundle (PEM) trusted besides the system store; \"\" = none."),
    R(PO("tls.cert_file", tls.cert_file), HB__T_OPTSTR, "", 0, 0, 0, NULL, HB__C_NONE, "path", NULL,
      "Client certificate (PEM); \"\" = none."),
    R(PO("tls.key_file", tls.key_file), HB__T_OPTSTR, "", 0, 0, 0, NULL, HB__C_NONE, "path", NULL,
      "Private key of the client certificate (PEM); \"\" = none."),

    /* ---- peer only ---- */
    R(PE(id), HB__T_STRING, NULL, 0, 0, HB__F_REQUIRED | HB__F_IDENTITY, NULL, HB__C_PEER_ID,
      "text", NULL,
      "Unique peer id, 1..128 bytes of UTF-8, no \"*\", no control characters. Frame 0 of "
      "every inbox message."),
    R(PE(url), HB__T_STRING, NULL, 0, 0, HB__F_REQUIRED | HB__F_IDENTITY, NULL, HB__C_URL, "URL",
      NULL, "ws:// or wss:// URL with a host, optional port, path and query; at most 2048 bytes."),
    R(PEN(headers, n_headers), HB__T_HEADERS, NULL, 0, 0, 0, NULL, HB__C_HEADERS, "map", NULL,
      "Extra HTTP headers of the WebSocket handshake, name: value."),
    R(PEN(subprotocols, n_subprotocols), HB__T_STRLIST, NULL, 0, 0, 0, NULL, HB__C_TOKENS, "list",
      NULL, "Sec-WebSocket-Protocol values offered in the handshake."),
    R(PEN(on_connect, n_on_connect), HB__T_STRLIST, NULL, 0, 0, 0, NULL, HB__C_UTF8, "list", NULL,
      "Text messages written, in order, after every (re)connect and before any queued send."),

    /* ---- log ---- */
    R(LO(level), HB__T_ENUM, "info", 0, 0, 0, s_levels, HB__C_NONE, "error|warn|info|debug",
      "HONEYBEE_LOG_LEVEL", "Records above this level are not even formatted."),
    R(LO(format), HB__T_ENUM, "text", 0, 0, 0, s_formats, HB__C_NONE, "text|json",
      "HONEYBEE_LOG_FORMAT", "One line per record on stderr: text, or JSON lines."),
};

const size_t hb__cfg_nkeys = sizeof hb__cfg_keys / sizeof hb__cfg_keys[0];

static const char *const s_section_names[HB__S__COUNT] = {"bridge", "pool", "peers", "log"};
static const size_t s_section_sizes[HB__S__COUNT] = {sizeof(hb_bridge_cfg), sizeof(hb_peer_opts),
                                                     sizeof(hb_peer_cfg), sizeof(hb_log_cfg)};

const char *hb__cfg_section_name(hb__cfg_section s)
{
    return (unsigned)s < HB__S__COUNT ? s_section_names[s] : "?";
}

void *hb__cfg_field(const hb__cfg_key *k, void *base)
{
    return (char *)base + k->off;
}

static size_t *s_count(const hb__cfg_key *k, void *base)
{
    return (size_t *)((char *)base + k->count_off);
}

/* ---- errors --------------------------------------------------------------- */

#define MAX_ERRORS 100

void hb__errs_add(hb__errs *e, const char *file, int line, const char *key, const char *fmt, ...)
{
    if (e->n >= MAX_ERRORS) {
        e->dropped++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char head[64] = "";
    if (file && line > 0) snprintf(head, sizeof head, ":%d", line);
    size_t need = (file ? strlen(file) : 0) + strlen(head) + strlen(key) + strlen(msg) + 8;
    char *text = malloc(need);
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 8;
        void *np = realloc(e->items, cap * sizeof *e->items);
        if (!np) {
            free(text);
            e->oom = true;
            return;
        }
        e->items = np, e->cap = cap;
    }
    if (!text) {
        e->oom = true;
        return;
    }
    if (file)
        snprintf(text, need, "%s%s: %s: %s", file, head, key, msg);
    else
        snprintf(text, need, "%s: %s", key, msg);
    e->items[e->n].line = line;
    e->items[e->n].text = text;
    e->n++;
}

void hb__errs_free(hb__errs *e)
{
    for (size_t i = 0; i < e->n; i++) free(e->items[i].text);
    free(e->items);
    memset(e, 0, sizeof *e);
}

char *hb__errs_take(hb__errs *e)
{
    /* Insertion sort by line, stable: the list is short (capped). */
    for (size_t i = 1; i < e->n; i++) {
        struct hb__err_item it = e->items[i];
        size_t j = i;
        while (j > 0 && e->items[j - 1].line > it.line) {
            e->items[j] = e->items[j - 1];
            j--;
        }
        e->items[j] = it;
    }
    size_t len = 1;
    for (size_t i = 0; i < e->n; i++) len += strlen(e->items[i].text) + 1;
    char tail[96] = "";
    if (e->dropped) snprintf(tail, sizeof tail, "(%zu more errors not shown)\n", e->dropped);
    if (e->oom) snprintf(tail + strlen(tail), sizeof tail - strlen(tail), "(out of memory)\n");
    len += strlen(tail);
    char *out = malloc(len);
    if (out) {
        size_t o = 0;
        for (size_t i = 0; i < e->n; i++) {
            size_t l = strlen(e->items[i].text);
            memcpy(out + o, e->items[i].text, l);
            o += l;
            out[o++] = '\n';
        }
        memcpy(out + o, tail, strlen(tail) + 1);
    }
    hb__errs_free(e);
    return out;
}

/* A value quoted for a message: printable, at most ~40 characters. */
static const char *s_quote(const char *s, size_t len, char *buf, size_t cap)
{
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < len && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 40) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

static const char *s_kind_name(const hb__node *v)
{
    return v->kind == HB__N_MAP ? "a mapping" : v->kind == HB__N_SEQ ? "a list" : "a scalar";
}

static bool s_is_null(const hb__node *v)
{
    return v->kind == HB__N_SCALAR && v->plain &&
           (v->len == 0 || strcmp(v->text, "~") == 0 || strcmp(v->text, "null") == 0 ||
            strcmp(v->text, "Null") == 0 || strcmp(v->text, "NULL") == 0);
}

/* Text of a bound in the row's unit. */
static void s_bound(const hb__cfg_key *k, double v, char *out, size_t cap)
{
    if (k->type == HB__T_DURATION)
        hb__format_duration((uint64_t)v, out, cap);
    else if (k->type == HB__T_SIZE)
        hb__format_size((uint64_t)v, out, cap);
    else
        snprintf(out, cap, "%.15g", v);
}

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
    s_bound(k, mn, lo, sizeof lo);
    s_bound(k, mx, hi, sizeof hi);
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

/* Representable range of the field's C type. */
static void s_repr(const hb__cfg_key *k, double *mn, double *mx)
{
    switch (k->type) {
    case HB__T_U32:
        *mn = 0, *mx = (double)UINT32_MAX;
        break;
    case HB__T_INT:
        *mn = (double)INT_MIN, *mx = (double)INT_MAX;
        break;
    case HB__T_DURATION:
    case HB__T_SIZE:
        *mn = 0, *mx = 18446744073709551615.0;
        break;
    default:
        *mn = -INFINITY, *mx = INFINITY;
        break;
    }
}

/* `repr`: the value did not even fit the field's C type, so name the type's
 * limits where the row has none. */
static void s_range_error(const hb__cfg_key *k, bool repr, const char *file, int line,
                          const char *key, hb__errs *errs)
{
    char text[160];
    double mn = -INFINITY, mx = INFINITY;
    if (repr) s_repr(k, &mn, &mx);
    s_range_text(k, text, sizeof text, mn, mx);
    hb__errs_add(errs, file, line, key, "%s", text);
}

/* ---- setting a value -------------------------------------------------------- */

static char *s_scalar_dup(const hb__node *v, const char *file, const char *key, hb__errs *errs)
{
    const char *t = s_is_null(v) ? "" : v->text;
    size_t len = s_is_null(v) ? 0 : v->len;
    if (memchr(t, '\0', len)) {
        hb__errs_add(errs, file, v->line, key, "must not contain NUL characters");
        return NULL;
    }
    char *d = malloc(len + 1);
    if (!d) {
        errs->oom = true;
        return NULL;
    }
    memcpy(d, t, len);
    d[len] = '\0';
    return d;
}

static bool s_parse_int(const char *s, long long *out)
{
    const char *p = s;
    if (*p == '-') p++;
    if (*p < '0' || *p > '9') return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end) return false;
    if (errno == ERANGE) v = (*s == '-') ? LLONG_MIN : LLONG_MAX; /* reported out of range */
    *out = v;
    return true;
}

static bool s_parse_double(const char *s, double *out)
{
    if (!*s) return false;
    for (const char *q = s; *q; q++)
        if (!strchr("0123456789.eE+-", *q)) return false; /* no hex, inf, nan */
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || !isfinite(v)) return false;
    *out = v;
    return true;
}

static void s_free_headers(hb_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

static void s_free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++) free(l[i]);
    free(l);
}

bool hb__cfg_set(const hb__cfg_key *k, void *base, const hb__node *v, const char *file,
                 const char *key, hb__errs *errs)
{
    void *f = hb__cfg_field(k, base);
    char q[128];
    bool scalar = v->kind == HB__N_SCALAR;
    switch (k->type) {
    case HB__T_STRING:
    case HB__T_OPTSTR: {
        if (!scalar) {
            hb__errs_add(errs, file, v->line, key, "expected a string, got %s", s_kind_name(v));
            return false;
        }
        char *d = s_scalar_dup(v, file, key, errs);
        if (!d) return false;
        if (k->type == HB__T_OPTSTR && !*d) {
            free(d);
            d = NULL;
        }
        free(*(char **)f);
        *(char **)f = d;
        return true;
    }
    case HB__T_BOOL:
        if (scalar && v->plain &&
            (!strcmp(v->text, "true") || !strcmp(v->text, "True") || !strcmp(v->text, "TRUE"))) {
            *(bool *)f = true;
            return true;
        }
        if (scalar && v->plain &&
            (!strcmp(v->text, "false") || !strcmp(v->text, "False") || !strcmp(v->text, "FALSE"))) {
            *(bool *)f = false;
            return true;
        }
        hb__errs_add(errs, file, v->line, key, "expected true or false, got %s",
                     scalar ? s_quote(v->text, v->len, q, sizeof q) : s_kind_name(v));
        return false;
    case HB__T_DURATION:
        if (!scalar || memchr(v->text, '\0', v->len) || !hb__parse_duration(v->text, f)) {
            hb__errs_add(errs, file, v->line, key,
                         "invalid duration %s: use a number and a unit ms, s, m or h (250ms, "
                         "1.5s, 5m); only 0 may omit the unit",
                         scalar ? s_quote(v->text, v->len, q, sizeof q) : s_kind_name(v));
            return false;
        }
        return true;
    case HB__T_SIZE:
        if (!scalar || memchr(v->text, '\0', v->len) || !hb__parse_size(v->text, f)) {
            hb__errs_add(errs, file, v->line, key,
                         "invalid size %s: use an integer and a unit B, KiB, MiB or GiB (100B, "
                         "512KiB, 16MiB)",
                         scalar ? s_quote(v->text, v->len, q, sizeof q) : s_kind_name(v));
            return false;
        }
        return true;
    case HB__T_U32:
    case HB__T_INT: {
        long long n;
        if (!scalar || !v->plain || memchr(v->text, '\0', v->len) || !s_parse_int(v->text, &n)) {
            hb__errs_add(errs, file, v->line, key, "expected an integer, got %s",
                         !scalar     ? s_kind_name(v)
                         : !v->plain ? "a quoted string"
                                     : s_quote(v->text, v->len, q, sizeof q));
            return false;
        }
        double mn, mx;
        s_repr(k, &mn, &mx);
        if ((double)n < mn || (double)n > mx) {
            s_range_error(k, true, file, v->line, key, errs);
            return false;
        }
        if (k->type == HB__T_U32)
            *(uint32_t *)f = (uint32_t)n;
        else
            *(int *)f = (int)n;
        return true;
    }
    case HB__T_DOUBLE: {
        double d;
        if (!scalar || !v->plain || memchr(v->text, '\0', v->len) || !s_parse_double(v->text, &d)) {
            hb__errs_add(errs, file, v->line, key, "expected a number, got %s",
                         !scalar     ? s_kind_name(v)
                         : !v->plain ? "a quoted string"
                                     : s_quote(v->text, v->len, q, sizeof q));
            return false;
        }
        *(double *)f = d;
        return true;
    }
    case HB__T_ENUM:
        if (scalar && !memchr(v->text, '\0', v->len)) {
            for (int i = 0; k->choices[i]; i++) {
                if (strcmp(v->text, k->choices[i]) == 0) {
                    *(int *)f = i;
                    return true;
                }
            }
        }
        {
            char list[128] = "";
            for (int i = 0; k->choices[i]; i++) {
                if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
                strncat(list, k->choices[i], sizeof list - strlen(list) - 1);
            }
            hb__errs_add(errs, file, v->line, key, "must be one of %s, got %s", list,
                         scalar ? s_quote(v->text, v->len, q, sizeof q) : s_kind_name(v));
        }
        return false;
    case HB__T_HEADERS: {
        if (s_is_null(v)) {
            s_free_headers(*(hb_header **)f, *s_count(k, base));
            *(hb_header **)f = NULL, *s_count(k, base) = 0;
            return true;
        }
        if (v->kind != HB__N_MAP) {
            hb__errs_add(errs, file, v->line, key, "expected a mapping of header: value, got %s",
                         s_kind_name(v));
            return false;
        }
        size_t n = v->n / 2;
        hb_header *h = calloc(n ? n : 1, sizeof *h);
        if (!h) {
            errs->oom = true;
            return false;
        }
        bool ok = true;
        for (size_t i = 0; i < n && ok; i++) {
            const hb__node *kn = v->kids[2 * i], *vn = v->kids[2 * i + 1];
            if (kn->kind != HB__N_SCALAR || vn->kind != HB__N_SCALAR) {
                hb__errs_add(errs, file, vn->line, key, "header values must be strings");
                ok = false;
                break;
            }
            h[i].name = s_scalar_dup(kn, file, key, errs);
            h[i].value = s_scalar_dup(vn, file, key, errs);
            if (!h[i].name || !h[i].value) ok = false;
            for (size_t j = 0; ok && j < i; j++) {
                if (strcasecmp(h[j].name, h[i].name) == 0) {
                    hb__errs_add(errs, file, kn->line, key, "duplicate header %s",
                                 s_quote(kn->text, kn->len, q, sizeof q));
                    ok = false;
                }
            }
        }
        if (!ok) {
            s_free_headers(h, n);
            return false;
        }
        s_free_headers(*(hb_header **)f, *s_count(k, base));
        *(hb_header **)f = n ? h : NULL, *s_count(k, base) = n;
        if (!n) free(h);
        return true;
    }
    case HB__T_STRLIST: {
        if (s_is_null(v)) {
            s_free_list(*(char ***)f, *s_count(k, base));
            *(char ***)f = NULL, *s_count(k, base) = 0;
            return true;
        }
        if (v->kind != HB__N_SEQ) {
            hb__errs_add(errs, file, v->line, key, "expected a list of strings, got %s",
                         s_kind_name(v));
            return false;
        }
        char **l = calloc(v->n ? v->n : 1, sizeof *l);
        if (!l) {
            errs->oom = true;
            return false;
        }
        bool ok = true;
        for (size_t i = 0; i < v->n && ok; i++) {
            const hb__node *it = v->kids[i];
            if (it->kind != HB__N_SCALAR) {
                hb__errs_add(errs, file, it->line, key,
                             "item %zu: expected a string, got %s (quote JSON messages)", i,
                             s_kind_name(it));
                ok = false;
                break;
            }
            l[i] = s_scalar_dup(it, file, key, errs);
            if (!l[i]) ok = false;
        }
        if (!ok) {
            s_free_list(l, v->n);
            return false;
        }
        s_free_list(*(char ***)f, *s_count(k, base));
        *(char ***)f = v->n ? l : NULL, *s_count(k, base) = v->n;
        if (!v->n) free(l);
        return true;
    }
    }
    return false;
}

/* ---- checking a value ------------------------------------------------------- */

static bool s_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool s_token(const char *s)
{
    if (!s || !*s) return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!s_tchar(*p)) return false;
    return true;
}

static bool s_endpoint_ok(const char *s)
{
    const char *sep = s ? strstr(s, "://") : NULL;
    if (!sep || sep == s || !sep[3]) return false;
    for (const char *p = s; p < sep; p++)
        if (!isalnum((unsigned char)*p) && *p != '+') return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) return false;
    return true;
}

static bool s_http_ok(const char *s)
{
    /* "" disables; otherwise what the daemon's HTTP server will accept. */
    return !s || !*s || hb__hostport_split(s, NULL, 0, NULL);
}

static double s_numeric(const hb__cfg_key *k, const void *f)
{
    switch (k->type) {
    case HB__T_DURATION:
    case HB__T_SIZE:
        return (double)*(const uint64_t *)f;
    case HB__T_U32:
        return (double)*(const uint32_t *)f;
    case HB__T_INT:
        return (double)*(const int *)f;
    case HB__T_DOUBLE:
        return *(const double *)f;
    default:
        return 0;
    }
}

bool hb__cfg_check_value(const hb__cfg_key *k, const void *base, const char *file, int line,
                         const char *key, hb__errs *errs)
{
    const void *f = (const char *)base + k->off;
    char q[128];
    if (k->flags & (HB__F_MIN | HB__F_MAX)) {
        double v = s_numeric(k, f);
        bool bad = false;
        if (k->flags & HB__F_MIN) bad |= (k->flags & HB__F_MIN_EXCL) ? !(v > k->min) : v < k->min;
        if (k->flags & HB__F_MAX) bad |= v > k->max;
        /* Values above 2^53 lose precision as doubles; compare sizes exactly. */
        if (k->type == HB__T_SIZE && (k->flags & HB__F_MAX))
            bad |= *(const uint64_t *)f > (uint64_t)k->max;
        if (k->type == HB__T_DURATION && (k->flags & HB__F_MAX))
            bad |= *(const uint64_t *)f > (uint64_t)k->max;
        if (bad) {
            s_range_error(k, false, file, line, key, errs);
            return false;
        }
    }
    const char *s = (k->type == HB__T_STRING || k->type == HB__T_OPTSTR) ? *(char *const *)f : NULL;
    switch (k->check) {
    case HB__C_NONE:
        return true;
    case HB__C_ENDPOINT:
        if (s_endpoint_ok(s)) return true;
        hb__errs_add(errs, file, line, key,
                     "must be a ZeroMQ endpoint like tcp://127.0.0.1:5550 or ipc:///run/hb.sock, "
                     "got %s",
                     s ? s_quote(s, strlen(s), q, sizeof q) : "nothing");
        return false;
    case HB__C_HTTP:
        if (s_http_ok(s)) return true;
        hb__errs_add(errs, file, line, key,
                     "must be host:port (e.g. 127.0.0.1:8080) or \"\" to disable, got %s",
                     s_quote(s, strlen(s), q, sizeof q));
        return false;
    case HB__C_PEER_ID:
        if (s && hb_peer_id_valid(s, strlen(s))) return true;
        hb__errs_add(errs, file, line, key,
                     "must be 1 to 128 bytes of UTF-8 without \"*\" or control characters, got %s",
                     s ? s_quote(s, strlen(s), q, sizeof q) : "nothing");
        return false;
    case HB__C_URL:
        if (s && hb__ws_url_parse(s, NULL)) return true;
        hb__errs_add(errs, file, line, key,
                     "must be a ws:// or wss:// URL of at most 2048 bytes with a host (optional "
                     "port, path, query), "
                     "got %s",
                     s ? s_quote(s, strlen(s), q, sizeof q) : "nothing");
        return false;
    case HB__C_HEADERS: {
        const hb_header *h = *(hb_header *const *)f;
        size_t n = *(const size_t *)((const char *)base + k->count_off);
        bool ok = true;
        for (size_t i = 0; i < n; i++) {
            if (!s_token(h[i].name)) {
                hb__errs_add(errs, file, line, key, "invalid header name %s",
                             s_quote(h[i].name, strlen(h[i].name), q, sizeof q));
                ok = false;
            }
            for (const unsigned char *p = (const unsigned char *)h[i].value; *p; p++) {
                if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
                    hb__errs_add(errs, file, line, key,
                                 "value of header %s contains a control character",
                                 s_quote(h[i].name, strlen(h[i].name), q, sizeof q));
                    ok = false;
                    break;
                }
            }
        }
        return ok;
    }
    case HB__C_TOKENS:
    case HB__C_UTF8: {
        if (k->type != HB__T_STRLIST) {
            if (!s || hb__utf8_valid(s, strlen(s))) return true;
            hb__errs_add(errs, file, line, key, "must be valid UTF-8");
            return false;
        }
        char *const *l = *(char **const *)f;
        size_t n = *(const size_t *)((const char *)base + k->count_off);
        bool ok = true;
        for (size_t i = 0; i < n; i++) {
            if (k->check == HB__C_TOKENS && !s_token(l[i])) {
                hb__errs_add(errs, file, line, key, "item %zu: %s is not a valid token", i,
                             s_quote(l[i], strlen(l[i]), q, sizeof q));
                ok = false;
            } else if (k->check == HB__C_UTF8 && !hb__utf8_valid(l[i], strlen(l[i]))) {
                hb__errs_add(errs, file, line, key, "item %zu: must be valid UTF-8", i);
                ok = false;
            }
        }
        return ok;
    }
    }
    return true;
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
        if (k->section != section) continue;
        void *f = hb__cfg_field(k, base);
        switch (k->type) {
        case HB__T_STRING:
        case HB__T_OPTSTR:
            free(*(char **)f);
            *(char **)f = NULL;
            break;
        case HB__T_HEADERS:
            s_free_headers(*(hb_header **)f, *s_count(k, base));
            *(hb_header **)f = NULL, *s_count(k, base) = 0;
            break;
        case HB__T_STRLIST:
            s_free_list(*(char ***)f, *s_count(k, base));
            *(char ***)f = NULL, *s_count(k, base) = 0;
            break;
        default:
            break;
        }
    }
}

static char *s_dup(const char *s, bool *ok)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *ok = false;
    return d;
}

int hb__cfg_section_copy(hb__cfg_section section, void *dst, const void *src)
{
    memcpy(dst, src, s_section_sizes[section]);
    /* First detach every pointer so that a failure part-way frees only copies. */
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (k->section != section) continue;
        void *f = hb__cfg_field(k, dst);
        if (k->type == HB__T_STRING || k->type == HB__T_OPTSTR || k->type == HB__T_HEADERS ||
            k->type == HB__T_STRLIST)
            *(void **)f = NULL;
        if (k->type == HB__T_HEADERS || k->type == HB__T_STRLIST) *s_count(k, dst) = 0;
    }
    bool ok = true;
    for (size_t i = 0; i < hb__cfg_nkeys && ok; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (k->section != section) continue;
        void *f = hb__cfg_field(k, dst);
        const void *sf = (const char *)src + k->off;
        size_t n = (k->type == HB__T_HEADERS || k->type == HB__T_STRLIST)
                       ? *(const size_t *)((const char *)src + k->count_off)
                       : 0;
        switch (k->type) {
        case HB__T_STRING:
        case HB__T_OPTSTR:
            *(char **)f = s_dup(*(char *const *)sf, &ok);
            break;
        case HB__T_HEADERS: {
            const hb_header *sh = *(hb_header *const *)sf;
            if (!n) break;
            hb_header *h = calloc(n, sizeof *h);
            if (!h) {
                ok = false;
                break;
            }
            *(hb_header **)f = h, *s_count(k, dst) = n;
            for (size_t j = 0; j < n; j++) {
                h[j].name = s_dup(sh[j].name, &ok);
                h[j].value = s_dup(sh[j].value, &ok);
            }
            break;
        }
        case HB__T_STRLIST: {
            char *const *sl = *(char **const *)sf;
            if (!n) break;
            char **l = calloc(n, sizeof *l);
            if (!l) {
                ok = false;
                break;
            }
            *(char ***)f = l, *s_count(k, dst) = n;
            for (size_t j = 0; j < n; j++) l[j] = s_dup(sl[j], &ok);
            break;
        }
        default:
            break;
        }
    }
    if (!ok) {
        hb__cfg_section_free(section, dst);
        return HB_E_NOMEM;
    }
    return 0;
}

static bool s_str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool hb__cfg_section_equal(hb__cfg_section section, const void *a, const void *b)
{
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (k->section != section) continue;
        const void *fa = (const char *)a + k->off, *fb = (const char *)b + k->off;
        size_t na = 0, nb = 0;
        if (k->type == HB__T_HEADERS || k->type == HB__T_STRLIST) {
            na = *(const size_t *)((const char *)a + k->count_off);
            nb = *(const size_t *)((const char *)b + k->count_off);
            if (na != nb) return false;
        }
        switch (k->type) {
        case HB__T_STRING:
        case HB__T_OPTSTR:
            if (!s_str_eq(*(char *const *)fa, *(char *const *)fb)) return false;
            break;
        case HB__T_BOOL:
            if (*(const bool *)fa != *(const bool *)fb) return false;
            break;
        case HB__T_DURATION:
        case HB__T_SIZE:
            if (*(const uint64_t *)fa != *(const uint64_t *)fb) return false;
            break;
        case HB__T_U32:
            if (*(const uint32_t *)fa != *(const uint32_t *)fb) return false;
            break;
        case HB__T_INT:
        case HB__T_ENUM:
            if (*(const int *)fa != *(const int *)fb) return false;
            break;
        case HB__T_DOUBLE:
            if (*(const double *)fa != *(const double *)fb) return false;
            break;
        case HB__T_HEADERS: {
            const hb_header *ha = *(hb_header *const *)fa, *hbb = *(hb_header *const *)fb;
            for (size_t j = 0; j < na; j++)
                if (!s_str_eq(ha[j].name, hbb[j].name) || !s_str_eq(ha[j].value, hbb[j].value))
                    return false;
            break;
        }
        case HB__T_STRLIST: {
            char *const *la = *(char **const *)fa, *const *lb = *(char **const *)fb;
            for (size_t j = 0; j < na; j++)
                if (!s_str_eq(la[j], lb[j])) return false;
            break;
        }
        }
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
    default:
        return NULL;
    }
}
