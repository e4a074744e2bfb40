/*
 * test_transport_resolver.c: the resolver's answer picking
 * (hb__resolve_pick), pure: IPv4 before IPv6, and with public_only
 * (pool.allow_private: false) loopback, private and link-local answers
 * skipped, a list of only those refused as such. getaddrinfo() lists are
 * built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "core/netrule.h"
#include "transport/resolver.h"

/* A list of up to 8 answers from text addresses, in order. */
typedef struct s_list {
    struct addrinfo ai[8];
    struct sockaddr_storage sa[8];
} s_list;

static struct addrinfo *s_build(s_list *l, const char *const *addrs, size_t n)
{
    memset(l, 0, sizeof(*l));
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        struct addrinfo *a = &l->ai[i];
        if (strchr(addrs[i], ':')) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&l->sa[i];
            s6->sin6_family = AF_INET6;
            assert_int_equal(inet_pton(AF_INET6, addrs[i], &s6->sin6_addr), 1);
            a->ai_family = AF_INET6;
            a->ai_addrlen = sizeof(*s6);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&l->sa[i];
            s4->sin_family = AF_INET;
            assert_int_equal(inet_pton(AF_INET, addrs[i], &s4->sin_addr), 1);
            a->ai_family = AF_INET;
            a->ai_addrlen = sizeof(*s4);
        }
        a->ai_socktype = SOCK_STREAM;
        a->ai_addr = (struct sockaddr *)&l->sa[i];
        a->ai_next = i + 1 < n ? &l->ai[i + 1] : NULL;
    }
    return n ? &l->ai[0] : NULL;
}

static hb__pick s_pick(const char *const *addrs, size_t n, bool public_only, char *out)
{
    s_list l;
    return hb__resolve_pick(s_build(&l, addrs, n), public_only, out, 64);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_prefers_ipv4(void **state)
{
    (void)state;
    char out[64];
    const char *const mixed[] = {"2001:db8::1", "192.0.2.7", "198.51.100.1"};
    assert_int_equal(s_pick(mixed, N(mixed), false, out), HB__PICK_OK);
    assert_string_equal(out, "192.0.2.7");
    const char *const v6[] = {"2001:db8::1", "2001:db8::2"};
    assert_int_equal(s_pick(v6, N(v6), true, out), HB__PICK_OK);
    assert_string_equal(out, "2001:db8::1");
    /* Without public_only a loopback answer is taken as before. */
    const char *const local[] = {"::1", "127.0.0.1"};
    assert_int_equal(s_pick(local, N(local), false, out), HB__PICK_OK);
    assert_string_equal(out, "127.0.0.1");
    assert_int_equal(s_pick(NULL, 0, false, out), HB__PICK_NONE);
    assert_string_equal(out, "");
}

static void test_public_only_skips_private(void **state)
{
    (void)state;
    char out[64];
    /* A public answer after private ones is the one dialled, IPv4 first. */
    const char *const some[] = {"127.0.0.1", "10.1.2.3", "2001:db8::5", "169.254.169.254",
                                "203.0.113.9"};
    assert_int_equal(s_pick(some, N(some), true, out), HB__PICK_OK);
    assert_string_equal(out, "203.0.113.9");
    const char *const v6pub[] = {"192.168.1.1", "fd00::1", "2001:db8::5"};
    assert_int_equal(s_pick(v6pub, N(v6pub), true, out), HB__PICK_OK);
    assert_string_equal(out, "2001:db8::5");
    /* Every answer private, loopback or link-local (v4-mapped too). */
    const char *const all[] = {"127.0.0.1",  "::1",        "169.254.169.254", "fe80::1",
                               "100.64.0.1", "172.16.0.1", "fd00:ec2::254",   "::ffff:10.0.0.1"};
    assert_int_equal(s_pick(all, N(all), true, out), HB__PICK_PRIVATE);
    assert_string_equal(out, "");
    for (size_t i = 0; i < N(all); i++) {
        assert_int_equal(s_pick(&all[i], 1, true, out), HB__PICK_PRIVATE);
        assert_true(hb__ip_private(all[i]));
    }
    assert_false(hb__ip_private("203.0.113.9"));
    assert_false(hb__ip_private("2001:db8::5"));
    assert_false(hb__ip_private("relay.example.com"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefers_ipv4),
        cmocka_unit_test(test_public_only_skips_private),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
