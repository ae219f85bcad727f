/* A request's variables (src/http/vars.c), each seen through the real
 * server code (http_fixture.h): a `return` whose location names it, the
 * Location header read back; captures through their accessor. */
#include <check.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/template.h"
#include "http_fixture.h"
#include "tap.h"

static const char conf[] =
    "servers = ({ listen = [ \"127.0.0.1:1\" ]; server_names = [ \"site.test\" ];\n"
    "  routes = (\n"
    "    { path = \"/v/host\"; return = { location = \"$host\"; }; },\n"
    "    { path = \"/v/scheme\"; return = { location = \"$scheme\"; }; },\n"
    "    { path = \"/v/ru\"; return = { location = \"$request_uri\"; }; },\n"
    "    { path = \"/v/uri\"; return = { location = \"$uri\"; }; },\n"
    "    { path = \"/v/args\"; return = { location = \"[$is_args][$args]\"; }; },\n"
    "    { path = \"/v/rest/\"; return = { location = \"/new/$path_rest\"; }; },\n"
    "    { path = \"/v/exact\"; exact = true; return = { location = \"[$path_rest]\"; }; },\n"
    "    { path = \"/v/method\"; return = { location = \"$request_method\"; }; },\n"
    "    { path = \"/v/addr\"; return = { location = \"$remote_addr $remote_port\"; }; },\n"
    "    { path = \"/v/msec\"; return = { location = \"$msec\"; }; },\n"
    "    { path = \"/v/id\"; headers = { X-Id = \"$request_id\"; };\n"
    "      return = { location = \"$request_id\"; }; },\n"
    "    { path = \"/v/http\"; return = { location = \"[$http_x_some_thing]\"; }; },\n"
    "    { regex = \"(?s)^/v/any/(.*)$\"; return = { location = \"[$1]\"; }; },\n"
    "    { regex = \"^/v/re/([a-z]+)(/([0-9]+))?\"; return = { location = \"[$1][$3][$path_rest]\"; }; }\n"
    "  ); });\n";

static void setup(void)
{
    hx_start(conf);
}

static void teardown(void)
{
    hx_stop();
}

/* The Location of the answer to req. */
static const char *location(const char *req)
{
    static char value[512];
    hx_forget();
    hx_ask(req, hx_one_response);
    const char *l = strstr(hx.in, "\r\nLocation: ");
    ck_assert_msg(l != NULL, "no Location in:\n%s", hx.in);
    l += 12;
    size_t n = strcspn(l, "\r");
    ck_assert_uint_lt(n, sizeof value);
    memcpy(value, l, n);
    value[n] = '\0';
    return value;
}

