/* The master's log files (src/master/logs.c): `herd -t` opening each one
 * and naming where it is configured (FILE:LINE), and USR1: reopening the
 * error log and the access logs at their paths after a rotation and
 * passing the new descriptors to every worker (seen in the workers'
 * descriptors and in where an HTTP request's line lands), or keeping the
 * old ones when a path has become a symbolic link. Mostly through a master
 * in this process (src/master/internal.h); one case sends a whole master
 * USR1. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fixture.h"
#include "log.h"
#include "master/internal.h"
#include "master/master.h"
#include "master_fixture.h"
#include "tap.h"

static char access_log[160], rotated_error[160], rotated_access[160];

/* After mf_setup. */
static void log_paths(void)
{
    fixture_path(access_log, sizeof access_log, mf.dir, "access.log");
    fixture_path(rotated_error, sizeof rotated_error, mf.dir, "error.log.1");
    fixture_path(rotated_access, sizeof rotated_access, mf.dir, "access.log.1");
}

/* ------------------------------------------------------------------ */
/* herd -t */

START_TEST(test_logs_names_where_a_log_is_configured)
{
    char bad[200], err[1024];
    snprintf(bad, sizeof bad, "%s/file", mf.dir);
    FILE *f = fopen(bad, "w");
    fclose(f);
    f = fopen(mf.conf, "w");
    fprintf(f, "user = \"nobody\";\npid_file = \"%s\";\n\nerror_log = \"%s/file/error.log\";\n"
            "servers = ( { listen = [ \"127.0.0.1:%d\" ]; protocol = \"echo\"; } );\n",
            mf.pid_file, mf.dir, mf.port);
    fclose(f);
    struct herd_config *cfg = config_load(mf.conf, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(master_test_logs(cfg, err, sizeof err), -1);
    char want[300];
    snprintf(want, sizeof want, "%s:4: cannot open log file %s/file/error.log", mf.conf, mf.dir);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    config_free(cfg);

    mf_write_conf(1, "");
    cfg = config_load(mf.conf, err, sizeof err);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_int_eq(master_test_logs(cfg, err, sizeof err), 0);
    ck_assert_str_eq(err, "");
    config_free(cfg);
}
END_TEST

/* An http server whose access_log (on line 8 of mf_write_conf_with's
 * layout) is `path`; returns the loaded configuration. */
static struct herd_config *with_access_log(const char *path)
{
    char keys[512], err[1024];
    snprintf(keys, sizeof keys, "access_log = \"%s\";\n"
             "routes = ( { path = \"/\"; return = { status = 200; body = \"hi\\n\"; }; } );",
             path);
    mf_write_conf_with(&(struct mf_conf){ .workers = 2, .protocol = "http", .server = keys });
    struct herd_config *cfg = config_load(mf.conf, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    return cfg;
}

START_TEST(test_logs_names_the_access_logs_line)
{
    char file[160], below[200], err[1024], want[512];
    fixture_write(fixture_path(file, sizeof file, mf.dir, "file"), "", 0);
    snprintf(below, sizeof below, "%s/access.log", file);
    struct herd_config *cfg = with_access_log(below);
    ck_assert_int_eq(master_test_logs(cfg, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:8: cannot open log file %s: ", mf.conf, below);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    config_free(cfg);

    ck_assert_int_eq(symlink(file, access_log), 0);
    cfg = with_access_log(access_log);
    ck_assert_int_eq(master_test_logs(cfg, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "it is a symbolic link") != NULL, "%s", err);
    config_free(cfg);

    /* Opened (created, as the master would) and closed again. */
    ck_assert_int_eq(unlink(access_log), 0);
    cfg = with_access_log(access_log);
    ck_assert_int_eq(master_test_logs(cfg, err, sizeof err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_int_gt(mf_inode(access_log), 0);
    ck_assert_int_gt(mf_inode(mf.error_log), 0);
    config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* USR1 */

/* A master in this process with two http workers writing access_log, its
 * own log the configured error log (as master_main opens it). */
static struct master *start_with_logs(void)
{
    char err[1024];
    struct herd_config *cfg = with_access_log(access_log);
    struct master *m = mfm_new();
    ck_assert_msg(logs_open_error(cfg, err, sizeof err) == 0, "%s", err);
    config_free(cfg);
    mfm_start(m);
    return m;
}

/* GET path over HTTP/1.0, answered and closed. */
static void get(const char *path)
{
    int fd = mf_connect(mf.port);
    ck_assert_int_ge(fd, 0);
    char req[256], buf[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: test\r\n\r\n", path);
    ck_assert_int_eq(write(fd, req, (size_t)n), n);
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        got += (size_t)r;
    ck_assert_int_eq(r, 0);
    ck_assert_uint_gt(got, 0);
    close(fd);
}

static ino_t fd_inode(int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    return st.st_ino;
}

START_TEST(usr1_reopens_the_logs_and_passes_them_on)
{
    struct master *m = start_with_logs();
    struct gen *g = m->current;
    get("/before");
    MF_WAIT(mf_file_has(access_log, "GET /before"), "no line for /before");

    /* Rotated away, as logrotate does, then USR1. */
    ck_assert_int_eq(rename(mf.error_log, rotated_error), 0);
    ck_assert_int_eq(rename(access_log, rotated_access), 0);
    logs_reopen(m);
    ck_assert_int_eq(fd_inode(log_fd()), mf_inode(mf.error_log));
    ck_assert_int_eq(fd_inode(g->access_logs[0]), mf_inode(access_log));
    ck_assert(mf_logged("reopened log files"));
    for (int slot = 0; slot < 2; slot++) {
        pid_t w = mfm_child(m, g, slot)->pid;
        MF_WAIT(mf_holds_file(w, mf.error_log) && mf_holds_file(w, access_log) &&
                    !mf_holds_file(w, rotated_error) && !mf_holds_file(w, rotated_access),
                "worker %d has not switched to the new files", (int)w);
    }
    get("/after");
    MF_WAIT(mf_file_has(access_log, "GET /after"), "no line for /after");
    ck_assert(!mf_file_has(rotated_access, "GET /after"));
    mfm_free(m);
}
END_TEST

/* Whoever can write to the log directory cannot have the root master open
 * another file: links at the paths are refused, the old files kept. */
START_TEST(a_symbolic_link_is_refused_on_reopen)
{
    struct master *m = start_with_logs();
    struct gen *g = m->current;
    int access_fd = g->access_logs[0];
    ino_t error_ino = fd_inode(log_fd()), access_ino = fd_inode(access_fd);
    char precious[160];
    fixture_write(fixture_path(precious, sizeof precious, mf.dir, "precious"), "keep\n", 5);
    ck_assert_int_eq(rename(mf.error_log, rotated_error), 0);
    ck_assert_int_eq(rename(access_log, rotated_access), 0);
    ck_assert_int_eq(symlink(precious, mf.error_log), 0);
    ck_assert_int_eq(symlink(precious, access_log), 0);

    logs_reopen(m);
    ck_assert_int_eq(fd_inode(log_fd()), error_ino);
    ck_assert_int_eq(g->access_logs[0], access_fd);
    ck_assert_int_eq(fd_inode(access_fd), access_ino);
    char want[300];
    snprintf(want, sizeof want, "reopen: cannot open log file %s: it is a symbolic link",
             mf.error_log);
    ck_assert(mf_file_has(rotated_error, want));
    snprintf(want, sizeof want, "reopen: cannot open log file %s: it is a symbolic link",
             access_log);
    ck_assert(mf_file_has(rotated_error, want));

    get("/linked");
    MF_WAIT(mf_file_has(rotated_access, "GET /linked"), "no line for /linked");
    for (int slot = 0; slot < 2; slot++) {
        pid_t w = mfm_child(m, g, slot)->pid;
        ck_assert(mf_holds_file(w, rotated_error) && mf_holds_file(w, rotated_access));
    }
    char *text = fixture_read_file(precious, NULL);
    ck_assert_str_eq(text, "keep\n");
    free(text);
    mfm_free(m);
}
END_TEST

/* The signal itself, to a whole master. */
START_TEST(usr1_makes_a_master_reopen_its_log)
{
    mf_start(1);
    pid_t w = mf_worker_of(0);
    ck_assert_int_gt(w, 0);
    ck_assert_int_eq(rename(mf.error_log, rotated_error), 0);
    kill(mf.master, SIGUSR1);
    MF_WAIT(mf_logged("reopened log files"), "no new error log");
    MF_WAIT(mf_holds_file(w, mf.error_log), "the worker does not write to the new error log");
    ck_assert(!mf_file_has(rotated_error, "reopened log files"));
}
END_TEST

int main(void)
{
    mf_init();
    Suite *s = suite_create("master_logs");
    TCase *tc = mf_tcase(s, "test");
    tcase_add_checked_fixture(tc, log_paths, NULL);
    tcase_add_test(tc, test_logs_names_where_a_log_is_configured);
    tcase_add_test(tc, test_logs_names_the_access_logs_line);

    tc = mf_tcase(s, "reopen");
    tcase_add_checked_fixture(tc, log_paths, NULL);
    tcase_add_test(tc, usr1_reopens_the_logs_and_passes_them_on);
    tcase_add_test(tc, a_symbolic_link_is_refused_on_reopen);
    tcase_add_test(tc, usr1_makes_a_master_reopen_its_log);
    return run_suite_tap(s);
}
