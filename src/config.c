/* The configuration core: the top-level and server sections, loading a
 * file (or the embedded default) and the public calls of config.h. The
 * engine that reads, prints and frees a section from its table is in
 * config_engine.c and config_print.c; each section is a table of keys. */
#include "config.h"

#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_engine.h"
#include "config_include.h"
#include "config_syntax.h"
#include "http/access_log.h"
#include "http/config.h"
#include "listen.h"
#include "log.h"
#include "upstream.h"

#ifndef HERD_RUNSTATEDIR
#define HERD_RUNSTATEDIR "/run"
#endif
#ifndef HERD_SYSCONFDIR
#define HERD_SYSCONFDIR "/etc"
#endif

const char config_embedded_text[] =
    "# herd's embedded default: used when no configuration file exists.\n"
    "servers = (\n"
    "  { listen = [ \"127.0.0.1:8080\" ];\n"
    "    protocol = \"http\";\n"
    "    routes = (\n"
    "      { path = \"/\";\n"
    "        return = { status = 200; type = \"text/html\";\n"
    "                   body = \"<!DOCTYPE html>\\n<html><head><title>herd</title></head>\\n"
    "<body><h1>Hello from herd</h1>\\n<p>This page is herd's embedded default. "
    "Write a configuration file to serve your own site.</p></body></html>\\n\"; }; }\n"
    "    ); },\n"
    "  { listen = [ \"127.0.0.1:7007\" ]; protocol = \"echo\"; }\n"
    ");\n";

#define KEY(st, field) CFG_AT(st, field)
#define NKEYS(a) CFG_NKEYS(a)

static const char *const protocol_names[] = { "http", "echo", NULL };
#define MS(x) CFG_MS(x)
#define DAY CFG_DAY

#define HTTP_ONLY (1u << PROTO_HTTP)
#define ECHO_ONLY (1u << PROTO_ECHO)

static const struct cfg_key server_keys[] = {
    { "listen", CT_STRINGS, KEY(cfg_server, listen), NULL, 0, 0, 0, 0, 0, 0 },
    { "protocol", CT_ENUM, KEY(cfg_server, protocol), "http", 0, 0, protocol_names, 0, 0, 0 },
    { "reuseport", CT_BOOL, KEY(cfg_server, reuseport), "true", 0, 0, 0, 0, 0, 0 },
    { "backlog", CT_INT, KEY(cfg_server, backlog), "511", 1, 65535, 0, 0, 0, 0 },
    { "idle_timeout", CT_DURATION, KEY(cfg_server, idle_timeout), "60s", 1, DAY, 0,
      ECHO_ONLY, 0, 0 },
    { "keepalive_timeout", CT_DURATION, KEY(cfg_server, keepalive_timeout), "75s", 0, DAY, 0,
      HTTP_ONLY, 0, 0 },
    { "header_timeout", CT_DURATION, KEY(cfg_server, header_timeout), "60s", 1, DAY, 0,
      HTTP_ONLY, 0, 0 },
    { "body_timeout", CT_DURATION, KEY(cfg_server, body_timeout), "60s", 1, DAY, 0,
      HTTP_ONLY, 0, 0 },
    { "send_timeout", CT_DURATION, KEY(cfg_server, send_timeout), "60s", 1, DAY, 0,
      HTTP_ONLY, 0, 0 },
    { "keepalive_requests", CT_INT, KEY(cfg_server, keepalive_requests), "1000", 1,
      INT32_MAX, 0, HTTP_ONLY, 0, 0 },
    { "max_target", CT_SIZE, KEY(cfg_server, max_target), "8k", 16, 1024 * 1024, 0,
      HTTP_ONLY, 0, 0 },
    { "max_header_size", CT_SIZE, KEY(cfg_server, max_header_size), "16k", 256,
      1024 * 1024, 0, HTTP_ONLY, 0, 0 },
    { "max_headers", CT_INT, KEY(cfg_server, max_headers), "100", 1, 1000, 0, HTTP_ONLY, 0, 0 },
    { "max_body", CT_SIZE, KEY(cfg_server, max_body), "1m", 0, INT64_MAX / 2, 0,
      HTTP_ONLY, 0, 0 },
    { "server_names", CT_STRINGS, KEY(cfg_server, server_names), NULL, 0, 0, 0, HTTP_ONLY, 0, 0 },
    { "access_log", CT_STRING, KEY(cfg_server, access_log), NULL, 0, 0, 0, HTTP_ONLY, 0, 0 },
    { "access_log_format", CT_STRING, KEY(cfg_server, access_log_format), "combined", 0, 0, 0,
      HTTP_ONLY, 0, 0 },
    { "error_pages", CT_LIST, KEY(cfg_server, error_pages), NULL, 0, 0, 0, HTTP_ONLY,
      &http_error_page_section, KEY(cfg_server, n_error_pages) },
    { "routes", CT_LIST, KEY(cfg_server, routes), NULL, 0, 0, 0, HTTP_ONLY, &http_route_section,
      KEY(cfg_server, n_routes) },
};

