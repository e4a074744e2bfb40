/*
 * shard.c: the stable placement hash (shard.h). Pure; any thread.
 */
#include "core/shard.h"

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
