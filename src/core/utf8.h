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

#endif
