/* The master's cycle (src/master/cycle.c), a whole master in a forked
 * child through master_main, its signals and its control socket: the
 * first generation, QUIT (draining: reloads refused until the last worker
 * is gone), TERM and INT (at once, escalating to SIGKILL), WINCH then HUP,
 * a start that fails, a second master refused, daemonising (the parent
 * exits with the start's verdict), start-up errors on stderr and later
 * ones only in the log, and how an exit is described. Workers serve TCP
 * echo on a free loopback port (master_fixture.h). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master/master.h"
#include "master_fixture.h"
#include "tap.h"

/* A plain socket listening on mf.port, so that the master cannot bind it. */
static int take_port(void)
{
    int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)mf.port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(busy, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(busy, 1), 0);
    return busy;
}

START_TEST(serves_reloads_and_quits)
{
    mf_start(2);
    ck_assert_int_eq(mf_echo("hello\n"), 0);
    char text[8192];
    char *pid = mf_read(mf.pid_file);
    ck_assert_ptr_nonnull(pid);
    ck_assert_int_eq(atoi(pid), mf.master);
    free(pid);
    mf_ask("status", text, sizeof text);
    ck_assert_ptr_nonnull(strstr(text, "Generation: 1 "));
    ck_assert_ptr_nonnull(strstr(text, "worker slot=1 "));

    mf_write_conf(1, "");
    mf_ask("reload", text, sizeof text);
    ck_assert_str_eq(text, "ok generation 2");
    ck_assert_int_eq(mf_echo("again\n"), 0);
    mf_ask("status", text, sizeof text);
    ck_assert_ptr_nonnull(strstr(text, "Generation: 2 "));

    kill(mf.master, SIGQUIT);
    ck_assert_int_eq(mf_wait_exit(), 0);
    struct stat st;
    ck_assert_int_eq(stat(mf.pid_file, &st), -1);
    ck_assert_int_eq(stat(mf.ctl_path, &st), -1);
    ck_assert_int_eq(mf_echo("gone\n"), -1);
}
END_TEST

/* QUITTING lasts until the last worker has gone: a worker that cannot
 * drain yet (stopped) keeps the master there, answering, refusing reloads. */
START_TEST(quit_waits_for_the_workers_and_refuses_reloads)
{
    mf_write_conf_with(&(struct mf_conf){ .workers = 1, .shutdown_timeout = "60s" });
    mf.master = mf_run_master(true);
    mf_wait_generation(1);
    pid_t w = mf_worker_of(0);
    ck_assert_int_gt(w, 0);
    mf_stop(w);
    kill(mf.master, SIGQUIT);
    MF_WAIT(mf_logged("graceful stop: draining the workers"), "no QUIT seen");

    char reply[256];
    mf_ask("reload", reply, sizeof reply);
    ck_assert_str_eq(reply, "error the master is stopping");
    mf_ask("generation", reply, sizeof reply);
    ck_assert_str_eq(reply, "ok generation 1");
    ck_assert_int_eq(waitpid(mf.master, NULL, WNOHANG), 0);
    ck_assert_int_gt(mf_inode(mf.pid_file), 0);

    mf_cont(w);
    ck_assert_int_eq(mf_wait_exit(), 0);
    ck_assert(!mf_alive(w));
    ck_assert_int_eq(mf_inode(mf.pid_file), 0);
    ck_assert(!mf_logged("did not stop"));
}
END_TEST

/* A connection whose echo cannot be delivered: the client writes without
 * reading until the worker, its output held back, stops reading too (no
 * room for 200 ms). A draining worker waits for such a connection until
 * shutdown_timeout. */
static int stuck_connection(void)
{
    int fd = mf_connect(mf.port);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    for (size_t total = 0;;) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n > 0) {
            total += (size_t)n;
            ck_assert_uint_lt(total, 1u << 30);
            continue;
        }
        ck_assert_int_eq(errno, EAGAIN);
        struct pollfd p = { fd, POLLOUT, 0 };
        if (poll(&p, 1, 200) == 0)
            return fd;
    }
}

/* TERM and INT: workers stop at once, whatever their connections. */
static const int fast_stops[] = { SIGTERM, SIGINT };

