/* libFuzzer harness for the upstream response-head parser, the framing
 * decision and the choice of the fields passed to the client.
 * FUZZ_SOURCES: src/http/parse.c src/http/parse_response.c src/http/request.c src/http/path.c src/http/proxy_head.c
 *
 * Besides memory errors (built with -fsanitize=fuzzer,address,undefined,
 * every parse reading an exactly sized copy) it traps when a property the
 * proxy relies on fails:
 *  - an answer is PARTIAL, an error with a reason, or a head length within
 *    the input and max_header_size, whose every pointer lies inside it;
 *  - fed in up to four growing pieces (the cut points come from the first
 *    bytes), each step resumed with the last_len of the previous PARTIAL
 *    gives what a parse from scratch of the same bytes gives, and a prefix
 *    that is decided is decided as the whole is;
 *  - the framing of a complete head obeys RFC 9112 §6.3 as herd reads it
 *    (a refusal has a reason and never keeps the connection, close framing
 *    never keeps it, no body for 1xx, 204, 304 and HEAD, ...);
 *  - the fields passed to the client are a subsequence of the head's with
 *    no framing or hop-by-hop field among them.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/fuzz_http_response.c \
 *       src/http/parse.c src/http/parse_response.c src/http/request.c src/http/path.c \
 *       src/http/proxy_head.c
 *   ./a.out tests/fuzz/corpus/http_response
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse_response.h"
#include "http/proxy_head.h"
#include "http/request.h"

#define CAPACITY 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(c) do { if (!(c)) __builtin_trap(); } while (0)

static const struct http_limits limits = {
    .max_target = 0, .max_header_size = 1024, .max_headers = 12,
};

/* One answer, with offsets instead of pointers (the copy goes). */
struct answer {
    int rc;
    const char *why;
    struct http_response resp;
    struct http_header fields[CAPACITY];
};

static uintptr_t offset_in(const char *p, const char *base, size_t len, size_t n)
{
    MUST(p >= base && (size_t)(p - base) + n <= len);
    return (uintptr_t)(p - base);
}

static void answer_of(const uint8_t *data, size_t len, size_t last_len, struct answer *a)
{
    char *copy = malloc(len ? len : 1);
    MUST(copy != NULL);
    memcpy(copy, data, len);
    memset(a, 0, sizeof *a);
    a->resp.headers = a->fields;
    a->resp.num_headers = CAPACITY;
    a->rc = http_parse_response(copy, len, last_len, &a->resp, &limits, &a->why);
    if (a->rc == HTTP_PARSE_ERROR) {
        MUST(a->why != NULL && a->why[0] != '\0');
    } else {
        a->why = NULL;
        MUST(a->rc == HTTP_PARSE_PARTIAL || a->rc > 0);
    }
    if (a->rc > 0) {
        size_t head = (size_t)a->rc;
        MUST(head <= len && head <= limits.max_header_size);
        MUST(a->resp.status >= 100 && a->resp.status <= 599);
        MUST(a->resp.minor_version == 0 || a->resp.minor_version == 1);
        MUST(a->resp.num_headers <= limits.max_headers);
        a->resp.reason = (const char *)offset_in(a->resp.reason, copy, head, a->resp.reason_len);
        for (size_t i = 0; i < a->resp.num_headers; i++) {
            struct http_header *h = &a->fields[i];
            MUST(h->name_len > 0);
            h->name = (const char *)offset_in(h->name, copy, head, h->name_len);
            h->value = (const char *)offset_in(h->value, copy, head, h->value_len);
        }
    }
    a->resp.headers = NULL;
    free(copy);
}

static bool answers_equal(const struct answer *a, const struct answer *b)
{
    if (a->rc != b->rc)
        return false;
    if (a->rc == HTTP_PARSE_ERROR)
        return strcmp(a->why, b->why) == 0;
    if (a->rc == HTTP_PARSE_PARTIAL)
        return true;
    const struct http_response *x = &a->resp, *y = &b->resp;
    if (x->status != y->status || x->minor_version != y->minor_version ||
        x->reason != y->reason || x->reason_len != y->reason_len ||
        x->num_headers != y->num_headers)
        return false;
    return memcmp(a->fields, b->fields, x->num_headers * sizeof a->fields[0]) == 0;
}

