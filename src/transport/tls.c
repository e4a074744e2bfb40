/*
 * tls.c: TLS client sessions on OpenSSL 3 over bytes the transport moves
 * itself (see tls.h for the contract).
 *
 * Each session's SSL talks to one BIO of our own method, both ways:
 *   - in: hb__tls_put appends ciphertext to the session's input buffer and
 *     the BIO's read hands it to OpenSSL (read-ahead on, so one BIO read
 *     takes as many records as fit OpenSSL's 17 KiB record buffer);
 *   - out: the BIO's write appends ciphertext to an output buffer that
 *     keeps `out_headroom` free bytes in front, so hb__tls_out gives the
 *     writer a pointer it can hand to lws_write with no further copy.
 * Why not memory BIOs: they would need one more copy out (BIO_read into the
 * writer's buffer), and a memory BIO never shrinks; measured, this
 * BIO costs what OpenSSL on memory BIOs costs, per record. Reading in place
 * from the caller's bytes would save the input copy (a tenth of decrypting
 * 4 KiB), but hb__tls_put takes all of them, so the copy is owed anyway.
 *
 * The cache keeps one SSL_CTX per profile (CA file, client certificate,
 * key), shared and reference counted by the sessions made from it. The
 * system CAs come from the hashed directory (looked up per issuer and
 * cached) rather than the bundle file, which is parsed whole into every
 * SSL_CTX (tens of ms and ~0.8 MiB each).
 *
 * Loop thread, except hb__tls_profile_check and hb__tls_cache_count
 * (any thread). OpenSSL's error queue is per thread: every call that may
 * fail clears it first and leaves it empty.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "transport/tls.h"

#define S_FILE_MAX (8u << 20) /* a PEM file larger than this is refused */
#define S_IN_MIN   4096u      /* first input buffer */
#define S_OUT_MIN  4096u      /* first output buffer, after the headroom */
#define S_BUSY     16u        /* reads and writes after which a session keeps its buffers */

/* ---- profiles and the cache ---------------------------------------------- */

typedef struct s_prof {
    struct s_prof *next;
    SSL_CTX *ctx;
    char *ca, *cert, *key; /* NULL for none */
    uint32_t refs;         /* live sessions */
    bool idle_marked;      /* refs == 0 seen by a sweep at idle_since */
    uint64_t idle_since;
} s_prof;

struct hb__tls_cache {
    size_t headroom;
    uint64_t idle_ns;
    BIO_METHOD *meth;
    s_prof *profs;
    _Atomic uint32_t count;
};

/* ---- resumption memo ------------------------------------------------------ */

/* `id` says what the session was made for: the verify flag, the host and
 * the profile. A session is offered again only to the same id: resuming
 * skips the certificate check, so a session from verify: false, another
 * host or another client certificate must never be resumed. `gen` changes
 * with id, so a session still open under the old id cannot store into it. */
struct hb__tls_memo {
    SSL_SESSION *sess;
    char *id;
    size_t id_len;
    uint32_t gen;
};

/* ---- sessions ------------------------------------------------------------- */

enum { S_HANDSHAKE, S_OPEN, S_FAILED };

struct hb__tls {
    SSL *ssl;
    hb__tls_cache *cache;
    s_prof *prof;
    hb__tls_memo *memo;
    uint32_t memo_gen;
    uint8_t state;
    bool offered;        /* the memo's session was offered */
    bool oom;            /* our BIO could not grow a buffer */
    bool verify;         /* certificates are checked */
    bool in_hs;          /* the failure happened during the handshake */
    bool peer_eof;       /* failure: close_notify during the handshake */
    unsigned long ecode; /* failure: the OpenSSL error that says most */
    char *host;          /* for error messages, until the handshake is done */
    /* ciphertext in: [in_off, in_off + in_len) of in[in_cap] */
    uint8_t *in;
    size_t in_cap, in_off, in_len;
    /* ciphertext out: [out_off, out_off + out_len) of out[out_cap];
     * out_off >= headroom whenever out != NULL */
    uint8_t *out;
    size_t out_cap, out_off, out_len;
    /* Buffers (ours and OpenSSL's) are freed as soon as they are empty
     * until the session has read or written S_BUSY times since it was
     * last trimmed; from then on it keeps them (s_used). */
    bool keep;
    uint8_t uses;
};

static bool s_empty(const char *s)
{
    return !s || !*s;
}

