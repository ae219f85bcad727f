/* Upstreams: named pools of servers that HTTP routes and TCP servers will
 * forward to (DESIGN, "Reverse proxy (HTTP) and TCP proxy"). So far only
 * their configuration: the top-level `upstreams` list, read, checked and
 * printed by the configuration engine through the tables in upstream.c. No
 * handler uses an upstream yet. */
#ifndef HERD_UPSTREAM_H
#define HERD_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "config_engine.h"

enum upstream_balance {
    UPSTREAM_ROUND_ROBIN,       /* weighted, smooth */
    UPSTREAM_LEAST_CONN,
    UPSTREAM_HASH,              /* consistent, on hash_key */
    UPSTREAM_RANDOM_TWO,        /* the better of two picked at random */
};

#define UPSTREAM_ADDR_TEXT 120

/* Where to connect: an IP address and port, or a unix socket. */
struct upstream_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[UPSTREAM_ADDR_TEXT];  /* canonical: "1.2.3.4:80", "[::1]:80", "unix:/path" */
};

struct upstream_server_config {
    struct cfg_where where;
    char *address;                  /* as written */
    int64_t weight;
    bool backup;                    /* used only when no other server is up */
    struct upstream_addr addr;      /* address, parsed */
};

struct upstream_health_config {
    struct cfg_where where;
    char *path;                     /* what a probe asks for; NULL: connect only */
    int64_t interval;               /* ms between probes */
    int64_t timeout;                /* ms a probe may take */
    int64_t fails;                  /* failed probes in a row: down */
    int64_t passes;                 /* passed probes in a row: up again */
};

struct upstream_config {
    struct cfg_where where;
    char *name;
    struct upstream_server_config *servers;
    size_t n_servers;
    int balance;                    /* enum upstream_balance */
    char *hash_key;                 /* with UPSTREAM_HASH: a template such as "$remote_addr" */
    int64_t keepalive;              /* idle connections kept per worker */
    int64_t keepalive_timeout;      /* ms an idle one is kept, at most */
    int64_t max_connections;        /* per server and worker; 0: no limit */
    int64_t connect_timeout;        /* ms */
    int64_t max_fails;              /* within fail_timeout: down; 0: never */
    int64_t fail_timeout;           /* ms */
    struct upstream_health_config *health_check;    /* NULL: no active checks */
};

/* One element of the top-level `upstreams` list. */
extern const struct cfg_section upstream_section;


/* "IPv4:port", "[IPv6]:port" or "unix:/absolute/path". Returns 0, or -1
 * with the reason in *why. */
int upstream_addr_parse(const char *s, struct upstream_addr *out, const char **why);

/* A hash_key variable at p (just after its '$'): its index in vars[0..n),
 * or -1 when it is not one of them; *len is the length of its name. The
 * caller lists what it can supply for a request or connection. */
int upstream_key_var(const char *p, size_t *len, const char *const *vars, size_t n);

/* The upstream called name, or NULL. */
const struct upstream_config *upstream_find(const struct herd_config *cfg, const char *name);

#endif
