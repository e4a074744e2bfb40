/*
 * test_pool_basic.c: the pool against a real WebSocket server (ws_server.py):
 * receive text and binary, events in SPEC order, sends in order from
 * several threads, server close -> disconnected with its code -> reconnect
 * with seq continuing and conn incremented, remove while connected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hbt.h"
#include "honeybee/pool.h"

typedef hbt_fx fx;

static int s_setup(void **state)
{
    *state = hbt_fx_new(&(hbt_fx_opts){.path = "/feed?x=1"});
    assert_non_null(*state);
    return 0;
}

static void test_receive_text_and_binary(void **state)
{
    fx *f = *state;
    assert_true(hbt_fx_connect(f, "a", 0));
    hbt_server_cmd(f->srv, "send text hello world");
    hbt_server_cmd(f->srv, "send binary 00ff10");
    hb_inbox_msg *m1 = hbt_wait_msg(&f->sink, 1, 5000);
    hb_inbox_msg *m2 = hbt_wait_msg(&f->sink, 2, 5000);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_string_equal(m1->peer_id, "a");
    assert_int_equal(m1->peer_id_len, 1);
    assert_int_equal(m1->len, 11);
    assert_memory_equal(m1->data, "hello world", 11);
    assert_int_equal(m1->flags & HB_MSG_F_BINARY, 0);
    assert_int_equal(m1->seq, 1);
    assert_int_equal(m1->conn, 1);
    assert_true(m1->received_ns > 1700000000ull * 1000000000ull);
    assert_int_equal(m2->len, 3);
    assert_memory_equal(m2->data, "\x00\xff\x10", 3);
    assert_int_equal(m2->flags & HB_MSG_F_BINARY, HB_MSG_F_BINARY);
    assert_int_equal(m2->seq, 2);

    /* A message in several frames arrives as one. */
    hbt_server_cmd(f->srv, "fragments ab cd ef");
    hb_inbox_msg *m3 = hbt_wait_msg(&f->sink, 3, 5000);
    assert_non_null(m3);
    assert_int_equal(m3->len, 6);
    assert_memory_equal(m3->data, "abcdef", 6);

    /* The sink's flush follows the turn that delivered the last message,
     * on the same (loop) thread: within microseconds, where the loop's
     * tick (the only other flush) would come up to 500 ms later. */
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&f->sink.mu);
        size_t done = f->sink.n_msg_flushed;
        pthread_mutex_unlock(&f->sink.mu);
        if (done == 3) break;
        usleep(10000);
    }
    pthread_mutex_lock(&f->sink.mu);
    assert_int_equal(f->sink.n_msg_flushed, 3);
    assert_false(f->sink.flush_off_thread);
    assert_true(f->sink.max_flush_delay_ms < 100); /* generous */
    pthread_mutex_unlock(&f->sink.mu);

    /* The handshake carried the path and a User-Agent. */
    hb_event *added = hbt_wait_event(&f->sink, HB_EV_ADDED, "a", 1, 10);
    assert_non_null(added);
    assert_string_equal(added->url, f->url);

    /* The loop turns (for /healthz). */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    uint64_t hb = hb_pool_loop_heartbeat(f->pool);
    assert_true(hb > 0 && hb <= now && now - hb < 3000000000ull);

    hb_peer_info info;
    assert_int_equal(hb_pool_peer_info(f->pool, "a", &info), 0);
    assert_int_equal(info.state, HB_STATE_CONNECTED);
    assert_int_equal(info.counters.messages_received, 3);
    assert_int_equal(info.counters.bytes_received, 11 + 3 + 6);
    assert_int_equal(info.seq, 3);
    assert_int_equal(info.conn, 1);
    assert_true(info.connected_at_ns > 0);
    free(info.url);
}

static void test_headers_and_path(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "h", f->url);
    p.n_headers = 2;
    p.headers = calloc(2, sizeof(hb_header));
    p.headers[0] = (hb_header){strdup("X-Token"), strdup("sesame")};
    p.headers[1] = (hb_header){strdup("Origin"), strdup("https://example.com")};
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    char line[4096];
    assert_true(hbt_server_wait(f->srv, "OPEN ", 5000, line, sizeof(line)));
    assert_non_null(strstr(line, "\"path\": \"/feed?x=1\""));
    assert_non_null(strstr(line, "\"X-Token\": \"sesame\""));
    assert_non_null(strstr(line, "\"Origin\": \"https://example.com\""));
    assert_non_null(strstr(line, "honeybee/"));
}

typedef struct sender {
    hb_pool *pool;
    int tid;
    int n;
    int failures;
} sender;

static void *s_send_thread(void *arg)
{
    sender *s = arg;
    char buf[64];
    for (int i = 0; i < s->n; i++) {
        int len = snprintf(buf, sizeof(buf), "t%d-%d", s->tid, i);
        if (hb_pool_send(s->pool, "a", buf, (size_t)len, HB_MSG_TEXT) != 0) s->failures++;
    }
    return NULL;
}

