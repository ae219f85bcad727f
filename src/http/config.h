/* The configuration of HTTP servers: the keys of protocol "http" in a
 * server's group, its routes, their handlers (return, static, status) and
 * error pages, as structs and as tables for the configuration engine
 * (config_engine.h), which reads, checks, prints and frees them. The tables
 * and HTTP's entry in the protocol registry are in http/config.c, except
 * each handler's section, which is next to the handler (handler_*.c). */
#ifndef HERD_HTTP_CONFIG_H
#define HERD_HTTP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

/* Not "config.h": from this directory that name is this file. The engine's
 * header brings src/config.h. */
#include "config_engine.h"

struct cfg_return {
    struct cfg_where where;
    int64_t status;
    char *type;
    char *body;
    char *location;                  /* a template (http/template.h) */
};

struct cfg_cache {
    struct cfg_where where;
    int64_t valid;                   /* ms between stat() checks of a cached file */
    int64_t max_file;                /* bytes: larger files are not cached */
    int64_t size;                    /* bytes: the whole cache, per worker */
};

struct cfg_static {
    struct cfg_where where;
    char *root;
    struct cfg_strings index;
    bool autoindex;
    bool hidden;                     /* serve names starting with '.' */
    char *expires;                   /* "off", "epoch", "max" or a duration */
    int64_t expires_s;               /* it in seconds, or HTTP_EXPIRES_* */
    struct cfg_cache *cache;         /* always set after validation */
    struct cfg_strings precompressed;   /* "br", "gz": siblings served, in this order */
    char *fallback;                  /* path served for a missing one, or NULL */
};

/* A route's `compress` group: gzip on the fly (static_gzip.c). */
struct cfg_compress {
    struct cfg_where where;
    struct cfg_strings types;        /* media types; "text/..." (a star) for a major type */
    int64_t min_size;                /* bytes: smaller files are sent as they are */
    int64_t level;                   /* zlib's 1..9 */
};

enum cfg_status_format { STATUS_JSON, STATUS_TEXT, STATUS_PROMETHEUS };

struct cfg_status {
    struct cfg_where where;
    int format;                      /* enum cfg_status_format */
};

struct upstream_config;

/* A route's `proxy` group (handler_proxy.c). */
struct cfg_proxy {
    struct cfg_where where;
    char *upstream;                  /* the name of an upstream */
    int64_t connect_timeout;         /* ms; 0: the upstream's */
    int64_t send_timeout;            /* ms between two writes to the upstream */
    int64_t read_timeout;            /* ms the upstream may stay silent */
    int64_t retries;                 /* attempts after the first */
    char *host;                      /* Host sent upstream; NULL: the client's */
    bool forwarded;                  /* add an RFC 7239 Forwarded element */
    struct cfg_strings headers;      /* name, value, ...: set on the request */
    bool websocket;                  /* tunnel Upgrade: websocket after a 101 */
    int64_t websocket_timeout;       /* ms a tunnel may carry no byte */
    bool buffering;                  /* read the whole response before sending it */
    int64_t buffer_size;             /* bytes: the most buffering holds */
    const struct upstream_config *up;   /* `upstream`, found by the check */
};

struct cfg_auth;
struct cfg_real_ip;
struct cfg_limit;

struct cfg_route {
    struct cfg_where where;
    char *path;
    char *regex;                     /* PCRE2 pattern (http/regex.h), instead of path */
    bool exact;
    struct cfg_strings methods;      /* empty: any method */
    struct cfg_strings allow;        /* CIDR lists; empty: everyone */
    struct cfg_strings deny;
    char *access_log;                /* "off", or NULL: the server's log */
    bool log_not_found;              /* a static 404 logged; unset: the server's */
    struct cfg_strings headers;      /* name, value, ...: added to the server's */
    struct cfg_auth *auth;           /* basic authentication (http/auth.h); NULL: none */
    struct cfg_limit *limit;         /* request limits (http/limit.h); NULL: the server's */
    /* exactly one handler */
    struct cfg_return *ret;
    struct cfg_static *stat;
    struct cfg_status *status;
    struct cfg_proxy *proxy;
    struct cfg_compress *compress;   /* gzip on the fly (static routes), or NULL */
};

struct cfg_error_page {
    struct cfg_where where;
    int64_t status;
    char *file;
};

/* The HTTP keys of a server (its cfg_server's conf). */
struct cfg_http {
    struct cfg_where where;
    int64_t keepalive_timeout;       /* ms */
    int64_t header_timeout;          /* ms */
    int64_t body_timeout;            /* ms */
    int64_t send_timeout;            /* ms */
    int64_t keepalive_requests;
    int64_t max_target;              /* bytes */
    int64_t max_header_size;         /* bytes */
    int64_t max_headers;
    int64_t max_body;                /* bytes */
    struct cfg_strings server_names; /* empty: any host */
    struct cfg_strings headers;      /* name, value, ...: on 2xx and 3xx answers */
    char *access_log;                /* path, or NULL for none */
    int access_log_line;             /* where it is set, for messages */
    char *access_log_format;         /* "combined", "common" or a template */
    bool log_not_found;              /* static 404s in the error log (routes' default) */
    struct cfg_error_page *error_pages;
    size_t n_error_pages;
    struct cfg_route *routes;
    size_t n_routes;
    struct cfg_real_ip *real_ip;     /* http/realip.h; NULL: none */
    struct cfg_limit *limit;         /* for routes without one (http/limit.h); NULL: none */
};

/* The HTTP keys of a server whose protocol is "http". */
static inline const struct cfg_http *http_config(const struct cfg_server *s)
{
    return s->conf;
}

/* What the proxy routes of server s name must exist: each `upstream` is
 * found (an unknown one is an error at its FILE:LINE) and its hash_key
 * uses only variables a request has. 0, or -1 after cfg_fail().
 * (handler_proxy.c) */
int http_proxy_check(struct cfg_ctx *ctx, const config_setting_t *group,
                     const struct herd_config *cfg, struct cfg_server *s);

struct proto;
struct proto_module;

/* HTTP as the protocol registry (proto.c) lists it: its keys, its callbacks
 * (proto_http, in http/server.c) and what the master needs of it. */
extern const struct proto_module http_module;
extern const struct proto proto_http;

#endif
