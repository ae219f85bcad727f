/* Durations and sizes (src/units.c): what herd.conf(5) says is accepted and
 * refused, the limits, rounding, and the -T form reading back to the same
 * value. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"
#include "tap.h"

#define SENTINEL INT64_C(-777)
#define YEARS10_MS (INT64_C(10) * 365 * 24 * 3600 * 1000)

struct unit_row {
    const char *in;
    int rc;
    int64_t value;
};

static const struct unit_row duration_rows[] = {
    { "500ms", 0, 500 },
    { "10s", 0, 10000 },
    { "5m", 0, 300000 },
    { "2h", 0, 7200000 },
    { "1d", 0, 86400000 },
    { "30", 0, 30000 },                 /* no unit: seconds */
    { "1.5", 0, 1500 },
    { "1.5s", 0, 1500 },
    { "0.25m", 0, 15000 },
    { "0", 0, 0 },
    { "0ms", 0, 0 },
    { "007s", 0, 7000 },
    { "0.4ms", 0, 0 },                  /* rounded to whole milliseconds */
    { "0.6ms", 0, 1 },
    { "1.0004", 0, 1000 },
    { "3650d", 0, YEARS10_MS },         /* the largest */
    { "315360000", 0, YEARS10_MS },
    { "3651d", -1, 0 },
    { "315360000.5", -1, 0 },
    { "", -1, 0 },
    { "s", -1, 0 },
    { "ms", -1, 0 },
    { ".5s", -1, 0 },
    { "-1s", -1, 0 },
    { "+1s", -1, 0 },
    { " 1s", -1, 0 },
    { "1 s", -1, 0 },
    { "1s ", -1, 0 },
    { "10sec", -1, 0 },
    { "1S", -1, 0 },
    { "1M", -1, 0 },
    { "1w", -1, 0 },
    { "1h30m", -1, 0 },
    { "1e999", -1, 0 },
    /* herd.conf(5): "a decimal number, which may have a fraction". */
    { "1e3", -1, 0 },
    { "1E2s", -1, 0 },
    { "0x10", -1, 0 },
    { "0x10s", -1, 0 },
    { "0x1p4ms", -1, 0 },
};

static const struct unit_row size_rows[] = {
    { "0", 0, 0 },
    { "512", 0, 512 },
    { "64k", 0, 64 * 1024 },
    { "64K", 0, 64 * 1024 },
    { "1m", 0, 1024 * 1024 },
    { "1M", 0, 1024 * 1024 },
    { "2g", 0, INT64_C(2) * 1024 * 1024 * 1024 },
    { "2G", 0, INT64_C(2) * 1024 * 1024 * 1024 },
    { "0008k", 0, 8192 },
    { "9223372036854775807", 0, INT64_MAX },
    { "8589934591g", 0, INT64_C(8589934591) * 1024 * 1024 * 1024 },
    { "8589934592g", -1, 0 },           /* 2^63 */
    { "9007199254740992k", -1, 0 },
    { "9223372036854775808", -1, 0 },
    { "18446744073709551616", -1, 0 },
    { "", -1, 0 },
    { "k", -1, 0 },
    { "1.5m", -1, 0 },
    { "64kb", -1, 0 },
    { "1t", -1, 0 },
    { "-1", -1, 0 },
    { "+1", -1, 0 },
    { " 1", -1, 0 },
    { "1 k", -1, 0 },
    { "0x10", -1, 0 },
    { "1e3", -1, 0 },
};

START_TEST(duration_row)
{
    const struct unit_row *r = &duration_rows[_i];
    int64_t ms = SENTINEL;
    int rc = units_parse_duration(r->in, &ms);
    ck_assert_msg(rc == r->rc, "\"%s\": rc %d, want %d", r->in, rc, r->rc);
    /* A refused value leaves the result alone. */
    ck_assert_msg(ms == (rc == 0 ? r->value : SENTINEL), "\"%s\": %lld, want %lld", r->in,
                  (long long)ms, (long long)(rc == 0 ? r->value : SENTINEL));
}
END_TEST

