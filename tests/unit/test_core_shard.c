/*
 * test_core_shard.c: the placement hash (core/shard): FNV-1a's published
 * values, the jump hash's range and its one property that matters for a
 * resharding (going from n to n+1 buckets moves a key only to bucket n),
 * an even spread, and loop placement independent of the shard.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/shard.h"

static void test_fnv1a(void **state)
{
    (void)state;
    /* The FNV-1a 64 reference values (offset basis; "a"; "foobar"). */
    assert_true(hb__id_hash("", 0) == 0xcbf29ce484222325ULL);
    assert_true(hb__id_hash("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(hb__id_hash("foobar", 6) == 0x85944171f73967e8ULL);
}

static void test_jump_range_and_moves(void **state)
{
    (void)state;
    for (uint64_t k = 0; k < 20000; k++) {
        uint64_t key = hb__id_hash((const char *)&k, sizeof k);
        assert_int_equal(hb__jump(key, 1), 0);
        uint32_t prev = 0;
        for (uint32_t n = 2; n <= 12; n++) {
            uint32_t b = hb__jump(key, n);
            assert_true(b < n);
            assert_true(b == prev || b == n - 1);
            prev = b;
        }
    }
    assert_int_equal(hb__jump(0, 1000), 0); /* first jump lands at 2^31 */
}

static void test_spread(void **state)
{
    (void)state;
    enum { N = 5, IDS = 50000 };
    unsigned shard[N] = {0}, loop[N] = {0}, both[N][N] = {{0}};
    char id[32];
    for (int i = 0; i < IDS; i++) {
        int len = snprintf(id, sizeof id, "peer-%d", i);
        uint32_t s = hb__shard_of(id, (size_t)len, N), l = hb__loop_of(id, (size_t)len, N);
        shard[s]++;
        loop[l]++;
        both[s][l]++;
    }
    for (int i = 0; i < N; i++) {
        assert_in_range(shard[i], IDS / N * 9 / 10, IDS / N * 11 / 10);
        assert_in_range(loop[i], IDS / N * 9 / 10, IDS / N * 11 / 10);
        /* the loops of one shard are spread too: no correlation */
        for (int j = 0; j < N; j++)
            assert_in_range(both[i][j], IDS / N / N * 8 / 10, IDS / N / N * 12 / 10);
    }
}

static void test_pinned(void **state)
{
    (void)state;
    /* Pinned so that a change to the C side cannot pass unnoticed; the
     * other languages check tests/support/shard_vectors.json. */
    assert_int_equal(hb__shard_of("relay-1", 7, 3), hb__jump(hb__id_hash("relay-1", 7), 3));
    assert_int_equal(hb__shard_of("x", 1, 0), 0);
    assert_int_equal(hb__loop_of("x", 1, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fnv1a),
        cmocka_unit_test(test_jump_range_and_moves),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_pinned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
