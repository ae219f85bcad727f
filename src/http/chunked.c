/* Chunked body decoder: a byte-at-a-time state machine, except that chunk
 * data is handed over in runs.
 *
 * The chunk-size line follows RFC 9112 §7.1.1 exactly:
 *   chunk-size [ chunk-ext ] CRLF
 *   chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   chunk-ext-val = token / quoted-string
 * so whitespace may stand around ";" and "=" but never right before the CR,
 * a name is never empty, and a quoted string must be closed:
 *
 *   SIZE_FIRST -hex-> SIZE -hex-> SIZE
 *     SIZE -SP-> EXT_BWS -';'-> NAME_FIRST -tchar-> NAME
 *     SIZE -';'-> NAME_FIRST -SP-> NAME_FIRST
 *     NAME -SP-> NAME_BWS -'='-> VALUE_FIRST     NAME -'='-> VALUE_FIRST
 *     VALUE_FIRST -SP-> VALUE_FIRST, -tchar-> TOKEN, -DQUOTE-> QUOTED
 *     QUOTED -'\'-> PAIR -any text-> QUOTED;  QUOTED -DQUOTE-> VALUE_END
 *     NAME, NAME_BWS, TOKEN, VALUE_END -';'-> NAME_FIRST
 *     TOKEN, VALUE_END -SP-> EXT_BWS
 *     SIZE, NAME, TOKEN, VALUE_END -CR-> SIZE_LF
 *   SIZE_LF -LF-> DATA (size > 0) | TRAILER_START (size 0)
 *   DATA -all data-> DATA_CR -CR-> DATA_LF -LF-> SIZE_FIRST
 *   TRAILER_START -CR-> END_LF -LF-> DONE
 *                 -tchar-> TRAILER_NAME -':'-> TRAILER_VALUE -CR-> TRAILER_LF
 *                                                   -LF-> TRAILER_START
 * (SP stands for SP or HTAB.) Any other byte leads to ERROR; DONE, ERROR and
 * TOO_LARGE are final.
 */
#include "http/chunked.h"

#include <stdbool.h>
#include <string.h>

/* Chunk extensions are ignored, so there is no reason to let a client make
 * us read much of them; the same goes for trailers. */
#define HTTP_CHUNK_LINE_MAX 4096
#define HTTP_CHUNK_TRAILER_MAX 8192
#define HTTP_CHUNK_SIZE_MAX UINT64_C(0x7fffffffffffffff)

enum http_chunked_state {
    CK_SIZE_FIRST = 0,   /* zero-initialised struct starts here */
    CK_SIZE,
    CK_EXT_BWS,          /* whitespace after the size or a value: ";" next */
    CK_EXT_NAME_FIRST,   /* after ";" */
    CK_EXT_NAME,
    CK_EXT_NAME_BWS,     /* whitespace after a name: "=" or ";" next */
    CK_EXT_VALUE_FIRST,  /* after "=" */
    CK_EXT_TOKEN,
    CK_EXT_QUOTED,
    CK_EXT_PAIR,         /* after a backslash in a quoted string */
    CK_EXT_VALUE_END,    /* after the closing quote */
    CK_SIZE_LF,          /* the last state of the chunk-size line */
    CK_DATA,
    CK_DATA_CR,
    CK_DATA_LF,
    CK_TRAILER_START,
    CK_TRAILER_NAME,
    CK_TRAILER_VALUE,
    CK_TRAILER_LF,
    CK_END_LF,
    CK_DONE,
    CK_ERROR,
    CK_TOO_LARGE,
};

void http_chunked_init(struct http_chunked *c, uint64_t max_body)
{
    memset(c, 0, sizeof(*c));
    c->max_body = max_body;
}

