/* Wire format: one SEQPACKET message per channel message, a header of four
 * u32 in host order (both ends are the same binary on the same machine):
 * kind, server or listener, slot, count of ids; then that many u32 ids, or
 * for IDLE_CONN a struct channel_idle as it is in memory. A descriptor
 * travels as SCM_RIGHTS. The receiver checks every rule of the
 * kind (length, count, descriptor present or absent) and drops what breaks
 * one, closing whatever descriptor came with it.
 * Tested by tests/unit/check_channel.c. */
#include "channel.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct wire_head {
    uint32_t kind;
    uint32_t arg;               /* server (ACCESS_LOG) or listener (BORROW) */
    uint32_t slot;
    uint32_t n_ids;
};

/* What each kind carries. */
static const struct {
    bool fd;
    bool ids;
    size_t body;                /* bytes after the header, when fixed */
} kinds[] = {
    [CHANNEL_READY] = { false, false, 0 },
    [CHANNEL_REOPEN] = { true, false, 0 },
    [CHANNEL_ACCESS_LOG] = { true, false, 0 },
    [CHANNEL_RELEASED] = { false, true, 0 },
    [CHANNEL_DRAIN] = { false, false, 0 },
    [CHANNEL_BORROW] = { true, false, 0 },
    [CHANNEL_GIVE_BACK] = { false, false, 0 },
    [CHANNEL_IDLE_CONN] = { true, false, sizeof(struct channel_idle) },
};

_Static_assert(sizeof(struct channel_idle) <= sizeof ((struct channel_msg *)0)->ids,
               "a body arrives in the ids' room");

#define N_KINDS (sizeof kinds / sizeof kinds[0])
/* Descriptors a message may bring in (one is valid; more are closed). */
#define MAX_FDS 4

/* The header, then `len` bytes of tail (ids or a body). */
static int send_wire(int ch, const struct wire_head *h, const void *tail, size_t len, int fd)
{
    struct iovec iov[2] = {
        { (void *)h, sizeof *h },
        { (void *)tail, len },
    };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
    if (fd >= 0) {
        memset(&control, 0, sizeof control);
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof control.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    for (;;) {
        if (sendmsg(ch, &mh, MSG_NOSIGNAL) >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static int send_simple(int ch, enum channel_kind kind, uint32_t arg, uint32_t slot, int fd)
{
    struct wire_head h = { (uint32_t)kind, arg, slot, 0 };
    return send_wire(ch, &h, NULL, 0, fd);
}

int channel_send_ready(int ch)
{
    return send_simple(ch, CHANNEL_READY, 0, 0, -1);
}

int channel_send_reopen(int ch, int log_fd)
{
    return send_simple(ch, CHANNEL_REOPEN, 0, 0, log_fd);
}

int channel_send_access_log(int ch, uint32_t server, int log_fd)
{
    return send_simple(ch, CHANNEL_ACCESS_LOG, server, 0, log_fd);
}

int channel_send_drain(int ch, const uint32_t *released, size_t n)
{
    for (size_t at = 0; at < n; at += CHANNEL_MAX_IDS) {
        size_t part = n - at < CHANNEL_MAX_IDS ? n - at : CHANNEL_MAX_IDS;
        struct wire_head h = { CHANNEL_RELEASED, 0, 0, (uint32_t)part };
        if (send_wire(ch, &h, released + at, part * sizeof *released, -1) < 0)
            return -1;
    }
    return send_simple(ch, CHANNEL_DRAIN, 0, 0, -1);
}

int channel_send_borrow(int ch, uint32_t listener, uint32_t slot, int sock)
{
    return send_simple(ch, CHANNEL_BORROW, listener, slot, sock);
}

int channel_send_give_back(int ch, uint32_t slot)
{
    return send_simple(ch, CHANNEL_GIVE_BACK, 0, slot, -1);
}

/* Is s a string that ends inside its field of cap bytes and is not empty? */
static bool field_ok(const char *s, size_t cap)
{
    return s[0] != '\0' && memchr(s, '\0', cap) != NULL;
}

static bool idle_ok(const struct channel_idle *idle)
{
    return field_ok(idle->upstream, sizeof idle->upstream) &&
           field_ok(idle->server, sizeof idle->server);
}

int channel_send_idle(int ch, const struct channel_idle *idle, int conn_fd)
{
    if (!idle_ok(idle) || conn_fd < 0) {
        errno = EINVAL;
        return -1;
    }
    struct wire_head h = { CHANNEL_IDLE_CONN, 0, 0, 0 };
    return send_wire(ch, &h, idle, sizeof *idle, conn_fd);
}

/* The descriptors that came with mh, into fds; returns how many. */
static size_t take_fds(struct msghdr *mh, int *fds)
{
    size_t n = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && n < MAX_FDS; i++)
            memcpy(&fds[n++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
    }
    return n;
}

/* Does a message of `len` bytes with header h and n_fds descriptors keep
 * the rules of its kind? */
static bool well_formed(const struct wire_head *h, size_t len, size_t n_fds)
{
    if (len < sizeof *h || h->kind == 0 || h->kind >= N_KINDS)
        return false;
    if (n_fds != (kinds[h->kind].fd ? 1u : 0u))
        return false;
    if (kinds[h->kind].body)
        return h->n_ids == 0 && len == sizeof *h + kinds[h->kind].body;
    if (kinds[h->kind].ids ? h->n_ids == 0 || h->n_ids > CHANNEL_MAX_IDS : h->n_ids != 0)
        return false;
    return len == sizeof *h + h->n_ids * sizeof(uint32_t);
}

enum channel_recv_result channel_recv(int ch, struct channel_msg *msg)
{
    struct wire_head h;
    struct iovec iov[2] = { { &h, sizeof h }, { msg->ids, sizeof msg->ids } };
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf };
    ssize_t n;
    do
        n = recvmsg(ch, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return CHANNEL_AGAIN;
    if (n <= 0)
        return CHANNEL_CLOSED;
    int fds[MAX_FDS];
    size_t n_fds = take_fds(&mh, fds);
    bool ok = !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && well_formed(&h, (size_t)n, n_fds);
    if (ok && h.kind == CHANNEL_IDLE_CONN) {
        memcpy(&msg->idle, msg->ids, sizeof msg->idle);
        ok = idle_ok(&msg->idle);
    }
    if (!ok) {
        for (size_t i = 0; i < n_fds; i++)
            close(fds[i]);
        errno = EBADMSG;
        return CHANNEL_BAD;
    }
    msg->kind = (enum channel_kind)h.kind;
    msg->server = msg->kind == CHANNEL_ACCESS_LOG ? h.arg : 0;
    msg->listener = msg->kind == CHANNEL_BORROW ? h.arg : 0;
    msg->slot = h.slot;
    msg->n_ids = h.n_ids;
    msg->fd = n_fds ? fds[0] : -1;
    return CHANNEL_MSG;
}