static int validate_server(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_server *srv = obj;
    srv->access_log_line = cfg_line(group, "access_log");
    if (srv->listen.n == 0)
        return cfg_fail(ctx, group, "server has no 'listen' address");
    /* Keys meant for another protocol are mistakes, not options to ignore. */
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const struct cfg_key *k = NULL;
        for (size_t j = 0; j < NKEYS(server_keys) && k == NULL; j++)
            if (strcmp(server_keys[j].name, config_setting_name(s)) == 0)
                k = &server_keys[j];
        if (k && k->protocols && !(k->protocols & (1u << srv->protocol)))
            return cfg_fail(ctx, s, "'%s' does not apply to protocol \"%s\"", k->name,
                            protocol_names[srv->protocol]);
    }
    const config_setting_t *ls = config_setting_get_member(group, "listen");
    for (size_t i = 0; i < srv->listen.n; i++) {
        struct listen_addr a;
        const char *why;
        if (listen_addr_parse(srv->listen.v[i], &a, &why) < 0)
            return cfg_fail(ctx, ls, "listen \"%s\": %s", srv->listen.v[i], why);
    }
    if (srv->protocol == PROTO_HTTP && srv->n_routes == 0)
        return cfg_fail(ctx, group, "http server has no 'routes'");
    if (srv->access_log && srv->access_log[0] != '/')
        return cfg_fail(ctx, config_setting_get_member(group, "access_log"),
                        "'access_log' must be an absolute path");
    char why[200];
    if (srv->access_log_format && access_log_format_check(srv->access_log_format, why,
                                                          sizeof why) < 0)
        return cfg_fail(ctx, config_setting_get_member(group, "access_log_format"),
                        "'access_log_format': %s", why);
    for (size_t i = 0; i < srv->server_names.n; i++) {
        const char *name = srv->server_names.v[i];
        bool ok = name[0] != '\0' && strncmp(name, "*.", 2) == 0 ? name[2] != '\0' : name[0] != '\0';
        for (const char *p = name[0] == '*' ? name + 1 : name; *p && ok; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_';
        if (!ok)
            return cfg_fail(ctx, config_setting_get_member(group, "server_names"),
                            "server name '%s' must be a host name or *.suffix", name);
    }
    for (size_t i = 0; i < srv->n_error_pages; i++)
        for (size_t j = 0; j < i; j++)
            if (srv->error_pages[i].status == srv->error_pages[j].status)
                return cfg_fail(ctx, config_setting_get_member(group, "error_pages"),
                                "two error pages for status %lld",
                                (long long)srv->error_pages[i].status);
    for (size_t i = 0; i < srv->n_routes; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(srv->routes[i].path, srv->routes[j].path) == 0 &&
                srv->routes[i].exact == srv->routes[j].exact) {
                const config_setting_t *rs = config_setting_get_member(group, "routes");
                return cfg_fail(ctx, config_setting_get_elem(rs, (unsigned)i),
                                "duplicate route '%s' (first at line %d)",
                                srv->routes[i].path, srv->routes[j].where.line);
            }
    return 0;
}

static const struct cfg_section server_section = {
    "server", sizeof(struct cfg_server), server_keys, NKEYS(server_keys), validate_server,
};

/* Servers i and j (j before i) both listen on an address: that is allowed
 * only for HTTP virtual hosts that Host can tell apart. */
static int check_shared_address(struct cfg_ctx *ctx, const config_setting_t *where,
                                const struct herd_config *cfg, size_t i, size_t a, size_t j,
                                size_t b)
{
    const struct cfg_server *si = &cfg->servers[i], *sj = &cfg->servers[j];
    struct listen_addr x, y;
    const char *why;
    listen_addr_parse(si->listen.v[a], &x, &why);
    listen_addr_parse(sj->listen.v[b], &y, &why);
    if (strcmp(x.text, y.text) != 0)
        return 0;
    if (i == j || si->protocol != PROTO_HTTP || sj->protocol != PROTO_HTTP)
        return cfg_fail(ctx, where, "address %s is already used by the server at line %d",
                        x.text, sj->where.line);
    if (si->reuseport != sj->reuseport)
        return cfg_fail(ctx, where, "servers sharing %s must agree on 'reuseport'", x.text);
    if (si->server_names.n == 0)
        return cfg_fail(ctx, where,
                        "this server shares %s with the server at line %d but has no "
                        "'server_names', so no request could reach it", x.text, sj->where.line);
    for (size_t n = 0; n < si->server_names.n; n++)
        for (size_t m = 0; m < sj->server_names.n; m++)
            if (strcasecmp(si->server_names.v[n], sj->server_names.v[m]) == 0)
                return cfg_fail(ctx, where,
                                "server name '%s' on %s is already used by the server at line %d",
                                si->server_names.v[n], x.text, sj->where.line);
    return 0;
}

