/* Tested by tests/unit/check_http_auth.c and tests/integration/test_auth.py. */
#include "http/auth.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "config_include.h"

/* ------------------------------------------------------------------ */
/* Configuration */

/* The realm goes between quotes in WWW-Authenticate: no quote, backslash
 * or control character. */
static bool realm_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
            return false;
    return s[0] != '\0';
}

/* Every hash (of a kind htpasswd.c accepts) must also be one this
 * libcrypt can check. It calls sha256-crypt "legacy"; accepted all the
 * same, as the kinds weaker than it were refused already. */
static int check_hashes(struct cfg_ctx *ctx, const config_setting_t *at, const struct cfg_auth *a)
{
    for (size_t i = 0; i < a->users.n; i++) {
        int rc = crypt_checksalt(a->users.v[i].hash);
        if (rc == CRYPT_SALT_INVALID || rc == CRYPT_SALT_METHOD_DISABLED)
            return cfg_fail(ctx, at, "%s: the password hash of user '%s' is %s", a->user_file,
                            a->users.v[i].user,
                            rc == CRYPT_SALT_INVALID ? "malformed"
                                                     : "of a method this system's crypt(3) "
                                                       "does not support");
    }
    return 0;
}

static int validate_auth(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_auth *a = obj;
    const config_setting_t *at = config_setting_get_member(group, "user_file");
    if (a->user_file == NULL)
        return cfg_fail(ctx, group, "'auth' needs 'user_file' (a file of user:hash lines, made "
                        "with `htpasswd -B`)");
    if (a->user_file[0] != '/')
        return cfg_fail(ctx, at, "'user_file' must be an absolute path");
    if (!realm_ok(a->realm))
        return cfg_fail(ctx, config_setting_get_member(group, "realm"),
                        "'realm' must be non-empty, without quotes, backslashes or control "
                        "characters");
    /* Read now, by the master: the workers never open it, and a reload
     * reads it again. */
    char *text, why[1024];
    size_t len;
    if (config_include_read(a->user_file, &text, &len, why, sizeof why) < 0)
        return cfg_fail(ctx, at, "user_file %s: %s", a->user_file, why);
    int rc = htpasswd_parse(a->user_file, text, len, &a->users, why, sizeof why);
    free(text);
    if (rc < 0)
        return cfg_fail(ctx, at, "%s", why);
    return check_hashes(ctx, at, a);
}

void http_auth_config_release(void *obj)
{
    struct cfg_auth *a = obj;
    htpasswd_free(&a->users);
}

static const struct cfg_key auth_keys[] = {
    { .name = "realm", .type = CT_STRING, .offset = CFG_AT(cfg_auth, realm),
      .def = "restricted" },
    { .name = "user_file", .type = CT_STRING, .offset = CFG_AT(cfg_auth, user_file) },
    { .name = "cache", .type = CT_DURATION, .offset = CFG_AT(cfg_auth, cache), .def = "60s",
      .min = 0, .max = CFG_DAY },
};

const struct cfg_section http_auth_config = {
    "auth", sizeof(struct cfg_auth), auth_keys, CFG_NKEYS(auth_keys), validate_auth,
};

/* ------------------------------------------------------------------ */
/* The Authorization header */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int http_auth_base64_decode(const char *in, size_t len, char *out, size_t cap)
{
    if (len % 4 != 0)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=') : 0;
        int v[4];
        for (int j = 0; j < 4 - pad; j++)
            if ((v[j] = b64_value((unsigned char)in[i + (size_t)j])) < 0)
                return -1;
        for (int j = 4 - pad; j < 4; j++)
            v[j] = 0;
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        if (n + 3 - (size_t)pad > cap)
            return -1;
        out[n++] = (char)(w >> 16);
        if (pad < 2)
            out[n++] = (char)(w >> 8);
        if (pad < 1)
            out[n++] = (char)w;
    }
    return (int)n;
}

