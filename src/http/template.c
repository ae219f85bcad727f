/* Templates: compiled once, rendered by copying pieces.
 * Tested by tests/unit/check_http_template.c. */
#include "http/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    enum http_var var;
} names[] = {
    { "host", HV_HOST }, { "scheme", HV_SCHEME }, { "request_uri", HV_REQUEST_URI },
    { "uri", HV_URI }, { "args", HV_ARGS }, { "query_string", HV_ARGS },
    { "is_args", HV_IS_ARGS }, { "path_rest", HV_PATH_REST },
    { "request_method", HV_REQUEST_METHOD }, { "remote_addr", HV_REMOTE_ADDR },
    { "remote_port", HV_REMOTE_PORT }, { "server_port", HV_SERVER_PORT },
    { "realip_remote_addr", HV_REALIP_REMOTE_ADDR },
    { "realip_remote_port", HV_REALIP_REMOTE_PORT },
    { "msec", HV_MSEC }, { "request_id", HV_REQUEST_ID },
    /* the access log's (HV_LOG_FIRST and after) */
    { "remote_user", HV_REMOTE_USER }, { "time_local", HV_TIME_LOCAL },
    { "time_iso8601", HV_TIME_ISO8601 }, { "request", HV_REQUEST },
    { "server_protocol", HV_SERVER_PROTOCOL }, { "status", HV_STATUS },
    { "body_bytes_sent", HV_BODY_BYTES_SENT }, { "bytes_sent", HV_BYTES_SENT },
    { "request_time", HV_REQUEST_TIME }, { "upstream_addr", HV_UPSTREAM_ADDR },
    { "upstream_status", HV_UPSTREAM_STATUS },
    { "upstream_response_time", HV_UPSTREAM_RESPONSE_TIME },
    { "ssl_protocol", HV_SSL_PROTOCOL }, { "ssl_cipher", HV_SSL_CIPHER },
    { "ssl_client_s_dn", HV_SSL_CLIENT_S_DN },
};

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/* The variable named name[0..len) as a piece (its text not yet set for
 * HV_HTTP). -1 when there is none (or, without log, it is the access
 * log's alone). */
static int lookup_name(const char *name, size_t len, bool log, struct http_tpl_piece *p)
{
    if (len == 1 && name[0] >= '1' && name[0] <= '9') {
        *p = (struct http_tpl_piece){ .var = HV_CAPTURE, .arg = (uint8_t)(name[0] - '0') };
        return 0;
    }
    if (len > 5 && strncmp(name, "http_", 5) == 0) {
        *p = (struct http_tpl_piece){ .var = HV_HTTP, .len = len - 5 };
        return 0;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && memcmp(names[i].name, name, len) == 0) {
            *p = (struct http_tpl_piece){ .var = (uint8_t)names[i].var };
            return log || names[i].var < HV_LOG_FIRST ? 0 : -2;
        }
    return -1;
}

/* The name after the '$' at s: where it starts and its length; *end is
 * past it (and its closing brace). 0 when there is no name (a plain '$'),
 * -1 for an unclosed brace. */
static int scan_name(const char *s, const char **name, size_t *len, const char **end)
{
    const char *p = s + 1;
    bool brace = *p == '{';
    if (brace)
        p++;
    *name = p;
    if (*p >= '1' && *p <= '9' && !brace) {
        *len = 1;
        *end = p + 1;
        return 1;
    }
    while (name_char(*p))
        p++;
    *len = (size_t)(p - *name);
    if (brace && *p != '}')
        return -1;
    *end = brace ? p + 1 : p;
    return *len > 0 ? 1 : 0;
}

/* One pass over src: count the pieces, or fill t (whose text holds src
 * and room after it for the HV_HTTP names). */
