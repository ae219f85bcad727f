/* The master suites' harness: see master_fixture.h. */
#include "master_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "config.h"
#include "fixture.h"
#include "log.h"
#include "proto.h"

struct master_files mf;

void mf_init(void)
{
    config_use_protocols(&proto_registry);     /* as main.c does */
    signal(SIGPIPE, SIG_IGN);                   /* a client may write to a closed peer */
}

int64_t mf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mf_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

void mf_setup(void)
{
    memset(&mf, 0, sizeof mf);
    fixture_mkdtemp(mf.dir, sizeof mf.dir, "master");
    fixture_path(mf.conf, sizeof mf.conf, mf.dir, "herd.conf");
    fixture_path(mf.pid_file, sizeof mf.pid_file, mf.dir, "herd.pid");
    fixture_path(mf.error_log, sizeof mf.error_log, mf.dir, "error.log");
    fixture_path(mf.stderr_path, sizeof mf.stderr_path, mf.dir, "stderr");
    ck_assert_int_eq(control_path(mf.pid_file, mf.ctl_path, sizeof mf.ctl_path), 0);
    mf.port = mf_free_port();
}

void mf_teardown(void)
{
    if (mf.watcher > 0) {
        kill(mf.watcher, SIGKILL);
        waitpid(mf.watcher, NULL, 0);
    }
    if (mf.private_dir[0])
        chmod(mf.private_dir, 0700);       /* to remove it */
    if (mf.master > 0) {
        /* A fast stop ends within the master's own kill grace. */
        kill(mf.master, SIGTERM);
        waitpid(mf.master, NULL, 0);
        mf.master = 0;
    }
    fixture_rmtree(mf.dir);
}

TCase *mf_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, mf_setup, mf_teardown);
    suite_add_tcase(s, tc);
    return tc;
}

/* ------------------------------------------------------------------ */
/* Configuration and files */

void mf_write_conf_with(const struct mf_conf *c)
{
    char listen[64];
    snprintf(listen, sizeof listen, "\"127.0.0.1:%d\"", mf.port);
    FILE *f = fopen(mf.conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "workers = %d;\nuser = \"nobody\";\npid_file = \"%s\";\nerror_log = \"%s\";\n"
            "shutdown_timeout = \"%s\";\n%s\n"
            "servers = ( { listen = [ %s ]; protocol = \"%s\";\n%s }%s );\n",
            c->workers ? c->workers : 1, mf.pid_file,
            mf.error_log, c->shutdown_timeout ? c->shutdown_timeout : "5s",
            c->top ? c->top : "", c->listen ? c->listen : listen,
            c->protocol ? c->protocol : "echo", c->server ? c->server : "",
            c->more_servers ? c->more_servers : "");
    ck_assert_int_eq(fclose(f), 0);
}

void mf_write_conf(int workers, const char *top)
{
    mf_write_conf_with(&(struct mf_conf){ .workers = workers, .top = top });
}

const char *mf_private_dir(void)
{
    if (mf.private_dir[0] == '\0') {
        fixture_path(mf.private_dir, sizeof mf.private_dir, mf.dir, "private");
        ck_assert_int_eq(mkdir(mf.private_dir, 0755), 0);
        /* Workers run as "nobody": the way to it must be open to them. */
        ck_assert_int_eq(chmod(mf.dir, 0755), 0);
    }
    return mf.private_dir;
}

const char *mf_static_server(void)
{
    static char keys[256];
    snprintf(keys, sizeof keys, "routes = ( { path = \"/s\"; static = { root = \"%s\"; }; } );",
             mf_private_dir());
    return keys;
}

const char *mf_static_server_elsewhere(void)
{
    static char text[512];
    snprintf(text, sizeof text, ", { listen = [ \"127.0.0.1:%d\" ]; protocol = \"http\"; %s }",
             mf_free_port(), mf_static_server());
    return text;
}

char *mf_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *text = fixture_read_fd(fd, NULL);
    close(fd);
    return text;
}

