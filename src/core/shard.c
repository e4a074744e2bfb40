/*
 * shard.c: the stable placement hash (shard.h). Pure; any thread.
 */
#include "core/shard.h"

#include <stdio.h>
#include <string.h>

uint64_t hb__id_hash(const char *id, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Jump consistent hash: follow the key's pseudo-random jumps until one
 * lands past n; the last bucket before that is the answer. The double
 * division is part of the definition (clients in other languages repeat it
 * bit for bit), so it is not replaced by integer arithmetic. */
uint32_t hb__jump(uint64_t key, uint32_t n)
{
    int64_t b = -1, j = 0;
    while (j < (int64_t)n) {
        b = j;
        key = key * 2862933555777941757ULL + 1;
        j = (int64_t)((double)(b + 1) * ((double)(1LL << 31) / (double)((key >> 33) + 1)));
    }
    return (uint32_t)b;
}

static uint64_t s_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint32_t hb__shard_of(const char *id, size_t len, uint32_t n)
{
    return hb__jump(hb__id_hash(id, len), n ? n : 1);
}

uint32_t hb__loop_of(const char *id, size_t len, uint32_t k)
{
    return hb__jump(s_mix(hb__id_hash(id, len)), k ? k : 1);
}

/* Up to 9 decimal digits from p (no sign, no space): the count read, or 0. */
static size_t s_digits(const char *p, uint32_t *v)
{
    size_t n = 0;
    uint32_t x = 0;
    while (p[n] >= '0' && p[n] <= '9' && n < 9) x = x * 10 + (uint32_t)(p[n++] - '0');
    if (p[n] >= '0' && p[n] <= '9') return 0; /* too long to be a shard */
    *v = x;
    return n;
}

bool hb__shard_parse(const char *s, const char *hostname, hb__shard *out, char *why, size_t cap)
{
    uint32_t i = 0, n = 0;
    bool is_auto = false;
    size_t a = 0;
    if (!s) s = "";
    if (!strncmp(s, "auto/", 5)) {
        is_auto = true;
        a = 4;
    } else if (!(a = s_digits(s, &i))) {
        snprintf(why, cap, "must be \"I/N\" (shard I of N, 0 <= I < N) or \"auto/N\"");
        return false;
    }
    size_t b = s[a] == '/' ? s_digits(s + a + 1, &n) : 0;
    if (!b || s[a + 1 + b]) {
        snprintf(why, cap, "must be \"I/N\" (shard I of N, 0 <= I < N) or \"auto/N\"");
        return false;
    }
    if (n < 1 || n > HB__SHARD_MAX) {
        snprintf(why, cap, "the shard count N must be between 1 and %d", HB__SHARD_MAX);
        return false;
    }
    if (is_auto && hostname) {
        /* The pod ordinal: the digits after the last '-' of the name. */
        const char *dash = strrchr(hostname, '-');
        size_t d = dash ? s_digits(dash + 1, &i) : 0;
        if (!d || dash[1 + d]) {
            /* Outside input, shown printable and short. */
            char h[65];
            size_t k = 0;
            for (; hostname[k] && k < sizeof h - 1; k++)
                h[k] = hostname[k] > 0x20 && hostname[k] < 0x7f ? hostname[k] : '?';
            h[k] = 0;
            snprintf(why, cap,
                     "\"auto\" takes the shard from HOSTNAME's trailing -<ordinal> (a "
                     "StatefulSet pod name such as honeybee-2), and HOSTNAME is %s%s%s",
                     k ? "\"" : "empty", h, k ? "\"" : "");
            return false;
        }
    } else if (is_auto) {
        i = UINT32_MAX;
    }
    if (i != UINT32_MAX && i >= n) {
        snprintf(why, cap, "shard %u is not below the shard count %u%s", i, n,
                 is_auto ? " (the pod ordinal: replicas and N differ)" : "");
        return false;
    }
    out->index = i;
    out->count = n;
    return true;
}
