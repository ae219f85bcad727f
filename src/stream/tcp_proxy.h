/* TCP proxy (stream/tcp_proxy.c): each client connection is carried to a
 * server of an upstream, both ways, with back-pressure and half-close. */
#ifndef HERD_STREAM_TCP_PROXY_H
#define HERD_STREAM_TCP_PROXY_H

#include <stdint.h>

#include "config.h"

struct proto_module;
struct upstream_config;

/* send_proxy_protocol: the PROXY protocol version put before the client's
 * bytes on the upstream connection, or none. */
enum tcp_proxy_pp { TCP_PROXY_PP_OFF, TCP_PROXY_PP_V1, TCP_PROXY_PP_V2 };

/* A tcp_proxy server's own keys (its cfg_server's conf). */
struct tcp_proxy_config {
    struct cfg_where where;
    char *upstream;                 /* the name of an upstream */
    int64_t idle_timeout;           /* ms: no byte either way for this long closes both */
    int send_proxy_protocol;        /* enum tcp_proxy_pp: a PROXY header first upstream */
    /* Not a key: the upstream named, found once the whole file is read. */
    const struct upstream_config *up;
};

/* The TCP proxy as the protocol registry (proto.c) lists it. */
extern const struct proto_module tcp_proxy_module;

#endif
