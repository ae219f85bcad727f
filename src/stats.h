/* Counters shared between the master and its workers: one page mapped before
 * the first fork. Each worker process writes only its own cache-line aligned
 * block; the master hands blocks out at fork and folds a block into the
 * retired totals when its worker has exited. Readers (status, herd -s status)
 * sum them. Counters are written with relaxed atomics: exact enough for
 * monitoring, no lock on the hot path. */
#ifndef HERD_STATS_H
#define HERD_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STATS_BLOCKS 512

enum stats_counter {
    STAT_ACCEPTED,      /* connections accepted */
    STAT_HANDLED,       /* connections closed after being served */
    STAT_ACTIVE,        /* open connections */
    STAT_READING,       /* connections reading a request */
    STAT_WRITING,       /* connections with a response being written */
    STAT_IDLE,          /* keep-alive connections waiting */
    STAT_REQUESTS,
    STAT_BYTES_IN,
    STAT_BYTES_OUT,
    STAT_COUNTERS
};

struct stats_block {
    _Alignas(64) uint64_t c[STAT_COUNTERS];
    int32_t pid;                /* 0 when the block is free */
    int32_t slot;
    uint32_t generation;
    int64_t started;            /* wall clock seconds */
};

struct stats_page {
    uint32_t generation;        /* current generation */
    int64_t started;            /* master start, wall clock seconds */
    uint64_t retired[STAT_COUNTERS];    /* from workers that have exited */
    struct stats_block blocks[STATS_BLOCKS];
};

/* Map the page (MAP_SHARED|MAP_ANONYMOUS). NULL on failure. */
struct stats_page *stats_map(void);
void stats_unmap(struct stats_page *p);

/* Master: take a free block for a worker about to be forked; NULL if none. */
struct stats_block *stats_claim(struct stats_page *p, int slot, uint32_t generation);
/* Master: fold an exited worker's counters into the retired totals. */
void stats_retire(struct stats_page *p, struct stats_block *b);

static inline void stats_add(struct stats_block *b, enum stats_counter k, uint64_t n)
{
    __atomic_store_n(&b->c[k], __atomic_load_n(&b->c[k], __ATOMIC_RELAXED) + n,
                     __ATOMIC_RELAXED);
}

static inline void stats_sub(struct stats_block *b, enum stats_counter k, uint64_t n)
{
    __atomic_store_n(&b->c[k], __atomic_load_n(&b->c[k], __ATOMIC_RELAXED) - n,
                     __ATOMIC_RELAXED);
}

static inline uint64_t stats_get(const struct stats_block *b, enum stats_counter k)
{
    return __atomic_load_n(&b->c[k], __ATOMIC_RELAXED);
}

/* Sum of the live blocks plus the retired totals (gauges: live blocks only). */
void stats_total(const struct stats_page *p, uint64_t out[STAT_COUNTERS]);
const char *stats_counter_name(enum stats_counter k);

#endif
