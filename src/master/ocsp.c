/* OCSP staples for the certificates of the generations, fetched by the
 * master (transport_tls_ocsp.h says what a staple's record is).
 *
 * Each fetch runs in a child process forked for it, not on non-blocking
 * sockets in the master's loop: the responder is a host name, and the C
 * library has no name lookup that does not block (getaddrinfo may take
 * seconds when a resolver is slow). The child may block (lookup, connect,
 * the exchange); alarm() ends it after FETCH_S whatever it is doing; the
 * master only reads its pipe in its loop, so signals, reloads and workers
 * are never held up by a responder. A fetch is rare (once per certificate
 * every few hours), so a fork per fetch costs nothing that matters. What
 * comes back is checked here in the master (against the issuer), and only
 * then published into the record the workers read: running workers staple
 * the new response at their next handshake, without a reload.
 *
 * A staple is fetched again half-way through its remaining validity; a
 * failed fetch is retried (tls_ocsp_retry_at) and the staple already
 * served stays until it expires (then the workers stop stapling it).
 *
 * Start-up and reload: a new generation's workers are forked once every
 * certificate whose staple is not known yet has had its first fetch, or
 * after WAIT_MS (3 s) at most: a responder that is down or slow does not
 * stop herd from starting; its staple comes when it answers. A reload
 * whose certificate another generation already staples starts with that
 * staple at once (and fetches a fresh one meanwhile), so it does not wait.
 * Fetch children are reaped by the master's SIGCHLD handler like any child
 * it does not know (cycle.c).
 * Tested by tests/unit/check_master_ocsp.c and
 * tests/integration/test_tls_ocsp.py. */
#include "master/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "transport_tls.h"
#include "transport_tls_ocsp.h"

#define WAIT_MS 3000
#define FETCH_S 10
#define REPLY_MAX (1 + TLS_OCSP_MAX + 1)

struct ocsp_job {
    struct loop_io io;          /* the fetch child's pipe; fd -1 between fetches */
    struct timer timer;         /* the next fetch */
    struct ocsp_gen *og;
    struct tls_ocsp *o;
    unsigned char *buf;
    size_t len;
    unsigned failures;          /* in a row */
    bool first;                 /* the generation's workers wait for it */
    struct ocsp_job *next;
};

struct ocsp_gen {
    struct master *m;
    struct gen *g;
    struct timer wait;
    size_t waiting;             /* first fetches not finished */
    struct ocsp_job *jobs;
};

/* ------------------------------------------------------------------ */
/* The wait of a generation's workers */

static void release_workers(struct ocsp_gen *og)
{
    og->waiting = 0;
    loop_timer_cancel(og->m->loop, &og->wait);
    gen_spawn(og->m, og->g);
}

static void on_wait_over(struct timer *t)
{
    struct ocsp_gen *og = (struct ocsp_gen *)((char *)t - offsetof(struct ocsp_gen, wait));
    for (struct ocsp_job *j = og->jobs; j; j = j->next)
        if (j->first) {
            j->first = false;
            log_warn("OCSP: %s: no answer from %s within %d ms: the workers start without "
                     "its staple (stapled once it comes)", tls_ocsp_name(j->o),
                     tls_ocsp_url(j->o), WAIT_MS);
        }
    release_workers(og);
}

static void first_done(struct ocsp_job *j)
{
    if (!j->first)
        return;
    j->first = false;
    if (--j->og->waiting == 0)
        release_workers(j->og);
}

/* ------------------------------------------------------------------ */
/* A fetch's end */

static const char *date(int64_t t, char *out, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, cap, "%lld", (long long)t);
    return out;
}

static void schedule(struct ocsp_job *j, int64_t at, int64_t now)
{
    loop_timer_after(j->og->m->loop, &j->timer, (at - now) * 1000);
}

static void failed(struct ocsp_job *j, const char *why, int64_t now)
{
    char d[64];
    int64_t expires = tls_ocsp_expires(j->o);
    j->failures++;
    if (expires > now)
        log_warn("OCSP: %s: no good response from %s: %s; its staple is served until it "
                 "expires (%s)", tls_ocsp_name(j->o), tls_ocsp_url(j->o), why,
                 date(expires, d, sizeof d));
    else
        log_warn("OCSP: %s: no good response from %s: %s; served without a staple",
                 tls_ocsp_name(j->o), tls_ocsp_url(j->o), why);
    schedule(j, tls_ocsp_retry_at(now, expires, j->failures), now);
}

/* The child has gone: what it wrote is the answer. */
static void finished(struct ocsp_job *j)
{
    char why[400], d[64];
    int status = 0;
    int64_t now = (int64_t)time(NULL);
    if (j->len == 0 || (j->buf[0] != 'R' && j->buf[0] != 'E')) {
        failed(j, "the fetch ended without an answer (timed out?)", now);
    } else if (j->buf[0] == 'E') {
        snprintf(why, sizeof why, "%.*s", (int)(j->len - 1), (const char *)j->buf + 1);
        failed(j, why, now);
    } else if (tls_ocsp_take(j->o, j->buf + 1, j->len - 1, now, &status, why, sizeof why) < 0) {
        failed(j, why, now);
    } else {
        int64_t expires = tls_ocsp_expires(j->o);
        j->failures = 0;
        if (status == TLS_OCSP_REVOKED)
            log_error("OCSP: %s is REVOKED, says %s (the response is stapled)",
                      tls_ocsp_name(j->o), tls_ocsp_url(j->o));
        log_info("OCSP: %s: response from %s stapled until %s", tls_ocsp_name(j->o),
                 tls_ocsp_url(j->o), date(expires, d, sizeof d));
        schedule(j, tls_ocsp_refresh_at(now, expires), now);
    }
    j->len = 0;
    first_done(j);
}