START_TEST(size_row)
{
    const struct unit_row *r = &size_rows[_i];
    int64_t bytes = SENTINEL;
    int rc = units_parse_size(r->in, &bytes);
    ck_assert_msg(rc == r->rc, "\"%s\": rc %d, want %d", r->in, rc, r->rc);
    ck_assert_msg(bytes == (rc == 0 ? r->value : SENTINEL), "\"%s\": %lld", r->in,
                  (long long)bytes);
}
END_TEST

struct format_row {
    int64_t value;
    const char *text;
};

static void check_format(void (*format)(int64_t, char *, size_t), const struct format_row *rows,
                         size_t n)
{
    char text[32];
    for (size_t i = 0; i < n; i++) {
        format(rows[i].value, text, sizeof text);
        ck_assert_msg(strcmp(text, rows[i].text) == 0, "%lld: \"%s\", want \"%s\"",
                      (long long)rows[i].value, text, rows[i].text);
    }
}

/* The largest unit that divides the value exactly. */
START_TEST(duration_format)
{
    static const struct format_row rows[] = {
        { 0, "0s" }, { 1, "1ms" }, { 999, "999ms" }, { 1000, "1s" }, { 1500, "1500ms" },
        { 59000, "59s" }, { 60000, "1m" }, { 90000, "90s" }, { 3600000, "1h" },
        { 5400000, "90m" }, { 86400000, "1d" }, { 90000000, "25h" }, { 86401000, "86401s" },
        { YEARS10_MS, "3650d" },
    };
    check_format(units_format_duration, rows, sizeof rows / sizeof rows[0]);
}
END_TEST

START_TEST(size_format)
{
    static const struct format_row rows[] = {
        { 0, "0" }, { 1, "1" }, { 1023, "1023" }, { 1024, "1k" }, { 1536, "1536" },
        { 3 * 1024, "3k" }, { 1024 * 1024, "1m" }, { 1025 * 1024, "1025k" },
        { INT64_C(1024) * 1024 * 1024, "1g" }, { INT64_C(1536) * 1024 * 1024, "1536m" },
        { INT64_MAX, "9223372036854775807" },
    };
    check_format(units_format_size, rows, sizeof rows / sizeof rows[0]);
}
END_TEST

/* What -T prints reads back as the same value: random values of every
 * magnitude, many of them multiples of a unit. */
START_TEST(format_reads_back)
{
    static const int64_t scales[] = { 1, 1000, 60000, 3600000, 86400000, 1024, 1024 * 1024 };
    srandom(4242);
    char text[32];
    for (int i = 0; i < 20000; i++) {
        int64_t scale = scales[random() % (sizeof scales / sizeof scales[0])];
        int64_t v = (int64_t)(random() % 100000) * scale;
        int64_t back = SENTINEL;
        if (v <= YEARS10_MS) {
            units_format_duration(v, text, sizeof text);
            ck_assert_msg(units_parse_duration(text, &back) == 0 && back == v,
                          "duration %lld printed as \"%s\"", (long long)v, text);
        }
        units_format_size(v, text, sizeof text);
        back = SENTINEL;
        ck_assert_msg(units_parse_size(text, &back) == 0 && back == v, "size %lld printed as \"%s\"",
                      (long long)v, text);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("units");
    TCase *tc = tcase_create("parse");
    tcase_add_loop_test(tc, duration_row, 0, (int)(sizeof duration_rows / sizeof duration_rows[0]));
    tcase_add_loop_test(tc, size_row, 0, (int)(sizeof size_rows / sizeof size_rows[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("format");
    tcase_add_test(tc, duration_format);
    tcase_add_test(tc, size_format);
    tcase_add_test(tc, format_reads_back);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