static bool s_same(const char *a, const char *b)
{
    if (s_empty(a) || s_empty(b)) return s_empty(a) && s_empty(b);
    return strcmp(a, b) == 0;
}

static char *s_dup(const char *s)
{
    return s_empty(s) ? NULL : strdup(s);
}

/* SSL_get_error needs an empty error queue before the call it explains.
 * ERR_clear_error costs ~200 ns in OpenSSL 3.0, peeking ~35: per message
 * that was a fifth of encrypting 200 B. */
static void s_err_reset(void)
{
    if (ERR_peek_error() != 0) ERR_clear_error();
}

/* ---- buffers ------------------------------------------------------------- */

/* Loop thread: our ciphertext buffers go when empty. */
static void s_shed_out(hb__tls *t)
{
    if (t->out && t->out_len == 0) {
        free(t->out);
        t->out = NULL;
        t->out_cap = t->out_off = 0;
    }
}

static void s_shed_in(hb__tls *t)
{
    if (t->in && t->in_len == 0) {
        free(t->in);
        t->in = NULL;
        t->in_cap = t->in_off = 0;
    }
}

/*
 * Loop thread, after a read and once written output is flushed. A new or
 * trimmed session frees its buffers whenever they are empty, so a
 * handshake, an upgrade or a keepalive ping holds its ~41 KB of them
 * (OpenSSL's two of 17 KB, our two of 4) for a round trip, not until the
 * next hb__tls_trim: held that long, among the long-lived objects of the
 * connections dialled or woken meanwhile, they left holes in the heap
 * whose edge pages stay resident (docs/performance.md, idle wss memory).
 * A busy session would pay the mallocs for every record, so after S_BUSY
 * reads and writes it keeps them until it is trimmed.
 */
static void s_shed(hb__tls *t)
{
    if (t->keep) return;
    s_shed_out(t);
    s_shed_in(t);
    /* It refuses while it holds part of a record to write or to read, but
     * not, before OpenSSL 3.0.14, while decrypted bytes wait in the read
     * buffer (CVE-2024-4741): SSL_has_pending says. */
    if (t->ssl && !SSL_has_pending(t->ssl)) SSL_free_buffers(t->ssl);
}

/* Loop thread: a read that returned data, or a write. */
static void s_used(hb__tls *t)
{
    if (!t->keep && ++t->uses >= S_BUSY) t->keep = true;
}

/* ---- the BIO: ciphertext from our input buffer, to our output buffer ------ */

/* Loop thread, inside SSL calls. Never blocks: an empty buffer is "retry". */
static int s_bio_read(BIO *b, char *buf, size_t len, size_t *got)
{
    hb__tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (t->in_len == 0) {
        BIO_set_retry_read(b);
        *got = 0;
        return 0;
    }
    size_t n = len < t->in_len ? len : t->in_len;
    memcpy(buf, t->in + t->in_off, n);
    t->in_off += n;
    t->in_len -= n;
    if (t->in_len == 0) t->in_off = 0;
    *got = n;
    return 1;
}

/* Makes room for `need` more pending output bytes; false when out of
 * memory. Moves pending bytes back to the headroom when that is enough,
 * grows by doubling otherwise (so steady state allocates nothing). */
static bool s_out_room(hb__tls *t, size_t need)
{
    size_t head = t->cache->headroom;
    if (t->out && t->out_len == 0) t->out_off = head;
    if (t->out && t->out_off + t->out_len + need <= t->out_cap) return true;
    if (t->out && head + t->out_len + need <= t->out_cap) {
        memmove(t->out + head, t->out + t->out_off, t->out_len);
        t->out_off = head;
        return true;
    }
    size_t cap = t->out ? t->out_cap : head + S_OUT_MIN;
    while (cap < head + t->out_len + need) cap *= 2;
    uint8_t *p = malloc(cap);
    if (!p) return false;
    if (t->out) memcpy(p + head, t->out + t->out_off, t->out_len);
    free(t->out);
    t->out = p;
    t->out_cap = cap;
    t->out_off = head;
    return true;
}

/* Loop thread, inside SSL calls: records OpenSSL writes become pending. */
static int s_bio_write(BIO *b, const char *buf, size_t len, size_t *put)
{
    hb__tls *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (!s_out_room(t, len)) {
        t->oom = true;
        *put = 0;
        return 0;
    }
    memcpy(t->out + t->out_off + t->out_len, buf, len);
    t->out_len += len;
    *put = len;
    return 1;
}

