/*
 * auth.h: who may talk to the four ZeroMQ sockets (SPEC.md section 9).
 *
 * With bridge.curve.server_cert set, every socket is a CURVE server with
 * the key pair of that czmq certificate, and a ZAP handler (RFC 27) on the
 * bridge's context decides each handshake: the readers' sockets (inbox,
 * events) carry ZAP domain "readers" and admit the client keys of
 * curve.readers, the writers' sockets (send, control) domain "writers" and
 * curve.writers. The key directories are czmq certificate stores
 * (zcertstore: every public certificate file in the directory, re-read
 * when the directory changes). curve.allow and curve.deny filter by client
 * address on every socket, with or without CURVE.
 *
 * Why not czmq's zauth actor: zauth serves the ZAP endpoint of czmq's own
 * global context (our sockets live in the bridge's context), one handler
 * per context, and checks CURVE keys against one certificate store for
 * every domain; readers and writers need two. So the handler here reads
 * the domain, then asks czmq's zcertstore of that domain; the certificate
 * files, the stores and the key encoding are czmq's.
 *
 * Threads: hb__auth_new, hb__auth_check and hb__auth_stores_new run on the
 * main thread (disk I/O); everything else on the bridge thread, which owns
 * the handler socket. A reload hands new stores over with
 * hb__auth_swap_stores (the bridge thread applies them).
 */
#ifndef HB_BRIDGE_AUTH_H
#define HB_BRIDGE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "honeybee/config.h"

#define HB__AUTH_DOMAIN_READERS "readers"
#define HB__AUTH_DOMAIN_WRITERS "writers"

typedef enum hb__auth_domain {
    HB__AUTH_READERS = 0,
    HB__AUTH_WRITERS,
    HB__AUTH__DOMAINS
} hb__auth_domain;

/* Why a ZAP request was denied. */
typedef enum hb__auth_denial {
    HB__AUTH_DENY_ADDRESS = 0, /* curve.deny, or not in curve.allow */
    HB__AUTH_DENY_KEY,         /* a CURVE key not in the domain's directory */
    HB__AUTH_DENY_MECHANISM,   /* not CURVE while CURVE is on, or malformed */
    HB__AUTH__DENIALS
} hb__auth_denial;

const char *hb__auth_denial_name(hb__auth_denial d);
const char *hb__auth_domain_name(hb__auth_domain d);

typedef struct hb__auth hb__auth;
/* The client key stores and address rules, loaded off the bridge thread. */
typedef struct hb__auth_stores hb__auth_stores;

/*
 * Check what bridge.curve names without keeping anything: the server
 * certificate loads and has a secret key, the key directories exist, the
 * address rules parse. Returns 0, or HB_E_CONFIG with a message naming the
 * key in err. Any thread (disk I/O). Used by --check and at start.
 */
int hb__auth_check(const hb_curve_cfg *cfg, char *err, size_t cap);

/* Load the stores and the address rules of `cfg`. NULL on failure, with a
 * message in err. Main thread. */
hb__auth_stores *hb__auth_stores_new(const hb_curve_cfg *cfg, char *err, size_t cap);
void hb__auth_stores_destroy(hb__auth_stores **s);

/* The whole of it: the server key pair (if CURVE is on) and the stores.
 * Returns 0 or HB_E_CONFIG (err says why). *out is NULL when bridge.curve
 * asks for nothing (no server_cert, no allow or deny): no ZAP at all. */
int hb__auth_new(const hb_curve_cfg *cfg, hb__auth **out, char *err, size_t cap);
void hb__auth_destroy(hb__auth **a);

bool hb__auth_curve(const hb__auth *a);

/* Bridge thread: bind the ZAP handler in `zctx` (before any socket binds:
 * a handshake without a handler would pass unchecked). Returns 0, or -1
 * with errno. */
int hb__auth_start(hb__auth *a, void *zctx);
void *hb__auth_socket(const hb__auth *a);

/* Bridge thread: make `sock` a CURVE server of `domain` (or give it the
 * domain only, for the address rules without CURVE). Before its bind. */
int hb__auth_secure(const hb__auth *a, void *sock, hb__auth_domain domain);

/* Bridge thread: answer one ZAP request (the handler socket is readable). */
void hb__auth_serve(hb__auth *a);

/* Main thread: new stores (taken) for the bridge thread to apply on its
 * next hb__auth_serve or hb__auth_apply. */
void hb__auth_swap_stores(hb__auth *a, hb__auth_stores **s);
/* Bridge thread: apply stores handed over by a reload. */
void hb__auth_apply(hb__auth *a);

/* Bridge thread: close the handler socket. */
void hb__auth_stop(hb__auth *a);

/* Denials so far, by domain and reason. Any thread. */
void hb__auth_denied(const hb__auth *a, uint64_t out[HB__AUTH__DOMAINS][HB__AUTH__DENIALS]);

#endif
