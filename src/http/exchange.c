/* A request from its complete head to its handler:
 *
 *   parse (server.c) -> frame -> select (virtual host, path, route, access
 *   list, method) -> dispatch (at once, or kept for a pending answer or a
 *   body) -> the handler's start -> the access-log line.
 *
 * OPTIONS * and CONNECT (authority-form) name no resource: the server as a
 * whole answers them, with the prebuilt replies of its routes. Answers that
 * are not a handler's (404, 403, 405) go through the `return` handler with
 * the server's prebuilt page, so every answer takes one path.
 * Tested by tests/unit/check_http_exchange.c. */
#include <assert.h>
#include <stdarg.h>

#include "http/auth.h"
#include "http/handler.h"
#include "http/limit.h"
#include "http/path.h"
#include "http/realip.h"
#include "http/refusal.h"
#include "http/server.h"
#include "http/vhost.h"

void http_exchange_fail(struct http_req *req, int status, const char *fmt, ...)
{
    struct conn *c = req->conn;
    va_list ap;
    va_start(ap, fmt);
    http_req_vrefusal(req, status == 500 ? LOG_ERROR : LOG_INFO, status, fmt, ap);
    va_end(ap);
    /* The page goes whole, also to a HEAD: a refused request is not trusted
     * to be what it says, and the connection ends with it. */
    req->keep = false;
    req->with_body = true;
    http_req_send_fixed(req, http_error_page(&req->server->errors, status));
    req->state = HTTP_REQ_ANSWERED;
    http_req_log(req);
    http_conn_of(c)->phase = HP_IDLE;
    conn_set_gauge(c, CONN_GAUGE_WRITING);
    conn_linger(c);
}

enum http_start http_exchange_start(struct http_req *req)
{
    req->state = HTTP_REQ_STARTED;
    enum http_start rc = req->handler->start(req);
    if (rc == HTTP_ANSWERED)
        http_req_answered(req);
    else if (req->state == HTTP_REQ_STARTED)
        req->state = HTTP_REQ_PENDING;
    return rc;
}

/* ------------------------------------------------------------------ */
/* frame: is the message sound, which server, may the connection go on */

/* On TLS, the server Host chose must be one the handshake's certificate
 * covers (conn_covers). */
static bool covered(const struct conn *c)
{
    for (size_t i = 0; i < c->n_vhosts; i++)
        if (c->vhosts[i] == c->srv)
            return conn_covers(c, i);
    return true;
}

static int frame(struct http_req *req)
{
    struct conn *c = req->conn;
    int status = http_request_check(req->head, &req->f);
    if (status != 0) {
        http_exchange_fail(req, status, "%s", req->f.why);
        return -1;
    }
    /* From here on the chosen server's settings apply. */
    c->srv = http_vhost_choose(c->vhosts, c->n_vhosts, req->f.host, req->f.host_len);
    req->server = c->srv->data;
    if (req->server->realip)
        http_realip_apply(req->server->realip, req);
    if (c->n_vhosts > 1 && !covered(c)) {
        http_exchange_fail(req, 421, "Host names a server whose certificate the TLS "
                           "handshake did not present (SNI named another)");
        return -1;
    }
    const struct cfg_http *cfg = req->server->conf;
    const struct http_framing *f = &req->f;
    /* max_body 0 forbids bodies; the chunked decoder's 0 would mean no limit. */
    if (f->chunked && cfg->max_body == 0) {
        http_exchange_fail(req, 413, "chunked body, but max_body is 0");
        return -1;
    }
    if (f->has_length && f->content_length > (uint64_t)cfg->max_body) {
        http_exchange_fail(req, 413, "Content-Length %llu is over max_body %lld",
                           (unsigned long long)f->content_length, (long long)cfg->max_body);
        return -1;
    }
    req->keep = f->keep_alive && !c->draining && cfg->keepalive_timeout > 0 &&
                http_conn_of(c)->requests < (uint64_t)cfg->keepalive_requests;
    req->with_body = f->method != HTTP_HEAD;
    return 0;
}

/* ------------------------------------------------------------------ */
/* select: the handler and its state for this request */

static bool is_server_wide(const struct http_req *req)
{
    const struct http_request *h = req->head;
    return req->f.method == HTTP_CONNECT ||
           (req->f.method == HTTP_OPTIONS && h->target_len == 1 && h->target[0] == '*');
}

static void answer_with(struct http_req *req, const struct http_fixed *f)
{
    req->handler = &http_handler_return;
    req->conf = f;
}

