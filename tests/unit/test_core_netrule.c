/*
 * test_core_netrule.c: bind endpoints (core/endpoint) and address and URL
 * rules (core/netrule): what --check accepts and refuses, overlaps, the
 * loopback test; CIDR parsing and matching; pool.allow rules; the
 * private-host test with the spellings the resolver accepts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <string.h>

#include "core/endpoint.h"
#include "core/netrule.h"

static void test_endpoints(void **state)
{
    (void)state;
    hb__endpoint e;
    const char *why;
    assert_true(hb__endpoint_parse("tcp://127.0.0.1:5550", &e, &why));
    assert_int_equal(e.kind, HB__EP_TCP);
    assert_string_equal(e.host, "127.0.0.1");
    assert_int_equal(e.port, 5550);
    assert_true(hb__endpoint_parse("tcp://*:1", &e, &why));
    assert_true(hb__endpoint_parse("tcp://[::1]:65535", &e, &why));
    assert_string_equal(e.host, "::1");
    assert_true(hb__endpoint_parse("tcp://eth0:5550", &e, &why));
    assert_true(hb__endpoint_parse("ipc:///run/hb.sock", &e, &why));
    assert_true(hb__endpoint_parse("ipc://@abstract", &e, &why));
    assert_true(hb__endpoint_parse("inproc://x", &e, &why));
    const char *bad[] = {"tcp://127.0.0.1:99999",
                         "tcp://127.0.0.1:1aaaa",
                         "tcp://127.0.0.1:0",
                         "tcp://127.0.0.1:",
                         "tcp://127.0.0.1",
                         "tcp://:1",
                         "tcp://::1:5",
                         "tcp://[::1:5",
                         "tcp://[zz]:5",
                         "tcp://a;b:5",
                         "tcp://a b:5",
                         "tcp://127.0.0.1:*",
                         "garbage://x",
                         "ipc://",
                         "ipc://*",
                         "inproc://",
                         "",
                         "tcp://127.0.0.1:+5",
                         "tcp://127.0.0.1:-5",
                         "udp://1.2.3.4:5",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        why = NULL;
        if (hb__endpoint_parse(bad[i], NULL, &why)) fail_msg("%s accepted", bad[i]);
        assert_non_null(why);
    }
    char longp[200] = "ipc://";
    memset(longp + 6, 'a', 108);
    longp[114] = 0;
    assert_false(hb__endpoint_parse(longp, NULL, NULL));
    assert_false(hb__endpoint_parse(NULL, NULL, NULL));

    assert_true(hb__listen_parse("127.0.0.1:8080", &e, NULL));
    assert_true(hb__listen_parse("*:8080", &e, NULL));
    assert_true(hb__listen_parse("[::]:8080", &e, NULL));
    assert_false(hb__listen_parse(":8080", NULL, NULL));
    assert_false(hb__listen_parse("8080", NULL, NULL));
    assert_false(hb__listen_parse("127.0.0.1:80x", NULL, NULL));
    assert_false(hb__listen_parse("a/b:80", NULL, NULL));
}

static bool s_overlap(const char *a, const char *b)
{
    hb__endpoint x, y;
    assert_true(hb__endpoint_parse(a, &x, NULL));
    assert_true(hb__endpoint_parse(b, &y, NULL));
    return hb__endpoint_overlap(&x, &y);
}

static void test_overlap_and_local(void **state)
{
    (void)state;
    assert_true(s_overlap("tcp://127.0.0.1:5", "tcp://127.0.0.1:5"));
    assert_true(s_overlap("tcp://*:5", "tcp://127.0.0.1:5"));
    assert_true(s_overlap("tcp://127.0.0.1:5", "tcp://0.0.0.0:5"));
    assert_false(s_overlap("tcp://127.0.0.1:5", "tcp://127.0.0.2:5"));
    assert_false(s_overlap("tcp://*:5", "tcp://*:6"));
    assert_true(s_overlap("ipc:///a", "ipc:///a"));
    assert_false(s_overlap("ipc:///a", "tcp://*:5"));
    const char *local[] = {"tcp://127.0.0.1:5",
                           "tcp://127.9.9.9:5",
                           "tcp://[::1]:5",
                           "tcp://localhost:5",
                           "ipc:///x",
                           "inproc://y",
                           NULL};
    const char *open[] = {"tcp://*:5",        "tcp://0.0.0.0:5", "tcp://[::]:5",
                          "tcp://10.0.0.1:5", "tcp://eth0:5",    NULL};
    hb__endpoint e;
    for (int i = 0; local[i]; i++) {
        assert_true(hb__endpoint_parse(local[i], &e, NULL));
        if (!hb__endpoint_is_local(&e)) fail_msg("%s not local", local[i]);
    }
    for (int i = 0; open[i]; i++) {
        assert_true(hb__endpoint_parse(open[i], &e, NULL));
        if (hb__endpoint_is_local(&e)) fail_msg("%s local", open[i]);
    }
}

static bool s_in(const char *net, const char *ip)
{
    hb__cidr c;
    int fam;
    unsigned char a[16];
    assert_true(hb__cidr_parse(net, &c));
    assert_true(hb__ip_parse(ip, &fam, a));
    return hb__cidr_match(&c, fam, a);
}

static void test_cidr(void **state)
{
    (void)state;
    assert_true(s_in("10.0.0.0/8", "10.255.1.2"));
    assert_false(s_in("10.0.0.0/8", "11.0.0.1"));
    assert_true(s_in("192.168.1.7", "192.168.1.7"));
    assert_false(s_in("192.168.1.7", "192.168.1.8"));
    assert_true(s_in("172.16.0.0/12", "172.31.255.255"));
    assert_false(s_in("172.16.0.0/12", "172.32.0.0"));
    assert_true(s_in("0.0.0.0/0", "8.8.8.8"));
    assert_true(s_in("fd00::/8", "fd12::1"));
    assert_true(s_in("127.0.0.0/8", "::ffff:127.0.0.1")); /* a dual-stack socket's IPv4 client */
    assert_false(s_in("::1", "127.0.0.1"));
    const char *bad[] = {"10.0.0.0/33", "::/129", "10.0.0.0/",    "10.0.0.0/x", "10.0.0.0/-1",
                         "a.b.c.d",     "",       "10.0.0.0/8/8", NULL};
    for (int i = 0; bad[i]; i++)
        if (hb__cidr_parse(bad[i], NULL)) fail_msg("%s accepted", bad[i]);
}

