/* The `return` handler: a fixed status, headers and body (or a redirect),
 * built whole when the configuration loads; answering copies it and
 * patches the Date. Error pages, 405s and the server-wide OPTIONS and
 * CONNECT answers go through it too, with their own prebuilt responses.
 * Tested by tests/unit/check_route.c and tests/unit/check_handler.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http/handler.h"
#include "http/req.h"

static enum http_start start(struct http_req *req)
{
    http_req_send_fixed(req, req->conf);
    return HTTP_ANSWERED;
}

static const void *section(const struct cfg_route *cr)
{
    return cr->ret;
}

static void *build(const void *sec, const struct http_handler_env *env, char *err, size_t errcap)
{
    (void)env;
    const struct cfg_return *ret = sec;
    struct http_fixed *f = malloc(sizeof *f);
    char *extra = NULL;
    if (f == NULL || (ret->location && asprintf(&extra, "Location: %s\r\n", ret->location) < 0))
        goto oom;
    int rc = http_fixed_build(f, (int)ret->status, ret->type, ret->body,
                              ret->body ? strlen(ret->body) : 0, extra);
    free(extra);
    if (rc < 0)
        goto oom;
    return f;
oom:
    free(f);
    snprintf(err, errcap, "out of memory");
    return NULL;
}

static void destroy(void *state)
{
    if (state == NULL)
        return;
    http_fixed_free(state);
    free(state);
}

const struct http_handler http_handler_return = {
    .name = "return",
    .section = section,
    .build = build,
    .free = destroy,
    .any_method = true,
    .start = start,
};
