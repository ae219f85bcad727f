/* The encodings a static route offers a file in: precompressed siblings
 * (`static.precompressed`: "file.br", "file.gz" next to "file") and gzip
 * made on the fly (the route's `compress`, kept in the small-file cache),
 * chosen by the request's Accept-Encoding (static_encoding.h). Range
 * requests always get the file as it is (identity), so that a range is
 * always a range of the file's own bytes. */
#ifndef HERD_HTTP_STATIC_VARIANT_H
#define HERD_HTTP_STATIC_VARIANT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/config.h"
#include "http/parse.h"
#include "http/static_cache.h"
#include "http/static_encoding.h"

/* A route's offer, built with its static handler. */
struct static_variants {
    const struct cfg_compress *compress;        /* NULL: no gzip on the fly */
    enum static_coding pre[STATIC_CODINGS];     /* precompressed, preferred first */
    size_t n_pre;
    char key[PATH_MAX + NAME_MAX + 8];          /* a sibling's name */
};

/* A representation chosen for a response. */
struct static_variant {
    struct static_file info;    /* what the response says about it */
    const char *data;           /* its bytes in memory, or NULL: from fd */
    int fd;                     /* -1 when data */
    const char *encoding;       /* the Content-Encoding value */
};

/* The `precompressed` list of a static group: "br" and "gz", each once.
 * 0, or -1 after cfg_fail(). */
int static_variants_check(struct cfg_ctx *ctx, const config_setting_t *group,
                          const struct cfg_static *st);

/* Build the offer of a route (static section st, compress group c or
 * NULL). */
void static_variants_init(struct static_variants *sv, const struct cfg_static *st,
                          const struct cfg_compress *c);

/* Does the route offer any encoding at all? */
static inline bool static_variants_offered(const struct static_variants *sv)
{
    return sv->n_pre > 0 || sv->compress != NULL;
}

/* May another request for the file fi get other bytes (so its responses
 * carry "Vary: Accept-Encoding")? With precompressed siblings offered every
 * file may; with gzip on the fly, files of a listed type from min_size up
 * that the cache may hold. */
bool static_variants_negotiable(const struct static_variants *sv, const struct static_cache *c,
                                const struct static_file *fi);

/* Choose for head (a GET or HEAD of the file key, described by fi and held
 * by cache entry e, or NULL when the cache does not hold it): true with *out
 * filled when an encoded representation is the answer (the caller sends it
 * and owns out->fd), false for the file as it is. The cache may evict
 * entries meanwhile, e among them: after true, use only *out. now is the
 * loop's clock (ms). */
bool static_variants_pick(struct static_variants *sv, struct static_cache *cache,
                          const struct http_request *head, const char *key,
                          const struct static_entry *e, const struct static_file *fi,
                          int64_t now, struct static_variant *out);

#endif
