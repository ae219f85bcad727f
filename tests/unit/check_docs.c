/* Every configuration key the parser accepts is documented: herd.conf(5)
 * has an entry for it and the README names it. The key list comes from the
 * configuration tables themselves (config_each_key), not from a copy. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "proto.h"
#include "tap.h"

struct key {
    char section[32];
    char name[64];
};

static struct key *keys;
static int n_keys;

/* Every key, however many there are (a fixed array would leave some
 * unchecked without a word). */
static void collect(const char *section, const char *key, void *arg)
{
    (void)arg;
    struct key *k = realloc(keys, (size_t)(n_keys + 1) * sizeof *keys);
    if (k == NULL)
        abort();
    keys = k;
    snprintf(keys[n_keys].section, sizeof keys[n_keys].section, "%s", section);
    snprintf(keys[n_keys].name, sizeof keys[n_keys].name, "%s", key);
    n_keys++;
}

static char *slurp(const char *rel)
{
    const char *dir = getenv("HERD_SRCDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : ".", rel);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char *text = NULL;
    size_t cap = 0;
    ck_assert_int_ge(getdelim(&text, &cap, '\0', f), 0);
    fclose(f);
    return text;
}

/* A man page entry: a line ".B key", ".BR key ...", ".It Cm key" or
 * ".It Ic key", the key followed by the end of the line or a space. */
static int has_entry(const char *page, const char *key)
{
    static const char *const macros[] = { ".B ", ".BR ", ".It Cm ", ".It Ic ", ".It Va ",
                                          ".It Li " };
    size_t klen = strlen(key);
    for (const char *line = page; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        for (size_t m = 0; m < sizeof macros / sizeof macros[0]; m++) {
            size_t ml = strlen(macros[m]);
            if (strncmp(line, macros[m], ml) != 0)
                continue;
            const char *k = line + ml;
            if (*k == '"')
                k++;
            if (strncmp(k, key, klen) == 0 &&
                (k[klen] == '\n' || k[klen] == ' ' || k[klen] == '"' || k[klen] == '\0'))
                return 1;
        }
    }
    return 0;
}

START_TEST(man_page_documents_key)
{
    /* The page's source: make fills in only its paths. */
    char *page = slurp("man/herd.conf.5.in");
    ck_assert_msg(has_entry(page, keys[_i].name),
                  "herd.conf(5) has no entry (.B %s) for key '%s' of section '%s'",
                  keys[_i].name, keys[_i].name, keys[_i].section[0] ? keys[_i].section : "top");
    free(page);
}
END_TEST

START_TEST(readme_names_key)
{
    char *readme = slurp("README.md");
    char quoted[80];
    snprintf(quoted, sizeof quoted, "`%s`", keys[_i].name);
    ck_assert_msg(strstr(readme, quoted) != NULL, "README.md does not mention %s", quoted);
    free(readme);
}
END_TEST

int main(void)
{
    config_use_protocols(&proto_registry);
    config_each_key(collect, NULL);
    Suite *s = suite_create("docs");
    TCase *tc = tcase_create("keys");
    tcase_add_loop_test(tc, man_page_documents_key, 0, n_keys);
    tcase_add_loop_test(tc, readme_names_key, 0, n_keys);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
