/* The chunked body decoder (src/http/chunked.c), beyond the table in
 * check_http_parse: random bodies encoded in random chunks (extensions,
 * hex case, leading zeros, trailers) decoded from random pieces; data
 * handed over in runs pointing into the caller's input; what is consumed
 * at an error; the reason given for each kind of error. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/chunked.h"
#include "tap.h"

/* Collects data, checking that each run lies inside the piece fed. */
struct sink {
    char *buf;
    size_t len, cap;
    const char *piece;
    size_t piece_len;
    int runs;
};

static void collect(void *arg, const char *p, size_t n)
{
    struct sink *s = arg;
    ck_assert_uint_gt(n, 0);
    ck_assert_msg(p >= s->piece && p + n <= s->piece + s->piece_len, "data outside the input");
    ck_assert_uint_le(s->len + n, s->cap);
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->runs++;
}

/* Feed in[0..len) in one call; returns rc, *consumed set. */
static int feed(struct http_chunked *c, const char *in, size_t len, size_t *consumed,
                struct sink *s)
{
    s->piece = in;
    s->piece_len = len;
    return http_chunked_decode(c, in, len, consumed, collect, s);
}

/* ------------------------------------------------------------------ */
/* Random round trip */

struct encoded {
    char *text;
    size_t len, cap;
};

static void put(struct encoded *e, const char *s, size_t n)
{
    if (e->len + n > e->cap) {
        e->cap = (e->len + n) * 2;
        e->text = realloc(e->text, e->cap);
        ck_assert_ptr_nonnull(e->text);
    }
    memcpy(e->text + e->len, s, n);
    e->len += n;
}

static void put_str(struct encoded *e, const char *s)
{
    put(e, s, strlen(s));
}

static const char *const extensions[] = {
    "", "", "", ";a", ";a=b", " ; name = \"q;\\\"x\"", ";x=1;y", "\t;\tz\t=\ttok",
};

static const char *const trailers[] = {
    "", "", "X-Sum: 12\r\n", "A: \r\nB: b c\r\n",
};

/* body encoded in chunks of random sizes, then a tail that follows. */
static void encode(const char *body, size_t n, struct encoded *e)
{
    size_t at = 0;
    char line[64];
    while (at < n) {
        size_t size = 1 + (size_t)random() % 300;
        if (size > n - at)
            size = n - at;
        const char *zeros = random() % 4 ? "" : "000", *ext = extensions[random() % 8];
        if (random() % 2)
            snprintf(line, sizeof line, "%s%zx%s\r\n", zeros, size, ext);
        else
            snprintf(line, sizeof line, "%s%zX%s\r\n", zeros, size, ext);
        put_str(e, line);
        put(e, body + at, size);
        put_str(e, "\r\n");
        at += size;
    }
    put_str(e, random() % 2 ? "0\r\n" : "0;last\r\n");
    put_str(e, trailers[random() % 4]);
    put_str(e, "\r\n");
}

