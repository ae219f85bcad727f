/* The listed upstream servers of the health page as a part of a status
 * answer (upstream_health.h): JSON, text lines or Prometheus series, one
 * per server: state (up, down, checking), active and idle connections,
 * requests, failures, response time (sum and count).
 * Tested by tests/unit/check_upstream_health.c. */
#include "upstream_health.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct out {
    char *p;
    size_t len, cap;
    bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || o->failed) {
        o->failed = true;
        return;
    }
    if (o->len + (size_t)n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 1024;
        while (cap < o->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (p == NULL) {
            o->failed = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* A JSON string or a Prometheus label value (a unix socket path may hold
 * anything): both escape the backslash, the quote and the newline. */
static void quoted(struct out *o, const char *s, bool json)
{
    put(o, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            put(o, "\\%c", ch);
        else if (ch == '\n')
            put(o, "\\n");
        else if (json && ch < 0x20)
            put(o, "\\u%04x", ch);
        else
            put(o, "%c", ch);
    }
    put(o, "\"");
}

/* One reading of an entry's figures. */
struct reading {
    const char *state;
    long long active, idle;
    unsigned long long requests, failures, response_ms, responses;
};

static void read_entry(const struct upstream_health *h, int64_t now, struct reading *r)
{
    r->state = upstream_health_state_name(h, now);
    r->active = (long long)__atomic_load_n(&h->active, __ATOMIC_RELAXED);
    r->idle = (long long)__atomic_load_n(&h->idle, __ATOMIC_RELAXED);
    /* A worker killed by a signal cannot give its gauges back. */
    if (r->active < 0)
        r->active = 0;
    if (r->idle < 0)
        r->idle = 0;
    r->requests = __atomic_load_n(&h->requests, __ATOMIC_RELAXED);
    r->failures = __atomic_load_n(&h->failures, __ATOMIC_RELAXED);
    r->response_ms = __atomic_load_n(&h->response_ms, __ATOMIC_RELAXED);
    r->responses = __atomic_load_n(&h->responses, __ATOMIC_RELAXED);
}

static bool shown(const struct upstream_health *h)
{
    return __atomic_load_n(&h->used, __ATOMIC_ACQUIRE) == 2 &&
           __atomic_load_n(&h->listed, __ATOMIC_RELAXED);
}

static void render_json(struct out *o, const struct upstream_health_page *p, int64_t now)
{
    put(o, "\"upstreams\":[");
    const char *sep = "";
    for (size_t i = 0; i < UPSTREAM_HEALTH_ENTRIES; i++) {
        const struct upstream_health *h = &p->e[i];
        if (!shown(h))
            continue;
        struct reading r;
        read_entry(h, now, &r);
        put(o, "%s{\"upstream\":", sep);
        quoted(o, h->upstream, true);
        put(o, ",\"server\":");
        quoted(o, h->server, true);
        put(o, ",\"state\":\"%s\",\"active\":%lld,\"idle\":%lld,\"requests\":%llu,"
            "\"failures\":%llu,\"response_ms_sum\":%llu,\"responses\":%llu}", r.state,
            r.active, r.idle, r.requests, r.failures, r.response_ms, r.responses);
        sep = ",";
    }
    put(o, "]");
}

static void render_text(struct out *o, const struct upstream_health_page *p, int64_t now)
{
    for (size_t i = 0; i < UPSTREAM_HEALTH_ENTRIES; i++) {
        const struct upstream_health *h = &p->e[i];
        if (!shown(h))
            continue;
        struct reading r;
        read_entry(h, now, &r);
        put(o, "upstream %s server %s state=%s active=%lld idle=%lld requests=%llu "
            "failures=%llu response_ms_sum=%llu responses=%llu\n", h->upstream, h->server,
            r.state, r.active, r.idle, r.requests, r.failures, r.response_ms, r.responses);
    }
}

/* The Prometheus series, one family at a time (their samples together). */
enum family { F_STATE, F_ACTIVE, F_IDLE, F_REQUESTS, F_FAILURES, F_SUM, F_COUNT, F_N };

static const char *const families[F_N][3] = {
    [F_STATE] = { "herd_upstream_server_state", "gauge",
                  "Upstream server state: 1 for the state it is in (up, down, checking)." },
    [F_ACTIVE] = { "herd_upstream_server_connections", "gauge",
                   "Connections to an upstream server, by state (active, idle)." },
    [F_IDLE] = { "herd_upstream_server_connections", NULL, NULL },
    [F_REQUESTS] = { "herd_upstream_server_requests_total", "counter",
                     "Connections begun to an upstream server (each proxied attempt)." },
    [F_FAILURES] = { "herd_upstream_server_failures_total", "counter",
                     "Failures of an upstream server: connects refused or timed out, resets, "
                     "read timeouts." },
    [F_SUM] = { "herd_upstream_server_response_seconds", "summary",
                "Time from a proxied request's start to its complete response." },
    [F_COUNT] = { "herd_upstream_server_response_seconds", NULL, NULL },
};

static void prom_sample(struct out *o, enum family f, const struct upstream_health *h,
                        const struct reading *r)
{
    static const char *const states[] = { "up", "down", "checking" };
    if (f == F_STATE) {
        for (size_t k = 0; k < 3; k++) {
            put(o, "%s{upstream=", families[f][0]);
            quoted(o, h->upstream, false);
            put(o, ",server=");
            quoted(o, h->server, false);
            put(o, ",state=\"%s\"} %d\n", states[k], strcmp(r->state, states[k]) == 0);
        }
        return;
    }
    put(o, "%s%s{upstream=", families[f][0],
        f == F_SUM ? "_sum" : f == F_COUNT ? "_count" : "");
    quoted(o, h->upstream, false);
    put(o, ",server=");
    quoted(o, h->server, false);
    if (f == F_ACTIVE || f == F_IDLE)
        put(o, ",state=\"%s\"", f == F_ACTIVE ? "active" : "idle");
    put(o, "} ");
    switch (f) {
    case F_ACTIVE: put(o, "%lld\n", r->active); break;
    case F_IDLE: put(o, "%lld\n", r->idle); break;
    case F_REQUESTS: put(o, "%llu\n", r->requests); break;
    case F_FAILURES: put(o, "%llu\n", r->failures); break;
    case F_SUM: put(o, "%llu.%03llu\n", r->response_ms / 1000, r->response_ms % 1000); break;
    default: put(o, "%llu\n", r->responses); break;
    }
}

static void render_prometheus(struct out *o, const struct upstream_health_page *p, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < UPSTREAM_HEALTH_ENTRIES; i++)
        n += shown(&p->e[i]);
    for (int f = 0; n > 0 && f < F_N; f++) {
        if (families[f][1])
            put(o, "# HELP %s %s\n# TYPE %s %s\n", families[f][0], families[f][2],
                families[f][0], families[f][1]);
        for (size_t i = 0; i < UPSTREAM_HEALTH_ENTRIES; i++) {
            const struct upstream_health *h = &p->e[i];
            if (!shown(h))
                continue;
            struct reading r;
            read_entry(h, now, &r);
            prom_sample(o, (enum family)f, h, &r);
        }
    }
}

size_t upstream_health_render(const struct upstream_health_page *p, enum stats_format format,
                              int64_t now, char **out)
{
    struct out o = { 0 };
    *out = NULL;
    if (p == NULL)
        return 0;
    switch (format) {
    case STATS_FORMAT_JSON:
        render_json(&o, p, now);
        break;
    case STATS_FORMAT_TEXT:
        render_text(&o, p, now);
        break;
    case STATS_FORMAT_PROMETHEUS:
        render_prometheus(&o, p, now);
        break;
    }
    if (o.failed || o.p == NULL) {
        free(o.p);
        return 0;
    }
    *out = o.p;
    return o.len;
}
