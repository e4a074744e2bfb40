/*
 * event.c: the pool's value types: lifecycle events, inbox messages and the
 * names of kinds, states and send_failed reasons. Pure; any thread.
 *
 * Each event and each inbox message is one allocation (struct + strings or
 * payload), so the sink can pass it on and free it with plain free(3).
 */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "honeybee/pool.h"

void hb_inbox_msg_free(hb_inbox_msg *m)
{
    free(m);
}

void hb_event_free(hb_event *e)
{
    free(e);
}

static const char *const s_kinds[HB_EV__COUNT] = {"added",       "connected",   "disconnected",
                                                  "dial_failed", "send_failed", "removed"};

const char *hb_event_kind_name(hb_event_kind k)
{
    return (unsigned)k < HB_EV__COUNT ? s_kinds[k] : "unknown";
}

static const char *const s_states[HB_STATE__COUNT] = {"connecting", "connected", "waiting",
                                                      "closed"};

const char *hb_peer_state_name(hb_peer_state s)
{
    return (unsigned)s < HB_STATE__COUNT ? s_states[s] : "unknown";
}

static const char *const s_sf[HB_SF__COUNT] = {"unknown_peer", "not_connected", "queue_full",
                                               "too_large", "bad_request"};

const char *hb_send_fail_name(hb_send_fail r)
{
    return (unsigned)r < HB_SF__COUNT ? s_sf[r] : "unknown";
}

int hb_send_fail_from_err(int err)
{
    switch (err) {
    case HB_E_UNKNOWN_PEER:
        return HB_SF_UNKNOWN_PEER;
    case HB_E_NOT_CONNECTED:
        return HB_SF_NOT_CONNECTED;
    case HB_E_QUEUE_FULL:
        return HB_SF_QUEUE_FULL;
    case HB_E_TOO_LARGE:
        return HB_SF_TOO_LARGE;
    case HB_E_BAD_REQUEST:
        return HB_SF_BAD_REQUEST;
    default:
        return -1;
    }
}

static size_t s_len(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

static const char *s_put(char **p, const char *s)
{
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *r = *p;
    *p += n;
    return r;
}

hb_event *hb_event_new(hb_event_kind kind, const char *id, const char *url, const char *reason,
                       const char *error)
{
    if (!id) id = "";
    size_t n = sizeof(hb_event) + s_len(id) + s_len(url) + s_len(reason) + s_len(error);
    hb_event *e = calloc(1, n);
    if (!e) return NULL;
    char *p = (char *)(e + 1);
    e->kind = kind;
    e->at_ns = hb__wall_ns();
    e->id = s_put(&p, id);
    e->url = s_put(&p, url);
    e->reason = s_put(&p, reason);
    e->error = s_put(&p, error);
    return e;
}
