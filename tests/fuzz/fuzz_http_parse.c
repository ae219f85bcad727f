/* libFuzzer harness for the request-head parser, the framing checks, path
 * normalisation and the chunked decoder.
 *
 * Besides memory errors (run it with -fsanitize=fuzzer,address,undefined) it
 * checks the properties the server relies on, and traps when one fails:
 *  - parsing the input whole, or a prefix first and then the whole with
 *    last_len = that prefix (the split point comes from the first byte),
 *    gives the same answer, status and fields;
 *  - a prefix answers PARTIAL or the whole's answer;
 *  - http_parse_why gives a reason exactly when the head is refused, and
 *    the framing check and the chunked decoder give one with every error;
 *  - the chunked decoder gives the same result, consumed count and data fed
 *    whole, split in two, or byte by byte.
 * The head's rest goes to the chunked decoder; an input without a head goes
 * to it (and to the path normaliser) whole, for coverage.
 *
 * Built and run by tests/fuzz/run, which links the files of this line:
 * FUZZ_SOURCES: src/http/parse.c src/http/request.c src/http/chunked.c src/http/path.c
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/fuzz_http_parse.c \
 *       src/http/parse.c src/http/request.c src/http/chunked.c src/http/path.c
 *   ./a.out tests/fuzz/corpus/http_parse
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/chunked.h"
#include "http/parse.h"
#include "http/path.h"
#include "http/request.h"

#define FUZZ_HEADERS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c) do { if (!(c)) __builtin_trap(); } while (0)

/* Small limits, so that 414 and 431 are easy to reach. */
static const struct http_limits fuzz_limits = {
    .max_target = 256, .max_header_size = 2048, .max_headers = 12,
};

struct fuzz_parse {
    int rc, status;
    struct http_request req;
    struct http_header headers[FUZZ_HEADERS];
};

/* Parse from an exactly sized copy, so reading past len is caught. */
static void fuzz_parse(const uint8_t *data, size_t len, size_t last_len, struct fuzz_parse *out)
{
    char *copy = malloc(len > 0 ? len : 1);

    FUZZ_ASSERT(copy != NULL);
    if (len > 0)
        memcpy(copy, data, len);
    memset(out, 0, sizeof(*out));
    out->req.headers = out->headers;
    out->req.num_headers = FUZZ_HEADERS;
    out->status = 0;
    out->rc = http_parse_request(copy, len, last_len, &out->req, &fuzz_limits, &out->status);
    if (out->rc > 0) {
        /* Turn pointers into offsets: the copy is about to go. */
        out->req.method = (const char *)(uintptr_t)(out->req.method - copy);
        out->req.target = (const char *)(uintptr_t)(out->req.target - copy);
        for (size_t i = 0; i < out->req.num_headers; i++) {
            out->headers[i].name = (const char *)(uintptr_t)(out->headers[i].name - copy);
            out->headers[i].value = (const char *)(uintptr_t)(out->headers[i].value - copy);
        }
    } else {
        out->req.num_headers = 0;
    }
    if (out->rc != HTTP_PARSE_ERROR)
        out->status = 0;
    free(copy);
}

static int fuzz_same(const struct fuzz_parse *a, const struct fuzz_parse *b)
{
    if (a->rc != b->rc || a->status != b->status)
        return 0;
    if (a->rc <= 0)
        return 1;
    if (a->req.method != b->req.method || a->req.method_len != b->req.method_len ||
        a->req.target != b->req.target || a->req.target_len != b->req.target_len ||
        a->req.minor_version != b->req.minor_version || a->req.num_headers != b->req.num_headers)
        return 0;
    for (size_t i = 0; i < a->req.num_headers; i++)
        if (a->headers[i].name != b->headers[i].name ||
            a->headers[i].name_len != b->headers[i].name_len ||
            a->headers[i].value != b->headers[i].value ||
            a->headers[i].value_len != b->headers[i].value_len)
            return 0;
    return 1;
}

