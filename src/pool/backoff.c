/*
 * backoff.c: the reconnect arithmetic of SPEC.md section 7. Pure; the
 * caller owns the struct and its thread (the session: the loop thread).
 *
 * Two counters: `n` drives the delay and counts failed dials and
 * connections that closed before stable_after; `failed_dials` drives
 * max_retries and counts only failed dials (a successful dial resets it).
 * Both saturate instead of wrapping (a wrap would mean "no delay").
 *
 * stable_after: 0. Read literally, every connection is stable, so a server
 * that accepts and closes at once would be redialled with no delay, for
 * ever. We read 0 as "stable once it has been up initial_delay": a
 * connection that closes sooner counts as a failure and backs off. Any
 * stable_after > 0 is used as written (EXTEND.md, "Reconnect").
 */
#include <math.h>

#include "honeybee/session.h"

void hb_backoff_init(hb_backoff *b, const hb_reconnect_cfg *cfg)
{
    b->cfg = *cfg;
    b->n = 0;
    b->failed_dials = 0;
    b->attempt = 0;
}

uint64_t hb_backoff_delay_ns(const hb_reconnect_cfg *cfg, uint32_t n, double u)
{
    if (n == 0) return 0;
    double cap = (double)cfg->max_delay_ns;
    /* Constant time for any n; pow() goes to +inf rather than overflowing,
     * and the cap takes it back. */
    double d = (double)cfg->initial_delay_ns * pow(cfg->multiplier, (double)(n - 1));
    if (!(d <= cap)) d = cap; /* also catches NaN */
    double j = cfg->jitter;
    if (j > 0) {
        if (u < 0) u = 0;
        if (u >= 1) u = 0.999999999;
        d *= 1.0 + j * (2.0 * u - 1.0);
    }
    if (d < 0) d = 0;
    return (uint64_t)llround(d);
}

uint32_t hb_backoff_dial_started(hb_backoff *b)
{
    if (b->attempt < UINT32_MAX) b->attempt++;
    return b->attempt;
}

bool hb_backoff_dial_failed(hb_backoff *b)
{
    if (b->n < UINT32_MAX) b->n++;
    if (b->failed_dials < UINT32_MAX) b->failed_dials++;
    return b->cfg.max_retries > 0 && b->failed_dials >= 1 + b->cfg.max_retries;
}

void hb_backoff_connected(hb_backoff *b)
{
    b->failed_dials = 0;
    b->attempt = 0;
}

void hb_backoff_closed(hb_backoff *b, uint64_t uptime_ns)
{
    uint64_t stable = b->cfg.stable_after_ns ? b->cfg.stable_after_ns : b->cfg.initial_delay_ns;
    if (uptime_ns >= stable)
        b->n = 0;
    else if (b->n < UINT32_MAX)
        b->n++;
}

uint64_t hb_backoff_next_delay(const hb_backoff *b, double u)
{
    return hb_backoff_delay_ns(&b->cfg, b->n, u);
}
