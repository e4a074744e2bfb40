/*
 * reload.c: the SIGHUP diff and the pending reconnects (see reload.h).
 *
 * The diff runs on the main thread, which owns the list of file peers; the
 * pool calls it makes are any-thread. A changed peer is removed now and
 * connected again by the bridge thread once the pool no longer knows its
 * id, i.e. once its `removed` event is out (hb__reconnects). A peer whose
 * connect fails is not kept as a file peer, so the next reload tries it
 * again. A file peer whose id a control `connect` or `remove` took is
 * parked (hb__file_peers.parked): the reload leaves the id to control.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "daemon/reload.h"

int hb__file_peers_set(hb__file_peers *fp, const hb_peer_cfg *peers, size_t n)
{
    hb_peer_cfg *copy = n ? calloc(n, sizeof(*copy)) : NULL;
    if (n && !copy) return HB_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        if (hb_peer_cfg_copy(&copy[i], &peers[i]) != 0) {
            for (size_t j = 0; j < i; j++) hb_peer_cfg_free(&copy[j]);
            free(copy);
            return HB_E_NOMEM;
        }
    hb__file_peers_free(fp);
    fp->peers = copy;
    fp->n = n;
    return 0;
}

void hb__file_peers_free(hb__file_peers *fp)
{
    for (size_t i = 0; i < fp->n; i++) hb_peer_cfg_free(&fp->peers[i]);
    free(fp->peers);
    fp->peers = NULL;
    fp->n = 0;
    for (size_t i = 0; i < fp->n_parked; i++) hb_peer_cfg_free(&fp->parked[i]);
    free(fp->parked);
    fp->parked = NULL;
    fp->n_parked = 0;
}

void hb__file_peers_release(hb__file_peers *fp, const char *id)
{
    for (size_t i = 0; i < fp->n; i++) {
        if (strcmp(fp->peers[i].id, id)) continue;
        hb_peer_cfg *pk = realloc(fp->parked, (fp->n_parked + 1) * sizeof(*pk));
        if (!pk) { /* a plain drop: the next reload takes the entry for new */
            hb__file_peers_drop(fp, id);
            return;
        }
        fp->parked = pk;
        fp->parked[fp->n_parked++] = fp->peers[i]; /* moved, not copied */
        memmove(&fp->peers[i], &fp->peers[i + 1], (fp->n - i - 1) * sizeof(fp->peers[0]));
        fp->n--;
        return;
    }
}

/* Forget one id from a file-peer set (order kept). */
void hb__file_peers_drop(hb__file_peers *fp, const char *id)
{
    for (size_t i = 0; i < fp->n; i++)
        if (!strcmp(fp->peers[i].id, id)) {
            hb_peer_cfg_free(&fp->peers[i]);
            memmove(&fp->peers[i], &fp->peers[i + 1], (fp->n - i - 1) * sizeof(fp->peers[0]));
            fp->n--;
            return;
        }
}

void hb__file_peers_keep(hb__file_peers *fp, const bool *keep)
{
    size_t o = 0;
    for (size_t i = 0; i < fp->n; i++) {
        if (!keep[i]) {
            hb_peer_cfg_free(&fp->peers[i]);
            continue;
        }
        if (o != i) fp->peers[o] = fp->peers[i];
        o++;
    }
    fp->n = o;
}

/* A sorted index of peers by id, for bsearch. */
typedef struct s_index {
    const hb_peer_cfg **by_id;
    size_t n;
} s_index;

static int s_cmp_ptr(const void *a, const void *b)
{
    return strcmp((*(const hb_peer_cfg *const *)a)->id, (*(const hb_peer_cfg *const *)b)->id);
}

static int s_cmp_key(const void *key, const void *elem)
{
    return strcmp(key, (*(const hb_peer_cfg *const *)elem)->id);
}

static int s_index_build(s_index *ix, const hb_peer_cfg *v, size_t n)
{
    ix->n = n;
    ix->by_id = n ? malloc(n * sizeof(*ix->by_id)) : NULL;
    if (n && !ix->by_id) return HB_E_NOMEM;
    for (size_t i = 0; i < n; i++) ix->by_id[i] = &v[i];
    if (n) qsort(ix->by_id, n, sizeof(*ix->by_id), s_cmp_ptr);
    return 0;
}

