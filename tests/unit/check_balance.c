/* The upstream balancer (src/balance.c) on upstreams built here: the smooth
 * round robin sequence, the spread of 1000 picks against the weights, backup
 * servers only when no primary can take a connection, least_conn, the
 * stability of the hash ring when a server is removed, random_two,
 * max_connections, max_fails/fail_timeout and recovery, retries that never
 * repeat a tried server, and the per-worker sharing of balance_ref. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "upstream.h"
#include "tap.h"

#define MAX 8

static struct upstream_config uc;
static struct upstream_server_config sc[MAX];
static struct balancer *b;

/* An upstream of n servers 10.0.0.(i+1):80 with these weights; backup
 * servers are those whose weight is given negative. */
static struct balancer *make(int balance, size_t n, const int *weights)
{
    const char *why;
    memset(&uc, 0, sizeof uc);
    memset(sc, 0, sizeof sc);
    for (size_t i = 0; i < n; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "10.0.0.%zu:80", i + 1);
        ck_assert_int_eq(upstream_addr_parse(addr, &sc[i].addr, &why), 0);
        sc[i].weight = weights[i] < 0 ? -weights[i] : weights[i];
        sc[i].backup = weights[i] < 0;
    }
    uc.name = "u";
    uc.servers = sc;
    uc.n_servers = n;
    uc.balance = balance;
    uc.max_fails = 1;
    uc.fail_timeout = 10000;
    uc.connect_timeout = 5000;
    b = balance_new(&uc);
    ck_assert_ptr_nonnull(b);
    balance_seed(b, 42);
    return b;
}

static void teardown(void)
{
    balance_free(b);
    b = NULL;
}

/* n picks, each connection closed at once (hold: kept open); counts per server. */
static void picks(size_t n, bool hold, int *count)
{
    memset(count, 0, MAX * sizeof *count);
    for (size_t k = 0; k < n; k++) {
        int i = balance_pick(b, (uint32_t)k, NULL, 0);
        ck_assert_int_ge(i, 0);
        count[i]++;
        balance_opened(b, i);
        if (!hold)
            balance_closed(b, i);
    }
}

/* Every count within ±1% of n picks of its share of the weights. */
static void spread_is(const int *count, size_t n_servers, const int *weights, int n)
{
    int total = 0;
    for (size_t i = 0; i < n_servers; i++)
        total += weights[i];
    for (size_t i = 0; i < n_servers; i++) {
        int want = n * weights[i] / total;
        ck_assert_msg(abs(count[i] - want) <= n / 100, "server %zu: %d picks, expected %d +- %d",
                      i, count[i], want, n / 100);
    }
}

/* ------------------------------------------------------------------ */

START_TEST(smooth_sequence)
{
    static const int w[] = { 5, 1, 1 };
    make(UPSTREAM_ROUND_ROBIN, 3, w);
    char seq[15] = "";
    for (int k = 0; k < 14; k++)
        seq[k] = (char)('a' + balance_pick(b, 0, NULL, 0));
    ck_assert_str_eq(seq, "aabacaaaabacaa");
}
END_TEST

static const int spread_weights[] = { 3, 2, 5 };

/* _i: round_robin, least_conn (closed at once), least_conn (held),
 * random_two (held). */
START_TEST(spread_follows_the_weights)
{
    static const int method[] = { UPSTREAM_ROUND_ROBIN, UPSTREAM_LEAST_CONN, UPSTREAM_LEAST_CONN,
                                  UPSTREAM_RANDOM_TWO };
    static const bool hold[] = { false, false, true, true };
    make(method[_i], 3, spread_weights);
    int count[MAX];
    picks(1000, hold[_i], count);
    spread_is(count, 3, spread_weights, 1000);
}
END_TEST

