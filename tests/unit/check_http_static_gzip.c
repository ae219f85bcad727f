/* On-the-fly gzip (static_gzip.c): which types and sizes a route's
 * `compress` takes, which types are compressed already, and deflate's
 * output (a gzip member that inflates to the input, kept only when
 * smaller). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "http/static_gzip.h"
#include "tap.h"

static char *types_v[] = { "text/html", "text/*", "application/json" };
static const struct cfg_strings types = { types_v, 3 };

START_TEST(listed_types)
{
    ck_assert(static_gzip_type_listed(&types, "text/html"));
    ck_assert(static_gzip_type_listed(&types, "text/html; charset=utf-8"));
    ck_assert(static_gzip_type_listed(&types, "TEXT/CSS"));
    ck_assert(static_gzip_type_listed(&types, "application/json"));
    ck_assert(!static_gzip_type_listed(&types, "application/jsonx"));
    ck_assert(!static_gzip_type_listed(&types, "application/javascript"));
    ck_assert(!static_gzip_type_listed(&types, "text/"));
    ck_assert(!static_gzip_type_listed(&types, "textual/plain"));
    ck_assert(!static_gzip_type_listed(&types, "image/png"));
}
END_TEST

START_TEST(compressed_types)
{
    ck_assert(static_gzip_type_compressed("image/png"));
    ck_assert(static_gzip_type_compressed("image/jpeg"));
    ck_assert(static_gzip_type_compressed("video/mp4"));
    ck_assert(static_gzip_type_compressed("application/gzip"));
    ck_assert(static_gzip_type_compressed("font/woff2"));
    ck_assert(static_gzip_type_compressed("application/zip; x=y"));
    ck_assert(!static_gzip_type_compressed("image/svg+xml"));
    ck_assert(!static_gzip_type_compressed("text/html"));
    ck_assert(!static_gzip_type_compressed("application/zipper"));
}
END_TEST

START_TEST(applies)
{
    struct cfg_compress c = { .types = types, .min_size = 1024, .level = 5 };
    ck_assert(static_gzip_applies(&c, "text/html", 1024));
    ck_assert(!static_gzip_applies(&c, "text/html", 1023));
    ck_assert(!static_gzip_applies(&c, "image/png", 100000));
    ck_assert(!static_gzip_applies(NULL, "text/html", 100000));
}
END_TEST

START_TEST(deflate_round_trip)
{
    size_t len = 20000;
    char *src = malloc(len);
    for (size_t i = 0; i < len; i++)
        src[i] = "abcdefgh <p>\n"[i % 13];
    size_t gz_len = 0;
    char *gz = static_gzip_deflate(src, len, 5, &gz_len);
    ck_assert_ptr_nonnull(gz);
    ck_assert_uint_lt(gz_len, len);
    ck_assert_uint_eq((unsigned char)gz[0], 0x1f);     /* the gzip magic */
    ck_assert_uint_eq((unsigned char)gz[1], 0x8b);
    char *back = malloc(len);
    z_stream z = { 0 };
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)gz_len;
    z.next_out = (Bytef *)back;
    z.avail_out = (uInt)len;
    ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    ck_assert_uint_eq(z.total_out, len);
    ck_assert(memcmp(back, src, len) == 0);
    inflateEnd(&z);
    free(back);
    free(gz);
    free(src);
}
END_TEST

START_TEST(deflate_keeps_only_smaller)
{
    /* random bytes do not shrink: not worth sending */
    char src[4096];
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof src; i++) {
        x = x * 1103515245u + 12345u;
        src[i] = (char)(x >> 16);
    }
    size_t gz_len = 99;
    ck_assert_ptr_null(static_gzip_deflate(src, sizeof src, 9, &gz_len));
    ck_assert_ptr_null(static_gzip_deflate("", 0, 5, &gz_len));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_static_gzip");
    TCase *t = tcase_create("gzip");
    tcase_add_test(t, listed_types);
    tcase_add_test(t, compressed_types);
    tcase_add_test(t, applies);
    tcase_add_test(t, deflate_round_trip);
    tcase_add_test(t, deflate_keeps_only_smaller);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
