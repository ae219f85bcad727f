/* The values of a request's variables (http/template.h), looked up only
 * when a template names them: a request whose route has no variables
 * never comes here.
 *
 * Every value may land in a response or request header, so none may hold
 * CR, LF or NUL: the head parser already refused them in the target, the
 * Host and the fields, and the decoded path ($uri, $path_rest) is
 * percent-encoded again, and so are the captures of a regex route ($1..),
 * which are parts of it.
 * Tested by tests/integration/test_site_vars.py (through real requests)
 * and tests/unit/check_http_template.c. */
#include "http/template.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "http/server.h"

/* Copy s[0..n) to out, as much as cap takes; returns n. */
static size_t copy(char *out, size_t cap, const char *s, size_t n)
{
    if (cap > 0 && n > 0)
        memcpy(out, s, n < cap ? n : cap);
    return n;
}

static size_t copy_fmt(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static size_t copy_fmt(char *out, size_t cap, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return copy(out, cap, tmp, n > 0 ? (size_t)n : 0);
}

/* The path as a URI path: what is not an unreserved or sub-delim
 * character (or '/', ':', '@') as %XX. */
static size_t encode_path(char *out, size_t cap, const char *p, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        char e[3] = { (char)ch };
        size_t n = 1;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("-._~/!$&'()*+,;=:@", ch))) {
            e[0] = '%';
            e[1] = hex[ch >> 4];
            e[2] = hex[ch & 15];
            n = 3;
        }
        if (o + n <= cap)
            memcpy(out + o, e, n);
        o += n;
    }
    return o;
}

/* Host without its port, lower case; without a Host, the server's first
 * name unless it is a wildcard. */
static size_t host(const struct http_req *req, char *out, size_t cap)
{
    const char *h = req->f.host;
    size_t n = h ? req->f.host_len : 0;
    if (h == NULL) {
        const struct cfg_strings *names = &req->server->conf->server_names;
        if (names->n == 0 || names->v[0][0] == '*')
            return 0;
        return copy(out, cap, names->v[0], strlen(names->v[0]));
    }
    const char *end = h + n;
    if (n > 0 && h[0] == '[') {
        const char *close = memchr(h, ']', n);
        end = close ? close + 1 : end;
    } else {
        const char *colon = memchr(h, ':', n);
        end = colon ? colon : end;
    }
    size_t len = (size_t)(end - h);
    for (size_t i = 0; i < len && i < cap; i++)
        out[i] = h[i] >= 'A' && h[i] <= 'Z' ? (char)(h[i] + 32) : h[i];
    return len;
}

/* An address, or its port (empty when unknown: a unix-socket client, or
 * a real_ip header that named none). */
static size_t addr_text(const struct conn_peer *p, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if ((p->family != AF_INET && p->family != AF_INET6) ||
        inet_ntop(p->family, p->addr, ip, sizeof ip) == NULL)
        return 0;
    return copy(out, cap, ip, strlen(ip));
}

static size_t port_text(const struct conn_peer *p, char *out, size_t cap)
{
    return (p->family == AF_INET || p->family == AF_INET6) && p->port != 0
               ? copy_fmt(out, cap, "%u", (unsigned)ntohs(p->port)) : 0;
}

static size_t server_port(const struct conn *c, char *out, size_t cap)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (getsockname(c->io.fd, (struct sockaddr *)&sa, &len) < 0)
        return 0;
    if (sa.ss_family == AF_INET)
        return copy_fmt(out, cap, "%u", (unsigned)ntohs(((struct sockaddr_in *)&sa)->sin_port));
    if (sa.ss_family == AF_INET6)
        return copy_fmt(out, cap, "%u",
                        (unsigned)ntohs(((struct sockaddr_in6 *)&sa)->sin6_port));
    return 0;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* 128 bits from a per-process random key and what tells this request
 * apart (its connection's slot and client address and port, its number
 * on the connection, its start): the same however often the request
 * asks, different for every other, at no cost to requests that do not
 * ask (a counter would be one more store per request). */
