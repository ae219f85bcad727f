/* HTTP handlers: what answers a request once its route is chosen. A
 * handler is a table, not an enum: adding one (proxy) is a new file and a
 * line in handler.c's list, no if/else anywhere else.
 *
 *   start(req)  answer now (HTTP_ANSWERED) or later (HTTP_PENDING: the
 *               handler calls http_req_done() from another event, e.g. a
 *               timer or an upstream reply);
 *   body(req, p, n)  the request body, decoded (Content-Length or chunked),
 *               as it arrives, after start; n == 0 marks its end. Returns
 *               how many bytes it took: fewer than n pauses the body (the
 *               connection stops reading: back-pressure) until the handler
 *               calls http_req_body_resume(). NULL: the handler takes no
 *               body; a Content-Length body is discarded after the answer
 *               and a chunked one is read and checked before start (so that
 *               a body too large or malformed gets the only answer);
 *   abort(req)  the client went away (or the connection failed) before the
 *               answer was complete: drop what the exchange holds.
 *
 * A handler that may answer later, or takes a body, has abort: its
 * requests are kept off the stack (in a per-worker pool) for the whole
 * exchange, so req stays valid until http_req_done() or abort(). Handlers
 * without abort answer in start and their requests cost no copy. */
#ifndef HERD_HTTP_HANDLER_H
#define HERD_HTTP_HANDLER_H

#include <stdbool.h>
#include <stddef.h>

struct cfg_route;
struct cfg_section;
struct http_headers;
struct http_req;
struct mime_table;

enum http_start { HTTP_ANSWERED, HTTP_PENDING };

/* What building a route's handler may use, shared by the server's routes. */
struct http_handler_env {
    const struct mime_table *mime;
    /* The route's headers (http/headers.h), valid while build runs (the
     * routes are sorted afterwards): a handler may prebuild them. */
    const struct http_headers *headers;
    const struct cfg_route *route;      /* the route being built (its other keys) */
};

struct http_handler {
    const char *name;
    /* The handler's section of a route's configuration, or NULL when the
     * route is not this handler's. */
    const void *(*section)(const struct cfg_route *cr);
    /* Per-route state, built once per worker from the section; NULL with a
     * message in err on failure. */
    void *(*build)(const void *section, const struct http_handler_env *env, char *err,
                   size_t errcap);
    void (*free)(void *state);
    /* The handler that answers with this state, when a variant (chosen
     * once it is built: a `return` whose head is made per request) rather
     * than this one, so that neither pays a test per request. NULL: this
     * one. */
    const struct http_handler *(*answered_by)(const void *state);
    /* A route without `methods` takes every method (but CONNECT) when true,
     * else GET and HEAD. */
    bool any_method;

    enum http_start (*start)(struct http_req *req);
    size_t (*body)(struct http_req *req, const char *p, size_t n);
    void (*abort)(struct http_req *req);
};

/* A fixed response (struct http_fixed), also what error pages, 405s and
 * the server-wide OPTIONS and CONNECT answers are sent with. */
extern const struct http_handler http_handler_return;
extern const struct http_handler http_handler_static;
extern const struct http_handler http_handler_status;
extern const struct http_handler http_handler_proxy;

/* Their sections of a route's configuration (the route keys "return",
 * "static" and "status"), each defined next to its handler's code. */
extern const struct cfg_section http_return_config;
extern const struct cfg_section http_static_config;
extern const struct cfg_section http_status_config;
extern const struct cfg_section http_proxy_config;

/* The handler whose section the route configures (the first), or NULL. */
const struct http_handler *http_handler_for(const struct cfg_route *cr);
/* How many handlers the route configures (exactly one is valid). */
size_t http_handlers_configured(const struct cfg_route *cr);

#endif
