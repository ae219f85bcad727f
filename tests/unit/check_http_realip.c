/* The real client address (src/http/realip.c): one X-Forwarded-For entry
 * as an address (forms, ports, garbage), the walk from the right (trusted
 * hops skipped, the first untrusted taken, malformed entries ending it at
 * the last trusted address, several fields, spaces, IPv6, a bounded walk),
 * single-address headers, the peer that is not trusted, and the real_ip
 * group at load: its defaults, its refusals at FILE:LINE and -T. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_fixture.h"
#include "http/config.h"
#include "http/realip.h"
#include "proto.h"
#include "tap.h"

static char err[1024];

/* "addr" or "addr port" of p: "-" for nothing. */
static void peer_text(const struct conn_peer *p, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "-";
    if (p->family == AF_INET || p->family == AF_INET6)
        inet_ntop(p->family, p->addr, ip, sizeof ip);
    else if (p->family == AF_UNIX)
        strcpy(ip, "unix:");
    if (p->port)
        snprintf(out, cap, "%s %u", ip, (unsigned)ntohs(p->port));
    else
        snprintf(out, cap, "%s", ip);
}

/* ------------------------------------------------------------------ */
/* One entry */

struct parse_row {
    const char *in;
    const char *out;            /* peer_text of the result; NULL: refused */
};

static const struct parse_row parse_rows[] = {
    { "192.0.2.1", "192.0.2.1" },
    { "192.0.2.1:5000", "192.0.2.1 5000" },
    { "192.0.2.1:65535", "192.0.2.1 65535" },
    { "2001:db8::1", "2001:db8::1" },
    { "[2001:db8::1]", "2001:db8::1" },
    { "[2001:db8::1]:443", "2001:db8::1 443" },
    { "::1", "::1" },
    { "::ffff:192.0.2.1", "::ffff:192.0.2.1" },
    { "", NULL },
    { "unknown", NULL },
    { "_hidden", NULL },                    /* RFC 7239 obfuscated names */
    { "192.0.2", NULL },
    { "192.0.2.1.5", NULL },
    { "192.0.2.256", NULL },
    { "192.0.2.1:", NULL },
    { "192.0.2.1:0", NULL },
    { "192.0.2.1:65536", NULL },
    { "192.0.2.1:080", NULL },
    { "192.0.2.1:+80", NULL },
    { "192.0.2.1:8x", NULL },
    { " 192.0.2.1", NULL },                 /* the walk trims; this does not */
    { "192.0.2.1 ", NULL },
    { "[192.0.2.1]", NULL },                /* brackets hold IPv6 only */
    { "[2001:db8::1", NULL },
    { "[2001:db8::1]x", NULL },
    { "[2001:db8::1]:", NULL },
    { "[]", NULL },
    { "2001:db8::g", NULL },
    { "2001:db8::1:80:1:2:3:4:5", NULL },
    { "fe80::1%eth0", NULL },
    { "1.2.3.4\r\n", NULL },
    { "012.0.0.1", NULL },
    { "11111111111111111111111111111111111111111111111111111111111111111", NULL },
};

