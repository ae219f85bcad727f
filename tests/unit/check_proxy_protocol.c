/* The PROXY protocol header (src/proxy_protocol.c): the specification's
 * examples of both versions, every prefix of a valid header partial (never
 * an error), malformed headers refused with a reason (long lines, missing
 * CRLF, bad addresses and ports, addresses of the other family, v2 version,
 * command, family, transport, length and TLVs), and build-then-parse round
 * trips of both versions and both families. Every parse reads from an
 * exactly sized copy, so a sanitized build catches a read past the end. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "proxy_protocol.h"
#include "tap.h"

static enum proxy_protocol_rc parse(const void *p, size_t n, struct proxy_protocol_header *h,
                                    const char **why)
{
    void *copy = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, p, n);
    enum proxy_protocol_rc rc = proxy_protocol_parse(copy, n, h, why);
    free(copy);
    return rc;
}

static const char *addr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        port = ntohs(v4->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        port = ntohs(v6->sin6_port);
    }
    snprintf(out, cap, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
    return out;
}

/* Every strict prefix of a valid header is partial. */
static void every_prefix_partial(const void *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        struct proxy_protocol_header h;
        const char *why = NULL;
        ck_assert_msg(parse(p, k, &h, &why) == PROXY_PROTOCOL_PARTIAL,
                      "prefix of %zu bytes (of %zu): %s", k, n, why ? why : "complete");
    }
}

/* ------------------------------------------------------------------ */
/* v1 */

struct v1_row {
    const char *in;
    size_t len;                 /* of the header; 0: keep_peer expected too */
    bool keep;
    const char *src, *dst;      /* addr_text of the result */
};

#define MAXV6 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"

static const struct v1_row v1_good[] = {
    { "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", 0, false,
      "192.168.0.1:56324", "192.168.0.11:443" },
    /* The specification's worst cases. */
    { "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", 0, false,
      "255.255.255.255:65535", "255.255.255.255:65535" },
    { "PROXY TCP6 " MAXV6 " " MAXV6 " 65535 65535\r\n", 0, false,
      "[" MAXV6 "]:65535", "[" MAXV6 "]:65535" },
    { "PROXY UNKNOWN\r\n", 0, true, NULL, NULL },
    { "PROXY UNKNOWN " MAXV6 " " MAXV6 " 65535 65535\r\n", 0, true, NULL, NULL },
    { "PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n", 0, false, "0.0.0.0:0", "10.0.0.1:0" },
    { "PROXY TCP6 ::1 2001:db8::7 1 80\r\n", 0, false, "[::1]:1", "[2001:db8::7]:80" },
    { "PROXY TCP6 ::ffff:10.1.2.3 ::1 1234 8080\r\n", 0, false,
      "[::ffff:10.1.2.3]:1234", "[::1]:8080" },
    { "PROXY TCP6 2001:DB8::A ::1 1234 8080\r\n", 0, false, "[2001:db8::a]:1234",
      "[::1]:8080" },
};

