/* Session ticket keys for TLS resumption across workers, generations and
 * binary upgrades (transport_tls_tickets.c).
 *
 * The master makes two keys (current and previous) with RAND_bytes when it
 * starts, in one page of shared memory (a memfd, mapped before the first
 * fork, passed on to a new master by a binary upgrade as the counters'
 * page is). Every worker of every generation reads them there, so a ticket
 * one worker issued resumes on any other, before and after a reload, and
 * nothing is ever written to disk. The master rotates them on a timer
 * (`ticket_key_rotation`): the current key seals new tickets, the previous
 * one still opens tickets, older ones are gone. The master writes the page
 * under a sequence lock; workers read a consistent copy without a lock.
 *
 * A `tls` group with `ticket_key_files` uses the keys of those files
 * instead (read at load: the first seals, all open); the operator rotates
 * them by replacing the files and reloading.
 *
 * Either way the key that seals or opens a ticket is derived from the base
 * key and the identity of the server (virtual host) the client asked for
 * by SNI, so a session made with one server cannot resume on another.
 *
 * This header names no OpenSSL type (the master includes it). */
#ifndef HERD_TRANSPORT_TLS_TICKETS_H
#define HERD_TRANSPORT_TLS_TICKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_TICKET_NAME 16      /* bytes of a key's name, sent with the ticket */
#define TLS_TICKET_SECRET 32    /* bytes of each secret of a key */
#define TLS_TICKET_ID 32        /* bytes of a server's identity (SHA-256) */

/* A key: the name a ticket carries in clear, an HMAC secret and an AES
 * key. Keys read from 48-byte files have 16-byte secrets (len 16). */
struct tls_ticket_key {
    uint8_t name[TLS_TICKET_NAME];
    uint8_t hmac[TLS_TICKET_SECRET];
    uint8_t aes[TLS_TICKET_SECRET];
    uint8_t len;                /* bytes of each secret: 32 or 16 */
};

/* ---- the shared page (master) */

/* Map the page: the one a binary upgrade passed on (HERD_TICKETS_FD) when it
 * has this build's layout, else a new one with two fresh random keys.
 * 0, or -1 with errno set. */
int tls_tickets_map(void);
void tls_tickets_unmap(void);
/* In the child about to exec a new master: pass the page on to it, as a
 * descriptor numbered at least min_fd (named by HERD_TICKETS_FD). */
int tls_tickets_pass_on(int min_fd);

/* Rotate the keys if they are due at `now` (ms, CLOCK_MONOTONIC, the same
 * clock in every process), `interval` ms after the last rotation; a
 * shorter interval than the one scheduled takes effect at once. Two
 * masters (an upgrade) may call it at once: one of them rotates. Returns
 * when the next rotation is due, or -1 when no page is mapped; *rotated
 * says whether this call rotated. */
int64_t tls_tickets_rotate(int64_t now, int64_t interval, bool *rotated);
/* Rotations since the page was made (across reloads and upgrades). */
uint64_t tls_tickets_rotations(void);

/* Worker: a consistent copy of the current (out[0]) and previous (out[1])
 * keys. 0, or -1 when no page is mapped or a write never ends. */
int tls_tickets_read(struct tls_ticket_key out[2]);

/* Where new keys' bytes come from: RAND_bytes. Tests may replace it. */
extern int (*tls_tickets_random)(unsigned char *buf, int n);

/* ---- pure parts */

/* A key file's bytes, in nginx's format: 80 bytes are the name, the HMAC
 * secret (32) and the AES key (32); 48 bytes are the name, the AES key (16)
 * and the HMAC secret (16). 0, or -1 for another size. */
int tls_ticket_key_parse(const uint8_t *buf, size_t n, struct tls_ticket_key *out);

/* The identity of a server: SHA-256 over its names, each followed by a
 * NUL byte (no names: the hash of nothing). Names, not the file's line or
 * the address, so it stays the same across reloads and in every instance
 * that shares the key files. */
void tls_ticket_identity(const char *const *names, size_t n, uint8_t out[TLS_TICKET_ID]);

/* The key that seals and opens the tickets of the server with identity id:
 * the base key's name, and secrets of 32 bytes derived from the base
 * key's by HMAC-SHA256 with the identity. 0, or -1 (OpenSSL failed). */
int tls_ticket_derive(const struct tls_ticket_key *base, const uint8_t id[TLS_TICKET_ID],
                      struct tls_ticket_key *out);

/* The host name of a ClientHello's server_name extension (its body: a
 * 2-byte list length, then entries of a type byte, a 2-byte length and the
 * name), NUL-terminated into out. 0, or -1 when it holds no host name, is
 * malformed or does not fit. */
int tls_ticket_sni(const uint8_t *ext, size_t len, char *out, size_t cap);

#endif
