/*
 * hb-codec: micro-benchmark of the WebSocket codec (src/ws/frame.c) on one
 * core, no I/O. Decoding: a buffer of back-to-back server frames (text
 * payload in the bench layout, valid UTF-8) is fed in 16 KiB reads, as the
 * transport would feed what it read from a socket, to a callback that only
 * counts; reported per frame and in MB/s of payload, for text (UTF-8
 * checked) and binary. The same bytes read by wslay's frame layer
 * (wslay_frame_recv, the alternative frame.c explains it does not use) are
 * timed beside it. Encoding: hb__ws_frame (header, fresh masking key, mask
 * in place) on one payload over and over, and what a RAND_bytes call per
 * key would cost instead of the per-thread pool. Memory: the heap a
 * decoder holds, against a wslay frame context.
 *
 * Times are the thread's CPU time (on a shared machine, time descheduled
 * is not the codec's), and each figure is the best of five interleaved
 * rounds. Usage: hb-codec [--seconds S] (default 2.5 per figure). Prints a
 * table, then one JSON line. Built from the codec's sources, not the
 * library, like the other bench tools. Single-threaded.
 */
#include "hb-bench.h"

#include <malloc.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wslay/wslay.h>

#include "ws/ws.h"

static double s_seconds = 2.5;

/* This thread's CPU time: on a shared machine, time spent descheduled is
 * not the codec's. */
static uint64_t s_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- a stream of server frames ------------------------------------------------ */

typedef struct s_stream {
    uint8_t *p;
    size_t len;
    size_t frames;
} s_stream;

/* About 4 MiB of frames of `size` payload bytes. */
static s_stream s_make(size_t size, int opcode)
{
    size_t hdr = size < 126 ? 2 : size <= 0xFFFF ? 4 : 10;
    size_t n = (4u << 20) / (size + hdr) + 1;
    s_stream s = {malloc(n * (size + hdr)), n * (size + hdr), n};
    if (!s.p) exit(1);
    char *payload = malloc(size);
    bench_payload_init(payload, size);
    for (size_t i = 0; i < n; i++) {
        uint8_t *f = s.p + i * (size + hdr);
        f[0] = (uint8_t)(0x80 | opcode);
        if (hdr == 2) {
            f[1] = (uint8_t)size;
        } else {
            f[1] = 126, f[2] = (uint8_t)(size >> 8), f[3] = (uint8_t)size;
        }
        memcpy(f + hdr, payload, size);
    }
    free(payload);
    return s;
}

/* ---- decoding ------------------------------------------------------------------- */

static uint64_t s_msgs, s_bytes;

static int s_on_data(void *ud, const uint8_t *p, size_t n, bool first, bool final, bool binary,
                     uint64_t left)
{
    s_bytes += n;
    s_msgs += final;
    return 0;
}

#define S_READ 16384

/* ns per frame of hb__ws_feed over the stream, in S_READ reads. */
static double s_decode(const s_stream *s)
{
    hb__ws *ws = hb__ws_new(UINT64_C(1) << 40);
    hb__ws_cb cb = {.on_data = s_on_data};
    uint64_t frames = 0, t0 = s_cpu_ns(), t;
    s_msgs = 0;
    do {
        for (size_t at = 0; at < s->len; at += S_READ) {
            size_t k = s->len - at < S_READ ? s->len - at : S_READ, used;
            if (hb__ws_feed(ws, s->p + at, k, &cb, &used, NULL) != HB__WS_OK) exit(2);
        }
        frames += s->frames;
        t = s_cpu_ns() - t0;
    } while (t < s_seconds * 1e9);
    if (s_msgs != frames) exit(3);
    hb__ws_free(&ws);
    return (double)t / (double)frames;
}

typedef struct s_src {
    const uint8_t *p;
    size_t len, off, read_end;
} s_src;

static ssize_t s_wslay_recv(uint8_t *buf, size_t len, int flags, void *ud)
{
    s_src *s = ud;
    size_t k = s->read_end - s->off;
    if (k > len) k = len;
    if (!k) return 0;
    memcpy(buf, s->p + s->off, k);
    s->off += k;
    return (ssize_t)k;
}

/* The same with wslay_frame_recv (no UTF-8 check, no message state). */
static double s_decode_wslay(const s_stream *st)
{
    s_src src = {st->p, st->len, 0, 0};
    struct wslay_frame_callbacks cbs = {NULL, s_wslay_recv, NULL};
    wslay_frame_context_ptr ctx;
    if (wslay_frame_context_init(&ctx, &cbs, &src) != 0) exit(1);
    uint64_t frames = 0, got = 0, t0 = s_cpu_ns(), t;
    do {
        for (size_t at = 0; at < st->len; at += S_READ) {
            src.off = at;
            src.read_end = st->len - at < S_READ ? st->len : at + S_READ;
            for (;;) {
                struct wslay_frame_iocb io;
                ssize_t r = wslay_frame_recv(ctx, &io);
                if (r < 0) break;
                s_bytes += io.data_length;
                if (io.data_length && io.fin) got++;
            }
        }
        frames += st->frames;
        t = s_cpu_ns() - t0;
    } while (t < s_seconds * 1e9);
    (void)got;
    wslay_frame_context_free(ctx);
    return (double)t / (double)frames;
}

