/*
 * units.h: durations and sizes as SPEC.md section 3 writes them. Pure.
 *
 * Duration: a decimal number followed by ms, s, m or h ("250ms", "1.5s",
 * "5m"); "0" may omit the unit. Size: an integer followed by B, KiB or MiB
 * (GiB is accepted too, so that the 2 GiB limit can be written as such).
 * Strict: no sign, no spaces, no trailing garbage, overflow is an error.
 */
#ifndef HB_CORE_UNITS_H
#define HB_CORE_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns true and *ns on success; false on any malformed input. */
bool hb__parse_duration(const char *s, uint64_t *ns);
/* Returns true and *bytes on success. */
bool hb__parse_size(const char *s, uint64_t *bytes);
/* Shortest exact form ("250ms", "1.5s", "10s", "5m", "0"): the largest
 * unit that divides the value, else seconds or milliseconds with a decimal
 * fraction. Parses back to the same value. Returns the length. */
size_t hb__format_duration(uint64_t ns, char *out, size_t cap);
/* Largest exact unit: "2GiB", "16MiB", "512KiB", "100B". Returns length
 * (as snprintf: the length it would have had when cap is too small). */
size_t hb__format_size(uint64_t bytes, char *out, size_t cap);

#endif
