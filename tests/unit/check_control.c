/* The control socket with a real event loop: a command reaches the
 * callback and its answer the client, answers given later (as a reload's
 * is), an over-long command, a client that gives up, the path after a
 * binary upgrade (unlink only our own socket, bind again), and the client
 * side's timeout. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "master/control.h"
#include "tap.h"

static char dir[64], path[100];
static struct loop *loop;
static struct control *ctl;

/* What the callback saw and does. */
static char got_cmd[256];
static struct control_client *held;      /* a client whose answer comes later */
static const char *answer;               /* NULL: hold the client */

static void on_cmd(void *arg, struct control_client *cl, const char *cmd)
{
    (void)arg;
    snprintf(got_cmd, sizeof got_cmd, "%s", cmd);
    if (answer)
        control_reply(ctl, cl, answer);
    else
        held = cl;
    loop_stop(loop);
}

static struct timer stop_timer;

static void on_stop(struct timer *t)
{
    (void)t;
    loop_stop(loop);
}

/* Run the loop until the callback stops it, or for ms at most. */
static void run(int64_t ms)
{
    loop_timer_after(loop, &stop_timer, ms);
    ck_assert_int_eq(loop_run(loop), 0);
    loop_timer_cancel(loop, &stop_timer);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_control.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char pid_file[100];
    snprintf(pid_file, sizeof pid_file, "%s/herd.pid", dir);
    ck_assert_int_eq(control_path(pid_file, path, sizeof path), 0);
    loop = loop_new(16);
    ck_assert_ptr_nonnull(loop);
    char err[256] = "";
    ctl = control_open(loop, path, on_cmd, NULL, err, sizeof err);
    ck_assert_msg(ctl != NULL, "%s", err);
    timer_init(&stop_timer, on_stop);
    got_cmd[0] = '\0';
    held = NULL;
    answer = "ok";
}

static void teardown(void)
{
    control_close(ctl, 1);
    loop_free(loop);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A raw client: connected, the bytes sent. */
static int client(const char *bytes)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
    return fd;
}

