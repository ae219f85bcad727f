/* The limit zone (src/limit_zone.c): the GCRA's arithmetic (burst + 1 at
 * once, one per interval after, the wait it reports), requests in flight,
 * keys that share a set, eviction of the least recently used entry (never
 * one in flight), two processes counting one key at once, and a process
 * killed with a set's lock and requests in flight, recovered. */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "limit_zone.h"
#include "tap.h"

#define S INT64_C(1000000000)
/* The bytes of a zone of n sets (a 64-byte header, then the sets). */
#define ZONE_OF(n) (64 + (n) * LIMIT_ZONE_SET_BYTES)

static struct limit_zone *zone;
static int zone_fd;

static void setup(void)
{
    zone = limit_zone_create(ZONE_OF(4), &zone_fd);
    ck_assert_ptr_nonnull(zone);
}

static void teardown(void)
{
    limit_zone_destroy(zone, zone_fd);
}

/* rate 1 a second, burst b */
static struct limit_rule per_second(int64_t burst)
{
    return (struct limit_rule){ .interval_ns = S, .tolerance_ns = burst * S };
}

static enum limit_verdict admit(uint64_t key, const struct limit_rule *r, int64_t now,
                                int64_t *wait)
{
    bool held;
    int64_t w;
    enum limit_verdict v = limit_zone_admit(zone, key, r, now, wait ? wait : &w, &held);
    return v;
}

START_TEST(burst_then_one_per_interval)
{
    struct limit_rule r = per_second(5);
    int64_t t0 = 1000 * S, wait = -1;
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(admit(42, &r, t0, NULL), LIMIT_ADMIT);
    ck_assert_int_eq(admit(42, &r, t0, &wait), LIMIT_OVER_RATE);
    ck_assert_int_eq(wait, S);                  /* the next one in a second */
    ck_assert_int_eq(admit(42, &r, t0 + S / 2, &wait), LIMIT_OVER_RATE);
    ck_assert_int_eq(wait, S / 2);
    /* Refusals cost nothing: a second later exactly one goes through. */
    ck_assert_int_eq(admit(42, &r, t0 + S, NULL), LIMIT_ADMIT);
    ck_assert_int_eq(admit(42, &r, t0 + S, NULL), LIMIT_OVER_RATE);
    /* After burst + 1 quiet seconds, the whole burst again, not more. */
    int64_t later = t0 + 20 * S;
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(admit(42, &r, later, NULL), LIMIT_ADMIT);
    ck_assert_int_eq(admit(42, &r, later, NULL), LIMIT_OVER_RATE);
}
END_TEST

START_TEST(no_burst_and_fine_intervals)
{
    /* 3r/s: 333333333 ns each, truncated; burst 0: one at a time. */
    struct limit_rule r = { .interval_ns = S / 3, .tolerance_ns = 0 };
    int64_t t = 5 * S, wait;
    ck_assert_int_eq(admit(7, &r, t, NULL), LIMIT_ADMIT);
    ck_assert_int_eq(admit(7, &r, t, &wait), LIMIT_OVER_RATE);
    ck_assert_int_eq(wait, S / 3);
    ck_assert_int_eq(admit(7, &r, t + S / 3 - 1, NULL), LIMIT_OVER_RATE);
    ck_assert_int_eq(admit(7, &r, t + S / 3, NULL), LIMIT_ADMIT);
    /* Requests exactly on time: every one admitted, no drift over a minute
     * of them (T truncated, never late). */
    for (int64_t k = 2; k <= 182; k++)
        ck_assert_int_eq(admit(7, &r, t + k * S / 3, NULL), LIMIT_ADMIT);
    /* A clock of 10 ms steps with a burst of 1 to absorb it: 3 a second. */
    struct limit_rule r1 = { .interval_ns = S / 3, .tolerance_ns = S / 3 };
    int admitted = 0;
    for (int64_t ms = 0; ms < 60000; ms += 10)
        admitted += admit(8, &r1, t + ms * 1000000, NULL) == LIMIT_ADMIT;
    ck_assert_int_ge(admitted, 180);
    ck_assert_int_le(admitted, 181);
}
END_TEST