static int http_chunked_hex(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static bool http_chunked_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* VCHAR, obs-text, SP, HTAB: what may appear in a field value or extension. */
static bool http_chunked_text(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

/* Reasons beyond "the byte did not fit the state" (see http_chunked_why). */
enum { CKW_SIZE_BIG = CK_TOO_LARGE + 1, CKW_LINE_LONG, CKW_TRAILER_LONG };

/* Remembers the state the error happened in: that says why. */
static int http_chunked_fail(struct http_chunked *c, int state)
{
    c->why = (uint8_t)c->state;
    c->state = state;
    return state == CK_TOO_LARGE ? HTTP_CHUNKED_TOO_LARGE : HTTP_CHUNKED_ERROR;
}

static int http_chunked_fail_why(struct http_chunked *c, int why)
{
    http_chunked_fail(c, CK_ERROR);
    c->why = (uint8_t)why;
    return HTTP_CHUNKED_ERROR;
}

/* The size is known: refuse it now if the body would grow past the limit. */
static int http_chunked_size_done(struct http_chunked *c, int next)
{
    if (c->max_body != 0 && c->remaining > c->max_body - c->total)
        return http_chunked_fail(c, CK_TOO_LARGE);
    c->state = next;
    return HTTP_CHUNKED_MORE;
}

static int http_chunked_size_digit(struct http_chunked *c, int digit)
{
    if (c->remaining > HTTP_CHUNK_SIZE_MAX >> 4)
        return http_chunked_fail_why(c, CKW_SIZE_BIG);
    c->remaining = c->remaining << 4 | (uint64_t)digit;
    c->state = CK_SIZE;
    return HTTP_CHUNKED_MORE;
}

static bool http_chunked_ws(unsigned char ch)
{
    return ch == ' ' || ch == '\t';
}

/* qdtext: HTAB, SP, VCHAR except DQUOTE and backslash, obs-text. */
static bool http_chunked_qdtext(unsigned char ch)
{
    return http_chunked_text(ch) && ch != '"' && ch != '\\';
}

static int http_chunked_goto(struct http_chunked *c, int state)
{
    c->state = state;
    return HTTP_CHUNKED_MORE;
}

/* What may end a name or a value: ";" (another extension), CR (the end of
 * the line) or whitespace, after which only "=" (names) or ";" may come. */
static int http_chunked_ext_next(struct http_chunked *c, unsigned char ch, int ws_state)
{
    if (http_chunked_ws(ch))
        return http_chunked_goto(c, ws_state);
    if (ch == ';')
        return http_chunked_goto(c, CK_EXT_NAME_FIRST);
    if (ch == '\r')
        return http_chunked_goto(c, CK_SIZE_LF);
    return http_chunked_fail(c, CK_ERROR);
}

/* One byte of the chunk extensions, after the size. */
static int http_chunked_ext_byte(struct http_chunked *c, unsigned char ch)
{
    switch (c->state) {
    case CK_EXT_BWS:
        if (http_chunked_ws(ch))
            return HTTP_CHUNKED_MORE;
        if (ch == ';')
            return http_chunked_goto(c, CK_EXT_NAME_FIRST);
        break;
    case CK_EXT_NAME_FIRST:
        if (http_chunked_ws(ch))
            return HTTP_CHUNKED_MORE;
        if (http_chunked_tchar(ch))
            return http_chunked_goto(c, CK_EXT_NAME);
        break;
    case CK_EXT_NAME:
        if (http_chunked_tchar(ch))
            return HTTP_CHUNKED_MORE;
        if (ch == '=')
            return http_chunked_goto(c, CK_EXT_VALUE_FIRST);
        return http_chunked_ext_next(c, ch, CK_EXT_NAME_BWS);
    case CK_EXT_NAME_BWS:
        if (http_chunked_ws(ch))
            return HTTP_CHUNKED_MORE;
        if (ch == '=')
            return http_chunked_goto(c, CK_EXT_VALUE_FIRST);
        if (ch == ';')
            return http_chunked_goto(c, CK_EXT_NAME_FIRST);
        break;
    case CK_EXT_VALUE_FIRST:
        if (http_chunked_ws(ch))
            return HTTP_CHUNKED_MORE;
        if (ch == '"')
            return http_chunked_goto(c, CK_EXT_QUOTED);
        if (http_chunked_tchar(ch))
            return http_chunked_goto(c, CK_EXT_TOKEN);
        break;
    case CK_EXT_TOKEN:
        if (http_chunked_tchar(ch))
            return HTTP_CHUNKED_MORE;
        return http_chunked_ext_next(c, ch, CK_EXT_BWS);
    case CK_EXT_QUOTED:
        if (ch == '"')
            return http_chunked_goto(c, CK_EXT_VALUE_END);
        if (ch == '\\')
            return http_chunked_goto(c, CK_EXT_PAIR);
        if (http_chunked_qdtext(ch))
            return HTTP_CHUNKED_MORE;
        break;
    case CK_EXT_PAIR:
        if (http_chunked_text(ch))
            return http_chunked_goto(c, CK_EXT_QUOTED);
        break;
    default: /* CK_EXT_VALUE_END */
        return http_chunked_ext_next(c, ch, CK_EXT_BWS);
    }
    return http_chunked_fail(c, CK_ERROR);
}

/* One byte of the chunk-size line. */
static int http_chunked_size_byte(struct http_chunked *c, unsigned char ch)
{
    int digit = http_chunked_hex(ch);

    /* The line's length is counted up to its CR. */
    if (ch != '\r' && c->state != CK_SIZE_LF && ++c->line_len > HTTP_CHUNK_LINE_MAX)
        return http_chunked_fail_why(c, CKW_LINE_LONG);
    switch (c->state) {
    case CK_SIZE_FIRST:
        if (digit < 0)
            return http_chunked_fail(c, CK_ERROR);
        return http_chunked_size_digit(c, digit);
    case CK_SIZE:
        if (digit >= 0)
            return http_chunked_size_digit(c, digit);
        if (http_chunked_ws(ch))
            return http_chunked_size_done(c, CK_EXT_BWS);
        if (ch == ';')
            return http_chunked_size_done(c, CK_EXT_NAME_FIRST);
        if (ch == '\r')
            return http_chunked_size_done(c, CK_SIZE_LF);
        return http_chunked_fail(c, CK_ERROR);
    case CK_SIZE_LF:
        if (ch != '\n')
            return http_chunked_fail(c, CK_ERROR);
        c->line_len = 0;
        c->state = c->remaining == 0 ? CK_TRAILER_START : CK_DATA;
        return HTTP_CHUNKED_MORE;
    default:
        return http_chunked_ext_byte(c, ch);
    }
}

/* One byte of the trailer section, which ends with an empty line. */
static int http_chunked_trailer_byte(struct http_chunked *c, unsigned char ch)
{
    if (++c->trailer_len > HTTP_CHUNK_TRAILER_MAX)
        return http_chunked_fail_why(c, CKW_TRAILER_LONG);
    switch (c->state) {
    case CK_TRAILER_START:
        if (ch == '\r')
            c->state = CK_END_LF;
        else if (http_chunked_tchar(ch))
            c->state = CK_TRAILER_NAME;
        else
            return http_chunked_fail(c, CK_ERROR);   /* includes obs-fold */
        return HTTP_CHUNKED_MORE;
    case CK_TRAILER_NAME:
        if (ch == ':')
            c->state = CK_TRAILER_VALUE;
        else if (!http_chunked_tchar(ch))
            return http_chunked_fail(c, CK_ERROR);
        return HTTP_CHUNKED_MORE;
    case CK_TRAILER_VALUE:
        if (ch == '\r')
            c->state = CK_TRAILER_LF;
        else if (!http_chunked_text(ch))
            return http_chunked_fail(c, CK_ERROR);
        return HTTP_CHUNKED_MORE;
    case CK_TRAILER_LF:
        if (ch != '\n')
            return http_chunked_fail(c, CK_ERROR);
        c->state = CK_TRAILER_START;
        return HTTP_CHUNKED_MORE;
    default: /* CK_END_LF */
        if (ch != '\n')
            return http_chunked_fail(c, CK_ERROR);
        c->state = CK_DONE;
        return HTTP_CHUNKED_DONE;
    }
}

static int http_chunked_byte(struct http_chunked *c, unsigned char ch)
{
    if (c->state <= CK_SIZE_LF)
        return http_chunked_size_byte(c, ch);
    switch (c->state) {
    case CK_DATA_CR:
        if (ch != '\r')
            return http_chunked_fail(c, CK_ERROR);
        c->state = CK_DATA_LF;
        return HTTP_CHUNKED_MORE;
    case CK_DATA_LF:
        if (ch != '\n')
            return http_chunked_fail(c, CK_ERROR);
        c->state = CK_SIZE_FIRST;
        return HTTP_CHUNKED_MORE;
    default:
        return http_chunked_trailer_byte(c, ch);
    }
}

/* Hand over as much of the current chunk's data as `in` holds. */
static size_t http_chunked_data(struct http_chunked *c, const char *in, size_t len,
                                void (*on_data)(void *arg, const char *p, size_t n),
                                void *arg)
{
    size_t n = c->remaining < len ? (size_t)c->remaining : len;

    if (on_data != NULL && n > 0)
        on_data(arg, in, n);
    c->remaining -= n;
    c->total += n;
    if (c->remaining == 0)
        c->state = CK_DATA_CR;
    return n;
}

static int http_chunked_final(const struct http_chunked *c)
{
    switch (c->state) {
    case CK_DONE:
        return HTTP_CHUNKED_DONE;
    case CK_TOO_LARGE:
        return HTTP_CHUNKED_TOO_LARGE;
    default:
        return HTTP_CHUNKED_ERROR;
    }
}

int http_chunked_decode(struct http_chunked *c, const char *in, size_t len,
                        size_t *consumed,
                        void (*on_data)(void *arg, const char *p, size_t n),
                        void *arg)
{
    size_t pos = 0;
    int rc = HTTP_CHUNKED_MORE;

    if (c->state >= CK_DONE) {
        *consumed = 0;
        return http_chunked_final(c);
    }
    while (pos < len) {
        if (c->state == CK_DATA) {
            pos += http_chunked_data(c, in + pos, len - pos, on_data, arg);
            continue;
        }
        rc = http_chunked_byte(c, (unsigned char)in[pos]);
        if (rc < 0)
            break;          /* the offending byte is not consumed */
        pos++;
        if (rc == HTTP_CHUNKED_DONE)
            break;
    }
    *consumed = pos;
    return rc;
}

const char *http_chunked_why(const struct http_chunked *c)
{
    if (c->state == CK_TOO_LARGE)
        return "chunked body larger than max_body";
    if (c->state != CK_ERROR)
        return NULL;
    switch (c->why) {
    case CKW_SIZE_BIG:
        return "chunk size of 2^63 or more";
    case CKW_LINE_LONG:
        return "chunk line longer than 4 KiB";
    case CKW_TRAILER_LONG:
        return "trailer section longer than 8 KiB";
    case CK_SIZE_FIRST:
    case CK_SIZE:
        return "malformed chunk size";
    case CK_SIZE_LF:
        return "bare CR in a chunk line";
    case CK_DATA_CR:
    case CK_DATA_LF:
        return "chunk data not followed by CRLF";
    default:
        return c->why < CK_SIZE_LF ? "malformed chunk extension" : "malformed trailer section";
    }
}
