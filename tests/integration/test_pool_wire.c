/*
 * test_pool_wire.c: what the session does on the wire: keepalive expiry
 * against a server that goes silent, stall_timeout against a server that
 * answers pings but sends no data (and that `timeout` does not fire then),
 * on_connect order on every connection, app_ping, oversize (1009) and
 * invalid UTF-8 (1007), subprotocols, write_timeout, queued messages
 * reported as send_failed when the connection drops, and inbox
 * back-pressure (pause and resume).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hbt.h"
#include "honeybee/pool.h"

#define MS 1000000ull

typedef hbt_fx fx;

static int s_setup(void **state)
{
    const char *args[] = {"--subprotocols", "chat.v2,chat.v1", NULL};
    *state = hbt_fx_new(&(hbt_fx_opts){.server_args = args});
    assert_non_null(*state);
    return 0;
}

static void test_keepalive_expiry(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "k", f->url);
    p.opts.keepalive.ping_interval_ns = 50 * MS;
    p.opts.keepalive.timeout_ns = 500 * MS; /* generous: a loaded machine delays pongs */
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "k", 1, 5000));
    /* Pongs keep an idle connection alive well past `timeout`. */
    hbt_sleep_ms(1200);
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DISCONNECTED, "k"), 0);
    /* Now the server stops reading: no pongs. */
    uint64_t t0 = hbt_now_ms();
    hbt_server_cmd(f->srv, "silent");
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "k", 1, 5000);
    assert_non_null(d);
    uint64_t took = hbt_now_ms() - t0;
    print_message("keepalive expired after %llu ms\n", (unsigned long long)took);
    assert_true(took >= 300 && took < 3000);
    assert_string_equal(d->reason, "keepalive");
    assert_int_equal(d->code, 1001);
    /* ...and the connection is replaced. */
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "k", 2, 5000));
}

static void test_stall_not_timeout(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "st", f->url);
    p.opts.keepalive.ping_interval_ns = 100 * MS;
    p.opts.keepalive.timeout_ns = 1000 * MS; /* wide: pongs from a loaded server are late */
    p.opts.keepalive.stall_timeout_ns = 2000 * MS;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    hb_event *c = hbt_wait_event(&f->sink, HB_EV_CONNECTED, "st", 1, 5000);
    assert_non_null(c);
    /* Data every 250 ms keeps both watchdogs quiet... */
    for (int i = 0; i < 6; i++) {
        hbt_server_cmd(f->srv, "send text tick");
        hbt_sleep_ms(250);
    }
    hb_event *early = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "st", 1, 0);
    if (early) print_message("early disconnect: %s\n", early->reason);
    assert_null(early);
    /* ...then only pongs: stall fires, timeout does not. */
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "st", 1, 5000);
    assert_non_null(d);
    assert_string_equal(d->reason, "stall");
    assert_int_equal(d->code, 1001);
    char line[128];
    assert_true(hbt_server_wait(f->srv, "CLOSED 1 ", 5000, line, sizeof(line)));
    assert_non_null(strstr(line, "CLOSED 1 1001"));
}

static void test_on_connect_and_app_ping(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "oc", f->url);
    p.n_on_connect = 2;
    p.on_connect = calloc(2, sizeof(char *));
    p.on_connect[0] = strdup("[\"REQ\",\"a\"]");
    p.on_connect[1] = strdup("second");
    p.n_subprotocols = 1;
    p.subprotocols = calloc(1, sizeof(char *));
    p.subprotocols[0] = strdup("chat.v1");
    p.opts.keepalive.ping_interval_ns = 300 * MS;
    p.opts.keepalive.app_ping = strdup("app-ping");
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "oc", 1, 5000));
    assert_int_equal(hb_pool_send(f->pool, "oc", "third", 5, HB_MSG_TEXT), 0);
    char line[512];
    assert_true(hbt_server_wait(f->srv, "OPEN 1 ", 5000, line, sizeof(line)));
    assert_non_null(strstr(line, "\"subprotocol\": \"chat.v1\""));
    assert_true(hbt_server_wait(f->srv, "RECV 1 ", 5000, line, sizeof(line)));
    assert_string_equal(line, "RECV 1 text \"[\\\"REQ\\\",\\\"a\\\"]\"");
    assert_true(hbt_server_wait(f->srv, "RECV 1 ", 5000, line, sizeof(line)));
    assert_string_equal(line, "RECV 1 text \"second\"");
    assert_true(hbt_server_wait(f->srv, "RECV 1 ", 5000, line, sizeof(line)));
    assert_string_equal(line, "RECV 1 text \"third\"");
    /* app_ping comes every ping_interval, data or not. */
    assert_true(hbt_server_wait(f->srv, "RECV 1 ", 5000, line, sizeof(line)));
    assert_string_equal(line, "RECV 1 text \"app-ping\"");
    /* Every new connection starts with on_connect again. */
    hbt_server_cmd(f->srv, "close 4012 restart");
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "oc", 2, 5000));
    assert_true(hbt_server_wait(f->srv, "RECV 2 ", 5000, line, sizeof(line)));
    assert_string_equal(line, "RECV 2 text \"[\\\"REQ\\\",\\\"a\\\"]\"");
    assert_true(hbt_server_wait(f->srv, "RECV 2 ", 5000, line, sizeof(line)));
    assert_string_equal(line, "RECV 2 text \"second\"");
}

