/* libFuzzer harness: the request parser behind the TLS transport.
 *
 * Each input is sent as application data by an OpenSSL client, over a
 * socket pair, to herd's transport_tls (src/transport_tls.c) on the other
 * end, after a real handshake: TLS 1.2 or 1.3, full or resumed, with or
 * without SNI (a name that picks the default server, another, or none),
 * records cut at a size the input chooses. The server side reads the way
 * the connection layer does (transport read into the room its input buffer
 * has, growing up to max_header_size) and parses the way the HTTP protocol
 * does (resuming with the length already scanned; each complete head
 * checked, consumed, and the next one parsed: pipelining), and answers each
 * request with a write of two pieces through the transport.
 *
 * Besides memory errors in the transport and the parser (built with
 * -fsanitize=fuzzer,address,undefined) it traps when
 *  - the handshake fails, picks another server than the SNI name asks, or
 *    does not resume a session of the same server;
 *  - the bytes the transport hands over are not the input, in order and
 *    complete, ending with the client's close_notify;
 *  - the parser's answers behind TLS (heads, statuses, offsets) differ from
 *    those for the same bytes read in one piece over plain TCP;
 *  - the client does not get back exactly what the server wrote.
 *
 * The server's two certificates (a.test and b.test, ECDSA P-256, made with
 * OpenSSL's API at the first input) and contexts are set up as
 * transport_tls_config.c sets up herd's; the transport, the parser and the
 * framing checks are herd's own code. The connection layer's clock and
 * timer are stubs (the handshake arms its deadline; nothing waits here).
 *
 * Built and run by tests/fuzz/run, which links the files and libraries of
 * these lines:
 * FUZZ_SOURCES: src/transport_tls.c src/log.c src/http/parse.c src/http/request.c src/http/path.c
 * FUZZ_LIBS: -lssl -lcrypto
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc tests/fuzz/fuzz_tls_http.c \
 *       src/transport_tls.c src/log.c src/http/parse.c src/http/request.c src/http/path.c \
 *       -lssl -lcrypto
 *   ./a.out tests/fuzz/corpus/tls_http
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conn.h"
#include "http/parse.h"
#include "http/request.h"
#include "log.h"
#include "transport_tls.h"
#include "transport_tls_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUST(c) do { if (!(c)) __builtin_trap(); } while (0)

#define FUZZ_HEADERS 16
#define MAX_HEADS 512           /* answers kept per input */

static const struct http_limits limits = {
    .max_target = 256, .max_header_size = 2048, .max_headers = 12,
};

/* ------------------------------------------------------------------ */
/* The connection layer's clock and timer, as the transport uses them */

int64_t loop_now(const struct loop *loop)
{
    (void)loop;
    return 0;
}

void conn_set_timer(struct conn *c, unsigned kind, int64_t ms)
{
    c->timer_kind = (uint8_t)kind;
    c->deadline = ms;
}

/* ------------------------------------------------------------------ */
/* The server's contexts and the client's, once */

static struct tls_listen *listener;
static SSL_CTX *client_ctx;

/* A self-signed ECDSA P-256 certificate for cn, in a server context set
 * up as build_ctx (transport_tls_config.c) does with the defaults. */
static SSL_CTX *server_ctx(const char *cn)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
    MUST(k && x && sc);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, k);
    MUST(X509_sign(x, k, EVP_sha256()) > 0);
    MUST(SSL_CTX_use_certificate(sc, x) == 1 && SSL_CTX_use_PrivateKey(sc, k) == 1);
    X509_free(x);
    EVP_PKEY_free(k);
    SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(sc, TLS1_3_VERSION);
    SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                        SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                     SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(sc, 1);
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    /* Here only: the sessions kept at the start resume for a day (herd's
     * contexts keep OpenSSL's default lifetime). */
    SSL_CTX_set_timeout(sc, 86400);
    SSL_CTX_set_session_id_context(sc, (const unsigned char *)cn, (unsigned)strlen(cn));
    MUST(SSL_CTX_set_cipher_list(sc, "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                     "ECDHE-ECDSA-CHACHA20-POLY1305") == 1);
    SSL_CTX_set_tlsext_servername_callback(sc, tls_on_servername);
    return sc;
}

/* Returns true the first time (when it set up). */
static bool setup_once(void)
{
    static struct tls_config a, b;
    static char *a_names[] = { "a.test" }, *b_names[] = { "b.test", "*.b.test" };
    static struct cfg_strings na = { a_names, 1 }, nb = { b_names, 2 };
    if (listener)
        return false;
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_WARN);    /* the transport's info lines: not here */
    a.ctx = server_ctx("a.test");
    b.ctx = server_ctx("b.test");
    a.handshake_timeout = b.handshake_timeout = 10000;
    const struct tls_config *cfgs[2] = { &a, &b };
    const struct cfg_strings *names[2] = { &na, &nb };
    listener = tls_listen_new(cfgs, names, 2);
    client_ctx = SSL_CTX_new(TLS_client_method());
    MUST(listener && client_ctx);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
    return true;
}

