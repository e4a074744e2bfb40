/*
 * resolver.c: getaddrinfo() on detached threads, the answers handed back to
 * the loop thread as doorway notes (see resolver.h for the bounds).
 *
 * The threads hold a reference each on the shared state, so destroying a
 * loop never waits for a slow getaddrinfo(): hb__resolver_orphan detaches
 * the loop (loop = NULL) and returns; a thread that finishes a lookup
 * afterwards cancels that job itself. `mu` protects everything.
 */
#include "transport/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/netrule.h"
#include "honeybee/common.h"
#include "transport/loop.h"

struct hb__resolver {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    hb__resolve *head, *tail;
    uint32_t queued, cap;  /* waiting jobs and their bound */
    hb__resolve **running; /* one slot per thread: the job it is resolving */
    uint32_t nthreads;
    bool stop;
    int refs;       /* threads + the loop */
    hb__loop *loop; /* NULL once orphaned */
};

/* Tests only (hb__resolve_set_lookup): a stand-in for getaddrinfo(). */
static _Atomic(hb__lookup_fn) s_lookup_hook;

/* Any thread. */
static void s_unref(hb__resolver *rs)
{
    pthread_mutex_lock(&rs->mu);
    bool last = --rs->refs == 0;
    pthread_mutex_unlock(&rs->mu);
    if (!last) return;
    pthread_mutex_destroy(&rs->mu);
    pthread_cond_destroy(&rs->cond);
    free(rs->running);
    free(rs);
}

/* Loop thread. */
int hb__resolve_submit(hb__resolver *rs, hb__resolve *r, char *err, size_t errlen)
{
    r->note.next = NULL;
    atomic_store_explicit(&r->abandoned, false, memory_order_relaxed);
    pthread_mutex_lock(&rs->mu);
    const char *why = NULL;
    if (rs->queued >= rs->cap) why = "resolver busy (lookup queue full)";
    for (uint32_t i = 0; !why && i < rs->nthreads; i++)
        if (rs->running[i] && rs->running[i]->owner == r->owner)
            why = "resolver busy (the previous lookup for this peer is still running)";
    if (why) {
        pthread_mutex_unlock(&rs->mu);
        snprintf(err, errlen, "resolve %s: %s", r->host, why);
        return -1;
    }
    if (rs->tail)
        rs->tail->note.next = &r->note;
    else
        rs->head = r;
    rs->tail = r;
    rs->queued++;
    pthread_cond_signal(&rs->cond);
    pthread_mutex_unlock(&rs->mu);
    return 0;
}

void hb__resolve_abandon(hb__resolve *r)
{
    atomic_store_explicit(&r->abandoned, true, memory_order_relaxed);
}

void hb__resolve_set_lookup(hb__lookup_fn fn)
{
    atomic_store(&s_lookup_hook, fn);
}

hb__pick hb__resolve_pick(const struct addrinfo *res, bool public_only, char *addr, size_t addrlen)
{
    /* Prefer IPv4: test and local servers often listen on 127.0.0.1 only
     * while "localhost" resolves to ::1 first. */
    const struct addrinfo *v4 = NULL, *v6 = NULL;
    bool any = false;
    for (const struct addrinfo *a = res; a && !v4; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
        if (!a->ai_addr) continue;
        any = true;
        if (public_only && hb__sockaddr_private(a->ai_addr)) continue;
        if (a->ai_family == AF_INET)
            v4 = a;
        else if (!v6)
            v6 = a;
    }
    const struct addrinfo *pick = v4 ? v4 : v6;
    addr[0] = 0;
    if (!pick) return any ? HB__PICK_PRIVATE : HB__PICK_NONE;
    const void *src = pick->ai_family == AF_INET6
                          ? (const void *)&((const struct sockaddr_in6 *)pick->ai_addr)->sin6_addr
                          : (const void *)&((const struct sockaddr_in *)pick->ai_addr)->sin_addr;
    if (!inet_ntop(pick->ai_family, src, addr, (socklen_t)addrlen)) {
        addr[0] = 0;
        return HB__PICK_NONE;
    }
    return HB__PICK_OK;
}

