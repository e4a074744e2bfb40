/*
 * test_tls_engine.c: hb__tls (src/transport/tls.c) driven over plain TCP
 * sockets this test connects itself, against real TLS servers it starts:
 * `openssl s_server` and servers/tls_server.py (Python's ssl). Certificates
 * are made at test time by the openssl CLI: a CA, server certificates for
 * 127.0.0.1/localhost, for a DNS name only, for an IP only, for another
 * name, an expired one, one from a CA nobody trusts, and a client one.
 *
 * Covered: handshake and echo both ways (one byte to 300 KiB), SNI (and
 * none for an IP), host-name and IP verification, expired and untrusted
 * certificates, the CA file, verify=false, client certificates, an alert
 * in mid-stream, close_notify and a close without it, a hang-up during
 * the handshake, resumption (TLS 1.2 and 1.3) and when it must not happen,
 * the profile check, the SSL_CTX cache and its sweep, garbage ciphertext,
 * trimming buffers, and the output headroom.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "transport/tls.h"

#define HEADROOM 16
#define WAIT_MS  8000

static char s_dir[256];

static int s_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

static const char *s_path(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", s_dir, name);
    return p;
}

/* ---- certificates ------------------------------------------------------- */

static int s_make_certs(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(s_dir, sizeof(s_dir), "/tmp/hb-tls-engine-XXXXXX");
    if (!mkdtemp(s_dir)) return -1;
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    int rc = 0;
    rc |= s_sh("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 "
               "-subj '/CN=honeybee test CA' >/dev/null 2>&1 && "
               "openssl req -x509 %s -keyout ca2.key -out ca2.pem -days 2 "
               "-subj '/CN=nobody trusts this CA' >/dev/null 2>&1",
               s_dir, ec, ec);
    static const struct {
        const char *name, *ext, *ca;
        int days;
    } certs[] = {
        {"good", "subjectAltName=IP:127.0.0.1,DNS:localhost", "ca", 2},
        {"name", "subjectAltName=DNS:localhost", "ca", 2},
        {"ip", "subjectAltName=IP:127.0.0.1", "ca", 2},
        {"wrong", "subjectAltName=DNS:wrong.example", "ca", 2},
        {"expired", "subjectAltName=IP:127.0.0.1,DNS:localhost", "ca", -1},
        {"rogue", "subjectAltName=IP:127.0.0.1,DNS:localhost", "ca2", 2},
        {"client", "extendedKeyUsage=clientAuth", "ca", 2},
    };
    for (size_t i = 0; i < sizeof(certs) / sizeof(certs[0]); i++)
        rc |= s_sh("cd %s && printf '%s\\n' > %s.ext && openssl req %s -keyout %s.key "
                   "-out %s.csr -subj '/CN=honeybee %s' >/dev/null 2>&1 && openssl x509 -req "
                   "-in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -out %s.pem -days %d "
                   "-extfile %s.ext >/dev/null 2>&1",
                   s_dir, certs[i].ext, certs[i].name, ec, certs[i].name, certs[i].name,
                   certs[i].name, certs[i].name, certs[i].ca, certs[i].ca, certs[i].name,
                   certs[i].days, certs[i].name);
    rc |= s_sh("cd %s && cat client.pem client.key > combined.pem && "
               "openssl pkey -in client.key -aes256 -passout pass:secret -out enc.key "
               ">/dev/null 2>&1 && printf 'this is not a certificate\\n' > garbage.pem && "
               "printf -- '-----BEGIN CERTIFICATE-----\\nAAAAAAAAAAAA\\n"
               "-----END CERTIFICATE-----\\n' > armored.pem && "
               "printf -- '-----BEGIN PRIVATE KEY-----\\nAAAAAAAAAAAA\\n"
               "-----END PRIVATE KEY-----\\n' > armored.key && "
               "touch unreadable.pem && chmod 000 unreadable.pem",
               s_dir);
    return rc == 0 ? 0 : -1;
}

static int s_rm_certs(void **state)
{
    s_sh("rm -rf %s", s_dir);
    return 0;
}

/* ---- a server as a child process; its output lines read by a thread ----- */

typedef struct proc {
    pid_t pid;
    int in_fd, out_fd;
    pthread_t reader;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char *lines[512];
    bool used[512];
    int n;
    bool eof;
    int port;
} proc;

static void *s_reader(void *arg)
{
    proc *p = arg;
    char buf[4096];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(p->out_fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0) break;
        len += (size_t)r;
        char *nl;
        while ((nl = memchr(buf, '\n', len))) {
            *nl = 0;
            pthread_mutex_lock(&p->mu);
            if (p->n < 512) p->lines[p->n++] = strdup(buf);
            pthread_cond_broadcast(&p->cond);
            pthread_mutex_unlock(&p->mu);
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len);
        }
        if (len == sizeof(buf) - 1) len = 0; /* an overlong line: dropped */
    }
    pthread_mutex_lock(&p->mu);
    p->eof = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The next unconsumed line starting with prefix (copied into out), within
 * timeout_ms. */
static bool s_wait_line(proc *p, const char *prefix, char *out, size_t cap, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    for (;;) {
        for (int i = 0; i < p->n; i++)
            if (!p->used[i] && strncmp(p->lines[i], prefix, strlen(prefix)) == 0) {
                p->used[i] = true;
                if (out) snprintf(out, cap, "%s", p->lines[i]);
                pthread_mutex_unlock(&p->mu);
                return true;
            }
        if (p->eof || pthread_cond_timedwait(&p->cond, &p->mu, &dl) != 0) break;
    }
    pthread_mutex_unlock(&p->mu);
    return false;
}

