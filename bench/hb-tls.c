/*
 * hb-tls: the TLS engine (src/transport/tls.c) measured alone, against
 * OpenSSL used directly, in one process. Prints one JSON line per figure.
 *
 *   tput  N records of 200 B and 4 KiB encrypted and decrypted through
 *         hb__tls, and through a plain SSL on two memory BIOs (what a
 *         memory-BIO engine would do: BIO_read the ciphertext into the
 *         writer's buffer), and OpenSSL's floor (SSL_write into a memory
 *         BIO that is reset, no copy out); the peer is an OpenSSL server on
 *         memory BIOs. Allocations per record in the timed loops are
 *         counted: ours (--wrap=malloc) and OpenSSL's (CRYPTO hooks).
 *   idle  N sessions established over 127.0.0.1 against a server in a
 *         child process (verified certificate, resumption memo per session
 *         or none, TLS 1.3 and 1.2); heap in use (mallinfo2) per session,
 *         before and after hb__tls_trim.
 *   ctx   one SSL_CTX with our lazy CA directory against one that loads
 *         the system bundle (SSL_CTX_set_default_verify_paths).
 *
 * Usage: hb-tls [--records N] [--sessions N] [--only tput|idle|ctx]
 * Single-threaded; the server child is blocking.
 */
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "hb-bench.h"
#include "transport/tls.h"

#define HEAD 16 /* LWS_PRE on this platform */

/* ---- allocation counters -------------------------------------------------- */

static uint64_t s_ours, s_ossl;
void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n)
{
    s_ours++;
    return __real_malloc(n);
}

void *__wrap_calloc(size_t a, size_t b)
{
    s_ours++;
    return __real_calloc(a, b);
}

void *__wrap_realloc(void *p, size_t n)
{
    s_ours++;
    return __real_realloc(p, n);
}

static void *s_ossl_malloc(size_t n, const char *f, int l)
{
    s_ossl++;
    return __real_malloc(n);
}

static void *s_ossl_realloc(void *p, size_t n, const char *f, int l)
{
    s_ossl++;
    return __real_realloc(p, n);
}

static void s_ossl_free(void *p, const char *f, int l)
{
    free(p);
}

/* ---- a server certificate, made here -------------------------------------- */

static EVP_PKEY *s_pkey;
static X509 *s_cert;
static char s_ca_path[256];

static void s_make_cert(void)
{
    s_pkey = EVP_EC_gen("P-256");
    X509 *c = X509_new();
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), 86400);
    X509_set_pubkey(c, s_pkey);
    X509_NAME *n = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(c, n);
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, c, c, NULL, NULL, 0);
    X509_EXTENSION *e =
        X509V3_EXT_conf_nid(NULL, &v, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    X509_add_ext(c, e, -1);
    X509_EXTENSION_free(e);
    X509_sign(c, s_pkey, EVP_sha256());
    s_cert = c;
    snprintf(s_ca_path, sizeof(s_ca_path), "/tmp/hb-tls-bench-%d.pem", (int)getpid());
    FILE *f = fopen(s_ca_path, "w");
    PEM_write_X509(f, c);
    fclose(f);
}

static SSL_CTX *s_server_ctx(int max_version)
{
    SSL_CTX *x = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(x, s_cert);
    SSL_CTX_use_PrivateKey(x, s_pkey);
    if (max_version) SSL_CTX_set_max_proto_version(x, max_version);
    return x;
}

static double s_now(void)
{
    return (double)bench_mono_ns() / 1e9;
}

/* CPU time of this thread: a preempted loop does not count its wait (the
 * machine is shared). */
static double s_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- tput ------------------------------------------------------------------ */

typedef struct mem_ssl {
    SSL *ssl;
    BIO *in, *out; /* ciphertext to it, from it */
} mem_ssl;

static void s_mem_ssl(mem_ssl *m, SSL_CTX *x, bool server)
{
    m->ssl = SSL_new(x);
    m->in = BIO_new(BIO_s_mem());
    m->out = BIO_new(BIO_s_mem());
    BIO_up_ref(m->in);
    BIO_up_ref(m->out);
    SSL_set_bio(m->ssl, m->in, m->out);
    if (server)
        SSL_set_accept_state(m->ssl);
    else
        SSL_set_connect_state(m->ssl);
}

static void s_mem_free(mem_ssl *m)
{
    SSL_free(m->ssl);
    BIO_free(m->in);
    BIO_free(m->out);
}

