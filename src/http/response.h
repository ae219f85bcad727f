/* Responses built whole when the configuration loads: status line, headers
 * and body in one block; sending one copies it behind the output and patches
 * the 29 bytes of the Date header. */
#ifndef HERD_HTTP_RESPONSE_H
#define HERD_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>

struct conn;

struct http_fixed {
    char *head;             /* status line and headers, without the blank line */
    size_t head_len;
    size_t date_off;        /* where the Date value sits in head */
    char *body;
    size_t body_len;
    int status;
};

enum http_conn_header { HTTP_CONN_NONE, HTTP_CONN_CLOSE, HTTP_CONN_KEEP_ALIVE };

const char *http_reason(int status);
/* "HTTP/1.1 STATUS REASON", Server and Date lines into out; the bytes
 * written, or 0 if cap is too small. For heads built per request. */
size_t http_head_start(char *out, size_t cap, int status, const char *date);
/* "Connection: close\r\n", "Connection: keep-alive\r\n" or "". */
const char *http_conn_header_line(enum http_conn_header ch);

/* Build a response; extra is more header lines ("Name: value\r\n"...) or
 * NULL. Returns 0 or -1 (out of memory). */
int http_fixed_build(struct http_fixed *f, int status, const char *type,
                     const char *body, size_t body_len, const char *extra);
/* The small HTML page herd answers errors with. */
int http_fixed_build_error(struct http_fixed *f, int status);
/* Length of what http_fixed_send writes. */
size_t http_fixed_size(const struct http_fixed *f, bool with_body, enum http_conn_header ch);
void http_fixed_free(struct http_fixed *f);

/* Append f to c's output, the body only when with_body. Returns 0 or -1. */
int http_fixed_send(struct conn *c, const struct http_fixed *f, bool with_body,
                    enum http_conn_header ch, const char *date);

#endif
