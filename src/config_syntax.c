/* A parser with libconfig 1.5's grammar (lib/grammar.y), used only to find
 * where and why libconfig's parser gave up:
 *
 *     settings := { NAME (=|:) value [;|,] }
 *     value    := scalar | [ scalars ] | ( values ) | { settings }
 *     scalar   := BOOLEAN | NUMBER | STRING { STRING }
 *
 * with comma-separated elements and no trailing comma. The first token it
 * cannot take, what it wanted there and the innermost open bracket give the
 * cause; the tokens around it give the spot for the caret. */
#include "config_syntax.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_lex.h"

/* Deeper nesting than this is not a configuration anyone wrote by hand:
 * give up on explaining rather than recurse without bound. */
#define MAX_DEPTH 200
#define NONE SIZE_MAX

enum want {
    W_SETTING,      /* a setting name, or the end of the group / file */
    W_EQUALS,       /* '=' after a name */
    W_VALUE,        /* a value after '=' */
    W_ARRAY_ELEM,   /* a scalar after '[' or ',' */
    W_ARRAY_SEP,    /* ',' or ']' after an array element */
    W_LIST_ELEM,    /* a value after '(' or ',' */
    W_LIST_SEP,     /* ',' or ')' after a list element */
};

struct parser {
    const char *text;
    size_t len;
    struct config_token *tok;
    size_t n, i;
    /* the first error */
    bool failed, gave_up;
    enum want want;
    size_t at;          /* the token it stopped at */
    size_t opener;      /* the innermost open bracket, or NONE */
};

static int tokenize(struct parser *p)
{
    struct config_lexer lx;
    config_lex_init(&lx, p->text, p->len);
    size_t cap = 0;
    for (;;) {
        if (p->n == cap) {
            cap = cap ? cap * 2 : 256;
            struct config_token *t = realloc(p->tok, cap * sizeof *t);
            if (t == NULL)
                return -1;
            p->tok = t;
        }
        config_lex_next(&lx, &p->tok[p->n]);
        /* The parser never sees an @include: the file is spliced in. */
        if (p->tok[p->n].kind == CTOK_INCLUDE)
            continue;
        if (p->tok[p->n++].kind == CTOK_END)
            return 0;
    }
}

static enum config_tok kind(const struct parser *p)
{
    return p->tok[p->i].kind;
}

static int fail(struct parser *p, enum want want, size_t opener)
{
    p->failed = true;
    p->want = want;
    p->at = p->i;
    p->opener = opener;
    return -1;
}

static bool is_scalar(enum config_tok k)
{
    return k == CTOK_BOOLEAN || k == CTOK_NUMBER || k == CTOK_STRING;
}

static int parse_settings(struct parser *p, enum config_tok closer, size_t opener, int depth);

static void take_scalar(struct parser *p)
{
    if (kind(p) == CTOK_STRING)
        while (kind(p) == CTOK_STRING)      /* adjacent strings are one value */
            p->i++;
    else
        p->i++;
}

static int parse_array(struct parser *p, size_t opener)
{
    if (kind(p) == CTOK_ARRAY_END) {
        p->i++;
        return 0;
    }
    for (;;) {
        if (!is_scalar(kind(p)))
            return fail(p, W_ARRAY_ELEM, opener);
        take_scalar(p);
        if (kind(p) == CTOK_ARRAY_END) {
            p->i++;
            return 0;
        }
        if (kind(p) != CTOK_COMMA)
            return fail(p, W_ARRAY_SEP, opener);
        p->i++;
    }
}

static int parse_value(struct parser *p, enum want want, size_t opener, int depth);

static int parse_list(struct parser *p, size_t opener, int depth)
{
    if (kind(p) == CTOK_LIST_END) {
        p->i++;
        return 0;
    }
    for (;;) {
        if (parse_value(p, W_LIST_ELEM, opener, depth) < 0)
            return -1;
        if (kind(p) == CTOK_LIST_END) {
            p->i++;
            return 0;
        }
        if (kind(p) != CTOK_COMMA)
            return fail(p, W_LIST_SEP, opener);
        p->i++;
    }
}

