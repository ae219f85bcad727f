/* The master for real, in a forked child of the test, through its public
 * interface (master_main) and its control socket: a binary upgrade rolled
 * back (this program is then the "new binary": see main). Workers serve
 * TCP echo on a free loopback port. The last case to move into a suite of
 * its own module of src/master/ (check_master_cycle.c, _generation.c,
 * _slot.c and _logs.c so far). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "master/control.h"
#include "master/master.h"
#include "proto.h"
#include "tap.h"

static char dir[64], conf[128], pid_file[128], ctl_path[160], error_log[128];
static int port;
static pid_t master;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_master.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(conf, sizeof conf, "%s/herd.conf", dir);
    snprintf(pid_file, sizeof pid_file, "%s/herd.pid", dir);
    snprintf(error_log, sizeof error_log, "%s/error.log", dir);
    ck_assert_int_eq(control_path(pid_file, ctl_path, sizeof ctl_path), 0);
    port = free_port();
    master = 0;
}

static void teardown(void)
{
    if (master > 0) {
        kill(master, SIGTERM);
        waitpid(master, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A configuration of `workers` echo workers; `extra` goes at the top. */
static void write_conf(int workers, const char *extra)
{
    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "workers = %d;\nuser = \"nobody\";\npid_file = \"%s\";\nerror_log = \"%s\";\n"
            "shutdown_timeout = \"5s\";\n%s\n"
            "servers = ( { listen = [ \"127.0.0.1:%d\" ]; protocol = \"echo\"; } );\n",
            workers, pid_file, error_log, extra, port);
    fclose(f);
}

/* Load conf and run a master on it in a child; returns the child's pid. */
static pid_t run_master(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid > 0)
        return pid;
    /* A failed check ends the test process without its teardown: the
     * master must not outlive it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDERR_FILENO);      /* start-up messages are echoed there */
    char err[1024];
    struct herd_config *cfg = config_load(conf, err, sizeof err);
    if (cfg == NULL)
        _exit(99);
    struct master_options opts = { .conf_path = conf, .conf_given = true, .foreground = true };
    _exit(master_main(&opts, cfg));
}

/* Ask the control socket, retrying while the master is not listening yet. */
static void ask(const char *cmd, char *reply, size_t cap)
{
    for (int i = 0; i < 1000; i++) {
        if (control_request(ctl_path, cmd, reply, cap, 10000) == 0)
            return;
        ck_assert_msg(errno == ENOENT || errno == ECONNREFUSED, "%s: %s", cmd, strerror(errno));
        usleep(10000);
    }
    ck_abort_msg("no answer to %s", cmd);
}

static int read_text(const char *p, char *out, size_t cap)
{
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    return 0;
}

/* Start a master and wait until its first generation serves. */
static void start(int workers)
{
    write_conf(workers, "");
    master = run_master();
    char reply[64];
    ask("generation", reply, sizeof reply);
    for (int i = 0; i < 1000 && strcmp(reply, "ok generation 1") != 0; i++) {
        usleep(10000);
        ask("generation", reply, sizeof reply);
    }
    ck_assert_str_eq(reply, "ok generation 1");
}

/* One echo round trip on a new connection: 0, or -1 when refused. */
static int echo(const char *text)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t len = strlen(text), got = 0;
    char buf[256];
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    while (got < len) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    close(fd);
    ck_assert(memcmp(buf, text, len) == 0);
    return 0;
}

static int wait_exit(void)
{
    int status;
    ck_assert_int_eq(waitpid(master, &status, 0), master);
    master = 0;
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Wait until the pid file names a master other than `not`; returns it. */
static pid_t wait_pid_file_change(pid_t not)
{
    char text[64] = "";
    for (int i = 0; i < 1000; i++) {
        if (read_text(pid_file, text, sizeof text) == 0 && atoi(text) > 0 && atoi(text) != not)
            return atoi(text);
        usleep(10000);
    }
    ck_abort_msg("the pid file still names %d", (int)not);
    return 0;
}

START_TEST(an_upgrade_rolls_back_when_the_new_master_quits)
{
    start(1);
    pid_t old = master;
    char oldbin[200], text[64];
    snprintf(oldbin, sizeof oldbin, "%s.oldbin", pid_file);
    kill(old, SIGUSR2);
    pid_t fresh = wait_pid_file_change(old);
    ck_assert_int_eq(read_text(oldbin, text, sizeof text), 0);
    ck_assert_int_eq(atoi(text), old);
    /* The new master serves on the inherited socket, through its control
     * socket at the same path. */
    char reply[64] = "";
    for (int i = 0; i < 1000 && strcmp(reply, "ok generation 1") != 0; i++) {
        usleep(10000);
        ask("generation", reply, sizeof reply);
    }
    ck_assert_int_eq(echo("both\n"), 0);

    /* Rollback: the new master goes; the old one takes its pid file and
     * control socket back. */
    kill(fresh, SIGQUIT);
    for (int i = 0; i < 1000 && (read_text(pid_file, text, sizeof text) < 0 || atoi(text) != old);
         i++)
        usleep(10000);
    ck_assert_int_eq(atoi(text), old);
    struct stat st;
    ck_assert_int_eq(stat(oldbin, &st), -1);
    ask("generation", reply, sizeof reply);
    ck_assert_str_eq(reply, "ok generation 1");
    ck_assert_int_eq(echo("old\n"), 0);
    char log[16384];
    read_text(error_log, log, sizeof log);
    ck_assert_ptr_nonnull(strstr(log, "takes its pid file back"));
    kill(old, SIGQUIT);
    ck_assert_int_eq(wait_exit(), 0);
    ck_assert_int_eq(stat(pid_file, &st), -1);
}
END_TEST

/* Run as the new binary of a binary upgrade: `PROGRAM -c CONF [-F]`. */
static int as_new_master(const char *path)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);      /* not beyond the old master */
    char err[1024];
    struct herd_config *cfg = config_load(path, err, sizeof err);
    if (cfg == NULL)
        return 99;
    struct master_options opts = { .conf_path = path, .conf_given = true, .foreground = true };
    return master_main(&opts, cfg);
}

int main(int argc, char **argv)
{
    config_use_protocols(&proto_registry);     /* as main.c does */
    if (argc >= 3 && strcmp(argv[1], "-c") == 0)
        return as_new_master(argv[2]);

    Suite *s = suite_create("master");
    TCase *tc = tcase_create("master");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, an_upgrade_rolls_back_when_the_new_master_quits);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
