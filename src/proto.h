/* The protocol interface: what a worker calls on a connection. It is the C
 * form of asyncio's Protocol. A protocol reads from c->in, appends to the
 * output with conn_write(), and asks for a close with conn_close_*(); the
 * connection layer (conn.c) does all the socket I/O and never calls back into
 * a protocol while one of its callbacks is running. */
#ifndef HERD_PROTO_H
#define HERD_PROTO_H

#include "config.h"
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

extern const struct proto proto_echo;
extern const struct proto proto_http;

const struct proto *proto_for(enum cfg_protocol p);

#endif
