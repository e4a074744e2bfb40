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

/* The longest URL accepted, in bytes. It goes whole into the opening
 * handshake's request line and into every log line and event about the
 * peer; 2 KiB is the common practical limit of URLs (and far below the
 * 8 KiB request lines servers commonly refuse). Checked where a URL is
 * given (config check, control connect: invalid_url), so a URL that cannot
 * be dialled is refused up front instead of failing every dial. */
#define HB__URL_MAX 2048

typedef struct hb__ws_url {
    bool tls;        /* wss:// */
    size_t host_off; /* host within the string, without IPv6 brackets */
    size_t host_len;
    uint16_t port; /* as given, else 80 (ws) or 443 (wss) */
    bool port_given;
    size_t path_off; /* start of path+query ('/' or '?'), or the string's end */
} hb__ws_url;

/* True when `url` is acceptable (at most HB__URL_MAX bytes); fills *out (may be NULL) with where
 * its parts are. The scheme is case-insensitive. */
bool hb__ws_url_parse(const char *url, hb__ws_url *out);

/*
 * A listen address "host:port" or "[v6]:port" (bridge.http): a non-empty
 * host without spaces, control characters or '/', and a port 1..65535.
 * Returns true and copies the host (without brackets) into host[hcap] and
 * the port into *port; either may be NULL to only check.
 */
bool hb__hostport_split(const char *hp, char *host, size_t hcap, int *port);

#endif
