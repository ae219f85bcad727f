/* The shared upstream health page (src/upstream_health.c and
 * upstream_health_render.c): entries keyed by upstream and server address
 * (a second registration, as after a reload, finds the same entry and its
 * state), a server marked down by passive health in one process skipped by
 * a balancer in another, the passive rules over the shared entry, the
 * active state DOWN skipping a server, the counters and gauges a balancer
 * keeps there (given back when it is freed), and the status renderings:
 * only listed servers, their state, in JSON, text and Prometheus. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "balance.h"
#include "stats_render.h"
#include "tap.h"
#include "upstream_health.h"

static struct upstream_server_config sc[3];
static struct upstream_config uc;
static struct herd_config cfg;

static void setup(void)
{
    const char *why;
    memset(sc, 0, sizeof sc);
    const char *addrs[] = { "127.0.0.1:9001", "127.0.0.1:9002", "unix:/run/a\"b.sock" };
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(upstream_addr_parse(addrs[i], &sc[i].addr, &why), 0);
        sc[i].weight = 1;
    }
    uc = (struct upstream_config){ .name = "app", .servers = sc, .n_servers = 2,
                                   .max_fails = 2, .fail_timeout = 10000 };
    memset(&cfg, 0, sizeof cfg);
    cfg.upstreams = &uc;
    cfg.n_upstreams = 1;
    ck_assert_ptr_nonnull(upstream_health_map());
    memset(upstream_health_page()->e, 0, sizeof upstream_health_page()->e);
}

static void teardown(void)
{
    upstream_health_unmap();
}

START_TEST(entries_are_kept_by_name_and_address)
{
    ck_assert_ptr_null(upstream_health_find("app", "127.0.0.1:9001"));
    upstream_health_register(&cfg);
    struct upstream_health *a = upstream_health_find("app", "127.0.0.1:9001");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(upstream_health_find("app", "127.0.0.1:9002"));
    ck_assert_ptr_null(upstream_health_find("other", "127.0.0.1:9001"));
    a->state = UPSTREAM_HEALTH_DOWN;
    a->failures = 7;
    /* A reload: the same upstream with one more server. */
    uc.n_servers = 3;
    upstream_health_register(&cfg);
    ck_assert_ptr_eq(upstream_health_find("app", "127.0.0.1:9001"), a);
    ck_assert_int_eq(a->state, UPSTREAM_HEALTH_DOWN);
    ck_assert_int_eq(a->failures, 7);
    ck_assert_ptr_nonnull(upstream_health_find("app", "unix:/run/a\"b.sock"));
}
END_TEST

