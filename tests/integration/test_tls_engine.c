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
 * trimming buffers, releasing them while not busy, and the output headroom.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hbt.h"
#include "transport/tls.h"

#define HEADROOM 16
#define WAIT_MS  8000

static char s_dir[256];

static const char *s_path(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", s_dir, name);
    return p;
}

/* ---- certificates ------------------------------------------------------- */

static int s_make_certs(void)
{
    signal(SIGPIPE, SIG_IGN);
    static const hbt_cert certs[] = {
        {"ca", NULL, NULL, 2},
        {"ca2", NULL, NULL, 2}, /* nobody trusts this CA */
        {"good", "subjectAltName=IP:127.0.0.1,DNS:localhost", "ca", 2},
        {"name", "subjectAltName=DNS:localhost", "ca", 2},
        {"ip", "subjectAltName=IP:127.0.0.1", "ca", 2},
        {"wrong", "subjectAltName=DNS:wrong.example", "ca", 2},
        {"expired", "subjectAltName=IP:127.0.0.1,DNS:localhost", "ca", -1},
        {"rogue", "subjectAltName=IP:127.0.0.1,DNS:localhost", "ca2", 2},
        {"client", "extendedKeyUsage=clientAuth", "ca", 2},
    };
    int rc = hbt_certs(s_dir, sizeof(s_dir), "tls-engine", certs, sizeof(certs) / sizeof(certs[0]));
    rc |= hbt_sh("cd %s && cat client.pem client.key > combined.pem && "
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

/* ---- the servers: servers/tls_server.py and openssl s_server ------------- */

/* servers/tls_server.py with a certificate and extra args. */
static hbt_server *s_python(const char *cert, ...)
{
    static char certf[512], keyf[512];
    snprintf(certf, sizeof(certf), "%s/%s.pem", s_dir, cert);
    snprintf(keyf, sizeof(keyf), "%s/%s.key", s_dir, cert);
    const char *args[32] = {"--cert", certf, "--key", keyf};
    int k = 4;
    va_list ap;
    va_start(ap, cert);
    for (const char *a; k < 31 && (a = va_arg(ap, const char *));) args[k++] = a;
    va_end(ap);
    args[k] = NULL;
    return hbt_py_server("tls_server.py", args, HBT_SPAWN_STDERR);
}

/* openssl s_server -rev (echoes each line reversed) with extra args. */
static hbt_server *s_openssl(const char *cert, ...)
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
    return hbt_spawn(argv, "ACCEPT ", HBT_SPAWN_STDERR);
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
    c->fd = hbt_tcp_connect(port);
    assert_true(c->fd >= 0);
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
    hbt_server *s = s_python("good", NULL);
    assert_non_null(s);
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", true, NULL), T_OK);
    assert_false(hb__tls_resumed(c.t));
    s_echo(&c, 1);
    s_echo(&c, 200);
    s_echo(&c, 4096);
    s_echo(&c, 300 * 1024); /* many records, both ways */
    assert_true(hbt_server_wait(s, "HANDSHAKE TLSv1.3 resumed=0", WAIT_MS, NULL, 0));
    assert_true(hbt_server_wait(s, "SNI -", WAIT_MS, NULL, 0)); /* no SNI for an IP */
    s_close(&c);
    assert_true(hbt_server_wait(s, "CLOSED notify", WAIT_MS, NULL, 0));
    s_prof_free(&p);
    hbt_server_stop(&s);
}

static void test_echo_openssl(void **state)
{
    const char *vers[] = {"-tls1_3", "-tls1_2"};
    for (int v = 0; v < 2; v++) {
        hbt_server *s = s_openssl("good", vers[v], NULL);
        assert_non_null(s);
        hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
        tc c;
        assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "localhost", true, NULL), T_OK);
        s_rev_echo(&c, "hello honeybee");
        s_rev_echo(&c, "a second line, after the session tickets");
        assert_true(
            hbt_server_wait(s, v == 0 ? "Protocol version: TLSv1.3" : "Protocol version: TLSv1.2",
                            WAIT_MS, NULL, 0));
        s_close(&c);
        s_prof_free(&p);
        hbt_server_stop(&s);
    }
}

