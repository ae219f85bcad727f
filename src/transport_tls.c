/* The TLS transport (transport_tls.h): a server's `tls` group, the
 * listener's contexts and SNI, and the transport's calls over OpenSSL.
 *
 * Where the SSL_CTX objects are built: in the master, when the
 * configuration is loaded (tls_section's validate hook), once per
 * generation, before the workers are forked; each worker uses them
 * copy-on-write. Not per worker, because
 *   - workers drop privileges before they serve, and private keys are
 *     usually readable by root alone;
 *   - a certificate or key that cannot be used must fail `herd -t` and the
 *     reload (the old generation keeps serving) with FILE:LINE, not a worker
 *     at its start, and what was checked is what is served (no second read
 *     of files that may have changed in between);
 *   - the session ticket keys OpenSSL makes with each context are then the
 *     same in every worker of a generation, so a session made with one
 *     worker resumes on another.
 *
 * Reads gather records until the socket is empty (SSL_read returns one
 * record at a time, and an edge-triggered loop gets no new edge for bytes
 * already in the socket). Writes use partial-write mode with a moving
 * buffer: a write that would block is retried by the connection layer with
 * the same bytes first, as OpenSSL requires. sendfile reads the file and
 * encrypts it (kTLS is a later step).
 *
 * Tested by tests/unit/check_transport_tls.c and
 * tests/integration/test_tls.py. */
#include "transport_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config_engine.h"
#include "conn.h"
#include "log.h"

/* Error lines a second per worker; the rest are counted and reported in
 * one line, as the PROXY header refusals are, so a flood cannot fill the
 * disk. */
#define TLS_LOG_PER_SECOND 10
/* Bytes encrypted per write: one full TLS record. */
#define TLS_CHUNK 16384

/* Mozilla's "intermediate" TLS 1.2 list: forward-secret AEAD ciphers. */
#define TLS_DEFAULT_CIPHERS \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_DEFAULT_SUITES \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

struct tls_listen {
    int64_t handshake_timeout;          /* the default server's */
    size_t n;
    struct {
        SSL_CTX *ctx;
        const struct cfg_strings *names;
    } v[];
};

/* A connection's state (c->tp_state). */
struct tls_conn {
    SSL *ssl;
    const struct tls_listen *l;
    int64_t started;                    /* ms: the handshake's first step */
    uint16_t server;                    /* picked by SNI */
    bool sni;                           /* the client named a server */
    bool begun, done, failed, shut, logged;
};

/* What a chunk of a file or of several pieces is gathered into. One loop
 * per process runs one connection at a time. */
static unsigned char scratch[TLS_CHUNK];

/* ------------------------------------------------------------------ */
/* Rate-limited error lines */

static struct log_budget budget = LOG_BUDGET("TLS", "errors not logged", LOG_INFO,
                                             TLS_LOG_PER_SECOND);

void tls_tick(int64_t now_ms)
{
    log_budget_tick(&budget, now_ms);
}

static void conn_log(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line at info with the client's address, if the budget allows. */
static void conn_log(struct conn *c, const char *fmt, ...)
{
    struct tls_conn *t = c->tp_state;
    if (t)
        t->logged = true;
    if (!log_budget_take(&budget, c->owner ? conn_now(c) : 0))
        return;
    char what[200], addr[INET6_ADDRSTRLEN] = "-";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (c->peer.family == AF_INET || c->peer.family == AF_INET6)
        inet_ntop(c->peer.family, c->peer.addr, addr, sizeof addr);
    log_info("TLS: %s, client: %s", what, addr);
}

/* OpenSSL's reason for the last error (and its queue emptied, so that the
 * next connection's SSL_get_error is not misled). */
static const char *ssl_reason(char *out, size_t cap)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(out, cap, "%s", errno ? strerror(errno) : "connection closed");
    else
        ERR_error_string_n(e, out, cap);
    ERR_clear_error();
    return out;
}

/* ------------------------------------------------------------------ */
/* Configuration: the `tls` group */

