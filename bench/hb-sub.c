/*
 * hb-sub: the subscriber. A ZeroMQ SUB on the bridge's inbox (or on
 * hb-rawpub) that checks every message against SPEC section 4 and measures:
 * messages/s (first to last message), bytes, gaps in `seq` per peer,
 * `conn` changes, and the one-way latency from the send time stamped in the
 * payload by the generator to the moment this process read the message.
 *
 * Design: one thread, blocking zmq_msg_recv with a short ZMQ_RCVTIMEO so
 * the stop conditions (count reached, idle after the first message, overall
 * timeout, SIGINT/SIGTERM) are checked without a poll call per message. The
 * SUB's own high-water mark is unlimited by default so any drop happens at
 * the publisher (where `seq` reveals it), as in production.
 *
 * Readiness: a socket monitor reports when the ZMTP handshake with the
 * publisher is done; the subscription is sent right after it, so
 * {"event":"ready"} is printed after a short grace delay. A message that
 * still arrives late to the party shows as a first seq above 1 per peer and
 * is reported separately ("missed_at_start"), not as a gap.
 *
 * Output: JSON lines on stdout; the last one is the summary.
 */
#include "hb-bench.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define PEER_SLOTS 65536 /* power of two; > 4x the largest peer count we run */
#define ID_MAX     128

typedef struct {
    bool used;
    uint8_t id_len;
    char id[ID_MAX];
    uint32_t conn;
    uint64_t last_seq;
    uint64_t count;
} peer;

static volatile sig_atomic_t s_stop = 0;
static peer *s_peers;
static uint64_t s_npeers = 0;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_usage(void)
{
    fprintf(stderr,
            "usage: hb-sub --endpoint EP [--count TOTAL] [--idle-ms MS] [--timeout-s S]\n"
            "              [--size BYTES] [--hwm N] [--ready-delay-ms MS] [--progress-s S]\n"
            "              [--filter PREFIX]\n");
    exit(2);
}

static uint64_t s_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static peer *s_peer(const char *id, size_t n)
{
    if (n > ID_MAX) return NULL;
    size_t i = (size_t)s_hash(id, n) & (PEER_SLOTS - 1);
    for (;;) {
        peer *p = &s_peers[i];
        if (!p->used) {
            if (s_npeers >= PEER_SLOTS / 2) return NULL;
            p->used = true;
            p->id_len = (uint8_t)n;
            memcpy(p->id, id, n);
            s_npeers++;
            return p;
        }
        if (p->id_len == n && memcmp(p->id, id, n) == 0) return p;
        i = (i + 1) & (PEER_SLOTS - 1);
    }
}

static uint64_t s_be64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
    return v;
}

/* Opens a monitor for the handshake event. Call before zmq_connect so the
 * event cannot be missed; returns the PAIR that receives it, or NULL. */