static void test_sni(void **state)
{
    hbt_server *s = s_python("good", NULL);
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "localhost", true, NULL), T_OK);
    s_echo(&c, 10);
    assert_true(hbt_server_wait(s, "SNI localhost", WAIT_MS, NULL, 0));
    s_close(&c);
    /* a final dot is not sent */
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "localhost.", true, NULL), T_OK);
    s_echo(&c, 10);
    assert_true(hbt_server_wait(s, "SNI localhost", WAIT_MS, NULL, 0));
    s_close(&c);
    s_prof_free(&p);
    hbt_server_stop(&s);
}

static void test_wrong_host(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    hbt_server *s = s_python("wrong", NULL);
    s_expect_fail(&c, s_dial(&c, hbt_server_port(s), &p, "localhost", true, NULL),
                  "certificate verify failed: hostname mismatch (the certificate is not for "
                  "localhost)");
    s_close(&c);
    assert_true(hbt_server_wait(s, "HSFAIL", WAIT_MS, NULL, 0)); /* we told it (an alert) */
    hbt_server_stop(&s);
    /* a certificate for the name only, dialled by IP */
    s = s_python("name", NULL);
    s_expect_fail(&c, s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", true, NULL),
                  "certificate verify failed: IP address mismatch");
    s_close(&c);
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "localhost", true, NULL), T_OK);
    s_echo(&c, 100);
    s_close(&c);
    hbt_server_stop(&s);
    s_prof_free(&p);
}

static void test_ip_literal_cert(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    hbt_server *s = s_python("ip", NULL);
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", true, NULL), T_OK);
    s_echo(&c, 100);
    s_close(&c);
    s_expect_fail(&c, s_dial(&c, hbt_server_port(s), &p, "127.0.0.2", true, NULL),
                  "IP address mismatch (the certificate is not for 127.0.0.2)");
    s_close(&c);
    s_expect_fail(&c, s_dial(&c, hbt_server_port(s), &p, "localhost", true, NULL),
                  "hostname mismatch");
    s_close(&c);
    hbt_server_stop(&s);
    s_prof_free(&p);
}

static void test_expired(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    tc c;
    hbt_server *s = s_python("expired", NULL);
    s_expect_fail(&c, s_dial(&c, hbt_server_port(s), &p, "localhost", true, NULL),
                  "certificate verify failed: certificate has expired");
    s_close(&c);
    hbt_server_stop(&s);
    s_prof_free(&p);
}

static void test_untrusted_and_ca_file(void **state)
{
    hb__tls_profile none = {0}, ca = s_prof("ca.pem", NULL, NULL);
    tc c;
    hbt_server *s = s_python("rogue", NULL);
    s_expect_fail(&c, s_dial(&c, hbt_server_port(s), &ca, "localhost", true, NULL),
                  "certificate verify failed: unable to get local issuer certificate");
    s_close(&c);
    hbt_server_stop(&s);
    /* ours, but without the CA file: only the system store, which lacks it */
    s = s_openssl("good", NULL);
    s_expect_fail(&c, s_dial(&c, hbt_server_port(s), &none, "localhost", true, NULL),
                  "certificate verify failed: unable to get local issuer certificate");
    s_close(&c);
    /* the CA file makes it trusted */
    assert_int_equal(s_dial(&c, hbt_server_port(s), &ca, "localhost", true, NULL), T_OK);
    s_rev_echo(&c, "trusted now");
    s_close(&c);
    hbt_server_stop(&s);
    s_prof_free(&ca);
}

static void test_verify_false(void **state)
{
    hb__tls_profile none = {0};
    const char *certs[] = {"wrong", "expired", "rogue", "good", "name"};
    for (size_t i = 0; i < 5; i++) {
        hbt_server *s = s_python(certs[i], NULL);
        tc c;
        /* no CA file: nothing could be verified, and nothing is */
        assert_int_equal(s_dial(&c, hbt_server_port(s), &none, "127.0.0.1", false, NULL), T_OK);
        s_echo(&c, 5000);
        s_close(&c);
        hbt_server_stop(&s);
    }
}