static int validate_top(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct herd_config *cfg = obj;
    cfg->error_log_line = cfg_line(group, "error_log");
    if (cfg->n_servers == 0)
        return cfg_fail(ctx, group, "no 'servers' configured");
    if (upstream_check_list(ctx, config_setting_get_member(group, "upstreams"), cfg->upstreams,
                            cfg->n_upstreams) < 0)
        return -1;
    const config_setting_t *ss = config_setting_get_member(group, "servers");
    for (size_t i = 0; i < cfg->n_servers; i++)
        for (size_t a = 0; a < cfg->servers[i].listen.n; a++)
            for (size_t j = 0; j <= i; j++)
                for (size_t b = 0; b < cfg->servers[j].listen.n && (j < i || b < a); b++)
                    if (check_shared_address(ctx, config_setting_get_elem(ss, (unsigned)i), cfg,
                                             i, a, j, b) < 0)
                        return -1;
    if (cfg->pid_file[0] != '/')
        return cfg_fail(ctx, config_setting_get_member(group, "pid_file"),
                        "'pid_file' must be an absolute path");
    if (strcmp(cfg->error_log, "stderr") != 0 && cfg->error_log[0] != '/')
        return cfg_fail(ctx, config_setting_get_member(group, "error_log"),
                        "'error_log' must be \"stderr\" or an absolute path");
    if (cfg->user && cfg->user[0] == '\0')
        return cfg_fail(ctx, config_setting_get_member(group, "user"), "'user' is empty");
    /* Workers started by root switch to them: find out now, not at fork. */
    if (getpwnam(cfg->user) == NULL) {
        const config_setting_t *at = config_setting_get_member(group, "user");
        return cfg_fail(ctx, at ? at : group, "user \"%s\" does not exist", cfg->user);
    }
    if (cfg->group && getgrnam(cfg->group) == NULL)
        return cfg_fail(ctx, config_setting_get_member(group, "group"),
                        "group \"%s\" does not exist", cfg->group);
    return 0;
}

static const struct cfg_key top_keys[] = {
    { "workers", CT_WORKERS, KEY(herd_config, workers), "auto", 1, CONFIG_MAX_WORKERS, 0, 0,
      0, 0 },
    { "user", CT_STRING, KEY(herd_config, user), "nobody", 0, 0, 0, 0, 0, 0 },
    { "group", CT_STRING, KEY(herd_config, group), NULL, 0, 0, 0, 0, 0, 0 },
    { "pid_file", CT_STRING, KEY(herd_config, pid_file), HERD_RUNSTATEDIR "/herd.pid", 0, 0,
      0, 0, 0, 0 },
    { "error_log", CT_STRING, KEY(herd_config, error_log), "stderr", 0, 0, 0, 0, 0, 0 },
    { "log_level", CT_LOGLEVEL, KEY(herd_config, log_level), "info", 0, 0, 0, 0, 0, 0 },
    { "worker_connections", CT_INT, KEY(herd_config, worker_connections), "10000", 1,
      1000000, 0, 0, 0, 0 },
    { "shutdown_timeout", CT_DURATION, KEY(herd_config, shutdown_timeout), "30s", 0, DAY, 0,
      0, 0, 0 },
    { "upstreams", CT_LIST, KEY(herd_config, upstreams), NULL, 0, 0, 0, 0, &upstream_section,
      KEY(herd_config, n_upstreams) },
    { "servers", CT_LIST, KEY(herd_config, servers), NULL, 0, 0, 0, 0, &server_section,
      KEY(herd_config, n_servers) },
};

static const struct cfg_section top_section = {
    "configuration", sizeof(struct herd_config), top_keys, NKEYS(top_keys), validate_top,
};

void config_free(struct herd_config *cfg)
{
    if (cfg == NULL)
        return;
    cfg_free_section(&top_section, cfg);
    free(cfg);
}

