/* The one response-head builder (http_head_write) and the responses built
 * with it at load (http_fixed_*): every header rule, Date patching, HEAD,
 * statuses without a body, the Connection line. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/date.h"
#include "http/parse.h"
#include "http/response.h"
#include "tap.h"

static const char date[] = "Sun, 06 Nov 1994 08:49:37 GMT";

/* The head of h as a string; checks http_head_len against what is written. */
static char *head(const struct http_head *h, size_t *date_off)
{
    size_t len = http_head_len(h);
    char *out = malloc(len + 1);
    ck_assert_ptr_nonnull(out);
    memset(out, '#', len + 1);
    ck_assert_uint_eq(http_head_write(out, h, date_off), len);
    ck_assert_int_eq(out[len], '#');           /* nothing past the length */
    out[len] = '\0';
    return out;
}

static void expect_head(const struct http_head *h, const char *want)
{
    char *got = head(h, NULL);
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(status_line_server_date_length)
{
    struct http_head h = { .status = 200, .date = date, .type = "text/plain", .length = 13 };
    expect_head(&h, "HTTP/1.1 200 OK\r\nServer: herd\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                    "Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n");
}
END_TEST

START_TEST(no_type_zero_length)
{
    struct http_head h = { .status = 404, .date = date, .length = 0 };
    expect_head(&h, "HTTP/1.1 404 Not Found\r\nServer: herd\r\nDate: Sun, 06 Nov 1994 08:49:37 "
                    "GMT\r\nContent-Length: 0\r\n\r\n");
}
END_TEST

/* The framing line for a length: digits of any size, or chunked instead. */
START_TEST(framing_by_length)
{
    static const struct {
        int status;
        int64_t length;
        const char *has, *lacks;
    } cases[] = {
        { 206, 9876543210123LL, "\r\nContent-Length: 9876543210123\r\n", "Transfer-Encoding" },
        { 200, 0, "\r\nContent-Length: 0\r\n", "Transfer-Encoding" },
        { 200, HTTP_LENGTH_CHUNKED, "\r\nTransfer-Encoding: chunked\r\n", "Content-Length" },
        /* A body that ends with the connection: neither. */
        { 200, HTTP_LENGTH_NONE, "\r\nDate: ", "Content-Length" },
        { 200, HTTP_LENGTH_NONE, "\r\nDate: ", "Transfer-Encoding" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_head h = { .status = cases[i].status, .date = date, .length = cases[i].length };
        char *got = head(&h, NULL);
        ck_assert_msg(strstr(got, cases[i].has) != NULL, "case %zu: %s", i, got);
        ck_assert_msg(strstr(got, cases[i].lacks) == NULL, "case %zu: %s", i, got);
        free(got);
    }
}
END_TEST

START_TEST(no_body_statuses_have_no_framing)
{
    static const int statuses[] = { 100, 101, 204, 304 };
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        ck_assert(!http_status_has_body(statuses[i]));
        struct http_head h = { .status = statuses[i], .date = date, .length = 42 };
        char *got = head(&h, NULL);
        ck_assert_ptr_null(strstr(got, "Content-Length"));
        h.length = HTTP_LENGTH_CHUNKED;
        free(got);
        got = head(&h, NULL);
        ck_assert_ptr_null(strstr(got, "Transfer-Encoding"));
        free(got);
    }
    ck_assert(http_status_has_body(200));
    ck_assert(http_status_has_body(206));
    ck_assert(http_status_has_body(404));
}
END_TEST

START_TEST(extra_lines_then_connection)
{
    static const char extra[] = "Location: /x/\r\nX-A: b\r\n";
    struct http_head h = { .status = 301, .date = date, .type = "text/html", .length = 5,
                           .extra = extra, .extra_len = sizeof extra - 1,
                           .conn = HTTP_CONN_CLOSE };
    expect_head(&h, "HTTP/1.1 301 Moved Permanently\r\nServer: herd\r\nDate: Sun, 06 Nov 1994 "
                    "08:49:37 GMT\r\nContent-Type: text/html\r\nContent-Length: 5\r\n"
                    "Location: /x/\r\nX-A: b\r\nConnection: close\r\n\r\n");
}
END_TEST

START_TEST(connection_lines)
{
    struct http_head h = { .status = 200, .date = date, .length = 1 };
    char *none = head(&h, NULL);
    ck_assert_ptr_null(strstr(none, "Connection"));
    h.conn = HTTP_CONN_KEEP_ALIVE;
    char *keep = head(&h, NULL);
    ck_assert_ptr_nonnull(strstr(keep, "\r\nConnection: keep-alive\r\n\r\n"));
    h.conn = HTTP_CONN_CLOSE;
    char *close_ = head(&h, NULL);
    ck_assert_ptr_nonnull(strstr(close_, "\r\nConnection: close\r\n\r\n"));
    h.status = 101;
    h.conn = HTTP_CONN_UPGRADE;
    char *upgrade = head(&h, NULL);
    ck_assert_ptr_nonnull(strstr(upgrade, "\r\nConnection: upgrade\r\n\r\n"));
    free(none);
    free(keep);
    free(close_);
    free(upgrade);
}
END_TEST

/* Fields passed through (a proxied response's) follow the extra lines,
 * written as given, before the Connection line. */
START_TEST(passed_fields_after_extra)
{
    static const char extra[] = "X-Route: a\r\n";
    static const struct http_header fields[] = {
        { "Content-Type", 12, "text/plain", 10 },
        { "set-cookie", 10, "a=1; Path=/", 11 },
        { "X-Empty", 7, "", 0 },
    };
    struct http_head h = { .status = 200, .date = date, .length = 5, .extra = extra,
                           .extra_len = sizeof extra - 1, .fields = fields, .n_fields = 3,
                           .conn = HTTP_CONN_KEEP_ALIVE };
    expect_head(&h, "HTTP/1.1 200 OK\r\nServer: herd\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                    "Content-Length: 5\r\nX-Route: a\r\nContent-Type: text/plain\r\n"
                    "set-cookie: a=1; Path=/\r\nX-Empty: \r\nConnection: keep-alive\r\n\r\n");
    h.status = 304;
    h.n_fields = 1;
    expect_head(&h, "HTTP/1.1 304 Not Modified\r\nServer: herd\r\nDate: Sun, 06 Nov 1994 "
                    "08:49:37 GMT\r\nX-Route: a\r\nContent-Type: text/plain\r\n"
                    "Connection: keep-alive\r\n\r\n");
}
END_TEST

START_TEST(date_offset_and_placeholder)
{
    struct http_head h = { .status = 200, .length = 0 };
    size_t off = 0;
    char *got = head(&h, &off);
    ck_assert_int_eq(strncmp(got + off - 6, "Date: ", 6), 0);
    ck_assert_int_eq(got[off + HTTP_DATE_LEN], '\r');
    h.date = date;
    free(got);
    got = head(&h, &off);
    ck_assert_int_eq(memcmp(got + off, date, HTTP_DATE_LEN), 0);
    free(got);
}
END_TEST

START_TEST(reasons)
{
    ck_assert_str_eq(http_reason(200), "OK");
    ck_assert_str_eq(http_reason(413), "Content Too Large");
    ck_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(http_reason(505), "HTTP Version Not Supported");
    ck_assert_str_eq(http_reason(299), "Unknown");
    struct http_head h = { .status = 299, .date = date, .length = 0 };
    char *got = head(&h, NULL);
    ck_assert_int_eq(strncmp(got, "HTTP/1.1 299 Unknown\r\n", 22), 0);
    free(got);
    h.status = 7;           /* never a malformed status line */
    got = head(&h, NULL);
    ck_assert_int_eq(strncmp(got, "HTTP/1.1 500 Internal Server Error\r\n", 36), 0);
    free(got);
}
END_TEST

/* A fixed response as sent. */
static char *fixed(const struct http_fixed *f, bool with_body, enum http_conn_header ch,
                   const char *d, size_t *len)
{
    *len = http_fixed_size(f, with_body, ch);
    char *out = malloc(*len + 1);
    ck_assert_ptr_nonnull(out);
    http_fixed_copy(out, f, with_body, ch, d);
    out[*len] = '\0';
    return out;
}

START_TEST(fixed_is_the_builders_head_with_date_patched)
{
    struct http_fixed f;
    ck_assert_int_eq(http_fixed_build(&f, 200, "text/plain", "Hello, world!", 13, NULL), 0);
    size_t len;
    char *got = fixed(&f, true, HTTP_CONN_NONE, date, &len);
    ck_assert_str_eq(got, "HTTP/1.1 200 OK\r\nServer: herd\r\nDate: Sun, 06 Nov 1994 08:49:37 "
                          "GMT\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
                          "Hello, world!");
    free(got);
    /* Another second: only the date changes. */
    got = fixed(&f, true, HTTP_CONN_NONE, "Mon, 07 Nov 1994 00:00:00 GMT", &len);
    ck_assert_ptr_nonnull(strstr(got, "\r\nDate: Mon, 07 Nov 1994 00:00:00 GMT\r\n"));
    ck_assert_ptr_null(strstr(got, "1994 08:49:37"));
    free(got);
    http_fixed_free(&f);
}
END_TEST

START_TEST(fixed_head_request_keeps_length_drops_body)
{
    struct http_fixed f;
    ck_assert_int_eq(http_fixed_build(&f, 200, "text/plain", "Hello", 5, NULL), 0);
    size_t len;
    char *got = fixed(&f, false, HTTP_CONN_NONE, date, &len);
    ck_assert_ptr_nonnull(strstr(got, "\r\nContent-Length: 5\r\n\r\n"));
    ck_assert_int_eq(strcmp(got + len - 4, "\r\n\r\n"), 0);
    ck_assert_ptr_null(strstr(got, "Hello"));
    free(got);
    http_fixed_free(&f);
}
END_TEST

START_TEST(fixed_connection_line_before_blank_line)
{
    struct http_fixed f;
    ck_assert_int_eq(http_fixed_build(&f, 302, NULL, NULL, 0, "Location: /y\r\n"), 0);
    size_t len;
    char *got = fixed(&f, true, HTTP_CONN_CLOSE, date, &len);
    ck_assert_ptr_nonnull(strstr(got, "\r\nContent-Length: 0\r\nLocation: /y\r\n"
                                      "Connection: close\r\n\r\n"));
    ck_assert_int_eq(strcmp(got + len - 4, "\r\n\r\n"), 0);
    free(got);
    got = fixed(&f, true, HTTP_CONN_KEEP_ALIVE, date, &len);
    ck_assert_int_eq(strcmp(got + len - 26, "Connection: keep-alive\r\n\r\n"), 0);
    free(got);
    http_fixed_free(&f);
}
END_TEST

START_TEST(fixed_204_and_304_never_carry_a_body)
{
    static const int statuses[] = { 204, 304 };
    for (size_t i = 0; i < 2; i++) {
        struct http_fixed f;
        ck_assert_int_eq(http_fixed_build(&f, statuses[i], "text/plain", "body", 4, NULL), 0);
        ck_assert_uint_eq(f.body_len, 0);
        size_t len;
        char *got = fixed(&f, true, HTTP_CONN_NONE, date, &len);
        ck_assert_ptr_null(strstr(got, "Content-Length"));
        ck_assert_ptr_null(strstr(got, "body"));
        ck_assert_int_eq(strcmp(got + len - 4, "\r\n\r\n"), 0);
        free(got);
        http_fixed_free(&f);
    }
}
END_TEST

START_TEST(error_page)
{
    struct http_fixed f;
    ck_assert_int_eq(http_fixed_build_error(&f, 404), 0);
    ck_assert_int_eq(f.status, 404);
    size_t len;
    char *got = fixed(&f, true, HTTP_CONN_NONE, date, &len);
    ck_assert_int_eq(strncmp(got, "HTTP/1.1 404 Not Found\r\n", 24), 0);
    ck_assert_ptr_nonnull(strstr(got, "Content-Type: text/html\r\n"));
    ck_assert_ptr_nonnull(strstr(got, "\r\n\r\n<!DOCTYPE html>"));
    ck_assert_ptr_nonnull(strstr(got, "<h1>404 Not Found</h1>"));
    free(got);
    http_fixed_free(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_response");
    TCase *t = tcase_create("head");
    tcase_add_test(t, status_line_server_date_length);
    tcase_add_test(t, no_type_zero_length);
    tcase_add_test(t, framing_by_length);
    tcase_add_test(t, no_body_statuses_have_no_framing);
    tcase_add_test(t, extra_lines_then_connection);
    tcase_add_test(t, connection_lines);
    tcase_add_test(t, passed_fields_after_extra);
    tcase_add_test(t, date_offset_and_placeholder);
    tcase_add_test(t, reasons);
    suite_add_tcase(s, t);
    t = tcase_create("fixed");
    tcase_add_test(t, fixed_is_the_builders_head_with_date_patched);
    tcase_add_test(t, fixed_head_request_keeps_length_drops_body);
    tcase_add_test(t, fixed_connection_line_before_blank_line);
    tcase_add_test(t, fixed_204_and_304_never_carry_a_body);
    tcase_add_test(t, error_page);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
