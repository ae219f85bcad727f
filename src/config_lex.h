/* A tokenizer that cuts configuration text exactly as libconfig 1.5's
 * scanner does. herd needs it around libconfig, which tells too little:
 * which @include lines the scanner will open (to check each file before it
 * does, see config_include.h), and where a syntax error it reports really is
 * (config_syntax.h). */
#ifndef HERD_CONFIG_LEX_H
#define HERD_CONFIG_LEX_H

#include <stdbool.h>
#include <stddef.h>

enum config_tok {
    CTOK_END,           /* end of the text */
    CTOK_NAME,
    CTOK_EQUALS,        /* = or : */
    CTOK_COMMA,
    CTOK_SEMICOLON,
    CTOK_GROUP_START,   /* { */
    CTOK_GROUP_END,
    CTOK_ARRAY_START,   /* [ */
    CTOK_ARRAY_END,
    CTOK_LIST_START,    /* ( */
    CTOK_LIST_END,
    CTOK_BOOLEAN,
    CTOK_NUMBER,        /* integer, 64-bit integer, hex or float */
    CTOK_STRING,
    CTOK_INCLUDE,       /* a whole @include "name" directive */
    CTOK_GARBAGE,       /* one byte that no rule takes */
};

/* What the text ended inside of, for a CTOK_END token. */
enum config_unclosed { CUNCLOSED_NONE, CUNCLOSED_STRING, CUNCLOSED_INCLUDE, CUNCLOSED_COMMENT };

struct config_token {
    enum config_tok kind;
    size_t start, end;          /* bytes [start, end) of the text */
    int line;                   /* line of its first byte, from 1 */
    int end_line;               /* line of its last byte (a string may span lines) */
    enum config_unclosed unclosed;  /* CTOK_END: what was left open ... */
    size_t open_at;             /* ... starting at this byte ... */
    int open_line;              /* ... on this line */
};

struct config_lexer {
    const char *text;
    size_t len, pos;
    int line;
    bool bol;                   /* at the beginning of a line (where @include counts) */
};

void config_lex_init(struct config_lexer *lx, const char *text, size_t len);
/* The next token; CTOK_END again and again at the end. */
void config_lex_next(struct config_lexer *lx, struct config_token *t);

/* The file name of a CTOK_INCLUDE token, unescaped as libconfig does it
 * (\\ and \" stand for themselves, a backslash before anything else is
 * dropped). Malloc'ed; NULL when out of memory. */
char *config_lex_include_name(const char *text, const struct config_token *t);

#endif
