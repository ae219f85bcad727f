/* Worker slots (src/master/slot.c), mostly through a master in this
 * process (src/master/internal.h) whose workers the test kills and reaps
 * itself, turning the master's loop only when it wants time to pass:
 * spawning a worker on its slot's sockets, respawning at once and then
 * with a back-off, a worker that exits WORKER_EXIT_FATAL left alone until
 * a reload, a down slot steered around (this process holds the sockets,
 * as the master, and sees where connections land while the workers are
 * stopped), and its sockets lent to a serving worker until it is back
 * (seen in the workers' descriptors). One case kills a whole master's
 * worker. Idle upstream connections a draining worker hands over go to the
 * serving generation's worker of the same slot, else to the next ready
 * one, and are closed when no generation may take them. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "listen.h"
#include "master/internal.h"
#include "master_fixture.h"
#include "stats.h"
#include "tap.h"

START_TEST(a_killed_worker_is_respawned_in_its_slot)
{
    mf_start(2);
    int old = mf_worker_of(1);
    ck_assert_int_gt(old, 0);
    ck_assert_int_eq(kill(old, SIGKILL), 0);
    int now = 0;
    MF_WAIT((now = mf_worker_of(1)) != 0 && now != old, "slot 1 has no new worker");
    ck_assert_int_eq(mf_echo("respawned\n"), 0);
    ck_assert(mf_logged("killed by signal 9"));
}
END_TEST

START_TEST(spawn_forks_a_worker_on_its_slots_sockets)
{
    struct master *m = mfm_serving(2);
    struct gen *g = m->current;
    struct listener *l = mfm_listener(g);
    ck_assert_int_eq(g->alive, 2);
    ck_assert_int_eq(g->ready, 2);
    pid_t kids[8];
    size_t n = mf_children_of(getpid(), kids, 8);
    ck_assert_uint_eq(n, 2);
    for (int slot = 0; slot < 2; slot++) {
        struct child *c = mfm_child(m, g, slot);
        ck_assert_ptr_nonnull(c);
        ck_assert(c->ready);
        ck_assert(!g->slots[slot].down);
        ck_assert(c->pid == kids[0] || c->pid == kids[1]);
        /* Its counters: a block of the shared page, claimed for it. */
        ck_assert_int_eq(c->stats->pid, c->pid);
        ck_assert_int_eq(c->stats->slot, slot);
        ck_assert_uint_eq(c->stats->generation, 1);
        ck_assert(mf_holds_socket(c->pid, l->fds[slot]));
        ck_assert(!mf_holds_socket(c->pid, l->fds[1 - slot]));
        ck_assert(mfm_logged("started worker %d (slot %d, generation 1)", (int)c->pid, slot));
    }
    ck_assert_int_eq(mf_echo("spawned\n"), 0);
    mfm_free(m);
}
END_TEST

/* Kill c: its slot has a new worker at once, before the loop turns, and
 * the next back-off is the first one. Returns the new worker, ready. */
static struct child *respawned_at_once(struct master *m, struct child *c)
{
    struct gen *g = c->gen;
    struct slot *s = &g->slots[c->slot];
    pid_t dead = c->pid;
    mfm_kill(m, c);
    c = mfm_child(m, g, s->index);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_ne(c->pid, dead);
    ck_assert(!timer_armed(&s->respawn));
    ck_assert_int_eq(s->backoff, 100);
    MFM_RUN_UNTIL(m, c->ready, "the respawned worker is not ready");
    ck_assert(!s->down);
    return c;
}

