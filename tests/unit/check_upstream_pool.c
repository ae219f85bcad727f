/* The idle upstream connection pool (upstream_pool.c) over real loopback
 * TCP connections on the loop of conn_fixture.h: a connection put back is
 * taken again for its server only, the most recently used first; one the
 * server closed, or that has bytes waiting, is never handed out; beyond
 * keepalive the least recently used are kept for at most a second of idle
 * time, then closed (not at once, so that a steady load of more concurrent
 * requests than keepalive does not connect and close per request); an
 * idle one is closed at
 * its deadline, or when its server closes it; keepalive 0 keeps none.
 * Across a reload: every idle connection, and each one put back later, is
 * handed over on a channel with its upstream, server and idle time (our
 * copy closed, the socket still open); one handed over is adopted only by
 * the pool of the same upstream and server, below keepalive, for what is
 * left of its keepalive_timeout, in the order of its idle time; else closed. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "balance.h"
#include "channel.h"
#include "conn_fixture.h"
#include "tap.h"
#include "transport.h"
#include "upstream.h"
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

/* Close the n connections and wait until no outbound one is left. */
static void close_all(struct conn *const *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        conn_close_now(cs[i]);
        conn_wake(cs[i]);
    }
    size_t none = 0;
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
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
    close_all((struct conn *[]){ a, b }, 2);
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

/* take_known asks no system call: what the loop has not reported yet (a
 * close queued but not dispatched) does not stop a take; what it has
 * reported closed the connection, which is never taken. */
START_TEST(take_known_trusts_what_the_loop_reported)
{
    struct upstream_pool *p = upstream_pool_ref((struct balancer *)&key, 4);
    struct conn *a = connect_one(), *b = connect_one();
    upstream_pool_put(p, a, 0, 60000);
    upstream_pool_put(p, b, 0, 60000);
    close(peers[1]);                /* b's server closes it */
    peers[1] = -1;
    struct pollfd pf = { .fd = b->io.fd, .events = POLLIN };
    ck_assert_int_eq(poll(&pf, 1, 5000), 1);
    ck_assert_ptr_eq(upstream_pool_take_known(p, 0, &fx_probe_ops, NULL), b);
    ck_assert_ptr_eq(b->ops, &fx_probe_ops);
    conn_close_now(b);
    conn_wake(b);
    close(peers[0]);                /* a's too, and the loop sees it */
    peers[0] = -1;
    ck_assert(fx_run_until(pool_empty, p, 5000));
    ck_assert_ptr_null(upstream_pool_take_known(p, 0, &fx_probe_ops, NULL));
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
    int64_t t0 = loop_now(fx.loop);
    upstream_pool_put(p, a, 0, 60000);
    upstream_pool_put(p, b, 0, 60000);
    upstream_pool_put(p, c, 0, 60000);
    /* Three idle: a, beyond keepalive, stays for a second of idle time. */
    ck_assert_uint_eq(upstream_pool_idle(p), 3);
    size_t two = 2;
    ck_assert(fx_run_until(outbound_at_most, &two, 5000));
    ck_assert_int_ge(loop_now(fx.loop) - t0, 1000);
    ck_assert_uint_eq(upstream_pool_idle(p), 2);
    /* a went: the server's end reads its end. */
    char buf[8];
    size_t len = 0;
    struct pollfd pf = { .fd = peers[0], .events = POLLIN };
    ck_assert_int_eq(poll(&pf, 1, 5000), 1);
    ck_assert(!fx_recv(peers[0], buf, &len, sizeof buf));
    ck_assert_ptr_eq(upstream_pool_take(p, 0, &fx_probe_ops, NULL), c);
    ck_assert_ptr_eq(upstream_pool_take(p, 0, &fx_probe_ops, NULL), b);
    close_all((struct conn *[]){ b, c }, 2);
    upstream_pool_unref(p);
}
END_TEST

/* A load of more concurrent requests than keepalive: connections put back
 * and taken again within the second are never closed, however often the
 * count passes keepalive. */
