/* The TLS transport: OpenSSL 3 over the socket, under the connection
 * layer, so a protocol runs over TLS without knowing (it may ask
 * conn_is_tls, for $scheme).
 *
 * A server's `tls = { ... }` group (struct tls_config) is read, and its
 * certificate chain and key loaded and checked, when the configuration is
 * loaded: in the master before it forks the generation's workers (and by
 * herd -t). See tls_section below for why there. A listener whose servers
 * have TLS hands its connections a struct tls_listen: the contexts of the
 * servers sharing its address, in the listener's order (the default first),
 * and the names SNI picks them by.
 *
 * This is the only code that includes OpenSSL headers; this header does
 * not, so the configuration core and the worker can use it. */
#ifndef HERD_TRANSPORT_TLS_H
#define HERD_TRANSPORT_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "transport.h"

struct cfg_section;
struct tls_ocsp;

struct tls_config {
    struct cfg_where where;
    /* certificates.v[i] (PEM: the chain, leaf first) and keys.v[i] (its
     * PEM private key) pair by position: one pair per key type (RSA,
     * ECDSA), OpenSSL serves each client the one it can use. */
    struct cfg_strings certificates;
    struct cfg_strings keys;
    const char *certificate;        /* the first pair (certificates.v[0], keys.v[0]) */
    const char *key;
    struct cfg_strings protocols;   /* "TLSv1.2", "TLSv1.3" */
    char *ciphers;                  /* TLS 1.2, OpenSSL's cipher list syntax */
    char *ciphersuites;             /* TLS 1.3 */
    char *curves;                   /* key exchange groups, "X25519:P-256:P-384" */
    bool session_tickets;
    struct cfg_strings ticket_key_files;    /* absolute paths; the first seals */
    int64_t handshake_timeout;      /* ms */
    bool ktls;                      /* SSL_OP_ENABLE_KTLS: sendfile stays zero-copy */
    char *client_certificate;       /* PEM CAs a client certificate must chain to (mTLS) */
    char *client_verify;            /* with it: "on" (required) or "optional" */
    bool ocsp_stapling;
    char *ocsp_responder;           /* URL overriding the certificate's responder */
    char *ocsp_file;                /* a DER response the operator fetched */
    struct tls_ocsp *ocsp;          /* transport_tls_ocsp.h; NULL: no staple */
    void *ctx;                      /* the SSL_CTX built from the above at load */
};

/* The `tls` group of a server (config.c lists it among the server keys). */
extern const struct cfg_section tls_section;
/* Frees the context a tls_config holds (the `release` of its key). */
void tls_config_release(void *obj);

/* What the connections of one listener start from. cfgs[i] and names[i]
 * are the i-th server sharing the address (cfgs[0] the default server,
 * names[i] NULL when its protocol has no names). NULL with errno set. */
struct tls_listen;
struct tls_listen *tls_listen_new(const struct tls_config *const *cfgs,
                                  const struct cfg_strings *const *names, size_t n);
void tls_listen_free(struct tls_listen *l);

/* Which of the listener's servers an SNI name picks, by the server_names
 * rules of HTTP (http/vhost.h): an exact name (without case, a trailing dot
 * ignored), else the longest "*.suffix", else 0 (the default). NULL: 0. */
size_t tls_listen_pick(const struct tls_listen *l, const char *name);

/* The server SNI picked on a TLS connection (an index as above). */
size_t tls_conn_server(const struct conn *c);

/* What a request may log about its connection's TLS session
 * ($ssl_protocol "TLSv1.3", $ssl_cipher "TLS_AES_128_GCM_SHA256",
 * $ssl_client_s_dn the verified client certificate's subject in RFC 2253
 * form, "CN=alice,O=Example"): NULL on a connection without TLS, before
 * its handshake is done, and (the subject) when the client showed no
 * certificate. The strings live as long as the connection. */
const char *tls_conn_protocol(const struct conn *c);
const char *tls_conn_cipher(const struct conn *c);
const char *tls_conn_client_dn(const struct conn *c);

/* Once a second: report handshake and I/O errors the rate limit held back. */
void tls_tick(int64_t now_ms);

/* Inbound connections only (servers); a connection without its accept
 * fails its handshake with EINVAL. */
extern const struct conn_transport transport_tls;

#endif
