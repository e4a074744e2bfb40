/*
 * test_pool_tls.c: wss:// against ws_server.py --tls with certificates made
 * at test time by the openssl CLI (a CA, a server certificate for
 * 127.0.0.1/localhost, and one for another name):
 *   - a server whose CA we do not know is refused by default;
 *   - with tls.ca_file it is accepted, by IP and by name (the name goes
 *     through the resolver thread and is used for SNI and verification);
 *   - a certificate for another host name is refused even with the CA;
 *   - tls.verify: false accepts it;
 *   - a server that demands a client certificate accepts tls.cert_file and
 *     tls.key_file and refuses a client without them;
 *   - an idle connection's OpenSSL buffers are freed after about a second
 *     of quiet, and messages (one of many TLS records) still arrive whole
 *     afterwards, each quiet period freeing them again;
 *   - an expired certificate is refused, and says so;
 *   - a server that drops TCP without close_notify is connection_lost;
 *   - a record damaged in mid-stream (a relay here flips a bit of one the
 *     server sends) ends the connection with our TLS alert (bad record
 *     MAC) named in the event, and the peer reconnects;
 *   - a reconnect resumes the TLS session (the server says so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hbt.h"
#include "honeybee/pool.h"
#include "pool/pool_int.h"

static char s_dir[256];
static char s_ca[300];
static hbt_server *s_bad; /* a certificate for another name; f->srv has the good one */

static int s_make_certs(void **state)
{
    (void)state;
    static const hbt_cert certs[] = {
        {"ca", NULL, NULL, 2},
        {"good", "subjectAltName=IP:127.0.0.1,DNS:localhost", "ca", 2},
        {"bad", "subjectAltName=DNS:wrong.example", "ca", 2},
        {"client", "extendedKeyUsage=clientAuth", "ca", 2},
        {"expired", "subjectAltName=IP:127.0.0.1,DNS:localhost", "ca", -1},
    };
    if (hbt_certs(s_dir, sizeof(s_dir), "tls", certs, sizeof(certs) / sizeof(certs[0])) != 0)
        return -1;
    snprintf(s_ca, sizeof(s_ca), "%s/ca.pem", s_dir);
    return 0;
}

static int s_rm_certs(void **state)
{
    (void)state;
    hbt_sh("rm -rf %s", s_dir);
    return 0;
}

typedef hbt_fx fx;

static hbt_server *s_tls_server(const char *name)
{
    char cert[300], key[300];
    snprintf(cert, sizeof(cert), "%s/%s.pem", s_dir, name);
    snprintf(key, sizeof(key), "%s/%s.key", s_dir, name);
    const char *args[] = {"--tls", cert, key, NULL};
    return hbt_server_start(args);
}

static int s_setup(void **state)
{
    char cert[300], key[300];
    snprintf(cert, sizeof(cert), "%s/good.pem", s_dir);
    snprintf(key, sizeof(key), "%s/good.key", s_dir);
    const char *args[] = {"--tls", cert, key, NULL};
    hb_pool_config pc = {.resolver_threads = 1};
    fx *f = hbt_fx_new(&(hbt_fx_opts){.server_args = args, .pc = &pc});
    assert_non_null(f);
    *state = f;
    s_bad = s_tls_server("bad");
    assert_non_null(s_bad);
    return 0;
}

static int s_teardown(void **state)
{
    hbt_server_stop(&s_bad);
    return hbt_fx_teardown(state);
}

static void s_peer(fx *f, const char *id, const char *host, hbt_server *srv, const char *ca,
                   bool verify)
{
    char url[256];
    snprintf(url, sizeof(url), "wss://%s:%d/", host, hbt_server_port(srv));
    hb_peer_cfg p;
    hbt_peer(&p, id, url);
    p.opts.reconnect.max_retries = 1;
    p.opts.tls.verify = verify;
    if (ca) p.opts.tls.ca_file = strdup(ca);
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
}

static void test_unknown_ca_refused(void **state)
{
    fx *f = *state;
    s_peer(f, "noca", "127.0.0.1", f->srv, NULL, true);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "noca", 1, 10000);
    assert_non_null(r);
    assert_string_equal(r->reason, "max_retries");
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_CONNECTED, "noca"), 0);
    hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "noca", 1, 10);
    print_message("refused: %s\n", e->error ? e->error : "(none)");
}

