/*
 * test_bridge_reload.c: the SIGHUP diff of src/daemon/reload.c against a
 * mock pool: added connect, gone are removed, changed are removed and
 * connected after their removed event, unchanged are untouched, and a
 * changed `pool` section changes every peer that inherits it.
 *
 * reload.c lives in the daemon (not the library), so it is compiled in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/reload.c"

typedef struct s_mock {
    char log[2048]; /* "connect:a remove:b after:c " */
    int remove_rc;
    int connect_rc;
} s_mock;

static void s_add(s_mock *m, const char *what, const char *id)
{
    size_t n = strlen(m->log);
    snprintf(m->log + n, sizeof(m->log) - n, "%s:%s ", what, id);
}

static int s_connect(void *ud, const hb_peer_cfg *p)
{
    s_add(ud, "connect", p->id);
    return ((s_mock *)ud)->connect_rc;
}

static int s_remove(void *ud, const char *id)
{
    s_add(ud, "remove", id);
    return ((s_mock *)ud)->remove_rc;
}

static void s_after(void *ud, const hb_peer_cfg *p)
{
    s_add(ud, "after", p->id);
}

static bool s_exists(void *ud, const char *id)
{
    return false;
}

static void s_cancel(void *ud, const char *id)
{
    s_add(ud, "cancel", id);
}

static hb_config *s_load(const char *yaml)
{
    hb_config *c = NULL;
    char *errors = NULL;
    int rc = hb_config_load_string(yaml, strlen(yaml), "test.yaml", &c, &errors);
    if (rc) fprintf(stderr, "config: %s\n", errors ? errors : "?");
    free(errors);
    assert_int_equal(rc, 0);
    return c;
}

static const char *s_v1 = "peers:\n"
                          "  - id: keep\n    url: ws://127.0.0.1:1/\n"
                          "  - id: change\n    url: ws://127.0.0.1:2/\n"
                          "  - id: gone\n    url: ws://127.0.0.1:3/\n";
static const char *s_v2 = "peers:\n"
                          "  - id: keep\n    url: ws://127.0.0.1:1/\n"
                          "  - id: change\n    url: ws://127.0.0.1:2/\n    send_queue: 7\n"
                          "  - id: new\n    url: ws://127.0.0.1:4/\n";

