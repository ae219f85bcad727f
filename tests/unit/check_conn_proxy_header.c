/* The PROXY header read before a connection opens (src/conn_proxy_header.c),
 * over real socket pairs and a real loop, the accepted peer given as the
 * listener would: from a trusted source the header comes first and none of
 * it reaches the protocol (v1, v2, LOCAL, split across writes, followed by
 * data in the same write, before a transport's handshake), the peer becomes
 * the header's source; a malformed, missing, cut or slow header closes the
 * connection before open, logged with the real peer and the reason, at most
 * ten lines a second; an untrusted source is served as if there were no
 * rule. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "conn_fixture.h"
#include "conn_proxy_header.h"
#include "fixture.h"
#include "proxy_protocol.h"
#include "tap.h"
#include "transport.h"

static struct conn conns[16];
static int sv[2];               /* [0] the connection's end, [1] the test's */
static struct conn_proxy_accept *rule;

static void make_rule(int64_t timeout_ms)
{
    static const char *const from[] = { "10.0.0.0/8", "::1" };
    free(rule);
    rule = conn_proxy_accept_new(from, 2, timeout_ms);
    ck_assert_ptr_nonnull(rule);
}

static void setup(void)
{
    fx_setup();
    fx_socketpair(sv);
    log_set_level(LOG_INFO);
    make_rule(60000);
}

static void teardown(void)
{
    fx_teardown();
    free(rule);
    rule = NULL;
}

static void sockaddr_of(const char *ip, unsigned port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        ck_assert_int_eq(inet_pton(AF_INET6, ip, &v6->sin6_addr), 1);
    } else {
        struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        ck_assert_int_eq(inet_pton(AF_INET, ip, &v4->sin_addr), 1);
    }
}

/* Accept fd as if from ip:port (NULL: no address), on a listener with the
 * rule, over tp. */
static void start_from(struct conn *c, int fd, const char *ip, unsigned port,
                       const struct conn_transport *tp)
{
    static const struct server_rt *const none[1] = { NULL };
    struct conn_listen l = { .ops = &fx_probe_ops, .tp = tp, .vhosts = none, .n_vhosts = 1,
                             .proxy = rule };
    struct sockaddr_storage ss;
    if (ip)
        sockaddr_of(ip, port, &ss);
    c->prev = c->next = NULL;
    conn_start(c, &fx.owner, fd, ip ? (struct sockaddr *)&ss : NULL, &l);
}

static const char *peer_text(const struct conn *c, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    char ip[INET6_ADDRSTRLEN] = "-";
    unsigned port = 0;
    conn_peer_sockaddr(c, &ss);
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    snprintf(out, cap, "%s %u", ip, port);
    return out;
}

static bool probe_got(void *want)
{
    return fx_probe.got_len >= strlen(want);
}

static void send_str(int fd, const char *s)
{
    fx_send(fd, s, strlen(s));
}

/* ------------------------------------------------------------------ */
/* Trusted sources */

START_TEST(v1_header_names_the_peer)
{
    fx_probe.mode = FX_SINK;
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &transport_plain);
    ck_assert_int_eq(fx_probe.n, 0);
    send_str(sv[1], "PROXY TCP4 192.0.2.9 10.0.0.1 40000 80\r\n");
    char e = 'o';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    char t[80];
    ck_assert_str_eq(peer_text(&conns[0], t, sizeof t), "192.0.2.9 40000");
    send_str(sv[1], "ping");
    ck_assert(fx_run_until(probe_got, "ping", 5000));
    ck_assert_uint_eq(fx_probe.got_len, 4);
    ck_assert(memcmp(fx_probe.got, "ping", 4) == 0);
    ck_assert_int_eq(fx.closed, 0);
}
END_TEST

START_TEST(v1_tcp6_from_a_v6_balancer)
{
    fx_probe.mode = FX_SINK;
    start_from(&conns[0], sv[0], "::1", 5555, &transport_plain);
    send_str(sv[1], "PROXY TCP6 2001:db8::7 ::1 12345 443\r\nhello");
    ck_assert(fx_run_until(probe_got, "hello", 5000));
    ck_assert_uint_eq(fx_probe.got_len, 5);
    ck_assert(memcmp(fx_probe.got, "hello", 5) == 0);
    char t[80];
    ck_assert_str_eq(peer_text(&conns[0], t, sizeof t), "2001:db8::7 12345");
}
END_TEST

