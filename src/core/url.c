/*
 * url.c: a strict recogniser for peer URLs. It only says where the parts of
 * the string are; the transport copies what it needs. Written by hand
 * (rather than through lws_parse_uri, which edits its input and accepts
 * anything) so that the config check and the control `connect` reject a bad
 * URL with invalid_url before anything is dialled. Pure; any thread.
 */
#include "core/url.h"

#include <string.h>
#include <strings.h>

static bool s_host_char(unsigned char c)
{
    /* RFC 3986 reg-name: unreserved, pct-encoded, sub-delims. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~%!$&'()*+,;=", c) != NULL;
}

bool hb__ws_url_parse(const char *url, hb__ws_url *out)
{
    hb__ws_url u = {0};
    if (!url || strnlen(url, HB__URL_MAX + 1) > HB__URL_MAX) return false;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f) return false; /* spaces and control chars */
    size_t i;
    if (strncasecmp(url, "ws://", 5) == 0) {
        i = 5;
    } else if (strncasecmp(url, "wss://", 6) == 0) {
        i = 6, u.tls = true;
    } else {
        return false;
    }
    if (url[i] == '[') {
        size_t start = ++i;
        while (url[i] && url[i] != ']') {
            char c = url[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.'))
                return false;
            i++;
        }
        if (url[i] != ']' || i == start) return false;
        u.host_off = start, u.host_len = i - start;
        i++;
    } else {
        size_t start = i;
        while (url[i] && s_host_char((unsigned char)url[i])) i++;
        if (i == start) return false;
        u.host_off = start, u.host_len = i - start;
    }
    u.port = u.tls ? 443 : 80;
    if (url[i] == ':') {
        i++;
        unsigned long port = 0;
        size_t start = i;
        while (url[i] >= '0' && url[i] <= '9') {
            port = port * 10 + (unsigned long)(url[i] - '0');
            if (port > 65535) return false;
            i++;
        }
        if (i == start || port == 0) return false;
        u.port = (uint16_t)port, u.port_given = true;
    }
    if (url[i] != '\0' && url[i] != '/' && url[i] != '?') return false; /* '@', '#', junk */
    u.path_off = i;
    if (strchr(url + i, '#')) return false; /* no fragments in WebSocket URIs */
    if (out) *out = u;
    return true;
}

bool hb__hostport_split(const char *hp, char *host, size_t hcap, int *port)
{
    const char *colon = hp ? strrchr(hp, ':') : NULL;
    if (!colon) return false;
    const char *hs = hp, *he = colon;
    if (*hs == '[') {
        if (he - hs < 3 || he[-1] != ']') return false;
        hs++;
        he--;
    }
    if (he == hs) return false;
    for (const unsigned char *c = (const unsigned char *)hs; c < (const unsigned char *)he; c++)
        if (*c <= 0x20 || *c == 0x7f || *c == '/') return false;
    long p = 0;
    const char *d = colon + 1;
    if (!*d) return false;
    for (; *d; d++) {
        if (*d < '0' || *d > '9') return false;
        p = p * 10 + (*d - '0');
        if (p > 65535) return false;
    }
    if (p < 1) return false;
    if (host) {
        if ((size_t)(he - hs) >= hcap) return false;
        memcpy(host, hs, (size_t)(he - hs));
        host[he - hs] = 0;
    }
    if (port) *port = (int)p;
    return true;
}
