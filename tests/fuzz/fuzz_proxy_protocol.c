/* libFuzzer harness for the PROXY protocol header (src/proxy_protocol.c).
 *
 * FUZZ_SOURCES: src/proxy_protocol.c
 *
 * Besides memory errors (run it with -fsanitize=fuzzer,address,undefined;
 * every parse reads an exactly sized copy, so a read past the input is
 * caught) it checks what the connection layer relies on, and traps when one
 * fails:
 *  - a complete header has a length within the input (107 bytes at most
 *    for v1), an error has a reason, and a header that keeps the real peer
 *    carries no address while one that does not carries AF_INET or AF_INET6;
 *  - the answer does not depend on what follows: a complete header parsed
 *    alone gives the same result, and a prefix (its length from the first
 *    byte) is partial or the whole's answer, never an error where the whole
 *    is not;
 *  - parse(build(x)) == x, both versions, for the addresses and ports the
 *    input's first bytes spell (both families).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *       tests/fuzz/fuzz_proxy_protocol.c src/proxy_protocol.c
 *   ./a.out tests/fuzz/corpus/proxy_protocol
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c) do { if (!(c)) __builtin_trap(); } while (0)

struct fuzz_result {
    enum proxy_protocol_rc rc;
    struct proxy_protocol_header h;
    const char *why;
};

/* Parse from an exactly sized copy, so reading past len is caught. */
static void fuzz_parse(const uint8_t *data, size_t len, struct fuzz_result *out)
{
    uint8_t *copy = malloc(len > 0 ? len : 1);
    FUZZ_ASSERT(copy != NULL);
    if (len > 0)
        memcpy(copy, data, len);
    memset(out, 0, sizeof *out);
    out->rc = proxy_protocol_parse(copy, len, &out->h, &out->why);
    free(copy);
}

static bool same_header(const struct proxy_protocol_header *a,
                        const struct proxy_protocol_header *b)
{
    return a->len == b->len && a->version == b->version && a->keep_peer == b->keep_peer &&
           memcmp(&a->src, &b->src, sizeof a->src) == 0 &&
           memcmp(&a->dst, &b->dst, sizeof a->dst) == 0;
}

static void check_result(const struct fuzz_result *r, size_t size)
{
    switch (r->rc) {
    case PROXY_PROTOCOL_PARTIAL:
        FUZZ_ASSERT(r->why == NULL);
        break;
    case PROXY_PROTOCOL_ERROR:
        FUZZ_ASSERT(r->why != NULL && r->why[0] != '\0');
        break;
    case PROXY_PROTOCOL_COMPLETE:
        FUZZ_ASSERT(r->why == NULL);
        FUZZ_ASSERT(r->h.len > 0 && r->h.len <= size);
        FUZZ_ASSERT(r->h.version == 1 || r->h.version == 2);
        FUZZ_ASSERT(r->h.version == 2 || r->h.len <= PROXY_PROTOCOL_V1_MAX);
        FUZZ_ASSERT(r->h.version == 1 || r->h.len >= PROXY_PROTOCOL_V2_FIXED);
        if (r->h.keep_peer) {
            FUZZ_ASSERT(r->h.src.ss_family == 0 && r->h.dst.ss_family == 0);
        } else {
            FUZZ_ASSERT(r->h.src.ss_family == AF_INET || r->h.src.ss_family == AF_INET6);
            FUZZ_ASSERT(r->h.dst.ss_family == r->h.src.ss_family);
        }
        break;
    default:
        FUZZ_ASSERT(0);
    }
}

/* The answer for the whole input agrees with the header alone and with a
 * prefix of it. */
static void check_consistent(const uint8_t *data, size_t size, const struct fuzz_result *whole)
{
    struct fuzz_result r;
    if (whole->rc == PROXY_PROTOCOL_COMPLETE) {
        fuzz_parse(data, whole->h.len, &r);
        FUZZ_ASSERT(r.rc == PROXY_PROTOCOL_COMPLETE && same_header(&r.h, &whole->h));
        if (whole->h.len > 1) {
            fuzz_parse(data, whole->h.len - 1, &r);
            FUZZ_ASSERT(r.rc == PROXY_PROTOCOL_PARTIAL);
        }
    }
    if (size < 2)
        return;
    size_t cut = data[0] % size;
    fuzz_parse(data, cut, &r);
    check_result(&r, cut);
    if (r.rc == PROXY_PROTOCOL_ERROR)
        FUZZ_ASSERT(whole->rc == PROXY_PROTOCOL_ERROR);
    if (r.rc == PROXY_PROTOCOL_COMPLETE)
        FUZZ_ASSERT(whole->rc == PROXY_PROTOCOL_COMPLETE && same_header(&r.h, &whole->h));
}

/* Addresses from the input's first bytes: a family, two addresses, two
 * ports. */
static void make_addrs(const uint8_t *d, bool v6, struct sockaddr_storage *src,
                       struct sockaddr_storage *dst)
{
    memset(src, 0, sizeof *src);
    memset(dst, 0, sizeof *dst);
    if (v6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)src, *t = (struct sockaddr_in6 *)dst;
        s->sin6_family = t->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, d, 16);
        memcpy(&t->sin6_addr, d + 16, 16);
        memcpy(&s->sin6_port, d + 32, 2);
        memcpy(&t->sin6_port, d + 34, 2);
    } else {
        struct sockaddr_in *s = (struct sockaddr_in *)src, *t = (struct sockaddr_in *)dst;
        s->sin_family = t->sin_family = AF_INET;
        memcpy(&s->sin_addr, d, 4);
        memcpy(&t->sin_addr, d + 4, 4);
        memcpy(&s->sin_port, d + 8, 2);
        memcpy(&t->sin_port, d + 10, 2);
    }
}

static void check_round_trip(const uint8_t *data, size_t size)
{
    size_t need = 36;
    if (size < need + 1)
        return;
    struct sockaddr_storage src, dst;
    make_addrs(data + 1, data[0] & 1, &src, &dst);
    uint8_t b[PROXY_PROTOCOL_BUILD_MAX];
    size_t (*const build[2])(const struct sockaddr *, const struct sockaddr *, void *, size_t) = {
        proxy_protocol_build_v1, proxy_protocol_build_v2,
    };
    for (int v = 0; v < 2; v++) {
        size_t n = build[v]((const struct sockaddr *)&src, (const struct sockaddr *)&dst, b,
                            sizeof b);
        FUZZ_ASSERT(n > 0);
        struct fuzz_result r;
        fuzz_parse(b, n, &r);
        FUZZ_ASSERT(r.rc == PROXY_PROTOCOL_COMPLETE);
        FUZZ_ASSERT(r.h.len == n && r.h.version == v + 1 && !r.h.keep_peer);
        FUZZ_ASSERT(memcmp(&r.h.src, &src, sizeof src) == 0);
        FUZZ_ASSERT(memcmp(&r.h.dst, &dst, sizeof dst) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_result whole;
    fuzz_parse(data, size, &whole);
    check_result(&whole, size);
    check_consistent(data, size, &whole);
    check_round_trip(data, size);
    return 0;
}
