/* The shared counters: per-slot series that never go backwards when a
 * worker's block is folded, responses by class and by server name, readers
 * racing folds, and the page passed on to a new master. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stats.h"
#include "tap.h"

static struct stats_block *worker(struct stats_page *p, int slot, uint32_t gen, pid_t pid)
{
    struct stats_block *b = stats_claim(p, slot, gen);
    ck_assert_ptr_nonnull(b);
    b->pid = pid;               /* what the master does after fork */
    return b;
}

START_TEST(fold_keeps_slot_totals)
{
    struct stats_page *p = stats_map();
    ck_assert_ptr_nonnull(p);
    struct stats_block *old = worker(p, 0, 1, 100);
    stats_add(old, STAT_REQUESTS, 5);
    stats_add(old, STAT_ACTIVE, 2);
    stats_response(old, 0, 200);
    stats_response(old, 0, 404);
    /* A reload: the new generation's worker of slot 0 overlaps the old. */
    struct stats_block *young = worker(p, 0, 2, 101);
    stats_add(young, STAT_REQUESTS, 3);
    stats_add(young, STAT_ACTIVE, 1);
    struct stats_snapshot *s = stats_snapshot(p);
    ck_assert_ptr_nonnull(s);
    ck_assert(s->seen[0]);
    ck_assert(!s->seen[1]);
    ck_assert_uint_eq(s->slot[0].c[STAT_REQUESTS], 8);
    ck_assert_uint_eq(s->slot[0].c[STAT_ACTIVE], 3);
    ck_assert_uint_eq(s->n_workers, 2);
    free(s);

    stats_retire(p, old);
    s = stats_snapshot(p);
    ck_assert_uint_eq(s->slot[0].c[STAT_REQUESTS], 8);     /* folded, not lost */
    ck_assert_uint_eq(s->slot[0].c[STAT_ACTIVE], 1);       /* gauges: live only */
    ck_assert_uint_eq(s->slot[0].responses[1], 1);
    ck_assert_uint_eq(s->slot[0].responses[3], 1);
    ck_assert_uint_eq(s->total.c[STAT_REQUESTS], 8);
    ck_assert_uint_eq(s->n_workers, 1);
    ck_assert_int_eq(s->worker[0].pid, 101);
    free(s);

    /* The block is reused clean; a slot left behind keeps its totals. */
    struct stats_block *again = worker(p, 1, 3, 102);
    ck_assert_ptr_eq(again, old);
    ck_assert_uint_eq(stats_get(again, STAT_REQUESTS), 0);
    stats_retire(p, young);
    s = stats_snapshot(p);
    ck_assert(s->seen[0] && s->seen[1]);
    ck_assert_uint_eq(s->slot[0].c[STAT_REQUESTS], 8);
    ck_assert_uint_eq(s->slot[0].c[STAT_ACTIVE], 0);
    ck_assert_uint_eq(s->slot[1].c[STAT_REQUESTS], 0);
    free(s);
    stats_unmap(p);
}
END_TEST

START_TEST(claim_fails_cleanly)
{
    struct stats_page *p = stats_map();
    ck_assert_ptr_null(stats_claim(p, STATS_SLOTS, 1));
    ck_assert_ptr_null(stats_claim(p, -1, 1));
    /* A block claimed for a fork that failed is given back without folding. */
    struct stats_block *b = stats_claim(p, 0, 1);
    stats_retire(p, b);
    ck_assert_int_eq(b->pid, 0);
    stats_unmap(p);
}
END_TEST

static const uint64_t *server_responses(const struct stats_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->n_servers; i++)
        if (strcmp(s->server[i].name, name) == 0)
            return s->server[i].responses;
    return NULL;
}

