#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "conn_proxy_header.h"
#include "log.h"
#include "proctitle.h"
#include "proto.h"
#include "transport.h"
#include "transport_tls.h"
#include "upstream_pool.h"
#include "worker_process.h"

/* Accepts per wake-up of one listener before yielding to the connections. */
#define ACCEPT_BATCH 128
/* Pause after EMFILE/ENFILE before trying accept() again. */
#define ACCEPT_PAUSE_MS 100
/* How long a draining worker keeps accepting on a socket the master dropped:
 * new connections no longer go there, but handshakes in flight still may. */
#define RELEASE_GRACE_MS 1000

struct worker_listener {
    struct loop_io io;
    struct worker *worker;
    struct conn_listen bind;    /* what its connections start with */
    bool shared;
    bool released;              /* the master no longer keeps this socket */
    struct loop_defer more;     /* the batch limit stopped before EAGAIN */
    int lent_by;                /* borrowed from this down slot; -1: our own */
    struct worker_listener *next;   /* in worker.borrowed */
};

struct worker_signals {
    struct loop_io io;
    struct worker *worker;
};

struct worker_channel {
    struct loop_io io;
    struct worker *worker;
};

static void begin_drain(struct worker *w);

/* ------------------------------------------------------------------ */
/* Connections */

/* A free slot of the table: a closed connection, or one never used (the
 * table is touched only as far as it has been used). */
static struct conn *conn_get(struct worker *w)
{
    struct conn *c = w->free_conns;
    if (c)
        w->free_conns = c->next;
    else if (w->conns_used < (size_t)w->cfg->worker_connections)
        c = &w->conns[w->conns_used++];
    else
        return NULL;
    c->prev = NULL;
    c->next = w->open_conns;
    if (w->open_conns)
        w->open_conns->prev = c;
    w->open_conns = c;
    w->n_open++;
    return c;
}

static void accept_all(struct worker *w, struct worker_listener *wl, int limit);

/* The connection layer hands a closed connection back. */
static void on_conn_closed(struct conn_owner *o, struct conn *c)
{
    struct worker *w = (struct worker *)((char *)o - offsetof(struct worker, owner));
    if (c->prev)
        c->prev->next = c->next;
    else
        w->open_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = NULL;
    c->next = w->free_conns;
    w->free_conns = c;
    w->n_open--;
    stats_sub(w->stats, STAT_ACTIVE, 1);
    stats_add(w->stats, STAT_HANDLED, 1);

    if (w->draining && w->n_open == 0 && w->n_released == 0) {
        loop_stop(w->loop);
        return;
    }
    if (w->conns_exhausted) {
        /* Connections waited in the backlog for a free slot. */
        w->conns_exhausted = false;
        for (size_t i = 0; i < w->n_listeners; i++)
            loop_defer(w->loop, &w->listeners[i].more);
        for (struct worker_listener *b = w->borrowed; b; b = b->next)
            loop_defer(w->loop, &b->more);
    }
}

/* ------------------------------------------------------------------ */
/* Accepting */

static void on_accept_resume(struct timer *t)
{
    struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, accept_timer));
    w->accept_paused = false;
    for (size_t i = 0; i < w->n_listeners; i++)
        accept_all(w, &w->listeners[i], ACCEPT_BATCH);
    for (struct worker_listener *b = w->borrowed; b; b = b->next)
        loop_defer(w->loop, &b->more);
}

