/* The `tls` group of a server (transport_tls.h): its keys, and the
 * SSL_CTX built from them when the configuration is loaded, in the master
 * (transport_tls.c says why there).
 *
 * Tested by tests/unit/check_transport_tls.c and
 * tests/integration/test_tls.py. */
#include "transport_tls.h"
#include "transport_tls_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config_engine.h"
#include "transport_tls_ocsp.h"

/* Mozilla's "intermediate" TLS 1.2 list: forward-secret AEAD ciphers. */
#define TLS_DEFAULT_CIPHERS \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_DEFAULT_SUITES \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
/* X25519 first (fast, and what browsers offer first), then the NIST
 * curves clients without it have. */
#define TLS_DEFAULT_CURVES "X25519:P-256:P-384"

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
static void check_dates(struct cfg_ctx *ctx, const config_setting_t *at, X509 *x,
                        const char *file)
{
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

/* The setting of the i-th file of key `name` (a string, or an array of
 * them), for its line. */
static const config_setting_t *file_at(const config_setting_t *group, const char *name, size_t i)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    if (s != NULL && config_setting_type(s) == CONFIG_TYPE_ARRAY)
        return config_setting_get_elem(s, (unsigned)i);
    return s;
}

/* The first certificate of a PEM file (the leaf), or NULL. */
static X509 *read_leaf(const char *file)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return NULL;
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return x;
}

/* An encrypted key is refused (the master runs without a terminal to
 * ask on), instead of prompting on whatever terminal herd -t has. */
static int no_password(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return -1;
}

static EVP_PKEY *read_key(const char *file)
{
    FILE *f = fopen(file, "r");
    if (f == NULL)
        return NULL;
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, no_password, NULL);
    fclose(f);
    return k;
}

/* Pair i: its chain into sc, after its key is known to belong to its leaf
 * and no earlier pair has a key of the same type (OpenSSL keeps one
 * certificate per type: a second would silently replace the first). */
static int load_pair(struct cfg_ctx *ctx, const config_setting_t *group,
                     const struct tls_config *tc, size_t i, SSL_CTX *sc, int *types)
{
    char why[256];
    const char *cert = tc->certificates.v[i], *key = tc->keys.v[i];
    const config_setting_t *cert_at = file_at(group, "certificate", i);
    const config_setting_t *key_at = file_at(group, "key", i);
    /* A reload reads them again, from wherever the daemon's directory is. */
    if (cert[0] != '/')
        return cfg_fail(ctx, cert_at, "'certificate' must be an absolute path");
    if (key[0] != '/')
        return cfg_fail(ctx, key_at, "'key' must be an absolute path");
    if (readable(ctx, cert_at, "certificate", cert) < 0)
        return -1;
    X509 *leaf = read_leaf(cert);
    EVP_PKEY *pkey = NULL;
    int rc = -1;
    if (leaf == NULL || SSL_CTX_use_certificate_chain_file(sc, cert) != 1) {
        cfg_fail(ctx, cert_at, "certificate %s: not a PEM certificate chain: %s", cert,
                 tls_ssl_reason(why, sizeof why));
        goto done;
    }
    types[i] = EVP_PKEY_get_base_id(X509_get0_pubkey(leaf));
    for (size_t k = 0; k < i; k++)
        if (types[k] == types[i]) {
            cfg_fail(ctx, cert_at, "certificate %s has an %s key, as %s has: one pair per "
                     "key type (RSA, ECDSA)", cert,
                     EVP_PKEY_get0_type_name(X509_get0_pubkey(leaf)), tc->certificates.v[k]);
            goto done;
        }
    if (readable(ctx, key_at, "key", key) < 0)
        goto done;
    if ((pkey = read_key(key)) == NULL) {
        cfg_fail(ctx, key_at, "key %s: not a usable PEM private key: %s", key,
                 tls_ssl_reason(why, sizeof why));
        goto done;
    }
    if (X509_check_private_key(leaf, pkey) != 1) {
        ERR_clear_error();
        cfg_fail(ctx, key_at, "key %s does not match the certificate %s", key, cert);
        goto done;
    }
    if (SSL_CTX_use_PrivateKey(sc, pkey) != 1) {
        cfg_fail(ctx, key_at, "key %s: not usable: %s", key, tls_ssl_reason(why, sizeof why));
        goto done;
    }
    check_dates(ctx, cert_at, leaf, cert);
    rc = 0;
done:
    X509_free(leaf);
    EVP_PKEY_free(pkey);
    return rc;
}

