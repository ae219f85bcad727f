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

struct conn;

enum conn_timer_kind {
    CONN_TIMER_NONE,
    CONN_TIMER_HEADER,      /* whole request head must arrive by then */
    CONN_TIMER_BODY,        /* between two reads of a body */
    CONN_TIMER_KEEPALIVE,   /* idle between requests */
    CONN_TIMER_IDLE,        /* echo: no traffic either way */
    CONN_TIMER_SEND,        /* between two writes that made progress */
    CONN_TIMER_GRACE,       /* draining: idle connection's last chance */
    CONN_TIMER_LINGER,      /* closing: waiting for the peer's FIN */
};

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

    void (*open)(struct conn *c);
    /* Bytes arrived in c->in, or c->eof became true. */
    void (*readable)(struct conn *c);
    /* The output queue drained completely. */
    void (*writable)(struct conn *c);
    /* A deadline the protocol armed passed (send and linger are handled by
     * the connection layer). */
    void (*timeout)(struct conn *c, enum conn_timer_kind kind);
    /* The worker is stopping gracefully. */
    void (*drain)(struct conn *c);
    void (*close)(struct conn *c);
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
};

/* Every protocol herd speaks (the default first) and the configuration used
 * without a file, for config_use_protocols(). */
extern const struct config_protocols proto_registry;

/* What the registry says about a server of the configuration. */
const struct proto *proto_for(const struct cfg_server *s);
bool proto_defer_accept(const struct cfg_server *s);
const char *proto_access_log(const struct cfg_server *s, int *line);
const char *proto_stats_label(const struct cfg_server *s);

#endif
