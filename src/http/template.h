/* Strings with variables ("https://$host$request_uri"), compiled once when
 * the configuration loads into a list of literal pieces and variable
 * references, so that a request only copies and looks up: no parsing per
 * request. Used by `return.location`, response `headers`, proxy `headers`
 * and an upstream's `hash_key`; the access log compiles its format with
 * the same table (http_template_compile_log), which adds the variables
 * known only once the answer is done ($status, $bytes_sent...).
 *
 * Syntax: `$name` or `${name}` (the braces let a letter follow a name);
 * a name is letters, digits and '_'; `$1`..`$9` are one digit each (the
 * captures of a regular-expression route). A '$' followed by no name is
 * a plain '$'. An unknown name is an error.
 *
 * The values come from a lookup function, so this file knows no request:
 * http/vars.c gives the request's (http_template_render_req). */
#ifndef HERD_HTTP_TEMPLATE_H
#define HERD_HTTP_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_var {
    HV_LITERAL,             /* not a variable: the piece's text */
    HV_HOST,                /* Host without its port, lower case; else the
                               server's first name */
    HV_SCHEME,              /* http or https */
    HV_REQUEST_URI,         /* the target as sent, query included */
    HV_URI,                 /* the normalised path, percent-encoded */
    HV_ARGS,                /* the query, without '?' */
    HV_IS_ARGS,             /* "?" when there is a query, else empty */
    HV_PATH_REST,           /* the path after the route's path (encoded) */
    HV_REQUEST_METHOD,
    HV_REMOTE_ADDR,
    HV_REMOTE_PORT,
    HV_SERVER_PORT,         /* the port the connection came in on */
    HV_MSEC,                /* wall clock, seconds with milliseconds */
    HV_REQUEST_ID,          /* 32 hex digits, the same within one request */
    HV_CAPTURE,             /* $1..$9: piece.arg is the number */
    HV_HTTP,                /* $http_NAME: piece.text is the field's name,
                               lower case, '_' as '-' */
    HV_REALIP_REMOTE_ADDR,  /* the connection's client, whatever real_ip says */
    HV_REALIP_REMOTE_PORT,
    /* The access log's alone (http/access_log.c renders them). */
    HV_REMOTE_USER, HV_TIME_LOCAL, HV_TIME_ISO8601, HV_REQUEST, HV_SERVER_PROTOCOL,
    HV_STATUS, HV_BODY_BYTES_SENT, HV_BYTES_SENT, HV_REQUEST_TIME, HV_UPSTREAM_ADDR,
    HV_UPSTREAM_STATUS, HV_UPSTREAM_RESPONSE_TIME, HV_SSL_PROTOCOL, HV_SSL_CIPHER,
    HV_SSL_CLIENT_S_DN,
};
#define HV_LOG_FIRST HV_REMOTE_USER

struct http_tpl_piece {
    uint8_t var;            /* enum http_var */
    uint8_t arg;            /* HV_CAPTURE: 1..9 */
    const char *text;       /* HV_LITERAL, HV_HTTP: into the template's copy */
    size_t len;
};

struct http_template {
    char *text;             /* the source, then the pieces' texts */
    struct http_tpl_piece *v;
    size_t n;
    bool has_vars;          /* false: the value is text[0..plain_len) */
    size_t plain_len;
};

/* Compile src into t. 0, or -1 with the reason in why (an unknown
 * variable, out of memory); t is then empty. */
int http_template_compile(struct http_template *t, const char *src, char *why, size_t cap);
/* The same for an access-log format: the log's own variables too. */
int http_template_compile_log(struct http_template *t, const char *src, char *why, size_t cap);
void http_template_free(struct http_template *t);
/* Only check src: 0, or -1 with why. *has_vars (may be NULL) tells
 * whether it names a variable. */
int http_template_check(const char *src, bool *has_vars, char *why, size_t cap);

/* The highest capture src names ($3: 3), 0 for none, -1 when src does
 * not compile (the check that does says why). */
int http_template_max_capture(const char *src);

/* Write the value of the variable of piece p at out[0..cap), snprintf-
 * like: returns the whole length, writes no more than cap bytes. */
typedef size_t (*http_tpl_lookup)(const void *ctx, const struct http_tpl_piece *p, char *out,
                                  size_t cap);

/* Write the value of t at out[0..cap) (snprintf-like: the whole length is
 * returned; when it is more than cap, out holds only a part). */
size_t http_template_render(const struct http_template *t, http_tpl_lookup get,
                            const void *ctx, char *out, size_t cap);

/* ---- a request's variables (http/vars.c) */

struct http_req;

/* A regular-expression route's captures, as PCRE2 leaves them: pairs of
 * offsets into subject, n pairs set ($0, the whole match, first); an
 * unset group has offsets of SIZE_MAX. A regex route points the request
 * at one (req->captures); $N is empty without. */
#define HTTP_CAPTURES_MAX 10
struct http_captures {
    const char *subject;
    size_t n;
    size_t ovector[2 * HTTP_CAPTURES_MAX];
};

/* Capture n of the request (0..9): its bytes and length, or NULL. */
const char *http_req_capture(const struct http_req *req, unsigned n, size_t *len);
/* The lookup of a request's variables (ctx: the struct http_req). */
size_t http_req_var(const void *ctx, const struct http_tpl_piece *p, char *out, size_t cap);

static inline size_t http_template_render_req(const struct http_template *t,
                                              const struct http_req *req, char *out, size_t cap)
{
    return http_template_render(t, http_req_var, req, out, cap);
}

#endif
