/*
 * wire.c: what the bridge writes on and reads from its ZeroMQ sockets, as
 * pure functions: the inbox metadata frame, the event JSON, the control
 * request parser and the JSON shapes of `list` and `stats`.
 *
 * Kept free of sockets and threads so the unit tests pin the wire format
 * byte for byte. All JSON goes through jansson. Any thread.
 */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "bridge/bridge.h"
#include "core/clock.h"
#include "core/utf8.h"

/* Big-endian stores the compiler turns into one bswap and one store each:
 * this runs once per inbox message. */
static inline void s_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}

static inline void s_be64(uint8_t *p, uint64_t v)
{
    s_be32(p, (uint32_t)(v >> 32));
    s_be32(p + 4, (uint32_t)v);
}

void hb__meta_encode(uint8_t out[HB__META_LEN], uint8_t flags, uint32_t conn, uint64_t seq,
                     uint64_t received_ns)
{
    out[0] = HB__META_VERSION;
    out[1] = flags;
    out[2] = 0;
    out[3] = 0;
    s_be32(out + 4, conn);
    s_be64(out + 8, seq);
    s_be64(out + 16, received_ns);
}

/* Set a string member when the text is present. jansson takes only UTF-8
 * and a peer's close reason is outside input: invalid bytes become U+FFFD. */
static void s_set_str(json_t *o, const char *key, const char *val)
{
    if (!val) return;
    size_t n = strlen(val);
    if (hb__utf8_valid(val, n)) {
        json_object_set_new(o, key, json_stringn(val, n));
        return;
    }
    char *clean = hb__utf8_clean(val);
    if (clean) json_object_set_new(o, key, json_string(clean));
    free(clean);
}

char *hb__event_json(const hb_event *e)
{
    json_t *o = json_object();
    if (!o) return NULL;
    char at[HB_RFC3339_LEN];
    hb__rfc3339(e->at_ns, at);
    json_object_set_new(o, "kind", json_string(hb_event_kind_name(e->kind)));
    s_set_str(o, "id", e->id ? e->id : "");
    json_object_set_new(o, "at", json_string(at));
    s_set_str(o, "url", e->url);
    if (e->attempt) json_object_set_new(o, "attempt", json_integer(e->attempt));
    if (e->conn) json_object_set_new(o, "conn", json_integer(e->conn));
    if (e->code) json_object_set_new(o, "code", json_integer(e->code));
    s_set_str(o, "reason", e->reason);
    s_set_str(o, "error", e->error);
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return txt;
}

char *hb__ctl_error_reply(int err, const char *message)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "ok", json_false());
    json_object_set_new(o, "error", json_string(hb_errname(err)));
    /* A parse error can quote a broken byte of the request (jansson cites
     * the offending input): cleaned, so the message is never lost. */
    char *clean = hb__utf8_clean(message ? message : hb_strerror(err));
    json_object_set_new(o, "message", json_string(clean ? clean : hb_strerror(err)));
    free(clean);
    char *txt = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return txt;
}

static const struct {
    const char *name;
    hb__ctl_op op;
} s_ops[] = {
    {"connect", HB__OP_CONNECT}, {"remove", HB__OP_REMOVE}, {"send", HB__OP_SEND},
    {"list", HB__OP_LIST},       {"stats", HB__OP_STATS},   {"ping", HB__OP_PING},
};

/* A required or optional string member. Returns 0, or HB_E_BAD_REQUEST. */
static int s_get_str(json_t *root, const char *key, bool required, const char **out, size_t *len,
                     char *msg, size_t cap)
{
    json_t *v = json_object_get(root, key);
    if (!v) {
        if (!required) return 0;
        snprintf(msg, cap, "missing field \"%s\"", key);
        return HB_E_BAD_REQUEST;
    }
    if (!json_is_string(v)) {
        snprintf(msg, cap, "field \"%s\" must be a string", key);
        return HB_E_BAD_REQUEST;
    }
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return 0;
}

/* Whether a JSON text holds at most `max` structural marks outside strings
 * (HB__CTL_MAX_MARKS), counted without parsing. A string is skipped to its
 * closing quote (escapes included), so a large `data` costs one
 * memchr-speed pass. */
static bool s_within_marks(const char *p, size_t n, size_t max)
{
    size_t marks = 0;
    const char *end = p + n;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            for (;;) {
                const char *q = memchr(p, '"', (size_t)(end - p));
                if (!q) return true; /* unterminated: jansson says where */
                size_t bs = 0;
                while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\') bs++;
                p = q + 1;
                if (bs % 2 == 0) break; /* not escaped */
            }
        } else if (c == '[' || c == '{' || c == ',' || c == ':') {
            if (++marks > max) return false;
        }
    }
    return true;
}

