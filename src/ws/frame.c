/*
 * frame.c: RFC 6455 frames for a client (sections 5 to 8). The decoder reads
 * headers and hands payload out in bulk, pointing into the caller's buffer
 * (no copy); only a header cut by the end of a read (at most 14 bytes) and a
 * control frame's payload (at most 125 bytes) are kept, in the codec. The
 * encoder writes a header into the headroom in front of the caller's
 * payload and masks it in place. Pure; runs on the caller's thread (the
 * transport's loop), one codec per connection.
 *
 * Why not wslay's frame layer (wslay_frame_recv), which the project's rule
 * would have us use: its API reports a frame only together with payload
 * bytes, so a header that declares an oversize length and is followed by
 * nothing is never seen, and SPEC.md section 5 requires 1009 when the
 * header arrives; it also copies every byte into a 4 KiB buffer per
 * connection, which hides how much of the caller's input it has consumed
 * (so a stop after a piece cannot say where to resume). wslay_frame_send
 * copies into its own buffer too, so it cannot mask in place. The header
 * is a few lines; wslay stays the oracle of the unit tests and the fuzzer.
 * docs/performance.md (Codec) has the measurements.
 */
#include "ws/ws.h"

#include <assert.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/utf8.h"

typedef enum s_state {
    S_HEADER = 0, /* between frames, or inside a header cut by a read */
    S_PAYLOAD,    /* frame_left payload bytes of the current frame to come */
} s_state;

struct hb__ws {
    uint64_t max;        /* max_message_size */
    uint64_t msg_len;    /* declared payload of the current message so far */
    uint64_t frame_left; /* payload bytes of the current frame still to come */
    hb__ws_status end;   /* HB__WS_OK while the codec is live */
    const char *end_detail;
    uint8_t state;
    uint8_t opcode; /* of the current frame */
    bool fin;
    bool msg_active; /* a data message has started and not ended */
    bool msg_binary;
    bool msg_first; /* the message's first piece is still to be delivered */
    uint8_t hdr_len;
    uint8_t u8_len; /* bytes of an incomplete UTF-8 sequence carried over */
    uint8_t ctl_len;
    uint8_t hdr[HB__WS_MAX_HEADER];
    uint8_t u8[4];
    uint8_t ctl[125];
};

hb__ws *hb__ws_new(uint64_t max_message_size)
{
    hb__ws *ws = calloc(1, sizeof *ws);
    if (ws) ws->max = max_message_size;
    return ws;
}

void hb__ws_free(hb__ws **ws)
{
    if (!ws) return;
    free(*ws);
    *ws = NULL;
}

void hb__ws_trim(hb__ws *ws)
{
    /* Nothing to give back: the decoder keeps no buffer outside its fixed
     * struct (see the top of this file), so an idle codec is sizeof(hb__ws). */
    (void)ws;
}

/* ---- UTF-8, piece by piece -------------------------------------------------- */

/* True when b[0..n) (n >= 1) can begin a well-formed sequence (the table
 * of Unicode 15 section 3.9, as in core/utf8.c). */
static bool s_u8_prefix_ok(const uint8_t *b, size_t n)
{
    unsigned c = b[0], lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
    } else if (c == 0xE0) {
        lo = 0xA0;
    } else if (c == 0xED) {
        hi = 0x9F;
    } else if (c >= 0xE1 && c <= 0xEF) {
    } else if (c == 0xF0) {
        lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
    } else if (c == 0xF4) {
        hi = 0x8F;
    } else {
        return false;
    }
    if (n >= 2 && (b[1] < lo || b[1] > hi)) return false;
    for (size_t i = 2; i < n; i++)
        if ((b[i] & 0xC0) != 0x80) return false;
    return true;
}

static size_t s_u8_seq_len(uint8_t lead)
{
    return lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
}

/* How many bytes at the end of p[0..n) start a sequence that does not end
 * inside it (0 to 3). */
static size_t s_u8_tail(const uint8_t *p, size_t n)
{
    for (size_t j = 1; j <= 3 && j <= n; j++) {
        uint8_t b = p[n - j];
        if ((b & 0xC0) == 0x80) continue;
        if (b < 0x80) return 0;
        return s_u8_seq_len(b) > j ? j : 0;
    }
    return 0;
}