static void test_ca_file_accepted(void **state)
{
    fx *f = *state;
    s_peer(f, "ip", "127.0.0.1", f->srv, s_ca, true);
    s_peer(f, "name", "localhost", f->srv, s_ca, true);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "ip", 1, 10000));
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "name", 1, 10000));
    assert_true(hbt_server_wait(f->srv, "OPEN ", 5000, NULL, 0));
    assert_true(hbt_server_wait(f->srv, "OPEN ", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "send text secret");
    hb_inbox_msg *m = hbt_wait_msg(&f->sink, 2, 5000);
    assert_non_null(m);
    assert_int_equal(m->len, 6);
    assert_memory_equal(m->data, "secret", 6);
    assert_int_equal(hb_pool_send(f->pool, "name", "up", 2, HB_MSG_TEXT), 0);
    assert_true(hbt_server_wait(f->srv, "RECV ", 5000, NULL, 0));
}

static void test_host_name_mismatch_refused(void **state)
{
    fx *f = *state;
    s_peer(f, "wrong", "127.0.0.1", s_bad, s_ca, true);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "wrong", 1, 10000);
    assert_non_null(r);
    assert_string_equal(r->reason, "max_retries");
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_CONNECTED, "wrong"), 0);
}

/* A TLS profile (one SSL_CTX) nobody uses any more is released. */
static void test_profiles_released(void **state)
{
    fx *f = *state;
    assert_int_equal(hb__pool_tls_profiles(f->pool), 0);
    s_peer(f, "p1", "127.0.0.1", f->srv, s_ca, true);
    s_peer(f, "p2", "localhost", f->srv, s_ca, true); /* same profile */
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "p1", 1, 10000));
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "p2", 1, 10000));
    assert_int_equal(hb__pool_tls_profiles(f->pool), 1);
    assert_int_equal(hb_pool_remove(f->pool, "p1"), 0);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, "p1", 1, 5000));
    hbt_sleep_ms(700); /* idle grace is 100 ms here, the sweep runs every 500 ms */
    assert_int_equal(hb__pool_tls_profiles(f->pool), 1); /* p2 still uses it */
    assert_int_equal(hb_pool_remove(f->pool, "p2"), 0);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, "p2", 1, 5000));
    for (int i = 0; i < 400 && hb__pool_tls_profiles(f->pool) != 0; i++) hbt_sleep_ms(10);
    assert_int_equal(hb__pool_tls_profiles(f->pool), 0);
    /* and it comes back on demand */
    s_peer(f, "p3", "127.0.0.1", f->srv, s_ca, true);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "p3", 1, 10000));
    hbt_server_cmd(f->srv, "send text again");
    assert_non_null(hbt_wait_msg(&f->sink, 1, 5000));
}

static void test_bad_ca_file(void **state)
{
    fx *f = *state;
    s_peer(f, "badca", "127.0.0.1", f->srv, "/nonexistent/ca.pem", true);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "badca", 1, 10000);
    assert_non_null(r);
    hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "badca", 1, 10);
    assert_non_null(e);
    print_message("bad ca_file: %s\n", e->error);
    assert_non_null(strstr(e->error, "TLS"));
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_CONNECTED, "badca"), 0);
}

static void test_verify_false_accepts(void **state)
{
    fx *f = *state;
    s_peer(f, "lax", "127.0.0.1", s_bad, NULL, false);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "lax", 1, 10000));
}