static void test_diff(void **state)
{
    hb_config *a = s_load(s_v1), *b = s_load(s_v2);
    hb_file_peers fp = {0};
    assert_int_equal(hb__file_peers_set(&fp, a->peers, a->n_peers), 0);
    s_mock m = {.remove_rc = 0};
    hb_reload_ops ops = {s_connect, s_remove, s_after, s_exists, &m, s_cancel};
    hb_reload_result r;
    assert_int_equal(hb__reload_diff(&fp, b->peers, b->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "cancel:gone remove:gone remove:change after:change connect:new ");
    assert_int_equal(r.added, 1);
    assert_int_equal(r.removed, 1);
    assert_int_equal(r.changed, 1);
    assert_int_equal(r.unchanged, 1);
    assert_int_equal(fp.n, 3);

    /* Same file again: nothing to do. */
    m.log[0] = 0;
    assert_int_equal(hb__reload_diff(&fp, b->peers, b->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "");
    assert_int_equal(r.unchanged, 3);

    /* A changed peer that is no longer in the pool is simply connected. */
    hb_config *c = s_load(s_v1);
    m.log[0] = 0;
    m.remove_rc = HB_E_UNKNOWN_PEER;
    assert_int_equal(hb__reload_diff(&fp, c->peers, c->n_peers, &ops, NULL, &r), 0);
    /* ...and a reconnect an earlier reload left pending for it is cancelled,
     * as is one for a peer the file no longer has. */
    assert_string_equal(
        m.log, "cancel:new remove:new remove:change cancel:change connect:change connect:gone ");
    hb__file_peers_free(&fp);
    hb_config_destroy(&a);
    hb_config_destroy(&b);
    hb_config_destroy(&c);
}

static void test_control_peer_not_adopted(void **state)
{
    hb_config *a = s_load("peers: []\n");
    hb_config *b = s_load("peers:\n  - id: taken\n    url: ws://127.0.0.1:1/\n");
    hb_file_peers fp = {0};
    s_mock m = {.connect_rc = HB_E_PEER_EXISTS};
    hb_reload_ops ops = {s_connect, s_remove, s_after, s_exists, &m, s_cancel};
    hb_reload_result r;
    assert_int_equal(hb__reload_diff(&fp, b->peers, b->n_peers, &ops, NULL, &r), 0);
    assert_int_equal(r.failed, 1);
    assert_int_equal(fp.n, 0); /* not a file peer: a reload without it keeps it */
    m.log[0] = 0;
    assert_int_equal(hb__reload_diff(&fp, a->peers, a->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "");
    hb__file_peers_free(&fp);
    hb_config_destroy(&a);
    hb_config_destroy(&b);
}

static void test_pool_section_changes_inheritors(void **state)
{
    hb_config *a = s_load("pool:\n  send_queue: 10\n"
                          "peers:\n"
                          "  - id: inherits\n    url: ws://127.0.0.1:1/\n"
                          "  - id: own\n    url: ws://127.0.0.1:2/\n    send_queue: 5\n");
    hb_config *b = s_load("pool:\n  send_queue: 20\n"
                          "peers:\n"
                          "  - id: inherits\n    url: ws://127.0.0.1:1/\n"
                          "  - id: own\n    url: ws://127.0.0.1:2/\n    send_queue: 5\n");
    hb_file_peers fp = {0};
    assert_int_equal(hb__file_peers_set(&fp, a->peers, a->n_peers), 0);
    s_mock m = {.remove_rc = 0};
    hb_reload_ops ops = {s_connect, s_remove, s_after, s_exists, &m, s_cancel};
    hb_reload_result r;
    assert_int_equal(hb__reload_diff(&fp, b->peers, b->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "remove:inherits after:inherits ");
    assert_int_equal(r.unchanged, 1);
    hb__file_peers_free(&fp);
    hb_config_destroy(&a);
    hb_config_destroy(&b);
}

/* A file peer whose connect fails (fd_limit, out of memory) is not kept as
 * a file peer: the next reload with the same file tries it again instead of
 * taking it for unchanged. */
static void test_failed_connect_retried(void **state)
{
    hb_config *a = s_load("peers:\n  - id: p\n    url: ws://127.0.0.1:1/\n");
    hb_file_peers fp = {0};
    s_mock m = {.connect_rc = HB_E_FD_LIMIT};
    hb_reload_ops ops = {s_connect, s_remove, s_after, s_exists, &m, s_cancel};
    hb_reload_result r;
    assert_int_equal(hb__reload_diff(&fp, a->peers, a->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "connect:p ");
    assert_int_equal(r.failed, 1);
    assert_int_equal(fp.n, 0);
    m.log[0] = 0;
    m.connect_rc = 0;
    assert_int_equal(hb__reload_diff(&fp, a->peers, a->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "connect:p ");
    assert_int_equal(r.added, 1);
    assert_int_equal(fp.n, 1);

    /* The same for a changed peer that was gone and cannot connect. */
    hb_config *b = s_load("peers:\n  - id: p\n    url: ws://127.0.0.1:2/\n");
    m.log[0] = 0;
    m.remove_rc = HB_E_UNKNOWN_PEER;
    m.connect_rc = HB_E_NOMEM;
    assert_int_equal(hb__reload_diff(&fp, b->peers, b->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "remove:p cancel:p connect:p ");
    assert_int_equal(fp.n, 0);
    m.log[0] = 0;
    m.connect_rc = 0;
    assert_int_equal(hb__reload_diff(&fp, b->peers, b->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "connect:p ");
    assert_int_equal(fp.n, 1);

    /* The daemon drops a peer whose pending reconnect failed the same way. */
    hb__file_peers_drop(&fp, "p");
    assert_int_equal(fp.n, 0);
    hb__file_peers_drop(&fp, "p"); /* unknown id: nothing */
    hb__file_peers_free(&fp);
    hb_config_destroy(&a);
    hb_config_destroy(&b);
}

static void test_needs_restart(void **state)
{
    hb_config *a = s_load("bridge:\n  inbox: tcp://127.0.0.1:5000\n");
    hb_config *b = s_load("bridge:\n  inbox: tcp://127.0.0.1:5001\n");
    hb_config *c = s_load("bridge:\n  inbox: tcp://127.0.0.1:5000\nlog:\n  level: debug\n");
    const char *what = NULL;
    assert_false(hb__reload_needs_restart(a, a, &what));
    assert_true(hb__reload_needs_restart(a, b, &what));
    assert_string_equal(what, "bridge.inbox");
    assert_true(hb__reload_needs_restart(a, c, &what));
    assert_string_equal(what, "log.level");
    hb_config_destroy(&a);
    hb_config_destroy(&b);
    hb_config_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_control_peer_not_adopted),
        cmocka_unit_test(test_pool_section_changes_inheritors),
        cmocka_unit_test(test_failed_connect_retried),
        cmocka_unit_test(test_needs_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