/* Up to four growing cuts, then the whole: resumed == from scratch. */
static void check_incremental(const uint8_t *data, size_t size, const struct answer *whole)
{
    size_t cuts[5], n = 0, last_partial = 0;
    for (size_t i = 0; i < 4 && i < size; i++) {
        size_t cut = (size_t)data[i] * (size + 1) / 256;
        if (n == 0 || cut > cuts[n - 1])
            cuts[n++] = cut;
    }
    cuts[n++] = size;
    for (size_t i = 0; i < n; i++) {
        struct answer scratch, resumed;
        answer_of(data, cuts[i], 0, &scratch);
        answer_of(data, cuts[i], last_partial, &resumed);
        MUST(answers_equal(&scratch, &resumed));
        if (scratch.rc != HTTP_PARSE_PARTIAL) {
            MUST(answers_equal(&scratch, whole));
            return;
        }
        last_partial = cuts[i];
    }
}

static void check_framing(const struct http_response *resp, bool head_request)
{
    struct http_resp_framing f;
    memset(&f, 0xa5, sizeof f);
    int rc = http_response_framing(resp, head_request, &f);
    MUST(rc == 0 || rc == -1);
    if (rc != 0) {
        MUST(f.why != NULL && !f.keep_alive);
        return;
    }
    MUST(f.why == NULL);
    MUST(f.body <= HTTP_RESP_BODY_CLOSE);
    MUST(!(f.has_length && f.chunked));
    MUST(f.has_length || f.content_length == 0);
    bool no_body = head_request || resp->status < 200 || resp->status == 204 ||
                   resp->status == 304;
    MUST(no_body == (f.body == HTTP_RESP_BODY_NONE));
    MUST(f.body != HTTP_RESP_BODY_LENGTH || f.has_length);
    MUST(f.body != HTTP_RESP_BODY_CHUNKED || (f.chunked && resp->minor_version == 1));
    MUST(f.body != HTTP_RESP_BODY_CLOSE || (!f.keep_alive && !f.has_length && !f.chunked));
    MUST(f.interim == (resp->status < 200 && resp->status != 101));
    MUST(f.upgrade == (resp->status == 101));
    if (resp->status < 200)
        MUST(!f.keep_alive && (!f.has_length || f.content_length == 0) && !f.chunked);
}

static bool never_passed(const struct http_header *h)
{
    static const char *const names[] = {
        "connection", "keep-alive", "te", "trailer", "transfer-encoding", "proxy-connection",
        "content-length", "server", "date",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (http_name_is(h, names[i]))
            return true;
    return false;
}

static void check_passed(const struct http_response *resp, bool tunnel)
{
    struct http_header out[CAPACITY];
    size_t n = http_proxy_response_fields(resp, tunnel, out);
    size_t j = 0;
    MUST(n <= resp->num_headers);
    for (size_t i = 0; i < n; i++) {
        MUST(!never_passed(&out[i]));
        MUST(tunnel || !http_name_is(&out[i], "upgrade"));
        while (j < resp->num_headers && memcmp(&resp->headers[j], &out[i], sizeof out[i]) != 0)
            j++;
        MUST(j < resp->num_headers);    /* in order, each one of the head's */
        j++;
    }
}

/* The complete head again, with real pointers, for the semantic checks. */
static void check_semantics(const uint8_t *data, const struct answer *whole, uint8_t knob)
{
    struct http_header fields[CAPACITY];
    struct http_response resp = whole->resp;
    const char *base = (const char *)data;
    resp.reason = base + (uintptr_t)whole->resp.reason;
    resp.headers = fields;
    for (size_t i = 0; i < resp.num_headers; i++) {
        fields[i] = whole->fields[i];
        fields[i].name = base + (uintptr_t)whole->fields[i].name;
        fields[i].value = base + (uintptr_t)whole->fields[i].value;
    }
    check_framing(&resp, knob & 1);
    check_framing(&resp, !(knob & 1));
    check_passed(&resp, knob & 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct answer whole;
    answer_of(data, size, 0, &whole);
    check_incremental(data, size, &whole);
    if (whole.rc > 0)
        check_semantics(data, &whole, size > 0 ? data[size - 1] : 0);
    return 0;
}