static void test_send_in_order_from_threads(void **state)
{
    fx *f = *state;
    assert_true(hbt_fx_connect(f, "a", 0));
    enum { T = 4, N = 200 };
    pthread_t th[T];
    sender ss[T];
    for (int t = 0; t < T; t++) {
        ss[t] = (sender){f->pool, t, N, 0};
        pthread_create(&th[t], NULL, s_send_thread, &ss[t]);
    }
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < T; t++) assert_int_equal(ss[t].failures, 0);
    /* Every message arrives, and each thread's messages in its order. */
    int next[T] = {0};
    for (int i = 0; i < T * N; i++) {
        char line[256];
        assert_true(hbt_server_wait(f->srv, "RECV 1 text ", 10000, line, sizeof(line)));
        int tid = -1, seq = -1;
        assert_int_equal(sscanf(line, "RECV 1 text \"t%d-%d\"", &tid, &seq), 2);
        assert_true(tid >= 0 && tid < T);
        assert_int_equal(seq, next[tid]);
        next[tid]++;
    }
    hb_peer_info info;
    assert_int_equal(hb_pool_peer_info(f->pool, "a", &info), 0);
    assert_int_equal(info.counters.messages_sent, T * N);
    free(info.url);

    /* Binary and AUTO. */
    assert_int_equal(hb_pool_send(f->pool, "a", "\x01\x02", 2, HB_MSG_BINARY), 0);
    assert_int_equal(hb_pool_send(f->pool, "a", "\xff", 1, HB_MSG_AUTO), 0);
    assert_int_equal(hb_pool_send(f->pool, "a", "plain", 5, HB_MSG_AUTO), 0);
    assert_true(hbt_server_wait(f->srv, "RECV 1 binary 0102", 5000, NULL, 0));
    assert_true(hbt_server_wait(f->srv, "RECV 1 binary ff", 5000, NULL, 0));
    assert_true(hbt_server_wait(f->srv, "RECV 1 text \"plain\"", 5000, NULL, 0));
    /* Refusals. */
    assert_int_equal(hb_pool_send(f->pool, "a", "\xff", 1, HB_MSG_TEXT), HB_E_BAD_REQUEST);
    assert_int_equal(hb_pool_send(f->pool, "zz", "x", 1, HB_MSG_TEXT), HB_E_UNKNOWN_PEER);
    char *big = calloc(1, (1u << 20) + 1);
    assert_int_equal(hb_pool_send(f->pool, "a", big, (1u << 20) + 1, HB_MSG_BINARY),
                     HB_E_TOO_LARGE);
    free(big);
    hb_pool_stats st;
    assert_int_equal(hb_pool_stats_get(f->pool, &st), 0);
    assert_int_equal(st.totals.send_failed[HB_SF_BAD_REQUEST], 1);
    assert_int_equal(st.totals.send_failed[HB_SF_UNKNOWN_PEER], 1);
    assert_int_equal(st.totals.send_failed[HB_SF_TOO_LARGE], 1);
    assert_int_equal(st.peers[HB_STATE_CONNECTED], 1);
    assert_int_equal(st.n_peers, 1);
    /* No events for refusals at hb_pool_send. */
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_SEND_FAILED, NULL), 0);
}

static void test_server_close_reconnects(void **state)
{
    fx *f = *state;
    assert_true(hbt_fx_connect(f, "a", 0));
    hbt_server_cmd(f->srv, "send text one");
    assert_non_null(hbt_wait_msg(&f->sink, 1, 5000));
    hbt_server_cmd(f->srv, "close 4001 go away");
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "a", 1, 5000);
    assert_non_null(d);
    assert_int_equal(d->code, 4001);
    assert_string_equal(d->reason, "closed_by_peer");
    assert_non_null(d->error);
    assert_string_equal(d->error, "go away");
    assert_int_equal(d->conn, 1);
    hb_event *c2 = hbt_wait_event(&f->sink, HB_EV_CONNECTED, "a", 2, 5000);
    assert_non_null(c2);
    assert_int_equal(c2->conn, 2);
    assert_true(hbt_server_wait(f->srv, "OPEN 2 ", 5000, NULL, 0));
    hbt_server_cmd(f->srv, "send text two");
    hb_inbox_msg *m = hbt_wait_msg(&f->sink, 2, 5000);
    assert_non_null(m);
    assert_int_equal(m->seq, 2);
    assert_int_equal(m->conn, 2);

    /* A dropped TCP connection: connection_lost, 1006. */
    hbt_server_cmd(f->srv, "drop");
    d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "a", 2, 5000);
    assert_non_null(d);
    assert_int_equal(d->code, 1006);
    assert_string_equal(d->reason, "connection_lost");
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "a", 3, 5000));
    hb_pool_stats st;
    hb_pool_stats_get(f->pool, &st);
    assert_int_equal(st.totals.reconnects, 2);
    char trail[512];
    hbt_event_trail(&f->sink, "a", trail, sizeof(trail));
    assert_string_equal(trail, "added,connected,disconnected,connected,disconnected,connected");
}

