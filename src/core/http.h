/*
 * http.h: what may go into an HTTP/1.1 request we write (RFC 9110 and 9112
 * grammar): header names and subprotocol tokens are tokens, header values
 * carry no control characters but HTAB. Pure; any thread. Used by the
 * WebSocket codec when it builds the opening handshake and by config
 * validation, so a header set or subprotocol list that cannot be dialled is
 * refused where it is given.
 */
#ifndef HB_CORE_HTTP_H
#define HB_CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..n) is a non-empty HTTP token (RFC 9110 section 5.6.2). */
bool hb__http_is_token(const char *s, size_t n);

/*
 * A header a peer may add to its opening handshake. Returns 0, or -1 with
 * *why (static text, may be NULL) when the name is not a token, the value
 * has a control character other than HTAB (CR, LF, NUL, DEL, ...), or the
 * header is one the WebSocket client writes or that would change the
 * request's framing: Host, Upgrade, Connection, Sec-WebSocket-*,
 * Transfer-Encoding, Content-Length, Keep-Alive, TE, Trailer, Proxy-*
 * (names compare case-insensitively). User-Agent is allowed: it replaces
 * the default one.
 */
int hb__http_header_check(const char *name, const char *value, const char **why);

/* A subprotocol to offer (RFC 6455 section 4.1: a token). Returns 0, or
 * -1 with *why (static text, may be NULL). */
int hb__http_token_check(const char *token, const char **why);

#endif
