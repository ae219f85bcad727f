/* The master's own state, shared by the files of src/master/ and by no one
 * else. The master's mode is drawn in cycle.c, a generation's states in
 * generation.c, a slot's in slot.c. */
#ifndef HERD_MASTER_INTERNAL_H
#define HERD_MASTER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "channel.h"
#include "config.h"
#include "listen.h"
#include "loop.h"
#include "master/control.h"
#include "master/master.h"
#include "master/pidfile.h"
#include "stats.h"
#include "timer.h"
#include "upstream_check.h"

enum master_mode {
    MASTER_STARTING,            /* the first generation does not serve yet */
    MASTER_RUNNING,             /* a current generation is in charge */
    MASTER_RELOADING,           /* ... and a new one is starting (pending) */
    MASTER_QUITTING,            /* workers drain; exit when none is left */
    MASTER_TERMINATING,         /* workers stop at once; exit when none is left */
};

enum gen_state { GEN_STARTING, GEN_ACTIVE, GEN_STOPPED, GEN_DRAINING, GEN_FAILED };

struct gen_listener {
    struct listener *l;
    size_t *servers;            /* virtual hosts on it; the first is the default */
    size_t n_servers;
};

struct master;

/* A worker slot of a generation (slot.c). */
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
    struct gen_listener *ls;    /* a listener's id on the channel is its index */
    size_t n_ls;
    int *access_logs;           /* per server, -1 when it has none */
    struct slot *slots;
    int alive;
    int ready;
    struct ocsp_gen *ocsp;      /* its OCSP staples (ocsp.c); NULL: none */
    struct gen *next;
};

/* A worker process. */
struct child {
    struct loop_io io;          /* channel to the worker */
    pid_t pid;
    int slot;
    struct gen *gen;
    bool ready;
    unsigned passed, dropped;   /* idle connections it handed over (slot_pass_idle) */
    struct stats_block *stats;
    struct child *next;
};

/* A `herd -s reload` waiting for the result. */
struct waiter {
    struct control_client *cl;
    struct waiter *next;
};

struct master {
    const struct master_options *opts;
    enum master_mode mode;
    struct loop *loop;
    struct listen_set listeners;
    struct stats_page *page;
    struct upstream_check *checks;  /* active health checks; NULL: none run */
    struct control *ctl;
    struct loop_io sig_io;
    struct pidfile pid;
    struct gen *gens;           /* newest first */
    struct gen *current;
    struct gen *pending;        /* STARTING or RELOADING: the generation starting */
    struct child *children;
    uint32_t next_id;
    bool reload_again;          /* HUP arrived while a reload was pending */
    struct waiter *waiters;     /* control clients awaiting the pending reload */
    struct waiter *next_waiters;
    struct timer ready_timer, kill_timer;
    struct timer ticket_timer;  /* TLS session ticket key rotation (tickets.c) */
    int startup_pipe;           /* daemonising parent waits on it; -1 */
    bool detach_stderr;         /* daemon: stderr to /dev/null once started */
    bool log_moved;             /* a reload in progress opened its error_log */
    int exit_status;
    char exe[4096];             /* this binary's path, resolved at start */
    pid_t new_master;           /* binary upgrade under way: the new master */
    pid_t upgraded_from;        /* started by a binary upgrade: the old master */
};

static inline bool master_stopping(const struct master *m)
{
    return m->mode == MASTER_QUITTING || m->mode == MASTER_TERMINATING;
}

/* cycle.c */
void cycle_startup_done(struct master *m, bool ok);
void cycle_maybe_exit(struct master *m);
void cycle_describe_exit(int status, char *out, size_t cap);

/* generation.c */
struct gen *gen_new(struct master *m, struct herd_config *cfg, char *err, size_t errcap);
/* Start g's workers as the pending generation (mode STARTING or RELOADING). */
void gen_start(struct master *m, struct gen *g);
/* Fork them, if g is still the pending generation (ocsp.c calls it when
 * the staples it waited for are in). */
void gen_spawn(struct master *m, struct gen *g);
void gen_commit_pending(struct master *m);
void gen_abort_pending(struct master *m, const char *why);
void gen_maybe_free(struct master *m, struct gen *g);
void gen_free_all(struct master *m);
void gen_signal(struct master *m, struct gen *g, int sig);
/* HUP (cl NULL) or `herd -s reload` (cl answered when it is done). */
void gen_request_reload(struct master *m, struct control_client *cl);
void gen_on_ready_timeout(struct timer *t);

/* slot.c */
void slot_init(struct slot *s, struct master *m, struct gen *g, int index);
int slot_spawn(struct master *m, struct gen *g, int slot);
struct child *slot_child_by_pid(struct master *m, pid_t pid);
void slot_child_exited(struct master *m, struct child *c, int status);
/* An idle upstream connection (fd) that draining worker `from` handed
 * over: sent on to a ready worker of the current generation, the same slot
 * first; the master's copy is closed. Returns that worker, or NULL when none
 * could take it (then it is closed). */
struct child *slot_pass_idle(struct master *m, struct child *from,
                             const struct channel_idle *idle, int fd);

/* logs.c */
int logs_open_error(const struct herd_config *cfg, char *err, size_t errcap);
/* Open server i's access log, if it has one, into g->access_logs[i]. */
int logs_open_access(struct gen *g, size_t server, char *err, size_t errcap);
void logs_close_access(struct gen *g);
void logs_reopen(struct master *m);

/* tickets.c: map the ticket key page and set up its timer (before the
 * first fork); 0, or -1 with errno set. */
int tickets_prepare(struct master *m);
void tickets_finish(struct master *m);
/* Rotate the keys if due, and arm the timer for the next rotation by the
 * current generation's ticket_key_rotation (called when a generation
 * takes over, and by the timer). */
void tickets_schedule(struct master *m);
/* ocsp.c: fetch g's OCSP staples. 1: its workers wait for the first ones
 * (gen_spawn comes later), 0: fork them now. */
int ocsp_gen_start(struct master *m, struct gen *g);
/* g is going: stop its fetches. */
void ocsp_gen_end(struct master *m, struct gen *g);

/* upgrade.c */
void upgrade_begin(struct master *m);
void upgrade_ended(struct master *m, int status);

#endif
