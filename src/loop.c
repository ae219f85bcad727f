#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"

#define LOOP_BATCH 256

struct loop {
    int epfd;
    bool stopping;
    int64_t now;                    /* ms, CLOCK_MONOTONIC */
    time_t wall;
    struct timer_heap timers;
    struct loop_defer *deferred;    /* LIFO is fine: order carries no meaning */
    struct loop_defer *running;     /* the batch run_deferred is working through */
    int batch_pos, batch_len;       /* the batch being dispatched */
    struct epoll_event events[LOOP_BATCH];
};

struct loop *loop_new(size_t timers_hint)
{
    struct loop *loop = calloc(1, sizeof *loop);
    if (loop == NULL)
        return NULL;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0)
        goto fail;
    if (timer_heap_reserve(&loop->timers, timers_hint ? timers_hint : 64) < 0)
        goto fail;
    loop_update_time(loop);
    return loop;
fail:
    if (loop->epfd >= 0)
        close(loop->epfd);
    free(loop);
    return NULL;
}

void loop_free(struct loop *loop)
{
    if (loop == NULL)
        return;
    close(loop->epfd);
    timer_heap_free(&loop->timers);
    free(loop);
}

int loop_add(struct loop *loop, struct loop_io *io, unsigned flags)
{
    struct epoll_event ev = { 0 };
    /* The kernel refuses EPOLLEXCLUSIVE together with anything but IN, OUT,
     * ET and WAKEUP; a shared listener has no peer to hang up anyway. */
    if (flags & LOOP_READ)
        ev.events |= EPOLLIN | (flags & LOOP_EXCLUSIVE ? 0 : EPOLLRDHUP);
    if (flags & LOOP_WRITE)
        ev.events |= EPOLLOUT;
    if (flags & LOOP_EDGE)
        ev.events |= EPOLLET;
    if (flags & LOOP_EXCLUSIVE)
        ev.events |= EPOLLEXCLUSIVE;
    ev.data.ptr = io;
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev);
}

void loop_forget(struct loop *loop, struct loop_io *io)
{
    /* An io freed while its batch is dispatched must not get the events
     * still queued for it in that batch. */
    for (int i = loop->batch_pos + 1; i < loop->batch_len; i++)
        if (loop->events[i].data.ptr == io)
            loop->events[i].data.ptr = NULL;
}

int loop_del(struct loop *loop, struct loop_io *io)
{
    loop_forget(loop, io);
    return epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

void loop_update_time(struct loop *loop)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    loop->now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    loop->wall = time(NULL);
}

int64_t loop_now(const struct loop *loop)
{
    return loop->now;
}

time_t loop_wall(const struct loop *loop)
{
    return loop->wall;
}

int loop_timer_at(struct loop *loop, struct timer *t, int64_t when)
{
    return timer_set(&loop->timers, t, when);
}

int loop_timer_after(struct loop *loop, struct timer *t, int64_t ms)
{
    return timer_set(&loop->timers, t, loop->now + ms);
}

void loop_timer_cancel(struct loop *loop, struct timer *t)
{
    timer_cancel(&loop->timers, t);
}

void loop_defer_init(struct loop_defer *d, void (*fn)(struct loop *, struct loop_defer *))
{
    d->next = NULL;
    d->queued = false;
    d->fn = fn;
}

void loop_defer(struct loop *loop, struct loop_defer *d)
{
    if (d->queued)
        return;
    d->queued = true;
    d->next = loop->deferred;
    loop->deferred = d;
}

void loop_stop(struct loop *loop)
{
    loop->stopping = true;
}

static void run_deferred(struct loop *loop)
{
    /* Work deferred while running this batch waits for the next pass, after
     * the loop has polled once more: that is the fairness the list is for.
     * The batch lives in the loop, so a callback may cancel any entry. */
    loop->running = loop->deferred;
    loop->deferred = NULL;
    while (loop->running) {
        struct loop_defer *d = loop->running;
        loop->running = d->next;
        d->queued = false;
        d->next = NULL;
        d->fn(loop, d);
    }
}

static void unlink_from(struct loop_defer **head, struct loop_defer *d)
{
    for (struct loop_defer **pp = head; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            return;
        }
}

void loop_defer_cancel(struct loop *loop, struct loop_defer *d)
{
    if (!d->queued)
        return;
    unlink_from(&loop->deferred, d);
    unlink_from(&loop->running, d);
    d->queued = false;
    d->next = NULL;
}

static void run_timers(struct loop *loop)
{
    struct timer *t;
    while ((t = timer_pop_due(&loop->timers, loop->now)) != NULL)
        t->fn(t);
}

static int poll_timeout(const struct loop *loop)
{
    if (loop->deferred)
        return 0;
    struct timer *t = timer_first(&loop->timers);
    if (t == NULL)
        return -1;
    int64_t wait = t->when - loop->now;
    if (wait <= 0)
        return 0;
    return wait > 60000 ? 60000 : (int)wait;
}

int loop_run(struct loop *loop)
{
    loop->stopping = false;
    while (!loop->stopping) {
        int n = epoll_wait(loop->epfd, loop->events, LOOP_BATCH, poll_timeout(loop));
        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait: %s", strerror(errno));
            return -1;
        }
        loop_update_time(loop);
        loop->batch_len = n;
        for (int i = 0; i < n; i++) {
            struct loop_io *io = loop->events[i].data.ptr;
            uint32_t e = loop->events[i].events;
            loop->batch_pos = i;
            if (io == NULL)
                continue;
            unsigned ev = 0;
            if (e & EPOLLIN)
                ev |= LOOP_READ;
            if (e & EPOLLOUT)
                ev |= LOOP_WRITE;
            if (e & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
                ev |= LOOP_HANGUP | LOOP_READ;
            io->fn(loop, io, ev);
        }
        loop->batch_len = 0;
        run_timers(loop);
        run_deferred(loop);
    }
    return 0;
}
