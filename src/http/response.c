/* Tested by tests/unit/check_http_response.c. */
#include "http/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "http/date.h"
#include "http/parse.h"

#define LIT(s) s, sizeof s - 1

struct text {
    const char *s;
    size_t len;
};

/* A switch, not a table search: a per-request head looks it up twice. */
static struct text reason(int status)
{
    switch (status) {
    case 100: return (struct text){ LIT("Continue") };
    case 101: return (struct text){ LIT("Switching Protocols") };
    case 200: return (struct text){ LIT("OK") };
    case 201: return (struct text){ LIT("Created") };
    case 202: return (struct text){ LIT("Accepted") };
    case 204: return (struct text){ LIT("No Content") };
    case 206: return (struct text){ LIT("Partial Content") };
    case 300: return (struct text){ LIT("Multiple Choices") };
    case 301: return (struct text){ LIT("Moved Permanently") };
    case 302: return (struct text){ LIT("Found") };
    case 303: return (struct text){ LIT("See Other") };
    case 304: return (struct text){ LIT("Not Modified") };
    case 307: return (struct text){ LIT("Temporary Redirect") };
    case 308: return (struct text){ LIT("Permanent Redirect") };
    case 400: return (struct text){ LIT("Bad Request") };
    case 401: return (struct text){ LIT("Unauthorized") };
    case 403: return (struct text){ LIT("Forbidden") };
    case 404: return (struct text){ LIT("Not Found") };
    case 405: return (struct text){ LIT("Method Not Allowed") };
    case 406: return (struct text){ LIT("Not Acceptable") };
    case 408: return (struct text){ LIT("Request Timeout") };
    case 409: return (struct text){ LIT("Conflict") };
    case 410: return (struct text){ LIT("Gone") };
    case 411: return (struct text){ LIT("Length Required") };
    case 412: return (struct text){ LIT("Precondition Failed") };
    case 413: return (struct text){ LIT("Content Too Large") };
    case 414: return (struct text){ LIT("URI Too Long") };
    case 415: return (struct text){ LIT("Unsupported Media Type") };
    case 416: return (struct text){ LIT("Range Not Satisfiable") };
    case 417: return (struct text){ LIT("Expectation Failed") };
    case 418: return (struct text){ LIT("I'm a teapot") };
    case 421: return (struct text){ LIT("Misdirected Request") };
    case 422: return (struct text){ LIT("Unprocessable Content") };
    case 426: return (struct text){ LIT("Upgrade Required") };
    case 429: return (struct text){ LIT("Too Many Requests") };
    case 431: return (struct text){ LIT("Request Header Fields Too Large") };
    case 500: return (struct text){ LIT("Internal Server Error") };
    case 501: return (struct text){ LIT("Not Implemented") };
    case 502: return (struct text){ LIT("Bad Gateway") };
    case 503: return (struct text){ LIT("Service Unavailable") };
    case 504: return (struct text){ LIT("Gateway Timeout") };
    case 505: return (struct text){ LIT("HTTP Version Not Supported") };
    default: return (struct text){ LIT("Unknown") };
    }
}

const char http_continue[sizeof "HTTP/1.1 100 Continue\r\n\r\n"] =
    "HTTP/1.1 100 Continue\r\n\r\n";

const char *http_reason(int status)
{
    return reason(status).s;
}

bool http_status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

const struct http_conn_line http_conn_lines[4] = {
    [HTTP_CONN_NONE] = { LIT("") },
    [HTTP_CONN_CLOSE] = { LIT("Connection: close\r\n") },
    [HTTP_CONN_KEEP_ALIVE] = { LIT("Connection: keep-alive\r\n") },
    [HTTP_CONN_UPGRADE] = { LIT("Connection: upgrade\r\n") },
};
_Static_assert(HTTP_DATE_LEN == 29, "http_fixed_copy patches 29 bytes");

/* ------------------------------------------------------------------ */
/* The builder */

static const char date_placeholder[HTTP_DATE_LEN] = "xxx, xx xxx xxxx xx:xx:xx GMT";

