/* Virtual hosts: which of the HTTP servers sharing a listener answers a
 * request, by the host it names. */
#ifndef HERD_HTTP_VHOST_H
#define HERD_HTTP_VHOST_H

#include <stddef.h>

struct server_rt;

/* The server among vhosts[0..n) whose server_names match host (the
 * authority of an absolute-form target, else the Host value; NULL when
 * neither was sent), compared without case, port and a trailing dot: an
 * exact name first, then the longest "*.suffix", then vhosts[0], the
 * listener's default server. */
const struct server_rt *http_vhost_find(const struct server_rt *const *vhosts, size_t n,
                                        const char *host, size_t len);

/* Inline, because a listener of one server (the usual case) needs no search. */
static inline const struct server_rt *http_vhost_choose(const struct server_rt *const *vhosts,
                                                        size_t n, const char *host, size_t len)
{
    return n <= 1 || host == NULL ? vhosts[0] : http_vhost_find(vhosts, n, host, len);
}

#endif
