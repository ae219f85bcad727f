/* Routes of one server: longest prefix wins; an exact route matches only its
 * own path and beats a prefix of the same length. Each route carries its
 * handler (from the handler table, with the state it built for the route),
 * the methods it allows and who may use it. */
#ifndef HERD_HTTP_ROUTE_H
#define HERD_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cidr.h"
#include "http/config.h"
#include "http/headers.h"
#include "http/request.h"
#include "http/response.h"

struct http_auth;
struct http_handler;
struct http_limit;
struct mime_table;

struct http_route {
    const char *path;
    size_t len;
    bool exact;
    const struct http_handler *handler;
    void *state;                    /* what handler->build made of the route */
    uint32_t methods;               /* bit per enum http_method */
    struct http_fixed not_allowed;  /* 405 with its Allow header */
    struct cidr *allow, *deny;
    size_t n_allow, n_deny;
    bool no_log;                    /* access_log = "off" */
    struct http_headers headers;    /* the server's and the route's, merged */
    struct http_auth *auth;         /* basic authentication; NULL: none */
    struct http_limit *limit;       /* the route's, or the server's; NULL: none */
    bool own_limit;                 /* limit is the route's (freed with it) */
};

struct http_routes {
    struct http_route *v;           /* most specific first */
    size_t n;
    /* Requests that name no resource, answered for the server as a whole:
     * OPTIONS * (200) and CONNECT (405, herd is no forward proxy), both
     * with the Allow header of http_routes_methods(). */
    struct http_fixed options;
    struct http_fixed connect;
    struct http_limit *limit;       /* the server's, for routes without one */
};

/* error_405 is the body to use for 405 answers (the server's error page). */
int http_routes_build(struct http_routes *rt, const struct cfg_http *cfg,
                      const struct mime_table *mime, const struct http_fixed *error_405,
                      char *err, size_t errcap);
void http_routes_free(struct http_routes *rt);
/* The methods the server serves: those its routes take (a route without
 * `methods` takes all), OPTIONS (for "OPTIONS *"), never CONNECT. */
uint32_t http_routes_methods(const struct http_routes *rt);
const struct http_route *http_route_find(const struct http_routes *rt, const char *path,
                                         size_t len);
/* deny wins over allow; an empty allow list allows everyone. */
bool http_route_permits(const struct http_route *r, const struct sockaddr *peer);
static inline bool http_route_allows_method(const struct http_route *r, enum http_method m)
{
    return (r->methods & (1u << m)) != 0;
}

#endif
