/*
 * test_daemon_reload.c: src/daemon/reload.c.
 *
 * - The SIGHUP diff against a mock pool: added connect, gone are removed,
 *   changed are removed and connected after their removed event, unchanged
 *   are untouched, and a changed `pool` section changes every peer that
 *   inherits it.
 * - A file peer whose id control took (released, parked): a reload with
 *   the same entry leaves it alone, one without it removes nothing, a
 *   changed entry connects it again.
 * - The pending reconnects against a real pool (no thread drives them
 *   here: the test calls the check the bridge thread would): one entry per
 *   id, the newest replaces an older one, a cancel leaves a tombstone the
 *   check drops, the entry connected carries the newest configuration, and
 *   one whose connect fails is handed to the main thread.
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
#include <unistd.h>

#include <cmocka.h>

#include "../support/stubs.h"
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
    hb__file_peers fp = {0};
    assert_int_equal(hb__file_peers_set(&fp, a->peers, a->n_peers), 0);
    s_mock m = {.remove_rc = 0};
    hb__reload_ops ops = {s_connect, s_remove, s_after, s_exists, &m, s_cancel, NULL};
    hb__reload_result r;
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
    hb__file_peers fp = {0};
    s_mock m = {.connect_rc = HB_E_PEER_EXISTS};
    hb__reload_ops ops = {s_connect, s_remove, s_after, s_exists, &m, s_cancel, NULL};
    hb__reload_result r;
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
    hb__file_peers fp = {0};
    assert_int_equal(hb__file_peers_set(&fp, a->peers, a->n_peers), 0);
    s_mock m = {.remove_rc = 0};
    hb__reload_ops ops = {s_connect, s_remove, s_after, s_exists, &m, s_cancel, NULL};
    hb__reload_result r;
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
    hb__file_peers fp = {0};
    s_mock m = {.connect_rc = HB_E_FD_LIMIT};
    hb__reload_ops ops = {s_connect, s_remove, s_after, s_exists, &m, s_cancel, NULL};
    hb__reload_result r;
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

/* Control took `a` (a remove, or a remove and a connect of its own): the
 * daemon released it from its file peers. */
