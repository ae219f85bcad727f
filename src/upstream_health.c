/* The shared page of upstream servers' health (upstream_health.h). */
#include "upstream_health.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "shm_page.h"

_Static_assert(sizeof(struct upstream_health) % 64 == 0, "entries fill cache lines");

/* Changes with the layout: a new binary with another layout starts anew. */
#define HEALTH_MAGIC (0x6865726468656c74ULL ^ ((uint64_t)sizeof(struct upstream_health_page) << 8))
#define HEALTH_FD_ENV "HERD_HEALTH_FD"
#define ENTRY_WRITING 1u
#define ENTRY_READY 2u

static struct upstream_health_page *page;   /* this process's, inherited by workers */
static int page_fd = -1;                    /* the memfd behind it, for an upgrade */
static bool full_logged;

/* ------------------------------------------------------------------ */
/* Mapping */

/* The page of the master that started this one by a binary upgrade. */
static struct upstream_health_page *inherit(void)
{
    int fd;
    bool offered;
    struct upstream_health_page *p = shm_page_inherit(HEALTH_FD_ENV, sizeof *p, &fd, &offered);
    if (p && (p->magic != HEALTH_MAGIC || p->size != sizeof *p)) {
        munmap(p, sizeof *p);
        close(fd);
        p = NULL;
    }
    if (p == NULL) {
        if (offered)
            log_warn("the upstream health passed on by the old master does not fit this "
                     "binary; starting it anew");
        return NULL;
    }
    page_fd = fd;
    return p;
}

struct upstream_health_page *upstream_health_map(void)
{
    if (page)
        return page;
    page = inherit();
    if (page)
        return page;
    /* Without a memfd (a sandbox) the page works but does not survive an
     * upgrade. */
    int fd;
    if ((page = shm_page_create("herd-upstream-health", sizeof *page, &fd)) == NULL) {
        log_warn("cannot map the upstream health page: %s; passive health stays per worker",
                 strerror(errno));
        return NULL;
    }
    page_fd = fd;
    page->magic = HEALTH_MAGIC;
    page->size = sizeof *page;
    return page;
}

void upstream_health_unmap(void)
{
    if (page)
        munmap(page, sizeof *page);
    if (page_fd >= 0)
        close(page_fd);
    page = NULL;
    page_fd = -1;
}

int upstream_health_pass_on(int min_fd)
{
    return shm_page_pass_on(page_fd, HEALTH_FD_ENV, min_fd);
}

struct upstream_health_page *upstream_health_page(void)
{
    return page;
}

void upstream_health_use(struct upstream_health_page *p)
{
    page = p;
}

/* ------------------------------------------------------------------ */
/* Entries */

static bool is(const struct upstream_health *h, const char *upstream, const char *server)
{
    return __atomic_load_n(&h->used, __ATOMIC_ACQUIRE) == ENTRY_READY &&
           strcmp(h->upstream, upstream) == 0 && strcmp(h->server, server) == 0;
}

struct upstream_health *upstream_health_find(const char *upstream, const char *server)
{
    if (page == NULL)
        return NULL;
    for (size_t i = 0; i < UPSTREAM_HEALTH_ENTRIES; i++)
        if (is(&page->e[i], upstream, server))
            return &page->e[i];
    return NULL;
}

static void fill(struct upstream_health *h, const char *upstream, const char *server)
{
    memset((char *)h + offsetof(struct upstream_health, lock), 0,
           sizeof *h - offsetof(struct upstream_health, lock));
    snprintf(h->upstream, sizeof h->upstream, "%s", upstream);
    snprintf(h->server, sizeof h->server, "%s", server);
    __atomic_store_n(&h->used, ENTRY_READY, __ATOMIC_RELEASE);
}

/* Is h one of cfg's servers? */
static bool in_config(const struct herd_config *cfg, const struct upstream_health *h)
{
    for (size_t i = 0; i < cfg->n_upstreams; i++)
        for (size_t j = 0; j < cfg->upstreams[i].n_servers; j++)
            if (is(h, cfg->upstreams[i].name, cfg->upstreams[i].servers[j].addr.text))
                return true;
    return false;
}

/* A free entry, or else one that neither the serving configuration nor
 * cfg has (a server removed by an earlier reload; a worker still draining
 * on it would count into the new one, which only blurs a counter).
 * Another master (an upgrade) may take entries at the same time: claims
 * are atomic. */