/* The protocol versions in the list: TLS 1.2 and 1.3 only. */
static int read_protocols(struct cfg_ctx *ctx, const config_setting_t *group,
                          const struct tls_config *tc, int *min, int *max)
{
    const config_setting_t *at = config_setting_get_member(group, "protocols");
    *min = *max = 0;
    for (size_t i = 0; i < tc->protocols.n; i++) {
        const char *p = tc->protocols.v[i];
        int v;
        if (strcmp(p, "TLSv1.2") == 0)
            v = TLS1_2_VERSION;
        else if (strcmp(p, "TLSv1.3") == 0)
            v = TLS1_3_VERSION;
        else if (strcmp(p, "TLSv1") == 0 || strcmp(p, "TLSv1.1") == 0 ||
                 strcmp(p, "SSLv3") == 0)
            return cfg_fail(ctx, at, "'protocols': %s is refused: it is broken (RFC 8996)", p);
        else
            return cfg_fail(ctx, at, "'protocols': \"%s\" is not \"TLSv1.2\" or \"TLSv1.3\"", p);
        if (*min == 0 || v < *min)
            *min = v;
        if (v > *max)
            *max = v;
    }
    return 0;
}

/* The certificate's dates against now: expired or not yet valid is a
 * warning (the file is right; the clock or the renewal is not). */
static void check_dates(struct cfg_ctx *ctx, const config_setting_t *at, SSL_CTX *sc,
                        const char *file)
{
    X509 *x = SSL_CTX_get0_certificate(sc);
    if (x == NULL)
        return;
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
        cfg_warn(ctx, at, "certificate %s has expired", file);
    else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
        cfg_warn(ctx, at, "certificate %s is not valid yet", file);
}

/* A file that cannot be opened is the system's error, not OpenSSL's. */
static int readable(struct cfg_ctx *ctx, const config_setting_t *at, const char *what,
                    const char *file)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return cfg_fail(ctx, at, "%s %s: %s", what, file, strerror(errno));
    fclose(f);
    return 0;
}

static int load_pair(struct cfg_ctx *ctx, const config_setting_t *group, struct tls_config *tc,
                     SSL_CTX *sc)
{
    char why[256];
    const config_setting_t *cert_at = config_setting_get_member(group, "certificate");
    const config_setting_t *key_at = config_setting_get_member(group, "key");
    if (tc->certificate == NULL || tc->key == NULL)
        return cfg_fail(ctx, group, "'tls' needs 'certificate' and 'key'");
    /* A reload reads them again, from wherever the daemon's directory is. */
    if (tc->certificate[0] != '/')
        return cfg_fail(ctx, cert_at, "'certificate' must be an absolute path");
    if (tc->key[0] != '/')
        return cfg_fail(ctx, key_at, "'key' must be an absolute path");
    if (readable(ctx, cert_at, "certificate", tc->certificate) < 0)
        return -1;
    if (SSL_CTX_use_certificate_chain_file(sc, tc->certificate) != 1)
        return cfg_fail(ctx, cert_at, "certificate %s: not a PEM certificate chain: %s",
                        tc->certificate, ssl_reason(why, sizeof why));
    if (readable(ctx, key_at, "key", tc->key) < 0)
        return -1;
    if (SSL_CTX_use_PrivateKey_file(sc, tc->key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            return cfg_fail(ctx, key_at, "key %s does not match the certificate %s", tc->key,
                            tc->certificate);
        }
        return cfg_fail(ctx, key_at, "key %s: not a usable PEM private key: %s", tc->key,
                        ssl_reason(why, sizeof why));
    }
    if (SSL_CTX_check_private_key(sc) != 1)
        return cfg_fail(ctx, key_at, "key %s does not match the certificate %s: %s", tc->key,
                        tc->certificate, ssl_reason(why, sizeof why));
    check_dates(ctx, cert_at, sc, tc->certificate);
    return 0;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    (void)ssl;
    (void)arg;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;    /* none in common: go on without ALPN */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int on_servername(SSL *ssl, int *alert, void *arg);

/* The session ID context: a session is resumed only by the server that
 * made it (not by another virtual host of the same address). */
static void set_session_context(SSL_CTX *sc, const struct cfg_where *w)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char id[4200];
    int n = snprintf(id, sizeof id, "%s:%d", w->file ? w->file : "", w->line);
    if (EVP_Digest(id, (size_t)n, md, &len, EVP_sha256(), NULL) != 1)
        return;
    SSL_CTX_set_session_id_context(sc, md, len > SSL_MAX_SID_CTX_LENGTH ? SSL_MAX_SID_CTX_LENGTH
                                                                         : len);
}

