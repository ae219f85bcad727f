/* Process titles (src/proctitle.c), read back as ps(1) reads them, from
 * /proc/PID/cmdline. Each case runs this program again with a command line
 * and an environment of known size ("--proctitle-child MODE"): the child
 * sets a title and reports what /proc/self/cmdline, its environment, its
 * argv and proctitle_command() say afterwards. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proctitle.h"
#include "fixture.h"
#include "tap.h"

#define CHILD_FLAG "--proctitle-child"
#define ENV_VALUE "0123456789abcdefghijklmnopqrstuv"       /* 32 bytes */
#define ENV_VAR "HERD_T=" ENV_VALUE

/* The title each mode sets. */
static const char *title_for(const char *mode)
{
    if (strcmp(mode, "short") == 0)
        return "worker process";
    if (strcmp(mode, "long") == 0)          /* past argv, into the environment */
        return "worker process is shutting down";
    return "master process /usr/sbin/herd -c /etc/herd/herd.conf -p /run/herd/herd.pid"
           " -g 'daemon off;' and a great deal more than fits";
}

/* The child: report in lines "cmdline LEN", the raw bytes, then "env",
 * "command" and "argv" lines. */
static int child_main(int argc, char **argv)
{
    proctitle_init(argc, argv);
    proctitle_set(title_for(argv[2]));
    FILE *f = fopen("/proc/self/cmdline", "r");
    if (f == NULL)
        return 2;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const char *env = getenv("HERD_T");
    printf("cmdline %zu\n", n);
    fwrite(buf, 1, n, stdout);
    printf("\nenv %s\ncommand %s\nargv %s %s\n", env ? env : "(none)", proctitle_command(),
           argv[0], argv[2]);
    return fflush(stdout) == 0 ? 0 : 3;
}

struct report {
    char cmdline[1024];
    size_t cmdline_len;
    char rest[1024];            /* the lines after the raw bytes */
};

/* Run the child for mode with argv { "P", CHILD_FLAG, mode } and only
 * ENV_VAR in its environment. */
static void run_child(const char *mode, struct report *r)
{
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        char *args[] = { "P", CHILD_FLAG, (char *)mode, NULL };
        char *env[] = { ENV_VAR, NULL };
        execve("/proc/self/exe", args, env);
        _exit(127);
    }
    close(out[1]);
    char all[4096];
    size_t n = 0;
    ssize_t got;
    while (n < sizeof all - 1 && (got = read(out[0], all + n, sizeof all - 1 - n)) > 0)
        n += (size_t)got;
    close(out[0]);
    all[n] = '\0';
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert_int_eq(sscanf(all, "cmdline %zu\n", &r->cmdline_len), 1);
    const char *raw = strchr(all, '\n') + 1;
    ck_assert_uint_le(r->cmdline_len, sizeof r->cmdline);
    memcpy(r->cmdline, raw, r->cmdline_len);
    snprintf(r->rest, sizeof r->rest, "%s", raw + r->cmdline_len);
}

/* Bytes the kernel laid out for the child's argv strings and for argv and
 * the environment together. */
static size_t argv_area(const char *mode)
{
    return strlen("P") + 1 + strlen(CHILD_FLAG) + 1 + strlen(mode) + 1;
}

static size_t whole_area(const char *mode)
{
    return argv_area(mode) + strlen(ENV_VAR) + 1;
}

/* A title that fits the arguments: "herd: TITLE", then zeros to their end. */
START_TEST(short_title)
{
    struct report r;
    run_child("short", &r);
    const char *want = "herd: worker process";
    ck_assert_uint_eq(r.cmdline_len, argv_area("short"));
    ck_assert_str_eq(r.cmdline, want);
    for (size_t i = strlen(want); i < r.cmdline_len; i++)
        ck_assert_msg(r.cmdline[i] == '\0', "byte %zu is %#x", i, r.cmdline[i]);
}
END_TEST

/* The first `shown` bytes of "herd: TITLE" are what ps shows, and the
 * environment still reads. */
static void check_shown(const struct report *r, const char *mode, size_t shown)
{
    char want[256];
    snprintf(want, sizeof want, "herd: %s", title_for(mode));
    ck_assert_uint_le(shown, strlen(want));
    ck_assert_uint_eq(strnlen(r->cmdline, r->cmdline_len), shown);
    ck_assert_int_eq(memcmp(r->cmdline, want, shown), 0);
    ck_assert_ptr_nonnull(strstr(r->rest, "\nenv " ENV_VALUE "\n"));
}

/* A longer title runs on over the environment's strings, which were moved
 * out of its way: the title shows whole. */
START_TEST(title_over_environment)
{
    struct report r;
    run_child("long", &r);
    size_t len = strlen("herd: ") + strlen(title_for("long"));
    ck_assert_uint_gt(len, argv_area("long"));
    ck_assert_uint_lt(len, whole_area("long"));
    check_shown(&r, "long", len);
}
END_TEST

/* A title longer than the whole area is cut to it, with its last byte left
 * for the terminating zero. */
START_TEST(title_cut_to_room)
{
    struct report r;
    run_child("cut", &r);
    size_t room = whole_area("cut") - 1;
    ck_assert_uint_gt(strlen("herd: ") + strlen(title_for("cut")), room);
    check_shown(&r, "cut", room);
}
END_TEST

/* The command line as started stays available, and argv still holds the
 * arguments, whatever the title overwrote. */
START_TEST(command_and_argv_kept)
{
    struct report r;
    run_child("cut", &r);
    ck_assert_ptr_nonnull(strstr(r.rest, "\ncommand P " CHILD_FLAG " cut\n"));
    ck_assert_ptr_nonnull(strstr(r.rest, "\nargv P cut\n"));
}
END_TEST

/* Without proctitle_init nothing is written and the command is "herd". */
START_TEST(uninitialised)
{
    size_t before_len, after_len;
    char *before = fixture_read_file("/proc/self/cmdline", &before_len);
    proctitle_set("worker process");
    char *after = fixture_read_file("/proc/self/cmdline", &after_len);
    ck_assert_uint_eq(after_len, before_len);
    ck_assert_int_eq(memcmp(before, after, before_len), 0);
    ck_assert_str_eq(proctitle_command(), "herd");
    free(before);
    free(after);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], CHILD_FLAG) == 0)
        return child_main(argc, argv);
    Suite *s = suite_create("proctitle");
    TCase *tc = tcase_create("title");
    tcase_add_test(tc, short_title);
    tcase_add_test(tc, title_over_environment);
    tcase_add_test(tc, title_cut_to_room);
    tcase_add_test(tc, command_and_argv_kept);
    tcase_add_test(tc, uninitialised);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
