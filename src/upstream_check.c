/* Active health checks (upstream_check.h): a probe per checked server, a
 * plain non-blocking socket in the master's loop and one timer that is
 * either the next probe's start (idle) or the running probe's deadline.
 * Tested by tests/unit/check_upstream_check.c and
 * tests/integration/test_upstream_health.py. */
#include "upstream_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

enum phase { P_IDLE, P_CONNECTING, P_SENDING, P_READING };

struct probe {
    struct timer timer;         /* idle: the next start; else: the deadline */
    struct loop_io io;          /* fd -1 while idle */
    struct upstream_check *uc;
    struct upstream_health *h;
    struct upstream_addr addr;
    char *req;                  /* the request; NULL: a connect check */
    size_t req_len, sent;
    char resp[160];             /* the start of the response */
    size_t got;
    int64_t interval, timeout, fails, passes;
    int64_t began;
    enum phase phase;
};

struct upstream_check {
    struct loop *loop;
    struct probe *v;
    size_t n;
};

/* ------------------------------------------------------------------ */
/* Verdicts */

int upstream_check_status(const char *p, size_t n)
{
    static const char prefix[] = "HTTP/1.";
    size_t k = sizeof prefix - 1;
    for (size_t i = 0; i < n && i < k; i++)
        if (p[i] != prefix[i])
            return -1;
    /* "HTTP/1.x NNN": twelve bytes, then a space or the line's end. */
    if (n < 13)
        return memchr(p, '\n', n) ? -1 : 0;
    if ((p[7] != '0' && p[7] != '1') || p[8] != ' ')
        return -1;
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        status = status * 10 + (p[i] - '0');
    }
    if (status < 100 || status > 599 || (p[12] != ' ' && p[12] != '\r' && p[12] != '\n'))
        return -1;
    return status;
}

bool upstream_check_judge(struct upstream_health *h, bool ok, int64_t fails, int64_t passes)
{
    uint32_t was = __atomic_load_n(&h->state, __ATOMIC_RELAXED);
    uint32_t now = was;
    if (ok) {
        h->run_fails = 0;
        h->run_passes++;
        /* A first verdict needs one pass; a server that was down, passes. */
        if (was != UPSTREAM_HEALTH_UP &&
            (was != UPSTREAM_HEALTH_DOWN || h->run_passes >= (uint64_t)passes))
            now = UPSTREAM_HEALTH_UP;
    } else {
        h->run_passes = 0;
        h->run_fails++;
        if (was != UPSTREAM_HEALTH_DOWN && h->run_fails >= (uint64_t)fails)
            now = UPSTREAM_HEALTH_DOWN;
    }
    if (now == was)
        return false;
    __atomic_store_n(&h->state, now, __ATOMIC_RELAXED);
    if (now == UPSTREAM_HEALTH_UP)
        upstream_health_clear(h);   /* passive failures before it do not count */
    return true;
}

/* ------------------------------------------------------------------ */
/* A probe */

static void on_io(struct loop *loop, struct loop_io *io, unsigned events);

static void close_socket(struct probe *p)
{
    if (p->io.fd < 0)
        return;
    loop_del(p->uc->loop, &p->io);
    close(p->io.fd);
    p->io.fd = -1;
}

static void finish(struct probe *p, bool ok, const char *why)
{
    struct loop *loop = p->uc->loop;
    close_socket(p);
    p->phase = P_IDLE;
    const struct upstream_health *h = p->h;
    if (upstream_check_judge(p->h, ok, p->fails, p->passes)) {
        if (ok)
            log_info("upstream '%s' server %s is up: health check passed %u time(s) in a row",
                     h->upstream, h->server, h->run_passes);
        else
            log_warn("upstream '%s' server %s is down: health check failed %u time(s) in a "
                     "row (%s)", h->upstream, h->server, h->run_fails, why);
    } else if (!ok) {
        log_debug("upstream '%s' server %s: health check failed: %s", h->upstream, h->server,
                  why);
    }
    int64_t next = p->began + p->interval;
    loop_timer_at(loop, &p->timer, next > loop_now(loop) ? next : loop_now(loop));
}

static void start(struct probe *p)
{
    struct loop *loop = p->uc->loop;
    p->began = loop_now(loop);
    p->sent = p->got = 0;
    int fd = socket(p->addr.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        finish(p, false, strerror(errno));
        return;
    }
    if (connect(fd, (const struct sockaddr *)&p->addr.ss, p->addr.len) < 0 &&
        errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        finish(p, false, strerror(err));
        return;
    }
    p->io.fd = fd;
    p->io.fn = on_io;
    if (loop_add(loop, &p->io, LOOP_READ | LOOP_WRITE | LOOP_EDGE) < 0) {
        int err = errno;
        close(fd);
        p->io.fd = -1;
        finish(p, false, strerror(err));
        return;
    }
    p->phase = P_CONNECTING;
    loop_timer_after(loop, &p->timer, p->timeout);
}

static void on_timer(struct timer *t)
{
    struct probe *p = (struct probe *)((char *)t - offsetof(struct probe, timer));
    if (p->phase == P_IDLE) {
        start(p);
        return;
    }
    char why[64];
    snprintf(why, sizeof why, "no answer within %lld ms", (long long)p->timeout);
    finish(p, false, why);
}

/* Connected: 0, or -1 having finished the probe. */
static int connected(struct probe *p)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(p->io.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        finish(p, false, strerror(err));
        return -1;
    }
    if (p->req == NULL) {
        finish(p, true, NULL);
        return -1;
    }
    p->phase = P_SENDING;
    return 0;
}

