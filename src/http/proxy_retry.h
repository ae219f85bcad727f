/* When a proxied request whose upstream connection failed may be sent
 * again (DESIGN, "Reverse proxy"): the rule alone, apart from the handler
 * that applies it (handler_proxy.c), so that every case is tested. Pure.
 *
 *   a byte of the response had arrived ─────────────────────────► NONE
 *   the connect failed (nothing was sent) ─── retries left ─────► NEXT
 *   a reused idle connection, no byte of the request taken by the
 *     kernel and no body byte taken from the client: the upstream
 *     cannot have read any of it, whatever the method ──────────► FRESH
 *   a reused idle connection, an idempotent request whose body (if
 *     any) was not taken yet: the server closed it as it went out ► FRESH
 *   an idempotent request whose body was not taken yet, retries
 *     left ─────────────────────────────────────────────────────► NEXT
 *   anything else (a POST the upstream may have read, a body that
 *     cannot be sent again) ────────────────────────────────────► NONE
 * FRESH is not counted against `retries` and happens once per request:
 * after it the request only uses new connections (so it is no longer on
 * a reused one). */
#ifndef HERD_HTTP_PROXY_RETRY_H
#define HERD_HTTP_PROXY_RETRY_H

#include <stdbool.h>

enum proxy_retry {
    PROXY_RETRY_NONE,       /* answer the failure (502, 504) */
    PROXY_RETRY_FRESH,      /* again on a new connection, not counted */
    PROXY_RETRY_NEXT,       /* on a server not tried yet, counted */
};

struct proxy_failure {
    bool response;          /* a byte of the response had arrived */
    bool connect;           /* the connect itself failed */
    bool reused;            /* the connection came from the idle pool */
    bool accepted;          /* the kernel took a byte of the request (conn_sent) */
    bool body_taken;        /* body bytes were taken from the client */
    bool idempotent;        /* GET, HEAD, PUT, DELETE, OPTIONS, TRACE */
    unsigned retried;       /* counted retries so far */
    unsigned retries;       /* the route's `retries` */
};

enum proxy_retry proxy_retry_plan(const struct proxy_failure *f);

#endif
