/*
 * hbt.h: helpers shared by the pool's integration tests.
 *
 *   hbt_server  the scriptable WebSocket server (servers/ws_server.py) as a
 *               child process: commands on its stdin, its report lines
 *               collected by a reader thread and waited for with deadlines.
 *   hbt_sink    an hb_sink that records every event and message, with
 *               waits that have deadlines (never fixed sleeps).
 *   hbt_peer    an hb_peer_cfg with small test-friendly durations.
 */
#ifndef HBT_H
#define HBT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "honeybee/pool.h"

/* ---- server ---- */
typedef struct hbt_server hbt_server;
/* Starts the server with extra args (NULL-terminated list, may be NULL). */
hbt_server *hbt_server_start(const char *const *args);
int hbt_server_port(hbt_server *s);
/* printf-style command line. */
void hbt_server_cmd(hbt_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Waits for the next unconsumed line starting with `prefix`; copies it into
 * out (if not NULL), marks it consumed. Returns false on timeout. */
bool hbt_server_wait(hbt_server *s, const char *prefix, int timeout_ms, char *out, size_t cap);
/* Number of lines seen so far starting with prefix (consumed or not). */
int hbt_server_count(hbt_server *s, const char *prefix);
void hbt_server_stop(hbt_server **s);

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
/* Loop threads for the pools of a test: $HB_TEST_LOOPS, else 0 (one). */
uint32_t hbt_loops(void);
/* Waits until at least `n` events of `kind` (for peer id, NULL = any) exist;
 * returns the n-th (1-based), still owned by the sink, or NULL on timeout. */
hb_event *hbt_wait_event(hbt_sink *k, hb_event_kind kind, const char *id, int n, int timeout_ms);
int hbt_count_events(hbt_sink *k, hb_event_kind kind, const char *id);
/* Waits until at least n messages exist; returns the n-th (1-based). */
hb_inbox_msg *hbt_wait_msg(hbt_sink *k, size_t n, int timeout_ms);
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

/* ---- the common fixture: a test server, a sink and a pool on it ---- */
typedef struct hbt_fx {
    hbt_server *srv;
    hbt_sink sink;
    hb_pool *pool;
    char url[128]; /* ws://127.0.0.1:PORT + path */
} hbt_fx;

/* `server_args` as for hbt_server_start (may be NULL); `pc` the pool
 * config (may be NULL; its sink is filled in). NULL if anything failed. */
hbt_fx *hbt_fx_new(const char *const *server_args, hb_pool_config *pc, const char *path);
/* Destroys the pool first (no callback after it), then the rest. */
void hbt_fx_free(hbt_fx **f);

uint64_t hbt_now_ms(void);
void hbt_sleep_ms(int ms);
/* Waits until cond() is true or timeout; returns its last value. */
bool hbt_until(bool (*cond)(void *), void *ud, int timeout_ms);

/* A port on 127.0.0.1 where nothing listens (bound, read, closed). */
int hbt_closed_port(void);
/* A listening socket that never accepts (TCP connects, the WebSocket
 * handshake hangs). Returns the fd; *port gets its port. */
int hbt_listen_noaccept(int *port);
#endif
