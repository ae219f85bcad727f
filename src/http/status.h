/* The status page: counters by slot, responses by status class and by
 * server, the live worker processes and the upstream servers (state,
 * connections, requests, failures, response time), read from the shared
 * stats and upstream health pages as
 * JSON, plain text or Prometheus text (see herd.conf(5), STATUS). */
#ifndef HERD_HTTP_STATUS_H
#define HERD_HTTP_STATUS_H

#include <stddef.h>
#include <time.h>

#include "http/config.h"
#include "stats.h"

/* A malloc'ed body in *out (length returned), or 0 with *out NULL. */
size_t http_status_render(const struct stats_page *page, enum cfg_status_format format,
                          time_t now, char **out);
const char *http_status_type(enum cfg_status_format format);

/* The name an HTTP server's responses are counted under: its first
 * server_names entry, else its first listen address. */
const char *http_status_server_name(const struct cfg_server *s);

#endif
