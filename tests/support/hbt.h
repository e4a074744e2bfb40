/*
 * hbt.h: the one fixture of the C integration tests (tests/integration/
 * test_*.c), built once as the static library `hbt` (tests/CMakeLists.txt).
 *
 *   hbt_server  a test server as a child process: servers/ws_server.py, or
 *               any program (tls_server.py, openssl s_server, Node's ws,
 *               websocketd, lws's test server); commands on its stdin, its
 *               output lines collected by a reader thread and waited for
 *               with deadlines. Every server still running is stopped by
 *               hbt_reap (the teardowns call it), also after a failed
 *               assertion left a test early.
 *   hbt_sink    an hb_sink that records every event and message, with
 *               waits that have deadlines (never fixed sleeps).
 *   hbt_fx      a pool on a sink, with a ws_server.py to dial (or none).
 *   hbt_peer    an hb_peer_cfg with small test-friendly durations.
 *   sockets     a closed port, a listening socket nobody accepts on, a
 *               TCP connect.
 *   HBT_RUN     runs a cmocka group, only the cases $HBT_FILTER names.
 *
 * Everything here runs on the test's main thread unless it says otherwise;
 * the sink's callbacks run on the pool's loop thread.
 */
#ifndef HBT_H
#define HBT_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "honeybee/pool.h"

/* ---- time ---- */
uint64_t hbt_now_ms(void);
void hbt_sleep_ms(int ms);
/* Waits until cond() is true or timeout; returns its last value. */
bool hbt_until(bool (*cond)(void *), void *ud, int timeout_ms);
/* $HB_TEST_SLOW is set (valgrind, a loaded machine): wider time limits. */
bool hbt_slow(void);

/* ---- the environment ctest gives (tests/CMakeLists.txt) ---- */
const char *hbt_source_dir(void); /* $HB_SOURCE_DIR, else "." */
const char *hbt_python(void);     /* $HB_PYTHON, else /usr/bin/python3 */
/* system() of a printf-style command line; its exit status. */
int hbt_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- servers ---- */
typedef struct hbt_server hbt_server;
enum {
    HBT_SPAWN_STDERR = 1, /* its stderr is read as lines too */
    HBT_SPAWN_QUIET = 2,  /* its output is not read (to /dev/null; stderr kept with HBT_VERBOSE) */
};
/* Starts argv (argv[0] looked up in PATH; NULL-terminated, at most 30).
 * With `ready`, waits up to 15 s for the line starting with it and reads
 * the port from it (after its last ':', else after the prefix). Without,
 * every "%PORT%" in argv becomes a free port, and it waits up to 10 s until
 * that port accepts. NULL if it did not start. */
hbt_server *hbt_spawn(const char *const *argv, const char *ready, int flags);
/* tests/integration/servers/<script> on hbt_python() with extra args (may
 * be NULL) and hbt_spawn's flags; it prints "PORT <n>" when it listens. */