/* Servers alive: a failed assertion leaves the test early, and the
 * teardown after each test stops what it left behind. */
static proc *s_live[16];

static void s_stop(proc **pp);

static proc *s_spawn(const char *const *argv, const char *port_prefix)
{
    int pin[2], pout[2];
    if (pipe(pin) || pipe(pout)) return NULL;
    pid_t pid = fork();
    if (pid < 0) return NULL;
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(pout[1], 2);
        for (int fd = 3; fd < 1024; fd++) close(fd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    fcntl(pin[1], F_SETFD, FD_CLOEXEC);
    fcntl(pout[0], F_SETFD, FD_CLOEXEC);
    proc *p = calloc(1, sizeof(*p));
    p->pid = pid;
    p->in_fd = pin[1];
    p->out_fd = pout[0];
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cond, NULL);
    pthread_create(&p->reader, NULL, s_reader, p);
    for (int i = 0; i < 16; i++)
        if (!s_live[i]) {
            s_live[i] = p;
            break;
        }
    char line[256];
    if (!s_wait_line(p, port_prefix, line, sizeof(line), 15000)) {
        fprintf(stderr, "server did not start: %s\n", argv[0]);
        s_stop(&p);
        return NULL;
    }
    char *colon = strrchr(line, ':');
    p->port = atoi(colon ? colon + 1 : line + strlen(port_prefix));
    return p;
}

static void s_stop(proc **pp)
{
    proc *p = *pp;
    if (!p) return;
    *pp = NULL;
    for (int i = 0; i < 16; i++)
        if (s_live[i] == p) s_live[i] = NULL;
    close(p->in_fd);
    kill(p->pid, SIGTERM);
    waitpid(p->pid, NULL, 0);
    pthread_join(p->reader, NULL);
    close(p->out_fd);
    for (int i = 0; i < p->n; i++) free(p->lines[i]);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cond);
    free(p);
}

/* servers/tls_server.py with a certificate and extra args. */
static proc *s_python(const char *cert, ...)
{
    const char *py = getenv("HB_PYTHON"), *src = getenv("HB_SOURCE_DIR");
    static char script[512], certf[512], keyf[512];
    snprintf(script, sizeof(script), "%s/tests/integration/servers/tls_server.py", src ? src : ".");
    snprintf(certf, sizeof(certf), "%s/%s.pem", s_dir, cert);
    snprintf(keyf, sizeof(keyf), "%s/%s.key", s_dir, cert);
    const char *argv[32] = {py ? py : "/usr/bin/python3", script, "--cert", certf, "--key", keyf};
    int k = 6;
    va_list ap;
    va_start(ap, cert);
    for (const char *a; k < 31 && (a = va_arg(ap, const char *));) argv[k++] = a;
    va_end(ap);
    argv[k] = NULL;
    return s_spawn(argv, "PORT ");
}

/* openssl s_server -rev (echoes each line reversed) with extra args. */
static proc *s_openssl(const char *cert, ...)
{
    static char certf[512], keyf[512];
    snprintf(certf, sizeof(certf), "%s/%s.pem", s_dir, cert);
    snprintf(keyf, sizeof(keyf), "%s/%s.key", s_dir, cert);
    const char *argv[32] = {"/usr/bin/openssl",
                            "s_server",
                            "-accept",
                            "127.0.0.1:0",
                            "-rev",
                            "-cert",
                            certf,
                            "-key",
                            keyf};
    int k = 9;
    va_list ap;
    va_start(ap, cert);
    for (const char *a; k < 31 && (a = va_arg(ap, const char *));) argv[k++] = a;
    va_end(ap);
    argv[k] = NULL;
    return s_spawn(argv, "ACCEPT ");
}

/* ---- a TLS client over a TCP socket, driven in a poll loop -------------- */

enum { T_OK, T_FAIL, T_CLOSED, T_EOF, T_TIMEOUT };

typedef struct tc {
    int fd;
    hb__tls *t;
    char err[256];
    bool corrupt_next; /* flip a byte of the next ciphertext sent */
} tc;

static void s_flush(tc *c)
{
    uint8_t *p;
    size_t n;
    while ((n = hb__tls_out(c->t, &p)) > 0) {
        /* The headroom in front is ours to scribble on (lws_write does). */
        memset(p - HEADROOM, 0xA5, HEADROOM);
        if (c->corrupt_next) {
            p[n - 1] ^= 0x55; /* the last byte of the record's tag */
            c->corrupt_next = false;
        }
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        hb__tls_out_done(c->t, w > 0 ? (size_t)w : n); /* a dead peer: drop it */
    }
}

/* Waits for bytes from the socket and puts them: 1, 0 at EOF, -1 timeout. */
static int s_pump(tc *c)
{
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    if (poll(&pf, 1, WAIT_MS) <= 0) return -1;
    static uint8_t buf[1 << 16];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n <= 0) return n == 0 || errno == ECONNRESET ? 0 : -1;
    assert_int_equal(hb__tls_put(c->t, buf, (size_t)n), 0);
    return 1;
}