static struct upstream_health *claim(const struct herd_config *cfg, const char *upstream,
                                     const char *server)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < UPSTREAM_HEALTH_ENTRIES; i++) {
            struct upstream_health *h = &page->e[i];
            uint32_t want = pass == 0 ? 0 : ENTRY_READY;
            if (pass == 1 &&
                (__atomic_load_n(&h->listed, __ATOMIC_RELAXED) || in_config(cfg, h)))
                continue;
            if (!__atomic_compare_exchange_n(&h->used, &want, ENTRY_WRITING, false,
                                             __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
                continue;
            fill(h, upstream, server);
            return h;
        }
    return NULL;
}

void upstream_health_register(const struct herd_config *cfg)
{
    if (page == NULL)
        return;
    for (size_t i = 0; i < cfg->n_upstreams; i++) {
        const struct upstream_config *u = &cfg->upstreams[i];
        if (strlen(u->name) >= UPSTREAM_HEALTH_NAME)
            continue;           /* kept per worker: documented */
        for (size_t j = 0; j < u->n_servers; j++) {
            const char *s = u->servers[j].addr.text;
            if (upstream_health_find(u->name, s) || claim(cfg, u->name, s))
                continue;
            if (!full_logged)
                log_warn("upstream '%s': no room left for server %s in the shared health "
                         "table (%d entries); its health is kept per worker", u->name, s,
                         UPSTREAM_HEALTH_ENTRIES);
            full_logged = true;
        }
    }
}

void upstream_health_list(const struct herd_config *cfg)
{
    if (page == NULL)
        return;
    for (size_t i = 0; i < UPSTREAM_HEALTH_ENTRIES; i++)
        __atomic_store_n(&page->e[i].listed, 0, __ATOMIC_RELAXED);
    for (size_t i = 0; i < cfg->n_upstreams; i++) {
        const struct upstream_config *u = &cfg->upstreams[i];
        for (size_t j = 0; j < u->n_servers; j++) {
            struct upstream_health *h = upstream_health_find(u->name, u->servers[j].addr.text);
            if (h)
                __atomic_store_n(&h->listed, 1, __ATOMIC_RELAXED);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Passive health */

static void lock(struct upstream_health *h)
{
    while (__atomic_exchange_n(&h->lock, 1, __ATOMIC_ACQUIRE))
        sched_yield();          /* held for a few instructions only */
}

static void unlock(struct upstream_health *h)
{
    __atomic_store_n(&h->lock, 0, __ATOMIC_RELEASE);
}

static int64_t load64(const int64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static void store64(int64_t *v, int64_t x)
{
    __atomic_store_n(v, x, __ATOMIC_RELAXED);
}

void upstream_health_clear(struct upstream_health *h)
{
    lock(h);
    __atomic_store_n(&h->fails, 0, __ATOMIC_RELAXED);
    store64(&h->down_until, 0);
    unlock(h);
}

/* max_fails failures within fail_timeout: down for fail_timeout. Once
 * down (or chosen again after it), one more failure: down again at once. */
static void count_failure(struct upstream_health *h, uint32_t max, int64_t fail_timeout,
                          int64_t now)
{
    uint32_t fails = __atomic_load_n(&h->fails, __ATOMIC_RELAXED);
    if (fails >= max) {
        store64(&h->down_until, now + fail_timeout);
        return;
    }
    if (fails == 0 || now - load64(&h->fail_start) >= fail_timeout) {
        fails = 0;
        store64(&h->fail_start, now);
    }
    __atomic_store_n(&h->fails, ++fails, __ATOMIC_RELAXED);
    if (fails >= max)
        store64(&h->down_until, now + fail_timeout);
}

void upstream_health_report(struct upstream_health *h, bool ok, int64_t max_fails,
                            int64_t fail_timeout, int64_t now)
{
    if (ok) {
        /* The common case reads only: nothing to clear. */
        if (__atomic_load_n(&h->fails, __ATOMIC_RELAXED) == 0 && load64(&h->down_until) == 0)
            return;
        upstream_health_clear(h);
        return;
    }
    upstream_health_add(&h->failures, 1);
    if (max_fails == 0)
        return;
    lock(h);
    count_failure(h, (uint32_t)max_fails, fail_timeout, now);
    unlock(h);
}

bool upstream_health_is_down(const struct upstream_health *h, int64_t now)
{
    return load64(&h->down_until) > now ||
           __atomic_load_n(&h->state, __ATOMIC_RELAXED) == UPSTREAM_HEALTH_DOWN;
}

const char *upstream_health_state_name(const struct upstream_health *h, int64_t now)
{
    if (upstream_health_is_down(h, now))
        return "down";
    if (__atomic_load_n(&h->state, __ATOMIC_RELAXED) == UPSTREAM_HEALTH_CHECKING)
        return "checking";
    return "up";
}