/* Resolver thread: one blocking lookup into r->addr or r->error. */
static void s_lookup(hb__resolve *r)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    r->addr[0] = 0;
    hb__lookup_fn hook = atomic_load(&s_lookup_hook);
    if (hook) {
        if (hook(r->host, r->addr, sizeof(r->addr), r->error, sizeof(r->error)) != 0)
            r->addr[0] = 0;
        return;
    }
    int rc = getaddrinfo(r->host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(r->error, sizeof(r->error), "resolve %s: %s", r->host,
                 rc ? gai_strerror(rc) : "no address");
    } else {
        switch (hb__resolve_pick(res, r->public_only, r->addr, sizeof(r->addr))) {
        case HB__PICK_OK:
            break;
        case HB__PICK_PRIVATE:
            snprintf(r->error, sizeof(r->error),
                     "resolve %s: every address of %s is loopback, private or link-local "
                     "(pool.allow_private: false)",
                     r->host, r->host);
            break;
        default:
            snprintf(r->error, sizeof(r->error), "resolve %s: bad address", r->host);
            break;
        }
    }
    if (res) freeaddrinfo(res);
}

/* Resolver thread: take jobs until stopped; each result goes back as a note. */
static void *s_run(void *arg)
{
    hb__resolver *rs = arg;
    pthread_mutex_lock(&rs->mu);
    for (;;) {
        while (!rs->head && !rs->stop) pthread_cond_wait(&rs->cond, &rs->mu);
        if (rs->stop) break;
        hb__resolve *r = rs->head;
        rs->head = (hb__resolve *)r->note.next; /* note is the first member */
        if (!rs->head) rs->tail = NULL;
        rs->queued--;
        if (atomic_load_explicit(&r->abandoned, memory_order_relaxed)) {
            /* Nobody wants it: no getaddrinfo(), just hand the job back. */
            r->addr[0] = 0;
            snprintf(r->error, sizeof(r->error), "lookup abandoned");
        } else {
            uint32_t slot = 0;
            while (slot < rs->nthreads && rs->running[slot]) slot++;
            if (slot < rs->nthreads) rs->running[slot] = r;
            pthread_mutex_unlock(&rs->mu);
            s_lookup(r);
            pthread_mutex_lock(&rs->mu);
            if (slot < rs->nthreads) rs->running[slot] = NULL;
        }
        if (rs->loop) {
            hb__loop_notify(rs->loop, &r->note); /* order: rs->mu, then loop->mu */
        } else {
            /* The loop is gone: cancel the job here (it only frees memory). */
            pthread_mutex_unlock(&rs->mu);
            r->note.fn(&r->note, true);
            pthread_mutex_lock(&rs->mu);
        }
    }
    pthread_mutex_unlock(&rs->mu);
    s_unref(rs);
    return NULL;
}

/* Creating thread. */
int hb__resolver_new(hb__loop *loop, uint32_t threads, uint32_t queue_cap, hb__resolver **out)
{
    *out = NULL;
    hb__resolver *rs = calloc(1, sizeof(*rs));
    if (!rs) return HB_E_NOMEM;
    pthread_mutex_init(&rs->mu, NULL);
    pthread_cond_init(&rs->cond, NULL);
    rs->refs = 1;
    rs->loop = loop;
    rs->cap = queue_cap;
    rs->nthreads = threads ? threads : 2;
    rs->running = calloc(rs->nthreads, sizeof(*rs->running));
    if (!rs->running) {
        s_unref(rs);
        return HB_E_NOMEM;
    }
    *out = rs; /* from here on, a failure orphans what started */
    for (uint32_t i = 0; i < rs->nthreads; i++) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&rs->mu);
        rs->refs++;
        pthread_mutex_unlock(&rs->mu);
        int rc = pthread_create(&t, &at, s_run, rs);
        pthread_attr_destroy(&at);
        if (rc != 0) {
            s_unref(rs);
            return HB_E_INTERNAL;
        }
    }
    return 0;
}

/* Destroying thread, after the loop thread was joined. */
void hb__resolver_orphan(hb__resolver **prs)
{
    hb__resolver *rs = *prs;
    if (!rs) return;
    *prs = NULL;
    pthread_mutex_lock(&rs->mu);
    rs->stop = true;
    rs->loop = NULL;
    hb__resolve *pend = rs->head;
    rs->head = rs->tail = NULL;
    rs->queued = 0;
    pthread_cond_broadcast(&rs->cond);
    pthread_mutex_unlock(&rs->mu);
    s_unref(rs);
    while (pend) {
        hb__resolve *next = (hb__resolve *)pend->note.next;
        pend->note.fn(&pend->note, true);
        pend = next;
    }
}
