/* Routes: longest prefix, exact routes, regex routes (their order between
 * the two, their captures), the handler each route gets from
 * the handler table, the methods it takes (configured and by default),
 * its 405 and the server-wide OPTIONS/CONNECT answers, allow/deny. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/config.h"
#include "http/handler.h"
#include "http/mime.h"
#include "http/regex.h"
#include "http/route.h"
#include "http/template.h"
#include "tap.h"

#define M(m) (1u << (m))

static struct cfg_return ret = { .status = 200, .type = "text/plain", .body = "x" };
static struct cfg_cache cache = { .valid = 1000, .max_file = 1024, .size = 4096 };
static struct cfg_static stat_cfg = { .root = "/", .cache = &cache };
static struct cfg_status status_cfg = { .format = STATUS_TEXT };

static char *get_post[] = { "GET", "POST" };
static char *post[] = { "POST" };
static char *connect_only[] = { "CONNECT" };
static char *nets[] = { "10.0.0.0/8", "2001:db8::/32" };
static char *one_host[] = { "10.1.2.3/32" };

static struct cfg_route routes[] = {
    { .path = "/", .ret = &ret },
    { .path = "/a", .ret = &ret, .methods = { post, 1 } },
    { .path = "/a/b", .stat = &stat_cfg },
    { .path = "/a/b", .exact = true, .status = &status_cfg },
    { .path = "/get", .ret = &ret, .methods = { get_post, 2 } },
    { .path = "/tunnel", .ret = &ret, .methods = { connect_only, 1 } },
    { .path = "/acl", .ret = &ret, .allow = { nets, 2 }, .deny = { one_host, 1 } },
    { .path = "/deny", .ret = &ret, .deny = { nets, 2 } },
};

static struct http_routes rt;
static struct http_fixed error_405;
static struct mime_table *mime;

static void setup(void)
{
    struct cfg_http cfg = { .routes = routes, .n_routes = sizeof routes / sizeof routes[0] };
    char err[256];
    mime = mime_load("/nonexistent");
    ck_assert_ptr_nonnull(mime);
    ck_assert_int_eq(http_fixed_build_error(&error_405, 405), 0);
    ck_assert_msg(http_routes_build(&rt, &cfg, mime, &error_405, err, sizeof err) == 0, "%s", err);
}

static void teardown(void)
{
    http_routes_free(&rt);
    http_fixed_free(&error_405);
    mime_free(mime);
}

static const struct http_route *find(const char *path)
{
    return http_route_find(&rt, path, strlen(path), NULL);
}

START_TEST(longest_prefix_wins)
{
    ck_assert_str_eq(find("/")->path, "/");
    ck_assert_str_eq(find("/zzz")->path, "/");
    ck_assert_str_eq(find("/a")->path, "/a");
    ck_assert_str_eq(find("/abc")->path, "/a");         /* a prefix of bytes, as configured */
    ck_assert_str_eq(find("/a/")->path, "/a");
    ck_assert_str_eq(find("/a/bc")->path, "/a/b");
    ck_assert_str_eq(find("/a/b/c")->path, "/a/b");
    ck_assert(!find("/a/b/c")->exact);
}
END_TEST

START_TEST(exact_matches_only_its_path_and_beats_the_prefix)
{
    const struct http_route *r = find("/a/b");
    ck_assert(r->exact);
    ck_assert_ptr_eq(r->handler, &http_handler_status);
    ck_assert(!find("/a/b/")->exact);
    ck_assert(!find("/a/b?")->exact);
}
END_TEST

START_TEST(no_route)
{
    struct cfg_route only[] = { { .path = "/only", .exact = true, .ret = &ret } };
    struct cfg_http cfg = { .routes = only, .n_routes = 1 };
    struct http_routes r2;
    char err[256];
    ck_assert_int_eq(http_routes_build(&r2, &cfg, mime, &error_405, err, sizeof err), 0);
    ck_assert_ptr_null(http_route_find(&r2, "/", 1, NULL));
    ck_assert_ptr_null(http_route_find(&r2, "/only/", 6, NULL));
    ck_assert_ptr_nonnull(http_route_find(&r2, "/only", 5, NULL));
    http_routes_free(&r2);
}
END_TEST

