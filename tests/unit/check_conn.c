/* The connection layer over real sockets and a real loop: a struct conn on
 * one end of a socket pair with the plain transport (reads, writes, writev,
 * sendfile, the closes, deadlines, back-pressure, a handshake), outbound
 * connections (connected, refused, timed out, failed at once), and two
 * linked connections holding each other back. */
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
#include "transport.h"
#include "tap.h"

/* ------------------------------------------------------------------ */
/* A protocol that notes what it is told */

enum mode { ECHO, SINK, KEEP, RELAY };

static struct {
    enum mode mode;
    char log[64];               /* o open, r readable (runs of them once), w writable,
                                   t timeout, d drain, e error, c close: the first ones */
    size_t n;
    int count[128];             /* of each */
    char got[256];              /* SINK: the first bytes read */
    size_t got_len;
    unsigned kind;              /* last timeout */
    int64_t at;                 /* when it came */
    int err;                    /* last error */
    void *data;                 /* c->data at open */
    const char *greeting;       /* written at open */
    int64_t send_timeout;       /* set at open when not 0 */
} t;

static void note(char e)
{
    t.count[(unsigned char)e]++;
    if (t.n > 0 && e == 'r' && t.log[t.n - 1] == 'r')
        return;
    if (t.n < sizeof t.log - 1)
        t.log[t.n++] = e;
}

static void forget(void)
{
    memset(t.log, 0, sizeof t.log);
    memset(t.count, 0, sizeof t.count);
    t.n = 0;
}

static void t_open(struct conn *c)
{
    note('o');
    t.data = c->data;
    if (t.send_timeout)
        c->send_timeout = t.send_timeout;
    if (t.greeting)
        conn_write(c, t.greeting, strlen(t.greeting));
}

static void t_readable(struct conn *c)
{
    note('r');
    size_t n = conn_in_len(c);
    if (t.mode == ECHO && n > 0 && conn_write(c, buf_head(c->in), n) == 0)
        buf_consume(c->in, n);
    if (t.mode == RELAY && n > 0 && c->link && conn_write(c->link, buf_head(c->in), n) == 0)
        buf_consume(c->in, n);
    if (t.mode == SINK && n > 0) {
        size_t keep = sizeof t.got - t.got_len;
        memcpy(t.got + t.got_len, buf_head(c->in), n < keep ? n : keep);
        t.got_len += n < keep ? n : keep;
        buf_consume(c->in, n);
    }
    if (c->eof)
        conn_close_after_flush(c);
}

static void t_writable(struct conn *c)
{
    (void)c;
    note('w');
}

static void t_timeout(struct conn *c, unsigned kind)
{
    note('t');
    t.kind = kind;
    t.at = conn_now(c);
}

static void t_drain(struct conn *c)
{
    (void)c;
    note('d');
}

static void t_error(struct conn *c, int err)
{
    note('e');
    t.err = err;
    t.data = c->data;
}

static void t_close(struct conn *c)
{
    (void)c;
    note('c');
}

static const struct conn_ops t_ops = {
    .open = t_open, .readable = t_readable, .writable = t_writable, .timeout = t_timeout,
    .drain = t_drain, .error = t_error, .close = t_close,
};

static struct conn conns[2];
static int sv[2][2];            /* [i][0] the connection's end, [i][1] the test's */

static void setup(void)
{
    fx_setup();
    memset(&t, 0, sizeof t);
    fx_socketpair(sv[0]);
    fx_socketpair(sv[1]);
}

static void teardown(void)
{
    fx_teardown();
}

static bool log_has(void *e)
{
    return t.count[*(unsigned char *)e] > 0;
}

static bool owner_got_it_back(void *arg)
{
    return fx.closed >= *(int *)arg;
}

/* The connection ends by itself, no sooner than `ms` after start, and the
 * protocol hears only its open and its close. */
