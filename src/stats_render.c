/* The shared counters as text: JSON, plain text (nginx's stub status lines
 * first) and Prometheus. Everything is read from one snapshot of the page,
 * so the figures of one answer agree with one another.
 * Tested by tests/unit/check_stats_render.c. */
#include "stats_render.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The name of the responses of servers beyond the page's table of names. */
#define OTHER_SERVERS "(other)"

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

/* A string for a JSON string or a Prometheus label value: both escape the
 * backslash, the quote and the newline; JSON every other control too. */
static void add_quoted(struct text *t, const char *s, int json)
{
    add(t, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            add(t, "\\%c", ch);
        else if (ch == '\n')
            add(t, "\\n");
        else if (json && ch < 0x20)
            add(t, "\\u%04x", ch);
        else
            add(t, "%c", ch);
    }
    add(t, "\"");
}

static const char *server_name(const struct stats_server *s)
{
    return s->name[0] ? s->name : OTHER_SERVERS;
}

static unsigned long long u(uint64_t v)
{
    return (unsigned long long)v;
}

/* ------------------------------------------------------------------ */
/* JSON */

/* The counters of sum as JSON members, each after a comma when more. */
static void json_sum(struct text *t, const struct stats_sum *sum, int more)
{
    for (int k = 0; k < STAT_COUNTERS; k++)
        add(t, "%s\"%s\":%llu", k || more ? "," : "", stats_counter_name((enum stats_counter)k),
            u(sum->c[k]));
    add(t, ",\"responses\":");
    for (int cls = 0; cls < STATS_CLASSES; cls++)
        add(t, "%c\"%s\":%llu", cls ? ',' : '{', stats_class_name(cls), u(sum->responses[cls]));
    add(t, "}");
}

static void render_json(struct text *t, const struct stats_snapshot *s, time_t now,
                        const char *more)
{
    add(t, "{\"generation\":%u,\"uptime\":%lld,\"total\":{", s->generation,
        (long long)(now - s->started));
    json_sum(t, &s->total, 0);
    add(t, "},\"slots\":[");
    const char *sep = "";
    for (int i = 0; i < STATS_SLOTS; i++) {
        if (!s->seen[i])
            continue;
        add(t, "%s{\"slot\":%d", sep, i);
        json_sum(t, &s->slot[i], 1);
        add(t, "}");
        sep = ",";
    }
    add(t, "],\"servers\":[");
    for (size_t i = 0; i < s->n_servers; i++) {
        add(t, "%s{\"server\":", i ? "," : "");
        add_quoted(t, server_name(&s->server[i]), 1);
        add(t, ",\"responses\":");
        for (int cls = 0; cls < STATS_CLASSES; cls++)
            add(t, "%c\"%s\":%llu", cls ? ',' : '{', stats_class_name(cls),
                u(s->server[i].responses[cls]));
        add(t, "}}");
    }
    add(t, "],\"workers\":[");
    for (size_t i = 0; i < s->n_workers; i++) {
        const struct stats_worker *w = &s->worker[i];
        add(t, "%s{\"pid\":%d,\"slot\":%d,\"generation\":%u,\"uptime\":%lld", i ? "," : "",
            (int)w->pid, w->slot, w->generation, (long long)(now - w->started));
        json_sum(t, &w->sum, 1);
        add(t, "}");
    }
    add(t, "]%s%s}\n", more ? "," : "", more ? more : "");
}

/* ------------------------------------------------------------------ */
/* Text: nginx's stub status lines first, then one line per slot, server
 * and worker process. */

static void text_sum(struct text *t, const struct stats_sum *sum)
{
    for (int k = 0; k < STAT_COUNTERS; k++)
        add(t, " %s=%llu", stats_counter_name((enum stats_counter)k), u(sum->c[k]));
    for (int cls = 0; cls < STATS_CLASSES; cls++)
        add(t, " %s=%llu", stats_class_name(cls), u(sum->responses[cls]));
}

static void render_text(struct text *t, const struct stats_snapshot *s, time_t now)
{
    const uint64_t *c = s->total.c;
    add(t, "Active connections: %llu\n", u(c[STAT_ACTIVE]));
    add(t, "server accepts handled requests\n %llu %llu %llu\n", u(c[STAT_ACCEPTED]),
        u(c[STAT_HANDLED]), u(c[STAT_REQUESTS]));
    add(t, "Reading: %llu Writing: %llu Waiting: %llu\n", u(c[STAT_READING]),
        u(c[STAT_WRITING]), u(c[STAT_IDLE]));
    add(t, "Generation: %u Uptime: %lld\n", s->generation, (long long)(now - s->started));
    add(t, "Responses:");
    for (int cls = 0; cls < STATS_CLASSES; cls++)
        add(t, " %s=%llu", stats_class_name(cls), u(s->total.responses[cls]));
    add(t, "\n");
    for (int i = 0; i < STATS_SLOTS; i++) {
        if (!s->seen[i])
            continue;
        add(t, "slot %d", i);
        text_sum(t, &s->slot[i]);
        add(t, "\n");
    }
    for (size_t i = 0; i < s->n_servers; i++) {
        add(t, "server %s", server_name(&s->server[i]));
        for (int cls = 0; cls < STATS_CLASSES; cls++)
            add(t, " %s=%llu", stats_class_name(cls), u(s->server[i].responses[cls]));
        add(t, "\n");
    }
    for (size_t i = 0; i < s->n_workers; i++) {
        const struct stats_worker *w = &s->worker[i];
        add(t, "worker slot=%d pid=%d generation=%u uptime=%lld", w->slot, (int)w->pid,
            w->generation, (long long)(now - w->started));
        text_sum(t, &w->sum);
        add(t, "\n");
    }
}

