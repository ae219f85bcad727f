/* The connection layer over real sockets and a real loop: a struct conn on
 * one end of a socket pair with the plain transport (reads, writes, writev,
 * sendfile, the closes, deadlines, back-pressure), and two linked
 * connections holding each other back, half-close (the end of input kept,
 * the output shut down after a flush), whether a byte of the output was
 * taken by the kernel (conn_sent). How a connection comes to be open
 * (accepted, connected, the handshake, the outbound pool) is
 * check_conn_open's. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "conn_fixture.h"
#include "transport.h"
#include "tap.h"

static struct conn conns[2];
static int sv[2][2];            /* [i][0] the connection's end, [i][1] the test's */

static void setup(void)
{
    fx_setup();
    fx_socketpair(sv[0]);
    fx_socketpair(sv[1]);
}

static void teardown(void)
{
    fx_teardown();
}

/* The connection ends by itself, no sooner than `ms` after start, and the
 * protocol hears only its open and its close. */
static void ends_after(int64_t start, int64_t ms)
{
    int one = 1;
    ck_assert(fx_run_until(fx_closed_at_least, &one, ms + 5000));
    ck_assert_int_ge(loop_now(fx.loop) - start, ms);
    ck_assert_str_eq(fx_probe.log, "oc");
}

/* The test's end reads into a buffer until it holds `want` bytes (or EOF). */
struct reader {
    int fd;
    char buf[1 << 21];
    size_t len, want;
    bool open;
};

static struct reader rd;

static bool read_enough(void *arg)
{
    (void)arg;
    rd.open = fx_recv(rd.fd, rd.buf, &rd.len, sizeof rd.buf);
    return rd.len >= rd.want || !rd.open;
}

static bool read_to_eof(void *arg)
{
    (void)arg;
    rd.open = fx_recv(rd.fd, rd.buf, &rd.len, sizeof rd.buf);
    return !rd.open;
}

static void reader_on(int fd, size_t want)
{
    rd.fd = fd;
    rd.len = 0;
    rd.want = want;
    rd.open = true;
}

/* ------------------------------------------------------------------ */
/* Reading and writing */

START_TEST(reads_and_writes)
{
    fx_probe.mode = FX_ECHO;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    ck_assert_str_eq(fx_probe.log, "o");
    fx_send(sv[0][1], "hello", 5);
    reader_on(sv[0][1], 5);
    ck_assert(fx_run_until(read_enough, NULL, 5000));
    ck_assert_int_eq(rd.len, 5);
    ck_assert(memcmp(rd.buf, "hello", 5) == 0);
    ck_assert_str_eq(fx_probe.log, "orw");
    ck_assert_uint_eq(stats_get(fx.stats, STAT_BYTES_IN), 5);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_BYTES_OUT), 5);
    /* Idle again: it holds no buffer. */
    ck_assert_ptr_null(conns[0].in);
    ck_assert_ptr_null(conns[0].out);
    /* The peer's end: the protocol is told, closes, the owner takes it back. */
    close(sv[0][1]);
    int one = 1;
    ck_assert(fx_run_until(fx_closed_at_least, &one, 5000));
    ck_assert_ptr_eq(fx.last_closed, &conns[0]);
    ck_assert_str_eq(fx_probe.log, "orwrc");
    ck_assert(!conns[0].in_use);
}
END_TEST

START_TEST(writev_gathers)
{
    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    struct iovec iov[3] = { { "one ", 4 }, { "two ", 4 }, { "three", 5 } };
    /* Queued on the connection in one piece... */
    ck_assert_int_eq(conn_writev(&conns[0], iov, 3), 0);
    ck_assert_uint_eq(conn_out_len(&conns[0]), 13);
    conn_run(&conns[0]);
    /* ...and straight through the transport. */
    ck_assert_int_eq(conns[0].tp->writev(&conns[0], iov, 3, false), 13);
    reader_on(sv[0][1], 26);
    ck_assert(fx_run_until(read_enough, NULL, 5000));
    ck_assert_int_eq(rd.len, 26);
    ck_assert(memcmp(rd.buf, "one two threeone two three", 26) == 0);
}
END_TEST

static bool sent_whole(void *arg)
{
    read_enough(arg);
    return rd.len >= rd.want && !conn_file_pending(&conns[0]);
}

