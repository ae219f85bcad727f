/* The response headers a site configures: `headers = { Name = "value"; }`
 * at server and route level, merged once per route when the
 * configuration loads (the route's add to the server's and replace those
 * of the same name; an empty value removes the server's), and `expires`
 * of static routes. Like nginx's add_header (without `always`), they go
 * on the route's successful and redirect answers (2xx, 3xx), never on
 * error pages, which are one prebuilt page per server.
 *
 * Values are templates (http/template.h); when none names a variable the
 * lines are one prebuilt string, so a route's headers cost a copy. */
#ifndef HERD_HTTP_HEADERS_H
#define HERD_HTTP_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config_engine.h"
#include "http/template.h"

struct http_req;

struct http_header_tpl {
    char *name;
    size_t name_len;
    struct http_template value;
};

struct http_headers {
    struct http_header_tpl *v;
    size_t n;
    bool has_vars;
    char *plain;            /* without variables: every line, "Name: value\r\n" */
    size_t plain_len;
};

/* Do these statuses get the configured headers? */
static inline bool http_headers_apply(int status)
{
    return status >= 200 && status < 400;
}

/* Check a `headers` group (key `key` of group): names herd writes itself
 * are refused, each value must be a valid template; errors at the
 * field's FILE:LINE. 0, or -1 after cfg_fail(). */
int http_headers_check(struct cfg_ctx *ctx, const config_setting_t *group, const char *key,
                       const struct cfg_strings *fields);
/* Merge the server's fields and the route's (name, value, ... lists)
 * into h. 0, or -1 with why. */
int http_headers_build(struct http_headers *h, const struct cfg_strings *server,
                       const struct cfg_strings *route, char *why, size_t cap);
void http_headers_free(struct http_headers *h);
/* The lines of h for req at out[0..cap) (snprintf-like: the whole length
 * is returned). A value that renders empty leaves its line out. */
size_t http_headers_render(const struct http_headers *h, const struct http_req *req, char *out,
                           size_t cap);

/* `expires`: "off", "epoch", "max" or a duration. */
#define HTTP_EXPIRES_OFF (-1)
#define HTTP_EXPIRES_EPOCH (-2)
#define HTTP_EXPIRES_MAX (-3)
/* Its value in seconds (or one of the above). 0, or -1 when s is none of
 * them. */
int http_expires_parse(const char *s, int64_t *secs);
/* "Cache-Control: ...\r\nExpires: ...\r\n" for expires at time now, at
 * out (cap at least 128 bytes). Returns the length; 0 for off. */
size_t http_expires_write(int64_t expires, time_t now, char *out, size_t cap);

#endif
