/* What conn.c and conn_open.c share, and nobody else uses. */
#ifndef HERD_CONN_PRIVATE_H
#define HERD_CONN_PRIVATE_H

#include <errno.h>
#include <string.h>
#include <sys/types.h>

#include "conn.h"
#include "log.h"
#include "stats.h"

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

/* A buffered read of at least this much marks a flow as bulk (the whole
 * input buffer); a splice of less than CONN_SPLICE_SMALL ends it. */
#define CONN_SPLICE_BULK (16 * 1024)
#define CONN_SPLICE_SMALL (4 * 1024)

/* What a pipe of a fat flow grows to (conn_splice.c): fs.pipe-max-size's
 * default, the most an unprivileged process may ask for. */
#define CONN_PIPE_BIG (1024 * 1024)

/* The unsent bytes a spliced link's sockets may queue (TCP_NOTSENT_LOWAT,
 * conn_link_splice). */
#define CONN_SPLICE_NOTSENT (512 * 1024)

/* conn_splice.c: a pipe of the owner's pool, holding `len` bytes that are
 * to be sent on the connection that has it (c->pipe). */
struct conn_pipe {
    int rfd, wfd;
    size_t len;
    size_t size;                /* its capacity now (F_GETPIPE_SZ) */
    size_t first_size;          /* as made, and as kept while free */
    bool grow_tried;            /* this flow asked for CONN_PIPE_BIG */
    struct conn_pipe *next;     /* the owner's free list */
};

/* A read (or a splice in) of c that brought nothing, n <= 0, not EINTR:
 * 0 at the end of input, -1 when the socket is empty (EAGAIN), -2 on an
 * error (logged at debug, `what` naming the call). */
static inline ssize_t conn_read_nothing(struct conn *c, ssize_t n, const char *what)
{
    if (n == 0) {
        c->readable = false;
        c->eof = true;
        return 0;
    }
    if (errno == EAGAIN) {
        c->readable = false;
        return -1;
    }
    log_debug("connection %d: %s: %s", c->io.fd, what, strerror(errno));
    return -2;
}

static inline size_t conn_pipe_len(const struct conn *c)
{
    return c->pipe ? c->pipe->len : 0;
}

/* conn_splice.c: should c's next read be a splice to its link? */
bool conn_splice_wanted(const struct conn *c);
/* conn_splice.c: splice what c's socket has into its link's pipe. Returns
 * bytes moved, 0 at EOF, -1 when nothing more is to be had now, -2 on a
 * fatal error (like a read), -3 when no pipe is to be had (read as usual:
 * c is no longer bulk). */
ssize_t conn_splice_read(struct conn *c);
/* conn_splice.c: send c's pipe to its socket. 1 if something was sent, 0 if
 * not (c->writable cleared when the socket is full), -1 on a fatal error. */
int conn_splice_flush(struct conn *c);
/* conn_splice.c: c's pipe back to the pool when it is empty and no bulk
 * flow comes its way; with `dropped`, the pipe goes whatever it holds (c
 * closes: a pipe with bytes in it is closed, never reused). */
void conn_splice_release(struct conn *c, bool dropped);
/* conn_splice.c: close the owner's free pipes. */
void conn_splice_fini(struct conn_owner *o);

/* conn_proxy_header.c: read c's PROXY header, then conn_begin (or close
 * c); the header's deadline passed. */
void conn_proxy_header_begin(struct conn *c, const struct conn_proxy_accept *pa);
void conn_proxy_header_expired(struct conn *c);

/* Bytes a client sent (STAT_BYTES_IN) or was sent (STAT_BYTES_OUT): an
 * outbound connection's traffic is the proxy's own with its upstream, and
 * counting it too would count every proxied byte twice. */
static inline void conn_count_bytes(struct conn *c, enum stats_counter which, uint64_t n)
{
    if (!c->outbound)
        stats_add(c->owner->stats, which, n);
}

#endif
