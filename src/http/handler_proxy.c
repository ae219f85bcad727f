/* The `proxy` handler: a route's requests carried to a server of an
 * upstream over HTTP/1.1 with keep-alive (DESIGN, "Reverse proxy").
 *
 *   start ─► pick a server (balance.h) ─┬─ an idle connection to it, still
 *                                       │  open (upstream_pool.h) ──────────┐
 *                                       └─ conn_connect ─► open ───────────┤
 *   head sent (proxy_head.h), then the body as the client sends it ◄───────┘
 *   (Content-Length as is, chunked re-framed), the two connections linked
 *   for back-pressure both ways ─► the response (proxy_response.c) ─►
 *   complete: the upstream connection back to the pool (when its framing
 *   and the request allow), the exchange done.
 *
 * Failures: no server can take the request → 503; refused, reset, closed
 * or invalid → 502; connect or read timeout → 504; each logged (rate-
 * limited, with the client and the upstream server). Retries follow
 * proxy_retry.h: a failed connect goes to the next server; a reused idle
 * connection that failed before the kernel took a byte of the request
 * (its body waits until the head has left) or, for an idempotent request,
 * before any byte of the response goes again on a new connection,
 * uncounted, so a server closing idle connections never costs a GET a
 * 502; an idempotent request whose body was not taken yet goes to the
 * next server up to `retries` times; never after a byte of the response.
 * The client's body is taken only while the upstream connection is open,
 * so a connect failure leaves it unread for the next attempt.
 * WebSocket (websocket = true): the handshake goes with its Upgrade; the
 * upstream's 101 goes to the client and the exchange becomes a tunnel
 * (http_req_tunnel), bytes both ways over the link; a side's end is
 * passed to the other (half-close) and the tunnel ends when both have
 * ended or websocket_timeout passes with no byte.
 * Tested by tests/unit/check_http_handler_proxy.c, check_http_proxy_retry.c
 * and tests/integration/test_proxy*.py. */
#include "http/proxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include "http/handler.h"
#include "http/proxy_head.h"
#include "http/proxy_retry.h"
#include "http/refusal.h"
#include "http/server.h"
#include "transport.h"
#include "upstream.h"
#include "upstream_pool.h"

/* ------------------------------------------------------------------ */
/* Per-route state */

static const void *section(const struct cfg_route *cr)
{
    return cr->proxy;
}

static void destroy(void *state)
{
    struct proxy_route *pr = state;
    if (pr == NULL)
        return;
    upstream_pool_unref(pr->pool);
    if (pr->bal)
        balance_unref(pr->bal);
    free(pr->fields);
    for (size_t i = 0; pr->values && i < pr->n_fields; i++)
        http_template_free(&pr->values[i]);
    free(pr->values);
    http_template_free(&pr->key);
    free(pr);
}

/* The headers' values and the hash key as templates: kept only when a
 * value names a variable (the others go as the plain fields are). */
static int compile_values(struct proxy_route *pr, char *err, size_t errcap)
{
    const struct cfg_proxy *conf = pr->conf;
    if (conf->up->balance == UPSTREAM_HASH &&
        http_template_compile(&pr->key, conf->up->hash_key, err, errcap) < 0)
        return -1;
    bool vars = false;
    for (size_t i = 0; i < pr->n_fields; i++)
        vars = vars || strchr(pr->fields[i].value, '$') != NULL;
    if (vars && (pr->values = calloc(pr->n_fields, sizeof *pr->values)) == NULL) {
        snprintf(err, errcap, "proxy: out of memory");
        return -1;
    }
    for (size_t i = 0; vars && i < pr->n_fields; i++)
        if (http_template_compile(&pr->values[i], pr->fields[i].value, err, errcap) < 0)
            return -1;
    return 0;
}

