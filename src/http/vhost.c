#include "http/vhost.h"

#include <string.h>
#include <strings.h>

#include "http/config.h"
#include "proto.h"

/* The host without its port and a trailing dot; an IP literal keeps its
 * brackets (no server name has them, so it picks the default). */
static size_t vhost_name_len(const char *host, size_t len)
{
    const char *colon = len && host[0] != '[' ? memchr(host, ':', len) : NULL;
    if (colon)
        len = (size_t)(colon - host);
    if (len && host[len - 1] == '.')
        len--;
    return len;
}

const struct server_rt *http_vhost_find(const struct server_rt *const *vhosts, size_t n,
                                        const char *host, size_t len)
{
    len = vhost_name_len(host, len);
    const struct server_rt *suffix_match = NULL;
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cfg_strings *names = &http_config(vhosts[i]->cfg)->server_names;
        for (size_t k = 0; k < names->n; k++) {
            const char *name = names->v[k];
            size_t nl = strlen(name);
            if (name[0] == '*') {
                /* "*.example.com" matches "a.example.com", not "example.com". */
                const char *suffix = name + 1;
                size_t sl = nl - 1;
                if (len > sl && strncasecmp(host + len - sl, suffix, sl) == 0 && sl > best) {
                    suffix_match = vhosts[i];
                    best = sl;
                }
            } else if (nl == len && strncasecmp(name, host, len) == 0) {
                return vhosts[i];
            }
        }
    }
    return suffix_match ? suffix_match : vhosts[0];
}
