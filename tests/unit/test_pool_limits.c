/*
 * test_pool_limits.c: the pool's two limits on peers, without a network
 * (peers dial 127.0.0.1:1 and fail, which does not matter here):
 *
 * - hb_pool_new never changes the process's RLIMIT_NOFILE (the library
 *   budgets against the soft limit it finds; raising it is the program's
 *   call, as the daemon does at start);
 * - max_peers refuses the next connect with its own code, peer_limit, not
 *   fd_limit (which means the open-file limit).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "../support/stubs.h"
#include "honeybee/pool.h"

static hb_pool *s_pool(uint32_t max_peers)
{
    hb_pool_config pc;
    memset(&pc, 0, sizeof(pc));
    pc.sink.inbox = hbts_sink_inbox;
    pc.sink.event = hbts_sink_event;
    pc.max_peers = max_peers;
    hb_pool *pool = NULL;
    assert_int_equal(hb_pool_new(&pc, &pool), 0);
    return pool;
}

static void test_rlimit_untouched(void **state)
{
    struct rlimit was, low, now;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
    if (was.rlim_max != RLIM_INFINITY && was.rlim_max < 512) skip();
    low = was;
    low.rlim_cur = 512; /* below the hard limit: room a library could take */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    hb_pool *pool = s_pool(0);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
    hb_pool_destroy(&pool);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
    assert_int_equal(now.rlim_cur, 512);
    assert_int_equal(now.rlim_max, was.rlim_max);
}

static void test_max_peers(void **state)
{
    hb_pool *pool = s_pool(2);
    hb_peer_cfg p;
    hb_config *cfg = NULL;
    assert_int_equal(hb_config_defaults(&cfg), 0);
    const char *ids[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        memset(&p, 0, sizeof(p));
        char *errors = NULL;
        assert_int_equal(
            hb_peer_cfg_from_json(&cfg->pool, ids[i], "ws://127.0.0.1:1/", NULL, &p, &errors), 0);
        free(errors);
        assert_int_equal(hb_pool_connect(pool, &p), i < 2 ? 0 : HB_E_PEER_LIMIT);
        hb_peer_cfg_free(&p);
    }
    assert_string_equal(hb_errname(HB_E_PEER_LIMIT), "peer_limit");
    hb_pool_destroy(&pool);
    hb_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rlimit_untouched),
        cmocka_unit_test(test_max_peers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
