/* Check suite for the upstream response-head parser and the framing
 * decision (src/http/parse_response.c, parse_response.h).
 *
 * Both tables run as loop tests, one TAP line per row. Every parser row is
 * also offered byte by byte: each prefix from scratch (PARTIAL, or the
 * answer of the whole), each prefix resumed with the last_len of the one
 * before (the same answer as from scratch), and every two-way split. Each
 * parse reads an exactly sized heap copy, so that AddressSanitizer catches
 * a read past len. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse_response.h"
#include "tap.h"

#define CAP 16

static const struct http_limits lim = {
    .max_target = 1, .max_header_size = 256, .max_headers = 8,
};

/* ------------------------------------------------------------------ */
/* One parse, as offsets (the copy it read is gone) */

struct outcome {
    int rc;
    const char *why;
    int status, minor;
    size_t reason_off, reason_len, n;
    size_t name_off[CAP], name_len[CAP], value_off[CAP], value_len[CAP];
};

static struct outcome parse(const char *raw, size_t len, size_t last_len)
{
    char *copy = malloc(len ? len : 1);
    struct http_header fields[CAP];
    struct http_response resp = { .headers = fields, .num_headers = CAP };
    struct outcome o = { 0 };

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, raw, len);
    o.rc = http_parse_response(copy, len, last_len, &resp, &lim, &o.why);
    if (o.rc != HTTP_PARSE_ERROR)
        o.why = NULL;
    if (o.rc > 0) {
        o.status = resp.status;
        o.minor = resp.minor_version;
        o.reason_off = (size_t)(resp.reason - copy);
        o.reason_len = resp.reason_len;
        o.n = resp.num_headers;
        for (size_t i = 0; i < o.n; i++) {
            o.name_off[i] = (size_t)(fields[i].name - copy);
            o.name_len[i] = fields[i].name_len;
            o.value_off[i] = (size_t)(fields[i].value - copy);
            o.value_len[i] = fields[i].value_len;
        }
    }
    free(copy);
    return o;
}

static bool same(const struct outcome *a, const struct outcome *b)
{
    if (a->rc != b->rc)
        return false;
    if (a->rc == HTTP_PARSE_ERROR)
        return strcmp(a->why, b->why) == 0;
    if (a->status != b->status || a->minor != b->minor || a->reason_off != b->reason_off ||
        a->reason_len != b->reason_len || a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->name_off[i] != b->name_off[i] || a->name_len[i] != b->name_len[i] ||
            a->value_off[i] != b->value_off[i] || a->value_len[i] != b->value_len[i])
            return false;
    return true;
}

/* ------------------------------------------------------------------ */
/* The parser table */

struct resp_case {
    const char *name;
    const char *raw;
    size_t len;
    size_t tail;            /* bytes after a complete head */
    int rc;                 /* 1: complete; HTTP_PARSE_PARTIAL; HTTP_PARSE_ERROR */
    const char *why;
    int status, minor;
    const char *reason;
    int n;                  /* fields */
    const char *value0;     /* the first field's value */
};

#define R(s) .raw = (s), .len = sizeof(s) - 1
#define OK(st, mi, re, nf) .rc = 1, .status = (st), .minor = (mi), .reason = (re), .n = (nf)
#define BAD(w) .rc = HTTP_PARSE_ERROR, .why = (w)
#define MORE .rc = HTTP_PARSE_PARTIAL
#define X32 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define X128 X32 X32 X32 X32
/* A head of exactly 256 bytes (lim.max_header_size): 17 + 3 + 232 + 4. */
#define V232 X128 X32 X32 X32 "xxxxxxxx"
#define EXACT "HTTP/1.1 200 OK\r\nA: " V232 "\r\n\r\n"
#define OVER "HTTP/1.1 200 OK\r\nA: " V232 "x\r\n\r\n"
#define F8 "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\n"

