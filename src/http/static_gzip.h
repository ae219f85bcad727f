/* On-the-fly gzip of static files (a route's `compress` group): which
 * files it applies to (their media type and size) and the compression
 * itself, with zlib. The compressed bytes are kept with the file's entry
 * in the small-file cache (static_cache.h), so a file is compressed once
 * per worker and change, not once per request. */
#ifndef HERD_HTTP_STATIC_GZIP_H
#define HERD_HTTP_STATIC_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/config.h"

/* The route key "compress". */
extern const struct cfg_section http_compress_config;

/* Is the media type (parameters such as "; charset=utf-8" are ignored)
 * one of types? An entry "text/" with a star takes every text type. */
bool static_gzip_type_listed(const struct cfg_strings *types, const char *type);

/* Is the type compressed already (images but SVG, audio, video, archives,
 * WOFF fonts), so that gzip would only cost time? */
bool static_gzip_type_compressed(const char *type);

/* Does the route compress a file of this type and size? */
bool static_gzip_applies(const struct cfg_compress *c, const char *type, int64_t size);

/* src[0..len) as a gzip member (RFC 1952) at level, in a new buffer of
 * *out_len bytes. NULL when out of memory, on a zlib error, or when the
 * result is not smaller than the input (then it is not worth sending). */
char *static_gzip_deflate(const char *src, size_t len, int level, size_t *out_len);

#endif
