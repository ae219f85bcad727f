/* The tables of an HTTP server's configuration (http/config.h): one per
 * section, with the checks across keys that the engine cannot make. */
#include "http/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cidr.h"
#include "config_engine.h"
#include "config_include.h"

/* ------------------------------------------------------------------ */
/* return */

static int validate_return(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_return *r = obj;
    if (r->status == 0)
        r->status = r->location ? 302 : 200;
    if (r->location && (r->status < 300 || r->status > 399))
        return cfg_fail(ctx, group, "'location' needs a 3xx status, not %lld",
                        (long long)r->status);
    if (r->location && strpbrk(r->location, "\r\n"))
        return cfg_fail(ctx, group, "'location' must not contain line breaks");
    if (r->type && strpbrk(r->type, "\r\n"))
        return cfg_fail(ctx, group, "'type' must not contain line breaks");
    if (r->type == NULL && r->body != NULL && (r->type = strdup("text/plain")) == NULL)
        return cfg_fail(ctx, group, "out of memory");
    if (r->body && (r->status < 200 || r->status == 204 || r->status == 304))
        return cfg_fail(ctx, group, "status %lld cannot have a body", (long long)r->status);
    return 0;
}

static const struct cfg_key return_keys[] = {
    /* 0: 302 with a location, else 200 */
    { .name = "status", .type = CT_INT, .offset = CFG_AT(cfg_return, status), .def = "0",
      .min = 100, .max = 599 },
    { .name = "type", .type = CT_STRING, .offset = CFG_AT(cfg_return, type) },
    { .name = "body", .type = CT_STRING, .offset = CFG_AT(cfg_return, body) },
    { .name = "location", .type = CT_STRING, .offset = CFG_AT(cfg_return, location) },
};

static const struct cfg_section return_section = {
    "return", sizeof(struct cfg_return), return_keys, CFG_NKEYS(return_keys), validate_return,
};

/* ------------------------------------------------------------------ */
/* static and its cache */

static int validate_cache(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_cache *c = obj;
    if (c->max_file > c->size) {
        const config_setting_t *at = config_setting_get_member(group, "max_file");
        return cfg_fail(ctx, at ? at : group, "'max_file' is larger than the cache 'size'");
    }
    return 0;
}

static const struct cfg_key cache_keys[] = {
    { .name = "valid", .type = CT_DURATION, .offset = CFG_AT(cfg_cache, valid), .def = "1s",
      .min = 0, .max = CFG_MS(3600) },
    { .name = "max_file", .type = CT_SIZE, .offset = CFG_AT(cfg_cache, max_file), .def = "64k",
      .min = 0, .max = 64 * 1024 * 1024 },
    { .name = "size", .type = CT_SIZE, .offset = CFG_AT(cfg_cache, size), .def = "16m",
      .min = 0, .max = 1024LL * 1024 * 1024 },
};

static const struct cfg_section cache_section = {
    "cache", sizeof(struct cfg_cache), cache_keys, CFG_NKEYS(cache_keys), validate_cache,
};

