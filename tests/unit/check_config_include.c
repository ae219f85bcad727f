/* Checking the files libconfig will open (src/config_include.c): every
 * @include, at every level, must name a regular file herd can read, found
 * as libconfig 1.5 finds it, before libconfig opens it (a directory made
 * flex exit(2), a FIFO blocked forever); and reading a file without ever
 * blocking on it. */
#include <check.h>
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_include.h"
#include "config_fixture.h"
#include "tap.h"

/* text, as herd.conf in the scratch directory, passes the check. */
static int check_text(const char *text, char *err, size_t cap)
{
    fixture_conf_write(fixture_conf, text);
    return config_include_check(fixture_conf, text, strlen(text), fixture_dir, err, cap);
}

static void assert_check_fails(const char *text, const char *want_prefix, const char *says)
{
    char err[512] = "";
    ck_assert_msg(check_text(text, err, sizeof err) < 0, "accepted: %s", text);
    ck_assert_msg(strncmp(err, want_prefix, strlen(want_prefix)) == 0,
                  "'%s' does not start with '%s'", err, want_prefix);
    ck_assert_msg(strstr(err, says) != NULL, "'%s' does not say '%s'", err, says);
}

static void assert_check_passes(const char *text)
{
    char err[512] = "";
    ck_assert_msg(check_text(text, err, sizeof err) == 0, "refused: %s", err);
}

/* A file of the scratch directory. */
static const char *scratch(const char *name)
{
    static char p[300];
    return fixture_path(p, sizeof p, fixture_dir, name);
}

/* libconfig itself reads text with the scratch directory for includes:
 * the value of `key`, or -1 when it refuses the text. */
static long long libconfig_reads(const char *text, const char *key)
{
    config_t lc;
    config_init(&lc);
    config_set_include_dir(&lc, fixture_dir);
    long long v = -1;
    if (config_read_string(&lc, text) == CONFIG_TRUE)
        ck_assert(config_lookup_int64(&lc, key, &v) == CONFIG_TRUE);
    config_destroy(&lc);
    return v;
}

/* ------------------------------------------------------------------ */

START_TEST(include_not_a_file)
{
    char want[700];
    ck_assert_int_eq(mkdir(scratch("conf.d"), 0755), 0);
    ck_assert_int_eq(mkfifo(scratch("pipe"), 0644), 0);

    snprintf(want, sizeof want, "%s:2: @include \"conf.d\": ", fixture_conf);
    assert_check_fails(BASE "@include \"conf.d\"\n" ECHO_SERVER, want, "Is a directory");
    snprintf(want, sizeof want, "%s:3: @include \"pipe\": ", fixture_conf);
    assert_check_fails(BASE "\n\t @include\t\"pipe\" # comment\n" ECHO_SERVER, want,
                       "not a regular file");
    snprintf(want, sizeof want, "%s:2: @include \"gone.conf\": ", fixture_conf);
    assert_check_fails(BASE "@include \"gone.conf\"\n" ECHO_SERVER, want, "No such file");
    /* libconfig joins an empty name to the include directory. */
    snprintf(want, sizeof want, "%s:2: @include \"\": ", fixture_conf);
    assert_check_fails(BASE "@include \"\"\n" ECHO_SERVER, want, "Is a directory");
    /* An absolute name is not what libconfig 1.5 opens. */
    snprintf(want, sizeof want, "%s:2: @include \"%s\": ", fixture_conf, fixture_conf);
    char text[1024];
    snprintf(text, sizeof text, BASE "@include \"%s\"\n" ECHO_SERVER, fixture_conf);
    assert_check_fails(text, want, "libconfig 1.5 reads include names relative to");
    assert_check_fails(text, want, "absolute path does not work");
}
END_TEST