static const hb_peer_cfg *s_find(const s_index *ix, const char *id)
{
    const hb_peer_cfg *const *p =
        ix->n ? bsearch(id, ix->by_id, ix->n, sizeof(*ix->by_id), s_cmp_key) : NULL;
    return p ? *p : NULL;
}

/* Every HB__RELOAD_BATCH steps: does the caller want to stop? */
static bool s_should_stop(const hb__reload_ops *ops, size_t step)
{
    return ops->stop && step % HB__RELOAD_BATCH == HB__RELOAD_BATCH - 1 && ops->stop(ops->ud);
}

int hb__reload_diff(hb__file_peers *fp, const hb_peer_cfg *next, size_t n_next,
                    const hb__reload_ops *ops, const hb_logger *lg, hb__reload_result *res)
{
    hb__reload_result r = {0};
    /* Copy and index first: on ENOMEM nothing has been touched. */
    hb__file_peers fresh = {0};
    s_index in_next = {0}, in_old = {0}, in_parked = {0};
    bool *keep = n_next ? malloc(n_next * sizeof(*keep)) : NULL;
    /* Parked entries the file still has unchanged stay parked; the rest go. */
    bool *keep_parked = fp->n_parked ? calloc(fp->n_parked, sizeof(*keep_parked)) : NULL;
    if ((n_next && !keep) || (fp->n_parked && !keep_parked) ||
        s_index_build(&in_next, next, n_next) != 0 ||
        s_index_build(&in_old, fp->peers, fp->n) != 0 ||
        s_index_build(&in_parked, fp->parked, fp->n_parked) != 0 ||
        hb__file_peers_set(&fresh, next, n_next) != 0) {
        free(keep);
        free(keep_parked);
        free(in_next.by_id);
        free(in_old.by_id);
        free(in_parked.by_id);
        return HB_E_NOMEM;
    }
    for (size_t i = 0; i < n_next; i++) keep[i] = true;
    size_t step = 0;

    /* Parked ids the file dropped: whatever holds the id now (a peer added
     * over control) is control's; nothing to remove. */
    for (size_t i = 0; i < fp->n_parked; i++)
        if (!s_find(&in_next, fp->parked[i].id))
            HB_LOG(lg, HB_LOG_INFO, fp->parked[i].id,
                   "reload: peer gone from the file (removed or replaced over control "
                   "before: left alone)");

    for (size_t i = 0; i < fp->n && !r.stopped; i++) {
        const hb_peer_cfg *old = &fp->peers[i];
        if (s_should_stop(ops, step++)) {
            r.stopped = true;
            break;
        }
        if (s_find(&in_next, old->id)) continue;
        if (ops->cancel) ops->cancel(ops->ud, old->id);
        int rc = ops->remove(ops->ud, old->id);
        if (rc == 0) {
            HB_LOG(lg, HB_LOG_INFO, old->id, "reload: peer no longer in the file, removing");
            r.removed++;
        } else if (rc == HB_E_UNKNOWN_PEER) {
            HB_LOG(lg, HB_LOG_INFO, old->id, "reload: peer gone from the file (already gone)");
            r.removed++;
        } else {
            HB_LOG(lg, HB_LOG_WARN, old->id, "reload: remove failed: %s", hb_strerror(rc));
            r.failed++;
        }
    }
    for (size_t i = 0; i < n_next && !r.stopped; i++) {
        const hb_peer_cfg *nw = &next[i];
        if (s_should_stop(ops, step++)) {
            r.stopped = true;
            break;
        }
        const hb_peer_cfg *pk = s_find(&in_parked, nw->id);
        if (pk && hb_peer_cfg_equal(pk, nw)) {
            /* Control took this id and the file did not change it: not a
             * file peer, and stays parked. */
            keep[i] = false;
            keep_parked[pk - fp->parked] = true;
            r.unchanged++;
            continue;
        }
        if (pk)
            HB_LOG(lg, HB_LOG_INFO, nw->id,
                   "reload: the entry of a peer removed or replaced over control changed: "
                   "adding it again");
        /* A parked id is in no old entry: a changed one is added as new. */
        const hb_peer_cfg *old = s_find(&in_old, nw->id);
        if (old && hb_peer_cfg_equal(old, nw)) {
            r.unchanged++;
            continue;
        }
        if (!old) {
            int rc = ops->connect(ops->ud, nw);
            if (rc == 0) {
                HB_LOG(lg, HB_LOG_INFO, nw->id, "reload: new peer (%s)", nw->url);
                r.added++;
            } else if (rc == HB_E_PEER_EXISTS) {
                /* A peer added over control owns this id: leave it alone,
                 * and do not adopt it as a file peer (a later reload
                 * without it must not remove it). */
                HB_LOG(lg, HB_LOG_WARN, nw->id,
                       "reload: a peer with this id exists (added over control?); not added");
                keep[i] = false;
                r.failed++;
            } else {
                /* fd_limit, out of memory...: not a file peer, so the next
                 * reload tries again. */
                HB_LOG(lg, HB_LOG_WARN, nw->id, "reload: cannot add peer: %s", hb_strerror(rc));
                keep[i] = false;
                r.failed++;
            }
            continue;
        }
        /* Changed: remove, then connect again once its removed is out. */
        int rc = ops->remove(ops->ud, nw->id);
        if (rc == 0 || (rc == HB_E_UNKNOWN_PEER && ops->exists(ops->ud, nw->id))) {
            ops->connect_after_removed(ops->ud, nw);
            HB_LOG(lg, HB_LOG_INFO, nw->id, "reload: peer changed, reconnecting (%s)", nw->url);
            r.changed++;
        } else if (rc == HB_E_UNKNOWN_PEER) {
            /* Gone already (max_retries, or its removed is out): connect
             * now, and drop a reconnect an earlier reload left pending. */
            if (ops->cancel) ops->cancel(ops->ud, nw->id);
            rc = ops->connect(ops->ud, nw);
            if (rc == 0) {
                HB_LOG(lg, HB_LOG_INFO, nw->id, "reload: changed peer was gone, connecting");
                r.changed++;
            } else {
                HB_LOG(lg, HB_LOG_WARN, nw->id, "reload: cannot connect changed peer: %s",
                       hb_strerror(rc));
                keep[i] = false;
                r.failed++;
            }
        } else {
            HB_LOG(lg, HB_LOG_WARN, nw->id, "reload: cannot remove changed peer: %s",
                   hb_strerror(rc));
            r.failed++;
        }
    }
    hb__file_peers_keep(&fresh, keep);
    /* The parked entries kept move over (owned), the others are freed. */
    size_t o = 0;
    for (size_t i = 0; i < fp->n_parked; i++) {
        if (!keep_parked[i]) {
            hb_peer_cfg_free(&fp->parked[i]);
            continue;
        }
        fp->parked[o++] = fp->parked[i];
    }
    fresh.parked = o ? fp->parked : NULL;
    fresh.n_parked = o;
    if (!o) free(fp->parked);
    fp->parked = NULL;
    fp->n_parked = 0;
    free(keep);
    free(keep_parked);
    free(in_next.by_id);
    free(in_old.by_id);
    free(in_parked.by_id);
    hb__file_peers_free(fp);
    *fp = fresh;
    if (res) *res = r;
    return 0;
}

