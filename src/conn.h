/* A connection: a socket read and written through a transport, its buffers,
 * one deadline, and the callbacks (a protocol's) that speak on it. Inbound
 * connections come from the owner's accept loop (conn_start); outbound ones
 * from conn_connect.
 *
 *   outbound: connect ─EINPROGRESS─► connecting ─► (error: ops->error, gone)
 *                                        │
 *   inbound: accepted ──────────────► handshake ─► open
 *                                                   │
 *        [ read ─► ops->readable ─► conn_write ] ─► flush
 *          ▲                                          │
 *          └──── output below high water (ours and ◄──┘
 *                the linked peer's)
 *   conn_close_after_flush: stop reading, flush, close. If the peer may still
 *   be sending (unread input, or conn_linger), shut down writing first and
 *   read until its FIN, so that our reply is not lost to a reset.
 *   conn_close_now: close at once. ops->close is the last callback.
 *   Half-close (a proxy): conn_half_close keeps c open after the end of its
 *   input; conn_shutdown_after_flush sends c's end once its output is out.
 *
 * Registered once with the loop (read, write, edge-triggered). `readable` and
 * `writable` remember the last edge until read/write returns EAGAIN.
 *
 * The connection layer knows no protocol and no worker: it reaches its owner
 * (the worker, or a test) only through struct conn_owner. */
#ifndef HERD_CONN_H
#define HERD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "loop.h"
#include "timer.h"

struct conn;
struct conn_transport;
struct conn_proxy_accept;       /* conn_proxy_header.h */
struct conn_pipe;               /* conn_private.h */
struct server_rt;               /* the protocol's servers: opaque here */
struct stats_block;
struct stats_page;

/* What a process that hosts connections gives them. */
struct conn_owner {
    struct loop *loop;          /* also the clock: loop_now, loop_wall */
    struct stats_block *stats;  /* this process's counters */
    struct stats_page *page;    /* everyone's counters (status pages) */
    struct buf_pool in_pool, out_pool;
    bool draining;              /* connections start out draining */
    /* An inbound connection is closed and its slot free: the owner takes it
     * back (and may accept again). Outbound ones go back to the pool below. */
    void (*closed)(struct conn_owner *o, struct conn *c);
    struct conn *spare;         /* free outbound connections */
    size_t n_spare;
    size_t n_outbound;          /* outbound connections open */
    /* Pipes for splice(2) (conn_link_splice): the free ones, and how many
     * exist (free or in use), bounded. */
    struct conn_pipe *free_pipes;
    size_t n_free_pipes, n_pipes;
};

/* Buffers of in_size/out_size bytes, a few of them kept free. */
void conn_owner_init(struct conn_owner *o, struct loop *loop, size_t in_size, size_t out_size);
/* Free what the owner keeps (spare connections, free buffers). */
void conn_owner_fini(struct conn_owner *o);

/* Deadline kinds: the connection layer's own, then the protocol's, which
 * this layer does not interpret (it hands them to ops->timeout). */
enum {
    CONN_TIMER_NONE,
    CONN_TIMER_SEND,            /* between two writes that made progress: close */
    CONN_TIMER_LINGER,          /* closing: waiting for the peer's FIN: close */
    CONN_TIMER_CONNECT,         /* outbound: not connected yet: ops->error */
    CONN_TIMER_PROXY_HEADER,    /* inbound: no PROXY header yet: close */
    CONN_TIMER_HANDSHAKE,       /* the transport's handshake is not done: close */
    CONN_TIMER_PROTO,           /* the first kind a protocol may define */
};

/* What speaks on a connection: a protocol, or the caller of conn_connect.
 * The connection layer never calls one of these while another is running
 * on the same connection; close is the last call, exactly once, and only
 * after open. */
