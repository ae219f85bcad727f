/* Tested by tests/unit/check_http_route.c. */
#include "http/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/auth.h"
#include "http/handler.h"
#include "http/limit.h"
#include "http/regex.h"
#include "http/template.h"

/* Every handler a route may configure. */
static const struct http_handler *const handlers[] = {
    &http_handler_return, &http_handler_static, &http_handler_status, &http_handler_proxy,
};

size_t http_handlers_configured(const struct cfg_route *cr)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        n += handlers[i]->section(cr) != NULL;
    return n;
}

const struct http_handler *http_handler_for(const struct cfg_route *cr)
{
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (handlers[i]->section(cr) != NULL)
            return handlers[i];
    return NULL;
}

/* 0 exact, 1 regex, 2 prefix: the order the kinds are tried in. */
static int kind(const struct http_route *r)
{
    return r->exact ? 0 : r->re ? 1 : 2;
}

/* The order of http_routes.v; regex routes keep the file's (qsort is not
 * stable, hence the explicit order). */
static int lookup_order(const void *a, const void *b)
{
    const struct http_route *x = a, *y = b;
    if (kind(x) != kind(y))
        return kind(x) - kind(y);
    if (!x->re && x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static int build_ranges(const struct cfg_strings *list, struct cidr **out, size_t *n)
{
    *n = 0;
    *out = calloc(list->n ? list->n : 1, sizeof **out);
    if (*out == NULL)
        return -1;
    for (size_t i = 0; i < list->n; i++)
        if (cidr_parse(list->v[i], &(*out)[(*n)++]) < 0)
            return -1;      /* validated at load; cannot happen */
    return 0;
}

/* The methods a route takes: as configured, else what its handler takes by
 * default (anything for a fixed reply, GET and HEAD for static files and
 * status pages). GET always brings HEAD. Never CONNECT: herd makes no
 * tunnels, so a CONNECT that reaches a route (one with a path as its
 * target) gets 405 like any method it refuses. */
static uint32_t route_methods(const struct cfg_route *cr, const struct http_handler *h)
{
    const uint32_t connect = 1u << HTTP_CONNECT;
    uint32_t m = 0;
    for (size_t i = 0; i < cr->methods.n; i++)
        m |= 1u << http_method_from(cr->methods.v[i], strlen(cr->methods.v[i]));
    if (m == 0 && !h->any_method)
        m = 1u << HTTP_GET;
    if (m & (1u << HTTP_GET))
        m |= 1u << HTTP_HEAD;
    if (m == 0)
        return ((1u << HTTP_METHOD_UNKNOWN) - 1) & ~connect;
    if (m == connect)
        return 1u << HTTP_METHOD_UNKNOWN;   /* no method: never a request's */
    return m & ~connect;
}

/* "Allow: GET, HEAD\r\n" for a set of methods. */
static void allow_line(char *out, size_t cap, uint32_t methods)
{
    size_t n = (size_t)snprintf(out, cap, "Allow:");
    const char *sep = " ";
    for (int m = 0; m < HTTP_METHOD_UNKNOWN && n < cap; m++)
        if (methods & (1u << m)) {
            n += (size_t)snprintf(out + n, cap - n, "%s%s", sep,
                                  http_method_name((enum http_method)m));
            sep = ", ";
        }
    if (n < cap)
        snprintf(out + n, cap - n, "\r\n");
}

static int build_not_allowed(struct http_route *r, const struct http_fixed *error_405)
{
    char allow[160];
    allow_line(allow, sizeof allow, r->methods);
    return http_fixed_build(&r->not_allowed, 405, "text/html", error_405->body,
                            error_405->body_len, allow);
}

uint32_t http_routes_methods(const struct http_routes *rt)
{
    uint32_t m = 1u << HTTP_OPTIONS;
    for (size_t i = 0; i < rt->n; i++)
        m |= rt->v[i].methods;
    return m;
}

static int build_server_wide(struct http_routes *rt, const struct http_fixed *error_405)
{
    char allow[160];
    allow_line(allow, sizeof allow, http_routes_methods(rt));
    if (http_fixed_build(&rt->options, 200, NULL, NULL, 0, allow) < 0 ||
        http_fixed_build(&rt->connect, 405, "text/html", error_405->body, error_405->body_len,
                         allow) < 0)
        return -1;
    return 0;
}

static int build_route(struct http_route *r, const struct cfg_route *cr,
                       const struct cfg_strings *server_headers,
                       const struct http_handler_env *server_env,
                       const struct http_fixed *error_405, char *err, size_t errcap)
{
    struct http_handler_env env = *server_env;
    env.headers = &r->headers;
    r->path = cr->regex ? cr->regex : cr->path;
    r->len = cr->regex ? 0 : strlen(cr->path);
    r->exact = cr->exact;
    if (cr->regex && (r->re = http_regex_compile(cr->regex, true, err, errcap)) == NULL)
        return -1;          /* checked at load: only memory can fail */
    r->no_log = cr->access_log != NULL;     /* "off", the only value allowed */
    r->handler = http_handler_for(cr);
    if (r->handler == NULL) {       /* validated at load; cannot happen */
        snprintf(err, errcap, "route %s has no handler", r->path);
        return -1;
    }
    r->methods = route_methods(cr, r->handler);
    if (http_headers_build(&r->headers, server_headers, &cr->headers, err, errcap) < 0)
        return -1;
    if (cr->auth && (r->auth = http_auth_build(cr->auth, err, errcap)) == NULL)
        return -1;
    if (build_ranges(&cr->allow, &r->allow, &r->n_allow) < 0 ||
        build_ranges(&cr->deny, &r->deny, &r->n_deny) < 0 ||
        build_not_allowed(r, error_405) < 0) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    env.route = cr;
    r->state = r->handler->build(r->handler->section(cr), &env, err, errcap);
    if (r->state && r->handler->answered_by)
        r->handler = r->handler->answered_by(r->state);
    return r->state ? 0 : -1;
}

/* Each route's own limit, counted under its path (a regex route's "~"
 * and pattern) and the server's first name; routes without one share the
 * server's. Before the routes are sorted: rt->v[i] is still
 * cfg->routes[i]. */
static int build_limits(struct http_routes *rt, const struct cfg_http *cfg, char *err,
                        size_t errcap)
{
    const char *name = cfg->server_names.n ? cfg->server_names.v[0] : NULL;
    if (cfg->limit && (rt->limit = http_limit_build(cfg->limit, NULL, name, err, errcap)) == NULL)
        return -1;
    for (size_t i = 0; i < rt->n; i++) {
        const struct cfg_limit *own = cfg->routes[i].limit;
        struct http_route *r = &rt->v[i];
        r->own_limit = own != NULL;
        if (own == NULL) {
            r->limit = rt->limit;
            continue;
        }
        char *scope = NULL;
        const struct cfg_route *c = &cfg->routes[i];
        if (c->regex && asprintf(&scope, "~%s", c->regex) < 0) {
            snprintf(err, errcap, "out of memory");
            return -1;
        }
        r->limit = http_limit_build(own, scope ? scope : c->path, name, err, errcap);
        free(scope);
        if (r->limit == NULL)
            return -1;
    }
    return 0;
}

/* Count the kinds; the regex routes share one match data block. */
static int build_regex_scratch(struct http_routes *rt)
{
    unsigned groups = 0;
    rt->n_exact = rt->n_regex = 0;
    for (size_t i = 0; i < rt->n; i++) {
        const struct http_route *r = &rt->v[i];
        rt->n_exact += r->exact;
        if (r->re) {
            rt->n_regex++;
            if (http_regex_groups(r->re) > groups)
                groups = http_regex_groups(r->re);
        }
    }
    if (rt->n_regex == 0)
        return 0;
    rt->scratch = http_regex_scratch_new(groups);
    rt->caps = calloc(1, sizeof *rt->caps);
    return rt->scratch && rt->caps ? 0 : -1;
}

int http_routes_build(struct http_routes *rt, const struct cfg_http *cfg,
                      const struct mime_table *mime, const struct http_fixed *error_405,
                      char *err, size_t errcap)
{
    const struct http_handler_env env = { .mime = mime };
    rt->n = 0;
    rt->limit = NULL;
    rt->n = rt->n_exact = rt->n_regex = 0;
    rt->scratch = NULL;
    rt->caps = NULL;
    memset(&rt->options, 0, sizeof rt->options);
    memset(&rt->connect, 0, sizeof rt->connect);
    rt->v = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *rt->v);
    if (rt->v == NULL) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        /* Counted first so that a half-built route is freed too. */
        rt->n++;
        rt->v[i].order = i;
        if (build_route(&rt->v[i], &cfg->routes[i], &cfg->headers, &env, error_405, err,
                        errcap) < 0)
            return -1;
    }
    if (build_limits(rt, cfg, err, errcap) < 0)
        return -1;
    qsort(rt->v, rt->n, sizeof *rt->v, lookup_order);
    if (build_regex_scratch(rt) < 0 || build_server_wide(rt, error_405) < 0) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    return 0;
}

