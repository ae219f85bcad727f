/* Listening sockets (src/listen.c): addresses, the reference-counted
 * listeners with real sockets on 127.0.0.1, the probe that refuses an
 * address another SO_REUSEPORT socket holds, sockets inherited from a
 * previous master, and steering of new connections around down slots.
 *
 * Ports come from the kernel (bind to port 0, then reuse the number); a
 * port taken meanwhile by someone else is retried with another. Each
 * connection is attributed to the socket that accepts it by polling all
 * the group's sockets, with a generous bound, so the kernel's scheduling
 * of the handshake cannot make a case flaky. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listen.h"
#include "tap.h"

#define BACKLOG 64

static char err[512];

/* ------------------------------------------------------------------ */
/* Helpers */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static struct listen_addr loopback(int port)
{
    char text[32];
    const char *why = NULL;
    struct listen_addr a;
    snprintf(text, sizeof text, "127.0.0.1:%d", port);
    ck_assert_msg(listen_addr_parse(text, &a, &why) == 0, "%s: %s", text, why);
    return a;
}

/* A new listener on a free loopback port. */
static struct listener *acquire_fresh(struct listen_set *set, bool reuseport, size_t slots)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        struct listen_addr a = loopback(free_port());
        struct listener *l = listen_acquire(set, &a, reuseport, false, BACKLOG, slots, err,
                                            sizeof err);
        if (l != NULL)
            return l;
        ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
    }
    ck_abort_msg("no free port in 20 attempts");
    return NULL;
}

static int connect_to(const struct listen_addr *a)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_msg(connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0, "connect %s: %s",
                  a->text, strerror(errno));
    return fd;
}

static bool refused(const struct listen_addr *a)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = connect(fd, (const struct sockaddr *)&a->ss, a->len);
    int e = errno;
    close(fd);
    return rc < 0 && e == ECONNREFUSED;
}

/* Which of fds[0..n) accepts the next connection (-1: none in 10 s). */
static int accepting_slot(const int *fds, size_t n)
{
    struct pollfd p[16];
    ck_assert_uint_le(n, 16);
    for (size_t i = 0; i < n; i++)
        p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
    if (poll(p, (nfds_t)n, 10000) <= 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(p[i].revents & POLLIN))
            continue;
        int c = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(c, 0);
        close(c);
        return (int)i;
    }
    return -1;
}

/* Connect `count` times; per[i] counts the connections socket i took. */
static void spread(const struct listener *l, int count, int *per)
{
    memset(per, 0, l->n_fds * sizeof *per);
    for (int k = 0; k < count; k++) {
        int c = connect_to(&l->addr);
        int slot = accepting_slot(l->fds, l->n_fds);
        ck_assert_msg(slot >= 0, "connection %d accepted by no socket", k);
        per[slot]++;
        close(c);
    }
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static int sockopt(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    ck_assert_int_eq(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

/* A listening socket's backlog, as the kernel reports it in TCP_INFO. */
static unsigned backlog_of(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    return ti.tcpi_sacked;
}

/* A socket listening on a like herd's sockets would, but not herd's; -1
 * when somebody else holds the address. */
static int foreign_listener(const struct listen_addr *a, bool reuseport)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    if (reuseport)
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0) {
        ck_assert_int_eq(errno, EADDRINUSE);
        close(fd);
        return -1;
    }
    ck_assert_int_eq(listen(fd, BACKLOG), 0);
    return fd;
}

/* The same on a free loopback port, which goes to *a. */
static int foreign_listener_fresh(struct listen_addr *a, bool reuseport)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        *a = loopback(free_port());
        int fd = foreign_listener(a, reuseport);
        if (fd >= 0)
            return fd;
    }
    ck_abort_msg("no free port in 20 attempts");
    return -1;
}

/* ------------------------------------------------------------------ */
/* Addresses */

struct addr_row {
    const char *in;
    const char *text;           /* canonical form, or NULL when refused */
    const char *why;            /* part of the reason when refused */
    int family;
};

