/* The plain transport (src/transport_plain.c): each operation on real
 * sockets and files, as the connection layer calls it, with the system
 * call's own results: bytes, EAGAIN, EOF, EPIPE (and no SIGPIPE), partial
 * writes and sends, MSG_MORE, sendfile's offset; and a close that is the
 * socket's alone. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "conn_fixture.h"
#include "transport.h"
#include "tap.h"

static const struct conn_transport *tp = &transport_plain;
static struct conn c;           /* only its socket: the transport needs no more */
static int sv[2];               /* [0] the connection's end, [1] the peer's */

static void setup(void)
{
    signal(SIGPIPE, SIG_DFL);   /* a missing MSG_NOSIGNAL kills the test */
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    c.io.fd = sv[0];
}

static void teardown(void)
{
    close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
}

/* Wait until fd is ready for `events` (a limit, not a pause). */
static void wait_for(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    ck_assert_int_eq(poll(&p, 1, 10000), 1);
}

/* Everything the peer's end holds now, appended at out + *len. */
static void drain_peer(char *out, size_t *len, size_t cap)
{
    for (;;) {
        ssize_t n = read(sv[1], out + *len, cap - *len);
        if (n <= 0) {
            ck_assert(n < 0 && errno == EAGAIN);
            return;
        }
        *len += (size_t)n;
    }
}

START_TEST(is_plain_with_nothing_to_keep)
{
    ck_assert_str_eq(tp->name, "plain");
    /* No handshake and no state: the connection layer's close of the
     * socket is the whole close. */
    ck_assert_ptr_null(tp->handshake);
    ck_assert_ptr_null(tp->close);
    ck_assert_ptr_nonnull(tp->read);
    ck_assert_ptr_nonnull(tp->writev);
    ck_assert_ptr_nonnull(tp->sendfile);
    ck_assert_ptr_nonnull(tp->shutdown);
}
END_TEST

/* ------------------------------------------------------------------ */
/* read */

