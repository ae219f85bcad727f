/* A worker process: its own event loop over its slot's listening sockets.
 *
 *   start ─► drop privileges ─► "ready" to the master ─► serving
 *   serving ─QUIT/channel closed─► draining: stop accepting, finish what is
 *            in flight, close idle connections after a grace, exit when none
 *            is left or shutdown_timeout passes
 *   serving ─DRAIN (a reload)─► the same, and idle upstream connections go
 *            to the new generation through the master (upstream_pool.h)
 *   IDLE_CONN from the master: one of them, kept if it fits (upstream_pool_adopt)
 *   serving/draining ─TERM/INT─► exit at once
 */
#ifndef HERD_WORKER_H
#define HERD_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "conn.h"
#include "loop.h"
#include "stats.h"
#include "timer.h"

/* Exit statuses a worker reports to the master. */
enum {
    WORKER_EXIT_OK = 0,
    WORKER_EXIT_ERROR = 1,      /* respawn */
    WORKER_EXIT_FATAL = 2,      /* will fail again: do not respawn */
};

/* Listener i of a generation (its listener id on the channel, channel.h). */
struct worker_bind {
    int fd;                     /* the listening socket for this slot */
    bool shared;                /* one socket for all workers: EPOLLEXCLUSIVE */
    const size_t *servers;      /* indexes into cfg->servers; the first is the default */
    size_t n_servers;
};

struct worker_args {
    const struct herd_config *cfg;
    int slot;
    uint32_t generation;
    struct stats_page *page;
    struct stats_block *stats;
    int channel;
    pid_t master;
    const struct worker_bind *binds;
    size_t n_binds;
    const int *access_logs;     /* per server: an open access log, or -1 */
    bool detach_stderr;         /* a daemon's worker: stderr to /dev/null once
                                   ready (it may be the starting shell's pipe) */
};

struct worker_listener;

struct worker {
    struct loop *loop;
    const struct herd_config *cfg;
    int slot;
    uint32_t generation;
    struct stats_page *page;
    struct stats_block *stats;
    struct conn_owner owner;        /* what its connections see of it */
    struct server_rt *servers;
    size_t n_servers;
    struct conn *conns;             /* worker_connections of them */
    size_t conns_used;              /* conns[0..conns_used) have been handed out */
    struct conn *free_conns;        /* closed ones among those */
    struct conn *open_conns;        /* doubly linked through prev/next */
    size_t n_open;
    struct worker_listener *listeners;
    size_t n_listeners;
    struct worker_listener *borrowed;   /* sockets of down slots, a list */
    bool draining;
    bool accept_paused;
    bool conns_exhausted;
    struct timer accept_timer;      /* resume after EMFILE */
    struct timer stop_timer;        /* shutdown_timeout */
    struct timer tick_timer;        /* once a second: flush logs */
    struct timer release_timer;     /* draining: close the released sockets */
    size_t n_released;              /* released sockets still being emptied */
    int64_t last_limit_log;
    int64_t last_emfile_log;
};

/* Run a worker in a freshly forked child; returns the exit status. */
int worker_main(const struct worker_args *args);

#endif
