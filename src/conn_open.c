/* How a connection comes to be open, and the owner that hosts it.
 *
 *   accepted (conn_start) ─ [a trusted peer's PROXY header,
 *                            conn_proxy_header.c] ─────────────────────┐
 *   conn_adopt (a socket connected by another process) ── open at once
 *   conn_connect ─ connect() ─┬─ in progress ─ write edge, SO_ERROR 0 ─┤
 *                             │        └─ refused, connect timeout ──► ops->error
 *                             ├─ done at once: its write edge comes ─┘ (gone)
 *                             └─ failed at once ──► ops->error from a
 *                                                   zero-length timer
 *   ──► the transport's handshake ──► ops->open ──► conn_run (conn.c)
 *            └─ failed: inbound back to the owner; outbound ops->error
 *
 * An outbound connection comes from the owner's pool of spare connections
 * (a free list that grows as needed and keeps a few), not from the inbound
 * table, so upstream connections never take a client's place. No callback
 * runs inside conn_connect.
 *
 * Tested by tests/unit/check_conn_open.c. */
#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn_private.h"
#include "conn_proxy_header.h"
#include "log.h"
#include "transport.h"

/* Free outbound connections kept for reuse; more are freed. */
#define CONN_SPARE_MAX 64
/* Free buffers kept in each of the owner's pools. */
#define CONN_POOL_KEEP 64

void conn_owner_init(struct conn_owner *o, struct loop *loop, size_t in_size, size_t out_size)
{
    memset(o, 0, sizeof *o);
    o->loop = loop;
    buf_pool_init(&o->in_pool, in_size, CONN_POOL_KEEP);
    buf_pool_init(&o->out_pool, out_size, CONN_POOL_KEEP);
}

void conn_owner_fini(struct conn_owner *o)
{
    while (o->spare) {
        struct conn *c = o->spare;
        o->spare = c->next;
        free(c);
    }
    o->n_spare = 0;
    conn_splice_fini(o);
    buf_pool_drain(&o->in_pool);
    buf_pool_drain(&o->out_pool);
}

/* ------------------------------------------------------------------ */
/* The owner's pool of outbound connections */

static struct conn *pool_get(struct conn_owner *o)
{
    struct conn *c = o->spare;
    if (c) {
        o->spare = c->next;
        o->n_spare--;
    } else if ((c = aligned_alloc(_Alignof(struct conn), sizeof *c)) == NULL) {
        return NULL;
    }
    c->prev = c->next = NULL;
    o->n_outbound++;
    return c;
}

void conn_pool_put(struct conn_owner *o, struct conn *c)
{
    o->n_outbound--;
    if (o->n_spare >= CONN_SPARE_MAX) {
        free(c);
        return;
    }
    c->next = o->spare;
    o->spare = c;
    o->n_spare++;
}

static void connect_failed(struct conn *c, int err)
{
    c->connecting = false;
    c->ops->error(c, err);
    conn_teardown(c);
    conn_pool_put(c->owner, c);
}

/* ------------------------------------------------------------------ */
/* A connection's start */

static void set_peer(struct conn *c, const struct sockaddr *sa)
{
    memset(&c->peer, 0, sizeof c->peer);
    if (sa == NULL)
        return;
    c->peer.family = sa->sa_family;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        c->peer.port = v4->sin_port;
        memcpy(c->peer.addr, &v4->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        c->peer.port = v6->sin6_port;
        memcpy(c->peer.addr, &v6->sin6_addr, 16);
    }
}

void conn_peer_to_sockaddr(const struct conn_peer *p, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    out->ss_family = p->family;
    if (p->family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)out;
        v4->sin_port = p->port;
        memcpy(&v4->sin_addr, p->addr, 4);
    } else if (p->family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
        v6->sin6_port = p->port;
        memcpy(&v6->sin6_addr, p->addr, 16);
    }
}

void conn_peer_sockaddr(const struct conn *c, struct sockaddr_storage *out)
{
    conn_peer_to_sockaddr(&c->peer, out);
}

/* A connection that starts on fd: in use, no buffers, no link. Field by
 * field: the owner's list links (prev, next) are not ours, and the caller
 * sets the peer and the binding (srv, vhosts). */
static inline void init(struct conn *c, struct conn_owner *o, int fd, const struct conn_ops *ops,
                        const struct conn_transport *tp)
{
    c->io.fd = fd;
    c->io.fn = conn_on_io;
    c->ops = ops;
    c->tp = tp;
    c->owner = o;
    c->in = c->out = NULL;
    c->timer_kind = CONN_TIMER_NONE;
    c->gauge = CONN_GAUGE_NONE;
    c->flags = 0;
    c->writable = true;
    c->in_use = true;
    if (o->draining)
        c->draining = true;
    c->file_fd = -1;
    timer_init(&c->timer, conn_on_timer);
    loop_defer_init(&c->defer, conn_on_defer);
    c->deadline = 0;
    c->send_timeout = 60000;
    c->file_off = c->file_end = 0;
    c->link = NULL;
    c->tp_state = NULL;
    c->data = NULL;
    c->connect_error = 0;
    c->shut = CONN_SHUT_NONE;
    c->splice_ok = c->bulk = c->sent = false;
    c->pipe = NULL;
    /* A cache line at a time: plain stores, where one memset of the whole
     * state compiles to a slower `rep stos`. */
    for (size_t i = 0; i < sizeof c->proto_state; i += 64)
        memset(c->proto_state + i, 0, 64);
}

