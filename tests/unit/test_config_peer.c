/*
 * test_config_peer.c: one peer outside a file and the environment:
 * hb_peer_cfg_from_json (the `options` of a control `connect`, merged key by
 * key into the pool, with the same types and ranges as the file and the
 * error codes of SPEC.md section 6), hb_peer_cfg_copy / equal / free,
 * hb_peer_id_valid, and hb_config_apply_env.
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

#include "honeybee/config.h"

#define SEC UINT64_C(1000000000)

static hb_config *s_cfg; /* defaults with a non-default pool */

static char s_pem[64]; /* a PEM file the pool's tls.ca_file names (it must exist) */

static int setup(void **state)
{
    (void)state;
    snprintf(s_pem, sizeof s_pem, "/tmp/hb-peertest-XXXXXX");
    int fd = mkstemp(s_pem);
    if (fd < 0) return -1;
    const char pem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    if (write(fd, pem, sizeof pem - 1) != (ssize_t)(sizeof pem - 1)) return -1;
    close(fd);
    char yaml[256];
    int n = snprintf(yaml, sizeof yaml,
                     "pool:\n"
                     "  reconnect: {max_delay: 45s, jitter: 0.5}\n"
                     "  tls: {ca_file: \"%s\"}\n",
                     s_pem);
    char *err = NULL;
    int rc = hb_config_load_string(yaml, (size_t)n, "p.yaml", &s_cfg, &err);
    if (rc) fprintf(stderr, "%s\n", err ? err : "");
    free(err);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    hb_config_destroy(&s_cfg);
    unlink(s_pem);
    return 0;
}

static void test_from_json_merge(void **state)
{
    (void)state;
    hb_peer_cfg p;
    char *err = NULL;
    int rc = hb_peer_cfg_from_json(&s_cfg->pool, "relay-x", "wss://x.example/feed",
                                   "{\"reconnect\":{\"initial_delay\":\"5s\",\"max_retries\":3},"
                                   "\"headers\":{\"Origin\":\"https://o\"},"
                                   "\"subprotocols\":[\"v1\"],"
                                   "\"on_connect\":[\"hello\",\"world\"],"
                                   "\"max_message_size\":\"1MiB\","
                                   "\"tls\":{\"verify\":false},"
                                   "\"keepalive\":{\"ping_interval\":0,\"app_ping\":\"p\"},"
                                   "\"send_queue\":5}",
                                   &p, &err);
    if (rc) fail_msg("rc %d: %s", rc, err);
    assert_null(err);
    assert_string_equal(p.id, "relay-x");
    assert_string_equal(p.url, "wss://x.example/feed");
    assert_int_equal(p.line, 0);
    assert_int_equal(p.opts.reconnect.initial_delay_ns, 5 * SEC); /* own */
    assert_int_equal(p.opts.reconnect.max_retries, 3);            /* own */
    assert_int_equal(p.opts.reconnect.max_delay_ns, 45 * SEC);    /* pool */
    assert_true(p.opts.reconnect.jitter == 0.5);                  /* pool */
    assert_true(p.opts.reconnect.multiplier == 2.0);              /* default */
    assert_string_equal(p.opts.tls.ca_file, s_pem);
    assert_false(p.opts.tls.verify);
    assert_int_equal(p.opts.max_message_size, 1 << 20);
    assert_int_equal(p.opts.keepalive.ping_interval_ns, 0);
    assert_string_equal(p.opts.keepalive.app_ping, "p");
    assert_int_equal(p.opts.send_queue, 5);
    assert_int_equal(p.n_headers, 1);
    assert_string_equal(p.headers[0].name, "Origin");
    assert_string_equal(p.headers[0].value, "https://o");
    assert_int_equal(p.n_subprotocols, 1);
    assert_string_equal(p.subprotocols[0], "v1");
    assert_int_equal(p.n_on_connect, 2);
    assert_string_equal(p.on_connect[1], "world");
    hb_peer_cfg_free(&p);
    assert_null(p.id);

    /* No options, "", "{}" and "null": the pool as it is. */
    const char *none[] = {NULL, "", "{}", "null"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(hb_peer_cfg_from_json(&s_cfg->pool, "a", "ws://a/", none[i], &p, &err), 0);
        assert_int_equal(p.opts.reconnect.max_delay_ns, 45 * SEC);
        assert_int_equal(p.n_headers, 0);
        hb_peer_cfg_free(&p);
    }
}

