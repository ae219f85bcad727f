/* Idle upstream connections (upstream_pool.h).
 * Tested by tests/unit/check_upstream_pool.c. */
#include "upstream_pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "balance.h"
#include "channel.h"
#include "log.h"
#include "transport.h"
#include "upstream.h"

struct upstream_pool {
    struct balancer *bal;           /* whose servers (the key) */
    size_t keepalive;               /* the most idle connections kept */
    size_t n_idle;
    bool counted;                   /* idle ones reported to the balancer */
    struct conn *head, *tail;       /* most recently used first */
    int refs;
    struct upstream_pool *next;     /* every pool of this process */
};

/* An idle connection's proto_state. */
struct pool_idle {
    struct upstream_pool *pool;     /* NULL once the pool is gone */
    struct conn *prev, *next;
    int64_t since;                  /* idle from then (the list's order) */
    int server;
};

_Static_assert(sizeof(struct pool_idle) <= CONN_PROTO_STATE, "fits the connection");

/* Deadline kind (conn.h): idle too long. */
enum { POOL_TIMER_IDLE = CONN_TIMER_PROTO };

/* How long a connection beyond keepalive may stay idle. Closing it at once
 * (as nginx does) turns a steady load of more concurrent requests than
 * keepalive into a connect and a close per few requests, a third of the
 * proxy's CPU in bench/run's proxy_ka (50 clients, keepalive 32); one
 * second keeps a steady load's connections and still gives the extra ones
 * back soon after a burst. */
#define POOL_EXCESS_IDLE_MS 1000

static struct upstream_pool *pools;
/* Draining for a reload: idle connections go to the master over this
 * channel (upstream_pool_hand_over); -1: they are kept. */
static int handover_channel = -1;

static struct pool_idle *idle_of(struct conn *c)
{
    return (struct pool_idle *)c->proto_state;
}

static void list_remove(struct upstream_pool *p, struct conn *c)
{
    struct pool_idle *e = idle_of(c);
    if (e->prev)
        idle_of(e->prev)->next = e->next;
    else
        p->head = e->next;
    if (e->next)
        idle_of(e->next)->prev = e->prev;
    else
        p->tail = e->prev;
    e->prev = e->next = NULL;
    e->pool = NULL;
    p->n_idle--;
    if (p->counted)
        balance_idle(p->bal, e->server, -1);
}

/* Close c from outside its own callbacks. */
static void close_idle(struct conn *c)
{
    struct pool_idle *e = idle_of(c);
    if (e->pool)
        list_remove(e->pool, c);
    conn_close_now(c);
    conn_wake(c);
}

/* ------------------------------------------------------------------ */
/* An idle connection's callbacks */

static void idle_open(struct conn *c)
{
    (void)c;                        /* never: only connected ones are kept */
}

/* A byte or the end while idle: the server closes it, or says something
 * no request asked for. Either way it cannot carry a request. */
static void idle_readable(struct conn *c)
{
    struct pool_idle *e = idle_of(c);
    if (e->pool)
        list_remove(e->pool, c);
    conn_close_now(c);
}

static void idle_writable(struct conn *c)
{
    (void)c;
}

static void idle_timeout(struct conn *c, unsigned kind)
{
    (void)kind;
    idle_readable(c);
}

static void idle_drain(struct conn *c)
{
    (void)c;                        /* the worker's exit closes them */
}

static void idle_error(struct conn *c, int err)
{
    (void)c;
    (void)err;
}

static void idle_close(struct conn *c)
{
    struct pool_idle *e = idle_of(c);
    if (e->pool)
        list_remove(e->pool, c);
}

static const struct conn_ops idle_ops = {
    .open = idle_open,
    .readable = idle_readable,
    .writable = idle_writable,
    .timeout = idle_timeout,
    .drain = idle_drain,
    .error = idle_error,
    .close = idle_close,
};

/* ------------------------------------------------------------------ */
/* Pools */