START_TEST(parse_row)
{
    const struct parse_row *r = &parse_rows[_i];
    struct conn_peer p;
    char got[80];
    int rc = http_realip_parse(r->in, strlen(r->in), &p);
    if (r->out == NULL) {
        ck_assert_msg(rc < 0, "'%s' accepted", r->in);
        return;
    }
    ck_assert_msg(rc == 0, "'%s' refused", r->in);
    peer_text(&p, got, sizeof got);
    ck_assert_str_eq(got, r->out);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The walk */

struct walk_row {
    const char *from;           /* ranges, separated by spaces */
    const char *header;         /* the rule's; NULL: X-Forwarded-For */
    bool recursive;
    const char *peer;
    const char *fields[4];      /* "Name: value" lines of the request */
    const char *want;           /* the client */
};

static const struct walk_row walk_rows[] = {
    /* untrusted peer: nothing it says counts */
    { "10.0.0.0/8", NULL, true, "192.0.2.9", { "X-Forwarded-For: 203.0.113.5" }, "192.0.2.9" },
    { "10.0.0.0/8", "X-Real-IP", false, "192.0.2.9", { "X-Real-IP: 203.0.113.5" }, "192.0.2.9" },
    /* trusted peer, no header */
    { "10.0.0.0/8", NULL, true, "10.0.0.1", { "Host: a" }, "10.0.0.1" },
    /* one entry */
    { "10.0.0.0/8", NULL, false, "10.0.0.1", { "X-Forwarded-For: 203.0.113.5" }, "203.0.113.5" },
    { "10.0.0.0/8", NULL, true, "10.0.0.1", { "x-forwarded-for: 203.0.113.5" }, "203.0.113.5" },
    /* not recursive: the rightmost, trusted or not */
    { "10.0.0.0/8", NULL, false, "10.0.0.1",
      { "X-Forwarded-For: 198.51.100.1, 203.0.113.5, 10.0.0.2" }, "10.0.0.2" },
    { "10.0.0.0/8", NULL, false, "10.0.0.1",
      { "X-Forwarded-For: 6.6.6.6, 203.0.113.5" }, "203.0.113.5" },
    /* recursive: trusted hops skipped, the first untrusted from the right */
    { "10.0.0.0/8", NULL, true, "10.0.0.1",
      { "X-Forwarded-For: 6.6.6.6, 203.0.113.5, 10.0.0.3, 10.0.0.2" }, "203.0.113.5" },
    /* all trusted: the leftmost */
    { "10.0.0.0/8", NULL, true, "10.0.0.1",
      { "X-Forwarded-For: 10.1.1.1, 10.0.0.3" }, "10.1.1.1" },
    /* spaces and tabs around entries, empty entries */
    { "10.0.0.0/8", NULL, true, "10.0.0.1",
      { "X-Forwarded-For: 203.0.113.5 ,\t10.0.0.2 ,, " }, "203.0.113.5" },
    { "10.0.0.0/8", NULL, true, "10.0.0.1", { "X-Forwarded-For: ,,," }, "10.0.0.1" },
    { "10.0.0.0/8", NULL, true, "10.0.0.1", { "X-Forwarded-For: 203.0.113.5,10.0.0.2" },
      "203.0.113.5" },
    /* garbage: the walk stops at the last trusted address */
    { "10.0.0.0/8", NULL, true, "10.0.0.1", { "X-Forwarded-For: 203.0.113.5, unknown" },
      "10.0.0.1" },
    { "10.0.0.0/8", NULL, true, "10.0.0.1",
      { "X-Forwarded-For: 203.0.113.5, garbage, 10.0.0.2" }, "10.0.0.2" },
    { "10.0.0.0/8", NULL, false, "10.0.0.1", { "X-Forwarded-For: 203.0.113.5, 1.2.3" },
      "10.0.0.1" },
    { "10.0.0.0/8", NULL, true, "10.0.0.1", { "X-Forwarded-For: 203.0.113.5 10.0.0.2" },
      "10.0.0.1" },
    /* an untrusted entry ends it: what is left of it is never read */
    { "10.0.0.0/8", NULL, true, "10.0.0.1",
      { "X-Forwarded-For: garbage, 203.0.113.5, 10.0.0.2" }, "203.0.113.5" },
    /* ports and brackets */
    { "10.0.0.0/8", NULL, true, "10.0.0.1",
      { "X-Forwarded-For: 203.0.113.5:4711, 10.0.0.2:80" }, "203.0.113.5 4711" },
    { "10.0.0.0/8", NULL, true, "10.0.0.1", { "X-Forwarded-For: [2001:db8::7]:4711" },
      "2001:db8::7 4711" },
    /* IPv6 peer and hops */
    { "::1 fd00::/8", NULL, true, "::1",
      { "X-Forwarded-For: 2001:db8::7, fd00::2, 10.0.0.2" }, "10.0.0.2" },
    { "::1 fd00::/8 10.0.0.0/8", NULL, true, "::1",
      { "X-Forwarded-For: 2001:db8::7, fd00::2, 10.0.0.2" }, "2001:db8::7" },
    /* several fields are one list, in order: the last field's end first */
    { "10.0.0.0/8", NULL, true, "10.0.0.1",
      { "X-Forwarded-For: 6.6.6.6, 203.0.113.5", "Host: a", "X-Forwarded-For: 10.0.0.5",
        "X-Forwarded-For: 10.0.0.6" }, "203.0.113.5" },
    { "10.0.0.0/8", NULL, false, "10.0.0.1",
      { "X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 203.0.113.5" }, "203.0.113.5" },
    /* another header name: one address in one field */
    { "10.0.0.0/8", "X-Real-IP", false, "10.0.0.1", { "X-Real-IP: 203.0.113.5" },
      "203.0.113.5" },
    { "10.0.0.0/8", "X-Real-IP", false, "10.0.0.1", { "X-Real-IP: [2001:db8::7]:80" },
      "2001:db8::7 80" },
    { "10.0.0.0/8", "X-Real-IP", true, "10.0.0.1", { "X-Real-IP: 203.0.113.5, 10.0.0.2" },
      "10.0.0.1" },
    { "10.0.0.0/8", "X-Real-IP", false, "10.0.0.1",
      { "X-Real-IP: 203.0.113.5", "X-Real-IP: 198.51.100.1" }, "10.0.0.1" },
    { "10.0.0.0/8", "X-Real-IP", false, "10.0.0.1", { "X-Real-IP: nobody" }, "10.0.0.1" },
    { "10.0.0.0/8", "X-Real-IP", false, "10.0.0.1", { "X-Forwarded-For: 203.0.113.5" },
      "10.0.0.1" },
    { "10.0.0.0/8", "CF-Connecting-IP", false, "10.0.0.1", { "cf-connecting-ip: 2001:db8::9" },
      "2001:db8::9" },
    /* "all" trusts everyone */
    { "all", NULL, false, "192.0.2.9", { "X-Forwarded-For: 203.0.113.5" }, "203.0.113.5" },
    /* a peer of another family than the ranges */
    { "10.0.0.0/8", NULL, false, "::1", { "X-Forwarded-For: 203.0.113.5" }, "::1" },
};

static void load_peer(const char *text, struct conn_peer *p)
{
    memset(p, 0, sizeof *p);
    p->family = strchr(text, ':') ? AF_INET6 : AF_INET;
    ck_assert_int_eq(inet_pton(p->family, text, p->addr), 1);
    p->port = htons(1234);
}

/* The rule of a row: its ranges split at spaces. */
static struct http_realip *row_rule(const char *from, const char *header, bool recursive)
{
    char copy[256], *v[8], *save = NULL;
    struct cfg_real_ip conf = { .header = (char *)(header ? header : "X-Forwarded-For"),
                                .recursive = recursive };
    snprintf(copy, sizeof copy, "%s", from);
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save))
        v[conf.from.n++] = t;
    conf.from.v = v;
    struct http_realip *r = http_realip_new(&conf);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* The fields of a row, as the head parser leaves them. */
