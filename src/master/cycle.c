/* The master's cycle: start-up, signals, stopping, and the master's mode
 * (generation.c makes the moves between STARTING, RUNNING and RELOADING):
 *
 *   STARTING ──first generation ready──► RUNNING ◄──new generation ready,──┐
 *      │                                    │         or the reload failed  │
 *      │ it failed                          └──HUP──► RELOADING ────────────┘
 *      ▼
 *   TERMINATING (exit status 1)
 *
 *   any ──QUIT──► QUITTING ──no worker left──► exit
 *   any ──TERM, INT──► TERMINATING ──no worker left──► exit
 *
 * WINCH is a state of the current generation (GEN_STOPPED), not of the
 * master, which stays RUNNING: HUP brings workers back. A binary upgrade
 * (upgrade.c) runs beside every mode; new_master is the new master's pid
 * while it lives.
 *
 * Signals arrive through a signalfd in the master's loop, never in a
 * handler: HUP reloads, QUIT drains every worker and exits when all are
 * gone, TERM/INT stop them at once and escalate to SIGKILL after a short
 * grace, WINCH drains the current generation's workers (above), USR1
 * reopens the logs (logs.c), USR2 starts a binary upgrade (upgrade.c),
 * CHLD reaps workers (slot.c) and the new master of an upgrade.
 * Tested by tests/unit/check_master_cycle.c. */
#include "master/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proctitle.h"
#include "stats_render.h"
#include "upstream_health.h"

#define KILL_GRACE_MS 3000

/* ------------------------------------------------------------------ */
/* Start-up */

static void raise_fd_limit(const struct herd_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t want = (rlim_t)cfg->worker_connections + 1024;
    if (rl.rlim_cur >= want)
        return;
    /* Root may raise the hard limit too (CAP_SYS_RESOURCE); without that,
     * go as far as the hard limit allows. */
    struct rlimit up = { want, want > rl.rlim_max ? want : rl.rlim_max };
    if (setrlimit(RLIMIT_NOFILE, &up) == 0)
        return;
    up.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    up.rlim_max = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &up) < 0)
        up.rlim_cur = rl.rlim_cur;
    if (up.rlim_cur < want)
        log_warn("open file limit is %llu, below worker_connections + 1024 (%llu)",
                 (unsigned long long)up.rlim_cur, (unsigned long long)want);
}

/* Fork into the background; the parent exits once the first generation is
 * serving (status 0) or failed (status 1), so init scripts see the truth. */
static int daemonize(struct master *m)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        log_error("pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        char status = 1;
        ssize_t n;
        do
            n = read(p[0], &status, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 && status == 0 ? 0 : 1);
    }
    close(p[0]);
    m->startup_pipe = p[1];
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        close(null);
    }
    /* stderr stays the terminal until the first generation serves, so that
     * a failing start says why there (cycle_startup_done detaches it). */
    m->detach_stderr = log_fd() != STDERR_FILENO;
    if (chdir("/") < 0)
        log_warn("chdir(/): %s", strerror(errno));
    return 0;
}

/* Leaving STARTING: the first generation serves (ok) or could not start.
 * Tell the waiting parent, and stop copying errors to stderr. */
