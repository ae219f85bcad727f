/* Configuration: reading, defaults, every kind of error with its line, units,
 * and the -T round trip. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cidr.h"
#include "config.h"
#include "config_engine.h"
#include "http/config.h"
#include "log.h"
#include "proto.h"
#include "stream/echo.h"
#include "units.h"
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
    ck_assert(cfg->servers[0].reuseport);
    ck_assert_int_eq(cfg->servers[0].backlog, 511);
    ck_assert_int_eq(((const struct echo_config *)cfg->servers[0].conf)->idle_timeout, 60000);
    config_free(cfg);
}
END_TEST

START_TEST(embedded_default)
{
    char err[512];
    struct herd_config *cfg = config_load(NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert(cfg->embedded);
    ck_assert_int_eq(cfg->n_servers, 2);
    ck_assert_str_eq(cfg->servers[0].listen.v[0], "127.0.0.1:8080");
    ck_assert_ptr_nonnull(strstr(http_config(&cfg->servers[0])->routes[0].ret->body, "Hello"));
    ck_assert_str_eq(cfg->servers[1].listen.v[0], "127.0.0.1:7007");
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
    { BASE "servers = ( { listen = [ \"unix:/run/herd.sock\" ]; protocol = \"echo\"; } );\n", 2,
      "listen \"unix:/run/herd.sock\": unix sockets are not supported yet" },
    { BASE "shutdown_timeout = \"10 parsecs\";\n" ECHO_SERVER, 2, "must be a duration" },
    { BASE "shutdown_timeout = -1;\n" ECHO_SERVER, 2, "invalid duration" },
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
    { BASE "servers = ( { listen = [\"1\"];\n error_pages = (\n { status = 502; file = \"/etc/passwd\"; } );\n"
           " routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", 4,
      "herd never answers 502" },
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

/* ------------------------------------------------------------------ */

START_TEST(unit_formats)
{
    char out[32];
    units_format_duration(1500, out, sizeof out);
    ck_assert_str_eq(out, "1500ms");
    units_format_duration(60000, out, sizeof out);
    ck_assert_str_eq(out, "1m");
    units_format_duration(0, out, sizeof out);
    ck_assert_str_eq(out, "0s");
    units_format_duration(90000, out, sizeof out);
    ck_assert_str_eq(out, "90s");
    units_format_size(65536, out, sizeof out);
    ck_assert_str_eq(out, "64k");
    units_format_size(1000, out, sizeof out);
    ck_assert_str_eq(out, "1000");
    units_format_size(3 * 1024 * 1024, out, sizeof out);
    ck_assert_str_eq(out, "3m");
}
END_TEST

/* ------------------------------------------------------------------ */

