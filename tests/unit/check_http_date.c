/* The HTTP Date value (src/http/date.c): IMF-fixdate against known dates
 * and against strftime over four centuries, exactly 29 bytes written, and
 * the once-a-second cache. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/date.h"
#include "tap.h"

static const struct {
    time_t t;
    const char *text;
} known[] = {
    { 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
    { 784111777, "Sun, 06 Nov 1994 08:49:37 GMT" },         /* RFC 9110's example */
    { 951782400, "Tue, 29 Feb 2000 00:00:00 GMT" },
    { 1704067199, "Sun, 31 Dec 2023 23:59:59 GMT" },
    { 2147483647, "Tue, 19 Jan 2038 03:14:07 GMT" },
    { 2147483648, "Tue, 19 Jan 2038 03:14:08 GMT" },
    { 4102444800, "Fri, 01 Jan 2100 00:00:00 GMT" },
    { 253402300799, "Fri, 31 Dec 9999 23:59:59 GMT" },
    { -1, "Wed, 31 Dec 1969 23:59:59 GMT" },
};

#define N_KNOWN (sizeof known / sizeof known[0])

START_TEST(known_dates)
{
    char out[HTTP_DATE_LEN + 1];
    http_date_format(known[_i].t, out);
    ck_assert_str_eq(out, known[_i].text);
}
END_TEST

/* strftime in the C locale writes the same thing the slow way. */
static void reference(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

START_TEST(against_strftime)
{
    srandom(97);
    char out[64], want[64];
    for (int i = 0; i < 200000; i++) {
        /* Random seconds up to year 9999, and every midnight of 1970-2100. */
        time_t t = i % 2 ? (time_t)(((uint64_t)random() << 31 | (uint64_t)random()) %
                                    UINT64_C(253402300800))
                         : (time_t)(i / 2) * 86400 % INT64_C(4102444800);
        memset(out, '#', sizeof out);
        http_date_format(t, out);
        reference(t, want, sizeof want);
        ck_assert_msg(strcmp(out, want) == 0, "%lld: \"%s\", want \"%s\"", (long long)t, out, want);
        ck_assert_uint_eq(strlen(out), HTTP_DATE_LEN);
        ck_assert_msg(out[HTTP_DATE_LEN + 1] == '#', "wrote past HTTP_DATE_LEN + 1 bytes");
    }
}
END_TEST

/* One buffer, refreshed when the second changes, in either direction. */
START_TEST(cache_follows_the_second)
{
    const char *a = http_date(784111777);
    ck_assert_str_eq(a, "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_ptr_eq(http_date(784111777), a);
    const char *b = http_date(784111778);
    ck_assert_ptr_eq(b, a);
    ck_assert_str_eq(b, "Sun, 06 Nov 1994 08:49:38 GMT");
    ck_assert_str_eq(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    ck_assert_str_eq(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
}
END_TEST

/* The very first call of a process gives that second's date whatever the
 * second is (the cache starts empty, not as a date of its own). Check runs
 * each case in a new process, so this is the first call. */
START_TEST(first_call_of_a_process)
{
    ck_assert_str_eq(http_date(known[_i].t), known[_i].text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_date");
    TCase *tc = tcase_create("format");
    tcase_add_loop_test(tc, known_dates, 0, (int)N_KNOWN);
    tcase_add_test(tc, against_strftime);
    suite_add_tcase(s, tc);
    tc = tcase_create("cache");
    tcase_add_test(tc, cache_follows_the_second);
    tcase_add_loop_test(tc, first_call_of_a_process, 0, (int)N_KNOWN);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