bool mf_file_has(const char *path, const char *needle)
{
    char *text = mf_read(path);
    bool has = text && strstr(text, needle);
    free(text);
    return has;
}

/* Does text (freed here) contain what fmt and ap make? */
static bool has_formatted(char *text, const char *fmt, va_list ap)
{
    char needle[1024];
    ck_assert_int_lt(vsnprintf(needle, sizeof needle, fmt, ap), (int)sizeof needle);
    bool has = text && strstr(text, needle);
    free(text);
    return has;
}

bool mf_logged(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool has = has_formatted(mf_read(mf.error_log), fmt, ap);
    va_end(ap);
    return has;
}

ino_t mf_inode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

/* ------------------------------------------------------------------ */
/* Clients */

int mf_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    /* Bounds, not expectations: an answer normally takes microseconds. */
    struct timeval tv = { MF_PATIENCE_MS / 1000, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

int mf_echo_on(int fd, const char *text)
{
    size_t len = strlen(text), got = 0;
    char buf[256];
    ck_assert_uint_lt(len, sizeof buf);
    if (write(fd, text, len) != (ssize_t)len)
        return -1;
    while (got < len) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    ck_assert_msg(memcmp(buf, text, len) == 0, "echoed %.*s for %s", (int)len, buf, text);
    return 0;
}

int mf_echo(const char *text)
{
    int fd = mf_connect(mf.port);
    if (fd < 0)
        return -1;
    int rc = mf_echo_on(fd, text);
    close(fd);
    ck_assert_msg(rc == 0, "connected, but no echo of %s", text);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Processes, as /proc shows them */

static bool proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');      /* the command may hold anything */
    int pp;
    if (p == NULL || sscanf(p + 1, " %c %d", state, &pp) != 2)
        return false;
    *ppid = pp;
    return true;
}

bool mf_alive(pid_t pid)
{
    char state;
    pid_t ppid;
    return pid > 0 && proc_stat(pid, &state, &ppid) && state != 'Z' && state != 'X';
}

void mf_stop(pid_t pid)
{
    char state = 0;
    pid_t ppid;
    ck_assert_int_eq(kill(pid, SIGSTOP), 0);
    MF_WAIT(proc_stat(pid, &state, &ppid) && state == 'T', "%d is not stopped (%c)", (int)pid,
            state);
}

void mf_cont(pid_t pid)
{
    ck_assert_int_eq(kill(pid, SIGCONT), 0);
}

size_t mf_children_of(pid_t parent, pid_t *out, size_t cap)
{
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < cap;) {
        pid_t pid = atoi(e->d_name);
        char state;
        pid_t ppid;
        if (pid > 0 && proc_stat(pid, &state, &ppid) && ppid == parent && state != 'Z')
            out[n++] = pid;
    }
    closedir(d);
    return n;
}

bool mf_holds_inode(pid_t pid, dev_t dev, ino_t ino)
{
    char dir[64], path[64 + sizeof ((struct dirent *)0)->d_name];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        found = stat(path, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
    }
    closedir(d);
    return found;
}

bool mf_holds_file(pid_t pid, const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && mf_holds_inode(pid, st.st_dev, st.st_ino);
}

bool mf_holds_socket(pid_t pid, int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    return mf_holds_inode(pid, st.st_dev, st.st_ino);
}

/* ------------------------------------------------------------------ */
/* A whole master */

