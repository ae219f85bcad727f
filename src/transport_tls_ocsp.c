/* OCSP stapling (transport_tls_ocsp.h): the `ocsp_*` keys checked at
 * load, the record in shared memory the master writes and the workers
 * read, the check of a response, the fetch a child of the master runs
 * (master/ocsp.c drives it), and the workers' status callback.
 *
 * The record is read by a handshake of every worker, so reading never
 * waits: a sequence lock the single writer (the master) holds for a
 * memcpy, and a reader that finds it held a few times in a row goes on
 * without a staple for that one handshake.
 *
 * Tested by tests/unit/check_transport_tls_ocsp.c and
 * tests/integration/test_tls_ocsp.py. */
#include "transport_tls_ocsp.h"
#include "transport_tls.h"
#include "transport_tls_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/http.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config_engine.h"

#define READ_TRIES 4
/* Clocks differ: a response dated a little ahead of ours is fine. */
#define CLOCK_LEEWAY_S 300

struct tls_ocsp {
    struct tls_ocsp_shared *shared;
    X509 *leaf, *issuer;
    STACK_OF(X509) *chain;          /* the file's certificates after the leaf */
    X509_STORE *store;              /* the issuer, trusted: responses verify against it */
    OCSP_CERTID *id;
    char *url, *host, *port, *path;
    unsigned char *req;             /* the DER request the fetch posts */
    int req_len;
    char name[300];                 /* "certificate PATH", for log lines */
};

/* ------------------------------------------------------------------ */
/* The shared record */