static void *build(const void *sec, const struct http_handler_env *env, char *err, size_t errcap)
{
    (void)env;
    const struct cfg_proxy *conf = sec;
    if (conf->up == NULL) {
        snprintf(err, errcap, "proxy: upstream '%s' not found", conf->upstream);
        return NULL;
    }
    struct proxy_route *pr = calloc(1, sizeof *pr);
    if (pr == NULL)
        goto oom;
    pr->conf = conf;
    pr->up = conf->up;
    pr->connect_timeout = conf->connect_timeout ? conf->connect_timeout
                                                : conf->up->connect_timeout;
    pr->n_fields = conf->headers.n / 2;
    if ((pr->fields = calloc(pr->n_fields + 1, sizeof *pr->fields)) == NULL)
        goto oom;
    for (size_t i = 0; i < pr->n_fields; i++)
        pr->fields[i] = (struct http_proxy_field){
            .name = conf->headers.v[2 * i], .name_len = strlen(conf->headers.v[2 * i]),
            .value = conf->headers.v[2 * i + 1],
            .value_len = strlen(conf->headers.v[2 * i + 1]), .set = true,
        };
    if (compile_values(pr, err, errcap) < 0)
        goto fail;
    if ((pr->bal = balance_ref(conf->up)) == NULL ||
        (pr->pool = upstream_pool_ref(pr->bal, (size_t)conf->up->keepalive)) == NULL)
        goto oom;
    upstream_pool_count(pr->pool);
    return pr;
oom:
    snprintf(err, errcap, "proxy: out of memory for upstream '%s'", conf->upstream);
fail:
    destroy(pr);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Helpers */

/* The client's address as text (IPv6 without brackets); 0 bytes for a
 * unix-socket client. */
static size_t peer_text(const struct conn_peer *p, char *out, size_t cap)
{
    return http_proxy_addr_text(p->family, p->addr, out, cap);
}

/* The request's key for balance = "hash": hash_key with its variables
 * (its first 1 KiB). */
static uint32_t request_key(const struct http_req *req, const struct http_template *key)
{
    char text[1024];
    size_t n = http_template_render_req(key, req, text, sizeof text);
    return balance_hash(text, n < sizeof text ? n : sizeof text);
}

static bool idempotent(enum http_method m)
{
    return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_PUT || m == HTTP_DELETE ||
           m == HTTP_OPTIONS || m == HTTP_TRACE;
}

static void note(struct proxy_ex *ex, int status, const char *what, const char *cause)
{
    struct http_req *req = ex->req;
    http_req_refusal(req, LOG_WARN, status, "upstream '%s' server %s: %s%s%s", ex->pr->up->name,
                     req->upstream_addr ? req->upstream_addr : "-", what, cause ? ": " : "",
                     cause ? cause : "");
}

/* One exchange's memory is kept for the next: a worker proxies one request
 * after another, and a fresh calloc of max_headers fields twice over (its
 * zeroing above all) was a third of a proxied request's instructions
 * (bench/instr proxy_ka). Only the fixed part is zeroed on reuse: the
 * field arrays are written before they are read (by the response parser,
 * and http_proxy_response_fields). One per process (a worker has one
 * thread); it lives as long as the process. */
static struct proxy_ex *spare_ex;
static size_t spare_max;

static struct proxy_ex *new_ex(size_t max)
{
    struct proxy_ex *ex = spare_ex;
    spare_ex = NULL;
    if (ex != NULL && spare_max == max) {
        memset(ex, 0, offsetof(struct proxy_ex, headers));
        return ex;
    }
    free(ex);                       /* another server's max_headers */
    ex = malloc(sizeof *ex + 2 * max * sizeof ex->headers[0]);
    if (ex != NULL)
        memset(ex, 0, offsetof(struct proxy_ex, headers));
    return ex;
}

static void free_ex(struct proxy_ex *ex)
{
    ex->req->ctx = NULL;
    if (spare_ex == NULL) {
        spare_ex = ex;
        spare_max = ex->max_headers;
        return;
    }
    free(ex);
}

/* Let go of the upstream connection: closed (a connecting one ends in its
 * own open or error, which find no exchange). */
static void drop_up(struct proxy_ex *ex)
{
    struct conn *up = ex->up;
    if (up == NULL)
        return;
    ex->up = NULL;
    proxy_up_of(up)->ex = NULL;
    conn_unlink(up);
    if (up->connecting)
        return;
    conn_close_now(up);
    conn_wake(up);
}

/* ------------------------------------------------------------------ */
/* Attempts */

static const struct conn_ops up_ops;
static void attempt(struct proxy_ex *ex);

/* Configured fields whose values name variables, rendered for this
 * request into one block (each value cut at 4 KiB). NULL: out of memory. */
static struct http_proxy_field *render_fields(const struct proxy_ex *ex)
{
    enum { VALUE_MAX = 4096 };
    const struct proxy_route *pr = ex->pr;
    struct http_proxy_field *f = malloc(pr->n_fields * (sizeof *f + VALUE_MAX));
    for (size_t i = 0; f && i < pr->n_fields; i++) {
        char *v = (char *)(f + pr->n_fields) + i * VALUE_MAX;
        size_t n = http_template_render_req(&pr->values[i], ex->req, v, VALUE_MAX);
        f[i] = pr->fields[i];
        f[i].value = v;
        f[i].value_len = n < VALUE_MAX ? n : VALUE_MAX;
    }
    return f;
}

static int send_head(struct proxy_ex *ex)
{
    struct http_req *req = ex->req;
    const struct cfg_proxy *conf = ex->pr->conf;
    char peer[INET6_ADDRSTRLEN];
    struct http_proxy_field *rendered = ex->pr->values ? render_fields(ex) : NULL;
    struct http_proxy_request r = {
        .head = req->head, .f = &req->f, .peer = peer,
        .peer_len = peer_text(&req->client, peer, sizeof peer),
        .host = conf->host, .host_len = conf->host ? strlen(conf->host) : 0,
        .forwarded = conf->forwarded, .https = conn_is_tls(req->conn),
        .fields = rendered ? rendered : ex->pr->fields, .n_fields = ex->pr->n_fields,
        .upgrade = ex->upgrade,
        .close = ex->pr->up->keepalive == 0 && !ex->upgrade,
    };
    /* One pass as a rule: written into the room the output buffer has (a
     * head's worth at least); only a head larger than that is written
     * again, into as much room as the first pass measured. */
    enum { HEAD_ROOM = 2048 };
    char *out = ex->pr->values && !rendered ? NULL : conn_reserve(ex->up, HEAD_ROOM);
    if (out) {
        size_t room = buf_room(ex->up->out);
        size_t len = http_proxy_request_head(out, room, &r);
        if (len > room && (out = conn_reserve(ex->up, len)) != NULL)
            http_proxy_request_head(out, len, &r);
        if (out)
            conn_commit(ex->up, len);
    }
    free(rendered);
    return out ? 0 : -1;
}

/* The upstream connection is ready: the head goes, then the body. */
static void opened(struct proxy_ex *ex)
{
    struct conn *up = ex->up;
    struct http_req *req = ex->req;
    ex->connected = true;
    up->send_timeout = ex->pr->conf->send_timeout;
    if (send_head(ex) < 0) {
        proxy_fail(ex, 502, "out of memory for the request head");
        return;
    }
    /* An empty chunked body may have ended before the connection was. */
    if (ex->body_done && req->f.chunked)
        conn_write(up, "0\r\n\r\n", 5);
    conn_link(req->conn, up);
    proxy_arm_read(ex);
    /* On a reused connection the body waits until the kernel has taken
     * the head (up_writable): should the server have closed it, nothing
     * of the body is gone, and the request may go again (proxy_retry.h). */
    ex->hold_body = ex->reused && !ex->body_done;
    if (!ex->hold_body)
        http_req_body_resume(req);
    conn_wake(up);
}

void proxy_arm_read(struct proxy_ex *ex)
{
    const struct cfg_proxy *conf = ex->pr->conf;
    conn_set_timer(ex->up, PROXY_TIMER_READ,
                   ex->tunnel ? conf->websocket_timeout : conf->read_timeout);
}

static void bind_up(struct proxy_ex *ex, struct conn *up, int server)
{
    ex->up = up;
    ex->connected = false;
    ex->got_byte = false;
    ex->holding = false;
    ex->parsed_len = 0;
    *proxy_up_of(up) = (struct proxy_up){ .ex = ex, .bal = ex->pr->bal, .server = server,
                                          .counted = true };
    balance_opened(ex->pr->bal, server);
}

/* No server left to try: 503 when none could be tried at all. */
static void none_left(struct proxy_ex *ex)
{
    if (ex->last_error == 0) {
        proxy_fail(ex, 503, "no server available (all down or at max_connections)");
        return;
    }
    proxy_fail(ex, ex->timed_out ? 504 : 502, ex->timed_out ? "timed out" : strerror(ex->last_error));
}

/* An idle connection to server i. The kernel is asked whether the server
 * closed it meanwhile (a recv per reuse) only when the answer matters: a
 * request that is idempotent and has no body is sent again on a new
 * connection, uncounted, should a reused one fail in any way before its
 * response (proxy_retry.h: nothing of it can be lost), so for it what
 * the loop has reported suffices (upstream_pool_take_known) and the race
 * of a close the loop has not reported yet costs a retry, never a 502.
 * The peek would not close that race anyway (the server may close a
 * moment after it): it only narrows it for the requests that cannot go
 * again once sent (a POST, a body). */
static struct conn *take_idle(struct proxy_ex *ex, int i)
{
    struct upstream_pool *pool = ex->pr->pool;
    if (idempotent(ex->req->f.method) && ex->body_done && !ex->req->f.chunked)
        return upstream_pool_take_known(pool, i, &up_ops, NULL);
    return upstream_pool_take(pool, i, &up_ops, NULL);
}

static void attempt(struct proxy_ex *ex)
{
    const struct proxy_route *pr = ex->pr;
    struct http_req *req = ex->req;
    int i = balance_pick(pr->bal, ex->key, &ex->tried, http_req_now(req));
    if (i < 0) {
        none_left(ex);
        return;
    }
    ex->server = i;
    req->upstream_addr = balance_server_name(pr->bal, i);
    req->upstream_status = 0;
    struct conn *up = ex->no_reuse ? NULL : take_idle(ex, i);
    if (up) {
        ex->reused = true;
        conn_sent_clear(up);        /* what it sent before was another request's */
        bind_up(ex, up, i);
        opened(ex);
        return;
    }
    const struct upstream_addr *a = &pr->up->servers[i].addr;
    up = conn_connect(req->conn->owner, (const struct sockaddr *)&a->ss, a->len,
                      pr->connect_timeout, &up_ops, &transport_plain, NULL);
    if (up == NULL) {
        /* No socket or no memory here: another server would fare no better. */
        ex->last_error = errno;
        proxy_fail(ex, 502, strerror(errno));
        return;
    }
    ex->reused = false;
    bind_up(ex, up, i);
}

void proxy_up_failed(struct proxy_ex *ex, int err, const char *cause)
{
    int server = ex->server;
    if (ex->up)
        ex->accepted = conn_sent(ex->up);
    struct proxy_failure f = {
        .response = ex->head_done || ex->got_byte, .reused = ex->reused,
        .accepted = ex->accepted, .body_taken = ex->body_sent,
        .idempotent = idempotent(ex->req->f.method),
        .retried = ex->retried, .retries = (unsigned)ex->pr->conf->retries,
    };
    drop_up(ex);
    /* A reset or close counts against the server (passive health), except
     * a reused connection closed before any answer: keep-alive's race. */
    if (!f.reused || f.response)
        balance_report(ex->pr->bal, server, false, http_req_now(ex->req));
    if (f.response) {
        proxy_fail(ex, 502, cause);
        return;
    }
    ex->last_error = err ? err : ECONNRESET;
    ex->timed_out = false;
    enum proxy_retry plan = proxy_retry_plan(&f);
    if (plan == PROXY_RETRY_FRESH) {
        /* The race of keep-alive: the server closed it as it was reused. */
        ex->no_reuse = true;
        attempt(ex);
        return;
    }
    note(ex, 0, "failed before a response", cause);
    if (plan == PROXY_RETRY_NEXT) {
        ex->retried++;
        balance_tried_add(&ex->tried, (size_t)server);
        attempt(ex);
        return;
    }
    proxy_fail(ex, 502, NULL);
}

/* ------------------------------------------------------------------ */
/* Ending */

void proxy_fail(struct proxy_ex *ex, int status, const char *cause)
{
    struct http_req *req = ex->req;
    struct conn *c = req->conn;
    if (cause)
        note(ex, status, ex->resp_started ? "response cut short" : "no response", cause);
    drop_up(ex);
    req->upstream_ms = http_req_now(req) - ex->began;
    if (ex->resp_started)
        req->keep = false;          /* the client sees the response end early */
    else
        http_req_error(req, status);
    free_ex(ex);
    http_req_done(req);
    conn_wake(c);
}

void proxy_finish(struct proxy_ex *ex, bool keep)
{
    struct http_req *req = ex->req;
    struct conn *up = ex->up;
    req->upstream_ms = http_req_now(req) - ex->began;
    if (!ex->tunnel)
        balance_timed(ex->pr->bal, ex->server, req->upstream_ms);
    if (up) {
        struct proxy_up *u = proxy_up_of(up);
        ex->up = NULL;
        u->ex = NULL;
        conn_unlink(up);
        conn_cancel_timer(up);
        if (keep && ex->body_done && !up->eof) {
            balance_closed(u->bal, u->server);
            u->counted = false;
            upstream_pool_put(ex->pr->pool, up, u->server,
                              ex->pr->up->keepalive_timeout);
        } else if (ex->tunnel) {
            conn_close_after_flush(up);     /* the client's last bytes go first */
        } else {
            conn_close_now(up);
        }
        conn_wake(up);
    }
    free_ex(ex);
    http_req_done(req);
    conn_wake(req->conn);
}

/* ------------------------------------------------------------------ */
/* The handler */

static enum http_start start(struct http_req *req)
{
    const struct proxy_route *pr = req->conf;
    const struct http_server *s = req->server;
    size_t max = s->lim.max_headers;
    struct proxy_ex *ex = new_ex(max);
    if (ex == NULL) {
        http_req_refusal(req, LOG_ERROR, 500, "out of memory for a proxied request");
        http_req_error(req, 500);
        return HTTP_ANSWERED;
    }
    ex->req = req;
    ex->pr = pr;
    ex->max_headers = max;
    ex->began = http_req_now(req);
    ex->body_done = !req->f.chunked && !(req->f.has_length && req->f.content_length > 0);
    ex->upgrade = pr->conf->websocket && http_proxy_is_websocket(req->head);
    ex->buffering = pr->conf->buffering;
    if (pr->up->balance == UPSTREAM_HASH)
        ex->key = request_key(req, &pr->key);
    balance_tried_clear(&ex->tried);
    req->ctx = ex;
    req->upstream_ms = -1;
    attempt(ex);
    return HTTP_PENDING;
}

static size_t body(struct http_req *req, const char *p, size_t n)
{
    struct proxy_ex *ex = req->ctx;
    if (ex == NULL)
        return n;
    if (ex->tunnel) {
        if (n == 0) {
            proxy_tunnel_ended(ex, true);
            return 0;
        }
        if (conn_write(ex->up, p, n) == 0) {
            proxy_arm_read(ex);
            conn_wake(ex->up);
        }
        return n;
    }
    if (n == 0) {
        ex->body_done = true;
        if (ex->connected && req->f.chunked) {
            conn_write(ex->up, "0\r\n\r\n", 5);
            conn_wake(ex->up);
        }
        return 0;
    }
    if (!ex->connected || ex->hold_body)
        return 0;                   /* resumed once it is (opened, up_writable) */
    if (req->f.chunked) {
        char size[20];
        struct iovec iov[3] = {
            { size, (size_t)snprintf(size, sizeof size, "%zx\r\n", n) },
            { (void *)p, n },
            { (void *)"\r\n", 2 },
        };
        conn_writev(ex->up, iov, 3);
    } else {
        conn_write(ex->up, p, n);
    }
    ex->body_sent = true;
    proxy_arm_read(ex);
    conn_wake(ex->up);
    return n;
}

static void abort_exchange(struct http_req *req)
{
    struct proxy_ex *ex = req->ctx;
    if (ex == NULL)
        return;
    req->upstream_ms = http_req_now(req) - ex->began;
    drop_up(ex);
    free_ex(ex);
}

const struct http_handler http_handler_proxy = {
    .name = "proxy",
    .section = section,
    .build = build,
    .free = destroy,
    .any_method = true,
    .start = start,
    .body = body,
    .abort = abort_exchange,
};

/* ------------------------------------------------------------------ */
/* The upstream connection */

static void up_open(struct conn *up)
{
    struct proxy_up *u = proxy_up_of(up);
    balance_report(u->bal, u->server, true, conn_now(up));
    if (u->ex == NULL) {
        conn_close_now(up);
        return;
    }
    opened(u->ex);
}

static void up_error(struct conn *up, int err)
{
    struct proxy_up *u = proxy_up_of(up);
    balance_closed(u->bal, u->server);
    balance_report(u->bal, u->server, false, conn_now(up));
    struct proxy_ex *ex = u->ex;
    if (ex == NULL)
        return;
    ex->up = NULL;
    ex->last_error = err;
    ex->timed_out = err == ETIMEDOUT;
    note(ex, 0, "connect", strerror(err));
    balance_tried_add(&ex->tried, (size_t)u->server);
    if (ex->retried >= ex->pr->conf->retries) {
        proxy_fail(ex, ex->timed_out ? 504 : 502, NULL);
        return;
    }
    ex->retried++;
    attempt(ex);
}

static void up_readable(struct conn *up)
{
    struct proxy_ex *ex = proxy_up_of(up)->ex;
    if (ex == NULL) {
        if (up->in)
            buf_consume(up->in, conn_in_len(up));
        conn_close_now(up);
        return;
    }
    /* What went to the client leaves before the loop sleeps, even when
     * the exchange ended (and the link with it) in this call. */
    struct conn *client = ex->req->conn;
    proxy_response_read(ex);
    conn_wake(client);
}

/* The output drained: on a reused connection, the head has left and the
 * body may follow (opened). */
static void up_writable(struct conn *up)
{
    struct proxy_ex *ex = proxy_up_of(up)->ex;
    if (ex == NULL || !ex->hold_body || !conn_sent(up))
        return;
    ex->hold_body = false;
    http_req_body_resume(ex->req);
}

static void up_timeout(struct conn *up, unsigned kind)
{
    (void)kind;
    struct proxy_ex *ex = proxy_up_of(up)->ex;
    if (ex == NULL) {
        conn_close_now(up);
        return;
    }
    if (ex->tunnel) {               /* no byte either way for websocket_timeout */
        proxy_finish(ex, false);
        return;
    }
    /* Not the upstream's silence: the client is slow to take the response
     * (the link holds the upstream) or to send its body; the client's own
     * send and body deadlines watch it. */
    if (up->held || (!ex->body_done && !ex->got_byte)) {
        conn_set_timer(up, PROXY_TIMER_READ, ex->pr->conf->read_timeout);
        return;
    }
    ex->timed_out = true;
    balance_report(ex->pr->bal, ex->server, false, conn_now(up));
    proxy_fail(ex, 504, "read_timeout passed");
}

static void up_drain(struct conn *up)
{
    (void)up;                       /* the exchange runs to its end */
}

static void up_close(struct conn *up)
{
    struct proxy_up *u = proxy_up_of(up);
    if (u->counted) {
        balance_closed(u->bal, u->server);
        u->counted = false;
    }
    struct proxy_ex *ex = u->ex;
    if (ex == NULL)
        return;
    u->ex = NULL;
    ex->up = NULL;
    ex->accepted = conn_sent(up);
    proxy_up_failed(ex, ECONNRESET, "connection reset, or send_timeout passed");
}

static const struct conn_ops up_ops = {
    .open = up_open,
    .readable = up_readable,
    .writable = up_writable,
    .timeout = up_timeout,
    .drain = up_drain,
    .error = up_error,
    .close = up_close,
};
