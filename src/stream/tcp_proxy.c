/* TCP proxy: each client connection is carried to a server of an upstream.
 *
 *   accepted ─► pick a server (balance.h) ─► connect ─┬─ refused, timed out:
 *       ▲                                              │   report, next server
 *       └──────────────────────────────────────────────┘   (none left: close)
 *   connected ─► linked (conn_link): bytes each way, each side reading only
 *                while the other's output is below the high-water mark
 *   one side's end (FIN) ─► what is pending goes out, then the other side's
 *                sending is shut down; the other direction keeps flowing
 *   both ends seen ─► both closed after their output
 *   idle_timeout with no byte either way, an error or a reset ─► both closed
 *
 * A connect failure means no byte was sent, so trying the next server is
 * always safe. Refused and timed-out connects and upstream connections
 * that end early (a reset) count against the server's passive health. Failed connects and refused clients are logged at info, at
 * most TP_LOG_PER_SECOND lines a second per worker. The client's bytes wait in its input buffer until the
 * upstream connection is open (bounded by that buffer). A graceful drain
 * lets proxied connections run on until they end or the worker's
 * shutdown_timeout passes. send_proxy_protocol puts a PROXY header (v1 or
 * v2) first on the upstream connection. Bulk flows are spliced (splice(2)
 * through a pipe, conn_link_splice) by the connection layer; the protocol
 * still hears of each move (readable with nothing in c->in) for its idle
 * deadline.
 *
 * The client connection keeps the state (struct tp_client, its
 * proto_state); the upstream connection keeps which server it went to, so
 * that it is counted out of the balancer however it ends, and a pointer
 * back to its client (NULL once the client is gone).
 * Tested by tests/unit/check_stream_tcp_proxy.c and
 * tests/integration/test_tcp_proxy.py. */
#include "stream/tcp_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "balance.h"
#include "config_engine.h"
#include "conn.h"
#include "log.h"
#include "proto.h"
#include "proxy_protocol.h"
#include "transport.h"
#include "upstream.h"

/* Deadline kind (conn.h): no byte either way for idle_timeout. */
enum { TP_TIMER_IDLE = CONN_TIMER_PROTO };

/* Lines about failed connects and refused clients, at most this many a
 * second per worker (like refused HTTP requests): a flood of clients while
 * an upstream is down must not flood the log. */
#define TP_LOG_PER_SECOND 10

/* ------------------------------------------------------------------ */
/* Configuration */

static int tcp_proxy_validate(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    const struct tcp_proxy_config *t = obj;
    if (t->upstream == NULL)
        return cfg_fail(ctx, group, "a tcp_proxy server needs an 'upstream'");
    return 0;
}

static const char *const pp_versions[] = {
    [TCP_PROXY_PP_OFF] = "off", [TCP_PROXY_PP_V1] = "v1", [TCP_PROXY_PP_V2] = "v2", NULL,
};

static const struct cfg_key tcp_proxy_keys[] = {
    { .name = "upstream", .type = CT_STRING, .offset = CFG_AT(tcp_proxy_config, upstream) },
    { .name = "idle_timeout", .type = CT_DURATION,
      .offset = CFG_AT(tcp_proxy_config, idle_timeout), .def = "10m", .min = 1,
      .max = CFG_DAY },
    /* Not "proxy_protocol": that generic server key is the accepting side
     * (conn_proxy_header.h); this one is the sending side. */
    { .name = "send_proxy_protocol", .type = CT_ENUM,
      .offset = CFG_AT(tcp_proxy_config, send_proxy_protocol), .def = "off",
      .names = pp_versions },
};

static const struct cfg_section tcp_proxy_section = {
    "tcp_proxy", sizeof(struct tcp_proxy_config), tcp_proxy_keys, CFG_NKEYS(tcp_proxy_keys),
    tcp_proxy_validate,
};

/* The variables a hash_key may use here: the client's address and port. */
static const char *const key_vars[] = { "remote_addr", "remote_port" };

/* The variable at p (just after '$'): its index in key_vars, or -1. */
static int key_var(const char *p, size_t *len)
{
    return upstream_key_var(p, len, key_vars, sizeof key_vars / sizeof key_vars[0]);
}

