/* The static file handler of a route: files under `root`, never outside
 * it (the path reaching here is decoded and normalised; static_cache.c
 * opens it beneath the root); conditional requests and single ranges
 * (static_cond.c); index files; directory listings (autoindex.c); small
 * files from the per-worker memory cache with their headers' ingredients,
 * large ones with sendfile. Errors (403, 404, 405, 500) are answered with
 * the server's error pages.
 * Tested, with its configuration section, by
 * tests/unit/check_http_handler_static.c and tests/integration/test_static.py. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_engine.h"
#include "conn.h"
#include "http/config.h"
#include "http/autoindex.h"
#include "http/handler.h"
#include "http/headers.h"
#include "http/mime.h"
#include "http/refusal.h"
#include "http/req.h"
#include "http/static_cache.h"
#include "http/static_cond.h"
#include "http/static_variant.h"

struct http_static {
    const struct cfg_static *cfg;
    const struct mime_table *mime;
    bool log_not_found;                 /* the route's log_not_found */
    /* Why the last path tried was not found (errno, 0: not a missing
     * file) and by which call: what a 404 logs with log_not_found. */
    int miss_err;
    const char *miss_call;
    struct static_cache cache;
    struct static_variants variants;    /* encodings on offer (static_variant.c) */
    /* The path below the root, and room to append an index name to it. */
    char key[PATH_MAX + NAME_MAX + 2];
};

/* "/srv/www" and "a/b" as "/srv/www/a/b", for the error log. */
static const char *root_sep(const struct http_static *st)
{
    size_t n = strlen(st->cfg->root);
    return n > 0 && st->cfg->root[n - 1] == '/' ? "" : "/";
}

/* The answer to a failed call on key, logged when an administrator must
 * see it: the file system refusing the workers (or failing) at error, as
 * nginx writes it; a path that leads out of the root at info. A path that
 * does not exist (or cannot, being too long) is a plain 404. */
static int refuse_errno(struct http_static *st, const struct http_req *req,
                        const char *call, int err, const char *key)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        st->miss_err = err;
        st->miss_call = call;
        return 404;
    case EXDEV:         /* RESOLVE_BENEATH: the path tried to leave the root */
    case ELOOP:         /* a symbolic link herd does not follow */
        http_req_refusal(req, LOG_INFO, 403, "\"%s%s%s\" leads out of the root or through a "
                         "symbolic link that is not followed", st->cfg->root, root_sep(st), key);
        return 403;
    default:
        http_req_refusal(req, LOG_ERROR, 0, "%s() \"%s%s%s\" failed (%d: %s)", call,
                         st->cfg->root, root_sep(st), key, err, strerror(err));
        return err == EACCES || err == EPERM ? 403 : 500;
    }
}

/* ------------------------------------------------------------------ */
/* Responses */

/* 304, 416, 206 or 200, as the request's conditions and Range say. */
static int conditional(const struct http_req *req, const struct static_file *fi,
                       int64_t *off, int64_t *end)
{
    if (static_cond_not_modified(req->head, fi))
        return 304;
    const struct http_header *range =
        req->f.method == HTTP_GET ? http_find_header(req->head, "range") : NULL;
    if (range == NULL || !static_cond_if_range(req->head, fi))
        return 200;
    switch (static_cond_range(range->value, range->value_len, fi->size, off, end)) {
    case STATIC_RANGE_OK:
        return 206;
    case STATIC_RANGE_UNSATISFIABLE:
        return 416;
    default:
        return 200;
    }
}

/* "Vary" for a response that depends on Accept-Encoding, and the
 * Content-Encoding of an encoded one (which is never sent in ranges). */
static size_t encoding_lines(char *out, size_t cap, const char *encoding, bool vary)
{
    size_t n = 0;
    if (vary)
        n += (size_t)snprintf(out, cap, "Vary: Accept-Encoding\r\n");
    if (encoding)
        n += (size_t)snprintf(out + n, cap - n, "Content-Encoding: %s\r\n", encoding);
    return n;
}

/* The file fi, its bytes from data (the cache) or from fd (sendfile), in
 * encoding (NULL: as it is); vary when another request may get other
 * bytes. */
