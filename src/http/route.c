#include "http/route.h"

#include <stdlib.h>
#include <string.h>

static int more_specific_first(const void *a, const void *b)
{
    const struct http_route *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return (int)y->exact - (int)x->exact;
}

int http_routes_build(struct http_routes *rt, const struct cfg_server *cfg)
{
    rt->n = 0;
    rt->v = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *rt->v);
    if (rt->v == NULL)
        return -1;
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct cfg_route *cr = &cfg->routes[i];
        struct http_route *r = &rt->v[rt->n];
        r->path = cr->path;
        r->len = strlen(cr->path);
        r->exact = cr->exact;
        r->handler = HTTP_HANDLER_RETURN;
        const struct cfg_return *ret = cr->ret;
        if (http_fixed_build(&r->ret, (int)ret->status, ret->type, ret->body,
                             ret->body ? strlen(ret->body) : 0, ret->location) < 0)
            return -1;
        rt->n++;
    }
    qsort(rt->v, rt->n, sizeof *rt->v, more_specific_first);
    return 0;
}

void http_routes_free(struct http_routes *rt)
{
    for (size_t i = 0; i < rt->n; i++)
        http_fixed_free(&rt->v[i].ret);
    free(rt->v);
    rt->v = NULL;
    rt->n = 0;
}

const struct http_route *http_route_find(const struct http_routes *rt, const char *path,
                                         size_t len)
{
    for (size_t i = 0; i < rt->n; i++) {
        const struct http_route *r = &rt->v[i];
        if (r->exact ? (len == r->len && memcmp(path, r->path, len) == 0)
                     : (len >= r->len && memcmp(path, r->path, r->len) == 0))
            return r;
    }
    return NULL;
}
