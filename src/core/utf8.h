/*
 * utf8.h: strict UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). Pure; any thread. Used for the send socket's
 * text/binary choice, peer ids and control input.
 */
#ifndef HB_CORE_UTF8_H
#define HB_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool hb__utf8_valid(const void *data, size_t len);

/*
 * A copy of the NUL-terminated `s` that is valid UTF-8: each byte that does
 * not start a well-formed sequence becomes U+FFFD. For outside text that
 * must go into JSON (a peer's close reason, a parser's error that quotes
 * input, a log line). Caller frees; NULL when out of memory.
 */
char *hb__utf8_clean(const char *s);

/*
 * If p (n bytes left) starts a character that some readers take as a line
 * break or a control although it is not ASCII (C1 controls U+0080..U+009F,
 * NEL among them; U+2028, U+2029), its code point, and its length in
 * *len; else 0. Text logs and quoted config values escape these as \uXXXX
 * so that one record stays one line for every reader.
 */
unsigned hb__utf8_break_at(const unsigned char *p, size_t n, size_t *len);

#endif
