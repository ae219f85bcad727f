/* Request limits per key: limit = { rate; burst; key; status; connections; }
 * on a route, or on a server for its routes that set none.
 *
 * Like nginx's limit_req with `nodelay`: a key (a template, default
 * "$remote_addr") may make burst + 1 requests at once and then one per
 * rate interval; a request over that is refused at once (never delayed)
 * with `status` (429, or 503) and Retry-After (whole seconds until it would
 * be admitted, at least 1). `connections` (like limit_conn) caps the
 * requests of a key in progress at once on the route: from the route's
 * choice until the exchange is answered (its access-log line). Both are
 * counted across workers in the limit zone (limit_zone.h).
 *
 * A limit's counts belong to its identity: the route's path, the server's
 * first name and the limit's rate, burst and key; a reload that keeps
 * them keeps the counts (when limit_zone_size stays the same).
 *
 * Tested by tests/unit/check_http_limit.c and tests/integration/test_limit.py. */
#ifndef HERD_HTTP_LIMIT_H
#define HERD_HTTP_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_engine.h"
#include "http/template.h"
#include "limit_zone.h"

struct cfg_limit {
    struct cfg_where where;
    char *rate;                      /* "Nr/s" or "Nr/m"; NULL: no rate */
    int64_t burst;
    char *key;                       /* a template */
    int64_t status;                  /* 429 or 503 */
    int64_t connections;             /* in progress per key; 0: no cap */
    int64_t interval_ns;             /* from rate, by the check; 0: none */
};

/* The `limit` group of a route, and of a server. */
extern const struct cfg_section http_limit_config;
extern const struct cfg_section http_server_limit_config;

/* "10r/s" or "30r/m" (N from 1 to 1000000): the ns between two requests.
 * 0, or -1 when malformed. */
int http_limit_parse_rate(const char *s, int64_t *interval_ns);

struct http_limit {
    struct limit_rule rule;
    struct http_template key;
    uint64_t scope;                  /* the limit's identity, hashed */
    int status;
};

/* scope_a, scope_b: what names the limit's place (the route's path, the
 * server's name); either may be NULL. */
struct http_limit *http_limit_build(const struct cfg_limit *cfg, const char *scope_a,
                                    const char *scope_b, char *err, size_t errcap);
void http_limit_free(struct http_limit *l);

struct http_req;

/* The key of req under l in zone z (the rendered template, hashed; never 0). */
uint64_t http_limit_key(const struct http_limit *l, struct limit_zone *z,
                        const struct http_req *req);
/* Seconds for Retry-After from a wait in ns: rounded up, at least 1. */
int64_t http_limit_retry_after(int64_t wait_ns);

/* Admit req under l: true (a request counted in flight is noted in req,
 * for http_limit_release), or false with the refusal logged and req
 * set to be answered by http_handler_limited. */
bool http_limit_admit(const struct http_limit *l, struct http_req *req);
/* The exchange is over: give back what it held (nothing most often). */
void http_limit_release(const struct http_req *req);

/* Answers a request a limit refused (req->conf: the limit). */
struct http_handler;
extern const struct http_handler http_handler_limited;

#endif