/* Moves what `from` wrote into `to`. */
static void s_move(BIO *from, BIO *to)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(from, buf, sizeof(buf))) > 0) BIO_write(to, buf, n);
}

static void s_hb_to_server(hb__tls *t, mem_ssl *s)
{
    uint8_t *p;
    size_t n;
    while ((n = hb__tls_out(t, &p)) > 0) {
        BIO_write(s->in, p, (int)n);
        hb__tls_out_done(t, n);
    }
}

static void s_server_to_hb(mem_ssl *s, hb__tls *t)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(s->out, buf, sizeof(buf))) > 0) hb__tls_put(t, (uint8_t *)buf, (size_t)n);
}

/* Handshake hb__tls against an in-memory server, then one byte each way
 * (the server's tickets get read). */
static void s_hb_pair(hb__tls_cache *c, SSL_CTX *sx, hb__tls **t, mem_ssl *s)
{
    char err[256];
    hb__tls_profile p = {s_ca_path, NULL, NULL};
    if (hb__tls_new(c, &p, "localhost", true, NULL, t, err, sizeof(err)) != 0) {
        fprintf(stderr, "hb__tls_new: %s\n", err);
        exit(1);
    }
    s_mem_ssl(s, sx, true);
    hb__tls_status st;
    for (int i = 0; i < 20; i++) {
        st = hb__tls_handshake(*t, err, sizeof(err));
        s_hb_to_server(*t, s);
        SSL_do_handshake(s->ssl);
        s_server_to_hb(s, *t);
        if (st == HB__TLS_OK && SSL_is_init_finished(s->ssl)) break;
    }
    if (st != HB__TLS_OK) {
        fprintf(stderr, "handshake: %s\n", err);
        exit(1);
    }
    SSL_write(s->ssl, "x", 1);
    s_server_to_hb(s, *t);
    uint8_t b[16];
    size_t got;
    hb__tls_read(*t, b, sizeof(b), &got, err, sizeof(err));
    hb__tls_write(*t, (const uint8_t *)"y", 1);
    s_hb_to_server(*t, s);
    char sb[16];
    SSL_read(s->ssl, sb, sizeof(sb));
}

static void s_raw_pair(SSL_CTX *cx, SSL_CTX *sx, mem_ssl *c, mem_ssl *s)
{
    s_mem_ssl(c, cx, false);
    s_mem_ssl(s, sx, true);
    for (int i = 0; i < 20 && !(SSL_is_init_finished(c->ssl) && SSL_is_init_finished(s->ssl));
         i++) {
        SSL_do_handshake(c->ssl);
        s_move(c->out, s->in);
        SSL_do_handshake(s->ssl);
        s_move(s->out, c->in);
    }
    SSL_write(s->ssl, "x", 1);
    s_move(s->out, c->in);
    char b[16];
    SSL_read(c->ssl, b, sizeof(b));
}

/* The server encrypts `n` records of `size` into one stream. */
static uint8_t *s_stream(mem_ssl *s, const uint8_t *msg, size_t size, size_t n, size_t *len)
{
    for (size_t i = 0; i < n; i++) SSL_write(s->ssl, msg, (int)size);
    *len = (size_t)BIO_ctrl_pending(s->out);
    uint8_t *b = malloc(*len);
    BIO_read(s->out, b, (int)*len);
    return b;
}

#define CHUNK (64 * 1024) /* ciphertext per put, as one socket read */
#define REPS  5

static double s_min(double a, double b)
{
    return a < b ? a : b;
}

