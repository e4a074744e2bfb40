/*
 * test_pool_dial.c: every way a dial can fail, many times over, and the
 * pool still dials a healthy peer at once afterwards (issue 9). Run as is
 * and under valgrind memcheck (tests/CMakeLists.txt): each failure must
 * release what it holds exactly once, report exactly one dial_failed, and
 * give its dial slot (bridge.max_handshakes) back.
 *
 * The misbehaving servers are one thread of this test: a poll loop over a
 * listening socket per behaviour (answer 200, garbage, a 100 KB header, a
 * wrong Sec-WebSocket-Accept, never answer, close at once); a refused
 * port, a host name that does not resolve (the resolver's test hook) and
 * TLS spoken to a plain HTTP server complete the set. Some peers are also
 * removed while their dial is in flight.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hbt.h"
#include "honeybee/pool.h"
#include "pool/pool_int.h"
#include "transport/resolver.h"

#define MS 1000000ull

/* ---- the misbehaving servers ----------------------------------------------- */

enum { M_200, M_GARBAGE, M_BIGHDR, M_BADACCEPT, M_SILENT, M_CLOSE, M__COUNT };

typedef struct s_cl {
    int fd, mode;
    char req[4096];
    size_t len;
    bool answered;
} s_cl;

typedef struct s_bad {
    int lfd[M__COUNT];
    int port[M__COUNT];
    int stop_pipe[2];
    pthread_t t;
    s_cl cl[512];
    int n_cl;
} s_bad;

static s_bad s_srv;

static void s_answer(s_cl *c)
{
    static char big[100 * 1024 + 256];
    const char *a = NULL;
    size_t n = 0;
    switch (c->mode) {
    case M_200:
        a = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        break;
    case M_GARBAGE:
        a = "\x16\x03\x01 this is not HTTP at all \xff\xfe\r\n\r\n";
        break;
    case M_BIGHDR: {
        n = (size_t)snprintf(big, sizeof(big),
                             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nX-Pad: ");
        memset(big + n, 'p', 100 * 1024);
        n += 100 * 1024;
        memcpy(big + n, "\r\n\r\n", 4);
        n += 4;
        a = big;
        break;
    }
    case M_BADACCEPT:
        a = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
        break;
    default:
        return;
    }
    if (!n) n = strlen(a);
    /* Small answers: one send does it on loopback; the big one may be cut,
     * which is fine (the client fails either way). */
    ssize_t w = send(c->fd, a, n, MSG_NOSIGNAL);
    (void)w;
}

static void s_drop_cl(s_bad *b, int i)
{
    close(b->cl[i].fd);
    b->cl[i] = b->cl[--b->n_cl];
}

static void *s_bad_run(void *arg)
{
    s_bad *b = arg;
    struct pollfd pf[M__COUNT + 1 + 512];
    for (;;) {
        int n = 0;
        for (int m = 0; m < M__COUNT; m++) pf[n++] = (struct pollfd){b->lfd[m], POLLIN, 0};
        pf[n++] = (struct pollfd){b->stop_pipe[0], POLLIN, 0};
        for (int i = 0; i < b->n_cl; i++) pf[n++] = (struct pollfd){b->cl[i].fd, POLLIN, 0};
        if (poll(pf, (nfds_t)n, 1000) < 0 && errno != EINTR) break;
        if (pf[M__COUNT].revents) break;
        for (int m = 0; m < M__COUNT; m++) {
            if (!(pf[m].revents & POLLIN)) continue;
            int fd = accept(b->lfd[m], NULL, NULL);
            if (fd < 0) continue;
            if (m == M_CLOSE || b->n_cl == 512) {
                close(fd);
                continue;
            }
            fcntl(fd, F_SETFL, O_NONBLOCK);
            b->cl[b->n_cl++] = (s_cl){.fd = fd, .mode = m};
        }
        /* Clients: read the request; answer once its head is complete. */
        for (int i = b->n_cl - 1; i >= 0; i--) {
            s_cl *c = &b->cl[i];
            char buf[2048];
            ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                s_drop_cl(b, i);
                continue;
            }
            if (r < 0 || c->answered) continue;
            size_t k =
                (size_t)r < sizeof(c->req) - 1 - c->len ? (size_t)r : sizeof(c->req) - 1 - c->len;
            memcpy(c->req + c->len, buf, k);
            c->len += k;
            c->req[c->len] = 0;
            /* A TLS ClientHello never has the blank line: answer that at once. */
            bool tls = (unsigned char)c->req[0] == 0x16;
            if (tls || strstr(c->req, "\r\n\r\n")) {
                c->answered = true;
                s_answer(c);
            }
        }
    }
    for (int i = 0; i < b->n_cl; i++) close(b->cl[i].fd);
    b->n_cl = 0;
    return NULL;
}