static const struct addr_row addr_rows[] = {
    { "127.0.0.1:8080", "127.0.0.1:8080", NULL, AF_INET },
    { "0.0.0.0:80", "0.0.0.0:80", NULL, AF_INET },
    { "*:80", "0.0.0.0:80", NULL, AF_INET },
    { "80", "0.0.0.0:80", NULL, AF_INET },
    { ":80", "0.0.0.0:80", NULL, AF_INET },
    { "10.1.2.3:0080", "10.1.2.3:80", NULL, AF_INET },
    { "1.2.3.4:65535", "1.2.3.4:65535", NULL, AF_INET },
    { "[::1]:8080", "[::1]:8080", NULL, AF_INET6 },
    { "[::]:443", "[::]:443", NULL, AF_INET6 },
    { "[2001:DB8::0:1]:1", "[2001:db8::1]:1", NULL, AF_INET6 },
    { "[::ffff:1.2.3.4]:9", "[::ffff:1.2.3.4]:9", NULL, AF_INET6 },
    { "unix:run/herd.sock", NULL, "a unix socket path must be absolute", 0 },
    { "unix:", NULL, "a unix socket path must be absolute", 0 },
    { "[::1]", NULL, "expected [IPv6]:port", 0 },
    { "[::1]8080", NULL, "expected [IPv6]:port", 0 },
    { "[::1:80", NULL, "expected [IPv6]:port", 0 },
    { "::1:80", NULL, "write IPv6 addresses as [address]:port", 0 },
    { "1.2.3.4:0", NULL, "port must be a number from 1 to 65535", 0 },
    { "1.2.3.4:65536", NULL, "port must be a number from 1 to 65535", 0 },
    { "1.2.3.4:", NULL, "port must be a number from 1 to 65535", 0 },
    { "1.2.3.4:+80", NULL, "port must be a number from 1 to 65535", 0 },
    { "1.2.3.4:8o", NULL, "port must be a number from 1 to 65535", 0 },
    { "1.2.3.4: 80", NULL, "port must be a number from 1 to 65535", 0 },
    { "", NULL, "port must be a number from 1 to 65535", 0 },
    { "99999999999999999999", NULL, "port must be a number from 1 to 65535", 0 },
    { "localhost:80", NULL, "not a numeric IPv4 or [IPv6] address", 0 },
    { "1.2.3:80", NULL, "not a numeric IPv4 or [IPv6] address", 0 },
    { "[1.2.3.4]:80", NULL, "not a numeric IPv4 or [IPv6] address", 0 },
    { "[fe80::1%lo]:80", NULL, "not a numeric IPv4 or [IPv6] address", 0 },
    { "[]:80", NULL, "not a numeric IPv4 or [IPv6] address", 0 },
    { "[*]:80", NULL, "not a numeric IPv4 or [IPv6] address", 0 },
};

START_TEST(addr_row)
{
    const struct addr_row *r = &addr_rows[_i];
    struct listen_addr a;
    const char *why = NULL;
    int rc = listen_addr_parse(r->in, &a, &why);
    if (r->text == NULL) {
        ck_assert_msg(rc == -1, "\"%s\" accepted as %s", r->in, a.text);
        ck_assert_msg(why != NULL && strstr(why, r->why) != NULL, "\"%s\": why \"%s\"", r->in,
                      why ? why : "(none)");
        return;
    }
    ck_assert_msg(rc == 0, "\"%s\": %s", r->in, why);
    ck_assert_str_eq(a.text, r->text);
    ck_assert_int_eq(a.ss.ss_family, r->family);
    ck_assert_uint_eq(a.len, r->family == AF_INET ? sizeof(struct sockaddr_in)
                                                  : sizeof(struct sockaddr_in6));
    /* The canonical text is itself an address that reads back the same. */
    struct listen_addr again;
    ck_assert_int_eq(listen_addr_parse(a.text, &again, &why), 0);
    ck_assert_int_eq(memcmp(&again.ss, &a.ss, a.len), 0);
}
END_TEST