struct upstream_pool *upstream_pool_ref(struct balancer *b, size_t keepalive)
{
    for (struct upstream_pool *p = pools; p; p = p->next)
        if (p->bal == b) {
            p->refs++;
            return p;
        }
    struct upstream_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->bal = b;
    p->keepalive = keepalive;
    p->refs = 1;
    p->next = pools;
    pools = p;
    return p;
}

void upstream_pool_unref(struct upstream_pool *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    while (p->head)
        close_idle(p->head);
    for (struct upstream_pool **pp = &pools; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    free(p);
}

void upstream_pool_count(struct upstream_pool *p)
{
    p->counted = true;
}

size_t upstream_pool_idle(const struct upstream_pool *p)
{
    return p->n_idle;
}

/* What the loop has told about c: the server's end (EPOLLRDHUP, HUP,
 * ERR), a byte (idle_readable closed it then) or a close of ours. */
static bool open_as_known(const struct conn *c)
{
    return !(c->closing || c->eof || c->peer_hup || conn_in_len(c) > 0);
}

/* Nothing waits to be read and the server has not closed: a request sent
 * now reaches a server that was still listening a moment ago. (It may
 * still close it on its side at the same moment: the caller retries.) */
static bool still_open(struct conn *c)
{
    if (!open_as_known(c))
        return false;
    char byte;
    ssize_t n = recv(c->io.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static struct conn *take(struct upstream_pool *p, int server, const struct conn_ops *ops,
                         void *data, bool peek)
{
    struct conn *c = p->head;
    while (c) {
        struct conn *next = idle_of(c)->next;
        if (idle_of(c)->server != server) {
            c = next;
            continue;
        }
        if (peek ? !still_open(c) : !open_as_known(c)) {
            close_idle(c);
            c = next;
            continue;
        }
        list_remove(p, c);
        conn_cancel_timer(c);
        c->ops = ops;
        c->data = data;
        return c;
    }
    return NULL;
}

struct conn *upstream_pool_take(struct upstream_pool *p, int server, const struct conn_ops *ops,
                                void *data)
{
    return take(p, server, ops, data, true);
}

struct conn *upstream_pool_take_known(struct upstream_pool *p, int server,
                                      const struct conn_ops *ops, void *data)
{
    return take(p, server, ops, data, false);
}

/* Keep c, idle since `since`, in its place in p's list (the most recently
 * used first), until `since + idle_ms`. */
static void link_idle(struct upstream_pool *p, struct conn *c, int server, int64_t since,
                      int64_t idle_ms)
{
    struct pool_idle *e = idle_of(c);
    struct conn *before = p->head;
    while (before && idle_of(before)->since > since)
        before = idle_of(before)->next;
    *e = (struct pool_idle){ .pool = p, .server = server, .since = since, .next = before };
    e->prev = before ? idle_of(before)->prev : p->tail;
    if (e->prev)
        idle_of(e->prev)->next = c;
    else
        p->head = c;
    if (before)
        idle_of(before)->prev = c;
    else
        p->tail = c;
    p->n_idle++;
    if (p->counted)
        balance_idle(p->bal, server, 1);
    conn_set_timer(c, POOL_TIMER_IDLE, idle_ms);
}

/* Draining for a reload: c (idle since `since`, not in a list) goes to the
 * master, which passes it to a worker of the new generation; this
 * process's copy is closed either way. */
static void hand_over(struct upstream_pool *p, struct conn *c, int server, int64_t since)
{
    const char *name = balance_upstream(p->bal)->name;
    const char *addr = balance_server_name(p->bal, server);
    /* The socket lives on elsewhere, so closing our descriptor would leave
     * it in this process's epoll set, its events coming to whatever
     * connection takes this one's place: take it out first. */
    loop_del(c->owner->loop, &c->io);
    struct channel_idle m;
    memset(&m, 0, sizeof m);
    m.since = since;
    /* One the server closed meanwhile would only be closed over there; a
     * transport with state of its own (TLS) cannot travel as a socket. */
    if (still_open(c) && c->tp == &transport_plain && strlen(name) < sizeof m.upstream &&
        strlen(addr) < sizeof m.server && handover_channel >= 0) {
        memcpy(m.upstream, name, strlen(name));
        memcpy(m.server, addr, strlen(addr));
        if (channel_send_idle(handover_channel, &m, c->io.fd) < 0) {
            /* The master is gone: nobody to hand the rest to. */
            log_warn("cannot hand an idle connection to %s over: %s", addr, strerror(errno));
            handover_channel = -1;
        }
    }
    close_idle(c);
}

void upstream_pool_hand_over(int channel)
{
    handover_channel = channel;
    if (channel < 0)
        return;
    for (struct upstream_pool *p = pools; p; p = p->next)
        while (p->head) {
            struct conn *c = p->head;
            struct pool_idle *e = idle_of(c);
            int server = e->server;
            int64_t since = e->since;
            list_remove(p, c);
            hand_over(p, c, server, since);
        }
}

/* The least recently used connections beyond keepalive stay at most
 * POOL_EXCESS_IDLE_MS idle; one idle longer already goes now. */
static void shorten_excess(struct upstream_pool *p, int64_t now)
{
    size_t excess = p->n_idle - p->keepalive;
    struct conn *c = p->tail;
    while (c && excess-- > 0) {
        struct conn *newer = idle_of(c)->prev;
        int64_t due = idle_of(c)->since + POOL_EXCESS_IDLE_MS;
        if (due <= now)
            close_idle(c);
        else if (c->timer_kind != POOL_TIMER_IDLE || c->deadline > due)
            conn_set_timer(c, POOL_TIMER_IDLE, due - now);
        c = newer;
    }
}

void upstream_pool_put(struct upstream_pool *p, struct conn *c, int server, int64_t idle_ms)
{
    struct pool_idle *e = idle_of(c);
    *e = (struct pool_idle){ .server = server };
    c->ops = &idle_ops;
    c->data = NULL;
    if (p->keepalive == 0 || c->closing || c->eof || c->linked || conn_in_len(c) > 0 ||
        conn_out_len(c) > 0) {
        close_idle(c);
        return;
    }
    if (handover_channel >= 0) {
        hand_over(p, c, server, conn_now(c));
        return;
    }
    link_idle(p, c, server, conn_now(c), idle_ms);
    if (p->n_idle > p->keepalive)
        shorten_excess(p, conn_now(c));
}

/* The pool of the upstream called `name` and its server at `addr`. */
static struct upstream_pool *pool_for(const char *name, const char *addr, int *server)
{
    for (struct upstream_pool *p = pools; p; p = p->next) {
        if (strcmp(balance_upstream(p->bal)->name, name) != 0)
            continue;
        for (size_t i = 0; i < balance_servers(p->bal); i++)
            if (strcmp(balance_server_name(p->bal, (int)i), addr) == 0) {
                *server = (int)i;
                return p;
            }
    }
    return NULL;
}

int upstream_pool_adopt(struct conn_owner *o, const struct channel_idle *m, int fd)
{
    int server;
    struct upstream_pool *p = pool_for(m->upstream, m->server, &server);
    const char *why = NULL;
    int64_t left = 0;
    struct conn *c = NULL;
    if (p == NULL)
        why = "its upstream server is not in this configuration";
    else if (p->n_idle >= p->keepalive)
        why = "keepalive idle connections are kept already";
    else if ((left = balance_upstream(p->bal)->keepalive_timeout -
                     (loop_now(o->loop) - m->since)) <= 0)
        why = "idle for keepalive_timeout";
    else if ((c = conn_adopt(o, fd, &idle_ops, &transport_plain, NULL)) == NULL)
        why = strerror(errno);
    if (why) {
        log_debug("an idle connection to %s (%s) handed over: closed: %s", m->server,
                  m->upstream, why);
        close(fd);
        return -1;
    }
    link_idle(p, c, server, m->since, left);
    return 0;
}
