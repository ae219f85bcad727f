/* Refused requests in the error log: why, the client address and the
 * request line, so an administrator can tell a broken client, a denied one
 * and a file the workers cannot read apart. Rate-limited per worker so that
 * a flood of bad requests cannot fill the disk. */
#ifndef HERD_HTTP_REFUSAL_H
#define HERD_HTTP_REFUSAL_H

#include <stdarg.h>
#include <stdint.h>

#include "log.h"

struct conn;
struct http_req;
struct http_request;

/* Lines of one level a second in one worker; the rest are counted and
 * reported in one line when the second is over. */
#define HTTP_REFUSALS_PER_SECOND 10

/* Log at level, when the level is enabled and the second's budget allows:
 * "request refused with STATUS: MESSAGE" (or MESSAGE alone when status is
 * 0, for the nginx-style "open() "/srv/x" failed (13: Permission denied)"),
 * then ", client: ADDRESS" and, when req is not NULL,
 * ", request: "METHOD TARGET HTTP/1.x"" (escaped; a long target is cut).
 * now_ms is the loop's monotonic clock. Called on refusal paths only. */
void http_refusal_log(enum log_level level, const struct conn *c, const struct http_request *req,
                      int64_t now_ms, int status, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void http_refusal_vlog(enum log_level level, const struct conn *c,
                       const struct http_request *req, int64_t now_ms, int status,
                       const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

/* The same for an exchange: its client (req->client, which real_ip may
 * have made another than the connection's) and its request line. */
void http_req_refusal(const struct http_req *req, enum log_level level, int status,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void http_req_vrefusal(const struct http_req *req, enum log_level level, int status,
                       const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* Once a second: report what the last second suppressed, even when no
 * refusal follows to do it. */
void http_refusal_tick(int64_t now_ms);

#endif
