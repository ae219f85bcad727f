/* Static files.
 *
 * Safety: the path reaching here is already decoded and normalised (no "..",
 * no NUL). It is opened relative to the root directory with openat2 and
 * RESOLVE_BENEATH, so neither ".." nor a symlink can lead outside the root
 * (the kernel refuses with EXDEV); where openat2 is missing, each component
 * is opened with O_NOFOLLOW instead, which refuses every symlink.
 *
 * Cache: files up to cache.max_file live in memory (per worker, LRU within
 * cache.size) with their headers' ingredients; an entry older than
 * cache.valid is checked with open+fstat before it is served again, so a
 * changed file is never served stale for longer than that. */
#include "http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "conn.h"
#include "http/autoindex.h"
#include "http/date.h"
#include "http/mime.h"
#include "http/refusal.h"
#include "log.h"

#define CACHE_BUCKETS 4096

struct file_info {
    int64_t size;
    struct timespec mtime;
    dev_t dev;
    ino_t ino;
    const char *type;
    char etag[48];
    char last_modified[HTTP_DATE_LEN + 1];
};

struct cache_entry {
    struct cache_entry *hnext;          /* hash chain */
    struct cache_entry *prev, *next;    /* LRU list, most recent first */
    uint32_t hash;
    char *key;                          /* path relative to the root */
    char *data;
    int64_t checked;                    /* ms when last confirmed fresh */
    struct file_info info;
};

struct http_static {
    const struct cfg_static *cfg;
    const struct mime_table *mime;
    int root_fd;
    struct cache_entry *buckets[CACHE_BUCKETS];
    struct cache_entry *lru_head, *lru_tail;
    int64_t bytes;
    /* The path below the root, and room to append an index name to it. */
    char key[PATH_MAX + NAME_MAX + 2];
};

/* ------------------------------------------------------------------ */
/* Opening beneath the root */

static int open_beneath_slow(int root, const char *rel)
{
    /* One component at a time, refusing every symlink. */
    int dir = dup(root);
    if (dir < 0)
        return -errno;
    char part[NAME_MAX + 1];
    const char *p = rel;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n > NAME_MAX) {
            close(dir);
            return -ENAMETOOLONG;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                    (slash && slash[1] ? O_DIRECTORY : 0);
        int fd = openat(dir, n ? part : ".", flags);
        int saved = errno;
        close(dir);
        if (fd < 0)
            return -saved;
        if (slash == NULL || slash[1] == '\0')
            return fd;
        dir = fd;
        p = slash + 1;
    }
}

static int open_beneath(int root, const char *rel)
{
    static int have_openat2 = 1;
    if (rel[0] == '\0')
        rel = ".";
    if (have_openat2) {
        struct open_how how = {
            .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, root, rel, &how, sizeof how);
        if (fd >= 0)
            return (int)fd;
        if (errno != ENOSYS)
            return -errno;
        have_openat2 = 0;   /* an old kernel: fall back for good */
    }
    return open_beneath_slow(root, rel);
}

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
static int refuse_errno(const struct http_static *st, struct conn *c,
                        const struct http_static_request *r, const char *call, int err,
                        const char *key)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        return 404;
    case EXDEV:         /* RESOLVE_BENEATH: the path tried to leave the root */
    case ELOOP:         /* a symbolic link herd does not follow */
        http_refusal_log(LOG_INFO, c, r->req, r->now_ms, 403,
                         "\"%s%s%s\" leads out of the root or through a symbolic link "
                         "that is not followed", st->cfg->root, root_sep(st), key);
        return 403;
    default:
        http_refusal_log(LOG_ERROR, c, r->req, r->now_ms, 0, "%s() \"%s%s%s\" failed (%d: %s)",
                         call, st->cfg->root, root_sep(st), key, err, strerror(err));
        return err == EACCES || err == EPERM ? 403 : 500;
    }
}

/* ------------------------------------------------------------------ */
/* File metadata */

