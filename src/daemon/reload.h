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
#include "honeybee/pool.h"

typedef struct hb__reload_ops {
    int (*connect)(void *ud, const hb_peer_cfg *p); /* hb_pool_connect */
    int (*remove)(void *ud, const char *id);        /* hb_pool_remove */
    void (*connect_after_removed)(void *ud, const hb_peer_cfg *p);
    bool (*exists)(void *ud, const char *id); /* still in the pool */
    void *ud;
    /* Forget a pending connect_after_removed of this id; may be NULL. */
    void (*cancel)(void *ud, const char *id);
} hb__reload_ops;

/* The peers the daemon took from the file (owned copies). Main thread. */
typedef struct hb__file_peers {
    hb_peer_cfg *peers;
    size_t n;
} hb__file_peers;

int hb__file_peers_set(hb__file_peers *fp, const hb_peer_cfg *peers, size_t n);
void hb__file_peers_free(hb__file_peers *fp);
/* Forget one id (a peer whose connect failed is not a file peer). */
void hb__file_peers_drop(hb__file_peers *fp, const char *id);

/* What a diff did, for logs and tests. */
typedef struct hb__reload_result {
    size_t added, removed, changed, unchanged, failed;
} hb__reload_result;

/*
 * Apply `next` (the peers of the freshly loaded file) against `fp` and make
 * `fp` hold `next`. Returns 0, or HB_E_NOMEM (fp then unchanged). Main
 * thread.
 */
int hb__reload_diff(hb__file_peers *fp, const hb_peer_cfg *next, size_t n_next,
                    const hb__reload_ops *ops, const hb_logger *lg, hb__reload_result *res);

/*
 * Pending reconnects of changed peers: connect a peer again once the pool
 * no longer knows its id (its `removed` event is out), so subscribers see
 * removed before the new added. One entry per id: a newer put for the same
 * id replaces the older one, and a cancel (the reload removed the id, or
 * connects it at once) drops it, so an old configuration never comes back.
 *
 * Put, cancel and take_failed run on the main thread; check runs on the
 * bridge thread (the bridge's hook, after each `removed` event it
 * publishes); a mutex inside guards the lists.
 */
typedef struct hb__reconnects hb__reconnects;

/* `poke(poke_ud)` asks the bridge thread for an early check (after a put).
 * `pool` and `lg` must outlive the object. Returns 0 or HB_E_NOMEM. */
int hb__reconnects_new(hb_pool *pool, const hb_logger *lg, void (*poke)(void *ud), void *poke_ud,
                       hb__reconnects **out);
/* Free every entry (after the bridge thread is gone). */
void hb__reconnects_destroy(hb__reconnects **rp);

/* Connect `peer` (copied) once its id is gone from the pool. */
void hb__reconnects_put(hb__reconnects *r, const hb_peer_cfg *peer);

/* Forget the pending reconnect of `id`, if any. */
void hb__reconnects_cancel(hb__reconnects *r, const char *id);

/*
 * Connect every entry whose old peer is gone. A connect that fails
 * (fd_limit, out of memory...) moves the entry to the failed list. Returns
 * true while entries still wait (call again soon). Bridge thread.
 */
bool hb__reconnects_check(hb__reconnects *r);

/*
 * Call fn for each id whose reconnect failed since the last call, and
 * forget them; returns how many. The main thread drops them from its file
 * peers, so a later reload adds them again.
 */
size_t hb__reconnects_take_failed(hb__reconnects *r, void (*fn)(void *ud, const char *id),
                                  void *ud);

/*
 * How many keys marked "needs a restart" in the schema table (HB__F_RESTART:
 * the bridge and log sections) differ between the running configuration and
 * the reloaded one; `what` gets their names, "bridge.inbox, log.level"
 * (truncated to cap). A reload applies none of them. Any thread.
 */
size_t hb__reload_needs_restart(const hb_config *running, const hb_config *next, char *what,
                                size_t cap);

#endif