START_TEST(term_and_int_stop_at_once)
{
    mf_write_conf_with(&(struct mf_conf){ .workers = 2, .shutdown_timeout = "60s" });
    mf.master = mf_run_master(true);
    mf_wait_generation(1);
    pid_t w0 = mf_worker_of(0), w1 = mf_worker_of(1);
    ck_assert(w0 > 0 && w1 > 0);
    int stuck = stuck_connection();

    kill(mf.master, fast_stops[_i]);
    ck_assert_int_eq(mf_wait_exit(), 0);
    ck_assert(mf_logged("fast stop"));
    ck_assert(!mf_logged("did not stop"));
    ck_assert(!mf_alive(w0) && !mf_alive(w1));
    close(stuck);
    ck_assert_int_eq(mf_inode(mf.pid_file), 0);
    ck_assert_int_eq(mf_inode(mf.ctl_path), 0);
}
END_TEST

/* A worker that does not obey TERM (stopped) is killed after a grace. */
START_TEST(term_kills_a_worker_that_does_not_stop)
{
    mf_start(1);
    pid_t w = mf_worker_of(0);
    ck_assert_int_gt(w, 0);
    mf_stop(w);
    kill(mf.master, SIGTERM);
    ck_assert_int_eq(mf_wait_exit(), 0);
    ck_assert(mf_logged("worker %d did not stop; killing it", (int)w));
    ck_assert(mf_logged("killed by signal 9"));
    ck_assert(!mf_alive(w));
}
END_TEST

START_TEST(winch_stops_the_workers_and_hup_brings_them_back)
{
    mf_start(1);
    kill(mf.master, SIGWINCH);
    MF_WAIT(mf_worker_of(0) == 0, "the worker is still there");
    /* The master keeps the socket: connections queue, nobody answers. */
    kill(mf.master, SIGHUP);
    mf_wait_generation(2);
    ck_assert_int_eq(mf_echo("back\n"), 0);
}
END_TEST

START_TEST(a_start_that_fails_exits_1)
{
    /* The address is taken by someone else. */
    int busy = take_port();
    mf_write_conf(1, "");
    mf.master = mf_run_master(true);
    ck_assert_int_eq(mf_wait_exit(), 1);
    char *log = mf_read(mf.error_log);
    ck_assert_msg(log && strstr(log, "Address already in use") != NULL, "%s", log);
    free(log);
    /* ... and said on the terminal. */
    ck_assert(mf_file_has(mf.stderr_path, "Address already in use"));
    ck_assert_int_eq(mf_inode(mf.pid_file), 0);
    close(busy);
}
END_TEST

/* Once the first generation serves, errors are the log's alone. */
START_TEST(later_errors_go_to_the_log_only)
{
    mf_start(1);
    FILE *f = fopen(mf.conf, "a");
    fputs("workers = ;\n", f);
    fclose(f);
    char reply[2048];
    mf_ask("reload", reply, sizeof reply);
    ck_assert_msg(strncmp(reply, "error ", 6) == 0, "%s", reply);
    ck_assert(mf_logged("reload failed"));
    ck_assert(!mf_file_has(mf.stderr_path, "reload failed"));
}
END_TEST

START_TEST(a_second_master_is_refused)
{
    mf_start(1);
    pid_t first = mf.master;
    mf.master = mf_run_master(true);
    ck_assert_int_eq(mf_wait_exit(), 1);
    mf.master = first;
    char want[256];
    snprintf(want, sizeof want, "another herd master (pid %d) is running with pid file %s",
             (int)first, mf.pid_file);
    char *log = mf_read(mf.error_log);
    ck_assert_msg(log && strstr(log, want) != NULL, "%s", log);
    free(log);
    ck_assert_int_eq(mf_echo("first\n"), 0);
}
END_TEST

/* Does /proc/PID/WHAT lead to want? */
static bool link_is(pid_t pid, const char *what, const char *want)
{
    char path[64], got[256];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    ssize_t n = readlink(path, got, sizeof got - 1);
    return n > 0 && (size_t)n == strlen(want) && memcmp(got, want, (size_t)n) == 0;
}

/* Without -F the master forks; the parent exits 0 once the first generation
 * serves, so that whoever started it may use it at once. */
