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
#include "config_engine.h"
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

/* ---- A made-up section with a key of every type, for the engine's and
 * the printer's suites: struct sample, read through sample_section. */

struct sample_item {
    struct cfg_where where;
    int64_t n;
    char *tag;
};

struct sample {
    struct cfg_where where;
    int64_t count;
    bool flag;
    char *name;
    int64_t wait;
    int64_t size;
    int mode;
    int64_t workers;
    int level;
    struct cfg_strings names;
    struct sample_item *one;
    struct sample_item *items;
    size_t n_items;
};

/* An item's n may be anything in range but 13. */
__attribute__((unused)) static int sample_validate_item(struct cfg_ctx *ctx,
                                                        const config_setting_t *group, void *obj)
{
    const struct sample_item *it = obj;
    if (it->n == 13)
        return cfg_fail(ctx, config_setting_get_member(group, "n"), "'n' must not be 13");
    return 0;
}

__attribute__((unused)) static const struct cfg_key sample_item_keys[] = {
    { .name = "n", .type = CT_INT, .offset = CFG_AT(sample_item, n), .def = "7", .min = 0,
      .max = 100 },
    { .name = "tag", .type = CT_STRING, .offset = CFG_AT(sample_item, tag) },
};

__attribute__((unused)) static const struct cfg_section sample_item_section = {
    "item", sizeof(struct sample_item), sample_item_keys, CFG_NKEYS(sample_item_keys),
    sample_validate_item,
};

__attribute__((unused)) static const char *const sample_modes[] = { "a", "b", "c", NULL };

#define SAMPLE_GB (INT64_C(1) << 30)

__attribute__((unused)) static const struct cfg_key sample_keys[] = {
    { .name = "count", .type = CT_INT, .offset = CFG_AT(sample, count), .def = "5", .min = 1,
      .max = 10 },
    { .name = "flag", .type = CT_BOOL, .offset = CFG_AT(sample, flag), .def = "true" },
    { .name = "name", .type = CT_STRING, .offset = CFG_AT(sample, name), .def = "x" },
    { .name = "wait", .type = CT_DURATION, .offset = CFG_AT(sample, wait), .def = "30s",
      .min = 0, .max = CFG_DAY },
    { .name = "size", .type = CT_SIZE, .offset = CFG_AT(sample, size), .def = "64k", .min = 0,
      .max = 4 * SAMPLE_GB },
    { .name = "mode", .type = CT_ENUM, .offset = CFG_AT(sample, mode), .def = "b",
      .names = sample_modes },
    { .name = "workers", .type = CT_WORKERS, .offset = CFG_AT(sample, workers), .def = "auto",
      .min = 1, .max = 8 },
    { .name = "level", .type = CT_LOGLEVEL, .offset = CFG_AT(sample, level), .def = "info" },
    { .name = "names", .type = CT_STRINGS, .offset = CFG_AT(sample, names), .def = "one" },
    { .name = "one", .type = CT_GROUP, .offset = CFG_AT(sample, one),
      .sub = &sample_item_section },
    { .name = "items", .type = CT_LIST, .offset = CFG_AT(sample, items),
      .sub = &sample_item_section, .aux_offset = CFG_AT(sample, n_items) },
};

__attribute__((unused)) static const struct cfg_section sample_section = {
    "sample", sizeof(struct sample), sample_keys, CFG_NKEYS(sample_keys), NULL,
};

/* ---- A server-like section of two made-up protocols: the generic key
 * `port`, the protocol key `kind`, and each protocol's own key. */

struct sample_srv {
    struct cfg_where where;
    int64_t port;
    const struct cfg_protocol *kind;
    void *conf;
};

struct sample_one {
    struct cfg_where where;
    int64_t alpha;
};

struct sample_two {
    struct cfg_where where;
    char *beta;
};

__attribute__((unused)) static const struct cfg_key sample_one_keys[] = {
    { .name = "alpha", .type = CT_INT, .offset = CFG_AT(sample_one, alpha), .def = "1",
      .min = 0, .max = 9 },
};
__attribute__((unused)) static const struct cfg_section sample_one_section = {
    "one", sizeof(struct sample_one), sample_one_keys, CFG_NKEYS(sample_one_keys), NULL,
};
__attribute__((unused)) static const struct cfg_key sample_two_keys[] = {
    { .name = "beta", .type = CT_STRING, .offset = CFG_AT(sample_two, beta), .def = "b" },
};
__attribute__((unused)) static const struct cfg_section sample_two_section = {
    "two", sizeof(struct sample_two), sample_two_keys, CFG_NKEYS(sample_two_keys), NULL,
};
__attribute__((unused)) static const struct cfg_protocol sample_proto_one = {
    .name = "one", .section = &sample_one_section,
};
__attribute__((unused)) static const struct cfg_protocol sample_proto_two = {
    .name = "two", .section = &sample_two_section,
};
__attribute__((unused)) static const struct cfg_protocol *const sample_protocols[] = {
    &sample_proto_one, &sample_proto_two, NULL,
};

__attribute__((unused)) static const struct cfg_key sample_srv_keys[] = {
    { .name = "port", .type = CT_INT, .offset = CFG_AT(sample_srv, port), .def = "80",
      .min = 1, .max = 65535 },
    { .name = "kind", .type = CT_PROTOCOL, .offset = CFG_AT(sample_srv, kind),
      .aux_offset = CFG_AT(sample_srv, conf) },
};
__attribute__((unused)) static const struct cfg_section sample_srv_section = {
    "srv", sizeof(struct sample_srv), sample_srv_keys, CFG_NKEYS(sample_srv_keys), NULL,
};

/* Read text (libconfig syntax, shown as "t.conf") through sec into obj
 * (a struct of sec, zeroed here): cfg_read_section's result, with its
 * message in err. Free obj with cfg_free_section, read or not. */
__attribute__((unused)) static int sample_read(const struct cfg_section *sec, const char *text,
                                               void *obj, char *err, size_t cap)
{
    config_t lc;
    config_init(&lc);
    ck_assert_msg(config_read_string(&lc, text) == CONFIG_TRUE, "'%s': %s", text,
                  config_error_text(&lc));
    struct cfg_ctx ctx = { .err = err, .errcap = cap, .main_file = "t.conf", .main_text = text,
                           .protocols = sample_protocols };
    memset(obj, 0, sec->size);
    err[0] = '\0';
    int rc = cfg_read_section(&ctx, sec, config_root_setting(&lc), obj);
    config_destroy(&lc);
    return rc;
}

/* Case n of a table of bad files was refused (cfg, what was read, is NULL)
 * with err, which names file:line (file alone for line 0) and says `says`. */
static inline void fixture_refused_at(int n, const void *cfg, const char *err, const char *file,
                                      int line, const char *says)
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
