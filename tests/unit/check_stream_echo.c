/* TCP echo (src/stream/echo.c) on a real connection (conn_fixture: socket
 * pair, plain transport, real loop), driven through its registry entry:
 * every byte back in order however it arrives, the idle timeout (and that
 * traffic moves it), the gauges, back-pressure on a client that does not
 * read (and its end after idle_timeout), the client's end of input, and a
 * drain. Its key is check_config's, the conformance to struct proto
 * check_conformance's. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "conn_fixture.h"
#include "proto.h"
#include "stream/echo.h"
#include "transport.h"
#include "tap.h"

static struct echo_config ec;
static struct cfg_server scfg;
static struct server_rt srv;
static const struct server_rt *const vhosts[1] = { &srv };
static struct conn conn;
static int sv[2];               /* [0] the connection's, [1] the client's */

/* An echo server with this idle_timeout, and a connection to it. */
static void serve(int64_t idle_ms)
{
    const struct proto *p = echo_module.proto;
    char err[256];
    ec.idle_timeout = idle_ms;
    scfg = (struct cfg_server){ .protocol = &echo_module.config, .conf = &ec };
    srv = (struct server_rt){ .cfg = &scfg, .proto = p };
    srv.data = p->server_new(&scfg, -1, err, sizeof err);
    ck_assert_ptr_nonnull(srv.data);
    struct conn_listen l = { .ops = &p->conn, .tp = &transport_plain, .vhosts = vhosts,
                             .n_vhosts = 1 };
    conn_start(&conn, &fx.owner, sv[0], NULL, &l);
}

static void setup(void)
{
    fx_setup();
    fx_socketpair(sv);
}

static void teardown(void)
{
    if (srv.data)
        echo_module.proto->server_free(srv.data);
    srv.data = NULL;
    fx_teardown();
}

/* ------------------------------------------------------------------ */
/* The client: a byte pattern out, and what came back checked against it */

static struct {
    size_t sent, got;
    bool eof, bad;
} cl;

static char pattern(size_t i)
{
    return (char)(i % 251);
}

/* Send up to `upto` pattern bytes in all, as far as the socket takes them. */
static void client_send(size_t upto)
{
    char chunk[8192];
    while (cl.sent < upto) {
        size_t n = upto - cl.sent < sizeof chunk ? upto - cl.sent : sizeof chunk;
        for (size_t i = 0; i < n; i++)
            chunk[i] = pattern(cl.sent + i);
        ssize_t w = send(sv[1], chunk, n, MSG_NOSIGNAL);
        if (w < 0) {
            ck_assert(errno == EAGAIN || errno == EINTR);
            if (errno == EAGAIN)
                return;
            continue;
        }
        cl.sent += (size_t)w;
    }
}

static void client_read(void)
{
    for (;;) {
        char chunk[65536];
        ssize_t n = read(sv[1], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cl.eof = !(n < 0 && errno == EAGAIN);
            return;
        }
        for (ssize_t i = 0; i < n; i++)
            cl.bad |= chunk[i] != pattern(cl.got + (size_t)i);
        cl.got += (size_t)n;
    }
}

static bool echoed(void *arg)
{
    client_send(*(size_t *)arg);
    client_read();
    return cl.got >= *(size_t *)arg || cl.eof;
}

/* Send n more bytes and wait for all of them back. */
static void round_trip(size_t n)
{
    size_t want = cl.sent + n;
    ck_assert(fx_run_until(echoed, &want, 20000));
    ck_assert_uint_eq(cl.got, want);
    ck_assert(!cl.bad);
}

static bool gone(void *arg)
{
    (void)arg;
    client_read();
    return cl.eof && fx.closed == 1;
}

/* The connection ends by itself, no sooner than `ms` after `since`. */
static void closes_after(int64_t since, int64_t ms)
{
    ck_assert(fx_run_until(gone, NULL, ms + 10000));
    ck_assert_int_ge(loop_now(fx.loop) - since, ms);
    ck_assert(!conn.in_use);
    ck_assert_ptr_eq(fx.last_closed, &conn);
}

static void setup_client(void)
{
    setup();
    memset(&cl, 0, sizeof cl);
}

/* ------------------------------------------------------------------ */

START_TEST(echoes_in_pieces)
{
    serve(60000);
    round_trip(1);
    round_trip(3);
    round_trip(100);
    /* More than the socket and the output mark hold, while the client
     * reads as it goes. */
    round_trip(3 << 20);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_BYTES_IN), cl.sent);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_BYTES_OUT), cl.sent);
    /* Idle again: no buffer held. */
    ck_assert_ptr_null(conn.in);
    ck_assert_ptr_null(conn.out);
}
END_TEST

START_TEST(counts_idle_and_writing)
{
    serve(60000);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_IDLE), 1);
    round_trip(10);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_IDLE), 1);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_WRITING), 0);
    close(sv[1]);
    sv[1] = -1;
    int one = 1;
    ck_assert(fx_run_until(fx_closed_at_least, &one, 5000));
    ck_assert_uint_eq(stats_get(fx.stats, STAT_IDLE), 0);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_WRITING), 0);
}
END_TEST