static const struct resp_case resp_cases[] = {
    { "200 with a body after", R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), .tail = 5,
      OK(200, 1, "OK", 1), .value0 = "5" },
    { "1.0 404", R("HTTP/1.0 404 Not Found\r\n\r\n"), OK(404, 0, "Not Found", 0) },
    { "empty reason", R("HTTP/1.1 204 \r\n\r\n"), OK(204, 1, "", 0) },
    { "reason without its SP", R("HTTP/1.1 204\r\nA: b\r\n\r\n"), OK(204, 1, "", 1) },
    { "reason with SP, HTAB, obs-text", R("HTTP/1.1 200 Very\tgood \xe9t\xe9\r\n\r\n"),
      OK(200, 1, "Very\tgood \xe9t\xe9", 0) },
    { "reason's OWS trimmed", R("HTTP/1.1 200 \t OK \t\r\n\r\n"), OK(200, 1, "OK", 0) },
    { "HTTP/1.2 reads as 1.1", R("HTTP/1.2 200 OK\r\n\r\n"), OK(200, 1, "OK", 0) },
    { "status 100", R("HTTP/1.1 100 Continue\r\n\r\n"), OK(100, 1, "Continue", 0) },
    { "status 599", R("HTTP/1.1 599 x\r\n\r\n"), OK(599, 1, "x", 0) },
    { "value OWS trimmed", R("HTTP/1.1 200 OK\r\nA: \t b c \t\r\n\r\n"), OK(200, 1, "OK", 1),
      .value0 = "b c" },
    { "empty value", R("HTTP/1.1 200 OK\r\nA:\r\n\r\n"), OK(200, 1, "OK", 1), .value0 = "" },
    { "eight fields", R("HTTP/1.1 200 OK\r\n" F8 "\r\n"), OK(200, 1, "OK", 8), .value0 = "1" },
    { "head of exactly max_header_size", R(EXACT), OK(200, 1, "OK", 1) },
    { "pipelined next head", R("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"),
      .tail = 19, OK(100, 1, "Continue", 0) },

    { "nothing yet", R(""), MORE },
    { "half a status line", R("HTTP/1.1 20"), MORE },
    { "status line only", R("HTTP/1.1 200 OK\r\n"), MORE },
    { "fields without the blank line", R("HTTP/1.1 200 OK\r\nA: b\r\n"), MORE },
    { "CR of the blank line", R("HTTP/1.1 200 OK\r\nA: b\r\n\r"), MORE },

    { "HTTP/2", R("HTTP/2 200\r\n\r\n"), BAD("malformed HTTP version") },
    { "HTTP/2.0", R("HTTP/2.0 200 OK\r\n\r\n"), BAD("HTTP version other than 1.x") },
    { "HTTP/3.0", R("HTTP/3.0 200 OK\r\n\r\n"), BAD("HTTP version other than 1.x") },
    { "HTTP/0.9", R("HTTP/0.9 200 OK\r\n\r\n"), BAD("HTTP version 0.x") },
    { "lower-case version", R("http/1.1 200 OK\r\n\r\n"), BAD("malformed HTTP version") },
    { "junk", R("SSH-2.0-OpenSSH_9.2\r\n"), BAD("malformed HTTP version") },
    { "a request, not a response", R("GET / HTTP/1.1\r\n\r\n"), BAD("malformed HTTP version") },
    { "leading empty line", R("\r\nHTTP/1.1 200 OK\r\n\r\n"), BAD("malformed HTTP version") },
    { "no status", R("HTTP/1.1\r\n\r\n"), BAD("malformed status line") },
    { "two spaces", R("HTTP/1.1  200 OK\r\n\r\n"), BAD("malformed status code") },
    { "two digits", R("HTTP/1.1 20 OK\r\n\r\n"), BAD("malformed status code") },
    { "four digits", R("HTTP/1.1 2000 OK\r\n\r\n"), BAD("malformed status code") },
    { "reason glued to the status", R("HTTP/1.1 200OK\r\n\r\n"), BAD("malformed status code") },
    { "status 099", R("HTTP/1.1 099 x\r\n\r\n"), BAD("status code outside 100..599") },
    { "status 600", R("HTTP/1.1 600 x\r\n\r\n"), BAD("status code outside 100..599") },
    { "status 999", R("HTTP/1.1 999 x\r\n\r\n"), BAD("status code outside 100..599") },
    { "bare LF after the reason", R("HTTP/1.1 200 OK\nA: b\r\n\r\n"),
      BAD("malformed reason phrase") },
    { "NUL in the reason", R("HTTP/1.1 200 O\0K\r\n\r\n"),
      BAD("malformed reason phrase") },
    { "bare CR in the status line", R("HTTP/1.1 200 O\rK\r\n\r\n"),
      BAD("malformed reason phrase") },
    { "bare CR without a reason", R("HTTP/1.1 200\rX\r\n\r\n"), BAD("malformed reason phrase") },
    { "obs-fold", R("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"),
      BAD("obs-fold or whitespace before a field name") },
    { "whitespace before the first field", R("HTTP/1.1 200 OK\r\n A: b\r\n\r\n"),
      BAD("obs-fold or whitespace before a field name") },
    { "space before the colon", R("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n"),
      BAD("invalid character in a field name") },
    { "empty field name", R("HTTP/1.1 200 OK\r\n: b\r\n\r\n"), BAD("empty field name") },
    { "NUL in a value", R("HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n"),
      BAD("invalid character in a field value") },
    { "bare LF in a value", R("HTTP/1.1 200 OK\r\nA: b\nc: d\r\n\r\n"),
      BAD("invalid character in a field value") },
    { "bare CR in a field line", R("HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n"),
      BAD("bare CR in a field line") },
    { "bare CR ending the head", R("HTTP/1.1 200 OK\r\nA: b\r\n\rx"),
      BAD("bare CR at the end of the head") },
    { "nine fields", R("HTTP/1.1 200 OK\r\n" F8 "I: 9\r\n\r\n"),
      BAD("more header fields than max_headers") },
    { "head one over max_header_size", R(OVER), BAD("response head larger than max_header_size") },
    { "exact head, then more", R(EXACT "x"), .tail = 1, OK(200, 1, "OK", 1) },
    { "incomplete head filling max_header_size", R("HTTP/1.1 200 OK\r\nA: " X128 X128),
      BAD("response head larger than max_header_size") },
    { "reason filling max_header_size", R("HTTP/1.1 200 " X128 X128),
      BAD("response head larger than max_header_size") },
};
#define N_RESP_CASES (sizeof resp_cases / sizeof resp_cases[0])

