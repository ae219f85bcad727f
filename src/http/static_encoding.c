/* Tested by tests/unit/check_http_static_encoding.c. */
#include "http/static_encoding.h"

#include <string.h>
#include <strings.h>

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* "0", "0.", "0.5", "0.125", "1", "1.000": q times 1000, or -1. */
static int parse_qvalue(const char *s, size_t len)
{
    if (len == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000;
    if (len == 1)
        return q;
    if (s[1] != '.' || len > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

/* The q of the parameters p[0..len) (";q=0.5;x=y"): 1000 when not given,
 * -1 when malformed. */
static int element_q(const char *p, size_t len)
{
    int q = 1000;
    size_t i = 0;
    while (i < len) {
        if (p[i] != ';')
            return -1;
        i++;
        while (i < len && is_ows(p[i]))
            i++;
        size_t start = i;
        while (i < len && p[i] != ';')
            i++;
        size_t end = i;
        while (end > start && is_ows(p[end - 1]))
            end--;
        if (end - start >= 2 && (p[start] == 'q' || p[start] == 'Q') && p[start + 1] == '=')
            q = parse_qvalue(p + start + 2, end - start - 2);
        if (q < 0)
            return -1;
    }
    return q;
}

static int coding_of(const char *name, size_t n)
{
    if (n == 1 && name[0] == '*')
        return STATIC_CODINGS;
    if ((n == 4 && strncasecmp(name, "gzip", 4) == 0) ||
        (n == 6 && strncasecmp(name, "x-gzip", 6) == 0))
        return STATIC_CODING_GZIP;
    if (n == 2 && strncasecmp(name, "br", 2) == 0)
        return STATIC_CODING_BR;
    if (n == 8 && strncasecmp(name, "identity", 8) == 0)
        return STATIC_CODING_IDENTITY;
    return -1;
}

/* One element e[0..len) of the list. */
static void parse_element(struct static_accept *a, const char *e, size_t len)
{
    size_t n = 0;
    while (n < len && e[n] != ';' && !is_ows(e[n]))
        n++;
    int c = coding_of(e, n);
    size_t i = n;
    while (i < len && is_ows(e[i]))
        i++;
    int q = element_q(e + i, len - i);
    if (c < 0 || q < 0)
        return;
    short *slot = c == STATIC_CODINGS ? &a->star : &a->named[c];
    if (q > *slot)      /* named twice: the better one */
        *slot = (short)q;
}

void static_accept_parse(struct static_accept *a, const char *v, size_t len)
{
    for (int c = 0; c < STATIC_CODINGS; c++)
        a->named[c] = -1;
    a->star = -1;
    a->present = false;
    if (v != NULL)
        static_accept_add(a, v, len);
}

void static_accept_add(struct static_accept *a, const char *v, size_t len)
{
    a->present = true;
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && is_ows(v[end - 1]))
            end--;
        if (end > start)
            parse_element(a, v + start, end - start);
    }
}

int static_accept_q(const struct static_accept *a, enum static_coding c)
{
    if (!a->present)
        return c == STATIC_CODING_IDENTITY ? 1000 : 0;
    if (a->named[c] >= 0)
        return a->named[c];
    if (a->star >= 0)
        return a->star;
    return c == STATIC_CODING_IDENTITY ? 1000 : 0;
}

int static_accept_choose(const struct static_accept *a, const enum static_coding *offered,
                         size_t n)
{
    int best = -1;
    /* Identity the field does not rate is acceptable, but any coding the
     * client names with a q above 0 is what it asks for: "gzip;q=0.1"
     * alone still means gzip. */
    bool rated = a->present && (a->named[STATIC_CODING_IDENTITY] >= 0 || a->star >= 0);
    int best_q = rated ? static_accept_q(a, STATIC_CODING_IDENTITY) : 1;
    for (size_t i = 0; i < n; i++) {
        int q = static_accept_q(a, offered[i]);
        if (q == 0)
            continue;
        if (best < 0 ? q >= best_q : q > best_q) {
            best = (int)i;
            best_q = q;
        }
    }
    return best;
}

const char *static_coding_name(enum static_coding c)
{
    switch (c) {
    case STATIC_CODING_GZIP:
        return "gzip";
    case STATIC_CODING_BR:
        return "br";
    default:
        return NULL;
    }
}
