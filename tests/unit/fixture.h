/* Fixtures the unit suites share: a scratch directory, whole-file reads and
 * writes, and the error log captured in memory. Header-only (static inline)
 * so that each suite stays one program. */
#ifndef HERD_TESTS_FIXTURE_H
#define HERD_TESTS_FIXTURE_H

#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/* A fresh directory /tmp/herd-check-NAME-XXXXXX in dir (cap >= 64). */
static inline void fixture_mkdtemp(char *dir, size_t cap, const char *name)
{
    snprintf(dir, cap, "/tmp/herd-check-%s-XXXXXX", name);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static inline int fixture_rm_one(const char *path, const struct stat *sb, int type,
                                 struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Remove dir and everything below it (links themselves, not their targets). */
static inline void fixture_rmtree(const char *dir)
{
    ck_assert_int_eq(nftw(dir, fixture_rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* dir/name into out. */
static inline const char *fixture_path(char *out, size_t cap, const char *dir, const char *name)
{
    ck_assert_int_lt(snprintf(out, cap, "%s/%s", dir, name), (int)cap);
    return out;
}

static inline void fixture_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Everything fd holds from offset 0, NUL-terminated (free it); *len may be
 * NULL. */
static inline char *fixture_read_fd(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    ck_assert_ptr_nonnull(s);
    for (;;) {
        if (cap - n < 2) {
            cap *= 2;
            s = realloc(s, cap);
            ck_assert_ptr_nonnull(s);
        }
        ssize_t r = pread(fd, s + n, cap - n - 1, (off_t)n);
        ck_assert_int_ge(r, 0);
        if (r == 0)
            break;
        n += (size_t)r;
    }
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

static inline char *fixture_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "cannot open %s", path);
    char *s = fixture_read_fd(fd, len);
    close(fd);
    return s;
}

/* The error log goes to a memory file until fixture_log_end(). */
static inline int fixture_log_begin(void)
{
    int fd = memfd_create("herd-check-log", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    log_use_fd(fd);
    return fd;
}

/* What was logged since fixture_log_begin (free it). */
static inline char *fixture_log_text(int fd)
{
    return fixture_read_fd(fd, NULL);
}

/* Back to stderr; this closes the memory file. */
static inline void fixture_log_end(void)
{
    log_use_fd(STDERR_FILENO);
}

/* How many times needle occurs in haystack. */
static inline int fixture_count(const char *haystack, const char *needle)
{
    int n = 0;
    size_t step = strlen(needle);
    for (const char *p = haystack; (p = strstr(p, needle)) != NULL; p += step)
        n++;
    return n;
}

#endif
