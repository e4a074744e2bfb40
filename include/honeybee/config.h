/*
 * honeybee/config.h: the configuration of SPEC.md section 3 as plain structs,
 * and the loader that fills them.
 *
 * One schema table (src/config/schema.c) drives parsing, defaults, validation
 * and the generated documentation. YAML is parsed with libyaml into these
 * structs; validation is a separate pass; every error names file, line and
 * key. Durations are held in nanoseconds, sizes in bytes.
 *
 * Ownership: every string in these structs is heap-owned by the struct that
 * holds it and freed by the matching *_free / hb_config_destroy.
 */
#ifndef HONEYBEE_CONFIG_H
#define HONEYBEE_CONFIG_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hb_reconnect_cfg {
    uint64_t initial_delay_ns; /* > 0, default 1s */
    uint64_t max_delay_ns;     /* > 0, default 30s */
    double multiplier;         /* >= 1, default 2.0 */
    double jitter;             /* [0,1], default 0.2 */
    uint32_t max_retries;      /* 0 = forever */
    uint64_t stable_after_ns;  /* default 10s */
} hb_reconnect_cfg;

typedef struct hb_keepalive_cfg {
    uint64_t ping_interval_ns; /* 0 disables; default 20s */
    uint64_t timeout_ns;       /* 0 disables; default 60s */
    uint64_t stall_timeout_ns; /* 0 disables; default 0 */
    char *app_ping;            /* NULL or "" = none */
} hb_keepalive_cfg;

typedef struct hb_tls_cfg {
    bool verify;     /* default true */
    char *ca_file;   /* NULL = none */
    char *cert_file; /* NULL = none */
    char *key_file;  /* NULL = none */
} hb_tls_cfg;

/* The `pool` section: defaults every peer inherits, key by key. */
typedef struct hb_peer_opts {
    uint64_t connect_timeout_ns; /* > 0, default 10s */
    hb_reconnect_cfg reconnect;
    hb_keepalive_cfg keepalive;
    uint64_t write_timeout_ns; /* > 0, default 10s */
    uint64_t max_message_size; /* 1 B .. 2 GiB, default 16 MiB */
    uint32_t send_queue;       /* >= 1, default 1024 */
    uint64_t send_queue_bytes; /* default 64 MiB (config: >= 1; 0 in code: no bound); an
                                * empty queue always takes one message */
    hb_tls_cfg tls;
} hb_peer_opts;

typedef struct hb_header {
    char *name;
    char *value;
} hb_header;

/* One peer: its identity, its merged options and its peer-only keys. */
typedef struct hb_peer_cfg {
    char *id;  /* 1..128 bytes, no '*', no control characters */
    char *url; /* ws:// or wss:// with a host */
    hb_peer_opts opts;
    hb_header *headers;
    size_t n_headers;
    char **subprotocols;
    size_t n_subprotocols;
    char **on_connect; /* text messages written after every (re)connect */
    size_t n_on_connect;
    int line; /* line in the file the peer came from, 0 if none */
    /* Dial public addresses only: a name whose every address is loopback,
     * private or link-local fails the dial (dial_failed), and the address
     * connected to is checked again (no second lookup). Not a YAML key: the
     * bridge sets it for control connects when pool.allow_private is
     * false. Default false. */
    bool public_only;
} hb_peer_cfg;

/* bridge.curve: who may use the ZeroMQ sockets (SPEC.md section 9). */
typedef struct hb_curve_cfg {
    char *server_cert; /* czmq certificate file with the secret key; NULL = CURVE off */
    char *readers;     /* directory of client certificates allowed on inbox, events */
    char *writers;     /* directory of client certificates allowed on send, control */
    char **allow;      /* client addresses (IP or CIDR) admitted; none = any */
    size_t n_allow;
    char **deny; /* client addresses refused */
    size_t n_deny;
} hb_curve_cfg;

typedef struct hb_bridge_cfg {
    char *inbox; /* ZeroMQ endpoints */
    char *events;
    char *send;
    char *control;
    char *http;    /* "host:port"; "" disables */
    int inbox_hwm; /* >= 0, 0 = unlimited */
    int events_hwm;
    uint64_t drain_timeout_ns;
    uint32_t events_queue;          /* hand-off bound for events */
    uint32_t control_queue;         /* bound of the pool's command doorway */
    uint32_t max_handshakes;        /* dials in their handshake at once */
    uint32_t http_max_connections;  /* HTTP connections at once; one more closes the oldest */
    uint64_t http_read_timeout_ns;  /* to send the request */
    uint64_t http_write_timeout_ns; /* to take the response */
    hb_curve_cfg curve;
    char *shard; /* "I/N" or "auto/N" as written */
    /* Resolved by the daemon at start-up (HOSTNAME for "auto"); this
     * process owns the peers whose shard is shard_index. 0/0 until then,
     * read as 0/1: everything. */
    uint32_t shard_index, shard_count;
} hb_bridge_cfg;