START_TEST(random_round_trip)
{
    srandom(777u + (unsigned)_i);
    static char body[4000], out[4000];
    for (int iter = 0; iter < 400; iter++) {
        size_t n = (size_t)random() % sizeof body;
        for (size_t i = 0; i < n; i++)
            body[i] = (char)random();               /* any byte: CR, LF, NUL too */
        struct encoded e = { 0 };
        encode(body, n, &e);
        size_t body_end = e.len;
        put_str(&e, "GET /next HTTP/1.1\r\n");     /* the next request */
        struct http_chunked c;
        http_chunked_init(&c, random() % 2 ? 0 : n);
        struct sink s = { .buf = out, .cap = sizeof out };
        size_t at = 0, used;
        int rc = HTTP_CHUNKED_MORE;
        while (rc == HTTP_CHUNKED_MORE) {
            ck_assert_uint_lt(at, e.len);
            size_t piece = 1 + (size_t)random() % 64;
            if (piece > e.len - at)
                piece = e.len - at;
            char *copy = malloc(piece);             /* exactly sized, for ASan */
            memcpy(copy, e.text + at, piece);
            rc = feed(&c, copy, piece, &used, &s);
            free(copy);
            at += used;
            if (rc == HTTP_CHUNKED_MORE)
                ck_assert_uint_eq(used, piece);
        }
        ck_assert_msg(rc == HTTP_CHUNKED_DONE, "rc %d (%s) at %zu of \"%.*s\"", rc,
                      http_chunked_why(&c), at, (int)e.len, e.text);
        ck_assert_uint_eq(at, body_end);
        ck_assert_uint_eq(s.len, n);
        ck_assert_int_eq(memcmp(out, body, n), 0);
        free(e.text);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Runs, consumption, reasons */

/* A chunk whose data is all in the buffer is handed over in one run, and
 * the runs of a chunk split over calls are the pieces' parts. */
START_TEST(data_in_runs)
{
    static char in[2100];
    memcpy(in, "7d0\r\n", 5);                       /* 2000 bytes */
    for (int i = 0; i < 2000; i++)
        in[5 + i] = (char)('a' + i % 26);
    memcpy(in + 2005, "\r\n0\r\n\r\n", 7);
    static char out[2000];
    struct sink s = { .buf = out, .cap = sizeof out };
    struct http_chunked c;
    size_t used;
    http_chunked_init(&c, 0);
    ck_assert_int_eq(feed(&c, in, 2012, &used, &s), HTTP_CHUNKED_DONE);
    ck_assert_uint_eq(used, 2012);
    ck_assert_int_eq(s.runs, 1);
    ck_assert_int_eq(memcmp(out, in + 5, 2000), 0);

    http_chunked_init(&c, 0);
    s.len = 0;
    s.runs = 0;
    ck_assert_int_eq(feed(&c, in, 1000, &used, &s), HTTP_CHUNKED_MORE);
    ck_assert_int_eq(feed(&c, in + 1000, 1000, &used, &s), HTTP_CHUNKED_MORE);
    ck_assert_int_eq(feed(&c, in + 2000, 12, &used, &s), HTTP_CHUNKED_DONE);
    ck_assert_int_eq(s.runs, 3);
    ck_assert_uint_eq(s.len, 2000);
    ck_assert_int_eq(memcmp(out, in + 5, 2000), 0);
}
END_TEST

/* At an error, everything before the offending byte is consumed and the
 * offending byte is not; nothing is consumed afterwards. */
START_TEST(consumed_at_error)
{
    static const struct {
        const char *in;
        size_t consumed;
    } rows[] = {
        { "5\r\nhelloX\r\n", 8 }, { "5\r\nhello\rX", 9 }, { "x\r\n", 0 }, { "12;a b\r\n", 5 },
        { "3\r\nabc\r\n0\r\nT\r\n", 12 }, { "0\r\n\r\r", 4 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct http_chunked c;
        size_t used = 999;
        http_chunked_init(&c, 0);
        int rc = http_chunked_decode(&c, rows[i].in, strlen(rows[i].in), &used, NULL, NULL);
        ck_assert_msg(rc == HTTP_CHUNKED_ERROR && used == rows[i].consumed,
                      "\"%s\": rc %d, consumed %zu, want %zu", rows[i].in, rc, used,
                      rows[i].consumed);
        ck_assert_int_eq(http_chunked_decode(&c, "0\r\n\r\n", 5, &used, NULL, NULL), rc);
        ck_assert_uint_eq(used, 0);
    }
}
END_TEST

/* The reason in the error log names what was wrong. */
START_TEST(reasons)
{
    static char long_line[4200], long_trailer[8300];
    memset(long_line, '0', 4097);
    memcpy(long_line + 4097, "\r\n", 3);
    memcpy(long_trailer, "0\r\nX:", 5);
    memset(long_trailer + 5, 'v', 8200);
    static const struct {
        const char *in;
        uint64_t max_body;
        const char *why;
    } rows[] = {
        { "x\r\n", 0, "malformed chunk size" },
        { "5x\r\n", 0, "malformed chunk size" },
        { "5\rX", 0, "bare CR in a chunk line" },
        { "5\r\nhelloX", 0, "chunk data not followed by CRLF" },
        { "5\r\nhello\rX", 0, "chunk data not followed by CRLF" },
        { "5 x\r\n", 0, "malformed chunk extension" },
        { "5;a=\"x\x01\"\r\n", 0, "malformed chunk extension" },
        { "5;\r\n", 0, "malformed chunk extension" },
        { "0\r\nX Y: z\r\n", 0, "malformed trailer section" },
        { "0\r\nX: y\n", 0, "malformed trailer section" },
        { "0\r\n\rX", 0, "malformed trailer section" },
        { "8000000000000000\r\n", 0, "chunk size of 2^63 or more" },
        { long_line, 0, "chunk line longer than 4 KiB" },
        { long_trailer, 0, "trailer section longer than 8 KiB" },
        { "6\r\n", 5, "chunked body larger than max_body" },
        { "5\r\nhello\r\n", 0, NULL },
        { "0\r\n\r\n", 0, NULL },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct http_chunked c;
        size_t used;
        http_chunked_init(&c, rows[i].max_body);
        int rc = http_chunked_decode(&c, rows[i].in, strlen(rows[i].in), &used, NULL, NULL);
        const char *why = http_chunked_why(&c);
        if (rows[i].why == NULL) {
            ck_assert_int_ge(rc, 0);
            ck_assert_ptr_null(why);
            continue;
        }
        ck_assert_int_eq(rc, rows[i].max_body ? HTTP_CHUNKED_TOO_LARGE : HTTP_CHUNKED_ERROR);
        ck_assert_msg(why != NULL && strcmp(why, rows[i].why) == 0, "\"%.20s\": \"%s\", want \"%s\"",
                      rows[i].in, why ? why : "(null)", rows[i].why);
    }
}
END_TEST

/* The limit counts data across chunks, exactly. */
START_TEST(max_body_exact_across_chunks)
{
    static const char in[] = "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    for (uint64_t limit = 6; limit <= 8; limit++) {
        struct http_chunked c;
        size_t used;
        http_chunked_init(&c, limit);
        int rc = http_chunked_decode(&c, in, sizeof in - 1, &used, NULL, NULL);
        ck_assert_int_eq(rc, limit >= 7 ? HTTP_CHUNKED_DONE : HTTP_CHUNKED_TOO_LARGE);
        if (rc == HTTP_CHUNKED_TOO_LARGE)
            ck_assert_uint_eq(used, 9);             /* refused at the second size's CR */
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_chunked");
    TCase *tc = tcase_create("chunked");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, random_round_trip, 0, 5);
    tcase_add_test(tc, data_in_runs);
    tcase_add_test(tc, consumed_at_error);
    tcase_add_test(tc, reasons);
    tcase_add_test(tc, max_body_exact_across_chunks);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
