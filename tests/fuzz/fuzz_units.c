/*
 * fuzz_units.c: libFuzzer target for the small text parsers that outside
 * input reaches through the config file, a control `connect`'s options and
 * the send socket:
 *   - hb__parse_duration / hb__parse_size (SPEC.md section 3 notation),
 *     each compared with a reference written here a different way (digit
 *     strings, leading/trailing zeros stripped, exactness decided from the
 *     unit's factors), and, where they succeed, formatted again with
 *     hb__format_duration / hb__format_size and parsed back to the same
 *     value;
 *   - the first 8 bytes as a number: formatted and parsed back (any value
 *     must survive), and formatted into a too small buffer (snprintf
 *     contract: terminated, and the full length returned);
 *   - hb__utf8_valid against a slow code-point-by-code-point reference,
 *     on the input and on its first suffixes (the product has an 8-byte
 *     ASCII fast path, so alignment matters);
 *   - hb_peer_id_valid (the send socket's frame 0 and every id) against a
 *     reference: 1..128 bytes of UTF-8, no '*', no C0/C1 control, no DEL.
 * The input is used whole for each (the string ones up to its first NUL).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/units.h"
#include "core/utf8.h"
#include "honeybee/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef unsigned __int128 u128;

/* ---- UTF-8 and ids --------------------------------------------------------- */

/* Decodes one code point at p[0..n). Returns its length, or 0 if invalid. */
static size_t s_ref_cp(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned c = p[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

static bool s_ref_utf8(const unsigned char *p, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = s_ref_cp(p + i, n - i, &cp);
        if (!k) return false;
        i += k;
    }
    return true;
}

static bool s_ref_id(const unsigned char *p, size_t n)
{
    if (n < 1 || n > 128) return false;
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = s_ref_cp(p + i, n - i, &cp);
        if (!k) return false;
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == '*') return false;
        i += k;
    }
    return true;
}

/* ---- durations and sizes ----------------------------------------------------- */

/* Splits "DIGITS[.DIGITS]" at the start of s; returns the end or NULL. */
static const char *s_digits(const char *s, bool frac, const char **w, size_t *wn, const char **f,
                            size_t *fn)
{
    const char *p = s;
    while (*p >= '0' && *p <= '9') p++;
    if (p == s) return NULL;
    *w = s, *wn = (size_t)(p - s), *f = p, *fn = 0;
    if (frac && *p == '.') {
        const char *q = ++p;
        while (*p >= '0' && *p <= '9') p++;
        if (p == q) return NULL;
        *f = q, *fn = (size_t)(p - q);
    }
    return p;
}

/* The whole part without leading zeros as a number; false if > 20 digits. */
static bool s_whole(const char *w, size_t wn, u128 *out)
{
    while (wn > 1 && *w == '0') w++, wn--;
    if (wn > 20) return false;
    u128 v = 0;
    for (size_t i = 0; i < wn; i++) v = v * 10 + (unsigned)(w[i] - '0');
    *out = v;
    return true;
}

/* Reference duration parser. Units are c * 10^e ns. */
static bool s_ref_duration(const char *s, uint64_t *ns)
{
    const char *w, *f;
    size_t wn, fn;
    const char *p = s_digits(s, true, &w, &wn, &f, &fn);
    if (!p) return false;
    while (fn > 0 && f[fn - 1] == '0') fn--; /* trailing zeros change nothing */
    u128 whole;
    bool small = s_whole(w, wn, &whole);
    unsigned c, e;
    if (!strcmp(p, "ms"))
        c = 1, e = 6;
    else if (!strcmp(p, "s"))
        c = 1, e = 9;
    else if (!strcmp(p, "m"))
        c = 6, e = 10;
    else if (!strcmp(p, "h"))
        c = 36, e = 11;
    else if (*p == '\0') {
        /* Only a zero may omit the unit. */
        if (!small || whole != 0 || fn != 0) return false;
        *ns = 0;
        return true;
    } else
        return false;
    if (!small) return false; /* >= 10^20 of any unit overflows */
    u128 pow_e = 1;
    for (unsigned i = 0; i < e; i++) pow_e *= 10;
    u128 unit = c * pow_e;
    u128 fr = 0; /* fraction in ns */
    if (fn > 0) {
        /* f (no trailing zero) * c * 10^e / 10^fn is whole only when
         * fn <= e, or when c's factors 2 and 3 absorb the rest: with c at
         * most 36 that is at most two more digits. */
        if (fn > e + 2) return false;
        u128 fv = 0, pow_f = 1;
        for (size_t i = 0; i < fn; i++) fv = fv * 10 + (unsigned)(f[i] - '0'), pow_f *= 10;
        if ((fv * unit) % pow_f != 0) return false;
        fr = fv * unit / pow_f;
    }
    u128 total = whole * unit + fr;
    if (total > UINT64_MAX) return false;
    *ns = (uint64_t)total;
    return true;
}