static int s_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static int s_handshake(tc *c)
{
    for (;;) {
        hb__tls_status st = hb__tls_handshake(c->t, c->err, sizeof(c->err));
        s_flush(c);
        if (st == HB__TLS_OK) return T_OK;
        if (st == HB__TLS_FAIL) return T_FAIL;
        assert_int_equal(st, HB__TLS_WANT);
        int r = s_pump(c);
        if (r <= 0) return r == 0 ? T_EOF : T_TIMEOUT;
    }
}

static hb__tls_cache *s_cache;

static int s_dial(tc *c, int port, const hb__tls_profile *p, const char *host, bool verify,
                  hb__tls_memo *memo)
{
    memset(c, 0, sizeof(*c));
    c->fd = s_tcp(port);
    int rc = hb__tls_new(s_cache, p, host, verify, memo, &c->t, c->err, sizeof(c->err));
    if (rc != 0) print_message("hb__tls_new: %s\n", c->err);
    assert_int_equal(rc, 0);
    rc = s_handshake(c);
    if (rc != T_OK) print_message("handshake with %s: %d %s\n", host, rc, c->err);
    return rc;
}

/* Reads exactly n bytes of plaintext. */
static int s_read(tc *c, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t g = 0;
        hb__tls_status st = hb__tls_read(c->t, buf + got, n - got, &g, c->err, sizeof(c->err));
        s_flush(c);
        got += g;
        if (st == HB__TLS_OK) {
            assert_true(g > 0);
            continue;
        }
        if (st == HB__TLS_CLOSED) return T_CLOSED;
        if (st == HB__TLS_FAIL) return T_FAIL;
        int r = s_pump(c);
        if (r <= 0) return r == 0 ? T_EOF : T_TIMEOUT;
    }
    return T_OK;
}

static void s_write(tc *c, const void *p, size_t n)
{
    assert_int_equal(hb__tls_write(c->t, p, n), 0);
    s_flush(c);
}

static void s_close(tc *c)
{
    if (c->t) {
        hb__tls_shutdown(c->t);
        s_flush(c);
    }
    close(c->fd);
    hb__tls_free(&c->t);
}

/* Echo through a server that sends bytes back as they are. */
static void s_echo(tc *c, size_t n)
{
    uint8_t *a = malloc(n), *b = malloc(n);
    for (size_t i = 0; i < n; i++) a[i] = (uint8_t)(rand() & 0xff);
    s_write(c, a, n);
    assert_int_equal(s_read(c, b, n), T_OK);
    assert_memory_equal(a, b, n);
    free(a);
    free(b);
}

/* Echo through s_server -rev: a line comes back reversed. */
static void s_rev_echo(tc *c, const char *line)
{
    char out[256], want[256];
    size_t n = strlen(line);
    for (size_t i = 0; i < n; i++) want[i] = line[n - 1 - i];
    want[n] = '\n';
    snprintf(out, sizeof(out), "%s\n", line);
    s_write(c, out, n + 1);
    char got[256];
    assert_int_equal(s_read(c, (uint8_t *)got, n + 1), T_OK);
    assert_memory_equal(got, want, n + 1);
}

static hb__tls_profile s_prof(const char *ca, const char *cert, const char *key)
{
    hb__tls_profile p = {ca ? strdup(s_path(ca)) : NULL, cert ? strdup(s_path(cert)) : NULL,
                         key ? strdup(s_path(key)) : NULL};
    return p;
}

static void s_prof_free(hb__tls_profile *p)
{
    free((char *)p->ca_file);
    free((char *)p->cert_file);
    free((char *)p->key_file);
}

static int s_setup(void **state)
{
    return hb__tls_cache_new(HEADROOM, 1000, &s_cache);
}

static int s_reap(void **state)
{
    for (int i = 0; i < 16; i++) s_stop(&s_live[i]);
    return 0;
}

static int s_teardown(void **state)
{
    hb__tls_cache_free(&s_cache);
    return 0;
}

/* Waits for a failure sentence containing `want`. */
static void s_expect_fail(tc *c, int rc, const char *want)
{
    print_message("  -> %s\n", c->err);
    assert_int_equal(rc, T_FAIL);
    if (!strstr(c->err, want)) fail_msg("error '%s' lacks '%s'", c->err, want);
}

/* ---- the cases ------------------------------------------------------------ */

static void test_echo_python(void **state)
{
    proc *s = s_python("good", NULL);
    assert_non_null(s);
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    assert_int_equal(s_dial(&c, s->port, &p, "127.0.0.1", true, NULL), T_OK);
    assert_false(hb__tls_resumed(c.t));
    s_echo(&c, 1);
    s_echo(&c, 200);
    s_echo(&c, 4096);
    s_echo(&c, 300 * 1024); /* many records, both ways */
    assert_true(s_wait_line(s, "HANDSHAKE TLSv1.3 resumed=0", NULL, 0, WAIT_MS));
    assert_true(s_wait_line(s, "SNI -", NULL, 0, WAIT_MS)); /* no SNI for an IP */
    s_close(&c);
    assert_true(s_wait_line(s, "CLOSED notify", NULL, 0, WAIT_MS));
    s_prof_free(&p);
    s_stop(&s);
}

