/* Binary upgrade (src/master/upgrade.c), with a whole master: USR2 starts
 * "the binary installed at our path", which is this program (see main:
 * with -c it writes down what it inherited, then runs as a master). The
 * new master inherits the listening sockets (LISTEN_FDS from fd 3,
 * LISTEN_PID, LISTEN_FDNAMES) and the counters' page; the pid file goes
 * to PIDFILE.oldbin meanwhile and comes back when the new master fails or
 * quits; a rollback is HUP to the old master, whose workers WINCH had
 * stopped. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fixture.h"
#include "master/master.h"
#include "master_fixture.h"
#include "tap.h"

#define INHERITED "inherited"       /* what the new master found, in mf.dir */

/* Wait until the pid file names a master other than `not`; returns it. */
static pid_t wait_pid_file_change(pid_t not)
{
    pid_t now = 0;
    char *text = NULL;
    MF_WAIT((free(text), text = mf_read(mf.pid_file)) && (now = atoi(text)) > 0 && now != not,
            "the pid file still names %d", (int)not);
    free(text);
    return now;
}

static pid_t pid_file_pid(void)
{
    char *text = mf_read(mf.pid_file);
    pid_t pid = text ? atoi(text) : 0;
    free(text);
    return pid;
}

/* Wait until master `pid` logs that its first generation serves. */
static void wait_serving(pid_t pid)
{
    MF_WAIT(mf_logged("] %d: generation 1 serving", (int)pid), "master %d does not serve",
            (int)pid);
}

START_TEST(an_upgrade_rolls_back_when_the_new_master_quits)
{
    mf_start(1);
    pid_t old = mf.master;
    char oldbin[200];
    snprintf(oldbin, sizeof oldbin, "%s.oldbin", mf.pid_file);
    kill(old, SIGUSR2);
    pid_t fresh = wait_pid_file_change(old);
    char *text = mf_read(oldbin);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(atoi(text), old);
    free(text);
    /* The new master serves on the inherited socket, through its control
     * socket at the same path. */
    mf_wait_generation(1);
    ck_assert_int_eq(mf_echo("both\n"), 0);

    /* Rollback: the new master goes; the old one takes its pid file and
     * control socket back. */
    kill(fresh, SIGQUIT);
    MF_WAIT(pid_file_pid() == old, "the pid file does not name %d again", (int)old);
    ck_assert_int_eq(mf_inode(oldbin), 0);
    char reply[64];
    mf_ask("generation", reply, sizeof reply);
    ck_assert_str_eq(reply, "ok generation 1");
    ck_assert_int_eq(mf_echo("old\n"), 0);
    ck_assert(mf_logged("takes its pid file back"));
    kill(old, SIGQUIT);
    ck_assert_int_eq(mf_wait_exit(), 0);
    ck_assert_int_eq(mf_inode(mf.pid_file), 0);
}
END_TEST

/* The value of `NAME=` in what the new master wrote down, or NULL. */
static const char *field(const char *text, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, "\n%s=", name);
    const char *p = strstr(text, key);
    if (p == NULL)
        return NULL;
    p += strlen(key);
    size_t n = strcspn(p, "\n");
    ck_assert_uint_lt(n, cap);
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

static unsigned long long accepted(const char *status)
{
    const char *p = strstr(status, "server accepts handled requests\n");
    ck_assert_msg(p != NULL, "%s", status);
    return strtoull(p + strlen("server accepts handled requests\n"), NULL, 10);
}

START_TEST(the_new_master_inherits_the_sockets_and_the_counters)
{
    mf_start(2);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(mf_echo("count me\n"), 0);
    char status[8192];
    mf_ask("status", status, sizeof status);
    ck_assert_uint_ge(accepted(status), 3);
    pid_t old = mf.master;
    kill(old, SIGUSR2);
    pid_t fresh = wait_pid_file_change(old);

    char path[200], v[256];
    char *env = NULL;
    fixture_path(path, sizeof path, mf.dir, INHERITED);
    MF_WAIT((env = mf_read(path)) != NULL, "the new master wrote nothing down");
    ck_assert_str_eq(field(env, "LISTEN_FDS", v, sizeof v), "2");
    ck_assert_int_eq(atoi(field(env, "LISTEN_PID", v, sizeof v)), fresh);
    ck_assert_str_eq(field(env, "LISTEN_FDNAMES", v, sizeof v), "herd:herd");
    ck_assert_int_eq(atoi(field(env, "HERD_UPGRADE_FROM", v, sizeof v)), old);
    ck_assert_ptr_nonnull(field(env, "HERD_STATS_FD", v, sizeof v));
    ck_assert_int_ge(atoi(v), 5);                   /* above the sockets */
    /* fds 3 and 4 are the old master's two sockets of the group. */
    wait_serving(fresh);
    for (int fd = 3; fd <= 4; fd++) {
        char name[16];
        unsigned long dev, ino;
        snprintf(name, sizeof name, "fd%d", fd);
        ck_assert_ptr_nonnull(field(env, name, v, sizeof v));
        ck_assert_int_eq(sscanf(v, "%lu:%lu", &dev, &ino), 2);
        ck_assert_msg(mf_holds_inode(old, (dev_t)dev, (ino_t)ino), "fd %d: %s", fd, v);
        ck_assert_msg(mf_holds_inode(fresh, (dev_t)dev, (ino_t)ino), "fd %d: %s", fd, v);
    }
    free(env);

    /* The new master counts on the old one's page: what was counted
     * before is there. */
    mf_ask("status", status, sizeof status);
    ck_assert_uint_ge(accepted(status), 3);

    /* One upgrade at a time. */
    kill(old, SIGUSR2);
    MF_WAIT(mf_logged("upgrade: new master %d is already running", (int)fresh),
            "no refusal of a second upgrade");
    kill(fresh, SIGQUIT);
    MF_WAIT(!mf_alive(fresh), "the new master does not quit");
}
END_TEST

