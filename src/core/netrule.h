/*
 * netrule.h: address and URL rules (SPEC.md section 9): IP networks for
 * bridge.curve.allow/deny, the outbound allow-list pool.allow, and the
 * test for destinations inside the host or its private networks
 * (pool.allow_private). Pure; any thread.
 */
#ifndef HB_CORE_NETRULE_H
#define HB_CORE_NETRULE_H

#include <stdbool.h>
#include <stddef.h>

/* An IPv4 or IPv6 network. */
typedef struct hb__cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned prefix;
} hb__cidr;

/* "192.0.2.7", "10.0.0.0/8", "fd00::/8", "::1". True and *out, or false. */
bool hb__cidr_parse(const char *text, hb__cidr *out);

/* An address as text ("::ffff:a.b.c.d" counts as IPv4) into family and
 * bytes. False when it is no IP address. */
bool hb__ip_parse(const char *text, int *family, unsigned char addr[16]);

bool hb__cidr_match(const hb__cidr *net, int family, const unsigned char *addr);

/*
 * One rule of pool.allow:
 *   *                          every URL
 *   [SCHEME://]HOST[:PORT]     SCHEME ws, wss or *; PORT a number or *
 *                              (no port: any); HOST one of
 *     *                        any host
 *     *.example.com            any name under example.com (not itself)
 *     relay.example.com        that name (case does not matter)
 *     192.0.2.7, [2001:db8::1] that address
 *     10.0.0.0/8, [fd00::]/8   any address in that network (given as an
 *                              address in the URL, not a name)
 * Returns true, or false with *why (static text).
 */
bool hb__allow_rule_check(const char *rule, const char **why);

/* True when `url` (a valid ws:// or wss:// URL) matches one of the rules,
 * or when there are no rules. */
bool hb__allow_match(char *const *rules, size_t n, const char *url);

/*
 * True when the host of `url` is, as written, on this host or in a
 * private network: loopback (127/8, ::1), "localhost" and names under it,
 * the unspecified address (0.0.0.0/8, ::), RFC 1918 (10/8, 172.16/12,
 * 192.168/16), shared (100.64/10), link-local (169.254/16, where cloud
 * metadata lives; fe80::/10), unique local (fc00::/7), and IPv4-mapped
 * forms of these. IPv4 is read the way the resolver reads it (inet_aton:
 * 2130706433 and 0177.1 are 127.0.0.1). A name is not resolved here.
 */
bool hb__url_host_private(const char *url);

/* The same ranges for an address a name resolved to (AF_INET or AF_INET6;
 * false for anything else), for a check after DNS: a dialler that refuses
 * private destinations calls it on each address before it connects. */
struct sockaddr;
bool hb__sockaddr_private(const struct sockaddr *sa);
/* The same for a numeric address as text ("10.0.0.1", "::1"); false for
 * anything that is not one. */
bool hb__ip_private(const char *text);

#endif
