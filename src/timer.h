/* Deadlines in a binary min-heap: O(log n) arm, re-arm and cancel, O(1) to
 * find the next one. Each timer remembers its heap slot, so cancelling and
 * moving need no search. Times are milliseconds on any monotonic clock. */
#ifndef HERD_TIMER_H
#define HERD_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timer;
typedef void timer_fn(struct timer *t);

struct timer {
    int64_t when;
    size_t slot;            /* heap index + 1; 0 when not armed */
    timer_fn *fn;
};

struct timer_heap {
    struct timer **v;
    size_t n, cap;
};

void timer_init(struct timer *t, timer_fn *fn);
static inline bool timer_armed(const struct timer *t) { return t->slot != 0; }

/* Make room for n timers so that arming never allocates. Returns 0 or -1. */
int timer_heap_reserve(struct timer_heap *h, size_t n);
void timer_heap_free(struct timer_heap *h);

/* Arm t for `when`, or move it there if already armed. Returns 0 or -1
 * (out of memory; t is then not armed). */
int timer_set(struct timer_heap *h, struct timer *t, int64_t when);
void timer_cancel(struct timer_heap *h, struct timer *t);

/* The earliest armed timer, or NULL. */
struct timer *timer_first(const struct timer_heap *h);
/* Disarm and return the earliest timer due at `now`, or NULL. */
struct timer *timer_pop_due(struct timer_heap *h, int64_t now);

#endif