/* Sent all: 0; not yet (wait) or failed (finished): -1. */
static int send_request(struct probe *p)
{
    while (p->sent < p->req_len) {
        ssize_t n = send(p->io.fd, p->req + p->sent, p->req_len - p->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                finish(p, false, strerror(errno));
            return -1;
        }
        p->sent += (size_t)n;
    }
    p->phase = P_READING;
    return 0;
}

static void read_status(struct probe *p)
{
    for (;;) {
        ssize_t n = recv(p->io.fd, p->resp + p->got, sizeof p->resp - p->got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;             /* more later */
        if (n < 0) {
            finish(p, false, strerror(errno));
            return;
        }
        p->got += (size_t)n;
        int status = upstream_check_status(p->resp, p->got);
        char why[64];
        if (status > 0) {
            snprintf(why, sizeof why, "status %d", status);
            finish(p, status >= 200 && status < 400, why);
            return;
        }
        if (status < 0 || p->got == sizeof p->resp) {
            finish(p, false, "the answer is not an HTTP/1.x status line");
            return;
        }
        if (n == 0) {
            finish(p, false, "closed before a status line");
            return;
        }
    }
}

static void on_io(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    struct probe *p = (struct probe *)((char *)io - offsetof(struct probe, io));
    if (p->phase == P_CONNECTING && connected(p) < 0)
        return;
    if (p->phase == P_SENDING && send_request(p) < 0)
        return;
    if (p->phase == P_READING)
        read_status(p);
}

/* ------------------------------------------------------------------ */
/* Targets */

static void drop_all(struct upstream_check *uc)
{
    for (size_t i = 0; i < uc->n; i++) {
        close_socket(&uc->v[i]);
        loop_timer_cancel(uc->loop, &uc->v[i].timer);
        free(uc->v[i].req);
    }
    free(uc->v);
    uc->v = NULL;
    uc->n = 0;
}

static char *build_request(const struct upstream_health_config *hc, const struct upstream_addr *a,
                           size_t *len)
{
    /* A unix socket has no host name to give. */
    const char *host = a->ss.ss_family == AF_UNIX ? "localhost" : a->text;
    int n = snprintf(NULL, 0, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: herd-health-check\r\n"
                     "Connection: close\r\n\r\n", hc->path, host);
    char *req = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (req == NULL)
        return NULL;
    snprintf(req, (size_t)n + 1, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: herd-health-check"
             "\r\nConnection: close\r\n\r\n", hc->path, host);
    *len = (size_t)n;
    return req;
}

static int add_target(struct upstream_check *uc, const struct upstream_config *u, size_t j)
{
    const struct upstream_health_config *hc = u->health_check;
    struct upstream_health *h = upstream_health_find(u->name, u->servers[j].addr.text);
    if (h == NULL)
        return 0;               /* no room in the page: not checked (logged there) */
    struct probe *p = &uc->v[uc->n];
    *p = (struct probe){ .uc = uc, .h = h, .addr = u->servers[j].addr, .io.fd = -1,
                         .interval = hc->interval, .timeout = hc->timeout, .fails = hc->fails,
                         .passes = hc->passes };
    if (hc->path && (p->req = build_request(hc, &p->addr, &p->req_len)) == NULL)
        return -1;
    timer_init(&p->timer, on_timer);
    if (__atomic_load_n(&h->state, __ATOMIC_RELAXED) == UPSTREAM_HEALTH_UNCHECKED) {
        h->run_fails = h->run_passes = 0;
        __atomic_store_n(&h->state, UPSTREAM_HEALTH_CHECKING, __ATOMIC_RELAXED);
    }
    uc->n++;
    loop_timer_after(uc->loop, &p->timer, 0);
    return 0;
}

static bool checked(const struct upstream_check *uc, const struct upstream_health *h)
{
    for (size_t i = 0; i < uc->n; i++)
        if (uc->v[i].h == h)
            return true;
    return false;
}

void upstream_check_configure(struct upstream_check *uc, const struct herd_config *cfg)
{
    drop_all(uc);
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_upstreams; i++)
        if (cfg->upstreams[i].health_check)
            n += cfg->upstreams[i].n_servers;
    if (n && (uc->v = calloc(n, sizeof *uc->v)) == NULL) {
        log_error("health checks: out of memory; none will run");
        n = 0;
    }
    for (size_t i = 0; n && i < cfg->n_upstreams; i++)
        for (size_t j = 0; cfg->upstreams[i].health_check && j < cfg->upstreams[i].n_servers; j++)
            if (add_target(uc, &cfg->upstreams[i], j) < 0)
                log_error("health checks: out of memory for upstream '%s'",
                          cfg->upstreams[i].name);
    /* Servers no longer checked take no verdict of old checks with them. */
    struct upstream_health_page *page = upstream_health_page();
    for (size_t i = 0; page && i < UPSTREAM_HEALTH_ENTRIES; i++) {
        struct upstream_health *h = &page->e[i];
        if (__atomic_load_n(&h->used, __ATOMIC_ACQUIRE) == 2 && !checked(uc, h))
            __atomic_store_n(&h->state, UPSTREAM_HEALTH_UNCHECKED, __ATOMIC_RELAXED);
    }
}

struct upstream_check *upstream_check_new(struct loop *loop)
{
    struct upstream_check *uc = calloc(1, sizeof *uc);
    if (uc)
        uc->loop = loop;
    return uc;
}

void upstream_check_free(struct upstream_check *uc)
{
    if (uc == NULL)
        return;
    drop_all(uc);
    free(uc);
}
