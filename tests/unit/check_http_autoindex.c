/* Directory listings (src/http/autoindex.c) of a real directory, written
 * into a connection's output: the head, entries sorted by bytes, names
 * percent-encoded in links and HTML-escaped in text so that none reads as
 * a scheme, query, fragment or markup, directories (not links to them)
 * with a slash, HEAD, a parent link below the root, and failures that
 * write nothing. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/autoindex.h"
#include "http/date.h"
#include "http/req.h"
#include "out_conn.h"
#include "fixture.h"
#include "loop.h"
#include "tap.h"

static char dir[128];
static struct out_conn oc;
static struct conn_owner owner; /* the clock of the Date header */

static void setup(void)
{
    fixture_mkdtemp(dir, sizeof dir, "autoindex");
    out_conn_init(&oc);
    owner.loop = loop_new(4);
    ck_assert_ptr_nonnull(owner.loop);
    oc.c.owner = &owner;
}

static void teardown(void)
{
    loop_free(owner.loop);
    out_conn_free(&oc);
    fixture_rmtree(dir);
}

static void touch(const char *name)
{
    char path[512];
    fixture_write(fixture_path(path, sizeof path, dir, name), "x", 1);
}

static void subdir(const char *name)
{
    char path[512];
    ck_assert_int_eq(mkdir(fixture_path(path, sizeof path, dir, name), 0755), 0);
}

static int open_dir(void)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

/* An HTTP/1.0 request line: with keep, the answer says keep-alive. */
static struct http_request head10 = { .minor_version = 0 };

static struct http_req request(enum http_method m, const char *path)
{
    return (struct http_req){ .conn = &oc.c, .head = &head10, .f.method = m, .path = path,
                              .path_len = strlen(path), .with_body = m != HTTP_HEAD,
                              .state = HTTP_REQ_STARTED };
}

/* The listing of dir for r: the output split into head and body. */
struct answer {
    char head[1024];
    const char *body;
    size_t body_len;
    struct http_req res;        /* what the exchange recorded */
    int rc;
};

static void list_as(const struct http_req *r, int dirfd, bool hidden, struct answer *a)
{
    memset(a, 0, sizeof *a);
    size_t before, len;
    out_conn_data(&oc, &before);
    a->res = *r;
    a->rc = http_autoindex_send(&a->res, dirfd, hidden);
    const char *out = out_conn_data(&oc, &len);
    out += before;
    len -= before;
    if (len == 0)
        return;
    const char *end = memmem(out, len, "\r\n\r\n", 4);
    ck_assert_ptr_nonnull(end);
    size_t head_len = (size_t)(end - out) + 4;
    ck_assert_uint_lt(head_len, sizeof a->head);
    memcpy(a->head, out, head_len);
    a->body = out + head_len;
    a->body_len = len - head_len;
}

static void list(const struct http_req *r, int dirfd, struct answer *a)
{
    list_as(r, dirfd, false, a);
}

/* A body holds lines[0..n) between its "<pre>" line and "</pre>", and
 * nothing else there. */
static void check_entries(const struct answer *a, const char *const *lines, size_t n)
{
    char *body = strndup(a->body, a->body_len);
    char *pre = strstr(body, "<pre>\n");
    char *end = strstr(body, "</pre>");
    ck_assert(pre != NULL && end != NULL);
    pre += 6;
    *end = '\0';
    char want[8192] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(want, lines[i]);
        strcat(want, "\n");
    }
    ck_assert_str_eq(pre, want);
    free(body);
}

