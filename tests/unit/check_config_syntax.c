/* Explaining libconfig's bare "syntax error" (src/config_syntax.c): for
 * text libconfig 1.5 really refuses, at the line it really reports, the
 * likely cause and the source line with a caret under the likely spot. */
#include <check.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_syntax.h"
#include "config_fixture.h"
#include "tap.h"

/* libconfig's bare "syntax error", explained: the cause, then the source
 * line with a caret under the likely spot. */

struct slip {
    const char *text;
    int line;               /* where libconfig stops: the FILE:LINE kept */
    const char *cause;
    int shown;              /* the source line shown */
    int column;             /* the caret's column in it, from 0 */
};

static const struct slip slips[] = {
    /* missing ',' between list elements, across a line end */
    { BASE "servers = (\n { listen = \"1\"; protocol = \"echo\"; }\n"
           " { listen = \"2\"; protocol = \"echo\"; }\n);\n", 4,
      "missing ',' at the end of line 3?", 3, 37 },
    /* ... and between array elements */
    { BASE "workers = [ 1 2 ];\n" ECHO_SERVER, 2, "missing ',' between array elements?", 2, 13 },
    /* an unclosed quote swallows the next line */
    { BASE "user = \"nobody;\n" ECHO_SERVER, 3,
      "unclosed string? the string that starts here ends only at line 3", 2, 7 },
    { BASE ECHO_SERVER "user = \"nobody;\n", 4, "unclosed string: this quote is never closed", 3,
      7 },
    /* an unclosed brace, found at the next closing bracket or at the end */
    { BASE "servers = ( { listen = \"1\"; protocol = \"echo\";\n);\n", 3,
      "unexpected ')': the '{' at line 2 is still open (missing '}'?)", 3, 0 },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\"; }\n", 3,
      "the file ends inside this '(' (missing ')'?)", 2, 10 },
    /* one '}' too many */
    { BASE ECHO_SERVER "}\n", 3, "unexpected '}': no '{' is open here", 3, 0 },
    /* a bare word, a unit outside quotes */
    { BASE "user = nobody;\n" ECHO_SERVER, 2,
      "a string value must be in double quotes: \"nobody\"", 2, 7 },
    { BASE "shutdown_timeout = 10s;\n" ECHO_SERVER, 2,
      "a number with a unit must be a string: write \"10s\"", 2, 19 },
    /* separators */
    { BASE "servers = ( { listen = [ \"1\", ]; protocol = \"echo\"; } );\n", 2,
      "a ',' before ']' is not allowed", 2, 28 },
    { BASE "servers = ( { listen = \"1\"; protocol = \"echo\"; };\n"
           " { listen = \"2\"; protocol = \"echo\"; } );\n", 2,
      "list elements are separated by ',', not ';'", 2, 48 },
    { BASE "servers = ( { listen = \"1\"; protocol = \"echo\"; }; );\n", 2,
      "unexpected ';' before ')'", 2, 48 },
    { BASE "workers = = 2;\n" ECHO_SERVER, 2, "one '=' too many", 2, 10 },
    { BASE "workers 2;\n" ECHO_SERVER, 2, "missing '=' after 'workers'?", 2, 7 },
    { BASE "workers = ;\n" ECHO_SERVER, 2, "missing value after '='", 2, 10 },
    /* libconfig quirks */
    { BASE ECHO_SERVER "# the end", 3, "a comment on the last line needs a line break", 3, 0 },
    { BASE "workers = 2; @include \"x\"\n" ECHO_SERVER, 2, "@include must start a line", 2,
      13 },
    /* what the text ends inside of */
    { "a = ( 1,\n  /* the end\nb = 2;\n", 4, "the file ends inside this comment (missing '*/'?)",
      2, 2 },
    { "a = \"x\" 5\";\n", 1, "unclosed string? the quotes from this string on do not pair up",
      1, 4 },
    /* settings where values go, and values where settings go */
    { "a = 1;\n= 2;\n", 2, "unexpected '=': a setting name must come first", 2, 0 },
    { "a = 1;\nb = ( c = 1 );\n", 2,
      "a list holds values, not settings: put settings in a group { }", 2, 6 },
    { "a = [ { b = 1; } ];\n", 1, "an array [ ] holds only numbers, strings or booleans; groups "
      "and lists go in a list ( )", 1, 6 },
    { "a = [ 1, 2;\nb = 1;\n", 1, "missing ']' to close the '[' at line 1?", 1, 10 },
    { "a = ( 1, );\n", 1, "a ',' before ')' is not allowed", 1, 7 },
    { "a = 1;\n]\n", 2, "unexpected ']': no '[' is open here (one ']' too many?)", 2, 0 },
    /* bytes no rule takes */
    { "a = %;\n", 1, "unexpected '%': a string value must be in double quotes", 1, 4 },
    { "a = 1;\n\n$b = 2;\n", 3, "unexpected '$'", 3, 0 },
};

