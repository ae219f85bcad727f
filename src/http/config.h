/* The configuration of HTTP servers: routes, their handlers (return,
 * static, status) and error pages, as structs and as tables for the
 * configuration engine (config_engine.h), which reads, checks, prints and
 * frees them. The tables are in http/config.c. */
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
    char *location;
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
    struct cfg_cache *cache;         /* always set after validation */
};

enum cfg_status_format { STATUS_JSON, STATUS_TEXT, STATUS_PROMETHEUS };

struct cfg_status {
    struct cfg_where where;
    int format;                      /* enum cfg_status_format */
};

struct cfg_route {
    struct cfg_where where;
    char *path;
    bool exact;
    struct cfg_strings methods;      /* empty: any method */
    struct cfg_strings allow;        /* CIDR lists; empty: everyone */
    struct cfg_strings deny;
    /* exactly one handler */
    struct cfg_return *ret;
    struct cfg_static *stat;
    struct cfg_status *status;
};

struct cfg_error_page {
    struct cfg_where where;
    int64_t status;
    char *file;
};

/* The element of a server's `routes` and `error_pages` lists. */
extern const struct cfg_section http_route_section;
extern const struct cfg_section http_error_page_section;

#endif
