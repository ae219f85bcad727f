/* Binary upgrade (USR2): start the binary installed at our path as a new
 * master that inherits every listening socket, the way systemd passes them
 * (LISTEN_FDS from fd 3, LISTEN_PID, LISTEN_FDNAMES), the counters'
 * page and the TLS session ticket keys' page. Both masters serve until the
 * operator stops the old one (WINCH, then QUIT) or the new one (rollback:
 * HUP to the old master brings its workers back).
 *
 *   no upgrade ─USR2─► pid file renamed PIDFILE.oldbin, new master forked
 *        ▲                 │ (new_master set)
 *        └─new master exits: PIDFILE and the control socket taken back
 *
 * Tested by tests/unit/check_master_upgrade.c and by tests/integration/test_upgrade.py,
 * which execs the real binary. */
#include "master/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "limit_zone.h"
#include "log.h"
#include "upstream_health.h"
#include "transport_tls_tickets.h"

/* Move the sockets to 3..3+n-1 without clobbering one another: first
 * above the target range, then down; dup2 clears FD_CLOEXEC. */
static void place_sockets(const int *fds, size_t n)
{
    int *high = calloc(n ? n : 1, sizeof *high);
    if (high == NULL)
        _exit(127);
    for (size_t i = 0; i < n; i++)
        high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)(3 + n));
    for (size_t i = 0; i < n; i++)
        if (high[i] < 0 || dup2(high[i], (int)(3 + i)) < 0)
            _exit(127);
}

static void set_listen_env(size_t n)
{
    char num[32], pid[32], from[32];
    snprintf(num, sizeof num, "%zu", n);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    snprintf(from, sizeof from, "%d", (int)getppid());
    size_t cap = n * 5 + 1;
    char *names = calloc(cap, 1);
    for (size_t i = 0; names && i < n; i++)
        strcat(strcat(names, i ? ":" : ""), "herd");
    setenv("LISTEN_FDS", num, 1);
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDNAMES", names ? names : "", 1);
    setenv("HERD_UPGRADE_FROM", from, 1);
}

/* In the forked child: become the new master. */
static void exec_new_master(struct master *m, const int *fds, size_t n)
{
    /* The counters and the TLS ticket keys go on in the new master: their
     * pages, above the sockets. */
    stats_pass_on((int)(3 + n));
    upstream_health_pass_on((int)(3 + n));
    tls_tickets_pass_on((int)(3 + n));
    limit_zone_pass_on((int)(3 + n));
    place_sockets(fds, n);
    set_listen_env(n);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The same configuration by its absolute path: the daemon's working
     * directory is "/" by now. */
    char *argv[5];
    int argc = 0;
    argv[argc++] = m->exe;
    if (m->opts->conf_given) {
        argv[argc++] = "-c";
        argv[argc++] = (char *)m->opts->conf_path;
    }
    if (m->opts->foreground)
        argv[argc++] = "-F";
    argv[argc] = NULL;
    execv(m->exe, argv);
    log_error("upgrade: cannot execute %s: %s", m->exe, strerror(errno));
    _exit(127);
}

/* Every listening socket the master holds; NULL when out of memory. */
static int *all_sockets(struct master *m, size_t *n)
{
    *n = 0;
    for (struct listener *l = m->listeners.head; l; l = l->next)
        *n += l->n_fds;
    int *fds = calloc(*n ? *n : 1, sizeof *fds);
    if (fds == NULL)
        return NULL;
    *n = 0;
    for (struct listener *l = m->listeners.head; l; l = l->next)
        for (size_t i = 0; i < l->n_fds; i++)
            fds[(*n)++] = l->fds[i];
    return fds;
}

void upgrade_begin(struct master *m)
{
    char err[4200];
    if (m->new_master > 0) {
        log_warn("upgrade: new master %d is already running", (int)m->new_master);
        return;
    }
    if (master_stopping(m) || m->exe[0] == '\0')
        return;
    if (pidfile_to_oldbin(&m->pid, err, sizeof err) < 0) {
        log_error("upgrade: %s", err);
        return;
    }
    size_t n;
    int *fds = all_sockets(m, &n);
    if (fds == NULL)
        goto undo;
    pid_t pid = fork();
    if (pid == 0)
        exec_new_master(m, fds, n);
    free(fds);
    if (pid < 0) {
        log_error("upgrade: fork: %s", strerror(errno));
        goto undo;
    }
    m->new_master = pid;
    m->listeners.keep_paths = true;     /* the new master serves on them too */
    char old[sizeof m->pid.path + 8];
    pidfile_oldbin_path(&m->pid, old, sizeof old);
    log_info("upgrade: started new master %d from %s with %zu sockets; pid file is now %s",
             (int)pid, m->exe, n, old);
    return;
undo:
    if (pidfile_from_oldbin(&m->pid, err, sizeof err) < 0)
        log_error("upgrade: %s", err);
}

/* The new master is gone: this one is the master again. */
void upgrade_ended(struct master *m, int status)
{
    char how[128], err[4200];
    cycle_describe_exit(status, how, sizeof how);
    m->new_master = 0;
    m->listeners.keep_paths = false;
    if (pidfile_from_oldbin(&m->pid, err, sizeof err) < 0)
        log_error("upgrade: %s", err);
    /* The new master removed our control socket when it took the path. */
    if (m->ctl && control_rebind(m->ctl, err, sizeof err) < 0)
        log_error("upgrade: cannot restore the control socket: %s", err);
    log_warn("upgrade: new master %s; this master (%d) takes its pid file back%s", how,
             (int)getpid(),
             m->current && m->current->state == GEN_STOPPED ? " (send HUP to restart workers)"
                                                           : "");
}
