/* The status page's HTTP side: its configured format mapped to a rendering
 * of the counters (stats_render.c) and to a media type, and the name a
 * server's responses are counted under.
 * Tested by tests/unit/check_http_status.c. */
#include "http/status.h"

#include <stdio.h>
#include <stdlib.h>

#include "limit_zone.h"
#include "stats_render.h"
#include "upstream_health.h"

_Static_assert(CONFIG_MAX_WORKERS <= STATS_SLOTS, "every slot has its totals");

static enum stats_format render_format(enum cfg_status_format format)
{
    switch (format) {
    case STATUS_TEXT:
        return STATS_FORMAT_TEXT;
    case STATUS_PROMETHEUS:
        return STATS_FORMAT_PROMETHEUS;
    default:
        return STATS_FORMAT_JSON;
    }
}

/* The requests limits refused (http/limit.h), counted in the limit zone,
 * after the upstream servers' part (a JSON member, a line, a series). */
static char *with_limited(char *servers, enum stats_format format)
{
    const struct limit_zone *z = limit_zone_mapped();
    if (z == NULL)
        return servers;
    char *text = NULL;
    const char *before = servers ? servers : "";
    unsigned long long n = limit_zone_refusals(z);
    int rc;
    if (format == STATS_FORMAT_JSON)
        rc = asprintf(&text, "%s%s\"limited\":%llu", before, servers ? "," : "", n);
    else if (format == STATS_FORMAT_TEXT)
        rc = asprintf(&text, "%slimited requests=%llu\n", before, n);
    else
        rc = asprintf(&text, "%s# HELP herd_limited_requests_total Requests refused by a "
                      "limit.\n# TYPE herd_limited_requests_total counter\n"
                      "herd_limited_requests_total %llu\n", before, n);
    if (rc < 0)
        return servers;
    free(servers);
    return text;
}

size_t http_status_render(const struct stats_page *page, enum cfg_status_format format,
                          time_t now, char **out)
{
    /* The upstream servers' part, from the shared health page. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char *more = NULL;
    upstream_health_render(upstream_health_page(), render_format(format),
                           (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, &more);
    more = with_limited(more, render_format(format));
    size_t n = stats_render_more(page, render_format(format), now, more, out);
    free(more);
    return n;
}

const char *http_status_type(enum cfg_status_format format)
{
    switch (format) {
    case STATUS_JSON:
        return "application/json";
    case STATUS_PROMETHEUS:
        return "text/plain; version=0.0.4";
    default:
        return "text/plain";
    }
}

const char *http_status_server_name(const struct cfg_server *s)
{
    if (http_config(s)->server_names.n > 0)
        return http_config(s)->server_names.v[0];
    return s->listen.n > 0 ? s->listen.v[0] : NULL;
}