/* herd -T prints what it read; reading that back gives the same thing. */
static void round_trip(const char *text)
{
    char err[512];
    struct herd_config *a = text ? fixture_load(text, err, sizeof err)
                                 : config_load(NULL, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    char *first = fixture_print(a);
    fixture_conf_write(fixture_conf, first);
    struct herd_config *b = config_load(fixture_conf, err, sizeof err);
    ck_assert_msg(b != NULL, "printed config does not parse: %s\n%s", err, first);
    char *second = fixture_print(b);
    /* Only the comment line naming the source differs. */
    ck_assert_str_eq(strchr(first, '\n'), strchr(second, '\n'));
    ck_assert_int_eq(a->n_servers, b->n_servers);
    ck_assert_int_eq(a->shutdown_timeout, b->shutdown_timeout);
    free(first);
    free(second);
    config_free(a);
    config_free(b);
}

/* The escapes of strings, -T of the embedded default, and a few hand-written
 * files: the printed text reads back to the same text. */
START_TEST(print_round_trip_text)
{
    round_trip(NULL);
    round_trip(BASE "workers = 7; shutdown_timeout = 0.25; log_level = \"warn\";\n"
               "servers = ( { listen = [\"[::]:81\", \"82\"]; max_body = 1000;\n"
               " routes = ( { path = \"/q\\\"uote\\\\\"; exact = true;\n"
               " return = { status = 418; type = \"text/x\"; body = \"tab\\there\\nnl\"; }; },\n"
               " { path = \"/r\"; return = { status = 308; location = \"https://x/\"; }; } ); },\n"
               " { listen = \"9\"; protocol = \"echo\"; idle_timeout = \"90s\"; reuseport = false; } );\n");
    round_trip(BASE "servers = ( { listen = [\"127.0.0.1:81\"]; access_log = \"/tmp/a.log\";\n"
               " access_log_format = \"$remote_addr $status\"; server_names = [ \"a.test\", \"*.b.test\" ];\n"
               " error_pages = ( { status = 404; file = \"/etc/passwd\"; } );\n"
               " routes = ( { path = \"/s\"; status = { format = \"prometheus\"; };\n"
               "   allow = [ \"127.0.0.1\", \"::1\" ]; deny = [ \"all\" ]; },\n"
               " { path = \"/\"; methods = [ \"GET\", \"POST\" ];\n"
               "   static = { root = \"/tmp\"; index = [ \"a.html\", \"b.html\" ]; autoindex = true;\n"
               "   cache = { valid = \"250ms\"; max_file = 0; size = \"8m\"; }; }; } ); },\n"
               " { listen = [\"127.0.0.1:81\"]; server_names = [ \"c.test\" ];\n"
               "   routes = ( { path = \"/\"; static = { root = \"/\"; }; } ); } );\n");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The round trip of every key of every section, generated from the tables:
 * a file that sets each key to a value other than its default is read,
 * printed (-T), read back, and the two readings are compared field by
 * field. A key added to a table is covered without touching this test,
 * unless its validator needs a particular value (then add it to `fixed`). */

/* Values a validator constrains, by "section.key"; alternatives separated
 * by '|' go to the elements of a list in turn. */
static const struct {
    const char *key;
    const char *value;
} fixed[] = {
    { "configuration.user", "\"root\"" },
    { "configuration.group", "\"root\"" },
    { "configuration.pid_file", "\"/tmp/herd-round-trip.pid\"" },
    { "configuration.error_log", "\"/tmp/herd-round-trip.log\"" },
    { "server.listen", "[ \"127.0.0.1:9100\", \"[::1]:9100\" ]|[ \"127.0.0.1:9101\" ]|"
                       "[ \"127.0.0.1:9102\" ]" },
    { "http.access_log", "\"/tmp/herd-round-trip-access.log\"" },
    { "http.access_log_format", "\"$remote_addr \\\"$request\\\" $status\"" },
    { "error page.status", "404|500" },
    { "error page.file", "\"/etc/passwd\"" },
    { "route.path", "\"/p0\"|\"/p1\"|\"/p2\"" },
    { "route.methods", "[ \"GET\", \"POST\" ]" },
    { "route.allow", "[ \"127.0.0.1\", \"::1\" ]" },
    { "route.deny", "[ \"10.0.0.0/8\", \"all\" ]" },
    { "return.status", "301" },
    { "static.root", "\"/tmp\"" },
    { "upstream.balance", "\"hash\"" },
    { "upstream.hash_key", "\"$remote_addr$request_uri\"" },
    { "upstream server.address", "\"127.0.0.1:9000\"|\"unix:/run/app.sock\"|\"[::1]:9000\"" },
    { "health_check.path", "\"/healthz\"" },
};

/* The (section, key) pairs the generator wrote, to check it reached all. */
struct seen {
    char v[256][80];
    int n;
};

static void mark_seen(struct seen *seen, const char *section, const char *key)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", section, key);
    for (int i = 0; i < seen->n; i++)
        if (strcmp(seen->v[i], name) == 0)
            return;
    ck_assert_int_lt(seen->n, (int)(sizeof seen->v / sizeof seen->v[0]));
    snprintf(seen->v[seen->n++], sizeof seen->v[0], "%s", name);
}

/* The idx-th of the '|'-separated alternatives of a fixed value, or NULL. */
static int fixed_value(const char *section, const char *key, int idx, char *out, size_t cap)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", section, key);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (strcmp(fixed[i].key, name) != 0)
            continue;
        const char *v = fixed[i].value;
        int n = 1;
        for (const char *p = v; *p; p++)
            n += *p == '|';
        for (int k = idx % n; k > 0; k--)
            v = strchr(v, '|') + 1;
        snprintf(out, cap, "%.*s", (int)strcspn(v, "|"), v);
        return 1;
    }
    return 0;
}