size_t hb__reload_needs_restart(const hb_config *running, const hb_config *next, char *what,
                                size_t cap)
{
    size_t n = 0, len = 0;
    if (cap) what[0] = '\0';
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        if (!(k->flags & HB__F_RESTART)) continue;
        const void *a = hb__cfg_section_base((hb_config *)running, k->section);
        const void *b = hb__cfg_section_base((hb_config *)next, k->section);
        if (!a || !b || hb__cfg_key_equal(k, a, b)) continue;
        if (len < cap) {
            int w = snprintf(what + len, cap - len, "%s%s.%s", n ? ", " : "",
                             hb__cfg_section_name(k->section), k->path);
            len += w > 0 ? (size_t)w : 0;
        }
        n++;
    }
    return n;
}

/* ---- pending reconnects ---------------------------------------------------- */

/* A pending reconnect, or, on the `failed` list, the id of one whose
 * connect failed. */
typedef struct s_pending {
    struct s_pending *next;
    hb_peer_cfg peer;
    bool cancelled; /* a tombstone: only peer.id is set; drops older entries */
} s_pending;

struct hb__reconnects {
    hb_pool *pool;
    const hb_logger *lg;
    void (*poke)(void *ud);
    void *poke_ud;
    pthread_mutex_t mu; /* protects the lists and arrays below */
    s_pending *pending; /* connect once the old peer is gone */
    s_pending *failed;  /* whose connect failed, for the main thread */
    /* The file ids control may claim (sorted, owned), and those it
     * claimed since the main thread last took them: claimed ids leave
     * `ids`, so `claimed` never holds more than the set had
     * (cap_claimed, allocated with the set). */
    char **ids;
    size_t n_ids;
    char **claimed;
    size_t n_claimed, cap_claimed;
};

