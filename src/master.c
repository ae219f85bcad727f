/* The master's cycle.
 *
 * Generations: every (re)load is one.
 *
 *   reload ─► STARTING ─all workers ready─► ACTIVE (current) ─next one active─► DRAINING ─► gone
 *                │
 *                └─a worker died or stayed silent─► FAILED (its workers are stopped;
 *                                                    the current generation keeps serving)
 *
 * A generation holds references on its listeners, so sockets of addresses
 * that left the configuration close only when the last generation using them
 * has exited. Workers of the current generation that die are respawned in
 * their slot, at once the first time and with exponential back-off when a
 * slot keeps crashing.
 *
 * Stopping: QUIT drains every worker and exits when all are gone; TERM/INT
 * stop them at once and escalate to SIGKILL after a short grace. WINCH drains
 * the workers but keeps the master (HUP brings workers back). */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "control.h"
#include "http/status.h" /* H2: registry (server names for stats) */
#include "stats_render.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "proctitle.h"
#include "stats.h"
#include "worker.h"

#define READY_TIMEOUT_MS 10000
#define KILL_GRACE_MS 3000
#define RESPAWN_MIN_MS 100
#define RESPAWN_MAX_MS 30000
#define RESPAWN_STABLE_MS 5000

enum gen_state { GEN_STARTING, GEN_ACTIVE, GEN_DRAINING, GEN_FAILED };

struct gen_listener {
    struct listener *l;
    size_t *servers;            /* virtual hosts on it; the first is the default */
    size_t n_servers;
};

struct master;

struct slot {
    struct timer respawn;
    struct master *m;
    struct gen *gen;
    int index;
    int64_t started;            /* when its last worker was forked */
    int64_t backoff;            /* delay before the next respawn */
    bool given_up;              /* worker exited with WORKER_EXIT_FATAL */
    bool down;                  /* no ready worker: steered around */
    struct child *borrower;     /* accepts from this slot's sockets meanwhile */
};

struct gen {
    uint32_t id;
    enum gen_state state;
    struct herd_config *cfg;
    int workers;
    struct gen_listener *ls;
    size_t n_ls;
    int *access_logs;           /* per server, -1 when it has none */
    struct slot *slots;
    int alive;
    int ready;
    bool stopped;               /* WINCH: do not respawn */
    struct gen *next;
};

struct child {
    struct loop_io io;          /* channel to the worker */
    pid_t pid;
    int slot;
    struct gen *gen;
    bool ready;
    struct stats_block *stats;
    struct child *next;
};

struct waiter {
    struct control_client *cl;
    struct waiter *next;
};

struct master {
    const struct master_options *opts;
    struct loop *loop;
    struct listen_set listeners;
    struct stats_page *page;
    struct control *ctl;
    struct loop_io sig_io;
    int pid_fd;
    char pid_path[4096];
    struct gen *gens;           /* newest first */
    struct gen *current;
    struct gen *pending;        /* STARTING, if a reload is under way */
    struct child *children;
    uint32_t next_id;
    bool reload_again;          /* HUP arrived while a reload was pending */
    struct waiter *waiters;     /* control clients awaiting the pending reload */
    struct waiter *next_waiters;
    bool quitting, terminating;
    struct timer ready_timer, kill_timer;
    int startup_pipe;           /* daemonising parent waits on it; -1 */
    bool starting;              /* the first generation does not serve yet */
    bool detach_stderr;         /* daemon: stderr to /dev/null once started */
    int exit_status;
    char exe[4096];             /* this binary's path, resolved at start */
    pid_t new_master;           /* binary upgrade under way: the new master */
};

static void gen_maybe_free(struct master *m, struct gen *g);
static void startup_done(struct master *m, bool ok);
static void trim_listeners(struct master *m);
static void on_respawn(struct timer *t);
static void upgrade_ended(struct master *m, int status);
static void on_control(void *arg, struct control_client *cl, const char *cmd);
static void start_reload(struct master *m);

/* ------------------------------------------------------------------ */
/* Pid file */

static int pid_file_lock(struct master *m, const char *path)
{
    snprintf(m->pid_path, sizeof m->pid_path, "%s", path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) {
        /* Create the missing directories, as for /run/herd on a fresh boot. */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        for (char *p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        log_error("cannot open pid file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        log_error("another herd master (pid %s) is running with pid file %s",
                  buf[0] ? buf : "?", path);
        close(fd);
        return -1;
    }
    m->pid_fd = fd;
    return 0;
}

static int pid_file_write(struct master *m)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (ftruncate(m->pid_fd, 0) < 0 || pwrite(m->pid_fd, buf, (size_t)n, 0) != n) {
        log_error("cannot write pid file %s: %s", m->pid_path, strerror(errno));
        return -1;
    }
    return 0;
}