START_TEST(respawn_at_once_then_with_back_off)
{
    struct master *m = mfm_serving(1);
    struct gen *g = m->current;
    struct slot *s = &g->slots[0];
    struct child *c = respawned_at_once(m, mfm_child(m, g, 0));

    /* Dying again soon after: respawned 100 ms later, then 200 ms. */
    for (int64_t wait = 100; wait <= 200; wait *= 2) {
        mfm_kill(m, c);
        ck_assert_ptr_null(mfm_child(m, g, 0));
        ck_assert(s->down);
        ck_assert(timer_armed(&s->respawn));
        ck_assert_int_eq(s->respawn.when - loop_now(m->loop), wait);
        ck_assert_int_eq(s->backoff, wait * 2);
        int64_t died = loop_now(m->loop);
        MFM_RUN_UNTIL(m, (c = mfm_child(m, g, 0)) != NULL, "no respawn after %lld ms",
                      (long long)wait);
        ck_assert_int_ge(s->started - died, wait);
        MFM_RUN_UNTIL(m, c->ready, "the respawned worker is not ready");
        ck_assert(!s->down);
        ck_assert(mfm_logged("slot 0 keeps failing; respawning in %lld ms", (long long)wait));
    }

    /* After a stable run the count starts over: at once again. */
    s->started = loop_now(m->loop) - 5000;     /* as if it had served for 5 s */
    respawned_at_once(m, c);
    ck_assert_int_eq(mf_echo("again\n"), 0);
    mfm_free(m);
}
END_TEST

/* Slot 1's worker dies; its respawn cannot start and never will (its
 * static root became unreadable): no more respawns, its sockets go to
 * slot 0's worker; a reload tries again. */
START_TEST(a_worker_that_cannot_start_is_not_respawned)
{
    mf_write_conf_with(&(struct mf_conf){ .workers = 2,
                                          .more_servers = mf_static_server_elsewhere() });
    struct master *m = mfm_new();
    struct gen *g = mfm_start(m);
    struct listener *l = mfm_listener(g);
    struct slot *s = &g->slots[1];
    ck_assert_int_eq(chmod(mf_private_dir(), 0), 0);

    mfm_kill(m, mfm_child(m, g, 1));
    struct child *c = mfm_child(m, g, 1);
    ck_assert_ptr_nonnull(c);
    pid_t doomed = c->pid;
    MFM_RUN_UNTIL(m, s->given_up, "slot 1 was not given up");
    ck_assert(!mf_alive(doomed));
    ck_assert(s->down);
    ck_assert(!timer_armed(&s->respawn));
    ck_assert_ptr_null(mfm_child(m, g, 1));
    ck_assert(mfm_logged("worker %d (slot 1, generation 1) exited with status 2", (int)doomed));
    ck_assert(mfm_logged("worker slot 1 cannot start (see above); not respawning it until a "
                         "reload"));

    struct child *w0 = mfm_child(m, g, 0);
    ck_assert_ptr_eq(s->borrower, w0);
    MF_WAIT(mf_holds_socket(w0->pid, l->fds[1]), "slot 0's worker has not got slot 1's socket");
    ck_assert_int_eq(mf_echo("one serves\n"), 0);

    ck_assert_int_eq(chmod(mf_private_dir(), 0755), 0);
    gen_request_reload(m, NULL);
    struct gen *next = m->pending;
    ck_assert_ptr_nonnull(next);
    MFM_RUN_UNTIL(m, m->current == next, "the reload did not take over");
    ck_assert_ptr_nonnull(mfm_child(m, next, 1));
    ck_assert(!next->slots[1].down);
    mfm_free(m);
}
END_TEST

/* Which socket of l's group takes each of `count` new connections, while
 * no worker accepts: this process holds the sockets (as the master does)
 * and accepts them itself. */
