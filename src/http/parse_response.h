/* Upstream response heads (RFC 9112), for the reverse proxy: the parser,
 * with the request parser's shape and field rules (stateless, no
 * allocation, pointers into the caller's buffer, resumable with last_len),
 * and the framing decision of RFC 9112 §6.3 made as strictly as the
 * request's: whatever could let a response smuggle bytes is refused, and a
 * refused response is answered 502 with its upstream connection closed. */
#ifndef HERD_HTTP_PARSE_RESPONSE_H
#define HERD_HTTP_PARSE_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/parse.h"

struct http_response {
    int minor_version;               /* 0 or 1 */
    int status;                      /* 100..599 */
    const char *reason;              /* OWS trimmed, possibly empty */
    size_t reason_len;
    struct http_header *headers;     /* caller's array */
    size_t num_headers;              /* in: capacity of headers[]; out: fields found */
};

/* Parse the head of one response at buf[0..len): the status line
 * "HTTP/1.x SP 3DIGIT SP reason CRLF" (the SP before an empty reason may
 * be missing, as some servers send it), then fields with exactly the
 * request parser's rules (no obs-fold, no whitespace before the colon, no
 * bare CR, NUL or other controls), then the blank line.
 *
 * last_len as for http_parse_request: the bytes offered by an earlier call
 * that returned HTTP_PARSE_PARTIAL (0 the first time); the answer is the
 * same as from scratch. lim->max_header_size bounds the whole head and
 * lim->max_headers (with the capacity in num_headers) the fields;
 * lim->max_target is not used.
 *
 * Returns the head length (> 0), HTTP_PARSE_PARTIAL, or HTTP_PARSE_ERROR
 * with *why (when why is not NULL) set to a short phrase for the error
 * log (HTTP/2 or later, HTTP/0.x, a status outside 100..599, a malformed
 * line, a head or field count over the limits). A prefix of a bad head answers PARTIAL or the same error.
 * *resp (but the scratch contents of resp->headers[]) is written only when
 * a complete head is returned. */
int http_parse_response(const char *buf, size_t len, size_t last_len,
                        struct http_response *resp, const struct http_limits *lim,
                        const char **why);

/* How the body of a response ends (RFC 9112 §6.3). */
enum http_resp_body {
    HTTP_RESP_BODY_NONE,         /* 1xx, 204, 304, or a response to HEAD */
    HTTP_RESP_BODY_LENGTH,       /* content_length bytes */
    HTTP_RESP_BODY_CHUNKED,      /* Transfer-Encoding: chunked */
    HTTP_RESP_BODY_CLOSE,        /* until the upstream closes the connection */
};

struct http_resp_framing {
    uint64_t content_length;     /* valid when has_length (also for HEAD and
                                    304, where it frames nothing) */
    uint8_t body;                /* enum http_resp_body */
    bool has_length;
    bool chunked;                /* Transfer-Encoding: chunked was sent (also
                                    for HEAD and 304, where it frames nothing) */
    bool interim;                /* 1xx but 101: the final response follows */
    bool upgrade;                /* 101: the connection now carries another
                                    protocol (the proxy's tunnel) */
    bool keep_alive;             /* the upstream connection may carry another
                                    request once this response is read */
    const char *why;             /* when refused: why, for the error log */
};

/* Decide the framing of a parsed response to a request whose method was
 * HEAD (head_request) or not. Returns 0, or -1 when the response must be
 * refused (answer 502, close the upstream connection), with f->why set:
 *   - several Content-Length fields (even equal ones), a list, or a value
 *     that is not 1*DIGIT below 2^63;
 *   - Content-Length with Transfer-Encoding; Transfer-Encoding in HTTP/1.0;
 *   - Transfer-Encoding other than exactly "chunked" (over one or several
 *     fields): a final coding other than chunked would mean reading until
 *     close, and a coding before chunked (gzip, chunked) is one herd never
 *     asked for (it sends no TE) and could not pass on, since it frames the
 *     client's response itself;
 *   - content announced by a status that cannot have any (1xx, 204):
 *     Transfer-Encoding, or Content-Length other than 0. What follows such
 *     a head is ambiguous (the next response, or the body the upstream
 *     meant), so it is not guessed at. Content-Length: 0 is tolerated (many
 *     frameworks send it with 204); 304 and HEAD may carry either field,
 *     describing the GET's body (RFC 9110 §8.6, RFC 9112 §6.1);
 *   - 101 in an HTTP/1.0 response (Upgrade is 1.1 only).
 * keep_alive: HTTP/1.1 without "Connection: close", HTTP/1.0 only with
 * "Connection: keep-alive"; never after close framing, after 101 or for a
 * refused response; false for an interim 1xx (the final response decides).
 * *f is always filled. */
int http_response_framing(const struct http_response *resp, bool head_request,
                          struct http_resp_framing *f);

#endif