static bool pid_file_is_ours(struct master *m, const char *path)
{
    struct stat a, b;
    return fstat(m->pid_fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

static void oldbin_path(const struct master *m, char *out, size_t cap)
{
    snprintf(out, cap, "%s.oldbin", m->pid_path);
}

static void pid_file_remove(struct master *m)
{
    if (m->pid_fd < 0)
        return;
    /* Only the file that is still ours: after an upgrade it is PIDFILE.oldbin
     * and PIDFILE belongs to the new master. */
    char old[sizeof m->pid_path + 8];
    oldbin_path(m, old, sizeof old);
    if (pid_file_is_ours(m, m->pid_path))
        unlink(m->pid_path);
    else if (pid_file_is_ours(m, old))
        unlink(old);
    close(m->pid_fd);
    m->pid_fd = -1;
}

/* ------------------------------------------------------------------ */
/* Replies to `herd -s reload` */

static void answer_waiters(struct master *m, const char *line)
{
    while (m->waiters) {
        struct waiter *w = m->waiters;
        m->waiters = w->next;
        control_reply(m->ctl, w->cl, line);
        free(w);
    }
}

static void reload_failed(struct master *m, const char *why)
{
    char line[1200];
    /* The reason last: a syntax error's explanation spans several lines. */
    log_error("reload failed, generation %u keeps serving: %s",
              m->current ? m->current->id : 0, why);
    snprintf(line, sizeof line, "error %s", why);
    answer_waiters(m, line);
}

/* ------------------------------------------------------------------ */
/* Children */

static void on_channel(struct loop *loop, struct loop_io *io, unsigned events);

static struct child *child_by_pid(struct master *m, pid_t pid)
{
    for (struct child *c = m->children; c; c = c->next)
        if (c->pid == pid)
            return c;
    return NULL;
}

static void signal_gen(struct master *m, struct gen *g, int sig)
{
    for (struct child *c = m->children; c; c = c->next)
        if (c->gen == g)
            kill(c->pid, sig);
}

static int spawn(struct master *m, struct gen *g, int slot)
{
    int sv[2];
    struct worker_bind *binds = NULL;
    struct child *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("socketpair: %s", strerror(errno));
        free(c);
        return -1;
    }
    binds = calloc(g->n_ls ? g->n_ls : 1, sizeof *binds);
    c->stats = stats_claim(m->page, slot, g->id);
    if (binds == NULL || c->stats == NULL) {
        log_error("cannot start a worker: out of memory or stats blocks");
        goto fail;
    }
    for (size_t i = 0; i < g->cfg->n_servers; i++)
        stats_name_server(m->page, c->stats, i, http_status_server_name(&g->cfg->servers[i]));
    for (size_t i = 0; i < g->n_ls; i++) {
        binds[i].fd = listen_fd_for_slot(g->ls[i].l, (size_t)slot);
        binds[i].shared = !g->ls[i].l->reuseport;
        binds[i].servers = g->ls[i].servers;
        binds[i].n_servers = g->ls[i].n_servers;
    }

    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        close(sv[0]);
        struct worker_args a = {
            .cfg = g->cfg, .slot = slot, .generation = g->id, .page = m->page,
            .stats = c->stats, .channel = sv[1], .master = getppid(),
            .binds = binds, .n_binds = g->n_ls, .access_logs = g->access_logs,
            .detach_stderr = m->detach_stderr,
        };
        c->stats->pid = getpid();
        _exit(worker_main(&a));
    }
    close(sv[1]);
    free(binds);
    c->stats->pid = pid;
    c->pid = pid;
    c->slot = slot;
    c->gen = g;
    c->io.fd = sv[0];
    c->io.fn = on_channel;
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    loop_add(m->loop, &c->io, LOOP_READ);
    c->next = m->children;
    m->children = c;
    g->alive++;
    g->slots[slot].started = loop_now(m->loop);
    log_info("started worker %d (slot %d, generation %u)", (int)pid, slot, g->id);
    return 0;
fail:
    if (c->stats)
        stats_retire(m->page, c->stats);
    free(binds);
    close(sv[0]);
    close(sv[1]);
    free(c);
    return -1;
}

static void remove_child(struct master *m, struct child *dead)
{
    for (struct child **pp = &m->children; *pp; pp = &(*pp)->next)
        if (*pp == dead) {
            *pp = dead->next;
            break;
        }
    if (dead->io.fd >= 0) {
        loop_del(m->loop, &dead->io);
        close(dead->io.fd);
    }
    stats_retire(m->page, dead->stats);
    free(dead);
}

/* ------------------------------------------------------------------ */
/* Generations */

static void gen_release(struct master *m, struct gen *g)
{
    for (size_t i = 0; i < g->n_ls; i++) {
        listen_release(&m->listeners, g->ls[i].l);
        free(g->ls[i].servers);
    }
    for (size_t i = 0; g->access_logs && i < g->cfg->n_servers; i++)
        if (g->access_logs[i] >= 0)
            close(g->access_logs[i]);
    free(g->access_logs);
    free(g->slots);
    free(g->ls);
}

/* "FILE:LINE: " where a key was set, or "FILE: " for a default. */
static int where_prefix(char *out, size_t cap, const char *file, int line)
{
    int n = line > 0 ? snprintf(out, cap, "%s:%d: ", file, line)
                     : snprintf(out, cap, "%s: ", file);
    return n < 0 ? 0 : (size_t)n >= cap ? (int)cap - 1 : n;
}

