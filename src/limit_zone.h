/* The limit zone: a fixed-size table of per-key request counters in
 * shared memory, so that every worker counts the same clients (http/limit.c
 * keeps `limit` routes' rates and in-flight requests in it).
 *
 * The master maps the zone (a memfd, shm_page.h) before it forks a
 * generation; workers inherit it. A reload whose `limit_zone_size` is the
 * same keeps the zone and so its counts; another size starts a new, empty
 * one (the old generation keeps the old one until it exits). A binary
 * upgrade passes the zone on like the stats page.
 *
 * Layout: sets of LIMIT_ZONE_WAYS entries, 256 bytes each; a key (a 64-bit
 * keyed hash, 0 never used) lives in the set its low bits choose. Each set
 * has a spin lock, held for a few loads and stores (never across a
 * syscall): a key is looked up, added or updated only under it. When a set
 * is full, a new key takes the place of the least recently used entry that
 * holds no request in flight; when every entry holds one, the new key is
 * not counted (admitted, held nowhere).
 *
 * A worker that dies (killed, crashed) cannot give back the requests it
 * had in flight, nor a set's lock it held: the master, when it reaps such
 * a worker, frees the locks it held and zeroes every count of requests in
 * flight (limit_zone_recover). Requests the other workers have in flight
 * then count for nothing until they end (a release never takes a count
 * below 0): a short over-admission, rather than a key refused for good.
 *
 * Rates are a GCRA (generic cell rate algorithm, the token bucket told in
 * times): an entry keeps its theoretical arrival time `tat`, in ns of
 * CLOCK_MONOTONIC (the same clock in every process). With an interval T
 * between requests and a tolerance tau = burst * T, a request at `now` is
 * admitted when max(tat, now) - now <= tau (tat then moves on by T), so a
 * new key gets burst + 1 requests at once and one more every T. Integers
 * only: no floating point, no drift.
 *
 * Tested by tests/unit/check_limit_zone.c. */
#ifndef HERD_LIMIT_ZONE_H
#define HERD_LIMIT_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LIMIT_ZONE_WAYS 7
/* Bytes per set; a zone of S bytes holds S / LIMIT_ZONE_SET_BYTES sets. */
#define LIMIT_ZONE_SET_BYTES 256

struct limit_zone;

/* What one limit asks of a key. */
struct limit_rule {
    int64_t interval_ns;        /* T: ns between two requests; 0: no rate */
    int64_t tolerance_ns;       /* tau: burst * T */
    uint32_t max_held;          /* requests in flight at once; 0: not counted */
};

enum limit_verdict {
    LIMIT_ADMIT,
    LIMIT_OVER_RATE,            /* *wait_ns says when it would be admitted */
    LIMIT_OVER_HELD,            /* max_held requests of the key in flight */
};

/* A zone in memory of `bytes` (at least one set; rounded down to whole
 * sets) mapped shared, made anew (zeroed, with a random hash key). NULL
 * with errno set. *fd is the memfd behind it (-1: anonymous memory). */
struct limit_zone *limit_zone_create(size_t bytes, int *fd);
void limit_zone_destroy(struct limit_zone *z, int fd);
/* The entries it holds. */
size_t limit_zone_capacity(const struct limit_zone *z);

/* The zone's random 128-bit hash key, made with it: keys are keyed
 * hashes (http/limit.c), so that a client cannot choose values that crowd
 * one set. The same in every process that shares the zone. */
const uint64_t *limit_zone_secret(const struct limit_zone *z);

/* One request of key at now_ns (CLOCK_MONOTONIC): admitted or not. When
 * admitted with rule->max_held, *held tells whether it was counted in
 * flight (then limit_zone_release once it is over); not when the key's
 * set was full of entries in flight. On LIMIT_OVER_RATE *wait_ns is the
 * time until the request would be admitted (> 0). A refused request
 * changes no count. */
enum limit_verdict limit_zone_admit(struct limit_zone *z, uint64_t key,
                                    const struct limit_rule *rule, int64_t now_ns,
                                    int64_t *wait_ns, bool *held);
/* A request counted in flight by limit_zone_admit is over. */
void limit_zone_release(struct limit_zone *z, uint64_t key);
/* Requests of key in flight now (tests, status). */
uint32_t limit_zone_held(struct limit_zone *z, uint64_t key);
/* Process `dead` died: free the set locks it held, and forget every
 * request in flight (see above). */
void limit_zone_recover(struct limit_zone *z, pid_t dead);

/* Refusals, counted across processes: one more, and how many so far. */
void limit_zone_count_refusal(struct limit_zone *z);
uint64_t limit_zone_refusals(const struct limit_zone *z);

/* ---- the master's zone, inherited by workers */

/* Master: make this process's zone one of `bytes` (the same zone when it
 * has that size already; the one a binary upgrade passed on when it fits;
 * else a new one, the previous one kept until limit_zone_settle). NULL on
 * failure, logged (limits then count per worker). */
struct limit_zone *limit_zone_map(size_t bytes);
/* Master: the generation that called limit_zone_map took over (true: the
 * previous zone is unmapped) or failed (false: the previous zone is this
 * process's zone again, the new one unmapped). */
void limit_zone_settle(bool took_over);
/* In the child about to exec a new master: pass the zone on, as a
 * descriptor numbered at least min_fd. */
int limit_zone_pass_on(int min_fd);
/* This process's zone, or NULL (never made here). */
struct limit_zone *limit_zone_mapped(void);
/* Master: a worker whose configuration asked for a zone of `bytes` did
 * not exit cleanly: limit_zone_recover on this process's zone, when it is
 * the one that worker used. */
void limit_zone_worker_died(pid_t pid, size_t bytes);
/* This process's zone. A process without one (tests, a failed map) gets a
 * private zone of the default size at the first call (counted per process). */
struct limit_zone *limit_zone_current(void);

#define LIMIT_ZONE_DEFAULT_BYTES (1024 * 1024)

#endif
