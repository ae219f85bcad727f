/* The pid file in a private directory: missing directories created, the
 * lock, a second master refused with the holder's pid in the message (in
 * this process and from another one), the binary upgrade's rename to
 * PATH.oldbin and back, and removal of only the file that is still ours. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master/pidfile.h"
#include "tap.h"

static char dir[64];
static char path[200], oldbin[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_pidfile.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/run/herd/herd.pid", dir);
    snprintf(oldbin, sizeof oldbin, "%s.oldbin", path);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void read_file(const char *p, char *out, size_t cap)
{
    int fd = open(p, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ssize_t n = read(fd, out, cap - 1);
    ck_assert_int_ge(n, 0);
    out[n] = '\0';
    close(fd);
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

START_TEST(creates_missing_directories_and_writes_the_pid)
{
    struct pidfile pf = PIDFILE_INIT;
    char err[512] = "", text[64];
    ck_assert_msg(pidfile_lock(&pf, path, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(pidfile_write(&pf, 4242, err, sizeof err), 0);
    read_file(path, text, sizeof text);
    ck_assert_str_eq(text, "4242\n");
    /* A shorter pid replaces the whole content. */
    ck_assert_int_eq(pidfile_write(&pf, 7, err, sizeof err), 0);
    read_file(path, text, sizeof text);
    ck_assert_str_eq(text, "7\n");
    ck_assert(pidfile_is_ours(&pf, path));
    pidfile_remove(&pf);
    ck_assert(!exists(path));
    ck_assert_int_eq(pf.fd, -1);
}
END_TEST

START_TEST(second_lock_is_refused_with_the_holders_pid)
{
    struct pidfile a = PIDFILE_INIT, b = PIDFILE_INIT;
    char err[512], want[600];
    ck_assert_int_eq(pidfile_lock(&a, path, err, sizeof err), 0);
    ck_assert_int_eq(pidfile_write(&a, 1234, err, sizeof err), 0);
    ck_assert_int_eq(pidfile_lock(&b, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "another herd master (pid 1234) is running with pid file %s",
             path);
    ck_assert_str_eq(err, want);
    ck_assert_int_eq(b.fd, -1);
    /* The refused one removes nothing; once the holder is gone it may lock. */
    pidfile_remove(&b);
    ck_assert(exists(path));
    pidfile_remove(&a);
    ck_assert_int_eq(pidfile_lock(&b, path, err, sizeof err), 0);
    pidfile_remove(&b);
}
END_TEST

START_TEST(another_process_holding_it_is_named)
{
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        struct pidfile pf = PIDFILE_INIT;
        char err[512];
        if (pidfile_lock(&pf, path, err, sizeof err) < 0 ||
            pidfile_write(&pf, getpid(), err, sizeof err) < 0)
            _exit(1);
        ssize_t unused = write(ready[1], "x", 1);
        (void)unused;
        pause();
        _exit(0);
    }
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    struct pidfile pf = PIDFILE_INIT;
    char err[512], want[64];
    ck_assert_int_eq(pidfile_lock(&pf, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "(pid %d)", (int)child);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    /* The lock dies with its holder (a crashed master leaves a stale file). */
    ck_assert_msg(pidfile_lock(&pf, path, err, sizeof err) == 0, "%s", err);
    pidfile_remove(&pf);
    close(ready[0]);
    close(ready[1]);
}
END_TEST

START_TEST(oldbin_rename_and_back)
{
    struct pidfile old = PIDFILE_INIT, fresh = PIDFILE_INIT;
    char err[512], text[64], name[300];
    ck_assert_int_eq(pidfile_lock(&old, path, err, sizeof err), 0);
    ck_assert_int_eq(pidfile_write(&old, 100, err, sizeof err), 0);
    pidfile_oldbin_path(&old, name, sizeof name);
    ck_assert_str_eq(name, oldbin);

    ck_assert_int_eq(pidfile_to_oldbin(&old, err, sizeof err), 0);
    ck_assert(!exists(path));
    read_file(oldbin, text, sizeof text);
    ck_assert_str_eq(text, "100\n");
    ck_assert(pidfile_is_ours(&old, oldbin));

    /* The new master takes PATH; the old one still holds PATH.oldbin. */
    ck_assert_int_eq(pidfile_lock(&fresh, path, err, sizeof err), 0);
    ck_assert_int_eq(pidfile_write(&fresh, 200, err, sizeof err), 0);
    ck_assert(!pidfile_is_ours(&old, path));

    /* The new master goes away (removing its own file): the old takes
     * PATH back. */
    pidfile_remove(&fresh);
    ck_assert(!exists(path));
    ck_assert(exists(oldbin));
    ck_assert_int_eq(pidfile_from_oldbin(&old, err, sizeof err), 0);
    ck_assert(!exists(oldbin));
    read_file(path, text, sizeof text);
    ck_assert_str_eq(text, "100\n");
    ck_assert(pidfile_is_ours(&old, path));
    /* Nothing to take back is no error. */
    ck_assert_int_eq(pidfile_from_oldbin(&old, err, sizeof err), 0);
    ck_assert(exists(path));
    pidfile_remove(&old);
}
END_TEST

START_TEST(remove_leaves_a_file_that_is_not_ours)
{
    struct pidfile old = PIDFILE_INIT, fresh = PIDFILE_INIT;
    char err[512];
    ck_assert_int_eq(pidfile_lock(&old, path, err, sizeof err), 0);
    ck_assert_int_eq(pidfile_to_oldbin(&old, err, sizeof err), 0);
    ck_assert_int_eq(pidfile_lock(&fresh, path, err, sizeof err), 0);
    /* After an upgrade the old master removes PATH.oldbin, not PATH. */
    pidfile_remove(&old);
    ck_assert(!exists(oldbin));
    ck_assert(exists(path));
    ck_assert(pidfile_is_ours(&fresh, path));

    /* PATH.oldbin that is not ours is neither taken back nor removed. */
    int fd = open(oldbin, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(unlink(path), 0);      /* someone else removed it */
    ck_assert_int_eq(pidfile_from_oldbin(&fresh, err, sizeof err), 0);
    ck_assert(!exists(path));
    pidfile_remove(&fresh);
    ck_assert(exists(oldbin));
}
END_TEST

START_TEST(errors_name_the_file_and_the_cause)
{
    struct pidfile pf = PIDFILE_INIT;
    char err[512], bad[300];
    /* A path below a regular file cannot be created. */
    snprintf(bad, sizeof bad, "%s/file", dir);
    int fd = open(bad, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(bad, sizeof bad, "%s/file/herd.pid", dir);
    ck_assert_int_eq(pidfile_lock(&pf, bad, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot open pid file ") && strstr(err, bad) &&
                  strstr(err, strerror(ENOTDIR)), "%s", err);
    ck_assert_int_eq(pf.fd, -1);
    /* Renaming fails when the file went away. */
    ck_assert_int_eq(pidfile_lock(&pf, path, err, sizeof err), 0);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(pidfile_to_oldbin(&pf, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "cannot rename ") && strstr(err, strerror(ENOENT)), "%s", err);
    pidfile_remove(&pf);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pidfile");
    TCase *tc = tcase_create("pidfile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, creates_missing_directories_and_writes_the_pid);
    tcase_add_test(tc, second_lock_is_refused_with_the_holders_pid);
    tcase_add_test(tc, another_process_holding_it_is_named);
    tcase_add_test(tc, oldbin_rename_and_back);
    tcase_add_test(tc, remove_leaves_a_file_that_is_not_ours);
    tcase_add_test(tc, errors_name_the_file_and_the_cause);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