static const struct {
    const char *req, *want;
} cases[] = {
    { "GET /v/host HTTP/1.1\r\nHost: Site.Test:8080\r\n\r\n", "site.test" },
    { "GET /v/host HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "[::1]" },
    { "GET /v/host HTTP/1.0\r\n\r\n", "site.test" },      /* no Host: the server's name */
    { "GET /v/scheme HTTP/1.1\r\nHost: x\r\n\r\n", "http" },
    { "GET /v/ru/a%20b?x=1&y HTTP/1.1\r\nHost: x\r\n\r\n", "/v/ru/a%20b?x=1&y" },
    { "GET /v/uri/a%20b/../c?q HTTP/1.1\r\nHost: x\r\n\r\n", "/v/uri/c" },
    { "GET /v/uri/a%20b?q HTTP/1.1\r\nHost: x\r\n\r\n", "/v/uri/a%20b" },
    { "GET /v/args?a=1&b=2 HTTP/1.1\r\nHost: x\r\n\r\n", "[?][a=1&b=2]" },
    { "GET /v/args HTTP/1.1\r\nHost: x\r\n\r\n", "[][]" },
    { "GET /v/rest/foo/bar?k HTTP/1.1\r\nHost: x\r\n\r\n", "/new/foo/bar" },
    { "GET /v/rest/ HTTP/1.1\r\nHost: x\r\n\r\n", "/new/" },
    /* decoded, then encoded again: a CR LF cannot reach the header */
    { "GET /v/rest/%0d%0aSet-Cookie:%20x HTTP/1.1\r\nHost: x\r\n\r\n",
      "/new/%0D%0ASet-Cookie:%20x" },
    { "GET /v/exact HTTP/1.1\r\nHost: x\r\n\r\n", "[]" },
    { "DELETE /v/method HTTP/1.1\r\nHost: x\r\n\r\n", "DELETE" },
    { "GET /v/http HTTP/1.1\r\nHost: x\r\nX-Some-Thing: yes it is\r\n\r\n", "[yes it is]" },
    { "GET /v/http HTTP/1.1\r\nHost: x\r\n\r\n", "[]" },
    { "GET /v/re/abc/12/z HTTP/1.1\r\nHost: x\r\n\r\n", "[abc][12][]" },
    { "GET /v/re/abc HTTP/1.1\r\nHost: x\r\n\r\n", "[abc][][]" },     /* unset: empty */
    /* Captures of the decoded path, encoded again like $uri. */
    { "GET /v/re/a%62c/1%0d%0a2 HTTP/1.1\r\nHost: x\r\n\r\n", "[abc][1][]" },
    { "GET /v/any/a%20b/%0d%0aX:%20y HTTP/1.1\r\nHost: x\r\n\r\n", "[a%20b/%0D%0AX:%20y]" },
};

START_TEST(each_variable)
{
    ck_assert_str_eq(location(cases[_i].req), cases[_i].want);
}
END_TEST

static bool matches(const char *s, const char *pattern)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

START_TEST(address_and_clock)
{
    const char *addr = location("GET /v/addr HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_msg(matches(addr, "^127\\.0\\.0\\.1 [0-9]+$"), "%s", addr);
    const char *msec = location("GET /v/msec HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_msg(matches(msec, "^[0-9]{10,}\\.[0-9]{3}$"), "%s", msec);
}
END_TEST

/* 32 hex digits, the same wherever one request asks, new for the next. */
START_TEST(request_id_per_request)
{
    char first[64];
    snprintf(first, sizeof first, "%s", location("GET /v/id HTTP/1.1\r\nHost: x\r\n\r\n"));
    ck_assert_msg(matches(first, "^[0-9a-f]{32}$"), "%s", first);
    char header[96];
    snprintf(header, sizeof header, "\r\nX-Id: %s\r\n", first);
    hx_assert_has(hx.in, header);
    ck_assert_str_ne(location("GET /v/id HTTP/1.1\r\nHost: x\r\n\r\n"), first);
}
END_TEST

/* What a regex route will leave: PCRE2's offsets, an unset group's
 * SIZE_MAX. */
START_TEST(captures_accessor)
{
    struct http_captures c = {
        .subject = "/user/42/x", .n = 3,
        .ovector = { 0, 10, 6, 8, SIZE_MAX, SIZE_MAX },
    };
    struct http_req req = { .captures = &c };
    size_t len;
    const char *s = http_req_capture(&req, 1, &len);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(memcmp(s, "42", 2), 0);
    ck_assert_uint_eq(len, 2);
    ck_assert_ptr_null(http_req_capture(&req, 2, &len));       /* unset */
    ck_assert_ptr_null(http_req_capture(&req, 3, &len));       /* beyond n */
    ck_assert_uint_eq(len, 0);
    req.captures = NULL;
    ck_assert_ptr_null(http_req_capture(&req, 1, &len));

    /* Rendered through the request's lookup. */
    req.captures = &c;
    struct http_template t;
    char why[64], out[64];
    ck_assert_int_eq(http_template_compile(&t, "/u?id=$1&none=$2", why, sizeof why), 0);
    size_t n = http_template_render_req(&t, &req, out, sizeof out);
    ck_assert_uint_lt(n, sizeof out);
    out[n] = '\0';
    ck_assert_str_eq(out, "/u?id=42&none=");
    http_template_free(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_vars");
    TCase *tc = tcase_create("request");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, each_variable, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, address_and_clock);
    tcase_add_test(tc, request_id_per_request);
    suite_add_tcase(s, tc);
    tc = tcase_create("captures");
    tcase_add_test(tc, captures_accessor);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