static void check_complete(const struct resp_case *c, const struct outcome *o)
{
    ck_assert_msg(o->rc > 0 && (size_t)o->rc == c->len - c->tail, "%s: rc %d (%s), want %zu",
                  c->name, o->rc, o->why ? o->why : "", c->len - c->tail);
    ck_assert_int_eq(o->status, c->status);
    ck_assert_int_eq(o->minor, c->minor);
    ck_assert_uint_eq(o->reason_len, strlen(c->reason));
    ck_assert(memcmp(c->raw + o->reason_off, c->reason, o->reason_len) == 0);
    ck_assert_uint_eq(o->n, (size_t)c->n);
    if (c->value0) {
        ck_assert_uint_eq(o->value_len[0], strlen(c->value0));
        ck_assert(memcmp(c->raw + o->value_off[0], c->value0, o->value_len[0]) == 0);
    }
}

/* Every prefix: from scratch PARTIAL or the whole's answer; resumed from
 * the prefix before, the same as from scratch; and every two-way split. */
static void check_every_byte(const struct resp_case *c, const struct outcome *whole)
{
    size_t last = 0;
    for (size_t n = 0; n <= c->len; n++) {
        struct outcome scratch = parse(c->raw, n, 0);
        struct outcome resumed = parse(c->raw, n, last);
        ck_assert_msg(same(&scratch, &resumed), "%s: resumed at %zu from %zu differs", c->name,
                      n, last);
        if (scratch.rc == HTTP_PARSE_PARTIAL)
            last = n;
        else
            ck_assert_msg(same(&scratch, whole), "%s: prefix %zu answers %d", c->name, n,
                          scratch.rc);
        if (n < c->len && scratch.rc == HTTP_PARSE_PARTIAL) {
            struct outcome split = parse(c->raw, c->len, n);
            ck_assert_msg(same(&split, whole), "%s: split at %zu differs", c->name, n);
        }
    }
}