static int build_ctx(struct cfg_ctx *ctx, const config_setting_t *group, struct tls_config *tc)
{
    char why[256];
    int min, max;
    if (read_protocols(ctx, group, tc, &min, &max) < 0)
        return -1;
    ERR_clear_error();
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
    if (sc == NULL)
        return cfg_fail(ctx, group, "TLS: %s", ssl_reason(why, sizeof why));
    tc->ctx = sc;
    SSL_CTX_set_min_proto_version(sc, min);
    SSL_CTX_set_max_proto_version(sc, max);
    SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                        SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                     SSL_MODE_RELEASE_BUFFERS);
    /* A cache in each worker would resume 1/N of the sessions: tickets
     * only (their keys are the generation's, shared by its workers). */
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    if (!tc->session_tickets) {
        SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(sc, 0);
    }
    set_session_context(sc, &tc->where);
    if (SSL_CTX_set_cipher_list(sc, tc->ciphers) != 1)
        return cfg_fail(ctx, config_setting_get_member(group, "ciphers"),
                        "'ciphers': no cipher in \"%s\": %s", tc->ciphers,
                        ssl_reason(why, sizeof why));
    if (SSL_CTX_set_ciphersuites(sc, tc->ciphersuites) != 1)
        return cfg_fail(ctx, config_setting_get_member(group, "ciphersuites"),
                        "'ciphersuites': not a TLS 1.3 suite list: \"%s\"", tc->ciphersuites);
    SSL_CTX_set_alpn_select_cb(sc, on_alpn, NULL);
    SSL_CTX_set_tlsext_servername_callback(sc, on_servername);
    return load_pair(ctx, group, tc, sc);
}

/* protocols: absent means both; the -T printer shows them. */
static int default_protocols(struct cfg_ctx *ctx, const config_setting_t *group,
                             struct tls_config *tc)
{
    if (tc->protocols.n > 0)
        return 0;
    if ((tc->protocols.v = calloc(2, sizeof *tc->protocols.v)) == NULL ||
        (tc->protocols.v[0] = strdup("TLSv1.2")) == NULL ||
        (tc->protocols.v[1] = strdup("TLSv1.3")) == NULL) {
        tc->protocols.n = tc->protocols.v ? 2 : 0;
        return cfg_fail(ctx, group, "out of memory");
    }
    tc->protocols.n = 2;
    return 0;
}

static int validate_tls(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct tls_config *tc = obj;
    if (default_protocols(ctx, group, tc) < 0)
        return -1;
    return build_ctx(ctx, group, tc);
}

void tls_config_release(void *obj)
{
    struct tls_config *tc = obj;
    SSL_CTX_free(tc->ctx);
    tc->ctx = NULL;
}

static const struct cfg_key tls_keys[] = {
    { .name = "certificate", .type = CT_STRING, .offset = CFG_AT(tls_config, certificate) },
    { .name = "key", .type = CT_STRING, .offset = CFG_AT(tls_config, key) },
    { .name = "protocols", .type = CT_STRINGS, .offset = CFG_AT(tls_config, protocols) },
    { .name = "ciphers", .type = CT_STRING, .offset = CFG_AT(tls_config, ciphers),
      .def = TLS_DEFAULT_CIPHERS },
    { .name = "ciphersuites", .type = CT_STRING, .offset = CFG_AT(tls_config, ciphersuites),
      .def = TLS_DEFAULT_SUITES },
    { .name = "session_tickets", .type = CT_BOOL, .offset = CFG_AT(tls_config, session_tickets),
      .def = "true" },
    { .name = "handshake_timeout", .type = CT_DURATION,
      .offset = CFG_AT(tls_config, handshake_timeout), .def = "10s", .min = 1,
      .max = CFG_MS(3600) },
};

const struct cfg_section tls_section = {
    "tls", sizeof(struct tls_config), tls_keys, CFG_NKEYS(tls_keys), validate_tls,
};

/* ------------------------------------------------------------------ */
/* A listener's servers and SNI */

struct tls_listen *tls_listen_new(const struct tls_config *const *cfgs,
                                  const struct cfg_strings *const *names, size_t n)
{
    if (n == 0 || cfgs[0] == NULL) {
        errno = EINVAL;
        return NULL;
    }
    struct tls_listen *l = calloc(1, sizeof *l + n * sizeof l->v[0]);
    if (l == NULL)
        return NULL;
    l->handshake_timeout = cfgs[0]->handshake_timeout;
    l->n = n;
    for (size_t i = 0; i < n; i++) {
        /* Servers sharing an address agree on TLS (config.c). */
        l->v[i].ctx = cfgs[i] ? cfgs[i]->ctx : cfgs[0]->ctx;
        l->v[i].names = names ? names[i] : NULL;
    }
    return l;
}

