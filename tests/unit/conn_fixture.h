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

/* A protocol that notes what it is told (fx_probe_ops), for the suites of
 * the connection layer itself. fx_setup clears it. */
enum fx_mode {
    FX_ECHO,                    /* write back what it reads */
    FX_SINK,                    /* keep the first bytes read in `got` */
    FX_KEEP,                    /* read nothing */
    FX_RELAY,                   /* write what it reads to its link */
};

struct fx_probe {
    enum fx_mode mode;
    char log[64];               /* o open, r readable (runs of them once), w writable,
                                   t timeout, d drain, e error, c close: the first ones */
    size_t n;
    int count[128];             /* of each */
    char got[256];              /* FX_SINK: the first bytes read */
    size_t got_len;
    unsigned kind;              /* last timeout */
    int64_t at;                 /* when it came */
    int err;                    /* last error */
    void *data;                 /* c->data at open (or error) */
    const char *greeting;       /* written at open */
    int64_t send_timeout;       /* set at open when not 0 */
};

extern struct fx_probe fx_probe;
extern const struct conn_ops fx_probe_ops;

/* Forget what was heard so far (the mode and settings stay). */
void fx_probe_forget(void);
/* Predicates for fx_run_until: the probe heard event *(char *)e; the owner
 * took back at least *(int *)n connections. */
bool fx_probe_heard(void *e);
bool fx_closed_at_least(void *n);

#endif
