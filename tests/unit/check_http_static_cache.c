/* The file side of the static handler (static_cache.c): opening beneath a
 * root, a file's validators, and the memory cache (revalidation by stat
 * after cache.valid, what may be cached, LRU within its size). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "http/static_cache.h"
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

/* Same size, same second: the nanoseconds still change the ETag, so a
 * quick rewrite does not keep a strong validator. Last-Modified is the
 * mtime as an HTTP date. */
static void set_mtime(const char *name, time_t sec, long nsec)
{
    char path[256];
    struct timespec ts[2] = { { .tv_sec = sec, .tv_nsec = nsec },
                              { .tv_sec = sec, .tv_nsec = nsec } };
    ck_assert_int_eq(utimensat(AT_FDCWD, fixture_path(path, sizeof path, dir, name), ts, 0), 0);
}

START_TEST(validators_follow_the_mtime)
{
    set_mtime("a.txt", 784111777, 100);
    struct static_file a = describe("a.txt");
    ck_assert_str_eq(a.last_modified, "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_int_eq(a.mtime.tv_sec, 784111777);
    set_mtime("a.txt", 784111777, 200);
    struct static_file b = describe("a.txt");
    ck_assert_str_eq(b.last_modified, a.last_modified);
    ck_assert_str_ne(b.etag, a.etag);
    ck_assert_str_eq(describe("a.txt").etag, b.etag);       /* stable while unchanged */
}
END_TEST

START_TEST(what_fits)
{
    struct static_cache c;
    struct cfg_cache only_empty = { .valid = 1000, .max_file = 0, .size = 100 };
    static_cache_init(&c, &only_empty, root);
    ck_assert(static_cache_fits(&c, 0));
    ck_assert(!static_cache_fits(&c, 1));
    struct cfg_cache none = { .valid = 1000, .max_file = 100, .size = 0 };
    static_cache_init(&c, &none, root);
    ck_assert(!static_cache_fits(&c, 0));           /* size 0: no cache at all */
    write_file("empty", "");
    struct cfg_cache some = { .valid = 1000, .max_file = 10, .size = 100 };
    static_cache_init(&c, &some, root);
    const struct static_entry *e = insert(&c, "empty", 0);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->info.size, 0);
    ck_assert_ptr_eq(static_cache_lookup(&c, "empty", 1), e);
    static_cache_clear(&c);
}
END_TEST

/* An entry is dropped when its file is gone, or is another file now
 * (renamed over it: the same size and times, another inode). The root
 * stays open: it is the caller's. */
START_TEST(gone_or_replaced_files_dropped)
{
    struct cfg_cache cfg = { .valid = 10, .max_file = 100, .size = 1000 };
    struct static_cache c;
    static_cache_init(&c, &cfg, root);
    ck_assert_ptr_nonnull(insert(&c, "sub/b.txt", 0));
    char path[256], other[256];
    ck_assert_int_eq(unlink(fixture_path(path, sizeof path, dir, "sub/b.txt")), 0);
    ck_assert_ptr_null(static_cache_lookup(&c, "sub/b.txt", 10));
    ck_assert_int_eq(c.bytes, 0);

    set_mtime("a.txt", 784111777, 0);
    ck_assert_ptr_nonnull(insert(&c, "a.txt", 0));
    write_file("a2.txt", "hello\n");
    set_mtime("a2.txt", 784111777, 0);
    ck_assert_int_eq(rename(fixture_path(other, sizeof other, dir, "a2.txt"),
                            fixture_path(path, sizeof path, dir, "a.txt")), 0);
    ck_assert_ptr_null(static_cache_lookup(&c, "a.txt", 10));
    static_cache_clear(&c);
    ck_assert_int_eq(fcntl(root, F_GETFD) >= 0, 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_static_cache");
    TCase *t = tcase_create("files");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, opens_beneath_the_root);
    tcase_add_test(t, never_leaves_the_root);
    tcase_add_test(t, validators);
    tcase_add_test(t, validators_follow_the_mtime);
    tcase_add_test(t, cache_serves_and_revalidates);
    tcase_add_test(t, cache_evicts_least_recently_used);
    tcase_add_test(t, what_fits);
    tcase_add_test(t, gone_or_replaced_files_dropped);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
