/* The conformance harness every struct proto must pass, run against each
 * protocol of the registry over a real connection (socket pair, plain
 * transport, real loop):
 *   - callback order: open first and once, close last and once, nothing
 *     after close, no callback inside another;
 *   - back-pressure: a client that sends without reading costs a bounded
 *     output, the connection stops reading, and every answer still comes
 *     once the client reads;
 *   - close in each state: idle, a request cut short, after an answer, with
 *     output the client never reads, draining, a deadline, after a bad
 *     request, after the client's end of input.
 * A new protocol adds one subject below. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "conn_fixture.h"
#include "http/config.h"
#include "proto.h"
#include "stream/echo.h"
#include "transport.h"
#include "tap.h"

struct subject {
    const struct proto_module *module;  /* as the registry lists it */
    const char *server;         /* the `servers` entry of a configuration */
    const char *quick;          /* the same with short deadlines */
    const char *request;        /* one whole request */
    const char *partial;        /* a request cut short */
    const char *bad;            /* what the protocol refuses, if it refuses anything */
    const char *mark;           /* appears once in each answer */
};

#define HTTP_ROUTES "keepalive_requests = 1000000; " \
                    "routes = ( { path = \"/\"; return = { status = 200; " \
                    "type = \"text/plain\"; body = \"Hello, world!\"; }; } );"

static const struct subject subjects[] = {
    {
        .module = &echo_module,
        .server = "{ listen = [ \"127.0.0.1:1\" ]; protocol = \"echo\"; }",
        .quick = "{ listen = [ \"127.0.0.1:1\" ]; protocol = \"echo\"; idle_timeout = \"100ms\"; }",
        .request = "ping\n",
        .partial = "pi",
        .bad = "\x01\x02\x03\n",
        .mark = "ping\n",
    },
    {
        .module = &http_module,
        .server = "{ listen = [ \"127.0.0.1:1\" ]; " HTTP_ROUTES " }",
        .quick = "{ listen = [ \"127.0.0.1:1\" ]; header_timeout = \"100ms\"; " HTTP_ROUTES " }",
        .request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        .partial = "GET / HT",
        .bad = "NOT HTTP\r\n\r\n",
        .mark = "Hello, world!",
    },
};

#define N_SUBJECTS (int)(sizeof subjects / sizeof subjects[0])

/* ------------------------------------------------------------------ */
/* The protocol under test, wrapped: each callback checks the order */

static const struct subject *subj;

static struct {
    int open, readable, writable, timeout, drain, close;
    bool inside;
} rec;

static void enter(const char *what)
{
    ck_assert_msg(!rec.inside, "%s called inside another callback", what);
    ck_assert_msg(rec.close == 0, "%s called after close", what);
    ck_assert_msg(rec.open == 1 || strcmp(what, "open") == 0, "%s called before open", what);
    rec.inside = true;
}

static void leave(int *count)
{
    (*count)++;
    rec.inside = false;
}

static void w_open(struct conn *c)
{
    ck_assert_int_eq(rec.open, 0);
    enter("open");
    subj->module->proto->conn.open(c);
    leave(&rec.open);
}

static void w_readable(struct conn *c)
{
    enter("readable");
    subj->module->proto->conn.readable(c);
    leave(&rec.readable);
}

static void w_writable(struct conn *c)
{
    enter("writable");
    subj->module->proto->conn.writable(c);
    leave(&rec.writable);
}

static void w_timeout(struct conn *c, unsigned kind)
{
    ck_assert_uint_ge(kind, CONN_TIMER_PROTO);
    enter("timeout");
    subj->module->proto->conn.timeout(c, kind);
    leave(&rec.timeout);
}

static void w_drain(struct conn *c)
{
    enter("drain");
    subj->module->proto->conn.drain(c);
    leave(&rec.drain);
}

static void w_close(struct conn *c)
{
    enter("close");
    subj->module->proto->conn.close(c);
    leave(&rec.close);
}

static const struct conn_ops wrapped = {
    .open = w_open, .readable = w_readable, .writable = w_writable, .timeout = w_timeout,
    .drain = w_drain, .close = w_close,
};

/* ------------------------------------------------------------------ */
/* A server of the subject's protocol, and a connection to it */

static struct herd_config *cfg;
static struct server_rt srv;
static const struct server_rt *vhosts[1] = { &srv };
static struct conn conn;
static int sv[2];               /* [0] the connection's, [1] the client's */
static char dir[] = "/tmp/herd-check-conformance-XXXXXX";