/* Open a server's access log; on failure say where it is configured. */
static int open_access_log(const struct cfg_server *s, char *err, size_t errcap)
{
    int n = where_prefix(err, errcap, s->where.file, s->access_log_line);
    return log_file_open(s->access_log, err + n, errcap - (size_t)n);
}

/* Open the configured error log and make it the log; 0, or -1 with
 * "FILE:LINE: cannot open log file ..." in err. */
static int open_error_log(const struct herd_config *cfg, char *err, size_t errcap)
{
    int n = where_prefix(err, errcap, cfg->where.file, cfg->error_log_line);
    return log_open(cfg->error_log, err + n, errcap - (size_t)n);
}

int master_test_logs(const struct herd_config *cfg, char *err, size_t errcap)
{
    if (strcmp(cfg->error_log, "stderr") != 0) {
        int n = where_prefix(err, errcap, cfg->where.file, cfg->error_log_line);
        int fd = log_file_open(cfg->error_log, err + n, errcap - (size_t)n);
        if (fd < 0)
            return -1;
        close(fd);
    }
    for (size_t i = 0; i < cfg->n_servers; i++) {
        if (cfg->servers[i].access_log == NULL)
            continue;
        int fd = open_access_log(&cfg->servers[i], err, errcap);
        if (fd < 0)
            return -1;
        close(fd);
    }
    err[0] = '\0';
    return 0;
}

/* Attach server `server` to the listener for addr, opening it if needed. */
static int gen_listen(struct master *m, struct gen *g, const struct cfg_server *s,
                      size_t server, const char *addr, char *err, size_t errcap)
{
    struct listen_addr a;
    const char *why;
    if (listen_addr_parse(addr, &a, &why) < 0) {
        snprintf(err, errcap, "%s:%d: listen \"%s\": %s", s->where.file, s->where.line, addr,
                 why);
        return -1;
    }
    char why2[512];
    struct listener *l = listen_acquire(&m->listeners, &a, s->reuseport,
                                        s->protocol == PROTO_HTTP, (int)s->backlog,
                                        (size_t)g->workers, why2, sizeof why2);
    if (l == NULL) {
        snprintf(err, errcap, "%s:%d: %s", s->where.file, s->where.line, why2);
        return -1;
    }
    struct gen_listener *gl = NULL;
    for (size_t i = 0; i < g->n_ls; i++)
        if (g->ls[i].l == l) {
            gl = &g->ls[i];
            listen_release(&m->listeners, l);   /* one reference per generation */
            break;
        }
    if (gl == NULL) {
        gl = &g->ls[g->n_ls++];
        gl->l = l;
    }
    size_t *v = realloc(gl->servers, (gl->n_servers + 1) * sizeof *v);
    if (v == NULL) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    gl->servers = v;
    gl->servers[gl->n_servers++] = server;
    return 0;
}

static struct gen *gen_new(struct master *m, struct herd_config *cfg, char *err, size_t errcap)
{
    struct gen *g = calloc(1, sizeof *g);
    if (g == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    g->cfg = cfg;
    g->workers = config_workers(cfg);
    g->id = m->next_id;
    g->slots = calloc((size_t)g->workers, sizeof *g->slots);
    g->access_logs = calloc(cfg->n_servers, sizeof *g->access_logs);
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_servers; i++)
        n += cfg->servers[i].listen.n;
    g->ls = calloc(n ? n : 1, sizeof *g->ls);
    if (g->slots == NULL || g->ls == NULL || g->access_logs == NULL) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_servers; i++)
        g->access_logs[i] = -1;
    for (size_t i = 0; i < cfg->n_servers; i++) {
        const struct cfg_server *s = &cfg->servers[i];
        if (s->access_log && (g->access_logs[i] = open_access_log(s, err, errcap)) < 0)
            goto fail;
        for (size_t j = 0; j < s->listen.n; j++)
            if (gen_listen(m, g, s, i, s->listen.v[j], err, errcap) < 0)
                goto fail;
    }
    for (int i = 0; i < g->workers; i++) {
        timer_init(&g->slots[i].respawn, on_respawn);
        g->slots[i].m = m;
        g->slots[i].gen = g;
        g->slots[i].index = i;
    }
    m->next_id++;
    g->next = m->gens;
    m->gens = g;
    return g;
fail:
    gen_release(m, g);
    /* Sockets opened only for this attempt are closed; grown groups shrink
     * back to what the running generations use. */
    trim_listeners(m);
    free(g);
    return NULL;
}

/* Tell g's workers to drain, and which of their sockets no longer get new
 * connections (parked or closed): those they empty before leaving. */
static void drain_gen(struct master *m, struct gen *g)
{
    uint32_t *released = calloc(g->n_ls ? g->n_ls : 1, sizeof *released);
    for (struct child *c = m->children; c; c = c->next) {
        if (c->gen != g)
            continue;
        if (released == NULL) {
            kill(c->pid, SIGQUIT);      /* drains without knowing which sockets */
            continue;
        }
        size_t n = 0;
        for (size_t i = 0; i < g->n_ls; i++)
            if (listen_slot_released(g->ls[i].l, (size_t)c->slot))
                released[n++] = (uint32_t)i;
        if (channel_send_drain(c->io.fd, released, n) < 0) {
            log_warn("cannot tell worker %d to drain: %s; sending SIGQUIT", (int)c->pid,
                     strerror(errno));
            kill(c->pid, SIGQUIT);
        }
    }
    free(released);
}

