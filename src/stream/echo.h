/* TCP echo (stream/echo.c): every byte read is written back. */
#ifndef HERD_STREAM_ECHO_H
#define HERD_STREAM_ECHO_H

#include <stdint.h>

#include "config.h"

struct proto_module;

/* An echo server's own keys (its cfg_server's conf). */
struct echo_config {
    struct cfg_where where;
    int64_t idle_timeout;           /* ms: no bytes either way for this long closes */
};

/* Echo as the protocol registry (proto.c) lists it. */
extern const struct proto_module echo_module;

#endif
