/* The real client address behind trusted proxies: a server's
 *   real_ip = { from = [ CIDRs ]; header = "X-Forwarded-For"; recursive = false; }
 *
 * When the connection's client (its peer, or the source of the PROXY
 * header the listener took, conn_proxy_header.h) is in `from`, the
 * request's client becomes the address the header names. Everything that
 * speaks of "the client" of a request uses it (req->client): $remote_addr
 * and $remote_port, a route's allow/deny, the access log, the error log's
 * refusals, the X-Forwarded-For and Forwarded a proxy route sends, and
 * keys made of $remote_addr. $realip_remote_addr keeps the connection's.
 *
 * X-Forwarded-For is a list, each proxy appending the address it saw:
 * walked from the right, every entry trusted (in `from`) is skipped with
 * recursive = true, and the first untrusted one is the client (all of
 * them trusted: the leftmost); with recursive = false the rightmost entry
 * is. Several fields of the name are one list, in order. An entry that is
 * not an address ("unknown", garbage) ends the walk: the client is the
 * last address walked (trusted, since the walk went on past it), never a
 * guess further left. Any other header holds one address, in one field;
 * anything else there (two fields, a list, garbage) leaves the client
 * alone. Entries may be "192.0.2.1", "2001:db8::1", "[2001:db8::1]", with
 * a port ("192.0.2.1:5000", "[2001:db8::1]:5000") that becomes
 * $remote_port (empty without one). At most HTTP_REALIP_MAX_HOPS entries
 * are walked.
 *
 * Decided per request, once its server is known (servers sharing a
 * listener may differ), and only at the server level: every route of a
 * server sees the same client.
 * Tested by tests/unit/check_http_realip.c and
 * tests/integration/test_real_ip.py. */
#ifndef HERD_HTTP_REALIP_H
#define HERD_HTTP_REALIP_H

#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"
#include "config_engine.h"
#include "conn.h"
#include "http/parse.h"

struct http_req;

struct cfg_real_ip {
    struct cfg_where where;
    struct cfg_strings from;         /* ranges (cidr.h), or "unix:" */
    char *header;                    /* a field name */
    bool recursive;
};

/* The `real_ip` group of an HTTP server. */
extern const struct cfg_section http_realip_config;

/* Entries of X-Forwarded-For looked at, from the right. */
#define HTTP_REALIP_MAX_HOPS 64

struct http_realip {
    char *header;                    /* lower case */
    bool list;                       /* X-Forwarded-For: a list of addresses */
    bool recursive;
    bool unix_trusted;               /* "unix:" in from: unix-socket clients */
    size_t n_from;
    struct cidr from[];
};

/* The rule of a server's checked configuration; NULL with errno set
 * (ENOMEM; EINVAL for what the check refuses). */
struct http_realip *http_realip_new(const struct cfg_real_ip *conf);
void http_realip_free(struct http_realip *r);

/* Is p one of the rule's trusted addresses? */
bool http_realip_trusted(const struct http_realip *r, const struct conn_peer *p);
/* One address s[0..n) as an X-Forwarded-For entry may write it (no
 * spaces): 0 and *out, or -1. */
int http_realip_parse(const char *s, size_t n, struct conn_peer *out);
/* The client of a request whose fields are h[0..n), from a connection
 * whose client is *client: *client becomes the header's address when the
 * rule says so. True when it did. */
bool http_realip_resolve(const struct http_realip *r, const struct http_header *h, size_t n,
                         struct conn_peer *client);
/* The same for req, whose server has the rule r. */
void http_realip_apply(const struct http_realip *r, struct http_req *req);

#endif
