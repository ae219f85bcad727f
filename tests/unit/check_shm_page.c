/* Shared pages (src/shm_page.c): made, named in the environment for a new
 * master, found there again with the same bytes; a page of another size, a
 * number that is not a descriptor and no variable at all are told apart. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm_page.h"
#include "tap.h"

#define ENV "HERD_TEST_SHM_FD"
#define SIZE 8192

START_TEST(passed_on_and_inherited)
{
    int fd = -1;
    char *p = shm_page_create("herd-test", SIZE, &fd);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(p[0], 0);
    ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    memcpy(p, "counters", 9);
    ck_assert_int_eq(shm_page_pass_on(fd, ENV, 100), 0);
    int copy = atoi(getenv(ENV));
    ck_assert_int_ge(copy, 100);
    ck_assert_int_eq(fcntl(copy, F_GETFD) & FD_CLOEXEC, 0);     /* survives exec */

    int got = -1;
    bool offered = false;
    char *q = shm_page_inherit(ENV, SIZE, &got, &offered);
    ck_assert_ptr_nonnull(q);
    ck_assert(offered);
    ck_assert_int_eq(got, copy);
    ck_assert_ptr_null(getenv(ENV));
    ck_assert_str_eq(q, "counters");
    q[0] = 'C';                                 /* one page, two mappings */
    ck_assert_int_eq(p[0], 'C');
    ck_assert_int_eq(fcntl(got, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    munmap(q, SIZE);
    munmap(p, SIZE);
    close(got);
    close(fd);
}
END_TEST

START_TEST(another_size_is_refused_and_closed)
{
    int fd = -1;
    char *p = shm_page_create("herd-test", SIZE, &fd);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(shm_page_pass_on(fd, ENV, 100), 0);
    int copy = atoi(getenv(ENV));
    int got = 5;
    bool offered = false;
    ck_assert_ptr_null(shm_page_inherit(ENV, SIZE * 2, &got, &offered));
    ck_assert(offered);
    ck_assert_int_eq(got, -1);
    ck_assert_int_eq(fcntl(copy, F_GETFD), -1);     /* closed */
    ck_assert_int_eq(errno, EBADF);
    munmap(p, SIZE);
    close(fd);
}
END_TEST

START_TEST(absent_or_not_a_page)
{
    int got = 5;
    bool offered = true;
    unsetenv(ENV);
    ck_assert_ptr_null(shm_page_inherit(ENV, SIZE, &got, &offered));
    ck_assert(!offered);
    ck_assert_int_eq(got, -1);
    /* A number that is no page file (standard input, a pipe) is left open. */
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    char num[16];
    snprintf(num, sizeof num, "%d", pipefd[0]);
    setenv(ENV, num, 1);
    ck_assert_ptr_null(shm_page_inherit(ENV, SIZE, &got, &offered));
    ck_assert(offered);
    ck_assert_int_ge(fcntl(pipefd[0], F_GETFD), 0);
    setenv(ENV, "x12", 1);
    ck_assert_ptr_null(shm_page_inherit(ENV, SIZE, &got, &offered));
    ck_assert(offered);
    close(pipefd[0]);
    close(pipefd[1]);
    ck_assert_int_eq(shm_page_pass_on(-1, ENV, 100), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shm_page");
    TCase *tc = tcase_create("page");
    tcase_add_test(tc, passed_on_and_inherited);
    tcase_add_test(tc, another_size_is_refused_and_closed);
    tcase_add_test(tc, absent_or_not_a_page);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
