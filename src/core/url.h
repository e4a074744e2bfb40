/*
 * url.h: the WebSocket URLs a peer may have (SPEC.md section 3): ws:// or
 * wss://, a host (name, IPv4 or [IPv6]), an optional port, path and query.
 * No user info, no fragment (RFC 6455 section 3), no spaces or control
 * characters. Pure; any thread.
 */
#ifndef HB_CORE_URL_H
#define HB_CORE_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hb__ws_url {
    bool tls;        /* wss:// */
    size_t host_off; /* host within the string, without IPv6 brackets */
    size_t host_len;
    uint16_t port; /* as given, else 80 (ws) or 443 (wss) */
    bool port_given;
    size_t path_off; /* start of path+query ('/' or '?'), or the string's end */
} hb__ws_url;

/* True when `url` is acceptable; fills *out (may be NULL) with where its
 * parts are. The scheme is case-insensitive. */
bool hb__ws_url_parse(const char *url, hb__ws_url *out);

#endif