struct conn_ops {
    /* Inbound: accepted (after the transport's handshake). Outbound:
     * connected (likewise). */
    void (*open)(struct conn *c);
    /* Bytes arrived in c->in, or c->eof became true, or c->in is full, or
     * (conn_link_splice) bytes were spliced on to the link. */
    void (*readable)(struct conn *c);
    /* The output queue drained completely. */
    void (*writable)(struct conn *c);
    /* A deadline the protocol armed (kind >= CONN_TIMER_PROTO) passed. */
    void (*timeout)(struct conn *c, unsigned kind);
    /* The owner is stopping gracefully (conn_drain). */
    void (*drain)(struct conn *c);
    /* Outbound only: the connection could not be made (err: ECONNREFUSED,
     * ETIMEDOUT for the connect timeout, ...). Neither open nor close is
     * called; the connection is gone when this returns. */
    void (*error)(struct conn *c, int err);
    void (*close)(struct conn *c);
};

/* What a listener hands each connection it accepts. */
struct conn_listen {
    const struct conn_ops *ops;
    const struct conn_transport *tp;
    const void *tp_conf;        /* the transport's, for its accept (tls_listen) */
    const struct server_rt *const *vhosts;  /* servers sharing the listener; [0] the default */
    uint16_t n_vhosts;
    /* Peers it names begin with a PROXY header (conn_proxy_header.h);
     * NULL: nobody does. */
    const struct conn_proxy_accept *proxy;
};

enum conn_gauge { CONN_GAUGE_NONE, CONN_GAUGE_READING, CONN_GAUGE_WRITING, CONN_GAUGE_IDLE };

/* The client's address, kept compact (accept4 fills it for free). */
struct conn_peer {
    uint16_t family;
    uint16_t port;              /* network order */
    uint8_t addr[16];
};

/* Size plan. A connection is six cache lines (384 bytes), cache-line
 * aligned; the inbound table is touched only as far as it has been used.
 *   line 0      every event, read and write: the socket, callbacks,
 *               transport, owner, buffers, flags, the file descriptor
 *               being sent (checked on every round)
 *   line 1      deadlines and deferred work (touched once per request)
 *   lines 2-3   cold: the file segment, the peer, the protocol's server
 *               binding, the owner's list, the link, the transport's
 *               state; 32 bytes free for what TLS and upstream
 *               pools will need
 *   lines 4-5   the protocol's per-connection state (CONN_PROTO_STATE).
 *               What one exchange needs beyond it (a request, a proxied
 *               response) the protocol takes from its own pool while the
 *               exchange lasts, as buffers come from the owner's.
 * 10 000 idle connections cost 3.7 MiB; an idle one holds no buffer. */
#define CONN_SIZE 384
#define CONN_PROTO_STATE 128

struct conn {
    /* line 0 */
    struct loop_io io;
    const struct conn_ops *ops;
    const struct conn_transport *tp;
    struct conn_owner *owner;
    struct buf *in;
    struct buf *out;
    uint8_t timer_kind;         /* CONN_TIMER_* or the protocol's */
    uint8_t gauge;              /* enum conn_gauge */
    union {
        struct {
            bool readable : 1;      /* a read may return data */
            bool writable : 1;      /* a write may make progress */
            bool eof : 1;           /* the peer finished sending */
            bool closing : 1;       /* close once the output is flushed */
            bool lingering : 1;
            bool want_room : 1;     /* protocol stopped for back-pressure */
            bool draining : 1;      /* the owner is stopping gracefully */
            bool in_use : 1;
            bool linger_wanted : 1; /* the peer may still be sending */
            bool peer_hup : 1;      /* epoll reported the peer's hangup */
            bool linked : 1;        /* has a link (conn_link) */
            bool held : 1;          /* stopped reading: the link's output is full */
            bool handshaking : 1;   /* the transport's handshake is not done */
            bool connecting : 1;    /* outbound, connect() in progress */
            bool outbound : 1;
            bool half_close : 1;    /* the end of input does not close (conn_half_close) */
        };
        uint16_t flags;             /* all of them, to clear at once */
    };
    int32_t file_fd;            /* -1: none */
    /* line 1 */
    struct timer timer;
    struct loop_defer defer;
    int64_t deadline;           /* when timer_kind is due; the heap entry may
                                   be earlier (see conn_set_timer) */
    int64_t send_timeout;       /* ms */
    /* lines 2-3 */
    int64_t file_off, file_end; /* file segment sent after the output buffer */
    const struct server_rt *srv;            /* inbound: the protocol's, opaque here */
    const struct server_rt *const *vhosts;
    struct conn *prev, *next;   /* the owner's lists */
    struct conn *link;          /* back-pressure partner (conn_link) */
    void *tp_state;             /* the transport's */
    void *data;                 /* outbound: the caller's */
    struct conn_peer peer;
    uint16_t n_vhosts;
    int16_t connect_error;      /* outbound: an errno to report */
    uint8_t shut;               /* CONN_SHUT_*: conn_shutdown_after_flush */
    bool splice_ok : 1;         /* its reads may be spliced to its link (conn_link_splice) */
    bool bulk : 1;              /* its input looks like a bulk flow: splice it */
    bool sent : 1;              /* the kernel took a byte of its output (conn_sent) */
    struct conn_pipe *pipe;     /* spliced bytes waiting to be sent on c; NULL: none */
    /* lines 4-5 */
    _Alignas(64) unsigned char proto_state[CONN_PROTO_STATE];
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct conn) == CONN_SIZE, "the size plan above");
_Static_assert(offsetof(struct conn, file_fd) + sizeof(int32_t) <= 64, "the hot part is line 0");
_Static_assert(offsetof(struct conn, timer) == 64 &&
               offsetof(struct conn, send_timeout) + sizeof(int64_t) <= 128,
               "deadlines are line 1");
