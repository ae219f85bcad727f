/* The `proxy` handler (handler_proxy.c, proxy_response.c): its section's
 * defaults and refusals (each at FILE:LINE), and requests carried through
 * the real server code (http_fixture.h) to an upstream the test itself
 * plays on a listening socket: the head sent upstream, the response passed
 * back, the upstream connection kept and reused, a refused connect
 * answered 502 and a response with Content-Length and Transfer-Encoding
 * refused with 502; a POST's body on a reused connection; buffering = true
 * (nothing sent until the response is whole, a larger one streamed, one
 * cut short a clean 502). */
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

#include "config.h"
#include "http/config.h"
#include "http/handler.h"
#include "http_fixture.h"
#include "tap.h"
#include "upstream.h"

/* ------------------------------------------------------------------ */
/* The upstream, played by the test */

static struct {
    int listener;
    int port;
    int conn;                   /* the connection being served, or -1 */
    int accepted;
    char got[8192];             /* what the current connection sent */
    size_t got_len;
    const char *reply;          /* answered once a whole head is in */
    const char *until;          /* or once this is in, when set */
    bool replied;
} up;

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* Once per tick: accept, read, answer (without blocking). */
static void upstream_step(void)
{
    int fd = accept4(up.listener, NULL, NULL, SOCK_NONBLOCK);
    if (fd >= 0) {
        if (up.conn >= 0)
            close(up.conn);
        up.conn = fd;
        up.accepted++;
        up.got_len = 0;
        up.replied = false;
    }
    if (up.conn < 0)
        return;
    ssize_t n = read(up.conn, up.got + up.got_len, sizeof up.got - 1 - up.got_len);
    if (n > 0) {
        up.got_len += (size_t)n;
        up.got[up.got_len] = '\0';
    }
    if (!up.replied && up.reply && strstr(up.got, up.until ? up.until : "\r\n\r\n")) {
        ck_assert_int_eq(write(up.conn, up.reply, strlen(up.reply)), (ssize_t)strlen(up.reply));
        up.replied = true;
    }
}

/* The upstream answers the next request (on the same connection). */
static void next_reply(const char *reply)
{
    up.reply = reply;
    up.until = NULL;
    up.replied = false;
    up.got_len = 0;
    up.got[0] = '\0';
}

#define CONF_HEAD \
    "upstreams = ( { name = \"app\"; servers = ( { address = \"127.0.0.1:%d\"; } ); },\n" \
    "              { name = \"gone\"; servers = ( { address = \"127.0.0.1:%d\"; } ); } );\n" \
    "servers = ({ listen = [ \"127.0.0.1:1\" ];\n" \
    "  routes = (\n" \
    "    { path = \"/\"; proxy = { upstream = \"app\"; }; },\n" \
    "    { path = \"/gone\"; proxy = { upstream = \"gone\"; retries = 0; }; },\n" \
    "    { path = \"/buf\"; proxy = { upstream = \"app\"; buffering = true;\n" \
    "                               buffer_size = \"4k\"; }; },\n" \
    "    { path = \"/named\"; proxy = { upstream = \"app\"; host = \"backend.test\";\n" \
    "                                 forwarded = true; read_timeout = \"2s\";\n" \
    "                                 headers = { X-App-Key = \"k$-1\"; Via = \"\";\n" \
    "                                             X-Seen = \"$request_method $host$uri\"; }; }; }\n" \
    "  ); });\n"

static void setup(void)
{
    int gone_port;
    int gone = listen_any(&gone_port);
    close(gone);                    /* nothing listens there now: refused */
    up.listener = listen_any(&up.port);
    up.conn = -1;
    up.accepted = 0;
    next_reply(NULL);
    static char conf[2048];
    snprintf(conf, sizeof conf, CONF_HEAD, up.port, gone_port);
    hx_start(conf);
    hx.step = upstream_step;
}

static void teardown(void)
{
    hx_stop();
    if (up.conn >= 0)
        close(up.conn);
    close(up.listener);
}

/* ------------------------------------------------------------------ */
/* The section */