static bool s_ref_size(const char *s, uint64_t *bytes)
{
    const char *w, *f;
    size_t wn, fn;
    const char *p = s_digits(s, false, &w, &wn, &f, &fn);
    if (!p) return false;
    unsigned shift;
    if (!strcmp(p, "B"))
        shift = 0;
    else if (!strcmp(p, "KiB"))
        shift = 10;
    else if (!strcmp(p, "MiB"))
        shift = 20;
    else if (!strcmp(p, "GiB"))
        shift = 30;
    else
        return false;
    u128 whole;
    if (!s_whole(w, wn, &whole)) return false;
    u128 total = whole << shift;
    if (total > UINT64_MAX) return false;
    *bytes = (uint64_t)total;
    return true;
}

/* Formats v both ways into a roomy buffer and a tight one, parses it back. */
static void s_round_trip(uint64_t v)
{
    char buf[64], tiny[4];
    uint64_t back;
    size_t n = hb__format_duration(v, buf, sizeof(buf));
    if (n == 0 || n >= sizeof(buf) || strlen(buf) != n) abort();
    if (!hb__parse_duration(buf, &back) || back != v) abort();
    if (!s_ref_duration(buf, &back) || back != v) abort();
    if (hb__format_duration(v, tiny, sizeof(tiny)) != n) abort();
    if (strlen(tiny) >= sizeof(tiny) || strncmp(tiny, buf, strlen(tiny)) != 0) abort();
    /* Shortest: a whole number of hours is written in hours, etc. */
    uint64_t h = UINT64_C(3600000000000), m = UINT64_C(60000000000);
    if (v && v % h == 0 && buf[n - 1] != 'h') abort();
    if (v && v % h != 0 && v % m == 0 && buf[n - 1] != 'm') abort();

    n = hb__format_size(v, buf, sizeof(buf));
    if (n == 0 || n >= sizeof(buf) || strlen(buf) != n) abort();
    if (!hb__parse_size(buf, &back) || back != v) abort();
    if (hb__format_size(v, tiny, sizeof(tiny)) != n) abort();
    if (strlen(tiny) >= sizeof(tiny) || strncmp(tiny, buf, strlen(tiny)) != 0) abort();
}

static void s_check_units(const char *s)
{
    uint64_t v = 0, r = 0;
    bool ok = hb__parse_duration(s, &v);
    if (ok != s_ref_duration(s, &r) || (ok && v != r)) abort();
    if (ok) s_round_trip(v);
    ok = hb__parse_size(s, &v);
    if (ok != s_ref_size(s, &r) || (ok && v != r)) abort();
    if (ok) s_round_trip(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    s_check_units(s);
    free(s);

    if (size >= 8) {
        uint64_t v;
        memcpy(&v, data, 8);
        s_round_trip(v);
    }

    for (size_t off = 0; off < 8 && off <= size; off++)
        if (hb__utf8_valid(data + off, size - off) != s_ref_utf8(data + off, size - off)) abort();

    if (hb_peer_id_valid((const char *)data, size) != s_ref_id(data, size)) abort();
    return 0;
}
