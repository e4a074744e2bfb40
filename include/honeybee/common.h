/*
 * honeybee/common.h: what every part of libhoneybee shares.
 *
 * Version macros, the export macro, the one error enum (an X-macro table: the
 * enum, the machine name and the text come from the same row), and the logger
 * the library calls. The library never prints: it calls the logger it was
 * given, and a NULL logger is silent. (One exception: a host that can give
 * no random bytes at all cannot mask WebSocket frames safely; the library
 * then writes one line to stderr and aborts.)
 */
#ifndef HONEYBEE_COMMON_H
#define HONEYBEE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HB_VERSION_MAJOR  0
#define HB_VERSION_MINOR  1
#define HB_VERSION_PATCH  0
#define HB_VERSION_STRING "0.1.0"

#if defined(HB_STATIC_BUILD)
#define HB_EXPORT
#else
#define HB_EXPORT __attribute__((visibility("default")))
#endif

/*
 * The error table. Columns: enum suffix, machine name, text for a person.
 * The machine names of the rows from PEER_EXISTS to SHUTTING_DOWN are the
 * error codes of the control API (SPEC.md section 6) and the reasons of
 * send_failed events, so the wire and the library speak the same words.
 */
#define HB_ERROR_TABLE(X)                                                    \
    X(OK, "ok", "success")                                                   \
    X(BAD_REQUEST, "bad_request", "malformed request")                       \
    X(UNKNOWN_OP, "unknown_op", "unknown operation")                         \
    X(PEER_EXISTS, "peer_exists", "a peer with this id already exists")      \
    X(UNKNOWN_PEER, "unknown_peer", "no peer with this id")                  \
    X(INVALID_URL, "invalid_url", "URL must be ws:// or wss:// with a host") \
    X(INVALID_OPTION, "invalid_option", "invalid peer option")               \
    X(NOT_CONNECTED, "not_connected", "peer is not connected")               \
    X(QUEUE_FULL, "queue_full", "peer send queue is full")                   \
    X(TOO_LARGE, "too_large", "message larger than max_message_size")        \
    X(SHUTTING_DOWN, "shutting_down", "shutting down")                       \
    X(INVALID, "invalid_argument", "invalid argument")                       \
    X(NOMEM, "out_of_memory", "out of memory")                               \
    X(FD_LIMIT, "fd_limit", "too close to the open file limit")              \
    X(BUSY, "busy", "internal queue full, try again")                        \
    X(CONFIG, "bad_config", "invalid configuration")                         \
    X(IO, "io_error", "input/output error")                                  \
    X(BIND, "bind_failed", "cannot bind endpoint")                           \
    X(TLS, "tls_error", "TLS setup failed")                                  \
    X(INTERNAL, "internal", "internal error")                                \
    X(PEER_LIMIT, "peer_limit", "the pool's max_peers is reached")           \
    X(NOT_ALLOWED, "not_allowed", "URL outside the outbound allow-list")     \
    X(WRONG_SHARD, "wrong_shard", "the peer belongs to another shard")

typedef enum hb_err {
#define HB__ERR_ENUM(name, code, text) HB_E_##name,
    HB_ERROR_TABLE(HB__ERR_ENUM)
#undef HB__ERR_ENUM
        HB_E__COUNT
} hb_err;

#define HB_OK HB_E_OK

/* Text for a person. Never NULL; unknown values give "unknown error". */
HB_EXPORT const char *hb_strerror(int err);
/* Machine name ("queue_full"). Never NULL; unknown values give "unknown". */
HB_EXPORT const char *hb_errname(int err);

/* ---- logging ------------------------------------------------------------ */

typedef enum hb_log_level {
    HB_LOG_ERROR = 0,
    HB_LOG_WARN = 1,
    HB_LOG_INFO = 2,
    HB_LOG_DEBUG = 3,
} hb_log_level;

/*
 * A log sink. Called from any library thread (the loop thread, a resolver
 * thread, the caller's thread), so it must be thread-safe and must not call
 * back into the library. `peer` is the peer id the record is about, or NULL.
 * `msg` is formatted, without a trailing newline, valid only for the call.
 */
typedef void (*hb_log_fn)(void *ud, hb_log_level level, const char *peer, const char *msg);

typedef struct hb_logger {
    hb_log_fn fn;       /* NULL: silent */
    void *ud;           /* passed to fn */
    hb_log_level level; /* records above this level are not even formatted */
} hb_logger;

/* Name of a level ("error", "warn", "info", "debug"). */
HB_EXPORT const char *hb_log_level_name(hb_log_level level);

/*
 * Format and emit one record. Prefer the HB_LOG macro, which checks the level
 * before any formatting. Thread-safe if lg->fn is.
 */
HB_EXPORT void hb_log_emit(const hb_logger *lg, hb_log_level level, const char *peer,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define HB_LOG(lg, lvl, peer, ...)                                    \
    do {                                                              \
        const hb_logger *hb__lg = (lg);                               \
        if (hb__lg && hb__lg->fn && (int)(lvl) <= (int)hb__lg->level) \
            hb_log_emit(hb__lg, (lvl), (peer), __VA_ARGS__);          \
    } while (0)

/*
 * The stock sink the daemon uses: one line per record on stderr, text or
 * JSON lines. `ud` must point to an hb_log_stderr_opts that outlives use.
 * Thread-safe: each record is written with a single write(2).
 */
typedef struct hb_log_stderr_opts {
    bool json;
} hb_log_stderr_opts;
HB_EXPORT void hb_log_stderr(void *ud, hb_log_level level, const char *peer, const char *msg);

#ifdef __cplusplus
}
#endif
#endif
