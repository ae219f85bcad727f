/* A host for connections in unit tests: a real loop, an owner (buffer pools,
 * counters, the "closed" callback), socket pairs, and a way to run the loop
 * until a condition holds. Used by the suites that host real connections
 * (check_conn, check_conformance, check_handler, ...). */
#ifndef HERD_TESTS_CONN_FIXTURE_H
#define HERD_TESTS_CONN_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "loop.h"
#include "stats.h"

struct fixture {
    struct loop *loop;
    struct conn_owner owner;
    struct stats_block *stats;
    int closed;                 /* owner->closed calls */
    struct conn *last_closed;
};

extern struct fixture fx;

/* Check's per-test setup and teardown. */
void fx_setup(void);
void fx_teardown(void);

/* Run the loop until pred(arg) holds (checked every millisecond, and
 * before starting); false if `ms` passed first. The limit is only there to
 * fail a broken test instead of hanging it. The rest of the loop iteration
 * (deferred work) still runs after pred holds: wait for states that stay,
 * not for passing ones. */
bool fx_run_until(bool (*pred)(void *), void *arg, int64_t ms);
/* Run the loop for `ms`, to see that something does not happen. */
void fx_run_for(int64_t ms);

/* A connected pair of non-blocking unix stream sockets. */
void fx_socketpair(int sv[2]);
/* Serve fd with ops on the plain transport, as if accepted. */
void fx_start(struct conn *c, int fd, const struct conn_ops *ops);
void fx_start_tp(struct conn *c, int fd, const struct conn_ops *ops,
                 const struct conn_transport *tp);

/* Write all of p (the socket must take it: small amounts only). */
void fx_send(int fd, const void *p, size_t n);
/* Read what fd has now: *len counts every byte, out keeps the first cap.
 * Returns false at EOF or an error (ECONNRESET), true while it is open. */
bool fx_recv(int fd, char *out, size_t *len, size_t cap);
/* Fill fd's send buffer with byte `b` until it would block; returns the
 * bytes written. */
size_t fx_fill(int fd, unsigned char b);

#endif
