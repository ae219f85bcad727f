/* Buffers and their per-worker free list. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tap.h"

START_TEST(get_put_reuses)
{
    struct buf_pool p;
    buf_pool_init(&p, 1024, 2);
    struct buf *a = buf_get(&p);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(a->cap, 1024);
    ck_assert_uint_eq(buf_len(a), 0);
    buf_put(&p, a);
    ck_assert_uint_eq(p.n_free, 1);
    struct buf *b = buf_get(&p);
    ck_assert_ptr_eq(a, b);             /* from the free list */
    ck_assert_uint_eq(p.n_free, 0);
    buf_put(&p, b);
    buf_pool_drain(&p);
    ck_assert_uint_eq(p.n_free, 0);
}
END_TEST

START_TEST(free_list_is_bounded)
{
    struct buf_pool p;
    buf_pool_init(&p, 64, 2);
    struct buf *b[4];
    for (int i = 0; i < 4; i++)
        b[i] = buf_get(&p);
    for (int i = 0; i < 4; i++)
        buf_put(&p, b[i]);
    ck_assert_uint_eq(p.n_free, 2);
    buf_put(&p, NULL);
    buf_pool_drain(&p);
}
END_TEST

START_TEST(append_consume_compact)
{
    struct buf_pool p;
    buf_pool_init(&p, 16, 4);
    struct buf *b = buf_get(&p);
    ck_assert_int_eq(buf_append(b, "hello world", 11), 0);
    ck_assert_uint_eq(buf_len(b), 11);
    buf_consume(b, 6);
    ck_assert_uint_eq(buf_len(b), 5);
    ck_assert_int_eq(memcmp(buf_head(b), "world", 5), 0);
    buf_compact(b);
    ck_assert_uint_eq(b->start, 0);
    ck_assert_int_eq(memcmp(buf_head(b), "world", 5), 0);
    ck_assert_uint_eq(buf_room(b), 11);
    buf_consume(b, 5);                  /* emptied: rewinds */
    ck_assert_uint_eq(b->start, 0);
    ck_assert_uint_eq(b->end, 0);
    buf_put(&p, b);
    buf_pool_drain(&p);
}
END_TEST

/* How a read fills a buffer: room reserved, bytes written at the tail,
 * then counted in. */
START_TEST(read_into_the_tail)
{
    struct buf_pool p;
    buf_pool_init(&p, 8, 4);
    struct buf *b = buf_get(&p);
    ck_assert_int_eq(buf_append(b, "abc", 3), 0);
    buf_consume(b, 1);
    ck_assert_ptr_eq(buf_tail(b), b->data + 3);
    ck_assert_int_eq(buf_reserve(b, 12), 0);
    ck_assert_uint_ge(buf_room(b), 12);
    memcpy(buf_tail(b), "defghijklmno", 12);
    b->end += 12;
    ck_assert_uint_eq(buf_len(b), 14);
    ck_assert_int_eq(memcmp(buf_head(b), "bcdefghijklmno", 14), 0);
    buf_put(&p, b);
    buf_pool_drain(&p);
}
END_TEST

START_TEST(grows_and_shrinks_back)
{
    struct buf_pool p;
    buf_pool_init(&p, 16, 4);
    struct buf *b = buf_get(&p);
    char big[1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    ck_assert_int_eq(buf_append(b, big, 10), 0);
    buf_consume(b, 3);
    ck_assert_int_eq(buf_append(b, big + 10, sizeof big - 10), 0);
    ck_assert_uint_eq(buf_len(b), sizeof big - 3);
    ck_assert_int_eq(memcmp(buf_head(b), big + 3, sizeof big - 3), 0);
    ck_assert_uint_ge(b->cap, sizeof big - 3);
    ck_assert_int_eq(buf_reserve(b, 5000), 0);
    ck_assert_uint_ge(buf_room(b), 5000);
    ck_assert_int_eq(memcmp(buf_head(b), big + 3, sizeof big - 3), 0);
    buf_put(&p, b);
    /* A grown buffer comes back at the pool size. */
    struct buf *c = buf_get(&p);
    ck_assert_uint_eq(c->cap, 16);
    buf_put(&p, c);
    buf_pool_drain(&p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("buf");
    tcase_add_test(tc, get_put_reuses);
    tcase_add_test(tc, free_list_is_bounded);
    tcase_add_test(tc, append_consume_compact);
    tcase_add_test(tc, read_into_the_tail);
    tcase_add_test(tc, grows_and_shrinks_back);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
