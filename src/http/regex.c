/* Route patterns through PCRE2 (http/regex.h).
 * Tested by tests/unit/check_http_regex.c. */
#include "http/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/template.h"

/* Backtracking steps one match may take before PCRE2 gives up (its own
 * default is ten times more): a path is at most max_target bytes, and a
 * sane route pattern needs far fewer, so only a runaway one reaches it. */
#define HTTP_REGEX_MATCH_LIMIT 1000000

/* The literal bytes every match starts with, at most this many. */
#define HTTP_REGEX_PREFIX_MAX 32

struct http_regex {
    pcre2_code *code;
    unsigned groups;
    bool jitted;
    /* An anchored pattern's literal start ("^/api/v1/(.*)" gives "/api/v1/"):
     * a path without it is refused with one memcmp instead of a call into
     * PCRE2, which costs some 200 instructions even for a miss at the first
     * byte, so that a long list of regex routes stays cheap. */
    size_t prefix_len;
    char prefix[HTTP_REGEX_PREFIX_MAX];
};

struct http_regex_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
};

/* Does the pattern have '|' outside any group, or something this scan
 * cannot follow (then it says yes, and there is no prefix)? Escapes and
 * character classes (with their [:name:] parts) are skipped; comments,
 * \Q..\E quoting and extended mode ('#') are given up on. The pattern
 * has compiled: its groups and classes are closed. */
static bool may_alternate(const char *p)
{
    int depth = 0;
    if (strstr(p, "\\Q") || strstr(p, "(?#") || strchr(p, '#'))
        return true;
    for (; *p; p++) {
        if (*p == '\\') {
            if (*++p == '\0')
                return true;
        } else if (*p == '[') {
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;            /* a ']' first in a class is literal */
            while (*p && *p != ']') {
                /* [:alpha:] when its ":]" comes before any other ']' */
                const char *end = p[0] == '[' && p[1] == ':' ? strchr(p + 2, ']') : NULL;
                if (end && end > p + 2 && end[-1] == ':')
                    p = end + 1;
                else
                    p += *p == '\\' && p[1] ? 2 : 1;
            }
            if (*p == '\0')
                return true;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')') {
            depth--;
        } else if (*p == '|' && depth <= 0) {
            return true;
        }
    }
    return false;
}

/* The literal start of a pattern anchored with '^' (see struct
 * http_regex): the bytes up to the first that is not plain, less the
 * last one when a quantifier follows it ("^/ab?" may match "/a"). */
static void find_prefix(struct http_regex *re, const char *pattern)
{
    static const char special[] = "\\^$.[]|()?*+{}";
    re->prefix_len = 0;
    if (pattern[0] != '^' || may_alternate(pattern))
        return;
    size_t n = 0;
    const char *p = pattern + 1;
    while (p[n] && !strchr(special, p[n]) && n < HTTP_REGEX_PREFIX_MAX)
        n++;
    if (n > 0 && p[n] && strchr("?*+{", p[n]))
        n--;
    memcpy(re->prefix, p, n);
    re->prefix_len = n;
}

struct http_regex *http_regex_compile(const char *pattern, bool jit, char *why, size_t cap)
{
    struct http_regex *re = calloc(1, sizeof *re);
    if (re == NULL) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    int code;
    PCRE2_SIZE offset;
    /* '$' only at the very end: a decoded path may end in a newline
     * (%0A), and "^/admin$" must not match "/admin\n". */
    re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_DOLLAR_ENDONLY,
                             &code, &offset, NULL);
    if (re->code == NULL) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(code, msg, sizeof msg) < 0)
            snprintf((char *)msg, sizeof msg, "error %d", code);
        snprintf(why, cap, "%s at offset %zu", (const char *)msg, (size_t)offset);
        free(re);
        return NULL;
    }
    uint32_t groups = 0;
    pcre2_pattern_info(re->code, PCRE2_INFO_CAPTURECOUNT, &groups);
    re->groups = groups;
    /* Without JIT support (a build without it, a system that forbids
     * executable memory) PCRE2 says so here, and the interpreter runs. */
    re->jitted = jit && pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0;
    find_prefix(re, pattern);
    return re;
}

void http_regex_free(struct http_regex *re)
{
    if (re == NULL)
        return;
    pcre2_code_free(re->code);
    free(re);
}

unsigned http_regex_groups(const struct http_regex *re)
{
    return re->groups;
}

size_t http_regex_prefix(const struct http_regex *re, const char **prefix)
{
    *prefix = re->prefix;
    return re->prefix_len;
}

bool http_regex_jitted(const struct http_regex *re)
{
    return re->jitted;
}

struct http_regex_scratch *http_regex_scratch_new(unsigned groups)
{
    struct http_regex_scratch *md = calloc(1, sizeof *md);
    if (md == NULL)
        return NULL;
    md->md = pcre2_match_data_create(groups + 1, NULL);
    md->mctx = pcre2_match_context_create(NULL);
    if (md->md == NULL || md->mctx == NULL) {
        http_regex_scratch_free(md);
        return NULL;
    }
    pcre2_set_match_limit(md->mctx, HTTP_REGEX_MATCH_LIMIT);
    return md;
}

void http_regex_scratch_free(struct http_regex_scratch *md)
{
    if (md == NULL)
        return;
    pcre2_match_data_free(md->md);
    pcre2_match_context_free(md->mctx);
    free(md);
}

int http_regex_match(const struct http_regex *re, struct http_regex_scratch *md, const char *s,
                     size_t len, struct http_captures *caps)
{
    if (len < re->prefix_len || memcmp(s, re->prefix, re->prefix_len) != 0)
        return 0;
    /* The JIT's own entry skips the checks pcre2_match() makes first. */
    int rc = re->jitted ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md->md, md->mctx)
                        : pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md->md, md->mctx);
    if (rc < 0)
        return 0;           /* no match, or PCRE2 gave up */
    if (caps == NULL)
        return 1;
    /* rc is the highest group set, plus one (0: more groups than pairs);
     * pairs of groups left unset are PCRE2_UNSET, which is SIZE_MAX. */
    size_t n = rc == 0 ? pcre2_get_ovector_count(md->md) : (size_t)rc;
    if (n > HTTP_CAPTURES_MAX)
        n = HTTP_CAPTURES_MAX;
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md->md);
    caps->subject = s;
    caps->n = n;
    for (size_t i = 0; i < 2 * n; i++)
        caps->ovector[i] = ov[i];
    return 1;
}
