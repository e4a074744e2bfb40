/*
 * test_config_shard.c: bridge.shard (core/shard.h hb__shard_parse,
 * config/shard.h): the "I/N" and "auto/N" spellings and every way outside
 * input gets them wrong, the schema row (file line, HONEYBEE_SHARD), the
 * peers a shard keeps; and tests/support/shard_vectors.json, which pins the
 * hash for the CLI and the Python and Node consumers
 * (HB_UPDATE_GENERATED=1 rewrites it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/shard.h"
#include "core/shard.h"

static void test_parse_ok(void **state)
{
    (void)state;
    static const struct {
        const char *s, *host;
        uint32_t i, n;
    } ok[] = {
        {"0/1", NULL, 0, 1},
        {"2/3", NULL, 2, 3},
        {"1023/1024", NULL, 1023, 1024},
        {"auto/3", "honeybee-2", 2, 3},
        {"auto/3", "a-b-0", 0, 3},
        {"auto/1", "x-0", 0, 1},
        {"auto/3", NULL, UINT32_MAX, 3}, /* the schema's syntax check */
        {"7/8", "ignored-99", 7, 8},
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        hb__shard sh = {99, 99};
        char why[256] = "";
        assert_true(hb__shard_parse(ok[k].s, ok[k].host, &sh, why, sizeof why));
        assert_int_equal(sh.index, ok[k].i);
        assert_int_equal(sh.count, ok[k].n);
    }
}

static void test_parse_refused(void **state)
{
    (void)state;
    static const struct {
        const char *s, *host, *words;
    } bad[] = {
        {"", NULL, "must be \"I/N\""},
        {NULL, NULL, "must be \"I/N\""},
        {"3", NULL, "must be \"I/N\""},
        {"3/", NULL, "must be \"I/N\""},
        {"/3", NULL, "must be \"I/N\""},
        {"1//3", NULL, "must be \"I/N\""},
        {"-1/3", NULL, "must be \"I/N\""},
        {"+1/3", NULL, "must be \"I/N\""},
        {" 1/3", NULL, "must be \"I/N\""},
        {"1/3 ", NULL, "must be \"I/N\""},
        {"1/3\n", NULL, "must be \"I/N\""},
        {"1/3/5", NULL, "must be \"I/N\""},
        {"0x1/3", NULL, "must be \"I/N\""},
        {"1/3x", NULL, "must be \"I/N\""},
        {"Auto/3", NULL, "must be \"I/N\""},
        {"auto", NULL, "must be \"I/N\""},
        {"auto/", NULL, "must be \"I/N\""},
        {"auto/auto", NULL, "must be \"I/N\""},
        {"9999999999/3", NULL, "must be \"I/N\""},
        {"1/99999999999999999999", NULL, "must be \"I/N\""},
        {"3/3", NULL, "shard 3 is not below the shard count 3"},
        {"5/3", NULL, "not below"},
        {"0/0", NULL, "between 1 and 1024"},
        {"0/1025", NULL, "between 1 and 1024"},
        {"auto/0", "x-0", "between 1 and 1024"},
        {"auto/3", "honeybee-3", "replicas and N differ"},
        {"auto/3", "honeybee", "HOSTNAME is \"honeybee\""},
        {"auto/3", "", "HOSTNAME is empty"},
        {"auto/3", "honeybee-", "HOSTNAME's trailing -<ordinal>"},
        {"auto/3", "honeybee-1a", "HOSTNAME's trailing -<ordinal>"},
        {"auto/3", "honeybee-99999999999", "HOSTNAME's trailing -<ordinal>"},
        {"auto/3", "evil\n\x1b[2J-x", "HOSTNAME is \"evil??[2J-x\""},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        hb__shard sh = {77, 77};
        char why[256] = "";
        assert_false(hb__shard_parse(bad[k].s, bad[k].host, &sh, why, sizeof why));
        if (!strstr(why, bad[k].words))
            fail_msg("%s: expected \"%s\" in \"%s\"", bad[k].s ? bad[k].s : "(null)", bad[k].words,
                     why);
        assert_int_equal(sh.index, 77); /* untouched */
    }
}

static const char *s_env_val;
static const char *fake_getenv(const char *name)
{
    return !strcmp(name, "HONEYBEE_SHARD") ? s_env_val : NULL;
}

static void test_schema_row(void **state)
{
    (void)state;
    hb_config *c = NULL;
    char *err = NULL;
    assert_int_equal(hb_config_defaults(&c), 0);
    assert_string_equal(c->bridge.shard, "0/1");
    hb_config_destroy(&c);

    const char *y = "bridge:\n  inbox: tcp://127.0.0.1:5550\n  shard: \"3/3\"\n";
    assert_int_equal(hb_config_load_string(y, strlen(y), "f.yaml", &c, &err), HB_E_CONFIG);
    assert_non_null(strstr(err, "f.yaml:3: bridge.shard: shard 3 is not below"));
    free(err);

    y = "bridge:\n  shard: 1/3\n";
    assert_int_equal(hb_config_load_string(y, strlen(y), "f.yaml", &c, &err), 0);
    free(err);
    assert_string_equal(c->bridge.shard, "1/3");
    s_env_val = "2/4";
    assert_int_equal(hb_config_apply_env(c, fake_getenv, &err), 0);
    assert_string_equal(c->bridge.shard, "2/4");
    s_env_val = "2/x";
    assert_int_equal(hb_config_apply_env(c, fake_getenv, &err), HB_E_CONFIG);
    assert_non_null(strstr(err, "HONEYBEE_SHARD"));
    assert_non_null(strstr(err, "must be \"I/N\""));
    free(err);
    assert_string_equal(c->bridge.shard, "2/4"); /* kept */
    hb_config_destroy(&c);
}

