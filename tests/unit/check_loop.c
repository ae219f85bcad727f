/* The event loop (src/loop.c): descriptors edge- and level-triggered, write
 * and hangup events, io taken away while its batch is dispatched, deferred
 * work and its fairness, timers armed and cancelled from callbacks, stop.
 * (The timer heap and the loop's timer order are in check_timer.)
 *
 * Nothing here waits on the wall clock: a deferred "ticker" makes the loop
 * poll with a zero timeout a known number of times, and every event is
 * caused before the poll that must see it. The few timers are 1-2 ms. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "timer.h"
#include "tap.h"

/* An io that counts what it was told. */
struct probe {
    struct loop_io io;
    int calls;
    unsigned last;
    unsigned all;
};

static void probe_fn(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    struct probe *p = (struct probe *)((char *)io - offsetof(struct probe, io));
    p->calls++;
    p->last = events;
    p->all |= events;
}

/* A non-blocking stream pair: sv[0] is watched, sv[1] is the peer. */
static void pair(int fds[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
}

static void put_byte(int fd)
{
    ck_assert_int_eq(write(fd, "x", 1), 1);
}

static size_t drain(int fd)
{
    char buf[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += (size_t)n;
    return total;
}

/* Let the loop poll exactly `passes` times (each with a zero timeout). */
struct ticker {
    struct loop_defer d;
    int left;
};

static void tick(struct loop *loop, struct loop_defer *d)
{
    struct ticker *t = (struct ticker *)d;
    if (--t->left > 0)
        loop_defer(loop, d);
    else
        loop_stop(loop);
}

static void run_passes(struct loop *loop, int passes)
{
    struct ticker t;
    loop_defer_init(&t.d, tick);
    t.left = passes;
    loop_defer(loop, &t.d);
    ck_assert_int_eq(loop_run(loop), 0);
}

/* Every case gets a loop, and a stream pair whose sv[0] the probe p may
 * watch (sv[1] is the peer). */
static struct loop *lp;
static int sv[2];
static struct probe p;

static void setup(void)
{
    lp = loop_new(0);
    ck_assert_ptr_nonnull(lp);
    pair(sv);
    p = (struct probe){ .io = { sv[0], probe_fn } };
}

static void teardown(void)
{
    loop_free(lp);
    close(sv[0]);
    close(sv[1]);
}

/* ------------------------------------------------------------------ */
/* Descriptors */

/* Edge-triggered: one call per arrival, however long the data stays. */
START_TEST(edge_once_per_arrival)
{
    ck_assert_int_eq(loop_add(lp, &p.io, LOOP_READ | LOOP_EDGE), 0);
    run_passes(lp, 3);
    ck_assert_int_eq(p.calls, 0);
    put_byte(sv[1]);
    run_passes(lp, 5);
    ck_assert_int_eq(p.calls, 1);
    ck_assert_uint_eq(p.last, LOOP_READ);
    put_byte(sv[1]);
    run_passes(lp, 5);
    ck_assert_int_eq(p.calls, 2);
    ck_assert_uint_eq(drain(sv[0]), 2);
}
END_TEST

/* Without LOOP_EDGE: a call on every poll until the data is read. */
START_TEST(level_until_read)
{
    ck_assert_int_eq(loop_add(lp, &p.io, LOOP_READ), 0);
    put_byte(sv[1]);
    run_passes(lp, 4);
    ck_assert_int_eq(p.calls, 4);
    drain(sv[0]);
    run_passes(lp, 3);
    ck_assert_int_eq(p.calls, 4);
}
END_TEST

/* A write-watched socket reports room once, and again after a full buffer
 * was emptied by the peer. */
START_TEST(write_edges)
{
    ck_assert_int_eq(loop_add(lp, &p.io, LOOP_WRITE | LOOP_EDGE), 0);
    run_passes(lp, 3);
    ck_assert_int_eq(p.calls, 1);
    ck_assert_uint_eq(p.last, LOOP_WRITE);
    static char junk[65536];
    while (write(sv[0], junk, sizeof junk) > 0)
        ;
    ck_assert_int_eq(errno, EAGAIN);
    run_passes(lp, 3);
    ck_assert_int_eq(p.calls, 1);
    drain(sv[1]);
    run_passes(lp, 3);
    ck_assert_int_eq(p.calls, 2);
    ck_assert(p.last & LOOP_WRITE);
    ck_assert_uint_eq(p.all & ~(unsigned)LOOP_WRITE, 0);
}
END_TEST

/* The peer's close is a hangup, delivered with READ so that the callback
 * reads and finds the end (after the data sent before it). */
START_TEST(hangup_reads)
{
    ck_assert_int_eq(loop_add(lp, &p.io, LOOP_READ | LOOP_EDGE), 0);
    put_byte(sv[1]);
    close(sv[1]);
    sv[1] = -1;
    run_passes(lp, 2);
    ck_assert_int_eq(p.calls, 1);
    ck_assert_uint_eq(p.last, LOOP_READ | LOOP_HANGUP);
    char c;
    ck_assert_int_eq(read(sv[0], &c, 1), 1);
    ck_assert_int_eq(read(sv[0], &c, 1), 0);
}
END_TEST

/* A socket shared by processes is watched with EPOLLEXCLUSIVE, which the
 * kernel refuses together with anything but IN/OUT/ET. */
START_TEST(exclusive_listener)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    p.io.fd = lfd;
    ck_assert_int_eq(loop_add(lp, &p.io, LOOP_READ | LOOP_EDGE | LOOP_EXCLUSIVE), 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(cfd, (struct sockaddr *)&a, sizeof a), 0);
    run_passes(lp, 2);
    ck_assert_int_eq(p.calls, 1);
    ck_assert_uint_eq(p.last, LOOP_READ);
    close(cfd);
    close(lfd);
}
END_TEST

START_TEST(add_and_del_errors)
{
    struct probe bad = { .io = { -1, probe_fn } };
    ck_assert_int_eq(loop_add(lp, &bad.io, LOOP_READ), -1);
    ck_assert_int_eq(loop_del(lp, &p.io), -1);            /* never added */
    ck_assert_int_eq(loop_add(lp, &p.io, LOOP_READ), 0);
    ck_assert_int_eq(loop_add(lp, &p.io, LOOP_READ), -1); /* twice */
    ck_assert_int_eq(errno, EEXIST);
    ck_assert_int_eq(loop_del(lp, &p.io), 0);
    put_byte(sv[1]);
    run_passes(lp, 2);
    ck_assert_int_eq(p.calls, 0);                           /* no longer watched */
}
END_TEST

/* ------------------------------------------------------------------ */
/* Taking an io away while its batch is dispatched */

struct victim_pair {
    struct probe *p[2];
    int fd_peer[2];
    int ran;
    bool forget;                    /* loop_forget + close instead of loop_del */
};

static struct victim_pair vp;

/* Whichever of the two runs first frees the other, whose event is still
 * queued in the same batch. */
static void killer_fn(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)events;
    vp.ran++;
    int me = io == &vp.p[0]->io ? 0 : 1;
    struct probe *other = vp.p[1 - me];
    if (other == NULL)
        return;
    if (vp.forget) {
        loop_forget(loop, &other->io);
        close(other->io.fd);
    } else {
        ck_assert_int_eq(loop_del(loop, &other->io), 0);
        close(other->io.fd);
    }
    free(other);                    /* a later dispatch to it is a use after free */
    vp.p[1 - me] = NULL;
}