/* Point every listener at generation g's slots: steer new connections to
 * them, park the sockets above (or close them where steering is
 * unavailable), close the sockets of addresses g does not have. */
static void trim_for(struct master *m, const struct gen *g)
{
    for (struct listener *l = m->listeners.head; l; l = l->next) {
        size_t need = 0;
        for (size_t i = 0; i < g->n_ls; i++)
            if (g->ls[i].l == l)
                need = (size_t)g->workers;
        if (need == 0 || listen_steer(l, need, NULL) < 0) {
            listen_trim(l, need);
            l->active = need;
        }
    }
}

/* Close sockets nobody needs any more: a listener's sockets beyond the
 * largest worker count among the generations still using it. */
static void trim_listeners(struct master *m)
{
    for (struct listener *l = m->listeners.head; l; l = l->next) {
        size_t most = 0;
        for (struct gen *g = m->gens; g; g = g->next)
            for (size_t i = 0; i < g->n_ls; i++)
                if (g->ls[i].l == l && (size_t)g->workers > most)
                    most = (size_t)g->workers;
        listen_trim(l, most);
    }
}

/* A slot of the current generation without a ready worker (dead, backing
 * off, or given up) gets no new connections: steer its reuseport groups to
 * the slots that serve. */
static void steer_around_down_slots(struct gen *g)
{
    bool *down = calloc((size_t)g->workers, sizeof *down);
    if (down == NULL)
        return;
    for (int i = 0; i < g->workers; i++)
        down[i] = g->slots[i].down;
    for (size_t i = 0; i < g->n_ls; i++)
        if (g->ls[i].l->steered)
            listen_steer(g->ls[i].l, (size_t)g->workers, down);
    free(down);
}

static bool slot_has_worker(const struct master *m, const struct gen *g, int slot)
{
    for (const struct child *c = m->children; c; c = c->next)
        if (c->gen == g && c->slot == slot)
            return true;
    return false;
}

/* Connections already queued on a down slot's sockets (and handshakes that
 * were steered there before it went down) would wait for the respawn: hand
 * the sockets to a ready worker of another slot, which accepts from them
 * until the slot's own worker is ready again. */
static void lend_slot(struct master *m, struct gen *g, int slot)
{
    struct slot *s = &g->slots[slot];
    if (g != m->current || g->stopped || s->borrower || slot_has_worker(m, g, slot))
        return;
    struct child *to = NULL;
    for (struct child *c = m->children; c && to == NULL; c = c->next)
        if (c->gen == g && c->ready && !g->slots[c->slot].down)
            to = c;
    if (to == NULL)
        return;
    uint32_t who = (uint32_t)slot;
    for (uint32_t i = 0; i < (uint32_t)g->n_ls; i++) {
        const struct listener *l = g->ls[i].l;
        if (!l->reuseport || (size_t)slot >= l->n_fds)
            continue;
        if (channel_send_borrow(to->io.fd, i, who, l->fds[slot]) < 0)
            log_warn("cannot lend slot %d's socket to worker %d: %s", slot, (int)to->pid,
                     strerror(errno));
    }
    s->borrower = to;
    log_info("slot %d has no worker: worker %d (slot %d) accepts from its sockets meanwhile",
             slot, (int)to->pid, to->slot);
}

static void lend_down_slots(struct master *m, struct gen *g)
{
    for (int i = 0; i < g->workers; i++)
        if (g->slots[i].down)
            lend_slot(m, g, i);
}

/* The slot's own worker is ready: steer to it again, take its sockets back. */
static void slot_up(struct master *m, struct gen *g, int slot)
{
    struct slot *s = &g->slots[slot];
    s->down = false;
    steer_around_down_slots(g);
    if (s->borrower == NULL)
        return;
    if (channel_send_give_back(s->borrower->io.fd, (uint32_t)slot) < 0)
        log_warn("cannot take slot %d's sockets back from worker %d: %s", slot,
                 (int)s->borrower->pid, strerror(errno));
    s->borrower = NULL;
    (void)m;
}