START_TEST(steady_load_beyond_keepalive_keeps_its_connections)
{
    struct upstream_pool *p = upstream_pool_ref((struct balancer *)&key, 1);
    struct conn *a = connect_one(), *b = connect_one(), *c = connect_one();
    for (int round = 0; round < 50; round++) {
        upstream_pool_put(p, a, 0, 60000);
        upstream_pool_put(p, b, 0, 60000);
        upstream_pool_put(p, c, 0, 60000);
        ck_assert_uint_eq(upstream_pool_idle(p), 3);
        fx_run_for(5);
        a = upstream_pool_take(p, 0, &fx_probe_ops, NULL);
        b = upstream_pool_take(p, 0, &fx_probe_ops, NULL);
        c = upstream_pool_take(p, 0, &fx_probe_ops, NULL);
        ck_assert(a && b && c);
    }
    ck_assert_uint_eq(fx.owner.n_outbound, 3);
    ck_assert_int_eq(n_peers, 3);                   /* never a new connection */
    close_all((struct conn *[]){ a, b, c }, 3);
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

/* ------------------------------------------------------------------ */
/* Across a reload */

static struct upstream_server_config servers[2];
static struct upstream_config up;
static int ch[2];                   /* ch[0] the worker's end, ch[1] the master's */

/* A real balancer for upstream "app": server 0 the test's listener, server
 * 1 an address nobody serves. */
static struct balancer *real_balancer(void)
{
    const char *why;
    char text[64];
    snprintf(text, sizeof text, "127.0.0.1:%d", ntohs(addr.sin_port));
    ck_assert_int_eq(upstream_addr_parse(text, &servers[0].addr, &why), 0);
    ck_assert_int_eq(upstream_addr_parse("127.0.0.1:1", &servers[1].addr, &why), 0);
    servers[0].weight = servers[1].weight = 1;
    up = (struct upstream_config){ .name = "app", .servers = servers, .n_servers = 2,
                                   .keepalive_timeout = 60000 };
    struct balancer *b = balance_new(&up);
    ck_assert_ptr_nonnull(b);
    return b;
}

static void handover_setup(void)
{
    setup();
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch), 0);
}

static void handover_teardown(void)
{
    upstream_pool_hand_over(-1);
    close(ch[0]);
    close(ch[1]);
    teardown();
}

/* The next connection handed over on the channel. */
static int received(struct channel_idle *m)
{
    struct channel_msg msg;
    ck_assert_int_eq(channel_recv(ch[1], &msg), CHANNEL_MSG);
    ck_assert_int_eq(msg.kind, CHANNEL_IDLE_CONN);
    *m = msg.idle;
    return msg.fd;
}

/* Do fd and the server's end peers[i] form one open connection? */
static void joined(int fd, int i)
{
    ck_assert_int_eq(write(fd, "hi", 2), 2);
    struct pollfd pf = { .fd = peers[i], .events = POLLIN };
    ck_assert_int_eq(poll(&pf, 1, 5000), 1);
    char buf[4];
    ck_assert_int_eq(read(peers[i], buf, sizeof buf), 2);
}

static bool peer_closed(void *i)
{
    char c;
    return read(peers[*(int *)i], &c, 1) == 0;
}

