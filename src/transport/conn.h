/*
 * conn.h: the transport's dial entry point, below the plugin layer.
 * Internal. Loop thread only. See worker.h for the hb_conn contract.
 */
#ifndef HB_TRANSPORT_CONN_H
#define HB_TRANSPORT_CONN_H

#include "honeybee/worker.h"
#include "transport/loop.h"

hb_conn *hb__conn_dial(hb__loop *loop, const hb_peer_cfg *cfg, const hb_conn_ops *ops, void *ud,
                       int *err);

#endif