static void fuzz_check_head(const struct fuzz_parse *p, size_t size)
{
    if (p->rc == HTTP_PARSE_ERROR)
        FUZZ_ASSERT(p->status == 400 || p->status == 414 || p->status == 431 || p->status == 505);
    else
        FUZZ_ASSERT(p->rc == HTTP_PARSE_PARTIAL || (p->rc > 0 && (size_t)p->rc <= size &&
                                                   (size_t)p->rc <= fuzz_limits.max_header_size));
    FUZZ_ASSERT(p->req.num_headers <= fuzz_limits.max_headers);
}

static size_t fuzz_split_point(const uint8_t *data, size_t size)
{
    return size == 0 ? 0 : (size_t)data[0] * (size + 1) / 256;
}

/* Whole vs. prefix-then-resume. Returns the whole's result. */
static void fuzz_parse_both(const uint8_t *data, size_t size, struct fuzz_parse *whole)
{
    struct fuzz_parse prefix, resumed;
    size_t split = fuzz_split_point(data, size);

    fuzz_parse(data, size, 0, whole);
    fuzz_check_head(whole, size);
    {
        char *copy = malloc(size > 0 ? size : 1);     /* exactly sized */
        FUZZ_ASSERT(copy != NULL);
        if (size > 0)
            memcpy(copy, data, size);
        const char *why = http_parse_why(copy, size, &fuzz_limits);
        FUZZ_ASSERT((why != NULL) == (whole->rc == HTTP_PARSE_ERROR));
        free(copy);
    }

    fuzz_parse(data, split, 0, &prefix);
    fuzz_check_head(&prefix, split);
    if (prefix.rc == HTTP_PARSE_PARTIAL) {
        fuzz_parse(data, size, split, &resumed);
        FUZZ_ASSERT(fuzz_same(&resumed, whole));
    } else {
        /* Decided on the prefix already: the whole must agree. */
        FUZZ_ASSERT(fuzz_same(&prefix, whole));
    }
}

static void fuzz_semantics(const uint8_t *data, const struct fuzz_parse *p)
{
    struct http_request req = p->req;
    struct http_header headers[FUZZ_HEADERS];
    struct http_framing f;
    const char *base = (const char *)data;

    /* Offsets back to pointers into data. */
    req.method = base + (uintptr_t)p->req.method;
    req.target = base + (uintptr_t)p->req.target;
    req.headers = headers;
    for (size_t i = 0; i < req.num_headers; i++) {
        headers[i] = p->headers[i];
        headers[i].name = base + (uintptr_t)p->headers[i].name;
        headers[i].value = base + (uintptr_t)p->headers[i].value;
    }
    int st = http_request_check(&req, &f);
    FUZZ_ASSERT(st == 0 || st == 400 || st == 501);
    FUZZ_ASSERT(st == 0 || f.why != NULL);
    if (st == 0)
        FUZZ_ASSERT(f.method != HTTP_METHOD_UNKNOWN && !(f.chunked && f.has_length));
}

static void fuzz_path(const char *raw, size_t len)
{
    char *target = malloc(len > 0 ? len : 1);   /* exactly sized */
    char *out = malloc(len + 1);
    size_t out_len = 0;
    int slash, backslash;

    FUZZ_ASSERT(target != NULL && out != NULL);
    if (len > 0)
        memcpy(target, raw, len);
    int rc = http_path_normalize(target, len, out, len + 1, &out_len, &slash, &backslash);
    FUZZ_ASSERT(rc == 0 || rc == -1);           /* len + 1 is always enough */
    if (rc == 0) {
        FUZZ_ASSERT(out_len <= len && out[0] == '/' && out[out_len] == '\0');
        FUZZ_ASSERT(memchr(out, '\0', out_len) == NULL);
        FUZZ_ASSERT(strstr(out, "//") == NULL && strstr(out, "/../") == NULL &&
                    strstr(out, "/./") == NULL);
        FUZZ_ASSERT(!(out_len >= 2 && memcmp(out + out_len - 2, "/.", 2) == 0) &&
                    !(out_len >= 3 && memcmp(out + out_len - 3, "/..", 3) == 0));
        /* A smaller buffer either still fits or says so. */
        size_t out_len2 = 0;
        int rc2 = http_path_normalize(target, len, out, out_len + 1, &out_len2, NULL, NULL);
        FUZZ_ASSERT(rc2 == 0 || rc2 == -2);
        if (out_len > 0)
            FUZZ_ASSERT(http_path_normalize(target, len, out, out_len, &out_len2, NULL, NULL) == -2);
    }
    free(out);
    free(target);
}