static void test_echo_openssl(void **state)
{
    const char *vers[] = {"-tls1_3", "-tls1_2"};
    for (int v = 0; v < 2; v++) {
        proc *s = s_openssl("good", vers[v], NULL);
        assert_non_null(s);
        hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
        tc c;
        assert_int_equal(s_dial(&c, s->port, &p, "localhost", true, NULL), T_OK);
        s_rev_echo(&c, "hello honeybee");
        s_rev_echo(&c, "a second line, after the session tickets");
        assert_true(s_wait_line(s,
                                v == 0 ? "Protocol version: TLSv1.3" : "Protocol version: TLSv1.2",
                                NULL, 0, WAIT_MS));
        s_close(&c);
        s_prof_free(&p);
        s_stop(&s);
    }
}

static void test_sni(void **state)
{
    proc *s = s_python("good", NULL);
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    assert_int_equal(s_dial(&c, s->port, &p, "localhost", true, NULL), T_OK);
    s_echo(&c, 10);
    assert_true(s_wait_line(s, "SNI localhost", NULL, 0, WAIT_MS));
    s_close(&c);
    /* a final dot is not sent */
    assert_int_equal(s_dial(&c, s->port, &p, "localhost.", true, NULL), T_OK);
    s_echo(&c, 10);
    assert_true(s_wait_line(s, "SNI localhost", NULL, 0, WAIT_MS));
    s_close(&c);
    s_prof_free(&p);
    s_stop(&s);
}

static void test_wrong_host(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    proc *s = s_python("wrong", NULL);
    s_expect_fail(&c, s_dial(&c, s->port, &p, "localhost", true, NULL),
                  "certificate verify failed: hostname mismatch (the certificate is not for "
                  "localhost)");
    s_close(&c);
    assert_true(s_wait_line(s, "HSFAIL", NULL, 0, WAIT_MS)); /* we told it (an alert) */
    s_stop(&s);
    /* a certificate for the name only, dialled by IP */
    s = s_python("name", NULL);
    s_expect_fail(&c, s_dial(&c, s->port, &p, "127.0.0.1", true, NULL),
                  "certificate verify failed: IP address mismatch");
    s_close(&c);
    assert_int_equal(s_dial(&c, s->port, &p, "localhost", true, NULL), T_OK);
    s_echo(&c, 100);
    s_close(&c);
    s_stop(&s);
    s_prof_free(&p);
}

static void test_ip_literal_cert(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    proc *s = s_python("ip", NULL);
    assert_int_equal(s_dial(&c, s->port, &p, "127.0.0.1", true, NULL), T_OK);
    s_echo(&c, 100);
    s_close(&c);
    s_expect_fail(&c, s_dial(&c, s->port, &p, "127.0.0.2", true, NULL),
                  "IP address mismatch (the certificate is not for 127.0.0.2)");
    s_close(&c);
    s_expect_fail(&c, s_dial(&c, s->port, &p, "localhost", true, NULL), "hostname mismatch");
    s_close(&c);
    s_stop(&s);
    s_prof_free(&p);
}

static void test_expired(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    proc *s = s_python("expired", NULL);
    s_expect_fail(&c, s_dial(&c, s->port, &p, "localhost", true, NULL),
                  "certificate verify failed: certificate has expired");
    s_close(&c);
    s_stop(&s);
    s_prof_free(&p);
}

static void test_untrusted_and_ca_file(void **state)
{
    hb__tls_profile none = {0}, ca = s_prof("ca.pem", NULL, NULL);
    tc c;
    proc *s = s_python("rogue", NULL);
    s_expect_fail(&c, s_dial(&c, s->port, &ca, "localhost", true, NULL),
                  "certificate verify failed: unable to get local issuer certificate");
    s_close(&c);
    s_stop(&s);
    /* ours, but without the CA file: only the system store, which lacks it */
    s = s_openssl("good", NULL);
    s_expect_fail(&c, s_dial(&c, s->port, &none, "localhost", true, NULL),
                  "certificate verify failed: unable to get local issuer certificate");
    s_close(&c);
    /* the CA file makes it trusted */
    assert_int_equal(s_dial(&c, s->port, &ca, "localhost", true, NULL), T_OK);
    s_rev_echo(&c, "trusted now");
    s_close(&c);
    s_stop(&s);
    s_prof_free(&ca);
}

static void test_verify_false(void **state)
{
    hb__tls_profile none = {0};
    const char *certs[] = {"wrong", "expired", "rogue", "good", "name"};
    for (size_t i = 0; i < 5; i++) {
        proc *s = s_python(certs[i], NULL);
        tc c;
        /* no CA file: nothing could be verified, and nothing is */
        assert_int_equal(s_dial(&c, s->port, &none, "127.0.0.1", false, NULL), T_OK);
        s_echo(&c, 5000);
        s_close(&c);
        s_stop(&s);
    }
}