static long s_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int s_bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* ---- loading PEM files (any thread) --------------------------------------- */

/* Opens a PEM file for reading: a regular, readable file of sane size.
 * `key` is the config key that named it (for the error). */
static BIO *s_open(const char *key, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s %s: %s", key, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    const char *why = NULL;
    if (fstat(fileno(f), &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if ((uint64_t)st.st_size > S_FILE_MAX)
        why = "larger than 8 MiB, not a PEM file";
    BIO *b = why ? NULL : BIO_new_fp(f, BIO_CLOSE);
    if (!b) {
        snprintf(err, errlen, "%s %s: %s", key, path, why ? why : "out of memory");
        fclose(f);
        return NULL;
    }
    return b;
}

/* The reason of the first OpenSSL error that is not the decoder's own
 * "unsupported" (it hides the real one behind it), or `dflt`. */
static const char *s_reason(const char *dflt)
{
    const char *file, *func, *data;
    int line, flags;
    const char *r = NULL;
    for (unsigned long e; !r && (e = ERR_peek_error_all(&file, &line, &func, &data, &flags));) {
        if (ERR_GET_LIB(e) != ERR_LIB_OSSL_DECODER) r = ERR_reason_error_string(e);
        if (!r) ERR_get_error();
    }
    return r ? r : dflt;
}

/* Every certificate of a PEM file, in order (at least one). Any thread. */
static STACK_OF(X509) * s_load_certs(const char *key, const char *path, char *err, size_t errlen)
{
    BIO *b = s_open(key, path, err, errlen);
    if (!b) return NULL;
    STACK_OF(X509) *sk = sk_X509_new_null();
    for (X509 *x; sk && (x = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL));)
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            break;
        }
    unsigned long e = ERR_peek_last_error();
    bool at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
    if (!sk)
        snprintf(err, errlen, "%s %s: out of memory", key, path);
    else if (sk_X509_num(sk) == 0 && at_end)
        snprintf(err, errlen, "%s %s: no PEM certificate in it", key, path);
    else if (sk_X509_num(sk) == 0 || !at_end)
        snprintf(err, errlen, "%s %s: not a valid PEM certificate (%s)", key, path,
                 s_reason("parse error"));
    else {
        ERR_clear_error();
        BIO_free(b);
        return sk;
    }
    ERR_clear_error();
    BIO_free(b);
    sk_X509_pop_free(sk, X509_free);
    return NULL;
}

/* OpenSSL asks for a passphrase: there is none (never prompt on a tty). */
static int s_no_pass(char *buf, int size, int rwflag, void *ud)
{
    return 0;
}

/* The private key of a PEM file. `quiet`: no error if there is no key in
 * it (a certificate file that may also hold the key). The PEM blocks are
 * looked at first: OpenSSL 3's decoder says only "unsupported" for a file
 * without a key or with an encrypted one. Any thread. */
static EVP_PKEY *s_load_key(const char *key, const char *path, bool quiet, char *err, size_t errlen)
{
    BIO *b = s_open(key, path, err, errlen);
    if (!b) return NULL;
    char *name = NULL, *hdr = NULL;
    unsigned char *data = NULL;
    long len;
    bool found = false, enc = false;
    while (!found && PEM_read_bio(b, &name, &hdr, &data, &len) == 1) {
        found = strstr(name, "PRIVATE KEY") != NULL;
        enc = found && (strstr(name, "ENCRYPTED") || strstr(hdr, "ENCRYPTED"));
        OPENSSL_free(name);
        OPENSSL_free(hdr);
        OPENSSL_free(data);
    }
    ERR_clear_error();
    EVP_PKEY *k = NULL;
    if (!found) {
        if (!quiet) snprintf(err, errlen, "%s %s: no PEM private key in it", key, path);
    } else if (enc) {
        snprintf(err, errlen, "%s %s: the key is encrypted (a passphrase is not supported)", key,
                 path);
    } else if (BIO_reset(b) != 0 || !(k = PEM_read_bio_PrivateKey(b, NULL, s_no_pass, NULL))) {
        snprintf(err, errlen, "%s %s: not a valid PEM private key (%s)", key, path,
                 s_reason("parse error"));
    }
    ERR_clear_error();
    BIO_free(b);
    return k;
}

