/* The `static` handler (handler_static.c) through the real server code
 * (http_fixture.h), on a tree in the fixture's directory: files with their
 * validators, conditional requests and ranges, directories (redirect,
 * index file, listing or 403), what stays beneath the root, the memory
 * cache as the handler uses it, large files by sendfile, methods; and its
 * section's defaults and checks, each at FILE:LINE. (The machinery alone:
 * check_http_static_cache.c, check_http_static_cond.c; more over a real
 * worker: tests/integration/test_static.py.) */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fixture.h"
#include "http/config.h"
#include "http/handler.h"
#include "http_fixture.h"
#include "tap.h"

static const char conf[] =
    "servers = (\n"
    " { listen = [ \"127.0.0.1:1\" ];\n"
    "   routes = ( { path = \"/\";\n"
    "                static = { root = \"@DIR@/www\"; cache = { valid = \"1h\"; }; }; } ); },\n"
    " { listen = [ \"127.0.0.1:1\" ]; server_names = [ \"auto.test\" ];\n"
    "   routes = ( { path = \"/\"; static = { root = \"@DIR@/www\"; autoindex = true;\n"
    "                index = [ \"none.html\" ]; cache = { max_file = 0; }; }; } ); }\n"
    ");\n";

#define BIG (100 * 1000)            /* over cache.max_file (64k): sendfile */

static char big[BIG];

static void put(const char *name, const char *data, size_t len)
{
    char path[256], rel[128];
    snprintf(rel, sizeof rel, "www/%s", name);
    fixture_write(fixture_path(path, sizeof path, hx.dir, rel), data, len);
}

static void dir(const char *name)
{
    char path[256], rel[128];
    snprintf(rel, sizeof rel, "www%s%s", name[0] ? "/" : "", name);
    ck_assert_int_eq(mkdir(fixture_path(path, sizeof path, hx.dir, rel), 0755), 0);
}

static void setup(void)
{
    hx_mkdir();
    dir("");
    dir("sub");
    dir("empty");
    dir("s p");
    put("a.txt", "hello\n", 6);
    put("sub/index.html", "<p>index</p>\n", 13);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)('0' + i % 43);
    put("big.bin", big, BIG);
    char path[256];
    ck_assert_int_eq(symlink("/etc/passwd", fixture_path(path, sizeof path, hx.dir, "www/out")), 0);
    hx_load(conf);
}

static void teardown(void)
{
    hx_stop();
}

static void get(const char *req)
{
    hx_forget();
    hx_ask(req, hx_one_response);
}

static bool got_head(void) { return strstr(hx.in, "\r\n\r\n") != NULL; }

/* A HEAD request's answer: no body to wait for. */
static void head(const char *req)
{
    hx_forget();
    hx_ask(req, got_head);
}

static const char *body(void)
{
    return strstr(hx.in, "\r\n\r\n") + 4;
}

/* The value of header name in the answer (up to its line end). */
static const char *header(const char *name)
{
    static char value[256];
    char line[64];
    snprintf(line, sizeof line, "\r\n%s: ", name);
    const char *p = strstr(hx.in, line);
    ck_assert_msg(p != NULL, "no %s in:\n%s", name, hx.in);
    p += strlen(line);
    snprintf(value, sizeof value, "%.*s", (int)strcspn(p, "\r"), p);
    return value;
}

/* ------------------------------------------------------------------ */
/* Files */

