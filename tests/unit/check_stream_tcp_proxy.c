/* The TCP proxy (src/stream/tcp_proxy.c).
 * Configuration: a missing or unknown upstream and a hash_key it cannot
 * fill are errors at FILE:LINE; the defaults; the upstream found.
 * Over real connections (conn_fixture: the client on a socket pair, the
 * upstream servers unix sockets listening here, a real loop): bytes both
 * ways, half-close each way, a refused first server then the next one, every
 * server refused (the client closed, the cause logged, at most 10 lines a
 * second in a flood of clients), idle_timeout closing both sides,
 * send_proxy_protocol's header first (v1, v2), back-pressure against a
 * backend that does not read, a drain
 * that lets the connection run on, and the balancer's count of active
 * connections going back to zero. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "balance.h"
#include "config.h"
#include "conn.h"
#include "conn_fixture.h"
#include "proto.h"
#include "stream/tcp_proxy.h"
#include "transport.h"
#include "upstream.h"
#include "config_fixture.h"
#include "tap.h"

/* ------------------------------------------------------------------ */
/* Configuration */

#define UPSTREAM_REDIS \
    "upstreams = ( { name = \"redis\"; servers = ( { address = \"127.0.0.1:6379\"; } ); } );\n"

static void conf_setup(void)
{
    config_use_protocols(&proto_registry);
    fixture_conf_setup();
}

START_TEST(needs_a_known_upstream)
{
    static const struct {
        const char *text;
        int line;
        const char *says;
    } bad[] = {
        { BASE UPSTREAM_REDIS
          "servers = (\n { listen = \"127.0.0.1:1\"; protocol = \"tcp_proxy\"; } );\n",
          4, "needs an 'upstream'" },
        { BASE UPSTREAM_REDIS
          "servers = (\n { listen = \"127.0.0.1:1\"; protocol = \"tcp_proxy\";\n"
          "   upstream = \"redis2\"; } );\n",
          5, "unknown upstream 'redis2'" },
        { BASE "servers = ( { listen = \"127.0.0.1:1\"; protocol = \"tcp_proxy\";\n"
          "   upstream = \"redis\"; } );\n",
          3, "unknown upstream 'redis'" },
        { BASE "upstreams = ( { name = \"h\"; servers = ( { address = \"127.0.0.1:1\"; } );\n"
          "  balance = \"hash\"; hash_key = \"$request_uri\"; } );\n"
          "servers = ( { listen = \"127.0.0.1:1\"; protocol = \"tcp_proxy\";\n"
          "   upstream = \"h\"; } );\n",
          5, "$request_uri" },
        { BASE UPSTREAM_REDIS
          "servers = ( { listen = \"127.0.0.1:1\"; protocol = \"tcp_proxy\"; upstream = \"redis\";\n"
          "   idle_timeout = 0; } );\n",
          4, "idle_timeout" },
        { BASE UPSTREAM_REDIS
          "servers = ( { listen = \"127.0.0.1:1\"; protocol = \"echo\"; upstream = \"redis\"; } );\n",
          3, "upstream" },
        { BASE UPSTREAM_REDIS
          "servers = ( { listen = \"127.0.0.1:1\"; protocol = \"tcp_proxy\"; upstream = \"redis\";\n"
          "   send_proxy_protocol = \"v3\"; } );\n",
          4, "send_proxy_protocol" },
        { BASE UPSTREAM_REDIS
          "servers = ( { listen = \"127.0.0.1:1\"; protocol = \"echo\";\n"
          "   send_proxy_protocol = \"v1\"; } );\n",
          4, "send_proxy_protocol" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512];
        struct herd_config *cfg = fixture_load(bad[i].text, err, sizeof err);
        fixture_refused((int)i, cfg, err, fixture_conf, bad[i].line, bad[i].says);
    }
}
END_TEST

