/* A forked child becoming a worker (src/worker_process.c): it closes every
 * descriptor of the master's but the ones its arguments name, and takes on
 * the configured user and group when it runs as root (an unknown user or
 * group is refused). Each case runs in a forked child, as a worker does,
 * and reports through its exit status. */
#include <check.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "worker.h"
#include "worker_process.h"
#include "tap.h"

static int in_child(int (*fn)(void))
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn());
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* Six descriptors; the channel, one listener and one access log are kept. */
static int keeps_only_named(void)
{
    int fds[6];
    for (int i = 0; i < 6; i++)
        if ((fds[i] = open("/dev/null", O_RDONLY)) < 0)
            return 10;
    struct herd_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.n_servers = 2;
    int logs[2] = { -1, fds[4] };
    struct worker_bind bind = { .fd = fds[2] };
    struct worker_args a = { .cfg = &cfg, .channel = fds[0], .binds = &bind, .n_binds = 1,
                             .access_logs = logs };
    worker_process_close_inherited(&a);
    if (!is_open(0) || !is_open(1) || !is_open(2))
        return 1;
    if (!is_open(fds[0]) || !is_open(fds[2]) || !is_open(fds[4]))
        return 2;
    if (is_open(fds[1]) || is_open(fds[3]) || is_open(fds[5]))
        return 3;
    if (is_open(fds[5] + 1))
        return 4;
    return 0;
}

START_TEST(closes_all_but_its_own)
{
    ck_assert_int_eq(in_child(keeps_only_named), 0);
}
END_TEST

static const char *user, *group;

static int drop(void)
{
    struct herd_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.user = (char *)user;
    cfg.group = (char *)group;
    if (worker_process_drop_privileges(&cfg) < 0)
        return 1;
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() == 0)
        return 2;   /* root never stays root */
    if (pw && getuid() != pw->pw_uid)
        return 3;
    return 0;
}

START_TEST(becomes_the_user_as_root)
{
    if (geteuid() != 0)
        return;     /* not root: nothing to drop, checked below */
    user = "nobody";
    group = NULL;
    ck_assert_int_eq(in_child(drop), 0);
    group = "no-such-group-herd";
    ck_assert_int_eq(in_child(drop), 1);
    user = "no-such-user-herd";
    group = NULL;
    ck_assert_int_eq(in_child(drop), 1);
}
END_TEST

static int keep_as_user(void)
{
    uid_t before = getuid();
    struct herd_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.user = (char *)"no-such-user-herd";
    return worker_process_drop_privileges(&cfg) == 0 && getuid() == before ? 0 : 1;
}

START_TEST(not_root_keeps_its_user)
{
    if (geteuid() == 0)
        return;
    ck_assert_int_eq(in_child(keep_as_user), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("worker_process");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, closes_all_but_its_own);
    tcase_add_test(tc, becomes_the_user_as_root);
    tcase_add_test(tc, not_root_keeps_its_user);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