static void *s_monitor_open(void *ctx, void *sub)
{
    if (zmq_socket_monitor(sub, "inproc://hb-sub-mon", ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0)
        return NULL;
    void *mon = zmq_socket(ctx, ZMQ_PAIR);
    if (zmq_connect(mon, "inproc://hb-sub-mon") != 0) {
        zmq_close(mon);
        return NULL;
    }
    return mon;
}

/* Waits up to timeout_ms for the handshake, then closes the monitor. */
static bool s_monitor_wait(void *sub, void *mon, int timeout_ms)
{
    if (!mon) return false;
    zmq_setsockopt(mon, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms));
    zmq_msg_t m;
    zmq_msg_init(&m);
    bool ok = zmq_msg_recv(&m, mon, 0) >= 0; /* event frame */
    while (ok && zmq_msg_more(&m) && zmq_msg_recv(&m, mon, 0) >= 0) {
    } /* endpoint frame */
    zmq_msg_close(&m);
    zmq_socket_monitor(sub, NULL, 0);
    int zero = 0;
    zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_close(mon);
    return ok;
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL, *filter = "";
    uint64_t want = 0, idle_ms = 2000, timeout_s = 60, size = 0, ready_delay_ms = 200;
    uint64_t progress_s = 0;
    int hwm = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--endpoint") && v)
            endpoint = v, i++;
        else if (!strcmp(a, "--count"))
            want = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--idle-ms"))
            idle_ms = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--timeout-s"))
            timeout_s = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--size"))
            size = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--hwm"))
            hwm = (int)bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--ready-delay-ms"))
            ready_delay_ms = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--progress-s"))
            progress_s = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--filter") && v)
            filter = v, i++;
        else
            s_usage();
    }
    if (!endpoint) s_usage();
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    s_peers = calloc(PEER_SLOTS, sizeof(*s_peers));
    bench_hist *lat = malloc(sizeof(*lat));
    /* The latency of each --progress-s interval alone (a soak's p99 over
     * time), reset after each progress line. */
    bench_hist *ivl = malloc(sizeof(*ivl));
    if (!s_peers || !lat || !ivl) return 1;
    bench_hist_init(lat);
    bench_hist_init(ivl);

    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int rcvtimeo = 100;
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &rcvtimeo, sizeof(rcvtimeo));
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, filter, strlen(filter));
    void *mon = s_monitor_open(ctx, sub);
    if (zmq_connect(sub, endpoint) != 0) {
        fprintf(stderr, "hb-sub: connect %s: %s\n", endpoint, zmq_strerror(errno));
        return 1;
    }
    bool hs = s_monitor_wait(sub, mon, (int)(timeout_s * 1000));
    if (ready_delay_ms) {
        struct timespec d = {(time_t)(ready_delay_ms / 1000),
                             (long)(ready_delay_ms % 1000) * 1000000};
        nanosleep(&d, NULL);
    }
    printf("{\"event\":\"ready\",\"handshake\":%s}\n", hs ? "true" : "false");
    fflush(stdout);

    uint64_t start = bench_mono_ns(), first = 0, last = 0, next_progress = 0;
    uint64_t received = 0, bytes = 0, gaps = 0, missing = 0, missed_at_start = 0, dups = 0;
    uint64_t bad = 0, conn_changes = 0, bad_size = 0, prog_count = 0;
    uint64_t min_ts = UINT64_MAX, last_wall = 0; /* earliest send time, latest receipt */
    const char *stop_reason = "count";
    zmq_msg_t f[3], extra;
    for (int i = 0; i < 3; i++) zmq_msg_init(&f[i]);
    zmq_msg_init(&extra);
    for (;;) {
        if (want && received >= want) break;
        if (s_stop) {
            stop_reason = "signal";
            break;
        }
        if (zmq_msg_recv(&f[0], sub, 0) < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                stop_reason = "error";
                break;
            }
            uint64_t now = bench_mono_ns();
            if (first && now - last > idle_ms * 1000000u) {
                stop_reason = "idle";
                break;
            }
            if (now - start > timeout_s * 1000000000u) {
                stop_reason = "timeout";
                break;
            }
            continue;
        }
        /* The rest of a multipart message is already here (atomic delivery). */
        int nf = 1;
        bool ok = true, more = zmq_msg_more(&f[0]);
        while (more) {
            zmq_msg_t *dst = nf < 3 ? &f[nf] : &extra;
            if (zmq_msg_recv(dst, sub, 0) < 0) {
                ok = false;
                break;
            }
            more = zmq_msg_more(dst);
            nf++;
        }
        uint64_t now_wall = bench_wall_ns();
        uint64_t now = bench_mono_ns();
        if (!first) first = now;
        last = now;
        received++;
        if (!ok || nf != 3 || zmq_msg_size(&f[2]) != 24) {
            bad++;
            continue;
        }
        const unsigned char *meta = zmq_msg_data(&f[2]);
        const char *pl = zmq_msg_data(&f[1]);
        size_t plen = zmq_msg_size(&f[1]);
        bytes += plen;
        if (meta[0] != 1 || meta[2] != 0 || meta[3] != 0) bad++;
        uint32_t conn = ((uint32_t)meta[4] << 24) | ((uint32_t)meta[5] << 16) |
                        ((uint32_t)meta[6] << 8) | meta[7];
        uint64_t seq = s_be64(meta + 8);
        peer *p = s_peer(zmq_msg_data(&f[0]), zmq_msg_size(&f[0]));
        if (!p) {
            bad++;
        } else {
            if (p->count == 0) {
                if (seq > 1) missed_at_start += seq - 1;
            } else if (seq == p->last_seq + 1) {
                /* in order */
            } else if (seq > p->last_seq + 1) {
                gaps++;
                missing += seq - p->last_seq - 1;
            } else {
                dups++;
            }
            if (p->count && conn != p->conn) conn_changes++;
            p->conn = conn;
            if (seq > p->last_seq) p->last_seq = seq;
            p->count++;
        }
        if (size && plen != size) bad_size++;
        uint64_t ts;
        last_wall = now_wall;
        if (plen >= BENCH_TS_DIGITS && bench_get_digits(pl + BENCH_TS_OFF, BENCH_TS_DIGITS, &ts)) {
            bench_hist_add(lat, now_wall > ts ? now_wall - ts : 0);
            if (progress_s) bench_hist_add(ivl, now_wall > ts ? now_wall - ts : 0);
            if (ts < min_ts) min_ts = ts;
        }
        if (progress_s && now >= next_progress) {
            if (next_progress) {
                printf("{\"event\":\"progress\",\"t_s\":%.3f,\"received\":%llu,\"rate\":%.1f,"
                       "\"missing\":%llu,",
                       (double)(now - first) / 1e9, (unsigned long long)received,
                       (double)(received - prog_count) / (double)progress_s,
                       (unsigned long long)missing);
                bench_hist_json(stdout, "lat_us", ivl);
                printf("}\n");
                fflush(stdout);
            }
            bench_hist_init(ivl);
            prog_count = received;
            next_progress = now + progress_s * 1000000000u;
        }
    }
    /* Throughput over the whole flow: from the earliest send time seen to
     * the last receipt, so a backlog drained in a burst cannot inflate it.
     * rate_rx (first to last receipt) is printed as well. */
    double el_rx = first && last > first ? (double)(last - first) / 1e9 : 0.0;
    double el = min_ts < last_wall ? (double)(last_wall - min_ts) / 1e9 : el_rx;
    printf("{\"event\":\"summary\",\"stop\":\"%s\",\"received\":%llu,\"elapsed_s\":%.6f,"
           "\"rate\":%.1f,\"rate_rx\":%.1f,\"mb_s\":%.3f,\"peers\":%llu,\"gaps\":%llu,\"missing\":%"
           "llu,"
           "\"missed_at_start\":%llu,\"dups\":%llu,\"conn_changes\":%llu,\"bad\":%llu,"
           "\"bad_size\":%llu,",
           stop_reason, (unsigned long long)received, el, el > 0 ? (double)received / el : 0.0,
           el_rx > 0 ? (double)(received - 1) / el_rx : 0.0,
           el > 0 ? (double)bytes / el / 1e6 : 0.0, (unsigned long long)s_npeers,
           (unsigned long long)gaps, (unsigned long long)missing,
           (unsigned long long)missed_at_start, (unsigned long long)dups,
           (unsigned long long)conn_changes, (unsigned long long)bad, (unsigned long long)bad_size);
    bench_hist_json(stdout, "lat_us", lat);
    printf("}\n");
    fflush(stdout);
    for (int i = 0; i < 3; i++) zmq_msg_close(&f[i]);
    zmq_msg_close(&extra);
    int zero = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof(zero));
    zmq_close(sub);
    zmq_ctx_term(ctx);
    free(lat);
    free(ivl);
    free(s_peers);
    return 0;
}