/* libconfig refuses text at line `line`; 0 when it takes it. */
static int libconfig_error_line(const char *text)
{
    config_t lc;
    config_init(&lc);
    int line = 0;
    if (config_read_string(&lc, text) != CONFIG_TRUE) {
        ck_assert_str_eq(config_error_text(&lc), "syntax error");
        line = config_error_line(&lc);
    }
    config_destroy(&lc);
    return line;
}

START_TEST(syntax_explained)
{
    const struct slip *sl = &slips[_i];
    char out[1024], want[400];
    int line = libconfig_error_line(sl->text);
    ck_assert_msg(line == sl->line, "case %d: libconfig stops at line %d, not %d", _i, line,
                  sl->line);
    config_syntax_explain(sl->text, strlen(sl->text), line, out, sizeof out);
    const char *prefix = "syntax error: ";
    ck_assert_msg(strncmp(out, prefix, strlen(prefix)) == 0, "case %d: '%s' does not start "
                  "with '%s'", _i, out, prefix);
    char *nl = strchr(out, '\n');
    ck_assert_msg(nl != NULL, "case %d: no source line in '%s'", _i, out);
    *nl = '\0';
    ck_assert_msg(strstr(out, sl->cause) != NULL, "case %d: '%s' does not say '%s'", _i, out,
                  sl->cause);
    /* The source line, as it is in the file. */
    const char *src = sl->text;
    for (int l = 1; l < sl->shown; l++)
        src = strchr(src, '\n') + 1;
    int srclen = (int)strcspn(src, "\n");
    char *shown = nl + 1, *caret = strchr(shown, '\n');
    ck_assert_ptr_nonnull(caret);
    *caret++ = '\0';
    snprintf(want, sizeof want, "%6d | %.*s", sl->shown, srclen, src);
    ck_assert_str_eq(shown, want);
    /* The caret line: the gutter, blanks, the caret under the spot. */
    ck_assert_msg(strncmp(caret, "       | ", 9) == 0, "case %d: caret line '%s'", _i, caret);
    ck_assert_int_eq(strspn(caret + 9, " "), sl->column);
    ck_assert_str_eq(caret + 9 + sl->column, "^");
}
END_TEST

START_TEST(syntax_snippet)
{
    char out[1024];
    /* Tabs stay tabs under the source, so the caret lines up in a terminal;
     * a UTF-8 character takes one column. */
    const char *text = "\tx = \"\xc3\xa9\" y;\n";
    config_syntax_explain(text, strlen(text), 1, out, sizeof out);
    ck_assert_str_eq(out, "syntax error: expected '=' after 'y', not ';'\n"
                          "     1 | \tx = \"\xc3\xa9\" y;\n"
                          "       | \t         ^");
    /* A long line is cut around the caret. */
    char longer[400];
    snprintf(longer, sizeof longer, "a = \"%0250d\" b;\n", 0);
    config_syntax_explain(longer, strlen(longer), 1, out, sizeof out);
    ck_assert_msg(strstr(out, "\n     1 | ...") != NULL, "%s", out);
    ck_assert_msg(strlen(strrchr(out, '\n')) < 110, "%s", out);
    ck_assert_int_eq(out[strlen(out) - 1], '^');
    /* Where the re-reading does not stop where libconfig did: the line
     * alone, no guess. */
    config_syntax_explain("a = 1;\nb = 2;\n", 14, 2, out, sizeof out);
    ck_assert_str_eq(out, "syntax error\n     2 | b = 2;");
    /* Never more than the room given. */
    config_syntax_explain(text, strlen(text), 1, out, 10);
    ck_assert_str_eq(out, "syntax er");
}
END_TEST

/* A quoted setting name. libconfig 1.5 stops at its line, and leaks the
 * string's buffer there: the sanitizer build cannot ask it, so the line
 * is given. */
START_TEST(quoted_setting_name)
{
    char out[512];
    const char *text = "a = 1;\n\"b\" = 2;\n";
    config_syntax_explain(text, strlen(text), 2, out, sizeof out);
    ck_assert_str_eq(out, "syntax error: a setting name is written without quotes\n"
                          "     2 | \"b\" = 2;\n"
                          "       | ^");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config_syntax");
    TCase *tc = tcase_create("explain");
    tcase_add_loop_test(tc, syntax_explained, 0, (int)(sizeof slips / sizeof slips[0]));
    tcase_add_test(tc, syntax_snippet);
    tcase_add_test(tc, quoted_setting_name);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