static void send_file(struct http_req *req, const struct static_file *fi, const char *data, int fd,
                      const char *encoding, bool vary)
{
    char extra[512];
    int64_t off = 0, end = fi->size;
    struct http_head h = { .status = conditional(req, fi, &off, &end), .extra = extra };
    if (vary || encoding)       /* the plain file's path pays for neither */
        h.extra_len = encoding_lines(extra, sizeof extra, h.status == 304 ? NULL : encoding, vary);
    if (h.status == 304) {
        h.extra_len += (size_t)snprintf(extra + h.extra_len, sizeof extra - h.extra_len,
                                        "Last-Modified: %s\r\nETag: %s\r\n",
                                        fi->last_modified, fi->etag);
    } else if (h.status == 416) {
        h.extra_len += (size_t)snprintf(extra + h.extra_len, sizeof extra - h.extra_len,
                                        "Content-Range: bytes */%lld\r\n", (long long)fi->size);
    } else {
        h.type = fi->type;
        h.length = end - off;
        /* An encoded response is never sent in ranges: no Accept-Ranges. */
        if (encoding)
            h.extra_len += (size_t)snprintf(extra + h.extra_len, sizeof extra - h.extra_len,
                                            "Last-Modified: %s\r\nETag: %s\r\n",
                                            fi->last_modified, fi->etag);
        else
            h.extra_len += (size_t)snprintf(extra + h.extra_len, sizeof extra - h.extra_len,
                                            "Last-Modified: %s\r\nETag: %s\r\n"
                                            "Accept-Ranges: bytes\r\n",
                                            fi->last_modified, fi->etag);
        if (h.status == 206)
            h.extra_len += (size_t)snprintf(extra + h.extra_len, sizeof extra - h.extra_len,
                                            "Content-Range: bytes %lld-%lld/%lld\r\n",
                                            (long long)off, (long long)end - 1,
                                            (long long)fi->size);
    }
    const struct cfg_static *cfg = ((const struct http_static *)req->conf)->cfg;
    if (cfg->expires_s != HTTP_EXPIRES_OFF && h.status != 416)
        h.extra_len += http_expires_write(cfg->expires_s, http_req_time(req), extra + h.extra_len,
                                          sizeof extra - h.extra_len);
    bool body = h.status == 200 || h.status == 206;
    /* Small: headers and body leave in one send. */
    if (http_req_respond(req, &h, body && data ? data + off : NULL,
                         body && data ? (size_t)(end - off) : 0) == 0 && body && !data) {
        http_req_send_file(req, fd, off, end);
        return;
    }
    if (fd >= 0)
        close(fd);
}

/* The path as a URI path: out must hold 3 * len bytes. */
static size_t url_encode_path(char *out, const char *p, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~/!$&'()*+,;=:@", ch)) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    return o;
}

/* 301 to the path with a slash, the query kept. The Location line is sized
 * from the path and the query (both bounded by max_target), so nothing is
 * cut. Returns 0, or 500 when out of memory. */
static int redirect_to_dir(struct http_req *req)
{
    static const char body[] = "<!DOCTYPE html>\n<html><head><title>301 Moved Permanently</title>"
                               "</head>\n<body><h1>301 Moved Permanently</h1></body></html>\n";
    size_t q;
    const char *query = http_req_query(req, &q);
    size_t cap = 3 * req->path_len + q + 32;
    char *location = malloc(cap);
    if (location == NULL) {
        http_req_refusal(req, LOG_ERROR, 500, "out of memory for a redirect");
        return 500;
    }
    size_t n = (size_t)snprintf(location, cap, "Location: ");
    n += url_encode_path(location + n, req->path, req->path_len);
    n += (size_t)snprintf(location + n, cap - n, "/%s%.*s\r\n", query ? "?" : "", (int)q,
                          query ? query : "");
    struct http_head h = { .status = 301, .type = "text/html", .length = sizeof body - 1,
                           .extra = location, .extra_len = n };
    http_req_respond(req, &h, body, sizeof body - 1);
    free(location);
    return 0;
}

/* The file key (held by cache entry e, or open as fd) in the encoding
 * the client prefers among those the route offers, else as it is. */
static __attribute__((noinline)) void answer_negotiated(struct http_static *st,
                                                        struct http_req *req, const char *key,
                                                        const struct static_entry *e,
                                                        const struct static_file *fi, int fd)
{
    bool vary = static_variants_negotiable(&st->variants, &st->cache, fi);
    struct static_variant v;
    if (vary && static_variants_pick(&st->variants, &st->cache, req->head, key, e, fi,
                                     http_req_now(req), &v)) {
        if (fd >= 0)
            close(fd);
        send_file(req, &v.info, v.data, v.fd, v.encoding, true);
        return;
    }
    send_file(req, fi, e ? e->data : NULL, e ? -1 : fd, NULL, vary);
}