START_TEST(reads_what_arrived_then_eagain_then_eof)
{
    char b[8];
    ck_assert_int_eq(write(sv[1], "abc", 3), 3);
    ck_assert_int_eq(tp->read(&c, b, 2), 2);
    ck_assert(memcmp(b, "ab", 2) == 0);
    ck_assert_int_eq(tp->read(&c, b, sizeof b), 1);
    ck_assert_int_eq(b[0], 'c');
    errno = 0;
    ck_assert_int_eq(tp->read(&c, b, sizeof b), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(write(sv[1], "d", 1), 1);
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    /* What came before the end, then the end. */
    ck_assert_int_eq(tp->read(&c, b, sizeof b), 1);
    ck_assert_int_eq(b[0], 'd');
    ck_assert_int_eq(tp->read(&c, b, sizeof b), 0);
    ck_assert_int_eq(tp->read(&c, b, sizeof b), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* writev */

START_TEST(writev_sends_one_piece_or_gathers)
{
    struct iovec one = { "hello ", 6 };
    struct iovec three[3] = { { "one ", 4 }, { "two ", 4 }, { "three", 5 } };
    ck_assert_int_eq(tp->writev(&c, &one, 1, false), 6);
    ck_assert_int_eq(tp->writev(&c, three, 3, false), 13);
    char got[64];
    size_t len = 0;
    drain_peer(got, &len, sizeof got);
    ck_assert_uint_eq(len, 19);
    ck_assert(memcmp(got, "hello one two three", 19) == 0);
}
END_TEST

/* _i: 1 piece (send) or 2 (sendmsg). */
START_TEST(writev_partial_then_eagain)
{
    size_t half = 1 << 20;
    char *big = malloc(2 * half);
    for (size_t i = 0; i < 2 * half; i++)
        big[i] = (char)(i % 251);
    struct iovec iov[2] = { { big, _i == 0 ? 2 * half : half }, { big + half, half } };
    int n = _i == 0 ? 1 : 2;
    /* More than the socket holds: part of it, and the count says how much. */
    ssize_t w = tp->writev(&c, iov, n, false);
    ck_assert_int_gt(w, 0);
    ck_assert_int_lt(w, (ssize_t)(2 * half));
    errno = 0;
    ck_assert_int_eq(tp->writev(&c, iov, n, false), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* Exactly those bytes, in order. */
    char *got = malloc(2 * half);
    size_t len = 0;
    drain_peer(got, &len, 2 * half);
    ck_assert_uint_eq(len, (size_t)w);
    ck_assert(memcmp(got, big, len) == 0);
    free(got);
    free(big);
}
END_TEST

/* _i: 1 piece (send) or 2 (sendmsg). */
START_TEST(writev_to_a_gone_peer_is_epipe_not_a_signal)
{
    close(sv[1]);
    sv[1] = -1;
    struct iovec iov[2] = { { "a", 1 }, { "b", 1 } };
    errno = 0;
    ck_assert_int_eq(tp->writev(&c, iov, _i + 1, false), -1);
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_int_eq(tp->writev(&c, iov, _i + 1, true), -1);
    ck_assert_int_eq(errno, EPIPE);
}
END_TEST

/* A connected pair of UDP sockets on loopback: [0] sends, [1] receives. */
static void udp_pair(int u[2])
{
    struct sockaddr_in a[2];
    for (int i = 0; i < 2; i++) {
        u[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(u[i], 0);
        a[i] = (struct sockaddr_in){ .sin_family = AF_INET,
                                     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        ck_assert_int_eq(bind(u[i], (struct sockaddr *)&a[i], sizeof a[i]), 0);
        socklen_t len = sizeof a[i];
        ck_assert_int_eq(getsockname(u[i], (struct sockaddr *)&a[i], &len), 0);
    }
    ck_assert_int_eq(connect(u[0], (struct sockaddr *)&a[1], sizeof a[1]), 0);
    ck_assert_int_eq(connect(u[1], (struct sockaddr *)&a[0], sizeof a[0]), 0);
}

START_TEST(more_holds_the_piece_for_what_follows)
{
    /* MSG_MORE on TCP holds a partial packet for up to 200 ms, a timing
     * no test should rely on; on UDP it builds one datagram that leaves
     * with the first send without it, never earlier. The flag is the same. */
    int u[2];
    udp_pair(u);
    c.io.fd = u[0];
    struct iovec head = { "HEAD ", 5 };
    struct iovec pieces[2] = { { "a", 1 }, { "b", 1 } };
    struct iovec body = { " body", 5 };
    ck_assert_int_eq(tp->writev(&c, &head, 1, true), 5);
    ck_assert_int_eq(tp->writev(&c, pieces, 2, true), 2);
    char got[64];
    errno = 0;
    ck_assert_int_eq(recv(u[1], got, sizeof got, 0), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* The piece that does not say "more" sends them all, as one. */
    ck_assert_int_eq(tp->writev(&c, &body, 1, false), 5);
    wait_for(u[1], POLLIN);
    ck_assert_int_eq(recv(u[1], got, sizeof got, 0), 12);
    ck_assert(memcmp(got, "HEAD ab body", 12) == 0);
    /* Without "more", each goes at once and alone (also when gathered). */
    ck_assert_int_eq(tp->writev(&c, pieces, 2, false), 2);
    wait_for(u[1], POLLIN);
    ck_assert_int_eq(recv(u[1], got, sizeof got, 0), 2);
    ck_assert(memcmp(got, "ab", 2) == 0);
    close(u[0]);
    close(u[1]);
}
END_TEST

/* ------------------------------------------------------------------ */
/* sendfile */

static char *file_data;

/* An unlinked file of `size` known bytes. */
static int data_file(size_t size)
{
    char path[] = "/tmp/herd-check-transport-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    file_data = malloc(size);
    for (size_t i = 0; i < size; i++)
        file_data[i] = (char)(i * 7 + i / 251);
    ck_assert_int_eq(write(fd, file_data, size), (ssize_t)size);
    return fd;
}

START_TEST(sendfile_from_an_offset)
{
    int fd = data_file(100000);
    off_t off = 1000;
    ck_assert_int_eq(tp->sendfile(&c, fd, &off, 5000), 5000);
    ck_assert_int_eq(off, 6000);
    /* The file's own position is not ours to move. */
    ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 100000);
    char got[8192];
    size_t len = 0;
    drain_peer(got, &len, sizeof got);
    ck_assert_uint_eq(len, 5000);
    ck_assert(memcmp(got, file_data + 1000, 5000) == 0);
    /* Asking past the end sends what is left; at the end, nothing. */
    off = 99000;
    ck_assert_int_eq(tp->sendfile(&c, fd, &off, 5000), 1000);
    ck_assert_int_eq(off, 100000);
    ck_assert_int_eq(tp->sendfile(&c, fd, &off, 5000), 0);
    ck_assert_int_eq(off, 100000);
    close(fd);
    free(file_data);
}
END_TEST

START_TEST(sendfile_partial_then_eagain_then_the_rest)
{
    size_t size = 4 << 20;      /* far more than the socket holds */
    int fd = data_file(size);
    off_t off = 7;
    ssize_t n = tp->sendfile(&c, fd, &off, size - 7);
    ck_assert_int_gt(n, 0);
    ck_assert_int_lt(n, (ssize_t)(size - 7));
    ck_assert_int_eq(off, 7 + n);
    errno = 0;
    ck_assert_int_eq(tp->sendfile(&c, fd, &off, size - (size_t)off), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_int_eq(off, 7 + n);
    /* The peer reads; each round goes on where the last stopped. */
    char *got = malloc(size);
    size_t len = 0;
    while ((size_t)off < size) {
        drain_peer(got, &len, size);
        wait_for(sv[0], POLLOUT);
        n = tp->sendfile(&c, fd, &off, size - (size_t)off);
        ck_assert(n > 0 || (n < 0 && errno == EAGAIN));
    }
    while (len < size - 7) {
        wait_for(sv[1], POLLIN);
        drain_peer(got, &len, size);
    }
    ck_assert_uint_eq(len, size - 7);
    ck_assert(memcmp(got, file_data + 7, len) == 0);
    free(got);
    close(fd);
    free(file_data);
}
END_TEST

/* ------------------------------------------------------------------ */
/* shutdown and close */

START_TEST(shutdown_ends_output_keeps_input)
{
    struct iovec last = { "last", 4 };
    ck_assert_int_eq(tp->writev(&c, &last, 1, false), 4);
    ck_assert_int_eq(tp->shutdown(&c), 0);
    /* The peer gets what was sent, then the end. */
    char got[16];
    ck_assert_int_eq(read(sv[1], got, sizeof got), 4);
    ck_assert_int_eq(read(sv[1], got, sizeof got), 0);
    /* We still read what it sends. */
    ck_assert_int_eq(write(sv[1], "more", 4), 4);
    ck_assert_int_eq(tp->read(&c, got, sizeof got), 4);
    ck_assert(memcmp(got, "more", 4) == 0);
    /* And can send no more. */
    errno = 0;
    ck_assert_int_eq(tp->writev(&c, &last, 1, false), -1);
    ck_assert_int_eq(errno, EPIPE);
}
END_TEST

static void peer_gone(void)
{
    char got[16];
    wait_for(sv[1], POLLIN);
    ck_assert_int_eq(read(sv[1], got, sizeof got), 0);
}

START_TEST(a_connection_on_plain_opens_at_once_and_closes_its_socket)
{
    fx_setup();
    fx_probe.mode = FX_KEEP;
    fx_start(&c, sv[0], &fx_probe_ops);
    /* No handshake to wait for. */
    ck_assert_str_eq(fx_probe.log, "o");
    ck_assert(!c.handshaking);
    ck_assert_ptr_null(c.tp_state);
    conn_close_now(&c);
    conn_run(&c);
    ck_assert_str_eq(fx_probe.log, "oc");
    peer_gone();
    ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
    sv[0] = -1;
    fx_teardown();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("transport_plain");
    TCase *tc = tcase_create("plain");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, is_plain_with_nothing_to_keep);
    tcase_add_test(tc, reads_what_arrived_then_eagain_then_eof);
    tcase_add_test(tc, writev_sends_one_piece_or_gathers);
    tcase_add_loop_test(tc, writev_partial_then_eagain, 0, 2);
    tcase_add_loop_test(tc, writev_to_a_gone_peer_is_epipe_not_a_signal, 0, 2);
    tcase_add_test(tc, more_holds_the_piece_for_what_follows);
    tcase_add_test(tc, sendfile_from_an_offset);
    tcase_add_test(tc, sendfile_partial_then_eagain_then_the_rest);
    tcase_add_test(tc, shutdown_ends_output_keeps_input);
    tcase_add_test(tc, a_connection_on_plain_opens_at_once_and_closes_its_socket);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
