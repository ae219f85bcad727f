/* Request paths (src/http/path.c), beyond the table in check_http_parse:
 * the authority of absolute-form targets, and random targets of dot
 * segments, slashes, escapes, backslashes, NULs, queries and fragments
 * compared with a model that decodes, splits and resolves in separate
 * simple steps, with the properties every accepted path must have (no way
 * above the root, no "." or ".." or empty segment left, no NUL). Every
 * target is read from an exactly sized heap copy, for AddressSanitizer. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/path.h"
#include "tap.h"

/* ------------------------------------------------------------------ */
/* Authority */

START_TEST(authority)
{
    static const struct {
        const char *target;
        int rc;
        const char *auth;
    } rows[] = {
        { "http://b.test:8080/x", 1, "b.test:8080" }, { "https://b.test", 1, "b.test" },
        { "HtTpS://B.test?q", 1, "B.test" }, { "http://h#frag", 1, "h" },
        { "http://[::1]:80/", 1, "[::1]:80" }, { "http://user@h/", 1, "user@h" },
        { "http:///x", 1, "" }, { "http://", 1, "" }, { "http:/x", 0, NULL },
        { "http:", 0, NULL }, { "ftp://h/", 0, NULL }, { "/http://h/", 0, NULL },
        { "*", 0, NULL }, { "h:80", 0, NULL }, { "", 0, NULL }, { "httpx://h/", 0, NULL },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t len = strlen(rows[i].target);
        char *t = malloc(len + 1);
        memcpy(t, rows[i].target, len);            /* no NUL after it */
        const char *auth = NULL;
        size_t auth_len = 99;
        int rc = http_target_authority(t, len, &auth, &auth_len);
        ck_assert_msg(rc == rows[i].rc, "\"%s\": %d", rows[i].target, rc);
        if (rc == 1)
            ck_assert_msg(auth_len == strlen(rows[i].auth) &&
                              memcmp(auth, rows[i].auth, auth_len) == 0 && auth >= t &&
                              auth + auth_len <= t + len,
                          "\"%s\": \"%.*s\"", rows[i].target, (int)auth_len, auth);
        free(t);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* The model */

struct model_out {
    int rc;
    char path[512];
    int slash, backslash;
};

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* Step 1: decode the path part (up to "?" or "#") into bytes, a decoded
 * "/" marked as a separator by sep[]. */
static int model_decode(const char *t, size_t len, char *bytes, bool *sep, size_t *n,
                        struct model_out *m)
{
    size_t end = 0;
    while (end < len && t[end] != '?' && t[end] != '#')
        end++;
    *n = 0;
    for (size_t i = 0; i < end; i++) {
        char c = t[i];
        if (c == '\0')
            return -1;
        if (c == '%') {
            if (i + 2 >= end)
                return -1;
            int hi = hex(t[i + 1]), lo = hex(t[i + 2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return -1;
            c = (char)(hi << 4 | lo);
            if (c == '/')
                m->slash = 1;
            i += 2;
        }
        if (c == '\\')
            m->backslash = 1;
        sep[*n] = c == '/';
        bytes[(*n)++] = c;
    }
    return 0;
}

/* Steps 2 and 3: split at separators and resolve "." and "..". */
static void model(const char *t, size_t len, struct model_out *m)
{
    char bytes[512];
    bool sep[512];
    size_t n;
    memset(m, 0, sizeof *m);
    m->rc = -1;
    if (len == 0 || t[0] != '/' || model_decode(t, len, bytes, sep, &n, m) < 0)
        return;
    const char *seg[256];
    size_t seg_len[256], depth = 0;
    bool trailing = false;
    for (size_t i = 1; i <= n;) {       /* bytes[0] is the leading "/" */
        size_t j = i;
        while (j < n && !sep[j])
            j++;
        const char *s = bytes + i;
        size_t sl = j - i;
        bool dot = sl == 1 && s[0] == '.', dotdot = sl == 2 && s[0] == '.' && s[1] == '.';
        trailing = sl == 0 || dot || dotdot;
        if (dotdot && depth == 0)
            return;
        if (dotdot)
            depth--;
        else if (!trailing) {
            seg[depth] = s;
            seg_len[depth++] = sl;
        }
        i = j + 1;
    }
    size_t w = 0;
    m->path[w++] = '/';
    for (size_t k = 0; k < depth; k++) {
        memcpy(m->path + w, seg[k], seg_len[k]);
        w += seg_len[k];
        if (k + 1 < depth || trailing)
            m->path[w++] = '/';
    }
    m->path[w] = '\0';
    m->rc = 0;
}

/* ------------------------------------------------------------------ */
/* Random targets */

static const char *const tokens[] = {
    "/", "/", "/", "/", "a", "bc", "a", ".", ".", "..", "..", "%2e", "%2E%2e", ".%2e",
    "%2f", "%2F", "\\", "%5c", "%41", "%7e", "\xc3\xa9", "~", " ", "%20", "%3f", "%23",
    "?", "#", "?x=/../..", "%00", "%zz", "%4", "%", "%g1",
};

#define N_TOKENS (sizeof tokens / sizeof tokens[0])

/* "/" then 1 to 12 random tokens, but the rarer error tokens only now and
 * then, so that most targets are accepted. */
static size_t random_target(char *t, size_t cap)
{
    size_t n = 0;
    t[n++] = '/';
    int count = 1 + (int)(random() % 12);
    for (int k = 0; k < count; k++) {
        size_t pick = (size_t)random() % N_TOKENS;
        if (pick >= N_TOKENS - 4 && random() % 8 != 0)
            pick = (size_t)random() % 4;
        size_t l = strlen(tokens[pick]);
        ck_assert_uint_lt(n + l, cap);
        memcpy(t + n, tokens[pick], l);
        n += l;
    }
    /* A literal NUL once in a while. */
    if (random() % 16 == 0)
        t[(size_t)random() % n] = '\0';
    return n;
}

/* What every accepted path is: absolute, no empty, "." or ".." segment,
 * no NUL. */
static void check_shape(const char *out, size_t out_len, const char *target)
{
    ck_assert_msg(out[0] == '/' && strlen(out) == out_len, "\"%s\" -> \"%s\"", target, out);
    for (size_t i = 0; i < out_len; i++) {
        if (out[i] != '/')
            continue;
        const char *s = out + i + 1;
        size_t sl = strcspn(s, "/");
        bool last = s[sl] == '\0';
        ck_assert_msg(!(sl == 0 && !last) && !(sl == 1 && s[0] == '.') &&
                          !(sl == 2 && s[0] == '.' && s[1] == '.'),
                      "\"%s\" -> \"%s\"", target, out);
    }
}

START_TEST(random_against_model)
{
    srandom(31337u + (unsigned)_i);
    char buf[256];
    int accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = random_target(buf, sizeof buf);
        char *target = malloc(len);
        memcpy(target, buf, len);
        struct model_out m;
        model(target, len, &m);
        char *out = malloc(len + 1);
        size_t out_len = 0;
        int slash = -1, backslash = -1;
        int rc = http_path_normalize(target, len, out, len + 1, &out_len, &slash, &backslash);
        ck_assert_msg(rc == m.rc, "\"%.*s\": rc %d, model %d", (int)len, buf, rc, m.rc);
        if (rc == 0) {
            accepted++;
            ck_assert_msg(strcmp(out, m.path) == 0, "\"%.*s\": \"%s\", model \"%s\"", (int)len, buf,
                          out, m.path);
            ck_assert_int_eq(slash, m.slash);
            ck_assert_int_eq(backslash, m.backslash);
            check_shape(out, out_len, buf);
            /* One byte short of the result and its NUL: too small. */
            char *small = malloc(out_len > 0 ? out_len : 1);
            ck_assert_int_eq(http_path_normalize(target, len, small, out_len, &out_len, NULL, NULL),
                             -2);
            free(small);
        }
        free(out);
        free(target);
    }
    ck_assert_int_gt(accepted, 5000);       /* the model was really exercised */
}
END_TEST

/* A NUL, literal or "%00", anywhere in the path is refused; in the query
 * it is never looked at. */
START_TEST(nul_anywhere)
{
    static const char base[] = "/abc/de%41/f.g/";
    const size_t n = sizeof base - 1;
    char t[64], out[64];
    size_t out_len;
    for (size_t i = 1; i <= n; i++) {
        for (int encoded = 0; encoded < 2; encoded++) {
            memcpy(t, base, i);
            size_t len = i;
            memcpy(t + len, encoded ? "%00" : "\0", encoded ? 3 : 1);
            len += encoded ? 3 : 1;
            memcpy(t + len, base + i, n - i);
            len += n - i;
            ck_assert_msg(http_path_normalize(t, len, out, sizeof out, &out_len, NULL, NULL) == -1,
                          "NUL (%s) at %zu accepted", encoded ? "%00" : "literal", i);
        }
    }
    ck_assert_int_eq(http_path_normalize("/a?\0b", 5, out, sizeof out, &out_len, NULL, NULL), 0);
    ck_assert_str_eq(out, "/a");
    ck_assert_int_eq(http_path_normalize("/a#%00", 6, out, sizeof out, &out_len, NULL, NULL), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_path");
    TCase *tc = tcase_create("path");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, authority);
    tcase_add_loop_test(tc, random_against_model, 0, 5);
    tcase_add_test(tc, nul_anywhere);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
