/*
 * test_pool_faults.c: how the pool meets faults, against real sockets (each
 * one found in review):
 *   - a host-name peer whose dial fails inside lws's connect call (no file
 *     descriptor left) must not free the connection twice (ASan catches
 *     it);
 *   - a peer that breaks the protocol (RSV bits, reserved opcode) is closed
 *     with 1002 and gives `disconnected` protocol_error 1002, a cut
 *     connection connection_lost 1006; a peer's close code arrives as sent
 *     (1012 too: libwebsockets turned it into 1002 before the dialer owned
 *     the WebSocket protocol);
 *   - a server's ping is answered, also between the fragments of a message;
 *   - handshake headers go out whole however large (lws used to drop what
 *     did not fit its buffer); a server that refuses them fails the dial
 *     at the handshake;
 *   - write_timeout does not count the time a message waits in the queue
 *     behind messages that are being written;
 *   - a queued message whose write fails is reported (send_failed);
 *   - list/peer_info report the attempt of the current connection;
 *   - the resolver: one lookup per peer in flight, a bounded queue, and an
 *     abandoned lookup is skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hbt.h"
#include "honeybee/pool.h"
#include "transport/loop.h"

#define MS 1000000ull

typedef hbt_fx fx;

static int s_setup(void **state)
{
    hb_pool_config pc = {.resolver_threads = 1, .command_queue = 64};
    *state = hbt_fx_new(&(hbt_fx_opts){.pc = &pc});
    assert_non_null(*state);
    return 0;
}

static int s_teardown(void **state)
{
    hbt_fx_teardown(state);
    hb__resolve_set_lookup(NULL);
    return 0;
}

/* Finding 1: a host-name peer whose connect fails synchronously: out of
 * file descriptors, so socket() fails inside lws_client_connect_via_info
 * (the fake resolver needs no descriptor, getaddrinfo would). */
static int s_loopback_lookup(const char *host, char *addr, size_t addrlen, char *err, size_t errlen)
{
    (void)host;
    (void)err;
    (void)errlen;
    snprintf(addr, addrlen, "127.0.0.1");
    return 0;
}

static void test_hostname_sync_dial_failure(void **state)
{
    fx *f = *state;
    hb__resolve_set_lookup(s_loopback_lookup);
    char url[128];
    snprintf(url, sizeof(url), "ws://localhost:%d/", hbt_server_port(f->srv));
    hb_peer_cfg p;
    hbt_peer(&p, "lh", url);
    p.opts.reconnect.initial_delay_ns = 10 * MS;
    p.opts.reconnect.max_delay_ns = 20 * MS;
    p.opts.reconnect.max_retries = 3;
    /* No descriptor left: lower the soft limit and fill every free slot. */
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fill[256], nfill = 0;
    while (nfill < 256 && (fill[nfill] = dup(0)) >= 0) nfill++;
    assert_true(nfill < 256);
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "lh", 1, 10000);
    while (nfill > 0) close(fill[--nfill]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_non_null(r);
    assert_string_equal(r->reason, "max_retries");
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, "lh"), 4);
    hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "lh", 1, 10);
    print_message("dial_failed: %s\n", e->error);
    assert_non_null(strstr(e->error, "connect 127.0.0.1:"));
    assert_non_null(strstr(e->error, "socket"));
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_CONNECTED, "lh"), 0);
}

/* Finding 3: protocol_error, and the close codes lws 4.1.6 used to rewrite. */
static void test_protocol_error_and_close_codes(void **state)
{
    fx *f = *state;
    assert_true(hbt_fx_connect(f, "pe", 1));
    hbt_server_cmd(f->srv, "raw c10161"); /* FIN+RSV1 text frame "a" */
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "pe", 1, 5000);
    assert_non_null(d);
    assert_string_equal(d->reason, "protocol_error");
    assert_int_equal(d->code, 1002);
    assert_true(hbt_server_wait(f->srv, "CLOSED 1 1002", 5000, NULL, 0)); /* we said so */
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "pe", 2, 5000));
    assert_true(hbt_server_wait(f->srv, "OPEN 2 ", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "raw 830161"); /* reserved opcode 3 */
    d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "pe", 2, 5000);
    assert_non_null(d);
    assert_string_equal(d->reason, "protocol_error");
    assert_int_equal(d->code, 1002);
    assert_true(hbt_server_wait(f->srv, "CLOSED 2 1002", 5000, NULL, 0));
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "pe", 3, 5000));
    assert_true(hbt_server_wait(f->srv, "OPEN 3 ", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "drop"); /* TCP cut: not a protocol error */
    d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "pe", 3, 5000);
    assert_non_null(d);
    assert_string_equal(d->reason, "connection_lost");
    assert_int_equal(d->code, 1006);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "pe", 4, 5000));
    assert_true(hbt_server_wait(f->srv, "OPEN 4 ", 5000, NULL, 0));
    /* lws 4.1.6 turned a peer's 1012-1014 into 1002; the codec does not. */
    hbt_server_cmd(f->srv, "close 1012 restarting");
    d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "pe", 4, 5000);
    assert_non_null(d);
    assert_string_equal(d->reason, "closed_by_peer");
    assert_string_equal(d->error, "restarting");
    assert_int_equal(d->code, 1012);
    assert_true(hbt_server_wait(f->srv, "CLOSED 4 1012", 5000, NULL, 0)); /* echoed */
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "pe", 5, 5000));
    assert_true(hbt_server_wait(f->srv, "OPEN 5 ", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "close 4001 custom");
    d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "pe", 5, 5000);
    assert_non_null(d);
    assert_string_equal(d->reason, "closed_by_peer");
    assert_int_equal(d->code, 4001);
}

