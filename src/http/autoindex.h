/* Directory listings of the static handler (autoindex = true). */
#ifndef HERD_HTTP_AUTOINDEX_H
#define HERD_HTTP_AUTOINDEX_H

#include <stdbool.h>

struct http_req;

/* Answer req with an HTML page listing the directory open at dirfd: its
 * entries sorted by name, each linked as "./NAME" (NAME percent-encoded as
 * one path segment, "/" added for a directory) so that no name can read
 * as a scheme, a query or a fragment, and shown HTML-escaped. Names that
 * start with '.' are left out unless hidden is true. Returns 0,
 * or the errno of a failure (nothing is written). */
int http_autoindex_send(struct http_req *req, int dirfd, bool hidden);

#endif