/* What a profile's files hold, parsed. */
typedef struct s_files {
    STACK_OF(X509) * ca;   /* NULL: none */
    STACK_OF(X509) * cert; /* leaf first, then its chain; NULL: none */
    EVP_PKEY *pkey;
} s_files;

static void s_files_free(s_files *f)
{
    sk_X509_pop_free(f->ca, X509_free);
    sk_X509_pop_free(f->cert, X509_free);
    EVP_PKEY_free(f->pkey);
    memset(f, 0, sizeof(*f));
}

/* Reads and checks every file of a profile. Any thread. */
static int s_files_load(const hb__tls_profile *p, s_files *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    if (!s_empty(p->ca_file) && !(f->ca = s_load_certs("tls.ca_file", p->ca_file, err, errlen)))
        goto fail;
    if (!s_empty(p->key_file) && s_empty(p->cert_file)) {
        snprintf(err, errlen, "tls.key_file %s is set but tls.cert_file is not", p->key_file);
        goto fail;
    }
    if (s_empty(p->cert_file)) return 0;
    if (!(f->cert = s_load_certs("tls.cert_file", p->cert_file, err, errlen))) goto fail;
    if (!s_empty(p->key_file)) {
        if (!(f->pkey = s_load_key("tls.key_file", p->key_file, false, err, errlen))) goto fail;
    } else if (!(f->pkey = s_load_key("tls.cert_file", p->cert_file, true, err, errlen))) {
        snprintf(err, errlen, "tls.cert_file %s: no private key in it and tls.key_file is not set",
                 p->cert_file);
        goto fail;
    }
    if (X509_check_private_key(sk_X509_value(f->cert, 0), f->pkey) != 1) {
        ERR_clear_error();
        snprintf(err, errlen, "tls.key_file %s does not match the certificate in tls.cert_file %s",
                 s_empty(p->key_file) ? p->cert_file : p->key_file, p->cert_file);
        goto fail;
    }
    return 0;
fail:
    s_files_free(f);
    return -1;
}

int hb__tls_profile_check(const hb__tls_profile *p, char *err, size_t errlen)
{
    s_files f;
    if (s_files_load(p, &f, err, errlen) != 0) return -1;
    s_files_free(&f);
    return 0;
}

/* ---- SSL_CTX per profile -------------------------------------------------- */

static int s_new_session(SSL *ssl, SSL_SESSION *sess);

/* The system CAs. The hashed directory is read lazily, one issuer at a
 * time; the bundle file only if the directory is missing or SSL_CERT_FILE
 * names one (as OpenSSL's own default paths honour it). */
static void s_system_cas(X509_STORE *st)
{
    const char *file = secure_getenv(X509_get_default_cert_file_env());
    const char *dir = secure_getenv(X509_get_default_cert_dir_env());
    struct stat sb;
    if (s_empty(dir)) dir = X509_get_default_cert_dir();
    if (s_empty(file) && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        file = X509_get_default_cert_file();
    X509_LOOKUP *lu = X509_STORE_add_lookup(st, X509_LOOKUP_hash_dir());
    if (lu) X509_LOOKUP_add_dir(lu, dir, X509_FILETYPE_PEM);
    if (!s_empty(file)) X509_STORE_load_file(st, file);
    ERR_clear_error(); /* a missing system store only means fewer CAs */
}

static SSL_CTX *s_ctx_new(const hb__tls_profile *p, char *err, size_t errlen)
{
    s_files f;
    if (s_files_load(p, &f, err, errlen) != 0) return NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) goto nomem;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A server's renegotiation request is refused: nothing needs it. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_default_passwd_cb(ctx, s_no_pass);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, s_new_session);
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    s_system_cas(st);
    for (int i = 0; f.ca && i < sk_X509_num(f.ca); i++)
        if (!X509_STORE_add_cert(st, sk_X509_value(f.ca, i))) goto nomem;
    if (f.cert) {
        if (SSL_CTX_use_certificate(ctx, sk_X509_value(f.cert, 0)) != 1) goto bad_cert;
        for (int i = 1; i < sk_X509_num(f.cert); i++)
            if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(f.cert, i)) != 1) goto bad_cert;
        if (SSL_CTX_use_PrivateKey(ctx, f.pkey) != 1) goto bad_cert;
    }
    s_files_free(&f);
    ERR_clear_error();
    return ctx;
