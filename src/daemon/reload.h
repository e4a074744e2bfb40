/*
 * reload.h: SIGHUP, the peer list from the file applied as a diff.
 *
 * Only peers that came from the file are reconciled: added ones connect,
 * gone ones are removed, changed ones (hb_peer_cfg_equal false, which
 * includes a changed `pool` section they inherit) are removed and connected
 * again once their `removed` event is out, unchanged ones are not touched.
 * Peers added over control are left alone, and so is a file peer's id once
 * a control `connect` or `remove` took it (hb__reconnects_claim): it is
 * parked, and comes back from the file only if its entry changes. The
 * actions go through a table of functions so the diff is unit-tested
 * without a pool.
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
    /* Asked every HB__RELOAD_BATCH peers: true stops the diff where it is
     * (SIGTERM during a long reload); may be NULL. */
    bool (*stop)(void *ud);
} hb__reload_ops;

#define HB__RELOAD_BATCH 256

/* The peers the daemon took from the file (owned copies). Main thread. */
typedef struct hb__file_peers {
    hb_peer_cfg *peers;
    size_t n;
    /* File entries whose id a control `connect` or `remove` took over
     * (hb__file_peers_release): no file peers any more. A reload whose file
     * has the same entry leaves the id alone (neither connects nor removes
     * it); a changed entry is connected like a new peer (a file peer
     * again); an entry gone from the file is forgotten, and whatever holds
     * the id (a control peer) stays. No id is in both arrays. */
    hb_peer_cfg *parked;
    size_t n_parked;
} hb__file_peers;

/* Replace both arrays: `peers` copied, nothing parked. */
int hb__file_peers_set(hb__file_peers *fp, const hb_peer_cfg *peers, size_t n);
void hb__file_peers_free(hb__file_peers *fp);
/* A control op took `id`: move its entry to `parked` (nothing if `id` is no
 * file peer; out of memory: dropped instead). */
void hb__file_peers_release(hb__file_peers *fp, const char *id);
/* Forget one id (a peer whose connect failed is not a file peer). */
void hb__file_peers_drop(hb__file_peers *fp, const char *id);
/* Keep only the peers whose keep[i] is true (order kept); one pass, for
 * many drops at once. */
void hb__file_peers_keep(hb__file_peers *fp, const bool *keep);

/* What a diff did, for logs and tests. */
typedef struct hb__reload_result {
    size_t added, removed, changed, unchanged, failed;
    bool stopped; /* ops->stop said so: the diff is partly applied */
} hb__reload_result;

/*
 * Apply `next` (the peers of the freshly loaded file) against `fp` and make
 * `fp` hold `next`. Ids are matched through sorted indexes, so a reload of
 * n peers costs O(n log n). Returns 0, or HB_E_NOMEM (fp then unchanged).
 * When ops->stop stops it, res->stopped is set and fp holds `next` minus
 * the peers that failed so far (the daemon is shutting down). Main thread.
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
 * The same object carries the file ids control may claim: the main thread
 * sets them (hb__reconnects_file_ids), the bridge thread claims one when a
 * control `connect` or `remove` of that id succeeds, and the main thread
 * takes the claimed ids at its next reload (bounded: an id is claimed at
 * most once per set).
 *
 * Put, cancel, take_failed and file_ids run on the main thread; check and
 * claim run on the bridge thread (check is the bridge's hook, after each
 * `removed` event it publishes); a mutex inside guards the lists.
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
 * The ids of the file's peers as the main thread is about to apply them
 * (copied; the set control may claim from now on), and, for each id
 * claimed since the last call, fn(ud, id) (may be NULL): the main thread
 * releases those file peers. Swapping and taking under one lock, so a
 * claim lands either before (fn sees it) or after (the next call does).
 * Returns 0, or HB_E_NOMEM (the old set stays; fn still runs). Main thread.
 */
int hb__reconnects_file_ids(hb__reconnects *r, const hb_peer_cfg *peers, size_t n,
                            void (*fn)(void *ud, const char *id), void *ud);

/*
 * A control `connect` or `remove` of `id` succeeded. If `id` is in the
 * file-id set it is claimed (taken out of the set, queued for the main
 * thread); any pending reconnect of `id` is dropped either way, so the
 * file's entry does not come back over what control did. Returns true when
 * the id was claimed. Bridge thread.
 */
bool hb__reconnects_claim(hb__reconnects *r, const char *id);

/*
 * How many keys marked "needs a restart" in the schema table (HB__F_RESTART:
 * the bridge and log sections) differ between the running configuration and
 * the reloaded one; `what` gets their names, "bridge.inbox, log.level"
 * (truncated to cap). A reload applies none of them. Any thread.
 */
size_t hb__reload_needs_restart(const hb_config *running, const hb_config *next, char *what,
                                size_t cap);

#endif