void cycle_startup_done(struct master *m, bool ok)
{
    log_echo_stderr(false);
    if (m->startup_pipe >= 0) {
        char status = ok ? 0 : 1;
        ssize_t unused = write(m->startup_pipe, &status, 1);
        (void)unused;
        close(m->startup_pipe);
        m->startup_pipe = -1;
    }
    int null;
    if (ok && m->detach_stderr && (null = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0) {
        dup2(null, STDERR_FILENO);
        close(null);
    }
}

/* ------------------------------------------------------------------ */
/* Stopping */

void cycle_maybe_exit(struct master *m)
{
    if (master_stopping(m) && m->children == NULL)
        loop_stop(m->loop);
}

void cycle_describe_exit(int status, char *out, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(out, cap, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, cap, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(out, cap, "ended with wait status %d", status);
}

static void on_kill_timer(struct timer *t)
{
    struct master *m = (struct master *)((char *)t - offsetof(struct master, kill_timer));
    for (struct child *c = m->children; c; c = c->next) {
        log_warn("worker %d did not stop; killing it", (int)c->pid);
        kill(c->pid, SIGKILL);
    }
}

/* QUIT */
static void begin_quit(struct master *m)
{
    if (master_stopping(m))
        return;
    m->mode = MASTER_QUITTING;
    log_info("graceful stop: draining the workers");
    if (m->pending)
        gen_abort_pending(m, "the master is stopping");
    for (struct child *c = m->children; c; c = c->next)
        kill(c->pid, SIGQUIT);
    /* Workers exit by shutdown_timeout; this is only the safety net. */
    int64_t most = 0;
    for (struct gen *g = m->gens; g; g = g->next)
        if (g->cfg->shutdown_timeout > most)
            most = g->cfg->shutdown_timeout;
    loop_timer_after(m->loop, &m->kill_timer, most + KILL_GRACE_MS);
    cycle_maybe_exit(m);
}

/* TERM, INT */
static void begin_terminate(struct master *m)
{
    if (m->mode == MASTER_TERMINATING)
        return;
    m->mode = MASTER_TERMINATING;
    log_info("fast stop");
    if (m->pending)
        gen_abort_pending(m, "the master is stopping");
    for (struct child *c = m->children; c; c = c->next)
        kill(c->pid, SIGTERM);
    loop_timer_after(m->loop, &m->kill_timer, KILL_GRACE_MS);
    cycle_maybe_exit(m);
}

/* WINCH */
static void stop_workers(struct master *m)
{
    struct gen *g = m->current;
    if (g == NULL || g->state == GEN_STOPPED)
        return;
    g->state = GEN_STOPPED;
    log_info("WINCH: stopping the workers of generation %u gracefully", g->id);
    gen_signal(m, g, SIGQUIT);
}

/* CHLD */
static void reap(struct master *m)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        struct child *c = slot_child_by_pid(m, pid);
        if (c)
            slot_child_exited(m, c, status);
        else if (pid == m->new_master)
            upgrade_ended(m, status);
    }
}

/* ------------------------------------------------------------------ */
/* Events */

static void on_control(void *arg, struct control_client *cl, const char *cmd)
{
    struct master *m = arg;
    if (strcmp(cmd, "reload") == 0) {
        gen_request_reload(m, cl);
    } else if (strcmp(cmd, "status") == 0) {
        char *text = NULL, *servers = NULL;
        upstream_health_render(upstream_health_page(), STATS_FORMAT_TEXT, loop_now(m->loop),
                               &servers);
        stats_render_more(m->page, STATS_FORMAT_TEXT, time(NULL), servers, &text);
        control_reply(m->ctl, cl, text ? text : "error out of memory");
        free(servers);
        free(text);
    } else if (strcmp(cmd, "generation") == 0) {
        char line[64];
        snprintf(line, sizeof line, "ok generation %u", m->current ? m->current->id : 0);
        control_reply(m->ctl, cl, line);
    } else {
        control_reply(m->ctl, cl, "error unknown command");
    }
}

static void on_signal(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    struct master *m = (struct master *)((char *)io - offsetof(struct master, sig_io));
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGCHLD:
            reap(m);
            break;
        case SIGHUP:
            log_info("SIGHUP: reloading");
            gen_request_reload(m, NULL);
            break;
        case SIGQUIT:
            begin_quit(m);
            break;
        case SIGTERM:
        case SIGINT:
            begin_terminate(m);
            break;
        case SIGUSR1:
            logs_reopen(m);
            break;
        case SIGWINCH:
            stop_workers(m);
            break;
        case SIGUSR2:
            upgrade_begin(m);
            break;
        default:
            break;
        }
    }
}

