/* A worker for real (src/worker.c): worker_main in a forked child of the
 * test, as the master runs it, with a real channel (this suite plays the
 * master through the channel module), real listening sockets (an echo
 * server and an HTTP server) and its counters in shared memory, where the
 * test reads them. It reports READY and serves; a drain (CHANNEL_DRAIN or
 * QUIT) stops accepting and exits once the last connection is done; the
 * master going away drains it; TERM exits at once; a borrowed socket is
 * accepted from until given back; with worker_connections taken,
 * connections wait in the backlog until one closes; it drops privileges
 * only as root; one whose master is already gone exits at once.
 *
 * What the worker does with the channel is only visible in its effects, so
 * the suite sends an ACCESS_LOG message for the echo server (which closes
 * the descriptor) as a barrier: when the pipe it carried reads EOF, every
 * earlier message has been handled. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "config.h"
#include "log.h"
#include "proto.h"
#include "stats.h"
#include "worker.h"
#include "fixture.h"
#include "tap.h"

enum { ECHO_L, HTTP_L, N_L };   /* listener ids; server i on listener i */

static char dir[64], log_path[128];
static struct herd_config *cfg;
static struct stats_block *stats;   /* shared with the worker */
static int ch = -1;             /* the master's end of the channel */
static int lsock[N_L] = { -1, -1 };
static struct sockaddr_in laddr[N_L];
static pid_t worker;

/* A listening TCP socket on a free loopback port, as the master makes them
 * (non-blocking: the worker accepts until EAGAIN). */
static int listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    *addr = (struct sockaddr_in){ .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    ck_assert_int_eq(listen(fd, 64), 0);
    return fd;
}