START_TEST(v2_header_with_data_in_the_same_write)
{
    struct sockaddr_storage src, dst;
    sockaddr_of("198.51.100.20", 61000, &src);
    sockaddr_of("10.0.0.1", 443, &dst);
    char b[256];
    size_t n = proxy_protocol_build_v2((struct sockaddr *)&src, (struct sockaddr *)&dst, b,
                                       sizeof b);
    memcpy(b + n, "GET / HTTP/1.1\r\n", 16);
    fx_probe.mode = FX_SINK;
    /* Everything is there before the accept is served. */
    fx_send(sv[1], b, n + 16);
    start_from(&conns[0], sv[0], "10.9.9.9", 1, &transport_plain);
    ck_assert(fx_run_until(probe_got, "GET / HTTP/1.1\r\n", 5000));
    ck_assert_uint_eq(fx_probe.got_len, 16);
    ck_assert(memcmp(fx_probe.got, "GET / HTTP/1.1\r\n", 16) == 0);
    char t[80];
    ck_assert_str_eq(peer_text(&conns[0], t, sizeof t), "198.51.100.20 61000");
}
END_TEST

START_TEST(v2_local_keeps_the_real_peer)
{
    char b[64];
    size_t n = proxy_protocol_build_v2(NULL, NULL, b, sizeof b);
    fx_probe.mode = FX_SINK;
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &transport_plain);
    fx_send(sv[1], b, n);
    send_str(sv[1], "hi");
    ck_assert(fx_run_until(probe_got, "hi", 5000));
    ck_assert(memcmp(fx_probe.got, "hi", 2) == 0);
    char t[80];
    ck_assert_str_eq(peer_text(&conns[0], t, sizeof t), "10.1.2.3 5555");
    /* UNKNOWN likewise. */
    int p[2];
    fx_socketpair(p);
    start_from(&conns[1], p[0], "10.1.2.4", 6666, &transport_plain);
    send_str(p[1], "PROXY UNKNOWN\r\n");
    ck_assert(fx_run_until(fx_probe_heard, &(char){ 'o' }, 5000));
    ck_assert_str_eq(peer_text(&conns[1], t, sizeof t), "10.1.2.4 6666");
    close(p[1]);
}
END_TEST

START_TEST(header_split_across_writes)
{
    static const char header[] = "PROXY TCP4 192.0.2.9 10.0.0.1 40000 80\r\n";
    fx_probe.mode = FX_SINK;
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &transport_plain);
    for (size_t i = 0; i + 1 < sizeof header - 1; i++) {
        fx_send(sv[1], header + i, 1);
        fx_run_for(1);
        ck_assert_msg(fx_probe.n == 0, "opened after %zu bytes", i + 1);
        ck_assert_int_eq(fx.closed, 0);
    }
    /* The last byte and the data after it. */
    send_str(sv[1], "\nxyz");
    ck_assert(fx_run_until(probe_got, "xyz", 5000));
    ck_assert_uint_eq(fx_probe.got_len, 3);
    ck_assert(memcmp(fx_probe.got, "xyz", 3) == 0);
}
END_TEST

/* A transport whose handshake wants "HI\n": the header comes before it. */
static int hi_handshake(struct conn *c)
{
    char b[3];
    ssize_t n = recv(c->io.fd, b, sizeof b, MSG_PEEK);
    if (n < 0)
        return errno == EAGAIN ? 0 : -1;
    if (n == 0) {
        errno = ECONNRESET;
        return -1;
    }
    if (n < 3)
        return 0;
    ck_assert_int_eq(read(c->io.fd, b, sizeof b), 3);
    if (memcmp(b, "HI\n", 3) != 0) {
        errno = EPROTO;
        return -1;
    }
    return 1;
}

START_TEST(header_comes_before_the_transports_handshake)
{
    struct conn_transport hi = transport_plain;
    hi.name = "hi";
    hi.handshake = hi_handshake;
    fx_probe.mode = FX_SINK;
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &hi);
    send_str(sv[1], "PROXY TCP4 192.0.2.9 10.0.0.1 40000 80\r\nHI\nping");
    ck_assert(fx_run_until(probe_got, "ping", 5000));
    ck_assert(memcmp(fx_probe.got, "ping", 4) == 0);
    ck_assert(fx_probe.log[0] == 'o');
    char t[80];
    ck_assert_str_eq(peer_text(&conns[0], t, sizeof t), "192.0.2.9 40000");
}
END_TEST

