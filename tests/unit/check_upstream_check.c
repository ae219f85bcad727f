/* Active health checks (src/upstream_check.c): the status line reader, the
 * verdicts (fails in a row take a server down, passes bring it back and
 * forget its passive failures, a first pass makes it up), and the prober
 * itself on a loop against a server in a thread of this test: 200 is up,
 * 500 and a refused connect are down, a server that never answers is down
 * at the timeout, a connect check needs no answer, and a reconfiguration
 * keeps a server's state while one left out is unchecked. */
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "tap.h"
#include "upstream_check.h"

START_TEST(status_lines)
{
    ck_assert_int_eq(upstream_check_status("HTTP/1.1 200 OK\r\n", 17), 200);
    ck_assert_int_eq(upstream_check_status("HTTP/1.0 302\r\n", 14), 302);
    ck_assert_int_eq(upstream_check_status("HTTP/1.1 503 Busy", 17), 503);
    ck_assert_int_eq(upstream_check_status("HTTP/1.1 20", 11), 0);     /* more to come */
    ck_assert_int_eq(upstream_check_status("HTT", 3), 0);
    ck_assert_int_eq(upstream_check_status("", 0), 0);
    ck_assert_int_eq(upstream_check_status("SSH-2.0-x\r\n", 11), -1);
    ck_assert_int_eq(upstream_check_status("HTTP/2 200 \r\n", 13), -1);
    ck_assert_int_eq(upstream_check_status("HTTP/1.1 2x0 OK\r\n", 17), -1);
    ck_assert_int_eq(upstream_check_status("HTTP/1.1 099 OK\r\n", 17), -1);
    ck_assert_int_eq(upstream_check_status("HTTP/1.1 200OK\r\n", 16), -1);
    ck_assert_int_eq(upstream_check_status("HTTP/1.\n", 8), -1);
}
END_TEST

