#include "http/mime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TYPE "application/octet-stream"

struct mime_entry {
    char *ext;
    char *type;
    size_t order;               /* the first mapping of an extension wins */
};

struct mime_table {
    struct mime_entry *v;
    size_t n, cap;
};

/* Used when /etc/mime.types is missing; text types say their charset. */
static const char *const builtin[][2] = {
    { "html", "text/html; charset=utf-8" }, { "htm", "text/html; charset=utf-8" },
    { "css", "text/css; charset=utf-8" }, { "js", "text/javascript; charset=utf-8" },
    { "mjs", "text/javascript; charset=utf-8" }, { "json", "application/json" },
    { "txt", "text/plain; charset=utf-8" }, { "md", "text/markdown; charset=utf-8" },
    { "xml", "application/xml" }, { "svg", "image/svg+xml" }, { "png", "image/png" },
    { "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" }, { "gif", "image/gif" },
    { "webp", "image/webp" }, { "avif", "image/avif" }, { "ico", "image/vnd.microsoft.icon" },
    { "pdf", "application/pdf" }, { "wasm", "application/wasm" }, { "woff", "font/woff" },
    { "woff2", "font/woff2" }, { "ttf", "font/ttf" }, { "otf", "font/otf" },
    { "mp4", "video/mp4" }, { "webm", "video/webm" }, { "mp3", "audio/mpeg" },
    { "ogg", "audio/ogg" }, { "wav", "audio/wav" }, { "zip", "application/zip" },
    { "gz", "application/gzip" }, { "tar", "application/x-tar" },
    { "csv", "text/csv; charset=utf-8" },
};

static int add(struct mime_table *t, const char *ext, size_t len, const char *type)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct mime_entry *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n].order = t->n;
    t->v[t->n].ext = strndup(ext, len);
    t->v[t->n].type = strdup(type);
    if (t->v[t->n].ext == NULL || t->v[t->n].type == NULL)
        return -1;
    t->n++;
    return 0;
}

static void load_file(struct mime_table *t, FILE *f)
{
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#' || *p == '\0')
            continue;
        char *type = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            continue;       /* a type without extensions */
        *p++ = '\0';
        for (;;) {
            while (isspace((unsigned char)*p))
                p++;
            if (*p == '\0')
                break;
            char *ext = p;
            while (*p && !isspace((unsigned char)*p))
                p++;
            if (add(t, ext, (size_t)(p - ext), type) < 0)
                break;
        }
    }
    free(line);
}

static int by_ext_then_order(const void *a, const void *b)
{
    const struct mime_entry *x = a, *y = b;
    int c = strcasecmp(x->ext, y->ext);
    if (c != 0)
        return c;
    return (x->order > y->order) - (x->order < y->order);
}

/* Sort for binary search, keeping the first mapping of each extension. */
static void index_table(struct mime_table *t)
{
    qsort(t->v, t->n, sizeof *t->v, by_ext_then_order);
    size_t out = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (out > 0 && strcasecmp(t->v[out - 1].ext, t->v[i].ext) == 0) {
            free(t->v[i].ext);
            free(t->v[i].type);
            continue;
        }
        t->v[out++] = t->v[i];
    }
    t->n = out;
}

struct mime_table *mime_load(const char *path)
{
    struct mime_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    /* Built-ins first: they carry charsets that mime.types leaves out. */
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        add(t, builtin[i][0], strlen(builtin[i][0]), builtin[i][1]);
    FILE *f = fopen(path ? path : "/etc/mime.types", "r");
    if (f) {
        load_file(t, f);
        fclose(f);
    }
    index_table(t);
    return t;
}

void mime_free(struct mime_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].ext);
        free(t->v[i].type);
    }
    free(t->v);
    free(t);
}

const char *mime_type(const struct mime_table *t, const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    const char *dot = strrchr(base, '.');
    if (dot == NULL || dot[1] == '\0' || t == NULL)
        return DEFAULT_TYPE;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcasecmp(t->v[mid].ext, dot + 1);
        if (c == 0)
            return t->v[mid].type;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return DEFAULT_TYPE;
}