static void test_client_cert(void **state)
{
    hb__tls_profile with = s_prof("ca.pem", "client.pem", "client.key");
    hb__tls_profile combined = s_prof("ca.pem", "combined.pem", NULL);
    hb__tls_profile without = s_prof("ca.pem", NULL, NULL);
    const char *vers[] = {"-tls1_3", "-tls1_2"};
    for (int v = 0; v < 2; v++) {
        proc *s = s_openssl("good", vers[v], "-Verify", "1", "-CAfile", s_path("ca.pem"), NULL);
        tc c;
        assert_int_equal(s_dial(&c, s->port, &with, "localhost", true, NULL), T_OK);
        s_rev_echo(&c, "with a client certificate");
        s_close(&c);
        assert_int_equal(s_dial(&c, s->port, &combined, "localhost", true, NULL), T_OK);
        s_rev_echo(&c, "cert and key in one file");
        s_close(&c);
        /* Without: TLS 1.2 refuses in the handshake; TLS 1.3 after our
         * side of it is done, so the refusal comes with the first read. */
        int rc = s_dial(&c, s->port, &without, "localhost", true, NULL);
        if (v == 0) {
            assert_int_equal(rc, T_OK);
            uint8_t b[8];
            s_write(&c, "x\n", 2);
            rc = s_read(&c, b, 2);
            s_expect_fail(&c, rc, "TLS alert certificate required from the peer");
        } else {
            s_expect_fail(&c, rc, "TLS alert handshake failure from the peer");
        }
        s_close(&c);
        s_stop(&s);
    }
    /* Python's ssl sees who we are */
    proc *s = s_python("good", "--client-ca", s_path("ca.pem"), NULL);
    tc c;
    assert_int_equal(s_dial(&c, s->port, &with, "localhost", true, NULL), T_OK);
    s_echo(&c, 64);
    assert_true(
        s_wait_line(s, "HANDSHAKE TLSv1.3 resumed=0 client=honeybee client", NULL, 0, WAIT_MS));
    s_close(&c);
    s_stop(&s);
    s_prof_free(&with);
    s_prof_free(&combined);
    s_prof_free(&without);
}

/* A record we send is damaged on the way: the server answers with a fatal
 * alert in mid-stream. */
static void test_alert_mid_stream(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    proc *s = s_openssl("good", NULL);
    assert_int_equal(s_dial(&c, s->port, &p, "localhost", true, NULL), T_OK);
    s_rev_echo(&c, "before the damage");
    c.corrupt_next = true;
    s_write(&c, "damaged\n", 8);
    uint8_t b[16];
    s_expect_fail(&c, s_read(&c, b, 8), "TLS alert bad record mac from the peer");
    /* it stays failed */
    size_t got;
    assert_int_equal(hb__tls_read(c.t, b, sizeof(b), &got, c.err, sizeof(c.err)), HB__TLS_FAIL);
    assert_int_equal(hb__tls_write(c.t, (const uint8_t *)"x", 1), -1);
    s_close(&c);
    s_stop(&s);

    s = s_python("good", "--version", "1.2", NULL);
    assert_int_equal(s_dial(&c, s->port, &p, "localhost", true, NULL), T_OK);
    s_echo(&c, 300);
    c.corrupt_next = true;
    s_write(&c, "damaged", 7);
    s_expect_fail(&c, s_read(&c, b, 7), "TLS alert bad record mac from the peer");
    assert_true(s_wait_line(s, "ERROR", NULL, 0, WAIT_MS));
    s_close(&c);
    s_stop(&s);
    s_prof_free(&p);
}

/* The transport sees the EOF on its socket; hb__tls_read only says WANT. */
static void test_close_without_notify(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    proc *s = s_python("good", "--mode", "drop", NULL);
    tc c;
    assert_int_equal(s_dial(&c, s->port, &p, "127.0.0.1", true, NULL), T_OK);
    s_echo(&c, 100);
    uint8_t b[16];
    assert_int_equal(s_read(&c, b, 1), T_EOF);
    size_t got;
    assert_int_equal(hb__tls_read(c.t, b, sizeof(b), &got, c.err, sizeof(c.err)), HB__TLS_WANT);
    assert_int_equal(got, 0);
    s_close(&c);
    s_stop(&s);
    s_prof_free(&p);
}

static void test_close_notify(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    proc *s = s_python("good", "--mode", "notify", NULL);
    tc c;
    assert_int_equal(s_dial(&c, s->port, &p, "127.0.0.1", true, NULL), T_OK);
    s_echo(&c, 100);
    uint8_t b[16];
    assert_int_equal(s_read(&c, b, 1), T_CLOSED);
    size_t got;
    assert_int_equal(hb__tls_read(c.t, b, sizeof(b), &got, c.err, sizeof(c.err)), HB__TLS_CLOSED);
    s_close(&c); /* answers with our close_notify */
    s_stop(&s);
    s_prof_free(&p);
}

static void test_hangup_in_handshake(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    proc *s = s_python("good", "--mode", "hangup", NULL);
    tc c;
    assert_int_equal(s_dial(&c, s->port, &p, "127.0.0.1", true, NULL), T_EOF);
    s_close(&c);
    s_stop(&s);
    s_prof_free(&p);
}

