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

#include <stddef.h>
#include <stdint.h>

uint64_t hb__id_hash(const char *id, size_t len);

/* A bucket in [0, n) for key; n >= 1. Moving from n to n+1 buckets moves
 * only 1/(n+1) of the keys, which keeps a resharding small. */
uint32_t hb__jump(uint64_t key, uint32_t n);

/* The owning shard of an id among n (n >= 1). */
uint32_t hb__shard_of(const char *id, size_t len, uint32_t n);

/* The loop of an id among k loops of one process (k >= 1). */
uint32_t hb__loop_of(const char *id, size_t len, uint32_t k);

#endif
