/* Route patterns through PCRE2 (src/http/regex.c): compile errors with
 * PCRE2's message and offset, group counts, matching with and without the
 * JIT, captures as offsets (unset groups, more groups than $9), the match
 * limit that stops a runaway pattern. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "http/regex.h"
#include "http/template.h"
#include "tap.h"

static struct http_regex *must_compile(const char *pattern, bool jit)
{
    char why[256] = "";
    struct http_regex *re = http_regex_compile(pattern, jit, why, sizeof why);
    ck_assert_msg(re != NULL, "%s: %s", pattern, why);
    return re;
}

/* The text of capture n of caps, or "(unset)". */
static const char *group(const struct http_captures *caps, unsigned n)
{
    static char out[64];
    if (n >= caps->n || caps->ovector[2 * n] == SIZE_MAX)
        return "(unset)";
    size_t len = caps->ovector[2 * n + 1] - caps->ovector[2 * n];
    ck_assert_uint_lt(len, sizeof out);
    memcpy(out, caps->subject + caps->ovector[2 * n], len);
    out[len] = '\0';
    return out;
}

START_TEST(bad_pattern_says_why_and_where)
{
    static const struct {
        const char *pattern, *why;
    } cases[] = {
        { "^/user/([0-9]+$", "missing closing parenthesis at offset 15" },
        { "^/a[b", "missing terminating ] for character class at offset 5" },
        { "*x", "quantifier does not follow a repeatable item at offset 0" },
        { "^/(?<n>a)(?<n>b)", "two named subpatterns have the same name" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[256] = "";
        ck_assert_ptr_null(http_regex_compile(cases[i].pattern, true, why, sizeof why));
        ck_assert_msg(strstr(why, cases[i].why) != NULL, "%s: %s", cases[i].pattern, why);
        ck_assert_msg(strstr(why, " at offset ") != NULL, "%s: %s", cases[i].pattern, why);
    }
}
END_TEST

START_TEST(groups_are_counted)
{
    static const struct {
        const char *pattern;
        unsigned groups;
    } cases[] = {
        { "^/x$", 0 }, { "^/user/([0-9]+)$", 1 }, { "^/(a)(?:b)(c)", 2 },
        { "^/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)", 11 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_regex *re = must_compile(cases[i].pattern, false);
        ck_assert_uint_eq(http_regex_groups(re), cases[i].groups);
        http_regex_free(re);
    }
}
END_TEST

/* The same answers from the JIT (where this machine has it) and the
 * interpreter. */
START_TEST(matches_and_captures)
{
    bool jit = _i == 1;
    struct http_regex *re = must_compile("^/user/([0-9]+)(/(edit))?$", jit);
    if (!jit)
        ck_assert(!http_regex_jitted(re));
    struct http_regex_scratch *md = http_regex_scratch_new(http_regex_groups(re));
    ck_assert_ptr_nonnull(md);
    struct http_captures caps;
    const char *s = "/user/42";
    ck_assert_int_eq(http_regex_match(re, md, s, strlen(s), &caps), 1);
    ck_assert_ptr_eq(caps.subject, s);
    ck_assert_str_eq(group(&caps, 0), "/user/42");
    ck_assert_str_eq(group(&caps, 1), "42");
    ck_assert_str_eq(group(&caps, 2), "(unset)");
    ck_assert_str_eq(group(&caps, 3), "(unset)");
    s = "/user/7/edit";
    ck_assert_int_eq(http_regex_match(re, md, s, strlen(s), &caps), 1);
    ck_assert_str_eq(group(&caps, 1), "7");
    ck_assert_str_eq(group(&caps, 3), "edit");
    /* The length is the subject's end, not a NUL: "/user/42x" cut at 8. */
    s = "/user/42x";
    ck_assert_int_eq(http_regex_match(re, md, s, strlen(s), NULL), 0);
    ck_assert_int_eq(http_regex_match(re, md, s, 8, NULL), 1);
    ck_assert_int_eq(http_regex_match(re, md, "/users/1", 8, &caps), 0);
    http_regex_scratch_free(md);
    http_regex_free(re);
}
END_TEST

START_TEST(inline_flags_and_bytes)
{
    struct http_regex *re = must_compile("(?i)^/Images/.*\\.(png|JPG)$", true);
    struct http_regex_scratch *md = http_regex_scratch_new(1);
    struct http_captures caps;
    const char *s = "/IMAGES/a b.jpg";
    ck_assert_int_eq(http_regex_match(re, md, s, strlen(s), &caps), 1);
    ck_assert_str_eq(group(&caps, 1), "jpg");
    http_regex_free(re);
    /* A decoded path may hold any byte but NUL, valid UTF-8 or not. */
    re = must_compile("(?s)^/raw/(.+)$", true);     /* (?s): '.' takes \n too */
    s = "/raw/\xff\xfe\r\n";
    ck_assert_int_eq(http_regex_match(re, md, s, strlen(s), &caps), 1);
    ck_assert_str_eq(group(&caps, 1), "\xff\xfe\r\n");
    http_regex_free(re);
    /* '$' is the end, not "before a final newline". */
    re = must_compile("^/admin$", true);
    ck_assert_int_eq(http_regex_match(re, md, "/admin\n", 7, NULL), 0);
    ck_assert_int_eq(http_regex_match(re, md, "/admin", 6, NULL), 1);
    http_regex_scratch_free(md);
    http_regex_free(re);
}
END_TEST

/* Eleven groups: the match data holds them all, the captures keep $0..$9. */
START_TEST(more_groups_than_captures)
{
    struct http_regex *re = must_compile("^/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)$", true);
    struct http_regex_scratch *md = http_regex_scratch_new(http_regex_groups(re));
    struct http_captures caps;
    ck_assert_int_eq(http_regex_match(re, md, "/abcdefghijk", 12, &caps), 1);
    ck_assert_uint_eq(caps.n, HTTP_CAPTURES_MAX);
    ck_assert_str_eq(group(&caps, 9), "i");
    http_regex_scratch_free(md);
    /* Match data smaller than the pattern's groups: PCRE2 still matches
     * and fills what it has. */
    md = http_regex_scratch_new(2);
    ck_assert_int_eq(http_regex_match(re, md, "/abcdefghijk", 12, &caps), 1);
    ck_assert_uint_eq(caps.n, 3);
    ck_assert_str_eq(group(&caps, 2), "b");
    http_regex_scratch_free(md);
    http_regex_free(re);
}
END_TEST

/* Catastrophic backtracking ends at the match limit as "no match". */
START_TEST(runaway_pattern_gives_up)
{
    bool jit = _i == 1;
    struct http_regex *re = must_compile("^/(a+)+$", jit);
    struct http_regex_scratch *md = http_regex_scratch_new(1);
    char s[64];
    s[0] = '/';
    memset(s + 1, 'a', 40);
    s[41] = 'b';
    ck_assert_int_eq(http_regex_match(re, md, s, 42, NULL), 0);
    ck_assert_int_eq(http_regex_match(re, md, s, 41, NULL), 1);
    http_regex_scratch_free(md);
    http_regex_free(re);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_regex");
    TCase *t = tcase_create("regex");
    tcase_add_test(t, bad_pattern_says_why_and_where);
    tcase_add_test(t, groups_are_counted);
    tcase_add_loop_test(t, matches_and_captures, 0, 2);
    tcase_add_test(t, inline_flags_and_bytes);
    tcase_add_test(t, more_groups_than_captures);
    tcase_add_loop_test(t, runaway_pattern_gives_up, 0, 2);
    suite_add_tcase(s, t);
    return run_suite_tap(s);
}