/* Most loop threads a pool runs (pool.loops, hb_pool_config.loops). */
#define HB_POOL_MAX_LOOPS 64u

/* The pool-wide keys of `pool`: they bound every peer, and no peer or
 * control `connect` overrides them. */
typedef struct hb_pool_wide_cfg {
    char **allow; /* URL rules peers may dial (SPEC.md section 9); none = any */
    size_t n_allow;
    bool allow_private; /* control connect may dial loopback/private/link-local hosts */
    uint32_t loops;     /* pool.loops: loop threads; 0 = auto (hb_config_loops) */
} hb_pool_wide_cfg;

typedef enum hb_log_format { HB_LOG_TEXT = 0, HB_LOG_JSON = 1 } hb_log_format;

typedef struct hb_log_cfg {
    hb_log_level level;
    hb_log_format format;
} hb_log_cfg;

typedef struct hb_config {
    char *path; /* file it came from, NULL for built-in defaults */
    hb_bridge_cfg bridge;
    hb_peer_opts pool;
    hb_pool_wide_cfg pool_wide;
    hb_peer_cfg *peers;
    size_t n_peers;
    hb_log_cfg log;
} hb_config;

/* A new config holding every default. Caller owns it. HB_E_NOMEM on failure. */
HB_EXPORT int hb_config_defaults(hb_config **out);

/*
 * Load and validate a YAML file. On success *out is a new config (caller
 * owns) and 0 is returned. On failure returns HB_E_CONFIG (or HB_E_IO when
 * the file cannot be read) and, if errors != NULL, *errors is a malloc'd
 * text, one problem per line, each "FILE:LINE: KEY: what is wrong".
 * Blocks on file I/O only. Any thread.
 */
HB_EXPORT int hb_config_load_file(const char *path, hb_config **out, char **errors);

/* The same from memory; `name` stands for the file name in messages. */
HB_EXPORT int hb_config_load_string(const char *yaml, size_t len, const char *name, hb_config **out,
                                    char **errors);

/*
 * Apply HONEYBEE_INBOX, _EVENTS, _SEND, _CONTROL, _HTTP, _SHARD, _LOG_LEVEL,
 * _LOG_FORMAT from the environment. `getenv_fn` NULL means getenv(3) (tests
 * pass their own). Returns HB_E_CONFIG with *errors set when a value is
 * invalid (e.g. HONEYBEE_LOG_LEVEL=loud).
 */
HB_EXPORT int hb_config_apply_env(hb_config *cfg, const char *(*getenv_fn)(const char *),
                                  char **errors);

HB_EXPORT void hb_config_destroy(hb_config **cfg);

/*
 * Build a peer from the `options` object of a control `connect` (a JSON text,
 * or NULL for none), merged key by key into `pool`. `options` may hold any
 * peer key of section 3 (not id or url, which are passed separately).
 * Returns 0, or HB_E_INVALID_URL, HB_E_BAD_REQUEST (bad id) or
 * HB_E_INVALID_OPTION with *errors naming the key. `out` is filled and must
 * be released with hb_peer_cfg_free on success.
 */
HB_EXPORT int hb_peer_cfg_from_json(const hb_peer_opts *pool, const char *id, const char *url,
                                    const char *options_json, hb_peer_cfg *out, char **errors);

/* Deep copy; HB_E_NOMEM on failure. */
HB_EXPORT int hb_peer_cfg_copy(hb_peer_cfg *dst, const hb_peer_cfg *src);
/* True when the two would behave the same (used by reload to keep a peer). */
HB_EXPORT bool hb_peer_cfg_equal(const hb_peer_cfg *a, const hb_peer_cfg *b);
/* Frees what the struct holds (not the struct itself). */
HB_EXPORT void hb_peer_cfg_free(hb_peer_cfg *p);

/* Checks a peer id: 1..128 bytes, valid UTF-8, no '*', no control chars. */
HB_EXPORT bool hb_peer_id_valid(const char *id, size_t len);

/* pool.loops resolved: the number set, or for auto the CPUs this process
 * may run on (sched_getaffinity, and no more than its cgroup CPU quota)
 * minus one for ZeroMQ's I/O thread, at least 1 and at most
 * HB_POOL_MAX_LOOPS. Any thread (it reads /sys and /proc). */
HB_EXPORT uint32_t hb_config_loops(const hb_config *cfg);

/*
 * Write the fully commented example configuration generated from the schema
 * table (every key, its default and unit) to `f` (a FILE *). Used by
 * `honeybee-bridge --print-config` and kept in sync with
 * examples/honeybee.yaml by a test.
 */
HB_EXPORT void hb_config_write_example(void *f);

#ifdef __cplusplus
}
#endif
#endif