START_TEST(entries_encoded_and_escaped)
{
    static const char *const files[] = { "b.txt", "<x>&'\"", "javascript:alert(1)", "100%",
                                         "q?#", "\xc3\xa9", "-._~" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        touch(files[i]);
    subdir("a dir");
    subdir("sub.d");
    char target[512], link[512];
    ck_assert_int_eq(symlink(fixture_path(target, sizeof target, dir, "a dir"),
                             fixture_path(link, sizeof link, dir, "link")), 0);
    int fd = open_dir();
    struct http_req r = request(HTTP_GET, "/files/");
    struct answer a;
    list(&r, fd, &a);
    ck_assert_int_eq(a.rc, 0);
    ck_assert_int_eq(a.res.status, 200);
    static const char *const want[] = {
        "<a href=\"../\">../</a>",
        "<a href=\"./-._~\">-._~</a>",
        "<a href=\"./100%25\">100%</a>",
        "<a href=\"./%3Cx%3E%26%27%22\">&lt;x&gt;&amp;&#39;&quot;</a>",
        "<a href=\"./a%20dir/\">a dir/</a>",
        "<a href=\"./b.txt\">b.txt</a>",
        "<a href=\"./javascript%3Aalert%281%29\">javascript:alert(1)</a>",
        "<a href=\"./link\">link</a>",             /* a link is not a directory */
        "<a href=\"./q%3F%23\">q?#</a>",
        "<a href=\"./sub.d/\">sub.d/</a>",
        "<a href=\"./%C3%A9\">\xc3\xa9</a>",
    };
    check_entries(&a, want, sizeof want / sizeof want[0]);
    close(fd);
}
END_TEST

/* Names starting with '.' are listed only when hidden names are served. */
START_TEST(dot_names_only_when_hidden)
{
    touch(".htpasswd");
    touch("seen");
    subdir(".git");
    int fd = open_dir();
    struct http_req r = request(HTTP_GET, "/");
    struct answer a;
    list_as(&r, fd, false, &a);
    static const char *const plain[] = { "<a href=\"./seen\">seen</a>" };
    check_entries(&a, plain, 1);
    list_as(&r, fd, true, &a);
    static const char *const all[] = { "<a href=\"./.git/\">.git/</a>",
                                       "<a href=\"./.htpasswd\">.htpasswd</a>",
                                       "<a href=\"./seen\">seen</a>" };
    check_entries(&a, all, 3);
    close(fd);
}
END_TEST

/* Status line, Date, type, a length that is the body's, the connection
 * header asked for; HEAD sends the same head without the body. */
START_TEST(head_and_head_method)
{
    touch("one");
    int fd = open_dir();
    struct http_req r = request(HTTP_GET, "/");
    struct answer get, head;
    list(&r, fd, &get);
    char want[512];
    snprintf(want, sizeof want,
             "HTTP/1.1 200 OK\r\nServer: herd\r\nDate: %s\r\n"
             "Content-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n", http_date(loop_wall(owner.loop)), get.body_len);
    ck_assert_str_eq(get.head, want);
    ck_assert_uint_eq(get.res.body_bytes, get.body_len);
    ck_assert_uint_gt(get.body_len, 0);

    r = request(HTTP_HEAD, "/");
    r.keep = true;
    close(fd);
    fd = open_dir();
    list(&r, fd, &head);
    ck_assert_int_eq(head.res.status, 200);
    ck_assert_uint_eq(head.body_len, 0);
    ck_assert_uint_eq(head.res.body_bytes, 0);
    ck_assert_ptr_nonnull(strstr(head.head, "Connection: keep-alive\r\n"));
    char cl[64];
    snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", get.body_len);
    ck_assert_ptr_nonnull(strstr(head.head, cl));
    close(fd);
}
END_TEST

/* The root has no parent link; the path is escaped in title and heading;
 * an empty directory lists nothing. */
START_TEST(title_and_root)
{
    int fd = open_dir();
    struct http_req r = request(HTTP_GET, "/");
    struct answer a;
    list(&r, fd, &a);
    check_entries(&a, NULL, 0);
    ck_assert_ptr_nonnull(memmem(a.body, a.body_len, "<title>Index of /</title>", 25));
    close(fd);
    fd = open_dir();
    r = request(HTTP_GET, "/<s>&\"/");
    list(&r, fd, &a);
    static const char *const parent[] = { "<a href=\"../\">../</a>" };
    check_entries(&a, parent, 1);
    const char *t = "<title>Index of /&lt;s&gt;&amp;&quot;/</title>";
    ck_assert_ptr_nonnull(memmem(a.body, a.body_len, t, strlen(t)));
    const char *h = "<h1>Index of /&lt;s&gt;&amp;&quot;/</h1>";
    ck_assert_ptr_nonnull(memmem(a.body, a.body_len, h, strlen(h)));
    close(fd);
}
END_TEST

/* Hundreds of entries (past the first allocation of both the list and the
 * page), in byte order. */
START_TEST(many_entries_sorted)
{
    enum { N = 300 };
    char name[32];
    for (int i = N - 1; i >= 0; i--) {
        snprintf(name, sizeof name, "f%03d", (i * 7) % N);
        touch(name);
    }
    int fd = open_dir();
    struct http_req r = request(HTTP_GET, "/");
    struct answer a;
    list(&r, fd, &a);
    ck_assert_uint_gt(a.body_len, 4096);
    static char lines[N][64];
    const char *want[N];
    for (int i = 0; i < N; i++) {
        snprintf(lines[i], sizeof lines[i], "<a href=\"./f%03d\">f%03d</a>", i, i);
        want[i] = lines[i];
    }
    check_entries(&a, want, N);
    close(fd);
}
END_TEST

/* The listing does not depend on where the descriptor was left: listing
 * the same descriptor twice gives the same page. */
START_TEST(same_descriptor_twice)
{
    touch("a");
    touch("b");
    int fd = open_dir();
    struct http_req r = request(HTTP_GET, "/");
    struct answer first, second;
    list(&r, fd, &first);
    char *copy = strndup(first.body, first.body_len);
    list(&r, fd, &second);
    ck_assert_uint_eq(second.body_len, first.body_len);
    ck_assert_int_eq(memcmp(second.body, copy, first.body_len), 0);
    free(copy);
    close(fd);
}
END_TEST

/* Not a directory, or no descriptor: the errno, nothing answered or
 * written (the caller sends its error page). */
START_TEST(failures_write_nothing)
{
    touch("file");
    char path[512];
    int fd = open(fixture_path(path, sizeof path, dir, "file"), O_RDONLY | O_CLOEXEC);
    struct http_req r = request(HTTP_GET, "/");
    struct answer a;
    list(&r, fd, &a);
    ck_assert_int_eq(a.rc, ENOTDIR);
    ck_assert_int_eq(a.res.status, 0);
    list(&r, -1, &a);
    ck_assert_int_eq(a.rc, EBADF);
    ck_assert_int_eq(a.res.status, 0);
    size_t len;
    out_conn_data(&oc, &len);
    ck_assert_uint_eq(len, 0);
    ck_assert(fcntl(fd, F_GETFD) != -1);           /* the caller's to close */
    close(fd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_autoindex");
    TCase *tc = tcase_create("listing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, entries_encoded_and_escaped);
    tcase_add_test(tc, dot_names_only_when_hidden);
    tcase_add_test(tc, head_and_head_method);
    tcase_add_test(tc, title_and_root);
    tcase_add_test(tc, many_entries_sorted);
    tcase_add_test(tc, same_descriptor_twice);
    tcase_add_test(tc, failures_write_nothing);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
