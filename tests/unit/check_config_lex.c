/* The configuration tokenizer (src/config_lex.c): the tokens libconfig
 * 1.5's scanner would cut, with their bytes and lines, what the text ends
 * inside of, and @include names as libconfig reads them. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_lex.h"
#include "tap.h"

#define MAX_TOKENS 64

/* Every token of text, the closing CTOK_END included; returns the count. */
static int lex_all(const char *text, struct config_token *out)
{
    struct config_lexer lx;
    config_lex_init(&lx, text, strlen(text));
    for (int n = 0; n < MAX_TOKENS; n++) {
        config_lex_next(&lx, &out[n]);
        if (out[n].kind == CTOK_END)
            return n + 1;
    }
    ck_abort_msg("more than %d tokens in '%s'", MAX_TOKENS, text);
    return 0;
}

/* What a token is: its kind and its text. */
struct want {
    enum config_tok kind;
    const char *text;
};

static void assert_tokens(const char *text, const struct want *want, int n_want)
{
    struct config_token t[MAX_TOKENS];
    int n = lex_all(text, t);
    ck_assert_msg(n == n_want + 1, "'%s': %d tokens, want %d", text, n - 1, n_want);
    for (int i = 0; i < n_want; i++) {
        int len = (int)(t[i].end - t[i].start);
        ck_assert_msg(t[i].kind == want[i].kind && len == (int)strlen(want[i].text) &&
                      memcmp(text + t[i].start, want[i].text, (size_t)len) == 0,
                      "'%s': token %d is kind %d '%.*s', want kind %d '%s'", text, i,
                      (int)t[i].kind, len, text + t[i].start, (int)want[i].kind, want[i].text);
    }
}

#define TOKENS(text, ...) \
    do { \
        static const struct want w_[] = { __VA_ARGS__ }; \
        assert_tokens(text, w_, (int)(sizeof w_ / sizeof w_[0])); \
    } while (0)

/* ------------------------------------------------------------------ */

START_TEST(punctuation_and_names)
{
    TOKENS("a = b; c : d, { } [ ] ( )",
           { CTOK_NAME, "a" }, { CTOK_EQUALS, "=" }, { CTOK_NAME, "b" },
           { CTOK_SEMICOLON, ";" }, { CTOK_NAME, "c" }, { CTOK_EQUALS, ":" },
           { CTOK_NAME, "d" }, { CTOK_COMMA, "," }, { CTOK_GROUP_START, "{" },
           { CTOK_GROUP_END, "}" }, { CTOK_ARRAY_START, "[" }, { CTOK_ARRAY_END, "]" },
           { CTOK_LIST_START, "(" }, { CTOK_LIST_END, ")" });
    /* A name takes letters, digits, '-', '_' and '*' after its first
     * letter (or '*'); true and false in any case are booleans, not when
     * they only begin a name. */
    TOKENS("a-b_c*9 *x TRUE False trueish false_",
           { CTOK_NAME, "a-b_c*9" }, { CTOK_NAME, "*x" }, { CTOK_BOOLEAN, "TRUE" },
           { CTOK_BOOLEAN, "False" }, { CTOK_NAME, "trueish" }, { CTOK_NAME, "false_" });
    /* A byte no rule takes is a token of its own. */
    TOKENS("a=%;", { CTOK_NAME, "a" }, { CTOK_EQUALS, "=" }, { CTOK_GARBAGE, "%" },
           { CTOK_SEMICOLON, ";" });
    TOKENS("_x", { CTOK_GARBAGE, "_" }, { CTOK_NAME, "x" });
}
END_TEST

/* The longest of libconfig's number rules wins; what is left over starts
 * the next token (so 64k is a number and a name). */
START_TEST(numbers)
{
    TOKENS("1 -2 +3 10L 10LL 0x1F 0X1fLL 1.5 .5 5. 1e3 1.5E-3 -0.25",
           { CTOK_NUMBER, "1" }, { CTOK_NUMBER, "-2" }, { CTOK_NUMBER, "+3" },
           { CTOK_NUMBER, "10L" }, { CTOK_NUMBER, "10LL" }, { CTOK_NUMBER, "0x1F" },
           { CTOK_NUMBER, "0X1fLL" }, { CTOK_NUMBER, "1.5" }, { CTOK_NUMBER, ".5" },
           { CTOK_NUMBER, "5." }, { CTOK_NUMBER, "1e3" }, { CTOK_NUMBER, "1.5E-3" },
           { CTOK_NUMBER, "-0.25" });
    TOKENS("64k 1e 0x 10s 1.5.5",
           { CTOK_NUMBER, "64" }, { CTOK_NAME, "k" }, { CTOK_NUMBER, "1" }, { CTOK_NAME, "e" },
           { CTOK_NUMBER, "0" }, { CTOK_NAME, "x" }, { CTOK_NUMBER, "10" }, { CTOK_NAME, "s" },
           { CTOK_NUMBER, "1.5" }, { CTOK_NUMBER, ".5" });
    TOKENS("- +", { CTOK_GARBAGE, "-" }, { CTOK_GARBAGE, "+" });
}
END_TEST