static size_t digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *put_u64(char *p, uint64_t v)
{
    size_t n = digits(v);
    for (size_t i = n; i > 0; i--) {
        p[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

/* Status 100..999 always has three digits; anything else is a caller's
 * bug, written as 500 rather than as a malformed status line. */
static int valid_status(int status)
{
    return status >= 100 && status <= 999 ? status : 500;
}

size_t http_head_len(const struct http_head *h)
{
    int status = valid_status(h->status);
    size_t n = sizeof "HTTP/1.1 XXX \r\nServer: herd\r\nDate: \r\n" - 1 + reason(status).len +
               HTTP_DATE_LEN;
    if (h->type)
        n += sizeof "Content-Type: \r\n" - 1 + strlen(h->type);
    if (http_status_has_body(status) && h->length != HTTP_LENGTH_NONE)
        n += h->length < 0 ? sizeof "Transfer-Encoding: chunked\r\n" - 1
                           : sizeof "Content-Length: \r\n" - 1 + digits((uint64_t)h->length);
    for (size_t i = 0; i < h->n_fields; i++)
        n += h->fields[i].name_len + h->fields[i].value_len + sizeof ": \r\n" - 1;
    return n + h->extra_len + h->added_len + http_conn_lines[h->conn].len + 2;
}

/* Passed-through fields: out of line, so that the heads herd makes itself
 * (every request's) pay one test for them. */
__attribute__((noinline))
static char *put_fields(char *p, const struct http_header *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p = put(p, f[i].name, f[i].name_len);
        p = put(p, LIT(": "));
        p = put(p, f[i].value, f[i].value_len);
        p = put(p, LIT("\r\n"));
    }
    return p;
}

size_t http_head_write(char *out, const struct http_head *h, size_t *date_off)
{
    int status = valid_status(h->status);
    struct text r = reason(status);
    char *p = put(out, LIT("HTTP/1.1 "));
    p = put_u64(p, (uint64_t)status);
    *p++ = ' ';
    p = put(p, r.s, r.len);
    p = put(p, LIT("\r\nServer: herd\r\nDate: "));
    if (date_off)
        *date_off = (size_t)(p - out);
    p = put(p, h->date ? h->date : date_placeholder, HTTP_DATE_LEN);
    p = put(p, LIT("\r\n"));
    if (h->type) {
        p = put(p, LIT("Content-Type: "));
        p = put(p, h->type, strlen(h->type));
        p = put(p, LIT("\r\n"));
    }
    if (http_status_has_body(status) && h->length != HTTP_LENGTH_NONE) {
        if (h->length < 0) {
            p = put(p, LIT("Transfer-Encoding: chunked\r\n"));
        } else {
            p = put(p, LIT("Content-Length: "));
            p = put_u64(p, (uint64_t)h->length);
            p = put(p, LIT("\r\n"));
        }
    }
    if (h->extra_len)
        p = put(p, h->extra, h->extra_len);
    if (h->added_len)
        p = put(p, h->added, h->added_len);
    if (h->n_fields)
        p = put_fields(p, h->fields, h->n_fields);
    p = put(p, http_conn_lines[h->conn].s, http_conn_lines[h->conn].len);
    p = put(p, LIT("\r\n"));
    return (size_t)(p - out);
}

int http_response_send(struct conn *c, const struct http_head *h, const void *body,
                       size_t body_len)
{
    size_t head_len = http_head_len(h);
    char *p = conn_reserve(c, head_len + body_len);
    if (p == NULL)
        return -1;
    http_head_write(p, h, NULL);
    if (body_len)
        memcpy(p + head_len, body, body_len);
    conn_commit(c, head_len + body_len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Responses built at load */

int http_fixed_build(struct http_fixed *f, int status, const char *type, const char *body,
                     size_t body_len, const char *extra)
{
    memset(f, 0, sizeof *f);
    f->status = status;
    if (!http_status_has_body(status))
        body_len = 0;
    struct http_head h = {
        .status = status, .type = type, .length = (int64_t)body_len,
        .extra = extra, .extra_len = extra ? strlen(extra) : 0, .conn = HTTP_CONN_NONE,
    };
    size_t len = http_head_len(&h);
    f->head = malloc(len);
    if (f->head == NULL)
        return -1;
    /* Without the blank line: the Connection line goes there when sent. */
    f->head_len = http_head_write(f->head, &h, &f->date_off) - 2;
    if (body_len) {
        f->body = malloc(body_len);
        if (f->body == NULL) {
            http_fixed_free(f);
            return -1;
        }
        memcpy(f->body, body, body_len);
        f->body_len = body_len;
    }
    return 0;
}

int http_fixed_build_error(struct http_fixed *f, int status)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
                     "<body><h1>%d %s</h1><hr><p>herd</p></body></html>\n",
                     status, http_reason(status), status, http_reason(status));
    return http_fixed_build(f, status, "text/html", body, (size_t)n, NULL);
}

void http_fixed_free(struct http_fixed *f)
{
    free(f->head);
    free(f->body);
    f->head = f->body = NULL;
}

int http_fixed_send(struct conn *c, const struct http_fixed *f, bool with_body,
                    enum http_conn_header ch, const char *date)
{
    size_t total = http_fixed_size(f, with_body, ch);
    char *p = conn_reserve(c, total);
    if (p == NULL)
        return -1;
    http_fixed_copy(p, f, with_body, ch, date);
    conn_commit(c, total);
    return 0;
}