_Static_assert(offsetof(struct conn, proto_state) == CONN_SIZE - CONN_PROTO_STATE,
               "the protocol's state ends the connection");

/* The output high-water mark: protocols stop producing above it, and a
 * linked peer stops reading. */
#define CONN_OUT_HIGH (64 * 1024)

/* Start serving an accepted socket. The owner has linked c into its lists;
 * c->srv becomes l->vhosts[0]. */
void conn_start(struct conn *c, struct conn_owner *o, int fd, const struct sockaddr *peer,
                const struct conn_listen *l);

/* Connect to addr without blocking. Returns the connection, whose ops->open
 * runs once it is connected (or ops->error with why it could not be, never
 * from inside this call), or NULL with errno set when it cannot even begin
 * (no socket, no memory). Outbound connections come from the owner's pool,
 * not from its inbound table; data is the caller's (c->data). */
struct conn *conn_connect(struct conn_owner *o, const struct sockaddr *addr, socklen_t addrlen,
                          int64_t connect_timeout_ms, const struct conn_ops *ops,
                          const struct conn_transport *tp, void *data);

/* An outbound connection on a socket connected elsewhere (an idle upstream
 * connection a worker of the previous generation handed over): open at
 * once, as if ops->open had run (it is not called); close will be. The
 * socket must be a plain, connected one with nothing of an exchange left
 * in it. NULL with errno set when it cannot be (the fd stays the caller's). */
struct conn *conn_adopt(struct conn_owner *o, int fd, const struct conn_ops *ops,
                        const struct conn_transport *tp, void *data);

/* Tie a and b for back-pressure both ways: each stops reading while the
 * other's output is at or above CONN_OUT_HIGH (or a file is being sent), and
 * resumes when it drains. Output one queues for the other is flushed before
 * the loop sleeps. A connection has at most one link; closing either ends
 * it (the other is woken). */
void conn_link(struct conn *a, struct conn *b);
void conn_unlink(struct conn *c);
/* The same link, and bulk flows between a and b may take the short way:
 * once a side's reads look like a bulk flow (a read of 16 KiB or more), and
 * nothing is buffered on the way (its input consumed, the other's output
 * buffer and file sent), its bytes are spliced (splice(2)) from its socket
 * into a pipe and from the pipe to the other's socket, never copied into
 * user space; the protocol's readable() still runs after each move, with
 * nothing in c->in. Back-pressure holds: a side is not read while the pipe
 * towards its link holds bytes. A pipe is taken from the owner's pool while
 * the flow lasts: 64 KiB, grown to 1 MiB for a fat flow (conn_splice.c). Only when both transports can splice
 * (plain sockets); otherwise, and for small exchanges, the buffered path. */
