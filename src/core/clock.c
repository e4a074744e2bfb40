/*
 * clock.c: the two clocks and the RFC 3339 timestamp every event and log line
 * carries. Monotonic time drives timers; wall time is only for what a person
 * or a subscriber reads (received_ns, `at`, log stamps). Any thread.
 */
#include "core/clock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t s_read(clockid_t id)
{
    struct timespec ts;
    /* clock_gettime cannot fail for these two clocks on Linux. */
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t hb__mono_ns(void)
{
    return s_read(CLOCK_MONOTONIC);
}

uint64_t hb__wall_ns(void)
{
    return s_read(CLOCK_REALTIME);
}

size_t hb__rfc3339(uint64_t wall_ns, char out[HB_RFC3339_LEN])
{
    time_t secs = (time_t)(wall_ns / 1000000000u);
    unsigned long nanos = (unsigned long)(wall_ns % 1000000000u);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 > 9999) {
        /* Out of the 4-digit year range: say so rather than overflow. */
        memcpy(out, "9999-12-31T23:59:59.999999999Z", HB_RFC3339_LEN);
        return HB_RFC3339_LEN - 1;
    }
    int n = snprintf(out, HB_RFC3339_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%09luZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nanos);
    return n < 0 ? 0 : (size_t)n;
}
