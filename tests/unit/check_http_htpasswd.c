/* Password files (src/http/htpasswd.c): the hash classifier, and the
 * parser's lines, comments, duplicates and refusals of weak hashes with
 * FILE:LINE, the user and the hint. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "http/htpasswd.h"
#include "tap.h"

static char err[1024];

struct kind_row {
    const char *hash;
    enum htpasswd_kind kind;
};

static const struct kind_row kind_rows[] = {
    { "$2y$05$iXm.37rjzcDXupG7o5FoxuelK279SvyKDdz..yNytfaOcjJCLE48S", HTPASSWD_BCRYPT },
    { "$2b$10$zgxnDNha3Xztk.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM", HTPASSWD_BCRYPT },
    { "$2a$10$zgxnDNha3Xztk.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM", HTPASSWD_BCRYPT },
    { "$6$8O68jZTfxeyyKaR7$abc", HTPASSWD_SHA512 },
    { "$5$rounds=10000$salt$abc", HTPASSWD_SHA256 },
    { "$y$j9T$BdANyK7Aixoq/$abc", HTPASSWD_YESCRYPT },
    { "$gy$j9T$salt$abc", HTPASSWD_YESCRYPT },
    { "$7$CU..../....salt$abc", HTPASSWD_SCRYPT },
    { "$apr1$xyz$3Ya9Qa5d6T5cnMHY7dB8N/", HTPASSWD_APR1 },
    { "$1$salt$qJH7.N4xYta3aEG/dfqo/0", HTPASSWD_MD5 },
    { "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", HTPASSWD_SHA1 },
    { "rl0mfHYGS0sB.", HTPASSWD_DES },
    { "secret", HTPASSWD_PLAIN },
    { "$2x$10$weird", HTPASSWD_PLAIN },
    { "rl0mfHYGS0sB!", HTPASSWD_PLAIN },
    { "", HTPASSWD_PLAIN },
};

START_TEST(classify_row)
{
    const struct kind_row *r = &kind_rows[_i];
    enum htpasswd_kind k = htpasswd_classify(r->hash);
    ck_assert_msg(k == r->kind, "%s: %s, expected %s", r->hash, htpasswd_kind_name(k),
                  htpasswd_kind_name(r->kind));
    ck_assert(htpasswd_kind_strong(k) == (r->kind <= HTPASSWD_SCRYPT));
}
END_TEST

#define GOOD "$2y$05$iXm.37rjzcDXupG7o5FoxuelK279SvyKDdz..yNytfaOcjJCLE48S"
#define SHA512 "$6$8O68jZTfxeyyKaR7$" \
    "QmFzZTY0IGlzIG5vdCBhIGhhc2ggYnV0IGl0IGhhcyB0aGUgcmlnaHQgbGVuZ3RoIGZvciBvbmUuLi4uLi4uLi"
#define YESCRYPT "$y$j9T$BdANyK7Aixoq/.$DlQ9Sd8JtT1KYLx8s3c5X5yv1Wn0F2pVx6mJk0qP0q6"

START_TEST(parse_lines)
{
    const char text[] = "# staff\n\nalice:" GOOD "\r\n  bob:" SHA512 ":Bob the builder\n"
                        "carol:" YESCRYPT;
    struct htpasswd h;
    ck_assert_msg(htpasswd_parse("/etc/pw", text, sizeof text - 1, &h, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_str_eq(h.v[0].user, "alice");
    ck_assert_uint_eq(h.v[0].user_len, 5);
    ck_assert_str_eq(h.v[0].hash, GOOD);
    ck_assert_str_eq(h.v[1].user, "bob");
    ck_assert_str_eq(h.v[1].hash, SHA512);      /* the comment field dropped */
    ck_assert_str_eq(h.v[2].hash, YESCRYPT);    /* no final newline */
    htpasswd_free(&h);
    ck_assert_uint_eq(h.n, 0);
}
END_TEST

struct bad_row {
    const char *text;
    const char *msg;
};

static const struct bad_row bad_rows[] = {
    { "alice:" GOOD "\nbob:$apr1$xyz$3Ya9Qa5d6T5cnMHY7dB8N/\n",
      "/etc/pw:2: user 'bob': apr1-MD5 password hashes are too weak (fast to crack); "
      "make a bcrypt one with `htpasswd -B /etc/pw bob` or a yescrypt one with "
      "`mkpasswd -m yescrypt`" },
    { "dave:secret\n", "/etc/pw:1: user 'dave': plain text password hashes are too weak" },
    { "# x\neve:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n", "/etc/pw:2: user 'eve': {SHA} (unsalted SHA-1) password hashes" },
    { "fred:$1$salt$qJH7.N4xYta3aEG/dfqo/0\n", "/etc/pw:1: user 'fred': MD5-crypt password hashes" },
    { "gina:rl0mfHYGS0sB.\n", "/etc/pw:1: user 'gina': DES crypt password hashes" },
    { "alice:" GOOD "\nalice:" GOOD "\n", "/etc/pw:2: user 'alice' is listed twice" },
    { "no colon here\n", "/etc/pw:1: expected user:hash" },
    { ":" GOOD "\n", "/etc/pw:1: empty user name" },
    { "alice:\n", "/etc/pw:1: empty password hash" },
    { "# only comments\n\n", "/etc/pw: no user in the file (add one with `htpasswd -B /etc/pw USER`)" },
    { "", "/etc/pw: no user in the file" },
    { "carol:$2y$05$short\n", "/etc/pw:1: user 'carol': malformed bcrypt hash" },
    { "dan:$6$salt$abc\n", "/etc/pw:1: user 'dan': malformed sha512-crypt hash" },
    { "erin:$y$j9T$salt$abc\n", "/etc/pw:1: user 'erin': malformed yescrypt hash" },
};

START_TEST(parse_bad_row)
{
    const struct bad_row *r = &bad_rows[_i];
    struct htpasswd h;
    ck_assert_int_eq(htpasswd_parse("/etc/pw", r->text, strlen(r->text), &h, err, sizeof err), -1);
    ck_assert_msg(strncmp(err, r->msg, strlen(r->msg)) == 0, "got \"%s\"\nwant \"%s\"", err,
                  r->msg);
    ck_assert_ptr_null(h.v);
    ck_assert_uint_eq(h.n, 0);
}
END_TEST

START_TEST(parse_nul_refused)
{
    const char text[] = "alice:$2y$05$ab\0cd\n";
    struct htpasswd h;
    ck_assert_int_eq(htpasswd_parse("/etc/pw", text, sizeof text - 1, &h, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "NUL byte"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_htpasswd");
    TCase *tc = tcase_create("classify");
    tcase_add_loop_test(tc, classify_row, 0, (int)(sizeof kind_rows / sizeof kind_rows[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("parse");
    tcase_add_test(tc, parse_lines);
    tcase_add_loop_test(tc, parse_bad_row, 0, (int)(sizeof bad_rows / sizeof bad_rows[0]));
    tcase_add_test(tc, parse_nul_refused);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
