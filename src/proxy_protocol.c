/* The PROXY protocol's header, read and written (proxy_protocol.h).
 *
 * v1 is parsed as a line of fields, each ended by its separator. Once the
 * line's LF has arrived a missing field is an error; before, a field still
 * being received is checked as far as it goes (its characters, its length)
 * and the answer is "partial". So a prefix of a valid header is always
 * partial, and most garbage is an error at its first wrong byte rather
 * than after 107 bytes or the timeout. v2 is checked field by field as its
 * bytes arrive, for the same reason. */
#include "proxy_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN (sizeof v1_sig - 1)

static const uint8_t v2_sig[12] = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
};

/* v2: the command (low nibble of byte 12) and the family (byte 13). */
enum { V2_LOCAL = 0x0, V2_PROXY = 0x1 };
enum { V2_UNSPEC = 0x00, V2_TCP4 = 0x11, V2_TCP6 = 0x21, V2_UNIX_STREAM = 0x31 };
/* Address block lengths: two addresses and two ports. */
#define V2_ADDR4_LEN 12
#define V2_ADDR6_LEN 36
#define V2_UNIX_LEN 216
/* A TLV: type (1) and length (2, network order), then the value. */
#define V2_TLV_HEAD 3

static enum proxy_protocol_rc fail(const char **why, const char *reason)
{
    *why = reason;
    return PROXY_PROTOCOL_ERROR;
}

static void set_addr(struct sockaddr_storage *ss, int family, const uint8_t *addr,
                     uint16_t port_be)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
        v4->sin_family = AF_INET;
        v4->sin_port = port_be;
        memcpy(&v4->sin_addr, addr, 4);
    } else {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = port_be;
        memcpy(&v6->sin6_addr, addr, 16);
    }
}

/* ------------------------------------------------------------------ */
/* v1 */

enum v1_kind { V1_ADDR4, V1_ADDR6, V1_PORT };

static const struct {
    const char *chars;
    size_t max;
} v1_rules[] = {
    [V1_ADDR4] = { "0123456789.", 15 },
    /* 45: the longest text inet_pton takes ("ffff:...:255.255.255.255"). */
    [V1_ADDR6] = { "0123456789abcdefABCDEF:.", 45 },
    [V1_PORT] = { "0123456789", 5 },
};

/* What is left to parse: the line up to its LF when `whole`, else the
 * bytes received so far. */
struct v1_line {
    const char *p, *end;
    bool whole;
};

/* The next field, ended by `stop` (which is skipped). 1: *tok, *n hold it;
 * 0: not all there yet; -1: malformed. */
static int v1_field(struct v1_line *l, enum v1_kind kind, char stop, const char **tok,
                    size_t *n)
{
    size_t i = 0;
    for (; l->p + i < l->end && l->p[i] != stop; i++) {
        char ch = l->p[i];
        if (i == v1_rules[kind].max || ch == '\0' || strchr(v1_rules[kind].chars, ch) == NULL)
            return -1;
    }
    if (l->p + i == l->end)
        return l->whole ? -1 : 0;
    if (i == 0)
        return -1;
    *tok = l->p;
    *n = i;
    l->p += i + 1;
    return 1;
}

/* Dotted quad, strictly: four numbers 0-255 without leading zeros. */
static bool v1_addr4(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0 && (i == n || s[i++] != '.'))
            return false;
        size_t start = i;
        unsigned v = 0;
        while (i < n && i - start < 3 && s[i] >= '0' && s[i] <= '9')
            v = v * 10 + (unsigned)(s[i++] - '0');
        size_t digits = i - start;
        if (digits == 0 || v > 255 || (digits > 1 && s[start] == '0'))
            return false;
        out[part] = (uint8_t)v;
    }
    return i == n;
}

static bool v1_addr(int family, const char *s, size_t n, uint8_t out[16])
{
    if (family == AF_INET)
        return v1_addr4(s, n, out);
    char text[64];
    if (n >= sizeof text)
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    return inet_pton(AF_INET6, text, out) == 1;
}

/* 0-65535, digits only, no leading zero (but "0" itself). */
static bool v1_port(const char *s, size_t n, uint16_t *port_be)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *port_be = htons((uint16_t)v);
    return true;
}

