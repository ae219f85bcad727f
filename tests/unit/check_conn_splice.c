/* splice(2) between linked connections (src/conn_splice.c,
 * conn_link_splice): two connections on socket pairs with the plain
 * transport, linked, relaying each other's bytes as a proxy does. Checked:
 * a bulk flow arrives byte for byte and goes through a pipe; small
 * exchanges never take one; a reader that does not read bounds what is
 * held (one pipe, nothing buffered) and the writer's side stops; the end
 * of input is passed on after the last spliced byte while the other
 * direction flows; a reset of the reader mid-flow closes both and leaks no
 * pipe; a transport that cannot splice keeps to the buffered path; a fat
 * flow's pipe grows so that one splice moves more than the kernel's
 * default pipe (64 KiB), and shrinks back when it returns to the pool; on
 * TCP sockets, a reader that does not read leaves at most
 * CONN_SPLICE_NOTSENT bytes (and a segment) unsent in the far socket. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "conn.h"
#include "conn_fixture.h"
#include "conn_private.h"
#include "transport.h"
#include "tap.h"

static struct conn conns[2];
static int sv[2][2];            /* [i][0] the connection's end, [i][1] the test's */
static int closed;              /* relay_close calls */

/* A relay: what one side reads goes to the other's output; the end of
 * input is passed on (the other's output shut down after its flush);
 * both ends seen, or one side gone, closes both. */
static void relay_open(struct conn *c)
{
    conn_half_close(c);
}

static void relay_readable(struct conn *c)
{
    struct conn *to = c->link;
    if (to == NULL)
        return;
    size_t n = conn_in_len(c);
    if (n > 0 && conn_write(to, buf_head(c->in), n) == 0)
        buf_consume(c->in, n);
    if (c->eof) {
        conn_shutdown_after_flush(to);
        if (to->eof) {
            conn_close_after_flush(c);
            conn_close_after_flush(to);
        }
    }
    conn_wake(to);
}

static void relay_nothing(struct conn *c)
{
    (void)c;
}

static void relay_close(struct conn *c)
{
    closed++;
    if (c->link) {
        conn_close_now(c->link);
        conn_wake(c->link);
    }
}

static const struct conn_ops relay_ops = {
    .open = relay_open, .readable = relay_readable, .writable = relay_nothing,
    .drain = relay_nothing, .close = relay_close,
};

/* The plain transport without its splice calls, as TLS will be. */
static struct conn_transport no_splice;

/* The plain transport, counting its splices into pipes. */
static struct conn_transport counting;
static struct {
    size_t calls, bytes, most;
    size_t most_asked;          /* the room a splice was given: the pipe's size */
} spliced;

static ssize_t counting_splice_in(struct conn *c, int pipe_w, size_t n)
{
    if (n > spliced.most_asked)
        spliced.most_asked = n;
    ssize_t r = transport_plain.splice_in(c, pipe_w, n);
    if (r > 0) {
        spliced.calls++;
        spliced.bytes += (size_t)r;
        if ((size_t)r > spliced.most)
            spliced.most = (size_t)r;
    }
    return r;
}

static void setup(void)
{
    fx_setup();
    fx_socketpair(sv[0]);
    fx_socketpair(sv[1]);
    closed = 0;
    no_splice = transport_plain;
    no_splice.splice_in = NULL;
    no_splice.splice_out = NULL;
    counting = transport_plain;
    counting.splice_in = counting_splice_in;
    memset(&spliced, 0, sizeof spliced);
}

static void teardown(void)
{
    for (int i = 0; i < 2; i++) {
        if (conns[i].in_use) {
            conn_close_now(&conns[i]);
            conn_run(&conns[i]);
        }
    }
    fx_run_for(5);
    /* No pipe is left out of the pool. */
    ck_assert_uint_eq(fx.owner.n_pipes, fx.owner.n_free_pipes);
    /* The connections' ends were closed with them. */
    for (int i = 0; i < 2; i++)
        if (sv[i][1] >= 0)
            close(sv[i][1]);
    fx_teardown();
}

/* conns[0] on sv[0], conns[1] on sv[1], linked for splicing; bytes written
 * to sv[0][1] come out of sv[1][1] and back. */
static void start(const struct conn_transport *tp)
{
    fx_start_tp(&conns[0], sv[0][0], &relay_ops, tp);
    fx_start_tp(&conns[1], sv[1][0], &relay_ops, tp);
    conn_link_splice(&conns[0], &conns[1]);
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)((i * 131 + (i >> 12)) & 0xff);
}

/* The flow: `total` bytes of the pattern written to `from`, what arrives
 * at `to` compared as it comes. */
