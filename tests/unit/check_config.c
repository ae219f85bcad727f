/* The configuration core (src/config.c): the top-level and server keys and
 * their defaults, loading a file or the embedded default (the include check
 * first, syntax errors explained, FILE:LINE of every error of the real
 * tables), and what the registry's protocols add to a server. The engine,
 * the printer, includes, syntax and the tokenizer have suites of their own
 * (check_config_engine.c, _print, _include, _syntax, _lex). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cidr.h"
#include "config.h"
#include "http/config.h"
#include "log.h"
#include "proto.h"
#include "stream/echo.h"
#include "config_fixture.h"
#include "tap.h"

/* ------------------------------------------------------------------ */

START_TEST(good_file)
{
    char err[512];
    struct herd_config *cfg = fixture_load(
        "workers = 3;\n"
        "user = \"daemon\"; group = \"daemon\";\n"
        "pid_file = \"/run/h.pid\";\n"
        "error_log = \"/var/log/h.log\";\n"
        "log_level = \"debug\";\n"
        "worker_connections = 512;\n"
        "shutdown_timeout = \"1500ms\";\n"
        "servers = (\n"
        "  { listen = [ \"0.0.0.0:80\", \"[::1]:8080\" ];\n"
        "    keepalive_timeout = 5; max_body = \"2m\";\n"
        "    routes = ( { path = \"/a\"; exact = true;\n"
        "                 return = { status = 201; body = \"x\"; }; },\n"
        "               { path = \"/r\"; return = { location = \"/b\"; }; } ); },\n"
        "  { listen = \"7007\"; protocol = \"echo\"; idle_timeout = 2.5; }\n"
        ");\n",
        err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->workers, 3);
    ck_assert_int_eq(config_workers(cfg), 3);
    ck_assert_str_eq(cfg->user, "daemon");
    ck_assert_str_eq(cfg->group, "daemon");
    ck_assert_int_eq(cfg->worker_connections, 512);
    ck_assert_int_eq(cfg->shutdown_timeout, 1500);
    ck_assert_int_eq(cfg->n_servers, 2);
    const struct cfg_server *s = &cfg->servers[0];
    const struct cfg_http *h = http_config(s);
    ck_assert_str_eq(s->protocol->name, "http");
    ck_assert_int_eq(s->listen.n, 2);
    ck_assert_str_eq(s->listen.v[1], "[::1]:8080");
    ck_assert_int_eq(h->keepalive_timeout, 5000);
    ck_assert_int_eq(h->max_body, 2 * 1024 * 1024);
    ck_assert_int_eq(h->header_timeout, 60000);     /* default */
    ck_assert_int_eq(h->n_routes, 2);
    ck_assert(h->routes[0].exact);
    ck_assert_int_eq(h->routes[0].ret->status, 201);
    ck_assert_str_eq(h->routes[0].ret->type, "text/plain");     /* default with a body */
    ck_assert_int_eq(h->routes[1].ret->status, 302);            /* default with location */
    ck_assert_int_eq(h->routes[0].where.line, 11);
    ck_assert_int_eq(h->where.line, 9);             /* the server's group */
    const struct cfg_server *e = &cfg->servers[1];
    ck_assert_str_eq(e->protocol->name, "echo");
    ck_assert_int_eq(((const struct echo_config *)e->conf)->idle_timeout, 2500);
    ck_assert_str_eq(e->listen.v[0], "7007");
    config_free(cfg);
}
END_TEST

START_TEST(defaults)
{
    char err[512];
    struct herd_config *cfg = fixture_load(BASE ECHO_SERVER, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->workers, 0);              /* auto */
    ck_assert_int_ge(config_workers(cfg), 1);
    ck_assert_str_eq(cfg->user, "nobody");
    ck_assert_ptr_null(cfg->group);
    ck_assert_str_eq(cfg->error_log, "stderr");
    ck_assert_int_eq(cfg->worker_connections, 10000);
    ck_assert_int_eq(cfg->shutdown_timeout, 30000);
    ck_assert_int_eq(cfg->ticket_key_rotation, 3600000);   /* 1h */
    ck_assert(cfg->servers[0].reuseport);
    ck_assert_int_eq(cfg->servers[0].backlog, 511);
    ck_assert_int_eq(((const struct echo_config *)cfg->servers[0].conf)->idle_timeout, 60000);
    config_free(cfg);
}
END_TEST

