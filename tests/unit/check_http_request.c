/* Framing checks (src/http/request.c) on requests built by hand, without
 * the parser: keep-alive by version and Connection tokens, Content-Length
 * and Transfer-Encoding with their conflicts, Host and absolute-form
 * authorities, Expect, unknown methods, which refusal wins when several
 * apply, and the reason each one gives. (check_http_parse runs the same
 * function on parsed heads.) */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http/request.h"
#include "tap.h"

#define MAX_FIELDS 8

struct built {
    struct http_request req;
    struct http_header h[MAX_FIELDS];
    char text[512];
};

/* A request with fields "Name: value" separated by newlines. */
static const struct http_request *build(struct built *b, int minor, const char *method,
                                        const char *target, const char *fields)
{
    memset(b, 0, sizeof *b);
    b->req = (struct http_request){ .method = method, .method_len = strlen(method),
                                    .target = target, .target_len = strlen(target),
                                    .minor_version = minor, .headers = b->h };
    snprintf(b->text, sizeof b->text, "%s", fields ? fields : "");
    for (char *line = b->text; fields && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        char *colon = strchr(line, ':');
        ck_assert_ptr_nonnull(colon);
        ck_assert_uint_lt(b->req.num_headers, MAX_FIELDS);
        struct http_header *h = &b->h[b->req.num_headers++];
        h->name = line;
        h->name_len = (size_t)(colon - line);
        h->value = colon + 1 + (colon[1] == ' ');
        h->value_len = strlen(h->value);
        if (!end)
            break;
        line = end + 1;
    }
    return &b->req;
}

enum { NO = 1, YES = 2 };              /* 0: not checked */

struct row {
    int minor;
    const char *method, *target, *fields;
    int status;
    const char *why;
    int keep_alive, chunked, expect;
    long long length;                   /* -1: none; 0: not checked; else length + 1 */
    const char *host;                   /* "-": none */
};

#define REQ(v, m, t, f) .minor = (v), .method = (m), .target = (t), .fields = (f)
#define GET11(f) REQ(1, "GET", "/", (f))
#define GET10(f) REQ(0, "GET", "/", (f))
#define OK .status = 0
#define REFUSED(st, w) .status = (st), .why = (w)

