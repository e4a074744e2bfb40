/*
 * tls.h: TLS client sessions over a byte stream the transport carries
 * itself (OpenSSL, no socket: ciphertext in from the raw receive callback,
 * ciphertext out through the raw write). Internal to the transport; loop
 * thread only: a cache and every session made from it belong to one loop.
 *
 * Why ours and not lws's: Debian's lws 4.1.6 cannot open a raw client
 * connection with TLS (it starts the handshake before the socket exists),
 * and owning it gives one SSL_CTX per TLS profile instead of one lws vhost
 * each, and session resumption on reconnect.
 */
#ifndef HB_TRANSPORT_TLS_H
#define HB_TRANSPORT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A TLS profile: what makes two peers share an SSL_CTX. Files are PEM;
 * NULL or "" means none (the system CA store is always used as well). */
typedef struct hb__tls_profile {
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
} hb__tls_profile;

/* ---- the cache: one SSL_CTX per profile, shared, reference counted ------- */

typedef struct hb__tls_cache hb__tls_cache;

/* `out_headroom`: free bytes every outgoing ciphertext buffer has in front
 * of its data (the transport's writer needs LWS_PRE). `idle_ns`: a profile
 * no session used for this long is freed by hb__tls_cache_sweep. */
int hb__tls_cache_new(size_t out_headroom, uint64_t idle_ns, hb__tls_cache **out);
/* Every session of the cache must be freed first. */
void hb__tls_cache_free(hb__tls_cache **c);
/* From the loop's tick: free profiles unused for idle_ns (counted from the
 * first sweep that finds one unused, so it needs no clock of its own). */
void hb__tls_cache_sweep(hb__tls_cache *c, uint64_t now_ns);
/* Profiles alive (tests, stats). Any thread. */
uint32_t hb__tls_cache_count(const hb__tls_cache *c);
/* Check a profile without dialling (config check, control connect): the
 * files exist, are readable, parse, and the key matches the certificate.
 * 0, or -1 with a sentence naming the key and file in err. Any thread. */
int hb__tls_profile_check(const hb__tls_profile *p, char *err, size_t errlen);

/* ---- resumption: what a peer keeps across its reconnects ----------------- */

/* It offers a session again only for the same host, verify flag and
 * profile. It must outlive every session it was given to. */
typedef struct hb__tls_memo hb__tls_memo;
hb__tls_memo *hb__tls_memo_new(void);
void hb__tls_memo_free(hb__tls_memo **m);

/* ---- one session ---------------------------------------------------------- */

typedef struct hb__tls hb__tls;

typedef enum hb__tls_status {
    HB__TLS_OK = 0, /* done / progress made */
    HB__TLS_WANT,   /* needs more ciphertext from the peer (or has output pending) */
    HB__TLS_CLOSED, /* the peer sent close_notify */
    HB__TLS_FAIL,   /* handshake or record failure; err says what (certificate, alert...) */
} hb__tls_status;

/*
 * A client session for `host` (SNI unless it is an IP address literal;
 * with `verify`, the certificate chain and the host name or IP are checked:
 * SSL_set1_host / X509_VERIFY_PARAM_set1_ip). `memo` (may be NULL) offers
 * the peer's last session for resumption and receives the new one. 0, or
 * -1 with err (unreadable file, bad key, no memory).
 */
int hb__tls_new(hb__tls_cache *c, const hb__tls_profile *p, const char *host, bool verify,
                hb__tls_memo *memo, hb__tls **out, char *err, size_t errlen);
void hb__tls_free(hb__tls **t);

/* Ciphertext received from the socket; all of it is taken (copied).
 * 0, or -1 when out of memory. */
int hb__tls_put(hb__tls *t, const uint8_t *p, size_t n);
/* Drive the handshake: OK once established, WANT while it needs the
 * peer, FAIL with err ("certificate verify failed: hostname mismatch",
 * "TLS alert handshake failure from the peer", ...). Output may be pending
 * after any call (after FAIL: the alert we send; writing it is polite).
 * With TLS 1.3 a server that refuses our client certificate says so after
 * our side is done: OK here, then FAIL on the first hb__tls_read. */
hb__tls_status hb__tls_handshake(hb__tls *t, char *err, size_t errlen);
/*
 * Decrypted plaintext, at most `cap` bytes into buf; *got is how many.
 * OK with *got > 0: more may follow, call again. WANT: nothing more until
 * more ciphertext is put. CLOSED: close_notify. FAIL: err says why.
 * The socket's EOF never reaches this layer: a peer that closes without
 * close_notify leaves it at WANT, and the transport reports the EOF as a
 * lost connection ("peer closed the connection during the TLS handshake"
 * if it came before the handshake was done).
 */
hb__tls_status hb__tls_read(hb__tls *t, uint8_t *buf, size_t cap, size_t *got, char *err,
                            size_t errlen);
/* Encrypt all of p[0..n) into pending output. 0 or -1 (failed session,
 * or the handshake is not done). */
int hb__tls_write(hb__tls *t, const uint8_t *p, size_t n);
/* Send close_notify (pending output). */
void hb__tls_shutdown(hb__tls *t);

/*
 * Pending ciphertext to write to the socket: returns its length and sets
 * *p to it; the buffer has out_headroom free bytes in front of *p (the
 * writer may use them). Stays valid until hb__tls_out_done or the next
 * hb__tls_write / hb__tls_handshake / hb__tls_read.
 */
size_t hb__tls_out(hb__tls *t, uint8_t **p);
/* `n` bytes of what hb__tls_out returned were handed to the socket. */
void hb__tls_out_done(hb__tls *t, size_t n);

/* The connection has been quiet: give back OpenSSL's record buffers and
 * ours if nothing is pending (they come back on the next use). A new or
 * trimmed session also frees them whenever they empty, until it has read
 * or written 16 times; a busy one keeps them until this is called. */
void hb__tls_trim(hb__tls *t);
/* After the handshake: whether this session was resumed (tests). */
bool hb__tls_resumed(const hb__tls *t);

#endif
