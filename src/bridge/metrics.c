/*
 * metrics.c: the Prometheus text exposition of SPEC.md section 8, as a pure
 * function of a stats snapshot and a peer list (so tests pin it exactly).
 *
 * Every family has one series without a `peer` label (the bridge total,
 * monotonic across removed peers) and one per current peer. Label values
 * are escaped as the text format requires (\\, \", \n), each peer id once
 * per scrape, then appended with memcpy. Any thread.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge.h"

typedef struct s_buf {
    char *p;
    size_t len, cap;
    bool oom;
} s_buf;

static void s_reserve(s_buf *b, size_t more)
{
    if (b->oom || b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return;
    }
    b->p = p;
    b->cap = cap;
}

/* Format into the free space; only when it does not fit, grow and format
 * again (one vsnprintf per call in the usual case). */
static void s_printf(s_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_printf(s_buf *b, const char *fmt, ...)
{
    if (b->oom) return;
    s_reserve(b, 128);
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= b->cap - b->len) {
        s_reserve(b, (size_t)n);
        if (b->oom) return;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

static void s_append(s_buf *b, const char *p, size_t n)
{
    s_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* A label value escaped as the text format requires. Caller frees; NULL
 * on ENOMEM. Done once per peer per scrape. */
static char *s_escape(const char *v)
{
    size_t n = 0;
    for (const char *q = v; *q; q++) n += (*q == '\\' || *q == '"' || *q == '\n') ? 2 : 1;
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (; *v; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            *o++ = '\\';
            *o++ = *v == '\n' ? 'n' : *v;
        } else {
            *o++ = *v;
        }
    }
    *o = 0;
    return out;
}

static void s_header(s_buf *b, const char *name, const char *type, const char *help)
{
    s_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{peer="id"} v  (or name{peer="id",extra} v); `peer` is escaped. */
static void s_peer_series(s_buf *b, const char *name, const char *peer, const char *extra,
                          uint64_t v)
{
    if (b->oom) return; /* `peer` may be NULL then */
    s_printf(b, "%s{peer=\"", name);
    s_append(b, peer, strlen(peer));
    s_printf(b, "\"%s%s} %" PRIu64 "\n", extra ? "," : "", extra ? extra : "", v);
}

static uint64_t s_rx(const hb_counters *c)
{
    return c->messages_received;
}
static uint64_t s_tx(const hb_counters *c)
{
    return c->messages_sent;
}
static uint64_t s_brx(const hb_counters *c)
{
    return c->bytes_received;
}
static uint64_t s_btx(const hb_counters *c)
{
    return c->bytes_sent;
}
static uint64_t s_rc(const hb_counters *c)
{
    return c->reconnects;
}

/* Also the keys of the control op `stats` (wire.c). */
const hb__counter_family hb__counter_families[] = {
    {"messages_received_total", "WebSocket messages received from peers.", s_rx},
    {"messages_sent_total", "WebSocket messages written to peers.", s_tx},
    {"bytes_received_total", "Payload bytes received from peers.", s_brx},
    {"bytes_sent_total", "Payload bytes written to peers.", s_btx},
    {"reconnects_total", "Connections after a peer's first one.", s_rc},
};
const size_t hb__n_counter_families =
    sizeof(hb__counter_families) / sizeof(hb__counter_families[0]);

char *hb__metrics_render(const hb_pool_stats *st, const hb_peer_info *peers, size_t n,
                         const hb__bridge_counters *bc)
{
    s_buf b = {0};
    char **ids = n ? calloc(n, sizeof(*ids)) : NULL;
    if (n && !ids) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(ids[i] = s_escape(peers[i].id))) b.oom = true;
    s_header(&b, "honeybee_peers", "gauge", "Peers by state (per peer: 1 in its state).");
    for (int s = 0; s < HB_STATE__COUNT; s++)
        s_printf(&b, "honeybee_peers{state=\"%s\"} %" PRIu32 "\n",
                 hb_peer_state_name((hb_peer_state)s), st->peers[s]);
    for (size_t i = 0; i < n; i++)
        for (int s = 0; s < HB_STATE__COUNT; s++) {
            char extra[64];
            snprintf(extra, sizeof(extra), "state=\"%s\"", hb_peer_state_name((hb_peer_state)s));
            s_peer_series(&b, "honeybee_peers", ids[i], extra, (int)peers[i].state == s);
        }
    /* Per loop thread (pool.loops): how the hash spread the peers. */
    if (st->loops) {
        s_header(&b, "honeybee_loop_peers", "gauge",
                 "Peers living on each WebSocket loop thread (pool.loops).");
        for (uint32_t l = 0; l < st->loops && l < HB_POOL_MAX_LOOPS; l++)
            s_printf(&b, "honeybee_loop_peers{loop=\"%" PRIu32 "\"} %" PRIu32 "\n", l,
                     st->loop_peers[l]);
    }

    for (size_t f = 0; f < hb__n_counter_families; f++) {
        const hb__counter_family *cf = &hb__counter_families[f];
        char name[64];
        snprintf(name, sizeof(name), "honeybee_%s", cf->key);
        s_header(&b, name, "counter", cf->help);
        s_printf(&b, "%s %" PRIu64 "\n", name, cf->get(&st->totals));
        for (size_t i = 0; i < n; i++)
            s_peer_series(&b, name, ids[i], NULL, cf->get(&peers[i].counters));
    }

    s_header(&b, "honeybee_send_failed_total", "counter", "Refused sends by reason.");
    for (int r = 0; r < HB_SF__COUNT; r++)
        s_printf(&b, "honeybee_send_failed_total{reason=\"%s\"} %" PRIu64 "\n",
                 hb_send_fail_name((hb_send_fail)r), st->totals.send_failed[r]);
    for (size_t i = 0; i < n; i++)
        for (int r = 0; r < HB_SF__COUNT; r++) {
            /* unknown_peer and bad_request cannot belong to a peer. */
            if (r == HB_SF_UNKNOWN_PEER || r == HB_SF_BAD_REQUEST) continue;
            char extra[64];
            snprintf(extra, sizeof(extra), "reason=\"%s\"", hb_send_fail_name((hb_send_fail)r));
            s_peer_series(&b, "honeybee_send_failed_total", ids[i], extra,
                          peers[i].counters.send_failed[r]);
        }

    if (bc) {
        s_header(&b, "honeybee_events_dropped_total", "counter",
                 "Events lost because the bridge's events hand-off queue was full.");
        s_printf(&b, "honeybee_events_dropped_total %" PRIu64 "\n", bc->events_dropped);
        s_header(&b, "honeybee_inbox_published_total", "counter",
                 "Messages written to the inbox PUB socket (before per-subscriber HWM).");
        s_printf(&b, "honeybee_inbox_published_total %" PRIu64 "\n", bc->inbox_published);
        s_header(&b, "honeybee_inbox_unpublished_total", "counter",
                 "Messages received after the inbox socket closed at shutdown (not published).");
        s_printf(&b, "honeybee_inbox_unpublished_total %" PRIu64 "\n", bc->inbox_after_close);
        s_header(&b, "honeybee_control_requests_total", "counter",
                 "Requests answered on the control socket, refused ones included.");
        s_printf(&b, "honeybee_control_requests_total %" PRIu64 "\n", bc->control_requests);
        s_header(&b, "honeybee_control_errors_total", "counter",
                 "Control requests answered with an error, by its code.");
        for (int e = HB_E_OK + 1; e < HB_E__COUNT; e++)
            s_printf(&b, "honeybee_control_errors_total{error=\"%s\"} %" PRIu64 "\n", hb_errname(e),
                     bc->control_errors[e]);
        s_header(&b, "honeybee_zmq_handshake_failures_total", "counter",
                 "ZeroMQ clients whose handshake failed, by socket and kind (auth: refused by "
                 "bridge.curve; protocol: wrong server key, no CURVE; other: no detail, e.g. not "
                 "ZMTP).");
        for (int i = 0; i < HB__ZS__COUNT; i++)
            for (int k = 0; k < HB__HS__COUNT; k++)
                s_printf(&b,
                         "honeybee_zmq_handshake_failures_total{socket=\"%s\",kind=\"%s\"} "
                         "%" PRIu64 "\n",
                         hb__zsock_names[i], hb__hs_fail_names[k], bc->handshake_failed[i][k]);
        s_header(&b, "honeybee_shard_info", "gauge",
                 "Always 1: this replica is shard `shard` of `shards` (bridge.shard).");
        s_printf(&b, "honeybee_shard_info{shard=\"%u\",shards=\"%u\"} 1\n", bc->shard.index,
                 bc->shard.count ? bc->shard.count : 1);
        s_header(&b, "honeybee_zmq_disconnects_total", "counter",
                 "ZeroMQ client connections that ended, by socket (a sender ZeroMQ cut for a "
                 "frame over the socket's limit is one).");
        for (int i = 0; i < HB__ZS__COUNT; i++)
            s_printf(&b, "honeybee_zmq_disconnects_total{socket=\"%s\"} %" PRIu64 "\n",
                     hb__zsock_names[i], bc->disconnects[i]);
        if (bc->auth) {
            static const char *const dom[2] = {"readers", "writers"};
            static const char *const why[3] = {"address", "key", "mechanism"};
            s_header(&b, "honeybee_zmq_auth_denied_total", "counter",
                     "Handshakes the ZAP handler refused, by domain (readers: inbox, events; "
                     "writers: send, control) and reason.");
            for (int d = 0; d < 2; d++)
                for (int r = 0; r < 3; r++)
                    s_printf(&b,
                             "honeybee_zmq_auth_denied_total{domain=\"%s\",reason=\"%s\"} "
                             "%" PRIu64 "\n",
                             dom[d], why[r], bc->auth_denied[d][r]);
        }
    }
    for (size_t i = 0; i < n; i++) free(ids[i]);
    free(ids);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (!b.p) return strdup("");
    return b.p;
}
