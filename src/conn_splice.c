/* splice(2) between linked connections (conn_link_splice): bulk bytes go
 * from one socket into a pipe and from the pipe to the other socket, never
 * copied into user space.
 *
 *   a reads ─ buffered: into a->in, the protocol copies them to b->out
 *       │      (a read of CONN_SPLICE_BULK or more marks a as bulk)
 *       └─ bulk, a->in empty, b->out and b's file sent, b's pipe empty:
 *          socket a ─splice─► b->pipe ─splice─► socket b (b's flush, run
 *          at once in a's round when b's socket takes bytes, so that a
 *          reads on without a trip through the loop per pipeful)
 *
 * The pipe belongs to the connection whose output it holds (b), as its
 * output buffer does, so "b's output is pending" (flush, shutdown after
 * flush, closing after flush) counts the pipe too, and the link's
 * back-pressure is the buffered path's: a is not read while b's pipe holds
 * a byte. That rule also settles what a splice's EAGAIN means (the socket
 * is empty, or the pipe has no free slot): into an empty pipe it can only
 * be the socket. A splice that moves less than CONN_SPLICE_SMALL ends bulk
 * mode: the next reads are buffered again, and b's pipe, once empty, goes
 * back to the owner's pool.
 *
 * The pool is per owner (per worker): at most CONN_PIPES_MAX pipes, of
 * which CONN_PIPES_KEEP free ones are kept open; more are closed when they
 * come back. Without a pipe (the bound reached, no file descriptors) a flow
 * stays on the buffered path. A pipe that still holds bytes when its
 * connection closes is closed, never reused.
 *
 * Pipe size. A pipe starts at the kernel's default: 16 slots, each one
 * page or one fragment of a socket buffer, so at most 64 KiB (less when
 * the fragments are smaller, as a network card's may be), for two splices
 * and two trips through the socket layers. A flow that moves
 * CONN_SPLICE_BULK or more in one splice has its pipe grown to
 * CONN_PIPE_BIG (F_SETPIPE_SZ), once, so that one splice in and one out
 * carry up to 1 MiB: on loopback (bench/tcp_bulk) an eighth of the splices
 * and about a third less CPU per GiB. Back in the pool the pipe shrinks to
 * its first size, so that free pipes do not hold the user's pipe budget:
 * the kernel counts every pipe's slots against fs.pipe-user-pages-soft
 * (16384 pages by default, for all of a user's processes together) and
 * refuses to grow a pipe past it (the pipe then stays as it is); past it, a
 * new pipe gets two pages, and such a pipe is closed at once (splices of 8
 * KiB cost more than the buffered path's 16 KiB reads). So big pipes go to
 * fat flows as far as the budget allows, then ordinary pipes, then
 * buffers.
 *
 * Unsent bytes. Each socket of a spliced link queues at most
 * CONN_SPLICE_NOTSENT bytes not yet sent (TCP_NOTSENT_LOWAT): past it a
 * splice out says EAGAIN, and the socket is writable again when half of
 * that is left. Without it, a flow whose reader is slower than its writer
 * fills every buffer on the way: the far socket's send queue (autotuned up
 * to net.ipv4.tcp_wmem's 4 MiB), the pipe, and the near socket's receive
 * queue, which the kernel grows (up to tcp_rmem's 32 MiB) after the fast
 * 1 MiB splices. On loopback (bench/tcp_bulk) that held 12-16 MiB per
 * flow, well past the caches, so that the sender's and the reader's copies
 * cost about twice as much and herd moved 0.92-0.97x haproxy's bytes per
 * second; with the bound it holds a few MiB and moves 1.06-1.13x. Bytes
 * sent and not yet acknowledged are not counted, so the bound does not cap
 * what a long fat network can carry. A unix socket has no such option and
 * keeps its own (fixed) buffers.
 *
 * Tested by tests/unit/check_conn_splice.c. */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn_private.h"
#include "log.h"
#include "stats.h"
#include "transport.h"

/* Pipes per owner, in use or free. */
#define CONN_PIPES_MAX 256
/* Free pipes kept open for the next flow. */
#define CONN_PIPES_KEEP 8

static struct conn_pipe *pipe_new(void)
{
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        log_debug("pipe2: %s: this flow stays buffered", strerror(errno));
        return NULL;
    }
    /* Two pages: the user is over its pipe budget (see above). */
    int size = fcntl(fds[1], F_GETPIPE_SZ);
    struct conn_pipe *p = NULL;
    if (size < CONN_SPLICE_BULK) {
        log_debug("pipe2: %s: this flow stays buffered",
                  size < 0 ? strerror(errno) : "a pipe of two pages (the pipe budget is spent)");
        goto fail;
    }
    if ((p = malloc(sizeof *p)) == NULL)
        goto fail;
    *p = (struct conn_pipe){ .rfd = fds[0], .wfd = fds[1], .size = (size_t)size,
                             .first_size = (size_t)size };
    return p;
fail:
    close(fds[0]);
    close(fds[1]);
    return NULL;
}

