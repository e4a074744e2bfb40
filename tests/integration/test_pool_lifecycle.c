/*
 * test_pool_lifecycle.c: reconnect and give-up behaviour against real
 * sockets: backoff delays (jitter 0) against a closed port, max_retries ->
 * removed, short-lived connections keep backing off while a stable one
 * resets it, stop during a dial in bounded time, connect_timeout.
 * Tolerances are wide on the slow side (a loaded 2-core machine) and tight
 * on the fast side (a delay must never be shorter than configured).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hbt.h"
#include "honeybee/pool.h"

#define MS 1000000ull

typedef hbt_fx fx;

static int s_setup(void **state)
{
    *state = hbt_fx_new(&(hbt_fx_opts){.no_server = true});
    assert_non_null(*state);
    return 0;
}

/* The same with ws_server.py to dial (f->srv, f->url). */
static int s_setup_srv(void **state)
{
    *state = hbt_fx_new(NULL);
    assert_non_null(*state);
    return 0;
}

static void test_backoff_delays_and_max_retries(void **state)
{
    fx *f = *state;
    char url[128];
    hbt_url(url, sizeof(url), hbt_closed_port(), "/");
    hb_peer_cfg p;
    hbt_peer(&p, "dead", url);
    p.opts.reconnect.initial_delay_ns = 100 * MS;
    p.opts.reconnect.max_delay_ns = 400 * MS;
    p.opts.reconnect.multiplier = 2.0;
    p.opts.reconnect.max_retries = 4; /* 5 dials in all */
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "dead", 1, 10000);
    assert_non_null(r);
    assert_string_equal(r->reason, "max_retries");
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, "dead"), 5);
    const uint64_t want[] = {100, 200, 400, 400};
    for (int i = 0; i < 4; i++) {
        hb_event *a = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "dead", i + 1, 10);
        hb_event *b = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "dead", i + 2, 10);
        assert_int_equal(a->attempt, (uint32_t)i + 1);
        assert_int_equal(b->attempt, (uint32_t)i + 2);
        assert_non_null(a->error);
        uint64_t gap = (b->at_ns - a->at_ns) / MS;
        print_message("gap %d: %llu ms (want %llu)\n", i, (unsigned long long)gap,
                      (unsigned long long)want[i]);
        assert_true(gap >= want[i] - 5);
        assert_true(gap <= want[i] + 250);
    }
    char trail[256];
    hbt_event_trail(&f->sink, "dead", trail, sizeof(trail));
    assert_string_equal(trail, "added,dial_failed,dial_failed,dial_failed,dial_failed,dial_failed,"
                               "removed");
    hb_peer_info info;
    assert_int_equal(hb_pool_peer_info(f->pool, "dead", &info), HB_E_UNKNOWN_PEER);
}

static void test_short_lived_vs_stable(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "p", f->url);
    p.opts.reconnect.initial_delay_ns = 300 * MS;
    p.opts.reconnect.max_delay_ns = 600 * MS;
    p.opts.reconnect.stable_after_ns = 200 * MS;
    p.opts.reconnect.max_retries = 1; /* short connections do not count toward it */
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "p", 1, 5000));
    hbt_sleep_ms(300); /* up longer than stable_after */
    hbt_server_cmd(f->srv, "onopen close 1000");
    assert_true(hbt_server_wait(f->srv, "OK onopen", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "close 1000 bye");
    /* Stable: redialled at once (well under initial_delay). */
    hb_event *d1 = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "p", 1, 5000);
    hb_event *c2 = hbt_wait_event(&f->sink, HB_EV_CONNECTED, "p", 2, 5000);
    assert_non_null(d1);
    assert_non_null(c2);
    uint64_t g1 = (c2->at_ns - d1->at_ns) / MS;
    print_message("stable: redial after %llu ms\n", (unsigned long long)g1);
    assert_true(g1 < 250);
    /* Each following connection is closed at once: n grows 1, 2, ... */
    hb_event *d2 = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "p", 2, 5000);
    hb_event *c3 = hbt_wait_event(&f->sink, HB_EV_CONNECTED, "p", 3, 5000);
    hb_event *d3 = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "p", 3, 5000);
    hb_event *c4 = hbt_wait_event(&f->sink, HB_EV_CONNECTED, "p", 4, 5000);
    assert_non_null(c4);
    uint64_t g2 = (c3->at_ns - d2->at_ns) / MS, g3 = (c4->at_ns - d3->at_ns) / MS;
    print_message("short-lived: %llu ms then %llu ms\n", (unsigned long long)g2,
                  (unsigned long long)g3);
    assert_true(g2 >= 295 && g2 < 300 + 300);
    assert_true(g3 >= 595 && g3 < 600 + 300);
    assert_int_equal(d2->code, 1000);
    assert_string_equal(d2->reason, "closed_by_peer");
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_REMOVED, "p"), 0);
}