static void stop_reading(struct ocsp_job *j)
{
    if (j->io.fd < 0)
        return;
    loop_del(j->og->m->loop, &j->io);
    close(j->io.fd);
    j->io.fd = -1;
}

static void on_pipe(struct loop *loop, struct loop_io *io, unsigned events)
{
    (void)loop;
    (void)events;
    struct ocsp_job *j = (struct ocsp_job *)io;
    for (;;) {
        unsigned char spill[512];
        bool room = j->len < REPLY_MAX;
        ssize_t n = read(io->fd, room ? j->buf + j->len : spill,
                         room ? REPLY_MAX - j->len : sizeof spill);
        if (n > 0) {
            if (room)
                j->len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        break;                  /* the end (or an error: the same) */
    }
    stop_reading(j);
    finished(j);
}

/* ------------------------------------------------------------------ */
/* A fetch's start */

/* In the fetch child: nothing of the master's but the pipe, default
 * signals, and at most FETCH_S seconds. */
static void run_child(struct ocsp_job *j, int fd)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    alarm(FETCH_S);
    if (fd > 3)
        close_range(3, (unsigned)fd - 1, 0);
    close_range((unsigned)fd + 1, ~0u, 0);
    _exit(tls_ocsp_fetch(j->o, fd, FETCH_S - 1) == 0 ? 0 : 1);
}

static void fetch(struct ocsp_job *j)
{
    int p[2];
    int64_t now = (int64_t)time(NULL);
    if (j->io.fd >= 0)
        return;                 /* one at a time */
    if (pipe2(p, O_CLOEXEC) < 0) {
        failed(j, strerror(errno), now);
        first_done(j);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        run_child(j, p[1]);
    }
    int saved = errno;
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        failed(j, strerror(saved), now);
        first_done(j);
        return;
    }
    log_debug("OCSP: %s: fetching from %s (process %d)", tls_ocsp_name(j->o),
              tls_ocsp_url(j->o), (int)pid);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    j->io.fd = p[0];
    j->io.fn = on_pipe;
    j->len = 0;
    if (loop_add(j->og->m->loop, &j->io, LOOP_READ) < 0) {
        stop_reading(j);
        failed(j, strerror(errno), now);
        first_done(j);
    }
}

static void on_timer(struct timer *t)
{
    fetch((struct ocsp_job *)((char *)t - offsetof(struct ocsp_job, timer)));
}

/* ------------------------------------------------------------------ */
/* A generation's staples */

/* Another generation's staple of the same certificate, if it is valid. */
static bool adopt(struct master *m, struct gen *g, struct tls_ocsp *o)
{
    int64_t now = (int64_t)time(NULL);
    for (struct gen *x = m->gens; x; x = x->next)
        for (struct ocsp_job *k = x != g && x->ocsp ? x->ocsp->jobs : NULL; k; k = k->next)
            if (tls_ocsp_same(o, k->o) && tls_ocsp_adopt(o, k->o, now))
                return true;
    return false;
}

static int add_job(struct ocsp_gen *og, struct tls_ocsp *o)
{
    for (struct ocsp_job *k = og->jobs; k; k = k->next)
        if (k->o == o)
            return 0;           /* servers sharing one tls group */
    struct ocsp_job *j = calloc(1, sizeof *j);
    if (j == NULL || (j->buf = malloc(REPLY_MAX)) == NULL) {
        free(j);
        return -1;
    }
    j->og = og;
    j->o = o;
    j->io.fd = -1;
    timer_init(&j->timer, on_timer);
    j->first = !adopt(og->m, og->g, o);
    og->waiting += j->first;
    j->next = og->jobs;
    og->jobs = j;
    return 0;
}

int ocsp_gen_start(struct master *m, struct gen *g)
{
    struct ocsp_gen *og = calloc(1, sizeof *og);
    if (og == NULL)
        return 0;               /* no staples: better than no workers */
    og->m = m;
    og->g = g;
    timer_init(&og->wait, on_wait_over);
    g->ocsp = og;
    for (size_t i = 0; i < g->cfg->n_servers; i++) {
        struct tls_ocsp *o = tls_ocsp_of(g->cfg->servers[i].tls);
        if (o && tls_ocsp_fetches(o) && add_job(og, o) < 0)
            log_error("OCSP: %s: out of memory: no staple", tls_ocsp_name(o));
    }
    if (og->jobs == NULL) {
        free(og);
        g->ocsp = NULL;
        return 0;
    }
    if (og->waiting > 0)
        loop_timer_after(m->loop, &og->wait, WAIT_MS);
    /* From the loop, not from here: a fetch that fails at once releases
     * the workers, which the caller is about to decide on. */
    for (struct ocsp_job *j = og->jobs; j; j = j->next)
        loop_timer_after(m->loop, &j->timer, 0);
    return og->waiting > 0 ? 1 : 0;
}

void ocsp_gen_end(struct master *m, struct gen *g)
{
    struct ocsp_gen *og = g->ocsp;
    if (og == NULL)
        return;
    loop_timer_cancel(m->loop, &og->wait);
    while (og->jobs) {
        struct ocsp_job *j = og->jobs;
        og->jobs = j->next;
        stop_reading(j);
        loop_timer_cancel(m->loop, &j->timer);
        free(j->buf);
        free(j);
    }
    free(og);
    g->ocsp = NULL;
}
