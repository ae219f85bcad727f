/* How a connection's bytes reach its socket. The connection layer (conn.c)
 * does every read and write through its transport, so TLS can slide under a
 * protocol without the protocol knowing. `plain` is the socket itself.
 *
 * The calls follow the system calls they stand for: a byte count, or -1 with
 * errno set (EAGAIN: wait for the socket's next edge; EINTR: try again;
 * anything else ends the connection). A transport may keep its own state in
 * c->tp_state. */
#ifndef HERD_TRANSPORT_H
#define HERD_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

struct conn;

struct conn_transport {
    const char *name;
    bool secure;                /* conn_is_tls: the bytes are encrypted on the wire */
    /* Inbound: set up c->tp_state from the listener's conf (conn_listen.
     * tp_conf) before anything is read. 0, or -1 (errno: c is closed).
     * NULL: nothing to set up. */
    int (*accept)(struct conn *c, const void *conf);
    /* Before the protocol's open (inbound) or connected callback (outbound):
     * 1 done, 0 in progress (wait for the socket), -1 failed (errno). NULL:
     * nothing to do. A transport may arm CONN_TIMER_HANDSHAKE (conn.h) on
     * its first call; the connection layer cancels it when done. */
    int (*handshake)(struct conn *c);
    ssize_t (*read)(struct conn *c, void *p, size_t n);
    /* more: further output follows at once (a file after the headers), so
     * a partial packet may wait for it (MSG_MORE). */
    ssize_t (*writev)(struct conn *c, const struct iovec *iov, int n, bool more);
    /* Send up to n bytes of fd from *off, advancing *off. */
    ssize_t (*sendfile)(struct conn *c, int fd, off_t *off, size_t n);
    /* Move up to n bytes between the socket and a pipe without copying
     * them through user space (splice(2)): from the socket into the pipe's
     * writing end, or from its reading end to the socket. Both may say
     * EAGAIN for either side. NULL: the transport cannot, because the bytes
     * on its socket are not the stream's (TLS); its connections keep to
     * the buffered path. */
    ssize_t (*splice_in)(struct conn *c, int pipe_w, size_t n);
    ssize_t (*splice_out)(struct conn *c, int pipe_r, size_t n);
    /* Stop sending (the peer sees the end), keep reading. 0 or -1. */
    int (*shutdown)(struct conn *c);
    /* May c answer for c->vhosts[i]: was the certificate the handshake
     * presented (SNI's choice) also server i's? NULL: always. */
    bool (*covers)(const struct conn *c, size_t i);
    /* Free what the transport keeps; the socket is closed after. NULL:
     * nothing kept. */
    void (*close)(struct conn *c);
};

extern const struct conn_transport transport_plain;

#endif
