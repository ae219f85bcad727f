/* Check suite for the heads the reverse proxy rewrites
 * (src/http/proxy_head.c, proxy_head.h): the upstream request head built
 * from a client's request (hop-by-hop removal before herd's own fields,
 * X-Forwarded-*, Via, Forwarded, Host, body framing, configured fields,
 * origin-form), the upstream response fields passed to the client, and the
 * client head built from them by the one head builder. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/parse_response.h"
#include "http/proxy_head.h"
#include "http/response.h"
#include "tap.h"

#define CAP 96      /* room for heads longer than proxy_head.c's KINDS_KEPT (64) */
#define LIT(s) s, sizeof s - 1

static const struct http_limits lim = {
    .max_target = 256, .max_header_size = 4096, .max_headers = CAP,
};

static struct http_header client_fields[CAP];
static struct http_request client_req;
static struct http_framing client_f;

/* Parse and check the client's request raw (a string that outlives it). */
static void client(const char *raw)
{
    int status = 0;
    client_req = (struct http_request){ .headers = client_fields, .num_headers = CAP };
    int rc = http_parse_request(raw, strlen(raw), 0, &client_req, &lim, &status);
    ck_assert_msg(rc == (int)strlen(raw), "client head: rc %d status %d", rc, status);
    ck_assert_int_eq(http_request_check(&client_req, &client_f), 0);
}

static struct http_proxy_request base(void)
{
    return (struct http_proxy_request){
        .head = &client_req, .f = &client_f, .peer = "192.0.2.1", .peer_len = 9,
    };
}

/* The head for r, NUL-terminated; checks that the length alone (no room)
 * is the same, and that a buffer too small is never written past. */
static char *build(const struct http_proxy_request *r)
{
    size_t len = http_proxy_request_head(NULL, 0, r);
    char *out = malloc(len + 1);
    ck_assert_ptr_nonnull(out);
    size_t caps[] = { len / 2, len - 1 };
    for (size_t i = 0; i < 2; i++) {
        memset(out, '#', len + 1);
        ck_assert_uint_eq(http_proxy_request_head(out, caps[i], r), len);
        ck_assert_int_eq(out[caps[i]], '#');
    }
    memset(out, '#', len + 1);
    ck_assert_uint_eq(http_proxy_request_head(out, len, r), len);
    ck_assert_int_eq(out[len], '#');
    out[len] = '\0';
    /* What herd sends parses as a request, with the same checks. */
    struct http_header f[CAP];
    struct http_request again = { .headers = f, .num_headers = CAP };
    struct http_framing fr;
    int status = 0;
    ck_assert_int_eq(http_parse_request(out, len, 0, &again, &lim, &status), (int)len);
    ck_assert_int_eq(http_request_check(&again, &fr), 0);
    return out;
}

static void expect_head(const struct http_proxy_request *r, const char *want)
{
    char *got = build(r);
    ck_assert_str_eq(got, want);
    free(got);
}

/* Whether the head holds the whole line "line\r\n" (after a CRLF). */
static bool has_line(const char *head, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
        if (strncmp(p + 2, line, n) == 0 && strncmp(p + 2 + n, "\r\n", 2) == 0)
            return true;
    return false;
}

/* How many lines begin with the field name prefix "Name:" (case-insensitive). */
static int count_field(const char *head, const char *name)
{
    int n = 0;
    size_t len = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, len) == 0 && p[2 + len] == ':')
            n++;
    return n;
}

#define HEADS "Host: example.com\r\n"

START_TEST(plain_get)
{
    client("GET /a/b?c=d HTTP/1.1\r\n" HEADS "Accept: */*\r\nCookie: x=1\r\n\r\n");
    struct http_proxy_request r = base();
    expect_head(&r, "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nCookie: x=1\r\n"
                    "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
                    "X-Forwarded-Host: example.com\r\nVia: 1.1 herd\r\n\r\n");
}
END_TEST

START_TEST(hop_by_hop_fixed)
{
    client("POST /u HTTP/1.1\r\n" HEADS "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
           "TE: trailers\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n"
           "Upgrade: websocket\r\nProxy-Connection: keep-alive\r\nX-Keep: 1\r\n\r\n");
    struct http_proxy_request r = base();
    char *h = build(&r);
    const char *gone[] = { "Connection", "Keep-Alive", "TE", "Trailer", "Upgrade",
                           "Proxy-Connection" };
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        ck_assert_msg(count_field(h, gone[i]) == 0, "%s passed:\n%s", gone[i], h);
    ck_assert(has_line(h, "X-Keep: 1"));
    /* herd's own framing of the body it sends on */
    ck_assert_int_eq(count_field(h, "Transfer-Encoding"), 1);
    ck_assert(has_line(h, "Transfer-Encoding: chunked"));
    free(h);
}
END_TEST