static int parse_value(struct parser *p, enum want want, size_t opener, int depth)
{
    size_t here = p->i;
    if (depth > MAX_DEPTH) {
        p->gave_up = true;
        return -1;
    }
    switch (kind(p)) {
    case CTOK_BOOLEAN:
    case CTOK_NUMBER:
    case CTOK_STRING:
        take_scalar(p);
        return 0;
    case CTOK_ARRAY_START:
        p->i++;
        return parse_array(p, here);
    case CTOK_LIST_START:
        p->i++;
        return parse_list(p, here, depth + 1);
    case CTOK_GROUP_START:
        p->i++;
        return parse_settings(p, CTOK_GROUP_END, here, depth + 1);
    default:
        return fail(p, want, opener);
    }
}

static int parse_settings(struct parser *p, enum config_tok closer, size_t opener, int depth)
{
    for (;;) {
        if (kind(p) == closer) {
            if (closer != CTOK_END)
                p->i++;
            return 0;
        }
        if (kind(p) != CTOK_NAME)
            return fail(p, W_SETTING, opener);
        p->i++;
        if (kind(p) != CTOK_EQUALS)
            return fail(p, W_EQUALS, opener);
        p->i++;
        if (parse_value(p, W_VALUE, opener, depth) < 0)
            return -1;
        if (kind(p) == CTOK_SEMICOLON || kind(p) == CTOK_COMMA)
            p->i++;
    }
}

/* ------------------------------------------------------------------ */
/* The explanation */

struct why {
    char cause[256];
    size_t caret;       /* byte offset the caret points at */
};

static void say(struct why *w, size_t caret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(struct why *w, size_t caret, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->cause, sizeof w->cause, fmt, ap);
    va_end(ap);
    w->caret = caret;
}

static const struct config_token *tok_at(const struct parser *p, size_t i)
{
    return i < p->n ? &p->tok[i] : NULL;
}

static char closer_of(char opener)
{
    return opener == '{' ? '}' : opener == '[' ? ']' : ')';
}

static char opener_of(char closer)
{
    return closer == '}' ? '{' : closer == ']' ? '[' : '(';
}

/* A short quotation of a token's text: "'}'", "'herd'", "end of file". */
static void quote(const struct parser *p, const struct config_token *t, char *buf, size_t cap)
{
    if (t->kind == CTOK_END) {
        snprintf(buf, cap, "end of file");
        return;
    }
    unsigned char c = (unsigned char)p->text[t->start];
    if (t->end - t->start == 1 && (c < 0x20 || c >= 0x7f)) {
        snprintf(buf, cap, c >= 0x80 ? "byte 0x%02x (only a string may hold non-ASCII text)"
                                     : "byte 0x%02x", c);
        return;
    }
    int n = (int)(t->end - t->start);
    const char *nl = memchr(p->text + t->start, '\n', t->end - t->start);
    if (nl)
        n = (int)(nl - (p->text + t->start));
    if (n > 40)
        n = 40;
    snprintf(buf, cap, "'%.*s%s'", n, p->text + t->start,
             n < (int)(t->end - t->start) ? "..." : "");
}

/* At most this many bytes of a name quoted in a message. */
#define CLIP 40

static int clip(const struct config_token *t)
{
    return t->end - t->start > CLIP ? CLIP : (int)(t->end - t->start);
}

static const char *ellipsis(const struct config_token *t)
{
    return t->end - t->start > CLIP ? "..." : "";
}

static bool starts_value(enum config_tok k)
{
    return is_scalar(k) || k == CTOK_NAME || k == CTOK_ARRAY_START || k == CTOK_LIST_START ||
           k == CTOK_GROUP_START;
}

/* The text ended inside a string, an @include name or a comment. */
static bool explain_unclosed(const struct config_token *t, struct why *w)
{
    switch (t->unclosed) {
    case CUNCLOSED_STRING:
        say(w, t->open_at, "unclosed string: this quote is never closed");
        return true;
    case CUNCLOSED_INCLUDE:
        say(w, t->open_at, "unclosed string: the file name of this @include is never closed");
        return true;
    case CUNCLOSED_COMMENT:
        say(w, t->open_at, "the file ends inside this comment (missing '*/'?)");
        return true;
    default:
        return false;
    }
}

/* A string that runs over a line end, just before the stop: almost always
 * a quote left open, which swallowed text up to the next quote. */