static void gen_maybe_free(struct master *m, struct gen *g)
{
    if (g->alive > 0 || g == m->current || g == m->pending)
        return;
    for (struct gen **pp = &m->gens; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    for (int i = 0; i < g->workers; i++)
        loop_timer_cancel(m->loop, &g->slots[i].respawn);
    gen_release(m, g);
    trim_listeners(m);
    log_info("generation %u finished", g->id);
    config_free(g->cfg);
    free(g);
}

static int gen_start_workers(struct master *m, struct gen *g)
{
    for (int i = 0; i < g->workers; i++)
        if (spawn(m, g, i) < 0)
            return -1;
    return 0;
}

static void maybe_exit(struct master *m)
{
    if ((m->quitting || m->terminating) && m->children == NULL)
        loop_stop(m->loop);
}

/* Every worker of the pending generation is ready: it takes over. */
static void commit_pending(struct master *m)
{
    struct gen *g = m->pending;
    struct gen *old = m->current;
    m->pending = NULL;
    loop_timer_cancel(m->loop, &m->ready_timer);
    g->state = GEN_ACTIVE;
    m->current = g;
    m->page->generation = g->id;
    if (old) {
        /* Sockets the new generation does not use (removed addresses, slots
         * beyond its worker count) lose the master's copy now: the draining
         * workers accept what is queued on them and close theirs, so they
         * leave their reuseport groups instead of collecting connections
         * that nobody would accept. */
        trim_for(m, g);
        old->state = GEN_DRAINING;
        for (int i = 0; i < old->workers; i++)
            loop_timer_cancel(m->loop, &old->slots[i].respawn);
        drain_gen(m, old);
        log_info("generation %u serving; generation %u draining", g->id, old->id);
        gen_maybe_free(m, old);
    } else {
        trim_for(m, g);
        log_info("generation %u serving with %d workers", g->id, g->workers);
    }
    startup_done(m, true);
    char line[64];
    snprintf(line, sizeof line, "ok generation %u", g->id);
    answer_waiters(m, line);
    if (m->reload_again) {
        m->reload_again = false;
        m->waiters = m->next_waiters;
        m->next_waiters = NULL;
        start_reload(m);
    }
}

static void abort_pending(struct master *m, const char *why)
{
    struct gen *g = m->pending;
    m->pending = NULL;
    loop_timer_cancel(m->loop, &m->ready_timer);
    g->state = GEN_FAILED;
    signal_gen(m, g, SIGTERM);
    if (m->current == NULL) {
        /* The first generation could not start: nothing to keep serving. */
        log_error("cannot start: %s", why);
        startup_done(m, false);
        m->exit_status = 1;
        m->terminating = true;
        answer_waiters(m, "error cannot start");
    } else {
        reload_failed(m, why);
    }
    gen_maybe_free(m, g);
    maybe_exit(m);
    if (m->reload_again) {
        /* start_reload answers them itself when the master is stopping. */
        m->reload_again = false;
        m->waiters = m->next_waiters;
        m->next_waiters = NULL;
        start_reload(m);
    }
}

static void on_ready_timeout(struct timer *t)
{
    struct master *m = (struct master *)((char *)t - offsetof(struct master, ready_timer));
    if (m->pending)
        abort_pending(m, "new workers did not report ready in time");
}

/* ------------------------------------------------------------------ */
/* Reload */

static void start_reload(struct master *m)
{
    if (m->quitting || m->terminating) {
        answer_waiters(m, "error the master is stopping");
        return;
    }
    char err[1024];
    /* Without -c, the installed file may have appeared (or gone) since. */
    char *path = NULL;
    if (m->opts->conf_given)
        path = strdup(m->opts->conf_path);
    else if (config_choose_path(NULL, &path) < 0)
        path = NULL;
    struct herd_config *cfg = config_load(path, err, sizeof err);
    free(path);
    if (cfg == NULL) {
        reload_failed(m, err);
        return;
    }
    if (m->current && strcmp(cfg->pid_file, m->current->cfg->pid_file) != 0) {
        snprintf(err, sizeof err, "%s:%d: pid_file cannot change on reload (it is %s; restart "
                 "herd to move it)", cfg->where.file, cfg->where.line, m->current->cfg->pid_file);
        config_free(cfg);
        reload_failed(m, err);
        return;
    }
    if (m->current && strcmp(cfg->error_log, m->current->cfg->error_log) != 0) {
        /* New workers inherit the master's log when they are forked. */
        if (open_error_log(cfg, err, sizeof err) < 0) {
            config_free(cfg);
            reload_failed(m, err);
            return;
        }
        log_info("error log is now %s", cfg->error_log);
    }
    log_set_level((enum log_level)cfg->log_level);
    struct gen *g = gen_new(m, cfg, err, sizeof err);
    if (g == NULL) {
        config_free(cfg);
        reload_failed(m, err);
        return;
    }
    g->state = GEN_STARTING;
    m->pending = g;
    log_info("reloading: starting generation %u (%d workers)", g->id, g->workers);
    loop_timer_after(m->loop, &m->ready_timer, READY_TIMEOUT_MS);
    if (gen_start_workers(m, g) < 0)
        abort_pending(m, "cannot start the new workers");
}

static void request_reload(struct master *m, struct control_client *cl)
{
    struct waiter *w = NULL;
    if (cl) {
        w = malloc(sizeof *w);
        if (w == NULL) {
            control_reply(m->ctl, cl, "error out of memory");
            return;
        }
        w->cl = cl;
    }
    if (m->pending) {
        /* One more reload after this one: it will read the file as it is then. */
        m->reload_again = true;
        if (w) {
            w->next = m->next_waiters;
            m->next_waiters = w;
        }
        return;
    }
    if (w) {
        w->next = m->waiters;
        m->waiters = w;
    }
    start_reload(m);
}

/* ------------------------------------------------------------------ */
/* Events */

static void on_control(void *arg, struct control_client *cl, const char *cmd)
{
    struct master *m = arg;
    if (strcmp(cmd, "reload") == 0) {
        request_reload(m, cl);
    } else if (strcmp(cmd, "status") == 0) {
        char *text = NULL;
        stats_render(m->page, STATS_FORMAT_TEXT, time(NULL), &text);
        control_reply(m->ctl, cl, text ? text : "error out of memory");
        free(text);
    } else if (strcmp(cmd, "generation") == 0) {
        char line[64];
        snprintf(line, sizeof line, "ok generation %u", m->current ? m->current->id : 0);
        control_reply(m->ctl, cl, line);
    } else {
        control_reply(m->ctl, cl, "error unknown command");
    }
}

static void child_ready(struct master *m, struct child *c)
{
    if (c->ready)
        return;
    c->ready = true;
    struct gen *g = c->gen;
    g->ready++;
    if (g == m->pending && g->ready == g->workers)
        commit_pending(m);
    else if (g == m->current && g->slots[c->slot].down)
        slot_up(m, g, c->slot);
}

static void on_channel(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    struct child *c = (struct child *)io;
    struct master *m = c->gen->slots[c->slot].m;
    struct channel_msg msg;
    for (;;) {
        switch (channel_recv(io->fd, &msg)) {
        case CHANNEL_MSG:
            if (msg.kind == CHANNEL_READY)
                child_ready(m, c);
            else if (msg.fd >= 0)
                close(msg.fd);
            break;
        case CHANNEL_BAD:
            log_warn("dropped a malformed message from worker %d", (int)c->pid);
            break;
        case CHANNEL_AGAIN:
        case CHANNEL_CLOSED:
            return;     /* EOF: the exit arrives through SIGCHLD */
        }
    }
}

static void on_respawn(struct timer *t)
{
    struct slot *s = (struct slot *)((char *)t - offsetof(struct slot, respawn));
    struct master *m = s->m;
    struct gen *g = s->gen;
    if (g != m->current || m->quitting || m->terminating || g->stopped)
        return;
    spawn(m, g, s->index);
}

static void describe_exit(int status, char *out, size_t cap)
{
    if (WIFEXITED(status))
        snprintf(out, cap, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, cap, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
    else
        snprintf(out, cap, "ended with wait status %d", status);
}

static void child_exited(struct master *m, struct child *c, int status)
{
    struct gen *g = c->gen;
    int slot = c->slot;
    bool was_ready = c->ready;
    char how[128];
    describe_exit(status, how, sizeof how);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_OK;
    bool expected = g->state == GEN_DRAINING || g->state == GEN_FAILED || g->stopped ||
                    m->quitting || m->terminating;
    enum log_level lv = expected && clean ? LOG_INFO : LOG_WARN;
    log_msg(lv, "worker %d (slot %d, generation %u) %s", (int)c->pid, slot, g->id, how);

    /* Sockets it had borrowed from down slots go to another worker below. */
    for (int i = 0; i < g->workers; i++)
        if (g->slots[i].borrower == c)
            g->slots[i].borrower = NULL;
    remove_child(m, c);
    g->alive--;
    if (was_ready)
        g->ready--;

    if (g == m->pending) {
        char why[256];
        snprintf(why, sizeof why, "a new worker (slot %d) %s before it was ready", slot, how);
        abort_pending(m, why);      /* frees g when this was its last worker */
        return;
    } else if (g == m->current && !expected) {
        struct slot *s = &g->slots[slot];
        s->down = true;
        steer_around_down_slots(g);
        if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
            s->given_up = true;
            log_error("worker slot %d cannot start (see above); not respawning it until a reload",
                      slot);
        } else {
            /* At once after a stable run; then 100 ms, doubling to 30 s
             * while the slot keeps failing. */
            if (loop_now(m->loop) - s->started >= RESPAWN_STABLE_MS)
                s->backoff = 0;
            if (s->backoff == 0) {
                s->backoff = RESPAWN_MIN_MS;
                spawn(m, g, slot);
            } else {
                log_warn("slot %d keeps failing; respawning in %lld ms", slot,
                         (long long)s->backoff);
                loop_timer_after(m->loop, &s->respawn, s->backoff);
                s->backoff = s->backoff * 2 > RESPAWN_MAX_MS ? RESPAWN_MAX_MS : s->backoff * 2;
            }
        }
    }
    if (g == m->current)
        lend_down_slots(m, g);
    gen_maybe_free(m, g);
    maybe_exit(m);
}

static void reap(struct master *m)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        struct child *c = child_by_pid(m, pid);
        if (c)
            child_exited(m, c, status);
        else if (pid == m->new_master)
            upgrade_ended(m, status);
    }
}

