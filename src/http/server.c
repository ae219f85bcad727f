/* The HTTP/1.1 protocol on one connection.
 *
 *   HEAD ──complete head──► answer ──body?──► BODY / CHUNKED ──done──► IDLE
 *    ▲  (header deadline                       (body deadline             │
 *    │   armed once)                            between reads)            │
 *    └────────────────────── first byte of the next request ◄─────────────┘
 *
 * Every complete request already in the input is answered before the
 * connection layer flushes, so pipelined requests leave in one write. Parsing
 * stops while the output is above its high-water mark. Errors are answered
 * with Connection: close. While the worker drains, every answer carries
 * Connection: close and a connection idle at that moment gets a short grace
 * before it is closed, so a request already on the wire is still answered. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "http/chunked.h"
#include "http/date.h"
#include "http/parse.h"
#include "http/path.h"
#include "http/request.h"
#include "http/response.h"
#include "http/route.h"
#include "log.h"
#include "proto.h"
#include "stats.h"
#include "worker.h"

#define HTTP_GRACE_MS 1000

enum http_phase { HP_IDLE, HP_HEAD, HP_BODY, HP_CHUNKED };

struct http_conn {
    struct http_chunked chunked;
    union {
        uint64_t body_left;         /* HP_BODY */
        int64_t header_deadline;    /* HP_HEAD */
    } u;
    uint32_t requests;
    uint32_t parsed_len;            /* resume point for the head parser */
    uint8_t phase;
};

_Static_assert(sizeof(struct http_conn) <= CONN_PROTO_STATE, "fits in the connection");

static const int error_statuses[] = { 400, 404, 408, 413, 414, 431, 500, 501, 505 };
#define N_ERRORS (sizeof error_statuses / sizeof error_statuses[0])

struct http_server {
    const struct cfg_server *cfg;
    struct http_routes routes;
    struct http_fixed errors[N_ERRORS];
    struct http_limits lim;
    struct http_header *headers;
    char *path;                     /* scratch for the normalised path */
    size_t path_cap;
};

static struct http_conn *state(struct conn *c)
{
    return (struct http_conn *)c->proto_state;
}

static const struct http_fixed *error_response(const struct http_server *s, int status)
{
    for (size_t i = 0; i < N_ERRORS; i++)
        if (error_statuses[i] == status)
            return &s->errors[i];
    return &s->errors[0];
}

/* ------------------------------------------------------------------ */

static void http_server_free(void *p)
{
    struct http_server *s = p;
    if (s == NULL)
        return;
    http_routes_free(&s->routes);
    for (size_t i = 0; i < N_ERRORS; i++)
        http_fixed_free(&s->errors[i]);
    free(s->headers);
    free(s->path);
    free(s);
}

static void *http_server_new(const struct cfg_server *cfg, char *err, size_t errcap)
{
    struct http_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        goto fail;
    s->cfg = cfg;
    s->lim.max_target = (size_t)cfg->max_target;
    s->lim.max_header_size = (size_t)cfg->max_header_size;
    s->lim.max_headers = (size_t)cfg->max_headers;
    s->headers = calloc(s->lim.max_headers, sizeof *s->headers);
    s->path_cap = s->lim.max_target + 1;
    s->path = malloc(s->path_cap);
    if (s->headers == NULL || s->path == NULL)
        goto fail;
    if (http_routes_build(&s->routes, cfg) < 0)
        goto fail;
    for (size_t i = 0; i < N_ERRORS; i++)
        if (http_fixed_build_error(&s->errors[i], error_statuses[i]) < 0)
            goto fail;
    return s;
fail:
    snprintf(err, errcap, "out of memory building the http server");
    http_server_free(s);
    return NULL;
}

/* ------------------------------------------------------------------ */

static void start_head(struct conn *c, struct http_conn *hc)
{
    const struct cfg_server *cfg = c->srv->cfg;
    hc->phase = HP_HEAD;
    hc->parsed_len = 0;
    hc->u.header_deadline = loop_now(c->worker->loop) + cfg->header_timeout;
    conn_set_timer(c, CONN_TIMER_HEADER, cfg->header_timeout);
}