START_TEST(backup_only_when_no_primary_is_up)
{
    static const int w[] = { 1, 1, -1 };
    make(UPSTREAM_ROUND_ROBIN, 3, w);
    int count[MAX];
    picks(100, false, count);
    ck_assert_int_eq(count[2], 0);
    ck_assert_int_eq(count[0] + count[1], 100);
    /* One primary down: the other takes everything. */
    balance_report(b, 0, false, 0);
    ck_assert(balance_is_down(b, 0, 0));
    picks(100, false, count);
    ck_assert_int_eq(count[1], 100);
    /* Both down: the backup. */
    balance_report(b, 1, false, 0);
    picks(100, false, count);
    ck_assert_int_eq(count[2], 100);
    /* A primary back (its fail_timeout passed): the backup is left again. */
    ck_assert_int_lt(balance_pick(b, 0, NULL, 10000), 2);
    ck_assert_int_lt(balance_pick(b, 0, NULL, 10000), 2);
}
END_TEST

START_TEST(backup_when_the_primaries_are_full_or_tried)
{
    static const int w[] = { 1, -1 };
    make(UPSTREAM_LEAST_CONN, 2, w);
    struct balance_tried t;
    balance_tried_clear(&t);
    balance_tried_add(&t, 0);
    ck_assert_int_eq(balance_pick(b, 0, &t, 0), 1);
    uc.max_connections = 1;
    balance_opened(b, 0);
    ck_assert_int_eq(balance_pick(b, 0, NULL, 0), 1);
}
END_TEST

START_TEST(least_conn_takes_the_least_loaded)
{
    static const int w[] = { 1, 1, 2 };
    make(UPSTREAM_LEAST_CONN, 3, w);
    /* Server a is busy: new connections go to b and c, c twice as many
     * for its weight, until a is as loaded as they are. */
    for (int k = 0; k < 4; k++)
        balance_opened(b, 0);
    int count[MAX];
    picks(12, true, count);
    ck_assert_int_eq(count[0], 0);
    ck_assert_int_eq(count[1], 4);
    ck_assert_int_eq(count[2], 8);
    /* Everyone at 4 per unit of weight: ties go in turn, by weight. */
    picks(8, true, count);
    ck_assert_int_eq(count[0], 2);
    ck_assert_int_eq(count[1], 2);
    ck_assert_int_eq(count[2], 4);
    /* Closing connections on b makes it the choice. */
    for (int k = 0; k < 3; k++)
        balance_closed(b, 1);
    ck_assert_int_eq(balance_pick(b, 0, NULL, 0), 1);
    ck_assert_uint_eq(balance_active(b, 1), 3);
}
END_TEST

START_TEST(least_conn_ties_go_in_turn)
{
    static const int w[] = { 1, 1 };
    make(UPSTREAM_LEAST_CONN, 2, w);
    char seq[7] = "";
    for (int k = 0; k < 6; k++)
        seq[k] = (char)('a' + balance_pick(b, 0, NULL, 0));
    ck_assert_str_eq(seq, "ababab");
}
END_TEST

#define KEYS 20000

static int where_keys[KEYS];

START_TEST(hash_is_stable)
{
    static const int w[] = { 1, 1, 1, 1, 1 };
    make(UPSTREAM_HASH, 5, w);
    int count[MAX] = { 0 };
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "192.0.2.%d:%d", k % 251, k);
        where_keys[k] = balance_pick(b, balance_hash(key, (size_t)len), NULL, 0);
        ck_assert_int_ge(where_keys[k], 0);
        count[where_keys[k]]++;
        /* The same key, the same server. */
        ck_assert_int_eq(balance_pick(b, balance_hash(key, (size_t)len), NULL, 0),
                         where_keys[k]);
    }
    /* Roughly even (160 points per server). */
    for (int i = 0; i < 5; i++)
        ck_assert_msg(count[i] > KEYS / 5 * 7 / 10 && count[i] < KEYS / 5 * 13 / 10,
                      "server %d has %d of %d keys", i, count[i], KEYS);
    /* Remove the third server (10.0.0.3): only its keys move. */
    balance_free(b);
    b = NULL;
    struct upstream_server_config keep[4] = { sc[0], sc[1], sc[3], sc[4] };
    static const int from_old[] = { 0, 1, 3, 4 };
    memcpy(sc, keep, sizeof keep);
    uc.n_servers = 4;
    b = balance_new(&uc);
    ck_assert_ptr_nonnull(b);
    int moved = 0;
    for (int k = 0; k < KEYS; k++) {
        char key[32];
        int len = snprintf(key, sizeof key, "192.0.2.%d:%d", k % 251, k);
        int now = from_old[balance_pick(b, balance_hash(key, (size_t)len), NULL, 0)];
        if (where_keys[k] == 2)
            moved++;
        else
            ck_assert_msg(now == where_keys[k], "key %d moved from %d to %d", k,
                          where_keys[k], now);
    }
    double share = (double)moved / KEYS;
    ck_assert_msg(share > 0.12 && share < 0.28, "%.3f of the keys moved", share);
}
END_TEST