static void s_bad_start(s_bad *b)
{
    memset(b, 0, sizeof(*b));
    for (int m = 0; m < M__COUNT; m++) assert_true((b->lfd[m] = hbt_listen(256, &b->port[m])) >= 0);
    assert_int_equal(pipe(b->stop_pipe), 0);
    assert_int_equal(pthread_create(&b->t, NULL, s_bad_run, b), 0);
}

static void s_bad_stop(s_bad *b)
{
    ssize_t w = write(b->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(b->t, NULL);
    for (int m = 0; m < M__COUNT; m++) close(b->lfd[m]);
    close(b->stop_pipe[0]);
    close(b->stop_pipe[1]);
}

/* ---- names: "*.invalid" does not resolve, anything else is 127.0.0.1 ---- */

static int s_lookup(const char *host, char *addr, size_t addrlen, char *err, size_t errlen)
{
    size_t n = strlen(host);
    if (n > 8 && strcmp(host + n - 8, ".invalid") == 0) {
        snprintf(err, errlen, "resolve %s: Name or service not known", host);
        return -1;
    }
    snprintf(addr, addrlen, "127.0.0.1");
    return 0;
}

/* ---- the test -------------------------------------------------------------- */

typedef struct s_kind {
    const char *name;
    char url[128];
    const char *expect; /* in every dial_failed error of this kind */
} s_kind;

static void test_many_failing_dials_then_healthy(void **state)
{
    (void)state;
    hb__resolve_set_lookup(s_lookup);
    s_bad_start(&s_srv);
    hb_pool_config pc = {.max_handshakes = 8, .resolver_threads = 2};
    hbt_fx *f = hbt_fx_new(&(hbt_fx_opts){.pc = &pc});
    assert_non_null(f);
    int noaccept_port = 0;
    int noaccept = hbt_listen(64, &noaccept_port);
    assert_true(noaccept >= 0);
    int closed = hbt_closed_port(); /* after every listener: none takes it */
    print_message("closed port %d, no-accept port %d\n", closed, noaccept_port);

    s_kind kinds[] = {
        {"refused", "", "refused or unreachable"},
        {"dns", "ws://nowhere.invalid:1/", "resolve nowhere.invalid: Name or service not known"},
        {"status200", "", "handshake: status 200"},
        {"garbage", "", "handshake: "},
        {"bigheader", "", "handshake: answer head over"},
        {"badaccept", "", "handshake: "},
        {"silent", "", "connect timeout ("},
        {"closes", "", "handshake: the server closed the connection"},
        {"tls", "", "TLS"},
        {"noaccept", "", "connect timeout ("},
    };
    enum { KINDS = sizeof(kinds) / sizeof(kinds[0]), PER_KIND = 5, DIALS = 10 };
    hbt_url(kinds[0].url, sizeof(kinds[0].url), closed, "/");
    hbt_url(kinds[2].url, sizeof(kinds[2].url), s_srv.port[M_200], "/");
    hbt_url(kinds[3].url, sizeof(kinds[3].url), s_srv.port[M_GARBAGE], "/");
    hbt_url(kinds[4].url, sizeof(kinds[4].url), s_srv.port[M_BIGHDR], "/");
    hbt_url(kinds[5].url, sizeof(kinds[5].url), s_srv.port[M_BADACCEPT], "/");
    hbt_url(kinds[6].url, sizeof(kinds[6].url), s_srv.port[M_SILENT], "/");
    hbt_url(kinds[7].url, sizeof(kinds[7].url), s_srv.port[M_CLOSE], "/");
    snprintf(kinds[8].url, sizeof(kinds[8].url), "wss://127.0.0.1:%d/", s_srv.port[M_200]);
    snprintf(kinds[9].url, sizeof(kinds[9].url), "ws://named.test:%d/", noaccept_port);

    /* The peers that never answer time out quickly, holding a slot (or
     * waiting for one) meanwhile; the others fail for their own reason
     * once a slot is theirs, however long they wait for it. */
    uint64_t timeout_ns = (hbt_slow() ? 1500 : 200) * MS;
    for (int k = 0; k < KINDS; k++)
        for (int i = 0; i < PER_KIND; i++) {
            char id[32];
            snprintf(id, sizeof(id), "%s-%d", kinds[k].name, i);
            hb_peer_cfg p;
            hbt_peer(&p, id, kinds[k].url);
            bool quiet = strstr(kinds[k].expect, "timeout") != NULL;
            p.opts.connect_timeout_ns = quiet ? timeout_ns : 60000 * MS;
            p.opts.reconnect.initial_delay_ns = 1 * MS;
            p.opts.reconnect.max_delay_ns = 5 * MS;
            p.opts.reconnect.max_retries = DIALS - 1;
            assert_int_equal(hb_pool_connect(f->pool, &p), 0);
            hb_peer_cfg_free(&p);
        }
    /* The owner closing mid-dial: removed while their dial waits, resolves
     * or connects. */
    enum { REMOVED = 20 };
    for (int i = 0; i < REMOVED; i++) {
        char id[32];
        snprintf(id, sizeof(id), "gone-%d", i);
        hb_peer_cfg p;
        hbt_peer(&p, id, i % 2 ? kinds[6].url : kinds[9].url);
        assert_int_equal(hb_pool_connect(f->pool, &p), 0);
        hb_peer_cfg_free(&p);
        if (i % 4 == 0) hbt_sleep_ms(5);
        assert_int_equal(hb_pool_remove(f->pool, id), 0);
    }

    int budget = hbt_slow() ? 240000 : 60000;
    for (int k = 0; k < KINDS; k++)
        for (int i = 0; i < PER_KIND; i++) {
            char id[32];
            snprintf(id, sizeof(id), "%s-%d", kinds[k].name, i);
            hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, id, 1, budget);
            assert_non_null(r);
            assert_string_equal(r->reason, "max_retries");
            assert_int_equal(hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, id), DIALS);
            assert_int_equal(hbt_count_events(&f->sink, HB_EV_CONNECTED, id), 0);
            for (int d = 1; d <= DIALS; d++) {
                hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, id, d, 10);
                assert_non_null(e);
                if (!strstr(e->error, kinds[k].expect)) {
                    print_message("%s dial %d: \"%s\", expected \"%s\"\n", id, d, e->error,
                                  kinds[k].expect);
                    fail();
                }
                if (i == 0 && d == 1) print_message("%-10s %s\n", kinds[k].name, e->error);
            }
        }
    for (int i = 0; i < REMOVED; i++) {
        char id[32];
        snprintf(id, sizeof(id), "gone-%d", i);
        hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, id, 1, budget);
        assert_non_null(r);
        assert_string_equal(r->reason, "removed");
        assert_int_equal(hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, id), 0);
    }
    print_message("%d failed dials reported\n",
                  hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, NULL));
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, NULL), KINDS * PER_KIND * DIALS);
    /* Every slot came back. */
    assert_int_equal(hb__pool_dials_in_flight(f->pool), 0);
    assert_int_equal(hb__pool_dials_waiting(f->pool), 0);

    /* A healthy peer connects at once. */
    hb_peer_cfg p;
    hbt_peer(&p, "healthy", f->url);
    uint64_t t0 = hbt_now_ms();
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(
        hbt_wait_event(&f->sink, HB_EV_CONNECTED, "healthy", 1, hbt_slow() ? 10000 : 2000));
    print_message("healthy peer connected in %llu ms\n", (unsigned long long)(hbt_now_ms() - t0));
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, "healthy"), 0);

    hbt_fx_free(&f);
    close(noaccept);
    s_bad_stop(&s_srv);
    hb__resolve_set_lookup(NULL);
}