/* Everything the server sent until it closed. */
static void read_all(int fd, char *out, size_t cap)
{
    size_t len = 0;
    struct pollfd p = { fd, POLLIN, 0 };
    while (len + 1 < cap && poll(&p, 1, 5000) == 1) {
        ssize_t n = read(fd, out + len, cap - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    close(fd);
}

START_TEST(path_is_next_to_the_pid_file)
{
    char out[128], longer[200];
    ck_assert_int_eq(control_path("/run/herd.pid", out, sizeof out), 0);
    ck_assert_str_eq(out, "/run/herd.pid.ctl");
    /* Longer than a unix socket address can hold. */
    memset(longer, 'a', sizeof longer - 1);
    longer[0] = '/';
    longer[sizeof longer - 1] = '\0';
    ck_assert_int_eq(control_path(longer, out, sizeof out), -1);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(st.st_mode & 077, 0);      /* root only */
}
END_TEST

START_TEST(a_command_gets_its_answer_and_the_client_is_closed)
{
    int fd = client("status\n");
    answer = "line one\nline two\n";
    run(5000);
    ck_assert_str_eq(got_cmd, "status");
    char reply[128];
    read_all(fd, reply, sizeof reply);
    ck_assert_str_eq(reply, "line one\nline two\n");
    /* A one-line answer gets its newline. */
    fd = client("generation\n");
    answer = "ok generation 3";
    run(5000);
    read_all(fd, reply, sizeof reply);
    ck_assert_str_eq(reply, "ok generation 3\n");
}
END_TEST

START_TEST(a_command_may_come_in_pieces)
{
    int fd = client("rel");
    run(50);
    ck_assert_str_eq(got_cmd, "");      /* half a line is not a command */
    ck_assert_int_eq(write(fd, "oad\n", 4), 4);
    run(5000);
    ck_assert_str_eq(got_cmd, "reload");
    char reply[64];
    read_all(fd, reply, sizeof reply);
    ck_assert_str_eq(reply, "ok\n");
}
END_TEST

static void on_later(struct timer *t)
{
    (void)t;
    control_reply(ctl, held, "ok generation 2");
    held = NULL;
    loop_stop(loop);
}

START_TEST(the_answer_may_come_later)
{
    int fd = client("reload\n");
    answer = NULL;
    run(5000);
    ck_assert_ptr_nonnull(held);
    struct timer later;
    timer_init(&later, on_later);
    loop_timer_after(loop, &later, 20);
    run(5000);
    ck_assert_ptr_null(held);
    char reply[64];
    read_all(fd, reply, sizeof reply);
    ck_assert_str_eq(reply, "ok generation 2\n");
}
END_TEST

START_TEST(an_over_long_command_is_refused)
{
    char cmd[400];
    memset(cmd, 'x', sizeof cmd - 1);
    cmd[sizeof cmd - 1] = '\0';
    int fd = client(cmd);
    /* No callback: the control module answers and closes by itself. */
    run(100);
    char reply[64];
    read_all(fd, reply, sizeof reply);
    ck_assert_str_eq(reply, "error command too long\n");
    ck_assert_str_eq(got_cmd, "");
}
END_TEST

START_TEST(a_client_that_gave_up_costs_nothing)
{
    int fd = client("reload\n");
    answer = NULL;
    run(5000);
    ck_assert_ptr_nonnull(held);
    close(fd);
    /* The master notices the hang-up, then answers anyway: nothing is
     * sent (no SIGPIPE) and the client is freed (ASan would say otherwise). */
    run(50);
    control_reply(ctl, held, "ok");
    held = NULL;
}
END_TEST

START_TEST(close_unlinks_only_its_own_socket_and_rebind_restores_it)
{
    /* A new master (binary upgrade) takes the path ... */
    char err[256];
    struct loop *other_loop = loop_new(4);
    struct control *other = control_open(other_loop, path, on_cmd, NULL, err, sizeof err);
    ck_assert_msg(other != NULL, "%s", err);
    /* ... and dies, removing its socket: the old master binds again. */
    control_close(other, 1);
    loop_free(other_loop);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), -1);
    ck_assert_msg(control_rebind(ctl, err, sizeof err) == 0, "%s", err);
    int fd = client("status\n");
    answer = "ok again";
    run(5000);
    char reply[64];
    read_all(fd, reply, sizeof reply);
    ck_assert_str_eq(reply, "ok again\n");

    /* Someone else's socket at the path survives our close. */
    ck_assert_int_eq(unlink(path), 0);
    int foreign = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(bind(foreign, (struct sockaddr *)&sa, sizeof sa), 0);
    control_close(ctl, 1);
    ctl = NULL;
    ck_assert_int_eq(stat(path, &st), 0);
    close(foreign);
}
END_TEST

START_TEST(request_waits_for_the_answer_and_times_out)
{
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        char reply[64];
        int rc = control_request(path, "generation", reply, sizeof reply, 5000);
        _exit(rc == 0 && strcmp(reply, "ok generation 9") == 0 ? 0 : 1);
    }
    answer = "ok generation 9";
    run(5000);
    ck_assert_str_eq(got_cmd, "generation");
    int status;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Nobody runs the loop now: the client gives up after its timeout. */
    char reply[64];
    ck_assert_int_eq(control_request(path, "reload", reply, sizeof reply, 100), -1);
    ck_assert_int_eq(errno, ETIMEDOUT);
    /* No socket at all. */
    char none[160];
    snprintf(none, sizeof none, "%s/none.ctl", dir);
    ck_assert_int_eq(control_request(none, "reload", reply, sizeof reply, 100), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("control");
    TCase *tc = tcase_create("socket");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, path_is_next_to_the_pid_file);
    tcase_add_test(tc, a_command_gets_its_answer_and_the_client_is_closed);
    tcase_add_test(tc, a_command_may_come_in_pieces);
    tcase_add_test(tc, the_answer_may_come_later);
    tcase_add_test(tc, an_over_long_command_is_refused);
    tcase_add_test(tc, a_client_that_gave_up_costs_nothing);
    tcase_add_test(tc, close_unlinks_only_its_own_socket_and_rebind_restores_it);
    tcase_add_test(tc, request_waits_for_the_answer_and_times_out);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