START_TEST(hash_skips_a_down_server)
{
    static const int w[] = { 1, 1, 1 };
    make(UPSTREAM_HASH, 3, w);
    uint32_t key = balance_hash("client", 6);
    int first = balance_pick(b, key, NULL, 0);
    balance_report(b, first, false, 0);
    int second = balance_pick(b, key, NULL, 0);
    ck_assert_int_ge(second, 0);
    ck_assert_int_ne(second, first);
    /* Back after fail_timeout: the key returns to it. */
    ck_assert_int_eq(balance_pick(b, key, NULL, 10000), first);
}
END_TEST

START_TEST(random_two_prefers_the_less_loaded)
{
    static const int w[] = { 1, 1, 1 };
    make(UPSTREAM_RANDOM_TWO, 3, w);
    /* Server a is busy: of any two servers, one is not a. */
    for (int k = 0; k < 50; k++)
        balance_opened(b, 0);
    int count[MAX];
    picks(40, false, count);
    ck_assert_int_eq(count[0], 0);
    /* Both others are chosen (at random). */
    ck_assert_int_gt(count[1], 0);
    ck_assert_int_gt(count[2], 0);
    /* Alone with a busy one, the idle one always wins. */
    static const int w2[] = { 1, 1 };
    balance_free(b);
    make(UPSTREAM_RANDOM_TWO, 2, w2);
    balance_opened(b, 1);
    picks(20, false, count);
    ck_assert_int_eq(count[0], 20);
}
END_TEST

/* _i: each balance method. */
START_TEST(max_connections_is_never_exceeded)
{
    static const int w[] = { 1, 3 };
    make(_i, 2, w);
    uc.max_connections = 2;
    int count[MAX];
    picks(4, true, count);
    ck_assert_int_eq(count[0], 2);
    ck_assert_int_eq(count[1], 2);
    /* Both full: none. */
    ck_assert_int_eq(balance_pick(b, 7, NULL, 0), -1);
    /* One closes: that server, and only once. */
    balance_closed(b, 0);
    ck_assert_int_eq(balance_pick(b, 7, NULL, 0), 0);
    balance_opened(b, 0);
    ck_assert_int_eq(balance_pick(b, 7, NULL, 0), -1);
}
END_TEST

START_TEST(max_fails_within_fail_timeout)
{
    static const int w[] = { 1, 1 };
    make(UPSTREAM_ROUND_ROBIN, 2, w);
    uc.max_fails = 2;
    uc.fail_timeout = 1000;
    /* Failures further apart than fail_timeout do not add up. */
    balance_report(b, 0, false, 0);
    balance_report(b, 0, false, 1000);
    ck_assert(!balance_is_down(b, 0, 1000));
    /* Two within it: down for fail_timeout. */
    balance_report(b, 0, false, 1500);
    ck_assert(balance_is_down(b, 0, 1500));
    int count[MAX];
    for (int64_t t = 1500; t < 2500; t += 100)
        ck_assert_int_eq(balance_pick(b, 0, NULL, t), 1);
    /* Tried again once the time is up... */
    ck_assert(!balance_is_down(b, 0, 2500));
    ck_assert_int_eq(balance_pick(b, 0, NULL, 2500), 0);
    /* ...and one more failure takes it down again at once. */
    balance_report(b, 0, false, 2500);
    ck_assert(balance_is_down(b, 0, 2500));
    /* A success after its time clears it for good. */
    balance_report(b, 0, true, 3500);
    ck_assert(!balance_is_down(b, 0, 3500));
    balance_report(b, 0, false, 3600);
    ck_assert(!balance_is_down(b, 0, 3600));
    picks(10, false, count);
    ck_assert_int_eq(count[0], 5);
    /* max_fails = 0: never down. */
    uc.max_fails = 0;
    for (int k = 0; k < 10; k++)
        balance_report(b, 1, false, 4000);
    ck_assert(!balance_is_down(b, 1, 4000));
}
END_TEST