/* "TCP4 ", "TCP6 " or "UNKNOWN": 1 with *family (AF_UNSPEC for UNKNOWN),
 * 0 partial, -1 malformed. */
static int v1_protocol(struct v1_line *l, int *family)
{
    static const struct {
        const char *text;
        int family;
    } protocols[] = { { "TCP4 ", AF_INET }, { "TCP6 ", AF_INET6 }, { "UNKNOWN", AF_UNSPEC } };
    size_t have = (size_t)(l->end - l->p);
    for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        size_t n = strlen(protocols[i].text);
        if (memcmp(l->p, protocols[i].text, have < n ? have : n) != 0)
            continue;
        if (have < n)
            return l->whole ? -1 : 0;
        l->p += n;
        *family = protocols[i].family;
        return 1;
    }
    return -1;
}

/* After "UNKNOWN": the end of the line, or a space and anything up to it
 * (the specification lets a sender say more; it is ignored). */
static enum proxy_protocol_rc v1_unknown(const struct v1_line *l, const char **why)
{
    const char *bad = "v1: junk after UNKNOWN";
    if (l->p == l->end)
        return l->whole ? fail(why, "v1: the line ends without CRLF") : PROXY_PROTOCOL_PARTIAL;
    if (l->p[0] == '\r') {
        if (l->p + 1 < l->end)
            return fail(why, "v1: CR not followed by LF");
        return PROXY_PROTOCOL_PARTIAL;     /* whole: l->end is the LF, checked by the caller */
    }
    if (l->p[0] != ' ')
        return fail(why, bad);
    if (l->whole && l->end[-1] != '\r')
        return fail(why, "v1: the line ends without CRLF");
    return PROXY_PROTOCOL_PARTIAL;
}

static int v1_fields_rc(int rc, const char **why, const char *reason)
{
    if (rc < 0)
        *why = reason;
    return rc;
}

/* The four fields of TCP4/TCP6. 1 complete, 0 partial, -1 (with *why). */
static int v1_addresses(struct v1_line *l, int family, struct proxy_protocol_header *out,
                        const char **why)
{
    enum v1_kind ak = family == AF_INET ? V1_ADDR4 : V1_ADDR6;
    const char *tok;
    size_t n;
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    int rc;
    if ((rc = v1_field(l, ak, ' ', &tok, &n)) <= 0)
        return v1_fields_rc(rc, why, "v1: bad source address");
    if (!v1_addr(family, tok, n, src))
        return v1_fields_rc(-1, why, "v1: bad source address");
    if ((rc = v1_field(l, ak, ' ', &tok, &n)) <= 0)
        return v1_fields_rc(rc, why, "v1: bad destination address");
    if (!v1_addr(family, tok, n, dst))
        return v1_fields_rc(-1, why, "v1: bad destination address");
    if ((rc = v1_field(l, V1_PORT, ' ', &tok, &n)) <= 0 || !v1_port(tok, n, &sport))
        return v1_fields_rc(rc <= 0 ? rc : -1, why, "v1: bad source port");
    if ((rc = v1_field(l, V1_PORT, '\r', &tok, &n)) <= 0 || !v1_port(tok, n, &dport))
        return v1_fields_rc(rc <= 0 ? rc : -1, why, "v1: bad destination port");
    if (l->p != l->end)
        return v1_fields_rc(-1, why, "v1: CR not followed by LF");
    set_addr(&out->src, family, src, sport);
    set_addr(&out->dst, family, dst, dport);
    return 1;
}