START_TEST(verdicts)
{
    struct upstream_health h = { .state = UPSTREAM_HEALTH_CHECKING };
    ck_assert(upstream_check_judge(&h, true, 2, 3));
    ck_assert_int_eq(h.state, UPSTREAM_HEALTH_UP);
    ck_assert(!upstream_check_judge(&h, false, 2, 3));
    ck_assert_int_eq(h.state, UPSTREAM_HEALTH_UP);
    ck_assert(!upstream_check_judge(&h, true, 2, 3));   /* the run of fails ends */
    ck_assert(!upstream_check_judge(&h, false, 2, 3));
    ck_assert(upstream_check_judge(&h, false, 2, 3));
    ck_assert_int_eq(h.state, UPSTREAM_HEALTH_DOWN);
    ck_assert(!upstream_check_judge(&h, false, 2, 3));
    /* Passive failures meanwhile are forgotten when it comes back. */
    h.fails = 5;
    h.down_until = 1 << 30;
    ck_assert(!upstream_check_judge(&h, true, 2, 3));
    ck_assert(!upstream_check_judge(&h, true, 2, 3));
    ck_assert_int_eq(h.state, UPSTREAM_HEALTH_DOWN);
    ck_assert(upstream_check_judge(&h, true, 2, 3));
    ck_assert_int_eq(h.state, UPSTREAM_HEALTH_UP);
    ck_assert_int_eq(h.fails, 0);
    ck_assert_int_eq(h.down_until, 0);
    /* A first verdict of failure needs `fails` too. */
    struct upstream_health g = { .state = UPSTREAM_HEALTH_CHECKING };
    ck_assert(!upstream_check_judge(&g, false, 2, 1));
    ck_assert_int_eq(g.state, UPSTREAM_HEALTH_CHECKING);
    ck_assert(upstream_check_judge(&g, false, 2, 1));
    ck_assert_int_eq(g.state, UPSTREAM_HEALTH_DOWN);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The prober against a server in a thread */

enum answer { A_200, A_500, A_SILENT };

static int srv_fd;
static int srv_port;
static volatile int answer;
static volatile int stop_srv;
static volatile int accepted;
static pthread_t srv_thread;

static void *serve(void *arg)
{
    (void)arg;
    while (!stop_srv) {
        int c = accept(srv_fd, NULL, NULL);
        if (c < 0)
            continue;
        __atomic_fetch_add(&accepted, 1, __ATOMIC_RELAXED);
        char buf[1024];
        ssize_t n = recv(c, buf, sizeof buf, 0);
        (void)n;
        const char *r = answer == A_200 ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                        : answer == A_500 ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"
                                          : NULL;
        if (r) {
            ssize_t w = send(c, r, strlen(r), MSG_NOSIGNAL);
            (void)w;
        } else {
            usleep(400 * 1000);
        }
        close(c);
    }
    return NULL;
}

static struct loop *loop;
static struct upstream_check *uc;
static struct upstream_health_config hc;
static struct upstream_server_config sc[2];
static struct upstream_config up;
static struct herd_config cfg;

static void setup(void)
{
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(srv_fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(srv_fd, 16), 0);
    ck_assert_int_eq(getsockname(srv_fd, (struct sockaddr *)&a, &len), 0);
    srv_port = ntohs(a.sin_port);
    struct timeval tv = { 0, 100000 };
    setsockopt(srv_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    stop_srv = 0;
    accepted = 0;
    answer = A_200;
    ck_assert_int_eq(pthread_create(&srv_thread, NULL, serve, NULL), 0);

    /* Server 0: the thread; server 1: a port nobody listens on. */
    int dead = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in d = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    len = sizeof d;
    ck_assert_int_eq(bind(dead, (struct sockaddr *)&d, sizeof d), 0);
    ck_assert_int_eq(getsockname(dead, (struct sockaddr *)&d, &len), 0);
    char addr[2][32];
    snprintf(addr[0], sizeof addr[0], "127.0.0.1:%d", srv_port);
    snprintf(addr[1], sizeof addr[1], "127.0.0.1:%d", ntohs(d.sin_port));
    const char *why;
    memset(sc, 0, sizeof sc);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(upstream_addr_parse(addr[i], &sc[i].addr, &why), 0);
        sc[i].weight = 1;
    }
    close(dead);        /* bound, never listening, now closed: refused */
    hc = (struct upstream_health_config){ .path = "/healthz", .interval = 100, .timeout = 200,
                                          .fails = 1, .passes = 1 };
    up = (struct upstream_config){ .name = "app", .servers = sc, .n_servers = 2,
                                   .health_check = &hc };
    memset(&cfg, 0, sizeof cfg);
    cfg.upstreams = &up;
    cfg.n_upstreams = 1;
    ck_assert_ptr_nonnull(upstream_health_map());
    memset(upstream_health_page()->e, 0, sizeof upstream_health_page()->e);
    upstream_health_register(&cfg);
    loop = loop_new(16);
    uc = upstream_check_new(loop);
    ck_assert_ptr_nonnull(uc);
}

static void teardown(void)
{
    upstream_check_free(uc);
    loop_free(loop);
    stop_srv = 1;
    pthread_join(srv_thread, NULL);
    close(srv_fd);
    upstream_health_unmap();
}

static struct upstream_health *entry(int i)
{
    return upstream_health_find("app", sc[i].addr.text);
}

/* Run the loop until server i is in state want, at most ms. */
static int want_server, want_state;
static struct timer watch, give_up;

static void on_watch(struct timer *t)
{
    if ((int)entry(want_server)->state == want_state) {
        loop_stop(loop);
        return;
    }
    loop_timer_after(loop, t, 10);
}

static void on_give_up(struct timer *t)
{
    (void)t;
    loop_stop(loop);
}

static bool run_until(int server, int state, int64_t ms)
{
    want_server = server;
    want_state = state;
    timer_init(&watch, on_watch);
    timer_init(&give_up, on_give_up);
    loop_timer_after(loop, &watch, 0);
    loop_timer_after(loop, &give_up, ms);
    loop_run(loop);
    loop_timer_cancel(loop, &watch);
    loop_timer_cancel(loop, &give_up);
    return (int)entry(server)->state == state;
}

START_TEST(probes_find_up_and_down)
{
    upstream_check_configure(uc, &cfg);
    ck_assert_int_eq(entry(0)->state, UPSTREAM_HEALTH_CHECKING);
    ck_assert(run_until(0, UPSTREAM_HEALTH_UP, 5000));
    ck_assert(run_until(1, UPSTREAM_HEALTH_DOWN, 5000));    /* refused */
    answer = A_500;
    ck_assert(run_until(0, UPSTREAM_HEALTH_DOWN, 5000));
    answer = A_200;
    ck_assert(run_until(0, UPSTREAM_HEALTH_UP, 5000));
    answer = A_SILENT;
    ck_assert(run_until(0, UPSTREAM_HEALTH_DOWN, 5000));    /* timed out */
}
END_TEST

START_TEST(connect_check_needs_no_answer)
{
    hc.path = NULL;
    answer = A_SILENT;
    upstream_check_configure(uc, &cfg);
    ck_assert(run_until(0, UPSTREAM_HEALTH_UP, 5000));
    ck_assert(run_until(1, UPSTREAM_HEALTH_DOWN, 5000));
}
END_TEST

START_TEST(reconfigure_keeps_state)
{
    upstream_check_configure(uc, &cfg);
    ck_assert(run_until(1, UPSTREAM_HEALTH_DOWN, 5000));
    /* The same upstream again: server 1 stays down until it passes. */
    upstream_check_configure(uc, &cfg);
    ck_assert_int_eq(entry(1)->state, UPSTREAM_HEALTH_DOWN);
    /* Without health_check: unchecked, used again. */
    up.health_check = NULL;
    upstream_check_configure(uc, &cfg);
    ck_assert_int_eq(entry(1)->state, UPSTREAM_HEALTH_UNCHECKED);
    ck_assert_int_eq(entry(0)->state, UPSTREAM_HEALTH_UNCHECKED);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upstream_check");
    TCase *tc = tcase_create("verdicts");
    tcase_add_test(tc, status_lines);
    tcase_add_test(tc, verdicts);
    suite_add_tcase(s, tc);
    tc = tcase_create("prober");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, probes_find_up_and_down);
    tcase_add_test(tc, connect_check_needs_no_answer);
    tcase_add_test(tc, reconfigure_keeps_state);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
