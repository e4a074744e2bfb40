/*
 * fuzz_base64.c: libFuzzer target for hb__base64_decode, the decoder of a
 * control `send` with "binary": true (its `data` is outside input).
 *
 * Three checks per input:
 *   1. The input as base64 text is decoded and compared with a slow
 *      reference decoder written here from RFC 4648 (strict alphabet, no
 *      whitespace, padding optional but, when present, exactly what
 *      completes the last quantum). Same verdict, same bytes; the decoded
 *      length never exceeds 3/4 of the input.
 *   2. The input as raw bytes is encoded with OpenSSL's EVP_EncodeBlock and
 *      decoded back, padded and with the padding stripped: both give the
 *      input again.
 *   3. Embedded NULs and lengths that are not the string's length are
 *      fine: the decoder takes (pointer, length), never strlen.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "bridge/bridge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int s_val(unsigned char c)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (c == '\0') return -1;
    const char *p = strchr(alpha, c);
    return p ? (int)(p - alpha) : -1;
}

/*
 * Reference: returns false when `in` is not strict base64, else the bytes
 * in *out (caller frees) and their count. Decodes six bits at a time into
 * a bit accumulator; leftover bits of the last quantum are dropped (the
 * product accepts non-zero leftovers too, as OpenSSL does).
 */
static bool s_ref_decode(const unsigned char *in, size_t len, unsigned char **out, size_t *n)
{
    size_t body = 0;
    while (body < len && s_val(in[body]) >= 0) body++;
    size_t pad = len - body;
    for (size_t i = body; i < len; i++)
        if (in[i] != '=') return false; /* junk, or '=' before the end */
    if (body % 4 == 1) return false;    /* 6 bits cannot make a byte */
    if (pad != 0 && pad != (4 - body % 4) % 4) return false;
    unsigned char *buf = malloc(body * 3 / 4 + 1);
    if (!buf) abort();
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < body; i++) {
        acc = (acc << 6) | (uint32_t)s_val(in[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[k++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    *out = buf;
    *n = k;
    return true;
}

static void s_check_text(const uint8_t *data, size_t size)
{
    unsigned char *got = NULL, *want = NULL;
    size_t got_n = 0, want_n = 0;
    int rc = hb__base64_decode((const char *)data, size, &got, &got_n);
    bool ok = s_ref_decode(data, size, &want, &want_n);
    if (rc == 0) {
        if (!ok || !got || got_n > size / 4 * 3 + 2) abort();
        if (got_n != want_n || (got_n && memcmp(got, want, got_n) != 0)) abort();
    } else {
        if (rc != HB_E_BAD_REQUEST || ok || got || got_n) abort();
    }
    free(got);
    free(want);
}

static void s_check_round_trip(const uint8_t *data, size_t size)
{
    size_t enc_cap = (size + 2) / 3 * 4 + 1;
    unsigned char *enc = malloc(enc_cap);
    if (!enc) abort();
    int m = EVP_EncodeBlock(enc, data, (int)size);
    if (m < 0 || (size_t)m != enc_cap - 1) abort();
    for (int strip = 0; strip < 2; strip++) {
        size_t len = (size_t)m;
        if (strip)
            while (len > 0 && enc[len - 1] == '=') len--;
        unsigned char *out = NULL;
        size_t n = 0;
        if (hb__base64_decode((const char *)enc, len, &out, &n) != 0) abort();
        if (n != size || (n && memcmp(out, data, n) != 0)) abort();
        free(out);
    }
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INT_MAX / 2) return 0;
    s_check_text(data, size);
    s_check_round_trip(data, size);
    return 0;
}
