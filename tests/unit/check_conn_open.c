/* How a connection comes to be open (src/conn_open.c), over real sockets
 * and a real loop: accepted (conn_start: the listener's binding, the peer,
 * a socket the loop refuses), the transport's handshake before open (both
 * ways, and failing), outbound connections (conn_connect: connected,
 * refused, timed out, done or failed inside the call, a family that cannot
 * begin) and the owner's pool of spare outbound connections. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "conn_fixture.h"
#include "fixture.h"
#include "proto.h"
#include "transport.h"
#include "tap.h"

static struct conn conns[2];
static int sv[2];               /* [0] the connection's end, [1] the test's */

static void setup(void)
{
    fx_setup();
    fx_socketpair(sv);
}

static void teardown(void)
{
    fx_teardown();
}

/* The test's end of a connection reads until it holds `want` bytes. */
static struct {
    int fd;
    char buf[256];
    size_t len, want;
} peer;

static bool peer_has_enough(void *arg)
{
    (void)arg;
    fx_recv(peer.fd, peer.buf, &peer.len, sizeof peer.buf);
    return peer.len >= peer.want;
}

static void peer_reads(int fd, size_t want)
{
    peer.fd = fd;
    peer.len = 0;
    peer.want = want;
}

static int tcp_socket(int backlog, bool listening, struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    if (listening)
        ck_assert_int_eq(listen(fd, backlog), 0);
    return fd;
}

static int tcp_state(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    return ti.tcpi_state;
}

static socklen_t abstract_unix(struct sockaddr_un *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a->sun_path + 1, name, n);       /* abstract: no file */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

/* A unix listener with room for `backlog` connections under a name of
 * this process; *a and *len address it. */
static int unix_listener(const char *what, int backlog, struct sockaddr_un *a, socklen_t *len)
{
    char name[64];
    snprintf(name, sizeof name, "herd-check-conn-open-%s-%d", what, (int)getpid());
    *len = abstract_unix(a, name);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *)a, *len), 0);
    ck_assert_int_eq(listen(l, backlog), 0);
    return l;
}

/* ------------------------------------------------------------------ */
/* Accepting */

static struct server_rt servers[2];
static const struct server_rt *const both[2] = { &servers[0], &servers[1] };

static void start_accepted(struct conn *c, int fd, const struct sockaddr *from)
{
    struct conn_listen l = { .ops = &fx_probe_ops, .tp = &transport_plain, .vhosts = both,
                             .n_vhosts = 2 };
    c->prev = c->next = NULL;
    conn_start(c, &fx.owner, fd, from, &l);
}

