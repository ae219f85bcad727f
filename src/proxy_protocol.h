/* The PROXY protocol (HAProxy's specification, versions 1 and 2): the
 * header a load balancer puts before a connection's first byte to say whom
 * the connection is really from. Pure: it reads and writes buffers, never a
 * socket.
 *
 * Parsing never guesses. A header is complete (its length, and either the
 * addresses it carries or "keep the real peer"), partial (every byte so far
 * can start a valid header: wait for more), or an error with a short reason.
 *
 *   v1  "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", TCP6 likewise,
 *       or "PROXY UNKNOWN[ anything]\r\n"; 107 bytes at most; single
 *       spaces, addresses of the named family, ports 0-65535 without
 *       leading zeros or signs.
 *   v2  the 12-byte signature, version 2, LOCAL or PROXY, then AF_INET or
 *       AF_INET6 over STREAM with their addresses; UNSPEC and AF_UNIX (and
 *       every LOCAL) keep the real peer; the TLVs after the addresses are
 *       skipped, each checked to end inside the header.
 *
 * Tested by tests/unit/check_proxy_protocol.c and fuzzed by
 * tests/fuzz/fuzz_proxy_protocol.c. */
#ifndef HERD_PROXY_PROTOCOL_H
#define HERD_PROXY_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The longest v1 header, CRLF included. */
#define PROXY_PROTOCOL_V1_MAX 107
/* The v2 header before its variable part (signature, version and command,
 * family, length). */
#define PROXY_PROTOCOL_V2_FIXED 16
/* Room enough for any header proxy_protocol_build_*() writes. */
#define PROXY_PROTOCOL_BUILD_MAX 108

enum proxy_protocol_rc {
    PROXY_PROTOCOL_PARTIAL,     /* a valid beginning: more bytes are needed */
    PROXY_PROTOCOL_ERROR,       /* not a valid header (*why says why) */
    PROXY_PROTOCOL_COMPLETE,
};

struct proxy_protocol_header {
    size_t len;                 /* bytes of the header: the connection's data follows */
    uint8_t version;            /* 1 or 2 */
    /* LOCAL, UNKNOWN, UNSPEC or AF_UNIX: the connection's own peer stands,
     * src and dst are zeroed. */
    bool keep_peer;
    struct sockaddr_storage src, dst;   /* AF_INET or AF_INET6, ports set */
};

/* Parse the header at the start of buf[0, len). On COMPLETE fills *out;
 * on ERROR sets *why (a static string, no address in it). Reads nothing
 * beyond buf + len. */
enum proxy_protocol_rc proxy_protocol_parse(const void *buf, size_t len,
                                            struct proxy_protocol_header *out,
                                            const char **why);

/* Write a header saying the connection is from src to dst into out[0,
 * cap). Both AF_INET or both AF_INET6: TCP4/TCP6 (v1) or PROXY over STREAM
 * (v2). src NULL: "PROXY UNKNOWN" (v1) or LOCAL (v2), for a connection of
 * the proxy's own such as a health check. Anything else (families that
 * differ, AF_UNIX): "PROXY UNKNOWN" (v1) or PROXY with family UNSPEC (v2),
 * so the receiver keeps the real peer. Returns the length written, or 0
 * when cap is too small. */
size_t proxy_protocol_build_v1(const struct sockaddr *src, const struct sockaddr *dst, void *out,
                               size_t cap);
size_t proxy_protocol_build_v2(const struct sockaddr *src, const struct sockaddr *dst, void *out,
                               size_t cap);

#endif
