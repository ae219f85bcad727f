/* Tested by tests/unit/check_http_static_cache.c. */
#include "http/static_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

int static_cache_open(int root, const char *rel)
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

/* ------------------------------------------------------------------ */
/* File metadata */

void static_cache_describe(struct static_file *fi, const struct stat *s, const char *type)
{
    fi->size = s->st_size;
    fi->mtime = s->st_mtim;
    fi->dev = s->st_dev;
    fi->ino = s->st_ino;
    fi->type = type;
    /* Nanoseconds too: a rewrite of the same size within one second must
     * not keep a strong validator. */
    snprintf(fi->etag, sizeof fi->etag, "\"%llx.%lx-%llx\"", (unsigned long long)s->st_mtim.tv_sec,
             (unsigned long)s->st_mtim.tv_nsec, (unsigned long long)s->st_size);
    http_date_format(s->st_mtim.tv_sec, fi->last_modified);
}

static bool same_file(const struct static_file *fi, const struct stat *s)
{
    return fi->size == s->st_size && fi->dev == s->st_dev && fi->ino == s->st_ino &&
           fi->mtime.tv_sec == s->st_mtim.tv_sec && fi->mtime.tv_nsec == s->st_mtim.tv_nsec;
}

/* ------------------------------------------------------------------ */
/* The cache */

void static_cache_init(struct static_cache *c, const struct cfg_cache *cfg, int root_fd)
{
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    c->root_fd = root_fd;
}

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void lru_unlink(struct static_cache *st, struct static_entry *e)
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

static void lru_push(struct static_cache *st, struct static_entry *e)
{
    e->prev = NULL;
    e->next = st->lru_head;
    if (st->lru_head)
        st->lru_head->prev = e;
    st->lru_head = e;
    if (st->lru_tail == NULL)
        st->lru_tail = e;
}

static void cache_evict(struct static_cache *st, struct static_entry *e)
{
    struct static_entry **pp = &st->buckets[e->hash % STATIC_CACHE_BUCKETS];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(st, e);
    st->bytes -= e->info.size + (e->gz_len > 0 ? e->gz_len : 0);
    free(e->key);
    free(e->data);
    free(e->gz);
    free(e);
}

static struct static_entry *cache_find(struct static_cache *st, const char *key, uint32_t h)
{
    for (struct static_entry *e = st->buckets[h % STATIC_CACHE_BUCKETS]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* A fresh entry for key, or NULL (not cached, or it changed and was dropped). */
const struct static_entry *static_cache_lookup(struct static_cache *st, const char *key,
                                               int64_t now)
{
    uint32_t h = hash_key(key);
    struct static_entry *e = cache_find(st, key, h);
    if (e == NULL)
        return NULL;
    if (now - e->checked >= st->cfg->valid) {
        int fd = static_cache_open(st->root_fd, key);
        struct stat s;
        bool fresh = fd >= 0 && fstat(fd, &s) == 0 && S_ISREG(s.st_mode) && same_file(&e->info, &s);
        if (fd >= 0)
            close(fd);
        if (!fresh) {
            cache_evict(st, e);
            return NULL;
        }
        e->checked = now;
        e->absent = 0;      /* look for the siblings again */
    }
    lru_unlink(st, e);
    lru_push(st, e);
    return e;
}

bool static_cache_fits(const struct static_cache *st, int64_t size)
{
    const struct cfg_cache *c = st->cfg;
    return c->size > 0 && size <= c->max_file && size <= c->size;
}

/* Read the whole file into a new entry. NULL on failure (serve from fd). */
const struct static_entry *static_cache_insert(struct static_cache *st, const char *key, int fd,
                                               const struct static_file *fi, int64_t now)
{
    struct static_entry *e = calloc(1, sizeof *e);
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
    while (st->lru_tail && st->bytes + fi->size > st->cfg->size)
        cache_evict(st, st->lru_tail);
    e->info = *fi;
    e->checked = now;
    e->hash = hash_key(key);
    e->hnext = st->buckets[e->hash % STATIC_CACHE_BUCKETS];
    st->buckets[e->hash % STATIC_CACHE_BUCKETS] = e;
    lru_push(st, e);
    st->bytes += fi->size;
    return e;
fail:
    free(e->data);
    free(e->key);
    free(e);
    return NULL;
}

void static_cache_keep_gzip(struct static_cache *st, const struct static_entry *ce, char *gz,
                            int64_t len)
{
    /* The entries are the cache's own: the const the lookups hand out
     * keeps handlers from changing them, not the cache. */
    struct static_entry *e = (struct static_entry *)(uintptr_t)ce;
    free(e->gz);
    if (e->gz_len > 0)
        st->bytes -= e->gz_len;
    e->gz = gz;
    e->gz_len = gz ? len : -1;
    if (gz)
        st->bytes += len;
}

void static_cache_clear(struct static_cache *st)
{
    while (st->lru_head)
        cache_evict(st, st->lru_head);
}
