/*
 * events.c: the events hand-off and the events PUB.
 *
 * The loop thread, or a pool caller's thread (send_failed of a pool call),
 * appends events to an intrusive list under `mu` (hb__events_take) and
 * writes the eventfd only when the bridge thread is not already draining
 * (`awake` false): one wake-up per batch. The bridge thread takes the whole
 * list, publishes it, and takes again until it finds it empty; only then,
 * under `mu`, does it clear `awake`. A producer that appends after that
 * sees `awake` false and writes the eventfd; one that appends before is
 * picked up by the re-check: no wake-up is lost. The list holds at most
 * bridge.events_queue events; beyond that an event is counted and dropped.
 * The kinds that come in floods (send_failed: one per queued message of a
 * dropped connection; dial_failed) may fill only three quarters of it, so
 * that a flood of them does not cost a subscriber the lifecycle events
 * (added, connected, disconnected, removed) its view of the peers rests on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_int.h"

/* Hand-off batches published per turn before control and send get a look. */
#define S_DRAIN_ROUNDS 8

/* Loop thread or a pool caller's thread. Takes `e`. */
void hb__events_take(void *ud, hb_event *e)
{
    hb__bridge *b = ud;
    e->next = NULL;
    uint32_t cap = b->cfg.events_queue;
    if (e->kind == HB_EV_SEND_FAILED || e->kind == HB_EV_DIAL_FAILED) cap -= cap / 4;
    pthread_mutex_lock(&b->mu);
    if (b->ev_n >= cap) {
        pthread_mutex_unlock(&b->mu);
        uint64_t n = atomic_fetch_add(&b->c_events_dropped, 1) + 1;
        /* Log the first and then every 1000th, not a line per event. */
        if (n == 1 || n % 1000 == 0)
            HB_LOG(b->lg, HB_LOG_WARN, e->id,
                   "events hand-off full (%" PRIu32 "): %s event dropped (%" PRIu64
                   " dropped so far)",
                   b->cfg.events_queue, hb_event_kind_name(e->kind), n);
        hb_event_free(e);
        return;
    }
    if (b->ev_tail)
        b->ev_tail->next = e;
    else
        b->ev_head = e;
    b->ev_tail = e;
    b->ev_n++;
    bool wake = !b->awake;
    b->awake = true;
    pthread_mutex_unlock(&b->mu);
    if (wake) hb__bridge_wake(b);
}

/* The daemon's log of a peer's lifecycle: added and removed at info. The
 * pool's session logs connects, disconnects and dial failures itself at
 * info, rate-limited per peer, so here they go to debug (with the conn
 * number the session does not know); send_failed only at debug: it can be
 * a flood. */
static void s_log_event(hb__bridge *b, const hb_event *e)
{
    switch (e->kind) {
    case HB_EV_ADDED:
        HB_LOG(b->lg, HB_LOG_INFO, e->id, "added (%s)", e->url ? e->url : "");
        break;
    case HB_EV_CONNECTED:
        HB_LOG(b->lg, HB_LOG_DEBUG, e->id, "connected (conn %" PRIu32 ", attempt %" PRIu32 ")",
               e->conn, e->attempt);
        break;
    case HB_EV_DISCONNECTED:
        HB_LOG(b->lg, HB_LOG_DEBUG, e->id, "disconnected: %s, code %d%s%s",
               e->reason ? e->reason : "?", e->code, e->error ? ": " : "",
               e->error ? e->error : "");
        break;
    case HB_EV_REMOVED:
        HB_LOG(b->lg, HB_LOG_INFO, e->id, "removed: %s", e->reason ? e->reason : "?");
        break;
    case HB_EV_SEND_FAILED:
        HB_LOG(b->lg, HB_LOG_DEBUG, e->id, "send_failed: %s", e->reason ? e->reason : "?");
        break;
    default:
        break;
    }
}

/* Bridge thread. Returns true once published. */
bool hb__events_publish(hb__bridge *b, const hb_event *e)
{
    s_log_event(b, e);
    char *json = hb__event_json(e);
    const char *kind = hb_event_kind_name(e->kind);
    const char *id = e->id ? e->id : "";
    zmq_msg_t f[3];
    bool ok = false;
    if (json && hb__zframe_copy(&f[0], kind, strlen(kind)) == 0) {
        if (hb__zframe_copy(&f[1], id, strlen(id)) != 0) {
            zmq_msg_close(&f[0]);
        } else if (hb__zframe_copy(&f[2], json, strlen(json)) != 0) {
            zmq_msg_close(&f[1]);
            zmq_msg_close(&f[0]);
        } else {
            ok = hb__zsend3(b->s_events, f) == 0;
        }
    }
    if (!ok) HB_LOG(b->lg, HB_LOG_ERROR, id, "event publish failed: %s", zmq_strerror(errno));
    free(json);
    return ok;
}

/*
 * Publish the events handed over, taking again until the list is empty
 * (then `awake` is cleared under `mu`) or S_DRAIN_ROUNDS batches went out.
 * Returns true if more may be waiting (the caller polls without sleeping).
 * Bridge thread.
 */
bool hb__events_drain(hb__bridge *b, bool *removed)
{
    for (int round = 0; round < S_DRAIN_ROUNDS; round++) {
        pthread_mutex_lock(&b->mu);
        hb_event *ev = b->ev_head;
        b->ev_head = b->ev_tail = NULL;
        b->ev_n = 0;
        if (!ev) b->awake = false; /* the next append writes the eventfd */
        pthread_mutex_unlock(&b->mu);
        if (!ev) return false;

        uint64_t n_ev = 0;
        while (ev) {
            hb_event *next = ev->next;
            n_ev += hb__events_publish(b, ev);
            *removed |= ev->kind == HB_EV_REMOVED;
            hb_event_free(ev);
            ev = next;
        }
        atomic_fetch_add_explicit(&b->c_events_published, n_ev, memory_order_relaxed);
    }
    return true;
}

/* Destroy (no other thread left). */
void hb__events_discard(hb__bridge *b)
{
    while (b->ev_head) {
        hb_event *e = b->ev_head;
        b->ev_head = e->next;
        hb_event_free(e);
    }
    b->ev_tail = NULL;
    b->ev_n = 0;
}
