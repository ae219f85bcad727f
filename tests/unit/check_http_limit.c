/* Request limits (src/http/limit.c): the rate's syntax, the limit group's
 * checks at load (FILE:LINE), Retry-After's rounding, keys (the template's
 * value under the limit's identity), and requests through the real server
 * code: burst + 1 answered, then 429 with Retry-After and the error page;
 * 503 when configured; the server's limit shared by its routes; requests
 * in flight counted until their exchange is over. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/limit.h"
#include "http/req.h"
#include "http_fixture.h"
#include "limit_zone.h"
#include "tap.h"

#define S INT64_C(1000000000)

START_TEST(rates)
{
    int64_t ns = 0;
    ck_assert_int_eq(http_limit_parse_rate("10r/s", &ns), 0);
    ck_assert_int_eq(ns, S / 10);
    ck_assert_int_eq(http_limit_parse_rate("1r/m", &ns), 0);
    ck_assert_int_eq(ns, 60 * S);
    ck_assert_int_eq(http_limit_parse_rate("3r/s", &ns), 0);
    ck_assert_int_eq(ns, 333333333);
    ck_assert_int_eq(http_limit_parse_rate("1000000r/s", &ns), 0);
    ck_assert_int_eq(ns, 1000);
    static const char *const bad[] = { "", "r/s", "0r/s", "10", "10r", "10r/h", "10 r/s",
                                       "-1r/s", "1000001r/s", "10r/s ", "1.5r/s",
                                       "99999999999999999999r/s" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(http_limit_parse_rate(bad[i], &ns) < 0, "\"%s\" taken", bad[i]);
}
END_TEST

START_TEST(retry_after)
{
    ck_assert_int_eq(http_limit_retry_after(1), 1);
    ck_assert_int_eq(http_limit_retry_after(0), 1);
    ck_assert_int_eq(http_limit_retry_after(S), 1);
    ck_assert_int_eq(http_limit_retry_after(S + 1), 2);
    ck_assert_int_eq(http_limit_retry_after(60 * S), 60);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The group at load */

#define SERVER(limit, route_limit) \
    "workers = 1;\n" \
    "servers = ( { listen = \"127.0.0.1:1\"; access_log = \"@DIR@/access.log\";\n" \
    "  access_log_format = \"$status $request_uri\";\n" \
    "  " limit "\n" \
    "  routes = ( { path = \"/a\"; " route_limit "\n" \
    "               return = { status = 200; body = \"a\\n\"; }; },\n" \
    "             { path = \"/b\"; return = { status = 200; body = \"b\\n\"; }; } ); } );\n"

static const struct hx_refusal refusals[] = {
    { SERVER("", "limit = { rate = \"10r/h\"; };"), 5, "'rate' \"10r/h\" is not a rate" },
    { SERVER("", "limit = { rate = \"0r/s\"; };"), 5, "is not a rate" },
    { SERVER("", "limit = { rate = 10; };"), 5, "rate" },
    { SERVER("", "limit = { rate = \"1r/s\"; burst = -1; };"), 5, "burst" },
    { SERVER("", "limit = { rate = \"1r/s\"; status = 404; };"), 5,
      "a limit answers 429 or 503, not 404" },
    { SERVER("", "limit = { rate = \"1r/s\"; key = \"$nope\"; };"), 5, "'key': " },
    { SERVER("", "limit = { burst = 3; };"), 5, "'limit' needs 'rate' or 'connections'" },
    { SERVER("", "limit = { connections = 2; burst = 3; };"), 5, "'burst' needs a 'rate'" },
    { SERVER("", "limit = { rate = \"1r/s\"; size = 3; };"), 5, "size" },
    { SERVER("limit = { rate = \"1r/q\"; };", ""), 4, "is not a rate" },
};

START_TEST(refused_at_load)
{
    hx_mkdir();
    hx_refused(_i, &refusals[_i]);
    hx_stop();
}
END_TEST