START_TEST(sends_a_file)
{
    /* Larger than one sendfile round, so it yields to the loop between. */
    size_t size = 1536 * 1024 + 7;
    char path[] = "/tmp/herd-check-conn-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    char *data = malloc(size);
    for (size_t i = 0; i < size; i++)
        data[i] = (char)(i * 7 + i / 251);
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);

    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    conn_write(&conns[0], "HEAD\n", 5);
    conn_send_file(&conns[0], fd, 100, (int64_t)size);
    conn_wake(&conns[0]);
    reader_on(sv[0][1], 5 + size - 100);
    ck_assert(fx_run_until(sent_whole, NULL, 10000));
    ck_assert_uint_eq(rd.len, 5 + size - 100);
    ck_assert(memcmp(rd.buf, "HEAD\n", 5) == 0);
    ck_assert(memcmp(rd.buf + 5, data + 100, size - 100) == 0);
    /* The connection closed the file when done. */
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_BYTES_OUT), 5 + size - 100);
    ck_assert_int_eq(fx_probe.count['w'], 1);
    free(data);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Closing */

static void queue_bytes(struct conn *c, size_t n, char b)
{
    char *p = conn_reserve(c, n);
    ck_assert_ptr_nonnull(p);
    memset(p, b, n);
    conn_commit(c, n);
}

static bool blocked(void *arg)
{
    return !((struct conn *)arg)->writable;
}

START_TEST(closes_after_flush)
{
    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    size_t n = 1 << 20;             /* more than the socket holds */
    queue_bytes(&conns[0], n, 'x');
    conn_close_after_flush(&conns[0]);
    conn_wake(&conns[0]);
    ck_assert(fx_run_until(blocked, &conns[0], 5000));
    /* The output waits for the peer: still open. */
    ck_assert(conns[0].in_use);
    ck_assert_int_eq(fx.closed, 0);
    reader_on(sv[0][1], n);
    ck_assert(fx_run_until(read_to_eof, NULL, 10000));
    ck_assert_uint_eq(rd.len, n);
    ck_assert_int_eq(fx.closed, 1);
    ck_assert_str_eq(fx_probe.log, "oc");
}
END_TEST

START_TEST(close_now_drops_output)
{
    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    queue_bytes(&conns[0], 1000, 'x');
    conn_close_now(&conns[0]);
    conn_run(&conns[0]);
    ck_assert_int_eq(fx.closed, 1);
    reader_on(sv[0][1], 1);
    ck_assert(fx_run_until(read_to_eof, NULL, 5000));
    ck_assert_uint_eq(rd.len, 0);
}
END_TEST

/* conn_sent: whether the kernel took a byte of the output. A write to a
 * peer that no longer reads fails before any byte is taken, which a
 * proxy reads as "the request never left". */
START_TEST(sent_says_whether_a_byte_left)
{
    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    ck_assert(!conn_sent(&conns[0]));
    queue_bytes(&conns[0], 100, 'x');
    conn_wake(&conns[0]);
    reader_on(sv[0][1], 100);
    ck_assert(fx_run_until(read_enough, NULL, 5000));
    ck_assert(conn_sent(&conns[0]));
    conn_sent_clear(&conns[0]);
    ck_assert(!conn_sent(&conns[0]));

    fx_start(&conns[1], sv[1][0], &fx_probe_ops);
    ck_assert_int_eq(shutdown(sv[1][1], SHUT_RD), 0);
    queue_bytes(&conns[1], 100, 'y');
    conn_wake(&conns[1]);
    int one = 1;
    ck_assert(fx_run_until(fx_closed_at_least, &one, 5000));
    ck_assert_ptr_eq(fx.last_closed, &conns[1]);
    ck_assert(!conns[1].sent);
}
END_TEST

static bool peer_saw_end(void *arg)
{
    (void)arg;
    return !fx_recv(rd.fd, rd.buf, &rd.len, sizeof rd.buf);
}

START_TEST(lingers_until_the_peer_ends)
{
    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    fx_send(sv[0][1], "request", 7);
    conn_write(&conns[0], "refused", 7);
    conn_linger(&conns[0]);
    conn_wake(&conns[0]);
    reader_on(sv[0][1], 7);
    /* The answer and then our end (shutdown), but no close yet: the peer
     * may still be sending, and a close would reset the answer away. */
    ck_assert(fx_run_until(peer_saw_end, NULL, 5000));
    ck_assert_uint_eq(rd.len, 7);
    ck_assert(memcmp(rd.buf, "refused", 7) == 0);
    ck_assert(conns[0].in_use);
    /* What it still sends is read and dropped, not handed to the protocol. */
    fx_send(sv[0][1], "more", 4);
    close(sv[0][1]);
    int one = 1;
    ck_assert(fx_run_until(fx_closed_at_least, &one, 5000));
    ck_assert_str_eq(fx_probe.log, "oc");
}
END_TEST