bad_cert: /* e.g. a key too weak for the security level */
    snprintf(err, errlen, "tls.cert_file %s: refused by OpenSSL (%s)", p->cert_file,
             s_reason("unusable"));
    goto fail;
nomem:
    snprintf(err, errlen, "out of memory");
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    s_files_free(&f);
    return NULL;
}

static s_prof *s_prof_get(hb__tls_cache *c, const hb__tls_profile *p, char *err, size_t errlen)
{
    for (s_prof *q = c->profs; q; q = q->next)
        if (s_same(q->ca, p->ca_file) && s_same(q->cert, p->cert_file) &&
            s_same(q->key, p->key_file)) {
            q->refs++;
            q->idle_marked = false;
            return q;
        }
    s_prof *q = calloc(1, sizeof(*q));
    if (!q || (!s_empty(p->ca_file) && !(q->ca = s_dup(p->ca_file))) ||
        (!s_empty(p->cert_file) && !(q->cert = s_dup(p->cert_file))) ||
        (!s_empty(p->key_file) && !(q->key = s_dup(p->key_file)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (!(q->ctx = s_ctx_new(p, err, errlen))) goto fail;
    q->refs = 1;
    q->next = c->profs;
    c->profs = q;
    atomic_fetch_add_explicit(&c->count, 1, memory_order_relaxed);
    return q;
fail:
    if (q) {
        free(q->ca);
        free(q->cert);
        free(q->key);
        free(q);
    }
    return NULL;
}

static void s_prof_free(s_prof *q)
{
    SSL_CTX_free(q->ctx);
    free(q->ca);
    free(q->cert);
    free(q->key);
    free(q);
}

int hb__tls_cache_new(size_t out_headroom, uint64_t idle_ns, hb__tls_cache **out)
{
    *out = NULL;
    hb__tls_cache *c = calloc(1, sizeof(*c));
    if (!c) return -1;
    c->headroom = out_headroom;
    c->idle_ns = idle_ns;
    c->meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "honeybee tls");
    if (!c->meth || !BIO_meth_set_read_ex(c->meth, s_bio_read) ||
        !BIO_meth_set_write_ex(c->meth, s_bio_write) || !BIO_meth_set_ctrl(c->meth, s_bio_ctrl) ||
        !BIO_meth_set_create(c->meth, s_bio_create)) {
        BIO_meth_free(c->meth);
        free(c);
        ERR_clear_error();
        return -1;
    }
    *out = c;
    return 0;
}

void hb__tls_cache_free(hb__tls_cache **pc)
{
    hb__tls_cache *c = *pc;
    if (!c) return;
    *pc = NULL;
    for (s_prof *q = c->profs, *next; q; q = next) {
        next = q->next;
        assert(q->refs == 0);
        s_prof_free(q);
    }
    BIO_meth_free(c->meth);
    free(c);
}

/* A profile is marked idle by the first sweep that sees it unused and
 * freed by the first one idle_ns later: no clock is read anywhere else,
 * and it is at most one tick late. */
void hb__tls_cache_sweep(hb__tls_cache *c, uint64_t now_ns)
{
    for (s_prof **pq = &c->profs; *pq;) {
        s_prof *q = *pq;
        if (q->refs > 0) {
            pq = &q->next;
            continue;
        }
        if (!q->idle_marked) {
            q->idle_marked = true;
            q->idle_since = now_ns;
        }
        if (now_ns - q->idle_since < c->idle_ns) {
            pq = &q->next;
            continue;
        }
        *pq = q->next;
        s_prof_free(q);
        atomic_fetch_sub_explicit(&c->count, 1, memory_order_relaxed);
    }
}

uint32_t hb__tls_cache_count(const hb__tls_cache *c)
{
    return atomic_load_explicit(&((hb__tls_cache *)c)->count, memory_order_relaxed);
}

/* ---- memo ----------------------------------------------------------------- */

hb__tls_memo *hb__tls_memo_new(void)
{
    return calloc(1, sizeof(hb__tls_memo));
}

void hb__tls_memo_free(hb__tls_memo **pm)
{
    hb__tls_memo *m = *pm;
    if (!m) return;
    *pm = NULL;
    SSL_SESSION_free(m->sess);
    free(m->id);
    free(m);
}

static void s_memo_drop(hb__tls_memo *m)
{
    SSL_SESSION_free(m->sess);
    m->sess = NULL;
}

/* The memo's id for a session: verify flag, host and profile, NUL
 * separated. Returns its length, 0 when out of memory. */
static size_t s_memo_id(const hb__tls_profile *p, const char *host, bool verify, char **out)
{
    const char *part[] = {verify ? "1" : "0", host, p->ca_file, p->cert_file, p->key_file};
    size_t n = 0;
    for (int i = 0; i < 5; i++) n += (part[i] ? strlen(part[i]) : 0) + 1;
    char *id = malloc(n);
    if (!id) return 0;
    size_t k = 0;
    for (int i = 0; i < 5; i++) {
        size_t l = part[i] ? strlen(part[i]) : 0;
        memcpy(id + k, part[i] ? part[i] : "", l);
        id[k + l] = 0;
        k += l + 1;
    }
    *out = id;
    return n;
}

/* Loop thread, inside SSL calls: OpenSSL made a session worth resuming
 * (end of a TLS 1.2 handshake; each TLS 1.3 ticket). 1 = we keep it. */
static int s_new_session(SSL *ssl, SSL_SESSION *sess)
{
    hb__tls *t = SSL_get_app_data(ssl);
    if (!t || !t->memo || t->memo->gen != t->memo_gen || !SSL_SESSION_is_resumable(sess)) return 0;
    SSL_SESSION_free(t->memo->sess);
    t->memo->sess = sess;
    return 1;
}

/* Offers the memo's session if it was made for the same id and is still
 * fresh; otherwise forgets it and takes the new id. */
static int s_memo_offer(hb__tls *t, hb__tls_memo *m, const hb__tls_profile *p, const char *host,
                        bool verify)
{
    char *id;
    size_t n = s_memo_id(p, host, verify, &id);
    if (n == 0) return -1;
    if (n != m->id_len || memcmp(id, m->id, n) != 0) {
        s_memo_drop(m);
        free(m->id);
        m->id = id;
        m->id_len = n;
        m->gen++;
    } else {
        free(id);
    }
    t->memo = m;
    t->memo_gen = m->gen;
    if (!m->sess) return 0;
    uint64_t until =
        (uint64_t)SSL_SESSION_get_time(m->sess) + (uint64_t)SSL_SESSION_get_timeout(m->sess);
    if (!SSL_SESSION_is_resumable(m->sess) || (uint64_t)time(NULL) >= until) {
        s_memo_drop(m);
        return 0;
    }
    if (SSL_set_session(t->ssl, m->sess) != 1) {
        ERR_clear_error();
        s_memo_drop(m);
        return 0;
    }
    t->offered = true;
    return 0;
}

/* ---- sessions ------------------------------------------------------------- */

/* Host as given, without IPv6 brackets or a final dot. */
static char *s_host(const char *host)
{
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    } else if (n > 1 && host[n - 1] == '.') {
        n--;
    }
    char *h = malloc(n + 1);
    if (h) {
        memcpy(h, host, n);
        h[n] = 0;
    }
    return h;
}

static bool s_is_ip(const char *h)
{
    unsigned char a[16];
    return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

int hb__tls_new(hb__tls_cache *c, const hb__tls_profile *p, const char *host, bool verify,
                hb__tls_memo *memo, hb__tls **out, char *err, size_t errlen)
{
    *out = NULL;
    if (s_empty(host) && verify) {
        snprintf(err, errlen, "TLS: no host name to verify the certificate against");
        return -1;
    }
    s_err_reset();
    hb__tls *t = calloc(1, sizeof(*t));
    if (!t) goto nomem;
    t->cache = c;
    t->verify = verify;
    if (!(t->host = s_host(host ? host : ""))) goto nomem;
    if (!(t->prof = s_prof_get(c, p, err, errlen))) {
        free(t->host);
        free(t);
        return -1;
    }
    if (!(t->ssl = SSL_new(t->prof->ctx))) goto nomem;
    BIO *b = BIO_new(c->meth);
    if (!b) goto nomem;
    BIO_set_data(b, t);
    SSL_set_bio(t->ssl, b, b);
    SSL_set_app_data(t->ssl, t);
    SSL_set_connect_state(t->ssl);
    bool ip = s_is_ip(t->host);
    /* These refuse only a name longer than 255 bytes (or out of memory). */
    if (!ip && *t->host && SSL_set_tlsext_host_name(t->ssl, t->host) != 1) goto badhost;
    if (verify) {
        SSL_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
        if (ip) {
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), t->host) != 1) goto badhost;
        } else {
            SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(t->ssl, t->host) != 1) goto badhost;
        }
    } else {
        SSL_set_verify(t->ssl, SSL_VERIFY_NONE, NULL);
    }
    if (memo && s_memo_offer(t, memo, p, t->host, verify) != 0) goto nomem;
    *out = t;
    return 0;
