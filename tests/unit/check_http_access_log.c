/* The access log: its formats (combined, common, templates of every
 * variable), escaping, buffering and reopening. (That every exchange
 * writes its line, pending and aborted ones too: check_http_kept.c and
 * check_http_req.c.) */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "http/access_log.h"
#include "tap.h"

static char path[64];
static int fd = -1;
static struct sockaddr_in peer4;

static void setup(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    snprintf(path, sizeof path, "/tmp/check_http_access_log.XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    peer4.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.7", &peer4.sin_addr);
}

static void teardown(void)
{
    unlink(path);
}

/* What the file holds (valid until the next call). */
static const char *file_text(void)
{
    static char *text;
    free(text);
    text = fixture_read_file(path, NULL);
    return text;
}

static struct access_log_entry entry(void)
{
    return (struct access_log_entry){
        .peer = (const struct sockaddr *)&peer4,
        .now = 784111777,                   /* Sun, 06 Nov 1994 08:49:37 GMT */
        .msec = 784111777123LL,
        .method = "GET", .method_len = 3,
        .target = "/a?b=1", .target_len = 6,
        .minor_version = 1,
        .status = 200,
        .body_bytes = 13,
        .bytes_sent = 150,
        .referer = "http://r.test/", .referer_len = 14,
        .user_agent = "curl/8.0", .user_agent_len = 8,
        .host = "h.test", .host_len = 6,
        .request_time_ms = 2042,
    };
}

/* The line(s) e writes in format fmt. */
static const char *line(const char *fmt, const struct access_log_entry *e)
{
    struct access_log *log = access_log_new(fd, path, fmt);
    ck_assert_ptr_nonnull(log);
    access_log_write(log, e);
    access_log_free(log);           /* flushes and closes fd */
    fd = -1;
    return file_text();
}

START_TEST(combined)
{
    struct access_log_entry e = entry();
    ck_assert_str_eq(line("combined", &e),
                     "192.0.2.7 - - [06/Nov/1994:08:49:37 +0000] \"GET /a?b=1 HTTP/1.1\" 200 13 "
                     "\"http://r.test/\" \"curl/8.0\"\n");
}
END_TEST

START_TEST(common)
{
    struct access_log_entry e = entry();
    e.minor_version = 0;
    ck_assert_str_eq(line("common", &e),
                     "192.0.2.7 - - [06/Nov/1994:08:49:37 +0000] \"GET /a?b=1 HTTP/1.0\" 200 13\n");
}
END_TEST

START_TEST(every_variable)
{
    struct access_log_entry e = entry();
    ck_assert_str_eq(line("$remote_addr|$remote_user|$time_iso8601|$msec|$request_method|"
                          "$request_uri|$server_protocol|$status|$body_bytes_sent|$bytes_sent|"
                          "$http_referer|$http_user_agent|$host|$request_time", &e),
                     "192.0.2.7|-|1994-11-06T08:49:37+0000|784111777.123|GET|/a?b=1|HTTP/1.1|"
                     "200|13|150|http://r.test/|curl/8.0|h.test|2.042\n");
}
END_TEST

/* The request's variables (http/template.h) need the request: without
 * one (an entry made here) they are "-". */
START_TEST(request_variables_without_a_request)
{
    struct access_log_entry e = entry();
    ck_assert_ptr_null(e.req);
    ck_assert_str_eq(line("$uri|$args|$request_id|$http_x_forwarded_for|$path_rest|$1|$status",
                          &e),
                     "-|-|-|-|-|-|200\n");
}
END_TEST

/* An empty log file again, for the next line(). */
static void reopen(void)
{
    fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
}

/* A proxied request's upstream, "-" for one that was not proxied or got
 * no response. */
START_TEST(upstream_variables)
{
    static const char fmt[] = "$upstream_addr|$upstream_status|$upstream_response_time";
    struct access_log_entry e = entry();
    ck_assert_str_eq(line(fmt, &e), "-|-|-\n");
    reopen();
    e.upstream_addr = "127.0.0.1:8000";
    e.upstream_status = 201;
    e.upstream_time_ms = 1234;
    ck_assert_str_eq(line(fmt, &e), "127.0.0.1:8000|201|1.234\n");
    reopen();
    e.upstream_status = 0;          /* refused, timed out: no response */
    e.upstream_time_ms = 5;
    ck_assert_str_eq(line(fmt, &e), "127.0.0.1:8000|-|0.005\n");
}
END_TEST

/* A TLS connection's session, "-" without TLS; a certificate's subject
 * is escaped as request bytes are. */
START_TEST(ssl_variables)
{
    static const char fmt[] = "$ssl_protocol|$ssl_cipher|$ssl_client_s_dn";
    struct access_log_entry e = entry();
    ck_assert_str_eq(line(fmt, &e), "-|-|-\n");
    reopen();
    e.ssl_protocol = "TLSv1.3";
    e.ssl_cipher = "TLS_AES_128_GCM_SHA256";
    e.ssl_client_s_dn = "CN=alice \"a\",O=Example\n";
    ck_assert_str_eq(line(fmt, &e),
                     "TLSv1.3|TLS_AES_128_GCM_SHA256|CN=alice \\x22a\\x22,O=Example\\x0A\n");
}
END_TEST

