/* What the configuration suites share: a scratch directory with herd.conf
 * in it, -T into a string, and the check of a refused file's message
 * ("FILE:LINE: ... says ..."). */
#ifndef HERD_TESTS_CONFIG_FIXTURE_H
#define HERD_TESTS_CONFIG_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fixture.h"

/* The lines most test files start from: a pid file anyone may name (the
 * default is under /run) and the smallest server. */
#define BASE "pid_file = \"/tmp/x.pid\";\n"
#define ECHO_SERVER \
    "servers = ( { listen = [ \"127.0.0.1:7007\" ]; protocol = \"echo\"; } );\n"

/* The scratch directory of a test (fixture_conf_setup/teardown as a
 * checked fixture) and its herd.conf. */
__attribute__((unused)) static char fixture_dir[64];
__attribute__((unused)) static char fixture_conf[128];

__attribute__((unused)) static void fixture_conf_setup(void)
{
    fixture_mkdtemp(fixture_dir, sizeof fixture_dir, "config");
    fixture_path(fixture_conf, sizeof fixture_conf, fixture_dir, "herd.conf");
}

__attribute__((unused)) static void fixture_conf_teardown(void)
{
    fixture_rmtree(fixture_dir);
}

/* Write text to path. */
static inline void fixture_conf_write(const char *path, const char *text)
{
    fixture_write(path, text, strlen(text));
}

/* Read text as herd.conf of the scratch directory. */
static inline struct herd_config *fixture_load(const char *text, char *err, size_t cap)
{
    fixture_conf_write(fixture_conf, text);
    return config_load(fixture_conf, err, cap);
}

/* The -T text of cfg (malloc'ed). Not inlined: gcc then takes the stream's
 * hold on the local `text` for a dangling pointer in the caller. */
__attribute__((noinline, unused)) static char *fixture_print(const struct herd_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(config_print(cfg, f), 0);
    fclose(f);
    return text;
}

/* Case n of a table of bad files was refused (cfg is NULL) with err, which
 * names file:line (file alone for line 0) and says `says`. */
static inline void fixture_refused_at(int n, const struct herd_config *cfg, const char *err,
                                   const char *file, int line, const char *says)
{
    char want[600];
    ck_assert_msg(cfg == NULL, "case %d accepted", n);
    if (line > 0)
        snprintf(want, sizeof want, "%s:%d: ", file, line);
    else
        snprintf(want, sizeof want, "%s: ", file);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "case %d: '%s' does not start with '%s'",
                  n, err, want);
    ck_assert_msg(strstr(err, says) != NULL, "case %d: '%s' does not say '%s'", n, err, says);
}

/* mark_point(): the test's TAP line names the suite's file, not this one. */
#define fixture_refused(...) \
    do { \
        fixture_refused_at(__VA_ARGS__); \
        mark_point(); \
    } while (0)

#endif
