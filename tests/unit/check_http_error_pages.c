/* Error pages (src/http/error_pages.c): herd's built-in page for each
 * status it answers with, a server's own pages read whole from files
 * (any bytes, any size, empty), the 400 page for a status without one,
 * and a page that cannot be read. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http/error_pages.h"
#include "http/response.h"
#include "fixture.h"
#include "tap.h"

static const int statuses[HTTP_ERROR_PAGES] = { 400, 403, 404, 405, 408, 413, 414, 416,
                                                421, 429, 431, 500, 501, 502, 503, 504,
                                                505 };

static char dir[128];
static char err[512];

static void setup(void)
{
    fixture_mkdtemp(dir, sizeof dir, "errpages");
    err[0] = '\0';
}

static void teardown(void)
{
    fixture_rmtree(dir);
}

/* The server's configuration: error_pages only. */
struct server {
    struct cfg_http cfg;
    struct cfg_error_page pages[HTTP_ERROR_PAGES];
    char files[HTTP_ERROR_PAGES][256];
};

/* Page for status from a file holding body[0..len). */
static void add_page(struct server *s, int status, const char *body, size_t len)
{
    size_t i = s->cfg.n_error_pages++;
    snprintf(s->files[i], sizeof s->files[i], "%s/%d.html", dir, status);
    fixture_write(s->files[i], body, len);
    s->pages[i] = (struct cfg_error_page){ .status = status, .file = s->files[i] };
    s->cfg.error_pages = s->pages;
}

/* head has the status line for status and "Content-Length: len". */
static void check_head(const struct http_fixed *f, int status, size_t len)
{
    char line[64], cl[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
    snprintf(cl, sizeof cl, "\r\nContent-Length: %zu\r\n", len);
    ck_assert_int_eq(f->status, status);
    ck_assert_msg(f->head_len >= strlen(line) && memcmp(f->head, line, strlen(line)) == 0,
                  "%d: head \"%.*s\"", status, (int)f->head_len, f->head);
    ck_assert_msg(memmem(f->head, f->head_len, cl, strlen(cl)) != NULL, "%d: no \"%s\"", status, cl);
    ck_assert_ptr_nonnull(memmem(f->head, f->head_len, "Content-Type: text/html", 23));
    ck_assert_uint_eq(f->body_len, len);
}

START_TEST(builtin_pages)
{
    struct server s = { 0 };
    struct http_error_pages e;
    ck_assert_int_eq(http_error_pages_build(&e, &s.cfg, err, sizeof err), 0);
    for (size_t i = 0; i < HTTP_ERROR_PAGES; i++) {
        const struct http_fixed *f = http_error_page(&e, statuses[i]);
        check_head(f, statuses[i], f->body_len);
        char title[80];
        snprintf(title, sizeof title, "<title>%d %s</title>", statuses[i],
                 http_reason(statuses[i]));
        ck_assert_msg(memmem(f->body, f->body_len, title, strlen(title)) != NULL, "%d",
                      statuses[i]);
    }
    /* No page of its own: the 400 page. */
    static const int others[] = { 200, 302, 418, 506, 0, -1 };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        ck_assert_ptr_eq(http_error_page(&e, others[i]), http_error_page(&e, 400));
    http_error_pages_free(&e);
}
END_TEST

/* A server's page is the file's bytes exactly, NULs and all; the others
 * stay built in. */
START_TEST(own_pages)
{
    struct server s = { 0 };
    static const char binary[] = "<h1>gone</h1>\0\r\n\xff\x01 end";
    add_page(&s, 404, binary, sizeof binary - 1);
    add_page(&s, 500, "", 0);
    size_t big_len = 100000;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('A' + i % 23);
    add_page(&s, 413, big, big_len);
    struct http_error_pages e;
    ck_assert_msg(http_error_pages_build(&e, &s.cfg, err, sizeof err) == 0, "%s", err);
    const struct http_fixed *f = http_error_page(&e, 404);
    check_head(f, 404, sizeof binary - 1);
    ck_assert_int_eq(memcmp(f->body, binary, sizeof binary - 1), 0);
    check_head(http_error_page(&e, 500), 500, 0);
    f = http_error_page(&e, 413);
    check_head(f, 413, big_len);
    ck_assert_int_eq(memcmp(f->body, big, big_len), 0);
    f = http_error_page(&e, 403);
    ck_assert_ptr_nonnull(memmem(f->body, f->body_len, "403 Forbidden", 13));
    http_error_pages_free(&e);
    free(big);
}
END_TEST

/* Every status with a page of its own, each getting its own. */
START_TEST(every_status_own_page)
{
    struct server s = { 0 };
    char body[64];
    for (size_t i = 0; i < HTTP_ERROR_PAGES; i++) {
        int n = snprintf(body, sizeof body, "page for %d\n", statuses[HTTP_ERROR_PAGES - 1 - i]);
        add_page(&s, statuses[HTTP_ERROR_PAGES - 1 - i], body, (size_t)n);
    }
    struct http_error_pages e;
    ck_assert_int_eq(http_error_pages_build(&e, &s.cfg, err, sizeof err), 0);
    for (size_t i = 0; i < HTTP_ERROR_PAGES; i++) {
        const struct http_fixed *f = http_error_page(&e, statuses[i]);
        int n = snprintf(body, sizeof body, "page for %d\n", statuses[i]);
        check_head(f, statuses[i], (size_t)n);
        ck_assert_int_eq(memcmp(f->body, body, (size_t)n), 0);
    }
    http_error_pages_free(&e);
}
END_TEST

/* A page removed since the configuration was checked: the reason names
 * the file; what was built so far is freed by the usual call. */
START_TEST(unreadable_page)
{
    struct server s = { 0 };
    add_page(&s, 400, "x", 1);
    add_page(&s, 505, "y", 1);
    ck_assert_int_eq(remove(s.files[1]), 0);
    struct http_error_pages e;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(http_error_pages_build(&e, &s.cfg, err, sizeof err), -1);
    char want[400];
    snprintf(want, sizeof want, "error page %s: No such file or directory", s.files[1]);
    ck_assert_str_eq(err, want);
    http_error_pages_free(&e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_error_pages");
    TCase *tc = tcase_create("pages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, builtin_pages);
    tcase_add_test(tc, own_pages);
    tcase_add_test(tc, every_status_own_page);
    tcase_add_test(tc, unreadable_page);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