START_TEST(parse_case)
{
    const struct resp_case *c = &resp_cases[_i];
    struct outcome whole = parse(c->raw, c->len, 0);

    if (c->rc == 1)
        check_complete(c, &whole);
    else
        ck_assert_msg(whole.rc == c->rc, "%s: rc %d (%s)", c->name, whole.rc,
                      whole.why ? whole.why : "");
    if (c->rc == HTTP_PARSE_ERROR)
        ck_assert_msg(whole.why && strcmp(whole.why, c->why) == 0, "%s: why \"%s\", want \"%s\"",
                      c->name, whole.why ? whole.why : "(null)", c->why);
    check_every_byte(c, &whole);
}
END_TEST

/* Every version byte pair: only 1.x parses, and x >= 1 reads as 1.1. */
START_TEST(every_version)
{
    for (int major = 0; major < 10; major++) {
        for (int minor = 0; minor < 10; minor++) {
            char raw[64];
            int n = snprintf(raw, sizeof raw, "HTTP/%d.%d 200 OK\r\n\r\n", major, minor);
            struct outcome o = parse(raw, (size_t)n, 0);
            if (major == 1) {
                ck_assert_int_eq(o.rc, n);
                ck_assert_int_eq(o.minor, minor == 0 ? 0 : 1);
            } else {
                ck_assert_int_eq(o.rc, HTTP_PARSE_ERROR);
            }
        }
    }
}
END_TEST

/* Every status code from 000 to 999. */
START_TEST(every_status)
{
    for (int st = 0; st < 1000; st++) {
        char raw[64];
        int n = snprintf(raw, sizeof raw, "HTTP/1.1 %03d R\r\n\r\n", st);
        struct outcome o = parse(raw, (size_t)n, 0);
        if (st >= 100 && st <= 599)
            ck_assert_int_eq(o.status, st);
        else
            ck_assert_int_eq(o.rc, HTTP_PARSE_ERROR);
    }
}
END_TEST

/* *resp is left alone until a head is complete; the capacity bounds the
 * fields like max_headers does. */
