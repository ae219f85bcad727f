/* Tested by tests/unit/check_control.c. */
#include "master/control.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define CONTROL_LINE 128

struct control_client {
    struct loop_io io;
    struct control *ctl;
    struct control_client *prev, *next;
    char line[CONTROL_LINE];
    size_t len;
    int asked;                  /* a command was dispatched; the reply is due */
};

struct control {
    struct loop_io io;
    struct loop *loop;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    control_cmd_fn *fn;
    void *arg;
    struct control_client *clients;
    ino_t ino;                  /* the socket file we bound, to unlink only it */
};

int control_path(const char *pid_file, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s.ctl", pid_file);
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    return n < 0 || (size_t)n >= cap || (size_t)n >= max ? -1 : 0;
}

static void drop_client(struct control *ctl, struct control_client *cl)
{
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        ctl->clients = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    loop_forget(ctl->loop, &cl->io);
    close(cl->io.fd);
    free(cl);
}

static void on_client(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    struct control_client *cl = (struct control_client *)io;
    struct control *ctl = cl->ctl;
    for (;;) {
        if (cl->asked) {
            /* Waiting for our answer; only notice a client that gave up. */
            char c;
            ssize_t n = recv(io->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0) {
                cl->asked = 2;  /* answer will be dropped */
            }
            return;
        }
        ssize_t n = read(io->fd, cl->line + cl->len, sizeof cl->line - 1 - cl->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            drop_client(ctl, cl);
            return;
        }
        cl->len += (size_t)n;
        cl->line[cl->len] = '\0';
        char *nl = strchr(cl->line, '\n');
        if (nl == NULL) {
            if (cl->len == sizeof cl->line - 1) {
                control_reply(ctl, cl, "error command too long");
                return;     /* cl is gone */
            }
            continue;
        }
        *nl = '\0';
        cl->asked = 1;
        ctl->fn(ctl->arg, cl, cl->line);
        return;
    }
}

static void on_accept(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)events;
    struct control *ctl = (struct control *)io;
    for (;;) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                log_warn("control socket accept: %s", strerror(errno));
            return;
        }
        struct control_client *cl = calloc(1, sizeof *cl);
        if (cl == NULL) {
            close(fd);
            continue;
        }
        cl->io.fd = fd;
        cl->io.fn = on_client;
        cl->ctl = ctl;
        cl->next = ctl->clients;
        if (ctl->clients)
            ctl->clients->prev = cl;
        ctl->clients = cl;
        if (loop_add(loop, &cl->io, LOOP_READ | LOOP_EDGE) < 0) {
            drop_client(ctl, cl);
            continue;
        }
        on_client(loop, &cl->io, LOOP_READ);
    }
}

/* Bind and listen on ctl->path, registered with the loop. */
static int bind_listener(struct control *ctl, char *err, size_t errcap)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    strcpy(sa.sun_path, ctl->path);
    ctl->io.fn = on_accept;
    ctl->io.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ctl->io.fd < 0)
        goto fail;
    /* We hold the pid file lock, so a socket file left here is stale. */
    unlink(ctl->path);
    mode_t old = umask(0077);
    int rc = bind(ctl->io.fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0 || listen(ctl->io.fd, 16) < 0 ||
        loop_add(ctl->loop, &ctl->io, LOOP_READ | LOOP_EDGE) < 0)
        goto fail;
    struct stat st;
    if (stat(ctl->path, &st) == 0)
        ctl->ino = st.st_ino;
    return 0;
fail:
    snprintf(err, errcap, "control socket %s: %s", ctl->path, strerror(errno));
    if (ctl->io.fd >= 0)
        close(ctl->io.fd);
    ctl->io.fd = -1;
    return -1;
}

struct control *control_open(struct loop *loop, const char *path, control_cmd_fn *fn,
                             void *arg, char *err, size_t errcap)
{
    struct control *ctl = calloc(1, sizeof *ctl);
    if (ctl == NULL || strlen(path) >= sizeof ctl->path) {
        snprintf(err, errcap, "control socket path too long: %s", path);
        free(ctl);
        return NULL;
    }
    strcpy(ctl->path, path);
    ctl->loop = loop;
    ctl->fn = fn;
    ctl->arg = arg;
    if (bind_listener(ctl, err, errcap) < 0) {
        free(ctl);
        return NULL;
    }
    return ctl;
}

int control_rebind(struct control *ctl, char *err, size_t errcap)
{
    if (ctl->io.fd >= 0) {
        loop_del(ctl->loop, &ctl->io);
        close(ctl->io.fd);
    }
    return bind_listener(ctl, err, errcap);
}

void control_reply(struct control *ctl, struct control_client *cl, const char *text)
{
    if (cl->asked != 2) {
        /* Small answers fit the socket buffer; a client that went away
         * costs nothing. */
        size_t len = strlen(text);
        ssize_t unused = send(cl->io.fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (len == 0 || text[len - 1] != '\n')
            unused = send(cl->io.fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)unused;
    }
    drop_client(ctl, cl);
}

void control_close(struct control *ctl, int unlink_path)
{
    if (ctl == NULL)
        return;
    while (ctl->clients)
        drop_client(ctl, ctl->clients);
    if (ctl->io.fd >= 0) {
        loop_del(ctl->loop, &ctl->io);
        close(ctl->io.fd);
    }
    /* After a binary upgrade the path belongs to the new master. */
    struct stat st;
    if (unlink_path && stat(ctl->path, &st) == 0 && st.st_ino == ctl->ino)
        unlink(ctl->path);
    free(ctl);
}

int control_request(const char *path, const char *cmd, char *reply, size_t cap, int timeout_ms)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    char line[CONTROL_LINE];
    int n = snprintf(line, sizeof line, "%s\n", cmd);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        write(fd, line, (size_t)n) != n)
        goto fail;
    size_t len = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (len + 1 < cap) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        struct pollfd p = { fd, POLLIN, 0 };
        int r = poll(&p, 1, spent >= timeout_ms ? 0 : (int)(timeout_ms - spent));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            errno = r == 0 ? ETIMEDOUT : errno;
            goto fail;
        }
        ssize_t got = read(fd, reply + len, cap - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    reply[len] = '\0';
    /* One-line answers lose their newline; longer texts stay whole. */
    char *nl = strchr(reply, '\n');
    if (nl && nl[1] == '\0')
        *nl = '\0';
    if (len == 0) {
        errno = ECONNRESET;
        return -1;
    }
    return 0;
fail:
    {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return -1;
}