static void test_client_certificate(void **state)
{
    fx *f = *state;
    char cert[300], key[300], scert[300], skey[300];
    snprintf(cert, sizeof(cert), "%s/client.pem", s_dir);
    snprintf(key, sizeof(key), "%s/client.key", s_dir);
    snprintf(scert, sizeof(scert), "%s/good.pem", s_dir);
    snprintf(skey, sizeof(skey), "%s/good.key", s_dir);
    const char *args[] = {"--tls", scert, skey, "--client-ca", s_ca, NULL};
    hbt_server *srv = hbt_server_start(args);
    assert_non_null(srv);
    char url[256];
    snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", hbt_server_port(srv));
    hb_peer_cfg p;
    hbt_peer(&p, "mtls", url);
    p.opts.tls.ca_file = strdup(s_ca);
    p.opts.tls.cert_file = strdup(cert);
    p.opts.tls.key_file = strdup(key);
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    hbt_peer(&p, "nocert", url);
    p.opts.tls.ca_file = strdup(s_ca);
    p.opts.reconnect.max_retries = 1;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "mtls", 1, 10000));
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "nocert", 1, 10000);
    assert_non_null(r);
    assert_string_equal(r->reason, "max_retries");
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_CONNECTED, "nocert"), 0);
    hbt_server_stop(&srv);
}

static bool s_trims_at_least(void *ud)
{
    void **a = ud;
    return hb__pool_tls_trims(a[0]) >= *(uint32_t *)a[1];
}

static void s_wait_trims(fx *f, uint32_t n)
{
    void *a[2] = {f->pool, &n};
    assert_true(hbt_until(s_trims_at_least, a, 10000));
}

static void test_idle_buffers_freed(void **state)
{
    fx *f = *state;
    s_peer(f, "idle", "127.0.0.1", f->srv, s_ca, true);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "idle", 1, 10000));
    assert_true(hbt_server_wait(f->srv, "OPEN ", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "send text first");
    assert_non_null(hbt_wait_msg(&f->sink, 1, 5000));
    /* Quiet now: the read buffer that "first" needed is released. */
    s_wait_trims(f, 1);
    uint32_t before = hb__pool_tls_trims(f->pool);
    /* 200 KB is 13 TLS records: read into a buffer allocated again. */
    hbt_server_cmd(f->srv, "big 200000");
    hb_inbox_msg *m = hbt_wait_msg(&f->sink, 2, 10000);
    assert_non_null(m);
    assert_int_equal(m->len, 200000);
    for (size_t i = 0; i < m->len; i++)
        if (m->data[i] != 'x') fail_msg("byte %zu is %d", i, m->data[i]);
    /* And the next quiet period frees it again. */
    s_wait_trims(f, before + 1);
    hbt_server_cmd(f->srv, "send text last");
    m = hbt_wait_msg(&f->sink, 3, 5000);
    assert_non_null(m);
    assert_memory_equal(m->data, "last", 4);
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DISCONNECTED, "idle"), 0);
}

static void test_expired_refused(void **state)
{
    fx *f = *state;
    hbt_server *srv = s_tls_server("expired");
    assert_non_null(srv);
    char url[256];
    snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", hbt_server_port(srv));
    hb_peer_cfg p;
    hbt_peer(&p, "old", url);
    p.opts.reconnect.max_retries = 1;
    p.opts.connect_timeout_ns = 30000000000ull; /* a slow (sanitizer) build must not time out */
    p.opts.tls.ca_file = strdup(s_ca);
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "old", 1, 60000);
    assert_non_null(r);
    assert_string_equal(r->reason, "max_retries");
    hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "old", 1, 10);
    print_message("expired: %s\n", e->error);
    assert_non_null(strstr(e->error, "certificate has expired"));
    hbt_server_stop(&srv);
}

static void test_drop_without_close_notify(void **state)
{
    fx *f = *state;
    s_peer(f, "cut", "127.0.0.1", f->srv, s_ca, true);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "cut", 1, 10000));
    assert_true(hbt_server_wait(f->srv, "OPEN 1 ", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "drop"); /* TCP abort: no close frame, no close_notify */
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "cut", 1, 5000);
    assert_non_null(d);
    assert_string_equal(d->reason, "connection_lost");
    assert_int_equal(d->code, 1006);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "cut", 2, 10000));
}

/* ---- a relay that damages one record from the server to us ---- */

#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>

typedef struct s_relay {
    int lfd, port, to_port;
    atomic_bool damage, stop;
    pthread_t t;
} s_relay;

