/* Response heads, built by one function (http_head_write) for every answer
 * herd gives: handlers, error pages, fixed replies. Fixed responses (a
 * route's `return`, error pages, 405s) are built whole when the
 * configuration loads, by the same function; sending one copies it behind
 * the output and patches the 29 bytes of the Date header.
 *
 * The rules, written once here:
 *   - "HTTP/1.1 STATUS REASON", then "Server: herd" and "Date: IMF-fixdate";
 *   - Content-Type when there is one;
 *   - Content-Length, or "Transfer-Encoding: chunked"; neither for 1xx, 204
 *     and 304, which never carry a body (http_status_has_body), nor for
 *     HTTP_LENGTH_NONE;
 *   - the caller's extra lines ("Name: value\r\n" each), then the route's
 *     configured headers (added), then the fields it passes through (a
 *     proxied response's, already filtered);
 *   - "Connection: close", "Connection: keep-alive" (an HTTP/1.0 client that
 *     asked for it), "Connection: upgrade" (a 101 that opens a tunnel) or
 *     nothing (HTTP/1.1 persists by default);
 *   - the blank line.
 * A HEAD request gets the head a GET would get, Content-Length included,
 * and no body: the senders take `with_body`. */
#ifndef HERD_HTTP_RESPONSE_H
#define HERD_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct conn;
struct http_header;

enum http_conn_header { HTTP_CONN_NONE, HTTP_CONN_CLOSE, HTTP_CONN_KEEP_ALIVE,
                        HTTP_CONN_UPGRADE };

/* http_head.length for a body of unknown length, sent in chunks. */
#define HTTP_LENGTH_CHUNKED (-1)
/* http_head.length when the head announces no length at all: a body that
 * ends when the connection closes (a proxied HTTP/1.0 client's), or a HEAD
 * answer whose GET length is unknown. */
#define HTTP_LENGTH_NONE (-2)

struct http_head {
    int status;
    const char *date;           /* HTTP_DATE_LEN bytes; NULL: a placeholder
                                   (a prebuilt head, patched when sent) */
    const char *type;           /* Content-Type value, or NULL */
    int64_t length;             /* the body's length (for HEAD, the length a
                                   GET gets), or HTTP_LENGTH_CHUNKED */
    const char *extra;          /* more header lines, or NULL */
    size_t extra_len;
    const char *added;          /* the route's headers (http/headers.h) */
    size_t added_len;
    const struct http_header *fields;   /* fields passed through, written
                                           "name: value" after extra */
    size_t n_fields;
    enum http_conn_header conn;
};

/* The interim answer to "Expect: 100-continue": the status line alone, as
 * clients expect it (an interim response needs no fields). */
extern const char http_continue[sizeof "HTTP/1.1 100 Continue\r\n\r\n"];

/* The reason phrase of a status ("Unknown" for one herd does not know). */
const char *http_reason(int status);
/* 1xx, 204 and 304 have no body (and no Content-Length). */
bool http_status_has_body(int status);

/* The exact length of the head http_head_write writes for h. */
size_t http_head_len(const struct http_head *h);
/* Write the head of h, from the status line to the blank line, at out
 * (http_head_len(h) bytes). Returns the bytes written; *date_off (when not
 * NULL) is where the Date value starts. */
size_t http_head_write(char *out, const struct http_head *h, size_t *date_off);

/* Append the head of h and then body[0..body_len) (pass 0 for HEAD, or
 * for a body sent some other way) to c's output, in one piece so that a
 * small response leaves in one send. Returns 0 or -1 (the connection is
 * closing). */
int http_response_send(struct conn *c, const struct http_head *h, const void *body,
                       size_t body_len);

/* A response built at load: the head without its Connection line and blank
 * line (they depend on the request), and the body. */
struct http_fixed {
    char *head;
    size_t head_len;
    size_t date_off;            /* where the Date value sits in head */
    char *body;                 /* none for statuses without a body */
    size_t body_len;
    int status;
};

/* Build a response; extra is more header lines ("Name: value\r\n"...) or
 * NULL. Returns 0 or -1 (out of memory). */
int http_fixed_build(struct http_fixed *f, int status, const char *type,
                     const char *body, size_t body_len, const char *extra);
/* The small HTML page herd answers errors with. */
int http_fixed_build_error(struct http_fixed *f, int status);
void http_fixed_free(struct http_fixed *f);

/* The Connection lines, by enum http_conn_header. */
extern const struct http_conn_line {
    const char *s;
    size_t len;
} http_conn_lines[4];

/* Length of what http_fixed_copy writes. */
static inline size_t http_fixed_size(const struct http_fixed *f, bool with_body,
                                     enum http_conn_header ch)
{
    return f->head_len + http_conn_lines[ch].len + 2 + (with_body ? f->body_len : 0);
}

/* Write f at out (http_fixed_size bytes) with the Date value date (the
 * body only when with_body). Inline: every fixed answer runs it. */
static inline void http_fixed_copy(char *out, const struct http_fixed *f, bool with_body,
                                   enum http_conn_header ch, const char *date)
{
    memcpy(out, f->head, f->head_len);
    memcpy(out + f->date_off, date, 29);        /* HTTP_DATE_LEN */
    char *p = out + f->head_len;
    if (ch != HTTP_CONN_NONE) {
        memcpy(p, http_conn_lines[ch].s, http_conn_lines[ch].len);
        p += http_conn_lines[ch].len;
    }
    memcpy(p, "\r\n", 2);
    if (with_body && f->body_len)
        memcpy(p + 2, f->body, f->body_len);
}
/* Append f to c's output. Returns 0 or -1 (the connection is closing). */
int http_fixed_send(struct conn *c, const struct http_fixed *f, bool with_body,
                    enum http_conn_header ch, const char *date);

#endif
