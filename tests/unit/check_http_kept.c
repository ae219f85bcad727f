/* Exchanges that outlive the callback that read their head (kept.c),
 * through the real HTTP server code (http_fixture.h): a handler that
 * answers later, from a timer; one that takes the request body
 * (Content-Length and chunked) with back-pressure; a chunked body read and
 * checked before a handler that takes none; aborts, the access-log line of
 * pending and aborted exchanges, pipelining behind a pending answer, the
 * pool the kept requests come from, a tunnel whose client ends its
 * sending first (the handler hears it and may still answer), and a regex
 * route's captures kept with the request. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "http/handler.h"
#include "http/req.h"
#include "http/server.h"
#include "http/template.h"
#include "http_fixture.h"
#include "loop.h"
#include "stats.h"
#include "tap.h"

static const char conf_fmt[] =
    "servers = ({ listen = [ \"127.0.0.1:1\" ]; body_timeout = \"%s\"; max_body = \"4m\";\n"
    "  access_log = \"@DIR@/access.log\";\n"
    "  access_log_format = \"$status $request $body_bytes_sent\";\n"
    "  routes = (\n"
    "    { path = \"/hello\"; exact = true;\n"
    "      return = { status = 200; type = \"text/plain\"; body = \"hello\\n\"; }; },\n"
    "    { path = \"/later\"; return = { status = 204; }; },\n"
    "    { path = \"/body\"; return = { status = 204; }; },\n"
    "    { path = \"/tunnel\"; return = { status = 204; }; },\n"
    "    { regex = \"^/kept/([a-z]+)(/([0-9]+))?$\"; return = { status = 204; }; }\n"
    "  ); });\n";

static struct loop *loop(void)
{
    return fx.loop;
}

/* ------------------------------------------------------------------ */
/* Test handlers */

/* Answers 200 "later\n" from a timer, `delay` ms after start; the tests
 * that look at the pending exchange wait for a minute and then make the
 * timer due themselves (later_now), so that no test depends on how fast
 * the machine is. */
static struct {
    struct timer t;
    struct http_req *req;
    int64_t delay;
    int started, aborted;
} later;

static void later_fire(struct timer *t)
{
    (void)t;
    struct http_head h = { .status = 200, .type = "text/plain", .length = 6 };
    ck_assert_int_eq(later.req->state, HTTP_REQ_PENDING);
    http_req_respond(later.req, &h, "later\n", 6);
    http_req_done(later.req);
    later.req = NULL;
}

static void later_now(void)
{
    loop_timer_after(loop(), &later.t, 0);
}

static enum http_start later_start(struct http_req *req)
{
    later.started++;
    later.req = req;
    loop_timer_after(loop(), &later.t, later.delay);
    return HTTP_PENDING;
}

static void later_abort(struct http_req *req)
{
    ck_assert_ptr_eq(req, later.req);
    loop_timer_cancel(loop(), &later.t);
    later.aborted++;
    later.req = NULL;
}

static const struct http_handler later_handler = {
    .name = "later", .any_method = true, .start = later_start, .abort = later_abort,
};

/* Takes the body; answers "got N" at its end (or at start when `early`).
 * Takes no more than pause_at bytes (0: no limit) until resumed. */
static struct {
    struct http_req *req;
    char got[4 << 20];
    size_t len;
    size_t pause_at;
    bool paused, ended, early;
    int aborted;
} sink;

static void sink_answer(struct http_req *req, int status)
{
    char text[64];
    int n = snprintf(text, sizeof text, "got %zu\n", sink.len);
    struct http_head h = { .status = status, .type = "text/plain", .length = n };
    http_req_respond(req, &h, text, (size_t)n);
    http_req_done(req);
}

static size_t sink_body(struct http_req *req, const char *p, size_t n)
{
    ck_assert_ptr_eq(req, sink.req);
    if (n == 0) {
        ck_assert(!sink.ended);
        sink.ended = true;
        sink_answer(req, 200);
        return 0;
    }
    size_t take = n;
    if (sink.pause_at && sink.len + take >= sink.pause_at) {
        take = sink.pause_at - sink.len;
        sink.paused = true;
    }
    ck_assert_uint_le(sink.len + take, sizeof sink.got);
    memcpy(sink.got + sink.len, p, take);
    sink.len += take;
    return take;
}