pid_t mf_run_master(bool foreground)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid > 0)
        return pid;
    /* A failed check ends the test process without its teardown: the
     * master must not outlive it. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* Check's handlers would stop this test's whole process group. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    int err = open(mf.stderr_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (err < 0 || dup2(err, STDERR_FILENO) < 0)
        _exit(98);
    close(err);
    char why[1024];
    struct herd_config *cfg = config_load(mf.conf, why, sizeof why);
    if (cfg == NULL)
        _exit(99);
    struct master_options opts = { .conf_path = mf.conf, .conf_given = true,
                                   .foreground = foreground };
    _exit(master_main(&opts, cfg));
}

void mf_watch_daemon(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid > 0) {
        mf.watcher = pid;
        return;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    prctl(PR_SET_PDEATHSIG, SIGUSR1);      /* this test process has ended */
    int sig;
    sigwait(&set, &sig);
    char text[32] = "";
    int fd = open(mf.pid_file, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && read(fd, text, sizeof text - 1) > 0 && atoi(text) > 0)
        kill(atoi(text), SIGTERM);
    _exit(0);
}

void mf_start(int workers)
{
    mf_write_conf(workers, "");
    mf.master = mf_run_master(true);
    mf_wait_generation(1);
}

void mf_ask(const char *cmd, char *reply, size_t cap)
{
    int64_t deadline = mf_now_ms() + MF_PATIENCE_MS;
    for (;;) {
        if (control_request(mf.ctl_path, cmd, reply, cap, MF_PATIENCE_MS) == 0)
            return;
        /* No master listens there (yet, or for a moment during the
         * handover of a binary upgrade). */
        ck_assert_msg(errno == ENOENT || errno == ECONNREFUSED || errno == ECONNRESET,
                      "%s: %s", cmd, strerror(errno));
        ck_assert_msg(mf_now_ms() < deadline, "no answer to %s", cmd);
        usleep(10000);
    }
}

void mf_wait_generation(unsigned id)
{
    char want[64], reply[64] = "";
    snprintf(want, sizeof want, "ok generation %u", id);
    MF_WAIT((mf_ask("generation", reply, sizeof reply), strcmp(reply, want) == 0),
            "\"%s\", not generation %u", reply, id);
}

int mf_worker_of(int slot)
{
    char text[8192], key[32];
    mf_ask("status", text, sizeof text);
    snprintf(key, sizeof key, "worker slot=%d pid=", slot);
    const char *p = strstr(text, key);
    return p ? atoi(p + strlen(key)) : 0;
}

int mf_wait_exit(void)
{
    int status = 0;
    pid_t got = 0;
    MF_WAIT((got = waitpid(mf.master, &status, WNOHANG)) != 0, "master %d did not exit",
            (int)mf.master);
    ck_assert_int_eq(got, mf.master);
    mf.master = 0;
    ck_assert_msg(WIFEXITED(status), "the master ended with wait status %d", status);
    return WEXITSTATUS(status);
}

/* A connection to the control socket, or -1 while nobody listens there. */
static int ctl_connect(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ck_assert_uint_lt(strlen(mf.ctl_path), sizeof sa.sun_path);
    strcpy(sa.sun_path, mf.ctl_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
        return fd;
    close(fd);
    return -1;
}

int mf_ctl_send(const char *cmd)
{
    int fd;
    MF_WAIT((fd = ctl_connect()) >= 0, "cannot reach %s", mf.ctl_path);
    char line[256];
    int n = snprintf(line, sizeof line, "%s\n", cmd);
    ck_assert_int_eq(write(fd, line, (size_t)n), n);
    return fd;
}

void mf_ctl_answer(int fd, char *reply, size_t cap)
{
    size_t len = 0;
    int64_t deadline = mf_now_ms() + MF_PATIENCE_MS;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int64_t left = deadline - mf_now_ms();
        ck_assert_msg(left > 0 && poll(&p, 1, (int)left) == 1, "no answer");
        ssize_t n = read(fd, reply + len, cap - 1 - len);
        ck_assert_int_ge(n, 0);
        if (n == 0 || (len += (size_t)n) + 1 == cap)
            break;
    }
    close(fd);
    reply[len] = '\0';
    if (len > 0 && reply[len - 1] == '\n')
        reply[len - 1] = '\0';
}

/* ------------------------------------------------------------------ */
/* A master in this process */

static struct master_options mfm_opts;
static int mfm_log_fd = -1;
static sigset_t mfm_old_mask;
static struct {
    struct timer t;
    struct loop *loop;
} turn;

