/* The configuration engine (src/config_engine.c) on a made-up section with
 * a key of every type (config_fixture.h): defaults through the same
 * readers as values, each reader's values and refusals, ranges, units,
 * FILE:LINE of every error (in an included file too), unknown keys, the
 * validate hook, protocol keys, and the calls validate hooks use. */
#include <check.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_engine.h"
#include "log.h"
#include "config_fixture.h"
#include "tap.h"

static struct sample s;
static char err[512];

static int read_sample(const char *text)
{
    return sample_read(&sample_section, text, &s, err, sizeof err);
}

static void free_sample(void)
{
    cfg_free_section(&sample_section, &s);
}

/* text is read, or the test fails with the engine's message. */
static void assert_reads(const char *text)
{
    ck_assert_msg(read_sample(text) == 0, "'%s': %s", text, err);
}

/* ------------------------------------------------------------------ */

START_TEST(defaults_of_every_type)
{
    assert_reads("");
    ck_assert_str_eq(s.where.file, "t.conf");
    ck_assert_int_eq(s.count, 5);
    ck_assert(s.flag);
    ck_assert_str_eq(s.name, "x");
    ck_assert_int_eq(s.wait, 30000);
    ck_assert_int_eq(s.size, 65536);
    ck_assert_int_eq(s.mode, 1);
    ck_assert_int_eq(s.workers, 0);
    ck_assert_int_eq(s.level, LOG_INFO);
    ck_assert_uint_eq(s.names.n, 1);
    ck_assert_str_eq(s.names.v[0], "one");
    ck_assert_ptr_null(s.one);
    ck_assert_ptr_null(s.items);
    ck_assert_uint_eq(s.n_items, 0);
    free_sample();
}
END_TEST

START_TEST(every_type_read)
{
    assert_reads("count = 10; flag = false; name = \"a \\\"b\\\"\";\n"
                 "wait = \"90s\"; size = \"2g\"; mode = \"c\";\n"
                 "workers = 8; level = \"debug\"; names = [ \"p\", \"q\" ];\n"
                 "one = { tag = \"t\"; };\n"
                 "items = (\n"
                 "  { n = 0; },\n"
                 "  { n = 100; tag = \"last\"; }\n"
                 ");\n");
    ck_assert_int_eq(s.count, 10);
    ck_assert(!s.flag);
    ck_assert_str_eq(s.name, "a \"b\"");
    ck_assert_int_eq(s.wait, 90000);
    ck_assert_int_eq(s.size, 2 * SAMPLE_GB);
    ck_assert_int_eq(s.mode, 2);
    ck_assert_int_eq(s.workers, 8);
    ck_assert_int_eq(s.level, LOG_DEBUG);
    ck_assert_uint_eq(s.names.n, 2);
    ck_assert_str_eq(s.names.v[1], "q");
    /* A group and list elements get their defaults and their lines. */
    ck_assert_ptr_nonnull(s.one);
    ck_assert_int_eq(s.one->n, 7);
    ck_assert_str_eq(s.one->tag, "t");
    ck_assert_int_eq(s.one->where.line, 4);
    ck_assert_str_eq(s.one->where.file, "t.conf");
    ck_assert_uint_eq(s.n_items, 2);
    ck_assert_int_eq(s.items[0].n, 0);
    ck_assert_ptr_null(s.items[0].tag);
    ck_assert_int_eq(s.items[0].where.line, 6);
    ck_assert_int_eq(s.items[1].n, 100);
    ck_assert_str_eq(s.items[1].tag, "last");
    ck_assert_int_eq(s.items[1].where.line, 7);
    free_sample();
    /* One string where an array may be; workers "auto"; ':' for '='. */
    assert_reads("names = \"only\"; workers = \"auto\"; flag : true;");
    ck_assert_uint_eq(s.names.n, 1);
    ck_assert_str_eq(s.names.v[0], "only");
    ck_assert_int_eq(s.workers, 0);
    ck_assert(s.flag);
    free_sample();
}
END_TEST

/* Durations and sizes: a number of seconds (a fraction too) or a string
 * with a unit; bytes as an integer or a string with a unit. */
struct unit_case {
    const char *text;
    int64_t value;
};

static const struct unit_case durations[] = {
    { "wait = \"500ms\";", 500 },    { "wait = \"10s\";", 10000 },
    { "wait = \"5m\";", 300000 },    { "wait = \"2h\";", 7200000 },
    { "wait = \"1d\";", 86400000 },  { "wait = \"30\";", 30000 },
    { "wait = \"1.5\";", 1500 },     { "wait = 30;", 30000 },
    { "wait = 1.5;", 1500 },         { "wait = 0.0004;", 0 },
    { "wait = 0.0006;", 1 },         { "wait = 0;", 0 },
    { "wait = 86400L;", 86400000 },
};

