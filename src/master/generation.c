/* Generations: every (re)load is one.
 *
 *   STARTING ─all workers ready─► ACTIVE (current) ─next one active─► DRAINING ─► gone
 *      │                            │ WINCH                              ▲
 *      │                            └──► STOPPED ─next one active────────┘
 *      └─a worker died or stayed silent─► FAILED (its workers are stopped;
 *                                          the current generation keeps serving)
 *
 * A generation holds references on its listeners, so sockets of addresses
 * that left the configuration close only when the last generation using
 * them has exited. A reload reads and checks the file and opens its new
 * addresses first; on any error it undoes what it opened and the current
 * generation keeps serving. Otherwise the new generation's workers start,
 * and once all report ready it takes over: the listeners are steered to
 * its slots and the old generation drains. `herd -s reload` waits for that
 * answer (the waiters).
 * Tested by tests/unit/check_master_generation.c. */
#include "master/internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "limit_zone.h"
#include "log.h"
#include "proto.h"
#include "upstream_health.h"

#define READY_TIMEOUT_MS 10000

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

/* A failed reload leaves the master logging where and at the level the
 * generation that keeps serving says: adopt_config switched both early, so
 * that the new generation's workers inherit them. */
static void restore_logging(struct master *m)
{
    if (m->current == NULL)
        return;
    const struct herd_config *cfg = m->current->cfg;
    log_set_level((enum log_level)cfg->log_level);
    if (!m->log_moved)
        return;
    m->log_moved = false;
    char err[512];
    if (logs_open_error(cfg, err, sizeof err) < 0)
        log_error("cannot go back to error log %s: %s", cfg->error_log, err);
}

static void reload_failed(struct master *m, const char *why)
{
    char line[1200];
    restore_logging(m);
    /* The reason last: a syntax error's explanation spans several lines. */
    log_error("reload failed, generation %u keeps serving: %s",
              m->current ? m->current->id : 0, why);
    snprintf(line, sizeof line, "error %s", why);
    answer_waiters(m, line);
}

/* ------------------------------------------------------------------ */
/* Listeners */

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
    struct listener *l = listen_acquire(&m->listeners, &a, s->reuseport, proto_defer_accept(s),
                                        (int)s->backlog, (size_t)g->workers, why2, sizeof why2);
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
    /* Again on every reload, which may have changed them. */
    if (listen_unix_access(l, (mode_t)s->unix_mode_bits, (uid_t)s->unix_uid, (gid_t)s->unix_gid,
                           why2, sizeof why2) < 0) {
        snprintf(err, errcap, "%s:%d: %s", s->where.file, s->where.line, why2);
        return -1;
    }
    return 0;
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

/* ------------------------------------------------------------------ */
/* A generation's life */

static void gen_release(struct master *m, struct gen *g)
{
    for (size_t i = 0; i < g->n_ls; i++) {
        listen_release(&m->listeners, g->ls[i].l);
        free(g->ls[i].servers);
    }
    logs_close_access(g);
    free(g->slots);
    free(g->ls);
}

static int gen_open(struct master *m, struct gen *g, char *err, size_t errcap)
{
    const struct herd_config *cfg = g->cfg;
    for (size_t i = 0; i < cfg->n_servers; i++) {
        const struct cfg_server *s = &cfg->servers[i];
        if (logs_open_access(g, i, err, errcap) < 0)
            return -1;
        for (size_t j = 0; j < s->listen.n; j++)
            if (gen_listen(m, g, s, i, s->listen.v[j], err, errcap) < 0)
                return -1;
    }
    return 0;
}

struct gen *gen_new(struct master *m, struct herd_config *cfg, char *err, size_t errcap)
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
    for (size_t i = 0; g->access_logs && i < cfg->n_servers; i++)
        g->access_logs[i] = -1;     /* none open: gen_release closes only real ones */
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_servers; i++)
        n += cfg->servers[i].listen.n;
    g->ls = calloc(n ? n : 1, sizeof *g->ls);
    if (g->slots == NULL || g->ls == NULL || g->access_logs == NULL) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    if (gen_open(m, g, err, errcap) < 0)
        goto fail;
    for (int i = 0; i < g->workers; i++)
        slot_init(&g->slots[i], m, g, i);
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

void gen_maybe_free(struct master *m, struct gen *g)
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
    ocsp_gen_end(m, g);
    gen_release(m, g);
    trim_listeners(m);
    log_info("generation %u finished", g->id);
    config_free(g->cfg);
    free(g);
}

/* The master is exiting: no worker is left. */
void gen_free_all(struct master *m)
{
    while (m->gens) {
        struct gen *x = m->gens;
        m->gens = x->next;
        ocsp_gen_end(m, x);
        gen_release(m, x);
        config_free(x->cfg);
        free(x);
    }
}

