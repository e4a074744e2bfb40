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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hbt.h"
#include "honeybee/pool.h"

static char s_dir[256];

static int s_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* ---- child servers -------------------------------------------------------- */

typedef struct s_child {
    pid_t pid;
    int port;
    int in_fd; /* its stdin: closing it ends the Node server */
} s_child;

static bool s_port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Starts argv (a NULL-terminated list; "%PORT%" is replaced by a free
 * port) and waits until it listens. */
static bool s_spawn(s_child *c, const char *const *argv)
{
    memset(c, 0, sizeof(*c));
    c->port = hbt_closed_port();
    char port[16], *av[32];
    snprintf(port, sizeof(port), "%d", c->port);
    int n = 0;
    char buf[32][64];
    for (; argv[n] && n < 31; n++) {
        const char *p = strstr(argv[n], "%PORT%");
        if (p) {
            snprintf(buf[n], sizeof(buf[n]), "%.*s%s%s", (int)(p - argv[n]), argv[n], port, p + 6);
            av[n] = buf[n];
        } else {
            av[n] = (char *)argv[n];
        }
    }
    av[n] = NULL;
    int in[2];
    if (pipe(in) != 0) return false;
    c->pid = fork();
    if (c->pid == 0) {
        dup2(in[0], 0);
        close(in[1]);
        int null = open("/dev/null", 1);
        dup2(null, 1);
        if (!getenv("HBT_VERBOSE")) dup2(null, 2);
        execvp(av[0], av);
        _exit(127);
    }
    close(in[0]);
    c->in_fd = in[1];
    for (int i = 0; i < 500; i++) {
        if (s_port_open(c->port)) return true;
        int st;
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            c->pid = 0;
            return false;
        }
        hbt_sleep_ms(20);
    }
    return false;
}

static void s_reap(s_child *c)
{
    if (c->in_fd > 0) close(c->in_fd);
    if (c->pid > 0) {
        kill(c->pid, SIGTERM);
        waitpid(c->pid, NULL, 0);
    }
    c->pid = 0;
    c->in_fd = 0;
}

/* ---- fixture ----------------------------------------------------------------- */

typedef struct fx {
    hbt_sink sink;
    hb_pool *pool;
} fx;

static int s_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    hbt_sink_init(&f->sink);
    hb_pool_config pc = {.sink = hbt_sink_get(&f->sink)};
    if (hb_pool_new(&pc, &f->pool) != 0) return -1;
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fx *f = *state;
    hb_pool_destroy(&f->pool);
    hbt_sink_free(&f->sink);
    free(f);
    return 0;
}

static int s_certs(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof(s_dir), "/tmp/hb-interop-XXXXXX");
    if (!mkdtemp(s_dir)) return -1;
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    int rc = s_sh("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 "
                  "-subj '/CN=honeybee interop CA' >/dev/null 2>&1",
                  s_dir, ec);
    rc |= s_sh("cd %s && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > srv.ext && "
               "openssl req %s -keyout srv.key -out srv.csr -subj '/CN=localhost' >/dev/null 2>&1 "
               "&& openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
               "-out srv.pem -days 2 -extfile srv.ext >/dev/null 2>&1",
               s_dir, ec);
    return rc == 0 ? 0 : -1;
}

static int s_rm_certs(void **state)
{
    (void)state;
    s_sh("rm -rf %s", s_dir);
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

/* The n-th message of the sink from peer id (1-based). */
static hb_inbox_msg *s_msg_of(fx *f, const char *id, int n, int timeout_ms)
{
    uint64_t end = hbt_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int seen = 0;
        pthread_mutex_lock(&f->sink.mu);
        for (size_t i = 0; i < f->sink.n_msg; i++)
            if (strcmp(f->sink.msg[i]->peer_id, id) == 0 && ++seen == n) {
                hb_inbox_msg *m = f->sink.msg[i];
                pthread_mutex_unlock(&f->sink.mu);
                return m;
            }
        pthread_mutex_unlock(&f->sink.mu);
        if (hbt_now_ms() > end) return NULL;
        hbt_sleep_ms(5);
    }
}

static void s_expect_echo(fx *f, const char *id, int n, const void *data, size_t len, bool binary)
{
    hb_inbox_msg *m = s_msg_of(f, id, n, 10000);
    assert_non_null(m);
    assert_int_equal(m->len, len);
    assert_memory_equal(m->data, data, len);
    assert_int_equal(!!(m->flags & HB_MSG_F_BINARY), binary);
}

/* ---- Node ws ------------------------------------------------------------------ */

static bool s_have_node_ws(void)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/tests/interop/node_modules/ws/package.json",
             getenv("HB_SOURCE_DIR") ? getenv("HB_SOURCE_DIR") : ".");
    if (access(p, R_OK) == 0) return true;
    print_message("%s missing: run scripts/node-deps.sh\n", p);
    return false;
}

static void s_node_case(fx *f, bool tls)
{
    assert_true(s_have_node_ws());
    char js[600], cert[300], key[300];
    snprintf(js, sizeof(js), "%s/tests/interop/ws_server.js", getenv("HB_SOURCE_DIR"));
    s_path(cert, sizeof(cert), "srv.pem");
    s_path(key, sizeof(key), "srv.key");
    const char *plain[] = {"node", js, "--port", "%PORT%", NULL};
    const char *secure[] = {"node", js, "--port", "%PORT%", "--tls", cert, key, NULL};
    s_child c;
    assert_true(s_spawn(&c, tls ? secure : plain));
    char url[128];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d/echo", tls ? "wss" : "ws", c.port);
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
    s_reap(&c);
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
    s_child c;
    assert_true(s_spawn(&c, tls ? secure : plain));
    char url[128];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", tls ? "wss" : "ws", c.port);
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
    s_reap(&c);
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
    assert_int_equal(s_sh("cd %s && cp srv.pem libwebsockets-test-server.pem && "
                          "cp srv.key libwebsockets-test-server.key.pem",
                          s_dir),
                     0);
    const char *plain[] = {"libwebsockets-test-server", "--port=%PORT%", NULL};
    const char *secure[] = {
        "libwebsockets-test-server", "--port=%PORT%", "--ssl", "-r", s_dir, NULL};
    s_child c;
    assert_true(s_spawn(&c, tls ? secure : plain));
    char url[128];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", tls ? "wss" : "ws", c.port);
    /* mirror: what one client sends goes to every mirror client */
    const char *id = tls ? "lws-mirror-wss" : "lws-mirror-ws";
    s_peer(f, id, url, true, "lws-mirror-protocol");
    const char *text = "c #7f0000 20 20 10;";
    assert_int_equal(hb_pool_send(f->pool, id, text, strlen(text), HB_MSG_TEXT), 0);
    s_expect_echo(f, id, 1, text, strlen(text), false);
    /* dumb-increment: a counter it pushes every 50 ms */
    const char *id2 = tls ? "lws-inc-wss" : "lws-inc-ws";
    s_peer(f, id2, url, true, "dumb-increment-protocol");
    hb_inbox_msg *a = s_msg_of(f, id2, 1, 10000), *b = s_msg_of(f, id2, 3, 10000);
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
    s_reap(&c);
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
        cmocka_unit_test_setup_teardown(test_node_ws, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_node_wss, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_websocketd_ws, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_websocketd_wss, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lws_ws, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lws_wss, s_setup, s_teardown),
    };
    if (getenv("HBT_FILTER")) cmocka_set_test_filter(getenv("HBT_FILTER"));
    return cmocka_run_group_tests(tests, s_certs, s_rm_certs);
}
