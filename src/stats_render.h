/* The shared counters (stats.h) rendered as text: by the master for
 * `herd -s status`, and by HTTP's status page. Knows no protocol. */
#ifndef HERD_STATS_RENDER_H
#define HERD_STATS_RENDER_H

#include <stddef.h>
#include <time.h>

#include "stats.h"

enum stats_format { STATS_FORMAT_JSON, STATS_FORMAT_TEXT, STATS_FORMAT_PROMETHEUS };

/* A malloc'ed text in *out (its length returned), or 0 with *out NULL when
 * out of memory. `now` (wall clock seconds) gives the uptimes. */
size_t stats_render(const struct stats_page *page, enum stats_format format, time_t now,
                    char **out);
/* The same with another part of the answer rendered by its owner (the
 * upstream servers, upstream_health.h): for JSON a member ("name":value)
 * added to the top object, for text and Prometheus lines appended. NULL:
 * none. */
size_t stats_render_more(const struct stats_page *page, enum stats_format format, time_t now,
                         const char *more, char **out);

#endif