static enum proxy_protocol_rc parse_v1(const char *b, size_t len,
                                       struct proxy_protocol_header *out, const char **why)
{
    size_t scan = len < PROXY_PROTOCOL_V1_MAX ? len : PROXY_PROTOCOL_V1_MAX;
    const char *lf = memchr(b, '\n', scan);
    if (lf == NULL && len >= PROXY_PROTOCOL_V1_MAX)
        return fail(why, "v1: no CRLF within 107 bytes");
    struct v1_line l = { b + V1_SIG_LEN, lf ? lf : b + len, lf != NULL };
    int family;
    int rc = v1_protocol(&l, &family);
    if (rc < 0)
        return fail(why, "v1: the protocol is not TCP4, TCP6 or UNKNOWN");
    if (rc == 0)
        return PROXY_PROTOCOL_PARTIAL;
    if (family == AF_UNSPEC) {
        enum proxy_protocol_rc r = v1_unknown(&l, why);
        if (r != PROXY_PROTOCOL_PARTIAL || !l.whole)
            return r;
        memset(out, 0, sizeof *out);
        out->keep_peer = true;
    } else {
        memset(out, 0, sizeof *out);
        rc = v1_addresses(&l, family, out, why);
        if (rc <= 0)
            return rc < 0 ? PROXY_PROTOCOL_ERROR : PROXY_PROTOCOL_PARTIAL;
        if (!l.whole)
            return PROXY_PROTOCOL_PARTIAL;
    }
    out->version = 1;
    out->len = (size_t)(lf - b) + 1;
    return PROXY_PROTOCOL_COMPLETE;
}

/* ------------------------------------------------------------------ */
/* v2 */

/* The TLVs in b[0, n): each must end inside. They are skipped. */
static bool v2_tlvs_fit(const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i < V2_TLV_HEAD)
            return false;
        size_t vlen = (size_t)b[i + 1] << 8 | b[i + 2];
        if (vlen > n - i - V2_TLV_HEAD)
            return false;
        i += V2_TLV_HEAD + vlen;
    }
    return true;
}

/* The address block's length for byte 13 of a PROXY command; -1 when the
 * family or transport is not one herd takes. */
static int v2_addr_len(uint8_t fam, const char **why)
{
    switch (fam) {
    case V2_UNSPEC:
        return 0;
    case V2_TCP4:
        return V2_ADDR4_LEN;
    case V2_TCP6:
        return V2_ADDR6_LEN;
    case V2_UNIX_STREAM:
        return V2_UNIX_LEN;
    default:
        break;
    }
    if ((fam >> 4) > 3)
        *why = "v2: unknown address family";
    else if ((fam >> 4) == 0)
        *why = "v2: UNSPEC family with a transport";
    else if ((fam & 0x0f) == 0x02)
        *why = "v2: a datagram (DGRAM) header on a stream";
    else
        *why = "v2: the transport is not STREAM";
    return -1;
}

static enum proxy_protocol_rc parse_v2(const uint8_t *b, size_t len,
                                       struct proxy_protocol_header *out, const char **why)
{
    if (len > 12 && (b[12] >> 4) != 2)
        return fail(why, "v2: version is not 2");
    if (len > 12 && (b[12] & 0x0f) != V2_LOCAL && (b[12] & 0x0f) != V2_PROXY)
        return fail(why, "v2: command is neither LOCAL nor PROXY");
    bool local = len > 12 && (b[12] & 0x0f) == V2_LOCAL;
    int addr_len = 0;
    /* LOCAL: the family and the block are ignored, as the specification says. */
    if (len > 13 && !local && (addr_len = v2_addr_len(b[13], why)) < 0)
        return PROXY_PROTOCOL_ERROR;
    if (len < PROXY_PROTOCOL_V2_FIXED)
        return PROXY_PROTOCOL_PARTIAL;
    size_t block = (size_t)b[14] << 8 | b[15];
    if (block < (size_t)addr_len)
        return fail(why, "v2: length too short for the addresses");
    if (len - PROXY_PROTOCOL_V2_FIXED < block)
        return PROXY_PROTOCOL_PARTIAL;
    const uint8_t *a = b + PROXY_PROTOCOL_V2_FIXED;
    bool addresses = !local && b[13] != V2_UNSPEC;
    if (addresses && !v2_tlvs_fit(a + addr_len, block - (size_t)addr_len))
        return fail(why, "v2: a TLV runs past the header");
    memset(out, 0, sizeof *out);
    out->version = 2;
    out->len = PROXY_PROTOCOL_V2_FIXED + block;
    out->keep_peer = !addresses || b[13] == V2_UNIX_STREAM;
    if (out->keep_peer)
        return PROXY_PROTOCOL_COMPLETE;
    int family = b[13] == V2_TCP4 ? AF_INET : AF_INET6;
    size_t alen = family == AF_INET ? 4 : 16;
    uint16_t sport, dport;
    memcpy(&sport, a + 2 * alen, 2);
    memcpy(&dport, a + 2 * alen + 2, 2);
    set_addr(&out->src, family, a, sport);
    set_addr(&out->dst, family, a + alen, dport);
    return PROXY_PROTOCOL_COMPLETE;
}