static void on_nothing(struct timer *t)
{
    (void)t;
}

static void on_turn_over(struct timer *t)
{
    (void)t;
    loop_stop(turn.loop);
}

struct master *mfm_new(void)
{
    struct master *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    mfm_opts = (struct master_options){ .conf_path = mf.conf, .conf_given = true,
                                        .foreground = true };
    *m = (struct master){ .opts = &mfm_opts, .mode = MASTER_STARTING, .pid = PIDFILE_INIT,
                          .startup_pipe = -1, .next_id = 1 };
    m->loop = loop_new(256);
    m->page = stats_map();
    ck_assert(m->loop != NULL && m->page != NULL);
    timer_init(&m->ready_timer, gen_on_ready_timeout);
    timer_init(&m->kill_timer, on_nothing);     /* only QUIT and TERM arm it */
    /* The master's signals wait in its signalfd (cycle.c): its workers
     * inherit the mask and read them from theirs. Left unblocked, a
     * worker would run this test process's handlers instead. */
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = { SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    ck_assert_int_eq(sigprocmask(SIG_BLOCK, &set, &mfm_old_mask), 0);
    mfm_log_fd = fixture_log_begin();
    return m;
}

struct gen *mfm_start(struct master *m)
{
    char err[1024];
    struct herd_config *cfg = config_load(mf.conf, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    struct gen *g = gen_new(m, cfg, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    gen_start(m, g);
    MFM_RUN_UNTIL(m, m->current == g, "generation %u did not start", g->id);
    return g;
}

struct master *mfm_serving(int workers)
{
    mf_write_conf(workers, "");
    struct master *m = mfm_new();
    mfm_start(m);
    return m;
}

/* What the master's SIGCHLD handling does (cycle.c). */
static void reap_all(struct master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct child *c = slot_child_by_pid(m, pid);
        if (c)
            slot_child_exited(m, c, status);
    }
}

void mfm_turn(struct master *m, int64_t ms)
{
    turn.loop = m->loop;
    timer_init(&turn.t, on_turn_over);
    loop_update_time(m->loop);
    loop_timer_after(m->loop, &turn.t, ms);
    ck_assert_int_eq(loop_run(m->loop), 0);
    loop_timer_cancel(m->loop, &turn.t);
    reap_all(m);
}

struct child *mfm_child(struct master *m, const struct gen *g, int slot)
{
    for (struct child *c = m->children; c; c = c->next)
        if (c->gen == g && c->slot == slot)
            return c;
    return NULL;
}

void mfm_kill(struct master *m, struct child *c)
{
    pid_t pid = c->pid;
    int status;
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    loop_update_time(m->loop);      /* as an iteration of the loop would */
    ck_assert_ptr_eq(slot_child_by_pid(m, pid), c);
    slot_child_exited(m, c, status);
}

void mfm_wait_channel(const struct child *c)
{
    struct pollfd p = { c->io.fd, POLLIN, 0 };
    ck_assert_msg(poll(&p, 1, MF_PATIENCE_MS) == 1, "worker %d said nothing", (int)c->pid);
}

char *mfm_log(void)
{
    return fixture_log_text(mfm_log_fd);
}

bool mfm_logged(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool has = has_formatted(mfm_log(), fmt, ap);
    va_end(ap);
    return has;
}

void mfm_free(struct master *m)
{
    m->mode = MASTER_TERMINATING;       /* every exit is expected: nothing respawns */
    while (m->children)
        mfm_kill(m, m->children);
    gen_free_all(m);
    listen_close_all(&m->listeners);
    stats_unmap(m->page);
    loop_free(m->loop);
    free(m);
    fixture_log_end();
    sigprocmask(SIG_SETMASK, &mfm_old_mask, NULL);
}

struct listener *mfm_listener(const struct gen *g)
{
    ck_assert_uint_ge(g->n_ls, 1);
    return g->ls[0].l;
}