static void on_kill_timer(struct timer *t)
{
    struct master *m = (struct master *)((char *)t - offsetof(struct master, kill_timer));
    for (struct child *c = m->children; c; c = c->next) {
        log_warn("worker %d did not stop; killing it", (int)c->pid);
        kill(c->pid, SIGKILL);
    }
}

/* USR1: reopen the error log and every access log (the master opens them,
 * as root, and passes them to the workers, which run as an unprivileged user). */
static void reopen_logs(struct master *m)
{
    const struct herd_config *cfg = m->current ? m->current->cfg : NULL;
    if (cfg && strcmp(cfg->error_log, "stderr") != 0) {
        char why[1024];
        if (log_open(cfg->error_log, why, sizeof why) < 0) {
            log_error("reopen: %s", why);
        } else {
            for (struct child *c = m->children; c; c = c->next)
                if (channel_send_reopen(c->io.fd, log_fd()) < 0)
                    log_warn("cannot pass the reopened error log to worker %d: %s",
                             (int)c->pid, strerror(errno));
        }
    }
    for (struct gen *g = m->gens; g; g = g->next)
        for (uint32_t i = 0; i < g->cfg->n_servers; i++) {
            const char *path = g->cfg->servers[i].access_log;
            if (g->access_logs[i] < 0 || path == NULL)
                continue;
            char why[1024];
            int fd = log_file_open(path, why, sizeof why);
            if (fd < 0) {
                log_error("reopen: %s", why);
                continue;
            }
            close(g->access_logs[i]);
            g->access_logs[i] = fd;
            for (struct child *c = m->children; c; c = c->next)
                if (c->gen == g && channel_send_access_log(c->io.fd, i, fd) < 0)
                    log_warn("cannot pass a reopened access log to worker %d: %s",
                             (int)c->pid, strerror(errno));
        }
    log_info("reopened log files");
}