/* One reconnect with the memo: resumed. Then what must not resume. */
static void s_resume_case(proc *s, bool python, const char *version)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL), other = s_prof("ca.pem", "client.pem", NULL);
    hb__tls_memo *m = hb__tls_memo_new();
    tc c;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_dial(&c, s->port, &p, "localhost", true, m), T_OK);
        /* TLS 1.3 tickets arrive after the handshake: read something */
        if (python)
            s_echo(&c, 32);
        else
            s_rev_echo(&c, "tickets");
        print_message("%s %s connection %d resumed %d\n", python ? "python" : "s_server", version,
                      i, hb__tls_resumed(c.t));
        assert_int_equal(hb__tls_resumed(c.t), i > 0);
        s_close(&c);
        if (python) {
            char want[64];
            snprintf(want, sizeof(want), "HANDSHAKE %s resumed=%d", version, i > 0);
            assert_true(s_wait_line(s, want, NULL, 0, WAIT_MS));
        }
    }
    /* another host name (same server): not offered */
    assert_int_equal(s_dial(&c, s->port, &p, "127.0.0.1", true, m), T_OK);
    assert_false(hb__tls_resumed(c.t));
    s_close(&c);
    /* a session made without verification is not resumed with it */
    assert_int_equal(s_dial(&c, s->port, &p, "127.0.0.1", false, m), T_OK);
    if (python)
        s_echo(&c, 8);
    else
        s_rev_echo(&c, "unverified");
    s_close(&c);
    assert_int_equal(s_dial(&c, s->port, &p, "127.0.0.1", true, m), T_OK);
    assert_false(hb__tls_resumed(c.t));
    s_close(&c);
    hb__tls_memo_free(&m);
    assert_null(m);
    s_prof_free(&p);
    s_prof_free(&other);
}

static void test_resumption(void **state)
{
    proc *s = s_python("good", "--version", "1.3", NULL);
    s_resume_case(s, true, "TLSv1.3");
    s_stop(&s);
    s = s_python("good", "--version", "1.2", NULL);
    s_resume_case(s, true, "TLSv1.2");
    s_stop(&s);
    s = s_openssl("good", "-tls1_3", NULL);
    s_resume_case(s, false, "TLSv1.3");
    s_stop(&s);
    s = s_openssl("good", "-tls1_2", NULL);
    s_resume_case(s, false, "TLSv1.2");
    s_stop(&s);
}

static void s_check(const char *ca, const char *cert, const char *key, const char *want1,
                    const char *want2)
{
    hb__tls_profile p = s_prof(ca, cert, key);
    char err[512] = "";
    int rc = hb__tls_profile_check(&p, err, sizeof(err));
    print_message("check(%s, %s, %s): %d %s\n", ca ? ca : "-", cert ? cert : "-", key ? key : "-",
                  rc, err);
    if (!want1) {
        assert_int_equal(rc, 0);
    } else {
        assert_int_equal(rc, -1);
        if (!strstr(err, want1)) fail_msg("'%s' lacks '%s'", err, want1);
        if (want2 && !strstr(err, want2)) fail_msg("'%s' lacks '%s'", err, want2);
        /* hb__tls_new refuses the same profile with the same sentence */
        hb__tls *t = NULL;
        char err2[512] = "";
        uint32_t n = hb__tls_cache_count(s_cache);
        assert_int_equal(hb__tls_new(s_cache, &p, "localhost", true, NULL, &t, err2, sizeof(err2)),
                         -1);
        assert_null(t);
        assert_string_equal(err, err2);
        assert_int_equal(hb__tls_cache_count(s_cache), n);
    }
    s_prof_free(&p);
}

static void test_profile_check(void **state)
{
    s_check(NULL, NULL, NULL, NULL, NULL);
    s_check("ca.pem", NULL, NULL, NULL, NULL);
    s_check("ca.pem", "client.pem", "client.key", NULL, NULL);
    s_check(NULL, "combined.pem", NULL, NULL, NULL);
    s_check("missing.pem", NULL, NULL, "tls.ca_file", "missing.pem: No such file or directory");
    s_check("garbage.pem", NULL, NULL, "tls.ca_file", "garbage.pem: no PEM certificate in it");
    s_check("armored.pem", NULL, NULL, "tls.ca_file", "armored.pem: not a valid PEM certificate");
    s_check("ca.key", NULL, NULL, "tls.ca_file", "ca.key: no PEM certificate");
    s_check(".", NULL, NULL, "tls.ca_file", "not a regular file");
    if (geteuid() != 0) s_check("unreadable.pem", NULL, NULL, "tls.ca_file", "Permission denied");
    s_check(NULL, "garbage.pem", "client.key", "tls.cert_file", "garbage.pem");
    s_check(NULL, "client.pem", "missing.key", "tls.key_file", "missing.key: No such file");
    s_check(NULL, "client.pem", "garbage.pem", "tls.key_file", "no PEM private key in it");
    s_check(NULL, "client.pem", "armored.key", "tls.key_file",
            "not a valid PEM private key (wrong tag)");
    s_check(NULL, "client.pem", "client.pem", "tls.key_file",
            "client.pem: no PEM private key in it");
    s_check("armored.pem", NULL, NULL, "tls.ca_file", "(wrong tag)");
    s_check(NULL, "client.pem", "enc.key", "tls.key_file", "enc.key: the key is encrypted");
    s_check(NULL, "client.pem", "good.key", "tls.key_file", "does not match the certificate");
    s_check(NULL, "client.pem", NULL, "tls.cert_file", "no private key in it");
    s_check(NULL, NULL, "client.key", "tls.key_file", "tls.cert_file is not");
}

/* One SSL_CTX per profile, shared; freed by the sweep idle_ns (1000 here)
 * after the first sweep that finds it unused. */