/* The server's pings are answered, also between the fragments of a
 * message (control frames go ahead; the message still arrives whole). */
static void test_ping_between_fragments(void **state)
{
    fx *f = *state;
    assert_true(hbt_fx_connect(f, "pp", 1));
    hbt_server_cmd(f->srv, "ping alone");
    assert_true(hbt_server_wait(f->srv, "PONG 1", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "raw 01 03 616263"); /* text "abc", not final */
    hbt_server_cmd(f->srv, "ping between");
    assert_true(hbt_server_wait(f->srv, "PONG 1", 5000, NULL, 0));
    assert_int_equal(hbt_count_msgs(&f->sink), 0);
    hbt_server_cmd(f->srv, "raw 80 03 646566"); /* continuation "def", final */
    hb_inbox_msg *m = hbt_wait_msg(&f->sink, 1, 5000);
    assert_non_null(m);
    assert_int_equal(m->len, 6);
    assert_memory_equal(m->data, "abcdef", 6);
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DISCONNECTED, "pp"), 0);
}

/* Finding 16: handshake headers go out whole (lws dropped what did not fit
 * its buffer); this server refuses 300 KB of them, so the dial fails at the
 * handshake and says so. */
static void test_headers_too_large(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "hdr", f->url);
    p.opts.reconnect.max_retries = 1;
    p.n_headers = 1;
    p.headers = calloc(1, sizeof(hb_header));
    p.headers[0].name = strdup("X-Big");
    p.headers[0].value = malloc(300001);
    memset(p.headers[0].value, 'v', 300000);
    p.headers[0].value[300000] = 0;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "hdr", 1, 10000);
    assert_non_null(r);
    assert_string_equal(r->reason, "max_retries");
    hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "hdr", 1, 10);
    assert_non_null(e);
    assert_non_null(e->error);
    print_message("dial_failed: %s\n", e->error);
    assert_non_null(strstr(e->error, "handshake"));
    assert_int_equal(hbt_server_count(f->srv, "OPEN "), 0);
}

/* Finding 2: a long queue towards a peer that reads steadily but slowly. */
static void test_write_timeout_not_queue_wait(void **state)
{
    fx *f = *state;
    hbt_server_cmd(f->srv, "recvlen on");
    assert_true(hbt_server_wait(f->srv, "OK recvlen", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "slowread 20");
    assert_true(hbt_server_wait(f->srv, "OK slowread", 5000, NULL, 0));
    hb_peer_cfg p;
    hbt_peer(&p, "busy", f->url);
    p.opts.write_timeout_ns = 300 * MS;
    p.opts.max_message_size = 1u << 20;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "busy", 1, 5000));
    /* ~19 MB read in bursts every 20 ms: about a second for the server,
     * far more than the socket buffers hold, so most messages wait in the
     * queue much longer than write_timeout while writes keep going through
     * every few ms. */
    enum { N = 300, SZ = 64 * 1024 };
    char *buf = malloc(SZ);
    memset(buf, 'x', SZ);
    uint64_t t0 = hbt_now_ms();
    for (int i = 0; i < N; i++)
        assert_int_equal(hb_pool_send(f->pool, "busy", buf, SZ, HB_MSG_BINARY), 0);
    free(buf);
    for (int i = 0; i < 3000; i++) {
        if (hbt_server_count(f->srv, "RECV 1 len") == N) break;
        if (hbt_count_events(&f->sink, HB_EV_DISCONNECTED, "busy")) break;
        hbt_sleep_ms(5);
    }
    uint64_t took = hbt_now_ms() - t0;
    print_message("%d x %d KiB drained in %llu ms (write_timeout 300 ms)\n", N, SZ / 1024,
                  (unsigned long long)took);
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "busy", 1, 10);
    if (d) print_message("disconnected: %s\n", d->reason);
    assert_null(d);
    assert_int_equal(hbt_server_count(f->srv, "RECV 1 len"), N);
    assert_true(took > 600); /* else the test proved nothing */
}