static bool explain_long_string(const struct parser *p, struct why *w)
{
    for (size_t i = p->at > 3 ? p->at - 3 : 0; i <= p->at; i++) {
        const struct config_token *t = &p->tok[i];
        if (t->kind == CTOK_STRING && t->end_line > t->line) {
            say(w, t->start, "unclosed string? the string that starts here ends only at "
                "line %d", t->end_line);
            return true;
        }
    }
    return false;
}

/* A word right after a string, and a quote left open at the end of the
 * file: the quotes are out of step, most likely from this string on. */
static bool explain_odd_quotes(const struct parser *p, struct why *w)
{
    const struct config_token *t = &p->tok[p->at], *prev = p->at ? &p->tok[p->at - 1] : NULL;
    if (p->tok[p->n - 1].unclosed != CUNCLOSED_STRING || prev == NULL ||
        prev->kind != CTOK_STRING || prev->end_line != t->line ||
        (t->kind != CTOK_NAME && t->kind != CTOK_NUMBER && t->kind != CTOK_BOOLEAN))
        return false;
    say(w, prev->start, "unclosed string? the quotes from this string on do not pair up");
    return true;
}

static bool explain_garbage(const struct parser *p, const struct config_token *t,
                            struct why *w)
{
    const char *s = p->text + t->start;
    size_t rest = p->len - t->start;
    if (t->kind != CTOK_GARBAGE)
        return false;
    if (rest >= 8 && memcmp(s, "@include", 8) == 0)
        say(w, t->start, "@include must start a line and be followed by a blank and a "
            "quoted file name");
    else if ((s[0] == '#' || (s[0] == '/' && rest > 1 && s[1] == '/')) &&
             memchr(s, '\n', rest) == NULL)
        say(w, t->start, "a comment on the last line needs a line break after it "
            "(libconfig 1.5)");
    else if (p->want == W_VALUE || p->want == W_ARRAY_ELEM || p->want == W_LIST_ELEM) {
        char q[64];
        quote(p, t, q, sizeof q);
        say(w, t->start, "unexpected %s: a string value must be in double quotes", q);
    } else {
        char q[64];
        quote(p, t, q, sizeof q);
        say(w, t->start, "unexpected %s", q);
    }
    return true;
}

/* A closing bracket or the end of the file where something else was due. */
static bool explain_close(const struct parser *p, const struct config_token *t,
                          const struct config_token *open, struct why *w)
{
    char c = t->kind == CTOK_END ? 0 : p->text[t->start];
    if (c != '}' && c != ']' && c != ')')
        return false;
    if (open == NULL) {
        say(w, t->start, "unexpected '%c': no '%c' is open here (one '%c' too many?)", c,
            opener_of(c), c);
        return true;
    }
    char o = p->text[open->start];
    say(w, t->start, "unexpected '%c': the '%c' at line %d is still open (missing '%c'?)", c,
        o, open->line, closer_of(o));
    return true;
}

/* Elements of an array or list next to each other, or a ';' between them. */
static void explain_separator(const struct parser *p, const struct config_token *t,
                              const struct config_token *prev,
                              const struct config_token *open, struct why *w)
{
    const char *what = p->want == W_ARRAY_SEP ? "array" : "list";
    char o = p->text[open->start];
    if (starts_value(t->kind)) {
        if (prev->end_line < t->line)
            say(w, prev->end, "missing ',' at the end of line %d? (%s elements are separated "
                "by ',')", prev->end_line, what);
        else
            say(w, prev->end, "missing ',' between %s elements?", what);
        return;
    }
    const struct config_token *next = tok_at(p, p->at + 1);
    const struct config_token *after = tok_at(p, p->at + 2);
    bool setting_follows = next && after && next->kind == CTOK_NAME &&
                           after->kind == CTOK_EQUALS;
    bool semicolon = t->kind == CTOK_SEMICOLON && next && next->kind != CTOK_END;
    if (semicolon && p->text[next->start] == closer_of(o))
        say(w, t->start, "unexpected ';' before '%c': nothing follows the last %s element",
            closer_of(o), what);
    else if (semicolon && !setting_follows)
        say(w, t->start, "%s elements are separated by ',', not ';'", what);
    else
        say(w, t->start, "missing '%c' to close the '%c' at line %d?", closer_of(o), o,
            open->line);
}

