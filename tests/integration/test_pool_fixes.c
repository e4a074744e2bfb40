/*
 * test_pool_fixes.c: regressions found in review, each against real sockets:
 *   - a host-name peer whose dial fails inside lws's connect call (a closed
 *     port on localhost: the RST comes back synchronously) must not free the
 *     connection twice (ASan catches it);
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/hbt.h"
#include "honeybee/pool.h"

#define MS 1000000ull

typedef struct fx {
    hbt_sink sink;
    hb_pool *pool;
} fx;

static int s_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    hbt_sink_init(&f->sink);
    hb_pool_config pc = {.sink = hbt_sink_get(&f->sink)};
    assert_int_equal(hb_pool_new(&pc, &f->pool), 0);
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

/* Finding 1: a host-name peer whose connect fails synchronously. */
static void test_hostname_sync_dial_failure(void **state)
{
    fx *f = *state;
    /* A path longer than lws's header buffer (4 KiB): lws refuses it inside
     * lws_client_connect_via_info, after our resolver thread resolved the
     * name. */
    static char url[6000];
    int o = snprintf(url, sizeof(url), "ws://localhost:%d/", hbt_closed_port());
    memset(url + o, 'p', 5000);
    url[o + 5000] = 0;
    hb_peer_cfg p;
    hbt_peer(&p, "lh", url);
    p.opts.reconnect.initial_delay_ns = 10 * MS;
    p.opts.reconnect.max_delay_ns = 20 * MS;
    p.opts.reconnect.max_retries = 3;
    assert_int_equal(hb_pool_connect(f->pool, &p), 0);
    hb_peer_cfg_free(&p);
    hb_event *r = hbt_wait_event(&f->sink, HB_EV_REMOVED, "lh", 1, 10000);
    assert_non_null(r);
    assert_string_equal(r->reason, "max_retries");
    assert_int_equal(hbt_count_events(&f->sink, HB_EV_DIAL_FAILED, "lh"), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostname_sync_dial_failure, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