static bool permitted(struct http_req *req, const struct http_route *r)
{
    if (r->n_allow == 0 && r->n_deny == 0)
        return true;
    struct sockaddr_storage peer;
    conn_peer_to_sockaddr(&req->client, &peer);
    if (http_route_permits(r, (const struct sockaddr *)&peer))
        return true;
    http_req_refusal(req, LOG_INFO, 403, "access forbidden by rule");
    return false;
}

/* Basic authentication: a request without credentials is answered 401
 * quietly (a browser asks first without them); wrong or malformed ones are
 * logged as refusals. */
static bool authenticated(struct http_req *req, const struct http_route *r)
{
    if (r->auth == NULL)
        return true;
    enum http_auth_result rc = http_auth_check(r->auth, req->head, http_req_now(req), &req->user);
    if (rc == HTTP_AUTH_OK)
        return true;
    if (rc != HTTP_AUTH_NONE)
        http_req_refusal(req, LOG_INFO, 401, "%s", rc == HTTP_AUTH_MALFORMED
                                                       ? "malformed Authorization header"
                                                       : "unknown user or wrong password");
    return false;
}

static int select_route(struct http_req *req)
{
    const struct http_server *s = req->server;
    const struct http_request *h = req->head;
    size_t len;
    int rc = http_path_normalize(h->target, h->target_len, s->path, s->path_cap, &len, NULL, NULL);
    if (rc < 0) {
        if (rc == -2 || !is_server_wide(req)) {
            http_exchange_fail(req, rc == -2 ? 414 : 400, "%s",
                               rc == -2 ? "path longer than max_target"
                                        : "malformed path (bad escape, NUL, or .. above the root)");
            return -1;
        }
        /* OPTIONS * or CONNECT: no path (every path has at least "/"). */
        answer_with(req, req->f.method == HTTP_CONNECT ? &s->routes.connect : &s->routes.options);
        return 0;
    }
    req->path = s->path;
    req->path_len = len;
    const struct http_route *r = req->route =
        http_route_find(&s->routes, s->path, len, &req->captures);
    if (r == NULL)
        answer_with(req, http_error_page(&s->errors, 404));
    else if (!permitted(req, r))
        answer_with(req, http_error_page(&s->errors, 403));
    else if (!authenticated(req, r))
        answer_with(req, http_auth_challenge(r->auth));
    else if (!http_route_allows_method(r, req->f.method))
        answer_with(req, &r->not_allowed);
    else if (r->limit && !http_limit_admit(r->limit, req))
        return 0;                       /* answered by http_handler_limited */
    else {
        req->handler = r->handler;
        req->conf = r->state;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* dispatch */

/* A handler that may answer later, or takes a body, or a chunked body to
 * read before the answer: the exchange outlives this call (kept.c). Else
 * the handler answers now, with the request on the stack; a Content-Length
 * body is discarded afterwards (its size was checked from the head). */
static void dispatch(struct http_req *req, size_t head_len)
{
    struct conn *c = req->conn;
    if (req->handler->abort || req->f.chunked) {
        http_kept_begin(req, head_len);
        return;
    }
    bool body = req->f.has_length && req->f.content_length > 0;
    if (req->keep && body && req->f.expect_continue)
        conn_write(c, http_continue, sizeof http_continue - 1);
    /* Not http_exchange_start: this exchange is on the stack, never kept. */
    req->state = HTTP_REQ_STARTED;
    enum http_start rc = req->handler->start(req);
    assert(rc == HTTP_ANSWERED);        /* only handlers with abort may pend */
    (void)rc;
    if (req->state < HTTP_REQ_ANSWERED) {  /* unless it said so (http_req_done) */
        req->state = HTTP_REQ_ANSWERED;
        http_req_log(req);
    }
    conn_set_gauge(c, CONN_GAUGE_WRITING);
    buf_consume(c->in, head_len);

    struct http_conn *hc = http_conn_of(c);
    hc->phase = HP_IDLE;
    if (!req->keep) {
        /* Whatever follows (a body, more requests) is read and dropped by
         * the lingering close. */
        if (body)
            conn_linger(c);
        else
            conn_close_after_flush(c);
        return;
    }
    if (body) {
        hc->phase = HP_DISCARD;
        hc->u.body_left = req->f.content_length;
        conn_set_timer(c, HTTP_TIMER_BODY, req->server->conf->body_timeout);
    }
}

void http_exchange_begin(struct conn *c, const struct http_request *head, size_t head_len)
{
    struct http_req req;
    http_req_init(&req, c, c->srv->data, head);
    http_conn_count_request(c);
    if (frame(&req) < 0 || select_route(&req) < 0)
        return;
    dispatch(&req, head_len);
}