static void s_tput(size_t records, int max_version, const char *label)
{
    static const size_t sizes[] = {200, 4096};
    hb__tls_cache *c;
    hb__tls_cache_new(HEAD, 1000000000ull, &c);
    SSL_CTX *sx = s_server_ctx(max_version);
    SSL_CTX *cx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_read_ahead(cx, 1); /* as ours */
    uint8_t *plain = malloc(CHUNK);
    uint8_t *outbuf = malloc(HEAD + 65536);
    for (size_t si = 0; si < 2; si++) {
        size_t size = sizes[si];
        uint8_t *msg = malloc(size);
        memset(msg, 'a', size);
        hb__tls *t;
        mem_ssl hs, rc, rs;
        s_hb_pair(c, sx, &t, &hs);
        s_raw_pair(cx, sx, &rc, &rs);
        /* warm-up */
        for (int i = 0; i < 1000; i++) {
            uint8_t *p;
            hb__tls_write(t, msg, size);
            hb__tls_out_done(t, hb__tls_out(t, &p));
            SSL_write(rc.ssl, msg, (int)size);
            (void)BIO_reset(rc.out);
        }
        /* Each figure is the best of REPS runs: the machine is shared,
         * and the fastest run is the one least disturbed. */
        double enc_hb = 1e9, enc_mem = 1e9, enc_floor = 1e9;
        double dec_hb = 1e9, dec_mem = 1e9, dec_copy = 1e9;
        uint64_t ours_enc = 0, ossl_enc = 0, ours_dec = 0, ossl_dec = 0;
        unsigned sink = 0;
        char err[256];
        size_t n = records, len, rlen;
        if (n > (64u << 20) / (size + 64)) n = (64u << 20) / (size + 64); /* stream <= 64 MiB */
        uint8_t *cp = malloc(CHUNK);
        for (int rep = 0; rep < REPS; rep++) {
            /* encrypt: ours */
            uint64_t a0 = s_ours, o0 = s_ossl;
            double t0 = s_cpu();
            for (size_t i = 0; i < n; i++) {
                uint8_t *p;
                hb__tls_write(t, msg, size);
                size_t k = hb__tls_out(t, &p);
                sink += p[k - 1];
                hb__tls_out_done(t, k);
            }
            enc_hb = s_min(enc_hb, s_cpu() - t0);
            ours_enc += s_ours - a0;
            ossl_enc += s_ossl - o0;
            /* encrypt: OpenSSL, memory BIO read into a headroom buffer */
            t0 = s_cpu();
            for (size_t i = 0; i < n; i++) {
                SSL_write(rc.ssl, msg, (int)size);
                int k = BIO_read(rc.out, outbuf + HEAD, 65536);
                sink += outbuf[HEAD + k - 1];
            }
            enc_mem = s_min(enc_mem, s_cpu() - t0);
            /* encrypt: OpenSSL's floor, the output dropped */
            t0 = s_cpu();
            for (size_t i = 0; i < n; i++) {
                SSL_write(rc.ssl, msg, (int)size);
                (void)BIO_reset(rc.out);
            }
            enc_floor = s_min(enc_floor, s_cpu() - t0);

            /* decrypt: ours, 64 KiB of ciphertext per put */
            uint8_t *st = s_stream(&hs, msg, size, n, &len);
            size_t total = 0;
            a0 = s_ours, o0 = s_ossl;
            t0 = s_cpu();
            for (size_t off = 0; off < len; off += CHUNK) {
                size_t k = len - off < CHUNK ? len - off : CHUNK, got;
                hb__tls_put(t, st + off, k);
                while (hb__tls_read(t, plain, CHUNK, &got, err, sizeof(err)) == HB__TLS_OK)
                    total += got;
            }
            dec_hb = s_min(dec_hb, s_cpu() - t0);
            ours_dec += s_ours - a0;
            ossl_dec += s_ossl - o0;
            if (total != n * size) {
                fprintf(stderr, "decrypt: %zu of %zu bytes (%s)\n", total, n * size, err);
                exit(1);
            }
            free(st);
            /* decrypt: OpenSSL, memory BIO */
            st = s_stream(&rs, msg, size, n, &rlen);
            total = 0;
            t0 = s_cpu();
            for (size_t off = 0; off < rlen; off += CHUNK) {
                size_t k = rlen - off < CHUNK ? rlen - off : CHUNK;
                BIO_write(rc.in, st + off, (int)k);
                int r;
                while ((r = SSL_read(rc.ssl, plain, CHUNK)) > 0) total += (size_t)r;
            }
            dec_mem = s_min(dec_mem, s_cpu() - t0);
            if (total != n * size) {
                fprintf(stderr, "raw decrypt: %zu of %zu bytes\n", total, n * size);
                exit(1);
            }
            /* the copy hb__tls_put makes, alone */
            t0 = s_cpu();
            for (size_t off = 0; off < rlen; off += CHUNK) {
                size_t k = rlen - off < CHUNK ? rlen - off : CHUNK;
                memcpy(cp, st + off, k);
                sink += cp[k - 1];
            }
            dec_copy = s_min(dec_copy, s_cpu() - t0);
            free(st);
        }
        free(cp);
        double r = (double)n, rr = r * REPS;
        printf("{\"bench\":\"tput\",\"tls\":\"%s\",\"cipher\":\"%s\",\"size\":%zu,"
               "\"records\":%zu,\"enc_ns\":{\"hb\":%.0f,\"mem_bio\":%.0f,\"openssl_floor\":%.0f},"
               "\"dec_ns\":{\"hb\":%.0f,\"mem_bio\":%.0f,\"put_copy\":%.0f},"
               "\"MBps_hb\":{\"enc\":%.0f,\"dec\":%.0f},"
               "\"allocs_per_record\":{\"enc_ours\":%.3f,\"enc_openssl\":%.3f,"
               "\"dec_ours\":%.3f,\"dec_openssl\":%.3f},\"sink\":%u}\n",
               label, SSL_get_cipher(rc.ssl), size, n, enc_hb / r * 1e9, enc_mem / r * 1e9,
               enc_floor / r * 1e9, dec_hb / r * 1e9, dec_mem / r * 1e9, dec_copy / r * 1e9,
               (double)size * r / enc_hb / 1e6, (double)size * r / dec_hb / 1e6,
               (double)ours_enc / rr, (double)ossl_enc / rr, (double)ours_dec / rr,
               (double)ossl_dec / rr, sink & 1);
        fflush(stdout);
        hb__tls_free(&t);
        s_mem_free(&hs);
        s_mem_free(&rc);
        s_mem_free(&rs);
        free(msg);
    }
    free(plain);
    free(outbuf);
    SSL_CTX_free(sx);
    SSL_CTX_free(cx);
    hb__tls_cache_free(&c);
}

