/* Answering through the exchange (req.c), from handlers on a request over
 * the connection fixture (http_fixture.h): respond, send_file, send_fixed,
 * error, done and body_resume, with what the exchange adds (Date, the
 * Connection line, no body for HEAD) and records (status, body bytes and
 * bytes sent, the access-log line once, the counters by status class). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "fixture.h"
#include "http/date.h"
#include "http/req.h"
#include "http/response.h"
#include "http/server.h"
#include "http_fixture.h"
#include "loop.h"
#include "stats.h"
#include "tap.h"

static const char conf[] =
    "servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
    "  access_log = \"@DIR@/access.log\";\n"
    "  access_log_format = \"$status $body_bytes_sent $bytes_sent\";\n"
    "  error_pages = ( { status = 404; file = \"@DIR@/404.html\"; } );\n"
    "  routes = (\n"
    "    { path = \"/now\"; methods = [ \"GET\", \"POST\" ]; return = { status = 204; }; },\n"
    "    { path = \"/later\"; return = { status = 204; }; }\n"
    "  ); });\n";

/* The handlers under test: they run the test's own `answer` on the
 * request, /now answering at once, /later later (it takes the body too, at
 * most `take` bytes at a time). */
static struct {
    void (*answer)(struct http_req *req);
    struct http_req *req;           /* /later, while pending */
    struct http_req seen;           /* what the exchange recorded */
    size_t take;
    char got[64];
    size_t got_len;
    bool ended;
    int aborted;
} probe;

static enum http_start now_start(struct http_req *req)
{
    if (probe.answer)
        probe.answer(req);
    probe.seen = *req;
    return HTTP_ANSWERED;
}

static enum http_start later_start(struct http_req *req)
{
    probe.req = req;
    if (probe.answer)
        probe.answer(req);
    return HTTP_PENDING;
}

static size_t later_body(struct http_req *req, const char *p, size_t n)
{
    ck_assert_ptr_eq(req, probe.req);
    if (n == 0) {
        probe.ended = true;
        return 0;
    }
    size_t take = n < probe.take ? n : probe.take;
    ck_assert_uint_le(probe.got_len + take, sizeof probe.got);
    memcpy(probe.got + probe.got_len, p, take);
    probe.got_len += take;
    return take;
}

static void later_abort(struct http_req *req)
{
    (void)req;
    probe.aborted++;
}

static const struct http_handler now_handler = {
    .name = "now", .any_method = true, .start = now_start,
};
static const struct http_handler later_handler = {
    .name = "later", .any_method = true, .start = later_start, .body = later_body,
    .abort = later_abort,
};

static void setup(void)
{
    memset(&probe, 0, sizeof probe);
    probe.take = 1000;
    hx_mkdir();
    char path[256];
    fixture_write(fixture_path(path, sizeof path, hx.dir, "404.html"), "custom 404\n", 11);
    fixture_write(fixture_path(path, sizeof path, hx.dir, "digits"), "0123456789", 10);
    hx_load(conf);
    hx_use_handler("/now", &now_handler);
    hx_use_handler("/later", &later_handler);
}

static void teardown(void)
{
    hx_stop();
}

/* The body of the (only) response: after its head. */
static const char *body(void)
{
    const char *blank = strstr(hx.in, "\r\n\r\n");
    ck_assert_ptr_nonnull(blank);
    return blank + 4;
}

static bool got_head(void) { return strstr(hx.in, "\r\n\r\n") != NULL; }

/* The access-log line says what the exchange recorded; bytes_sent is what
 * the client got. */
static void assert_recorded(int status, size_t body_bytes)
{
    char want[128];
    snprintf(want, sizeof want, "%d %zu %zu\n", status, body_bytes, hx.in_len);
    ck_assert_str_eq(hx_access_log(), want);
}

/* ------------------------------------------------------------------ */
/* respond */

/* The Date of the answer, as the exchange gives it when answering. */
static char date[HTTP_DATE_LEN + 1];

static void answer_abc(struct http_req *req)
{
    static const char extra[] = "X-A: 1\r\n";
    snprintf(date, sizeof date, "%s", http_req_date(req));
    struct http_head h = { .status = 200, .type = "text/plain", .length = 3, .extra = extra,
                           .extra_len = sizeof extra - 1 };
    ck_assert_int_eq(http_req_respond(req, &h, "abc", 3), 0);
}