static void test_filter(void **state)
{
    (void)state;
    char y[4096];
    size_t n = (size_t)snprintf(y, sizeof y, "peers:\n");
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(y + n, sizeof y - n, "  - {id: p%d, url: \"ws://h/\"}\n", i);
    size_t kept[3] = {0};
    for (uint32_t s = 0; s < 3; s++) {
        hb_config *c = NULL;
        char *err = NULL;
        assert_int_equal(hb_config_load_string(y, n, "f.yaml", &c, &err), 0);
        free(err);
        c->bridge.shard_index = s;
        c->bridge.shard_count = 3;
        hb__shard sh = hb__config_shard(&c->bridge);
        size_t dropped = hb__config_shard_filter(c, sh);
        assert_int_equal(dropped + c->n_peers, 40);
        for (size_t i = 0; i < c->n_peers; i++) {
            const char *id = c->peers[i].id;
            assert_int_equal(hb__shard_of(id, strlen(id), 3), s);
            /* in file order */
            if (i) assert_true(atoi(id + 1) > atoi(c->peers[i - 1].id + 1));
        }
        kept[s] = c->n_peers;
        hb_config_destroy(&c);
    }
    assert_int_equal(kept[0] + kept[1] + kept[2], 40);
    for (int s = 0; s < 3; s++) assert_true(kept[s] > 0);
    /* unresolved (0/0) and 0/1: everything */
    hb_bridge_cfg b = {0};
    hb__shard sh = hb__config_shard(&b);
    assert_int_equal(sh.index, 0);
    assert_int_equal(sh.count, 1);
}

/* ---- the vectors other languages check ---------------------------------- */

static char s_root[1024];

static void find_root(void)
{
    const char *env = getenv("HB_SOURCE_DIR");
    snprintf(s_root, sizeof s_root, "%s", env && *env ? env : ".");
}

static void s_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

/* The file's text: ids chosen to catch a port's usual slips (empty,
 * UTF-8 bytes hashed as bytes not code points, ids longer than a word,
 * bytes >= 0x80 sign-extended, the double division of the jump hash). */
static char *vectors_text(void)
{
    char long_id[129];
    memset(long_id, 'x', 128);
    long_id[128] = 0;
    for (int i = 0; i < 128; i += 10) long_id[i] = (char)('a' + i / 10);
    const char *ids[] = {"",
                         "a",
                         "foobar",
                         "relay-1",
                         "relay-2",
                         "relay-3",
                         "peer-0",
                         "peer-1",
                         "peer-17",
                         "peer-255",
                         "binance:btcusdt",
                         "wss://stream.example.com/ws?x=1",
                         "with space",
                         "quote\"and\\backslash",
                         "caf\xc3\xa9",
                         "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                         "\xf0\x9f\x90\x9d bee",
                         "\xc3\xbf\xc3\xbf\xc3\xbf",
                         long_id};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "{\n  \"about\": \"shard = jump(fnv1a64(utf8 bytes of id), n); docs/protocol.md "
               "Sharding. Generated by tests/unit/test_config_shard.c "
               "(HB_UPDATE_GENERATED=1).\",\n  \"n_max\": 16,\n  \"vectors\": [\n");
    size_t nids = sizeof ids / sizeof ids[0];
    for (size_t k = 0; k < nids; k++) {
        const char *id = ids[k];
        fprintf(f, "    {\"id\": ");
        s_json_str(f, id);
        fprintf(f, ", \"fnv1a64\": \"%016llx\", \"shards\": [",
                (unsigned long long)hb__id_hash(id, strlen(id)));
        for (uint32_t n = 1; n <= 16; n++)
            fprintf(f, "%s%u", n > 1 ? ", " : "", hb__shard_of(id, strlen(id), n));
        fprintf(f, "]}%s\n", k + 1 < nids ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    fclose(f);
    return buf;
}

static void test_vectors_file(void **state)
{
    (void)state;
    find_root();
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/support/shard_vectors.json", s_root);
    char *gen = vectors_text();
    const char *u = getenv("HB_UPDATE_GENERATED");
    if (u && !strcmp(u, "1")) {
        FILE *w = fopen(path, "wb");
        assert_non_null(w);
        fputs(gen, w);
        fclose(w);
    }
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    char *file = calloc(1, 65536);
    size_t got = fread(file, 1, 65535, f);
    fclose(f);
    file[got] = 0;
    if (strcmp(file, gen) != 0)
        fail_msg("tests/support/shard_vectors.json differs from the C hash; rerun this test "
                 "with HB_UPDATE_GENERATED=1 only if the hash was meant to change (it is a "
                 "protocol: every client computes it)");
    free(file);
    free(gen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),     cmocka_unit_test(test_parse_refused),
        cmocka_unit_test(test_schema_row),   cmocka_unit_test(test_filter),
        cmocka_unit_test(test_vectors_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
