/* A page of memory the master maps before it forks, shared with every
 * worker of every generation, and handed to the new master of a binary
 * upgrade: a memfd whose descriptor number travels in an environment
 * variable. The counters (stats.c), the upstream servers' health
 * (upstream_health.c), the TLS ticket keys (transport_tls_tickets.c) and
 * the limit zone (limit_zone.c) each keep one; each checks its own layout
 * (magic and size) on the page it inherits. Tested by tests/unit/check_shm_page.c. */
#ifndef HERD_SHM_PAGE_H
#define HERD_SHM_PAGE_H

#include <stdbool.h>
#include <stddef.h>

/* The page a binary upgrade passed on in env (which is then unset),
 * mapped, when it names a regular file of exactly size bytes: its address,
 * with *fd its descriptor (close-on-exec again). NULL otherwise: *offered
 * says whether env named one (that did not fit; its descriptor is closed). */
void *shm_page_inherit(const char *env, size_t size, int *fd, bool *offered);

/* A new zeroed page of size bytes: a memfd called name, so that it can be
 * passed on; anonymous memory (*fd -1) where there is no memfd (an old
 * kernel, a sandbox). NULL with errno set. */
void *shm_page_create(const char *name, size_t size, int *fd);

/* Name fd in env for the program a binary upgrade executes: a copy at
 * min_fd or above, without close-on-exec. 0, or -1 (fd -1 included). */
int shm_page_pass_on(int fd, const char *env, int min_fd);

#endif
