/* A client connection: socket, buffers, one deadline, and the protocol that
 * speaks on it.
 *
 *   accepted ──► open ──► [ read ─► proto.readable ─► conn_write ] ─► flush
 *                              ▲                                      │
 *                              └──────── output below high water ◄────┘
 *   conn_close_after_flush: stop reading, flush, close. If the peer may still
 *   be sending (unread input, or conn_linger), shut down writing first and
 *   read until its FIN, so that our reply is not lost to a reset.
 *   conn_close_now: close at once.
 *
 * Registered once with epoll (read, write, edge-triggered). `readable` and
 * `writable` remember the last edge until read/write returns EAGAIN. */
#ifndef HERD_CONN_H
#define HERD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "loop.h"
#include "proto.h"
#include "timer.h"

struct worker;

struct server_rt {
    const struct cfg_server *cfg;
    const struct proto *proto;
    void *data;                 /* from proto->server_new */
};

enum conn_gauge { CONN_GAUGE_NONE, CONN_GAUGE_READING, CONN_GAUGE_WRITING, CONN_GAUGE_IDLE };

#define CONN_PROTO_STATE 64

/* The client's address, kept compact (accept4 fills it for free). */
struct conn_peer {
    uint16_t family;
    uint16_t port;              /* network order */
    uint8_t addr[16];
};

struct conn {
    struct loop_io io;
    struct worker *worker;
    const struct server_rt *srv;
    struct buf *in;
    struct buf *out;
    struct timer timer;
    struct loop_defer defer;
    struct conn *prev, *next;   /* the worker's list of open connections */
    const struct server_rt *const *vhosts;  /* servers sharing the listener */
    int64_t send_timeout;       /* ms */
    int64_t deadline;           /* when timer_kind is due; the heap entry may
                                   be earlier (see conn_set_timer) */
    int64_t file_off, file_end; /* file segment sent after the output buffer */
    int file_fd;                /* -1: none */
    uint16_t n_vhosts;
    struct conn_peer peer;
    uint8_t timer_kind;         /* enum conn_timer_kind */
    uint8_t gauge;              /* enum conn_gauge */
    bool readable : 1;          /* a read may return data */
    bool writable : 1;          /* a write may make progress */
    bool eof : 1;               /* the peer finished sending */
    bool closing : 1;           /* close once the output is flushed */
    bool lingering : 1;
    bool want_room : 1;         /* protocol stopped for back-pressure */
    bool draining : 1;          /* the worker is stopping gracefully */
    bool in_use : 1;
    bool linger_wanted : 1;     /* the peer may still be sending */
    bool peer_hup : 1;          /* epoll reported the peer's hangup */
    _Alignas(8) unsigned char proto_state[CONN_PROTO_STATE];
};

/* The output high-water mark: protocols stop producing above it. */
#define CONN_OUT_HIGH (64 * 1024)

/* Start serving an accepted socket: srv is vhosts[0]. */
void conn_start(struct conn *c, struct worker *w, int fd, const struct server_rt *const *vhosts,
                size_t n_vhosts, const struct sockaddr *peer);

/* The peer as a sockaddr (for allow/deny and logs); out holds 28 bytes. */
void conn_peer_sockaddr(const struct conn *c, struct sockaddr_storage *out);

int conn_write(struct conn *c, const void *data, size_t n);
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

void conn_close_after_flush(struct conn *c);
/* The same, and the peer may still be sending (an unread body, a request we
 * refused): always linger. */
void conn_linger(struct conn *c);
void conn_close_now(struct conn *c);

void conn_set_timer(struct conn *c, enum conn_timer_kind kind, int64_t ms);
void conn_cancel_timer(struct conn *c);
void conn_set_gauge(struct conn *c, enum conn_gauge g);

/* Run the connection's I/O (the loop callback calls it; so does the worker
 * after a drain request). */
void conn_run(struct conn *c);
void conn_on_io(struct loop *loop, struct loop_io *io, unsigned events);

#endif
