/* The upstream balancer (balance.h): smooth weighted round robin,
 * least_conn, a consistent hash ring and random_two over the servers that
 * can take a connection, backups after the primaries, max_connections and
 * passive health. */
#include "balance.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "upstream_health.h"

/* Virtual points of the hash ring per unit of weight, and the most points
 * a ring may have (large pools get fewer per unit). */
#define BALANCE_POINTS_PER_WEIGHT 160
#define BALANCE_RING_MAX (160 * 256)

struct balance_server {
    const struct upstream_server_config *cfg;
    int64_t current;            /* smooth round robin's running weight */
    uint32_t active;            /* connections open (or opening) */
    uint32_t idle;              /* kept idle (balance_idle) */
    /* Passive and active health and the shared counters: the health
     * page's entry, or without one an entry of this process's own. */
    struct upstream_health *h;
};

struct ring_point {
    uint32_t hash;
    uint16_t server;
};

/* The ring of one tier (primary or backup servers). */
struct ring {
    struct ring_point *v;
    size_t n;
};

struct balancer {
    const struct upstream_config *cfg;
    struct balance_server *servers;
    struct upstream_health *own;    /* entries for servers the page has none for */
    size_t n;
    struct ring rings[2];       /* [0] primary, [1] backup; balance = "hash" only */
    uint64_t rng;               /* random_two */
    int refs;                   /* balance_ref's */
    struct balancer *next;      /* balance_ref's list */
};

/* ------------------------------------------------------------------ */
/* Hashing */

uint32_t balance_hash(const void *p, size_t n)
{
    /* FNV-1a, then murmur3's finaliser so that near keys spread apart. */
    const unsigned char *s = p;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static int point_cmp(const void *a, const void *b)
{
    const struct ring_point *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return (int)x->server - (int)y->server;
}

/* The points of the servers of one tier. A point's place depends on the
 * server's address and the point's number only, so that the other
 * servers' points stay put when one is added or removed. */
static int ring_build(struct balancer *b, struct ring *r, bool backup)
{
    int64_t total = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->servers[i].cfg->backup == backup)
            total += b->servers[i].cfg->weight;
    if (total == 0)
        return 0;
    int64_t per = BALANCE_POINTS_PER_WEIGHT;
    if (total * per > BALANCE_RING_MAX)
        per = BALANCE_RING_MAX / total > 0 ? BALANCE_RING_MAX / total : 1;
    r->v = calloc((size_t)(total * per), sizeof *r->v);
    if (r->v == NULL)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        const struct upstream_server_config *s = b->servers[i].cfg;
        if (s->backup != backup)
            continue;
        for (int64_t k = 0; k < s->weight * per; k++) {
            char name[UPSTREAM_ADDR_TEXT + 24];
            size_t len = (size_t)snprintf(name, sizeof name, "%s#%lld", s->addr.text,
                                          (long long)k);
            r->v[r->n].hash = balance_hash(name, len < sizeof name ? len : sizeof name - 1);
            r->v[r->n].server = (uint16_t)i;
            r->n++;
        }
    }
    qsort(r->v, r->n, sizeof *r->v, point_cmp);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Building */

struct balancer *balance_new(const struct upstream_config *u)
{
    if (u->n_servers == 0 || u->n_servers > BALANCE_MAX_SERVERS)
        return NULL;
    struct balancer *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->cfg = u;
    b->n = u->n_servers;
    b->servers = calloc(b->n, sizeof *b->servers);
    b->own = calloc(b->n, sizeof *b->own);
    if (b->servers == NULL || b->own == NULL)
        goto fail;
    for (size_t i = 0; i < b->n; i++) {
        struct balance_server *s = &b->servers[i];
        s->cfg = &u->servers[i];
        s->h = upstream_health_find(u->name, s->cfg->addr.text);
        if (s->h == NULL)
            s->h = &b->own[i];
    }
    if (u->balance == UPSTREAM_HASH &&
        (ring_build(b, &b->rings[0], false) < 0 || ring_build(b, &b->rings[1], true) < 0))
        goto fail;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    balance_seed(b, (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)b);
    return b;
fail:
    balance_free(b);
    return NULL;
}