START_TEST(defaults_and_the_upstream_found)
{
    const struct cfg_http *h = http_config(&hx.cfg->servers[0]);
    const struct cfg_proxy *p = h->routes[0].proxy;
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_eq(http_handler_for(&h->routes[0]), &http_handler_proxy);
    ck_assert_str_eq(p->upstream, "app");
    ck_assert_ptr_nonnull(p->up);
    ck_assert_str_eq(p->up->name, "app");
    ck_assert_int_eq(p->connect_timeout, 0);
    ck_assert_int_eq(p->send_timeout, 60000);
    ck_assert_int_eq(p->read_timeout, 60000);
    ck_assert_int_eq(p->retries, 1);
    ck_assert_ptr_null(p->host);
    ck_assert(!p->forwarded);
    ck_assert_uint_eq(p->headers.n, 0);
    ck_assert(!p->websocket);
    ck_assert_int_eq(p->websocket_timeout, 3600000);
    ck_assert(!p->buffering);
    ck_assert_int_eq(p->buffer_size, 1024 * 1024);
    const struct cfg_proxy *q = h->routes[3].proxy;
    ck_assert_str_eq(q->host, "backend.test");
    ck_assert(q->forwarded);
    ck_assert_int_eq(q->read_timeout, 2000);
    const struct cfg_proxy *b = h->routes[2].proxy;
    ck_assert(b->buffering);
    ck_assert_int_eq(b->buffer_size, 4096);
    ck_assert_uint_eq(q->headers.n, 6);
    ck_assert_str_eq(q->headers.v[0], "X-App-Key");
    ck_assert_str_eq(q->headers.v[1], "k$-1");
    ck_assert_str_eq(http_proxy_config.name, "proxy");
}
END_TEST

#define UPS "upstreams = ( { name = \"app\"; servers = ( { address = \"127.0.0.1:9\"; } );\n" \
            "  balance = \"hash\"; hash_key = \"$remote_addr$cookie\"; },\n" \
            "  { name = \"rr\"; servers = ( { address = \"127.0.0.1:9\"; } ); } );\n"
#define ROUTE(keys) UPS "servers = ({ listen = [ \"127.0.0.1:1\" ];\n" \
                    "  routes = ( { path = \"/\";\n" \
                    "    proxy = { " keys " }; } ); });\n"

static const struct hx_refusal bad[] = {
    { ROUTE("upstream = \"nope\";"), 6, "unknown upstream 'nope'" },
    { ROUTE("read_timeout = \"1s\";"), 6, "'proxy' needs an 'upstream'" },
    { ROUTE("upstream = \"rr\"; host = \"a\\r\\nX: y\";"), 6,
      "'host' must be a non-empty value without line breaks" },
    { ROUTE("upstream = \"app\";"), 6, "upstream 'app' hash_key: unknown variable '$cookie'" },
    { ROUTE("upstream = \"rr\"; retries = 17;"), 6, "'retries' must be between 0 and 16" },
    { ROUTE("upstream = \"rr\"; headers = 1;"), 6, "'headers' must be a group" },
    { ROUTE("upstream = \"rr\"; headers = { X-A = 1; };"), 6, "'X-A' in 'headers' must be a string" },
    { ROUTE("upstream = \"rr\"; headers = { X-A = \"a\\nb\"; };"), 6,
      "'X-A' in 'headers' must not contain line breaks" },
    { ROUTE("upstream = \"rr\"; headers = { Content-Length = \"1\"; };"), 6,
      "'headers' cannot set Content-Length" },
    { ROUTE("upstream = \"rr\"; buffer_size = 100;"), 6,
      "'buffer_size' must be between" },
};

