/* What is left of the handler table's tests through the real HTTP server
 * code (http_fixture.h) until each goes to its module's suite: an idle
 * connection. */
#include <check.h>
#include <string.h>

#include "conn.h"
#include "http/server.h"
#include "http_fixture.h"
#include "tap.h"

static const char conf[] =
    "servers = ({ listen = [ \"127.0.0.1:1\" ];\n"
    "  access_log = \"@DIR@/access.log\";\n"
    "  access_log_format = \"$status $request $body_bytes_sent\";\n"
    "  routes = (\n"
    "    { path = \"/hello\"; exact = true;\n"
    "      return = { status = 200; type = \"text/plain\"; body = \"hello\\n\"; }; },\n"
    "    { path = \"/status\"; status = { format = \"text\"; }; }\n"
    "  ); });\n";

static void setup(void)
{
    hx_start(conf);
}

static void teardown(void)
{
    hx_stop();
}

static bool got_hello(void) { return strstr(hx.in, "hello\n") != NULL; }

START_TEST(idle_connection_state_is_small)
{
    ck_assert_uint_le(sizeof(struct http_conn), 32);
    hx_send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert(hx_run_until(got_hello));
    ck_assert_int_eq(http_conn_of(&hx.conn)->phase, HP_IDLE);
    ck_assert_ptr_null(http_conn_of(&hx.conn)->kept);
    ck_assert_ptr_null(hx.conn.in);                 /* no buffer while idle */
    ck_assert_ptr_null(hx.conn.out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("handler");
    TCase *t = tcase_create("at_once");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, idle_connection_state_is_small);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
