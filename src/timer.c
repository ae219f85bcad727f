#include "timer.h"

#include <stdlib.h>

void timer_init(struct timer *t, timer_fn *fn)
{
    t->when = 0;
    t->slot = 0;
    t->fn = fn;
}

int timer_heap_reserve(struct timer_heap *h, size_t n)
{
    if (n <= h->cap)
        return 0;
    struct timer **v = realloc(h->v, n * sizeof *v);
    if (v == NULL)
        return -1;
    h->v = v;
    h->cap = n;
    return 0;
}

void timer_heap_free(struct timer_heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

static void place(struct timer_heap *h, size_t i, struct timer *t)
{
    h->v[i] = t;
    t->slot = i + 1;
}

static void sift_up(struct timer_heap *h, size_t i)
{
    struct timer *t = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->v[parent]->when <= t->when)
            break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct timer_heap *h, size_t i)
{
    struct timer *t = h->v[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->n)
            break;
        if (child + 1 < h->n && h->v[child + 1]->when < h->v[child]->when)
            child++;
        if (t->when <= h->v[child]->when)
            break;
        place(h, i, h->v[child]);
        i = child;
    }
    place(h, i, t);
}

int timer_set(struct timer_heap *h, struct timer *t, int64_t when)
{
    if (timer_armed(t)) {
        int64_t old = t->when;
        t->when = when;
        if (when < old)
            sift_up(h, t->slot - 1);
        else if (when > old)
            sift_down(h, t->slot - 1);
        return 0;
    }
    if (h->n == h->cap && timer_heap_reserve(h, h->cap ? h->cap * 2 : 64) < 0)
        return -1;
    t->when = when;
    place(h, h->n++, t);
    sift_up(h, h->n - 1);
    return 0;
}

void timer_cancel(struct timer_heap *h, struct timer *t)
{
    if (!timer_armed(t))
        return;
    size_t i = t->slot - 1;
    t->slot = 0;
    struct timer *last = h->v[--h->n];
    if (i == h->n)
        return;
    place(h, i, last);
    if (i > 0 && h->v[(i - 1) / 2]->when > last->when)
        sift_up(h, i);
    else
        sift_down(h, i);
}

struct timer *timer_first(const struct timer_heap *h)
{
    return h->n ? h->v[0] : NULL;
}

struct timer *timer_pop_due(struct timer_heap *h, int64_t now)
{
    struct timer *t = timer_first(h);
    if (t == NULL || t->when > now)
        return NULL;
    timer_cancel(h, t);
    return t;
}