/* ------------------------------------------------------------------ */
/* The parser's answers, as the HTTP protocol would act on them */

struct head {
    int rc, status;
    size_t at;                      /* offset of the head in the stream */
    size_t method, method_len, target, target_len, n_headers;
    int minor, check;
};

struct parsing {
    char buf[2048];                 /* = limits.max_header_size */
    size_t cap, len, parsed_len;    /* the buffer's room grows as server.c's */
    size_t consumed;                /* stream offset of buf[0] */
    bool stopped;                   /* refused: the connection would close */
    struct head heads[MAX_HEADS];
    size_t n;
};

static void parsing_init(struct parsing *p, size_t cap)
{
    memset(p, 0, offsetof(struct parsing, heads));
    p->cap = cap;
    p->n = 0;
}

/* One complete head or refusal, recorded with offsets into the stream. */
static void record(struct parsing *p, int rc, int status, const struct http_request *req)
{
    struct head *h = &p->heads[p->n++];
    memset(h, 0, sizeof *h);
    h->rc = rc;
    h->status = status;
    h->at = p->consumed;
    if (rc <= 0)
        return;
    h->method = (size_t)(req->method - p->buf);
    h->method_len = req->method_len;
    h->target = (size_t)(req->target - p->buf);
    h->target_len = req->target_len;
    h->n_headers = req->num_headers;
    h->minor = req->minor_version;
    struct http_framing f;
    h->check = http_request_check(req, &f);
}

/* Parse what the buffer holds, as read_head in http/server.c: resume a
 * partial head, consume each complete one and go on. Returns the heads
 * answered now. */
static size_t parse_some(struct parsing *p)
{
    size_t before = p->n;
    while (!p->stopped && p->len > 0) {
        if (p->n == MAX_HEADS) {
            p->stopped = true;      /* enough: the rest is only read */
            break;
        }
        struct http_header headers[FUZZ_HEADERS];
        struct http_request req = { .headers = headers, .num_headers = limits.max_headers };
        int status = 0;
        int rc = http_parse_request(p->buf, p->len, p->parsed_len, &req, &limits, &status);
        if (rc == HTTP_PARSE_PARTIAL) {
            p->parsed_len = p->len;
            if (p->len == p->cap && p->cap < sizeof p->buf)
                p->cap = p->cap * 2 < sizeof p->buf ? p->cap * 2 : sizeof p->buf;
            break;
        }
        record(p, rc, status, &req);
        if (rc == HTTP_PARSE_ERROR) {
            p->stopped = true;
            break;
        }
        MUST(rc > 0 && (size_t)rc <= p->len);
        memmove(p->buf, p->buf + rc, p->len - (size_t)rc);
        p->len -= (size_t)rc;
        p->consumed += (size_t)rc;
        p->parsed_len = 0;
    }
    return p->n - before;
}

/* ------------------------------------------------------------------ */
/* The connection */

struct link {
    struct conn c;
    struct conn_owner owner;
    SSL *client;
    int sv[2];
    const uint8_t *input;           /* what the stream must be */
    size_t size, got;               /* bytes through the transport so far */
    bool eof;
    unsigned char expect[MAX_HEADS * 320];  /* what the server wrote */
    size_t expect_len, echoed;
};

