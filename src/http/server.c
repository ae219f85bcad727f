/* The HTTP/1.1 protocol on one connection.
 *
 *   HEAD ──complete head──► answer ──body?──► BODY / CHUNKED ──done──► IDLE
 *    ▲  (header deadline                       (body deadline             │
 *    │   armed once)                            between reads)            │
 *    └────────────────────── first byte of the next request ◄─────────────┘
 *
 * Every complete request already in the input is answered before the
 * connection layer flushes, so pipelined requests leave in one write. Parsing
 * stops while the output is above its high-water mark or a file is being
 * sent. Parse errors are answered with Connection: close. While the worker
 * drains, every answer carries Connection: close and a connection idle at
 * that moment gets a short grace before it is closed, so a request already
 * on the wire is still answered.
 *
 * A request goes: framing checks → virtual host (vhost.c) → normalised path →
 * route → access list → method → handler (return, static, status) → log.
 * OPTIONS * and CONNECT skip path and route: the server answers them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "http/access_log.h"
#include "http/chunked.h"
#include "http/date.h"
#include "http/error_pages.h"
#include "http/mime.h"
#include "http/parse.h"
#include "http/path.h"
#include "http/refusal.h"
#include "http/request.h"
#include "http/response.h"
#include "http/route.h"
#include "http/static.h"
#include "http/status.h"
#include "http/vhost.h"
#include "log.h"
#include "proto.h"
#include "stats.h"

#define HTTP_GRACE_MS 1000

/* Deadline kinds (conn.h): the whole request head must arrive by then;
 * between two reads of a body; idle between requests; draining: an idle
 * connection's last chance. */
enum { HTTP_TIMER_HEADER = CONN_TIMER_PROTO, HTTP_TIMER_BODY, HTTP_TIMER_KEEPALIVE,
       HTTP_TIMER_GRACE };

/* HP_BODY discards a Content-Length body after the answer (its size was
 * checked from the head). HP_CHUNKED reads a chunked body before answering,
 * keeping the head in front of it: only the body can tell whether it is too
 * large or malformed, and that must be the one answer. */
enum http_phase { HP_IDLE, HP_HEAD, HP_BODY, HP_CHUNKED };

struct http_conn {
    struct http_chunked chunked;
    union {
        uint64_t body_left;         /* HP_BODY */
        int64_t header_deadline;    /* HP_HEAD */
    } u;
    uint32_t requests;
    uint32_t parsed_len;            /* resume point for the head parser */
    uint32_t head_len;              /* HP_CHUNKED: the head waiting before the body */
    uint8_t phase;
};

_Static_assert(sizeof(struct http_conn) <= CONN_PROTO_STATE, "fits in the connection");

struct http_server {
    const struct cfg_server *cfg;
    struct http_routes routes;
    struct http_error_pages errors;
    struct http_limits lim;
    struct http_header *headers;
    char *path;                     /* scratch for the normalised path */
    size_t path_cap;
    struct mime_table *mime;
    struct access_log *log;         /* NULL when off */
};

/* What one request was, for the access log. */
struct http_exchange {
    const struct http_request *req; /* NULL when no head was understood */
    const struct http_framing *f;
    int status;
    uint64_t body_bytes;
    size_t out_before;
    int64_t started;
};

static struct http_conn *state(struct conn *c)
{
    return (struct http_conn *)c->proto_state;
}

static const struct http_fixed *error_response(const struct http_server *s, int status)
{
    return http_error_page(&s->errors, status);
}

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
    free(s->headers);
    free(s->path);
    free(s);
}

