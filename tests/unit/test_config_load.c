/*
 * test_config_load.c: the YAML loader and validation (src/config): defaults
 * exactly as SPEC.md section 3 shows them, every key type read from a file,
 * peers merged key by key into `pool`, and each kind of error with its
 * "FILE:LINE: KEY: message" line: unknown key, wrong type, out of range, bad
 * duration or size, duplicate key, duplicate peer id, bad URL, bad id,
 * missing id, YAML syntax error, aliases; several errors collected at once
 * and sorted by line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/schema.h"
#include "honeybee/config.h"

#define MS  UINT64_C(1000000)
#define SEC UINT64_C(1000000000)
#define MIB (UINT64_C(1) << 20)

static char *s_errors;

/* The tls.* keys name PEM files that must exist: made in a temp directory,
 * and "@D@" in a YAML text stands for it. */
static char s_dir[64];

static void s_make_pems(void)
{
    if (s_dir[0]) return;
    snprintf(s_dir, sizeof s_dir, "/tmp/hb-cfgtest-XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    const char *names[] = {"ca.pem", "c.pem", "k.pem", "peer.pem"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%s", s_dir, names[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", f);
        fclose(f);
    }
}

static char s_subst_buf[8192];

/* `yaml` with every "@D@" replaced by the PEM directory. */
static const char *s_subst(const char *yaml)
{
    s_make_pems();
    size_t o = 0;
    for (const char *p = yaml; *p && o + 64 < sizeof s_subst_buf;) {
        if (!strncmp(p, "@D@", 3)) {
            o += (size_t)snprintf(s_subst_buf + o, sizeof s_subst_buf - o, "%s", s_dir);
            p += 3;
        } else {
            s_subst_buf[o++] = *p++;
        }
    }
    s_subst_buf[o] = 0;
    return s_subst_buf;
}

/* "@D@/name" as the test's directory makes it. */
static const char *s_path(const char *name)
{
    static char buf[4][128];
    static int k;
    s_make_pems();
    char *b = buf[k++ % 4];
    snprintf(b, 128, "%s/%s", s_dir, name);
    return b;
}

static const char *s_subst(const char *yaml);

static hb_config *load_ok(const char *yaml)
{
    if (strstr(yaml, "@D@")) yaml = s_subst(yaml);
    hb_config *cfg = NULL;
    char *errors = NULL;
    int rc = hb_config_load_string(yaml, strlen(yaml), "conf.yaml", &cfg, &errors);
    if (rc != 0) fail_msg("load failed (%d):\n%s", rc, errors ? errors : "(no errors)");
    assert_null(errors);
    assert_non_null(cfg);
    return cfg;
}

/* Loads a bad config; returns the error text (freed by the next call). */
static const char *load_bad(const char *yaml)
{
    hb_config *cfg = (hb_config *)0x1;
    free(s_errors);
    s_errors = NULL;
    int rc = hb_config_load_string(yaml, strlen(yaml), "conf.yaml", &cfg, &s_errors);
    assert_int_equal(rc, HB_E_CONFIG);
    assert_null(cfg);
    assert_non_null(s_errors);
    return s_errors;
}

/* The error text holds this exact line. */
static void has_line(const char *errors, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = errors; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0) return;
        p = nl ? nl + 1 : NULL;
    }
    fail_msg("missing error line\n  %s\nin:\n%s", line, errors);
}

