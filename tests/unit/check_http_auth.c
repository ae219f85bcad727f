/* Basic authentication (src/http/auth.c): base64, the Authorization
 * value, SipHash's reference vectors, the auth group's checks at load (a
 * real file, weak hashes refused), and the check itself with real crypt(3)
 * hashes: right and wrong passwords, unknown users hashed all the same,
 * the cache (hit, expiry, a changed hash never matching) and the 401. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_fixture.h"
#include "http/auth.h"
#include "http/config.h"
#include "proto.h"
#include "tap.h"

static char err[1024];

/* ------------------------------------------------------------------ */
/* base64 and the header value */

struct b64_row {
    const char *in;
    const char *out;            /* NULL: malformed */
};

static const struct b64_row b64_rows[] = {
    { "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" }, { "Zm9vYg==", "foob" },
    { "Zm9vYmE=", "fooba" }, { "Zm9vYmFy", "foobar" }, { "YWxpY2U6c2VjcmV0", "alice:secret" },
    { "Zm9", NULL }, { "Zg=", NULL }, { "Z===", NULL }, { "Zg==Zg==", NULL }, { "Zm9v!A==", NULL },
    { "Zm 9v", NULL }, { "====", NULL },
};

START_TEST(base64_row)
{
    const struct b64_row *r = &b64_rows[_i];
    char out[64];
    int n = http_auth_base64_decode(r->in, strlen(r->in), out, sizeof out);
    if (r->out == NULL) {
        ck_assert_msg(n == -1, "\"%s\" decoded", r->in);
        return;
    }
    ck_assert_int_eq(n, (int)strlen(r->out));
    ck_assert_int_eq(memcmp(out, r->out, (size_t)n), 0);
    /* The decoded length must fit: one byte short is refused. */
    if (n > 0)
        ck_assert_int_eq(http_auth_base64_decode(r->in, strlen(r->in), out, (size_t)n - 1), -1);
}
END_TEST

struct basic_row {
    const char *value;
    const char *user;           /* NULL: malformed */
    const char *password;
};

static const struct basic_row basic_rows[] = {
    { "Basic YWxpY2U6c2VjcmV0", "alice", "secret" },
    { "basic   YWxpY2U6c2VjcmV0", "alice", "secret" },
    { "BASIC YWxpY2U6", "alice", "" },                  /* "alice:" */
    { "Basic YTpiOmM=", "a", "b:c" },                   /* the first colon splits */
    { "Basic w6k6w6k=", "\xc3\xa9", "\xc3\xa9" },       /* UTF-8 bytes as they are */
    { "Basic OnNlY3JldA==", NULL, NULL },               /* ":secret": no user */
    { "Basic YWxpY2U=", NULL, NULL },                   /* "alice": no colon */
    { "Basic YQBiOmM=", NULL, NULL },                   /* a NUL byte */
    { "Basic", NULL, NULL },
    { "Basic ", NULL, NULL },
    { "Basic !!!", NULL, NULL },
    { "Bearer YWxpY2U6c2VjcmV0", NULL, NULL },
    { "BasicYWxpY2U6c2VjcmV0", NULL, NULL },
    { "Digest username=\"alice\"", NULL, NULL },
};

START_TEST(basic_row)
{
    const struct basic_row *r = &basic_rows[_i];
    char buf[HTTP_AUTH_MAX];
    const char *user = NULL, *password = NULL;
    size_t ulen = 0;
    int rc = http_auth_parse_basic(r->value, strlen(r->value), buf, sizeof buf, &user, &ulen,
                                   &password);
    if (r->user == NULL) {
        ck_assert_msg(rc == -1, "\"%s\" accepted", r->value);
        return;
    }
    ck_assert_msg(rc == 0, "\"%s\" refused", r->value);
    ck_assert_uint_eq(ulen, strlen(r->user));
    ck_assert_int_eq(memcmp(user, r->user, ulen), 0);
    ck_assert_str_eq(password, r->password);
}
END_TEST

START_TEST(basic_too_long)
{
    char v[HTTP_AUTH_MAX + 8] = "Basic ";
    memset(v + 6, 'A', sizeof v - 7);
    v[sizeof v - 1] = '\0';
    char buf[HTTP_AUTH_MAX];
    const char *user, *password;
    size_t ulen;
    ck_assert_int_eq(http_auth_parse_basic(v, strlen(v), buf, sizeof buf, &user, &ulen,
                                           &password), -1);
}
END_TEST

