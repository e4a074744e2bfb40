/*
 * netrule.c: IP networks, the outbound allow-list and the private-host
 * test (see netrule.h). Rules are parsed again at each match: lists are
 * short and a match happens once per connect. Pure; any thread.
 */
#include "core/netrule.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/url.h"

bool hb__ip_parse(const char *text, int *family, unsigned char addr[16])
{
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, addr) != 1) return false;
    static const unsigned char v4map[12] = {[10] = 0xff, [11] = 0xff};
    if (!memcmp(addr, v4map, 12)) {
        memmove(addr, addr + 12, 4);
        *family = AF_INET;
    } else {
        *family = AF_INET6;
    }
    return true;
}

bool hb__cidr_parse(const char *text, hb__cidr *out)
{
    char buf[64];
    size_t n = text ? strlen(text) : 0;
    if (!n || n >= sizeof(buf)) return false;
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    long prefix = -1;
    if (slash) {
        *slash = 0;
        char *end;
        errno = 0;
        prefix = strtol(slash + 1, &end, 10);
        if (errno || end == slash + 1 || *end || prefix < 0 || slash[1] == '+' || slash[1] == '-')
            return false;
    }
    hb__cidr r;
    memset(&r, 0, sizeof(r));
    if (inet_pton(AF_INET, buf, r.addr) == 1) {
        r.family = AF_INET;
        if (prefix > 32) return false;
        r.prefix = prefix < 0 ? 32 : (unsigned)prefix;
    } else if (inet_pton(AF_INET6, buf, r.addr) == 1) {
        r.family = AF_INET6;
        if (prefix > 128) return false;
        r.prefix = prefix < 0 ? 128 : (unsigned)prefix;
    } else {
        return false;
    }
    if (out) *out = r;
    return true;
}

bool hb__cidr_match(const hb__cidr *r, int family, const unsigned char *addr)
{
    if (r->family != family) return false;
    unsigned full = r->prefix / 8, bits = r->prefix % 8;
    if (memcmp(r->addr, addr, full)) return false;
    if (!bits) return true;
    unsigned char mask = (unsigned char)(0xff << (8 - bits));
    return (r->addr[full] & mask) == (addr[full] & mask);
}

/* ---- pool.allow ------------------------------------------------------------ */

/* A rule split into its parts (pointers into `buf`). */
typedef struct s_rule {
    char buf[320];
    int scheme;       /* -1 any, 0 ws, 1 wss */
    const char *host; /* "*", "*.suffix", a name, an address, or a network */
    long port;        /* -1 any */
    bool is_net;
    hb__cidr net;
} s_rule;

static bool s_rule_parse(const char *text, s_rule *r, const char **why)
{
    const char *dummy;
    if (!why) why = &dummy;
    size_t n = text ? strlen(text) : 0;
    if (!n || n >= sizeof(r->buf)) {
        *why = "a rule is 1 to 319 bytes";
        return false;
    }
    memcpy(r->buf, text, n + 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r->buf[i] <= 0x20 || r->buf[i] == 0x7f) {
            *why = "a rule has no spaces or control characters";
            return false;
        }
    char *p = r->buf;
    r->scheme = -1;
    r->port = -1;
    r->is_net = false;
    char *sep = strstr(p, "://");
    if (sep) {
        *sep = 0;
        if (!strcasecmp(p, "ws"))
            r->scheme = 0;
        else if (!strcasecmp(p, "wss"))
            r->scheme = 1;
        else if (strcmp(p, "*")) {
            *why = "the scheme is ws://, wss:// or *://";
            return false;
        }
        p = sep + 3;
    }
    /* HOST, [V6] or [V6]/N, then :PORT. */
    char *host = p, *port = NULL;
    if (*p == '[') {
        char *close = strchr(p, ']');
        if (!close) {
            *why = "an IPv6 host goes in brackets";
            return false;
        }
        *close = 0;
        host = p + 1;
        char *rest = close + 1;
        if (*rest == '/') { /* [fd00::]/8 */
            char *colon = strchr(rest, ':');
            if (colon) *colon = 0, port = colon + 1;
            memmove(close, rest, strlen(rest) + 1); /* host "fd00::/8" */
        } else if (*rest == ':') {
            port = rest + 1;
        } else if (*rest) {
            *why = "unexpected text after the IPv6 host";
            return false;
        }
    } else {
        char *colon = strchr(p, ':');
        if (colon) *colon = 0, port = colon + 1;
    }
    if (port) {
        if (!strcmp(port, "*")) {
            r->port = -1;
        } else {
            char *end;
            errno = 0;
            long v = strtol(port, &end, 10);
            if (errno || end == port || *end || v < 1 || v > 65535 || *port == '+' ||
                *port == '-') {
                *why = "the port is a number from 1 to 65535, or *";
                return false;
            }
            r->port = v;
        }
    }
    if (!*host) {
        *why = "the host is missing (* for any)";
        return false;
    }
    r->host = host;
    if (!strcmp(host, "*")) return true;
    if (strchr(host, '/')) {
        if (!hb__cidr_parse(host, &r->net)) {
            *why = "a network is an address and a prefix length: 10.0.0.0/8, [fd00::]/8";
            return false;
        }
        r->is_net = true;
        return true;
    }
    const char *name = host[0] == '*' && host[1] == '.' ? host + 2 : host;
    if (!*name) {
        *why = "*. needs a domain after it";
        return false;
    }
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '.' || *c == '_' || *c == ':')) {
            *why = "the host is *, *.domain, a name, an address or a network";
            return false;
        }
    return true;
}

