/* The `status` handler (handler_status.c) through the real server code
 * (http_fixture.h): the counters of the shared stats page in each format
 * with its media type, never cached; its default format and methods; who
 * may see it (allow/deny on its route). The worker's counters are a block
 * of the page, as in a real worker, so the page shows what this connection
 * did. Its configuration section: the format key. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/config.h"
#include "http/handler.h"
#include "http_fixture.h"
#include "stats.h"
#include "tap.h"

static const char conf[] =
    "servers = ({ listen = [ \"127.0.0.1:1\" ]; server_names = [ \"local.test\" ];\n"
    "  routes = (\n"
    "    { path = \"/hello\"; return = { status = 200; body = \"hello\\n\"; }; },\n"
    "    { path = \"/status\"; status = { format = \"text\"; }; },\n"
    "    { path = \"/json\"; status = { }; },\n"
    "    { path = \"/metrics\"; status = { format = \"prometheus\"; }; },\n"
    "    { path = \"/local\"; allow = [ \"127.0.0.1\" ]; status = { format = \"text\"; }; },\n"
    "    { path = \"/hidden\"; deny = [ \"all\" ]; status = { }; }\n"
    "  ); });\n";

static void setup(void)
{
    hx_start(conf);
    /* A worker's counters live in the page its status handler reads. */
    struct stats_block *b = stats_claim(hx.page, 0, 1);
    ck_assert_ptr_nonnull(b);
    b->pid = getpid();
    stats_name_server(hx.page, b, 0, "local.test");
    fx.owner.stats = b;
}

static void teardown(void)
{
    hx_stop();
}

/* GET path after two requests to /hello; the body of the answer. */
static const char *status_page(const char *path)
{
    static char req[512];
    snprintf(req, sizeof req, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    hx_ask(req, hx_three_responses);
    const char *r = strstr(hx.in, "hello\n");
    ck_assert_ptr_nonnull(r);
    r = strstr(r + 1, "hello\n");
    ck_assert_ptr_nonnull(r);
    r += 6;
    ck_assert_int_eq(strncmp(r, "HTTP/1.1 200 OK\r\n", 17), 0);
    ck_assert_ptr_nonnull(strstr(r, "\r\nCache-Control: no-store\r\n"));
    return strstr(r, "\r\n\r\n") + 4;
}

static void assert_type(const char *type)
{
    char line[128];
    snprintf(line, sizeof line, "\r\nContent-Type: %s\r\n", type);
    hx_assert_has(hx.in, line);
}

START_TEST(status_handler)
{
    hx_ask("GET /status HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    hx_assert_has(hx.in, "HTTP/1.1 200 OK\r\n");
    hx_assert_has(hx.in, "Cache-Control: no-store\r\n");
    hx_assert_has(hx.in, "requests");
}
END_TEST

/* The page counts what came before it: the status request itself is a
 * request, not yet a response. */
START_TEST(text_shows_this_workers_counters)
{
    const char *body = status_page("/status");
    assert_type("text/plain");
    hx_assert_has(body, "server accepts handled requests\n 0 0 3\n");
    hx_assert_has(body, "Responses: 1xx=0 2xx=2 3xx=0 4xx=0 5xx=0\n");
    hx_assert_has(body, "\nserver local.test 1xx=0 2xx=2 3xx=0 4xx=0 5xx=0\n");
}
END_TEST

START_TEST(json_by_default)
{
    const char *body = status_page("/json");
    assert_type("application/json");
    ck_assert_int_eq(body[0], '{');
    ck_assert_str_eq(body + strlen(body) - 2, "}\n");
    hx_assert_has(body, "\"requests\":3");
    hx_assert_has(body, "{\"server\":\"local.test\",\"responses\":{\"1xx\":0,\"2xx\":2,");
}
END_TEST

START_TEST(prometheus_text)
{
    const char *body = status_page("/metrics");
    assert_type("text/plain; version=0.0.4");
    hx_assert_has(body, "herd_requests_total{slot=\"0\"} 3\n");
    hx_assert_has(body, "herd_server_responses_total{server=\"local.test\",code=\"2xx\"} 2\n");
}
END_TEST

static bool got_hello(void) { return strstr(hx.in, "hello\n") != NULL; }

/* GET and HEAD only; HEAD gets the length and no body. */
START_TEST(get_and_head_only)
{
    hx_ask("POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
           "HEAD /status HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
           got_hello);
    hx_assert_first("HTTP/1.1 405 Method Not Allowed\r\n");
    hx_assert_has(hx.in, "\r\nAllow: GET, HEAD\r\n");
    const char *head = strstr(hx.in, "\nHTTP/1.1 200 OK\r\n");
    ck_assert_ptr_nonnull(head);
    ck_assert_ptr_nonnull(strstr(head, "\r\nContent-Length: "));
    /* Right after the HEAD's blank line, the next answer. */
    ck_assert_int_eq(strncmp(strstr(head, "\r\n\r\n") + 4, "HTTP/1.1 200 OK\r\n", 17), 0);
}
END_TEST

START_TEST(allow_and_deny_guard_it)
{
    hx_ask("GET /local HTTP/1.1\r\nHost: x\r\n\r\nGET /hidden HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_two_responses);
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    ck_assert_ptr_nonnull(hx_response("HTTP/1.1 403 Forbidden\r\n"));
    ck_assert_ptr_null(strstr(hx_response("HTTP/1.1 403 "), "requests"));
    hx_connect("192.0.2.1");
    hx_ask("GET /local HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    hx_assert_first("HTTP/1.1 403 Forbidden\r\n");
    ck_assert_ptr_null(strstr(hx.in, "requests"));
}
END_TEST

/* The section: the format, JSON unless said. */
START_TEST(formats_configured)
{
    const struct cfg_http *h = http_config(&hx.cfg->servers[0]);
    ck_assert_int_eq(h->routes[1].status->format, STATUS_TEXT);
    ck_assert_int_eq(h->routes[2].status->format, STATUS_JSON);
    ck_assert_int_eq(h->routes[3].status->format, STATUS_PROMETHEUS);
    ck_assert_ptr_eq(http_handler_for(&h->routes[1]), &http_handler_status);
    ck_assert_str_eq(http_status_config.name, "status");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_handler_status");
    TCase *t = tcase_create("status");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, status_handler);
    tcase_add_test(t, text_shows_this_workers_counters);
    tcase_add_test(t, json_by_default);
    tcase_add_test(t, prometheus_text);
    tcase_add_test(t, get_and_head_only);
    tcase_add_test(t, allow_and_deny_guard_it);
    tcase_add_test(t, formats_configured);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
