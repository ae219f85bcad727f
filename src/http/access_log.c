#include "http/access_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LOG_BUFFER (64 * 1024)
#define LOG_LINE_MAX (16 * 1024)
#define LOG_ERROR_EVERY_MS 60000

enum log_var {
    V_LITERAL, V_REMOTE_ADDR, V_REMOTE_USER, V_TIME_LOCAL, V_TIME_ISO8601, V_MSEC,
    V_REQUEST, V_REQUEST_METHOD, V_REQUEST_URI, V_SERVER_PROTOCOL, V_STATUS,
    V_BODY_BYTES_SENT, V_BYTES_SENT, V_HTTP_REFERER, V_HTTP_USER_AGENT, V_HOST,
    V_REQUEST_TIME, V_SCHEME, V_UPSTREAM_ADDR, V_UPSTREAM_STATUS, V_UPSTREAM_RESPONSE_TIME,
    V_SSL_PROTOCOL, V_SSL_CIPHER, V_SSL_CLIENT_S_DN,
};

static const struct {
    const char *name;
    enum log_var var;
} variables[] = {
    { "remote_addr", V_REMOTE_ADDR }, { "remote_user", V_REMOTE_USER },
    { "time_local", V_TIME_LOCAL }, { "time_iso8601", V_TIME_ISO8601 }, { "msec", V_MSEC },
    { "request", V_REQUEST }, { "request_method", V_REQUEST_METHOD },
    { "request_uri", V_REQUEST_URI }, { "server_protocol", V_SERVER_PROTOCOL },
    { "status", V_STATUS }, { "body_bytes_sent", V_BODY_BYTES_SENT },
    { "bytes_sent", V_BYTES_SENT }, { "http_referer", V_HTTP_REFERER },
    { "http_user_agent", V_HTTP_USER_AGENT }, { "host", V_HOST },
    { "request_time", V_REQUEST_TIME }, { "scheme", V_SCHEME },
    { "upstream_addr", V_UPSTREAM_ADDR },
    { "upstream_status", V_UPSTREAM_STATUS },
    { "upstream_response_time", V_UPSTREAM_RESPONSE_TIME },
    { "ssl_protocol", V_SSL_PROTOCOL }, { "ssl_cipher", V_SSL_CIPHER },
    { "ssl_client_s_dn", V_SSL_CLIENT_S_DN },
};

#define COMBINED "$remote_addr - $remote_user [$time_local] \"$request\" $status " \
                 "$body_bytes_sent \"$http_referer\" \"$http_user_agent\""
#define COMMON "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent"

struct log_piece {
    enum log_var var;
    const char *text;           /* V_LITERAL */
    size_t len;
};

struct access_log {
    int fd;
    char *path;
    char *format;               /* the expanded template; pieces point into it */
    struct log_piece *pieces;
    size_t n_pieces;
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

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || c == '_' || (c >= '0' && c <= '9');
}

/* Split a template into literals and variables; pieces may be NULL to only
 * check it. Returns the number of pieces, or -1 with why. */
static long compile(const char *t, struct log_piece *pieces, char *why, size_t cap)
{
    long n = 0;
    const char *lit = t;
    for (const char *p = t;; p++) {
        if (*p != '$' && *p != '\0')
            continue;
        if (p > lit) {
            if (pieces)
                pieces[n] = (struct log_piece){ V_LITERAL, lit, (size_t)(p - lit) };
            n++;
        }
        if (*p == '\0')
            break;
        const char *name = p + 1;
        size_t len = 0;
        while (is_name_char(name[len]))
            len++;
        size_t k;
        for (k = 0; k < sizeof variables / sizeof variables[0]; k++)
            if (strlen(variables[k].name) == len && strncmp(variables[k].name, name, len) == 0)
                break;
        if (k == sizeof variables / sizeof variables[0]) {
            if (why)
                snprintf(why, cap, "unknown variable '$%.*s'", (int)len, name);
            return -1;
        }
        if (pieces)
            pieces[n] = (struct log_piece){ variables[k].var, NULL, 0 };
        n++;
        p = name + len - 1;
        lit = name + len;
    }
    return n;
}

int access_log_format_check(const char *fmt, char *why, size_t cap)
{
    if (strchr(fmt, '\n')) {
        snprintf(why, cap, "a format cannot contain a line break");
        return -1;
    }
    return compile(expand(fmt), NULL, why, cap) < 0 ? -1 : 0;
}

