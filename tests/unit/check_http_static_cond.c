/* Conditional requests and ranges for a file (static_cond.c):
 * If-None-Match (weak comparison) before If-Modified-Since, one "bytes="
 * range, If-Range (strong comparison). */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "http/parse.h"
#include "http/static_cond.h"
#include "tap.h"

static struct http_header fields[4];
static struct http_request req;

static const struct http_request *with(const char *name, const char *value)
{
    fields[0] = (struct http_header){ name, strlen(name), value, strlen(value) };
    req = (struct http_request){ .headers = fields, .num_headers = 1 };
    return &req;
}

static struct static_file file(void)
{
    struct static_file fi = { .size = 1000, .mtime = { .tv_sec = 784111777 } };
    strcpy(fi.etag, "\"abc-1000\"");
    strcpy(fi.last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");
    return fi;
}

START_TEST(if_none_match)
{
    struct static_file fi = file();
    ck_assert(static_cond_not_modified(with("If-None-Match", "\"abc-1000\""), &fi));
    ck_assert(static_cond_not_modified(with("if-none-match", "W/\"abc-1000\""), &fi));
    ck_assert(static_cond_not_modified(with("If-None-Match", "\"x\", \"abc-1000\""), &fi));
    ck_assert(static_cond_not_modified(with("If-None-Match", "*"), &fi));
    ck_assert(!static_cond_not_modified(with("If-None-Match", "\"abc-1001\""), &fi));
    ck_assert(!static_cond_not_modified(with("X-Other", "\"abc-1000\""), &fi));
}
END_TEST

START_TEST(if_modified_since)
{
    struct static_file fi = file();
    ck_assert(static_cond_not_modified(with("If-Modified-Since", fi.last_modified), &fi));
    ck_assert(static_cond_not_modified(with("If-Modified-Since",
                                            "Sunday, 06-Nov-94 08:49:37 GMT"), &fi));
    ck_assert(static_cond_not_modified(with("If-Modified-Since", "Sun Nov  6 08:49:37 1994"),
                                       &fi));
    ck_assert(static_cond_not_modified(with("If-Modified-Since",
                                            "Mon, 07 Nov 1994 00:00:00 GMT"), &fi));
    ck_assert(!static_cond_not_modified(with("If-Modified-Since",
                                             "Sun, 06 Nov 1994 08:49:36 GMT"), &fi));
    ck_assert(!static_cond_not_modified(with("If-Modified-Since", "yesterday"), &fi));
}
END_TEST

static enum static_range range(const char *v, int64_t *off, int64_t *end)
{
    return static_cond_range(v, strlen(v), 1000, off, end);
}

START_TEST(ranges)
{
    int64_t off = -1, end = -1;
    ck_assert_int_eq(range("bytes=0-99", &off, &end), STATIC_RANGE_OK);
    ck_assert(off == 0 && end == 100);
    ck_assert_int_eq(range("bytes=900-", &off, &end), STATIC_RANGE_OK);
    ck_assert(off == 900 && end == 1000);
    ck_assert_int_eq(range("bytes=-100", &off, &end), STATIC_RANGE_OK);
    ck_assert(off == 900 && end == 1000);
    ck_assert_int_eq(range("bytes=-5000", &off, &end), STATIC_RANGE_OK);
    ck_assert(off == 0 && end == 1000);
    ck_assert_int_eq(range("bytes=500-99999", &off, &end), STATIC_RANGE_OK);
    ck_assert(off == 500 && end == 1000);
    ck_assert_int_eq(range("bytes=1000-", &off, &end), STATIC_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(range("bytes=-0", &off, &end), STATIC_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(range("bytes=0-1,5-6", &off, &end), STATIC_RANGE_NONE);
    ck_assert_int_eq(range("items=0-1", &off, &end), STATIC_RANGE_NONE);
    ck_assert_int_eq(range("bytes=5-1", &off, &end), STATIC_RANGE_NONE);
    ck_assert_int_eq(range("bytes=x-1", &off, &end), STATIC_RANGE_NONE);
    ck_assert_int_eq(range("bytes=", &off, &end), STATIC_RANGE_NONE);
}
END_TEST

START_TEST(if_range)
{
    struct static_file fi = file();
    ck_assert(static_cond_if_range(with("X", "y"), &fi));               /* absent */
    ck_assert(static_cond_if_range(with("If-Range", "\"abc-1000\""), &fi));
    ck_assert(!static_cond_if_range(with("If-Range", "\"abc-999\""), &fi));
    ck_assert(static_cond_if_range(with("If-Range", fi.last_modified), &fi));
    ck_assert(!static_cond_if_range(with("If-Range", "Mon, 07 Nov 1994 00:00:00 GMT"), &fi));
}
END_TEST

/* With both, If-None-Match decides (RFC 9110 13.2.2); a list may hold
 * blanks and weak tags. */
START_TEST(if_none_match_before_if_modified_since)
{
    struct static_file fi = file();
    fields[1] = (struct http_header){ "If-Modified-Since", 17, fi.last_modified,
                                      strlen(fi.last_modified) };
    req = (struct http_request){ .headers = fields, .num_headers = 2 };
    fields[0] = (struct http_header){ "If-None-Match", 13, "\"other\"", 7 };
    ck_assert(!static_cond_not_modified(&req, &fi));
    static const char list[] = " \"x\" ,\tW/\"abc-1000\" ";
    fields[0] = (struct http_header){ "If-None-Match", 13, list, sizeof list - 1 };
    ck_assert(static_cond_not_modified(&req, &fi));
}
END_TEST

START_TEST(ranges_edges)
{
    int64_t off = -1, end = -1;
    ck_assert_int_eq(range("Bytes=0-0", &off, &end), STATIC_RANGE_OK);    /* the unit's case */
    ck_assert(off == 0 && end == 1);
    ck_assert_int_eq(range("bytes=999-", &off, &end), STATIC_RANGE_OK);
    ck_assert(off == 999 && end == 1000);
    ck_assert_int_eq(range("bytes=0-1234567890123456789", &off, &end), STATIC_RANGE_NONE);
    ck_assert_int_eq(range("bytes=1", &off, &end), STATIC_RANGE_NONE);
    ck_assert_int_eq(range("bytes=--1", &off, &end), STATIC_RANGE_NONE);
    /* An empty file has no byte to send. */
    ck_assert_int_eq(static_cond_range("bytes=-5", 8, 0, &off, &end), STATIC_RANGE_UNSATISFIABLE);
    ck_assert_int_eq(static_cond_range("bytes=0-", 8, 0, &off, &end), STATIC_RANGE_UNSATISFIABLE);
}
END_TEST

START_TEST(if_range_compares_strongly)
{
    struct static_file fi = file();
    ck_assert(!static_cond_if_range(with("If-Range", "W/\"abc-1000\""), &fi));
    ck_assert(!static_cond_if_range(with("If-Range", "Sun, 06 Nov 1994 08:49:37 GMT "), &fi));
    ck_assert(!static_cond_if_range(with("If-Range", ""), &fi));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_static_cond");
    TCase *t = tcase_create("conditional");
    tcase_add_test(t, if_none_match);
    tcase_add_test(t, if_modified_since);
    tcase_add_test(t, if_none_match_before_if_modified_since);
    tcase_add_test(t, ranges);
    tcase_add_test(t, ranges_edges);
    tcase_add_test(t, if_range);
    tcase_add_test(t, if_range_compares_strongly);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
