/*
 * control.c: the control REP socket and its operations (SPEC.md section 6).
 *
 * hb__control_serve (bridge thread) reads one request and always answers
 * it: a REP socket that skips a reply locks. hb__ctl_handle is the pure
 * part, one request text in, one reply text out (the fuzzer drives it).
 * Parsing is in wire.c; here each op calls the pool. A refused `send`
 * answers the error code alone (no event) and is counted. An id that is
 * not a valid peer id (SPEC.md section 3) is bad_request in every op, as on
 * the send socket ("*" is valid in `send` only).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_int.h"
#include "config/schema.h"
#include "core/netrule.h"

static char *s_dump(json_t *o)
{
    char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return txt;
}

static char *s_ok(void)
{
    json_t *o = json_object();
    if (o) json_object_set_new(o, "ok", json_true());
    return s_dump(o);
}

/* The error reply, its code kept in *res for the bridge's counters; the
 * code's standard text when msg is NULL. */
static char *s_fail(int *res, int err, const char *msg)
{
    *res = err;
    return hb__ctl_error_reply(err, msg);
}

hb_pool_wide_cfg *hb__policy_copy(const hb_pool_wide_cfg *pw)
{
    hb_pool_wide_cfg *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    c->allow_private = pw->allow_private;
    c->allow = pw->n_allow ? calloc(pw->n_allow, sizeof(char *)) : NULL;
    if (pw->n_allow && !c->allow) {
        free(c);
        return NULL;
    }
    for (; c->n_allow < pw->n_allow; c->n_allow++)
        if (!(c->allow[c->n_allow] = strdup(pw->allow[c->n_allow]))) {
            hb__policy_free(&c);
            return NULL;
        }
    return c;
}

void hb__policy_free(hb_pool_wide_cfg **pp)
{
    hb_pool_wide_cfg *p = *pp;
    if (!p) return;
    for (size_t i = 0; i < p->n_allow; i++) free(p->allow[i]);
    free(p->allow);
    free(p);
    *pp = NULL;
}

