/* The protocol registry (src/proto.c) and how the configuration core uses
 * one: what the registry says of each server (callbacks, listener options,
 * the access log and stats label the master needs), and the core reading
 * servers of protocols it knows only as data, shown with a registry of two
 * made-up protocols. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_engine.h"
#include "http/config.h"
#include "proto.h"
#include "stream/echo.h"
#include "stream/tcp_proxy.h"
#include "config_fixture.h"
#include "tap.h"

static char path[] = "/tmp/herd-check-proto-XXXXXX";
static int fd = -1;

static void setup(void)
{
    config_use_protocols(&proto_registry);
    strcpy(path, "/tmp/herd-check-proto-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
}

static void teardown(void)
{
    close(fd);
    unlink(path);
}

static struct herd_config *load(const char *text, char *err, size_t cap)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "pid_file = \"/tmp/x.pid\";\n%s", text);
    fclose(f);
    return config_load(path, err, cap);
}

/* ------------------------------------------------------------------ */
/* The registry */

START_TEST(registry_lists_each_protocol_once)
{
    const struct cfg_protocol *const *list = proto_registry.list;
    ck_assert_ptr_eq(list[0], &http_module.config);     /* the default */
    ck_assert_ptr_eq(list[1], &echo_module.config);
    ck_assert_ptr_eq(list[2], &tcp_proxy_module.config);
    ck_assert_ptr_null(list[3]);
    for (int i = 0; list[i]; i++) {
        const struct proto_module *m = (const struct proto_module *)list[i];
        ck_assert_msg(list[i]->section && list[i]->section->n_keys > 0, "%s has no keys",
                      list[i]->name);
        ck_assert_ptr_nonnull(m->proto);
        ck_assert_str_eq(m->proto->name, list[i]->name);
        ck_assert_ptr_nonnull(m->proto->server_new);
        ck_assert_ptr_nonnull(m->proto->conn.open);
        ck_assert_ptr_nonnull(m->proto->conn.readable);
        ck_assert_ptr_nonnull(m->proto->conn.close);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(list[i]->name, list[j]->name);
    }
    ck_assert_ptr_nonnull(proto_registry.embedded);
}
END_TEST

/* A protocol's key named as a generic server key would never be read. */
START_TEST(protocol_keys_do_not_shadow_server_keys)
{
    const struct cfg_section *top = config_section(), *server = NULL;
    for (size_t i = 0; i < top->n_keys; i++)
        if (strcmp(top->keys[i].name, "servers") == 0)
            server = top->keys[i].sub;
    ck_assert_ptr_nonnull(server);
    for (int p = 0; proto_registry.list[p]; p++) {
        const struct cfg_section *sec = proto_registry.list[p]->section;
        for (size_t i = 0; i < sec->n_keys; i++)
            for (size_t j = 0; j < server->n_keys; j++)
                ck_assert_msg(strcmp(sec->keys[i].name, server->keys[j].name) != 0,
                              "%s's key '%s' is a server key", sec->name, sec->keys[i].name);
    }
}
END_TEST