static int validate_static(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_static *st = obj;
    if (st->root == NULL)
        return cfg_fail(ctx, group, "static handler has no 'root'");
    if (st->root[0] != '/')
        return cfg_fail(ctx, group, "static 'root' must be an absolute path");
    struct stat sb;
    if (stat(st->root, &sb) < 0)
        return cfg_fail(ctx, config_setting_get_member(group, "root"), "static root %s: %s",
                        st->root, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return cfg_fail(ctx, config_setting_get_member(group, "root"),
                        "static root %s is not a directory", st->root);
    for (size_t i = 0; i < st->index.n; i++)
        if (st->index.v[i][0] == '\0' || strchr(st->index.v[i], '/'))
            return cfg_fail(ctx, config_setting_get_member(group, "index"),
                            "index name '%s' must be a plain file name", st->index.v[i]);
    if (st->cache == NULL) {
        /* The handler always has a cache: the group's defaults. */
        if ((st->cache = calloc(1, sizeof *st->cache)) == NULL)
            return cfg_fail(ctx, group, "out of memory");
        return cfg_defaults(ctx, &cache_section, st->cache, &st->where);
    }
    return 0;
}

static const struct cfg_key static_keys[] = {
    { .name = "root", .type = CT_STRING, .offset = CFG_AT(cfg_static, root) },
    { .name = "index", .type = CT_STRINGS, .offset = CFG_AT(cfg_static, index),
      .def = "index.html" },
    { .name = "autoindex", .type = CT_BOOL, .offset = CFG_AT(cfg_static, autoindex),
      .def = "false" },
    { .name = "cache", .type = CT_GROUP, .offset = CFG_AT(cfg_static, cache),
      .sub = &cache_section },
};

static const struct cfg_section static_section = {
    "static", sizeof(struct cfg_static), static_keys, CFG_NKEYS(static_keys), validate_static,
};

/* ------------------------------------------------------------------ */
/* status */

static const char *const status_formats[] = {
    [STATUS_JSON] = "json", [STATUS_TEXT] = "text", [STATUS_PROMETHEUS] = "prometheus", NULL,
};

static const struct cfg_key status_keys[] = {
    { .name = "format", .type = CT_ENUM, .offset = CFG_AT(cfg_status, format), .def = "json",
      .names = status_formats },
};

static const struct cfg_section status_section = {
    "status", sizeof(struct cfg_status), status_keys, CFG_NKEYS(status_keys), NULL,
};

/* ------------------------------------------------------------------ */
/* routes */

static const char *const method_names[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH", NULL,
};

static int check_ranges(struct cfg_ctx *ctx, const config_setting_t *group, const char *key,
                        const struct cfg_strings *list)
{
    const config_setting_t *at = config_setting_get_member(group, key);
    for (size_t i = 0; i < list->n; i++) {
        struct cidr c;
        char net[64];
        if (cidr_parse(list->v[i], &c) < 0)
            return cfg_fail(ctx, at,
                            "'%s': \"%s\" is not an address, a range such as 10.0.0.0/8, or \"all\"",
                            key, list->v[i]);
        /* Accepted as its network, as nginx does, but likely a typo. */
        if (cidr_has_host_bits(list->v[i])) {
            cidr_format(&c, net, sizeof net);
            cfg_warn(ctx, at, "'%s': low address bits of %s are meaningless (it means %s)",
                     key, list->v[i], net);
        }
    }
    return 0;
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

static int validate_route(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_route *r = obj;
    if (r->path == NULL)
        return cfg_fail(ctx, group, "route has no 'path'");
    if (r->path[0] != '/')
        return cfg_fail(ctx, group, "route path '%s' must start with '/'", r->path);
    int handlers = (r->ret != NULL) + (r->stat != NULL) + (r->status != NULL);
    if (handlers == 0)
        return cfg_fail(ctx, group, "route '%s' has no handler (add 'return', 'static' or 'status')",
                        r->path);
    if (handlers > 1)
        return cfg_fail(ctx, group, "route '%s' has more than one handler", r->path);
    if (check_methods(ctx, group, &r->methods) < 0 ||
        check_ranges(ctx, group, "allow", &r->allow) < 0 ||
        check_ranges(ctx, group, "deny", &r->deny) < 0)
        return -1;
    return 0;
}

static const struct cfg_key route_keys[] = {
    { .name = "path", .type = CT_STRING, .offset = CFG_AT(cfg_route, path) },
    { .name = "exact", .type = CT_BOOL, .offset = CFG_AT(cfg_route, exact), .def = "false" },
    { .name = "methods", .type = CT_STRINGS, .offset = CFG_AT(cfg_route, methods) },
    { .name = "allow", .type = CT_STRINGS, .offset = CFG_AT(cfg_route, allow) },
    { .name = "deny", .type = CT_STRINGS, .offset = CFG_AT(cfg_route, deny) },
    /* the handlers: exactly one */
    { .name = "return", .type = CT_GROUP, .offset = CFG_AT(cfg_route, ret),
      .sub = &return_section },
    { .name = "static", .type = CT_GROUP, .offset = CFG_AT(cfg_route, stat),
      .sub = &static_section },
    { .name = "status", .type = CT_GROUP, .offset = CFG_AT(cfg_route, status),
      .sub = &status_section },
};

const struct cfg_section http_route_section = {
    "route", sizeof(struct cfg_route), route_keys, CFG_NKEYS(route_keys), validate_route,
};

/* ------------------------------------------------------------------ */
/* error pages */

static int validate_error_page(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_error_page *e = obj;
    if (e->status == 0 || e->file == NULL)
        return cfg_fail(ctx, group, "an error page needs 'status' and 'file'");
    static const int produced[] = { 400, 403, 404, 405, 408, 413, 414, 416, 431, 500, 501, 505 };
    bool known = false;
    for (size_t i = 0; i < sizeof produced / sizeof produced[0]; i++)
        known = known || produced[i] == e->status;
    if (!known)
        return cfg_fail(ctx, group, "herd never answers %lld; error pages exist for 400, 403, "
                        "404, 405, 408, 413, 414, 416, 431, 500, 501 and 505",
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

const struct cfg_section http_error_page_section = {
    "error page", sizeof(struct cfg_error_page), error_page_keys, CFG_NKEYS(error_page_keys),
    validate_error_page,
};
