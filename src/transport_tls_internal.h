/* What the files of the TLS transport share (transport_tls*.c only: this
 * header includes OpenSSL's). */
#ifndef HERD_TRANSPORT_TLS_INTERNAL_H
#define HERD_TRANSPORT_TLS_INTERNAL_H

#include <stddef.h>

#include <openssl/ssl.h>

/* OpenSSL's reason for the last error, or errno's text when OpenSSL has
 * none; the error queue is emptied (so the next connection's
 * SSL_get_error is not misled). Returns out. */
const char *tls_ssl_reason(char *out, size_t cap);

/* The SNI callback every server context is given (transport_tls.c). */
int tls_on_servername(SSL *ssl, int *alert, void *arg);

#endif
