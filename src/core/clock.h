/*
 * clock.h: the two clocks and the one timestamp format. Any thread.
 */
#ifndef HB_CORE_CLOCK_H
#define HB_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in ns: for every timer, deadline and duration. */
uint64_t hb__mono_ns(void);
/* CLOCK_REALTIME in ns since the Unix epoch: for received_ns and `at`. */
uint64_t hb__wall_ns(void);

#define HB_RFC3339_LEN 31 /* "2026-11-28T09:17:08.123456789Z" + NUL */
/* Writes RFC 3339 UTC with 9 fractional digits. Returns the length (30). */
size_t hb__rfc3339(uint64_t wall_ns, char out[HB_RFC3339_LEN]);

#endif
