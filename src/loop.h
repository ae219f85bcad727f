/* One event loop per process: edge-triggered epoll for descriptors, a timer
 * heap for deadlines, and a list of deferred work that runs before the loop
 * sleeps again (connections that stopped reading early, for fairness or
 * back-pressure, come back through it). Only loop.c includes sys/epoll.h. */
#ifndef HERD_LOOP_H
#define HERD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "timer.h"

struct loop;
struct loop_io;

/* Event bits handed to an io callback. */
enum {
    LOOP_READ = 1u << 0,
    LOOP_WRITE = 1u << 1,
    LOOP_HANGUP = 1u << 2,      /* peer closed or error: read to find out */
};

/* Registration flags. */
enum {
    LOOP_EDGE = 1u << 8,        /* edge-triggered */
    LOOP_EXCLUSIVE = 1u << 9,   /* wake one of the processes sharing the fd */
};

typedef void loop_io_fn(struct loop *loop, struct loop_io *io, unsigned events);

struct loop_io {
    int fd;
    loop_io_fn *fn;
};

struct loop_defer {
    struct loop_defer *next;
    bool queued;
    void (*fn)(struct loop *loop, struct loop_defer *d);
};

struct loop *loop_new(size_t timers_hint);
void loop_free(struct loop *loop);

/* Watch io->fd for `flags` (LOOP_READ|LOOP_WRITE|LOOP_EDGE|LOOP_EXCLUSIVE). */
int loop_add(struct loop *loop, struct loop_io *io, unsigned flags);
/* Stop watching io->fd. Events of the current batch not yet dispatched to
 * io are dropped, so io may be freed right after. */
int loop_del(struct loop *loop, struct loop_io *io);
/* Drop pending events of io without epoll_ctl (its fd is about to be
 * closed, which removes it from epoll). */
void loop_forget(struct loop *loop, struct loop_io *io);

/* Milliseconds on CLOCK_MONOTONIC and the wall clock, read once per loop
 * iteration (and by loop_update_time). */
int64_t loop_now(const struct loop *loop);
time_t loop_wall(const struct loop *loop);
void loop_update_time(struct loop *loop);

/* Arm t to fire `ms` from now (re-arming moves it); cancel disarms. */
int loop_timer_after(struct loop *loop, struct timer *t, int64_t ms);
int loop_timer_at(struct loop *loop, struct timer *t, int64_t when);
void loop_timer_cancel(struct loop *loop, struct timer *t);

/* Run d->fn once before the loop next sleeps (idempotent while queued). */
void loop_defer(struct loop *loop, struct loop_defer *d);
void loop_defer_init(struct loop_defer *d, void (*fn)(struct loop *, struct loop_defer *));
/* Take d off the list (before freeing or reusing what holds it). */
void loop_defer_cancel(struct loop *loop, struct loop_defer *d);

/* Run until loop_stop(). Returns 0, or -1 if epoll_wait fails. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);

#endif
