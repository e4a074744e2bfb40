/*
 * test_config_generated.c: the texts generated from the schema table stay
 * in sync with the files in the repository, and say true things.
 *
 * - examples/honeybee.yaml equals hb_config_write_example's output and loads
 *   without error into exactly the defaults; its commented peer example,
 *   uncommented, loads too.
 * - the key reference in docs/config.md (between the GENERATED markers)
 *   equals hb__config_write_doc's output.
 * - every row of the table is sound: its default parses, peer-only rows
 *   have a sample, enum rows have choices, every key appears in both texts.
 *
 * To refresh both files after changing the table, run this test with
 * HB_UPDATE_GENERATED=1 in the environment (it then writes them and passes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "honeybee/config.h"

#define DOC_BEGIN \
    "<!-- BEGIN GENERATED KEYS: do not edit, see tests/unit/test_config_generated.c -->\n"
#define DOC_END "<!-- END GENERATED KEYS -->\n"

static char s_root[1024];

static void find_root(void)
{
    const char *env = getenv("HB_SOURCE_DIR");
    if (env && *env) {
        snprintf(s_root, sizeof s_root, "%s", env);
        return;
    }
    /* Fall back on this file's own location: ROOT/tests/unit/x.c */
    snprintf(s_root, sizeof s_root, "%s", __FILE__);
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr(s_root, '/');
        if (slash) *slash = '\0';
    }
}

static char *read_file(const char *rel)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", s_root, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static void write_file(const char *rel, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", s_root, rel);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *example_text(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    hb_config_write_example(m);
    fclose(m);
    return buf;
}

static char *doc_text(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    hb__config_write_doc(m);
    fclose(m);
    return buf;
}

static bool updating(void)
{
    const char *u = getenv("HB_UPDATE_GENERATED");
    return u && !strcmp(u, "1");
}

static void test_example_file(void **state)
{
    (void)state;
    char *gen = example_text();
    if (updating()) write_file("examples/honeybee.yaml", gen);
    char *file = read_file("examples/honeybee.yaml");
    assert_non_null(file);
    if (strcmp(gen, file) != 0)
        fail_msg("examples/honeybee.yaml differs from hb_config_write_example(); regenerate "
                 "with `honeybee-bridge --print-config > examples/honeybee.yaml` or "
                 "HB_UPDATE_GENERATED=1");
    /* It loads cleanly, into exactly the defaults. */
    hb_config *c = NULL, *d = NULL;
    char *err = NULL;
    int rc = hb_config_load_string(file, strlen(file), "examples/honeybee.yaml", &c, &err);
    if (rc) fail_msg("example does not load:\n%s", err);
    assert_int_equal(hb_config_defaults(&d), 0);
    for (int s = 0; s < HB__S__COUNT; s++) {
        if (s == HB__S_PEER) continue;
        void *a = hb__cfg_section_base(c, s), *b = hb__cfg_section_base(d, s);
        assert_true(hb__cfg_section_equal((hb__cfg_section)s, a, b));
    }
    assert_int_equal(c->n_peers, 0);
    hb_config_destroy(&c);
    hb_config_destroy(&d);

    /* Uncomment the peer example: it must load, with its sample values. */
    char *yaml = calloc(1, strlen(file) + 1);
    bool in_peers = false;
    for (char *line = file, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        if (!strcmp(line, "peers: []") || !strcmp(line, "# For example:")) continue;
        if (!strcmp(line, "# peers:")) in_peers = true;
        if (in_peers && !*line) in_peers = false;
        strcat(yaml, in_peers ? line + 2 : line);
        strcat(yaml, "\n");
    }
    rc = hb_config_load_string(yaml, strlen(yaml), "uncommented.yaml", &c, &err);
    if (rc) fail_msg("uncommented example does not load:\n%s\n%s", err, yaml);
    assert_int_equal(c->n_peers, 1);
    assert_string_equal(c->peers[0].id, "relay-a");
    assert_string_equal(c->peers[0].url, "wss://relay.example.com/");
    assert_int_equal(c->peers[0].n_headers, 1);
    assert_int_equal(c->peers[0].n_on_connect, 1);
    assert_string_equal(c->peers[0].on_connect[0], "[\"REQ\",\"all\",{\"limit\":0}]");
    assert_int_equal(c->peers[0].opts.reconnect.initial_delay_ns, UINT64_C(5000000000));
    assert_int_equal(c->peers[0].opts.reconnect.max_delay_ns, UINT64_C(30000000000));
    hb_config_destroy(&c);
    free(yaml);
    free(file);
    free(gen);
}