/* Checks one piece of a text message, carrying an incomplete sequence at
 * its end to the next piece. False as soon as the bytes cannot be UTF-8,
 * or when the message ends inside a sequence. */
static bool s_u8_piece(hb__ws *ws, const uint8_t *p, size_t n, bool final)
{
    size_t i = 0;
    if (ws->u8_len) {
        size_t need = s_u8_seq_len(ws->u8[0]);
        while (ws->u8_len < need && i < n) {
            ws->u8[ws->u8_len++] = p[i++];
            if (!s_u8_prefix_ok(ws->u8, ws->u8_len)) return false;
        }
        if (ws->u8_len < need) return !final;
        ws->u8_len = 0;
    }
    size_t tail = s_u8_tail(p + i, n - i);
    if (!hb__utf8_valid(p + i, n - i - tail)) return false;
    if (tail) {
        if (final || !s_u8_prefix_ok(p + n - tail, tail)) return false;
        memcpy(ws->u8, p + n - tail, tail);
        ws->u8_len = (uint8_t)tail;
    }
    return true;
}

/* ---- decoding --------------------------------------------------------------- */

static hb__ws_status s_end(hb__ws *ws, hb__ws_status st, const char *detail)
{
    ws->end = st;
    ws->end_detail = detail;
    return st;
}

/* Close codes a peer may put on the wire (section 7.4 and the IANA
 * registry): 1004-1006 and 1015 are reserved for reports, not frames. */
static bool s_code_ok(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/*
 * Looks at the header bytes h[0..n): checks what they already show and
 * returns the header's size once it is all there (*size), 0 when more
 * bytes are needed, or an error status. Each check depends only on the
 * bytes before it, so a header split anywhere fails the same way.
 */
static hb__ws_status s_header(hb__ws *ws, const uint8_t *h, size_t n, size_t *size)
{
    *size = 0;
    if (n < 1) return HB__WS_OK;
    uint8_t op = h[0] & 0x0F;
    bool fin = h[0] & 0x80, control = op & 0x08;
    if (h[0] & 0x70) return s_end(ws, HB__WS_ERR_PROTOCOL, "reserved bits set (no extension)");
    if (op != HB__WS_OP_CONT && op != HB__WS_OP_TEXT && op != HB__WS_OP_BINARY &&
        op != HB__WS_OP_CLOSE && op != HB__WS_OP_PING && op != HB__WS_OP_PONG)
        return s_end(ws, HB__WS_ERR_PROTOCOL, "reserved opcode");
    if (control && !fin) return s_end(ws, HB__WS_ERR_PROTOCOL, "fragmented control frame");
    if (!control) {
        if (op == HB__WS_OP_CONT && !ws->msg_active)
            return s_end(ws, HB__WS_ERR_PROTOCOL, "continuation frame without a message");
        if (op != HB__WS_OP_CONT && ws->msg_active)
            return s_end(ws, HB__WS_ERR_PROTOCOL, "new message inside a fragmented one");
    }
    if (n < 2) return HB__WS_OK;
    if (h[1] & 0x80) return s_end(ws, HB__WS_ERR_PROTOCOL, "masked frame from the server");
    uint64_t len = h[1] & 0x7F;
    if (control && len > 125) return s_end(ws, HB__WS_ERR_PROTOCOL, "control frame over 125 bytes");
    size_t ext = len == 126 ? 2 : len == 127 ? 8 : 0;
    if (n < 2 + ext) return HB__WS_OK;
    if (ext == 2) {
        len = (uint64_t)h[2] << 8 | h[3];
        if (len < 126) return s_end(ws, HB__WS_ERR_PROTOCOL, "length not in its shortest form");
    } else if (ext == 8) {
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i];
        if (len >> 63) return s_end(ws, HB__WS_ERR_PROTOCOL, "64-bit length with the top bit set");
        if (len <= 0xFFFF) return s_end(ws, HB__WS_ERR_PROTOCOL, "length not in its shortest form");
    }
    if (!control) {
        uint64_t before = op == HB__WS_OP_CONT ? ws->msg_len : 0;
        if (len > ws->max || before > ws->max - len)
            return s_end(ws, HB__WS_ERR_TOO_LARGE, "message over max_message_size");
        ws->msg_len = before + len;
        if (op != HB__WS_OP_CONT) {
            ws->msg_active = true;
            ws->msg_binary = op == HB__WS_OP_BINARY;
            ws->msg_first = true;
            ws->u8_len = 0;
        }
    }
    ws->opcode = op;
    ws->fin = fin;
    ws->frame_left = len;
    ws->ctl_len = 0;
    *size = 2 + ext;
    return HB__WS_OK;
}

