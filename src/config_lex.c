/* libconfig 1.5's scanner (lib/scanner.l) rewritten by hand, rule for rule:
 * the same longest match, the same rule order on ties, the same quirks (a
 * comment on the last line counts only when a newline follows it; @include
 * counts only at the start of a line, after blanks). Values are not
 * converted: only where each token starts and ends matters here. */
#include "config_lex.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void config_lex_init(struct config_lexer *lx, const char *text, size_t len)
{
    lx->text = text;
    lx->len = len;
    lx->pos = 0;
    lx->line = 1;
    lx->bol = true;
}

static int at(const struct config_lexer *lx, size_t i)
{
    return i < lx->len ? (unsigned char)lx->text[i] : -1;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(int c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Move to byte `to`, counting the newlines passed. */
static void advance(struct config_lexer *lx, size_t to)
{
    for (; lx->pos < to; lx->pos++)
        if (lx->text[lx->pos] == '\n')
            lx->line++;
    lx->bol = to > 0 && lx->text[to - 1] == '\n';
}

static size_t digits(const struct config_lexer *lx, size_t i)
{
    while (is_digit(at(lx, i)))
        i++;
    return i;
}

/* [eE][-+]?[0-9]+ at i: the end of it, or i when there is none. */
static size_t exponent(const struct config_lexer *lx, size_t i)
{
    if (at(lx, i) != 'e' && at(lx, i) != 'E')
        return i;
    size_t j = i + 1;
    if (at(lx, j) == '+' || at(lx, j) == '-')
        j++;
    return is_digit(at(lx, j)) ? digits(lx, j) : i;
}

static size_t long_suffix(const struct config_lexer *lx, size_t i)
{
    if (at(lx, i) == 'L') {
        i++;
        if (at(lx, i) == 'L')
            i++;
    }
    return i;
}

/* The longest of the integer, integer64, hex, hex64 and float rules at p;
 * 0 when none matches. */
static size_t number_length(const struct config_lexer *lx, size_t p)
{
    size_t best = 0;
    if (at(lx, p) == '0' && (at(lx, p + 1) == 'x' || at(lx, p + 1) == 'X') &&
        is_hex(at(lx, p + 2))) {
        size_t e = p + 2;
        while (is_hex(at(lx, e)))
            e++;
        best = long_suffix(lx, e) - p;
    }
    size_t i = p;
    if (at(lx, i) == '+' || at(lx, i) == '-')
        i++;
    size_t d = digits(lx, i);
    if (d > i && long_suffix(lx, d) - p > best)
        best = long_suffix(lx, d) - p;
    size_t f = 0;
    if (at(lx, d) == '.')
        f = exponent(lx, digits(lx, d + 1));
    else if (d > i && exponent(lx, d) > d)
        f = exponent(lx, d);
    if (f > p && f - p > best)
        best = f - p;
    return best;
}

static size_t name_end(const struct config_lexer *lx, size_t p)
{
    size_t e = p + 1;
    for (int c = at(lx, e); is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '*';
         c = at(lx, ++e))
        ;
    return e;
}

/* From just after an opening quote to just after the closing one; 0 when
 * the text ends first. A backslash hides a following quote or backslash. */
static size_t quoted_end(const struct config_lexer *lx, size_t i)
{
    while (i < lx->len) {
        char c = lx->text[i];
        if (c == '"')
            return i + 1;
        i += c == '\\' && (at(lx, i + 1) == '"' || at(lx, i + 1) == '\\') ? 2 : 1;
    }
    return 0;
}

/* ^[ \t]*@include[ \t]+\" at the current position: the byte after the
 * quote, or 0. */
static size_t include_open(const struct config_lexer *lx, size_t *at_sign)
{
    if (!lx->bol)
        return 0;
    size_t i = lx->pos;
    while (at(lx, i) == ' ' || at(lx, i) == '\t')
        i++;
    *at_sign = i;
    if (lx->len - i < 8 || memcmp(lx->text + i, "@include", 8) != 0)
        return 0;
    size_t j = i + 8;
    if (at(lx, j) != ' ' && at(lx, j) != '\t')
        return 0;
    while (at(lx, j) == ' ' || at(lx, j) == '\t')
        j++;
    return at(lx, j) == '"' ? j + 1 : 0;
}

static void finish(struct config_lexer *lx, struct config_token *t, enum config_tok kind,
                   size_t start, size_t end)
{
    advance(lx, start);
    t->kind = kind;
    t->start = start;
    t->line = lx->line;
    advance(lx, end);
    t->end = end;
    t->end_line = end > start && lx->text[end - 1] == '\n' ? lx->line - 1 : lx->line;
}

/* The text ends inside something opened at `open`. */
static void finish_open(struct config_lexer *lx, struct config_token *t,
                        enum config_unclosed what, size_t open)
{
    advance(lx, open);
    t->open_line = lx->line;
    t->open_at = open;
    t->unclosed = what;
    finish(lx, t, CTOK_END, lx->len, lx->len);
}

static enum config_tok punctuation(int c)
{
    switch (c) {
    case '=': case ':': return CTOK_EQUALS;
    case ',': return CTOK_COMMA;
    case ';': return CTOK_SEMICOLON;
    case '{': return CTOK_GROUP_START;
    case '}': return CTOK_GROUP_END;
    case '[': return CTOK_ARRAY_START;
    case ']': return CTOK_ARRAY_END;
    case '(': return CTOK_LIST_START;
    case ')': return CTOK_LIST_END;
    default: return CTOK_GARBAGE;
    }
}

/* Skip blanks and comments; false when the text ends inside a comment. */
static bool skip_space(struct config_lexer *lx, struct config_token *t)
{
    for (;;) {
        size_t p = lx->pos, dummy;
        int c = at(lx, p);
        if (include_open(lx, &dummy))
            return true;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
            advance(lx, p + 1);
        } else if (c == '/' && at(lx, p + 1) == '*') {
            const char *close = memmem(lx->text + p + 2, lx->len - p - 2, "*/", 2);
            if (close == NULL) {
                finish_open(lx, t, CUNCLOSED_COMMENT, p);
                return false;
            }
            advance(lx, (size_t)(close - lx->text) + 2);
        } else if (c == '#' || (c == '/' && at(lx, p + 1) == '/')) {
            /* (#|//).*$ : the $ needs a newline after it. */
            const char *nl = memchr(lx->text + p, '\n', lx->len - p);
            if (nl == NULL)
                return true;
            advance(lx, (size_t)(nl - lx->text));
        } else {
            return true;
        }
    }
}

void config_lex_next(struct config_lexer *lx, struct config_token *t)
{
    memset(t, 0, sizeof *t);
    if (!skip_space(lx, t))
        return;
    size_t p = lx->pos, at_sign, e;
    int c = at(lx, p);
    if (c < 0) {
        finish(lx, t, CTOK_END, p, p);
    } else if ((e = include_open(lx, &at_sign)) > 0) {
        size_t close = quoted_end(lx, e);
        if (close == 0)
            finish_open(lx, t, CUNCLOSED_INCLUDE, at_sign);
        else
            finish(lx, t, CTOK_INCLUDE, at_sign, close);
    } else if (c == '"') {
        size_t close = quoted_end(lx, p + 1);
        if (close == 0)
            finish_open(lx, t, CUNCLOSED_STRING, p);
        else
            finish(lx, t, CTOK_STRING, p, close);
    } else if ((e = number_length(lx, p)) > 0) {
        finish(lx, t, CTOK_NUMBER, p, p + e);
    } else if (is_alpha(c) || c == '*') {
        e = name_end(lx, p);
        bool boolean = (e - p == 4 && strncasecmp(lx->text + p, "true", 4) == 0) ||
                       (e - p == 5 && strncasecmp(lx->text + p, "false", 5) == 0);
        finish(lx, t, boolean ? CTOK_BOOLEAN : CTOK_NAME, p, e);
    } else {
        finish(lx, t, punctuation(c), p, p + 1);
    }
}

char *config_lex_include_name(const char *text, const struct config_token *t)
{
    const char *q = memchr(text + t->start, '"', t->end - t->start);
    if (q == NULL)
        return NULL;
    const char *end = text + t->end - 1;     /* the closing quote */
    char *name = malloc((size_t)(end - q));
    if (name == NULL)
        return NULL;
    size_t n = 0;
    for (const char *p = q + 1; p < end; p++) {
        /* No rule takes a lone backslash: flex's default rule echoes it
         * away and the name goes on without it. */
        if (*p == '\\' && p + 1 < end && (p[1] == '\\' || p[1] == '"'))
            p++;
        else if (*p == '\\')
            continue;
        name[n++] = *p;
    }
    name[n] = '\0';
    return name;
}
