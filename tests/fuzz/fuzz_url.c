/*
 * fuzz_url.c: libFuzzer target for hb__ws_url_parse, which decides whether
 * a peer URL (from the config file or a control `connect`) is acceptable
 * before the transport dials it. The input up to its first NUL is the URL.
 *
 * An accepted URL must satisfy what the transport assumes when it copies
 * the parts out: host and path offsets inside the string, a non-empty
 * host, a non-zero port (the scheme's default when none is written), the
 * scheme matching `tls`, brackets exactly around an IPv6 host, the path
 * starting with '/' or '?' (or being empty), and none of the characters
 * the parser exists to refuse (controls, spaces, '#', user info before the
 * host). Parsing without an output gives the same verdict.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_check(const char *url)
{
    hb__ws_url u;
    memset(&u, 0xa5, sizeof(u)); /* a field left unset shows as garbage */
    bool ok = hb__ws_url_parse(url, &u);
    if (hb__ws_url_parse(url, NULL) != ok) abort();
    if (!ok) return;
    size_t n = strlen(url);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c == 0x7f || c == '#') abort();
    }
    size_t scheme = u.tls ? 6 : 5;
    if (strncasecmp(url, u.tls ? "wss://" : "ws://", scheme) != 0) abort();
    if (u.host_len == 0 || u.host_off < scheme || u.host_off > n || u.host_len > n - u.host_off)
        abort();
    if (u.path_off > n || u.path_off < u.host_off + u.host_len) abort();
    if (url[u.path_off] != '\0' && url[u.path_off] != '/' && url[u.path_off] != '?') abort();
    if (u.port == 0) abort();
    if (!u.port_given && u.port != (u.tls ? 443 : 80)) abort();
    bool v6 = url[scheme] == '[';
    if (v6) {
        if (u.host_off != scheme + 1 || url[u.host_off + u.host_len] != ']') abort();
    } else if (u.host_off != scheme) {
        abort();
    }
    /* Between the host and the path there is only ":port" or nothing. */
    size_t after = u.host_off + u.host_len + (v6 ? 1 : 0);
    if (u.port_given) {
        if (url[after] != ':') abort();
        unsigned long port = strtoul(url + after + 1, NULL, 10);
        if (port != u.port) abort();
    } else if (after != u.path_off) {
        abort();
    }
    /* The host is a reg-name or IPv6 literal: no '@', '/', '?', ':' in it
     * unless bracketed (then only hex digits, ':' and '.'). */
    for (size_t i = u.host_off; i < u.host_off + u.host_len; i++) {
        char c = url[i];
        if (c == '@' || c == '/' || c == '?' || c == '[' || c == ']') abort();
        if (!v6 && c == ':') abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    s_check(s);
    free(s);
    return 0;
}
