/* Generations (src/master/generation.c): reloads good and bad, through a
 * whole master's control socket and, step by step, through a master in
 * this process (src/master/internal.h) whose workers' READY messages the
 * test hands over one at a time: the old generation drains only once every
 * new worker is ready; a reload asked for during a reload runs once, after
 * it, on the file as it is then; new workers that fail or stay silent
 * leave the old generation serving; the worker count changes the sockets
 * steered to; a reload that cannot open an address undoes what it opened. */
#include <check.h>
#include <netinet/in.h>
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
#include "tap.h"

/* ------------------------------------------------------------------ */
/* Through a whole master */

START_TEST(a_failed_reload_keeps_the_generation)
{
    mf_start(1);
    char reply[2048];
    FILE *f = fopen(mf.conf, "a");
    fputs("workers = ;\n", f);
    fclose(f);
    mf_ask("reload", reply, sizeof reply);
    ck_assert_msg(strncmp(reply, "error ", 6) == 0 && strstr(reply, mf.conf), "%s", reply);
    /* The pid file cannot move on a reload. */
    FILE *g = fopen(mf.conf, "w");
    fprintf(g, "workers = 1;\nuser = \"nobody\";\npid_file = \"%s/other.pid\";\n"
            "error_log = \"%s\";\nservers = ( { listen = [ \"127.0.0.1:%d\" ]; "
            "protocol = \"echo\"; } );\n", mf.dir, mf.error_log, mf.port);
    fclose(g);
    mf_ask("reload", reply, sizeof reply);
    ck_assert_msg(strstr(reply, "pid_file cannot change on reload") != NULL, "%s", reply);
    mf_ask("generation", reply, sizeof reply);
    ck_assert_str_eq(reply, "ok generation 1");
    ck_assert_int_eq(mf_echo("still\n"), 0);
    kill(mf.master, SIGTERM);
    ck_assert_int_eq(mf_wait_exit(), 0);
}
END_TEST

/* Two `herd -s reload` at once: whichever the master reads second waits
 * for a reload of its own, after the first. */
START_TEST(two_reloads_at_once_are_both_answered)
{
    mf_start(1);
    int a = mf_ctl_send("reload");
    int b = mf_ctl_send("reload");
    char ra[256], rb[256];
    mf_ctl_answer(a, ra, sizeof ra);
    mf_ctl_answer(b, rb, sizeof rb);
    bool in_order = strcmp(ra, "ok generation 2") == 0 && strcmp(rb, "ok generation 3") == 0;
    bool swapped = strcmp(rb, "ok generation 2") == 0 && strcmp(ra, "ok generation 3") == 0;
    ck_assert_msg(in_order || swapped, "answers \"%s\" and \"%s\"", ra, rb);
    mf_ask("generation", ra, sizeof ra);
    ck_assert_str_eq(ra, "ok generation 3");
    ck_assert_int_eq(mf_echo("twice\n"), 0);
}
END_TEST

/* New workers that exit for good as they start: the reload fails, and the
 * old generation's workers go on serving. */
