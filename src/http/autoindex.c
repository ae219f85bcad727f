#include "http/autoindex.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/req.h"

struct entry {
    char *name;
    bool dir;
};

/* The page being built; a failed allocation is remembered, not retried. */
struct page {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void put(struct page *p, const char *s, size_t n)
{
    if (p->failed)
        return;
    if (p->len + n > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (p->len + n > cap)
            cap *= 2;
        char *b = realloc(p->buf, cap);
        if (b == NULL) {
            p->failed = true;
            return;
        }
        p->buf = b;
        p->cap = cap;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
}

static void put_str(struct page *p, const char *s)
{
    put(p, s, strlen(s));
}

/* Text and attribute values: the five characters that could end either. */
static void put_html(struct page *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': put_str(p, "&amp;"); break;
        case '<': put_str(p, "&lt;"); break;
        case '>': put_str(p, "&gt;"); break;
        case '"': put_str(p, "&quot;"); break;
        case '\'': put_str(p, "&#39;"); break;
        default: put(p, s + i, 1);
        }
    }
}

/* One path segment: everything but RFC 3986's unreserved characters is
 * %XX, so ":", "/", "?", "#" and "%" in a name stay part of it. */
static void put_segment(struct page *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            put(p, s, 1);
        } else {
            char esc[3] = { '%', hex[ch >> 4], hex[ch & 15] };
            put(p, esc, 3);
        }
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static void free_entries(struct entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

/* The entries of dirfd but "." and "..", sorted. 0, or an errno value when
 * out of memory or the directory cannot be read. */
static int read_entries(int dirfd, bool hidden, struct entry **out, size_t *count)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (d == NULL) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return err;
    }
    /* The dup shares dirfd's offset: start from the first entry wherever an
     * earlier listing of the same descriptor left it. */
    rewinddir(d);
    struct entry *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int err = 0;
    for (;;) {
        errno = 0;
        if ((de = readdir(d)) == NULL)
            break;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_name[0] == '.' && !hidden)
            continue;
        struct stat s;
        if (fstatat(dirfd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            struct entry *nv = realloc(v, cap * sizeof *nv);
            if (nv == NULL) {
                err = ENOMEM;
                goto fail;
            }
            v = nv;
        }
        v[n].name = strdup(de->d_name);
        if (v[n].name == NULL) {
            err = ENOMEM;
            goto fail;
        }
        v[n++].dir = S_ISDIR(s.st_mode);
    }
    if (errno != 0) {           /* readdir failed rather than ended */
        err = errno;
        goto fail;
    }
    closedir(d);
    if (n > 0)
        qsort(v, n, sizeof *v, by_name);
    *out = v;
    *count = n;
    return 0;
fail:
    closedir(d);
    free_entries(v, n);
    return err;
}

static void build_page(struct page *p, const struct http_req *r, const struct entry *v,
                       size_t n)
{
    put_str(p, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of ");
    put_html(p, r->path, r->path_len);
    put_str(p, "</title></head>\n<body><h1>Index of ");
    put_html(p, r->path, r->path_len);
    put_str(p, "</h1><hr><pre>\n");
    if (r->path_len > 1)
        put_str(p, "<a href=\"../\">../</a>\n");
    for (size_t i = 0; i < n; i++) {
        /* "./" first: a name like "javascript:x" must not read as a scheme. */
        put_str(p, "<a href=\"./");
        put_segment(p, v[i].name);
        put_str(p, v[i].dir ? "/\">" : "\">");
        put_html(p, v[i].name, strlen(v[i].name));
        put_str(p, v[i].dir ? "/</a>\n" : "</a>\n");
    }
    put_str(p, "</pre><hr></body></html>\n");
}

int http_autoindex_send(struct http_req *req, int dirfd, bool hidden)
{
    struct entry *v = NULL;
    size_t n = 0;
    struct page p = { 0 };

    int err = read_entries(dirfd, hidden, &v, &n);
    if (err != 0)
        return err;
    build_page(&p, req, v, n);
    free_entries(v, n);
    if (p.failed) {
        free(p.buf);
        return ENOMEM;
    }
    struct http_head h = { .status = 200, .type = "text/html; charset=utf-8",
                           .length = (int64_t)p.len };
    http_req_respond(req, &h, p.buf, p.len);
    free(p.buf);
    return 0;
}
