/* The `return` handler (handler_return.c): a fixed answer built at load
 * and sent as built, with the Date patched, through the real server code
 * (http_fixture.h); redirects; the methods it takes; its state built from
 * its section directly; and the section's defaults and checks, each at
 * FILE:LINE. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http/config.h"
#include "http/date.h"
#include "http/handler.h"
#include "http/response.h"
#include "http_fixture.h"
#include "tap.h"

static const char conf[] =
    "servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
    "  routes = (\n"
    "    { path = \"/hello\";\n"
    "      return = { status = 200; type = \"text/plain\"; body = \"hello\\n\"; }; },\n"
    "    { path = \"/old\"; return = { location = \"/new?a=1\"; }; },\n"
    "    { path = \"/gone\";\n"
    "      return = { status = 301; location = \"https://x.test/\"; body = \"bye\"; }; },\n"
    "    { path = \"/empty\"; return = { status = 204; }; },\n"
    "    { path = \"/teapot\"; return = { status = 418; body = \"short and stout\"; }; },\n"
    "    { path = \"/moved/\"; return = { status = 308; location = \"/to/$path_rest\";\n"
    "                                     body = \"see there\"; }; },\n"
    "    { path = \"/hdr\"; headers = { X-Uri = \"$uri\"; }; return = { status = 200; }; }\n"
    "  ); });\n";

static void setup(void)
{
    hx_start(conf);
}

static void teardown(void)
{
    hx_stop();
}

/* The Date value of the first answer. */
static const char *date_of_answer(void)
{
    static char date[HTTP_DATE_LEN + 1];
    const char *d = strstr(hx.in, "\r\nDate: ");
    ck_assert_ptr_nonnull(d);
    snprintf(date, sizeof date, "%s", d + 8);
    return date;
}

static void get(const char *req)
{
    hx_ask(req, hx_one_response);
}

/* ------------------------------------------------------------------ */
/* Answers */

