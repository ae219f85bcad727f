/* An open connection: reads into c->in, flushes c->out and the file
 * segment through the transport, deadlines, links, the lingering close.
 * How a connection comes to be open (accepted, connected, the transport's
 * handshake) and the owner's pool: conn_open.c. */
#include "conn.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <netinet/in.h>
#include <unistd.h>

#include "conn_private.h"
#include "log.h"
#include "stats.h"
#include "transport.h"

/* Reads per wake-up before a busy connection yields to the others. */
#define CONN_READ_ROUNDS 16
/* How long a closing connection waits for the peer's FIN. */
#define CONN_LINGER_MS 2000
/* Bytes per sendfile call, so one large file does not hold the worker. */
#define CONN_SENDFILE_CHUNK (512 * 1024)

static struct conn *conn_of_timer(struct timer *t)
{
    return (struct conn *)((char *)t - offsetof(struct conn, timer));
}

static struct conn *conn_of_defer(struct loop_defer *d)
{
    return (struct conn *)((char *)d - offsetof(struct conn, defer));
}

void conn_on_timer(struct timer *t)
{
    struct conn *c = conn_of_timer(t);
    if (c->timer_kind == CONN_TIMER_NONE)
        return;                 /* cancelled lazily */
    if (c->deadline > loop_now(c->owner->loop)) {
        /* Postponed since the entry was placed: move it now. */
        loop_timer_at(c->owner->loop, &c->timer, c->deadline);
        return;
    }
    unsigned kind = c->timer_kind;
    c->timer_kind = CONN_TIMER_NONE;
    switch (kind) {
    case CONN_TIMER_CONNECT:
        conn_connect_expired(c);
        return;
    case CONN_TIMER_PROXY_HEADER:
        conn_proxy_header_expired(c);
        return;
    case CONN_TIMER_HANDSHAKE:
        conn_handshake_expired(c);
        return;
    case CONN_TIMER_SEND:
        log_debug("connection %d: send timed out", c->io.fd);
        conn_close_now(c);
        break;
    case CONN_TIMER_LINGER:
        conn_close_now(c);
        break;
    default:
        c->ops->timeout(c, kind);
        break;
    }
    conn_run(c);
}

void conn_on_defer(struct loop *loop, struct loop_defer *d)
{
    (void)loop;
    conn_run(conn_of_defer(d));
}

bool conn_is_tls(const struct conn *c)
{
    return c->tp->secure;
}

bool conn_covers(const struct conn *c, size_t i)
{
    return c->tp->covers == NULL || c->tp->covers(c, i);
}

/* ------------------------------------------------------------------ */
/* Output */

static struct buf *out_buf(struct conn *c)
{
    if (c->out == NULL)
        c->out = buf_get(&c->owner->out_pool);
    return c->out;
}

int conn_write(struct conn *c, const void *data, size_t n)
{
    struct buf *b = out_buf(c);
    if (b == NULL || buf_append(b, data, n) < 0) {
        conn_close_now(c);
        return -1;
    }
    return 0;
}

char *conn_reserve(struct conn *c, size_t n)
{
    struct buf *b = out_buf(c);
    if (b == NULL || buf_reserve(b, n) < 0) {
        conn_close_now(c);
        return NULL;
    }
    return buf_tail(b);
}

void conn_commit(struct conn *c, size_t n)
{
    c->out->end += n;
}