static const uint8_t s_empty[1];

/* A complete control frame: p[0..n) is its payload. */
static hb__ws_status s_control(hb__ws *ws, const uint8_t *p, size_t n, const hb__ws_cb *cb)
{
    if (ws->opcode == HB__WS_OP_PING) {
        if (cb->on_ping) cb->on_ping(cb->ud, p, n);
        return HB__WS_OK;
    }
    if (ws->opcode == HB__WS_OP_PONG) {
        if (cb->on_pong) cb->on_pong(cb->ud, p, n);
        return HB__WS_OK;
    }
    uint16_t code = 1005;
    if (n == 1) return s_end(ws, HB__WS_ERR_PROTOCOL, "close frame with a 1-byte payload");
    if (n >= 2) {
        code = (uint16_t)(p[0] << 8 | p[1]);
        if (!s_code_ok(code)) return s_end(ws, HB__WS_ERR_PROTOCOL, "invalid close code");
        if (!hb__utf8_valid(p + 2, n - 2))
            return s_end(ws, HB__WS_ERR_UTF8, "close reason is not UTF-8");
    }
    if (cb->on_close) cb->on_close(cb->ud, code, n > 2 ? p + 2 : s_empty, n > 2 ? n - 2 : 0);
    return s_end(ws, HB__WS_CLOSED, "closed by the peer");
}

/* Hands out p[0..k) of the current data frame (k may be 0 only for the
 * frame's end). Returns OK, STOPPED or an error. */
static hb__ws_status s_data(hb__ws *ws, const uint8_t *p, size_t k, const hb__ws_cb *cb)
{
    ws->frame_left -= k;
    bool final = ws->fin && ws->frame_left == 0;
    if (!ws->msg_binary && !s_u8_piece(ws, p, k, final))
        return s_end(ws, HB__WS_ERR_UTF8, "text message is not UTF-8");
    if (k == 0 && !final) return HB__WS_OK;
    bool first = ws->msg_first;
    ws->msg_first = false;
    if (final) ws->msg_active = false, ws->msg_len = 0;
    int stop = cb->on_data ? cb->on_data(cb->ud, k ? p : s_empty, k, first, final, ws->msg_binary,
                                         ws->frame_left)
                           : 0;
    return stop ? HB__WS_STOPPED : HB__WS_OK;
}

hb__ws_status hb__ws_feed(hb__ws *ws, const uint8_t *p, size_t n, const hb__ws_cb *cb, size_t *used,
                          const char **detail)
{
    size_t i = 0;
    hb__ws_status st = ws->end;
    while (st == HB__WS_OK) {
        if (ws->state == S_HEADER) {
            if (i == n) break;
            size_t size;
            if (ws->hdr_len == 0) {
                /* Most headers are whole in the input: read them there. */
                st = s_header(ws, p + i, n - i, &size);
                if (st != HB__WS_OK) break;
                if (!size) {
                    memcpy(ws->hdr, p + i, n - i);
                    ws->hdr_len = (uint8_t)(n - i);
                    i = n;
                    break;
                }
                i += size;
            } else {
                size_t had = ws->hdr_len, k = n - i;
                if (k > sizeof ws->hdr - had) k = sizeof ws->hdr - had;
                memcpy(ws->hdr + had, p + i, k);
                st = s_header(ws, ws->hdr, had + k, &size);
                if (st != HB__WS_OK) break;
                if (!size) {
                    ws->hdr_len = (uint8_t)(had + k);
                    i += k;
                    break;
                }
                ws->hdr_len = 0;
                i += size - had;
            }
            ws->state = S_PAYLOAD;
            if (ws->frame_left) continue;
            /* An empty frame ends with its header. */
            ws->state = S_HEADER;
            st = ws->opcode & 0x08 ? s_control(ws, s_empty, 0, cb) : s_data(ws, p + i, 0, cb);
            continue;
        }
        if (i == n) break;
        size_t avail = n - i;
        size_t k = ws->frame_left < avail ? (size_t)ws->frame_left : avail;
        const uint8_t *piece = p + i;
        i += k;
        if (ws->opcode & 0x08) {
            ws->frame_left -= k;
            if (ws->frame_left == 0) ws->state = S_HEADER;
            if (ws->ctl_len == 0 && ws->frame_left == 0) {
                st = s_control(ws, piece, k, cb); /* whole in the input */
            } else {
                memcpy(ws->ctl + ws->ctl_len, piece, k);
                ws->ctl_len = (uint8_t)(ws->ctl_len + k);
                if (ws->frame_left == 0) st = s_control(ws, ws->ctl, ws->ctl_len, cb);
            }
        } else {
            if (ws->frame_left == k) ws->state = S_HEADER;
            st = s_data(ws, piece, k, cb);
        }
    }
    *used = i;
    if (detail) *detail = st == HB__WS_OK || st == HB__WS_STOPPED ? NULL : ws->end_detail;
    return st;
}