START_TEST(fixed_answer_as_configured)
{
    get("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    char want[256];
    snprintf(want, sizeof want, "HTTP/1.1 200 OK\r\nServer: herd\r\nDate: %s\r\n"
             "Content-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n", date_of_answer());
    ck_assert_str_eq(hx.in, want);
    ck_assert_uint_eq(strlen(date_of_answer()), HTTP_DATE_LEN);
    ck_assert_str_eq(date_of_answer() + HTTP_DATE_LEN - 4, " GMT");
}
END_TEST

START_TEST(head_gets_the_head_alone)
{
    hx_ask("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /empty HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_all_read);
    ck_assert(hx_run_until(hx_one_response));
    hx_assert_has(hx.in, "\r\nContent-Length: 6\r\n\r\nHTTP/1.1 204 No Content\r\n");
    ck_assert_ptr_null(strstr(hx.in, "hello\n"));
}
END_TEST

START_TEST(redirect_with_location)
{
    get("GET /old HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 302 Found\r\n");
    hx_assert_has(hx.in, "\r\nLocation: /new?a=1\r\n");
    hx_assert_has(hx.in, "\r\nContent-Length: 0\r\n");
    hx_forget();
    get("GET /gone HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 301 Moved Permanently\r\n");
    hx_assert_has(hx.in, "\r\nLocation: https://x.test/\r\n");
    hx_assert_has(hx.in, "\r\nContent-Type: text/plain\r\n");
    hx_assert_has(hx.in, "\r\n\r\nbye");
}
END_TEST

/* A location or headers with variables: the head is made per request by
 * the handler's variant, the fixed answer's handler left as it is. */
START_TEST(rendered_per_request)
{
    ck_assert_ptr_eq(hx_route_of(0, "/hello")->handler, &http_handler_return);
    ck_assert_ptr_eq(hx_route_of(0, "/old")->handler, &http_handler_return);
    const struct http_handler *variant = hx_route_of(0, "/moved/x")->handler;
    ck_assert_ptr_ne(variant, &http_handler_return);
    ck_assert_str_eq(variant->name, "return");
    ck_assert_ptr_eq(hx_route_of(0, "/hdr")->handler, variant);
    get("GET /moved/a/b HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 308 Permanent Redirect\r\n");
    hx_assert_has(hx.in, "\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n"
                         "Location: /to/a/b\r\n\r\nsee there");
    hx_forget();
    hx_ask("HEAD /hdr/x HTTP/1.1\r\nHost: x\r\n\r\n", hx_all_read);
    ck_assert(hx_run_until(hx_one_response));
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    hx_assert_has(hx.in, "\r\nContent-Length: 0\r\nX-Uri: /hdr/x\r\n\r\n");
}
END_TEST

START_TEST(status_without_body_has_no_framing)
{
    get("GET /empty HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 204 No Content\r\n");
    ck_assert_ptr_null(strstr(hx.in, "Content-Length"));
    ck_assert_ptr_null(strstr(hx.in, "Content-Type"));
}
END_TEST

/* Any method but CONNECT, without `methods`. */
START_TEST(takes_any_method)
{
    static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "PATCH", "TRACE",
                                           "OPTIONS" };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        static char req[128];
        snprintf(req, sizeof req, "%s /teapot HTTP/1.1\r\nHost: x\r\n\r\n", methods[i]);
        hx_forget();
        get(req);
        ck_assert_msg(strncmp(hx.in, "HTTP/1.1 418 ", 13) == 0, "%s: %s", methods[i], hx.in);
    }
    hx_forget();
    get("CONNECT /teapot HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 405 ");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The handler's state, from its section */

START_TEST(built_from_its_section)
{
    struct cfg_return ret = { .status = 307, .type = "text/html", .body = "<p>moved</p>",
                              .location = "/x" };
    struct cfg_route route = { .path = "/", .ret = &ret };
    ck_assert_ptr_eq(http_handler_return.section(&route), &ret);
    ck_assert_ptr_eq(http_handler_for(&route), &http_handler_return);
    char err[128] = "";
    struct http_fixed *f = http_handler_return.build(&ret, NULL, err, sizeof err);
    ck_assert_msg(f != NULL, "%s", err);
    ck_assert_int_eq(f->status, 307);
    char *head = strndup(f->head, f->head_len);
    ck_assert_int_eq(strncmp(head, "HTTP/1.1 307 Temporary Redirect\r\n", 33), 0);
    ck_assert_ptr_nonnull(strstr(head, "\r\nContent-Type: text/html\r\n"));
    ck_assert_ptr_nonnull(strstr(head, "\r\nContent-Length: 12\r\n"));
    ck_assert_ptr_nonnull(strstr(head, "\r\nLocation: /x\r\n"));
    ck_assert_uint_eq(f->body_len, 12);
    ck_assert_int_eq(memcmp(f->body, "<p>moved</p>", 12), 0);
    free(head);
    http_handler_return.free(f);
    http_handler_return.free(NULL);
    /* Only answers at once: no body, no abort. */
    ck_assert_ptr_null(http_handler_return.body);
    ck_assert_ptr_null(http_handler_return.abort);
    ck_assert(http_handler_return.any_method);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The section */

#define ROUTE(r) "servers = ({ listen = [ \"127.0.0.1:1\" ];\n routes = ( { path = \"/\";\n" \
                 " return = {\n" r " }; } ); });\n"

START_TEST(section_defaults)
{
    struct herd_config *cfg =
        hx_config_ok("servers = ({ listen = [ \"127.0.0.1:1\" ]; routes = (\n"
                     " { path = \"/a\"; return = { }; },\n"
                     " { path = \"/b\"; return = { body = \"x\"; }; },\n"
                     " { path = \"/c\"; return = { location = \"/\"; }; },\n"
                     " { path = \"/d\"; return = { status = 404; }; } ); });\n");
    const struct cfg_http *h = http_config(&cfg->servers[0]);
    ck_assert_int_eq(h->routes[0].ret->status, 200);
    ck_assert_ptr_null(h->routes[0].ret->type);         /* no body, no type */
    ck_assert_ptr_null(h->routes[0].ret->body);
    ck_assert_int_eq(h->routes[1].ret->status, 200);
    ck_assert_str_eq(h->routes[1].ret->type, "text/plain");
    ck_assert_int_eq(h->routes[2].ret->status, 302);
    ck_assert_int_eq(h->routes[3].ret->status, 404);
    ck_assert_int_eq(h->routes[3].ret->where.line, 5);
    config_free(cfg);
}
END_TEST

static const struct hx_refusal bad[] = {
    { ROUTE("status = 99;"), 4, "'status' must be between 100 and 599" },
    { ROUTE("status = 600;"), 4, "'status' must be between 100 and 599" },
    { ROUTE("status = 200; location = \"/x\";"), 3, "'location' needs a 3xx status, not 200" },
    { ROUTE("status = 400; location = \"/x\";"), 3, "'location' needs a 3xx status, not 400" },
    { ROUTE("location = \"/x\\r\\nSet-Cookie: a=b\";"), 3,
      "'location' must not contain line breaks" },
    { ROUTE("type = \"text/plain\\nX: y\"; body = \"x\";"), 3,
      "'type' must not contain line breaks" },
    { ROUTE("status = 304; body = \"x\";"), 3, "status 304 cannot have a body" },
    { ROUTE("status = 101; body = \"x\";"), 3, "status 101 cannot have a body" },
    { ROUTE("body = 5;"), 4, "'body' must be a string" },
    { ROUTE("headers = \"x\";"), 4, "unknown key 'headers' in return" },
};

START_TEST(section_refusals)
{
    hx_refused(_i, &bad[_i]);
}
END_TEST

START_TEST(section_accepts_the_edges)
{
    static const char *const good[] = {
        ROUTE("status = 100;"), ROUTE("status = 599; body = \"x\";"),
        ROUTE("status = 300; location = \"/x\";"), ROUTE("status = 399; location = \"/x\";"),
        ROUTE("status = 205; type = \"text/x\";"),
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        config_free(hx_config_ok(good[i]));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_handler_return");
    TCase *t = tcase_create("answers");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, fixed_answer_as_configured);
    tcase_add_test(t, head_gets_the_head_alone);
    tcase_add_test(t, redirect_with_location);
    tcase_add_test(t, rendered_per_request);
    tcase_add_test(t, status_without_body_has_no_framing);
    tcase_add_test(t, takes_any_method);
    tcase_add_test(t, built_from_its_section);
    suite_add_tcase(s, t);
    t = tcase_create("section");
    tcase_add_checked_fixture(t, hx_mkdir, hx_stop);
    tcase_add_test(t, section_defaults);
    tcase_add_loop_test(t, section_refusals, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(t, section_accepts_the_edges);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