static void *http_server_new(const struct cfg_server *cfg, int log_fd, char *err, size_t errcap)
{
    const struct cfg_http *h = http_config(cfg);
    struct http_server *s = calloc(1, sizeof *s);
    if (s == NULL) {
        if (log_fd >= 0)
            close(log_fd);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
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
    if (http_error_pages_build(&s->errors, h, err, errcap) < 0 ||
        http_routes_build(&s->routes, h, s->mime, error_response(s, 405), err, errcap) < 0)
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
/* Logging */

static void log_exchange(struct conn *c, const struct http_server *s,
                         const struct http_exchange *x)
{
    /* Every answer passes here: count it by status class and server. */
    stats_response(c->owner->stats, c->srv->index, x->status);
    if (s->log == NULL)
        return;
    struct sockaddr_storage peer;
    conn_peer_sockaddr(c, &peer);
    const struct http_request *req = x->req;
    const struct http_header *ref = http_find_header(req, "referer");
    const struct http_header *ua = http_find_header(req, "user-agent");
    int64_t now = loop_now(c->owner->loop);
    struct access_log_entry e = {
        .peer = (const struct sockaddr *)&peer,
        .now = loop_wall(c->owner->loop),
        .msec = (int64_t)loop_wall(c->owner->loop) * 1000 + now % 1000,
        .method = req ? req->method : NULL,
        .method_len = req ? req->method_len : 0,
        .target = req ? req->target : NULL,
        .target_len = req ? req->target_len : 0,
        .minor_version = req ? req->minor_version : -1,
        .status = x->status,
        .body_bytes = x->body_bytes,
        .bytes_sent = conn_out_len(c) - x->out_before +
                      (c->file_fd >= 0 ? (uint64_t)(c->file_end - c->file_off) : 0),
        .referer = ref ? ref->value : NULL,
        .referer_len = ref ? ref->value_len : 0,
        .user_agent = ua ? ua->value : NULL,
        .user_agent_len = ua ? ua->value_len : 0,
        .host = x->f && x->f->host ? x->f->host : NULL,
        .host_len = x->f && x->f->host ? x->f->host_len : 0,
        .request_time_ms = now - x->started,
    };
    access_log_write(s->log, &e);
}

/* ------------------------------------------------------------------ */
/* Answers */

static const char *date_now(struct conn *c)
{
    return http_date(loop_wall(c->owner->loop));
}

static void start_head(struct conn *c, struct http_conn *hc)
{
    /* Until a request names its host, the default server's limits apply. */
    c->srv = c->vhosts[0];
    const struct cfg_http *cfg = http_config(c->srv->cfg);
    hc->phase = HP_HEAD;
    hc->parsed_len = 0;
    hc->u.header_deadline = loop_now(c->owner->loop) + cfg->header_timeout;
    conn_set_timer(c, HTTP_TIMER_HEADER, cfg->header_timeout);
}

static int64_t request_started(struct conn *c)
{
    struct http_conn *hc = state(c);
    return hc->phase == HP_HEAD ? hc->u.header_deadline - http_config(c->srv->cfg)->header_timeout
                                : loop_now(c->owner->loop);
}

static void count_request(struct conn *c)
{
    state(c)->requests++;
    stats_add(c->owner->stats, STAT_REQUESTS, 1);
}

/* An error that ends the connection (the request could not be trusted);
 * why it was refused goes to the error log: a failure of the server (500)
 * at error, what the client sent at info. */
static void fail_request(struct conn *c, const struct http_server *s, int status,
                         struct http_exchange *x, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void fail_request(struct conn *c, const struct http_server *s, int status,
                         struct http_exchange *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    http_refusal_vlog(status == 500 ? LOG_ERROR : LOG_INFO, c, x->req, loop_now(c->owner->loop),
                      status, fmt, ap);
    va_end(ap);
    const struct http_fixed *f = error_response(s, status);
    x->status = status;
    x->body_bytes = f->body_len;
    x->out_before = conn_out_len(c);
    http_fixed_send(c, f, true, HTTP_CONN_CLOSE, date_now(c));
    log_exchange(c, s, x);
    state(c)->phase = HP_IDLE;
    conn_set_gauge(c, CONN_GAUGE_WRITING);
    conn_linger(c);
}

static void send_fixed(struct conn *c, struct http_exchange *x, const struct http_fixed *f,
                       bool with_body, enum http_conn_header ch)
{
    x->status = f->status;
    x->body_bytes = with_body ? f->body_len : 0;
    http_fixed_send(c, f, with_body, ch, date_now(c));
}

static void send_status_page(struct conn *c, struct http_exchange *x, const struct http_route *r,
                             bool with_body, enum http_conn_header ch)
{
    char *body = NULL;
    size_t len = http_status_render(c->owner->page, (enum cfg_status_format)r->status_format,
                                    loop_wall(c->owner->loop), &body);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nServer: herd\r\nDate: %s\r\nContent-Type: %s\r\n"
                     "Content-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
                     date_now(c), http_status_type((enum cfg_status_format)r->status_format), len,
                     http_conn_header_line(ch));
    conn_write(c, head, (size_t)n);
    if (with_body && body)
        conn_write(c, body, len);
    free(body);
    x->status = 200;
    x->body_bytes = with_body ? len : 0;
}

/* Route, access list, method and handler for a request with a path. */
static void serve_route(struct conn *c, const struct http_server *s,
                        const struct http_request *req, const struct http_framing *f,
                        size_t path_len, struct http_exchange *x, bool with_body,
                        enum http_conn_header ch)
{
    const struct http_route *route = http_route_find(&s->routes, s->path, path_len);
    struct sockaddr_storage peer;
    if (route && (route->n_allow || route->n_deny))
        conn_peer_sockaddr(c, &peer);
    if (route == NULL) {
        send_fixed(c, x, error_response(s, 404), with_body, ch);
    } else if ((route->n_allow || route->n_deny) &&
               !http_route_permits(route, (const struct sockaddr *)&peer)) {
        http_refusal_log(LOG_INFO, c, req, loop_now(c->owner->loop), 403,
                         "access forbidden by rule");
        send_fixed(c, x, error_response(s, 403), with_body, ch);
    } else if (!http_route_allows_method(route, f->method)) {
        send_fixed(c, x, &route->not_allowed, with_body, ch);
    } else if (route->handler == HTTP_HANDLER_RETURN) {
        send_fixed(c, x, &route->ret, with_body, ch);
    } else if (route->handler == HTTP_HANDLER_STATUS) {
        send_status_page(c, x, route, with_body, ch);
    } else {
        const char *q = memchr(req->target, '?', req->target_len);
        struct http_static_request sr = {
            .method = f->method, .path = s->path, .path_len = path_len,
            .query = q ? q + 1 : NULL,
            .query_len = q ? req->target_len - (size_t)(q + 1 - req->target) : 0,
            .req = req, .now_ms = loop_now(c->owner->loop), .date = date_now(c),
            .conn_header = ch,
        };
        struct http_static_result res;
        http_static_serve(route->stat, c, &sr, &res);
        x->status = res.status;
        x->body_bytes = res.body_bytes;
        if (conn_out_len(c) == x->out_before)     /* an error for the error page */
            send_fixed(c, x, res.status == 405 ? &route->not_allowed
                                               : error_response(s, res.status), with_body, ch);
    }
}

/* OPTIONS * and CONNECT (authority-form) name no resource: the server as a
 * whole answers. A CONNECT with a path goes to its route, which never takes
 * CONNECT (see route_methods). */
static bool is_server_wide(const struct http_request *req, const struct http_framing *f)
{
    return f->method == HTTP_CONNECT ||
           (f->method == HTTP_OPTIONS && req->target_len == 1 && req->target[0] == '*');
}

/* A complete head of head_len bytes is at the front of c->in; body_read
 * when its chunked body has been read already (see HP_CHUNKED). */
static void answer(struct conn *c, const struct http_request *req, size_t head_len,
                   bool body_read)
{
    struct http_conn *hc = state(c);
    struct http_framing f;
    struct http_exchange x = { .req = req, .f = &f, .started = request_started(c) };
    const struct http_server *first = c->srv->data;

    if (!body_read)
        count_request(c);
    int status = http_request_check(req, &f);
    if (status != 0) {
        fail_request(c, first, status, &x, "%s", f.why);
        return;
    }
    /* From here on the chosen server's settings apply. */
    c->srv = http_vhost_choose(c->vhosts, c->n_vhosts, f.host, f.host_len);
    struct http_server *s = c->srv->data;
    const struct cfg_http *cfg = http_config(s->cfg);
    /* max_body 0 forbids bodies; the chunked decoder's 0 would mean no limit. */
    if ((f.has_length && f.content_length > (uint64_t)cfg->max_body) ||
        (f.chunked && cfg->max_body == 0)) {
        if (f.chunked)
            fail_request(c, s, 413, &x, "chunked body, but max_body is 0");
        else
            fail_request(c, s, 413, &x, "Content-Length %llu is over max_body %lld",
                         (unsigned long long)f.content_length, (long long)cfg->max_body);
        return;
    }
    size_t path_len;
    int rc = http_path_normalize(req->target, req->target_len, s->path, s->path_cap, &path_len,
                                 NULL, NULL);
    if (rc < 0) {
        if (rc == -2 || !is_server_wide(req, &f)) {
            fail_request(c, s, rc == -2 ? 414 : 400, &x, "%s",
                         rc == -2 ? "path longer than max_target"
                                  : "malformed path (bad escape, NUL, or .. above the root)");
            return;
        }
        /* OPTIONS * or CONNECT: no path (every path has at least "/"). */
        path_len = 0;
    }

    static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (f.chunked && !body_read) {
        if (f.expect_continue)
            conn_write(c, go_on, sizeof go_on - 1);
        hc->phase = HP_CHUNKED;
        hc->head_len = (uint32_t)head_len;
        http_chunked_init(&hc->chunked, (uint64_t)cfg->max_body);
        conn_set_timer(c, HTTP_TIMER_BODY, cfg->body_timeout);
        conn_set_gauge(c, CONN_GAUGE_READING);
        return;
    }
    bool has_body = !body_read && f.has_length && f.content_length > 0;
    bool keep = f.keep_alive && !c->draining && cfg->keepalive_timeout > 0 &&
                hc->requests < (uint64_t)cfg->keepalive_requests;
    enum http_conn_header ch = !keep ? HTTP_CONN_CLOSE
                             : req->minor_version == 0 ? HTTP_CONN_KEEP_ALIVE
                             : HTTP_CONN_NONE;
    bool with_body = f.method != HTTP_HEAD;

    if (keep && has_body && f.expect_continue)
        conn_write(c, go_on, sizeof go_on - 1);
    x.out_before = conn_out_len(c);

    if (path_len == 0)
        send_fixed(c, &x, f.method == HTTP_CONNECT ? &s->routes.connect : &s->routes.options,
                   with_body, ch);
    else
        serve_route(c, s, req, &f, path_len, &x, with_body, ch);
    log_exchange(c, s, &x);
    conn_set_gauge(c, CONN_GAUGE_WRITING);
    buf_consume(c->in, head_len);

    if (!keep) {
        /* Whatever follows (a body, more requests) is read and dropped by
         * the lingering close. */
        hc->phase = HP_IDLE;
        if (has_body)
            conn_linger(c);
        else
            conn_close_after_flush(c);
        return;
    }
    if (has_body) {
        hc->phase = HP_BODY;
        hc->u.body_left = f.content_length;
        conn_set_timer(c, HTTP_TIMER_BODY, cfg->body_timeout);
    } else {
        hc->phase = HP_IDLE;
    }
}

/* The head kept in front of a chunked body, parsed again with the limits
 * it passed before. */
static bool parse_kept_head(struct conn *c, struct http_request *req)
{
    const struct http_server *first = c->vhosts[0]->data;
    size_t head_len = state(c)->head_len;
    int status = 0;
    req->headers = first->headers;
    req->num_headers = first->lim.max_headers;
    return http_parse_request(buf_head(c->in), head_len, 0, req, &first->lim, &status) ==
           (int)head_len;
}

/* Discard the body bytes in c->in. Returns 1 when the body is complete, 0
 * when more is needed, -1 after an error answer. */
static int skip_body(struct conn *c, const struct http_server *s)
{
    struct http_conn *hc = state(c);
    size_t avail = conn_in_len(c);
    if (avail == 0)
        return 0;
    if (hc->phase == HP_CHUNKED && avail <= hc->head_len) {
        /* A head that fills the buffer leaves no room for its body. */
        if (buf_room(c->in) == 0 && buf_reserve(c->in, 8192) < 0) {
            struct http_exchange x = { .started = loop_now(c->owner->loop) };
            fail_request(c, s, 500, &x, "out of memory for a chunked body");
            return -1;
        }
        return 0;
    }
    conn_set_timer(c, HTTP_TIMER_BODY, http_config(s->cfg)->body_timeout);
    if (hc->phase == HP_BODY) {
        size_t n = hc->u.body_left < avail ? (size_t)hc->u.body_left : avail;
        buf_consume(c->in, n);
        hc->u.body_left -= n;
        if (hc->u.body_left > 0)
            return 0;
        hc->phase = HP_IDLE;
        return 1;
    }
    /* Chunked: decode what follows the head and squeeze the consumed bytes
     * out, so the head stays whole in front for the answer. */
    char *body = buf_head(c->in) + hc->head_len;
    size_t left = avail - hc->head_len, used = 0;
    if (left == 0)
        return 0;
    int rc = http_chunked_decode(&hc->chunked, body, left, &used, NULL, NULL);
    memmove(body, body + used, left - used);
    c->in->end -= used;
    if (rc == HTTP_CHUNKED_MORE) {
        /* A partial chunk line may need room beyond a full buffer. */
        if (buf_room(c->in) == 0 && c->in->start == 0 && buf_reserve(c->in, 8192) < 0) {
            struct http_exchange x = { .started = loop_now(c->owner->loop) };
            fail_request(c, s, 500, &x, "out of memory for a chunk line");
            return -1;
        }
        return 0;
    }
    struct http_request req;
    bool have_head = parse_kept_head(c, &req);
    if (rc == HTTP_CHUNKED_DONE && have_head) {
        /* Answer the kept head now that the body is known to be sound. */
        hc->phase = HP_IDLE;
        answer(c, &req, hc->head_len, true);
        return 1;
    }
    struct http_exchange x = { .req = have_head ? &req : NULL,
                               .started = loop_now(c->owner->loop) };
    if (rc == HTTP_CHUNKED_DONE)
        fail_request(c, s, 500, &x, "the head kept before a chunked body no longer parses");
    else
        fail_request(c, s, rc == HTTP_CHUNKED_TOO_LARGE ? 413 : 400, &x, "%s",
                     http_chunked_why(&hc->chunked));
    return -1;
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
        conn_set_timer(c, HTTP_TIMER_GRACE, HTTP_GRACE_MS);
    else
        conn_set_timer(c, HTTP_TIMER_KEEPALIVE, http_config(c->srv->cfg)->keepalive_timeout);
    conn_set_gauge(c, CONN_GAUGE_IDLE);
}

/* Decide the connection's deadline and gauge after a round of work. */
static void settle(struct conn *c)
{
    struct http_conn *hc = state(c);
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
        int64_t left = hc->u.header_deadline - loop_now(c->owner->loop);
        conn_set_timer(c, HTTP_TIMER_HEADER, left > 0 ? left : 0);
        break;
    }
    default:
        if (c->timer_kind != HTTP_TIMER_BODY)
            conn_set_timer(c, HTTP_TIMER_BODY, http_config(c->srv->cfg)->body_timeout);
        break;
    }
    conn_set_gauge(c, CONN_GAUGE_READING);
}

