/* Request and response heads rewritten by the reverse proxy.
 *
 * The request head is written by one pass that both measures and writes
 * (struct sink, snprintf-like), so the length and the bytes cannot
 * disagree. Which client field goes on is decided per field against the
 * whole head (the Connection fields may come after the fields they name);
 * heads are bounded by max_headers, so the quadratic walk stays small.
 *
 * Tested by tests/unit/check_http_proxy_head.c. */
#include "http/proxy_head.h"

#include <string.h>

#include "http/path.h"

#define LIT(s) s, sizeof s - 1

struct sink {
    char *out;
    size_t cap;
    size_t len;         /* the whole length, written or not */
};

static void emit(struct sink *k, const char *s, size_t n)
{
    if (k->len < k->cap) {
        size_t room = k->cap - k->len;
        memcpy(k->out + k->len, s, n < room ? n : room);
    }
    k->len += n;
}

static void emit_u64(struct sink *k, uint64_t v)
{
    char digits[20];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    emit(k, digits + i, sizeof digits - i);
}

/* ------------------------------------------------------------------ */
/* Names */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

static bool same_name(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return false;
    for (size_t i = 0; i < an; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

/* Hop-by-hop by definition (RFC 9110 §7.6.1), Upgrade apart. */
static bool hop_by_hop_name(const struct http_header *h)
{
    static const char *const names[] = {
        "connection", "keep-alive", "te", "trailer", "transfer-encoding", "proxy-connection",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (http_name_is(h, names[i]))
            return true;
    return false;
}

/* Whether a field named lower_name among fields[0..n) lists the token
 * want[0..want_len) (case-insensitive). */
static bool field_lists(const struct http_header *fields, size_t n, const char *lower_name,
                        const char *want, size_t want_len)
{
    for (size_t i = 0; i < n; i++) {
        if (!http_name_is(&fields[i], lower_name))
            continue;
        const char *p = fields[i].value, *end = p + fields[i].value_len, *tok;
        size_t len;
        while (http_list_next(&p, end, &tok, &len))
            if (same_name(tok, len, want, want_len))
                return true;
    }
    return false;
}

/* Whether h is hop-by-hop in the head fields[0..n): by definition or
 * because a Connection field names it. keep_upgrade: a tunnel's Upgrade
 * goes on although Connection names it. */
static bool hop_by_hop(const struct http_header *fields, size_t n, const struct http_header *h,
                       bool keep_upgrade)
{
    if (http_name_is(h, "upgrade"))
        return !keep_upgrade;
    return hop_by_hop_name(h) || field_lists(fields, n, "connection", h->name, h->name_len);
}

/* ------------------------------------------------------------------ */
/* The request head */

/* Whether a configured field sets (replaces) the field named lower_name. */
static bool set_by_config(const struct http_proxy_request *r, const char *lower_name)
{
    for (size_t i = 0; i < r->n_fields; i++)
        if (r->fields[i].set && same_name(r->fields[i].name, r->fields[i].name_len, lower_name,
                                          strlen(lower_name)))
            return true;
    return false;
}

/* The client's field h survives hop-by-hop removal. */
static bool client_field_kept(const struct http_proxy_request *r, const struct http_header *h)
{
    const struct http_request *head = r->head;
    return !hop_by_hop(head->headers, head->num_headers, h, r->upgrade);
}

/* Fields herd writes itself, or drops: the client's are not passed as
 * they are. */
static bool written_by_herd(const struct http_proxy_request *r, const struct http_header *h)
{
    static const char *const names[] = {
        "host", "content-length", "expect", "x-forwarded-for", "x-forwarded-proto",
        "x-forwarded-host", "via",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (http_name_is(h, names[i]))
            return true;
    if (r->forwarded && http_name_is(h, "forwarded"))
        return true;
    for (size_t i = 0; i < r->n_fields; i++)
        if (r->fields[i].set &&
            same_name(r->fields[i].name, r->fields[i].name_len, h->name, h->name_len))
            return true;
    return false;
}

static void emit_target(struct sink *k, const struct http_proxy_request *r)
{
    if (r->target) {
        emit(k, r->target, r->target_len);
        return;
    }
    const char *t = r->head->target, *auth;
    size_t n = r->head->target_len, auth_len;
    /* Absolute-form: what follows the authority, "/" when that is empty or
     * only a query (RFC 9112 §3.2.1). */
    if (n > 0 && t[0] != '/' && http_target_authority(t, n, &auth, &auth_len)) {
        const char *rest = auth + auth_len;
        n -= (size_t)(rest - t);
        t = rest;
        if (n == 0 || t[0] != '/')
            emit(k, LIT("/"));
    }
    const char *hash = memchr(t, '#', n);
    emit(k, t, hash ? (size_t)(hash - t) : n);
}

static bool is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_tchar(s[i]))
            return false;
    return n > 0;
}

/* An IPv6 address (hex digits, colons, dots of a mapped IPv4). */
static bool is_ipv6(const char *s, size_t n)
{
    bool colon = false;
    for (size_t i = 0; i < n; i++) {
        char c = lower(s[i]);
        if (c == ':')
            colon = true;
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.'))
            return false;
    }
    return colon;
}

/* An RFC 7239 value: a token as it is, anything else a quoted-string,
 * an IPv6 node in brackets (§6). */
static void emit_forwarded_value(struct sink *k, const char *s, size_t n, bool node)
{
    bool brackets = node && is_ipv6(s, n);
    if (!brackets && is_token(s, n)) {
        emit(k, s, n);
        return;
    }
    emit(k, LIT("\""));
    if (brackets)
        emit(k, LIT("["));
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            emit(k, LIT("\\"));
        emit(k, s + i, 1);
    }
    if (brackets)
        emit(k, LIT("]"));
    emit(k, LIT("\""));
}

static void emit_peer(struct sink *k, const struct http_proxy_request *r)
{
    if (r->peer_len > 0)
        emit(k, r->peer, r->peer_len);
    else
        emit(k, LIT("unknown"));
}

static void own_xff(struct sink *k, const struct http_proxy_request *r)
{
    emit_peer(k, r);
}

static void own_via(struct sink *k, const struct http_proxy_request *r)
{
    (void)r;
    emit(k, LIT("1.1 herd"));
}

static void own_forwarded(struct sink *k, const struct http_proxy_request *r)
{
    emit(k, LIT("for="));
    if (r->peer_len > 0)
        emit_forwarded_value(k, r->peer, r->peer_len, true);
    else
        emit(k, LIT("unknown"));
    if (r->https)
        emit(k, LIT(";proto=https"));
    else
        emit(k, LIT(";proto=http"));
    if (r->f->host != NULL && r->f->host_len > 0) {
        emit(k, LIT(";host="));
        emit_forwarded_value(k, r->f->host, r->f->host_len, false);
    }
}

/* "Name: " the client's surviving values of lower_name, then herd's own,
 * as one list; nothing when a configured field sets the name. */
static void emit_appended(struct sink *k, const struct http_proxy_request *r,
                          const char *lower_name, const char *name,
                          void (*own)(struct sink *, const struct http_proxy_request *))
{
    if (set_by_config(r, lower_name))
        return;
    emit(k, name, strlen(name));
    emit(k, LIT(": "));
    const struct http_request *head = r->head;
    for (size_t i = 0; i < head->num_headers; i++) {
        const struct http_header *h = &head->headers[i];
        if (h->value_len == 0 || !http_name_is(h, lower_name) || !client_field_kept(r, h))
            continue;
        emit(k, h->value, h->value_len);
        emit(k, LIT(", "));
    }
    own(k, r);
    emit(k, LIT("\r\n"));
}

/* "Name: value" unless a configured field sets the name. */
static void emit_own(struct sink *k, const struct http_proxy_request *r, const char *lower_name,
                     const char *line, size_t line_len, const char *v, size_t vn)
{
    if (set_by_config(r, lower_name))
        return;
    emit(k, line, line_len);
    emit(k, v, vn);
    emit(k, LIT("\r\n"));
}

static void emit_client_fields(struct sink *k, const struct http_proxy_request *r)
{
    const struct http_request *head = r->head;
    for (size_t i = 0; i < head->num_headers; i++) {
        const struct http_header *h = &head->headers[i];
        if (written_by_herd(r, h) || !client_field_kept(r, h))
            continue;
        emit(k, h->name, h->name_len);
        emit(k, LIT(": "));
        emit(k, h->value, h->value_len);
        emit(k, LIT("\r\n"));
    }
}

static void emit_forwarding(struct sink *k, const struct http_proxy_request *r)
{
    const struct http_framing *f = r->f;
    emit_appended(k, r, "x-forwarded-for", "X-Forwarded-For", own_xff);
    if (r->https)
        emit_own(k, r, "x-forwarded-proto", LIT("X-Forwarded-Proto: "), LIT("https"));
    else
        emit_own(k, r, "x-forwarded-proto", LIT("X-Forwarded-Proto: "), LIT("http"));
    if (f->host != NULL && f->host_len > 0)
        emit_own(k, r, "x-forwarded-host", LIT("X-Forwarded-Host: "), f->host, f->host_len);
    emit_appended(k, r, "via", "Via", own_via);
    if (r->forwarded)
        emit_appended(k, r, "forwarded", "Forwarded", own_forwarded);
}

static void emit_framing(struct sink *k, const struct http_proxy_request *r)
{
    if (r->f->chunked) {
        emit(k, LIT("Transfer-Encoding: chunked\r\n"));
    } else if (r->f->has_length) {
        emit(k, LIT("Content-Length: "));
        emit_u64(k, r->f->content_length);
        emit(k, LIT("\r\n"));
    }
    if (r->upgrade)
        emit(k, LIT("Connection: upgrade\r\n"));
    else if (r->close)
        emit(k, LIT("Connection: close\r\n"));
}

static void emit_configured(struct sink *k, const struct http_proxy_request *r)
{
    for (size_t i = 0; i < r->n_fields; i++) {
        const struct http_proxy_field *c = &r->fields[i];
        if (c->set && c->value_len == 0)
            continue;
        emit(k, c->name, c->name_len);
        emit(k, LIT(": "));
        emit(k, c->value, c->value_len);
        emit(k, LIT("\r\n"));
    }
}

size_t http_proxy_request_head(char *out, size_t cap, const struct http_proxy_request *r)
{
    struct sink k = { .out = out, .cap = cap };
    const struct http_framing *f = r->f;

    emit(&k, r->head->method, r->head->method_len);
    emit(&k, LIT(" "));
    emit_target(&k, r);
    emit(&k, LIT(" HTTP/1.1\r\n"));
    if (r->host)
        emit_own(&k, r, "host", LIT("Host: "), r->host, r->host_len);
    else
        emit_own(&k, r, "host", LIT("Host: "), f->host ? f->host : "", f->host ? f->host_len : 0);
    emit_client_fields(&k, r);
    emit_forwarding(&k, r);
    emit_framing(&k, r);
    emit_configured(&k, r);
    emit(&k, LIT("\r\n"));
    return k.len;
}

/* ------------------------------------------------------------------ */
/* The response's fields */

size_t http_proxy_response_fields(const struct http_response *resp, bool tunnel,
                                  struct http_header *out)
{
    size_t n = 0;
    for (size_t i = 0; i < resp->num_headers; i++) {
        const struct http_header *h = &resp->headers[i];
        if (hop_by_hop(resp->headers, resp->num_headers, h, tunnel) ||
            http_name_is(h, "content-length") || http_name_is(h, "server") ||
            http_name_is(h, "date"))
            continue;
        out[n++] = *h;
    }
    return n;
}

bool http_proxy_is_websocket(const struct http_request *head)
{
    const struct http_header *h = head->headers;
    size_t n = head->num_headers;
    return head->minor_version >= 1 && head->method_len == 3 &&
           memcmp(head->method, "GET", 3) == 0 &&
           field_lists(h, n, "upgrade", LIT("websocket")) &&
           field_lists(h, n, "connection", LIT("upgrade"));
}