START_TEST(resp_untouched_and_capacity)
{
    static const char raw[] = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    struct http_header fields[3];
    struct http_response resp = { .status = -7, .headers = fields, .num_headers = 2 };
    const char *why = NULL;

    ck_assert_int_eq(http_parse_response(raw, 20, 0, &resp, &lim, &why), HTTP_PARSE_PARTIAL);
    ck_assert_int_eq(resp.status, -7);
    ck_assert_int_eq(http_parse_response(raw, sizeof raw - 1, 0, &resp, &lim, &why),
                     HTTP_PARSE_ERROR);
    ck_assert_str_eq(why, "more header fields than max_headers");
    ck_assert_int_eq(resp.status, -7);
    resp.num_headers = 3;
    ck_assert_int_eq(http_parse_response(raw, sizeof raw - 1, 0, &resp, &lim, &why),
                     (int)sizeof raw - 1);
    ck_assert_int_eq(resp.status, 200);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The framing table */

struct framing_case {
    const char *name;
    const char *raw;        /* a complete head */
    bool head;              /* the request was HEAD */
    const char *why;        /* NULL: accepted */
    int body;               /* enum http_resp_body */
    long long cl;           /* -1: no length */
    bool keep, interim, upgrade, chunked;
};

#define H11 "HTTP/1.1 200 OK\r\n"
#define H10 "HTTP/1.0 200 OK\r\n"
#define NOCL .cl = -1
#define REFUSED(w) .why = (w), NOCL

static const struct framing_case framing_cases[] = {
    { "1.1 Content-Length", H11 "Content-Length: 5\r\n\r\n", .body = HTTP_RESP_BODY_LENGTH,
      .cl = 5, .keep = true },
    { "1.1 Content-Length 0", H11 "Content-Length: 0\r\n\r\n", .body = HTTP_RESP_BODY_LENGTH,
      .cl = 0, .keep = true },
    { "largest Content-Length", H11 "Content-Length: 9223372036854775807\r\n\r\n",
      .body = HTTP_RESP_BODY_LENGTH, .cl = 9223372036854775807LL, .keep = true },
    { "1.1 chunked", H11 "Transfer-Encoding: chunked\r\n\r\n", .body = HTTP_RESP_BODY_CHUNKED,
      NOCL, .keep = true, .chunked = true },
    { "chunked in any case", H11 "Transfer-Encoding: ChUnKeD\r\n\r\n",
      .body = HTTP_RESP_BODY_CHUNKED, NOCL, .keep = true, .chunked = true },
    { "chunked after an empty element", H11 "Transfer-Encoding: , chunked ,\r\n\r\n",
      .body = HTTP_RESP_BODY_CHUNKED, NOCL, .keep = true, .chunked = true },
    { "1.1 until close", H11 "\r\n", .body = HTTP_RESP_BODY_CLOSE, NOCL },
    { "1.1 until close despite keep-alive", H11 "Connection: keep-alive\r\n\r\n",
      .body = HTTP_RESP_BODY_CLOSE, NOCL },
    { "1.0 until close", H10 "\r\n", .body = HTTP_RESP_BODY_CLOSE, NOCL },
    { "1.0 length closes", H10 "Content-Length: 2\r\n\r\n", .body = HTTP_RESP_BODY_LENGTH,
      .cl = 2 },
    { "1.0 length with keep-alive", H10 "Content-Length: 2\r\nConnection: Keep-Alive\r\n\r\n",
      .body = HTTP_RESP_BODY_LENGTH, .cl = 2, .keep = true },
    { "1.0 keep-alive and close", H10 "Content-Length: 2\r\nConnection: keep-alive, close\r\n\r\n",
      .body = HTTP_RESP_BODY_LENGTH, .cl = 2 },
    { "1.1 close", H11 "Content-Length: 2\r\nConnection: close\r\n\r\n",
      .body = HTTP_RESP_BODY_LENGTH, .cl = 2 },
    { "1.1 close in a list", H11 "Content-Length: 2\r\nConnection: X-Foo ,\tCLOSE\r\n\r\n",
      .body = HTTP_RESP_BODY_LENGTH, .cl = 2 },
    { "1.1 close in a second field", H11 "Connection: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
      .body = HTTP_RESP_BODY_LENGTH, .cl = 2 },
    { "1.1 closed is not close", H11 "Content-Length: 2\r\nConnection: closed\r\n\r\n",
      .body = HTTP_RESP_BODY_LENGTH, .cl = 2, .keep = true },

    { "HEAD with a length", H11 "Content-Length: 5\r\n\r\n", .head = true,
      .body = HTTP_RESP_BODY_NONE, .cl = 5, .keep = true },
    { "HEAD chunked", H11 "Transfer-Encoding: chunked\r\n\r\n", .head = true,
      .body = HTTP_RESP_BODY_NONE, NOCL, .keep = true, .chunked = true },
    { "HEAD without framing keeps", H11 "\r\n", .head = true, .body = HTTP_RESP_BODY_NONE, NOCL,
      .keep = true },
    { "HEAD with CL and TE", H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      .head = true, REFUSED("Transfer-Encoding with Content-Length") },
    { "204", "HTTP/1.1 204 No Content\r\n\r\n", .body = HTTP_RESP_BODY_NONE, NOCL, .keep = true },
    { "204 with Content-Length 0", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
      .body = HTTP_RESP_BODY_NONE, .cl = 0, .keep = true },
    { "204 with Content-Length 5", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
      REFUSED("content announced by a 1xx or 204 response") },
    { "204 chunked", "HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
      REFUSED("content announced by a 1xx or 204 response") },
    { "304 with the GET's length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
      .body = HTTP_RESP_BODY_NONE, .cl = 99, .keep = true },
    { "304 chunked", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
      .body = HTTP_RESP_BODY_NONE, NOCL, .keep = true, .chunked = true },
    { "304 on 1.0 closes", "HTTP/1.0 304 Not Modified\r\n\r\n", .body = HTTP_RESP_BODY_NONE, NOCL },
    { "100", "HTTP/1.1 100 Continue\r\n\r\n", .body = HTTP_RESP_BODY_NONE, NOCL, .interim = true },
    { "103 with Link", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
      .body = HTTP_RESP_BODY_NONE, NOCL, .interim = true },
    { "100 with Content-Length 0", "HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n",
      .body = HTTP_RESP_BODY_NONE, .cl = 0, .interim = true },
    { "100 with Content-Length 5", "HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n",
      REFUSED("content announced by a 1xx or 204 response") },
    { "103 chunked", "HTTP/1.1 103 Early Hints\r\nTransfer-Encoding: chunked\r\n\r\n",
      REFUSED("content announced by a 1xx or 204 response") },
    { "101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
      .body = HTTP_RESP_BODY_NONE, NOCL, .upgrade = true },
    { "101 to HEAD", "HTTP/1.1 101 Switching Protocols\r\n\r\n", .head = true,
      .body = HTTP_RESP_BODY_NONE, NOCL, .upgrade = true },
    { "101 with a length", "HTTP/1.1 101 Switching Protocols\r\nContent-Length: 3\r\n\r\n",
      REFUSED("content announced by a 1xx or 204 response") },
    { "101 in 1.0", "HTTP/1.0 101 Switching Protocols\r\n\r\n", REFUSED("101 in HTTP/1.0") },

    { "CL then TE", H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      REFUSED("Transfer-Encoding with Content-Length") },
    { "TE then CL", H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
      REFUSED("Transfer-Encoding with Content-Length") },
    { "two equal lengths", H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n",
      REFUSED("several Content-Length fields") },
    { "two lengths", H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
      REFUSED("several Content-Length fields") },
    { "length list", H11 "Content-Length: 5, 5\r\n\r\n", REFUSED("Content-Length list") },
    { "length with a sign", H11 "Content-Length: +5\r\n\r\n", REFUSED("malformed Content-Length") },
    { "negative length", H11 "Content-Length: -1\r\n\r\n", REFUSED("malformed Content-Length") },
    { "hex length", H11 "Content-Length: 0x5\r\n\r\n", REFUSED("malformed Content-Length") },
    { "empty length", H11 "Content-Length:\r\n\r\n", REFUSED("malformed Content-Length") },
    { "length with a space", H11 "Content-Length: 1 2\r\n\r\n", REFUSED("malformed Content-Length") },
    { "length of 2^63", H11 "Content-Length: 9223372036854775808\r\n\r\n",
      REFUSED("malformed Content-Length") },
    { "bad length on a 304", "HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n",
      REFUSED("malformed Content-Length") },
    { "bad length to HEAD", H11 "Content-Length: 5, 5\r\n\r\n", .head = true,
      REFUSED("Content-Length list") },
    { "TE in 1.0", H10 "Transfer-Encoding: chunked\r\n\r\n",
      REFUSED("Transfer-Encoding in HTTP/1.0") },
    { "TE gzip", H11 "Transfer-Encoding: gzip\r\n\r\n",
      REFUSED("final transfer coding other than chunked") },
    { "TE chunked, gzip", H11 "Transfer-Encoding: chunked, gzip\r\n\r\n",
      REFUSED("final transfer coding other than chunked") },
    { "TE with a parameter", H11 "Transfer-Encoding: chunked;x=1\r\n\r\n",
      REFUSED("final transfer coding other than chunked") },
    { "TE gzip, chunked", H11 "Transfer-Encoding: gzip, chunked\r\n\r\n",
      REFUSED("transfer coding other than chunked") },
    { "TE gzip then chunked fields", H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
      REFUSED("transfer coding other than chunked") },
    { "TE chunked twice", H11 "Transfer-Encoding: chunked, chunked\r\n\r\n",
      REFUSED("transfer coding other than chunked") },
    { "TE empty", H11 "Transfer-Encoding: \r\n\r\n", REFUSED("empty Transfer-Encoding") },
    { "TE only commas", H11 "Transfer-Encoding: , ,\r\n\r\n", REFUSED("empty Transfer-Encoding") },
};
#define N_FRAMING_CASES (sizeof framing_cases / sizeof framing_cases[0])

START_TEST(framing_row)
{
    const struct framing_case *c = &framing_cases[_i];
    struct http_header fields[CAP];
    struct http_response resp = { .headers = fields, .num_headers = CAP };
    struct http_resp_framing f;
    const char *why = NULL;
    size_t len = strlen(c->raw);

    ck_assert_int_eq(http_parse_response(c->raw, len, 0, &resp, &lim, &why), (int)len);
    int rc = http_response_framing(&resp, c->head, &f);
    if (c->why) {
        ck_assert_msg(rc == -1, "%s: accepted", c->name);
        ck_assert_msg(f.why && strcmp(f.why, c->why) == 0, "%s: why \"%s\", want \"%s\"",
                      c->name, f.why ? f.why : "(null)", c->why);
        ck_assert(!f.keep_alive);
        return;
    }
    ck_assert_msg(rc == 0, "%s: refused: %s", c->name, f.why);
    ck_assert_ptr_null(f.why);
    ck_assert_msg(f.body == c->body, "%s: body %d, want %d", c->name, f.body, c->body);
    ck_assert_msg(f.has_length == (c->cl >= 0), "%s: has_length %d", c->name, f.has_length);
    if (c->cl >= 0)
        ck_assert_uint_eq(f.content_length, (uint64_t)c->cl);
    ck_assert_msg(f.keep_alive == c->keep, "%s: keep_alive %d", c->name, f.keep_alive);
    ck_assert_msg(f.interim == c->interim, "%s: interim %d", c->name, f.interim);
    ck_assert_msg(f.upgrade == c->upgrade, "%s: upgrade %d", c->name, f.upgrade);
    ck_assert_msg(f.chunked == c->chunked, "%s: chunked %d", c->name, f.chunked);
}
END_TEST

/* Every status with and without framing fields: the body rule of RFC 9112
 * §6.3 and the keep-alive rule hold for all of them, not just the rows. */
START_TEST(framing_every_status)
{
    for (int st = 100; st <= 599; st++) {
        for (int head = 0; head < 2; head++) {
            char raw[96];
            int n = snprintf(raw, sizeof raw, "HTTP/1.1 %d R\r\nContent-Length: 0\r\n\r\n", st);
            struct http_header fields[CAP];
            struct http_response resp = { .headers = fields, .num_headers = CAP };
            struct http_resp_framing f;
            const char *why;
            ck_assert_int_eq(http_parse_response(raw, (size_t)n, 0, &resp, &lim, &why), n);
            ck_assert_int_eq(http_response_framing(&resp, head, &f), 0);
            bool none = head || st < 200 || st == 204 || st == 304;
            ck_assert_int_eq(f.body, none ? HTTP_RESP_BODY_NONE : HTTP_RESP_BODY_LENGTH);
            ck_assert_int_eq(f.keep_alive, st >= 200);
            ck_assert_int_eq(f.interim, st < 200 && st != 101);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_parse_response");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, parse_case, 0, (int)N_RESP_CASES);
    tcase_add_test(tc, every_version);
    tcase_add_test(tc, every_status);
    tcase_add_test(tc, resp_untouched_and_capacity);
    suite_add_tcase(s, tc);

    tc = tcase_create("framing");
    tcase_add_loop_test(tc, framing_row, 0, (int)N_FRAMING_CASES);
    tcase_add_test(tc, framing_every_status);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
