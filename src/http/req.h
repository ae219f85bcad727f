/* One HTTP exchange: the parsed head, the server and route chosen for it,
 * and the state of its answer. Handlers see it and answer through it: the
 * exchange supplies what every response shares (Date, Connection, HEAD
 * without a body, the access-log figures).
 *
 *   NEW ──start──► STARTED ──start returns HTTP_PENDING──► PENDING
 *                     │                                      │
 *                     └──HTTP_ANSWERED──► ANSWERED ◄──done───┘
 *   STARTED/PENDING ──client gone, connection failed, bad body──► ABORTED
 *
 * The access-log line is written when the exchange reaches ANSWERED or
 * ABORTED (status 499 when the client went away unanswered, as nginx does),
 * whichever handler ran. */
#ifndef HERD_HTTP_REQ_H
#define HERD_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conn.h"
#include "http/request.h"
#include "http/response.h"

struct conn;
struct http_captures;
struct http_handler;
struct http_route;
struct http_server;

enum http_req_state { HTTP_REQ_NEW, HTTP_REQ_STARTED, HTTP_REQ_PENDING, HTTP_REQ_ANSWERED,
                      HTTP_REQ_ABORTED };

/* Logged for an exchange whose client went away before it was answered. */
#define HTTP_STATUS_CLIENT_GONE 499

struct http_req {
    struct conn *conn;
    const struct http_server *server;   /* chosen by the host the request names */
    const struct http_route *route;     /* NULL: no route (errors, OPTIONS *, CONNECT) */
    const struct http_handler *handler;
    const void *conf;                   /* the handler's state for this route */
    void *ctx;                          /* the handler's own, while it is pending */
    const struct http_request *head;    /* NULL when no head was understood */
    struct http_framing f;              /* zero when no head was understood */
    const char *path;                   /* decoded and normalised; NULL when the
                                           target names no resource */
    size_t path_len;
    const struct http_captures *captures;   /* a regex route's, or NULL */
    /* The client: the connection's, or the one its server's real_ip
     * names (http/realip.h). $remote_addr, allow/deny, logs and proxied
     * X-Forwarded-For use this. */
    struct conn_peer client;
    int64_t started;                    /* ms (loop clock): the head's first byte */
    uint64_t body_bytes;                /* response body bytes queued */
    uint64_t bytes_sent;                /* response bytes queued, head included */
    int status;                         /* of the answer; 0 until one is sent */
    /* Proxied: the upstream server asked last, else NULL (then the two
     * after it are not read); its response's status (0: none yet) and
     * the time from the first attempt to its response's end (ms, -1). */
    const char *upstream_addr;
    int upstream_status;
    int64_t upstream_ms;
    const char *user;                   /* authenticated ($remote_user); NULL: none */
    uint64_t limit_held;                /* the limit key it is counted in flight
                                           under (http/limit.h); 0: none */
    int64_t limit_wait;                 /* refused by a limit: Retry-After seconds */
    bool keep;                          /* the connection persists afterwards */
    bool with_body;                     /* false for HEAD */
    uint8_t state;                      /* enum http_req_state */
};

/* The loop's clock (ms) and the Date header value of this second. */
int64_t http_req_now(const struct http_req *req);
const char *http_req_date(const struct http_req *req);
/* The wall clock of this second (what the Date header says). */
time_t http_req_time(const struct http_req *req);
/* The query of the target (after '?'), or NULL. */
const char *http_req_query(const struct http_req *req, size_t *len);

/* Answer with h (status, type, length, extra lines; Date and Connection are
 * the exchange's) and body[0..len), which is dropped for HEAD and for
 * statuses without a body. Returns 0 or -1 (the connection is closing). */
int http_req_respond(struct http_req *req, struct http_head *h, const void *body, size_t len);
/* After a head announcing them: the bytes [off, end) of fd, sent with
 * sendfile (the connection closes fd; so does HEAD, at once). */
void http_req_send_file(struct http_req *req, int fd, int64_t off, int64_t end);
/* A response built at load. */
int http_req_send_fixed(struct http_req *req, const struct http_fixed *f);
/* The server's page for an error status (405: the route's, with its Allow
 * line). */
int http_req_error(struct http_req *req, int status);

/* A pending handler's answer is complete (all of it queued). */
void http_req_done(struct http_req *req);
/* A handler that paused the body (took fewer bytes than offered) wants the
 * rest. */
void http_req_body_resume(struct http_req *req);
/* A pending handler that answered with an upgrade (101) takes the
 * connection as a byte stream: from now on every byte the client sends
 * goes to its body callback as it arrives (with the same back-pressure);
 * when the client ends its sending (a half-close), the body callback gets
 * (NULL, 0) once and the connection stays open for what the handler still
 * sends (conn_shutdown_after_flush passes the handler's own end on); a
 * client whose connection breaks aborts the exchange; the connection
 * closes once the handler calls http_req_done(). */
void http_req_tunnel(struct http_req *req);

#endif
