/* Timers: the heap against a brute-force model, and the loop firing them. */
#include <check.h>
#include <stdlib.h>

#include "loop.h"
#include "timer.h"
#include "tap.h"

static int fired_order[64];
static int n_fired;

static void note(struct timer *t)
{
    fired_order[n_fired++] = (int)t->when;
}

START_TEST(pops_in_order)
{
    struct timer_heap h = { 0 };
    struct timer t[10];
    int64_t when[10] = { 50, 10, 40, 10, 90, 0, 70, 30, 20, 60 };
    for (int i = 0; i < 10; i++) {
        timer_init(&t[i], note);
        ck_assert_int_eq(timer_set(&h, &t[i], when[i]), 0);
        ck_assert(timer_armed(&t[i]));
    }
    int64_t last = -1;
    int n = 0;
    struct timer *x;
    while ((x = timer_pop_due(&h, 1000)) != NULL) {
        ck_assert_int_ge(x->when, last);
        ck_assert(!timer_armed(x));
        last = x->when;
        n++;
    }
    ck_assert_int_eq(n, 10);
    ck_assert_ptr_null(timer_first(&h));
    timer_heap_free(&h);
}
END_TEST

/* Room made beforehand: arming that many timers never moves the array
 * (the loop reserves, so that arming a timer cannot fail mid-request). */
START_TEST(reserve_makes_room)
{
    struct timer_heap h = { 0 };
    struct timer t[40];
    ck_assert_int_eq(timer_heap_reserve(&h, 40), 0);
    ck_assert_uint_ge(h.cap, 40);
    struct timer **v = h.v;
    for (int i = 0; i < 40; i++) {
        timer_init(&t[i], note);
        ck_assert_int_eq(timer_set(&h, &t[i], 40 - i), 0);
    }
    ck_assert_ptr_eq(h.v, v);
    ck_assert_int_eq(timer_heap_reserve(&h, 10), 0);        /* never shrinks */
    ck_assert_ptr_eq(h.v, v);
    ck_assert_uint_ge(h.cap, 40);
    ck_assert_int_eq(timer_first(&h)->when, 1);
    timer_heap_free(&h);
    ck_assert_ptr_null(h.v);
    ck_assert_uint_eq(h.n, 0);
}
END_TEST

START_TEST(due_only)
{
    struct timer_heap h = { 0 };
    struct timer a, b;
    timer_init(&a, note);
    timer_init(&b, note);
    timer_set(&h, &a, 100);
    timer_set(&h, &b, 200);
    ck_assert_ptr_null(timer_pop_due(&h, 99));
    ck_assert_ptr_eq(timer_pop_due(&h, 100), &a);
    ck_assert_ptr_null(timer_pop_due(&h, 150));
    ck_assert_ptr_eq(timer_first(&h), &b);
    timer_heap_free(&h);
}
END_TEST

START_TEST(cancel_and_move)
{
    struct timer_heap h = { 0 };
    struct timer t[5];
    for (int i = 0; i < 5; i++) {
        timer_init(&t[i], note);
        timer_set(&h, &t[i], (i + 1) * 10);
    }
    timer_cancel(&h, &t[2]);            /* middle */
    ck_assert(!timer_armed(&t[2]));
    timer_cancel(&h, &t[2]);            /* twice is harmless */
    timer_set(&h, &t[4], 5);            /* later one becomes first */
    ck_assert_ptr_eq(timer_first(&h), &t[4]);
    timer_set(&h, &t[4], 100);          /* and last again */
    timer_set(&h, &t[0], 35);
    int64_t expect[] = { 20, 35, 40, 100 };
    for (int i = 0; i < 4; i++) {
        struct timer *x = timer_pop_due(&h, 1000);
        ck_assert_ptr_nonnull(x);
        ck_assert_int_eq(x->when, expect[i]);
    }
    ck_assert_ptr_null(timer_pop_due(&h, 1000));
    timer_heap_free(&h);
}
END_TEST