static bool handshake(struct link *l)
{
    int server = 0, client = 0;
    for (int i = 0; i < 200 && (server != 1 || client != 1); i++) {
        if (server == 0 && (server = transport_tls.handshake(&l->c)) < 0)
            return false;
        if (client != 1) {
            int rc = SSL_do_handshake(l->client);
            int err = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(l->client, rc);
            if (rc == 1)
                client = 1;
            else if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
                return false;
        }
    }
    return server == 1 && client == 1;
}

/* What the client can read now, checked against what the server wrote. */
static void client_drain(struct link *l)
{
    unsigned char b[4096];
    size_t r;
    while (SSL_read_ex(l->client, b, sizeof b, &r) == 1) {
        MUST(l->echoed + r <= l->expect_len);
        MUST(memcmp(b, l->expect + l->echoed, r) == 0);
        l->echoed += r;
    }
    ERR_clear_error();
}

/* The server's answer to a head: two pieces through the transport. */
static void answer(struct link *l, const struct head *h)
{
    char line[64];
    int n = snprintf(line, sizeof line, "HTTP/1.1 %d x\r\n", h->rc > 0 ? 200 : h->status);
    const char *what = h->rc > 0 ? (const char *)l->input + h->at + h->target : "-";
    size_t what_len = h->rc > 0 ? h->target_len : 1;
    struct iovec iov[2] = { { line, (size_t)n }, { (void *)what, what_len } };
    size_t total = (size_t)n + what_len, sent = 0;
    MUST(l->expect_len + total <= sizeof l->expect);
    memcpy(l->expect + l->expect_len, line, (size_t)n);
    memcpy(l->expect + l->expect_len + n, what, what_len);
    l->expect_len += total;
    for (int tries = 0; sent < total && tries < 100; tries++) {
        /* After a partial write, the rest (as the connection layer does). */
        struct iovec rest[2];
        int k = 0;
        size_t skip = sent;
        for (int i = 0; i < 2; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            rest[k].iov_base = (char *)iov[i].iov_base + skip;
            rest[k++].iov_len = iov[i].iov_len - skip;
            skip = 0;
        }
        ssize_t w = transport_tls.writev(&l->c, rest, k, false);
        if (w < 0) {
            MUST(errno == EAGAIN);
            client_drain(l);
            continue;
        }
        sent += (size_t)w;
    }
    MUST(sent == total);
}

/* The socket is readable: read into the buffer's room until the transport
 * says EAGAIN or the end, checking the bytes, then parse and answer. */
static void server_readable(struct link *l, struct parsing *p)
{
    for (;;) {
        char sink[512];
        char *to = p->stopped ? sink : p->buf + p->len;
        size_t room = p->stopped ? sizeof sink : p->cap - p->len;
        if (room == 0)
            break;                  /* parse_some grows it or refuses */
        ssize_t n = transport_tls.read(&l->c, to, room);
        if (n == 0) {
            l->eof = true;
            break;
        }
        if (n < 0) {
            MUST(errno == EAGAIN);
            break;
        }
        MUST(l->got + (size_t)n <= l->size);
        MUST(memcmp(to, l->input + l->got, (size_t)n) == 0);
        l->got += (size_t)n;
        if (p->stopped)
            continue;
        p->len += (size_t)n;
        size_t before = p->n;
        parse_some(p);
        for (size_t i = before; i < p->n; i++)
            answer(l, &p->heads[i]);
    }
}

/* How one input is sent, from its last byte: bit 0 TLS 1.2 (else 1.3),
 * bits 1-2 the SNI name (none, a.test, x.b.test, B.TEST.: the last two
 * pick server 1), bits 3-5 the record size, bit 6 the server's first
 * buffer room, bit 7 a full handshake (else resumed with the session kept
 * for the same version and name, which costs no signature: most inputs
 * are resumed, for speed). */
#define KNOB_SESSION(k) ((k) & 7)
#define KNOB_FULL 0x80

static SSL_SESSION *sessions[8];

