/* Address ranges (src/cidr.c): parsing with its refusals, host bits,
 * formatting, and matching against a bit-by-bit model at every prefix
 * length of both families. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "cidr.h"
#include "tap.h"

struct parse_row {
    const char *in;
    int rc;
    int family;
    int bits;
    const char *text;           /* cidr_format of the result */
};

static const struct parse_row parse_rows[] = {
    { "all", 0, AF_UNSPEC, 0, "all" },
    { "192.0.2.7", 0, AF_INET, 32, "192.0.2.7/32" },
    { "10.0.0.0/8", 0, AF_INET, 8, "10.0.0.0/8" },
    { "10.9.8.7/8", 0, AF_INET, 8, "10.0.0.0/8" },          /* host bits cleared */
    { "10.255.255.255/9", 0, AF_INET, 9, "10.128.0.0/9" },  /* inside a byte */
    { "0.0.0.0/0", 0, AF_INET, 0, "0.0.0.0/0" },
    { "255.255.255.255/0", 0, AF_INET, 0, "0.0.0.0/0" },
    { "1.2.3.4/32", 0, AF_INET, 32, "1.2.3.4/32" },
    { "1.2.3.4/08", 0, AF_INET, 8, "1.0.0.0/8" },
    { "::1", 0, AF_INET6, 128, "::1/128" },
    { "2001:db8::/32", 0, AF_INET6, 32, "2001:db8::/32" },
    { "2001:db8:ffff::1/33", 0, AF_INET6, 33, "2001:db8:8000::/33" },
    { "::/0", 0, AF_INET6, 0, "::/0" },
    { "fe80::1/128", 0, AF_INET6, 128, "fe80::1/128" },
    { "::ffff:10.0.0.1/120", 0, AF_INET6, 120, "::ffff:10.0.0.0/120" },
    { "", -1, 0, 0, NULL },
    { "/8", -1, 0, 0, NULL },
    { "1.2.3.4/", -1, 0, 0, NULL },
    { "1.2.3.4/33", -1, 0, 0, NULL },
    { "1.2.3.4/-1", -1, 0, 0, NULL },
    { "1.2.3.4/+8", -1, 0, 0, NULL },
    { "1.2.3.4/ 8", -1, 0, 0, NULL },
    { "1.2.3.4/8x", -1, 0, 0, NULL },
    { "1.2.3.4/8/8", -1, 0, 0, NULL },
    { "1.2.3/24", -1, 0, 0, NULL },
    { "1.2.3.256", -1, 0, 0, NULL },
    { "::1/129", -1, 0, 0, NULL },
    { "[::1]/64", -1, 0, 0, NULL },
    { "ALL", -1, 0, 0, NULL },
    { "all/0", -1, 0, 0, NULL },
    { "localhost", -1, 0, 0, NULL },
    { " 10.0.0.0/8", -1, 0, 0, NULL },
    { "10.0.0.0/8 ", -1, 0, 0, NULL },
    /* Longer than any address: refused without overrunning the copy. */
    { "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa/64", -1, 0, 0, NULL },
};

#define N_PARSE_ROWS (sizeof parse_rows / sizeof parse_rows[0])

START_TEST(parse_row)
{
    const struct parse_row *r = &parse_rows[_i];
    struct cidr c;
    memset(&c, 0xa5, sizeof c);
    int rc = cidr_parse(r->in, &c);
    ck_assert_msg(rc == r->rc, "\"%s\": rc %d, want %d", r->in, rc, r->rc);
    if (rc != 0)
        return;
    ck_assert_int_eq(c.family, r->family);
    ck_assert_int_eq(c.bits, r->bits);
    char text[64];
    cidr_format(&c, text, sizeof text);
    ck_assert_str_eq(text, r->text);
    /* What is printed reads back as the same range. */
    struct cidr again;
    ck_assert_int_eq(cidr_parse(text, &again), 0);
    ck_assert_mem_eq(&again, &c, sizeof c);
}
END_TEST

/* Host bits deserve a warning; the range itself is still accepted. */
START_TEST(host_bits)
{
    static const struct {
        const char *in;
        bool set;
    } rows[] = {
        { "10.0.0.1/8", true }, { "10.128.0.0/9", false }, { "10.64.0.0/9", true },
        { "192.168.1.1/31", true }, { "192.168.1.0/31", false }, { "10.0.0.1", false },
        { "0.0.0.1/0", true }, { "2001:db8::1/32", true }, { "2001:db8::/32", false },
        { "::1", false }, { "::1/127", true }, { "all", false }, { "junk/8", false },
        { "10.0.0.1/99", false },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        ck_assert_msg(cidr_has_host_bits(rows[i].in) == rows[i].set, "\"%s\"", rows[i].in);
}
END_TEST

/* A client of family at the address in bytes (4 or 16 of them). */
static struct sockaddr_storage client(int family, const uint8_t *bytes)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = (sa_family_t)family;
    if (family == AF_INET)
        memcpy(&((struct sockaddr_in *)&ss)->sin_addr, bytes, 4);
    else
        memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, bytes, 16);
    return ss;
}

/* Do the first `bits` bits of a and b agree? */
static bool same_prefix(const uint8_t *a, const uint8_t *b, int bits)
{
    for (int i = 0; i < bits; i++) {
        uint8_t m = (uint8_t)(0x80u >> (i % 8));
        if ((a[i / 8] & m) != (b[i / 8] & m))
            return false;
    }
    return true;
}