/* The error text has a line starting with this prefix. */
static void has_prefix(const char *errors, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = errors; p && *p;) {
        if (strncmp(p, prefix, n) == 0) return;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    fail_msg("no error line starting with\n  %s\nin:\n%s", prefix, errors);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void check_spec_defaults(const hb_config *c)
{
    assert_string_equal(c->bridge.inbox, "tcp://127.0.0.1:5550");
    assert_string_equal(c->bridge.events, "tcp://127.0.0.1:5551");
    assert_string_equal(c->bridge.send, "tcp://127.0.0.1:5552");
    assert_string_equal(c->bridge.control, "tcp://127.0.0.1:5553");
    assert_string_equal(c->bridge.http, "127.0.0.1:8080");
    assert_int_equal(c->bridge.inbox_hwm, 100000);
    assert_int_equal(c->bridge.events_hwm, 100000);
    assert_int_equal(c->bridge.drain_timeout_ns, 5 * SEC);
    assert_int_equal(c->bridge.events_queue, 65536);
    assert_int_equal(c->bridge.control_queue, 65536);
    const hb_peer_opts *p = &c->pool;
    assert_int_equal(p->connect_timeout_ns, 10 * SEC);
    assert_int_equal(p->reconnect.initial_delay_ns, 1 * SEC);
    assert_int_equal(p->reconnect.max_delay_ns, 30 * SEC);
    assert_true(p->reconnect.multiplier == 2.0);
    assert_true(p->reconnect.jitter == 0.2);
    assert_int_equal(p->reconnect.max_retries, 0);
    assert_int_equal(p->reconnect.stable_after_ns, 10 * SEC);
    assert_int_equal(p->keepalive.ping_interval_ns, 20 * SEC);
    assert_int_equal(p->keepalive.timeout_ns, 60 * SEC);
    assert_int_equal(p->keepalive.stall_timeout_ns, 0);
    assert_null(p->keepalive.app_ping);
    assert_int_equal(p->write_timeout_ns, 10 * SEC);
    assert_int_equal(p->max_message_size, 16 * MIB);
    assert_int_equal(p->send_queue, 1024);
    assert_true(p->tls.verify);
    assert_null(p->tls.ca_file);
    assert_null(p->tls.cert_file);
    assert_null(p->tls.key_file);
    assert_int_equal(c->n_peers, 0);
    assert_null(c->peers);
    assert_int_equal(c->log.level, HB_LOG_INFO);
    assert_int_equal(c->log.format, HB_LOG_TEXT);
}

static void test_defaults(void **state)
{
    (void)state;
    hb_config *c = NULL;
    assert_int_equal(hb_config_defaults(&c), 0);
    check_spec_defaults(c);
    assert_null(c->path);
    hb_config_destroy(&c);
    assert_null(c);
    hb_config_destroy(&c); /* NULL is fine */

    /* An empty file, comments only, or empty sections: all defaults. */
    const char *empties[] = {"", "# nothing\n", "bridge:\npool:\npeers:\nlog:\n",
                             "bridge: {}\npool: {}\npeers: []\nlog: {}\n", "---\n...\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        c = load_ok(empties[i]);
        check_spec_defaults(c);
        assert_string_equal(c->path, "conf.yaml");
        hb_config_destroy(&c);
    }
}

static const char s_full[] = "bridge:\n"
                             "  inbox: ipc:///tmp/hb-inbox\n"
                             "  events: tcp://0.0.0.0:6551\n"
                             "  send: \"tcp://*:6552\"\n"
                             "  control: tcp://127.0.0.1:6553\n"
                             "  http: \"\"\n"
                             "  inbox_hwm: 0\n"
                             "  events_hwm: 5\n"
                             "  drain_timeout: 250ms\n"
                             "  events_queue: 2\n"
                             "  control_queue: 3\n"
                             "pool:\n"
                             "  connect_timeout: 1.5s\n"
                             "  reconnect:\n"
                             "    initial_delay: 100ms\n"
                             "    max_delay: 5m\n"
                             "    multiplier: 1\n"
                             "    jitter: 0\n"
                             "    max_retries: 7\n"
                             "    stable_after: 1h\n"
                             "  keepalive:\n"
                             "    ping_interval: 0\n"
                             "    timeout: 2s\n"
                             "    stall_timeout: 30s\n"
                             "    app_ping: ping\n"
                             "  write_timeout: 3s\n"
                             "  max_message_size: 512KiB\n"
                             "  send_queue: 4096\n"
                             "  tls:\n"
                             "    verify: false\n"
                             "    ca_file: @D@/ca.pem\n"
                             "    cert_file: @D@/c.pem\n"
                             "    key_file: @D@/k.pem\n"
                             "peers:\n"
                             "  - id: relay-a\n"
                             "    url: wss://relay.example.com/\n"
                             "    headers: { Origin: \"https://example.com\", X-Token: abc }\n"
                             "    subprotocols: [nostr, v2.proto]\n"
                             "    on_connect:\n"
                             "      - '[\"REQ\",\"all\",{\"limit\":0}]'\n"
                             "      - second\n"
                             "  - id: \"b\\u00e9\"\n"
                             "    url: ws://[::1]:9000/x?y=1\n"
                             "log:\n"
                             "  level: debug\n"
                             "  format: json\n";

static void test_every_key(void **state)
{
    (void)state;
    hb_config *c = load_ok(s_full);
    assert_string_equal(c->bridge.inbox, "ipc:///tmp/hb-inbox");
    assert_string_equal(c->bridge.events, "tcp://0.0.0.0:6551");
    assert_string_equal(c->bridge.send, "tcp://*:6552");
    assert_string_equal(c->bridge.control, "tcp://127.0.0.1:6553");
    assert_string_equal(c->bridge.http, "");
    assert_int_equal(c->bridge.inbox_hwm, 0);
    assert_int_equal(c->bridge.events_hwm, 5);
    assert_int_equal(c->bridge.drain_timeout_ns, 250 * MS);
    assert_int_equal(c->bridge.events_queue, 2);
    assert_int_equal(c->bridge.control_queue, 3);
    const hb_peer_opts *p = &c->pool;
    assert_int_equal(p->connect_timeout_ns, 1500 * MS);
    assert_int_equal(p->reconnect.initial_delay_ns, 100 * MS);
    assert_int_equal(p->reconnect.max_delay_ns, 300 * SEC);
    assert_true(p->reconnect.multiplier == 1.0);
    assert_true(p->reconnect.jitter == 0.0);
    assert_int_equal(p->reconnect.max_retries, 7);
    assert_int_equal(p->reconnect.stable_after_ns, 3600 * SEC);
    assert_int_equal(p->keepalive.ping_interval_ns, 0);
    assert_int_equal(p->keepalive.timeout_ns, 2 * SEC);
    assert_int_equal(p->keepalive.stall_timeout_ns, 30 * SEC);
    assert_string_equal(p->keepalive.app_ping, "ping");
    assert_int_equal(p->write_timeout_ns, 3 * SEC);
    assert_int_equal(p->max_message_size, 512 * 1024);
    assert_int_equal(p->send_queue, 4096);
    assert_false(p->tls.verify);
    assert_string_equal(p->tls.ca_file, s_path("ca.pem"));
    assert_string_equal(p->tls.cert_file, s_path("c.pem"));
    assert_string_equal(p->tls.key_file, s_path("k.pem"));
    assert_int_equal(c->n_peers, 2);
    const hb_peer_cfg *a = &c->peers[0], *b = &c->peers[1];
    assert_string_equal(a->id, "relay-a");
    assert_string_equal(a->url, "wss://relay.example.com/");
    assert_int_equal(a->line, 35);
    assert_int_equal(a->n_headers, 2);
    assert_string_equal(a->headers[0].name, "Origin");
    assert_string_equal(a->headers[0].value, "https://example.com");
    assert_string_equal(a->headers[1].name, "X-Token");
    assert_string_equal(a->headers[1].value, "abc");
    assert_int_equal(a->n_subprotocols, 2);
    assert_string_equal(a->subprotocols[0], "nostr");
    assert_string_equal(a->subprotocols[1], "v2.proto");
    assert_int_equal(a->n_on_connect, 2);
    assert_string_equal(a->on_connect[0], "[\"REQ\",\"all\",{\"limit\":0}]");
    assert_string_equal(a->on_connect[1], "second");
    /* Peers inherit the whole pool section. */
    assert_int_equal(a->opts.reconnect.max_retries, 7);
    assert_string_equal(a->opts.tls.ca_file, s_path("ca.pem"));
    assert_string_equal(a->opts.keepalive.app_ping, "ping");
    assert_string_equal(b->id, "b\xc3\xa9");
    assert_string_equal(b->url, "ws://[::1]:9000/x?y=1");
    assert_int_equal(b->n_headers, 0);
    assert_null(b->headers);
    assert_int_equal(b->n_on_connect, 0);
    assert_int_equal(c->log.level, HB_LOG_DEBUG);
    assert_int_equal(c->log.format, HB_LOG_JSON);
    hb_config_destroy(&c);
}

static void test_peer_merge(void **state)
{
    (void)state;
    /* peers before pool in the file: the peer still starts from the pool. */
    hb_config *c = load_ok("peers:\n"
                           "  - id: a\n"
                           "    url: ws://a/\n"
                           "    reconnect: {initial_delay: 5s}\n"
                           "    tls: {ca_file: @D@/peer.pem}\n"
                           "    send_queue: 7\n"
                           "  - id: b\n"
                           "    url: ws://b/\n"
                           "    keepalive:\n"
                           "      app_ping: \"\"\n"
                           "pool:\n"
                           "  reconnect:\n"
                           "    max_delay: 45s\n"
                           "    jitter: 0.5\n"
                           "  keepalive: {app_ping: hi}\n"
                           "  tls: {verify: false}\n");
    const hb_peer_cfg *a = &c->peers[0], *b = &c->peers[1];
    assert_int_equal(a->opts.reconnect.initial_delay_ns, 5 * SEC); /* own */
    assert_int_equal(a->opts.reconnect.max_delay_ns, 45 * SEC);    /* pool */
    assert_true(a->opts.reconnect.jitter == 0.5);                  /* pool */
    assert_true(a->opts.reconnect.multiplier == 2.0);              /* default */
    assert_int_equal(a->opts.send_queue, 7);
    assert_false(a->opts.tls.verify);
    assert_string_equal(a->opts.tls.ca_file, s_path("peer.pem"));
    assert_string_equal(a->opts.keepalive.app_ping, "hi");
    assert_int_equal(b->opts.reconnect.initial_delay_ns, 1 * SEC);
    assert_int_equal(b->opts.send_queue, 1024);
    assert_null(b->opts.keepalive.app_ping); /* "" overrides the pool's "hi" */
    assert_null(b->opts.tls.ca_file);
    assert_int_equal(c->pool.reconnect.initial_delay_ns, 1 * SEC); /* pool untouched */
    assert_null(c->pool.tls.ca_file);
    hb_config_destroy(&c);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    const char *e = load_bad("bridge:\n"
                             "  inbox: tcp://127.0.0.1:1\n"
                             "  inbx: tcp://127.0.0.1:2\n"
                             "pool:\n"
                             "  reconnect:\n"
                             "    initial_dely: 1s\n"
                             "  headers: {A: b}\n"
                             "peers:\n"
                             "  - id: a\n"
                             "    url: ws://a/\n"
                             "    colour: blue\n"
                             "loggin: {}\n"
                             "log:\n"
                             "  format.x: 1\n");
    has_line(e, "conf.yaml:3: bridge.inbx: unknown key");
    has_line(e, "conf.yaml:6: pool.reconnect.initial_dely: unknown key");
    has_line(e, "conf.yaml:7: pool.headers: unknown key (headers, subprotocols and on_connect "
                "belong to peers only)");
    has_line(e, "conf.yaml:11: peers[0].colour: unknown key");
    has_line(e, "conf.yaml:12: loggin: unknown key (expected bridge, pool, peers or log)");
    has_line(e, "conf.yaml:14: log.format.x: unknown key");
    assert_int_equal(count_lines(e), 6);
    /* Sorted by line. */
    assert_true(strstr(e, ":3:") < strstr(e, ":6:"));
    assert_true(strstr(e, ":11:") < strstr(e, ":12:"));
    /* Dotted keys are not a second spelling of nested ones. */
    e = load_bad("pool:\n  reconnect.jitter: 0.5\n");
    has_line(e, "conf.yaml:2: pool.reconnect.jitter: unknown key");
}

static void test_wrong_types(void **state)
{
    (void)state;
    const char *e = load_bad("bridge:\n"
                             "  inbox_hwm: \"100\"\n"
                             "  events_hwm: [1]\n"
                             "  inbox: {a: b}\n"
                             "pool:\n"
                             "  reconnect:\n"
                             "    multiplier: fast\n"
                             "    max_retries: 1.5\n"
                             "  tls:\n"
                             "    verify: yes\n"
                             "  keepalive: 5\n"
                             "peers:\n"
                             "  - id: a\n"
                             "    url: ws://a/\n"
                             "    headers: [a, b]\n"
                             "    on_connect: hello\n"
                             "    subprotocols: [[x]]\n"
                             "  - just-a-string\n"
                             "log:\n"
                             "  level: [info]\n");
    has_line(e, "conf.yaml:2: bridge.inbox_hwm: expected an integer, got a quoted string");
    has_line(e, "conf.yaml:3: bridge.events_hwm: expected an integer, got a list");
    has_line(e, "conf.yaml:4: bridge.inbox: expected a string, got a mapping");
    has_line(e, "conf.yaml:7: pool.reconnect.multiplier: expected a number, got \"fast\"");
    has_line(e, "conf.yaml:8: pool.reconnect.max_retries: expected an integer, got \"1.5\"");
    has_line(e, "conf.yaml:10: pool.tls.verify: expected true or false, got \"yes\"");
    has_line(e, "conf.yaml:11: pool.keepalive: expected a mapping, got a scalar");
    has_line(e, "conf.yaml:15: peers[0].headers: expected a mapping of header: value, got a list");
    has_line(e, "conf.yaml:16: peers[0].on_connect: expected a list of strings, got a scalar");
    has_line(e, "conf.yaml:17: peers[0].subprotocols: item 0: expected a string, got a list "
                "(quote JSON messages)");
    has_line(e, "conf.yaml:18: peers[1]: expected a mapping (id, url, ...), got a scalar");
    has_prefix(e, "conf.yaml:18: peers[1].id: is required");
    has_line(e, "conf.yaml:20: log.level: must be one of error, warn, info, debug, got a list");

    e = load_bad("peers: {id: a}\n");
    has_line(e, "conf.yaml:1: peers: expected a list of peers, got a mapping");
    e = load_bad("- a\n- b\n");
    has_line(e, "conf.yaml:1: (root): expected a mapping with bridge, pool, peers, log");
    e = load_bad("bridge: tcp://x\n");
    has_line(e, "conf.yaml:1: bridge: expected a mapping, got a scalar");
}

static void test_out_of_range(void **state)
{
    (void)state;
    const char *e = load_bad("bridge:\n"
                             "  inbox_hwm: -1\n"
                             "  events_queue: 0\n"
                             "  events_hwm: 99999999999\n"
                             "pool:\n"
                             "  connect_timeout: 0\n"
                             "  write_timeout: 0s\n"
                             "  reconnect:\n"
                             "    initial_delay: 0ms\n"
                             "    max_delay: 0\n"
                             "    multiplier: 0.5\n"
                             "    jitter: 1.5\n"
                             "    max_retries: -1\n"
                             "  send_queue: 0\n"
                             "  max_message_size: 0B\n"
                             "peers:\n"
                             "  - id: a\n"
                             "    url: ws://a/\n"
                             "  - id: b\n"
                             "    url: ws://b/\n"
                             "    reconnect:\n"
                             "      jitter: -0.1\n"
                             "    max_message_size: 3GiB\n"
                             "    keepalive: {timeout: 9000h}\n");
    has_line(e, "conf.yaml:2: bridge.inbox_hwm: must be between 0 and 2147483647");
    has_line(e, "conf.yaml:3: bridge.events_queue: must be at least 1");
    has_line(e, "conf.yaml:4: bridge.events_hwm: must be between 0 and 2147483647");
    has_line(e, "conf.yaml:6: pool.connect_timeout: must be greater than 0 and at most 8760h");
    has_line(e, "conf.yaml:7: pool.write_timeout: must be greater than 0 and at most 8760h");
    has_line(e, "conf.yaml:9: pool.reconnect.initial_delay: must be greater than 0 and at most "
                "8760h");
    has_line(e, "conf.yaml:10: pool.reconnect.max_delay: must be greater than 0 and at most 8760h");
    has_line(e, "conf.yaml:11: pool.reconnect.multiplier: must be at least 1");
    has_line(e, "conf.yaml:12: pool.reconnect.jitter: must be between 0 and 1");
    has_line(e, "conf.yaml:13: pool.reconnect.max_retries: must be between 0 and 4294967295");
    has_line(e, "conf.yaml:14: pool.send_queue: must be at least 1");
    has_line(e, "conf.yaml:15: pool.max_message_size: must be between 1B and 2GiB");
    has_line(e, "conf.yaml:22: peers[1].reconnect.jitter: must be between 0 and 1");
    has_line(e, "conf.yaml:23: peers[1].max_message_size: must be between 1B and 2GiB");
    has_line(e, "conf.yaml:24: peers[1].keepalive.timeout: must be between 0 and 8760h");
    /* Inherited pool values are reported once, at pool, not per peer. */
    assert_int_equal(count_lines(e), 15);

    /* The bounds themselves are accepted. */
    hb_config *c = load_ok("pool:\n  max_message_size: 2GiB\n  reconnect: {jitter: 1, "
                           "multiplier: 1.0}\n  keepalive: {timeout: 8760h}\n");
    assert_int_equal(c->pool.max_message_size, UINT64_C(2) << 30);
    hb_config_destroy(&c);
    c = load_ok("pool:\n  max_message_size: 1B\n  connect_timeout: 0.000001ms\n");
    assert_int_equal(c->pool.max_message_size, 1);
    assert_int_equal(c->pool.connect_timeout_ns, 1);
    hb_config_destroy(&c);
}

/* pool.loops: auto (stored as 0) or 1..64; auto resolves to the CPUs the
 * process may use minus one, at least 1 and at most 64. */
static void test_loops(void **state)
{
    (void)state;
    hb_config *c = load_ok("bridge: {}\n");
    assert_int_equal(c->pool_wide.loops, 0); /* the default: auto */
    uint32_t k = hb_config_loops(c);
    assert_true(k >= 1 && k <= HB_POOL_MAX_LOOPS);
    hb_config_destroy(&c);
    c = load_ok("pool: {loops: auto}\n");
    assert_int_equal(c->pool_wide.loops, 0);
    hb_config_destroy(&c);
    c = load_ok("pool: {loops: 1}\n");
    assert_int_equal(hb_config_loops(c), 1);
    hb_config_destroy(&c);
    c = load_ok("pool: {loops: 64}\n");
    assert_int_equal(c->pool_wide.loops, 64);
    assert_int_equal(hb_config_loops(c), 64);
    hb_config_destroy(&c);

    has_line(load_bad("pool:\n  loops: 0\n"), "conf.yaml:2: pool.loops: must be between 1 and 64");
    has_line(load_bad("pool:\n  loops: 65\n"), "conf.yaml:2: pool.loops: must be between 1 and 64");
    has_line(load_bad("pool:\n  loops: -3\n"), "conf.yaml:2: pool.loops: must be between 1 and 64");
    has_prefix(load_bad("pool:\n  loops: many\n"),
               "conf.yaml:2: pool.loops: expected auto or an integer");
    has_prefix(load_bad("pool:\n  loops: 2.5\n"),
               "conf.yaml:2: pool.loops: expected auto or an integer");
    /* Pool-wide: a peer cannot set it. */
    load_bad("peers:\n  - {id: a, url: 'ws://a/', loops: 2}\n");

    /* auto: one CPU is left to ZeroMQ's I/O thread. */
    assert_int_equal(hb__cfg_loops_auto(0), 1);
    assert_int_equal(hb__cfg_loops_auto(1), 1);
    assert_int_equal(hb__cfg_loops_auto(2), 1);
    assert_int_equal(hb__cfg_loops_auto(3), 2);
    assert_int_equal(hb__cfg_loops_auto(16), 15);
    assert_int_equal(hb__cfg_loops_auto(65), 64);
    assert_int_equal(hb__cfg_loops_auto(512), 64);
    /* a container's CPU quota, cgroup v2 and v1 */
    assert_int_equal(hb__cfg_cpu_quota("max 100000\n", NULL, NULL), 0);
    assert_int_equal(hb__cfg_cpu_quota("200000 100000\n", NULL, NULL), 2);
    assert_int_equal(hb__cfg_cpu_quota("150000 100000", NULL, NULL), 2);
    assert_int_equal(hb__cfg_cpu_quota("50000 100000", NULL, NULL), 1);
    assert_int_equal(hb__cfg_cpu_quota("garbage", NULL, NULL), 0);
    assert_int_equal(hb__cfg_cpu_quota("", NULL, NULL), 0);
    assert_int_equal(hb__cfg_cpu_quota(NULL, "-1\n", "100000\n"), 0);
    assert_int_equal(hb__cfg_cpu_quota(NULL, "400000\n", "100000\n"), 4);
    assert_int_equal(hb__cfg_cpu_quota(NULL, NULL, NULL), 0);
    assert_int_equal(hb__cfg_loops_auto(hb__cfg_cpu_quota("200000 100000", NULL, NULL)), 1);
}

static void test_bad_units(void **state)
{
    (void)state;
    const char *e = load_bad("bridge:\n"
                             "  drain_timeout: 5\n"
                             "pool:\n"
                             "  connect_timeout: 1.5x\n"
                             "  write_timeout: -1s\n"
                             "  max_message_size: 16MB\n"
                             "  reconnect: {max_delay: [1s]}\n");
    has_line(e, "conf.yaml:2: bridge.drain_timeout: invalid duration \"5\": use a number and a "
                "unit ms, s, m or h (250ms, 1.5s, 5m); only 0 may omit the unit");
    has_prefix(e, "conf.yaml:4: pool.connect_timeout: invalid duration \"1.5x\"");
    has_prefix(e, "conf.yaml:5: pool.write_timeout: invalid duration \"-1s\"");
    has_line(e, "conf.yaml:6: pool.max_message_size: invalid size \"16MB\": use an integer and a "
                "unit B, KiB, MiB or GiB (100B, 512KiB, 16MiB)");
    has_prefix(e, "conf.yaml:7: pool.reconnect.max_delay: invalid duration a list");
    assert_int_equal(count_lines(e), 5);
}

static void test_peer_errors(void **state)
{
    (void)state;
    const char *e =
        load_bad("peers:\n"
                 "  - id: relay-a\n" /* 2 */
                 "    url: wss://a.example/\n"
                 "  - id: relay-b\n"            /* 4 */
                 "    url: http://b.example/\n" /* 5 */
                 "  - id: relay-a\n"            /* 6: duplicate */
                 "    url: ws://c.example/\n"
                 "  - url: ws://d.example/\n" /* 8: no id */
                 "  - id: \"bad*id\"\n"       /* 9 */
                 "    url: ws://\n"           /* 10 */
                 "  - id: e\n"                /* 11: no url */
                 "  - id: \"\"\n"             /* 12 */
                 "    url: ws://e/\n"
                 "  - id: \"tab\\there\"\n"                        /* 14 */
                 "    url: ws://f/#frag\n"                         /* 15 */
                 "    headers: {\"Bad Name\": x, Ok: \"a\\nb\"}\n" /* 16 */
                 "    subprotocols: [\"a b\"]\n"                   /* 17 */
                 "  - id: \""                                      /* 18 */
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n"
                 "    url: ws://g/\n"
                 "  - id: relay-a\n" /* 20: duplicate again */
                 "    url: ws://h/\n");
    has_line(e, "conf.yaml:5: peers[1].url: must be a ws:// or wss:// URL of at most 2048 bytes "
                "with a host "
                "(optional port, path, query), got \"http://b.example/\"");
    has_line(e, "conf.yaml:6: peers[2].id: duplicate peer id (first used by peers[0] at line 2)");
    has_line(e, "conf.yaml:20: peers[9].id: duplicate peer id (first used by peers[0] at line 2)");
    has_line(e, "conf.yaml:8: peers[3].id: is required");
    has_line(e, "conf.yaml:9: peers[4].id: must be 1 to 128 bytes of UTF-8 without \"*\" or "
                "control characters, got \"bad*id\"");
    has_prefix(e, "conf.yaml:10: peers[4].url: must be a ws:// or wss:// URL");
    has_line(e, "conf.yaml:11: peers[5].url: is required");
    has_prefix(e, "conf.yaml:12: peers[6].id: must be 1 to 128 bytes");
    has_prefix(e, "conf.yaml:14: peers[7].id: must be 1 to 128 bytes");
    has_prefix(e, "conf.yaml:15: peers[7].url: must be a ws:// or wss:// URL");
    has_line(e, "conf.yaml:16: peers[7].headers: invalid header name \"Bad Name\"");
    has_line(e, "conf.yaml:16: peers[7].headers: value of header \"Ok\" contains a control "
                "character");
    has_line(e, "conf.yaml:17: peers[7].subprotocols: item 0: \"a b\" is not a valid token");
    has_prefix(e, "conf.yaml:18: peers[8].id: must be 1 to 128 bytes");
    assert_int_equal(count_lines(e), 14);

    /* 128 bytes is fine; duplicate header names are not. */
    char yaml[512];
    snprintf(yaml, sizeof yaml, "peers:\n  - id: \"%0128d\"\n    url: ws://x/\n", 7);
    hb_config *c = load_ok(yaml);
    assert_int_equal(strlen(c->peers[0].id), 128);
    hb_config_destroy(&c);
    e = load_bad(
        "peers:\n  - id: a\n    url: ws://x/\n    headers:\n      A: \"1\"\n      a: \"2\"\n");
    has_line(e, "conf.yaml:6: peers[0].headers: duplicate header \"a\"");

    /* An app_ping longer than max_message_size: the pool's is reported at
     * the pool, peers or not (a control connect inherits both), once; a
     * peer that sets either key is reported at the peer. */
    e = load_bad("pool:\n  max_message_size: 8B\n  keepalive:\n    app_ping: \"123456789\"\n");
    has_line(e, "conf.yaml:4: pool.keepalive.app_ping: is longer than max_message_size (8 bytes)");
    assert_int_equal(count_lines(e), 1);
    e = load_bad("pool:\n  max_message_size: 8B\n  keepalive: {app_ping: \"123456789\"}\n"
                 "peers:\n  - id: a\n    url: ws://x/\n");
    assert_int_equal(count_lines(e), 1);
    e = load_bad("pool:\n  keepalive: {app_ping: \"123456789\"}\n"
                 "peers:\n  - id: a\n    url: ws://x/\n    max_message_size: 8B\n");
    has_line(e, "conf.yaml:4: peers[0].keepalive.app_ping: is longer than max_message_size "
                "(8 bytes)");
    assert_int_equal(count_lines(e), 1);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    const char *e = load_bad("bridge:\n"
                             "  inbox: tcp://127.0.0.1:1\n"
                             "  events: [unclosed\n"
                             "pool:\n");
    /* Named where the construct began, and where libyaml gave up. */
    has_line(e, "conf.yaml:3: (syntax): while parsing a flow sequence (opened here): did not "
                "find expected ',' or ']' at line 4");
    assert_int_equal(count_lines(e), 1);
    e = load_bad("bridge: [unclosed\n"
                 "pool: {}\n");
    has_line(e, "conf.yaml:1: (syntax): while parsing a flow sequence (opened here): did not "
                "find expected ',' or ']' at line 2");
    e = load_bad("pool:\n  app: \"never closed\n\n");
    has_line(e, "conf.yaml:2: (syntax): while scanning a quoted scalar (opened here): found "
                "unexpected end of stream at line 4");
    e = load_bad("bridge:\n  inbox: a\n bad indent: 1\n");
    has_line(e, "conf.yaml:1: (syntax): while parsing a block mapping (opened here): did not "
                "find expected key at line 3");
    e = load_bad("pool:\n  send_queue: 1\n  send_queue: 2\n");
    has_line(e, "conf.yaml:3: pool.send_queue: duplicate key");
    e = load_bad("pool: {}\npool: {}\n");
    has_line(e, "conf.yaml:2: pool: duplicate key");
    e = load_bad("pool: &p {send_queue: 1}\nbridge: *p\n");
    has_line(e, "conf.yaml:2: (syntax): aliases (*name) are not supported");
    /* Tags: only the core tag of a node's own kind; any other would change
     * its meaning and is refused, not ignored. */
    e = load_bad("pool: !!set {send_queue: 1}\n");
    has_line(e, "conf.yaml:1: (syntax): tag tag:yaml.org,2002:set is not supported (only !!str, "
                "!!map and !!seq on their own kind)");
    e = load_bad("pool:\n  send_queue: !!int 5\n");
    has_prefix(e, "conf.yaml:2: (syntax): tag tag:yaml.org,2002:int is not supported");
    e = load_bad("peers: !relays []\n");
    has_prefix(e, "conf.yaml:1: (syntax): tag !relays is not supported");
    hb_config *t = load_ok("pool: !!map {send_queue: 3}\npeers: !!seq []\n");
    assert_int_equal(t->pool.send_queue, 3);
    hb_config_destroy(&t);
    e = load_bad("pool: {}\n---\npool: {}\n");
    has_prefix(e, "conf.yaml:2: (syntax): only one YAML document");
    e = load_bad("\t- tab\n");
    has_prefix(e, "conf.yaml:1: (syntax): ");
    /* Deep nesting is refused, not recursed into. */
    char deep[200];
    memset(deep, '[', 100);
    deep[100] = '\0';
    e = load_bad(deep);
    has_prefix(e, "conf.yaml:1: (syntax): ");
    /* Quoted values: NEL and U+2028 escaped, a long one cut at a
     * character's start. */
    e = load_bad("log: {level: \"lo\\u0085ud\\u2028x\"}\n");
    has_line(e, "conf.yaml:1: log.level: must be one of error, warn, info, debug, got "
                "\"lo\\u0085ud\\u2028x\"");
    e = load_bad("log: {level: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\u00e9\\u00e9\"}\n");
    has_line(e, "conf.yaml:1: log.level: must be one of error, warn, info, debug, got "
                "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9...\"");
    /* A NUL byte inside a value. */
    hb_config *c = NULL;
    char *err = NULL;
    const char nul[] = "bridge: {inbox: \"a\\0b\"}\n";
    assert_int_equal(hb_config_load_string(nul, sizeof nul - 1, "n.yaml", &c, &err), HB_E_CONFIG);
    has_line(err, "n.yaml:1: bridge.inbox: must not contain NUL characters");
    free(err);
}

static void test_bridge_and_log_values(void **state)
{
    (void)state;
    const char *e = load_bad("bridge:\n"
                             "  inbox: \"\"\n"
                             "  events: localhost:5551\n"
                             "  http: 8080\n"
                             "  control: \"tcp://a b:1\"\n"
                             "log:\n"
                             "  level: loud\n"
                             "  format: xml\n");
    has_prefix(e, "conf.yaml:2: bridge.inbox: must be a ZeroMQ endpoint like");
    has_prefix(e, "conf.yaml:3: bridge.events: must be a ZeroMQ endpoint like");
    has_line(e, "conf.yaml:4: bridge.http: must be host:port (e.g. 127.0.0.1:8080) or \"\" to "
                "disable, got \"8080\"");
    has_prefix(e, "conf.yaml:5: bridge.control: must be a ZeroMQ endpoint like");
    has_line(e, "conf.yaml:7: log.level: must be one of error, warn, info, debug, got \"loud\"");
    has_line(e, "conf.yaml:8: log.format: must be one of text, json, got \"xml\"");
    hb_config *c = load_ok("bridge: {http: \"[::1]:9100\"}\nlog: {level: error, format: text}\n");
    assert_string_equal(c->bridge.http, "[::1]:9100");
    assert_int_equal(c->log.level, HB_LOG_ERROR);
    hb_config_destroy(&c);
    c = load_ok("log: {level: warn}\n");
    assert_int_equal(c->log.level, HB_LOG_WARN);
    hb_config_destroy(&c);
}

static void test_many_errors_capped(void **state)
{
    (void)state;
    /* 300 unknown keys: reported, but capped with a note. */
    size_t cap = 300 * 16 + 16;
    char *yaml = malloc(cap);
    size_t o = (size_t)snprintf(yaml, cap, "pool:\n");
    for (int i = 0; i < 300; i++) o += (size_t)snprintf(yaml + o, cap - o, "  k%d: 1\n", i);
    const char *e = load_bad(yaml);
    has_line(e, "conf.yaml:2: pool.k0: unknown key");
    has_line(e, "(200 more errors not shown)");
    assert_int_equal(count_lines(e), 101);
    free(yaml);
}

static void test_file(void **state)
{
    (void)state;
    char path[] = "/tmp/hb-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char yaml[] = "pool:\n  send_queue: 0\n";
    assert_int_equal(write(fd, yaml, sizeof yaml - 1), (ssize_t)(sizeof yaml - 1));
    close(fd);
    hb_config *c = NULL;
    char *err = NULL;
    assert_int_equal(hb_config_load_file(path, &c, &err), HB_E_CONFIG);
    char want[128];
    snprintf(want, sizeof want, "%s:2: pool.send_queue: must be at least 1", path);
    has_line(err, want);
    free(err);
    unlink(path);
    assert_int_equal(hb_config_load_file(path, &c, &err), HB_E_IO);
    assert_null(c);
    snprintf(want, sizeof want, "%s: (file): cannot read: No such file or directory", path);
    has_line(err, want);
    free(err);
    /* errors may be NULL. */
    assert_int_equal(hb_config_load_file(path, &c, NULL), HB_E_IO);
    assert_int_equal(hb_config_load_string("pool: {send_queue: 0}", 21, "x", &c, NULL),
                     HB_E_CONFIG);
    assert_null(c);
}

static int teardown(void **state)
{
    (void)state;
    free(s_errors);
    s_errors = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_defaults, teardown),
        cmocka_unit_test_teardown(test_every_key, teardown),
        cmocka_unit_test_teardown(test_peer_merge, teardown),
        cmocka_unit_test_teardown(test_unknown_keys, teardown),
        cmocka_unit_test_teardown(test_wrong_types, teardown),
        cmocka_unit_test_teardown(test_out_of_range, teardown),
        cmocka_unit_test_teardown(test_loops, teardown),
        cmocka_unit_test_teardown(test_bad_units, teardown),
        cmocka_unit_test_teardown(test_peer_errors, teardown),
        cmocka_unit_test_teardown(test_syntax_errors, teardown),
        cmocka_unit_test_teardown(test_bridge_and_log_values, teardown),
        cmocka_unit_test_teardown(test_many_errors_capped, teardown),
        cmocka_unit_test_teardown(test_file, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