/* Finding 4: messages taken off the queue whose write fails are reported. */
static void test_failed_write_reported(void **state)
{
    fx *f = *state;
    hbt_server_cmd(f->srv, "recvlen on");
    assert_true(hbt_server_wait(f->srv, "OK recvlen", 5000, NULL, 0));
    int total_queued = 0;
    for (int round = 0; round < 5; round++) {
        char id[16];
        snprintf(id, sizeof(id), "wf%d", round);
        hb_peer_cfg p;
        hbt_peer(&p, id, f->url);
        /* No reconnect before the remove: server connection numbers stay
         * one per round. */
        p.opts.reconnect.initial_delay_ns = p.opts.reconnect.max_delay_ns = 30000 * MS;
        assert_int_equal(hb_pool_connect(f->pool, &p), 0);
        hb_peer_cfg_free(&p);
        assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, id, 1, 5000));
        char want[32];
        snprintf(want, sizeof(want), "OPEN %d ", round + 1);
        assert_true(hbt_server_wait(f->srv, want, 5000, NULL, 0));
        char *buf = malloc(64 * 1024);
        memset(buf, 'y', 64 * 1024);
        int queued = 0;
        for (int i = 0; i < 200; i++) {
            if (i == 20) hbt_server_cmd(f->srv, "@%d drop", round + 1);
            if (hb_pool_send(f->pool, id, buf, 64 * 1024, HB_MSG_BINARY) == 0) queued++;
        }
        free(buf);
        total_queued += queued;
        assert_non_null(hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, id, 1, 5000));
        assert_int_equal(hb_pool_remove(f->pool, id), 0);
        assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, id, 1, 5000));
        hb_pool_stats st;
        assert_int_equal(hb_pool_stats_get(f->pool, &st), 0);
        int failed = hbt_count_events(&f->sink, HB_EV_SEND_FAILED, NULL);
        print_message("round %d: queued %d, sent %llu, failed %d\n", round, total_queued,
                      (unsigned long long)st.totals.messages_sent, failed);
        /* Every message taken by the queue is either written or reported. */
        assert_int_equal((uint64_t)failed + st.totals.messages_sent, (uint64_t)total_queued);
    }
}

/* The bridge's report: list showed attempt 0 for a connected peer. SPEC:
 * attempt in list is the 1-based number of the dial in the current run. */
static void test_attempt_in_list(void **state)
{
    fx *f = *state;
    int port = hbt_closed_port();
    char url[128];
    hbt_url(url, sizeof(url), port, "/");
    hb_peer_cfg p;
    hbt_peer(&p, "att", url);
    p.opts.reconnect.initial_delay_ns = 100 * MS;
    p.opts.reconnect.max_delay_ns = 100 * MS;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "att", 2, 5000));
    char portarg[16];
    snprintf(portarg, sizeof(portarg), "%d", port);
    const char *args[] = {"--port", portarg, NULL};
    hbt_server *srv = hbt_server_start(args);
    assert_non_null(srv);
    hb_event *c = hbt_wait_event(&f->sink, HB_EV_CONNECTED, "att", 1, 5000);
    assert_non_null(c);
    int fails = hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, "att");
    assert_int_equal(c->attempt, (uint32_t)fails + 1);
    hb_peer_info info;
    assert_int_equal(hb_pool_peer_info(f->pool, "att", &info), 0);
    free(info.url);
    assert_int_equal(info.state, HB_STATE_CONNECTED);
    assert_int_equal(info.attempt, c->attempt);
    hb_peer_info *list;
    size_t n;
    assert_int_equal(hb_pool_list(f->pool, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].attempt, c->attempt);
    hb_peer_list_free(list, n);
    hbt_server_stop(&srv);
}

/* ---- finding 10: the resolver ---- */

static pthread_mutex_t s_hmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_hcond = PTHREAD_COND_INITIALIZER;
static bool s_hold_lookups;
static int s_lookups;

