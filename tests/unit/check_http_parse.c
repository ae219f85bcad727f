/* Check suite for the HTTP request-head parser (src/http/parse.c), the
 * framing checks (request.c), the chunked body decoder (chunked.c) and path
 * normalisation (path.c).
 *
 * The three case tables run as loop tests, one TAP line per row. Every
 * request row is also fed as every prefix (incrementally with last_len, and
 * afresh) and in every two-way split; every chunked row byte by byte and in
 * every two-way split. Each prefix is parsed from an exactly sized heap copy
 * so that AddressSanitizer catches a read past len. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/chunked.h"
#include "http/parse.h"
#include "http/path.h"
#include "http/request.h"

#define HDR_CAP 16

static const struct http_limits lim_default = {
    .max_target = 64, .max_header_size = 512, .max_headers = 8,
};

/* ------------------------------------------------------------------------ */
/* Request table                                                             */

struct parse_case {
    const char *name;
    const char *raw;
    size_t len;
    int result;              /* 0: complete head of len - tail bytes; PARTIAL; ERROR */
    size_t tail;             /* bytes after the head (pipelined request, body) */
    int status;              /* parse status with HTTP_PARSE_ERROR */
    int check;               /* http_request_check result for complete heads */
    /* Checks on a complete head; zero means "not checked". */
    const char *method;
    const char *target;
    int ver;                 /* 10 or 11 */
    int nh;                  /* number of fields + 1 */
    const char *hname, *hvalue;
    int fm;                  /* enum http_method + 1 */
    int ka;                  /* keep_alive: 1 true, 2 false */
    long long cl;            /* content length + 1, or -1 for no length */
    int chunked;             /* 1 true, 2 false */
    int expect;              /* expect_continue: 1 true, 2 false */
    const char *host;
    const struct http_limits *lim;   /* NULL: lim_default */
};

#define R(s) .raw = (s), .len = sizeof(s) - 1
#define E(st) .result = HTTP_PARSE_ERROR, .status = (st)
#define PART .result = HTTP_PARSE_PARTIAL
#define CHECK(st) .check = (st)
#define TAIL(n) .tail = (n)
#define NH(n) .nh = (n) + 1
#define KA(b) .ka = (b) ? 1 : 2
#define CL(n) .cl = (long long)(n) + 1
#define NOLEN .cl = -1
#define CHUNKED(b) .chunked = (b) ? 1 : 2
#define EXPECT(b) .expect = (b) ? 1 : 2
#define HDR(n, v) .hname = (n), .hvalue = (v)
#define FM(m) .fm = (m) + 1
#define V(v) .ver = (v)

#define RL "GET / HTTP/1.1\r\n"
#define HOST "Host: example.com\r\n"
#define X16 "xxxxxxxxxxxxxxxx"
#define X64 X16 X16 X16 X16
#define T64 "/" "aaaaaaaaaaaaaaa" X16 X16 X16          /* a 64-byte target */
#define T65 T64 "b"

/* Heads sized exactly to a limit. */
#define EXACT_HEAD "GET /exact HTTP/1.1\r\nHost: a\r\nX-Pad: " X64 "\r\n\r\n"
static const struct http_limits lim_exact = {
    .max_target = 64, .max_header_size = sizeof(EXACT_HEAD) - 1, .max_headers = 8,
};
static const struct http_limits lim_exact_minus = {
    .max_target = 64, .max_header_size = sizeof(EXACT_HEAD) - 2, .max_headers = 8,
};
static const struct http_limits lim_small = {
    .max_target = 8, .max_header_size = 64, .max_headers = 2,
};
static const struct http_limits lim_zero_headers = {
    .max_target = 64, .max_header_size = 512, .max_headers = 0,
};

#define H8 "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\n"  /* 7 fields */