static int tcp_proxy_check(struct cfg_ctx *ctx, const config_setting_t *group,
                           const struct herd_config *cfg, struct cfg_server *s)
{
    struct tcp_proxy_config *t = s->conf;
    const config_setting_t *at = config_setting_get_member(group, "upstream");
    t->up = upstream_find(cfg, t->upstream);
    if (t->up == NULL)
        return cfg_fail(ctx, at, "unknown upstream '%s'", t->upstream);
    if (t->up->balance != UPSTREAM_HASH)
        return 0;
    for (const char *p = strchr(t->up->hash_key, '$'); p; p = strchr(p + 1, '$')) {
        size_t len;
        if (key_var(p + 1, &len) < 0)
            return cfg_fail(ctx, at, "upstream '%s' hashes on $%.*s, which a tcp_proxy server "
                            "does not have (only $remote_addr and $remote_port)",
                            t->upstream, (int)len, p + 1);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Servers */

struct tp_server {
    const struct tcp_proxy_config *conf;
    struct balancer *bal;
};

static void *tp_server_new(const struct cfg_server *cfg, int log_fd, char *err, size_t errcap)
{
    (void)log_fd;
    const struct tcp_proxy_config *conf = cfg->conf;
    struct tp_server *s = calloc(1, sizeof *s);
    if (s == NULL || conf->up == NULL || (s->bal = balance_ref(conf->up)) == NULL) {
        snprintf(err, errcap, "tcp_proxy: cannot set up upstream '%s': %s", conf->upstream,
                 conf->up ? "out of memory" : "not found");
        free(s);
        return NULL;
    }
    s->conf = conf;
    return s;
}

static void tp_server_free(void *server)
{
    struct tp_server *s = server;
    balance_unref(s->bal);
    free(s);
}

/* The log budget of this process (that is, of this worker). */
static struct log_budget budget = LOG_BUDGET("tcp_proxy", "messages suppressed", LOG_INFO,
                                             TP_LOG_PER_SECOND);

static void tp_tick(void *server, int64_t now_ms)
{
    (void)server;
    log_budget_tick(&budget, now_ms);
}

static void tp_reopen_log(void *server, int fd)
{
    (void)server;
    close(fd);
}

/* ------------------------------------------------------------------ */
/* Connection state */

/* The client's (its proto_state). */
struct tp_client {
    struct tp_server *srv;
    struct conn *up;                /* connecting or connected; NULL: none */
    bool connected;
    bool client_done;               /* the client's end passed on */
    bool upstream_done;             /* the upstream's end passed on */
    uint32_t key;                   /* balance = "hash" */
    int last_error;                 /* of the last connect that failed */
    struct balance_tried tried;
};

/* The upstream connection's (its proto_state). */
struct tp_upstream {
    struct conn *client;            /* NULL once the client is gone */
    struct balancer *bal;
    int server;
};

_Static_assert(sizeof(struct tp_client) <= CONN_PROTO_STATE, "fits the connection");
_Static_assert(sizeof(struct tp_upstream) <= CONN_PROTO_STATE, "fits the connection");

static struct tp_client *client_of(struct conn *c)
{
    return (struct tp_client *)c->proto_state;
}

static struct tp_upstream *upstream_of(struct conn *c)
{
    return (struct tp_upstream *)c->proto_state;
}

static const struct tcp_proxy_config *conf_of(struct conn *client)
{
    return client_of(client)->srv->conf;
}

/* "192.0.2.1:5000", "[2001:db8::1]:5000", or "-" (a unix socket). */
static void client_text(const struct conn *c, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (c->peer.family != AF_INET && c->peer.family != AF_INET6) {
        snprintf(out, cap, "-");
        return;
    }
    inet_ntop(c->peer.family, c->peer.addr, ip, sizeof ip);
    snprintf(out, cap, c->peer.family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
             (unsigned)ntohs(c->peer.port));
}

/* The client's key for balance = "hash": hash_key with its variables. */
static uint32_t client_key(const struct conn *c, const char *tpl)
{
    char text[512], ip[INET6_ADDRSTRLEN] = "";
    size_t n = 0;
    if (c->peer.family == AF_INET || c->peer.family == AF_INET6)
        inet_ntop(c->peer.family, c->peer.addr, ip, sizeof ip);
    for (const char *p = tpl; *p && n < sizeof text - 64;) {
        size_t len;
        int v = *p == '$' ? key_var(p + 1, &len) : -1;
        if (v < 0) {
            text[n++] = *p++;
            continue;
        }
        n += (size_t)(v == 0 ? snprintf(text + n, sizeof text - n, "%s", ip)
                             : snprintf(text + n, sizeof text - n, "%u",
                                        (unsigned)ntohs(c->peer.port)));
        p += 1 + len;
    }
    return balance_hash(text, n < sizeof text ? n : sizeof text - 1);
}

static void arm_idle(struct conn *client)
{
    conn_set_timer(client, TP_TIMER_IDLE, conf_of(client)->idle_timeout);
}

/* ------------------------------------------------------------------ */
/* Connecting */

static const struct conn_ops upstream_ops;

/* No server left: the client goes, and the log says why. */
static void refuse(struct conn *client, const char *cause)
{
    char who[INET6_ADDRSTRLEN + 16];
    if (log_budget_take(&budget, conn_now(client))) {
        client_text(client, who, sizeof who);
        log_info("tcp_proxy: no server of upstream '%s' for the client: %s, client: %s",
                 conf_of(client)->upstream, cause, who);
    }
    conn_close_now(client);
    conn_wake(client);
}

/* Connect to the next server not yet tried. */
static void try_connect(struct conn *client)
{
    struct tp_client *t = client_of(client);
    struct balancer *bal = t->srv->bal;
    const struct upstream_config *u = balance_upstream(bal);
    int i = balance_pick(bal, t->key, &t->tried, conn_now(client));
    if (i < 0) {
        refuse(client, t->last_error ? strerror(t->last_error)
                                     : "every server is down or at max_connections");
        return;
    }
    balance_tried_add(&t->tried, (size_t)i);
    const struct upstream_addr *a = &u->servers[i].addr;
    struct conn *up = conn_connect(client->owner, (const struct sockaddr *)&a->ss, a->len,
                                   u->connect_timeout, &upstream_ops, &transport_plain, NULL);
    if (up == NULL) {
        /* No socket or no memory here: another server would fare no better. */
        refuse(client, strerror(errno));
        return;
    }
    balance_opened(bal, i);
    *upstream_of(up) = (struct tp_upstream){ .client = client, .bal = bal, .server = i };
    t->up = up;
}

/* ------------------------------------------------------------------ */
/* Carrying bytes */

/* Both ends seen: each side closes once its output is out. */
static void both_done(struct conn *client, struct conn *up)
{
    conn_close_after_flush(client);
    conn_close_after_flush(up);
    conn_wake(client);
    conn_wake(up);
}

/* Move what `from` read to `to`'s output. The connection layer stops
 * `from` reading while `to`'s output is full. After a splice there is
 * nothing to move: the bytes went straight to `to`. */
static void pump(struct conn *from, struct conn *to)
{
    size_t n = conn_in_len(from);
    if (n == 0 || conn_write(to, buf_head(from->in), n) < 0)
        return;
    buf_consume(from->in, n);
}

/* The client sent bytes or its end. */
static void client_flow(struct conn *client)
{
    struct tp_client *t = client_of(client);
    if (!t->connected)
        return;                 /* they wait in the client's input */
    pump(client, t->up);
    arm_idle(client);
    if (client->eof && !t->client_done) {
        t->client_done = true;
        conn_shutdown_after_flush(t->up);
        if (t->upstream_done)
            both_done(client, t->up);
    }
    conn_wake(t->up);
}

static void tp_open(struct conn *client)
{
    struct tp_client *t = client_of(client);
    t->srv = client->srv->data;
    conn_half_close(client);
    client->send_timeout = conf_of(client)->idle_timeout;
    conn_set_gauge(client, CONN_GAUGE_READING);
    arm_idle(client);
    const struct upstream_config *u = balance_upstream(t->srv->bal);
    if (u->balance == UPSTREAM_HASH)
        t->key = client_key(client, u->hash_key);
    try_connect(client);
}

static void tp_readable(struct conn *client)
{
    client_flow(client);
}

static void tp_writable(struct conn *client)
{
    /* The upstream's bytes reached the client: that is traffic too. */
    arm_idle(client);
}

static void tp_timeout(struct conn *client, unsigned kind)
{
    (void)kind;
    conn_close_now(client);
}

static void tp_drain(struct conn *client)
{
    /* A proxied connection runs on to its end (or shutdown_timeout). */
    (void)client;
}

static void tp_close(struct conn *client)
{
    struct tp_client *t = client_of(client);
    struct conn *up = t->up;
    t->up = NULL;
    if (up == NULL)
        return;
    upstream_of(up)->client = NULL;
    /* Connecting: its open or its error finds no client and ends there. */
    if (t->connected && !up->closing) {
        conn_close_now(up);
        conn_wake(up);
    }
}

/* ------------------------------------------------------------------ */
/* The upstream connection */

/* send_proxy_protocol: the PROXY header, first in up's output before any
 * byte of the client's. Source: the client (c->peer, which is already a
 * trusted balancer's PROXY source when there was one); destination: the
 * address the client connected to. Families that differ (an IPv6 source
 * from a header on an IPv4 listener) or a unix socket make "UNKNOWN" (v1)
 * or UNSPEC (v2): the receiver keeps its own peer. */
static int send_header(struct conn *client, struct conn *up)
{
    int version = conf_of(client)->send_proxy_protocol;
    if (version == TCP_PROXY_PP_OFF)
        return 0;
    struct sockaddr_storage src, dst;
    socklen_t dlen = sizeof dst;
    conn_peer_sockaddr(client, &src);
    if (getsockname(client->io.fd, (struct sockaddr *)&dst, &dlen) < 0)
        memset(&dst, 0, sizeof dst);        /* UNKNOWN/UNSPEC: never a guess */
    char h[PROXY_PROTOCOL_BUILD_MAX];
    size_t n = version == TCP_PROXY_PP_V1
        ? proxy_protocol_build_v1((struct sockaddr *)&src, (struct sockaddr *)&dst, h, sizeof h)
        : proxy_protocol_build_v2((struct sockaddr *)&src, (struct sockaddr *)&dst, h, sizeof h);
    if (n == 0) {
        log_error("tcp_proxy: cannot build the PROXY header");
        conn_close_now(up);
        return -1;
    }
    return conn_write(up, h, n);
}

static void upstream_open(struct conn *up)
{
    struct tp_upstream *u = upstream_of(up);
    struct conn *client = u->client;
    balance_report(u->bal, u->server, true, conn_now(up));
    if (client == NULL) {
        conn_close_now(up);
        return;
    }
    struct tp_client *t = client_of(client);
    t->connected = true;
    conn_half_close(up);
    up->send_timeout = conf_of(client)->idle_timeout;
    conn_set_gauge(client, CONN_GAUGE_WRITING);
    conn_link_splice(client, up);
    if (send_header(client, up) < 0)
        return;                 /* up is closing; its close takes the client */
    client_flow(client);
    conn_wake(client);
}

static void upstream_readable(struct conn *up)
{
    struct tp_upstream *u = upstream_of(up);
    struct conn *client = u->client;
    if (client == NULL) {
        if (up->in)
            buf_consume(up->in, conn_in_len(up));
        return;
    }
    struct tp_client *t = client_of(client);
    pump(up, client);
    arm_idle(client);
    if (up->eof && !t->upstream_done) {
        t->upstream_done = true;
        conn_shutdown_after_flush(client);
        if (t->client_done)
            both_done(client, up);
    }
    conn_wake(client);
}

static void upstream_writable(struct conn *up)
{
    struct conn *client = upstream_of(up)->client;
    if (client)
        arm_idle(client);
}

static void upstream_timeout(struct conn *up, unsigned kind)
{
    (void)kind;
    conn_close_now(up);
}

static void upstream_drain(struct conn *up)
{
    (void)up;
}

static void upstream_error(struct conn *up, int err)
{
    struct tp_upstream *u = upstream_of(up);
    struct conn *client = u->client;
    balance_closed(u->bal, u->server);
    balance_report(u->bal, u->server, false, conn_now(up));
    if (client == NULL)
        return;
    struct tp_client *t = client_of(client);
    char who[INET6_ADDRSTRLEN + 16];
    if (log_budget_take(&budget, conn_now(client))) {
        client_text(client, who, sizeof who);
        log_info("tcp_proxy: connect to %s (upstream '%s'): %s, client: %s",
                 balance_server_name(u->bal, u->server), conf_of(client)->upstream,
                 strerror(err), who);
    }
    t->up = NULL;
    t->last_error = err;
    if (client->closing)
        return;
    try_connect(client);
    conn_wake(client);
}

static void upstream_close(struct conn *up)
{
    struct tp_upstream *u = upstream_of(up);
    struct conn *client = u->client;
    balance_closed(u->bal, u->server);
    if (client == NULL)
        return;
    client_of(client)->up = NULL;
    u->client = NULL;
    /* Ended early (reset, error, send timeout): the client goes too, and
     * it counts against the server (passive health), like a refused
     * connect. */
    if (!client->closing) {
        balance_report(u->bal, u->server, false, conn_now(up));
        conn_close_now(client);
        conn_wake(client);
    }
}

static const struct conn_ops upstream_ops = {
    .open = upstream_open,
    .readable = upstream_readable,
    .writable = upstream_writable,
    .timeout = upstream_timeout,
    .drain = upstream_drain,
    .error = upstream_error,
    .close = upstream_close,
};

static const struct proto proto_tcp_proxy = {
    .name = "tcp_proxy",
    .server_new = tp_server_new,
    .server_free = tp_server_free,
    .tick = tp_tick,
    .reopen_log = tp_reopen_log,
    .conn = {
        .open = tp_open,
        .readable = tp_readable,
        .writable = tp_writable,
        .timeout = tp_timeout,
        .drain = tp_drain,
        .close = tp_close,
    },
};

const struct proto_module tcp_proxy_module = {
    .config = { .name = "tcp_proxy", .section = &tcp_proxy_section, .check = tcp_proxy_check },
    .proto = &proto_tcp_proxy,
};