static void test_client_cert(void **state)
{
    hb__tls_profile with = s_prof("ca.pem", "client.pem", "client.key");
    hb__tls_profile combined = s_prof("ca.pem", "combined.pem", NULL);
    hb__tls_profile without = s_prof("ca.pem", NULL, NULL);
    const char *vers[] = {"-tls1_3", "-tls1_2"};
    for (int v = 0; v < 2; v++) {
        hbt_server *s =
            s_openssl("good", vers[v], "-Verify", "1", "-CAfile", s_path("ca.pem"), NULL);
        tc c;
        assert_int_equal(s_dial(&c, hbt_server_port(s), &with, "localhost", true, NULL), T_OK);
        s_rev_echo(&c, "with a client certificate");
        s_close(&c);
        assert_int_equal(s_dial(&c, hbt_server_port(s), &combined, "localhost", true, NULL), T_OK);
        s_rev_echo(&c, "cert and key in one file");
        s_close(&c);
        /* Without: TLS 1.2 refuses in the handshake; TLS 1.3 after our
         * side of it is done, so the refusal comes with the first read. */
        int rc = s_dial(&c, hbt_server_port(s), &without, "localhost", true, NULL);
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
        hbt_server_stop(&s);
    }
    /* Python's ssl sees who we are */
    hbt_server *s = s_python("good", "--client-ca", s_path("ca.pem"), NULL);
    tc c;
    assert_int_equal(s_dial(&c, hbt_server_port(s), &with, "localhost", true, NULL), T_OK);
    s_echo(&c, 64);
    assert_true(
        hbt_server_wait(s, "HANDSHAKE TLSv1.3 resumed=0 client=honeybee client", WAIT_MS, NULL, 0));
    s_close(&c);
    hbt_server_stop(&s);
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
    hbt_server *s = s_openssl("good", NULL);
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "localhost", true, NULL), T_OK);
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
    hbt_server_stop(&s);

    s = s_python("good", "--version", "1.2", NULL);
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "localhost", true, NULL), T_OK);
    s_echo(&c, 300);
    c.corrupt_next = true;
    s_write(&c, "damaged", 7);
    s_expect_fail(&c, s_read(&c, b, 7), "TLS alert bad record mac from the peer");
    assert_true(hbt_server_wait(s, "ERROR", WAIT_MS, NULL, 0));
    s_close(&c);
    hbt_server_stop(&s);
    s_prof_free(&p);
}

/* The transport sees the EOF on its socket; hb__tls_read only says WANT. */
static void test_close_without_notify(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    hbt_server *s = s_python("good", "--mode", "drop", NULL);
    tc c;
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", true, NULL), T_OK);
    s_echo(&c, 100);
    uint8_t b[16];
    assert_int_equal(s_read(&c, b, 1), T_EOF);
    size_t got;
    assert_int_equal(hb__tls_read(c.t, b, sizeof(b), &got, c.err, sizeof(c.err)), HB__TLS_WANT);
    assert_int_equal(got, 0);
    s_close(&c);
    hbt_server_stop(&s);
    s_prof_free(&p);
}

static void test_close_notify(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    hbt_server *s = s_python("good", "--mode", "notify", NULL);
    tc c;
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", true, NULL), T_OK);
    s_echo(&c, 100);
    uint8_t b[16];
    assert_int_equal(s_read(&c, b, 1), T_CLOSED);
    size_t got;
    assert_int_equal(hb__tls_read(c.t, b, sizeof(b), &got, c.err, sizeof(c.err)), HB__TLS_CLOSED);
    s_close(&c); /* answers with our close_notify */
    hbt_server_stop(&s);
    s_prof_free(&p);
}

static void test_hangup_in_handshake(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    hbt_server *s = s_python("good", "--mode", "hangup", NULL);
    tc c;
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", true, NULL), T_EOF);
    s_close(&c);
    hbt_server_stop(&s);
    s_prof_free(&p);
}

/* One reconnect with the memo: resumed. Then what must not resume. */
static void s_resume_case(hbt_server *s, bool python, const char *version)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL), other = s_prof("ca.pem", "client.pem", NULL);
    hb__tls_memo *m = hb__tls_memo_new();
    tc c;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "localhost", true, m), T_OK);
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
            assert_true(hbt_server_wait(s, want, WAIT_MS, NULL, 0));
        }
    }
    /* another host name (same server): not offered */
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", true, m), T_OK);
    assert_false(hb__tls_resumed(c.t));
    s_close(&c);
    /* a session made without verification is not resumed with it */
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", false, m), T_OK);
    if (python)
        s_echo(&c, 8);
    else
        s_rev_echo(&c, "unverified");
    s_close(&c);
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", true, m), T_OK);
    assert_false(hb__tls_resumed(c.t));
    s_close(&c);
    hb__tls_memo_free(&m);
    assert_null(m);
    s_prof_free(&p);
    s_prof_free(&other);
}

