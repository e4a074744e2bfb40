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

#endif
