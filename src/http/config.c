/* The tables of an HTTP server's configuration (http/config.h): the
 * server's keys, routes and error pages, with the checks across keys that
 * the engine cannot make, and HTTP's entry in the protocol registry. Each
 * handler's own section (return, static with its cache, status) is next to
 * its code, in handler_*.c.
 * Tested by tests/unit/check_http_config.c (defaults, ranges, every check),
 * check_config.c (the -T round trip) and check_proto.c. */
#include "http/config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <strings.h>

#include "config_engine.h"
#include "config_include.h"
#include "http/access_log.h"
#include "http/auth.h"
#include "http/handler.h"
#include "http/limit.h"
#include "http/headers.h"
#include "http/realip.h"
#include "http/regex.h"
#include "http/static_gzip.h"
#include "http/status.h"
#include "http/template.h"
#include "proto.h"

/* ------------------------------------------------------------------ */
/* routes */

static const char *const method_names[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH", NULL,
};

static int check_ranges(struct cfg_ctx *ctx, const config_setting_t *group, const char *key,
                        const struct cfg_strings *list)
{
    return cfg_check_ranges(ctx, config_setting_get_member(group, key), key, list, false);
}

static int check_methods(struct cfg_ctx *ctx, const config_setting_t *group,
                         const struct cfg_strings *methods)
{
    for (size_t i = 0; i < methods->n; i++) {
        bool known = false;
        for (int k = 0; method_names[k]; k++)
            known = known || strcmp(methods->v[i], method_names[k]) == 0;
        if (!known)
            return cfg_fail(ctx, config_setting_get_member(group, "methods"),
                            "unknown method '%s' (methods are upper case: GET, HEAD, POST, ...)",
                            methods->v[i]);
    }
    return 0;
}

/* What names a route in messages: its path, or its pattern. */
static const char *route_name(const struct cfg_route *r)
{
    return r->regex ? r->regex : r->path;
}

/* A regex route: the pattern alone (no 'path', no exact = true), one that
 * PCRE2 compiles. Returns its capturing groups, or -1 after cfg_fail(). */
static int check_regex(struct cfg_ctx *ctx, const config_setting_t *group,
                       const struct cfg_route *r)
{
    const config_setting_t *at = config_setting_get_member(group, "regex");
    char why[300];
    if (r->path)
        return cfg_fail(ctx, at, "a route has 'path' or 'regex', not both");
    if (r->exact)       /* false is what -T prints for every route */
        return cfg_fail(ctx, config_setting_get_member(group, "exact"),
                        "'exact' is for 'path' routes; a regex anchors itself (\"^/x$\")");
    if (r->regex[0] == '\0')
        return cfg_fail(ctx, at, "'regex' is empty");
    struct http_regex *re = http_regex_compile(r->regex, false, why, sizeof why);
    if (re == NULL)
        return cfg_fail(ctx, at, "'regex' \"%s\": %s", r->regex, why);
    int groups = (int)http_regex_groups(re);
    http_regex_free(re);
    return groups;
}

/* A $N in template src (the value of key, at `at`) must name one of the
 * route's capturing groups: a higher one would always be empty. */
static int check_capture(struct cfg_ctx *ctx, const config_setting_t *at,
                         const struct cfg_route *r, int groups, const char *key, const char *src)
{
    int max = http_template_max_capture(src);
    if (max <= groups)      /* also -1: a bad template, said by its own check */
        return 0;
    if (r->regex == NULL)
        return cfg_fail(ctx, at, "'%s' names $%d, but only a 'regex' route has captures",
                        key, max);
    return cfg_fail(ctx, at, "'%s' names $%d, but the route's regex has %d capturing group%s",
                    key, max, groups, groups == 1 ? "" : "s");
}

/* The route's own templates: return.location, headers, proxy.headers. The
 * server's headers go to every route and may name any capture (empty where
 * there is none). */
