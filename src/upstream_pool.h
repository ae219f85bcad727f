/* Idle keep-alive connections to the servers of an upstream, per worker
 * (DESIGN, "Reverse proxy"): after a proxied response that allows it, the
 * upstream connection waits here for the next request to the same server
 * instead of being closed.
 *
 *   put ─► idle (most recently used first) ─┬─ take: checked still open
 *                                           │  (no byte, no EOF waiting;
 *                                           │  take_known: as the loop
 *                                           │  last reported),
 *                                           │  handed back to the caller
 *                                           ├─ the server closes it, sends
 *                                           │  bytes, idle timeout: closed
 *                                           └─ more than `keepalive` idle:
 *                                              the least recently used beyond
 *                                              it closed once idle 1 s
 *
 * One pool per upstream (per balancer) and process, shared by every route
 * that names the upstream (upstream_pool_ref). An idle connection is not
 * counted by the balancer as active: the caller reports it closed before
 * put and opened after take, so a server's connections (active and idle)
 * stay within max_connections as long as callers take an idle one before
 * connecting a new one.
 *
 * Across a reload (DESIGN, "Processes"): a worker told to drain hands its
 * idle connections over (upstream_pool_hand_over), each with its upstream's
 * name, its server's address and since when it is idle, to the master,
 * which passes it on to a worker of the new generation; a connection that
 * becomes idle later in the drain (its request was in flight) goes the same
 * way. The new worker keeps it (upstream_pool_adopt) when its configuration
 * has that upstream and server, below `keepalive`, and the connection has
 * been idle less than its keepalive_timeout; else it closes it. A handed
 * over connection is checked before reuse like any other. Only plain
 * (unencrypted) connections are pooled, so a socket is all there is to
 * hand over. Tested by tests/unit/check_upstream_pool.c. */
#ifndef HERD_UPSTREAM_POOL_H
#define HERD_UPSTREAM_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"

struct balancer;
struct channel_idle;
struct upstream_pool;

/* The pool of b's upstream in this process (built on first use, counted),
 * keeping keepalive idle connections (0: none) for their idle time, and
 * those beyond keepalive (a steady load of more concurrent requests, the
 * end of a burst), the least recently used, for one second of it. NULL: no
 * memory. */
struct upstream_pool *upstream_pool_ref(struct balancer *b, size_t keepalive);
/* The last user gone: its idle connections are closed. */
void upstream_pool_unref(struct upstream_pool *p);

/* An idle connection to server i that is still open, the most recently
 * used first, or NULL. Stale ones met on the way are closed. The
 * connection's callbacks become ops and c->data data; its proto_state is
 * the caller's again. */
struct conn *upstream_pool_take(struct upstream_pool *p, int server, const struct conn_ops *ops,
                                void *data);
/* The same without asking the kernel (upstream_pool_take's recv with
 * MSG_PEEK, a system call per reuse): a connection is taken unless the
 * loop has already reported its server's end or a byte on it. Every event
 * the kernel had queued when the loop last waited has been seen, except
 * those still to be dispatched in the current batch; what arrived since is
 * unknown (as it is a moment after a peek). So the connection may be one
 * the server has just closed: only for a request that is sent again on a
 * new connection when a reused one fails before its response (an
 * idempotent one without a body, proxy_retry.h). */
struct conn *upstream_pool_take_known(struct upstream_pool *p, int server,
                                      const struct conn_ops *ops, void *data);

/* Keep c (connected to server i, not linked, nothing queued or unread)
 * for a later take, for at most idle_ms; with keepalive 0, or a
 * connection that is not clean, c is closed instead. */
void upstream_pool_put(struct upstream_pool *p, struct conn *c, int server, int64_t idle_ms);

/* Hand every idle connection, now and from now on, to the master over
 * channel (channel.h, IDLE_CONN) instead of keeping it; this process's
 * copies are closed. The pool's balancer must be a real one. After a
 * failed send (the master is gone) idle connections are closed. channel
 * < 0: keep them again (tests). */
void upstream_pool_hand_over(int channel);

/* A connection handed over by the previous generation (fd, described by
 * m): into the pool of m's upstream and server, for what is left of its
 * keepalive_timeout, or closed (no such upstream or server here, keepalive
 * reached, idle too long). 0 kept, -1 closed. */
int upstream_pool_adopt(struct conn_owner *o, const struct channel_idle *m, int fd);

/* Report idle connections to the balancer (balance_idle: the status
 * page's idle gauge) from now on. Not for a stand-in balancer (tests). */
void upstream_pool_count(struct upstream_pool *p);

/* Idle connections now (tests, status). */
size_t upstream_pool_idle(const struct upstream_pool *p);

#endif
