#include "http/status.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct text {
    char *p;
    size_t len, cap;
    int failed;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->p && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

static const char *const help[STAT_COUNTERS] = {
    "Connections accepted", "Connections closed after being served", "Open connections",
    "Connections reading a request", "Connections writing a response",
    "Keep-alive connections waiting for a request", "Requests received", "Bytes received",
    "Bytes sent",
};

static int is_gauge(enum stats_counter k)
{
    return k == STAT_ACTIVE || k == STAT_READING || k == STAT_WRITING || k == STAT_IDLE;
}

static void render_json(struct text *t, const struct stats_page *p, const uint64_t *total,
                        time_t now)
{
    add(t, "{\"generation\":%u,\"uptime\":%lld,\"total\":{", p->generation,
        (long long)(now - p->started));
    for (int k = 0; k < STAT_COUNTERS; k++)
        add(t, "%s\"%s\":%llu", k ? "," : "", stats_counter_name((enum stats_counter)k),
            (unsigned long long)total[k]);
    add(t, "},\"workers\":[");
    int first = 1;
    for (size_t i = 0; i < STATS_BLOCKS; i++) {
        const struct stats_block *b = &p->blocks[i];
        if (b->pid <= 0)
            continue;
        add(t, "%s{\"pid\":%d,\"slot\":%d,\"generation\":%u,\"uptime\":%lld", first ? "" : ",",
            (int)b->pid, (int)b->slot, b->generation, (long long)(now - b->started));
        for (int k = 0; k < STAT_COUNTERS; k++)
            add(t, ",\"%s\":%llu", stats_counter_name((enum stats_counter)k),
                (unsigned long long)stats_get(b, (enum stats_counter)k));
        add(t, "}");
        first = 0;
    }
    add(t, "]}\n");
}

static void render_text(struct text *t, const struct stats_page *p, const uint64_t *total,
                        time_t now)
{
    add(t, "Active connections: %llu\n", (unsigned long long)total[STAT_ACTIVE]);
    add(t, "server accepts handled requests\n %llu %llu %llu\n",
        (unsigned long long)total[STAT_ACCEPTED], (unsigned long long)total[STAT_HANDLED],
        (unsigned long long)total[STAT_REQUESTS]);
    add(t, "Reading: %llu Writing: %llu Waiting: %llu\n",
        (unsigned long long)total[STAT_READING], (unsigned long long)total[STAT_WRITING],
        (unsigned long long)total[STAT_IDLE]);
    add(t, "Generation: %u Uptime: %lld\n", p->generation, (long long)(now - p->started));
    for (size_t i = 0; i < STATS_BLOCKS; i++) {
        const struct stats_block *b = &p->blocks[i];
        if (b->pid <= 0)
            continue;
        add(t, "worker slot=%d pid=%d generation=%u uptime=%lld", (int)b->slot, (int)b->pid,
            b->generation, (long long)(now - b->started));
        for (int k = 0; k < STAT_COUNTERS; k++)
            add(t, " %s=%llu", stats_counter_name((enum stats_counter)k),
                (unsigned long long)stats_get(b, (enum stats_counter)k));
        add(t, "\n");
    }
}

static void render_prometheus(struct text *t, const struct stats_page *p, time_t now)
{
    add(t, "# HELP herd_generation Configuration generation being served.\n"
           "# TYPE herd_generation gauge\nherd_generation %u\n", p->generation);
    add(t, "# HELP herd_uptime_seconds Seconds since the master started.\n"
           "# TYPE herd_uptime_seconds gauge\nherd_uptime_seconds %lld\n",
        (long long)(now - p->started));
    for (int k = 0; k < STAT_COUNTERS; k++) {
        enum stats_counter c = (enum stats_counter)k;
        const char *name = stats_counter_name(c);
        const char *suffix = is_gauge(c) ? "" : "_total";
        add(t, "# HELP herd_%s%s %s.\n# TYPE herd_%s%s %s\n", name, suffix, help[k], name, suffix,
            is_gauge(c) ? "gauge" : "counter");
        if (!is_gauge(c))
            add(t, "herd_%s%s{worker=\"exited\"} %llu\n", name, suffix,
                (unsigned long long)p->retired[k]);
        for (size_t i = 0; i < STATS_BLOCKS; i++) {
            const struct stats_block *b = &p->blocks[i];
            if (b->pid <= 0)
                continue;
            add(t, "herd_%s%s{worker=\"%d\",slot=\"%d\",generation=\"%u\"} %llu\n", name, suffix,
                (int)b->pid, (int)b->slot, b->generation,
                (unsigned long long)stats_get(b, c));
        }
    }
}

size_t http_status_render(const struct stats_page *page, enum cfg_status_format format,
                          time_t now, char **out)
{
    struct text t = { 0 };
    uint64_t total[STAT_COUNTERS];
    stats_total(page, total);
    switch (format) {
    case STATUS_JSON:
        render_json(&t, page, total, now);
        break;
    case STATUS_TEXT:
        render_text(&t, page, total, now);
        break;
    case STATUS_PROMETHEUS:
        render_prometheus(&t, page, now);
        break;
    }
    if (t.failed) {
        free(t.p);
        *out = NULL;
        return 0;
    }
    *out = t.p;
    return t.len;
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