static void spread(const struct listener *l, int count, int *per)
{
    struct pollfd p[4];
    ck_assert_uint_le(l->n_fds, 4);
    memset(per, 0, l->n_fds * sizeof *per);
    for (int k = 0; k < count; k++) {
        int c = mf_connect(mf.port);
        ck_assert_int_ge(c, 0);
        for (size_t i = 0; i < l->n_fds; i++)
            p[i] = (struct pollfd){ .fd = l->fds[i], .events = POLLIN };
        ck_assert_int_gt(poll(p, l->n_fds, MF_PATIENCE_MS), 0);
        size_t i = 0;
        while (!(p[i].revents & POLLIN))
            i++;
        int a = accept4(l->fds[i], NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(a, 0);
        close(a);
        close(c);
        per[i]++;
    }
}

/* Kill slot's worker of g, then its respawn once it is ready: the slot is
 * then down for a back-off, with no worker. */
static void down_for_a_back_off(struct master *m, struct gen *g, int slot)
{
    struct slot *s = &g->slots[slot];
    mfm_kill(m, mfm_child(m, g, slot));
    MFM_RUN_UNTIL(m, !s->down, "slot %d is not back", slot);
    mfm_kill(m, mfm_child(m, g, slot));
    ck_assert(s->down);
    ck_assert(timer_armed(&s->respawn));
    ck_assert_ptr_null(mfm_child(m, g, slot));
}

START_TEST(a_down_slot_gets_no_new_connections)
{
    struct master *m = mfm_serving(2);
    struct gen *g = m->current;
    struct listener *l = mfm_listener(g);
    int per[2];
    down_for_a_back_off(m, g, 1);

    pid_t w0 = mfm_child(m, g, 0)->pid;
    mf_stop(w0);
    spread(l, 20, per);
    ck_assert_int_eq(per[1], 0);
    ck_assert_int_eq(per[0], 20);
    mf_cont(w0);

    /* Once its worker is ready again, it gets its share. */
    MFM_RUN_UNTIL(m, !g->slots[1].down, "slot 1 is not back");
    pid_t w1 = mfm_child(m, g, 1)->pid;
    mf_stop(w0);
    mf_stop(w1);
    spread(l, 40, per);
    ck_assert_msg(per[0] > 0 && per[1] > 0, "%d and %d", per[0], per[1]);
    mf_cont(w0);
    mf_cont(w1);
    ck_assert_int_eq(mf_echo("both\n"), 0);
    mfm_free(m);
}
END_TEST

START_TEST(a_down_slots_sockets_are_lent_until_it_is_back)
{
    struct master *m = mfm_serving(2);
    struct gen *g = m->current;
    struct listener *l = mfm_listener(g);
    struct slot *s = &g->slots[1];
    mfm_kill(m, mfm_child(m, g, 1));
    MFM_RUN_UNTIL(m, !s->down, "slot 1 is not back");
    struct child *w0 = mfm_child(m, g, 0), *w1 = mfm_child(m, g, 1);
    ck_assert(!mf_holds_socket(w0->pid, l->fds[1]));

    /* Connections queue on slot 1's socket while its worker is stopped... */
    mf_stop(w1->pid);
    int clients[64], n = 0;
    struct pollfd p = { l->fds[1], POLLIN, 0 };
    do {
        ck_assert_int_lt(n, 64);
        clients[n] = mf_connect(mf.port);
        ck_assert_int_ge(clients[n++], 0);
    } while (poll(&p, 1, 100) == 0);
    /* ... and it dies soon after its respawn: a back-off without a worker.
     * Slot 0's worker serves what queued there. */
    mfm_kill(m, w1);
    ck_assert_ptr_null(mfm_child(m, g, 1));
    ck_assert(timer_armed(&s->respawn));
    ck_assert_ptr_eq(s->borrower, w0);
    for (int i = 0; i < n; i++) {
        ck_assert_msg(mf_echo_on(clients[i], "queued\n") == 0, "client %d of %d", i, n);
        close(clients[i]);
    }
    ck_assert(mf_holds_socket(w0->pid, l->fds[1]));
    ck_assert(mfm_logged("slot 1 has no worker: worker %d (slot 0) accepts from its sockets "
                         "meanwhile", (int)w0->pid));

    /* Its own worker again: the socket goes back. */
    MFM_RUN_UNTIL(m, !s->down, "slot 1 is not back");
    ck_assert_ptr_null(s->borrower);
    ck_assert(mf_holds_socket(mfm_child(m, g, 1)->pid, l->fds[1]));
    MF_WAIT(!mf_holds_socket(w0->pid, l->fds[1]), "slot 0's worker keeps slot 1's socket");
    mfm_free(m);
}
END_TEST

/* A TCP connection on loopback: *client is the end handed over, the
 * return value the server's end (non-blocking). */
static int tcp_pair(int *client)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
    *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(*client, (struct sockaddr *)&a, sizeof a), 0);
    int server = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(server, 0);
    close(l);
    return server;
}