START_TEST(no_request_line)
{
    /* A refused head (or an exchange aborted before one was understood). */
    struct access_log_entry e = { .peer = NULL, .now = 784111777, .minor_version = -1,
                                  .status = 400, .body_bytes = 0 };
    ck_assert_str_eq(line("$remote_addr \"$request\" $status $server_protocol \"$http_referer\" "
                          "$host", &e),
                     "- \"-\" 400 - \"-\" -\n");
}
END_TEST

START_TEST(ipv6_peer)
{
    struct sockaddr_in6 p6 = { .sin6_family = AF_INET6 };
    inet_pton(AF_INET6, "2001:db8::1", &p6.sin6_addr);
    struct access_log_entry e = entry();
    e.peer = (const struct sockaddr *)&p6;
    ck_assert_str_eq(line("$remote_addr $status", &e), "2001:db8::1 200\n");
}
END_TEST

START_TEST(escaped_so_no_line_can_be_forged)
{
    struct access_log_entry e = entry();
    e.target = "/x\"\n1.2.3.4 \\\xc3\xa9";
    e.target_len = strlen(e.target);
    e.user_agent = "a\x7f\tb";
    e.user_agent_len = 4;
    ck_assert_str_eq(line("\"$request\" \"$http_user_agent\"", &e),
                     "\"GET /x\\x22\\x0A1.2.3.4 \\x5C\\xC3\\xA9 HTTP/1.1\" \"a\\x7F\\x09b\"\n");
    char out[16];
    ck_assert_uint_eq(access_log_escape(out, "a\"", 2), 5);
    ck_assert_int_eq(memcmp(out, "a\\x22", 5), 0);
}
END_TEST

START_TEST(long_values_stay_one_line)
{
    static char target[40000];
    memset(target, 'a', sizeof target);
    target[0] = '/';
    struct access_log_entry e = entry();
    e.target = target;
    e.target_len = sizeof target;
    e.user_agent = target;
    e.user_agent_len = sizeof target;
    const char *text = line("combined", &e);
    size_t len = strlen(text);
    ck_assert_uint_le(len, 16 * 1024 + 1);
    ck_assert_ptr_eq(strchr(text, '\n'), text + len - 1);
}
END_TEST

START_TEST(format_check)
{
    char why[128] = "";
    ck_assert_int_eq(access_log_format_check("combined", why, sizeof why), 0);
    ck_assert_int_eq(access_log_format_check("common", why, sizeof why), 0);
    ck_assert_int_eq(access_log_format_check("$status $request_time", why, sizeof why), 0);
    ck_assert_int_eq(access_log_format_check("$status $nope", why, sizeof why), -1);
    ck_assert_str_eq(why, "unknown variable '$nope'");
    /* One table with the other templates: theirs are the log's too. */
    ck_assert_int_eq(access_log_format_check("$request_id $uri $http_x_real_ip", why,
                                             sizeof why), 0);
    ck_assert_int_eq(access_log_format_check("cost $", why, sizeof why), -1);
    ck_assert_str_eq(why, "a '$' that names no variable");
    ck_assert_int_eq(access_log_format_check("$status\n", why, sizeof why), -1);
    ck_assert_str_eq(why, "a format cannot contain a line break");
}
END_TEST

START_TEST(buffered_until_flushed)
{
    struct access_log *log = access_log_new(fd, path, "$status");
    struct access_log_entry e = entry();
    access_log_write(log, &e);
    e.status = 404;
    access_log_write(log, &e);
    ck_assert_str_eq(file_text(), "");
    access_log_flush(log, 0);
    ck_assert_str_eq(file_text(), "200\n404\n");
    access_log_flush(log, 0);                       /* nothing twice */
    ck_assert_str_eq(file_text(), "200\n404\n");
    access_log_free(log);
}
END_TEST

START_TEST(reopened_file_continues)
{
    struct access_log *log = access_log_new(fd, path, "$status");
    struct access_log_entry e = entry();
    access_log_write(log, &e);
    /* USR1 after a rotation: the old file gets what was buffered. */
    char moved[80];
    snprintf(moved, sizeof moved, "%s.1", path);
    ck_assert_int_eq(rename(path, moved), 0);
    int fresh = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ck_assert_int_ge(fresh, 0);
    access_log_set_fd(log, fresh);
    e.status = 500;
    access_log_write(log, &e);
    access_log_free(log);
    ck_assert_str_eq(file_text(), "500\n");
    char *old = fixture_read_file(moved, NULL);
    unlink(moved);
    ck_assert_str_eq(old, "200\n");
    free(old);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_access_log");
    TCase *t = tcase_create("access_log");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, combined);
    tcase_add_test(t, common);
    tcase_add_test(t, every_variable);
    tcase_add_test(t, upstream_variables);
    tcase_add_test(t, ssl_variables);
    tcase_add_test(t, no_request_line);
    tcase_add_test(t, ipv6_peer);
    tcase_add_test(t, escaped_so_no_line_can_be_forged);
    tcase_add_test(t, long_values_stay_one_line);
    tcase_add_test(t, format_check);
    tcase_add_test(t, request_variables_without_a_request);
    tcase_add_test(t, buffered_until_flushed);
    tcase_add_test(t, reopened_file_continues);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