static bool s_allow(const char *rule, const char *url)
{
    char *rules[1] = {(char *)rule};
    const char *why = NULL;
    if (!hb__allow_rule_check(rule, &why)) fail_msg("rule %s: %s", rule, why);
    return hb__allow_match(rules, 1, url);
}

static void test_allow_rules(void **state)
{
    (void)state;
    assert_true(hb__allow_match(NULL, 0, "ws://anything/"));
    assert_true(s_allow("*", "wss://x.example.com/"));
    assert_true(s_allow("wss://*.example.com", "wss://a.b.example.com/x"));
    assert_false(s_allow("wss://*.example.com", "wss://example.com/"));
    assert_false(s_allow("wss://*.example.com", "ws://a.example.com/"));
    assert_false(s_allow("wss://*.example.com", "wss://a.example.com.evil.org/"));
    assert_true(s_allow("relay.example.com", "wss://RELAY.example.com./"));
    assert_true(s_allow("relay.example.com:443", "wss://relay.example.com/"));
    assert_false(s_allow("relay.example.com:443", "ws://relay.example.com/"));
    assert_true(s_allow("ws://127.0.0.1:*", "ws://127.0.0.1:9/"));
    assert_true(s_allow("127.0.0.1", "ws://2130706433:9/")); /* the resolver reads it so */
    assert_true(s_allow("10.0.0.0/8", "ws://10.1.2.3/"));
    assert_false(s_allow("10.0.0.0/8", "ws://10.example.com/"));
    assert_true(s_allow("[fd00::]/8:8080", "ws://[fd12::1]:8080/"));
    assert_false(s_allow("[fd00::]/8:8080", "ws://[fd12::1]:8081/"));
    assert_true(s_allow("[2001:db8::1]", "ws://[2001:DB8:0::1]/"));
    assert_true(s_allow("*://*:8765", "ws://anything:8765/"));
    const char *bad[] = {"http://x", "x:0", "x:70000", "x:a",   "[::1", "10.0.0.0/99",
                         "*.",       "a b", "",        "ws://", "x/y",  NULL};
    for (int i = 0; bad[i]; i++)
        if (hb__allow_rule_check(bad[i], NULL)) fail_msg("rule %s accepted", bad[i]);
    char *two[2] = {"wss://a.example.com", "ws://127.0.0.1:*"};
    assert_true(hb__allow_match(two, 2, "ws://127.0.0.1:5/"));
    assert_false(hb__allow_match(two, 2, "ws://127.0.0.2:5/"));
}

