/* Upstreams (src/upstream.c): the `upstreams` list as the configuration
 * reads it: values and defaults, addresses (IP and unix:), each error at its
 * FILE:LINE, duplicate names, at most 256 servers, and finding an upstream
 * by name. */
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "proto.h"
#include "upstream.h"
#include "config_fixture.h"
#include "tap.h"

static char path[] = "/tmp/herd-check-upstream-XXXXXX";
static int fd = -1;

static void setup(void)
{
    config_use_protocols(&proto_registry);
    strcpy(path, "/tmp/herd-check-upstream-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
}

static void teardown(void)
{
    close(fd);
    unlink(path);
}

#define HEAD "pid_file = \"/tmp/x.pid\";\n"
#define ECHO "servers = ( { listen = \"127.0.0.1:7\"; protocol = \"echo\"; } );\n"

static struct herd_config *load(const char *upstreams, char *err, size_t cap)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, HEAD "%s" ECHO, upstreams);
    fclose(f);
    return config_load(path, err, cap);
}

/* DESIGN's example, and a second upstream with every default. */
START_TEST(values_and_defaults)
{
    char err[512];
    struct herd_config *cfg = load(
        "upstreams = (\n"
        "  { name = \"app\";\n"
        "    servers = ( { address = \"127.0.0.1:9000\"; weight = 2; },\n"
        "                { address = \"unix:/run/app.sock\"; },\n"
        "                { address = \"[::1]:9000\"; backup = true; } );\n"
        "    balance = \"hash\"; hash_key = \"$remote_addr\";\n"
        "    keepalive = 8; keepalive_timeout = \"4s\"; max_connections = 100;\n"
        "    connect_timeout = \"2s\";\n"
        "    max_fails = 3; fail_timeout = \"30s\";\n"
        "    health_check = { path = \"/healthz\"; interval = \"2s\"; timeout = \"500ms\";\n"
        "                     fails = 2; passes = 3; }; },\n"
        "  { name = \"plain\"; servers = ( { address = \"10.0.0.7:80\"; } ); }\n"
        ");\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->n_upstreams, 2);
    const struct upstream_config *u = &cfg->upstreams[0];
    ck_assert_str_eq(u->name, "app");
    ck_assert_int_eq(u->where.line, 3);
    ck_assert_uint_eq(u->n_servers, 3);
    ck_assert_int_eq(u->servers[0].weight, 2);
    ck_assert(!u->servers[0].backup);
    ck_assert_int_eq(u->servers[1].weight, 1);
    ck_assert(u->servers[2].backup);
    ck_assert_int_eq(u->balance, UPSTREAM_HASH);
    ck_assert_str_eq(u->hash_key, "$remote_addr");
    ck_assert_int_eq(u->keepalive, 8);
    ck_assert_int_eq(u->keepalive_timeout, 4000);
    ck_assert_int_eq(u->max_connections, 100);
    ck_assert_int_eq(u->connect_timeout, 2000);
    ck_assert_int_eq(u->max_fails, 3);
    ck_assert_int_eq(u->fail_timeout, 30000);
    ck_assert_ptr_nonnull(u->health_check);
    ck_assert_str_eq(u->health_check->path, "/healthz");
    ck_assert_int_eq(u->health_check->interval, 2000);
    ck_assert_int_eq(u->health_check->timeout, 500);
    ck_assert_int_eq(u->health_check->fails, 2);
    ck_assert_int_eq(u->health_check->passes, 3);

    /* The addresses are parsed, ready to connect to. */
    ck_assert_int_eq(u->servers[0].addr.ss.ss_family, AF_INET);
    ck_assert_str_eq(u->servers[0].addr.text, "127.0.0.1:9000");
    ck_assert_int_eq(u->servers[1].addr.ss.ss_family, AF_UNIX);
    ck_assert_str_eq(((const struct sockaddr_un *)&u->servers[1].addr.ss)->sun_path,
                     "/run/app.sock");
    ck_assert_int_eq(u->servers[2].addr.ss.ss_family, AF_INET6);
    ck_assert_str_eq(u->servers[2].addr.text, "[::1]:9000");

    const struct upstream_config *d = &cfg->upstreams[1];
    ck_assert_int_eq(d->servers[0].weight, 1);
    ck_assert(!d->servers[0].backup);
    ck_assert_int_eq(d->balance, UPSTREAM_ROUND_ROBIN);
    ck_assert_ptr_null(d->hash_key);
    ck_assert_int_eq(d->keepalive, 32);
    ck_assert_int_eq(d->keepalive_timeout, 60000);
    ck_assert_int_eq(d->max_connections, 0);
    ck_assert_int_eq(d->connect_timeout, 5000);
    ck_assert_int_eq(d->max_fails, 1);
    ck_assert_int_eq(d->fail_timeout, 10000);
    ck_assert_ptr_null(d->health_check);

    ck_assert_ptr_eq(upstream_find(cfg, "plain"), d);
    ck_assert_ptr_eq(upstream_find(cfg, "app"), u);
    ck_assert_ptr_null(upstream_find(cfg, "App"));
    config_free(cfg);
}
END_TEST

START_TEST(health_check_defaults)
{
    char err[512];
    struct herd_config *cfg = load("upstreams = ( { name = \"a\"; servers = ( { address = "
                                   "\"1.2.3.4:80\"; } );\n health_check = { path = \"/\"; }; } );\n",
                                   err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    const struct upstream_health_config *h = cfg->upstreams[0].health_check;
    ck_assert_int_eq(h->interval, 5000);
    ck_assert_int_eq(h->timeout, 1000);
    ck_assert_int_eq(h->fails, 1);
    ck_assert_int_eq(h->passes, 1);
    ck_assert_int_eq(h->where.line, 3);
    config_free(cfg);
}
END_TEST

/* Without a path a probe only connects: the check of a tcp_proxy upstream. */
START_TEST(health_check_without_path_connects_only)
{
    char err[512];
    struct herd_config *cfg = load("upstreams = ( { name = \"db\"; servers = ( { address = "
                                   "\"1.2.3.4:5432\"; } );\n health_check = { interval = \"1s\"; "
                                   "}; } );\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_ptr_null(cfg->upstreams[0].health_check->path);
    ck_assert_int_eq(cfg->upstreams[0].health_check->interval, 1000);
    config_free(cfg);
}
END_TEST

START_TEST(none_is_fine)
{
    char err[512];
    struct herd_config *cfg = load("", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->n_upstreams, 0);
    ck_assert_ptr_null(upstream_find(cfg, "app"));
    config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Each error with the line it points at (the file's line 1 is HEAD). */

#define S1 "servers = ( { address = \"1.2.3.4:80\"; } );"

struct bad {
    const char *text;
    int line;
    const char *says;
};

static const struct bad bad_upstreams[] = {
    { "upstreams = ( { name = \"a\";\n colour = 1; " S1 " } );\n", 3,
      "unknown key 'colour' in upstream" },
    { "upstreams = ( { name = \"a\"; servers = ( { address = \"1.2.3.4:80\";\n port = 80; } ); } );\n",
      3, "unknown key 'port' in upstream server" },
    { "upstreams = ( { name = \"a\"; " S1 "\n health_check = { path = \"/\"; every = 1; }; } );\n",
      3, "unknown key 'every' in health_check" },
    { "upstreams = { name = \"a\"; };\n", 2, "'upstreams' must be a list" },
    { "upstreams = ( { " S1 " } );\n", 2, "upstream has no 'name'" },
    { "upstreams = ( {\n name = \"a b\"; " S1 " } );\n", 3, "upstream name 'a b' must be letters" },
    { "upstreams = ( {\n name = \"\"; " S1 " } );\n", 3, "upstream name '' must be" },
    { "upstreams = ( { name = \"a\"; } );\n", 2, "upstream 'a' has no 'servers'" },
    { "upstreams = ( { name = \"a\";\n servers = ( ); } );\n", 2, "upstream 'a' has no 'servers'" },
    { "upstreams = ( { name = \"a\"; servers = (\n { weight = 2; } ); } );\n", 3,
      "an upstream server needs an 'address'" },
    /* addresses */
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \"localhost:80\"; } ); } );\n", 3,
      "address \"localhost:80\": not a numeric IPv4 or [IPv6] address" },
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \"80\"; } ); } );\n", 3,
      "address \"80\": expected IPv4:port, [IPv6]:port or unix:/path" },
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \"*:80\"; } ); } );\n", 3,
      "expected IPv4:port" },
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \":80\"; } ); } );\n", 3,
      "expected IPv4:port" },
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \"1.2.3.4:0\"; } ); } );\n", 3,
      "port must be a number from 1 to 65535" },
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \"::1:80\"; } ); } );\n", 3,
      "write IPv6 addresses as [address]:port" },
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \"unix:run/app.sock\"; } ); } );\n",
      3, "a unix socket path must be absolute" },
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \"1.2.3.4:80\"; },\n"
      " { address = \"1.2.3.4:80\"; weight = 2; } ); } );\n", 4,
      "server 1.2.3.4:80 is already in upstream 'a' (line 3)" },
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \"unix:/x\"; },\n"
      " { address = \"unix:/x\"; } ); } );\n", 4, "server unix:/x is already in upstream 'a'" },
    /* values */
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \"1.2.3.4:80\"; weight = 0; } ); } );\n",
      3, "'weight' must be between 1 and 1000" },
    { "upstreams = ( { name = \"a\"; servers = (\n { address = \"1.2.3.4:80\"; backup = 1; } ); } );\n",
      3, "'backup' must be true or false" },
    { "upstreams = ( { name = \"a\"; " S1 "\n balance = \"fastest\"; } );\n", 3,
      "'balance' must be one of \"round_robin\", \"least_conn\", \"hash\", \"random_two\"" },
    { "upstreams = ( { name = \"a\"; " S1 "\n keepalive = -1; } );\n", 3,
      "'keepalive' must be between 0 and 100000" },
    { "upstreams = ( { name = \"a\"; " S1 "\n keepalive_timeout = 0; } );\n", 3,
      "'keepalive_timeout' must be between 1ms and 1d" },
    { "upstreams = ( { name = \"a\"; " S1 "\n max_connections = 4294967297; } );\n", 3,
      "'max_connections': number out of range" },
    { "upstreams = ( { name = \"a\"; " S1 "\n connect_timeout = \"soon\"; } );\n", 3,
      "'connect_timeout' must be a duration" },
    { "upstreams = ( { name = \"a\"; " S1 "\n connect_timeout = 0; } );\n", 3,
      "'connect_timeout' must be between 1ms and 1d" },
    { "upstreams = ( { name = \"a\"; " S1 "\n max_fails = 1001; } );\n", 3,
      "'max_fails' must be between 0 and 1000" },
    { "upstreams = ( { name = \"a\"; " S1 "\n fail_timeout = \"2d\"; } );\n", 3,
      "'fail_timeout' must be between 1ms and 1d" },
    /* hash */
    { "upstreams = ( { name = \"a\"; " S1 "\n hash_key = \"$remote_addr\"; } );\n", 3,
      "'hash_key' applies only to balance = \"hash\"" },
    { "upstreams = ( { name = \"a\";\n " S1 " balance = \"hash\"; } );\n", 2,
      "balance = \"hash\" needs a 'hash_key'" },
    { "upstreams = ( { name = \"a\"; " S1 " balance = \"hash\";\n hash_key = \"addr\"; } );\n", 3,
      "'hash_key' names no variable" },
    /* health checks */
    { "upstreams = ( { name = \"a\"; " S1 " health_check = {\n path = \"healthz\"; }; } );\n", 3,
      "health_check 'path' must start with '/'" },
    { "upstreams = ( { name = \"a\"; " S1 " health_check = {\n path = \"/a b\"; }; } );\n", 3,
      "hold no blanks" },
    { "upstreams = ( { name = \"a\"; " S1 " health_check = { path = \"/\";\n interval = \"1s\";\n"
      " timeout = \"2s\"; }; } );\n", 4, "health_check 'timeout' (2000 ms) is longer than its "
      "'interval' (1000 ms)" },
    /* The default timeout (1s) against a short interval: the interval's line. */
    { "upstreams = ( { name = \"a\"; " S1 " health_check = { path = \"/\";\n"
      " interval = \"200ms\"; }; } );\n", 3, "health_check 'timeout' (1000 ms) is longer" },
    { "upstreams = ( { name = \"a\"; " S1 " health_check = { path = \"/\";\n fails = 0; }; } );\n",
      3, "'fails' must be between 1 and 100" },
    { "upstreams = ( { name = \"a\"; " S1 " health_check = { path = \"/\";\n passes = 101; }; } );\n",
      3, "'passes' must be between 1 and 100" },
    { "upstreams = ( { name = \"a\"; " S1 " health_check = { path = \"/\";\n interval = \"50ms\"; }; } );\n",
      3, "'interval' must be between 100ms and 1d" },
    { "upstreams = ( { name = \"a\"; " S1 "\n health_check = \"/healthz\"; } );\n", 3,
      "'health_check' must be a group" },
    /* names: each defined once, whatever the case of the others */
    { "upstreams = ( { name = \"app\"; " S1 " },\n { name = \"db\"; " S1 " },\n"
      " { name = \"app\"; " S1 " } );\n", 4, "duplicate upstream 'app' (first at line 2)" },
};

