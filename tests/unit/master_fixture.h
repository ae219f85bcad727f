/* The harness of the master's suites (check_master_*.c): a scratch
 * directory with a configuration of echo workers on a free loopback port,
 * and two ways to run a master on it.
 *
 * - A whole master: master_main in a forked child (mf_run_master), reached
 *   through its signals, its control socket (mf_ask) and its port.
 * - A master built in this process from src/master/internal.h (mfm_new):
 *   the test turns its loop (mfm_turn) and reaps its workers itself, so
 *   what happens between two events is the test's to choose. Its workers
 *   are real processes serving the real port.
 *
 * Nothing waits on a guess: every wait is a poll for a condition, bounded
 * by MF_PATIENCE_MS only so that a broken case fails instead of hanging. */
#ifndef HERD_TESTS_MASTER_FIXTURE_H
#define HERD_TESTS_MASTER_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "master/internal.h"

#define MF_PATIENCE_MS 20000

/* The files of one test, filled by mf_setup. */
struct master_files {
    char dir[64];
    char conf[128];
    char pid_file[128];
    char ctl_path[160];
    char error_log[128];
    char stderr_path[128];      /* the forked master's stderr */
    char private_dir[128];      /* see mf_private_dir */
    int port;                   /* the echo server's */
    pid_t master;               /* the forked master; 0: none (teardown stops it) */
    pid_t watcher;              /* see mf_watch_daemon */
};

extern struct master_files mf;

/* Once, in main: the protocols a configuration may name, as main.c does. */
void mf_init(void);
/* Check's per-test fixture. */
void mf_setup(void);
void mf_teardown(void);
/* A test case added to s whose tests each get the fixture and a minute. */
TCase *mf_tcase(Suite *s, const char *name);

int64_t mf_now_ms(void);

/* Poll for cond every few milliseconds; fail with the message when it does
 * not hold within MF_PATIENCE_MS. */
#define MF_WAIT(cond, ...)                                                  \
    do {                                                                    \
        int64_t mf_deadline_ = mf_now_ms() + MF_PATIENCE_MS;                \
        while (!(cond)) {                                                   \
            ck_assert_msg(mf_now_ms() < mf_deadline_, __VA_ARGS__);         \
            usleep(5000);                                                   \
        }                                                                   \
    } while (0)

/* ------------------------------------------------------------------ */
/* Configuration and files */

/* What mf_write_conf_with writes; NULL or 0 fields take the defaults: one
 * echo worker as "nobody" on 127.0.0.1:mf.port, shutdown_timeout 5s. */
struct mf_conf {
    int workers;
    const char *shutdown_timeout;
    const char *top;            /* more top-level lines */
    const char *protocol;
    const char *listen;         /* the inside of the server's listen list */
    const char *server;         /* more keys of the server */
    const char *more_servers;   /* ", { ... }": servers after it */
};

void mf_write_conf_with(const struct mf_conf *c);
/* `workers` echo workers; `top` goes at the top level. */
void mf_write_conf(int workers, const char *top);

/* DIR/private, made empty (mode 0755) on the first call: the static root
 * of mf_static_server. A test makes it unreadable (chmod 0) so that the
 * workers fail for good as they start (WORKER_EXIT_FATAL): they open it
 * as an unprivileged user (root's master only checks that it exists). */
const char *mf_private_dir(void);
/* The keys of an http server (protocol "http") serving mf_private_dir(). */
const char *mf_static_server(void);
/* ", { ... }": such a server on another free port, for more_servers. */
const char *mf_static_server_elsewhere(void);

