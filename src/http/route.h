/* Routes of one server: longest prefix wins; an exact route matches only its
 * own path and beats a prefix of the same length. */
#ifndef HERD_HTTP_ROUTE_H
#define HERD_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "http/response.h"

enum http_handler { HTTP_HANDLER_RETURN };

struct http_route {
    const char *path;
    size_t len;
    bool exact;
    enum http_handler handler;
    struct http_fixed ret;          /* HTTP_HANDLER_RETURN */
};

struct http_routes {
    struct http_route *v;           /* most specific first */
    size_t n;
};

int http_routes_build(struct http_routes *rt, const struct cfg_server *cfg);
void http_routes_free(struct http_routes *rt);
const struct http_route *http_route_find(const struct http_routes *rt, const char *path,
                                         size_t len);

#endif