static struct {
    int from, to;
    struct conn *dst;           /* the connection that writes to `to` */
    size_t total, sent, got;
    bool mismatch, to_open;
    size_t most_held;           /* the most bytes the far side held at once */
    bool pipe_seen;             /* a pipe carried some of it */
    bool stop_reading;          /* the reader pauses */
} fl;

static void flow_on(int from, int to, size_t total)
{
    memset(&fl, 0, sizeof fl);
    fl.from = from;
    fl.to = to;
    fl.dst = to == sv[1][1] ? &conns[1] : &conns[0];
    fl.total = total;
    fl.to_open = true;
}

static void note_held(void)
{
    struct conn *dst = fl.dst;
    if (!dst->in_use)
        return;
    size_t held = conn_out_len(dst) + conn_pipe_len(dst);
    if (held > fl.most_held)
        fl.most_held = held;
    if (dst->pipe)
        fl.pipe_seen = true;
}

static void pump_flow(void)
{
    unsigned char chunk[65536];
    while (fl.sent < fl.total) {
        size_t n = fl.total - fl.sent < sizeof chunk ? fl.total - fl.sent : sizeof chunk;
        for (size_t i = 0; i < n; i++)
            chunk[i] = pattern(fl.sent + i);
        ssize_t w = send(fl.from, chunk, n, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        fl.sent += (size_t)w;
    }
    note_held();
    while (!fl.stop_reading && fl.to_open) {
        ssize_t r = read(fl.to, chunk, sizeof chunk);
        if (r > 0) {
            for (ssize_t i = 0; i < r; i++)
                if (chunk[i] != pattern(fl.got + (size_t)i))
                    fl.mismatch = true;
            fl.got += (size_t)r;
            continue;
        }
        if (r == 0 || errno != EAGAIN)
            fl.to_open = false;
        break;
    }
}

static bool flowed(void *arg)
{
    (void)arg;
    pump_flow();
    return fl.got >= fl.total || !fl.to_open;
}

/* ------------------------------------------------------------------ */

START_TEST(bulk_bytes_arrive_identical_through_a_pipe)
{
    start(&transport_plain);
    flow_on(sv[0][1], sv[1][1], 32u << 20);
    ck_assert(fx_run_until(flowed, NULL, 30000));
    ck_assert_uint_eq(fl.got, fl.total);
    ck_assert(!fl.mismatch);
    ck_assert(fl.pipe_seen);
    ck_assert_uint_ge(fx.owner.n_pipes, 1);
    /* Never more than one pipe and one buffer's worth held. */
    ck_assert_uint_le(fl.most_held, CONN_PIPE_BIG + CONN_OUT_HIGH + 16 * 1024);
    /* And back the other way, through the other side's pipe. */
    flow_on(sv[1][1], sv[0][1], 8u << 20);
    ck_assert(fx_run_until(flowed, NULL, 30000));
    ck_assert_uint_eq(fl.got, fl.total);
    ck_assert(!fl.mismatch);
    ck_assert(fl.pipe_seen);
}
END_TEST

static bool got_echo(void *arg)
{
    size_t *want = arg;
    char buf[256];
    ssize_t r = read(sv[1][1], buf, sizeof buf);
    if (r > 0)
        *want -= (size_t)r;
    return *want == 0;
}

START_TEST(small_exchanges_stay_buffered)
{
    start(&transport_plain);
    for (int i = 0; i < 200; i++) {
        size_t want = 100;
        char msg[100];
        memset(msg, 'a' + i % 26, sizeof msg);
        fx_send(sv[0][1], msg, sizeof msg);
        ck_assert(fx_run_until(got_echo, &want, 5000));
    }
    ck_assert_uint_eq(fx.owner.n_pipes, 0);
    ck_assert(!conns[0].bulk);
}
END_TEST

static bool writer_held(void *arg)
{
    (void)arg;
    size_t before = fl.sent;
    pump_flow();
    /* Held, its link's pipe holding bytes its peer does not take, and the
     * writer's socket full: nothing can move any more. */
    return conns[0].held && conn_pipe_len(&conns[1]) > 0 && !conns[1].writable &&
           fl.sent == before;
}

static bool on_pipe(void *arg)
{
    (void)arg;
    pump_flow();
    return fl.pipe_seen;
}

/* The reader reads again: what was held and `more` bytes arrive,
 * identical. */
static void read_on(size_t more)
{
    fl.stop_reading = false;
    fl.total = fl.sent + more;
    ck_assert(fx_run_until(flowed, NULL, 30000));
    ck_assert_uint_eq(fl.got, fl.total);
    ck_assert(!fl.mismatch);
}

START_TEST(a_slow_reader_bounds_the_pipe)
{
    start(&transport_plain);
    flow_on(sv[0][1], sv[1][1], 64u << 20);
    /* Bulk first, so that the flow is on the pipe. */
    ck_assert(fx_run_until(on_pipe, NULL, 10000));
    fl.stop_reading = true;
    ck_assert(fx_run_until(writer_held, NULL, 10000));
    size_t in_pipe = conn_pipe_len(&conns[1]);
    ck_assert_uint_le(in_pipe, CONN_PIPE_BIG);
    ck_assert_uint_eq(conn_out_len(&conns[1]), 0);
    ck_assert_uint_eq(conn_in_len(&conns[0]), 0);
    /* It stays so while nobody reads. */
    size_t sent = fl.sent;
    fx_run_for(30);
    pump_flow();
    ck_assert_uint_eq(conn_pipe_len(&conns[1]), in_pipe);
    ck_assert_uint_eq(fl.sent, sent);
    ck_assert(conns[0].held);
    read_on(4u << 20);
}
END_TEST

static bool both_closed(void *arg)
{
    (void)arg;
    pump_flow();
    return closed == 2;
}

START_TEST(half_close_after_the_last_spliced_byte)
{
    start(&transport_plain);
    flow_on(sv[0][1], sv[1][1], 16u << 20);
    ck_assert(fx_run_until(flowed, NULL, 30000));
    ck_assert(fl.pipe_seen);
    /* The writer ends: the reader gets every byte, then the end. */
    ck_assert_int_eq(shutdown(sv[0][1], SHUT_WR), 0);
    fl.total = (size_t)-1;
    ck_assert(fx_run_until(flowed, NULL, 10000));
    ck_assert(!fl.to_open);
    ck_assert_uint_eq(fl.got, 16u << 20);
    ck_assert(!fl.mismatch);
    ck_assert_uint_eq(conns[1].shut, CONN_SHUT_DONE);
    /* The other direction still flows, then ends too: both close. */
    flow_on(sv[1][1], sv[0][1], 4u << 20);
    ck_assert(fx_run_until(flowed, NULL, 30000));
    ck_assert_uint_eq(fl.got, fl.total);
    ck_assert(!fl.mismatch);
    ck_assert_int_eq(shutdown(sv[1][1], SHUT_WR), 0);
    ck_assert(fx_run_until(both_closed, NULL, 10000));
}
END_TEST

START_TEST(a_reset_mid_flow_closes_both)
{
    start(&transport_plain);
    flow_on(sv[0][1], sv[1][1], 64u << 20);
    fl.total = 8u << 20;
    ck_assert(fx_run_until(flowed, NULL, 30000));
    ck_assert(fl.pipe_seen);
    /* The reader goes away with bytes still coming. */
    fl.total = 64u << 20;
    fl.stop_reading = true;
    close(sv[1][1]);
    sv[1][1] = -1;
    fl.to_open = false;
    ck_assert(fx_run_until(both_closed, NULL, 10000));
    ck_assert(!conns[0].in_use);
    ck_assert(!conns[1].in_use);
    /* Its pipe held bytes: closed, not back in the pool. */
    ck_assert_uint_eq(fx.owner.n_pipes, fx.owner.n_free_pipes);
}
END_TEST

START_TEST(a_transport_that_cannot_splice_stays_buffered)
{
    start(&no_splice);
    flow_on(sv[0][1], sv[1][1], 8u << 20);
    ck_assert(fx_run_until(flowed, NULL, 30000));
    ck_assert_uint_eq(fl.got, fl.total);
    ck_assert(!fl.mismatch);
    ck_assert(!fl.pipe_seen);
    ck_assert_uint_eq(fx.owner.n_pipes, 0);
}
END_TEST

START_TEST(a_plain_link_never_splices)
{
    fx_start(&conns[0], sv[0][0], &relay_ops);
    fx_start(&conns[1], sv[1][0], &relay_ops);
    conn_link(&conns[0], &conns[1]);
    flow_on(sv[0][1], sv[1][1], 8u << 20);
    ck_assert(fx_run_until(flowed, NULL, 30000));
    ck_assert_uint_eq(fl.got, fl.total);
    ck_assert(!fl.mismatch);
    ck_assert_uint_eq(fx.owner.n_pipes, 0);
}
END_TEST

static bool both_gone(void *arg)
{
    (void)arg;
    return !conns[0].in_use && !conns[1].in_use;
}

START_TEST(a_fat_flow_grows_its_pipe_and_the_pool_shrinks_it)
{
    start(&counting);
    flow_on(sv[0][1], sv[1][1], 32u << 20);
    ck_assert(fx_run_until(flowed, NULL, 30000));
    ck_assert_uint_eq(fl.got, fl.total);
    ck_assert(!fl.mismatch);
    /* The pipe grew: splices were given 1 MiB of room, and one moved more
     * than a default pipe holds. */
    ck_assert_uint_eq(spliced.most_asked, CONN_PIPE_BIG);
    ck_assert_uint_gt(spliced.most, 64 * 1024);
    fprintf(stderr, "# 32 MiB: %zu splices into the pipe, %zu bytes each on average, %zu at most\n",
            spliced.calls, spliced.bytes / spliced.calls, spliced.most);
    /* Both sides end: the one pipe is back in the pool, at its first size
     * (whether the flow gave it back before, at a short splice, or now). */
    conn_close_after_flush(&conns[0]);
    conn_close_after_flush(&conns[1]);
    conn_wake(&conns[0]);
    conn_wake(&conns[1]);
    ck_assert(fx_run_until(both_gone, NULL, 10000));
    ck_assert_uint_eq(fx.owner.n_pipes, 1);
    ck_assert_uint_eq(fx.owner.n_free_pipes, 1);
    const struct conn_pipe *p = fx.owner.free_pipes;
    ck_assert_uint_eq(p->size, p->first_size);
    ck_assert_uint_lt(p->size, CONN_PIPE_BIG);
    ck_assert_int_eq(fcntl(p->wfd, F_GETPIPE_SZ), (int)p->first_size);
    ck_assert(!p->grow_tried);
}
END_TEST

/* A connected pair of TCP sockets on loopback, both non-blocking, in place
 * of the unix pair at sv: [0] the connection's end, [1] the test's. */
static void tcp_pair(int pair[2])
{
    close(pair[0]);
    close(pair[1]);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(ls, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(ls, 1), 0);
    ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
    pair[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(pair[1], 0);
    ck_assert_int_eq(connect(pair[1], (struct sockaddr *)&a, sizeof a), 0);
    pair[0] = accept4(ls, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    ck_assert_int_ge(pair[0], 0);
    ck_assert_int_eq(fcntl(pair[1], F_SETFL, O_NONBLOCK), 0);
    close(ls);
}

static int unsent(int fd)
{
    int n = -1;
    ck_assert_int_eq(ioctl(fd, SIOCOUTQNSD, &n), 0);
    return n;
}

/* As writer_held, on TCP, where the loopback's delivery runs after the
 * send: the far socket holds bytes it cannot send (the reader's window is
 * closed), and says so. */
static bool far_socket_full(void *arg)
{
    return writer_held(arg) && unsent(conns[1].io.fd) > 0 && !conns[1].writable;
}

START_TEST(a_tcp_link_bounds_what_its_sockets_leave_unsent)
{
    tcp_pair(sv[0]);
    tcp_pair(sv[1]);
    start(&transport_plain);
    for (int i = 0; i < 2; i++) {
        int lowat = 0;
        socklen_t len = sizeof lowat;
        ck_assert_int_eq(getsockopt(conns[i].io.fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, &len), 0);
        ck_assert_int_eq(lowat, CONN_SPLICE_NOTSENT);
    }
    flow_on(sv[0][1], sv[1][1], 256u << 20);
    ck_assert(fx_run_until(on_pipe, NULL, 10000));
    fl.stop_reading = true;
    ck_assert(fx_run_until(far_socket_full, NULL, 20000));
    /* The far socket took bytes until its unsent ones reached the bound;
     * one splice may overshoot it by the segment it was filling. Without
     * the bound the kernel takes up to its autotuned send buffer (MiBs). */
    int left = unsent(conns[1].io.fd);
    fprintf(stderr, "# a stalled TCP reader: %d bytes unsent in the far socket, %zu in the pipe\n",
            left, conn_pipe_len(&conns[1]));
    ck_assert_int_le(left, CONN_SPLICE_NOTSENT + 128 * 1024);
    read_on(8u << 20);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conn_splice");
    TCase *tc = tcase_create("splice");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bulk_bytes_arrive_identical_through_a_pipe);
    tcase_add_test(tc, small_exchanges_stay_buffered);
    tcase_add_test(tc, a_slow_reader_bounds_the_pipe);
    tcase_add_test(tc, half_close_after_the_last_spliced_byte);
    tcase_add_test(tc, a_reset_mid_flow_closes_both);
    tcase_add_test(tc, a_transport_that_cannot_splice_stays_buffered);
    tcase_add_test(tc, a_plain_link_never_splices);
    tcase_add_test(tc, a_fat_flow_grows_its_pipe_and_the_pool_shrinks_it);
    tcase_add_test(tc, a_tcp_link_bounds_what_its_sockets_leave_unsent);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
