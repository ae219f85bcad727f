/* Address ranges for allow/deny lists: "192.0.2.7", "10.0.0.0/8",
 * "2001:db8::/32", "::1", or "all". */
#ifndef HERD_CIDR_H
#define HERD_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
    uint8_t family;             /* AF_INET, AF_INET6, or AF_UNSPEC for "all" */
    uint8_t bits;
    uint8_t addr[16];
};

/* Returns 0, or -1 when s is not a range. */
int cidr_parse(const char *s, struct cidr *out);
bool cidr_match(const struct cidr *c, const struct sockaddr *sa);

#endif
