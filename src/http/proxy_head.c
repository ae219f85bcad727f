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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "http/path.h"

#define LIT(s) s, sizeof s - 1

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

/* The names the proxy treats apart. Each field of each proxied head is
 * classified once by its length and one compare, rather than compared
 * with every such name in turn (that was a tenth of a proxied request's
 * instructions, bench/instr proxy_ka). */
enum field_kind {
    F_OTHER,
    /* hop-by-hop by definition (RFC 9110 §7.6.1) */
    F_CONNECTION, F_KEEP_ALIVE, F_TE, F_TRAILER, F_TRANSFER_ENCODING, F_PROXY_CONNECTION,
    F_UPGRADE,          /* hop-by-hop unless tunnelling */
    F_HOST, F_CONTENT_LENGTH, F_EXPECT, F_XFF, F_XF_PROTO, F_XF_HOST, F_VIA, F_FORWARDED,
    F_SERVER, F_DATE,
};

/* n[0..len) is want (lower-case letters and '-') in any case: each byte
 * is want's, or differs from a letter of want by the case bit only. */
static bool name_eq(const char *n, const char *want, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned char)n[i] ^ (unsigned char)want[i];
        if (d != 0 && (d != 0x20 || want[i] < 'a'))
            return false;
    }
    return true;
}

/* One of two names of the same length, told apart by their first letter. */
static enum field_kind either(const char *n, size_t len, const char *a, enum field_kind ka,
                              const char *b, enum field_kind kb)
{
    if (lower(n[0]) == a[0])
        return name_eq(n, a, len) ? ka : F_OTHER;
    return name_eq(n, b, len) ? kb : F_OTHER;
}

static enum field_kind kind_of(const char *n, size_t len)
{
    switch (len) {
    case 2:
        return name_eq(n, "te", 2) ? F_TE : F_OTHER;
    case 3:
        return name_eq(n, "via", 3) ? F_VIA : F_OTHER;
    case 4:
        return either(n, 4, "host", F_HOST, "date", F_DATE);
    case 6:
        return either(n, 6, "server", F_SERVER, "expect", F_EXPECT);
    case 7:
        return either(n, 7, "trailer", F_TRAILER, "upgrade", F_UPGRADE);
    case 9:
        return name_eq(n, "forwarded", 9) ? F_FORWARDED : F_OTHER;
    case 10:
        return either(n, 10, "connection", F_CONNECTION, "keep-alive", F_KEEP_ALIVE);
    case 14:
        return name_eq(n, "content-length", 14) ? F_CONTENT_LENGTH : F_OTHER;
    case 15:
        return name_eq(n, "x-forwarded-for", 15) ? F_XFF : F_OTHER;
    case 16:
        return either(n, 16, "proxy-connection", F_PROXY_CONNECTION,
                      "x-forwarded-host", F_XF_HOST);
    case 17:
        return either(n, 17, "transfer-encoding", F_TRANSFER_ENCODING,
                      "x-forwarded-proto", F_XF_PROTO);
    default:
        return F_OTHER;
    }
}

