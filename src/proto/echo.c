/* TCP echo: every byte read is written back. Back-pressure comes from the
 * connection layer, which stops reading while the output is above its
 * high-water mark, so a client that sends but never reads costs at most that
 * much memory. A connection idle (no bytes either way) for idle_timeout is
 * closed; when the worker drains, idle connections get a short grace. */
#include <stdlib.h>
#include <unistd.h>

#include "conn.h"
#include "proto.h"

#define ECHO_GRACE_MS 1000

/* Deadline kinds (conn.h): no traffic either way; draining: an idle
 * connection's last chance. */
enum { ECHO_TIMER_IDLE = CONN_TIMER_PROTO, ECHO_TIMER_GRACE };

static void *echo_server_new(const struct cfg_server *cfg, int log_fd, char *err,
                             size_t errcap)
{
    (void)log_fd;
    (void)err;
    (void)errcap;
    return (void *)cfg;     /* nothing to build; non-NULL means success */
}

static void echo_server_free(void *server)
{
    (void)server;
}

static void echo_tick(void *server, int64_t now_ms)
{
    (void)server;
    (void)now_ms;
}

static void echo_reopen_log(void *server, int fd)
{
    (void)server;
    close(fd);
}

static void arm_idle(struct conn *c)
{
    if (c->draining)
        conn_set_timer(c, ECHO_TIMER_GRACE, ECHO_GRACE_MS);
    else
        conn_set_timer(c, ECHO_TIMER_IDLE, c->srv->cfg->idle_timeout);
}

static void echo_open(struct conn *c)
{
    c->send_timeout = c->srv->cfg->idle_timeout;
    conn_set_gauge(c, CONN_GAUGE_IDLE);
    arm_idle(c);
}

static void echo_readable(struct conn *c)
{
    size_t n = conn_in_len(c);
    if (n > 0) {
        if (conn_write(c, buf_head(c->in), n) < 0)
            return;
        buf_consume(c->in, n);
        conn_set_gauge(c, CONN_GAUGE_WRITING);
        arm_idle(c);
    }
    if (c->eof)
        conn_close_after_flush(c);
}

static void echo_writable(struct conn *c)
{
    conn_set_gauge(c, CONN_GAUGE_IDLE);
    arm_idle(c);
}

static void echo_timeout(struct conn *c, unsigned kind)
{
    (void)kind;
    conn_close_now(c);
}

static void echo_drain(struct conn *c)
{
    if (conn_out_len(c) == 0)
        arm_idle(c);
}

static void echo_close(struct conn *c)
{
    (void)c;
}

const struct proto proto_echo = {
    .name = "echo",
    .server_new = echo_server_new,
    .server_free = echo_server_free,
    .tick = echo_tick,
    .reopen_log = echo_reopen_log,
    .conn = {
        .open = echo_open,
        .readable = echo_readable,
        .writable = echo_writable,
        .timeout = echo_timeout,
        .drain = echo_drain,
        .close = echo_close,
    },
};
