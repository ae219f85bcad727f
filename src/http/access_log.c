#include "http/access_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/template.h"
#include "log.h"

#define LOG_BUFFER (64 * 1024)
#define LOG_LINE_MAX (16 * 1024)
#define LOG_ERROR_EVERY_MS 60000

/* The variables are http/template.h's, one table for the whole server;
 * the two fields of every combined line are read from the entry (filled
 * once) rather than looked up among the request's fields. */
enum { LV_REFERER = HV_SSL_CLIENT_S_DN + 1, LV_USER_AGENT };

#define COMBINED "$remote_addr - $remote_user [$time_local] \"$request\" $status " \
                 "$body_bytes_sent \"$http_referer\" \"$http_user_agent\""
#define COMMON "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent"

struct access_log {
    int fd;
    char *path;
    struct http_template tpl;   /* the expanded format */
    char *buf;
    size_t len;
    int64_t last_error;
    int64_t now;
};

static const char *expand(const char *fmt)
{
    if (strcmp(fmt, "combined") == 0)
        return COMBINED;
    if (strcmp(fmt, "common") == 0)
        return COMMON;
    return fmt;
}

static int compile(struct http_template *t, const char *fmt, char *why, size_t cap)
{
    if (http_template_compile_log(t, expand(fmt), why, cap) < 0)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        struct http_tpl_piece *p = &t->v[i];
        /* A log line has no reason to hold a bare '$': a name mistyped. */
        if (p->var == HV_LITERAL && memchr(p->text, '$', p->len)) {
            snprintf(why, cap, "a '$' that names no variable");
            http_template_free(t);
            return -1;
        }
        if (p->var == HV_HTTP && strcmp(p->text, "referer") == 0)
            p->var = LV_REFERER;
        else if (p->var == HV_HTTP && strcmp(p->text, "user-agent") == 0)
            p->var = LV_USER_AGENT;
    }
    return 0;
}

int access_log_format_check(const char *fmt, char *why, size_t cap)
{
    if (strchr(fmt, '\n')) {
        snprintf(why, cap, "a format cannot contain a line break");
        return -1;
    }
    struct http_template t;
    if (compile(&t, fmt, why, cap) < 0)
        return -1;
    http_template_free(&t);
    return 0;
}

struct access_log *access_log_new(int fd, const char *path, const char *fmt)
{
    struct access_log *log = calloc(1, sizeof *log);
    if (log == NULL)
        return NULL;
    char why[160];
    log->fd = fd;
    log->path = strdup(path);
    log->buf = malloc(LOG_BUFFER);
    log->last_error = -LOG_ERROR_EVERY_MS;
    if (log->path == NULL || log->buf == NULL || compile(&log->tpl, fmt, why, sizeof why) < 0) {
        access_log_free(log);
        return NULL;
    }
    return log;
}

