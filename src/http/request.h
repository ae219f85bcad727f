/* Semantic checks of a parsed request head: method, message framing
 * (Content-Length / Transfer-Encoding), Host, Connection, Expect. */
#ifndef HERD_HTTP_REQUEST_H
#define HERD_HTTP_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "http/parse.h"

enum http_method {
    HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_DELETE, HTTP_OPTIONS,
    HTTP_TRACE, HTTP_CONNECT, HTTP_PATCH, HTTP_METHOD_UNKNOWN
};

struct http_framing {
    enum http_method method;
    uint64_t content_length;  /* valid when has_length */
    bool has_length;
    bool chunked;             /* Transfer-Encoding: chunked */
    bool keep_alive;          /* connection persists after this request */
    bool expect_continue;     /* Expect: 100-continue (HTTP/1.1 only) */
    const char *host;         /* the authority of an absolute-form target,
                                 else the Host value; NULL if neither */
    const char *why;          /* with an error status: why, for the log */
    size_t host_len;
};

/* Method names are case-sensitive: "get" is HTTP_METHOD_UNKNOWN. */
enum http_method http_method_from(const char *s, size_t len);

/* "GET" ... "PATCH"; NULL for HTTP_METHOD_UNKNOWN or an out-of-range value. */
const char *http_method_name(enum http_method m);

/* The first field named lower_name (case-insensitive), or NULL; req may be
 * NULL. */
const struct http_header *http_find_header(const struct http_request *req,
                                           const char *lower_name);

/* Case-insensitive ASCII compare of s[0..len) with lower. */
bool http_token_is(const char *s, size_t len, const char *lower);

/* Case-insensitive ASCII compare of a header name with lower_name. Inline
 * so that a literal's length is known where it is called, and most
 * fields are told apart by their length alone, without a call (each
 * field of each head meets several of these). */
static inline bool http_name_is(const struct http_header *h, const char *lower_name)
{
    return h->name_len == strlen(lower_name) && http_token_is(h->name, h->name_len, lower_name);
}

/* The next non-empty element of a comma-separated list (RFC 9110 §5.6.1)
 * in [*p, end), trimmed of OWS, at [*elem, *elem + *len); *p moves past it.
 * Returns false at the end of the list. */
bool http_list_next(const char **p, const char *end, const char **elem, size_t *len);

/* The options of a Connection field h that decide persistence: sets
 * *close and *keep_alive when the list names them (else leaves them). */
void http_connection_options(const struct http_header *h, bool *close, bool *keep_alive);

/* Strict Content-Length: 1*DIGIT, no sign or spaces, at most 2^63-1.
 * Returns 0 and sets *out, or -1. */
int http_parse_content_length(const char *s, size_t len, uint64_t *out);

/* Derive the framing of a parsed request. Returns 0 if acceptable, else the
 * status to answer: 400 (conflicting or malformed Content-Length /
 * Transfer-Encoding, Transfer-Encoding in HTTP/1.0, missing, repeated or
 * malformed Host, a port above 65535, an absolute-form target whose
 * authority is empty, malformed or carries userinfo), 501 (Transfer-Encoding
 * other than "chunked", or unknown method).
 *
 * *f is always filled. For 501 with f->method == HTTP_METHOD_UNKNOWN and
 * nothing else wrong, the framing is sound, so the caller may skip the body
 * and keep the connection; for every other error f->keep_alive is false
 * because the body boundary cannot be trusted. */
int http_request_check(const struct http_request *req, struct http_framing *f);

#endif