/* A number in [min, max] next to the default d (step away from it). */
static int64_t other_number(const struct cfg_key *k, int64_t d, int64_t step)
{
    int64_t v = d <= k->max - step ? d + step : d - step;
    if (v < k->min)
        v = k->min == d ? k->min + 1 : k->min;
    return v;
}

static int64_t default_number(const struct cfg_key *k)
{
    int64_t d = 0;
    if (k->def == NULL)
        return 0;
    if (k->type == CT_DURATION)
        ck_assert_int_eq(units_parse_duration(k->def, &d), 0);
    else if (k->type == CT_SIZE)
        ck_assert_int_eq(units_parse_size(k->def, &d), 0);
    else if (k->type == CT_WORKERS && strcmp(k->def, "auto") == 0)
        d = 0;
    else
        d = strtoll(k->def, NULL, 10);
    return d;
}

static void gen_section(FILE *out, const struct cfg_section *sec, const struct cfg_key *only,
                        int idx, struct seen *seen);

static int enum_count(const struct cfg_key *k)
{
    int n = 0;
    while (k->names[n])
        n++;
    return n;
}

static int protocol_count(void)
{
    int n = 0;
    while (proto_registry.list[n])
        n++;
    return n;
}

/* A list's elements: one per group key of the element when it has several
 * (a route takes one handler), one per protocol for servers, else two. */
static void gen_list(FILE *out, const struct cfg_key *k, struct seen *seen)
{
    const struct cfg_section *sub = k->sub;
    const struct cfg_key *groups[8];
    int n_groups = 0, n = 2;
    for (size_t i = 0; i < sub->n_keys; i++)
        if (sub->keys[i].type == CT_GROUP && n_groups < 8)
            groups[n_groups++] = &sub->keys[i];
    for (size_t i = 0; i < sub->n_keys; i++)
        if (sub->keys[i].type == CT_PROTOCOL)
            n = protocol_count();
    if (n_groups > 1)
        n = n_groups;
    fputs("(\n", out);
    for (int i = 0; i < n; i++) {
        fputs("{\n", out);
        gen_section(out, sub, n_groups > 1 ? groups[i] : NULL, i, seen);
        fprintf(out, "}%s\n", i + 1 < n ? "," : "");
    }
    fputs(")", out);
}

