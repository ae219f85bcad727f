/* Incremental decoder for a chunked request body (RFC 9112 §7.1).
 * Feed it bytes as they arrive; it reports where data bytes are so a caller
 * can discard or forward them, and when the body (including trailers and the
 * final CRLF) ends. */
#ifndef HERD_HTTP_CHUNKED_H
#define HERD_HTTP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

/* Plain struct so callers can embed it; all zero is the start state with no
 * body limit. Fields are private to chunked.c. */
struct http_chunked {
    uint64_t max_body;     /* 0 = unlimited */
    uint64_t total;        /* data bytes so far */
    uint64_t remaining;    /* chunk size being read, then data bytes left */
    uint32_t line_len;     /* bytes of the current chunk-size line */
    uint32_t trailer_len;  /* bytes of the trailer section */
    int state;
    uint8_t why;           /* after an error: what went wrong */
};

enum {
    HTTP_CHUNKED_MORE = 0,
    HTTP_CHUNKED_DONE = 1,
    HTTP_CHUNKED_ERROR = -1,       /* answer 400 */
    HTTP_CHUNKED_TOO_LARGE = -2,   /* answer 413 */
};

/* max_body: limit on the total of data bytes, 0 = unlimited. */
void http_chunked_init(struct http_chunked *c, uint64_t max_body);

/* Decode in[0..len); *consumed = bytes of `in` used. Data bytes are reported
 * through on_data(arg, p, n) with p pointing into `in` (on_data may be NULL
 * to discard them). Returns:
 *   HTTP_CHUNKED_MORE       need more input; all of len consumed;
 *   HTTP_CHUNKED_DONE       body complete; the remaining len - *consumed bytes
 *                           belong to the next request;
 *   HTTP_CHUNKED_ERROR      malformed: bad or overlong chunk size (more than
 *                           16 significant hex digits or >= 2^63), a chunk
 *                           extension off the RFC 9112 grammar (whitespace
 *                           before the CRLF, an empty name or value, an
 *                           unclosed quoted string), bare CR or LF, missing
 *                           CRLF after data, a chunk-size line over 4 KiB or
 *                           trailers over 8 KiB;
 *   HTTP_CHUNKED_TOO_LARGE  the data would exceed max_body (decided as soon as
 *                           a chunk size says so, before its data arrives).
 * Errors are sticky: later calls return the same value and consume nothing.
 * Chunk extensions and trailer fields are checked for syntax and ignored. */
int http_chunked_decode(struct http_chunked *c, const char *in, size_t len,
                        size_t *consumed,
                        void (*on_data)(void *arg, const char *p, size_t n),
                        void *arg);

/* After HTTP_CHUNKED_ERROR or HTTP_CHUNKED_TOO_LARGE, why (a short phrase
 * for the error log, such as "malformed chunk extension"); else NULL. */
const char *http_chunked_why(const struct http_chunked *c);

#endif