/* ---- encoding --------------------------------------------------------------- */

/*
 * Masking keys come from OpenSSL's CSPRNG (section 10.3: unpredictable),
 * drawn 4 KiB at a time into a pool per thread, so that a frame does not
 * pay a RAND_bytes call (microseconds each, mostly fixed cost) and a
 * connection holds no key material. The
 * codec is used by one thread at a time, so the pool needs no lock. If
 * OpenSSL's generator fails, the kernel's is asked; a host with neither
 * cannot mask safely and aborts. (A process that forks would share the
 * pool with its child; the daemon does not fork.)
 */
static _Thread_local uint8_t s_keys[4096];
static _Thread_local size_t s_keys_off = sizeof s_keys;

static void s_mask_key(uint8_t key[4])
{
    if (s_keys_off + 4 > sizeof s_keys) {
        if (RAND_bytes(s_keys, sizeof s_keys) != 1 &&
            getrandom(s_keys, sizeof s_keys, 0) != (ssize_t)sizeof s_keys) {
            fprintf(stderr, "honeybee: no random bytes for WebSocket masking keys\n");
            abort();
        }
        s_keys_off = 0;
    }
    memcpy(key, s_keys + s_keys_off, 4);
    memset(s_keys + s_keys_off, 0, 4);
    s_keys_off += 4;
}

/* XOR with the key repeated, 32 then 8 bytes at a time (the 32-byte step
 * is what compilers turn into vector code). */
static void s_mask(uint8_t *p, size_t n, const uint8_t key[4])
{
    uint8_t k8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    uint64_t m;
    memcpy(&m, k8, 8);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, p + i, 8), memcpy(&b, p + i + 8, 8);
        memcpy(&c, p + i + 16, 8), memcpy(&d, p + i + 24, 8);
        a ^= m, b ^= m, c ^= m, d ^= m;
        memcpy(p + i, &a, 8), memcpy(p + i + 8, &b, 8);
        memcpy(p + i + 16, &c, 8), memcpy(p + i + 24, &d, 8);
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= m;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++) p[i] ^= key[i & 3];
}

uint8_t *hb__ws_frame(hb__ws *ws, int opcode, bool fin, uint8_t *payload, size_t len)
{
    (void)ws;
    assert(!(opcode & 0x08) || (fin && len <= 125));
    size_t ext = len < 126 ? 0 : len <= 0xFFFF ? 2 : 8;
    uint8_t *f = payload - (2 + ext + 4);
    f[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    if (ext == 0) {
        f[1] = (uint8_t)(0x80 | len);
    } else if (ext == 2) {
        f[1] = 0x80 | 126;
        f[2] = (uint8_t)(len >> 8), f[3] = (uint8_t)len;
    } else {
        f[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) f[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    uint8_t *key = f + 2 + ext;
    s_mask_key(key);
    s_mask(payload, len, key);
    return f;
}

size_t hb__ws_close_payload(uint8_t out[125], uint16_t code, const char *reason)
{
    if (!s_code_ok(code)) return 0; /* 1005 and friends: a close with no code */
    out[0] = (uint8_t)(code >> 8), out[1] = (uint8_t)code;
    size_t n = reason ? strlen(reason) : 0;
    if (n > 123) {
        n = 123;
        while (n && ((unsigned char)reason[n] & 0xC0) == 0x80) n--;
    }
    if (!hb__utf8_valid(reason, n)) n = 0;
    if (n) memcpy(out + 2, reason, n);
    return 2 + n;
}