static void http_readable(struct conn *c)
{
    struct http_conn *hc = state(c);

    while (!c->closing) {
        /* Settings (limits, timeouts) are those of the connection's default
         * server until a request names its host. */
        const struct http_server *s = c->srv->data;
        if (hc->phase == HP_BODY || hc->phase == HP_CHUNKED) {
            if (skip_body(c, s) <= 0)
                break;
            continue;
        }
        size_t len = conn_in_len(c);
        if (len == 0)
            break;
        if (conn_out_len(c) >= CONN_OUT_HIGH || conn_file_pending(c)) {
            c->want_room = true;
            return;
        }
        if (hc->phase == HP_IDLE) {
            start_head(c, hc);
            s = c->srv->data;
        }

        struct http_request req = { .headers = s->headers, .num_headers = s->lim.max_headers };
        int status = 0;
        int n = http_parse_request(buf_head(c->in), len, hc->parsed_len, &req, &s->lim,
                                   &status);
        if (n == HTTP_PARSE_PARTIAL) {
            hc->parsed_len = (uint32_t)len;
            if (make_room(c, s) < 0) {
                struct http_exchange x = { .started = request_started(c) };
                count_request(c);
                fail_request(c, s, 500, &x, "out of memory for a request head");
            }
            break;
        }
        if (n == HTTP_PARSE_ERROR) {
            struct http_exchange x = { .started = request_started(c) };
            count_request(c);
            fail_request(c, s, status, &x, "%s", http_parse_why(buf_head(c->in), len, &s->lim));
            break;
        }
        answer(c, &req, (size_t)n, false);
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
    c->send_timeout = http_config(c->srv->cfg)->send_timeout;
    start_head(c, state(c));
    conn_set_gauge(c, CONN_GAUGE_READING);
}

static void http_timeout(struct conn *c, unsigned kind)
{
    struct http_conn *hc = state(c);
    if (kind == HTTP_TIMER_HEADER && hc->phase == HP_HEAD && conn_in_len(c) > 0) {
        struct http_exchange x = { .started = request_started(c) };
        fail_request(c, c->srv->data, 408, &x, "no complete request head within header_timeout");
        return;
    }
    conn_close_now(c);
}

static void http_drain(struct conn *c)
{
    struct http_conn *hc = state(c);
    bool idle = conn_in_len(c) == 0 && conn_out_len(c) == 0 && !conn_file_pending(c) &&
                (hc->phase == HP_IDLE || hc->phase == HP_HEAD);
    if (idle && !c->closing)
        conn_set_timer(c, HTTP_TIMER_GRACE, HTTP_GRACE_MS);
}

static void http_close(struct conn *c)
{
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