START_TEST(drain_waits_for_the_header)
{
    fx_probe.mode = FX_SINK;
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &transport_plain);
    conn_drain(&conns[0]);
    ck_assert_int_eq(fx_probe.n, 0);        /* no drain before open */
    ck_assert(conns[0].draining);
    send_str(sv[1], "PROXY UNKNOWN\r\n");
    ck_assert(fx_run_until(fx_probe_heard, &(char){ 'o' }, 5000));
    ck_assert_int_eq(fx_probe.count['d'], 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Refusals */

/* Run until the owner took c back; the probe heard nothing (no open, no
 * close); returns the log. */
static char *refused(int log)
{
    int one = 1;
    ck_assert(fx_run_until(fx_closed_at_least, &one, 5000));
    ck_assert_int_eq(fx_probe.n, 0);
    ck_assert(!conns[0].in_use);
    char *text = fixture_log_text(log);
    ck_assert_msg(fixture_count(text, "PROXY protocol header refused") == 1, "%s", text);
    ck_assert_msg(strstr(text, "client: 10.1.2.3") != NULL, "%s", text);
    return text;
}

/* The test's end sees the connection closed, with no byte sent. */
static void closed_without_a_word(void)
{
    char b[64];
    ssize_t n;
    do
        n = recv(sv[1], b, sizeof b, 0);
    while (n < 0 && errno == EINTR);
    ck_assert(n == 0 || (n < 0 && errno == ECONNRESET));
}

static const struct {
    const char *data;
    size_t len;                 /* 0: strlen */
    const char *why;
} bad[] = {
    { "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, "not a PROXY protocol header" },
    { "PROXY TCP4 ::1 ::1 1 2\r\n", 0, "bad source address" },
    { "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", 0, "bad destination port" },
    { "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 0, "port" },
    { "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 0, "protocol" },
    { "\r\n\r\n\0\r\nQUIT\n\x21\x12\x00\x0c", 16, "DGRAM" },
    { "\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x0c", 16, "version" },
};

START_TEST(malformed_headers_close)
{
    int log = fixture_log_begin();
    fx_probe.mode = FX_SINK;
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &transport_plain);
    fx_send(sv[1], bad[_i].data, bad[_i].len ? bad[_i].len : strlen(bad[_i].data));
    char *text = refused(log);
    ck_assert_msg(strstr(text, bad[_i].why) != NULL, "%s", text);
    fixture_log_end();
    free(text);
    closed_without_a_word();
}
END_TEST

START_TEST(closed_before_any_header)
{
    int log = fixture_log_begin();
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &transport_plain);
    shutdown(sv[1], SHUT_WR);
    char *text = refused(log);
    ck_assert_msg(strstr(text, "closed before sending a header") != NULL, "%s", text);
    fixture_log_end();
    free(text);
}
END_TEST

START_TEST(closed_in_the_middle)
{
    int log = fixture_log_begin();
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &transport_plain);
    send_str(sv[1], "PROXY TCP4 1.2.3.4 ");
    fx_run_for(5);
    ck_assert_int_eq(fx.closed, 0);
    shutdown(sv[1], SHUT_WR);
    /* Long before the rule's minute. */
    char *text = refused(log);
    ck_assert_msg(strstr(text, "closed in the middle of the header") != NULL, "%s", text);
    fixture_log_end();
    free(text);
}
END_TEST

START_TEST(too_slow)
{
    make_rule(50);
    int log = fixture_log_begin();
    loop_update_time(fx.loop);
    int64_t start = loop_now(fx.loop);
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &transport_plain);
    send_str(sv[1], "PROXY TCP4 1.2.3.4 ");
    char *text = refused(log);
    ck_assert_int_ge(loop_now(fx.loop) - start, 50);
    ck_assert_msg(strstr(text, "not complete within the timeout") != NULL, "%s", text);
    fixture_log_end();
    free(text);
    closed_without_a_word();
}
END_TEST

START_TEST(too_long)
{
    /* A v2 header announcing more TLVs than herd takes. */
    size_t n = CONN_PROXY_HEADER_MAX;
    char *b = calloc(1, n);
    ck_assert_ptr_nonnull(b);
    memcpy(b, "\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff", 16);
    int log = fixture_log_begin();
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &transport_plain);
    fx_send(sv[1], b, n);
    char *text = refused(log);
    ck_assert_msg(strstr(text, "longer than 16384 bytes") != NULL, "%s", text);
    fixture_log_end();
    free(text);
    free(b);
}
END_TEST

START_TEST(refusals_are_rate_limited)
{
    int log = fixture_log_begin();
    /* Each is refused inside conn_start (the bad bytes are already there),
     * so all fall in the same second of the loop's clock. */
    for (int i = 0; i < 15; i++) {
        int p[2];
        fx_socketpair(p);
        send_str(p[1], "HELO\r\n");
        start_from(&conns[i], p[0], "10.1.2.3", 5555, &transport_plain);
        close(p[1]);
    }
    ck_assert_int_eq(fx.closed, 15);
    char *text = fixture_log_text(log);
    ck_assert_msg(fixture_count(text, "PROXY protocol header refused") == 10, "%s", text);
    free(text);
    conn_proxy_header_tick(loop_now(fx.loop) + 999);
    conn_proxy_header_tick(loop_now(fx.loop) + 1000);
    conn_proxy_header_tick(loop_now(fx.loop) + 1001);
    text = fixture_log_text(log);
    ck_assert_msg(fixture_count(text, "5 more refused connections not logged") == 1, "%s", text);
    fixture_log_end();
    free(text);
}
END_TEST

