/* The upstream's response, read from the upstream connection and passed
 * to the client (proxy.h):
 *
 *   head (parse_response.h, the server's head limits) ─┬─ invalid: 502
 *     │ 1xx: 100 dropped (herd answered the client's Expect itself),
 *     │      others (103) passed to HTTP/1.1 clients; the next head
 *     │ 101: to a websocket handshake herd passed on, to the client, then
 *     │      a tunnel (bytes both ways); to anything else, 502
 *     ▼
 *   final head (http_head_write, with the upstream's end-to-end fields)
 *     ─► body: Content-Length passed as it is; chunked (decoded, checked)
 *        and until-close re-framed in chunks for an HTTP/1.1 client, or
 *        ending with the connection for an HTTP/1.0 one; HEAD, 204, 304:
 *        none
 *     ─► complete: proxy_finish (the connection kept when the framing
 *        allows)
 * Each round passes on everything in the upstream's input; the link stops
 * the upstream being read while the client's output is above the
 * high-water mark, so memory stays bounded by the buffers.
 * Tested by tests/unit/check_http_handler_proxy.c (a test-played upstream)
 * and tests/integration/test_proxy*.py.
 * buffering = true: the final head stays in the upstream's input, which
 * grows up to buffer_size, until the whole response is there; then it
 * goes to the client at once and the upstream connection is free. A
 * response that breaks or ends early meanwhile is a clean 502 (nothing
 * of it was sent); one larger than buffer_size is streamed from there.
 * A tunnel's halves end apart (proxy_tunnel_ended). */
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "http/parse_response.h"
#include "http/proxy.h"
#include "http/proxy_head.h"
#include "http/response.h"
#include "http/server.h"

#define LIT(s) s, sizeof s - 1

/* Body bytes to the client, framed as its response is. */
static void to_client(struct proxy_ex *ex, const char *p, size_t n)
{
    struct http_req *req = ex->req;
    req->body_bytes += n;
    if (!ex->chunk_out) {
        req->bytes_sent += n;
        conn_write(req->conn, p, n);
        return;
    }
    char size[20];
    struct iovec iov[3] = {
        { size, (size_t)snprintf(size, sizeof size, "%zx\r\n", n) },
        { (void *)p, n },
        { (void *)"\r\n", 2 },
    };
    req->bytes_sent += iov[0].iov_len + n + 2;
    conn_writev(req->conn, iov, 3);
}

static void on_chunk_data(void *arg, const char *p, size_t n)
{
    to_client(arg, p, n);
}

/* The body is complete. */
static void body_end(struct proxy_ex *ex)
{
    if (ex->chunk_out) {
        conn_write(ex->req->conn, LIT("0\r\n\r\n"));
        ex->req->bytes_sent += 5;
    }
    proxy_finish(ex, ex->up_keep && ex->rbody != HTTP_RESP_BODY_CLOSE);
}

/* Pass what arrived of the body. Returns after ex may be gone. */
static void pump_body(struct proxy_ex *ex)
{
    struct conn *up = ex->up;
    size_t len = conn_in_len(up);
    if (ex->tunnel) {
        if (len > 0) {
            to_client(ex, buf_head(up->in), len);
            buf_consume(up->in, len);
        }
        if (up->eof)
            proxy_tunnel_ended(ex, false);
        return;
    }
    switch (ex->rbody) {
    case HTTP_RESP_BODY_NONE:
        proxy_finish(ex, ex->up_keep);
        return;
    case HTTP_RESP_BODY_LENGTH: {
        size_t n = ex->left < len ? (size_t)ex->left : len;
        if (n > 0) {
            to_client(ex, buf_head(up->in), n);
            buf_consume(up->in, n);
            ex->left -= n;
        }
        if (ex->left == 0) {
            body_end(ex);
            return;
        }
        break;
    }
    case HTTP_RESP_BODY_CHUNKED: {
        size_t used = 0;
        int rc = len ? http_chunked_decode(&ex->dec, buf_head(up->in), len, &used,
                                           on_chunk_data, ex)
                     : HTTP_CHUNKED_MORE;
        buf_consume(up->in, used);
        if (rc == HTTP_CHUNKED_DONE) {
            body_end(ex);
            return;
        }
        if (rc < 0) {
            proxy_fail(ex, 502, http_chunked_why(&ex->dec));
            return;
        }
        break;
    }
    default:                        /* until the upstream closes */
        if (len > 0) {
            to_client(ex, buf_head(up->in), len);
            buf_consume(up->in, len);
        }
        if (up->eof) {
            body_end(ex);
            return;
        }
        break;
    }
    if (up->eof)
        proxy_up_failed(ex, 0, "the upstream closed before the end of its response");
}