static bool ended(int server)
{
    char c;
    return read(server, &c, 1) == 0;
}

/* Pass one connection from `from`; returns the worker it went to. The
 * master's copy is closed at once; the connection ends only once the
 * worker (which has no upstream of that name) closes it, so it reached
 * that worker, stopped meanwhile, and nobody else holds it. */
static struct child *pass_one(struct master *m, struct child *from, bool expect_taken)
{
    struct channel_idle idle;
    memset(&idle, 0, sizeof idle);
    strcpy(idle.upstream, "app");
    strcpy(idle.server, "127.0.0.1:1");
    int fd, server = tcp_pair(&fd);
    pid_t stopped[2] = { 0, 0 };
    for (int i = 0; i < 2 && expect_taken; i++)
        if (mfm_child(m, m->current, i))
            mf_stop(stopped[i] = mfm_child(m, m->current, i)->pid);
    struct child *to = slot_pass_idle(m, from, &idle, fd);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    if (expect_taken) {
        ck_assert_ptr_nonnull(to);
        usleep(50 * 1000);
        ck_assert(!ended(server));     /* in the stopped worker's channel */
        for (int i = 0; i < 2; i++)
            if (stopped[i])
                mf_cont(stopped[i]);
    } else {
        ck_assert_ptr_null(to);
    }
    MF_WAIT(ended(server), "the connection was not closed");
    close(server);
    return to;
}

START_TEST(idle_connections_go_to_the_same_slot_of_the_new_generation)
{
    struct master *m = mfm_serving(2);
    struct gen *g = m->current;
    struct gen old = { .state = GEN_DRAINING, .workers = 4 };
    struct child from = { .gen = &old, .slot = 1 };
    ck_assert_ptr_eq(pass_one(m, &from, true), mfm_child(m, g, 1));
    /* Slot 3 is not in the new generation: spread over it. */
    from.slot = 3;
    ck_assert_ptr_eq(pass_one(m, &from, true), mfm_child(m, g, 1));
    from.slot = 2;
    ck_assert_ptr_eq(pass_one(m, &from, true), mfm_child(m, g, 0));
    /* Its slot's worker not ready: the next one. */
    mfm_child(m, g, 0)->ready = false;
    ck_assert_ptr_eq(pass_one(m, &from, true), mfm_child(m, g, 1));
    mfm_child(m, g, 0)->ready = true;
    ck_assert_uint_eq(from.passed, 4);
    ck_assert_uint_eq(from.dropped, 0);
    /* Closed: from the serving generation itself, a generation that is not
     * draining, or a master that stops. */
    struct child self = { .gen = g, .slot = 0 };
    pass_one(m, &self, false);
    old.state = GEN_FAILED;
    pass_one(m, &from, false);
    old.state = GEN_DRAINING;
    m->mode = MASTER_QUITTING;
    pass_one(m, &from, false);
    m->mode = MASTER_RUNNING;
    ck_assert_uint_eq(from.dropped, 2);
    ck_assert_uint_eq(self.dropped, 1);
    mfm_free(m);
}
END_TEST

int main(void)
{
    mf_init();
    Suite *s = suite_create("master_slot");
    TCase *tc = mf_tcase(s, "slot");
    tcase_add_test(tc, a_killed_worker_is_respawned_in_its_slot);
    tcase_add_test(tc, spawn_forks_a_worker_on_its_slots_sockets);
    tcase_add_test(tc, respawn_at_once_then_with_back_off);
    tcase_add_test(tc, a_worker_that_cannot_start_is_not_respawned);
    tcase_add_test(tc, a_down_slot_gets_no_new_connections);
    tcase_add_test(tc, a_down_slots_sockets_are_lent_until_it_is_back);
    tcase_add_test(tc, idle_connections_go_to_the_same_slot_of_the_new_generation);
    return run_suite_tap(s);
}