START_TEST(file_with_its_validators)
{
    get("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    ck_assert_str_eq(header("Content-Type"), "text/plain; charset=utf-8");
    ck_assert_str_eq(header("Content-Length"), "6");
    ck_assert_str_eq(header("Accept-Ranges"), "bytes");
    ck_assert_int_eq(header("ETag")[0], '"');
    ck_assert_str_eq(header("Last-Modified") + strlen(header("Last-Modified")) - 4, " GMT");
    ck_assert_str_eq(body(), "hello\n");
}
END_TEST

START_TEST(head_of_a_file)
{
    hx_ask("HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
           hx_all_read);
    ck_assert(hx_run_until(hx_one_response));
    ck_assert_str_eq(header("Content-Length"), "6");
    ck_assert_int_eq(strncmp(body(), "HTTP/1.1 404 ", 13), 0);     /* no body between */
}
END_TEST

START_TEST(not_modified_by_etag_or_date)
{
    char etag[64], date[64], req[256];
    get("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    snprintf(etag, sizeof etag, "%s", header("ETag"));
    snprintf(date, sizeof date, "%s", header("Last-Modified"));
    snprintf(req, sizeof req, "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n", etag);
    get(req);
    hx_assert_first("HTTP/1.1 304 Not Modified\r\n");
    ck_assert_str_eq(header("ETag"), etag);
    ck_assert_str_eq(header("Last-Modified"), date);
    ck_assert_ptr_null(strstr(hx.in, "Content-Length"));
    ck_assert_str_eq(body(), "");
    snprintf(req, sizeof req, "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: %s\r\n\r\n",
             date);
    get(req);
    hx_assert_first("HTTP/1.1 304 ");
}
END_TEST

START_TEST(ranges_206_and_416)
{
    get("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\n");
    hx_assert_first("HTTP/1.1 206 Partial Content\r\n");
    ck_assert_str_eq(header("Content-Range"), "bytes 1-3/6");
    ck_assert_str_eq(header("Content-Length"), "3");
    ck_assert_str_eq(body(), "ell");
    get("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=6-\r\n\r\n");
    hx_assert_first("HTTP/1.1 416 Range Not Satisfiable\r\n");
    ck_assert_str_eq(header("Content-Range"), "bytes */6");
    /* An If-Range that no longer holds: the whole file. */
    get("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\nIf-Range: \"old\"\r\n\r\n");
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    ck_assert_str_eq(body(), "hello\n");
    /* HEAD asks for no range. */
    head("HEAD /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=1-3\r\n\r\n");
    hx_assert_first("HTTP/1.1 200 OK\r\n");
}
END_TEST

/* Larger than the cache takes: sent from the file, whole, in order. */
START_TEST(large_file_sent_whole)
{
    hx_ask("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n", hx_one_response);
    ck_assert_str_eq(header("Content-Length"), "100000");
    ck_assert_uint_eq(hx.in_len - (size_t)(body() - hx.in), BIG);
    ck_assert_int_eq(memcmp(body(), big, BIG), 0);
}
END_TEST

/* Served from memory until cache.valid has passed (1h here): a change on
 * disk is not seen; where nothing is cached (max_file 0), it is at once. */
START_TEST(cache_serves_until_valid)
{
    get("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    put("a.txt", "HELLO, WORLD\n", 13);
    get("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_str_eq(body(), "hello\n");
    get("GET /a.txt HTTP/1.1\r\nHost: auto.test\r\n\r\n");
    ck_assert_str_eq(body(), "HELLO, WORLD\n");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Directories */

START_TEST(directory_without_slash_redirects)
{
    get("GET /sub?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 301 Moved Permanently\r\n");
    ck_assert_str_eq(header("Location"), "/sub/?x=1");
    get("GET /s%20p HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_str_eq(header("Location"), "/s%20p/");
}
END_TEST

START_TEST(index_file_of_a_directory)
{
    get("GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    ck_assert_str_eq(header("Content-Type"), "text/html; charset=utf-8");
    ck_assert_str_eq(body(), "<p>index</p>\n");
}
END_TEST

START_TEST(listing_only_with_autoindex)
{
    get("GET /empty/ HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 403 Forbidden\r\n");
    get("GET /sub/ HTTP/1.1\r\nHost: auto.test\r\n\r\n");   /* its index is none.html */
    hx_assert_first("HTTP/1.1 200 OK\r\n");
    ck_assert_ptr_nonnull(strstr(body(), "<a href=\"./index.html\">index.html</a>"));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Errors */

START_TEST(missing_and_not_a_directory_404)
{
    get("GET /nope.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 404 Not Found\r\n");
    get("GET /a.txt/ HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 404 Not Found\r\n");
    get("GET /a.txt/b HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 404 Not Found\r\n");
}
END_TEST

START_TEST(link_out_of_the_root_403)
{
    get("GET /out HTTP/1.1\r\nHost: x\r\n\r\n");
    hx_assert_first("HTTP/1.1 403 Forbidden\r\n");
    ck_assert_ptr_null(strstr(hx.in, "root:"));
}
END_TEST

START_TEST(get_and_head_only)
{
    get("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    hx_assert_first("HTTP/1.1 405 Method Not Allowed\r\n");
    ck_assert_str_eq(header("Allow"), "GET, HEAD");
    ck_assert_ptr_null(http_handler_static.body);
    ck_assert_ptr_null(http_handler_static.abort);
    ck_assert(!http_handler_static.any_method);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The section */

#define STATIC(s) "servers = ({ listen = [ \"127.0.0.1:1\" ];\n routes = ( { path = \"/\";\n" \
                  " static = {\n" s " }; } ); });\n"

START_TEST(section_defaults)
{
    struct herd_config *cfg = hx_config_ok(STATIC("root = \"/\";"));
    const struct cfg_static *st = http_config(&cfg->servers[0])->routes[0].stat;
    ck_assert_str_eq(st->root, "/");
    ck_assert_uint_eq(st->index.n, 1);
    ck_assert_str_eq(st->index.v[0], "index.html");
    ck_assert(!st->autoindex);
    ck_assert_ptr_nonnull(st->cache);               /* always, with its defaults */
    ck_assert_int_eq(st->cache->valid, 1000);
    ck_assert_int_eq(st->cache->max_file, 64 * 1024);
    ck_assert_int_eq(st->cache->size, 16 * 1024 * 1024);
    config_free(cfg);
}
END_TEST

static const struct hx_refusal bad[] = {
    { STATIC("root = \"@DIR@/www/a.txt\";"), 4, "static root " },
    { STATIC("root = \"/\"; index = [ \"a/b.html\" ];"), 4,
      "index name 'a/b.html' must be a plain file name" },
    { STATIC("root = \"/\"; index = [ \"\" ];"), 4, "index name '' must be a plain file name" },
    { STATIC("root = \"/\"; autoindex = \"yes\";"), 4, "'autoindex' must be true or false" },
    { STATIC("root = \"/\"; cache = { valid = \"2h\"; };"), 4, "'valid' must be between" },
    { STATIC("root = \"/\"; cache = { max_file = \"65m\"; size = \"1g\"; };"), 4,
      "'max_file' must be between" },
    { STATIC("root = \"/\"; cache = { size = \"2g\"; };"), 4, "'size' must be between" },
    { STATIC("root = \"/\"; cache = {\n size = \"1k\"; };"), 4,
      "'max_file' is larger than the cache 'size'" },
    { STATIC("root = \"/\"; expire = 1;"), 4, "unknown key 'expire' in static" },
    { STATIC("root = \"/\"; expires = 1;"), 4, "'expires' must be a string" },
};

START_TEST(section_refusals)
{
    hx_refused(_i, &bad[_i]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_handler_static");
    TCase *t = tcase_create("files");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, file_with_its_validators);
    tcase_add_test(t, head_of_a_file);
    tcase_add_test(t, not_modified_by_etag_or_date);
    tcase_add_test(t, ranges_206_and_416);
    tcase_add_test(t, large_file_sent_whole);
    tcase_add_test(t, cache_serves_until_valid);
    suite_add_tcase(s, t);
    t = tcase_create("directories");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, directory_without_slash_redirects);
    tcase_add_test(t, index_file_of_a_directory);
    tcase_add_test(t, listing_only_with_autoindex);
    suite_add_tcase(s, t);
    t = tcase_create("errors");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, missing_and_not_a_directory_404);
    tcase_add_test(t, link_out_of_the_root_403);
    tcase_add_test(t, get_and_head_only);
    suite_add_tcase(s, t);
    t = tcase_create("section");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, section_defaults);
    tcase_add_loop_test(t, section_refusals, 0, sizeof bad / sizeof bad[0]);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