START_TEST(every_server_down_gives_none)
{
    static const int w[] = { 1, -1 };
    make(UPSTREAM_ROUND_ROBIN, 2, w);
    balance_report(b, 0, false, 0);
    balance_report(b, 1, false, 0);
    ck_assert_int_eq(balance_pick(b, 0, NULL, 0), -1);
    ck_assert_int_eq(balance_pick(b, 0, NULL, 9999), -1);
    ck_assert_int_eq(balance_pick(b, 0, NULL, 10000), 0);
}
END_TEST

/* _i: each balance method. */
START_TEST(retries_never_repeat_a_server)
{
    static const int w[] = { 2, 1, 1, -1, -3 };
    make(_i, 5, w);
    struct balance_tried t;
    balance_tried_clear(&t);
    for (int k = 0; k < 5; k++) {
        int i = balance_pick(b, 12345, &t, 0);
        ck_assert_int_ge(i, 0);
        ck_assert(!balance_tried_has(&t, (size_t)i));
        /* The primaries first. */
        ck_assert(k < 3 ? i < 3 : i >= 3);
        balance_tried_add(&t, (size_t)i);
    }
    ck_assert_int_eq(balance_pick(b, 12345, &t, 0), -1);
}
END_TEST

START_TEST(shared_per_upstream)
{
    static const int w[] = { 1, 1 };
    make(UPSTREAM_ROUND_ROBIN, 2, w);
    struct balancer *x = balance_ref(&uc);
    struct balancer *y = balance_ref(&uc);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_eq(x, y);
    ck_assert_ptr_eq(balance_upstream(x), &uc);
    ck_assert_uint_eq(balance_servers(x), 2);
    ck_assert_str_eq(balance_server_name(x, 1), "10.0.0.2:80");
    /* Counted together: max_connections is per worker, not per user. */
    balance_opened(x, 0);
    ck_assert_uint_eq(balance_active(y, 0), 1);
    balance_unref(x);
    balance_unref(y);
    /* After the last, a new one. */
    struct balancer *z = balance_ref(&uc);
    ck_assert_uint_eq(balance_active(z, 0), 0);
    balance_unref(z);
}
END_TEST

START_TEST(too_many_servers)
{
    struct upstream_config big = { .name = "big", .servers = sc,
                                   .n_servers = BALANCE_MAX_SERVERS + 1 };
    ck_assert_ptr_null(balance_new(&big));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("balance");
    TCase *tc = tcase_create("balance");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, smooth_sequence);
    tcase_add_loop_test(tc, spread_follows_the_weights, 0, 4);
    tcase_add_test(tc, backup_only_when_no_primary_is_up);
    tcase_add_test(tc, backup_when_the_primaries_are_full_or_tried);
    tcase_add_test(tc, least_conn_takes_the_least_loaded);
    tcase_add_test(tc, least_conn_ties_go_in_turn);
    tcase_add_test(tc, hash_is_stable);
    tcase_add_test(tc, hash_skips_a_down_server);
    tcase_add_test(tc, random_two_prefers_the_less_loaded);
    tcase_add_loop_test(tc, max_connections_is_never_exceeded, UPSTREAM_ROUND_ROBIN,
                        UPSTREAM_RANDOM_TWO + 1);
    tcase_add_test(tc, max_fails_within_fail_timeout);
    tcase_add_test(tc, every_server_down_gives_none);
    tcase_add_loop_test(tc, retries_never_repeat_a_server, UPSTREAM_ROUND_ROBIN,
                        UPSTREAM_RANDOM_TWO + 1);
    tcase_add_test(tc, shared_per_upstream);
    tcase_add_test(tc, too_many_servers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
