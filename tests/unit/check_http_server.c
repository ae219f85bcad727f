/* The HTTP/1.1 protocol on one connection (server.c), through the real
 * code over a socketpair (http_fixture.h): the per-server state (built,
 * refused, its access log flushed and reopened), reading heads (pipelined,
 * grown up to max_header_size, refused), the deadlines (header, keep-alive),
 * the output's back-pressure, draining, and what an idle connection
 * costs. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "fixture.h"
#include "http/server.h"
#include "http_fixture.h"
#include "proto.h"
#include "tap.h"

static const char conf_fmt[] =
    "servers = ({ listen = [ \"127.0.0.1:1\" ]; %s\n"
    "  access_log = \"@DIR@/access.log\"; access_log_format = \"$status $request\";\n"
    "  routes = (\n"
    "    { path = \"/hello\"; exact = true;\n"
    "      return = { status = 200; type = \"text/plain\"; body = \"hello\\n\"; }; },\n"
    "    { path = \"/big\"; return = { status = 200; body = \"%s\"; }; }\n"
    "  ); });\n";

#define BIG 30000

/* The server with these keys; /big answers BIG bytes when `big`. */
static void start_with(const char *keys, bool big)
{
    static char body[BIG + 1], conf[BIG + sizeof conf_fmt + 256];
    memset(body, 'b', BIG);
    body[big ? BIG : 1] = '\0';
    snprintf(conf, sizeof conf, conf_fmt, keys, body);
    hx_start(conf);
}

static void start(const char *keys)
{
    start_with(keys, false);
}

static void teardown(void)
{
    hx_stop();
}

static bool got_hello(void) { return strstr(hx.in, "hello\n") != NULL; }

/* A partial head, read by the server. */
static void send_partial_head(void)
{
    hx_ask("GET /hello HTTP/1.1\r\nHost: x\r\n", hx_all_read);
    ck_assert_int_eq(http_conn_of(&hx.conn)->phase, HP_HEAD);
}

/* ------------------------------------------------------------------ */
/* Per-server state */