/* A refused request keeps only its op: the bridge counts a malformed send
 * as a refused send. */
static void s_req_clear_keep_op(hb__ctl_req *req)
{
    hb__ctl_op op = req->op;
    bool known = req->op_known;
    hb__ctl_req_free(req);
    req->op = op;
    req->op_known = known;
}

int hb__ctl_parse(const void *buf, size_t len, hb__ctl_req *req, char *msg, size_t cap)
{
    memset(req, 0, sizeof(*req));
    if (!s_within_marks(buf, len, HB__CTL_MAX_MARKS)) {
        snprintf(msg, cap, "request too complex: more than %d of '[', '{', ',' and ':'",
                 HB__CTL_MAX_MARKS);
        return HB_E_BAD_REQUEST;
    }
    json_error_t jerr;
    /* JSON_ALLOW_NUL: `data` may carry U+0000; lengths are kept. */
    json_t *root = json_loadb(buf, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(msg, cap, "invalid JSON: %s (at byte %d)", jerr.text, jerr.position);
        return HB_E_BAD_REQUEST;
    }
    req->root = root;
    int rc = HB_E_BAD_REQUEST;
    if (!json_is_object(root)) {
        snprintf(msg, cap, "request must be a JSON object");
        goto err;
    }
    json_t *op = json_object_get(root, "op");
    if (!op || !json_is_string(op)) {
        snprintf(msg, cap, "field \"op\" (string) is required");
        goto err;
    }
    const char *name = json_string_value(op);
    size_t i;
    for (i = 0; i < sizeof(s_ops) / sizeof(s_ops[0]); i++)
        if (strlen(s_ops[i].name) == json_string_length(op) && !strcmp(s_ops[i].name, name)) break;
    if (i == sizeof(s_ops) / sizeof(s_ops[0])) {
        rc = HB_E_UNKNOWN_OP;
        /* The op is outside input: do not echo it, it may be huge. */
        snprintf(msg, cap, "unknown op (expected connect, remove, send, list, stats or ping)");
        goto err;
    }
    req->op = s_ops[i].op;
    req->op_known = true;
    switch (req->op) {
    case HB__OP_CONNECT: {
        if ((rc = s_get_str(root, "id", true, &req->id, &req->id_len, msg, cap))) goto err;
        if ((rc = s_get_str(root, "url", true, &req->url, &req->url_len, msg, cap))) goto err;
        if (!hb_peer_id_valid(req->id, req->id_len) || strlen(req->id) != req->id_len) {
            rc = HB_E_BAD_REQUEST;
            snprintf(msg, cap,
                     "invalid id: 1..128 bytes of UTF-8, no \"*\", no control characters");
            goto err;
        }
        json_t *opts = json_object_get(root, "options");
        if (opts && !json_is_null(opts)) {
            if (!json_is_object(opts)) {
                rc = HB_E_INVALID_OPTION;
                snprintf(msg, cap, "options: must be an object");
                goto err;
            }
            req->options = json_dumps(opts, JSON_COMPACT);
            if (!req->options) {
                rc = HB_E_NOMEM;
                snprintf(msg, cap, "out of memory");
                goto err;
            }
        }
        break;
    }
    case HB__OP_REMOVE:
        if ((rc = s_get_str(root, "id", true, &req->id, &req->id_len, msg, cap))) goto err;
        break;
    case HB__OP_SEND: {
        if ((rc = s_get_str(root, "id", true, &req->id, &req->id_len, msg, cap))) goto err;
        if ((rc = s_get_str(root, "data", true, &req->data, &req->data_len, msg, cap))) goto err;
        json_t *b = json_object_get(root, "binary");
        if (b && !json_is_null(b)) {
            if (!json_is_boolean(b)) {
                rc = HB_E_BAD_REQUEST;
                snprintf(msg, cap, "field \"binary\" must be a boolean");
                goto err;
            }
            req->binary = json_is_true(b);
        }
        break;
    }
    case HB__OP_STATS:
        if ((rc = s_get_str(root, "id", false, &req->id, &req->id_len, msg, cap))) goto err;
        break;
    case HB__OP_LIST:
    case HB__OP_PING:
        break;
    }
    return 0;
err:
    s_req_clear_keep_op(req);
    return rc;
}

void hb__ctl_req_free(hb__ctl_req *req)
{
    json_decref(req->root);
    free(req->options);
    memset(req, 0, sizeof(*req));
}