START_TEST(respond_writes_head_then_body)
{
    probe.answer = answer_abc;
    hx_ask("GET /now HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    char want[256];
    snprintf(want, sizeof want, "HTTP/1.1 200 OK\r\nServer: herd\r\nDate: %s\r\n"
             "Content-Type: text/plain\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc", date);
    ck_assert_str_eq(hx.in, want);
    ck_assert_int_eq(probe.seen.status, 200);
    ck_assert_uint_eq(probe.seen.body_bytes, 3);
    ck_assert_uint_eq(probe.seen.bytes_sent, hx.in_len);
    assert_recorded(200, 3);
}
END_TEST

START_TEST(respond_to_head_keeps_the_length_drops_the_body)
{
    probe.answer = answer_abc;
    hx_ask("HEAD /now HTTP/1.1\r\nHost: x\r\n\r\n", got_head);
    hx_assert_has(hx.in, "\r\nContent-Length: 3\r\n");
    ck_assert_str_eq(body(), "");
    ck_assert_uint_eq(probe.seen.body_bytes, 0);
    assert_recorded(200, 0);
}
END_TEST

static void answer_304_with_body(struct http_req *req)
{
    struct http_head h = { .status = 304, .length = 3 };
    http_req_respond(req, &h, "abc", 3);
}

START_TEST(respond_drops_the_body_of_a_status_without_one)
{
    probe.answer = answer_304_with_body;
    hx_ask("GET /now HTTP/1.1\r\nHost: x\r\n\r\nGET /now HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_two_responses);
    hx_assert_first("HTTP/1.1 304 Not Modified\r\n");
    ck_assert_ptr_null(strstr(hx.in, "abc"));
    ck_assert_ptr_null(strstr(hx.in, "Content-Length"));
    ck_assert_ptr_nonnull(strstr(body(), "HTTP/1.1 304 "));    /* the second, right after */
}
END_TEST

/* The Connection line is the exchange's: none for HTTP/1.1, keep-alive
 * for an HTTP/1.0 client that asked, close when the connection ends. */
START_TEST(connection_line_follows_the_exchange)
{
    probe.answer = answer_abc;
    hx_ask("GET /now HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", hx_one_response);
    hx_assert_has(hx.in, "\r\nConnection: keep-alive\r\n");
    ck_assert(probe.seen.keep);
    hx_ask("GET /now HTTP/1.1\r\nHost: x\r\n\r\n", hx_two_responses);
    ck_assert_ptr_null(strstr(strstr(hx.in, "abc"), "Connection"));
    hx_ask("GET /now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", hx_closed);
    const char *third = strstr(strstr(hx.in, "abc") + 1, "abc");
    hx_assert_has(third, "\r\nConnection: close\r\n");
    ck_assert(!probe.seen.keep);
}
END_TEST

/* ------------------------------------------------------------------ */
/* What a handler may ask of the exchange */

static struct {
    int64_t now;
    char date[HTTP_DATE_LEN + 1];
    const char *query;
    size_t query_len;
} asked;

static void answer_after_asking(struct http_req *req)
{
    asked.now = http_req_now(req);
    snprintf(asked.date, sizeof asked.date, "%s", http_req_date(req));
    asked.query = http_req_query(req, &asked.query_len);
    answer_abc(req);
}

START_TEST(clock_date_and_query)
{
    probe.answer = answer_after_asking;
    loop_update_time(fx.loop);
    int64_t before = loop_now(fx.loop);
    hx_ask("GET /now?a=b&c HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    ck_assert(asked.now >= before && asked.now <= loop_now(fx.loop));
    char date_line[64];
    snprintf(date_line, sizeof date_line, "\r\nDate: %s\r\n", asked.date);
    ck_assert_ptr_nonnull(strstr(hx.in, date_line));     /* the answer's Date */
    ck_assert_uint_eq(strlen(asked.date), HTTP_DATE_LEN);
    ck_assert_str_eq(asked.date + HTTP_DATE_LEN - 4, " GMT");
    ck_assert_uint_eq(asked.query_len, 5);
    ck_assert_int_eq(strncmp(asked.query, "a=b&c", 5), 0);
    hx_ask("GET /now HTTP/1.1\r\nHost: x\r\n\r\n", hx_two_responses);
    ck_assert_ptr_null(asked.query);
    ck_assert_uint_eq(asked.query_len, 0);
    hx_ask("GET /now? HTTP/1.1\r\nHost: x\r\n\r\n", hx_three_responses);
    ck_assert_ptr_nonnull(asked.query);             /* present, and empty */
    ck_assert_uint_eq(asked.query_len, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* send_file, send_fixed, error */

static int file_fd = -1;

static void answer_digits_3_to_7(struct http_req *req)
{
    char path[256];
    file_fd = open(fixture_path(path, sizeof path, hx.dir, "digits"), O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(file_fd, 0);
    struct http_head h = { .status = 206, .type = "text/plain", .length = 4 };
    ck_assert_int_eq(http_req_respond(req, &h, NULL, 0), 0);
    http_req_send_file(req, file_fd, 3, 7);
    if (!req->with_body) {  /* HEAD: closed at once */
        ck_assert_int_eq(fcntl(file_fd, F_GETFD), -1);
        ck_assert_int_eq(errno, EBADF);
    }
}

START_TEST(send_file_sends_the_segment)
{
    probe.answer = answer_digits_3_to_7;
    hx_ask("GET /now HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    ck_assert_str_eq(body(), "3456");
    ck_assert_uint_eq(probe.seen.body_bytes, 4);
    ck_assert_uint_eq(probe.seen.bytes_sent, hx.in_len);
    assert_recorded(206, 4);
    ck_assert(!conn_file_pending(&hx.conn));        /* sent, and the fd closed */
}
END_TEST

START_TEST(send_file_for_head_sends_nothing)
{
    probe.answer = answer_digits_3_to_7;
    hx_ask("HEAD /now HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_all_read);
    ck_assert(hx_run_until(hx_one_response));
    hx_assert_has(hx.in, "\r\n\r\nHTTP/1.1 404 ");     /* nothing between */
    ck_assert_uint_eq(probe.seen.body_bytes, 0);
}
END_TEST

static struct http_fixed fixed;

static void answer_fixed(struct http_req *req)
{
    snprintf(date, sizeof date, "%s", http_req_date(req));
    ck_assert_int_eq(http_req_send_fixed(req, &fixed), 0);
}

START_TEST(send_fixed_patches_date_and_connection)
{
    ck_assert_int_eq(http_fixed_build(&fixed, 201, "text/plain", "fixed\n", 6, "X-F: 1\r\n"), 0);
    probe.answer = answer_fixed;
    hx_ask("GET /now HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", hx_one_response);
    char want[256];
    snprintf(want, sizeof want, "HTTP/1.1 201 Created\r\nServer: herd\r\nDate: %s\r\n"
             "Content-Type: text/plain\r\nContent-Length: 6\r\nX-F: 1\r\n"
             "Connection: keep-alive\r\n\r\nfixed\n", date);
    ck_assert_str_eq(hx.in, want);
    ck_assert_int_eq(probe.seen.status, 201);
    assert_recorded(201, 6);
    http_fixed_free(&fixed);
}
END_TEST

static int error_status;

static void answer_error(struct http_req *req)
{
    ck_assert_int_eq(http_req_error(req, error_status), 0);
}

static void answer_error_without_route(struct http_req *req)
{
    req->route = NULL;          /* as for OPTIONS * or CONNECT */
    answer_error(req);
}

START_TEST(error_answers_with_the_servers_pages)
{
    probe.answer = answer_error;
    error_status = 404;
    hx_ask("GET /now HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    hx_assert_first("HTTP/1.1 404 Not Found\r\n");
    ck_assert_str_eq(body(), "custom 404\n");       /* the server's own page */
    ck_assert_int_eq(probe.seen.status, 404);
    assert_recorded(404, 11);
}
END_TEST

START_TEST(error_405_lists_the_routes_methods)
{
    probe.answer = answer_error;
    error_status = 405;
    hx_ask("GET /now HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    hx_assert_first("HTTP/1.1 405 Method Not Allowed\r\n");
    hx_assert_has(hx.in, "\r\nAllow: GET, HEAD, POST\r\n");
    /* Without a route: the server's page, which names no methods. */
    probe.answer = answer_error_without_route;
    hx_forget();
    hx_ask("GET /now HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    hx_assert_first("HTTP/1.1 405 Method Not Allowed\r\n");
    ck_assert_ptr_null(strstr(hx.in, "Allow:"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* done, body_resume */

static bool pending(void)
{
    return probe.req && probe.req->state == HTTP_REQ_PENDING;
}

START_TEST(done_completes_a_pending_exchange_once)
{
    hx_ask("GET /later HTTP/1.1\r\nHost: x\r\n\r\n", pending);
    ck_assert_str_eq(hx_access_log(), "");          /* not before its end */
    struct http_req *req = probe.req;
    answer_abc(req);
    http_req_done(req);
    ck_assert_int_eq(req->state, HTTP_REQ_ANSWERED);
    http_req_done(req);                             /* a second time: nothing */
    ck_assert(hx_run_until(hx_one_response));
    assert_recorded(200, 3);
    ck_assert_int_eq(probe.aborted, 0);
}
END_TEST

/* A worker that began to drain while the handler was pending: the answer
 * says close, and the connection ends after it. */
START_TEST(answer_while_draining_closes)
{
    hx_ask("GET /later HTTP/1.1\r\nHost: x\r\n\r\n", pending);
    conn_drain(&hx.conn);
    answer_abc(probe.req);
    ck_assert(!probe.req->keep);
    http_req_done(probe.req);
    ck_assert(hx_run_until(hx_closed));
    hx_assert_has(hx.in, "\r\nConnection: close\r\n");
}
END_TEST

static bool body_waits(void)
{
    return hx_all_read() && probe.req != NULL;
}

START_TEST(body_resume_continues_a_paused_body)
{
    probe.take = 0;                                 /* takes nothing: paused */
    hx_ask("POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", body_waits);
    ck_assert_uint_eq(probe.got_len, 0);
    ck_assert_uint_eq(conn_in_len(&hx.conn), 10);   /* waiting in the input */
    probe.take = 4;
    http_req_body_resume(probe.req);
    ck_assert(hx_run_until(hx_all_read));
    fx_run_for(5);
    ck_assert_uint_eq(probe.got_len, 4);            /* paused again */
    probe.take = 1000;
    http_req_body_resume(probe.req);
    http_req_body_resume(probe.req);                /* not paused by then: no matter */
    fx_run_for(5);
    ck_assert_uint_eq(probe.got_len, 10);
    ck_assert_int_eq(memcmp(probe.got, "0123456789", 10), 0);
    ck_assert(probe.ended);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The counters */

START_TEST(answers_counted_by_class_and_server)
{
    fx.stats->server[0] = 3;                        /* server 0's name is number 3 */
    probe.answer = answer_abc;
    hx_ask("GET /now HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /now HTTP/1.1\r\nHost: x\r\n\r\n", hx_three_responses);
    ck_assert_uint_eq(fx.stats->responses[3][1], 2);   /* 2xx */
    ck_assert_uint_eq(fx.stats->responses[3][3], 1);   /* 4xx */
    ck_assert_uint_eq(fx.stats->responses[0][1], 0);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_REQUESTS), 3);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_req");
    TCase *t = tcase_create("respond");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, respond_writes_head_then_body);
    tcase_add_test(t, respond_to_head_keeps_the_length_drops_the_body);
    tcase_add_test(t, respond_drops_the_body_of_a_status_without_one);
    tcase_add_test(t, connection_line_follows_the_exchange);
    tcase_add_test(t, clock_date_and_query);
    suite_add_tcase(s, t);
    t = tcase_create("send");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, send_file_sends_the_segment);
    tcase_add_test(t, send_file_for_head_sends_nothing);
    tcase_add_test(t, send_fixed_patches_date_and_connection);
    tcase_add_test(t, error_answers_with_the_servers_pages);
    tcase_add_test(t, error_405_lists_the_routes_methods);
    suite_add_tcase(s, t);
    t = tcase_create("later");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, done_completes_a_pending_exchange_once);
    tcase_add_test(t, answer_while_draining_closes);
    tcase_add_test(t, body_resume_continues_a_paused_body);
    tcase_add_test(t, answers_counted_by_class_and_server);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
