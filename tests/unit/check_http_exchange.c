/* A request from its complete head to its handler (exchange.c), through
 * the real HTTP server code (http_fixture.h): the framing checks and the
 * limits of the server the Host names, the choice of virtual host, route,
 * access rule and method, the answers for the server as a whole (OPTIONS *,
 * CONNECT), whether the connection persists, and that answers that are no
 * handler's (404, 403, 405) take the same path as a handler's. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "fixture.h"
#include "http/server.h"
#include "http_fixture.h"
#include "log.h"
#include "tap.h"

static const char conf[] =
    "servers = (\n"
    " { listen = [ \"127.0.0.1:1\" ]; max_body = \"1k\";\n"
    "   access_log = \"@DIR@/access.log\";\n"
    "   access_log_format = \"$status $request $body_bytes_sent\";\n"
    "   routes = (\n"
    "    { path = \"/hello\"; exact = true; methods = [ \"GET\" ];\n"
    "      return = { status = 200; type = \"text/plain\"; body = \"hello\\n\"; }; },\n"
    "    { path = \"/any\"; return = { status = 200; body = \"any\\n\"; }; },\n"
    "    { path = \"/private\"; deny = [ \"all\" ];\n"
    "      return = { status = 200; body = \"no\\n\"; }; },\n"
    "    { path = \"/local\"; allow = [ \"127.0.0.0/8\" ];\n"
    "      return = { status = 200; body = \"local\\n\"; }; },\n"
    "    { path = \"/status\"; status = { format = \"text\"; }; }\n"
    "  ); },\n"
    " { listen = [ \"127.0.0.1:1\" ]; server_names = [ \"b.test\" ]; max_body = 0;\n"
    "   routes = ( { path = \"/hello\"; return = { status = 200; body = \"b\\n\"; }; } ); },\n"
    " { listen = [ \"127.0.0.1:1\" ]; server_names = [ \"c.test\" ]; keepalive_requests = 2;\n"
    "   routes = ( { path = \"/\"; return = { status = 200; body = \"c\\n\"; }; } ); }\n"
    ");\n";

static int captured;

static void setup(void)
{
    hx_start(conf);
    captured = fixture_log_begin();
    log_set_level(LOG_INFO);
}

static void teardown(void)
{
    fixture_log_end();
    hx_stop();
}

/* The error log holds text. */
static void assert_logged(const char *text)
{
    char *log = fixture_log_text(captured);
    hx_assert_has(log, text);
    free(log);
}

static bool got_local(void) { return strstr(hx.in, "local\n") != NULL; }

/* ------------------------------------------------------------------ */
/* select: routes, errors */

START_TEST(return_and_errors_take_the_same_path)
{
    hx_ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
           "DELETE /status HTTP/1.1\r\nHost: x\r\n\r\n", hx_three_responses);
    hx_assert_has(hx.in, "HTTP/1.1 404 Not Found\r\n");
    hx_assert_has(hx.in, "HTTP/1.1 405 Method Not Allowed\r\n");
    hx_assert_has(hx.in, "\r\nAllow: GET, HEAD\r\n");
    const char *log = hx_access_log();
    ck_assert_int_eq(strncmp(log, "200 GET /hello HTTP/1.1 6\n404 GET /nope HTTP/1.1 ", 49), 0);
    ck_assert_ptr_nonnull(strstr(log, "\n405 DELETE /status HTTP/1.1 "));
}
END_TEST

/* A route's own methods: 405 with its Allow line, and the connection goes
 * on (the request was sound). */
