/* The counters as text: the exact lines of the plain text that `herd -s
 * status` prints, JSON and Prometheus with names that need escaping. (The
 * HTTP status page's mapping onto them: check_http_status.c.) */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "stats_render.h"
#include "tap.h"

#define NOW 1100                /* the page started at 1000 */

/* A page with one live worker of slot 1 and a retired one of slot 0. */
static struct stats_page *page(void)
{
    struct stats_page *p = stats_map();
    ck_assert_ptr_nonnull(p);
    p->started = 1000;
    p->generation = 4;
    struct stats_block *gone = stats_claim(p, 0, 3);
    ck_assert_ptr_nonnull(gone);
    gone->pid = 10;
    stats_add(gone, STAT_ACCEPTED, 5);
    stats_add(gone, STAT_HANDLED, 5);
    stats_add(gone, STAT_REQUESTS, 9);
    stats_retire(p, gone);
    struct stats_block *b = stats_claim(p, 1, 4);
    ck_assert_ptr_nonnull(b);
    b->pid = 11;
    b->started = 1090;
    stats_name_server(p, b, 0, "a\"b\\c\nd\x01");
    stats_add(b, STAT_ACCEPTED, 2);
    stats_add(b, STAT_ACTIVE, 2);
    stats_add(b, STAT_READING, 1);
    stats_add(b, STAT_IDLE, 1);
    stats_add(b, STAT_REQUESTS, 3);
    stats_response(b, 0, 200);
    stats_response(b, 0, 200);
    stats_response(b, 0, 503);
    return p;
}

static char *render(const struct stats_page *p, enum stats_format f)
{
    char *out = NULL;
    size_t len = stats_render(p, f, NOW, &out);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(len, strlen(out));
    return out;
}

START_TEST(text_has_nginx_lines_then_slots_servers_workers)
{
    struct stats_page *p = page();
    char *t = render(p, STATS_FORMAT_TEXT);
    const char *want =
        "Active connections: 2\n"
        "server accepts handled requests\n 7 5 12\n"
        "Reading: 1 Writing: 0 Waiting: 1\n"
        "Generation: 4 Uptime: 100\n"
        "Responses: 1xx=0 2xx=2 3xx=0 4xx=0 5xx=1\n"
        "slot 0 accepted=5 handled=5 active=0 reading=0 writing=0 idle=0 requests=9"
        " bytes_in=0 bytes_out=0 1xx=0 2xx=0 3xx=0 4xx=0 5xx=0\n"
        "slot 1 accepted=2 handled=0 active=2 reading=1 writing=0 idle=1 requests=3"
        " bytes_in=0 bytes_out=0 1xx=0 2xx=2 3xx=0 4xx=0 5xx=1\n";
    ck_assert_msg(strncmp(t, want, strlen(want)) == 0, "got:\n%s", t);
    ck_assert_ptr_nonnull(strstr(t, "\nworker slot=1 pid=11 generation=4 uptime=10 accepted=2 "));
    ck_assert_ptr_nonnull(strstr(t, "\nserver a\"b\\c\nd\x01 1xx=0 2xx=2 3xx=0 4xx=0 5xx=1\n"));
    free(t);
    stats_unmap(p);
}
END_TEST

START_TEST(json_escapes_names_and_closes_every_bracket)
{
    struct stats_page *p = page();
    char *j = render(p, STATS_FORMAT_JSON);
    const char *head = "{\"generation\":4,\"uptime\":100,\"total\":{\"accepted\":7,";
    ck_assert_msg(strncmp(j, head, strlen(head)) == 0, "got %s", j);
    ck_assert_ptr_nonnull(strstr(j, "{\"server\":\"a\\\"b\\\\c\\nd\\u0001\",\"responses\":"
                                    "{\"1xx\":0,\"2xx\":2,\"3xx\":0,\"4xx\":0,\"5xx\":1}}"));
    ck_assert_ptr_nonnull(strstr(j, "{\"slot\":1,\"accepted\":2,"));
    ck_assert_ptr_nonnull(strstr(j, "{\"pid\":11,\"slot\":1,\"generation\":4,\"uptime\":10,"));
    int depth = 0, in_string = 0;
    for (const char *c = j; *c; c++) {
        if (in_string && *c == '\\')
            c++;
        else if (*c == '"')
            in_string = !in_string;
        else if (!in_string && (*c == '{' || *c == '['))
            depth++;
        else if (!in_string && (*c == '}' || *c == ']'))
            ck_assert_int_ge(--depth, 0);
        else if (in_string)
            ck_assert_int_ge((unsigned char)*c, 0x20);     /* controls escaped */
    }
    ck_assert_int_eq(depth, 0);
    ck_assert_str_eq(j + strlen(j) - 2, "}\n");
    free(j);
    stats_unmap(p);
}
END_TEST

START_TEST(prometheus_series_by_slot)
{
    struct stats_page *p = page();
    char *m = render(p, STATS_FORMAT_PROMETHEUS);
    const char *lines[] = {
        "# TYPE herd_connections_accepted_total counter\n",
        "herd_connections_accepted_total{slot=\"0\"} 5\n",
        "herd_connections_accepted_total{slot=\"1\"} 2\n",
        "# TYPE herd_connections gauge\n",
        "herd_connections{slot=\"1\",state=\"reading\"} 1\n",
        "herd_connections{slot=\"1\",state=\"idle\"} 1\n",
        "herd_responses_total{slot=\"1\",code=\"5xx\"} 1\n",
        /* label values escape quote, backslash and newline, nothing else */
        "herd_server_responses_total{server=\"a\\\"b\\\\c\\nd\x01\",code=\"2xx\"} 2\n",
        "herd_uptime_seconds 100\n",
        "herd_generation 4\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_msg(strstr(m, lines[i]) != NULL, "no line %s in:\n%s", lines[i], m);
    /* One HELP per metric name, even for the series by state. */
    ck_assert_ptr_null(strstr(strstr(m, "# HELP herd_connections ") + 1,
                              "# HELP herd_connections "));
    free(m);
    stats_unmap(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats_render");
    TCase *tc = tcase_create("render");
    tcase_add_test(tc, text_has_nginx_lines_then_slots_servers_workers);
    tcase_add_test(tc, json_escapes_names_and_closes_every_bracket);
    tcase_add_test(tc, prometheus_series_by_slot);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
