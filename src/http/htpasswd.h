/* Password files for basic authentication (the htpasswd format): one
 * "user:hash" per line, read whole at configuration load. Only hashes made
 * by a slow, salted crypt(3) method are accepted (bcrypt, sha512-crypt,
 * sha256-crypt, yescrypt, scrypt); the weak ones htpasswd and older tools
 * make (plain text, apr1-MD5, MD5-crypt, DES, {SHA}) are refused with a
 * hint naming the user and how to make a good hash. No I/O here: the
 * caller reads the file. */
#ifndef HERD_HTTP_HTPASSWD_H
#define HERD_HTTP_HTPASSWD_H

#include <stdbool.h>
#include <stddef.h>

enum htpasswd_kind {
    HTPASSWD_BCRYPT,         /* $2a$ $2b$ $2y$ */
    HTPASSWD_SHA512,         /* $6$ */
    HTPASSWD_SHA256,         /* $5$ */
    HTPASSWD_YESCRYPT,       /* $y$ (and $gy$) */
    HTPASSWD_SCRYPT,         /* $7$ */
    /* weak: refused */
    HTPASSWD_APR1,           /* $apr1$ (Apache's MD5) */
    HTPASSWD_MD5,            /* $1$ */
    HTPASSWD_SHA1,           /* {SHA} */
    HTPASSWD_DES,            /* 13 characters of [./0-9A-Za-z] */
    HTPASSWD_PLAIN,          /* anything else: plain text */
};

/* What kind of hash s is, from its form alone. */
enum htpasswd_kind htpasswd_classify(const char *s);
/* Strong enough to accept? */
bool htpasswd_kind_strong(enum htpasswd_kind k);
/* "bcrypt", "apr1-MD5", ... for messages. */
const char *htpasswd_kind_name(enum htpasswd_kind k);

struct htpasswd_entry {
    char *user;
    size_t user_len;
    char *hash;
};

struct htpasswd {
    struct htpasswd_entry *v;
    size_t n;
};

/* Parse text[0..len) (the file's contents; blank lines and lines starting
 * with '#' are skipped, a third ":field" is a comment, CRLF is accepted).
 * On success fills out (free with htpasswd_free) and returns 0. On error
 * returns -1 with "FILE:LINE: message" in err (file names the file), out
 * left empty: a line without ':', an empty user or hash, a user twice, a
 * weak hash (naming the user and how to make a bcrypt or yescrypt one), or
 * no user at all. */
int htpasswd_parse(const char *file, const char *text, size_t len, struct htpasswd *out,
                   char *err, size_t errcap);
void htpasswd_free(struct htpasswd *h);

#endif