/* Accept until EAGAIN, or `limit` connections (then come back later). */
static void accept_all(struct worker *w, struct worker_listener *wl, int limit)
{
    static const int one = 1;
    for (int n = 0; (!w->draining || wl->released) && !w->accept_paused; n++) {
        if (n == limit) {
            loop_defer(w->loop, &wl->more);
            return;
        }
        if (w->free_conns == NULL && w->conns_used == (size_t)w->cfg->worker_connections) {
            /* Leave the rest in the backlog until a connection closes. */
            w->conns_exhausted = true;
            if (loop_now(w->loop) - w->last_limit_log > 60000) {
                w->last_limit_log = loop_now(w->loop);
                log_warn("worker_connections (%lld) reached; new connections wait",
                         (long long)w->cfg->worker_connections);
            }
            return;
        }
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof peer;
        int fd = accept4(wl->io.fd, (struct sockaddr *)&peer, &peer_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            switch (errno) {
            case EAGAIN:
            case EBADF:     /* a released socket already closed */
                return;
            case EINTR:
            case ECONNABORTED:
            case EPROTO:
            case EPERM:
                continue;
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM:
                /* Retrying at once would spin: wait, and say so once a minute. */
                if (loop_now(w->loop) - w->last_emfile_log > 60000) {
                    w->last_emfile_log = loop_now(w->loop);
                    log_error("accept4: %s; pausing accepts for %d ms at a time",
                              strerror(errno), ACCEPT_PAUSE_MS);
                }
                w->accept_paused = true;
                loop_timer_after(w->loop, &w->accept_timer, ACCEPT_PAUSE_MS);
                return;
            default:
                log_error("accept4: %s", strerror(errno));
                return;
            }
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = conn_get(w);
        stats_add(w->stats, STAT_ACCEPTED, 1);
        stats_add(w->stats, STAT_ACTIVE, 1);
        conn_start(c, &w->owner, fd, (struct sockaddr *)&peer, &wl->bind);
    }
}

static void on_listener(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    struct worker_listener *wl = (struct worker_listener *)io;
    accept_all(wl->worker, wl, ACCEPT_BATCH);
}

static void on_listener_more(struct loop *loop, struct loop_defer *d)
{
    (void)loop;
    struct worker_listener *wl =
        (struct worker_listener *)((char *)d - offsetof(struct worker_listener, more));
    accept_all(wl->worker, wl, ACCEPT_BATCH);
}

/* ------------------------------------------------------------------ */
/* Sockets borrowed from slots that have no worker (see master/slot.c) */

static void borrow(struct worker *w, uint32_t listener, uint32_t slot, int fd)
{
    struct worker_listener *own = listener < w->n_listeners ? &w->listeners[listener] : NULL;
    struct worker_listener *b = NULL;
    if (own == NULL || w->draining || (b = calloc(1, sizeof *b)) == NULL) {
        close(fd);
        return;
    }
    b->io.fd = fd;
    b->io.fn = on_listener;
    b->worker = w;
    b->bind = own->bind;
    b->lent_by = (int)slot;
    loop_defer_init(&b->more, on_listener_more);
    if (loop_add(w->loop, &b->io, LOOP_READ | LOOP_EDGE) < 0) {
        log_error("worker %d: epoll_ctl(borrowed listener): %s", w->slot, strerror(errno));
        close(fd);
        free(b);
        return;
    }
    b->next = w->borrowed;
    w->borrowed = b;
    /* What queued while the slot was empty. */
    loop_defer(w->loop, &b->more);
}

/* Close the sockets borrowed from `slot` (every one when slot < 0). */
static void give_back(struct worker *w, int slot)
{
    for (struct worker_listener **pp = &w->borrowed; *pp;) {
        struct worker_listener *b = *pp;
        if (slot >= 0 && b->lent_by != slot) {
            pp = &b->next;
            continue;
        }
        *pp = b->next;
        loop_defer_cancel(w->loop, &b->more);
        loop_del(w->loop, &b->io);
        close(b->io.fd);
        free(b);
    }
}

/* ------------------------------------------------------------------ */
/* Stopping */

static void on_tick(struct timer *t)
{
    struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, tick_timer));
    for (size_t i = 0; i < w->n_servers; i++)
        w->servers[i].proto->tick(w->servers[i].data, loop_now(w->loop));
    conn_proxy_header_tick(loop_now(w->loop));
    tls_tick(loop_now(w->loop));
    loop_timer_after(w->loop, &w->tick_timer, 1000);
}

/* Flush what the servers buffer (access logs); the process ends next. */
static void free_servers(struct worker *w)
{
    for (size_t i = 0; i < w->n_servers; i++)
        if (w->servers[i].data)
            w->servers[i].proto->server_free(w->servers[i].data);
    free(w->servers);
    w->servers = NULL;
    w->n_servers = 0;
}