static void gen_value(FILE *out, const struct cfg_section *sec, const struct cfg_key *k,
                      int idx, struct seen *seen)
{
    char buf[256];
    int64_t d = default_number(k);
    if (fixed_value(sec->name, k->name, idx, buf, sizeof buf)) {
        fputs(buf, out);
        return;
    }
    switch (k->type) {
    case CT_INT:
    case CT_WORKERS:
        fprintf(out, "%lld", (long long)other_number(k, d, k->type == CT_WORKERS ? 7 : 1));
        return;
    case CT_DURATION:
        units_format_duration(other_number(k, d, 1000), buf, sizeof buf);
        fprintf(out, "\"%s\"", buf);
        return;
    case CT_SIZE:
        units_format_size(other_number(k, d, 1024), buf, sizeof buf);
        fprintf(out, "\"%s\"", buf);
        return;
    case CT_BOOL:
        fputs(k->def && strcmp(k->def, "true") == 0 ? "false" : "true", out);
        return;
    case CT_STRING:
        fprintf(out, "\"s-%s-%d\"", k->name, idx);
        return;
    case CT_STRINGS:
        fprintf(out, "[ \"s-%s-a\", \"s-%s-b\" ]", k->name, k->name);
        return;
    case CT_ENUM: {
        const char *last = k->names[enum_count(k) - 1];
        fprintf(out, "\"%s\"", k->def && strcmp(k->def, last) == 0 ? k->names[0] : last);
        return;
    }
    case CT_LOGLEVEL:
        fputs(k->def && strcmp(k->def, "debug") == 0 ? "\"error\"" : "\"debug\"", out);
        return;
    case CT_GROUP:
        fputs("{\n", out);
        gen_section(out, k->sub, NULL, idx, seen);
        fputs("}", out);
        return;
    case CT_LIST:
        gen_list(out, k, seen);
        return;
    case CT_PROTOCOL:
        fprintf(out, "\"%s\"", proto_registry.list[idx]->name);
        return;
    }
    ck_abort_msg("key type %d of '%s' has no generated value", (int)k->type, k->name);
}

/* Every key of sec; of its group keys only `only` when given. A server
 * takes protocol number idx, whose keys follow in the same group. */
static void gen_section(FILE *out, const struct cfg_section *sec, const struct cfg_key *only,
                        int idx, struct seen *seen)
{
    const struct cfg_section *protocol = NULL;
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct cfg_key *k = &sec->keys[i];
        if (only && k->type == CT_GROUP && k != only)
            continue;
        if (k->type == CT_PROTOCOL)
            protocol = proto_registry.list[idx]->section;
        mark_seen(seen, sec == config_section() ? "" : sec->name, k->name);
        fprintf(out, "%s = ", k->name);
        gen_value(out, sec, k, idx, seen);
        fputs(";\n", out);
    }
    if (protocol)
        gen_section(out, protocol, NULL, idx, seen);
}

/* ---- comparing two readings, and a reading with the defaults */

