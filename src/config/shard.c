/*
 * shard.c: the peers of a configuration that one shard owns (shard.h).
 * Pure; any thread.
 */
#include "config/shard.h"

#include <string.h>

hb__shard hb__config_shard(const hb_bridge_cfg *b)
{
    hb__shard s = {b->shard_index, b->shard_count};
    if (s.count == 0) s = (hb__shard){0, 1};
    return s;
}

size_t hb__config_shard_filter(hb_config *cfg, hb__shard sh)
{
    if (sh.count <= 1) return 0;
    size_t o = 0;
    for (size_t i = 0; i < cfg->n_peers; i++) {
        hb_peer_cfg *p = &cfg->peers[i];
        if (hb__shard_of(p->id, strlen(p->id), sh.count) != sh.index) {
            hb_peer_cfg_free(p);
            continue;
        }
        if (o != i) cfg->peers[o] = *p;
        o++;
    }
    size_t dropped = cfg->n_peers - o;
    cfg->n_peers = o;
    return dropped;
}