static void test_cache_share_sweep(void **state)
{
    hb__tls_cache *c;
    assert_int_equal(hb__tls_cache_new(HEADROOM, 1000, &c), 0);
    hb__tls_profile a = s_prof("ca.pem", NULL, NULL), a2 = s_prof("ca.pem", NULL, NULL);
    hb__tls_profile b = s_prof("ca.pem", "client.pem", "client.key"), none = {0};
    hb__tls *t[5] = {0};
    char err[256];
    assert_int_equal(hb__tls_cache_count(c), 0);
    assert_int_equal(hb__tls_new(c, &a, "localhost", true, NULL, &t[0], err, sizeof(err)), 0);
    assert_int_equal(hb__tls_cache_count(c), 1);
    assert_int_equal(hb__tls_new(c, &a2, "127.0.0.1", false, NULL, &t[1], err, sizeof(err)), 0);
    assert_int_equal(hb__tls_cache_count(c), 1); /* same files: shared */
    assert_int_equal(hb__tls_new(c, &b, "localhost", true, NULL, &t[2], err, sizeof(err)), 0);
    assert_int_equal(hb__tls_cache_count(c), 2);
    assert_int_equal(hb__tls_new(c, &none, "localhost", true, NULL, &t[3], err, sizeof(err)), 0);
    assert_int_equal(hb__tls_cache_count(c), 3);
    hb__tls_cache_sweep(c, 10);
    assert_int_equal(hb__tls_cache_count(c), 3); /* all in use */
    hb__tls_free(&t[0]);
    hb__tls_cache_sweep(c, 20000);
    assert_int_equal(hb__tls_cache_count(c), 3); /* t[1] still holds a */
    hb__tls_free(&t[1]);
    hb__tls_free(&t[2]);
    hb__tls_cache_sweep(c, 30000); /* marks a and b idle */
    assert_int_equal(hb__tls_cache_count(c), 3);
    hb__tls_cache_sweep(c, 30999);
    assert_int_equal(hb__tls_cache_count(c), 3);
    /* a is used again before it expires: not freed, and its idle time restarts */
    assert_int_equal(hb__tls_new(c, &a, "localhost", true, NULL, &t[4], err, sizeof(err)), 0);
    assert_int_equal(hb__tls_cache_count(c), 3);
    hb__tls_cache_sweep(c, 31000); /* b goes */
    assert_int_equal(hb__tls_cache_count(c), 2);
    hb__tls_free(&t[4]);
    hb__tls_cache_sweep(c, 31500); /* marks a */
    hb__tls_cache_sweep(c, 32000);
    assert_int_equal(hb__tls_cache_count(c), 2);
    hb__tls_cache_sweep(c, 32500);
    assert_int_equal(hb__tls_cache_count(c), 1); /* none's, still used by t[3] */
    hb__tls_free(&t[3]);
    hb__tls_cache_free(&c); /* frees what is left */
    assert_null(c);
    s_prof_free(&a);
    s_prof_free(&a2);
    s_prof_free(&b);
}

/* Bytes that are not TLS, in the handshake and after it: FAIL, no crash. */
static void test_garbage(void **state)
{
    hb__tls_profile none = {0};
    char err[256];
    srand(1234);
    uint8_t buf[4096];
    for (int i = 0; i < 300; i++) {
        hb__tls *t;
        assert_int_equal(
            hb__tls_new(s_cache, &none, "localhost", i % 2, NULL, &t, err, sizeof(err)), 0);
        assert_int_equal(hb__tls_handshake(t, err, sizeof(err)), HB__TLS_WANT);
        uint8_t *p;
        assert_true(hb__tls_out(t, &p) > 100); /* the ClientHello */
        hb__tls_out_done(t, hb__tls_out(t, &p));
        size_t n = 1 + (size_t)rand() % sizeof(buf);
        for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)rand();
        if (i % 3 == 1 && n > 5) { /* a plausible record header */
            buf[0] = (uint8_t)(20 + rand() % 4);
            buf[1] = 3;
            buf[2] = (uint8_t)(rand() % 5);
        }
        hb__tls_status st = HB__TLS_WANT;
        for (size_t off = 0; off < n && st == HB__TLS_WANT;) {
            size_t piece = 1 + (size_t)rand() % 700;
            if (piece > n - off) piece = n - off;
            assert_int_equal(hb__tls_put(t, buf + off, piece), 0);
            off += piece;
            st = hb__tls_handshake(t, err, sizeof(err));
        }
        if (st == HB__TLS_FAIL) {
            assert_true(strlen(err) > 10);
            size_t got;
            assert_int_equal(hb__tls_read(t, buf, sizeof(buf), &got, err, sizeof(err)),
                             HB__TLS_FAIL);
        } else {
            assert_int_equal(st, HB__TLS_WANT); /* a record header promising more */
        }
        hb__tls_free(&t);
    }
    /* a plain HTTP server */
    hb__tls *t;
    assert_int_equal(hb__tls_new(s_cache, &none, "localhost", true, NULL, &t, err, sizeof(err)), 0);
    assert_int_equal(hb__tls_handshake(t, err, sizeof(err)), HB__TLS_WANT);
    const char *http = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(hb__tls_put(t, (const uint8_t *)http, strlen(http)), 0);
    assert_int_equal(hb__tls_handshake(t, err, sizeof(err)), HB__TLS_FAIL);
    print_message("  -> %s\n", err);
    assert_non_null(strstr(err, "is the server speaking TLS?"));
    assert_int_equal(hb__tls_write(t, (const uint8_t *)"x", 1), -1);
    hb__tls_free(&t);

    /* after a real handshake */
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    const char *vers[] = {"1.3", "1.2"};
    for (int v = 0; v < 2; v++) {
        proc *s = s_python("good", "--version", vers[v], NULL);
        tc c;
        assert_int_equal(s_dial(&c, s->port, &p, "localhost", true, NULL), T_OK);
        s_echo(&c, 100);
        for (size_t k = 0; k < 2000; k++) buf[k] = (uint8_t)rand();
        buf[0] = 23, buf[1] = 3, buf[2] = 3, buf[3] = 0x07, buf[4] = 0xc0;
        assert_int_equal(hb__tls_put(c.t, buf, 2000), 0);
        size_t got;
        assert_int_equal(hb__tls_read(c.t, buf, sizeof(buf), &got, c.err, sizeof(c.err)),
                         HB__TLS_FAIL);
        print_message("  -> %s\n", c.err);
        assert_non_null(strstr(c.err, "TLS failed: "));
        s_close(&c);
        s_stop(&s);
    }
    s_prof_free(&p);
}