/* ---- idle ----------------------------------------------------------------- */

/* Child: accepts, handshakes, says "hello", keeps every connection open
 * until the parent closes `ctl`. */
static void s_server_child(int lfd, int ctl, int max_version)
{
    SSL_CTX *sx = s_server_ctx(max_version);
    for (;;) {
        struct pollfd pf[2] = {{.fd = lfd, .events = POLLIN}, {.fd = ctl, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) continue;
        if (pf[1].revents) _exit(0);
        int fd = accept(lfd, NULL, NULL), one = 1;
        if (fd < 0) continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        SSL *s = SSL_new(sx);
        SSL_set_fd(s, fd);
        if (SSL_accept(s) == 1) SSL_write(s, "hello", 5);
        /* kept: never freed, the child exits */
    }
}

static int s_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("connect");
        exit(1);
    }
    return fd;
}

static void s_flush_fd(hb__tls *t, int fd)
{
    uint8_t *p;
    size_t n;
    while ((n = hb__tls_out(t, &p)) > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) exit(1);
        hb__tls_out_done(t, (size_t)w);
    }
}

/* One session up and its "hello" read: blocking. */
static hb__tls *s_session(hb__tls_cache *c, int port, hb__tls_memo *m, int *fdp)
{
    char err[256];
    hb__tls_profile p = {s_ca_path, NULL, NULL};
    hb__tls *t;
    if (hb__tls_new(c, &p, "localhost", true, m, &t, err, sizeof(err)) != 0) exit(1);
    int fd = s_connect(port);
    uint8_t buf[16384], plain[64];
    size_t have = 0;
    for (;;) {
        hb__tls_status st = hb__tls_handshake(t, err, sizeof(err));
        s_flush_fd(t, fd);
        if (st == HB__TLS_OK) break;
        if (st == HB__TLS_FAIL) {
            fprintf(stderr, "handshake: %s\n", err);
            exit(1);
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) exit(1);
        hb__tls_put(t, buf, (size_t)n);
    }
    while (have < 5) {
        size_t got;
        hb__tls_status st =
            hb__tls_read(t, plain + have, sizeof(plain) - have, &got, err, sizeof(err));
        have += got;
        if (st == HB__TLS_OK) continue;
        if (st != HB__TLS_WANT) {
            fprintf(stderr, "read: %s\n", err);
            exit(1);
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) exit(1);
        hb__tls_put(t, buf, (size_t)n);
    }
    *fdp = fd;
    return t;
}