static long pieces(const char *src, struct http_template *t, bool log, char *why, size_t cap)
{
    long n = 0;
    char *names_at = t ? t->text + strlen(src) + 1 : NULL;
    const char *lit = src, *p = src;
    for (;;) {
        const char *dollar = strchr(p, '$');
        const char *name = NULL, *end = NULL;
        size_t len = 0;
        int rc = dollar ? scan_name(dollar, &name, &len, &end) : 0;
        if (rc < 0) {
            snprintf(why, cap, "'${' without its closing '}'");
            return -1;
        }
        if (dollar && rc == 0) {    /* a plain '$': part of the literal */
            p = dollar + 1;
            continue;
        }
        const char *stop = dollar ? dollar : src + strlen(src);
        if (stop > lit) {
            if (t)
                t->v[n] = (struct http_tpl_piece){ .var = HV_LITERAL,
                                                   .text = t->text + (lit - src),
                                                   .len = (size_t)(stop - lit) };
            n++;
        }
        if (dollar == NULL)
            return n;
        struct http_tpl_piece v;
        int found = lookup_name(name, len, log, &v);
        if (found == -2) {
            snprintf(why, cap, "'$%.*s' is known only in the access log", (int)len, name);
            return -1;
        }
        if (found < 0) {
            snprintf(why, cap, "unknown variable '$%.*s'", (int)len, name);
            return -1;
        }
        if (t && v.var == HV_HTTP) {
            v.text = names_at;
            for (size_t i = 0; i < v.len; i++) {
                char c = name[5 + i];
                names_at[i] = c == '_' ? '-' : (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
            }
            names_at[v.len] = '\0';
            names_at += v.len + 1;
        }
        if (t)
            t->v[n] = v;
        n++;
        lit = p = end;
    }
}

int http_template_check(const char *src, bool *has_vars, char *why, size_t cap)
{
    struct http_template t = { 0 };
    if (http_template_compile(&t, src, why, cap) < 0)
        return -1;
    if (has_vars)
        *has_vars = t.has_vars;
    http_template_free(&t);
    return 0;
}

int http_template_max_capture(const char *src)
{
    struct http_template t;
    char why[8];
    if (http_template_compile(&t, src, why, sizeof why) < 0)
        return -1;
    int max = 0;
    for (size_t i = 0; i < t.n; i++)
        if (t.v[i].var == HV_CAPTURE && t.v[i].arg > max)
            max = t.v[i].arg;
    http_template_free(&t);
    return max;
}

static int compile(struct http_template *t, const char *src, bool log, char *why, size_t cap)
{
    memset(t, 0, sizeof *t);
    long n = pieces(src, NULL, log, why, cap);
    if (n < 0)
        return -1;
    size_t len = strlen(src);
    t->text = malloc(2 * len + 2);
    t->v = calloc(n > 0 ? (size_t)n : 1, sizeof *t->v);
    if (t->text == NULL || t->v == NULL) {
        http_template_free(t);
        snprintf(why, cap, "out of memory");
        return -1;
    }
    memcpy(t->text, src, len + 1);
    t->n = (size_t)pieces(src, t, log, why, cap);
    for (size_t i = 0; i < t->n; i++)
        t->has_vars = t->has_vars || t->v[i].var != HV_LITERAL;
    t->plain_len = t->has_vars ? 0 : len;
    return 0;
}

int http_template_compile(struct http_template *t, const char *src, char *why, size_t cap)
{
    return compile(t, src, false, why, cap);
}

int http_template_compile_log(struct http_template *t, const char *src, char *why, size_t cap)
{
    return compile(t, src, true, why, cap);
}

void http_template_free(struct http_template *t)
{
    free(t->text);
    free(t->v);
    memset(t, 0, sizeof *t);
}

size_t http_template_render(const struct http_template *t, http_tpl_lookup get,
                            const void *ctx, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct http_tpl_piece *p = &t->v[i];
        size_t room = n < cap ? cap - n : 0;
        char *at = room ? out + n : NULL;
        if (p->var != HV_LITERAL)
            n += get(ctx, p, at, room);
        else {
            if (room)
                memcpy(at, p->text, p->len < room ? p->len : room);
            n += p->len;
        }
    }
    return n;
}