/* ------------------------------------------------------------------ */
/* The transport's handshake, before the protocol hears of c */

/* Give up on c before its open: the caller of conn_connect hears why; the
 * owner of an accepted connection takes it back. */
static void abandon(struct conn *c, int err)
{
    if (c->outbound) {
        connect_failed(c, err);
        return;
    }
    log_debug("connection %d: handshake: %s", c->io.fd, strerror(err));
    conn_teardown(c);
    c->owner->closed(c->owner, c);
}

/* Returns true once the handshake is done and c may open. */
static bool handshake(struct conn *c)
{
    for (;;) {
        int rc = c->tp->handshake(c);
        if (rc > 0) {
            c->handshaking = false;
            c->io.fn = conn_on_io;
            if (c->timer_kind == CONN_TIMER_HANDSHAKE)
                conn_cancel_timer(c);
            return true;
        }
        if (rc == 0)
            return false;
        if (errno != EINTR) {
            abandon(c, errno);
            return false;
        }
    }
}

void conn_handshake_expired(struct conn *c)
{
    abandon(c, ETIMEDOUT);
}

static void on_handshake_io(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    struct conn *c = conn_note_events(io, events);
    if (!handshake(c))
        return;
    c->ops->open(c);
    conn_run(c);
}

void conn_begin(struct conn *c)
{
    if (c->tp->handshake) {
        c->handshaking = true;
        c->io.fn = on_handshake_io;
        if (!handshake(c))
            return;
    }
    c->ops->open(c);
    conn_run(c);
}

void conn_start(struct conn *c, struct conn_owner *o, int fd, const struct sockaddr *peer,
                const struct conn_listen *l)
{
    init(c, o, fd, l->ops, l->tp);
    c->srv = l->vhosts[0];
    c->vhosts = l->vhosts;
    c->n_vhosts = l->n_vhosts;
    set_peer(c, peer);
    c->readable = true;     /* deferred accept: the request is likely there */
    if (loop_add(o->loop, &c->io, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
        log_error("epoll_ctl(add %d): %s", fd, strerror(errno));
        close(fd);
        c->io.fd = -1;
        c->in_use = false;
        o->closed(o, c);
        return;
    }
    if (l->tp->accept && l->tp->accept(c, l->tp_conf) < 0) {
        log_error("connection %d: %s transport: %s", fd, l->tp->name, strerror(errno));
        conn_teardown(c);
        o->closed(o, c);
        return;
    }
    if (l->proxy && conn_proxy_trusted(l->proxy, peer)) {
        conn_proxy_header_begin(c, l->proxy);
        return;
    }
    if (l->tp->handshake) {
        conn_begin(c);
        return;
    }
    c->ops->open(c);
    conn_run(c);
}

/* ------------------------------------------------------------------ */
/* Outbound */

void conn_connect_expired(struct conn *c)
{
    connect_failed(c, c->connect_error ? c->connect_error : ETIMEDOUT);
}

static void on_connect_io(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    struct conn *c = conn_note_events(io, events);
    if (!(events & (LOOP_WRITE | LOOP_HANGUP)))
        return;         /* the connect's outcome comes with one of these */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        connect_failed(c, err);
        return;
    }
    c->connecting = false;
    c->io.fn = conn_on_io;
    conn_cancel_timer(c);
    conn_begin(c);
}

struct conn *conn_connect(struct conn_owner *o, const struct sockaddr *addr, socklen_t addrlen,
                          int64_t connect_timeout_ms, const struct conn_ops *ops,
                          const struct conn_transport *tp, void *data)
{
    static const int one = 1;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct conn *c = pool_get(o);
    if (c == NULL) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    if (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    init(c, o, fd, ops, tp);
    set_peer(c, addr);
    c->srv = NULL;
    c->vhosts = NULL;
    c->n_vhosts = 0;
    c->outbound = true;
    c->connecting = true;
    c->data = data;
    c->io.fn = on_connect_io;
    if (connect(fd, addr, addrlen) < 0 && errno != EINPROGRESS && errno != EINTR) {
        /* Refused or unreachable at once: say so from the loop. The socket
         * is not registered: after a failed connect it polls as writable. */
        c->connect_error = (int16_t)errno;
        conn_set_timer(c, CONN_TIMER_CONNECT, 0);
        return c;
    }
    /* Registered after connect(): an outcome already known shows at once. */
    if (loop_add(o->loop, &c->io, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
        int err = errno;
        conn_teardown(c);
        conn_pool_put(o, c);
        errno = err;
        return NULL;
    }
    conn_set_timer(c, CONN_TIMER_CONNECT, connect_timeout_ms);
    return c;
}

struct conn *conn_adopt(struct conn_owner *o, int fd, const struct conn_ops *ops,
                        const struct conn_transport *tp, void *data)
{
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    if (getpeername(fd, (struct sockaddr *)&peer, &len) < 0)
        return NULL;            /* not a connected socket (ENOTCONN, ENOTSOCK) */
    struct conn *c = pool_get(o);
    if (c == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    init(c, o, fd, ops, tp);
    set_peer(c, (struct sockaddr *)&peer);
    c->srv = NULL;
    c->vhosts = NULL;
    c->n_vhosts = 0;
    c->outbound = true;
    c->data = data;
    /* Bytes or an end that came while it travelled show as the first edge. */
    if (loop_add(o->loop, &c->io, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
        int err = errno;
        c->in_use = false;
        c->io.fd = -1;
        conn_pool_put(o, c);
        errno = err;
        return NULL;
    }
    return c;
}
