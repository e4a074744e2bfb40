/*
 * lograte.c: the log-line token bucket (lograte.h). Whichever thread owns
 * the bucket.
 */
#include "core/lograte.h"
#include "core/clock.h"

/* Put back the tokens earned since the last refill, up to the burst. A
 * full bucket earns nothing, so its clock restarts at `now`. */
static void s_refill(hb__lograte *r, uint64_t now)
{
    if (r->refill == 0) {
        r->tokens = HB__LOGRATE_BURST;
        r->refill = now;
    }
    while (now - r->refill >= HB__LOGRATE_EVERY_NS && r->tokens < HB__LOGRATE_BURST) {
        r->tokens++;
        r->refill += HB__LOGRATE_EVERY_NS;
    }
    if (r->tokens == HB__LOGRATE_BURST) r->refill = now;
}

bool hb__lograte_take(hb__lograte *r, uint64_t now)
{
    s_refill(r, now);
    if (!r->tokens) {
        r->dropped++;
        return false;
    }
    r->tokens--;
    return true;
}

uint32_t hb__lograte_dropped(hb__lograte *r)
{
    uint32_t n = r->dropped;
    r->dropped = 0;
    return n;
}

bool hb__lograte_flush_due(hb__lograte *r, uint64_t now)
{
    if (!r->dropped) return false;
    s_refill(r, now);
    if (!r->tokens) return false;
    r->tokens--;
    return true;
}

void hb__lograte_log(hb__lograte *r, const hb_logger *lg, hb_log_level level, const char *id,
                     const char *held, const char *msg)
{
    if (!hb__lograte_take(r, hb__mono_ns())) {
        HB_LOG(lg, HB_LOG_DEBUG, id, "%s", msg);
        return;
    }
    uint32_t n = hb__lograte_dropped(r);
    if (n)
        HB_LOG(lg, level, id, "%s (%u earlier %s went to debug)", msg, n, held);
    else
        HB_LOG(lg, level, id, "%s", msg);
}