START_TEST(handlers_from_the_table)
{
    ck_assert_ptr_eq(find("/")->handler, &http_handler_return);
    ck_assert_ptr_eq(find("/a/b/")->handler, &http_handler_static);
    ck_assert_ptr_eq(find("/a/b")->handler, &http_handler_status);
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        ck_assert_ptr_nonnull(find(routes[i].path)->state);
    ck_assert_ptr_eq(http_handler_for(&routes[0]), &http_handler_return);
    ck_assert_ptr_eq(http_handler_for(&routes[2]), &http_handler_static);
    ck_assert_ptr_eq(http_handler_for(&routes[3]), &http_handler_status);
    struct cfg_route none = { .path = "/" };
    ck_assert_ptr_null(http_handler_for(&none));
}
END_TEST

START_TEST(default_methods_by_handler)
{
    uint32_t all = M(HTTP_METHOD_UNKNOWN) - 1;
    ck_assert_uint_eq(find("/")->methods, all & ~M(HTTP_CONNECT));     /* return: any */
    ck_assert_uint_eq(find("/a/b/")->methods, M(HTTP_GET) | M(HTTP_HEAD));  /* static */
    ck_assert_uint_eq(find("/a/b")->methods, M(HTTP_GET) | M(HTTP_HEAD));   /* status */
}
END_TEST

START_TEST(configured_methods)
{
    const struct http_route *a = find("/a");
    ck_assert_uint_eq(a->methods, M(HTTP_POST));
    ck_assert(http_route_allows_method(a, HTTP_POST));
    ck_assert(!http_route_allows_method(a, HTTP_GET));
    ck_assert(!http_route_allows_method(a, HTTP_HEAD));
    /* GET brings HEAD. */
    ck_assert_uint_eq(find("/get")->methods, M(HTTP_GET) | M(HTTP_HEAD) | M(HTTP_POST));
    /* CONNECT alone: no request's method. */
    const struct http_route *t = find("/tunnel");
    for (int m = 0; m <= HTTP_METHOD_UNKNOWN; m++)
        ck_assert(!http_route_allows_method(t, (enum http_method)m) || m == HTTP_METHOD_UNKNOWN);
    ck_assert(!http_route_allows_method(find("/"), HTTP_CONNECT));
}
END_TEST

START_TEST(not_allowed_lists_the_methods)
{
    const struct http_fixed *f = &find("/get")->not_allowed;
    ck_assert_int_eq(f->status, 405);
    char *head = strndup(f->head, f->head_len);
    ck_assert_ptr_nonnull(strstr(head, "HTTP/1.1 405 Method Not Allowed\r\n"));
    ck_assert_ptr_nonnull(strstr(head, "\r\nAllow: GET, HEAD, POST\r\n"));
    ck_assert_uint_eq(f->body_len, error_405.body_len);     /* the server's 405 page */
    free(head);
}
END_TEST

START_TEST(server_wide_answers)
{
    uint32_t m = http_routes_methods(&rt);
    ck_assert(m & M(HTTP_OPTIONS));
    ck_assert(!(m & M(HTTP_CONNECT)));
    ck_assert_int_eq(rt.options.status, 200);
    ck_assert_int_eq(rt.connect.status, 405);
    char *head = strndup(rt.options.head, rt.options.head_len);
    ck_assert_ptr_nonnull(strstr(head, "\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, "
                                       "PATCH\r\n"));
    ck_assert_ptr_nonnull(strstr(head, "\r\nContent-Length: 0\r\n"));
    free(head);
}
END_TEST

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    ck_assert_int_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    return ss;
}

static bool permits(const char *path, struct sockaddr_storage ss)
{
    return http_route_permits(find(path), (const struct sockaddr *)&ss);
}

START_TEST(allow_and_deny)
{
    /* No lists: everyone. */
    ck_assert(permits("/", v4("192.0.2.1")));
    ck_assert(permits("/", v6("::1")));
    /* allow 10/8 and 2001:db8::/32, deny 10.1.2.3: deny wins. */
    ck_assert(permits("/acl", v4("10.9.9.9")));
    ck_assert(permits("/acl", v6("2001:db8::5")));
    ck_assert(!permits("/acl", v4("10.1.2.3")));
    ck_assert(!permits("/acl", v4("192.0.2.1")));
    ck_assert(!permits("/acl", v6("2001:db9::5")));
    /* deny only: everyone else. */
    ck_assert(!permits("/deny", v4("10.0.0.1")));
    ck_assert(permits("/deny", v4("11.0.0.1")));
    ck_assert_uint_eq(find("/acl")->n_allow, 2);
    ck_assert_uint_eq(find("/acl")->n_deny, 1);
}
END_TEST