START_TEST(idle_timeout_closes)
{
    serve(100);
    int64_t start = conn_now(&conn);
    closes_after(start, 100);
    ck_assert_uint_eq(cl.got, 0);
}
END_TEST

START_TEST(traffic_moves_the_idle_deadline)
{
    serve(45000);
    /* The output deadline is the idle one too (not the layer's default). */
    ck_assert_int_eq(conn.send_timeout, 45000);
    ck_assert_uint_ge(conn.timer_kind, CONN_TIMER_PROTO);
    int64_t first = conn.deadline;
    ck_assert_int_eq(first, conn_now(&conn) + 45000);
    fx_run_for(30);
    int64_t before = conn_now(&conn);
    round_trip(5);
    /* Moved to idle_timeout after the last byte that moved. */
    ck_assert_int_ge(conn.deadline - first, 30);
    ck_assert_int_ge(conn.deadline, before + 45000);
    ck_assert_int_le(conn.deadline, conn_now(&conn) + 45000);
    ck_assert(conn.in_use);
}
END_TEST

static bool held_back(void *arg)
{
    (void)arg;
    client_send((size_t)-1);
    /* It stopped early (a read could still return data) with a full
     * output the client does not take: nothing can move any more. */
    return conn.readable && conn_out_len(&conn) >= CONN_OUT_HIGH && !conn.writable;
}

START_TEST(holds_back_a_client_that_does_not_read)
{
    serve(60000);
    ck_assert(fx_run_until(held_back, NULL, 10000));
    size_t out = conn_out_len(&conn);
    ck_assert_uint_le(out, CONN_OUT_HIGH + 16 * 1024);
    ck_assert_uint_le(conn_in_len(&conn), 16 * 1024);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_WRITING), 1);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_IDLE), 0);
    /* Nothing moves while the client does not read. */
    client_send((size_t)-1);
    fx_run_for(20);
    ck_assert_uint_eq(conn_out_len(&conn), out);
    /* It reads: every byte comes back, in order. */
    size_t all = cl.sent;
    ck_assert(fx_run_until(echoed, &all, 20000));
    ck_assert_uint_eq(cl.got, all);
    ck_assert(!cl.bad);
    ck_assert_uint_eq(stats_get(fx.stats, STAT_IDLE), 1);
}
END_TEST

START_TEST(a_client_that_never_reads_is_closed_after_idle_timeout)
{
    serve(100);
    int64_t start = conn_now(&conn);
    ck_assert(fx_run_until(held_back, NULL, 10000));
    closes_after(start, 100);
}
END_TEST

START_TEST(end_of_input_flushes_then_closes)
{
    serve(60000);
    client_send(5000);
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    closes_after(conn_now(&conn), 0);
    ck_assert_uint_eq(cl.got, 5000);
    ck_assert(!cl.bad);
}
END_TEST

START_TEST(drain_closes_an_idle_connection_after_a_grace)
{
    serve(60000);
    round_trip(10);
    int64_t start = conn_now(&conn);
    conn_drain(&conn);
    /* Not at once: a request may be on its way. */
    ck_assert(conn.in_use);
    /* It goes by itself, long before idle_timeout. */
    closes_after(start, 1);
    ck_assert_int_lt(loop_now(fx.loop) - start, 30000);
}
END_TEST

START_TEST(a_draining_connection_still_echoes)
{
    serve(60000);
    conn_drain(&conn);
    round_trip(10);
    round_trip(1 << 20);
    closes_after(conn_now(&conn), 1);
    ck_assert(!cl.bad);
}
END_TEST

START_TEST(a_connection_opened_while_draining_gets_the_grace)
{
    fx.owner.draining = true;
    serve(60000);
    ck_assert(conn.draining);
    int64_t start = conn_now(&conn);
    closes_after(start, 0);
    ck_assert_int_lt(loop_now(fx.loop) - start, 30000);
}
END_TEST

START_TEST(keeps_no_log)
{
    serve(60000);
    /* The server is its keys: nothing built, nothing to flush. */
    ck_assert_ptr_eq(srv.data, &ec);
    echo_module.proto->tick(srv.data, conn_now(&conn));
    /* A reopened access log is not kept open. */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    echo_module.proto->reopen_log(srv.data, p[1]);
    ck_assert_int_eq(fcntl(p[1], F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
    close(p[0]);
    round_trip(3);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("stream_echo");
    TCase *tc = tcase_create("echo");
    tcase_add_checked_fixture(tc, setup_client, teardown);
    tcase_add_test(tc, echoes_in_pieces);
    tcase_add_test(tc, counts_idle_and_writing);
    tcase_add_test(tc, idle_timeout_closes);
    tcase_add_test(tc, traffic_moves_the_idle_deadline);
    tcase_add_test(tc, holds_back_a_client_that_does_not_read);
    tcase_add_test(tc, a_client_that_never_reads_is_closed_after_idle_timeout);
    tcase_add_test(tc, end_of_input_flushes_then_closes);
    tcase_add_test(tc, drain_closes_an_idle_connection_after_a_grace);
    tcase_add_test(tc, a_draining_connection_still_echoes);
    tcase_add_test(tc, a_connection_opened_while_draining_gets_the_grace);
    tcase_add_test(tc, keeps_no_log);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
