/* The TLS transport (src/transport_tls.c) over a socket pair, with an
 * in-process OpenSSL client on the other end: the `tls` group checked at
 * load (a bad key, a missing file, a bad PEM, TLS 1.1 refused, an expired
 * certificate warned), the handshake step by step, SNI's choice, ALPN,
 * read / writev / sendfile byte-identical through TLS (larger than the
 * socket holds, so EAGAIN and its retry are exercised), shutdown with
 * close_notify, a connection through the connection layer, garbage
 * instead of a ClientHello refused without leaking the connection, the
 * `curves` chosen from (and a bad one refused), an RSA and an ECDSA pair on
 * one server each served to the client that needs it (and bad pairings
 * refused at their line), and `ktls` setting OpenSSL's option. What reading
 * and writing cost in system calls (counted by the kernel, /proc/self/io):
 * a record in one read, no read only to hear EAGAIN, a file read 64 KiB at
 * a time; and an entry left in OpenSSL's error queue is not mistaken for
 * the connection's error.
 *
 * The certificates are made by the openssl command in a scratch directory:
 * a CA (ECDSA P-256), a.test (RSA-2048) and b.test (ECDSA P-256). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>

#include "config.h"
#include "config_engine.h"
#include "conn.h"
#include "conn_fixture.h"
#include "fixture.h"
#include "proto.h"
#include "tap.h"
#include "transport.h"
#include "transport_tls.h"

static char dir[64];
static char path_buf[8][256];

/* dir/name in one of a few buffers (plain calls: the suite's set-up runs
 * outside any test, where ck_assert may not be called). */
static const char *at(int slot, const char *name)
{
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", dir, name);
    return path_buf[slot];
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        exit(1);
    }
}

/* An expired self-signed certificate (the openssl command of OpenSSL 3.0
 * cannot date one in the past). */