static const struct row rows[] = {
    /* keep-alive */
    { GET11("Host: a"), OK, .keep_alive = YES, .chunked = NO, .expect = NO, .length = -1,
      .host = "a" },
    { GET10(NULL), OK, .keep_alive = NO, .length = -1, .host = "-" },
    { GET10("Connection: keep-alive"), OK, .keep_alive = YES },
    { GET10("Connection: Keep-Alive, close"), OK, .keep_alive = NO },
    { GET10("Connection: keep-alive\nConnection: close"), OK, .keep_alive = NO },
    { GET11("Host: a\nConnection: close"), OK, .keep_alive = NO },
    { GET11("Host: a\nConnection: , ,CLOSE ,"), OK, .keep_alive = NO },
    { GET11("Host: a\nConnection: closed, xclose, upgrade"), OK, .keep_alive = YES },
    { GET11("Host: a\nConnection: keep-alive"), OK, .keep_alive = YES },
    /* Content-Length */
    { REQ(1, "POST", "/p", "Host: a\nContent-Length: 5"), OK, .keep_alive = YES, .chunked = NO,
      .length = 6 },
    { REQ(1, "POST", "/p", "Host: a\ncontent-length: 0"), OK, .keep_alive = YES, .chunked = NO,
      .length = 1 },
    { REQ(1, "POST", "/p", "Host: a\nContent-Length: 5\nContent-Length: 5"),
      REFUSED(400, "several Content-Length fields"), .length = -1 },
    { REQ(1, "POST", "/p", "Host: a\nContent-Length: 5, 5"),
      REFUSED(400, "malformed Content-Length"), .length = -1 },
    { REQ(1, "POST", "/p", "Host: a\nContent-Length: "),
      REFUSED(400, "malformed Content-Length") },
    { REQ(1, "POST", "/p", "Host: a\nContent-Length: 9223372036854775808"),
      REFUSED(400, "malformed Content-Length") },
    /* Transfer-Encoding */
    { REQ(1, "POST", "/p", "Host: a\nTransfer-Encoding: chunked"), OK, .keep_alive = YES,
      .chunked = YES, .length = -1 },
    { REQ(1, "POST", "/p", "Host: a\nTransfer-Encoding: CHUNKED"), OK, .keep_alive = YES,
      .chunked = YES },
    { REQ(1, "POST", "/p", "Host: a\nTransfer-Encoding: gzip, chunked"),
      REFUSED(501, "Transfer-Encoding other than chunked"), .chunked = NO },
    { REQ(1, "POST", "/p", "Host: a\nTransfer-Encoding: chunked, chunked"),
      REFUSED(501, "Transfer-Encoding other than chunked") },
    { REQ(1, "POST", "/p", "Host: a\nTransfer-Encoding: identity"),
      REFUSED(501, "Transfer-Encoding other than chunked") },
    { REQ(1, "POST", "/p", "Host: a\nTransfer-Encoding: chunked\nTransfer-Encoding: chunked"),
      REFUSED(400, "several Transfer-Encoding fields") },
    { REQ(1, "POST", "/p", "Host: a\nContent-Length: 3\nTransfer-Encoding: chunked"),
      REFUSED(400, "Transfer-Encoding with Content-Length") },
    { REQ(0, "POST", "/p", "Transfer-Encoding: chunked"),
      REFUSED(400, "Transfer-Encoding in HTTP/1.0") },
    /* Host */
    { GET11(NULL), REFUSED(400, "no Host field in HTTP/1.1") },
    { GET11("Host: a\nHost: a"), REFUSED(400, "several Host fields") },
    { GET11("Host: a b"), REFUSED(400, "malformed Host") },
    { GET11("Host: example.com:65536"), REFUSED(400, "malformed Host") },
    { GET11("Host: example.com:65535"), OK, .keep_alive = YES, .host = "example.com:65535" },
    { GET11("Host: example.com:"), OK, .keep_alive = YES },
    { GET11("Host: h:8o"), REFUSED(400, "malformed Host") },
    { GET11("Host: "), OK, .keep_alive = YES, .host = "" },
    { GET11("Host: [::1]:8080"), OK, .keep_alive = YES, .host = "[::1]:8080" },
    { GET11("Host: [::1"), REFUSED(400, "malformed Host") },
    { GET11("Host: []"), REFUSED(400, "malformed Host") },
    { GET11("Host: [::1]x"), REFUSED(400, "malformed Host") },
    { GET11("Host: [a/b]"), REFUSED(400, "malformed Host") },
    { GET11("Host: a%41.b"), OK, .keep_alive = YES },
    { GET11("Host: a%4"), REFUSED(400, "malformed Host") },
    { GET11("Host: a%zz"), REFUSED(400, "malformed Host") },
    { GET11("Host: user@h"), REFUSED(400, "malformed Host") },
    { GET10("Host: a/b"), REFUSED(400, "malformed Host") },
    /* absolute-form: its authority takes Host's place */
    { REQ(1, "GET", "http://b.test:81/x", "Host: a"), OK, .keep_alive = YES, .host = "b.test:81" },
    { REQ(1, "GET", "HTTPS://B.test", "Host: a"), OK, .keep_alive = YES, .host = "B.test" },
    { REQ(1, "GET", "http:///x", "Host: a"),
      REFUSED(400, "malformed authority in the request target") },
    { REQ(1, "GET", "http://u@h/", "Host: a"),
      REFUSED(400, "malformed authority in the request target") },
    { REQ(1, "GET", "http://:80/", "Host: a"),
      REFUSED(400, "malformed authority in the request target") },
    { REQ(1, "GET", "http://h:99999/", "Host: a"),
      REFUSED(400, "malformed authority in the request target") },
    { REQ(1, "GET", "http://h/", "Host: a b"), REFUSED(400, "malformed Host") },
    { REQ(1, "GET", "http://h/", NULL), REFUSED(400, "no Host field in HTTP/1.1") },
    { REQ(1, "GET", "ftp://h/", "Host: a"), OK, .keep_alive = YES, .host = "a" },
    /* Expect */
    { GET11("Host: a\nExpect: 100-continue"), OK, .keep_alive = YES, .expect = YES },
    { GET11("Host: a\nExpect: 100-Continue"), OK, .keep_alive = YES, .expect = YES },
    { GET11("Host: a\nExpect: 100-continue, foo"), OK, .keep_alive = YES, .expect = NO },
    { GET10("Expect: 100-continue"), OK, .keep_alive = NO, .expect = NO },
    /* methods, and precedence */
    { REQ(1, "BREW", "/pot", "Host: a"), REFUSED(501, "unknown method"), .keep_alive = YES },
    { REQ(1, "get", "/", "Host: a"), REFUSED(501, "unknown method"), .keep_alive = YES },
    { REQ(1, "BREW", "/pot", "Host: a\nTransfer-Encoding: chunked\nContent-Length: 1"),
      REFUSED(400, "Transfer-Encoding with Content-Length") },
    { REQ(1, "BREW", "/pot", "Host: a\nTransfer-Encoding: gzip"),
      REFUSED(501, "Transfer-Encoding other than chunked") },
    { REQ(1, "POST", "/", "Content-Length: 1\nContent-Length: 2"),
      REFUSED(400, "several Content-Length fields") },
    { REQ(1, "POST", "/", "Host: a\nHost: b\nTransfer-Encoding: x\nTransfer-Encoding: y"),
      REFUSED(400, "several Transfer-Encoding fields") },
};