START_TEST(accepted_takes_the_listeners_binding_and_peer)
{
    struct sockaddr_in addr, client_addr;
    int l = tcp_socket(8, true, &addr);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(client, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(fcntl(client, F_SETFL, O_NONBLOCK), 0);
    socklen_t len = sizeof client_addr;
    ck_assert_int_eq(getsockname(client, (struct sockaddr *)&client_addr, &len), 0);
    struct sockaddr_storage from;
    len = sizeof from;
    int fd = accept4(l, (struct sockaddr *)&from, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(fd, 0);

    fx_probe.mode = FX_ECHO;
    start_accepted(&conns[0], fd, (struct sockaddr *)&from);
    ck_assert_str_eq(fx_probe.log, "o");
    ck_assert(conns[0].in_use && !conns[0].outbound);
    /* The first server of the listener is the default binding. */
    ck_assert_ptr_eq(conns[0].srv, &servers[0]);
    ck_assert_ptr_eq(conns[0].vhosts, both);
    ck_assert_uint_eq(conns[0].n_vhosts, 2);
    /* The peer as accept4 gave it, back as a sockaddr. */
    struct sockaddr_storage got;
    conn_peer_sockaddr(&conns[0], &got);
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&got;
    ck_assert_int_eq(v4->sin_family, AF_INET);
    ck_assert_uint_eq(v4->sin_port, client_addr.sin_port);
    ck_assert_uint_eq(v4->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    /* And it serves. */
    fx_send(client, "hi", 2);
    peer_reads(client, 2);
    ck_assert(fx_run_until(peer_has_enough, NULL, 5000));
    ck_assert(memcmp(peer.buf, "hi", 2) == 0);
    close(client);
    close(l);
}
END_TEST

START_TEST(peer_v6_round_trips)
{
    struct sockaddr_in6 from = { .sin6_family = AF_INET6, .sin6_port = htons(8443) };
    ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::7", &from.sin6_addr), 1);
    start_accepted(&conns[0], sv[0], (struct sockaddr *)&from);
    struct sockaddr_storage got;
    conn_peer_sockaddr(&conns[0], &got);
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&got;
    ck_assert_int_eq(v6->sin6_family, AF_INET6);
    ck_assert_uint_eq(v6->sin6_port, htons(8443));
    ck_assert(memcmp(&v6->sin6_addr, &from.sin6_addr, 16) == 0);
    /* The slot again, with no address (a unix socket): an empty one, not
     * the last connection's. */
    conn_close_now(&conns[0]);
    conn_run(&conns[0]);
    ck_assert_int_eq(fx.closed, 1);
    start_accepted(&conns[0], sv[1], NULL);
    conn_peer_sockaddr(&conns[0], &got);
    ck_assert_int_eq(got.ss_family, 0);
}
END_TEST

START_TEST(a_socket_the_loop_refuses_goes_back_at_once)
{
    /* epoll takes no regular file: the start fails before any callback. */
    char path[] = "/tmp/herd-check-conn-open-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    int log = fixture_log_begin();
    start_accepted(&conns[0], fd, NULL);
    char *text = fixture_log_text(log);
    fixture_log_end();
    ck_assert_int_eq(fx.closed, 1);
    ck_assert_ptr_eq(fx.last_closed, &conns[0]);
    ck_assert(!conns[0].in_use);
    ck_assert_int_eq(fx_probe.n, 0);
    /* Closed, and said once why. */
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    ck_assert_msg(fixture_count(text, "epoll_ctl(add") == 1, "%s", text);
    free(text);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A transport with a handshake: the peer says "HI\n" first. */

static int hi_handshake(struct conn *c)
{
    char b[3];
    ssize_t n = recv(c->io.fd, b, sizeof b, MSG_PEEK);
    if (n < 0)
        return errno == EAGAIN ? 0 : -1;
    if (n == 0) {
        errno = ECONNRESET;
        return -1;
    }
    if (n < 3)
        return 0;       /* the rest raises a new edge */
    ck_assert_int_eq(read(c->io.fd, b, sizeof b), 3);
    if (memcmp(b, "HI\n", 3) != 0) {
        errno = EPROTO;
        return -1;
    }
    return 1;
}

static struct conn_transport hi_transport;

static void hi_setup(void)
{
    setup();
    hi_transport = transport_plain;
    hi_transport.name = "hi";
    hi_transport.handshake = hi_handshake;
}

START_TEST(handshake_comes_before_open)
{
    fx_probe.mode = FX_ECHO;
    fx_start_tp(&conns[0], sv[0], &fx_probe_ops, &hi_transport);
    ck_assert_int_eq(fx_probe.n, 0);
    fx_send(sv[1], "H", 1);
    fx_run_for(10);
    ck_assert_int_eq(fx_probe.n, 0);
    fx_send(sv[1], "I\nping", 6);
    peer_reads(sv[1], 4);
    ck_assert(fx_run_until(peer_has_enough, NULL, 5000));
    ck_assert(memcmp(peer.buf, "ping", 4) == 0);
    ck_assert(fx_probe.log[0] == 'o');
}
END_TEST

START_TEST(failed_handshake_never_opens)
{
    fx_probe.mode = FX_ECHO;
    fx_start_tp(&conns[0], sv[0], &fx_probe_ops, &hi_transport);
    conn_drain(&conns[0]);          /* before open: open will see it */
    fx_send(sv[1], "NO\n", 3);
    int one = 1;
    ck_assert(fx_run_until(fx_closed_at_least, &one, 5000));
    ck_assert_int_eq(fx_probe.n, 0);       /* neither open nor close */
    ck_assert(!conns[0].in_use);
}
END_TEST

/* An outbound connection over hi_transport to a TCP listener whose
 * accepted end says `hello`: returns that end. */
static int connect_hi(const char *hello, int *l)
{
    struct sockaddr_in addr;
    *l = tcp_socket(8, true, &addr);
    fx_probe.mode = FX_SINK;
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 5000,
                                  &fx_probe_ops, &hi_transport, NULL);
    ck_assert_ptr_nonnull(c);
    int s = accept4(*l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(s, 0);
    /* Connected, but no word yet: not open. */
    fx_run_for(10);
    ck_assert_int_eq(fx_probe.n, 0);
    fx_send(s, hello, strlen(hello));
    return s;
}

START_TEST(outbound_handshake_comes_before_open)
{
    int l;
    int s = connect_hi("HI\nfirst", &l);
    char e = 'o';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert(fx_probe.log[0] == 'o');
    e = 'r';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    /* The handshake's bytes are the transport's; the rest the caller's. */
    ck_assert_uint_eq(fx_probe.got_len, 5);
    ck_assert(memcmp(fx_probe.got, "first", 5) == 0);
    close(s);
    e = 'c';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_int_eq(fx.owner.n_spare, 1);
    close(l);
}
END_TEST

START_TEST(outbound_failed_handshake_is_an_error)
{
    int l;
    int s = connect_hi("NO\n", &l);
    char e = 'e';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_int_eq(fx_probe.err, EPROTO);
    ck_assert_str_eq(fx_probe.log, "e");    /* neither open nor close */
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    ck_assert_int_eq(fx.owner.n_spare, 1);
    close(s);
    close(l);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Outbound */

static int marker;

START_TEST(connects)
{
    struct sockaddr_in addr;
    int l = tcp_socket(8, true, &addr);
    fx_probe.mode = FX_SINK;
    fx_probe.greeting = "ping";
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 5000,
                                  &fx_probe_ops, &transport_plain, &marker);
    ck_assert_ptr_nonnull(c);
    ck_assert(c->outbound);
    ck_assert_int_eq(fx.owner.n_outbound, 1);
    char e = 'o';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_ptr_eq(fx_probe.data, &marker);
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(s, 0);
    peer_reads(s, 4);
    ck_assert(fx_run_until(peer_has_enough, NULL, 5000));
    ck_assert(memcmp(peer.buf, "ping", 4) == 0);
    fx_send(s, "pong", 4);
    close(s);
    e = 'c';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_int_eq(fx_probe.got_len, 4);
    ck_assert(memcmp(fx_probe.got, "pong", 4) == 0);
    /* Back to the outbound pool, never to the owner's inbound table. */
    ck_assert_int_eq(fx.closed, 0);
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    ck_assert_int_eq(fx.owner.n_spare, 1);
    ck_assert_str_eq(fx_probe.log, "owrc");
    close(l);
}
END_TEST

/* A socket connected elsewhere (as one handed over on a reload): open at
 * once without an open callback, its peer known, reading and closing as
 * any outbound connection; what is not a connected socket is refused and
 * left to the caller. */
START_TEST(adopts_a_connected_socket)
{
    struct sockaddr_in addr;
    int l = tcp_socket(8, true, &addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert(connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 || errno == EINPROGRESS);
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(s, 0);
    fx_probe.mode = FX_SINK;
    struct conn *c = conn_adopt(&fx.owner, fd, &fx_probe_ops, &transport_plain, &marker);
    ck_assert_ptr_nonnull(c);
    ck_assert(c->outbound && !c->connecting);
    ck_assert_ptr_eq(c->data, &marker);
    ck_assert_int_eq(c->peer.port, addr.sin_port);
    ck_assert_int_eq(fx.owner.n_outbound, 1);
    fx_send(s, "pong", 4);
    close(s);
    char e = 'c';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_int_eq(fx_probe.got_len, 4);
    ck_assert_str_eq(fx_probe.log, "rc");          /* no open */
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);      /* closed with it */

    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_ptr_null(conn_adopt(&fx.owner, p[0], &fx_probe_ops, &transport_plain, NULL));
    ck_assert_int_eq(errno, ENOTSOCK);
    int unconnected = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_ptr_null(conn_adopt(&fx.owner, unconnected, &fx_probe_ops, &transport_plain, NULL));
    ck_assert_int_eq(errno, ENOTCONN);
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    ck_assert_int_ne(fcntl(p[0], F_GETFD), -1);    /* still the caller's */
    close(p[0]);
    close(p[1]);
    close(unconnected);
    close(l);
}
END_TEST

START_TEST(connected_has_no_connect_deadline)
{
    /* The connect timeout ends with the connect: an open connection that
     * outlives it is not failed by it. */
    struct sockaddr_in addr;
    int l = tcp_socket(8, true, &addr);
    fx_probe.mode = FX_SINK;
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 30,
                                  &fx_probe_ops, &transport_plain, NULL);
    ck_assert_ptr_nonnull(c);
    char e = 'o';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    fx_run_for(80);
    ck_assert_str_eq(fx_probe.log, "o");
    ck_assert(c->in_use && !c->connecting);
    ck_assert_int_eq(fx.owner.n_outbound, 1);
    conn_close_now(c);
    conn_wake(c);
    e = 'c';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    close(l);
}
END_TEST

START_TEST(refused)
{
    struct sockaddr_in addr;
    int held = tcp_socket(0, false, &addr);    /* bound, not listening: refuses */
    fx_probe.mode = FX_SINK;
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 5000,
                                  &fx_probe_ops, &transport_plain, &marker);
    ck_assert_ptr_nonnull(c);
    char e = 'e';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_int_eq(fx_probe.err, ECONNREFUSED);
    ck_assert_ptr_eq(fx_probe.data, &marker);
    ck_assert_str_eq(fx_probe.log, "e");
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    /* The spare is what the next connect gets. */
    ck_assert_int_eq(fx.owner.n_spare, 1);
    struct conn *again = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 5000,
                                      &fx_probe_ops, &transport_plain, NULL);
    ck_assert_ptr_eq(again, c);
    fx_probe_forget();
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    close(held);
}
END_TEST

START_TEST(connect_times_out)
{
    /* A listener with backlog 0 whose one queue place is taken drops every
     * further SYN, so a connect stays in SYN_SENT for as long as we like. */
    struct sockaddr_in addr;
    int l = tcp_socket(0, true, &addr);
    int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(filler, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(tcp_state(filler), TCP_ESTABLISHED);
    fx_probe.mode = FX_SINK;
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 50,
                                  &fx_probe_ops, &transport_plain, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tcp_state(c->io.fd), TCP_SYN_SENT);
    int64_t start = loop_now(fx.loop);
    char e = 'e';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_int_eq(fx_probe.err, ETIMEDOUT);
    ck_assert_int_ge(loop_now(fx.loop) - start, 50);
    ck_assert_str_eq(fx_probe.log, "e");
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    close(filler);
    close(l);
}
END_TEST

START_TEST(connects_at_once)
{
    /* A unix listener with room completes connect() in the call. */
    struct sockaddr_un a;
    socklen_t len;
    int l = unix_listener("at-once", 8, &a, &len);
    fx_probe.mode = FX_SINK;
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&a, len, 5000, &fx_probe_ops,
                                  &transport_plain, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(fx_probe.n, 0);       /* not from inside the call */
    char e = 'o';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    conn_close_now(c);
    conn_wake(c);
    e = 'c';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    close(l);
}
END_TEST

START_TEST(fails_at_once)
{
    /* Nobody listens on this name: connect() says so in the call. */
    struct sockaddr_un a;
    char name[64];
    snprintf(name, sizeof name, "herd-check-conn-open-nobody-%d", (int)getpid());
    socklen_t len = abstract_unix(&a, name);
    fx_probe.mode = FX_SINK;
    ck_assert_ptr_nonnull(conn_connect(&fx.owner, (struct sockaddr *)&a, len, 5000,
                                       &fx_probe_ops, &transport_plain, NULL));
    ck_assert_int_eq(fx_probe.n, 0);       /* the error comes from the loop */
    char e = 'e';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_int_eq(fx_probe.err, ECONNREFUSED);
    ck_assert_int_eq(fx.owner.n_outbound, 0);
}
END_TEST

START_TEST(cannot_begin)
{
    struct sockaddr bogus = { .sa_family = 12345 };
    errno = 0;
    ck_assert_ptr_null(conn_connect(&fx.owner, &bogus, sizeof bogus, 5000, &fx_probe_ops,
                                    &transport_plain, NULL));
    ck_assert_int_ne(errno, 0);
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    ck_assert_int_eq(fx.owner.n_spare, 0);
    ck_assert_int_eq(fx_probe.n, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The owner's spare outbound connections */

#define MANY 100

static struct conn *outs[MANY];

static bool heard_n(void *arg)
{
    const int *want = arg;
    return fx_probe.count[want[0]] >= want[1];
}

/* n connections to the listener at a, all open. */
static void connect_n(const struct sockaddr_un *a, socklen_t len, int n)
{
    fx_probe_forget();
    for (int i = 0; i < n; i++) {
        outs[i] = conn_connect(&fx.owner, (const struct sockaddr *)a, len, 5000,
                               &fx_probe_ops, &transport_plain, NULL);
        ck_assert_ptr_nonnull(outs[i]);
    }
    int want[2] = { 'o', n };
    ck_assert(fx_run_until(heard_n, want, 10000));
    ck_assert_int_eq(fx.owner.n_outbound, n);
}

static void close_n(int n)
{
    for (int i = 0; i < n; i++) {
        conn_close_now(outs[i]);
        conn_wake(outs[i]);
    }
    int want[2] = { 'c', n };
    ck_assert(fx_run_until(heard_n, want, 10000));
    ck_assert_int_eq(fx.owner.n_outbound, 0);
}

static bool among(const struct conn *c, struct conn *const *set, int n)
{
    for (int i = 0; i < n; i++)
        if (set[i] == c)
            return true;
    return false;
}

START_TEST(spares_grow_and_are_reused)
{
    struct sockaddr_un a;
    socklen_t len;
    int l = unix_listener("spares", MANY, &a, &len);
    fx_probe.mode = FX_SINK;
    /* The pool grows with what is open at once: three distinct ones. */
    connect_n(&a, len, 3);
    ck_assert_int_eq(fx.owner.n_spare, 0);
    ck_assert(outs[0] != outs[1] && outs[1] != outs[2] && outs[0] != outs[2]);
    struct conn *first[3] = { outs[0], outs[1], outs[2] };
    close_n(3);
    ck_assert_int_eq(fx.owner.n_spare, 3);
    /* Those three serve the next ones; a fourth at once is a new one. */
    connect_n(&a, len, 4);
    ck_assert_int_eq(fx.owner.n_spare, 0);
    int reused = 0;
    for (int i = 0; i < 4; i++)
        reused += among(outs[i], first, 3);
    ck_assert_int_eq(reused, 3);
    close_n(4);
    ck_assert_int_eq(fx.owner.n_spare, 4);
    ck_assert_int_eq(fx.closed, 0);         /* none went to the inbound side */
    close(l);
}
END_TEST

START_TEST(spares_are_kept_to_a_few)
{
    /* A burst does not stay allocated for ever: after MANY closes, fewer
     * than MANY are kept (the rest are freed; ASan's leak check sees that
     * conn_owner_fini frees the kept ones). */
    struct sockaddr_un a;
    socklen_t len;
    int l = unix_listener("burst", MANY, &a, &len);
    fx_probe.mode = FX_SINK;
    connect_n(&a, len, MANY);
    close_n(MANY);
    ck_assert_uint_gt(fx.owner.n_spare, 0);
    ck_assert_uint_lt(fx.owner.n_spare, MANY);
    close(l);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conn_open");
    TCase *acc = tcase_create("accept");
    tcase_add_checked_fixture(acc, setup, teardown);
    tcase_add_test(acc, accepted_takes_the_listeners_binding_and_peer);
    tcase_add_test(acc, peer_v6_round_trips);
    tcase_add_test(acc, a_socket_the_loop_refuses_goes_back_at_once);
    suite_add_tcase(s, acc);

    TCase *hs = tcase_create("handshake");
    tcase_add_checked_fixture(hs, hi_setup, teardown);
    tcase_add_test(hs, handshake_comes_before_open);
    tcase_add_test(hs, failed_handshake_never_opens);
    tcase_add_test(hs, outbound_handshake_comes_before_open);
    tcase_add_test(hs, outbound_failed_handshake_is_an_error);
    suite_add_tcase(s, hs);

    TCase *out = tcase_create("outbound");
    tcase_add_checked_fixture(out, setup, teardown);
    tcase_add_test(out, connects);
    tcase_add_test(out, connected_has_no_connect_deadline);
    tcase_add_test(out, refused);
    tcase_add_test(out, connect_times_out);
    tcase_add_test(out, connects_at_once);
    tcase_add_test(out, fails_at_once);
    tcase_add_test(out, cannot_begin);
    tcase_add_test(out, adopts_a_connected_socket);
    suite_add_tcase(s, out);

    TCase *pool = tcase_create("pool");
    tcase_add_checked_fixture(pool, setup, teardown);
    tcase_add_test(pool, spares_grow_and_are_reused);
    tcase_add_test(pool, spares_are_kept_to_a_few);
    suite_add_tcase(s, pool);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