/* The file, negotiated when the route offers encodings. Always inlined:
 * most routes offer none, and their files (the hot path) pay one test. */
static inline __attribute__((always_inline)) void
answer_file(struct http_static *st, struct http_req *req, const char *key,
            const struct static_entry *e, const struct static_file *fi, int fd)
{
    if (static_variants_offered(&st->variants))
        answer_negotiated(st, req, key, e, fi, fd);
    else
        send_file(req, fi, e ? e->data : NULL, e ? -1 : fd, NULL, false);
}

/* ------------------------------------------------------------------ */
/* Serving a path */

static void serve_regular(struct http_static *st, struct http_req *req, const char *key, int fd,
                          const struct stat *s)
{
    struct static_file fi;
    static_cache_describe(&fi, s, mime_type(st->mime, key));
    if (static_cache_fits(&st->cache, fi.size)) {
        const struct static_entry *e =
            static_cache_insert(&st->cache, key, fd, &fi, http_req_now(req));
        if (e) {
            close(fd);
            answer_file(st, req, key, e, &e->info, -1);
            return;
        }
    }
    answer_file(st, req, key, NULL, &fi, fd);
}

/* An index file of the directory, or its listing. Returns 0 or the error
 * status to answer. */
static int serve_directory(struct http_static *st, struct http_req *req, int dirfd,
                           size_t key_len)
{
    const struct cfg_static *cfg = st->cfg;
    for (size_t i = 0; i < cfg->index.n; i++) {
        int n = snprintf(st->key + key_len, sizeof st->key - key_len, "%s", cfg->index.v[i]);
        if (n < 0 || (size_t)n >= sizeof st->key - key_len)
            continue;
        const struct static_entry *e = static_cache_lookup(&st->cache, st->key, http_req_now(req));
        if (e) {
            answer_file(st, req, st->key, e, &e->info, -1);
            return 0;
        }
        int fd = static_cache_open(st->cache.root_fd, st->key);
        if (fd == -ENOENT || fd == -ENAMETOOLONG)   /* no such index file */
            continue;
        if (fd < 0)
            return refuse_errno(st, req, "open", -fd, st->key);
        struct stat s;
        if (fstat(fd, &s) == 0 && S_ISREG(s.st_mode)) {
            serve_regular(st, req, st->key, fd, &s);
            return 0;
        }
        close(fd);
    }
    st->key[key_len] = '\0';
    if (!cfg->autoindex) {
        http_req_refusal(req, LOG_INFO, 403, "directory index of \"%s%s%s\" is forbidden",
                         cfg->root, root_sep(st), st->key);
        return 403;
    }
    int err = http_autoindex_send(req, dirfd, cfg->hidden);
    if (err == 0)
        return 0;
    refuse_errno(st, req, "readdir", err, st->key);
    return 500;
}

/* What the opened path fd (of type s) is answered with: a redirect or a
 * directory, a file, or an error status. */
static int serve_opened(struct http_static *st, struct http_req *req, int fd,
                        const struct stat *s, size_t key_len, bool wants_dir)
{
    if (S_ISDIR(s->st_mode)) {
        int status = wants_dir ? serve_directory(st, req, fd, key_len) : redirect_to_dir(req);
        close(fd);
        return status;
    }
    if (!S_ISREG(s->st_mode) || wants_dir) {
        close(fd);
        if (wants_dir) {        /* "file/": as open(2) says of it */
            st->miss_err = ENOTDIR;
            st->miss_call = "open";
            return 404;
        }
        http_req_refusal(req, LOG_INFO, 403, "\"%s%s%s\" is not a regular file or a directory",
                         st->cfg->root, root_sep(st), st->key);
        return 403;
    }
    serve_regular(st, req, st->key, fd, s);
    return 0;
}

/* Whether a segment of the (decoded, normalised) path starts with '.':
 * ".git/config", ".htpasswd", ".env" are a site's secrets far more often
 * than its content. The well-known URIs at the root (RFC 8615) are not
 * hidden: ACME challenges and security.txt live there. */
static bool names_hidden(const char *path, size_t len)
{
    static const char wk[] = "/.well-known";
    size_t skip = sizeof wk - 1;
    if (len >= skip && memcmp(path, wk, skip) == 0 && (len == skip || path[skip] == '/')) {
        path += skip;
        len -= skip;
    }
    return memmem(path, len, "/.", 2) != NULL;
}