#define N_ROWS (sizeof rows / sizeof rows[0])

START_TEST(framing_row)
{
    const struct row *r = &rows[_i];
    struct built b;
    const struct http_request *req = build(&b, r->minor, r->method, r->target, r->fields);
    struct http_framing f;
    int st = http_request_check(req, &f);
    const char *what = r->fields ? r->fields : r->target;
    ck_assert_msg(st == r->status, "\"%s\": %d, want %d (%s)", what, st, r->status,
                  f.why ? f.why : "no reason");
    if (r->why != NULL)
        ck_assert_msg(f.why != NULL && strcmp(f.why, r->why) == 0, "\"%s\": why \"%s\"", what,
                      f.why ? f.why : "(null)");
    else
        ck_assert_ptr_null(f.why);
    ck_assert_int_eq(f.method, http_method_from(r->method, strlen(r->method)));
    /* Only an unknown method leaves the framing sound: after any other
     * refusal the connection cannot be kept. */
    if (st != 0 && strcmp(f.why, "unknown method") != 0)
        ck_assert_msg(!f.keep_alive, "\"%s\": kept alive after %d", what, st);
    if (r->keep_alive)
        ck_assert_msg(f.keep_alive == (r->keep_alive == YES), "\"%s\": keep_alive %d", what,
                      f.keep_alive);
    if (r->chunked)
        ck_assert_int_eq(f.chunked, r->chunked == YES);
    if (r->expect)
        ck_assert_int_eq(f.expect_continue, r->expect == YES);
    if (r->length == -1)
        ck_assert(!f.has_length && f.content_length == 0);
    else if (r->length > 0)
        ck_assert(f.has_length && f.content_length == (uint64_t)(r->length - 1));
    if (r->host != NULL && strcmp(r->host, "-") == 0)
        ck_assert_ptr_null(f.host);
    else if (r->host != NULL)
        ck_assert_msg(f.host != NULL && f.host_len == strlen(r->host) &&
                          memcmp(f.host, r->host, f.host_len) == 0,
                      "\"%s\": host \"%.*s\"", what, (int)f.host_len, f.host ? f.host : "");
}
END_TEST

