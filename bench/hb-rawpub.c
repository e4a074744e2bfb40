/*
 * hb-rawpub: the "raw ZeroMQ" limit. Publishes the same three-frame inbox
 * messages the bridge would ([peer id][payload][24-byte metadata], SPEC
 * section 4) straight from memory, with no WebSocket in front, so hb-sub
 * measures the ceiling of the ZeroMQ hop on this machine.
 *
 * Design: one thread. The socket is an XPUB (it sends exactly like a PUB)
 * so it can wait for the subscriber's subscription before the first message
 * instead of guessing. Peers are served round robin, `seq` per peer from 1,
 * `conn` 1, received_ns and the payload send time from the wall clock at the
 * moment of each send. With --nodrop (ZMQ_XPUB_NODROP) a full high-water
 * mark blocks the sender instead of dropping: that measures the most the
 * subscriber can take, which is the limit the bridge is compared with.
 * --rate paces the total rate against the clock (absolute sleeps), for the
 * latency floor at a fixed rate.
 */
#include "hb-bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static void s_usage(void)
{
    fprintf(stderr,
            "usage: hb-rawpub --endpoint EP [--peers N] [--size BYTES] [--count PER_PEER]\n"
            "                 [--rate TOTAL_MSG_S] [--hwm N] [--nodrop] [--subs N] [--wait-ms MS]\n"
            "                 [--linger-ms MS] [--delay-ms MS]\n");
    exit(2);
}

static void s_put_be(unsigned char *b, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        b[i] = (unsigned char)v;
        v >>= 8;
    }
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL;
    uint64_t peers = 1, size = 200, count = 100000, wait_ms = 10000, linger_ms = 10000;
    uint64_t delay_ms = 300;
    double rate = 0;
    int hwm = 100000, nodrop = 0, subs = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--endpoint") && v)
            endpoint = v, i++;
        else if (!strcmp(a, "--peers"))
            peers = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--size"))
            size = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--count"))
            count = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--rate"))
            rate = bench_arg_double(a, v), i++;
        else if (!strcmp(a, "--hwm"))
            hwm = (int)bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--wait-ms"))
            wait_ms = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--linger-ms"))
            linger_ms = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--delay-ms"))
            delay_ms = bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--subs"))
            subs = (int)bench_arg_u64(a, v), i++;
        else if (!strcmp(a, "--nodrop"))
            nodrop = 1;
        else
            s_usage();
    }
    if (!endpoint || peers < 1 || size < BENCH_HDR_LEN) s_usage();

    char(*ids)[16] = calloc(peers, sizeof(*ids));
    size_t *id_len = calloc(peers, sizeof(*id_len));
    uint64_t *seq = calloc(peers, sizeof(*seq));
    char *payload = malloc(size);
    if (!ids || !id_len || !seq || !payload) return 1;
    for (uint64_t p = 0; p < peers; p++)
        id_len[p] = (size_t)snprintf(ids[p], sizeof(ids[p]), "p%llu", (unsigned long long)p);
    bench_payload_init(payload, size);

    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_XPUB);
    int lg = (int)linger_ms, to = (int)wait_ms;
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    zmq_setsockopt(pub, ZMQ_XPUB_NODROP, &nodrop, sizeof(nodrop));
    zmq_setsockopt(pub, ZMQ_LINGER, &lg, sizeof(lg));
    zmq_setsockopt(pub, ZMQ_RCVTIMEO, &to, sizeof(to));
    /* Every subscriber's subscription is passed up (not only the first of
     * a topic), so --subs N can wait for all of them. */
    int verbose = 1;
    zmq_setsockopt(pub, ZMQ_XPUB_VERBOSE, &verbose, sizeof(verbose));
    if (zmq_bind(pub, endpoint) != 0) {
        fprintf(stderr, "hb-rawpub: bind %s: %s\n", endpoint, zmq_strerror(errno));
        return 1;
    }
    printf("{\"event\":\"listening\"}\n");
    fflush(stdout);
    char sb[256];
    for (int i = 0; i < subs; i++)
        if (zmq_recv(pub, sb, sizeof(sb), 0) < 0) {
            fprintf(stderr, "hb-rawpub: %d of %d subscribers within %llu ms\n", i, subs,
                    (unsigned long long)wait_ms);
            return 1;
        }
    /* hb-sub announces "ready" a grace period after its handshake; start
     * after that, so its first message does not wait on its own sleep. */
    struct timespec dl = {(time_t)(delay_ms / 1000), (long)(delay_ms % 1000) * 1000000};
    nanosleep(&dl, NULL);
    printf("{\"event\":\"start\"}\n");
    fflush(stdout);

    uint64_t total = count * peers, start = bench_mono_ns();
    unsigned char meta[24] = {1, 0, 0, 0, 0, 0, 0, 1};
    struct timespec due;
    clock_gettime(CLOCK_MONOTONIC, &due);
    uint64_t due_ns = (uint64_t)due.tv_sec * 1000000000u + (uint64_t)due.tv_nsec;
    uint64_t sent = 0;
    for (uint64_t k = 0; k < total; k++) {
        if (rate > 0) {
            uint64_t at = due_ns + (uint64_t)((double)k / rate * 1e9);
            struct timespec ts = {(time_t)(at / 1000000000u), (long)(at % 1000000000u)};
            if (bench_mono_ns() < at) clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
        uint64_t p = k % peers;
        uint64_t now = bench_wall_ns();
        bench_put_digits(payload + BENCH_TS_OFF, BENCH_TS_DIGITS, now);
        bench_put_digits(payload + BENCH_SEQ_OFF, BENCH_SEQ_DIGITS, ++seq[p]);
        s_put_be(meta + 8, seq[p], 8);
        s_put_be(meta + 16, now, 8);
        if (zmq_send(pub, ids[p], id_len[p], ZMQ_SNDMORE) < 0 ||
            zmq_send(pub, payload, size, ZMQ_SNDMORE) < 0 || zmq_send(pub, meta, 24, 0) < 0) {
            fprintf(stderr, "hb-rawpub: send: %s\n", zmq_strerror(errno));
            break;
        }
        sent++;
    }
    double el = (double)(bench_mono_ns() - start) / 1e9;
    printf("{\"event\":\"done\",\"sent\":%llu,\"elapsed_s\":%.6f,\"rate\":%.1f}\n",
           (unsigned long long)sent, el, el > 0 ? (double)sent / el : 0.0);
    fflush(stdout);
    zmq_close(pub); /* lingers until the subscriber has everything (or linger_ms) */
    zmq_ctx_term(ctx);
    free(ids);
    free(id_len);
    free(seq);
    free(payload);
    return 0;
}