START_TEST(a_route_that_cannot_build_fails_the_server)
{
    struct cfg_static bad = { .root = "/nonexistent/herd-root", .cache = &cache };
    struct cfg_route r[] = { { .path = "/", .ret = &ret }, { .path = "/s", .stat = &bad } };
    struct cfg_http cfg = { .routes = r, .n_routes = 2 };
    struct http_routes r2;
    char err[256] = "";
    ck_assert_int_eq(http_routes_build(&r2, &cfg, mime, &error_405, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "static root /nonexistent/herd-root"));
    http_routes_free(&r2);          /* what was built is freed */
}
END_TEST

/* exact, then regex in file order, then the longest prefix; the captures
 * of the regex that matched, none for the others. */
START_TEST(regex_routes_between_exact_and_prefix)
{
    struct cfg_route r[] = {
        { .path = "/", .ret = &ret },
        { .path = "/img/", .ret = &ret },
        { .regex = "^/img/(.*)\\.png$", .ret = &ret },
        { .regex = "^/img/a", .ret = &ret },
        { .path = "/img/a.png", .exact = true, .ret = &ret },
        { .regex = "(?i)^/(x)(y)?(z)", .ret = &ret },
    };
    struct cfg_http cfg = { .routes = r, .n_routes = sizeof r / sizeof r[0] };
    struct http_routes t;
    char err[256] = "";
    ck_assert_msg(http_routes_build(&t, &cfg, mime, &error_405, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(t.n_exact, 1);
    ck_assert_uint_eq(t.n_regex, 3);
    static const struct {
        const char *path, *route, *one;     /* one: $1, or NULL for no captures */
    } cases[] = {
        { "/img/a.png", "/img/a.png", NULL },               /* exact first */
        { "/img/b.png", "^/img/(.*)\\.png$", "b" },          /* the first regex */
        { "/img/a/b.png", "^/img/(.*)\\.png$", "a/b" },
        { "/img/a.gif", "^/img/a", NULL },                   /* a regex beats a prefix */
        { "/img/c.gif", "/img/", NULL },
        { "/XZ", "(?i)^/(x)(y)?(z)", "X" },
        { "/q", "/", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct http_captures *caps = (void *)&t;      /* must be overwritten */
        const char *p = cases[i].path;
        const struct http_route *found = http_route_find(&t, p, strlen(p), &caps);
        ck_assert_ptr_nonnull(found);
        ck_assert_str_eq(found->path, cases[i].route);
        ck_assert_int_eq(found->re != NULL, cases[i].route[0] != '/');
        if (found->re == NULL) {
            ck_assert_ptr_null(caps);
            continue;
        }
        ck_assert_ptr_nonnull(caps);
        ck_assert_ptr_eq(caps->subject, p);
        if (cases[i].one == NULL)
            continue;
        ck_assert_uint_ge(caps->n, 2);
        size_t len = caps->ovector[3] - caps->ovector[2];
        ck_assert_uint_eq(len, strlen(cases[i].one));
        ck_assert_int_eq(memcmp(p + caps->ovector[2], cases[i].one, len), 0);
    }
    /* An unset group in the middle, a set one after it. */
    const struct http_captures *caps;
    ck_assert_ptr_nonnull(http_route_find(&t, "/xz", 3, &caps));
    ck_assert_uint_eq(caps->n, 4);
    ck_assert_uint_eq(caps->ovector[4], SIZE_MAX);
    ck_assert_uint_eq(caps->ovector[6], 2);
    http_routes_free(&t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_route");
    TCase *t = tcase_create("route");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, longest_prefix_wins);
    tcase_add_test(t, exact_matches_only_its_path_and_beats_the_prefix);
    tcase_add_test(t, no_route);
    tcase_add_test(t, handlers_from_the_table);
    tcase_add_test(t, default_methods_by_handler);
    tcase_add_test(t, configured_methods);
    tcase_add_test(t, not_allowed_lists_the_methods);
    tcase_add_test(t, server_wide_answers);
    tcase_add_test(t, allow_and_deny);
    tcase_add_test(t, a_route_that_cannot_build_fails_the_server);
    tcase_add_test(t, regex_routes_between_exact_and_prefix);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
