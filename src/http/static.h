/* The static file handler of one route: files under `root`, never outside
 * it; conditional requests, single ranges, index files, optional listings;
 * small files from a per-worker memory cache revalidated at most once per
 * cache.valid, large ones with sendfile. */
#ifndef HERD_HTTP_STATIC_H
#define HERD_HTTP_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http/config.h"
#include "http/parse.h"
#include "http/request.h"
#include "http/response.h"

struct conn;
struct http_static;
struct mime_table;

struct http_static_request {
    enum http_method method;
    const char *path;               /* decoded and normalised, starts with '/' */
    size_t path_len;
    const char *query;              /* raw, without '?'; NULL when none */
    size_t query_len;
    const struct http_request *req; /* for the conditional and Range headers */
    int64_t now_ms;
    const char *date;               /* the Date header value */
    enum http_conn_header conn_header;
};

/* What was sent, for the access log. */
struct http_static_result {
    int status;
    uint64_t body_bytes;
};

struct http_static *http_static_new(const struct cfg_static *cfg, const struct mime_table *mime,
                                    char *err, size_t errcap);
void http_static_free(struct http_static *st);

/* Answer the request into c's output (headers, body from memory, or a file
 * segment queued with conn_send_file). Error statuses (403, 404, 405, 416,
 * 500) come back in res->status with nothing written, for the caller's error
 * page; everything else is written here. */
void http_static_serve(struct http_static *st, struct conn *c,
                       const struct http_static_request *r, struct http_static_result *res);

#endif
