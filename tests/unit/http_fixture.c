#include "http_fixture.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config_fixture.h"
#include "fixture.h"
#include "loop.h"
#include "transport.h"

struct http_fixture hx;

void hx_mkdir(void)
{
    memset(&hx, 0, sizeof hx);
    hx.client = -1;
    fixture_mkdtemp(hx.dir, sizeof hx.dir, "http");
}

/* conf with each "@DIR@" replaced by hx.dir (malloc'ed). */
static char *with_dir(const char *conf)
{
    size_t n = strlen(conf) + (size_t)fixture_count(conf, "@DIR@") * strlen(hx.dir) + 1;
    char *out = malloc(n), *o = out;
    ck_assert_ptr_nonnull(out);
    for (const char *p = conf; *p;) {
        if (strncmp(p, "@DIR@", 5) == 0) {
            o = stpcpy(o, hx.dir);
            p += 5;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* Server i as a worker builds it, with its access log opened. */
static void build_server(size_t i)
{
    char err[512];
    int line, log_fd = -1;
    const struct cfg_server *s = &hx.cfg->servers[i];
    const char *log = proto_access_log(s, &line);
    if (log) {
        log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        ck_assert_msg(log_fd >= 0, "%s: %s", log, strerror(errno));
    }
    hx.rt[i] = (struct server_rt){ .cfg = s, .proto = &proto_http, .index = i };
    hx.rt[i].data = proto_http.server_new(s, log_fd, err, sizeof err);
    ck_assert_msg(hx.rt[i].data != NULL, "%s", err);
    hx.vhosts[i] = &hx.rt[i];
}

const char *hx_config_path(void)
{
    static char path[sizeof hx.dir + 16];
    return fixture_path(path, sizeof path, hx.dir, "herd.conf");
}

struct herd_config *hx_config(const char *conf, char *err, size_t errcap)
{
    char *text = with_dir(conf);
    fixture_write(hx_config_path(), text, strlen(text));
    free(text);
    config_use_protocols(&proto_registry);
    return config_load(hx_config_path(), err, errcap);
}

struct herd_config *hx_config_ok(const char *conf)
{
    char err[1024];
    struct herd_config *cfg = hx_config(conf, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    return cfg;
}

void hx_refused_at(int n, const struct hx_refusal *r)
{
    char err[1024];
    struct herd_config *cfg = hx_config(r->text, err, sizeof err);
    fixture_refused_at(n, cfg, err, hx_config_path(), r->line, r->says);
}

void hx_load(const char *conf)
{
    hx.cfg = hx_config_ok(conf);
    ck_assert_uint_le(hx.cfg->n_servers, HX_SERVERS);

    fx_setup();
    hx.page = stats_map();
    ck_assert_ptr_nonnull(hx.page);
    fx.owner.page = hx.page;
    hx.n_servers = hx.cfg->n_servers;
    for (size_t i = 0; i < hx.n_servers; i++)
        build_server(i);
    hx_connect("127.0.0.1");
}

void hx_start(const char *conf)
{
    hx_mkdir();
    hx_load(conf);
}

static void close_conn(void)
{
    if (hx.conn.in_use) {
        conn_close_now(&hx.conn);
        conn_run(&hx.conn);
    }
    if (hx.client >= 0)
        close(hx.client);
    hx.client = -1;
}

void hx_connect(const char *peer)
{
    close_conn();
    hx.out = NULL;
    hx.out_len = hx.out_off = 0;
    hx.out_blocked = hx.eof = false;
    hx_forget();
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(40000) };
    if (peer)
        ck_assert_int_eq(inet_pton(AF_INET, peer, &sin.sin_addr), 1);
    int sv[2];
    fx_socketpair(sv);
    hx.client = sv[1];
    struct conn_listen l = { .ops = &proto_http.conn, .tp = &transport_plain,
                             .vhosts = hx.vhosts, .n_vhosts = (uint16_t)hx.n_servers };
    hx.conn.prev = hx.conn.next = NULL;
    conn_start(&hx.conn, &fx.owner, sv[0], peer ? (const struct sockaddr *)&sin : NULL, &l);
}

static bool no_outbound(void *arg)
{
    (void)arg;
    return fx.owner.n_outbound == 0;
}

void hx_stop(void)
{
    if (hx.cfg) {
        close_conn();
        /* The routes free what their own handlers built. */
        while (hx.n_swaps > 0) {
            hx.n_swaps--;
            hx.swaps[hx.n_swaps].route->handler = hx.swaps[hx.n_swaps].was;
        }
        for (size_t i = 0; i < hx.n_servers; i++)
            proto_http.server_free(hx.rt[i].data);
        /* Freeing a proxy route closes its idle upstream connections;
         * their closes run in the loop, as in a worker. */
        ck_assert(fx_run_until(no_outbound, NULL, 2000));
        fx_teardown();
        stats_unmap(hx.page);
        config_free(hx.cfg);
        hx.cfg = NULL;
    }
    if (hx.dir[0])
        fixture_rmtree(hx.dir);
    hx.dir[0] = '\0';
}

struct http_route *hx_route_of(size_t i, const char *path)
{
    struct http_server *s = hx.rt[i].data;
    struct http_route *r =
        (struct http_route *)http_route_find(&s->routes, path, strlen(path), NULL);
    ck_assert_msg(r != NULL, "no route for %s", path);
    return r;
}

void hx_use_handler(const char *path, const struct http_handler *h)
{
    ck_assert_uint_lt(hx.n_swaps, HX_SWAPS);
    struct http_route *r = hx_route_of(0, path);
    hx.swaps[hx.n_swaps].route = r;
    hx.swaps[hx.n_swaps].was = r->handler;
    hx.n_swaps++;
    r->handler = h;
}

void hx_send_bytes(const char *p, size_t n)
{
    hx.out = p;
    hx.out_len = n;
    hx.out_off = 0;
}

void hx_send(const char *s)
{
    hx_send_bytes(s, strlen(s));
}

void hx_forget(void)
{
    hx.in_len = 0;
    hx.in[0] = '\0';
}

static void pump(void)
{
    while (hx.out_off < hx.out_len) {
        ssize_t n = send(hx.client, hx.out + hx.out_off, hx.out_len - hx.out_off, MSG_NOSIGNAL);
        if (n < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            hx.out_blocked = true;
            break;
        }
        hx.out_off += (size_t)n;
        hx.sent += (size_t)n;
    }
    while (!hx.hold_in) {
        ssize_t n = recv(hx.client, hx.in + hx.in_len, HX_CLIENT_IN - hx.in_len, 0);
        if (n > 0) {
            hx.in_len += (size_t)n;
            hx.in[hx.in_len] = '\0';
            continue;
        }
        hx.eof |= n == 0;
        break;
    }
}

/* Each millisecond: the client sends and reads what it can, the test takes
 * its step, then the condition is checked. */
static bool client_turn(void *pred)
{
    pump();
    if (hx.step)
        hx.step();
    return ((bool (*)(void))pred)();
}

bool hx_run_until(bool (*pred)(void))
{
    return fx_run_until(client_turn, (void *)pred, 10000);
}

const char *hx_access_log(void)
{
    static char *text;
    for (size_t i = 0; i < hx.n_servers; i++)
        proto_http.tick(hx.rt[i].data, loop_now(fx.loop) + 5000);
    char path[256];
    free(text);
    text = fixture_read_file(fixture_path(path, sizeof path, hx.dir, "access.log"), NULL);
    return text;
}

int hx_responses(void)
{
    int n = 0;
    const char *p = hx.in, *end = hx.in + hx.in_len;
    for (;;) {
        const char *blank = strstr(p, "\r\n\r\n");
        if (blank == NULL)
            return n;
        const char *cl = strstr(p, "Content-Length: ");
        size_t len = cl && cl < blank ? strtoul(cl + 16, NULL, 10) : 0;
        if ((size_t)(end - (blank + 4)) < len)
            return n;
        n += strncmp(p, "HTTP/1.1 100 ", 13) != 0;
        p = blank + 4 + len;
    }
}

bool hx_one_response(void) { return hx_responses() >= 1; }
bool hx_two_responses(void) { return hx_responses() >= 2; }
bool hx_three_responses(void) { return hx_responses() >= 3; }
bool hx_closed(void) { return hx.eof; }

bool hx_all_read(void)
{
    return hx.out_off == hx.out_len && stats_get(fx.stats, STAT_BYTES_IN) == hx.sent;
}

const char *hx_response(const char *status_line)
{
    /* At the start of a line: the status line, not a body's text. */
    for (const char *p = hx.in; (p = strstr(p, status_line)) != NULL; p++)
        if (p == hx.in || p[-1] == '\n')
            return p;
    return NULL;
}