static void explain_element(const struct parser *p, const struct config_token *t,
                            const struct config_token *prev, struct why *w)
{
    char closer = p->want == W_ARRAY_ELEM ? ']' : ')';
    const struct config_token *next = tok_at(p, p->at + 1);
    char q[64];
    quote(p, t, q, sizeof q);
    bool opened = prev->kind == CTOK_ARRAY_START || prev->kind == CTOK_LIST_START;
    if (opened && (t->kind == CTOK_SEMICOLON || t->kind == CTOK_GROUP_END ||
                   t->kind == CTOK_LIST_END || t->kind == CTOK_ARRAY_END))
        say(w, t->start, "missing '%c' to close the '%c' at line %d?", closer,
            p->text[prev->start], prev->line);
    else if (prev->kind == CTOK_COMMA && p->text[t->start] == closer)
        say(w, prev->start, "a ',' before '%c' is not allowed (libconfig 1.5)", closer);
    else if (p->want == W_ARRAY_ELEM && (t->kind == CTOK_GROUP_START ||
                                         t->kind == CTOK_LIST_START ||
                                         t->kind == CTOK_ARRAY_START))
        say(w, t->start, "an array [ ] holds only numbers, strings or booleans; groups "
            "and lists go in a list ( )");
    else if (t->kind == CTOK_NAME && next && next->kind == CTOK_EQUALS)
        say(w, t->start, "a list holds values, not settings: put settings in a group { }");
    else if (t->kind == CTOK_NAME)
        say(w, t->start, "a string value must be in double quotes: \"%.*s%s\"", clip(t),
            p->text + t->start, ellipsis(t));
    else
        say(w, prev->kind == CTOK_COMMA ? prev->start : t->start,
            "unexpected %s: a value must follow '%c'", q, p->text[prev->start]);
}

static void explain_setting(const struct parser *p, const struct config_token *t,
                            struct why *w)
{
    const struct config_token *next = tok_at(p, p->at + 1);
    char q[64];
    quote(p, t, q, sizeof q);
    if (t->kind == CTOK_SEMICOLON || t->kind == CTOK_COMMA)
        say(w, t->start, "unexpected '%c' (one too many?)", p->text[t->start]);
    else if (t->kind == CTOK_STRING && next && next->kind == CTOK_EQUALS)
        say(w, t->start, "a setting name is written without quotes");
    else if (t->kind == CTOK_EQUALS)
        say(w, t->start, "unexpected '%c': a setting name must come first",
            p->text[t->start]);
    else
        say(w, t->start, "expected a setting (name = value;), not %s", q);
}

static void explain_equals(const struct parser *p, const struct config_token *t,
                           struct why *w)
{
    const struct config_token *name = &p->tok[p->at - 1];
    const struct config_token *before = p->at >= 2 ? &p->tok[p->at - 2] : NULL;
    if (before && before->kind == CTOK_NUMBER && before->end == name->start) {
        /* 64k, 10s: libconfig reads a number and a name. */
        int n = (int)(name->end - before->start);
        say(w, before->start, "a number with a unit must be a string: write \"%.*s%s\"",
            n > CLIP ? CLIP : n, p->text + before->start, n > CLIP ? "..." : "");
    } else if (starts_value(t->kind)) {
        say(w, name->end, "missing '=' after '%.*s%s'?", clip(name), p->text + name->start,
            ellipsis(name));
    } else {
        char q[64];
        quote(p, t, q, sizeof q);
        say(w, name->end, "expected '=' after '%.*s%s', not %s", clip(name),
            p->text + name->start, ellipsis(name), q);
    }
}

static void explain_value(const struct parser *p, const struct config_token *t,
                          const struct config_token *prev, struct why *w)
{
    if (t->kind == CTOK_NAME)
        say(w, t->start, "a string value must be in double quotes: \"%.*s%s\"", clip(t),
            p->text + t->start, ellipsis(t));
    else if (t->kind == CTOK_EQUALS)
        say(w, t->start, "one '%c' too many", p->text[t->start]);
    else
        say(w, t->line == prev->line ? t->start : prev->end, "missing value after '%c'",
            p->text[prev->start]);
}