/* Fields named in Connection: any case, several Connection fields, lists
 * with OWS and empty elements, even when Connection comes after them. */
START_TEST(hop_by_hop_named)
{
    client("GET / HTTP/1.1\r\n" HEADS "X-A: 1\r\nConnection: x-a ,\tX-B\r\nx-b: 2\r\n"
           "X-C: 3\r\nConnection: , x-C,,\r\nX-D: 4\r\nX-AB: 5\r\n\r\n");
    struct http_proxy_request r = base();
    char *h = build(&r);
    ck_assert_int_eq(count_field(h, "X-A"), 0);
    ck_assert_int_eq(count_field(h, "X-B"), 0);
    ck_assert_int_eq(count_field(h, "X-C"), 0);
    ck_assert(has_line(h, "X-D: 4"));
    ck_assert(has_line(h, "X-AB: 5"));
    ck_assert_int_eq(count_field(h, "Connection"), 0);
    free(h);
}
END_TEST

/* The attack of issue 9: a client naming herd's own fields in Connection
 * removes its own copies, never herd's. */
START_TEST(connection_cannot_remove_herds_fields)
{
    client("GET / HTTP/1.1\r\n" HEADS "Connection: close, X-Forwarded-For\r\n"
           "X-Forwarded-For: 6.6.6.6\r\n\r\n");
    struct http_proxy_request r = base();
    char *h = build(&r);
    ck_assert(has_line(h, "X-Forwarded-For: 192.0.2.1"));
    ck_assert_int_eq(count_field(h, "X-Forwarded-For"), 1);
    ck_assert_ptr_null(strstr(h, "6.6.6.6"));
    free(h);

    client("GET / HTTP/1.1\r\n" HEADS "Connection: X-Forwarded-Proto, X-Forwarded-Host, Via, "
           "Host, Forwarded, X-Real\r\nVia: 1.0 evil\r\nForwarded: for=6.6.6.6\r\n\r\n");
    r = base();
    r.forwarded = true;
    h = build(&r);
    ck_assert(has_line(h, "Host: example.com"));
    ck_assert(has_line(h, "X-Forwarded-Proto: http"));
    ck_assert(has_line(h, "X-Forwarded-Host: example.com"));
    ck_assert(has_line(h, "Via: 1.1 herd"));
    ck_assert(has_line(h, "Forwarded: for=192.0.2.1;proto=http;host=example.com"));
    ck_assert_ptr_null(strstr(h, "evil"));
    ck_assert_ptr_null(strstr(h, "6.6.6.6"));
    free(h);
}
END_TEST

START_TEST(xff_appended_or_set)
{
    client("GET / HTTP/1.1\r\n" HEADS "X-Forwarded-For: 10.0.0.1\r\nA: b\r\n"
           "x-forwarded-for: 10.0.0.2,  10.0.0.3\r\n\r\n");
    struct http_proxy_request r = base();
    char *h = build(&r);
    ck_assert(has_line(h, "X-Forwarded-For: 10.0.0.1, 10.0.0.2,  10.0.0.3, 192.0.2.1"));
    ck_assert_int_eq(count_field(h, "X-Forwarded-For"), 1);
    free(h);

    client("GET / HTTP/1.1\r\n" HEADS "\r\n");
    r = base();
    r.peer = "2001:db8::1";
    r.peer_len = strlen(r.peer);
    h = build(&r);
    ck_assert(has_line(h, "X-Forwarded-For: 2001:db8::1"));
    free(h);
}
END_TEST

START_TEST(x_forwarded_proto_host_replaced)
{
    client("GET / HTTP/1.1\r\nHost: shop.test:8080\r\nX-Forwarded-Proto: https\r\n"
           "X-Forwarded-Host: evil.test\r\n\r\n");
    struct http_proxy_request r = base();
    char *h = build(&r);
    ck_assert(has_line(h, "X-Forwarded-Proto: http"));
    ck_assert(has_line(h, "X-Forwarded-Host: shop.test:8080"));
    ck_assert_int_eq(count_field(h, "X-Forwarded-Proto"), 1);
    ck_assert_int_eq(count_field(h, "X-Forwarded-Host"), 1);
    free(h);
    r.https = true;
    h = build(&r);
    ck_assert(has_line(h, "X-Forwarded-Proto: https"));
    free(h);
}
END_TEST