void conn_link_splice(struct conn *a, struct conn *b);

/* Does c run over an encrypted transport (TLS)? For $scheme and the like:
 * nothing else of the transport is a protocol's business. */
bool conn_is_tls(const struct conn *c);
/* May c answer for its listener's server c->vhosts[i]? Not on TLS when the
 * client named another server by SNI whose certificate differs from i's
 * (answered 421). Always on plain. */
bool conn_covers(const struct conn *c, size_t i);

/* The peer as a sockaddr (for allow/deny and logs); out holds 28 bytes. */
void conn_peer_sockaddr(const struct conn *c, struct sockaddr_storage *out);
/* The same for any address kept as a peer (a request's client). */
void conn_peer_to_sockaddr(const struct conn_peer *p, struct sockaddr_storage *out);

int conn_write(struct conn *c, const void *data, size_t n);
/* Queue several pieces at once. Returns 0, or -1 (out of memory: closed). */
int conn_writev(struct conn *c, const struct iovec *iov, int n);
/* Room for n bytes at the end of the output; commit with conn_commit. */
char *conn_reserve(struct conn *c, size_t n);
void conn_commit(struct conn *c, size_t n);
static inline size_t conn_out_len(const struct conn *c) { return c->out ? buf_len(c->out) : 0; }
/* Send fd's bytes [off, end) after the output queued so far (sendfile); the
 * connection closes fd when done. Only one file at a time: a protocol waits
 * for writable() before queueing more. */
void conn_send_file(struct conn *c, int fd, int64_t off, int64_t end);
static inline bool conn_file_pending(const struct conn *c) { return c->file_fd >= 0; }
static inline size_t conn_in_len(const struct conn *c) { return c->in ? buf_len(c->in) : 0; }

/* Has the kernel taken a byte of c's output (buffer, file or pipe) since
 * c opened, or since the last conn_sent_clear? A proxy reusing an idle
 * upstream connection asks it when that connection fails: when not one
 * byte of the request left herd, the upstream cannot have read any of it,
 * so even a non-idempotent request may be sent again elsewhere. */
static inline bool conn_sent(const struct conn *c) { return c->sent; }
static inline void conn_sent_clear(struct conn *c) { c->sent = false; }

void conn_close_after_flush(struct conn *c);
/* The same, and the peer may still be sending (an unread body, a request we
 * refused): always linger. */
void conn_linger(struct conn *c);
void conn_close_now(struct conn *c);

/* Half-close, for a protocol that carries a stream each way (a proxy), so
 * that one direction can end while the other keeps flowing.
 * conn_half_close: the end of c's input (c->eof) no longer closes c by
 * itself; the protocol closes it once its other direction is done too.
 * conn_shutdown_after_flush: once the output queued so far is sent, shut
 * down c's sending side (its peer reads the end) and keep reading; nothing
 * may be queued after it. It puts c in half-close mode too. */
enum { CONN_SHUT_NONE, CONN_SHUT_WANTED, CONN_SHUT_DONE };
void conn_half_close(struct conn *c);
void conn_shutdown_after_flush(struct conn *c);

/* Arm the connection's one deadline: kind is CONN_TIMER_PROTO or above (the
 * layer's own kinds are its business), or CONN_TIMER_HANDSHAKE from a
 * transport's handshake. */
void conn_set_timer(struct conn *c, unsigned kind, int64_t ms);
void conn_cancel_timer(struct conn *c);
void conn_set_gauge(struct conn *c, enum conn_gauge g);

/* The owner's clock, read once per loop iteration. */
static inline int64_t conn_now(const struct conn *c) { return loop_now(c->owner->loop); }

/* Run c before the loop next sleeps: after a callback of another
 * connection changed it (queued output, asked it to close). */
void conn_wake(struct conn *c);

/* The owner is stopping gracefully: tell the protocol (ops->drain). */
void conn_drain(struct conn *c);

/* Run the connection's I/O (the loop callback calls it; so does the owner
 * after a drain request). */
void conn_run(struct conn *c);

#endif