static enum http_start sink_start(struct http_req *req)
{
    sink.req = req;
    if (sink.early) {
        sink_answer(req, 403);
        return HTTP_ANSWERED;
    }
    return HTTP_PENDING;
}

static void sink_abort(struct http_req *req)
{
    ck_assert_ptr_eq(req, sink.req);
    sink.aborted++;
    sink.req = NULL;
}

static const struct http_handler sink_handler = {
    .name = "sink", .any_method = true, .start = sink_start, .body = sink_body,
    .abort = sink_abort,
};

/* Answers 101 and takes the connection as a tunnel; at the client's end
 * of sending, writes "bye" and is done. */
static struct {
    char got[64];
    size_t len;
    bool ended;
} tun;

static enum http_start tun_start(struct http_req *req)
{
    struct http_head h = { .status = 101, .date = http_req_date(req),
                           .conn = HTTP_CONN_UPGRADE };
    ck_assert_int_eq(http_response_send(req->conn, &h, NULL, 0), 0);
    req->status = 101;
    http_req_tunnel(req);
    return HTTP_PENDING;
}

static size_t tun_body(struct http_req *req, const char *p, size_t n)
{
    if (n == 0) {
        ck_assert(!tun.ended);
        tun.ended = true;
        conn_write(req->conn, "bye", 3);
        http_req_done(req);
        return 0;
    }
    ck_assert_uint_le(tun.len + n, sizeof tun.got);
    memcpy(tun.got + tun.len, p, n);
    tun.len += n;
    return n;
}

static const struct http_handler tunnel_handler = {
    .name = "tunnel", .any_method = true, .start = tun_start, .body = tun_body,
    .abort = sink_abort,
};

/* ------------------------------------------------------------------ */
/* The fixture */

static void start_fixture(const char *body_timeout)
{
    memset(&later, 0, sizeof later);
    memset(&sink, 0, sizeof sink);
    later.delay = 60000;
    timer_init(&later.t, later_fire);
    char conf[sizeof conf_fmt + 32];
    snprintf(conf, sizeof conf, conf_fmt, body_timeout);
    hx_start(conf);
    hx_use_handler("/later", &later_handler);
    hx_use_handler("/body", &sink_handler);
    hx_use_handler("/tunnel", &tunnel_handler);
    hx_use_handler("/kept/any", &later_handler);
    memset(&tun, 0, sizeof tun);
}

static void setup(void)
{
    start_fixture("60s");
}

static void teardown(void)
{
    hx_stop();
}

static bool got_later(void) { return strstr(hx.in, "later\n") != NULL; }
static bool got_hello(void) { return strstr(hx.in, "hello\n") != NULL; }
static bool got_got(void) { return strstr(hx.in, "got ") && strchr(strstr(hx.in, "got "), '\n'); }
static bool later_started(void) { return later.started > 0; }
/* The interim answer came and the handler waits for the body. */
static bool continued(void)
{
    return strstr(hx.in, "100 Continue\r\n\r\n") && sink.req &&
           sink.req->state == HTTP_REQ_PENDING && conn_out_len(&hx.conn) == 0;
}

/* ------------------------------------------------------------------ */
/* start: answering later */

START_TEST(later_answers_from_a_timer)
{
    hx_ask("GET /later HTTP/1.1\r\nHost: x\r\n\r\n", later_started);
    ck_assert_uint_eq(hx.in_len, 0);                /* pending: nothing sent yet */
    ck_assert_int_eq(http_conn_of(&hx.conn)->phase, HP_EXCHANGE);
    ck_assert_ptr_nonnull(http_conn_of(&hx.conn)->kept);
    later_now();
    ck_assert(hx_run_until(got_later));
    hx_assert_has(hx.in, "HTTP/1.1 200 OK\r\n");
    hx_assert_has(hx.in, "\r\nContent-Length: 6\r\n");
    ck_assert_ptr_null(strstr(hx.in, "Connection:"));
    ck_assert_int_eq(later.aborted, 0);
    /* The exchange is over and the connection goes on. */
    ck_assert_ptr_null(http_conn_of(&hx.conn)->kept);
    ck_assert_str_eq(hx_access_log(), "200 GET /later HTTP/1.1 6\n");
    hx_ask("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", got_hello);
    ck_assert(hx.conn.in_use);
}
END_TEST