START_TEST(hand_over_sends_the_idle_and_then_each_put)
{
    struct balancer *bal = real_balancer();
    struct upstream_pool *p = upstream_pool_ref(bal, 4);
    struct conn *a = connect_one(), *b = connect_one();
    int64_t t0 = loop_now(fx.loop);
    upstream_pool_put(p, a, 0, 60000);
    upstream_pool_put(p, b, 0, 60000);
    upstream_pool_hand_over(ch[0]);
    ck_assert_uint_eq(upstream_pool_idle(p), 0);
    size_t none = 0;
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));     /* our copies closed */
    struct channel_idle m;
    int fds[3];
    for (int i = 0; i < 2; i++) {
        fds[i] = received(&m);
        ck_assert_str_eq(m.upstream, "app");
        ck_assert_str_eq(m.server, servers[0].addr.text);
        ck_assert(m.since >= t0 && m.since <= loop_now(fx.loop));
    }
    /* The most recently used first; each still the server's connection. */
    joined(fds[0], 1);
    joined(fds[1], 0);
    /* This process's loop hears no more of them (closing our descriptor
     * alone would leave them in its epoll set, the socket being open
     * elsewhere): a connection that took their place hears nothing. */
    struct conn *next = connect_one();
    ck_assert(next == a || next == b);
    fx_probe_forget();
    ck_assert_int_eq(write(peers[0], "x", 1), 1);
    ck_assert_int_eq(write(peers[1], "y", 1), 1);
    fx_run_for(100);
    ck_assert_int_eq(fx_probe.n, 0);
    conn_close_now(next);
    conn_wake(next);
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
    /* Put back after the hand-over began: not kept, handed over at once. */
    struct conn *c = connect_one();
    upstream_pool_put(p, c, 0, 60000);
    ck_assert_uint_eq(upstream_pool_idle(p), 0);
    fds[2] = received(&m);
    joined(fds[2], 3);
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
    /* The master gone: closed, not kept. */
    close(ch[1]);
    ch[1] = open("/dev/null", O_RDONLY);
    upstream_pool_put(p, connect_one(), 0, 60000);
    ck_assert_uint_eq(upstream_pool_idle(p), 0);
    int last = 4;
    ck_assert(fx_run_until(peer_closed, &last, 5000));
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    upstream_pool_unref(p);
    balance_free(bal);
}
END_TEST

/* A name that does not fit the message, or a connection its server closed
 * meanwhile: not handed over, closed. */
START_TEST(what_cannot_travel_is_closed)
{
    struct balancer *bal = real_balancer();
    char name[CHANNEL_UPSTREAM_MAX + 1];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    struct upstream_pool *p = upstream_pool_ref(bal, 4);
    upstream_pool_put(p, connect_one(), 0, 60000);
    struct conn *gone = connect_one();
    upstream_pool_put(p, gone, 0, 60000);
    ck_assert_uint_eq(upstream_pool_idle(p), 2);
    close(peers[1]);
    peers[1] = -1;
    struct pollfd pf = { .fd = gone->io.fd, .events = POLLIN };
    ck_assert_int_eq(poll(&pf, 1, 5000), 1);
    up.name = name;
    upstream_pool_hand_over(ch[0]);
    up.name = "app";
    struct channel_msg msg;
    ck_assert_int_eq(channel_recv(ch[1], &msg), CHANNEL_AGAIN);
    int zero = 0;
    ck_assert(fx_run_until(peer_closed, &zero, 5000));
    size_t none = 0;
    ck_assert(fx_run_until(outbound_at_most, &none, 5000));
    upstream_pool_unref(p);
    balance_free(bal);
}
END_TEST

/* A plain socket connected to the listener (its end in peers[]), as a
 * handed-over connection arrives. */
static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert(connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 || errno == EINPROGRESS);
    ck_assert(fx_run_until(accepted, NULL, 5000));
    return fd;
}

static struct channel_idle described(const char *upstream, const char *server, int64_t since)
{
    struct channel_idle m;
    memset(&m, 0, sizeof m);
    strcpy(m.upstream, upstream);
    strcpy(m.server, server);
    m.since = since;
    return m;
}

