/* The master's OCSP fetches (src/master/ocsp.c), with a master in this
 * process (master_fixture.h) and a responder played by the test on a
 * socket of its own, answering when the test chooses: a new generation's
 * workers wait for the first staple and start as soon as it is in; a
 * responder that never answers holds them 3 s at most; a reload of the same
 * certificate starts at once with the staple already fetched; a staple is
 * fetched again half-way through its validity and the running workers'
 * record changes without a reload; a failed refresh keeps the staple until
 * it expires.
 *
 * The responses are made here with OpenSSL (validities of seconds, which
 * the openssl command cannot make), signed by a CA made by the openssl
 * command. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fixture.h"
#include "master/internal.h"
#include "master_fixture.h"
#include "tap.h"
#include "transport_tls.h"
#include "transport_tls_ocsp.h"

static char pki[64];

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
    snprintf(pki, sizeof pki, "/tmp/herd-check-mocsp-XXXXXX");
    if (mkdtemp(pki) == NULL)
        abort();
    sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       "-keyout ca.key -out ca.pem -days 2 -subj /CN=herd-ocsp-ca 2>/dev/null && "
       "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a.key "
       "-out a.csr -subj /CN=a 2>/dev/null && openssl x509 -req -in a.csr -CA ca.pem "
       "-CAkey ca.key -set_serial 0x1001 -days 2 -out a.leaf 2>/dev/null && "
       "cat a.leaf ca.pem > a.pem && chmod 0755 . && chmod 0644 *", pki);
}

static void *read_pem(const char *name, bool key)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", pki, name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    void *x = key ? (void *)PEM_read_PrivateKey(f, NULL, NULL, NULL)
                  : (void *)PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    return x;
}

/* A good response for a, valid `seconds` from now, as an HTTP reply. */
static char *reply_valid_for(int seconds, size_t *len)
{
    X509 *ca = read_pem("ca.pem", false), *leaf = read_pem("a.leaf", false);
    EVP_PKEY *key = read_pem("ca.key", true);
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, ca);
    ASN1_TIME *this = X509_gmtime_adj(NULL, 0), *next = X509_gmtime_adj(NULL, seconds);
    ck_assert(OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, 0, NULL, this, next));
    ck_assert(OCSP_basic_sign(bs, ca, key, EVP_sha256(), NULL, 0) == 1);
    OCSP_RESPONSE *r = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    unsigned char *der = NULL;
    int n = i2d_OCSP_RESPONSE(r, &der);
    ck_assert_int_gt(n, 0);
    char *out = malloc((size_t)n + 200);
    int h = snprintf(out, 200, "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                     "Content-Length: %d\r\n\r\n", n);
    memcpy(out + h, der, (size_t)n);
    *len = (size_t)(h + n);
    OPENSSL_free(der);
    OCSP_RESPONSE_free(r);
    OCSP_BASICRESP_free(bs);
    OCSP_CERTID_free(id);
    ASN1_TIME_free(this);
    ASN1_TIME_free(next);
    EVP_PKEY_free(key);
    X509_free(ca);
    X509_free(leaf);
    return out;
}

/* ------------------------------------------------------------------ */
/* The responder: the test's socket */

static int responder;

static int responder_open(void)
{
    responder = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    ck_assert(bind(responder, (struct sockaddr *)&a, sizeof a) == 0);
    ck_assert(listen(responder, 8) == 0);
    ck_assert(getsockname(responder, (struct sockaddr *)&a, &al) == 0);
    return ntohs(a.sin_port);
}