START_TEST(include_nested_and_cycles)
{
    char want[400];
    /* An include inside an include: the message names the including file. */
    ck_assert_int_eq(mkdir(scratch("conf.d"), 0755), 0);
    fixture_conf_write(scratch("inner.inc"), "# inner\n@include \"conf.d\"\n");
    snprintf(want, sizeof want, "%s:2: @include \"conf.d\": ", scratch("inner.inc"));
    assert_check_fails(BASE "@include \"inner.inc\"\n" ECHO_SERVER, want, "Is a directory");

    /* A cycle is found, not followed. */
    fixture_conf_write(scratch("self.inc"), "\n\n@include \"self.inc\"\n");
    snprintf(want, sizeof want, "%s:3: @include \"self.inc\": ", scratch("self.inc"));
    assert_check_fails(BASE "@include \"self.inc\"\n" ECHO_SERVER, want, "include cycle");

    /* libconfig 1.5 takes ten levels of includes, not eleven. */
    for (int i = 1; i <= 10; i++) {
        char name[16], inc[64];
        snprintf(name, sizeof name, "f%d", i);
        snprintf(inc, sizeof inc, "@include \"f%d\"\n", i + 1);
        fixture_conf_write(scratch(name), i < 10 ? inc : "workers = 1;\n");
    }
    const char *ten = BASE "@include \"f1\"\n" ECHO_SERVER;
    assert_check_passes(ten);
    ck_assert_int_eq(libconfig_reads(ten, "workers"), 1);
    fixture_conf_write(scratch("f10"), "@include \"f11\"\n");
    fixture_conf_write(scratch("f11"), "workers = 1;\n");
    snprintf(want, sizeof want, "%s/f10:1: @include \"f11\": ", fixture_dir);
    assert_check_fails(ten, want, "nested more than 10 deep");
    ck_assert_int_eq(libconfig_reads(ten, "workers"), -1);
}
END_TEST

/* A cycle through two files, and through the main file; the same file
 * included twice, one after the other, is no cycle. */
START_TEST(include_cycles_through_files)
{
    char want[400];
    fixture_conf_write(scratch("a.inc"), "@include \"b.inc\"\n");
    fixture_conf_write(scratch("b.inc"), "x = 1;\n@include \"a.inc\"\n");
    snprintf(want, sizeof want, "%s:2: @include \"a.inc\": ", scratch("b.inc"));
    assert_check_fails(BASE "@include \"a.inc\"\n", want, "already being included");

    snprintf(want, sizeof want, "%s:2: @include \"herd.conf\": ", scratch("back.inc"));
    fixture_conf_write(scratch("back.inc"), "\n@include \"herd.conf\"\n");
    assert_check_fails(BASE "@include \"back.inc\"\n", want, "include cycle");

    fixture_conf_write(scratch("x.inc"), "x = 1;\n");
    fixture_conf_write(scratch("twice.inc"), "@include \"x.inc\"\n");
    assert_check_passes("@include \"twice.inc\"\n@include \"twice.inc\"\n@include \"x.inc\"\n");
}
END_TEST

START_TEST(include_only_where_libconfig_sees_one)
{
    ck_assert_int_eq(mkdir(scratch("conf.d"), 0755), 0);
    /* In comments and strings, @include is text. */
    const char *text = BASE "# @include \"conf.d\"\n// @include \"conf.d\"\n"
                       "/*\n@include \"conf.d\"\n*/\n"
                       "user = \"nobody\n@include \\\"conf.d\\\"\n\";\n" ECHO_SERVER;
    assert_check_passes(text);
    /* libconfig agrees: the string holds the line. */
    config_t lc;
    config_init(&lc);
    ck_assert(config_read_string(&lc, text) == CONFIG_TRUE);
    const char *user = NULL;
    ck_assert(config_lookup_string(&lc, "user", &user) == CONFIG_TRUE);
    ck_assert_str_eq(user, "nobody\n@include \"conf.d\"\n");
    config_destroy(&lc);
    assert_check_passes(BASE "/* @include \"conf.d\" */\n" ECHO_SERVER);
}
END_TEST

/* Without an include directory a name is opened as it is written: from
 * the working directory, or absolute. */
