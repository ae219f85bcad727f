/* The status page: counters of every live worker and their totals, read
 * from the shared stats page, as JSON, plain text or Prometheus text. */
#ifndef HERD_HTTP_STATUS_H
#define HERD_HTTP_STATUS_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "stats.h"

/* A malloc'ed body in *out (length returned), or 0 with *out NULL. */
size_t http_status_render(const struct stats_page *page, enum cfg_status_format format,
                          time_t now, char **out);
const char *http_status_type(enum cfg_status_format format);

#endif