/* The slot cap holds: with one slot and peers that never answer, the
 * second dial waits its turn (its connect_timeout runs meanwhile, and says
 * what it waited for). */
static void test_slot_wait_times_out(void **state)
{
    (void)state;
    int port = 0;
    int fd = hbt_listen(64, &port);
    assert_true(fd >= 0);
    hb_pool_config pc = {.max_handshakes = 1};
    hbt_fx *f = hbt_fx_new(&(hbt_fx_opts){.no_server = true, .pc = &pc});
    assert_non_null(f);
    char url[128];
    hbt_url(url, sizeof(url), port, "/");
    const char *ids[] = {"first", "second"};
    for (int i = 0; i < 2; i++) {
        hb_peer_cfg p;
        hbt_peer(&p, ids[i], url);
        /* first holds the slot past second's whole connect_timeout */
        p.opts.connect_timeout_ns = (hbt_slow() ? 3000 : 500) * MS * (i == 0 ? 3 : 1);
        p.opts.reconnect.max_retries = 1;
        p.opts.reconnect.initial_delay_ns = p.opts.reconnect.max_delay_ns = 10000 * MS;
        assert_int_equal(hb_pool_connect(f->pool, &p), 0);
        hb_peer_cfg_free(&p);
        if (i == 0) {
            /* first is dialing (holds the one slot) before second asks */
            for (int k = 0; k < 500 && hb__pool_dials_in_flight(f->pool) == 0; k++) hbt_sleep_ms(2);
        }
    }
    hb_event *a = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "first", 1, 20000);
    hb_event *b = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "second", 1, 20000);
    assert_non_null(a);
    assert_non_null(b);
    print_message("first: %s\nsecond: %s\n", a->error, b->error);
    assert_non_null(strstr(a->error, "waiting for the answer"));
    assert_non_null(strstr(b->error, "waiting for a dial slot"));
    hbt_fx_free(&f);
    close(fd);
}

