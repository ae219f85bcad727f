/* The file side of the static handler: opening a path beneath a root that
 * neither ".." nor a symbolic link can leave, a file's validators, and a
 * per-worker memory cache of small files (LRU within cache.size), whose
 * entries older than cache.valid are checked with open+fstat before they
 * are served again, so a changed file is never served stale for longer. */
#ifndef HERD_HTTP_STATIC_CACHE_H
#define HERD_HTTP_STATIC_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "http/date.h"

#define STATIC_CACHE_BUCKETS 4096

/* What a response about a file says. */
struct static_file {
    int64_t size;
    struct timespec mtime;
    dev_t dev;
    ino_t ino;
    const char *type;
    char etag[64];
    char last_modified[HTTP_DATE_LEN + 1];
};

struct static_entry {
    struct static_entry *hnext;         /* hash chain */
    struct static_entry *prev, *next;   /* LRU list, most recent first */
    uint32_t hash;
    char *key;                          /* path relative to the root */
    char *data;
    char *gz;                           /* data gzipped (compress), or NULL */
    int64_t gz_len;                     /* 0: not tried yet; -1: gzip does not pay */
    uint8_t absent;                     /* precompressed siblings found missing (or
                                           stale), by bit, until the next check */
    int64_t checked;                    /* ms when last confirmed fresh */
    struct static_file info;
};

struct static_cache {
    const struct cfg_cache *cfg;
    int root_fd;
    struct static_entry *buckets[STATIC_CACHE_BUCKETS];
    struct static_entry *lru_head, *lru_tail;
    int64_t bytes;
};

/* Open rel (relative, "" for the root itself) beneath root: openat2 with
 * RESOLVE_BENEATH, so neither ".." nor a symlink leads out (EXDEV); where
 * openat2 is missing, one component at a time with O_NOFOLLOW, which
 * refuses every symlink (ELOOP). Returns the fd or -errno. */
int static_cache_open(int root, const char *rel);

/* The validators of the file s (an ETag from mtime with nanoseconds and
 * size, Last-Modified) and its type. */
void static_cache_describe(struct static_file *fi, const struct stat *s, const char *type);

void static_cache_init(struct static_cache *c, const struct cfg_cache *cfg, int root_fd);
/* Drop every entry (the root fd stays the caller's). */
void static_cache_clear(struct static_cache *c);
/* Remember that the sibling `bit` of e's file (static_variant.c) is
 * missing, so that it is not looked for again until e is next checked
 * (cache.valid): a sibling made later is found as a changed file is. */
static inline void static_cache_note_absent(const struct static_entry *e, unsigned bit)
{
    ((struct static_entry *)(uintptr_t)e)->absent |= (uint8_t)bit;   /* the cache's own */
}

/* Keep gz[0..len) (the cache owns it from now on) as the gzip of e's data,
 * counted in the cache's bytes; gz NULL remembers that gzip does not pay
 * for e. The bytes go when e does (evicted, or found changed). */
void static_cache_keep_gzip(struct static_cache *c, const struct static_entry *e, char *gz,
                            int64_t len);
/* A fresh entry for key, or NULL (not cached, or it changed and was
 * dropped). now is the loop's clock in ms. */
const struct static_entry *static_cache_lookup(struct static_cache *c, const char *key,
                                               int64_t now);
/* May a file of this size be cached? */
bool static_cache_fits(const struct static_cache *c, int64_t size);
/* Read the whole file fd into a new entry (evicting the least recently
 * used). NULL on failure: serve from fd instead. */
const struct static_entry *static_cache_insert(struct static_cache *c, const char *key, int fd,
                                               const struct static_file *fi, int64_t now);

#endif
