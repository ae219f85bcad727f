/* Upstream response heads: the status line here, the fields with the
 * request parser's own scanner (parse_scan.h), and the framing decision.
 *
 * Like the request parser, every decision is taken at one byte position
 * that depends only on the bytes before it, so a prefix answers PARTIAL or
 * the whole's answer. Resuming with last_len: in the status line, the
 * fixed part "HTTP/1.x NNN " is short and rescanned, the reason phrase is
 * scanned on from last_len; in the fields, the shared
 * http_resume_fields goes on from the last line begun.
 *
 * Tested by tests/unit/check_http_parse_response.c and fuzzed by
 * tests/fuzz/fuzz_http_response.c. */
#include "http/parse_response.h"

#include <limits.h>
#include <string.h>

#include "http/parse_scan.h"
#include "http/request.h"

/* Where the reason phrase starts: after "HTTP/1.1 200 ". */
#define RESP_REASON_AT 13

/* Every refusal leads to the same answer (502); the status the shared
 * scanner sets (400, 431, 505: a request's) is not used. */
#define RESP_BAD 502

/* "HTTP/" DIGIT "." DIGIT SP, judged once the SP is there. */
static int resp_scan_version(const struct http_scan *s, size_t *pos, struct http_response *r)
{
    char major = 0, minor = 0;   /* set by http_scan_version_token before use */
    int rc = http_scan_version_token(s, pos, &major, &minor);

    if (rc == 0)
        rc = http_expect(s, pos, ' ', "malformed status line");
    if (rc != 0)
        return rc;
    return http_version_judge(s, major, minor, &r->minor_version);
}

/* The reason phrase from *pos through its CRLF: reason-phrase =
 * 1*( HTAB / SP / VCHAR / obs-text ) is a field value's alphabet, so the
 * field-value scanner reads it (OWS trimmed: the reason means nothing). */
static int resp_scan_reason(const struct http_scan *s, size_t *pos, struct http_response *r)
{
    struct http_header h;
    int rc = http_scan_value(s, pos, &h);
    if (rc == 0) {
        r->reason = h.value;
        r->reason_len = h.value_len;
    } else if (rc == HTTP_PARSE_ERROR && *s->status != 431 && s->why != NULL) {
        *s->why = "malformed reason phrase";
    }
    return rc;
}

/* 3DIGIT in 100..599, then SP and the reason, or CRLF at once (an empty
 * reason whose SP the upstream left out: harmless, and common enough). */
static int resp_scan_status(const struct http_scan *s, size_t *pos, struct http_response *r)
{
    char d[3] = { 0 };
    int rc;

    for (int i = 0; i < 3; i++)
        if ((rc = http_expect_digit(s, pos, &d[i], "malformed status code")) != 0)
            return rc;
    r->status = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    if (r->status < 100 || r->status > 599)
        return http_fail(s, RESP_BAD, "status code outside 100..599");
    if (*pos == s->end)
        return http_out_of_bytes(s);
    char c = s->buf[*pos];
    if (c != ' ' && c != '\r')
        return http_fail(s, RESP_BAD, "malformed status code");
    if (c == ' ')
        ++*pos;
    return resp_scan_reason(s, pos, r);
}

/* The status line is read into a copy of *resp, so that *resp is written
 * only when the head is complete. */
static int resp_parse_full(const struct http_scan *s, struct http_response *resp)
{
    struct http_response out = *resp;
    size_t pos = 0;
    int rc;

    out.num_headers = 0;
    if ((rc = resp_scan_version(s, &pos, &out)) != 0 ||
        (rc = resp_scan_status(s, &pos, &out)) != 0 ||
        (rc = http_scan_fields(s, &pos, resp->headers, &out.num_headers)) != 0)
        return rc;
    *resp = out;
    return (int)pos;
}

/* Validate only what follows bytes [0, last_len), a valid incomplete head.
 * Returns PARTIAL, ERROR, or HTTP_RESUME_FULL. */
static int resp_parse_resume(const struct http_scan *s, size_t last_len)
{
    const char *buf = s->buf;
    size_t line;
    size_t lines = http_count_lines(buf, last_len, &line);

    if (lines >= 1)
        return http_resume_fields(s, last_len, line, lines - 1);
    /* Still in the status line: from scratch while in its fixed part. */
    if (last_len < RESP_REASON_AT || buf[RESP_REASON_AT - 1] != ' ')
        return HTTP_RESUME_FULL;

    struct http_response scratch;
    /* A CR already seen must still be followed by LF. */
    size_t pos = buf[last_len - 1] == '\r' ? last_len - 1 : last_len;
    int rc = resp_scan_reason(s, &pos, &scratch);
    return http_resume_from(s, rc, pos, 0);
}

