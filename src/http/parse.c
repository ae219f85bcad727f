/* Request-head parser.
 *
 * The head is scanned strictly left to right and every decision (an error, or
 * "complete") is taken at one byte position that depends only on the bytes
 * before it. That is what makes the parser safe to call on any prefix: a
 * prefix either stops short of the deciding byte (PARTIAL) or contains it
 * (same answer as the whole). Running out of bytes at position
 * max_header_size is itself such a decision (431).
 *
 * Resuming with last_len: bytes [0, last_len) are known to be a valid
 * incomplete head, so the scan can go on from last_len once it knows where it
 * was: in the method, target or version (from the spaces of the request
 * line), or in a field line's name or value (from its first colon), and how
 * many fields came before. All of that comes from memchr over the old bytes,
 * so a head trickling in costs little per call. When the
 * scan reaches the blank line the head is parsed again from the start to
 * fill in the pointers, which happens once per request.
 *
 * The field lines, the version token and the resumption inside the fields
 * are shared with the upstream response parser (parse_response.c) through
 * parse_scan.h, so both parsers apply the same rules.
 */
#include "http/parse.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include "http/parse_scan.h"

/* Clients sometimes send a CRLF after a request body; RFC 9112 §2.2 lets a
 * server skip at least one empty line before the request line. */
#define HTTP_LEADING_EMPTY_LINES 2

#define HTTP_REQUEST_TOO_LARGE "request head larger than max_header_size"

const unsigned char http_class[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,  /* 0x00 */
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x10 */
     2, 15, 14, 15, 15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15, 14,  /* 0x20 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14, 14, 14, 14, 14,  /* 0x30 */
    14, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  /* 0x40 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14, 14, 15, 15,  /* 0x50 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  /* 0x60 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 15, 14, 15,  0,  /* 0x70 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0x80 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0x90 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xa0 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xb0 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xc0 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xd0 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xe0 */
    10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10,  /* 0xf0 */
};

struct http_request_line {
    const char *method;
    size_t method_len;
    const char *target;
    size_t target_len;
    int minor_version;
};

/* Cold: keeps the scanners small enough to be inlined on the hot path. */
__attribute__((cold, noinline))
int http_fail(const struct http_scan *s, int status, const char *why)
{
    *s->status = status;
    if (s->why != NULL)
        *s->why = why;
    return HTTP_PARSE_ERROR;
}

/* The scan wants byte `end`: either it has not arrived yet, or the head is
 * already longer than max_header_size. */
int http_out_of_bytes(const struct http_scan *s)
{
    if (s->end >= s->max)
        return http_fail(s, 431, s->too_large);
    return HTTP_PARSE_PARTIAL;
}

int http_expect(const struct http_scan *s, size_t *pos, char want, const char *why)
{
    if (*pos == s->end)
        return http_out_of_bytes(s);
    if (s->buf[*pos] != want)
        return http_fail(s, 400, why);
    ++*pos;
    return 0;
}

