/* The proxy's retry rule (src/http/proxy_retry.c), case by case: never
 * after a byte of the response; a failed connect to the next server while
 * retries last; a reused connection that failed before the kernel took a
 * byte of the request sent again whatever the method, once and
 * uncounted; an idempotent request on the next server while retries last;
 * a POST the upstream may have read, or a body already taken, never. */
#include <check.h>
#include <stdbool.h>

#include "http/proxy_retry.h"
#include "tap.h"

enum { R = 1 << 0, C = 1 << 1, U = 1 << 2, A = 1 << 3, B = 1 << 4, I = 1 << 5 };

static const struct {
    unsigned flags;         /* response, connect, reused, accepted, body taken, idempotent */
    unsigned retried, retries;
    enum proxy_retry want;
    const char *why;
} cases[] = {
    { R | I, 0, 3, PROXY_RETRY_NONE, "a response byte arrived: never" },
    { R | U | I, 0, 3, PROXY_RETRY_NONE, "a response byte arrived on a reused one" },
    { R | U, 0, 3, PROXY_RETRY_NONE, "a POST with a response byte, nothing else counts" },
    { C, 0, 1, PROXY_RETRY_NEXT, "connect failed: a POST goes to the next server" },
    { C | I, 1, 1, PROXY_RETRY_NONE, "connect failed, no retries left" },
    { C, 0, 0, PROXY_RETRY_NONE, "connect failed, retries = 0" },
    { U, 0, 0, PROXY_RETRY_FRESH, "POST, reused, no byte left herd: sent again" },
    { U | A, 0, 3, PROXY_RETRY_NONE, "POST, reused, the upstream may have read it" },
    { U | B, 0, 3, PROXY_RETRY_NONE, "POST, reused, its body bytes are gone" },
    { U | A | I, 0, 0, PROXY_RETRY_FRESH, "GET, reused, closed as it went out" },
    { U | A | I | B, 0, 3, PROXY_RETRY_NONE, "PUT whose body was taken" },
    { A | I, 0, 1, PROXY_RETRY_NEXT, "GET on a fresh connection: the next server" },
    { A | I, 1, 1, PROXY_RETRY_NONE, "GET, no retries left" },
    { I, 2, 3, PROXY_RETRY_NEXT, "GET, nothing taken, retries left" },
    { A, 0, 3, PROXY_RETRY_NONE, "POST on a fresh connection that was reset: 502" },
    { 0, 0, 3, PROXY_RETRY_NONE, "POST on a fresh connection: only a reused one is "
                                  "sent again (DESIGN)" },
};

START_TEST(each_case)
{
    unsigned fl = cases[_i].flags;
    struct proxy_failure f = {
        .response = fl & R, .connect = fl & C, .reused = fl & U, .accepted = fl & A,
        .body_taken = fl & B, .idempotent = fl & I,
        .retried = cases[_i].retried, .retries = cases[_i].retries,
    };
    ck_assert_msg(proxy_retry_plan(&f) == cases[_i].want, "case %d: %s", _i, cases[_i].why);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_proxy_retry");
    TCase *t = tcase_create("plan");
    tcase_add_loop_test(t, each_case, 0, sizeof cases / sizeof cases[0]);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