struct fuzz_body {
    uint64_t hash;
    uint64_t n;
};

static void fuzz_on_data(void *arg, const char *p, size_t n)
{
    struct fuzz_body *b = arg;

    FUZZ_ASSERT(n > 0);
    for (size_t i = 0; i < n; i++)
        b->hash = (b->hash ^ (unsigned char)p[i]) * UINT64_C(1099511628211);
    b->n += n;
}

struct fuzz_chunked {
    int rc;
    size_t consumed;
    struct fuzz_body body;
};

/* Feed in pieces of `step` bytes (0: all at once), or split at `split`. */
static void fuzz_chunked_feed(const uint8_t *in, size_t len, uint64_t max_body, size_t step,
                              size_t split, struct fuzz_chunked *out)
{
    struct http_chunked c;
    size_t pos = 0;

    memset(out, 0, sizeof(*out));
    out->body.hash = UINT64_C(14695981039346656037);
    http_chunked_init(&c, max_body);
    do {
        size_t n = step != 0 ? step : (pos < split ? split - pos : len - pos);
        if (n > len - pos)
            n = len - pos;
        char *piece = malloc(n > 0 ? n : 1);
        size_t used = (size_t)-1;
        FUZZ_ASSERT(piece != NULL);
        if (n > 0)
            memcpy(piece, in + pos, n);
        out->rc = http_chunked_decode(&c, piece, n, &used, fuzz_on_data, &out->body);
        free(piece);
        FUZZ_ASSERT((http_chunked_why(&c) != NULL) == (out->rc < 0));
        FUZZ_ASSERT(used <= n);
        out->consumed += used;
        if (out->rc != HTTP_CHUNKED_MORE)
            break;
        FUZZ_ASSERT(used == n);
        pos += n;
    } while (pos < len);
    FUZZ_ASSERT(out->body.n <= out->consumed);
    if (max_body != 0)
        FUZZ_ASSERT(out->body.n <= max_body);
}

static void fuzz_chunked(const uint8_t *in, size_t len, uint8_t knob)
{
    struct fuzz_chunked whole, split, bytes;
    uint64_t max_body = knob & 1 ? (uint64_t)knob * 4 : 0;

    fuzz_chunked_feed(in, len, max_body, 0, len, &whole);
    fuzz_chunked_feed(in, len, max_body, 0, (size_t)knob * (len + 1) / 256, &split);
    fuzz_chunked_feed(in, len, max_body, 1, 0, &bytes);
    FUZZ_ASSERT(whole.rc == split.rc && whole.rc == bytes.rc);
    FUZZ_ASSERT(whole.consumed == split.consumed && whole.consumed == bytes.consumed);
    FUZZ_ASSERT(whole.body.n == split.body.n && whole.body.n == bytes.body.n);
    FUZZ_ASSERT(whole.body.hash == split.body.hash && whole.body.hash == bytes.body.hash);
    if (whole.rc == HTTP_CHUNKED_MORE)
        FUZZ_ASSERT(whole.consumed == len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_parse whole;
    uint8_t knob = size > 0 ? data[size - 1] : 0;

    fuzz_parse_both(data, size, &whole);
    if (whole.rc > 0) {
        fuzz_semantics(data, &whole);
        fuzz_path((const char *)data + (uintptr_t)whole.req.target, whole.req.target_len);
        fuzz_chunked(data + whole.rc, size - (size_t)whole.rc, knob);
    } else {
        fuzz_path((const char *)data, size);
        fuzz_chunked(data, size, knob);
    }
    return 0;
}