static void expect(const char *id, const char *url, const char *opts, int code, const char *msg)
{
    hb_peer_cfg p;
    memset(&p, 0x5a, sizeof p);
    char *err = NULL;
    int rc = hb_peer_cfg_from_json(&s_cfg->pool, id, url, opts, &p, &err);
    if (rc != code)
        fail_msg("%s: rc %d (%s), want %d; errors: %s", opts ? opts : "NULL", rc, hb_errname(rc),
                 code, err ? err : "none");
    assert_non_null(err);
    if (!strstr(err, msg)) fail_msg("errors\n%s\nlack\n%s", err, msg);
    assert_null(p.id); /* released on failure */
    assert_null(p.opts.tls.ca_file);
    free(err);
}

static void test_from_json_errors(void **state)
{
    (void)state;
    expect("", "ws://a/", NULL, HB_E_BAD_REQUEST, "id: must be 1 to 128 bytes");
    expect("a*", "ws://a/", NULL, HB_E_BAD_REQUEST, "id: must be");
    expect(NULL, "ws://a/", NULL, HB_E_BAD_REQUEST, "id: must be");
    expect("a", "http://a/", NULL, HB_E_INVALID_URL, "url: must be a ws:// or wss:// URL");
    expect("a", NULL, NULL, HB_E_INVALID_URL, "url: must be");
    expect("a", "ws://a/", "{", HB_E_INVALID_OPTION, "options: invalid JSON");
    expect("a", "ws://a/", "[1]", HB_E_INVALID_OPTION, "options: must be a JSON object");
    expect("a", "ws://a/", "{\"a\":1,\"a\":2}", HB_E_INVALID_OPTION, "options: invalid JSON");
    expect("a", "ws://a/", "{\"colour\":1}", HB_E_INVALID_OPTION, "options.colour: unknown key\n");
    expect("a", "ws://a/", "{\"id\":\"b\"}", HB_E_INVALID_OPTION,
           "options.id: is given by the request itself, not in options");
    expect("a", "ws://a/", "{\"url\":\"ws://b/\"}", HB_E_INVALID_OPTION, "options.url: is given");
    expect("a", "ws://a/", "{\"reconnect\":{\"jitter\":2}}", HB_E_INVALID_OPTION,
           "options.reconnect.jitter: must be between 0 and 1\n");
    expect("a", "ws://a/", "{\"reconnect\":{\"multiplier\":\"2\"}}", HB_E_INVALID_OPTION,
           "options.reconnect.multiplier: expected a number, got a quoted string");
    expect("a", "ws://a/", "{\"send_queue\":0}", HB_E_INVALID_OPTION,
           "options.send_queue: must be at least 1");
    expect("a", "ws://a/", "{\"send_queue\":1.5}", HB_E_INVALID_OPTION,
           "options.send_queue: expected an integer");
    expect("a", "ws://a/", "{\"connect_timeout\":5}", HB_E_INVALID_OPTION,
           "options.connect_timeout: invalid duration \"5\"");
    expect("a", "ws://a/", "{\"connect_timeout\":\"0s\"}", HB_E_INVALID_OPTION,
           "options.connect_timeout: must be greater than 0");
    expect("a", "ws://a/", "{\"max_message_size\":\"3GiB\"}", HB_E_INVALID_OPTION,
           "options.max_message_size: must be between 1B and 2GiB");
    expect("a", "ws://a/", "{\"tls\":{\"verify\":\"yes\"}}", HB_E_INVALID_OPTION,
           "options.tls.verify: expected true or false");
    expect("a", "ws://a/", "{\"headers\":[\"x\"]}", HB_E_INVALID_OPTION,
           "options.headers: expected a mapping");
    expect("a", "ws://a/", "{\"reconnect\":5}", HB_E_INVALID_OPTION,
           "options.reconnect: expected a mapping, got a scalar");
    expect("a", "ws://a/", "{\"on_connect\":[{\"x\":1}]}", HB_E_INVALID_OPTION,
           "options.on_connect: item 0: expected a string");
    /* Several problems at once, all named. */
    hb_peer_cfg p;
    char *err = NULL;
    assert_int_equal(hb_peer_cfg_from_json(&s_cfg->pool, "a", "ws://a/",
                                           "{\"x\":1,\"send_queue\":0,\"reconnect\":{\"y\":2}}", &p,
                                           &err),
                     HB_E_INVALID_OPTION);
    assert_non_null(strstr(err, "options.x: unknown key"));
    assert_non_null(strstr(err, "options.reconnect.y: unknown key"));
    assert_non_null(strstr(err, "options.send_queue: must be at least 1"));
    free(err);
    /* errors may be NULL. */
    assert_int_equal(hb_peer_cfg_from_json(&s_cfg->pool, "a", "ws://a/", "{\"x\":1}", &p, NULL),
                     HB_E_INVALID_OPTION);
}