START_TEST(not_logged_below_info)
{
    log_set_level(LOG_WARN);
    int log = fixture_log_begin();
    send_str(sv[1], "HELO\r\n");
    start_from(&conns[0], sv[0], "10.1.2.3", 5555, &transport_plain);
    ck_assert_int_eq(fx.closed, 1);
    char *text = fixture_log_text(log);
    ck_assert_str_eq(text, "");
    fixture_log_end();
    free(text);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Untrusted sources and the rule */

START_TEST(untrusted_sources_send_no_header)
{
    static const char line[] = "PROXY TCP4 192.0.2.9 10.0.0.1 40000 80\r\n";
    fx_probe.mode = FX_SINK;
    start_from(&conns[0], sv[0], "192.0.2.1", 5555, &transport_plain);
    ck_assert_str_eq(fx_probe.log, "o");        /* at once */
    send_str(sv[1], line);
    ck_assert(fx_run_until(probe_got, (void *)line, 5000));
    ck_assert(memcmp(fx_probe.got, line, strlen(line)) == 0);
    char t[80];
    ck_assert_str_eq(peer_text(&conns[0], t, sizeof t), "192.0.2.1 5555");
    /* No address (a unix socket): untrusted too. */
    fx_probe_forget();
    int p[2];
    fx_socketpair(p);
    start_from(&conns[1], p[0], NULL, 0, &transport_plain);
    ck_assert_str_eq(fx_probe.log, "o");
    close(p[1]);
}
END_TEST

START_TEST(rules)
{
    struct sockaddr_storage ss;
    sockaddr_of("10.255.0.1", 1, &ss);
    ck_assert(conn_proxy_trusted(rule, (struct sockaddr *)&ss));
    sockaddr_of("11.0.0.1", 1, &ss);
    ck_assert(!conn_proxy_trusted(rule, (struct sockaddr *)&ss));
    sockaddr_of("::1", 1, &ss);
    ck_assert(conn_proxy_trusted(rule, (struct sockaddr *)&ss));
    sockaddr_of("::2", 1, &ss);
    ck_assert(!conn_proxy_trusted(rule, (struct sockaddr *)&ss));
    ck_assert(!conn_proxy_trusted(NULL, (struct sockaddr *)&ss));
    ck_assert(!conn_proxy_trusted(rule, NULL));
    static const char *const all[] = { "all" };
    struct conn_proxy_accept *pa = conn_proxy_accept_new(all, 1, 5000);
    ck_assert_ptr_nonnull(pa);
    ck_assert_int_eq(pa->timeout_ms, 5000);
    ck_assert(conn_proxy_trusted(pa, (struct sockaddr *)&ss));
    struct sockaddr un = { .sa_family = AF_UNIX };
    ck_assert(!conn_proxy_trusted(pa, &un));
    free(pa);
    static const char *const bad_range[] = { "10.0.0.0/8", "10.0.0.0/33" };
    errno = 0;
    ck_assert_ptr_null(conn_proxy_accept_new(bad_range, 2, 5000));
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conn_proxy_header");
    TCase *tc = tcase_create("trusted");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, v1_header_names_the_peer);
    tcase_add_test(tc, v1_tcp6_from_a_v6_balancer);
    tcase_add_test(tc, v2_header_with_data_in_the_same_write);
    tcase_add_test(tc, v2_local_keeps_the_real_peer);
    tcase_add_test(tc, header_split_across_writes);
    tcase_add_test(tc, header_comes_before_the_transports_handshake);
    tcase_add_test(tc, drain_waits_for_the_header);
    suite_add_tcase(s, tc);
    tc = tcase_create("refused");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, malformed_headers_close, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, closed_before_any_header);
    tcase_add_test(tc, closed_in_the_middle);
    tcase_add_test(tc, too_slow);
    tcase_add_test(tc, too_long);
    tcase_add_test(tc, refusals_are_rate_limited);
    tcase_add_test(tc, not_logged_below_info);
    suite_add_tcase(s, tc);
    tc = tcase_create("untrusted");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, untrusted_sources_send_no_header);
    tcase_add_test(tc, rules);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
