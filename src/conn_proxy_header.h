/* Accepting the PROXY protocol on a listener: a connection from a trusted
 * source (a load balancer) begins with a PROXY header (v1 or v2,
 * proxy_protocol.h) naming the real client. The connection layer reads the
 * header before anything else (before the transport's handshake and the
 * protocol's open), so no byte of it reaches the protocol, and the
 * connection's peer becomes the header's source. A header missing,
 * malformed or not complete within the timeout closes the connection,
 * logged at info (rate-limited) with the real peer and the reason.
 * Connections from other sources are served as if there were no rule.
 *
 *   accepted ─ peer trusted? ─ no ─────────────────────────────┐
 *                 └ yes ─ peek ─ partial: wait (timeout) ─┐     │
 *                          ├ error, EOF, timeout: closed  │     ▼
 *                          └ complete: consume the header ─► handshake ─► open
 *
 * The header is read with MSG_PEEK and then consumed exactly, so what
 * follows stays in the socket for the transport (TLS after the header
 * works the same). */
#ifndef HERD_CONN_PROXY_HEADER_H
#define HERD_CONN_PROXY_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cidr.h"

/* The rule of a listener (conn_listen.proxy). */
struct conn_proxy_accept {
    int64_t timeout_ms;         /* for the whole header */
    size_t n_from;
    struct cidr from[];         /* who may (and must) send a header */
};

/* The longest header taken; a v2 header with more TLVs is refused. */
#define CONN_PROXY_HEADER_MAX 16384

/* A rule from cidr.h ranges (n of them). NULL with errno set: EINVAL for a
 * range that does not parse, ENOMEM. Freed with free(). */
struct conn_proxy_accept *conn_proxy_accept_new(const char *const *from, size_t n,
                                                int64_t timeout_ms);

/* Must a connection from peer (NULL: unknown) begin with a header? */
bool conn_proxy_trusted(const struct conn_proxy_accept *pa, const struct sockaddr *peer);

/* Once a second: report the refusals the rate limit suppressed. */
void conn_proxy_header_tick(int64_t now_ms);

#endif
