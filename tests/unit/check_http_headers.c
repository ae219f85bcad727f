/* Configured response headers and `expires` (src/http/headers.c): the
 * merge of a server's and a route's, the prebuilt lines, which answers
 * get them through the real server code (http_fixture.h), the refusals at
 * FILE:LINE, and the expires values. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/headers.h"
#include "http_fixture.h"
#include "tap.h"

static struct cfg_strings list(char **v, size_t n)
{
    return (struct cfg_strings){ .v = v, .n = n };
}

START_TEST(merge_route_over_server)
{
    char *server[] = { "Strict-Transport-Security", "max-age=63072000", "X-A", "server",
                       "X-B", "b" };
    char *route[] = { "x-a", "route", "X-B", "", "X-C", "c" };
    struct cfg_strings s = list(server, 6), r = list(route, 6);
    struct http_headers h;
    char why[64];
    ck_assert_int_eq(http_headers_build(&h, &s, &r, why, sizeof why), 0);
    ck_assert(!h.has_vars);
    /* Replaced in place, removed by an empty value, added at the end. */
    ck_assert_str_eq(h.plain, "Strict-Transport-Security: max-age=63072000\r\n"
                              "x-a: route\r\nX-C: c\r\n");
    ck_assert_uint_eq(h.plain_len, strlen(h.plain));
    http_headers_free(&h);

    struct cfg_strings none = list(NULL, 0);
    ck_assert_int_eq(http_headers_build(&h, &none, &none, why, sizeof why), 0);
    ck_assert_uint_eq(h.n, 0);
    ck_assert_ptr_null(h.plain);
    http_headers_free(&h);

    char *vars[] = { "X-Id", "$request_id" };
    struct cfg_strings v = list(vars, 2);
    ck_assert_int_eq(http_headers_build(&h, &s, &v, why, sizeof why), 0);
    ck_assert(h.has_vars);
    ck_assert_ptr_null(h.plain);
    http_headers_free(&h);
}
END_TEST

START_TEST(which_statuses)
{
    ck_assert(http_headers_apply(200));
    ck_assert(http_headers_apply(204));
    ck_assert(http_headers_apply(301));
    ck_assert(http_headers_apply(304));
    ck_assert(!http_headers_apply(101));
    ck_assert(!http_headers_apply(404));
    ck_assert(!http_headers_apply(500));
}
END_TEST

/* ------------------------------------------------------------------ */
/* expires */

START_TEST(expires_values)
{
    int64_t s;
    ck_assert_int_eq(http_expires_parse("off", &s), 0);
    ck_assert_int_eq(s, HTTP_EXPIRES_OFF);
    ck_assert_int_eq(http_expires_parse("epoch", &s), 0);
    ck_assert_int_eq(s, HTTP_EXPIRES_EPOCH);
    ck_assert_int_eq(http_expires_parse("max", &s), 0);
    ck_assert_int_eq(s, HTTP_EXPIRES_MAX);
    ck_assert_int_eq(http_expires_parse("1h", &s), 0);
    ck_assert_int_eq(s, 3600);
    ck_assert_int_eq(http_expires_parse("30", &s), 0);
    ck_assert_int_eq(s, 30);
    ck_assert_int_eq(http_expires_parse("0", &s), 0);
    ck_assert_int_eq(s, 0);
    ck_assert_int_eq(http_expires_parse("soon", &s), -1);
    ck_assert_int_eq(http_expires_parse("-1h", &s), -1);
    ck_assert_int_eq(http_expires_parse("", &s), -1);

    char out[160];
    ck_assert_uint_eq(http_expires_write(HTTP_EXPIRES_OFF, 0, out, sizeof out), 0);
    size_t n = http_expires_write(3600, 784111777, out, sizeof out);
    ck_assert_uint_eq(n, strlen(out));
    ck_assert_str_eq(out, "Cache-Control: max-age=3600\r\n"
                          "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n");
    http_expires_write(HTTP_EXPIRES_EPOCH, 784111777, out, sizeof out);
    ck_assert_str_eq(out, "Cache-Control: no-cache\r\n"
                          "Expires: Thu, 01 Jan 1970 00:00:01 GMT\r\n");
    http_expires_write(HTTP_EXPIRES_MAX, 784111777, out, sizeof out);
    ck_assert_str_eq(out, "Cache-Control: max-age=315360000\r\n"
                          "Expires: Thu, 31 Dec 2037 23:55:55 GMT\r\n");
    ck_assert_uint_eq(http_expires_write(3600, 0, out, 20), 0);    /* no room: nothing */
}
END_TEST

