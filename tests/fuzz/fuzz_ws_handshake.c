/*
 * fuzz_ws_handshake.c: libFuzzer target for the check of the server's
 * answer to the opening handshake (hb__ws_hs_feed, src/ws/handshake.c,
 * over http-parser), the first bytes a server sends.
 *
 * Input: one byte chooses the offered subprotocols (none, "chat", or
 * "chat" and "superchat.v2") and the cap on the head (the default 16 KiB
 * or a few hundred bytes); one byte the size of the reads; the rest is the
 * answer, in which each "%A" becomes the right Sec-WebSocket-Accept for
 * the request's fresh key, so the fuzzer can reach an accepted answer.
 *
 * Checks: the answer fed whole and in reads of the chosen size gives the
 * same verdict (and on OK the same head length); *used never exceeds what
 * was given and takes everything while the answer is not finished; an
 * accepted head is within the cap, ends with a line feed and the
 * chosen subprotocol is one that was offered; a refusal has a reason;
 * after the verdict further bytes change nothing.
 */
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *s_protos[] = {"chat", "superchat.v2"};

typedef struct s_out {
    hb__ws_hs_result r;
    size_t head;
    char proto[32];
} s_out;

/* One dial, its answer fed in reads of `step` bytes (0: whole). */
static s_out s_one(const uint8_t *in, size_t n, size_t n_protos, size_t cap, size_t step)
{
    hb__ws_hs_cfg cfg = {.host = "h",
                         .path = "/",
                         .subprotocols = s_protos,
                         .n_subprotocols = n_protos,
                         .max_response = cap};
    hb__ws_hs *hs;
    char *req;
    size_t req_len;
    const char *err;
    if (hb__ws_hs_new(&cfg, &hs, &req, &req_len, &err) != 0) abort();
    /* the key of this request, and the accept it calls for */
    const char *k = memmem(req, req_len, "Sec-WebSocket-Key: ", 19);
    if (!k) abort();
    char key[64];
    snprintf(key, sizeof key, "%.24s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", k + 19);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdn;
    char accept[32];
    if (EVP_Digest(key, strlen(key), md, &mdn, EVP_sha1(), NULL) != 1) abort();
    EVP_EncodeBlock((unsigned char *)accept, md, 20);
    free(req);

    uint8_t *ans = malloc(n * 14 + 1);
    if (!ans) abort();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '%' && i + 1 < n && in[i + 1] == 'A') {
            memcpy(ans + m, accept, 28);
            m += 28, i++;
        } else {
            ans[m++] = in[i];
        }
    }

    s_out o = {HB__WS_HS_MORE, 0, ""};
    size_t at = 0;
    while (at < m && o.r == HB__WS_HS_MORE) {
        size_t give = step && m - at > step ? step : m - at;
        size_t used = (size_t)-1;
        err = NULL;
        o.r = hb__ws_hs_feed(hs, ans + at, give, &used, &err);
        if (used > give) abort();
        if (o.r == HB__WS_HS_MORE && used != give) abort();
        if ((o.r == HB__WS_HS_FAIL) != (err != NULL)) abort();
        at += used;
    }
    if (o.r == HB__WS_HS_OK) {
        o.head = at;
        if (at > (cap ? cap : 16384) || at < 4) abort();
        if (ans[at - 1] != '\n') abort();
        const char *p = hb__ws_hs_protocol(hs);
        if (p) {
            bool offered = false;
            for (size_t i = 0; i < n_protos; i++) offered |= strcmp(p, s_protos[i]) == 0;
            if (!offered) abort();
            snprintf(o.proto, sizeof o.proto, "%s", p);
        }
    } else if (hb__ws_hs_protocol(hs)) {
        abort();
    }
    if (o.r != HB__WS_HS_MORE) {
        size_t used = 1;
        if (hb__ws_hs_feed(hs, (const uint8_t *)"x", 1, &used, &err) != o.r || used != 0) abort();
    }
    hb__ws_hs_free(&hs);
    free(ans);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t n_protos = data[0] % 3;
    size_t cap = data[0] & 0x80 ? 100 + (size_t)(data[0] & 0x7f) * 4 : 0;
    size_t step = 1 + data[1] % 64;
    s_out a = s_one(data + 2, size - 2, n_protos, cap, 0);
    s_out b = s_one(data + 2, size - 2, n_protos, cap, step);
    if (a.r != b.r || a.head != b.head || strcmp(a.proto, b.proto) != 0) abort();
    return 0;
}