static int s_fake_lookup(const char *host, char *addr, size_t addrlen, char *err, size_t errlen)
{
    pthread_mutex_lock(&s_hmu);
    s_lookups++;
    pthread_cond_broadcast(&s_hcond);
    while (s_hold_lookups) pthread_cond_wait(&s_hcond, &s_hmu);
    pthread_mutex_unlock(&s_hmu);
    snprintf(addr, addrlen, "127.0.0.1");
    (void)host;
    (void)err;
    (void)errlen;
    return 0;
}

static int s_lookup_count(void)
{
    pthread_mutex_lock(&s_hmu);
    int n = s_lookups;
    pthread_mutex_unlock(&s_hmu);
    return n;
}

static void s_release_lookups(void)
{
    pthread_mutex_lock(&s_hmu);
    s_hold_lookups = false;
    pthread_cond_broadcast(&s_hcond);
    pthread_mutex_unlock(&s_hmu);
}

static void s_named_peer(fx *f, const char *id, uint64_t connect_timeout_ns, uint64_t retry_ns)
{
    char url[128];
    snprintf(url, sizeof(url), "ws://slow.test:%d/", hbt_server_port(f->srv));
    hb_peer_cfg p;
    hbt_peer(&p, id, url);
    p.opts.connect_timeout_ns = connect_timeout_ns;
    p.opts.reconnect.initial_delay_ns = retry_ns;
    p.opts.reconnect.max_delay_ns = retry_ns;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
}

static const char *s_first_error(fx *f, const char *id)
{
    hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, id, 1, 10);
    return e && e->error ? e->error : "";
}

static void test_resolver_bounded(void **state)
{
    fx *f = *state;
    /* A new pool: resolver queue of 3 (command_queue 3), one thread. */
    hb_pool_destroy(&f->pool);
    hb__resolve_set_lookup(s_fake_lookup);
    s_hold_lookups = true;
    s_lookups = 0;
    hb_pool_config pc = {.sink = hbt_sink_get(&f->sink), .resolver_threads = 1, .command_queue = 3};
    assert_int_equal(hb_pool_new(&pc, &f->pool), 0);

    /* "a" times out while its lookup hangs; its redials must not queue
     * more lookups while that one runs. */
    s_named_peer(f, "a", 100 * MS, 20 * MS);
    hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "a", 2, 5000);
    assert_non_null(e);
    print_message("a, dial 2: %s\n", e->error);
    assert_non_null(strstr(e->error, "still running"));
    assert_int_equal(s_lookup_count(), 1);

    /* "b" is queued behind it and abandoned (connect timeout) while queued:
     * its lookup must never run. (It waits 10 s before a second dial, so it
     * holds exactly one queue slot.) */
    s_named_peer(f, "b", 100 * MS, 10000 * MS);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "b", 1, 5000));
    e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "b", 1, 10);
    assert_non_null(strstr(e->error, "timeout"));
    hb_pool_remove(f->pool, "b");
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, "b", 1, 5000));

    /* The queue holds 3: b's abandoned job plus two of c, d, e (their
     * dials start in the same loop turn, in no set order); the third is
     * refused. */
    s_named_peer(f, "c", 5000 * MS, 20 * MS);
    s_named_peer(f, "d", 5000 * MS, 20 * MS);
    s_named_peer(f, "e", 5000 * MS, 20 * MS);
    for (int i = 0; i < 500 && hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, "c") +
                                       hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, "d") +
                                       hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, "e") ==
                                   0;
         i++)
        hbt_sleep_ms(10);
    hbt_sleep_ms(50);
    const char *ids[] = {"c", "d", "e"};
    int refused = 0, waiting = 0;
    for (int i = 0; i < 3; i++) {
        const char *err = s_first_error(f, ids[i]);
        print_message("%s: %s\n", ids[i], *err ? err : "(queued)");
        if (strstr(err, "resolver busy (lookup queue full)")) refused++;
        if (!*err) waiting++;
    }
    assert_int_equal(refused, 1);
    assert_int_equal(waiting, 2);

    hb_pool_remove(f->pool, "a");
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, "a", 1, 5000));
    s_release_lookups();
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "c", 1, 5000));
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "d", 1, 5000));
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "e", 1, 5000));
    /* a's first lookup, c, d, e (one of them on a redial): b's abandoned
     * job was skipped. */
    print_message("lookups run: %d\n", s_lookup_count());
    assert_int_equal(s_lookup_count(), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostname_sync_dial_failure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_protocol_error_and_close_codes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ping_between_fragments, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_headers_too_large, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_write_timeout_not_queue_wait, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_reported, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_attempt_in_list, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_resolver_bounded, s_setup, s_teardown),
    };
    return HBT_RUN(tests);
}