static bool link_open(struct link *l, const uint8_t *data, size_t size, uint8_t knob)
{
    static const char *const sni[] = { NULL, "a.test", "x.b.test", "B.TEST." };
    memset(&l->c, 0, sizeof l->c);
    l->owner.loop = NULL;
    l->input = data;
    l->size = size;
    l->got = l->expect_len = l->echoed = 0;
    l->eof = false;
    MUST(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, l->sv) == 0);
    l->c.io.fd = l->sv[0];
    l->c.tp = &transport_tls;
    l->c.owner = &l->owner;
    MUST(transport_tls.accept(&l->c, listener) == 0);
    l->client = SSL_new(client_ctx);
    MUST(l->client != NULL);
    SSL_set_fd(l->client, l->sv[1]);
    SSL_set_connect_state(l->client);
    int v = knob & 1 ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_set_min_proto_version(l->client, v);
    SSL_set_max_proto_version(l->client, v);
    const char *name = sni[(knob >> 1) & 3];
    if (name)
        SSL_set_tlsext_host_name(l->client, name);
    SSL_SESSION *kept = knob & KNOB_FULL ? NULL : sessions[KNOB_SESSION(knob)];
    if (kept)
        MUST(SSL_set_session(l->client, kept) == 1);
    if (!handshake(l))
        return false;
    /* A session of the same server resumes (the tickets' keys are the
     * context's, as in a worker). */
    MUST(!kept || SSL_session_reused(l->client));
    return tls_conn_server(&l->c) == ((knob >> 1 & 3) >= 2 ? 1u : 0u);
}

static void link_close(struct link *l)
{
    transport_tls.close(&l->c);
    SSL_free(l->client);
    close(l->sv[0]);
    close(l->sv[1]);
    ERR_clear_error();
}

/* The answers for the stream read in one piece, as over plain TCP with a
 * buffer of max_header_size (the reference). */
static void reference(const uint8_t *data, size_t size, struct parsing *p)
{
    parsing_init(p, sizeof p->buf);
    size_t at = 0;
    while (at < size && !p->stopped) {
        size_t n = size - at < p->cap - p->len ? size - at : p->cap - p->len;
        memcpy(p->buf + p->len, data + at, n);
        p->len += n;
        at += n;
        if (parse_some(p) == 0 && p->len == p->cap)
            break;          /* full and undecided: cannot happen (431) */
    }
}

static bool same_heads(const struct parsing *a, const struct parsing *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (memcmp(&a->heads[i], &b->heads[i], sizeof a->heads[i]) != 0)
            return false;
    return true;
}

/* One input through the link and the reference; traps on a difference. */
static void run(const uint8_t *data, size_t size, uint8_t knob)
{
    static struct link l;
    static struct parsing tls, plain;
    static const size_t records[] = { 1, 3, 17, 100, 512, 1500, 4096, 16384 };
    size_t record_size = records[(knob >> 3) & 7];
    parsing_init(&tls, knob & 0x40 ? 64 : 1024);
    MUST(link_open(&l, data, size, knob));
    /* The client sends the input a record at a time; the server reads
     * after each record, or (odd sizes) lets them gather. */
    size_t sent = 0;
    while (sent < size) {
        size_t n = size - sent < record_size ? size - sent : record_size, w;
        while (SSL_write_ex(l.client, data + sent, n, &w) != 1) {
            MUST(SSL_get_error(l.client, 0) == SSL_ERROR_WANT_WRITE);
            server_readable(&l, &tls);
        }
        sent += w;
        if ((record_size & 1) == 0 || sent == size)
            server_readable(&l, &tls);
        client_drain(&l);
    }
    SSL_shutdown(l.client);
    for (int i = 0; i < 1000 && !l.eof; i++) {
        server_readable(&l, &tls);
        if (!l.eof && tls.len == tls.cap && !tls.stopped)
            break;          /* cannot happen: a full buffer is decided */
    }
    client_drain(&l);
    MUST(l.eof && l.got == size);
    MUST(l.echoed == l.expect_len);
    reference(data, size, &plain);
    MUST(same_heads(&tls, &plain));
    /* The first connection of each version and name keeps its session
     * (TLS 1.3's ticket came after the handshake: read by the drain). */
    if (sessions[KNOB_SESSION(knob)] == NULL)
        MUST((sessions[KNOB_SESSION(knob)] = SSL_get1_session(l.client)) != NULL);
    link_close(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t knob = size > 0 ? data[size - 1] : 0;
    if (setup_once()) {
        /* A session for every version and name first, whatever the
         * first input is, so that an input runs the same way alone. */
        for (uint8_t k = 0; k < 8; k++)
            run(NULL, 0, (uint8_t)(k | KNOB_FULL));
    }
    run(data, size, knob);
    return 0;
}
