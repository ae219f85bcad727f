#include "conn_fixture.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport.h"

struct fixture fx;

static void on_closed(struct conn_owner *o, struct conn *c)
{
    (void)o;
    fx.closed++;
    fx.last_closed = c;
}

void fx_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&fx, 0, sizeof fx);
    memset(&fx_probe, 0, sizeof fx_probe);
    fx.loop = loop_new(64);
    ck_assert_ptr_nonnull(fx.loop);
    fx.stats = aligned_alloc(64, sizeof *fx.stats);
    ck_assert_ptr_nonnull(fx.stats);
    memset(fx.stats, 0, sizeof *fx.stats);
    conn_owner_init(&fx.owner, fx.loop, 16 * 1024, 16 * 1024);
    fx.owner.stats = fx.stats;
    fx.owner.closed = on_closed;
}

void fx_teardown(void)
{
    conn_owner_fini(&fx.owner);
    loop_free(fx.loop);
    free(fx.stats);
}

struct waiter {
    struct timer tick, limit;
    bool (*pred)(void *);
    void *arg;
    bool met;
};

static struct waiter *waiter_of(struct timer *t, size_t off)
{
    return (struct waiter *)((char *)t - off);
}

static void on_tick(struct timer *t)
{
    struct waiter *w = waiter_of(t, offsetof(struct waiter, tick));
    if (w->pred && w->pred(w->arg)) {
        w->met = true;
        loop_stop(fx.loop);
        return;
    }
    loop_timer_after(fx.loop, &w->tick, 1);
}

static void on_limit(struct timer *t)
{
    (void)t;
    loop_stop(fx.loop);
}

bool fx_run_until(bool (*pred)(void *), void *arg, int64_t ms)
{
    if (pred && pred(arg))
        return true;
    struct waiter w = { .pred = pred, .arg = arg };
    timer_init(&w.tick, on_tick);
    timer_init(&w.limit, on_limit);
    loop_update_time(fx.loop);
    loop_timer_after(fx.loop, &w.tick, 1);
    loop_timer_after(fx.loop, &w.limit, ms);
    ck_assert_int_eq(loop_run(fx.loop), 0);
    loop_timer_cancel(fx.loop, &w.tick);
    loop_timer_cancel(fx.loop, &w.limit);
    return w.met;
}

void fx_run_for(int64_t ms)
{
    fx_run_until(NULL, NULL, ms);
}

void fx_socketpair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

void fx_start(struct conn *c, int fd, const struct conn_ops *ops)
{
    fx_start_tp(c, fd, ops, &transport_plain);
}

void fx_start_tp(struct conn *c, int fd, const struct conn_ops *ops,
                 const struct conn_transport *tp)
{
    static const struct server_rt *const none[1] = { NULL };
    struct conn_listen l = { .ops = ops, .tp = tp, .vhosts = none, .n_vhosts = 1 };
    c->prev = c->next = NULL;
    conn_start(c, &fx.owner, fd, NULL, &l);
}

void fx_send(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

bool fx_recv(int fd, char *out, size_t *len, size_t cap)
{
    for (;;) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n > 0) {
            if (*len < cap)
                memcpy(out + *len, chunk, (size_t)n < cap - *len ? (size_t)n : cap - *len);
            *len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN;
    }
}

size_t fx_fill(int fd, unsigned char b)
{
    char chunk[8192];
    memset(chunk, b, sizeof chunk);
    size_t total = 0;
    for (;;) {
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        ck_assert(n < 0 && (errno == EAGAIN || errno == EINTR));
        if (errno == EAGAIN)
            return total;
    }
}

/* ------------------------------------------------------------------ */
/* The probe protocol */

struct fx_probe fx_probe;

static void note(char e)
{
    fx_probe.count[(unsigned char)e]++;
    if (fx_probe.n > 0 && e == 'r' && fx_probe.log[fx_probe.n - 1] == 'r')
        return;
    if (fx_probe.n < sizeof fx_probe.log - 1)
        fx_probe.log[fx_probe.n++] = e;
}

void fx_probe_forget(void)
{
    memset(fx_probe.log, 0, sizeof fx_probe.log);
    memset(fx_probe.count, 0, sizeof fx_probe.count);
    fx_probe.n = 0;
}

bool fx_probe_heard(void *e)
{
    return fx_probe.count[*(unsigned char *)e] > 0;
}

bool fx_closed_at_least(void *n)
{
    return fx.closed >= *(int *)n;
}

static void probe_open(struct conn *c)
{
    note('o');
    fx_probe.data = c->data;
    if (fx_probe.send_timeout)
        c->send_timeout = fx_probe.send_timeout;
    if (fx_probe.greeting)
        conn_write(c, fx_probe.greeting, strlen(fx_probe.greeting));
}

static void probe_sink(struct conn *c, size_t n)
{
    size_t keep = sizeof fx_probe.got - fx_probe.got_len;
    if (keep > n)
        keep = n;
    memcpy(fx_probe.got + fx_probe.got_len, buf_head(c->in), keep);
    fx_probe.got_len += keep;
    buf_consume(c->in, n);
}

static void probe_readable(struct conn *c)
{
    note('r');
    size_t n = conn_in_len(c);
    if (fx_probe.mode == FX_ECHO && n > 0 && conn_write(c, buf_head(c->in), n) == 0)
        buf_consume(c->in, n);
    if (fx_probe.mode == FX_RELAY && n > 0 && c->link &&
        conn_write(c->link, buf_head(c->in), n) == 0)
        buf_consume(c->in, n);
    if (fx_probe.mode == FX_SINK && n > 0)
        probe_sink(c, n);
    if (c->eof)
        conn_close_after_flush(c);
}

static void probe_writable(struct conn *c)
{
    (void)c;
    note('w');
}

static void probe_timeout(struct conn *c, unsigned kind)
{
    note('t');
    fx_probe.kind = kind;
    fx_probe.at = conn_now(c);
}

static void probe_drain(struct conn *c)
{
    (void)c;
    note('d');
}

static void probe_error(struct conn *c, int err)
{
    note('e');
    fx_probe.err = err;
    fx_probe.data = c->data;
}

static void probe_close(struct conn *c)
{
    (void)c;
    note('c');
}

const struct conn_ops fx_probe_ops = {
    .open = probe_open, .readable = probe_readable, .writable = probe_writable,
    .timeout = probe_timeout, .drain = probe_drain, .error = probe_error, .close = probe_close,
};