badhost:
    snprintf(err, errlen, "TLS: host name not usable (%zu bytes; at most 255)", strlen(t->host));
    ERR_clear_error();
    hb__tls_free(&t);
    return -1;
nomem:
    snprintf(err, errlen, "out of memory");
    ERR_clear_error();
    hb__tls_free(&t);
    return -1;
}

void hb__tls_free(hb__tls **pt)
{
    hb__tls *t = *pt;
    if (!t) return;
    *pt = NULL;
    SSL_free(t->ssl);
    if (t->prof && --t->prof->refs == 0) t->prof->idle_marked = false;
    free(t->host);
    free(t->in);
    free(t->out);
    free(t);
}

int hb__tls_put(hb__tls *t, const uint8_t *p, size_t n)
{
    if (n == 0) return 0;
    if (t->in && t->in_off + t->in_len + n > t->in_cap && t->in_len + n <= t->in_cap) {
        memmove(t->in, t->in + t->in_off, t->in_len);
        t->in_off = 0;
    }
    if (!t->in || t->in_off + t->in_len + n > t->in_cap) {
        size_t cap = t->in ? t->in_cap : S_IN_MIN;
        while (cap < t->in_len + n) cap *= 2;
        uint8_t *q = malloc(cap);
        if (!q) return -1;
        if (t->in) memcpy(q, t->in + t->in_off, t->in_len);
        free(t->in);
        t->in = q;
        t->in_cap = cap;
        t->in_off = 0;
    }
    memcpy(t->in + t->in_off + t->in_len, p, n);
    t->in_len += n;
    return 0;
}