START_TEST(responses_by_class_and_server)
{
    struct stats_page *p = stats_map();
    struct stats_block *a = worker(p, 0, 1, 100);
    stats_name_server(p, a, 0, "a.example");
    stats_name_server(p, a, 1, "127.0.0.1:8080");
    stats_name_server(p, a, 2, NULL);           /* answers no requests */
    stats_response(a, 0, 200);
    stats_response(a, 0, 503);
    stats_response(a, 1, 301);
    stats_response(a, 2, 200);                  /* the other servers */
    stats_response(a, STATS_SERVER_MAP, 200);   /* beyond the map: the same */
    stats_response(a, 0, 0);                    /* no class: not counted */
    stats_response(a, 0, 600);
    stats_response(a, 0, -200);
    /* The next generation reorders its servers: counted by name. */
    struct stats_block *b = worker(p, 1, 2, 101);
    stats_name_server(p, b, 0, "127.0.0.1:8080");
    stats_name_server(p, b, 1, "a.example");
    stats_response(b, 1, 200);
    stats_retire(p, a);

    struct stats_snapshot *s = stats_snapshot(p);
    const uint64_t *ra = server_responses(s, "a.example");
    const uint64_t *rl = server_responses(s, "127.0.0.1:8080");
    const uint64_t *ro = server_responses(s, "");
    ck_assert_ptr_nonnull(ra);
    ck_assert_ptr_nonnull(rl);
    ck_assert_ptr_nonnull(ro);
    ck_assert_uint_eq(s->n_servers, 3);
    ck_assert_uint_eq(ra[1], 2);
    ck_assert_uint_eq(ra[4], 1);
    ck_assert_uint_eq(rl[2], 1);
    ck_assert_uint_eq(ro[1], 2);
    ck_assert_uint_eq(s->slot[0].responses[1], 3);
    ck_assert_uint_eq(s->slot[1].responses[1], 1);
    ck_assert_uint_eq(s->total.responses[0] + s->total.responses[1] + s->total.responses[2] +
                      s->total.responses[3] + s->total.responses[4], 6);
    free(s);
    stats_unmap(p);
}
END_TEST

START_TEST(names_are_bounded_and_merged)
{
    struct stats_page *p = stats_map();
    struct stats_block *b = worker(p, 0, 1, 100);
    char name[32];
    for (int i = 0; i < STATS_SERVERS + 5; i++) {
        snprintf(name, sizeof name, "s%d.example", i);
        stats_name_server(p, b, (size_t)i, name);
        stats_response(b, (size_t)i, 200);
    }
    /* Two masters adding a name at once may write it twice. */
    struct stats_block *c = worker(p, 1, 1, 101);
    stats_name_server(p, c, 0, "s0.example");
    c->server[1] = 1;
    snprintf(p->names[1].name, sizeof p->names[1].name, "s0.example");
    stats_response(c, 0, 200);
    stats_response(c, 1, 200);
    struct stats_snapshot *s = stats_snapshot(p);
    ck_assert_uint_eq(s->n_servers, STATS_SERVERS - 1 + 1);    /* merged, + other */
    ck_assert_uint_eq(server_responses(s, "s0.example")[1], 4);
    ck_assert_ptr_null(server_responses(s, "s1.example"));
    ck_assert_uint_eq(server_responses(s, "")[1], 5);
    free(s);
    stats_unmap(p);
}
END_TEST

/* A reader in another process while the master folds blocks, paced so that
 * folds overlap its readings all the time without starving it: the total
 * never goes down and never runs ahead of what was counted. */
struct race {
    uint64_t readings;
    uint32_t verdict;           /* 0 while reading, then 1 + the exit code */
};

static void race_reader(const struct stats_page *p, struct race *r, uint64_t rounds)
{
    uint64_t last = 0;
    int code = 0;
    alarm(20);                  /* never outlive a failed test */
    for (;;) {
        struct stats_snapshot *s = stats_snapshot(p);
        uint64_t now = s->slot[0].c[STAT_REQUESTS];
        uint64_t twos = s->slot[0].responses[1];
        free(s);
        if (now < last)
            code = 1;           /* went down */
        else if (now > rounds || twos > rounds)
            code = 2;           /* counted a block twice */
        if (code || now == rounds)
            break;
        last = now;
        __atomic_fetch_add(&r->readings, 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&r->verdict, 1 + (uint32_t)code, __ATOMIC_RELEASE);
    _exit(code);
}

START_TEST(snapshots_race_folds)
{
    struct stats_page *p = stats_map();
    enum { ROUNDS = 20000 };
    struct race *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                          -1, 0);
    ck_assert_ptr_ne(r, MAP_FAILED);
    pid_t reader = fork();
    ck_assert_int_ge(reader, 0);
    if (reader == 0)
        race_reader(p, r, ROUNDS);
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t seen = __atomic_load_n(&r->readings, __ATOMIC_ACQUIRE);
        struct stats_block *b = worker(p, 0, 1, 100);
        stats_add(b, STAT_REQUESTS, 1);
        stats_response(b, 0, 200);
        stats_retire(p, b);
        /* Let the reader finish a reading before the next fold, but only
         * for a bounded spin: on a loaded machine both processes may share
         * one CPU, and waiting for each reading would cost a time slice per
         * round. The checks hold whatever the interleaving. */
        for (int spin = 0; spin < 4000 && __atomic_load_n(&r->verdict, __ATOMIC_ACQUIRE) == 0 &&
                           __atomic_load_n(&r->readings, __ATOMIC_ACQUIRE) == seen; spin++)
            __builtin_ia32_pause();
    }
    int status;
    ck_assert_int_eq(waitpid(reader, &status, 0), reader);
    ck_assert(WIFEXITED(status));
    ck_assert_msg(WEXITSTATUS(status) == 0, "a reading %s",
                  WEXITSTATUS(status) == 1 ? "went down" : "counted a block twice");
    stats_unmap(p);
}
END_TEST

