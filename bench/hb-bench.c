/*
 * hb-bench.c: the helpers in hb-bench.h. Pure functions and the two clocks;
 * nothing here keeps state between calls, so any thread may call them.
 */
#include "hb-bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

uint64_t bench_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_payload_init(char *p, size_t size)
{
    for (size_t i = 0; i < size; i++) p[i] = (char)('a' + i % 26);
    if (size < BENCH_HDR_LEN) return;
    memset(p, '0', BENCH_HDR_LEN);
    p[BENCH_TS_DIGITS] = ' ';
    p[BENCH_SEQ_OFF + BENCH_SEQ_DIGITS] = ' ';
}

void bench_put_digits(char *dst, int width, uint64_t v)
{
    for (int i = width - 1; i >= 0; i--) {
        dst[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

bool bench_get_digits(const char *src, int width, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < width; i++) {
        unsigned d = (unsigned char)src[i] - '0';
        if (d > 9) return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

void bench_hist_init(bench_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

/* Buckets 0..127 hold the values 0..127 exactly; above that each power of
 * two [2^e, 2^(e+1)) is split into 64 equal buckets. */
static size_t s_bucket(uint64_t v)
{
    if (v < 128) return (size_t)v;
    int e = 63 - __builtin_clzll(v);
    if (e > 47) return BENCH_HIST_BUCKETS - 1;
    int shift = e - 6;
    return 128 + (size_t)(e - 7) * 64 + (size_t)((v >> shift) - 64);
}

static uint64_t s_bucket_mid(size_t i)
{
    if (i < 128) return i;
    size_t e = (i - 128) / 64 + 7;
    uint64_t m = (i - 128) % 64 + 64;
    int shift = (int)e - 6;
    return (m << shift) + ((1ull << shift) >> 1);
}

void bench_hist_add(bench_hist *h, uint64_t v)
{
    h->counts[s_bucket(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

uint64_t bench_hist_pct(const bench_hist *h, double p)
{
    if (h->n == 0) return 0;
    uint64_t rank = (uint64_t)((p / 100.0) * (double)h->n + 0.5);
    if (rank < 1) rank = 1;
    if (rank > h->n) rank = h->n;
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = s_bucket_mid(i);
            if (v > h->max) v = h->max;
            if (v < h->min) v = h->min;
            return v;
        }
    }
    return h->max;
}

void bench_hist_json(FILE *f, const char *name, const bench_hist *h)
{
    fprintf(f,
            "\"%s\":{\"n\":%llu,\"min\":%.3f,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,"
            "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}",
            name, (unsigned long long)h->n, h->n ? (double)h->min / 1e3 : 0.0,
            h->n ? h->sum / (double)h->n / 1e3 : 0.0, (double)bench_hist_pct(h, 50) / 1e3,
            (double)bench_hist_pct(h, 90) / 1e3, (double)bench_hist_pct(h, 99) / 1e3,
            (double)bench_hist_pct(h, 99.9) / 1e3, (double)h->max / 1e3);
}

uint64_t bench_arg_u64(const char *opt, const char *s)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || s[0] == '-') {
        fprintf(stderr, "bad value for %s: %s\n", opt, s ? s : "(missing)");
        exit(2);
    }
    return (uint64_t)v;
}

double bench_arg_double(const char *opt, const char *s)
{
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || v < 0) {
        fprintf(stderr, "bad value for %s: %s\n", opt, s ? s : "(missing)");
        exit(2);
    }
    return v;
}

void bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}
