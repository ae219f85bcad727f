/* The `status` handler: the counters of every slot and server, rendered
 * from the shared stats page per request (JSON, text or Prometheus).
 * Tested, with its configuration section, by
 * tests/unit/check_http_handler_status.c and tests/integration/test_status.py. */
#include <stdio.h>
#include <stdlib.h>

#include "config_engine.h"
#include "http/config.h"
#include "http/handler.h"
#include "http/server.h"
#include "http/status.h"

struct status_route {
    enum cfg_status_format format;
};

static enum http_start start(struct http_req *req)
{
    static const char no_store[] = "Cache-Control: no-store\r\n";
    const struct status_route *sr = req->conf;
    char *body = NULL;
    size_t len = http_status_render(http_stats_page(req->conn), sr->format,
                                    loop_wall(http_loop(req->conn)), &body);
    struct http_head h = {
        .status = 200, .type = http_status_type(sr->format), .length = (int64_t)len,
        .extra = no_store, .extra_len = sizeof no_store - 1,
    };
    http_req_respond(req, &h, body, len);
    free(body);
    return HTTP_ANSWERED;
}

/* ------------------------------------------------------------------ */
/* Configuration: the route's `status` group */

static const char *const status_formats[] = {
    [STATUS_JSON] = "json", [STATUS_TEXT] = "text", [STATUS_PROMETHEUS] = "prometheus", NULL,
};

static const struct cfg_key status_keys[] = {
    { .name = "format", .type = CT_ENUM, .offset = CFG_AT(cfg_status, format), .def = "json",
      .names = status_formats },
};

const struct cfg_section http_status_config = {
    "status", sizeof(struct cfg_status), status_keys, CFG_NKEYS(status_keys), NULL,
};

/* ------------------------------------------------------------------ */
/* The handler */

static const void *section(const struct cfg_route *cr)
{
    return cr->status;
}

static void *build(const void *sec, const struct http_handler_env *env, char *err, size_t errcap)
{
    (void)env;
    const struct cfg_status *cfg = sec;
    struct status_route *sr = malloc(sizeof *sr);
    if (sr == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    sr->format = (enum cfg_status_format)cfg->format;
    return sr;
}

const struct http_handler http_handler_status = {
    .name = "status",
    .section = section,
    .build = build,
    .free = free,
    .start = start,
};
