/* The command line (src/cli.c): cli_main run in a forked child with an
 * argv, its stdout and stderr captured, for every answer that needs no
 * running master: -h, -v, -V, bad flags and arguments, -t and -T on good
 * and bad files, and -s against no master, a stale pid file, a locked one
 * without a pid, a stand-in process that takes the signal, and an unknown
 * signal name. The messages are herd(8)'s, byte for byte. */
#include <check.h>
#include <fcntl.h>
#include <libconfig.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "master/control.h"
#include "proto.h"
#include "config_fixture.h"
#include "tap.h"

struct run {
    int status;         /* the exit status */
    char *out, *err;    /* what it wrote (free them) */
};

static int capture_fd(const char *name)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* cli_main with argv { "herd", args..., NULL } in a child. */
static struct run run_cli(const char *const *args)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *)"herd";
    for (; *args; args++) {
        ck_assert_int_lt(argc, 15);
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;
    int out = capture_fd("cli-out"), err = capture_fd("cli-err");
    fflush(NULL);               /* nothing buffered is written twice */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
            _exit(99);
        int status = cli_main(argc, argv);
        fflush(stdout);
        _exit(status);
    }
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    ck_assert_msg(WIFEXITED(ws), "herd %s ended by signal %d", argv[1], WTERMSIG(ws));
    struct run r = { WEXITSTATUS(ws), fixture_read_fd(out, NULL), fixture_read_fd(err, NULL) };
    close(out);
    close(err);
    return r;
}

#define RUN(...) run_cli((const char *const[]){ __VA_ARGS__, NULL })

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* The run ended with status, wrote out to stdout and err to stderr. */
static void assert_run(struct run r, int status, const char *out, const char *err)
{
    ck_assert_msg(r.status == status, "exit %d, want %d; stderr '%s'", r.status, status, r.err);
    ck_assert_str_eq(r.out, out);
    ck_assert_str_eq(r.err, err);
    run_free(&r);
}

/* What herd -h prints (malloc'ed). */
static char *help_text(void)
{
    struct run r = RUN("-h");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    free(r.err);
    return r.out;
}

/* "before" then the usage text, as -h prints it. */
static const char *then_usage(const char *before)
{
    static char text[1200];
    char *usage = help_text();
    snprintf(text, sizeof text, "%s%s", before, usage);
    free(usage);
    return text;
}

/* ------------------------------------------------------------------ */
/* What needs no configuration */

/* The usage: every option, the default configuration file; the first
 * answer wins. */
START_TEST(help)
{
    char *usage = help_text(), want[300];
    const char *first = "usage: herd [-c FILE] [-F] [-t | -T] [-s SIGNAL] [-v | -V] [-h]\n\n";
    ck_assert_msg(strncmp(usage, first, strlen(first)) == 0, "%s", usage);
    static const char *const options[] = { "-c FILE", "-F", "-t", "-T", "-s SIGNAL", "-v", "-V",
                                           "-h" };
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        snprintf(want, sizeof want, "\n  %-10s ", options[i]);
        ck_assert_msg(strstr(usage, want) != NULL, "no '%s' in %s", want, usage);
    }
    snprintf(want, sizeof want, "(default %s;\n", config_default_path());
    ck_assert_msg(strstr(usage, want) != NULL, "no '%s' in %s", want, usage);
    const char *last = "  -h         this help\n";
    ck_assert_str_eq(usage + strlen(usage) - strlen(last), last);
    assert_run(RUN("-h", "-v"), 0, usage, "");
    free(usage);
}
END_TEST

START_TEST(version)
{
    assert_run(RUN("-v"), 0, "herd " PACKAGE_VERSION "\n", "");
    char want[512];
    snprintf(want, sizeof want, "herd %s\nlibconfig %d.%d.%d\nconfiguration: %s\n"
             "pid file default: %s/herd.pid\n", PACKAGE_VERSION, LIBCONFIG_VER_MAJOR,
             LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION, config_default_path(),
             HERD_RUNSTATEDIR);
    assert_run(RUN("-V"), 0, want, "");
    assert_run(RUN("-v", "-h"), 0, "herd " PACKAGE_VERSION "\n", "");
}
END_TEST

START_TEST(unknown_flag)
{
    assert_run(RUN("-Z"), 2, "", then_usage("herd: invalid option -- 'Z'\n"));
    assert_run(RUN("-t", "-c"), 2, "", then_usage("herd: option requires an argument -- 'c'\n"));
}
END_TEST