static enum field_kind kind(const struct http_header *h)
{
    return kind_of(h->name, h->name_len);
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

/* A head's fields classified once: the kinds of the first KINDS_KEPT
 * (beyond them, classified again where needed), each with whether a
 * Connection list names it (found once per head, not once per field),
 * and which kinds the head has at all (a Connection field; fields herd
 * appends to). */
enum { KINDS_KEPT = 64, KIND_MASK = 0x7f, KIND_NAMED = 0x80 };
struct kinds {
    const struct http_header *fields;
    size_t n;
    uint32_t seen;                  /* 1 << kind, for each kind present */
    uint8_t k[KINDS_KEPT];          /* kind | KIND_NAMED */
};

_Static_assert(F_DATE < 32, "a kind is a bit of kinds.seen");

static enum field_kind kind_at(const struct kinds *ks, size_t i)
{
    return i < KINDS_KEPT ? (enum field_kind)(ks->k[i] & KIND_MASK) : kind(&ks->fields[i]);
}

/* Mark the kept fields that a Connection field's list names. */
static void mark_named(struct kinds *ks)
{
    size_t kept = ks->n < KINDS_KEPT ? ks->n : KINDS_KEPT;
    for (size_t c = 0; c < ks->n; c++) {
        if (kind_at(ks, c) != F_CONNECTION)
            continue;
        const char *p = ks->fields[c].value, *end = p + ks->fields[c].value_len, *tok;
        size_t len;
        while (http_list_next(&p, end, &tok, &len))
            for (size_t i = 0; i < kept; i++)
                if (same_name(ks->fields[i].name, ks->fields[i].name_len, tok, len))
                    ks->k[i] |= KIND_NAMED;
    }
}

static void kinds_init(struct kinds *ks, const struct http_header *fields, size_t n)
{
    ks->fields = fields;
    ks->n = n;
    ks->seen = 0;
    for (size_t i = 0; i < n; i++) {
        enum field_kind k = kind(&fields[i]);
        if (i < KINDS_KEPT)
            ks->k[i] = (uint8_t)k;
        ks->seen |= 1u << k;
    }
    if (ks->seen & (1u << F_CONNECTION))
        mark_named(ks);
}

static bool kinds_has(const struct kinds *ks, enum field_kind k)
{
    return (ks->seen & (1u << k)) != 0;
}

/* Whether the field i of the head ks is hop-by-hop: by definition or
 * because a Connection field names it. keep_upgrade: a tunnel's Upgrade
 * goes on although Connection names it. */
static bool hop_by_hop(const struct kinds *ks, size_t i, bool keep_upgrade)
{
    enum field_kind k = kind_at(ks, i);
    if (k == F_UPGRADE)
        return !keep_upgrade;
    if (k >= F_CONNECTION && k <= F_PROXY_CONNECTION)
        return true;
    if (!kinds_has(ks, F_CONNECTION))
        return false;
    if (i < KINDS_KEPT)
        return (ks->k[i] & KIND_NAMED) != 0;
    const struct http_header *h = &ks->fields[i];
    return field_lists(ks->fields, ks->n, "connection", h->name, h->name_len);
}

/* ------------------------------------------------------------------ */
/* The request head */

struct sink {
    char *out;
    size_t cap;
    size_t len;         /* the whole length, written or not */
    struct kinds ks;    /* the client's fields */
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

/* Whether a configured field sets (replaces) the field named lower_name. */
static bool set_by_config(const struct http_proxy_request *r, const char *lower_name)
{
    for (size_t i = 0; i < r->n_fields; i++)
        if (r->fields[i].set && same_name(r->fields[i].name, r->fields[i].name_len, lower_name,
                                          strlen(lower_name)))
            return true;
    return false;
}

/* The client's field i survives hop-by-hop removal. */
static bool client_field_kept(const struct sink *k, const struct http_proxy_request *r, size_t i)
{
    return !hop_by_hop(&k->ks, i, r->upgrade);
}

/* Fields herd writes itself, or drops: the client's are not passed as
 * they are. */
static bool written_by_herd(const struct http_proxy_request *r, const struct http_header *h,
                            enum field_kind kd)
{
    if ((kd >= F_HOST && kd <= F_VIA) || (r->forwarded && kd == F_FORWARDED))
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
                          const char *lower_name, enum field_kind want, const char *name,
                          void (*own)(struct sink *, const struct http_proxy_request *))
{
    if (set_by_config(r, lower_name))
        return;
    emit(k, name, strlen(name));
    emit(k, LIT(": "));
    const struct http_request *head = r->head;
    for (size_t i = 0; kinds_has(&k->ks, want) && i < head->num_headers; i++) {
        const struct http_header *h = &head->headers[i];
        if (h->value_len == 0 || kind_at(&k->ks, i) != want || !client_field_kept(k, r, i))
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
        if (written_by_herd(r, h, kind_at(&k->ks, i)) || !client_field_kept(k, r, i))
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
    emit_appended(k, r, "x-forwarded-for", F_XFF, "X-Forwarded-For", own_xff);
    if (r->https)
        emit_own(k, r, "x-forwarded-proto", LIT("X-Forwarded-Proto: "), LIT("https"));
    else
        emit_own(k, r, "x-forwarded-proto", LIT("X-Forwarded-Proto: "), LIT("http"));
    if (f->host != NULL && f->host_len > 0)
        emit_own(k, r, "x-forwarded-host", LIT("X-Forwarded-Host: "), f->host, f->host_len);
    emit_appended(k, r, "via", F_VIA, "Via", own_via);
    if (r->forwarded)
        emit_appended(k, r, "forwarded", F_FORWARDED, "Forwarded", own_forwarded);
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
    kinds_init(&k.ks, r->head->headers, r->head->num_headers);

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
    struct kinds ks;
    kinds_init(&ks, resp->headers, resp->num_headers);
    for (size_t i = 0; i < resp->num_headers; i++) {
        enum field_kind kd = kind_at(&ks, i);
        if (kd == F_CONTENT_LENGTH || kd == F_SERVER || kd == F_DATE || hop_by_hop(&ks, i, tunnel))
            continue;
        out[n++] = resp->headers[i];
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

size_t http_proxy_addr_text(int family, const unsigned char *addr, char *out, size_t cap)
{
    if (family == AF_INET6)
        return inet_ntop(AF_INET6, addr, out, (socklen_t)cap) ? strlen(out) : 0;
    if (family != AF_INET || cap < INET_ADDRSTRLEN)
        return 0;
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        unsigned v = addr[i];
        if (v >= 100)
            out[n++] = (char)('0' + v / 100);
        if (v >= 10)
            out[n++] = (char)('0' + v / 10 % 10);
        out[n++] = (char)('0' + v % 10);
        out[n++] = '.';
    }
    out[--n] = '\0';
    return n;
}