START_TEST(linger_has_a_deadline)
{
    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    int64_t start = conn_now(&conns[0]);
    conn_linger(&conns[0]);
    conn_wake(&conns[0]);
    ends_after(start, 2000);       /* CONN_LINGER_MS */
}
END_TEST

/* ------------------------------------------------------------------ */
/* Deadlines */

START_TEST(protocol_timer_fires_with_its_kind)
{
    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    int64_t start = conn_now(&conns[0]);
    conn_set_timer(&conns[0], CONN_TIMER_PROTO + 2, 30);
    char e = 't';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_uint_eq(fx_probe.kind, CONN_TIMER_PROTO + 2);
    ck_assert_int_ge(fx_probe.at - start, 30);
    ck_assert(conns[0].in_use);
}
END_TEST

START_TEST(timer_moves_later_and_earlier)
{
    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    int64_t start = conn_now(&conns[0]);
    /* Later: the heap entry stays and moves itself when it comes due. */
    conn_set_timer(&conns[0], CONN_TIMER_PROTO, 20);
    conn_set_timer(&conns[0], CONN_TIMER_PROTO + 1, 80);
    char e = 't';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_uint_eq(fx_probe.kind, CONN_TIMER_PROTO + 1);
    ck_assert_int_ge(fx_probe.at - start, 80);
    /* Earlier: moved at once. */
    fx_probe_forget();
    start = conn_now(&conns[0]);
    conn_set_timer(&conns[0], CONN_TIMER_PROTO, 5000);
    conn_set_timer(&conns[0], CONN_TIMER_PROTO + 3, 20);
    ck_assert(fx_run_until(fx_probe_heard, &e, 2000));
    ck_assert_uint_eq(fx_probe.kind, CONN_TIMER_PROTO + 3);
    ck_assert_int_lt(fx_probe.at - start, 5000);
    /* Once only. */
    fx_run_for(60);
    ck_assert_int_eq(fx_probe.count['t'], 1);
}
END_TEST

START_TEST(cancelled_timer_stays_quiet)
{
    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    conn_set_timer(&conns[0], CONN_TIMER_PROTO, 20);
    conn_cancel_timer(&conns[0]);
    fx_run_for(80);
    ck_assert_str_eq(fx_probe.log, "o");
}
END_TEST

START_TEST(send_timeout_closes)
{
    fx_probe.mode = FX_KEEP;
    fx_probe.send_timeout = 50;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    int64_t start = conn_now(&conns[0]);
    queue_bytes(&conns[0], 1 << 20, 'x');   /* the peer never reads */
    conn_wake(&conns[0]);
    /* The layer's own deadline: the protocol hears only the close. */
    ends_after(start, 50);
}
END_TEST

