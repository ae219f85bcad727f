/* What conn.c and conn_open.c share, and nobody else uses. */
#ifndef HERD_CONN_PRIVATE_H
#define HERD_CONN_PRIVATE_H

#include "conn.h"

/* A loop callback's first step: remember the edges the loop reported. */
static inline struct conn *conn_note_events(struct loop_io *io, unsigned events)
{
    struct conn *c = (struct conn *)io;
    if (events & LOOP_READ)
        c->readable = true;
    if (events & LOOP_HANGUP)
        c->peer_hup = true;
    if (events & LOOP_WRITE)
        c->writable = true;
    return c;
}

/* conn.c: the loop's callbacks of an open connection. */
void conn_on_io(struct loop *loop, struct loop_io *io, unsigned events);
void conn_on_timer(struct timer *t);
void conn_on_defer(struct loop *loop, struct loop_defer *d);
/* conn.c: release the socket, deadlines, buffers and link of c; no callback. */
void conn_teardown(struct conn *c);

/* conn_open.c: the transport's handshake, if any, then ops->open. */
void conn_begin(struct conn *c);
/* conn_open.c: the transport's handshake did not finish in time: close. */
void conn_handshake_expired(struct conn *c);
/* conn_open.c: an outbound connection's connect deadline passed. */
void conn_connect_expired(struct conn *c);
/* conn_open.c: a closed outbound connection back to the pool. */
void conn_pool_put(struct conn_owner *o, struct conn *c);

/* conn_proxy_header.c: read c's PROXY header, then conn_begin (or close
 * c); the header's deadline passed. */
void conn_proxy_header_begin(struct conn *c, const struct conn_proxy_accept *pa);
void conn_proxy_header_expired(struct conn *c);

#endif