START_TEST(page_passes_on_to_a_new_master)
{
    struct stats_page *old = stats_map();
    struct stats_block *b = worker(old, 2, 7, 100);
    stats_add(b, STAT_REQUESTS, 42);
    ck_assert_int_eq(stats_pass_on(200), 0);
    const char *env = getenv("HERD_STATS_FD");
    ck_assert_ptr_nonnull(env);
    ck_assert_int_ge(atoi(env), 200);
    /* What the new master finds after exec: the same memory. */
    struct stats_page *young = stats_map();
    ck_assert_ptr_nonnull(young);
    ck_assert_ptr_ne(young, old);
    ck_assert_ptr_null(getenv("HERD_STATS_FD"));
    struct stats_snapshot *s = stats_snapshot(young);
    ck_assert_uint_eq(s->slot[2].c[STAT_REQUESTS], 42);
    free(s);
    struct stats_block *nb = worker(young, 2, 1, 200);
    ck_assert_int_ne(nb - young->blocks, b - old->blocks);    /* the old one's */
    stats_add(nb, STAT_REQUESTS, 1);
    stats_retire(old, b);           /* the old master's worker exits */
    s = stats_snapshot(young);
    ck_assert_uint_eq(s->slot[2].c[STAT_REQUESTS], 43);
    free(s);
}
END_TEST

/* What the old master passed on is not a page of this build: the new
 * master starts its counters anew, on a page of its own. */
static void expect_fresh_page(int fd)
{
    int keep = dup(fd);
    char num[16];
    snprintf(num, sizeof num, "%d", fd);
    setenv("HERD_STATS_FD", num, 1);
    struct stats_page *p = stats_map();
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_null(getenv("HERD_STATS_FD"));
    ck_assert_uint_eq(p->size, sizeof *p);
    p->started = 12345;
    int64_t there = 0;
    ck_assert_int_ge(pread(keep, &there, sizeof there, offsetof(struct stats_page, started)), 0);
    ck_assert_int_ne(there, 12345);         /* not the file passed on */
    close(keep);
    stats_unmap(p);
}

START_TEST(foreign_page_starts_anew)
{
    char path[] = "/tmp/check_stats.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(ftruncate(fd, 4096), 0);
    expect_fresh_page(fd);                  /* the wrong size */
    fd = memfd_create("other", 0);
    ck_assert_int_eq(ftruncate(fd, sizeof(struct stats_page)), 0);
    expect_fresh_page(fd);                  /* the right size, no magic */
}
END_TEST

/* The names the status page and Prometheus print: one per counter, each a
 * metric-name-safe word; gauges (which a fold does not keep) are the four
 * connection states; a gauge goes down as well as up. */
START_TEST(names_and_gauges)
{
    const char *want[STAT_COUNTERS] = { "accepted", "handled", "active", "reading", "writing",
                                        "idle", "requests", "bytes_in", "bytes_out" };
    for (int k = 0; k < STAT_COUNTERS; k++) {
        ck_assert_str_eq(stats_counter_name((enum stats_counter)k), want[k]);
        bool gauge = k == STAT_ACTIVE || k == STAT_READING || k == STAT_WRITING || k == STAT_IDLE;
        ck_assert_msg(stats_is_gauge((enum stats_counter)k) == gauge, "%s", want[k]);
    }
    const char *classes[] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
    for (int cls = 0; cls < STATS_CLASSES; cls++)
        ck_assert_str_eq(stats_class_name(cls), classes[cls]);
    ck_assert_str_eq(stats_class_name(-1), "?");
    ck_assert_str_eq(stats_class_name(STATS_CLASSES), "?");

    struct stats_page *p = stats_map();
    struct stats_block *b = worker(p, 0, 1, 100);
    stats_add(b, STAT_ACTIVE, 3);
    stats_sub(b, STAT_ACTIVE, 1);
    ck_assert_uint_eq(stats_get(b, STAT_ACTIVE), 2);
    stats_sub(b, STAT_ACTIVE, 2);
    ck_assert_uint_eq(stats_get(b, STAT_ACTIVE), 0);
    stats_unmap(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_test(tc, fold_keeps_slot_totals);
    tcase_add_test(tc, claim_fails_cleanly);
    tcase_add_test(tc, responses_by_class_and_server);
    tcase_add_test(tc, names_are_bounded_and_merged);
    tcase_add_test(tc, snapshots_race_folds);
    tcase_add_test(tc, page_passes_on_to_a_new_master);
    tcase_add_test(tc, foreign_page_starts_anew);
    tcase_add_test(tc, names_and_gauges);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
