/* The configuration of HTTP servers (http/config.c): every server key's
 * default and range, the checks across keys (routes, error pages, server
 * names, the access log), each refusal at FILE:LINE, the rules for two
 * servers on one address, and HTTP's entry in the protocol registry. (The
 * handlers' sections: their own suites; the -T round trip of every key:
 * check_config.c.) */
#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fixture.h"
#include "http/config.h"
#include "http_fixture.h"
#include "proto.h"
#include "tap.h"

static void setup(void)
{
    hx_mkdir();
}

static void teardown(void)
{
    hx_stop();
}

#define ROUTES "routes = ( { path = \"/\"; return = { }; } );"
/* A server with `keys` on line 2. */
#define SERVER(keys) "servers = ({ listen = [ \"127.0.0.1:1\" ];\n " keys "\n " ROUTES " });\n"
/* A server with `routes` from line 2 on. */
#define WITH_ROUTES(routes) "servers = ({ listen = [ \"127.0.0.1:1\" ];\n " routes " });\n"


/* ------------------------------------------------------------------ */
/* The server's keys */

START_TEST(every_key_has_its_default)
{
    struct herd_config *cfg = hx_config_ok(SERVER(""));
    const struct cfg_http *h = http_config(&cfg->servers[0]);
    ck_assert_int_eq(h->keepalive_timeout, 75000);
    ck_assert_int_eq(h->header_timeout, 60000);
    ck_assert_int_eq(h->body_timeout, 60000);
    ck_assert_int_eq(h->send_timeout, 60000);
    ck_assert_int_eq(h->keepalive_requests, 1000);
    ck_assert_int_eq(h->max_target, 8 * 1024);
    ck_assert_int_eq(h->max_header_size, 16 * 1024);
    ck_assert_int_eq(h->max_headers, 100);
    ck_assert_int_eq(h->max_body, 1024 * 1024);
    ck_assert_uint_eq(h->server_names.n, 0);
    ck_assert_ptr_null(h->access_log);
    ck_assert_str_eq(h->access_log_format, "combined");
    ck_assert_uint_eq(h->n_error_pages, 0);
    ck_assert_uint_eq(h->n_routes, 1);
    const struct cfg_route *r = &h->routes[0];
    ck_assert(!r->exact);
    ck_assert_uint_eq(r->methods.n + r->allow.n + r->deny.n, 0);
    ck_assert(!h->log_not_found);   /* herd's old behaviour, not nginx's */
    ck_assert(!r->log_not_found);
    ck_assert_int_eq(h->where.line, 1);
    ck_assert_int_eq(r->where.line, 3);
    config_free(cfg);
}
END_TEST

/* A route without log_not_found takes the server's; one with it keeps
 * its own, either way. */
START_TEST(log_not_found_inherited)
{
    struct herd_config *cfg = hx_config_ok(
        "servers = ({ listen = [ \"127.0.0.1:1\" ]; log_not_found = true;\n"
        " routes = ( { path = \"/a\"; return = { }; },\n"
        "  { path = \"/b\"; log_not_found = false; return = { }; },\n"
        "  { path = \"/c\"; log_not_found = true; return = { }; } ); },\n"
        " { listen = [ \"127.0.0.1:2\" ];\n"
        " routes = ( { path = \"/a\"; return = { }; },\n"
        "  { path = \"/b\"; log_not_found = true; return = { }; } ); });\n");
    const struct cfg_http *on = http_config(&cfg->servers[0]);
    const struct cfg_http *off = http_config(&cfg->servers[1]);
    ck_assert(on->log_not_found);
    ck_assert(on->routes[0].log_not_found);
    ck_assert(!on->routes[1].log_not_found);
    ck_assert(on->routes[2].log_not_found);
    ck_assert(!off->log_not_found);
    ck_assert(!off->routes[0].log_not_found);
    ck_assert(off->routes[1].log_not_found);
    config_free(cfg);
}
END_TEST

