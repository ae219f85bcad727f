/* Basic authentication on a route: auth = { realm; user_file; cache; }.
 *
 * The password file (htpasswd.h) is read by the master when the
 * configuration is loaded, so a reload re-reads it. A request without
 * valid credentials gets 401 with WWW-Authenticate. Checking a password
 * runs crypt(3) (libxcrypt) in the worker, which blocks its loop for the
 * hash's cost (milliseconds for bcrypt at htpasswd's cost 5, tens of ms at
 * cost 10 and above), so each worker keeps a small cache of the
 * (user, password) pairs it verified lately, for `cache` (default 60 s;
 * 0: none): a hit costs a SipHash, not a crypt. The cache holds no
 * password, only a keyed hash of it with the stored hash (a random key per
 * worker), so a changed password never matches an old entry; a reload
 * starts new workers with empty caches anyway.
 *
 * An unknown user costs the same as a wrong password: its attempt is
 * hashed against the file's first hash. The user is looked up by reading
 * the whole table and the computed hash is compared in constant time. */
#ifndef HERD_HTTP_AUTH_H
#define HERD_HTTP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_engine.h"
#include "http/htpasswd.h"
#include "http/request.h"
#include "http/response.h"

struct cfg_auth {
    struct cfg_where where;
    char *realm;
    char *user_file;
    int64_t cache;                   /* ms a verified password is remembered; 0: never */
    struct htpasswd users;           /* read from user_file by the section's check */
};

/* The `auth` group of a route, and what frees its users. */
extern const struct cfg_section http_auth_config;
void http_auth_config_release(void *obj);

/* The longest Authorization value looked at; a longer one is refused. */
#define HTTP_AUTH_MAX 1024

/* Base64 (RFC 4648, padded) in[0..len) into out: the length decoded, or
 * -1 when malformed or longer than cap. */
int http_auth_base64_decode(const char *in, size_t len, char *out, size_t cap);
/* Credentials of an Authorization value "Basic <base64 of user:password>"
 * (the scheme in any case): decoded into buf, the password NUL-terminated.
 * 0, or -1 when malformed (another scheme, bad base64, no ':', an empty
 * user, a NUL byte). */
int http_auth_parse_basic(const char *value, size_t len, char *buf, size_t cap,
                          const char **user, size_t *user_len, const char **password);
/* SipHash-2-4 of in[0..len) with a 128-bit key (the cache's tag). */
uint64_t http_auth_siphash(const uint64_t key[2], const void *in, size_t len);

struct http_auth;

struct http_auth *http_auth_build(const struct cfg_auth *cfg, char *err, size_t errcap);
void http_auth_free(struct http_auth *a);

enum http_auth_result { HTTP_AUTH_OK, HTTP_AUTH_NONE, HTTP_AUTH_MALFORMED, HTTP_AUTH_FAILED };

/* Check the request's credentials (now: the loop's clock, ms). On
 * HTTP_AUTH_OK, *user is the user's name as the file spells it. */
enum http_auth_result http_auth_check(struct http_auth *a, const struct http_request *head,
                                      int64_t now, const char **user);
/* How many times crypt(3) ran (checks the cache did not answer). */
uint64_t http_auth_hashed(const struct http_auth *a);
/* The 401 answer with its WWW-Authenticate line. */
const struct http_fixed *http_auth_challenge(const struct http_auth *a);

#endif
