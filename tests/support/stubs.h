/*
 * stubs.h: scaffolding shared by unit tests and fuzz targets, which are
 * separate executables with no test library between them (header only,
 * everything inline).
 *
 * - hbts_stub_pool(): a pool whose one peer has a worker that does nothing,
 *   so the test drives that peer's plugin itself (reader, deliveries). The
 *   sink frees what it gets.
 * - hbts_msg(): an inbox message as the pool makes them (one allocation):
 *   "abc" from peer "p".
 *
 * Any thread; tests only. Both abort on allocation failure.
 */
#ifndef HB_TESTS_SUPPORT_STUBS_H
#define HB_TESTS_SUPPORT_STUBS_H

#include <stdlib.h>
#include <string.h>

#include "honeybee/session.h"

static hb_plugin *hbts_plugin; /* the stub peer's, set by its factory */

static inline void hbts_w_start(hb_worker *w) {}
static inline void hbts_w_stop(hb_worker *w, hb_stop_reason why, uint64_t d)
{
    if (why != HB_STOP_DESTROY) hb_plugin_finished(w->plugin, "removed");
}
static inline int hbts_w_send(hb_worker *w, const void *d, size_t n, bool b)
{
    return HB_E_NOT_CONNECTED;
}
static inline void hbts_w_stats(hb_worker *w, hb_worker_stats *o)
{
    memset(o, 0, sizeof(*o));
}
static inline void hbts_w_destroy(hb_worker *w)
{
    free(w);
}

/* Runs on the caller's thread inside hb_pool_connect. */
static inline int hbts_factory(void *ud, hb_plugin *p, hb_worker **out)
{
    static const hb_worker_ops ops = {hbts_w_start, hbts_w_stop, hbts_w_send,   hbts_w_stats,
                                      NULL,         NULL,        hbts_w_destroy};
    hb_worker *w = calloc(1, sizeof(*w));
    if (!w) return HB_E_NOMEM;
    w->ops = &ops;
    hbts_plugin = p;
    *out = w;
    return 0;
}

static inline bool hbts_sink_inbox(void *ud, hb_inbox_msg *m)
{
    hb_inbox_msg_free(m);
    return true;
}
static inline void hbts_sink_event(void *ud, hb_event *e)
{
    hb_event_free(e);
}

/* A pool with one peer `id` (never dialled: the worker does nothing)
 * whose messages may be `max_message_size` long. Returns its plugin;
 * *pool is the caller's to destroy. */
static inline hb_plugin *hbts_stub_pool(const char *id, uint64_t max_message_size, hb_pool **pool)
{
    static const hb_worker_factory f = {hbts_factory, NULL};
    hb_pool_config pc = {.sink = {.inbox = hbts_sink_inbox, .event = hbts_sink_event},
                         .factory = &f};
    if (hb_pool_new(&pc, pool)) abort();
    hb_peer_cfg p;
    memset(&p, 0, sizeof(p));
    p.id = (char *)id; /* hb_pool_connect copies the configuration */
    p.url = "ws://127.0.0.1:1/";
    p.opts.connect_timeout_ns = p.opts.write_timeout_ns = 1000000000ull;
    p.opts.reconnect.initial_delay_ns = p.opts.reconnect.max_delay_ns = 1000000000ull;
    p.opts.reconnect.multiplier = 1;
    p.opts.max_message_size = max_message_size;
    p.opts.send_queue = 1;
    if (hb_pool_connect(*pool, &p) || !hbts_plugin) abort();
    return hbts_plugin;
}

static inline hb_inbox_msg *hbts_msg(void)
{
    hb_inbox_msg *m = calloc(1, sizeof(*m) + 8);
    if (!m) abort();
    m->peer_id = "p";
    m->peer_id_len = 1;
    m->data = (unsigned char *)(m + 1);
    m->len = 3;
    memcpy(m->data, "abc", 3);
    return m;
}

#endif
