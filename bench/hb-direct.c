/*
 * hb-direct: the "direct" limit. Reads the generator's stream over
 * WebSocket with libwebsockets (the same library and default receive buffer
 * the bridge uses) and no ZeroMQ after it, measuring messages/s, latency
 * from the payload's send time, and gaps in the generator's per-connection
 * sequence number. It is the ceiling for the WebSocket side of the bridge.
 *
 * Design: one lws context, one service thread (main). Each connection
 * reassembles nothing but the first BENCH_HDR_LEN bytes of a message (enough
 * for the time and sequence digits); the rest is only counted. Prints
 * {"event":"ready"} once all N connections are up (the runner then tells the
 * generator to start) and a JSON summary at the end.
 */
#include "hb-bench.h"

#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t last_seq;
    uint64_t count;
    size_t msg_len;
    size_t hdr_have;
    char hdr[BENCH_HDR_LEN];
} dconn;

/* All of it belongs to the service thread. */
static volatile sig_atomic_t s_stop = 0;
static uint64_t s_conns = 1, s_want = 0, s_size = 0;
static uint64_t s_established = 0, s_failed = 0, s_closed = 0;
static uint64_t s_received = 0, s_bytes = 0, s_gaps = 0, s_missing = 0, s_dups = 0;
static uint64_t s_bad_size = 0, s_bad = 0, s_first = 0, s_last = 0;
static uint64_t s_min_ts = UINT64_MAX, s_last_wall = 0;
static bench_hist s_lat;
static bool s_ready_printed = false;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

/* Service thread. Called once per whole message. */
static void s_message(dconn *d)
{
    uint64_t now_wall = bench_wall_ns(), now = bench_mono_ns();
    if (!s_first) s_first = now;
    s_last = now;
    s_received++;
    s_bytes += d->msg_len;
    if (s_size && d->msg_len != s_size) s_bad_size++;
    uint64_t ts, seq;
    if (d->hdr_have < BENCH_HDR_LEN ||
        !bench_get_digits(d->hdr + BENCH_TS_OFF, BENCH_TS_DIGITS, &ts) ||
        !bench_get_digits(d->hdr + BENCH_SEQ_OFF, BENCH_SEQ_DIGITS, &seq)) {
        s_bad++;
        return;
    }
    bench_hist_add(&s_lat, now_wall > ts ? now_wall - ts : 0);
    if (ts < s_min_ts) s_min_ts = ts;
    s_last_wall = now_wall;
    if (d->count && seq > d->last_seq + 1) {
        s_gaps++;
        s_missing += seq - d->last_seq - 1;
    } else if (d->count && seq <= d->last_seq) {
        s_dups++;
    }
    if (seq > d->last_seq) d->last_seq = seq;
    d->count++;
}

static int s_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    dconn *d = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        s_established++;
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        s_failed++;
        fprintf(stderr, "hb-direct: connect failed: %s\n", in ? (const char *)in : "?");
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        s_closed++;
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        if (lws_is_first_fragment(wsi)) {
            d->msg_len = 0;
            d->hdr_have = 0;
        }
        if (d->hdr_have < BENCH_HDR_LEN) {
            size_t n = BENCH_HDR_LEN - d->hdr_have;
            if (n > len) n = len;
            memcpy(d->hdr + d->hdr_have, in, n);
            d->hdr_have += n;
        }
        d->msg_len += len;
        if (lws_is_final_fragment(wsi)) s_message(d);
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols s_protocols[] = {
    {"hb-direct", s_callback, sizeof(dconn), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void s_usage(void)
{
    fprintf(stderr,
            "usage: hb-direct --port P[,P2,...] [--conns N] [--count TOTAL] [--size BYTES]\n"
            "                 [--idle-ms MS] [--timeout-s S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    unsigned ports[64];
    unsigned nports = 0;
    uint64_t idle_ms = 2000, timeout_s = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--port") && v) {
            char *dup = strdup(v), *save = NULL;
            for (char *t = strtok_r(dup, ",", &save); t && nports < 64;
                 t = strtok_r(NULL, ",", &save))
                ports[nports++] = (unsigned)bench_arg_u64(a, t);
            free(dup);
            i++;
        } else if (!strcmp(a, "--conns"))
            s_conns = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--count"))
            s_want = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--size"))
            s_size = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--idle-ms"))
            idle_ms = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--timeout-s"))
            timeout_s = bench_arg_u64(a, v), i++;
        else
            s_usage();
    }
    if (!nports || !s_conns) s_usage();
    bench_raise_nofile();
    bench_hist_init(&s_lat);
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = s_protocols;
    info.gid = -1;
    info.uid = -1;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "hb-direct: lws_create_context failed\n");
        return 1;
    }
    for (uint64_t i = 0; i < s_conns; i++) {
        struct lws_client_connect_info ci;
        memset(&ci, 0, sizeof(ci));
        ci.context = ctx;
        ci.address = "127.0.0.1";
        ci.port = (int)ports[i % nports];
        ci.path = "/";
        ci.host = "127.0.0.1";
        ci.origin = "127.0.0.1";
        ci.protocol = NULL;
        ci.local_protocol_name = "hb-direct";
        if (!lws_client_connect_via_info(&ci)) s_failed++;
    }
    uint64_t start = bench_mono_ns();
    const char *stop = "count";
    while (!s_stop) {
        lws_service(ctx, 0);
        if (!s_ready_printed && s_established >= s_conns) {
            printf("{\"event\":\"ready\",\"conns\":%llu}\n", (unsigned long long)s_established);
            fflush(stdout);
            s_ready_printed = true;
        }
        if (s_want && s_received >= s_want) break;
        uint64_t now = bench_mono_ns();
        if (s_first && now - s_last > idle_ms * 1000000u) {
            stop = "idle";
            break;
        }
        if (now - start > timeout_s * 1000000000u) {
            stop = "timeout";
            break;
        }
        if (s_failed + s_closed >= s_conns && !s_received) {
            stop = "failed";
            break;
        }
    }
    if (s_stop) stop = "signal";
    /* Same definition as hb-sub: earliest send time to last receipt. */
    double el_rx = s_first && s_last > s_first ? (double)(s_last - s_first) / 1e9 : 0.0;
    double el = s_min_ts < s_last_wall ? (double)(s_last_wall - s_min_ts) / 1e9 : el_rx;
    printf(
        "{\"event\":\"summary\",\"stop\":\"%s\",\"received\":%llu,\"elapsed_s\":%.6f,"
        "\"rate\":%.1f,\"rate_rx\":%.1f,\"mb_s\":%.3f,\"conns\":%llu,\"failed\":%llu,\"gaps\":%llu,"
        "\"missing\":%llu,\"dups\":%llu,\"bad\":%llu,\"bad_size\":%llu,",
        stop, (unsigned long long)s_received, el, el > 0 ? (double)s_received / el : 0.0,
        el_rx > 0 ? (double)(s_received - 1) / el_rx : 0.0,
        el > 0 ? (double)s_bytes / el / 1e6 : 0.0, (unsigned long long)s_established,
        (unsigned long long)s_failed, (unsigned long long)s_gaps, (unsigned long long)s_missing,
        (unsigned long long)s_dups, (unsigned long long)s_bad, (unsigned long long)s_bad_size);
    bench_hist_json(stdout, "lat_us", &s_lat);
    printf("}\n");
    fflush(stdout);
    lws_context_destroy(ctx);
    return 0;
}
