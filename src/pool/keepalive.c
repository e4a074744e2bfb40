/*
 * keepalive.c: the keepalive deadlines as pure arithmetic. The session
 * records receive times per frame (two stores, no timer work) and one timer
 * asks hb_keepalive_check() what is due when it fires, then re-arms at the
 * returned next instant. So the per-message path never touches lws's
 * sorted timer list.
 */
#include "honeybee/session.h"

void hb_keepalive_start(hb_keepalive *k, const hb_keepalive_cfg *cfg, uint64_t now)
{
    k->ping_interval = cfg->ping_interval_ns;
    k->timeout = cfg->timeout_ns;
    k->stall = cfg->stall_timeout_ns;
    k->app_ping = cfg->app_ping && cfg->app_ping[0] && cfg->ping_interval_ns;
    k->last_rx = k->last_data = now;
    k->last_ping = now;
    k->next_app = now + cfg->ping_interval_ns;
}

static void s_min(uint64_t *a, uint64_t b)
{
    if (b < *a) *a = b;
}

unsigned hb_keepalive_check(hb_keepalive *k, uint64_t now, uint64_t *next)
{
    unsigned due = 0;
    uint64_t nx = UINT64_MAX;
    if (k->timeout) {
        if (now >= k->last_rx + k->timeout)
            due |= HB_KA_TIMEOUT;
        else
            s_min(&nx, k->last_rx + k->timeout);
    }
    if (k->stall) {
        if (now >= k->last_data + k->stall)
            due |= HB_KA_STALL;
        else
            s_min(&nx, k->last_data + k->stall);
    }
    if (k->ping_interval) {
        /* Ping when nothing was received for ping_interval, and not more
         * often than once per ping_interval. */
        uint64_t base = k->last_rx > k->last_ping ? k->last_rx : k->last_ping;
        if (now >= base + k->ping_interval) {
            due |= HB_KA_PING;
            k->last_ping = now;
            base = now > k->last_rx ? now : k->last_rx;
        }
        s_min(&nx, base + k->ping_interval);
    }
    if (k->app_ping) {
        if (now >= k->next_app) {
            due |= HB_KA_APP_PING;
            k->next_app += k->ping_interval;
            if (k->next_app <= now) k->next_app = now + k->ping_interval;
        }
        s_min(&nx, k->next_app);
    }
    if (next) *next = nx;
    return due;
}