static void test_released_file_peer(void **state)
{
    hb_config *ab = s_load("peers:\n"
                           "  - id: a\n    url: ws://127.0.0.1:1/\n"
                           "  - id: b\n    url: ws://127.0.0.1:2/\n");
    hb_config *b_only = s_load("peers:\n  - id: b\n    url: ws://127.0.0.1:2/\n");
    hb_config *a2b = s_load("peers:\n"
                            "  - id: a\n    url: ws://127.0.0.1:3/\n"
                            "  - id: b\n    url: ws://127.0.0.1:2/\n");
    hb__file_peers fp = {0};
    assert_int_equal(hb__file_peers_set(&fp, ab->peers, ab->n_peers), 0);
    hb__file_peers_release(&fp, "a");
    hb__file_peers_release(&fp, "zz"); /* no file peer: nothing */
    assert_int_equal(fp.n, 1);
    assert_int_equal(fp.n_parked, 1);
    s_mock m = {.remove_rc = 0};
    hb__reload_ops ops = {s_connect, s_remove, s_after, s_exists, &m, s_cancel, NULL};
    hb__reload_result r;

    /* The same entry: left alone, still parked (comes back only if changed). */
    assert_int_equal(hb__reload_diff(&fp, ab->peers, ab->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "");
    assert_int_equal(r.unchanged, 2);
    assert_int_equal(fp.n, 1);
    assert_int_equal(fp.n_parked, 1);
    hb__file_peers_release(&fp, "a"); /* parked already: nothing */
    assert_int_equal(fp.n_parked, 1);

    /* Gone from the file: nothing removed (the id may be a control peer's),
     * and forgotten. */
    assert_int_equal(hb__reload_diff(&fp, b_only->peers, b_only->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "");
    assert_int_equal(r.removed, 0);
    assert_int_equal(fp.n, 1);
    assert_int_equal(fp.n_parked, 0);
    /* ...so the entry back is a new peer. */
    assert_int_equal(hb__reload_diff(&fp, ab->peers, ab->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "connect:a ");
    assert_int_equal(fp.n, 2);

    /* A changed entry is connected again; a control peer holding the id
     * keeps it (peer_exists: not adopted). */
    hb__file_peers_release(&fp, "a");
    m.log[0] = 0;
    m.connect_rc = HB_E_PEER_EXISTS;
    assert_int_equal(hb__reload_diff(&fp, a2b->peers, a2b->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "connect:a ");
    assert_int_equal(r.failed, 1);
    assert_int_equal(fp.n, 1);
    assert_int_equal(fp.n_parked, 0);
    hb__file_peers_release(&fp, "b");
    m.log[0] = 0;
    m.connect_rc = 0;
    hb_config *b3 = s_load("peers:\n  - id: b\n    url: ws://127.0.0.1:4/\n");
    assert_int_equal(hb__reload_diff(&fp, b3->peers, b3->n_peers, &ops, NULL, &r), 0);
    assert_string_equal(m.log, "connect:b ");
    assert_int_equal(r.added, 1);
    assert_int_equal(fp.n, 1);
    assert_int_equal(fp.n_parked, 0);
    hb__file_peers_release(&fp, "b");
    hb__file_peers_free(&fp); /* frees the parked entry too (ASan) */
    assert_int_equal(fp.n_parked, 0);
    hb_config_destroy(&ab);
    hb_config_destroy(&b_only);
    hb_config_destroy(&a2b);
    hb_config_destroy(&b3);
}

static void test_needs_restart(void **state)
{
    hb_config *a = s_load("bridge:\n  inbox: tcp://127.0.0.1:5000\n");
    hb_config *b = s_load("bridge:\n  inbox: tcp://127.0.0.1:5001\n");
    hb_config *c = s_load("bridge:\n  inbox: tcp://127.0.0.1:5000\nlog:\n  level: debug\n");
    /* max_handshakes is read only at start-up (the pool's handshake cap). */
    hb_config *d = s_load("bridge:\n  inbox: tcp://127.0.0.1:5001\n  max_handshakes: 7\n"
                          "log: {level: debug}\npool: {send_queue: 3}\n");
    /* pool and peers are what a reload applies. */
    hb_config *e = s_load("bridge:\n  inbox: tcp://127.0.0.1:5000\npool: {send_queue: 3}\n"
                          "peers: [{id: x, url: 'ws://127.0.0.1:1/'}]\n");
    /* The number of loops is fixed at start (each has its own thread). */
    hb_config *f = s_load("bridge:\n  inbox: tcp://127.0.0.1:5000\npool: {loops: 2}\n");
    char what[256];
    assert_int_equal(hb__reload_needs_restart(a, a, what, sizeof what), 0);
    assert_string_equal(what, "");
    assert_int_equal(hb__reload_needs_restart(a, b, what, sizeof what), 1);
    assert_string_equal(what, "bridge.inbox");
    assert_int_equal(hb__reload_needs_restart(a, c, what, sizeof what), 1);
    assert_string_equal(what, "log.level");
    assert_int_equal(hb__reload_needs_restart(a, d, what, sizeof what), 3);
    assert_string_equal(what, "bridge.inbox, bridge.max_handshakes, log.level");
    assert_int_equal(hb__reload_needs_restart(a, e, what, sizeof what), 0);
    assert_int_equal(hb__reload_needs_restart(a, f, what, sizeof what), 1);
    assert_string_equal(what, "pool.loops");
    /* Truncated to the buffer, still counted. */
    char small[8];
    assert_int_equal(hb__reload_needs_restart(a, d, small, sizeof small), 3);
    assert_string_equal(small, "bridge.");
    hb_config_destroy(&a);
    hb_config_destroy(&b);
    hb_config_destroy(&c);
    hb_config_destroy(&d);
    hb_config_destroy(&e);
    hb_config_destroy(&f);
}

/* The column decides: every key of the sections the daemon reads only at
 * start-up (bridge, log, and pool.loops) is marked, and no key a reload
 * applies is. A reload applies bridge.curve's client keys and address
 * rules (the server certificate needs a restart). */
static void test_restart_column(void **state)
{
    for (size_t i = 0; i < hb__cfg_nkeys; i++) {
        const hb__cfg_key *k = &hb__cfg_keys[i];
        bool reloaded = k->section == HB__S_BRIDGE && !strncmp(k->path, "curve.", 6) &&
                        strcmp(k->path, "curve.server_cert") != 0;
        bool start_only = ((k->section == HB__S_BRIDGE || k->section == HB__S_LOG) && !reloaded) ||
                          (k->section == HB__S_POOLWIDE && !strcmp(k->path, "loops"));
        if (start_only != !!(k->flags & HB__F_RESTART))
            fail_msg("%s.%s: restart flag is wrong", hb__cfg_section_name(k->section), k->path);
    }
}

/* ---- pending reconnects ---------------------------------------------------- */

static size_t s_pending_count(hb__reconnects *r, const char *id, const char **url, bool *tomb)
{
    size_t n = 0;
    for (s_pending *p = r->pending; p; p = p->next)
        if (!strcmp(p->peer.id, id)) {
            n++;
            if (url) *url = p->peer.url;
            if (tomb) *tomb = p->cancelled;
        }
    return n;
}

static void s_peer(hb_peer_cfg *p, const hb_config *cfg, const char *id, const char *url)
{
    memset(p, 0, sizeof(*p));
    char *errors = NULL;
    assert_int_equal(hb_peer_cfg_from_json(&cfg->pool, id, url, NULL, p, &errors), 0);
    free(errors);
}

static void s_count_poke(void *ud)
{
    ++*(int *)ud;
}

/* A pool whose sink frees what it gets (the stubs'), at most max_peers. */
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

static void test_pending_newest_wins(void **state)
{
    hb_config *cfg = s_load("log: {level: error}\n");
    hb_pool *pool = s_pool(0);
    int pokes = 0;
    hb__reconnects *r = NULL;
    assert_int_equal(hb__reconnects_new(pool, NULL, s_count_poke, &pokes, &r), 0);
    hb_peer_cfg v2, v3, other;
    s_peer(&v2, cfg, "a", "ws://127.0.0.1:2/");
    s_peer(&v3, cfg, "a", "ws://127.0.0.1:3/");
    s_peer(&other, cfg, "b", "ws://127.0.0.1:4/");

    hb__reconnects_put(r, &v2);
    hb__reconnects_put(r, &other);
    hb__reconnects_put(r, &v3); /* a second reload changed a again */
    assert_int_equal(pokes, 3); /* each put asks the bridge thread for a check */
    const char *url = NULL;
    bool tomb = true;
    assert_int_equal(s_pending_count(r, "a", &url, &tomb), 1);
    assert_string_equal(url, "ws://127.0.0.1:3/");
    assert_false(tomb);
    assert_int_equal(s_pending_count(r, "b", NULL, NULL), 1);

    /* A reload that removes `a` cancels its reconnect. */
    hb__reconnects_cancel(r, "a");
    assert_int_equal(s_pending_count(r, "a", NULL, &tomb), 1);
    assert_true(tomb);
    assert_int_equal(s_pending_count(r, "b", NULL, NULL), 1);

    /* The tombstone goes, `b` (not in the pool) connects; nothing waits. */
    assert_false(hb__reconnects_check(r));
    assert_null(r->pending);
    hb_peer_info info;
    memset(&info, 0, sizeof(info));
    assert_int_equal(hb_pool_peer_info(pool, "a", &info), HB_E_UNKNOWN_PEER);
    assert_int_equal(hb_pool_peer_info(pool, "b", &info), 0);
    free(info.url);

    /* A changed peer that is still in the pool waits; the newest entry is
     * the one connected once the old one is gone. */
    hb_peer_cfg b2, b3;
    s_peer(&b2, cfg, "b", "ws://127.0.0.1:5/");
    s_peer(&b3, cfg, "b", "ws://127.0.0.1:6/");
    hb__reconnects_put(r, &b2);
    assert_true(hb__reconnects_check(r)); /* still waiting */
    assert_int_equal(s_pending_count(r, "b", &url, NULL), 1);
    hb__reconnects_put(r, &b3);
    assert_int_equal(s_pending_count(r, "b", &url, NULL), 1);
    assert_string_equal(url, "ws://127.0.0.1:6/");
    assert_int_equal(hb_pool_remove(pool, "b"), 0);
    for (int i = 0; i < 500 && hb__reconnects_check(r); i++) /* until b's removed is out */
        usleep(10000);
    assert_null(r->pending);
    memset(&info, 0, sizeof(info));
    assert_int_equal(hb_pool_peer_info(pool, "b", &info), 0);
    assert_string_equal(info.url, "ws://127.0.0.1:6/");
    free(info.url);

    hb_pool_destroy(&pool);
    hb__reconnects_destroy(&r);
    assert_null(r);
    hb_peer_cfg_free(&v2);
    hb_peer_cfg_free(&v3);
    hb_peer_cfg_free(&other);
    hb_peer_cfg_free(&b2);
    hb_peer_cfg_free(&b3);
    hb_config_destroy(&cfg);
}

static void s_collect(void *ud, const char *id)
{
    char *log = ud;
    strcat(log, id);
    strcat(log, " ");
}

/* A pending reconnect whose connect fails (here: the pool's max_peers) is
 * handed to the main thread, which drops it from its file peers so a later
 * reload retries. */
static void test_pending_failure_reported(void **state)
{
    hb_config *cfg = s_load("log: {level: error}\n");
    hb_pool *pool = s_pool(1);
    hb__reconnects *r = NULL;
    assert_int_equal(hb__reconnects_new(pool, NULL, NULL, NULL, &r), 0);
    hb_peer_cfg x, y;
    s_peer(&x, cfg, "x", "ws://127.0.0.1:1/");
    s_peer(&y, cfg, "y", "ws://127.0.0.1:1/");
    assert_int_equal(hb_pool_connect(pool, &x), 0);
    hb__reconnects_put(r, &y);
    assert_false(hb__reconnects_check(r));
    assert_null(r->pending);
    char log[64] = "";
    assert_int_equal(hb__reconnects_take_failed(r, s_collect, log), 1);
    assert_string_equal(log, "y ");
    assert_int_equal(hb__reconnects_take_failed(r, s_collect, log), 0); /* taken once */
    /* A failed entry not taken is freed by destroy (ASan). */
    hb__reconnects_put(r, &y);
    assert_false(hb__reconnects_check(r));
    hb_pool_destroy(&pool);
    hb__reconnects_destroy(&r);
    hb_peer_cfg_free(&x);
    hb_peer_cfg_free(&y);
    hb_config_destroy(&cfg);
}

/* The file ids control may claim: each once per set, handed to the main
 * thread at the next set; a claim drops the id's pending reconnect. */
static void test_claims(void **state)
{
    hb_config *cfg = s_load("log: {level: error}\n"
                            "peers:\n"
                            "  - id: a\n    url: ws://127.0.0.1:1/\n"
                            "  - id: b\n    url: ws://127.0.0.1:2/\n");
    hb_pool *pool = s_pool(0);
    hb__reconnects *r = NULL;
    assert_int_equal(hb__reconnects_new(pool, NULL, NULL, NULL, &r), 0);
    assert_false(hb__reconnects_claim(r, "a")); /* no set yet */
    assert_int_equal(hb__reconnects_file_ids(r, cfg->peers, cfg->n_peers, NULL, NULL), 0);
    hb_peer_cfg b2;
    s_peer(&b2, cfg, "b", "ws://127.0.0.1:5/");
    hb__reconnects_put(r, &b2);
    assert_false(hb__reconnects_claim(r, "x")); /* a control peer's id */
    assert_true(hb__reconnects_claim(r, "b"));
    assert_int_equal(s_pending_count(r, "b", NULL, NULL), 0);
    assert_true(hb__reconnects_claim(r, "a"));
    assert_false(hb__reconnects_claim(r, "a")); /* once */
    char log[64] = "";
    assert_int_equal(hb__reconnects_file_ids(r, cfg->peers, 1, s_collect, log), 0);
    assert_string_equal(log, "b a ");
    log[0] = 0;
    assert_int_equal(hb__reconnects_file_ids(r, cfg->peers, 1, s_collect, log), 0);
    assert_string_equal(log, "");               /* taken once */
    assert_false(hb__reconnects_claim(r, "b")); /* not in this set */
    assert_true(hb__reconnects_claim(r, "a"));
    /* A claim not taken is freed by destroy (ASan). */
    hb_pool_destroy(&pool);
    hb__reconnects_destroy(&r);
    hb_peer_cfg_free(&b2);
    hb_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_control_peer_not_adopted),
        cmocka_unit_test(test_pool_section_changes_inheritors),
        cmocka_unit_test(test_failed_connect_retried),
        cmocka_unit_test(test_needs_restart),
        cmocka_unit_test(test_restart_column),
        cmocka_unit_test(test_pending_newest_wins),
        cmocka_unit_test(test_pending_failure_reported),
        cmocka_unit_test(test_released_file_peer),
        cmocka_unit_test(test_claims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
