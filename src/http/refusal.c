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
#include "http/req.h"

/* Enough of a target to recognise it; the log line stays short. */
#define HTTP_REFUSAL_TARGET_MAX 256

#define REFUSAL_BUDGET(level) \
    [level] = LOG_BUDGET("refused requests", "messages suppressed", level, \
                         HTTP_REFUSALS_PER_SECOND)
static struct log_budget budgets[LOG_DEBUG + 1] = {
    REFUSAL_BUDGET(LOG_ERROR), REFUSAL_BUDGET(LOG_WARN),
    REFUSAL_BUDGET(LOG_INFO), REFUSAL_BUDGET(LOG_DEBUG),
};

void http_refusal_tick(int64_t now_ms)
{
    for (int level = LOG_ERROR; level <= LOG_DEBUG; level++)
        log_budget_tick(&budgets[level], now_ms);
}

static void refusal_client(const struct conn_peer *client, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    conn_peer_to_sockaddr(client, &ss);
    snprintf(out, cap, ss.ss_family == AF_UNIX ? "unix:" : "-");
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

static void vlog_client(enum log_level level, const struct conn_peer *c,
                        const struct http_request *req, int64_t now_ms, int status,
                        const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static void vlog_client(enum log_level level, const struct conn_peer *c,
                        const struct http_request *req, int64_t now_ms, int status,
                        const char *fmt, va_list ap)
{
    if (!log_budget_take(&budgets[level], now_ms))
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

void http_refusal_vlog(enum log_level level, const struct conn *c,
                       const struct http_request *req, int64_t now_ms, int status,
                       const char *fmt, va_list ap)
{
    vlog_client(level, &c->peer, req, now_ms, status, fmt, ap);
}

void http_req_vrefusal(const struct http_req *req, enum log_level level, int status,
                       const char *fmt, va_list ap)
{
    vlog_client(level, &req->client, req->head, http_req_now(req), status, fmt, ap);
}

void http_req_refusal(const struct http_req *req, enum log_level level, int status,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    http_req_vrefusal(req, level, status, fmt, ap);
    va_end(ap);
}