hb_peer_opts *hb__defaults_copy(const hb_peer_opts *po)
{
    hb_peer_opts *c = calloc(1, sizeof(*c));
    if (!c) return NULL;
    if (hb__cfg_section_copy(HB__S_POOL, c, po) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void hb__defaults_free(hb_peer_opts **pp)
{
    hb_peer_opts *p = *pp;
    if (!p) return;
    hb__cfg_section_free(HB__S_POOL, p);
    free(p);
    *pp = NULL;
}

/* pool.allow and pool.allow_private for a connect's URL: 0 or not_allowed
 * with the reason in msg. */
static int s_allowed(const hb_pool_wide_cfg *pw, const char *url, char *msg, size_t cap)
{
    if (!pw) return 0;
    if (!hb__allow_match(pw->allow, pw->n_allow, url)) {
        snprintf(msg, cap, "url is outside pool.allow");
        return HB_E_NOT_ALLOWED;
    }
    if (!pw->allow_private && hb__url_host_private(url)) {
        snprintf(msg, cap,
                 "url is a loopback, private or link-local host, refused by "
                 "pool.allow_private: false");
        return HB_E_NOT_ALLOWED;
    }
    return 0;
}

/* A shard on the wire (SPEC.md: "the owner's index in `shard`"): its
 * index in `shard`, the number of shards in `shards`. */
static void s_set_shard(json_t *o, uint32_t index, uint32_t count)
{
    json_object_set_new(o, "shard", json_integer(index));
    json_object_set_new(o, "shards", json_integer(count));
}

/* A connect for a peer another shard owns: wrong_shard, with the owner in
 * `shard` so that a client can route (docs/protocol.md, "Sharding"). */
static char *s_wrong_shard(hb__shard me, uint32_t owner, const char *id, int *res)
{
    *res = HB_E_WRONG_SHARD;
    /* A valid id: at most 128 bytes of UTF-8, no control characters. */
    char msg[400];
    snprintf(msg, sizeof msg, "peer \"%s\" belongs to shard %u/%u; this is shard %u/%u", id, owner,
             me.count, me.index, me.count);
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "ok", json_false());
    json_object_set_new(o, "error", json_string(hb_errname(HB_E_WRONG_SHARD)));
    json_object_set_new(o, "message", json_string(msg));
    s_set_shard(o, owner, me.count);
    return s_dump(o);
}

static char *s_connect(hb_pool *pool, const hb_peer_opts *defaults, const hb_pool_wide_cfg *policy,
                       hb__shard me, const hb__ctl_req *rq, const hb_logger *lg, int *res,
                       char *touched)
{
    /* Ownership first: another shard's peer is routed on, whatever its
     * options say (an invalid id falls through to bad_request below). */
    if (me.count > 1 && hb_peer_id_valid(rq->id, rq->id_len)) {
        uint32_t owner = hb__shard_of(rq->id, rq->id_len, me.count);
        if (owner != me.index) return s_wrong_shard(me, owner, rq->id, res);
    }
    /* JSON_ALLOW_NUL lets "\u0000" through: a URL that C would cut there
     * is not the URL the client sent. */
    if (strlen(rq->url) != rq->url_len)
        return s_fail(res, HB_E_INVALID_URL, "invalid url: contains U+0000");
    hb_peer_cfg peer;
    char *errors = NULL;
    memset(&peer, 0, sizeof(peer));
    /* `options` merges key by key into the `pool` section of the file the
     * daemon last (re)loaded. */
    int rc = hb_peer_cfg_from_json(defaults, rq->id, rq->url, rq->options, &peer, &errors);
    if (rc) {
        /* One line per problem; the message is for a person: no final newline. */
        size_t n = errors ? strlen(errors) : 0;
        while (n && (errors[n - 1] == '\n' || errors[n - 1] == '\r')) errors[--n] = 0;
        char *reply = s_fail(res, rc, n ? errors : NULL);
        free(errors);
        return reply;
    }
    free(errors);
    char why[160];
    if ((rc = s_allowed(policy, peer.url, why, sizeof(why))) != 0) {
        /* The bridge warns with the reply (rate-limited); the URL here. */
        HB_LOG(lg, HB_LOG_DEBUG, peer.id, "connect refused: %s (%s)", why, peer.url);
        hb_peer_cfg_free(&peer);
        return s_fail(res, rc, why);
    }
    /* Names are checked after DNS, by the dialler: a name that resolves
     * to a private address passed the check above. */
    peer.public_only = policy && !policy->allow_private;
    rc = hb_pool_connect(pool, &peer);
    if (rc == 0) HB_LOG(lg, HB_LOG_DEBUG, peer.id, "peer added over control (%s)", peer.url);
    if (rc == 0 && touched) snprintf(touched, HB__CTL_ID_CAP, "%s", peer.id);
    hb_peer_cfg_free(&peer);
    return rc ? s_fail(res, rc, NULL) : s_ok();
}

static void s_first_refusal(void *ud, const char *id, int err)
{
    int *first = ud;
    if (!*first) *first = err;
}

/* One peer, or "*" as on the send socket: every connected peer. ok when at
 * least one peer queued it (the others' refusals are counted per peer);
 * when every connected peer refused, the first refusal's code; when none
 * was connected, not_connected (counted once). */
static int s_send_to(hb_pool *pool, const char *id, bool star, const void *data, size_t len,
                     hb_msg_type type)
{
    if (!star) return hb_pool_send(pool, id, data, len, type);
    int first = 0;
    int n = hb_pool_broadcast_ex(pool, data, len, type, s_first_refusal, &first);
    if (n == -HB_E_NOT_CONNECTED) {
        hb_pool_count_send_failed(pool, HB_E_NOT_CONNECTED);
        return HB_E_NOT_CONNECTED;
    }
    if (n < 0) return -n;
    return n == 0 ? first : 0;
}

/* A peer id as SPEC.md section 3 defines it (hb_peer_id_valid refuses
 * control characters, so a U+0000 that JSON_ALLOW_NUL let through too). */
static bool s_id_ok(const hb__ctl_req *rq)
{
    return hb_peer_id_valid(rq->id, rq->id_len);
}

#define S_BAD_ID "invalid id: 1..128 bytes of UTF-8, no \"*\", no control characters"

static char *s_send(hb_pool *pool, const hb__ctl_req *rq, int *res)
{
    bool star = rq->id_len == 1 && rq->id[0] == '*';
    if (!star && !s_id_ok(rq)) {
        /* As on the send socket and for connect: a malformed request. */
        hb_pool_count_send_failed(pool, HB_E_BAD_REQUEST);
        return s_fail(res, HB_E_BAD_REQUEST, S_BAD_ID);
    }
    int rc;
    if (rq->binary) {
        unsigned char *raw = NULL;
        size_t n = 0;
        rc = hb__base64_decode(rq->data, rq->data_len, &raw, &n);
        if (rc) {
            hb_pool_count_send_failed(pool, HB_E_BAD_REQUEST);
            return s_fail(res, HB_E_BAD_REQUEST, "data: invalid base64");
        }
        rc = s_send_to(pool, rq->id, star, raw, n, HB_MSG_BINARY);
        free(raw);
    } else {
        /* jansson guarantees valid UTF-8 for strings: a text message. */
        rc = s_send_to(pool, rq->id, star, rq->data, rq->data_len, HB_MSG_TEXT);
    }
    /* hb_pool_send counts its own refusals, unknown_peer included. */
    return rc ? s_fail(res, rc, NULL) : s_ok();
}

static char *s_list(hb_pool *pool, hb__shard me, int *res)
{
    hb_peer_info *list = NULL;
    size_t n = 0;
    int rc = hb_pool_list(pool, &list, &n);
    if (rc) return s_fail(res, rc, NULL);
    json_t *o = json_object();
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, hb__peer_info_json(&list[i]));
    hb_peer_list_free(list, n);
    json_object_set_new(o, "ok", json_true());
    s_set_shard(o, me.index, me.count);
    json_object_set_new(o, "peers", arr);
    return s_dump(o);
}