START_TEST(drain_tells_the_protocol)
{
    fx_probe.mode = FX_KEEP;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    ck_assert(!conns[0].draining);
    conn_drain(&conns[0]);
    ck_assert(conns[0].draining);
    ck_assert_str_eq(fx_probe.log, "od");
    /* A connection started while the owner drains starts draining. */
    fx.owner.draining = true;
    fx_start(&conns[1], sv[1][0], &fx_probe_ops);
    ck_assert(conns[1].draining);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Back-pressure */

static size_t pushed;

static bool stopped_reading(void *arg)
{
    struct conn *c = arg;
    pushed += fx_fill(sv[0][1], 'x');
    /* Stopped early (a read could still return data) with a full output
     * that the peer does not take: nothing can move any more. */
    return conn_out_len(c) >= CONN_OUT_HIGH && c->readable && !c->writable;
}

static bool echoed_all(void *arg)
{
    (void)arg;
    fx_recv(sv[0][1], rd.buf, &rd.len, sizeof rd.buf);
    return rd.len >= pushed;
}

START_TEST(stops_reading_above_high_water)
{
    fx_probe.mode = FX_ECHO;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    pushed = 0;
    ck_assert(fx_run_until(stopped_reading, &conns[0], 10000));
    /* At most one read (a 16 KiB buffer) above the mark. */
    size_t out = conn_out_len(&conns[0]);
    ck_assert_uint_le(out, CONN_OUT_HIGH + 16 * 1024);
    /* It stays that way while nobody reads. */
    pushed += fx_fill(sv[0][1], 'x');
    fx_run_for(20);
    ck_assert_uint_eq(conn_out_len(&conns[0]), out);
    /* Reading resumes as the peer reads. */
    reader_on(sv[0][1], 0);
    ck_assert(fx_run_until(echoed_all, NULL, 10000));
    ck_assert_uint_eq(rd.len, pushed);
    for (size_t i = 0; i < rd.len && i < sizeof rd.buf; i++)
        ck_assert_int_eq(rd.buf[i], 'x');
}
END_TEST

/* ------------------------------------------------------------------ */
/* Linked connections: bytes read on one are written to the other. */

struct relay {
    int from, to;               /* the test's ends: writer and reader */
    struct conn *src, *dst;
};

static struct relay rl;

static bool src_held(void *arg)
{
    (void)arg;
    size_t n = fx_fill(rl.from, 'y');
    pushed += n;
    /* Held, with the other's output blocked by its peer and the writer's
     * socket full: nothing can move any more. */
    return rl.src->held && !rl.dst->writable && n == 0;
}

static bool relayed_all(void *arg)
{
    (void)arg;
    fx_recv(rl.to, rd.buf, &rd.len, sizeof rd.buf);
    return rd.len >= pushed;
}

/* _i == 0: from the first connection's peer to the second's; 1: back. */
START_TEST(linked_pair_holds_back)
{
    fx_probe.mode = FX_RELAY;
    fx_start(&conns[0], sv[0][0], &fx_probe_ops);
    fx_start(&conns[1], sv[1][0], &fx_probe_ops);
    conn_link(&conns[0], &conns[1]);
    ck_assert_ptr_eq(conns[0].link, &conns[1]);
    ck_assert_ptr_eq(conns[1].link, &conns[0]);
    int a = _i, b = 1 - _i;
    rl = (struct relay){ sv[a][1], sv[b][1], &conns[a], &conns[b] };
    pushed = 0;
    /* The reader does not read: the writer's side stops reading once the
     * other's output is full. */
    ck_assert(fx_run_until(src_held, NULL, 10000));
    size_t out = conn_out_len(rl.dst);
    ck_assert_uint_ge(out, CONN_OUT_HIGH);
    ck_assert_uint_le(out, CONN_OUT_HIGH + 16 * 1024);
    pushed += fx_fill(rl.from, 'y');
    fx_run_for(20);
    ck_assert_uint_eq(conn_out_len(rl.dst), out);
    ck_assert(rl.src->held);
    /* The reader reads: it drains, the writer's side reads again, all of
     * it arrives. */
    reader_on(rl.to, 0);
    ck_assert(fx_run_until(relayed_all, NULL, 10000));
    ck_assert_uint_eq(rd.len, pushed);
    ck_assert(!rl.src->held);
    /* Closing one ends the link. */
    close(rl.from);
    char e = 'c';
    ck_assert(fx_run_until(fx_probe_heard, &e, 5000));
    ck_assert_ptr_null(rl.dst->link);
    ck_assert(!rl.dst->linked);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Half-close: a protocol that keeps a connection after the end of its
 * input, and ends its output on its own (conn_half_close,
 * conn_shutdown_after_flush). */

static struct {
    bool eof;
    size_t got;
    int closed;
} half;

static void half_open(struct conn *c)
{
    conn_half_close(c);
}

static void half_readable(struct conn *c)
{
    half.got += conn_in_len(c);
    if (c->in)
        buf_consume(c->in, conn_in_len(c));
    half.eof |= c->eof;
}

static void half_nothing(struct conn *c)
{
    (void)c;
}

static void half_close_cb(struct conn *c)
{
    (void)c;
    half.closed++;
}

static const struct conn_ops half_ops = {
    .open = half_open, .readable = half_readable, .writable = half_nothing,
    .drain = half_nothing, .close = half_close_cb,
};

static bool half_saw_eof(void *arg)
{
    (void)arg;
    return half.eof;
}

static bool half_got(void *arg)
{
    return half.got >= *(size_t *)arg;
}

START_TEST(half_close_writes_after_the_end_of_input)
{
    memset(&half, 0, sizeof half);
    fx_start(&conns[0], sv[0][0], &half_ops);
    /* The peer is done sending: the connection stays, and may answer. */
    fx_send(sv[0][1], "question", 8);
    ck_assert_int_eq(shutdown(sv[0][1], SHUT_WR), 0);
    ck_assert(fx_run_until(half_saw_eof, NULL, 5000));
    fx_run_for(20);
    ck_assert(conns[0].in_use);
    ck_assert_uint_eq(half.got, 8);
    ck_assert_int_eq(fx.closed, 0);
    size_t n = 1 << 20;             /* more than the socket holds */
    queue_bytes(&conns[0], n, 'a');
    conn_shutdown_after_flush(&conns[0]);
    conn_wake(&conns[0]);
    /* All of it, then the end. */
    reader_on(sv[0][1], n);
    ck_assert(fx_run_until(read_to_eof, NULL, 10000));
    ck_assert_uint_eq(rd.len, n);
    ck_assert_uint_eq(conns[0].shut, CONN_SHUT_DONE);
    /* Still the protocol's to close. */
    ck_assert(conns[0].in_use);
    ck_assert_int_eq(half.closed, 0);
    conn_close_after_flush(&conns[0]);
    conn_wake(&conns[0]);
    int one = 1;
    ck_assert(fx_run_until(fx_closed_at_least, &one, 5000));
    ck_assert_int_eq(half.closed, 1);
}
END_TEST

START_TEST(shutdown_after_flush_keeps_reading)
{
    memset(&half, 0, sizeof half);
    fx_start(&conns[0], sv[0][0], &half_ops);
    size_t n = 1 << 20;
    queue_bytes(&conns[0], n, 'b');
    conn_shutdown_after_flush(&conns[0]);
    conn_wake(&conns[0]);
    ck_assert(fx_run_until(blocked, &conns[0], 5000));
    /* Not before the output is out. */
    ck_assert_uint_eq(conns[0].shut, CONN_SHUT_WANTED);
    reader_on(sv[0][1], n);
    ck_assert(fx_run_until(read_to_eof, NULL, 10000));
    ck_assert_uint_eq(rd.len, n);
    /* The other direction still flows, to its own end. */
    size_t want = 3 << 20;
    size_t sent = 0;
    while (sent < want) {
        sent += fx_fill(sv[0][1], 'c');
        size_t at = sent < want ? sent : want;
        ck_assert(fx_run_until(half_got, &at, 10000));
    }
    ck_assert(!half.eof);
    ck_assert_int_eq(shutdown(sv[0][1], SHUT_WR), 0);
    ck_assert(fx_run_until(half_saw_eof, NULL, 5000));
    ck_assert_uint_eq(half.got, sent);
    ck_assert(conns[0].in_use);
    conn_close_now(&conns[0]);
    conn_run(&conns[0]);
    ck_assert_int_eq(half.closed, 1);
    ck_assert_int_eq(fx.closed, 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conn");
    TCase *io = tcase_create("io");
    tcase_add_checked_fixture(io, setup, teardown);
    tcase_add_test(io, reads_and_writes);
    tcase_add_test(io, writev_gathers);
    tcase_add_test(io, sends_a_file);
    tcase_add_test(io, closes_after_flush);
    tcase_add_test(io, close_now_drops_output);
    tcase_add_test(io, sent_says_whether_a_byte_left);
    tcase_add_test(io, lingers_until_the_peer_ends);
    tcase_add_test(io, linger_has_a_deadline);
    tcase_add_test(io, protocol_timer_fires_with_its_kind);
    tcase_add_test(io, timer_moves_later_and_earlier);
    tcase_add_test(io, cancelled_timer_stays_quiet);
    tcase_add_test(io, send_timeout_closes);
    tcase_add_test(io, drain_tells_the_protocol);
    tcase_add_test(io, stops_reading_above_high_water);
    tcase_add_test(io, half_close_writes_after_the_end_of_input);
    tcase_add_test(io, shutdown_after_flush_keeps_reading);
    suite_add_tcase(s, io);

    TCase *link = tcase_create("link");
    tcase_add_checked_fixture(link, setup, teardown);
    tcase_add_loop_test(link, linked_pair_holds_back, 0, 2);
    suite_add_tcase(s, link);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