static void removed_during_batch(bool forget)
{
    memset(&vp, 0, sizeof vp);
    vp.forget = forget;
    for (int i = 0; i < 2; i++) {
        int two[2];
        pair(two);
        vp.p[i] = calloc(1, sizeof *vp.p[i]);
        vp.p[i]->io.fd = two[0];
        vp.p[i]->io.fn = killer_fn;
        vp.fd_peer[i] = two[1];
        ck_assert_int_eq(loop_add(lp, &vp.p[i]->io, LOOP_READ | LOOP_EDGE), 0);
    }
    /* Both ready before the poll: one batch holds both events. */
    put_byte(vp.fd_peer[0]);
    put_byte(vp.fd_peer[1]);
    run_passes(lp, 3);
    ck_assert_int_eq(vp.ran, 1);
    for (int i = 0; i < 2; i++) {
        if (vp.p[i]) {
            close(vp.p[i]->io.fd);
            free(vp.p[i]);
        }
        close(vp.fd_peer[i]);
    }
}

START_TEST(del_during_batch)
{
    removed_during_batch(false);
}
END_TEST

START_TEST(forget_during_batch)
{
    removed_during_batch(true);
}
END_TEST

/* Outside a batch, loop_forget drops nothing: the io stays watched. */
START_TEST(forget_outside_batch_keeps_watching)
{
    ck_assert_int_eq(loop_add(lp, &p.io, LOOP_READ | LOOP_EDGE), 0);
    put_byte(sv[1]);
    run_passes(lp, 1);
    ck_assert_int_eq(p.calls, 1);
    loop_forget(lp, &p.io);
    put_byte(sv[1]);
    run_passes(lp, 1);
    ck_assert_int_eq(p.calls, 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Deferred work and stop */

static char order[16];
static size_t n_order;
static int fair_peer;
static struct loop_defer fair_second;

static void note_io(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    (void)io;
    (void)events;
    order[n_order++] = 'i';
}

static void fair_second_fn(struct loop *loop, struct loop_defer *d)
{
    (void)d;
    order[n_order++] = '2';
    loop_stop(loop);
}

static void fair_first_fn(struct loop *loop, struct loop_defer *d)
{
    (void)d;
    order[n_order++] = '1';
    put_byte(fair_peer);                /* an event for the next poll */
    loop_defer(loop, &fair_second);
}

/* Work deferred while deferred work runs waits until the loop has polled
 * again: a connection that keeps deferring cannot starve the others. */
START_TEST(deferred_after_next_poll)
{
    fair_peer = sv[1];
    struct loop_io io = { sv[0], note_io };
    ck_assert_int_eq(loop_add(lp, &io, LOOP_READ | LOOP_EDGE), 0);
    struct loop_defer first;
    loop_defer_init(&first, fair_first_fn);
    loop_defer_init(&fair_second, fair_second_fn);
    n_order = 0;
    loop_defer(lp, &first);
    ck_assert_int_eq(loop_run(lp), 0);
    order[n_order] = '\0';
    ck_assert_str_eq(order, "1i2");
}
END_TEST

static struct loop_defer stop_defer;
static int stop_defer_runs;

static void count_defer(struct loop *loop, struct loop_defer *d)
{
    (void)loop;
    (void)d;
    stop_defer_runs++;
}

static void stop_from_io(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)events;
    drain(io->fd);
    loop_stop(loop);
    loop_defer(loop, &stop_defer);
}

/* loop_stop ends loop_run after the current iteration, whose deferred work
 * still runs; loop_run may be called again. */
START_TEST(stop_finishes_iteration)
{
    struct loop_io io = { sv[0], stop_from_io };
    ck_assert_int_eq(loop_add(lp, &io, LOOP_READ | LOOP_EDGE), 0);
    loop_defer_init(&stop_defer, count_defer);
    put_byte(sv[1]);
    ck_assert_int_eq(loop_run(lp), 0);
    ck_assert_int_eq(stop_defer_runs, 1);
    put_byte(sv[1]);
    ck_assert_int_eq(loop_run(lp), 0);
    ck_assert_int_eq(stop_defer_runs, 2);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Timers from callbacks */

static int fired[2];
static struct timer pair_t[2];

static void rearm_fn(struct timer *t)
{
    if (++fired[0] < 3)
        ck_assert_int_eq(loop_timer_after(lp, t, 1), 0);
    else
        loop_stop(lp);
}

START_TEST(timer_rearmed_from_itself)
{
    struct timer t;
    timer_init(&t, rearm_fn);
    int64_t start = loop_now(lp);
    ck_assert_int_eq(loop_timer_after(lp, &t, 1), 0);
    ck_assert_int_eq(loop_run(lp), 0);
    ck_assert_int_eq(fired[0], 3);
    ck_assert_int_ge(loop_now(lp) - start, 3);
    ck_assert(!timer_armed(&t));
}
END_TEST

static void cancel_other_fn(struct timer *t)
{
    int me = t == &pair_t[0] ? 0 : 1;
    fired[me]++;
    loop_timer_cancel(lp, &pair_t[1 - me]);
    loop_stop(lp);
}

/* Two timers due together: the first to fire cancels the other, which
 * then must not fire in the same round. */
START_TEST(timer_cancelled_by_another_due)
{
    timer_init(&pair_t[0], cancel_other_fn);
    timer_init(&pair_t[1], cancel_other_fn);
    int64_t when = loop_now(lp) + 1;
    ck_assert_int_eq(loop_timer_at(lp, &pair_t[0], when), 0);
    ck_assert_int_eq(loop_timer_at(lp, &pair_t[1], when), 0);
    ck_assert_int_eq(loop_run(lp), 0);
    ck_assert_int_eq(fired[0] + fired[1], 1);
    ck_assert(!timer_armed(&pair_t[0]) && !timer_armed(&pair_t[1]));
}
END_TEST

static int64_t seen_now;

static void note_now(struct timer *t)
{
    (void)t;
    seen_now = loop_now(lp);
    loop_stop(lp);
}

/* Deadlines count from the loop's cached clock, and a timer never fires
 * before its time on that clock. */
START_TEST(timer_times)
{
    struct timer t;
    timer_init(&t, note_now);
    loop_update_time(lp);
    int64_t now = loop_now(lp);
    /* Let the real clock move on (it does, in a few ms at most). */
    struct timespec ts;
    do
        clock_gettime(CLOCK_MONOTONIC, &ts);
    while ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 < now + 2);
    ck_assert_int_eq(loop_timer_after(lp, &t, 0), 0);
    ck_assert_int_eq(t.when, now);                  /* no fresh clock read */
    ck_assert_int_eq(loop_timer_at(lp, &t, now + 2), 0);
    ck_assert_int_eq(loop_run(lp), 0);
    ck_assert_int_ge(seen_now, now + 2);
    time_t wall = time(NULL);
    ck_assert_int_le(labs((long)(loop_wall(lp) - wall)), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("io");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, edge_once_per_arrival);
    tcase_add_test(tc, level_until_read);
    tcase_add_test(tc, write_edges);
    tcase_add_test(tc, hangup_reads);
    tcase_add_test(tc, exclusive_listener);
    tcase_add_test(tc, add_and_del_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("batch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, del_during_batch);
    tcase_add_test(tc, forget_during_batch);
    tcase_add_test(tc, forget_outside_batch_keeps_watching);
    suite_add_tcase(s, tc);
    tc = tcase_create("deferred");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, deferred_after_next_poll);
    tcase_add_test(tc, stop_finishes_iteration);
    suite_add_tcase(s, tc);
    tc = tcase_create("timers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, timer_rearmed_from_itself);
    tcase_add_test(tc, timer_cancelled_by_another_due);
    tcase_add_test(tc, timer_times);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
