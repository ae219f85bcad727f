/* The protocol interface: what a worker calls on a connection. It is the C
 * form of asyncio's Protocol. A protocol reads from c->in, appends to the
 * output with conn_write(), and asks for a close with conn_close_*(); the
 * connection layer (conn.c) does all the socket I/O and never calls back into
 * a protocol while one of its callbacks is running.
 *
 * The registry (proto.c) lists the protocols: `protocol = "name"` in a
 * server picks one, with its callbacks, its configuration keys and its
 * listener options. */
#ifndef HERD_PROTO_H
#define HERD_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "config_engine.h"
#include "conn.h"

struct proto {
    const char *name;
    /* Per-server state built once per worker (prebuilt responses, routes).
     * log_fd is the server's open access log or -1 (the server owns it).
     * Returns NULL with a message in err on failure. */
    void *(*server_new)(const struct cfg_server *cfg, int log_fd, char *err, size_t errcap);
    /* Flushes what the server buffers (logs) and frees it. */
    void (*server_free)(void *server);
    /* Once a second: flush buffered logs. */
    void (*tick)(void *server, int64_t now_ms);
    /* USR1: continue the access log in a reopened file (takes fd). */
    void (*reopen_log)(void *server, int fd);
    /* On each connection (conn.h). Deadline kinds from CONN_TIMER_PROTO
     * up are the protocol's own; send and linger are the connection
     * layer's. */
    struct conn_ops conn;
};

/* A server as a worker runs it: c->srv of its connections. */
struct server_rt {
    const struct cfg_server *cfg;
    const struct proto *proto;
    void *data;                 /* from proto->server_new */
    size_t index;               /* in cfg->servers: its counters in the stats page */
};

/* A protocol as the registry lists it (proto.c): everything the
 * configuration core, the master and the workers need to know of it,
 * without naming it. Each protocol defines its own next to its code. */
struct proto_module {
    struct cfg_protocol config;     /* first: its name, its keys, its address-sharing rule */
    const struct proto *proto;      /* what a worker calls on its connections */
    bool defer_accept;              /* listener option TCP_DEFER_ACCEPT: the client speaks first */
    /* The access log the master opens for server s (NULL: none) and the
     * line that sets it, for messages. NULL: the protocol writes none. */
    const char *(*access_log)(const struct cfg_server *s, int *line);
    /* The name s's counters go under on the status page (NULL: none).
     * NULL: the protocol's servers are not counted by name. */
    const char *(*stats_label)(const struct cfg_server *s);
    /* The names a TLS client may ask for by SNI (the same rules as the
     * protocol's own choice of server). NULL: the protocol has none. */
    const struct cfg_strings *(*server_names)(const struct cfg_server *s);
};

/* Every protocol herd speaks (the default first) and the configuration used
 * without a file, for config_use_protocols(). */
extern const struct config_protocols proto_registry;

/* What the registry says about a server of the configuration. */
const struct proto *proto_for(const struct cfg_server *s);
bool proto_defer_accept(const struct cfg_server *s);
const char *proto_access_log(const struct cfg_server *s, int *line);
const char *proto_stats_label(const struct cfg_server *s);
const struct cfg_strings *proto_server_names(const struct cfg_server *s);

#endif