static void test_stop_during_dial(void **state)
{
    fx *f = *state;
    int port;
    int lfd = hbt_listen(64, &port);
    assert_true(lfd >= 0);
    char url[128];
    hbt_url(url, sizeof(url), port, "/");
    hb_peer_cfg p;
    hbt_peer(&p, "hang", url);
    p.opts.connect_timeout_ns = 60000 * MS;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    hbt_sleep_ms(100); /* the dial is in progress: TCP up, handshake unanswered */
    hb_peer_info info;
    assert_int_equal(hb_pool_peer_info(f->pool, "hang", &info), 0);
    assert_int_equal(info.state, HB_STATE_CONNECTING);
    assert_int_equal(info.attempt, 1);
    free(info.url);
    uint64_t t0 = hbt_now_ms();
    assert_int_equal(hb_pool_remove(f->pool, "hang"), 0);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "hang", 1, 2000);
    assert_non_null(r);
    /* (HB_TEST_SLOW: under valgrind on a loaded machine, 5 s) */
    assert_true(hbt_now_ms() - t0 < (hbt_slow() ? 5000u : 1000u));
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_CONNECTED, "hang"), 0);
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DISCONNECTED, "hang"), 0);

    /* connect_timeout: the same listener, a short timeout. */
    hbt_peer(&p, "slow", url);
    p.opts.connect_timeout_ns = 150 * MS;
    p.opts.reconnect.max_retries = 1;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "slow", 1, 5000);
    assert_non_null(r);
    assert_string_equal(r->reason, "max_retries");
    hb_event *e = hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "slow", 1, 10);
    assert_non_null(e);
    assert_non_null(strstr(e->error, "timeout"));
    close(lfd);
}

static void test_shutdown_drains_and_reports(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "s1", f->url);
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    /* a peer that never connects */
    char dead[128];
    hbt_url(dead, sizeof(dead), hbt_closed_port(), "/");
    hbt_peer(&p, "s2", dead);
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "s1", 1, 5000));
    for (int i = 0; i < 50; i++) {
        char b[32];
        int n = snprintf(b, sizeof(b), "m%d", i);
        assert_int_equal(hb_pool_send(f->pool, "s1", b, (size_t)n, HB_MSG_TEXT), 0);
    }
    assert_int_equal(hb_pool_shutdown(f->pool, 2000 * MS), 0);
    /* Everything queued before shutdown was written, then 1001. */
    for (int i = 0; i < 50; i++) {
        char want[64];
        snprintf(want, sizeof(want), "RECV 1 text \"m%d\"", i);
        assert_true(hbt_server_wait(f->srv, want, 5000, NULL, 0));
    }
    char line[128];
    assert_true(hbt_server_wait(f->srv, "CLOSED 1 ", 5000, line, sizeof(line)));
    assert_non_null(strstr(line, "CLOSED 1 1001"));
    char trail[512];
    hbt_event_trail(&f->sink, "s1", trail, sizeof(trail));
    assert_string_equal(trail, "added,connected,disconnected,removed");
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "s2", 1, 10);
    assert_non_null(r);
    assert_string_equal(r->reason, "shutdown");
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_SEND_FAILED, NULL), 0);
    hb_pool_stats st;
    hb_pool_stats_get(f->pool, &st);
    assert_int_equal(st.n_peers, 0);
    assert_int_equal(st.totals.messages_sent, 50);
}