/* The reference implementation's vectors: key 00..0f, messages 00..(n-1). */
START_TEST(siphash_vectors)
{
    static const uint64_t want[] = { 0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL,
                                     0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL };
    const uint64_t key[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
    uint8_t in[64];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)i;
    for (size_t n = 0; n < 4; n++)
        ck_assert_msg(http_auth_siphash(key, in, n) == want[n], "length %zu", n);
    /* a whole word and more */
    ck_assert(http_auth_siphash(key, in, 15) == 0xa129ca6149be45e5ULL);
    ck_assert(http_auth_siphash(key, in, 8) == 0x93f5f5799a932462ULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The auth group and the check, with real hashes */

/* "secret" as bcrypt at cost 4 (the cheapest). */
#define ALICE "$2b$04$Wl1g9R0z9t9PqUOHLWQhLOAviNdm1Fy7L2BPJ5i3DKyArgYYTZReW"
static char pwfile[256];

static void write_file(const char *text)
{
    FILE *f = fopen(pwfile, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static struct herd_config *load_auth(const char *auth)
{
    char text[2048];
    snprintf(text, sizeof text,
             "workers = 1; pid_file = \"/tmp/x.pid\"; error_log = \"stderr\";\n"
             "servers = ( { listen = \"127.0.0.1:1\";\n"
             "  routes = ( { path = \"/\"; auth = %s;\n"
             "               return = { status = 200; }; } ); } );\n", auth);
    return fixture_load(text, err, sizeof err);
}

static const struct cfg_auth *auth_of(const struct herd_config *cfg)
{
    return http_config(&cfg->servers[0])->routes[0].auth;
}

static void setup(void)
{
    fixture_conf_setup();
    fixture_path(pwfile, sizeof pwfile, fixture_dir, "htpasswd");
}

START_TEST(config_reads_the_file)
{
    char auth[512];
    write_file("alice:" ALICE "\n");
    snprintf(auth, sizeof auth, "{ realm = \"staff\"; user_file = \"%s\"; }", pwfile);
    struct herd_config *cfg = load_auth(auth);
    ck_assert_msg(cfg != NULL, "%s", err);
    const struct cfg_auth *a = auth_of(cfg);
    ck_assert_str_eq(a->realm, "staff");
    ck_assert_int_eq(a->cache, 60000);
    ck_assert_uint_eq(a->users.n, 1);
    ck_assert_str_eq(a->users.v[0].user, "alice");
    config_free(cfg);
}
END_TEST

struct auth_bad {
    const char *file;           /* written to pwfile; NULL: none */
    const char *auth;           /* %s: pwfile */
    const char *msg;
};

static const struct auth_bad auth_bads[] = {
    { "bob:$apr1$xyz$3Ya9Qa5d6T5cnMHY7dB8N/\n", "{ user_file = \"%s\"; }",
      ":3: %s:1: user 'bob': apr1-MD5 password hashes are too weak" },
    { "carol:$2b$04$short\n", "{ user_file = \"%s\"; }",
      ":3: %s:1: user 'carol': malformed bcrypt hash" },
    { NULL, "{ user_file = \"%s\"; }", ":3: user_file %s: No such file or directory" },
    { "alice:" ALICE "\n", "{ realm = \"st\\\"aff\"; user_file = \"%s\"; }",
      ":3: 'realm' must be non-empty" },
    { "alice:" ALICE "\n", "{ realm = \"staff\"; }", ":3: 'auth' needs 'user_file'" },
    { "alice:" ALICE "\n", "{ user_file = \"htpasswd\"; }",
      ":3: 'user_file' must be an absolute path" },
};

/* tmpl with its "%s" (if any) replaced by the password file's path. */
static void subst(char *out, size_t cap, const char *tmpl)
{
    const char *at = strstr(tmpl, "%s");
    if (at == NULL)
        snprintf(out, cap, "%s", tmpl);
    else
        snprintf(out, cap, "%.*s%s%s", (int)(at - tmpl), tmpl, pwfile, at + 2);
}

START_TEST(config_refusals)
{
    const struct auth_bad *r = &auth_bads[_i];
    char auth[512], want[512];
    if (r->file)
        write_file(r->file);
    subst(auth, sizeof auth, r->auth);
    subst(want, sizeof want, r->msg);
    struct herd_config *cfg = load_auth(auth);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, want) != NULL, "got \"%s\"\nwant \"%s\"", err, want);
}
END_TEST

static struct http_header hdr;
static struct http_request head = { .headers = &hdr };

static void with_authorization(const char *value)
{
    hdr = (struct http_header){ "Authorization", 13, value, strlen(value) };
    head.num_headers = value ? 1 : 0;
}

START_TEST(check_with_cache)
{
    char auth[512];
    write_file("# staff\nalice:" ALICE "\n");
    snprintf(auth, sizeof auth, "{ realm = \"staff\"; user_file = \"%s\"; cache = \"10s\"; }",
             pwfile);
    struct herd_config *cfg = load_auth(auth);
    ck_assert_msg(cfg != NULL, "%s", err);
    struct http_auth *a = http_auth_build(auth_of(cfg), err, sizeof err);
    ck_assert_ptr_nonnull(a);
    const char *user = NULL;

    head.num_headers = 0;
    ck_assert_int_eq(http_auth_check(a, &head, 0, &user), HTTP_AUTH_NONE);
    with_authorization("Basic !!!");
    ck_assert_int_eq(http_auth_check(a, &head, 0, &user), HTTP_AUTH_MALFORMED);
    ck_assert_uint_eq(http_auth_hashed(a), 0);

    with_authorization("Basic YWxpY2U6c2VjcmV0");                  /* alice:secret */
    ck_assert_int_eq(http_auth_check(a, &head, 1000, &user), HTTP_AUTH_OK);
    ck_assert_str_eq(user, "alice");
    ck_assert_uint_eq(http_auth_hashed(a), 1);
    /* Remembered: no crypt until the entry expires. */
    ck_assert_int_eq(http_auth_check(a, &head, 10999, &user), HTTP_AUTH_OK);
    ck_assert_uint_eq(http_auth_hashed(a), 1);
    ck_assert_int_eq(http_auth_check(a, &head, 11000, &user), HTTP_AUTH_OK);
    ck_assert_uint_eq(http_auth_hashed(a), 2);

    /* A wrong password is hashed (never remembered), and so is an unknown
     * user's attempt: the same work, the same refusal. */
    with_authorization("Basic YWxpY2U6d3Jvbmc=");                  /* alice:wrong */
    ck_assert_int_eq(http_auth_check(a, &head, 12000, &user), HTTP_AUTH_FAILED);
    ck_assert_int_eq(http_auth_check(a, &head, 12000, &user), HTTP_AUTH_FAILED);
    ck_assert_uint_eq(http_auth_hashed(a), 4);
    with_authorization("Basic bWFsbG9yeTpzZWNyZXQ=");              /* mallory:secret */
    ck_assert_int_eq(http_auth_check(a, &head, 12000, &user), HTTP_AUTH_FAILED);
    ck_assert_uint_eq(http_auth_hashed(a), 5);
    with_authorization("Basic YWxpY2VzOnNlY3JldA==");              /* alices:secret */
    ck_assert_int_eq(http_auth_check(a, &head, 12000, &user), HTTP_AUTH_FAILED);

    /* The 401 names the realm. */
    const struct http_fixed *f = http_auth_challenge(a);
    ck_assert_int_eq(f->status, 401);
    ck_assert_ptr_nonnull(strstr(f->head, "\r\nWWW-Authenticate: Basic realm=\"staff\", "
                                          "charset=\"UTF-8\"\r\n"));
    http_auth_free(a);
    config_free(cfg);
}
END_TEST

/* A changed hash (the file edited, then a reload) never matches an entry
 * remembered for the old one, even within the same worker. */
START_TEST(changed_hash_not_remembered)
{
    char auth[512];
    write_file("alice:" ALICE "\n");
    snprintf(auth, sizeof auth, "{ user_file = \"%s\"; }", pwfile);
    struct herd_config *cfg = load_auth(auth);
    ck_assert_msg(cfg != NULL, "%s", err);
    struct cfg_auth *ca = http_config(&cfg->servers[0])->routes[0].auth;
    struct http_auth *a = http_auth_build(ca, err, sizeof err);
    const char *user;
    with_authorization("Basic YWxpY2U6c2VjcmV0");
    ck_assert_int_eq(http_auth_check(a, &head, 0, &user), HTTP_AUTH_OK);
    /* "hunter2", bcrypt cost 4 */
    char *old = ca->users.v[0].hash;
    ca->users.v[0].hash = "$2b$04$NOc2Yj4P3.GdHVX8R9jAEuSYPVQYlA9fSI9SysU/1tx4yTwKcTn0K";
    ck_assert_int_eq(http_auth_check(a, &head, 1, &user), HTTP_AUTH_FAILED);
    ck_assert_uint_eq(http_auth_hashed(a), 2);
    ca->users.v[0].hash = old;
    http_auth_free(a);
    config_free(cfg);
}
END_TEST

START_TEST(cache_off)
{
    char auth[512];
    write_file("alice:" ALICE "\n");
    snprintf(auth, sizeof auth, "{ user_file = \"%s\"; cache = 0; }", pwfile);
    struct herd_config *cfg = load_auth(auth);
    ck_assert_msg(cfg != NULL, "%s", err);
    struct http_auth *a = http_auth_build(auth_of(cfg), err, sizeof err);
    const char *user;
    with_authorization("Basic YWxpY2U6c2VjcmV0");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(http_auth_check(a, &head, i, &user), HTTP_AUTH_OK);
    ck_assert_uint_eq(http_auth_hashed(a), 3);
    http_auth_free(a);
    config_free(cfg);
}
END_TEST

int main(void)
{
    config_use_protocols(&proto_registry);
    Suite *s = suite_create("http_auth");
    TCase *tc = tcase_create("header");
    tcase_add_loop_test(tc, base64_row, 0, (int)(sizeof b64_rows / sizeof b64_rows[0]));
    tcase_add_loop_test(tc, basic_row, 0, (int)(sizeof basic_rows / sizeof basic_rows[0]));
    tcase_add_test(tc, basic_too_long);
    tcase_add_test(tc, siphash_vectors);
    suite_add_tcase(s, tc);
    tc = tcase_create("check");
    tcase_add_checked_fixture(tc, setup, fixture_conf_teardown);
    tcase_add_test(tc, config_reads_the_file);
    tcase_add_loop_test(tc, config_refusals, 0, (int)(sizeof auth_bads / sizeof auth_bads[0]));
    tcase_add_test(tc, check_with_cache);
    tcase_add_test(tc, changed_hash_not_remembered);
    tcase_add_test(tc, cache_off);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
