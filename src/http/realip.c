/* The real client address behind trusted proxies (http/realip.h): the
 * server's `real_ip` group, and the walk of X-Forwarded-For. */
#include "http/realip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "http/request.h"
#include "http/server.h"

/* What a `from` entry says for the clients of unix-socket listeners. */
#define UNIX_FROM "unix:"

/* ------------------------------------------------------------------ */
/* The configuration */

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

static int check_header(struct cfg_ctx *ctx, const config_setting_t *at, const char *h)
{
    /* nginx's real_ip_header proxy_protocol: here the listener does it. */
    if (strcasecmp(h, "proxy_protocol") == 0)
        return cfg_fail(ctx, at, "'header': the PROXY protocol is taken by the listener: give "
                        "the server proxy_protocol = { from = [ ... ]; } instead, and its "
                        "header's source becomes the client address (real_ip may then read a "
                        "header from that address)");
    if (strcasecmp(h, "forwarded") == 0)
        return cfg_fail(ctx, at, "'header': \"Forwarded\" (RFC 7239, for=...) is not read; use "
                        "\"X-Forwarded-For\" or a header holding one address (\"X-Real-IP\")");
    if (!is_token(h))
        return cfg_fail(ctx, at, "'header': \"%s\" is not a header field name (such as "
                        "\"X-Forwarded-For\" or \"X-Real-IP\")", h);
    return 0;
}

static int validate_real_ip(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    const struct cfg_real_ip *r = obj;
    const config_setting_t *at = config_setting_get_member(group, "from");
    if (r->from.n == 0)
        return cfg_fail(ctx, at ? at : group, "'real_ip' needs 'from': the addresses of the "
                        "proxies trusted to name the client");
    if (cfg_check_ranges(ctx, at, "from", &r->from, true) < 0)
        return -1;
    return check_header(ctx, config_setting_get_member(group, "header"), r->header);
}

static const struct cfg_key real_ip_keys[] = {
    { .name = "from", .type = CT_STRINGS, .offset = CFG_AT(cfg_real_ip, from) },
    { .name = "header", .type = CT_STRING, .offset = CFG_AT(cfg_real_ip, header),
      .def = "X-Forwarded-For" },
    { .name = "recursive", .type = CT_BOOL, .offset = CFG_AT(cfg_real_ip, recursive),
      .def = "false" },
};

const struct cfg_section http_realip_config = {
    "real_ip", sizeof(struct cfg_real_ip), real_ip_keys, CFG_NKEYS(real_ip_keys),
    validate_real_ip,
};

/* ------------------------------------------------------------------ */
/* The rule */

struct http_realip *http_realip_new(const struct cfg_real_ip *conf)
{
    struct http_realip *r = calloc(1, sizeof *r + conf->from.n * sizeof r->from[0]);
    if (r == NULL || (r->header = strdup(conf->header)) == NULL)
        goto oom;
    for (char *p = r->header; *p; p++)
        *p = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p;
    r->list = strcmp(r->header, "x-forwarded-for") == 0;
    r->recursive = conf->recursive;
    for (size_t i = 0; i < conf->from.n; i++) {
        if (strcmp(conf->from.v[i], UNIX_FROM) == 0) {
            r->unix_trusted = true;
            continue;
        }
        if (cidr_parse(conf->from.v[i], &r->from[r->n_from++]) < 0) {
            http_realip_free(r);
            errno = EINVAL;
            return NULL;
        }
    }
    return r;
oom:
    http_realip_free(r);
    errno = ENOMEM;
    return NULL;
}

void http_realip_free(struct http_realip *r)
{
    if (r == NULL)
        return;
    free(r->header);
    free(r);
}

bool http_realip_trusted(const struct http_realip *r, const struct conn_peer *p)
{
    if (p->family == AF_UNIX)
        return r->unix_trusted;
    if (p->family != AF_INET && p->family != AF_INET6)
        return false;
    struct sockaddr_storage ss;
    conn_peer_to_sockaddr(p, &ss);
    for (size_t i = 0; i < r->n_from; i++)
        if (cidr_match(&r->from[i], (const struct sockaddr *)&ss))
            return true;
    return false;
}

