/* Worker slots: forking a slot's worker, hearing it report ready, and its
 * exit. A slot of the current generation:
 *
 *   up (its worker ready) ─worker died─► down ─respawn─► starting ─READY─► up
 *                                         │  at once after a stable run, else
 *                                         │  after a back-off (100 ms doubling
 *                                         │  to 30 s while the slot keeps failing)
 *                                         └─exit status FATAL─► given up (until a reload)
 *
 * A down slot gets no new connections: its reuseport groups are steered
 * to the slots that serve. What was already queued on its sockets would
 * wait for the respawn, so they are lent to a ready worker of another slot
 * (BORROW) until the slot is up again (GIVE_BACK).
 *
 * A draining worker's idle upstream connections (IDLE_CONN, see
 * upstream_pool.h) go on to the serving generation's worker in the same
 * slot, or when that one cannot take them (no such slot, not ready, its
 * channel full) to the next ready one; closed when none can (the master
 * stops, or no generation serves). Each goes to exactly one worker: the
 * master's copy is closed once it is sent.
 * Tested by tests/unit/check_master_slot.c and tests/integration/test_listeners.py. */
#include "master/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "limit_zone.h"
#include "log.h"
#include "proto.h"
#include "worker.h"

#define RESPAWN_MIN_MS 100
#define RESPAWN_MAX_MS 30000
#define RESPAWN_STABLE_MS 5000

static void on_respawn(struct timer *t);
static void on_channel(struct loop *loop, struct loop_io *io, unsigned events);

void slot_init(struct slot *s, struct master *m, struct gen *g, int index)
{
    timer_init(&s->respawn, on_respawn);
    s->m = m;
    s->gen = g;
    s->index = index;
}

/* ------------------------------------------------------------------ */
/* Steering around down slots, lending their sockets */

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
    if (g != m->current || g->state == GEN_STOPPED || s->borrower ||
        slot_has_worker(m, g, slot))
        return;
    struct child *to = NULL;
    for (struct child *c = m->children; c && to == NULL; c = c->next)
        if (c->gen == g && c->ready && !g->slots[c->slot].down)
            to = c;
    if (to == NULL)
        return;
    for (uint32_t i = 0; i < (uint32_t)g->n_ls; i++) {
        const struct listener *l = g->ls[i].l;
        if (!l->reuseport || (size_t)slot >= l->n_fds)
            continue;
        if (channel_send_borrow(to->io.fd, i, (uint32_t)slot, l->fds[slot]) < 0)
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
static void slot_up(struct gen *g, int slot)
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
}

/* ------------------------------------------------------------------ */
/* Forking */

/* What worker `slot` of g listens on: listener i is binds[i]. */
static struct worker_bind *slot_binds(const struct gen *g, int slot)
{
    struct worker_bind *binds = calloc(g->n_ls ? g->n_ls : 1, sizeof *binds);
    for (size_t i = 0; binds && i < g->n_ls; i++) {
        binds[i].fd = listen_fd_for_slot(g->ls[i].l, (size_t)slot);
        binds[i].shared = !g->ls[i].l->reuseport;
        binds[i].servers = g->ls[i].servers;
        binds[i].n_servers = g->ls[i].n_servers;
    }
    return binds;
}

/* In the forked child. */
static void run_worker(struct master *m, struct gen *g, struct child *c,
                       const struct worker_bind *binds, int channel)
{
    struct worker_args a = {
        .cfg = g->cfg, .slot = c->slot, .generation = g->id, .page = m->page,
        .stats = c->stats, .channel = channel, .master = getppid(),
        .binds = binds, .n_binds = g->n_ls, .access_logs = g->access_logs,
        .detach_stderr = m->detach_stderr,
    };
    c->stats->pid = getpid();
    _exit(worker_main(&a));
}

/* The forked worker's record: its channel joins the master's loop. */
static void adopt_child(struct master *m, struct gen *g, struct child *c, pid_t pid, int channel)
{
    c->stats->pid = pid;
    c->pid = pid;
    c->gen = g;
    c->io.fd = channel;
    c->io.fn = on_channel;
    fcntl(channel, F_SETFL, O_NONBLOCK);
    loop_add(m->loop, &c->io, LOOP_READ);
    c->next = m->children;
    m->children = c;
    g->alive++;
    g->slots[c->slot].started = loop_now(m->loop);
    log_info("started worker %d (slot %d, generation %u)", (int)pid, c->slot, g->id);
}

int slot_spawn(struct master *m, struct gen *g, int slot)
{
    int sv[2];
    struct worker_bind *binds = NULL;
    struct child *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->slot = slot;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("socketpair: %s", strerror(errno));
        free(c);
        return -1;
    }
    binds = slot_binds(g, slot);
    c->stats = stats_claim(m->page, slot, g->id);
    if (binds == NULL || c->stats == NULL) {
        log_error("cannot start a worker: out of memory or stats blocks");
        goto fail;
    }
    for (size_t i = 0; i < g->cfg->n_servers; i++)
        stats_name_server(m->page, c->stats, i, proto_stats_label(&g->cfg->servers[i]));
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        close(sv[0]);
        run_worker(m, g, c, binds, sv[1]);
    }
    close(sv[1]);
    free(binds);
    adopt_child(m, g, c, pid, sv[0]);
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

static void on_respawn(struct timer *t)
{
    struct slot *s = (struct slot *)((char *)t - offsetof(struct slot, respawn));
    struct master *m = s->m;
    struct gen *g = s->gen;
    if (g != m->current || master_stopping(m) || g->state == GEN_STOPPED)
        return;
    slot_spawn(m, g, s->index);
}