int http_auth_parse_basic(const char *value, size_t len, char *buf, size_t cap,
                          const char **user, size_t *user_len, const char **password)
{
    if (len > HTTP_AUTH_MAX || len < 6 || !http_token_is(value, 5, "basic") || value[5] != ' ')
        return -1;
    size_t at = 6;
    while (at < len && value[at] == ' ')
        at++;
    int n = http_auth_base64_decode(value + at, len - at, buf, cap - 1);
    if (n <= 0 || memchr(buf, '\0', (size_t)n))
        return -1;
    buf[n] = '\0';
    char *colon = memchr(buf, ':', (size_t)n);
    if (colon == NULL || colon == buf)
        return -1;
    *user = buf;
    *user_len = (size_t)(colon - buf);
    *password = colon + 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* SipHash-2-4 (Aumasson and Bernstein), for the cache's tags */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
    v[0] += v[1], v[1] = ROTL(v[1], 13), v[1] ^= v[0], v[0] = ROTL(v[0], 32);
    v[2] += v[3], v[3] = ROTL(v[3], 16), v[3] ^= v[2];
    v[0] += v[3], v[3] = ROTL(v[3], 21), v[3] ^= v[0];
    v[2] += v[1], v[1] = ROTL(v[1], 17), v[1] ^= v[2], v[2] = ROTL(v[2], 32);
}