static void begin_quit(struct master *m)
{
    if (m->quitting || m->terminating)
        return;
    m->quitting = true;
    log_info("graceful stop: draining the workers");
    if (m->pending)
        abort_pending(m, "the master is stopping");
    for (struct child *c = m->children; c; c = c->next)
        kill(c->pid, SIGQUIT);
    /* Workers exit by shutdown_timeout; this is only the safety net. */
    int64_t most = 0;
    for (struct gen *g = m->gens; g; g = g->next)
        if (g->cfg->shutdown_timeout > most)
            most = g->cfg->shutdown_timeout;
    loop_timer_after(m->loop, &m->kill_timer, most + KILL_GRACE_MS);
    maybe_exit(m);
}

static void begin_terminate(struct master *m)
{
    if (m->terminating)
        return;
    m->terminating = true;
    log_info("fast stop");
    if (m->pending)
        abort_pending(m, "the master is stopping");
    for (struct child *c = m->children; c; c = c->next)
        kill(c->pid, SIGTERM);
    loop_timer_after(m->loop, &m->kill_timer, KILL_GRACE_MS);
    maybe_exit(m);
}

static void stop_workers(struct master *m)
{
    struct gen *g = m->current;
    if (g == NULL || g->stopped)
        return;
    g->stopped = true;
    log_info("WINCH: stopping the workers of generation %u gracefully", g->id);
    signal_gen(m, g, SIGQUIT);
}

/* ------------------------------------------------------------------ */
/* Binary upgrade (USR2): start the binary installed at our path as a new
 * master that inherits every listening socket, the way systemd passes them
 * (LISTEN_FDS from fd 3, LISTEN_PID, LISTEN_FDNAMES). Both masters serve
 * until the operator stops the old one (WINCH, then QUIT) or the new one
 * (rollback: HUP to the old master brings its workers back). */

static void exec_new_master(struct master *m, const int *fds, size_t n)
{
    /* The counters go on in the new master: their page, above the sockets. */
    stats_pass_on((int)(3 + n));
    /* Move the sockets to 3..3+n-1 without clobbering one another: first
     * above the target range, then down; dup2 clears FD_CLOEXEC. */
    int *high = calloc(n ? n : 1, sizeof *high);
    if (high == NULL)
        _exit(127);
    for (size_t i = 0; i < n; i++)
        high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)(3 + n));
    for (size_t i = 0; i < n; i++)
        if (high[i] < 0 || dup2(high[i], (int)(3 + i)) < 0)
            _exit(127);
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

static void begin_upgrade(struct master *m)
{
    if (m->new_master > 0) {
        log_warn("upgrade: new master %d is already running", (int)m->new_master);
        return;
    }
    if (m->quitting || m->terminating || m->exe[0] == '\0')
        return;
    char old[sizeof m->pid_path + 8];
    oldbin_path(m, old, sizeof old);
    if (rename(m->pid_path, old) < 0) {
        log_error("upgrade: cannot rename %s: %s", m->pid_path, strerror(errno));
        return;
    }
    size_t n = 0;
    for (struct listener *l = m->listeners.head; l; l = l->next)
        n += l->n_fds;
    int *fds = calloc(n ? n : 1, sizeof *fds);
    if (fds == NULL)
        goto undo;
    n = 0;
    for (struct listener *l = m->listeners.head; l; l = l->next)
        for (size_t i = 0; i < l->n_fds; i++)
            fds[n++] = l->fds[i];
    pid_t pid = fork();
    if (pid == 0)
        exec_new_master(m, fds, n);
    free(fds);
    if (pid < 0) {
        log_error("upgrade: fork: %s", strerror(errno));
        goto undo;
    }
    m->new_master = pid;
    log_info("upgrade: started new master %d from %s with %zu sockets; pid file is now %s",
             (int)pid, m->exe, n, old);
    return;
undo:
    if (rename(old, m->pid_path) < 0)
        log_error("upgrade: cannot restore %s: %s", m->pid_path, strerror(errno));
}

