/* Upstream servers' health and counters, shared by the master and every
 * worker through one page of shared memory (DESIGN, "Reverse proxy").
 *
 * The master maps the page before it forks (a memfd, passed on to a new
 * master by a binary upgrade like the stats page) and registers an entry
 * for each server of each upstream of a configuration before its workers
 * start. An entry is known by its upstream's name and the server's
 * address, so a reload that keeps an upstream keeps its servers' state.
 *
 * What an entry holds, and who writes it:
 *   passive health  fails, fail_start, down_until: any worker, under the
 *                   entry's spin lock (balance_report, seldom: failures
 *                   and the first success after them)
 *   active health   state, run_fails, run_passes: the master's prober
 *                   (upstream_check.c), one writer
 *   counters        requests, failures, response time: atomic adds by
 *                   workers; active and idle connections: gauges, added
 *                   and taken back by each worker (a worker that exits
 *                   gives back what it still holds; one killed by a
 *                   signal cannot)
 *   listed          the master: the entry's server is in the serving
 *                   configuration (status pages show only those)
 *
 *   active state:  unchecked (no health_check) ─configured─► checking
 *        checking ─a pass─► up     checking/up ─`fails` in a row─► down
 *        down ─`passes` in a row─► up (its passive failures forgotten)
 *
 * Times are milliseconds on CLOCK_MONOTONIC, which all processes share.
 * Without a page (tests, or memfd refused) the balancer keeps its state
 * per process. Tested by tests/unit/check_upstream_health.c. */
#ifndef HERD_UPSTREAM_HEALTH_H
#define HERD_UPSTREAM_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "stats_render.h"
#include "upstream.h"

#define UPSTREAM_HEALTH_ENTRIES 512
#define UPSTREAM_HEALTH_NAME 64         /* an upstream's name, with its NUL */

enum upstream_health_state {
    UPSTREAM_HEALTH_UNCHECKED,          /* no active checks */
    UPSTREAM_HEALTH_CHECKING,           /* checked, no verdict yet: used */
    UPSTREAM_HEALTH_UP,
    UPSTREAM_HEALTH_DOWN,               /* failed its checks: skipped */
};

struct upstream_health {
    _Alignas(64) uint32_t used;         /* 0 free, 1 being written, 2 ready */
    uint32_t lock;                      /* over the passive fields */
    uint32_t listed;
    uint32_t state;                     /* enum upstream_health_state */
    char upstream[UPSTREAM_HEALTH_NAME];
    char server[UPSTREAM_ADDR_TEXT];
    /* passive */
    uint32_t fails;                     /* in the window from fail_start */
    int64_t fail_start;
    int64_t down_until;                 /* down while now < down_until */
    /* active (the master) */
    uint32_t run_fails, run_passes;     /* probes in a row */
    /* counters */
    uint64_t requests;                  /* connections begun to it */
    uint64_t failures;                  /* connects refused, resets, timeouts */
    uint64_t response_ms;               /* sum of response times (HTTP) */
    uint64_t responses;                 /* ... over this many responses */
    int64_t active;                     /* open connections, all workers */
    int64_t idle;                       /* kept-alive idle ones */
};

struct upstream_health_page {
    uint64_t magic;
    uint64_t size;
    struct upstream_health e[UPSTREAM_HEALTH_ENTRIES];
};

/* Master: map the page (the one a binary upgrade passed on when it has
 * this build's layout, else a new one) as this process's page. NULL on
 * failure (servers' health then stays per worker). */
struct upstream_health_page *upstream_health_map(void);
void upstream_health_unmap(void);
/* In the child about to exec a new master: pass the page on, as a
 * descriptor numbered at least min_fd. */
int upstream_health_pass_on(int min_fd);
/* This process's page (workers inherit it), or NULL. */
struct upstream_health_page *upstream_health_page(void);
/* Use p as this process's page (tests); NULL: none. */
void upstream_health_use(struct upstream_health_page *p);

/* Master: an entry for every server of every upstream of cfg (found, or
 * made). Servers beyond the table's room get none (logged once). */
void upstream_health_register(const struct herd_config *cfg);
/* Master: cfg serves now: its servers are listed, the others not. */
void upstream_health_list(const struct herd_config *cfg);
/* The entry of server `server` of upstream `upstream`, or NULL. */
struct upstream_health *upstream_health_find(const char *upstream, const char *server);

/* Passive health (the rules of balance.h), on any process's entry. */
void upstream_health_report(struct upstream_health *h, bool ok, int64_t max_fails,
                            int64_t fail_timeout, int64_t now);
/* Skipped: down by passive or active health. */
bool upstream_health_is_down(const struct upstream_health *h, int64_t now);
/* Forget passive failures (the active check found the server up). */
void upstream_health_clear(struct upstream_health *h);

static inline void upstream_health_add(uint64_t *v, uint64_t n)
{
    __atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

static inline void upstream_health_gauge(int64_t *v, int64_t delta)
{
    __atomic_fetch_add(v, delta, __ATOMIC_RELAXED);
}

/* "up", "down" or "checking": what the status page says of h at now. */
const char *upstream_health_state_name(const struct upstream_health *h, int64_t now);

/* The listed servers of page p as a part of a status answer (stats_render_more):
 * a JSON member ("upstreams":[...]), text lines, or Prometheus series. A
 * malloc'ed text in *out (its length returned), or 0 with *out NULL when
 * there is no page or no memory. */
size_t upstream_health_render(const struct upstream_health_page *p, enum stats_format format,
                              int64_t now, char **out);

#endif
