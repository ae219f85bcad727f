/* What the configuration suites share: -T into a string, and the check of
 * a refused file's message ("FILE:LINE: ... says ..."). */
#ifndef HERD_TESTS_CONFIG_FIXTURE_H
#define HERD_TESTS_CONFIG_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

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