static bool same_strings(const struct cfg_strings *a, const struct cfg_strings *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

static bool same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static size_t list_count(const struct cfg_key *k, const void *obj)
{
    return *(const size_t *)((const char *)obj + k->aux_offset);
}

static void compare_section(const struct cfg_section *sec, const void *a, const void *b,
                            const char *where, int *compared);

/* Field k of a and b hold the same value. */
static void compare_key(const struct cfg_key *k, const void *a, const void *b,
                        const char *where, int *compared)
{
    const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
    char at[512];
    snprintf(at, sizeof at, "%s.%s", where, k->name);
    (*compared)++;
    switch (k->type) {
    case CT_INT: case CT_DURATION: case CT_SIZE: case CT_WORKERS:
        ck_assert_msg(*(const int64_t *)fa == *(const int64_t *)fb, "%s: %lld, then %lld", at,
                      (long long)*(const int64_t *)fa, (long long)*(const int64_t *)fb);
        return;
    case CT_BOOL:
        ck_assert_msg(*(const bool *)fa == *(const bool *)fb, "%s differs", at);
        return;
    case CT_ENUM: case CT_LOGLEVEL:
        ck_assert_msg(*(const int *)fa == *(const int *)fb, "%s differs", at);
        return;
    case CT_STRING:
        ck_assert_msg(same_string(*(char *const *)fa, *(char *const *)fb), "%s: '%s', then '%s'",
                      at, *(char *const *)fa, *(char *const *)fb);
        return;
    case CT_STRINGS:
        ck_assert_msg(same_strings((const void *)fa, (const void *)fb), "%s differs", at);
        return;
    case CT_GROUP:
        ck_assert_msg((*(void *const *)fa == NULL) == (*(void *const *)fb == NULL),
                      "%s: present only once", at);
        if (*(void *const *)fa)
            compare_section(k->sub, *(void *const *)fa, *(void *const *)fb, at, compared);
        return;
    case CT_PROTOCOL: {
        const struct cfg_protocol *pa = *(const struct cfg_protocol *const *)fa;
        ck_assert_msg(pa == *(const struct cfg_protocol *const *)fb, "%s differs", at);
        compare_section(pa->section, *(void *const *)((const char *)a + k->aux_offset),
                        *(void *const *)((const char *)b + k->aux_offset), at, compared);
        return;
    }
    case CT_LIST:
        ck_assert_msg(list_count(k, a) == list_count(k, b), "%s: %zu elements, then %zu", at,
                      list_count(k, a), list_count(k, b));
        for (size_t i = 0; i < list_count(k, a); i++) {
            char elem[560];
            snprintf(elem, sizeof elem, "%s[%zu]", at, i);
            compare_section(k->sub, *(char *const *)fa + i * k->sub->size,
                            *(char *const *)fb + i * k->sub->size, elem, compared);
        }
        return;
    }
    ck_abort_msg("%s: key type %d is not compared", at, (int)k->type);
}

static void compare_section(const struct cfg_section *sec, const void *a, const void *b,
                            const char *where, int *compared)
{
    for (size_t i = 0; i < sec->n_keys; i++)
        compare_key(&sec->keys[i], a, b, where, compared);
}

/* Does field k of obj hold k's default? */
static bool is_default(const struct cfg_key *k, const void *obj)
{
    const char *f = (const char *)obj + k->offset;
    switch (k->type) {
    case CT_INT: case CT_DURATION: case CT_SIZE: case CT_WORKERS:
        return *(const int64_t *)f == default_number(k);
    case CT_BOOL:
        return *(const bool *)f == (k->def && strcmp(k->def, "true") == 0);
    case CT_ENUM:
        return k->def ? strcmp(k->names[*(const int *)f], k->def) == 0 : *(const int *)f == 0;
    case CT_LOGLEVEL:
        return *(const int *)f == log_level_from(k->def);
    case CT_STRING:
        return same_string(*(char *const *)f, k->def);
    case CT_STRINGS: {
        const struct cfg_strings *s = (const void *)f;
        return k->def ? s->n == 1 && strcmp(s->v[0], k->def) == 0 : s->n == 0;
    }
    case CT_GROUP:
        return *(void *const *)f == NULL;
    case CT_LIST:
        return list_count(k, obj) == 0;
    case CT_PROTOCOL:
        return *(const struct cfg_protocol *const *)f == proto_registry.list[0];
    }
    return true;
}

/* Counts, per "section.key", the elements where the key is not at its
 * default: every key must be somewhere. */
static void collect_set(const struct cfg_section *sec, const void *obj, struct seen *set)
{
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct cfg_key *k = &sec->keys[i];
        const char *f = (const char *)obj + k->offset;
        if (!is_default(k, obj))
            mark_seen(set, sec == config_section() ? "" : sec->name, k->name);
        if (k->type == CT_GROUP && *(void *const *)f)
            collect_set(k->sub, *(void *const *)f, set);
        for (size_t j = 0; k->type == CT_LIST && j < list_count(k, obj); j++)
            collect_set(k->sub, *(char *const *)f + j * k->sub->size, set);
        if (k->type == CT_PROTOCOL)
            collect_set((*(const struct cfg_protocol *const *)f)->section,
                        *(void *const *)((const char *)obj + k->aux_offset), set);
    }
}

static bool has_seen(const struct seen *seen, const char *section, const char *key)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", section, key);
    for (int i = 0; i < seen->n; i++)
        if (strcmp(seen->v[i], name) == 0)
            return true;
    return false;
}

struct walk {
    const struct seen *seen;
    const char *what;
    int n;
};

static void assert_in(const char *section, const char *key, void *arg)
{
    struct walk *w = arg;
    w->n++;
    ck_assert_msg(has_seen(w->seen, section, key), "key '%s' of section '%s' %s", key,
                  section[0] ? section : "top", w->what);
}

