/* Virtual hosts (src/http/vhost.c): which server of those sharing a
 * listener answers a Host, exact names before the longest "*.suffix",
 * without case, port or trailing dot, and the listener's first server
 * otherwise. Hosts are passed as exactly sized copies without a NUL. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/config.h"
#include "proto.h"
#include "http/vhost.h"
#include "tap.h"

#define MAX_NAMES 4

/* A server with its names; only its http configuration's server_names
 * is read. */
struct vhost {
    struct cfg_server cfg;
    struct cfg_http http;
    struct server_rt rt;
    char *names[MAX_NAMES];
};

static struct vhost hosts[4];
static const struct server_rt *list[4];

/* Server i answers to the names in `names` (NULL-terminated). */
static void serve(size_t i, const char *const *names)
{
    struct vhost *v = &hosts[i];
    memset(v, 0, sizeof *v);
    size_t n = 0;
    while (names[n] != NULL) {
        ck_assert_uint_lt(n, MAX_NAMES);
        v->names[n] = (char *)names[n];
        n++;
    }
    v->http.server_names.v = v->names;
    v->http.server_names.n = n;
    v->cfg.conf = &v->http;
    v->rt.cfg = &v->cfg;
    list[i] = &v->rt;
}

/* Which server (index) answers host among the first n. */
static int pick(size_t n, const char *host)
{
    size_t len = strlen(host);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, host, len);
    const struct server_rt *rt = http_vhost_find(list, n, copy, len);
    free(copy);
    for (size_t i = 0; i < n; i++)
        if (rt == list[i])
            return (int)i;
    return -1;
}

static void setup(void)
{
    serve(0, (const char *const[]){ "default.test", NULL });
    serve(1, (const char *const[]){ "www.example.com", "example.com", NULL });
    serve(2, (const char *const[]){ "*.example.com", NULL });
    serve(3, (const char *const[]){ "*.api.example.com", "exact.api.example.com", NULL });
}

struct pick_row {
    const char *host;
    int server;
};

static const struct pick_row pick_rows[] = {
    { "www.example.com", 1 },
    { "WWW.Example.COM", 1 },
    { "example.com", 1 },
    { "www.example.com:8080", 1 },
    { "www.example.com.", 1 },
    { "www.example.com.:80", 1 },
    { "img.example.com", 2 },
    { "a.b.example.com", 2 },
    { "v1.api.example.com", 3 },            /* the longer suffix */
    { "V1.API.EXAMPLE.COM:443", 3 },
    { "exact.api.example.com", 3 },
    { "api.example.com", 2 },               /* "*.api..." needs something before */
    { ".example.com", 0 },
    { "default.test", 0 },
    { "unknown.test", 0 },
    { "badexample.com", 0 },                /* a suffix starts at a dot */
    { "www.example.co", 0 },
    { "www.example.com.evil", 0 },
    { "xwww.example.com", 2 },
    { "", 0 },
    { ":80", 0 },
    { ".", 0 },
    { "[::1]:8080", 0 },                    /* IP literals name no server */
    { "192.0.2.7", 0 },
};

#define N_PICK_ROWS (sizeof pick_rows / sizeof pick_rows[0])

START_TEST(pick_row)
{
    const struct pick_row *r = &pick_rows[_i];
    int got = pick(4, r->host);
    ck_assert_msg(got == r->server, "\"%s\": server %d, want %d", r->host, got, r->server);
}
END_TEST

/* An exact name wins over a suffix wherever either stands in the list;
 * of equally long suffixes the first listed wins. */
START_TEST(order_does_not_matter_for_exact_names)
{
    serve(1, (const char *const[]){ "*.example.com", NULL });
    serve(2, (const char *const[]){ "www.example.com", NULL });
    serve(3, (const char *const[]){ "*.EXAMPLE.com", NULL });
    ck_assert_int_eq(pick(4, "www.example.com"), 2);
    ck_assert_int_eq(pick(4, "ftp.example.com"), 1);
    ck_assert_int_eq(pick(2, "www.example.com"), 1);    /* not among the first two */
}
END_TEST

/* With one server, or no host at all, there is nothing to search. */
START_TEST(choose_shortcuts)
{
    ck_assert_ptr_eq(http_vhost_choose(list, 1, "www.example.com", 15), list[0]);
    ck_assert_ptr_eq(http_vhost_choose(list, 4, NULL, 0), list[0]);
    ck_assert_ptr_eq(http_vhost_choose(list, 4, "www.example.com", 15), list[1]);
}
END_TEST

/* A server without names is found only as the default. */
START_TEST(nameless_servers)
{
    serve(0, (const char *const[]){ NULL });
    serve(1, (const char *const[]){ NULL });
    ck_assert_int_eq(pick(2, "anything.test"), 0);
    ck_assert_int_eq(pick(4, "v1.api.example.com"), 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_vhost");
    TCase *tc = tcase_create("vhost");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, pick_row, 0, (int)N_PICK_ROWS);
    tcase_add_test(tc, order_does_not_matter_for_exact_names);
    tcase_add_test(tc, choose_shortcuts);
    tcase_add_test(tc, nameless_servers);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
