/* The HTTP/1.1 protocol on one connection.
 *
 *   IDLE ──first byte──► HEAD ──complete head──► exchange.c ──► IDLE
 *    ▲   (header deadline armed once)    │ answered, a body follows: DISCARD
 *    │                                   │ kept (pending, body): EXCHANGE
 *    └───────────── body dropped / kept exchange over ◄──────────┘
 *
 * Every complete request already in the input is answered before the
 * connection layer flushes, so pipelined requests leave in one write. Parsing
 * stops while the output is above its high-water mark, a file is being sent
 * or an exchange is kept (a later answer must not be overtaken). Parse
 * errors are answered with Connection: close. While the worker drains, every
 * answer carries Connection: close and a connection idle at that moment gets
 * a short grace before it is closed, so a request already on the wire is
 * still answered.
 * Tested by tests/unit/check_http_server.c (over a socketpair with a real loop)
 * and the integration tests. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "http/access_log.h"
#include "http/mime.h"
#include "http/realip.h"
#include "http/refusal.h"
#include "http/server.h"
#include "log.h"
#include "proto.h"

#define HTTP_GRACE_MS 1000

/* An idle connection's cost: the HTTP state is this, and no buffer. */
_Static_assert(sizeof(struct http_conn) <= 32, "the HTTP state of a connection stays small");
_Static_assert(sizeof(struct http_conn) <= CONN_PROTO_STATE, "fits in the connection");

/* ------------------------------------------------------------------ */
/* Per-server state */

static void http_server_free(void *p)
{
    struct http_server *s = p;
    if (s == NULL)
        return;
    http_routes_free(&s->routes);
    http_error_pages_free(&s->errors);
    access_log_free(s->log);
    mime_free(s->mime);
    http_kept_pool_free(s);
    http_realip_free(s->realip);
    free(s->headers);
    free(s->path);
    free(s);
}

static void *http_server_new(const struct cfg_server *cfg, int log_fd, char *err, size_t errcap)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        if (log_fd >= 0)
            close(log_fd);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    const struct cfg_http *h = s->conf = http_config(cfg);
    s->cfg = cfg;
    if (log_fd >= 0 &&
        (s->log = access_log_new(log_fd, h->access_log, h->access_log_format)) == NULL) {
        close(log_fd);
        goto oom;
    }
    s->lim.max_target = (size_t)h->max_target;
    s->lim.max_header_size = (size_t)h->max_header_size;
    s->lim.max_headers = (size_t)h->max_headers;
    s->headers = calloc(s->lim.max_headers, sizeof *s->headers);
    s->path_cap = s->lim.max_target + 1;
    s->path = malloc(s->path_cap);
    s->mime = mime_load(NULL);
    if (s->headers == NULL || s->path == NULL || s->mime == NULL)
        goto oom;
    if (h->real_ip && (s->realip = http_realip_new(h->real_ip)) == NULL)
        goto oom;
    if (http_error_pages_build(&s->errors, h, err, errcap) < 0 ||
        http_routes_build(&s->routes, h, s->mime, http_error_page(&s->errors, 405), err,
                          errcap) < 0)
        goto fail;
    return s;
oom:
    snprintf(err, errcap, "out of memory building the http server");
fail:
    http_server_free(s);
    return NULL;
}

static void http_tick(void *p, int64_t now_ms)
{
    struct http_server *s = p;
    if (s->log)
        access_log_flush(s->log, now_ms);
    http_refusal_tick(now_ms);
}

static void http_reopen_log(void *p, int fd)
{
    struct http_server *s = p;
    if (s->log)
        access_log_set_fd(s->log, fd);
    else
        close(fd);
}

/* ------------------------------------------------------------------ */
/* Reading requests */

static void start_head(struct conn *c, struct http_conn *hc)
{
    /* Until a request names its host, the default server's limits apply. */
    c->srv = c->vhosts[0];
    const struct cfg_http *cfg = http_config(c->srv->cfg);
    hc->phase = HP_HEAD;
    hc->parsed_len = 0;
    hc->u.header_deadline = loop_now(http_loop(c)) + cfg->header_timeout;
    conn_set_timer(c, HTTP_TIMER_HEADER, cfg->header_timeout);
}

