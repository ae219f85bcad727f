/* The limit zone (limit_zone.h): sets of entries under spin locks in one
 * shared mapping. */
#include "limit_zone.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "shm_page.h"

struct limit_entry {
    uint64_t key;               /* 0: free */
    int64_t tat;                /* ns: the theoretical arrival time */
    int64_t touched;            /* ns: last admitted or refused request */
    uint32_t held;              /* requests in flight */
    uint32_t spare;
};

struct limit_set {
    uint32_t lock;              /* 0, or the pid of the process holding it */
    uint32_t spare[7];
    struct limit_entry e[LIMIT_ZONE_WAYS];
};

_Static_assert(sizeof(struct limit_entry) == 32, "entries are 32 bytes");
_Static_assert(sizeof(struct limit_set) == LIMIT_ZONE_SET_BYTES, "a set is 4 cache lines");

struct limit_zone {
    uint64_t magic;
    uint64_t bytes;             /* of the whole mapping */
    uint64_t n_sets;
    uint64_t secret[2];
    uint64_t refusals;
    uint64_t spare[2];
    _Alignas(64) struct limit_set sets[];
};

_Static_assert(sizeof(struct limit_zone) == 64, "the header is one cache line");

/* Changes with the layout: a new binary with another layout starts anew. */
#define ZONE_MAGIC (0x686572646c696d74ULL ^ ((uint64_t)sizeof(struct limit_set) << 8))
#define ZONE_FD_ENV "HERD_LIMIT_ZONE_FD"
/* Spins before yielding the CPU to a lock holder that may be preempted. */
#define SPINS 64

static size_t sets_for(size_t bytes)
{
    size_t n = bytes > sizeof(struct limit_zone)
                   ? (bytes - sizeof(struct limit_zone)) / sizeof(struct limit_set)
                   : 0;
    return n ? n : 1;
}

static size_t mapping_bytes(size_t n_sets)
{
    return sizeof(struct limit_zone) + n_sets * sizeof(struct limit_set);
}

struct limit_zone *limit_zone_create(size_t bytes, int *fd)
{
    size_t n = sets_for(bytes), size = mapping_bytes(n);
    struct limit_zone *z = shm_page_create("herd-limit-zone", size, fd);
    if (z == NULL)
        return NULL;
    if (getrandom(z->secret, sizeof z->secret, 0) != sizeof z->secret) {
        int e = errno;
        limit_zone_destroy(z, *fd);
        errno = e;
        return NULL;
    }
    z->n_sets = n;
    z->bytes = size;
    z->magic = ZONE_MAGIC;
    return z;
}

void limit_zone_destroy(struct limit_zone *z, int fd)
{
    if (z)
        munmap(z, (size_t)z->bytes ? (size_t)z->bytes : sizeof *z);
    if (fd >= 0)
        close(fd);
}

size_t limit_zone_capacity(const struct limit_zone *z)
{
    return (size_t)z->n_sets * LIMIT_ZONE_WAYS;
}

const uint64_t *limit_zone_secret(const struct limit_zone *z)
{
    return z->secret;
}

/* ------------------------------------------------------------------ */
/* Sets and their locks */

static struct limit_set *set_of(struct limit_zone *z, uint64_t key)
{
    return &z->sets[key % z->n_sets];
}

/* A hint to the CPU that this is a spin-wait loop. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

/* This process's pid, the value of the locks it holds, so that the
 * master can free a lock whose holder died (limit_zone_recover). Cached:
 * getpid(2) is a system call; a forked child finds it unset. */
static uint32_t self_pid;

static void forget_pid(void)
{
    self_pid = 0;
}

static uint32_t holder(void)
{
    static bool registered;
    if (self_pid == 0) {
        if (!registered && pthread_atfork(NULL, NULL, forget_pid) == 0)
            registered = true;
        self_pid = (uint32_t)getpid();
    }
    return self_pid;
}