static void serve(const char *server)
{
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/herd.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "pid_file = \"%s/herd.pid\";\nservers = ( %s );\n", dir, server);
    fclose(f);
    cfg = config_load(path, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    srv = (struct server_rt){ .cfg = &cfg->servers[0], .proto = subj->module->proto, .index = 0 };
    srv.data = subj->module->proto->server_new(srv.cfg, -1, err, sizeof err);
    ck_assert_msg(srv.data != NULL, "%s", err);
    struct conn_listen l = { .ops = &wrapped, .tp = &transport_plain, .vhosts = vhosts,
                             .n_vhosts = 1 };
    fx_socketpair(sv);
    conn_start(&conn, &fx.owner, sv[0], NULL, &l);
    ck_assert_int_eq(rec.open, 1);
}

/* Answers counted as they stream in: marks found, and the tail of what was
 * read that may hold the start of the next one. */
static struct {
    size_t marks;
    char tail[64];
    size_t tail_len;
    bool eof;
} in;

/* Requests sent back to back; a send that stops inside one remembers where. */
static size_t out_bytes;

static void setup(void)
{
    fx_setup();
    memset(&rec, 0, sizeof rec);
    memset(&in, 0, sizeof in);
    out_bytes = 0;
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    if (srv.data)
        subj->module->proto->server_free(srv.data);
    srv.data = NULL;
    config_free(cfg);
    cfg = NULL;
    fx_teardown();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    strcpy(dir, "/tmp/herd-check-conformance-XXXXXX");
}

/* ------------------------------------------------------------------ */
/* The client */

static void count_marks(const char *p, size_t n)
{
    size_t m = strlen(subj->mark);
    char buf[65536 + sizeof in.tail];
    memcpy(buf, in.tail, in.tail_len);
    memcpy(buf + in.tail_len, p, n);
    size_t len = in.tail_len + n, i = 0;
    for (; i + m <= len; i++)
        if (memcmp(buf + i, subj->mark, m) == 0) {
            in.marks++;
            i += m - 1;
        }
    size_t keep = len < m - 1 ? len : m - 1;
    if (i < len - keep)
        i = len - keep;
    in.tail_len = len - i;
    memmove(in.tail, buf + i, in.tail_len);
}

