/* TCP echo: every byte read is written back. Back-pressure comes from the
 * connection layer, which stops reading while the output is above its
 * high-water mark, so a client that sends but never reads costs at most that
 * much memory. A connection idle (no bytes either way) for idle_timeout is
 * closed; when the worker drains, idle connections get a short grace.
 * Tested by tests/unit/check_stream_echo.c and tests/integration/test_echo.py;
 * its key by check_config.c and its registry entry by check_proto.c. */
#include "stream/echo.h"

#include <stdlib.h>
#include <unistd.h>

#include "config_engine.h"
#include "conn.h"
#include "proto.h"

#define ECHO_GRACE_MS 1000

/* Deadline kinds (conn.h): no traffic either way; draining: an idle
 * connection's last chance. */
enum { ECHO_TIMER_IDLE = CONN_TIMER_PROTO, ECHO_TIMER_GRACE };

static const struct cfg_key echo_keys[] = {
    { .name = "idle_timeout", .type = CT_DURATION, .offset = CFG_AT(echo_config, idle_timeout),
      .def = "60s", .min = 1, .max = CFG_DAY },
};

static const struct cfg_section echo_section = {
    "echo", sizeof(struct echo_config), echo_keys, CFG_NKEYS(echo_keys), NULL,
};

static void *echo_server_new(const struct cfg_server *cfg, int log_fd, char *err,
                             size_t errcap)
{
    (void)log_fd;
    (void)err;
    (void)errcap;
    return cfg->conf;       /* nothing to build: the server is its keys */
}

static int64_t idle_timeout(const struct conn *c)
{
    return ((const struct echo_config *)c->srv->data)->idle_timeout;
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
        conn_set_timer(c, ECHO_TIMER_IDLE, idle_timeout(c));
}

static void echo_open(struct conn *c)
{
    c->send_timeout = idle_timeout(c);
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

static const struct proto proto_echo = {
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

const struct proto_module echo_module = {
    .config = { .name = "echo", .section = &echo_section },
    .proto = &proto_echo,
};
