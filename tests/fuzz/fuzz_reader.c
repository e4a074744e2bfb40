/*
 * fuzz_reader.c: libFuzzer target for hb_reader, which reassembles the
 * pieces the dialer hands over for a peer's frames into one inbox message
 * and enforces max_message_size. Frame parsing and UTF-8 are the codec's
 * (fuzzed on its own); this is the part of the receive path above it.
 *
 * The reader needs an hb_plugin only to allocate messages; the plugin
 * comes from a pool whose factory captures it (no connection is ever made:
 * tests/support/stubs.h, shared with tests/unit/test_pool_reader.c). The pool is made on the first
 * input and kept for the process.
 *
 * Input: two bytes choose max_message_size (often small, sometimes up to
 * 32 KiB so the buffer growth path runs), then records, each a control
 * byte (bit 0 first, bit 1 final, bit 2 binary, bit 3 synthetic) and
 * either a one-byte length and that many literal bytes, or (synthetic) a
 * two-byte length and a fill byte, for pieces larger than the input.
 *
 * Each result is checked against a model of the contract in session.h:
 * a message is the concatenation of its pieces, never more than max bytes
 * (else TOO_LARGE and the partial message is dropped), whatever the bytes
 * (UTF-8 is not the reader's), the binary
 * flag is the first piece's, and a piece with no message in progress
 * starts one. *out is set only with HB_READ_MESSAGE.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../support/stubs.h"
#include "honeybee/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_PEER_ID    "fuzz-peer"
#define S_SYNTH_MAX  (UINT32_C(1) << 18) /* synthetic bytes per input */
#define S_MODEL_SIZE 32768               /* >= the largest max */

/* ---- the plugin ---------------------------------------------------------- */

static hb_plugin *s_plugin;
static hb_pool *s_pool;

static void s_cleanup(void)
{
    hb_pool_destroy(&s_pool);
}

static void s_setup(void)
{
    s_plugin = hbts_stub_pool(S_PEER_ID, 1u << 20, &s_pool);
    atexit(s_cleanup);
}

/* ---- the model ------------------------------------------------------------------ */

typedef struct s_model {
    uint64_t max;
    bool active; /* a message is in progress */
    bool binary;
    size_t len;
    unsigned char buf[S_MODEL_SIZE];
} s_model;

static s_model s_m;

/* What the reader must answer to this piece; updates the model. */
static hb_read_result s_expect(s_model *m, const unsigned char *d, size_t len, bool first,
                               bool final, bool binary)
{
    if (first || !m->active) {
        m->active = false;
        m->binary = binary;
        m->len = 0;
    }
    if ((uint64_t)m->len + len > m->max) {
        m->active = false;
        return HB_READ_TOO_LARGE;
    }
    memcpy(m->buf + m->len, d, len);
    m->len += len;
    if (!final) {
        m->active = true;
        return HB_READ_MORE;
    }
    m->active = false;
    return HB_READ_MESSAGE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Synthetic pieces point into these, made once: filling them per
     * input would be most of the run time (every byte instrumented). */
    static unsigned char *letters, *high[128];
    if (!s_plugin) s_setup();
    if (!letters) {
        if (!(letters = malloc(65535 + 26))) abort();
        for (size_t k = 0; k < 65535 + 26; k++) letters[k] = (unsigned char)('a' + k % 26);
    }
    if (size < 2) return 0;
    s_model *m = &s_m;
    if (data[0] & 0x80)
        m->max = 1 + (((uint64_t)(data[0] & 0x7f) << 8 | data[1]) % (S_MODEL_SIZE - 1));
    else
        m->max = 1 + data[1] % 64;
    m->active = false;
    m->len = 0;
    size_t i = 2;
    uint32_t synth_total = 0;

    hb_reader r;
    hb_reader_init(&r, s_plugin, m->max);
    while (i < size) {
        uint8_t ctl = data[i++];
        bool first = ctl & 1, final = ctl & 2, binary = ctl & 4;
        const unsigned char *piece;
        size_t len;
        if (ctl & 8) {
            if (size - i < 3) break;
            len = (size_t)data[i] << 8 | data[i + 1];
            uint8_t fill = data[i + 2];
            i += 3;
            if (synth_total + len > S_SYNTH_MAX) break;
            synth_total += (uint32_t)len;
            /* ASCII letters or a repeated high byte (mostly invalid UTF-8). */
            if (fill & 0x80) {
                unsigned char **h = &high[fill & 0x7f];
                if (!*h) {
                    if (!(*h = malloc(65535))) abort();
                    memset(*h, fill, 65535);
                }
                piece = *h;
            } else {
                piece = letters + fill % 26;
            }
        } else {
            if (i >= size) break;
            len = data[i++];
            if (len > size - i) len = size - i;
            piece = data + i;
            i += len;
        }
        hb_inbox_msg *out = (hb_inbox_msg *)&r; /* must be overwritten */
        hb_read_result got = hb_reader_feed(&r, piece, len, first, final, binary, &out);
        hb_read_result want = s_expect(m, piece, len, first, final, binary);
        if (got != want) abort();
        if (got != HB_READ_MESSAGE) {
            if (out) abort();
            continue;
        }
        if (!out || out->len != m->len || out->len > m->max) abort();
        if (out->len && memcmp(out->data, m->buf, out->len) != 0) abort();
        if (out->peer_id_len != strlen(S_PEER_ID) || strcmp(out->peer_id, S_PEER_ID) != 0) abort();
        hb_inbox_msg_free(out);
    }
    hb_reader_reset(&r); /* the connection goes: the partial message is dropped */
    return 0;
}
