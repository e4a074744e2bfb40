/*
 * ws_check.h: what the frame decoder's unit test and fuzzer share (header
 * only, everything static inline; tests only, any thread).
 *
 * - hbtw_log: the decoder's events, normalised so that two runs over the
 *   same bytes compare equal however the bytes were cut: each data message
 *   is one record (its pieces joined), then pings, pongs and the close in
 *   order. A message not finished when the bytes end stays apart
 *   (`partial`). The callbacks also check the piece contract (first/final
 *   bracketing, one type per message, frame_left, non-empty pieces).
 * - hbtw_run(): feeds a stream in the pieces `cuts` makes, asking the
 *   decoder to stop after some pieces (`stop_every`) and resuming where
 *   *used says, as the transport does.
 * - hbtw_model(): the same stream read by wslay's frame layer (wslay 1.1.1,
 *   a maintained RFC 6455 parser) with the rules of ws.h applied to the
 *   frames it reports: an oracle independent of src/ws/frame.c's parsing.
 *   wslay reports a frame only with payload, so a header at the very end
 *   of the bytes is unknown to it (`open_tail`): there the decoder may
 *   already have refused the header.
 *
 * Every function aborts on allocation failure.
 */
#ifndef HB_TESTS_SUPPORT_WS_CHECK_H
#define HB_TESTS_SUPPORT_WS_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "ws/ws.h"

/* ---- growable bytes ----------------------------------------------------- */

typedef struct hbtw_bytes {
    uint8_t *p;
    size_t len, cap;
} hbtw_bytes;

static inline void hbtw_put(hbtw_bytes *b, const void *d, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p, b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, d, n);
    b->len += n;
}

/* ---- the event log ------------------------------------------------------- */

typedef struct hbtw_log {
    hbtw_bytes events; /* records: tag, u32 length, bytes */
    hbtw_bytes msg;    /* the message being received */
    bool in_msg, msg_binary;
    uint64_t frame_left; /* as the last piece said */
    bool broken;         /* a callback saw the contract broken */
    const char *broken_why;
    unsigned stop_every, pieces; /* ask to stop after every Nth piece (0: never) */
    unsigned stops;
} hbtw_log;

static inline void hbtw_record(hbtw_bytes *b, char tag, const void *d, size_t n)
{
    uint32_t len = (uint32_t)n;
    hbtw_put(b, &tag, 1);
    hbtw_put(b, &len, sizeof len);
    hbtw_put(b, d, n);
}

static inline void hbtw_break(hbtw_log *l, const char *why)
{
    if (!l->broken) l->broken = true, l->broken_why = why;
}

static inline int hbtw_on_data(void *ud, const uint8_t *p, size_t n, bool first, bool final,
                               bool binary, uint64_t frame_left)
{
    hbtw_log *l = ud;
    if (!p) hbtw_break(l, "NULL piece");
    if (first == l->in_msg) hbtw_break(l, "first does not bracket the message");
    if (!first && binary != l->msg_binary) hbtw_break(l, "type changed inside a message");
    if (n == 0 && !final) hbtw_break(l, "empty piece that is not the end");
    if (final && frame_left) hbtw_break(l, "final piece with frame bytes left");
    if (first) l->in_msg = true, l->msg_binary = binary, l->msg.len = 0;
    if (n) hbtw_put(&l->msg, p, n);
    l->frame_left = frame_left;
    if (final) {
        hbtw_record(&l->events, binary ? 'B' : 'T', l->msg.p, l->msg.len);
        l->in_msg = false, l->msg.len = 0;
    }
    l->pieces++;
    if (l->stop_every && l->pieces % l->stop_every == 0) {
        l->stops++;
        return 1;
    }
    return 0;
}

static inline void hbtw_on_ping(void *ud, const uint8_t *p, size_t n)
{
    hbtw_log *l = ud;
    if (n > 125 || (n && !p)) hbtw_break(l, "bad ping");
    hbtw_record(&l->events, 'P', p, n);
}

static inline void hbtw_on_pong(void *ud, const uint8_t *p, size_t n)
{
    hbtw_log *l = ud;
    if (n > 125 || (n && !p)) hbtw_break(l, "bad pong");
    hbtw_record(&l->events, 'O', p, n);
}

static inline void hbtw_on_close(void *ud, uint16_t code, const uint8_t *r, size_t n)
{
    hbtw_log *l = ud;
    if (n > 123 || (n && !r)) hbtw_break(l, "bad close reason");
    uint8_t b[2 + 125] = {(uint8_t)(code >> 8), (uint8_t)code};
    if (n <= 123) memcpy(b + 2, r, n);
    hbtw_record(&l->events, 'C', b, 2 + (n <= 123 ? n : 0));
}

