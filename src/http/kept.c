/* Exchanges that outlive the callback that read their head: a handler that
 * answers later (it has abort), a handler that takes the body, or a chunked
 * body read and checked before a handler that takes none may answer.
 *
 * The request is copied off the input (head, header fields, path) into an
 * object from a per-worker pool (one free list per listener's default
 * server: its limits bound the head), so the input buffer moves on and an
 * idle connection holds nothing of it. The body is fed from the input as
 * it arrives: a Content-Length body straight from the buffer; a chunked
 * one decoded in place (the data bytes squeezed to the front of the input,
 * the framing dropped). A handler that takes fewer bytes than offered
 * pauses the body: the bytes stay in the input, nothing more is decoded,
 * and once the input is full the connection stops reading (back-pressure)
 * until http_req_body_resume().
 *
 *   kept ─► body read (CHECK) ─► start ─► PENDING ─done─► ANSWERED ─┐
 *           start ─► body fed (STREAM) ───────────────────────────┤
 *           body left after the answer: DISCARD ───────────────────┴─► released
 *   client gone / timeout / bad body before the answer: abort, log, release
 *   an upgrade (http_req_tunnel): every byte to the handler (TUNNEL) until
 *   its answer is done, then the connection closes; the client's end of
 *   sending is told to the handler (its half of the tunnel ended), and the
 *   connection stays open for the handler's bytes meanwhile
 * Tested by tests/unit/check_http_kept.c. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "http/chunked.h"
#include "http/server.h"
#include "http/template.h"

/* Kept objects a server keeps for reuse; more are freed. */
#define KEPT_FREE_MAX 64

enum kept_body {
    KB_NONE,        /* no body, or all of it read */
    KB_CHECK,       /* chunked, for a handler without body: read, then start */
    KB_STREAM,      /* to the handler's body callback */
    KB_DISCARD,     /* the rest of a body whose answer is complete */
    KB_TUNNEL,      /* every byte to the handler's body callback (an upgrade) */
};

struct http_kept {
    struct http_req req;
    struct http_request head;       /* pointing into data */
    struct http_chunked chunked;
    struct loop_defer wake;
    struct http_kept *next;         /* the pool's free list */
    struct http_server *pool;
    uint64_t body_left;             /* Content-Length bytes still to come */
    size_t ready;                   /* decoded body bytes at the front of the
                                       input that the handler has not taken */
    uint8_t body;                   /* enum kept_body */
    bool chunked_body;
    bool chunked_done;              /* the decoder saw the end */
    bool paused;                    /* the handler took less than offered */
    bool tunnel_ended;              /* the handler heard the client's end */
    int16_t failed;                 /* the chunked body broke: 400 or 413 */
    /* A regex route's captures, moved with the path: the routing table's
     * are overwritten by the next request any connection makes. */
    struct http_captures captures;
    /* max_headers fields, then the head's bytes, then the path */
    _Alignas(struct http_header) char data[];
};

static struct http_kept *kept_of(struct conn *c)
{
    return http_conn_of(c)->kept;
}

/* The kept exchange req belongs to, or NULL (an exchange on the stack). */
static struct http_kept *kept_of_req(struct http_req *req)
{
    struct http_kept *k = kept_of(req->conn);
    return k && &k->req == req ? k : NULL;
}

/* ------------------------------------------------------------------ */
/* The pool */

static size_t kept_size(const struct http_server *s)
{
    return sizeof(struct http_kept) + s->lim.max_headers * sizeof(struct http_header) +
           s->lim.max_header_size + s->lim.max_target + 1;
}

static struct http_kept *kept_get(struct http_server *pool)
{
    struct http_kept *k = pool->kept_free;
    if (k) {
        pool->kept_free = k->next;
        pool->n_kept_free--;
    } else if ((k = malloc(kept_size(pool))) == NULL) {
        return NULL;
    }
    k->pool = pool;
    return k;
}

static void kept_put(struct http_kept *k)
{
    struct http_server *pool = k->pool;
    if (pool->n_kept_free >= KEPT_FREE_MAX) {
        free(k);
        return;
    }
    k->next = pool->kept_free;
    pool->kept_free = k;
    pool->n_kept_free++;
}