/* Every field of the result is written, whatever it held before. */
START_TEST(result_fully_written)
{
    struct built b;
    struct http_framing f;
    memset(&f, 0xa5, sizeof f);
    ck_assert_int_eq(http_request_check(build(&b, 1, "GET", "/", "Host: h"), &f), 0);
    ck_assert_int_eq(f.method, HTTP_GET);
    ck_assert(!f.has_length && f.content_length == 0 && !f.chunked && f.keep_alive &&
              !f.expect_continue && f.why == NULL);
    ck_assert_uint_eq(f.host_len, 1);
    memset(&f, 0xa5, sizeof f);
    ck_assert_int_eq(http_request_check(build(&b, 1, "GET", "/", NULL), &f), 400);
    ck_assert(!f.has_length && !f.chunked && !f.keep_alive && f.host == NULL);
}
END_TEST

START_TEST(find_header)
{
    struct built b;
    const struct http_request *req =
        build(&b, 1, "GET", "/", "Host: a\nX-Tag: one\nx-tag: two\nX-Tagged: three");
    const struct http_header *h = http_find_header(req, "x-tag");
    ck_assert_ptr_eq(h, &b.h[1]);                   /* the first of two */
    ck_assert_ptr_eq(http_find_header(req, "x-tagged"), &b.h[3]);
    ck_assert_ptr_null(http_find_header(req, "x-ta"));
    ck_assert_ptr_null(http_find_header(req, "accept"));
    ck_assert_ptr_null(http_find_header(NULL, "host"));
}
END_TEST

/* The list walker the proxy and the framing checks share: elements
 * trimmed of OWS, empty ones skipped (RFC 9110 §5.6.1). */
START_TEST(list_elements)
{
    static const struct {
        const char *value, *want;       /* want: the elements joined by '|' */
    } cases[] = {
        { "", "" },
        { " ,\t, ", "" },
        { "a", "a" },
        { "a,b", "a|b" },
        { " a ,\tb\t, ,c", "a|b|c" },
        { ",,x y,,", "x y" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[64] = "";
        const char *p = cases[i].value, *end = p + strlen(p), *e;
        size_t n;
        while (http_list_next(&p, end, &e, &n)) {
            if (got[0])
                strcat(got, "|");
            strncat(got, e, n);
        }
        ck_assert_msg(strcmp(got, cases[i].want) == 0, "\"%s\": \"%s\"", cases[i].value, got);
        ck_assert_ptr_eq(p, end);
    }
}
END_TEST

START_TEST(connection_options)
{
    static const struct {
        const char *value;
        bool close, keep_alive;
    } cases[] = {
        { "close", true, false },
        { "Keep-Alive", false, true },
        { " upgrade , CLOSE", true, false },
        { "keep-alive,close", true, true },
        { "closed, keep-alive-x", false, false },
        { "", false, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_header h = { "Connection", 10, cases[i].value, strlen(cases[i].value) };
        bool close = false, keep = false;
        http_connection_options(&h, &close, &keep);
        ck_assert_msg(close == cases[i].close && keep == cases[i].keep_alive, "\"%s\"",
                      cases[i].value);
    }
    ck_assert(http_token_is("ChUnKeD", 7, "chunked"));
    ck_assert(!http_token_is("chunke", 6, "chunked"));
    ck_assert(!http_token_is("chunkedx", 8, "chunked"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_request");
    TCase *tc = tcase_create("framing");
    tcase_add_loop_test(tc, framing_row, 0, (int)N_ROWS);
    tcase_add_test(tc, result_fully_written);
    tcase_add_test(tc, find_header);
    tcase_add_test(tc, list_elements);
    tcase_add_test(tc, connection_options);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