/* A request that ends the connection before it has a head. */
static void refuse(struct conn *c, int status, const char *why)
{
    struct http_req req;
    http_req_init(&req, c, c->srv->data, NULL);
    http_exchange_fail(&req, status, "%s", why);
}

/* Drop the bytes of a Content-Length body answered already. Returns true
 * when it is over. */
static bool discard_body(struct conn *c, struct http_conn *hc)
{
    size_t avail = conn_in_len(c);
    if (avail == 0)
        return false;
    conn_set_timer(c, HTTP_TIMER_BODY, http_config(c->srv->cfg)->body_timeout);
    size_t n = hc->u.body_left < avail ? (size_t)hc->u.body_left : avail;
    buf_consume(c->in, n);
    hc->u.body_left -= n;
    if (hc->u.body_left > 0)
        return false;
    hc->phase = HP_IDLE;
    return true;
}

/* Let an incomplete head grow up to max_header_size. */
static int make_room(struct conn *c, const struct http_server *s)
{
    size_t len = conn_in_len(c);
    if (len < c->in->cap || len >= s->lim.max_header_size)
        return 0;
    size_t want = len;
    if (want > s->lim.max_header_size - len)
        want = s->lim.max_header_size - len;
    return buf_reserve(c->in, want);
}

/* Parse the head at the front of the input. Returns true when a request
 * was begun (or refused) and the loop may go on, false when the head is
 * incomplete. */
static bool read_head(struct conn *c, struct http_conn *hc)
{
    if (hc->phase == HP_IDLE)
        start_head(c, hc);
    const struct http_server *s = c->srv->data;
    size_t len = conn_in_len(c);
    struct http_request req = { .headers = s->headers, .num_headers = s->lim.max_headers };
    int status = 0;
    int n = http_parse_request(buf_head(c->in), len, hc->parsed_len, &req, &s->lim, &status);
    if (n == HTTP_PARSE_PARTIAL) {
        hc->parsed_len = (uint32_t)len;
        if (make_room(c, s) < 0) {
            http_conn_count_request(c);
            refuse(c, 500, "out of memory for a request head");
        }
        return false;
    }
    if (n == HTTP_PARSE_ERROR) {
        http_conn_count_request(c);
        refuse(c, status, http_parse_why(buf_head(c->in), len, &s->lim));
        return false;
    }
    http_exchange_begin(c, &req, (size_t)n);
    return true;
}

/* Answer every complete request in the input. Returns false when it stops
 * for back-pressure (the output is full: the connection layer calls again
 * once it drains). */