static char *s_stats(hb_pool *pool, hb__shard me, const hb__ctl_req *rq, int *res)
{
    if (rq->id) {
        hb_peer_info info;
        memset(&info, 0, sizeof(info));
        if (!s_id_ok(rq)) return s_fail(res, HB_E_BAD_REQUEST, S_BAD_ID);
        int rc = hb_pool_peer_info(pool, rq->id, &info);
        if (rc) return s_fail(res, rc, NULL);
        json_t *o = hb__peer_stats_json(&info);
        free(info.url);
        if (o) s_set_shard(o, me.index, me.count);
        return s_dump(o);
    }
    hb_pool_stats st;
    int rc = hb_pool_stats_get(pool, &st);
    if (rc) return s_fail(res, rc, NULL);
    json_t *o = hb__stats_json(&st);
    if (o) s_set_shard(o, me.index, me.count);
    return s_dump(o);
}

char *hb__ctl_handle(hb_pool *pool, const hb_peer_opts *defaults, const hb_pool_wide_cfg *policy,
                     hb__shard shard, bool shutting_down, const void *buf, size_t len,
                     const hb_logger *lg, int *result, char *touched)
{
    int res = 0;
    if (touched) touched[0] = 0;
    if (shard.count == 0) shard = (hb__shard){0, 1};
    hb__ctl_req rq;
    char msg[256];
    int rc = hb__ctl_parse(buf, len, &rq, msg, sizeof(msg));
    if (rc) {
        /* A malformed send is a refused send too (SPEC.md section 6: every
         * refusal counts in send_failed), as on the send socket. */
        if (pool && rq.op_known && rq.op == HB__OP_SEND)
            hb_pool_count_send_failed(pool, HB_E_BAD_REQUEST);
        *result = rc;
        return hb__ctl_error_reply(rc, msg);
    }
    char *reply = NULL;
    if (shutting_down &&
        (rq.op == HB__OP_CONNECT || rq.op == HB__OP_REMOVE || rq.op == HB__OP_SEND)) {
        reply = s_fail(&res, HB_E_SHUTTING_DOWN, NULL);
        hb__ctl_req_free(&rq);
        *result = res;
        return reply;
    }
    switch (rq.op) {
    case HB__OP_CONNECT:
        reply = s_connect(pool, defaults, policy, shard, &rq, lg, &res, touched);
        break;
    case HB__OP_REMOVE:
        if (!s_id_ok(&rq)) {
            reply = s_fail(&res, HB_E_BAD_REQUEST, S_BAD_ID);
            break;
        }
        rc = hb_pool_remove(pool, rq.id);
        if (rc == 0) HB_LOG(lg, HB_LOG_INFO, rq.id, "remove requested over control");
        if (rc == 0 && touched) snprintf(touched, HB__CTL_ID_CAP, "%s", rq.id);
        reply = rc ? s_fail(&res, rc, NULL) : s_ok();
        break;
    case HB__OP_SEND:
        reply = s_send(pool, &rq, &res);
        break;
    case HB__OP_LIST:
        reply = s_list(pool, shard, &res);
        break;
    case HB__OP_STATS:
        reply = s_stats(pool, shard, &rq, &res);
        break;
    case HB__OP_PING:
        reply = s_ok();
        break;
    }
    hb__ctl_req_free(&rq);
    if (!reply && !res) res = HB_E_NOMEM;
    *result = res;
    return reply;
}