START_TEST(method_a_route_refuses)
{
    hx_ask("POST /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_two_responses);
    const char *r = hx_response("HTTP/1.1 405 ");
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_nonnull(strstr(r, "\r\nAllow: GET, HEAD\r\n"));
    ck_assert_ptr_nonnull(hx_response("HTTP/1.1 200 "));
    ck_assert(!hx.eof);
}
END_TEST

/* The target is decoded and normalised before a route is chosen: an
 * escape for a slash or a dot segment still finds its route; a bad escape
 * or a path above the root is refused and ends the connection. */
START_TEST(path_normalised_before_the_route)
{
    hx_ask("GET /x/../%68ello HTTP/1.1\r\nHost: x\r\n\r\nGET //any/./ HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_two_responses);
    hx_assert_has(hx.in, "hello\n");
    hx_assert_has(hx.in, "any\n");
}
END_TEST

static void refused_path(const char *target)
{
    static char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\n"
                              "Host: x\r\n\r\n", target);
    hx_ask(req, hx_closed);
    hx_assert_first("HTTP/1.1 400 Bad Request\r\n");
    hx_assert_has(hx.in, "\r\nConnection: close\r\n");
    ck_assert_int_eq(hx_responses(), 1);            /* nothing after it */
    assert_logged("request refused with 400: malformed path");
}

START_TEST(bad_escape_refused)
{
    refused_path("/hel%zzlo");
}
END_TEST

START_TEST(path_above_the_root_refused)
{
    refused_path("/../etc/passwd");
}
END_TEST

/* ------------------------------------------------------------------ */
/* select: access rules */

START_TEST(deny_all_answers_403_and_goes_on)
{
    hx_ask("GET /private HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_two_responses);
    hx_assert_first("HTTP/1.1 403 Forbidden\r\n");
    ck_assert_ptr_null(strstr(hx.in, "no\n"));
    hx_assert_has(hx.in, "hello\n");
    assert_logged("request refused with 403: access forbidden by rule, client: 127.0.0.1, "
                  "request: \"GET /private HTTP/1.1\"");
}
END_TEST

START_TEST(allow_by_the_client_address)
{
    hx_ask("GET /local HTTP/1.1\r\nHost: x\r\n\r\n", got_local);
    hx_connect("192.0.2.1");
    hx_ask("GET /local HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    hx_assert_first("HTTP/1.1 403 Forbidden\r\n");
    assert_logged("client: 192.0.2.1");
    /* A unix socket's client is in no range. */
    hx_connect(NULL);
    hx_ask("GET /local HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    hx_assert_first("HTTP/1.1 403 Forbidden\r\n");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Requests that name no resource */

START_TEST(options_star_answered_by_the_server)
{
    hx_ask("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    ck_assert_ptr_nonnull(strstr(hx.in, "\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, "
                                        "TRACE, PATCH\r\n"));
    hx_assert_has(hx.in, "\r\nContent-Length: 0\r\n");
    ck_assert(!hx.eof);
    ck_assert_str_eq(hx_access_log(), "200 OPTIONS * HTTP/1.1 0\n");
}
END_TEST

START_TEST(connect_refused_with_405)
{
    hx_ask("CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n", hx_one_response);
    hx_assert_first("HTTP/1.1 405 Method Not Allowed\r\n");
    ck_assert_ptr_nonnull(strstr(hx.in, "\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, "
                                        "TRACE, PATCH\r\n"));
    ck_assert_ptr_nonnull(strstr(hx_access_log(), "405 CONNECT example.org:443 HTTP/1.1 "));
}
END_TEST

/* ------------------------------------------------------------------ */
/* frame: soundness, the server, its limits */

START_TEST(unsound_request_closes_with_its_status)
{
    hx_send("GET /hello HTTP/1.1\r\n\r\n");                 /* HTTP/1.1 without Host */
    ck_assert(hx_run_until(hx_closed));
    hx_assert_first("HTTP/1.1 400 Bad Request\r\n");
    hx_assert_has(hx.in, "\r\nConnection: close\r\n");
    ck_assert_int_eq(strncmp(hx_access_log(), "400 GET /hello HTTP/1.1 ", 24), 0);
    assert_logged("request refused with 400: ");
}
END_TEST

START_TEST(host_chooses_the_server)
{
    hx_ask("GET /hello HTTP/1.1\r\nHost: b.test\r\n\r\n"
           "GET /hello HTTP/1.1\r\nHost: B.TEST:80\r\n\r\n"
           "GET /hello HTTP/1.1\r\nHost: other.test\r\n\r\n", hx_three_responses);
    const char *b1 = strstr(hx.in, "\r\n\r\nb\n");
    ck_assert_ptr_nonnull(b1);
    ck_assert_ptr_nonnull(strstr(b1 + 1, "\r\n\r\nb\n"));
    hx_assert_has(hx.in, "\r\n\r\nhello\n");   /* the default server */
    /* Only the default server logs. */
    ck_assert_str_eq(hx_access_log(), "200 GET /hello HTTP/1.1 6\n");
}
END_TEST

/* The limits are the chosen server's: max_body 0 there refuses any body. */
START_TEST(body_limits_of_the_chosen_server)
{
    hx_ask("POST /hello HTTP/1.1\r\nHost: b.test\r\nTransfer-Encoding: chunked\r\n\r\n"
           "0\r\n\r\n", hx_closed);
    hx_assert_first("HTTP/1.1 413 Content Too Large\r\n");
    assert_logged("chunked body, but max_body is 0");
    hx_connect("127.0.0.1");
    hx_ask("POST /any HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n", hx_closed);
    hx_assert_first("HTTP/1.1 413 Content Too Large\r\n");
    assert_logged("Content-Length 1025 is over max_body 1024");
}
END_TEST

/* A body at the limit is taken: answered, then dropped, and the
 * connection goes on; a client that asked gets 100 Continue first. */
START_TEST(body_answered_at_once_is_dropped)
{
    static char req[2048];
    int n = snprintf(req, sizeof req, "POST /any HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n"
                                      "Expect: 100-continue\r\n\r\n");
    memset(req + n, 'x', 1024);
    strcpy(req + n + 1024, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_ask(req, hx_two_responses);
    hx_assert_first("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n");
    hx_assert_has(hx.in, "hello\n");
    ck_assert(!hx.eof);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Whether the connection persists */

START_TEST(http10_closes_unless_asked)
{
    hx_ask("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", hx_one_response);
    hx_assert_has(hx.in, "\r\nConnection: keep-alive\r\n");
    hx_ask("GET /hello HTTP/1.0\r\n\r\n", hx_closed);
    ck_assert_int_eq(hx_responses(), 2);
    hx_assert_has(hx.in, "\r\nConnection: close\r\n");
}
END_TEST

START_TEST(keepalive_requests_of_the_chosen_server)
{
    hx_ask("GET / HTTP/1.1\r\nHost: c.test\r\n\r\nGET / HTTP/1.1\r\nHost: c.test\r\n\r\n"
           "GET / HTTP/1.1\r\nHost: c.test\r\n\r\n", hx_closed);
    ck_assert_int_eq(hx_responses(), 2);            /* the third is never read */
    const char *second = strstr(strstr(hx.in, "c\n") + 2, "HTTP/1.1 200 OK\r\n");
    ck_assert_ptr_nonnull(second);
    const char *close = strstr(hx.in, "\r\nConnection: close\r\n");
    ck_assert(close != NULL && close > second);     /* on the second only */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_exchange");
    TCase *t = tcase_create("select");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, return_and_errors_take_the_same_path);
    tcase_add_test(t, method_a_route_refuses);
    tcase_add_test(t, path_normalised_before_the_route);
    tcase_add_test(t, bad_escape_refused);
    tcase_add_test(t, path_above_the_root_refused);
    tcase_add_test(t, deny_all_answers_403_and_goes_on);
    tcase_add_test(t, allow_by_the_client_address);
    tcase_add_test(t, options_star_answered_by_the_server);
    tcase_add_test(t, connect_refused_with_405);
    suite_add_tcase(s, t);
    t = tcase_create("frame");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, unsound_request_closes_with_its_status);
    tcase_add_test(t, host_chooses_the_server);
    tcase_add_test(t, body_limits_of_the_chosen_server);
    tcase_add_test(t, body_answered_at_once_is_dropped);
    tcase_add_test(t, http10_closes_unless_asked);
    tcase_add_test(t, keepalive_requests_of_the_chosen_server);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
