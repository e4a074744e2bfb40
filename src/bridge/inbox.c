/*
 * inbox.c: the inbox publisher, on the pool's loop threads.
 *
 * The bridge thread binds the inbox PUB and lends it to the loop threads.
 * Each loop collects the messages of one of its turns in its own lane
 * (hb__inbox_take; the lane is hb_pool_current_loop()'s) and publishes
 * them in one burst at the end of the turn (hb__inbox_flush): a message
 * goes from lws's receive buffer to ZeroMQ on the thread that read it, with
 * no queue and no wake-up. The socket belongs to whoever holds `in_mu`:
 * the bridge thread at bind and close, a loop thread for each burst (with
 * one loop it is uncontended; with several, the loops take turns, one
 * burst at a time; it is also the barrier ZeroMQ asks for when a socket
 * changes threads). Why one shared PUB and not one per loop behind a
 * proxy, and what it costs: docs/operations.md ("Threads and queues") and
 * docs/performance.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_int.h"
#include "core/tsan.h"

/* ThreadSanitizer cannot see the happens-before libzmq's pipe gives between
 * zmq_msg_send of a zero-copy frame and its free function on ZeroMQ's I/O
 * thread (libzmq is not instrumented): annotate it. Nothing outside TSan. */
#ifdef HB_TSAN
#include <sanitizer/tsan_interface.h>
#define S_HANDED_TO_ZMQ(m)      __tsan_release(m)
#define S_HANDED_BACK_BY_ZMQ(m) __tsan_acquire(m)
#else
#define S_HANDED_TO_ZMQ(m)      ((void)(m))
#define S_HANDED_BACK_BY_ZMQ(m) ((void)(m))
#endif

/* Payloads at least this big go to ZeroMQ zero-copy; smaller ones fit in a
 * zmq_msg_t (ZeroMQ's "very small message", 33 bytes on 64-bit) and are
 * copied with no allocation. */
#define S_ZEROCOPY_MIN 34

/*
 * The free function of a zero-copy frame: ZeroMQ's I/O thread (or whoever
 * closes the frame when nobody subscribes). It does not free: a free here
 * of what a loop thread allocated contends for that thread's malloc arena.
 * It pushes `m` on its lane's `done` (one CAS); the lane's loop thread
 * frees the stack (hb__inbox_reclaim). While ZeroMQ holds `m`, m->next
 * carries the lane.
 */
void hb__inbox_zmq_free(void *data, void *hint)
{
    (void)data;
    hb_inbox_msg *m = hint;
    S_HANDED_BACK_BY_ZMQ(m);
    hb__inbox_lane *l = (hb__inbox_lane *)(void *)m->next;
    hb_inbox_msg *head = atomic_load_explicit(&l->done, memory_order_relaxed);
    do m->next = head;
    while (!atomic_compare_exchange_weak_explicit(&l->done, &head, m, memory_order_release,
                                                  memory_order_relaxed));
}

/* The lane's loop thread at the end of every turn (when the stack is not
 * empty), and destroy; taking the whole stack at once makes any number of
 * takers safe. */
void hb__inbox_reclaim(hb__inbox_lane *l)
{
    hb_inbox_msg *m = atomic_exchange_explicit(&l->done, NULL, memory_order_acquire);
    while (m) {
        hb_inbox_msg *next = m->next;
        hb_inbox_msg_free(m);
        m = next;
    }
}

