#include "config_include.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_lex.h"

static int not_regular(const struct stat *st, char *why, size_t whycap)
{
    snprintf(why, whycap, "%s", S_ISDIR(st->st_mode) ? strerror(EISDIR) : "not a regular file");
    errno = S_ISDIR(st->st_mode) ? EISDIR : EINVAL;
    return -1;
}

static int read_all(int fd, size_t hint, char **text, size_t *len)
{
    size_t cap = hint + 1, n = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return -1;
    for (;;) {
        if (n + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL)
                goto fail;
            buf = bigger;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
fail:
    free(buf);
    return -1;
}

/* The file's identity comes back in *st, for the cycle check. */
static int read_regular(const char *path, char **text, size_t *len, struct stat *st,
                        char *why, size_t whycap)
{
    *text = NULL;
    *len = 0;
    /* Look before opening: opening some devices already does something. */
    if (stat(path, st) == 0 && !S_ISREG(st->st_mode))
        return not_regular(st, why, whycap);
    /* Then open without blocking (a FIFO swapped in meanwhile) and check
     * what was opened. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        goto fail;
    if (fstat(fd, st) < 0)
        goto fail;
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return not_regular(st, why, whycap);
    }
    if (read_all(fd, (size_t)st->st_size, text, len) < 0)
        goto fail;
    close(fd);
    return 0;
fail:
    {
        int saved = errno;
        snprintf(why, whycap, "%s", strerror(saved));
        if (fd >= 0)
            close(fd);
        errno = saved;
    }
    return -1;
}

int config_include_read(const char *path, char **text, size_t *len, char *why, size_t whycap)
{
    struct stat st;
    return read_regular(path, text, len, &st, why, whycap);
}

char *config_include_path(const char *include_dir, const char *name)
{
    size_t n = (include_dir ? strlen(include_dir) + 1 : 0) + strlen(name) + 1;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s%s%s", include_dir ? include_dir : "", include_dir ? "/" : "",
                 name);
    return path;
}

/* ------------------------------------------------------------------ */

struct walk {
    const char *dir;
    char *err;
    size_t errcap;
    struct stat chain[CONFIG_INCLUDE_MAX_DEPTH + 1];   /* the files being read */
};

static int walk_file(struct walk *wk, const char *file, const char *text, size_t len,
                     int depth);

static int include_fail(struct walk *wk, const char *file, int line, const char *name,
                        const char *why)
{
    snprintf(wk->err, wk->errcap, "%s:%d: @include \"%s\": %s", file, line, name, why);
    return -1;
}

static int walk_include(struct walk *wk, const char *file, int line, const char *name,
                        int depth)
{
    if (depth >= CONFIG_INCLUDE_MAX_DEPTH) {
        char why[80];
        snprintf(why, sizeof why, "includes are nested more than %d deep",
                 CONFIG_INCLUDE_MAX_DEPTH);
        return include_fail(wk, file, line, name, why);
    }
    char *path = config_include_path(wk->dir, name);
    if (path == NULL)
        return include_fail(wk, file, line, name, "out of memory");
    char why[160], *text;
    size_t len;
    struct stat *st = &wk->chain[depth + 1];
    int rc = -1;
    if (read_regular(path, &text, &len, st, why, sizeof why) < 0) {
        /* libconfig 1.5 puts the include directory before every name. */
        if (errno == ENOENT && name[0] == '/' && wk->dir)
            snprintf(why, sizeof why, "libconfig 1.5 reads include names relative to %s "
                     "(an absolute path does not work)", wk->dir);
        include_fail(wk, file, line, name, why);
        goto out;
    }
    for (int i = 0; i <= depth; i++)
        if (wk->chain[i].st_ino == st->st_ino && wk->chain[i].st_dev == st->st_dev) {
            include_fail(wk, file, line, name, "the file is already being included "
                         "(an include cycle)");
            free(text);
            goto out;
        }
    rc = walk_file(wk, path, text, len, depth + 1);
    free(text);
out:
    free(path);
    return rc;
}

static int walk_file(struct walk *wk, const char *file, const char *text, size_t len,
                     int depth)
{
    struct config_lexer lx;
    struct config_token t;
    config_lex_init(&lx, text, len);
    for (config_lex_next(&lx, &t); t.kind != CTOK_END; config_lex_next(&lx, &t)) {
        if (t.kind != CTOK_INCLUDE)
            continue;
        char *name = config_lex_include_name(text, &t);
        if (name == NULL) {
            snprintf(wk->err, wk->errcap, "%s:%d: out of memory", file, t.line);
            return -1;
        }
        int rc = walk_include(wk, file, t.line, name, depth);
        free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int config_include_check(const char *file, const char *text, size_t len,
                         const char *include_dir, char *err, size_t errcap)
{
    struct walk wk = { .dir = include_dir, .err = err, .errcap = errcap };
    if (stat(file, &wk.chain[0]) < 0)
        memset(&wk.chain[0], 0, sizeof wk.chain[0]);
    return walk_file(&wk, file, text, len, 0);
}
