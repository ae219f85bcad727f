/* The regular expressions of routes (`regex = "..."`): PCRE2 with 8-bit
 * code units, compiled once when the configuration loads (JIT-compiled
 * where the library and the machine allow it, else PCRE2's interpreter
 * runs them), matched per request against the decoded, normalised path.
 * Patterns match bytes (no UTF mode unless the pattern asks with (*UTF));
 * inline flags such as (?i) work as PCRE2 documents them; '$' matches only
 * at the end of the path (PCRE2_DOLLAR_ENDONLY), never before a final
 * newline that a decoded %0A left there.
 *
 * Matching needs PCRE2 match data: one block is made per routing table
 * (once per worker and server, sized to its pattern with the most groups)
 * and used by every request, so a match allocates nothing. */
#ifndef HERD_HTTP_REGEX_H
#define HERD_HTTP_REGEX_H

#include <stdbool.h>
#include <stddef.h>

struct http_captures;
struct http_regex;
struct http_regex_scratch;

/* Compile pattern; with jit, also for PCRE2's JIT (where that fails, the
 * interpreter matches instead). NULL with the reason in why: PCRE2's
 * message and the offset in the pattern where it stopped ("missing closing
 * parenthesis at offset 7"), or "out of memory". */
struct http_regex *http_regex_compile(const char *pattern, bool jit, char *why, size_t cap);
void http_regex_free(struct http_regex *re);
/* Its capturing groups: the most a template may name is $ that. */
unsigned http_regex_groups(const struct http_regex *re);
/* The literal bytes every match of an anchored pattern starts with
 * ("^/api/(.*)": "/api/"), checked before PCRE2 is asked; 0 when the
 * pattern has none this file can be sure of. */
size_t http_regex_prefix(const struct http_regex *re, const char **prefix);
/* Does it run as JIT-compiled code? */
bool http_regex_jitted(const struct http_regex *re);

/* Match data for patterns of at most groups capturing groups. */
struct http_regex_scratch *http_regex_scratch_new(unsigned groups);
void http_regex_scratch_free(struct http_regex_scratch *md);

/* Does re match s[0..len)? 1 when it does: caps (if not NULL) then holds
 * the whole match and the groups up to $9 as offsets into s. 0 when it
 * does not, and also when PCRE2 gave up (over its match limit: a pattern
 * that backtracks without end must not hold a worker). md was made for at
 * least re's groups. */
int http_regex_match(const struct http_regex *re, struct http_regex_scratch *md, const char *s,
                     size_t len, struct http_captures *caps);

#endif
