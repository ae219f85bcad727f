/* The TLS transport (transport_tls.h): the listener's contexts and SNI,
 * and the transport's calls over OpenSSL. The `tls` group's keys and the
 * contexts built from them are in transport_tls_config.c; client
 * certificates and what requests log about a session in
 * transport_tls_client.c.
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
 *   - ticket_key_files are read once, by the master, like the keys.
 * The session ticket keys themselves are not the context's: they live in
 * the master's shared page (transport_tls_tickets.c), the same in every
 * worker of every generation.
 *
 * Reads gather records until the socket is empty (SSL_read returns one
 * record at a time, and an edge-triggered loop gets no new edge for bytes
 * already in the socket); OpenSSL reads ahead, and a short read of the
 * socket says it is empty, so a request in one record costs one read(2).
 * Writes use partial-write mode with a moving buffer: a write that would
 * block is retried by the connection layer with the same bytes first, as
 * OpenSSL requires. sendfile hands the file to the kernel when it encrypts
 * (kTLS: SSL_sendfile, zero-copy); otherwise it reads the file 64 KiB at a
 * time and encrypts it here, a full record at a time.
 *
 * Tested by tests/unit/check_transport_tls.c and
 * tests/integration/test_tls.py. */
#include "transport_tls.h"
#include "transport_tls_internal.h"

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

struct tls_listen {
    int64_t handshake_timeout;          /* the default server's */
    size_t n;
    struct {
        SSL_CTX *ctx;
        const struct cfg_strings *names;
    } v[];
};

/* Bytes of a file read at once (sendfile without kTLS): four records, so
 * one pread(2) for four of them. */
#define TLS_FILE_CHUNK (4 * TLS_CHUNK)

/* What several pieces are gathered into, and what a file is read into.
 * One loop per process runs one connection at a time. */
static unsigned char scratch[TLS_CHUNK];
static unsigned char file_chunk[TLS_FILE_CHUNK];

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

const char *tls_ssl_reason(char *out, size_t cap)
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

SSL_CTX *tls_ssl_pick_ctx(SSL *ssl, const char *name)
{
    const struct tls_conn *t = SSL_get_app_data(ssl);
    if (t == NULL)
        return SSL_get_SSL_CTX(ssl);
    return t->l->v[tls_listen_pick(t->l, name)].ctx;
}

/* SSL_set_SSL_CTX takes the new server's certificates and trust store but
 * not what it asks of clients: its verify mode and the CA names it sends
 * (client_certificate, transport_tls_client.c), and its kTLS option. */
static void adopt_ctx(SSL *ssl, SSL_CTX *sc)
{
    int mode = SSL_CTX_get_verify_mode(sc);
    SSL_set_verify(ssl, mode, SSL_CTX_get_verify_callback(sc));
    if (mode != SSL_VERIFY_NONE) {
        STACK_OF(X509_NAME) *names = SSL_dup_CA_list(SSL_CTX_get_client_CA_list(sc));
        if (names != NULL)
            SSL_set_client_CA_list(ssl, names);
    }
    if (SSL_CTX_get_options(sc) & SSL_OP_ENABLE_KTLS)
        SSL_set_options(ssl, SSL_OP_ENABLE_KTLS);
    else
        SSL_clear_options(ssl, SSL_OP_ENABLE_KTLS);
}

/* The client named a server (SNI): its certificate is served. */
int tls_on_servername(SSL *ssl, int *alert, void *arg)
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
    if (t->l->v[i].ctx != SSL_get_SSL_CTX(ssl)) {
        SSL_set_SSL_CTX(ssl, t->l->v[i].ctx);
        adopt_ctx(ssl, t->l->v[i].ctx);
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ------------------------------------------------------------------ */
/* Reading the socket */

/* OpenSSL reads ahead (read_ahead, transport_tls_config.c): as much as its
 * buffer takes in one read(2), not a record's header and then its body.
 * The socket is read through the socket BIO with its read wrapped: a read
 * shorter than asked for emptied the socket, so tls_read need not read once
 * more only to hear EAGAIN (the next byte to arrive raises a new edge).
 * Writes go through the socket BIO SSL_set_fd made, which also readies
 * the socket for kTLS; the reading one shares its controls (kTLS too). */
static BIO_METHOD *reading_method;
static int (*socket_read)(BIO *, char *, int);

static int reading_bio_read(BIO *b, char *p, int n)
{
    int r = socket_read(b, p, n);
    struct tls_conn *t = BIO_get_data(b);
    t->drained = r < n;
    return r;
}

static const BIO_METHOD *reading_bio_method(void)
{
    if (reading_method != NULL)
        return reading_method;
    const BIO_METHOD *s = BIO_s_socket();
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "herd socket reader");
    if (m == NULL)
        return NULL;
    socket_read = BIO_meth_get_read(s);
    if (socket_read == NULL || BIO_meth_set_read(m, reading_bio_read) != 1 ||
        BIO_meth_set_write(m, BIO_meth_get_write(s)) != 1 ||
        BIO_meth_set_puts(m, BIO_meth_get_puts(s)) != 1 ||
        BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(s)) != 1 ||
        BIO_meth_set_create(m, BIO_meth_get_create(s)) != 1 ||
        BIO_meth_set_destroy(m, BIO_meth_get_destroy(s)) != 1) {
        BIO_meth_free(m);
        return NULL;
    }
    reading_method = m;
    return m;
}

