/* The proxy's retry rule (proxy_retry.h).
 * Tested by tests/unit/check_http_proxy_retry.c. */
#include "http/proxy_retry.h"

enum proxy_retry proxy_retry_plan(const struct proxy_failure *f)
{
    bool left = f->retried < f->retries;
    if (f->response)
        return PROXY_RETRY_NONE;
    if (f->connect)
        return left ? PROXY_RETRY_NEXT : PROXY_RETRY_NONE;
    if (f->body_taken)
        return PROXY_RETRY_NONE;    /* those bytes are gone: they cannot go again */
    if (f->reused && (!f->accepted || f->idempotent))
        return PROXY_RETRY_FRESH;
    if (f->idempotent && left)
        return PROXY_RETRY_NEXT;
    return PROXY_RETRY_NONE;
}