START_TEST(one_process_marks_down_all_skip)
{
    upstream_health_register(&cfg);
    struct balancer *mine = balance_new(&uc);
    ck_assert(balance_shared(mine, 0));
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* Another worker: two refused connects to server 0. */
        struct balancer *b = balance_new(&uc);
        balance_report(b, 0, false, 1000);
        balance_report(b, 0, false, 1001);
        _exit(balance_is_down(b, 0, 1002) ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert(balance_is_down(mine, 0, 1002));
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(balance_pick(mine, 0, NULL, 1002), 1);
    /* Back after fail_timeout. */
    ck_assert(!balance_is_down(mine, 0, 1001 + 10000));
    balance_free(mine);
}
END_TEST

START_TEST(passive_rules_on_the_shared_entry)
{
    upstream_health_register(&cfg);
    struct upstream_health *h = upstream_health_find("app", "127.0.0.1:9001");
    upstream_health_report(h, false, 2, 1000, 0);
    ck_assert(!upstream_health_is_down(h, 1));
    /* The window ended: the count starts again. */
    upstream_health_report(h, false, 2, 1000, 1500);
    ck_assert(!upstream_health_is_down(h, 1501));
    upstream_health_report(h, false, 2, 1000, 1600);
    ck_assert(upstream_health_is_down(h, 1601));
    ck_assert(!upstream_health_is_down(h, 2600));
    /* Chosen again after its time down: one failure takes it down again. */
    upstream_health_report(h, false, 2, 1000, 2700);
    ck_assert(upstream_health_is_down(h, 2701));
    upstream_health_report(h, true, 2, 1000, 2800);
    ck_assert(!upstream_health_is_down(h, 2801));
    ck_assert_uint_eq(h->failures, 4);
    /* max_fails 0: counted, never down. */
    upstream_health_report(h, false, 0, 1000, 3000);
    ck_assert(!upstream_health_is_down(h, 3001));
    ck_assert_uint_eq(h->failures, 5);
}
END_TEST

START_TEST(active_down_is_skipped)
{
    upstream_health_register(&cfg);
    struct balancer *b = balance_new(&uc);
    upstream_health_find("app", "127.0.0.1:9002")->state = UPSTREAM_HEALTH_DOWN;
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(balance_pick(b, 0, NULL, 0), 0);
    upstream_health_find("app", "127.0.0.1:9001")->state = UPSTREAM_HEALTH_DOWN;
    ck_assert_int_eq(balance_pick(b, 0, NULL, 0), -1);
    upstream_health_find("app", "127.0.0.1:9002")->state = UPSTREAM_HEALTH_UP;
    ck_assert_int_eq(balance_pick(b, 0, NULL, 0), 1);
    balance_free(b);
}
END_TEST

START_TEST(counters_and_gauges)
{
    upstream_health_register(&cfg);
    struct upstream_health *h = upstream_health_find("app", "127.0.0.1:9001");
    struct balancer *b = balance_new(&uc), *c = balance_new(&uc);
    balance_opened(b, 0);
    balance_opened(b, 0);
    balance_opened(c, 0);
    balance_closed(b, 0);
    balance_idle(b, 0, 1);
    balance_idle(c, 0, 1);
    balance_idle(c, 0, 1);
    balance_timed(b, 0, 30);
    balance_timed(c, 0, 12);
    balance_report(c, 0, false, 5);
    ck_assert_int_eq(h->active, 2);
    ck_assert_int_eq(h->idle, 3);
    ck_assert_uint_eq(h->requests, 3);
    ck_assert_uint_eq(h->response_ms, 42);
    ck_assert_uint_eq(h->responses, 2);
    ck_assert_uint_eq(h->failures, 1);
    /* A process that goes gives back what it held. */
    balance_free(c);
    ck_assert_int_eq(h->active, 1);
    ck_assert_int_eq(h->idle, 1);
    ck_assert_uint_eq(h->requests, 3);
    balance_free(b);
    ck_assert_int_eq(h->active, 0);
    ck_assert_int_eq(h->idle, 0);
}
END_TEST

START_TEST(renders_listed_servers)
{
    uc.n_servers = 3;
    upstream_health_register(&cfg);
    upstream_health_list(&cfg);
    struct upstream_health *a = upstream_health_find("app", "127.0.0.1:9001");
    a->state = UPSTREAM_HEALTH_DOWN;
    a->requests = 5;
    a->response_ms = 1500;
    a->responses = 3;
    upstream_health_find("app", "127.0.0.1:9002")->state = UPSTREAM_HEALTH_CHECKING;
    char *out;
    ck_assert_uint_gt(upstream_health_render(upstream_health_page(), STATS_FORMAT_TEXT, 0, &out), 0);
    ck_assert_ptr_nonnull(strstr(out, "upstream app server 127.0.0.1:9001 state=down active=0 "
                                      "idle=0 requests=5 failures=0 response_ms_sum=1500 "
                                      "responses=3\n"));
    ck_assert_ptr_nonnull(strstr(out, "server 127.0.0.1:9002 state=checking"));
    ck_assert_ptr_nonnull(strstr(out, "state=up"));
    free(out);
    upstream_health_render(upstream_health_page(), STATS_FORMAT_JSON, 0, &out);
    ck_assert_ptr_nonnull(strstr(out, "\"upstreams\":[{\"upstream\":\"app\",\"server\":"
                                      "\"127.0.0.1:9001\",\"state\":\"down\""));
    ck_assert_ptr_nonnull(strstr(out, "\"server\":\"unix:/run/a\\\"b.sock\""));
    free(out);
    upstream_health_render(upstream_health_page(), STATS_FORMAT_PROMETHEUS, 0, &out);
    ck_assert_ptr_nonnull(strstr(out, "# TYPE herd_upstream_server_state gauge\n"));
    ck_assert_ptr_nonnull(strstr(out, "herd_upstream_server_state{upstream=\"app\",server="
                                      "\"127.0.0.1:9001\",state=\"down\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(out, "herd_upstream_server_state{upstream=\"app\",server="
                                      "\"127.0.0.1:9001\",state=\"up\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(out, "herd_upstream_server_response_seconds_sum{upstream="
                                      "\"app\",server=\"127.0.0.1:9001\"} 1.500\n"));
    ck_assert_ptr_nonnull(strstr(out, "herd_upstream_server_connections{upstream=\"app\","
                                      "server=\"127.0.0.1:9001\",state=\"idle\"} 0\n"));
    free(out);
    /* A reload without server 2: it is not shown any more. */
    uc.n_servers = 2;
    upstream_health_list(&cfg);
    upstream_health_render(upstream_health_page(), STATS_FORMAT_TEXT, 0, &out);
    ck_assert_ptr_null(strstr(out, "unix:"));
    free(out);
}
END_TEST

/* The JSON member joins the stats answer as one object. */
START_TEST(joins_the_stats_answer)
{
    struct stats_page *page = stats_map();
    ck_assert_ptr_nonnull(page);
    char *out;
    stats_render_more(page, STATS_FORMAT_JSON, 0, "\"upstreams\":[]", &out);
    size_t n = strlen(out);
    ck_assert_str_eq(out + n - strlen(",\"upstreams\":[]}\n"), ",\"upstreams\":[]}\n");
    free(out);
    stats_render_more(page, STATS_FORMAT_TEXT, 0, "upstream x\n", &out);
    n = strlen(out);
    ck_assert_str_eq(out + n - strlen("\nupstream x\n"), "\nupstream x\n");
    free(out);
    stats_unmap(page);
}
END_TEST

START_TEST(no_page_no_sharing)
{
    upstream_health_unmap();
    ck_assert_ptr_null(upstream_health_find("app", "127.0.0.1:9001"));
    struct balancer *b = balance_new(&uc);
    ck_assert(!balance_shared(b, 0));
    balance_report(b, 0, false, 0);
    balance_report(b, 0, false, 1);
    ck_assert(balance_is_down(b, 0, 2));
    balance_free(b);
    char *out;
    ck_assert_uint_eq(upstream_health_render(NULL, STATS_FORMAT_TEXT, 0, &out), 0);
    ck_assert_ptr_null(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upstream_health");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, entries_are_kept_by_name_and_address);
    tcase_add_test(tc, one_process_marks_down_all_skip);
    tcase_add_test(tc, passive_rules_on_the_shared_entry);
    tcase_add_test(tc, active_down_is_skipped);
    tcase_add_test(tc, counters_and_gauges);
    tcase_add_test(tc, renders_listed_servers);
    tcase_add_test(tc, joins_the_stats_answer);
    tcase_add_test(tc, no_page_no_sharing);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
