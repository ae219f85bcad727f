/* Path normalisation. Decoding and dot-segment removal happen in one pass
 * over the target: each decoded byte is appended to out, and when a segment
 * ends it is judged on its decoded bytes, so "%2e%2e" is "..", exactly as the
 * file system would see it. out holds "/" followed by finished segments,
 * each with its "/", and then the segment being read. */
#include "http/path.h"

#include <stdbool.h>
#include <string.h>

struct http_path_out {
    char *buf;
    size_t cap;
    size_t w;        /* bytes written */
    size_t seg;      /* start of the segment being read */
};

static bool http_path_prefix(const char *s, size_t len, const char *lower)
{
    size_t n = strlen(lower);

    if (len < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + ('a' - 'A'));
        if (c != (unsigned char)lower[i])
            return false;
    }
    return true;
}

int http_target_authority(const char *t, size_t len, const char **auth, size_t *auth_len)
{
    size_t skip;

    if (http_path_prefix(t, len, "http://"))
        skip = 7;
    else if (http_path_prefix(t, len, "https://"))
        skip = 8;
    else
        return 0;
    const char *stop = t + len, *q = t + skip;
    while (q < stop && *q != '/' && *q != '?' && *q != '#')
        q++;
    *auth = t + skip;
    *auth_len = (size_t)(q - *auth);
    return 1;
}

/* Find the path of the target: [*p, *end) is empty or starts with "/". */
static int http_path_locate(const char *t, size_t len, const char **p, const char **end)
{
    const char *stop = t + len, *auth;
    size_t auth_len;

    if (len > 0 && t[0] == '/') {
        *p = t;
    } else {
        if (!http_target_authority(t, len, &auth, &auth_len) || auth_len == 0)
            return -1;
        *p = auth + auth_len;
    }
    for (*end = *p; *end < stop && **end != '?' && **end != '#'; (*end)++)
        ;
    return 0;
}

static int http_path_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decode one byte at *p; *encoded tells whether it came from %XX. */
static int http_path_decode(const char **p, const char *end, unsigned char *ch, bool *encoded)
{
    const char *s = *p;

    *encoded = *s == '%';
    if (!*encoded) {
        /* The parser lets no NUL through; callers holding other input must
         * not get one either, since the result is used as a C string. */
        if (*s == '\0')
            return -1;
        *ch = (unsigned char)*s;
        *p = s + 1;
        return 0;
    }
    if (end - s < 3)
        return -1;
    int hi = http_path_hex((unsigned char)s[1]), lo = http_path_hex((unsigned char)s[2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return -1;
    *ch = (unsigned char)(hi << 4 | lo);
    *p = s + 3;
    return 0;
}

static int http_path_put(struct http_path_out *o, char c)
{
    if (o->w + 2 > o->cap)          /* keep room for the NUL */
        return -2;
    o->buf[o->w++] = c;
    return 0;
}

/* The segment [seg, w) ended, by a separator if `more`. */
static int http_path_end_segment(struct http_path_out *o, bool more)
{
    const char *s = o->buf + o->seg;
    size_t n = o->w - o->seg;

    if (n == 0)
        return 0;                       /* "//": collapse */
    if (n == 1 && s[0] == '.') {
        o->w = o->seg;
        return 0;
    }
    if (n == 2 && s[0] == '.' && s[1] == '.') {
        if (o->seg == 1)
            return -1;                  /* above the root */
        size_t i = o->seg - 1;          /* the "/" before "..": drop it and
                                           the segment before it */
        while (o->buf[i - 1] != '/')
            i--;
        o->w = i;
        return 0;
    }
    return more ? http_path_put(o, '/') : 0;
}

int http_path_normalize(const char *target, size_t len, char *out, size_t out_cap,
                        size_t *out_len, int *had_encoded_slash, int *had_backslash)
{
    struct http_path_out o = { .buf = out, .cap = out_cap, .w = 0, .seg = 1 };
    const char *p, *end;
    int rc;

    if (had_encoded_slash != NULL)
        *had_encoded_slash = 0;
    if (had_backslash != NULL)
        *had_backslash = 0;
    if (http_path_locate(target, len, &p, &end) != 0)
        return -1;
    if ((rc = http_path_put(&o, '/')) != 0)
        return rc;
    if (p < end)
        p++;                            /* the leading "/" is out[0] */

    while (p < end) {
        unsigned char ch;
        bool encoded;

        if (http_path_decode(&p, end, &ch, &encoded) != 0)
            return -1;
        if (ch == '/') {
            if (encoded && had_encoded_slash != NULL)
                *had_encoded_slash = 1;
            if ((rc = http_path_end_segment(&o, true)) != 0)
                return rc;
            o.seg = o.w;
            continue;
        }
        if (ch == '\\' && had_backslash != NULL)
            *had_backslash = 1;
        if ((rc = http_path_put(&o, (char)ch)) != 0)
            return rc;
    }
    if ((rc = http_path_end_segment(&o, false)) != 0)
        return rc;
    out[o.w] = '\0';
    *out_len = o.w;
    return 0;
}