void http_routes_free(struct http_routes *rt)
{
    for (size_t i = 0; i < rt->n; i++) {
        struct http_route *r = &rt->v[i];
        if (r->handler && r->state)
            r->handler->free(r->state);
        http_fixed_free(&r->not_allowed);
        http_headers_free(&r->headers);
        http_auth_free(r->auth);
        if (r->own_limit)
            http_limit_free(r->limit);
        http_regex_free(r->re);
        free(r->allow);
        free(r->deny);
    }
    free(rt->v);
    http_limit_free(rt->limit);
    rt->limit = NULL;
    http_regex_scratch_free(rt->scratch);
    free(rt->caps);
    http_fixed_free(&rt->options);
    http_fixed_free(&rt->connect);
    rt->v = NULL;
    rt->scratch = NULL;
    rt->caps = NULL;
    rt->n = rt->n_exact = rt->n_regex = 0;
}

const struct http_route *http_route_find(const struct http_routes *rt, const char *path,
                                         size_t len, const struct http_captures **caps)
{
    size_t i = 0;
    if (caps)
        *caps = NULL;
    for (; i < rt->n_exact; i++) {
        const struct http_route *r = &rt->v[i];
        if (len == r->len && memcmp(path, r->path, len) == 0)
            return r;
    }
    for (; i < rt->n_exact + rt->n_regex; i++) {
        const struct http_route *r = &rt->v[i];
        if (http_regex_match(r->re, rt->scratch, path, len, rt->caps)) {
            if (caps)
                *caps = rt->caps;
            return r;
        }
    }
    for (; i < rt->n; i++) {
        const struct http_route *r = &rt->v[i];
        if (len >= r->len && memcmp(path, r->path, r->len) == 0)
            return r;
    }
    return NULL;
}

bool http_route_permits(const struct http_route *r, const struct sockaddr *peer)
{
    for (size_t i = 0; i < r->n_deny; i++)
        if (cidr_match(&r->deny[i], peer))
            return false;
    if (r->n_allow == 0)
        return true;
    for (size_t i = 0; i < r->n_allow; i++)
        if (cidr_match(&r->allow[i], peer))
            return true;
    return false;
}