static void ends_after(int64_t start, int64_t ms)
{
    int one = 1;
    ck_assert(fx_run_until(owner_got_it_back, &one, ms + 5000));
    ck_assert_int_ge(loop_now(fx.loop) - start, ms);
    ck_assert_str_eq(t.log, "oc");
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
    t.mode = ECHO;
    fx_start(&conns[0], sv[0][0], &t_ops);
    ck_assert_str_eq(t.log, "o");
    fx_send(sv[0][1], "hello", 5);
    reader_on(sv[0][1], 5);
    ck_assert(fx_run_until(read_enough, NULL, 5000));
    ck_assert_int_eq(rd.len, 5);
    ck_assert(memcmp(rd.buf, "hello", 5) == 0);
    ck_assert_str_eq(t.log, "orw");
    ck_assert_uint_eq(stats_get(fx.stats, STAT_BYTES_IN), 5);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_BYTES_OUT), 5);
    /* Idle again: it holds no buffer. */
    ck_assert_ptr_null(conns[0].in);
    ck_assert_ptr_null(conns[0].out);
    /* The peer's end: the protocol is told, closes, the owner takes it back. */
    close(sv[0][1]);
    int one = 1;
    ck_assert(fx_run_until(owner_got_it_back, &one, 5000));
    ck_assert_ptr_eq(fx.last_closed, &conns[0]);
    ck_assert_str_eq(t.log, "orwrc");
    ck_assert(!conns[0].in_use);
}
END_TEST

START_TEST(writev_gathers)
{
    t.mode = KEEP;
    fx_start(&conns[0], sv[0][0], &t_ops);
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

    t.mode = KEEP;
    fx_start(&conns[0], sv[0][0], &t_ops);
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
    ck_assert_int_eq(t.count['w'], 1);
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
    t.mode = KEEP;
    fx_start(&conns[0], sv[0][0], &t_ops);
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
    ck_assert_str_eq(t.log, "oc");
}
END_TEST

START_TEST(close_now_drops_output)
{
    t.mode = KEEP;
    fx_start(&conns[0], sv[0][0], &t_ops);
    queue_bytes(&conns[0], 1000, 'x');
    conn_close_now(&conns[0]);
    conn_run(&conns[0]);
    ck_assert_int_eq(fx.closed, 1);
    reader_on(sv[0][1], 1);
    ck_assert(fx_run_until(read_to_eof, NULL, 5000));
    ck_assert_uint_eq(rd.len, 0);
}
END_TEST

static bool peer_saw_end(void *arg)
{
    (void)arg;
    return !fx_recv(rd.fd, rd.buf, &rd.len, sizeof rd.buf);
}

START_TEST(lingers_until_the_peer_ends)
{
    t.mode = KEEP;
    fx_start(&conns[0], sv[0][0], &t_ops);
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
    ck_assert(fx_run_until(owner_got_it_back, &one, 5000));
    ck_assert_str_eq(t.log, "oc");
}
END_TEST

START_TEST(linger_has_a_deadline)
{
    t.mode = KEEP;
    fx_start(&conns[0], sv[0][0], &t_ops);
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
    t.mode = KEEP;
    fx_start(&conns[0], sv[0][0], &t_ops);
    int64_t start = conn_now(&conns[0]);
    conn_set_timer(&conns[0], CONN_TIMER_PROTO + 2, 30);
    char e = 't';
    ck_assert(fx_run_until(log_has, &e, 5000));
    ck_assert_uint_eq(t.kind, CONN_TIMER_PROTO + 2);
    ck_assert_int_ge(t.at - start, 30);
    ck_assert(conns[0].in_use);
}
END_TEST

START_TEST(timer_moves_later_and_earlier)
{
    t.mode = KEEP;
    fx_start(&conns[0], sv[0][0], &t_ops);
    int64_t start = conn_now(&conns[0]);
    /* Later: the heap entry stays and moves itself when it comes due. */
    conn_set_timer(&conns[0], CONN_TIMER_PROTO, 20);
    conn_set_timer(&conns[0], CONN_TIMER_PROTO + 1, 80);
    char e = 't';
    ck_assert(fx_run_until(log_has, &e, 5000));
    ck_assert_uint_eq(t.kind, CONN_TIMER_PROTO + 1);
    ck_assert_int_ge(t.at - start, 80);
    /* Earlier: moved at once. */
    forget();
    start = conn_now(&conns[0]);
    conn_set_timer(&conns[0], CONN_TIMER_PROTO, 5000);
    conn_set_timer(&conns[0], CONN_TIMER_PROTO + 3, 20);
    ck_assert(fx_run_until(log_has, &e, 2000));
    ck_assert_uint_eq(t.kind, CONN_TIMER_PROTO + 3);
    ck_assert_int_lt(t.at - start, 5000);
    /* Once only. */
    fx_run_for(60);
    ck_assert_int_eq(t.count['t'], 1);
}
END_TEST

START_TEST(cancelled_timer_stays_quiet)
{
    t.mode = KEEP;
    fx_start(&conns[0], sv[0][0], &t_ops);
    conn_set_timer(&conns[0], CONN_TIMER_PROTO, 20);
    conn_cancel_timer(&conns[0]);
    fx_run_for(80);
    ck_assert_str_eq(t.log, "o");
}
END_TEST

