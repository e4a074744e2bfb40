/*
 * shard.h: bridge.shard applied to a configuration (SPEC.md section 9,
 * docs/protocol.md "Sharding"). Pure; any thread.
 */
#ifndef HB_CONFIG_SHARD_H
#define HB_CONFIG_SHARD_H

#include "honeybee/config.h"

#include "core/shard.h"

/* Drops, in place and in order, the peers of cfg that shard `sh` does not
 * own (their id hashes to another shard). Returns how many were dropped. */
size_t hb__config_shard_filter(hb_config *cfg, hb__shard sh);

/* The shard a resolved bridge section names (count 0 read as 1). */
hb__shard hb__config_shard(const hb_bridge_cfg *b);

#endif
