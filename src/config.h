/* The configuration: what herd.conf says, with every default filled in.
 *
 * Reading goes through one declarative table per section (config_engine.h):
 * the table type-checks and range-checks each key, rejects unknown keys,
 * applies defaults, prints the effective configuration (herd -T) and frees
 * it. The core (config.c) owns the top level and the generic server keys;
 * each protocol owns its own keys (the registry, proto.h, lists them), and
 * upstream.c the upstreams. */
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
struct tls_config;
struct upstream_config;

struct cfg_strings {
    char **v;
    size_t n;
};

struct cfg_protocol;

/* proxy_protocol = { from = [ CIDRs ]; timeout = "5s"; }: a connection
 * from one of these sources begins with a PROXY protocol header (v1 or v2)
 * naming the real client. */
struct cfg_proxy_protocol {
    struct cfg_where where;
    struct cfg_strings from;        /* cidr.h ranges, checked */
    int64_t timeout;                /* ms: the whole header must be in by then */
};

/* A server: the keys every protocol has, and the protocol's own. */
struct cfg_server {
    struct cfg_where where;
    struct cfg_strings listen;
    const struct cfg_protocol *protocol;    /* one of config_use_protocols() */
    bool reuseport;
    int64_t backlog;
    struct cfg_proxy_protocol *proxy_protocol;  /* NULL: no PROXY header expected */
    struct tls_config *tls;         /* transport_tls.h; NULL: plain */
    /* unix: listeners' file: mode ("0660"; NULL: 0666), owner and group
     * (NULL: the master's), resolved into the three after them. */
    char *unix_mode, *unix_owner, *unix_group;
    unsigned unix_mode_bits;
    long long unix_uid, unix_gid;   /* -1: unchanged */
    void *conf;                     /* the protocol's keys: a struct of its section */
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
    int64_t ticket_key_rotation;     /* ms: TLS session ticket keys' lifetime */
    int64_t limit_zone_size;         /* bytes of the shared limit zone (limit_zone.h) */
    struct upstream_config *upstreams;   /* upstream.h */
    size_t n_upstreams;
    struct cfg_server *servers;
    size_t n_servers;
    struct cfg_strings include;      /* patterns of files merged into the lists */
    bool embedded;                   /* read from the built-in default */
};

/* The protocols a server may speak and the configuration used when there is
 * no file: the registry's (proto_registry in proto.h), given once by main
 * before the first config_load. */
struct config_protocols {
    const struct cfg_protocol *const *list;     /* NULL-terminated; the default first */
    const char *embedded;
};
void config_use_protocols(const struct config_protocols *protocols);

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

/* The top level's table (config_engine.h), from which every section and key
 * can be reached. */
const struct cfg_section *config_section(void);

/* Every key name of every section, for the man page check: calls fn once per
 * key with the section name ("" for the top level). */
void config_each_key(void (*fn)(const char *section, const char *key, void *arg),
                     void *arg);

#endif
