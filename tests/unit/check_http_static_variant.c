/* The encodings a static route offers (static_variant.c): precompressed
 * siblings in the route's order (missing and stale ones skipped), gzip on
 * the fly made once per cache entry, their entity-tags, Range and the
 * absence of Accept-Encoding giving the file as it is, and the checks of
 * `precompressed`. */
#include <check.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "http/static_variant.h"
#include "tap.h"

static char dir[128];
static struct cfg_cache cache_cfg = { .valid = 1000, .max_file = 65536, .size = 1 << 20 };
static struct static_cache cache;
static struct http_header fields[2];
static struct http_request req;
static char text[8000];

static void write_file(const char *name, const char *data, size_t len, time_t mtime)
{
    char path[256];
    fixture_write(fixture_path(path, sizeof path, dir, name), data, len);
    struct timespec ts[2] = { { .tv_sec = mtime }, { .tv_sec = mtime } };
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void setup(void)
{
    fixture_mkdtemp(dir, sizeof dir, "variant");
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = "<p>hello, world</p>\n"[i % 20];
    write_file("a.html", text, sizeof text, 2000000000);
    write_file("a.html.gz", "GZ", 2, 2000000000);
    write_file("a.html.br", "BR", 2, 2000000001);
    write_file("b.html", text, sizeof text, 2000000000);
    write_file("b.html.gz", "OLD", 3, 1000000000);
    int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(root, 0);
    static_cache_init(&cache, &cache_cfg, root);
}

static void teardown(void)
{
    static_cache_clear(&cache);
    close(cache.root_fd);
    fixture_rmtree(dir);
}

static const struct http_request *head(const char *ae, const char *range)
{
    size_t n = 0;
    if (ae)
        fields[n++] = (struct http_header){ "Accept-Encoding", 15, ae, strlen(ae) };
    if (range)
        fields[n++] = (struct http_header){ "Range", 5, range, strlen(range) };
    req = (struct http_request){ .headers = fields, .num_headers = n };
    return &req;
}

/* Pick for key (opened, described, cached as the handler would). */
static bool pick_at(struct static_variants *sv, const char *key, const char *ae,
                    const char *range, int64_t now, struct static_variant *out)
{
    const struct static_entry *e = static_cache_lookup(&cache, key, now);
    if (e == NULL) {
        int fd = static_cache_open(cache.root_fd, key);
        ck_assert_int_ge(fd, 0);
        struct stat s;
        ck_assert_int_eq(fstat(fd, &s), 0);
        struct static_file fi;
        static_cache_describe(&fi, &s, "text/html");
        e = static_cache_insert(&cache, key, fd, &fi, now);
        close(fd);
        ck_assert_ptr_nonnull(e);
    }
    bool r = static_variants_pick(sv, &cache, head(ae, range), key, e, &e->info, now, out);
    if (r && out->fd >= 0)
        close(out->fd);
    return r;
}

static bool pick(struct static_variants *sv, const char *key, const char *ae, const char *range,
                 struct static_variant *out)
{
    return pick_at(sv, key, ae, range, 0, out);
}

static char *pre_br_gz[] = { "br", "gz" };
static char *types_v[] = { "text/html" };

START_TEST(precompressed_in_order)
{
    struct cfg_static st = { .precompressed = { pre_br_gz, 2 } };
    struct static_variants sv;
    static_variants_init(&sv, &st, NULL);
    struct static_variant v;
    ck_assert(pick(&sv, "a.html", "gzip, br", NULL, &v));
    ck_assert_str_eq(v.encoding, "br");
    ck_assert_int_eq(v.info.size, 2);
    ck_assert(memcmp(v.data, "BR", 2) == 0);
    ck_assert_str_eq(v.info.type, "text/html");
    ck_assert_ptr_nonnull(strstr(v.info.etag, "-br\""));
    ck_assert(pick(&sv, "a.html", "br;q=0.5, gzip", NULL, &v));
    ck_assert_str_eq(v.encoding, "gzip");
    ck_assert_ptr_nonnull(strstr(v.info.etag, "-gz\""));
    ck_assert(!pick(&sv, "a.html", "identity", NULL, &v));
    ck_assert(!pick(&sv, "a.html", NULL, NULL, &v));
    ck_assert(!pick(&sv, "a.html", "gzip, br", "bytes=0-1", &v));
    /* a stale .gz, no .br: the file as it is */
    ck_assert(!pick(&sv, "b.html", "gzip, br", NULL, &v));
}
END_TEST

/* A missing sibling is not looked for again until the file's entry is
 * checked (cache.valid later); then one made meanwhile is found. */
START_TEST(missing_sibling_remembered)
{
    struct cfg_static st = { .precompressed = { pre_br_gz, 2 } };
    struct static_variants sv;
    static_variants_init(&sv, &st, NULL);
    struct static_variant v;
    ck_assert(!pick_at(&sv, "b.html", "br", NULL, 0, &v));
    write_file("b.html.br", "NEWBR", 5, 2000000005);
    ck_assert(!pick_at(&sv, "b.html", "br", NULL, 500, &v));
    ck_assert(pick_at(&sv, "b.html", "br", NULL, 1000, &v));
    ck_assert_int_eq(v.info.size, 5);
}
END_TEST

START_TEST(on_the_fly_once)
{
    struct cfg_static st = { .precompressed = { NULL, 0 } };
    struct cfg_compress c = { .types = { types_v, 1 }, .min_size = 1024, .level = 5 };
    struct static_variants sv;
    static_variants_init(&sv, &st, &c);
    struct static_variant v;
    ck_assert(pick(&sv, "b.html", "gzip", NULL, &v));
    ck_assert_str_eq(v.encoding, "gzip");
    ck_assert_int_lt(v.info.size, (int64_t)sizeof text);
    const char *first = v.data;
    int64_t bytes = cache.bytes;
    ck_assert(pick(&sv, "b.html", "gzip", NULL, &v));
    ck_assert_ptr_eq(v.data, first);            /* kept, not made again */
    ck_assert_int_eq(cache.bytes, bytes);
    ck_assert(!pick(&sv, "b.html", "br", NULL, &v));
    struct static_file fi = { .size = 100, .type = "text/html" };
    ck_assert(!static_variants_negotiable(&sv, &cache, &fi));
    fi.size = 5000;
    ck_assert(static_variants_negotiable(&sv, &cache, &fi));
    fi.type = "image/png";
    ck_assert(!static_variants_negotiable(&sv, &cache, &fi));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_static_variant");
    TCase *t = tcase_create("variants");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, precompressed_in_order);
    tcase_add_test(t, missing_sibling_remembered);
    tcase_add_test(t, on_the_fly_once);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