/* The new master is gone: this one is the master again. */
static void upgrade_ended(struct master *m, int status)
{
    char how[128], old[sizeof m->pid_path + 8];
    describe_exit(status, how, sizeof how);
    m->new_master = 0;
    oldbin_path(m, old, sizeof old);
    if (pid_file_is_ours(m, old) && rename(old, m->pid_path) < 0)
        log_error("upgrade: cannot restore %s: %s", m->pid_path, strerror(errno));
    /* The new master removed our control socket when it took the path. */
    char err[512];
    if (m->ctl && control_rebind(m->ctl, err, sizeof err) < 0)
        log_error("upgrade: cannot restore the control socket: %s", err);
    log_warn("upgrade: new master %s; this master (%d) takes its pid file back%s", how,
             (int)getpid(), m->current && m->current->stopped ? " (send HUP to restart workers)" : "");
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
            request_reload(m, NULL);
            break;
        case SIGQUIT:
            begin_quit(m);
            break;
        case SIGTERM:
        case SIGINT:
            begin_terminate(m);
            break;
        case SIGUSR1:
            reopen_logs(m);
            break;
        case SIGWINCH:
            stop_workers(m);
            break;
        case SIGUSR2:
            begin_upgrade(m);
            break;
        default:
            break;
        }
    }
}

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
     * a failing start says why there (startup_done detaches it). */
    m->detach_stderr = log_fd() != STDERR_FILENO;
    if (chdir("/") < 0)
        log_warn("chdir(/): %s", strerror(errno));
    return 0;
}

/* The first generation serves (ok) or could not start: tell the waiting
 * parent, and stop copying errors to stderr. */
static void startup_done(struct master *m, bool ok)
{
    if (!m->starting)
        return;
    m->starting = false;
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

int master_main(const struct master_options *opts, struct herd_config *cfg)
{
    struct master m = { .opts = opts, .pid_fd = -1, .startup_pipe = -1, .next_id = 1,
                        .starting = true };
    char err[1024];
    struct gen *g = NULL;

    log_echo_stderr(true);
    if (opts->title) {
        char title[4096];
        snprintf(title, sizeof title, "master process %s", proctitle_command());
        proctitle_set(title);
    }

    if (cfg->embedded)
        log_warn("no configuration file; running on the embedded default "
                 "(HTTP on 127.0.0.1:8080, echo on 127.0.0.1:7007)");
    if (open_error_log(cfg, err, sizeof err) < 0) {
        log_error("%s", err);
        config_free(cfg);
        return 1;
    }
    log_set_level((enum log_level)cfg->log_level);
    if (pid_file_lock(&m, cfg->pid_file) < 0) {
        config_free(cfg);
        return 1;
    }
    raise_fd_limit(cfg);
    m.loop = loop_new(256);
    m.page = stats_map();
    if (m.loop == NULL || m.page == NULL) {
        log_error("cannot start: %s", strerror(errno));
        goto fail;
    }
    ssize_t len = readlink("/proc/self/exe", m.exe, sizeof m.exe - 1);
    m.exe[len > 0 ? len : 0] = '\0';
    timer_init(&m.ready_timer, on_ready_timeout);
    timer_init(&m.kill_timer, on_kill_timer);
    listen_inherit_from_env(&m.listeners);
    g = gen_new(&m, cfg, err, sizeof err);
    if (g == NULL) {
        log_error("%s", err);
        goto fail;
    }
    cfg = NULL;
    listen_drop_unadopted(&m.listeners);
    /* A master started by a binary upgrade is the old master's child and
     * must stay so (the old one watches it); it does not fork again. */
    bool upgraded = getenv("HERD_UPGRADE_FROM") != NULL;
    unsetenv("HERD_UPGRADE_FROM");
    if (!opts->foreground && !upgraded && daemonize(&m) < 0)
        goto fail;
    if (pid_file_write(&m) < 0 || setup_signals(&m) < 0)
        goto fail;
    char path[4096];
    if (control_path(g->cfg->pid_file, path, sizeof path) < 0 ||
        (m.ctl = control_open(m.loop, path, on_control, &m, err, sizeof err)) == NULL) {
        log_error("%s", err[0] ? err : "control socket path too long");
        goto fail;
    }
    log_info("herd %s master %d starting", PACKAGE_VERSION, (int)getpid());
    g->state = GEN_STARTING;
    m.pending = g;
    loop_timer_after(m.loop, &m.ready_timer, READY_TIMEOUT_MS);
    if (gen_start_workers(&m, g) < 0)
        abort_pending(&m, "cannot start the workers");

    loop_run(m.loop);

    log_info("master %d exiting", (int)getpid());
    control_close(m.ctl, 1);
    pid_file_remove(&m);
    while (m.gens) {
        struct gen *x = m.gens;
        m.gens = x->next;
        gen_release(&m, x);
        config_free(x->cfg);
        free(x);
    }
    listen_close_all(&m.listeners);
    stats_unmap(m.page);
    loop_free(m.loop);
    close(m.sig_io.fd);
    return m.exit_status;

fail:
    startup_done(&m, false);
    config_free(cfg);
    pid_file_remove(&m);
    listen_close_all(&m.listeners);
    return 1;
}