static void s_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void s_pending_free(s_pending *p)
{
    hb_peer_cfg_free(&p->peer);
    free(p);
}

int hb__reconnects_new(hb_pool *pool, const hb_logger *lg, void (*poke)(void *ud), void *poke_ud,
                       hb__reconnects **out)
{
    hb__reconnects *r = calloc(1, sizeof(*r));
    if (!r) return HB_E_NOMEM;
    r->pool = pool;
    r->lg = lg;
    r->poke = poke;
    r->poke_ud = poke_ud;
    pthread_mutex_init(&r->mu, NULL);
    *out = r;
    return 0;
}

void hb__reconnects_destroy(hb__reconnects **rp)
{
    hb__reconnects *r = *rp;
    if (!r) return;
    s_pending *lists[2] = {r->pending, r->failed};
    for (int i = 0; i < 2; i++)
        while (lists[i]) {
            s_pending *p = lists[i];
            lists[i] = p->next;
            s_pending_free(p);
        }
    s_strv_free(r->ids, r->n_ids);
    s_strv_free(r->claimed, r->n_claimed);
    pthread_mutex_destroy(&r->mu);
    free(r);
    *rp = NULL;
}

/* Queue `p` (taken) as the one entry of its id: an older entry for the
 * same id goes (the newest configuration wins). */
static void s_pending_put(hb__reconnects *r, s_pending *p)
{
    pthread_mutex_lock(&r->mu);
    for (s_pending **pp = &r->pending; *pp;) {
        s_pending *q = *pp;
        if (!strcmp(q->peer.id, p->peer.id)) {
            *pp = q->next;
            s_pending_free(q);
        } else {
            pp = &q->next;
        }
    }
    p->next = r->pending;
    r->pending = p;
    pthread_mutex_unlock(&r->mu);
    if (r->poke) r->poke(r->poke_ud);
}

void hb__reconnects_put(hb__reconnects *r, const hb_peer_cfg *peer)
{
    s_pending *p = calloc(1, sizeof(*p));
    if (!p || hb_peer_cfg_copy(&p->peer, peer) != 0) {
        free(p);
        HB_LOG(r->lg, HB_LOG_ERROR, peer->id, "reload: out of memory");
        return;
    }
    s_pending_put(r, p);
}

void hb__reconnects_cancel(hb__reconnects *r, const char *id)
{
    /* A tombstone rather than a plain unlink: the bridge thread may hold
     * the entry outside the lock right now (hb__reconnects_check), and puts
     * it back only if no newer entry for its id, tombstone included, exists. */
    s_pending *p = calloc(1, sizeof(*p));
    if (p) p->peer.id = strdup(id);
    if (!p || !p->peer.id) {
        free(p);
        HB_LOG(r->lg, HB_LOG_ERROR, id, "reload: out of memory");
        return;
    }
    p->cancelled = true;
    s_pending_put(r, p);
}

bool hb__reconnects_check(hb__reconnects *r)
{
    pthread_mutex_lock(&r->mu);
    s_pending *list = r->pending;
    r->pending = NULL;
    pthread_mutex_unlock(&r->mu);
    s_pending *keep = NULL, *failed = NULL;
    while (list) {
        s_pending *p = list;
        list = p->next;
        if (p->cancelled) { /* it did its job when it was queued */
            s_pending_free(p);
            continue;
        }
        hb_peer_info info;
        memset(&info, 0, sizeof(info));
        int rc = hb_pool_peer_info(r->pool, p->peer.id, &info);
        if (rc == 0) {
            free(info.url);
            p->next = keep;
            keep = p;
            continue;
        }
        rc = hb_pool_connect(r->pool, &p->peer);
        if (rc == HB_E_PEER_EXISTS) { /* removed event not out yet: later */
            p->next = keep;
            keep = p;
            continue;
        }
        if (rc) {
            HB_LOG(r->lg, HB_LOG_ERROR, p->peer.id,
                   "reload: reconnecting changed peer failed: %s (a later reload retries it)",
                   hb_strerror(rc));
            p->next = failed;
            failed = p;
            continue;
        }
        HB_LOG(r->lg, HB_LOG_INFO, p->peer.id, "reload: changed peer connected again (%s)",
               p->peer.url);
        s_pending_free(p);
    }
    pthread_mutex_lock(&r->mu);
    while (keep) {
        s_pending *p = keep;
        keep = p->next;
        /* A reload may have queued a newer entry for this id meanwhile (or
         * cancelled it): the newer one wins, this one goes. */
        bool superseded = false;
        for (s_pending *q = r->pending; q && !superseded; q = q->next)
            superseded = !strcmp(q->peer.id, p->peer.id);
        if (superseded) {
            s_pending_free(p);
            continue;
        }
        p->next = r->pending;
        r->pending = p;
    }
    while (failed) {
        s_pending *p = failed;
        failed = p->next;
        p->next = r->failed;
        r->failed = p;
    }
    bool waiting = r->pending != NULL;
    pthread_mutex_unlock(&r->mu);
    return waiting;
}