static int check_captures(struct cfg_ctx *ctx, const config_setting_t *group,
                          const struct cfg_route *r, int groups)
{
    const config_setting_t *ret = config_setting_get_member(group, "return");
    const config_setting_t *proxy = config_setting_get_member(group, "proxy");
    if (r->ret && r->ret->location &&
        check_capture(ctx, config_setting_get_member(ret, "location"), r, groups, "location",
                      r->ret->location) < 0)
        return -1;
    for (size_t i = 0; i + 1 < r->headers.n; i += 2)
        if (check_capture(ctx, config_setting_get_member(group, "headers"), r, groups,
                          r->headers.v[i], r->headers.v[i + 1]) < 0)
            return -1;
    for (size_t i = 0; r->proxy && i + 1 < r->proxy->headers.n; i += 2)
        if (check_capture(ctx, config_setting_get_member(proxy, "headers"), r, groups,
                          r->proxy->headers.v[i], r->proxy->headers.v[i + 1]) < 0)
            return -1;
    return 0;
}

static int validate_route(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_route *r = obj;
    int groups = 0;
    if (r->path == NULL && r->regex == NULL)
        return cfg_fail(ctx, group, "route has no 'path' (or 'regex')");
    if (r->regex && (groups = check_regex(ctx, group, r)) < 0)
        return -1;
    if (r->path && r->path[0] != '/')
        return cfg_fail(ctx, group, "route path '%s' must start with '/'", r->path);
    size_t handlers = http_handlers_configured(r);
    if (handlers == 0)
        return cfg_fail(ctx, group, "route '%s' has no handler (add 'return', 'static', 'status' or 'proxy')",
                        route_name(r));
    if (handlers > 1)
        return cfg_fail(ctx, group, "route '%s' has more than one handler", route_name(r));
    if (check_captures(ctx, group, r, groups) < 0)
        return -1;
    if (r->access_log && strcmp(r->access_log, "off") != 0)
        return cfg_fail(ctx, config_setting_get_member(group, "access_log"),
                        "a route's 'access_log' can only be \"off\" (its requests are "
                        "otherwise written to the server's)");
    if (r->compress && r->stat == NULL)
        return cfg_fail(ctx, config_setting_get_member(group, "compress"),
                        "'compress' applies to static routes only (route '%s')", route_name(r));
    /* Gzip on the fly is kept in the cache: without room for a file of
     * min_size it never happens. Allowed (precompressed may still serve),
     * but said. */
    if (r->compress && r->stat && r->stat->cache &&
        (r->stat->cache->size == 0 || r->stat->cache->max_file < r->compress->min_size))
        cfg_warn(ctx, config_setting_get_member(group, "compress"),
                 "'compress' gzips only files the route's cache holds, and its cache holds "
                 "none from min_size up (cache size or max_file): nothing will be compressed");
    if (check_methods(ctx, group, &r->methods) < 0 ||
        http_headers_check(ctx, group, "headers", &r->headers) < 0 ||
        check_ranges(ctx, group, "allow", &r->allow) < 0 ||
        check_ranges(ctx, group, "deny", &r->deny) < 0)
        return -1;
    return 0;
}