START_TEST(send_timeout_closes)
{
    t.mode = KEEP;
    t.send_timeout = 50;
    fx_start(&conns[0], sv[0][0], &t_ops);
    int64_t start = conn_now(&conns[0]);
    queue_bytes(&conns[0], 1 << 20, 'x');   /* the peer never reads */
    conn_wake(&conns[0]);
    /* The layer's own deadline: the protocol hears only the close. */
    ends_after(start, 50);
}
END_TEST

START_TEST(drain_tells_the_protocol)
{
    t.mode = KEEP;
    fx_start(&conns[0], sv[0][0], &t_ops);
    ck_assert(!conns[0].draining);
    conn_drain(&conns[0]);
    ck_assert(conns[0].draining);
    ck_assert_str_eq(t.log, "od");
    /* A connection started while the owner drains starts draining. */
    fx.owner.draining = true;
    fx_start(&conns[1], sv[1][0], &t_ops);
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
    t.mode = ECHO;
    fx_start(&conns[0], sv[0][0], &t_ops);
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
    t.mode = ECHO;
    fx_start_tp(&conns[0], sv[0][0], &t_ops, &hi_transport);
    ck_assert_int_eq(t.n, 0);
    fx_send(sv[0][1], "H", 1);
    fx_run_for(10);
    ck_assert_int_eq(t.n, 0);
    fx_send(sv[0][1], "I\nping", 6);
    reader_on(sv[0][1], 4);
    ck_assert(fx_run_until(read_enough, NULL, 5000));
    ck_assert(memcmp(rd.buf, "ping", 4) == 0);
    ck_assert(t.log[0] == 'o');
}
END_TEST

START_TEST(failed_handshake_never_opens)
{
    t.mode = ECHO;
    fx_start_tp(&conns[0], sv[0][0], &t_ops, &hi_transport);
    conn_drain(&conns[0]);          /* before open: open will see it */
    fx_send(sv[0][1], "NO\n", 3);
    int one = 1;
    ck_assert(fx_run_until(owner_got_it_back, &one, 5000));
    ck_assert_int_eq(t.n, 0);       /* neither open nor close */
    ck_assert(!conns[0].in_use);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Outbound */

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

static int marker;

START_TEST(connects)
{
    struct sockaddr_in addr;
    int l = tcp_socket(8, true, &addr);
    t.mode = SINK;
    t.greeting = "ping";
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 5000,
                                  &t_ops, &transport_plain, &marker);
    ck_assert_ptr_nonnull(c);
    ck_assert(c->outbound);
    ck_assert_int_eq(fx.owner.n_outbound, 1);
    char e = 'o';
    ck_assert(fx_run_until(log_has, &e, 5000));
    ck_assert_ptr_eq(t.data, &marker);
    int s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(s, 0);
    reader_on(s, 4);
    ck_assert(fx_run_until(read_enough, NULL, 5000));
    ck_assert(memcmp(rd.buf, "ping", 4) == 0);
    fx_send(s, "pong", 4);
    close(s);
    int zero = 0;
    e = 'c';
    ck_assert(fx_run_until(log_has, &e, 5000));
    ck_assert_int_eq(t.got_len, 4);
    ck_assert(memcmp(t.got, "pong", 4) == 0);
    /* Back to the outbound pool, never to the owner's inbound table. */
    ck_assert(owner_got_it_back(&zero) && fx.closed == 0);
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    ck_assert_int_eq(fx.owner.n_spare, 1);
    ck_assert_str_eq(t.log, "owrc");
    close(l);
}
END_TEST

START_TEST(refused)
{
    struct sockaddr_in addr;
    int held = tcp_socket(0, false, &addr);    /* bound, not listening: refuses */
    t.mode = SINK;
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 5000,
                                  &t_ops, &transport_plain, &marker);
    ck_assert_ptr_nonnull(c);
    char e = 'e';
    ck_assert(fx_run_until(log_has, &e, 5000));
    ck_assert_int_eq(t.err, ECONNREFUSED);
    ck_assert_ptr_eq(t.data, &marker);
    ck_assert_str_eq(t.log, "e");
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    /* The spare is what the next connect gets. */
    ck_assert_int_eq(fx.owner.n_spare, 1);
    struct conn *again = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 5000,
                                      &t_ops, &transport_plain, NULL);
    ck_assert_ptr_eq(again, c);
    forget();
    ck_assert(fx_run_until(log_has, &e, 5000));
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
    t.mode = SINK;
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&addr, sizeof addr, 50,
                                  &t_ops, &transport_plain, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(tcp_state(c->io.fd), TCP_SYN_SENT);
    int64_t start = loop_now(fx.loop);
    char e = 'e';
    ck_assert(fx_run_until(log_has, &e, 5000));
    ck_assert_int_eq(t.err, ETIMEDOUT);
    ck_assert_int_ge(loop_now(fx.loop) - start, 50);
    ck_assert_str_eq(t.log, "e");
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    close(filler);
    close(l);
}
END_TEST