size_t hb__reconnects_take_failed(hb__reconnects *r, void (*fn)(void *ud, const char *id), void *ud)
{
    pthread_mutex_lock(&r->mu);
    s_pending *list = r->failed;
    r->failed = NULL;
    pthread_mutex_unlock(&r->mu);
    size_t n = 0;
    while (list) {
        s_pending *p = list;
        list = p->next;
        fn(ud, p->peer.id);
        s_pending_free(p);
        n++;
    }
    return n;
}

/* ---- file ids control may claim ------------------------------------------- */

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int hb__reconnects_file_ids(hb__reconnects *r, const hb_peer_cfg *peers, size_t n,
                            void (*fn)(void *ud, const char *id), void *ud)
{
    /* Built outside the lock: the bridge thread claims while we copy. */
    char **ids = n ? calloc(n, sizeof(*ids)) : NULL;
    char **room = n ? calloc(n, sizeof(*room)) : NULL;
    int rc = 0;
    size_t k = 0;
    if (n && (!ids || !room)) rc = HB_E_NOMEM;
    for (; rc == 0 && k < n; k++)
        if (!(ids[k] = strdup(peers[k].id))) rc = HB_E_NOMEM;
    if (rc == 0 && n) qsort(ids, n, sizeof(*ids), s_cmp_str);
    pthread_mutex_lock(&r->mu);
    char **old = NULL, **claimed = r->claimed;
    size_t n_old = 0, n_claimed = r->n_claimed;
    if (rc == 0) {
        old = r->ids;
        n_old = r->n_ids;
        r->ids = ids;
        r->n_ids = n;
        r->claimed = room;
        r->cap_claimed = n;
    } else {
        /* Keep the old set; its claims still have room in what is left
         * of the old `claimed` array, which we take: give it a new one. */
        r->claimed = r->cap_claimed ? calloc(r->cap_claimed, sizeof(char *)) : NULL;
        if (r->cap_claimed && !r->claimed) r->cap_claimed = 0; /* no more claims */
    }
    r->n_claimed = 0;
    pthread_mutex_unlock(&r->mu);
    if (rc != 0) {
        s_strv_free(ids, k);
        free(room);
    }
    s_strv_free(old, n_old);
    for (size_t i = 0; i < n_claimed; i++)
        if (fn) fn(ud, claimed[i]);
    s_strv_free(claimed, n_claimed);
    return rc;
}

bool hb__reconnects_claim(hb__reconnects *r, const char *id)
{
    pthread_mutex_lock(&r->mu);
    /* A pending reconnect of the file's entry must not follow what control
     * did. check() runs on this thread too, so none is held outside the
     * lock now: unlinked at once. */
    for (s_pending **pp = &r->pending; *pp;) {
        s_pending *q = *pp;
        if (!strcmp(q->peer.id, id)) {
            *pp = q->next;
            s_pending_free(q);
        } else {
            pp = &q->next;
        }
    }
    char **hit = r->n_ids ? bsearch(&id, r->ids, r->n_ids, sizeof(*r->ids), s_cmp_str) : NULL;
    bool claimed = hit && r->n_claimed < r->cap_claimed;
    if (claimed) {
        r->claimed[r->n_claimed++] = *hit; /* moved */
        size_t i = (size_t)(hit - r->ids);
        memmove(&r->ids[i], &r->ids[i + 1], (r->n_ids - i - 1) * sizeof(*r->ids));
        r->n_ids--;
    }
    pthread_mutex_unlock(&r->mu);
    return claimed;
}
