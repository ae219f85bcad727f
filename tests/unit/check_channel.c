/* The master/worker channel over a real socketpair: every message kind
 * round trip, descriptors passed with SCM_RIGHTS, listener lists far
 * longer than a byte can count, and malformed input dropped (with any
 * descriptor it carried) while the channel stays usable; an idle upstream
 * connection's description (IDLE_CONN) bounded and checked both ways. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "tap.h"

static int sv[2];               /* sv[0] sends (the master), sv[1] receives */
static struct channel_msg msg;

static void setup(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

static void teardown(void)
{
    close(sv[0]);
    close(sv[1]);
}

static void expect(enum channel_kind kind)
{
    ck_assert_int_eq(channel_recv(sv[1], &msg), CHANNEL_MSG);
    ck_assert_int_eq(msg.kind, kind);
}

/* Write raw bytes (and fds) as one message, as a confused peer might. */
static void send_raw(const void *p, size_t len, const int *fds, size_t n_fds)
{
    union {
        char buf[CMSG_SPACE(4 * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = { (void *)p, len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (n_fds) {
        memset(&control, 0, sizeof control);
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, n_fds * sizeof(int));
    }
    ck_assert_int_eq(sendmsg(sv[0], &mh, 0), (ssize_t)len);
}

static void same_file(int a, int b)
{
    struct stat x, y;
    ck_assert_int_eq(fstat(a, &x), 0);
    ck_assert_int_eq(fstat(b, &y), 0);
    ck_assert(x.st_dev == y.st_dev && x.st_ino == y.st_ino);
}

START_TEST(every_kind_round_trips)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    uint32_t released[] = { 0, 7 };
    ck_assert_int_eq(channel_send_ready(sv[0]), 0);
    ck_assert_int_eq(channel_send_reopen(sv[0], p[1]), 0);
    ck_assert_int_eq(channel_send_access_log(sv[0], 300, p[1]), 0);
    ck_assert_int_eq(channel_send_drain(sv[0], released, 2), 0);
    ck_assert_int_eq(channel_send_borrow(sv[0], 70000, 5, p[0]), 0);
    ck_assert_int_eq(channel_send_give_back(sv[0], 5), 0);

    expect(CHANNEL_READY);
    ck_assert_int_eq(msg.fd, -1);
    expect(CHANNEL_REOPEN);
    same_file(msg.fd, p[1]);
    close(msg.fd);
    expect(CHANNEL_ACCESS_LOG);
    ck_assert_uint_eq(msg.server, 300);
    same_file(msg.fd, p[1]);
    close(msg.fd);
    expect(CHANNEL_RELEASED);
    ck_assert_uint_eq(msg.n_ids, 2);
    ck_assert_uint_eq(msg.ids[0], 0);
    ck_assert_uint_eq(msg.ids[1], 7);
    ck_assert_int_eq(msg.fd, -1);
    expect(CHANNEL_DRAIN);
    ck_assert_uint_eq(msg.n_ids, 0);
    expect(CHANNEL_BORROW);
    ck_assert_uint_eq(msg.listener, 70000);
    ck_assert_uint_eq(msg.slot, 5);
    same_file(msg.fd, p[0]);
    close(msg.fd);
    expect(CHANNEL_GIVE_BACK);
    ck_assert_uint_eq(msg.slot, 5);
    ck_assert_int_eq(msg.fd, -1);
    ck_assert_int_eq(channel_recv(sv[1], &msg), CHANNEL_AGAIN);
    close(p[0]);
    close(p[1]);
}
END_TEST

struct head {
    uint32_t kind, arg, slot, n_ids;
};

static struct channel_idle idle_of(const char *upstream, const char *server, int64_t since)
{
    struct channel_idle m;
    memset(&m, 0, sizeof m);
    m.since = since;
    strcpy(m.upstream, upstream);
    strcpy(m.server, server);
    return m;
}

/* An idle upstream connection: its socket and what it is, whole. */
START_TEST(idle_conn_round_trips)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    struct channel_idle m = idle_of("app", "[::1]:8080", -123456789012345LL);
    ck_assert_int_eq(channel_send_idle(sv[0], &m, p[0]), 0);
    memset(m.upstream, 'u', sizeof m.upstream - 1);        /* the longest that fit */
    memset(m.server, 's', sizeof m.server - 1);
    ck_assert_int_eq(channel_send_idle(sv[0], &m, p[1]), 0);
    expect(CHANNEL_IDLE_CONN);
    ck_assert_str_eq(msg.idle.upstream, "app");
    ck_assert_str_eq(msg.idle.server, "[::1]:8080");
    ck_assert(msg.idle.since == -123456789012345LL);
    same_file(msg.fd, p[0]);
    ck_assert_int_eq(fcntl(msg.fd, F_GETFD), FD_CLOEXEC);
    close(msg.fd);
    expect(CHANNEL_IDLE_CONN);
    ck_assert_uint_eq(strlen(msg.idle.upstream), CHANNEL_UPSTREAM_MAX - 1);
    ck_assert_uint_eq(strlen(msg.idle.server), CHANNEL_SERVER_MAX - 1);
    same_file(msg.fd, p[1]);
    close(msg.fd);
    ck_assert_int_eq(channel_recv(sv[1], &msg), CHANNEL_AGAIN);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* The sender refuses what the receiver would drop; the receiver drops it
 * anyway when it comes (its descriptor closed), and goes on. */
START_TEST(malformed_idle_conns_are_refused_and_dropped)
{
    struct channel_idle ok = idle_of("app", "127.0.0.1:80", 5);
    struct channel_idle no_name = idle_of("", "127.0.0.1:80", 5);
    struct channel_idle no_server = idle_of("app", "", 5);
    struct channel_idle open_ended = ok;
    memset(open_ended.server, 's', sizeof open_ended.server);      /* no NUL */
    ck_assert_int_eq(channel_send_idle(sv[0], &no_name, 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(channel_send_idle(sv[0], &no_server, 0), -1);
    ck_assert_int_eq(channel_send_idle(sv[0], &open_ended, 0), -1);
    ck_assert_int_eq(channel_send_idle(sv[0], &ok, -1), -1);
    ck_assert_int_eq(channel_recv(sv[1], &msg), CHANNEL_AGAIN);

    struct {
        struct head h;
        struct channel_idle m;
        char extra[4];
    } raw = { { CHANNEL_IDLE_CONN, 0, 0, 0 }, ok, "xyz" };
    const struct {
        const struct channel_idle *m;
        size_t len;
        size_t n_fds;
    } bad[] = {
        { &ok, sizeof raw.h + sizeof raw.m, 0 },            /* no descriptor */
        { &ok, sizeof raw.h + sizeof raw.m - 1, 1 },        /* short */
        { &ok, sizeof raw, 1 },                             /* long */
        { &no_name, sizeof raw.h + sizeof raw.m, 1 },
        { &open_ended, sizeof raw.h + sizeof raw.m, 1 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int p[2];
        ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
        raw.m = *bad[i].m;
        send_raw(&raw, bad[i].len, &p[1], bad[i].n_fds);
        close(p[1]);
        ck_assert_msg(channel_recv(sv[1], &msg) == CHANNEL_BAD, "message %zu accepted", i);
        char c;
        ck_assert_int_eq(read(p[0], &c, 1), 0);     /* its descriptor closed */
        close(p[0]);
    }
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(channel_send_idle(sv[0], &ok, p[0]), 0);
    expect(CHANNEL_IDLE_CONN);
    close(msg.fd);
    close(p[0]);
    close(p[1]);
}
END_TEST

START_TEST(passed_fd_is_a_working_close_on_exec_copy)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(channel_send_reopen(sv[0], p[1]), 0);
    expect(CHANNEL_REOPEN);
    ck_assert_int_ne(msg.fd, p[1]);
    ck_assert(fcntl(msg.fd, F_GETFD) & FD_CLOEXEC);
    ck_assert_int_eq(write(msg.fd, "x", 1), 1);        /* the receiver's copy */
    ck_assert_int_eq(write(p[1], "y", 1), 1);          /* the sender keeps its own */
    char got[2];
    ck_assert_int_eq(read(p[0], got, 2), 2);
    ck_assert(memcmp(got, "xy", 2) == 0);
    close(msg.fd);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* Collect RELEASED messages up to DRAIN; returns the number of messages. */
static size_t receive_drain(uint32_t *out, size_t cap, size_t *n)
{
    size_t messages = 0;
    *n = 0;
    for (;;) {
        ck_assert_int_eq(channel_recv(sv[1], &msg), CHANNEL_MSG);
        messages++;
        if (msg.kind == CHANNEL_DRAIN)
            return messages;
        ck_assert_int_eq(msg.kind, CHANNEL_RELEASED);
        ck_assert_uint_le(*n + msg.n_ids, cap);
        memcpy(out + *n, msg.ids, msg.n_ids * sizeof *out);
        *n += msg.n_ids;
    }
}

START_TEST(long_listener_lists_arrive_whole)
{
    /* Sizes around the old one-byte limit and the per-message limit. */
    static const size_t sizes[] = { 0, 1, 255, 256, 300, CHANNEL_MAX_IDS,
                                    CHANNEL_MAX_IDS + 1, 3 * CHANNEL_MAX_IDS + 5 };
    static uint32_t ids[3 * CHANNEL_MAX_IDS + 5], got[3 * CHANNEL_MAX_IDS + 5];
    /* The socket buffer must hold the longest list at once. */
    int big = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        ids[i] = (uint32_t)(i * 37 + 1000);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n;
        ck_assert_int_eq(channel_send_drain(sv[0], ids, sizes[k]), 0);
        size_t messages = receive_drain(got, sizeof got / sizeof got[0], &n);
        ck_assert_uint_eq(n, sizes[k]);
        ck_assert(memcmp(got, ids, n * sizeof *ids) == 0);
        ck_assert_uint_eq(messages, (sizes[k] + CHANNEL_MAX_IDS - 1) / CHANNEL_MAX_IDS + 1);
    }
}
END_TEST

START_TEST(malformed_messages_are_dropped)
{
    uint32_t too_long[CHANNEL_MAX_IDS + 8] = { CHANNEL_RELEASED, 0, 0, CHANNEL_MAX_IDS + 4 };
    const struct {
        const void *p;
        size_t len;
    } bad[] = {
        { "R", 1 },                                             /* the old one-byte READY */
        { (struct head[]){ { CHANNEL_READY, 0, 0, 0 } }, 15 },  /* truncated head */
        { (struct head[]){ { 0, 0, 0, 0 } }, 16 },              /* no such kind */
        { (struct head[]){ { 99, 0, 0, 0 } }, 16 },
        { (uint32_t[]){ CHANNEL_READY, 0, 0, 0, 1 }, 20 },      /* a tail it does not have */
        { (uint32_t[]){ CHANNEL_RELEASED, 0, 0, 2, 1 }, 20 },   /* fewer ids than counted */
        { (uint32_t[]){ CHANNEL_RELEASED, 0, 0, 0 }, 16 },      /* an empty list */
        { (uint32_t[]){ CHANNEL_DRAIN, 0, 0, 1, 3 }, 20 },      /* ids on a kind without */
        { (struct head[]){ { CHANNEL_REOPEN, 0, 0, 0 } }, 16 }, /* its descriptor missing */
        { too_long, sizeof too_long },                          /* over the receive buffer */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        send_raw(bad[i].p, bad[i].len, NULL, 0);
        ck_assert_msg(channel_recv(sv[1], &msg) == CHANNEL_BAD, "message %zu accepted", i);
        ck_assert_int_eq(errno, EBADMSG);
        /* ... and the channel goes on. */
        ck_assert_int_eq(channel_send_give_back(sv[0], (uint32_t)i), 0);
        expect(CHANNEL_GIVE_BACK);
        ck_assert_uint_eq(msg.slot, i);
    }
}
END_TEST

/* A descriptor on a message that takes none, or two on one that takes
 * one: the message is dropped and every descriptor closed (the pipe's
 * reader then sees end of file). */
START_TEST(descriptors_of_dropped_messages_are_closed)
{
    const struct head ready = { CHANNEL_READY, 0, 0, 0 }, reopen = { CHANNEL_REOPEN, 0, 0, 0 };
    const struct head *heads[] = { &ready, &reopen };
    const size_t n_fds[] = { 1, 2 };
    for (size_t i = 0; i < 2; i++) {
        int p[2];
        ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
        int fds[2] = { p[1], p[1] };
        send_raw(heads[i], sizeof *heads[i], fds, n_fds[i]);
        close(p[1]);
        char c;
        ck_assert_int_eq(read(p[0], &c, 1), -1);       /* still open in flight */
        ck_assert_int_eq(errno, EAGAIN);
        ck_assert_int_eq(channel_recv(sv[1], &msg), CHANNEL_BAD);
        ck_assert_int_eq(read(p[0], &c, 1), 0);
        close(p[0]);
    }
}
END_TEST

START_TEST(again_then_closed)
{
    ck_assert_int_eq(channel_recv(sv[1], &msg), CHANNEL_AGAIN);
    ck_assert_int_eq(channel_send_ready(sv[0]), 0);
    close(sv[0]);
    expect(CHANNEL_READY);      /* what was sent before the close still arrives */
    ck_assert_int_eq(channel_recv(sv[1], &msg), CHANNEL_CLOSED);
    sv[0] = open("/dev/null", O_RDONLY);   /* for teardown */
}
END_TEST

START_TEST(a_full_channel_says_so)
{
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    int rc, i;
    for (i = 0; i < 1000000 && (rc = channel_send_give_back(sv[0], 1)) == 0; i++)
        ;
    ck_assert_int_eq(rc, -1);
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
    ck_assert_int_gt(i, 0);
    /* A drain that does not fit fails too, rather than stopping half-way
     * in silence. */
    uint32_t id = 1;
    ck_assert_int_eq(channel_send_drain(sv[0], &id, 1), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = tcase_create("socketpair");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_kind_round_trips);
    tcase_add_test(tc, idle_conn_round_trips);
    tcase_add_test(tc, malformed_idle_conns_are_refused_and_dropped);
    tcase_add_test(tc, passed_fd_is_a_working_close_on_exec_copy);
    tcase_add_test(tc, long_listener_lists_arrive_whole);
    tcase_add_test(tc, malformed_messages_are_dropped);
    tcase_add_test(tc, descriptors_of_dropped_messages_are_closed);
    tcase_add_test(tc, again_then_closed);
    tcase_add_test(tc, a_full_channel_says_so);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