static void lock(struct limit_set *s)
{
    uint32_t me = holder();
    for (unsigned spins = 0;; spins++) {
        uint32_t free_lock = 0;
        if (__atomic_load_n(&s->lock, __ATOMIC_RELAXED) == 0 &&
            __atomic_compare_exchange_n(&s->lock, &free_lock, me, false, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED))
            return;
        if (spins >= SPINS) {
            /* The holder is off the CPU (two cores, many processes): let
             * it run. Waiting, not holding: no lock is held here. */
            sched_yield();
            spins = 0;
        } else {
            cpu_relax();
        }
    }
}

static void unlock(struct limit_set *s)
{
    __atomic_store_n(&s->lock, 0, __ATOMIC_RELEASE);
}

static struct limit_entry *find(struct limit_set *s, uint64_t key)
{
    for (int i = 0; i < LIMIT_ZONE_WAYS; i++)
        if (s->e[i].key == key)
            return &s->e[i];
    return NULL;
}

/* The entry for a new key: a free one, else the least recently used one
 * that holds no request in flight (its count is forgotten), else NULL. */
static struct limit_entry *take(struct limit_set *s, uint64_t key)
{
    struct limit_entry *victim = NULL;
    for (int i = 0; i < LIMIT_ZONE_WAYS; i++) {
        struct limit_entry *e = &s->e[i];
        if (e->key == 0) {
            victim = e;
            break;
        }
        if (e->held == 0 && (victim == NULL || e->touched < victim->touched))
            victim = e;
    }
    if (victim)
        *victim = (struct limit_entry){ .key = key };
    return victim;
}

/* ------------------------------------------------------------------ */
/* Admission */

/* The GCRA step on e: 0 (and tat moved on), or the ns to wait. */
static int64_t rate_step(struct limit_entry *e, const struct limit_rule *rule, int64_t now)
{
    if (rule->interval_ns <= 0)
        return 0;
    int64_t base = e->tat > now ? e->tat : now;
    if (base - now > rule->tolerance_ns)
        return base - now - rule->tolerance_ns;
    e->tat = base + rule->interval_ns;
    return 0;
}

enum limit_verdict limit_zone_admit(struct limit_zone *z, uint64_t key,
                                    const struct limit_rule *rule, int64_t now_ns,
                                    int64_t *wait_ns, bool *held)
{
    key = key ? key : 1;
    *held = false;
    *wait_ns = 0;
    struct limit_set *s = set_of(z, key);
    lock(s);
    struct limit_entry *e = find(s, key);
    if (e == NULL && (e = take(s, key)) == NULL) {
        unlock(s);
        return LIMIT_ADMIT;         /* a set full of requests in flight */
    }
    e->touched = now_ns;
    enum limit_verdict v = LIMIT_ADMIT;
    if (rule->max_held && e->held >= rule->max_held)
        v = LIMIT_OVER_HELD;
    else if ((*wait_ns = rate_step(e, rule, now_ns)) > 0)
        v = LIMIT_OVER_RATE;
    else if (rule->max_held) {
        e->held++;
        *held = true;
    }
    unlock(s);
    return v;
}

void limit_zone_release(struct limit_zone *z, uint64_t key)
{
    key = key ? key : 1;
    struct limit_set *s = set_of(z, key);
    lock(s);
    struct limit_entry *e = find(s, key);
    if (e && e->held > 0)
        e->held--;
    unlock(s);
}

uint32_t limit_zone_held(struct limit_zone *z, uint64_t key)
{
    key = key ? key : 1;
    struct limit_set *s = set_of(z, key);
    lock(s);
    struct limit_entry *e = find(s, key);
    uint32_t n = e ? e->held : 0;
    unlock(s);
    return n;
}