void hb__control_serve(hb__bridge *b)
{
    zmq_msg_t req;
    zmq_msg_init(&req);
    int total = 0;
    bool ok = true;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, b->s_control, total ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            if (total == 0) {
                zmq_msg_close(&req);
                return;
            }
            ok = false;
            break;
        }
        bool more = zmq_msg_more(&part);
        if (total++ == 0) {
            zmq_msg_move(&req, &part);
        }
        zmq_msg_close(&part);
        if (!more) break;
    }
    char *reply;
    int res = 0;
    char touched[HB__CTL_ID_CAP] = "";
    if (!ok || total != 1) {
        res = HB_E_BAD_REQUEST;
        reply = hb__ctl_error_reply(res, "a request is exactly one frame");
    } else {
        pthread_mutex_lock(&b->mu);
        bool stopping = b->cmd_stop_sends;
        hb_pool_wide_cfg *next = b->policy_next;
        hb_peer_opts *next_d = b->defaults_next;
        b->policy_next = NULL;
        b->defaults_next = NULL;
        pthread_mutex_unlock(&b->mu);
        if (next) { /* a reload's pool section (hb__bridge_set_pool) */
            hb__policy_free(&b->policy);
            b->policy = next;
        }
        if (next_d) {
            hb__defaults_free(&b->defaults);
            b->defaults = next_d;
        }
        hb__shard me = {b->cfg.shard_index, b->cfg.shard_count};
        reply = hb__ctl_handle(b->pool, b->defaults, b->policy, me, stopping, zmq_msg_data(&req),
                               zmq_msg_size(&req), b->lg, &res, touched);
    }
    zmq_msg_close(&req);
    /* Before the reply: once the client reads it, a reload already knows
     * control took the id. */
    if (touched[0] && b->ctl_hook) b->ctl_hook(b->hook_ud, touched);
    const char *fallback = "{\"ok\":false,\"error\":\"internal\",\"message\":\"out of memory\"}";
    const char *r = reply ? reply : fallback;
    /* Counted before the reply goes out: a client that reads its reply and
     * then /metrics sees its request in the counters. */
    atomic_fetch_add_explicit(&b->c_control_requests, 1, memory_order_relaxed);
    if (res > 0 && res < HB_E__COUNT) {
        /* Every refusal is counted by code. A malformed request, or a URL
         * the policy refuses, is a warning quoting the reply, under the
         * socket's log rate limit (a careless client can send millions);
         * the other refusals (unknown_peer, peer_exists, ...) are answers
         * to well-formed requests: debug. */
        atomic_fetch_add_explicit(&b->c_control_errors[res], 1, memory_order_relaxed);
        if (res == HB_E_BAD_REQUEST || res == HB_E_UNKNOWN_OP || res == HB_E_NOT_ALLOWED)
            hb__bridge_warn(b, &b->control_log, NULL, "control socket: refused: %s", r);
        else
            HB_LOG(b->lg, HB_LOG_DEBUG, NULL, "control socket: %s", r);
    }
    /* REP must answer every request, or the socket locks: never skip this. */
    if (zmq_send(b->s_control, r, strlen(r), 0) < 0)
        HB_LOG(b->lg, HB_LOG_WARN, NULL, "control reply failed: %s", zmq_strerror(errno));
    free(reply);
}