START_TEST(held_requests)
{
    struct limit_rule r = { .max_held = 2 };
    bool held;
    int64_t wait;
    ck_assert_int_eq(limit_zone_admit(zone, 9, &r, S, &wait, &held), LIMIT_ADMIT);
    ck_assert(held);
    ck_assert_int_eq(limit_zone_admit(zone, 9, &r, S, &wait, &held), LIMIT_ADMIT);
    ck_assert_int_eq(limit_zone_held(zone, 9), 2);
    ck_assert_int_eq(limit_zone_admit(zone, 9, &r, S, &wait, &held), LIMIT_OVER_HELD);
    ck_assert(!held);
    ck_assert_int_eq(limit_zone_held(zone, 9), 2);
    limit_zone_release(zone, 9);
    ck_assert_int_eq(limit_zone_admit(zone, 9, &r, S, &wait, &held), LIMIT_ADMIT);
    limit_zone_release(zone, 9);
    limit_zone_release(zone, 9);
    limit_zone_release(zone, 9);            /* one too many: stays at 0 */
    ck_assert_int_eq(limit_zone_held(zone, 9), 0);

    /* Both: a key over its requests in flight keeps its rate's budget. */
    struct limit_rule both = { .interval_ns = S, .tolerance_ns = S, .max_held = 1 };
    ck_assert_int_eq(limit_zone_admit(zone, 10, &both, S, &wait, &held), LIMIT_ADMIT);
    ck_assert_int_eq(limit_zone_admit(zone, 10, &both, S, &wait, &held), LIMIT_OVER_HELD);
    limit_zone_release(zone, 10);
    ck_assert_int_eq(limit_zone_admit(zone, 10, &both, S, &wait, &held), LIMIT_ADMIT);
    limit_zone_release(zone, 10);
    ck_assert_int_eq(limit_zone_admit(zone, 10, &both, S, &wait, &held), LIMIT_OVER_RATE);
    ck_assert(!held);
}
END_TEST

START_TEST(keys_of_one_set_are_apart)
{
    /* 4 sets: 1, 5, 9 and 13 share set 1; 0 counts as 1. */
    struct limit_rule r = per_second(0);
    ck_assert_int_eq(admit(1, &r, S, NULL), LIMIT_ADMIT);
    ck_assert_int_eq(admit(1, &r, S, NULL), LIMIT_OVER_RATE);
    ck_assert_int_eq(admit(0, &r, S, NULL), LIMIT_OVER_RATE);
    ck_assert_int_eq(admit(5, &r, S, NULL), LIMIT_ADMIT);
    ck_assert_int_eq(admit(9, &r, S, NULL), LIMIT_ADMIT);
    ck_assert_int_eq(admit(13, &r, S, NULL), LIMIT_ADMIT);
    ck_assert_int_eq(admit(5, &r, S, NULL), LIMIT_OVER_RATE);
    ck_assert_int_eq(admit(2, &r, S, NULL), LIMIT_ADMIT);
    ck_assert_uint_eq(limit_zone_capacity(zone), 4 * LIMIT_ZONE_WAYS);
}
END_TEST

START_TEST(least_recently_used_goes)
{
    struct limit_zone *one = limit_zone_create(ZONE_OF(1), &zone_fd);
    ck_assert_ptr_nonnull(one);
    limit_zone_destroy(zone, -1);
    zone = one;
    ck_assert_uint_eq(limit_zone_capacity(zone), LIMIT_ZONE_WAYS);
    struct limit_rule r = per_second(0);
    /* Keys 1..7 fill the set, each out of budget; key 1 is then used again. */
    for (uint64_t k = 1; k <= LIMIT_ZONE_WAYS; k++)
        ck_assert_int_eq(admit(k, &r, S + (int64_t)k, NULL), LIMIT_ADMIT);
    ck_assert_int_eq(admit(1, &r, S + 100, NULL), LIMIT_OVER_RATE);
    /* Key 8 takes the place of key 2, the least recently used. */
    ck_assert_int_eq(admit(8, &r, S + 200, NULL), LIMIT_ADMIT);
    ck_assert_int_eq(admit(2, &r, S + 300, NULL), LIMIT_ADMIT);   /* forgotten: anew */
    /* ... which took key 3's place; key 1 and 4..8 are still counted. */
    ck_assert_int_eq(admit(1, &r, S + 400, NULL), LIMIT_OVER_RATE);
    for (uint64_t k = 4; k <= 8; k++)
        ck_assert_int_eq(admit(k, &r, S + 500, NULL), LIMIT_OVER_RATE);
    ck_assert_int_eq(admit(3, &r, S + 600, NULL), LIMIT_ADMIT);
}
END_TEST