bool hb__allow_rule_check(const char *rule, const char **why)
{
    s_rule r;
    if (rule && !strcmp(rule, "*")) return true;
    return s_rule_parse(rule, &r, why);
}

/* A URL's host as an address, read the way the resolver reads it (IPv4
 * through inet_aton: 2130706433 is 127.0.0.1). */
static bool s_host_ip(const char *host, int *fam, unsigned char a[16])
{
    struct in_addr v4;
    if (inet_aton(host, &v4)) {
        *fam = AF_INET;
        memcpy(a, &v4, 4);
        return true;
    }
    return hb__ip_parse(host, fam, a);
}

static bool s_match(const s_rule *r, const char *url, const hb__ws_url *u)
{
    if (r->scheme >= 0 && r->scheme != (u->tls ? 1 : 0)) return false;
    if (r->port >= 0 && r->port != u->port) return false;
    const char *h = url + u->host_off;
    size_t hl = u->host_len;
    if (!strcmp(r->host, "*")) return true;
    char text[256];
    if (hl >= sizeof(text)) return false;
    memcpy(text, h, hl);
    text[hl] = 0;
    int fam, rfam;
    unsigned char a[16], ra[16];
    bool ip = s_host_ip(text, &fam, a);
    if (r->is_net) return ip && hb__cidr_match(&r->net, fam, a);
    if (hb__ip_parse(r->host, &rfam, ra)) /* an address: compared as one */
        return ip && fam == rfam && !memcmp(a, ra, fam == AF_INET ? 4 : 16);
    /* A trailing dot is the same name. */
    if (hl && h[hl - 1] == '.') hl--;
    if (r->host[0] == '*' && r->host[1] == '.') {
        size_t sl = strlen(r->host + 1); /* ".example.com" */
        return hl > sl && !strncasecmp(h + hl - sl, r->host + 1, sl);
    }
    return strlen(r->host) == hl && !strncasecmp(h, r->host, hl);
}

bool hb__allow_match(char *const *rules, size_t n, const char *url)
{
    if (!n) return true;
    hb__ws_url u;
    if (!url || !hb__ws_url_parse(url, &u)) return false;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(rules[i], "*")) return true;
        s_rule r;
        if (s_rule_parse(rules[i], &r, NULL) && s_match(&r, url, &u)) return true;
    }
    return false;
}

/* ---- private destinations -------------------------------------------------- */

/* Inside the host, its networks, or not unicast on the Internet: RFC 6890's
 * special-purpose blocks a dial should never reach from a public name,
 * including NAT64's prefixes, which embed an IPv4 address (a DNS64 answer
 * for 169.254.169.254 is 64:ff9b::a9fe:a9fe). */
static const char *const s_private_nets[] = {
    "0.0.0.0/8",     "10.0.0.0/8",   "100.64.0.0/10",  "127.0.0.0/8",   "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
    "240.0.0.0/4",   "::/128",       "::1/128",        "64:ff9b::/96",  "64:ff9b:1::/48",
    "fc00::/7",      "fe80::/10",    "ff00::/8",
};

static bool s_private(int fam, const unsigned char *a)
{
    for (size_t i = 0; i < sizeof(s_private_nets) / sizeof(s_private_nets[0]); i++) {
        hb__cidr net;
        if (hb__cidr_parse(s_private_nets[i], &net) && hb__cidr_match(&net, fam, a)) return true;
    }
    return false;
}

bool hb__sockaddr_private(const struct sockaddr *sa)
{
    unsigned char a[16];
    if (sa->sa_family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return s_private(AF_INET, a);
    }
    if (sa->sa_family != AF_INET6) return false;
    memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    static const unsigned char v4map[12] = {[10] = 0xff, [11] = 0xff};
    if (!memcmp(a, v4map, 12)) {
        memmove(a, a + 12, 4);
        return s_private(AF_INET, a);
    }
    return s_private(AF_INET6, a);
}

bool hb__ip_private(const char *text)
{
    int fam;
    unsigned char a[16];
    return text && hb__ip_parse(text, &fam, a) && s_private(fam, a);
}

bool hb__url_host_private(const char *url)
{
    hb__ws_url u;
    if (!url || !hb__ws_url_parse(url, &u)) return false;
    char host[256];
    size_t hl = u.host_len;
    if (hl >= sizeof(host)) return false;
    memcpy(host, url + u.host_off, hl);
    host[hl] = 0;
    while (hl && host[hl - 1] == '.') host[--hl] = 0;
    if (!strcasecmp(host, "localhost")) return true;
    if (hl > 10 && !strcasecmp(host + hl - 10, ".localhost")) return true;
    int fam;
    unsigned char a[16];
    if (!s_host_ip(host, &fam, a)) return false; /* a name: not resolved here */
    return s_private(fam, a);
}
