/* Tested by tests/unit/check_http_htpasswd.c. */
#include "http/htpasswd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool is_des(const char *s)
{
    if (strlen(s) != 13)
        return false;
    for (const char *p = s; *p; p++)
        if (!(*p == '.' || *p == '/' || (*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= 'a' && *p <= 'z')))
            return false;
    return true;
}

enum htpasswd_kind htpasswd_classify(const char *s)
{
    static const struct {
        const char *prefix;
        enum htpasswd_kind kind;
    } prefixes[] = {
        { "$2a$", HTPASSWD_BCRYPT }, { "$2b$", HTPASSWD_BCRYPT }, { "$2y$", HTPASSWD_BCRYPT },
        { "$6$", HTPASSWD_SHA512 }, { "$5$", HTPASSWD_SHA256 }, { "$y$", HTPASSWD_YESCRYPT },
        { "$gy$", HTPASSWD_YESCRYPT }, { "$7$", HTPASSWD_SCRYPT }, { "$apr1$", HTPASSWD_APR1 },
        { "$1$", HTPASSWD_MD5 }, { "{SHA}", HTPASSWD_SHA1 },
    };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (starts(s, prefixes[i].prefix))
            return prefixes[i].kind;
    return is_des(s) ? HTPASSWD_DES : HTPASSWD_PLAIN;
}

bool htpasswd_kind_strong(enum htpasswd_kind k)
{
    return k <= HTPASSWD_SCRYPT;
}

const char *htpasswd_kind_name(enum htpasswd_kind k)
{
    static const char *const names[] = {
        "bcrypt", "sha512-crypt", "sha256-crypt", "yescrypt", "scrypt",
        "apr1-MD5", "MD5-crypt", "{SHA} (unsalted SHA-1)", "DES crypt", "plain text",
    };
    return names[k];
}

/* The checksum's length for each strong kind: a truncated hash would make
 * crypt(3) fail on every attempt, a lock-out nobody notices at load. */
static bool well_formed(enum htpasswd_kind k, const char *s)
{
    static const size_t checksum[] = {
        [HTPASSWD_BCRYPT] = 0, [HTPASSWD_SHA512] = 86, [HTPASSWD_SHA256] = 43,
        [HTPASSWD_YESCRYPT] = 43, [HTPASSWD_SCRYPT] = 43,
    };
    if (k == HTPASSWD_BCRYPT)
        return strlen(s) == 60 && s[6] == '$';     /* $2b$NN$ + 22 salt + 31 hash */
    const char *last = strrchr(s, '$');
    return strlen(last + 1) == checksum[k];
}

void htpasswd_free(struct htpasswd *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].user);
        free(h->v[i].hash);
    }
    free(h->v);
    h->v = NULL;
    h->n = 0;
}

/* One "user:hash[:comment]" line (without its end) into a new entry. */
static int add_line(const char *file, int lineno, const char *p, size_t n, struct htpasswd *out,
                    char *err, size_t errcap)
{
    const char *colon = memchr(p, ':', n);
    if (colon == NULL) {
        snprintf(err, errcap, "%s:%d: expected user:hash", file, lineno);
        return -1;
    }
    size_t ulen = (size_t)(colon - p);
    const char *h = colon + 1;
    const char *hend = memchr(h, ':', n - ulen - 1);
    size_t hlen = hend ? (size_t)(hend - h) : n - ulen - 1;
    if (ulen == 0 || hlen == 0 || memchr(p, '\0', n)) {
        snprintf(err, errcap, "%s:%d: %s", file, lineno,
                 ulen == 0 ? "empty user name" : hlen == 0 ? "empty password hash"
                                                           : "NUL byte in the line");
        return -1;
    }
    for (size_t i = 0; i < out->n; i++)
        if (out->v[i].user_len == ulen && memcmp(out->v[i].user, p, ulen) == 0) {
            snprintf(err, errcap, "%s:%d: user '%.*s' is listed twice", file, lineno, (int)ulen,
                     p);
            return -1;
        }
    struct htpasswd_entry e = { .user = strndup(p, ulen), .user_len = ulen,
                                .hash = strndup(h, hlen) };
    struct htpasswd_entry *v = realloc(out->v, (out->n + 1) * sizeof *v);
    if (e.user == NULL || e.hash == NULL || v == NULL) {
        free(e.user);
        free(e.hash);
        if (v)
            out->v = v;
        snprintf(err, errcap, "%s: out of memory", file);
        return -1;
    }
    out->v = v;
    enum htpasswd_kind k = htpasswd_classify(e.hash);
    out->v[out->n++] = e;
    if (!htpasswd_kind_strong(k)) {
        snprintf(err, errcap, "%s:%d: user '%s': %s password hashes are too weak "
                 "(fast to crack); make a bcrypt one with `htpasswd -B %s %s` or a yescrypt "
                 "one with `mkpasswd -m yescrypt`", file, lineno, e.user, htpasswd_kind_name(k),
                 file, e.user);
        return -1;
    }
    if (!well_formed(k, e.hash)) {
        snprintf(err, errcap, "%s:%d: user '%s': malformed %s hash", file, lineno, e.user,
                 htpasswd_kind_name(k));
        return -1;
    }
    return 0;
}

int htpasswd_parse(const char *file, const char *text, size_t len, struct htpasswd *out,
                   char *err, size_t errcap)
{
    out->v = NULL;
    out->n = 0;
    int lineno = 0;
    for (size_t at = 0; at < len;) {
        const char *p = text + at;
        const char *nl = memchr(p, '\n', len - at);
        size_t n = nl ? (size_t)(nl - p) : len - at;
        at += n + (nl != NULL);
        lineno++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        while (n > 0 && (*p == ' ' || *p == '\t'))
            p++, n--;
        if (n == 0 || *p == '#')
            continue;
        if (add_line(file, lineno, p, n, out, err, errcap) < 0) {
            htpasswd_free(out);
            return -1;
        }
    }
    if (out->n == 0) {
        snprintf(err, errcap, "%s: no user in the file (add one with `htpasswd -B %s USER`)",
                 file, file);
        return -1;
    }
    return 0;
}