/* Remove while waiting in backoff: at once, no disconnected; the id is
 * taken until `removed` is out and free right after. */
static void test_remove_while_waiting(void **state)
{
    fx *f = *state;
    char url[128];
    hbt_url(url, sizeof(url), hbt_closed_port(), "/");
    hb_peer_cfg p;
    hbt_peer(&p, "wait", url);
    p.opts.reconnect.initial_delay_ns = 30000 * MS;
    p.opts.reconnect.max_delay_ns = 30000 * MS;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_DIAL_FAILED, "wait", 1, 5000));
    hb_peer_info info;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(hb_pool_peer_info(f->pool, "wait", &info), 0);
        free(info.url);
        if (info.state == HB_STATE_WAITING) break;
        hbt_sleep_ms(5);
    }
    assert_int_equal(info.state, HB_STATE_WAITING);
    assert_int_equal(info.attempt, 1);
    uint64_t t0 = hbt_now_ms();
    assert_int_equal(hb_pool_remove(f->pool, "wait"), 0);
    int rc = hb_pool_connect(f->pool, &p); /* racing the removal */
    assert_true(rc == HB_E_PEER_EXISTS || rc == 0);
    if (rc == 0) { /* it was already gone: then `removed` preceded this `added` */
        hb_pool_remove(f->pool, "wait");
    }
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, "wait", 1, 2000));
    assert_true(hbt_now_ms() - t0 < (hbt_slow() ? 5000u : 1000u));
    if (rc != 0) assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DISCONNECTED, "wait"), 0);
    char trail[256];
    hbt_event_trail(&f->sink, "wait", trail, sizeof(trail));
    assert_non_null(strstr(trail, "added,dial_failed,removed,added"));
}

/* The drain deadline passes with messages still queued (the server does
 * not read): they are reported as send_failed, and shutdown still ends. */
static void test_shutdown_drain_timeout(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "stuck", f->url);
    p.opts.write_timeout_ns = 60000 * MS; /* only the drain deadline may end it */
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "stuck", 1, 5000));
    hbt_server_cmd(f->srv, "silent");
    assert_true(hbt_server_wait(f->srv, "OK silent", 5000, NULL, 0));
    char *buf = calloc(1, 1u << 20);
    int queued = 0;
    for (int i = 0; i < 24; i++)
        if (hb_pool_send(f->pool, "stuck", buf, 1u << 20, HB_MSG_BINARY) == 0) queued++;
    free(buf);
    assert_int_equal(queued, 24);
    uint64_t t0 = hbt_now_ms();
    assert_int_equal(hb_pool_shutdown(f->pool, 300 * MS), 0);
    uint64_t took = hbt_now_ms() - t0;
    print_message("shutdown with a stuck peer took %llu ms\n", (unsigned long long)took);
    assert_true(took >= 250 && took < 2300);
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "stuck", 1, 10);
    assert_non_null(d);
    assert_string_equal(d->reason, "shutdown");
    assert_int_equal(d->code, 1001);
    int failed = hbt_count_events(&f->sink, HB_EV_SEND_FAILED, "stuck");
    assert_true(failed > 0);
    hb_pool_stats st;
    hb_pool_stats_get(f->pool, &st);
    assert_int_equal(st.totals.messages_sent + (uint64_t)failed, 24);
    char trail[256];
    hbt_event_trail(&f->sink, "stuck", trail, sizeof(trail));
    assert_string_equal(trail, "added,connected,disconnected,removed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backoff_delays_and_max_retries, s_setup,
                                        hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_short_lived_vs_stable, s_setup_srv, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_stop_during_dial, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_drains_and_reports, s_setup_srv,
                                        hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_drain_timeout, s_setup_srv, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_remove_while_waiting, s_setup, hbt_fx_teardown),
    };
    return HBT_RUN(tests);
}
