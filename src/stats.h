/* Counters shared between the master and its workers: one page of shared
 * memory mapped before the first fork.
 *
 * Each worker *process* writes only its own cache-line aligned block (old and
 * new generations of a slot overlap during a reload, so a slot may have two).
 * When a worker has exited, the master folds its block into the retired
 * totals of its slot and of its servers and frees the block. What is exported
 * for slot s is retired[s] + the live blocks of slot s, so a slot's counters
 * never go backwards across reloads, respawns and worker-count changes.
 * Gauges (open connections) are the live blocks only.
 *
 * Responses are counted by status class and by server. A server is known by
 * a name (a label); the page keeps an append-only table of names, and each
 * block maps its generation's server indexes to that table, so a reload that
 * reorders, adds or removes servers keeps every name's series.
 *
 * A binary upgrade passes the page on (a memfd): the new master and its
 * workers count into the same page as the old ones, so the counters carry
 * over too. Masters change the shared parts (claiming blocks, folding,
 * naming) with atomic operations only; readers take a consistent snapshot
 * (stats_snapshot) that never sees a folded block twice or not at all.
 *
 * Workers update counters with relaxed load/store pairs on their own block:
 * no lock and no atomic read-modify-write on the hot path. */
#ifndef HERD_STATS_H
#define HERD_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define STATS_BLOCKS 512        /* worker processes alive at once */
#define STATS_SLOTS 128         /* slots (at least CONFIG_MAX_WORKERS) */
#define STATS_SERVERS 32        /* server names counted on their own */
#define STATS_OTHER STATS_SERVERS   /* the responses of every other server */
#define STATS_SERVER_MAP 128    /* servers of a generation mapped to names */
#define STATS_NAME 124          /* bytes of a name, with its NUL */
#define STATS_CLASSES 5         /* 1xx .. 5xx */

enum stats_counter {
    STAT_ACCEPTED,      /* connections accepted */
    STAT_HANDLED,       /* connections closed after being served */
    STAT_ACTIVE,        /* open connections (gauge) */
    STAT_READING,       /* connections reading a request (gauge) */
    STAT_WRITING,       /* connections with a response being written (gauge) */
    STAT_IDLE,          /* keep-alive connections waiting (gauge) */
    STAT_REQUESTS,
    STAT_BYTES_IN,
    STAT_BYTES_OUT,
    STAT_COUNTERS
};

struct stats_block {
    _Alignas(64) uint64_t c[STAT_COUNTERS];
    uint64_t responses[STATS_SERVERS + 1][STATS_CLASSES];  /* by name index */
    uint8_t server[STATS_SERVER_MAP];   /* server index → name index */
    int32_t pid;                /* 0 free, -1 claimed, else the worker */
    int32_t slot;
    uint32_t generation;
    int64_t started;            /* wall clock seconds */
};

/* Counters of one slot, or of everything. */
struct stats_sum {
    uint64_t c[STAT_COUNTERS];
    uint64_t responses[STATS_CLASSES];
};

struct stats_slot {
    struct stats_sum retired;   /* from its workers that have exited */
    uint32_t seen;              /* it has had a worker: its series exist */
};

struct stats_name {
    uint32_t state;             /* 0 free, 1 being written, 2 ready */
    char name[STATS_NAME];
};

struct stats_page {
    uint64_t magic;             /* STATS_MAGIC: the layout of this build */
    uint64_t size;              /* sizeof(struct stats_page) */
    uint32_t writes_begun;      /* folds started and finished: see */
    uint32_t writes_done;       /*   stats_snapshot */
    uint32_t generation;        /* generation being served */
    uint32_t high;              /* blocks from here on were never used */
    int64_t started;            /* the counters' start, wall clock seconds */
    struct stats_name names[STATS_SERVERS];
    struct stats_slot slots[STATS_SLOTS];
    uint64_t retired_server[STATS_SERVERS + 1][STATS_CLASSES];
    struct stats_block blocks[STATS_BLOCKS];
};

/* Map the page: the one a binary upgrade passed on (HERD_STATS_FD) when it
 * is there and has this build's layout, else a new one. NULL on failure. */
struct stats_page *stats_map(void);
void stats_unmap(struct stats_page *p);
/* In the child about to exec a new master: pass the page on to it, as a
 * descriptor numbered at least min_fd (named by HERD_STATS_FD). */
int stats_pass_on(int min_fd);

/* Master: take a free block for a worker about to be forked; NULL if none. */
struct stats_block *stats_claim(struct stats_page *p, int slot, uint32_t generation);
/* Master: count the responses of server index i of the block's generation
 * under name (NULL: with the other servers). */
void stats_name_server(struct stats_page *p, struct stats_block *b, size_t i, const char *name);
/* Master: fold an exited worker's counters into the retired totals and free
 * its block. */
void stats_retire(struct stats_page *p, struct stats_block *b);

static inline void stats_bump(uint64_t *v, uint64_t n)
{
    __atomic_store_n(v, __atomic_load_n(v, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void stats_add(struct stats_block *b, enum stats_counter k, uint64_t n)
{
    stats_bump(&b->c[k], n);
}

static inline void stats_sub(struct stats_block *b, enum stats_counter k, uint64_t n)
{
    stats_bump(&b->c[k], -n);
}

static inline uint64_t stats_get(const struct stats_block *b, enum stats_counter k)
{
    return __atomic_load_n(&b->c[k], __ATOMIC_RELAXED);
}

/* A response with this status from server index i of the worker's
 * generation: one add. */
static inline void stats_response(struct stats_block *b, size_t i, int status)
{
    unsigned cls = (unsigned)status / 100u - 1u;
    if (cls >= STATS_CLASSES)
        return;
    stats_bump(&b->responses[i < STATS_SERVER_MAP ? b->server[i] : STATS_OTHER][cls], 1);
}

bool stats_is_gauge(enum stats_counter k);
const char *stats_counter_name(enum stats_counter k);
/* "1xx" .. "5xx" */
const char *stats_class_name(int cls);

/* A consistent reading of the page (heap-allocated: it is large). */
struct stats_worker {
    pid_t pid;
    int slot;
    uint32_t generation;
    int64_t started;
    struct stats_sum sum;
};

struct stats_server {
    char name[STATS_NAME];      /* "" for the other servers */
    uint64_t responses[STATS_CLASSES];
};

struct stats_snapshot {
    uint32_t generation;
    int64_t started;
    struct stats_sum total;
    bool seen[STATS_SLOTS];
    struct stats_sum slot[STATS_SLOTS];
    size_t n_servers;
    struct stats_server server[STATS_SERVERS + 1];
    size_t n_workers;
    struct stats_worker worker[STATS_BLOCKS];
};

/* NULL when out of memory; free() the result. */
struct stats_snapshot *stats_snapshot(const struct stats_page *p);

#endif