static const struct parse_case parse_cases[] = {
    /* --- valid request lines --- */
    { "simple GET", R(RL HOST "\r\n"), CHECK(0), .method = "GET", .target = "/", V(11), NH(1),
      FM(HTTP_GET), KA(1), NOLEN, CHUNKED(0), EXPECT(0), .host = "example.com" },
    { "HTTP/1.0 without Host", R("GET / HTTP/1.0\r\n\r\n"), CHECK(0), V(10), NH(0), KA(0), NOLEN },
    { "HTTP/1.0 with Host", R("GET /x HTTP/1.0\r\nHost: a\r\n\r\n"), CHECK(0), V(10), .host = "a" },
    { "HEAD", R("HEAD /h HTTP/1.1\r\n" HOST "\r\n"), CHECK(0), .method = "HEAD", FM(HTTP_HEAD) },
    { "POST with body", R("POST /p HTTP/1.1\r\n" HOST "Content-Length: 5\r\n\r\nhello"), TAIL(5),
      CHECK(0), FM(HTTP_POST), CL(5), CHUNKED(0), KA(1) },
    { "PUT", R("PUT /f HTTP/1.1\r\n" HOST "Content-Length: 0\r\n\r\n"), CHECK(0), FM(HTTP_PUT), CL(0) },
    { "DELETE", R("DELETE /d HTTP/1.1\r\n" HOST "\r\n"), CHECK(0), FM(HTTP_DELETE) },
    { "OPTIONS *", R("OPTIONS * HTTP/1.1\r\n" HOST "\r\n"), CHECK(0), FM(HTTP_OPTIONS), .target = "*" },
    { "TRACE", R("TRACE / HTTP/1.1\r\n" HOST "\r\n"), CHECK(0), FM(HTTP_TRACE) },
    { "CONNECT authority-form", R("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
      CHECK(0), FM(HTTP_CONNECT), .target = "example.com:443" },
    { "PATCH", R("PATCH /x HTTP/1.1\r\n" HOST "Content-Length: 2\r\n\r\n{}"), TAIL(2), CHECK(0),
      FM(HTTP_PATCH), CL(2) },
    { "absolute-form target", R("GET http://example.com/a?b=c HTTP/1.1\r\n" HOST "\r\n"), CHECK(0),
      .target = "http://example.com/a?b=c" },
    { "target with query and escapes", R("GET /a%20b?x=1&y=%2F HTTP/1.1\r\n" HOST "\r\n"), CHECK(0),
      .target = "/a%20b?x=1&y=%2F" },
    { "target of every VCHAR class", R("GET /!$&'()*+,;=:@-._~%22<>[]{}|\\^` HTTP/1.1\r\n" HOST "\r\n"),
      CHECK(0), .target = "/!$&'()*+,;=:@-._~%22<>[]{}|\\^`" },
    { "unknown method BREW", R("BREW /pot HTTP/1.1\r\n" HOST "\r\n"), CHECK(501), .method = "BREW",
      FM(HTTP_METHOD_UNKNOWN), KA(1) },
    { "lower-case method", R("get / HTTP/1.1\r\n" HOST "\r\n"), CHECK(501), .method = "get" },
    { "method of all tchar", R("!#$%&'*+-.^_`|~09azAZ / HTTP/1.1\r\n" HOST "\r\n"), CHECK(501),
      .method = "!#$%&'*+-.^_`|~09azAZ" },
    { "one-letter method and target", R("M / HTTP/1.1\r\n" HOST "\r\n"), CHECK(501), .method = "M" },
    { "HTTP/1.2 is 1.1", R("GET / HTTP/1.2\r\n" HOST "\r\n"), CHECK(0), V(11), KA(1) },
    { "HTTP/1.9 is 1.1", R("GET / HTTP/1.9\r\n" HOST "\r\n"), CHECK(0), V(11) },
    { "HTTP/1.2 needs Host", R("GET / HTTP/1.2\r\n\r\n"), CHECK(400) },

    /* --- leading empty lines --- */
    { "one leading CRLF", R("\r\n" RL HOST "\r\n"), CHECK(0), .target = "/" },
    { "two leading CRLF", R("\r\n\r\n" RL HOST "\r\n"), CHECK(0), .method = "GET" },
    { "three leading CRLF", R("\r\n\r\n\r\n" RL HOST "\r\n"), E(400) },
    { "leading bare LF", R("\n" RL HOST "\r\n"), E(400) },
    { "leading bare CR", R("\rGET / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "leading SP", R(" " RL HOST "\r\n"), E(400) },
    { "leading CRLF then partial", R("\r\n\r\nGET"), PART },
    { "only CRLF", R("\r\n"), PART },
    { "only CRLF CRLF", R("\r\n\r\n"), PART },

    /* --- bad methods --- */
    { "method with (", R("GE(T / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method with )", R("GET) / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method with @", R("G@T / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method with /", R("GE/T / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method with :", R("GET: / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method with quote", R("GE\"T / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method with comma", R("GE,T / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method with braces", R("{GET} / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method with NUL", R("GE\0T / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method with obs-text", R("GE\xc3\xa9T / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method with DEL", R("GET\x7f / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "empty method", R(" / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "space inside method", R("GE T / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "method then CRLF", R("GET\r\n" HOST "\r\n"), E(400) },
    { "bad method byte, incomplete head", R("GE(T"), E(400) },
    { "method then CRLF, incomplete head", R("GET\r\n"), E(400) },
    { "CTL in target, incomplete head", R("GET /a\x01"), E(400) },
    { "bad version, incomplete head", R("GET / HTTP/1.1x"), E(400) },
    { "three SP, incomplete head", R("GET / HTTP/1.1 "), E(400) },

    /* --- request-line separators --- */
    { "two SP before target", R("GET  / HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "two SP before version", R("GET /  HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "tab after method", R("GET\t/ HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "tab before version", R("GET /\tHTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "missing version", R("GET /\r\n" HOST "\r\n"), E(400) },
    { "SP then CRLF", R("GET / \r\n" HOST "\r\n"), E(400) },
    { "trailing SP after version", R("GET / HTTP/1.1 \r\n" HOST "\r\n"), E(400) },
    { "trailing junk after version", R("GET / HTTP/1.1x\r\n" HOST "\r\n"), E(400) },
    { "request line bare LF", R("GET / HTTP/1.1\n" HOST "\r\n"), E(400) },
    { "request line CR CR LF", R("GET / HTTP/1.1\r\r\n" HOST "\r\n"), E(400) },
    { "request line bare CR", R("GET / HTTP/1.1\rHost: a\r\n\r\n"), E(400) },

    /* --- targets --- */
    { "NUL in target", R("GET /a\0b HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "DEL in target", R("GET /a\x7f HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "obs-text in target", R("GET /\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "CTL in target", R("GET /a\x01 HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "CR in target", R("GET /a\r\n" HOST "\r\n"), E(400) },
    { "target of max_target bytes", R("GET " T64 " HTTP/1.1\r\n" HOST "\r\n"), CHECK(0), .target = T64 },
    { "target over max_target, complete head", R("GET " T65 " HTTP/1.1\r\n" HOST "\r\n"), E(414) },
    { "target over max_target, incomplete head", R("GET " T65), E(414) },
    { "target over max_target, far over", R("GET " T64 T64 T64 " HTTP/1.1\r\n"), E(414) },
    { "target at max_target, incomplete", R("GET " T64), PART },
    { "CTL right at max_target", R("GET " T64 "\x01 HTTP/1.1\r\n" HOST "\r\n"), E(400) },
    { "small limits: target of 8", R("GET /1234567 HTTP/1.1\r\nHost: a\r\n\r\n"), CHECK(0),
      .lim = &lim_small },
    { "small limits: target of 9", R("GET /12345678 HTTP/1.1\r\nHost: a\r\n\r\n"), E(414),
      .lim = &lim_small },

    /* --- versions --- */
    { "HTTP/2.0", R("GET / HTTP/2.0\r\n" HOST "\r\n"), E(505) },
    { "HTTP/3.0", R("GET / HTTP/3.0\r\n" HOST "\r\n"), E(505) },
    { "HTTP/9.9", R("GET / HTTP/9.9\r\n" HOST "\r\n"), E(505) },
    { "HTTP/2.0 incomplete head", R("GET / HTTP/2.0\r\n"), E(505) },
    { "HTTP/2.0 with junk", R("GET / HTTP/2.0x\r\n" HOST "\r\n"), E(400) },
    { "HTTP/0.9", R("GET / HTTP/0.9\r\n" HOST "\r\n"), E(400) },
    { "HTTP/1", R("GET / HTTP/1\r\n" HOST "\r\n"), E(400) },
    { "HTTP/1.", R("GET / HTTP/1.\r\n" HOST "\r\n"), E(400) },
    { "HTTP/01.1", R("GET / HTTP/01.1\r\n" HOST "\r\n"), E(400) },
    { "HTTP/1.10", R("GET / HTTP/1.10\r\n" HOST "\r\n"), E(400) },
    { "HTTP/1.1.1", R("GET / HTTP/1.1.1\r\n" HOST "\r\n"), E(400) },
    { "HTTP/1,1", R("GET / HTTP/1,1\r\n" HOST "\r\n"), E(400) },
    { "HTTP/a.1", R("GET / HTTP/a.1\r\n" HOST "\r\n"), E(400) },
    { "HTTP/1.a", R("GET / HTTP/1.a\r\n" HOST "\r\n"), E(400) },
    { "lower-case http", R("GET / http/1.1\r\n" HOST "\r\n"), E(400) },
    { "mixed-case Http", R("GET / Http/1.1\r\n" HOST "\r\n"), E(400) },
    { "HTTPS/1.1", R("GET / HTTPS/1.1\r\n" HOST "\r\n"), E(400) },
    { "HTTP 1.1 without slash", R("GET / HTTP 1.1\r\n" HOST "\r\n"), E(400) },
    { "version then bare LF", R("GET / HTTP/1.0\n\n"), E(400) },

    /* --- line endings --- */
    { "all bare LF", R("GET / HTTP/1.1\nHost: a\n\n"), E(400) },
    { "field bare LF", R(RL "Host: a\nX: y\r\n\r\n"), E(400) },
    { "blank line bare LF", R(RL "Host: a\r\n\n"), E(400) },
    { "blank line CR CR", R(RL "Host: a\r\n\r\r\n"), E(400) },
    { "blank line CR junk", R(RL "Host: a\r\n\rX"), E(400) },
    { "bare CR in value", R(RL "Host: a\rb\r\n\r\n"), E(400) },
    { "CR CR LF after value", R(RL "Host: a\r\r\n\r\n"), E(400) },
    { "LF CR after value", R(RL "Host: a\n\r\n\r\n"), E(400) },

    /* --- field syntax --- */
    { "obs-fold SP", R(RL "Host: a\r\nX: b\r\n c\r\n\r\n"), E(400) },
    { "obs-fold HTAB", R(RL "Host: a\r\nX: b\r\n\tc\r\n\r\n"), E(400) },
    { "whitespace before first field", R(RL " Host: a\r\n\r\n"), E(400) },
    { "space before colon", R(RL "Host : a\r\n\r\n"), E(400) },
    { "tab before colon", R(RL "Host\t: a\r\n\r\n"), E(400) },
    { "space inside name", R(RL "Na me: a\r\nHost: a\r\n\r\n"), E(400) },
    { "paren in name", R(RL "Na(me: a\r\nHost: a\r\n\r\n"), E(400) },
    { "quote in name", R(RL "Na\"me: a\r\nHost: a\r\n\r\n"), E(400) },
    { "slash in name", R(RL "Na/me: a\r\nHost: a\r\n\r\n"), E(400) },
    { "obs-text in name", R(RL "N\xe9: a\r\nHost: a\r\n\r\n"), E(400) },
    { "NUL in name", R(RL "Na\0me: a\r\nHost: a\r\n\r\n"), E(400) },
    { "empty name", R(RL ": a\r\nHost: a\r\n\r\n"), E(400) },
    { "space inside name, incomplete head", R(RL "Host: a\r\nNa me"), E(400) },
    { "field without colon, incomplete head", R(RL "Host: a\r\nNoColon\r\n"), E(400) },
    { "long value, incomplete head", R(RL "Host: a\r\nX: " X64 X64 "\r\n"), PART },
    { "field without colon", R(RL "Host\r\n\r\n"), E(400) },
    { "NUL in value", R(RL "Host: a\r\nX: a\0b\r\n\r\n"), E(400) },
    { "NUL at value end", R(RL "Host: a\r\nX: a\0\r\n\r\n"), E(400) },
    { "SOH in value", R(RL "Host: a\r\nX: a\x01" "b\r\n\r\n"), E(400) },
    { "ESC in value", R(RL "Host: a\r\nX: \x1b[0m\r\n\r\n"), E(400) },
    { "DEL in value", R(RL "Host: a\r\nX: a\x7f\r\n\r\n"), E(400) },
    { "VT in value", R(RL "Host: a\r\nX: a\vb\r\n\r\n"), E(400) },
    { "HTAB inside value", R(RL HOST "X: a\tb\r\n\r\n"), CHECK(0), HDR("x", "a\tb") },
    { "obs-text in value", R(RL HOST "X: caf\xc3\xa9 \xff\x80\r\n\r\n"), CHECK(0),
      HDR("x", "caf\xc3\xa9 \xff\x80") },
    { "OWS trimmed", R(RL HOST "X:  \t a b \t \r\n\r\n"), CHECK(0), HDR("x", "a b") },
    { "no OWS", R(RL HOST "X:v\r\n\r\n"), CHECK(0), HDR("x", "v") },
    { "empty value", R(RL HOST "X:\r\n\r\n"), CHECK(0), HDR("x", ""), NH(2) },
    { "value of only OWS", R(RL HOST "X: \t \r\n\r\n"), CHECK(0), HDR("x", "") },
    { "colon in value", R(RL HOST "X: a:b: c\r\n\r\n"), CHECK(0), HDR("x", "a:b: c") },
    { "name of all tchar", R(RL HOST "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"), CHECK(0),
      HDR("!#$%&'*+-.^_`|~09azaz", "v") },
    { "header names case-insensitive", R(RL "hOsT: example.com\r\n\r\n"), CHECK(0),
      .host = "example.com" },
    { "several fields", R(RL HOST "Accept: */*\r\nUser-Agent: t/1\r\nX-A: 1\r\n\r\n"), CHECK(0),
      NH(4), HDR("user-agent", "t/1") },

    /* --- Content-Length --- */
    { "CL 0", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 0\r\n\r\n"), CHECK(0), CL(0) },
    { "CL lower-case name", R("POST / HTTP/1.1\r\n" HOST "content-length: 12\r\n\r\n"), CHECK(0),
      CL(12) },
    { "CL leading zeros", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 007\r\n\r\n"), CHECK(0), CL(7) },
    { "CL with OWS", R("POST / HTTP/1.1\r\n" HOST "Content-Length:  5 \r\n\r\n"), CHECK(0), CL(5) },
    { "CL 2^63-1", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 9223372036854775807\r\n\r\n"),
      CHECK(0), HDR("content-length", "9223372036854775807") },
    { "CL 2^63", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 9223372036854775808\r\n\r\n"),
      CHECK(400), KA(0) },
    { "CL overflow 2^64", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 18446744073709551616\r\n\r\n"),
      CHECK(400) },
    { "CL huge", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 99999999999999999999999999\r\n\r\n"),
      CHECK(400) },
    { "CL +5", R("POST / HTTP/1.1\r\n" HOST "Content-Length: +5\r\n\r\n"), CHECK(400), KA(0) },
    { "CL -1", R("POST / HTTP/1.1\r\n" HOST "Content-Length: -1\r\n\r\n"), CHECK(400) },
    { "CL 0x10", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 0x10\r\n\r\n"), CHECK(400) },
    { "CL 1e3", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 1e3\r\n\r\n"), CHECK(400) },
    { "CL empty", R("POST / HTTP/1.1\r\n" HOST "Content-Length:\r\n\r\n"), CHECK(400), NOLEN },
    { "CL 5 5", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5 5\r\n\r\n"), CHECK(400) },
    { "CL list 5, 5", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5, 5\r\n\r\n"), CHECK(400) },
    { "CL list 5,5", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5,5\r\n\r\n"), CHECK(400) },
    { "two CL equal", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 5\r\n\r\n"),
      CHECK(400), KA(0) },
    { "two CL different", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"),
      CHECK(400) },
    { "CL then TE", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
      CHECK(400), KA(0) },
    { "TE then CL", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
      CHECK(400) },
    { "CL and TE in 1.0", R("POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
      CHECK(400) },
    { "CL on unknown method keeps framing", R("BREW / HTTP/1.1\r\n" HOST "Content-Length: 3\r\n\r\nabc"),
      TAIL(3), CHECK(501), CL(3), KA(1) },

    /* --- Transfer-Encoding --- */
    { "TE chunked", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"), CHECK(0),
      CHUNKED(1), NOLEN, KA(1) },
    { "TE Chunked", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: Chunked\r\n\r\n"), CHECK(0),
      CHUNKED(1) },
    { "TE CHUNKED", R("POST / HTTP/1.1\r\n" HOST "transfer-encoding: CHUNKED\r\n\r\n"), CHECK(0),
      CHUNKED(1) },
    { "TE chunked with OWS", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: \tchunked \r\n\r\n"),
      CHECK(0), CHUNKED(1) },
    { "TE chunked, chunked", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked, chunked\r\n\r\n"),
      CHECK(501), KA(0) },
    { "TE gzip", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip\r\n\r\n"), CHECK(501),
      CHUNKED(0), KA(0) },
    { "TE gzip, chunked", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: gzip, chunked\r\n\r\n"),
      CHECK(501) },
    { "TE identity", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: identity\r\n\r\n"), CHECK(501) },
    { "TE chunkedx", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunkedx\r\n\r\n"), CHECK(501) },
    { "TE empty", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding:\r\n\r\n"), CHECK(501) },
    { "TE in HTTP/1.0", R("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), CHECK(400), KA(0) },
    { "two TE fields", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
      CHECK(400) },
    { "TE and Connection close", R("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"),
      CHECK(0), CHUNKED(1), KA(0) },

    /* --- Host --- */
    { "missing Host in 1.1", R(RL "Accept: */*\r\n\r\n"), CHECK(400), KA(0) },
    { "missing Host, no fields", R(RL "\r\n"), CHECK(400) },
    { "two Host fields", R(RL "Host: a\r\nHost: a\r\n\r\n"), CHECK(400) },
    { "two Host fields in 1.0", R("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), CHECK(400) },
    { "Host with port", R(RL "Host: example.com:8080\r\n\r\n"), CHECK(0), .host = "example.com:8080" },
    { "Host empty", R(RL "Host:\r\n\r\n"), CHECK(0), .host = "" },
    { "Host IPv4", R(RL "Host: 127.0.0.1:80\r\n\r\n"), CHECK(0) },
    { "Host IPv6", R(RL "Host: [::1]:8080\r\n\r\n"), CHECK(0), .host = "[::1]:8080" },
    { "Host IPv6 unclosed", R(RL "Host: [::1\r\n\r\n"), CHECK(400) },
    { "Host empty brackets", R(RL "Host: []\r\n\r\n"), CHECK(400) },
    { "Host IPvFuture", R(RL "Host: [v1.x]\r\n\r\n"), CHECK(0) },
    { "Host junk after ]", R(RL "Host: [::1]x\r\n\r\n"), CHECK(400) },
    { "Host empty port", R(RL "Host: example.com:\r\n\r\n"), CHECK(0) },
    { "Host bad port", R(RL "Host: example.com:80x\r\n\r\n"), CHECK(400) },
    { "Host two colons", R(RL "Host: a:1:2\r\n\r\n"), CHECK(400) },
    { "Host with space", R(RL "Host: a b\r\n\r\n"), CHECK(400) },
    { "Host with tab", R(RL "Host: a\tb\r\n\r\n"), CHECK(400) },
    { "Host with slash", R(RL "Host: a/b\r\n\r\n"), CHECK(400) },
    { "Host with backslash", R(RL "Host: a\\b\r\n\r\n"), CHECK(400) },
    { "Host with userinfo", R(RL "Host: user@a\r\n\r\n"), CHECK(400) },
    { "Host with obs-text", R(RL "Host: caf\xc3\xa9\r\n\r\n"), CHECK(400) },
    { "Host pct-encoded", R(RL "Host: a%41b\r\n\r\n"), CHECK(0) },
    { "Host bad pct", R(RL "Host: a%4\r\n\r\n"), CHECK(400) },
    { "Host sub-delims", R(RL "Host: a-b_c~d!$&'()*+,;=\r\n\r\n"), CHECK(0) },
    { "Host port 65535", R(RL "Host: a.test:65535\r\n\r\n"), CHECK(0), .host = "a.test:65535" },
    { "Host port 0065535", R(RL "Host: a.test:0065535\r\n\r\n"), CHECK(0) },
    { "Host port 65536", R(RL "Host: a.test:65536\r\n\r\n"), CHECK(400) },
    { "Host port out of range", R(RL "Host: a.test:99999999999\r\n\r\n"), CHECK(400) },
    { "Host port past 2^64", R(RL "Host: a.test:99999999999999999999999\r\n\r\n"), CHECK(400) },
    { "Host non-numeric port", R(RL "Host: a.test:http\r\n\r\n"), CHECK(400) },
    { "Host negative port", R(RL "Host: a.test:-1\r\n\r\n"), CHECK(400) },
    { "Host IPv6 port 65536", R(RL "Host: [::1]:65536\r\n\r\n"), CHECK(400) },

    /* --- absolute-form: its authority is the host (RFC 9112 §3.2.2) --- */
    { "absolute-form authority wins", R("GET http://b.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n"),
      CHECK(0), .host = "b.test" },
    { "absolute-form authority with port", R("GET HTTPS://b.test:8443?q HTTP/1.1\r\nHost: a\r\n\r\n"),
      CHECK(0), .host = "b.test:8443" },
    { "absolute-form IPv6", R("GET http://[::1]:80/ HTTP/1.1\r\nHost: a\r\n\r\n"), CHECK(0),
      .host = "[::1]:80" },
    { "absolute-form in 1.0 without Host", R("GET http://b.test/ HTTP/1.0\r\n\r\n"), CHECK(0),
      .host = "b.test" },
    { "absolute-form still needs Host in 1.1", R("GET http://b.test/ HTTP/1.1\r\n\r\n"), CHECK(400) },
    { "absolute-form with a bad Host", R("GET http://b.test/ HTTP/1.1\r\nHost: a b\r\n\r\n"),
      CHECK(400) },
    { "absolute-form port out of range", R("GET http://b.test:99999999999/ HTTP/1.1\r\nHost: a\r\n\r\n"),
      CHECK(400) },
    { "absolute-form port 65536", R("GET http://b.test:65536/ HTTP/1.1\r\nHost: a\r\n\r\n"), CHECK(400) },
    { "absolute-form non-numeric port", R("GET http://b.test:x/ HTTP/1.1\r\nHost: a\r\n\r\n"),
      CHECK(400) },
    { "absolute-form userinfo", R("GET http://u:p@b.test/ HTTP/1.1\r\nHost: a\r\n\r\n"), CHECK(400) },
    { "absolute-form empty host", R("GET http://:80/ HTTP/1.1\r\nHost: a\r\n\r\n"), CHECK(400) },
    { "absolute-form bad host byte", R("GET http://b%zz/ HTTP/1.1\r\nHost: a\r\n\r\n"), CHECK(400) },

    /* --- Connection / Expect --- */
    { "1.1 Connection close", R(RL HOST "Connection: close\r\n\r\n"), CHECK(0), KA(0) },
    { "1.1 Connection CLOSE", R(RL HOST "Connection: CLOSE\r\n\r\n"), CHECK(0), KA(0) },
    { "1.1 Connection list with close", R(RL HOST "Connection: keep-alive , Close\r\n\r\n"), CHECK(0),
      KA(0) },
    { "1.1 Connection closed is not close", R(RL HOST "Connection: closed\r\n\r\n"), CHECK(0), KA(1) },
    { "1.1 Connection upgrade", R(RL HOST "Connection: upgrade\r\n\r\n"), CHECK(0), KA(1) },
    { "1.1 close in second field", R(RL HOST "Connection: te\r\nConnection: close\r\n\r\n"), CHECK(0),
      KA(0) },
    { "1.1 empty list elements", R(RL HOST "Connection: , ,close,\r\n\r\n"), CHECK(0), KA(0) },
    { "1.0 default close", R("GET / HTTP/1.0\r\n\r\n"), CHECK(0), KA(0) },
    { "1.0 keep-alive", R("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), CHECK(0), KA(1) },
    { "1.0 Keep-Alive", R("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), CHECK(0), KA(1) },
    { "1.0 keep-alive and close", R("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), CHECK(0),
      KA(0) },
    { "Expect 100-continue", R("POST / HTTP/1.1\r\n" HOST "Expect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
      CHECK(0), EXPECT(1), CL(3) },
    { "Expect 100-Continue", R("POST / HTTP/1.1\r\n" HOST "Expect: 100-Continue\r\n\r\n"), CHECK(0),
      EXPECT(1) },
    { "Expect in 1.0 ignored", R("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), CHECK(0), EXPECT(0) },
    { "Expect other", R("POST / HTTP/1.1\r\n" HOST "Expect: 200-ok\r\n\r\n"), CHECK(0), EXPECT(0) },

    /* --- size limits --- */
    { "head of exactly max_header_size", R(EXACT_HEAD), CHECK(0), .lim = &lim_exact },
    { "head one over max_header_size", R(EXACT_HEAD), E(431), .lim = &lim_exact_minus },
    { "incomplete head filling max_header_size", R("GET / HTTP/1.1\r\nX: " X64 X64 X64 X64 X64 X64
      X64 X64), E(431) },
    { "431 before a later error", R("GET / HTTP/1.1\r\nX: " X64 X64 X64 X64 X64 X64 X64 X64 "\0"), E(431) },
    { "error before the size limit wins", R("GET / HTTP/1.1\r\nX: \0" X64 X64 X64 X64 X64 X64 X64 X64),
      E(400) },
    { "max_headers fields", R(RL H8 "Host: a\r\n\r\n"), CHECK(0), NH(8) },
    { "max_headers + 1 fields", R(RL H8 "Host: a\r\nX: y\r\n\r\n"), E(431) },
    { "leading CRLFs and max_headers fields", R("\r\n\r\n" RL H8 "Host: a\r\n\r\n"), CHECK(0), NH(8) },
    { "leading CRLFs and max_headers + 1 fields", R("\r\n" RL H8 "Host: a\r\nX: y\r\n\r\n"), E(431) },
    { "too many fields, incomplete", R(RL H8 "Host: a\r\nX"), E(431) },
    { "too many fields, blank line ok", R(RL H8 "Host: a\r\n\r\nX: y\r\n\r\n"), TAIL(8), CHECK(0) },
    { "small limits: 2 fields", R("GET / HTTP/1.1\r\nHost: a\r\nB: c\r\n\r\n"), CHECK(0), NH(2),
      .lim = &lim_small },
    { "small limits: 3 fields", R("GET / HTTP/1.1\r\nHost: a\r\nB: c\r\nD: e\r\n\r\n"), E(431),
      .lim = &lim_small },
    { "small limits: head over 64", R("GET / HTTP/1.1\r\nHost: a\r\nB: 0123456789012345678901234567890123\r\n\r\n"),
      E(431), .lim = &lim_small },
    { "zero max_headers, no fields", R("GET / HTTP/1.0\r\n\r\n"), CHECK(0), NH(0), .lim = &lim_zero_headers },
    { "zero max_headers, one field", R(RL HOST "\r\n"), E(431), .lim = &lim_zero_headers },

    /* --- pipelining and partial heads --- */
    { "pipelined GETs", R(RL HOST "\r\n" "GET /b HTTP/1.1\r\n" HOST "\r\n"), TAIL(38), CHECK(0),
      .target = "/" },
    { "pipelined garbage after head", R(RL HOST "\r\n" "\x01\x02garbage"), TAIL(9), CHECK(0) },
    { "pipelined partial second", R(RL HOST "\r\nGET /b HT"), TAIL(9), CHECK(0) },
    { "body looks like a head", R("POST / HTTP/1.1\r\n" HOST "Content-Length: 4\r\n\r\n\r\n\r\n"), TAIL(4),
      CHECK(0), CL(4) },
    { "empty input", R(""), PART },
    { "method only", R("GET"), PART },
    { "method and SP", R("GET "), PART },
    { "request line without CRLF", R("GET / HTTP/1.1"), PART },
    { "request line with CR", R("GET / HTTP/1.1\r"), PART },
    { "request line only", R(RL), PART },
    { "field without CRLF", R(RL "Host: a"), PART },
    { "field name only", R(RL "Hos"), PART },
    { "field then CR", R(RL "Host: a\r"), PART },
    { "fields without blank line", R(RL "Host: a\r\n"), PART },
    { "blank line CR only", R(RL "Host: a\r\n\r"), PART },
    { "value with trailing OWS, partial", R(RL "Host: a  "), PART },
};

#define N_PARSE_CASES (sizeof(parse_cases) / sizeof(parse_cases[0]))

/* Everything a parse produced, with pointers turned into offsets so results
 * from different copies of the same bytes compare. */
struct parse_result {
    int rc, status;
    size_t method_off, method_len, target_off, target_len;
    int minor;
    size_t nh;
    size_t h[HDR_CAP][4];
};

static struct parse_result parse_at(const char *raw, size_t n, size_t last_len,
                                    const struct http_limits *lim)
{
    char *copy = malloc(n > 0 ? n : 1);
    struct http_header hdrs[HDR_CAP];
    struct http_request req = { .headers = hdrs, .num_headers = HDR_CAP };
    struct parse_result r;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, raw, n);
    memset(&r, 0, sizeof(r));
    r.status = -7;
    r.rc = http_parse_request(copy, n, last_len, &req, lim, &r.status);
    if (r.rc > 0) {
        r.method_off = (size_t)(req.method - copy);
        r.method_len = req.method_len;
        r.target_off = (size_t)(req.target - copy);
        r.target_len = req.target_len;
        r.minor = req.minor_version;
        r.nh = req.num_headers;
        for (size_t i = 0; i < r.nh && i < HDR_CAP; i++) {
            r.h[i][0] = (size_t)(hdrs[i].name - copy);
            r.h[i][1] = hdrs[i].name_len;
            r.h[i][2] = (size_t)(hdrs[i].value - copy);
            r.h[i][3] = hdrs[i].value_len;
        }
    }
    if (r.rc != HTTP_PARSE_ERROR)
        r.status = 0;
    free(copy);
    return r;
}

static bool same_result(const struct parse_result *a, const struct parse_result *b)
{
    if (a->rc != b->rc || a->status != b->status || a->method_off != b->method_off ||
        a->method_len != b->method_len || a->target_off != b->target_off ||
        a->target_len != b->target_len || a->minor != b->minor || a->nh != b->nh)
        return false;
    for (size_t i = 0; i < a->nh && i < HDR_CAP; i++)
        if (memcmp(a->h[i], b->h[i], sizeof(a->h[i])) != 0)
            return false;
    return true;
}

static int expected_rc(const struct parse_case *pc)
{
    return pc->result != 0 ? pc->result : (int)(pc->len - pc->tail);
}

/* A prefix must say PARTIAL, or already the whole's error. */
static void check_prefix_answer(const struct parse_case *pc, const struct parse_result *whole,
                                const struct parse_result *r, size_t n, const char *how)
{
    if (whole->rc > 0 && n >= (size_t)whole->rc) {
        ck_assert_msg(same_result(r, whole), "%s: %s prefix %zu: rc %d, whole %d",
                      pc->name, how, n, r->rc, whole->rc);
        return;
    }
    if (r->rc == HTTP_PARSE_PARTIAL)
        return;
    ck_assert_msg(r->rc == HTTP_PARSE_ERROR && whole->rc == HTTP_PARSE_ERROR &&
                  r->status == whole->status,
                  "%s: %s prefix %zu gives rc %d status %d, whole rc %d status %d",
                  pc->name, how, n, r->rc, r->status, whole->rc, whole->status);
}

/* Feed growing prefixes as a server would: last_len = the previous length,
 * until an answer other than PARTIAL. */
static void check_incremental(const struct parse_case *pc, const struct http_limits *lim,
                              const struct parse_result *whole)
{
    size_t last = 0;

    for (size_t n = 0; n <= pc->len; n++) {
        struct parse_result r = parse_at(pc->raw, n, last, lim);
        check_prefix_answer(pc, whole, &r, n, "incremental");
        if (r.rc != HTTP_PARSE_PARTIAL) {
            ck_assert_msg(r.rc == whole->rc, "%s: incremental stopped at %zu with %d, whole %d",
                          pc->name, n, r.rc, whole->rc);
            return;
        }
        last = n;
    }
    ck_assert_msg(whole->rc == HTTP_PARSE_PARTIAL, "%s: incremental never decided", pc->name);
}

/* Every prefix on its own, and every split p | rest resumed with last_len = p. */
static void check_prefixes_and_splits(const struct parse_case *pc, const struct http_limits *lim,
                                      const struct parse_result *whole)
{
    for (size_t n = 0; n <= pc->len; n++) {
        struct parse_result r = parse_at(pc->raw, n, 0, lim);
        check_prefix_answer(pc, whole, &r, n, "fresh");
        if (r.rc != HTTP_PARSE_PARTIAL || n == 0)
            continue;
        struct parse_result resumed = parse_at(pc->raw, pc->len, n, lim);
        ck_assert_msg(same_result(&resumed, whole), "%s: split at %zu gives %d/%d, whole %d/%d",
                      pc->name, n, resumed.rc, resumed.status, whole->rc, whole->status);
    }
}

static const struct http_header *find_header(const struct http_request *req, const char *lower)
{
    for (size_t i = 0; i < req->num_headers; i++)
        if (http_name_is(&req->headers[i], lower))
            return &req->headers[i];
    return NULL;
}

static void check_mem(const char *what, const struct parse_case *pc, const char *p, size_t n,
                      const char *want)
{
    ck_assert_msg(p != NULL, "%s: %s missing", pc->name, what);
    ck_assert_msg(n == strlen(want) && memcmp(p, want, n) == 0, "%s: %s is \"%.*s\", want \"%s\"",
                  pc->name, what, (int)n, p, want);
}

static void check_request_fields(const struct parse_case *pc, const struct http_request *req)
{
    if (pc->method != NULL)
        check_mem("method", pc, req->method, req->method_len, pc->method);
    if (pc->target != NULL)
        check_mem("target", pc, req->target, req->target_len, pc->target);
    if (pc->ver != 0)
        ck_assert_msg(req->minor_version == pc->ver - 10, "%s: minor %d", pc->name, req->minor_version);
    if (pc->nh != 0)
        ck_assert_msg(req->num_headers == (size_t)pc->nh - 1, "%s: %zu fields", pc->name,
                      req->num_headers);
    if (pc->hname != NULL) {
        const struct http_header *h = find_header(req, pc->hname);
        ck_assert_msg(h != NULL, "%s: no field %s", pc->name, pc->hname);
        check_mem("field value", pc, h->value, h->value_len, pc->hvalue);
    }
}

static void check_framing(const struct parse_case *pc, const struct http_request *req)
{
    struct http_framing f;
    int st = http_request_check(req, &f);

    ck_assert_msg(st == pc->check, "%s: check gives %d, want %d", pc->name, st, pc->check);
    if (st != 0)
        ck_assert_msg(f.why != NULL && f.why[0] != '\0', "%s: refused without a reason", pc->name);
    ck_assert_int_eq(f.method, http_method_from(req->method, req->method_len));
    if (pc->fm != 0)
        ck_assert_msg((int)f.method == pc->fm - 1, "%s: method %d", pc->name, (int)f.method);
    if (pc->ka != 0)
        ck_assert_msg(f.keep_alive == (pc->ka == 1), "%s: keep_alive %d", pc->name, f.keep_alive);
    if (pc->cl == -1)
        ck_assert_msg(!f.has_length, "%s: unexpected length", pc->name);
    else if (pc->cl != 0)
        ck_assert_msg(f.has_length && f.content_length == (uint64_t)pc->cl - 1,
                      "%s: length %d/%llu", pc->name, f.has_length,
                      (unsigned long long)f.content_length);
    if (pc->chunked != 0)
        ck_assert_msg(f.chunked == (pc->chunked == 1), "%s: chunked %d", pc->name, f.chunked);
    if (pc->expect != 0)
        ck_assert_msg(f.expect_continue == (pc->expect == 1), "%s: expect %d", pc->name,
                      f.expect_continue);
    if (pc->host != NULL)
        check_mem("host", pc, f.host, f.host_len, pc->host);
}

START_TEST(test_parse_case)
{
    const struct parse_case *pc = &parse_cases[_i];
    const struct http_limits *lim = pc->lim != NULL ? pc->lim : &lim_default;
    struct http_header hdrs[HDR_CAP];
    struct http_request req = { .headers = hdrs, .num_headers = HDR_CAP };
    int status = 0;

    int rc = http_parse_request(pc->raw, pc->len, 0, &req, lim, &status);
    ck_assert_msg(rc == expected_rc(pc), "%s: rc %d (status %d), want %d", pc->name, rc, status,
                  expected_rc(pc));
    if (rc == HTTP_PARSE_ERROR)
        ck_assert_msg(status == pc->status, "%s: status %d, want %d", pc->name, status, pc->status);
    if (rc > 0) {
        ck_assert_uint_le(req.num_headers, lim->max_headers);
        check_request_fields(pc, &req);
        check_framing(pc, &req);
    }

    /* A refusal has a reason for the log, and only a refusal. */
    const char *why = http_parse_why(pc->raw, pc->len, lim);
    if (rc == HTTP_PARSE_ERROR)
        ck_assert_msg(why != NULL && why[0] != '\0', "%s: refused without a reason", pc->name);
    else
        ck_assert_msg(why == NULL, "%s: a reason (%s) without a refusal", pc->name, why);

    struct parse_result whole = parse_at(pc->raw, pc->len, 0, lim);
    ck_assert_int_eq(whole.rc, rc);
    check_incremental(pc, lim, &whole);
    check_prefixes_and_splits(pc, lim, &whole);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Parser tests outside the table                                            */

/* The reasons an administrator reads in the error log. */
START_TEST(test_refusal_reasons)
{
    static const struct {
        const char *raw, *why;
    } heads[] = {
        { "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "invalid character in a field name" },
        { "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", "obs-fold or whitespace before a field name" },
        { "GET /\x01 HTTP/1.1\r\n", "invalid character in the request target" },
        { "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", "bare CR in a field line" },
        { "GET / HTTP/3.0\r\n\r\n", "HTTP version other than 1.x" },
        { "GET / HTTX/1.1\r\n\r\n", "malformed HTTP version" },
        { "GET /" X64 "x HTTP/1.1\r\n", "request target longer than max_target" },
        { "GET / HTTP/1.1\r\n" H8 "Y: 1\r\nZ: 2\r\n", "more header fields than max_headers" },
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        const char *why = http_parse_why(heads[i].raw, strlen(heads[i].raw), &lim_default);
        ck_assert_msg(why != NULL && strcmp(why, heads[i].why) == 0, "%s: \"%s\", want \"%s\"",
                      heads[i].raw, why ? why : "(null)", heads[i].why);
    }

    static const struct {
        const char *raw, *why;
    } bodies[] = {
        { "5 \r\n", "malformed chunk extension" },
        { "x\r\n", "malformed chunk size" },
        { "10000000000000000\r\n", "chunk size of 2^63 or more" },
        { "1\r\nab", "chunk data not followed by CRLF" },
        { "1\r\rx", "bare CR in a chunk line" },
        { "0\r\nX Y: z\r\n\r\n", "malformed trailer section" },
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct http_chunked c;
        size_t used;
        http_chunked_init(&c, 0);
        ck_assert_int_eq(http_chunked_decode(&c, bodies[i].raw, strlen(bodies[i].raw), &used,
                                             NULL, NULL), HTTP_CHUNKED_ERROR);
        ck_assert_str_eq(http_chunked_why(&c), bodies[i].why);
    }
    struct http_chunked c;
    size_t used;
    http_chunked_init(&c, 3);
    ck_assert_int_eq(http_chunked_decode(&c, "4\r\n", 3, &used, NULL, NULL),
                     HTTP_CHUNKED_TOO_LARGE);
    ck_assert_str_eq(http_chunked_why(&c), "chunked body larger than max_body");
}
END_TEST

/* One byte varied in each part of a request, against the grammar's classes. */
static bool is_tchar(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int parse_buf(const char *buf, size_t len, const struct http_limits *lim, int *status,
                     struct http_request *req)
{
    req->num_headers = HDR_CAP;
    return http_parse_request(buf, len, 0, req, lim, status);
}

START_TEST(test_byte_classes)
{
    struct http_header hdrs[HDR_CAP];
    struct http_request req = { .headers = hdrs };
    char buf[128];
    int status;

    for (int c = 0; c < 256; c++) {
        int n = snprintf(buf, sizeof(buf), "GXT / HTTP/1.1\r\nHost: a\r\n\r\n");
        buf[1] = (char)c;
        int rc = parse_buf(buf, (size_t)n, &lim_default, &status, &req);
        ck_assert_msg(is_tchar(c) ? rc == n : (rc == HTTP_PARSE_ERROR && status == 400),
                      "method byte 0x%02x: %d", c, rc);

        n = snprintf(buf, sizeof(buf), "GET /X HTTP/1.1\r\nHost: a\r\n\r\n");
        buf[5] = (char)c;
        rc = parse_buf(buf, (size_t)n, &lim_default, &status, &req);
        if (c == ' ')
            ck_assert_int_eq(rc, HTTP_PARSE_ERROR);    /* "GET / " then "HTTP" expected */
        else
            ck_assert_msg(c > 0x20 && c < 0x7f ? rc == n : (rc == HTTP_PARSE_ERROR && status == 400),
                          "target byte 0x%02x: %d", c, rc);

        n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nNXme: v\r\n\r\n");
        buf[26] = (char)c;
        rc = parse_buf(buf, (size_t)n, &lim_default, &status, &req);
        if (c == ':')
            ck_assert_int_eq(rc, n);                   /* "N:me: v" is a valid field */
        else
            ck_assert_msg(is_tchar(c) ? rc == n : (rc == HTTP_PARSE_ERROR && status == 400),
                          "name byte 0x%02x: %d", c, rc);

        n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nName: aXb\r\n\r\n");
        buf[32] = (char)c;
        rc = parse_buf(buf, (size_t)n, &lim_default, &status, &req);
        bool ok = c == '\t' || (c >= 0x20 && c != 0x7f);
        ck_assert_msg(ok ? rc == n : (rc == HTTP_PARSE_ERROR && status == 400),
                      "value byte 0x%02x: %d", c, rc);
    }
}
END_TEST

START_TEST(test_every_version)
{
    struct http_header hdrs[HDR_CAP];
    struct http_request req = { .headers = hdrs };
    char buf[64];
    int status;

    for (int major = 0; major < 10; major++) {
        for (int minor = 0; minor < 10; minor++) {
            int n = snprintf(buf, sizeof(buf), "GET / HTTP/%d.%d\r\nHost: a\r\n\r\n", major, minor);
            int rc = parse_buf(buf, (size_t)n, &lim_default, &status, &req);
            if (major == 1) {
                ck_assert_int_eq(rc, n);
                ck_assert_int_eq(req.minor_version, minor == 0 ? 0 : 1);
            } else {
                ck_assert_int_eq(rc, HTTP_PARSE_ERROR);
                ck_assert_int_eq(status, major == 0 ? 400 : 505);
            }
        }
    }
}
END_TEST

/* On PARTIAL and ERROR nothing but the scratch headers[] may change. */
START_TEST(test_req_untouched_unless_complete)
{
    struct http_header hdrs[HDR_CAP];
    struct http_request req = { .method = "m", .method_len = 1, .target = "t", .target_len = 1,
                                .minor_version = 7, .headers = hdrs, .num_headers = HDR_CAP };
    const char partial[] = RL "Host: a\r\nX: y\r\n";
    const char bad[] = RL "Host: a\r\nX: \x01\r\n\r\n";
    int status = 0;

    ck_assert_int_eq(http_parse_request(partial, sizeof(partial) - 1, 0, &req, &lim_default, &status),
                     HTTP_PARSE_PARTIAL);
    ck_assert_int_eq(http_parse_request(bad, sizeof(bad) - 1, 0, &req, &lim_default, &status),
                     HTTP_PARSE_ERROR);
    ck_assert_int_eq(status, 400);
    ck_assert_str_eq(req.method, "m");
    ck_assert_str_eq(req.target, "t");
    ck_assert_int_eq(req.minor_version, 7);
    ck_assert_uint_eq(req.num_headers, HDR_CAP);
}
END_TEST

/* A capacity below max_headers (a caller error) still never overflows. */
START_TEST(test_capacity_below_max_headers)
{
    struct http_header hdrs[2];
    struct http_request req = { .headers = hdrs, .num_headers = 2 };
    const char ok[] = RL "Host: a\r\nB: c\r\n\r\n";
    const char over[] = RL "Host: a\r\nB: c\r\nD: e\r\n\r\n";
    int status = 0;

    ck_assert_int_eq(http_parse_request(ok, sizeof(ok) - 1, 0, &req, &lim_default, &status),
                     (int)sizeof(ok) - 1);
    ck_assert_uint_eq(req.num_headers, 2);
    req.num_headers = 2;
    ck_assert_int_eq(http_parse_request(over, sizeof(over) - 1, 0, &req, &lim_default, &status),
                     HTTP_PARSE_ERROR);
    ck_assert_int_eq(status, 431);
}
END_TEST

/* For every max_header_size around a head's length: exact fits, one less is
 * 431, and an incomplete head is 431 exactly once it fills the limit. */
START_TEST(test_header_size_boundary)
{
    const char head[] = RL "Host: a\r\nX-Long: 0123456789abcdef\r\n\r\n";
    const size_t len = sizeof(head) - 1;
    struct http_header hdrs[HDR_CAP];
    struct http_request req = { .headers = hdrs };
    int status;

    for (size_t max = 1; max <= len + 4; max++) {
        struct http_limits lim = { .max_target = 64, .max_header_size = max, .max_headers = 8 };
        int rc = parse_buf(head, len, &lim, &status, &req);
        if (max >= len)
            ck_assert_int_eq(rc, (int)len);
        else
            ck_assert_msg(rc == HTTP_PARSE_ERROR && status == 431, "max %zu: %d", max, rc);
        for (size_t n = 0; n < len; n++) {
            rc = parse_buf(head, n, &lim, &status, &req);
            if (n >= max)
                ck_assert_msg(rc == HTTP_PARSE_ERROR && status == 431, "max %zu n %zu: %d", max, n, rc);
            else
                ck_assert_msg(rc == HTTP_PARSE_PARTIAL, "max %zu n %zu: %d", max, n, rc);
        }
    }
}
END_TEST

/* A target streamed one byte at a time is refused as soon as it passes the
 * limit, long before the head could be complete. */
START_TEST(test_streamed_target_414)
{
    char buf[300];
    struct http_header hdrs[HDR_CAP];
    struct http_request req = { .headers = hdrs, .num_headers = HDR_CAP };
    struct http_limits lim = { .max_target = 100, .max_header_size = 4096, .max_headers = 8 };
    size_t last = 0;
    int status = 0;

    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', sizeof(buf) - 5);
    for (size_t n = 1; n <= sizeof(buf); n++) {
        int rc = http_parse_request(buf, n, last, &req, &lim, &status);
        if (n <= 4 + 100) {
            ck_assert_msg(rc == HTTP_PARSE_PARTIAL, "n %zu: %d", n, rc);
        } else {
            ck_assert_msg(rc == HTTP_PARSE_ERROR && status == 414, "n %zu: %d", n, rc);
            return;
        }
        last = n;
    }
    ck_abort_msg("never refused");
}
END_TEST

/* A big head trickling in one byte at a time: the resumed answers equal the
 * fresh ones all the way (this is the path last_len makes cheap). */
START_TEST(test_trickled_head)
{
    enum { N_FIELDS = 12 };
    char buf[1024];
    size_t len = (size_t)snprintf(buf, sizeof(buf), "POST /upload HTTP/1.1\r\n");
    struct http_header hdrs[HDR_CAP];
    struct http_request req = { .headers = hdrs, .num_headers = HDR_CAP };
    struct http_limits lim = { .max_target = 64, .max_header_size = sizeof(buf), .max_headers = 16 };
    size_t last = 0;
    int status = 0;

    for (int i = 0; i < N_FIELDS; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "X-Field-%d: value %d with text\r\n", i, i);
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\r\n");
    for (size_t n = 1; n <= len; n++) {
        struct parse_result fresh = parse_at(buf, n, 0, &lim);
        req.num_headers = HDR_CAP;
        int rc = http_parse_request(buf, n, last, &req, &lim, &status);
        ck_assert_int_eq(rc, fresh.rc);
        last = n;
    }
    ck_assert_uint_eq(req.num_headers, N_FIELDS);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* request.c helpers                                                         */

START_TEST(test_method_names)
{
    static const char *const names[] = { "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS",
                                         "TRACE", "CONNECT", "PATCH" };

    for (int m = 0; m < HTTP_METHOD_UNKNOWN; m++) {
        ck_assert_str_eq(http_method_name((enum http_method)m), names[m]);
        ck_assert_int_eq(http_method_from(names[m], strlen(names[m])), m);
        ck_assert_int_eq(http_method_from(names[m], strlen(names[m]) - 1), HTTP_METHOD_UNKNOWN);
    }
    ck_assert_ptr_null(http_method_name(HTTP_METHOD_UNKNOWN));
    ck_assert_ptr_null(http_method_name((enum http_method)42));
    ck_assert_int_eq(http_method_from("get", 3), HTTP_METHOD_UNKNOWN);
    ck_assert_int_eq(http_method_from("GETS", 4), HTTP_METHOD_UNKNOWN);
    ck_assert_int_eq(http_method_from("", 0), HTTP_METHOD_UNKNOWN);
}
END_TEST

START_TEST(test_name_is)
{
    struct http_header h = { .name = "Content-LENGTH", .name_len = 14 };

    ck_assert(http_name_is(&h, "content-length"));
    ck_assert(!http_name_is(&h, "content-lengt"));
    ck_assert(!http_name_is(&h, "content-lengths"));
    h.name_len = 7;
    ck_assert(http_name_is(&h, "content"));
    ck_assert(!http_name_is(&h, ""));
    h.name_len = 0;
    ck_assert(http_name_is(&h, ""));
}
END_TEST

START_TEST(test_content_length_values)
{
    static const struct { const char *s; int rc; uint64_t v; } cases[] = {
        { "0", 0, 0 }, { "1", 0, 1 }, { "007", 0, 7 }, { "1234567890", 0, 1234567890 },
        { "9223372036854775807", 0, UINT64_C(9223372036854775807) },
        { "09223372036854775807", 0, UINT64_C(9223372036854775807) },
        { "9223372036854775808", -1, 0 }, { "18446744073709551615", -1, 0 },
        { "18446744073709551616", -1, 0 }, { "", -1, 0 }, { "+5", -1, 0 }, { "-5", -1, 0 },
        { " 5", -1, 0 }, { "5 ", -1, 0 }, { "5 5", -1, 0 }, { "5,5", -1, 0 }, { "0x10", -1, 0 },
        { "1e3", -1, 0 }, { "five", -1, 0 }, { "5\t", -1, 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 12345;
        int rc = http_parse_content_length(cases[i].s, strlen(cases[i].s), &v);
        ck_assert_msg(rc == cases[i].rc, "\"%s\": %d", cases[i].s, rc);
        if (rc == 0)
            ck_assert_msg(v == cases[i].v, "\"%s\": %llu", cases[i].s, (unsigned long long)v);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Chunked decoder table                                                     */

struct chunk_case {
    const char *name;
    const char *raw;
    size_t len;
    uint64_t max_body;
    int result;
    size_t tail;             /* with DONE: bytes left over */
    const char *body;        /* data reported (before the answer) */
    size_t body_len;
};

#define B(s) .body = (s), .body_len = sizeof(s) - 1
#define DONE .result = HTTP_CHUNKED_DONE
#define MORE .result = HTTP_CHUNKED_MORE
#define CERR .result = HTTP_CHUNKED_ERROR
#define BIG .result = HTTP_CHUNKED_TOO_LARGE

static const struct chunk_case chunk_cases[] = {
    { "one chunk", R("5\r\nhello\r\n0\r\n\r\n"), DONE, B("hello") },
    { "two chunks", R("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), DONE, B("hello world") },
    { "many small chunks", R("1\r\na\r\n1\r\nb\r\n1\r\nc\r\n1\r\nd\r\n0\r\n\r\n"), DONE, B("abcd") },
    { "upper-case hex", R("A\r\n0123456789\r\n0\r\n\r\n"), DONE, B("0123456789") },
    { "lower-case hex", R("b\r\n0123456789a\r\n0\r\n\r\n"), DONE, B("0123456789a") },
    { "two-digit hex", R("1F\r\n0123456789abcdef0123456789abcde\r\n0\r\n\r\n"), DONE,
      B("0123456789abcdef0123456789abcde") },
    { "leading zeros", R("0005\r\nhello\r\n000\r\n\r\n"), DONE, B("hello") },
    { "terminator only", R("0\r\n\r\n"), DONE, B("") },
    { "data with CR LF NUL", R("6\r\n\r\n\0\r\n\n\r\n0\r\n\r\n"), DONE, B("\r\n\0\r\n\n") },
    { "extension", R("5;foo=bar\r\nhello\r\n0;last\r\n\r\n"), DONE, B("hello") },
    { "extension quoted with BWS", R("5 ; a = \"q;s\"\r\nhello\r\n0\r\n\r\n"), DONE, B("hello") },
    { "BWS around ; and =", R("2 ; a = b ; c\r\nab\r\n0\t;\tx\t=\t\"y\"\r\n\r\n"), DONE, B("ab") },
    { "two extensions", R("2;a;b=c\r\nab\r\n0\r\n\r\n"), DONE, B("ab") },
    { "empty quoted value", R("2;a=\"\"\r\nab\r\n0\r\n\r\n"), DONE, B("ab") },
    { "quoted-pair", R("2;a=\"x\\\"y\\\\\"\r\nab\r\n0\r\n\r\n"), DONE, B("ab") },
    { "obs-text quoted", R("2;a=\"\x80\xff\"\r\nab\r\n0\r\n\r\n"), DONE, B("ab") },
    { "extension on last chunk", R("0;a=b\r\n\r\n"), DONE, B("") },
    /* RFC 9112 §7.1.1: BWS only around ";" and "=", never before CRLF. */
    { "BWS before CRLF", R("5 \t\r\nhello\r\n0\r\n\r\n"), CERR, B("") },
    { "BWS before CRLF after name", R("5;a \r\nhello\r\n0\r\n\r\n"), CERR, B("") },
    { "BWS before CRLF after value", R("5;a=b \r\nhello\r\n0\r\n\r\n"), CERR, B("") },
    { "BWS before CRLF after quoted", R("5;a=\"b\"\t\r\nhello\r\n0\r\n\r\n"), CERR, B("") },
    { "empty extension name", R("2;\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "empty name after BWS", R("2 ; \r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "empty name before =", R("2;=x\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "double semicolon", R("2;;a\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "empty value", R("2;a=\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "space inside name", R("2;a b\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "non-tchar in name", R("2;a@b\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "two = ", R("2;a==b\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "unbalanced quote", R("2;a=\"x\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "quote inside token", R("2;a=x\"y\"\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "junk after quoted", R("2;a=\"x\"y\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "quoted-pair of CR", R("2;a=\"\\\r\"\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "DEL in quoted", R("2;a=\"\x7f\"\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "obs-text in token", R("2;a=\x80\r\nab\r\n0\r\n\r\n"), CERR, B("") },
    { "trailers", R("3\r\nabc\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n"), DONE, B("abc") },
    { "pipelined after body", R("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), DONE, TAIL(16), B("abc") },
    { "pipelined after trailers", R("0\r\nT: v\r\n\r\nNEXT"), DONE, TAIL(4), B("") },
    { "max_body exact", R("5\r\nhello\r\n0\r\n\r\n"), .max_body = 5, DONE, B("hello") },
    { "empty input", R(""), MORE, B("") },
    { "partial size", R("5"), MORE, B("") },
    { "partial data", R("5\r\nhel"), MORE, B("hel") },
    { "data without CRLF", R("5\r\nhello"), MORE, B("hello") },
    { "before trailers", R("5\r\nhello\r\n0\r\n"), MORE, B("hello") },
    { "inside trailer", R("0\r\nX: y\r\n"), MORE, B("") },
    { "largest size", R("7fffffffffffffff\r\n"), MORE, B("") },
    { "largest size with leading zeros", R("000000007FFFFFFFFFFFFFFF\r\n"), MORE, B("") },
    { "size 2^63", R("8000000000000000\r\n"), CERR, B("") },
    { "size 16 f", R("ffffffffffffffff\r\n"), CERR, B("") },
    { "17 hex digits", R("10000000000000000\r\n"), CERR, B("") },
    { "empty size", R("\r\nhello\r\n"), CERR, B("") },
    { "non-hex size", R("x\r\n"), CERR, B("") },
    { "0x prefix", R("0x5\r\nhello\r\n0\r\n\r\n"), CERR, B("") },
    { "signed size", R("+5\r\nhello\r\n"), CERR, B("") },
    { "junk after size", R("5x\r\nhello\r\n0\r\n\r\n"), CERR, B("") },
    { "junk after BWS", R("5 x\r\nhello\r\n0\r\n\r\n"), CERR, B("") },
    { "bare LF after size", R("5\nhello\r\n0\r\n\r\n"), CERR, B("") },
    { "bare CR after size", R("5\rhello\r\n0\r\n\r\n"), CERR, B("") },
    { "bare LF in extension", R("5;a\nhello\r\n0\r\n\r\n"), CERR, B("") },
    { "CTL in extension", R("5;a\x01\r\nhello\r\n0\r\n\r\n"), CERR, B("") },
    { "NUL in size", R("5\0\r\nhello\r\n"), CERR, B("") },
    { "missing CRLF after data", R("5\r\nhelloX\r\n0\r\n\r\n"), CERR, B("hello") },
    { "bare LF after data", R("5\r\nhello\n0\r\n\r\n"), CERR, B("hello") },
    { "CR CR after data", R("5\r\nhello\r\r\n0\r\n\r\n"), CERR, B("hello") },
    { "too much data", R("3\r\nabcd\r\n0\r\n\r\n"), CERR, B("abc") },
    { "bare LF at end", R("0\r\n\n"), CERR, B("") },
    { "CR junk at end", R("0\r\n\rX"), CERR, B("") },
    { "trailer bare LF", R("0\r\nX: y\n\r\n"), CERR, B("") },
    { "trailer obs-fold", R("0\r\nX: y\r\n z\r\n\r\n"), CERR, B("") },
    { "trailer NUL", R("0\r\nX: \0\r\n\r\n"), CERR, B("") },
    { "trailer without colon", R("0\r\nXY\r\n\r\n"), CERR, B("") },
    { "trailer space in name", R("0\r\nX Y: z\r\n\r\n"), CERR, B("") },
    { "max_body exceeded by one chunk", R("5\r\nhello\r\n0\r\n\r\n"), .max_body = 4, BIG, B("") },
    { "max_body exceeded across chunks", R("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"), .max_body = 8, BIG,
      B("hello") },
    { "max_body before the data arrives", R("100000\r\n"), .max_body = 1000, BIG, B("") },
    { "max_body checked before extension", R("6;x\r\nhello!\r\n"), .max_body = 5, BIG, B("") },
};

#define N_CHUNK_CASES (sizeof(chunk_cases) / sizeof(chunk_cases[0]))

struct chunk_sink {
    char buf[256];
    size_t len;
    bool overflow;
};

static void chunk_collect(void *arg, const char *p, size_t n)
{
    struct chunk_sink *s = arg;

    ck_assert_uint_gt(n, 0);
    if (s->len + n > sizeof(s->buf)) {
        s->overflow = true;
        return;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

struct chunk_outcome {
    int rc;
    size_t consumed;          /* total, over all calls */
    struct chunk_sink sink;
};

/* Feed raw in pieces: cuts[] are the ends of the pieces but the last. */
static struct chunk_outcome chunk_feed(const struct chunk_case *cc, const size_t *cuts, size_t ncuts)
{
    struct chunk_outcome o;
    struct http_chunked c;
    size_t start = 0;

    memset(&o, 0, sizeof(o));
    http_chunked_init(&c, cc->max_body);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : cc->len, used = 99999;
        char *piece = malloc(end - start + 1);

        ck_assert_ptr_nonnull(piece);
        memcpy(piece, cc->raw + start, end - start);
        o.rc = http_chunked_decode(&c, piece, end - start, &used, chunk_collect, &o.sink);
        free(piece);
        ck_assert_uint_le(used, end - start);
        o.consumed += used;
        if (o.rc != HTTP_CHUNKED_MORE)
            break;
        ck_assert_msg(used == end - start, "%s: MORE but consumed %zu of %zu", cc->name, used,
                      end - start);
        start = end;
    }
    return o;
}

static void chunk_check(const struct chunk_case *cc, const struct chunk_outcome *o, const char *how)
{
    ck_assert_msg(o->rc == cc->result, "%s (%s): rc %d, want %d", cc->name, how, o->rc, cc->result);
    if (o->rc == HTTP_CHUNKED_DONE)
        ck_assert_msg(o->consumed == cc->len - cc->tail, "%s (%s): consumed %zu, want %zu", cc->name,
                      how, o->consumed, cc->len - cc->tail);
    if (o->rc == HTTP_CHUNKED_MORE)
        ck_assert_uint_eq(o->consumed, cc->len);
    ck_assert(!o->sink.overflow);
    ck_assert_msg(o->sink.len == cc->body_len && memcmp(o->sink.buf, cc->body, cc->body_len) == 0,
                  "%s (%s): body \"%.*s\"", cc->name, how, (int)o->sink.len, o->sink.buf);
}

START_TEST(test_chunked_case)
{
    const struct chunk_case *cc = &chunk_cases[_i];
    size_t cuts[256];
    struct chunk_outcome o = chunk_feed(cc, NULL, 0);

    chunk_check(cc, &o, "whole");

    ck_assert_uint_lt(cc->len, sizeof(cuts) / sizeof(cuts[0]));
    for (size_t i = 1; i < cc->len; i++)
        cuts[i - 1] = i;
    o = chunk_feed(cc, cuts, cc->len > 0 ? cc->len - 1 : 0);
    chunk_check(cc, &o, "byte by byte");

    for (size_t i = 0; i <= cc->len; i++) {
        char how[32];
        snprintf(how, sizeof(how), "split at %zu", i);
        o = chunk_feed(cc, &i, 1);
        chunk_check(cc, &o, how);
    }

    /* A final state is sticky and consumes nothing more. */
    struct http_chunked c;
    size_t used;
    http_chunked_init(&c, cc->max_body);
    int rc = http_chunked_decode(&c, cc->raw, cc->len, &used, NULL, NULL);
    ck_assert_int_eq(rc, cc->result);
    if (rc < 0)
        ck_assert_msg(http_chunked_why(&c) != NULL, "%s: refused without a reason", cc->name);
    else
        ck_assert_ptr_null(http_chunked_why(&c));
    if (rc != HTTP_CHUNKED_MORE) {
        ck_assert_int_eq(http_chunked_decode(&c, "0\r\n\r\n", 5, &used, NULL, NULL), rc);
        ck_assert_uint_eq(used, 0);
    }
}
END_TEST

START_TEST(test_chunked_zeroed_struct)
{
    struct http_chunked c;
    struct chunk_sink sink = { .len = 0 };
    size_t used;

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(http_chunked_decode(&c, "3\r\nabc\r\n0\r\n\r\n", 13, &used, chunk_collect, &sink),
                     HTTP_CHUNKED_DONE);
    ck_assert_uint_eq(used, 13);
    ck_assert_uint_eq(sink.len, 3);
}
END_TEST

/* Bounds on the parts that are read and thrown away. */
START_TEST(test_chunked_line_limits)
{
    enum { BIG_LEN = 10000 };
    char *buf = malloc(BIG_LEN);
    struct http_chunked c;
    size_t used;

    ck_assert_ptr_nonnull(buf);

    /* A chunk-size line of 4096 bytes is fine, 4097 is not. */
    for (size_t line = 4095; line <= 4097; line++) {
        memset(buf, '0', line);
        buf[line - 1] = '1';
        memcpy(buf + line, "\r\nx\r\n0\r\n\r\n", 10);
        http_chunked_init(&c, 0);
        int rc = http_chunked_decode(&c, buf, line + 10, &used, NULL, NULL);
        ck_assert_int_eq(rc, line <= 4096 ? HTTP_CHUNKED_DONE : HTTP_CHUNKED_ERROR);
    }

    /* A long extension is refused too. */
    memcpy(buf, "1;", 2);
    memset(buf + 2, 'e', BIG_LEN - 2);
    http_chunked_init(&c, 0);
    ck_assert_int_eq(http_chunked_decode(&c, buf, BIG_LEN, &used, NULL, NULL), HTTP_CHUNKED_ERROR);
    ck_assert_uint_eq(used, 4096);

    /* Trailers: "X:" value CRLF CRLF of 8192 bytes in all is fine, 8193 is not. */
    for (size_t trailer = 8191; trailer <= 8193; trailer++) {
        size_t value = trailer - 6;
        memcpy(buf, "0\r\nX:", 5);
        memset(buf + 5, 'v', value);
        memcpy(buf + 5 + value, "\r\n\r\n", 4);
        http_chunked_init(&c, 0);
        int rc = http_chunked_decode(&c, buf, 3 + trailer, &used, NULL, NULL);
        ck_assert_int_eq(rc, trailer <= 8192 ? HTTP_CHUNKED_DONE : HTTP_CHUNKED_ERROR);
    }
    free(buf);
}
END_TEST

/* A body split across many chunk sizes adds up and respects max_body. */
START_TEST(test_chunked_large_body)
{
    char chunk[64];
    struct http_chunked c;
    uint64_t total = 0;
    size_t used;

    http_chunked_init(&c, 3000);
    for (int i = 1; i < 100; i++) {
        int n = snprintf(chunk, sizeof(chunk), "%x\r\n", i);
        int rc = http_chunked_decode(&c, chunk, (size_t)n, &used, NULL, NULL);
        if (total + (uint64_t)i > 3000) {
            ck_assert_int_eq(rc, HTTP_CHUNKED_TOO_LARGE);
            return;
        }
        ck_assert_int_eq(rc, HTTP_CHUNKED_MORE);
        for (int j = 0; j < i; j++)
            ck_assert_int_eq(http_chunked_decode(&c, "d", 1, &used, NULL, NULL), HTTP_CHUNKED_MORE);
        ck_assert_int_eq(http_chunked_decode(&c, "\r\n", 2, &used, NULL, NULL), HTTP_CHUNKED_MORE);
        total += (uint64_t)i;
    }
    ck_abort_msg("limit never hit");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Path table                                                                */

struct path_case {
    const char *target;
    size_t len;
    int rc;
    const char *out;
    size_t cap;              /* 0: a big buffer */
    int slash, backslash;
};

#define P(s) .target = (s), .len = sizeof(s) - 1

static const struct path_case path_cases[] = {
    { P("/"), 0, "/" },
    { P("/a/b"), 0, "/a/b" },
    { P("/a/b/"), 0, "/a/b/" },
    { P("/a//b"), 0, "/a/b" },
    { P("//a///b//"), 0, "/a/b/" },
    { P("//"), 0, "/" },
    { P("/./"), 0, "/" },
    { P("/."), 0, "/" },
    { P("/a/./b"), 0, "/a/b" },
    { P("/a/../b"), 0, "/b" },
    { P("/a/b/.."), 0, "/a/" },
    { P("/a/b/."), 0, "/a/" "b/" },
    { P("/a/b/../../c"), 0, "/c" },
    { P("/a/b/../.."), 0, "/" },
    { P("/.."), -1 },
    { P("/../a"), -1 },
    { P("/a/../.."), -1 },
    { P("/a/b/../../../c"), -1 },
    { P("/%2e%2e/a"), -1 },
    { P("/.%2e/"), -1 },
    { P("/a/%2e%2e/b"), 0, "/b" },
    { P("/a/%2E/b"), 0, "/a/b" },
    { P("/a/%2e%2e"), 0, "/" },
    { P("/...") , 0, "/..." },
    { P("/.a/a./a..b"), 0, "/.a/a./a..b" },
    { P("/a%2fb"), 0, "/a/b", .slash = 1 },
    { P("/a%2F..%2Fb"), 0, "/b", .slash = 1 },
    { P("/a/%2e%2e%2f..%2f"), -1 },
    { P("/a%00b"), -1 },
    { P("/a\0b"), -1 },
    { P("/a%4"), -1 },
    { P("/a%"), -1 },
    { P("/a%zz"), -1 },
    { P("/a%4g"), -1 },
    { P("/a%g4"), -1 },
    { P("/a%20b"), 0, "/a b" },
    { P("/%41%62%7e"), 0, "/Ab~" },
    { P("/%3f%23"), 0, "/?#" },
    { P("/a?x=1"), 0, "/a" },
    { P("/a?x=/../.."), 0, "/a" },
    { P("/a?%zz"), 0, "/a" },
    { P("/?"), 0, "/" },
    { P("/a#frag"), 0, "/a" },
    { P("/a\\b"), 0, "/a\\b", .backslash = 1 },
    { P("/a%5cb"), 0, "/a\\b", .backslash = 1 },
    { P("/a%5C..%5Cb"), 0, "/a\\..\\b", .backslash = 1 },
    { P("/%C3%A9t%C3%A9"), 0, "/\xc3\xa9t\xc3\xa9" },
    { P("/\xc3\xa9/x"), 0, "/\xc3\xa9/x" },
    { P("http://example.com/a/b?x"), 0, "/a/b" },
    { P("HTTPS://example.com"), 0, "/" },
    { P("http://example.com?x"), 0, "/" },
    { P("http://example.com#f"), 0, "/" },
    { P("http://h/../a"), -1 },
    { P("http:///a"), -1 },
    { P("http:/a"), -1 },
    { P("ftp://h/a"), -1 },
    { P("*"), -1 },
    { P(""), -1 },
    { P("a/b"), -1 },
    { P("?x"), -1 },
    { P("/abc"), 0, "/abc", .cap = 5 },
    { P("/abc"), -2, .cap = 4 },
    { P("/"), 0, "/", .cap = 2 },
    { P("/"), -2, .cap = 1 },
    { P("/"), -2, .cap = 0 },
    { P("/a/../bcd"), 0, "/bcd", .cap = 10 },
    { P("/a/b/"), -2, .cap = 5 },
};

#define N_PATH_CASES (sizeof(path_cases) / sizeof(path_cases[0]))

START_TEST(test_path_case)
{
    const struct path_case *pc = &path_cases[_i];
    size_t cap = pc->cap != 0 || pc->rc == -2 ? pc->cap : pc->len + 1;
    char *target = malloc(pc->len + 1);
    char *out = malloc(cap > 0 ? cap : 1);
    size_t out_len = 12345;
    int slash = 7, backslash = 7;

    ck_assert_ptr_nonnull(target);
    ck_assert_ptr_nonnull(out);
    memcpy(target, pc->target, pc->len);   /* exact size: no NUL after */
    int rc = http_path_normalize(target, pc->len, out, cap, &out_len, &slash, &backslash);
    ck_assert_msg(rc == pc->rc, "\"%s\": rc %d, want %d", pc->target, rc, pc->rc);
    if (rc == 0) {
        ck_assert_msg(out_len == strlen(pc->out) && strcmp(out, pc->out) == 0,
                      "\"%s\": \"%s\", want \"%s\"", pc->target, out, pc->out);
        ck_assert_int_eq(slash, pc->slash);
        ck_assert_int_eq(backslash, pc->backslash);
    }
    /* The report pointers are optional. */
    ck_assert_int_eq(http_path_normalize(target, pc->len, out, cap, &out_len, NULL, NULL), pc->rc);
    free(out);
    free(target);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *http_parse_suite(void)
{
    Suite *s = suite_create("http_parse");
    TCase *tc;

    tc = tcase_create("parse");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_parse_case, 0, (int)N_PARSE_CASES);
    tcase_add_test(tc, test_byte_classes);
    tcase_add_test(tc, test_every_version);
    tcase_add_test(tc, test_req_untouched_unless_complete);
    tcase_add_test(tc, test_capacity_below_max_headers);
    tcase_add_test(tc, test_header_size_boundary);
    tcase_add_test(tc, test_streamed_target_414);
    tcase_add_test(tc, test_trickled_head);
    tcase_add_test(tc, test_refusal_reasons);
    suite_add_tcase(s, tc);

    tc = tcase_create("request");
    tcase_add_test(tc, test_method_names);
    tcase_add_test(tc, test_name_is);
    tcase_add_test(tc, test_content_length_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("chunked");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_chunked_case, 0, (int)N_CHUNK_CASES);
    tcase_add_test(tc, test_chunked_zeroed_struct);
    tcase_add_test(tc, test_chunked_line_limits);
    tcase_add_test(tc, test_chunked_large_body);
    suite_add_tcase(s, tc);

    tc = tcase_create("path");
    tcase_add_loop_test(tc, test_path_case, 0, (int)N_PATH_CASES);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_parse_suite());

    /* TAP on stdout for automake's TAP driver; Check's own report only when
     * asked for with CK_VERBOSITY, so that it does not mix with the TAP. */
    srunner_set_tap(sr, "-");
    srunner_run_all(sr, getenv("CK_VERBOSITY") != NULL ? CK_ENV : CK_SILENT);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
