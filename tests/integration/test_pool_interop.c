/*
 * test_pool_interop.c: the pool against WebSocket servers of other
 * implementations, ws:// and wss:// where the server does TLS:
 *   - Node's `ws` (tests/interop/ws_server.js; scripts/node-deps.sh
 *     installs it): echo of text, binary and a 300 KB message, a close
 *     code chosen by the server, our close seen by the server as 1000;
 *   - websocketd (Debian package) running `cat`: each line echoed;
 *   - libwebsockets' own test server (Debian's libwebsockets-test-server):
 *     its mirror protocol (our message comes back) and its
 *     dumb-increment protocol (a counter it pushes);
 *   - Python websockets is the server of every other pool test.
 * TLS servers use a certificate for 127.0.0.1 from a CA made here, and the
 * peers verify it (tls.ca_file). lws's test server reads its certificate
 * from its resource folder (-r), where Debian's has a key OpenSSL 3
 * refuses ("ee key too small"): it gets ours under the names it expects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hbt.h"
#include "honeybee/pool.h"

static char s_dir[256];

typedef hbt_fx fx;

static int s_setup(void **state)
{
    *state = hbt_fx_new(&(hbt_fx_opts){.no_server = true});
    return *state ? 0 : -1;
}

static int s_certs(void **state)
{
    (void)state;
    static const hbt_cert certs[] = {
        {"ca", NULL, NULL, 2},
        {"srv", "subjectAltName=IP:127.0.0.1,DNS:localhost", "ca", 2},
    };
    return hbt_certs(s_dir, sizeof(s_dir), "interop", certs, sizeof(certs) / sizeof(certs[0]));
}

static int s_rm_certs(void **state)
{
    (void)state;
    hbt_sh("rm -rf %s", s_dir);
    return 0;
}

static void s_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", s_dir, name);
}

/* Connects peer `id` to url, with the test CA (or no verification). */
static void s_peer(fx *f, const char *id, const char *url, bool verify, const char *subprotocol)
{
    hb_peer_cfg p;
    hbt_peer(&p, id, url);
    p.opts.max_message_size = 4u << 20;
    p.opts.tls.verify = verify;
    char ca[300];
    s_path(ca, sizeof(ca), "ca.pem");
    p.opts.tls.ca_file = strdup(ca);
    if (subprotocol) {
        p.n_subprotocols = 1;
        p.subprotocols = calloc(1, sizeof(char *));
        p.subprotocols[0] = strdup(subprotocol);
    }
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    hb_event *c = hbt_wait_event(&f->sink, HB_EV_CONNECTED, id, 1, 10000);
    if (!c) {
        hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, id, 1, 10);
        print_message("%s: not connected: %s\n", id, e && e->error ? e->error : "(no event)");
    }
    assert_non_null(c);
}

static void s_expect_echo(fx *f, const char *id, int n, const void *data, size_t len, bool binary)
{
    hb_inbox_msg *m = hbt_wait_msg_of(&f->sink, id, (size_t)n, 10000);
    assert_non_null(m);
    assert_int_equal(m->len, len);
    assert_memory_equal(m->data, data, len);
    assert_int_equal(!!(m->flags & HB_MSG_F_BINARY), binary);
}

/* ---- Node ws ------------------------------------------------------------------ */

static bool s_have_node_ws(void)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/tests/interop/node_modules/ws/package.json", hbt_source_dir());
    if (access(p, R_OK) == 0) return true;
    print_message("%s missing: run scripts/node-deps.sh\n", p);
    return false;
}

static void s_node_case(fx *f, bool tls)
{
    assert_true(s_have_node_ws());
    char js[600], cert[300], key[300];
    snprintf(js, sizeof(js), "%s/tests/interop/ws_server.js", hbt_source_dir());
    s_path(cert, sizeof(cert), "srv.pem");
    s_path(key, sizeof(key), "srv.key");
    const char *plain[] = {"node", js, "--port", "%PORT%", NULL};
    const char *secure[] = {"node", js, "--port", "%PORT%", "--tls", cert, key, NULL};
    hbt_server *c = hbt_spawn(tls ? secure : plain, NULL, HBT_SPAWN_QUIET);
    assert_non_null(c);
    char url[128];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d/echo", tls ? "wss" : "ws", hbt_server_port(c));
    const char *id = tls ? "node-wss" : "node-ws";
    s_peer(f, id, url, true, NULL);

    assert_int_equal(hb_pool_send(f->pool, id, "héllo", 6, HB_MSG_TEXT), 0);
    s_expect_echo(f, id, 1, "héllo", 6, false);
    const unsigned char bin[] = {0, 1, 2, 0xff, 0xfe};
    assert_int_equal(hb_pool_send(f->pool, id, bin, sizeof(bin), HB_MSG_BINARY), 0);
    s_expect_echo(f, id, 2, bin, sizeof(bin), true);
    /* Larger than any receive buffer, TLS record or frame header form. */
    size_t big = 300 * 1024;
    char *b = malloc(big);
    for (size_t i = 0; i < big; i++) b[i] = (char)('a' + i % 26);
    assert_int_equal(hb_pool_send(f->pool, id, b, big, HB_MSG_TEXT), 0);
    s_expect_echo(f, id, 3, b, big, false);
    free(b);
    /* The server closes with a code of its choosing: it arrives as sent. */
    assert_int_equal(hb_pool_send(f->pool, id, "close 4002 bye", 14, HB_MSG_TEXT), 0);
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, id, 1, 10000);
    assert_non_null(d);
    assert_string_equal(d->reason, "closed_by_peer");
    assert_int_equal(d->code, 4002);
    assert_string_equal(d->error, "bye");
    /* Reconnected; our own close is a clean 1000 at the server. */
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, id, 2, 10000));
    assert_int_equal(hb_pool_remove(f->pool, id), 0);
    d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, id, 2, 10000);
    assert_non_null(d);
    assert_int_equal(d->code, 1000);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, id, 1, 10000));
    hbt_server_stop(&c);
}