static void send_error(struct conn *c, const struct http_server *s, int status)
{
    struct http_conn *hc = state(c);
    http_fixed_send(c, error_response(s, status), true, HTTP_CONN_CLOSE,
                    http_date(loop_wall(c->worker->loop)));
    hc->phase = HP_IDLE;
    conn_set_gauge(c, CONN_GAUGE_WRITING);
    conn_close_after_flush(c);
}

static void count_request(struct conn *c)
{
    state(c)->requests++;
    stats_add(c->worker->stats, STAT_REQUESTS, 1);
}

/* A complete head of head_len bytes is at the front of c->in. */
static void answer(struct conn *c, struct http_server *s, const struct http_request *req,
                   size_t head_len)
{
    struct http_conn *hc = state(c);
    const struct cfg_server *cfg = s->cfg;
    struct http_framing f;

    count_request(c);
    int status = http_request_check(req, &f);
    if (status != 0) {
        send_error(c, s, status);
        return;
    }
    if ((f.has_length && f.content_length > (uint64_t)cfg->max_body)) {
        send_error(c, s, 413);
        return;
    }
    size_t path_len;
    int rc = http_path_normalize(req->target, req->target_len, s->path, s->path_cap,
                                 &path_len, NULL, NULL);
    if (rc < 0) {
        send_error(c, s, rc == -2 ? 414 : 400);
        return;
    }

    bool has_body = f.chunked || (f.has_length && f.content_length > 0);
    bool keep = f.keep_alive && !c->draining && cfg->keepalive_timeout > 0 &&
                hc->requests < (uint64_t)cfg->keepalive_requests;
    const struct http_route *route = http_route_find(&s->routes, s->path, path_len);
    const struct http_fixed *resp = route ? &route->ret : error_response(s, 404);

    if (keep && has_body && f.expect_continue) {
        static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_write(c, go_on, sizeof go_on - 1);
    }
    enum http_conn_header ch = !keep ? HTTP_CONN_CLOSE
                             : req->minor_version == 0 ? HTTP_CONN_KEEP_ALIVE
                             : HTTP_CONN_NONE;
    http_fixed_send(c, resp, f.method != HTTP_HEAD, ch, http_date(loop_wall(c->worker->loop)));
    conn_set_gauge(c, CONN_GAUGE_WRITING);
    buf_consume(c->in, head_len);

    if (!keep) {
        /* Whatever follows (a body, more requests) is read and dropped by
         * the lingering close. */
        hc->phase = HP_IDLE;
        conn_close_after_flush(c);
        return;
    }
    if (f.chunked) {
        hc->phase = HP_CHUNKED;
        http_chunked_init(&hc->chunked, (uint64_t)cfg->max_body);
        conn_set_timer(c, CONN_TIMER_BODY, cfg->body_timeout);
    } else if (has_body) {
        hc->phase = HP_BODY;
        hc->u.body_left = f.content_length;
        conn_set_timer(c, CONN_TIMER_BODY, cfg->body_timeout);
    } else {
        hc->phase = HP_IDLE;
    }
}

/* Discard the body bytes in c->in. Returns 1 when the body is complete, 0
 * when more is needed, -1 after an error answer. */