void http_kept_pool_free(struct http_server *s)
{
    while (s->kept_free) {
        struct http_kept *k = s->kept_free;
        s->kept_free = k->next;
        free(k);
    }
    s->n_kept_free = 0;
}

static void release(struct conn *c, struct http_kept *k)
{
    struct http_conn *hc = http_conn_of(c);
    loop_defer_cancel(http_loop(c), &k->wake);
    hc->kept = NULL;
    if (hc->phase == HP_EXCHANGE)
        hc->phase = HP_IDLE;
    kept_put(k);
}

/* ------------------------------------------------------------------ */
/* Keeping a request */

/* A pointer into the head at base, moved to the copy at to. */
static const char *moved(const char *p, const char *base, char *to)
{
    return p ? to + (p - base) : NULL;
}

static void copy_request(struct http_kept *k, const struct http_req *src, size_t head_len)
{
    const struct http_request *h = src->head;
    const char *base = buf_head(src->conn->in);
    struct http_header *fields = (struct http_header *)k->data;
    char *bytes = k->data + k->pool->lim.max_headers * sizeof *fields;
    memcpy(bytes, base, head_len);
    k->head = *h;
    k->head.method = moved(h->method, base, bytes);
    k->head.target = moved(h->target, base, bytes);
    k->head.headers = fields;
    for (size_t i = 0; i < h->num_headers; i++)
        fields[i] = (struct http_header){
            .name = moved(h->headers[i].name, base, bytes), .name_len = h->headers[i].name_len,
            .value = moved(h->headers[i].value, base, bytes),
            .value_len = h->headers[i].value_len,
        };
    k->req = *src;
    k->req.head = &k->head;
    k->req.f.host = moved(src->f.host, base, bytes);    /* a field or the target's */
    if (src->path) {
        char *path = bytes + head_len;
        memcpy(path, src->path, src->path_len);
        path[src->path_len] = '\0';
        k->req.path = path;
    }
    if (src->captures && src->path) {       /* their subject is the path */
        k->captures = *src->captures;
        k->captures.subject = k->req.path;
        k->req.captures = &k->captures;
    }
}

static void on_wake(struct loop *loop, struct loop_defer *d)
{
    (void)loop;
    struct http_kept *k = (struct http_kept *)((char *)d - offsetof(struct http_kept, wake));
    http_conn_wake(k->req.conn);
}

static void plan_body(struct http_kept *k)
{
    const struct http_framing *f = &k->req.f;
    bool takes = k->req.handler->body != NULL;
    k->body_left = 0;
    k->ready = 0;
    k->chunked_body = f->chunked;
    k->chunked_done = k->paused = false;
    k->failed = 0;
    if (f->chunked) {
        http_chunked_init(&k->chunked, (uint64_t)k->req.server->conf->max_body);
        k->body = takes ? KB_STREAM : KB_CHECK;
    } else if (f->has_length && f->content_length > 0) {
        k->body_left = f->content_length;
        k->body = takes ? KB_STREAM : KB_DISCARD;
    } else {
        k->body = KB_NONE;
    }
}

void http_kept_begin(const struct http_req *src, size_t head_len)
{
    struct conn *c = src->conn;
    struct http_kept *k = kept_get(c->vhosts[0]->data);
    if (k == NULL) {
        struct http_req req = *src;
        http_exchange_fail(&req, 500, "out of memory for a request");
        return;
    }
    copy_request(k, src, head_len);
    buf_consume(c->in, head_len);
    loop_defer_init(&k->wake, on_wake);
    struct http_conn *hc = http_conn_of(c);
    hc->kept = k;
    hc->phase = HP_EXCHANGE;
    plan_body(k);
    /* The client waits for this before it sends the body: always for a
     * chunked one (it must be read either way), for a Content-Length one
     * when it is wanted (the handler's, or the connection goes on). */
    const struct http_req *req = &k->req;
    if (req->f.expect_continue &&
        (k->body == KB_CHECK || k->body == KB_STREAM || (k->body == KB_DISCARD && req->keep)))
        conn_write(c, http_continue, sizeof http_continue - 1);
    if (k->body != KB_CHECK)
        http_exchange_start(&k->req);
}