static const struct unit_case sizes[] = {
    { "size = \"512\";", 512 },      { "size = 512;", 512 },
    { "size = \"64k\";", 65536 },    { "size = \"1M\";", 1048576 },
    { "size = \"2g\";", 2147483648LL }, { "size = 4294967296L;", 4 * SAMPLE_GB },
    { "size = 0;", 0 },
};

START_TEST(units_read)
{
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        assert_reads(durations[i].text);
        ck_assert_msg(s.wait == durations[i].value, "'%s': %lld", durations[i].text,
                      (long long)s.wait);
        free_sample();
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        assert_reads(sizes[i].text);
        ck_assert_msg(s.size == sizes[i].value, "'%s': %lld", sizes[i].text, (long long)s.size);
        free_sample();
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Each refusal: the text, the line it names in t.conf, what it says. */

struct bad {
    const char *text;
    int line;
    const char *says;
};

#define MUST_DURATION "must be a duration such as 500ms, 10s, 5m or 1h"
#define MUST_SIZE "must be a size such as 512, 64k or 1m"

static const struct bad bad[] = {
    /* integers, and what libconfig 1.5 would wrap to 32 bits silently */
    { "count = \"5\";", 1, "'count' must be an integer" },
    { "count = 5.0;", 1, "'count' must be an integer" },
    { "count = 0;", 1, "'count' must be between 1 and 10" },
    { "\n\ncount = 11;", 3, "'count' must be between 1 and 10" },
    { "count = 4294967297;", 1, "'count': number out of range" },
    { "count = 0x100000001;", 1, "'count': number out of range" },
    { "count = 4294967297L;", 1, "'count' must be between 1 and 10" },
    /* booleans, strings */
    { "flag = 1;", 1, "'flag' must be true or false" },
    { "flag = \"yes\";", 1, "'flag' must be true or false" },
    { "name = 5;", 1, "'name' must be a string" },
    { "name = [ \"a\" ];", 1, "'name' must be a string" },
    /* durations */
    { "wait = \"10 parsecs\";", 1, "'wait' " MUST_DURATION },
    { "wait = \"\";", 1, "'wait' " MUST_DURATION },
    { "wait = \"s\";", 1, "'wait' " MUST_DURATION },
    { "wait = \"-1s\";", 1, "'wait' " MUST_DURATION },
    { "wait = \"10 s\";", 1, "'wait' " MUST_DURATION },
    { "wait = \"10sec\";", 1, "'wait' " MUST_DURATION },
    { "wait = \"99999999999d\";", 1, "'wait' " MUST_DURATION },
    { "wait = true;", 1, "'wait' " MUST_DURATION },
    { "wait = -1;", 1, "'wait': invalid duration" },
    { "wait = -0.5;", 1, "'wait': invalid duration" },
    { "wait = 1e300;", 1, "'wait': invalid duration" },
    { "wait = \"2d\";", 1, "'wait' must be between 0s and 1d" },
    { "wait = 86401;", 1, "'wait' must be between 0s and 1d" },
    /* sizes */
    { "size = \"12q\";", 1, "'size' " MUST_SIZE },
    { "size = \"1.5k\";", 1, "'size' " MUST_SIZE },
    { "size = \"k\";", 1, "'size' " MUST_SIZE },
    { "size = \"12kb\";", 1, "'size' " MUST_SIZE },
    { "size = \"99999999999999999999\";", 1, "'size' " MUST_SIZE },
    { "size = \"9999999999999g\";", 1, "'size' " MUST_SIZE },
    { "size = 1.5;", 1, "'size' " MUST_SIZE },
    { "size = \"5g\";", 1, "'size' must be between 0 and 4g" },
    { "size = -1;", 1, "'size' must be between 0 and 4g" },
    /* choices */
    { "mode = \"d\";", 1, "'mode' must be one of \"a\", \"b\", \"c\"" },
    { "mode = 1;", 1, "'mode' must be one of \"a\", \"b\", \"c\"" },
    { "workers = \"many\";", 1, "'workers' must be \"auto\" or a number" },
    { "workers = 9;", 1, "'workers' must be between 1 and 8" },
    { "workers = 0;", 1, "'workers' must be between 1 and 8" },
    { "workers = true;", 1, "'workers' must be an integer" },
    { "level = \"loud\";", 1, "'level' must be one of \"error\", \"warn\", \"info\", \"debug\"" },
    /* string arrays */
    { "names = 5;", 1, "'names' must be a string or an array of strings" },
    { "names = [ ];", 1, "'names' must not be empty" },
    { "names = [ 1, 2 ];", 1, "'names' must hold strings" },
    /* groups and lists, and errors inside them */
    { "one = 5;", 1, "'one' must be a group { ... }" },
    { "items = 5;", 1, "'items' must be a list ( { ... }, ... )" },
    { "items = ( 5 );", 1, "each element of 'items' must be a group { ... }" },
    { "items = ( { n = 1; },\n { n = 101; } );", 2, "'n' must be between 0 and 100" },
    { "items = ( { n = 1; },\n\n { tag = \"a\"; colour = 1; } );", 3,
      "unknown key 'colour' in item" },
    /* unknown keys, and the validate hook */
    { "count = 2;\ncolour = 1;", 2, "unknown key 'colour' in sample" },
    { "one = {\n  n = 13; };", 2, "'n' must not be 13" },
};

START_TEST(refused)
{
    const struct bad *b = &bad[_i];
    int rc = read_sample(b->text);
    fixture_refused(_i, rc == 0 ? &s : NULL, err, "t.conf", b->line, b->says);
    free_sample();
}
END_TEST

/* The 32-bit wrap check re-reads the literal from the file it is in: an
 * included one, found in the include directory. */
START_TEST(literal_out_of_range_in_an_include)
{
    char inc[300], want[400];
    fixture_path(inc, sizeof inc, fixture_dir, "limits.inc");
    fixture_conf_write(inc, "\ncount = 4294967297;\n");
    const char *text = "name = \"main\";\n@include \"limits.inc\"\n";
    config_t lc;
    config_init(&lc);
    config_set_include_dir(&lc, fixture_dir);
    ck_assert(config_read_string(&lc, text) == CONFIG_TRUE);
    struct cfg_ctx ctx = { .err = err, .errcap = sizeof err, .main_file = "t.conf",
                           .main_text = text, .include_dir = fixture_dir };
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(cfg_read_section(&ctx, &sample_section, config_root_setting(&lc), &s), -1);
    snprintf(want, sizeof want, "%s:2: 'count': number out of range", inc);
    ck_assert_str_eq(err, want);
    config_destroy(&lc);
    free_sample();
}
END_TEST

/* What a failed reading holds is freed with the rest (the sanitizer build
 * finds a leak or a double free here). */
START_TEST(failure_frees_what_was_read)
{
    ck_assert_int_eq(read_sample("name = \"n\"; names = [ \"a\", \"b\" ];\n"
                                 "one = { tag = \"g\"; };\n"
                                 "items = ( { tag = \"a\"; }, { tag = \"b\"; n = 13; },\n"
                                 "          { tag = \"c\"; } );\n"), -1);
    ck_assert_str_eq(err, "t.conf:3: 'n' must not be 13");
    ck_assert_uint_eq(s.n_items, 2);
    ck_assert_str_eq(s.items[1].tag, "b");
    free_sample();
}
END_TEST

/* ------------------------------------------------------------------ */
/* Protocol keys: read first, wherever they are; the protocol's keys share
 * the group and land in its own struct. */

static struct sample_srv srv;

static int read_srv(const char *text)
{
    return sample_read(&sample_srv_section, text, &srv, err, sizeof err);
}

START_TEST(protocol_keys)
{
    ck_assert_msg(read_srv("port = 81;") == 0, "%s", err);
    ck_assert_ptr_eq(srv.kind, &sample_proto_one);          /* the first is the default */
    ck_assert_int_eq(srv.port, 81);
    ck_assert_int_eq(((struct sample_one *)srv.conf)->alpha, 1);
    ck_assert_str_eq(((struct sample_one *)srv.conf)->where.file, "t.conf");
    cfg_free_section(&sample_srv_section, &srv);

    ck_assert_msg(read_srv("beta = \"x\";\nkind = \"two\";") == 0, "%s", err);
    ck_assert_ptr_eq(srv.kind, &sample_proto_two);
    ck_assert_str_eq(((struct sample_two *)srv.conf)->beta, "x");
    ck_assert_int_eq(srv.port, 80);
    cfg_free_section(&sample_srv_section, &srv);

    static const struct bad refusals[] = {
        { "kind = \"two\";\nalpha = 1;", 2, "'alpha' does not apply to protocol \"two\"" },
        { "alpha = 1;\n beta = \"b\";", 2, "'beta' does not apply to protocol \"one\"" },
        { "kind = \"three\";", 1, "'kind' must be one of \"one\", \"two\"" },
        { "kind = \"one\";\ngamma = 1;", 2, "unknown key 'gamma' in srv" },
        { "kind = \"one\"; alpha = 10;", 1, "'alpha' must be between 0 and 9" },
    };
    for (int i = 0; i < (int)(sizeof refusals / sizeof refusals[0]); i++) {
        int rc = read_srv(refusals[i].text);
        fixture_refused(i, rc == 0 ? &srv : NULL, err, "t.conf", refusals[i].line,
                        refusals[i].says);
        cfg_free_section(&sample_srv_section, &srv);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* The calls validate hooks and the core use */

START_TEST(defaults_at_a_place)
{
    struct cfg_ctx ctx = { .err = err, .errcap = sizeof err, .main_file = "t.conf" };
    struct cfg_where where = { .file = (char *)"w.conf", .line = 9 };
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(cfg_defaults(&ctx, &sample_section, &s, &where), 0);
    ck_assert_str_eq(s.where.file, "w.conf");
    ck_assert_ptr_ne(s.where.file, where.file);         /* a copy */
    ck_assert_int_eq(s.where.line, 9);
    ck_assert_int_eq(s.wait, 30000);
    ck_assert_str_eq(s.names.v[0], "one");
    ck_assert_int_eq(s.mode, 1);
    free_sample();
}
END_TEST

/* FILE:LINE of the setting, the file alone without a line; never more than
 * the room given. */
START_TEST(fail_and_line)
{
    const char *text = "a = 1;\ng = {\n  b = 2;\n};\n";
    config_t lc;
    config_init(&lc);
    ck_assert(config_read_string(&lc, text) == CONFIG_TRUE);
    struct cfg_ctx ctx = { .err = err, .errcap = sizeof err, .main_file = "t.conf" };
    const config_setting_t *g = config_lookup(&lc, "g");
    ck_assert_int_eq(cfg_line(g, "b"), 3);
    ck_assert_int_eq(cfg_line(g, "c"), 2);          /* absent: the group's line */
    ck_assert_int_eq(cfg_fail(&ctx, config_lookup(&lc, "g.b"), "'%s' is %d", "b", 2), -1);
    ck_assert_str_eq(err, "t.conf:3: 'b' is 2");
    ck_assert_int_eq(cfg_fail(&ctx, NULL, "no line"), -1);
    ck_assert_str_eq(err, "t.conf: no line");
    ctx.errcap = 12;
    ck_assert_int_eq(cfg_fail(&ctx, g, "a long message"), -1);
    ck_assert_str_eq(err, "t.conf:2: a");
    config_destroy(&lc);
}
END_TEST

/* A warning goes to the log, at FILE:LINE. */
START_TEST(warn_logs)
{
    const char *text = "\na = 1;\n";
    config_t lc;
    config_init(&lc);
    ck_assert(config_read_string(&lc, text) == CONFIG_TRUE);
    struct cfg_ctx ctx = { .err = err, .errcap = sizeof err, .main_file = "t.conf" };
    int fd = fixture_log_begin();
    cfg_warn(&ctx, config_lookup(&lc, "a"), "'%s' looks odd", "a");
    char *logged = fixture_log_text(fd);
    fixture_log_end();
    char want[100];
    snprintf(want, sizeof want, "[warn] %d: t.conf:2: 'a' looks odd\n", (int)getpid());
    ck_assert_msg(strstr(logged, want) != NULL, "'%s' does not hold '%s'", logged, want);
    free(logged);
    config_destroy(&lc);
    ck_assert_str_eq(err, "");              /* not an error */
}
END_TEST

/* libconfig names an included file as written: relative to the include
 * directory when there is one. */
START_TEST(source_file)
{
    struct cfg_ctx ctx = { .main_file = "/etc/herd/herd.conf", .include_dir = "/etc/herd" };
    ck_assert_ptr_eq(cfg_source_file(&ctx, NULL), ctx.main_file);
    ck_assert_str_eq(cfg_source_file(&ctx, "/etc/herd/herd.conf"), "/etc/herd/herd.conf");
    ck_assert_str_eq(cfg_source_file(&ctx, "conf.d/a.conf"), "/etc/herd/conf.d/a.conf");
    ck_assert_str_eq(cfg_source_file(&ctx, "/abs/b.conf"), "/abs/b.conf");
    ctx.include_dir = NULL;
    ck_assert_str_eq(cfg_source_file(&ctx, "conf.d/a.conf"), "conf.d/a.conf");
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("config_engine");
    TCase *tc = tcase_create("read");
    tcase_add_test(tc, defaults_of_every_type);
    tcase_add_test(tc, every_type_read);
    tcase_add_test(tc, units_read);
    tcase_add_loop_test(tc, refused, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, failure_frees_what_was_read);
    tcase_add_test(tc, protocol_keys);
    suite_add_tcase(suite, tc);
    tc = tcase_create("include");
    tcase_add_checked_fixture(tc, fixture_conf_setup, fixture_conf_teardown);
    tcase_add_test(tc, literal_out_of_range_in_an_include);
    suite_add_tcase(suite, tc);
    tc = tcase_create("helpers");
    tcase_add_test(tc, defaults_at_a_place);
    tcase_add_test(tc, fail_and_line);
    tcase_add_test(tc, warn_logs);
    tcase_add_test(tc, source_file);
    suite_add_tcase(suite, tc);
    return run_suite_tap(suite);
}