static size_t row_fields(const char *const *lines, struct http_header *h)
{
    size_t n = 0;
    for (; n < 4 && lines[n]; n++) {
        const char *colon = strchr(lines[n], ':');
        h[n] = (struct http_header){ .name = lines[n], .name_len = (size_t)(colon - lines[n]),
                                     .value = colon + 2, .value_len = strlen(colon + 2) };
    }
    return n;
}

START_TEST(walk_row)
{
    const struct walk_row *w = &walk_rows[_i];
    struct http_realip *r = row_rule(w->from, w->header, w->recursive);
    struct http_header h[4];
    struct conn_peer client;
    char got[80], want[80];
    load_peer(w->peer, &client);
    size_t n = row_fields(w->fields, h);
    bool changed = http_realip_resolve(r, h, n, &client);
    peer_text(&client, got, sizeof got);
    /* The connection's own address keeps its port. */
    snprintf(want, sizeof want, strcmp(w->want, w->peer) == 0 ? "%s 1234" : "%s", w->want);
    ck_assert_msg(strcmp(got, want) == 0, "row %d: got '%s', want '%s'", _i, got, want);
    ck_assert_int_eq(changed, strcmp(w->want, w->peer) != 0);
    http_realip_free(r);
}
END_TEST

/* A long chain of trusted hops is walked HTTP_REALIP_MAX_HOPS entries
 * deep, no further: the client is then the last trusted one walked. */