START_TEST(adopted_only_where_it_belongs)
{
    struct balancer *bal = real_balancer();
    struct upstream_pool *p = upstream_pool_ref(bal, 2);
    int64_t now = loop_now(fx.loop);
    const char *here = servers[0].addr.text;
    const struct channel_idle refused[] = {
        described("other", here, now),                          /* no such upstream */
        described("app", "127.0.0.1:2", now),                   /* no such server */
        described("app", here, now - up.keepalive_timeout),     /* idle too long */
    };
    for (int i = 0; i < 3; i++) {
        int fd = raw_connect();
        ck_assert_int_eq(upstream_pool_adopt(&fx.owner, &refused[i], fd), -1);
        ck_assert(fx_run_until(peer_closed, &i, 5000));
    }
    ck_assert_uint_eq(upstream_pool_idle(p), 0);
    /* Server 1 (nobody serves it) is known: a connection to it is kept there. */
    int fd1 = raw_connect();
    struct channel_idle to_one = described("app", servers[1].addr.text, now);
    ck_assert_int_eq(upstream_pool_adopt(&fx.owner, &to_one, fd1), 0);
    ck_assert_ptr_null(upstream_pool_take(p, 0, &fx_probe_ops, NULL));
    struct conn *one = upstream_pool_take(p, 1, &fx_probe_ops, NULL);
    ck_assert_ptr_nonnull(one);
    ck_assert_int_eq(one->io.fd, fd1);
    conn_close_now(one);
    conn_wake(one);
    /* keepalive reached: the newcomer is closed, what is kept stays. */
    struct conn *fresh = connect_one();         /* peers[4] */
    upstream_pool_put(p, fresh, 0, 60000);
    int older = raw_connect();                  /* peers[5] */
    struct channel_idle m = described("app", here, now - 1000);
    ck_assert_int_eq(upstream_pool_adopt(&fx.owner, &m, older), 0);
    ck_assert_uint_eq(upstream_pool_idle(p), 2);
    int extra = raw_connect();                  /* peers[6] */
    ck_assert_int_eq(upstream_pool_adopt(&fx.owner, &m, extra), -1);
    int six = 6;
    ck_assert_int_eq(n_peers, 7);
    ck_assert(fx_run_until(peer_closed, &six, 5000));
    /* In the order of use: the fresh one first, then the older one. */
    ck_assert_ptr_eq(upstream_pool_take(p, 0, &fx_probe_ops, NULL), fresh);
    struct conn *o = upstream_pool_take(p, 0, &fx_probe_ops, NULL);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(o->io.fd, older);
    close_all((struct conn *[]){ fresh, o }, 2);
    upstream_pool_unref(p);
    balance_free(bal);
}
END_TEST

/* Idle time keeps counting: one idle for all but 50 ms of its
 * keepalive_timeout is closed about 50 ms after it arrives. */
START_TEST(adopted_keeps_its_idle_time)
{
    struct balancer *bal = real_balancer();
    struct upstream_pool *p = upstream_pool_ref(bal, 4);
    int fd = raw_connect();
    int64_t now = loop_now(fx.loop);
    struct channel_idle m = described("app", servers[0].addr.text,
                                      now - up.keepalive_timeout + 50);
    ck_assert_int_eq(upstream_pool_adopt(&fx.owner, &m, fd), 0);
    ck_assert_uint_eq(upstream_pool_idle(p), 1);
    ck_assert(fx_run_until(pool_empty, p, 5000));
    ck_assert_int_lt(loop_now(fx.loop) - now, 5000);
    int zero = 0;
    ck_assert(fx_run_until(peer_closed, &zero, 5000));
    upstream_pool_unref(p);
    balance_free(bal);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("upstream_pool");
    TCase *t = tcase_create("pool");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, taken_again_for_its_server_most_recent_first);
    tcase_add_test(t, stale_never_taken);
    tcase_add_test(t, take_known_trusts_what_the_loop_reported);
    tcase_add_test(t, closed_while_idle_by_its_server);
    tcase_add_test(t, least_recently_used_closed_beyond_keepalive);
    tcase_add_test(t, steady_load_beyond_keepalive_keeps_its_connections);
    tcase_add_test(t, idle_deadline_and_keepalive_zero);
    tcase_add_test(t, unref_closes_the_idle);
    suite_add_tcase(s, t);
    TCase *r = tcase_create("reload");
    tcase_add_checked_fixture(r, handover_setup, handover_teardown);
    tcase_add_test(r, hand_over_sends_the_idle_and_then_each_put);
    tcase_add_test(r, what_cannot_travel_is_closed);
    tcase_add_test(r, adopted_only_where_it_belongs);
    tcase_add_test(r, adopted_keeps_its_idle_time);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