/* ------------------------------------------------------------------ */

enum proxy_protocol_rc proxy_protocol_parse(const void *buf, size_t len,
                                            struct proxy_protocol_header *out,
                                            const char **why)
{
    const uint8_t *b = buf;
    *why = NULL;
    if (len == 0)
        return PROXY_PROTOCOL_PARTIAL;
    if (b[0] == (uint8_t)v1_sig[0]) {
        if (memcmp(b, v1_sig, len < V1_SIG_LEN ? len : V1_SIG_LEN) != 0)
            return fail(why, "not a PROXY protocol header");
        return len <= V1_SIG_LEN ? PROXY_PROTOCOL_PARTIAL : parse_v1(buf, len, out, why);
    }
    if (memcmp(b, v2_sig, len < sizeof v2_sig ? len : sizeof v2_sig) != 0)
        return fail(why, "not a PROXY protocol header");
    return len <= sizeof v2_sig ? PROXY_PROTOCOL_PARTIAL : parse_v2(b, len, out, why);
}

/* ------------------------------------------------------------------ */
/* Building */

/* The family both addresses share, when the protocol can carry it. */
static int common_family(const struct sockaddr *src, const struct sockaddr *dst)
{
    if (src == NULL || dst == NULL || src->sa_family != dst->sa_family)
        return AF_UNSPEC;
    return src->sa_family == AF_INET || src->sa_family == AF_INET6 ? src->sa_family : AF_UNSPEC;
}

static const void *addr_of(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                                    : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
}

static uint16_t port_of(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                    : ((const struct sockaddr_in6 *)sa)->sin6_port;
}

size_t proxy_protocol_build_v1(const struct sockaddr *src, const struct sockaddr *dst, void *out,
                               size_t cap)
{
    char line[PROXY_PROTOCOL_BUILD_MAX + 1];
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    int family = common_family(src, dst), n;
    if (family == AF_UNSPEC) {
        n = snprintf(line, sizeof line, "PROXY UNKNOWN\r\n");
    } else {
        if (inet_ntop(family, addr_of(src), s, sizeof s) == NULL ||
            inet_ntop(family, addr_of(dst), d, sizeof d) == NULL)
            return 0;
        n = snprintf(line, sizeof line, "PROXY %s %s %s %u %u\r\n",
                     family == AF_INET ? "TCP4" : "TCP6", s, d, (unsigned)ntohs(port_of(src)),
                     (unsigned)ntohs(port_of(dst)));
    }
    if (n < 0 || (size_t)n > PROXY_PROTOCOL_V1_MAX || (size_t)n > cap)
        return 0;
    memcpy(out, line, (size_t)n);
    return (size_t)n;
}

size_t proxy_protocol_build_v2(const struct sockaddr *src, const struct sockaddr *dst, void *out,
                               size_t cap)
{
    uint8_t h[PROXY_PROTOCOL_V2_FIXED + V2_ADDR6_LEN];
    int family = common_family(src, dst);
    size_t alen = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
    size_t block = alen ? 2 * alen + 4 : 0;
    memcpy(h, v2_sig, sizeof v2_sig);
    h[12] = (uint8_t)(0x20 | (src == NULL ? V2_LOCAL : V2_PROXY));
    h[13] = family == AF_INET ? V2_TCP4 : family == AF_INET6 ? V2_TCP6 : V2_UNSPEC;
    h[14] = (uint8_t)(block >> 8);
    h[15] = (uint8_t)block;
    if (alen) {
        uint16_t sport = port_of(src), dport = port_of(dst);
        memcpy(h + 16, addr_of(src), alen);
        memcpy(h + 16 + alen, addr_of(dst), alen);
        memcpy(h + 16 + 2 * alen, &sport, 2);
        memcpy(h + 16 + 2 * alen + 2, &dport, 2);
    }
    size_t n = PROXY_PROTOCOL_V2_FIXED + block;
    if (n > cap)
        return 0;
    memcpy(out, h, n);
    return n;
}