void tls_listen_free(struct tls_listen *l)
{
    free(l);
}

size_t tls_listen_pick(const struct tls_listen *l, const char *name)
{
    if (name == NULL || l->n <= 1)
        return 0;
    size_t len = strlen(name), best = 0, pick = 0;
    if (len && name[len - 1] == '.')
        len--;
    for (size_t i = 0; i < l->n; i++) {
        const struct cfg_strings *names = l->v[i].names;
        for (size_t k = 0; names && k < names->n; k++) {
            const char *s = names->v[k];
            size_t sl = strlen(s);
            if (s[0] != '*') {
                if (sl == len && strncasecmp(s, name, len) == 0)
                    return i;
                continue;
            }
            /* "*.example.com" matches "a.example.com", not "example.com". */
            sl--;
            if (len > sl && strncasecmp(name + len - sl, s + 1, sl) == 0 && sl > best) {
                best = sl;
                pick = i;
            }
        }
    }
    return pick;
}

size_t tls_conn_server(const struct conn *c)
{
    const struct tls_conn *t = c->tp == &transport_tls ? c->tp_state : NULL;
    return t ? t->server : 0;
}

/* A client that named a server by SNI was shown that server's
 * certificate; it may not ask (by Host) for a server whose certificate
 * differs, which it has not verified (RFC 9110, 421). A client without SNI
 * gets the default's and may ask for any, as before SNI. */
static bool tls_covers(const struct conn *c, size_t i)
{
    const struct tls_conn *t = c->tp_state;
    if (t == NULL || !t->sni || i == t->server || i >= t->l->n)
        return true;
    X509 *shown = SSL_CTX_get0_certificate(t->l->v[t->server].ctx);
    X509 *asked = SSL_CTX_get0_certificate(t->l->v[i].ctx);
    return shown && asked && X509_cmp(shown, asked) == 0;
}

/* The client named a server (SNI): its certificate is served. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    (void)arg;
    struct tls_conn *t = SSL_get_app_data(ssl);
    if (t == NULL)
        return SSL_TLSEXT_ERR_OK;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    size_t i = tls_listen_pick(t->l, name);
    t->server = (uint16_t)i;
    t->sni = name != NULL;
    if (t->l->v[i].ctx != SSL_get_SSL_CTX(ssl))
        SSL_set_SSL_CTX(ssl, t->l->v[i].ctx);
    return SSL_TLSEXT_ERR_OK;
}

/* ------------------------------------------------------------------ */
/* The transport */

static int tls_accept(struct conn *c, const void *conf)
{
    const struct tls_listen *l = conf;
    struct tls_conn *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    t->l = l;
    if ((t->ssl = SSL_new(l->v[0].ctx)) == NULL || SSL_set_fd(t->ssl, c->io.fd) != 1) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        errno = ENOMEM;
        return -1;
    }
    SSL_set_accept_state(t->ssl);
    SSL_set_app_data(t->ssl, t);
    c->tp_state = t;
    return 0;
}

/* A fatal error: logged (rate-limited), and no close_notify after it. */
static ssize_t fail(struct conn *c, struct tls_conn *t, int err, const char *during)
{
    char why[256];
    int saved = errno;
    t->failed = true;
    if (err == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) {
        /* The socket's own error (reset, broken pipe). */
        conn_log(c, "%s: %s", during, saved ? strerror(saved) : "connection closed");
        errno = saved ? saved : ECONNRESET;
    } else {
        conn_log(c, "%s: %s", during, ssl_reason(why, sizeof why));
        errno = EPROTO;
    }
    ERR_clear_error();
    return -1;
}

static int tls_handshake(struct conn *c)
{
    struct tls_conn *t = c->tp_state;
    if (t == NULL) {
        errno = EINVAL;         /* outbound TLS (to upstreams) is a later step */
        return -1;
    }
    if (!t->begun) {
        t->begun = true;
        t->started = conn_now(c);
        conn_set_timer(c, CONN_TIMER_HANDSHAKE, t->l->handshake_timeout);
    }
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->done = true;
        return 1;
    }
    int err = SSL_get_error(t->ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return 0;
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errno == 0)) {
        t->failed = true;
        t->logged = true;
        /* A connect and close (a port probe, a TCP health check) is no
         * error; one that began a handshake and left is. */
        if (BIO_number_read(SSL_get_rbio(t->ssl)) == 0)
            log_debug("TLS: connection %d closed before its handshake", c->io.fd);
        else
            conn_log(c, "handshake: the client closed the connection");
        ERR_clear_error();
        errno = ECONNRESET;
        return -1;
    }
    return (int)fail(c, t, err, "handshake failed");
}

