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
#include "http/headers.h"
#include "http/req.h"
#include "http/template.h"

/* A route's answer, prebuilt (fixed) unless its location or its headers
 * name variables: then the route is answered by the variant below, which
 * makes the head per request (the location rendered, the headers added
 * by http_req_respond). fixed comes first: error pages are bare fixed
 * answers sent through this handler too. */
struct http_return {
    struct http_fixed fixed;
    bool dynamic;
    struct http_template location;
    const char *type;
    const char *body;
    size_t body_len;
};

static enum http_start start(struct http_req *req)
{
    http_req_send_fixed(req, req->conf);
    return HTTP_ANSWERED;
}

static enum http_start start_rendered(struct http_req *req)
{
    const struct http_return *r = req->conf;
    char stack[1024], *heap = NULL, *line = stack;
    size_t n = 0;
    if (r->location.text) {
        size_t want = sizeof "Location: \r\n" - 1 +
                      http_template_render_req(&r->location, req, NULL, 0);
        if (want > sizeof stack && (heap = line = malloc(want)) == NULL) {
            http_req_error(req, 500);
            return HTTP_ANSWERED;
        }
        memcpy(line, "Location: ", 10);
        n = 10 + http_template_render_req(&r->location, req, line + 10, want - 12);
        memcpy(line + n, "\r\n", 2);
        n += 2;
    }
    struct http_head h = { .status = r->fixed.status, .type = r->type,
                           .length = (int64_t)r->body_len, .extra = line, .extra_len = n };
    if (!http_status_has_body(r->fixed.status))
        h.length = 0;
    http_req_respond(req, &h, r->body, r->body_len);
    free(heap);
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
    if (r->location) {
        const config_setting_t *at = config_setting_get_member(group, "location");
        char why[160];
        bool vars;
        if (http_template_check(r->location, &vars, why, sizeof why) < 0)
            return cfg_fail(ctx, at, "'location': %s", why);
        /* "$host" misspelt as "$ host" or "$-" is taken literally: likely
         * not what was meant. */
        if (!vars && strchr(r->location, '$'))
            cfg_warn(ctx, at, "'location' \"%s\" contains '$' but names no variable "
                     "(it is sent as written)", r->location);
    }
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

static void destroy(void *state)
{
    struct http_return *r = state;
    if (r == NULL)
        return;
    http_fixed_free(&r->fixed);
    http_template_free(&r->location);
    free(r);
}

static void *build(const void *sec, const struct http_handler_env *env, char *err, size_t errcap)
{
    const struct cfg_return *ret = sec;
    struct http_return *r = calloc(1, sizeof *r);
    char *extra = NULL;
    if (r == NULL)
        goto oom;
    if (ret->location && http_template_compile(&r->location, ret->location, err, errcap) < 0)
        goto fail;
    r->type = ret->type;
    r->body = ret->body;
    r->body_len = ret->body ? strlen(ret->body) : 0;
    const struct http_headers *hs = env ? env->headers : NULL;
    bool headers = hs && hs->n > 0 && http_headers_apply((int)ret->status);
    bool dynamic = r->location.has_vars || (headers && hs->has_vars);
    /* Prebuilt whole: the Location and the route's headers in the head. */
    if (asprintf(&extra, "%s%s%s%s", ret->location && !dynamic ? "Location: " : "",
                 ret->location && !dynamic ? ret->location : "",
                 ret->location && !dynamic ? "\r\n" : "",
                 headers && !dynamic ? hs->plain : "") < 0) {
        extra = NULL;
        goto oom;
    }
    int rc = http_fixed_build(&r->fixed, (int)ret->status, ret->type, ret->body, r->body_len,
                              extra);
    free(extra);
    if (rc < 0)
        goto oom;
    r->dynamic = dynamic;
    return r;
oom:
    snprintf(err, errcap, "out of memory");
fail:
    destroy(r);
    return NULL;
}

static const struct http_handler return_rendered = {
    .name = "return",
    .section = section,
    .build = build,
    .free = destroy,
    .any_method = true,
    .start = start_rendered,
};

static const struct http_handler *answered_by(const void *state)
{
    const struct http_return *r = state;
    return r->dynamic ? &return_rendered : &http_handler_return;
}

const struct http_handler http_handler_return = {
    .name = "return",
    .section = section,
    .build = build,
    .free = destroy,
    .answered_by = answered_by,
    .any_method = true,
    .start = start,
};