static BIO *reading_bio(struct tls_conn *t, int fd)
{
    const BIO_METHOD *m = reading_bio_method();
    BIO *b = m ? BIO_new(m) : NULL;
    if (b == NULL)
        return NULL;
    BIO_set_fd(b, fd, BIO_NOCLOSE);
    BIO_set_data(b, t);
    return b;
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
    BIO *rb = NULL;
    if ((t->ssl = SSL_new(l->v[0].ctx)) == NULL || SSL_set_fd(t->ssl, c->io.fd) != 1 ||
        (rb = reading_bio(t, c->io.fd)) == NULL) {
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        errno = ENOMEM;
        return -1;
    }
    SSL_set0_rbio(t->ssl, rb);
    SSL_set_accept_state(t->ssl);
    SSL_set_app_data(t->ssl, t);
    c->tp_state = t;
    return 0;
}

/* What a failed read or write waits for, or its error. The socket's state
 * first: SSL_get_error looks at the thread's error queue before it, so an
 * entry left there by something else would turn "wait for the socket"
 * into a failure. The queue is emptied when an error is handled (fail,
 * tls_ssl_reason) and after each handshake rather than before every call:
 * ERR_clear_error costs more than the rest of a small request's reading
 * and writing outside the cipher (bench/instr tls_ka). */
static int io_error(SSL *ssl, int rc)
{
    if (SSL_want_read(ssl) && BIO_should_read(SSL_get_rbio(ssl)))
        return SSL_ERROR_WANT_READ;
    if (SSL_want_write(ssl) && BIO_should_write(SSL_get_wbio(ssl)))
        return SSL_ERROR_WANT_WRITE;
    return SSL_get_error(ssl, rc);
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
        conn_log(c, "%s: %s", during, tls_ssl_reason(why, sizeof why));
        errno = EPROTO;
    }
    t->fail_errno = errno;
    ERR_clear_error();
    return -1;
}

/* After a fatal error OpenSSL refuses the session ("protocol is shutdown"):
 * a later call (the rest of a file, written in pieces) says what failed
 * first, not EPROTO, and logs nothing again. */
static bool failed_before(const struct tls_conn *t)
{
    if (!t->failed)
        return false;
    errno = t->fail_errno ? t->fail_errno : ECONNRESET;
    return true;
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
        ERR_clear_error();      /* what a callback left (io_error) */
        if (BIO_get_ktls_send(SSL_get_wbio(t->ssl)))
            log_debug("TLS: connection %d: the kernel encrypts its output (kTLS)", c->io.fd);
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
    if (failed_before(t))
        return -1;
    while (got < n) {
        size_t r;
        int rc = SSL_read_ex(t->ssl, (char *)p + got, n - got, &r);
        if (rc == 1) {
            got += r;
            /* The socket is empty and OpenSSL keeps nothing of it: a short
             * read tells the connection layer so (conn.c, read_some). */
            if (t->drained && !SSL_has_pending(t->ssl))
                return (ssize_t)got;
            continue;
        }
        int err = io_error(t->ssl, rc);
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
    if (failed_before(t))
        return -1;
    if (SSL_write_ex(t->ssl, p, n, &w) == 1)
        return (ssize_t)w;
    int err = io_error(t->ssl, 0);
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

/* kTLS: the kernel reads the file and encrypts it (sendfile(2)). */
static ssize_t ktls_sendfile(struct conn *c, struct tls_conn *t, int fd, off_t *off, size_t n)
{
    ossl_ssize_t w = SSL_sendfile(t->ssl, fd, *off, n, 0);
    if (w >= 0) {
        *off += w;
        return (ssize_t)w;
    }
    int saved = errno;
    int err = io_error(t->ssl, (int)w);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        /* OpenSSL says "retry" for an interrupted call too, which must not
         * wait for the socket's next edge. */
        errno = saved == EINTR ? EINTR : EAGAIN;
        return -1;
    }
    return fail(c, t, err, "sendfile");
}

/* Up to n bytes of fd from *off: by the kernel with kTLS; otherwise read
 * a chunk at a time and encrypted a record at a time (partial-write mode),
 * until the socket is full. Each retry after EAGAIN reads the same bytes
 * at the same offset, which begin with the record OpenSSL holds. */
static ssize_t tls_sendfile(struct conn *c, int fd, off_t *off, size_t n)
{
    struct tls_conn *t = c->tp_state;
    if (failed_before(t))
        return -1;
    if (BIO_get_ktls_send(SSL_get_wbio(t->ssl)))
        return ktls_sendfile(c, t, fd, off, n);
    size_t sent = 0;
    while (sent < n) {
        size_t want = n - sent < sizeof file_chunk ? n - sent : sizeof file_chunk;
        ssize_t r = pread(fd, file_chunk, want, *off);
        if (r <= 0)
            return sent > 0 ? (ssize_t)sent : r;
        for (size_t done = 0; done < (size_t)r;) {
            ssize_t w = tls_write(c, file_chunk + done, (size_t)r - done);
            if (w < 0)
                return sent > 0 ? (ssize_t)sent : -1;
            *off += w;
            sent += (size_t)w;
            done += (size_t)w;
        }
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
    free(t->client_dn);
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
