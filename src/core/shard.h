/*
 * shard.h: where a peer lives, from its id alone (SPEC.md: bridge.shard;
 * docs/protocol.md, "Sharding"). One stable hash decides both the replica
 * (shard) that owns a peer and, inside a process, the loop thread it runs
 * on, so every client can compute the owner without asking.
 *
 *   h     = FNV-1a 64 over the id's bytes
 *   shard = jump(h, N)                  (Lamping and Veach's jump hash)
 *   loop  = jump(mix(h), K)             (mix: the splitmix64 finalizer, so
 *                                        loop and shard are independent)
 *
 * The same three lines are in honeybee-cli, the Python, Node and C
 * consumers; tests/support/shard_vectors.json pins them. Pure; any thread.
 */
#ifndef HB_CORE_SHARD_H
#define HB_CORE_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most shards bridge.shard allows (a StatefulSet of 1024 replicas). */
#define HB__SHARD_MAX 1024

/* This process's place: shard `index` of `count` (count 0 reads as 1). */
typedef struct hb__shard {
    uint32_t index, count;
} hb__shard;

uint64_t hb__id_hash(const char *id, size_t len);

/* A bucket in [0, n) for key; n >= 1. Moving from n to n+1 buckets moves
 * only 1/(n+1) of the keys, which keeps a resharding small. */
uint32_t hb__jump(uint64_t key, uint32_t n);

/* The owning shard of an id among n (n >= 1). */
uint32_t hb__shard_of(const char *id, size_t len, uint32_t n);

/* The loop of an id among k loops of one process (k >= 1). */
uint32_t hb__loop_of(const char *id, size_t len, uint32_t k);

/*
 * Reads a bridge.shard value: "I/N" (decimal, 0 <= I < N, 1 <= N <=
 * HB__SHARD_MAX) or "auto/N", where I is the ordinal that ends `hostname`
 * ("honeybee-2" -> 2: a StatefulSet pod's name, which Kubernetes puts in
 * HOSTNAME). With hostname NULL "auto/N" passes as a syntax check and
 * *index is UINT32_MAX. Returns true, or false with the reason in why
 * (outside input: nothing is trusted). Pure; any thread.
 */
bool hb__shard_parse(const char *s, const char *hostname, hb__shard *out, char *why, size_t cap);

#endif
