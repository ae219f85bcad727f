/* Conditional requests and ranges for a file (RFC 9110 sections 13 and
 * 14): If-None-Match (weak comparison) before If-Modified-Since, one
 * "bytes=" range, If-Range. */
#ifndef HERD_HTTP_STATIC_COND_H
#define HERD_HTTP_STATIC_COND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/parse.h"
#include "http/static_cache.h"

/* Do the request's validators say the client's copy of fi is current? */
bool static_cond_not_modified(const struct http_request *req, const struct static_file *fi);

enum static_range { STATIC_RANGE_NONE, STATIC_RANGE_OK, STATIC_RANGE_UNSATISFIABLE };

/* One "bytes=first-last", "bytes=first-" or "bytes=-suffix" of a file of
 * size bytes: [*off, *end). Anything else (several ranges, other units,
 * junk) is STATIC_RANGE_NONE: the whole file is sent. */
enum static_range static_cond_range(const char *v, size_t len, int64_t size, int64_t *off,
                                    int64_t *end);

/* Does If-Range (absent, an entity tag or a date) allow a range of fi? */
bool static_cond_if_range(const struct http_request *req, const struct static_file *fi);

#endif