static inline hb__ws_cb hbtw_cb(hbtw_log *l)
{
    hb__ws_cb cb = {hbtw_on_data, hbtw_on_ping, hbtw_on_pong, hbtw_on_close, l};
    return cb;
}

static inline void hbtw_log_free(hbtw_log *l)
{
    free(l->events.p);
    free(l->msg.p);
    memset(l, 0, sizeof *l);
}

/* ---- feeding in pieces --------------------------------------------------- */

/*
 * Feeds s[0..n) to a new decoder in pieces ending at cuts[0..ncuts) (sorted,
 * each in 1..n-1; the last piece ends at n), resuming after each STOPPED.
 * Returns the final status (OK when every byte was taken); *l gets the
 * events. *bad is set when *used broke its contract.
 */
static inline hb__ws_status hbtw_run(const uint8_t *s, size_t n, uint64_t max, const size_t *cuts,
                                     size_t ncuts, unsigned stop_every, hbtw_log *l, bool *bad)
{
    memset(l, 0, sizeof *l);
    l->stop_every = stop_every;
    *bad = false;
    hb__ws *ws = hb__ws_new(max);
    if (!ws) abort();
    hb__ws_cb cb = hbtw_cb(l);
    hb__ws_status st = HB__WS_OK;
    size_t at = 0;
    for (size_t c = 0; c <= ncuts && st == HB__WS_OK; c++) {
        size_t end = c < ncuts ? cuts[c] : n;
        if (end < at || end > n) abort(); /* the caller's cuts are wrong */
        /* The piece is copied so that a pointer kept past its feed shows
         * under ASan. */
        uint8_t *piece = malloc(end - at + 1);
        if (!piece) abort();
        memcpy(piece, s + at, end - at);
        size_t off = 0;
        for (;;) {
            size_t used = 0;
            const char *detail = NULL;
            st = hb__ws_feed(ws, piece + off, end - at - off, &cb, &used, &detail);
            if (used > end - at - off) *bad = true;
            if (st != HB__WS_OK && st != HB__WS_STOPPED && !detail) *bad = true;
            off += used > end - at - off ? 0 : used;
            if (st != HB__WS_STOPPED) break;
            st = HB__WS_OK;
            hb__ws_trim(ws);
        }
        if (st == HB__WS_OK && off != end - at) *bad = true;
        free(piece);
        at = end;
        if (st == HB__WS_OK) hb__ws_trim(ws);
    }
    hb__ws_free(&ws);
    return st;
}

/* ---- reference UTF-8 ---------------------------------------------------- */

/* Decodes code points one by one (independent of core/utf8.c and of the
 * decoder's piecewise check). `whole`: the bytes are a whole message; else
 * a prefix that more bytes may complete. */
static inline bool hbtw_ref_utf8(const uint8_t *p, size_t n, bool whole)
{
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t len;
        uint32_t v, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, v = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, v = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, v = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len) {
            if (whole) return false;
            /* A cut sequence: valid if some continuation completes it. */
            uint8_t t[4];
            memcpy(t, p + i, n - i);
            for (unsigned b = 0x80; b <= 0xBF; b++) {
                for (size_t k = n - i; k < len; k++) t[k] = k == 1 ? (uint8_t)b : 0x80;
                if (hbtw_ref_utf8(t, len, true)) return true;
            }
            return false;
        }
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return false;
            v = (v << 6) | (p[i + k] & 0x3F);
        }
        if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

/* ---- the wslay oracle -------------------------------------------------- */

typedef struct hbtw_src {
    const uint8_t *p;
    size_t n, off;
} hbtw_src;

static inline ssize_t hbtw_wslay_recv(uint8_t *buf, size_t len, int flags, void *ud)
{
    hbtw_src *s = ud;
    size_t k = s->n - s->off;
    if (k > len) k = len;
    if (k == 0) return 0; /* wslay: WANT_READ */
    memcpy(buf, s->p + s->off, k);
    s->off += k;
    return (ssize_t)k;
}

