/* Refused requests in the error log (src/http/refusal.c): the line's form
 * (status or not, client of each family, the request line escaped and
 * cut), and the per-level budget of 10 lines a second, driven by a fake
 * clock (the caller passes the time), with the count of what was
 * suppressed reported by the next refusal or by the tick. Check runs each
 * case in a new process, so every case starts with fresh budgets. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"
#include "http/refusal.h"
#include "log.h"
#include "out_conn.h"
#include "fixture.h"
#include "tap.h"

#define T0 INT64_C(5000000)            /* ms on the loop's clock */
#define SUPPRESSED(n) "refused requests: " #n " more messages suppressed " \
                      "(at most 10 a second per worker)\n"

static struct out_conn oc;
static int captured;

static void setup(void)
{
    out_conn_init(&oc);
    out_conn_peer(&oc, "192.0.2.7", 40000);
    captured = fixture_log_begin();
    log_set_level(LOG_INFO);
}

static void teardown(void)
{
    fixture_log_end();
    out_conn_free(&oc);
}

static struct http_request request(const char *method, const char *target, int minor)
{
    return (struct http_request){ .method = method, .method_len = strlen(method),
                                  .target = target, .target_len = strlen(target),
                                  .minor_version = minor };
}

/* The log so far, without the time, level and pid of each line. */
static char *logged(void)
{
    char *text = fixture_log_text(captured);
    char *out = malloc(strlen(text) + 1), *w = out;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        char *msg = strstr(line, "]");
        ck_assert(nl != NULL && msg != NULL && msg < nl);
        msg = strchr(msg, ':') + 2;                 /* after "] PID: " */
        memcpy(w, msg, (size_t)(nl + 1 - msg));
        w += nl + 1 - msg;
        line = nl + 1;
    }
    *w = '\0';
    free(text);
    return out;
}

static void assert_logged(const char *want)
{
    char *got = logged();
    ck_assert_str_eq(got, want);
    free(got);
}

/* ------------------------------------------------------------------ */
/* The line */

START_TEST(line_forms)
{
    struct http_request req = request("GET", "/x?y=1", 1);
    http_refusal_log(LOG_INFO, &oc.c, &req, T0, 400, "bad %s", "thing");
    out_conn_peer(&oc, "2001:db8::1", 40000);
    struct http_request old = request("POST", "/f", 0);
    http_refusal_log(LOG_ERROR, &oc.c, &old, T0, 0, "open() \"%s\" failed (13: %s)", "/srv/f",
                     "Permission denied");
    out_conn_peer(&oc, NULL, 0);
    http_refusal_log(LOG_INFO, &oc.c, NULL, T0, 431, "too many fields");
    assert_logged("request refused with 400: bad thing, client: 192.0.2.7, "
                  "request: \"GET /x?y=1 HTTP/1.1\"\n"
                  "open() \"/srv/f\" failed (13: Permission denied), client: 2001:db8::1, "
                  "request: \"POST /f HTTP/1.0\"\n"
                  "request refused with 431: too many fields, client: unix:\n");
}
END_TEST

/* What the client sent is escaped as in the access log, and cut: a target
 * after 256 bytes (with "..."), a method after 32. */
