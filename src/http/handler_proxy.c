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
 * limited, with the client and the upstream server). Retries:
 *   - a connect failure: nothing was sent, so any request goes to the next
 *     server not tried yet, up to `retries` times;
 *   - a reused idle connection that ends before any byte of the response
 *     (the server closed it as the request went out): an idempotent
 *     request without a body sent yet goes again on a fresh connection,
 *     not counted as a retry, so a server closing idle connections never
 *     costs a GET a 502;
 *   - a fresh connection that ends before any byte of the response: an
 *     idempotent request without a body sent yet, up to `retries` times;
 *   - never after a byte of the response came, and never for a request
 *     whose body bytes went out (they cannot be sent again).
 * The client's body is taken only while the upstream connection is open,
 * so a connect failure leaves it unread for the next attempt.
 * WebSocket (websocket = true): the handshake goes with its Upgrade; the
 * upstream's 101 goes to the client and the exchange becomes a tunnel
 * (http_req_tunnel), bytes both ways over the link until either side ends
 * or websocket_timeout passes with none.
 * Tested by tests/unit/check_http_handler_proxy.c and
 * tests/integration/test_proxy.py. */
#include "http/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include "config_engine.h"
#include "http/handler.h"
#include "http/proxy_head.h"
#include "http/refusal.h"
#include "http/server.h"
#include "transport.h"
#include "upstream.h"
#include "upstream_pool.h"

/* ------------------------------------------------------------------ */
/* Configuration: the route's `proxy` group */

/* Fields the proxy frames or removes itself: configuring them would
 * contradict the message herd sends. */
static const char *const own_fields[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
    "upgrade", "proxy-connection", "expect",
};

static int validate_proxy(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    const struct cfg_proxy *p = obj;
    const config_setting_t *hs = config_setting_get_member(group, "headers");
    for (size_t i = 0; i < p->headers.n; i += 2) {
        for (size_t j = 0; j < sizeof own_fields / sizeof own_fields[0]; j++)
            if (strcasecmp(p->headers.v[i], own_fields[j]) == 0)
                return cfg_fail(ctx, hs, "'headers' cannot set %s: herd frames the request "
                                "itself", p->headers.v[i]);
        char why[160];
        if (http_template_check(p->headers.v[i + 1], NULL, why, sizeof why) < 0)
            return cfg_fail(ctx, hs ? config_setting_get_member(hs, p->headers.v[i]) : group,
                            "header %s: %s", p->headers.v[i], why);
    }
    if (p->upstream == NULL)
        return cfg_fail(ctx, group, "'proxy' needs an 'upstream'");
    if (p->host && (p->host[0] == '\0' || strpbrk(p->host, "\r\n") != NULL))
        return cfg_fail(ctx, group, "'host' must be a non-empty value without line breaks");
    return 0;
}

static const struct cfg_key proxy_keys[] = {
    { .name = "upstream", .type = CT_STRING, .offset = CFG_AT(cfg_proxy, upstream) },
    /* 0: the upstream's connect_timeout */
    { .name = "connect_timeout", .type = CT_DURATION,
      .offset = CFG_AT(cfg_proxy, connect_timeout), .def = "0", .min = 0, .max = CFG_DAY },
    { .name = "send_timeout", .type = CT_DURATION, .offset = CFG_AT(cfg_proxy, send_timeout),
      .def = "60s", .min = 1, .max = CFG_DAY },
    { .name = "read_timeout", .type = CT_DURATION, .offset = CFG_AT(cfg_proxy, read_timeout),
      .def = "60s", .min = 1, .max = CFG_DAY },
    { .name = "retries", .type = CT_INT, .offset = CFG_AT(cfg_proxy, retries), .def = "1",
      .min = 0, .max = 16 },
    { .name = "host", .type = CT_STRING, .offset = CFG_AT(cfg_proxy, host) },
    { .name = "forwarded", .type = CT_BOOL, .offset = CFG_AT(cfg_proxy, forwarded),
      .def = "false" },
    { .name = "headers", .type = CT_FIELDS, .offset = CFG_AT(cfg_proxy, headers) },
    { .name = "websocket", .type = CT_BOOL, .offset = CFG_AT(cfg_proxy, websocket),
      .def = "false" },
    { .name = "websocket_timeout", .type = CT_DURATION,
      .offset = CFG_AT(cfg_proxy, websocket_timeout), .def = "1h", .min = 1, .max = CFG_DAY },
};

const struct cfg_section http_proxy_config = {
    "proxy", sizeof(struct cfg_proxy), proxy_keys, CFG_NKEYS(proxy_keys), validate_proxy,
};

