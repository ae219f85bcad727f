/* The static handler's machinery: opening beneath a root, validators, the
 * memory cache (revalidation, LRU within its size), conditional requests
 * and ranges. (The handler itself: tests/integration/test_static.py.) */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "http/parse.h"
#include "http/static_cache.h"
#include "http/static_cond.h"
#include "tap.h"

static char dir[128];
static int root = -1;

static void write_file(const char *name, const char *text)
{
    char path[256];
    fixture_write(fixture_path(path, sizeof path, dir, name), text, strlen(text));
}

static void setup(void)
{
    fixture_mkdtemp(dir, sizeof dir, "static");
    char path[256];
    ck_assert_int_eq(mkdir(fixture_path(path, sizeof path, dir, "sub"), 0755), 0);
    write_file("a.txt", "hello\n");
    write_file("sub/b.txt", "bbbb\n");
    ck_assert_int_eq(symlink("/etc/passwd", fixture_path(path, sizeof path, dir, "out")), 0);
    ck_assert_int_eq(symlink("a.txt", fixture_path(path, sizeof path, dir, "in")), 0);
    root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root, 0);
}

static void teardown(void)
{
    close(root);
    fixture_rmtree(dir);
}

/* ------------------------------------------------------------------ */
/* Opening beneath the root */

START_TEST(opens_beneath_the_root)
{
    int fd = static_cache_open(root, "a.txt");
    ck_assert_int_ge(fd, 0);
    close(fd);
    fd = static_cache_open(root, "sub/b.txt");
    ck_assert_int_ge(fd, 0);
    close(fd);
    fd = static_cache_open(root, "");           /* the root itself */
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(static_cache_open(root, "nope"), -ENOENT);
    ck_assert_int_eq(static_cache_open(root, "a.txt/x"), -ENOTDIR);
}
END_TEST

START_TEST(never_leaves_the_root)
{
    int out = static_cache_open(root, "out");   /* a symlink to /etc/passwd */
    ck_assert_msg(out == -EXDEV || out == -ELOOP, "opened %d", out);
    int up = static_cache_open(root, "../etc/passwd");
    ck_assert_msg(up == -EXDEV || up == -ENOENT, "opened %d", up);
    if (up >= 0)
        close(up);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The cache */

static struct static_file describe(const char *name)
{
    int fd = static_cache_open(root, name);
    ck_assert_int_ge(fd, 0);
    struct stat s;
    ck_assert_int_eq(fstat(fd, &s), 0);
    close(fd);
    struct static_file fi;
    static_cache_describe(&fi, &s, "text/plain");
    return fi;
}

START_TEST(validators)
{
    struct static_file fi = describe("a.txt");
    ck_assert_int_eq(fi.size, 6);
    ck_assert_str_eq(fi.type, "text/plain");
    ck_assert_int_eq(fi.etag[0], '"');
    ck_assert_int_eq(fi.etag[strlen(fi.etag) - 1], '"');
    ck_assert_ptr_nonnull(strstr(fi.etag, "-6\""));         /* the size */
    ck_assert_uint_eq(strlen(fi.last_modified), HTTP_DATE_LEN);
    ck_assert_ptr_nonnull(strstr(fi.last_modified, " GMT"));
}
END_TEST

static const struct static_entry *insert(struct static_cache *c, const char *name, int64_t now)
{
    struct static_file fi = describe(name);
    int fd = static_cache_open(root, name);
    const struct static_entry *e = static_cache_insert(c, name, fd, &fi, now);
    close(fd);
    return e;
}

START_TEST(cache_serves_and_revalidates)
{
    struct cfg_cache cfg = { .valid = 1000, .max_file = 100, .size = 1000 };
    struct static_cache c;
    static_cache_init(&c, &cfg, root);
    ck_assert(static_cache_fits(&c, 100));
    ck_assert(!static_cache_fits(&c, 101));
    ck_assert_ptr_null(static_cache_lookup(&c, "a.txt", 0));
    const struct static_entry *e = insert(&c, "a.txt", 0);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(memcmp(e->data, "hello\n", 6), 0);
    ck_assert_ptr_eq(static_cache_lookup(&c, "a.txt", 500), e);
    /* Changed on disk: within cache.valid it is still served, after it the
     * entry is checked and dropped. */
    write_file("a.txt", "changed!\n");
    ck_assert_ptr_eq(static_cache_lookup(&c, "a.txt", 999), e);
    ck_assert_ptr_null(static_cache_lookup(&c, "a.txt", 1000));
    ck_assert_int_eq(c.bytes, 0);
    /* Unchanged: confirmed, kept. */
    e = insert(&c, "a.txt", 2000);
    ck_assert_ptr_eq(static_cache_lookup(&c, "a.txt", 5000), e);
    ck_assert_int_eq(memcmp(e->data, "changed!\n", 9), 0);
    static_cache_clear(&c);
    ck_assert_ptr_null(static_cache_lookup(&c, "a.txt", 5000));
}
END_TEST

START_TEST(cache_evicts_least_recently_used)
{
    struct cfg_cache cfg = { .valid = 1000000, .max_file = 100, .size = 11 };
    struct static_cache c;
    static_cache_init(&c, &cfg, root);
    ck_assert_ptr_nonnull(insert(&c, "a.txt", 0));          /* 6 bytes */
    ck_assert_ptr_nonnull(insert(&c, "sub/b.txt", 0));      /* 5 more: full */
    ck_assert_int_eq(c.bytes, 11);
    ck_assert_ptr_nonnull(static_cache_lookup(&c, "a.txt", 1));  /* a is now the recent one */
    write_file("c.txt", "cc\n");
    ck_assert_ptr_nonnull(insert(&c, "c.txt", 2));          /* b goes */
    ck_assert_ptr_null(static_cache_lookup(&c, "sub/b.txt", 3));
    ck_assert_ptr_nonnull(static_cache_lookup(&c, "a.txt", 3));
    ck_assert_ptr_nonnull(static_cache_lookup(&c, "c.txt", 3));
    ck_assert_int_le(c.bytes, 11);
    static_cache_clear(&c);
    ck_assert_int_eq(c.bytes, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Conditional requests and ranges */

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

static Suite *suite(void)
{
    Suite *s = suite_create("static");
    TCase *t = tcase_create("files");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, opens_beneath_the_root);
    tcase_add_test(t, never_leaves_the_root);
    tcase_add_test(t, validators);
    tcase_add_test(t, cache_serves_and_revalidates);
    tcase_add_test(t, cache_evicts_least_recently_used);
    suite_add_tcase(s, t);
    t = tcase_create("conditional");
    tcase_add_test(t, if_none_match);
    tcase_add_test(t, if_modified_since);
    tcase_add_test(t, ranges);
    tcase_add_test(t, if_range);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