int http_parse_response(const char *buf, size_t len, size_t last_len,
                        struct http_response *resp, const struct http_limits *lim,
                        const char **why)
{
    /* The head length is returned as an int. */
    size_t max = lim->max_header_size < INT_MAX ? lim->max_header_size : INT_MAX;
    int status = 0;
    struct http_scan s = {
        .buf = buf,
        .end = len < max ? len : max,
        .max = max,
        .max_fields = lim->max_headers < resp->num_headers ? lim->max_headers
                                                            : resp->num_headers,
        .status = &status,
        .why = why,
        .too_large = "response head larger than max_header_size",
    };

    if (last_len > 0 && last_len <= s.end) {
        int rc = resp_parse_resume(&s, last_len);
        if (rc != HTTP_RESUME_FULL)
            return rc;
    }
    return resp_parse_full(&s, resp);
}

/* ------------------------------------------------------------------ */
/* Framing */

/* What the framing fields said, before judging them. */
struct resp_fields {
    size_t n_length, n_te, n_codings;
    bool bad_length, length_list;
    bool last_chunked;           /* the final transfer coding is chunked */
    bool conn_close, conn_keep_alive;
};

static void resp_scan_te(const struct http_header *h, struct resp_fields *fl)
{
    const char *p = h->value, *end = h->value + h->value_len, *tok;
    size_t n;

    fl->n_te++;
    while (http_list_next(&p, end, &tok, &n)) {
        fl->n_codings++;
        fl->last_chunked = http_token_is(tok, n, "chunked");
    }
}

/* A list of lengths (even equal ones) is refused, not reduced to one:
 * RFC 9112 §6.3 lets a recipient do either. */
static void resp_scan_length(const struct http_header *h, struct resp_fields *fl,
                             uint64_t *length)
{
    fl->n_length++;
    if (http_parse_content_length(h->value, h->value_len, length) == 0)
        return;
    fl->bad_length = true;
    fl->length_list = memchr(h->value, ',', h->value_len) != NULL;
}

static void resp_collect(const struct http_response *resp, struct resp_fields *fl,
                         struct http_resp_framing *f)
{
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct http_header *h = &resp->headers[i];
        if (http_name_is(h, "content-length"))
            resp_scan_length(h, fl, &f->content_length);
        else if (http_name_is(h, "transfer-encoding"))
            resp_scan_te(h, fl);
        else if (http_name_is(h, "connection"))
            http_connection_options(h, &fl->conn_close, &fl->conn_keep_alive);
    }
}

static int resp_refuse(struct http_resp_framing *f, const char *why)
{
    f->why = why;
    f->keep_alive = false;
    return -1;
}

/* The refusals, in order of precedence. */
static int resp_judge(const struct http_response *resp, const struct resp_fields *fl,
                      struct http_resp_framing *f)
{
    if (fl->n_length > 1)
        return resp_refuse(f, "several Content-Length fields");
    if (fl->bad_length)
        return resp_refuse(f, fl->length_list ? "Content-Length list" : "malformed Content-Length");
    if (fl->n_te > 0) {
        if (resp->minor_version == 0)
            return resp_refuse(f, "Transfer-Encoding in HTTP/1.0");
        if (fl->n_length > 0)
            return resp_refuse(f, "Transfer-Encoding with Content-Length");
        if (fl->n_codings == 0)
            return resp_refuse(f, "empty Transfer-Encoding");
        if (!fl->last_chunked)
            return resp_refuse(f, "final transfer coding other than chunked");
        if (fl->n_codings > 1)
            return resp_refuse(f, "transfer coding other than chunked");
    }
    bool no_content = resp->status < 200 || resp->status == 204;
    if (no_content && (fl->n_te > 0 || (fl->n_length > 0 && f->content_length > 0)))
        return resp_refuse(f, "content announced by a 1xx or 204 response");
    if (resp->status == 101 && resp->minor_version == 0)
        return resp_refuse(f, "101 in HTTP/1.0");
    return 0;
}

int http_response_framing(const struct http_response *resp, bool head_request,
                          struct http_resp_framing *f)
{
    struct resp_fields fl = { 0 };

    memset(f, 0, sizeof *f);
    resp_collect(resp, &fl, f);
    f->has_length = fl.n_length == 1 && !fl.bad_length;
    if (!f->has_length)
        f->content_length = 0;
    f->chunked = fl.n_te > 0;
    if (resp_judge(resp, &fl, f) != 0)
        return -1;

    if (resp->status < 200) {
        f->body = HTTP_RESP_BODY_NONE;
        f->interim = resp->status != 101;
        f->upgrade = resp->status == 101;
        return 0;                       /* keep_alive stays false */
    }
    if (resp->minor_version >= 1)
        f->keep_alive = !fl.conn_close;
    else
        f->keep_alive = fl.conn_keep_alive && !fl.conn_close;
    if (head_request || resp->status == 204 || resp->status == 304)
        f->body = HTTP_RESP_BODY_NONE;
    else if (f->chunked)
        f->body = HTTP_RESP_BODY_CHUNKED;
    else if (f->has_length)
        f->body = HTTP_RESP_BODY_LENGTH;
    else {
        f->body = HTTP_RESP_BODY_CLOSE;
        f->keep_alive = false;
    }
    return 0;
}