START_TEST(stray_argument)
{
    assert_run(RUN("-t", "stray"), 2, "", then_usage("herd: unexpected argument 'stray'\n"));
    assert_run(RUN("--", "-t"), 2, "", then_usage("herd: unexpected argument '-t'\n"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* -t and -T */

static char pid_file[200];

/* herd.conf of the scratch directory: its pid file there, then `middle`,
 * then an echo server. */
static void write_conf(const char *middle)
{
    char text[1024];
    fixture_path(pid_file, sizeof pid_file, fixture_dir, "herd.pid");
    snprintf(text, sizeof text, "pid_file = \"%s\";\n%s" ECHO_SERVER, pid_file, middle);
    fixture_conf_write(fixture_conf, text);
}

/* "herd: configuration PATH is ok\n" for the scratch herd.conf. */
static const char *ok_line(void)
{
    static char line[300];
    snprintf(line, sizeof line, "herd: configuration %s is ok\n", fixture_conf);
    return line;
}

START_TEST(test_good_file)
{
    write_conf("workers = 2;\n");
    assert_run(RUN("-t", "-c", fixture_conf), 0, "", ok_line());
    /* A relative -c is named absolute, as reloads will read it. */
    ck_assert_int_eq(chdir(fixture_dir), 0);
    assert_run(RUN("-c", "herd.conf", "-t"), 0, "", ok_line());
}
END_TEST

START_TEST(test_bad_file)
{
    char want[600];
    write_conf("workers = 0;\n");
    snprintf(want, sizeof want, "%s:2: 'workers' must be between 1 and %d\n"
             "herd: configuration test failed\n", fixture_conf, CONFIG_MAX_WORKERS);
    assert_run(RUN("-t", "-c", fixture_conf), 1, "", want);
    assert_run(RUN("-T", "-c", fixture_conf), 1, "", want);

    char gone[300];
    fixture_path(gone, sizeof gone, fixture_dir, "gone.conf");
    snprintf(want, sizeof want, "%s: cannot read: No such file or directory\n"
             "herd: configuration test failed\n", gone);
    assert_run(RUN("-t", "-c", gone), 1, "", want);
}
END_TEST

/* The logs the configuration names must open, or -t fails as the start
 * would. */
START_TEST(test_log_cannot_open)
{
    write_conf("error_log = \"/nonexistent/herd-error.log\";\n");
    struct run r = RUN("-t", "-c", fixture_conf);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    char want[300];
    snprintf(want, sizeof want, "%s:2: ", fixture_conf);
    ck_assert_msg(strncmp(r.err, want, strlen(want)) == 0, "%s", r.err);
    ck_assert_msg(strstr(r.err, "/nonexistent/herd-error.log") != NULL, "%s", r.err);
    const char *failed = "\nherd: configuration test failed\n";
    ck_assert_msg(strlen(r.err) > strlen(failed) &&
                  strcmp(r.err + strlen(r.err) - strlen(failed), failed) == 0, "%s", r.err);
    run_free(&r);
}
END_TEST

/* -T prints the configuration with every default on stdout (what
 * config_print writes), and says it is ok on stderr. */
START_TEST(dump)
{
    write_conf("shutdown_timeout = \"1500ms\";\n");
    char err[512];
    struct herd_config *cfg = config_load(fixture_conf, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    char *printed = fixture_print(cfg);
    config_free(cfg);
    ck_assert_ptr_nonnull(strstr(printed, "shutdown_timeout = \"1500ms\";\n"));
    ck_assert_ptr_nonnull(strstr(printed, "log_level = \"info\";\n"));   /* a default */
    assert_run(RUN("-T", "-c", fixture_conf), 0, printed, ok_line());
    free(printed);
}
END_TEST

/* ------------------------------------------------------------------ */
/* -s: the master is found through the pid file it keeps locked */

START_TEST(signal_without_pid_file)
{
    char want[400];
    write_conf("");
    snprintf(want, sizeof want, "herd: no master is running (%s: No such file or directory)\n",
             pid_file);
    assert_run(RUN("-c", fixture_conf, "-s", "reload"), 1, "", want);
    assert_run(RUN("-c", fixture_conf, "-s", "stop"), 1, "", want);
}
END_TEST

/* A pid file nobody holds locked is left from a master that died: its pid
 * (this test's own here) is not signalled. */
START_TEST(signal_stale_pid_file)
{
    char want[400], pid[32];
    write_conf("");
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    fixture_conf_write(pid_file, pid);
    snprintf(want, sizeof want, "herd: no master is running (%s is not locked)\n", pid_file);
    assert_run(RUN("-c", fixture_conf, "-s", "stop"), 1, "", want);
    assert_run(RUN("-c", fixture_conf, "-s", "reload"), 1, "", want);
}
END_TEST

/* Hold pid_file locked as a master does, holding `text`; returns the fd. */
static int hold_pid_file(const char *text)
{
    fixture_conf_write(pid_file, text);
    int fd = open(pid_file, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    return fd;
}

START_TEST(signal_locked_without_pid)
{
    char want[400];
    write_conf("");
    int fd = hold_pid_file("");
    snprintf(want, sizeof want, "herd: %s holds no pid\n", pid_file);
    assert_run(RUN("-c", fixture_conf, "-s", "quit"), 1, "", want);
    close(fd);
}
END_TEST

/* A stand-in for the master: a child that waits for a signal, returned
 * once it has the default handlers. */
static pid_t start_stand_in(void)
{
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* As a new process would be: Check's handlers (its SIGTERM one
         * signals the whole test's group) and mask are not inherited. */
        static const int sigs[] = { SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2, SIGHUP, SIGALRM };
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (write(ready[1], "r", 1) != 1)
            _exit(99);
        for (;;)
            pause();
    }
    char r;
    ck_assert_int_eq(read(ready[0], &r, 1), 1);
    close(ready[0]);
    close(ready[1]);
    return pid;
}

/* What the stand-in died of. */
static int stand_in_signal(pid_t pid)
{
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    ck_assert(WIFSIGNALED(ws));
    return WTERMSIG(ws);
}

/* stop, reopen: a signal to the pid the locked pid file holds, and
 * nothing said. */
START_TEST(signal_sent)
{
    static const struct {
        const char *name;
        int sig;
    } rows[] = { { "stop", SIGTERM }, { "reopen", SIGUSR1 } };
    write_conf("");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        pid_t stand_in = start_stand_in();
        char text[32];
        snprintf(text, sizeof text, "%d\n", (int)stand_in);
        int fd = hold_pid_file(text);
        assert_run(RUN("-c", fixture_conf, "-s", rows[i].name), 0, "", "");
        ck_assert_int_eq(stand_in_signal(stand_in), rows[i].sig);
        close(fd);
    }
}
END_TEST

/* reload and status go through the control socket PIDFILE.ctl. */
START_TEST(reload_without_control_socket)
{
    write_conf("");
    pid_t stand_in = start_stand_in();
    char text[32], ctl[300], want[600];
    snprintf(text, sizeof text, "%d\n", (int)stand_in);
    int fd = hold_pid_file(text);
    ck_assert_int_eq(control_path(pid_file, ctl, sizeof ctl), 0);
    snprintf(want, sizeof want, "herd: cannot reach the master (pid %d) at %s: No such file or "
             "directory\n", (int)stand_in, ctl);
    assert_run(RUN("-c", fixture_conf, "-s", "reload"), 1, "", want);
    assert_run(RUN("-c", fixture_conf, "-s", "status"), 1, "", want);
    ck_assert_int_eq(kill(stand_in, SIGKILL), 0);
    ck_assert_int_eq(stand_in_signal(stand_in), SIGKILL);   /* nothing else reached it */
    close(fd);
}
END_TEST

START_TEST(unknown_signal_name)
{
    write_conf("");
    assert_run(RUN("-c", fixture_conf, "-s", "bogus"), 2, "",
               "herd: unknown signal 'bogus' (reload, stop, quit, reopen, upgrade, status)\n");
    /* The configuration is read first: its error, without -t's last line. */
    char want[400];
    write_conf("workers = 0;\n");
    snprintf(want, sizeof want, "%s:2: 'workers' must be between 1 and %d\n", fixture_conf,
             CONFIG_MAX_WORKERS);
    assert_run(RUN("-c", fixture_conf, "-s", "bogus"), 1, "", want);
}
END_TEST

int main(void)
{
    config_use_protocols(&proto_registry);     /* for the -T comparison */
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("flags");
    tcase_add_test(tc, help);
    tcase_add_test(tc, version);
    tcase_add_test(tc, unknown_flag);
    tcase_add_test(tc, stray_argument);
    suite_add_tcase(s, tc);
    tc = tcase_create("test");
    tcase_add_checked_fixture(tc, fixture_conf_setup, fixture_conf_teardown);
    tcase_add_test(tc, test_good_file);
    tcase_add_test(tc, test_bad_file);
    tcase_add_test(tc, test_log_cannot_open);
    tcase_add_test(tc, dump);
    suite_add_tcase(s, tc);
    tc = tcase_create("signal");
    tcase_add_checked_fixture(tc, fixture_conf_setup, fixture_conf_teardown);
    tcase_add_test(tc, signal_without_pid_file);
    tcase_add_test(tc, signal_stale_pid_file);
    tcase_add_test(tc, signal_locked_without_pid);
    tcase_add_test(tc, signal_sent);
    tcase_add_test(tc, reload_without_control_socket);
    tcase_add_test(tc, unknown_signal_name);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