static bool serve_input(struct conn *c)
{
    struct http_conn *hc = http_conn_of(c);
    while (!c->closing) {
        if (hc->phase == HP_EXCHANGE) {
            if (!http_kept_run(c))
                break;
            continue;
        }
        if (hc->phase == HP_DISCARD) {
            if (!discard_body(c, hc))
                break;
            continue;
        }
        if (conn_in_len(c) == 0)
            break;
        if (conn_out_len(c) >= CONN_OUT_HIGH || conn_file_pending(c)) {
            c->want_room = true;
            return false;
        }
        if (!read_head(c, hc))
            break;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Deadlines */

static void arm_idle(struct conn *c)
{
    if (c->draining)
        conn_set_timer(c, HTTP_TIMER_GRACE, HTTP_GRACE_MS);
    else
        conn_set_timer(c, HTTP_TIMER_KEEPALIVE, http_config(c->srv->cfg)->keepalive_timeout);
    conn_set_gauge(c, CONN_GAUGE_IDLE);
}

/* A kept exchange reads its body under the body deadline; waiting for its
 * handler it has none of its own (the handler keeps its time). */
static void settle_exchange(struct conn *c)
{
    if (!http_kept_reading(c)) {
        conn_cancel_timer(c);
        conn_set_gauge(c, CONN_GAUGE_WRITING);
        return;
    }
    if (c->timer_kind != HTTP_TIMER_BODY)
        conn_set_timer(c, HTTP_TIMER_BODY, http_config(c->srv->cfg)->body_timeout);
    conn_set_gauge(c, CONN_GAUGE_READING);
}

/* Decide the connection's deadline and gauge after a round of work. */
static void settle(struct conn *c)
{
    struct http_conn *hc = http_conn_of(c);
    if (c->closing)
        return;
    if (conn_out_len(c) > 0 || conn_file_pending(c)) {
        conn_set_gauge(c, CONN_GAUGE_WRITING);
        return;             /* the connection layer runs the send deadline */
    }
    switch (hc->phase) {
    case HP_IDLE:
        if (conn_in_len(c) == 0) {
            arm_idle(c);
            return;
        }
        start_head(c, hc);
        break;
    case HP_HEAD: {
        int64_t left = hc->u.header_deadline - loop_now(http_loop(c));
        conn_set_timer(c, HTTP_TIMER_HEADER, left > 0 ? left : 0);
        break;
    }
    case HP_EXCHANGE:
        settle_exchange(c);
        return;
    default:
        if (c->timer_kind != HTTP_TIMER_BODY)
            conn_set_timer(c, HTTP_TIMER_BODY, http_config(c->srv->cfg)->body_timeout);
        break;
    }
    conn_set_gauge(c, CONN_GAUGE_READING);
}

/* ------------------------------------------------------------------ */
/* The protocol's callbacks */

static void http_readable(struct conn *c)
{
    if (!serve_input(c))
        return;
    /* Half-close mode (a tunnel): the end of input is one half's end. */
    if (c->eof && !c->closing && !c->half_close)
        conn_close_after_flush(c);
    settle(c);
}

void http_conn_wake(struct conn *c)
{
    if (!c->in_use)
        return;
    http_readable(c);
    conn_run(c);
}

static void http_writable(struct conn *c)
{
    settle(c);
}

static void http_open(struct conn *c)
{
    c->send_timeout = http_config(c->srv->cfg)->send_timeout;
    start_head(c, http_conn_of(c));
    conn_set_gauge(c, CONN_GAUGE_READING);
}

static void http_timeout(struct conn *c, unsigned kind)
{
    struct http_conn *hc = http_conn_of(c);
    if (kind == HTTP_TIMER_HEADER && hc->phase == HP_HEAD && conn_in_len(c) > 0) {
        refuse(c, 408, "no complete request head within header_timeout");
        return;
    }
    /* A body that stopped arriving: the exchange ends unanswered (408 in
     * the log, as nginx writes it), the connection at once. */
    http_kept_end(c, 408);
    conn_close_now(c);
}

static void http_drain(struct conn *c)
{
    struct http_conn *hc = http_conn_of(c);
    bool idle = conn_in_len(c) == 0 && conn_out_len(c) == 0 && !conn_file_pending(c) &&
                (hc->phase == HP_IDLE || hc->phase == HP_HEAD);
    if (idle && !c->closing)
        conn_set_timer(c, HTTP_TIMER_GRACE, HTTP_GRACE_MS);
}

static void http_close(struct conn *c)
{
    /* An exchange still waiting for its answer: the client is gone. */
    if (http_conn_of(c)->kept)
        http_kept_end(c, HTTP_STATUS_CLIENT_GONE);
    /* A connection goes back to its listener's default server. */
    c->srv = c->vhosts[0];
}

const struct proto proto_http = {
    .name = "http",
    .server_new = http_server_new,
    .server_free = http_server_free,
    .tick = http_tick,
    .reopen_log = http_reopen_log,
    .conn = {
        .open = http_open,
        .readable = http_readable,
        .writable = http_writable,
        .timeout = http_timeout,
        .drain = http_drain,
        .close = http_close,
    },
};