START_TEST(what_the_registry_says_of_servers)
{
    char err[512];
    struct herd_config *cfg = load(
        "servers = (\n"
        "  { listen = \"127.0.0.1:1\"; server_names = [ \"a.test\", \"b.test\" ];\n"
        "    access_log = \"/tmp/herd-proto.log\";\n"
        "    routes = ( { path = \"/\"; return = { status = 204; }; } ); },\n"
        "  { listen = [ \"127.0.0.1:2\", \"127.0.0.1:3\" ];\n"
        "    routes = ( { path = \"/\"; return = { status = 204; }; } ); },\n"
        "  { listen = \"127.0.0.1:4\"; protocol = \"echo\"; }\n"
        ");\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    const struct cfg_server *h1 = &cfg->servers[0], *h2 = &cfg->servers[1],
                            *e = &cfg->servers[2];
    /* No protocol key: the registry's first. */
    ck_assert_ptr_eq(h2->protocol, &http_module.config);
    ck_assert_ptr_eq(proto_for(h1), http_module.proto);
    ck_assert_ptr_eq(proto_for(e), echo_module.proto);
    ck_assert_str_eq(proto_for(e)->name, "echo");

    /* HTTP clients speak first: TCP_DEFER_ACCEPT. Echo clients may not. */
    ck_assert(proto_defer_accept(h1));
    ck_assert(!proto_defer_accept(e));

    /* The access log the master opens, and the line to blame. */
    int line = -1;
    ck_assert_str_eq(proto_access_log(h1, &line), "/tmp/herd-proto.log");
    ck_assert_int_eq(line, 4);
    ck_assert_ptr_null(proto_access_log(h2, &line));
    ck_assert_ptr_null(proto_access_log(e, &line));

    /* The name a server's responses are counted under. */
    ck_assert_str_eq(proto_stats_label(h1), "a.test");
    ck_assert_str_eq(proto_stats_label(h2), "127.0.0.1:2");
    ck_assert_ptr_null(proto_stats_label(e));
    config_free(cfg);
}
END_TEST

START_TEST(embedded_default_has_each_protocol)
{
    char err[512];
    struct herd_config *cfg = config_load(NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    for (int i = 0; proto_registry.list[i]; i++) {
        bool found = false;
        for (size_t s = 0; s < cfg->n_servers; s++)
            found = found || cfg->servers[s].protocol == proto_registry.list[i];
        ck_assert_msg(found, "the embedded default has no %s server",
                      proto_registry.list[i]->name);
    }
    config_free(cfg);
}
END_TEST

START_TEST(no_registry_no_configuration)
{
    char err[512];
    config_use_protocols(NULL);     /* this test runs in its own process */
    ck_assert_ptr_null(load("servers = ( { listen = \"1\"; protocol = \"echo\"; } );\n", err,
                            sizeof err));
    ck_assert_msg(strstr(err, "no protocols") != NULL, "%s", err);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The core with a registry of its own: two protocols it has never heard
 * of, "plain" (the default) and "shared" (servers may share an address
 * when their tags differ). */

struct plain_config {
    struct cfg_where where;
    int64_t size;
};

struct shared_config {
    struct cfg_where where;
    char *tag;
};

static const struct cfg_key plain_keys[] = {
    { .name = "size", .type = CT_SIZE, .offset = CFG_AT(plain_config, size), .def = "4k",
      .min = 0, .max = 1 << 20 },
};
static const struct cfg_section plain_section = {
    "plain", sizeof(struct plain_config), plain_keys, CFG_NKEYS(plain_keys), NULL,
};

static int shared_validate(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    const struct shared_config *c = obj;
    return c->tag ? 0 : cfg_fail(ctx, group, "a shared server needs a 'tag'");
}

static const struct cfg_key shared_keys[] = {
    { .name = "tag", .type = CT_STRING, .offset = CFG_AT(shared_config, tag) },
};
static const struct cfg_section shared_section = {
    "shared", sizeof(struct shared_config), shared_keys, CFG_NKEYS(shared_keys), shared_validate,
};

static int share_calls;     /* reset by the test that counts them */

static int share_if_tags_differ(struct cfg_ctx *ctx, const config_setting_t *where,
                                const struct cfg_server *a, const struct cfg_server *b,
                                const char *addr)
{
    const struct shared_config *ca = a->conf, *cb = b->conf;
    share_calls++;
    if (strcmp(ca->tag, cb->tag) == 0)
        return cfg_fail(ctx, where, "tag %s is taken on %s (line %d)", ca->tag, addr,
                        b->where.line);
    return 0;
}

static const struct cfg_protocol plain = { "plain", &plain_section, NULL, NULL };
static const struct cfg_protocol shared = { "shared", &shared_section, share_if_tags_differ,
                                            NULL };
static const struct cfg_protocol *const made_up_list[] = { &plain, &shared, NULL };
static const struct config_protocols made_up = {
    made_up_list, "servers = ( { listen = \"127.0.0.1:5\"; } );\n",
};

START_TEST(core_reads_protocols_it_is_given)
{
    char err[512];
    config_use_protocols(&made_up);
    share_calls = 0;
    struct herd_config *cfg = load(
        "servers = (\n"
        "  { listen = \"127.0.0.1:1\"; size = \"8k\"; },\n"
        "  { listen = \"127.0.0.1:2\"; protocol = \"shared\"; tag = \"x\"; },\n"
        "  { listen = \"127.0.0.1:2\"; protocol = \"shared\"; tag = \"y\"; },\n"
        "  { protocol = \"plain\"; listen = \"127.0.0.1:3\"; }\n"
        ");\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_ptr_eq(cfg->servers[0].protocol, &plain);     /* the first is the default */
    ck_assert_int_eq(((struct plain_config *)cfg->servers[0].conf)->size, 8192);
    ck_assert_int_eq(((struct plain_config *)cfg->servers[3].conf)->size, 4096);
    ck_assert_int_eq(((struct plain_config *)cfg->servers[3].conf)->where.line, 6);
    ck_assert_ptr_eq(cfg->servers[2].protocol, &shared);
    ck_assert_str_eq(((struct shared_config *)cfg->servers[2].conf)->tag, "y");
    ck_assert_int_eq(share_calls, 1);

    /* -T: the protocol's keys after the generic ones, in the same group. */
    char *text = fixture_print(cfg);
    ck_assert_msg(strstr(text, "    protocol = \"plain\";\n    reuseport = true;\n"
                               "    backlog = 511;\n    size = \"8k\";\n") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "    protocol = \"shared\";\n    reuseport = true;\n"
                               "    backlog = 511;\n    tag = \"x\";\n") != NULL, "%s", text);
    free(text);
    config_free(cfg);

    cfg = config_load(NULL, err, sizeof err);       /* its embedded configuration */
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->servers[0].listen.v[0], "127.0.0.1:5");
    config_free(cfg);
}
END_TEST

struct bad {
    const char *text;
    int line;
    const char *says;
};

static const struct bad made_up_errors[] = {
    { "servers = ( { listen = \"1\";\n protocol = \"http\"; } );\n", 3,
      "'protocol' must be one of \"plain\", \"shared\"" },
    { "servers = ( { listen = \"1\"; protocol = \"shared\";\n size = 1; tag = \"x\"; } );\n", 3,
      "'size' does not apply to protocol \"shared\"" },
    { "servers = ( { listen = \"1\";\n tag = \"x\"; } );\n", 3,
      "'tag' does not apply to protocol \"plain\"" },
    { "servers = ( { listen = \"1\";\n keepalive_timeout = 5; } );\n", 3,
      "unknown key 'keepalive_timeout' in server" },
    { "servers = ( {\n listen = \"1\"; protocol = \"shared\"; } );\n", 2,
      "a shared server needs a 'tag'" },
    { "servers = ( { listen = \"1\"; size = \"1g\";\n } );\n", 2, "'size' must be between" },
    { "servers = ( { listen = \"127.0.0.1:1\"; },\n { listen = \"127.0.0.1:1\"; } );\n", 3,
      "address 127.0.0.1:1 is already used by the server at line 2" },
    { "servers = ( { listen = \"127.0.0.1:1\"; },\n { listen = \"127.0.0.1:1\"; "
      "protocol = \"shared\"; tag = \"x\"; } );\n", 3, "address 127.0.0.1:1 is already used" },
    { "servers = ( { listen = \"127.0.0.1:1\"; protocol = \"shared\"; tag = \"x\"; },\n"
      " { listen = \"127.0.0.1:1\"; protocol = \"shared\"; tag = \"x\"; } );\n", 3,
      "tag x is taken on 127.0.0.1:1 (line 2)" },
    { "servers = ( { listen = \"127.0.0.1:1\"; protocol = \"shared\"; tag = \"x\"; },\n"
      " { listen = \"127.0.0.1:1\"; protocol = \"shared\"; tag = \"y\"; reuseport = false; } );\n",
      3, "servers sharing 127.0.0.1:1 must agree on 'reuseport'" },
};

START_TEST(core_errors_with_protocols_it_is_given)
{
    const struct bad *b = &made_up_errors[_i];
    char err[512];
    config_use_protocols(&made_up);
    fixture_refused(_i, load(b->text, err, sizeof err), err, path, b->line, b->says);
}
END_TEST

static void count(const char *section, const char *key, void *arg)
{
    if (strcmp(section, "plain") == 0 && strcmp(key, "size") == 0)
        ((int *)arg)[0]++;
    if (strcmp(section, "shared") == 0 && strcmp(key, "tag") == 0)
        ((int *)arg)[1]++;
    /* (an upstream's keepalive_timeout is the core's, not HTTP's) */
    if ((strcmp(key, "keepalive_timeout") == 0 && strcmp(section, "upstream") != 0) ||
        strcmp(key, "idle_timeout") == 0)
        ((int *)arg)[2]++;
}

START_TEST(key_walk_covers_the_given_protocols)
{
    int n[3] = { 0, 0, 0 };
    config_use_protocols(&made_up);
    config_each_key(count, n);
    ck_assert_int_eq(n[0], 1);
    ck_assert_int_eq(n[1], 1);
    ck_assert_int_eq(n[2], 0);      /* nothing of the registry's own protocols */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("registry");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, registry_lists_each_protocol_once);
    tcase_add_test(tc, protocol_keys_do_not_shadow_server_keys);
    tcase_add_test(tc, what_the_registry_says_of_servers);
    tcase_add_test(tc, embedded_default_has_each_protocol);
    tcase_add_test(tc, no_registry_no_configuration);
    tcase_add_test(tc, core_reads_protocols_it_is_given);
    tcase_add_loop_test(tc, core_errors_with_protocols_it_is_given, 0,
                        (int)(sizeof made_up_errors / sizeof made_up_errors[0]));
    tcase_add_test(tc, key_walk_covers_the_given_protocols);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
