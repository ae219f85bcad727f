#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "shm_page.h"

_Static_assert(sizeof(struct stats_block) % 64 == 0, "stats blocks fill cache lines");
_Static_assert(STATS_SERVERS < 256, "name indexes fit the block's map");

/* Changes with the layout: a new binary with another layout starts anew. */
#define STATS_MAGIC (0x6865726473746174ULL ^ ((uint64_t)sizeof(struct stats_page) << 8) ^ 2)
#define STATS_FD_ENV "HERD_STATS_FD"
#define NAME_READY 2u
#define NAME_WRITING 1u
/* A reader waits while a fold is under way (folds are rare, one per worker
 * exit, and take microseconds). A master killed in the middle of one leaves
 * the fold counts unequal for good: a reader that has waited this long takes
 * the difference as folds that will never end. */
#define SNAPSHOT_WAIT_MS 500

static const char *const counter_names[STAT_COUNTERS] = {
    "accepted", "handled", "active", "reading", "writing", "idle",
    "requests", "bytes_in", "bytes_out",
};

static const char *const class_names[STATS_CLASSES] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

static int page_fd = -1;        /* the memfd behind the page, for an upgrade */
static uint32_t lost_folds;     /* folds begun that this process saw never end */

bool stats_is_gauge(enum stats_counter k)
{
    return k == STAT_ACTIVE || k == STAT_READING || k == STAT_WRITING || k == STAT_IDLE;
}

const char *stats_counter_name(enum stats_counter k)
{
    return counter_names[k];
}

const char *stats_class_name(int cls)
{
    return cls >= 0 && cls < STATS_CLASSES ? class_names[cls] : "?";
}

