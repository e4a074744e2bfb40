/*
 * pool_int.h: internal accessors of the pool for tests and the bridge's
 * metrics. Not part of the public API.
 */
#ifndef HB_POOL_INT_H
#define HB_POOL_INT_H

#include <stdint.h>

#include "honeybee/pool.h"

/* TLS client profiles (one SSL_CTX each) alive. Any thread. */
uint32_t hb__pool_tls_profiles(hb_pool *pool);
/* Dials holding a slot (of hb_pool_config.max_handshakes), and dials
 * waiting for one. Any thread. */
uint32_t hb__pool_dials_in_flight(hb_pool *pool);
uint32_t hb__pool_dials_waiting(hb_pool *pool);
/* Times an idle TLS connection had its OpenSSL buffers freed (one per
 * quiet period per connection). Any thread. */
uint32_t hb__pool_tls_trims(hb_pool *pool);

/* The process exits after the next hb_pool_destroy (the daemon, once its
 * drain is done): the destroy releases the connections in one pass and, at
 * scale, leaves their sockets to the exit (hb__loop_exiting). Any thread,
 * before hb_pool_destroy. */
void hb__pool_exiting(hb_pool *pool);

/* hb_plugin_deliver with the receive instant (monotonic ns) the caller has
 * already read: the wall-clock stamp is derived from it (loop thread). */
#include "honeybee/worker.h"
bool hb__plugin_deliver_at(hb_plugin *p, hb_inbox_msg *m, bool binary, uint64_t mono_ns);

#endif
