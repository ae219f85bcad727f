/* OCSP stapling (src/transport_tls_ocsp.c): the shared record (a staple
 * published is read back, not once it has expired, not when it is too
 * large, not while the master writes it), when to fetch again, the keys
 * checked at load (the responder from the certificate or ocsp_responder,
 * warnings at FILE:LINE when there is none or no issuer, ocsp_file refused
 * when it is not a response or is another certificate's), a response
 * checked (good, revoked, another certificate's, garbage, expired), the
 * staple in the handshake of an in-process client that asks for it, and
 * the fetch against a responder played by a child of the test.
 *
 * The certificates and responses are made by the openssl command in a
 * scratch directory: a CA, leaves a (AIA), r (AIA, revoked) and n (no
 * AIA), and responses for each from `openssl ocsp` without a server. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "fixture.h"
#include "log.h"
#include "proto.h"
#include "tap.h"
#include "transport_tls.h"
#include "transport_tls_ocsp.h"

static char dir[64];

static const char *at(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
    return out;
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

static void make_certificates(void)
{
    snprintf(dir, sizeof dir, "/tmp/herd-check-ocsp-XXXXXX");
    if (mkdtemp(dir) == NULL)
        abort();
    sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout ca.key -out ca.pem -days 2 -subj /CN=herd-ocsp-ca 2>/dev/null && "
       "printf 'V\\t301201000000Z\\t\\t1001\\tunknown\\t/CN=a\\n"
       "R\\t301201000000Z\\t260101000000Z\\t1002\\tunknown\\t/CN=r\\n"
       "V\\t301201000000Z\\t\\t1003\\tunknown\\t/CN=n\\n' > index.txt", dir);
    const char *leaf[][2] = { { "a", "1001" }, { "r", "1002" }, { "n", "1003" } };
    for (int i = 0; i < 3; i++) {
        const char *n = leaf[i][0];
        sh("cd %s && printf 'subjectAltName=DNS:%s.test\\n%s' > %s.ext && "
           "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key "
           "-out %s.csr -subj /CN=%s 2>/dev/null && openssl x509 -req -in %s.csr -CA ca.pem "
           "-CAkey ca.key -set_serial 0x%s -days 2 -extfile %s.ext -out %s.leaf 2>/dev/null && "
           "cat %s.leaf ca.pem > %s.pem && "
           "openssl ocsp -issuer ca.pem -cert %s.leaf -no_nonce -reqout %s.req && "
           "openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem "
           "-reqin %s.req -respout %s.der -ndays 1 >/dev/null 2>&1",
           dir, n, n[0] == 'n' ? "" : "authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/ocsp\\n",
           n, n, n, n, n, leaf[i][1], n, n, n, n, n, n, n, n);
    }
    sh("cd %s && printf 'garbage' > garbage.der", dir);
}

/* ------------------------------------------------------------------ */
/* Loading */

static struct herd_config *load(const char *tls, char *err, size_t cap)
{
    char text[4096], conf[256];
    snprintf(text, sizeof text,
             "pid_file = \"/tmp/x.pid\";\n"
             "servers = (\n"
             "  { listen = [ \"127.0.0.1:7443\" ]; protocol = \"echo\";\n"
             "    tls = { %s }; }\n"
             ");\n", tls);
    fixture_path(conf, sizeof conf, dir, "herd.conf");
    fixture_write(conf, text, strlen(text));
    return config_load(conf, err, cap);
}