START_TEST(strings)
{
    /* A backslash hides a quote or a backslash; adjacent strings stay
     * separate tokens. */
    TOKENS("s = \"a\\\"b\" \"c\\\\\" \"\";",
           { CTOK_NAME, "s" }, { CTOK_EQUALS, "=" }, { CTOK_STRING, "\"a\\\"b\"" },
           { CTOK_STRING, "\"c\\\\\"" }, { CTOK_STRING, "\"\"" }, { CTOK_SEMICOLON, ";" });
    /* Anything else goes into the string as it is, # and // too. */
    TOKENS("\"# not // a /* comment\"", { CTOK_STRING, "\"# not // a /* comment\"" });
}
END_TEST

/* Blanks and the three kinds of comments separate tokens and count lines. */
START_TEST(comments_and_lines)
{
    const char *text = "a # one\n"
                       "// two\n"
                       "\tb /* three\n"
                       "four */ c\r\n"
                       "\f\"d\ne\" g";
    struct config_token t[MAX_TOKENS];
    int n = lex_all(text, t);
    ck_assert_int_eq(n, 6);
    static const struct {
        const char *text;
        int line, end_line;
    } want[] = { { "a", 1, 1 }, { "b", 3, 3 }, { "c", 4, 4 }, { "\"d\ne\"", 5, 6 },
                 { "g", 6, 6 } };
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(t[i].start, strstr(text, want[i].text) - text);
        ck_assert_int_eq(t[i].end, t[i].start + strlen(want[i].text));
        ck_assert_int_eq(t[i].line, want[i].line);
        ck_assert_int_eq(t[i].end_line, want[i].end_line);
    }
    ck_assert_int_eq(t[5].kind, CTOK_END);
    ck_assert_int_eq(t[5].start, strlen(text));
    ck_assert_int_eq(t[5].line, 6);
    ck_assert_int_eq(t[5].unclosed, CUNCLOSED_NONE);
}
END_TEST

/* libconfig's comment rule needs a line break after the comment: on the
 * last line, its first byte is a token no rule takes. */
START_TEST(comment_on_the_last_line)
{
    TOKENS("a = 1; # the end", { CTOK_NAME, "a" }, { CTOK_EQUALS, "=" }, { CTOK_NUMBER, "1" },
           { CTOK_SEMICOLON, ";" }, { CTOK_GARBAGE, "#" }, { CTOK_NAME, "the" },
           { CTOK_NAME, "end" });
    TOKENS("a = 1; # the end\n", { CTOK_NAME, "a" }, { CTOK_EQUALS, "=" }, { CTOK_NUMBER, "1" },
           { CTOK_SEMICOLON, ";" });
    TOKENS("// x", { CTOK_GARBAGE, "/" }, { CTOK_GARBAGE, "/" }, { CTOK_NAME, "x" });
}
END_TEST

/* The end: empty text, and CTOK_END again and again. */
START_TEST(end_repeats)
{
    struct config_lexer lx;
    struct config_token t;
    config_lex_init(&lx, "", 0);
    config_lex_next(&lx, &t);
    ck_assert_int_eq(t.kind, CTOK_END);
    ck_assert_int_eq(t.start, 0);
    ck_assert_int_eq(t.line, 1);
    const char *text = "x\n\n";
    config_lex_init(&lx, text, strlen(text));
    config_lex_next(&lx, &t);
    ck_assert_int_eq(t.kind, CTOK_NAME);
    for (int i = 0; i < 3; i++) {
        config_lex_next(&lx, &t);
        ck_assert_int_eq(t.kind, CTOK_END);
        ck_assert_int_eq(t.start, 3);
        ck_assert_int_eq(t.end, 3);
        ck_assert_int_eq(t.line, 3);
    }
    /* The length given is the end, not a NUL byte. */
    config_lex_init(&lx, "ab cd", 2);
    config_lex_next(&lx, &t);
    ck_assert_int_eq(t.end, 2);
    config_lex_next(&lx, &t);
    ck_assert_int_eq(t.kind, CTOK_END);
}
END_TEST

