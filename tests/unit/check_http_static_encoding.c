/* Accept-Encoding for static files (static_encoding.c): q-values per RFC
 * 9110 section 12.5.3 (q=0 refuses, "*" for what is not named, identity
 * acceptable unless refused), and the choice among the codings a file is
 * offered in (highest q, then the server's order). */
#include <check.h>
#include <string.h>

#include "http/static_encoding.h"
#include "tap.h"

static struct static_accept acc;

static const struct static_accept *parse(const char *v)
{
    static_accept_parse(&acc, v, v ? strlen(v) : 0);
    return &acc;
}

static int q(const char *v, enum static_coding c)
{
    return static_accept_q(parse(v), c);
}

START_TEST(q_values)
{
    ck_assert_int_eq(q("gzip", STATIC_CODING_GZIP), 1000);
    ck_assert_int_eq(q("gzip;q=0.5", STATIC_CODING_GZIP), 500);
    ck_assert_int_eq(q("gzip; q=0.125", STATIC_CODING_GZIP), 125);
    ck_assert_int_eq(q("gzip ;Q=1.000", STATIC_CODING_GZIP), 1000);
    ck_assert_int_eq(q("GZip;q=0", STATIC_CODING_GZIP), 0);
    ck_assert_int_eq(q("x-gzip", STATIC_CODING_GZIP), 1000);
    ck_assert_int_eq(q("deflate, br;q=0.7", STATIC_CODING_BR), 700);
    ck_assert_int_eq(q("deflate, br;q=0.7", STATIC_CODING_GZIP), 0);
    ck_assert_int_eq(q(" , ,gzip,, ", STATIC_CODING_GZIP), 1000);
    /* a parameter that is not q is no reason to refuse */
    ck_assert_int_eq(q("gzip;level=9;q=0.3", STATIC_CODING_GZIP), 300);
    /* named twice: the better */
    ck_assert_int_eq(q("gzip;q=0.2, gzip;q=0.6", STATIC_CODING_GZIP), 600);
}
END_TEST

START_TEST(bad_qvalues_ignore_the_element)
{
    ck_assert_int_eq(q("gzip;q=2", STATIC_CODING_GZIP), 0);
    ck_assert_int_eq(q("gzip;q=1.5", STATIC_CODING_GZIP), 0);
    ck_assert_int_eq(q("gzip;q=0.1234", STATIC_CODING_GZIP), 0);
    ck_assert_int_eq(q("gzip;q=", STATIC_CODING_GZIP), 0);
    ck_assert_int_eq(q("gzip;q=-1", STATIC_CODING_GZIP), 0);
    ck_assert_int_eq(q("gzip;q=0.5x", STATIC_CODING_GZIP), 0);
    ck_assert_int_eq(q("gzip x", STATIC_CODING_GZIP), 0);
    ck_assert_int_eq(q("gzipx", STATIC_CODING_GZIP), 0);
    ck_assert_int_eq(q("gzip;q=2, br", STATIC_CODING_BR), 1000);
}
END_TEST

START_TEST(star_and_identity)
{
    ck_assert_int_eq(q("*", STATIC_CODING_GZIP), 1000);
    ck_assert_int_eq(q("*;q=0.4, gzip;q=0.9", STATIC_CODING_BR), 400);
    ck_assert_int_eq(q("*;q=0.4, gzip;q=0.9", STATIC_CODING_GZIP), 900);
    /* identity: acceptable unless identity;q=0 or *;q=0 without its own entry */
    ck_assert_int_eq(q("gzip", STATIC_CODING_IDENTITY), 1000);
    ck_assert_int_eq(q("identity;q=0", STATIC_CODING_IDENTITY), 0);
    ck_assert_int_eq(q("*;q=0", STATIC_CODING_IDENTITY), 0);
    ck_assert_int_eq(q("*;q=0, identity", STATIC_CODING_IDENTITY), 1000);
    ck_assert_int_eq(q("", STATIC_CODING_IDENTITY), 1000);
    ck_assert_int_eq(q("", STATIC_CODING_GZIP), 0);
    /* no field at all: identity only */
    ck_assert_int_eq(q(NULL, STATIC_CODING_IDENTITY), 1000);
    ck_assert_int_eq(q(NULL, STATIC_CODING_GZIP), 0);
}
END_TEST

static const enum static_coding br_gz[] = { STATIC_CODING_BR, STATIC_CODING_GZIP };
static const enum static_coding gz_br[] = { STATIC_CODING_GZIP, STATIC_CODING_BR };

static int choose(const char *v, const enum static_coding *offered, size_t n)
{
    return static_accept_choose(parse(v), offered, n);
}

START_TEST(choice)
{
    ck_assert_int_eq(choose("gzip, br", br_gz, 2), 0);          /* the server's order */
    ck_assert_int_eq(choose("gzip, br", gz_br, 2), 0);
    ck_assert_int_eq(choose("br, gzip", gz_br, 2), 0);
    ck_assert_int_eq(choose("br;q=0.5, gzip", br_gz, 2), 1);    /* q first */
    ck_assert_int_eq(choose("gzip;q=0, br;q=0.1", gz_br, 2), 1);
    ck_assert_int_eq(choose("gzip;q=0, br;q=0", gz_br, 2), -1);
    ck_assert_int_eq(choose("identity", gz_br, 2), -1);
    ck_assert_int_eq(choose(NULL, gz_br, 2), -1);
    ck_assert_int_eq(choose("", gz_br, 2), -1);
    ck_assert_int_eq(choose("gzip", gz_br, 0), -1);
    /* identity rated: it wins only with a better q */
    ck_assert_int_eq(choose("gzip;q=0.4, identity;q=0.5", gz_br, 2), -1);
    ck_assert_int_eq(choose("gzip;q=0.5, identity;q=0.5", gz_br, 2), 0);
    ck_assert_int_eq(choose("*;q=0.1, identity;q=0.05", gz_br, 2), 0);
    /* identity not rated: any coding named with q > 0 */
    ck_assert_int_eq(choose("gzip;q=0.001", gz_br, 2), 0);
    /* nothing acceptable, identity refused: still identity (not 406) */
    ck_assert_int_eq(choose("identity;q=0, deflate", gz_br, 2), -1);
}
END_TEST

START_TEST(field_over_several_lines)
{
    static_accept_parse(&acc, "br;q=0.2", 8);
    static_accept_add(&acc, "gzip;q=0.9, identity;q=0", 24);
    ck_assert_int_eq(static_accept_q(&acc, STATIC_CODING_BR), 200);
    ck_assert_int_eq(static_accept_q(&acc, STATIC_CODING_GZIP), 900);
    ck_assert_int_eq(static_accept_q(&acc, STATIC_CODING_IDENTITY), 0);
    static_accept_parse(&acc, NULL, 0);
    static_accept_add(&acc, "", 0);         /* an empty line: identity only */
    ck_assert(acc.present);
    ck_assert_int_eq(static_accept_q(&acc, STATIC_CODING_GZIP), 0);
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(static_coding_name(STATIC_CODING_GZIP), "gzip");
    ck_assert_str_eq(static_coding_name(STATIC_CODING_BR), "br");
    ck_assert_ptr_null(static_coding_name(STATIC_CODING_IDENTITY));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_static_encoding");
    TCase *t = tcase_create("accept-encoding");
    tcase_add_test(t, q_values);
    tcase_add_test(t, bad_qvalues_ignore_the_element);
    tcase_add_test(t, star_and_identity);
    tcase_add_test(t, choice);
    tcase_add_test(t, field_over_several_lines);
    tcase_add_test(t, names);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite_tap(suite());
}
