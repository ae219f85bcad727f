#include "buf.h"

#include <stdlib.h>
#include <string.h>

void buf_pool_init(struct buf_pool *p, size_t size, size_t max_free)
{
    p->free = NULL;
    p->size = size;
    p->n_free = 0;
    p->max_free = max_free;
}

void buf_pool_drain(struct buf_pool *p)
{
    while (p->free) {
        struct buf *b = p->free;
        p->free = b->next;
        free(b);
    }
    p->n_free = 0;
}

struct buf *buf_get(struct buf_pool *p)
{
    struct buf *b = p->free;
    if (b) {
        p->free = b->next;
        p->n_free--;
    } else {
        /* Header and data in one allocation. */
        b = malloc(sizeof *b + p->size);
        if (b == NULL)
            return NULL;
        b->data = (char *)(b + 1);
        b->cap = p->size;
    }
    b->start = b->end = 0;
    b->next = NULL;
    return b;
}

void buf_put(struct buf_pool *p, struct buf *b)
{
    if (b == NULL)
        return;
    if (b->data != (char *)(b + 1)) {
        /* Grown beyond the pool size: give the big block back. */
        free(b->data);
        b->data = (char *)(b + 1);
        b->cap = p->size;
    }
    if (p->n_free >= p->max_free) {
        free(b);
        return;
    }
    b->next = p->free;
    p->free = b;
    p->n_free++;
}

void buf_consume(struct buf *b, size_t n)
{
    b->start += n;
    if (b->start >= b->end)
        b->start = b->end = 0;
}

void buf_compact(struct buf *b)
{
    if (b->start == 0)
        return;
    size_t len = buf_len(b);
    memmove(b->data, b->data + b->start, len);
    b->start = 0;
    b->end = len;
}

int buf_reserve(struct buf *b, size_t n)
{
    if (buf_room(b) >= n)
        return 0;
    buf_compact(b);
    if (buf_room(b) >= n)
        return 0;
    size_t cap = b->cap;
    while (cap - b->end < n)
        cap *= 2;
    char *data;
    if (b->data == (char *)(b + 1)) {
        data = malloc(cap);
        if (data == NULL)
            return -1;
        memcpy(data, b->data, b->end);
    } else {
        data = realloc(b->data, cap);
        if (data == NULL)
            return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(b->data + b->end, data, n);
    b->end += n;
    return 0;
}