void balance_free(struct balancer *b)
{
    if (b == NULL)
        return;
    free(b->rings[0].v);
    free(b->rings[1].v);
    /* What this process still holds leaves the shared gauges with it. */
    for (size_t i = 0; b->servers && i < b->n; i++) {
        if (b->servers[i].h == NULL)
            break;
        upstream_health_gauge(&b->servers[i].h->active, -(int64_t)b->servers[i].active);
        upstream_health_gauge(&b->servers[i].h->idle, -(int64_t)b->servers[i].idle);
    }
    free(b->servers);
    free(b->own);
    free(b);
}

/* One process is one worker: a plain list is the per-worker registry. */
static struct balancer *shared;

struct balancer *balance_ref(const struct upstream_config *u)
{
    for (struct balancer *b = shared; b; b = b->next)
        if (b->cfg == u) {
            b->refs++;
            return b;
        }
    struct balancer *b = balance_new(u);
    if (b == NULL)
        return NULL;
    b->refs = 1;
    b->next = shared;
    shared = b;
    return b;
}

void balance_unref(struct balancer *b)
{
    if (b == NULL || --b->refs > 0)
        return;
    for (struct balancer **p = &shared; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    balance_free(b);
}

void balance_seed(struct balancer *b, uint64_t seed)
{
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t next_random(struct balancer *b)
{
    /* xorshift64* */
    uint64_t x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* ------------------------------------------------------------------ */
/* Choosing */

/* Can server i of the tier take a new connection now? */
static bool usable(const struct balancer *b, size_t i, bool backup,
                   const struct balance_tried *tried, int64_t now)
{
    const struct balance_server *s = &b->servers[i];
    if (s->cfg->backup != backup)
        return false;
    if (tried && balance_tried_has(tried, i))
        return false;
    if (upstream_health_is_down(s->h, now))
        return false;
    return b->cfg->max_connections == 0 || s->active < (uint64_t)b->cfg->max_connections;
}

/* a is less loaded than b for their weights: a.active/a.weight < b's. */
static int load_cmp(const struct balance_server *a, const struct balance_server *b)
{
    uint64_t x = (uint64_t)a->active * (uint64_t)b->cfg->weight;
    uint64_t y = (uint64_t)b->active * (uint64_t)a->cfg->weight;
    return x < y ? -1 : x > y;
}

/* Smooth weighted round robin over the usable servers of the tier; with
 * least set, over those as loaded as `least` only. */
static int pick_smooth(struct balancer *b, bool backup, const struct balance_tried *tried,
                       int64_t now, const struct balance_server *least)
{
    int64_t total = 0;
    int best = -1;
    for (size_t i = 0; i < b->n; i++) {
        struct balance_server *s = &b->servers[i];
        if (!usable(b, i, backup, tried, now) || (least && load_cmp(s, least) != 0))
            continue;
        s->current += s->cfg->weight;
        total += s->cfg->weight;
        if (best < 0 || s->current > b->servers[best].current)
            best = (int)i;
    }
    if (best >= 0)
        b->servers[best].current -= total;
    return best;
}

static int pick_least(struct balancer *b, bool backup, const struct balance_tried *tried,
                      int64_t now)
{
    const struct balance_server *least = NULL;
    for (size_t i = 0; i < b->n; i++)
        if (usable(b, i, backup, tried, now) &&
            (least == NULL || load_cmp(&b->servers[i], least) < 0))
            least = &b->servers[i];
    return least ? pick_smooth(b, backup, tried, now, least) : -1;
}

static int pick_hash(struct balancer *b, bool backup, uint32_t key,
                     const struct balance_tried *tried, int64_t now)
{
    const struct ring *r = &b->rings[backup];
    if (r->n == 0)
        return -1;
    /* The first point at or after the key, then on round the ring. */
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->v[mid].hash < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = 0; k < r->n; k++) {
        size_t i = r->v[(lo + k) % r->n].server;
        if (usable(b, i, backup, tried, now))
            return (int)i;
    }
    return -1;
}

/* One of the usable servers of the tier at random, by weight; not `except`. */
static int pick_weighted_random(struct balancer *b, bool backup,
                                const struct balance_tried *tried, int64_t now, int except)
{
    int64_t total = 0;
    for (size_t i = 0; i < b->n; i++)
        if ((int)i != except && usable(b, i, backup, tried, now))
            total += b->servers[i].cfg->weight;
    if (total == 0)
        return -1;
    int64_t r = (int64_t)(next_random(b) % (uint64_t)total);
    for (size_t i = 0; i < b->n; i++) {
        if ((int)i == except || !usable(b, i, backup, tried, now))
            continue;
        r -= b->servers[i].cfg->weight;
        if (r < 0)
            return (int)i;
    }
    return -1;
}

static int pick_random_two(struct balancer *b, bool backup, const struct balance_tried *tried,
                           int64_t now)
{
    int x = pick_weighted_random(b, backup, tried, now, -1);
    if (x < 0)
        return -1;
    int y = pick_weighted_random(b, backup, tried, now, x);
    if (y < 0)
        return x;
    return load_cmp(&b->servers[y], &b->servers[x]) < 0 ? y : x;
}

static int pick_tier(struct balancer *b, bool backup, uint32_t key,
                     const struct balance_tried *tried, int64_t now)
{
    switch (b->cfg->balance) {
    case UPSTREAM_LEAST_CONN:
        return pick_least(b, backup, tried, now);
    case UPSTREAM_HASH:
        return pick_hash(b, backup, key, tried, now);
    case UPSTREAM_RANDOM_TWO:
        return pick_random_two(b, backup, tried, now);
    default:
        return pick_smooth(b, backup, tried, now, NULL);
    }
}

int balance_pick(struct balancer *b, uint32_t key, const struct balance_tried *tried,
                 int64_t now)
{
    int i = pick_tier(b, false, key, tried, now);
    return i >= 0 ? i : pick_tier(b, true, key, tried, now);
}

/* ------------------------------------------------------------------ */
/* Counting and health */

void balance_opened(struct balancer *b, int i)
{
    struct balance_server *s = &b->servers[i];
    s->active++;
    upstream_health_gauge(&s->h->active, 1);
    upstream_health_add(&s->h->requests, 1);
}

void balance_closed(struct balancer *b, int i)
{
    struct balance_server *s = &b->servers[i];
    if (s->active == 0)
        return;
    s->active--;
    upstream_health_gauge(&s->h->active, -1);
}

void balance_idle(struct balancer *b, int i, int delta)
{
    struct balance_server *s = &b->servers[i];
    if (delta < 0 && s->idle < (uint32_t)-delta)
        delta = -(int)s->idle;
    s->idle = (uint32_t)((int64_t)s->idle + delta);
    upstream_health_gauge(&s->h->idle, delta);
}

void balance_timed(struct balancer *b, int i, int64_t ms)
{
    struct upstream_health *h = b->servers[i].h;
    upstream_health_add(&h->response_ms, ms > 0 ? (uint64_t)ms : 0);
    upstream_health_add(&h->responses, 1);
}

void balance_report(struct balancer *b, int i, bool ok, int64_t now)
{
    upstream_health_report(b->servers[i].h, ok, b->cfg->max_fails, b->cfg->fail_timeout, now);
}

const struct upstream_config *balance_upstream(const struct balancer *b)
{
    return b->cfg;
}

size_t balance_servers(const struct balancer *b)
{
    return b->n;
}

const char *balance_server_name(const struct balancer *b, int i)
{
    return b->servers[i].cfg->addr.text;
}

uint32_t balance_active(const struct balancer *b, int i)
{
    return b->servers[i].active;
}

bool balance_is_down(const struct balancer *b, int i, int64_t now)
{
    return upstream_health_is_down(b->servers[i].h, now);
}

bool balance_shared(const struct balancer *b, int i)
{
    return b->servers[i].h != &b->own[i];
}