/* Every pair, and the first one named for messages elsewhere. */
static int load_pairs(struct cfg_ctx *ctx, const config_setting_t *group, struct tls_config *tc,
                      SSL_CTX *sc)
{
    size_t n = tc->certificates.n;
    if (n == 0 || tc->keys.n == 0)
        return cfg_fail(ctx, group, "'tls' needs 'certificate' and 'key'");
    if (tc->keys.n != n)
        return cfg_fail(ctx, config_setting_get_member(group, "key"),
                        "'certificate' names %zu files and 'key' %zu: they pair by position",
                        n, tc->keys.n);
    int *types = calloc(n, sizeof *types);
    if (types == NULL)
        return cfg_fail(ctx, group, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = load_pair(ctx, group, tc, i, sc, types);
    free(types);
    tc->certificate = tc->certificates.v[0];
    tc->key = tc->keys.v[0];
    return rc;
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

static int build_ctx(struct cfg_ctx *ctx, const config_setting_t *group, struct tls_config *tc)
{
    char why[256];
    int min, max;
    if (read_protocols(ctx, group, tc, &min, &max) < 0)
        return -1;
    ERR_clear_error();
    SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
    if (sc == NULL)
        return cfg_fail(ctx, group, "TLS: %s", tls_ssl_reason(why, sizeof why));
    tc->ctx = sc;
    SSL_CTX_set_min_proto_version(sc, min);
    SSL_CTX_set_max_proto_version(sc, max);
    SSL_CTX_set_options(sc, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                        SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                     SSL_MODE_RELEASE_BUFFERS);
    /* A record in one read(2), not its header and then its body; several
     * pipelined ones too (transport_tls.c, "Reading the socket"). */
    SSL_CTX_set_read_ahead(sc, 1);
    /* A cache in each worker would resume 1/N of the sessions: tickets
     * only, sealed with the master's keys (transport_tls_tickets.c), which
     * every worker of every generation shares. */
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
    if (!tc->session_tickets) {
        SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(sc, 0);
    }
    /* The session ID context, ticket_key_files and the key callback. */
    if (tls_tickets_setup(ctx, group, tc, sc) < 0)
        return -1;
    if (SSL_CTX_set_cipher_list(sc, tc->ciphers) != 1)
        return cfg_fail(ctx, config_setting_get_member(group, "ciphers"),
                        "'ciphers': no cipher in \"%s\": %s", tc->ciphers,
                        tls_ssl_reason(why, sizeof why));
    if (SSL_CTX_set_ciphersuites(sc, tc->ciphersuites) != 1)
        return cfg_fail(ctx, config_setting_get_member(group, "ciphersuites"),
                        "'ciphersuites': not a TLS 1.3 suite list: \"%s\"", tc->ciphersuites);
    if (SSL_CTX_set1_groups_list(sc, tc->curves) != 1)
        return cfg_fail(ctx, config_setting_get_member(group, "curves"),
                        "'curves': not a list of groups OpenSSL knows: \"%s\": %s", tc->curves,
                        tls_ssl_reason(why, sizeof why));
    /* Without the kernel's tls module OpenSSL goes on in user space. */
    if (tc->ktls)
        SSL_CTX_set_options(sc, SSL_OP_ENABLE_KTLS);
    SSL_CTX_set_alpn_select_cb(sc, on_alpn, NULL);
    SSL_CTX_set_tlsext_servername_callback(sc, tls_on_servername);
    if (tls_client_setup(ctx, group, tc, sc) < 0 || load_pairs(ctx, group, tc, sc) < 0)
        return -1;
    return tls_ocsp_load(ctx, group, tc);
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
    tls_ocsp_free(tc->ocsp);
    tc->ocsp = NULL;
    SSL_CTX_free(tc->ctx);
    tc->ctx = NULL;
}

static const struct cfg_key tls_keys[] = {
    { .name = "certificate", .type = CT_STRINGS, .offset = CFG_AT(tls_config, certificates) },
    { .name = "key", .type = CT_STRINGS, .offset = CFG_AT(tls_config, keys) },
    { .name = "protocols", .type = CT_STRINGS, .offset = CFG_AT(tls_config, protocols) },
    { .name = "ciphers", .type = CT_STRING, .offset = CFG_AT(tls_config, ciphers),
      .def = TLS_DEFAULT_CIPHERS },
    { .name = "ciphersuites", .type = CT_STRING, .offset = CFG_AT(tls_config, ciphersuites),
      .def = TLS_DEFAULT_SUITES },
    { .name = "curves", .type = CT_STRING, .offset = CFG_AT(tls_config, curves),
      .def = TLS_DEFAULT_CURVES },
    { .name = "session_tickets", .type = CT_BOOL, .offset = CFG_AT(tls_config, session_tickets),
      .def = "true" },
    { .name = "ticket_key_files", .type = CT_STRINGS,
      .offset = CFG_AT(tls_config, ticket_key_files) },
    { .name = "handshake_timeout", .type = CT_DURATION,
      .offset = CFG_AT(tls_config, handshake_timeout), .def = "10s", .min = 1,
      .max = CFG_MS(3600) },
    { .name = "ktls", .type = CT_BOOL, .offset = CFG_AT(tls_config, ktls), .def = "false" },
    { .name = "client_certificate", .type = CT_STRING,
      .offset = CFG_AT(tls_config, client_certificate) },
    { .name = "client_verify", .type = CT_STRING, .offset = CFG_AT(tls_config, client_verify) },
    /* transport_tls_ocsp.c */
    { .name = "ocsp_stapling", .type = CT_BOOL, .offset = CFG_AT(tls_config, ocsp_stapling),
      .def = "false" },
    { .name = "ocsp_responder", .type = CT_STRING,
      .offset = CFG_AT(tls_config, ocsp_responder) },
    { .name = "ocsp_file", .type = CT_STRING, .offset = CFG_AT(tls_config, ocsp_file) },
};

const struct cfg_section tls_section = {
    "tls", sizeof(struct tls_config), tls_keys, CFG_NKEYS(tls_keys), validate_tls,
};