/* The file setting every key, as text (malloc'ed). */
static char *every_key_file(struct seen *written)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    gen_section(f, config_section(), NULL, 0, written);
    fclose(f);
    return text;
}

START_TEST(print_round_trip)
{
    struct seen written = { .n = 0 }, set = { .n = 0 };
    char err[512], *text = every_key_file(&written);
    struct herd_config *a = fixture_load(text, err, sizeof err);
    ck_assert_msg(a != NULL, "the generated file is refused: %s\n%s", err, text);

    /* Every key of every table is in the file, at a value of its own. */
    struct walk w = { &written, "is not in the generated file", 0 };
    config_each_key(assert_in, &w);
    collect_set(config_section(), a, &set);
    w = (struct walk){ &set, "is at its default after reading the generated file", 0 };
    config_each_key(assert_in, &w);

    /* -T, read back: the same, key by key. */
    char *printed = fixture_print(a);
    fixture_conf_write(fixture_conf, printed);
    struct herd_config *b = config_load(fixture_conf, err, sizeof err);
    ck_assert_msg(b != NULL, "printed config does not parse: %s\n%s", err, printed);
    int compared = 0;
    compare_section(config_section(), a, b, "top", &compared);
    ck_assert_int_ge(compared, w.n);
    char *again = fixture_print(b);
    ck_assert_str_eq(strchr(printed, '\n'), strchr(again, '\n'));
    free(again);
    free(printed);
    free(text);
    config_free(a);
    config_free(b);
}
END_TEST

/* The key list (for the manual check) is the keys -T prints: each once per
 * section, none missing, none extra. */
struct key_names {
    struct seen pairs;
    char names[256][64];
    int n;
};

static void list_key(const char *section, const char *key, void *arg)
{
    struct key_names *k = arg;
    ck_assert_msg(!has_seen(&k->pairs, section, key), "key '%s' of '%s' is listed twice", key,
                  section);
    mark_seen(&k->pairs, section, key);
    for (int i = 0; i < k->n; i++)
        if (strcmp(k->names[i], key) == 0)
            return;
    ck_assert_int_lt(k->n, 256);
    snprintf(k->names[k->n++], sizeof k->names[0], "%s", key);
}

START_TEST(key_list)
{
    static struct key_names listed;
    memset(&listed, 0, sizeof listed);
    config_each_key(list_key, &listed);

    struct seen written = { .n = 0 };
    char err[512], *text = every_key_file(&written);
    struct herd_config *cfg = fixture_load(text, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    char *printed = fixture_print(cfg);
    bool printed_it[256] = { false };
    for (char *line = strchr(printed, '\n'); line; line = strchr(line + 1, '\n')) {
        char name[64];
        if (sscanf(line + 1, " %63[a-z_] =", name) != 1)
            continue;
        int i = 0;
        while (i < listed.n && strcmp(listed.names[i], name) != 0)
            i++;
        ck_assert_msg(i < listed.n, "-T prints '%s', which config_each_key does not list", name);
        printed_it[i] = true;
    }
    for (int i = 0; i < listed.n; i++)
        ck_assert_msg(printed_it[i], "config_each_key lists '%s', which -T never prints",
                      listed.names[i]);
    free(printed);
    free(text);
    config_free(cfg);
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
    tcase_add_test(tc, include_relative);
    tcase_add_test(tc, includes_checked_first);
    tcase_add_test(tc, main_file_not_regular);
    tcase_add_loop_test(tc, bad_file, 0, (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_test(tc, syntax_error_explained);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, error_page_not_a_file);
    tcase_add_test(tc, range_host_bits_warned);
    tcase_add_test(tc, range_host_bits);
    tcase_add_test(tc, unit_formats);
    tcase_add_test(tc, print_round_trip_text);
    tcase_add_test(tc, print_round_trip);
    tcase_add_test(tc, key_list);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    config_use_protocols(&proto_registry);
    return run_suite_tap(config_suite());
}
