/*
 * http.h: the daemon's small HTTP server (/healthz, /readyz, /metrics).
 *
 * Its own thread and its own poll loop, so a slow scraper never touches the
 * pool's loop or the bridge thread. It listens on exactly the configured
 * address, answers GET and HEAD (405 for any other method, 404 for a path
 * the handler does not know), one request per connection, never switches
 * protocols, holds at most `max_connections` connections (a new one closes
 * the oldest), and gives each connection a deadline to send its request
 * and another to take the response; after the response it shuts its side
 * and discards what the client still sends for a bounded time before
 * closing, so the client reads the answer and EOF, not a reset (a lingering
 * close). Bodies are reference-counted and
 * written from where they lie, so many clients of one /metrics body cost
 * one body (docs/operations.md, "HTTP").
 */
#ifndef HB_DAEMON_HTTP_H
#define HB_DAEMON_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "honeybee/common.h"

/*
 * A response body, shared by every connection that writes it. Reference
 * counts are touched on the HTTP thread only (the handler runs there), so
 * they are plain integers. hb__http_body_new takes ownership of `data`
 * (malloc'd, may be NULL when len is 0). `on_free`, if set, is called with
 * `free_ud` when the last reference goes (the handler counts its bodies).
 */
typedef struct hb__http_body {
    uint32_t refs;
    size_t len;
    char *data;
    void (*on_free)(void *ud);
    void *free_ud;
} hb__http_body;

hb__http_body *hb__http_body_new(char *data, size_t len);
/* The same from static text (copied). NULL on ENOMEM. */
hb__http_body *hb__http_body_text(const char *text);
hb__http_body *hb__http_body_ref(hb__http_body *b);
void hb__http_body_unref(hb__http_body **b);

/*
 * Answer a GET or HEAD of `path` (without the query). Runs on the HTTP
 * thread; `srv` is the server (for hb__http_counters_get). Sets *status and *content_type (static
 * text) and returns a body the server takes one reference of (NULL: an empty body). Return status
 * 404 for a path it does not serve.
 */
typedef struct hb__http hb__http;
typedef hb__http_body *(*hb__http_handler)(void *ud, hb__http *srv, const char *path, int *status,
                                           const char **content_type);

typedef struct hb__http_limits {
    uint32_t max_connections;  /* open at once; a new one closes the oldest */
    uint64_t read_timeout_ns;  /* from accept to a complete request */
    uint64_t write_timeout_ns; /* from the request to the last byte of the response */
} hb__http_limits;

/*
 * Listen on `hostport` ("127.0.0.1:8080", "[::1]:8080", "*:8080" for every
 * interface, or a name: every address it resolves to) and start the
 * thread. Returns 0, or HB_E_BIND / HB_E_CONFIG with a message in `err`
 * naming the address and why. Main thread.
 */
int hb__http_start(const char *hostport, const hb__http_limits *lim, hb__http_handler fn, void *ud,
                   const hb_logger *lg, hb__http **out, char *err, size_t cap);

/* What the server did, for /metrics. responses[k] counts the answers with
 * status hb__http_codes[k] (the last slot, code 0, any other). Any thread. */
#define HB__HTTP_N_CODES 8
extern const int hb__http_codes[HB__HTTP_N_CODES];
typedef struct hb__http_counters {
    uint64_t responses[HB__HTTP_N_CODES];
    uint64_t evicted;       /* closed to make room (max_connections) */
    uint64_t timed_out;     /* closed at the read or write deadline */
    uint64_t accept_errors; /* accept(2) failed (EMFILE...): accepting rested */
} hb__http_counters;
void hb__http_counters_get(hb__http *h, hb__http_counters *out);

/* Stop the thread, close every connection, free everything; *h becomes
 * NULL. Main thread. */
void hb__http_stop(hb__http **h);

#endif