/* The new binary cannot even read the configuration: the pid file, renamed
 * for it, comes back; the old master serves on. */
START_TEST(a_failed_upgrade_gives_the_pid_file_back)
{
    mf_start(1);
    pid_t old = mf.master;
    FILE *f = fopen(mf.conf, "a");
    fputs("workers = ;\n", f);
    fclose(f);
    kill(old, SIGUSR2);
    MF_WAIT(mf_logged("takes its pid file back"), "no rollback");
    ck_assert(mf_logged("with 1 sockets; pid file is now %s.oldbin", mf.pid_file));
    ck_assert(mf_logged("upgrade: new master exited with status 99; this master (%d) takes its "
                        "pid file back", (int)old));
    ck_assert_int_eq(pid_file_pid(), old);
    char want[256];
    snprintf(want, sizeof want, "%s.oldbin", mf.pid_file);
    ck_assert_int_eq(mf_inode(want), 0);
    char reply[64];
    mf_ask("generation", reply, sizeof reply);
    ck_assert_str_eq(reply, "ok generation 1");
    ck_assert_int_eq(mf_echo("still old\n"), 0);
}
END_TEST

/* The operator's sequence: USR2, WINCH to the old master (its workers
 * stop), the new master turns out bad and goes, HUP to the old master
 * brings workers back. */
START_TEST(a_rollback_with_hup_restarts_the_old_workers)
{
    mf_start(1);
    pid_t old = mf.master;
    pid_t w = mf_worker_of(0);
    ck_assert_int_gt(w, 0);
    kill(old, SIGUSR2);
    pid_t fresh = wait_pid_file_change(old);
    wait_serving(fresh);

    kill(old, SIGWINCH);
    MF_WAIT(!mf_alive(w), "the old worker is still there");
    kill(fresh, SIGQUIT);
    MF_WAIT(pid_file_pid() == old &&
                mf_logged("takes its pid file back (send HUP to restart workers)"),
            "the old master did not take its pid file back");
    pid_t kids[8];
    ck_assert_uint_eq(mf_children_of(old, kids, 8), 0);

    kill(old, SIGHUP);
    mf_wait_generation(2);
    ck_assert_int_eq(mf_echo("rolled back\n"), 0);
    ck_assert_uint_eq(mf_children_of(old, kids, 8), 1);
    ck_assert_int_eq(mf_worker_of(0), kids[0]);
}
END_TEST

/* Write down what this new master inherited: the LISTEN_* variables, the
 * counters' page and each socket's device and inode, in DIR/inherited. */
static void write_down_inheritance(const char *conf)
{
    char dir[4096], path[4200], tmp[4210];
    snprintf(dir, sizeof dir, "%s", conf);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    snprintf(path, sizeof path, "%s/%s", dir, INHERITED);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return;
    const char *names[] = { "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "HERD_UPGRADE_FROM",
                            "HERD_STATS_FD" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (getenv(names[i]))
            fprintf(f, "\n%s=%s", names[i], getenv(names[i]));
    int n = getenv("LISTEN_FDS") ? atoi(getenv("LISTEN_FDS")) : 0;
    for (int fd = 3; fd < 3 + n; fd++) {
        struct stat st;
        if (fstat(fd, &st) == 0)
            fprintf(f, "\nfd%d=%lu:%lu", fd, (unsigned long)st.st_dev, (unsigned long)st.st_ino);
    }
    fputs("\n", f);
    fclose(f);
    rename(tmp, path);      /* whole, or not at all */
}

/* Run as the new binary of a binary upgrade: `PROGRAM -c CONF [-F]`. */
static int as_new_master(const char *path)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);      /* not beyond the old master */
    write_down_inheritance(path);
    char err[1024];
    struct herd_config *cfg = config_load(path, err, sizeof err);
    if (cfg == NULL)
        return 99;
    struct master_options opts = { .conf_path = path, .conf_given = true, .foreground = true };
    return master_main(&opts, cfg);
}

int main(int argc, char **argv)
{
    mf_init();
    if (argc >= 3 && strcmp(argv[1], "-c") == 0)
        return as_new_master(argv[2]);

    Suite *s = suite_create("master_upgrade");
    TCase *tc = mf_tcase(s, "upgrade");
    tcase_add_test(tc, an_upgrade_rolls_back_when_the_new_master_quits);
    tcase_add_test(tc, the_new_master_inherits_the_sockets_and_the_counters);
    tcase_add_test(tc, a_failed_upgrade_gives_the_pid_file_back);
    tcase_add_test(tc, a_rollback_with_hup_restarts_the_old_workers);
    return run_suite_tap(s);
}
