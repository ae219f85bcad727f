/* Media types by file name (src/http/mime.c): the built-in table, a
 * mime.types file read the way Debian writes it, which mapping wins, and
 * lookups in a table of thousands against the list it was made from. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/mime.h"
#include "fixture.h"
#include "tap.h"

#define OCTETS "application/octet-stream"
#define HTML "text/html; charset=utf-8"

struct lookup {
    const char *name;
    const char *type;
};

static void check_lookups(const struct mime_table *t, const struct lookup *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *got = mime_type(t, rows[i].name);
        ck_assert_msg(strcmp(got, rows[i].type) == 0, "\"%s\": \"%s\", want \"%s\"",
                      rows[i].name, got, rows[i].type);
    }
}

static char dir[128];
static char path[256];

static void setup(void)
{
    fixture_mkdtemp(dir, sizeof dir, "mime");
    fixture_path(path, sizeof path, dir, "mime.types");
}

static void teardown(void)
{
    fixture_rmtree(dir);
}

/* No mime.types: the built-in table, by the last extension of the last
 * path segment, without case. */
START_TEST(builtin_table)
{
    static const struct lookup rows[] = {
        { "index.html", HTML }, { "INDEX.HTM", HTML }, { "/srv/www/a.b/Style.CSS",
          "text/css; charset=utf-8" }, { "app.mjs", "text/javascript; charset=utf-8" },
        { "x.tar.gz", "application/gzip" }, { "photo.JPG", "image/jpeg" },
        { "icon.svg", "image/svg+xml" }, { "data.csv", "text/csv; charset=utf-8" },
        { "m.wasm", "application/wasm" }, { "f.woff2", "font/woff2" },
        { "noext", OCTETS }, { "dir.d/file", OCTETS }, { "file.", OCTETS }, { "", OCTETS },
        { "/", OCTETS }, { ".hidden", OCTETS }, { "a.unknownext", OCTETS }, { "a.htmlx", OCTETS },
        { "a.htm.", OCTETS }, { "a.h", OCTETS },
    };
    struct mime_table *t = mime_load(path);        /* does not exist */
    ck_assert_ptr_nonnull(t);
    check_lookups(t, rows, sizeof rows / sizeof rows[0]);
    mime_free(t);
    ck_assert_str_eq(mime_type(NULL, "index.html"), OCTETS);
    mime_free(NULL);
}
END_TEST

/* Comments, blank lines, a type without extensions, tabs and spaces, a CR
 * before the line end, a last line without one. The built-ins win (they say
 * the charset), then the first line naming an extension. */
START_TEST(file_entries)
{
    static const char text[] =
        "# mime.types\n"
        "   # indented comment\n"
        "\n"
        "text/x-foo\tfoo  FOOB\n"
        "application/x-empty\n"
        "application/x-blank   \n"
        "text/plain  txt conf   \n"
        "image/x-first dupe\n"
        "image/x-second dupe DUPE2\n"
        "text/html html htm shtml\n"
        "text/x-crlf crlf\r\n"
        "text/x-last last";
    fixture_write(path, text, sizeof text - 1);
    static const struct lookup rows[] = {
        { "a.foo", "text/x-foo" }, { "a.FOO", "text/x-foo" }, { "a.foob", "text/x-foo" },
        { "a.conf", "text/plain" }, { "a.txt", "text/plain; charset=utf-8" },
        { "a.dupe", "image/x-first" }, { "a.dupe2", "image/x-second" },
        { "a.shtml", "text/html" }, { "a.html", HTML }, { "a.crlf", "text/x-crlf" },
        { "a.last", "text/x-last" }, { "a.x-empty", OCTETS }, { "a.x-blank", OCTETS },
        { "a.png", "image/png" }, { "a.comment", OCTETS },
    };
    struct mime_table *t = mime_load(path);
    check_lookups(t, rows, sizeof rows / sizeof rows[0]);
    mime_free(t);
}
END_TEST

/* Thousands of extensions written in scrambled order, several per line,
 * some twice: every one is found with the type of its first line. */
START_TEST(large_table)
{
    enum { N = 3000 };
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < N; i++) {
        int k = (i * 7919) % N;                 /* a permutation of 0..N-1 */
        fprintf(f, "type/t%d e%d E%dX\n", k, k, k);
    }
    for (int k = 0; k < N; k += 3)
        fprintf(f, "type/again%d e%d\n", k, k);  /* later: loses */
    ck_assert_int_eq(fclose(f), 0);
    struct mime_table *t = mime_load(path);
    char name[32], want[32];
    for (int k = 0; k < N; k++) {
        snprintf(want, sizeof want, "type/t%d", k);
        snprintf(name, sizeof name, "f.e%d", k);
        ck_assert_str_eq(mime_type(t, name), want);
        snprintf(name, sizeof name, "F.e%dx", k);
        ck_assert_str_eq(mime_type(t, name), want);
    }
    snprintf(name, sizeof name, "f.e%d", N);
    ck_assert_str_eq(mime_type(t, name), OCTETS);
    ck_assert_str_eq(mime_type(t, "f.html"), HTML);
    mime_free(t);
}
END_TEST

/* A path that is no file of types (a directory) leaves the built-ins. */
START_TEST(unreadable_file)
{
    struct mime_table *t = mime_load(dir);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(mime_type(t, "a.css"), "text/css; charset=utf-8");
    ck_assert_str_eq(mime_type(t, "a.zzz"), OCTETS);
    mime_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_mime");
    TCase *tc = tcase_create("mime");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, builtin_table);
    tcase_add_test(tc, file_entries);
    tcase_add_test(tc, large_table);
    tcase_add_test(tc, unreadable_file);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