/* Capture n of the pending request, as a string. */
static const char *later_capture(unsigned n)
{
    static char out[64];
    size_t len;
    const char *s = http_req_capture(later.req, n, &len);
    if (s == NULL)
        return "(none)";
    ck_assert_uint_lt(len, sizeof out);
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

/* The routing table's captures are the next match's: a kept request has
 * its own copy, pointing into its own copy of the path. */
START_TEST(regex_captures_kept_with_the_request)
{
    hx_ask("GET /kept/abc/12 HTTP/1.1\r\nHost: x\r\n\r\n", later_started);
    ck_assert_ptr_nonnull(later.req->captures);
    ck_assert_str_eq(later_capture(1), "abc");
    ck_assert_str_eq(later_capture(3), "12");
    const struct http_server *s = later.req->server;
    ck_assert_ptr_ne(later.req->captures, s->routes.caps);
    ck_assert_ptr_eq(later.req->captures->subject, later.req->path);
    ck_assert_ptr_ne(later.req->path, s->path);
    /* Another request's match (another connection's, say) meanwhile. */
    const struct http_captures *caps;
    const char other[] = "/kept/zzzzzz";
    memcpy(s->path, other, sizeof other);
    ck_assert_ptr_nonnull(http_route_find(&s->routes, s->path, sizeof other - 1, &caps));
    ck_assert_ptr_eq(caps, s->routes.caps);
    ck_assert_str_eq(later_capture(1), "abc");
    ck_assert_str_eq(later_capture(3), "12");
    ck_assert_str_eq(later.req->path, "/kept/abc/12");
    later_now();
    ck_assert(hx_run_until(got_later));
}
END_TEST

START_TEST(pipelined_request_waits_for_the_pending_one)
{
    later.delay = 20;
    hx_ask("GET /later HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
           got_hello);
    char *a = strstr(hx.in, "later\n"), *b = strstr(hx.in, "hello\n");
    ck_assert_ptr_nonnull(a);
    ck_assert(a < b);                               /* in order */
    ck_assert_str_eq(hx_access_log(), "200 GET /later HTTP/1.1 6\n200 GET /hello HTTP/1.1 6\n");
}
END_TEST

START_TEST(head_of_a_pending_answer_has_no_body)
{
    later.delay = 1;
    hx_ask("HEAD /later HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
           got_hello);
    ck_assert_ptr_null(strstr(hx.in, "later\n"));
    hx_assert_has(hx.in, "\r\nContent-Length: 6\r\n\r\nHTTP/1.1 200 OK");
    ck_assert_str_eq(hx_access_log(), "200 HEAD /later HTTP/1.1 0\n200 GET /hello HTTP/1.1 6\n");
}
END_TEST

START_TEST(client_gone_aborts_the_pending_exchange)
{
    hx_ask("GET /later HTTP/1.1\r\nHost: x\r\n\r\n", later_started);
    shutdown(hx.client, SHUT_WR);
    ck_assert(hx_run_until(hx_closed));
    ck_assert_int_eq(later.aborted, 1);
    ck_assert_uint_eq(hx.in_len, 0);
    ck_assert_str_eq(hx_access_log(), "499 GET /later HTTP/1.1 0\n");
}
END_TEST

START_TEST(closing_connection_aborts_the_pending_exchange)
{
    hx_ask("GET /later HTTP/1.1\r\nHost: x\r\n\r\n", later_started);
    conn_close_now(&hx.conn);       /* e.g. a send error or the worker's end */
    conn_run(&hx.conn);
    ck_assert(!hx.conn.in_use);
    ck_assert_int_eq(later.aborted, 1);
    ck_assert_str_eq(hx_access_log(), "499 GET /later HTTP/1.1 0\n");
}
END_TEST

/* A kept request comes from its default server's pool and goes back to it:
 * the next exchange reuses it, server_free frees it. */
START_TEST(kept_requests_are_pooled)
{
    struct http_server *s = hx.rt[0].data;
    ck_assert_uint_eq(s->n_kept_free, 0);
    later.delay = 0;
    hx_ask("GET /later HTTP/1.1\r\nHost: x\r\n\r\n", got_later);
    ck_assert_uint_eq(s->n_kept_free, 1);
    struct http_kept *pooled = s->kept_free;
    hx_forget();
    hx_ask("GET /later?again HTTP/1.1\r\nHost: x\r\n\r\n", got_later);
    ck_assert_uint_eq(s->n_kept_free, 1);
    ck_assert_ptr_eq(s->kept_free, pooled);
    ck_assert_int_eq(later.started, 2);
    http_kept_pool_free(s);
    ck_assert_uint_eq(s->n_kept_free, 0);
    ck_assert_ptr_null(s->kept_free);
}
END_TEST

/* ------------------------------------------------------------------ */
/* body: streamed to the handler */

static char big[1 << 20];

static void fill_big(void)
{
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + (i * 7 + i / 251) % 26);
}