START_TEST(entries_in_flight_stay)
{
    struct limit_zone *one = limit_zone_create(ZONE_OF(1), &zone_fd);
    ck_assert_ptr_nonnull(one);
    limit_zone_destroy(zone, -1);
    zone = one;
    struct limit_rule r = { .max_held = 1 };
    bool held;
    int64_t wait;
    for (uint64_t k = 1; k <= LIMIT_ZONE_WAYS; k++) {
        ck_assert_int_eq(limit_zone_admit(zone, k, &r, S, &wait, &held), LIMIT_ADMIT);
        ck_assert(held);
    }
    /* No room: admitted, held nowhere, and nobody's count lost. */
    ck_assert_int_eq(limit_zone_admit(zone, 99, &r, 2 * S, &wait, &held), LIMIT_ADMIT);
    ck_assert(!held);
    for (uint64_t k = 1; k <= LIMIT_ZONE_WAYS; k++)
        ck_assert_int_eq(limit_zone_admit(zone, k, &r, 3 * S, &wait, &held), LIMIT_OVER_HELD);
    limit_zone_release(zone, 4);
    ck_assert_int_eq(limit_zone_admit(zone, 99, &r, 4 * S, &wait, &held), LIMIT_ADMIT);
    ck_assert(held);                            /* in key 4's place, now free */
    ck_assert_int_eq(limit_zone_held(zone, 4), 0);
}
END_TEST

/* Two processes on one key: rate 1 per ms with a burst of N - 1, all at
 * the same instant, so exactly N are admitted whoever asks; and requests
 * in flight added and taken back by both end at 0. */
#define ROUNDS 20000
#define BUDGET 5000

static int child(uint64_t *admitted)
{
    struct limit_rule rate = { .interval_ns = 1000000,
                               .tolerance_ns = (BUDGET - 1) * INT64_C(1000000) };
    struct limit_rule held = { .max_held = 1000000 };
    uint64_t n = 0;
    for (int i = 0; i < ROUNDS; i++) {
        bool h;
        int64_t w;
        n += limit_zone_admit(zone, 777, &rate, 50 * S, &w, &h) == LIMIT_ADMIT;
        if (limit_zone_admit(zone, 778, &held, 50 * S, &w, &h) != LIMIT_ADMIT || !h)
            return 2;
        limit_zone_release(zone, 778);
    }
    __atomic_fetch_add(admitted, n, __ATOMIC_RELAXED);
    return 0;
}

START_TEST(two_processes_agree)
{
    uint64_t *admitted = mmap(NULL, sizeof *admitted, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(admitted, MAP_FAILED);
    *admitted = 0;
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0)
            _exit(child(admitted));
    }
    for (int i = 0; i < 2; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
    }
    ck_assert_uint_eq(*admitted, BUDGET);
    ck_assert_int_eq(limit_zone_held(zone, 778), 0);
    munmap(admitted, sizeof *admitted);
}
END_TEST

/* A process killed between a lock and its unlock, with requests in
 * flight: limit_zone_recover frees the lock and forgets every count in
 * flight, the live ones too (a release then stays at 0). */
