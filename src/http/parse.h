/* HTTP/1.x request-head parser (RFC 9112), picohttpparser-shaped: stateless,
 * no allocation, every string is a pointer into the caller's buffer. */
#ifndef HERD_HTTP_PARSE_H
#define HERD_HTTP_PARSE_H

#include <stddef.h>

enum { HTTP_PARSE_ERROR = -1, HTTP_PARSE_PARTIAL = -2 };

struct http_header {
    const char *name;
    size_t name_len;
    const char *value;        /* leading and trailing OWS trimmed */
    size_t value_len;
};

struct http_limits {
    size_t max_target;        /* longest request-target in bytes; longer -> 414 */
    size_t max_header_size;   /* longest whole head (leading empty lines, request
                                 line, fields, final CRLF); longer -> 431 */
    size_t max_headers;       /* most header fields; more -> 431. Must be <= the
                                 capacity passed in num_headers */
};

struct http_request {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor_version;               /* 0 or 1 */
    struct http_header *headers;     /* caller's array */
    size_t num_headers;              /* in: capacity of headers[]; out: fields found */
};

/* Parse the head of one request at buf[0..len).
 *
 * last_len: how many bytes of buf the caller already offered in a previous
 * call that returned HTTP_PARSE_PARTIAL (0 the first time). The parser then
 * scans only the new bytes (plus a memchr pass over the old ones), so a head
 * trickling in costs little per call; the answer is the same as with 0. A
 * complete head is parsed once more from the start to fill in *req.
 *
 * Returns the head length (> 0: bytes up to and including the blank line,
 * leading empty lines included; max_header_size is capped at INT_MAX so that
 * it fits), HTTP_PARSE_PARTIAL if more bytes are needed,
 * or HTTP_PARSE_ERROR with *status set to 400, 414, 431 or 505.
 *
 * Errors are reported as soon as they are certain, so a prefix of a bad head
 * answers either PARTIAL or the same status as the whole. A target longer than
 * max_target gives 414 even before the head is complete; an incomplete head
 * that already fills max_header_size bytes gives 431, so a caller whose buffer
 * holds max_header_size bytes always gets an answer.
 *
 * *req (except the scratch contents of req->headers[]) is written only when a
 * complete head is returned, so a caller may retry with the same struct. */
int http_parse_request(const char *buf, size_t len, size_t last_len,
                       struct http_request *req, const struct http_limits *lim,
                       int *status);

/* Why http_parse_request refused the head at buf[0..len) with these limits
 * (read with a capacity of lim->max_headers fields): a short phrase such as
 * "invalid character in a field name", or NULL when it is not refused.
 * For the error log; it parses again, so call it only after a refusal. */
const char *http_parse_why(const char *buf, size_t len, const struct http_limits *lim);

#endif