static const struct {
    const char *key;
    size_t offset;
} numeric[] = {
    { "keepalive_timeout", offsetof(struct cfg_http, keepalive_timeout) },
    { "header_timeout", offsetof(struct cfg_http, header_timeout) },
    { "body_timeout", offsetof(struct cfg_http, body_timeout) },
    { "send_timeout", offsetof(struct cfg_http, send_timeout) },
    { "keepalive_requests", offsetof(struct cfg_http, keepalive_requests) },
    { "max_target", offsetof(struct cfg_http, max_target) },
    { "max_header_size", offsetof(struct cfg_http, max_header_size) },
    { "max_headers", offsetof(struct cfg_http, max_headers) },
    { "max_body", offsetof(struct cfg_http, max_body) },
};

static int64_t value_of(const struct cfg_http *h, const char *key)
{
    for (size_t i = 0; i < sizeof numeric / sizeof numeric[0]; i++)
        if (strcmp(numeric[i].key, key) == 0)
            return *(const int64_t *)((const char *)h + numeric[i].offset);
    ck_abort_msg("no key %s", key);
    return 0;
}

/* Each end of each range: taken (with its value), and one past it:
 * refused, saying the range, at the key's line. */
static const struct {
    const char *key, *value;
    int64_t want;
    const char *says;
} ranges[] = {
    { "keepalive_timeout", "0", 0, NULL },
    { "keepalive_timeout", "\"1d\"", 86400000, NULL },
    { "keepalive_timeout", "\"25h\"", 0, "'keepalive_timeout' must be between 0s and 1d" },
    { "header_timeout", "\"1ms\"", 1, NULL },
    { "header_timeout", "0", 0, "'header_timeout' must be between 1ms and 1d" },
    { "header_timeout", "\"24h\"", 86400000, NULL },
    { "body_timeout", "0.001", 1, NULL },
    { "body_timeout", "\"0ms\"", 0, "'body_timeout' must be between 1ms and 1d" },
    { "body_timeout", "86401", 0, "'body_timeout' must be between 1ms and 1d" },
    { "send_timeout", "\"2d\"", 0, "'send_timeout' must be between 1ms and 1d" },
    { "send_timeout", "-1", 0, "'send_timeout': invalid duration" },
    { "keepalive_requests", "1", 1, NULL },
    { "keepalive_requests", "2147483647", 2147483647, NULL },
    { "keepalive_requests", "0", 0, "'keepalive_requests' must be between 1 and 2147483647" },
    { "keepalive_requests", "2147483648L", 0,
      "'keepalive_requests' must be between 1 and 2147483647" },
    { "max_target", "16", 16, NULL },
    { "max_target", "\"1m\"", 1024 * 1024, NULL },
    { "max_target", "15", 0, "'max_target' must be between 16 and 1m" },
    { "max_target", "1048577", 0, "'max_target' must be between 16 and 1m" },
    { "max_header_size", "256", 256, NULL },
    { "max_header_size", "\"255\"", 0, "'max_header_size' must be between 256 and 1m" },
    { "max_header_size", "\"2m\"", 0, "'max_header_size' must be between 256 and 1m" },
    { "max_headers", "1", 1, NULL },
    { "max_headers", "1000", 1000, NULL },
    { "max_headers", "0", 0, "'max_headers' must be between 1 and 1000" },
    { "max_headers", "1001", 0, "'max_headers' must be between 1 and 1000" },
    { "max_body", "0", 0, NULL },
    { "max_body", "\"1g\"", 1024 * 1024 * 1024, NULL },
    { "max_body", "4611686018427387903L", 4611686018427387903LL, NULL },
    { "max_body", "4611686018427387904L", 0, "'max_body' must be between 0 and " },
    { "max_body", "\"1.5m\"", 0, "'max_body' must be a size such as 512, 64k or 1m" },
};

