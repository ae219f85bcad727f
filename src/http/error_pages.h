/* The answers to errors of one server: herd's built-in pages, or the
 * server's error_pages, built whole when the configuration loads. */
#ifndef HERD_HTTP_ERROR_PAGES_H
#define HERD_HTTP_ERROR_PAGES_H

#include <stddef.h>

#include "http/config.h"
#include "http/response.h"

/* The statuses herd answers with a page: 400 403 404 405 408 413 414 416
 * 421 429 431 500 501 502 503 504 505 (421: TLS, a Host another
 * certificate serves; 429: a limit's; 502-504: the proxy's). */
#define HTTP_ERROR_PAGES 17

struct http_error_pages {
    struct http_fixed v[HTTP_ERROR_PAGES];
};

/* Returns 0, or -1 with a message in err (an unreadable page, no memory). */
int http_error_pages_build(struct http_error_pages *e, const struct cfg_http *cfg, char *err,
                           size_t errcap);
void http_error_pages_free(struct http_error_pages *e);
/* The page for status; the 400 page for a status without one. */
const struct http_fixed *http_error_page(const struct http_error_pages *e, int status);

#endif
