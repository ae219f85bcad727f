/* Inside the HTTP protocol: what server.c (the connection), exchange.c
 * (a request: parse -> select -> dispatch), kept.c (exchanges that outlive
 * a callback), req.c (answers and logging) and the handlers share. Not for
 * use outside src/http/. */
#ifndef HERD_HTTP_SERVER_H
#define HERD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "http/config.h"
#include "http/error_pages.h"
#include "http/handler.h"
#include "http/parse.h"
#include "http/req.h"
#include "http/route.h"
#include "loop.h"
#include "proto.h"
#include "stats.h"

struct access_log;
struct http_kept;
struct mime_table;
struct http_realip;

/* One server's HTTP state, built once per worker. */
struct http_server {
    const struct cfg_server *cfg;
    const struct cfg_http *conf;    /* its HTTP keys */
    struct http_routes routes;
    struct http_error_pages errors;
    struct http_limits lim;
    struct http_header *headers;    /* scratch for the head parser */
    char *path;                     /* scratch for the normalised path */
    size_t path_cap;
    struct mime_table *mime;
    struct access_log *log;         /* NULL when off */
    struct http_realip *realip;     /* NULL: the connection's client is the request's */
    /* Kept exchanges of connections whose default server this is (their
     * heads were parsed with its limits, which size a kept request). */
    struct http_kept *kept_free;
    size_t n_kept_free;
};

/*   IDLE ──first byte──► HEAD ──complete head──► answered at once ──► IDLE
 *                                   │                  └─ a body ─► DISCARD ─► IDLE
 *                                   └─ kept (pending, body) ─► EXCHANGE ─► IDLE */
enum http_phase {
    HP_IDLE,
    HP_HEAD,        /* reading a head; header deadline armed once */
    HP_DISCARD,     /* dropping a Content-Length body after the answer */
    HP_EXCHANGE,    /* a kept exchange: pending answer, or a body being read */
};

/* The protocol state in struct conn: what an idle connection costs. */
struct http_conn {
    struct http_kept *kept;         /* HP_EXCHANGE */
    union {
        uint64_t body_left;         /* HP_DISCARD */
        int64_t header_deadline;    /* HP_HEAD */
    } u;
    uint32_t requests;
    uint32_t parsed_len;            /* resume point for the head parser */
    uint8_t phase;                  /* enum http_phase */
};

static inline struct http_conn *http_conn_of(struct conn *c)
{
    return (struct http_conn *)c->proto_state;
}

/* Deadline kinds (conn.h): the whole request head must arrive by then;
 * between two reads of a body; idle between requests; draining: an idle
 * connection's last chance. */
enum { HTTP_TIMER_HEADER = CONN_TIMER_PROTO, HTTP_TIMER_BODY, HTTP_TIMER_KEEPALIVE,
       HTTP_TIMER_GRACE };

/* What HTTP takes from the connection's owner (the worker, or a test). */
static inline struct loop *http_loop(const struct conn *c)
{
    return c->owner->loop;
}

static inline struct stats_block *http_stats(const struct conn *c)
{
    return c->owner->stats;
}

static inline const struct stats_page *http_stats_page(const struct conn *c)
{
    return c->owner->page;
}

/* Where the responses of the exchange's server are counted: c->srv is that
 * server from the choice of the virtual host to the end of the exchange. */
static inline size_t http_server_index(const struct conn *c)
{
    return c->srv->index;
}

/* server.c */
/* Run the read side again from outside the connection's callbacks (a
 * pending answer is complete, a paused body resumes), then its I/O. */
void http_conn_wake(struct conn *c);

static inline void http_conn_count_request(struct conn *c)
{
    http_conn_of(c)->requests++;
    stats_add(http_stats(c), STAT_REQUESTS, 1);
}

/* When the current request's head began (ms, loop clock). */
static inline int64_t http_conn_started(struct conn *c)
{
    struct http_conn *hc = http_conn_of(c);
    return hc->phase == HP_HEAD ? hc->u.header_deadline - http_config(c->srv->cfg)->header_timeout
                                : loop_now(http_loop(c));
}

/* exchange.c */
/* A complete head of head_len bytes is at the front of c->in. */
void http_exchange_begin(struct conn *c, const struct http_request *head, size_t head_len);
/* Answer status with the error page and close (the connection cannot be
 * trusted, or the exchange cannot go on); the reason goes to the error log:
 * a failure of the server (500) at error, what the client sent at info. */
void http_exchange_fail(struct http_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Call the handler's start; HTTP_ANSWERED completes the exchange. */
enum http_start http_exchange_start(struct http_req *req);

/* kept.c */
/* Keep req (its head of head_len bytes at the front of c->in, then
 * consumed) for an exchange that outlives this callback: a handler that
 * may answer later or takes a body, or a chunked body read before start. */
void http_kept_begin(const struct http_req *req, size_t head_len);
/* Feed the body, notice the end of the exchange. Returns true when the
 * connection may read the next request, false while the exchange waits. */
bool http_kept_run(struct conn *c);
/* Does the kept exchange want body bytes from the client now? */
bool http_kept_reading(struct conn *c);
/* The exchange's answer is complete (http_req_done). */
void http_kept_answered(struct http_req *req);
void http_kept_resume(struct http_req *req);
/* The exchange becomes a tunnel (http_req_tunnel). */
void http_kept_tunnel(struct http_req *req);
/* The connection ends (closed, timed out): abort an unanswered exchange
 * and log it with status. */
void http_kept_end(struct conn *c, int status);
void http_kept_pool_free(struct http_server *s);

/* req.c */
/* Count the answer and write its access-log line. */
void http_req_log(const struct http_req *req);

/* A new exchange on c, answered by s until the request names its host.
 * Field by field rather than a zeroed struct: this runs per request. */
static inline void http_req_init(struct http_req *req, struct conn *c,
                                 const struct http_server *s, const struct http_request *head)
{
    req->conn = c;
    req->server = s;
    req->route = NULL;
    req->handler = NULL;
    req->conf = NULL;
    req->ctx = NULL;
    req->head = head;
    req->f.host = NULL;             /* the framing is filled by the checks */
    req->f.host_len = 0;
    req->f.method = HTTP_METHOD_UNKNOWN;
    req->path = NULL;
    req->path_len = 0;
    req->captures = NULL;
    req->client = c->peer;
    req->started = http_conn_started(c);
    req->body_bytes = req->bytes_sent = 0;
    req->upstream_addr = NULL;
    req->user = NULL;
    req->limit_held = 0;
    req->status = 0;
    req->keep = false;
    req->with_body = true;
    req->state = HTTP_REQ_NEW;
}

/* The answer is complete: log it once; a kept exchange moves on. */
static inline void http_req_answered(struct http_req *req)
{
    if (req->state >= HTTP_REQ_ANSWERED)
        return;
    req->state = HTTP_REQ_ANSWERED;
    http_req_log(req);
    if (http_conn_of(req->conn)->kept != NULL)
        http_kept_answered(req);
}

#endif