START_TEST(defaults)
{
    hx_mkdir();
    struct herd_config *cfg = hx_config_ok(SERVER("", "limit = { rate = \"2r/s\"; };"));
    const struct cfg_limit *l = http_config(&cfg->servers[0])->routes[0].limit;
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(l->key, "$remote_addr");
    ck_assert_int_eq(l->burst, 0);
    ck_assert_int_eq(l->status, 429);
    ck_assert_int_eq(l->connections, 0);
    ck_assert_int_eq(l->interval_ns, S / 2);
    ck_assert_int_eq(cfg->limit_zone_size, 1024 * 1024);
    config_free(cfg);
    hx_stop();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Keys */

START_TEST(keys_by_value_and_identity)
{
    struct cfg_limit cfg = { .rate = "1r/s", .interval_ns = S, .key = "$http_x_key",
                             .status = 429 };
    char err[256];
    struct http_limit *a = http_limit_build(&cfg, "/a", NULL, err, sizeof err);
    struct http_limit *a2 = http_limit_build(&cfg, "/a", NULL, err, sizeof err);
    struct http_limit *b = http_limit_build(&cfg, "/b", NULL, err, sizeof err);
    cfg.burst = 1;
    struct http_limit *a_burst = http_limit_build(&cfg, "/a", NULL, err, sizeof err);
    ck_assert(a && a2 && b && a_burst);
    ck_assert_uint_eq(a->scope, a2->scope);           /* a reload's same limit */
    ck_assert_uint_ne(a->scope, b->scope);
    ck_assert_uint_ne(a->scope, a_burst->scope);
    ck_assert_int_eq(a->rule.tolerance_ns, 0);
    ck_assert_int_eq(a_burst->rule.tolerance_ns, S);
    http_limit_free(a);
    http_limit_free(a2);
    http_limit_free(b);
    http_limit_free(a_burst);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Requests */

static bool seven_responses(void)
{
    return hx_responses() >= 7;
}

static void fresh_zone(void)
{
    /* Every test runs in its own process (Check forks): a zone of its own. */
    ck_assert_ptr_nonnull(limit_zone_map(64 * 1024));
}

START_TEST(burst_then_429)
{
    fresh_zone();
    hx_start(SERVER("", "limit = { rate = \"1r/m\"; burst = 5; };"));
    const char *get = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    static char req[7 * 64];
    req[0] = '\0';
    for (int i = 0; i < 7; i++)
        strcat(req, get);
    hx_ask(req, seven_responses);
    const char *r = hx.in;
    for (int i = 0; i < 6; i++) {
        ck_assert_msg(strncmp(r, "HTTP/1.1 200 ", 13) == 0, "answer %d:\n%s", i, r);
        r = strstr(r + 1, "HTTP/1.1 ");
    }
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(strncmp(r, "HTTP/1.1 429 Too Many Requests\r\n", 32) == 0, "%s", r);
    hx_assert_has(r, "\r\nRetry-After: 60\r\n");
    hx_assert_has(r, "\r\nContent-Type: text/html\r\n");
    hx_assert_has(r, "429 Too Many Requests");
    ck_assert(!hx.eof);                         /* the connection goes on */
    /* Another route of the server is not limited; the log has the 429. */
    hx_forget();
    hx_ask("GET /b HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    hx_assert_first("HTTP/1.1 200 ");
    hx_assert_has(hx_access_log(), "\n429 /a\n");
    ck_assert_uint_eq(limit_zone_refusals(limit_zone_current()), 1);
    hx_stop();
}
END_TEST

START_TEST(status_503_and_the_servers_limit)
{
    fresh_zone();
    hx_start(SERVER("limit = { rate = \"1r/m\"; status = 503; };", ""));
    /* One for the whole server: /a and /b share it. */
    hx_ask("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_two_responses);
    hx_assert_first("HTTP/1.1 200 ");
    const char *r = hx_response("HTTP/1.1 503 ");
    ck_assert_msg(r != NULL, "%s", hx.in);
    hx_assert_has(r, "\r\nRetry-After: 60\r\n");
    hx_stop();
}
END_TEST

START_TEST(keys_apart)
{
    fresh_zone();
    hx_start(SERVER("", "limit = { rate = \"1r/m\"; key = \"$http_x_user\"; };"));
    hx_ask("GET /a HTTP/1.1\r\nHost: x\r\nX-User: ann\r\n\r\n"
           "GET /a HTTP/1.1\r\nHost: x\r\nX-User: bob\r\n\r\n"
           "GET /a HTTP/1.1\r\nHost: x\r\nX-User: ann\r\n\r\n",
           hx_three_responses);
    const char *log = hx_access_log();
    ck_assert_msg(strcmp(log, "200 /a\n200 /a\n429 /a\n") == 0, "%s", log);
    hx_stop();
}
END_TEST

/* Two regex routes with the same limit count apart: a regex route's
 * identity is its pattern (it has no path). */
START_TEST(regex_routes_apart)
{
    fresh_zone();
    hx_start("workers = 1;\n"
             "servers = ( { listen = \"127.0.0.1:1\"; access_log = \"@DIR@/access.log\";\n"
             "  access_log_format = \"$status $request_uri\";\n"
             "  routes = ( { regex = \"^/x\"; limit = { rate = \"1r/m\"; };\n"
             "               return = { status = 200; body = \"x\\n\"; }; },\n"
             "             { regex = \"^/y\"; limit = { rate = \"1r/m\"; };\n"
             "               return = { status = 200; body = \"y\\n\"; }; } ); } );\n");
    hx_ask("GET /x HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /y HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /x HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_three_responses);
    const char *log = hx_access_log();
    ck_assert_msg(strcmp(log, "200 /x\n200 /y\n429 /x\n") == 0, "%s", log);
    hx_stop();
}
END_TEST

/* A key longer than the stack's buffer is hashed whole: two values that
 * differ only after 1000 bytes are two keys. */
START_TEST(long_keys_hashed_whole)
{
    fresh_zone();
    hx_start(SERVER("", "limit = { rate = \"1r/m\"; key = \"$http_x_user\"; };"));
    static char req[3 * 1200];
    char value[1001];
    memset(value, 'v', 1000);
    value[1000] = '\0';
    snprintf(req, sizeof req,
             "GET /a HTTP/1.1\r\nHost: x\r\nX-User: %sA\r\n\r\n"
             "GET /a HTTP/1.1\r\nHost: x\r\nX-User: %sB\r\n\r\n"
             "GET /a HTTP/1.1\r\nHost: x\r\nX-User: %sA\r\n\r\n", value, value, value);
    hx_ask(req, hx_three_responses);
    const char *log = hx_access_log();
    ck_assert_msg(strcmp(log, "200 /a\n200 /a\n429 /a\n") == 0, "%s", log);
    hx_stop();
}
END_TEST

/* The held count while a request is in progress (a handler of the test's
 * that answers only when told). */
static struct http_req *pending;

static enum http_start hold_start(struct http_req *req)
{
    pending = req;
    return HTTP_PENDING;
}

static void hold_abort(struct http_req *req)
{
    (void)req;
    pending = NULL;
}

static const struct http_handler holding = {
    .name = "holding", .any_method = true, .start = hold_start, .abort = hold_abort,
};

static bool is_pending(void)
{
    return pending != NULL;
}

START_TEST(connections_in_progress)
{
    fresh_zone();
    hx_start(SERVER("", "limit = { connections = 1; };"));
    hx_use_handler("/a", &holding);
    hx_ask("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", is_pending);
    struct http_route *route = hx_route_of(0, "/a");
    struct limit_zone *z = limit_zone_current();
    uint64_t key = pending->limit_held;
    ck_assert_uint_ne(key, 0);
    ck_assert_uint_eq(key, http_limit_key(route->limit, z, pending));
    ck_assert_int_eq(limit_zone_held(z, key), 1);
    struct http_req *first = pending;
    pending = NULL;
    struct http_head h = { .status = 200, .length = 0 };
    /* Answer the first: the count goes back. */
    http_req_respond(first, &h, NULL, 0);
    http_req_done(first);
    ck_assert_int_eq(limit_zone_held(z, key), 0);
    ck_assert(hx_run_until(hx_one_response));
    hx_forget();
    hx_ask("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", is_pending);
    ck_assert_int_eq(limit_zone_held(z, key), 1);
    /* The client goes away: the abort ends it, and its count. */
    hx_connect("127.0.0.1");
    ck_assert(!is_pending());
    ck_assert_int_eq(limit_zone_held(z, key), 0);
    hx_stop();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_limit");
    TCase *tc = tcase_create("limit");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, rates);
    tcase_add_test(tc, retry_after);
    tcase_add_loop_test(tc, refused_at_load, 0, sizeof refusals / sizeof refusals[0]);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, keys_by_value_and_identity);
    tcase_add_test(tc, regex_routes_apart);
    tcase_add_test(tc, burst_then_429);
    tcase_add_test(tc, status_503_and_the_servers_limit);
    tcase_add_test(tc, keys_apart);
    tcase_add_test(tc, long_keys_hashed_whole);
    tcase_add_test(tc, connections_in_progress);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
