/* Durations and sizes as written in the configuration. */
#ifndef HERD_UNITS_H
#define HERD_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* "500ms", "10s", "5m", "1h", "2d" or a plain number of seconds ("30",
 * "1.5"). Result in milliseconds. Returns 0, or -1 when malformed or out of
 * range (above 10 years). */
int units_parse_duration(const char *s, int64_t *ms);
/* "512", "64k", "1m", "2g" (powers of 1024). Returns 0 or -1. */
int units_parse_size(const char *s, int64_t *bytes);

/* The shortest exact text for a value, as accepted by the parsers above. */
void units_format_duration(int64_t ms, char *out, size_t cap);
void units_format_size(int64_t bytes, char *out, size_t cap);

#endif
