/* Configured response headers and `expires` (http/headers.h).
 * Tested by tests/unit/check_http_headers.c and
 * tests/integration/test_site_vars.py. */
#include "http/headers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/date.h"
#include "units.h"

/* Fields the head builder writes itself (or a body's framing decides):
 * a configured one would contradict it. */
static const char *const own_fields[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "date",
    "server", "trailer", "te",
};

static bool own_field(const char *name)
{
    for (size_t i = 0; i < sizeof own_fields / sizeof own_fields[0]; i++)
        if (strcasecmp(name, own_fields[i]) == 0)
            return true;
    return false;
}

int http_headers_check(struct cfg_ctx *ctx, const config_setting_t *group, const char *key,
                       const struct cfg_strings *fields)
{
    const config_setting_t *hs = config_setting_get_member(group, key);
    for (size_t i = 0; i + 1 < fields->n; i += 2) {
        const config_setting_t *at = hs ? config_setting_get_member(hs, fields->v[i]) : NULL;
        char why[160];
        if (at == NULL)
            at = hs ? hs : group;
        if (own_field(fields->v[i]))
            return cfg_fail(ctx, at, "'%s' cannot set %s: herd writes it itself", key,
                            fields->v[i]);
        if (http_template_check(fields->v[i + 1], NULL, why, sizeof why) < 0)
            return cfg_fail(ctx, at, "header %s: %s", fields->v[i], why);
    }
    return 0;
}

void http_headers_free(struct http_headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        http_template_free(&h->v[i].value);
    }
    free(h->v);
    free(h->plain);
    memset(h, 0, sizeof *h);
}

/* Index of name in h, or h->n. */
static size_t find(const struct http_headers *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0)
            return i;
    return h->n;
}

/* Set name to value: replaced in place when present (an empty value
 * removes it), else appended. */
static int set(struct http_headers *h, const char *name, const char *value, char *why,
               size_t cap)
{
    size_t i = find(h, name);
    if (i < h->n) {
        free(h->v[i].name);
        http_template_free(&h->v[i].value);
        memmove(&h->v[i], &h->v[i + 1], (h->n - i - 1) * sizeof *h->v);
        h->n--;
    }
    if (value[0] == '\0')
        return 0;
    /* Kept in place: a route's value of a server's name stays where the
     * server's was. */
    memmove(&h->v[i + 1], &h->v[i], (h->n - i) * sizeof *h->v);
    h->n++;
    struct http_header_tpl *t = &h->v[i];
    memset(t, 0, sizeof *t);
    if ((t->name = strdup(name)) == NULL) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    t->name_len = strlen(name);
    return http_template_compile(&t->value, value, why, cap);
}

static int build_plain(struct http_headers *h, char *why, size_t cap)
{
    for (size_t i = 0; i < h->n; i++)
        h->has_vars = h->has_vars || h->v[i].value.has_vars;
    if (h->has_vars || h->n == 0)
        return 0;
    size_t len = http_headers_render(h, NULL, NULL, 0);
    if ((h->plain = malloc(len + 1)) == NULL) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    h->plain_len = http_headers_render(h, NULL, h->plain, len);
    h->plain[len] = '\0';
    return 0;
}

int http_headers_build(struct http_headers *h, const struct cfg_strings *server,
                       const struct cfg_strings *route, char *why, size_t cap)
{
    memset(h, 0, sizeof *h);
    size_t most = server->n / 2 + route->n / 2;
    if ((h->v = calloc(most ? most : 1, sizeof *h->v)) == NULL) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    for (size_t i = 0; i + 1 < server->n; i += 2)
        if (set(h, server->v[i], server->v[i + 1], why, cap) < 0)
            goto fail;
    for (size_t i = 0; i + 1 < route->n; i += 2)
        if (set(h, route->v[i], route->v[i + 1], why, cap) < 0)
            goto fail;
    if (build_plain(h, why, cap) < 0)
        goto fail;
    return 0;
fail:
    http_headers_free(h);
    return -1;
}

static void put(char *out, size_t cap, size_t at, const char *s, size_t n)
{
    if (at < cap)
        memcpy(out + at, s, n < cap - at ? n : cap - at);
}

size_t http_headers_render(const struct http_headers *h, const struct http_req *req, char *out,
                           size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++) {
        const struct http_header_tpl *t = &h->v[i];
        size_t start = n;
        put(out, cap, n, t->name, t->name_len);
        put(out, cap, n + t->name_len, ": ", 2);
        n += t->name_len + 2;
        size_t v = t->value.has_vars
                       ? http_template_render_req(&t->value, req, n < cap ? out + n : NULL,
                                                  n < cap ? cap - n : 0)
                       : t->value.plain_len;
        if (!t->value.has_vars)
            put(out, cap, n, t->value.text, v);
        if (v == 0) {       /* nothing to say: no line, as nginx does */
            n = start;
            continue;
        }
        n += v;
        put(out, cap, n, "\r\n", 2);
        n += 2;
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* expires */

int http_expires_parse(const char *s, int64_t *secs)
{
    int64_t ms;
    if (strcmp(s, "off") == 0)
        *secs = HTTP_EXPIRES_OFF;
    else if (strcmp(s, "epoch") == 0)
        *secs = HTTP_EXPIRES_EPOCH;
    else if (strcmp(s, "max") == 0)
        *secs = HTTP_EXPIRES_MAX;
    else if (units_parse_duration(s, &ms) == 0 && ms >= 0 && ms <= 10LL * 365 * 86400 * 1000)
        *secs = ms / 1000;
    else
        return -1;
    return 0;
}

size_t http_expires_write(int64_t expires, time_t now, char *out, size_t cap)
{
    char date[HTTP_DATE_LEN + 1];
    int n;
    switch (expires) {
    case HTTP_EXPIRES_OFF:
        return 0;
    case HTTP_EXPIRES_EPOCH:
        n = snprintf(out, cap, "Cache-Control: no-cache\r\n"
                     "Expires: Thu, 01 Jan 1970 00:00:01 GMT\r\n");
        break;
    case HTTP_EXPIRES_MAX:
        n = snprintf(out, cap, "Cache-Control: max-age=315360000\r\n"
                     "Expires: Thu, 31 Dec 2037 23:55:55 GMT\r\n");
        break;
    default:
        http_date_format(now + (time_t)expires, date);
        n = snprintf(out, cap, "Cache-Control: max-age=%lld\r\nExpires: %s\r\n",
                     (long long)expires, date);
        break;
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