static void test_copy_equal(void **state)
{
    (void)state;
    hb_peer_cfg a, b, c;
    char *err = NULL;
    assert_int_equal(hb_peer_cfg_from_json(&s_cfg->pool, "a", "ws://a/",
                                           "{\"headers\":{\"H\":\"v\"},\"on_connect\":[\"x\"],"
                                           "\"subprotocols\":[\"s\"],\"keepalive\":{\"app_ping\":"
                                           "\"p\"}}",
                                           &a, &err),
                     0);
    assert_int_equal(hb_peer_cfg_copy(&b, &a), 0);
    assert_true(hb_peer_cfg_equal(&a, &b));
    assert_true(b.id != a.id && b.headers != a.headers && b.on_connect != a.on_connect);
    assert_true(b.opts.tls.ca_file != a.opts.tls.ca_file);
    assert_string_equal(b.opts.tls.ca_file, s_pem);
    assert_string_equal(b.headers[0].value, "v");
    /* line is where it came from, not how it behaves. */
    b.line = 42;
    assert_true(hb_peer_cfg_equal(&a, &b));
    /* Any field change makes them differ. */
    struct {
        const char *opts;
    } diffs[] = {
        {"{\"headers\":{\"H\":\"w\"},\"on_connect\":[\"x\"],\"subprotocols\":[\"s\"],"
         "\"keepalive\":{\"app_ping\":\"p\"}}"},
        {"{\"headers\":{\"H\":\"v\"},\"on_connect\":[\"x\",\"y\"],\"subprotocols\":[\"s\"],"
         "\"keepalive\":{\"app_ping\":\"p\"}}"},
        {"{\"headers\":{\"H\":\"v\"},\"on_connect\":[\"x\"],\"subprotocols\":[],"
         "\"keepalive\":{\"app_ping\":\"p\"}}"},
        {"{\"headers\":{\"H\":\"v\"},\"on_connect\":[\"x\"],\"subprotocols\":[\"s\"],"
         "\"keepalive\":{\"app_ping\":\"\"}}"},
        {"{\"headers\":{\"H\":\"v\"},\"on_connect\":[\"x\"],\"subprotocols\":[\"s\"],"
         "\"keepalive\":{\"app_ping\":\"p\"},\"reconnect\":{\"jitter\":0.25}}"},
        {"{\"headers\":{\"H\":\"v\"},\"on_connect\":[\"x\"],\"subprotocols\":[\"s\"],"
         "\"keepalive\":{\"app_ping\":\"p\"},\"tls\":{\"verify\":false}}"}};
    for (size_t i = 0; i < sizeof diffs / sizeof diffs[0]; i++) {
        assert_int_equal(
            hb_peer_cfg_from_json(&s_cfg->pool, "a", "ws://a/", diffs[i].opts, &c, &err), 0);
        if (hb_peer_cfg_equal(&a, &c)) fail_msg("equal despite %s", diffs[i].opts);
        hb_peer_cfg_free(&c);
    }
    assert_int_equal(hb_peer_cfg_copy(&c, &a), 0);
    free(c.url);
    c.url = strdup("ws://b/");
    assert_false(hb_peer_cfg_equal(&a, &c));
    hb_peer_cfg_free(&c);
    hb_peer_cfg_free(&a);
    hb_peer_cfg_free(&b);
    hb_peer_cfg_free(&b); /* twice is harmless: free zeroes it */

    /* Peers of a loaded file copy and compare the same way. */
    const char yaml[] = "peers:\n  - id: a\n    url: ws://a/\n  - id: b\n    url: ws://a/\n";
    hb_config *cfg = NULL;
    assert_int_equal(hb_config_load_string(yaml, sizeof yaml - 1, "x", &cfg, &err), 0);
    assert_int_equal(hb_peer_cfg_copy(&c, &cfg->peers[0]), 0);
    assert_true(hb_peer_cfg_equal(&c, &cfg->peers[0]));
    assert_false(hb_peer_cfg_equal(&c, &cfg->peers[1]));
    hb_peer_cfg_free(&c);
    hb_config_destroy(&cfg);
}

static void test_id_valid(void **state)
{
    (void)state;
    assert_true(hb_peer_id_valid("a", 1));
    assert_true(hb_peer_id_valid("relay-a.example:443/x", 21));
    assert_true(hb_peer_id_valid("b\xc3\xa9", 3));
    char id[130];
    memset(id, 'x', sizeof id);
    assert_true(hb_peer_id_valid(id, 128));
    assert_false(hb_peer_id_valid(id, 129));
    assert_false(hb_peer_id_valid("", 0));
    assert_false(hb_peer_id_valid(NULL, 0));
    assert_false(hb_peer_id_valid("*", 1));
    assert_false(hb_peer_id_valid("a*b", 3));
    assert_false(hb_peer_id_valid("a\nb", 3));
    assert_false(hb_peer_id_valid("a\0b", 3));
    assert_false(hb_peer_id_valid("a\x7f", 2));
    assert_false(hb_peer_id_valid("a\xc2\x85", 3)); /* U+0085, a C1 control */
    assert_false(hb_peer_id_valid("\xff", 1));      /* not UTF-8 */
    assert_false(hb_peer_id_valid("\xc3", 1));
}