struct access_log *access_log_new(int fd, const char *path, const char *fmt)
{
    struct access_log *log = calloc(1, sizeof *log);
    if (log == NULL)
        return NULL;
    log->fd = fd;
    log->path = strdup(path);
    log->format = strdup(expand(fmt));
    log->buf = malloc(LOG_BUFFER);
    log->last_error = -LOG_ERROR_EVERY_MS;
    long n = log->format ? compile(log->format, NULL, NULL, 0) : -1;
    if (n > 0)
        log->pieces = calloc((size_t)n, sizeof *log->pieces);
    if (log->path == NULL || log->buf == NULL || log->pieces == NULL) {
        access_log_free(log);
        return NULL;
    }
    log->n_pieces = (size_t)compile(log->format, log->pieces, NULL, 0);
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
    free(log->format);
    free(log->pieces);
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
static void put_upstream(struct line *l, enum log_var v, const struct access_log_entry *e)
{
    if (e->upstream_addr == NULL)
        put(l, "-", 1);
    else if (v == V_UPSTREAM_ADDR)
        put_escaped(l, e->upstream_addr, strlen(e->upstream_addr));
    else if (v == V_UPSTREAM_STATUS && e->upstream_status > 0)
        put_fmt(l, "%d", e->upstream_status);
    else if (v == V_UPSTREAM_RESPONSE_TIME && e->upstream_time_ms >= 0)
        put_fmt(l, "%lld.%03lld", (long long)(e->upstream_time_ms / 1000),
                (long long)(e->upstream_time_ms % 1000));
    else
        put(l, "-", 1);
}

/* A TLS connection's session, "-" without TLS. A certificate's subject
 * is escaped as request bytes are (the client chose it). */
static void put_tls(struct line *l, enum log_var v, const struct access_log_entry *e)
{
    const char *s = v == V_SSL_PROTOCOL ? e->ssl_protocol
                    : v == V_SSL_CIPHER ? e->ssl_cipher : e->ssl_client_s_dn;
    put_escaped(l, s, s ? strlen(s) : 0);
}

static void put_var(struct line *l, enum log_var v, const struct access_log_entry *e)
{
    struct tm tm;
    char t[64];
    switch (v) {
    case V_LITERAL:
        break;
    case V_REMOTE_ADDR:
        put_addr(l, e->peer);
        break;
    case V_REMOTE_USER:             /* "-" unless a route's auth verified one */
        put_escaped(l, e->remote_user, e->remote_user ? strlen(e->remote_user) : 0);
        break;
    case V_TIME_LOCAL:
        localtime_r(&e->now, &tm);
        put(l, t, strftime(t, sizeof t, "%d/%b/%Y:%H:%M:%S %z", &tm));
        break;
    case V_TIME_ISO8601:
        localtime_r(&e->now, &tm);
        put(l, t, strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S%z", &tm));
        break;
    case V_MSEC:
        put_fmt(l, "%lld.%03lld", (long long)(e->msec / 1000), (long long)(e->msec % 1000));
        break;
    case V_REQUEST:
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
    case V_REQUEST_METHOD:
        put_escaped(l, e->method, e->method_len);
        break;
    case V_REQUEST_URI:
        put_escaped(l, e->target, e->target_len);
        break;
    case V_SERVER_PROTOCOL:
        put_protocol(l, e);
        break;
    case V_STATUS:
        put_fmt(l, "%d", e->status);
        break;
    case V_BODY_BYTES_SENT:
        put_fmt(l, "%llu", (unsigned long long)e->body_bytes);
        break;
    case V_BYTES_SENT:
        put_fmt(l, "%llu", (unsigned long long)e->bytes_sent);
        break;
    case V_HTTP_REFERER:
        put_escaped(l, e->referer, e->referer_len);
        break;
    case V_HTTP_USER_AGENT:
        put_escaped(l, e->user_agent, e->user_agent_len);
        break;
    case V_HOST:
        put_escaped(l, e->host, e->host_len);
        break;
    case V_SCHEME:
        put(l, e->tls ? "https" : "http", e->tls ? 5 : 4);
        break;
    case V_UPSTREAM_ADDR:
    case V_UPSTREAM_STATUS:
    case V_UPSTREAM_RESPONSE_TIME:
        put_upstream(l, v, e);
        break;
    case V_SSL_PROTOCOL: case V_SSL_CIPHER: case V_SSL_CLIENT_S_DN:
        put_tls(l, v, e);
        break;
    case V_REQUEST_TIME:
        put_fmt(l, "%lld.%03lld", (long long)(e->request_time_ms / 1000),
                (long long)(e->request_time_ms % 1000));
        break;
    }
}

void access_log_write(struct access_log *log, const struct access_log_entry *e)
{
    log->now = e->msec;
    if (LOG_BUFFER - log->len < LOG_LINE_MAX + 1)
        access_log_flush(log, e->msec);
    struct line l = { log->buf + log->len, 0, LOG_LINE_MAX };
    for (size_t i = 0; i < log->n_pieces; i++) {
        const struct log_piece *p = &log->pieces[i];
        if (p->var == V_LITERAL)
            put(&l, p->text, p->len);
        else
            put_var(&l, p->var, e);
    }
    log->buf[log->len + l.len] = '\n';
    log->len += l.len + 1;
}