static int skip_body(struct conn *c, struct http_server *s)
{
    struct http_conn *hc = state(c);
    size_t avail = conn_in_len(c);
    if (avail == 0)
        return 0;
    conn_set_timer(c, CONN_TIMER_BODY, s->cfg->body_timeout);
    if (hc->phase == HP_BODY) {
        size_t n = hc->u.body_left < avail ? (size_t)hc->u.body_left : avail;
        buf_consume(c->in, n);
        hc->u.body_left -= n;
        if (hc->u.body_left > 0)
            return 0;
        hc->phase = HP_IDLE;
        return 1;
    }
    size_t used = 0;
    int rc = http_chunked_decode(&hc->chunked, buf_head(c->in), avail, &used, NULL, NULL);
    buf_consume(c->in, used);
    switch (rc) {
    case HTTP_CHUNKED_MORE:
        return 0;
    case HTTP_CHUNKED_DONE:
        hc->phase = HP_IDLE;
        return 1;
    case HTTP_CHUNKED_TOO_LARGE:
        send_error(c, s, 413);
        return -1;
    default:
        send_error(c, s, 400);
        return -1;
    }
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

static void arm_idle(struct conn *c)
{
    if (c->draining)
        conn_set_timer(c, CONN_TIMER_GRACE, HTTP_GRACE_MS);
    else
        conn_set_timer(c, CONN_TIMER_KEEPALIVE, c->srv->cfg->keepalive_timeout);
    conn_set_gauge(c, CONN_GAUGE_IDLE);
}

/* Decide the connection's deadline and gauge after a round of work. */
static void settle(struct conn *c)
{
    struct http_conn *hc = state(c);
    if (c->closing)
        return;
    if (conn_out_len(c) > 0) {
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
        int64_t left = hc->u.header_deadline - loop_now(c->worker->loop);
        conn_set_timer(c, CONN_TIMER_HEADER, left > 0 ? left : 0);
        break;
    }
    default:
        if (c->timer_kind != CONN_TIMER_BODY)
            conn_set_timer(c, CONN_TIMER_BODY, c->srv->cfg->body_timeout);
        break;
    }
    conn_set_gauge(c, CONN_GAUGE_READING);
}

static void http_readable(struct conn *c)
{
    struct http_conn *hc = state(c);
    struct http_server *s = c->srv->data;

    while (!c->closing) {
        if (hc->phase == HP_BODY || hc->phase == HP_CHUNKED) {
            if (skip_body(c, s) <= 0)
                break;
            continue;
        }
        size_t len = conn_in_len(c);
        if (len == 0)
            break;
        if (conn_out_len(c) >= CONN_OUT_HIGH) {
            c->want_room = true;
            return;
        }
        if (hc->phase == HP_IDLE)
            start_head(c, hc);

        struct http_request req = { .headers = s->headers, .num_headers = s->lim.max_headers };
        int status = 0;
        int n = http_parse_request(buf_head(c->in), len, hc->parsed_len, &req, &s->lim,
                                   &status);
        if (n == HTTP_PARSE_PARTIAL) {
            hc->parsed_len = (uint32_t)len;
            if (make_room(c, s) < 0) {
                count_request(c);
                send_error(c, s, 500);
            }
            break;
        }
        if (n == HTTP_PARSE_ERROR) {
            count_request(c);
            send_error(c, s, status);
            break;
        }
        answer(c, s, &req, (size_t)n);
    }
    if (c->eof && !c->closing)
        conn_close_after_flush(c);
    settle(c);
}

static void http_writable(struct conn *c)
{
    settle(c);
}

static void http_open(struct conn *c)
{
    c->send_timeout = c->srv->cfg->send_timeout;
    start_head(c, state(c));
    conn_set_gauge(c, CONN_GAUGE_READING);
}

static void http_timeout(struct conn *c, enum conn_timer_kind kind)
{
    struct http_conn *hc = state(c);
    if (kind == CONN_TIMER_HEADER && hc->phase == HP_HEAD && conn_in_len(c) > 0) {
        send_error(c, c->srv->data, 408);
        return;
    }
    conn_close_now(c);
}

static void http_drain(struct conn *c)
{
    struct http_conn *hc = state(c);
    bool idle = conn_in_len(c) == 0 && conn_out_len(c) == 0 &&
                (hc->phase == HP_IDLE || hc->phase == HP_HEAD);
    if (idle && !c->closing)
        conn_set_timer(c, CONN_TIMER_GRACE, HTTP_GRACE_MS);
}

static void http_close(struct conn *c)
{
    (void)c;
}

const struct proto proto_http = {
    .name = "http",
    .server_new = http_server_new,
    .server_free = http_server_free,
    .open = http_open,
    .readable = http_readable,
    .writable = http_writable,
    .timeout = http_timeout,
    .drain = http_drain,
    .close = http_close,
};