/* A fetch that has connected, its request read; -1 when none yet. */
static int take_request(void)
{
    int c = accept4(responder, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return -1;
    char req[4096];
    size_t got = 0;
    struct pollfd p = { c, POLLIN, 0 };
    while (got < sizeof req - 1 && poll(&p, 1, MF_PATIENCE_MS) == 1) {
        ssize_t n = read(c, req + got, sizeof req - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        char *end = strstr(req, "\r\n\r\n"), *cl = strcasestr(req, "content-length:");
        if (end && cl && got >= (size_t)(end + 4 - req) + (size_t)atoi(cl + 15))
            break;
    }
    ck_assert_msg(strstr(req, "POST /ocsp HTTP/1.") != NULL, "%s", req);
    return c;
}

static void answer(int c, const char *reply, size_t len)
{
    ck_assert_int_eq(write(c, reply, len), (ssize_t)len);
    close(c);
}

/* A configuration of one echo worker over TLS stapling from the test. */
static void write_conf(int port)
{
    char server[1024];
    snprintf(server, sizeof server, "tls = { certificate = \"%s/a.pem\"; key = \"%s/a.key\"; "
             "ocsp_stapling = true; ocsp_responder = \"http://127.0.0.1:%d/ocsp\"; };",
             pki, pki, port);
    mf_write_conf_with(&(struct mf_conf){ .workers = 1, .server = server });
}

static struct gen *begin(struct master *m)
{
    char err[1024];
    struct herd_config *cfg = config_load(mf.conf, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    struct gen *g = gen_new(m, cfg, err, sizeof err);
    ck_assert_msg(g != NULL, "%s", err);
    gen_start(m, g);
    return g;
}

static struct tls_ocsp *ocsp_of(const struct gen *g)
{
    return tls_ocsp_of(g->cfg->servers[0].tls);
}

static int64_t wall(void)
{
    return (int64_t)time(NULL);
}

/* ------------------------------------------------------------------ */

START_TEST(the_workers_wait_for_the_first_staple)
{
    write_conf(responder_open());
    struct master *m = mfm_new();
    struct gen *g = begin(m);
    int c;
    MFM_RUN_UNTIL(m, (c = take_request()) >= 0, "no fetch came");
    mfm_turn(m, 100);
    ck_assert_ptr_null(mfm_child(m, g, 0));
    ck_assert_int_eq(tls_ocsp_expires(ocsp_of(g)), 0);
    size_t len;
    char *reply = reply_valid_for(3600, &len);
    answer(c, reply, len);
    MFM_RUN_UNTIL(m, m->current == g, "the generation did not start");
    ck_assert_int_gt(tls_ocsp_expires(ocsp_of(g)), wall() + 3500);
    ck_assert(mfm_logged("response from http://127.0.0.1:"));
    ck_assert(mfm_logged("stapled until"));

    /* A reload of the same certificate: at once, with that staple, while
     * it fetches a fresh one. */
    int64_t stapled = tls_ocsp_expires(ocsp_of(g));
    struct gen *g2 = begin(m);
    ck_assert_ptr_nonnull(mfm_child(m, g2, 0));     /* forked without waiting */
    MFM_RUN_UNTIL(m, m->current == g2, "the reload did not start");
    ck_assert_int_eq(tls_ocsp_expires(ocsp_of(g2)), stapled);
    MFM_RUN_UNTIL(m, (c = take_request()) >= 0, "the reload fetched nothing");
    close(c);                   /* no answer: the staple stays */
    MFM_RUN_UNTIL(m, mfm_logged("its staple is served until it expires"),
                  "the failure was not logged");
    ck_assert_int_gt(tls_ocsp_expires(ocsp_of(g2)), wall() + 3500);
    free(reply);
    mfm_free(m);
    close(responder);
}
END_TEST

START_TEST(a_silent_responder_holds_the_workers_three_seconds)
{
    write_conf(responder_open());
    struct master *m = mfm_new();
    int64_t t0 = mf_now_ms();
    struct gen *g = begin(m);
    int c;
    MFM_RUN_UNTIL(m, (c = take_request()) >= 0, "no fetch came");
    MFM_RUN_UNTIL(m, mfm_child(m, g, 0) != NULL, "the workers did not start");
    int64_t waited = mf_now_ms() - t0;
    ck_assert_msg(waited >= 2900 && waited < 9000, "waited %lld ms", (long long)waited);
    ck_assert(mfm_logged("within 3000 ms: the workers start without its staple"));
    MFM_RUN_UNTIL(m, m->current == g, "the generation did not start");
    ck_assert_int_eq(tls_ocsp_expires(ocsp_of(g)), 0);
    close(c);
    MFM_RUN_UNTIL(m, mfm_logged("served without a staple"), "the failure was not logged");
    mfm_free(m);
    close(responder);
}
END_TEST

START_TEST(a_staple_is_refreshed_half_way_and_kept_when_a_refresh_fails)
{
    write_conf(responder_open());
    struct master *m = mfm_new();
    struct gen *g = begin(m);
    int c;
    size_t len;
    /* Valid 12 s: fetched again in 6 s. */
    char *reply = reply_valid_for(12, &len);
    MFM_RUN_UNTIL(m, (c = take_request()) >= 0, "no fetch came");
    answer(c, reply, len);
    free(reply);
    MFM_RUN_UNTIL(m, m->current == g, "the generation did not start");
    struct tls_ocsp *o = ocsp_of(g);
    int64_t first = tls_ocsp_expires(o);
    pid_t worker = mfm_child(m, g, 0)->pid;
    reply = reply_valid_for(14, &len);
    MFM_RUN_UNTIL(m, (c = take_request()) >= 0, "no refresh came");
    ck_assert_int_lt(wall(), first);
    answer(c, reply, len);
    free(reply);
    MFM_RUN_UNTIL(m, tls_ocsp_expires(o) > first, "the refresh was not taken");
    /* The same worker, no reload: its record is the one that changed. */
    ck_assert_int_eq(mfm_child(m, g, 0)->pid, worker);
    ck_assert_ptr_eq(m->current, g);
    int64_t second = tls_ocsp_expires(o);
    /* The next refresh fails: the staple stays until it expires. */
    MFM_RUN_UNTIL(m, (c = take_request()) >= 0, "no second refresh came");
    close(c);
    MFM_RUN_UNTIL(m, mfm_logged("its staple is served until it expires"),
                  "the failure was not logged");
    ck_assert_int_eq(tls_ocsp_expires(o), second);
    mfm_free(m);
    close(responder);
}
END_TEST

int main(void)
{
    mf_init();
    make_certificates();
    Suite *s = suite_create("master_ocsp");
    TCase *tc = mf_tcase(s, "fetch");
    tcase_add_test(tc, the_workers_wait_for_the_first_staple);
    tcase_add_test(tc, a_silent_responder_holds_the_workers_three_seconds);
    tcase_add_test(tc, a_staple_is_refreshed_half_way_and_kept_when_a_refresh_fails);
    int rc = run_suite_tap(s);
    sh("rm -rf %s", pki);
    return rc;
}
