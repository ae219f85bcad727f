/* Directory listings of the static handler (autoindex = true). */
#ifndef HERD_HTTP_AUTOINDEX_H
#define HERD_HTTP_AUTOINDEX_H

#include "http/static.h"

struct conn;

/* Answer r with an HTML page listing the directory open at dirfd: its
 * entries sorted by name, each linked as "./NAME" (NAME percent-encoded as
 * one path segment, "/" added for a directory) so that no name can read
 * as a scheme, a query or a fragment, and shown HTML-escaped. Returns 0,
 * or the errno of a failure (res->status is then 500 and nothing is
 * written). */
int http_autoindex_send(struct conn *c, const struct http_static_request *r, int dirfd,
                         struct http_static_result *res);

#endif
