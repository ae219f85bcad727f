#include "http/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "http/date.h"

struct reason {
    int status;
    const char *text;
};

static const struct reason reasons[] = {
    { 100, "Continue" }, { 101, "Switching Protocols" },
    { 200, "OK" }, { 201, "Created" }, { 202, "Accepted" }, { 204, "No Content" },
    { 206, "Partial Content" },
    { 300, "Multiple Choices" }, { 301, "Moved Permanently" }, { 302, "Found" },
    { 303, "See Other" }, { 304, "Not Modified" }, { 307, "Temporary Redirect" },
    { 308, "Permanent Redirect" },
    { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
    { 404, "Not Found" }, { 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
    { 408, "Request Timeout" }, { 409, "Conflict" }, { 410, "Gone" },
    { 411, "Length Required" }, { 412, "Precondition Failed" },
    { 413, "Content Too Large" }, { 414, "URI Too Long" },
    { 415, "Unsupported Media Type" }, { 416, "Range Not Satisfiable" },
    { 417, "Expectation Failed" }, { 418, "I'm a teapot" }, { 421, "Misdirected Request" },
    { 422, "Unprocessable Content" }, { 426, "Upgrade Required" },
    { 429, "Too Many Requests" }, { 431, "Request Header Fields Too Large" },
    { 500, "Internal Server Error" }, { 501, "Not Implemented" }, { 502, "Bad Gateway" },
    { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
    { 505, "HTTP Version Not Supported" },
};

const char *http_reason(int status)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].text;
    return "Unknown";
}

size_t http_head_start(char *out, size_t cap, int status, const char *date)
{
    int n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nServer: herd\r\nDate: %s\r\n", status,
                     http_reason(status), date);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int http_fixed_build(struct http_fixed *f, int status, const char *type, const char *body,
                     size_t body_len, const char *extra)
{
    memset(f, 0, sizeof *f);
    f->status = status;
    size_t cap = 256 + (type ? strlen(type) : 0) + (extra ? strlen(extra) : 0);
    f->head = malloc(cap);
    if (f->head == NULL)
        return -1;
    char date_placeholder[HTTP_DATE_LEN + 1];
    memset(date_placeholder, 'x', HTTP_DATE_LEN);
    date_placeholder[HTTP_DATE_LEN] = '\0';
    int n = snprintf(f->head, cap, "HTTP/1.1 %d %s\r\nServer: herd\r\nDate: ", status,
                     http_reason(status));
    f->date_off = (size_t)n;
    n += snprintf(f->head + n, cap - (size_t)n, "%s\r\n", date_placeholder);
    if (type)
        n += snprintf(f->head + n, cap - (size_t)n, "Content-Type: %s\r\n", type);
    if (extra)
        n += snprintf(f->head + n, cap - (size_t)n, "%s", extra);
    n += snprintf(f->head + n, cap - (size_t)n, "Content-Length: %zu\r\n", body_len);
    f->head_len = (size_t)n;
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

static const char conn_close[] = "Connection: close\r\n";
static const char conn_keep[] = "Connection: keep-alive\r\n";

const char *http_conn_header_line(enum http_conn_header ch)
{
    return ch == HTTP_CONN_CLOSE ? conn_close : ch == HTTP_CONN_KEEP_ALIVE ? conn_keep : "";
}

size_t http_fixed_size(const struct http_fixed *f, bool with_body, enum http_conn_header ch)
{
    return f->head_len + strlen(http_conn_header_line(ch)) + 2 + (with_body ? f->body_len : 0);
}

int http_fixed_send(struct conn *c, const struct http_fixed *f, bool with_body,
                    enum http_conn_header ch, const char *date)
{
    const char *extra = ch == HTTP_CONN_CLOSE ? conn_close
                      : ch == HTTP_CONN_KEEP_ALIVE ? conn_keep : "";
    size_t extra_len = ch == HTTP_CONN_CLOSE ? sizeof conn_close - 1
                     : ch == HTTP_CONN_KEEP_ALIVE ? sizeof conn_keep - 1 : 0;
    size_t body_len = with_body ? f->body_len : 0;
    size_t total = f->head_len + extra_len + 2 + body_len;
    char *p = conn_reserve(c, total);
    if (p == NULL)
        return -1;
    memcpy(p, f->head, f->head_len);
    memcpy(p + f->date_off, date, HTTP_DATE_LEN);
    memcpy(p + f->head_len, extra, extra_len);
    memcpy(p + f->head_len + extra_len, "\r\n", 2);
    if (body_len)
        memcpy(p + f->head_len + extra_len + 2, f->body, body_len);
    conn_commit(c, total);
    return 0;
}