static void on_stop_timer(struct timer *t)
{
    struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, stop_timer));
    log_info("worker %d: shutdown_timeout passed with %zu connections open; exiting",
             w->slot, w->n_open);
    loop_stop(w->loop);
}

static void on_release_timer(struct timer *t)
{
    struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, release_timer));
    for (size_t i = 0; i < w->n_listeners; i++) {
        struct worker_listener *wl = &w->listeners[i];
        if (!wl->released || wl->io.fd < 0)
            continue;
        accept_all(w, wl, -1);
        loop_del(w->loop, &wl->io);
        close(wl->io.fd);
        wl->io.fd = -1;
    }
    w->n_released = 0;
    if (w->n_open == 0)
        loop_stop(w->loop);
}

static void begin_drain(struct worker *w)
{
    if (w->draining)
        return;
    log_debug("worker %d: draining %zu connections", w->slot, w->n_open);
    proctitle_set("worker process is shutting down");
    give_back(w, -1);
    /* Stop accepting and close this process's descriptors. Sockets the
     * new generation uses live on in the master and its workers take what
     * is queued. One the master dropped (a removed address, a slot beyond
     * the new worker count) no longer receives new connections, but
     * handshakes in flight may still land there: keep accepting on it for a
     * grace, then empty it and close, so that it leaves its reuseport group
     * with nothing queued. */
    for (size_t i = 0; i < w->n_listeners; i++) {
        struct worker_listener *wl = &w->listeners[i];
        if (wl->released) {
            w->n_released++;
            continue;
        }
        loop_del(w->loop, &wl->io);
        close(wl->io.fd);
        wl->io.fd = -1;
    }
    if (w->n_released)
        loop_timer_after(w->loop, &w->release_timer, RELEASE_GRACE_MS);
    w->draining = true;
    w->owner.draining = true;
    if (w->n_open == 0 && w->n_released == 0) {
        loop_stop(w->loop);
        return;
    }
    loop_timer_after(w->loop, &w->stop_timer, w->cfg->shutdown_timeout);
    struct conn *c = w->open_conns;
    while (c) {
        /* conn_run may close c: read the link first. A closed connection
         * goes to the free list, never ahead of `next` in the open list. */
        struct conn *next = c->next;
        conn_drain(c);
        c = next;
    }
}

static void on_signal(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    struct worker *w = ((struct worker_signals *)io)->worker;
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        switch (si.ssi_signo) {
        case SIGQUIT:
            begin_drain(w);
            break;
        case SIGTERM:
        case SIGINT:
            log_debug("worker %d: fast stop", w->slot);
            free_servers(w);
            _exit(WORKER_EXIT_OK);
        default:
            break;      /* HUP, USR1, USR2, WINCH are the master's */
        }
    }
}

/* ------------------------------------------------------------------ */
/* The channel to the master */

static void on_message(struct worker *w, int ch, const struct channel_msg *m)
{
    switch (m->kind) {
    case CHANNEL_RELEASED:
        for (size_t i = 0; i < m->n_ids; i++)
            if (m->ids[i] < w->n_listeners)
                w->listeners[m->ids[i]].released = true;
        break;
    case CHANNEL_DRAIN:
        upstream_pool_hand_over(ch);    /* a reload: to the new generation */
        begin_drain(w);
        break;
    case CHANNEL_IDLE_CONN:
        upstream_pool_adopt(&w->owner, &m->idle, m->fd);
        break;
    case CHANNEL_BORROW:
        borrow(w, m->listener, m->slot, m->fd);
        break;
    case CHANNEL_GIVE_BACK:
        give_back(w, (int)m->slot);
        break;
    case CHANNEL_REOPEN:
        log_use_fd(m->fd);
        break;
    case CHANNEL_ACCESS_LOG:
        if (m->server < w->n_servers)
            w->servers[m->server].proto->reopen_log(w->servers[m->server].data, m->fd);
        else
            close(m->fd);
        break;
    default:
        if (m->fd >= 0)
            close(m->fd);
        break;
    }
}