static void make_expired(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    if (k == NULL || x == NULL)
        abort();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_time_adj_ex(X509_getm_notBefore(x), -10, 0, NULL);
    X509_time_adj_ex(X509_getm_notAfter(x), -9, 0, NULL);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"old.test", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, k);
    if (X509_sign(x, k, EVP_sha256()) <= 0)
        abort();
    FILE *f = fopen(at(7, "old.pem"), "w");
    if (f == NULL || !PEM_write_X509(f, x))
        abort();
    fclose(f);
    f = fopen(at(7, "old.key"), "w");
    if (f == NULL || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
        abort();
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* The CA and the two leaves, once for the whole suite. */
static void make_certificates(void)
{
    snprintf(dir, sizeof dir, "/tmp/herd-check-tls-XXXXXX");
    if (mkdtemp(dir) == NULL)
        abort();
    sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout ca.key -out ca.pem -days 2 -subj /CN=herd-test-ca 2>/dev/null", dir);
    const char *leaf[][2] = { { "a", "rsa:2048" }, { "b", "ec -pkeyopt ec_paramgen_curve:P-256" } };
    for (int i = 0; i < 2; i++) {
        sh("cd %s && openssl req -newkey %s -nodes -keyout %s.key -out %s.csr "
           "-subj /CN=%s.test 2>/dev/null && printf 'subjectAltName=DNS:%s.test\\n' > %s.ext && "
           "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
           "-days 2 -extfile %s.ext -out %s.pem 2>/dev/null",
           dir, leaf[i][1], leaf[i][0], leaf[i][0], leaf[i][0], leaf[i][0], leaf[i][0],
           leaf[i][0], leaf[i][0], leaf[i][0]);
    }
    make_expired();
    sh("cd %s && printf 'not a certificate\\n' > bad.pem", dir);
}

/* ------------------------------------------------------------------ */
/* Loading */

static struct herd_config *load(const char *tls, const char *tls2, char *err, size_t cap)
{
    char text[4096], conf[256];
    snprintf(text, sizeof text,
             "pid_file = \"/tmp/x.pid\";\n"
             "servers = (\n"
             "  { listen = [ \"127.0.0.1:7443\" ]; protocol = \"echo\";\n"
             "    tls = { %s }; }%s%s%s\n"
             ");\n", tls, tls2 ? ",\n  { listen = [ \"127.0.0.1:7444\" ]; protocol = \"echo\";\n"
             "    tls = { " : "", tls2 ? tls2 : "", tls2 ? " }; }" : "");
    fixture_path(conf, sizeof conf, dir, "herd.conf");
    fixture_write(conf, text, strlen(text));
    return config_load(conf, err, cap);
}

static char pair_a[600], pair_b[600];

static void make_pairs(void)
{
    snprintf(pair_a, sizeof pair_a, "certificate = \"%s\"; key = \"%s\";", at(0, "a.pem"),
             at(1, "a.key"));
    snprintf(pair_b, sizeof pair_b, "certificate = \"%s\"; key = \"%s\";", at(2, "b.pem"),
             at(3, "b.key"));
}

START_TEST(a_good_pair_loads_with_defaults)
{
    char err[512];
    struct herd_config *cfg = load(pair_a, NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    struct tls_config *tc = cfg->servers[0].tls;
    ck_assert_ptr_nonnull(tc);
    ck_assert_ptr_nonnull(tc->ctx);
    ck_assert_uint_eq(tc->protocols.n, 2);
    ck_assert_str_eq(tc->protocols.v[0], "TLSv1.2");
    ck_assert_str_eq(tc->protocols.v[1], "TLSv1.3");
    ck_assert(tc->session_tickets);
    ck_assert_int_eq(tc->handshake_timeout, 10000);
    config_free(cfg);
}
END_TEST

/* Each refusal names the file, the line of the key, and why. */
START_TEST(bad_pairs_are_refused_at_their_line)
{
    char none[256];
    snprintf(none, sizeof none, "%s/none.pem", dir);
    struct {
        const char *cert, *sep, *key, *more, *says;
        int line;
    } cases[] = {
        { at(0, "a.pem"), "\n", at(3, "b.key"), "", "does not match", 5 },
        { none, " ", at(1, "a.key"), "", "No such file", 4 },
        { at(0, "a.pem"), " ", at(1, "a.key"), "protocols = [ \"TLSv1.1\", \"TLSv1.2\" ];",
          "TLSv1.1 is refused", 4 },
        { at(0, "a.pem"), " ", at(1, "a.key"), "ciphers = \"NOPE\";", "'ciphers'", 4 },
        { at(0, "a.pem"), " ", at(1, "a.key"), "stapling = true;", "unknown key", 4 },
        { at(0, "a.pem"), " ", NULL, "", "needs 'certificate' and 'key'", 4 },
        { at(4, "bad.pem"), "\n", at(1, "a.key"), "", "not a PEM certificate", 4 },
        { at(0, "a.pem"), "\n", "a.key", "", "'key' must be an absolute path", 5 },
        { "a.pem", "\n", at(1, "a.key"), "", "'certificate' must be an absolute path", 4 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char tls[1200], err[512], want[300];
        if (cases[i].key)
            snprintf(tls, sizeof tls, "certificate = \"%s\";%skey = \"%s\"; %s", cases[i].cert,
                     cases[i].sep, cases[i].key, cases[i].more);
        else
            snprintf(tls, sizeof tls, "certificate = \"%s\";", cases[i].cert);
        struct herd_config *cfg = load(tls, NULL, err, sizeof err);
        ck_assert_msg(cfg == NULL, "case %zu loaded", i);
        snprintf(want, sizeof want, "herd.conf:%d: ", cases[i].line);
        ck_assert_msg(strstr(err, want) && strstr(err, cases[i].says),
                      "case %zu: %s (want %s... %s)", i, err, want, cases[i].says);
    }
}
END_TEST

START_TEST(an_expired_certificate_is_a_warning)
{
    char tls[600], err[512];
    snprintf(tls, sizeof tls, "certificate = \"%s\"; key = \"%s\";", at(4, "old.pem"),
             at(5, "old.key"));
    int fd = fixture_log_begin();
    struct herd_config *cfg = load(tls, NULL, err, sizeof err);
    char *log = fixture_log_text(fd);
    fixture_log_end();
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_msg(strstr(log, "herd.conf:4: certificate") && strstr(log, "has expired"), "%s",
                  log);
    free(log);
    config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* A connection: the transport's calls on one end, a client on the other */

static struct herd_config *cfg;
static struct tls_listen *listen_ab;
static SSL_CTX *client_ctx;
static SSL *client;
static int sv[2];
static struct conn c;

static void noop_timer(struct timer *t)
{
    (void)t;
}

static void conn_setup(void)
{
    char err[512];
    fx_setup();
    signal(SIGPIPE, SIG_IGN);
    cfg = load(pair_a, pair_b, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    static const char *const b_names[] = { "b.test", "*.b.test" };
    static struct cfg_strings nb = { (char **)b_names, 2 };
    const struct tls_config *cfgs[2] = { cfg->servers[0].tls, cfg->servers[1].tls };
    const struct cfg_strings *names[2] = { NULL, &nb };
    listen_ab = tls_listen_new(cfgs, names, 2);
    ck_assert_ptr_nonnull(listen_ab);

    client_ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_int_eq(SSL_CTX_load_verify_locations(client_ctx, at(6, "ca.pem"), NULL), 1);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
    client = SSL_new(client_ctx);

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    memset(&c, 0, sizeof c);
    c.io.fd = sv[0];
    c.tp = &transport_tls;
    c.owner = &fx.owner;
    timer_init(&c.timer, noop_timer);
    SSL_set_fd(client, sv[1]);
    SSL_set_connect_state(client);
}

static void tls_fx_teardown(void)
{
    if (c.tp_state)
        transport_tls.close(&c);
    loop_timer_cancel(fx.loop, &c.timer);
    SSL_free(client);
    SSL_CTX_free(client_ctx);
    tls_listen_free(listen_ab);
    config_free(cfg);
    close(sv[0]);
    close(sv[1]);
    fx_teardown();
}

/* Both ends step until both are done (or one fails). */
static int handshake_both(void)
{
    ck_assert_int_eq(transport_tls.accept(&c, listen_ab), 0);
    int server = 0, cl = 0;
    for (int i = 0; i < 1000 && (server != 1 || cl != 1); i++) {
        if (server == 0 && (server = transport_tls.handshake(&c)) < 0)
            return -1;
        if (cl != 1) {
            int rc = SSL_do_handshake(client);
            if (rc == 1)
                cl = 1;
            else if (SSL_get_error(client, rc) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(client, rc) != SSL_ERROR_WANT_WRITE)
                return -2;
        }
    }
    return server == 1 && cl == 1 ? 0 : -3;
}

static void expect_peer_name(const char *cn)
{
    X509 *x = SSL_get0_peer_certificate(client);
    ck_assert_ptr_nonnull(x);
    char name[128];
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, name, sizeof name);
    ck_assert_str_eq(name, cn);
    ck_assert_int_eq(SSL_get_verify_result(client), X509_V_OK);
}

START_TEST(without_sni_the_default_servers_certificate)
{
    ck_assert_int_eq(handshake_both(), 0);
    expect_peer_name("a.test");
    ck_assert_uint_eq(tls_conn_server(&c), 0);
    ck_assert(transport_tls.secure);
    /* The handshake armed its deadline. */
    ck_assert_int_eq(c.timer_kind, CONN_TIMER_HANDSHAKE);
}
END_TEST

/* _i: 0 b.test, 1 x.b.test (the wildcard), 2 B.TEST. (any case, a trailing
 * dot), 3 an unknown name (the default). */
START_TEST(sni_picks_the_servers_certificate)
{
    const char *ask[] = { "b.test", "x.b.test", "B.TEST.", "nobody.test" };
    SSL_set_tlsext_host_name(client, ask[_i]);
    ck_assert_int_eq(handshake_both(), 0);
    expect_peer_name(_i == 3 ? "a.test" : "b.test");
    ck_assert_uint_eq(tls_conn_server(&c), _i == 3 ? 0 : 1);
}
END_TEST

/* _i: 0 SNI b.test, 1 no SNI. A client shown b.test's certificate may
 * not be answered for a.test (another certificate); without SNI, any. */
START_TEST(covers_only_servers_of_the_certificate_shown)
{
    if (_i == 0)
        SSL_set_tlsext_host_name(client, "b.test");
    ck_assert_int_eq(handshake_both(), 0);
    ck_assert(transport_tls.covers(&c, _i == 0 ? 1 : 0));
    ck_assert(transport_tls.covers(&c, 1));
    ck_assert(transport_tls.covers(&c, 0) == (_i == 1));
    ck_assert(transport_plain.covers == NULL);
}
END_TEST

START_TEST(alpn_offers_http_1_1)
{
    static const unsigned char offer[] = "\x02h2\x08http/1.1";
    SSL_set_alpn_protos(client, offer, sizeof offer - 1);
    ck_assert_int_eq(handshake_both(), 0);
    const unsigned char *got;
    unsigned len;
    SSL_get0_alpn_selected(client, &got, &len);
    ck_assert_uint_eq(len, 8);
    ck_assert(memcmp(got, "http/1.1", 8) == 0);
}
END_TEST

/* _i: 0 TLS 1.2, 1 TLS 1.3 accepted; 2 TLS 1.1 refused. */
START_TEST(versions)
{
    int v[] = { TLS1_2_VERSION, TLS1_3_VERSION, TLS1_1_VERSION };
    SSL_set_min_proto_version(client, v[_i]);
    SSL_set_max_proto_version(client, v[_i]);
    SSL_set_security_level(client, 0);
    int rc = handshake_both();
    if (_i == 2) {
        ck_assert_int_lt(rc, 0);
        return;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(SSL_version(client), v[_i]);
}
END_TEST

/* Everything the client can read now, appended at out + *len. */
static void client_drain(char *out, size_t *len, size_t cap)
{
    for (;;) {
        size_t r;
        if (SSL_read_ex(client, out + *len, cap - *len, &r) != 1)
            return;
        *len += r;
    }
}

static char *pattern(size_t n, unsigned seed)
{
    char *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 31 + seed) % 251);
    return p;
}

START_TEST(read_gathers_records_until_the_socket_is_empty)
{
    ck_assert_int_eq(handshake_both(), 0);
    char buf[4096];
    errno = 0;
    ck_assert_int_eq(transport_tls.read(&c, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* Three records: one read takes all of them. */
    size_t w;
    ck_assert_int_eq(SSL_write_ex(client, "one ", 4, &w), 1);
    ck_assert_int_eq(SSL_write_ex(client, "two ", 4, &w), 1);
    ck_assert_int_eq(SSL_write_ex(client, "three", 5, &w), 1);
    ck_assert_int_eq(transport_tls.read(&c, buf, sizeof buf), 13);
    ck_assert(memcmp(buf, "one two three", 13) == 0);
    /* A close_notify is the end. */
    SSL_shutdown(client);
    ck_assert_int_eq(transport_tls.read(&c, buf, sizeof buf), 0);
}
END_TEST

/* Push `total` bytes of p through write(c, ...) while the client reads,
 * as the connection layer does: after EAGAIN, the same bytes again. */
static void pump(ssize_t (*write_fn)(const char *p, size_t n, size_t done), const char *p,
                 size_t total)
{
    char *got = malloc(total + 1);
    size_t sent = 0, len = 0;
    int eagains = 0;
    while (sent < total || len < total) {
        /* Write until the socket is full, then let the client read. */
        while (sent < total) {
            ssize_t n = write_fn(p + sent, total - sent, sent);
            if (n <= 0) {
                ck_assert_int_eq(errno, EAGAIN);
                eagains++;
                break;
            }
            sent += (size_t)n;
        }
        client_drain(got, &len, total + 1);
    }
    ck_assert_uint_eq(len, total);
    ck_assert(memcmp(got, p, total) == 0);
    /* More than a socket pair holds: the retry after EAGAIN was exercised. */
    ck_assert_int_gt(eagains, 0);
    free(got);
}

static ssize_t via_write_one(const char *p, size_t n, size_t done)
{
    (void)done;
    struct iovec iov = { (void *)p, n };
    return transport_tls.writev(&c, &iov, 1, false);
}

static ssize_t via_writev_three(const char *p, size_t n, size_t done)
{
    (void)done;
    size_t a = n / 3 > 100 ? 100 : n / 3, b = n / 3 > 7 ? 7 : n / 3;
    struct iovec iov[3] = { { (void *)p, a }, { (void *)(p + a), b },
                            { (void *)(p + a + b), n - a - b } };
    return transport_tls.writev(&c, iov, 3, false);
}

static int file_fd;

static ssize_t via_sendfile(const char *p, size_t n, size_t done)
{
    (void)p;
    off_t off = (off_t)done;
    ssize_t r = transport_tls.sendfile(&c, file_fd, &off, n);
    if (r > 0)
        ck_assert_int_eq(off, (off_t)(done + (size_t)r));
    return r;
}

/* read(2)-like calls this process has made so far (the kernel's count,
 * syscr of /proc/self/io; pread(2) counts too). */
static long reads_made(void)
{
    char text[512];
    int fd = open("/proc/self/io", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    ck_assert_int_gt(n, 0);
    text[n] = '\0';
    const char *at_syscr = strstr(text, "syscr: ");
    ck_assert_ptr_nonnull(at_syscr);
    return strtol(at_syscr + 7, NULL, 10);
}

/* Those made since reads_made() said `before`, less its own. */
static long reads_since(long before)
{
    return reads_made() - before - 1;
}

/* As via_write_one, with an entry left in the error queue before each. */
static ssize_t via_write_one_stale(const char *p, size_t n, size_t done)
{
    ERR_raise(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR);
    return via_write_one(p, n, done);
}

/* OpenSSL reads ahead: a record in one read(2), not its header and then its
 * body; several pipelined ones in the same read; and no read after them
 * only to hear EAGAIN, since that one was short (the socket is empty). */
START_TEST(a_record_is_read_with_one_read)
{
    ck_assert_int_eq(handshake_both(), 0);
    char buf[4096];
    size_t w;
    ck_assert_int_eq(SSL_write_ex(client, "GET / HTTP/1.1\r\n\r\n", 18, &w), 1);
    long before = reads_made();
    ck_assert_int_eq(transport_tls.read(&c, buf, sizeof buf), 18);
    ck_assert_int_eq(reads_since(before), 1);
    ck_assert(memcmp(buf, "GET / HTTP/1.1\r\n\r\n", 18) == 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(SSL_write_ex(client, "abcd", 4, &w), 1);
    before = reads_made();
    ck_assert_int_eq(transport_tls.read(&c, buf, sizeof buf), 12);
    ck_assert_int_eq(reads_since(before), 1);
    /* Nothing more: a read, and EAGAIN. */
    errno = 0;
    ck_assert_int_eq(transport_tls.read(&c, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* More than the caller takes: the rest is OpenSSL's, and a full read
     * says so (the connection layer reads again without a new edge). */
    char *big = pattern(3000, 5);
    ck_assert_int_eq(SSL_write_ex(client, big, 3000, &w), 1);
    ck_assert_int_eq(transport_tls.read(&c, buf, 1000), 1000);
    before = reads_made();
    ck_assert_int_eq(transport_tls.read(&c, buf + 1000, 3000), 2000);
    ck_assert_int_eq(reads_since(before), 0);
    ck_assert(memcmp(buf, big, 3000) == 0);
    free(big);
}
END_TEST

/* A file is read four records at a time: one pread(2) for 64 KiB. */
START_TEST(a_file_is_read_a_chunk_at_a_time)
{
    ck_assert_int_eq(handshake_both(), 0);
    size_t total = 64u << 10;
    char *p = pattern(total, 9), path[256];
    fixture_path(path, sizeof path, dir, "chunk.bin");
    fixture_write(path, p, total);
    file_fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(file_fd, 0);
    off_t off = 0;
    long before = reads_made();
    ck_assert_int_eq(transport_tls.sendfile(&c, file_fd, &off, total), (ssize_t)total);
    ck_assert_int_eq(reads_since(before), 1);
    ck_assert_int_eq(off, (off_t)total);
    char *got = malloc(total + 1);
    size_t len = 0;
    for (int i = 0; i < 1000 && len < total; i++)
        client_drain(got, &len, total + 1);
    ck_assert_uint_eq(len, total);
    ck_assert(memcmp(got, p, total) == 0);
    free(got);
    free(p);
    close(file_fd);
}
END_TEST

/* An entry something else left in the thread's error queue does not turn
 * "wait for the socket" into a failure (the transport does not empty the
 * queue before every read and write, only after handling an error). */
START_TEST(a_stale_error_is_not_the_connections)
{
    ck_assert_int_eq(handshake_both(), 0);
    char buf[4096];
    ERR_raise(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR);
    errno = 0;
    ck_assert_int_eq(transport_tls.read(&c, buf, sizeof buf), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* Writes until the socket pair is full: EAGAIN, then the rest. */
    size_t total = 2u << 20;
    char *p = pattern(total, 3);
    ERR_raise(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR);
    pump(via_write_one_stale, p, total);
    free(p);
    size_t w;
    ck_assert_int_eq(SSL_write_ex(client, "ping", 4, &w), 1);
    ck_assert_int_eq(transport_tls.read(&c, buf, sizeof buf), 4);
    ck_assert(memcmp(buf, "ping", 4) == 0);
    ERR_clear_error();
}
END_TEST

/* _i: 0 one piece, 1 three pieces, 2 a file: 3 MiB byte-identical. */
START_TEST(output_is_byte_identical)
{
    ck_assert_int_eq(handshake_both(), 0);
    size_t total = 3u << 20;
    char *p = pattern(total, (unsigned)_i);
    if (_i == 2) {
        char path[256];
        fixture_path(path, sizeof path, dir, "file.bin");
        fixture_write(path, p, total);
        file_fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(file_fd, 0);
        pump(via_sendfile, p, total);
        close(file_fd);
    } else {
        pump(_i == 0 ? via_write_one : via_writev_three, p, total);
    }
    free(p);
}
END_TEST

START_TEST(shutdown_sends_close_notify_and_keeps_reading)
{
    ck_assert_int_eq(handshake_both(), 0);
    ck_assert_int_eq(transport_tls.shutdown(&c), 0);
    char b[16];
    size_t r;
    ck_assert_int_eq(SSL_read_ex(client, b, sizeof b, &r), 0);
    ck_assert_int_eq(SSL_get_error(client, 0), SSL_ERROR_ZERO_RETURN);
    /* The client may still send. */
    ck_assert_int_eq(SSL_write_ex(client, "late", 4, &r), 1);
    ck_assert_int_eq(transport_tls.read(&c, b, sizeof b), 4);
    ck_assert(memcmp(b, "late", 4) == 0);
}
END_TEST

/* A write after the peer went away fails with the socket's error, and so
 * does every later call (a file sent in pieces calls again): not EPROTO
 * from a session OpenSSL has shut, which the connection layer logs as a
 * warning. */
START_TEST(after_a_failed_write_the_same_error)
{
    ck_assert_int_eq(handshake_both(), 0);
    size_t total = 4u << 20;
    char *p = pattern(total, 7), path[256];
    fixture_path(path, sizeof path, dir, "gone.bin");
    fixture_write(path, p, total);
    free(p);
    file_fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(file_fd, 0);
    close(sv[1]);
    sv[1] = -1;
    off_t off = 0;
    ssize_t r = 0;
    errno = 0;
    for (int i = 0; i < 1000 && (size_t)off < total; i++)
        if ((r = transport_tls.sendfile(&c, file_fd, &off, total - (size_t)off)) < 0)
            break;
    ck_assert_int_eq(r, -1);
    ck_assert_msg(errno == EPIPE || errno == ECONNRESET, "errno %d (%s)", errno,
                  strerror(errno));
    int first = errno;
    struct iovec iov = { path, 8 };
    errno = 0;
    ck_assert_int_eq(transport_tls.writev(&c, &iov, 1, false), -1);
    ck_assert_int_eq(errno, first);
    close(file_fd);
}
END_TEST

/* A connection that was not accepted through the transport (outbound TLS
 * is a later step) fails its handshake instead of crashing. */
START_TEST(no_accept_no_handshake)
{
    errno = 0;
    ck_assert_int_eq(transport_tls.handshake(&c), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(garbage_instead_of_a_client_hello_fails)
{
    ck_assert_int_eq(transport_tls.accept(&c, listen_ab), 0);
    fx_send(sv[1], "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27);
    errno = 0;
    ck_assert_int_eq(transport_tls.handshake(&c), -1);
    ck_assert_int_eq(errno, EPROTO);
    /* OpenSSL's error queue is left empty for the next connection. */
    ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Through the connection layer */

static void served_setup(void)
{
    conn_setup();
    fx_probe.mode = FX_ECHO;
}

static struct conn served;

static void start_served(void)
{
    static const struct server_rt *const none[1] = { NULL };
    struct conn_listen l = { .ops = &fx_probe_ops, .tp = &transport_tls, .tp_conf = listen_ab,
                             .vhosts = none, .n_vhosts = 1 };
    served.prev = served.next = NULL;
    conn_start(&served, &fx.owner, sv[0], NULL, &l);
    sv[0] = -1;         /* the connection's now */
}

static bool client_done(void *arg)
{
    (void)arg;
    int rc = SSL_do_handshake(client);
    return rc == 1;
}

START_TEST(a_connection_opens_after_the_handshake_and_echoes)
{
    start_served();
    ck_assert_int_eq(fx_probe.n, 0);            /* no open before the handshake */
    ck_assert(fx_run_until(client_done, NULL, 10000));
    ck_assert(fx_run_until(fx_probe_heard, "o", 10000));
    ck_assert(conn_is_tls(&served));
    size_t w;
    ck_assert_int_eq(SSL_write_ex(client, "ping", 4, &w), 1);
    char got[16];
    size_t len = 0;
    for (int i = 0; i < 10000 && len < 4; i++) {
        fx_run_for(1);
        client_drain(got, &len, sizeof got);
    }
    ck_assert_uint_eq(len, 4);
    ck_assert(memcmp(got, "ping", 4) == 0);
    SSL_shutdown(client);
    int one = 1;
    ck_assert(fx_run_until(fx_closed_at_least, &one, 10000));
}
END_TEST

/* Garbage, or a client gone quiet: closed (the socket and the state freed,
 * the owner takes the slot back) without the protocol hearing of it. */
START_TEST(a_refused_or_stalled_handshake_is_closed_before_open)
{
    if (_i == 1) {
        /* A listener whose default server waits 100 ms. */
        char tls[800], err[512];
        snprintf(tls, sizeof tls, "%s handshake_timeout = \"100ms\";", pair_a);
        tls_listen_free(listen_ab);
        config_free(cfg);
        cfg = load(tls, NULL, err, sizeof err);
        ck_assert_msg(cfg != NULL, "%s", err);
        const struct tls_config *one_cfg = cfg->servers[0].tls;
        listen_ab = tls_listen_new(&one_cfg, NULL, 1);
    }
    int64_t began = loop_now(fx.loop);
    start_served();
    if (_i == 0)
        fx_send(sv[1], "\x16\x03\x01\x00\x05garbage", 12);
    int one = 1;
    ck_assert(fx_run_until(fx_closed_at_least, &one, 10000));
    ck_assert_int_eq(fx_probe.n, 0);
    ck_assert_int_eq(served.io.fd, -1);
    if (_i == 1)
        ck_assert_int_ge(loop_now(fx.loop) - began, 100);
    char b[4];
    ck_assert_int_eq(read(sv[1], b, sizeof b) >= 0 || errno == ECONNRESET, 1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Curves, two certificates, kTLS */

/* The listener of one server with a's certificate and `more` in its tls
 * group, in place of the fixture's. */
static void serve_one(const char *more)
{
    char tls[1600], err[512];
    snprintf(tls, sizeof tls, "%s %s", pair_a, more);
    tls_listen_free(listen_ab);
    config_free(cfg);
    cfg = load(tls, NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    const struct tls_config *one = cfg->servers[0].tls;
    listen_ab = tls_listen_new(&one, NULL, 1);
    ck_assert_ptr_nonnull(listen_ab);
}

/* _i: 0 the default list and a client preferring X25519; 1 curves = P-384
 * and a client offering X25519 first (the server asks for P-384); 2 the
 * same server and a client with X25519 alone (no group in common). */
START_TEST(curves_choose_the_key_exchange)
{
    serve_one(_i == 0 ? "" : "curves = \"P-384\";");
    ck_assert_int_eq(SSL_set1_groups_list(client, _i == 2 ? "X25519" : "X25519:P-256:P-384"), 1);
    int rc = handshake_both();
    if (_i == 2) {
        ck_assert_int_lt(rc, 0);
        return;
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(SSL_get_negotiated_group(client), _i == 0 ? NID_X25519 : NID_secp384r1);
}
END_TEST

START_TEST(curves_default_and_refused)
{
    char tls[1200], err[512];
    struct herd_config *one = load(pair_a, NULL, err, sizeof err);
    ck_assert_msg(one != NULL, "%s", err);
    ck_assert_str_eq(one->servers[0].tls->curves, "X25519:P-256:P-384");
    config_free(one);
    snprintf(tls, sizeof tls, "%s\ncurves = \"X25519:P-999\";", pair_a);
    ck_assert_ptr_null(load(tls, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, "herd.conf:5: ") && strstr(err, "'curves'"), "%s", err);
}
END_TEST

/* a.test's RSA pair and b.test's ECDSA pair on one server: each client
 * gets the one it can verify a signature of. _i: 0 TLS 1.3 with ECDSA
 * signatures only, 1 TLS 1.3 with RSA-PSS only, 2 TLS 1.2 with an ECDSA
 * cipher, 3 TLS 1.2 with an RSA cipher. */
START_TEST(rsa_and_ecdsa_on_one_server)
{
    char two[1400];
    snprintf(two, sizeof two, "certificate = [ \"%s\", \"%s\" ]; key = [ \"%s\", \"%s\" ];",
             at(0, "a.pem"), at(2, "b.pem"), at(1, "a.key"), at(3, "b.key"));
    /* serve_one puts pair_a first: replace it by the two pairs. */
    char err[512];
    tls_listen_free(listen_ab);
    config_free(cfg);
    cfg = load(two, NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_uint_eq(cfg->servers[0].tls->certificates.n, 2);
    ck_assert_str_eq(cfg->servers[0].tls->certificate, at(0, "a.pem"));
    const struct tls_config *one = cfg->servers[0].tls;
    listen_ab = tls_listen_new(&one, NULL, 1);
    int v = _i < 2 ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_set_min_proto_version(client, v);
    SSL_set_max_proto_version(client, v);
    static const char *const sigalgs[] = { "ECDSA+SHA256", "rsa_pss_rsae_sha256" };
    static const char *const ciphers[] = { "ECDHE-ECDSA-AES128-GCM-SHA256",
                                           "ECDHE-RSA-AES128-GCM-SHA256" };
    if (_i < 2)
        ck_assert_int_eq(SSL_set1_sigalgs_list(client, sigalgs[_i]), 1);
    else
        ck_assert_int_eq(SSL_set_cipher_list(client, ciphers[_i - 2]), 1);
    ck_assert_int_eq(handshake_both(), 0);
    expect_peer_name(_i % 2 == 0 ? "b.test" : "a.test");
}
END_TEST

/* Pairs are checked one by one, each error at the line of its file. */
START_TEST(bad_pairings_are_refused_at_their_line)
{
    struct {
        const char *c1, *c2, *k1, *k2, *says;
        int line;
    } cases[] = {
        { "a.pem", "b.pem", "b.key", "a.key", "does not match the certificate", 6 },
        { "a.pem", "b.pem", "a.key", "a.key", "does not match the certificate", 7 },
        { "a.pem", "a.pem", "a.key", "a.key", "one pair per key type", 5 },
        { "a.pem", "b.pem", "a.key", NULL, "they pair by position", 6 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char tls[1600], err[512], want[64], keys[600];
        if (cases[i].k2)
            snprintf(keys, sizeof keys, "[ \"%s/%s\",\n\"%s/%s\" ]", dir, cases[i].k1, dir,
                     cases[i].k2);
        else
            snprintf(keys, sizeof keys, "\"%s/%s\"", dir, cases[i].k1);
        snprintf(tls, sizeof tls, "certificate = [ \"%s/%s\",\n\"%s/%s\" ];\nkey = %s;", dir,
                 cases[i].c1, dir, cases[i].c2, keys);
        struct herd_config *bad = load(tls, NULL, err, sizeof err);
        ck_assert_msg(bad == NULL, "case %zu loaded", i);
        snprintf(want, sizeof want, "herd.conf:%d: ", cases[i].line);
        ck_assert_msg(strstr(err, want) && strstr(err, cases[i].says),
                      "case %zu: %s (want %s... %s)", i, err, want, cases[i].says);
    }
}
END_TEST

/* ktls (default off) asks OpenSSL for kernel TLS; a socket pair has none,
 * so output goes the user-space way (output_is_byte_identical). */
START_TEST(ktls_sets_the_option)
{
    SSL_CTX *off = cfg->servers[0].tls->ctx;
    ck_assert(!cfg->servers[0].tls->ktls);
    ck_assert((SSL_CTX_get_options(off) & SSL_OP_ENABLE_KTLS) == 0);
    serve_one("ktls = true;");
    SSL_CTX *on = cfg->servers[0].tls->ctx;
    ck_assert(cfg->servers[0].tls->ktls);
    ck_assert((SSL_CTX_get_options(on) & SSL_OP_ENABLE_KTLS) != 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("transport_tls");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, a_good_pair_loads_with_defaults);
    tcase_add_test(tc, bad_pairs_are_refused_at_their_line);
    tcase_add_test(tc, an_expired_certificate_is_a_warning);
    suite_add_tcase(s, tc);

    tc = tcase_create("transport");
    tcase_add_checked_fixture(tc, conn_setup, tls_fx_teardown);
    tcase_add_test(tc, without_sni_the_default_servers_certificate);
    tcase_add_loop_test(tc, sni_picks_the_servers_certificate, 0, 4);
    tcase_add_loop_test(tc, covers_only_servers_of_the_certificate_shown, 0, 2);
    tcase_add_test(tc, alpn_offers_http_1_1);
    tcase_add_loop_test(tc, versions, 0, 3);
    tcase_add_test(tc, read_gathers_records_until_the_socket_is_empty);
    tcase_add_test(tc, a_record_is_read_with_one_read);
    tcase_add_test(tc, a_stale_error_is_not_the_connections);
    tcase_add_test(tc, a_file_is_read_a_chunk_at_a_time);
    tcase_add_loop_test(tc, output_is_byte_identical, 0, 3);
    tcase_add_test(tc, shutdown_sends_close_notify_and_keeps_reading);
    tcase_add_test(tc, after_a_failed_write_the_same_error);
    tcase_add_test(tc, no_accept_no_handshake);
    tcase_add_test(tc, garbage_instead_of_a_client_hello_fails);
    suite_add_tcase(s, tc);

    tc = tcase_create("curves, pairs, ktls");
    tcase_add_checked_fixture(tc, conn_setup, tls_fx_teardown);
    tcase_add_loop_test(tc, curves_choose_the_key_exchange, 0, 3);
    tcase_add_test(tc, curves_default_and_refused);
    tcase_add_loop_test(tc, rsa_and_ecdsa_on_one_server, 0, 4);
    tcase_add_test(tc, bad_pairings_are_refused_at_their_line);
    tcase_add_test(tc, ktls_sets_the_option);
    suite_add_tcase(s, tc);

    tc = tcase_create("connection");
    tcase_add_checked_fixture(tc, served_setup, tls_fx_teardown);
    tcase_add_test(tc, a_connection_opens_after_the_handshake_and_echoes);
    tcase_add_loop_test(tc, a_refused_or_stalled_handshake_is_closed_before_open, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    config_use_protocols(&proto_registry);
    make_certificates();
    make_pairs();
    int rc = run_suite_tap(suite());
    sh("rm -rf %s", dir);
    return rc;
}