START_TEST(section_refusals)
{
    hx_refused(_i, &bad[_i]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Requests */

static bool got_ok(void)
{
    return strstr(hx.in, "\r\n\r\nok") != NULL;
}

static bool got_twice(void)
{
    const char *a = strstr(hx.in, "\r\n\r\nok");
    return a && strstr(a + 1, "\r\n\r\nok") != NULL;
}

START_TEST(get_carried_and_the_connection_kept)
{
    next_reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-App: yes\r\n"
               "Connection: keep-alive\r\n\r\nok");
    hx_ask("GET /a?b=1 HTTP/1.1\r\nHost: site.test\r\nConnection: X-Forwarded-For\r\n"
           "X-Forwarded-For: 6.6.6.6\r\n\r\n", got_ok);
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    hx_assert_has(hx.in, "\r\nX-App: yes\r\n");
    hx_assert_has(hx.in, "\r\nContent-Length: 2\r\n");
    hx_assert_has(hx.in, "\r\nServer: herd\r\n");
    hx_assert_has(up.got, "GET /a?b=1 HTTP/1.1\r\n");
    hx_assert_has(up.got, "\r\nHost: site.test\r\n");
    /* The client's X-Forwarded-For was named in its Connection: gone;
     * herd's own is added after that removal. */
    hx_assert_has(up.got, "\r\nX-Forwarded-For: 127.0.0.1\r\n");
    ck_assert_ptr_null(strstr(up.got, "6.6.6.6"));
    hx_assert_has(up.got, "\r\nVia: 1.1 herd\r\n");
    /* The same upstream connection carries the next request. */
    next_reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    hx_ask("GET /named HTTP/1.1\r\nHost: site.test\r\n\r\n", got_twice);
    hx_assert_has(up.got, "GET /named HTTP/1.1\r\n");
    hx_assert_has(up.got, "\r\nHost: backend.test\r\n");
    hx_assert_has(up.got, "\r\nForwarded: for=127.0.0.1;");
    /* Configured fields: set as written (a '$' naming nothing is
     * itself), their variables rendered, an empty one removes herd's own. */
    hx_assert_has(up.got, "\r\nX-App-Key: k$-1\r\n");
    hx_assert_has(up.got, "\r\nX-Seen: GET site.test/named\r\n");
    ck_assert_ptr_null(strstr(up.got, "Via:"));
    ck_assert_int_eq(up.accepted, 1);
}
END_TEST

static bool got_502(void)
{
    return strstr(hx.in, "HTTP/1.1 502 ") != NULL && strstr(hx.in, "</html>") != NULL;
}

START_TEST(refused_connect_is_502)
{
    hx_ask("GET /gone HTTP/1.1\r\nHost: x\r\n\r\n", got_502);
    hx_assert_first("HTTP/1.1 502 Bad Gateway\r\n");
}
END_TEST

START_TEST(length_with_chunked_is_502)
{
    next_reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
               "0\r\n\r\n");
    hx_ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n", got_502);
    hx_assert_first("HTTP/1.1 502 Bad Gateway\r\n");
}
END_TEST

static bool got_chunked_end(void)
{
    return strstr(hx.in, "\r\n0\r\n\r\n") != NULL;
}

static bool got_hello(void)
{
    return strstr(hx.in, "hello") != NULL;
}

