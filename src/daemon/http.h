/*
 * http.h: the daemon's small HTTP server (/healthz, /readyz, /metrics).
 *
 * A libwebsockets HTTP server in its own lws context on its own thread, so
 * a slow scraper never touches the pool's loop. The daemon supplies one
 * handler that turns a path into a status and a body.
 */
#ifndef HB_DAEMON_HTTP_H
#define HB_DAEMON_HTTP_H

#include <stddef.h>

#include "honeybee/common.h"

/*
 * Answer one GET. Runs on the HTTP thread. Sets *status and *content_type
 * (static text) and returns a malloc'd body of *len bytes (NULL: empty).
 */
typedef char *(*hb__http_handler)(void *ud, const char *path, int *status,
                                  const char **content_type, size_t *len);

typedef struct hb__http hb__http;

/*
 * Listen on `hostport` ("127.0.0.1:8080", "[::1]:8080", ":8080" for every
 * interface) and start the thread. Returns 0, or HB_E_BIND / HB_E_CONFIG
 * with a message in `err` naming the address and why. Main thread.
 */
int hb__http_start(const char *hostport, hb__http_handler fn, void *ud, const hb_logger *lg,
                   hb__http **out, char *err, size_t cap);

/* Stop the thread and free everything; *h becomes NULL. Main thread. */
void hb__http_stop(hb__http **h);

#endif
