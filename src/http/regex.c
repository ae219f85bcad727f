/* Route patterns through PCRE2 (http/regex.h).
 * Tested by tests/unit/check_http_regex.c. */
#include "http/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/template.h"

/* Backtracking steps one match may take before PCRE2 gives up (its own
 * default is ten times more): a path is at most max_target bytes, and a
 * sane route pattern needs far fewer, so only a runaway one reaches it. */
#define HTTP_REGEX_MATCH_LIMIT 1000000

struct http_regex {
    pcre2_code *code;
    unsigned groups;
    bool jitted;
};

struct http_regex_scratch {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
};

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
