/* Tested by tests/unit/check_http_static_cond.c. */
#include "http/static_cond.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "http/request.h"

static bool parse_http_date(const char *s, size_t len, time_t *out)
{
    static const char *const formats[] = {
        "%a, %d %b %Y %H:%M:%S GMT",    /* IMF-fixdate */
        "%A, %d-%b-%y %H:%M:%S GMT",    /* RFC 850 */
        "%a %b %e %H:%M:%S %Y",         /* asctime */
    };
    char buf[64];
    if (len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm = { 0 };
        const char *end = strptime(buf, formats[i], &tm);
        if (end && *end == '\0') {
            *out = timegm(&tm);
            return true;
        }
    }
    return false;
}

/* Does the comma-separated entity-tag list match etag (weak comparison)? */
static bool etag_list_matches(const char *v, size_t len, const char *etag)
{
    size_t elen = strlen(etag);
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        if (i < len && v[i] == '*')
            return true;
        if (i + 2 <= len && v[i] == 'W' && v[i + 1] == '/')
            i += 2;
        size_t start = i;
        while (i < len && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == elen && memcmp(v + start, etag, elen) == 0)
            return true;
    }
    return false;
}

bool static_cond_not_modified(const struct http_request *req, const struct static_file *fi)
{
    const struct http_header *inm = http_find_header(req, "if-none-match");
    if (inm)
        return etag_list_matches(inm->value, inm->value_len, fi->etag);
    const struct http_header *ims = http_find_header(req, "if-modified-since");
    time_t t;
    if (ims && parse_http_date(ims->value, ims->value_len, &t))
        return fi->mtime.tv_sec <= t;
    return false;
}

static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 18)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

enum static_range static_cond_range(const char *v, size_t len, int64_t size, int64_t *off,
                                    int64_t *end)
{
    if (len < 7 || strncasecmp(v, "bytes=", 6) != 0 || memchr(v, ',', len))
        return STATIC_RANGE_NONE;
    const char *spec = v + 6;
    size_t n = len - 6;
    const char *dash = memchr(spec, '-', n);
    if (dash == NULL)
        return STATIC_RANGE_NONE;
    size_t a_len = (size_t)(dash - spec), b_len = n - a_len - 1;
    uint64_t a, b;
    if (a_len == 0) {
        if (!parse_u64(dash + 1, b_len, &b))
            return STATIC_RANGE_NONE;
        if (b == 0)
            return STATIC_RANGE_UNSATISFIABLE;
        *off = (int64_t)b >= size ? 0 : size - (int64_t)b;
        *end = size;
        return size > 0 ? STATIC_RANGE_OK : STATIC_RANGE_UNSATISFIABLE;
    }
    if (!parse_u64(spec, a_len, &a))
        return STATIC_RANGE_NONE;
    if (b_len == 0) {
        b = UINT64_MAX;
    } else if (!parse_u64(dash + 1, b_len, &b) || b < a) {
        return STATIC_RANGE_NONE;
    }
    if ((int64_t)a >= size)
        return STATIC_RANGE_UNSATISFIABLE;
    *off = (int64_t)a;
    *end = b >= (uint64_t)size ? size : (int64_t)b + 1;
    return STATIC_RANGE_OK;
}

bool static_cond_if_range(const struct http_request *req, const struct static_file *fi)
{
    const struct http_header *h = http_find_header(req, "if-range");
    if (h == NULL)
        return true;
    if (h->value_len > 0 && (h->value[0] == '"' || h->value[0] == 'W'))
        return h->value_len == strlen(fi->etag) && memcmp(h->value, fi->etag, h->value_len) == 0;
    return h->value_len == HTTP_DATE_LEN && memcmp(h->value, fi->last_modified, HTTP_DATE_LEN) == 0;
}