static void test_resumption(void **state)
{
    hbt_server *s = s_python("good", "--version", "1.3", NULL);
    s_resume_case(s, true, "TLSv1.3");
    hbt_server_stop(&s);
    s = s_python("good", "--version", "1.2", NULL);
    s_resume_case(s, true, "TLSv1.2");
    hbt_server_stop(&s);
    s = s_openssl("good", "-tls1_3", NULL);
    s_resume_case(s, false, "TLSv1.3");
    hbt_server_stop(&s);
    s = s_openssl("good", "-tls1_2", NULL);
    s_resume_case(s, false, "TLSv1.2");
    hbt_server_stop(&s);
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
        hbt_server *s = s_python("good", "--version", vers[v], NULL);
        tc c;
        assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "localhost", true, NULL), T_OK);
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
        hbt_server_stop(&s);
    }
    s_prof_free(&p);
}

/* Trimmed when quiet, buffers come back on use; a trim with half a record
 * inside OpenSSL keeps it. */
static void test_trim(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    hbt_server *s = s_python("good", NULL);
    tc c;
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", true, NULL), T_OK);
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
    hbt_server_stop(&s);
    s_prof_free(&p);
}

/* Bytes allocated from the heap by this process (every arena). */
static size_t s_heap(void)
{
    return mallinfo2().uordblks;
}

/* Whether s_heap sees malloc: not under valgrind or a sanitizer, whose
 * malloc is not glibc's. */
static bool s_heap_seen(void)
{
    size_t before = s_heap();
    void *volatile p = malloc(40000);
    size_t after = s_heap();
    free(p);
    return after >= before + 40000;
}

/* A new or trimmed session frees its buffers (OpenSSL's two of ~17 KB,
 * ours of 4 KB) as soon as they empty; a busy one (16 reads and writes)
 * keeps them until it is trimmed. */
static void test_release(void **state)
{
    hb__tls_profile p = s_prof("ca.pem", NULL, NULL);
    hbt_server *s = s_python("good", NULL);
    tc c;
    assert_int_equal(s_dial(&c, hbt_server_port(s), &p, "127.0.0.1", true, NULL), T_OK);
    s_echo(&c, 100);
    if (!s_heap_seen()) {
        s_close(&c);
        hbt_server_stop(&s);
        s_prof_free(&p);
        skip();
    }
    size_t idle = s_heap();
    for (int i = 0; i < 16; i++) s_echo(&c, 100);
    size_t busy = s_heap();
    print_message("  heap: %zu idle, %zu busy\n", idle, busy);
    assert_true(busy >= idle + 30000);
    hb__tls_trim(c.t);
    assert_true(s_heap() + 30000 <= busy);
    s_echo(&c, 100);
    assert_true(s_heap() + 30000 <= busy);
    s_close(&c);
    hbt_server_stop(&s);
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
        cmocka_unit_test_teardown(test_echo_python, hbt_reap),
        cmocka_unit_test_teardown(test_echo_openssl, hbt_reap),
        cmocka_unit_test_teardown(test_sni, hbt_reap),
        cmocka_unit_test_teardown(test_wrong_host, hbt_reap),
        cmocka_unit_test_teardown(test_ip_literal_cert, hbt_reap),
        cmocka_unit_test_teardown(test_expired, hbt_reap),
        cmocka_unit_test_teardown(test_untrusted_and_ca_file, hbt_reap),
        cmocka_unit_test_teardown(test_verify_false, hbt_reap),
        cmocka_unit_test_teardown(test_client_cert, hbt_reap),
        cmocka_unit_test_teardown(test_alert_mid_stream, hbt_reap),
        cmocka_unit_test_teardown(test_close_without_notify, hbt_reap),
        cmocka_unit_test_teardown(test_close_notify, hbt_reap),
        cmocka_unit_test_teardown(test_hangup_in_handshake, hbt_reap),
        cmocka_unit_test_teardown(test_resumption, hbt_reap),
        cmocka_unit_test_teardown(test_profile_check, hbt_reap),
        cmocka_unit_test_teardown(test_cache_share_sweep, hbt_reap),
        cmocka_unit_test_teardown(test_garbage, hbt_reap),
        cmocka_unit_test_teardown(test_trim, hbt_reap),
        cmocka_unit_test_teardown(test_release, hbt_reap),
        cmocka_unit_test_teardown(test_misuse, hbt_reap),
    };
    int rc = s_make_certs();
    if (rc != 0) {
        fprintf(stderr, "could not make certificates with the openssl CLI\n");
        return 1;
    }
    rc = HBT_RUN_GROUP(tests, s_setup, s_teardown);
    hbt_sh("rm -rf %s", s_dir);
    return rc;
}