/* ------------------------------------------------------------------ */
/* Ending */

static void abort_handler(struct http_req *req)
{
    if ((req->state == HTTP_REQ_STARTED || req->state == HTTP_REQ_PENDING) &&
        req->handler->abort)
        req->handler->abort(req);
}

void http_kept_end(struct conn *c, int status)
{
    struct http_kept *k = kept_of(c);
    if (k == NULL)
        return;
    struct http_req *req = &k->req;
    if (req->state < HTTP_REQ_ANSWERED) {
        abort_handler(req);
        req->state = HTTP_REQ_ABORTED;
        if (req->status == 0)       /* else the status of a head already sent */
            req->status = status;
        http_req_log(req);
    }
    release(c, k);
}

/* The body broke its framing or its limit. Before any answer, that is the
 * answer; after an answer begun or complete, the connection just ends. */
static void body_failed(struct http_kept *k, int status, const char *why)
{
    struct conn *c = k->req.conn;
    struct http_req *req = &k->req;
    if (req->state < HTTP_REQ_ANSWERED && req->status == 0) {
        abort_handler(req);
        http_exchange_fail(req, status, "%s", why);
        release(c, k);
        return;
    }
    http_kept_end(c, status);
    conn_linger(c);
}

void http_kept_answered(struct http_req *req)
{
    struct http_kept *k = kept_of_req(req);
    if (k == NULL)
        return;
    if (k->body == KB_STREAM)
        k->body = KB_DISCARD;       /* the rest is not the handler's any more */
    else if (k->body == KB_TUNNEL)
        k->body = KB_NONE;          /* the connection closes after the answer */
    k->paused = false;
    loop_defer(http_loop(req->conn), &k->wake);
}

void http_kept_tunnel(struct http_req *req)
{
    struct http_kept *k = kept_of_req(req);
    if (k == NULL)
        return;
    k->body = KB_TUNNEL;
    k->chunked_body = false;
    k->paused = false;
    k->tunnel_ended = false;
    req->keep = false;
    conn_half_close(req->conn);     /* the client's end is one half only */
    loop_defer(http_loop(req->conn), &k->wake);
}

void http_kept_resume(struct http_req *req)
{
    struct http_kept *k = kept_of_req(req);
    if (k == NULL || !k->paused)
        return;
    k->paused = false;
    loop_defer(http_loop(req->conn), &k->wake);
}

/* ------------------------------------------------------------------ */
/* The body */

static void body_ended(struct http_kept *k)
{
    enum kept_body was = (enum kept_body)k->body;
    k->body = KB_NONE;
    if (was == KB_STREAM)
        k->req.handler->body(&k->req, NULL, 0);
    else if (was == KB_CHECK)
        http_exchange_start(&k->req);
}

/* Offer p[0..n) to the handler (or drop it). Returns the bytes taken. */
static size_t deliver(struct http_kept *k, const char *p, size_t n)
{
    enum kept_body was = (enum kept_body)k->body;
    if (was != KB_STREAM && was != KB_TUNNEL)
        return n;
    size_t took = k->req.handler->body(&k->req, p, n);
    if (k->body != was || took >= n)    /* answered meanwhile: the rest is dropped */
        return n;
    k->paused = true;
    return took;
}

/* A tunnel: whatever arrived. Returns 1 to go on, 0 to wait. */
static int feed_tunnel(struct http_kept *k)
{
    struct conn *c = k->req.conn;
    size_t n = conn_in_len(c);
    if (n == 0)
        return 0;
    size_t took = deliver(k, buf_head(c->in), n);
    buf_consume(c->in, took);
    return took == n && conn_in_len(c) > 0;
}

/* Returns 1 to go on, 0 to wait for input or the handler. */
static int feed_length(struct http_kept *k)
{
    struct conn *c = k->req.conn;
    size_t avail = conn_in_len(c);
    size_t n = k->body_left < avail ? (size_t)k->body_left : avail;
    if (n == 0)
        return 0;
    size_t took = deliver(k, buf_head(c->in), n);
    buf_consume(c->in, took);
    k->body_left -= took;
    if (k->body_left == 0)
        body_ended(k);
    return took == n;
}

