/* Active health checks: one prober, run by the master in its own loop
 * (DESIGN, "Reverse proxy"), for every server of every upstream that has
 * a `health_check`. Results go to the servers' entries in the shared
 * health page (upstream_health.h), where the workers' balancers read them.
 *
 * One probe per server at a time, every `interval`:
 *   idle ─interval─► connecting ─connected─┬─ no path: pass
 *                                          └─ path: send a GET, read the
 *                                             status line: 2xx/3xx pass,
 *                                             anything else fail
 *   refused, reset, closed early, or `timeout` passed: fail
 * `fails` failures in a row take a server down (skipped by every worker);
 * `passes` passes in a row bring it back up. Sockets are non-blocking and
 * plain; nothing here blocks the master. */
#ifndef HERD_UPSTREAM_CHECK_H
#define HERD_UPSTREAM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "loop.h"
#include "upstream_health.h"

struct upstream_check;

/* A prober on loop, with no targets yet. NULL: out of memory. */
struct upstream_check *upstream_check_new(struct loop *loop);
/* Probe the servers of cfg's upstreams with a health_check from now on
 * (the entries must be registered: upstream_health_register). Probes in
 * flight for the previous configuration are dropped; servers' states are
 * kept (a reload keeps them). Servers no longer checked are unchecked. */
void upstream_check_configure(struct upstream_check *uc, const struct herd_config *cfg);
void upstream_check_free(struct upstream_check *uc);

/* The status code of a response's status line at p[0..n): 100..599; 0
 * when the line is not complete yet; -1 when it is not a status line. */
int upstream_check_status(const char *p, size_t n);

/* A probe's verdict applied to h (run counters and state): returns true
 * when the state changed. */
bool upstream_check_judge(struct upstream_health *h, bool ok, int64_t fails, int64_t passes);

#endif