static inline bool hbtw_close_code_ok(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

/*
 * What the decoder must report for s[0..n): the status and the events.
 * *open_tail is set when the bytes end inside a frame header (which wslay
 * cannot show); the decoder may then have refused that header already.
 */
static inline hb__ws_status hbtw_model(const uint8_t *s, size_t n, uint64_t max, hbtw_log *l,
                                       bool *open_tail)
{
    memset(l, 0, sizeof *l);
    *open_tail = false;
    hbtw_src src = {s, n, 0};
    struct wslay_frame_callbacks wcb = {NULL, hbtw_wslay_recv, NULL};
    wslay_frame_context_ptr ctx;
    if (wslay_frame_context_init(&ctx, &wcb, &src) != 0) abort();
    hbtw_bytes ctl = {0};
    uint64_t frame_left = 0, msg_len = 0, accounted = 0;
    uint8_t op = 0;
    bool fin = false, active = false, binary = false;
    hb__ws_status st = HB__WS_OK;
    for (;;) {
        struct wslay_frame_iocb io;
        ssize_t r = wslay_frame_recv(ctx, &io);
        if (r == WSLAY_ERR_WANT_READ) {
            if (accounted < n && frame_left == 0) *open_tail = true;
            break;
        }
        if (r < 0) {
            st = HB__WS_ERR_PROTOCOL;
            break;
        }
        if (frame_left == 0) { /* a new frame */
            op = io.opcode, fin = io.fin;
            bool control = op & 8;
            uint64_t len = io.payload_length;
            accounted += 2 + (len < 126 ? 0 : len <= 0xFFFF ? 2 : 8) + (io.mask ? 4 : 0);
            if (io.rsv || !(op <= 2 || (op >= 8 && op <= 10)) || (op == 0 && !active) ||
                (op != 0 && !control && active) || io.mask) {
                st = HB__WS_ERR_PROTOCOL;
                break;
            }
            if (!control) {
                uint64_t before = op == 0 ? msg_len : 0;
                if (len > max || before > max - len) {
                    st = HB__WS_ERR_TOO_LARGE;
                    break;
                }
                msg_len = before + len;
                if (op != 0) active = true, binary = op == 2, l->msg.len = 0;
            }
            ctl.len = 0;
            frame_left = len;
        }
        accounted += io.data_length;
        frame_left -= io.data_length;
        if (op & 8) {
            hbtw_put(&ctl, io.data, io.data_length);
            if (frame_left) continue;
            const uint8_t *c = ctl.p ? ctl.p : (const uint8_t *)"";
            if (op == 9) {
                hbtw_record(&l->events, 'P', c, ctl.len);
            } else if (op == 10) {
                hbtw_record(&l->events, 'O', c, ctl.len);
            } else {
                if (ctl.len == 1 || (ctl.len >= 2 && !hbtw_close_code_ok(c[0] << 8 | c[1]))) {
                    st = HB__WS_ERR_PROTOCOL;
                } else if (ctl.len > 2 && !hbtw_ref_utf8(c + 2, ctl.len - 2, true)) {
                    st = HB__WS_ERR_UTF8;
                } else {
                    uint8_t b[127] = {0x03, 0xED}; /* 1005: no code */
                    if (ctl.len >= 2) memcpy(b, c, ctl.len);
                    hbtw_record(&l->events, 'C', b, ctl.len >= 2 ? ctl.len : 2);
                    st = HB__WS_CLOSED;
                }
                break;
            }
            continue;
        }
        hbtw_put(&l->msg, io.data, io.data_length);
        bool final = fin && frame_left == 0;
        if (!binary && !hbtw_ref_utf8(l->msg.p, l->msg.len, final)) {
            st = HB__WS_ERR_UTF8;
            break;
        }
        /* The decoder shows a message once it has a byte of it, or its end. */
        if (io.data_length || final) l->in_msg = true, l->msg_binary = binary;
        if (final) {
            hbtw_record(&l->events, binary ? 'B' : 'T', l->msg.p, l->msg.len);
            l->in_msg = false, l->msg.len = 0, msg_len = 0, active = false;
        }
    }
    wslay_frame_context_free(ctx);
    free(ctl.p);
    return st;
}

/* True when two logs hold the same finished events. */
static inline bool hbtw_same_events(const hbtw_log *a, const hbtw_log *b)
{
    return a->events.len == b->events.len &&
           (a->events.len == 0 || memcmp(a->events.p, b->events.p, a->events.len) == 0);
}

/* True when one unfinished message is a prefix of the other's (the
 * decoder hands out as much of a message as it has checked). */
static inline bool hbtw_same_partial(const hbtw_log *a, const hbtw_log *b, bool exact)
{
    if (!exact && (!a->in_msg || !b->in_msg)) return true; /* after an error */
    if (a->in_msg != b->in_msg) return false;
    if (!a->in_msg) return true;
    if (a->msg_binary != b->msg_binary) return false;
    size_t m = a->msg.len < b->msg.len ? a->msg.len : b->msg.len;
    if (exact && a->msg.len != b->msg.len) return false;
    return m == 0 || memcmp(a->msg.p, b->msg.p, m) == 0;
}

#endif