static void client_read(void)
{
    if (sv[1] < 0) {
        in.eof = true;
        return;
    }
    for (;;) {
        char chunk[65536];
        ssize_t n = read(sv[1], chunk, sizeof chunk);
        if (n > 0) {
            count_marks(chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        in.eof = !(n < 0 && errno == EAGAIN);
        return;
    }
}

static size_t client_send_requests(size_t max_requests)
{
    size_t rl = strlen(subj->request), sent = 0;
    char chunk[8192 + 512];
    while (out_bytes < max_requests * rl) {
        size_t off = out_bytes % rl, n = 0;
        while (n + rl <= sizeof chunk) {
            memcpy(chunk + n, subj->request, rl);
            n += rl;
        }
        size_t want = n - off;
        if (want > max_requests * rl - out_bytes)
            want = max_requests * rl - out_bytes;
        ssize_t w = send(sv[1], chunk + off, want, MSG_NOSIGNAL);
        if (w <= 0) {
            ck_assert(w < 0 && (errno == EAGAIN || errno == EINTR));
            if (errno == EAGAIN)
                break;
            continue;
        }
        out_bytes += (size_t)w;
        sent += (size_t)w;
    }
    return sent;
}

static void client_close(void)
{
    close(sv[1]);
    sv[1] = -1;
}

static bool answered(void *arg)
{
    client_read();
    return in.marks >= *(size_t *)arg || in.eof;
}

static bool gone(void *arg)
{
    (void)arg;
    if (!in.eof)
        client_read();
    return rec.close == 1 && fx.closed == 1;
}

static void check_gone(void)
{
    ck_assert(fx_run_until(gone, NULL, 10000));
    ck_assert_int_eq(rec.open, 1);
    ck_assert_int_eq(rec.close, 1);
    ck_assert(!conn.in_use);
    ck_assert_ptr_null(conn.in);
    ck_assert_ptr_null(conn.out);
    ck_assert_ptr_eq(fx.last_closed, &conn);
}

/* ------------------------------------------------------------------ */

START_TEST(callbacks_in_order)
{
    subj = &subjects[_i];
    serve(subj->server);
    size_t want = 1;
    fx_send(sv[1], subj->request, strlen(subj->request));
    ck_assert(fx_run_until(answered, &want, 5000));
    want = 3;
    fx_send(sv[1], subj->request, strlen(subj->request));
    fx_send(sv[1], subj->request, strlen(subj->request));
    ck_assert(fx_run_until(answered, &want, 5000));
    ck_assert_uint_eq(in.marks, 3);
    ck_assert_int_ge(rec.readable, 2);
    client_close();
    check_gone();
}
END_TEST

static bool stopped_reading(void *arg)
{
    (void)arg;
    client_send_requests((size_t)-1 / 2);
    /* It stopped early (a read could still return data) with its output
     * at the high-water mark, which the client does not take: nothing can
     * move any more. */
    return conn.readable && conn_out_len(&conn) >= CONN_OUT_HIGH && !conn.writable;
}

START_TEST(back_pressure)
{
    subj = &subjects[_i];
    serve(subj->server);
    ck_assert(fx_run_until(stopped_reading, NULL, 10000));
    size_t out = conn_out_len(&conn);
    ck_assert_uint_le(out, CONN_OUT_HIGH + 16 * 1024);
    ck_assert_uint_le(conn_in_len(&conn), 16 * 1024);
    /* Nothing moves while the client does not read. */
    client_send_requests((size_t)-1 / 2);
    fx_run_for(20);
    ck_assert_uint_eq(conn_out_len(&conn), out);
    /* The client finishes the request it is in the middle of, then reads:
     * every request is answered. */
    size_t rl = strlen(subj->request), total = (out_bytes + rl - 1) / rl;
    while (out_bytes < total * rl) {
        client_send_requests(total);
        client_read();
        fx_run_for(1);
    }
    ck_assert(fx_run_until(answered, &total, 20000));
    ck_assert_uint_eq(in.marks, total);
    client_close();
    check_gone();
}
END_TEST

enum state {
    IDLE, PARTIAL, ANSWERED, OUTPUT_PENDING, DRAINING, DEADLINE, REFUSED, INPUT_ENDED, N_STATES
};

static bool output_blocked(void *arg)
{
    (void)arg;
    client_send_requests((size_t)-1 / 2);
    return !conn.writable && conn_out_len(&conn) > 0;
}

/* Get the connection into a state; the client closes after, when the
 * state is one the protocol would not leave by itself. */
static bool enter_state(enum state st)
{
    size_t one = 1;
    switch (st) {
    case IDLE:
        return true;
    case PARTIAL:
        fx_send(sv[1], subj->partial, strlen(subj->partial));
        fx_run_for(10);
        return true;
    case ANSWERED:
        fx_send(sv[1], subj->request, strlen(subj->request));
        ck_assert(fx_run_until(answered, &one, 5000));
        return true;
    case OUTPUT_PENDING:
        ck_assert(fx_run_until(output_blocked, NULL, 10000));
        return true;
    case DRAINING:
        fx_send(sv[1], subj->request, strlen(subj->request));
        ck_assert(fx_run_until(answered, &one, 5000));
        conn_drain(&conn);
        ck_assert_int_eq(rec.drain, 1);
        return false;       /* an idle connection goes by itself */
    case DEADLINE:
        return false;
    case REFUSED:
        fx_send(sv[1], subj->bad, strlen(subj->bad));
        return true;
    case INPUT_ENDED:
        fx_send(sv[1], subj->request, strlen(subj->request));
        ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
        return false;
    case N_STATES:
        break;
    }
    ck_abort();
    return false;
}

START_TEST(close_in_each_state)
{
    subj = &subjects[_i / N_STATES];
    enum state st = (enum state)(_i % N_STATES);
    serve(st == DEADLINE ? subj->quick : subj->server);
    if (enter_state(st))
        client_close();
    check_gone();
    if (st == INPUT_ENDED)
        ck_assert_uint_eq(in.marks, 1);     /* what was asked is answered */
    if (st == ANSWERED || st == DRAINING)
        ck_assert_uint_ge(in.marks, 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("conformance");
    TCase *tc = tcase_create("conformance");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, callbacks_in_order, 0, N_SUBJECTS);
    tcase_add_loop_test(tc, back_pressure, 0, N_SUBJECTS);
    tcase_add_loop_test(tc, close_in_each_state, 0, N_SUBJECTS * N_STATES);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    config_use_protocols(&proto_registry);     /* as main.c does */
    return run_suite_tap(suite());
}