/* ------------------------------------------------------------------ */
/* Ready */

static void child_ready(struct master *m, struct child *c)
{
    if (c->ready)
        return;
    c->ready = true;
    struct gen *g = c->gen;
    g->ready++;
    if (g == m->pending && g->ready == g->workers)
        gen_commit_pending(m);
    else if (g == m->current && g->slots[c->slot].down)
        slot_up(g, c->slot);
}

/* ------------------------------------------------------------------ */
/* Idle upstream connections handed over */

static struct child *ready_child(struct master *m, const struct gen *g, int slot)
{
    for (struct child *c = m->children; c; c = c->next)
        if (c->gen == g && c->slot == slot && c->ready)
            return c;
    return NULL;
}

struct child *slot_pass_idle(struct master *m, struct child *from,
                             const struct channel_idle *idle, int fd)
{
    struct gen *g = m->current;
    struct child *to = NULL;
    if (g && g != from->gen && g->state == GEN_ACTIVE && from->gen->state == GEN_DRAINING &&
        !master_stopping(m)) {
        for (int k = 0; k < g->workers && to == NULL; k++) {
            to = ready_child(m, g, (from->slot + k) % g->workers);
            if (to && channel_send_idle(to->io.fd, idle, fd) < 0)
                to = NULL;
        }
    }
    close(fd);
    if (to)
        from->passed++;
    else
        from->dropped++;
    return to;
}

/* A message from c. `exiting`: c has exited and this is what it said last:
 * only its connections still matter. */
static void child_said(struct master *m, struct child *c, struct channel_msg *msg, bool exiting)
{
    if (msg->kind == CHANNEL_IDLE_CONN)
        slot_pass_idle(m, c, &msg->idle, msg->fd);
    else if (msg->kind == CHANNEL_READY && !exiting)
        child_ready(m, c);
    else if (msg->fd >= 0)
        close(msg->fd);
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
            child_said(m, c, &msg, false);
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

/* ------------------------------------------------------------------ */
/* Exit */

struct child *slot_child_by_pid(struct master *m, pid_t pid)
{
    for (struct child *c = m->children; c; c = c->next)
        if (c->pid == pid)
            return c;
    return NULL;
}

/* What dead sent before it exited and the loop has not read yet: the
 * idle connections it handed over are passed on, not dropped with the
 * channel. */
static void read_last_words(struct master *m, struct child *dead)
{
    struct channel_msg msg;
    enum channel_recv_result r;
    while (dead->io.fd >= 0 && (r = channel_recv(dead->io.fd, &msg)) != CHANNEL_AGAIN &&
           r != CHANNEL_CLOSED)
        if (r == CHANNEL_MSG)
            child_said(m, dead, &msg, true);
    if (dead->passed || dead->dropped)
        log_info("worker %d handed over %u idle upstream connections; %u passed on, %u closed",
                 (int)dead->pid, dead->passed + dead->dropped, dead->passed, dead->dropped);
}

static void remove_child(struct master *m, struct child *dead)
{
    read_last_words(m, dead);
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

/* A worker of the current generation died unexpectedly. */
static void slot_down(struct master *m, struct gen *g, int slot, int status)
{
    struct slot *s = &g->slots[slot];
    s->down = true;
    steer_around_down_slots(g);
    if (WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_FATAL) {
        s->given_up = true;
        log_error("worker slot %d cannot start (see above); not respawning it until a reload",
                  slot);
        return;
    }
    /* At once after a stable run; then 100 ms, doubling to 30 s while the
     * slot keeps failing. */
    if (loop_now(m->loop) - s->started >= RESPAWN_STABLE_MS)
        s->backoff = 0;
    if (s->backoff == 0) {
        s->backoff = RESPAWN_MIN_MS;
        slot_spawn(m, g, slot);
    } else {
        log_warn("slot %d keeps failing; respawning in %lld ms", slot, (long long)s->backoff);
        loop_timer_after(m->loop, &s->respawn, s->backoff);
        s->backoff = s->backoff * 2 > RESPAWN_MAX_MS ? RESPAWN_MAX_MS : s->backoff * 2;
    }
}

void slot_child_exited(struct master *m, struct child *c, int status)
{
    struct gen *g = c->gen;
    int slot = c->slot;
    bool was_ready = c->ready;
    char how[128];
    cycle_describe_exit(status, how, sizeof how);
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_OK;
    bool expected = g->state == GEN_DRAINING || g->state == GEN_FAILED ||
                    g->state == GEN_STOPPED || master_stopping(m);
    enum log_level lv = expected && clean ? LOG_INFO : LOG_WARN;
    log_msg(lv, "worker %d (slot %d, generation %u) %s", (int)c->pid, slot, g->id, how);

    /* Sockets it had borrowed from down slots go to another worker below. */
    for (int i = 0; i < g->workers; i++)
        if (g->slots[i].borrower == c)
            g->slots[i].borrower = NULL;
    /* What it had in flight in the limit zone is given back by nobody. */
    if (!clean)
        limit_zone_worker_died(c->pid, (size_t)g->cfg->limit_zone_size);
    remove_child(m, c);
    g->alive--;
    if (was_ready)
        g->ready--;

    if (g == m->pending) {
        char why[256];
        snprintf(why, sizeof why, "a new worker (slot %d) %s before it was ready", slot, how);
        gen_abort_pending(m, why);      /* frees g when this was its last worker */
        return;
    }
    if (g == m->current && !expected)
        slot_down(m, g, slot, status);
    if (g == m->current)
        lend_down_slots(m, g);
    gen_maybe_free(m, g);
    cycle_maybe_exit(m);
}