/* Picks the error that says most from OpenSSL's queue (an alert from the
 * peer, a failed certificate check, else the first) and empties it. */
static void s_fail(hb__tls *t, int sslerr)
{
    t->in_hs = t->state == S_HANDSHAKE;
    t->state = S_FAILED;
    t->ecode = 0;
    const char *file, *func, *data;
    int line, flags;
    for (unsigned long e; (e = ERR_get_error_all(&file, &line, &func, &data, &flags));) {
        int r = ERR_GET_REASON(e);
        bool telling = ERR_GET_LIB(e) == ERR_LIB_SSL &&
                       (r == SSL_R_CERTIFICATE_VERIFY_FAILED ||
                        (r >= SSL_AD_REASON_OFFSET && r < SSL_AD_REASON_OFFSET + 256));
        if (!t->ecode || telling) t->ecode = e;
    }
    if (sslerr == SSL_ERROR_ZERO_RETURN) t->peer_eof = true;
    /* A failed resumption must not be retried with the same session. */
    if (t->in_hs && t->offered && t->memo && t->memo->gen == t->memo_gen) s_memo_drop(t->memo);
}

/* An alert's name; OpenSSL 3.0 lacks two of TLS 1.3's. */
static const char *s_alert_name(int desc)
{
    if (desc == 109) return "missing extension";
    if (desc == 116) return "certificate required";
    const char *n = SSL_alert_desc_string_long(desc);
    return n && strcmp(n, "unknown") != 0 ? n : NULL;
}

