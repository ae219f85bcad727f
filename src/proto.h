/* The protocol interface: what a worker calls on a connection. It is the C
 * form of asyncio's Protocol. A protocol reads from c->in, appends to the
 * output with conn_write(), and asks for a close with conn_close_*(); the
 * connection layer (conn.c) does all the socket I/O and never calls back into
 * a protocol while one of its callbacks is running. */
#ifndef HERD_PROTO_H
#define HERD_PROTO_H

#include "config.h"

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

extern const struct proto proto_echo;
extern const struct proto proto_http;

const struct proto *proto_for(enum cfg_protocol p);

#endif