/* An interim response (103): to an HTTP/1.1 client, as it came (less its
 * hop-by-hop fields). */
static void interim(struct proxy_ex *ex, const struct http_response *resp)
{
    struct http_req *req = ex->req;
    if (resp->status == 100 || req->head->minor_version == 0)
        return;
    struct http_header *out = ex->headers + ex->max_headers;
    size_t n = http_proxy_response_fields(resp, false, out);
    char line[64];
    size_t len = (size_t)snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", resp->status,
                                  http_reason(resp->status));
    conn_write(req->conn, line, len);
    for (size_t i = 0; i < n; i++) {
        struct iovec iov[4] = {
            { (void *)out[i].name, out[i].name_len }, { (void *)": ", 2 },
            { (void *)out[i].value, out[i].value_len }, { (void *)"\r\n", 2 },
        };
        conn_writev(req->conn, iov, 4);
        len += out[i].name_len + out[i].value_len + 4;
    }
    conn_write(req->conn, LIT("\r\n"));
    req->bytes_sent += len + 2;
}

/* The final head to the client. Returns 0, or -1 when ex is gone. */
static int final_head(struct proxy_ex *ex, const struct http_response *resp,
                      const struct http_resp_framing *f)
{
    struct http_req *req = ex->req;
    struct http_header *out = ex->headers + ex->max_headers;
    bool v10 = req->head->minor_version == 0;
    struct http_head h = {
        .status = resp->status, .fields = out,
        .n_fields = http_proxy_response_fields(resp, false, out),
    };
    req->upstream_status = resp->status;
    ex->rbody = f->body;
    ex->up_keep = f->keep_alive;
    ex->left = f->content_length;
    if (f->body == HTTP_RESP_BODY_LENGTH) {
        h.length = (int64_t)f->content_length;
    } else if (f->body == HTTP_RESP_BODY_NONE) {
        /* HEAD: what a GET would get. 204, 304: none is written. */
        h.length = f->has_length ? (int64_t)f->content_length
                                 : v10 ? HTTP_LENGTH_NONE : HTTP_LENGTH_CHUNKED;
    } else if (v10) {
        h.length = HTTP_LENGTH_NONE;    /* it ends with the connection */
        req->keep = false;
    } else {
        h.length = HTTP_LENGTH_CHUNKED;
        ex->chunk_out = true;
    }
    if (f->body == HTTP_RESP_BODY_CHUNKED)
        http_chunked_init(&ex->dec, 0);
    ex->head_done = true;
    ex->resp_started = true;
    if (http_req_respond(req, &h, NULL, 0) < 0) {
        proxy_fail(ex, 502, NULL);  /* the client's connection is closing */
        return -1;
    }
    return 0;
}

/* A 101 to a websocket handshake: passed on with its Upgrade field, then
 * the two connections carry bytes both ways (http_req_tunnel). Returns 0,
 * or -1 when ex is gone. */
static int open_tunnel(struct proxy_ex *ex, const struct http_response *resp)
{
    struct http_req *req = ex->req;
    struct http_header *out = ex->headers + ex->max_headers;
    struct http_head h = {
        .status = 101, .date = http_req_date(req), .fields = out,
        .n_fields = http_proxy_response_fields(resp, true, out), .conn = HTTP_CONN_UPGRADE,
    };
    req->upstream_status = req->status = 101;
    req->bytes_sent += http_head_len(&h);
    ex->head_done = ex->resp_started = ex->tunnel = true;
    if (http_response_send(req->conn, &h, NULL, 0) < 0) {
        proxy_fail(ex, 502, NULL);
        return -1;
    }
    http_req_tunnel(req);
    conn_half_close(ex->up);        /* its end is passed on, not the tunnel's */
    return 0;
}

void proxy_tunnel_ended(struct proxy_ex *ex, bool from_client)
{
    bool *ended = from_client ? &ex->client_ended : &ex->up_ended;
    if (*ended)
        return;
    *ended = true;
    if (ex->client_ended && ex->up_ended) {
        proxy_finish(ex, false);
        return;
    }
    /* The other side reads the end once what it was sent has left, and
     * may go on sending. */
    struct conn *to = from_client ? ex->up : ex->req->conn;
    conn_shutdown_after_flush(to);
    conn_wake(to);
}

/* buffering: is the whole response (head_len bytes of head, then its
 * body) in the upstream's input? 1: yes, or it is larger than
 * buffer_size (streamed from here); 0: wait for more (room made for it);
 * -1: ex is gone (the response broke or ended early: 502). */