START_TEST(bad_upstream)
{
    const struct bad *b = &bad_upstreams[_i];
    char err[512];
    fixture_refused(_i, load(b->text, err, sizeof err), err, path, b->line, b->says);
}
END_TEST

/* The balancer's tried set holds 256 servers (balance.h): 256 is fine,
 * 257 an error at the upstream's line. */
START_TEST(at_most_256_servers)
{
    for (int n = 256; n <= 257; n++) {
        size_t cap = 64 + (size_t)n * 48;
        char *text = malloc(cap), err[512];
        ck_assert_ptr_nonnull(text);
        size_t len = (size_t)snprintf(text, cap, "upstreams = (\n { name = \"many\"; servers = (");
        for (int i = 0; i < n; i++)
            len += (size_t)snprintf(text + len, cap - len, "%s{ address = \"10.0.%d.%d:80\"; }",
                                    i ? ", " : "", i / 250, i % 250 + 1);
        snprintf(text + len, cap - len, "); } );\n");
        struct herd_config *cfg = load(text, err, sizeof err);
        if (n == 256) {
            ck_assert_msg(cfg != NULL, "%s", err);
            ck_assert_uint_eq(cfg->upstreams[0].n_servers, 256);
            config_free(cfg);
        } else {
            fixture_refused(n, cfg, err, path, 3, "has 257 servers; at most 256");
        }
        free(text);
    }
}
END_TEST