static socklen_t abstract_unix(struct sockaddr_un *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a->sun_path + 1, name, n);       /* abstract: no file */
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

START_TEST(connects_at_once)
{
    /* A unix listener with room completes connect() in the call. */
    struct sockaddr_un a;
    char name[64];
    snprintf(name, sizeof name, "herd-check-conn-%d", (int)getpid());
    socklen_t len = abstract_unix(&a, name);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, len), 0);
    ck_assert_int_eq(listen(l, 8), 0);
    t.mode = SINK;
    struct conn *c = conn_connect(&fx.owner, (struct sockaddr *)&a, len, 5000, &t_ops,
                                  &transport_plain, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(t.n, 0);       /* not from inside the call */
    char e = 'o';
    ck_assert(fx_run_until(log_has, &e, 5000));
    conn_close_now(c);
    conn_wake(c);
    e = 'c';
    ck_assert(fx_run_until(log_has, &e, 5000));
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    close(l);
}
END_TEST

START_TEST(fails_at_once)
{
    /* Nobody listens on this name: connect() says so in the call. */
    struct sockaddr_un a;
    char name[64];
    snprintf(name, sizeof name, "herd-check-conn-nobody-%d", (int)getpid());
    socklen_t len = abstract_unix(&a, name);
    t.mode = SINK;
    ck_assert_ptr_nonnull(conn_connect(&fx.owner, (struct sockaddr *)&a, len, 5000, &t_ops,
                                       &transport_plain, NULL));
    ck_assert_int_eq(t.n, 0);       /* the error comes from the loop */
    char e = 'e';
    ck_assert(fx_run_until(log_has, &e, 5000));
    ck_assert_int_eq(t.err, ECONNREFUSED);
    ck_assert_int_eq(fx.owner.n_outbound, 0);
}
END_TEST

START_TEST(cannot_begin)
{
    struct sockaddr bogus = { .sa_family = 12345 };
    errno = 0;
    ck_assert_ptr_null(conn_connect(&fx.owner, &bogus, sizeof bogus, 5000, &t_ops,
                                    &transport_plain, NULL));
    ck_assert_int_ne(errno, 0);
    ck_assert_int_eq(fx.owner.n_outbound, 0);
    ck_assert_int_eq(t.n, 0);
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
    t.mode = RELAY;
    fx_start(&conns[0], sv[0][0], &t_ops);
    fx_start(&conns[1], sv[1][0], &t_ops);
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
    ck_assert(fx_run_until(log_has, &e, 5000));
    ck_assert_ptr_null(rl.dst->link);
    ck_assert(!rl.dst->linked);
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
    tcase_add_test(io, lingers_until_the_peer_ends);
    tcase_add_test(io, linger_has_a_deadline);
    tcase_add_test(io, protocol_timer_fires_with_its_kind);
    tcase_add_test(io, timer_moves_later_and_earlier);
    tcase_add_test(io, cancelled_timer_stays_quiet);
    tcase_add_test(io, send_timeout_closes);
    tcase_add_test(io, drain_tells_the_protocol);
    tcase_add_test(io, stops_reading_above_high_water);
    suite_add_tcase(s, io);

    TCase *hs = tcase_create("handshake");
    tcase_add_checked_fixture(hs, hi_setup, teardown);
    tcase_add_test(hs, handshake_comes_before_open);
    tcase_add_test(hs, failed_handshake_never_opens);
    suite_add_tcase(s, hs);

    TCase *out = tcase_create("outbound");
    tcase_add_checked_fixture(out, setup, teardown);
    tcase_add_test(out, connects);
    tcase_add_test(out, refused);
    tcase_add_test(out, connect_times_out);
    tcase_add_test(out, connects_at_once);
    tcase_add_test(out, fails_at_once);
    tcase_add_test(out, cannot_begin);
    suite_add_tcase(s, out);

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