/* The person-readable sentence for a failed session. */
static void s_describe(const hb__tls *t, char *err, size_t errlen)
{
    if (!err || errlen == 0) return;
    const char *what = t->in_hs ? "TLS handshake failed" : "TLS failed";
    int lib = ERR_GET_LIB(t->ecode), r = ERR_GET_REASON(t->ecode);
    long v = t->in_hs ? SSL_get_verify_result(t->ssl) : X509_V_OK;
    if (t->oom) {
        snprintf(err, errlen, "%s: out of memory", what);
    } else if (t->peer_eof) {
        snprintf(err, errlen, "peer closed the connection during the TLS handshake");
    } else if (lib == ERR_LIB_SSL && r == SSL_R_CERTIFICATE_VERIFY_FAILED && v != X509_V_OK) {
        const char *host = t->host ? t->host : "?";
        if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
            snprintf(err, errlen, "certificate verify failed: %s (the certificate is not for %s)",
                     X509_verify_cert_error_string(v), host);
        else
            snprintf(err, errlen, "certificate verify failed: %s",
                     X509_verify_cert_error_string(v));
    } else if (lib == ERR_LIB_SSL && r >= SSL_AD_REASON_OFFSET && r < SSL_AD_REASON_OFFSET + 256) {
        const char *name = s_alert_name(r - SSL_AD_REASON_OFFSET);
        if (!name)
            snprintf(err, errlen, "TLS alert %d from the peer", r - SSL_AD_REASON_OFFSET);
        else
            snprintf(err, errlen, "TLS alert %s from the peer", name);
    } else if (lib == ERR_LIB_SSL && r == SSL_R_WRONG_VERSION_NUMBER && t->in_hs) {
        snprintf(err, errlen, "%s: wrong version number (is the server speaking TLS?)", what);
    } else if (t->ecode) {
        const char *rs = ERR_reason_error_string(t->ecode);
        snprintf(err, errlen, "%s: %s", what, rs ? rs : "error");
    } else {
        snprintf(err, errlen, "%s", what);
    }
}

hb__tls_status hb__tls_handshake(hb__tls *t, char *err, size_t errlen)
{
    if (t->state == S_OPEN) return HB__TLS_OK;
    if (t->state == S_HANDSHAKE) {
        s_err_reset();
        int r = SSL_do_handshake(t->ssl);
        if (r == 1) {
            t->state = S_OPEN;
            free(t->host);
            t->host = NULL;
            return HB__TLS_OK;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ && !t->oom) {
            s_shed_in(t); /* OpenSSL's buffers: held for the round trip */
            return HB__TLS_WANT;
        }
        s_fail(t, e);
    }
    s_describe(t, err, errlen);
    return HB__TLS_FAIL;
}

hb__tls_status hb__tls_read(hb__tls *t, uint8_t *buf, size_t cap, size_t *got, char *err,
                            size_t errlen)
{
    assert(cap > 0);
    *got = 0;
    if (t->state != S_OPEN) {
        hb__tls_status st = hb__tls_handshake(t, err, errlen);
        if (st != HB__TLS_OK) return st;
    }
    s_err_reset();
    size_t total = 0;
    hb__tls_status st = HB__TLS_OK;
    while (total < cap) {
        size_t n = 0;
        int r = SSL_read_ex(t->ssl, buf + total, cap - total, &n);
        if (r == 1) {
            total += n;
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ && !t->oom) {
            st = HB__TLS_WANT;
        } else if (e == SSL_ERROR_ZERO_RETURN) {
            st = HB__TLS_CLOSED;
        } else {
            s_fail(t, e);
            st = HB__TLS_FAIL;
        }
        break;
    }
    *got = total;
    if (total > 0) s_used(t);
    s_shed(t);
    if (total > 0) return HB__TLS_OK; /* CLOSED or FAIL come again next call */
    if (st == HB__TLS_FAIL) s_describe(t, err, errlen);
    return st;
}

int hb__tls_write(hb__tls *t, const uint8_t *p, size_t n)
{
    if (t->state != S_OPEN) return -1;
    if (n == 0) return 0;
    s_err_reset();
    size_t done = 0;
    if (SSL_write_ex(t->ssl, p, n, &done) == 1 && done == n) {
        s_used(t);
        return 0;
    }
    s_fail(t, SSL_get_error(t->ssl, 0));
    return -1;
}

void hb__tls_shutdown(hb__tls *t)
{
    if (t->state != S_OPEN) return;
    s_err_reset();
    SSL_shutdown(t->ssl);
    ERR_clear_error();
}

size_t hb__tls_out(hb__tls *t, uint8_t **p)
{
    *p = t->out ? t->out + t->out_off : NULL;
    return t->out_len;
}

void hb__tls_out_done(hb__tls *t, size_t n)
{
    assert(n <= t->out_len);
    t->out_off += n;
    t->out_len -= n;
    if (t->out_len == 0) {
        t->out_off = t->cache->headroom;
        s_shed(t);
    }
}

void hb__tls_trim(hb__tls *t)
{
    t->keep = false;
    t->uses = 0;
    s_shed(t);
}

bool hb__tls_resumed(const hb__tls *t)
{
    return t->state == S_OPEN && SSL_session_reused(t->ssl) == 1;
}
