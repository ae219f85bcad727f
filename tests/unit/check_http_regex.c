/* Route patterns through PCRE2 (src/http/regex.c): compile errors with
 * PCRE2's message and offset, group counts, matching with and without the
 * JIT, captures as offsets (unset groups, more groups than $9), the match
 * limit that stops a runaway pattern; the literal prefix checked before
 * PCRE2 is asked, and that it never changes an answer. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

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

/* The prefix of each pattern, "" when it has none that is sure. */
static const struct {
    const char *pattern, *prefix;
} prefixes[] = {
    { "^/api/v1/(.*)$", "/api/v1/" },
    { "^/user/([0-9]+)$", "/user/" },
    { "^/abc?", "/ab" },                    /* c is optional */
    { "^/ab*c", "/a" },
    { "^/ab{2}", "/a" },
    { "^/a+b", "/" },
    { "^/a.b", "/a" },
    { "^/a\\.b", "/a" },                    /* escapes end it */
    { "^/a b/", "/a b/" },
    { "^/img/(png|jpe?g)/", "/img/" },      /* '|' inside a group */
    { "^/img/[|(]x|/y", "" },               /* '|' outside one */
    { "^/a|^/b", "" },
    { "^/a(b)|/c", "" },
    { "^/a[]|]x", "/a" },                   /* ']' first in a class */
    { "^/a[^]|(]x", "/a" },
    { "^/a[[:alpha:](]|/b", "" },           /* a POSIX name inside the class */
    { "^/a[[:alpha:]|]x", "/a" },
    { "^/a\\|b", "/a" },                    /* an escaped '|' */
    { "^/a(?#x)|/b", "" },                  /* comments: not followed */
    { "^/a(?#(x)|/b", "" },
    { "^/a\\Q|\\E", "" },
    { "^/a(?x)b #|c", "" },
    { "^(?i)/admin", "" },
    { "(?i)^/admin", "" },
    { "/admin", "" },                       /* not anchored */
    { "^", "" },
    { "^/0123456789012345678901234567890123456789", "/0123456789012345678901234567890" },
    { "^/012345678901234567890123456789a?", "/012345678901234567890123456789" },
    { "^/0123456789012345678901234567890x?", "/0123456789012345678901234567890" },
    { "^/01234567890123456789012345678901x?", "/0123456789012345678901234567890" },
};

START_TEST(literal_prefix)
{
    struct http_regex *re = must_compile(prefixes[_i].pattern, false);
    const char *p;
    size_t n = http_regex_prefix(re, &p);
    ck_assert_msg(n == strlen(prefixes[_i].prefix) && memcmp(p, prefixes[_i].prefix, n) == 0,
                  "%s: prefix '%.*s', not '%s'", prefixes[_i].pattern, (int)n, p,
                  prefixes[_i].prefix);
    http_regex_free(re);
}
END_TEST

/* Every pattern of the table against paths made to fall on either side of
 * its prefix: the same answer as PCRE2 alone gives. */
START_TEST(prefix_never_changes_an_answer)
{
    static const char *const paths[] = {
        "/", "/a", "/ab", "/abc", "/abbc", "/a b/", "/a.b", "/a\\b", "/a|b", "/b", "/c",
        "/api/v1/x", "/api/v2/x", "/user/42", "/img/png/", "/img/jpg/", "/img/|x", "/y",
        "/a]x", "/a|x", "/a(x", "/ax", "/ADMIN", "/admin", "/x/admin", "/a#c", "/a|\\E",
        "/0123456789012345678901234567890123456789",
        "/0123456789012345678901234567890", "/0123456789012345678901234567890x",
        "/01234567890123456789012345678901", "/01234567890123456789012345678901x",
    };
    const char *pattern = prefixes[_i].pattern;
    struct http_regex *re = must_compile(pattern, true);
    struct http_regex_scratch *md = http_regex_scratch_new(http_regex_groups(re));
    int code;
    PCRE2_SIZE off;
    pcre2_code *plain = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                      PCRE2_DOLLAR_ENDONLY, &code, &off, NULL);
    ck_assert_ptr_nonnull(plain);
    pcre2_match_data *pmd = pcre2_match_data_create_from_pattern(plain, NULL);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        size_t len = strlen(paths[i]);
        int want = pcre2_match(plain, (PCRE2_SPTR)paths[i], len, 0, 0, pmd, NULL) >= 0;
        ck_assert_msg(http_regex_match(re, md, paths[i], len, NULL) == want,
                      "%s on %s: PCRE2 says %d", pattern, paths[i], want);
    }
    pcre2_match_data_free(pmd);
    pcre2_code_free(plain);
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
    tcase_add_loop_test(t, literal_prefix, 0, (int)(sizeof prefixes / sizeof prefixes[0]));
    tcase_add_loop_test(t, prefix_never_changes_an_answer, 0,
                        (int)(sizeof prefixes / sizeof prefixes[0]));
    suite_add_tcase(s, t);
    return run_suite_tap(s);
}
