/* The status page's HTTP side (status.c): each configured format rendered
 * as stats_render.c renders it, with its media type; the name a server's
 * responses are counted under. (The renderings themselves:
 * check_stats_render.c; the handler that serves them:
 * check_http_handler_status.c.) */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/status.h"
#include "limit_zone.h"
#include "proto.h"
#include "stats_render.h"
#include "stream/echo.h"
#include "tap.h"

#define NOW 1100                /* the page started at 1000 */

/* A page with one worker that answered a little. */
static struct stats_page *page(void)
{
    struct stats_page *p = stats_map();
    ck_assert_ptr_nonnull(p);
    p->started = 1000;
    p->generation = 2;
    struct stats_block *b = stats_claim(p, 0, 2);
    ck_assert_ptr_nonnull(b);
    b->pid = 7;
    stats_name_server(p, b, 0, "a.test");
    stats_add(b, STAT_REQUESTS, 3);
    stats_response(b, 0, 200);
    stats_response(b, 0, 404);
    return p;
}

START_TEST(http_status_maps_its_formats)
{
    struct stats_page *p = page();
    const struct {
        enum cfg_status_format cfg;
        enum stats_format render;
        const char *type;
    } maps[] = {
        { STATUS_JSON, STATS_FORMAT_JSON, "application/json" },
        { STATUS_TEXT, STATS_FORMAT_TEXT, "text/plain" },
        { STATUS_PROMETHEUS, STATS_FORMAT_PROMETHEUS, "text/plain; version=0.0.4" },
    };
    for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
        char *a = NULL, *b = NULL;
        size_t len = stats_render(p, maps[i].render, NOW, &a);
        ck_assert_ptr_nonnull(a);
        ck_assert_uint_eq(http_status_render(p, maps[i].cfg, NOW, &b), len);
        ck_assert_str_eq(a, b);
        ck_assert_str_eq(http_status_type(maps[i].cfg), maps[i].type);
        free(a);
        free(b);
    }
    stats_unmap(p);
}
END_TEST

/* With a limit zone (every worker has the master's), the requests limits
 * refused follow the counters, in each format. */
START_TEST(http_status_counts_limited_requests)
{
    struct stats_page *p = page();
    struct limit_zone *z = limit_zone_map(64 * 1024);
    ck_assert_ptr_nonnull(z);
    limit_zone_count_refusal(z);
    limit_zone_count_refusal(z);
    const struct {
        enum cfg_status_format cfg;
        const char *has;
    } want[] = {
        { STATUS_JSON, "],\"limited\":2}\n" },
        { STATUS_TEXT, "\nlimited requests=2\n" },
        { STATUS_PROMETHEUS, "\n# TYPE herd_limited_requests_total counter\n"
                             "herd_limited_requests_total 2\n" },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *b = NULL;
        ck_assert_uint_gt(http_status_render(p, want[i].cfg, NOW, &b), 0);
        ck_assert_msg(strstr(b, want[i].has) != NULL, "no \"%s\" in:\n%s", want[i].has, b);
        free(b);
    }
    stats_unmap(p);
}
END_TEST

START_TEST(http_servers_are_named_by_host_then_address)
{
    char *names[] = { "example.org" }, *listen[] = { "127.0.0.1:80" };
    struct cfg_http h = { .server_names = { NULL, 0 } };
    struct cfg_server s = { .protocol = &http_module.config, .listen = { listen, 1 }, .conf = &h };
    ck_assert_str_eq(http_status_server_name(&s), "127.0.0.1:80");
    h.server_names = (struct cfg_strings){ names, 1 };
    ck_assert_str_eq(http_status_server_name(&s), "example.org");
    ck_assert_str_eq(proto_stats_label(&s), "example.org");    /* what the master asks */
    /* A server that answers no requests is not named. */
    struct echo_config e = { .idle_timeout = 1000 };
    s.protocol = &echo_module.config;
    s.conf = &e;
    ck_assert_ptr_null(proto_stats_label(&s));
}
END_TEST

/* The first name, else the first address; neither: no name. */
START_TEST(first_name_first_address)
{
    char *names[] = { "a.test", "*.b.test" }, *listen[] = { "[::1]:81", "127.0.0.1:80" };
    struct cfg_http h = { .server_names = { names, 2 } };
    struct cfg_server s = { .protocol = &http_module.config, .listen = { listen, 2 }, .conf = &h };
    ck_assert_str_eq(http_status_server_name(&s), "a.test");
    h.server_names.n = 0;
    ck_assert_str_eq(http_status_server_name(&s), "[::1]:81");
    s.listen.n = 0;
    ck_assert_ptr_null(http_status_server_name(&s));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_status");
    TCase *tc = tcase_create("status");
    tcase_add_test(tc, http_status_maps_its_formats);
    tcase_add_test(tc, http_status_counts_limited_requests);
    tcase_add_test(tc, http_servers_are_named_by_host_then_address);
    tcase_add_test(tc, first_name_first_address);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
