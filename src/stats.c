#include "stats.h"

#include <string.h>
#include <sys/mman.h>
#include <time.h>

_Static_assert(sizeof(struct stats_block) % 64 == 0, "stats blocks fill cache lines");

static const char *const counter_names[STAT_COUNTERS] = {
    "accepted", "handled", "active", "reading", "writing", "idle",
    "requests", "bytes_in", "bytes_out",
};

/* Gauges describe the present, so an exited worker's values do not add up. */
static bool is_gauge(enum stats_counter k)
{
    return k == STAT_ACTIVE || k == STAT_READING || k == STAT_WRITING || k == STAT_IDLE;
}

struct stats_page *stats_map(void)
{
    void *p = mmap(NULL, sizeof(struct stats_page), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct stats_page *page = p;
    page->started = time(NULL);
    return page;
}

void stats_unmap(struct stats_page *p)
{
    if (p)
        munmap(p, sizeof *p);
}

struct stats_block *stats_claim(struct stats_page *p, int slot, uint32_t generation)
{
    for (size_t i = 0; i < STATS_BLOCKS; i++) {
        struct stats_block *b = &p->blocks[i];
        if (b->pid != 0)
            continue;
        memset(b->c, 0, sizeof b->c);
        b->pid = -1;            /* claimed; the worker's pid is set after fork */
        b->slot = slot;
        b->generation = generation;
        b->started = time(NULL);
        return b;
    }
    return NULL;
}

void stats_retire(struct stats_page *p, struct stats_block *b)
{
    for (int k = 0; k < STAT_COUNTERS; k++)
        if (!is_gauge((enum stats_counter)k))
            p->retired[k] += stats_get(b, (enum stats_counter)k);
    memset(b->c, 0, sizeof b->c);
    b->pid = 0;
}

void stats_total(const struct stats_page *p, uint64_t out[STAT_COUNTERS])
{
    for (int k = 0; k < STAT_COUNTERS; k++)
        out[k] = is_gauge((enum stats_counter)k) ? 0 : p->retired[k];
    for (size_t i = 0; i < STATS_BLOCKS; i++) {
        const struct stats_block *b = &p->blocks[i];
        if (b->pid == 0)
            continue;
        for (int k = 0; k < STAT_COUNTERS; k++)
            out[k] += stats_get(b, (enum stats_counter)k);
    }
}

const char *stats_counter_name(enum stats_counter k)
{
    return counter_names[k];
}