static struct conn_pipe *pipe_get(struct conn_owner *o)
{
    struct conn_pipe *p = o->free_pipes;
    if (p) {
        o->free_pipes = p->next;
        o->n_free_pipes--;
        return p;
    }
    if (o->n_pipes >= CONN_PIPES_MAX || (p = pipe_new()) == NULL)
        return NULL;
    o->n_pipes++;
    return p;
}

/* A fat flow: grow its pipe, once per flow. Refused (the user's pipe
 * budget, fs.pipe-max-size): the pipe stays as it is. */
static void pipe_grow(struct conn_pipe *p)
{
    p->grow_tried = true;
    if (p->size >= CONN_PIPE_BIG)
        return;
    int size = fcntl(p->wfd, F_SETPIPE_SZ, CONN_PIPE_BIG);
    if (size < 0) {
        log_debug("F_SETPIPE_SZ: %s: the pipe stays at %zu bytes", strerror(errno), p->size);
        return;
    }
    p->size = (size_t)size;
}

static void pipe_close(struct conn_owner *o, struct conn_pipe *p)
{
    close(p->rfd);
    close(p->wfd);
    free(p);
    o->n_pipes--;
}

static void pipe_put(struct conn_owner *o, struct conn_pipe *p)
{
    if (p->len > 0 || o->n_free_pipes >= CONN_PIPES_KEEP) {
        pipe_close(o, p);
        return;
    }
    /* A free pipe holds no budget beyond its first size (an empty pipe
     * may always shrink). */
    if (p->size > p->first_size) {
        int size = fcntl(p->wfd, F_SETPIPE_SZ, (int)p->first_size);
        if (size < 0) {
            log_debug("F_SETPIPE_SZ: %s: the pipe is closed", strerror(errno));
            pipe_close(o, p);
            return;
        }
        p->size = (size_t)size;
    }
    p->grow_tried = false;
    p->next = o->free_pipes;
    o->free_pipes = p;
    o->n_free_pipes++;
}

void conn_splice_fini(struct conn_owner *o)
{
    while (o->free_pipes) {
        struct conn_pipe *p = o->free_pipes;
        o->free_pipes = p->next;
        pipe_close(o, p);
    }
    o->n_free_pipes = 0;
}

/* See "Unsent bytes" above. A unix socket refuses (EOPNOTSUPP): nothing to
 * bound there. */
static void bound_unsent(const struct conn *c)
{
    int lowat = CONN_SPLICE_NOTSENT;
    if (setsockopt(c->io.fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof lowat) < 0 &&
        errno != EOPNOTSUPP)
        log_debug("connection %d: TCP_NOTSENT_LOWAT: %s", c->io.fd, strerror(errno));
}

void conn_link_splice(struct conn *a, struct conn *b)
{
    conn_link(a, b);
    a->splice_ok = b->splice_ok = true;
    bound_unsent(a);
    bound_unsent(b);
}

bool conn_splice_wanted(const struct conn *c)
{
    const struct conn *to = c->link;
    return c->bulk && c->splice_ok && to && conn_in_len(c) == 0 && c->tp->splice_in &&
           to->tp->splice_out && to->in_use && !to->closing && to->shut == CONN_SHUT_NONE &&
           conn_out_len(to) == 0 && to->file_fd < 0 && conn_pipe_len(to) == 0;
}

ssize_t conn_splice_read(struct conn *c)
{
    struct conn *to = c->link;
    if (to->pipe == NULL && (to->pipe = pipe_get(c->owner)) == NULL) {
        c->bulk = false;        /* no pipe: the buffered path */
        return -3;
    }
    struct conn_pipe *p = to->pipe;
    for (;;) {
        /* The pipe is empty (conn_splice_wanted): all of it is room. */
        ssize_t n = c->tp->splice_in(c, p->wfd, p->size);
        if (n > 0) {
            p->len += (size_t)n;
            conn_count_bytes(c, STAT_BYTES_IN, (uint64_t)n);
            if ((size_t)n < CONN_SPLICE_SMALL)
                c->bulk = false;
            else if ((size_t)n >= CONN_SPLICE_BULK && !p->grow_tried)
                pipe_grow(p);
            return n;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* EAGAIN: the pipe is empty, so it is the socket that is. */
        return conn_read_nothing(c, n, "splice");
    }
}

int conn_splice_flush(struct conn *c)
{
    struct conn_pipe *p = c->pipe;
    bool progress = false;
    while (p && p->len > 0) {
        ssize_t n = c->tp->splice_out(c, p->rfd, p->len);
        if (n > 0) {
            p->len -= (size_t)n;
            conn_count_bytes(c, STAT_BYTES_OUT, (uint64_t)n);
            progress = true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            c->writable = false;
            break;
        }
        log_debug("connection %d: splice: %s", c->io.fd, n < 0 ? strerror(errno) : "no progress");
        return -1;
    }
    return progress;
}

void conn_splice_release(struct conn *c, bool dropped)
{
    struct conn_pipe *p = c->pipe;
    if (p == NULL)
        return;
    if (!dropped && (p->len > 0 || (c->link && c->link->bulk)))
        return;
    c->pipe = NULL;
    pipe_put(c->owner, p);
}