static void explain(const struct parser *p, struct why *w)
{
    const struct config_token *t = &p->tok[p->at];
    const struct config_token *prev = p->at > 0 ? &p->tok[p->at - 1] : t;
    const struct config_token *open = p->opener == NONE ? NULL : &p->tok[p->opener];

    /* A string over a line end first: its missing quote is what leaves the
     * next quote unclosed. */
    if (explain_long_string(p, w) || explain_odd_quotes(p, w) || explain_unclosed(t, w) ||
        explain_garbage(p, t, w))
        return;
    if (t->kind == CTOK_END && open) {
        char o = p->text[open->start];
        say(w, open->start, "the file ends inside this '%c' (missing '%c'?)", o, closer_of(o));
        return;
    }
    switch (p->want) {
    case W_SETTING:
        if (!explain_close(p, t, open, w))
            explain_setting(p, t, w);
        return;
    case W_EQUALS:
        explain_equals(p, t, w);
        return;
    case W_VALUE:
        explain_value(p, t, prev, w);
        return;
    case W_ARRAY_SEP:
    case W_LIST_SEP:
        explain_separator(p, t, prev, open, w);
        return;
    case W_ARRAY_ELEM:
    case W_LIST_ELEM:
        explain_element(p, t, prev, w);
        return;
    }
}

/* ------------------------------------------------------------------ */
/* The source line with a caret under byte `caret` (NONE: no caret). */

struct out {
    char *buf;
    size_t cap, n;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    if (o->n >= o->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->n, o->cap - o->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        o->n = o->n + (size_t)k < o->cap ? o->n + (size_t)k : o->cap - 1;
}

#define SHOW_MAX 100        /* bytes of a long line shown around the caret */

static void show_line(struct out *o, const char *text, size_t len, int line, size_t caret)
{
    size_t start = 0;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(text + start, '\n', len - start);
        if (nl == NULL)
            return;
        start = (size_t)(nl - text) + 1;
    }
    const char *nl = memchr(text + start, '\n', len - start);
    size_t end = nl ? (size_t)(nl - text) : len;
    while (end > start && text[end - 1] == '\r')
        end--;
    size_t from = start, to = end;
    if (caret != NONE && caret > start + SHOW_MAX - 20)
        from = caret - (SHOW_MAX - 20);
    if (to - from > SHOW_MAX)
        to = from + SHOW_MAX;
    /* Step back to the first byte of a UTF-8 character. */
    while (from > start && ((unsigned char)text[from] & 0xc0) == 0x80)
        from--;
    put(o, "\n%6d | %s", line, from > start ? "..." : "");
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)text[i];
        put(o, "%c", c < 0x20 && c != '\t' ? ' ' : (char)c);
    }
    put(o, "%s", to < end ? "..." : "");
    if (caret == NONE || caret < from || caret > to)
        return;
    put(o, "\n       | %s", from > start ? "   " : "");
    /* Blanks under each character, tabs kept so the caret lines up. */
    for (size_t i = from; i < caret; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c & 0xc0) != 0x80)
            put(o, "%c", c == '\t' ? '\t' : ' ');
    }
    put(o, "^");
}

static int line_of(const char *text, size_t len, size_t at)
{
    int line = 1;
    for (size_t i = 0; i < at && i < len; i++)
        line += text[i] == '\n';
    return line;
}

void config_syntax_explain(const char *text, size_t len, int line, char *out, size_t cap)
{
    struct parser p = { .text = text, .len = len };
    struct out o = { out, cap, 0 };
    struct why w = { "", NONE };
    if (cap == 0)
        return;
    out[0] = '\0';
    if (tokenize(&p) == 0 && parse_settings(&p, CTOK_END, NONE, 0) < 0 && p.failed &&
        !p.gave_up && p.tok[p.at].end_line == line)
        explain(&p, &w);
    free(p.tok);
    if (w.cause[0] == '\0') {
        put(&o, "syntax error");
        show_line(&o, text, len, line, NONE);
        return;
    }
    put(&o, "syntax error: %s", w.cause);
    show_line(&o, text, len, line_of(text, len, w.caret), w.caret);
}
