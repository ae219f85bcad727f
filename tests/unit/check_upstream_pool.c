/* The idle upstream connection pool (upstream_pool.c) over real loopback
 * TCP connections on the loop of conn_fixture.h: a connection put back is
 * taken again for its server only, the most recently used first; one the
 * server closed, or that has bytes waiting, is never handed out; beyond
 * keepalive the least recently used is closed; an idle one is closed at
 * its deadline, or when its server closes it; keepalive 0 keeps none. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_fixture.h"
#include "tap.h"
#include "transport.h"
#include "upstream_pool.h"

static int listener;
static struct sockaddr_in addr;
static int key;                     /* its address stands for a balancer */
static int peers[8];                /* the server's ends */
static int n_peers;

static void setup(void)
{
    fx_setup();
    listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    addr = (struct sockaddr_in){ .sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    ck_assert_int_eq(bind(listener, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(listener, 16), 0);
    ck_assert_int_eq(getsockname(listener, (struct sockaddr *)&addr, &len), 0);
    n_peers = 0;
}

static void teardown(void)
{
    for (int i = 0; i < n_peers; i++)
        if (peers[i] >= 0)
            close(peers[i]);
    close(listener);
    fx_teardown();
}

static bool opened(void *c)
{
    (void)c;
    return fx_probe.count['o'] > 0;
}

static bool accepted(void *unused)
{
    (void)unused;
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
    if (fd < 0)
        return false;
    peers[n_peers++] = fd;
    return true;
}

/* A connected outbound connection (its server's end in peers[]). */
static struct conn *connect_one(void)
{
    fx_probe_forget();
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 5000,
                                  &fx_probe_ops, &transport_plain, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert(fx_run_until(opened, NULL, 5000));
    ck_assert(fx_run_until(accepted, NULL, 5000));
    return c;
}

static bool outbound_at_most(void *n)
{
    return fx.owner.n_outbound <= *(size_t *)n;
}

static bool pool_empty(void *p)
{
    return upstream_pool_idle(p) == 0;
}

START_TEST(taken_again_for_its_server_most_recent_first)
{
    struct upstream_pool *p = upstream_pool_ref((struct balancer *)&key, 4);
    ck_assert_ptr_eq(upstream_pool_ref((struct balancer *)&key, 4), p);   /* shared */
    upstream_pool_unref(p);
    struct conn *a = connect_one(), *b = connect_one();
    upstream_pool_put(p, a, 0, 60000);
    upstream_pool_put(p, b, 0, 60000);
    ck_assert_uint_eq(upstream_pool_idle(p), 2);
    ck_assert_ptr_null(upstream_pool_take(p, 1, &fx_probe_ops, NULL));
    ck_assert_ptr_eq(upstream_pool_take(p, 0, &fx_probe_ops, &key), b);
    ck_assert_ptr_eq(b->data, &key);
    ck_assert_ptr_eq(b->ops, &fx_probe_ops);
    ck_assert_ptr_eq(upstream_pool_take(p, 0, &fx_probe_ops, NULL), a);
    ck_assert_ptr_null(upstream_pool_take(p, 0, &fx_probe_ops, NULL));
    conn_close_now(a);
    conn_close_now(b);
    conn_wake(a);
    conn_wake(b);
    size_t none = 0;
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
    upstream_pool_unref(p);
}
END_TEST

/* Checked before it is handed out: no loop round between the server's
 * close (or stray bytes) and the take. */
START_TEST(stale_never_taken)
{
    struct upstream_pool *p = upstream_pool_ref((struct balancer *)&key, 4);
    struct conn *a = connect_one(), *b = connect_one();
    upstream_pool_put(p, a, 0, 60000);
    upstream_pool_put(p, b, 0, 60000);
    close(peers[1]);                /* b's server closes it */
    peers[1] = -1;
    ck_assert_int_eq(write(peers[0], "x", 1), 1);   /* a's says something */
    struct pollfd pf[2] = { { .fd = a->io.fd, .events = POLLIN },
                            { .fd = b->io.fd, .events = POLLIN } };
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(poll(&pf[i], 1, 5000), 1);
    ck_assert_ptr_null(upstream_pool_take(p, 0, &fx_probe_ops, NULL));
    ck_assert_uint_eq(upstream_pool_idle(p), 0);
    size_t none = 0;
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
    upstream_pool_unref(p);
}
END_TEST

START_TEST(closed_while_idle_by_its_server)
{
    struct upstream_pool *p = upstream_pool_ref((struct balancer *)&key, 4);
    upstream_pool_put(p, connect_one(), 0, 60000);
    close(peers[0]);
    peers[0] = -1;
    ck_assert(fx_run_until(pool_empty, p, 5000));
    size_t none = 0;
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
    upstream_pool_unref(p);
}
END_TEST

START_TEST(least_recently_used_closed_beyond_keepalive)
{
    struct upstream_pool *p = upstream_pool_ref((struct balancer *)&key, 2);
    struct conn *a = connect_one(), *b = connect_one(), *c = connect_one();
    upstream_pool_put(p, a, 0, 60000);
    upstream_pool_put(p, b, 0, 60000);
    upstream_pool_put(p, c, 0, 60000);
    ck_assert_uint_eq(upstream_pool_idle(p), 2);
    size_t two = 2;
    ck_assert(fx_run_until(outbound_at_most, &two, 5000));
    /* a went: the server's end reads its end. */
    char buf[8];
    size_t len = 0;
    struct pollfd pf = { .fd = peers[0], .events = POLLIN };
    ck_assert_int_eq(poll(&pf, 1, 5000), 1);
    ck_assert(!fx_recv(peers[0], buf, &len, sizeof buf));
    ck_assert_ptr_eq(upstream_pool_take(p, 0, &fx_probe_ops, NULL), c);
    ck_assert_ptr_eq(upstream_pool_take(p, 0, &fx_probe_ops, NULL), b);
    conn_close_now(b);
    conn_close_now(c);
    conn_wake(b);
    conn_wake(c);
    size_t none = 0;
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
    upstream_pool_unref(p);
}
END_TEST

START_TEST(idle_deadline_and_keepalive_zero)
{
    struct upstream_pool *p = upstream_pool_ref((struct balancer *)&key, 4);
    upstream_pool_put(p, connect_one(), 0, 30);
    ck_assert(fx_run_until(pool_empty, p, 5000));
    size_t none = 0;
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
    upstream_pool_unref(p);

    int other;
    struct upstream_pool *q = upstream_pool_ref((struct balancer *)&other, 0);
    upstream_pool_put(q, connect_one(), 0, 60000);
    ck_assert_uint_eq(upstream_pool_idle(q), 0);
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
    upstream_pool_unref(q);
}
END_TEST

/* The last user gone: what it kept is closed. */
START_TEST(unref_closes_the_idle)
{
    struct upstream_pool *p = upstream_pool_ref((struct balancer *)&key, 4);
    upstream_pool_put(p, connect_one(), 0, 60000);
    upstream_pool_unref(p);
    size_t none = 0;
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("upstream_pool");
    TCase *t = tcase_create("pool");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, taken_again_for_its_server_most_recent_first);
    tcase_add_test(t, stale_never_taken);
    tcase_add_test(t, closed_while_idle_by_its_server);
    tcase_add_test(t, least_recently_used_closed_beyond_keepalive);
    tcase_add_test(t, idle_deadline_and_keepalive_zero);
    tcase_add_test(t, unref_closes_the_idle);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