static bool s_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int hb__base64_decode(const char *in, size_t len, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    /* Validate first: EVP_DecodeBlock skips surrounding whitespace and does
     * not report how much padding it decoded, so the shape is checked here. */
    size_t body = len;
    while (body > 0 && in[body - 1] == '=') body--;
    size_t pad = len - body;
    if (pad > 2) return HB_E_BAD_REQUEST;
    for (size_t i = 0; i < body; i++)
        if (!s_b64_char((unsigned char)in[i])) return HB_E_BAD_REQUEST;
    if (body % 4 == 1) return HB_E_BAD_REQUEST;
    if (pad && (body + pad) % 4 != 0) return HB_E_BAD_REQUEST;
    if (body > (size_t)INT_MAX / 2) return HB_E_TOO_LARGE;
    /* Whole groups decode straight from the input; only a last partial
     * group is padded, in a 4-byte buffer (no copy of the whole text). */
    size_t whole = body / 4 * 4, rest = body - whole;
    unsigned char *dst = malloc(whole / 4 * 3 + 4);
    if (!dst) return HB_E_NOMEM;
    int n = whole ? EVP_DecodeBlock(dst, (const unsigned char *)in, (int)whole) : 0;
    size_t got = n < 0 ? 0 : (size_t)n;
    if (n >= 0 && rest) {
        unsigned char last[4] = {'=', '=', '=', '='};
        memcpy(last, in + whole, rest);
        int m = EVP_DecodeBlock(dst + got, last, 4);
        /* EVP_DecodeBlock counts padding as zero bytes: take them off. */
        if (m < 0)
            n = -1;
        else
            got += (size_t)m - (4 - rest);
    }
    if (n < 0) {
        free(dst);
        return HB_E_BAD_REQUEST;
    }
    *out = dst;
    *out_len = got;
    return 0;
}

/* RFC 3339 text, or JSON null for "not set". */
static json_t *s_time_or_null(uint64_t ns)
{
    if (!ns) return json_null();
    char at[HB_RFC3339_LEN];
    hb__rfc3339(ns, at);
    return json_string(at);
}

json_t *hb__peer_info_json(const hb_peer_info *p)
{
    json_t *o = json_object();
    if (!o) return NULL;
    s_set_str(o, "id", p->id);
    s_set_str(o, "url", p->url ? p->url : "");
    json_object_set_new(o, "state", json_string(hb_peer_state_name(p->state)));
    json_object_set_new(o, "connected_at", s_time_or_null(p->connected_at_ns));
    json_object_set_new(o, "attempt", json_integer(p->attempt));
    json_object_set_new(o, "conn", json_integer(p->conn));
    json_object_set_new(o, "seq", json_integer((json_int_t)p->seq));
    json_object_set_new(o, "loop", json_integer(p->loop));
    return o;
}

static void s_counters_json(json_t *o, const hb_counters *c, bool per_peer)
{
    for (size_t f = 0; f < hb__n_counter_families; f++)
        json_object_set_new(o, hb__counter_families[f].key,
                            json_integer((json_int_t)hb__counter_families[f].get(c)));
    json_t *sf = json_object();
    for (int r = 0; r < HB_SF__COUNT; r++) {
        /* unknown_peer and bad_request cannot belong to a peer (SPEC 8). */
        if (per_peer && (r == HB_SF_UNKNOWN_PEER || r == HB_SF_BAD_REQUEST)) continue;
        json_object_set_new(sf, hb_send_fail_name((hb_send_fail)r),
                            json_integer((json_int_t)c->send_failed[r]));
    }
    json_object_set_new(o, "send_failed_total", sf);
}

json_t *hb__stats_json(const hb_pool_stats *st)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "ok", json_true());
    json_t *peers = json_object();
    for (int s = 0; s < HB_STATE__COUNT; s++)
        json_object_set_new(peers, hb_peer_state_name((hb_peer_state)s),
                            json_integer(st->peers[s]));
    json_object_set_new(o, "peers", peers);
    json_object_set_new(o, "loops", json_integer(st->loops));
    s_counters_json(o, &st->totals, false);
    return o;
}

json_t *hb__peer_stats_json(const hb_peer_info *p)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "ok", json_true());
    s_set_str(o, "id", p->id);
    json_object_set_new(o, "state", json_string(hb_peer_state_name(p->state)));
    json_object_set_new(o, "conn", json_integer(p->conn));
    json_object_set_new(o, "seq", json_integer((json_int_t)p->seq));
    json_object_set_new(o, "send_queue_depth", json_integer(p->send_queue_depth));
    json_object_set_new(o, "paused", json_boolean(p->paused));
    json_object_set_new(o, "loop", json_integer(p->loop));
    s_counters_json(o, &p->counters, true);
    return o;
}
