/*
 * timers.h: the loop's timers, a binary min-heap behind one lws timer.
 * See timers.c for why. Loop thread only. Internal.
 */
#ifndef HB_TRANSPORT_TIMERS_H
#define HB_TRANSPORT_TIMERS_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <libwebsockets.h>

struct hb__loop;

typedef struct hb__timer {
    struct hb__loop *loop;
    void (*fn)(void *ud);
    void *ud;
    uint64_t due_ns; /* monotonic */
    uint32_t idx;    /* position in the heap while armed */
    bool armed;
    bool in_overflow;       /* on the overflow list, not in the heap */
    struct hb__timer *next; /* overflow list link */
} hb__timer;

typedef struct hb__theap {
    lws_sorted_usec_list_t sul; /* the one lws timer: the earliest deadline */
    struct lws_context *ctx;
    hb__timer **v;
    uint32_t n, cap;
    uint64_t sul_due;    /* deadline sul is set for; UINT64_MAX = not set */
    hb__timer *overflow; /* armed timers the heap could not take (no memory) */
} hb__theap;

void hb__theap_init(hb__theap *h, struct lws_context *ctx);
void hb__theap_fini(hb__theap *h);
/* (Re)arm t to fire after delay_ns (0: on the next loop turn). */
void hb__theap_arm(hb__theap *h, hb__timer *t, uint64_t delay_ns);
void hb__theap_cancel(hb__theap *h, hb__timer *t);
/* Disarm every timer at once (the loop is going away and none may fire:
 * later cancels find them disarmed). */
void hb__theap_clear(hb__theap *h);
/* Fire overflow timers that are due; called from the loop's periodic tick. */
void hb__theap_poll(hb__theap *h);

#endif
