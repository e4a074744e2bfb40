/*
 * test_pool_scale.c: 1,000 peers connected to one local server at once,
 * a broadcast reaching all of them, and a destroy that tears them all down.
 * More handshakes than lws's header-table pool (the loop caps handshakes in
 * flight): dials queued behind stuck ones still time out and are cleaned
 * up, and a good peer behind them still connects.
 * The fd limit is raised by hb_pool_new (soft to hard); the test skips if
 * the hard limit is too low for 1,000 client sockets plus the server's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hbt.h"
#include "honeybee/pool.h"

#define N_PEERS 1000

/* Resident set of this process in KiB (VmRSS), for the per-peer figure. */
static long s_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kib;
}

static void test_thousand_peers(void **state)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * N_PEERS + 200) {
        print_message("hard fd limit %llu too low, skipped\n", (unsigned long long)rl.rlim_max);
        skip();
    }
    /* The server is a child: give it the same headroom. */
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    hbt_fx *f = hbt_fx_new(NULL);
    assert_non_null(f);
    long rss0 = s_rss_kib();
    uint64_t t0 = hbt_now_ms();
    for (int i = 0; i < N_PEERS; i++) {
        char id[32];
        snprintf(id, sizeof(id), "peer-%04d", i);
        hb_peer_cfg p;
        hbt_peer(&p, id, f->url);
        p.opts.connect_timeout_ns = 30000000000ull;
        assert_int_equal(hb_pool_connect(f->pool, &p), 0);
        hb_peer_cfg_free(&p);
    }
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, NULL, N_PEERS, 90000));
    long rss1 = s_rss_kib();
    print_message("%d peers connected in %llu ms; RSS %ld -> %ld KiB (%.1f KiB per idle peer)\n",
                  N_PEERS, (unsigned long long)(hbt_now_ms() - t0), rss0, rss1,
                  (double)(rss1 - rss0) / N_PEERS);
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, NULL), 0);
    hb_pool_stats st;
    hb_pool_stats_get(f->pool, &st);
    assert_int_equal(st.n_peers, N_PEERS);
    assert_int_equal(st.peers[HB_STATE_CONNECTED], N_PEERS);
    hb_peer_info *list;
    size_t n;
    assert_int_equal(hb_pool_list(f->pool, &list, &n), 0);
    assert_int_equal(n, N_PEERS);
    assert_string_equal(list[0].id, "peer-0000");
    assert_string_equal(list[N_PEERS - 1].id, "peer-0999");
    hb_peer_list_free(list, n);

    assert_int_equal(hb_pool_broadcast(f->pool, "all", 3, HB_MSG_TEXT), N_PEERS);
    for (int i = 0; i < 600 && hbt_server_count(f->srv, "RECV ") < N_PEERS; i++) hbt_sleep_ms(50);
    assert_int_equal(hbt_server_count(f->srv, "RECV "), N_PEERS);
    hbt_server_cmd(f->srv, "send text fan");
    assert_non_null(hbt_wait_msg(&f->sink, N_PEERS, 60000));
    long rss2 = s_rss_kib();
    print_message("after one message each way: RSS %ld KiB (%.1f KiB per peer)\n", rss2,
                  (double)(rss2 - rss0) / N_PEERS);
    uint64_t t1 = hbt_now_ms();
    hb_pool_destroy(&f->pool);
    print_message("destroy took %llu ms\n", (unsigned long long)(hbt_now_ms() - t1));
    hbt_fx_free(&f);
}

static void test_handshakes_over_the_cap(void **state)
{
    int port = 0;
    int lfd = hbt_listen(64, &port);
    assert_true(lfd >= 0);
    hbt_fx *f = hbt_fx_new(NULL);
    assert_non_null(f);
    char url[128];
    hbt_url(url, sizeof(url), port, "/");
    enum { N_STUCK = 200 }; /* above the loop's cap of 128 */
    for (int i = 0; i < N_STUCK; i++) {
        char id[32];
        snprintf(id, sizeof(id), "stuck%d", i);
        hb_peer_cfg p;
        hbt_peer(&p, id, url);
        p.opts.connect_timeout_ns = 1000000000ull;
        p.opts.reconnect.max_retries = 1;
        assert_int_equal(hb_pool_connect(f->pool, &p), 0);
        hb_peer_cfg_free(&p);
    }
    hb_peer_cfg p;
    hbt_peer(&p, "good", f->url);
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    /* Every stuck dial ends by its own connect_timeout, queued or not. */
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_REMOVED, NULL, N_STUCK, 30000));
    assert_non_null(hbt_wait_event(&f->sink, HB_EV_CONNECTED, "good", 1, 30000));
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_CONNECTED, NULL), 1);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "stuck0", 1, 1000);
    assert_non_null(r);
    assert_string_equal(r->reason, "max_retries");
    hbt_fx_free(&f);
    close(lfd);
}

/* In a child with RLIMIT_NOFILE at 200: connects stop with HB_E_FD_LIMIT
 * while 64 descriptors are still free, instead of failing sockets later. */
static void test_fd_limit(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = {200, 200};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(10);
        hbt_fx *f = hbt_fx_new(&(hbt_fx_opts){.no_server = true});
        if (!f) _exit(11);
        char url[128];
        hbt_url(url, sizeof(url), hbt_closed_port(), "/");
        int ok = 0, rc = 0;
        for (int i = 0; i < 300; i++) {
            char id[32];
            snprintf(id, sizeof(id), "p%d", i);
            hb_peer_cfg p;
            hbt_peer(&p, id, url);
            p.opts.reconnect.initial_delay_ns = 10000000000ull;
            p.opts.reconnect.max_delay_ns = 10000000000ull;
            rc = hb_pool_connect(f->pool, &p);
            hb_peer_cfg_free(&p);
            if (rc) break;
            ok++;
        }
        hbt_fx_free(&f);
        fprintf(stderr, "fd limit 200: %d peers, then %s\n", ok, hb_errname(rc));
        _exit(rc == HB_E_FD_LIMIT && ok > 50 && ok < 200 - 64 ? 0 : 12);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_fd_limit, hbt_reap),
        cmocka_unit_test_teardown(test_thousand_peers, hbt_reap),
        cmocka_unit_test_teardown(test_handshakes_over_the_cap, hbt_reap),
    };
    return HBT_RUN(tests);
}