START_TEST(walk_is_bounded)
{
    struct http_realip *r = row_rule("10.0.0.0/8", NULL, true);
    size_t cap = 16 * 1024, len = 0;
    char *v = malloc(cap);
    ck_assert_ptr_nonnull(v);
    len += (size_t)snprintf(v + len, cap - len, "203.0.113.5");
    for (int i = 1000; i > 0; i--)
        len += (size_t)snprintf(v + len, cap - len, ", 10.0.%d.%d", i / 256, i % 256);
    struct http_header h = { "X-Forwarded-For", 15, v, len };
    struct conn_peer client;
    char got[80], want[32];
    load_peer("10.0.0.1", &client);
    ck_assert(http_realip_resolve(r, &h, 1, &client));
    peer_text(&client, got, sizeof got);
    /* The entries from the right are 10.0.0.1, 10.0.0.2, ...: the 64th. */
    snprintf(want, sizeof want, "10.0.0.%d", HTTP_REALIP_MAX_HOPS);
    ck_assert_str_eq(got, want);
    /* Below the bound the walk reaches the client. */
    len = (size_t)snprintf(v, cap, "203.0.113.5");
    for (int i = HTTP_REALIP_MAX_HOPS - 1; i > 0; i--)
        len += (size_t)snprintf(v + len, cap - len, ", 10.0.0.%d", i);
    h.value_len = len;
    load_peer("10.0.0.1", &client);
    ck_assert(http_realip_resolve(r, &h, 1, &client));
    peer_text(&client, got, sizeof got);
    ck_assert_str_eq(got, "203.0.113.5");
    free(v);
    http_realip_free(r);
}
END_TEST

/* "unix:" trusts the clients of unix-socket listeners, and only it. */
START_TEST(unix_clients)
{
    struct http_header h = { "X-Forwarded-For", 15, "203.0.113.5", 11 };
    struct conn_peer client = { .family = AF_UNIX };
    char got[80];
    struct http_realip *r = row_rule("all", NULL, false);
    ck_assert(!http_realip_resolve(r, &h, 1, &client));
    http_realip_free(r);
    r = row_rule("10.0.0.0/8 unix:", NULL, false);
    ck_assert(http_realip_resolve(r, &h, 1, &client));
    peer_text(&client, got, sizeof got);
    ck_assert_str_eq(got, "203.0.113.5");
    http_realip_free(r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The group at load */

static struct herd_config *load_rip(const char *group)
{
    char text[2048];
    snprintf(text, sizeof text,
             "workers = 1; pid_file = \"/tmp/x.pid\"; error_log = \"stderr\";\n"
             "servers = ( { listen = \"127.0.0.1:1\";\n"
             "  real_ip = %s;\n"
             "  routes = ( { path = \"/\"; return = { status = 200; }; } ); } );\n", group);
    return fixture_load(text, err, sizeof err);
}

START_TEST(config_defaults_and_print)
{
    struct herd_config *cfg = load_rip("{ from = [ \"10.0.0.0/8\", \"::1\", \"unix:\" ]; }");
    ck_assert_msg(cfg != NULL, "%s", err);
    const struct cfg_real_ip *r = http_config(&cfg->servers[0])->real_ip;
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->from.n, 3);
    ck_assert_str_eq(r->header, "X-Forwarded-For");
    ck_assert(!r->recursive);
    char *text = fixture_print(cfg);
    ck_assert_msg(strstr(text, "real_ip = {") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "header = \"X-Forwarded-For\";") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "recursive = false;") != NULL, "%s", text);
    free(text);
    config_free(cfg);
    /* Without the group: none. */
    cfg = fixture_load(BASE "servers = ( { listen = \"127.0.0.1:1\"; routes = ( { path = \"/\"; "
                       "return = { status = 200; }; } ); } );\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_ptr_null(http_config(&cfg->servers[0])->real_ip);
    config_free(cfg);
}
END_TEST