/* public_only (pool.allow_private: false for control connects): the
 * dialler checks the numeric address it connects to, whatever gave it
 * (here the lookup hook answers 127.0.0.1 for every name, as a rebinding
 * DNS server would after a public first answer); the same peer without
 * it connects. */
static void test_public_only_checks_the_address_dialled(void **state)
{
    (void)state;
    hb__resolve_set_lookup(s_lookup);
    hbt_fx *f = hbt_fx_new(NULL);
    assert_non_null(f);
    int port = hbt_server_port(f->srv);
    char named[128], numeric[128];
    snprintf(named, sizeof(named), "ws://relay.example:%d/", port);
    hbt_url(numeric, sizeof(numeric), port, "/");
    const struct {
        const char *id, *url;
        bool public_only;
        const char *expect;
    } cases[] = {
        {"named", named, true,
         "connect relay.example: 127.0.0.1 is a loopback, private or link-local address"},
        {"numeric", numeric, true, "connect 127.0.0.1: a loopback, private or link-local address"},
        {"allowed", named, false, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hb_peer_cfg p;
        hbt_peer(&p, cases[i].id, cases[i].url);
        p.public_only = cases[i].public_only;
        p.opts.reconnect.max_retries = 1;
        p.opts.reconnect.initial_delay_ns = p.opts.reconnect.max_delay_ns = 10 * MS;
        assert_int_equal(hb_pool_connect(f->pool, &p), 0);
        hb_peer_cfg_free(&p);
    }
    int budget = hbt_slow() ? 20000 : 5000;
    for (size_t i = 0; i < 2; i++) {
        hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, cases[i].id, 1, budget);
        assert_non_null(e);
        print_message("%s: %s\n", cases[i].id, e->error);
        assert_non_null(strstr(e->error, cases[i].expect));
        assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, cases[i].id, 1, budget));
        assert_int_equal(hbt_count_events(&f->sink, HB_EV_CONNECTED, cases[i].id), 0);
    }
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "allowed", 1, budget));
    hbt_fx_free(&f);
    hb__resolve_set_lookup(NULL);
}

/* A lookup that outlives the pool: "slow.example" answers after 1.5 s,
 * by when the pool, its loop and the loop's TLS cache are gone. */
static atomic_int s_slow_started, s_slow_done;

static int s_slow_lookup(const char *host, char *addr, size_t addrlen, char *err, size_t errlen)
{
    if (strcmp(host, "slow.example") != 0) return s_lookup(host, addr, addrlen, err, errlen);
    atomic_store(&s_slow_started, 1);
    hbt_sleep_ms(1500);
    snprintf(addr, addrlen, "127.0.0.1");
    atomic_store(&s_slow_done, 1);
    return 0;
}

/* A wss dial waiting on its lookup when the pool is destroyed: its TLS
 * session holds a profile of the loop's cache; the orphaned resolver
 * thread frees the connection after the loop is gone and must not touch
 * the cache (a use-after-free that ASan and valgrind see). */
static void test_destroy_during_slow_lookup(void **state)
{
    (void)state;
    hb__resolve_set_lookup(s_slow_lookup);
    atomic_store(&s_slow_started, 0);
    atomic_store(&s_slow_done, 0);
    hbt_fx *f = hbt_fx_new(&(hbt_fx_opts){.no_server = true});
    assert_non_null(f);
    hb_peer_cfg p;
    hbt_peer(&p, "slow", "wss://slow.example:9/");
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    for (int i = 0; i < 1000 && !atomic_load(&s_slow_started); i++) hbt_sleep_ms(10);
    assert_int_equal(atomic_load(&s_slow_started), 1); /* the dial is in its lookup */
    assert_int_equal(atomic_load(&s_slow_done), 0);
    hbt_fx_free(&f);
    for (int i = 0; i < 400 && !atomic_load(&s_slow_done); i++) hbt_sleep_ms(10);
    assert_int_equal(atomic_load(&s_slow_done), 1);
    hbt_sleep_ms(200); /* the resolver thread frees the connection */
    hb__resolve_set_lookup(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_failing_dials_then_healthy),
        cmocka_unit_test(test_slot_wait_times_out),
        cmocka_unit_test(test_public_only_checks_the_address_dialled),
        cmocka_unit_test(test_destroy_during_slow_lookup),
    };
    return HBT_RUN(tests);
}