static void random_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(random() >> 7);
}

/* b equal to a up to bit `flip`, which is inverted, and random after. */
static void differ_at(uint8_t *b, const uint8_t *a, size_t n, int flip)
{
    random_bytes(b, n);
    for (int i = 0; i < flip; i++) {
        uint8_t m = (uint8_t)(0x80u >> (i % 8));
        b[i / 8] = (uint8_t)((b[i / 8] & ~m) | (a[i / 8] & m));
    }
    b[flip / 8] ^= (uint8_t)(0x80u >> (flip % 8));
}

/* Every prefix length, with addresses that differ first at every bit: a
 * match exactly when the difference lies beyond the prefix. */
static void every_prefix(int family, unsigned seed)
{
    const size_t n = family == AF_INET ? 4 : 16;
    const int max = (int)n * 8;
    srandom(seed);
    uint8_t a[16], b[16];
    random_bytes(a, n);
    char ip[INET6_ADDRSTRLEN], spec[80];
    inet_ntop(family, a, ip, sizeof ip);
    for (int bits = 0; bits <= max; bits++) {
        struct cidr c;
        snprintf(spec, sizeof spec, "%s/%d", ip, bits);
        ck_assert_int_eq(cidr_parse(spec, &c), 0);
        struct sockaddr_storage ss = client(family, a);
        ck_assert_msg(cidr_match(&c, (struct sockaddr *)&ss), "%s misses itself", spec);
        for (int flip = 0; flip < max; flip++) {
            differ_at(b, a, n, flip);
            ss = client(family, b);
            ck_assert_msg(cidr_match(&c, (struct sockaddr *)&ss) == same_prefix(a, b, bits),
                          "%s, bit %d differs", spec, flip);
        }
    }
}

START_TEST(match_every_prefix_v4)
{
    every_prefix(AF_INET, 1000u + (unsigned)_i);
}
END_TEST

START_TEST(match_every_prefix_v6)
{
    every_prefix(AF_INET6, 2000u + (unsigned)_i);
}
END_TEST

/* A range of one family never matches a client of the other, not even /0
 * or an IPv4-mapped IPv6 address; "all" matches any client. */
START_TEST(match_across_families)
{
    struct cidr any4, any6, net10, net11, all;
    ck_assert_int_eq(cidr_parse("11.0.0.0/8", &net11), 0);
    ck_assert_int_eq(cidr_parse("0.0.0.0/0", &any4), 0);
    ck_assert_int_eq(cidr_parse("::/0", &any6), 0);
    ck_assert_int_eq(cidr_parse("10.0.0.0/8", &net10), 0);
    ck_assert_int_eq(cidr_parse("all", &all), 0);
    const uint8_t ten[4] = { 10, 0, 0, 1 };
    const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1 };
    struct sockaddr_storage c4 = client(AF_INET, ten);      /* 10.0.0.1 */
    struct sockaddr_storage c6 = client(AF_INET6, mapped);  /* ::ffff:10.0.0.1 */
    const uint8_t compat[16] = { [12] = 10, [15] = 1 };
    struct sockaddr_storage c6n = client(AF_INET6, compat);  /* not mapped */
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    ck_assert(cidr_match(&any4, (struct sockaddr *)&c4));
    /* An IPv4 range matches the mapped form of its addresses (not the
     * other way round: an IPv4 address is in no IPv6 range). */
    ck_assert(cidr_match(&any4, (struct sockaddr *)&c6));
    ck_assert(cidr_match(&any6, (struct sockaddr *)&c6));
    ck_assert(!cidr_match(&any6, (struct sockaddr *)&c4));
    ck_assert(cidr_match(&net10, (struct sockaddr *)&c6));
    ck_assert(!cidr_match(&net11, (struct sockaddr *)&c6));
    ck_assert(!cidr_match(&net10, (struct sockaddr *)&c6n));    /* ::10.0.0.1 */
    ck_assert(!cidr_match(&any4, (struct sockaddr *)&un));
    ck_assert(cidr_match(&all, (struct sockaddr *)&c4));
    ck_assert(cidr_match(&all, (struct sockaddr *)&c6));
    ck_assert(cidr_match(&all, (struct sockaddr *)&un));
}
END_TEST

/* A short buffer gets a cut, terminated text. */
START_TEST(format_into_small_buffer)
{
    struct cidr c;
    ck_assert_int_eq(cidr_parse("2001:db8::/32", &c), 0);
    char text[8];
    memset(text, 'x', sizeof text);
    cidr_format(&c, text, sizeof text);
    ck_assert_str_eq(text, "2001:db");
    ck_assert_int_eq(cidr_parse("all", &c), 0);
    cidr_format(&c, text, 3);
    ck_assert_str_eq(text, "al");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cidr");
    TCase *tc = tcase_create("parse");
    tcase_add_loop_test(tc, parse_row, 0, (int)N_PARSE_ROWS);
    tcase_add_test(tc, host_bits);
    tcase_add_test(tc, format_into_small_buffer);
    suite_add_tcase(s, tc);
    tc = tcase_create("match");
    tcase_add_loop_test(tc, match_every_prefix_v4, 0, 4);
    tcase_add_loop_test(tc, match_every_prefix_v6, 0, 2);
    tcase_add_test(tc, match_across_families);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