START_TEST(include_without_a_directory)
{
    char err[512];
    fixture_conf_write(scratch("here.inc"), "x = 1;\n");
    ck_assert_int_eq(chdir(fixture_dir), 0);
    const char *text = "@include \"here.inc\"\n";
    ck_assert_int_eq(config_include_check("main", text, strlen(text), NULL, err, sizeof err), 0);
    text = "\n@include \"gone.inc\"\n";
    ck_assert_int_eq(config_include_check("main", text, strlen(text), NULL, err, sizeof err), -1);
    ck_assert_str_eq(err, "main:2: @include \"gone.inc\": No such file or directory");
    char abs[512];
    snprintf(abs, sizeof abs, "@include \"%s\"\n", scratch("here.inc"));
    ck_assert_int_eq(config_include_check("main", abs, strlen(abs), NULL, err, sizeof err), 0);
}
END_TEST

START_TEST(include_path)
{
    char *p = config_include_path("/etc/herd", "a.conf");
    ck_assert_str_eq(p, "/etc/herd/a.conf");
    free(p);
    p = config_include_path(NULL, "a.conf");
    ck_assert_str_eq(p, "a.conf");
    free(p);
    p = config_include_path("/", "");
    ck_assert_str_eq(p, "//");
    free(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Reading a whole file */

START_TEST(read_regular_file)
{
    /* Larger than any first guess, with a NUL byte inside. */
    size_t n = 200000;
    char *data = malloc(n);
    ck_assert_ptr_nonnull(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    data[1000] = '\0';
    fixture_write(scratch("big"), data, n);
    char *text = NULL, why[160];
    size_t len = 0;
    ck_assert_int_eq(config_include_read(scratch("big"), &text, &len, why, sizeof why), 0);
    ck_assert_uint_eq(len, n);
    ck_assert_mem_eq(text, data, n);
    ck_assert_int_eq(text[n], '\0');
    free(text);
    free(data);
    fixture_write(scratch("empty"), "", 0);
    ck_assert_int_eq(config_include_read(scratch("empty"), &text, &len, why, sizeof why), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(text, "");
    free(text);
}
END_TEST

/* What is not a regular file is refused with the reason, never opened in
 * a way that blocks: a FIFO without a writer would. */
START_TEST(read_refuses_what_is_not_a_file)
{
    static const struct {
        const char *name;       /* in the scratch directory, or absolute */
        const char *why;
        int err;
    } rows[] = {
        { "", "Is a directory", EISDIR },
        { "pipe", "not a regular file", EINVAL },
        { "/dev/null", "not a regular file", EINVAL },
        { "gone", "No such file or directory", ENOENT },
        { "gone/deeper", "No such file or directory", ENOENT },
    };
    ck_assert_int_eq(mkfifo(scratch("pipe"), 0644), 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *path = rows[i].name[0] == '/' ? rows[i].name : scratch(rows[i].name);
        char *text = (char *)"untouched", why[160] = "";
        size_t len = 7;
        errno = 0;
        ck_assert_int_eq(config_include_read(path, &text, &len, why, sizeof why), -1);
        ck_assert_msg(strcmp(why, rows[i].why) == 0, "%s: '%s'", path, why);
        ck_assert_msg(errno == rows[i].err, "%s: errno %d", path, errno);
        ck_assert_ptr_null(text);
        ck_assert_uint_eq(len, 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config_include");
    TCase *tc = tcase_create("check");
    tcase_add_checked_fixture(tc, fixture_conf_setup, fixture_conf_teardown);
    tcase_add_test(tc, include_not_a_file);
    tcase_add_test(tc, include_nested_and_cycles);
    tcase_add_test(tc, include_cycles_through_files);
    tcase_add_test(tc, include_only_where_libconfig_sees_one);
    tcase_add_test(tc, include_without_a_directory);
    tcase_add_test(tc, include_path);
    suite_add_tcase(s, tc);
    tc = tcase_create("read");
    tcase_add_checked_fixture(tc, fixture_conf_setup, fixture_conf_teardown);
    tcase_add_test(tc, read_regular_file);
    tcase_add_test(tc, read_refuses_what_is_not_a_file);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