static int setup_signals(struct master *m)
{
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = { SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    m->sig_io.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    m->sig_io.fn = on_signal;
    if (m->sig_io.fd < 0)
        return -1;
    return loop_add(m->loop, &m->sig_io, LOOP_READ);
}

/* ------------------------------------------------------------------ */
/* master_main */

static void set_title(const struct master_options *opts)
{
    if (!opts->title)
        return;
    char title[4096];
    snprintf(title, sizeof title, "master process %s", proctitle_command());
    proctitle_set(title);
}

/* Before anything is forked: the logs, the pid file, the loop, the
 * counters. Returns 0, or -1 having logged why. */
static int prepare(struct master *m, const struct herd_config *cfg)
{
    char err[4200];
    if (cfg->embedded)
        log_warn("no configuration file; running on the embedded default "
                 "(HTTP on 127.0.0.1:8080, echo on 127.0.0.1:7007)");
    if (logs_open_error(cfg, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    log_set_level((enum log_level)cfg->log_level);
    if (pidfile_lock(&m->pid, cfg->pid_file, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    raise_fd_limit(cfg);
    m->loop = loop_new(256);
    m->page = stats_map();
    /* Without the health page, passive health stays per worker (logged). */
    upstream_health_map();
    m->checks = m->loop ? upstream_check_new(m->loop) : NULL;
    if (m->loop == NULL || m->page == NULL || m->checks == NULL || tickets_prepare(m) < 0) {
        log_error("cannot start: %s", strerror(errno));
        return -1;
    }
    ssize_t len = readlink("/proc/self/exe", m->exe, sizeof m->exe - 1);
    m->exe[len > 0 ? len : 0] = '\0';
    timer_init(&m->ready_timer, gen_on_ready_timeout);
    timer_init(&m->kill_timer, on_kill_timer);
    return 0;
}

/* The first generation's sockets are open: go to the background, write
 * the pid file, listen for signals and control clients. */
static int go_live(struct master *m, const struct gen *g)
{
    char err[4200] = "";
    /* A master started by a binary upgrade is the old master's child and
     * must stay so (the old one watches it); it does not fork again. */
    bool upgraded = getenv("HERD_UPGRADE_FROM") != NULL;
    unsetenv("HERD_UPGRADE_FROM");
    if (!m->opts->foreground && !upgraded && daemonize(m) < 0)
        return -1;
    if (pidfile_write(&m->pid, getpid(), err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    if (setup_signals(m) < 0)
        return -1;
    char path[4096];
    if (control_path(g->cfg->pid_file, path, sizeof path) < 0 ||
        (m->ctl = control_open(m->loop, path, on_control, m, err, sizeof err)) == NULL) {
        log_error("%s", err[0] ? err : "control socket path too long");
        return -1;
    }
    return 0;
}

/* The loop has stopped: every worker is gone. */
static void finish(struct master *m)
{
    log_info("master %d exiting", (int)getpid());
    /* Unix socket files stay while the other master of a binary upgrade
     * serves on them: our new one, or our old one (still our parent). */
    m->listeners.keep_paths = m->new_master > 0 ||
                              (m->upgraded_from > 0 && getppid() == m->upgraded_from);
    control_close(m->ctl, 1);
    pidfile_remove(&m->pid);
    gen_free_all(m);
    listen_close_all(&m->listeners);
    stats_unmap(m->page);
    upstream_check_free(m->checks);
    upstream_health_unmap();
    tickets_finish(m);
    loop_free(m->loop);
    close(m->sig_io.fd);
}

int master_main(const struct master_options *opts, struct herd_config *cfg)
{
    struct master m = { .opts = opts, .mode = MASTER_STARTING, .pid = PIDFILE_INIT,
                        .startup_pipe = -1, .next_id = 1 };
    char err[1024];
    struct gen *g = NULL;

    log_echo_stderr(true);
    set_title(opts);
    if (prepare(&m, cfg) < 0)
        goto fail;
    listen_inherit_from_env(&m.listeners);
    const char *from = getenv("HERD_UPGRADE_FROM");
    m.upgraded_from = from ? (pid_t)atol(from) : 0;
    m.listeners.keep_paths = m.upgraded_from > 0;
    g = gen_new(&m, cfg, err, sizeof err);
    if (g == NULL) {
        log_error("%s", err);
        goto fail;
    }
    cfg = NULL;
    listen_drop_unadopted(&m.listeners);
    if (go_live(&m, g) < 0)
        goto fail;
    log_info("herd %s master %d starting", PACKAGE_VERSION, (int)getpid());
    gen_start(&m, g);

    loop_run(m.loop);

    finish(&m);
    return m.exit_status;

fail:
    cycle_startup_done(&m, false);
    config_free(cfg);
    pidfile_remove(&m.pid);
    listen_close_all(&m.listeners);
    return 1;
}
