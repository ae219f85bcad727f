/* Tested by tests/unit/check_http_static_gzip.c (and, served,
 * tests/integration/test_compress.py). */
#include "http/static_gzip.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* The length of the media type without parameters or spaces. */
static size_t bare_len(const char *type)
{
    size_t n = strcspn(type, "; \t");
    return n;
}

bool static_gzip_type_listed(const struct cfg_strings *types, const char *type)
{
    size_t n = bare_len(type);
    for (size_t i = 0; i < types->n; i++) {
        const char *t = types->v[i];
        size_t tn = strlen(t);
        if (tn == n && strncasecmp(t, type, n) == 0)
            return true;
        /* "text/" and a star: the major type and its slash */
        if (tn >= 2 && t[tn - 1] == '*' && t[tn - 2] == '/' && n > tn - 1 &&
            strncasecmp(t, type, tn - 1) == 0)
            return true;
    }
    return false;
}

bool static_gzip_type_compressed(const char *type)
{
    static const char *const packed[] = {
        "application/zip", "application/gzip", "application/x-gzip", "application/x-bzip2",
        "application/x-xz", "application/zstd", "application/x-7z-compressed",
        "application/vnd.rar", "application/x-rar-compressed", "application/pdf",
        "font/woff", "font/woff2", "application/font-woff",
    };
    size_t n = bare_len(type);
    if (n == strlen("image/svg+xml") && strncasecmp(type, "image/svg+xml", n) == 0)
        return false;
    if (strncasecmp(type, "image/", 6) == 0 || strncasecmp(type, "audio/", 6) == 0 ||
        strncasecmp(type, "video/", 6) == 0)
        return true;
    for (size_t i = 0; i < sizeof packed / sizeof packed[0]; i++)
        if (strlen(packed[i]) == n && strncasecmp(packed[i], type, n) == 0)
            return true;
    return false;
}

bool static_gzip_applies(const struct cfg_compress *c, const char *type, int64_t size)
{
    return c != NULL && size >= c->min_size && static_gzip_type_listed(&c->types, type);
}

char *static_gzip_deflate(const char *src, size_t len, int level, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* 15 bits of window, +16: a gzip header and trailer instead of zlib's */
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&z, (uLong)len);
    char *out = cap < len ? malloc(cap) : malloc(len);  /* only a smaller result is kept */
    if (out == NULL)
        goto fail;
    z.next_in = (Bytef *)(uintptr_t)src;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)(cap < len ? cap : len);
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        goto fail;      /* out of room: not smaller than the file */
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
fail:
    free(out);
    deflateEnd(&z);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Configuration */

/* Text types a site serves, compressed when `types` is not given. */
static const char *const default_types[] = {
    "text/html", "text/css", "text/plain", "text/javascript", "application/javascript",
    "application/json", "application/xml", "text/xml", "image/svg+xml",
};

static int default_type_list(struct cfg_strings *list)
{
    size_t n = sizeof default_types / sizeof default_types[0];
    if ((list->v = calloc(n, sizeof *list->v)) == NULL)
        return -1;
    for (list->n = 0; list->n < n; list->n++)
        if ((list->v[list->n] = strdup(default_types[list->n])) == NULL)
            return -1;
    return 0;
}

static int validate_compress(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_compress *c = obj;
    if (c->types.n == 0) {
        free(c->types.v);
        c->types.v = NULL;
        if (default_type_list(&c->types) < 0)
            return cfg_fail(ctx, group, "out of memory");
    }
    const config_setting_t *at = config_setting_get_member(group, "types");
    for (size_t i = 0; i < c->types.n; i++) {
        const char *t = c->types.v[i];
        const char *slash = strchr(t, '/');
        if (slash == NULL || slash == t || slash[1] == '\0' || strpbrk(t, "; \t,") != NULL)
            return cfg_fail(ctx, at ? at : group,
                            "'types': \"%s\" is not a media type such as \"text/css\" or "
                            "\"text/*\"", t);
        if (static_gzip_type_compressed(t))
            return cfg_fail(ctx, at ? at : group,
                            "'types': \"%s\" is compressed already; gzip would only cost "
                            "time", t);
    }
    return 0;
}

static const struct cfg_key compress_keys[] = {
    { .name = "types", .type = CT_STRINGS, .offset = CFG_AT(cfg_compress, types) },
    { .name = "min_size", .type = CT_SIZE, .offset = CFG_AT(cfg_compress, min_size),
      .def = "1k", .min = 0, .max = 1024 * 1024 * 1024 },
    { .name = "level", .type = CT_INT, .offset = CFG_AT(cfg_compress, level), .def = "5",
      .min = 1, .max = 9 },
};

const struct cfg_section http_compress_config = {
    "compress", sizeof(struct cfg_compress), compress_keys, CFG_NKEYS(compress_keys),
    validate_compress,
};
