/* Explaining libconfig's bare "syntax error". libconfig says only the line
 * where its parser stopped, which is often not where the mistake is (an
 * unclosed quote or brace shows up lines later). This re-reads the text with
 * libconfig's own rules (config_lex.h), finds the token the parser stopped
 * at and what it expected there, and names the likely cause and spot. */
#ifndef HERD_CONFIG_SYNTAX_H
#define HERD_CONFIG_SYNTAX_H

#include <stddef.h>

/* text (len bytes) is the file libconfig reported a syntax error in, at
 * line. Writes into out, without the FILE:LINE prefix:
 *
 *     syntax error: CAUSE
 *        12 | the source line
 *           |        ^
 *
 * the caret under the likely spot. When the re-reading does not stop where
 * libconfig did, it writes "syntax error" and line `line` without a caret. */
void config_syntax_explain(const char *text, size_t len, int line, char *out, size_t cap);

#endif
