/*
 * fuzz_ws_frame.c: libFuzzer target for the frame decoder (hb__ws_feed,
 * src/ws/frame.c), which reads every byte a peer sends after the
 * handshake.
 *
 * Input: one byte chooses max_message_size (small, so the limit is
 * reached, or large), one byte how often the decoder is asked to stop
 * after a piece; the rest is the byte stream from the server.
 *
 * Two oracles (tests/support/ws_check.h):
 * - differential: the stream fed as one buffer and in pseudo-random pieces
 *   derived from the input (with stops and resumes where *used says) must
 *   give the same events (messages joined, pings, pongs, close) and status;
 * - wslay: the same stream read by wslay's frame layer with the rules of
 *   ws.h applied to its frames must give the same events and status (but
 *   where the stream ends inside a header wslay cannot show).
 * And the decoder's callbacks check the piece contract as they go.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../support/ws_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const uint64_t maxes[8] = {0, 1, 5, 64, 125, 300, 70000, UINT64_MAX};
    uint64_t max = maxes[data[0] & 7];
    unsigned stop_every = data[1] & 3;
    const uint8_t *s = data + 2;
    size_t n = size - 2;

    /* pieces: cut positions from a PRNG seeded by the whole input */
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211u;
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    if (!cuts) abort();
    size_t ncuts = 0;
    for (size_t at = 0;;) {
        h ^= h << 13, h ^= h >> 7, h ^= h << 17;
        size_t step = 1 + (size_t)(h % ((data[0] & 0x80) ? 4 : 40));
        if (at + step >= n) break;
        at += step;
        cuts[ncuts++] = at;
    }

    hbtw_log whole, pieces, model;
    bool bad, open_tail;
    hb__ws_status st = hbtw_run(s, n, max, NULL, 0, 0, &whole, &bad);
    if (bad || whole.broken) abort();
    hb__ws_status st2 = hbtw_run(s, n, max, cuts, ncuts, stop_every, &pieces, &bad);
    if (bad || pieces.broken) abort();
    if (st2 != st) abort();
    if (!hbtw_same_events(&whole, &pieces)) abort();
    if (!hbtw_same_partial(&whole, &pieces, st == HB__WS_OK)) abort();

    hb__ws_status mst = hbtw_model(s, n, max, &model, &open_tail);
    if (!hbtw_same_events(&whole, &model)) abort();
    if ((!open_tail || st == HB__WS_OK) && st != mst) abort();
    if (st == HB__WS_OK && !hbtw_same_partial(&whole, &model, true)) abort();

    hbtw_log_free(&whole);
    hbtw_log_free(&pieces);
    hbtw_log_free(&model);
    free(cuts);
    return 0;
}