START_TEST(names_differing_in_case_are_distinct)
{
    char err[512];
    struct herd_config *cfg = load("upstreams = ( { name = \"app\"; " S1 " },\n"
                                   " { name = \"App\"; " S1 " } );\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(upstream_find(cfg, "App")->name, "App");
    config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------ */

START_TEST(addresses)
{
    struct upstream_addr a;
    const char *why = NULL;
    ck_assert_int_eq(upstream_addr_parse("192.0.2.1:8080", &a, &why), 0);
    ck_assert_int_eq(a.ss.ss_family, AF_INET);
    ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)&a.ss)->sin_port), 8080);
    ck_assert_str_eq(a.text, "192.0.2.1:8080");

    ck_assert_int_eq(upstream_addr_parse("[2001:db8:0::1]:443", &a, &why), 0);
    ck_assert_int_eq(a.ss.ss_family, AF_INET6);
    ck_assert_uint_eq(a.len, sizeof(struct sockaddr_in6));
    ck_assert_str_eq(a.text, "[2001:db8::1]:443");      /* canonical */

    ck_assert_int_eq(upstream_addr_parse("unix:/run/app.sock", &a, &why), 0);
    ck_assert_int_eq(a.ss.ss_family, AF_UNIX);
    ck_assert_str_eq(((struct sockaddr_un *)&a.ss)->sun_path, "/run/app.sock");
    ck_assert_uint_eq(a.len, offsetof(struct sockaddr_un, sun_path) + sizeof "/run/app.sock");
    ck_assert_str_eq(a.text, "unix:/run/app.sock");

    /* The longest path a sockaddr_un holds, and one byte more. */
    char p[200] = "unix:/";
    memset(p + 6, 'a', sizeof(((struct sockaddr_un *)0)->sun_path) - 2);
    ck_assert_int_eq(upstream_addr_parse(p, &a, &why), 0);
    strcat(p, "a");
    ck_assert_int_eq(upstream_addr_parse(p, &a, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "too long"));

    static const char *const refused[] = { "", "unix:", "unix:x", "80", ":80", "*:80",
                                           "example.org:80", "1.2.3.4", "1.2.3.4:", "1.2.3.4:x",
                                           "[::1]", "[::1]80", "::1:80", "1.2.3.4:65536" };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        why = NULL;
        ck_assert_msg(upstream_addr_parse(refused[i], &a, &why) == -1, "accepted '%s'",
                      refused[i]);
        ck_assert_msg(why != NULL && why[0] != '\0', "no reason for '%s'", refused[i]);
    }
}
END_TEST

