/* The access log of one server in one worker: a line per request in nginx's
 * "combined" format (or "common", or a template of $variables), escaped so a
 * request cannot forge lines, buffered and written at least once a second. */
#ifndef HERD_HTTP_ACCESS_LOG_H
#define HERD_HTTP_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

struct access_log;
struct http_req;

struct access_log_entry {
    const struct sockaddr *peer;
    time_t now;
    int64_t msec;                   /* wall clock in ms, for $msec */
    const char *method;             /* raw bytes from the request, or NULL */
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor_version;              /* -1: no request line was understood */
    int status;
    uint64_t body_bytes;
    uint64_t bytes_sent;
    const char *referer;
    size_t referer_len;
    const char *user_agent;
    size_t user_agent_len;
    const char *remote_user;        /* authenticated user; NULL: "-" */
    const char *host;
    size_t host_len;
    int64_t request_time_ms;
    bool tls;                       /* $scheme: https */
    /* Proxied requests: the upstream server asked last ("1.2.3.4:80"), or
     * NULL ("-" for the three variables); its status (0: none came) and
     * its response time (-1: unknown). */
    const char *upstream_addr;
    int upstream_status;
    int64_t upstream_time_ms;
    /* TLS connections (transport_tls.h), else NULL ("-"): $ssl_protocol,
     * $ssl_cipher, $ssl_client_s_dn. */
    const char *ssl_protocol;
    const char *ssl_cipher;
    const char *ssl_client_s_dn;
    /* The request, for every other variable (http/template.h: $uri,
     * $args, $http_NAME, $request_id...); NULL: they are "-". */
    const struct http_req *req;
};

/* 0 when fmt is "combined", "common" or a valid template; else -1 and why. */
int access_log_format_check(const char *fmt, char *why, size_t cap);

/* Takes ownership of fd. NULL when out of memory. */
struct access_log *access_log_new(int fd, const char *path, const char *fmt);
/* Flush and free (closes the fd). */
void access_log_free(struct access_log *log);

void access_log_write(struct access_log *log, const struct access_log_entry *e);
/* Write out what is buffered. now_ms rate-limits error messages. */
void access_log_flush(struct access_log *log, int64_t now_ms);
/* Flush, then continue in a reopened file (USR1). Takes ownership of fd. */
void access_log_set_fd(struct access_log *log, int fd);

/* Append src to out with every byte < 0x20, '"', '\\' and >= 0x7f written
 * as \xHH. Returns the bytes written; out must hold 4 * n. */
size_t access_log_escape(char *out, const char *src, size_t n);

#endif