/* ---- encoding ------------------------------------------------------------------- */

static double s_encode(size_t size)
{
    uint8_t *buf = malloc(HB__WS_MAX_HEADER + size);
    memset(buf, 'a', HB__WS_MAX_HEADER + size);
    uint64_t n = 0, t0 = s_cpu_ns(), t;
    uint8_t sink = 0;
    do {
        for (int i = 0; i < 1000; i++) {
            uint8_t *f = hb__ws_frame(NULL, HB__WS_OP_TEXT, true, buf + HB__WS_MAX_HEADER, size);
            sink ^= f[0];
        }
        n += 1000;
        t = s_cpu_ns() - t0;
    } while (t < s_seconds * 1e9);
    free(buf);
    if (sink == 0xFF) puts("");
    return (double)t / (double)n;
}

/* What one RAND_bytes call per masking key would cost. */
static double s_rand_per_key(void)
{
    uint8_t key[4];
    uint64_t n = 0, t0 = s_cpu_ns(), t;
    do {
        for (int i = 0; i < 1000; i++)
            if (RAND_bytes(key, 4) != 1) exit(1);
        n += 1000;
        t = s_cpu_ns() - t0;
    } while (t < s_seconds * 1e9);
    return (double)t / (double)n;
}

/* ---- memory --------------------------------------------------------------------- */

static size_t s_heap_of_wslay(void)
{
    struct mallinfo2 a = mallinfo2();
    struct wslay_frame_callbacks cbs = {NULL, s_wslay_recv, NULL};
    wslay_frame_context_ptr ctx;
    if (wslay_frame_context_init(&ctx, &cbs, NULL) != 0) exit(1);
    struct mallinfo2 b = mallinfo2();
    wslay_frame_context_free(ctx);
    return b.uordblks - a.uordblks;
}

#define S_ROUNDS 5

static void s_min(double *m, double v)
{
    if (v < *m) *m = v;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            s_seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: hb-codec [--seconds S]\n");
            return 2;
        }
    }
    /* Each figure is the best of S_ROUNDS rounds, interleaved: on a shared
     * machine the minimum is the one least disturbed by other work. */
    static const size_t sizes[] = {200, 4096};
    double dec_text[2] = {1e18, 1e18}, dec_bin[2] = {1e18, 1e18}, dec_wslay[2] = {1e18, 1e18};
    double enc[2] = {1e18, 1e18}, rnd = 1e18;
    s_stream text[2], bin[2];
    for (int i = 0; i < 2; i++) {
        text[i] = s_make(sizes[i], HB__WS_OP_TEXT);
        bin[i] = s_make(sizes[i], HB__WS_OP_BINARY);
    }
    s_seconds /= S_ROUNDS;
    for (int r = 0; r < S_ROUNDS; r++) {
        for (int i = 0; i < 2; i++) {
            s_min(&dec_text[i], s_decode(&text[i]));
            s_min(&dec_bin[i], s_decode(&bin[i]));
            s_min(&dec_wslay[i], s_decode_wslay(&bin[i]));
            s_min(&enc[i], s_encode(sizes[i]));
        }
        s_min(&rnd, s_rand_per_key());
    }
    for (int i = 0; i < 2; i++) free(text[i].p), free(bin[i].p);
    hb__ws *ws = hb__ws_new(1);
    size_t codec_heap = malloc_usable_size(ws);
    hb__ws_free(&ws);
    size_t wslay_heap = s_heap_of_wslay();

    printf("%-34s %12s %12s\n", "", "200 B", "4 KiB");
    printf("%-34s %9.1f ns %9.1f ns\n", "decode text (UTF-8 checked)", dec_text[0], dec_text[1]);
    printf("%-34s %9.0f MB/s %7.0f MB/s\n", "", 200 / dec_text[0] * 1e3, 4096 / dec_text[1] * 1e3);
    printf("%-34s %9.1f ns %9.1f ns\n", "decode binary", dec_bin[0], dec_bin[1]);
    printf("%-34s %9.0f MB/s %7.0f MB/s\n", "", 200 / dec_bin[0] * 1e3, 4096 / dec_bin[1] * 1e3);
    printf("%-34s %9.1f ns %9.1f ns\n", "wslay_frame_recv, same bytes", dec_wslay[0], dec_wslay[1]);
    printf("%-34s %9.1f ns %9.1f ns\n", "encode + mask (hb__ws_frame)", enc[0], enc[1]);
    printf("%-34s %9.1f ns\n", "RAND_bytes(4) per key instead", rnd);
    printf("%-34s %9zu B\n", "decoder heap (hb__ws)", codec_heap);
    printf("%-34s %9zu B\n", "wslay frame context heap", wslay_heap);
    printf("{\"decode_text_ns\":[%.1f,%.1f],\"decode_binary_ns\":[%.1f,%.1f],"
           "\"wslay_recv_ns\":[%.1f,%.1f],\"encode_ns\":[%.1f,%.1f],\"rand_bytes_4_ns\":%.1f,"
           "\"codec_heap\":%zu,\"wslay_heap\":%zu}\n",
           dec_text[0], dec_text[1], dec_bin[0], dec_bin[1], dec_wslay[0], dec_wslay[1], enc[0],
           enc[1], rnd, codec_heap, wslay_heap);
    return 0;
}