static size_t s_heap(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static void s_idle(size_t sessions, int max_version, const char *label, bool memo)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    bind(lfd, (struct sockaddr *)&a, sizeof(a));
    listen(lfd, 1024);
    getsockname(lfd, (struct sockaddr *)&a, &al);
    int port = ntohs(a.sin_port);
    int ctl[2];
    if (pipe(ctl) != 0) exit(1);
    pid_t pid = fork();
    if (pid == 0) {
        close(ctl[1]);
        s_server_child(lfd, ctl[0], max_version);
    }
    close(ctl[0]);
    close(lfd);

    hb__tls_cache *c;
    hb__tls_cache_new(HEAD, 1000000000ull, &c);
    hb__tls **t = calloc(sessions, sizeof(*t));
    hb__tls_memo **m = calloc(sessions, sizeof(*m));
    int *fd = calloc(sessions, sizeof(*fd));
    /* a first session builds the SSL_CTX and loads the CA: not counted */
    int wfd;
    hb__tls *w = s_session(c, port, NULL, &wfd);
    hb__tls_free(&w);
    close(wfd);
    for (size_t i = 0; memo && i < sessions; i++) m[i] = hb__tls_memo_new();
    size_t h0 = s_heap();
    double t0 = s_now();
    for (size_t i = 0; i < sessions; i++) t[i] = s_session(c, port, m[i], &fd[i]);
    double dt = s_now() - t0;
    size_t h1 = s_heap();
    for (size_t i = 0; i < sessions; i++) hb__tls_trim(t[i]);
    size_t h2 = s_heap();
    double n = (double)sessions;
    printf("{\"bench\":\"idle\",\"tls\":\"%s\",\"memo\":%s,\"sessions\":%zu,"
           "\"bytes_per_session\":{\"untrimmed\":%.0f,\"trimmed\":%.0f},"
           "\"handshake_ms\":%.3f}\n",
           label, memo ? "true" : "false", sessions, (double)(h1 - h0) / n, (double)(h2 - h0) / n,
           dt / n * 1e3);
    fflush(stdout);
    for (size_t i = 0; i < sessions; i++) {
        hb__tls_free(&t[i]);
        hb__tls_memo_free(&m[i]);
        close(fd[i]);
    }
    free(t);
    free(m);
    free(fd);
    hb__tls_cache_free(&c);
    close(ctl[1]);
    waitpid(pid, NULL, 0);
}

/* ---- ctx ------------------------------------------------------------------ */

static void s_ctx(void)
{
    SSL_CTX_free(SSL_CTX_new(TLS_client_method())); /* OpenSSL's own first-use set-up */
    /* ours: the cache builds it on the first session */
    hb__tls_cache *c;
    hb__tls_cache_new(HEAD, 1, &c);
    hb__tls_profile none = {0};
    char err[256];
    size_t h0 = s_heap();
    double t0 = s_now();
    hb__tls *t;
    if (hb__tls_new(c, &none, "localhost", true, NULL, &t, err, sizeof(err)) != 0) exit(1);
    double ours = s_now() - t0;
    size_t ours_b = s_heap() - h0;
    hb__tls_free(&t);
    hb__tls_cache_free(&c);
    h0 = s_heap();
    t0 = s_now();
    SSL_CTX *x = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_default_verify_paths(x);
    double bundle = s_now() - t0;
    size_t bundle_b = s_heap() - h0;
    SSL_CTX_free(x);
    printf("{\"bench\":\"ctx\",\"ours\":{\"ms\":%.2f,\"bytes\":%zu},"
           "\"bundle\":{\"ms\":%.2f,\"bytes\":%zu}}\n",
           ours * 1e3, ours_b, bundle * 1e3, bundle_b);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    CRYPTO_set_mem_functions(s_ossl_malloc, s_ossl_realloc, s_ossl_free);
    size_t records = 100000, sessions = 1000;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--records") && i + 1 < argc)
            records = bench_arg_u64("--records", argv[++i]);
        else if (!strcmp(argv[i], "--sessions") && i + 1 < argc)
            sessions = bench_arg_u64("--sessions", argv[++i]);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "usage: hb-tls [--records N] [--sessions N] [--only tput|idle|ctx]\n");
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    bench_raise_nofile();
    s_make_cert();
    if (!only || !strcmp(only, "ctx")) s_ctx();
    if (!only || !strcmp(only, "idle")) {
        s_idle(sessions, 0, "1.3", true);
        s_idle(sessions, 0, "1.3", false);
        s_idle(sessions, TLS1_2_VERSION, "1.2", true);
    }
    if (!only || !strcmp(only, "tput")) {
        s_tput(records, 0, "1.3");
        s_tput(records, TLS1_2_VERSION, "1.2");
    }
    unlink(s_ca_path);
    return 0;
}
