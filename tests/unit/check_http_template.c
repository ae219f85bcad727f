/* Templates (src/http/template.c): what the compiler makes of a string
 * (literal pieces, variables, braces, a plain '$', captures, $http_NAME),
 * the unknown variables it refuses, and the renderer's snprintf-like
 * output through a made-up lookup. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/template.h"
#include "tap.h"

/* A lookup that writes "<var>" (its number) or, for $http_, the name. */
static size_t fake(const void *ctx, const struct http_tpl_piece *p, char *out, size_t cap)
{
    (void)ctx;
    char v[64];
    int n;
    if (p->var == HV_HTTP)
        n = snprintf(v, sizeof v, "[%s]", p->text);
    else if (p->var == HV_CAPTURE)
        n = snprintf(v, sizeof v, "#%u", p->arg);
    else
        n = snprintf(v, sizeof v, "<%u>", p->var);
    if (cap)
        memcpy(out, v, (size_t)n < cap ? (size_t)n : cap);
    return (size_t)n;
}

static char *render(const char *src)
{
    static char out[512];
    struct http_template t;
    char why[128];
    ck_assert_msg(http_template_compile(&t, src, why, sizeof why) == 0, "%s: %s", src, why);
    size_t n = http_template_render(&t, fake, NULL, out, sizeof out - 1);
    ck_assert_uint_lt(n, sizeof out);
    out[n] = '\0';
    http_template_free(&t);
    return out;
}

static const struct {
    const char *src, *want;
} cases[] = {
    { "plain text", "plain text" },
    { "", "" },
    { "$host", "<1>" },
    { "https://$host$request_uri", "https://<1><3>" },
    { "/new/$path_rest$is_args$args", "/new/<7><6><5>" },
    { "${scheme}x", "<2>x" },
    { "a$", "a$" },                         /* '$' with no name: itself */
    { "$-$ $", "$-$ $" },
    { "$1$2x$9", "#1#2x#9" },               /* captures are one digit */
    { "$10", "#10" },
    { "$http_X_Request_Id!", "[x-request-id]!" },
    { "$query_string", "<5>" },             /* nginx's other name for $args */
    { "$msec $request_id", "<12> <13>" },
    { "$remote_addr:$remote_port>$server_port", "<9>:<10>><11>" },
    { "$uri $request_method", "<4> <8>" },
};

START_TEST(compiles_and_renders)
{
    ck_assert_str_eq(render(cases[_i].src), cases[_i].want);
}
END_TEST

START_TEST(pieces_and_plain)
{
    struct http_template t;
    char why[128];
    ck_assert_int_eq(http_template_compile(&t, "a$host/b", why, sizeof why), 0);
    ck_assert(t.has_vars);
    ck_assert_uint_eq(t.n, 3);
    ck_assert_int_eq(t.v[0].var, HV_LITERAL);
    ck_assert_uint_eq(t.v[0].len, 1);
    ck_assert_int_eq(t.v[1].var, HV_HOST);
    ck_assert_int_eq(t.v[2].var, HV_LITERAL);
    http_template_free(&t);
    /* Without variables: the text as it is, for the caller to use whole. */
    ck_assert_int_eq(http_template_compile(&t, "max-age=3600$", why, sizeof why), 0);
    ck_assert(!t.has_vars);
    ck_assert_uint_eq(t.plain_len, 13);
    ck_assert_str_eq(t.text, "max-age=3600$");
    http_template_free(&t);
}
END_TEST

static const struct {
    const char *src, *why;
} refused[] = {
    { "$hots", "unknown variable '$hots'" },
    { "https://$host$request_url", "unknown variable '$request_url'" },
    { "${host", "'${' without its closing '}'" },
    { "$0", "unknown variable '$0'" },
    { "$http_", "unknown variable '$http_'" },
    { "$Host", "unknown variable '$Host'" },
    { "/s/$status", "'$status' is known only in the access log" },
    { "$bytes_sent", "'$bytes_sent' is known only in the access log" },
};

START_TEST(unknown_variables_refused)
{
    struct http_template t;
    char why[128] = "";
    ck_assert_int_eq(http_template_compile(&t, refused[_i].src, why, sizeof why), -1);
    ck_assert_str_eq(why, refused[_i].why);
    ck_assert_ptr_null(t.v);
    ck_assert_int_eq(http_template_check(refused[_i].src, NULL, why, sizeof why), -1);
}
END_TEST

START_TEST(check_tells_variables)
{
    bool vars = true;
    char why[64];
    ck_assert_int_eq(http_template_check("/price$", &vars, why, sizeof why), 0);
    ck_assert(!vars);
    ck_assert_int_eq(http_template_check("/$uri", &vars, why, sizeof why), 0);
    ck_assert(vars);
}
END_TEST

/* The access log compiles with the same table and its own variables. */
START_TEST(log_variables)
{
    struct http_template t;
    char why[64];
    ck_assert_int_eq(http_template_compile_log(&t, "$status $uri $http_referer", why,
                                               sizeof why), 0);
    ck_assert_uint_eq(t.n, 5);
    ck_assert_int_eq(t.v[0].var, HV_STATUS);
    ck_assert_int_eq(t.v[2].var, HV_URI);
    ck_assert_int_eq(t.v[4].var, HV_HTTP);
    ck_assert_str_eq(t.v[4].text, "referer");
    http_template_free(&t);
    ck_assert_int_eq(http_template_compile_log(&t, "$nope", why, sizeof why), -1);
    ck_assert_str_eq(why, "unknown variable '$nope'");
}
END_TEST

/* Like snprintf: the whole length always, never more than cap written. */
START_TEST(render_is_bounded)
{
    struct http_template t;
    char why[64], out[16];
    ck_assert_int_eq(http_template_compile(&t, "0123456789$host-tail", why, sizeof why), 0);
    size_t whole = http_template_render(&t, fake, NULL, NULL, 0);
    ck_assert_uint_eq(whole, strlen("0123456789<1>-tail"));
    for (size_t cap = 0; cap < sizeof out; cap++) {
        memset(out, '#', sizeof out);
        ck_assert_uint_eq(http_template_render(&t, fake, NULL, out, cap), whole);
        ck_assert_int_eq(memcmp(out, "0123456789<1>-tail", cap), 0);
        for (size_t i = cap; i < sizeof out; i++)
            ck_assert_int_eq(out[i], '#');
    }
    http_template_free(&t);
}
END_TEST

/* The highest $N a template names: what a regex route's groups are
 * checked against at load. */
START_TEST(max_capture)
{
    ck_assert_int_eq(http_template_max_capture("/plain"), 0);
    ck_assert_int_eq(http_template_max_capture("$host$uri"), 0);
    ck_assert_int_eq(http_template_max_capture("/u/$1"), 1);
    ck_assert_int_eq(http_template_max_capture("$3-$1-${2}x"), 3);
    ck_assert_int_eq(http_template_max_capture("$10"), 1);     /* one digit, then "0" */
    ck_assert_int_eq(http_template_max_capture("$9"), 9);
    ck_assert_int_eq(http_template_max_capture("$nope$1"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_template");
    TCase *tc = tcase_create("compile");
    tcase_add_loop_test(tc, compiles_and_renders, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, pieces_and_plain);
    tcase_add_loop_test(tc, unknown_variables_refused, 0,
                        (int)(sizeof refused / sizeof refused[0]));
    tcase_add_test(tc, check_tells_variables);
    tcase_add_test(tc, log_variables);
    suite_add_tcase(s, tc);
    tc = tcase_create("render");
    tcase_add_test(tc, render_is_bounded);
    tcase_add_test(tc, max_capture);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
