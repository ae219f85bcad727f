/* Routes of one server, tried as nginx does: the exact route of the path,
 * else the first regex route (in file order) whose pattern matches, else
 * the longest prefix. Each route carries its
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
struct http_captures;
struct http_handler;
struct http_limit;
struct http_regex;
struct http_regex_scratch;
struct mime_table;

struct http_route {
    const char *path;               /* a regex route's: its pattern */
    size_t len;                     /* a regex route's: 0 */
    bool exact;
    struct http_regex *re;          /* a regex route's compiled pattern, else NULL */
    size_t order;                   /* its place among the server's routes */
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
    /* The exact routes, then the regex routes in file order, then the
     * prefix routes, longest first: the order they are tried in. */
    struct http_route *v;
    size_t n, n_exact, n_regex;
    /* For the regex routes: PCRE2's match data (sized to the pattern with
     * the most groups) and where a match leaves its captures, made once
     * here so that a request allocates nothing. */
    struct http_regex_scratch *scratch;
    struct http_captures *caps;
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
/* The route for path[0..len) (decoded and normalised), or NULL. caps (may
 * be NULL) is set to the captures of a regex route's match, else NULL:
 * they point into path and are overwritten by the next call, so whatever
 * outlives this request's callback copies them (kept.c does). */
const struct http_route *http_route_find(const struct http_routes *rt, const char *path,
                                         size_t len, const struct http_captures **caps);
/* deny wins over allow; an empty allow list allows everyone. */
bool http_route_permits(const struct http_route *r, const struct sockaddr *peer);
static inline bool http_route_allows_method(const struct http_route *r, enum http_method m)
{
    return (r->methods & (1u << m)) != 0;
}

#endif