static int http_scan_leading_empty_lines(const struct http_scan *s, size_t *pos)
{
    for (int n = 0; n < HTTP_LEADING_EMPTY_LINES; n++) {
        if (*pos == s->end)
            return http_out_of_bytes(s);
        if (s->buf[*pos] != '\r')
            return 0;
        ++*pos;
        int rc = http_expect(s, pos, '\n', "bare CR before the request line");
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The method that began at `start`, scanned on from *pos. */
static int http_scan_method(const struct http_scan *s, size_t start, size_t *pos,
                            struct http_request_line *rl)
{
    for (;;) {
        if (*pos == s->end)
            return http_out_of_bytes(s);
        unsigned char c = (unsigned char)s->buf[*pos];
        if (c == ' ')
            break;
        if (!http_is(c, HTTP_C_TCHAR))
            return http_fail(s, 400, "invalid character in the method");
        ++*pos;
    }
    if (*pos == start)
        return http_fail(s, 400, "empty method");
    rl->method = s->buf + start;
    rl->method_len = *pos - start;
    ++*pos;
    return 0;
}

/* The target that began at `start`, scanned on from *pos. */
static int http_scan_target(const struct http_scan *s, size_t start, size_t *pos,
                            struct http_request_line *rl)
{
    for (;;) {
        if (*pos == s->end)
            return http_out_of_bytes(s);
        unsigned char c = (unsigned char)s->buf[*pos];
        if (c == ' ')
            break;
        if (!http_is(c, HTTP_C_VCHAR))
            return http_fail(s, 400, "invalid character in the request target");
        /* Decided on the first byte beyond the limit, before the head ends,
         * so a client streaming an endless target gets 414 early. */
        if (*pos - start == s->max_target)
            return http_fail(s, 414, "request target longer than max_target");
        ++*pos;
    }
    if (*pos == start)
        return http_fail(s, 400, "empty request target");
    rl->target = s->buf + start;
    rl->target_len = *pos - start;
    ++*pos;
    return 0;
}

int http_expect_digit(const struct http_scan *s, size_t *pos, char *digit, const char *why)
{
    if (*pos == s->end)
        return http_out_of_bytes(s);
    char c = s->buf[*pos];
    if (c < '0' || c > '9')
        return http_fail(s, 400, why);
    *digit = c;
    ++*pos;
    return 0;
}

int http_scan_version_token(const struct http_scan *s, size_t *pos, char *major, char *minor)
{
    static const char prefix[] = "HTTP/";
    static const char bad[] = "malformed HTTP version";
    int rc;

    for (size_t i = 0; i < sizeof(prefix) - 1; i++)
        if ((rc = http_expect(s, pos, prefix[i], bad)) != 0)
            return rc;
    if ((rc = http_expect_digit(s, pos, major, bad)) != 0 ||
        (rc = http_expect(s, pos, '.', bad)) != 0 ||
        (rc = http_expect_digit(s, pos, minor, bad)) != 0)
        return rc;
    return 0;
}

int http_version_judge(const struct http_scan *s, char major, char minor, int *minor_version)
{
    if (major == '0')
        return http_fail(s, 400, "HTTP version 0.x");
    if (major != '1')
        return http_fail(s, 505, "HTTP version other than 1.x");
    /* 1.2 and later minors are 1.1-compatible by definition (RFC 9110 §2.5). */
    *minor_version = minor == '0' ? 0 : 1;
    return 0;
}

/* "HTTP/" DIGIT "." DIGIT CRLF. The version is judged only once the whole
 * line is known to be well formed, so "HTTP/2.0x" is 400, not 505. */
static int http_scan_version(const struct http_scan *s, size_t *pos,
                             struct http_request_line *rl)
{
    static const char common[] = "HTTP/1.1\r\n";
    char major = 0, minor = 0;   /* set by http_scan_version_token before use */
    int rc;

    /* Nearly every request: one comparison, the answer the scan below
     * would give (all ten bytes are there, so nothing is partial). */
    if (s->end - *pos >= sizeof common - 1 &&
        memcmp(s->buf + *pos, common, sizeof common - 1) == 0) {
        *pos += sizeof common - 1;
        rl->minor_version = 1;
        return 0;
    }

    if ((rc = http_scan_version_token(s, pos, &major, &minor)) != 0 ||
        (rc = http_expect(s, pos, '\r', "malformed HTTP version")) != 0 ||
        (rc = http_expect(s, pos, '\n', "bare CR in the request line")) != 0)
        return rc;
    return http_version_judge(s, major, minor, &rl->minor_version);
}

static int http_scan_request_line(const struct http_scan *s, size_t *pos,
                                  struct http_request_line *rl)
{
    int rc;

    if ((rc = http_scan_leading_empty_lines(s, pos)) != 0 ||
        (rc = http_scan_method(s, *pos, pos, rl)) != 0 ||
        (rc = http_scan_target(s, *pos, pos, rl)) != 0 ||
        (rc = http_scan_version(s, pos, rl)) != 0)
        return rc;
    return 0;
}

/* The field name that began at `start`, scanned on from *pos. */
static int http_scan_field_name(const struct http_scan *s, size_t start, size_t *pos,
                                struct http_header *h)
{
    /* Token bytes in a tight loop (':' is not one), then the byte that
     * stopped it. */
    const char *buf = s->buf;
    size_t p = *pos, end = s->end;
    while (p < end && http_is((unsigned char)buf[p], HTTP_C_TCHAR))
        p++;
    *pos = p;
    if (p == end)
        return http_out_of_bytes(s);
    /* Includes whitespace before the colon (RFC 9112 §5.1: must reject). */
    if (buf[p] != ':')
        return http_fail(s, 400, "invalid character in a field name");
    if (*pos == start)
        return http_fail(s, 400, "empty field name");
    h->name = s->buf + start;
    h->name_len = *pos - start;
    ++*pos;
    return 0;
}

static int http_scan_field_value(const struct http_scan *s, size_t *pos,
                                 struct http_header *h)
{
    for (;;) {
        if (*pos == s->end)
            return http_out_of_bytes(s);
        char c = s->buf[*pos];
        if (c != ' ' && c != '\t')
            break;
        ++*pos;
    }

    const char *buf = s->buf;
    size_t p = *pos, end = s->end;
    size_t start = p, value_end = p;
    for (;;) {
        /* The bulk of a value in a tight loop: visible bytes, each
         * ending the value so far (every few bytes a space). */
        size_t q = p;
        while (q < end && http_is((unsigned char)buf[q], HTTP_C_VTEXT))
            q++;
        if (q > p)
            value_end = q;
        p = q;
        if (p == end) {
            *pos = p;
            return http_out_of_bytes(s);
        }
        unsigned char c = (unsigned char)buf[p];
        if (c == '\r')
            break;
        /* Rejects NUL, LF (a bare LF would end the line for some peers and
         * not others) and the other controls. */
        if (c != ' ' && c != '\t') {
            *pos = p;
            return http_fail(s, 400, "invalid character in a field value");
        }
        p++;
    }
    *pos = p + 1;
    int rc = http_expect(s, pos, '\n', "bare CR in a field line");
    if (rc != 0)
        return rc;
    h->value = s->buf + start;
    h->value_len = value_end - start;
    return 0;
}

/* Out of line for the response parser; the request's own calls above and
 * below keep theirs inlined. */
int http_scan_value(const struct http_scan *s, size_t *pos, struct http_header *h)
{
    return http_scan_field_value(s, pos, h);
}

/* Field lines through the blank line (parse_scan.h). */
int http_scan_fields(const struct http_scan *s, size_t *pos, struct http_header *headers,
                     size_t *count)
{
    for (;;) {
        if (*pos == s->end)
            return http_out_of_bytes(s);
        char c = s->buf[*pos];
        if (c == '\r') {
            ++*pos;
            return http_expect(s, pos, '\n', "bare CR at the end of the head");
        }
        /* obs-fold, or whitespace between the request line and the first
         * field: both must be rejected by a server (RFC 9112 §2.2, §5.2). */
        if (c == ' ' || c == '\t')
            return http_fail(s, 400, "obs-fold or whitespace before a field name");
        if (*count >= s->max_fields)
            return http_fail(s, 431, "more header fields than max_headers");

        struct http_header h;
        int rc = http_scan_field_name(s, *pos, pos, &h);
        if (rc == 0)
            rc = http_scan_field_value(s, pos, &h);
        if (rc != 0)
            return rc;
        if (headers != NULL)
            headers[*count] = h;
        ++*count;
    }
}

static int http_parse_full(const struct http_scan *s, struct http_request *req)
{
    struct http_request_line rl;
    size_t pos = 0, count = 0;
    int rc;

    if ((rc = http_scan_request_line(s, &pos, &rl)) != 0 ||
        (rc = http_scan_fields(s, &pos, req->headers, &count)) != 0)
        return rc;

    req->method = rl.method;
    req->method_len = rl.method_len;
    req->target = rl.target;
    req->target_len = rl.target_len;
    req->minor_version = rl.minor_version;
    req->num_headers = count;
    return (int)pos;
}

/* memchr, because this runs over the old bytes on every call. */
size_t http_count_lines(const char *buf, size_t n, size_t *last_line)
{
    const char *p = buf, *end = buf + n;
    size_t count = 0;

    *last_line = 0;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        count++;
        p++;
        *last_line = (size_t)(p - buf);
    }
    return count;
}

static size_t http_leading_empty_lines(const char *buf, size_t len)
{
    size_t n = 0;

    while (n < HTTP_LEADING_EMPTY_LINES && 2 * n + 1 < len &&
           buf[2 * n] == '\r' && buf[2 * n + 1] == '\n')
        n++;
    return n;
}

/* Finish the request line begun in the old bytes, scanning the method or
 * the target on from last_len (the spaces seen tell which); the version is
 * short and scanned whole. HTTP_RESUME_FULL while the old bytes may still
 * be leading empty lines. */
static int http_finish_request_line(const struct http_scan *s, size_t last_len, size_t *pos)
{
    const char *buf = s->buf;
    struct http_request_line scratch;
    size_t start = 2 * http_leading_empty_lines(buf, last_len);

    if (start >= last_len || buf[start] == '\r')
        return HTTP_RESUME_FULL;
    *pos = last_len;

    const char *sp = memchr(buf + start, ' ', last_len - start);
    if (sp == NULL) {
        int rc = http_scan_method(s, start, pos, &scratch);
        if (rc == 0)
            rc = http_scan_target(s, *pos, pos, &scratch);
        if (rc != 0)
            return rc;
    } else {
        size_t target = (size_t)(sp - buf) + 1;
        sp = memchr(buf + target, ' ', last_len - target);
        if (sp != NULL) {
            *pos = (size_t)(sp - buf) + 1;
        } else {
            int rc = http_scan_target(s, target, pos, &scratch);
            if (rc != 0)
                return rc;
        }
    }
    return http_scan_version(s, pos, &scratch);
}

/* Finish the field line that began at `line` in the old bytes, scanning
 * only from last_len: bytes before it passed already, and the first colon
 * tells whether the name or the value was being read. */
static int http_finish_field_line(const struct http_scan *s, size_t line, size_t last_len,
                                  size_t *pos)
{
    const char *buf = s->buf;
    struct http_header scratch;
    int rc = 0;

    if (memchr(buf + line, ':', last_len - line) == NULL) {
        *pos = last_len;
        rc = http_scan_field_name(s, line, pos, &scratch);
    } else {
        /* A CR already seen must still be followed by LF. */
        *pos = buf[last_len - 1] == '\r' ? last_len - 1 : last_len;
    }
    if (rc == 0)
        rc = http_scan_field_value(s, pos, &scratch);
    return rc;
}

int http_resume_fields(const struct http_scan *s, size_t last_len, size_t line, size_t count)
{
    const char *buf = s->buf;
    size_t pos = line;
    int rc = 0;

    /* The last line was empty: only possible if the caller passed the
     * last_len of a complete head. */
    if (line >= 2 && buf[line - 2] == '\r' && (line == 2 || buf[line - 3] == '\n'))
        return HTTP_RESUME_FULL;
    if (line < last_len && buf[line] != '\r') {
        rc = http_finish_field_line(s, line, last_len, &pos);
        count++;
    }
    return http_resume_from(s, rc, pos, count);
}

int http_resume_from(const struct http_scan *s, int rc, size_t pos, size_t count)
{
    if (rc == 0)
        rc = http_scan_fields(s, &pos, NULL, &count);
    return rc == 0 ? HTTP_RESUME_FULL : rc;
}

/* Validate only what follows bytes [0, last_len), which are known to be a
 * valid incomplete head. Returns PARTIAL, ERROR, or HTTP_RESUME_FULL when
 * that shortcut does not apply or the head turned out complete. */
static int http_parse_resume(const struct http_scan *s, size_t last_len)
{
    const char *buf = s->buf;
    size_t line;
    size_t lines = http_count_lines(buf, last_len, &line);
    size_t skipped = http_leading_empty_lines(buf, last_len) + 1;  /* + request line */

    if (lines >= skipped)
        return http_resume_fields(s, last_len, line, lines - skipped);

    size_t pos = line;
    int rc = http_finish_request_line(s, last_len, &pos);
    return http_resume_from(s, rc, pos, 0);
}

const char *http_parse_why(const char *buf, size_t len, const struct http_limits *lim)
{
    size_t max = lim->max_header_size < INT_MAX ? lim->max_header_size : INT_MAX;
    int status = 0;
    const char *why = NULL;
    struct http_scan s = {
        .buf = buf,
        .end = len < max ? len : max,
        .max = max,
        .max_target = lim->max_target,
        .max_fields = lim->max_headers,
        .status = &status,
        .why = &why,
        .too_large = HTTP_REQUEST_TOO_LARGE,
    };
    struct http_request req = { .headers = NULL };

    /* From the start, without resuming: the same answer (see above). */
    http_parse_full(&s, &req);
    return why;
}

int http_parse_request(const char *buf, size_t len, size_t last_len,
                       struct http_request *req, const struct http_limits *lim,
                       int *status)
{
    /* The head length is returned as an int. */
    size_t max = lim->max_header_size < INT_MAX ? lim->max_header_size : INT_MAX;
    struct http_scan s = {
        .buf = buf,
        .end = len < max ? len : max,
        .max = max,
        .max_target = lim->max_target,
        .max_fields = lim->max_headers < req->num_headers ? lim->max_headers
                                                           : req->num_headers,
        .status = status,
        .too_large = HTTP_REQUEST_TOO_LARGE,
    };

    if (last_len > 0 && last_len <= s.end) {
        int rc = http_parse_resume(&s, last_len);
        if (rc != HTTP_RESUME_FULL)
            return rc;
    }
    return http_parse_full(&s, req);
}