/* libconfig reads the text up to the first NUL byte only. */
static int check_text(const char *file, const char *text, size_t len, char *err, size_t errcap)
{
    const char *nul = memchr(text, '\0', len);
    if (nul == NULL)
        return 0;
    int line = 1;
    for (const char *p = text; p < nul; p++)
        line += *p == '\n';
    snprintf(err, errcap, "%s:%d: a NUL byte (is this a text file?)", file, line);
    return -1;
}

/* libconfig's error as FILE:LINE: text; a syntax error also gets its likely
 * cause and the source line (config_syntax.h). */
static void read_error(struct cfg_ctx *ctx, const config_t *lc, char *err, size_t errcap)
{
    const char *file = cfg_source_file(ctx, config_error_file(lc));
    const char *what = config_error_text(lc);
    int line = config_error_line(lc);
    char *text = NULL, why[160], explained[900];
    size_t len = 0;
    if (strcmp(what, "syntax error") == 0) {
        const char *src = NULL;
        if (file == ctx->main_file) {
            src = ctx->main_text;
            len = strlen(src);
        } else if (config_include_read(file, &text, &len, why, sizeof why) == 0) {
            src = text;
        }
        if (src) {
            config_syntax_explain(src, len, line, explained, sizeof explained);
            what = explained;
        }
    }
    snprintf(err, errcap, "%s:%d: %s", file, line, what);
    free(text);
}

struct herd_config *config_load(const char *path, char *err, size_t errcap)
{
    struct cfg_ctx ctx = { .err = err, .errcap = errcap,
                           .main_file = path ? path : "(embedded)",
                           .main_text = path ? NULL : config_embedded_text };
    struct herd_config *cfg = NULL;
    config_t lc;
    config_init(&lc);
    err[0] = '\0';

    char *dir = NULL, *text = NULL;
    if (path) {
        dir = strdup(path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) {
            *slash = '\0';
            if (dir[0] == '\0')
                strcpy(dir, "/");
            config_set_include_dir(&lc, dir);
            ctx.include_dir = dir;
        }
        /* libconfig's scanner exits the process on a read error and blocks
         * on a FIFO: it reads text herd has read itself, and opens only
         * includes checked to be regular files. */
        size_t len;
        char why[160];
        if (config_include_read(path, &text, &len, why, sizeof why) < 0) {
            snprintf(err, errcap, "%s: cannot read: %s", path, why);
            goto fail;
        }
        ctx.main_text = text;
        if (check_text(path, text, len, err, errcap) < 0 ||
            config_include_check(path, text, len, ctx.include_dir, err, errcap) < 0)
            goto fail;
        if (config_read_string(&lc, text) != CONFIG_TRUE) {
            read_error(&ctx, &lc, err, errcap);
            goto fail;
        }
    } else if (config_read_string(&lc, config_embedded_text) != CONFIG_TRUE) {
        read_error(&ctx, &lc, err, errcap);
        goto fail;
    }

    cfg = calloc(1, sizeof *cfg);
    if (cfg == NULL) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    cfg->embedded = path == NULL;
    if (cfg_read_section(&ctx, &top_section, config_root_setting(&lc), cfg) < 0)
        goto fail;
    config_destroy(&lc);
    free(dir);
    free(text);
    return cfg;

fail:
    config_free(cfg);
    config_destroy(&lc);
    free(dir);
    free(text);
    return NULL;
}

const char *config_default_path(void)
{
    return HERD_SYSCONFDIR "/herd/herd.conf";
}

int config_choose_path(const char *given, char **out)
{
    *out = NULL;
    if (given == NULL) {
        if (access(config_default_path(), F_OK) != 0)
            return 0;
        given = config_default_path();
    }
    /* Absolute, so reloads find it after the daemon has left the directory. */
    char *abs = realpath(given, NULL);
    *out = abs ? abs : strdup(given);
    return *out ? 0 : -1;
}

int config_workers(const struct herd_config *cfg)
{
    if (cfg->workers > 0)
        return (int)cfg->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > CONFIG_MAX_WORKERS)
        n = CONFIG_MAX_WORKERS;
    return (int)n;
}

int config_print(const struct herd_config *cfg, FILE *out)
{
    fprintf(out, "# effective configuration of %s\n",
            cfg->embedded ? "the embedded default" : cfg->where.file);
    cfg_print_section(out, &top_section, cfg, 0);
    return ferror(out) ? -1 : 0;
}

const struct cfg_section *config_section(void)
{
    return &top_section;
}

void config_each_key(void (*fn)(const char *section, const char *key, void *arg), void *arg)
{
    cfg_each_key(&top_section, true, fn, arg);
}
