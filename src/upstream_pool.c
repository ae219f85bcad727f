/* Idle upstream connections (upstream_pool.h).
 * Tested by tests/unit/check_upstream_pool.c. */
#include "upstream_pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "balance.h"

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
    int server;
};

_Static_assert(sizeof(struct pool_idle) <= CONN_PROTO_STATE, "fits the connection");

/* Deadline kind (conn.h): idle too long. */
enum { POOL_TIMER_IDLE = CONN_TIMER_PROTO };

static struct upstream_pool *pools;

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

/* Nothing waits to be read and the server has not closed: a request sent
 * now reaches a server that was still listening a moment ago. (It may
 * still close it on its side at the same moment: the caller retries.) */
static bool still_open(struct conn *c)
{
    if (c->closing || c->eof || c->peer_hup || conn_in_len(c) > 0)
        return false;
    char byte;
    ssize_t n = recv(c->io.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

struct conn *upstream_pool_take(struct upstream_pool *p, int server, const struct conn_ops *ops,
                                void *data)
{
    struct conn *c = p->head;
    while (c) {
        struct conn *next = idle_of(c)->next;
        if (idle_of(c)->server != server) {
            c = next;
            continue;
        }
        if (!still_open(c)) {
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
    if (p->n_idle >= p->keepalive)
        close_idle(p->tail);
    e->pool = p;
    e->next = p->head;
    if (p->head)
        idle_of(p->head)->prev = c;
    else
        p->tail = c;
    p->head = c;
    p->n_idle++;
    if (p->counted)
        balance_idle(p->bal, server, 1);
    conn_set_timer(c, POOL_TIMER_IDLE, idle_ms);
}