START_TEST(request_escaped_and_cut)
{
    struct http_request req = request("G\"T", "/a\"b\\c\x01\x7f\xc3\xa9 d", 1);
    http_refusal_log(LOG_INFO, &oc.c, &req, T0, 400, "x");
    char target[300], method[41];
    memset(target, 't', sizeof target - 1);
    target[0] = '/';
    target[sizeof target - 1] = '\0';
    memset(method, 'M', sizeof method - 1);
    method[sizeof method - 1] = '\0';
    req = request(method, target, 1);
    http_refusal_log(LOG_INFO, &oc.c, &req, T0, 414, "y");
    char want[1024];
    snprintf(want, sizeof want,
             "request refused with 400: x, client: 192.0.2.7, request: "
             "\"G\\x22T /a\\x22b\\x5Cc\\x01\\x7F\\xC3\\xA9 d HTTP/1.1\"\n"
             "request refused with 414: y, client: 192.0.2.7, request: \"%.32s %.256s... "
             "HTTP/1.1\"\n", method, target);
    assert_logged(want);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The budget */

static void refuse(enum log_level level, int64_t now, int n)
{
    for (int i = 0; i < n; i++)
        http_refusal_log(level, &oc.c, NULL, now, 400, "r%d", i);
}

/* Ten lines in a second; the rest counted and reported, once, before the
 * first line of the next second. */
START_TEST(ten_a_second)
{
    refuse(LOG_INFO, T0, 10);
    refuse(LOG_INFO, T0 + 500, 5);
    refuse(LOG_INFO, T0 + 999, 1);
    char *text = logged();
    ck_assert_int_eq(fixture_count(text, "\n"), 10);
    ck_assert_int_eq(fixture_count(text, "suppressed"), 0);
    free(text);
    http_refusal_log(LOG_INFO, &oc.c, NULL, T0 + 1000, 400, "next second");
    text = logged();
    ck_assert_int_eq(fixture_count(text, "\n"), 12);
    char *summary = strstr(text, SUPPRESSED(6));
    ck_assert_ptr_nonnull(summary);
    ck_assert_ptr_nonnull(strstr(summary, "next second"));
    free(text);
}
END_TEST

/* Each level has its own budget: a flood of client errors cannot hide a
 * failure of the file system. */
START_TEST(budget_per_level)
{
    refuse(LOG_INFO, T0, 30);
    http_refusal_log(LOG_ERROR, &oc.c, NULL, T0, 500, "disk");
    refuse(LOG_WARN, T0, 3);
    char *text = logged();
    ck_assert_int_eq(fixture_count(text, "\n"), 14);
    ck_assert_ptr_nonnull(strstr(text, "500: disk"));
    free(text);
}
END_TEST

/* A level that is not logged spends nothing. */
START_TEST(disabled_level_spends_nothing)
{
    log_set_level(LOG_WARN);
    refuse(LOG_INFO, T0, 20);
    log_set_level(LOG_INFO);
    refuse(LOG_INFO, T0 + 1, 10);
    http_refusal_tick(T0 + 5000);
    char *text = logged();
    ck_assert_int_eq(fixture_count(text, "\n"), 10);
    ck_assert_int_eq(fixture_count(text, "suppressed"), 0);
    free(text);
}
END_TEST

/* The tick reports a second's suppressed lines once the second is over,
 * at their level, and only once. */
START_TEST(tick_reports)
{
    refuse(LOG_DEBUG, T0, 12);                      /* debug is off: nothing */
    refuse(LOG_WARN, T0, 13);
    http_refusal_tick(T0 + 999);
    char *text = logged();
    ck_assert_int_eq(fixture_count(text, "suppressed"), 0);
    free(text);
    http_refusal_tick(T0 + 1000);
    http_refusal_tick(T0 + 2500);
    text = fixture_log_text(captured);
    ck_assert_int_eq(fixture_count(text, "suppressed"), 1);
    char *summary = strstr(text, SUPPRESSED(3));
    ck_assert_ptr_nonnull(summary);
    while (summary > text && summary[-1] != '\n')
        summary--;
    ck_assert_ptr_nonnull(strstr(summary, "[warn] "));
    ck_assert(strstr(summary, "[warn] ") < strstr(summary, "suppressed"));
    free(text);
    /* A fresh second after the tick: ten more lines. */
    refuse(LOG_WARN, T0 + 1500, 11);
    text = logged();
    ck_assert_int_eq(fixture_count(text, "\n"), 10 + 1 + 10);
    free(text);
}
END_TEST

/* A clock that went back (it should not; the budget must not stick) opens
 * a new second. */
START_TEST(clock_going_back)
{
    refuse(LOG_INFO, T0, 11);
    refuse(LOG_INFO, T0 - 5000, 1);
    char *text = logged();
    ck_assert_int_eq(fixture_count(text, "\n"), 12);
    ck_assert_ptr_nonnull(strstr(text, SUPPRESSED(1)));
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_refusal");
    TCase *tc = tcase_create("line");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, line_forms);
    tcase_add_test(tc, request_escaped_and_cut);
    suite_add_tcase(s, tc);
    tc = tcase_create("budget");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ten_a_second);
    tcase_add_test(tc, budget_per_level);
    tcase_add_test(tc, disabled_level_spends_nothing);
    tcase_add_test(tc, tick_reports);
    tcase_add_test(tc, clock_going_back);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
