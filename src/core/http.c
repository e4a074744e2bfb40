/*
 * http.c: the checks of http.h. Header names are matched against the
 * headers the WebSocket client owns (it writes them itself) and against
 * the hop-by-hop and framing headers a proxy or server would act on, which
 * a peer's configuration must not be able to smuggle into the handshake.
 * Pure; any thread.
 */
#include "core/http.h"

#include <string.h>
#include <strings.h>

/* tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 *         "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static bool s_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

bool hb__http_is_token(const char *s, size_t n)
{
    if (!s || n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!s_tchar((unsigned char)s[i])) return false;
    return true;
}

static int s_fail(const char **why, const char *text)
{
    if (why) *why = text;
    return -1;
}

int hb__http_header_check(const char *name, const char *value, const char **why)
{
    if (!name || !hb__http_is_token(name, strlen(name)))
        return s_fail(why, "header name is not an HTTP token");
    if (!value) return s_fail(why, "header has no value");
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return s_fail(why, "header value has a control character (CR, LF, ...)");
    static const char *const owned[] = {"Host", "Upgrade", "Connection"};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
        if (strcasecmp(name, owned[i]) == 0)
            return s_fail(why, "header is written by the WebSocket handshake itself");
    if (strncasecmp(name, "Sec-WebSocket-", 14) == 0)
        return s_fail(why, "Sec-WebSocket-* headers are written by the WebSocket handshake");
    static const char *const framing[] = {"Transfer-Encoding", "Content-Length", "Keep-Alive", "TE",
                                          "Trailer"};
    for (size_t i = 0; i < sizeof framing / sizeof framing[0]; i++)
        if (strcasecmp(name, framing[i]) == 0)
            return s_fail(why, "hop-by-hop or message framing header");
    if (strncasecmp(name, "Proxy-", 6) == 0) return s_fail(why, "Proxy-* headers are hop-by-hop");
    return 0;
}

int hb__http_token_check(const char *token, const char **why)
{
    if (!token || !*token) return s_fail(why, "empty subprotocol");
    if (!hb__http_is_token(token, strlen(token)))
        return s_fail(why, "subprotocol is not an HTTP token (no spaces, commas, quotes, ...)");
    return 0;
}