static int hold(struct proxy_ex *ex, size_t head_len, const struct http_resp_framing *f)
{
    struct conn *up = ex->up;
    size_t len = conn_in_len(up), most = (size_t)ex->pr->conf->buffer_size;
    const char *body = buf_head(up->in) + head_len;
    uint64_t have = len - head_len;
    if (!ex->holding) {
        ex->holding = true;
        ex->scanned = 0;
        http_chunked_init(&ex->dec, 0);
    }
    bool whole = f->body == HTTP_RESP_BODY_NONE ||
                 (f->body == HTTP_RESP_BODY_LENGTH && have >= f->content_length) ||
                 (f->body == HTTP_RESP_BODY_CLOSE && up->eof);
    if (f->body == HTTP_RESP_BODY_CHUNKED) {
        size_t used = 0;
        int rc = http_chunked_decode(&ex->dec, body + ex->scanned, have - ex->scanned, &used,
                                     NULL, NULL);
        ex->scanned += used;
        if (rc < 0) {
            proxy_fail(ex, 502, http_chunked_why(&ex->dec));
            return -1;
        }
        whole = rc == HTTP_CHUNKED_DONE;
    }
    if (whole)
        return 1;
    if (up->eof) {
        proxy_up_failed(ex, 0, "the upstream closed before the end of its response");
        return -1;
    }
    if (len >= most) {
        ex->buffering = false;      /* too large to hold */
        return 1;
    }
    size_t want = up->in->cap < most - len ? up->in->cap : most - len;
    if (buf_room(up->in) == 0 && buf_reserve(up->in, want) < 0) {
        proxy_fail(ex, 502, "out of memory for a buffered response");
        return -1;
    }
    return 0;
}

/* Let an incomplete head grow up to max_header_size. */
static int make_room(struct conn *up, const struct http_limits *lim)
{
    size_t len = conn_in_len(up);
    if (len < up->in->cap || len >= lim->max_header_size)
        return 0;
    size_t want = lim->max_header_size - len < len ? lim->max_header_size - len : len;
    return buf_reserve(up->in, want);
}

/* Read one head. Returns 1 when one was handled, 0 to wait, -1 when ex
 * is gone. */
static int read_head(struct proxy_ex *ex)
{
    struct conn *up = ex->up;
    struct http_req *req = ex->req;
    const struct http_server *s = req->server;
    size_t len = conn_in_len(up);
    if (len == 0)
        return 0;
    struct http_response resp = { .headers = ex->headers, .num_headers = ex->max_headers };
    const char *why = NULL;
    int n = http_parse_response(buf_head(up->in), len, ex->parsed_len, &resp, &s->lim, &why);
    if (n == HTTP_PARSE_PARTIAL) {
        ex->parsed_len = len;
        if (make_room(up, &s->lim) < 0) {
            proxy_fail(ex, 502, "out of memory for a response head");
            return -1;
        }
        return 0;
    }
    if (n == HTTP_PARSE_ERROR) {
        proxy_fail(ex, 502, why ? why : "malformed response head");
        return -1;
    }
    ex->parsed_len = 0;
    struct http_resp_framing f;
    if (http_response_framing(&resp, req->f.method == HTTP_HEAD, &f) < 0) {
        proxy_fail(ex, 502, f.why);
        return -1;
    }
    if (f.upgrade && !ex->upgrade) {
        proxy_fail(ex, 502, "101 to a request that asked for no upgrade");
        return -1;
    }
    if (f.upgrade) {
        if (open_tunnel(ex, &resp) < 0)
            return -1;
    } else if (f.interim) {
        interim(ex, &resp);
    } else {
        int rc = ex->buffering ? hold(ex, (size_t)n, &f) : 1;
        if (rc <= 0)
            return rc;              /* the head stays in until the body is whole */
        if (final_head(ex, &resp, &f) < 0)
            return -1;
    }
    buf_consume(up->in, (size_t)n);
    return 1;
}

void proxy_response_read(struct proxy_ex *ex)
{
    struct conn *up = ex->up;
    if (conn_in_len(up) > 0) {
        ex->got_byte = true;
        proxy_arm_read(ex);
    }
    while (!ex->head_done) {
        int rc = read_head(ex);
        if (rc < 0)
            return;
        if (rc == 0) {
            if (up->eof)
                proxy_up_failed(ex, 0, "the upstream closed the connection before a response");
            return;
        }
    }
    pump_body(ex);
}
