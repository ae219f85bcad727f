/* The budget is per process, that is per worker, like the error log that
 * it protects: every server of the worker shares it, and a worker of a new
 * generation starts afresh. One budget per level, so that a flood of client
 * errors (info) cannot hide a file-system failure (error). A level that is
 * not logged spends nothing. */
#include "http/refusal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "http/access_log.h"
#include "http/parse.h"

/* Enough of a target to recognise it; the log line stays short. */
#define HTTP_REFUSAL_TARGET_MAX 256

struct refusal_budget {
    int64_t start;          /* ms: when the current second began */
    uint32_t used;
    uint64_t suppressed;
};

static struct refusal_budget budgets[LOG_DEBUG + 1];

static void refusal_new_second(enum log_level level, struct refusal_budget *b, int64_t now_ms)
{
    if (b->suppressed > 0)
        log_msg(level, "refused requests: %llu more messages suppressed "
                "(at most %d a second per worker)",
                (unsigned long long)b->suppressed, HTTP_REFUSALS_PER_SECOND);
    b->suppressed = 0;
    b->start = now_ms;
    b->used = 0;
}

static int refusal_take(enum log_level level, int64_t now_ms)
{
    if (level > log_get_level())
        return 0;
    struct refusal_budget *b = &budgets[level];
    if (now_ms - b->start >= 1000 || now_ms < b->start)
        refusal_new_second(level, b, now_ms);
    if (b->used >= HTTP_REFUSALS_PER_SECOND) {
        b->suppressed++;
        return 0;
    }
    b->used++;
    return 1;
}

void http_refusal_tick(int64_t now_ms)
{
    for (int level = LOG_ERROR; level <= LOG_DEBUG; level++) {
        struct refusal_budget *b = &budgets[level];
        if (b->suppressed > 0 && now_ms - b->start >= 1000)
            refusal_new_second((enum log_level)level, b, now_ms);
    }
}

static void refusal_client(const struct conn *c, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    conn_peer_sockaddr(c, &ss);
    snprintf(out, cap, "-");
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)cap);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)cap);
}

/* ', request: "GET /x HTTP/1.1"', escaped as in the access log. */
static void refusal_request(const struct http_request *req, char *out, size_t cap)
{
    char method[4 * 32 + 1], target[4 * HTTP_REFUSAL_TARGET_MAX + 1];
    size_t ml = req->method_len < 32 ? req->method_len : 32;
    size_t tl = req->target_len < HTTP_REFUSAL_TARGET_MAX ? req->target_len
                                                          : HTTP_REFUSAL_TARGET_MAX;
    method[access_log_escape(method, req->method, ml)] = '\0';
    target[access_log_escape(target, req->target, tl)] = '\0';
    snprintf(out, cap, ", request: \"%s %s%s HTTP/1.%d\"", method, target,
             tl < req->target_len ? "..." : "", req->minor_version);
}

void http_refusal_vlog(enum log_level level, const struct conn *c,
                       const struct http_request *req, int64_t now_ms, int status,
                       const char *fmt, va_list ap)
{
    if (!refusal_take(level, now_ms))
        return;
    char msg[1024], client[INET6_ADDRSTRLEN], request[4 * HTTP_REFUSAL_TARGET_MAX + 4 * 32 + 64];
    vsnprintf(msg, sizeof msg, fmt, ap);
    refusal_client(c, client, sizeof client);
    request[0] = '\0';
    if (req != NULL)
        refusal_request(req, request, sizeof request);
    if (status > 0)
        log_msg(level, "request refused with %d: %s, client: %s%s", status, msg, client,
                request);
    else
        log_msg(level, "%s, client: %s%s", msg, client, request);
}

void http_refusal_log(enum log_level level, const struct conn *c, const struct http_request *req,
                      int64_t now_ms, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    http_refusal_vlog(level, c, req, now_ms, status, fmt, ap);
    va_end(ap);
}
