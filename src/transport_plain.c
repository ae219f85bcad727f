/* The plain transport: the socket itself. No handshake and no state.
 * Tested by tests/unit/check_transport_plain.c. */
#include "transport.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

static ssize_t plain_read(struct conn *c, void *p, size_t n)
{
    return read(c->io.fd, p, n);
}

static ssize_t plain_writev(struct conn *c, const struct iovec *iov, int n, bool more)
{
    /* MSG_NOSIGNAL: a peer gone is EPIPE here, not a signal. */
    int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
    if (n == 1)
        return send(c->io.fd, iov->iov_base, iov->iov_len, flags);
    struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
    return sendmsg(c->io.fd, &m, flags);
}

static ssize_t plain_sendfile(struct conn *c, int fd, off_t *off, size_t n)
{
    return sendfile(c->io.fd, fd, off, n);
}

static ssize_t plain_splice_in(struct conn *c, int pipe_w, size_t n)
{
    return splice(c->io.fd, NULL, pipe_w, NULL, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

static ssize_t plain_splice_out(struct conn *c, int pipe_r, size_t n)
{
    return splice(pipe_r, NULL, c->io.fd, NULL, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
}

static int plain_shutdown(struct conn *c)
{
    return shutdown(c->io.fd, SHUT_WR);
}

const struct conn_transport transport_plain = {
    .name = "plain",
    .read = plain_read,
    .writev = plain_writev,
    .sendfile = plain_sendfile,
    .splice_in = plain_splice_in,
    .splice_out = plain_splice_out,
    .shutdown = plain_shutdown,
};
