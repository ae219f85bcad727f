/* Listening sockets. The master owns them for as long as their address stays
 * in the configuration: one SO_REUSEPORT socket per worker slot (a reuseport
 * group), or one shared socket when reuseport is off. Generations hold
 * references, so a reload with the same addresses reuses every socket. */
#ifndef HERD_LISTEN_H
#define HERD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <sys/types.h>

/* "unix:" and a sun_path of up to 107 bytes */
#define LISTEN_ADDR_TEXT 120

struct listen_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[LISTEN_ADDR_TEXT];     /* canonical "1.2.3.4:80" / "[::1]:80" /
                                        "unix:/run/herd.sock" */
};

/* "host:port", "[v6]:port", "*:port", "port" or "unix:/absolute/path".
 * Returns 0, or -1 with *why. */
int listen_addr_parse(const char *s, struct listen_addr *out, const char **why);
/* The path of a unix-socket address, NULL for an IP one. */
const char *listen_addr_path(const struct listen_addr *a);
/* Why a unix socket cannot be created at path right now, for the
 * configuration check: it exists and is not a socket. NULL when fine
 * (absent, or a socket, live or stale: that is decided when it is bound). */
const char *listen_path_problem(const char *path);

struct listener {
    struct listen_addr addr;
    bool reuseport;
    bool defer_accept;               /* TCP_DEFER_ACCEPT (clients speak first) */
    int backlog;
    int *fds;                        /* fds[slot]; one entry when !reuseport */
    size_t n_fds;
    size_t active;                   /* slots new connections are steered to */
    bool steered;                    /* a steering program is attached */
    int refs;                        /* generations using it */
    /* A unix socket this master created or adopted: the file (device and
     * inode) to remove when the listener closes for good. */
    bool owns_path;
    dev_t path_dev;
    ino_t path_ino;
    struct listener *next;
};

struct listen_set {
    struct listener *head;
    /* sockets inherited from a previous master (LISTEN_FDS), not yet adopted */
    int *inherited;
    size_t n_inherited;
    /* Leave unix socket files in place when closing: another master (a
     * binary upgrade's, old or new) still serves on them. */
    bool keep_paths;
};

/* Find or open the listener for addr with at least `slots` sockets. On
 * success returns it with one more reference. On failure returns NULL with a
 * message in err, having closed whatever this call opened. */
struct listener *listen_acquire(struct listen_set *set,
                                const struct listen_addr *addr, bool reuseport,
                                bool defer_accept, int backlog, size_t slots,
                                char *err, size_t errcap);
/* A unix socket's file mode and owner (uid, gid; (uid_t)-1 / (gid_t)-1
 * leave it as it is); nothing for an IP listener. 0, or -1 with err. */
int listen_unix_access(const struct listener *l, mode_t mode, uid_t uid, gid_t gid, char *err,
                       size_t errcap);
/* Drop one reference; a listener nobody uses is closed (and its unix socket
 * file removed, unless set->keep_paths). `slots_in_use` is the
 * most slots any remaining user needs: sockets above it are closed. */
void listen_release(struct listen_set *set, struct listener *l);
void listen_trim(struct listener *l, size_t slots_in_use);

/* Send new connections of a reuseport group only to its first n sockets
 * (slots 0..n-1), leaving out slot i when down[i] (its worker is dead or
 * backing off; down may be NULL). Sockets above n stay open and idle
 * ("parked") instead of being closed: closing one reorders the group and
 * resets the handshakes in flight on it. Returns 0, or -1 when the kernel
 * cannot steer (then the caller closes the sockets above n instead). */
int listen_steer(struct listener *l, size_t n, const bool *down);
/* Has worker `slot` lost this socket (no longer steered to, or closed)? */
bool listen_slot_released(const struct listener *l, size_t slot);

/* The socket worker `slot` accepts from. */
int listen_fd_for_slot(const struct listener *l, size_t slot);

/* Adopt sockets passed in LISTEN_FDS/LISTEN_FDNAMES (binary upgrade,
 * socket activation). Returns the number found. */
size_t listen_inherit_from_env(struct listen_set *set);
/* Close inherited sockets that no listener adopted. */
void listen_drop_unadopted(struct listen_set *set);
/* Close everything (the master's stop; unix socket files are removed
 * unless set->keep_paths). */
void listen_close_all(struct listen_set *set);

#endif