/* ------------------------------------------------------------------ */
/* Through the server */

static const char conf[] =
    "servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
    "  headers = { X-Frame-Options = \"DENY\"; X-Who = \"server\"; };\n"
    "  routes = (\n"
    "    { path = \"/fixed\"; headers = { X-Who = \"route\"; };\n"
    "      return = { status = 200; body = \"ok\"; }; },\n"
    "    { path = \"/vars\"; headers = { X-Path = \"$uri\"; X-Empty = \"$http_none\"; };\n"
    "      return = { status = 200; body = \"ok\"; }; },\n"
    "    { path = \"/moved\"; return = { status = 301; location = \"/fixed\"; }; },\n"
    "    { path = \"/no\"; return = { status = 403; body = \"no\"; }; },\n"
    "    { path = \"/status\"; status = { format = \"text\"; }; }\n"
    "  ); });\n";

static void setup(void)
{
    hx_start(conf);
}

static void teardown(void)
{
    hx_stop();
}

static void get(const char *path)
{
    static char req[256];     /* sent while hx_ask runs */
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    hx_forget();
    hx_ask(req, hx_one_response);
}

START_TEST(prebuilt_answer_has_them)
{
    get("/fixed");
    hx_assert_first("HTTP/1.1 200 ");
    hx_assert_has(hx.in, "\r\nX-Frame-Options: DENY\r\nX-Who: route\r\n\r\nok");
    ck_assert_ptr_null(strstr(hx.in, "server"));
    get("/moved");
    hx_assert_has(hx.in, "\r\nLocation: /fixed\r\nX-Frame-Options: DENY\r\nX-Who: server\r\n");
}
END_TEST

START_TEST(rendered_per_request)
{
    get("/vars/a%20b");
    hx_assert_first("HTTP/1.1 200 ");
    hx_assert_has(hx.in, "\r\nX-Frame-Options: DENY\r\nX-Who: server\r\nX-Path: /vars/a%20b\r\n");
    ck_assert_ptr_null(strstr(hx.in, "X-Empty"));       /* empty: left out */
}
END_TEST

START_TEST(handler_answers_have_them)
{
    get("/status");
    hx_assert_first("HTTP/1.1 200 ");
    hx_assert_has(hx.in, "\r\nX-Frame-Options: DENY\r\nX-Who: server\r\n");
}
END_TEST

START_TEST(errors_do_not)
{
    get("/no");
    hx_assert_first("HTTP/1.1 403 ");
    ck_assert_ptr_null(strstr(hx.in, "X-Who"));
    get("/elsewhere");
    hx_assert_first("HTTP/1.1 404 ");
    ck_assert_ptr_null(strstr(hx.in, "X-Who"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Refusals */

static const struct hx_refusal refusals[] = {
    { "servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
      "  headers = {\n"
      "    X-Ok = \"$host\";\n"
      "    X-Bad = \"$hots\"; };\n"
      "  routes = ( { path = \"/\"; return = { status = 200; }; } ); });\n",
      4, "header X-Bad: unknown variable '$hots'" },
    { "servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
      "  routes = ( { path = \"/\";\n"
      "    headers = { Content-Length = \"3\"; };\n"
      "    return = { status = 200; }; } ); });\n",
      3, "'headers' cannot set Content-Length" },
    { "servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
      "  routes = ( { path = \"/\"; return = { status = 301;\n"
      "    location = \"https://$host$request_url\"; }; } ); });\n",
      3, "'location': unknown variable '$request_url'" },
    { "servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
      "  routes = ( { path = \"/\"; static = { root = \"/\";\n"
      "    expires = \"tomorrow\"; }; } ); });\n",
      3, "'expires' must be \"off\", \"epoch\", \"max\" or a duration" },
};

START_TEST(refused_at_their_line)
{
    hx_refused(_i, &refusals[_i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_headers");
    TCase *tc = tcase_create("build");
    tcase_add_test(tc, merge_route_over_server);
    tcase_add_test(tc, which_statuses);
    tcase_add_test(tc, expires_values);
    suite_add_tcase(s, tc);
    tc = tcase_create("server");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, prebuilt_answer_has_them);
    tcase_add_test(tc, rendered_per_request);
    tcase_add_test(tc, handler_answers_have_them);
    tcase_add_test(tc, errors_do_not);
    suite_add_tcase(s, tc);
    tc = tcase_create("refusals");
    tcase_add_checked_fixture(tc, hx_mkdir, hx_stop);
    tcase_add_loop_test(tc, refused_at_their_line, 0,
                        (int)(sizeof refusals / sizeof refusals[0]));
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