/* The file or directory path[0..len) (decoded, normalised, from its
 * leading slash). Returns 0 when answered, else the error status. */
static int serve_path(struct http_static *st, struct http_req *req, const char *path, size_t len)
{
    /* The key is the path below the root, without its leading slash. The
     * kernel names nothing of PATH_MAX bytes or more (ENAMETOOLONG, as for
     * a component over NAME_MAX): such a file cannot exist, so 404, decided
     * here so that the slow open path (component by component) agrees. */
    size_t key_len = len - 1;
    if (key_len >= PATH_MAX)
        return 404;
    memcpy(st->key, path + 1, key_len);
    st->key[key_len] = '\0';
    bool wants_dir = key_len == 0 || st->key[key_len - 1] == '/';
    if (!wants_dir) {
        const struct static_entry *e = static_cache_lookup(&st->cache, st->key, http_req_now(req));
        if (e) {
            answer_file(st, req, st->key, e, &e->info, -1);
            return 0;
        }
    }
    int fd = static_cache_open(st->cache.root_fd, st->key);
    if (fd < 0)
        return refuse_errno(st, req, "open", -fd, st->key);
    struct stat s;
    if (fstat(fd, &s) < 0) {
        int status = refuse_errno(st, req, "fstat", errno, st->key);
        close(fd);
        return status;
    }
    return serve_opened(st, req, fd, &s, key_len, wants_dir);
}

/* Returns 0 when answered, else the error status to answer. A path that
 * does not exist is answered with the fallback when there is one (a
 * single-page app's index, which routes in the browser); hidden names and
 * refusals (403) are not. */
static int serve(struct http_static *st, struct http_req *req)
{
    if (req->f.method != HTTP_GET && req->f.method != HTTP_HEAD)
        return 405;
    if (!st->cfg->hidden && names_hidden(req->path, req->path_len))
        return 404;
    const char *path = req->path, *fb = st->cfg->fallback;
    size_t len = req->path_len;
    for (;;) {      /* one call site: serve_path stays inlined */
        int status = serve_path(st, req, path, len);
        if (status != 404 || fb == NULL || path == fb)
            return status;
        path = fb;
        len = strlen(fb);
    }
}

/* log_not_found: the 404 of a file that does not exist, as nginx logs it,
 * at error level (and within the refusal log's budget). Hidden names and
 * paths too long to exist are refusals, not missing files: not logged. */
static void log_missing(struct http_static *st, const struct http_req *req)
{
    if (st->miss_err == 0)
        return;
    http_req_refusal(req, LOG_ERROR, 0, "%s() \"%s%s%s\" failed (%d: %s)", st->miss_call,
                     st->cfg->root, root_sep(st), st->key, st->miss_err, strerror(st->miss_err));
}

/* ------------------------------------------------------------------ */
/* Configuration: the route's `static` group */

static int validate_cache(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_cache *c = obj;
    if (c->max_file > c->size) {
        const config_setting_t *at = config_setting_get_member(group, "max_file");
        return cfg_fail(ctx, at ? at : group, "'max_file' is larger than the cache 'size'");
    }
    return 0;
}

static const struct cfg_key cache_keys[] = {
    { .name = "valid", .type = CT_DURATION, .offset = CFG_AT(cfg_cache, valid), .def = "1s",
      .min = 0, .max = CFG_MS(3600) },
    { .name = "max_file", .type = CT_SIZE, .offset = CFG_AT(cfg_cache, max_file), .def = "64k",
      .min = 0, .max = 64 * 1024 * 1024 },
    { .name = "size", .type = CT_SIZE, .offset = CFG_AT(cfg_cache, size), .def = "16m",
      .min = 0, .max = 1024LL * 1024 * 1024 },
};

static const struct cfg_section cache_section = {
    "cache", sizeof(struct cfg_cache), cache_keys, CFG_NKEYS(cache_keys), validate_cache,
};

/* The fallback is a path of the route's tree: absolute, without "." or
 * ".." segments (nothing is normalised for it). */
static int check_fallback(struct cfg_ctx *ctx, const config_setting_t *group,
                          const struct cfg_static *st)
{
    const char *f = st->fallback;
    if (f == NULL)
        return 0;
    bool ok = f[0] == '/' && strlen(f) < PATH_MAX && strstr(f, "//") == NULL;
    for (const char *p = f; ok && (p = strstr(p, "/.")) != NULL; p++)
        ok = p[2] != '\0' && p[2] != '/' && !(p[2] == '.' && (p[3] == '\0' || p[3] == '/'));
    if (!ok)
        return cfg_fail(ctx, config_setting_get_member(group, "fallback"),
                        "'fallback' must be an absolute path such as \"/index.html\", "
                        "without \".\" or \"..\" segments");
    return 0;
}