/* hash_key variables: a name ends at the first character that cannot be
 * in one; only the names the caller lists are known. */
START_TEST(key_variables)
{
    static const char *const vars[] = { "remote_addr", "remote_port" };
    size_t len;
    ck_assert_int_eq(upstream_key_var("remote_port:x", &len, vars, 2), 1);
    ck_assert_uint_eq(len, 11);
    ck_assert_int_eq(upstream_key_var("remote_addr", &len, vars, 2), 0);
    ck_assert_int_eq(upstream_key_var("remote_add$x", &len, vars, 2), -1);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(upstream_key_var("request_uri", &len, vars, 2), -1);
    ck_assert_int_eq(upstream_key_var("", &len, vars, 2), -1);
    ck_assert_uint_eq(len, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upstream");
    TCase *tc = tcase_create("upstream");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, values_and_defaults);
    tcase_add_test(tc, health_check_defaults);
    tcase_add_test(tc, health_check_without_path_connects_only);
    tcase_add_test(tc, none_is_fine);
    tcase_add_loop_test(tc, bad_upstream, 0, (int)(sizeof bad_upstreams / sizeof bad_upstreams[0]));
    tcase_add_test(tc, names_differing_in_case_are_distinct);
    tcase_add_test(tc, at_most_256_servers);
    tcase_add_test(tc, addresses);
    tcase_add_test(tc, key_variables);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
