/*
 * utf8.c: strict UTF-8 validation after RFC 3629 (the table of well-formed
 * byte sequences in Unicode 15, section 3.9): no overlong forms, no UTF-16
 * surrogates, nothing above U+10FFFF. An ASCII fast path skips 32 bytes at
 * a time because most payloads on the send socket are JSON text. Pure; any
 * thread.
 */
#include "core/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool hb__utf8_valid(const void *data, size_t len)
{
    if (len == 0) return true; /* also for data == NULL */
    const unsigned char *p = data;
    const unsigned char *end = p + len;
    while (p < end) {
        /* ASCII fast path: 32 bytes per test (one branch for four words),
         * then eight. */
        while (end - p >= 32) {
            uint64_t a, b, c, d;
            memcpy(&a, p, 8);
            memcpy(&b, p + 8, 8);
            memcpy(&c, p + 16, 8);
            memcpy(&d, p + 24, 8);
            if ((a | b | c | d) & UINT64_C(0x8080808080808080)) break;
            p += 32;
        }
        while (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, 8);
            if (w & UINT64_C(0x8080808080808080)) break;
            p += 8;
        }
        if (p >= end) break;
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c == 0xE0) {
            need = 2, lo = 0xA0; /* no overlongs */
        } else if (c == 0xED) {
            need = 2, hi = 0x9F; /* no surrogates */
        } else if (c >= 0xE1 && c <= 0xEF) {
            need = 2;
        } else if (c == 0xF0) {
            need = 3, lo = 0x90; /* no overlongs */
        } else if (c >= 0xF1 && c <= 0xF3) {
            need = 3;
        } else if (c == 0xF4) {
            need = 3, hi = 0x8F; /* nothing above U+10FFFF */
        } else {
            return false; /* 0x80..0xC1 and 0xF5..0xFF never start a sequence */
        }
        if ((size_t)(end - p) < need + 1) return false;
        if (p[1] < lo || p[1] > hi) return false;
        for (size_t i = 2; i <= need; i++)
            if ((p[i] & 0xC0) != 0x80) return false;
        p += need + 1;
    }
    return true;
}

char *hb__utf8_clean(const char *s)
{
    size_t len = strlen(s);
    if (hb__utf8_valid(s, len)) return strdup(s);
    char *out = malloc(len * 3 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        /* Find the longest valid prefix starting here (at most 4 bytes). */
        size_t take = 0;
        for (size_t k = 1; k <= 4 && i + k <= len; k++)
            if (hb__utf8_valid(s + i, k)) take = k;
        if (take) {
            memcpy(out + o, s + i, take);
            o += take, i += take;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3, i += 1;
        }
    }
    out[o] = '\0';
    return out;
}

unsigned hb__utf8_break_at(const unsigned char *p, size_t n, size_t *len)
{
    if (n >= 2 && p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
        *len = 2;
        return p[1];
    }
    if (n >= 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
        *len = 3;
        return 0x2000u + (p[2] - 0x80u);
    }
    return 0;
}
