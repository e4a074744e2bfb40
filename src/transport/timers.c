/*
 * timers.c: every honeybee timer of a loop in one binary min-heap, behind a
 * single lws_sorted_usec_list_t.
 *
 * Why: libwebsockets 4.1.6 keeps all its timers in one sorted linked list
 * and inserts by walking it, so N timers cost O(N) per arm. Each peer has
 * several timers (dial start, connect timeout, kill grace, retry, keepalive
 * tick); with thousands of peers armed at once on a cold start, that walk
 * made connecting N peers O(N^2) (measured: 10,000 peers took 14 s, ~80 %
 * of the loop thread in lws_dll2_add_sorted). Here arm and cancel are
 * O(log N), and lws sees one entry per loop: the earliest deadline.
 *
 * If the heap cannot grow (out of memory), the timer goes on an overflow
 * list that the loop's periodic tick (hb__theap_poll, every 500 ms)
 * checks: a timer may then fire late, never not at all.
 *
 * Loop thread only, like every lws call.
 */
#include <stdlib.h>

#include "core/clock.h"
#include "transport/timers.h"

static void s_sul_cb(lws_sorted_usec_list_t *sul);

void hb__theap_init(hb__theap *h, struct lws_context *ctx)
{
    memset(h, 0, sizeof(*h));
    h->ctx = ctx;
    h->sul_due = UINT64_MAX;
}

void hb__theap_fini(hb__theap *h)
{
    if (h->sul_due != UINT64_MAX) lws_sul_cancel(&h->sul);
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
    h->overflow = NULL;
}

void hb__theap_clear(hb__theap *h)
{
    for (uint32_t i = 0; i < h->n; i++) h->v[i]->armed = false;
    h->n = 0;
    for (hb__timer *t = h->overflow, *nx; t; t = nx) {
        nx = t->next;
        t->armed = t->in_overflow = false;
        t->next = NULL;
    }
    h->overflow = NULL;
}

static bool s_less(const hb__timer *a, const hb__timer *b)
{
    return a->due_ns < b->due_ns;
}

static void s_place(hb__theap *h, uint32_t i, hb__timer *t)
{
    h->v[i] = t;
    t->idx = i;
}

static void s_up(hb__theap *h, uint32_t i)
{
    hb__timer *t = h->v[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!s_less(t, h->v[parent])) break;
        s_place(h, i, h->v[parent]);
        i = parent;
    }
    s_place(h, i, t);
}

static void s_down(hb__theap *h, uint32_t i)
{
    hb__timer *t = h->v[i];
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        const hb__timer *best = t;
        if (l < h->n && s_less(h->v[l], best)) m = l, best = h->v[l];
        if (r < h->n && s_less(h->v[r], best)) m = r;
        if (m == i) break;
        s_place(h, i, h->v[m]);
        i = m;
    }
    s_place(h, i, t);
}

/* Point the one lws timer at the earliest deadline (only when it moved). */
static void s_resched(hb__theap *h)
{
    uint64_t due = h->n ? h->v[0]->due_ns : UINT64_MAX;
    if (due == h->sul_due) return;
    h->sul_due = due;
    if (due == UINT64_MAX) {
        lws_sul_cancel(&h->sul);
        return;
    }
    uint64_t now = hb__mono_ns();
    uint64_t us = due > now ? (due - now + 999) / 1000 : 0;
    lws_sul_schedule(h->ctx, 0, &h->sul, s_sul_cb, (lws_usec_t)us);
}

static void s_remove(hb__theap *h, hb__timer *t)
{
    uint32_t i = t->idx;
    h->n--;
    if (i != h->n) {
        s_place(h, i, h->v[h->n]);
        if (i > 0 && s_less(h->v[i], h->v[(i - 1) / 2]))
            s_up(h, i);
        else
            s_down(h, i);
    }
}

static void s_overflow_unlink(hb__theap *h, hb__timer *t)
{
    for (hb__timer **pp = &h->overflow; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    t->next = NULL;
}

void hb__theap_cancel(hb__theap *h, hb__timer *t)
{
    if (!t->armed) return;
    t->armed = false;
    if (t->in_overflow) {
        t->in_overflow = false;
        s_overflow_unlink(h, t);
        return;
    }
    s_remove(h, t);
    s_resched(h);
}

void hb__theap_arm(hb__theap *h, hb__timer *t, uint64_t delay_ns)
{
    hb__theap_cancel(h, t);
    uint64_t now = hb__mono_ns();
    t->due_ns = delay_ns > UINT64_MAX - now - 1 ? UINT64_MAX - 1 : now + delay_ns;
    t->armed = true;
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 64;
        hb__timer **v = realloc(h->v, (size_t)cap * sizeof(*v));
        if (!v) {
            t->in_overflow = true;
            t->next = h->overflow;
            h->overflow = t;
            return;
        }
        h->v = v;
        h->cap = cap;
    }
    s_place(h, h->n++, t);
    s_up(h, t->idx);
    s_resched(h);
}

/* Fire one due timer: it is disarmed first, so its callback may re-arm it. */
static void s_fire(hb__timer *t)
{
    t->armed = false;
    t->fn(t->ud);
}

static void s_sul_cb(lws_sorted_usec_list_t *sul)
{
    hb__theap *h = lws_container_of(sul, hb__theap, sul);
    h->sul_due = UINT64_MAX; /* lws has dropped it */
    uint64_t now = hb__mono_ns();
    /* Callbacks may arm and cancel timers (this one included), so the root
     * is re-read after each one; a bounded batch keeps one turn short. */
    for (unsigned budget = 4096; budget && h->n && h->v[0]->due_ns <= now; budget--) {
        hb__timer *t = h->v[0];
        s_remove(h, t);
        s_fire(t);
    }
    s_resched(h);
}

void hb__theap_poll(hb__theap *h)
{
    /* One at a time: a callback may cancel or re-arm any other timer. The
     * overflow list exists only after an allocation failure, so the
     * quadratic walk is acceptable there. */
    for (;;) {
        uint64_t now = hb__mono_ns();
        hb__timer *t = h->overflow;
        while (t && t->due_ns > now) t = t->next;
        if (!t) return;
        s_overflow_unlink(h, t);
        t->in_overflow = false;
        s_fire(t);
    }
}