struct tls_ocsp_shared *tls_ocsp_shared_map(void)
{
    size_t size = sizeof(struct tls_ocsp_shared);
    /* A memfd names the mapping in /proc/PID/maps ("herd-ocsp"). */
    int fd = memfd_create("herd-ocsp", MFD_CLOEXEC);
    if (fd >= 0 && ftruncate(fd, (off_t)size) < 0) {
        close(fd);
        fd = -1;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (p == MAP_FAILED) {
        errno = saved;
        return NULL;
    }
    return p;
}

void tls_ocsp_shared_unmap(struct tls_ocsp_shared *s)
{
    if (s)
        munmap(s, sizeof *s);
}

int tls_ocsp_publish(struct tls_ocsp_shared *s, const void *der, size_t len, int64_t expires,
                     int status)
{
    if (len > sizeof s->der) {
        errno = EMSGSIZE;
        return -1;
    }
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    if (len)
        memcpy(s->der, der, len);
    s->len = (uint32_t)len;
    s->expires = expires;
    s->status = status;
    __atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
    return 0;
}

size_t tls_ocsp_read(const struct tls_ocsp_shared *s, int64_t now, void *out, size_t cap)
{
    for (int i = 0; i < READ_TRIES; i++) {
        uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (seq & 1)
            continue;
        size_t len = s->len;
        int64_t expires = s->expires;
        if (len > cap || len > sizeof s->der)
            len = 0;
        if (len)
            memcpy(out, s->der, len);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != seq)
            continue;
        return expires > now ? len : 0;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* When to fetch */

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int64_t tls_ocsp_refresh_at(int64_t now, int64_t expires)
{
    return now + clamp((expires - now) / 2, 5, 86400);
}

int64_t tls_ocsp_retry_at(int64_t now, int64_t expires, unsigned failures)
{
    if (expires > now)
        return now + clamp((expires - now) / 4, 5, 300);
    unsigned shift = failures > 1 ? failures - 1 : 0;
    return now + (shift >= 6 ? 300 : clamp((int64_t)5 << shift, 5, 300));
}

/* ------------------------------------------------------------------ */
/* What the master asks */

struct tls_ocsp *tls_ocsp_of(const struct tls_config *tc)
{
    return tc ? tc->ocsp : NULL;
}

bool tls_ocsp_fetches(const struct tls_ocsp *o)
{
    return o->url != NULL;
}

const char *tls_ocsp_name(const struct tls_ocsp *o)
{
    return o->name;
}

const char *tls_ocsp_url(const struct tls_ocsp *o)
{
    return o->url ? o->url : "-";
}

bool tls_ocsp_same(const struct tls_ocsp *a, const struct tls_ocsp *b)
{
    return X509_cmp(a->leaf, b->leaf) == 0 && X509_cmp(a->issuer, b->issuer) == 0;
}

bool tls_ocsp_adopt(struct tls_ocsp *a, const struct tls_ocsp *b, int64_t now)
{
    /* The master is the records' only writer: b is read as it is. */
    const struct tls_ocsp_shared *s = b->shared;
    if (s->len == 0 || s->expires <= now)
        return false;
    return tls_ocsp_publish(a->shared, s->der, s->len, s->expires, s->status) == 0;
}

int64_t tls_ocsp_expires(const struct tls_ocsp *o)
{
    return o->shared->len ? o->shared->expires : 0;
}

/* ------------------------------------------------------------------ */
/* Checking a response */

enum verdict { V_OK, V_BAD, V_STALE, V_UNKNOWN };

static int64_t seconds_of(const ASN1_GENERALIZEDTIME *t)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* Its times against now: *expires is when it stops being stapled. */
static enum verdict check_times(ASN1_GENERALIZEDTIME *thisupd, ASN1_GENERALIZEDTIME *nextupd,
                                int64_t now, int64_t *expires, char *why, size_t cap)
{
    int64_t this = seconds_of(thisupd), next = nextupd ? seconds_of(nextupd) : 0;
    if (this == 0 || (nextupd && next == 0)) {
        snprintf(why, cap, "its dates cannot be read");
        return V_BAD;
    }
    if (this > now + CLOCK_LEEWAY_S) {
        snprintf(why, cap, "it is dated in the future (thisUpdate %lld s ahead)",
                 (long long)(this - now));
        return V_STALE;
    }
    if (nextupd && next <= now) {
        snprintf(why, cap, "it has expired (nextUpdate %lld s ago)", (long long)(now - next));
        return V_STALE;
    }
    *expires = nextupd ? next : now + TLS_OCSP_NO_NEXT_UPDATE_S;
    return V_OK;
}

static enum verdict check_basic(const struct tls_ocsp *o, OCSP_BASICRESP *bs, int64_t now,
                                int *status, int64_t *expires, char *why, size_t cap)
{
    char e[256];
    int st, reason;
    ASN1_GENERALIZEDTIME *rev, *thisupd, *nextupd;
    if (OCSP_resp_find_status(bs, o->id, &st, &reason, &rev, &thisupd, &nextupd) != 1) {
        snprintf(why, cap, "it is for another certificate");
        return V_BAD;
    }
    if (OCSP_basic_verify(bs, o->chain, o->store, 0) != 1) {
        snprintf(why, cap, "its signature does not verify against the issuer: %s",
                 tls_ssl_reason(e, sizeof e));
        return V_BAD;
    }
    enum verdict v = check_times(thisupd, nextupd, now, expires, why, cap);
    if (v != V_OK)
        return v;
    if (st == V_OCSP_CERTSTATUS_UNKNOWN) {
        snprintf(why, cap, "the responder does not know the certificate (status unknown)");
        return V_UNKNOWN;
    }
    *status = st == V_OCSP_CERTSTATUS_GOOD ? TLS_OCSP_GOOD : TLS_OCSP_REVOKED;
    return V_OK;
}

static enum verdict check_response(const struct tls_ocsp *o, const unsigned char *der,
                                   size_t len, int64_t now, int *status, int64_t *expires,
                                   char *why, size_t cap)
{
    enum verdict v = V_BAD;
    OCSP_BASICRESP *bs = NULL;
    const unsigned char *p = der;
    OCSP_RESPONSE *r = NULL;
    if (len > TLS_OCSP_MAX) {
        snprintf(why, cap, "it is larger than %d bytes", TLS_OCSP_MAX);
        goto out;
    }
    if (len == 0 || (r = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL || p != der + len) {
        snprintf(why, cap, "it is not a DER OCSP response");
        goto out;
    }
    int rs = OCSP_response_status(r);
    if (rs != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        snprintf(why, cap, "the responder answered \"%s\"", OCSP_response_status_str(rs));
        goto out;
    }
    if ((bs = OCSP_response_get1_basic(r)) == NULL) {
        snprintf(why, cap, "it is not a basic OCSP response");
        goto out;
    }
    v = check_basic(o, bs, now, status, expires, why, cap);
out:
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(r);
    ERR_clear_error();
    return v;
}

int tls_ocsp_take(struct tls_ocsp *o, const void *der, size_t len, int64_t now, int *status,
                  char *why, size_t cap)
{
    int64_t expires = 0;
    if (check_response(o, der, len, now, status, &expires, why, cap) != V_OK)
        return -1;
    return tls_ocsp_publish(o->shared, der, len, expires, *status);
}

/* ------------------------------------------------------------------ */
/* The fetch (in a child of the master: it may block) */

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int say_error(int fd, const char *why)
{
    char line[300];
    int n = snprintf(line, sizeof line, "E%s", why);
    if (n > 0)
        write_all(fd, (const unsigned char *)line,
                  (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    return -1;
}

int tls_ocsp_fetch(const struct tls_ocsp *o, int fd, int timeout_s)
{
    static unsigned char buf[1 + TLS_OCSP_MAX + 1];
    char why[256];
    if (o->url == NULL)
        return say_error(fd, "no responder");
    /* One connect: OSSL_HTTP_transfer would retry a refused one until its
     * timeout, and a responder that is down should fail at once. */
    BIO *conn = BIO_new_connect(o->host);
    if (conn == NULL || BIO_set_conn_port(conn, o->port) != 1 || BIO_do_connect(conn) != 1) {
        BIO_free_all(conn);
        return say_error(fd, tls_ssl_reason(why, sizeof why));
    }
    BIO *req = BIO_new_mem_buf(o->req, o->req_len);
    /* Over that connection (so no proxy from the environment either); the
     * host and port name the server in the Host header. */
    BIO *resp = req == NULL ? NULL :
        OSSL_HTTP_transfer(NULL, o->host, o->port, o->path, 0, NULL, NULL, conn, NULL, NULL,
                           NULL, 0, NULL, "application/ocsp-request", req,
                           "application/ocsp-response", 1, TLS_OCSP_MAX, timeout_s, 0);
    BIO_free(req);
    BIO_free_all(conn);
    if (resp == NULL)
        return say_error(fd, tls_ssl_reason(why, sizeof why));
    size_t n = 1;
    int r;
    buf[0] = 'R';
    while (n < sizeof buf && (r = BIO_read(resp, buf + n, (int)(sizeof buf - n))) > 0)
        n += (size_t)r;
    BIO_free(resp);
    return write_all(fd, buf, n);
}

/* ------------------------------------------------------------------ */
/* The workers' status callback */

/* A client asked for the certificate's status: the staple, when there is
 * one that has not expired; else the handshake goes on without. */
static int on_status(SSL *ssl, void *arg)
{
    const struct tls_ocsp *o = arg;
    /* A response is for one certificate: never staple it to another. */
    X509 *served = SSL_get_certificate(ssl);
    if (o == NULL || served == NULL || X509_cmp(served, o->leaf) != 0)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char der[TLS_OCSP_MAX];
    size_t n = o ? tls_ocsp_read(o->shared, (int64_t)time(NULL), der, sizeof der) : 0;
    if (n == 0)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *copy = OPENSSL_malloc(n);
    if (copy == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    memcpy(copy, der, n);
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)n) != 1) {
        OPENSSL_free(copy);
        ERR_clear_error();
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ------------------------------------------------------------------ */
/* Loading */

void tls_ocsp_free(struct tls_ocsp *o)
{
    if (o == NULL)
        return;
    tls_ocsp_shared_unmap(o->shared);
    X509_free(o->leaf);
    X509_free(o->issuer);
    sk_X509_pop_free(o->chain, X509_free);
    X509_STORE_free(o->store);
    OCSP_CERTID_free(o->id);
    OPENSSL_free(o->req);
    OPENSSL_free(o->host);
    OPENSSL_free(o->port);
    OPENSSL_free(o->path);
    free(o->url);
    free(o);
}

/* An http:// URL split for the fetch. 0, or -1 when it is not one. */
static int split_url(struct tls_ocsp *o, const char *url)
{
    int tls = 0;
    if (strncasecmp(url, "http://", 7) != 0 ||
        OSSL_HTTP_parse_url(url, &tls, NULL, &o->host, &o->port, NULL, &o->path, NULL,
                            NULL) != 1 || tls) {
        ERR_clear_error();
        return -1;
    }
    return (o->url = strdup(url)) == NULL ? -1 : 0;
}

/* The issuer among the certificates after the leaf, the store that trusts
 * it, and the certificate's OCSP identity. NULL issuer: none there. */
static int identify(struct tls_ocsp *o, SSL_CTX *sc)
{
    STACK_OF(X509) *chain = NULL;
    /* With an RSA and an ECDSA certificate, the first in OpenSSL's order
     * (RSA) is the one stapled; on_status leaves the other unstapled. */
    SSL_CTX_set_current_cert(sc, SSL_CERT_SET_FIRST);
    o->leaf = SSL_CTX_get0_certificate(sc);
    if (o->leaf == NULL || X509_up_ref(o->leaf) != 1 ||
        SSL_CTX_get0_chain_certs(sc, &chain) != 1)
        return -1;
    for (int i = 0; chain && i < sk_X509_num(chain); i++)
        if (X509_check_issued(sk_X509_value(chain, i), o->leaf) == X509_V_OK) {
            o->issuer = sk_X509_value(chain, i);
            X509_up_ref(o->issuer);
            break;
        }
    if (o->issuer == NULL)
        return 0;
    o->chain = X509_chain_up_ref(chain);
    o->store = X509_STORE_new();
    /* The issuer is the anchor, root or not. */
    if (o->chain == NULL || o->store == NULL || X509_STORE_add_cert(o->store, o->issuer) != 1 ||
        X509_STORE_set_flags(o->store, X509_V_FLAG_PARTIAL_CHAIN) != 1 ||
        (o->id = OCSP_cert_to_id(NULL, o->leaf, o->issuer)) == NULL)
        return -1;
    return 0;
}

static int make_request(struct tls_ocsp *o)
{
    OCSP_REQUEST *rq = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_CERTID_dup(o->id);
    int rc = -1;
    if (rq == NULL || id == NULL || OCSP_request_add0_id(rq, id) == NULL) {
        OCSP_CERTID_free(id);
        goto out;
    }
    /* No nonce: responders answer from a cache, and a staple is shared. */
    o->req_len = i2d_OCSP_REQUEST(rq, &o->req);
    rc = o->req_len > 0 ? 0 : -1;
out:
    OCSP_REQUEST_free(rq);
    return rc;
}

/* ocsp_file: read, checked, published; it never changes until a reload. */
static int load_file(struct cfg_ctx *ctx, const config_setting_t *at, struct tls_ocsp *o,
                     const char *file)
{
    static unsigned char der[TLS_OCSP_MAX + 1];
    char why[300];
    int status = 0;
    int64_t expires = 0, now = (int64_t)time(NULL);
    FILE *f = fopen(file, "rb");
    if (f == NULL)
        return cfg_fail(ctx, at, "ocsp_file %s: %s", file, strerror(errno));
    size_t n = fread(der, 1, sizeof der, f);
    fclose(f);
    switch (check_response(o, der, n, now, &status, &expires, why, sizeof why)) {
    case V_OK:
        break;
    case V_BAD:
        return cfg_fail(ctx, at, "ocsp_file %s is refused: %s", file, why);
    default:
        cfg_warn(ctx, at, "ocsp_file %s is not stapled: %s", file, why);
        return 0;
    }
    if (status == TLS_OCSP_REVOKED)
        cfg_warn(ctx, at, "ocsp_file %s says %s is REVOKED (stapled as it is)", file,
                 o->name);
    tls_ocsp_publish(o->shared, der, n, expires, status);
    return 0;
}

/* The responder: ocsp_responder, else the certificate's first. 0 with
 * o->url NULL when there is none. */
static int find_responder(struct cfg_ctx *ctx, const config_setting_t *group,
                          const struct tls_config *tc, struct tls_ocsp *o)
{
    const config_setting_t *at = config_setting_get_member(group, "ocsp_stapling");
    if (tc->ocsp_responder)
        return split_url(o, tc->ocsp_responder) < 0 ? cfg_fail(ctx, at, "out of memory") : 0;
    STACK_OF(OPENSSL_STRING) *aia = X509_get1_ocsp(o->leaf);
    const char *url = aia && sk_OPENSSL_STRING_num(aia) > 0 ? sk_OPENSSL_STRING_value(aia, 0)
                                                           : NULL;
    if (url == NULL)
        cfg_warn(ctx, at, "%s names no OCSP responder (Authority Information Access) and "
                 "'ocsp_responder' is not set: no OCSP staple", o->name);
    else if (split_url(o, url) < 0)
        cfg_warn(ctx, at, "%s: its OCSP responder %s is not an http:// URL: no OCSP staple",
                 o->name, url);
    X509_email_free(aia);
    return 0;
}

/* The keys alone: what needs no certificate. */
static int check_keys(struct cfg_ctx *ctx, const config_setting_t *group,
                      const struct tls_config *tc)
{
    const config_setting_t *rsp = config_setting_get_member(group, "ocsp_responder");
    const config_setting_t *file = config_setting_get_member(group, "ocsp_file");
    struct tls_ocsp probe = { 0 };
    if (tc->ocsp_responder) {
        int bad = split_url(&probe, tc->ocsp_responder);
        OPENSSL_free(probe.host);
        OPENSSL_free(probe.port);
        OPENSSL_free(probe.path);
        free(probe.url);
        if (bad)
            return cfg_fail(ctx, rsp, "'ocsp_responder': \"%s\" is not an http:// URL",
                            tc->ocsp_responder);
    }
    if (tc->ocsp_file && tc->ocsp_file[0] != '/')
        return cfg_fail(ctx, file, "'ocsp_file' must be an absolute path");
    if (!tc->ocsp_stapling && (tc->ocsp_responder || tc->ocsp_file))
        cfg_warn(ctx, tc->ocsp_file ? file : rsp,
                 "'%s' has no effect without 'ocsp_stapling = true'",
                 tc->ocsp_file ? "ocsp_file" : "ocsp_responder");
    return 0;
}

static int setup(struct cfg_ctx *ctx, const config_setting_t *group, struct tls_config *tc,
                 struct tls_ocsp *o)
{
    const config_setting_t *at = config_setting_get_member(group, "ocsp_stapling");
    const config_setting_t *file_at = config_setting_get_member(group, "ocsp_file");
    snprintf(o->name, sizeof o->name, "certificate %s", tc->certificate);
    if (identify(o, tc->ctx) < 0)
        return cfg_fail(ctx, at, "OCSP for %s: out of memory", tc->certificate);
    if (o->issuer == NULL) {
        /* Nothing can be checked or asked without it: like no responder. */
        cfg_warn(ctx, tc->ocsp_file ? file_at : at, "%s has no issuer certificate after the "
                 "leaf (the chain): no OCSP staple", tc->certificate);
        return 1;
    }
    if ((o->shared = tls_ocsp_shared_map()) == NULL)
        return cfg_fail(ctx, at, "OCSP: shared memory: %s", strerror(errno));
    if (tc->ocsp_file)
        return load_file(ctx, file_at, o, tc->ocsp_file);
    if (find_responder(ctx, group, tc, o) < 0)
        return -1;
    if (o->url == NULL)
        return 1;
    if (make_request(o) < 0)
        return cfg_fail(ctx, at, "OCSP request for %s: out of memory", tc->certificate);
    return 0;
}

int tls_ocsp_load(struct cfg_ctx *ctx, const config_setting_t *group, struct tls_config *tc)
{
    if (check_keys(ctx, group, tc) < 0)
        return -1;
    if (!tc->ocsp_stapling)
        return 0;
    struct tls_ocsp *o = calloc(1, sizeof *o);
    if (o == NULL)
        return cfg_fail(ctx, group, "out of memory");
    int rc = setup(ctx, group, tc, o);
    ERR_clear_error();
    if (rc != 0) {
        tls_ocsp_free(o);
        return rc < 0 ? -1 : 0;
    }
    tc->ocsp = o;
    SSL_CTX_set_tlsext_status_cb((SSL_CTX *)tc->ctx, on_status);
    SSL_CTX_set_tlsext_status_arg((SSL_CTX *)tc->ctx, o);
    return 0;
}
