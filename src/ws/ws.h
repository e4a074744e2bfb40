/*
 * ws.h: the RFC 6455 client codec. Pure: bytes in, events out; no I/O, no
 * libwebsockets, no threads, no pool types. One codec per connection, used
 * by one thread at a time (the transport's loop thread). Internal.
 *
 * Layering: core <- ws (this) <- transport <- pool. The transport owns the
 * socket and TLS; it feeds received plaintext to hb__ws_hs_feed until the
 * handshake is done, then to hb__ws_feed, and it writes what
 * hb__ws_hs_new and hb__ws_frame build. Libraries: http-parser parses the
 * server's answer (handshake.c); frames are parsed in frame.c, which says
 * why not by wslay's frame layer (wslay is its test oracle); OpenSSL gives
 * SHA-1, base64 and random bytes.
 *
 * Nothing a peer sends can make the codec write outside its buffers or hold
 * more than a bounded amount: the response head is capped (max_response),
 * control payloads are at most 125 bytes (kept inside the codec), and data
 * payload is never held: it is handed out piece by piece, pointing into
 * the codec's or the caller's buffer, valid only during the callback.
 */
#ifndef HB_WS_WS_H
#define HB_WS_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the opening handshake (RFC 6455 section 4.1) ----------------------- */

typedef struct hb__ws_hs hb__ws_hs;

typedef struct hb__ws_header {
    const char *name;
    const char *value;
} hb__ws_header;

typedef struct hb__ws_hs_cfg {
    const char *host;             /* Host header: host, [v6] host, with ":port" unless default */
    const char *path;             /* request target: "/..." (path and query) */
    const hb__ws_header *headers; /* the peer's extra headers, in order */
    size_t n_headers;
    const char *const *subprotocols; /* offered in this order; none: no header */
    size_t n_subprotocols;
    const char *user_agent; /* sent unless the headers carry one; NULL: none */
    size_t max_response;    /* cap on the response head in bytes; 0: 16 KiB */
} hb__ws_hs_cfg;

/*
 * Builds the client's request (GET, Host, Upgrade, Connection,
 * Sec-WebSocket-Key from 16 random bytes, Sec-WebSocket-Version: 13, the
 * offered subprotocols, the extra headers) and the state that checks the
 * answer. *req (malloc'd, caller frees) holds *req_len bytes to write.
 * Returns 0, or -1 with *err (static text for a person) when a header is
 * unusable (a name that is not an HTTP token, CR/LF/NUL in a value, a
 * header the codec owns: Host, Upgrade, Connection, Sec-WebSocket-*) or on
 * no memory. The same rules are checked where headers are configured
 * (hb__http_header_check in core), so a dial never fails on them.
 */
int hb__ws_hs_new(const hb__ws_hs_cfg *cfg, hb__ws_hs **out, char **req, size_t *req_len,
                  const char **err);

typedef enum hb__ws_hs_result {
    HB__WS_HS_MORE = 0, /* all bytes taken, the response head is not complete */
    HB__WS_HS_OK,       /* upgraded: *used bytes were the head, the rest are frames */
    HB__WS_HS_FAIL,     /* refused: *err says why ("status 200", "bad Sec-WebSocket-Accept", ...) */
} hb__ws_hs_result;

/*
 * Feed bytes of the server's answer. Strict (section 4.1): status 101,
 * `Upgrade: websocket`, `Connection` containing `upgrade`, the exact
 * `Sec-WebSocket-Accept`, a subprotocol only if one was offered and then
 * one of those offered, no `Sec-WebSocket-Extensions` (none is offered).
 * A head over max_response bytes fails. After OK or FAIL, feed no more.
 * *err points at text inside the codec, valid until hb__ws_hs_free.
 */
hb__ws_hs_result hb__ws_hs_feed(hb__ws_hs *hs, const uint8_t *p, size_t n, size_t *used,
                                const char **err);
/* After OK: the subprotocol the server chose, or NULL. Valid until free. */
const char *hb__ws_hs_protocol(const hb__ws_hs *hs);
void hb__ws_hs_free(hb__ws_hs **hs);

/* ---- frames (RFC 6455 sections 5 to 8) ----------------------------------- */

typedef struct hb__ws hb__ws;

enum {
    HB__WS_OP_CONT = 0x0,
    HB__WS_OP_TEXT = 0x1,
    HB__WS_OP_BINARY = 0x2,
    HB__WS_OP_CLOSE = 0x8,
    HB__WS_OP_PING = 0x9,
    HB__WS_OP_PONG = 0xA,
};

/*
 * What the decoder reports, on the caller's thread, during hb__ws_feed.
 * Payload pointers are valid only during the callback.
 */
