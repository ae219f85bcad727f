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
                        tc->certificate, tls_ssl_reason(why, sizeof why));
    if (readable(ctx, key_at, "key", tc->key) < 0)
        return -1;
    if (SSL_CTX_use_PrivateKey_file(sc, tc->key, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            return cfg_fail(ctx, key_at, "key %s does not match the certificate %s", tc->key,
                            tc->certificate);
        }
        return cfg_fail(ctx, key_at, "key %s: not a usable PEM private key: %s", tc->key,
                        tls_ssl_reason(why, sizeof why));
    }
    if (SSL_CTX_check_private_key(sc) != 1)
        return cfg_fail(ctx, key_at, "key %s does not match the certificate %s: %s", tc->key,
                        tc->certificate, tls_ssl_reason(why, sizeof why));
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
        return cfg_fail(ctx, group, "TLS: %s", tls_ssl_reason(why, sizeof why));
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
                        tls_ssl_reason(why, sizeof why));
    if (SSL_CTX_set_ciphersuites(sc, tc->ciphersuites) != 1)
        return cfg_fail(ctx, config_setting_get_member(group, "ciphersuites"),
                        "'ciphersuites': not a TLS 1.3 suite list: \"%s\"", tc->ciphersuites);
    SSL_CTX_set_alpn_select_cb(sc, on_alpn, NULL);
    SSL_CTX_set_tlsext_servername_callback(sc, tls_on_servername);
    if (load_pair(ctx, group, tc, sc) < 0)
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
