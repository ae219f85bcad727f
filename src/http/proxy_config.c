/* The `proxy` handler's configuration: the route's `proxy` group, and the
 * checks that need the whole file (its upstream exists, and hashes on
 * variables a request has).
 * Tested by tests/unit/check_http_handler_proxy.c. */
#include "http/proxy.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_engine.h"
#include "http/handler.h"
#include "http/template.h"
#include "upstream.h"

/* Fields the proxy frames or removes itself: configuring them would
 * contradict the message herd sends. */
static const char *const own_fields[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer",
    "upgrade", "proxy-connection", "expect",
};

static int validate_proxy(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    const struct cfg_proxy *p = obj;
    const config_setting_t *hs = config_setting_get_member(group, "headers");
    for (size_t i = 0; i < p->headers.n; i += 2) {
        for (size_t j = 0; j < sizeof own_fields / sizeof own_fields[0]; j++)
            if (strcasecmp(p->headers.v[i], own_fields[j]) == 0)
                return cfg_fail(ctx, hs, "'headers' cannot set %s: herd frames the request "
                                "itself", p->headers.v[i]);
        char why[160];
        if (http_template_check(p->headers.v[i + 1], NULL, why, sizeof why) < 0)
            return cfg_fail(ctx, hs ? config_setting_get_member(hs, p->headers.v[i]) : group,
                            "header %s: %s", p->headers.v[i], why);
    }
    if (p->upstream == NULL)
        return cfg_fail(ctx, group, "'proxy' needs an 'upstream'");
    if (p->host && (p->host[0] == '\0' || strpbrk(p->host, "\r\n") != NULL))
        return cfg_fail(ctx, group, "'host' must be a non-empty value without line breaks");
    return 0;
}

static const struct cfg_key proxy_keys[] = {
    { .name = "upstream", .type = CT_STRING, .offset = CFG_AT(cfg_proxy, upstream) },
    /* 0: the upstream's connect_timeout */
    { .name = "connect_timeout", .type = CT_DURATION,
      .offset = CFG_AT(cfg_proxy, connect_timeout), .def = "0", .min = 0, .max = CFG_DAY },
    { .name = "send_timeout", .type = CT_DURATION, .offset = CFG_AT(cfg_proxy, send_timeout),
      .def = "60s", .min = 1, .max = CFG_DAY },
    { .name = "read_timeout", .type = CT_DURATION, .offset = CFG_AT(cfg_proxy, read_timeout),
      .def = "60s", .min = 1, .max = CFG_DAY },
    { .name = "retries", .type = CT_INT, .offset = CFG_AT(cfg_proxy, retries), .def = "1",
      .min = 0, .max = 16 },
    { .name = "host", .type = CT_STRING, .offset = CFG_AT(cfg_proxy, host) },
    { .name = "forwarded", .type = CT_BOOL, .offset = CFG_AT(cfg_proxy, forwarded),
      .def = "false" },
    { .name = "headers", .type = CT_FIELDS, .offset = CFG_AT(cfg_proxy, headers) },
    { .name = "websocket", .type = CT_BOOL, .offset = CFG_AT(cfg_proxy, websocket),
      .def = "false" },
    { .name = "websocket_timeout", .type = CT_DURATION,
      .offset = CFG_AT(cfg_proxy, websocket_timeout), .def = "1h", .min = 1, .max = CFG_DAY },
    { .name = "buffering", .type = CT_BOOL, .offset = CFG_AT(cfg_proxy, buffering),
      .def = "false" },
    { .name = "buffer_size", .type = CT_SIZE, .offset = CFG_AT(cfg_proxy, buffer_size),
      .def = "1m", .min = 4096, .max = 1024 * 1024 * 1024 },
};

const struct cfg_section http_proxy_config = {
    "proxy", sizeof(struct cfg_proxy), proxy_keys, CFG_NKEYS(proxy_keys), validate_proxy,
};

static int check_route(struct cfg_ctx *ctx, const config_setting_t *route,
                       const struct herd_config *cfg, struct cfg_proxy *p)
{
    const config_setting_t *ps = config_setting_get_member(route, "proxy");
    const config_setting_t *at = ps ? config_setting_get_member(ps, "upstream") : NULL;
    if (at == NULL)
        at = ps ? ps : route;
    p->up = upstream_find(cfg, p->upstream);
    if (p->up == NULL)
        return cfg_fail(ctx, at, "unknown upstream '%s'", p->upstream);
    if (p->up->balance != UPSTREAM_HASH)
        return 0;
    /* An HTTP request has every variable of http/template.h. */
    char why[160];
    if (http_template_check(p->up->hash_key, NULL, why, sizeof why) < 0)
        return cfg_fail(ctx, at, "upstream '%s' hash_key: %s", p->upstream, why);
    return 0;
}

int http_proxy_check(struct cfg_ctx *ctx, const config_setting_t *group,
                     const struct herd_config *cfg, struct cfg_server *s)
{
    struct cfg_http *h = s->conf;
    const config_setting_t *routes = config_setting_get_member(group, "routes");
    for (size_t i = 0; i < h->n_routes; i++) {
        if (h->routes[i].proxy == NULL)
            continue;
        const config_setting_t *r = routes ? config_setting_get_elem(routes, (unsigned)i) : NULL;
        if (check_route(ctx, r ? r : group, cfg, h->routes[i].proxy) < 0)
            return -1;
    }
    return 0;
}
