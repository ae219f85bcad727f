/* The pid file. The master creates it (and any missing directory, as for
 * /run/herd on a fresh boot) and holds an exclusive flock on it for its
 * whole life: with SO_REUSEPORT a second master could otherwise bind the
 * same ports and share the traffic. `herd -s` finds the master through it.
 *
 * A binary upgrade renames it to PATH.oldbin for the new master to create
 * PATH; the old master takes it back when the new one dies. A master only
 * ever removes the file that is still its own (the inode it locked). */
#ifndef HERD_MASTER_PIDFILE_H
#define HERD_MASTER_PIDFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pidfile {
    int fd;                     /* the locked file; -1: none */
    char path[4096];
};

#define PIDFILE_INIT { .fd = -1 }

/* Open (creating) and lock path. Returns 0, or -1 with the reason in err:
 * "another herd master (pid N) is running with pid file PATH" when another
 * process holds the lock. */
int pidfile_lock(struct pidfile *pf, const char *path, char *err, size_t errcap);
/* Replace the file's content with "PID\n". Returns 0, or -1 with err. */
int pidfile_write(struct pidfile *pf, pid_t pid, char *err, size_t errcap);

/* PATH.oldbin, in out. */
void pidfile_oldbin_path(const struct pidfile *pf, char *out, size_t cap);
/* Rename PATH to PATH.oldbin (a new master is about to start). */
int pidfile_to_oldbin(struct pidfile *pf, char *err, size_t errcap);
/* Rename PATH.oldbin back to PATH when PATH.oldbin is still ours (the new
 * master is gone); nothing to do is success. Returns 0, or -1 with err. */
int pidfile_from_oldbin(struct pidfile *pf, char *err, size_t errcap);
/* Is the file at `path` the one we hold? */
bool pidfile_is_ours(const struct pidfile *pf, const char *path);

/* Unlink the file if it is still ours (at PATH, or at PATH.oldbin after an
 * upgrade, when PATH belongs to the new master), then close it. */
void pidfile_remove(struct pidfile *pf);

#endif