static void test_private_hosts(void **state)
{
    (void)state;
    const char *priv[] = {"ws://127.0.0.1/",
                          "ws://localhost/",
                          "ws://LOCALHOST./",
                          "ws://x.localhost/",
                          "ws://2130706433/",
                          "ws://0x7f.1/",
                          "ws://0177.0.0.1/",
                          "ws://127.1/",
                          "ws://0.0.0.0/",
                          "ws://10.0.0.1/",
                          "ws://172.16.5.5/",
                          "ws://192.168.0.1/",
                          "ws://169.254.169.254/",
                          "ws://100.64.0.1/",
                          "ws://[::1]/",
                          "ws://[::]/",
                          "ws://[::ffff:127.0.0.1]/",
                          "ws://[fd00:ec2::254]/",
                          "ws://[fe80::1]/",
                          NULL};
    const char *pub[] = {"ws://8.8.8.8/",
                         "ws://192.0.2.1/",
                         "wss://relay.example.com/",
                         "ws://[2001:db8::1]/",
                         "ws://172.32.0.1/",
                         "ws://localhost.example/",
                         NULL};
    for (int i = 0; priv[i]; i++)
        if (!hb__url_host_private(priv[i])) fail_msg("%s not private", priv[i]);
    for (int i = 0; pub[i]; i++)
        if (hb__url_host_private(pub[i])) fail_msg("%s private", pub[i]);
}

static bool s_sa_private(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1)
        v4->sin_family = AF_INET;
    else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1)
        v6->sin6_family = AF_INET6;
    else
        fail_msg("bad address %s", ip);
    return hb__sockaddr_private((struct sockaddr *)&ss);
}

static void test_resolved_addresses(void **state)
{
    (void)state;
    assert_true(s_sa_private("127.0.0.1"));
    assert_true(s_sa_private("169.254.169.254"));
    assert_true(s_sa_private("::ffff:10.0.0.1"));
    assert_true(s_sa_private("fd00:ec2::254"));
    /* NAT64 embeds the metadata address; multicast, benchmarking, IETF */
    assert_true(s_sa_private("64:ff9b::a9fe:a9fe"));
    assert_true(s_sa_private("64:ff9b:1::a9fe:a9fe"));
    assert_true(s_sa_private("224.0.0.1"));
    assert_true(s_sa_private("ff02::1"));
    assert_true(s_sa_private("198.18.0.1"));
    assert_true(s_sa_private("192.0.0.8"));
    assert_true(s_sa_private("255.255.255.255"));
    assert_false(s_sa_private("198.20.0.1"));
    assert_false(s_sa_private("93.184.216.34"));
    assert_false(s_sa_private("2606:2800:220:1::1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoints),     cmocka_unit_test(test_overlap_and_local),
        cmocka_unit_test(test_cidr),          cmocka_unit_test(test_allow_rules),
        cmocka_unit_test(test_private_hosts), cmocka_unit_test(test_resolved_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