/* Trimmed when quiet, buffers come back on use; a trim with half a record
 * inside OpenSSL keeps it. */
static void test_trim(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    proc *s = s_python("good", NULL);
    tc c;
    assert_int_equal(s_dial(&c, s->port, &p, "127.0.0.1", true, NULL), T_OK);
    s_echo(&c, 1000);
    hb__tls_trim(c.t);
    s_echo(&c, 70000);
    hb__tls_trim(c.t);
    hb__tls_trim(c.t);
    /* half a record held back from the socket */
    uint8_t a[3000], b[3000];
    memset(a, 'q', sizeof(a));
    s_write(&c, a, sizeof(a));
    struct pollfd pf = {.fd = c.fd, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, WAIT_MS), 1);
    usleep(100 * 1000); /* let it all arrive */
    uint8_t raw[8192];
    ssize_t n = recv(c.fd, raw, sizeof(raw), 0);
    assert_true(n > 3000);
    assert_int_equal(hb__tls_put(c.t, raw, 1000), 0);
    size_t got;
    assert_int_equal(hb__tls_read(c.t, b, sizeof(b), &got, c.err, sizeof(c.err)), HB__TLS_WANT);
    hb__tls_trim(c.t);
    assert_int_equal(hb__tls_put(c.t, raw + 1000, (size_t)n - 1000), 0);
    assert_int_equal(s_read(&c, b, sizeof(b)), T_OK);
    assert_memory_equal(a, b, sizeof(a));
    hb__tls_trim(c.t);
    s_echo(&c, 10);
    s_close(&c);
    s_stop(&s);
    s_prof_free(&p);
}

/* Before the handshake is done nothing can be written; a session with no
 * name cannot be verified. */
static void test_misuse(void **state)
{
    hb__tls_profile none = {0};
    char err[256];
    hb__tls *t = NULL;
    assert_int_equal(hb__tls_new(s_cache, &none, "", true, NULL, &t, err, sizeof(err)), -1);
    assert_null(t);
    assert_non_null(strstr(err, "no host name"));
    char longname[400];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    assert_int_equal(hb__tls_new(s_cache, &none, longname, true, NULL, &t, err, sizeof(err)), -1);
    assert_null(t);
    assert_non_null(strstr(err, "host name not usable"));
    assert_int_equal(hb__tls_new(s_cache, &none, NULL, false, NULL, &t, err, sizeof(err)), 0);
    assert_int_equal(hb__tls_write(t, (const uint8_t *)"x", 1), -1);
    hb__tls_shutdown(t); /* nothing to close yet: no output */
    uint8_t *p;
    assert_int_equal(hb__tls_out(t, &p), 0);
    assert_false(hb__tls_resumed(t));
    hb__tls_trim(t);
    hb__tls_free(&t);
    hb__tls_free(&t);
    hb__tls_memo *m = NULL;
    hb__tls_memo_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_echo_python, s_reap),
        cmocka_unit_test_teardown(test_echo_openssl, s_reap),
        cmocka_unit_test_teardown(test_sni, s_reap),
        cmocka_unit_test_teardown(test_wrong_host, s_reap),
        cmocka_unit_test_teardown(test_ip_literal_cert, s_reap),
        cmocka_unit_test_teardown(test_expired, s_reap),
        cmocka_unit_test_teardown(test_untrusted_and_ca_file, s_reap),
        cmocka_unit_test_teardown(test_verify_false, s_reap),
        cmocka_unit_test_teardown(test_client_cert, s_reap),
        cmocka_unit_test_teardown(test_alert_mid_stream, s_reap),
        cmocka_unit_test_teardown(test_close_without_notify, s_reap),
        cmocka_unit_test_teardown(test_close_notify, s_reap),
        cmocka_unit_test_teardown(test_hangup_in_handshake, s_reap),
        cmocka_unit_test_teardown(test_resumption, s_reap),
        cmocka_unit_test_teardown(test_profile_check, s_reap),
        cmocka_unit_test_teardown(test_cache_share_sweep, s_reap),
        cmocka_unit_test_teardown(test_garbage, s_reap),
        cmocka_unit_test_teardown(test_trim, s_reap),
        cmocka_unit_test_teardown(test_misuse, s_reap),
    };
    int rc = s_make_certs(NULL);
    if (rc != 0) {
        fprintf(stderr, "could not make certificates with the openssl CLI\n");
        return 1;
    }
    rc = cmocka_run_group_tests(tests, s_setup, s_teardown);
    s_rm_certs(NULL);
    return rc;
}
