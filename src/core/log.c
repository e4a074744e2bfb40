/*
 * log.c: the library's logging front (hb_log_emit) and the daemon's stock
 * sink (hb_log_stderr).
 *
 * The level is checked before anything is formatted (HB_LOG does it at the
 * call site, hb_log_emit again for direct callers). A record is formatted
 * into a stack buffer, or a heap one when it is long, then handed to the
 * sink. The stderr sink builds the whole line first and writes it with one
 * write(2), so records from different threads never interleave and no lock is
 * needed. Text lines escape control characters so that a record is always
 * one line, whatever a peer put in a close reason; JSON lines go through
 * jansson after invalid UTF-8 is replaced, because jansson refuses it.
 * Any thread.
 */
#include "honeybee/common.h"

#include "core/clock.h"
#include "core/utf8.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const s_level_names[] = {"error", "warn", "info", "debug"};
static const char *const s_level_upper[] = {"ERROR", "WARN", "INFO", "DEBUG"};

const char *hb_log_level_name(hb_log_level level)
{
    if ((int)level < 0 || (int)level > HB_LOG_DEBUG) return "unknown";
    return s_level_names[level];
}

void hb_log_emit(const hb_logger *lg, hb_log_level level, const char *peer, const char *fmt, ...)
{
    if (!lg || !lg->fn || (int)level > (int)lg->level) return;
    char stack[1024];
    char *msg = stack;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof stack) {
        char *heap = malloc((size_t)n + 1);
        if (heap) {
            va_start(ap, fmt);
            vsnprintf(heap, (size_t)n + 1, fmt, ap);
            va_end(ap);
            msg = heap;
        } /* else: out of memory, log the truncated text rather than nothing */
    }
    lg->fn(lg->ud, level, peer, msg);
    if (msg != stack) free(msg);
}

/* A growable line buffer; on allocation failure it keeps what it has. */
typedef struct s_buf {
    char *p;
    size_t len, cap;
    char stack[512];
} s_buf;

static void s_put(s_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap * 2 > b->len + n + 1) ? b->cap * 2 : b->len + n + 1;
        char *np = b->p == b->stack ? malloc(cap) : realloc(b->p, cap);
        if (!np) return;
        if (b->p == b->stack) memcpy(np, b->stack, b->len);
        b->p = np, b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void s_puts(s_buf *b, const char *s)
{
    s_put(b, s, strlen(s));
}

/* Text form of a field: control characters become \n, \t, \r or \xNN,
 * the non-ASCII ones some readers break lines at (NEL, U+2028) \uXXXX. */
static void s_put_escaped(s_buf *b, const char *s)
{
    size_t left = strlen(s);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, left--) {
        char esc[16];
        size_t bl = 0;
        unsigned cp = *p >= 0x80 ? hb__utf8_break_at(p, left, &bl) : 0;
        if (cp) {
            snprintf(esc, sizeof esc, "\\u%04x", cp);
            s_puts(b, esc);
            p += bl - 1, left -= bl - 1;
            continue;
        }
        if (*p >= 0x20 && *p != 0x7f) {
            s_put(b, (const char *)p, 1);
            continue;
        }
        if (*p == '\n')
            memcpy(esc, "\\n", 3);
        else if (*p == '\t')
            memcpy(esc, "\\t", 3);
        else if (*p == '\r')
            memcpy(esc, "\\r", 3);
        else
            snprintf(esc, sizeof esc, "\\x%02x", *p);
        s_puts(b, esc);
    }
}

/* A copy of s with every invalid UTF-8 sequence replaced by U+FFFD. */
static void s_write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return; /* stderr is gone: nothing better to do */
        }
        p += w, n -= (size_t)w;
    }
}

void hb_log_stderr(void *ud, hb_log_level level, const char *peer, const char *msg)
{
    const hb_log_stderr_opts *o = ud;
    char ts[HB_RFC3339_LEN];
    hb__rfc3339(hb__wall_ns(), ts);
    int li = ((int)level < 0 || (int)level > HB_LOG_DEBUG) ? HB_LOG_ERROR : (int)level;
    if (!msg) msg = "";

    if (o && o->json) {
        char *m = hb__utf8_clean(msg);
        char *pe = peer ? hb__utf8_clean(peer) : NULL;
        json_t *rec = json_object();
        if (rec) {
            json_object_set_new(rec, "ts", json_string(ts));
            json_object_set_new(rec, "level", json_string(s_level_names[li]));
            if (pe) json_object_set_new(rec, "peer", json_string(pe));
            json_object_set_new(rec, "msg", json_string(m ? m : ""));
            char *line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (line) {
                size_t n = strlen(line);
                /* Append the newline in a second buffer only to keep one write. */
                char *withnl = malloc(n + 2);
                if (withnl) {
                    memcpy(withnl, line, n);
                    withnl[n] = '\n';
                    s_write_all(withnl, n + 1);
                    free(withnl);
                }
                free(line);
            }
            json_decref(rec);
        }
        free(m);
        free(pe);
        return;
    }

    s_buf b;
    b.p = b.stack, b.len = 0, b.cap = sizeof b.stack;
    b.stack[0] = '\0';
    s_puts(&b, ts);
    s_puts(&b, " ");
    s_puts(&b, s_level_upper[li]);
    if (peer) {
        s_puts(&b, " [peer=");
        s_put_escaped(&b, peer);
        s_puts(&b, "]");
    }
    s_puts(&b, " ");
    s_put_escaped(&b, msg);
    s_puts(&b, "\n");
    s_write_all(b.p, b.len);
    if (b.p != b.stack) free(b.p);
}
