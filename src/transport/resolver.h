/*
 * resolver.h: host names resolved off the loop thread. Internal.
 *
 * Debian's libwebsockets 4.1.6 has no asynchronous DNS, and getaddrinfo()
 * on the loop thread would stall every peer, so a few detached threads
 * resolve and hand the answer back through the loop's doorway (a note).
 * The loop thread submits; the result comes back as the job's note.
 *
 * Bounded three ways: at most `queue_cap` lookups wait; at most one lookup
 * per owner (a peer) is in flight, so a peer whose dials time out while a
 * slow getaddrinfo() runs cannot pile lookups up; and a job whose owner
 * gave up (hb__resolve_abandon) is skipped if it has not started (its note
 * still comes back: the caller frees its memory there).
 */
#ifndef HB_TRANSPORT_RESOLVER_H
#define HB_TRANSPORT_RESOLVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hb__loop;

typedef struct hb__resolver hb__resolver;

/* A doorway node (see loop.h); first member of hb__resolve. */
typedef struct hb__note {
    struct hb__note *next;
    void (*fn)(struct hb__note *n, bool cancelled);
} hb__note;

typedef struct hb__resolve {
    hb__note note;         /* fn runs on the loop thread with the result filled */
    char *host;            /* input, owned by the caller */
    const void *owner;     /* input: one lookup per owner in flight (compared only) */
    bool public_only;      /* input: skip loopback, private and link-local answers */
    atomic_bool abandoned; /* set by the loop thread, read by the resolver */
    char addr[64];         /* output: numeric address, "" on failure */
    char error[384];       /* output on failure: "resolve HOST: why" */
} hb__resolve;

/* Starts `threads` detached resolver threads for `loop` (creating thread). */
int hb__resolver_new(struct hb__loop *loop, uint32_t threads, uint32_t queue_cap,
                     hb__resolver **out);
/* The loop is going away (destroying thread, the loop thread joined): the
 * threads are orphaned (a lookup in progress is not waited for; it cancels
 * its job itself when it ends) and the jobs still queued are cancelled
 * here (their note runs with cancelled = true). */
void hb__resolver_orphan(hb__resolver **rs);

/* Loop thread. 0 once queued (the note follows), else -1 with a reason for
 * a person in err ("resolver busy", or a lookup of this owner still in
 * flight); no note then. */
int hb__resolve_submit(hb__resolver *rs, hb__resolve *r, char *err, size_t errlen);
/* Loop thread: the owner no longer wants the answer. */
void hb__resolve_abandon(hb__resolve *r);

/*
 * Pure: the address to dial among getaddrinfo()'s answers: the first IPv4
 * one, else the first IPv6 one; with public_only, loopback, private and
 * link-local answers (core/netrule.h) are skipped. Writes it as text into
 * addr; returns HB__PICK_OK, HB__PICK_NONE (no IPv4 or IPv6 answer) or
 * HB__PICK_PRIVATE (every answer skipped as private).
 */
struct addrinfo;
typedef enum hb__pick { HB__PICK_OK = 0, HB__PICK_NONE, HB__PICK_PRIVATE } hb__pick;
hb__pick hb__resolve_pick(const struct addrinfo *res, bool public_only, char *addr, size_t addrlen);

/* Tests: replace getaddrinfo() for every loop (NULL restores it). The hook
 * fills addr (numeric) or err and returns 0 or -1. */
typedef int (*hb__lookup_fn)(const char *host, char *addr, size_t addrlen, char *err,
                             size_t errlen);
void hb__resolve_set_lookup(hb__lookup_fn fn);

#endif
