/* Request limits per key (http/limit.h). */
#include "http/limit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/auth.h"
#include "http/handler.h"
#include "http/refusal.h"
#include "http/server.h"

#define RATE_MAX 1000000
#define NS_PER_S INT64_C(1000000000)

/* ------------------------------------------------------------------ */
/* Configuration */

int http_limit_parse_rate(const char *s, int64_t *interval_ns)
{
    int64_t n = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');
        if (n > RATE_MAX)
            return -1;
    }
    if (p == s || n < 1)
        return -1;
    int64_t period;
    if (strcmp(p, "r/s") == 0)
        period = NS_PER_S;
    else if (strcmp(p, "r/m") == 0)
        period = 60 * NS_PER_S;
    else
        return -1;
    *interval_ns = period / n;
    return 0;
}

static int validate_limit(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_limit *l = obj;
    if (l->rate && http_limit_parse_rate(l->rate, &l->interval_ns) < 0)
        return cfg_fail(ctx, config_setting_get_member(group, "rate"),
                        "'rate' \"%s\" is not a rate: write \"Nr/s\" or \"Nr/m\" (N from 1 "
                        "to %d requests a second or a minute)", l->rate, RATE_MAX);
    if (l->rate == NULL && l->connections == 0)
        return cfg_fail(ctx, group, "'limit' needs 'rate' or 'connections'");
    if (l->rate == NULL && config_setting_get_member(group, "burst"))
        return cfg_fail(ctx, config_setting_get_member(group, "burst"),
                        "'burst' needs a 'rate'");
    if (l->status != 429 && l->status != 503)
        return cfg_fail(ctx, config_setting_get_member(group, "status"),
                        "a limit answers 429 or 503, not %lld", (long long)l->status);
    char why[160];
    if (http_template_check(l->key, NULL, why, sizeof why) < 0)
        return cfg_fail(ctx, config_setting_get_member(group, "key"), "'key': %s", why);
    return 0;
}

static const struct cfg_key limit_keys[] = {
    { .name = "rate", .type = CT_STRING, .offset = CFG_AT(cfg_limit, rate) },
    { .name = "burst", .type = CT_INT, .offset = CFG_AT(cfg_limit, burst), .def = "0", .min = 0,
      .max = RATE_MAX },
    { .name = "key", .type = CT_STRING, .offset = CFG_AT(cfg_limit, key),
      .def = "$remote_addr" },
    { .name = "status", .type = CT_INT, .offset = CFG_AT(cfg_limit, status), .def = "429",
      .min = 100, .max = 599 },
    { .name = "connections", .type = CT_INT, .offset = CFG_AT(cfg_limit, connections),
      .def = "0", .min = 0, .max = RATE_MAX },
};

const struct cfg_section http_limit_config = {
    "limit", sizeof(struct cfg_limit), limit_keys, CFG_NKEYS(limit_keys), validate_limit,
};

/* The same keys; its own name, so that each section is listed once. */
const struct cfg_section http_server_limit_config = {
    "server limit", sizeof(struct cfg_limit), limit_keys, CFG_NKEYS(limit_keys),
    validate_limit,
};

/* ------------------------------------------------------------------ */
/* Building */

/* FNV-1a over a string and its NUL: the identity needs no secret, the
 * zone's keyed hash comes on top of it. */
static uint64_t fnv(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); ; p++) {
        h = (h ^ *p) * UINT64_C(0x100000001b3);
        if (*p == '\0')
            return h;
    }
}

struct http_limit *http_limit_build(const struct cfg_limit *cfg, const char *scope_a,
                                    const char *scope_b, char *err, size_t errcap)
{
    struct http_limit *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    if (http_template_compile(&l->key, cfg->key, err, errcap) < 0) {
        free(l);
        return NULL;
    }
    l->rule = (struct limit_rule){
        .interval_ns = cfg->interval_ns,
        .tolerance_ns = cfg->burst * cfg->interval_ns,
        .max_held = (uint32_t)cfg->connections,
    };
    l->status = (int)cfg->status;
    char settings[96];
    snprintf(settings, sizeof settings, "%s %" PRId64, cfg->rate ? cfg->rate : "-", cfg->burst);
    l->scope = fnv(fnv(fnv(fnv(UINT64_C(0xcbf29ce484222325), scope_a), scope_b), settings),
                   cfg->key);
    return l;
}

void http_limit_free(struct http_limit *l)
{
    if (l == NULL)
        return;
    http_template_free(&l->key);
    free(l);
}

/* ------------------------------------------------------------------ */
/* Requests */

uint64_t http_limit_key(const struct http_limit *l, struct limit_zone *z,
                        const struct http_req *req)
{
    char stack[512], *buf = stack;
    size_t cap = sizeof stack - sizeof l->scope;
    memcpy(buf, &l->scope, sizeof l->scope);
    size_t n = http_template_render_req(&l->key, req, buf + sizeof l->scope, cap);
    if (n > cap && (buf = malloc(n + sizeof l->scope)) != NULL) {
        memcpy(buf, &l->scope, sizeof l->scope);
        http_template_render_req(&l->key, req, buf + sizeof l->scope, n);
    } else if (n > cap) {
        buf = stack;        /* no memory: the key's beginning only */
        n = cap;
    }
    uint64_t k = http_auth_siphash(limit_zone_secret(z), buf, n + sizeof l->scope);
    if (buf != stack)
        free(buf);
    return k ? k : 1;           /* 0 is "nothing held" in a request */
}

int64_t http_limit_retry_after(int64_t wait_ns)
{
    int64_t s = (wait_ns + NS_PER_S - 1) / NS_PER_S;
    return s < 1 ? 1 : s;
}

bool http_limit_admit(const struct http_limit *l, struct http_req *req)
{
    struct limit_zone *z = limit_zone_current();
    if (z == NULL)
        return true;            /* no memory for a zone at all: not limited */
    uint64_t key = http_limit_key(l, z, req);
    int64_t wait = 0;
    bool held = false;
    int64_t now = http_req_now(req);
    enum limit_verdict v = limit_zone_admit(z, key, &l->rule, now * 1000000, &wait, &held);
    if (v == LIMIT_ADMIT) {
        req->limit_held = held ? key : 0;
        return true;
    }
    limit_zone_count_refusal(z);
    req->limit_wait = v == LIMIT_OVER_RATE ? http_limit_retry_after(wait) : 1;
    req->handler = &http_handler_limited;
    req->conf = l;
    http_req_refusal(req, LOG_INFO, l->status, "%s",
                     v == LIMIT_OVER_RATE ? "limiting requests: over the route's rate"
                                          : "limiting requests: too many in progress");
    return false;
}

void http_limit_release(const struct http_req *req)
{
    struct limit_zone *z = limit_zone_current();
    if (z && req->limit_held)
        limit_zone_release(z, req->limit_held);
}

/* The refusal: the server's page for the status, with Retry-After. */
static enum http_start limited_start(struct http_req *req)
{
    const struct http_limit *l = req->conf;
    const struct http_fixed *page = http_error_page(&req->server->errors, l->status);
    char extra[48];
    int n = snprintf(extra, sizeof extra, "Retry-After: %" PRId64 "\r\n", req->limit_wait);
    struct http_head h = {
        .status = l->status,
        .type = "text/html",
        .length = (int64_t)page->body_len,
        .extra = extra,
        .extra_len = (size_t)n,
    };
    http_req_respond(req, &h, page->body, page->body_len);
    return HTTP_ANSWERED;
}

const struct http_handler http_handler_limited = {
    .name = "limited",
    .any_method = true,
    .start = limited_start,
};