static ssize_t tls_read(struct conn *c, void *p, size_t n)
{
    struct tls_conn *t = c->tp_state;
    size_t got = 0;
    ERR_clear_error();
    while (got < n) {
        size_t r;
        int rc = SSL_read_ex(t->ssl, (char *)p + got, n - got, &r);
        if (rc == 1) {
            got += r;
            continue;
        }
        int err = SSL_get_error(t->ssl, rc);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            if (got > 0)
                return (ssize_t)got;
            errno = EAGAIN;
            return -1;
        }
        if (err == SSL_ERROR_ZERO_RETURN)
            return (ssize_t)got;        /* the end (after what came before it) */
        if (got > 0)
            return (ssize_t)got;        /* the error again on the next read */
        ssize_t rv = fail(c, t, err, "read");
        return rv;
    }
    return (ssize_t)got;
}

static ssize_t tls_write(struct conn *c, const void *p, size_t n)
{
    struct tls_conn *t = c->tp_state;
    size_t w;
    ERR_clear_error();
    if (SSL_write_ex(t->ssl, p, n, &w) == 1)
        return (ssize_t)w;
    int err = SSL_get_error(t->ssl, 0);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        errno = EAGAIN;
        return -1;
    }
    return fail(c, t, err, "write");
}

/* Several pieces: gathered into one record's worth, so that small pieces
 * (a head and a short body) go out as one record. A retry after EAGAIN
 * gathers the same first bytes again. */
static ssize_t tls_writev(struct conn *c, const struct iovec *iov, int n, bool more)
{
    (void)more;
    if (n == 1 || iov[0].iov_len >= sizeof scratch)
        return tls_write(c, iov[0].iov_base, iov[0].iov_len);
    size_t len = 0;
    for (int i = 0; i < n && len < sizeof scratch; i++) {
        size_t k = iov[i].iov_len < sizeof scratch - len ? iov[i].iov_len : sizeof scratch - len;
        memcpy(scratch + len, iov[i].iov_base, k);
        len += k;
    }
    return tls_write(c, scratch, len);
}

/* Up to n bytes of fd from *off, a record at a time, until the socket is
 * full. Each retry after EAGAIN reads the same bytes at the same offset. */
static ssize_t tls_sendfile(struct conn *c, int fd, off_t *off, size_t n)
{
    size_t sent = 0;
    while (sent < n) {
        size_t want = n - sent < sizeof scratch ? n - sent : sizeof scratch;
        ssize_t r = pread(fd, scratch, want, *off);
        if (r <= 0)
            return sent > 0 ? (ssize_t)sent : r;
        ssize_t w = tls_write(c, scratch, (size_t)r);
        if (w < 0)
            return sent > 0 ? (ssize_t)sent : -1;
        *off += w;
        sent += (size_t)w;
    }
    return (ssize_t)sent;
}

/* close_notify, once, when the session is sound. */
static void say_goodbye(struct tls_conn *t)
{
    if (!t->done || t->failed || t->shut)
        return;
    t->shut = true;
    SSL_shutdown(t->ssl);
    ERR_clear_error();
}

static int tls_shutdown(struct conn *c)
{
    say_goodbye(c->tp_state);
    return shutdown(c->io.fd, SHUT_WR);
}

static void tls_close(struct conn *c)
{
    struct tls_conn *t = c->tp_state;
    if (t == NULL)
        return;
    if (t->begun && !t->done && !t->logged) {
        if (conn_now(c) - t->started >= t->l->handshake_timeout)
            conn_log(c, "handshake not finished within %lld ms",
                     (long long)t->l->handshake_timeout);
        else
            conn_log(c, "handshake abandoned (the worker is stopping)");
    }
    say_goodbye(t);
    SSL_free(t->ssl);
    free(t);
    c->tp_state = NULL;
}

const struct conn_transport transport_tls = {
    .name = "tls",
    .secure = true,
    .accept = tls_accept,
    .handshake = tls_handshake,
    .read = tls_read,
    .writev = tls_writev,
    .sendfile = tls_sendfile,
    .shutdown = tls_shutdown,
    .covers = tls_covers,
    .close = tls_close,
};