START_TEST(via_appended)
{
    client("GET / HTTP/1.1\r\n" HEADS "Via: 1.0 fred, 1.1 p.example\r\n\r\n");
    struct http_proxy_request r = base();
    char *h = build(&r);
    ck_assert(has_line(h, "Via: 1.0 fred, 1.1 p.example, 1.1 herd"));
    ck_assert_int_eq(count_field(h, "Via"), 1);
    free(h);
}
END_TEST

START_TEST(forwarded_quoting)
{
    static const struct {
        const char *peer, *host;
        bool https;
        const char *want;
    } cases[] = {
        { "192.0.2.1", "example.com", false, "Forwarded: for=192.0.2.1;proto=http;host=example.com" },
        { "2001:db8::1", "example.com", true,
          "Forwarded: for=\"[2001:db8::1]\";proto=https;host=example.com" },
        { "::ffff:192.0.2.1", "example.com", false,
          "Forwarded: for=\"[::ffff:192.0.2.1]\";proto=http;host=example.com" },
        { "192.0.2.1", "example.com:8080", false,
          "Forwarded: for=192.0.2.1;proto=http;host=\"example.com:8080\"" },
        { "192.0.2.1", "[2001:db8::2]:81", false,
          "Forwarded: for=192.0.2.1;proto=http;host=\"[2001:db8::2]:81\"" },
        { "unix:", "example.com", false, "Forwarded: for=\"unix:\";proto=http;host=example.com" },
        { "a\"b\\c", "example.com", false,
          "Forwarded: for=\"a\\\"b\\\\c\";proto=http;host=example.com" },
        { "", "example.com", false, "Forwarded: for=unknown;proto=http;host=example.com" },
    };
    char raw[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", cases[i].host);
        client(raw);
        struct http_proxy_request r = base();
        r.peer = cases[i].peer;
        r.peer_len = strlen(cases[i].peer);
        r.https = cases[i].https;
        r.forwarded = true;
        char *h = build(&r);
        ck_assert_msg(has_line(h, cases[i].want), "want %s in\n%s", cases[i].want, h);
        free(h);
    }
}
END_TEST

START_TEST(forwarded_appended_only_when_asked)
{
    client("GET / HTTP/1.1\r\n" HEADS "Forwarded: for=10.0.0.1\r\nForwarded: for=10.0.0.2\r\n\r\n");
    struct http_proxy_request r = base();
    char *h = build(&r);
    ck_assert(has_line(h, "Forwarded: for=10.0.0.1"));
    ck_assert(has_line(h, "Forwarded: for=10.0.0.2"));
    ck_assert_int_eq(count_field(h, "Forwarded"), 2);
    free(h);
    r.forwarded = true;
    h = build(&r);
    ck_assert(has_line(h, "Forwarded: for=10.0.0.1, for=10.0.0.2, "
                          "for=192.0.2.1;proto=http;host=example.com"));
    ck_assert_int_eq(count_field(h, "Forwarded"), 1);
    free(h);
}
END_TEST

START_TEST(origin_form)
{
    static const struct {
        const char *target, *line, *host;
    } cases[] = {
        { "/p?q=1", "GET /p?q=1 HTTP/1.1", "example.com" },
        { "http://a.test/p?q=1", "GET /p?q=1 HTTP/1.1", "a.test" },
        { "HTTPS://a.test:8443/x/y", "GET /x/y HTTP/1.1", "a.test:8443" },
        { "http://a.test", "GET / HTTP/1.1", "a.test" },
        { "http://a.test?x", "GET /?x HTTP/1.1", "a.test" },
        { "http://a.test#f", "GET / HTTP/1.1", "a.test" },
        { "/a#frag", "GET /a HTTP/1.1", "example.com" },
    };
    char raw[160];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\n" HEADS "\r\n", cases[i].target);
        client(raw);
        struct http_proxy_request r = base();
        char *h = build(&r);
        ck_assert_msg(strncmp(h, cases[i].line, strlen(cases[i].line)) == 0 &&
                          strncmp(h + strlen(cases[i].line), "\r\n", 2) == 0,
                      "%s: %s", cases[i].target, h);
        char host[64];
        snprintf(host, sizeof host, "Host: %s", cases[i].host);
        ck_assert_msg(has_line(h, host), "%s: %s", cases[i].target, h);
        ck_assert_int_eq(count_field(h, "Host"), 1);
        free(h);
    }
}
END_TEST