/* Leaf `name`'s pair with `more` keys; its log in *log (free it). */
static struct herd_config *load_leaf(const char *name, const char *more, char **log, char *err,
                                     size_t cap)
{
    char tls[1500], c[200], k[200], pem[40], key[40];
    snprintf(pem, sizeof pem, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    snprintf(tls, sizeof tls, "certificate = \"%s\"; key = \"%s\"; %s", at(c, sizeof c, pem),
             at(k, sizeof k, key), more);
    int fd = fixture_log_begin();
    struct herd_config *cfg = load(tls, err, cap);
    char *text = fixture_log_text(fd);
    fixture_log_end();
    if (log)
        *log = text;
    else
        free(text);
    return cfg;
}

static struct tls_ocsp *ocsp_of(struct herd_config *cfg)
{
    return tls_ocsp_of(cfg->servers[0].tls);
}

static unsigned char *read_der(const char *name, size_t *len)
{
    char p[200];
    return (unsigned char *)fixture_read_file(at(p, sizeof p, name), len);
}

START_TEST(stapling_is_off_by_default)
{
    char err[512];
    struct herd_config *cfg = load_leaf("a", "", NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert(!cfg->servers[0].tls->ocsp_stapling);
    ck_assert_ptr_null(ocsp_of(cfg));
    config_free(cfg);
}
END_TEST

START_TEST(the_responder_is_the_certificates_or_the_configured_one)
{
    char err[512], *log;
    struct herd_config *cfg = load_leaf("a", "ocsp_stapling = true;", &log, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_ptr_nonnull(ocsp_of(cfg));
    ck_assert(tls_ocsp_fetches(ocsp_of(cfg)));
    ck_assert_str_eq(tls_ocsp_url(ocsp_of(cfg)), "http://127.0.0.1:9/ocsp");
    ck_assert_int_eq(tls_ocsp_expires(ocsp_of(cfg)), 0);
    ck_assert_msg(log[0] == '\0', "%s", log);
    free(log);
    config_free(cfg);
    cfg = load_leaf("n", "ocsp_stapling = true; ocsp_responder = \"http://127.0.0.1:8/x\";",
                    NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(tls_ocsp_url(ocsp_of(cfg)), "http://127.0.0.1:8/x");
    config_free(cfg);
}
END_TEST

START_TEST(no_responder_or_no_issuer_is_a_warning)
{
    char err[512], *log, c[200];
    struct herd_config *cfg = load_leaf("n", "\n      ocsp_stapling = true;", &log, err,
                                        sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_ptr_null(ocsp_of(cfg));
    ck_assert_msg(strstr(log, "herd.conf:5: ") && strstr(log, "names no OCSP responder"), "%s",
                  log);
    free(log);
    config_free(cfg);
    char tls[600];
    snprintf(tls, sizeof tls, "certificate = \"%s\"; key = \"%s/a.key\"; ocsp_stapling = true;",
             at(c, sizeof c, "a.leaf"), dir);
    int fd = fixture_log_begin();
    cfg = load(tls, err, sizeof err);
    log = fixture_log_text(fd);
    fixture_log_end();
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_ptr_null(ocsp_of(cfg));
    ck_assert_msg(strstr(log, "herd.conf:4: ") && strstr(log, "no issuer certificate"), "%s",
                  log);
    free(log);
    config_free(cfg);
}
END_TEST

START_TEST(bad_keys_are_refused_at_their_line)
{
    char f_garbage[200], f_other[200], f_rel[] = "n.der";
    at(f_garbage, sizeof f_garbage, "garbage.der");
    at(f_other, sizeof f_other, "a.der");
    struct {
        const char *file, *responder, *says;
    } cases[] = {
        { f_garbage, NULL, "is refused: it is not a DER OCSP response" },
        { f_other, NULL, "is refused: it is for another certificate" },
        { f_rel, NULL, "'ocsp_file' must be an absolute path" },
        { "/nonexistent/n.der", NULL, "No such file or directory" },
        { NULL, "https://127.0.0.1/", "is not an http:// URL" },
        { NULL, "ftp://127.0.0.1/", "is not an http:// URL" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char more[600], err[512];
        snprintf(more, sizeof more, "ocsp_stapling = true;\n      %s%s%s%s%s",
                 cases[i].file ? "ocsp_file = \"" : "", cases[i].file ? cases[i].file : "",
                 cases[i].responder ? "ocsp_responder = \"" : "",
                 cases[i].responder ? cases[i].responder : "", "\";");
        struct herd_config *cfg = load_leaf("n", more, NULL, err, sizeof err);
        ck_assert_msg(cfg == NULL, "case %zu loaded", i);
        ck_assert_msg(strstr(err, "herd.conf:5: ") && strstr(err, cases[i].says),
                      "case %zu: %s", i, err);
    }
}
END_TEST

START_TEST(ocsp_file_is_published_at_load)
{
    char err[512], more[300], f[200], *log;
    snprintf(more, sizeof more, "ocsp_stapling = true; ocsp_file = \"%s\";",
             at(f, sizeof f, "n.der"));
    struct herd_config *cfg = load_leaf("n", more, &log, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_msg(log[0] == '\0', "%s", log);
    free(log);
    struct tls_ocsp *o = ocsp_of(cfg);
    ck_assert(!tls_ocsp_fetches(o));
    int64_t now = (int64_t)time(NULL);
    ck_assert_int_gt(tls_ocsp_expires(o), now + 3600);
    ck_assert_int_le(tls_ocsp_expires(o), now + 86400 + 60);
    config_free(cfg);
    /* Without ocsp_stapling it does nothing, and says so. */
    snprintf(more, sizeof more, "ocsp_file = \"%s\";", f);
    cfg = load_leaf("n", more, &log, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_ptr_null(ocsp_of(cfg));
    ck_assert_msg(strstr(log, "herd.conf:4: ") && strstr(log, "has no effect"), "%s", log);
    free(log);
    config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Responses */

START_TEST(responses_are_checked_before_they_are_stapled)
{
    char err[512], why[400];
    struct herd_config *a = load_leaf("a", "ocsp_stapling = true;", NULL, err, sizeof err);
    struct herd_config *r = load_leaf("r", "ocsp_stapling = true;", NULL, err, sizeof err);
    ck_assert(a && r);
    size_t la, lr, ln, lg;
    unsigned char *da = read_der("a.der", &la), *dr = read_der("r.der", &lr);
    unsigned char *dn = read_der("n.der", &ln), *dg = read_der("garbage.der", &lg);
    int64_t now = (int64_t)time(NULL);
    int status = -1;
    struct tls_ocsp *oa = ocsp_of(a), *orv = ocsp_of(r);
    ck_assert_int_eq(tls_ocsp_take(oa, dn, ln, now, &status, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "another certificate"), "%s", why);
    ck_assert_int_eq(tls_ocsp_take(oa, dg, lg, now, &status, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "not a DER OCSP response"), "%s", why);
    ck_assert_int_eq(tls_ocsp_take(oa, da, la, now + 3 * 86400, &status, why, sizeof why), -1);
    ck_assert_msg(strstr(why, "expired"), "%s", why);
    ck_assert_int_eq(tls_ocsp_expires(oa), 0);
    ck_assert_int_eq(tls_ocsp_take(oa, da, la, now, &status, why, sizeof why), 0);
    ck_assert_int_eq(status, TLS_OCSP_GOOD);
    ck_assert_int_gt(tls_ocsp_expires(oa), now);
    ck_assert_int_eq(tls_ocsp_take(orv, dr, lr, now, &status, why, sizeof why), 0);
    ck_assert_int_eq(status, TLS_OCSP_REVOKED);
    /* A failed one leaves the staple there. */
    int64_t before = tls_ocsp_expires(oa);
    ck_assert_int_eq(tls_ocsp_take(oa, dg, lg, now, &status, why, sizeof why), -1);
    ck_assert_int_eq(tls_ocsp_expires(oa), before);
    /* Another generation of the same certificate adopts it. */
    struct herd_config *a2 = load_leaf("a", "ocsp_stapling = true;", NULL, err, sizeof err);
    ck_assert(tls_ocsp_same(ocsp_of(a2), oa));
    ck_assert(!tls_ocsp_same(orv, oa));
    ck_assert(!tls_ocsp_adopt(ocsp_of(a2), oa, before));
    ck_assert(tls_ocsp_adopt(ocsp_of(a2), oa, now));
    ck_assert_int_eq(tls_ocsp_expires(ocsp_of(a2)), before);
    free(da);
    free(dr);
    free(dn);
    free(dg);
    config_free(a);
    config_free(a2);
    config_free(r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The shared record and the plan */

START_TEST(the_record_gives_back_what_is_published_until_it_expires)
{
    struct tls_ocsp_shared *s = tls_ocsp_shared_map();
    ck_assert_ptr_nonnull(s);
    unsigned char out[TLS_OCSP_MAX];
    ck_assert_uint_eq(tls_ocsp_read(s, 100, out, sizeof out), 0);
    ck_assert_int_eq(tls_ocsp_publish(s, "abc", 3, 200, TLS_OCSP_GOOD), 0);
    ck_assert_uint_eq(tls_ocsp_read(s, 100, out, sizeof out), 3);
    ck_assert(memcmp(out, "abc", 3) == 0);
    ck_assert_uint_eq(tls_ocsp_read(s, 200, out, sizeof out), 0);
    ck_assert_uint_eq(tls_ocsp_read(s, 100, out, 2), 0);
    static unsigned char big[TLS_OCSP_MAX + 1];
    ck_assert_int_eq(tls_ocsp_publish(s, big, sizeof big, 300, TLS_OCSP_GOOD), -1);
    ck_assert_int_eq(errno, EMSGSIZE);
    ck_assert_uint_eq(tls_ocsp_read(s, 100, out, sizeof out), 3);
    /* While the master writes (an odd sequence), readers do not wait. */
    s->seq++;
    ck_assert_uint_eq(tls_ocsp_read(s, 100, out, sizeof out), 0);
    s->seq++;
    ck_assert_uint_eq(tls_ocsp_read(s, 100, out, sizeof out), 3);
    /* A child (a worker) sees what the parent publishes later. */
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 2000; i++) {
            if (tls_ocsp_read(s, 100, out, sizeof out) == 4 && memcmp(out, "wxyz", 4) == 0)
                _exit(0);
            usleep(5000);
        }
        _exit(1);
    }
    ck_assert_int_eq(tls_ocsp_publish(s, "wxyz", 4, 400, TLS_OCSP_REVOKED), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(tls_ocsp_publish(s, NULL, 0, 0, TLS_OCSP_GOOD), 0);
    ck_assert_uint_eq(tls_ocsp_read(s, 100, out, sizeof out), 0);
    tls_ocsp_shared_unmap(s);
}
END_TEST

START_TEST(refreshes_come_half_way_and_retries_back_off)
{
    /* A week-long response: in a day at most; a minute-long one: in 30 s. */
    ck_assert_int_eq(tls_ocsp_refresh_at(1000, 1000 + 7 * 86400), 1000 + 86400);
    ck_assert_int_eq(tls_ocsp_refresh_at(1000, 1060), 1030);
    ck_assert_int_eq(tls_ocsp_refresh_at(1000, 1002), 1005);
    /* With a staple left: a quarter of what is left, 5 s to 5 min. */
    ck_assert_int_eq(tls_ocsp_retry_at(1000, 1100, 1), 1025);
    ck_assert_int_eq(tls_ocsp_retry_at(1000, 1000 + 86400, 1), 1300);
    ck_assert_int_eq(tls_ocsp_retry_at(1000, 1004, 1), 1005);
    /* None: 5, 10, 20 ... s, then every 5 minutes. */
    ck_assert_int_eq(tls_ocsp_retry_at(1000, 0, 1), 1005);
    ck_assert_int_eq(tls_ocsp_retry_at(1000, 0, 2), 1010);
    ck_assert_int_eq(tls_ocsp_retry_at(1000, 900, 3), 1020);
    ck_assert_int_eq(tls_ocsp_retry_at(1000, 0, 7), 1300);
    ck_assert_int_eq(tls_ocsp_retry_at(1000, 0, 100), 1300);
}
END_TEST

/* ------------------------------------------------------------------ */
/* In a handshake */

/* A handshake over a BIO pair with a client that asks for the status
 * (or not): the staple it got (OPENSSL_free it), or NULL. */
static unsigned char *handshake(SSL_CTX *server, bool ask, long *len)
{
    SSL_CTX *cc = SSL_CTX_new(TLS_client_method());
    SSL *c = SSL_new(cc), *s = SSL_new(server);
    BIO *bc, *bs;
    ck_assert(BIO_new_bio_pair(&bc, 0, &bs, 0) == 1);
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    if (ask)
        SSL_set_tlsext_status_type(c, TLSEXT_STATUSTYPE_ocsp);
    int rc_c = 0, rc_s = 0;
    for (int i = 0; i < 20 && (rc_c != 1 || rc_s != 1); i++) {
        if (rc_c != 1)
            rc_c = SSL_do_handshake(c);
        if (rc_s != 1)
            rc_s = SSL_do_handshake(s);
    }
    ck_assert_msg(rc_c == 1 && rc_s == 1, "handshake failed");
    const unsigned char *p = NULL;
    *len = SSL_get_tlsext_status_ocsp_resp(c, &p);
    unsigned char *copy = NULL;
    if (*len > 0 && p) {
        copy = OPENSSL_malloc((size_t)*len);
        memcpy(copy, p, (size_t)*len);
    }
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cc);
    ERR_clear_error();
    return copy;
}

START_TEST(a_client_that_asks_gets_the_staple)
{
    char err[512], more[300], f[200];
    snprintf(more, sizeof more, "ocsp_stapling = true; ocsp_file = \"%s\";",
             at(f, sizeof f, "n.der"));
    struct herd_config *cfg = load_leaf("n", more, NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    size_t ln;
    unsigned char *dn = read_der("n.der", &ln);
    long len;
    unsigned char *got = handshake(cfg->servers[0].tls->ctx, true, &len);
    ck_assert_int_eq(len, (long)ln);
    ck_assert(memcmp(got, dn, ln) == 0);
    OPENSSL_free(got);
    ck_assert_ptr_null(handshake(cfg->servers[0].tls->ctx, false, &len));
    free(dn);
    config_free(cfg);
    /* Stapling on, no response yet: the handshake goes on without. */
    cfg = load_leaf("a", "ocsp_stapling = true;", NULL, err, sizeof err);
    ck_assert_ptr_null(handshake(cfg->servers[0].tls->ctx, true, &len));
    config_free(cfg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The fetch */

/* A responder for one request: reads it, answers `reply`. */
static pid_t one_shot_responder(int *port, const char *reply, size_t len)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    ck_assert(bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 4) == 0);
    ck_assert(getsockname(l, (struct sockaddr *)&a, &al) == 0);
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        int c = accept(l, NULL, NULL);
        char req[4096];
        size_t got = 0;
        ssize_t n;
        /* The head, then a body of Content-Length (small): enough to
         * have read the request before answering. */
        while (got < sizeof req - 1 && (n = read(c, req + got, sizeof req - 1 - got)) > 0) {
            got += (size_t)n;
            req[got] = '\0';
            char *end = strstr(req, "\r\n\r\n"), *cl = strcasestr(req, "content-length:");
            if (end && cl && got >= (size_t)(end + 4 - req) + (size_t)atoi(cl + 15))
                break;
        }
        ssize_t unused = write(c, reply, len);
        (void)unused;
        close(c);
        _exit(strstr(req, "POST /ocsp HTTP/1.") && strstr(req, "application/ocsp-request") &&
              strstr(req, "\r\nHost: 127.0.0.1") ? 0 : 1);
    }
    close(l);
    return pid;
}

static char *fetch_from(struct tls_ocsp *o, size_t *len)
{
    int fd = memfd_create("fetched", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    tls_ocsp_fetch(o, fd, 5);
    char *out = fixture_read_fd(fd, len);
    close(fd);
    return out;
}

START_TEST(the_fetch_posts_the_request_and_passes_the_answer_on)
{
    char err[512], more[300], reply[TLS_OCSP_MAX + 200];
    size_t la;
    unsigned char *da = read_der("a.der", &la);
    int n = snprintf(reply, sizeof reply, "HTTP/1.0 200 OK\r\nContent-Type: "
                     "application/ocsp-response\r\nContent-Length: %zu\r\n\r\n", la);
    memcpy(reply + n, da, la);
    int port, status;
    pid_t pid = one_shot_responder(&port, reply, (size_t)n + la);
    snprintf(more, sizeof more, "ocsp_stapling = true; ocsp_responder = "
             "\"http://127.0.0.1:%d/ocsp\";", port);
    struct herd_config *cfg = load_leaf("a", more, NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    size_t len;
    char *out = fetch_from(ocsp_of(cfg), &len);
    ck_assert_msg(len == la + 1, "%.*s", (int)len, out);
    ck_assert_int_eq(out[0], 'R');
    ck_assert(memcmp(out + 1, da, la) == 0);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "not a POST of an OCSP request with a Host header");
    free(out);
    /* An HTTP error and a refused connection: 'E' and why. */
    const char *no = "HTTP/1.0 500 Oops\r\nContent-Length: 0\r\n\r\n";
    pid = one_shot_responder(&port, no, strlen(no));
    config_free(cfg);
    snprintf(more, sizeof more, "ocsp_stapling = true; ocsp_responder = "
             "\"http://127.0.0.1:%d/ocsp\";", port);
    cfg = load_leaf("a", more, NULL, err, sizeof err);
    out = fetch_from(ocsp_of(cfg), &len);
    ck_assert_msg(len > 1 && out[0] == 'E', "%.*s", (int)len, out);
    waitpid(pid, &status, 0);
    free(out);
    out = fetch_from(ocsp_of(cfg), &len);      /* nobody listens there now */
    ck_assert_msg(len > 1 && out[0] == 'E', "%.*s", (int)len, out);
    free(out);
    free(da);
    config_free(cfg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("transport_tls_ocsp");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, stapling_is_off_by_default);
    tcase_add_test(tc, the_responder_is_the_certificates_or_the_configured_one);
    tcase_add_test(tc, no_responder_or_no_issuer_is_a_warning);
    tcase_add_test(tc, bad_keys_are_refused_at_their_line);
    tcase_add_test(tc, ocsp_file_is_published_at_load);
    suite_add_tcase(s, tc);
    tc = tcase_create("responses");
    tcase_add_test(tc, responses_are_checked_before_they_are_stapled);
    tcase_add_test(tc, the_record_gives_back_what_is_published_until_it_expires);
    tcase_add_test(tc, refreshes_come_half_way_and_retries_back_off);
    tcase_add_test(tc, a_client_that_asks_gets_the_staple);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    tc = tcase_create("fetch");
    tcase_add_test(tc, the_fetch_posts_the_request_and_passes_the_answer_on);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    config_use_protocols(&proto_registry);
    signal(SIGPIPE, SIG_IGN);
    make_certificates();
    int rc = run_suite_tap(suite());
    sh("rm -rf %s", dir);
    return rc;
}