/* A loop thread, holding in_mu. Takes `m`. Returns true once published. */
static bool s_publish(hb__bridge *b, hb__inbox_lane *l, void *sock, hb_inbox_msg *m)
{
    uint8_t meta[HB__META_LEN];
    hb__meta_encode(meta, m->flags, m->conn, m->seq, m->received_ns);
    zmq_msg_t f[3];
    if (hb__zframe_copy(&f[0], m->peer_id, m->peer_id_len) < 0) goto fail;
    if (hb__zframe_copy(&f[2], meta, sizeof(meta)) < 0) {
        zmq_msg_close(&f[0]);
        goto fail;
    }
    int rc;
    if (m->len >= S_ZEROCOPY_MIN) {
        /* ZeroMQ owns m from here: hb__inbox_zmq_free hands it back. */
        m->next = (hb_inbox_msg *)(void *)l;
        S_HANDED_TO_ZMQ(m);
        rc = zmq_msg_init_data(&f[1], m->data, m->len, hb__inbox_zmq_free, m);
    } else
        rc = hb__zframe_copy(&f[1], m->data, m->len);
    if (rc != 0) {
        zmq_msg_close(&f[0]);
        zmq_msg_close(&f[2]);
        goto fail;
    }
    if (m->len >= S_ZEROCOPY_MIN) m = NULL;
    rc = hb__zsend3(sock, f);
    if (m) hb_inbox_msg_free(m);
    if (rc == 0) return true;
    m = NULL;
fail:
    /* ENOMEM, or ETERM at exit, after which nothing matters any more. */
    HB_LOG(b->lg, HB_LOG_ERROR, NULL, "inbox publish failed: %s", zmq_strerror(errno));
    if (m) hb_inbox_msg_free(m);
    return false;
}

/* A loop thread (or destroy): publish the burst lane `l` collected since
 * the end of its last turn, under in_mu (the socket's owner). A burst
 * gives ZeroMQ's I/O thread a read's worth of messages per wake-up, and
 * with several loops one lock per burst, not per message. */
static void s_flush_lane(hb__bridge *b, hb__inbox_lane *l)
{
    /* Every turn, bursts or not: the loop turns at least twice a second, so
     * nothing handed back waits longer, and each message is freed on the
     * thread that allocated it. */
    if (atomic_load_explicit(&l->done, memory_order_relaxed)) hb__inbox_reclaim(l);
    hb_inbox_msg *m = l->burst_head;
    if (!m) return;
    l->burst_head = l->burst_tail = NULL;
    l->burst_n = 0;
    pthread_mutex_lock(&b->in_mu);
    uint64_t n = 0, lost = 0;
    while (m) {
        hb_inbox_msg *next = m->next;
        if (b->in_sock) {
            n += s_publish(b, l, b->in_sock, m);
        } else {
            /* The socket is closed (shutdown): only a peer still reading
             * after hb_pool_shutdown returned (its drain_timeout ran out)
             * gets here. Counted (metrics), logged at destroy. */
            lost++;
            hb_inbox_msg_free(m);
        }
        m = next;
    }
    pthread_mutex_unlock(&b->in_mu);
    if (n) atomic_fetch_add_explicit(&b->in_published, n, memory_order_relaxed);
    if (lost) atomic_fetch_add_explicit(&b->in_closed, lost, memory_order_relaxed);
}

/* The lane of the calling loop thread (hb_pool_current_loop; 0 off the
 * pool's threads, as in the unit tests). */
static hb__inbox_lane *s_lane(hb__bridge *b)
{
    uint32_t i = hb_pool_current_loop();
    return &b->lanes[i < HB_POOL_MAX_LOOPS ? i : 0];
}

/* A loop thread, after each of its turns (hb_sink.flush). */
void hb__inbox_flush(void *ud)
{
    hb__bridge *b = ud;
    s_flush_lane(b, s_lane(b));
}

/* A loop thread. Takes `m` into its lane's burst; never pauses the pool:
 * the burst is published when full or at the end of the loop turn (the
 * pool calls the flush there), before the pool reads the next bytes. */
bool hb__inbox_take(void *ud, hb_inbox_msg *m)
{
    hb__bridge *b = ud;
    hb__inbox_lane *l = s_lane(b);
    m->next = NULL;
    if (l->burst_tail)
        l->burst_tail->next = m;
    else
        l->burst_head = m;
    l->burst_tail = m;
    if (++l->burst_n >= HB__INBOX_BURST) s_flush_lane(b, l);
    return true;
}

void hb__inbox_destroy(hb__bridge *b)
{
    for (uint32_t i = 0; i < HB_POOL_MAX_LOOPS; i++) {
        s_flush_lane(b, &b->lanes[i]); /* the socket is closed: this only frees */
        hb__inbox_reclaim(&b->lanes[i]);
    }
}
