/*
 * endpoint.c: the bind endpoints of the bridge, parsed strictly (see
 * endpoint.h). libzmq itself reads a port with atoi-like leniency and
 * truncates it to 16 bits, so the checks here are what keeps a typo from
 * binding somewhere else. Pure; any thread.
 */
#include "core/endpoint.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

/* "1".."65535", digits only, no leading zero run beyond one digit. */
static bool s_port(const char *s, int *out)
{
    if (!*s) return false;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
        if (v > 65535) return false;
    }
    if (v < 1) return false;
    *out = (int)v;
    return true;
}

/* A host name or an interface name: letters, digits, '-', '.', '_'. */
static bool s_name(const char *s, size_t n)
{
    if (!n) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_') return false;
    }
    return true;
}

/* HOST:PORT with HOST as endpoint.h says. */
static bool s_hostport(const char *hp, hb__endpoint *e, const char **why)
{
    const char *colon = strrchr(hp, ':');
    if (!colon) {
        *why = "needs host:port";
        return false;
    }
    if (!s_port(colon + 1, &e->port)) {
        *why = "the port must be a number from 1 to 65535";
        return false;
    }
    const char *h = hp;
    size_t n = (size_t)(colon - hp);
    if (n && h[0] == '[') {
        if (n < 3 || h[n - 1] != ']') {
            *why = "an IPv6 host goes in brackets: [::1]:5550";
            return false;
        }
        h++;
        n -= 2;
        if (n > HB__EP_HOST_MAX) {
            *why = "the host is too long";
            return false;
        }
        memcpy(e->host, h, n);
        e->host[n] = 0;
        unsigned char a6[16];
        if (inet_pton(AF_INET6, e->host, a6) != 1) {
            *why = "not an IPv6 address in the brackets";
            return false;
        }
        return true;
    }
    if (!n) {
        *why = "the host is missing (\"*\" binds every interface)";
        return false;
    }
    if (n > HB__EP_HOST_MAX) {
        *why = "the host is too long";
        return false;
    }
    memcpy(e->host, h, n);
    e->host[n] = 0;
    if (!strcmp(e->host, "*")) return true;
    if (memchr(e->host, ':', n)) {
        *why = "an IPv6 host goes in brackets: [::1]:5550";
        return false;
    }
    if (memchr(e->host, ';', n)) {
        *why = "a source address (a;b) is for connecting, not binding";
        return false;
    }
    if (!s_name(e->host, n)) {
        *why = "the host must be an address, \"*\", or a host or interface name";
        return false;
    }
    return true;
}

bool hb__endpoint_parse(const char *ep, hb__endpoint *out, const char **why)
{
    hb__endpoint tmp;
    const char *dummy;
    hb__endpoint *e = out ? out : &tmp;
    if (!why) why = &dummy;
    memset(e, 0, sizeof(*e));
    if (!ep || !*ep) {
        *why = "is empty";
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)ep; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) {
            *why = "contains a space or a control character";
            return false;
        }
    if (!strncmp(ep, "tcp://", 6)) {
        e->kind = HB__EP_TCP;
        return s_hostport(ep + 6, e, why);
    }
    const char *rest;
    if (!strncmp(ep, "ipc://", 6)) {
        e->kind = HB__EP_IPC;
        rest = ep + 6;
        if (strlen(rest) > HB__EP_IPC_MAX) {
            *why = "an ipc path is at most 107 bytes (the size of sun_path)";
            return false;
        }
    } else if (!strncmp(ep, "inproc://", 9)) {
        e->kind = HB__EP_INPROC;
        rest = ep + 9;
        if (strlen(rest) > HB__EP_HOST_MAX) {
            *why = "the name is too long";
            return false;
        }
    } else {
        *why = "the scheme must be tcp://, ipc:// or inproc://";
        return false;
    }
    if (!*rest || !strcmp(rest, "*")) {
        *why = "needs a path or a name (a random one cannot be reached by clients)";
        return false;
    }
    strcpy(e->host, rest);
    return true;
}

bool hb__listen_parse(const char *hostport, hb__endpoint *out, const char **why)
{
    hb__endpoint tmp;
    const char *dummy;
    hb__endpoint *e = out ? out : &tmp;
    if (!why) why = &dummy;
    memset(e, 0, sizeof(*e));
    if (!hostport || !*hostport) {
        *why = "is empty";
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)hostport; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '/') {
            *why = "contains a space, a control character or '/'";
            return false;
        }
    e->kind = HB__EP_TCP;
    return s_hostport(hostport, e, why);
}

static bool s_wild(const char *h)
{
    return !strcmp(h, "*") || !strcmp(h, "0.0.0.0") || !strcmp(h, "::");
}

bool hb__endpoint_overlap(const hb__endpoint *a, const hb__endpoint *b)
{
    if (a->kind != b->kind) return false;
    if (a->kind != HB__EP_TCP) return !strcmp(a->host, b->host);
    if (a->port != b->port) return false;
    return s_wild(a->host) || s_wild(b->host) || !strcasecmp(a->host, b->host);
}

bool hb__endpoint_is_local(const hb__endpoint *e)
{
    if (e->kind != HB__EP_TCP) return true;
    if (!strcasecmp(e->host, "localhost") || !strcmp(e->host, "lo")) return true;
    unsigned char a[16];
    if (inet_pton(AF_INET, e->host, a) == 1) return a[0] == 127;
    if (inet_pton(AF_INET6, e->host, a) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        static const unsigned char v4map[12] = {[10] = 0xff, [11] = 0xff};
        if (!memcmp(a, one, 16)) return true;
        return !memcmp(a, v4map, 12) && a[12] == 127;
    }
    return false;
}