/* ------------------------------------------------------------------ */
/* One address */

/* ":PORT" at s[0..n): 1 to 65535, no sign, no leading zero. */
static int parse_port(const char *s, size_t n, uint16_t *port)
{
    if (n < 2 || n > 6 || s[0] != ':' || s[1] == '0')
        return -1;
    unsigned v = 0;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *port = htons((uint16_t)v);
    return 0;
}

int http_realip_parse(const char *s, size_t n, struct conn_peer *out)
{
    char host[INET6_ADDRSTRLEN];
    const char *end = s + n, *h = s, *rest;
    memset(out, 0, sizeof *out);
    if (n > 0 && s[0] == '[') {                 /* [v6] or [v6]:port */
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return -1;
        h = s + 1;
        rest = close + 1;
        n = (size_t)(close - h);
        out->family = AF_INET6;
    } else {
        const char *colon = memchr(s, ':', n);
        /* One colon: v4:port; more: a bare v6 address, which has no port. */
        bool v6 = colon && memchr(colon + 1, ':', (size_t)(end - colon - 1));
        rest = colon && !v6 ? colon : end;
        n = (size_t)(rest - s);
        out->family = v6 ? AF_INET6 : AF_INET;
    }
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    if (inet_pton(out->family, host, out->addr) != 1)
        return -1;
    if (rest < end && parse_port(rest, (size_t)(end - rest), &out->port) < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The walk */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* The entry ending at v[end) of a list: its bounds, OWS trimmed; returns
 * where the entry began (its comma's position + 1, or 0). */
static size_t entry_before(const char *v, size_t end, size_t *a, size_t *b)
{
    size_t start = end;
    while (start > 0 && v[start - 1] != ',')
        start--;
    *a = start;
    *b = end;
    while (*a < *b && is_ows(v[*a]))
        (*a)++;
    while (*b > *a && is_ows(v[*b - 1]))
        (*b)--;
    return start;
}

/* X-Forwarded-For: fields h[0..n) named r->header, one list. */
static bool walk_list(const struct http_realip *r, const struct http_header *h, size_t n,
                      struct conn_peer *client)
{
    struct conn_peer last = *client, a;
    unsigned hops = 0;
    for (size_t i = n; i-- > 0;) {
        if (!http_name_is(&h[i], r->header))
            continue;
        const char *v = h[i].value;
        size_t end = h[i].value_len;
        for (;;) {
            size_t x, y, start = entry_before(v, end, &x, &y);
            if (x < y) {                /* an empty entry is no entry (RFC 9110 5.6.1) */
                if (http_realip_parse(v + x, y - x, &a) < 0)
                    goto done;          /* never a guess beyond it */
                last = a;
                if (!r->recursive || !http_realip_trusted(r, &a) || ++hops == HTTP_REALIP_MAX_HOPS)
                    goto done;
            }
            if (start == 0)
                break;
            end = start - 1;
        }
    }
done:
    if (memcmp(&last, client, sizeof last) == 0)
        return false;
    *client = last;
    return true;
}

/* Any other header: one field, one address. */
static bool take_single(const struct http_realip *r, const struct http_header *h, size_t n,
                        struct conn_peer *client)
{
    const struct http_header *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!http_name_is(&h[i], r->header))
            continue;
        if (found)
            return false;               /* two claims: believe neither */
        found = &h[i];
    }
    struct conn_peer a;
    if (found == NULL || http_realip_parse(found->value, found->value_len, &a) < 0)
        return false;
    *client = a;
    return true;
}

bool http_realip_resolve(const struct http_realip *r, const struct http_header *h, size_t n,
                         struct conn_peer *client)
{
    if (!http_realip_trusted(r, client))
        return false;
    return r->list ? walk_list(r, h, n, client) : take_single(r, h, n, client);
}

void http_realip_apply(const struct http_realip *r, struct http_req *req)
{
    const struct http_request *head = req->head;
    if (head != NULL)
        http_realip_resolve(r, head->headers, head->num_headers, &req->client);
}
