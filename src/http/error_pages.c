#include "http/error_pages.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int error_statuses[HTTP_ERROR_PAGES] = { 400, 403, 404, 405, 408, 413, 414,
                                                      416, 421, 429, 431, 500, 501, 502,
                                                      503, 504, 505 };

const struct http_fixed *http_error_page(const struct http_error_pages *e, int status)
{
    for (size_t i = 0; i < HTTP_ERROR_PAGES; i++)
        if (error_statuses[i] == status)
            return &e->v[i];
    return &e->v[0];
}

void http_error_pages_free(struct http_error_pages *e)
{
    for (size_t i = 0; i < HTTP_ERROR_PAGES; i++)
        http_fixed_free(&e->v[i]);
}

static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *data = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&data, &cap);
    char chunk[4096];
    size_t n;
    while (m && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    if (m == NULL)
        return NULL;
    fclose(m);
    *len = cap;
    return data;
}

int http_error_pages_build(struct http_error_pages *e, const struct cfg_http *cfg, char *err,
                           size_t errcap)
{
    for (size_t i = 0; i < HTTP_ERROR_PAGES; i++) {
        const struct cfg_error_page *page = NULL;
        for (size_t k = 0; k < cfg->n_error_pages; k++)
            if (cfg->error_pages[k].status == error_statuses[i])
                page = &cfg->error_pages[k];
        int rc;
        if (page) {
            size_t len = 0;
            char *body = read_whole(page->file, &len);
            if (body == NULL) {
                snprintf(err, errcap, "error page %s: %s", page->file, strerror(errno));
                return -1;
            }
            rc = http_fixed_build(&e->v[i], error_statuses[i], "text/html", body, len, NULL);
            free(body);
        } else {
            rc = http_fixed_build_error(&e->v[i], error_statuses[i]);
        }
        if (rc < 0) {
            snprintf(err, errcap, "out of memory");
            return -1;
        }
    }
    return 0;
}
