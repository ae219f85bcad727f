/* The channel between the master and one worker: a SOCK_SEQPACKET
 * socketpair carrying typed messages, some with a descriptor attached
 * (SCM_RIGHTS). Both sides use this module, so it lives below both.
 *
 *   worker → master   READY                      serving
 *   master → worker   REOPEN      + fd           the reopened error log
 *                     ACCESS_LOG  server + fd    server's reopened access log
 *                     RELEASED    listener ids   the master no longer keeps
 *                                                these sockets for the slot
 *                     DRAIN                      drain (after the RELEASED ones)
 *                     BORROW      listener, slot + fd   accept from a down
 *                                                slot's socket meanwhile
 *                     GIVE_BACK   slot           close what was borrowed from it
 *   both ways         IDLE_CONN   + fd, upstream, server, idle since: an idle
 *                                upstream connection a draining worker
 *                                hands over on a reload, passed on by the
 *                                master to a worker of the new generation
 *
 * A listener id is the listener's index in its generation's table (the
 * worker's worker_args.binds). A list of ids of any length is sent as as
 * many RELEASED messages as it takes; nothing is cut short. */
#ifndef HERD_CHANNEL_H
#define HERD_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

enum channel_kind {
    CHANNEL_READY = 1,
    CHANNEL_REOPEN,
    CHANNEL_ACCESS_LOG,
    CHANNEL_RELEASED,
    CHANNEL_DRAIN,
    CHANNEL_BORROW,
    CHANNEL_GIVE_BACK,
    CHANNEL_IDLE_CONN,
};

/* Listener ids in one RELEASED message; longer lists take several. */
#define CHANNEL_MAX_IDS 1024

/* An idle upstream connection on its way to a new generation (IDLE_CONN):
 * a fixed size, so every message is bounded. A name or an address that
 * does not fit is not handed over (the sender closes the connection). */
#define CHANNEL_UPSTREAM_MAX 128    /* an upstream's name, with its NUL */
#define CHANNEL_SERVER_MAX 128      /* a server's address text, with its NUL */
struct channel_idle {
    int64_t since;                  /* idle from then: ms, CLOCK_MONOTONIC */
    char upstream[CHANNEL_UPSTREAM_MAX];
    char server[CHANNEL_SERVER_MAX];
};

/* A message as received. */
struct channel_msg {
    enum channel_kind kind;
    uint32_t server;            /* ACCESS_LOG */
    uint32_t listener;          /* BORROW */
    uint32_t slot;              /* BORROW, GIVE_BACK */
    int fd;                     /* REOPEN, ACCESS_LOG, BORROW, IDLE_CONN: now the
                                   receiver's; else -1 */
    size_t n_ids;               /* RELEASED */
    uint32_t ids[CHANNEL_MAX_IDS];
    struct channel_idle idle;   /* IDLE_CONN: both strings NUL-terminated, not empty */
};

/* Senders: 0, or -1 with errno (EAGAIN when a non-blocking channel is full).
 * A passed descriptor stays open in the sender. */
int channel_send_ready(int ch);
int channel_send_reopen(int ch, int log_fd);
int channel_send_access_log(int ch, uint32_t server, int log_fd);
/* RELEASED messages for the n ids (none when n is 0), then DRAIN. */
int channel_send_drain(int ch, const uint32_t *released, size_t n);
int channel_send_borrow(int ch, uint32_t listener, uint32_t slot, int sock);
int channel_send_give_back(int ch, uint32_t slot);
/* -1 with EINVAL when a string of idle is empty or not terminated. */
int channel_send_idle(int ch, const struct channel_idle *idle, int conn_fd);

enum channel_recv_result {
    CHANNEL_MSG,                /* *msg holds a message */
    CHANNEL_AGAIN,              /* nothing more for now */
    CHANNEL_CLOSED,             /* the other side is gone (or the socket failed: errno) */
    CHANNEL_BAD,                /* a malformed message was read and dropped, with any
                                   descriptor it carried */
};

/* Read one message without blocking. */
enum channel_recv_result channel_recv(int ch, struct channel_msg *msg);

#endif