static uint64_t le64(const uint8_t *p, size_t n)
{
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

uint64_t http_auth_siphash(const uint64_t key[2], const void *in, size_t len)
{
    const uint8_t *p = in;
    uint64_t v[4] = { key[0] ^ 0x736f6d6570736575ULL, key[1] ^ 0x646f72616e646f6dULL,
                      key[0] ^ 0x6c7967656e657261ULL, key[1] ^ 0x7465646279746573ULL };
    size_t whole = len - len % 8;
    for (size_t i = 0; i <= whole; i += 8) {
        /* the last word: the tail bytes and the length in the top byte */
        uint64_t m = i < whole ? le64(p + i, 8) : le64(p + i, len % 8) | (uint64_t)len << 56;
        v[3] ^= m;
        sip_round(v);
        sip_round(v);
        v[0] ^= m;
    }
    v[2] ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* ------------------------------------------------------------------ */
/* A route's checker */

#define CACHE_SLOTS 64                  /* a power of two */

struct cached {
    const struct htpasswd_entry *who;
    uint64_t tag;
    int64_t until;                      /* loop clock, ms */
};

struct http_auth {
    const struct cfg_auth *cfg;
    struct http_fixed challenge;
    struct crypt_data *cd;              /* 32 KiB: allocated at the first check */
    uint64_t key[2];
    bool keyed;
    uint64_t hashed;
    struct cached cache[CACHE_SLOTS];
};

struct http_auth *http_auth_build(const struct cfg_auth *cfg, char *err, size_t errcap)
{
    struct http_auth *a = calloc(1, sizeof *a);
    char extra[200];
    snprintf(extra, sizeof extra, "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n",
             cfg->realm);
    char body[300];
    int n = snprintf(body, sizeof body,
                     "<!DOCTYPE html>\n<html><head><title>401 Unauthorized</title></head>\n"
                     "<body><h1>401 Unauthorized</h1><hr><p>herd</p></body></html>\n");
    if (a == NULL || http_fixed_build(&a->challenge, 401, "text/html", body, (size_t)n,
                                      extra) < 0) {
        free(a);
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    a->cfg = cfg;
    return a;
}

void http_auth_free(struct http_auth *a)
{
    if (a == NULL)
        return;
    http_fixed_free(&a->challenge);
    if (a->cd)
        explicit_bzero(a->cd, sizeof *a->cd);
    free(a->cd);
    free(a);
}

uint64_t http_auth_hashed(const struct http_auth *a)
{
    return a->hashed;
}

const struct http_fixed *http_auth_challenge(const struct http_auth *a)
{
    return &a->challenge;
}

/* Length and bytes compared without an early exit. */
static bool same_bytes(const char *x, size_t xlen, const char *y, size_t ylen)
{
    unsigned char d = xlen != ylen;
    for (size_t i = 0; i < ylen; i++)
        d |= (unsigned char)(x[i % (xlen ? xlen : 1)] ^ y[i]);
    return d == 0;
}

/* The whole table is read whatever the name, so the time says nothing of
 * where (or whether) the user is. */
static const struct htpasswd_entry *find_user(const struct http_auth *a, const char *user,
                                              size_t len)
{
    const struct htpasswd_entry *found = NULL;
    for (size_t i = 0; i < a->cfg->users.n; i++) {
        const struct htpasswd_entry *e = &a->cfg->users.v[i];
        if (same_bytes(user, len, e->user, e->user_len))
            found = e;
    }
    return found;
}

/* The cache's tag of a password for a stored hash. */
static uint64_t tag_of(struct http_auth *a, const char *hash, const char *password)
{
    char in[HTTP_AUTH_MAX + 256];
    size_t hl = strlen(hash), pl = strlen(password);
    if (!a->keyed) {
        if (getrandom(a->key, sizeof a->key, 0) != sizeof a->key)
            return 0;               /* no key: no cache (see remembered) */
        a->keyed = true;
    }
    if (hl + 1 + pl > sizeof in)
        return 0;
    memcpy(in, hash, hl + 1);
    memcpy(in + hl + 1, password, pl);
    uint64_t t = http_auth_siphash(a->key, in, hl + 1 + pl);
    explicit_bzero(in, hl + 1 + pl);
    return t;
}

/* A slot per user (users past CACHE_SLOTS share them): a client guessing
 * passwords cannot push out another user's entry. */
static struct cached *slot_of(struct http_auth *a, const struct htpasswd_entry *e)
{
    return &a->cache[(size_t)(e - a->cfg->users.v) % CACHE_SLOTS];
}

static bool remembered(struct http_auth *a, const struct htpasswd_entry *e, uint64_t tag,
                       int64_t now)
{
    const struct cached *c = slot_of(a, e);
    return a->cfg->cache > 0 && a->keyed && tag != 0 && c->who == e && c->tag == tag &&
           now < c->until;
}

/* crypt(3) of the attempt with the stored hash's settings, compared in
 * constant time; false also when crypt fails. */
static bool verify(struct http_auth *a, const char *stored, const char *password)
{
    if (a->cd == NULL && (a->cd = calloc(1, sizeof *a->cd)) == NULL)
        return false;
    a->hashed++;
    const char *h = crypt_rn(password, stored, a->cd, (int)sizeof *a->cd);
    if (h == NULL || h[0] == '*')
        return false;
    return same_bytes(h, strlen(h), stored, strlen(stored));
}

enum http_auth_result http_auth_check(struct http_auth *a, const struct http_request *head,
                                      int64_t now, const char **user)
{
    const struct http_header *h = http_find_header(head, "authorization");
    if (h == NULL)
        return HTTP_AUTH_NONE;
    char buf[HTTP_AUTH_MAX];
    const char *name, *password;
    size_t name_len;
    if (http_auth_parse_basic(h->value, h->value_len, buf, sizeof buf, &name, &name_len,
                              &password) < 0)
        return HTTP_AUTH_MALFORMED;
    const struct htpasswd_entry *e = find_user(a, name, name_len);
    /* An unknown user's attempt costs what a known one's does: hashed (and
     * tagged) against the first user's hash, then refused. */
    const struct htpasswd_entry *against = e ? e : &a->cfg->users.v[0];
    uint64_t tag = a->cfg->cache > 0 ? tag_of(a, against->hash, password) : 0;
    bool ok;
    if (e && remembered(a, e, tag, now))
        ok = true;
    else if ((ok = verify(a, against->hash, password) && e != NULL) && tag != 0)
        *slot_of(a, e) = (struct cached){ .who = e, .tag = tag, .until = now + a->cfg->cache };
    explicit_bzero(buf, sizeof buf);
    if (!ok)
        return HTTP_AUTH_FAILED;
    *user = e->user;
    return HTTP_AUTH_OK;
}