struct rip_bad {
    const char *group;
    const char *says;
};

static const struct rip_bad rip_bads[] = {
    { "{ header = \"X-Real-IP\"; }", "'real_ip' needs 'from'" },
    { "{ from = [ ]; }", "'from' must not be empty" },
    { "{ from = [ \"10.0.0.0/33\" ]; }", "\"10.0.0.0/33\" is not an address" },
    { "{ from = [ \"10.0.0.0/8\", \"proxy\" ]; }", "\"proxy\" is not an address" },
    { "{ from = \"unix\"; }", "\"unix\" is not an address" },
    { "{ from = \"10.0.0.1\"; header = \"proxy_protocol\"; }",
      "the PROXY protocol is taken by the listener" },
    { "{ from = \"10.0.0.1\"; header = \"Forwarded\"; }", "\"Forwarded\" (RFC 7239" },
    { "{ from = \"10.0.0.1\"; header = \"X Real IP\"; }", "is not a header field name" },
    { "{ from = \"10.0.0.1\"; header = \"\"; }", "is not a header field name" },
    { "{ from = \"10.0.0.1\"; headers = \"X-Real-IP\"; }", "headers" },
    { "{ from = \"10.0.0.1\"; recursive = \"yes\"; }", "recursive" },
};

START_TEST(config_refusals)
{
    const struct rip_bad *b = &rip_bads[_i];
    struct herd_config *cfg = load_rip(b->group);
    fixture_refused(_i, cfg, err, fixture_conf, 3, b->says);
}
END_TEST

/* A range with host bits is its network, with a warning (as allow's). */
START_TEST(config_host_bits_warned)
{
    struct herd_config *cfg = load_rip("{ from = \"10.1.2.3/8\"; }");
    ck_assert_msg(cfg != NULL, "%s", err);
    char *text = fixture_print(cfg);
    ck_assert_msg(strstr(text, "\"10.1.2.3/8\"") != NULL, "%s", text);
    free(text);
    config_free(cfg);
}
END_TEST

int main(void)
{
    config_use_protocols(&proto_registry);
    Suite *s = suite_create("http_realip");
    TCase *tc = tcase_create("walk");
    tcase_add_loop_test(tc, parse_row, 0, (int)(sizeof parse_rows / sizeof parse_rows[0]));
    tcase_add_loop_test(tc, walk_row, 0, (int)(sizeof walk_rows / sizeof walk_rows[0]));
    tcase_add_test(tc, walk_is_bounded);
    tcase_add_test(tc, unix_clients);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_checked_fixture(tc, fixture_conf_setup, fixture_conf_teardown);
    tcase_add_test(tc, config_defaults_and_print);
    tcase_add_loop_test(tc, config_refusals, 0, (int)(sizeof rip_bads / sizeof rip_bads[0]));
    tcase_add_test(tc, config_host_bits_warned);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