static uint64_t load(const uint64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Mapping */

/* The page of the master that started this one by a binary upgrade, if it
 * has the layout of this build. */
static struct stats_page *inherit(void)
{
    int fd;
    bool offered;
    struct stats_page *p = shm_page_inherit(STATS_FD_ENV, sizeof *p, &fd, &offered);
    if (p && (p->magic != STATS_MAGIC || p->size != sizeof *p)) {
        munmap(p, sizeof *p);
        close(fd);
        p = NULL;
    }
    if (p == NULL) {
        if (offered)
            log_warn("the counters passed on by the old master do not fit this binary; "
                     "starting them from zero");
        return NULL;
    }
    page_fd = fd;
    return p;
}

struct stats_page *stats_map(void)
{
    struct stats_page *p = inherit();
    if (p)
        return p;
    /* Without a memfd (an old kernel, a sandbox) the counters just do not
     * survive an upgrade. */
    int fd;
    if ((p = shm_page_create("herd-stats", sizeof *p, &fd)) == NULL)
        return NULL;
    page_fd = fd;
    p->magic = STATS_MAGIC;
    p->size = sizeof *p;
    p->started = time(NULL);
    return p;
}

void stats_unmap(struct stats_page *p)
{
    if (p)
        munmap(p, sizeof *p);
    if (page_fd >= 0)
        close(page_fd);
    page_fd = -1;
}

int stats_pass_on(int min_fd)
{
    return shm_page_pass_on(page_fd, STATS_FD_ENV, min_fd);
}

/* ------------------------------------------------------------------ */
/* Master side */

struct stats_block *stats_claim(struct stats_page *p, int slot, uint32_t generation)
{
    if (slot < 0 || slot >= STATS_SLOTS)
        return NULL;
    for (uint32_t i = 0; i < STATS_BLOCKS; i++) {
        struct stats_block *b = &p->blocks[i];
        int32_t free_block = 0;
        /* Another master (a binary upgrade) may claim at the same time. */
        if (!__atomic_compare_exchange_n(&b->pid, &free_block, -1, false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_RELAXED))
            continue;
        memset(b->c, 0, sizeof b->c);
        memset(b->responses, 0, sizeof b->responses);
        memset(b->server, STATS_OTHER, sizeof b->server);
        b->slot = slot;
        b->generation = generation;
        b->started = time(NULL);
        uint32_t high = __atomic_load_n(&p->high, __ATOMIC_RELAXED);
        while (high < i + 1 &&
               !__atomic_compare_exchange_n(&p->high, &high, i + 1, false, __ATOMIC_RELEASE,
                                            __ATOMIC_RELAXED))
            ;
        __atomic_store_n(&p->slots[slot].seen, 1, __ATOMIC_RELEASE);
        return b;
    }
    return NULL;
}

static int find_name(const struct stats_page *p, const char *name)
{
    for (int i = 0; i < STATS_SERVERS; i++)
        if (__atomic_load_n(&p->names[i].state, __ATOMIC_ACQUIRE) == NAME_READY &&
            strncmp(p->names[i].name, name, STATS_NAME - 1) == 0)
            return i;
    return -1;
}

/* Names are never removed: a server that leaves keeps its series. Two
 * masters adding one name at once may make it twice; readers merge them. */
static int add_name(struct stats_page *p, const char *name)
{
    for (int i = 0; i < STATS_SERVERS; i++) {
        uint32_t free_name = 0;
        if (!__atomic_compare_exchange_n(&p->names[i].state, &free_name, NAME_WRITING, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        snprintf(p->names[i].name, sizeof p->names[i].name, "%s", name);
        __atomic_store_n(&p->names[i].state, NAME_READY, __ATOMIC_RELEASE);
        return i;
    }
    return STATS_OTHER;
}

void stats_name_server(struct stats_page *p, struct stats_block *b, size_t i, const char *name)
{
    if (i >= STATS_SERVER_MAP)
        return;                 /* counted with the other servers */
    int k = name ? find_name(p, name) : STATS_OTHER;
    if (k < 0)
        k = add_name(p, name);
    b->server[i] = (uint8_t)k;
}

/* A fold is bracketed by writes_begun and writes_done so that a reader can
 * tell that it saw none half done (see stats_snapshot). Several masters may
 * fold at once: the retired totals only ever grow by atomic adds. */
static void write_begin(struct stats_page *p)
{
    __atomic_fetch_add(&p->writes_begun, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(struct stats_page *p)
{
    __atomic_fetch_add(&p->writes_done, 1, __ATOMIC_RELEASE);
}

static void fold(struct stats_page *p, const struct stats_block *b)
{
    struct stats_sum *r = &p->slots[b->slot].retired;
    for (int k = 0; k < STAT_COUNTERS; k++)
        if (!stats_is_gauge((enum stats_counter)k))
            __atomic_fetch_add(&r->c[k], load(&b->c[k]), __ATOMIC_RELAXED);
    for (int j = 0; j <= STATS_SERVERS; j++)
        for (int cls = 0; cls < STATS_CLASSES; cls++) {
            uint64_t v = load(&b->responses[j][cls]);
            if (v == 0)
                continue;
            __atomic_fetch_add(&r->responses[cls], v, __ATOMIC_RELAXED);
            __atomic_fetch_add(&p->retired_server[j][cls], v, __ATOMIC_RELAXED);
        }
}

static void clear(struct stats_block *b)
{
    for (int k = 0; k < STAT_COUNTERS; k++)
        __atomic_store_n(&b->c[k], 0, __ATOMIC_RELAXED);
    for (int j = 0; j <= STATS_SERVERS; j++)
        for (int cls = 0; cls < STATS_CLASSES; cls++)
            __atomic_store_n(&b->responses[j][cls], 0, __ATOMIC_RELAXED);
}

void stats_retire(struct stats_page *p, struct stats_block *b)
{
    int32_t pid = __atomic_load_n(&b->pid, __ATOMIC_RELAXED);
    if (pid == 0)
        return;
    write_begin(p);
    if (pid > 0)                /* a claimed block never forked has nothing */
        fold(p, b);
    clear(b);
    __atomic_store_n(&b->pid, 0, __ATOMIC_RELEASE);
    write_end(p);
}

/* ------------------------------------------------------------------ */
/* Readers */

static void add_block(struct stats_snapshot *s, const struct stats_block *b,
                      struct stats_worker *w)
{
    memset(&w->sum, 0, sizeof w->sum);
    for (int k = 0; k < STAT_COUNTERS; k++)
        w->sum.c[k] = load(&b->c[k]);
    for (int j = 0; j <= STATS_SERVERS; j++)
        for (int cls = 0; cls < STATS_CLASSES; cls++) {
            uint64_t v = load(&b->responses[j][cls]);
            w->sum.responses[cls] += v;
            s->server[j].responses[cls] += v;
        }
    struct stats_sum *slot = &s->slot[w->slot];
    for (int k = 0; k < STAT_COUNTERS; k++)
        slot->c[k] += w->sum.c[k];
    for (int cls = 0; cls < STATS_CLASSES; cls++)
        slot->responses[cls] += w->sum.responses[cls];
}

/* One pass over the page; the caller checks that no fold overlapped it. */
static void read_page(const struct stats_page *p, struct stats_snapshot *s)
{
    memset(s->slot, 0, sizeof s->slot);
    memset(s->server, 0, sizeof s->server);
    s->n_workers = 0;
    for (int i = 0; i < STATS_SLOTS; i++) {
        s->seen[i] = __atomic_load_n(&p->slots[i].seen, __ATOMIC_ACQUIRE) != 0;
        for (int k = 0; k < STAT_COUNTERS; k++)
            s->slot[i].c[k] = load(&p->slots[i].retired.c[k]);
        for (int cls = 0; cls < STATS_CLASSES; cls++)
            s->slot[i].responses[cls] = load(&p->slots[i].retired.responses[cls]);
    }
    for (int j = 0; j <= STATS_SERVERS; j++)
        for (int cls = 0; cls < STATS_CLASSES; cls++)
            s->server[j].responses[cls] = load(&p->retired_server[j][cls]);
    uint32_t high = __atomic_load_n(&p->high, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < high && i < STATS_BLOCKS; i++) {
        const struct stats_block *b = &p->blocks[i];
        int32_t pid = __atomic_load_n(&b->pid, __ATOMIC_ACQUIRE);
        if (pid <= 0 || b->slot < 0 || b->slot >= STATS_SLOTS)
            continue;
        struct stats_worker *w = &s->worker[s->n_workers++];
        w->pid = pid;
        w->slot = b->slot;
        w->generation = b->generation;
        w->started = b->started;
        add_block(s, b, w);
    }
}

/* Gather the named servers (merging a name made twice) and the others. */
static void gather_servers(const struct stats_page *p, struct stats_snapshot *s)
{
    struct stats_server other = s->server[STATS_OTHER];
    size_t n = 0;
    for (int j = 0; j < STATS_SERVERS; j++) {
        if (__atomic_load_n(&p->names[j].state, __ATOMIC_ACQUIRE) != NAME_READY)
            continue;
        const char *name = p->names[j].name;
        struct stats_server *into = NULL;
        for (size_t k = 0; k < n && into == NULL; k++)
            if (strcmp(s->server[k].name, name) == 0)
                into = &s->server[k];
        uint64_t r[STATS_CLASSES];
        memcpy(r, s->server[j].responses, sizeof r);
        if (into == NULL) {
            into = &s->server[n++];     /* n <= j: entry j is read already */
            snprintf(into->name, sizeof into->name, "%s", name);
            memset(into->responses, 0, sizeof into->responses);
        }
        for (int cls = 0; cls < STATS_CLASSES; cls++)
            into->responses[cls] += r[cls];
    }
    uint64_t any = 0;
    for (int cls = 0; cls < STATS_CLASSES; cls++)
        any |= other.responses[cls];
    if (any) {
        other.name[0] = '\0';
        s->server[n++] = other;
    }
    s->n_servers = n;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct stats_snapshot *stats_snapshot(const struct stats_page *p)
{
    struct stats_snapshot *s = malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    /* Like a sequence lock with several writers: no fold may be under way
     * when the pass starts (begun == done) nor start during it (begun has
     * not moved). A fold seen half done would count a block twice (folded
     * and still live) or not at all, and a counter would jump. */
    bool consistent = false;
    int64_t deadline = now_ms() + SNAPSHOT_WAIT_MS;
    while (!consistent) {
        uint32_t done = __atomic_load_n(&p->writes_done, __ATOMIC_ACQUIRE);
        uint32_t begun = __atomic_load_n(&p->writes_begun, __ATOMIC_ACQUIRE);
        bool late = now_ms() > deadline;
        if (begun - done != lost_folds) {
            if (!late) {
                sched_yield();
                continue;
            }
            lost_folds = begun - done;
        }
        read_page(p, s);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        consistent = __atomic_load_n(&p->writes_begun, __ATOMIC_RELAXED) == begun;
        if (late)
            break;              /* better a reading than none */
    }
    s->generation = __atomic_load_n(&p->generation, __ATOMIC_RELAXED);
    s->started = p->started;
    gather_servers(p, s);
    memset(&s->total, 0, sizeof s->total);
    for (int i = 0; i < STATS_SLOTS; i++) {
        for (int k = 0; k < STAT_COUNTERS; k++)
            s->total.c[k] += s->slot[i].c[k];
        for (int cls = 0; cls < STATS_CLASSES; cls++)
            s->total.responses[cls] += s->slot[i].responses[cls];
    }
    return s;
}
