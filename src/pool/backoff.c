/*
 * backoff.c: the reconnect arithmetic of SPEC.md section 7. Pure; the
 * caller owns the struct and its thread (the session: the loop thread).
 *
 * Two counters: `n` drives the delay and counts failed dials and
 * connections that closed before stable_after; `failed_dials` drives
 * max_retries and counts only failed dials (a successful dial resets it).
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
    double d = (double)cfg->initial_delay_ns;
    double cap = (double)cfg->max_delay_ns;
    /* multiplier^(n-1), stopping as soon as the cap is reached (no overflow) */
    for (uint32_t i = 1; i < n && d < cap; i++) d *= cfg->multiplier;
    if (d > cap) d = cap;
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
    return ++b->attempt;
}

bool hb_backoff_dial_failed(hb_backoff *b)
{
    b->n++;
    b->failed_dials++;
    return b->cfg.max_retries > 0 && b->failed_dials >= 1 + b->cfg.max_retries;
}

void hb_backoff_connected(hb_backoff *b)
{
    b->failed_dials = 0;
    b->attempt = 0;
}

void hb_backoff_closed(hb_backoff *b, uint64_t uptime_ns)
{
    if (uptime_ns >= b->cfg.stable_after_ns)
        b->n = 0;
    else
        b->n++;
}

uint64_t hb_backoff_next_delay(const hb_backoff *b, double u)
{
    return hb_backoff_delay_ns(&b->cfg, b->n, u);
}