static int check_route(struct cfg_ctx *ctx, const config_setting_t *route,
                       const struct herd_config *cfg, struct cfg_proxy *p)
{
    const config_setting_t *ps = config_setting_get_member(route, "proxy");
    const config_setting_t *at = ps ? config_setting_get_member(ps, "upstream") : NULL;
    if (at == NULL)
        at = ps ? ps : route;
    p->up = upstream_find(cfg, p->upstream);
    if (p->up == NULL)
        return cfg_fail(ctx, at, "unknown upstream '%s'", p->upstream);
    if (p->up->balance != UPSTREAM_HASH)
        return 0;
    /* An HTTP request has every variable of http/template.h. */
    char why[160];
    if (http_template_check(p->up->hash_key, NULL, why, sizeof why) < 0)
        return cfg_fail(ctx, at, "upstream '%s' hash_key: %s", p->upstream, why);
    return 0;
}

int http_proxy_check(struct cfg_ctx *ctx, const config_setting_t *group,
                     const struct herd_config *cfg, struct cfg_server *s)
{
    struct cfg_http *h = s->conf;
    const config_setting_t *routes = config_setting_get_member(group, "routes");
    for (size_t i = 0; i < h->n_routes; i++) {
        if (h->routes[i].proxy == NULL)
            continue;
        const config_setting_t *r = routes ? config_setting_get_elem(routes, (unsigned)i) : NULL;
        if (check_route(ctx, r ? r : group, cfg, h->routes[i].proxy) < 0)
            return -1;
    }
    return 0;
}

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
static size_t peer_text(const struct conn *c, char *out, size_t cap)
{
    if ((c->peer.family != AF_INET && c->peer.family != AF_INET6) ||
        inet_ntop(c->peer.family, c->peer.addr, out, (socklen_t)cap) == NULL)
        return 0;
    return strlen(out);
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
    http_refusal_log(LOG_WARN, req->conn, req->head, http_req_now(req), status,
                     "upstream '%s' server %s: %s%s%s", ex->pr->up->name,
                     req->upstream_addr ? req->upstream_addr : "-", what, cause ? ": " : "",
                     cause ? cause : "");
}

static void free_ex(struct proxy_ex *ex)
{
    ex->req->ctx = NULL;
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
        .peer_len = peer_text(req->conn, peer, sizeof peer),
        .host = conf->host, .host_len = conf->host ? strlen(conf->host) : 0,
        .forwarded = conf->forwarded, .https = conn_is_tls(req->conn),
        .fields = rendered ? rendered : ex->pr->fields, .n_fields = ex->pr->n_fields,
        .upgrade = ex->upgrade,
        .close = ex->pr->up->keepalive == 0 && !ex->upgrade,
    };
    size_t len = http_proxy_request_head(NULL, 0, &r);
    char *out = ex->pr->values && !rendered ? NULL : conn_reserve(ex->up, len);
    if (out) {
        http_proxy_request_head(out, len, &r);
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
    struct conn *up = ex->no_reuse ? NULL : upstream_pool_take(pr->pool, i, &up_ops, NULL);
    if (up) {
        ex->reused = true;
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
    const struct cfg_proxy *conf = ex->pr->conf;
    int server = ex->server;
    bool reused = ex->reused, got = ex->got_byte;
    drop_up(ex);
    /* A reset or close counts against the server (passive health), except
     * a reused connection closed before any answer: keep-alive's race. */
    if (!reused || got || ex->head_done)
        balance_report(ex->pr->bal, server, false, http_req_now(ex->req));
    if (ex->head_done || got) {
        proxy_fail(ex, 502, cause);
        return;
    }
    bool again = !ex->body_sent && idempotent(ex->req->f.method);
    ex->last_error = err ? err : ECONNRESET;
    ex->timed_out = false;
    if (again && reused) {
        /* The race of keep-alive: the server closed it as it was reused. */
        ex->no_reuse = true;
        attempt(ex);
        return;
    }
    note(ex, 0, "failed before a response", cause);
    if (again && ex->retried < conf->retries) {
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
            upstream_pool_put(ex->pr->pool, up, u->server, UPSTREAM_POOL_IDLE_MS);
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
    struct proxy_ex *ex = calloc(1, sizeof *ex + 2 * max * sizeof ex->headers[0]);
    if (ex == NULL) {
        http_refusal_log(LOG_ERROR, req->conn, req->head, http_req_now(req), 500,
                         "out of memory for a proxied request");
        http_req_error(req, 500);
        return HTTP_ANSWERED;
    }
    ex->req = req;
    ex->pr = pr;
    ex->max_headers = max;
    ex->began = http_req_now(req);
    ex->body_done = !req->f.chunked && !(req->f.has_length && req->f.content_length > 0);
    ex->upgrade = pr->conf->websocket && http_proxy_is_websocket(req->head);
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
        if (n > 0 && conn_write(ex->up, p, n) == 0) {
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
    if (!ex->connected)
        return 0;                   /* resumed once it is (opened) */
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

static void up_writable(struct conn *up)
{
    (void)up;
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
