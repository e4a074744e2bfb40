/*
 * hb-bench.h: what the bench tools share. The payload layout every tool
 * writes and reads, the two clocks, a log-linear latency histogram, and a
 * few helpers for argument parsing and JSON-line output.
 *
 * Payload layout (text, so it is valid UTF-8 and passes as a text frame):
 *
 *   bytes  0..18  send time, CLOCK_REALTIME ns since the epoch, 19 digits
 *   byte  19      ' '
 *   bytes 20..30  sender's sequence number on this connection, 11 digits
 *   byte  31      ' '
 *   bytes 32..    padding 'a'..'z' up to the message size
 *
 * Every process runs on the same machine, so the wall clock is shared and
 * "now - send time" at the receiver is the one-way latency. All functions
 * here are pure or touch only their arguments: any thread.
 */
#ifndef HB_BENCH_H
#define HB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_TS_OFF     0
#define BENCH_TS_DIGITS  19
#define BENCH_SEQ_OFF    20
#define BENCH_SEQ_DIGITS 11
#define BENCH_HDR_LEN    32 /* smallest payload the tools accept */

uint64_t bench_wall_ns(void);
uint64_t bench_mono_ns(void);

/* Fills p[0..size) with the layout above, ts and seq zero. */
void bench_payload_init(char *p, size_t size);
/* Writes v as exactly `width` decimal digits (leading zeros, truncated high). */
void bench_put_digits(char *dst, int width, uint64_t v);
/* Parses exactly `width` decimal digits. False if any byte is not a digit. */
bool bench_get_digits(const char *src, int width, uint64_t *v);

/* Log-linear histogram of nanosecond values: 64 sub-buckets per power of
 * two, so a reported percentile is within about 1.6% of the true value. */
#define BENCH_HIST_BUCKETS (128 + 41 * 64)
typedef struct {
    uint64_t counts[BENCH_HIST_BUCKETS];
    uint64_t n;
    uint64_t min;
    uint64_t max;
    double sum;
} bench_hist;

void bench_hist_init(bench_hist *h);
void bench_hist_add(bench_hist *h, uint64_t v);
/* Value at percentile p (0..100), 0 when empty. */
uint64_t bench_hist_pct(const bench_hist *h, double p);
/* Prints "\"name\":{\"p50\":..,...}" in microseconds (3 decimals). */
void bench_hist_json(FILE *f, const char *name, const bench_hist *h);

/* Strict unsigned parse of a whole string; exits with a message on error. */
uint64_t bench_arg_u64(const char *opt, const char *s);
double bench_arg_double(const char *opt, const char *s);

/* Raises RLIMIT_NOFILE to the hard limit (10k peers need it). */
void bench_raise_nofile(void);

#endif
