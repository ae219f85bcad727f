/* The configuration: what herd.conf says, with every default filled in.
 *
 * Reading goes through one declarative table per section (config.c): the
 * table type-checks and range-checks each key, rejects unknown keys, applies
 * defaults, prints the effective configuration (herd -T) and frees it. */
#ifndef HERD_CONFIG_H
#define HERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_WORKERS 128

/* Where a section came from, for FILE:LINE messages. */
struct cfg_where {
    char *file;
    int line;
};

struct cfg_section;
struct upstream_config;

struct cfg_strings {
    char **v;
    size_t n;
};

enum cfg_protocol { PROTO_HTTP, PROTO_ECHO };

struct cfg_route;
struct cfg_error_page;

struct cfg_server {
    struct cfg_where where;
    struct cfg_strings listen;
    int protocol;                    /* enum cfg_protocol */
    bool reuseport;
    int64_t backlog;
    /* echo */
    int64_t idle_timeout;            /* ms */
    /* http */
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
    char *access_log;                /* path, or NULL for none */
    int access_log_line;             /* where it is set, for messages */
    char *access_log_format;         /* "combined", "common" or a template */
    struct cfg_error_page *error_pages;
    size_t n_error_pages;
    struct cfg_route *routes;
    size_t n_routes;
};

struct herd_config {
    struct cfg_where where;
    int64_t workers;                 /* 0 means "auto" */
    char *user;
    char *group;                     /* NULL: the user's primary group */
    char *pid_file;
    char *error_log;                 /* path or "stderr" */
    int error_log_line;              /* where it is set (0: the default) */
    int log_level;                   /* enum log_level */
    int64_t worker_connections;
    int64_t shutdown_timeout;        /* ms */
    struct upstream_config *upstreams;   /* upstream.h */
    size_t n_upstreams;
    struct cfg_server *servers;
    size_t n_servers;
    bool embedded;                   /* read from the built-in default */
};

/* Read and validate a file (path) or, when path is NULL, the embedded
 * default. On error returns NULL and writes "FILE:LINE: message" into err. */
struct herd_config *config_load(const char *path, char *err, size_t errcap);
void config_free(struct herd_config *cfg);

/* Print the effective configuration in libconfig syntax. Returns 0 or -1. */
int config_print(const struct herd_config *cfg, FILE *out);

/* The file to read: `given` (-c) made absolute, else the installed default
 * when it exists, else NULL (the embedded default). *out is malloc'ed.
 * Returns 0, or -1 when out of memory. */
int config_choose_path(const char *given, char **out);
/* The installed default: $(sysconfdir)/herd/herd.conf. */
const char *config_default_path(void);

/* Worker count with "auto" resolved to the online CPUs. */
int config_workers(const struct herd_config *cfg);

/* The text of the embedded default configuration. */
extern const char config_embedded_text[];

/* The top level's table (config_engine.h), from which every section and key
 * can be reached. */
const struct cfg_section *config_section(void);

/* Every key name of every section, for the man page check: calls fn once per
 * key with the section name ("" for the top level). */
void config_each_key(void (*fn)(const char *section, const char *key, void *arg),
                     void *arg);

#endif