START_TEST(unix_addr)
{
    struct listen_addr a;
    const char *why = NULL;
    ck_assert_int_eq(listen_addr_parse("unix:/run/herd/site.sock", &a, &why), 0);
    ck_assert_str_eq(a.text, "unix:/run/herd/site.sock");
    ck_assert_int_eq(a.ss.ss_family, AF_UNIX);
    ck_assert_str_eq(listen_addr_path(&a), "/run/herd/site.sock");
    ck_assert_uint_eq(a.len, offsetof(struct sockaddr_un, sun_path) + 20);
    char longer[200] = "unix:/";
    memset(longer + 6, 'x', 107);
    ck_assert_int_eq(listen_addr_parse(longer, &a, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "too long"));
    longer[5 + 107] = '\0';        /* 107 bytes of path: the most there is room for */
    ck_assert_int_eq(listen_addr_parse(longer, &a, &why), 0);
    ck_assert_int_eq(listen_addr_parse("127.0.0.1:80", &a, &why), 0);
    ck_assert_ptr_null(listen_addr_path(&a));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Unix sockets: one shared socket, mode set, a stale file replaced, a
 * live one or a regular file refused, the file removed with the last
 * reference unless keep_paths. */

static void unix_at(char *dir, struct listen_addr *a, const char *name)
{
    char text[256];
    const char *why;
    snprintf(text, sizeof text, "unix:%s/%s", dir, name);
    ck_assert_int_eq(listen_addr_parse(text, a, &why), 0);
}

START_TEST(unix_listener_lifecycle)
{
    char dir[] = "/tmp/check_listen.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct listen_set set = { 0 };
    struct listen_addr a;
    struct stat st;
    unix_at(dir, &a, "s.sock");
    const char *path = listen_addr_path(&a);
    ck_assert_ptr_null(listen_path_problem(path));

    /* reuseport and defer_accept do not apply: one socket for 4 slots. */
    struct listener *l = listen_acquire(&set, &a, true, true, BACKLOG, 4, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_uint_eq(l->n_fds, 1);
    ck_assert(!l->reuseport);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0600);       /* until the mode is applied */
    ck_assert_int_eq(listen_unix_access(l, 0640, (uid_t)-1, (gid_t)-1, err, sizeof err), 0);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    close(connect_to(&a));

    /* Live: a second set (another server) is refused, the file kept. */
    struct listen_set other = { 0 };
    ck_assert_ptr_null(listen_acquire(&other, &a, false, false, BACKLOG, 1, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "another process listens there"));
    ck_assert_int_eq(lstat(path, &st), 0);

    /* keep_paths: closed, but the file stays (stale now)... */
    set.keep_paths = true;
    listen_release(&set, l);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(refused(&a));
    /* ...and is replaced by the next server; the last release removes it. */
    l = listen_acquire(&other, &a, false, false, BACKLOG, 1, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    close(connect_to(&a));
    listen_release(&other, l);
    ck_assert_int_eq(lstat(path, &st), -1);

    /* A regular file is never replaced. */
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_ptr_nonnull(listen_path_problem(path));
    ck_assert_ptr_null(listen_acquire(&other, &a, false, false, BACKLOG, 1, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "is not a socket"));
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Acquire, release, trim */

/* Without reuseport: one socket for any number of slots, shared by
 * reference until the last user lets go. */
START_TEST(shared_socket_by_reference)
{
    struct listen_set set = { 0 };
    struct listener *l = acquire_fresh(&set, false, 4);
    ck_assert_uint_eq(l->n_fds, 1);
    ck_assert_int_eq(l->refs, 1);
    ck_assert_ptr_eq(set.head, l);
    int fd = l->fds[0];
    ck_assert_int_eq(listen_fd_for_slot(l, 3), fd);
    ck_assert_int_eq(sockopt(fd, SOL_SOCKET, SO_REUSEPORT), 0);
    ck_assert_int_eq(sockopt(fd, SOL_SOCKET, SO_REUSEADDR), 1);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ck_assert(!listen_slot_released(l, 3));

    struct listen_addr a = l->addr;
    struct listener *again = listen_acquire(&set, &a, false, false, BACKLOG, 2, err, sizeof err);
    ck_assert_ptr_eq(again, l);
    ck_assert_int_eq(l->refs, 2);
    ck_assert_uint_eq(l->n_fds, 1);
    listen_release(&set, l);
    ck_assert(is_open(fd));
    close(connect_to(&a));
    ck_assert_int_eq(accepting_slot(&fd, 1), 0);
    listen_release(&set, l);
    ck_assert_ptr_null(set.head);
    ck_assert(!is_open(fd));
    ck_assert(refused(&a));
}
END_TEST

/* A reuseport group: a socket per slot on one port, grown in place
 * (existing sockets keep their place) and trimmed from the top. */
START_TEST(reuseport_group_grows_and_trims)
{
    struct listen_set set = { 0 };
    struct listener *l = acquire_fresh(&set, true, 3);
    ck_assert_uint_eq(l->n_fds, 3);
    int first[3];
    for (size_t i = 0; i < 3; i++) {
        first[i] = l->fds[i];
        ck_assert_int_eq(listen_fd_for_slot(l, i), first[i]);
        ck_assert_int_eq(sockopt(first[i], SOL_SOCKET, SO_REUSEPORT), 1);
        for (size_t k = 0; k < i; k++)
            ck_assert_int_ne(first[k], first[i]);
    }
    struct listen_addr a = l->addr;
    ck_assert_ptr_eq(listen_acquire(&set, &a, true, false, BACKLOG, 5, err, sizeof err), l);
    ck_assert_uint_eq(l->n_fds, 5);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(l->fds[i], first[i]);
    int top[2] = { l->fds[3], l->fds[4] };
    listen_trim(l, 2);
    ck_assert_uint_eq(l->n_fds, 2);
    ck_assert(!is_open(top[0]) && !is_open(top[1]) && !is_open(first[2]));
    ck_assert(is_open(first[0]) && is_open(first[1]));
    int per[2];
    spread(l, 4, per);
    ck_assert_int_eq(per[0] + per[1], 4);
    listen_release(&set, l);
    ck_assert_int_eq(l->refs, 1);
    listen_trim(l, 0);
    ck_assert_uint_eq(l->n_fds, 0);
    ck_assert(listen_slot_released(l, 0));
    ck_assert(refused(&a));
    listen_release(&set, l);
    ck_assert_ptr_null(set.head);
}
END_TEST

/* The backlog given is the kernel's, and a user asking for another one
 * changes it on every socket of the group. */
START_TEST(backlog_and_defer_accept)
{
    struct listen_set set = { 0 };
    struct listener *l = acquire_fresh(&set, true, 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_uint_eq(backlog_of(l->fds[i]), BACKLOG);
        ck_assert_int_eq(sockopt(l->fds[i], IPPROTO_TCP, TCP_DEFER_ACCEPT), 0);
    }
    struct listen_addr a = l->addr;
    ck_assert_ptr_eq(listen_acquire(&set, &a, true, false, 9, 2, err, sizeof err), l);
    for (size_t i = 0; i < 2; i++)
        ck_assert_uint_eq(backlog_of(l->fds[i]), 9);
    listen_close_all(&set);
    ck_assert_ptr_null(set.head);

    struct listener *d = NULL;
    for (int attempt = 0; d == NULL && attempt < 20; attempt++) {
        a = loopback(free_port());
        d = listen_acquire(&set, &a, false, true, BACKLOG, 1, err, sizeof err);
    }
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_int_gt(sockopt(d->fds[0], IPPROTO_TCP, TCP_DEFER_ACCEPT), 0);
    listen_release(&set, d);
}
END_TEST

/* Another program's SO_REUSEPORT socket on the address: joining its group
 * would silently share the traffic, so the probe refuses, leaving nothing
 * open. A plain socket there is refused by bind itself. */
START_TEST(probe_refuses_a_taken_address)
{
    struct listen_set set = { 0 };
    for (int reuse = 1; reuse >= 0; reuse--) {
        struct listen_addr a;
        int other = foreign_listener_fresh(&a, reuse);
        int before = open_fd_count();
        struct listener *l = listen_acquire(&set, &a, true, false, BACKLOG, 2, err, sizeof err);
        ck_assert_ptr_null(l);
        ck_assert_ptr_null(set.head);
        ck_assert_int_eq(open_fd_count(), before);
        char want[160];
        snprintf(want, sizeof want, "bind %s: %s (another process listens there)", a.text,
                 strerror(EADDRINUSE));
        ck_assert_msg(strcmp(err, want) == 0, "\"%s\"", err);
        /* The other program still has all the traffic. */
        close(connect_to(&a));
        ck_assert_int_eq(accepting_slot(&other, 1), 0);
        close(other);
    }
}
END_TEST

/* Asking for the same address with reuseport on after a shared listener
 * took it: a new listener, which the kernel refuses. */
START_TEST(reuseport_mismatch_refused)
{
    struct listen_set set = { 0 };
    struct listener *l = acquire_fresh(&set, false, 1);
    struct listen_addr a = l->addr;
    ck_assert_ptr_null(listen_acquire(&set, &a, true, false, BACKLOG, 2, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "another process listens there"));
    ck_assert_ptr_eq(set.head, l);
    ck_assert_ptr_null(l->next);
    ck_assert_int_eq(l->refs, 1);
    listen_release(&set, l);
}
END_TEST

/* Growing a group fails half-way (out of descriptors): the sockets this
 * call opened are closed again, steered group or not. */
static void grow_fails_halfway(bool steered)
{
    struct listen_set set = { 0 };
    struct listener *l = acquire_fresh(&set, true, 2);
    if (steered)
        ck_assert_int_eq(listen_steer(l, 2, NULL), 0);
    ck_assert(l->steered == steered);
    struct rlimit old, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    int next = dup(0);                  /* the lowest free descriptor */
    close(next);
    low = old;
    low.rlim_cur = (rlim_t)next + 1;    /* room for exactly one more */
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct listen_addr a = l->addr;
    struct listener *got = listen_acquire(&set, &a, true, false, BACKLOG, 4, err, sizeof err);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_ptr_null(got);
    ck_assert_msg(strstr(err, strerror(EMFILE)) != NULL, "%s", err);
    ck_assert_uint_eq(l->n_fds, 2);
    ck_assert(!is_open(next));
    ck_assert_int_eq(l->refs, 1);
    listen_release(&set, l);
}

START_TEST(grow_failure_closes_what_it_opened)
{
    grow_fails_halfway(false);
}
END_TEST

START_TEST(grow_failure_closes_what_it_opened_steered)
{
    grow_fails_halfway(true);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Inherited sockets (binary upgrade, socket activation) */

/* The previous master's sockets for an address are adopted in their
 * order, parked ones too (the group's order is what steering counts on);
 * the probe is skipped since they hold the address; the rest are closed by
 * listen_drop_unadopted. */
START_TEST(inherited_sockets_adopted)
{
    struct listen_set set = { 0 };
    struct listen_addr a, b;
    int old[3];
    old[0] = foreign_listener_fresh(&a, true);
    for (int i = 1; i < 3; i++)
        ck_assert_int_ge(old[i] = foreign_listener(&a, true), 0);     /* the same group */
    int unrelated = foreign_listener_fresh(&b, true);
    while (strcmp(a.text, b.text) == 0) {      /* it joined a's group */
        close(unrelated);
        unrelated = foreign_listener_fresh(&b, true);
    }
    set.inherited = malloc(4 * sizeof *set.inherited);
    set.inherited[0] = old[0];
    set.inherited[1] = unrelated;
    set.inherited[2] = old[1];
    set.inherited[3] = old[2];
    set.n_inherited = 4;

    struct listener *l = listen_acquire(&set, &a, true, false, 17, 1, err, sizeof err);
    ck_assert_msg(l != NULL, "%s", err);
    ck_assert_uint_eq(l->n_fds, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(l->fds[i], old[i]);
    ck_assert_uint_eq(backlog_of(old[0]), 17);      /* refreshed */
    listen_drop_unadopted(&set);
    ck_assert(!is_open(unrelated));
    ck_assert_uint_eq(set.n_inherited, 0);
    ck_assert(is_open(old[2]));
    listen_close_all(&set);
    for (int i = 0; i < 3; i++)
        ck_assert(!is_open(old[i]));
    ck_assert(refused(&a));
}
END_TEST

/* LISTEN_FDS: stream sockets from fd 3 on are taken (made non-blocking and
 * close-on-exec), anything else skipped, the variables removed; not when
 * LISTEN_PID names another process. Run in a child of its own, which may
 * put what it likes on descriptors 3 to 5; the exit status says which
 * check failed. */
static int inherit_child(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int p[2];
    if (s < 0 || pipe(p) < 0)
        return 10;
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    if (dup2(s, 3) != 3 || dup2(p[0], 4) != 4 || dup2(u, 5) != 5)
        return 11;
    char pid[32];
    snprintf(pid, sizeof pid, "%ld", (long)getpid() + 1);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "3", 1);
    struct listen_set set = { 0 };
    if (listen_inherit_from_env(&set) != 0 || getenv("LISTEN_FDS") == NULL)
        return 12;
    snprintf(pid, sizeof pid, "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDNAMES", "a:b:c", 1);
    if (listen_inherit_from_env(&set) != 1 || set.inherited[0] != 3)
        return 13;
    if (!(fcntl(3, F_GETFL) & O_NONBLOCK) || !(fcntl(3, F_GETFD) & FD_CLOEXEC))
        return 14;
    if (getenv("LISTEN_PID") || getenv("LISTEN_FDS") || getenv("LISTEN_FDNAMES"))
        return 15;
    listen_drop_unadopted(&set);
    if (fcntl(3, F_GETFD) != -1 || fcntl(4, F_GETFD) == -1)
        return 16;
    if (listen_inherit_from_env(&set) != 0)     /* nothing passed any more */
        return 17;
    return 0;
}

START_TEST(inherit_from_env)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(inherit_child());
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_msg(WEXITSTATUS(status) == 0, "child failed check %d", WEXITSTATUS(status));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Steering */

/* Which sockets take new connections follows the program exactly: never a
 * down slot, never a parked one; with every slot down, all take part. */
START_TEST(steering_around_down_slots)
{
    struct listen_set set = { 0 };
    struct listener *l = acquire_fresh(&set, true, 3);
    int per[3];

    const bool only_last[3] = { true, true, false };
    ck_assert_int_eq(listen_steer(l, 3, only_last), 0);
    ck_assert(l->steered);
    spread(l, 24, per);
    ck_assert_int_eq(per[2], 24);

    const bool middle_down[3] = { false, true, false };
    ck_assert_int_eq(listen_steer(l, 3, middle_down), 0);
    spread(l, 40, per);
    ck_assert_int_eq(per[1], 0);
    ck_assert_int_eq(per[0] + per[2], 40);
    ck_assert_int_eq(l->active, 3);

    /* Two slots serve; the third socket is parked, not closed. */
    ck_assert_int_eq(listen_steer(l, 2, NULL), 0);
    ck_assert(listen_slot_released(l, 2));
    ck_assert(!listen_slot_released(l, 0) && !listen_slot_released(l, 1));
    listen_trim(l, 2);
    ck_assert_uint_eq(l->n_fds, 3);
    spread(l, 40, per);
    ck_assert_int_eq(per[2], 0);
    ck_assert_int_eq(per[0] + per[1], 40);

    const bool all_down[3] = { true, true, true };
    ck_assert_int_eq(listen_steer(l, 3, all_down), 0);
    spread(l, 12, per);
    ck_assert_int_eq(per[0] + per[1] + per[2], 12);

    /* Back to the first socket alone, then every one released at the end. */
    const bool first_only[2] = { false, true };
    ck_assert_int_eq(listen_steer(l, 2, first_only), 0);
    spread(l, 12, per);
    ck_assert_int_eq(per[0], 12);
    listen_trim(l, 0);
    ck_assert_uint_eq(l->n_fds, 0);
    listen_release(&set, l);
}
END_TEST

/* A shared socket has nothing to steer: the call only records the count. */
START_TEST(steering_shared_socket)
{
    struct listen_set set = { 0 };
    struct listener *l = acquire_fresh(&set, false, 1);
    ck_assert_int_eq(listen_steer(l, 4, NULL), 0);
    ck_assert(!l->steered);
    ck_assert_uint_eq(l->active, 4);
    ck_assert(!listen_slot_released(l, 3));
    listen_release(&set, l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("listen");
    TCase *tc = tcase_create("address");
    tcase_add_loop_test(tc, addr_row, 0, (int)(sizeof addr_rows / sizeof addr_rows[0]));
    tcase_add_test(tc, unix_addr);
    suite_add_tcase(s, tc);
    tc = tcase_create("unix");
    tcase_add_test(tc, unix_listener_lifecycle);
    suite_add_tcase(s, tc);
    tc = tcase_create("listeners");
    tcase_add_test(tc, shared_socket_by_reference);
    tcase_add_test(tc, reuseport_group_grows_and_trims);
    tcase_add_test(tc, backlog_and_defer_accept);
    tcase_add_test(tc, probe_refuses_a_taken_address);
    tcase_add_test(tc, reuseport_mismatch_refused);
    tcase_add_test(tc, grow_failure_closes_what_it_opened);
    tcase_add_test(tc, grow_failure_closes_what_it_opened_steered);
    suite_add_tcase(s, tc);
    tc = tcase_create("inherited");
    tcase_add_test(tc, inherited_sockets_adopted);
    tcase_add_test(tc, inherit_from_env);
    suite_add_tcase(s, tc);
    tc = tcase_create("steering");
    tcase_add_test(tc, steering_around_down_slots);
    tcase_add_test(tc, steering_shared_socket);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
