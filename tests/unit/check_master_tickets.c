/* The master's side of the TLS ticket keys (src/master/tickets.c): the
 * page mapped by tickets_prepare, the timer armed by the current
 * generation's ticket_key_rotation, keys rotated by the master's own loop
 * when it fires (observed: the loop runs until the page counts two
 * rotations), nothing armed while the master stops or before a generation
 * serves. */
#include <check.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "master/internal.h"
#include "tap.h"
#include "transport_tls_tickets.h"

static struct master *watched;

/* Every 5 ms: stop the loop once the keys have turned twice. */
static void on_watch(struct timer *t)
{
    if (tls_tickets_rotations() >= 2)
        loop_stop(watched->loop);
    else
        loop_timer_after(watched->loop, t, 5);
}

static void on_give_up(struct timer *t)
{
    (void)t;
    loop_stop(watched->loop);
}

START_TEST(the_loop_rotates_on_the_generations_interval)
{
    struct herd_config cfg = { .ticket_key_rotation = 20 };
    struct gen g = { .id = 1, .cfg = &cfg };
    struct master m = { .mode = MASTER_RUNNING, .current = &g };
    m.loop = loop_new(16);
    ck_assert_ptr_nonnull(m.loop);
    ck_assert_int_eq(tickets_prepare(&m), 0);
    struct tls_ticket_key first[2], now[2];
    ck_assert_int_eq(tls_tickets_read(first), 0);

    tickets_schedule(&m);
    ck_assert(timer_armed(&m.ticket_timer));
    ck_assert_int_le(m.ticket_timer.when, loop_now(m.loop) + 20);
    ck_assert_uint_eq(tls_tickets_rotations(), 0);

    struct timer watch, give_up;
    timer_init(&watch, on_watch);
    timer_init(&give_up, on_give_up);
    watched = &m;
    loop_timer_after(m.loop, &watch, 5);
    loop_timer_after(m.loop, &give_up, 30000);
    loop_run(m.loop);
    ck_assert_uint_ge(tls_tickets_rotations(), 2);
    ck_assert(timer_armed(&m.ticket_timer));        /* and on it goes */
    ck_assert_int_eq(tls_tickets_read(now), 0);
    ck_assert(memcmp(now[0].name, first[0].name, TLS_TICKET_NAME) != 0);
    ck_assert(memcmp(now[1].name, first[0].name, TLS_TICKET_NAME) != 0);

    tickets_finish(&m);
    ck_assert(!timer_armed(&m.ticket_timer));
    ck_assert_int_eq(tls_tickets_read(now), -1);
    loop_free(m.loop);
}
END_TEST

START_TEST(nothing_armed_without_a_generation_or_while_stopping)
{
    struct herd_config cfg = { .ticket_key_rotation = 20 };
    struct gen g = { .id = 1, .cfg = &cfg };
    struct master m = { .mode = MASTER_STARTING };
    m.loop = loop_new(16);
    ck_assert_int_eq(tickets_prepare(&m), 0);
    tickets_schedule(&m);
    ck_assert(!timer_armed(&m.ticket_timer));
    m.current = &g;
    m.mode = MASTER_QUITTING;
    tickets_schedule(&m);
    ck_assert(!timer_armed(&m.ticket_timer));
    m.mode = MASTER_RUNNING;
    tickets_schedule(&m);
    ck_assert(timer_armed(&m.ticket_timer));
    tickets_finish(&m);
    loop_free(m.loop);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("master_tickets");
    TCase *tc = tcase_create("tickets");
    tcase_add_test(tc, the_loop_rotates_on_the_generations_interval);
    tcase_add_test(tc, nothing_armed_without_a_generation_or_while_stopping);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