START_TEST(websocket_upgrade_only_when_asked)
{
    client("GET /ws HTTP/1.1\r\n" HEADS "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    ck_assert(http_proxy_is_websocket(&client_req));
    struct http_proxy_request r = base();
    char *h = build(&r);
    ck_assert_int_eq(count_field(h, "Upgrade"), 0);
    ck_assert_int_eq(count_field(h, "Connection"), 0);
    ck_assert(has_line(h, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="));
    free(h);
    r.upgrade = true;
    h = build(&r);
    ck_assert(has_line(h, "Upgrade: websocket"));
    ck_assert(has_line(h, "Connection: upgrade"));
    ck_assert_int_eq(count_field(h, "Connection"), 1);
    ck_assert(has_line(h, "Sec-WebSocket-Version: 13"));
    free(h);
}
END_TEST

START_TEST(websocket_detection)
{
    static const struct {
        const char *raw;
        bool ws;
    } cases[] = {
        { "GET / HTTP/1.1\r\n" HEADS "Upgrade: websocket\r\nConnection: upgrade\r\n\r\n", true },
        { "GET / HTTP/1.1\r\n" HEADS "Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\n",
          true },
        { "GET / HTTP/1.1\r\n" HEADS "Upgrade: h2c, websocket\r\nConnection: x\r\n"
          "Connection: upgrade\r\n\r\n", true },
        { "GET / HTTP/1.1\r\n" HEADS "Upgrade: websocket\r\n\r\n", false },
        { "GET / HTTP/1.1\r\n" HEADS "Connection: upgrade\r\n\r\n", false },
        { "GET / HTTP/1.1\r\n" HEADS "Upgrade: h2c\r\nConnection: upgrade\r\n\r\n", false },
        { "POST / HTTP/1.1\r\n" HEADS "Upgrade: websocket\r\nConnection: upgrade\r\n\r\n", false },
        { "GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        client(cases[i].raw);
        ck_assert_msg(http_proxy_is_websocket(&client_req) == cases[i].ws, "%s", cases[i].raw);
    }
}
END_TEST

START_TEST(body_framing_and_expect)
{
    client("PUT /f HTTP/1.1\r\n" HEADS "Content-Length: 12345\r\nExpect: 100-continue\r\n\r\n");
    struct http_proxy_request r = base();
    char *h = build(&r);
    ck_assert(has_line(h, "Content-Length: 12345"));
    ck_assert_int_eq(count_field(h, "Content-Length"), 1);
    ck_assert_int_eq(count_field(h, "Expect"), 0);
    free(h);

    client("POST /f HTTP/1.1\r\n" HEADS "Transfer-Encoding: chunked\r\n\r\n");
    r = base();
    h = build(&r);
    ck_assert(has_line(h, "Transfer-Encoding: chunked"));
    ck_assert_int_eq(count_field(h, "Content-Length"), 0);
    free(h);

    client("GET / HTTP/1.1\r\n" HEADS "\r\n");
    r = base();
    h = build(&r);
    ck_assert_int_eq(count_field(h, "Content-Length"), 0);
    ck_assert_int_eq(count_field(h, "Transfer-Encoding"), 0);
    free(h);
}
END_TEST

START_TEST(host_configured_or_missing)
{
    client("GET / HTTP/1.1\r\nHost: public.test\r\n\r\n");
    struct http_proxy_request r = base();
    r.host = "backend.internal:8000";
    r.host_len = strlen(r.host);
    char *h = build(&r);
    ck_assert(has_line(h, "Host: backend.internal:8000"));
    ck_assert(has_line(h, "X-Forwarded-Host: public.test"));
    ck_assert_int_eq(count_field(h, "Host"), 1);
    free(h);

    client("GET / HTTP/1.0\r\n\r\n");
    r = base();
    r.forwarded = true;
    h = build(&r);
    ck_assert(has_line(h, "Host: "));
    ck_assert_int_eq(count_field(h, "X-Forwarded-Host"), 0);
    ck_assert(has_line(h, "Forwarded: for=192.0.2.1;proto=http"));
    free(h);
}
END_TEST

START_TEST(configured_fields)
{
    client("GET / HTTP/1.1\r\n" HEADS "Accept: a\r\nX-Trace: t1\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n");
    struct http_proxy_field fields[] = {
        { LIT("X-Extra"), LIT("1"), false },
        { LIT("X-Trace"), LIT("t2"), false },
        { LIT("x-forwarded-for"), LIT("fixed"), true },
        { LIT("ACCEPT"), LIT(""), true },
        { LIT("Host"), LIT("set.test"), true },
    };
    struct http_proxy_request r = base();
    r.fields = fields;
    r.n_fields = sizeof fields / sizeof fields[0];
    char *h = build(&r);
    ck_assert(has_line(h, "X-Extra: 1"));
    ck_assert(has_line(h, "X-Trace: t1"));
    ck_assert(has_line(h, "X-Trace: t2"));
    ck_assert(has_line(h, "x-forwarded-for: fixed"));
    ck_assert_int_eq(count_field(h, "X-Forwarded-For"), 1);
    ck_assert_int_eq(count_field(h, "Accept"), 0);
    ck_assert(has_line(h, "Host: set.test"));
    ck_assert_int_eq(count_field(h, "Host"), 1);
    /* Configured fields come last, after herd's own. */
    ck_assert_ptr_nonnull(strstr(strstr(h, "Via: 1.1 herd"), "X-Extra: 1"));
    free(h);
}
END_TEST

START_TEST(connection_close_and_target_override)
{
    client("GET /public/x?y HTTP/1.1\r\n" HEADS "\r\n");
    struct http_proxy_request r = base();
    r.close = true;
    r.target = "/internal/x?y";
    r.target_len = strlen(r.target);
    char *h = build(&r);
    ck_assert(strncmp(h, "GET /internal/x?y HTTP/1.1\r\n", 28) == 0);
    ck_assert(has_line(h, "Connection: close"));
    free(h);
}
END_TEST

/* Every name the proxy treats apart is recognised in any case, and a name
 * of the same length that differs by a letter (or by '_' for '-') is
 * anybody's field, passed as it is. */
START_TEST(names_in_any_case_and_near_misses)
{
    client("GET / HTTP/1.1\r\nhOST: example.com\r\nCONNECTION: x-a\r\nx-A: 1\r\n"
           "kEEP-aLIVE: 5\r\nte: trailers\r\nTRAILER: x\r\nPROXY-connection: y\r\n"
           "uPGRADE: h2c\r\nx-forwarded-FOR: 10.0.0.1\r\nVIA: 1.0 old\r\n"
           "X-FORWARDED-PROTO: https\r\nx-FORWARDED-host: other\r\n"
           "Hosu: 1\r\nTf: 2\r\nVib: 3\r\nConnectiom: 4\r\nKeep-alivf: 5\r\nTrailes: 6\r\n"
           "Upgradf: 7\r\nForwardef: 8\r\nX-Forwarded-Foq: 9\r\nProxy-Connectiom: 10\r\n"
           "X-Forwarded-Hosu: 11\r\nTransfer-Encodinh: 12\r\nX-Forwarded-Protn: 13\r\n"
           "Content-Lengti: 14\r\nExpecu: 15\r\nServep: 16\r\nDatf: 17\r\nKeep_Alive: 18\r\n"
           "X_Forwarded_For: 19\r\n\r\n");
    struct http_proxy_request r = base();
    expect_head(&r, "GET / HTTP/1.1\r\nHost: example.com\r\n"
                    "Hosu: 1\r\nTf: 2\r\nVib: 3\r\nConnectiom: 4\r\nKeep-alivf: 5\r\nTrailes: 6\r\n"
                    "Upgradf: 7\r\nForwardef: 8\r\nX-Forwarded-Foq: 9\r\nProxy-Connectiom: 10\r\n"
                    "X-Forwarded-Hosu: 11\r\nTransfer-Encodinh: 12\r\nX-Forwarded-Protn: 13\r\n"
                    "Content-Lengti: 14\r\nExpecu: 15\r\nServep: 16\r\nDatf: 17\r\n"
                    "Keep_Alive: 18\r\nX_Forwarded_For: 19\r\n"
                    "X-Forwarded-For: 10.0.0.1, 192.0.2.1\r\nX-Forwarded-Proto: http\r\n"
                    "X-Forwarded-Host: example.com\r\nVia: 1.0 old, 1.1 herd\r\n\r\n");
}
END_TEST

/* "X-Fn: n" for n in [0, count), appended to s. */
static void fillers(char *s, int count)
{
    for (int i = 0; i < count; i++)
        sprintf(s + strlen(s), "X-F%d: %d\r\n", i, i);
}

/* Past the fields whose kinds proxy_head.c keeps (64): the later ones are
 * judged the same. */
START_TEST(hop_by_hop_past_many_fields)
{
    static char raw[4096];
    strcpy(raw, "GET / HTTP/1.1\r\n" HEADS "X-Early: 0\r\n");
    fillers(raw, 70);
    strcat(raw, "X-Late: 1\r\nKeep-Alive: 5\r\nX-Forwarded-For: 10.9.9.9\r\n"
                "Connection: x-late, X-EARLY\r\n"
                "Via: 1.0 old\r\n\r\n");
    client(raw);
    struct http_proxy_request r = base();
    char *h = build(&r);
    for (int i = 0; i < 70; i++) {
        char line[32];
        snprintf(line, sizeof line, "X-F%d: %d", i, i);
        ck_assert_msg(has_line(h, line), "%s lost", line);
    }
    ck_assert_int_eq(count_field(h, "X-Late"), 0);
    ck_assert_int_eq(count_field(h, "X-Early"), 0);
    ck_assert_int_eq(count_field(h, "Keep-Alive"), 0);
    ck_assert_int_eq(count_field(h, "Connection"), 0);
    ck_assert(has_line(h, "X-Forwarded-For: 10.9.9.9, 192.0.2.1"));
    ck_assert(has_line(h, "Via: 1.0 old, 1.1 herd"));
    free(h);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The response side */

static struct http_header up_fields[CAP];
static struct http_response up;

static void upstream(const char *raw)
{
    const char *why = NULL;
    up = (struct http_response){ .headers = up_fields, .num_headers = CAP };
    ck_assert_int_eq(http_parse_response(raw, strlen(raw), 0, &up, &lim, &why), (int)strlen(raw));
}

/* The passed fields as "name: value\n" lines. */
static char *passed(bool tunnel)
{
    struct http_header out[CAP];
    size_t n = http_proxy_response_fields(&up, tunnel, out);
    char *s = calloc(1, 4096);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++) {
        strncat(s, out[i].name, out[i].name_len);
        strcat(s, ": ");
        strncat(s, out[i].value, out[i].value_len);
        strcat(s, "\n");
    }
    return s;
}

START_TEST(response_fields_filtered)
{
    upstream("HTTP/1.1 200 OK\r\nServer: gunicorn\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
             "Content-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive, X-Internal\r\n"
             "Keep-Alive: timeout=5\r\nX-Internal: secret\r\nSet-Cookie: a=1\r\n"
             "Trailer: X-Sum\r\nUpgrade: h2c\r\nProxy-Connection: x\r\nTE: trailers\r\n"
             "Set-Cookie: b=2\r\nCache-Control: no-cache\r\n\r\n");
    char *s = passed(false);
    ck_assert_str_eq(s, "Content-Type: text/plain\nSet-Cookie: a=1\nSet-Cookie: b=2\n"
                        "Cache-Control: no-cache\n");
    free(s);

    upstream("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nconnection: X-A\r\n\r\n");
    s = passed(false);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

/* In any case; near misses pass; past many fields the same. */
START_TEST(response_names_in_any_case_and_past_many_fields)
{
    upstream("HTTP/1.1 200 OK\r\nsERVER: x\r\nDATE: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
             "content-LENGTH: 5\r\nCONNECTION: x-a\r\nx-a: 1\r\nkeep-ALIVE: 1\r\n"
             "Servep: 1\r\nDatf: 2\r\nContent-Lengti: 3\r\n\r\n");
    char *s = passed(false);
    ck_assert_str_eq(s, "Servep: 1\nDatf: 2\nContent-Lengti: 3\n");
    free(s);

    static char raw[4096];
    strcpy(raw, "HTTP/1.1 200 OK\r\nx-early: 0\r\n");
    fillers(raw, 70);
    strcat(raw, "X-Late: 1\r\nServer: x\r\nTE: y\r\nConnection: x-late,X-Early\r\n"
                "Content-Length: 0\r\n\r\n");
    upstream(raw);
    struct http_header out[CAP];
    ck_assert_uint_eq(http_proxy_response_fields(&up, false, out), 70);
    ck_assert(out[69].name_len == 5 && memcmp(out[69].name, "X-F69", 5) == 0);
}
END_TEST

START_TEST(response_101_tunnel)
{
    upstream("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    char *s = passed(true);
    ck_assert_str_eq(s, "Upgrade: websocket\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n");
    free(s);
    s = passed(false);
    ck_assert_str_eq(s, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n");
    free(s);
}
END_TEST

/* The client's head for a proxied response comes from the one builder. */
START_TEST(response_head_through_builder)
{
    static const char date[] = "Sun, 06 Nov 1994 08:49:37 GMT";
    upstream("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: abc=\r\n\r\n");
    struct http_header out[CAP];
    struct http_head h = { .status = up.status, .date = date, .conn = HTTP_CONN_UPGRADE };
    h.n_fields = http_proxy_response_fields(&up, true, out);
    h.fields = out;
    size_t len = http_head_len(&h);
    char *buf = malloc(len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(http_head_write(buf, &h, NULL), len);
    buf[len] = '\0';
    ck_assert_str_eq(buf, "HTTP/1.1 101 Switching Protocols\r\nServer: herd\r\n"
                          "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\nUpgrade: websocket\r\n"
                          "Sec-WebSocket-Accept: abc=\r\nConnection: upgrade\r\n\r\n");
    free(buf);
}
END_TEST

/* The client's address as inet_ntop writes it. */
START_TEST(addresses_as_text)
{
    char got[INET6_ADDRSTRLEN], want[INET6_ADDRSTRLEN];
    const unsigned parts[] = { 0, 1, 9, 10, 99, 100, 127, 199, 200, 255 };
    size_t np = sizeof parts / sizeof parts[0];
    for (size_t i = 0; i < np * np * np * np; i++) {
        unsigned char a[4] = { (unsigned char)parts[i % np], (unsigned char)parts[i / np % np],
                               (unsigned char)parts[i / np / np % np],
                               (unsigned char)parts[i / np / np / np] };
        ck_assert_ptr_nonnull(inet_ntop(AF_INET, a, want, sizeof want));
        ck_assert_uint_eq(http_proxy_addr_text(AF_INET, a, got, sizeof got), strlen(want));
        ck_assert_str_eq(got, want);
    }
    unsigned char a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
    ck_assert_uint_eq(http_proxy_addr_text(AF_INET6, a6, got, sizeof got), 11);
    ck_assert_str_eq(got, "2001:db8::1");
    ck_assert_uint_eq(http_proxy_addr_text(AF_INET, a6, got, INET_ADDRSTRLEN - 1), 0);
    ck_assert_uint_eq(http_proxy_addr_text(AF_UNIX, a6, got, sizeof got), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_proxy_head");
    TCase *tc = tcase_create("request");
    tcase_add_test(tc, plain_get);
    tcase_add_test(tc, hop_by_hop_fixed);
    tcase_add_test(tc, hop_by_hop_named);
    tcase_add_test(tc, connection_cannot_remove_herds_fields);
    tcase_add_test(tc, xff_appended_or_set);
    tcase_add_test(tc, x_forwarded_proto_host_replaced);
    tcase_add_test(tc, via_appended);
    tcase_add_test(tc, forwarded_quoting);
    tcase_add_test(tc, forwarded_appended_only_when_asked);
    tcase_add_test(tc, origin_form);
    tcase_add_test(tc, websocket_upgrade_only_when_asked);
    tcase_add_test(tc, websocket_detection);
    tcase_add_test(tc, body_framing_and_expect);
    tcase_add_test(tc, host_configured_or_missing);
    tcase_add_test(tc, configured_fields);
    tcase_add_test(tc, connection_close_and_target_override);
    tcase_add_test(tc, names_in_any_case_and_near_misses);
    tcase_add_test(tc, addresses_as_text);
    tcase_add_test(tc, hop_by_hop_past_many_fields);
    suite_add_tcase(s, tc);

    tc = tcase_create("response");
    tcase_add_test(tc, response_fields_filtered);
    tcase_add_test(tc, response_101_tunnel);
    tcase_add_test(tc, response_head_through_builder);
    tcase_add_test(tc, response_names_in_any_case_and_past_many_fields);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