START_TEST(ranges_of_the_keys)
{
    char text[512];
    snprintf(text, sizeof text, SERVER("%s = %s;"), ranges[_i].key, ranges[_i].value);
    if (ranges[_i].says) {
        struct hx_refusal r = { text, 2, ranges[_i].says };
        hx_refused(_i, &r);
        return;
    }
    struct herd_config *cfg = hx_config_ok(text);
    ck_assert_msg(value_of(http_config(&cfg->servers[0]), ranges[_i].key) == ranges[_i].want,
                  "case %d: %s = %s", _i, ranges[_i].key, ranges[_i].value);
    config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Checks across keys */

static const struct hx_refusal bad[] = {
    /* routes */
    { "servers = ({ listen = [ \"127.0.0.1:1\" ]; routes = ( ); });\n", 1,
      "http server has no 'routes'" },
    { "servers = ({ listen = [ \"127.0.0.1:1\" ]; routes = (\n"
      " { path = \"/a\"; return = { }; },\n { path = \"/b\"; return = { }; },\n"
      " { path = \"/a\"; return = { status = 201; }; } ); });\n", 4,
      "duplicate route '/a' (first at line 2)" },
    { "servers = ({ listen = [ \"127.0.0.1:1\" ]; routes = (\n"
      " { path = \"/a\"; exact = true; return = { }; },\n"
      " { path = \"/a\"; exact = true; return = { }; } ); });\n", 3,
      "duplicate route '/a' (first at line 2)" },
    { WITH_ROUTES("routes = ( { path = \"\"; return = { }; } );"), 2,
      "route path '' must start with '/'" },
    { WITH_ROUTES("routes = ( { path = \"/\"; methods = [ \"GET\", \"BREW\" ];\n"
                  " return = { }; } );"),
      2, "unknown method 'BREW'" },
    { WITH_ROUTES("routes = ( { path = \"/\"; allow = [ \"10.0.0.0/8\", \"300.1.1.1\" ];\n"
             " return = { }; } );"), 2, "'allow': \"300.1.1.1\" is not an address" },
    { WITH_ROUTES("routes = ( { path = \"/\"; static = { root = \"/\"; }; status = { }; } );"), 2,
      "route '/' has more than one handler" },
    { WITH_ROUTES("routes = ( { path = \"/\";\n access_log = \"/var/log/x.log\";\n"
                  " return = { }; } );"), 3,
      "a route's 'access_log' can only be \"off\"" },
    /* regex routes (line 3: the key's own line) */
    { WITH_ROUTES("routes = ( { return = { }; } );"), 2, "route has no 'path' (or 'regex')" },
    { WITH_ROUTES("routes = ( { path = \"/u\";\n regex = \"^/u\"; return = { }; } );"), 3,
      "a route has 'path' or 'regex', not both" },
    { WITH_ROUTES("routes = ( { regex = \"^/u\";\n exact = true; return = { }; } );"), 3,
      "'exact' is for 'path' routes" },
    { WITH_ROUTES("routes = ( { return = { };\n regex = \"\"; } );"), 3, "'regex' is empty" },
    { WITH_ROUTES("routes = ( { return = { };\n regex = \"^/user/([0-9]+$\"; } );"), 3,
      "'regex' \"^/user/([0-9]+$\": missing closing parenthesis at offset 15" },
    { WITH_ROUTES("routes = ( { return = { };\n regex = \"^/a(?<x\"; } );"), 3,
      "at offset 7" },
    { WITH_ROUTES("routes = ( { regex = \"^/a/(.*)$\"; return = { }; },\n"
                  " { regex = \"^/b\"; return = { }; },\n"
                  " { regex = \"^/a/(.*)$\"; return = { }; } );"), 4,
      "duplicate route '^/a/(.*)$' (first at line 2)" },
    /* a $N beyond the route's groups, where the route's own templates use it */
    { WITH_ROUTES("routes = ( { regex = \"^/u/([0-9]+)$\";\n"
                  " return = { status = 302;\n location = \"/user?id=$1&x=$2\"; }; } );"), 4,
      "'location' names $2, but the route's regex has 1 capturing group" },
    { WITH_ROUTES("routes = ( { path = \"/u/\";\n"
                  " return = { status = 302;\n location = \"/v/$1\"; }; } );"), 4,
      "'location' names $1, but only a 'regex' route has captures" },
    { WITH_ROUTES("routes = ( { regex = \"^/u/(a)(b)$\"; return = { };\n"
                  " headers = { X-Id = \"$2$3\"; }; } );"), 3,
      "'X-Id' names $3, but the route's regex has 2 capturing groups" },
    { "upstreams = ( { name = \"app\"; servers = ( { address = \"127.0.0.1:9\"; } ); } );\n"
      WITH_ROUTES("routes = ( { regex = \"^/u/\"; proxy = { upstream = \"app\";\n"
                  " headers = { X-Id = \"$1\"; }; }; } );"), 4,
      "'X-Id' names $1, but the route's regex has 0 capturing groups" },
    /* error pages */
    { SERVER("error_pages = ( { status = 404; } );"), 2,
      "an error page needs 'status' and 'file'" },
    { SERVER("error_pages = ( { file = \"/etc/hostname\"; } );"), 2,
      "an error page needs 'status' and 'file'" },
    { SERVER("error_pages = ( { status = 404; file = \"404.html\"; } );"), 2,
      "error page 'file' must be an absolute path" },
    { SERVER("error_pages = ( { status = 399;\n file = \"/etc/passwd\"; } );"), 2,
      "'status' must be between 400 and 599" },
    { SERVER("error_pages = ( { status = 418; file = \"/etc/passwd\"; } );"), 2,
      "herd never answers 418" },
    { SERVER("error_pages = ( { status = 404; file = \"/etc/passwd\"; },\n"
             " { status = 500; file = \"/etc/passwd\"; },\n"
             " { status = 404; file = \"/etc/passwd\"; } );"), 2,
      "two error pages for status 404" },
    { SERVER("error_pages = ( { status = 404; file = \"@DIR@\"; } );"), 2, "Is a directory" },
    /* server names */
    { SERVER("server_names = [ \"ok.test\", \"*.\" ];"), 2,
      "server name '*.' must be a host name or *.suffix" },
    { SERVER("server_names = [ \"*\" ];"), 2, "server name '*' must be a host name or *.suffix" },
    { SERVER("server_names = [ \"a*b.test\" ];"), 2, "server name 'a*b.test'" },
    { SERVER("server_names = [ \"*x.test\" ];"), 2, "server name '*x.test' must be" },
    { SERVER("server_names = [ \"\" ];"), 2, "server name '' must be" },
    { SERVER("server_names = [ \"a.test:80\" ];"), 2, "server name 'a.test:80' must be" },
    /* the access log */
    { SERVER("access_log = \"\";"), 2, "'access_log' must be an absolute path" },
    { SERVER("access_log = \"/tmp/a.log\"; access_log_format = \"$status $\";"), 2,
      "'access_log_format': " },
};

START_TEST(refused_at_their_line)
{
    hx_refused(_i, &bad[_i]);
}
END_TEST

START_TEST(what_the_checks_accept)
{
    struct herd_config *cfg = hx_config_ok(
        "servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
        " server_names = [ \"a.test\", \"*.b.test\", \"Ex_ample-1.test\", \"localhost\" ];\n"
        " access_log = \"@DIR@/access.log\";\n"
        " error_pages = ( { status = 404; file = \"/etc/passwd\"; },\n"
        "   { status = 505; file = \"/etc/passwd\"; } );\n"
        " routes = ( { path = \"/a\"; return = { }; },\n"
        "   { path = \"/a\"; exact = true; return = { }; },\n"
        "   { path = \"/\"; methods = [ \"PATCH\" ]; allow = [ \"all\" ];\n"
        "     return = { }; } ); });\n");
    const struct cfg_http *h = http_config(&cfg->servers[0]);
    ck_assert_uint_eq(h->server_names.n, 4);
    ck_assert_str_eq(h->server_names.v[1], "*.b.test");
    ck_assert_uint_eq(h->n_error_pages, 2);
    ck_assert_int_eq(h->error_pages[1].status, 505);
    ck_assert_str_eq(h->error_pages[1].file, "/etc/passwd");
    ck_assert_int_eq(h->error_pages[1].where.line, 5);
    ck_assert_uint_eq(h->n_routes, 3);
    ck_assert(h->routes[1].exact);
    ck_assert_str_eq(h->routes[2].methods.v[0], "PATCH");
    ck_assert_int_eq(h->access_log_line, 3);
    config_free(cfg);
    /* A regex route: its captures anywhere its templates are; the
     * server's headers may name any (empty where there is none);
     * exact = false is what -T prints. */
    cfg = hx_config_ok(
        "servers = ({ listen = [ \"127.0.0.1:1\" ]; headers = { X-S = \"$9\"; };\n"
        " routes = ( { regex = \"(?i)^/u/([0-9]+)/(\\\\w+)$\"; exact = false;\n"
        "   headers = { X-A = \"$1\"; };\n"
        "   return = { status = 301; location = \"/user/$2?id=$1\"; }; },\n"
        "   { path = \"/\"; return = { }; } ); });\n");
    h = http_config(&cfg->servers[0]);
    ck_assert_str_eq(h->routes[0].regex, "(?i)^/u/([0-9]+)/(\\w+)$");
    ck_assert_ptr_null(h->routes[0].path);
    config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Two servers on one address */

#define NAMED(names) "{ listen = [ \"127.0.0.1:1\" ]; " names " " ROUTES " }"

/* says NULL: accepted */
static const struct hx_refusal sharing[] = {
    /* the first (the default) may go without names; the others need theirs */
    { "servers = (" NAMED("") ",\n" NAMED("server_names = [ \"b.test\" ];") ");\n", 0, NULL },
    { "servers = (" NAMED("server_names = [ \"a.test\" ];") ",\n" NAMED("") ");\n", 2,
      "this server shares 127.0.0.1:1 with the server at line 1 but has no 'server_names', so "
      "no request could reach it" },
    /* a name once per address, whatever its case, wildcards too */
    { "servers = (" NAMED("server_names = [ \"*.a.test\" ];") ",\n"
      NAMED("server_names = [ \"x.test\", \"*.A.test\" ];") ");\n", 2,
      "server name '*.A.test' on 127.0.0.1:1 is already used by the server at line 1" },
    { "servers = (" NAMED("server_names = [ \"a.test\" ];") ",\n"
      NAMED("server_names = [ \"*.a.test\" ];") ");\n", 0, NULL },
    /* each against every earlier one */
    { "servers = (" NAMED("") ",\n" NAMED("server_names = [ \"b.test\" ];") ",\n"
      NAMED("server_names = [ \"c.test\", \"b.test\" ];") ");\n", 3,
      "server name 'b.test' on 127.0.0.1:1 is already used by the server at line 2" },
    /* other addresses are other listeners */
    { "servers = ( { listen = [ \"127.0.0.1:1\" ]; " ROUTES " },\n"
      " { listen = [ \"127.0.0.1:2\" ]; " ROUTES " } );\n", 0, NULL },
};

START_TEST(sharing_an_address)
{
    if (sharing[_i].says)
        hx_refused(_i, &sharing[_i]);
    else
        config_free(hx_config_ok(sharing[_i].text));
}
END_TEST

/* ------------------------------------------------------------------ */
/* HTTP in the registry */

START_TEST(registry_entry)
{
    struct herd_config *cfg = hx_config_ok("servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
                                   " server_names = [ \"a.test\" ];\n"
                                   " access_log = \"@DIR@/access.log\";\n " ROUTES " },\n"
                                   " { listen = [ \"127.0.0.1:2\" ]; " ROUTES " });\n");
    const struct cfg_server *a = &cfg->servers[0], *b = &cfg->servers[1];
    ck_assert_str_eq(http_module.config.name, "http");
    ck_assert_ptr_eq(a->protocol, &http_module.config);     /* the default protocol */
    ck_assert_ptr_eq(proto_for(a), &proto_http);
    ck_assert(proto_defer_accept(a));                       /* the client speaks first */
    int line = 0;
    char want[256];
    fixture_path(want, sizeof want, hx.dir, "access.log");
    ck_assert_str_eq(proto_access_log(a, &line), want);
    ck_assert_int_eq(line, 3);
    ck_assert_ptr_null(proto_access_log(b, &line));
    ck_assert_str_eq(proto_stats_label(a), "a.test");
    ck_assert_str_eq(proto_stats_label(b), "127.0.0.1:2");
    config_free(cfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_config");
    TCase *t = tcase_create("keys");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, every_key_has_its_default);
    tcase_add_test(t, log_not_found_inherited);
    tcase_add_loop_test(t, ranges_of_the_keys, 0, sizeof ranges / sizeof ranges[0]);
    suite_add_tcase(s, t);
    t = tcase_create("checks");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_loop_test(t, refused_at_their_line, 0, sizeof bad / sizeof bad[0]);
    tcase_add_test(t, what_the_checks_accept);
    tcase_add_loop_test(t, sharing_an_address, 0, sizeof sharing / sizeof sharing[0]);
    tcase_add_test(t, registry_entry);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