START_TEST(failed_new_workers_keep_the_old)
{
    struct mf_conf c = { .workers = 1, .more_servers = mf_static_server_elsewhere() };
    mf_write_conf_with(&c);
    mf.master = mf_run_master(true);
    mf_wait_generation(1);
    int old = mf_worker_of(0);
    ck_assert_int_gt(old, 0);

    ck_assert_int_eq(chmod(mf_private_dir(), 0), 0);
    char reply[1024];
    mf_ask("reload", reply, sizeof reply);
    ck_assert_str_eq(reply, "error a new worker (slot 0) exited with status 2 before it was ready");
    mf_ask("generation", reply, sizeof reply);
    ck_assert_str_eq(reply, "ok generation 1");
    ck_assert_int_eq(mf_worker_of(0), old);
    ck_assert_int_eq(mf_echo("old\n"), 0);
    ck_assert(mf_logged("Permission denied"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Step by step, in this process */

/* Hand worker c's READY to the master, as its loop would. */
static void deliver_ready(struct master *m, struct child *c)
{
    mfm_wait_channel(c);
    c->io.fn(m->loop, &c->io, LOOP_READ);
    ck_assert(c->ready);
}

START_TEST(the_old_generation_drains_only_once_the_new_is_ready)
{
    struct master *m = mfm_serving(2);
    struct gen *old = m->current;
    struct listener *l = mfm_listener(old);
    int fd0 = l->fds[0], fd1 = l->fds[1];
    pid_t o0 = mfm_child(m, old, 0)->pid, o1 = mfm_child(m, old, 1)->pid;

    gen_request_reload(m, NULL);
    struct gen *g = m->pending;
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(g->id, 2);
    ck_assert_int_eq(m->mode, MASTER_RELOADING);
    /* The same address: the same listener and sockets. */
    ck_assert_ptr_eq(mfm_listener(g), l);
    ck_assert(l->fds[0] == fd0 && l->fds[1] == fd1);

    /* One new worker ready of two: nothing moves. */
    deliver_ready(m, mfm_child(m, g, 0));
    ck_assert_int_eq(g->ready, 1);
    ck_assert_ptr_eq(m->current, old);
    ck_assert_int_eq(old->state, GEN_ACTIVE);
    ck_assert_int_eq(m->mode, MASTER_RELOADING);
    ck_assert_uint_eq(m->page->generation, 1);
    ck_assert(mf_alive(o0) && mf_alive(o1));

    /* The last one: generation 2 takes over, generation 1 drains and goes. */
    deliver_ready(m, mfm_child(m, g, 1));
    ck_assert_ptr_eq(m->current, g);
    ck_assert_ptr_null(m->pending);
    ck_assert_int_eq(old->state, GEN_DRAINING);
    ck_assert_int_eq(m->mode, MASTER_RUNNING);
    ck_assert_uint_eq(m->page->generation, 2);
    MFM_RUN_UNTIL(m, g->next == NULL, "generation 1 is still there");
    ck_assert(!mf_alive(o0) && !mf_alive(o1));
    ck_assert(mfm_logged("generation 2 serving; generation 1 draining"));
    ck_assert(mfm_logged("generation 1 finished"));
    ck_assert_int_eq(mf_echo("new\n"), 0);
    mfm_free(m);
}
END_TEST

START_TEST(a_reload_during_a_reload_runs_once_after_it)
{
    struct master *m = mfm_serving(1);
    gen_request_reload(m, NULL);
    struct gen *g2 = m->pending;
    ck_assert_ptr_nonnull(g2);
    /* Two more HUPs while generation 2 starts: one more reload, later. */
    gen_request_reload(m, NULL);
    gen_request_reload(m, NULL);
    ck_assert_ptr_eq(m->pending, g2);
    ck_assert(m->reload_again);
    ck_assert_uint_eq(m->next_id, 3);
    /* It reads the file as it is when it runs. */
    mf_write_conf(2, "");

    MFM_RUN_UNTIL(m, m->next_id == 4, "the queued reload did not start");
    struct gen *g3 = m->gens;
    ck_assert_uint_eq(g3->id, 3);
    ck_assert_int_eq(g3->workers, 2);
    ck_assert(!m->reload_again);
    MFM_RUN_UNTIL(m, m->current == g3 && g3->next == NULL, "generation 3 did not take over");
    ck_assert_uint_eq(m->next_id, 4);
    ck_assert_ptr_null(m->pending);
    ck_assert_int_eq(m->mode, MASTER_RUNNING);
    char *log = mfm_log();
    const char *served = strstr(log, "generation 2 serving");
    const char *third = strstr(log, "reloading: starting generation 3");
    ck_assert_msg(served && third && served < third, "%s", log);
    free(log);
    mfm_free(m);
}
END_TEST

/* New workers that do not report ready in time (the timer fires while the
 * loop has not read them): the old generation keeps serving. */
START_TEST(new_workers_silent_too_long_keep_the_old)
{
    struct master *m = mfm_serving(1);
    struct gen *old = m->current;
    pid_t o = mfm_child(m, old, 0)->pid;
    gen_request_reload(m, NULL);
    struct gen *g = m->pending;
    pid_t n = mfm_child(m, g, 0)->pid;
    ck_assert(timer_armed(&m->ready_timer));

    gen_on_ready_timeout(&m->ready_timer);
    ck_assert_ptr_null(m->pending);
    ck_assert_int_eq(g->state, GEN_FAILED);
    ck_assert_ptr_eq(m->current, old);
    ck_assert_int_eq(m->mode, MASTER_RUNNING);
    ck_assert(!timer_armed(&m->ready_timer));
    MFM_RUN_UNTIL(m, old->next == NULL && m->gens == old, "generation 2 is still there");
    ck_assert(!mf_alive(n));
    ck_assert(mf_alive(o));
    ck_assert_ptr_eq(mfm_child(m, old, 0)->gen, old);
    ck_assert(mfm_logged("reload failed, generation 1 keeps serving: new workers did not "
                         "report ready in time"));
    ck_assert_int_eq(mf_echo("old\n"), 0);
    mfm_free(m);
}
END_TEST

/* 2 workers, then 3, then 1: new slots get sockets of their own, which get
 * connections once their generation serves; fewer slots park the sockets
 * above (closing one would reset what is queued on it). */
START_TEST(the_worker_count_changes_the_sockets_steered_to)
{
    struct master *m = mfm_serving(2);
    struct gen *g = m->current;
    struct listener *l = mfm_listener(g);
    ck_assert_uint_eq(l->n_fds, 2);
    ck_assert_uint_eq(l->active, 2);

    mf_write_conf(3, "");
    gen_request_reload(m, NULL);
    g = m->pending;
    ck_assert_ptr_nonnull(g);
    ck_assert_uint_eq(l->n_fds, 3);
    ck_assert_uint_eq(l->active, 2);        /* not before generation 2 serves */
    MFM_RUN_UNTIL(m, m->current == g && g->next == NULL, "generation 2 did not take over");
    ck_assert_uint_eq(l->active, 3);
    for (int slot = 0; slot < 3; slot++) {
        pid_t w = mfm_child(m, g, slot)->pid;
        for (int other = 0; other < 3; other++)
            ck_assert_msg(mf_holds_socket(w, l->fds[other]) == (other == slot),
                          "worker of slot %d and socket %d", slot, other);
    }

    mf_write_conf(1, "");
    gen_request_reload(m, NULL);
    g = m->pending;
    MFM_RUN_UNTIL(m, m->current == g && g->next == NULL, "generation 3 did not take over");
    ck_assert_uint_eq(l->active, 1);
    ck_assert_uint_eq(l->n_fds, 3);         /* parked, not closed */
    ck_assert(!listen_slot_released(l, 0));
    ck_assert(listen_slot_released(l, 1) && listen_slot_released(l, 2));
    ck_assert_int_eq(mf_echo("one\n"), 0);
    mfm_free(m);
}
END_TEST

/* A plain socket listening on 127.0.0.1:port. */
static int take_port(int port)
{
    int busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(busy, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(busy, 1), 0);
    return busy;
}

/* A reload with more workers and a second address that someone else holds:
 * nothing of it stays (no listener for it, the group of the first address
 * steered as before), and generation 1 serves on. */
START_TEST(a_reload_that_cannot_open_an_address_undoes_it)
{
    struct master *m = mfm_serving(1);
    struct gen *g = m->current;
    struct listener *l = mfm_listener(g);
    int other = mf_free_port();
    int busy = take_port(other);
    char listen[96];
    snprintf(listen, sizeof listen, "\"127.0.0.1:%d\", \"127.0.0.1:%d\"", mf.port, other);
    mf_write_conf_with(&(struct mf_conf){ .workers = 3, .listen = listen });

    gen_request_reload(m, NULL);
    ck_assert_ptr_null(m->pending);
    ck_assert_ptr_eq(m->current, g);
    ck_assert_int_eq(m->mode, MASTER_RUNNING);
    ck_assert_uint_eq(m->next_id, 2);
    ck_assert_ptr_eq(m->listeners.head, l);
    ck_assert_ptr_null(l->next);
    ck_assert_int_eq(l->refs, 1);
    ck_assert_uint_eq(l->active, 1);
    ck_assert(mfm_logged("reload failed, generation 1 keeps serving: %s:", mf.conf));
    ck_assert(mfm_logged("Address already in use"));
    close(busy);
    ck_assert_int_eq(mf_connect(other), -1);
    ck_assert_int_eq(mf_echo("kept\n"), 0);
    mfm_free(m);
}
END_TEST

int main(void)
{
    mf_init();
    Suite *s = suite_create("master_generation");
    TCase *tc = mf_tcase(s, "reload");
    tcase_add_test(tc, a_failed_reload_keeps_the_generation);
    tcase_add_test(tc, two_reloads_at_once_are_both_answered);
    tcase_add_test(tc, failed_new_workers_keep_the_old);

    tc = mf_tcase(s, "steps");
    tcase_add_test(tc, the_old_generation_drains_only_once_the_new_is_ready);
    tcase_add_test(tc, a_reload_during_a_reload_runs_once_after_it);
    tcase_add_test(tc, new_workers_silent_too_long_keep_the_old);
    tcase_add_test(tc, the_worker_count_changes_the_sockets_steered_to);
    tcase_add_test(tc, a_reload_that_cannot_open_an_address_undoes_it);
    return run_suite_tap(s);
}