struct squeeze {
    char *dst;
};

static void squeeze(void *arg, const char *p, size_t n)
{
    struct squeeze *s = arg;
    memmove(s->dst, p, n);
    s->dst += n;
}

/* Decode the raw bytes behind the ready ones; their data bytes join the
 * ready ones, their framing goes. A body that breaks is noted: what came
 * before the break is still the handler's. */
static void decode(struct http_kept *k)
{
    struct conn *c = k->req.conn;
    char *raw = buf_head(c->in) + k->ready;
    size_t len = conn_in_len(c) - k->ready, used = 0;
    struct squeeze sq = { raw };
    int rc = http_chunked_decode(&k->chunked, raw, len, &used,
                                 k->body == KB_STREAM ? squeeze : NULL, &sq);
    size_t got = (size_t)(sq.dst - raw);
    memmove(raw + got, raw + used, len - used);
    c->in->end -= used - got;
    k->ready += got;
    k->chunked_done = rc == HTTP_CHUNKED_DONE;
    if (rc < 0)
        k->failed = rc == HTTP_CHUNKED_TOO_LARGE ? 413 : 400;
}

/* Returns 1 to go on, 0 to wait, -1 after a body error. */
static int feed_chunked(struct http_kept *k)
{
    struct conn *c = k->req.conn;
    if (!k->chunked_done && !k->failed && conn_in_len(c) > k->ready)
        decode(k);
    if (k->ready > 0) {
        size_t took = deliver(k, buf_head(c->in), k->ready);
        buf_consume(c->in, took);
        k->ready -= took;
        if (k->ready > 0)
            return 0;
    }
    if (k->failed) {
        body_failed(k, k->failed, http_chunked_why(&k->chunked));
        return -1;
    }
    if (!k->chunked_done)
        return 0;
    body_ended(k);
    return 1;
}

/* Returns 0, or -1 when the exchange ended in a body error. */
static int feed(struct http_kept *k)
{
    struct conn *c = k->req.conn;
    if (k->body != KB_NONE && k->body != KB_TUNNEL && !k->paused && conn_in_len(c) > k->ready)
        conn_set_timer(c, HTTP_TIMER_BODY, k->req.server->conf->body_timeout);
    while (k->body != KB_NONE && !k->paused && !c->closing) {
        int rc = k->body == KB_TUNNEL ? feed_tunnel(k)
                 : k->chunked_body    ? feed_chunked(k)
                                      : feed_length(k);
        if (rc <= 0)
            return rc;
    }
    return 0;
}

bool http_kept_reading(struct conn *c)
{
    struct http_kept *k = kept_of(c);
    /* A tunnel's deadline is its handler's (bytes flow both ways). */
    return k && k->body != KB_NONE && k->body != KB_TUNNEL && !k->paused;
}

bool http_kept_run(struct conn *c)
{
    struct http_kept *k = kept_of(c);
    struct http_req *req = &k->req;
    if (feed(k) < 0)
        return false;
    if (req->state < HTTP_REQ_ANSWERED) {
        if (c->eof && k->body == KB_TUNNEL) {
            /* The client's half of a tunnel ended: once the handler has
             * taken what came before, it hears so; the other half flows on. */
            if (!k->tunnel_ended && !k->paused && conn_in_len(c) == 0) {
                k->tunnel_ended = true;
                req->handler->body(req, NULL, 0);
            }
            return false;
        }
        if (c->eof) {               /* the client went away unanswered */
            http_kept_end(c, HTTP_STATUS_CLIENT_GONE);
            conn_close_after_flush(c);
        }
        return false;
    }
    bool body_left = k->body != KB_NONE, keep = req->keep;
    if (body_left && keep)
        return false;               /* the rest of the body is still to come */
    release(c, k);
    conn_set_gauge(c, CONN_GAUGE_WRITING);
    if (!keep) {
        if (body_left)
            conn_linger(c);
        else
            conn_close_after_flush(c);
        return false;
    }
    return true;
}