START_TEST(defaults_and_the_upstream_found)
{
    char err[512];
    struct herd_config *cfg = fixture_load(
        BASE "upstreams = ( { name = \"redis\"; servers = ( { address = \"127.0.0.1:6379\"; } ); },\n"
        "  { name = \"by_client\"; servers = ( { address = \"127.0.0.1:2\"; } );\n"
        "  balance = \"hash\"; hash_key = \"$remote_addr:$remote_port\"; } );\n"
        "servers = ( { listen = \"127.0.0.1:6380\"; protocol = \"tcp_proxy\"; upstream = \"redis\"; },\n"
        "  { listen = \"127.0.0.1:6381\"; protocol = \"tcp_proxy\"; upstream = \"by_client\";\n"
        "    idle_timeout = \"30s\"; send_proxy_protocol = \"v2\"; } );\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->n_servers, 2);
    const struct tcp_proxy_config *a = cfg->servers[0].conf, *b = cfg->servers[1].conf;
    ck_assert_ptr_eq(cfg->servers[0].protocol, &tcp_proxy_module.config);
    ck_assert_str_eq(a->upstream, "redis");
    ck_assert_int_eq(a->idle_timeout, 600000);
    ck_assert_ptr_eq(a->up, upstream_find(cfg, "redis"));
    ck_assert_int_eq(a->send_proxy_protocol, TCP_PROXY_PP_OFF);
    ck_assert_int_eq(b->idle_timeout, 30000);
    ck_assert_int_eq(b->send_proxy_protocol, TCP_PROXY_PP_V2);
    ck_assert_ptr_eq(b->up, upstream_find(cfg, "by_client"));
    char *text = fixture_print(cfg);
    ck_assert_ptr_nonnull(strstr(text, "upstream = \"redis\";"));
    ck_assert_ptr_nonnull(strstr(text, "idle_timeout"));
    ck_assert_ptr_nonnull(strstr(text, "send_proxy_protocol = \"v2\";"));
    free(text);
    config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Over connections */

#define N_BACKENDS 2

static char dir[64];
static struct upstream_config uc;
static struct upstream_server_config sc[N_BACKENDS];
static struct tcp_proxy_config tc;
static struct cfg_server scfg;
static struct server_rt srv;
static const struct server_rt *const vhosts[1] = { &srv };
static struct conn conn;
static int sv[2];               /* [0] the client connection's, [1] the client's */
static int lfd[N_BACKENDS];     /* the backends' listening sockets; -1: none */
static int bfd = -1;            /* the backend's end of the proxied connection */
static struct balancer *bal;    /* the server's balancer (balance_ref) */
static int pp_version;          /* send_proxy_protocol of the next serve() */

/* Backend i listens at dir/bI when listening, else its path is unused
 * (connect: ENOENT). */
static void backend_at(int i, bool listening)
{
    char path[128];
    const char *why;
    snprintf(path, sizeof path, "unix:%s/b%d", dir, i);
    ck_assert_int_eq(upstream_addr_parse(path, &sc[i].addr, &why), 0);
    sc[i].weight = 1;
    lfd[i] = -1;
    if (!listening)
        return;
    lfd[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(lfd[i], 0);
    ck_assert_int_eq(bind(lfd[i], (struct sockaddr *)&sc[i].addr.ss, sc[i].addr.len), 0);
    ck_assert_int_eq(listen(lfd[i], 16), 0);
}

/* A proxy to n backends (those listening as given), and a client. */
static void serve(int n, const bool *listening, int64_t idle_ms)
{
    for (int i = 0; i < n; i++)
        backend_at(i, listening[i]);
    uc = (struct upstream_config){ .name = "b", .servers = sc, .n_servers = (size_t)n,
                                   .balance = UPSTREAM_ROUND_ROBIN, .connect_timeout = 2000,
                                   .max_fails = 1, .fail_timeout = 10000 };
    tc = (struct tcp_proxy_config){ .upstream = "b", .idle_timeout = idle_ms, .up = &uc,
                                    .send_proxy_protocol = pp_version };
    scfg = (struct cfg_server){ .protocol = &tcp_proxy_module.config, .conf = &tc };
    const struct proto *p = tcp_proxy_module.proto;
    char err[256];
    srv = (struct server_rt){ .cfg = &scfg, .proto = p };
    srv.data = p->server_new(&scfg, -1, err, sizeof err);
    ck_assert_msg(srv.data != NULL, "%s", err);
    bal = balance_ref(&uc);
    struct conn_listen l = { .ops = &p->conn, .tp = &transport_plain, .vhosts = vhosts,
                             .n_vhosts = 1 };
    conn_start(&conn, &fx.owner, sv[0], NULL, &l);
}

static void setup(void)
{
    fx_setup();
    fx_socketpair(sv);
    fixture_mkdtemp(dir, sizeof dir, "tcp-proxy");
    for (int i = 0; i < N_BACKENDS; i++)
        lfd[i] = -1;
    bfd = -1;
    srv.data = NULL;
    bal = NULL;
    pp_version = TCP_PROXY_PP_OFF;
}

static void teardown(void)
{
    /* Whatever is still open ends here, the upstream side with it. */
    if (conn.in_use) {
        conn_close_now(&conn);
        conn_run(&conn);
    }
    fx_run_for(20);
    if (bal)
        balance_unref(bal);
    if (srv.data)
        tcp_proxy_module.proto->server_free(srv.data);
    srv.data = NULL;
    for (int i = 0; i < N_BACKENDS; i++)
        if (lfd[i] >= 0)
            close(lfd[i]);
    if (bfd >= 0)
        close(bfd);
    if (sv[1] >= 0)
        close(sv[1]);
    fx_teardown();
    fixture_rmtree(dir);
}

static int accepted_from = -1;

static bool backend_accepted(void *arg)
{
    (void)arg;
    for (int i = 0; i < N_BACKENDS; i++) {
        if (lfd[i] < 0)
            continue;
        int fd = accept4(lfd[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            bfd = fd;
            accepted_from = i;
            return true;
        }
    }
    return false;
}

/* What one end reads, until `want` bytes or its end. */
struct reader {
    int fd;
    char buf[1 << 16];
    size_t len, want;
    bool open;
};

static struct reader rd;

static bool read_enough(void *arg)
{
    (void)arg;
    rd.open = fx_recv(rd.fd, rd.buf, &rd.len, sizeof rd.buf);
    return rd.len >= rd.want || !rd.open;
}

/* fd gets exactly `text` (then maybe its end when `then_eof`). */
static void receives(int fd, const char *text, bool then_eof)
{
    rd.fd = fd;
    rd.len = 0;
    rd.want = then_eof ? (size_t)-1 : strlen(text);
    rd.open = true;
    ck_assert(fx_run_until(read_enough, NULL, 5000));
    ck_assert_uint_eq(rd.len, strlen(text));
    ck_assert(memcmp(rd.buf, text, rd.len) == 0);
    ck_assert(then_eof ? !rd.open : true);
}

/* Both sides closed: the client's connection, and the upstream's, which
 * counts itself out of the balancer. */
static bool all_closed(void *arg)
{
    (void)arg;
    size_t active = 0;
    for (size_t i = 0; i < balance_servers(bal); i++)
        active += balance_active(bal, (int)i);
    return fx.closed >= 1 && active == 0;
}

/* The proxied connection is up: the client's bytes reach a backend. */
static void connected(void)
{
    fx_send(sv[1], "hello", 5);
    ck_assert(fx_run_until(backend_accepted, NULL, 5000));
    receives(bfd, "hello", false);
}

/* ------------------------------------------------------------------ */

START_TEST(carries_bytes_both_ways)
{
    static const bool on[] = { true };
    serve(1, on, 60000);
    connected();
    ck_assert_uint_eq(balance_active(bal, 0), 1);
    ck_assert_ptr_nonnull(conn.link);
    fx_send(bfd, "world", 5);
    receives(sv[1], "world", false);
    fx_send(sv[1], "again", 5);
    receives(bfd, "again", false);
    /* The backend hangs up, then the client: both ends passed on, both
     * closed, the server's count back to zero. */
    ck_assert_int_eq(shutdown(bfd, SHUT_WR), 0);
    receives(sv[1], "", true);
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    receives(bfd, "", true);
    ck_assert(fx_run_until(all_closed, NULL, 5000));
}
END_TEST

/* send_proxy_protocol: the header comes first, before the client's bytes.
 * The client here is on a socket pair (no address): "UNKNOWN" in v1, a
 * PROXY command of family UNSPEC in v2 (the integration test has real
 * addresses). */
START_TEST(sends_the_proxy_header_first)
{
    static const bool on[] = { true };
    static const char v2[] = "\r\n\r\n\0\r\nQUIT\n\x21\x00\x00\x00" "hello";
    pp_version = _i == 0 ? TCP_PROXY_PP_V1 : TCP_PROXY_PP_V2;
    serve(1, on, 60000);
    fx_send(sv[1], "hello", 5);
    ck_assert(fx_run_until(backend_accepted, NULL, 5000));
    rd.fd = bfd;
    rd.len = 0;
    rd.want = _i == 0 ? 20 : 21;
    rd.open = true;
    ck_assert(fx_run_until(read_enough, NULL, 5000));
    if (_i == 0) {
        ck_assert_uint_eq(rd.len, 20);
        ck_assert(memcmp(rd.buf, "PROXY UNKNOWN\r\nhello", 20) == 0);
    } else {
        ck_assert_uint_eq(rd.len, 21);
        ck_assert(memcmp(rd.buf, v2, 21) == 0);
    }
    fx_send(bfd, "world", 5);
    receives(sv[1], "world", false);
}
END_TEST

START_TEST(half_close_from_the_client)
{
    static const bool on[] = { true };
    serve(1, on, 60000);
    connected();
    /* The client is done sending: the backend sees the end, answers, and
     * closes; the client reads the whole answer. */
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    receives(bfd, "", true);
    ck_assert(conn.in_use);
    fx_send(bfd, "the answer", 10);
    close(bfd);
    bfd = -1;
    receives(sv[1], "the answer", true);
    ck_assert(fx_run_until(all_closed, NULL, 5000));
}
END_TEST

START_TEST(half_close_from_the_backend)
{
    static const bool on[] = { true };
    serve(1, on, 60000);
    connected();
    fx_send(bfd, "bye", 3);
    ck_assert_int_eq(shutdown(bfd, SHUT_WR), 0);
    receives(sv[1], "bye", true);
    /* The client may still send; it reaches the backend. */
    fx_send(sv[1], "last words", 10);
    receives(bfd, "last words", false);
    ck_assert_int_eq(fx.closed, 0);
    close(sv[1]);
    sv[1] = -1;
    receives(bfd, "", true);
    ck_assert(fx_run_until(all_closed, NULL, 5000));
}
END_TEST

START_TEST(a_refused_server_then_the_next)
{
    static const bool on[] = { false, true };
    serve(2, on, 60000);
    connected();
    ck_assert_int_eq(accepted_from, 1);
    /* The refusing one counts as failed (max_fails = 1): down. */
    ck_assert(balance_is_down(bal, 0, conn_now(&conn)));
    ck_assert_uint_eq(balance_active(bal, 0), 0);
    ck_assert_uint_eq(balance_active(bal, 1), 1);
    fx_send(bfd, "ok", 2);
    receives(sv[1], "ok", false);
}
END_TEST

START_TEST(every_server_refused)
{
    static const bool on[] = { false, false };
    int logfd = fixture_log_begin();
    serve(2, on, 60000);
    receives(sv[1], "", true);
    ck_assert(fx_run_until(all_closed, NULL, 5000));
    char *text = fixture_log_text(logfd);
    fixture_log_end();
    ck_assert_msg(strstr(text, "No such file or directory") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "no server of upstream 'b'") != NULL, "%s", text);
    ck_assert_int_eq(fixture_count(text, "connect to unix:"), 2);
    free(text);
    ck_assert_uint_eq(balance_active(bal, 0) + balance_active(bal, 1), 0);
}
END_TEST

#define FLOOD 60

static struct conn more[FLOOD];
static int more_fd[FLOOD];

static bool flood_closed(void *arg)
{
    (void)arg;
    return fx.closed >= FLOOD + 1;
}

START_TEST(refusals_are_rate_limited)
{
    static const bool on[] = { false, false };
    int logfd = fixture_log_begin();
    serve(2, on, 60000);
    /* Both servers are down after the first client: a flood of clients,
     * each refused with a line, logs at most 10 lines a second. */
    const struct proto *p = tcp_proxy_module.proto;
    struct conn_listen l = { .ops = &p->conn, .tp = &transport_plain, .vhosts = vhosts,
                             .n_vhosts = 1 };
    receives(sv[1], "", true);
    for (int i = 0; i < FLOOD; i++) {
        int pair[2];
        fx_socketpair(pair);
        more_fd[i] = pair[1];
        more[i].prev = more[i].next = NULL;
        conn_start(&more[i], &fx.owner, pair[0], NULL, &l);
    }
    ck_assert(fx_run_until(flood_closed, NULL, 10000));
    for (int i = 0; i < FLOOD; i++)
        close(more_fd[i]);
    tcp_proxy_module.proto->tick(srv.data, conn_now(&conn) + 1000);
    char *text = fixture_log_text(logfd);
    fixture_log_end();
    int lines = fixture_count(text, "tcp_proxy: connect to") +
                fixture_count(text, "tcp_proxy: no server");
    ck_assert_msg(lines < FLOOD + 3, "%d lines for %d messages:\n%s", lines, FLOOD + 3, text);
    ck_assert_msg(strstr(text, "more messages suppressed (at most 10 a second per worker)"),
                  "%s", text);
    free(text);
}
END_TEST

START_TEST(idle_timeout_closes_both)
{
    static const bool on[] = { true };
    serve(1, on, 150);
    connected();
    /* The last byte moves after `start`. */
    int64_t start = conn_now(&conn);
    fx_send(bfd, "x", 1);
    receives(sv[1], "x", false);
    receives(sv[1], "", true);
    ck_assert_int_ge(conn_now(&conn) - start, 150);
    receives(bfd, "", true);
    ck_assert(fx_run_until(all_closed, NULL, 5000));
}
END_TEST

static size_t pushed;

static bool held(void *arg)
{
    (void)arg;
    size_t n = fx_fill(sv[1], 'z');
    pushed += n;
    return conn.held && n == 0 && conn.link && !conn.link->writable;
}

static bool backend_got_all(void *arg)
{
    (void)arg;
    rd.open = fx_recv(bfd, rd.buf, &rd.len, sizeof rd.buf);
    return rd.len >= pushed;
}

START_TEST(holds_back_a_client_the_backend_does_not_read)
{
    static const bool on[] = { true };
    serve(1, on, 60000);
    connected();
    pushed = 0;
    ck_assert(fx_run_until(held, NULL, 10000));
    size_t out = conn_out_len(conn.link);
    ck_assert_uint_le(out, CONN_OUT_HIGH + 16 * 1024);
    ck_assert_uint_le(conn_in_len(&conn), 16 * 1024);
    pushed += fx_fill(sv[1], 'z');
    fx_run_for(20);
    ck_assert_uint_eq(conn_out_len(conn.link), out);
    /* The backend reads: everything arrives. */
    rd.fd = bfd;
    rd.len = 0;
    rd.open = true;
    ck_assert(fx_run_until(backend_got_all, NULL, 20000));
    ck_assert_uint_eq(rd.len, pushed);
}
END_TEST

START_TEST(a_drain_lets_it_run_on)
{
    static const bool on[] = { true };
    serve(1, on, 60000);
    connected();
    conn_drain(&conn);
    fx_run_for(50);
    ck_assert(conn.in_use);
    fx_send(bfd, "still", 5);
    receives(sv[1], "still", false);
    fx_send(sv[1], "here", 4);
    receives(bfd, "here", false);
}
END_TEST

START_TEST(the_client_waits_for_the_connect)
{
    /* Bytes and the end of a client that is quick: kept until the
     * upstream connection is open, then passed on in order. */
    static const bool on[] = { true };
    serve(1, on, 60000);
    fx_send(sv[1], "early", 5);
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    ck_assert(fx_run_until(backend_accepted, NULL, 5000));
    receives(bfd, "early", true);
    fx_send(bfd, "late", 4);
    close(bfd);
    bfd = -1;
    receives(sv[1], "late", true);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("stream_tcp_proxy");
    TCase *cf = tcase_create("config");
    tcase_add_checked_fixture(cf, conf_setup, fixture_conf_teardown);
    tcase_add_test(cf, needs_a_known_upstream);
    tcase_add_test(cf, defaults_and_the_upstream_found);
    suite_add_tcase(s, cf);

    TCase *tc_ = tcase_create("proxy");
    tcase_add_checked_fixture(tc_, setup, teardown);
    tcase_add_test(tc_, carries_bytes_both_ways);
    tcase_add_loop_test(tc_, sends_the_proxy_header_first, 0, 2);
    tcase_add_test(tc_, half_close_from_the_client);
    tcase_add_test(tc_, half_close_from_the_backend);
    tcase_add_test(tc_, a_refused_server_then_the_next);
    tcase_add_test(tc_, every_server_refused);
    tcase_add_test(tc_, refusals_are_rate_limited);
    tcase_add_test(tc_, idle_timeout_closes_both);
    tcase_add_test(tc_, holds_back_a_client_the_backend_does_not_read);
    tcase_add_test(tc_, a_drain_lets_it_run_on);
    tcase_add_test(tc_, the_client_waits_for_the_connect);
    suite_add_tcase(s, tc_);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
