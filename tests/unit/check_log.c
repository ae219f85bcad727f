/* The error log (src/log.c): how a log file is opened (never through a
 * link, never a FIFO, 0640, the directory's group when root), where lines
 * go, their form, levels and the echo to stderr while herd starts. Check
 * runs each case in its own process, so the log's global state and stderr
 * may be changed freely. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "fixture.h"
#include "tap.h"

static char dir[128];
static char err[512];

static void setup(void)
{
    fixture_mkdtemp(dir, sizeof dir, "log");
    err[0] = '\0';
}

static void teardown(void)
{
    fixture_rmtree(dir);
}

static const char *in_dir(const char *name)
{
    static char path[2][256];
    static int turn;
    turn ^= 1;
    return fixture_path(path[turn], sizeof path[turn], dir, name);
}

static void assert_refused(const char *path, const char *reason)
{
    int fd = log_file_open(path, err, sizeof err);
    ck_assert_msg(fd == -1, "%s opened as fd %d", path, fd);
    char want[512];
    snprintf(want, sizeof want, "cannot open log file %s: %s", path, reason);
    ck_assert_msg(strstr(err, want) == err, "\"%s\", want \"%s...\"", err, want);
}

/* ------------------------------------------------------------------ */
/* log_file_open */

START_TEST(new_file_is_0640)
{
    umask(0);                           /* the mode is herd's own choice */
    const char *path = in_dir("error.log");
    int fd = log_file_open(path, err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    ck_assert_int_eq(sb.st_mode & 07777, 0640);
    close(fd);
}
END_TEST

/* Appending, never truncating; blocking and close-on-exec. */
START_TEST(existing_file_is_appended)
{
    const char *path = in_dir("error.log");
    fixture_write(path, "old\n", 4);
    chmod(path, 0600);
    int fd = log_file_open(path, err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(write(fd, "new\n", 4), 4);
    char *text = fixture_read_file(path, NULL);
    ck_assert_str_eq(text, "old\nnew\n");
    free(text);
    int fl = fcntl(fd, F_GETFL);
    ck_assert(fl & O_APPEND);
    ck_assert(!(fl & O_NONBLOCK));
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    struct stat sb;
    ck_assert_int_eq(fstat(fd, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 07777, 0600);     /* an existing file keeps its mode */
    close(fd);
}
END_TEST

/* Whoever can write to the log directory cannot make the root master
 * append to another file, nor create one elsewhere. */
START_TEST(symbolic_link_refused)
{
    const char *target = in_dir("precious");
    fixture_write(target, "keep\n", 5);
    ck_assert_int_eq(symlink(target, in_dir("error.log")), 0);
    assert_refused(in_dir("error.log"), "it is a symbolic link");
    char *text = fixture_read_file(target, NULL);
    ck_assert_str_eq(text, "keep\n");
    free(text);

    ck_assert_int_eq(symlink(in_dir("nowhere"), in_dir("dangling.log")), 0);
    assert_refused(in_dir("dangling.log"), "it is a symbolic link");
    ck_assert_int_eq(access(in_dir("nowhere"), F_OK), -1);
}
END_TEST

/* A FIFO would block the master (no reader) or fill up: refused at once
 * either way. */
START_TEST(fifo_refused)
{
    const char *path = in_dir("fifo.log");
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    int fd = log_file_open(path, err, sizeof err);
    ck_assert_int_eq(fd, -1);
    ck_assert_msg(strncmp(err, "cannot open log file ", 21) == 0, "%s", err);

    int reader = open(path, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(reader, 0);
    assert_refused(path, "not a regular file");
    close(reader);
}
END_TEST

START_TEST(directory_and_missing_refused)
{
    assert_refused(dir, strerror(EISDIR));
    assert_refused(in_dir("no/such.log"), strerror(ENOENT));
}
END_TEST

START_TEST(character_device_accepted)
{
    int fd = log_file_open("/dev/null", err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    ck_assert(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    close(fd);
}
END_TEST

/* Root gives a new log its directory's group (logrotate's "create 0640 root
 * adm"); an existing log keeps its own, and nobody else chooses a group. */
START_TEST(directory_group)
{
    const gid_t group = 4242;
    const char *sub = in_dir("logs");
    ck_assert_int_eq(mkdir(sub, 0777), 0);
    ck_assert_int_eq(chmod(sub, 0777), 0);
    char path[300], old[300];
    snprintf(path, sizeof path, "%s/new.log", sub);
    snprintf(old, sizeof old, "%s/old.log", sub);
    fixture_write(old, "", 0);
    struct stat sb;
    ck_assert_int_eq(stat(old, &sb), 0);
    gid_t old_gid = sb.st_gid;
    if (geteuid() == 0)
        ck_assert_int_eq(chown(sub, (uid_t)-1, group), 0);

    int fd = log_file_open(path, err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    ck_assert_int_eq(fstat(fd, &sb), 0);
    ck_assert_int_eq(sb.st_gid, geteuid() == 0 ? group : getegid());
    close(fd);
    fd = log_file_open(old, err, sizeof err);
    ck_assert_int_eq(fstat(fd, &sb), 0);
    ck_assert_int_eq(sb.st_gid, old_gid);
    close(fd);

    /* Not root: the kernel's choice stands, and no chown is tried (it
     * would fail and warn). */
    if (geteuid() == 0) {
        snprintf(path, sizeof path, "%s/user.log", sub);
        ck_assert_int_eq(chmod(dir, 0711), 0);
        int log = fixture_log_begin();
        ck_assert_int_eq(seteuid(65534), 0);
        fd = log_file_open(path, err, sizeof err);
        ck_assert_int_eq(seteuid(0), 0);
        ck_assert_msg(fd >= 0, "%s", err);
        char *said = fixture_log_text(log);
        fixture_log_end();
        ck_assert_msg(said[0] == '\0', "a user's open logged \"%s\"", said);
        free(said);
        ck_assert_int_eq(fstat(fd, &sb), 0);
        ck_assert_int_eq(sb.st_gid, getegid());
        close(fd);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Where messages go */

START_TEST(open_switches_and_keeps_on_failure)
{
    const char *a = in_dir("a.log");
    ck_assert_int_eq(log_open(a, err, sizeof err), 0);
    int fd_a = log_fd();
    ck_assert_int_gt(fd_a, STDERR_FILENO);
    ck_assert_int_eq(log_open(in_dir("missing/b.log"), err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "missing/b.log"));
    ck_assert_int_eq(log_fd(), fd_a);           /* the old target stays */
    log_error("still here");
    char *text = fixture_read_file(a, NULL);
    ck_assert_ptr_nonnull(strstr(text, "still here"));
    free(text);

    ck_assert_int_eq(log_open("stderr", err, sizeof err), 0);
    ck_assert_int_eq(log_fd(), STDERR_FILENO);
    ck_assert_int_eq(fcntl(fd_a, F_GETFD), -1);  /* the file was closed */
    ck_assert_int_eq(log_open(a, err, sizeof err), 0);
    ck_assert_int_eq(log_open(NULL, err, sizeof err), 0);
    ck_assert_int_eq(log_fd(), STDERR_FILENO);
}
END_TEST

/* Handing over the descriptor already in use must not close it. */
START_TEST(use_same_fd_keeps_it)
{
    int fd = fixture_log_begin();
    log_use_fd(fd);
    ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
    log_info("after");
    char *text = fixture_log_text(fd);
    ck_assert_ptr_nonnull(strstr(text, "after"));
    free(text);
    fixture_log_end();
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
}
END_TEST

START_TEST(level_names)
{
    static const char *const names[] = { "error", "warn", "info", "debug" };
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(log_level_from(names[i]), i);
        ck_assert_str_eq(log_level_name((enum log_level)i), names[i]);
    }
    static const char *const bad[] = { "", "ERROR", "warning", "Info", "debug ", "trace" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(log_level_from(bad[i]) == -1, "\"%s\"", bad[i]);
}
END_TEST

static int evaluated;

static int side_effect(void)
{
    return ++evaluated;
}

/* Each level lets through itself and the more severe ones; a debug line
 * below the threshold costs not even its arguments. */
START_TEST(threshold)
{
    int fd = fixture_log_begin();
    log_set_level(LOG_WARN);
    ck_assert_int_eq(log_get_level(), LOG_WARN);
    log_error("e1");
    log_warn("w1");
    log_info("i1");
    log_debug("d1 %d", side_effect());
    ck_assert_int_eq(evaluated, 0);
    log_set_level(LOG_DEBUG);
    log_info("i2");
    log_debug("d2 %d", side_effect());
    ck_assert_int_eq(evaluated, 1);
    log_set_level(LOG_ERROR);
    log_warn("w3");
    log_error("e3");
    char *text = fixture_log_text(fd);
    fixture_log_end();
    ck_assert_int_eq(fixture_count(text, "\n"), 5);
    ck_assert_ptr_nonnull(strstr(text, "[error] "));
    ck_assert_ptr_nonnull(strstr(text, "[warn] "));
    ck_assert_ptr_nonnull(strstr(text, "[debug] "));
    ck_assert_ptr_nonnull(strstr(text, ": d2 1\n"));
    ck_assert_ptr_null(strstr(text, "i1"));
    ck_assert_ptr_null(strstr(text, "d1"));
    ck_assert_ptr_null(strstr(text, "w3"));
    ck_assert_ptr_nonnull(strstr(text, "e3"));
    free(text);
}
END_TEST

/* A budget lets per_second lines through in a second, counts the rest and
 * reports them when the second is over: on the next line, or on the tick. */
START_TEST(budget_counts_and_reports)
{
    int fd = fixture_log_begin();
    log_set_level(LOG_INFO);
    struct log_budget b = LOG_BUDGET("floods", "lines not logged", LOG_INFO, 3);
    int allowed = 0;
    for (int i = 0; i < 8; i++)
        allowed += log_budget_take(&b, 5000 + i);
    ck_assert_int_eq(allowed, 3);
    log_budget_tick(&b, 5999);              /* the second is not over */
    log_budget_tick(&b, 6000);
    log_budget_tick(&b, 6001);              /* reported once */
    ck_assert(log_budget_take(&b, 6002));
    log_budget_take(&b, 6003);
    log_budget_take(&b, 6004);
    ck_assert(!log_budget_take(&b, 6005));
    ck_assert(log_budget_take(&b, 7100));   /* a new second: the count first */
    char *text = fixture_log_text(fd);
    fixture_log_end();
    ck_assert_int_eq(fixture_count(text, "\n"), 2);
    ck_assert_ptr_nonnull(strstr(text, "[info] "));
    ck_assert_ptr_nonnull(strstr(text, ": floods: 5 more lines not logged "
                                       "(at most 3 a second per worker)\n"));
    ck_assert_ptr_nonnull(strstr(text, ": floods: 1 more lines not logged "));
    free(text);
}
END_TEST

/* A level that is not logged spends nothing and reports nothing; a clock
 * that went back starts a new second. */
START_TEST(budget_level_off_and_clock_back)
{
    int fd = fixture_log_begin();
    log_set_level(LOG_WARN);
    struct log_budget b = LOG_BUDGET("floods", "lines not logged", LOG_INFO, 1);
    for (int i = 0; i < 5; i++)
        ck_assert(!log_budget_take(&b, 1000 + i));
    ck_assert_int_eq(b.suppressed, 0);
    log_set_level(LOG_INFO);
    ck_assert(log_budget_take(&b, 2000));
    ck_assert(!log_budget_take(&b, 2001));
    ck_assert(log_budget_take(&b, 1500));   /* earlier than the second's start */
    char *text = fixture_log_text(fd);
    fixture_log_end();
    ck_assert_int_eq(fixture_count(text, "\n"), 1);
    ck_assert_ptr_nonnull(strstr(text, "floods: 1 more lines not logged"));
    free(text);
}
END_TEST

/* "2024/05/01 12:00:00 [warn] 1234: message", one write per line. */
START_TEST(line_form)
{
    int fd = fixture_log_begin();
    log_warn("disk %s at %d%%", "full", 99);
    char *text = fixture_log_text(fd);
    fixture_log_end();
    char pattern[160];
    snprintf(pattern, sizeof pattern,
             "^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \\[warn\\] %d: "
             "disk full at 99%%\n$", (int)getpid());
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    ck_assert_msg(regexec(&re, text, 0, NULL, 0) == 0, "line \"%s\"", text);
    regfree(&re);
    free(text);
}
END_TEST

/* A message longer than the line buffer is cut, still one whole line. */
START_TEST(long_message_cut)
{
    int fd = fixture_log_begin();
    char *big = malloc(5001);
    memset(big, 'x', 5000);
    big[5000] = '\0';
    log_error("%s", big);
    log_error("next");
    char *text = fixture_log_text(fd);
    fixture_log_end();
    char *nl = strchr(text, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_uint_le((size_t)(nl - text) + 1, 2048);
    ck_assert_uint_ge((size_t)(nl - text), 2000);
    ck_assert_ptr_nonnull(strstr(nl + 1, "next\n"));
    ck_assert_int_eq(fixture_count(text, "\n"), 2);
    free(text);
    free(big);
}
END_TEST

/* Logging an error must not change the errno the caller is about to use,
 * not even when the log cannot be written. */
START_TEST(errno_kept)
{
    int fd = fixture_log_begin();
    errno = EACCES;
    log_error("x");
    ck_assert_int_eq(errno, EACCES);
    fixture_log_end();
    log_use_fd(fd);                     /* closed by fixture_log_end: EBADF */
    errno = ENOSPC;
    log_error("y");
    ck_assert_int_eq(errno, ENOSPC);
}
END_TEST

/* While herd starts, errors and warnings written to a file also reach
 * stderr, once; info does not, and nothing is doubled when the log is
 * stderr itself. */
START_TEST(echo_to_stderr)
{
    int saved = dup(STDERR_FILENO);
    int captured = memfd_create("stderr", MFD_CLOEXEC);
    ck_assert_int_ge(captured, 0);
    ck_assert_int_eq(dup2(captured, STDERR_FILENO), STDERR_FILENO);

    const char *path = in_dir("error.log");
    ck_assert_int_eq(log_open(path, err, sizeof err), 0);
    log_echo_stderr(true);
    log_error("e-echo");
    log_warn("w-echo");
    log_info("i-file-only");
    log_echo_stderr(false);
    log_error("e-after");
    ck_assert_int_eq(log_open("stderr", err, sizeof err), 0);
    log_echo_stderr(true);
    log_error("e-stderr");

    char *out = fixture_read_fd(captured, NULL);
    char *file = fixture_read_file(path, NULL);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ck_assert_int_eq(fixture_count(out, "\n"), 3);
    ck_assert_int_eq(fixture_count(out, "e-echo"), 1);
    ck_assert_int_eq(fixture_count(out, "w-echo"), 1);
    ck_assert_int_eq(fixture_count(out, "e-stderr"), 1);
    ck_assert_int_eq(fixture_count(file, "\n"), 4);
    ck_assert_ptr_nonnull(strstr(file, "i-file-only"));
    ck_assert_ptr_nonnull(strstr(file, "e-after"));
    free(out);
    free(file);
    close(captured);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, new_file_is_0640);
    tcase_add_test(tc, existing_file_is_appended);
    tcase_add_test(tc, symbolic_link_refused);
    tcase_add_test(tc, fifo_refused);
    tcase_add_test(tc, directory_and_missing_refused);
    tcase_add_test(tc, character_device_accepted);
    tcase_add_test(tc, directory_group);
    suite_add_tcase(s, tc);
    tc = tcase_create("messages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, open_switches_and_keeps_on_failure);
    tcase_add_test(tc, use_same_fd_keeps_it);
    tcase_add_test(tc, level_names);
    tcase_add_test(tc, threshold);
    tcase_add_test(tc, budget_counts_and_reports);
    tcase_add_test(tc, budget_level_off_and_clock_back);
    tcase_add_test(tc, line_form);
    tcase_add_test(tc, long_message_cut);
    tcase_add_test(tc, errno_kept);
    tcase_add_test(tc, echo_to_stderr);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