START_TEST(a_daemon_parent_exits_0_once_serving)
{
    /* The daemon outlives its parent: it comes back to this process. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    mf_watch_daemon();
    mf_write_conf(1, "");
    pid_t parent = mf.master = mf_run_master(false);
    ck_assert_int_eq(mf_wait_exit(), 0);
    ck_assert_int_eq(mf_echo("at once\n"), 0);

    char *text = mf_read(mf.pid_file);
    ck_assert_ptr_nonnull(text);
    pid_t daemon = mf.master = atoi(text);
    free(text);
    ck_assert_int_gt(daemon, 0);
    ck_assert_int_ne(daemon, parent);
    ck_assert_int_eq(getsid(daemon), daemon);
    ck_assert(link_is(daemon, "cwd", "/"));
    ck_assert(link_is(daemon, "fd/0", "/dev/null"));
    /* stderr: detached right after the parent was told. */
    MF_WAIT(link_is(daemon, "fd/2", "/dev/null"), "the daemon keeps the terminal");

    kill(daemon, SIGQUIT);
    ck_assert_int_eq(mf_wait_exit(), 0);
    ck_assert_int_eq(mf_inode(mf.pid_file), 0);
}
END_TEST

/* A daemon whose workers cannot start: the parent exits 1, and the reason
 * is on the terminal (the daemon's stderr until it serves). */
START_TEST(a_daemon_parent_exits_1_saying_why_on_stderr)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    mf_watch_daemon();
    mf_write_conf_with(&(struct mf_conf){ .protocol = "http", .server = mf_static_server() });
    ck_assert_int_eq(chmod(mf_private_dir(), 0), 0);
    mf.master = mf_run_master(false);
    ck_assert_int_eq(mf_wait_exit(), 1);
    char *err = mf_read(mf.stderr_path), want[256];
    ck_assert_ptr_nonnull(err);
    snprintf(want, sizeof want, "static root %s: Permission denied", mf_private_dir());
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    ck_assert_msg(strstr(err, "cannot start: a new worker (slot 0) exited with status 2") != NULL,
                  "%s", err);
    free(err);
    /* The daemon exits too, 1, its pid file removed. */
    int status = 0;
    MF_WAIT(waitpid(-1, &status, WNOHANG) > 0, "the daemon did not exit");
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 1);
    ck_assert_int_eq(mf_inode(mf.pid_file), 0);
}
END_TEST

START_TEST(exits_are_described)
{
    char out[128];
    cycle_describe_exit(W_EXITCODE(3, 0), out, sizeof out);
    ck_assert_str_eq(out, "exited with status 3");
    cycle_describe_exit(W_EXITCODE(0, SIGKILL), out, sizeof out);
    ck_assert_str_eq(out, "killed by signal 9 (Killed)");
    cycle_describe_exit(W_EXITCODE(0, SIGSEGV) | WCOREFLAG, out, sizeof out);
    ck_assert_str_eq(out, "killed by signal 11 (Segmentation fault), core dumped");
    cycle_describe_exit(W_STOPCODE(SIGSTOP), out, sizeof out);
    char want[64];
    snprintf(want, sizeof want, "ended with wait status %d", W_STOPCODE(SIGSTOP));
    ck_assert_str_eq(out, want);
    cycle_describe_exit(W_EXITCODE(0, SIGKILL), out, 12);  /* cut, terminated */
    ck_assert_str_eq(out, "killed by s");
}
END_TEST

int main(void)
{
    mf_init();
    Suite *s = suite_create("master_cycle");
    TCase *tc = mf_tcase(s, "signals");
    tcase_add_test(tc, serves_reloads_and_quits);
    tcase_add_test(tc, quit_waits_for_the_workers_and_refuses_reloads);
    tcase_add_loop_test(tc, term_and_int_stop_at_once, 0, 2);
    tcase_add_test(tc, term_kills_a_worker_that_does_not_stop);
    tcase_add_test(tc, winch_stops_the_workers_and_hup_brings_them_back);

    tc = mf_tcase(s, "start");
    tcase_add_test(tc, a_start_that_fails_exits_1);
    tcase_add_test(tc, later_errors_go_to_the_log_only);
    tcase_add_test(tc, a_second_master_is_refused);
    tcase_add_test(tc, a_daemon_parent_exits_0_once_serving);
    tcase_add_test(tc, a_daemon_parent_exits_1_saying_why_on_stderr);

    tc = tcase_create("exit");
    tcase_add_test(tc, exits_are_described);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
