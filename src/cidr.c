#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The address and prefix as written, host bits and all. */
static int parse_raw(const char *s, struct cidr *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(s, "all") == 0) {
        out->family = AF_UNSPEC;
        return 0;
    }
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    int max;
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    int bits = max;
    if (slash) {
        char *end;
        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        long v = strtol(slash + 1, &end, 10);
        if (*end != '\0' || v < 0 || v > max)
            return -1;
        bits = (int)v;
    }
    out->bits = (uint8_t)bits;
    return 0;
}

static int max_bits(const struct cidr *c)
{
    return c->family == AF_INET ? 32 : c->family == AF_INET6 ? 128 : 0;
}

int cidr_parse(const char *s, struct cidr *out)
{
    if (parse_raw(s, out) < 0)
        return -1;
    /* Clear host bits so that matching compares whole bytes. */
    for (int i = out->bits; i < max_bits(out); i++)
        out->addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
    return 0;
}

bool cidr_has_host_bits(const char *s)
{
    struct cidr c;
    if (parse_raw(s, &c) < 0)
        return false;
    for (int i = c.bits; i < max_bits(&c); i++)
        if (c.addr[i / 8] & (0x80u >> (i % 8)))
            return true;
    return false;
}

void cidr_format(const struct cidr *c, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (c->family == AF_UNSPEC || inet_ntop(c->family, c->addr, ip, sizeof ip) == NULL) {
        snprintf(buf, cap, "all");
        return;
    }
    snprintf(buf, cap, "%s/%d", ip, c->bits);
}

/* An IPv4 address carried in IPv6 (::ffff:a.b.c.d, as a dual-stack peer
 * or a forwarding header may give it): its four IPv4 bytes, else NULL. */
static const uint8_t *v4_mapped(const struct sockaddr *sa)
{
    if (sa->sa_family != AF_INET6)
        return NULL;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_V4MAPPED(a6) ? a6->s6_addr + 12 : NULL;
}

bool cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
    if (c->family == AF_UNSPEC)
        return true;
    const uint8_t *a;
    if (sa->sa_family == c->family)
        a = c->family == AF_INET
            ? (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr
            : (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    else if (c->family == AF_INET && (a = v4_mapped(sa)) != NULL)
        ;                       /* an IPv4 range matches the mapped address */
    else
        return false;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(a, c->addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[full] & mask) == c->addr[full];
}