static const struct cfg_key route_keys[] = {
    { .name = "path", .type = CT_STRING, .offset = CFG_AT(cfg_route, path) },
    { .name = "exact", .type = CT_BOOL, .offset = CFG_AT(cfg_route, exact), .def = "false" },
    { .name = "regex", .type = CT_STRING, .offset = CFG_AT(cfg_route, regex) },
    { .name = "methods", .type = CT_STRINGS, .offset = CFG_AT(cfg_route, methods) },
    { .name = "allow", .type = CT_STRINGS, .offset = CFG_AT(cfg_route, allow) },
    { .name = "deny", .type = CT_STRINGS, .offset = CFG_AT(cfg_route, deny) },
    { .name = "access_log", .type = CT_STRING, .offset = CFG_AT(cfg_route, access_log) },
    /* No default of its own: the server's, set by inherit_log_not_found. */
    { .name = "log_not_found", .type = CT_BOOL, .offset = CFG_AT(cfg_route, log_not_found),
      .def = "false" },
    { .name = "headers", .type = CT_FIELDS, .offset = CFG_AT(cfg_route, headers) },
    { .name = "auth", .type = CT_GROUP, .offset = CFG_AT(cfg_route, auth),
      .sub = &http_auth_config, .release = http_auth_config_release },
    { .name = "limit", .type = CT_GROUP, .offset = CFG_AT(cfg_route, limit),
      .sub = &http_limit_config },
    /* the handlers: exactly one */
    { .name = "return", .type = CT_GROUP, .offset = CFG_AT(cfg_route, ret),
      .sub = &http_return_config },
    { .name = "static", .type = CT_GROUP, .offset = CFG_AT(cfg_route, stat),
      .sub = &http_static_config },
    { .name = "status", .type = CT_GROUP, .offset = CFG_AT(cfg_route, status),
      .sub = &http_status_config },
    { .name = "proxy", .type = CT_GROUP, .offset = CFG_AT(cfg_route, proxy),
      .sub = &http_proxy_config },
    { .name = "compress", .type = CT_GROUP, .offset = CFG_AT(cfg_route, compress),
      .sub = &http_compress_config },
};

static const struct cfg_section route_section = {
    "route", sizeof(struct cfg_route), route_keys, CFG_NKEYS(route_keys), validate_route,
};

/* ------------------------------------------------------------------ */
/* error pages */

static int validate_error_page(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_error_page *e = obj;
    if (e->status == 0 || e->file == NULL)
        return cfg_fail(ctx, group, "an error page needs 'status' and 'file'");
    static const int produced[] = { 400, 403, 404, 405, 408, 413, 414, 416, 421, 429, 431,
                                    500, 501, 502, 503, 504, 505 };
    bool known = false;
    for (size_t i = 0; i < sizeof produced / sizeof produced[0]; i++)
        known = known || produced[i] == e->status;
    if (!known)
        return cfg_fail(ctx, group, "herd never answers %lld; error pages exist for 400, 403, "
                        "404, 405, 408, 413, 414, 416, 421, 429, 431, 500, 501, 502, 503, 504 and 505",
                        (long long)e->status);
    if (e->file[0] != '/')
        return cfg_fail(ctx, group, "error page 'file' must be an absolute path");
    /* Read now, as the workers will: a FIFO would block the master. */
    char *text, why[160];
    size_t len;
    if (config_include_read(e->file, &text, &len, why, sizeof why) < 0)
        return cfg_fail(ctx, group, "error page %s: %s", e->file, why);
    free(text);
    return 0;
}

static const struct cfg_key error_page_keys[] = {
    { .name = "status", .type = CT_INT, .offset = CFG_AT(cfg_error_page, status), .def = "0",
      .min = 400, .max = 599 },
    { .name = "file", .type = CT_STRING, .offset = CFG_AT(cfg_error_page, file) },
};

static const struct cfg_section error_page_section = {
    "error page", sizeof(struct cfg_error_page), error_page_keys, CFG_NKEYS(error_page_keys),
    validate_error_page,
};

/* ------------------------------------------------------------------ */
/* the server's HTTP keys */