/* What the text ends inside of, where that starts, and on which line. */
START_TEST(unclosed)
{
    static const struct {
        const char *text;
        enum config_unclosed what;
        const char *opens;      /* the text from where it opens */
        int line;
    } rows[] = {
        { "a = 1;\nb = \"open\n;\n", CUNCLOSED_STRING, "\"open", 2 },
        { "a = \"x\\\"", CUNCLOSED_STRING, "\"x", 1 },
        { "a = 1;\n\n  /* never\nclosed", CUNCLOSED_COMMENT, "/* never", 3 },
        { "a = 1; /*/", CUNCLOSED_COMMENT, "/*/", 1 },
        { "a = 1;\n  @include \"name\n", CUNCLOSED_INCLUDE, "@include", 2 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct config_token t[MAX_TOKENS];
        int n = lex_all(rows[i].text, t);
        const struct config_token *end = &t[n - 1];
        ck_assert_msg(end->unclosed == rows[i].what, "row %zu: unclosed %d", i,
                      (int)end->unclosed);
        ck_assert_int_eq(end->open_at, strstr(rows[i].text, rows[i].opens) - rows[i].text);
        ck_assert_int_eq(end->open_line, rows[i].line);
        ck_assert_int_eq(end->start, strlen(rows[i].text));
        /* Nothing of it became a token. */
        ck_assert_int_le(n < 2 ? 0 : t[n - 2].end, end->open_at);
    }
}
END_TEST

/* @include counts only at the start of a line (after blanks) and with a
 * blank before its quoted name; the token is the whole directive. */
START_TEST(include_tokens)
{
    const char *text = "a = 1;\n \t@include \t\"x.conf\" b = 2;\n";
    struct config_token t[MAX_TOKENS];
    int n = lex_all(text, t);
    ck_assert_int_eq(n, 10);
    ck_assert_int_eq(t[4].kind, CTOK_INCLUDE);
    ck_assert_int_eq(t[4].start, strchr(text, '@') - text);
    ck_assert_int_eq(t[4].end, strstr(text, " b =") - text);
    ck_assert_int_eq(t[4].line, 2);
    ck_assert_int_eq(t[5].kind, CTOK_NAME);
    /* After a comment that ends the line before it, and on the first line. */
    TOKENS("/* c */\n@include \"y\"", { CTOK_INCLUDE, "@include \"y\"" });
    TOKENS("@include \"z\"\n", { CTOK_INCLUDE, "@include \"z\"" });
    /* Not after a token on the same line, nor after a comment there. */
    TOKENS("/* c */ @include \"y\"", { CTOK_GARBAGE, "@" }, { CTOK_NAME, "include" },
           { CTOK_STRING, "\"y\"" });
}
END_TEST

START_TEST(include_names_as_libconfig_reads_them)
{
    /* \\ and \" stand for themselves; a backslash before anything else is
     * dropped (flex echoes it away). */
    const char *text = "a = 1;\n  @include \"a\\\\b\\\"c\\x\" b = 2;\n@include \"y\"";
    struct config_lexer lx;
    struct config_token t;
    config_lex_init(&lx, text, strlen(text));
    int seen = 0;
    for (config_lex_next(&lx, &t); t.kind != CTOK_END; config_lex_next(&lx, &t)) {
        if (t.kind != CTOK_INCLUDE)
            continue;
        char *name = config_lex_include_name(text, &t);
        ck_assert_str_eq(name, seen == 0 ? "a\\b\"cx" : "y");
        ck_assert_int_eq(t.line, seen == 0 ? 2 : 3);
        free(name);
        seen++;
    }
    ck_assert_int_eq(seen, 2);
    /* Not at the start of a line, or without a blank: not an include. */
    text = "a = 1; @include \"x\"\n@include\"y\"\n";
    config_lex_init(&lx, text, strlen(text));
    for (config_lex_next(&lx, &t); t.kind != CTOK_END; config_lex_next(&lx, &t))
        ck_assert_int_ne(t.kind, CTOK_INCLUDE);
}
END_TEST

START_TEST(include_name_empty)
{
    const char *text = "@include \"\"\n";
    struct config_token t[MAX_TOKENS];
    ck_assert_int_eq(lex_all(text, t), 2);
    char *name = config_lex_include_name(text, &t[0]);
    ck_assert_str_eq(name, "");
    free(name);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config_lex");
    TCase *tc = tcase_create("tokens");
    tcase_add_test(tc, punctuation_and_names);
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, strings);
    tcase_add_test(tc, comments_and_lines);
    tcase_add_test(tc, comment_on_the_last_line);
    tcase_add_test(tc, end_repeats);
    tcase_add_test(tc, unclosed);
    suite_add_tcase(s, tc);
    tc = tcase_create("include");
    tcase_add_test(tc, include_tokens);
    tcase_add_test(tc, include_names_as_libconfig_reads_them);
    tcase_add_test(tc, include_name_empty);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