/* Random arms, moves and cancels checked against a plain array. */
START_TEST(random_against_model)
{
    enum { N = 300 };
    static struct timer t[N];
    struct timer_heap h = { 0 };
    srandom(12345u + (unsigned)_i);
    for (int i = 0; i < N; i++)
        timer_init(&t[i], note);
    for (int step = 0; step < 20000; step++) {
        int i = (int)(random() % N);
        switch (random() % 3) {
        case 0:
        case 1:
            ck_assert_int_eq(timer_set(&h, &t[i], random() % 1000), 0);
            break;
        default:
            timer_cancel(&h, &t[i]);
        }
        if (step % 97 == 0) {
            int64_t min = INT64_MAX;
            size_t armed = 0;
            for (int k = 0; k < N; k++)
                if (timer_armed(&t[k])) {
                    armed++;
                    if (t[k].when < min)
                        min = t[k].when;
                }
            ck_assert_uint_eq(armed, h.n);
            if (armed)
                ck_assert_int_eq(timer_first(&h)->when, min);
        }
    }
    int64_t last = -1;
    struct timer *x;
    while ((x = timer_pop_due(&h, INT64_MAX)) != NULL) {
        ck_assert_int_ge(x->when, last);
        last = x->when;
    }
    for (int k = 0; k < N; k++)
        ck_assert(!timer_armed(&t[k]));
    timer_heap_free(&h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The loop fires timers in deadline order and runs deferred work. */

static struct loop *the_loop;
static int loop_fired[8];
static int loop_n;

static void loop_note(struct timer *t)
{
    loop_fired[loop_n++] = (int)(t->when % 1000000);
    if (loop_n == 3)
        loop_stop(the_loop);
}

static int deferred_runs;
static void on_deferred(struct loop *loop, struct loop_defer *d)
{
    (void)loop;
    (void)d;
    deferred_runs++;
}

START_TEST(loop_fires_timers)
{
    the_loop = loop_new(8);
    ck_assert_ptr_nonnull(the_loop);
    struct timer a, b, c;
    timer_init(&a, loop_note);
    timer_init(&b, loop_note);
    timer_init(&c, loop_note);
    int64_t start = loop_now(the_loop);
    loop_timer_after(the_loop, &a, 30);
    loop_timer_after(the_loop, &b, 10);
    loop_timer_after(the_loop, &c, 20);
    struct loop_defer d;
    loop_defer_init(&d, on_deferred);
    loop_defer(the_loop, &d);
    loop_defer(the_loop, &d);           /* queued once */
    loop_n = 0;
    deferred_runs = 0;
    ck_assert_int_eq(loop_run(the_loop), 0);
    ck_assert_int_eq(loop_n, 3);
    ck_assert_int_eq(loop_fired[0], (int)((start + 10) % 1000000));
    ck_assert_int_eq(loop_fired[1], (int)((start + 20) % 1000000));
    ck_assert_int_eq(loop_fired[2], (int)((start + 30) % 1000000));
    ck_assert_int_ge(loop_now(the_loop) - start, 30);
    ck_assert_int_eq(deferred_runs, 1);
    loop_free(the_loop);
}
END_TEST

START_TEST(loop_cancelled_timer_does_not_fire)
{
    the_loop = loop_new(8);
    struct timer a, b, c, d;
    timer_init(&a, loop_note);
    timer_init(&b, loop_note);
    timer_init(&c, loop_note);
    timer_init(&d, loop_note);
    int64_t start = loop_now(the_loop);
    loop_timer_after(the_loop, &a, 5);
    loop_timer_after(the_loop, &b, 10);
    loop_timer_after(the_loop, &c, 15);
    loop_timer_after(the_loop, &d, 20);
    loop_timer_cancel(the_loop, &b);
    loop_n = 0;
    loop_run(the_loop);
    ck_assert_int_eq(loop_fired[1], (int)((start + 15) % 1000000));
    ck_assert_int_eq(loop_fired[2], (int)((start + 20) % 1000000));
    loop_free(the_loop);
}
END_TEST

/* A deferred entry cancelled while queued (its connection was closed) must
 * leave the rest of the list intact, also from inside the batch being run. */
static struct loop_defer dd[3];
static int ran[3];

static void run_and_cancel(struct loop *loop, struct loop_defer *d)
{
    int i = (int)(d - dd);
    ran[i]++;
    if (i == 0) {
        /* Entry 0 runs first (LIFO) and cancels entry 1 of the same batch. */
        loop_defer_cancel(loop, &dd[1]);
        loop_stop(loop);
    }
}

START_TEST(defer_cancel_keeps_the_list)
{
    the_loop = loop_new(8);
    for (int i = 0; i < 3; i++) {
        loop_defer_init(&dd[i], run_and_cancel);
        ran[i] = 0;
    }
    loop_defer(the_loop, &dd[2]);
    loop_defer(the_loop, &dd[1]);
    loop_defer(the_loop, &dd[0]);
    loop_run(the_loop);
    ck_assert_int_eq(ran[0], 1);
    ck_assert_int_eq(ran[1], 0);        /* cancelled */
    ck_assert_int_eq(ran[2], 1);        /* still ran */
    /* Cancelled and queued again: runs once (before entry 0, which stops). */
    loop_defer(the_loop, &dd[0]);
    loop_defer(the_loop, &dd[1]);
    loop_defer_cancel(the_loop, &dd[1]);
    loop_defer(the_loop, &dd[1]);
    loop_run(the_loop);
    ck_assert_int_eq(ran[1], 1);
    loop_free(the_loop);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timer");
    TCase *tc = tcase_create("heap");
    tcase_add_test(tc, pops_in_order);
    tcase_add_test(tc, reserve_makes_room);
    tcase_add_test(tc, due_only);
    tcase_add_test(tc, cancel_and_move);
    tcase_add_loop_test(tc, random_against_model, 0, 4);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("loop");
    tcase_add_test(tl, loop_fires_timers);
    tcase_add_test(tl, loop_cancelled_timer_does_not_fire);
    tcase_add_test(tl, defer_cancel_keeps_the_list);
    suite_add_tcase(s, tl);
    return run_suite_tap(s);
}