static void *s_relay_run(void *arg)
{
    s_relay *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd lp = {r->lfd, POLLIN, 0};
        if (poll(&lp, 1, 100) <= 0) continue;
        int a = accept(r->lfd, NULL, NULL);
        if (a < 0) continue;
        int b = hbt_tcp_connect(r->to_port);
        if (b < 0) {
            close(a);
            continue;
        }
        struct pollfd pf[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
        unsigned char buf[65536];
        while (!atomic_load(&r->stop)) {
            if (poll(pf, 2, 100) <= 0) continue;
            ssize_t n = 0;
            if (pf[0].revents) {
                n = recv(a, buf, sizeof(buf), 0);
                if (n > 0) n = send(b, buf, (size_t)n, MSG_NOSIGNAL);
            } else if (pf[1].revents) {
                n = recv(b, buf, sizeof(buf), 0);
                if (n > 0 && atomic_exchange(&r->damage, false)) buf[n - 1] ^= 0x55;
                if (n > 0) n = send(a, buf, (size_t)n, MSG_NOSIGNAL);
            }
            if (n <= 0) break;
        }
        close(a);
        close(b);
    }
    return NULL;
}

static void test_alert_mid_stream(void **state)
{
    fx *f = *state;
    s_relay r = {.to_port = hbt_server_port(f->srv)};
    r.lfd = hbt_listen(8, &r.port);
    assert_true(r.lfd >= 0);
    assert_int_equal(pthread_create(&r.t, NULL, s_relay_run, &r), 0);
    char url[128];
    snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", r.port);
    hb_peer_cfg p;
    hbt_peer(&p, "alert", url);
    p.opts.tls.ca_file = strdup(s_ca);
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "alert", 1, 10000));
    assert_true(hbt_server_wait(f->srv, "OPEN 1 ", 5000, NULL, 0));
    assert_int_equal(hb_pool_send(f->pool, "alert", "intact", 6, HB_MSG_TEXT), 0);
    assert_true(hbt_server_wait(f->srv, "RECV 1 text \"intact\"", 5000, NULL, 0));
    atomic_store(&r.damage, true);
    hbt_server_cmd(f->srv, "send text damaged");
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "alert", 1, 5000);
    assert_non_null(d);
    print_message("alert: %s %d %s\n", d->reason, d->code, d->error ? d->error : "-");
    assert_string_equal(d->reason, "connection_lost");
    assert_int_equal(d->code, 1006);
    assert_non_null(d->error);
    assert_non_null(strstr(d->error, "TLS"));
    assert_int_equal(hbt_count_msgs(&f->sink), 0); /* nothing of the damaged record */
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "alert", 2, 10000));
    atomic_store(&r.stop, true);
    pthread_join(r.t, NULL);
    close(r.lfd);
}

static void test_resumed_on_reconnect(void **state)
{
    fx *f = *state;
    s_peer(f, "again", "127.0.0.1", f->srv, s_ca, true);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "again", 1, 10000));
    char line[4096];
    assert_true(hbt_server_wait(f->srv, "OPEN 1 ", 5000, line, sizeof(line)));
    assert_non_null(strstr(line, "\"tls_resumed\": false"));
    /* A message first: TLS 1.3 tickets arrive after the handshake. */
    hbt_server_cmd(f->srv, "send text ticket");
    assert_non_null(hbt_wait_msg(&f->sink, 1, 5000));
    hbt_server_cmd(f->srv, "close 1012 restart");
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "again", 2, 10000));
    assert_true(hbt_server_wait(f->srv, "OPEN 2 ", 5000, line, sizeof(line)));
    print_message("second connection: %s\n", line);
    assert_non_null(strstr(line, "\"tls_resumed\": true"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_ca_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ca_file_accepted, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_host_name_mismatch_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_verify_false_accepts, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bad_ca_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_profiles_released, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_client_certificate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_idle_buffers_freed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_expired_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_drop_without_close_notify, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_alert_mid_stream, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_resumed_on_reconnect, s_setup, s_teardown),
    };
    setenv("HB_TLS_PROFILE_IDLE_MS", "100", 1); /* profiles churn: exercise it */
    return HBT_RUN_GROUP(tests, s_make_certs, s_rm_certs);
}
