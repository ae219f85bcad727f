#include "worker_process.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "worker.h"

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* A forked worker inherits every descriptor of the master: other slots'
 * sockets, other workers' channels, sockets the master is about to close.
 * Keeping them would keep removed addresses bound, so close all but ours. */
void worker_process_close_inherited(const struct worker_args *a)
{
    size_t n = 0, cap = a->n_binds + 2 + a->cfg->n_servers;
    int *keep = calloc(cap, sizeof *keep);
    if (keep == NULL)
        return;
    keep[n++] = a->channel;
    if (log_fd() > 2)
        keep[n++] = log_fd();
    for (size_t i = 0; i < a->n_binds; i++)
        keep[n++] = a->binds[i].fd;
    for (size_t i = 0; i < a->cfg->n_servers; i++)
        if (a->access_logs[i] >= 0)
            keep[n++] = a->access_logs[i];
    qsort(keep, n, sizeof *keep, cmp_int);
    unsigned int from = 3;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned)keep[i] > from)
            close_range(from, (unsigned)keep[i] - 1, 0);
        if ((unsigned)keep[i] + 1 > from)
            from = (unsigned)keep[i] + 1;
    }
    close_range(from, ~0U, 0);
    free(keep);
}

int worker_process_drop_privileges(const struct herd_config *cfg)
{
    if (geteuid() != 0)
        return 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL) {
        log_error("user \"%s\" not found", cfg->user);
        return -1;
    }
    gid_t gid = pw->pw_gid;
    if (cfg->group) {
        struct group *gr = getgrnam(cfg->group);
        if (gr == NULL) {
            log_error("group \"%s\" not found", cfg->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (setgroups(1, &gid) < 0 || setgid(gid) < 0) {
        log_error("setgid(%u): %s", (unsigned)gid, strerror(errno));
        return -1;
    }
    if (setuid(pw->pw_uid) < 0) {
        log_error("setuid(%u): %s", (unsigned)pw->pw_uid, strerror(errno));
        return -1;
    }
    return 0;
}
