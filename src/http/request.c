/* Framing of a request: everything a request-smuggling attack plays on is
 * refused here with 400 rather than guessed at (RFC 9112 §6). */
#include "http/request.h"

#include <string.h>

#include "http/path.h"

struct http_method_entry {
    const char *name;
    size_t len;
};

#define HTTP_METHOD_ENTRY(s) { s, sizeof(s) - 1 }
static const struct http_method_entry http_methods[HTTP_METHOD_UNKNOWN] = {
    [HTTP_GET] = HTTP_METHOD_ENTRY("GET"),
    [HTTP_HEAD] = HTTP_METHOD_ENTRY("HEAD"),
    [HTTP_POST] = HTTP_METHOD_ENTRY("POST"),
    [HTTP_PUT] = HTTP_METHOD_ENTRY("PUT"),
    [HTTP_DELETE] = HTTP_METHOD_ENTRY("DELETE"),
    [HTTP_OPTIONS] = HTTP_METHOD_ENTRY("OPTIONS"),
    [HTTP_TRACE] = HTTP_METHOD_ENTRY("TRACE"),
    [HTTP_CONNECT] = HTTP_METHOD_ENTRY("CONNECT"),
    [HTTP_PATCH] = HTTP_METHOD_ENTRY("PATCH"),
};
#undef HTTP_METHOD_ENTRY

/* What the header fields said, before judging them. */
struct http_fields {
    size_t n_length, n_te, n_host;
    bool bad_length;
    const struct http_header *te;
    bool conn_close, conn_keep_alive;
};

enum http_method http_method_from(const char *s, size_t len)
{
    for (int m = 0; m < HTTP_METHOD_UNKNOWN; m++)
        if (http_methods[m].len == len && memcmp(http_methods[m].name, s, len) == 0)
            return (enum http_method)m;
    return HTTP_METHOD_UNKNOWN;
}

const char *http_method_name(enum http_method m)
{
    if ((int)m < 0 || m >= HTTP_METHOD_UNKNOWN)
        return NULL;
    return http_methods[m].name;
}

static unsigned char http_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static bool http_equals_lower(const char *s, size_t len, const char *lower)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (lower[i] == '\0' || http_lower((unsigned char)s[i]) != (unsigned char)lower[i])
            return false;
    return lower[i] == '\0';
}

int http_parse_content_length(const char *s, size_t len, uint64_t *out)
{
    const uint64_t max = UINT64_C(0x7fffffffffffffff);
    uint64_t v = 0;

    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)s[i] - (unsigned)'0';
        if (d > 9 || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static bool http_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static void http_trim(const char **s, size_t *len)
{
    while (*len > 0 && http_is_ows((*s)[0])) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && http_is_ows((*s)[*len - 1]))
        (*len)--;
}

static bool http_value_is(const struct http_header *h, const char *lower)
{
    const char *v = h->value;
    size_t n = h->value_len;

    http_trim(&v, &n);
    return http_equals_lower(v, n, lower);
}

/* Static cores of http_list_next and http_connection_options, so that
 * the request check (every request with a Connection field) has them
 * inlined; the exported names are for other files. */
__attribute__((always_inline))
static inline bool http_list_next_in(const char **p, const char *end, const char **elem, size_t *len)
{
    while (*p < end) {
        const char *comma = memchr(*p, ',', (size_t)(end - *p));
        const char *elem_end = comma != NULL ? comma : end;

        *elem = *p;
        *len = (size_t)(elem_end - *p);
        *p = elem_end + (comma != NULL);
        http_trim(elem, len);
        if (*len > 0)
            return true;
    }
    return false;
}

bool http_list_next(const char **p, const char *end, const char **elem, size_t *len)
{
    return http_list_next_in(p, end, elem, len);
}

bool http_token_is(const char *s, size_t len, const char *lower)
{
    return http_equals_lower(s, len, lower);
}

__attribute__((always_inline))
static inline void http_connection_in(const struct http_header *h, bool *close, bool *keep_alive)
{
    const char *p = h->value, *end = h->value + h->value_len, *tok;
    size_t n;

    while (http_list_next_in(&p, end, &tok, &n)) {
        if (http_equals_lower(tok, n, "close"))
            *close = true;
        else if (http_equals_lower(tok, n, "keep-alive"))
            *keep_alive = true;
    }
}

void http_connection_options(const struct http_header *h, bool *close, bool *keep_alive)
{
    http_connection_in(h, close, keep_alive);
}

static bool http_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool http_is_hex(unsigned char c)
{
    return http_is_digit(c) || (http_lower(c) >= 'a' && http_lower(c) <= 'f');
}

/* unreserved / sub-delims (RFC 3986 §2) */
static bool http_is_host_char(unsigned char c)
{
    if ((http_lower(c) >= 'a' && http_lower(c) <= 'z') || http_is_digit(c))
        return true;
    return c != '\0' && strchr("-._~!$&'()*+,;=", c) != NULL;
}

/* [ ":" port ], port = *DIGIT (RFC 3986) and at most 65535. */
static bool http_port_valid(const char *p, const char *end)
{
    unsigned long port = 0;

    if (p == end)
        return true;
    if (*p++ != ':')
        return false;
    for (; p < end; p++) {
        if (!http_is_digit((unsigned char)*p))
            return false;
        port = port * 10 + (unsigned long)(*p - '0');
        if (port > 65535)
            return false;
    }
    return true;
}

/* IP-literal: "[" ( IPv6address / IPvFuture ) "]", checked by alphabet only:
 * enough to keep separators and controls out. */
