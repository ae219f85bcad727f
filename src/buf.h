/* Byte buffers borrowed from a per-worker free list only while a connection
 * has data: an idle connection holds none. Data lives in [start, end). */
#ifndef HERD_BUF_H
#define HERD_BUF_H

#include <stddef.h>

struct buf {
    char *data;
    size_t start, end, cap;
    struct buf *next;           /* free list link */
};

struct buf_pool {
    struct buf *free;
    size_t size;                /* capacity of pooled buffers */
    size_t n_free, max_free;
};

void buf_pool_init(struct buf_pool *p, size_t size, size_t max_free);
void buf_pool_drain(struct buf_pool *p);

/* An empty buffer of at least p->size bytes, or NULL when out of memory. */
struct buf *buf_get(struct buf_pool *p);
/* Return b to the pool (buffers grown beyond the pool size are freed). */
void buf_put(struct buf_pool *p, struct buf *b);

static inline size_t buf_len(const struct buf *b) { return b->end - b->start; }
static inline size_t buf_room(const struct buf *b) { return b->cap - b->end; }
static inline char *buf_head(const struct buf *b) { return b->data + b->start; }
static inline char *buf_tail(const struct buf *b) { return b->data + b->end; }

/* Drop n bytes from the front; an emptied buffer rewinds to offset 0. */
void buf_consume(struct buf *b, size_t n);
/* Move the data to offset 0 so that the whole room is at the end. */
void buf_compact(struct buf *b);
/* Ensure at least n bytes of room at the end. Returns 0 or -1. */
int buf_reserve(struct buf *b, size_t n);
/* Append n bytes (growing as needed). Returns 0 or -1. */
int buf_append(struct buf *b, const void *data, size_t n);

#endif
