/* An HTTP server of one connection, for the suites of src/http/: a real
 * configuration (its servers share one listener, as virtual hosts, the
 * first the default), proto_http's servers built from it, a connection over
 * a socketpair served on the loop of conn_fixture.h, and the client's end,
 * which sends and reads without blocking while the loop runs. A test may
 * put its own handler on a route. Used by check_http_exchange, _kept, _req,
 * _server and the handler suites. */
#ifndef HERD_TESTS_HTTP_FIXTURE_H
#define HERD_TESTS_HTTP_FIXTURE_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "conn.h"
#include "conn_fixture.h"
#include "http/handler.h"
#include "http/route.h"
#include "http/server.h"
#include "proto.h"
#include "stats.h"

#define HX_CLIENT_IN (1 << 20)
#define HX_SERVERS 4
#define HX_SWAPS 8

struct http_fixture {
    char dir[128];                  /* scratch: herd.conf, access.log, files */
    struct herd_config *cfg;
    struct stats_page *page;        /* for the status handler */
    struct server_rt rt[HX_SERVERS];
    const struct server_rt *vhosts[HX_SERVERS];
    size_t n_servers;
    struct conn conn;
    int client;
    /* what the client sends (pumped without blocking) and receives */
    const char *out;
    size_t out_len, out_off;
    size_t sent;                    /* bytes, on every connection so far */
    bool out_blocked;               /* a write met EAGAIN */
    char in[HX_CLIENT_IN + 1];
    size_t in_len;
    bool eof;
    bool hold_in;                   /* the client reads nothing for now */
    void (*step)(void);             /* test-specific, once per tick */
    /* routes whose handler a test replaced, put back before they are freed */
    struct {
        struct http_route *route;
        const struct http_handler *was;
    } swaps[HX_SWAPS];
    size_t n_swaps;
};

extern struct http_fixture hx;

/* A fresh fixture and its scratch directory hx.dir (for files the
 * configuration names). */
void hx_mkdir(void);
/* Read conf (each "@DIR@" in it replaced by hx.dir) from hx.dir/herd.conf
 * with the protocols of the registry: the configuration, or NULL with the
 * message in err. */
struct herd_config *hx_config(const char *conf, char *err, size_t errcap);
/* hx_config, which must take it. */
struct herd_config *hx_config_ok(const char *conf);
/* hx.dir/herd.conf, the file messages name (valid until hx_stop). */
const char *hx_config_path(void);
/* A configuration refused at FILE:LINE (line 0: FILE alone) with a
 * message that says `says`. */
struct hx_refusal {
    const char *text;
    int line;
    const char *says;
};
void hx_refused_at(int n, const struct hx_refusal *r);
/* Case n of a table of refusals (mark_point: the TAP line names the suite). */
#define hx_refused(n, r) \
    do { \
        hx_refused_at(n, r); \
        mark_point(); \
    } while (0)
/* Load conf as hx_config does, build its servers
 * (each with its access log, when it has one, opened as the master would)
 * and connect a client from 127.0.0.1. */
void hx_load(const char *conf);
/* hx_mkdir() and hx_load(conf). */
void hx_start(const char *conf);
/* Undo hx_load and hx_mkdir. */
void hx_stop(void);
/* Close the connection and open a new one from peer (a numeric IPv4
 * address, or NULL for a unix socket's peer). */
void hx_connect(const char *peer);

/* The route of server i that path selects. */
struct http_route *hx_route_of(size_t i, const char *path);
/* Answer the route of the default server that path selects with h. */
void hx_use_handler(const char *path, const struct http_handler *h);

/* What the client sends next: s itself (it must live until sent). */
void hx_send(const char *s);
void hx_send_bytes(const char *p, size_t n);
/* Forget what the client received so far. */
void hx_forget(void);
/* Run the loop (the client sending and reading, the test's step) until
 * pred holds; false after 10 s, so a hang fails instead of passing. */
bool hx_run_until(bool (*pred)(void));
/* Send req, then run until `until` holds (a hang fails the test). */
#define hx_ask(req, until) \
    do { \
        hx_send(req); \
        ck_assert(hx_run_until(until)); \
    } while (0)
/* The access log (dir/access.log), flushed; valid until the next call. */
const char *hx_access_log(void);

/* Complete responses received, every one framed by Content-Length (or
 * without a body); an interim 100 is not counted. */
int hx_responses(void);
bool hx_one_response(void);
bool hx_two_responses(void);
bool hx_three_responses(void);
/* The server closed the connection. */
bool hx_closed(void);
/* The server has read (and so handled) every byte the client sent. */
bool hx_all_read(void);
/* The first answer starts with this status line (or a prefix of it). */
#define hx_assert_first(status_line) \
    ck_assert_msg(strncmp(hx.in, status_line, strlen(status_line)) == 0, \
                  "the first answer is not %s:\n%s", status_line, hx.in)
/* text holds part. */
#define hx_assert_has(text, part) \
    ck_assert_msg(strstr(text, part) != NULL, "no \"%s\" in:\n%s", part, text)

/* The response (from the status line on) with this status line prefix,
 * e.g. "HTTP/1.1 404 ", or NULL. */
const char *hx_response(const char *status_line);

#endif