void access_log_flush(struct access_log *log, int64_t now_ms)
{
    size_t off = 0;
    while (off < log->len) {
        ssize_t n = write(log->fd, log->buf + off, log->len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* Disk full or gone: keep serving, drop the lines, say so rarely. */
        if (now_ms - log->last_error >= LOG_ERROR_EVERY_MS) {
            log->last_error = now_ms;
            log_error("access log %s: write failed: %s; lines are being lost", log->path,
                      n < 0 ? strerror(errno) : "short write");
        }
        break;
    }
    log->len = 0;
}

void access_log_free(struct access_log *log)
{
    if (log == NULL)
        return;
    if (log->buf)
        access_log_flush(log, log->now);
    if (log->fd >= 0)
        close(log->fd);
    free(log->path);
    http_template_free(&log->tpl);
    free(log->buf);
    free(log);
}

void access_log_set_fd(struct access_log *log, int fd)
{
    access_log_flush(log, log->now);
    close(log->fd);
    log->fd = fd;
}

size_t access_log_escape(char *out, const char *src, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    return o;
}

/* Append helpers bounded by the line buffer. */
struct line {
    char *p;
    size_t len, cap;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (n > l->cap - l->len)
        n = l->cap - l->len;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void put_escaped(struct line *l, const char *s, size_t n)
{
    if (s == NULL || n == 0) {
        put(l, "-", 1);
        return;
    }
    if (n > (l->cap - l->len) / 4)
        n = (l->cap - l->len) / 4;
    l->len += access_log_escape(l->p + l->len, s, n);
}


static void put_fmt(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put_fmt(struct line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(l->p + l->len, l->cap - l->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n < l->cap - l->len ? (size_t)n : l->cap - l->len - 1;
}

static void put_addr(struct line *l, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN] = "-";
    if (sa && sa->sa_family == AF_UNIX)
        strcpy(ip, "unix:");         /* a client of a unix: listener, as nginx says */
    else if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
    put(l, ip, strlen(ip));
}

static void put_protocol(struct line *l, const struct access_log_entry *e)
{
    if (e->minor_version < 0)
        put(l, "-", 1);
    else
        put_fmt(l, "HTTP/1.%d", e->minor_version);
}

/* A proxied request's upstream, "-" when there is none. */
static void put_upstream(struct line *l, int v, const struct access_log_entry *e)
{
    if (e->upstream_addr == NULL)
        put(l, "-", 1);
    else if (v == HV_UPSTREAM_ADDR)
        put_escaped(l, e->upstream_addr, strlen(e->upstream_addr));
    else if (v == HV_UPSTREAM_STATUS && e->upstream_status > 0)
        put_fmt(l, "%d", e->upstream_status);
    else if (v == HV_UPSTREAM_RESPONSE_TIME && e->upstream_time_ms >= 0)
        put_fmt(l, "%lld.%03lld", (long long)(e->upstream_time_ms / 1000),
                (long long)(e->upstream_time_ms % 1000));
    else
        put(l, "-", 1);
}

/* A TLS connection's session, "-" without TLS. A certificate's subject
 * is escaped as request bytes are (the client chose it). */
static void put_tls(struct line *l, int v, const struct access_log_entry *e)
{
    const char *s = v == HV_SSL_PROTOCOL ? e->ssl_protocol
                    : v == HV_SSL_CIPHER ? e->ssl_cipher : e->ssl_client_s_dn;
    put_escaped(l, s, s ? strlen(s) : 0);
}

/* Any other variable of the request (an entry without one: "-"),
 * escaped as request bytes are. Out of line, so that its buffer does not
 * keep put_var from being inlined in the loop over the pieces. */
static __attribute__((noinline)) void put_req_var(struct line *l, const struct http_tpl_piece *p,
                        const struct access_log_entry *e)
{
    char v[1024];
    size_t n = e->req ? http_req_var(e->req, p, v, sizeof v) : 0;
    put_escaped(l, v, n < sizeof v ? n : sizeof v);
}

static inline __attribute__((always_inline)) void put_var(struct line *l,
                                                          const struct http_tpl_piece *p,
                                                          const struct access_log_entry *e)
{
    struct tm tm;
    char t[64];
    int v = p->var;
    switch (v) {
    case HV_REMOTE_ADDR:
        put_addr(l, e->peer);
        break;
    case HV_REMOTE_USER:            /* "-" unless a route's auth verified one */
        put_escaped(l, e->remote_user, e->remote_user ? strlen(e->remote_user) : 0);
        break;
    case HV_TIME_LOCAL:
        localtime_r(&e->now, &tm);
        put(l, t, strftime(t, sizeof t, "%d/%b/%Y:%H:%M:%S %z", &tm));
        break;
    case HV_TIME_ISO8601:
        localtime_r(&e->now, &tm);
        put(l, t, strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S%z", &tm));
        break;
    case HV_MSEC:
        put_fmt(l, "%lld.%03lld", (long long)(e->msec / 1000), (long long)(e->msec % 1000));
        break;
    case HV_REQUEST:
        if (e->minor_version < 0 || e->method == NULL) {
            put(l, "-", 1);
            break;
        }
        put_escaped(l, e->method, e->method_len);
        put(l, " ", 1);
        put_escaped(l, e->target, e->target_len);
        put(l, " ", 1);
        put_protocol(l, e);
        break;
    case HV_REQUEST_METHOD:
        put_escaped(l, e->method, e->method_len);
        break;
    case HV_REQUEST_URI:
        put_escaped(l, e->target, e->target_len);
        break;
    case HV_SERVER_PROTOCOL:
        put_protocol(l, e);
        break;
    case HV_STATUS:
        put_fmt(l, "%d", e->status);
        break;
    case HV_BODY_BYTES_SENT:
        put_fmt(l, "%llu", (unsigned long long)e->body_bytes);
        break;
    case HV_BYTES_SENT:
        put_fmt(l, "%llu", (unsigned long long)e->bytes_sent);
        break;
    case LV_REFERER:
        put_escaped(l, e->referer, e->referer_len);
        break;
    case LV_USER_AGENT:
        put_escaped(l, e->user_agent, e->user_agent_len);
        break;
    case HV_HOST:
        put_escaped(l, e->host, e->host_len);
        break;
    case HV_SCHEME:
        put(l, e->tls ? "https" : "http", e->tls ? 5 : 4);
        break;
    case HV_UPSTREAM_ADDR:
    case HV_UPSTREAM_STATUS:
    case HV_UPSTREAM_RESPONSE_TIME:
        put_upstream(l, v, e);
        break;
    case HV_SSL_PROTOCOL: case HV_SSL_CIPHER: case HV_SSL_CLIENT_S_DN:
        put_tls(l, v, e);
        break;
    case HV_REQUEST_TIME:
        put_fmt(l, "%lld.%03lld", (long long)(e->request_time_ms / 1000),
                (long long)(e->request_time_ms % 1000));
        break;
    default:
        put_req_var(l, p, e);
        break;
    }
}

void access_log_write(struct access_log *log, const struct access_log_entry *e)
{
    log->now = e->msec;
    if (LOG_BUFFER - log->len < LOG_LINE_MAX + 1)
        access_log_flush(log, e->msec);
    struct line l = { log->buf + log->len, 0, LOG_LINE_MAX };
    for (size_t i = 0; i < log->tpl.n; i++) {
        const struct http_tpl_piece *p = &log->tpl.v[i];
        if (p->var == HV_LITERAL)
            put(&l, p->text, p->len);
        else
            put_var(&l, p, e);
    }
    log->buf[log->len + l.len] = '\n';
    log->len += l.len + 1;
}
