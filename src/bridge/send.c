/*
 * send.c: the send PULL (SPEC.md section 5), on the bridge thread.
 *
 * Each message is [id][payload] or [id][payload][type]; id "*" broadcasts.
 * A malformed message is counted, logged and answered with a send_failed
 * event (bad_request); a refusal by the pool too, with its reason. The
 * bridge thread reads at most a batch per turn (bridge.c), and the socket's
 * ZMQ_RCVHWM bounds what waits unread.
 *
 * A client can push refusals as fast as ZeroMQ carries them, so their
 * warnings share one rate limit (core/lograte.h, as each peer's info
 * lines): 10 lines, then one every 6 s; the rest go to debug, and the next
 * warning, or the bridge loop's turn once a line is allowed
 * (hb__bridge_warn_tick), says how many. Counters and send_failed events are
 * not limited: every refusal is counted and published.
 */
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_int.h"
#include "core/utf8.h"

/* send_failed from the bridge itself: published at once (this thread owns
 * the events socket). */
static void s_send_failed(hb__bridge *b, const char *id, int err)
{
    hb_event *e = hb_event_new(HB_EV_SEND_FAILED, id, NULL, hb_errname(err), NULL);
    if (!e) return;
    if (hb__events_publish(b, e))
        atomic_fetch_add_explicit(&b->c_events_published, 1, memory_order_relaxed);
    hb_event_free(e);
}

/* A peer that refused a "*" send. */
static void s_broadcast_refused(void *ud, const char *id, int err)
{
    s_send_failed(ud, id, err);
}

static void s_bad_send(hb__bridge *b, const zmq_msg_t *f0, bool have_f0, const char *why)
{
    char id[129] = "";
    if (have_f0) {
        size_t n = zmq_msg_size((zmq_msg_t *)f0);
        const char *p = zmq_msg_data((zmq_msg_t *)f0);
        if (n <= 128 && hb__utf8_valid(p, n) && !memchr(p, 0, n)) {
            memcpy(id, p, n);
            id[n] = 0;
        }
    }
    hb__bridge_warn(b, &b->send_log, id[0] ? id : NULL, "send socket: bad request: %s", why);
    hb_pool_count_send_failed(b->pool, HB_E_BAD_REQUEST);
    s_send_failed(b, id, HB_E_BAD_REQUEST);
}

bool hb__send_handle(hb__bridge *b)
{
    zmq_msg_t f[3];
    int nf = 0, total = 0;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, b->s_send, total ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            if (total == 0) return false;
            break; /* cannot happen: parts of one message arrive together */
        }
        total++;
        bool more = zmq_msg_more(&part);
        if (nf < 3) {
            zmq_msg_init(&f[nf]);
            zmq_msg_move(&f[nf++], &part);
        }
        zmq_msg_close(&part);
        if (!more) break;
    }
    atomic_fetch_add_explicit(&b->c_send_received, 1, memory_order_relaxed);

    if (total < 2 || total > 3) {
        s_bad_send(b, &f[0], true,
                   total < 2 ? "needs [id][payload] or [id][payload][type]" : "more than 3 frames");
        goto out;
    }
    hb_msg_type type = HB_MSG_AUTO;
    if (total == 3) {
        size_t n = zmq_msg_size(&f[2]);
        const char *t = zmq_msg_data(&f[2]);
        if (n == 4 && !memcmp(t, "text", 4))
            type = HB_MSG_TEXT;
        else if (n == 6 && !memcmp(t, "binary", 6))
            type = HB_MSG_BINARY;
        else {
            s_bad_send(b, &f[0], true, "frame 2 must be \"text\" or \"binary\"");
            goto out;
        }
    }
    size_t idn = zmq_msg_size(&f[0]);
    const char *idp = zmq_msg_data(&f[0]);
    bool star = idn == 1 && idp[0] == '*';
    if (!star && !hb_peer_id_valid(idp, idn)) {
        s_bad_send(b, &f[0], true, "invalid peer id");
        goto out;
    }
    const void *data = zmq_msg_data(&f[1]);
    size_t len = zmq_msg_size(&f[1]);
    if (type == HB_MSG_TEXT && !hb__utf8_valid(data, len)) {
        s_bad_send(b, &f[0], true, "\"text\" payload is not valid UTF-8");
        goto out;
    }
    char id[129];
    memcpy(id, idp, idn);
    id[idn] = 0;
    if (star) {
        /* Each connected peer that refuses gets its own send_failed (the
         * pool counted it); nobody connected is one send_failed for "*". */
        int n = hb_pool_broadcast_ex(b->pool, data, len, type, s_broadcast_refused, b);
        if (n == -HB_E_NOT_CONNECTED) {
            hb_pool_count_send_failed(b->pool, HB_E_NOT_CONNECTED);
            s_send_failed(b, "*", HB_E_NOT_CONNECTED);
        } else if (n < 0) {
            hb__bridge_warn(b, &b->send_log, NULL, "broadcast refused: %s", hb_strerror(-n));
        }
        goto out;
    }
    int rc = hb_pool_send(b->pool, id, data, len, type);
    if (rc) {
        /* hb_pool_send counted the refusal (unknown_peer in its totals). */
        if (hb_send_fail_from_err(rc) >= 0)
            s_send_failed(b, id, rc);
        else
            hb__bridge_warn(b, &b->send_log, id, "send refused: %s", hb_strerror(rc));
    }
out:
    for (int i = 0; i < nf; i++) zmq_msg_close(&f[i]);
    return true;
}