static void fill_info(const struct http_static *st, struct file_info *fi, const struct stat *s,
                      const char *name)
{
    fi->size = s->st_size;
    fi->mtime = s->st_mtim;
    fi->dev = s->st_dev;
    fi->ino = s->st_ino;
    fi->type = mime_type(st->mime, name);
    /* Nanoseconds too: a rewrite of the same size within one second must
     * not keep a strong validator. */
    snprintf(fi->etag, sizeof fi->etag, "\"%llx.%lx-%llx\"", (unsigned long long)s->st_mtim.tv_sec,
             (unsigned long)s->st_mtim.tv_nsec, (unsigned long long)s->st_size);
    http_date_format(s->st_mtim.tv_sec, fi->last_modified);
}

static bool same_file(const struct file_info *fi, const struct stat *s)
{
    return fi->size == s->st_size && fi->dev == s->st_dev && fi->ino == s->st_ino &&
           fi->mtime.tv_sec == s->st_mtim.tv_sec && fi->mtime.tv_nsec == s->st_mtim.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* The cache */

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void lru_unlink(struct http_static *st, struct cache_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        st->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        st->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(struct http_static *st, struct cache_entry *e)
{
    e->prev = NULL;
    e->next = st->lru_head;
    if (st->lru_head)
        st->lru_head->prev = e;
    st->lru_head = e;
    if (st->lru_tail == NULL)
        st->lru_tail = e;
}

static void cache_evict(struct http_static *st, struct cache_entry *e)
{
    struct cache_entry **pp = &st->buckets[e->hash % CACHE_BUCKETS];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(st, e);
    st->bytes -= e->info.size;
    free(e->key);
    free(e->data);
    free(e);
}

static struct cache_entry *cache_find(struct http_static *st, const char *key, uint32_t h)
{
    for (struct cache_entry *e = st->buckets[h % CACHE_BUCKETS]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* A fresh entry for key, or NULL (not cached, or it changed and was dropped). */
static struct cache_entry *cache_lookup(struct http_static *st, const char *key, int64_t now)
{
    uint32_t h = hash_key(key);
    struct cache_entry *e = cache_find(st, key, h);
    if (e == NULL)
        return NULL;
    if (now - e->checked >= st->cfg->cache->valid) {
        int fd = open_beneath(st->root_fd, key);
        struct stat s;
        bool fresh = fd >= 0 && fstat(fd, &s) == 0 && S_ISREG(s.st_mode) && same_file(&e->info, &s);
        if (fd >= 0)
            close(fd);
        if (!fresh) {
            cache_evict(st, e);
            return NULL;
        }
        e->checked = now;
    }
    lru_unlink(st, e);
    lru_push(st, e);
    return e;
}

static bool cacheable(const struct http_static *st, int64_t size)
{
    const struct cfg_cache *c = st->cfg->cache;
    return c->size > 0 && size <= c->max_file && size <= c->size;
}

/* Read the whole file into a new entry. NULL on failure (serve from fd). */
static struct cache_entry *cache_insert(struct http_static *st, const char *key, int fd,
                                        const struct file_info *fi, int64_t now)
{
    struct cache_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->data = malloc(fi->size ? (size_t)fi->size : 1);
    e->key = strdup(key);
    if (e->data == NULL || e->key == NULL)
        goto fail;
    for (int64_t got = 0; got < fi->size;) {
        ssize_t n = pread(fd, e->data + got, (size_t)(fi->size - got), got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;  /* changed under us: let the fd path decide */
        got += n;
    }
    while (st->lru_tail && st->bytes + fi->size > st->cfg->cache->size)
        cache_evict(st, st->lru_tail);
    e->info = *fi;
    e->checked = now;
    e->hash = hash_key(key);
    e->hnext = st->buckets[e->hash % CACHE_BUCKETS];
    st->buckets[e->hash % CACHE_BUCKETS] = e;
    lru_push(st, e);
    st->bytes += fi->size;
    return e;
fail:
    free(e->data);
    free(e->key);
    free(e);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Conditional requests and ranges */

static bool parse_http_date(const char *s, size_t len, time_t *out)
{
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT",    /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT",    /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",         /* asctime */
    };
    char buf[64];
    if (len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm = { 0 };
        const char *end = strptime(buf, formats[i], &tm);
        if (end && *end == '\0') {
            *out = timegm(&tm);
            return true;
        }
    }
    return false;
}

/* Does the comma-separated entity-tag list match etag (weak comparison)? */
static bool etag_list_matches(const char *v, size_t len, const char *etag)
{
    size_t elen = strlen(etag);
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        if (i < len && v[i] == '*')
            return true;
        if (i + 2 <= len && v[i] == 'W' && v[i + 1] == '/')
            i += 2;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == elen && memcmp(v + start, etag, elen) == 0)
            return true;
    }
    return false;
}

static bool not_modified(const struct http_request *req, const struct file_info *fi)
{
    const struct http_header *inm = http_find_header(req, "if-none-match");
    if (inm)
        return etag_list_matches(inm->value, inm->value_len, fi->etag);
    const struct http_header *ims = http_find_header(req, "if-modified-since");
    time_t t;
    if (ims && parse_http_date(ims->value, ims->value_len, &t))
        return fi->mtime.tv_sec <= t;
    return false;
}

enum range_result { RANGE_NONE, RANGE_OK, RANGE_UNSATISFIABLE };

static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 18)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* One "bytes=first-last", "bytes=first-" or "bytes=-suffix". Anything else
 * (several ranges, other units, junk) is ignored: the whole file is sent. */
static enum range_result parse_range(const char *v, size_t len, int64_t size, int64_t *off,
                                     int64_t *end)
{
    if (len < 7 || strncasecmp(v, "bytes=", 6) != 0 || memchr(v, ',', len))
        return RANGE_NONE;
    const char *spec = v + 6;
    size_t n = len - 6;
    const char *dash = memchr(spec, '-', n);
    if (dash == NULL)
        return RANGE_NONE;
    size_t a_len = (size_t)(dash - spec), b_len = n - a_len - 1;
    uint64_t a, b;
    if (a_len == 0) {
        if (!parse_u64(dash + 1, b_len, &b))
            return RANGE_NONE;
        if (b == 0)
            return RANGE_UNSATISFIABLE;
        *off = (int64_t)b >= size ? 0 : size - (int64_t)b;
        *end = size;
        return size > 0 ? RANGE_OK : RANGE_UNSATISFIABLE;
    }
    if (!parse_u64(spec, a_len, &a))
        return RANGE_NONE;
    if (b_len == 0) {
        b = UINT64_MAX;
    } else if (!parse_u64(dash + 1, b_len, &b) || b < a) {
        return RANGE_NONE;
    }
    if ((int64_t)a >= size)
        return RANGE_UNSATISFIABLE;
    *off = (int64_t)a;
    *end = b >= (uint64_t)size ? size : (int64_t)b + 1;
    return RANGE_OK;
}

static bool if_range_allows(const struct http_request *req, const struct file_info *fi)
{
    const struct http_header *h = http_find_header(req, "if-range");
    if (h == NULL)
        return true;
    if (h->value_len > 0 && (h->value[0] == '"' || h->value[0] == 'W'))
        return h->value_len == strlen(fi->etag) && memcmp(h->value, fi->etag, h->value_len) == 0;
    return h->value_len == HTTP_DATE_LEN && memcmp(h->value, fi->last_modified, HTTP_DATE_LEN) == 0;
}

/* ------------------------------------------------------------------ */
/* Responses */

static struct http_head head_of(const struct http_static_request *r, int status)
{
    return (struct http_head){ .status = status, .date = r->date, .conn = r->conn_header };
}

/* 304 or 416 when the request's conditions say so; 0 to send the file. */
static int conditional(const struct http_static_request *r, const struct file_info *fi,
                       int64_t *off, int64_t *end)
{
    if (not_modified(r->req, fi))
        return 304;
    const struct http_header *range =
        r->method == HTTP_GET ? http_find_header(r->req, "range") : NULL;
    if (range && if_range_allows(r->req, fi)) {
        switch (parse_range(range->value, range->value_len, fi->size, off, end)) {
        case RANGE_OK:
            return 206;
        case RANGE_UNSATISFIABLE:
            return 416;
        default:
            break;
        }
    }
    return 200;
}

static void send_file(struct conn *c, const struct http_static_request *r,
                      const struct file_info *fi, const char *data, int fd,
                      struct http_static_result *res)
{
    char extra[512];
    int64_t off = 0, end = fi->size;
    int status = conditional(r, fi, &off, &end);
    struct http_head h = head_of(r, status);
    h.extra = extra;
    res->status = status;
    if (status == 304) {
        h.extra_len = (size_t)snprintf(extra, sizeof extra, "Last-Modified: %s\r\nETag: %s\r\n",
                                       fi->last_modified, fi->etag);
    } else if (status == 416) {
        h.extra_len = (size_t)snprintf(extra, sizeof extra, "Content-Range: bytes */%lld\r\n",
                                       (long long)fi->size);
    } else {
        h.type = fi->type;
        h.length = end - off;
        h.extra_len = (size_t)snprintf(extra, sizeof extra,
                                       "Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n",
                                       fi->last_modified, fi->etag);
        if (status == 206)
            h.extra_len += (size_t)snprintf(extra + h.extra_len, sizeof extra - h.extra_len,
                                            "Content-Range: bytes %lld-%lld/%lld\r\n",
                                            (long long)off, (long long)end - 1,
                                            (long long)fi->size);
    }
    bool body = status != 304 && status != 416 && r->method != HTTP_HEAD && end > off;
    if (body)
        res->body_bytes = (uint64_t)(end - off);
    /* Small: headers and body leave in one send. */
    http_response_send(c, &h, body && data ? data + off : NULL,
                       body && data ? (size_t)(end - off) : 0);
    if (body && !data) {
        conn_send_file(c, fd, off, end);
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

/* 301 to the path with a slash, the query kept. The head is sized from the
 * path and the query (both bounded by max_target), so nothing is cut. */
static void redirect_to_dir(struct conn *c, const struct http_static_request *r,
                            struct http_static_result *res)
{
    static const char body[] = "<!DOCTYPE html>\n<html><head><title>301 Moved Permanently</title>"
                               "</head>\n<body><h1>301 Moved Permanently</h1></body></html>\n";
    size_t q = r->query ? r->query_len : 0;
    size_t cap = 3 * r->path_len + q + 512;
    char *head = malloc(cap);
    char *loc = malloc(3 * r->path_len + 2);
    res->status = 500;
    if (head == NULL || loc == NULL)
        goto out;
    size_t n = url_encode_path(loc, r->path, r->path_len);
    loc[n++] = '/';
    loc[n] = '\0';
    int m = snprintf(head, cap, "Location: %s%s%.*s\r\n", loc, r->query ? "?" : "", (int)q,
                     r->query ? r->query : "");
    if (m < 0 || (size_t)m >= cap)
        goto out;
    struct http_head h = head_of(r, 301);
    h.type = "text/html";
    h.length = sizeof body - 1;
    h.extra = head;
    h.extra_len = (size_t)m;
    bool with_body = r->method != HTTP_HEAD;
    if (http_response_send(c, &h, body, with_body ? sizeof body - 1 : 0) < 0)
        goto out;
    res->body_bytes = with_body ? sizeof body - 1 : 0;
    res->status = 301;
out:
    if (res->status == 500)
        http_refusal_log(LOG_ERROR, c, r->req, r->now_ms, 500, "out of memory for a redirect");
    free(loc);
    free(head);
}

/* ------------------------------------------------------------------ */

static void serve_regular(struct http_static *st, struct conn *c,
                          const struct http_static_request *r, const char *key, int fd,
                          const struct stat *s, struct http_static_result *res)
{
    struct file_info fi;
    fill_info(st, &fi, s, key);
    if (cacheable(st, fi.size)) {
        struct cache_entry *e = cache_insert(st, key, fd, &fi, r->now_ms);
        if (e) {
            close(fd);
            send_file(c, r, &e->info, e->data, -1, res);
            return;
        }
    }
    send_file(c, r, &fi, NULL, fd, res);
}

static void serve_directory(struct http_static *st, struct conn *c,
                            const struct http_static_request *r, int dirfd, size_t key_len,
                            struct http_static_result *res)
{
    const struct cfg_static *cfg = st->cfg;
    for (size_t i = 0; i < cfg->index.n; i++) {
        int n = snprintf(st->key + key_len, sizeof st->key - key_len, "%s", cfg->index.v[i]);
        if (n < 0 || (size_t)n >= sizeof st->key - key_len)
            continue;
        struct cache_entry *e = cache_lookup(st, st->key, r->now_ms);
        if (e) {
            send_file(c, r, &e->info, e->data, -1, res);
            return;
        }
        int fd = open_beneath(st->root_fd, st->key);
        if (fd == -ENOENT || fd == -ENAMETOOLONG)   /* no such index file */
            continue;
        if (fd < 0) {
            res->status = refuse_errno(st, c, r, "open", -fd, st->key);
            return;
        }
        struct stat s;
        if (fstat(fd, &s) == 0 && S_ISREG(s.st_mode)) {
            serve_regular(st, c, r, st->key, fd, &s, res);
            return;
        }
        close(fd);
    }
    st->key[key_len] = '\0';
    if (!cfg->autoindex) {
        http_refusal_log(LOG_INFO, c, r->req, r->now_ms, 403,
                         "directory index of \"%s%s%s\" is forbidden", cfg->root, root_sep(st),
                         st->key);
        res->status = 403;
        return;
    }
    int err = http_autoindex_send(c, r, dirfd, res);
    if (err != 0)
        refuse_errno(st, c, r, "readdir", err, st->key);
}

void http_static_serve(struct http_static *st, struct conn *c,
                       const struct http_static_request *r, struct http_static_result *res)
{
    res->status = 0;
    res->body_bytes = 0;
    if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
        res->status = 405;
        return;
    }
    /* The key is the path below the root, without its leading slash. The
     * kernel names nothing of PATH_MAX bytes or more (ENAMETOOLONG, as for
     * a component over NAME_MAX): such a file cannot exist, so 404, decided
     * here so that the slow open path (component by component) agrees. */
    size_t key_len = r->path_len - 1;
    if (key_len >= PATH_MAX) {
        res->status = 404;
        return;
    }
    memcpy(st->key, r->path + 1, key_len);
    st->key[key_len] = '\0';
    bool wants_dir = key_len == 0 || st->key[key_len - 1] == '/';

    if (!wants_dir) {
        struct cache_entry *e = cache_lookup(st, st->key, r->now_ms);
        if (e) {
            send_file(c, r, &e->info, e->data, -1, res);
            return;
        }
    }
    int fd = open_beneath(st->root_fd, st->key);
    if (fd < 0) {
        res->status = refuse_errno(st, c, r, "open", -fd, st->key);
        return;
    }
    struct stat s;
    if (fstat(fd, &s) < 0) {
        res->status = refuse_errno(st, c, r, "fstat", errno, st->key);
        close(fd);
        return;
    }
    if (S_ISDIR(s.st_mode)) {
        if (!wants_dir)
            redirect_to_dir(c, r, res);
        else
            serve_directory(st, c, r, fd, key_len, res);
        close(fd);
        return;
    }
    if (!S_ISREG(s.st_mode) || wants_dir) {
        close(fd);
        res->status = wants_dir ? 404 : 403;
        if (!wants_dir)
            http_refusal_log(LOG_INFO, c, r->req, r->now_ms, 403,
                             "\"%s%s%s\" is not a regular file or a directory", st->cfg->root,
                             root_sep(st), st->key);
        return;
    }
    serve_regular(st, c, r, st->key, fd, &s, res);
}

struct http_static *http_static_new(const struct cfg_static *cfg, const struct mime_table *mime,
                                    char *err, size_t errcap)
{
    struct http_static *st = calloc(1, sizeof *st);
    if (st == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    st->cfg = cfg;
    st->mime = mime;
    st->root_fd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->root_fd < 0) {
        snprintf(err, errcap, "static root %s: %s", cfg->root, strerror(errno));
        free(st);
        return NULL;
    }
    return st;
}

void http_static_free(struct http_static *st)
{
    if (st == NULL)
        return;
    while (st->lru_head)
        cache_evict(st, st->lru_head);
    close(st->root_fd);
    free(st);
}
