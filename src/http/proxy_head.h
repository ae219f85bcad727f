/* The heads the reverse proxy rewrites: the request head herd sends to an
 * upstream, built from the client's parsed request, and the choice of the
 * upstream response's fields that reach the client (whose head the one
 * head builder, http_head_write, then writes with them).
 *
 * Hop-by-hop fields (Connection and every field it names, Keep-Alive, TE,
 * Trailer, Transfer-Encoding, Upgrade unless tunnelling, Proxy-Connection)
 * are removed before herd adds its own, so that a client's
 * "Connection: close, X-Forwarded-For" removes the client's
 * X-Forwarded-For, never herd's. Pure: no connection, no allocation. */
#ifndef HERD_HTTP_PROXY_HEAD_H
#define HERD_HTTP_PROXY_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "http/parse.h"
#include "http/parse_response.h"
#include "http/request.h"

/* A configured field (its variables already expanded by the caller; the
 * value must be a valid field value: no CR, LF or NUL). */
struct http_proxy_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    bool set;           /* true: replaces the client's fields of that name
                           and herd's own (an empty value just removes
                           them); false: added after them */
};

struct http_proxy_request {
    const struct http_request *head;    /* the client's request */
    const struct http_framing *f;       /* its checks: Host, body framing */
    const char *peer;                   /* the client's address as text
                                           (IPv6 without brackets) */
    size_t peer_len;
    const char *target;                 /* NULL: the client's, in origin-form */
    size_t target_len;
    const char *host;                   /* NULL: the client's Host (or the
                                           authority of its absolute-form
                                           target); none at all: empty */
    size_t host_len;
    const struct http_proxy_field *fields;  /* configured, written last */
    size_t n_fields;
    bool https;         /* the client came over TLS (X-Forwarded-Proto, proto=) */
    bool forwarded;     /* append an RFC 7239 Forwarded element */
    bool upgrade;       /* tunnelling a websocket: keep Upgrade, send
                           "Connection: upgrade" */
    bool close;         /* "Connection: close": no keep-alive upstream */
};

/* Write the upstream request head for r at out[0..cap):
 *   - METHOD SP origin-form target SP "HTTP/1.1" (an absolute-form target
 *     loses its scheme and authority; a fragment is dropped);
 *   - Host: r->host, else the client's;
 *   - the client's fields, in order, less the hop-by-hop ones, less Host,
 *     Content-Length, Expect (herd answered 100-continue itself) and the
 *     fields herd writes below;
 *   - X-Forwarded-For: the client's values, then the peer; X-Forwarded-Proto
 *     and X-Forwarded-Host (the client's host) set; Via: the client's
 *     values, then "1.1 herd"; with r->forwarded, Forwarded: the client's
 *     elements, then for=...;proto=...;host=... (IPv6 quoted in brackets,
 *     anything not a token quoted); each herd line is left out when a
 *     configured field sets that name;
 *   - the body framing of the client's request as herd sends it on:
 *     Content-Length as received, or Transfer-Encoding: chunked;
 *   - Connection: upgrade (r->upgrade) or close (r->close), else none;
 *   - the configured fields; the blank line.
 * Returns the head's whole length; when that is more than cap, out holds
 * only a part: call again with that much room. */
size_t http_proxy_request_head(char *out, size_t cap, const struct http_proxy_request *r);

/* The fields of an upstream response that the client gets, copied in order
 * to out (room for resp->num_headers; not resp->headers itself): all but
 * the hop-by-hop ones (Upgrade is kept when tunnel: a 101 opening a
 * websocket), the framing (Content-Length, Transfer-Encoding: herd frames
 * the client's response itself) and Server and Date (the head builder
 * writes herd's). Returns how many. */
size_t http_proxy_response_fields(const struct http_response *resp, bool tunnel,
                                  struct http_header *out);

/* An address (AF_INET or AF_INET6, in network order) as inet_ntop writes
 * it, NUL-terminated, in out[0..cap) (INET6_ADDRSTRLEN is room enough);
 * returns its length, or 0 for another family or too little room. IPv4 is
 * written by hand: inet_ntop's sprintf was a tenth of a proxied request's
 * instructions (bench/instr proxy_ka). */
size_t http_proxy_addr_text(int family, const unsigned char *addr, char *out, size_t cap);

/* A websocket opening handshake (RFC 6455 §4.1): HTTP/1.1 GET whose
 * Upgrade lists "websocket" and whose Connection lists "upgrade". */
bool http_proxy_is_websocket(const struct http_request *head);

#endif