static const char *const *s_env;
static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; s_env[i]; i += 2)
        if (!strcmp(s_env[i], name)) return s_env[i + 1];
    return NULL;
}

static void test_env(void **state)
{
    (void)state;
    hb_config *c = NULL;
    char *err = NULL;
    assert_int_equal(hb_config_defaults(&c), 0);
    static const char *const all[] = {"HONEYBEE_INBOX",
                                      "ipc:///tmp/in",
                                      "HONEYBEE_EVENTS",
                                      "tcp://0.0.0.0:1",
                                      "HONEYBEE_SEND",
                                      "tcp://0.0.0.0:2",
                                      "HONEYBEE_CONTROL",
                                      "tcp://0.0.0.0:3",
                                      "HONEYBEE_HTTP",
                                      "",
                                      "HONEYBEE_LOG_LEVEL",
                                      "debug",
                                      "HONEYBEE_LOG_FORMAT",
                                      "json",
                                      "HONEYBEE_OTHER",
                                      "ignored",
                                      NULL};
    s_env = all;
    assert_int_equal(hb_config_apply_env(c, fake_getenv, &err), 0);
    assert_null(err);
    assert_string_equal(c->bridge.inbox, "ipc:///tmp/in");
    assert_string_equal(c->bridge.events, "tcp://0.0.0.0:1");
    assert_string_equal(c->bridge.send, "tcp://0.0.0.0:2");
    assert_string_equal(c->bridge.control, "tcp://0.0.0.0:3");
    assert_string_equal(c->bridge.http, ""); /* set and empty: disables HTTP */
    assert_int_equal(c->log.level, HB_LOG_DEBUG);
    assert_int_equal(c->log.format, HB_LOG_JSON);

    /* Bad values: each named, and the config keeps its previous value. */
    static const char *const bad[] = {"HONEYBEE_LOG_LEVEL",
                                      "loud",
                                      "HONEYBEE_INBOX",
                                      "",
                                      "HONEYBEE_HTTP",
                                      "nope",
                                      "HONEYBEE_LOG_FORMAT",
                                      "xml",
                                      NULL};
    s_env = bad;
    assert_int_equal(hb_config_apply_env(c, fake_getenv, &err), HB_E_CONFIG);
    assert_non_null(err);
    assert_non_null(strstr(err, "HONEYBEE_LOG_LEVEL: log.level: must be one of error, warn, "
                                "info, debug, got \"loud\"\n"));
    assert_non_null(strstr(err, "HONEYBEE_INBOX: bridge.inbox: must be a ZeroMQ endpoint"));
    assert_non_null(strstr(err, "HONEYBEE_HTTP: bridge.http: must be host:port"));
    assert_non_null(strstr(err, "HONEYBEE_LOG_FORMAT: log.format: must be one of text, json"));
    free(err);
    assert_int_equal(c->log.level, HB_LOG_DEBUG);
    assert_string_equal(c->bridge.inbox, "ipc:///tmp/in");
    assert_string_equal(c->bridge.http, "");

    /* Two sockets moved onto one endpoint: the message names the
     * variables, as a file's would name the file and line. */
    static const char *const clash[] = {"HONEYBEE_SEND", "ipc:///tmp/in", "HONEYBEE_LOG_LEVEL",
                                        "info", NULL};
    s_env = clash;
    hb_config *c2 = NULL;
    assert_int_equal(hb_config_defaults(&c2), 0);
    free(c2->bridge.inbox);
    c2->bridge.inbox = strdup("ipc:///tmp/in");
    assert_int_equal(hb_config_apply_env(c2, fake_getenv, &err), HB_E_CONFIG);
    assert_non_null(strstr(err, "environment (HONEYBEE_SEND): bridge.send: ipc:///tmp/in binds "
                                "where bridge.inbox binds (ipc:///tmp/in)"));
    free(err);
    err = NULL;
    hb_config_destroy(&c2);

    /* The real environment (getenv_fn NULL). */
    setenv("HONEYBEE_LOG_LEVEL", "warn", 1);
    assert_int_equal(hb_config_apply_env(c, NULL, NULL), 0);
    assert_int_equal(c->log.level, HB_LOG_WARN);
    unsetenv("HONEYBEE_LOG_LEVEL");
    hb_config_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_json_merge),
        cmocka_unit_test(test_from_json_errors),
        cmocka_unit_test(test_copy_equal),
        cmocka_unit_test(test_id_valid),
        cmocka_unit_test(test_env),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