START_TEST(a_dead_processs_lock_and_counts_are_recovered)
{
    struct limit_rule r = { .max_held = 3 };
    bool held;
    int64_t wait;
    ck_assert_int_eq(limit_zone_admit(zone, 2, &r, S, &wait, &held), LIMIT_ADMIT);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < 3; i++)
            limit_zone_admit(zone, 9, &r, S, &wait, &held);
        /* Key 9's set (9 % 4 sets = 1) locked by this process, as in the
         * middle of limit_zone_admit: its lock word is the first of the
         * set, after the zone's 64-byte header. */
        uint32_t *lock_word = (uint32_t *)((char *)zone + 64 + 1 * LIMIT_ZONE_SET_BYTES);
        __atomic_store_n(lock_word, (uint32_t)getpid(), __ATOMIC_RELEASE);
        raise(SIGKILL);
        _exit(3);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    limit_zone_recover(zone, pid);
    ck_assert_int_eq(limit_zone_held(zone, 9), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(limit_zone_admit(zone, 9, &r, S, &wait, &held), LIMIT_ADMIT);
    ck_assert_int_eq(limit_zone_admit(zone, 9, &r, S, &wait, &held), LIMIT_OVER_HELD);
    /* This process's request in flight was forgotten too. */
    ck_assert_int_eq(limit_zone_held(zone, 2), 0);
    limit_zone_release(zone, 2);
    ck_assert_int_eq(limit_zone_held(zone, 2), 0);
}
END_TEST

START_TEST(refusals_counted)
{
    ck_assert_uint_eq(limit_zone_refusals(zone), 0);
    limit_zone_count_refusal(zone);
    limit_zone_count_refusal(zone);
    ck_assert_uint_eq(limit_zone_refusals(zone), 2);
    const uint64_t *a = limit_zone_secret(zone);
    ck_assert(a[0] != 0 || a[1] != 0);
}
END_TEST

START_TEST(the_masters_zone)
{
    struct limit_zone *a = limit_zone_map(ZONE_OF(8));
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(limit_zone_current(), a);
    struct limit_rule r = per_second(0);
    bool held;
    int64_t wait;
    ck_assert_int_eq(limit_zone_admit(a, 5, &r, S, &wait, &held), LIMIT_ADMIT);
    /* A reload with the same size keeps the zone and its counts. */
    ck_assert_ptr_eq(limit_zone_map(ZONE_OF(8)), a);
    ck_assert_int_eq(limit_zone_admit(a, 5, &r, S, &wait, &held), LIMIT_OVER_RATE);
    /* Another size: a new, empty zone. */
    struct limit_zone *b = limit_zone_map(ZONE_OF(16));
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(limit_zone_capacity(b), 16 * LIMIT_ZONE_WAYS);
    ck_assert_int_eq(limit_zone_admit(b, 5, &r, S, &wait, &held), LIMIT_ADMIT);
    ck_assert_ptr_eq(limit_zone_current(), b);
    limit_zone_settle(true);
    ck_assert_ptr_eq(limit_zone_current(), b);
    /* A reload to another size that fails: back to the zone before, with
     * its counts. */
    struct limit_zone *c = limit_zone_map(ZONE_OF(32));
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_ne(c, b);
    ck_assert_ptr_eq(limit_zone_current(), c);
    limit_zone_settle(false);
    ck_assert_ptr_eq(limit_zone_current(), b);
    ck_assert_int_eq(limit_zone_admit(b, 5, &r, S, &wait, &held), LIMIT_OVER_RATE);
    /* And the size it had is still "the same size": the same zone. */
    ck_assert_ptr_eq(limit_zone_map(ZONE_OF(16)), b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("limit_zone");
    TCase *tc = tcase_create("zone");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, burst_then_one_per_interval);
    tcase_add_test(tc, no_burst_and_fine_intervals);
    tcase_add_test(tc, held_requests);
    tcase_add_test(tc, keys_of_one_set_are_apart);
    tcase_add_test(tc, least_recently_used_goes);
    tcase_add_test(tc, entries_in_flight_stay);
    tcase_add_test(tc, two_processes_agree);
    tcase_add_test(tc, a_dead_processs_lock_and_counts_are_recovered);
    tcase_add_test(tc, refusals_counted);
    tcase_add_test(tc, the_masters_zone);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