static void test_too_large_and_invalid_utf8(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "big", f->url);
    p.opts.max_message_size = 10000;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "big", 1, 5000));
    hbt_server_cmd(f->srv, "big 10000"); /* exactly the limit: fine, several pieces */
    hb_inbox_msg *m = hbt_wait_msg(&f->sink, 1, 5000);
    assert_non_null(m);
    assert_int_equal(m->len, 10000);
    hbt_server_cmd(f->srv, "big 10001");
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "big", 1, 5000);
    assert_non_null(d);
    assert_int_equal(d->code, 1009);
    assert_string_equal(d->reason, "too_large");
    char line[128];
    assert_true(hbt_server_wait(f->srv, "CLOSED 1 ", 5000, line, sizeof(line)));
    assert_non_null(strstr(line, "CLOSED 1 1009"));
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "big", 2, 5000));
    assert_true(hbt_server_wait(f->srv, "OPEN 2 ", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "invalid_utf8");
    d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "big", 2, 5000);
    assert_non_null(d);
    assert_int_equal(d->code, 1007);
    assert_string_equal(d->reason, "invalid_utf8");
    assert_true(hbt_server_wait(f->srv, "CLOSED 2 ", 5000, line, sizeof(line)));
    assert_non_null(strstr(line, "CLOSED 2 1007"));
    assert_int_equal(hbt_count_msgs(&f->sink), 1);
}

static void test_write_timeout_and_queued_fail(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "w", f->url);
    p.opts.write_timeout_ns = 300 * MS;
    p.opts.max_message_size = 1u << 20;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "w", 1, 5000));
    hbt_server_cmd(f->srv, "silent");
    assert_true(hbt_server_wait(f->srv, "OK silent", 5000, NULL, 0));
    /* 32 MiB towards a reader that does not read: the socket fills up. */
    char *buf = malloc(1u << 20);
    memset(buf, 'x', 1u << 20);
    int queued = 0;
    for (int i = 0; i < 32; i++)
        if (hb_pool_send(f->pool, "w", buf, 1u << 20, HB_MSG_BINARY) == 0) queued++;
    free(buf);
    /* On a slow machine write_timeout may fire while we are still queueing;
     * later sends are then refused (not_connected). */
    assert_true(queued >= 4);
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "w", 1, 5000);
    assert_non_null(d);
    assert_string_equal(d->reason, "write_timeout");
    assert_int_equal(d->code, 1001);
    /* What was still queued is reported, one send_failed each (they follow
     * the disconnected event, so wait for the sum to settle). */
    int failed = 0;
    hb_peer_info info;
    for (int i = 0; i < 1000; i++) {
        failed = hbt_count_events(&f->sink, HB_EV_SEND_FAILED, "w");
        assert_int_equal(hb_pool_peer_info(f->pool, "w", &info), 0);
        free(info.url);
        if ((uint64_t)failed + info.counters.messages_sent == (uint64_t)queued) break;
        hbt_sleep_ms(5);
    }
    assert_int_equal(hb_pool_peer_info(f->pool, "w", &info), 0);
    print_message("written %llu, failed %d\n", (unsigned long long)info.counters.messages_sent,
                  failed);
    assert_true(failed > 0);
    assert_int_equal((uint64_t)failed + info.counters.messages_sent, (uint64_t)queued);
    assert_int_equal(info.counters.send_failed[HB_SF_NOT_CONNECTED],
                     (uint64_t)failed + (uint64_t)(32 - queued));
    hb_event *sf = hbt_wait_event(&f->sink, HB_EV_SEND_FAILED, "w", 1, 10);
    assert_string_equal(sf->reason, "not_connected");
    free(info.url);
}

static void test_backpressure(void **state)
{
    fx *f = *state;
    f->sink.inbox_budget = 2; /* the sink says "full" from the 2nd message on */
    hb_peer_cfg p;
    hbt_peer(&p, "bp", f->url);
    /* A pause longer than `timeout` must not count as a dead peer. */
    p.opts.keepalive.ping_interval_ns = 50 * MS;
    p.opts.keepalive.timeout_ns = 300 * MS;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "bp", 1, 5000));
    for (int i = 0; i < 20; i++) hbt_server_cmd(f->srv, "big 200000");
    assert_non_null(hbt_wait_msg(&f->sink, 2, 5000));
    hbt_sleep_ms(800);
    size_t held = hbt_count_msgs(&f->sink);
    hb_peer_info info;
    assert_int_equal(hb_pool_peer_info(f->pool, "bp", &info), 0);
    free(info.url);
    print_message("while paused: %zu messages\n", held);
    assert_true(info.paused);
    assert_true(held < 20);
    pthread_mutex_lock(&f->sink.mu);
    f->sink.inbox_budget = -1;
    pthread_mutex_unlock(&f->sink.mu);
    hb_pool_resume_reading(f->pool);
    assert_non_null(hbt_wait_msg(&f->sink, 20, 10000));
    for (size_t i = 0; i < 20; i++) {
        hb_inbox_msg *m = hbt_wait_msg(&f->sink, i + 1, 10);
        assert_int_equal(m->seq, i + 1);
        assert_int_equal(m->len, 200000);
    }
    assert_int_equal(hb_pool_peer_info(f->pool, "bp", &info), 0);
    free(info.url);
    assert_false(info.paused);
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DISCONNECTED, "bp"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keepalive_expiry, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_stall_not_timeout, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_on_connect_and_app_ping, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_too_large_and_invalid_utf8, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_write_timeout_and_queued_fail, s_setup,
                                        hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, s_setup, hbt_fx_teardown),
    };
    return HBT_RUN(tests);
}
