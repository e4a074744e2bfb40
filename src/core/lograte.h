/*
 * lograte.h: the one rate limit of log lines, a token bucket: a burst of
 * HB__LOGRATE_BURST lines, then one more every HB__LOGRATE_EVERY_NS. A line
 * over the limit is not lost: the caller logs it at debug and the bucket
 * counts it; the next line that may go says how many were held back
 * (hb__lograte_dropped), and a caller with a periodic turn can report
 * them without waiting for the next line (hb__lograte_flush_due).
 *
 * Users: each peer's info lines (pool/session.c, loop thread), the send
 * and control sockets' refusals (bridge/send.c and control.c through
 * hb__bridge_warn, bridge thread). Not locked: a bucket
 * belongs to one thread. A zeroed struct is a full bucket.
 */
#ifndef HB_CORE_LOGRATE_H
#define HB_CORE_LOGRATE_H

#include <stdbool.h>
#include <stdint.h>

#include "honeybee/common.h"

#define HB__LOGRATE_BURST    10u
#define HB__LOGRATE_EVERY_NS (6000ull * 1000 * 1000)

typedef struct hb__lograte {
    uint32_t tokens, dropped;
    uint64_t refill; /* 0: not used yet (full) */
} hb__lograte;

/* May one more line go at `now` (hb__mono_ns)? true takes a token; false
 * counts the line as held back. */
bool hb__lograte_take(hb__lograte *r, uint64_t now);

/* The lines held back since the last call; the count restarts at 0. */
uint32_t hb__lograte_dropped(hb__lograte *r);

/* For a periodic turn: true when lines were held back and a token is
 * there (taken): the caller logs one line saying how many
 * (hb__lograte_dropped). Counts nothing when false. */
bool hb__lograte_flush_due(hb__lograte *r, uint64_t now);

/* Log `msg` at `level` under r's limit: over it, at debug. The next line
 * that may go says how many were held back: "MSG (N earlier HELD went to
 * debug)", HELD naming whose lines they were ("lines of this peer"). */
void hb__lograte_log(hb__lograte *r, const hb_logger *lg, hb_log_level level, const char *id,
                     const char *held, const char *msg);

#endif
