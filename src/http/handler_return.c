/* The `return` handler: a fixed status, headers and body (or a redirect),
 * built whole when the configuration loads; answering copies it and
 * patches the Date. Error pages, 405s and the server-wide OPTIONS and
 * CONNECT answers go through it too, with their own prebuilt responses.
 * Tested, with its configuration section, by
 * tests/unit/check_http_handler_return.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_engine.h"
#include "http/config.h"
#include "http/handler.h"
#include "http/req.h"

static enum http_start start(struct http_req *req)
{
    http_req_send_fixed(req, req->conf);
    return HTTP_ANSWERED;
}

/* ------------------------------------------------------------------ */
/* Configuration: the route's `return` group */

static int validate_return(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_return *r = obj;
    if (r->status == 0)
        r->status = r->location ? 302 : 200;
    if (r->location && (r->status < 300 || r->status > 399))
        return cfg_fail(ctx, group, "'location' needs a 3xx status, not %lld",
                        (long long)r->status);
    if (r->location && strpbrk(r->location, "\r\n"))
        return cfg_fail(ctx, group, "'location' must not contain line breaks");
    if (r->type && strpbrk(r->type, "\r\n"))
        return cfg_fail(ctx, group, "'type' must not contain line breaks");
    if (r->type == NULL && r->body != NULL && (r->type = strdup("text/plain")) == NULL)
        return cfg_fail(ctx, group, "out of memory");
    if (r->body && (r->status < 200 || r->status == 204 || r->status == 304))
        return cfg_fail(ctx, group, "status %lld cannot have a body", (long long)r->status);
    return 0;
}

static const struct cfg_key return_keys[] = {
    /* 0: 302 with a location, else 200 */
    { .name = "status", .type = CT_INT, .offset = CFG_AT(cfg_return, status), .def = "0",
      .min = 100, .max = 599 },
    { .name = "type", .type = CT_STRING, .offset = CFG_AT(cfg_return, type) },
    { .name = "body", .type = CT_STRING, .offset = CFG_AT(cfg_return, body) },
    { .name = "location", .type = CT_STRING, .offset = CFG_AT(cfg_return, location) },
};

const struct cfg_section http_return_config = {
    "return", sizeof(struct cfg_return), return_keys, CFG_NKEYS(return_keys), validate_return,
};

/* ------------------------------------------------------------------ */
/* The handler */

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