static void setup(void)
{
    fixture_mkdtemp(dir, sizeof dir, "worker");
    fixture_path(log_path, sizeof log_path, dir, "error.log");
    stats = mmap(NULL, sizeof *stats, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(stats, MAP_FAILED);
    for (int i = 0; i < N_L; i++)
        lsock[i] = listener(&laddr[i]);
    worker = 0;
    cfg = NULL;
}

static void teardown(void)
{
    if (worker > 0) {
        kill(worker, SIGKILL);
        waitpid(worker, NULL, 0);
    }
    if (cfg)
        config_free(cfg);
    if (ch >= 0)
        close(ch);
    ch = -1;
    munmap(stats, sizeof *stats);
    fixture_rmtree(dir);
}

/* A configuration: an echo server and an HTTP server (their addresses are
 * placeholders: the worker serves the sockets it is given). */
static void configure(int worker_connections)
{
    char path[128], text[1024], err[512];
    snprintf(text, sizeof text,
             "pid_file = \"%s/herd.pid\";\nworker_connections = %d;\n"
             "shutdown_timeout = \"20s\";\nservers = (\n"
             "  { listen = [ \"127.0.0.1:1\" ]; protocol = \"echo\"; },\n"
             "  { listen = [ \"127.0.0.1:2\" ]; header_timeout = \"60s\";\n"
             "    routes = ( { path = \"/\"; return = { status = 200; type = \"text/plain\";\n"
             "                 body = \"Hello\"; }; } ); }\n);\n",
             dir, worker_connections);
    fixture_path(path, sizeof path, dir, "herd.conf");
    fixture_write(path, text, strlen(text));
    cfg = config_load(path, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
}

/* The child: worker_main with this process as its master. */
static void run_worker(int sock, pid_t master)
{
    static const size_t server_of[N_L] = { ECHO_L, HTTP_L };
    static const int no_logs[N_L] = { -1, -1 };
    struct worker_bind binds[N_L];
    for (int i = 0; i < N_L; i++)
        binds[i] = (struct worker_bind){ .fd = lsock[i], .servers = &server_of[i],
                                         .n_servers = 1 };
    int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0)
        _exit(99);
    log_use_fd(log);
    log_set_level(LOG_DEBUG);
    /* A master's child inherits its blocked signals: the worker reads
     * them from a signalfd. */
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = { SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct worker_args a = {
        .cfg = cfg, .slot = 0, .generation = 1, .stats = stats, .channel = sock,
        .master = master, .binds = binds, .n_binds = N_L, .access_logs = no_logs,
    };
    _exit(worker_main(&a));
}

/* Start a worker; `master` is who it takes for its master (this process,
 * unless a case says otherwise). */
static void start_as(int worker_connections, pid_t master)
{
    configure(worker_connections);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    worker = fork();
    ck_assert_int_ge(worker, 0);
    if (worker == 0) {
        close(sv[0]);
        run_worker(sv[1], master);
    }
    close(sv[1]);
    ch = sv[0];
}

/* The next message from the worker (CHANNEL_CLOSED when it is gone). */
static enum channel_recv_result next_message(struct channel_msg *m)
{
    struct pollfd p = { .fd = ch, .events = POLLIN };
    ck_assert_int_eq(poll(&p, 1, 20000), 1);
    return channel_recv(ch, m);
}

static void start(int worker_connections)
{
    start_as(worker_connections, getpid());
    struct channel_msg m;
    ck_assert_int_eq(next_message(&m), CHANNEL_MSG);
    ck_assert_int_eq(m.kind, CHANNEL_READY);
}

/* Every message sent so far has been handled (see the top). */
static void barrier(void)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(channel_send_access_log(ch, ECHO_L, p[1]), 0);
    close(p[1]);
    struct pollfd pf = { .fd = p[0], .events = POLLIN };
    ck_assert_int_eq(poll(&pf, 1, 20000), 1);
    char b;
    ck_assert_int_eq(read(p[0], &b, 1), 0);
    close(p[0]);
}

/* The worker's exit status, waiting for it (up to 20 s). */
static int exit_status(void)
{
    int status;
    for (int i = 0; i < 2000; i++) {
        pid_t r = waitpid(worker, &status, WNOHANG);
        ck_assert_int_ge(r, 0);
        if (r == worker) {
            worker = 0;
            ck_assert_msg(WIFEXITED(status), "the worker died of signal %d", WTERMSIG(status));
            return WEXITSTATUS(status);
        }
        usleep(10000);
    }
    ck_abort_msg("the worker did not exit");
    return -1;
}

static bool alive(void)
{
    return waitpid(worker, NULL, WNOHANG) == 0;
}

/* Wait until counter k of the worker is at least n. */
static void wait_counter(enum stats_counter k, uint64_t n)
{
    for (int i = 0; i < 2000 && stats_get(stats, k) < n; i++)
        usleep(10000);
    ck_assert_uint_ge(stats_get(stats, k), n);
}

/* The error log, for messages the worker wrote (free it). */
static char *log_text(void)
{
    return fixture_read_file(log_path, NULL);
}

static void wait_log(const char *line)
{
    for (int i = 0; i < 2000; i++) {
        char *text = log_text();
        bool found = strstr(text, line) != NULL;
        free(text);
        if (found)
            return;
        usleep(10000);
    }
    ck_abort_msg("the log never said \"%s\"", line);
}

/* ------------------------------------------------------------------ */
/* Clients */

static int dial(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (connect(fd, (const struct sockaddr *)a, sizeof *a) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    struct timeval tv = { 20, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_text(int fd, const char *text)
{
    ck_assert_int_eq(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Read until `want` is in what was read, or the end (then it must be). */
static void expect(int fd, const char *want, bool then_eof)
{
    char buf[4096] = "";
    size_t len = 0;
    while (strstr(buf, want) == NULL || then_eof) {
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        ck_assert_msg(n >= 0, "read: %s", strerror(errno));
        buf[len += (size_t)n] = '\0';
        if (n == 0)
            break;
    }
    ck_assert_msg(strstr(buf, want) != NULL, "got \"%s\", not \"%s\"", buf, want);
}

static void echo_round_trip(int fd, const char *text)
{
    send_text(fd, text);
    expect(fd, text, false);
}

/* ------------------------------------------------------------------ */

START_TEST(reports_ready_and_serves)
{
    start(100);
    int e = dial(&laddr[ECHO_L]);
    echo_round_trip(e, "hello\n");
    int h = dial(&laddr[HTTP_L]);
    send_text(h, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    expect(h, "Hello", false);
    ck_assert_uint_eq(stats_get(stats, STAT_ACCEPTED), 2);
    ck_assert_uint_eq(stats_get(stats, STAT_ACTIVE), 2);
    /* A connection that ends is counted as handled. */
    close(e);
    wait_counter(STAT_HANDLED, 1);
    ck_assert_uint_eq(stats_get(stats, STAT_ACTIVE), 1);
    close(h);
    wait_counter(STAT_HANDLED, 2);
    ck_assert_int_eq(channel_send_drain(ch, NULL, 0), 0);
    ck_assert_int_eq(exit_status(), WORKER_EXIT_OK);
}
END_TEST

/* _i == 0: the master says DRAIN; 1: a QUIT signal. */
START_TEST(drain_stops_accepting_and_exits_once_idle)
{
    start(100);
    /* A request on its way: it is answered before the worker goes. */
    int a = dial(&laddr[HTTP_L]);
    send_text(a, "GET / HT");
    wait_counter(STAT_ACCEPTED, 1);
    if (_i == 0)
        ck_assert_int_eq(channel_send_drain(ch, NULL, 0), 0);
    else
        ck_assert_int_eq(kill(worker, SIGQUIT), 0);
    /* Said when it begins, and its listeners are closed before it reads
     * anything else. */
    wait_log("worker 0: draining 1 connections");
    ck_assert(alive());
    /* New connections wait in the backlog: the worker no longer takes them. */
    int c[N_L];
    for (int i = 0; i < N_L; i++)
        c[i] = dial(&laddr[i]);
    send_text(a, "TP/1.1\r\nHost: x\r\n\r\n");
    expect(a, "Connection: close", true);
    ck_assert_int_eq(exit_status(), WORKER_EXIT_OK);
    ck_assert_uint_eq(stats_get(stats, STAT_ACCEPTED), 1);
    for (int i = 0; i < N_L; i++) {
        int s = accept4(lsock[i], NULL, NULL, SOCK_CLOEXEC);
        ck_assert_msg(s >= 0, "listener %d: %s", i, strerror(errno));
        close(s);
        close(c[i]);
    }
    close(a);
}
END_TEST

START_TEST(the_master_going_away_drains)
{
    start(100);
    int a = dial(&laddr[ECHO_L]);
    echo_round_trip(a, "x");
    close(ch);
    ch = -1;
    /* Idle connections get a grace, then the worker goes. */
    char b;
    ck_assert_int_eq(read(a, &b, 1), 0);
    ck_assert_int_eq(exit_status(), WORKER_EXIT_OK);
    char *text = log_text();
    ck_assert_msg(strstr(text, "master went away; draining") != NULL, "%s", text);
    free(text);
    close(a);
}
END_TEST

START_TEST(term_exits_at_once)
{
    start(100);
    int a = dial(&laddr[ECHO_L]);
    echo_round_trip(a, "x");
    /* An idle echo connection would stay for its idle_timeout (60 s). */
    ck_assert_int_eq(kill(worker, SIGTERM), 0);
    ck_assert_int_eq(exit_status(), WORKER_EXIT_OK);
    char b;
    ck_assert_int_eq(read(a, &b, 1), 0);
    close(a);
}
END_TEST

START_TEST(a_borrowed_socket_is_served_until_given_back)
{
    start(100);
    struct sockaddr_in lent;
    int l = listener(&lent);
    ck_assert_int_eq(channel_send_borrow(ch, ECHO_L, 3, l), 0);
    close(l);                   /* the worker's copy is the last */
    /* Accepted from with the listener's servers (echo). */
    int a = dial(&lent);
    ck_assert_int_ge(a, 0);
    echo_round_trip(a, "borrowed\n");
    /* Another slot's give-back leaves it alone. */
    ck_assert_int_eq(channel_send_give_back(ch, 4), 0);
    barrier();
    int b = dial(&lent);
    ck_assert_int_ge(b, 0);
    echo_round_trip(b, "still\n");
    /* Its own closes it: nobody listens there any more. */
    ck_assert_int_eq(channel_send_give_back(ch, 3), 0);
    barrier();
    ck_assert_int_eq(dial(&lent), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    /* Its own sockets and the connections it has are untouched. */
    echo_round_trip(a, "again\n");
    int c = dial(&laddr[ECHO_L]);
    echo_round_trip(c, "own\n");
    close(a);
    close(b);
    close(c);
}
END_TEST

START_TEST(a_borrow_for_no_listener_of_its_own_is_refused)
{
    start(100);
    struct sockaddr_in lent;
    int l = listener(&lent);
    ck_assert_int_eq(channel_send_borrow(ch, N_L + 5, 3, l), 0);
    close(l);
    barrier();
    ck_assert_int_eq(dial(&lent), -1);
    ck_assert_int_eq(errno, ECONNREFUSED);
    /* And the worker goes on. */
    int a = dial(&laddr[ECHO_L]);
    echo_round_trip(a, "fine\n");
    ck_assert(alive());
    close(a);
}
END_TEST

START_TEST(connections_wait_while_worker_connections_are_taken)
{
    start(1);
    int a = dial(&laddr[ECHO_L]);
    echo_round_trip(a, "first\n");
    /* The second is connected by the kernel and waits in the backlog. */
    int b = dial(&laddr[ECHO_L]);
    send_text(b, "second\n");
    wait_log("worker_connections (1) reached; new connections wait");
    ck_assert_uint_eq(stats_get(stats, STAT_ACCEPTED), 1);
    /* One closes: the waiting one is served. */
    close(a);
    expect(b, "second\n", false);
    ck_assert_uint_eq(stats_get(stats, STAT_ACCEPTED), 2);
    close(b);
}
END_TEST

/* The worker's uid, gid, supplementary groups and no_new_privs from
 * /proc/PID/status: "Uid:\tR\tE\tS\tF" and so on. */
struct ids {
    unsigned uid[4], gid[4];
    unsigned groups[8];
    int n_groups;
    int no_new_privs;
};

static struct ids ids_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *text = fixture_read_file(path, NULL);
    struct ids id = { .no_new_privs = -1 };
    const char *u = strstr(text, "\nUid:"), *g = strstr(text, "\nGid:");
    const char *gs = strstr(text, "\nGroups:"), *nnp = strstr(text, "\nNoNewPrivs:");
    ck_assert(u && g && gs && nnp);
    ck_assert_int_eq(sscanf(u, "\nUid: %u %u %u %u", &id.uid[0], &id.uid[1], &id.uid[2],
                            &id.uid[3]), 4);
    ck_assert_int_eq(sscanf(g, "\nGid: %u %u %u %u", &id.gid[0], &id.gid[1], &id.gid[2],
                            &id.gid[3]), 4);
    const char *p = gs + strlen("\nGroups:");
    for (int n = 0; id.n_groups < 8 && sscanf(p, " %u%n", &id.groups[id.n_groups], &n) == 1;
         p += n)
        id.n_groups++;
    ck_assert_int_eq(sscanf(nnp, "\nNoNewPrivs: %d", &id.no_new_privs), 1);
    free(text);
    return id;
}

START_TEST(drops_privileges_only_as_root)
{
    start(100);
    struct ids id = ids_of(worker);
    ck_assert_int_eq(id.no_new_privs, 1);
    if (geteuid() == 0) {
        /* Every one of its ids is the configured user's, for good. */
        struct passwd *pw = getpwnam(cfg->user);
        ck_assert_ptr_nonnull(pw);
        for (int i = 0; i < 4; i++) {
            ck_assert_uint_eq(id.uid[i], pw->pw_uid);
            ck_assert_uint_eq(id.gid[i], pw->pw_gid);
        }
        /* And no other group: root's supplementary groups are gone. */
        ck_assert_int_eq(id.n_groups, 1);
        ck_assert_uint_eq(id.groups[0], pw->pw_gid);
    } else {
        /* Not root: it keeps the user it has, and serves. */
        for (int i = 0; i < 4; i++)
            ck_assert_uint_eq(id.uid[i], geteuid());
    }
    int a = dial(&laddr[ECHO_L]);
    echo_round_trip(a, "served\n");
    close(a);
}
END_TEST

START_TEST(an_orphan_exits_at_once)
{
    /* Its master died before it got going: nothing to report to. */
    start_as(100, 1);
    struct channel_msg m;
    ck_assert_int_eq(next_message(&m), CHANNEL_CLOSED);
    ck_assert_int_eq(exit_status(), WORKER_EXIT_OK);
    ck_assert_uint_eq(stats_get(stats, STAT_ACCEPTED), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("worker");
    TCase *tc = tcase_create("worker");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, reports_ready_and_serves);
    tcase_add_loop_test(tc, drain_stops_accepting_and_exits_once_idle, 0, 2);
    tcase_add_test(tc, the_master_going_away_drains);
    tcase_add_test(tc, term_exits_at_once);
    tcase_add_test(tc, a_borrowed_socket_is_served_until_given_back);
    tcase_add_test(tc, a_borrow_for_no_listener_of_its_own_is_refused);
    tcase_add_test(tc, connections_wait_while_worker_connections_are_taken);
    tcase_add_test(tc, drops_privileges_only_as_root);
    tcase_add_test(tc, an_orphan_exits_at_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    config_use_protocols(&proto_registry);     /* as main.c does */
    return run_suite_tap(suite());
}