/* ------------------------------------------------------------------ */
/* Prometheus: every series by slot (never by process, whose series would
 * end at each reload), named by the conventions: _total counters, base
 * units. */

struct metric {
    int counter;                /* enum stats_counter */
    const char *name;
    const char *help;
    const char *state;          /* herd_connections{state=...}, or NULL */
};

static const struct metric metrics[] = {
    { STAT_ACCEPTED, "herd_connections_accepted_total", "Connections accepted.", NULL },
    { STAT_HANDLED, "herd_connections_handled_total",
      "Connections closed after being served.", NULL },
    { STAT_ACTIVE, "herd_connections_open", "Open connections.", NULL },
    { STAT_READING, "herd_connections",
      "Open connections by state: reading a request, writing a response, or idle "
      "between keep-alive requests.", "reading" },
    { STAT_WRITING, "herd_connections", NULL, "writing" },
    { STAT_IDLE, "herd_connections", NULL, "idle" },
    { STAT_REQUESTS, "herd_requests_total", "Requests received.", NULL },
    { STAT_BYTES_IN, "herd_received_bytes_total", "Bytes received from clients.", NULL },
    { STAT_BYTES_OUT, "herd_sent_bytes_total", "Bytes sent to clients.", NULL },
};

static void prom_head(struct text *t, const char *name, const char *help, const char *type)
{
    add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_prometheus(struct text *t, const struct stats_snapshot *s, time_t now)
{
    prom_head(t, "herd_generation", "Configuration generation being served.", "gauge");
    add(t, "herd_generation %u\n", s->generation);
    prom_head(t, "herd_uptime_seconds",
              "Seconds since the counters started (kept across binary upgrades).", "gauge");
    add(t, "herd_uptime_seconds %lld\n", (long long)(now - s->started));
    for (size_t m = 0; m < sizeof metrics / sizeof metrics[0]; m++) {
        const struct metric *x = &metrics[m];
        if (x->help)
            prom_head(t, x->name, x->help,
                      stats_is_gauge((enum stats_counter)x->counter) ? "gauge" : "counter");
        for (int i = 0; i < STATS_SLOTS; i++) {
            if (!s->seen[i])
                continue;
            add(t, "%s{slot=\"%d\"", x->name, i);
            if (x->state)
                add(t, ",state=\"%s\"", x->state);
            add(t, "} %llu\n", u(s->slot[i].c[x->counter]));
        }
    }
    prom_head(t, "herd_responses_total", "Responses sent, by status class.", "counter");
    for (int i = 0; i < STATS_SLOTS; i++)
        for (int cls = 0; s->seen[i] && cls < STATS_CLASSES; cls++)
            add(t, "herd_responses_total{slot=\"%d\",code=\"%s\"} %llu\n", i,
                stats_class_name(cls), u(s->slot[i].responses[cls]));
    prom_head(t, "herd_server_responses_total", "Responses sent, by server and status class.",
              "counter");
    for (size_t i = 0; i < s->n_servers; i++)
        for (int cls = 0; cls < STATS_CLASSES; cls++) {
            add(t, "herd_server_responses_total{server=");
            add_quoted(t, server_name(&s->server[i]), 0);
            add(t, ",code=\"%s\"} %llu\n", stats_class_name(cls),
                u(s->server[i].responses[cls]));
        }
}

size_t stats_render(const struct stats_page *page, enum stats_format format, time_t now,
                    char **out)
{
    return stats_render_more(page, format, now, NULL, out);
}

size_t stats_render_more(const struct stats_page *page, enum stats_format format, time_t now,
                         const char *more, char **out)
{
    struct text t = { 0 };
    struct stats_snapshot *s = stats_snapshot(page);
    if (s == NULL) {
        *out = NULL;
        return 0;
    }
    switch (format) {
    case STATS_FORMAT_JSON:
        render_json(&t, s, now, more);
        break;
    case STATS_FORMAT_TEXT:
        render_text(&t, s, now);
        break;
    case STATS_FORMAT_PROMETHEUS:
        render_prometheus(&t, s, now);
        break;
    }
    free(s);
    if (more && format != STATS_FORMAT_JSON)
        add(&t, "%s", more);
    if (t.failed) {
        free(t.p);
        *out = NULL;
        return 0;
    }
    *out = t.p;
    return t.len;
}