static void on_channel(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    struct worker *w = ((struct worker_channel *)io)->worker;
    struct channel_msg m;
    for (;;) {
        switch (channel_recv(io->fd, &m)) {
        case CHANNEL_MSG:
            on_message(w, io->fd, &m);
            break;
        case CHANNEL_BAD:
            log_warn("worker %d: dropped a malformed message from the master", w->slot);
            break;
        case CHANNEL_AGAIN:
            return;
        case CHANNEL_CLOSED:
            /* The master is gone: finish what we have and leave. */
            log_warn("worker %d: master went away; draining", w->slot);
            loop_del(w->loop, io);
            begin_drain(w);
            return;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Start-up */

static int setup_signals(struct worker_signals *ws)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGWINCH);
    sigaddset(&set, SIGCHLD);
    ws->io.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    ws->io.fn = on_signal;
    return ws->io.fd < 0 ? -1 : 0;
}

static int build_servers(struct worker *w, const int *access_logs)
{
    w->n_servers = w->cfg->n_servers;
    w->servers = calloc(w->n_servers, sizeof *w->servers);
    if (w->servers == NULL)
        return -1;
    for (size_t i = 0; i < w->n_servers; i++) {
        const struct cfg_server *s = &w->cfg->servers[i];
        char err[256];
        w->servers[i].cfg = s;
        w->servers[i].index = i;
        w->servers[i].proto = proto_for(s);
        w->servers[i].data = w->servers[i].proto->server_new(s, access_logs[i], err, sizeof err);
        if (w->servers[i].data == NULL) {
            log_error("%s:%d: %s", s->where.file, s->where.line, err);
            return -1;
        }
    }
    return 0;
}

/* A TLS listener: its servers' contexts (made by the master at load) and
 * the names SNI picks them by. Servers sharing the address agree on TLS
 * (config.c). */
static int bind_tls(struct worker *w, struct conn_listen *l)
{
    size_t n = l->n_vhosts;
    const struct tls_config **cfgs = calloc(n, sizeof *cfgs);
    const struct cfg_strings **names = calloc(n, sizeof *names);
    if (cfgs && names) {
        for (size_t k = 0; k < n; k++) {
            cfgs[k] = l->vhosts[k]->cfg->tls;
            names[k] = proto_server_names(l->vhosts[k]->cfg);
        }
        l->tp_conf = tls_listen_new(cfgs, names, n);
    }
    free(cfgs);
    free(names);
    if (l->tp_conf == NULL) {
        log_error("worker %d: tls: %s", w->slot, strerror(errno ? errno : ENOMEM));
        return -1;
    }
    l->tp = &transport_tls;
    return 0;
}

/* A listener's connections: its servers, the first one's protocol. */
static int bind_servers(struct worker *w, struct conn_listen *l, const struct worker_bind *b)
{
    const struct server_rt **vhosts = calloc(b->n_servers, sizeof *vhosts);
    if (vhosts == NULL)
        return -1;
    for (size_t k = 0; k < b->n_servers; k++)
        vhosts[k] = &w->servers[b->servers[k]];
    l->vhosts = vhosts;
    l->n_vhosts = (uint16_t)b->n_servers;
    l->ops = &vhosts[0]->proto->conn;
    l->tp = &transport_plain;
    if (vhosts[0]->cfg->tls && bind_tls(w, l) < 0)
        return -1;
    /* Servers sharing the address agree on it (config.c). */
    const struct cfg_proxy_protocol *pp = vhosts[0]->cfg->proxy_protocol;
    if (pp && (l->proxy = conn_proxy_accept_new((const char *const *)pp->from.v, pp->from.n,
                                                 pp->timeout)) == NULL) {
        log_error("worker %d: proxy_protocol: %s", w->slot, strerror(errno));
        return -1;
    }
    return 0;
}

static int build_conns(struct worker *w)
{
    /* Cache-line aligned (see conn.h), and not touched here: conn_get
     * hands out slots in order, so pages never used are never mapped. */
    size_t n = (size_t)w->cfg->worker_connections;
    w->conns = aligned_alloc(_Alignof(struct conn), n * sizeof *w->conns);
    return w->conns == NULL ? -1 : 0;
}

/* The slot's listening sockets, each with the servers it serves. */
static int add_listeners(struct worker *w, const struct worker_args *a)
{
    w->listeners = calloc(a->n_binds ? a->n_binds : 1, sizeof *w->listeners);
    if (w->listeners == NULL)
        return -1;
    for (size_t i = 0; i < a->n_binds; i++) {
        struct worker_listener *wl = &w->listeners[w->n_listeners++];
        wl->io.fd = a->binds[i].fd;
        wl->io.fn = on_listener;
        wl->worker = w;
        if (bind_servers(w, &wl->bind, &a->binds[i]) < 0)
            return -1;
        wl->shared = a->binds[i].shared;
        wl->lent_by = -1;
        loop_defer_init(&wl->more, on_listener_more);
        unsigned flags = LOOP_READ | LOOP_EDGE | (wl->shared ? LOOP_EXCLUSIVE : 0);
        if (loop_add(w->loop, &wl->io, flags) < 0) {
            log_error("worker %d: epoll_ctl(listener): %s", a->slot, strerror(errno));
            return -1;
        }
        /* Connections may have queued while this slot was empty. */
        loop_defer(w->loop, &wl->more);
    }
    return 0;
}

int worker_main(const struct worker_args *a)
{
    struct worker w = { 0 };
    struct worker_signals sig = { .worker = &w };
    struct worker_channel chan = { .worker = &w };
    int status = WORKER_EXIT_ERROR;

    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != a->master)
        return WORKER_EXIT_OK;     /* the master died before we got here */
    proctitle_set("worker process");
    worker_process_close_inherited(a);
    signal(SIGPIPE, SIG_IGN);

    w.cfg = a->cfg;
    w.slot = a->slot;
    w.generation = a->generation;
    w.page = a->page;
    w.stats = a->stats;
    /* A few free buffers serve a busy loop; idle connections hold none. */
    conn_owner_init(&w.owner, NULL, 16 * 1024, 16 * 1024);
    w.owner.stats = a->stats;
    w.owner.page = a->page;
    w.owner.closed = on_conn_closed;
    timer_init(&w.accept_timer, on_accept_resume);
    timer_init(&w.stop_timer, on_stop_timer);
    timer_init(&w.tick_timer, on_tick);
    timer_init(&w.release_timer, on_release_timer);
    w.last_limit_log = -120000;
    w.last_emfile_log = -120000;

    if (worker_process_drop_privileges(a->cfg) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        status = WORKER_EXIT_FATAL;
        goto out;
    }
    if (build_servers(&w, a->access_logs) < 0) {
        status = WORKER_EXIT_FATAL;
        goto out;
    }
    if (build_conns(&w) < 0)
        goto out;
    w.loop = loop_new((size_t)a->cfg->worker_connections + 16);
    w.owner.loop = w.loop;
    if (w.loop == NULL || setup_signals(&sig) < 0) {
        log_error("worker %d: cannot set up its loop: %s", a->slot, strerror(errno));
        goto out;
    }
    if (loop_add(w.loop, &sig.io, LOOP_READ) < 0)
        goto out;
    chan.io.fd = a->channel;
    chan.io.fn = on_channel;
    if (loop_add(w.loop, &chan.io, LOOP_READ) < 0)
        goto out;

    if (add_listeners(&w, a) < 0)
        goto out;

    if (channel_send_ready(a->channel) < 0) {
        log_error("worker %d: cannot reach the master: %s", a->slot, strerror(errno));
        goto out;
    }
    /* Serving: errors are the log's alone from now on (see log_echo_stderr),
     * and a daemon's worker must not keep the starting shell's stderr open. */
    log_echo_stderr(false);
    int null;
    if (a->detach_stderr && (null = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0) {
        dup2(null, STDERR_FILENO);
        close(null);
    }
    log_debug("worker %d (generation %u) serving", a->slot, a->generation);
    loop_timer_after(w.loop, &w.tick_timer, 1000);
    status = loop_run(w.loop) < 0 ? WORKER_EXIT_ERROR : WORKER_EXIT_OK;

out:
    /* The process is about to exit: the kernel reclaims memory and sockets;
     * what is visible outside (buffered log lines) is flushed here. */
    free_servers(&w);
    return status;
}