hbt_server *hbt_py_server(const char *script, const char *const *args, int flags);
/* The scriptable WebSocket server, servers/ws_server.py. */
hbt_server *hbt_server_start(const char *const *args);
int hbt_server_port(hbt_server *s);
/* printf-style command line to its stdin. */
void hbt_server_cmd(hbt_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Waits for the next unconsumed line starting with `prefix`; copies it into
 * out (if not NULL), marks it consumed. Returns false on timeout or when
 * the server's output ended. */
bool hbt_server_wait(hbt_server *s, const char *prefix, int timeout_ms, char *out, size_t cap);
/* Number of lines seen so far starting with prefix (consumed or not). */
int hbt_server_count(hbt_server *s, const char *prefix);
/* Closes its stdin, SIGTERM, SIGKILL after 5 s; NULLs *s. */
void hbt_server_stop(hbt_server **s);
/* Stops every server still running; 0 (a cmocka setup/teardown). */
int hbt_reap(void **state);

/* ---- sink ---- */
typedef struct hbt_sink {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    hb_event **ev;
    size_t n_ev, cap_ev;
    hb_inbox_msg **msg;
    size_t n_msg, cap_msg;
    int inbox_budget; /* >0: return false once this many were taken; -1: unlimited */
    /* The sink's flush: how many messages had arrived at the last one, and
     * whether one ran on another thread than the inbox callback's. */
    size_t n_msg_flushed;
    pthread_t inbox_thread;
    uint32_t inbox_loop; /* hb_pool_current_loop() of the last inbox call */
    bool inbox_seen, flush_off_thread;
    /* The longest time from a message to the flush that followed it. */
    uint64_t last_inbox_ms, max_flush_delay_ms;
} hbt_sink;

void hbt_sink_init(hbt_sink *k);
void hbt_sink_free(hbt_sink *k);
hb_sink hbt_sink_get(hbt_sink *k);
/* Waits until at least `n` events of `kind` (for peer id, NULL = any) exist;
 * returns the n-th (1-based), still owned by the sink, or NULL on timeout. */
hb_event *hbt_wait_event(hbt_sink *k, hb_event_kind kind, const char *id, int n, int timeout_ms);
int hbt_count_events(hbt_sink *k, hb_event_kind kind, const char *id);
/* Waits until at least n messages exist; returns the n-th (1-based). */
hb_inbox_msg *hbt_wait_msg(hbt_sink *k, size_t n, int timeout_ms);
/* The same for the messages of peer id only. */
hb_inbox_msg *hbt_wait_msg_of(hbt_sink *k, const char *id, size_t n, int timeout_ms);
size_t hbt_count_msgs(hbt_sink *k);
/* The kinds of one peer's events in order as "added,connected,..." */
void hbt_event_trail(hbt_sink *k, const char *id, char *out, size_t cap);

/* ---- peers ---- */
/* Fills a peer with small durations: connect_timeout 2s, initial 50ms,
 * max 200ms, multiplier 2, jitter 0, stable_after 500ms, keepalive off,
 * write_timeout 2s, max_message_size 1MiB, send_queue 1024, verify on.
 * Strings are heap copies; free with hb_peer_cfg_free. */
void hbt_peer(hb_peer_cfg *p, const char *id, const char *url);
void hbt_url(char *out, size_t cap, int port, const char *path);

/* ---- the common fixture: a sink, a pool on it and a test server ---- */
typedef struct hbt_fx {
    hbt_server *srv; /* NULL with no_server */
    hbt_sink sink;
    hb_pool *pool;
    char url[128]; /* ws://127.0.0.1:PORT + path; "" with no_server */
} hbt_fx;

typedef struct hbt_fx_opts {
    bool no_server;                 /* a sink and a pool only */
    const char *const *server_args; /* ws_server.py's extra arguments (may be NULL) */
    const char *path;               /* the url's path, "/" when NULL */
    hb_pool_config *pc;             /* NULL: defaults; its sink is filled in */
} hbt_fx_opts;

/* `o` may be NULL: ws_server.py, a default pool, path "/". NULL if
 * anything failed (said on stderr). */
hbt_fx *hbt_fx_new(const hbt_fx_opts *o);
/* Loop threads of the fixture's pool when the test leaves
 * hb_pool_config.loops 0: $HB_TEST_LOOPS (the *_loops3 tests), else 0 (one). */
uint32_t hbt_loops(void);
/* Destroys the pool first (no callback after it), then the rest. */
void hbt_fx_free(hbt_fx **f);
/* cmocka teardown: frees the fixture in *state and reaps every server. */
int hbt_fx_teardown(void **state);
/* Connects peer `id` (hbt_peer's settings) to f->url and waits up to 5 s
 * for its `connected` and, with a server, its "OPEN <conn> " line (conn 0:
 * any). False, said on stderr, if not. */
bool hbt_fx_connect(hbt_fx *f, const char *id, int conn);

/* ---- sockets ---- */
/* A port on 127.0.0.1 where nothing listens (bound, read, closed). */
int hbt_closed_port(void);
/* A socket listening on 127.0.0.1 with `backlog`; *port gets its port. Not
 * accepted on, TCP connects (up to the backlog) and the WebSocket
 * handshake hangs. The fd, or -1. */
int hbt_listen(int backlog, int *port);
/* A blocking TCP connection to 127.0.0.1:port; the fd, or -1. */
int hbt_tcp_connect(int port);

/* ---- certificates made by the openssl CLI (P-256 keys) ---- */
typedef struct hbt_cert {
    const char *name; /* NAME.pem and NAME.key; its CN is "honeybee NAME" */
    const char *ext;  /* x509 extension line (subjectAltName=...), NULL for none */
    const char *ca;   /* the issuer's name, made before it; NULL: self-signed CA */
    int days;         /* -1: expired */
} hbt_cert;
/* Makes a directory /tmp/hb-<tag>-XXXXXX (into dir) and the certificates
 * in it, in order. 0, or -1. Remove it with hbt_sh("rm -rf %s", dir). */
int hbt_certs(char *dir, size_t cap, const char *tag, const hbt_cert *certs, size_t n);

/* ---- running ---- */
/* Runs the group, only the cases named in $HBT_FILTER when it is set: a
 * comma-separated list of names or shell patterns (test_stop_*). A filter
 * that picks nothing fails (a typo must not pass). */
int hbt_run(const char *group, const struct CMUnitTest *tests, size_t n, CMFixtureFunction setup,
            CMFixtureFunction teardown);
#define HBT_RUN_GROUP(tests, setup, teardown) \
    hbt_run(#tests, tests, sizeof(tests) / sizeof((tests)[0]), setup, teardown)
#define HBT_RUN(tests) HBT_RUN_GROUP(tests, NULL, NULL)

#endif
