/*
 * reload.h: SIGHUP, the peer list from the file applied as a diff.
 *
 * Only peers that came from the file are reconciled: added ones connect,
 * gone ones are removed, changed ones (hb_peer_cfg_equal false, which
 * includes a changed `pool` section they inherit) are removed and connected
 * again once their `removed` event is out, unchanged ones are not touched.
 * Peers added over control are left alone. The actions go through a table
 * of functions so the diff is unit-tested without a pool.
 */
#ifndef HB_DAEMON_RELOAD_H
#define HB_DAEMON_RELOAD_H

#include "honeybee/config.h"

typedef struct hb_reload_ops {
    int (*connect)(void *ud, const hb_peer_cfg *p); /* hb_pool_connect */
    int (*remove)(void *ud, const char *id);        /* hb_pool_remove */
    void (*connect_after_removed)(void *ud, const hb_peer_cfg *p);
    bool (*exists)(void *ud, const char *id); /* still in the pool */
    void *ud;
    /* Forget a pending connect_after_removed of this id; may be NULL. */
    void (*cancel)(void *ud, const char *id);
} hb_reload_ops;

/* The peers the daemon took from the file (owned copies). Main thread. */
typedef struct hb_file_peers {
    hb_peer_cfg *peers;
    size_t n;
} hb_file_peers;

int hb__file_peers_set(hb_file_peers *fp, const hb_peer_cfg *peers, size_t n);
void hb__file_peers_free(hb_file_peers *fp);
/* Forget one id (a peer whose connect failed is not a file peer). */
void hb__file_peers_drop(hb_file_peers *fp, const char *id);

/* What a diff did, for logs and tests. */
typedef struct hb_reload_result {
    size_t added, removed, changed, unchanged, failed;
} hb_reload_result;

/*
 * Apply `next` (the peers of the freshly loaded file) against `fp` and make
 * `fp` hold `next`. Returns 0, or HB_E_NOMEM (fp then unchanged). Main
 * thread.
 */
int hb__reload_diff(hb_file_peers *fp, const hb_peer_cfg *next, size_t n_next,
                    const hb_reload_ops *ops, const hb_logger *lg, hb_reload_result *res);

/*
 * True when the `bridge` or `log` sections differ (they need a restart);
 * `what` names the first difference.
 */
bool hb__reload_needs_restart(const hb_config *running, const hb_config *next, const char **what);

#endif
