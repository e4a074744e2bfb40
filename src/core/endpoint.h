/*
 * endpoint.h: the ZeroMQ endpoints the bridge binds (bridge.inbox, events,
 * send, control) and the HTTP listen address, checked the way the sockets
 * will use them, so that --check refuses what the bind would get wrong
 * (a port of 99999 that libzmq takes modulo 65536, "1aaaa" read as 1, a
 * scheme nobody can reach) and two sockets are never given one port.
 * Pure; any thread.
 */
#ifndef HB_CORE_ENDPOINT_H
#define HB_CORE_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

typedef enum hb__ep_kind { HB__EP_TCP, HB__EP_IPC, HB__EP_INPROC } hb__ep_kind;

#define HB__EP_HOST_MAX 255
#define HB__EP_IPC_MAX  107 /* sun_path holds 108 bytes with the NUL */

typedef struct hb__endpoint {
    hb__ep_kind kind;
    /* tcp: the host without IPv6 brackets ("*" for every interface) and
     * the port; ipc and inproc: the path or name in `host`, port 0. */
    char host[HB__EP_HOST_MAX + 1];
    int port;
} hb__endpoint;

/*
 * Parse a bind endpoint: "tcp://HOST:PORT" (HOST an IPv4 address,
 * "[IPv6]", "*", or a host or interface name; PORT 1..65535, digits only),
 * "ipc://PATH" (1..107 bytes; "@name" is Linux's abstract namespace) or
 * "inproc://NAME". Returns true and fills *out (may be NULL), else false
 * with a reason for a person in *why (static text).
 */
bool hb__endpoint_parse(const char *ep, hb__endpoint *out, const char **why);

/*
 * An HTTP listen address "HOST:PORT" (bridge.http) as an endpoint of kind
 * tcp, with the same rules for HOST and PORT. False with *why otherwise.
 */
bool hb__listen_parse(const char *hostport, hb__endpoint *out, const char **why);

/* True when two bound endpoints would collide: the same ipc path or
 * inproc name, or tcp on one port with the same host or a wildcard. */
bool hb__endpoint_overlap(const hb__endpoint *a, const hb__endpoint *b);

/* True when a tcp endpoint's host is loopback only (127.0.0.0/8, ::1,
 * "localhost"); ipc and inproc are local by nature and count as loopback. */
bool hb__endpoint_is_local(const hb__endpoint *e);

#endif