static void test_remove_while_connected(void **state)
{
    fx *f = *state;
    assert_true(hbt_fx_connect(f, "a", 0));
    assert_int_equal(hb_pool_remove(f->pool, "a"), 0);
    assert_int_equal(hb_pool_remove(f->pool, "a"), HB_E_UNKNOWN_PEER);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "a", 1, 5000);
    assert_non_null(r);
    assert_string_equal(r->reason, "removed");
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "a", 1, 10);
    assert_non_null(d);
    assert_int_equal(d->code, 1000);
    assert_string_equal(d->reason, "removed");
    char line[256];
    assert_true(hbt_server_wait(f->srv, "CLOSED 1 ", 5000, line, sizeof(line)));
    assert_non_null(strstr(line, "CLOSED 1 1000"));
    char trail[256];
    hbt_event_trail(&f->sink, "a", trail, sizeof(trail));
    assert_string_equal(trail, "added,connected,disconnected,removed");
    hb_peer_info info;
    assert_int_equal(hb_pool_peer_info(f->pool, "a", &info), HB_E_UNKNOWN_PEER);
    /* The id can be used again; seq and conn start at 1. */
    assert_true(hbt_fx_connect(f, "a", 0));
    hbt_server_cmd(f->srv, "send text again");
    hb_inbox_msg *m = hbt_wait_msg(&f->sink, 1, 5000);
    assert_non_null(m);
    assert_int_equal(m->seq, 1);
    assert_int_equal(m->conn, 1);
}

static void test_connect_errors(void **state)
{
    fx *f = *state;
    hb_peer_cfg p;
    hbt_peer(&p, "a", f->url);
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    assert_int_equal(hb_pool_connect(f->pool, &p), HB_E_PEER_EXISTS);
    free(p.url);
    p.url = strdup("http://127.0.0.1/");
    free(p.id);
    p.id = strdup("b");
    assert_int_equal(hb_pool_connect(f->pool, &p), HB_E_INVALID_URL);
    free(p.url);
    p.url = strdup(f->url);
    free(p.id);
    p.id = strdup("bad*id");
    assert_int_equal(hb_pool_connect(f->pool, &p), HB_E_BAD_REQUEST);
    free(p.id);
    p.id = strdup("c");
    p.opts.send_queue = 0;
    assert_int_equal(hb_pool_connect(f->pool, &p), HB_E_INVALID_OPTION);
    hb_peer_cfg_free(&p);
    hb_peer_info *list;
    size_t n;
    assert_int_equal(hb_pool_list(f->pool, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "a");
    hb_peer_list_free(list, n);
    /* Not connected yet or connected: list shows it; shutdown refuses. */
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "a", 1, 5000));
    /* broadcast: only to connected peers */
    char dead[128];
    hbt_url(dead, sizeof(dead), hbt_closed_port(), "/");
    hbt_peer(&p, "dead", dead);
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    assert_int_equal(hb_pool_broadcast(f->pool, "hi all", 6, HB_MSG_AUTO), 1);
    assert_true(hbt_server_wait(f->srv, "RECV 1 text \"hi all\"", 5000, NULL, 0));
    assert_int_equal(hb_pool_send(f->pool, "dead", "x", 1, HB_MSG_TEXT), HB_E_NOT_CONNECTED);
    /* the config as given */
    hb_peer_cfg back;
    assert_int_equal(hb_pool_peer_config(f->pool, "a", &back), 0);
    assert_string_equal(back.url, f->url);
    assert_int_equal(back.opts.send_queue, 1024);
    hb_peer_cfg_free(&back);
    assert_int_equal(hb_pool_peer_config(f->pool, "nope", &back), HB_E_UNKNOWN_PEER);
    assert_int_equal(hb_pool_shutdown(f->pool, 200000000ull), 0);
    assert_int_equal(hb_pool_connect(f->pool, &(hb_peer_cfg){.id = "x", .url = f->url}),
                     HB_E_SHUTTING_DOWN);
    assert_int_equal(hb_pool_remove(f->pool, "a"), HB_E_SHUTTING_DOWN);
    assert_int_equal(hb_pool_send(f->pool, "a", "x", 1, HB_MSG_TEXT), HB_E_SHUTTING_DOWN);
    hb_event *d = hbt_wait_event(&f->sink, HB_EV_DISCONNECTED, "a", 1, 10);
    assert_non_null(d);
    assert_int_equal(d->code, 1001);
    assert_string_equal(d->reason, "shutdown");
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "a", 1, 10);
    assert_non_null(r);
    assert_string_equal(r->reason, "shutdown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_receive_text_and_binary, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_headers_and_path, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_send_in_order_from_threads, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_server_close_reconnects, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_remove_while_connected, s_setup, hbt_fx_teardown),
        cmocka_unit_test_setup_teardown(test_connect_errors, s_setup, hbt_fx_teardown),
    };
    return HBT_RUN(tests);
}