START_TEST(server_that_cannot_build_fails_with_why)
{
    hx_mkdir();
    char page[256];
    fixture_write(fixture_path(page, sizeof page, hx.dir, "404.html"), "gone\n", 5);
    hx_load("servers = ({ listen = [ \"127.0.0.1:1\" ]; access_log = \"@DIR@/access.log\";\n"
            "  error_pages = ( { status = 404; file = \"@DIR@/404.html\"; } );\n"
            "  routes = ( { path = \"/\"; return = { status = 200; }; } ); });\n");
    /* The page goes away between the load and a worker's start. */
    ck_assert_int_eq(unlink(page), 0);
    char log[256];
    fixture_path(log, sizeof log, hx.dir, "access.log");
    int fd = open(log, O_WRONLY | O_APPEND | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    char err[512] = "", want[400];
    ck_assert_ptr_null(proto_http.server_new(&hx.cfg->servers[0], fd, err, sizeof err));
    snprintf(want, sizeof want, "error page %s: No such file or directory", page);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);       /* the log it was given is closed */
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(tick_flushes_the_access_log)
{
    start("");
    hx_ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", got_hello);
    char path[256];
    char *before = fixture_read_file(fixture_path(path, sizeof path, hx.dir, "access.log"), NULL);
    ck_assert_str_eq(before, "");                   /* buffered */
    free(before);
    ck_assert_str_eq(hx_access_log(), "200 GET /hello HTTP/1.1\n");    /* ticks, reads */
}
END_TEST

START_TEST(reopened_log_continues_in_the_new_file)
{
    start("");
    hx_ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", got_hello);
    char old[256], path[256];
    fixture_path(path, sizeof path, hx.dir, "access.log");
    ck_assert_int_eq(rename(path, fixture_path(old, sizeof old, hx.dir, "access.log.1")), 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    proto_http.reopen_log(hx.rt[0].data, fd);       /* what was buffered goes to the old one */
    hx_forget();
    hx_ask("GET /hello?2 HTTP/1.1\r\nHost: x\r\n\r\n", got_hello);
    ck_assert_str_eq(hx_access_log(), "200 GET /hello?2 HTTP/1.1\n");
    char *was = fixture_read_file(old, NULL);
    ck_assert_str_eq(was, "200 GET /hello HTTP/1.1\n");
    free(was);
}
END_TEST

START_TEST(reopen_without_a_log_closes_the_fd)
{
    hx_start("servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
             "  routes = ( { path = \"/\"; return = { status = 200; }; } ); });\n");
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    proto_http.reopen_log(hx.rt[0].data, fd);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Reading heads */

START_TEST(pipelined_requests_answered_in_order)
{
    start("");
    hx_ask("GET /hello?1 HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /hello?3 HTTP/1.1\r\nHost: x\r\n\r\n", hx_three_responses);
    const char *a = hx_response("HTTP/1.1 200 "), *b = hx_response("HTTP/1.1 404 ");
    ck_assert(a != NULL && b != NULL && a < b);
    ck_assert_ptr_nonnull(strstr(b, "\nHTTP/1.1 200 "));      /* the third's, last */
    ck_assert_str_eq(hx_access_log(), "200 GET /hello?1 HTTP/1.1\n404 GET /nope HTTP/1.1\n"
                                      "200 GET /hello?3 HTTP/1.1\n");
    ck_assert_uint_eq(http_conn_of(&hx.conn)->requests, 3);
}
END_TEST

/* A head arriving a byte at a time is parsed from where it stopped, and
 * answered once complete. */
START_TEST(head_in_pieces)
{
    start("");
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t i = 0; i + 1 < sizeof req - 1; i++) {
        hx_send_bytes(req + i, 1);
        ck_assert(hx_run_until(hx_all_read));
        ck_assert_uint_eq(hx.in_len, 0);
    }
    hx_send_bytes(req + sizeof req - 2, 1);
    ck_assert(hx_run_until(got_hello));
}
END_TEST

/* The input buffer is 16k; a head may grow beyond it up to
 * max_header_size, and no further (431). */
static char *head_with_field(size_t value_len)
{
    char *req = malloc(value_len + 128);
    ck_assert_ptr_nonnull(req);
    int n = sprintf(req, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'v', value_len);
    strcpy(req + n + value_len, "\r\n\r\n");
    return req;
}

START_TEST(head_grows_to_max_header_size)
{
    start("max_header_size = \"40k\";");
    char *req = head_with_field(30000);
    hx_ask(req, got_hello);
    ck_assert(!hx.eof);
    free(req);
    req = head_with_field(50000);
    hx_ask(req, hx_closed);
    ck_assert_ptr_nonnull(hx_response("HTTP/1.1 431 "));
    ck_assert_ptr_nonnull(strstr(hx_response("HTTP/1.1 431 "), "\r\nConnection: close\r\n"));
    free(req);
}
END_TEST

START_TEST(parse_error_answered_then_closed)
{
    start("");
    hx_ask("GET /hello HTTP/1.1\r\nHost x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_closed);
    hx_assert_first("HTTP/1.1 400 Bad Request\r\n");
    hx_assert_has(hx.in, "\r\nConnection: close\r\n");
    ck_assert_int_eq(hx_responses(), 1);
    ck_assert_str_eq(hx_access_log(), "400 -\n");   /* the head was not understood */
}
END_TEST

/* ------------------------------------------------------------------ */
/* Deadlines */

START_TEST(header_timeout_answers_408)
{
    start("header_timeout = \"100ms\";");
    send_partial_head();
    ck_assert(hx_run_until(hx_closed));
    hx_assert_first("HTTP/1.1 408 Request Timeout\r\n");
    hx_assert_has(hx.in, "\r\nConnection: close\r\n");
    ck_assert_str_eq(hx_access_log(), "408 -\n");   /* no head: no request line */
}
END_TEST

/* A connection that never sent a byte is closed without an answer. */
START_TEST(silent_connection_closed_without_answer)
{
    start("header_timeout = \"100ms\";");
    ck_assert(hx_run_until(hx_closed));
    ck_assert_uint_eq(hx.in_len, 0);
    ck_assert_str_eq(hx_access_log(), "");
}
END_TEST

START_TEST(idle_connection_closed_after_keepalive_timeout)
{
    start("keepalive_timeout = \"100ms\";");
    hx_ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", got_hello);
    ck_assert_int_eq(hx.conn.timer_kind, HTTP_TIMER_KEEPALIVE);
    ck_assert(hx_run_until(hx_closed));
    ck_assert_int_eq(hx_responses(), 1);            /* nothing more was said */
    ck_assert_str_eq(hx_access_log(), "200 GET /hello HTTP/1.1\n");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Back-pressure and draining */

/* Parsing stops while the output is above its high-water mark: requests
 * wait, unanswered, in the input until the client reads. */
static bool stopped_for_room(void)
{
    return hx.conn.want_room && conn_in_len(&hx.conn) > 0 && hx_all_read();
}

static bool twenty_responses(void) { return hx_responses() >= 20; }

START_TEST(output_back_pressure_stops_parsing)
{
    start_with("", true);
    static char reqs[20 * 64];
    size_t n = 0;
    for (int i = 0; i < 20; i++)
        n += (size_t)sprintf(reqs + n, "GET /big?%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
    hx.hold_in = true;
    hx_send_bytes(reqs, n);
    ck_assert(hx_run_until(stopped_for_room));
    ck_assert_uint_lt(http_conn_of(&hx.conn)->requests, 20);
    ck_assert_uint_ge(conn_out_len(&hx.conn), CONN_OUT_HIGH);
    hx.hold_in = false;
    ck_assert(hx_run_until(twenty_responses));
    ck_assert_uint_eq(http_conn_of(&hx.conn)->requests, 20);
    ck_assert_ptr_nonnull(strstr(hx_access_log(), "200 GET /big?19 HTTP/1.1\n"));
}
END_TEST

/* While the worker drains, an idle connection gets a short grace, then is
 * closed without a word; a request on the wire is still answered, with
 * Connection: close. */
START_TEST(drain_closes_an_idle_connection_after_a_grace)
{
    start("");
    hx_ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", got_hello);
    conn_drain(&hx.conn);
    ck_assert_int_eq(hx.conn.timer_kind, HTTP_TIMER_GRACE);
    ck_assert(hx_run_until(hx_closed));
    ck_assert_int_eq(hx_responses(), 1);
}
END_TEST

START_TEST(drain_answers_the_request_on_the_wire)
{
    start("");
    send_partial_head();
    conn_drain(&hx.conn);
    ck_assert_int_ne(hx.conn.timer_kind, HTTP_TIMER_GRACE);
    hx_ask("\r\n", hx_closed);
    ck_assert(got_hello());
    hx_assert_has(hx.in, "\r\nConnection: close\r\n");
}
END_TEST

START_TEST(idle_connection_state_is_small)
{
    start("");
    ck_assert_uint_le(sizeof(struct http_conn), 32);
    hx_ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", got_hello);
    ck_assert_int_eq(http_conn_of(&hx.conn)->phase, HP_IDLE);
    ck_assert_ptr_null(http_conn_of(&hx.conn)->kept);
    ck_assert_ptr_null(hx.conn.in);                 /* no buffer while idle */
    ck_assert_ptr_null(hx.conn.out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_server");
    TCase *t = tcase_create("server");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, server_that_cannot_build_fails_with_why);
    tcase_add_test(t, tick_flushes_the_access_log);
    tcase_add_test(t, reopened_log_continues_in_the_new_file);
    tcase_add_test(t, reopen_without_a_log_closes_the_fd);
    suite_add_tcase(s, t);
    t = tcase_create("heads");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, pipelined_requests_answered_in_order);
    tcase_add_test(t, head_in_pieces);
    tcase_add_test(t, head_grows_to_max_header_size);
    tcase_add_test(t, parse_error_answered_then_closed);
    suite_add_tcase(s, t);
    t = tcase_create("deadlines");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, header_timeout_answers_408);
    tcase_add_test(t, silent_connection_closed_without_answer);
    tcase_add_test(t, idle_connection_closed_after_keepalive_timeout);
    suite_add_tcase(s, t);
    t = tcase_create("flow");
    tcase_add_checked_fixture(t, NULL, teardown);
    tcase_add_test(t, output_back_pressure_stops_parsing);
    tcase_add_test(t, drain_closes_an_idle_connection_after_a_grace);
    tcase_add_test(t, drain_answers_the_request_on_the_wire);
    tcase_add_test(t, idle_connection_state_is_small);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
