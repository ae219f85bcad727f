/* Tested by tests/unit/check_http_static_variant.c and
 * tests/integration/test_compress.py. */
#include "http/static_variant.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/request.h"
#include "http/static_gzip.h"
#include "log.h"

/* How a coding on offer is made. */
enum made { MADE_SIBLING, MADE_ON_THE_FLY };

void static_variants_init(struct static_variants *sv, const struct cfg_static *st,
                          const struct cfg_compress *c)
{
    memset(sv, 0, sizeof *sv);
    sv->compress = c;
    for (size_t i = 0; i < st->precompressed.n && sv->n_pre < STATIC_CODINGS; i++)
        sv->pre[sv->n_pre++] = strcmp(st->precompressed.v[i], "br") == 0 ? STATIC_CODING_BR
                                                                          : STATIC_CODING_GZIP;
}

bool static_variants_negotiable(const struct static_variants *sv, const struct static_cache *c,
                                const struct static_file *fi)
{
    if (sv->n_pre > 0)
        return true;
    return static_gzip_applies(sv->compress, fi->type, fi->size) &&
           static_cache_fits(c, fi->size);
}

/* The entity-tag of an encoding of a file: its own with "-gz" or "-br"
 * before the closing quote, so that no two representations share one. */
static void etag_for(char *etag, size_t cap, const char *ext)
{
    size_t n = strlen(etag);
    if (n < 2 || n + strlen(ext) + 1 >= cap)
        return;
    snprintf(etag + n - 1, cap - (n - 1), "-%s\"", ext);
}

static const char *ext_of(enum static_coding c)
{
    return c == STATIC_CODING_BR ? "br" : "gz";
}

static bool older(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* The sibling "key.gz" or "key.br" of the file orig: used when it is a
 * regular file not older than orig (a sibling left from before the file
 * changed is stale). One found missing is remembered with the file's cache
 * entry ce (when it has one), so that a site without siblings does not pay
 * an open per request. */
static bool sibling(struct static_variants *sv, struct static_cache *cache, const char *key,
                    const struct static_entry *ce, const struct static_file *orig,
                    enum static_coding c, int64_t now, struct static_variant *out)
{
    unsigned bit = 1u << c;
    if (ce && (ce->absent & bit))
        return false;
    int n = snprintf(sv->key, sizeof sv->key, "%s.%s", key, ext_of(c));
    if (n < 0 || (size_t)n >= sizeof sv->key)
        return false;
    const struct static_entry *e = static_cache_lookup(cache, sv->key, now);
    if (e) {
        if (older(&e->info.mtime, &orig->mtime))
            goto absent;
        out->info = e->info;
        out->data = e->data;
        out->fd = -1;
        return true;
    }
    int fd = static_cache_open(cache->root_fd, sv->key);
    if (fd < 0)
        goto absent;
    struct stat s;
    if (fstat(fd, &s) < 0 || !S_ISREG(s.st_mode) || older(&s.st_mtim, &orig->mtime)) {
        close(fd);
        goto absent;
    }
    static_cache_describe(&out->info, &s, orig->type);
    out->data = NULL;
    out->fd = fd;
    if (static_cache_fits(cache, out->info.size) &&
        (e = static_cache_insert(cache, sv->key, fd, &out->info, now)) != NULL) {
        close(fd);
        out->data = e->data;
        out->fd = -1;
    }
    return true;
absent:
    if (ce)
        static_cache_note_absent(ce, bit);
    return false;
}

/* The gzip of the cached file e, made once and kept with it. */
static bool on_the_fly(const struct static_variants *sv, struct static_cache *cache,
                       const char *key, const struct static_entry *e, struct static_variant *out)
{
    if (e->gz_len == 0) {
        size_t len = 0;
        char *gz = static_gzip_deflate(e->data, (size_t)e->info.size, (int)sv->compress->level,
                                       &len);
        static_cache_keep_gzip(cache, e, gz, (int64_t)len);
        log_msg(LOG_DEBUG, "compress: gzip of \"%s\": %lld -> %lld bytes%s", key,
                (long long)e->info.size, gz ? (long long)len : (long long)e->info.size,
                gz ? "" : " (not smaller: sent as it is)");
    }
    if (e->gz_len < 0)
        return false;
    out->info = e->info;
    out->info.size = e->gz_len;
    out->data = e->gz;
    out->fd = -1;
    return true;
}

bool static_variants_pick(struct static_variants *sv, struct static_cache *cache,
                          const struct http_request *head, const char *key,
                          const struct static_entry *e, const struct static_file *fi,
                          int64_t now, struct static_variant *out)
{
    struct static_accept acc;
    static_accept_parse(&acc, NULL, 0);
    for (size_t i = 0; i < head->num_headers; i++)     /* every line of the field */
        if (http_name_is(&head->headers[i], "accept-encoding"))
            static_accept_add(&acc, head->headers[i].value, head->headers[i].value_len);
    if (!acc.present || http_find_header(head, "range") != NULL)
        return false;
    enum static_coding offered[STATIC_CODINGS + 1];
    enum made how[STATIC_CODINGS + 1];
    size_t n = 0;
    for (size_t i = 0; i < sv->n_pre; i++) {
        offered[n] = sv->pre[i];
        how[n++] = MADE_SIBLING;
    }
    if (e && static_gzip_applies(sv->compress, fi->type, fi->size)) {
        offered[n] = STATIC_CODING_GZIP;
        how[n++] = MADE_ON_THE_FLY;
    }
    /* fi may be e's: a sibling put in the cache may evict e. */
    const struct static_file orig = *fi;
    for (;;) {
        int i = static_accept_choose(&acc, offered, n);
        if (i < 0)
            return false;
        bool ok = how[i] == MADE_SIBLING
                      ? sibling(sv, cache, key, e, &orig, offered[i], now, out)
                      : on_the_fly(sv, cache, key, e, out);
        if (ok) {
            out->info.type = orig.type;
            out->encoding = static_coding_name(offered[i]);
            etag_for(out->info.etag, sizeof out->info.etag, ext_of(offered[i]));
            return true;
        }
        /* Not available in that coding: choose among the rest. */
        memmove(offered + i, offered + i + 1, (n - (size_t)i - 1) * sizeof *offered);
        memmove(how + i, how + i + 1, (n - (size_t)i - 1) * sizeof *how);
        n--;
    }
}

int static_variants_check(struct cfg_ctx *ctx, const config_setting_t *group,
                          const struct cfg_static *st)
{
    const config_setting_t *at = config_setting_get_member(group, "precompressed");
    for (size_t i = 0; i < st->precompressed.n; i++) {
        const char *v = st->precompressed.v[i];
        if (strcmp(v, "br") != 0 && strcmp(v, "gz") != 0)
            return cfg_fail(ctx, at, "'precompressed': \"%s\" is not \"br\" or \"gz\" (the "
                            "extensions of the sibling files served)", v);
        for (size_t j = 0; j < i; j++)
            if (strcmp(v, st->precompressed.v[j]) == 0)
                return cfg_fail(ctx, at, "'precompressed': \"%s\" is listed twice", v);
    }
    return 0;
}