static bool http_ip_literal_valid(const char *p, const char *end)
{
    const char *close = memchr(p, ']', (size_t)(end - p));

    if (close == NULL || close == p + 1)
        return false;
    for (const char *q = p + 1; q < close; q++)
        if (!http_is_host_char((unsigned char)*q) && *q != ':')
            return false;
    return http_port_valid(close + 1, end);
}

/* reg-name / IPv4address: *( unreserved / pct-encoded / sub-delims ) */
static bool http_reg_name_valid(const char *p, const char *end)
{
    while (p < end && *p != ':') {
        if (*p == '%') {
            if (end - p < 3 || !http_is_hex((unsigned char)p[1]) ||
                !http_is_hex((unsigned char)p[2]))
                return false;
            p += 3;
        } else if (http_is_host_char((unsigned char)*p)) {
            p++;
        } else {
            return false;
        }
    }
    return http_port_valid(p, end);
}

/* Host = uri-host [ ":" port ]; an empty value is allowed (RFC 9110 §7.2). */
static bool http_host_valid(const char *s, size_t len)
{
    if (len > 0 && s[0] == '[')
        return http_ip_literal_valid(s, s + len);
    return http_reg_name_valid(s, s + len);
}

/* The authority of an absolute-form target: a Host value that may not be
 * empty, nor have an empty host before its port (RFC 9110 §4.2.1), nor carry
 * userinfo ("@" is no host character). Cold: absolute-form is rare, and
 * a second inlined copy would push the Host check out of line. */
__attribute__((cold, noinline))
static bool http_authority_valid(const char *s, size_t len)
{
    return len > 0 && s[0] != ':' && http_host_valid(s, len);
}

static void http_collect(const struct http_request *req, struct http_fields *fl,
                         struct http_framing *f)
{
    for (size_t i = 0; i < req->num_headers; i++) {
        const struct http_header *h = &req->headers[i];

        if (http_name_is(h, "content-length")) {
            fl->n_length++;
            if (http_parse_content_length(h->value, h->value_len, &f->content_length) != 0)
                fl->bad_length = true;
        } else if (http_name_is(h, "transfer-encoding")) {
            fl->n_te++;
            fl->te = h;
        } else if (http_name_is(h, "host")) {
            fl->n_host++;
            f->host = h->value;
            f->host_len = h->value_len;
        } else if (http_name_is(h, "connection")) {
            http_connection_in(h, &fl->conn_close, &fl->conn_keep_alive);
        } else if (http_name_is(h, "expect")) {
            /* A 1.0 server must ignore 100-continue (RFC 9110 §10.1.1). */
            if (req->minor_version >= 1 && http_value_is(h, "100-continue"))
                f->expect_continue = true;
        }
    }
}

static int http_refuse(struct http_framing *f, int status, const char *why)
{
    f->why = why;
    return status;
}

/* The checks in order of precedence: the 400s first, because a request
 * whose body boundary is in doubt must not be answered as if it were fine. */
static int http_judge(const struct http_request *req, const struct http_fields *fl,
                      struct http_framing *f)
{
    if (fl->n_length > 1)
        return http_refuse(f, 400, "several Content-Length fields");
    if (fl->bad_length)
        return http_refuse(f, 400, "malformed Content-Length");
    if (fl->n_te > 1)
        return http_refuse(f, 400, "several Transfer-Encoding fields");
    if (fl->n_te > 0 && fl->n_length > 0)
        return http_refuse(f, 400, "Transfer-Encoding with Content-Length");
    if (fl->n_te > 0 && req->minor_version == 0)
        return http_refuse(f, 400, "Transfer-Encoding in HTTP/1.0");
    if (fl->n_host > 1)
        return http_refuse(f, 400, "several Host fields");
    if (fl->n_host == 0 && req->minor_version >= 1)
        return http_refuse(f, 400, "no Host field in HTTP/1.1");
    if (f->host != NULL && !http_host_valid(f->host, f->host_len))
        return http_refuse(f, 400, "malformed Host");
    /* The authority of an absolute-form target takes the place of Host
     * (RFC 9112 §3.2.2), which must still be there and valid. */
    if (req->target_len > 0 && req->target[0] != '/' &&
        http_target_authority(req->target, req->target_len, &f->host, &f->host_len) &&
        !http_authority_valid(f->host, f->host_len))
        return http_refuse(f, 400, "malformed authority in the request target");
    if (fl->te != NULL && !f->chunked)
        return http_refuse(f, 501, "Transfer-Encoding other than chunked");
    return 0;
}

int http_request_check(const struct http_request *req, struct http_framing *f)
{
    struct http_fields fl = { 0 };

    memset(f, 0, sizeof(*f));
    f->method = http_method_from(req->method, req->method_len);
    http_collect(req, &fl, f);
    f->has_length = fl.n_length == 1 && !fl.bad_length;
    if (!f->has_length)
        f->content_length = 0;
    f->chunked = fl.te != NULL && http_value_is(fl.te, "chunked");
    if (req->minor_version >= 1)
        f->keep_alive = !fl.conn_close;
    else
        f->keep_alive = fl.conn_keep_alive && !fl.conn_close;

    int status = http_judge(req, &fl, f);
    if (status != 0) {
        f->keep_alive = false;
        return status;
    }
    if (f->method == HTTP_METHOD_UNKNOWN)
        return http_refuse(f, 501, "unknown method");
    return 0;
}

const struct http_header *http_find_header(const struct http_request *req,
                                           const char *lower_name)
{
    for (size_t i = 0; req && i < req->num_headers; i++)
        if (http_name_is(&req->headers[i], lower_name))
            return &req->headers[i];
    return NULL;
}
