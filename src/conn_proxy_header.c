/* The PROXY header before a connection opens (conn_proxy_header.h).
 *
 * While it waits for the header the connection is "handshaking" (a drain
 * waits for its open, as for a transport's handshake), its socket events
 * come here, and its one deadline is CONN_TIMER_PROXY_HEADER. Each edge
 * peeks at what has arrived: the parser (proxy_protocol.c) says partial,
 * malformed or complete, and only a complete header is taken out of the
 * socket, to its last byte and no further.
 *
 * Tested by tests/unit/check_conn_proxy_header.c. */
#include "conn_proxy_header.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "conn_private.h"
#include "log.h"
#include "proxy_protocol.h"

/* Refusal lines a second per worker; the rest are counted and reported in
 * one line, as the HTTP refusals are, so a flood cannot fill the disk. */
#define CONN_PROXY_REFUSALS_PER_SECOND 10

static struct log_budget budget = LOG_BUDGET("PROXY protocol", "refused connections not logged",
                                             LOG_INFO, CONN_PROXY_REFUSALS_PER_SECOND);

/* What a peek sees. One loop per process runs one connection at a time. */
static unsigned char scratch[CONN_PROXY_HEADER_MAX];

struct conn_proxy_accept *conn_proxy_accept_new(const char *const *from, size_t n,
                                                int64_t timeout_ms)
{
    struct conn_proxy_accept *pa = calloc(1, sizeof *pa + n * sizeof pa->from[0]);
    if (pa == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    pa->timeout_ms = timeout_ms;
    pa->n_from = n;
    for (size_t i = 0; i < n; i++) {
        if (cidr_parse(from[i], &pa->from[i]) < 0) {
            free(pa);
            errno = EINVAL;
            return NULL;
        }
    }
    return pa;
}

bool conn_proxy_trusted(const struct conn_proxy_accept *pa, const struct sockaddr *peer)
{
    if (pa == NULL || peer == NULL ||
        (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
        return false;
    for (size_t i = 0; i < pa->n_from; i++)
        if (cidr_match(&pa->from[i], peer))
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* Refusals */

void conn_proxy_header_tick(int64_t now_ms)
{
    log_budget_tick(&budget, now_ms);
}

/* Close c, which has not opened: the owner takes it back. The address
 * logged is the real peer's (the header's was not taken). */
static int refuse(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct conn *c, const char *fmt, ...)
{
    if (log_budget_take(&budget, conn_now(c))) {
        char why[160], addr[INET6_ADDRSTRLEN] = "-";
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
        if (c->peer.family == AF_INET || c->peer.family == AF_INET6)
            inet_ntop(c->peer.family, c->peer.addr, addr, sizeof addr);
        log_info("PROXY protocol header refused: %s; connection closed, client: %s", why, addr);
    }
    conn_teardown(c);
    c->owner->closed(c->owner, c);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Reading the header */

static void take_source(struct conn *c, const struct sockaddr_storage *src)
{
    memset(&c->peer, 0, sizeof c->peer);
    c->peer.family = src->ss_family;
    if (src->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)src;
        c->peer.port = v4->sin_port;
        memcpy(c->peer.addr, &v4->sin_addr, 4);
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)src;
        c->peer.port = v6->sin6_port;
        memcpy(c->peer.addr, &v6->sin6_addr, 16);
    }
}

static ssize_t recv_again(int fd, void *p, size_t n, int flags)
{
    ssize_t r;
    do
        r = recv(fd, p, n, flags);
    while (r < 0 && errno == EINTR);
    return r;
}

/* 1: the header is read and c->peer says whom from; 0: wait for more;
 * -1: refused, c is gone. */
static int read_header(struct conn *c)
{
    ssize_t n = recv_again(c->io.fd, scratch, sizeof scratch, MSG_PEEK);
    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n < 0)
        return refuse(c, "%s", strerror(errno));
    if (n == 0)
        return refuse(c, "closed before sending a header");
    struct proxy_protocol_header h;
    const char *why;
    switch (proxy_protocol_parse(scratch, (size_t)n, &h, &why)) {
    case PROXY_PROTOCOL_ERROR:
        return refuse(c, "%s", why);
    case PROXY_PROTOCOL_PARTIAL:
        if ((size_t)n == sizeof scratch)
            return refuse(c, "longer than %d bytes", CONN_PROXY_HEADER_MAX);
        /* After the peer's FIN every byte it sent is here: no more comes. */
        if (c->peer_hup)
            return refuse(c, "closed in the middle of the header");
        return 0;
    case PROXY_PROTOCOL_COMPLETE:
        break;
    }
    /* The bytes were there a moment ago, and only this process reads them. */
    if (recv_again(c->io.fd, scratch, h.len, 0) != (ssize_t)h.len)
        return refuse(c, "could not take the header out of the socket");
    if (!h.keep_peer)
        take_source(c, &h.src);
    return 1;
}

static void header_step(struct conn *c)
{
    if (read_header(c) <= 0)
        return;
    conn_cancel_timer(c);
    c->handshaking = false;
    c->io.fn = conn_on_io;
    /* What followed the header may already be waiting. */
    c->readable = true;
    conn_begin(c);
}

static void on_header_io(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    header_step(conn_note_events(io, events));
}

void conn_proxy_header_begin(struct conn *c, const struct conn_proxy_accept *pa)
{
    c->handshaking = true;
    c->io.fn = on_header_io;
    conn_set_timer(c, CONN_TIMER_PROXY_HEADER, pa->timeout_ms);
    header_step(c);
}

void conn_proxy_header_expired(struct conn *c)
{
    refuse(c, "not complete within the timeout");
}