static int check_server_names(struct cfg_ctx *ctx, const config_setting_t *group,
                              const struct cfg_strings *names)
{
    for (size_t i = 0; i < names->n; i++) {
        const char *name = names->v[i];
        /* A wildcard is "*." and a suffix: "*" alone or "*x.org" would
         * match nothing, or more than it says. */
        bool wild = name[0] == '*';
        bool ok = wild ? strncmp(name, "*.", 2) == 0 && name[2] != '\0' : name[0] != '\0';
        for (const char *p = wild ? name + 2 : name; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_';
        if (!ok)
            return cfg_fail(ctx, config_setting_get_member(group, "server_names"),
                            "server name '%s' must be a host name or *.suffix", name);
    }
    return 0;
}

static int check_access_log(struct cfg_ctx *ctx, const config_setting_t *group,
                            struct cfg_http *h)
{
    char why[200];
    h->access_log_line = cfg_line(group, "access_log");
    if (h->access_log && strcmp(h->access_log, "off") == 0) {
        free(h->access_log);        /* nginx's spelling of no log */
        h->access_log = NULL;
    }
    if (h->access_log && h->access_log[0] != '/')
        return cfg_fail(ctx, config_setting_get_member(group, "access_log"),
                        "'access_log' must be an absolute path");
    if (h->access_log_format &&
        access_log_format_check(h->access_log_format, why, sizeof why) < 0)
        return cfg_fail(ctx, config_setting_get_member(group, "access_log_format"),
                        "'access_log_format': %s", why);
    return 0;
}

/* The same route twice: the same path and exactness, or the same pattern. */
static bool same_route(const struct cfg_route *a, const struct cfg_route *b)
{
    if ((a->regex == NULL) != (b->regex == NULL))
        return false;
    return strcmp(route_name(a), route_name(b)) == 0 && a->exact == b->exact;
}

/* One page per status, one route per path (and exactness) or pattern. */
static int check_unique(struct cfg_ctx *ctx, const config_setting_t *group,
                        const struct cfg_http *h)
{
    for (size_t i = 0; i < h->n_error_pages; i++)
        for (size_t j = 0; j < i; j++)
            if (h->error_pages[i].status == h->error_pages[j].status)
                return cfg_fail(ctx, config_setting_get_member(group, "error_pages"),
                                "two error pages for status %lld",
                                (long long)h->error_pages[i].status);
    for (size_t i = 0; i < h->n_routes; i++)
        for (size_t j = 0; j < i; j++)
            if (same_route(&h->routes[i], &h->routes[j])) {
                const config_setting_t *rs = config_setting_get_member(group, "routes");
                return cfg_fail(ctx, config_setting_get_elem(rs, (unsigned)i),
                                "duplicate route '%s' (first at line %d)",
                                route_name(&h->routes[i]), h->routes[j].where.line);
            }
    return 0;
}

/* A route without its own log_not_found takes the server's. The routes
 * then hold the effective value, which -T prints, so the printed file
 * reads back the same whatever the server's. */
static void inherit_log_not_found(const config_setting_t *group, struct cfg_http *h)
{
    const config_setting_t *rs = config_setting_get_member(group, "routes");
    for (size_t i = 0; rs && i < h->n_routes; i++) {
        const config_setting_t *r = config_setting_get_elem(rs, (unsigned)i);
        if (r && config_setting_get_member(r, "log_not_found") == NULL)
            h->routes[i].log_not_found = h->log_not_found;
    }
}

static int validate_http(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_http *h = obj;
    if (h->n_routes == 0)
        return cfg_fail(ctx, group, "http server has no 'routes'");
    inherit_log_not_found(group, h);
    if (check_access_log(ctx, group, h) < 0 ||
        check_server_names(ctx, group, &h->server_names) < 0 || check_unique(ctx, group, h) < 0 ||
        http_headers_check(ctx, group, "headers", &h->headers) < 0)
        return -1;
    return 0;
}

static const struct cfg_key http_keys[] = {
    { .name = "keepalive_timeout", .type = CT_DURATION,
      .offset = CFG_AT(cfg_http, keepalive_timeout), .def = "75s", .min = 0, .max = CFG_DAY },
    { .name = "header_timeout", .type = CT_DURATION, .offset = CFG_AT(cfg_http, header_timeout),
      .def = "60s", .min = 1, .max = CFG_DAY },
    { .name = "body_timeout", .type = CT_DURATION, .offset = CFG_AT(cfg_http, body_timeout),
      .def = "60s", .min = 1, .max = CFG_DAY },
    { .name = "send_timeout", .type = CT_DURATION, .offset = CFG_AT(cfg_http, send_timeout),
      .def = "60s", .min = 1, .max = CFG_DAY },
    { .name = "keepalive_requests", .type = CT_INT,
      .offset = CFG_AT(cfg_http, keepalive_requests), .def = "1000", .min = 1,
      .max = INT32_MAX },
    { .name = "max_target", .type = CT_SIZE, .offset = CFG_AT(cfg_http, max_target),
      .def = "8k", .min = 16, .max = 1024 * 1024 },
    { .name = "max_header_size", .type = CT_SIZE, .offset = CFG_AT(cfg_http, max_header_size),
      .def = "16k", .min = 256, .max = 1024 * 1024 },
    { .name = "max_headers", .type = CT_INT, .offset = CFG_AT(cfg_http, max_headers),
      .def = "100", .min = 1, .max = 1000 },
    { .name = "max_body", .type = CT_SIZE, .offset = CFG_AT(cfg_http, max_body), .def = "1m",
      .min = 0, .max = INT64_MAX / 2 },
    { .name = "server_names", .type = CT_STRINGS, .offset = CFG_AT(cfg_http, server_names) },
    { .name = "headers", .type = CT_FIELDS, .offset = CFG_AT(cfg_http, headers) },
    { .name = "real_ip", .type = CT_GROUP, .offset = CFG_AT(cfg_http, real_ip),
      .sub = &http_realip_config },
    { .name = "access_log", .type = CT_STRING, .offset = CFG_AT(cfg_http, access_log) },
    { .name = "access_log_format", .type = CT_STRING,
      .offset = CFG_AT(cfg_http, access_log_format), .def = "combined" },
    /* Off, unlike nginx: a site's 404s are its visitors' typos and
     * scanners' probes, and herd has never logged them. */
    { .name = "log_not_found", .type = CT_BOOL, .offset = CFG_AT(cfg_http, log_not_found),
      .def = "false" },
    { .name = "error_pages", .type = CT_LIST, .offset = CFG_AT(cfg_http, error_pages),
      .sub = &error_page_section, .aux_offset = CFG_AT(cfg_http, n_error_pages) },
    { .name = "routes", .type = CT_LIST, .offset = CFG_AT(cfg_http, routes),
      .sub = &route_section, .aux_offset = CFG_AT(cfg_http, n_routes) },
    { .name = "limit", .type = CT_GROUP, .offset = CFG_AT(cfg_http, limit),
      .sub = &http_server_limit_config },
};

static const struct cfg_section http_section = {
    "http", sizeof(struct cfg_http), http_keys, CFG_NKEYS(http_keys), validate_http,
};

/* ------------------------------------------------------------------ */
/* HTTP in the registry */

/* Two HTTP servers may share an address when the Host header can tell
 * them apart: a (the later one) has server_names, none of them b's. */
static int share_address(struct cfg_ctx *ctx, const config_setting_t *where,
                         const struct cfg_server *a, const struct cfg_server *b, const char *addr)
{
    const struct cfg_strings *na = &http_config(a)->server_names;
    const struct cfg_strings *nb = &http_config(b)->server_names;
    char seen[PATH_MAX + 32];
    cfg_where_seen(ctx, where, &b->where, seen, sizeof seen);
    if (na->n == 0)
        return cfg_fail(ctx, where,
                        "this server shares %s with the server at %s but has no "
                        "'server_names', so no request could reach it", addr, seen);
    for (size_t n = 0; n < na->n; n++)
        for (size_t m = 0; m < nb->n; m++)
            if (strcasecmp(na->v[n], nb->v[m]) == 0)
                return cfg_fail(ctx, where,
                                "server name '%s' on %s is already used by the server at %s",
                                na->v[n], addr, seen);
    return 0;
}

static const char *access_log_of(const struct cfg_server *s, int *line)
{
    *line = http_config(s)->access_log_line;
    return http_config(s)->access_log;
}

static const struct cfg_strings *server_names_of(const struct cfg_server *s)
{
    return &http_config(s)->server_names;
}

const struct proto_module http_module = {
    .config = { .name = "http", .section = &http_section, .share = share_address,
                .check = http_proxy_check },
    .proto = &proto_http,
    .defer_accept = true,           /* an HTTP client speaks first */
    .access_log = access_log_of,
    .stats_label = http_status_server_name,
    .server_names = server_names_of,
};
