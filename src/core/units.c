/*
 * units.c: the duration and size notation of SPEC.md section 3.
 *
 * Parsing is exact: "1.5s" is 1500000000 ns computed in integers (a 128-bit
 * intermediate), never through a double, so a value written in the file is
 * the value the pool uses and formatting it again gives the same text. A
 * fraction finer than the unit can express (below 1 ns, or below 1 byte) is
 * rejected rather than rounded. Pure; any thread.
 */
#include "core/units.h"

#include <stdio.h>
#include <string.h>

#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_S  UINT64_C(1000000000)
#define NS_PER_M  (60 * NS_PER_S)
#define NS_PER_H  (3600 * NS_PER_S)

typedef unsigned __int128 u128;

/* Reads "DIGITS[.DIGITS]" into whole and a fraction num/den. Returns the end. */
static const char *s_number(const char *s, bool allow_frac, u128 *whole, u128 *num, u128 *den)
{
    const char *p = s;
    u128 w = 0;
    if (*p < '0' || *p > '9') return NULL;
    while (*p >= '0' && *p <= '9') {
        w = w * 10 + (unsigned)(*p - '0');
        if (w > UINT64_MAX) return NULL; /* keeps the later products in 128 bits */
        p++;
    }
    u128 n = 0, d = 1;
    if (*p == '.' && allow_frac) {
        p++;
        if (*p < '0' || *p > '9') return NULL;
        while (*p >= '0' && *p <= '9') {
            /* Past 19 digits only zeros may follow (finer than a nanosecond
             * anyway); keeps num and den within 64 bits. */
            if (d >= (u128)UINT64_C(10000000000000000000)) {
                if (*p != '0') return NULL;
            } else {
                n = n * 10 + (unsigned)(*p - '0');
                d *= 10;
            }
            p++;
        }
    }
    *whole = w, *num = n, *den = d;
    return p;
}

bool hb__parse_duration(const char *s, uint64_t *ns)
{
    if (!s) return false;
    u128 w, n, d;
    const char *p = s_number(s, true, &w, &n, &d);
    if (!p) return false;
    uint64_t unit;
    if (*p == '\0') {
        /* Only zero may omit the unit. */
        if (w != 0 || n != 0) return false;
        *ns = 0;
        return true;
    }
    if (strcmp(p, "ms") == 0)
        unit = NS_PER_MS;
    else if (strcmp(p, "s") == 0)
        unit = NS_PER_S;
    else if (strcmp(p, "m") == 0)
        unit = NS_PER_M;
    else if (strcmp(p, "h") == 0)
        unit = NS_PER_H;
    else
        return false;
    u128 frac = n * unit;            /* n < 10^19, unit < 2^42: fits */
    if (frac % d != 0) return false; /* finer than 1 ns */
    u128 total = w * unit + frac / d;
    if (total > UINT64_MAX) return false;
    *ns = (uint64_t)total;
    return true;
}

bool hb__parse_size(const char *s, uint64_t *bytes)
{
    if (!s) return false;
    u128 w, n, d;
    const char *p = s_number(s, false, &w, &n, &d);
    if (!p) return false;
    uint64_t unit;
    if (strcmp(p, "B") == 0)
        unit = 1;
    else if (strcmp(p, "KiB") == 0)
        unit = UINT64_C(1) << 10;
    else if (strcmp(p, "MiB") == 0)
        unit = UINT64_C(1) << 20;
    else if (strcmp(p, "GiB") == 0)
        unit = UINT64_C(1) << 30;
    else
        return false;
    u128 total = w * unit;
    if (total > UINT64_MAX) return false;
    *bytes = (uint64_t)total;
    return true;
}

/* Writes v / unit with the shortest exact decimal fraction, then the suffix. */
static size_t s_fmt_frac(uint64_t v, uint64_t unit, const char *suffix, char *out, size_t cap)
{
    uint64_t whole = v / unit, rest = v % unit;
    char frac[32] = "";
    if (rest) {
        /* unit is a power of ten here (ms or s), so the fraction is exact. */
        size_t digits = 0;
        for (uint64_t u = unit; u > 1; u /= 10) digits++;
        snprintf(frac, sizeof frac, ".%0*llu", (int)digits, (unsigned long long)rest);
        size_t len = strlen(frac);
        while (len > 1 && frac[len - 1] == '0') frac[--len] = '\0';
    }
    int r = snprintf(out, cap, "%llu%s%s", (unsigned long long)whole, frac, suffix);
    return r < 0 ? 0 : (size_t)r;
}

size_t hb__format_duration(uint64_t ns, char *out, size_t cap)
{
    if (ns == 0) return s_fmt_frac(0, 1, "", out, cap);
    if (ns % NS_PER_H == 0) return s_fmt_frac(ns, NS_PER_H, "h", out, cap);
    if (ns % NS_PER_M == 0) return s_fmt_frac(ns, NS_PER_M, "m", out, cap);
    if (ns >= NS_PER_S) return s_fmt_frac(ns, NS_PER_S, "s", out, cap);
    return s_fmt_frac(ns, NS_PER_MS, "ms", out, cap);
}

size_t hb__format_size(uint64_t bytes, char *out, size_t cap)
{
    const char *suffix = "B";
    uint64_t v = bytes;
    if (bytes != 0 && bytes % (UINT64_C(1) << 30) == 0)
        suffix = "GiB", v = bytes >> 30;
    else if (bytes != 0 && bytes % (UINT64_C(1) << 20) == 0)
        suffix = "MiB", v = bytes >> 20;
    else if (bytes != 0 && bytes % (UINT64_C(1) << 10) == 0)
        suffix = "KiB", v = bytes >> 10;
    int r = snprintf(out, cap, "%llu%s", (unsigned long long)v, suffix);
    return r < 0 ? 0 : (size_t)r;
}