int conn_writev(struct conn *c, const struct iovec *iov, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    char *p = conn_reserve(c, total);
    if (p == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    conn_commit(c, total);
    return 0;
}

void conn_send_file(struct conn *c, int fd, int64_t off, int64_t end)
{
    c->file_fd = fd;
    c->file_off = off;
    c->file_end = end;
}

static void drop_file(struct conn *c)
{
    if (c->file_fd >= 0)
        close(c->file_fd);
    c->file_fd = -1;
}

static bool output_pending(const struct conn *c)
{
    return conn_out_len(c) > 0 || c->file_fd >= 0 || conn_pipe_len(c) > 0;
}

/* Above the high-water mark: the protocol, and a linked peer, wait. A
 * pipe with a byte in it is full (conn_splice.c says why). */
static bool output_full(const struct conn *c)
{
    return conn_out_len(c) >= CONN_OUT_HIGH || c->file_fd >= 0 || conn_pipe_len(c) > 0;
}

/* ------------------------------------------------------------------ */
/* Closing and deadlines */

void conn_close_after_flush(struct conn *c)
{
    c->closing = true;
}

void conn_linger(struct conn *c)
{
    c->closing = true;
    c->linger_wanted = true;
}

void conn_close_now(struct conn *c)
{
    /* Drop pending output: a lingering close with nothing to say is a close. */
    c->closing = true;
    c->lingering = true;
    c->eof = true;
    if (c->out)
        c->out->start = c->out->end = 0;
    drop_file(c);
    if (c->pipe)
        conn_splice_release(c, true);
}

void conn_half_close(struct conn *c)
{
    c->half_close = true;
}

void conn_shutdown_after_flush(struct conn *c)
{
    c->half_close = true;
    if (c->shut == CONN_SHUT_NONE)
        c->shut = CONN_SHUT_WANTED;
}

/* Half-close mode, output all sent: the shutdown asked for. A failure (the
 * peer is gone) shows on the next read or write. */
static void shut_when_flushed(struct conn *c)
{
    if (c->shut != CONN_SHUT_WANTED || output_pending(c))
        return;
    c->shut = CONN_SHUT_DONE;
    if (c->tp->shutdown(c) < 0)
        log_debug("connection %d: shutdown: %s", c->io.fd, strerror(errno));
}

/* Deadlines move on every request of a keep-alive connection, almost
 * always later. A later deadline only updates c->deadline; the heap entry
 * stays where it is and, when it comes due, moves itself (on_timer). So the
 * heap is touched about once per timeout period, not once per request. */
static void set_timer(struct conn *c, unsigned kind, int64_t ms)
{
    int64_t when = loop_now(c->owner->loop) + ms;
    c->timer_kind = (uint8_t)kind;
    c->deadline = when;
    if (timer_armed(&c->timer) && c->timer.when <= when)
        return;
    loop_timer_at(c->owner->loop, &c->timer, when);
}

void conn_set_timer(struct conn *c, unsigned kind, int64_t ms)
{
    set_timer(c, kind, ms);
}

void conn_cancel_timer(struct conn *c)
{
    /* The heap entry, if any, finds no kind and does nothing. */
    c->timer_kind = CONN_TIMER_NONE;
}

static const enum stats_counter gauge_counter[] = {
    STAT_COUNTERS, STAT_READING, STAT_WRITING, STAT_IDLE,
};

void conn_set_gauge(struct conn *c, enum conn_gauge g)
{
    if (c->gauge == g)
        return;
    struct stats_block *s = c->owner->stats;
    if (c->gauge != CONN_GAUGE_NONE)
        stats_sub(s, gauge_counter[c->gauge], 1);
    if (g != CONN_GAUGE_NONE)
        stats_add(s, gauge_counter[g], 1);
    c->gauge = (uint8_t)g;
}

/* ------------------------------------------------------------------ */
/* Links */

void conn_link(struct conn *a, struct conn *b)
{
    conn_unlink(a);
    conn_unlink(b);
    a->link = b;
    b->link = a;
    a->linked = b->linked = true;
}

void conn_unlink(struct conn *c)
{
    struct conn *p = c->link;
    if (p == NULL)
        return;
    p->link = NULL;
    p->linked = p->held = false;
    c->link = NULL;
    c->linked = c->held = false;
    p->splice_ok = c->splice_ok = false;
}

void conn_wake(struct conn *c)
{
    if (c->in_use)
        loop_defer(c->owner->loop, &c->defer);
}

/* c's output went below the high-water mark: its held peer reads again. */
static void release_link(struct conn *c)
{
    c->link->held = false;
    conn_wake(c->link);
}

/* ------------------------------------------------------------------ */
/* The end */

static void release_buffers(struct conn *c)
{
    if (c->in && buf_len(c->in) == 0) {
        buf_put(&c->owner->in_pool, c->in);
        c->in = NULL;
    }
    if (c->out && buf_len(c->out) == 0) {
        buf_put(&c->owner->out_pool, c->out);
        c->out = NULL;
    }
    if (c->pipe)
        conn_splice_release(c, false);
}

static inline void teardown(struct conn *c)
{
    struct conn_owner *o = c->owner;
    if (c->link) {
        struct conn *peer = c->link;
        conn_unlink(c);
        conn_wake(peer);
    }
    loop_timer_cancel(o->loop, &c->timer);
    loop_defer_cancel(o->loop, &c->defer);
    loop_forget(o->loop, &c->io);
    if (c->tp->close)
        c->tp->close(c);
    close(c->io.fd);
    c->io.fd = -1;
    drop_file(c);
    if (c->pipe)
        conn_splice_release(c, true);
    buf_put(&o->in_pool, c->in);
    buf_put(&o->out_pool, c->out);
    c->in = c->out = NULL;
    c->in_use = false;
}

void conn_teardown(struct conn *c)
{
    teardown(c);
}

static void finish(struct conn *c)
{
    c->ops->close(c);
    conn_set_gauge(c, CONN_GAUGE_NONE);
    teardown(c);
    if (c->outbound)
        conn_pool_put(c->owner, c);
    else
        c->owner->closed(c->owner, c);
}

void conn_drain(struct conn *c)
{
    c->draining = true;
    if (!c->in_use || c->handshaking || c->connecting)
        return;         /* its open is still to come, and will see it */
    c->ops->drain(c);
    conn_run(c);
}

/* ------------------------------------------------------------------ */
/* I/O */

/* Write as much output as the socket takes: the buffer, then the file
 * segment. Returns 1 if something was sent, 0 if not, -1 on a fatal error.
 * Inlined into run_io, every round's path (its second caller, for spliced
 * bytes, made the compiler call it out of line: +40 instructions for each
 * keep-alive request in bench/instr). */
static inline __attribute__((always_inline)) int flush(struct conn *c)
{
    struct buf *b = c->out;
    bool progress = false;
    if (c->pipe) {
        /* Spliced bytes first: they entered the pipe while the buffer was
         * empty, so whatever the buffer holds came after them. */
        int spliced = conn_splice_flush(c);
        if (spliced < 0)
            return -1;
        progress = spliced > 0;
        if (c->pipe->len > 0)
            goto wait;
    }
    while (b && buf_len(b) > 0) {
        struct iovec iov = { buf_head(b), buf_len(b) };
        ssize_t n = c->tp->writev(c, &iov, 1, c->file_fd >= 0);
        if (n > 0) {
            buf_consume(b, (size_t)n);
            conn_count_bytes(c, STAT_BYTES_OUT, (uint64_t)n);
            progress = true;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            c->writable = false;
            goto wait;
        }
        log_debug("connection %d: send: %s", c->io.fd, strerror(errno));
        return -1;
    }
    while (c->file_fd >= 0) {
        if (c->file_off >= c->file_end) {
            drop_file(c);
            break;
        }
        int64_t left = c->file_end - c->file_off;
        off_t off = (off_t)c->file_off;
        ssize_t n = c->tp->sendfile(c, c->file_fd, &off, (size_t)(left < CONN_SENDFILE_CHUNK
                                                                   ? left : CONN_SENDFILE_CHUNK));
        if (n > 0) {
            c->file_off = off;
            conn_count_bytes(c, STAT_BYTES_OUT, (uint64_t)n);
            progress = true;
            if (n == CONN_SENDFILE_CHUNK && c->file_off < c->file_end) {
                /* Let the other connections have a turn. */
                loop_defer(c->owner->loop, &c->defer);
                goto wait;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            c->writable = false;
            goto wait;
        }
        /* The file shrank under us (n == 0) or an I/O error: the length we
         * announced can no longer be kept, so the connection must end. */
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            log_debug("connection %d: sendfile: %s", c->io.fd, strerror(errno));
        else
            log_warn("connection %d: sendfile: %s", c->io.fd,
                     n < 0 ? strerror(errno) : "the file shrank while it was sent");
        return -1;
    }
    if (progress)
        c->sent = true;
    return progress;
wait:
    if (progress)
        c->sent = true;
    if (progress || c->timer_kind != CONN_TIMER_SEND)
        set_timer(c, CONN_TIMER_SEND, c->send_timeout);
    return progress;
}

/* Read once into c->in. Returns bytes read, 0 at EOF, -1 when nothing more
 * is to be had now, -2 on a fatal error. */
static ssize_t read_some(struct conn *c)
{
    if (c->in == NULL && (c->in = buf_get(&c->owner->in_pool)) == NULL)
        return -2;
    if (buf_room(c->in) == 0)
        buf_compact(c->in);
    size_t room = buf_room(c->in);
    if (room == 0)
        return -1;      /* the protocol decides what a full buffer means */
    for (;;) {
        ssize_t n = c->tp->read(c, buf_tail(c->in), room);
        if (n > 0) {
            c->in->end += (size_t)n;
            conn_count_bytes(c, STAT_BYTES_IN, (uint64_t)n);
            if (c->splice_ok && (size_t)n >= CONN_SPLICE_BULK)
                c->bulk = true;     /* the next reads may be spliced */
            /* A short read emptied the socket: the next byte to arrive will
             * raise a new edge, so skip the read that would say EAGAIN. Not
             * after a hangup: its edge has come, and the read that returns 0
             * is the only way to see the end. */
            if ((size_t)n < room && !c->peer_hup)
                c->readable = false;
            return n;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return conn_read_nothing(c, n, "read");
    }
}

/* A closing connection that has flushed its reply: stop sending and wait for
 * the peer to finish, discarding what it still sends. */
static bool linger(struct conn *c)
{
    if (!c->lingering) {
        c->lingering = true;
        /* Nothing unread and nothing announced: a plain close sends FIN,
         * not RST, so the reply is safe without waiting. */
        bool more = c->linger_wanted || conn_in_len(c) > 0 || c->readable;
        if (c->eof || !more || (c->shut != CONN_SHUT_DONE && c->tp->shutdown(c) < 0))
            return true;
        conn_set_gauge(c, CONN_GAUGE_NONE);
        set_timer(c, CONN_TIMER_LINGER, CONN_LINGER_MS);
    }
    for (int rounds = 0; !c->eof; rounds++) {
        if (rounds == CONN_READ_ROUNDS) {
            /* A peer still pouring data in must not hold the worker. */
            loop_defer(c->owner->loop, &c->defer);
            return false;
        }
        char sink[4096];
        ssize_t n = c->tp->read(c, sink, sizeof sink);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return true;
        if (n < 0 && errno == EAGAIN)
            return false;
    }
    return true;
}

/* What c read was spliced into its link's pipe: send it on at once, so
 * that c may read again in this round rather than wait for the link's
 * turn (a round trip through the loop per pipeful). A failure is the
 * link's, seen and closed in its own run. */
static void send_spliced(struct conn *to)
{
    if (flush(to) < 0) {
        conn_close_now(to);
        conn_wake(to);
    }
}

/* Flush, then read and hand the protocol what arrived, until the socket or
 * the output says stop (or a busy connection has had its turn). */
static void run_io(struct conn *c)
{
    for (int rounds = 0;; rounds++) {
        if (output_pending(c) && c->writable) {
            int sent = flush(c);
            if (sent < 0) {
                conn_close_now(c);
                return;
            }
            if (!output_pending(c)) {
                if (c->timer_kind == CONN_TIMER_SEND)
                    conn_cancel_timer(c);
                if (!c->closing)
                    c->ops->writable(c);
            }
            if (sent > 0 && (c->want_room || c->linked) && !output_full(c)) {
                if (c->linked && c->link->held)
                    release_link(c);
                /* Output made room: requests held back may now be answered. */
                if (c->want_room) {
                    c->want_room = false;
                    c->ops->readable(c);
                    continue;
                }
            }
        }
        if (c->closing || !c->readable || output_full(c))
            return;
        if (c->linked && conn_pipe_len(c->link) > 0 && c->link->writable)
            send_spliced(c->link);
        if (c->linked && output_full(c->link)) {
            c->held = true;
            return;
        }
        if (rounds >= CONN_READ_ROUNDS) {
            loop_defer(c->owner->loop, &c->defer);
            return;
        }
        /* bulk first: the one test a connection that never splices pays. */
        ssize_t n = c->bulk && conn_splice_wanted(c) ? conn_splice_read(c) : -3;
        if (n == -3)
            n = read_some(c);
        if (n == -2) {
            conn_close_now(c);
            return;
        }
        bool full = n == -1 && c->in && buf_room(c->in) == 0;
        if (n == -1 && !full)
            return;
        /* Data, end of stream, or a full buffer: the protocol decides (it
         * may consume, grow the buffer, or answer and close). */
        c->ops->readable(c);
        if (full && c->in && buf_room(c->in) == 0 && c->in->start == 0)
            return;
    }
}

void conn_run(struct conn *c)
{
    if (!c->in_use)
        return;
    run_io(c);
    /* What the protocol queued for the linked peer leaves before we sleep
     * (a peer that cannot write now gets its own edge when it can). */
    if (c->linked && c->link->writable && output_pending(c->link))
        conn_wake(c->link);

    if (c->closing && !output_pending(c)) {
        if (linger(c))
            finish(c);
        return;
    }
    if (c->half_close) {
        /* The protocol ends it: the other direction may still be flowing. */
        shut_when_flushed(c);
    } else if (!c->closing && c->eof && !output_pending(c) && !c->want_room) {
        /* The protocol did not close on EOF; nothing more can arrive. */
        c->closing = true;
        finish(c);
        return;
    }
    release_buffers(c);
}

void conn_on_io(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    struct conn *c = conn_note_events(io, events);
    if (c->lingering && c->closing) {
        if (linger(c))
            finish(c);
        return;
    }
    conn_run(c);
}
