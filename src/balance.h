/* The upstream balancer: the run-time state of an upstream's servers (built
 * from its struct upstream_config) and the choice of a server for each new
 * connection to it. HTTP routes and TCP servers that name the same upstream
 * share one balancer per worker (balance_ref).
 *
 * Choosing (balance_pick), among the servers that can take a connection
 * (not down, below max_connections, not already tried for this client):
 *   round_robin  weighted and smooth (nginx's smooth weighted round robin:
 *                weights 5,1,1 give a a b a c a a, exactly in proportion)
 *   least_conn   fewest active connections for its weight; ties in turn,
 *                by weight
 *   hash         consistent: a ring of virtual points (160 per unit of
 *                weight, fewer for very large pools), placed by a hash of
 *                the server's address, so that removing one of N servers
 *                moves only about 1/N of the keys
 *   random_two   two servers at random (by weight), the one with fewer
 *                active connections for its weight
 * Backup servers are chosen only when no primary server can take the
 * connection (all down, full, or already tried).
 *
 * Passive health: max_fails failures within fail_timeout mark a server down
 * for fail_timeout; then it is chosen again, and one more failure marks it
 * down again at once, while a success clears its count. A server the
 * master's active checks found down is skipped too.
 *
 * Health lives in the shared health page (upstream_health.h), so a server
 * one worker marks down is skipped by all, and a reload that keeps the
 * upstream keeps it; without a page, per process. The rotation, active
 * counts and max_connections are per worker (per process). Times are
 * milliseconds on the loop's monotonic clock.
 * Tested by tests/unit/check_balance.c. */
#ifndef HERD_BALANCE_H
#define HERD_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upstream.h"

/* The most servers an upstream may have (the tried set is a bitmap). */
#define BALANCE_MAX_SERVERS 256

/* The servers already tried for one client (retries never repeat one). */
struct balance_tried {
    uint64_t bits[BALANCE_MAX_SERVERS / 64];
};

static inline void balance_tried_clear(struct balance_tried *t)
{
    for (size_t i = 0; i < BALANCE_MAX_SERVERS / 64; i++)
        t->bits[i] = 0;
}

static inline void balance_tried_add(struct balance_tried *t, size_t i)
{
    t->bits[i / 64] |= (uint64_t)1 << (i % 64);
}

static inline bool balance_tried_has(const struct balance_tried *t, size_t i)
{
    return (t->bits[i / 64] >> (i % 64)) & 1;
}

struct balancer;

/* Build the state of u's servers, or NULL (out of memory, or more than
 * BALANCE_MAX_SERVERS servers). */
struct balancer *balance_new(const struct upstream_config *u);
void balance_free(struct balancer *b);

/* The balancer of u in this process, built on first use and shared by
 * every user of u (counted); balance_unref frees it after the last. */
struct balancer *balance_ref(const struct upstream_config *u);
void balance_unref(struct balancer *b);

/* The key of a string, for balance = "hash" (others ignore the key). */
uint32_t balance_hash(const void *p, size_t n);

/* A server for a new connection: its index in the upstream's servers, or -1
 * when none can take it (the caller answers 503 or closes). tried may be
 * NULL. Does not count the connection: see balance_opened. */
int balance_pick(struct balancer *b, uint32_t key, const struct balance_tried *tried,
                 int64_t now);

/* A connection to server i begins (counted from the connect on) / ends. */
void balance_opened(struct balancer *b, int i);
void balance_closed(struct balancer *b, int i);

/* The outcome of a connection attempt to server i: a failure (refused,
 * reset, timed out) counts toward max_fails; a success clears the count. */
void balance_report(struct balancer *b, int i, bool ok, int64_t now);
/* A connection to server i became idle in a pool (+1) or left it (-1):
 * the status page's idle gauge. */
void balance_idle(struct balancer *b, int i, int delta);
/* A response of server i was complete ms after the request began. */
void balance_timed(struct balancer *b, int i, int64_t ms);

/* For logs, status and tests. */
const struct upstream_config *balance_upstream(const struct balancer *b);
size_t balance_servers(const struct balancer *b);
const char *balance_server_name(const struct balancer *b, int i);
uint32_t balance_active(const struct balancer *b, int i);
bool balance_is_down(const struct balancer *b, int i, int64_t now);
/* Is server i's health the shared page's (not this process's own)? */
bool balance_shared(const struct balancer *b, int i);
/* Make random_two repeatable (tests). */
void balance_seed(struct balancer *b, uint64_t seed);

#endif