void gen_signal(struct master *m, struct gen *g, int sig)
{
    for (struct child *c = m->children; c; c = c->next)
        if (c->gen == g)
            kill(c->pid, sig);
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

/* ------------------------------------------------------------------ */
/* The pending generation */

void gen_start(struct master *m, struct gen *g)
{
    g->state = GEN_STARTING;
    m->pending = g;
    /* Its workers find their servers' shared health entries at start. */
    upstream_health_register(g->cfg);
    /* ... and the limit zone (the same one while its size stays). */
    limit_zone_map((size_t)g->cfg->limit_zone_size);
    if (m->mode == MASTER_RUNNING)
        m->mode = MASTER_RELOADING;
    loop_timer_after(m->loop, &m->ready_timer, READY_TIMEOUT_MS);
    /* The first OCSP staples before the workers (ocsp.c), for a while. */
    if (ocsp_gen_start(m, g) == 0)
        gen_spawn(m, g);
}

void gen_spawn(struct master *m, struct gen *g)
{
    if (m->pending != g)
        return;
    for (int i = 0; i < g->workers; i++)
        if (slot_spawn(m, g, i) < 0) {
            gen_abort_pending(m, m->current ? "cannot start the new workers"
                                            : "cannot start the workers");
            return;
        }
}

static void start_reload(struct master *m);

/* A HUP that came while the pending generation started is served now. */
static void reload_queued(struct master *m)
{
    if (!m->reload_again)
        return;
    /* start_reload answers them itself when the master is stopping. */
    m->reload_again = false;
    m->waiters = m->next_waiters;
    m->next_waiters = NULL;
    start_reload(m);
}

/* Every worker of the pending generation is ready: it takes over. */
void gen_commit_pending(struct master *m)
{
    struct gen *g = m->pending;
    struct gen *old = m->current;
    m->pending = NULL;
    loop_timer_cancel(m->loop, &m->ready_timer);
    g->state = GEN_ACTIVE;
    m->current = g;
    m->page->generation = g->id;
    limit_zone_settle(true);
    upstream_health_list(g->cfg);
    if (m->checks)
        upstream_check_configure(m->checks, g->cfg);
    /* Sockets the new generation does not use (removed addresses, slots
     * beyond its worker count) lose the master's copy now: the draining
     * workers accept what is queued on them and close theirs, so they
     * leave their reuseport groups instead of collecting connections that
     * nobody would accept. */
    trim_for(m, g);
    if (old) {
        old->state = GEN_DRAINING;
        for (int i = 0; i < old->workers; i++)
            loop_timer_cancel(m->loop, &old->slots[i].respawn);
        drain_gen(m, old);
        log_info("generation %u serving; generation %u draining", g->id, old->id);
        gen_maybe_free(m, old);
    } else {
        log_info("generation %u serving with %d workers", g->id, g->workers);
    }
    if (m->mode == MASTER_STARTING)
        cycle_startup_done(m, true);
    m->mode = MASTER_RUNNING;
    m->log_moved = false;
    /* Its ticket_key_rotation from now on (a shorter one at once). */
    tickets_schedule(m);
    char line[64];
    snprintf(line, sizeof line, "ok generation %u", g->id);
    answer_waiters(m, line);
    reload_queued(m);
}

void gen_abort_pending(struct master *m, const char *why)
{
    struct gen *g = m->pending;
    m->pending = NULL;
    loop_timer_cancel(m->loop, &m->ready_timer);
    g->state = GEN_FAILED;
    gen_signal(m, g, SIGTERM);
    limit_zone_settle(false);
    if (m->current == NULL) {
        /* The first generation could not start: nothing to keep serving. */
        log_error("cannot start: %s", why);
        cycle_startup_done(m, false);
        m->exit_status = 1;
        m->mode = MASTER_TERMINATING;
        answer_waiters(m, "error cannot start");
    } else {
        if (m->mode == MASTER_RELOADING)
            m->mode = MASTER_RUNNING;
        reload_failed(m, why);
    }
    gen_maybe_free(m, g);
    cycle_maybe_exit(m);
    reload_queued(m);
}

void gen_on_ready_timeout(struct timer *t)
{
    struct master *m = (struct master *)((char *)t - offsetof(struct master, ready_timer));
    if (m->pending)
        gen_abort_pending(m, "new workers did not report ready in time");
}

/* ------------------------------------------------------------------ */
/* Reload */

/* Read the file again: the -c one, or without -c the installed one, which
 * may have appeared (or gone) since. NULL with the reason in err. */
static struct herd_config *read_config(struct master *m, char *err, size_t errcap)
{
    char *path = NULL;
    if (m->opts->conf_given)
        path = strdup(m->opts->conf_path);
    else if (config_choose_path(NULL, &path) < 0)
        path = NULL;
    struct herd_config *cfg = config_load(path, err, errcap);
    free(path);
    return cfg;
}

/* What a reload cannot change, or must do before forking. */
static int adopt_config(struct master *m, const struct herd_config *cfg, char *err,
                        size_t errcap)
{
    const struct herd_config *now = m->current ? m->current->cfg : NULL;
    if (now && strcmp(cfg->pid_file, now->pid_file) != 0) {
        snprintf(err, errcap, "%s:%d: pid_file cannot change on reload (it is %s; restart "
                 "herd to move it)", cfg->where.file, cfg->where.line, now->pid_file);
        return -1;
    }
    if (now && strcmp(cfg->error_log, now->error_log) != 0) {
        /* New workers inherit the master's log when they are forked. */
        if (logs_open_error(cfg, err, errcap) < 0)
            return -1;
        m->log_moved = true;
        log_info("error log is now %s", cfg->error_log);
    }
    log_set_level((enum log_level)cfg->log_level);
    return 0;
}

static void start_reload(struct master *m)
{
    if (master_stopping(m)) {
        answer_waiters(m, "error the master is stopping");
        return;
    }
    char err[1024];
    struct herd_config *cfg = read_config(m, err, sizeof err);
    if (cfg == NULL) {
        reload_failed(m, err);
        return;
    }
    struct gen *g = NULL;
    if (adopt_config(m, cfg, err, sizeof err) < 0 ||
        (g = gen_new(m, cfg, err, sizeof err)) == NULL) {
        config_free(cfg);
        reload_failed(m, err);
        return;
    }
    log_info("reloading: starting generation %u (%d workers)", g->id, g->workers);
    gen_start(m, g);
}

void gen_request_reload(struct master *m, struct control_client *cl)
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
    if (m->mode == MASTER_STARTING || m->mode == MASTER_RELOADING) {
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