typedef struct hb__ws_cb {
    /*
     * A piece of a data message. `first`/`final` mark the message's
     * boundaries (a message may come in many pieces and frames); `binary`
     * is the message's type; `frame_left` is how many payload bytes of the
     * current frame follow this piece (to size a buffer once). Text is
     * valid UTF-8 as far as delivered (checked incrementally, across
     * fragments). Return 0 to go on, non-zero to stop: hb__ws_feed then
     * returns HB__WS_STOPPED with *used just past this piece.
     */
    int (*on_data)(void *ud, const uint8_t *p, size_t n, bool first, bool final, bool binary,
                   uint64_t frame_left);
    /* A complete ping (payload <= 125 bytes). The caller answers with a
     * pong carrying the same payload (hb__ws_frame), ahead of queued data. */
    void (*on_ping)(void *ud, const uint8_t *p, size_t n);
    /* A complete pong. */
    void (*on_pong)(void *ud, const uint8_t *p, size_t n);
    /* The peer's close frame: its code (1005 when the frame had none) and
     * reason (valid UTF-8, <= 123 bytes). hb__ws_feed returns
     * HB__WS_CLOSED right after; the caller echoes the code (section 5.5.1)
     * and ends the connection. */
    void (*on_close)(void *ud, uint16_t code, const uint8_t *reason, size_t n);
    void *ud;
} hb__ws_cb;

typedef enum hb__ws_status {
    HB__WS_OK = 0,        /* every byte taken */
    HB__WS_STOPPED,       /* on_data asked to stop; feed p + *used later */
    HB__WS_CLOSED,        /* a close frame came; ignore what follows */
    HB__WS_ERR_PROTOCOL,  /* close 1002: masked frame, RSV bits, reserved opcode, control
                             frame > 125 bytes or fragmented, continuation without a start,
                             new message inside a fragmented one, a 64-bit length with the
                             top bit set, a length not in its shortest form, a bad close
                             payload (1 byte, invalid code) */
    HB__WS_ERR_TOO_LARGE, /* close 1009: a frame header declared more than
                             max_message_size, summed over the message's fragments; reported
                             when the header arrives, before any of its payload */
    HB__WS_ERR_UTF8,      /* close 1007: invalid UTF-8 in a text message or close reason */
    HB__WS_ERR_NOMEM,
} hb__ws_status;

/* A decoder/encoder for one connection. max_message_size as in SPEC.md
 * section 3. Returns NULL on no memory. */
hb__ws *hb__ws_new(uint64_t max_message_size);
void hb__ws_free(hb__ws **ws);

/*
 * Decode as much of p[0..n) as possible, in bulk, calling `cb` for each
 * event. *used is how many bytes were taken (all of them unless STOPPED).
 * After an error or CLOSED the codec is finished: feed nothing more.
 * *detail (may be NULL) says what was wrong, for a log line.
 */
hb__ws_status hb__ws_feed(hb__ws *ws, const uint8_t *p, size_t n, const hb__ws_cb *cb, size_t *used,
                          const char **detail);

/*
 * Release what the decoder holds while it waits between frames (called by
 * the transport when a connection has been quiet, to keep idle peers
 * small); the next hb__ws_feed gets it back. A no-op mid-frame. (Today the
 * decoder holds nothing outside its fixed-size hb__ws, about 200 bytes,
 * so this is always a no-op; it stays so the transport need not care.)
 */
void hb__ws_trim(hb__ws *ws);

/* The most bytes a client frame header takes (2 + 8 + 4 of mask). */
#define HB__WS_MAX_HEADER 14

/*
 * Encode one client frame: writes the header (with a fresh, unpredictable
 * masking key: section 10.3) into the HB__WS_MAX_HEADER bytes that end at
 * `payload`, masks payload[0..len) in place, and returns where the frame
 * starts (payload - header length); the frame is contiguous up to
 * payload + len. So a buffer with HB__WS_MAX_HEADER bytes of headroom in
 * front of its payload is written as one frame with no copy. `fin` false
 * starts or continues a fragmented message. Control frames: len <= 125.
 * Never fails (a host whose OpenSSL and kernel both fail to give random
 * bytes aborts rather than send predictable masks).
 */
uint8_t *hb__ws_frame(hb__ws *ws, int opcode, bool fin, uint8_t *payload, size_t len);

/* A close frame's payload: the code, then the reason cut to 123 bytes on
 * a UTF-8 boundary. Writes into out[125]; returns its length. A code that
 * may not be sent (1005 from on_close when the peer gave none, 1006, 1015,
 * anything outside 1000-1003, 1007-1014, 3000-4999) gives 0: a close
 * frame with no payload. A reason that is not UTF-8 is left out. */
size_t hb__ws_close_payload(uint8_t out[125], uint16_t code, const char *reason);

#endif