/* A close-delimited response reaches an HTTP/1.1 client in chunks. */
START_TEST(until_close_rechunked)
{
    next_reply("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello");
    hx_send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert(hx_run_until(hx_all_read));
    ck_assert(hx_run_until(got_hello));
    close(up.conn);
    up.conn = -1;
    ck_assert(hx_run_until(got_chunked_end));
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    hx_assert_has(hx.in, "\r\nTransfer-Encoding: chunked\r\n");
    hx_assert_has(hx.in, "\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
}
END_TEST

/* A POST on a reused connection: its body follows once the head has left
 * (so that a failure before that could send it again), and arrives. */
START_TEST(post_body_on_a_reused_connection)
{
    next_reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    hx_ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n", got_ok);
    next_reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    up.until = "hello world";
    hx_ask("POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
           got_twice);
    hx_assert_has(up.got, "POST /form HTTP/1.1\r\n");
    hx_assert_has(up.got, "\r\n\r\nhello world");
    ck_assert_int_eq(up.accepted, 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* buffering = true */

static int ticks;

/* herd has read all the upstream sent: the reply is out and the receive
 * queue of herd's end of the connection is empty (/proc/net/tcp; the
 * byte counters count clients' bytes only). */
static bool herd_read_reply(void)
{
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    if (!up.replied || up.conn < 0 ||
        getpeername(up.conn, (struct sockaddr *)&peer, &len) < 0)
        return false;
    FILE *f = fopen("/proc/net/tcp", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    bool drained = false;
    while (fgets(line, sizeof line, f)) {
        unsigned lport, rport, rxq;
        if (sscanf(line, " %*d: %*x:%x %*x:%x %*x %*x:%x", &lport, &rport, &rxq) == 3 &&
            lport == ntohs(peer.sin_port) && rport == (unsigned)up.port) {
            drained = rxq == 0;
            break;
        }
    }
    fclose(f);
    return drained;
}

static bool a_few_ticks(void)
{
    return ++ticks >= 20;
}

/* The upstream sends s now, on the connection being served. */
static void upstream_sends(const char *s)
{
    ck_assert_int_eq(write(up.conn, s, strlen(s)), (ssize_t)strlen(s));
}

START_TEST(buffering_holds_the_response_until_whole)
{
    static const char req[] = "GET /buf HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char part[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhello\r\n";
    next_reply(part);
    hx_ask(req, herd_read_reply);
    ticks = 0;
    ck_assert(hx_run_until(a_few_ticks));
    ck_assert_uint_eq(hx.in_len, 0);        /* nothing of it yet */
    upstream_sends("6\r\n world\r\n0\r\n\r\n");
    ck_assert(hx_run_until(got_chunked_end));
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    hx_assert_has(hx.in, "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    /* Its connection went back to the pool: the next request reuses it. */
    next_reply("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    hx_ask("GET /buf HTTP/1.1\r\nHost: x\r\n\r\n", got_ok);
    ck_assert_int_eq(up.accepted, 1);
}
END_TEST

static bool got_8000_bytes(void)
{
    const char *body = strstr(hx.in, "\r\n\r\n");
    return body && hx.in + hx.in_len - (body + 4) >= 8000;
}

static bool got_some_body(void)
{
    const char *body = strstr(hx.in, "\r\n\r\n");
    return body && hx.in + hx.in_len > body + 4;
}

START_TEST(buffering_streams_what_is_larger_than_buffer_size)
{
    static char half[5000 + 64];
    snprintf(half, sizeof half, "HTTP/1.1 200 OK\r\nContent-Length: 8000\r\n\r\n%05000d", 0);
    next_reply(half);
    /* 5000 bytes held is more than buffer_size (4k): streamed from there,
     * before the rest comes. */
    hx_ask("GET /buf HTTP/1.1\r\nHost: x\r\n\r\n", got_some_body);
    static char rest[3001];
    memset(rest, '1', 3000);
    upstream_sends(rest);
    ck_assert(hx_run_until(got_8000_bytes));
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    hx_assert_has(hx.in, "\r\nContent-Length: 8000\r\n");
    ck_assert_uint_eq(hx_responses(), 1);
}
END_TEST

START_TEST(buffering_a_response_cut_short_is_a_clean_502)
{
    static const char req[] = "GET /buf HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char part[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort";
    next_reply(part);
    hx_ask(req, herd_read_reply);
    close(up.conn);
    up.conn = -1;
    ck_assert(hx_run_until(got_502));
    hx_assert_first("HTTP/1.1 502 Bad Gateway\r\n");
    ck_assert_ptr_null(strstr(hx.in, "short"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_handler_proxy");
    TCase *t = tcase_create("proxy");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, defaults_and_the_upstream_found);
    tcase_add_test(t, get_carried_and_the_connection_kept);
    tcase_add_test(t, refused_connect_is_502);
    tcase_add_test(t, length_with_chunked_is_502);
    tcase_add_test(t, until_close_rechunked);
    tcase_add_test(t, post_body_on_a_reused_connection);
    tcase_add_test(t, buffering_holds_the_response_until_whole);
    tcase_add_test(t, buffering_streams_what_is_larger_than_buffer_size);
    tcase_add_test(t, buffering_a_response_cut_short_is_a_clean_502);
    suite_add_tcase(s, t);
    TCase *c = tcase_create("section");
    tcase_add_loop_test(c, section_refusals, 0, sizeof bad / sizeof bad[0]);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