static void test_doc_file(void **state)
{
    (void)state;
    char *gen = doc_text();
    char *file = read_file("docs/config.md");
    assert_non_null(file);
    char *b = strstr(file, DOC_BEGIN), *e = b ? strstr(b, DOC_END) : NULL;
    if (!b || !e) fail_msg("docs/config.md lacks the markers\n%s%s", DOC_BEGIN, DOC_END);
    b += strlen(DOC_BEGIN);
    if (updating()) {
        size_t head = (size_t)(b - file);
        char *out = malloc(strlen(file) + strlen(gen) + 1);
        memcpy(out, file, head);
        strcpy(out + head, gen);
        strcat(out, e);
        write_file("docs/config.md", out);
        free(out);
    } else if ((size_t)(e - b) != strlen(gen) || memcmp(b, gen, strlen(gen)) != 0) {
        fail_msg("docs/config.md's key reference differs from hb__config_write_doc(); "
                 "rerun this test with HB_UPDATE_GENERATED=1");
    }
    free(file);
    free(gen);
}

static void test_table_sound(void **state)
{
    (void)state;
    char *ex = example_text(), *doc = doc_text();
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        assert_non_null(k->path);
        assert_non_null(k->doc);
        assert_non_null(k->unit);
        if (k->type == HB__T_ENUM) assert_non_null(k->choices);
        if (k->section == HB__S_PEER) {
            if (!hb__cfg_sample(k->path)) fail_msg("peer key %s has no sample", k->path);
        } else {
            if (!k->def) fail_msg("key %s has no default", k->path);
        }
        /* The default parses (hb__cfg_set on the default text). */
        if (k->def) {
            hb_peer_cfg scratch;
            memset(&scratch, 0, sizeof scratch);
            hb_config big;
            memset(&big, 0, sizeof big);
            void *base = k->section == HB__S_BRIDGE     ? (void *)&big.bridge
                         : k->section == HB__S_POOL     ? (void *)&big.pool
                         : k->section == HB__S_LOG      ? (void *)&big.log
                         : k->section == HB__S_POOLWIDE ? (void *)&big.pool_wide
                                                        : (void *)&scratch;
            hb__errs errs = {0};
            hb__node v = {
                .kind = HB__N_SCALAR, .plain = true, .text = (char *)k->def, .len = strlen(k->def)};
            if (!hb__cfg_set(k, base, &v, NULL, k->path, &errs))
                fail_msg("default of %s does not parse", k->path);
            assert_true(hb__cfg_check_value(k, base, NULL, 0, k->path, &errs));
            hb__errs_free(&errs);
            hb__cfg_section_free(k->section, base);
        }
        /* Every key is in both texts. */
        const char *dot = strrchr(k->path, '.');
        char needle[128];
        snprintf(needle, sizeof needle, " %s: ", dot ? dot + 1 : k->path);
        if (!strstr(ex, needle)) fail_msg("%s missing from the example", k->path);
        snprintf(needle, sizeof needle, "`%s%s.%s` |", hb__cfg_section_name(k->section),
                 k->section == HB__S_PEER ? "[]" : "", k->path);
        if (!strstr(doc, needle)) fail_msg("%s missing from the doc", k->path);
        if (k->env && !strstr(ex, k->env)) fail_msg("%s's env missing from the example", k->path);
    }
    free(ex);
    free(doc);
}

int main(void)
{
    find_root();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_doc_file),
        cmocka_unit_test(test_table_sound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