START_TEST(v1_examples)
{
    const struct v1_row *r = &v1_good[_i];
    size_t n = strlen(r->in);
    struct proxy_protocol_header h;
    const char *why = "unset";
    ck_assert_int_eq(parse(r->in, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert_ptr_null(why);
    ck_assert_uint_eq(h.len, n);
    ck_assert_uint_le(h.len, PROXY_PROTOCOL_V1_MAX);
    ck_assert_uint_eq(h.version, 1);
    ck_assert(h.keep_peer == r->keep);
    char t[80];
    if (r->keep) {
        ck_assert_int_eq(h.src.ss_family, 0);
        ck_assert_int_eq(h.dst.ss_family, 0);
    } else {
        ck_assert_str_eq(addr_text(&h.src, t, sizeof t), r->src);
        ck_assert_str_eq(addr_text(&h.dst, t, sizeof t), r->dst);
    }
    every_prefix_partial(r->in, n);
    /* What follows the header is not the header's. */
    char more[256];
    snprintf(more, sizeof more, "%sGET / HTTP/1.1\r\n\r\n", r->in);
    ck_assert_int_eq(parse(more, strlen(more), &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert_uint_eq(h.len, n);
}
END_TEST

static const char *const v1_bad[] = {
    "GET / HTTP/1.1\r\n",
    "PROXY\r\n",
    "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
    "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
    "PROXY TCP4 1.2.3.4\r\n",
    "PROXY TCP4\r\n",
    "PROXY TCP4 \r\n",
    /* Missing CRLF: LF alone, CR CR LF, NUL. */
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
    "PROXY UNKNOWN\n",
    "PROXY UNKNOWN\r\r\n",
    "PROXY UNKNOWN \n",
    "PROXY UNKNOWNX\r\n",
    "PROXY UNKNOWN\rX",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
    /* Addresses. */
    "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
    "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.1000 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7 1 2\r\n",
    "PROXY TCP4 localhost 5.6.7.8 1 2\r\n",
    "PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n",
    /* The other family's addresses. */
    "PROXY TCP4 ::1 ::1 1 2\r\n",
    "PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
    "PROXY TCP4 ::ffff:1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP6 ::1 5.6.7.8 1 2\r\n",
    "PROXY TCP6 ::1::2 ::1 1 2\r\n",
    "PROXY TCP6 12345::1 ::1 1 2\r\n",
    "PROXY TCP6 [::1] ::1 1 2\r\n",
    "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
    "PROXY TCP6 :::::::::::::::::::::::::::::::::::::::::::::: ::1 1 2\r\n",
    /* Ports. */
    "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 0x2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2a\r\n",
};

START_TEST(v1_malformed)
{
    const char *in = v1_bad[_i];
    struct proxy_protocol_header h;
    const char *why = NULL;
    ck_assert_msg(parse(in, strlen(in), &h, &why) == PROXY_PROTOCOL_ERROR, "%s", in);
    ck_assert_ptr_nonnull(why);
    ck_assert_uint_gt(strlen(why), 0);
}
END_TEST

START_TEST(v1_long_lines)
{
    struct proxy_protocol_header h;
    const char *why = NULL;
    /* 107 bytes without CRLF: refused, and not later than that. */
    char line[300];
    memset(line, 0, sizeof line);
    strcpy(line, "PROXY UNKNOWN ");
    memset(line + strlen(line), 'x', sizeof line - 1 - strlen(line));
    ck_assert_int_eq(parse(line, 106, &h, &why), PROXY_PROTOCOL_PARTIAL);
    ck_assert_int_eq(parse(line, 107, &h, &why), PROXY_PROTOCOL_ERROR);
    ck_assert_ptr_nonnull(strstr(why, "107"));
    ck_assert_int_eq(parse(line, 299, &h, &why), PROXY_PROTOCOL_ERROR);
    /* Exactly 107 with CRLF: taken; 108: refused. */
    memcpy(line + 105, "\r\n", 2);
    ck_assert_int_eq(parse(line, 107, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert_uint_eq(h.len, 107);
    memcpy(line + 105, "x\r\n", 3);
    ck_assert_int_eq(parse(line, 108, &h, &why), PROXY_PROTOCOL_ERROR);
    /* A field longer than any address is refused before the line ends. */
    const char *longaddr = "PROXY TCP4 1111111111111111";
    ck_assert_int_eq(parse(longaddr, strlen(longaddr), &h, &why), PROXY_PROTOCOL_ERROR);
    const char *longport = "PROXY TCP4 1.2.3.4 5.6.7.8 123456";
    ck_assert_int_eq(parse(longport, strlen(longport), &h, &why), PROXY_PROTOCOL_ERROR);
}
END_TEST

START_TEST(v1_garbage_is_refused_at_once)
{
    /* A wrong byte is an error when it arrives, not at the line's end. */
    static const char *const early[] = {
        "G", "PROXX", "PROXY X", "PROXY TCP4 a", "PROXY TCP4 1.2.3.4\r", "PROXY TCP6 g",
        "PROXY TCP4 1.2.3.4 5.6.7.8 8a", "PROXY UNKNOWNX", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        "\x16\x03\x01",
    };
    for (size_t i = 0; i < sizeof early / sizeof early[0]; i++) {
        struct proxy_protocol_header h;
        const char *why = NULL;
        ck_assert_msg(parse(early[i], strlen(early[i]), &h, &why) == PROXY_PROTOCOL_ERROR,
                      "%s", early[i]);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* v2 */

static const uint8_t sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

/* A v2 header: command byte, family byte, then the block as given
 * (addresses and TLVs); its length field says block_len. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *block, size_t n,
                 size_t block_len)
{
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(block_len >> 8);
    out[15] = (uint8_t)block_len;
    if (n)
        memcpy(out + 16, block, n);
    return 16 + n;
}

static const uint8_t tcp4_block[] = {
    192, 0, 2, 1,  198, 51, 100, 2,  0xdc, 0x04,  0x01, 0xbb,
};
static const uint8_t tcp6_block[] = {
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    0x30, 0x39,  0x00, 0x50,
};

START_TEST(v2_tcp4)
{
    uint8_t b[128];
    size_t n = v2(b, 0x21, 0x11, tcp4_block, sizeof tcp4_block, sizeof tcp4_block);
    struct proxy_protocol_header h;
    const char *why = NULL;
    ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert_uint_eq(h.len, 28);
    ck_assert_uint_eq(h.version, 2);
    ck_assert(!h.keep_peer);
    char t[80];
    ck_assert_str_eq(addr_text(&h.src, t, sizeof t), "192.0.2.1:56324");
    ck_assert_str_eq(addr_text(&h.dst, t, sizeof t), "198.51.100.2:443");
    every_prefix_partial(b, n);
    /* Data after it is not the header's. */
    memcpy(b + n, "GET /", 5);
    ck_assert_int_eq(parse(b, n + 5, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert_uint_eq(h.len, 28);
}
END_TEST

START_TEST(v2_tcp6)
{
    uint8_t b[128];
    size_t n = v2(b, 0x21, 0x21, tcp6_block, sizeof tcp6_block, sizeof tcp6_block);
    struct proxy_protocol_header h;
    const char *why = NULL;
    ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert_uint_eq(h.len, 52);
    char t[80];
    ck_assert_str_eq(addr_text(&h.src, t, sizeof t), "[2001:db8::7]:12345");
    ck_assert_str_eq(addr_text(&h.dst, t, sizeof t), "[::1]:80");
    every_prefix_partial(b, n);
}
END_TEST

START_TEST(v2_tlvs_are_skipped)
{
    /* AWS-style: an ALPN, a NOOP of padding, a custom type, an empty one. */
    uint8_t block[128];
    size_t n = 0;
    memcpy(block, tcp4_block, sizeof tcp4_block);
    n += sizeof tcp4_block;
    static const uint8_t tlvs[] = {
        0x01, 0x00, 0x02, 'h', '2',
        0x04, 0x00, 0x03, 0, 0, 0,
        0xEA, 0x00, 0x05, 0x01, 'v', 'p', 'c', 'e',
        0x05, 0x00, 0x00,
    };
    memcpy(block + n, tlvs, sizeof tlvs);
    n += sizeof tlvs;
    uint8_t b[256];
    size_t len = v2(b, 0x21, 0x11, block, n, n);
    struct proxy_protocol_header h;
    const char *why = NULL;
    ck_assert_int_eq(parse(b, len, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert_uint_eq(h.len, len);
    char t[80];
    ck_assert_str_eq(addr_text(&h.src, t, sizeof t), "192.0.2.1:56324");
    every_prefix_partial(b, len);
}
END_TEST

START_TEST(v2_keeps_the_real_peer)
{
    uint8_t b[512], block[300];
    memset(block, 0x41, sizeof block);
    struct proxy_protocol_header h;
    const char *why = NULL;
    /* LOCAL, with no block, with one, whatever the family. */
    static const uint8_t local_fams[] = { 0x00, 0x11, 0x21, 0x31, 0xff };
    for (size_t i = 0; i < sizeof local_fams; i++) {
        size_t n = v2(b, 0x20, local_fams[i], NULL, 0, 0);
        ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
        ck_assert(h.keep_peer);
        ck_assert_uint_eq(h.len, 16);
        ck_assert_int_eq(h.src.ss_family, 0);
        n = v2(b, 0x20, local_fams[i], block, 7, 7);
        ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
        ck_assert_uint_eq(h.len, 23);
        every_prefix_partial(b, n);
    }
    /* PROXY over UNSPEC: its block is ignored. */
    size_t n = v2(b, 0x21, 0x00, block, 5, 5);
    ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert(h.keep_peer);
    ck_assert_uint_eq(h.len, 21);
    /* AF_UNIX over STREAM: 216 bytes of paths, then TLVs. */
    n = v2(b, 0x21, 0x31, block, 216, 216);
    ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert(h.keep_peer);
    ck_assert_uint_eq(h.len, 232);
    every_prefix_partial(b, n);
}
END_TEST

struct v2_bad_row {
    uint8_t ver_cmd, fam;
    size_t n, block_len;        /* bytes of block given, length field */
    const char *why;            /* a word of the reason */
};

static const struct v2_bad_row v2_bad[] = {
    { 0x11, 0x11, 12, 12, "version" },
    { 0x31, 0x11, 12, 12, "version" },
    { 0x01, 0x11, 12, 12, "version" },
    { 0xf1, 0x11, 12, 12, "version" },
    { 0x22, 0x11, 12, 12, "command" },
    { 0x2f, 0x11, 12, 12, "command" },
    { 0x21, 0x41, 12, 12, "family" },
    { 0xf1, 0xf1, 12, 12, "version" },
    { 0x21, 0xf1, 12, 12, "family" },
    { 0x21, 0x12, 12, 12, "DGRAM" },
    { 0x21, 0x22, 36, 36, "DGRAM" },
    { 0x21, 0x32, 216, 216, "DGRAM" },
    { 0x21, 0x10, 12, 12, "STREAM" },
    { 0x21, 0x13, 12, 12, "STREAM" },
    { 0x21, 0x01, 12, 12, "family" },
    { 0x21, 0x11, 11, 11, "length" },
    { 0x21, 0x11, 0, 0, "length" },
    { 0x21, 0x21, 12, 12, "length" },
    { 0x21, 0x21, 35, 35, "length" },
    { 0x21, 0x31, 215, 215, "length" },
    /* TLVs: a lone byte, a head cut short, a value past the end. */
    { 0x21, 0x11, 13, 13, "TLV" },
    { 0x21, 0x11, 14, 14, "TLV" },
    { 0x21, 0x11, 16, 16, "TLV" },
    { 0x21, 0x21, 40, 40, "TLV" },
};

START_TEST(v2_malformed)
{
    const struct v2_bad_row *r = &v2_bad[_i];
    uint8_t block[300], b[400];
    memset(block, 0, sizeof block);
    if (r->n == 16 || r->n == 40) {
        /* A TLV announcing 5 bytes where 1 is left. */
        size_t at = r->n - 4;
        block[at] = 0x01;
        block[at + 1] = 0x00;
        block[at + 2] = 0x05;
    }
    size_t n = v2(b, r->ver_cmd, r->fam, block, r->n, r->block_len);
    struct proxy_protocol_header h;
    const char *why = NULL;
    ck_assert_msg(parse(b, n, &h, &why) == PROXY_PROTOCOL_ERROR, "row %d", _i);
    ck_assert_msg(strstr(why, r->why) != NULL, "row %d: %s", _i, why);
    /* Header fields are refused as soon as they arrive. */
    if (strcmp(r->why, "TLV") != 0 && strcmp(r->why, "length") != 0)
        ck_assert_int_eq(parse(b, 14, &h, &why), PROXY_PROTOCOL_ERROR);
}
END_TEST

START_TEST(v2_bad_signature)
{
    uint8_t b[64];
    size_t n = v2(b, 0x21, 0x11, tcp4_block, sizeof tcp4_block, sizeof tcp4_block);
    for (size_t i = 0; i < 12; i++) {
        uint8_t bad[64];
        memcpy(bad, b, n);
        bad[i] ^= 0x20;
        struct proxy_protocol_header h;
        const char *why = NULL;
        ck_assert_msg(parse(bad, n, &h, &why) == PROXY_PROTOCOL_ERROR, "byte %zu", i);
        /* And at once. */
        ck_assert_int_eq(parse(bad, i + 1, &h, &why), PROXY_PROTOCOL_ERROR);
    }
}
END_TEST

START_TEST(v2_longest)
{
    /* A 65535-byte block of TLVs is a header like any other. */
    size_t n = 16 + 65535;
    uint8_t *b = calloc(1, n);
    ck_assert_ptr_nonnull(b);
    v2(b, 0x21, 0x11, tcp4_block, sizeof tcp4_block, 65535);
    size_t left = 65535 - sizeof tcp4_block, at = 16 + sizeof tcp4_block;
    while (left > 0) {
        size_t v = left - 3 > 60000 ? 60000 : left - 3;
        b[at] = 0x04;
        b[at + 1] = (uint8_t)(v >> 8);
        b[at + 2] = (uint8_t)v;
        at += 3 + v;
        left -= 3 + v;
    }
    struct proxy_protocol_header h;
    const char *why = NULL;
    ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert_uint_eq(h.len, n);
    ck_assert_int_eq(parse(b, n - 1, &h, &why), PROXY_PROTOCOL_PARTIAL);
    free(b);
}
END_TEST

START_TEST(empty_is_partial)
{
    struct proxy_protocol_header h;
    const char *why = NULL;
    ck_assert_int_eq(proxy_protocol_parse("", 0, &h, &why), PROXY_PROTOCOL_PARTIAL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Building */

static void sa4(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    ck_assert_int_eq(inet_pton(AF_INET, ip, &v4->sin_addr), 1);
}

static void sa6(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &v6->sin6_addr), 1);
}

typedef size_t build_fn(const struct sockaddr *, const struct sockaddr *, void *, size_t);

static void round_trip(build_fn *build, int version, const struct sockaddr_storage *src,
                       const struct sockaddr_storage *dst)
{
    uint8_t b[PROXY_PROTOCOL_BUILD_MAX];
    size_t n = build((const struct sockaddr *)src, (const struct sockaddr *)dst, b, sizeof b);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_le(n, version == 1 ? PROXY_PROTOCOL_V1_MAX : sizeof b);
    struct proxy_protocol_header h;
    const char *why = NULL;
    ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert_uint_eq(h.len, n);
    ck_assert_uint_eq(h.version, (unsigned)version);
    ck_assert(!h.keep_peer);
    char x[80], y[80];
    ck_assert_str_eq(addr_text(&h.src, x, sizeof x), addr_text(src, y, sizeof y));
    ck_assert_str_eq(addr_text(&h.dst, x, sizeof x), addr_text(dst, y, sizeof y));
    ck_assert(memcmp(&h.src, src, sizeof *src) == 0);
    ck_assert(memcmp(&h.dst, dst, sizeof *dst) == 0);
    /* Too little room: nothing written. */
    for (size_t cap = 0; cap < n; cap++)
        ck_assert_uint_eq(build((const struct sockaddr *)src, (const struct sockaddr *)dst, b,
                                cap), 0);
}

START_TEST(round_trips)
{
    static const struct {
        const char *src, *dst;
        unsigned sport, dport;
    } v4[] = {
        { "192.0.2.1", "198.51.100.2", 56324, 443 },
        { "0.0.0.0", "255.255.255.255", 0, 65535 },
        { "10.0.0.1", "127.0.0.1", 1, 80 },
    }, v6[] = {
        { "2001:db8::7", "::1", 12345, 80 },
        { MAXV6, MAXV6, 65535, 65535 },
        { "::", "::ffff:10.1.2.3", 0, 1 },
        { "fe80::1:2:3:4", "2001:db8:0:1::", 8080, 8443 },
    };
    struct sockaddr_storage s, d;
    for (size_t i = 0; i < sizeof v4 / sizeof v4[0]; i++) {
        sa4(&s, v4[i].src, v4[i].sport);
        sa4(&d, v4[i].dst, v4[i].dport);
        round_trip(proxy_protocol_build_v1, 1, &s, &d);
        round_trip(proxy_protocol_build_v2, 2, &s, &d);
    }
    for (size_t i = 0; i < sizeof v6 / sizeof v6[0]; i++) {
        sa6(&s, v6[i].src, v6[i].sport);
        sa6(&d, v6[i].dst, v6[i].dport);
        round_trip(proxy_protocol_build_v1, 1, &s, &d);
        round_trip(proxy_protocol_build_v2, 2, &s, &d);
    }
}
END_TEST

START_TEST(built_texts)
{
    struct sockaddr_storage s, d;
    sa4(&s, "192.0.2.1", 56324);
    sa4(&d, "198.51.100.2", 443);
    char b[PROXY_PROTOCOL_BUILD_MAX + 1];
    size_t n = proxy_protocol_build_v1((struct sockaddr *)&s, (struct sockaddr *)&d, b, sizeof b);
    b[n] = '\0';
    ck_assert_str_eq(b, "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n");
    uint8_t v[64], want[64];
    n = proxy_protocol_build_v2((struct sockaddr *)&s, (struct sockaddr *)&d, v, sizeof v);
    ck_assert_uint_eq(n, v2(want, 0x21, 0x11, tcp4_block, 12, 12));
    ck_assert(memcmp(v, want, n) == 0);
}
END_TEST

START_TEST(built_without_addresses_keeps_the_peer)
{
    struct sockaddr_storage s4, d6;
    sa4(&s4, "192.0.2.1", 1);
    sa6(&d6, "::1", 2);
    struct sockaddr_un u = { .sun_family = AF_UNIX, .sun_path = "/run/x.sock" };
    char b[PROXY_PROTOCOL_BUILD_MAX + 1];
    struct proxy_protocol_header h;
    const char *why = NULL;
    /* No source (the proxy's own connection): UNKNOWN, LOCAL. */
    size_t n = proxy_protocol_build_v1(NULL, NULL, b, sizeof b);
    ck_assert_uint_eq(n, 15);
    ck_assert(memcmp(b, "PROXY UNKNOWN\r\n", 15) == 0);
    n = proxy_protocol_build_v2(NULL, NULL, b, sizeof b);
    ck_assert_uint_eq(n, 16);
    ck_assert_uint_eq((uint8_t)b[12], 0x20);
    ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
    ck_assert(h.keep_peer);
    /* Families that differ, or one the protocol cannot carry: UNKNOWN,
     * PROXY over UNSPEC. */
    const struct sockaddr *pairs[][2] = {
        { (struct sockaddr *)&s4, (struct sockaddr *)&d6 },
        { (struct sockaddr *)&u, (struct sockaddr *)&u },
        { (struct sockaddr *)&s4, NULL },
    };
    for (size_t i = 0; i < 3; i++) {
        n = proxy_protocol_build_v1(pairs[i][0], pairs[i][1], b, sizeof b);
        ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
        ck_assert(h.keep_peer);
        n = proxy_protocol_build_v2(pairs[i][0], pairs[i][1], b, sizeof b);
        ck_assert_uint_eq(n, 16);
        ck_assert_uint_eq((uint8_t)b[12], 0x21);
        ck_assert_uint_eq((uint8_t)b[13], 0x00);
        ck_assert_int_eq(parse(b, n, &h, &why), PROXY_PROTOCOL_COMPLETE);
        ck_assert(h.keep_peer);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proxy_protocol");
    TCase *tc = tcase_create("v1");
    tcase_add_loop_test(tc, v1_examples, 0, (int)(sizeof v1_good / sizeof v1_good[0]));
    tcase_add_loop_test(tc, v1_malformed, 0, (int)(sizeof v1_bad / sizeof v1_bad[0]));
    tcase_add_test(tc, v1_long_lines);
    tcase_add_test(tc, v1_garbage_is_refused_at_once);
    tcase_add_test(tc, empty_is_partial);
    suite_add_tcase(s, tc);
    tc = tcase_create("v2");
    tcase_add_test(tc, v2_tcp4);
    tcase_add_test(tc, v2_tcp6);
    tcase_add_test(tc, v2_tlvs_are_skipped);
    tcase_add_test(tc, v2_keeps_the_real_peer);
    tcase_add_loop_test(tc, v2_malformed, 0, (int)(sizeof v2_bad / sizeof v2_bad[0]));
    tcase_add_test(tc, v2_bad_signature);
    tcase_add_test(tc, v2_longest);
    suite_add_tcase(s, tc);
    tc = tcase_create("build");
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, built_texts);
    tcase_add_test(tc, built_without_addresses_keeps_the_peer);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
