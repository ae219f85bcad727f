/* What the files of the TLS transport share (transport_tls*.c only: this
 * header includes OpenSSL's). */
#ifndef HERD_TRANSPORT_TLS_INTERNAL_H
#define HERD_TRANSPORT_TLS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>
#include <openssl/ssl.h>

#include "config_engine.h"

struct tls_config;
struct tls_listen;

/* A connection's state (c->tp_state). */
struct tls_conn {
    SSL *ssl;
    const struct tls_listen *l;
    int64_t started;                    /* ms: the handshake's first step */
    char *client_dn;                    /* tls_conn_client_dn, made on first use */
    uint16_t server;                    /* picked by SNI */
    bool sni;                           /* the client named a server */
    bool begun, done, failed, shut, logged;
    bool drained;                       /* the last read from the socket was short */
    int fail_errno;                     /* once failed: what every call says */
};

/* OpenSSL's reason for the last error, or errno's text when OpenSSL has
 * none; the error queue is emptied (so the next connection's
 * SSL_get_error is not misled). Returns out. */
const char *tls_ssl_reason(char *out, size_t cap);

/* The SNI callback every server context is given (transport_tls.c). */
int tls_on_servername(SSL *ssl, int *alert, void *arg);

/* Client certificates (transport_tls_client.c): set up sc to ask for and
 * verify them when tc has a client_certificate. 0, or -1 after cfg_fail. */
int tls_client_setup(struct cfg_ctx *ctx, const config_setting_t *group, struct tls_config *tc,
                     SSL_CTX *sc);

/* The context SNI picks for name (NULL: the client sent none) among the
 * servers of the connection's listener; the SSL's own context when it
 * belongs to no listener (transport_tls.c). */
SSL_CTX *tls_ssl_pick_ctx(SSL *ssl, const char *name);

/* Session tickets of a server's context, at load: its identity (also its
 * session ID context), its ticket_key_files, the key callback
 * (transport_tls_tickets.c). 0, or -1 after cfg_fail(). */
int tls_tickets_setup(struct cfg_ctx *ctx, const config_setting_t *group,
                      const struct tls_config *tc, SSL_CTX *sc);

#endif