START_TEST(proxy_protocol_read)
{
    char err[512];
    struct herd_config *cfg = fixture_load(
        BASE "servers = (\n"
        "  { listen = [ \"127.0.0.1:1\" ]; server_names = [ \"a\" ];\n"
        "    proxy_protocol = { from = [ \"10.0.0.0/8\", \"::1\" ]; };\n"
        "    routes = ( { path = \"/\"; return = { status = 200; }; } ); },\n"
        /* The same rule, written otherwise: the servers agree. */
        "  { listen = [ \"127.0.0.1:1\" ]; server_names = [ \"b\" ];\n"
        "    proxy_protocol = { from = [ \"::1/128\", \"10.0.0.0/8\" ]; timeout = 5; };\n"
        "    routes = ( { path = \"/\"; return = { status = 200; }; } ); },\n"
        "  { listen = \"7007\"; protocol = \"echo\";\n"
        "    proxy_protocol = { from = \"all\"; timeout = \"250ms\"; }; },\n"
        "  { listen = \"7008\"; protocol = \"echo\"; }\n"
        ");\n",
        err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    const struct cfg_proxy_protocol *pp = cfg->servers[0].proxy_protocol;
    ck_assert_ptr_nonnull(pp);
    ck_assert_int_eq(pp->from.n, 2);
    ck_assert_str_eq(pp->from.v[1], "::1");
    ck_assert_int_eq(pp->timeout, 5000);            /* default */
    ck_assert_int_eq(pp->where.line, 4);
    pp = cfg->servers[2].proxy_protocol;
    ck_assert_int_eq(pp->from.n, 1);
    ck_assert_str_eq(pp->from.v[0], "all");
    ck_assert_int_eq(pp->timeout, 250);
    ck_assert_ptr_null(cfg->servers[3].proxy_protocol);
    /* -T prints it, and reads back the same. */
    char *text = fixture_print(cfg);
    ck_assert_msg(strstr(text, "proxy_protocol = {\n") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "timeout = \"250ms\";") != NULL, "%s", text);
    config_free(cfg);
    cfg = fixture_load(text, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s\n%s", err, text);
    ck_assert_int_eq(cfg->servers[2].proxy_protocol->timeout, 250);
    ck_assert_ptr_null(cfg->servers[3].proxy_protocol);
    config_free(cfg);
    free(text);
}
END_TEST

START_TEST(embedded_default)
{
    char err[512];
    struct herd_config *cfg = config_load(NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert(cfg->embedded);
    ck_assert_int_eq(cfg->n_servers, 3);
    ck_assert_str_eq(cfg->servers[0].listen.v[0], "127.0.0.1:8080");
    ck_assert_ptr_nonnull(strstr(http_config(&cfg->servers[0])->routes[0].ret->body, "Hello"));
    ck_assert_str_eq(cfg->servers[1].listen.v[0], "127.0.0.1:7007");
    /* The TCP proxy in front of the echo server. */
    ck_assert_str_eq(cfg->servers[2].listen.v[0], "127.0.0.1:7008");
    ck_assert_uint_eq(cfg->n_upstreams, 1);
    config_free(cfg);
}
END_TEST

START_TEST(include_relative)
{
    char err[512], inc[300];
    snprintf(inc, sizeof inc, "%s/servers.inc", fixture_dir);
    fixture_conf_write(inc, ECHO_SERVER);
    struct herd_config *cfg = fixture_load(BASE "@include \"servers.inc\"\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->n_servers, 1);
    ck_assert_str_eq(cfg->servers[0].where.file, inc);
    config_free(cfg);
}
END_TEST

/* text is refused with a message that starts with want_prefix and says
 * `says`. */
static void assert_load_fails(const char *text, const char *want_prefix, const char *says)
{
    char err[512];
    struct herd_config *cfg = fixture_load(text, err, sizeof err);
    ck_assert_msg(cfg == NULL, "accepted: %s", text);
    ck_assert_msg(strncmp(err, want_prefix, strlen(want_prefix)) == 0,
                  "'%s' does not start with '%s'", err, want_prefix);
    ck_assert_msg(strstr(err, says) != NULL, "'%s' does not say '%s'", err, says);
}

/* The includes are checked before libconfig opens any of them
 * (config_include.h): a directory made flex exit(2), a FIFO blocked. */
START_TEST(includes_checked_first)
{
    char p[300], want[700];
    ck_assert_int_eq(mkdir(fixture_path(p, sizeof p, fixture_dir, "conf.d"), 0755), 0);
    ck_assert_int_eq(mkfifo(fixture_path(p, sizeof p, fixture_dir, "pipe"), 0644), 0);
    snprintf(want, sizeof want, "%s:2: @include \"conf.d\": ", fixture_conf);
    assert_load_fails(BASE "@include \"conf.d\"\n" ECHO_SERVER, want, "Is a directory");
    fixture_conf_write(fixture_path(p, sizeof p, fixture_dir, "a.inc"), "\n@include \"pipe\"\n");
    snprintf(want, sizeof want, "%s:2: @include \"pipe\": ", p);
    assert_load_fails(BASE "@include \"a.inc\"\n" ECHO_SERVER, want, "not a regular file");
}
END_TEST

/* The 32-bit wrap check re-reads the literal from the included file. */
START_TEST(main_file_not_regular)
{
    char fifo[300], err[512];
    snprintf(fifo, sizeof fifo, "%s/fifo.conf", fixture_dir);
    ck_assert_int_eq(mkfifo(fifo, 0644), 0);
    ck_assert_ptr_null(config_load(fifo, err, sizeof err));
    ck_assert_msg(strstr(err, fifo) && strstr(err, "not a regular file"), "%s", err);
    ck_assert_ptr_null(config_load(fixture_dir, err, sizeof err));
    ck_assert_msg(strstr(err, "Is a directory"), "%s", err);
    /* libconfig would stop reading at a NUL byte. */
    char text[] = BASE "\0workers = 0;\n" ECHO_SERVER;
    FILE *f = fopen(fixture_conf, "w");
    ck_assert_ptr_nonnull(f);
    fwrite(text, 1, sizeof text - 1, f);
    fclose(f);
    ck_assert_ptr_null(config_load(fixture_conf, err, sizeof err));
    ck_assert_msg(strstr(err, ":2: a NUL byte"), "%s", err);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Each error: the text and the line it points at. */

struct bad {
    const char *text;
    int line;
    const char *says;
};

static const struct bad bad_files[] = {
    /* syntax */
    { BASE "workers = = 2;\n" ECHO_SERVER, 2, "syntax error" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\"; }\n", 3, "syntax error" },
    /* unknown keys at each level */
    { BASE "wokers = 2;\n" ECHO_SERVER, 2, "unknown key 'wokers'" },
    { BASE "servers = ( { listen = [\"1\"];\n protocol = \"echo\"; colour = 1; } );\n", 3,
      "unknown key 'colour' in server" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = (\n { path = \"/\"; size = 1;\n"
           " return = { status = 200; }; } ); } );\n", 4, "unknown key 'size' in route" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n"
           " return = { status = 200;\n code = 1; }; } ); } );\n", 5,
      "unknown key 'code' in return" },
    /* wrong types */
    { BASE "workers = \"many\";\n" ECHO_SERVER, 2, "'workers' must be \"auto\" or a number" },
    { BASE "worker_connections = \"lots\";\n" ECHO_SERVER, 2, "'worker_connections' must be an integer" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n reuseport = 1; } );\n", 3,
      "'reuseport' must be true or false" },
    { BASE "user = 5;\n" ECHO_SERVER, 2, "'user' must be a string" },
    { BASE "servers = { listen = 1; };\n", 2, "'servers' must be a list" },
    { BASE "servers = ( { listen = [ 1 ]; protocol = \"echo\"; } );\n", 2,
      "'listen' must hold strings" },
    /* impossible values */
    { BASE "workers = 0;\n" ECHO_SERVER, 2, "'workers' must be between 1 and" },
    { BASE "workers = 100000;\n" ECHO_SERVER, 2, "'workers' must be between 1 and" },
    { BASE "worker_connections = 4294967297;\n" ECHO_SERVER, 2, "out of range" },
    { BASE "servers = ( { listen = [ \"127.0.0.1:70000\" ]; protocol = \"echo\"; } );\n", 2,
      "port must be a number from 1 to 65535" },
    { BASE "servers = ( { listen = [ \"localhost:80\" ]; protocol = \"echo\"; } );\n", 2,
      "not a numeric IPv4" },
    { BASE "servers = ( { listen = [ \"::1:80\" ]; protocol = \"echo\"; } );\n", 2,
      "write IPv6 addresses as [address]:port" },
    { BASE "servers = ( { listen = [ \"unix:run/herd.sock\" ]; protocol = \"echo\"; } );\n", 2,
      "listen \"unix:run/herd.sock\": a unix socket path must be absolute" },
    { BASE "servers = ( { listen = [ \"unix:/etc/passwd\" ]; protocol = \"echo\"; } );\n", 2,
      "listen \"unix:/etc/passwd\": the path exists and is not a socket" },
    { BASE "servers = ( { listen = \"1\"; protocol = \"echo\";\n unix_group = \"root\"; } );\n", 3,
      "'unix_mode', 'unix_owner' and 'unix_group' apply to \"unix:\" listen addresses" },
    { BASE "servers = ( { listen = \"unix:/nonexistent/s\"; protocol = \"echo\";\n"
           " unix_owner = \"no-such-user-herd\"; } );\n", 3, "unknown user 'no-such-user-herd'" },
    { BASE "servers = ( { listen = \"unix:/nonexistent/s\"; protocol = \"echo\";\n"
           " unix_mode = \"rw\"; } );\n", 3, "'unix_mode' must be an octal file mode" },
    { BASE "shutdown_timeout = \"10 parsecs\";\n" ECHO_SERVER, 2, "must be a duration" },
    { BASE "shutdown_timeout = -1;\n" ECHO_SERVER, 2, "invalid duration" },
    { BASE "ticket_key_rotation = \"25h\";\n" ECHO_SERVER, 2,
      "'ticket_key_rotation' must be between 1s and 1d" },
    { BASE "servers = ( { listen = [\"1\"];\n max_body = \"12q\";\n routes = ( { path = \"/\"; "
           "return = { status = 200; }; } ); } );\n", 3, "must be a size" },
    { BASE "servers = ( { listen = [\"1\"];\n max_target = 2;\n routes = ( { path = \"/\"; "
           "return = { status = 200; }; } ); } );\n", 3, "'max_target' must be between 16 and 1m" },
    { BASE "log_level = \"loud\";\n" ECHO_SERVER, 2, "'log_level' must be one of" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"gopher\"; } );\n", 2,
      "'protocol' must be one of \"http\", \"echo\"" },
    { "pid_file = \"run/h.pid\";\n" ECHO_SERVER, 1, "'pid_file' must be an absolute path" },
    { BASE "error_log = \"log.txt\";\n" ECHO_SERVER, 2, "'error_log' must be" },
    { BASE "user = \"no-such-user-here\";\n" ECHO_SERVER, 2, "user \"no-such-user-here\" does not exist" },
    { BASE "group = \"no-such-group-here\";\n" ECHO_SERVER, 2, "group \"no-such-group-here\" does not exist" },

    /* structure */
    { BASE "workers = 1;\n", 0, "no 'servers' configured" },
    { BASE "servers = ( { protocol = \"echo\"; } );\n", 2, "has no 'listen'" },
    { BASE "servers = ( { listen = [ ] ; protocol = \"echo\"; } );\n", 2, "must not be empty" },
    { BASE "servers = ( { listen = [\"1\"]; } );\n", 2, "http server has no 'routes'" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n keepalive_timeout = 5; } );\n",
      3, "'keepalive_timeout' does not apply to protocol \"echo\"" },
    { BASE "servers = ( { listen = [\"1\"];\n idle_timeout = 5;\n routes = ( { path = \"/\"; "
           "return = { status = 200; }; } ); } );\n", 3, "'idle_timeout' does not apply to protocol \"http\"" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\"; } ); } );\n", 3,
      "has no handler" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { return = { status = 200; }; } ); } );\n",
      3, "route has no 'path'" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"x\"; return = { status = 200; }; } ); } );\n",
      3, "must start with '/'" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n"
           " return = { status = 200; location = \"/x\"; }; } ); } );\n", 4, "needs a 3xx status" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n"
           " return = { status = 700; }; } ); } );\n", 4, "'status' must be between 100 and 599" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n"
           " return = { status = 204; body = \"x\"; }; } ); } );\n", 4, "cannot have a body" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\"; return = { status = 200; }; },\n"
           " { path = \"/\"; return = { status = 201; }; } ); } );\n", 4, "duplicate route '/'" },
    /* routes: handlers, methods, access lists */
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n"
           " return = { status = 200; }; status = { }; } ); } );\n", 3, "more than one handler" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n methods = [ \"get\" ];"
           " return = { status = 200; }; } ); } );\n", 4, "unknown method 'get'" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n allow = [ \"10.0.0.0/33\" ];"
           " return = { status = 200; }; } ); } );\n", 4, "is not an address" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n deny = [ \"example.com\" ];"
           " return = { status = 200; }; } ); } );\n", 4, "is not an address" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n"
           " static = { index = [ \"i.html\" ]; }; } ); } );\n", 4, "static handler has no 'root'" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n"
           " static = {\n root = \"/nonexistent/www\"; }; } ); } );\n", 5, "No such file or directory" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n"
           " static = { root = \"www\"; }; } ); } );\n", 4, "must be an absolute path" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n"
           " static = { root = \"/tmp\"; cache = {\n max_file = \"2m\"; size = \"1m\"; }; }; } ); } );\n",
      5, "'max_file' is larger than the cache 'size'" },
    { BASE "servers = ( { listen = [\"1\"];\n routes = ( { path = \"/\";\n"
           " status = { format = \"xml\"; }; } ); } );\n", 4, "'format' must be one of" },
    /* servers: logs, error pages, virtual hosts */
    { BASE "servers = ( { listen = [\"1\"];\n access_log = \"access.log\";\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 3,
      "'access_log' must be an absolute path" },
    { BASE "servers = ( { listen = [\"1\"];\n access_log_format = \"$remote_addr $colour\";\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 3,
      "unknown variable '$colour'" },
    { BASE "servers = ( { listen = [\"1\"];\n error_pages = (\n { status = 404; file = \"/nonexistent/404.html\"; } );\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 4,
      "error page /nonexistent/404.html" },
    { BASE "servers = ( { listen = [\"1\"];\n error_pages = (\n { status = 418; file = \"/etc/passwd\"; } );\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 4,
      "herd never answers 418" },
    { BASE "servers = ( { listen = [\"1\"];\n server_names = [ \"bad name\" ];\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 3,
      "must be a host name" },
    { BASE "servers = ( { listen = [\"127.0.0.1:1\"]; routes = ( { path = \"/\"; return = { status = 200; }; } ); },\n"
           " { listen = [\"127.0.0.1:1\"]; routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 3,
      "has no 'server_names'" },
    { BASE "servers = ( { listen = [\"127.0.0.1:1\"]; server_names = [\"a\"]; routes = ( { path = \"/\"; return = { status = 200; }; } ); },\n"
           " { listen = [\"127.0.0.1:1\"]; server_names = [\"A\"]; routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 3,
      "server name 'A' on 127.0.0.1:1 is already used" },
    { BASE "servers = ( { listen = [\"127.0.0.1:1\"]; routes = ( { path = \"/\"; return = { status = 200; }; } ); },\n"
           " { listen = [\"127.0.0.1:1\"]; protocol = \"echo\"; } );\n", 3,
      "address 127.0.0.1:1 is already used" },
    { BASE "servers = ( { listen = [\"127.0.0.1:1\"]; protocol = \"echo\"; },\n"
           " { listen = [\"127.0.0.1:1\"]; protocol = \"echo\"; } );\n", 3,
      "address 127.0.0.1:1 is already used by the server at line 2" },
    /* proxy_protocol: its type, its keys, its ranges, and servers sharing
     * an address agree on it */
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n proxy_protocol = true; } );\n",
      3, "'proxy_protocol' must be a group" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n proxy_protocol = [ \"10.0.0.0/8\" ]; } );\n",
      3, "'proxy_protocol' must be a group" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n proxy_protocol = {\n"
           " from = [ \"10.0.0.0/8\",\n \"10.0.0.0/33\" ]; }; } );\n", 4,
      "'from': \"10.0.0.0/33\" is not an address, a range such as 10.0.0.0/8, or \"all\"" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n proxy_protocol = {\n"
           " from = [ \"lb.example.com\" ]; }; } );\n", 4, "is not an address" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n proxy_protocol = {\n"
           " from = 10; }; } );\n", 4, "'from' must" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n proxy_protocol = {\n"
           " timeout = \"5s\"; }; } );\n", 3, "'proxy_protocol' needs 'from'" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n proxy_protocol = {\n"
           " from = \"all\";\n timeout = \"soon\"; }; } );\n", 5, "must be a duration" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n proxy_protocol = {\n"
           " from = \"all\";\n timeout = 0; }; } );\n", 5, "'timeout' must be between" },
    { BASE "servers = ( { listen = [\"1\"]; protocol = \"echo\";\n proxy_protocol = {\n"
           " from = \"all\";\n version = 2; }; } );\n", 5, "unknown key 'version' in proxy_protocol" },
    { BASE "servers = ( { listen = [\"127.0.0.1:1\"]; server_names = [\"a\"];\n"
           " proxy_protocol = { from = \"10.0.0.0/8\"; };\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); },\n"
           " { listen = [\"127.0.0.1:1\"]; server_names = [\"b\"];\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 5,
      "servers sharing 127.0.0.1:1 must agree on 'proxy_protocol'" },
    { BASE "servers = ( { listen = [\"127.0.0.1:1\"]; server_names = [\"a\"];\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); },\n"
           " { listen = [\"127.0.0.1:1\"]; server_names = [\"b\"];\n"
           " proxy_protocol = { from = \"10.0.0.0/8\"; };\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 4,
      "servers sharing 127.0.0.1:1 must agree on 'proxy_protocol'" },
    { BASE "servers = ( { listen = [\"127.0.0.1:1\"]; server_names = [\"a\"];\n"
           " proxy_protocol = { from = [ \"10.0.0.0/8\", \"::1\" ]; };\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); },\n"
           " { listen = [\"127.0.0.1:1\"]; server_names = [\"b\"];\n"
           " proxy_protocol = { from = [ \"10.0.0.0/8\" ]; };\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 5,
      "servers sharing 127.0.0.1:1 must agree on 'proxy_protocol'" },
    { BASE "servers = ( { listen = [\"127.0.0.1:1\"]; server_names = [\"a\"];\n"
           " proxy_protocol = { from = \"10.0.0.0/8\"; };\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); },\n"
           " { listen = [\"127.0.0.1:1\"]; server_names = [\"b\"];\n"
           " proxy_protocol = { from = \"10.0.0.0/8\"; timeout = \"6s\"; };\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 5,
      "servers sharing 127.0.0.1:1 must agree on 'proxy_protocol'" },
};

START_TEST(bad_file)
{
    const struct bad *b = &bad_files[_i];
    char err[512];
    fixture_refused(_i, fixture_load(b->text, err, sizeof err), err, fixture_conf, b->line,
                    b->says);
}
END_TEST

/* A range with host bits set is taken as its network, with a warning at
 * FILE:LINE through the log (stderr for herd -t, the error log in a
 * running master), as nginx does. */
START_TEST(range_host_bits_warned)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    log_use_fd(fds[1]);
    char err[512];
    struct herd_config *cfg = fixture_load(BASE "servers = ( { listen = [\"1\"];\n"
                                           " routes = ( { path = \"/\";\n"
                                           " allow = [ \"10.0.0.0/8\", \"10.0.0.1/8\" ];\n"
                                           " deny = [ \"2001:db8::1/32\", \"192.0.2.7\" ];\n"
                                           " return = { status = 200; }; } ); } );\n",
                                           err, sizeof err);
    log_use_fd(STDERR_FILENO);      /* closes fds[1] */
    ck_assert_msg(cfg != NULL, "%s", err);
    config_free(cfg);
    char logged[2048];
    ssize_t n = read(fds[0], logged, sizeof logged - 1);
    close(fds[0]);
    logged[n > 0 ? n : 0] = '\0';
    char want[400];
    snprintf(want, sizeof want, "[warn] %d: %s:4: 'allow': low address bits of 10.0.0.1/8 are "
             "meaningless (it means 10.0.0.0/8)\n", (int)getpid(), fixture_conf);
    ck_assert_msg(strstr(logged, want) != NULL, "'%s' does not hold '%s'", logged, want);
    snprintf(want, sizeof want, "%s:5: 'deny': low address bits of 2001:db8::1/32 are "
             "meaningless (it means 2001:db8::/32)\n", fixture_conf);
    ck_assert_msg(strstr(logged, want) != NULL, "'%s' does not hold '%s'", logged, want);
    /* Exact ranges and single addresses are not warned about. */
    ck_assert_ptr_null(strstr(logged, "10.0.0.0/8 are"));
    ck_assert_ptr_null(strstr(logged, "192.0.2.7"));
}
END_TEST

/* An include that matches no server (every site disabled) is a state a
 * sites directory passes through: loaded with a warning at the include's
 * line, herd listening on nothing. Without an include, no server is still
 * an error (the table above). */
START_TEST(include_matching_no_server)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    log_use_fd(fds[1]);
    char err[512];
    struct herd_config *cfg = fixture_load(BASE "\ninclude = [ \"sites-enabled/*.conf\" ];\n",
                                           err, sizeof err);
    log_use_fd(STDERR_FILENO);      /* closes fds[1] */
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->n_servers, 0);
    config_free(cfg);
    char logged[2048], want[400];
    ssize_t n = read(fds[0], logged, sizeof logged - 1);
    close(fds[0]);
    logged[n > 0 ? n : 0] = '\0';
    snprintf(want, sizeof want, "[warn] %d: %s:3: no servers: 'include' matched no file that "
             "has one, so herd listens on nothing\n", (int)getpid(), fixture_conf);
    ck_assert_msg(strstr(logged, want) != NULL, "'%s' does not hold '%s'", logged, want);
}
END_TEST

START_TEST(range_host_bits)
{
    struct cidr c;
    ck_assert(cidr_has_host_bits("10.0.0.1/8"));
    ck_assert(cidr_has_host_bits("192.168.1.1/31"));
    ck_assert(cidr_has_host_bits("2001:db8::1/32"));
    ck_assert(!cidr_has_host_bits("10.0.0.0/8"));
    ck_assert(!cidr_has_host_bits("10.0.0.1"));
    ck_assert(!cidr_has_host_bits("10.0.0.1/32"));
    ck_assert(!cidr_has_host_bits("0.0.0.0/0"));
    ck_assert(!cidr_has_host_bits("all"));
    ck_assert(!cidr_has_host_bits("not an address/8"));
    /* Still accepted, as the network. */
    ck_assert_int_eq(cidr_parse("10.9.8.7/8", &c), 0);
    char text[64];
    cidr_format(&c, text, sizeof text);
    ck_assert_str_eq(text, "10.0.0.0/8");
    ck_assert_int_eq(cidr_parse("2001:db8::1/32", &c), 0);
    cidr_format(&c, text, sizeof text);
    ck_assert_str_eq(text, "2001:db8::/32");
}
END_TEST

/* An error page is read while the configuration is: a FIFO must not block
 * it, a directory is no page. */
START_TEST(error_page_not_a_file)
{
    char p[300], text[1024], want[700];
    snprintf(p, sizeof p, "%s/404.fifo", fixture_dir);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    snprintf(text, sizeof text, BASE "servers = ( { listen = [\"1\"];\n error_pages = (\n"
             " { status = 404; file = \"%s\"; } );\n routes = ( { path = \"/\"; return = "
             "{ status = 200; }; } ); } );\n", p);
    snprintf(want, sizeof want, "%s:4: error page %s: ", fixture_conf, p);
    assert_load_fails(text, want, "not a regular file");
    snprintf(text, sizeof text, BASE "servers = ( { listen = [\"1\"];\n error_pages = (\n"
             " { status = 404; file = \"%s\"; } );\n routes = ( { path = \"/\"; return = "
             "{ status = 200; }; } ); } );\n", fixture_dir);
    snprintf(want, sizeof want, "%s:4: error page %s: ", fixture_conf, fixture_dir);
    assert_load_fails(text, want, "Is a directory");
}
END_TEST

/* A syntax error is reported at FILE:LINE of the file it is in, an
 * included one too, with the explanation and that file's source line
 * (config_syntax.h). */
START_TEST(syntax_error_explained)
{
    char err[1024], want[700], inc[300];
    struct herd_config *cfg = fixture_load(BASE "workers = = 2;\n" ECHO_SERVER, err, sizeof err);
    ck_assert_ptr_null(cfg);
    snprintf(want, sizeof want, "%s:2: syntax error: one '=' too many\n"
             "     2 | workers = = 2;\n"
             "       |           ^", fixture_conf);
    ck_assert_str_eq(err, want);
    fixture_path(inc, sizeof inc, fixture_dir, "bad.inc");
    fixture_conf_write(inc, "# included\nuser = nobody;\n");
    cfg = fixture_load(BASE "@include \"bad.inc\"\n" ECHO_SERVER, err, sizeof err);
    ck_assert_ptr_null(cfg);
    snprintf(want, sizeof want, "%s:2: syntax error: a string value must be in double quotes: "
             "\"nobody\"\n"
             "     2 | user = nobody;\n"
             "       |        ^", inc);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(missing_file)
{
    char err[512];
    struct herd_config *cfg = config_load("/nonexistent/herd.conf", err, sizeof err);
    ck_assert_ptr_null(cfg);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/herd.conf"));
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
}
END_TEST

/* -T says where the configuration came from on its first line. */
START_TEST(print_names_the_source)
{
    char err[512], want[300];
    struct herd_config *cfg = config_load(NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    char *text = fixture_print(cfg);
    ck_assert_msg(strncmp(text, "# effective configuration of the embedded default\n", 50) == 0,
                  "%s", text);
    free(text);
    config_free(cfg);
    cfg = fixture_load(BASE ECHO_SERVER, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    text = fixture_print(cfg);
    snprintf(want, sizeof want, "# effective configuration of %s\n", fixture_conf);
    ck_assert_msg(strncmp(text, want, strlen(want)) == 0, "%s", text);
    ck_assert_ptr_nonnull(strstr(text, "\nworkers = \"auto\";\n"));
    free(text);
    config_free(cfg);
}
END_TEST

/* Without protocols (config_use_protocols) nothing can be read. */
START_TEST(no_protocols)
{
    char err[512];
    config_use_protocols(NULL);
    ck_assert_ptr_null(config_load(NULL, err, sizeof err));
    ck_assert_str_eq(err, "internal error: no protocols (config_use_protocols)");
    config_use_protocols(&proto_registry);
}
END_TEST

/* -c made absolute (reloads find it after the daemon left the directory);
 * without -c, the installed default when it exists, else none. */
START_TEST(choose_path)
{
    char *out = NULL;
    ck_assert_int_eq(chdir(fixture_dir), 0);
    fixture_conf_write(fixture_conf, BASE);
    ck_assert_int_eq(config_choose_path("herd.conf", &out), 0);
    char *want = realpath(fixture_conf, NULL);
    ck_assert_ptr_nonnull(want);
    ck_assert_str_eq(out, want);
    free(want);
    free(out);
    ck_assert_int_eq(config_choose_path("gone.conf", &out), 0);
    ck_assert_str_eq(out, "gone.conf");             /* for the error message */
    free(out);
    const char *def = config_default_path();
    ck_assert_msg(strlen(def) > 15 && strcmp(def + strlen(def) - 15, "/herd/herd.conf") == 0,
                  "%s", def);
    ck_assert_int_eq(config_choose_path(NULL, &out), 0);
    if (access(def, F_OK) == 0)
        ck_assert_ptr_nonnull(out);
    else
        ck_assert_ptr_null(out);
    free(out);
}
END_TEST

/* "auto" is the online CPUs, at most CONFIG_MAX_WORKERS. */
START_TEST(workers_auto)
{
    struct herd_config cfg = { .workers = 0 };
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_eq(config_workers(&cfg), cpus > CONFIG_MAX_WORKERS ? CONFIG_MAX_WORKERS : cpus);
    cfg.workers = CONFIG_MAX_WORKERS;
    ck_assert_int_eq(config_workers(&cfg), CONFIG_MAX_WORKERS);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, fixture_conf_setup, fixture_conf_teardown);
    tcase_add_test(tc, good_file);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, embedded_default);
    tcase_add_test(tc, proxy_protocol_read);
    tcase_add_test(tc, include_relative);
    tcase_add_test(tc, include_matching_no_server);
    tcase_add_test(tc, includes_checked_first);
    tcase_add_test(tc, main_file_not_regular);
    tcase_add_loop_test(tc, bad_file, 0, (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_test(tc, syntax_error_explained);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, error_page_not_a_file);
    tcase_add_test(tc, range_host_bits_warned);
    tcase_add_test(tc, range_host_bits);
    tcase_add_test(tc, print_names_the_source);
    tcase_add_test(tc, no_protocols);
    tcase_add_test(tc, choose_path);
    tcase_add_test(tc, workers_auto);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    config_use_protocols(&proto_registry);
    return run_suite_tap(config_suite());
}