static void test_node_ws(void **state)
{
    s_node_case(*state, false);
}

static void test_node_wss(void **state)
{
    s_node_case(*state, true);
}

/* ---- websocketd ------------------------------------------------------------ */

static void s_websocketd_case(fx *f, bool tls)
{
    char cert[300], key[300], sc[320], sk[320];
    s_path(cert, sizeof(cert), "srv.pem");
    s_path(key, sizeof(key), "srv.key");
    snprintf(sc, sizeof(sc), "--sslcert=%s", cert);
    snprintf(sk, sizeof(sk), "--sslkey=%s", key);
    const char *plain[] = {"websocketd", "--port=%PORT%", "--address=127.0.0.1", "cat", NULL};
    const char *secure[] = {
        "websocketd", "--port=%PORT%", "--address=127.0.0.1", "--ssl", sc, sk, "cat", NULL};
    hbt_server *c = hbt_spawn(tls ? secure : plain, NULL, HBT_SPAWN_QUIET);
    assert_non_null(c);
    char url[128];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", tls ? "wss" : "ws", hbt_server_port(c));
    const char *id = tls ? "wsd-wss" : "wsd-ws";
    s_peer(f, id, url, true, NULL);
    const char *lines[] = {"one", "two, with spaces", "drei: é"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hb_pool_send(f->pool, id, lines[i], strlen(lines[i]), HB_MSG_TEXT), 0);
        s_expect_echo(f, id, i + 1, lines[i], strlen(lines[i]), false);
    }
    assert_int_equal(hb_pool_remove(f->pool, id), 0);
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, id, 1, 10000);
    assert_non_null(d);
    assert_int_equal(d->code, 1000);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, id, 1, 10000));
    hbt_server_stop(&c);
}

static void test_websocketd_ws(void **state)
{
    s_websocketd_case(*state, false);
}

static void test_websocketd_wss(void **state)
{
    s_websocketd_case(*state, true);
}

/* ---- libwebsockets' test server ---------------------------------------------- */

static void s_lws_case(fx *f, bool tls)
{
    assert_int_equal(hbt_sh("cd %s && cp srv.pem libwebsockets-test-server.pem && "
                            "cp srv.key libwebsockets-test-server.key.pem",
                            s_dir),
                     0);
    const char *plain[] = {"libwebsockets-test-server", "--port=%PORT%", NULL};
    const char *secure[] = {
        "libwebsockets-test-server", "--port=%PORT%", "--ssl", "-r", s_dir, NULL};
    hbt_server *c = hbt_spawn(tls ? secure : plain, NULL, HBT_SPAWN_QUIET);
    assert_non_null(c);
    char url[128];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", tls ? "wss" : "ws", hbt_server_port(c));
    /* mirror: what one client sends goes to every mirror client */
    const char *id = tls ? "lws-mirror-wss" : "lws-mirror-ws";
    s_peer(f, id, url, true, "lws-mirror-protocol");
    const char *text = "c #7f0000 20 20 10;";
    assert_int_equal(hb_pool_send(f->pool, id, text, strlen(text), HB_MSG_TEXT), 0);
    s_expect_echo(f, id, 1, text, strlen(text), false);
    /* dumb-increment: a counter it pushes every 50 ms */
    const char *id2 = tls ? "lws-inc-wss" : "lws-inc-ws";
    s_peer(f, id2, url, true, "dumb-increment-protocol");
    hb_inbox_msg *a = hbt_wait_msg_of(&f->sink, id2, 1, 10000);
    hb_inbox_msg *b = hbt_wait_msg_of(&f->sink, id2, 3, 10000);
    assert_non_null(a);
    assert_non_null(b);
    char as[32] = "", bs[32] = "";
    memcpy(as, a->data, a->len < 31 ? a->len : 31);
    memcpy(bs, b->data, b->len < 31 ? b->len : 31);
    print_message("dumb-increment: %s ... %s\n", as, bs);
    assert_int_equal(atoi(bs), atoi(as) + 2);
    assert_int_equal(hb_pool_remove(f->pool, id), 0);
    assert_int_equal(hb_pool_remove(f->pool, id2), 0);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, id, 1, 10000));
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, id2, 1, 10000));
    hbt_server_stop(&c);
}

static void test_lws_ws(void **state)
{
    s_lws_case(*state, false);
}

static void test_lws_wss(void **state)
{
    s_lws_case(*state, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_ws, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_node_wss, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_websocketd_ws, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_websocketd_wss, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_lws_ws, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_lws_wss, s_setup, hbt_fx_teardown),
    };
    return HBT_RUN_GROUP(tests, s_certs, s_rm_certs);
}