START_TEST(content_length_body_streamed)
{
    fill_big();
    static char req[sizeof big + 256];
    int n = snprintf(req, sizeof req, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                     sizeof big);
    memcpy(req + n, big, sizeof big);
    static const char next[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    memcpy(req + n + sizeof big, next, sizeof next - 1);
    hx_send_bytes(req, (size_t)n + sizeof big + sizeof next - 1);
    ck_assert(hx_run_until(got_hello));
    ck_assert(sink.ended);
    ck_assert_uint_eq(sink.len, sizeof big);
    ck_assert_int_eq(memcmp(sink.got, big, sizeof big), 0);
    hx_assert_has(hx.in, "got 1048576\n");
    ck_assert_str_eq(hx_access_log(), "200 POST /body HTTP/1.1 12\n200 GET /hello HTTP/1.1 6\n");
}
END_TEST

/* The body in chunks of every size from 1 to 300, with extensions and a
 * trailer. */
static size_t chunked(char *out, const char *data, size_t len)
{
    size_t o = 0, size = 1;
    for (size_t i = 0; i < len; i += size, size = size % 300 + 1) {
        if (size > len - i)
            size = len - i;
        o += (size_t)sprintf(out + o, "%zx%s\r\n", size, size % 3 ? "" : ";x=1");
        memcpy(out + o, data + i, size);
        o += size;
        memcpy(out + o, "\r\n", 2);
        o += 2;
    }
    return o + (size_t)sprintf(out + o, "0\r\nTrailer: t\r\n\r\n");
}

START_TEST(chunked_body_streamed_decoded)
{
    fill_big();
    static char req[2 * sizeof big];
    size_t n = (size_t)sprintf(req, "PUT /body HTTP/1.1\r\nHost: x\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n");
    n += chunked(req + n, big, 200000);
    n += (size_t)sprintf(req + n, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_send_bytes(req, n);
    ck_assert(hx_run_until(got_hello));
    ck_assert(sink.ended);
    ck_assert_uint_eq(sink.len, 200000);
    ck_assert_int_eq(memcmp(sink.got, big, 200000), 0);
    hx_assert_has(hx.in, "got 200000\n");
    ck_assert_int_eq(sink.aborted, 0);
}
END_TEST

/* The handler stops taking: the connection stops reading once its input
 * is full (the bytes wait there and in the socket, none dropped, none
 * delivered), the client's writes block; once resumed, the rest arrives,
 * all of it, in order. */
static void resume_when_blocked(void)
{
    struct conn *c = &hx.conn;
    if (sink.paused && hx.out_blocked && sink.req && c->in && buf_room(c->in) == 0 &&
        c->in->start == 0) {
        ck_assert_uint_eq(sink.len, sink.pause_at);     /* nothing beyond the pause */
        ck_assert_uint_eq(c->in->cap, 16 * 1024);       /* the input did not grow */
        ck_assert_uint_lt(stats_get(fx.stats, STAT_BYTES_IN), hx.out_off);
        sink.paused = false;
        sink.pause_at = 0;
        http_req_body_resume(sink.req);
    }
}

static void back_pressure(bool chunked_body)
{
    fill_big();
    static char req[2 * sizeof big];
    size_t n;
    if (chunked_body) {
        n = (size_t)sprintf(req, "POST /body HTTP/1.1\r\nHost: x\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n");
        n += chunked(req + n, big, sizeof big);
    } else {
        n = (size_t)sprintf(req, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                            sizeof big);
        memcpy(req + n, big, sizeof big);
        n += sizeof big;
    }
    hx_send_bytes(req, n);
    sink.pause_at = 1000;
    hx.step = resume_when_blocked;
    ck_assert(hx_run_until(got_got));
    ck_assert(hx.out_blocked);          /* the pause reached the client */
    ck_assert_uint_eq(sink.len, sizeof big);
    ck_assert_int_eq(memcmp(sink.got, big, sizeof big), 0);
    hx_assert_has(hx.in, "got 1048576\n");
}

START_TEST(content_length_back_pressure)
{
    back_pressure(false);
}
END_TEST

START_TEST(chunked_back_pressure)
{
    back_pressure(true);
}
END_TEST

START_TEST(continue_before_a_wanted_body)
{
    hx_ask("POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
           "Expect: 100-continue\r\nConnection: close\r\n\r\n", continued);
    ck_assert_str_eq(hx.in, "HTTP/1.1 100 Continue\r\n\r\n");   /* and nothing else */
    hx_ask("hello", hx_closed);
    hx_assert_has(hx.in, "got 5\n");
    hx_assert_has(hx.in, "Connection: close\r\n");
    ck_assert_int_eq(memcmp(sink.got, "hello", 5), 0);
}
END_TEST

START_TEST(early_answer_discards_the_body)
{
    sink.early = true;
    hx_ask("POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
           "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", got_hello);
    hx_assert_has(hx.in, "HTTP/1.1 403 Forbidden\r\n");
    ck_assert_uint_eq(sink.len, 0);
    ck_assert(!sink.ended);
    ck_assert_int_eq(sink.aborted, 0);
    ck_assert_str_eq(hx_access_log(), "403 POST /body HTTP/1.1 6\n200 GET /hello HTTP/1.1 6\n");
}
END_TEST

/* A handler that may answer later but takes no body: the body is not its,
 * but the client still gets its 100 Continue (the connection goes on, so
 * the body must come), and the body is dropped after the answer. */
START_TEST(body_of_a_handler_without_body_dropped_after_the_answer)
{
    later.delay = 0;
    hx_ask("POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n"
           "Expect: 100-continue\r\n\r\n", got_later);
    hx_assert_first("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n");
    ck_assert_ptr_nonnull(http_conn_of(&hx.conn)->kept);    /* the body is still due */
    hx_ask("1234567GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", got_hello);
    ck_assert_ptr_null(http_conn_of(&hx.conn)->kept);
    ck_assert_str_eq(hx_access_log(), "200 POST /later HTTP/1.1 6\n200 GET /hello HTTP/1.1 6\n");
}
END_TEST

/* A chunked body for a handler that takes none (a fixed answer): read and
 * checked whole before the answer, so a broken one gets the only answer. */
START_TEST(chunked_body_checked_before_a_handler_without_body)
{
    hx_ask("POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           "3\r\nabc\r\n", hx_all_read);
    ck_assert_uint_eq(hx.in_len, 0);                /* not answered before its end */
    ck_assert_int_eq(http_conn_of(&hx.conn)->phase, HP_EXCHANGE);
    hx_ask("0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", hx_two_responses);
    ck_assert_str_eq(hx_access_log(), "200 POST /hello HTTP/1.1 6\n200 GET /hello HTTP/1.1 6\n");
}
END_TEST

START_TEST(broken_chunked_body_is_the_only_answer)
{
    hx_ask("POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           "3\r\nabc\r\nzz\r\n", hx_closed);
    hx_assert_first("HTTP/1.1 400 Bad Request\r\n");
    ck_assert_ptr_null(strstr(hx.in, "hello\n"));
    ck_assert_int_eq(hx_responses(), 1);
    ck_assert_int_eq(strncmp(hx_access_log(), "400 POST /hello HTTP/1.1 ", 25), 0);
}
END_TEST

/* A chunked body that breaks while the handler takes it: the handler is
 * aborted, the break is the answer, the connection ends. */
static void broken_body(const char *chunks, const char *status_line, const char *log_line)
{
    static char req[512];
    snprintf(req, sizeof req, "POST /body HTTP/1.1\r\nHost: x\r\n"
                              "Transfer-Encoding: chunked\r\n\r\n%s", chunks);
    hx_ask(req, hx_closed);
    ck_assert_int_eq(sink.aborted, 1);
    ck_assert(!sink.ended);
    ck_assert_ptr_nonnull(strstr(hx.in, status_line));
    hx_assert_has(hx.in, "\r\nConnection: close\r\n");
    ck_assert_ptr_nonnull(strstr(hx_access_log(), log_line));
}

START_TEST(malformed_chunk_aborts_and_answers_400)
{
    broken_body("5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n",
                "400 POST /body HTTP/1.1 ");
    /* What came before the break was the handler's. */
    ck_assert_uint_eq(sink.len, 5);
    ck_assert_int_eq(memcmp(sink.got, "hello", 5), 0);
}
END_TEST

START_TEST(chunked_body_over_max_body_413)
{
    broken_body("500000\r\n", "HTTP/1.1 413 Content Too Large\r\n", "413 POST /body HTTP/1.1 ");
    ck_assert_uint_eq(sink.len, 0);
}
END_TEST

START_TEST(body_timeout_aborts)
{
    teardown();
    start_fixture("50ms");
    hx_ask("POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789", hx_closed);
    ck_assert_int_eq(sink.aborted, 1);
    ck_assert_uint_eq(sink.len, 10);
    ck_assert_uint_eq(hx.in_len, 0);
    ck_assert_str_eq(hx_access_log(), "408 POST /body HTTP/1.1 0\n");
}
END_TEST

static bool got_101_and_abc(void)
{
    return strstr(hx.in, "HTTP/1.1 101 ") != NULL && tun.len == 3;
}

START_TEST(tunnel_client_end_told_to_the_handler)
{
    hx_ask("GET /tunnel HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
           "Upgrade: websocket\r\n\r\nabc", got_101_and_abc);
    ck_assert(!tun.ended);
    shutdown(hx.client, SHUT_WR);
    ck_assert(hx_run_until(hx_closed));
    ck_assert(tun.ended);
    ck_assert(memcmp(tun.got, "abc", 3) == 0);
    ck_assert_int_eq(sink.aborted, 0);
    ck_assert_uint_ge(hx.in_len, 3);
    ck_assert(memcmp(hx.in + hx.in_len - 3, "bye", 3) == 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_kept");
    TCase *t = tcase_create("later");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, later_answers_from_a_timer);
    tcase_add_test(t, regex_captures_kept_with_the_request);
    tcase_add_test(t, pipelined_request_waits_for_the_pending_one);
    tcase_add_test(t, head_of_a_pending_answer_has_no_body);
    tcase_add_test(t, client_gone_aborts_the_pending_exchange);
    tcase_add_test(t, closing_connection_aborts_the_pending_exchange);
    tcase_add_test(t, kept_requests_are_pooled);
    tcase_add_test(t, tunnel_client_end_told_to_the_handler);
    suite_add_tcase(s, t);
    t = tcase_create("body");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, content_length_body_streamed);
    tcase_add_test(t, chunked_body_streamed_decoded);
    tcase_add_test(t, content_length_back_pressure);
    tcase_add_test(t, chunked_back_pressure);
    tcase_add_test(t, continue_before_a_wanted_body);
    tcase_add_test(t, early_answer_discards_the_body);
    tcase_add_test(t, body_of_a_handler_without_body_dropped_after_the_answer);
    tcase_add_test(t, chunked_body_checked_before_a_handler_without_body);
    tcase_add_test(t, broken_chunked_body_is_the_only_answer);
    tcase_add_test(t, malformed_chunk_aborts_and_answers_400);
    tcase_add_test(t, chunked_body_over_max_body_413);
    tcase_add_test(t, body_timeout_aborts);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
