/* The scanner the two head parsers share: the request parser (parse.c) and
 * the upstream response parser (parse_response.c) read header fields, the
 * blank line and the HTTP version with the same code, so that both apply
 * exactly the same field rules. Internal to those two files: callers use
 * parse.h and parse_response.h.
 *
 * Every scanner reads buf[*pos..end) strictly left to right and takes each
 * decision at one byte position (see parse.c), returning 0 with *pos moved
 * past what it read, HTTP_PARSE_PARTIAL, or HTTP_PARSE_ERROR through
 * http_fail. Defined in parse.c. */
#ifndef HERD_HTTP_PARSE_SCAN_H
#define HERD_HTTP_PARSE_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "http/parse.h"

enum {
    HTTP_C_TCHAR = 1,   /* token character (method, field name) */
    HTTP_C_VALUE = 2,   /* field-value byte: VCHAR, obs-text, SP, HTAB */
    HTTP_C_VCHAR = 4,   /* visible ASCII (request-target) */
    HTTP_C_VTEXT = 8,   /* field-value byte that is not whitespace: VCHAR, obs-text */
};

extern const unsigned char http_class[256];

static inline bool http_is(unsigned char c, int cls)
{
    return (http_class[c] & cls) != 0;
}

/* Sentinel of the resume functions: the head is complete (or the shortcut
 * does not apply), parse it whole. */
enum { HTTP_RESUME_FULL = 1 };

struct http_scan {
    const char *buf;
    size_t end;          /* bytes that may be examined: min(len, max) */
    size_t max;          /* max_header_size */
    size_t max_target;
    size_t max_fields;   /* min(max_headers, capacity) */
    int *status;
    const char **why;    /* NULL, or where to say why a head is refused */
    const char *too_large;  /* the why of running into max */
};

/* Refuse with status and why; returns HTTP_PARSE_ERROR. */
int http_fail(const struct http_scan *s, int status, const char *why);
/* The scan wants byte `end`: PARTIAL, or 431 at max_header_size. */
int http_out_of_bytes(const struct http_scan *s);
/* The byte `want` at *pos, else 400 with why. */
int http_expect(const struct http_scan *s, size_t *pos, char want, const char *why);
/* A decimal digit at *pos (stored in *digit), else 400 with why. */
int http_expect_digit(const struct http_scan *s, size_t *pos, char *digit, const char *why);
/* "HTTP/" DIGIT "." DIGIT; judging the digits is the caller's. */
int http_scan_version_token(const struct http_scan *s, size_t *pos, char *major, char *minor);
/* Only 1.x: 0.x is refused with 400, 2 and later with 505; 1.1 and later
 * minors read as 1.1 (*minor_version 0 or 1). */
int http_version_judge(const struct http_scan *s, char major, char minor, int *minor_version);
/* A field value from *pos through its CRLF (OWS trimmed), into h->value. */
int http_scan_value(const struct http_scan *s, size_t *pos, struct http_header *h);
/* Field lines from *pos through the blank line. *count is the number of
 * fields before *pos; headers (NULL to validate only) receives the rest.
 * Returns 0 once the blank line is consumed. */
int http_scan_fields(const struct http_scan *s, size_t *pos, struct http_header *headers,
                     size_t *count);
/* Number of LFs in buf[0, n), and where the line after the last one starts
 * (0 if none). */
size_t http_count_lines(const char *buf, size_t n, size_t *last_line);
/* Validate what follows bytes [0, last_len), a valid incomplete head whose
 * first line (request or status line) ended: `line` starts the last line
 * begun (from http_count_lines) and `count` fields came before it.
 * Returns PARTIAL, ERROR, or HTTP_RESUME_FULL. */
int http_resume_fields(const struct http_scan *s, size_t last_len, size_t line, size_t count);
/* After a resume finished the line it was in with rc (0: ended at pos,
 * with count fields before): the fields from pos. Returns PARTIAL, ERROR,
 * or HTTP_RESUME_FULL. */
int http_resume_from(const struct http_scan *s, int rc, size_t pos, size_t count);

#endif
