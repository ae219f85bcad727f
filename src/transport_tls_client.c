/* Client certificates (mutual TLS) and what a request may log about its
 * connection's TLS session (transport_tls.h).
 *
 * A server's `client_certificate` names the PEM file of the CAs a client
 * certificate must chain to; `client_verify` says whether a client must
 * show one ("on", the default) or may show none ("optional"; one it shows
 * must still verify). Both are read into the server's context when the
 * configuration is loaded, in the master, like its own certificate: the
 * workers never open the file, and a file that cannot be used fails the
 * load at FILE:LINE.
 *
 * SNI may move a handshake to another server's context after OpenSSL made
 * the connection from the default server's; SSL_set_SSL_CTX then takes the
 * certificates and the trust store of the new one, but not its verify mode
 * or the CA names it sends: transport_tls.c's SNI callback copies those
 * (adopt_ctx).
 *
 * Tested by tests/unit/check_transport_tls_client.c and
 * tests/integration/test_tls_features.py. */
#include "transport_tls.h"
#include "transport_tls_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conn.h"

/* ------------------------------------------------------------------ */
/* At load */

/* client_verify: "on" (a certificate is required) or "optional"; absent,
 * "on", written back so that herd -T shows it. 1 required, 0 optional, -1
 * after cfg_fail. */
static int read_verify(struct cfg_ctx *ctx, const config_setting_t *group, struct tls_config *tc)
{
    const config_setting_t *at = config_setting_get_member(group, "client_verify");
    if (tc->client_verify == NULL && (tc->client_verify = strdup("on")) == NULL)
        return cfg_fail(ctx, group, "out of memory");
    if (strcmp(tc->client_verify, "on") == 0)
        return 1;
    if (strcmp(tc->client_verify, "optional") == 0)
        return 0;
    return cfg_fail(ctx, at, "'client_verify' is \"on\" or \"optional\", not \"%s\"",
                    tc->client_verify);
}

int tls_client_setup(struct cfg_ctx *ctx, const config_setting_t *group, struct tls_config *tc,
                     SSL_CTX *sc)
{
    char why[256];
    const config_setting_t *at = config_setting_get_member(group, "client_certificate");
    const char *file = tc->client_certificate;
    if (file == NULL) {
        if (tc->client_verify == NULL)
            return 0;
        return cfg_fail(ctx, config_setting_get_member(group, "client_verify"),
                        "'client_verify' needs a 'client_certificate' (the CAs to verify "
                        "clients with)");
    }
    int required = read_verify(ctx, group, tc);
    if (required < 0)
        return -1;
    /* A reload reads it again, from wherever the daemon's directory is. */
    if (file[0] != '/')
        return cfg_fail(ctx, at, "'client_certificate' must be an absolute path");
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return cfg_fail(ctx, at, "client_certificate %s: %s", file, strerror(errno));
    fclose(f);
    ERR_clear_error();
    /* The CAs' names go to the client in the certificate request, so that
     * it can pick a certificate they issued. */
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(file);
    if (names == NULL || SSL_CTX_load_verify_locations(sc, file, NULL) != 1) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        return cfg_fail(ctx, at, "client_certificate %s: no PEM CA certificate: %s", file,
                        tls_ssl_reason(why, sizeof why));
    }
    SSL_CTX_set_client_CA_list(sc, names);
    SSL_CTX_set_verify(sc, SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                       NULL);
    return 0;
}

/* ------------------------------------------------------------------ */
/* For the access log */

static struct tls_conn *established(const struct conn *c)
{
    struct tls_conn *t = c->tp == &transport_tls ? c->tp_state : NULL;
    return t != NULL && t->done ? t : NULL;
}

const char *tls_conn_protocol(const struct conn *c)
{
    const struct tls_conn *t = established(c);
    return t ? SSL_get_version(t->ssl) : NULL;
}

const char *tls_conn_cipher(const struct conn *c)
{
    const struct tls_conn *t = established(c);
    return t ? SSL_get_cipher_name(t->ssl) : NULL;
}

/* Made once per connection, when a request first asks: most never do. */
const char *tls_conn_client_dn(const struct conn *c)
{
    struct tls_conn *t = established(c);
    if (t == NULL)
        return NULL;
    if (t->client_dn != NULL)
        return t->client_dn;
    X509 *x = SSL_get0_peer_certificate(t->ssl);
    if (x == NULL)
        return NULL;
    BIO *b = BIO_new(BIO_s_mem());
    if (b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        if (n >= 0)
            t->client_dn = strndup(p, (size_t)n);
    }
    BIO_free(b);
    ERR_clear_error();
    return t->client_dn;
}
