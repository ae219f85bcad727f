/* Answers through the exchange, and the access-log line that ends it.
 * Tested by tests/unit/check_http_req.c (through the real server code) and
 * tests/unit/check_http_access_log.c. */
#include "http/req.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/access_log.h"
#include "http/date.h"
#include "http/limit.h"
#include "http/server.h"
#include "transport_tls.h"

time_t http_req_time(const struct http_req *req)
{
    return loop_wall(http_loop(req->conn));
}

int64_t http_req_now(const struct http_req *req)
{
    return loop_now(http_loop(req->conn));
}

const char *http_req_date(const struct http_req *req)
{
    return http_date(loop_wall(http_loop(req->conn)));
}

const char *http_req_query(const struct http_req *req, size_t *len)
{
    const struct http_request *h = req->head;
    const char *q = h ? memchr(h->target, '?', h->target_len) : NULL;
    *len = q ? h->target_len - (size_t)(q + 1 - h->target) : 0;
    return q ? q + 1 : NULL;
}

/* The Connection line of the answer, decided when it is sent: a worker
 * that began to drain while a handler was pending closes afterwards. */
static enum http_conn_header conn_header(struct http_req *req)
{
    if (req->conn->draining)
        req->keep = false;
    if (!req->keep)
        return HTTP_CONN_CLOSE;
    return req->head && req->head->minor_version == 0 ? HTTP_CONN_KEEP_ALIVE : HTTP_CONN_NONE;
}

static int send_head(struct http_req *req, struct http_head *h, const void *body, size_t len)
{
    req->bytes_sent += http_head_len(h) + len;
    return http_response_send(req->conn, h, body, len);
}

/* The route's headers name variables: rendered for this answer, on the
 * stack when they fit. Out of line: most routes have none. */
static __attribute__((noinline)) int send_rendered(struct http_req *req, struct http_head *h,
                                                   const struct http_headers *hs,
                                                   const void *body, size_t len)
{
    char stack[2048], *heap = NULL, *out = stack;
    size_t n = http_headers_render(hs, req, stack, sizeof stack);
    if (n > sizeof stack) {
        if ((heap = out = malloc(n)) == NULL)
            n = 0;          /* the answer goes without them */
        else
            n = http_headers_render(hs, req, heap, n);
    }
    h->added = out;
    h->added_len = n;
    int rc = send_head(req, h, body, len);
    free(heap);
    return rc;
}

int http_req_respond(struct http_req *req, struct http_head *h, const void *body, size_t len)
{
    h->date = http_req_date(req);
    h->conn = conn_header(req);
    if (!req->with_body || !http_status_has_body(h->status))
        len = 0;
    req->status = h->status;
    req->body_bytes += len;
    const struct http_headers *hs = req->route ? &req->route->headers : NULL;
    if (hs && hs->n && http_headers_apply(h->status)) {
        if (hs->has_vars)
            return send_rendered(req, h, hs, body, len);
        h->added = hs->plain;
        h->added_len = hs->plain_len;
    }
    return send_head(req, h, body, len);
}

void http_req_send_file(struct http_req *req, int fd, int64_t off, int64_t end)
{
    if (!req->with_body || end <= off) {
        close(fd);
        return;
    }
    req->body_bytes += (uint64_t)(end - off);
    req->bytes_sent += (uint64_t)(end - off);
    conn_send_file(req->conn, fd, off, end);
}

int http_req_send_fixed(struct http_req *req, const struct http_fixed *f)
{
    enum http_conn_header ch = conn_header(req);
    size_t total = http_fixed_size(f, req->with_body, ch);
    req->status = f->status;
    req->body_bytes += req->with_body ? f->body_len : 0;
    req->bytes_sent += total;
    char *p = conn_reserve(req->conn, total);
    if (p == NULL)
        return -1;
    http_fixed_copy(p, f, req->with_body, ch, http_req_date(req));
    conn_commit(req->conn, total);
    return 0;
}

int http_req_error(struct http_req *req, int status)
{
    if (status == 405 && req->route)
        return http_req_send_fixed(req, &req->route->not_allowed);
    return http_req_send_fixed(req, http_error_page(&req->server->errors, status));
}

void http_req_done(struct http_req *req)
{
    http_req_answered(req);
}

void http_req_body_resume(struct http_req *req)
{
    http_kept_resume(req);
}

void http_req_tunnel(struct http_req *req)
{
    http_kept_tunnel(req);
}

/* ------------------------------------------------------------------ */
/* The access log */

static void fill_entry(const struct http_req *req, struct access_log_entry *e,
                       const struct sockaddr_storage *peer)
{
    struct loop *loop = http_loop(req->conn);
    const struct http_request *h = req->head;
    const struct http_header *ref = http_find_header(h, "referer");
    const struct http_header *ua = http_find_header(h, "user-agent");
    int64_t now = loop_now(loop);
    *e = (struct access_log_entry){
        .peer = (const struct sockaddr *)peer,
        .now = loop_wall(loop),
        .msec = (int64_t)loop_wall(loop) * 1000 + now % 1000,
        .method = h ? h->method : NULL,
        .method_len = h ? h->method_len : 0,
        .target = h ? h->target : NULL,
        .target_len = h ? h->target_len : 0,
        .minor_version = h ? h->minor_version : -1,
        .status = req->status,
        .body_bytes = req->body_bytes,
        .bytes_sent = req->bytes_sent,
        .referer = ref ? ref->value : NULL,
        .referer_len = ref ? ref->value_len : 0,
        .user_agent = ua ? ua->value : NULL,
        .user_agent_len = ua ? ua->value_len : 0,
        .host = req->f.host,
        .host_len = req->f.host ? req->f.host_len : 0,
        .request_time_ms = now - req->started,
        .tls = conn_is_tls(req->conn),
        .upstream_addr = req->upstream_addr,
        .remote_user = req->user,
        .upstream_status = req->upstream_addr ? req->upstream_status : 0,
        .upstream_time_ms = req->upstream_addr ? req->upstream_ms : -1,
        .ssl_protocol = tls_conn_protocol(req->conn),
        .ssl_cipher = tls_conn_cipher(req->conn),
        .ssl_client_s_dn = tls_conn_client_dn(req->conn),
        .req = req,
    };
}

/* Out of line: the frame it needs costs nothing when the log is off. */
static __attribute__((noinline)) void write_line(const struct http_req *req)
{
    struct sockaddr_storage peer;
    struct access_log_entry e;
    conn_peer_to_sockaddr(&req->client, &peer);
    fill_entry(req, &e, &peer);
    access_log_write(req->server->log, &e);
}

void http_req_log(const struct http_req *req)
{
    const struct http_server *s = req->server;
    /* Every exchange passes here, once: the end of a limit's "in progress". */
    if (req->limit_held)
        http_limit_release(req);
    /* Count it by status class and server. */
    stats_response(http_stats(req->conn), http_server_index(req->conn), req->status);
    if (s->log && !(req->route && req->route->no_log))
        write_line(req);
}