void limit_zone_recover(struct limit_zone *z, pid_t dead)
{
    size_t freed = 0;
    for (uint64_t i = 0; i < z->n_sets; i++) {
        struct limit_set *s = &z->sets[i];
        uint32_t was = (uint32_t)dead;
        /* It died between a lock and its unlock: the set's entries are
         * whole enough (each store is a whole field) to go on with. */
        if (__atomic_compare_exchange_n(&s->lock, &was, 0, false, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED))
            freed++;
        lock(s);
        for (int j = 0; j < LIMIT_ZONE_WAYS; j++)
            s->e[j].held = 0;
        unlock(s);
    }
    if (freed)
        log_warn("limit zone: worker %d died holding %zu lock(s); freed", (int)dead, freed);
}

void limit_zone_count_refusal(struct limit_zone *z)
{
    __atomic_fetch_add(&z->refusals, 1, __ATOMIC_RELAXED);
}

uint64_t limit_zone_refusals(const struct limit_zone *z)
{
    return __atomic_load_n(&z->refusals, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* The master's zone */

static struct limit_zone *zone;     /* this process's, inherited by workers */
static int zone_fd = -1;
static size_t zone_asked;           /* the bytes it was made for */
/* The zone a pending generation's new size replaced, until that
 * generation takes over or fails (limit_zone_settle). */
static struct limit_zone *prev_zone;
static int prev_fd = -1;
static size_t prev_asked;

/* The zone of the master that started this one by a binary upgrade. */
static struct limit_zone *inherit(size_t bytes, int *fd)
{
    bool offered;
    struct limit_zone *z = shm_page_inherit(ZONE_FD_ENV, mapping_bytes(sets_for(bytes)), fd,
                                            &offered);
    if (z && (z->magic != ZONE_MAGIC || z->n_sets != sets_for(bytes))) {
        limit_zone_destroy(z, *fd);
        z = NULL;
    }
    if (z == NULL && offered)
        log_warn("the limit zone passed on by the old master does not fit; starting it anew");
    if (z == NULL)
        *fd = -1;
    return z;
}

struct limit_zone *limit_zone_map(size_t bytes)
{
    if (zone && zone_asked == bytes)
        return zone;
    int fd = -1;
    struct limit_zone *z = inherit(bytes, &fd);
    if (z == NULL && (z = limit_zone_create(bytes, &fd)) == NULL) {
        log_warn("cannot map the limit zone: %s; limits count per worker", strerror(errno));
        return NULL;
    }
    /* Kept until the generation that asked for this one takes over: a
     * failed reload goes back to it, so that a worker the old generation
     * respawns counts with its siblings. (Workers of older generations
     * keep their own mapping of it either way.) */
    limit_zone_destroy(prev_zone, prev_fd);
    prev_zone = zone;
    prev_fd = zone_fd;
    prev_asked = zone_asked;
    zone = z;
    zone_fd = fd;
    zone_asked = bytes;
    return zone;
}

void limit_zone_settle(bool took_over)
{
    if (!took_over && prev_zone) {
        limit_zone_destroy(zone, zone_fd);
        zone = prev_zone;
        zone_fd = prev_fd;
        zone_asked = prev_asked;
    } else {
        limit_zone_destroy(prev_zone, prev_fd);
    }
    prev_zone = NULL;
    prev_fd = -1;
    prev_asked = 0;
}

int limit_zone_pass_on(int min_fd)
{
    return shm_page_pass_on(zone_fd, ZONE_FD_ENV, min_fd);
}

struct limit_zone *limit_zone_mapped(void)
{
    return zone;
}

void limit_zone_worker_died(pid_t pid, size_t bytes)
{
    /* A worker of an older generation may have used an older zone. */
    if (zone == NULL || zone_asked != bytes)
        return;
    limit_zone_recover(zone, pid);
}

struct limit_zone *limit_zone_current(void)
{
    if (zone == NULL) {
        int fd;
        if ((zone = limit_zone_create(LIMIT_ZONE_DEFAULT_BYTES, &fd)) != NULL) {
            zone_asked = LIMIT_ZONE_DEFAULT_BYTES;
            zone_fd = fd;
        }
    }
    return zone;
}
