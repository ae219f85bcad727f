/* Address ranges for allow/deny lists: "192.0.2.7", "10.0.0.0/8",
 * "2001:db8::/32", "::1", or "all". */
#ifndef HERD_CIDR_H
#define HERD_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
    uint8_t family;             /* AF_INET, AF_INET6, or AF_UNSPEC for "all" */
    uint8_t bits;
    uint8_t addr[16];
};

/* Returns 0, or -1 when s is not a range. Bits of the address beyond the
 * prefix length are cleared: "10.0.0.1/8" is 10.0.0.0/8. */
int cidr_parse(const char *s, struct cidr *out);
/* True when s is a range with such bits set, which deserves a warning. */
bool cidr_has_host_bits(const char *s);
/* "10.0.0.0/8", "2001:db8::/32" or "all". */
void cidr_format(const struct cidr *c, char *buf, size_t cap);
/* An IPv4 range also matches the IPv4-mapped IPv6 form of its addresses
 * (::ffff:10.0.0.1 is in 10.0.0.0/8), as nginx's lists do. */
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

#endif