static size_t request_id(const struct http_req *req, char *out, size_t cap)
{
    static uint64_t key;
    static bool keyed;
    if (!keyed) {
        if (getrandom(&key, sizeof key, 0) != sizeof key)
            key = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&key;
        keyed = true;
    }
    const struct conn *c = req->conn;
    uint64_t peer[2];
    memcpy(peer, c->peer.addr, sizeof peer);
    uint64_t a = mix(key ^ (uint64_t)(uintptr_t)c ^ ((uint64_t)(uint32_t)c->io.fd << 32));
    a = mix(a ^ peer[0] ^ ((uint64_t)c->peer.port << 48));
    a = mix(a ^ peer[1]);
    uint64_t b = mix(a ^ ((uint64_t)http_conn_of((struct conn *)c)->requests << 20) ^
                     (uint64_t)req->started);
    a = mix(a ^ b);
    return copy_fmt(out, cap, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

static size_t msec(char *out, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return copy_fmt(out, cap, "%lld.%03ld", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
}

static size_t header(const struct http_req *req, const struct http_tpl_piece *p, char *out,
                     size_t cap)
{
    const struct http_request *h = req->head;
    for (size_t i = 0; h && i < h->num_headers; i++)
        if (h->headers[i].name_len == p->len && http_name_is(&h->headers[i], p->text))
            return copy(out, cap, h->headers[i].value, h->headers[i].value_len);
    return 0;
}

const char *http_req_capture(const struct http_req *req, unsigned n, size_t *len)
{
    const struct http_captures *c = req->captures;
    *len = 0;
    if (c == NULL || n >= c->n || c->ovector[2 * n] == SIZE_MAX)
        return NULL;
    *len = c->ovector[2 * n + 1] - c->ovector[2 * n];
    return c->subject + c->ovector[2 * n];
}

/* The path after the route's own: "/old/" and "/old/a/b" give "a/b". A
 * regex route has no prefix to cut: its captures say what it wants. */
static size_t path_rest(const struct http_req *req, char *out, size_t cap)
{
    const struct http_route *r = req->route;
    if (r == NULL || r->re || req->path == NULL || req->path_len < r->len)
        return 0;
    return encode_path(out, cap, req->path + r->len, req->path_len - r->len);
}

static size_t target_part(const struct http_req *req, enum http_var v, char *out, size_t cap)
{
    size_t q;
    const char *query = http_req_query(req, &q);
    switch (v) {
    case HV_REQUEST_URI:
        return req->head ? copy(out, cap, req->head->target, req->head->target_len) : 0;
    case HV_ARGS:
        return copy(out, cap, query, q);
    case HV_IS_ARGS:
        return query && q > 0 ? copy(out, cap, "?", 1) : 0;
    default:
        return req->path ? encode_path(out, cap, req->path, req->path_len) : 0;
    }
}

size_t http_req_var(const void *ctx, const struct http_tpl_piece *p, char *out, size_t cap)
{
    const struct http_req *req = ctx;
    const struct conn *c = req->conn;
    size_t len;
    const char *s;
    switch ((enum http_var)p->var) {
    case HV_HOST:
        return host(req, out, cap);
    case HV_SCHEME:
        return conn_is_tls(c) ? copy(out, cap, "https", 5) : copy(out, cap, "http", 4);
    case HV_REQUEST_URI: case HV_URI: case HV_ARGS: case HV_IS_ARGS:
        return target_part(req, (enum http_var)p->var, out, cap);
    case HV_PATH_REST:
        return path_rest(req, out, cap);
    case HV_REQUEST_METHOD:
        return req->head ? copy(out, cap, req->head->method, req->head->method_len) : 0;
    case HV_REMOTE_ADDR:
        return addr_text(&req->client, out, cap);
    case HV_REMOTE_PORT:
        return port_text(&req->client, out, cap);
    case HV_REALIP_REMOTE_ADDR:
        return addr_text(&c->peer, out, cap);
    case HV_REALIP_REMOTE_PORT:
        return port_text(&c->peer, out, cap);
    case HV_SERVER_PORT:
        return server_port(c, out, cap);
    case HV_MSEC:
        return msec(out, cap);
    case HV_REQUEST_ID:
        return request_id(req, out, cap);
    case HV_CAPTURE:        /* part of the decoded path: encoded again */
        s = http_req_capture(req, p->arg, &len);
        return s ? encode_path(out, cap, s, len) : 0;
    case HV_HTTP:
        return header(req, p, out, cap);
    case HV_LITERAL:
        return copy(out, cap, p->text, p->len);
    default:            /* the access log's alone: refused at load */
        break;
    }
    return 0;
}