static int validate_static(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_static *st = obj;
    if (st->root == NULL)
        return cfg_fail(ctx, group, "static handler has no 'root'");
    if (st->root[0] != '/')
        return cfg_fail(ctx, group, "static 'root' must be an absolute path");
    struct stat sb;
    if (stat(st->root, &sb) < 0)
        return cfg_fail(ctx, config_setting_get_member(group, "root"), "static root %s: %s",
                        st->root, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return cfg_fail(ctx, config_setting_get_member(group, "root"),
                        "static root %s is not a directory", st->root);
    for (size_t i = 0; i < st->index.n; i++)
        if (st->index.v[i][0] == '\0' || strchr(st->index.v[i], '/'))
            return cfg_fail(ctx, config_setting_get_member(group, "index"),
                            "index name '%s' must be a plain file name", st->index.v[i]);
    if (http_expires_parse(st->expires, &st->expires_s) < 0)
        return cfg_fail(ctx, config_setting_get_member(group, "expires"),
                        "'expires' must be \"off\", \"epoch\", \"max\" or a duration such as "
                        "\"1h\" (up to 10 years), not \"%s\"", st->expires);
    if (static_variants_check(ctx, group, st) < 0 || check_fallback(ctx, group, st) < 0)
        return -1;
    if (st->cache == NULL) {
        /* The handler always has a cache: the group's defaults. */
        if ((st->cache = calloc(1, sizeof *st->cache)) == NULL)
            return cfg_fail(ctx, group, "out of memory");
        return cfg_defaults(ctx, &cache_section, st->cache, &st->where);
    }
    return 0;
}

static const struct cfg_key static_keys[] = {
    { .name = "root", .type = CT_STRING, .offset = CFG_AT(cfg_static, root) },
    { .name = "index", .type = CT_STRINGS, .offset = CFG_AT(cfg_static, index),
      .def = "index.html" },
    { .name = "autoindex", .type = CT_BOOL, .offset = CFG_AT(cfg_static, autoindex),
      .def = "false" },
    { .name = "hidden", .type = CT_BOOL, .offset = CFG_AT(cfg_static, hidden), .def = "false" },
    { .name = "expires", .type = CT_STRING, .offset = CFG_AT(cfg_static, expires),
      .def = "off" },
    { .name = "cache", .type = CT_GROUP, .offset = CFG_AT(cfg_static, cache),
      .sub = &cache_section },
    { .name = "precompressed", .type = CT_STRINGS, .offset = CFG_AT(cfg_static, precompressed) },
    { .name = "fallback", .type = CT_STRING, .offset = CFG_AT(cfg_static, fallback) },
};

const struct cfg_section http_static_config = {
    "static", sizeof(struct cfg_static), static_keys, CFG_NKEYS(static_keys), validate_static,
};

/* ------------------------------------------------------------------ */
/* The handler */

static enum http_start start(struct http_req *req)
{
    struct http_static *st = (struct http_static *)req->conf;
    st->miss_err = 0;
    int status = serve(st, req);
    if (status == 404 && st->log_not_found)
        log_missing(st, req);
    if (status != 0)
        http_req_error(req, status);
    return HTTP_ANSWERED;
}

static const void *section(const struct cfg_route *cr)
{
    return cr->stat;
}

static void *build(const void *sec, const struct http_handler_env *env, char *err, size_t errcap)
{
    const struct cfg_static *cfg = sec;
    struct http_static *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    st->cfg = cfg;
    st->mime = env->mime;
    st->log_not_found = env->route && env->route->log_not_found;
    int root = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        snprintf(err, errcap, "static root %s: %s", cfg->root, strerror(errno));
        free(st);
        return NULL;
    }
    static_cache_init(&st->cache, cfg->cache, root);
    static_variants_init(&st->variants, cfg, env->route ? env->route->compress : NULL);
    return st;
}

static void destroy(void *state)
{
    struct http_static *st = state;
    if (st == NULL)
        return;
    static_cache_clear(&st->cache);
    close(st->cache.root_fd);
    free(st);
}

const struct http_handler http_handler_static = {
    .name = "static",
    .section = section,
    .build = build,
    .free = destroy,
    .start = start,
};
