/* OCSP stapling (issue 10 item 6): what the master and the configuration
 * core see of it, without OpenSSL types.
 *
 * A `tls` group with `ocsp_stapling = true` gets, when the configuration is
 * loaded (in the master, before its workers are forked), a struct tls_ocsp:
 * the certificate's OCSP identity (leaf and issuer, the issuer taken from
 * the chain in the certificate file), the responder's URL (`ocsp_responder`,
 * else the certificate's Authority Information Access), the DER request to
 * send, and a record in shared memory (MAP_SHARED, mapped before the
 * workers fork) that holds the current response. The master writes that
 * record (master/ocsp.c fetches, transport_tls_ocsp.c checks what came
 * back); the workers read it in their status callback for every handshake
 * that asks, so running workers staple a refreshed response without a
 * reload, and never wait for one.
 *
 * An `ocsp_file` response is read and checked at load and stapled as it is
 * (no fetching); a reload reads it again. */
#ifndef HERD_TRANSPORT_TLS_OCSP_H
#define HERD_TRANSPORT_TLS_OCSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

struct cfg_ctx;
struct tls_config;
struct tls_ocsp;

/* The largest response herd staples (real ones are 0.5 to 3 KiB). */
#define TLS_OCSP_MAX 16384
/* A response without nextUpdate ("newer information is always
 * available") is stapled this long after it was fetched. */
#define TLS_OCSP_NO_NEXT_UPDATE_S 3600

/* The record in shared memory: one writer (the master), many readers (the
 * workers), a sequence lock (seq is odd while it is written). */
struct tls_ocsp_shared {
    uint32_t seq;
    uint32_t len;               /* 0: no staple */
    int64_t expires;            /* wall clock seconds: not stapled from then on */
    int status;                 /* enum tls_ocsp_status of what is there */
    unsigned char der[TLS_OCSP_MAX];
};

enum tls_ocsp_status { TLS_OCSP_GOOD, TLS_OCSP_REVOKED, TLS_OCSP_UNKNOWN };

/* Map a record (memfd, MAP_SHARED; anonymous shared memory where there is
 * no memfd): NULL with errno set. */
struct tls_ocsp_shared *tls_ocsp_shared_map(void);
void tls_ocsp_shared_unmap(struct tls_ocsp_shared *s);
/* Master: replace the staple (len 0 removes it). -1 (EMSGSIZE) when it is
 * larger than TLS_OCSP_MAX. */
int tls_ocsp_publish(struct tls_ocsp_shared *s, const void *der, size_t len, int64_t expires,
                     int status);
/* Worker: copy the staple into out when there is one that has not expired
 * at now (wall clock seconds). Its length, or 0 for none (also when the
 * master kept writing through a few tries: a handshake never waits). */
size_t tls_ocsp_read(const struct tls_ocsp_shared *s, int64_t now, void *out, size_t cap);

/* When to fetch again (wall clock seconds), a response having arrived at
 * now that expires at `expires`: half-way through what is left of its
 * validity, at least a minute ahead (unless it expires sooner), and no later
 * than a day ahead. */
int64_t tls_ocsp_refresh_at(int64_t now, int64_t expires);
/* After a failed fetch: again in a quarter of the staple's remaining
 * validity, between 5 s and 5 minutes (5 minutes when there is no staple
 * left: 0 or an expired `expires`, after the first retries at 5, 10, 20 ... s
 * counted by `failures`). */
int64_t tls_ocsp_retry_at(int64_t now, int64_t expires, unsigned failures);

/* ---- for the master (master/ocsp.c) */

/* The group's stapling state; NULL when stapling is off or impossible
 * (warned at load). */
struct tls_ocsp *tls_ocsp_of(const struct tls_config *tc);
/* Its response is fetched (there is a responder and no ocsp_file). */
bool tls_ocsp_fetches(const struct tls_ocsp *o);
/* "certificate PATH" and the responder, for log lines. */
const char *tls_ocsp_name(const struct tls_ocsp *o);
const char *tls_ocsp_url(const struct tls_ocsp *o);
/* Two groups with the same certificate (and issuer) staple the same
 * responses. */
bool tls_ocsp_same(const struct tls_ocsp *a, const struct tls_ocsp *b);
/* Copy b's staple into a when it is still valid at now: true if it was. */
bool tls_ocsp_adopt(struct tls_ocsp *a, const struct tls_ocsp *b, int64_t now);
/* The expiry of the staple now served (0: none). */
int64_t tls_ocsp_expires(const struct tls_ocsp *o);
/* In a child process: post the request to the responder (blocking, at most
 * timeout_s seconds) and write to fd either 'R' and the DER response, or
 * 'E' and why not. 0, or -1 when it failed. */
int tls_ocsp_fetch(const struct tls_ocsp *o, int fd, int timeout_s);
/* Check a response (DER) for o's certificate: it parses, is successful, is
 * for this certificate, is signed by its issuer (or a responder the issuer
 * delegated to), and is valid at now. A good or revoked one is published
 * (a revoked certificate's response is stapled: it is the truth, and a
 * client that checks refuses the certificate, which is what revocation is
 * for); 0 and its status in *status. Otherwise -1 with the reason in why,
 * and the staple already served stays until it expires. */
int tls_ocsp_take(struct tls_ocsp *o, const void *der, size_t len, int64_t now, int *status,
                  char *why, size_t cap);

/* ---- for transport_tls_config.c */

/* Load the group's OCSP keys (its context is tc->ctx, certificate loaded):
 * 0 (stapling set up, or warned why not), -1 after cfg_fail. */
int tls_ocsp_load(struct cfg_ctx *ctx, const config_setting_t *group, struct tls_config *tc);
void tls_ocsp_free(struct tls_ocsp *o);

#endif