/* The whole file (free it), or NULL when there is none. */
char *mf_read(const char *path);
bool mf_file_has(const char *path, const char *needle);
/* Does the error log (mf.error_log) say this (printf format)? */
bool mf_logged(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The inode of path, or 0 when there is none. */
ino_t mf_inode(const char *path);
/* A free loopback port (the kernel's choice, released again). */
int mf_free_port(void);

/* ------------------------------------------------------------------ */
/* Clients of the echo server */

/* A connection to 127.0.0.1:port, or -1 when refused. */
int mf_connect(int port);
/* Send text on fd and read it back (bounded): 0, or -1 when the
 * connection ended or nothing came back. */
int mf_echo_on(int fd, const char *text);
/* One round trip on a new connection to mf.port: 0, or -1 when refused. */
int mf_echo(const char *text);

/* ------------------------------------------------------------------ */
/* Processes */

bool mf_alive(pid_t pid);
/* SIGSTOP pid and wait until it is stopped (it runs no more code then:
 * it accepts nothing, obeys nothing but SIGKILL); SIGCONT it again. */
void mf_stop(pid_t pid);
void mf_cont(pid_t pid);
/* The live children of parent (up to cap of them); returns how many. */
size_t mf_children_of(pid_t parent, pid_t *out, size_t cap);
/* Does pid have a descriptor open on this file or socket? */
bool mf_holds_inode(pid_t pid, dev_t dev, ino_t ino);
/* ... on the file at path? */
bool mf_holds_file(pid_t pid, const char *path);
/* ... on the socket that descriptor fd of this process is? */
bool mf_holds_socket(pid_t pid, int fd);

/* ------------------------------------------------------------------ */
/* A whole master in a forked child */

/* Run master_main on mf.conf in a child (stderr to mf.stderr_path) and
 * return its pid; `foreground` false makes it daemonise. */
pid_t mf_run_master(bool foreground);
/* A daemon is nobody's child: should this test process end on a failed
 * check (without its teardown), the watcher this starts stops the master
 * that the pid file names. */
void mf_watch_daemon(void);
/* Write a configuration of `workers`, run a master in the foreground and
 * wait until its first generation serves; the master is mf.master. */
void mf_start(int workers);
/* Ask the control socket, retrying while no master listens there. */
void mf_ask(const char *cmd, char *reply, size_t cap);
void mf_wait_generation(unsigned id);
/* The pid of slot's worker in `herd -s status`, or 0. */
int mf_worker_of(int slot);
/* Wait for mf.master to exit; returns its exit status. */
int mf_wait_exit(void);

/* A raw control client: send cmd now, read the answer later. */
int mf_ctl_send(const char *cmd);
void mf_ctl_answer(int fd, char *reply, size_t cap);

/* ------------------------------------------------------------------ */
/* A master in this process (src/master/internal.h) */

/* A master as master_main prepares it (mode STARTING, a loop, a counters
 * page; its log captured in memory) for mf.conf, with no generation yet. */
struct master *mfm_new(void);
/* Load mf.conf into a first generation and run until it serves. */
struct gen *mfm_start(struct master *m);
/* mf_write_conf(workers, ""), mfm_new and mfm_start: m->current serves. */
struct master *mfm_serving(int workers);
/* Kill every worker, reap them, free everything. */
void mfm_free(struct master *m);

/* Run the loop for about ms, then reap the workers that have exited (as
 * the master's SIGCHLD handling does). */
void mfm_turn(struct master *m, int64_t ms);
#define MFM_RUN_UNTIL(m, cond, ...)                                         \
    do {                                                                    \
        int64_t mfm_deadline_ = mf_now_ms() + MF_PATIENCE_MS;               \
        while (!(cond)) {                                                   \
            ck_assert_msg(mf_now_ms() < mfm_deadline_, __VA_ARGS__);        \
            mfm_turn((m), 5);                                               \
        }                                                                   \
    } while (0)

/* g's worker in `slot`, or NULL. */
struct child *mfm_child(struct master *m, const struct gen *g, int slot);
/* SIGKILL c's process and reap it at once (the loop does not run). */
void mfm_kill(struct master *m, struct child *c);
/* Wait until c's channel has a message (its READY), without reading it. */
void mfm_wait_channel(const struct child *c);
/* What the in-process master has logged so far (free it). */
char *mfm_log(void);
/* Has it logged this (printf format)? */
bool mfm_logged(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The listener of g's first address. */
struct listener *mfm_listener(const struct gen *g);

#endif
