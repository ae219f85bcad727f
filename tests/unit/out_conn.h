/* A connection that is only an output buffer and a peer address: enough
 * for code that appends to a connection's output (conn_write,
 * conn_reserve) or names its client, with no worker, loop or socket.
 * Header-only, for the suites that need it. */
#ifndef HERD_TESTS_OUT_CONN_H
#define HERD_TESTS_OUT_CONN_H

#include <arpa/inet.h>
#include <check.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "conn.h"

struct out_conn {
    struct conn c;
    struct buf_pool pool;
};

static inline void out_conn_init(struct out_conn *oc)
{
    memset(oc, 0, sizeof *oc);
    buf_pool_init(&oc->pool, 4096, 1);
    oc->c.io.fd = -1;
    oc->c.file_fd = -1;
    oc->c.out = buf_get(&oc->pool);     /* present, so conn_write never asks a worker */
    ck_assert_ptr_nonnull(oc->c.out);
}

/* The client: a numeric IPv4 or IPv6 address, or NULL for none (AF_UNIX). */
static inline void out_conn_peer(struct out_conn *oc, const char *ip, unsigned port)
{
    memset(&oc->c.peer, 0, sizeof oc->c.peer);
    oc->c.peer.port = htons((uint16_t)port);
    if (ip == NULL)
        oc->c.peer.family = AF_UNIX;
    else if (inet_pton(AF_INET, ip, oc->c.peer.addr) == 1)
        oc->c.peer.family = AF_INET;
    else if (inet_pton(AF_INET6, ip, oc->c.peer.addr) == 1)
        oc->c.peer.family = AF_INET6;
    else
        ck_abort_msg("not an address: %s", ip);
}

/* What was written so far (not NUL-terminated). */
static inline const char *out_conn_data(const struct out_conn *oc, size_t *len)
{
    *len = buf_len(oc->c.out);
    return buf_head(oc->c.out);
}

static inline void out_conn_free(struct out_conn *oc)
{
    buf_put(&oc->pool, oc->c.out);
    oc->c.out = NULL;
    buf_pool_drain(&oc->pool);
}

#endif
