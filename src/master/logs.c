/* The log files the master opens: the error log (its own, inherited by
 * the workers it forks) and the servers' access logs. The master opens
 * them, as root, and passes reopened ones (USR1) to the workers over their
 * channels: workers run as an unprivileged user and could not.
 * Tested by tests/unit/check_master_logs.c (and tests/integration/test_supervise.py). */
#include "master/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "log.h"
#include "proto.h"

/* "FILE:LINE: " where a key was set, or "FILE: " for a default. */
static int where_prefix(char *out, size_t cap, const char *file, int line)
{
    int n = line > 0 ? snprintf(out, cap, "%s:%d: ", file, line)
                     : snprintf(out, cap, "%s: ", file);
    return n < 0 ? 0 : (size_t)n >= cap ? (int)cap - 1 : n;
}

/* The access log a server writes, as its protocol's registry entry says
 * (proto.h); NULL for none. */
static const char *access_log_path(const struct cfg_server *s)
{
    int line;
    return proto_access_log(s, &line);
}

/* Open a server's access log; on failure say where it is configured. */
static int open_access_log(const struct cfg_server *s, char *err, size_t errcap)
{
    int line;
    const char *path = proto_access_log(s, &line);
    int n = where_prefix(err, errcap, s->where.file, line);
    return log_file_open(path, err + n, errcap - (size_t)n);
}

/* Open the configured error log and make it the log; 0, or -1 with
 * "FILE:LINE: cannot open log file ..." in err. */
int logs_open_error(const struct herd_config *cfg, char *err, size_t errcap)
{
    int n = where_prefix(err, errcap, cfg->where.file, cfg->error_log_line);
    return log_open(cfg->error_log, err + n, errcap - (size_t)n);
}

int master_test_logs(const struct herd_config *cfg, char *err, size_t errcap)
{
    if (strcmp(cfg->error_log, "stderr") != 0) {
        int n = where_prefix(err, errcap, cfg->where.file, cfg->error_log_line);
        int fd = log_file_open(cfg->error_log, err + n, errcap - (size_t)n);
        if (fd < 0)
            return -1;
        close(fd);
    }
    for (size_t i = 0; i < cfg->n_servers; i++) {
        if (access_log_path(&cfg->servers[i]) == NULL)
            continue;
        int fd = open_access_log(&cfg->servers[i], err, errcap);
        if (fd < 0)
            return -1;
        close(fd);
    }
    err[0] = '\0';
    return 0;
}

int logs_open_access(struct gen *g, size_t server, char *err, size_t errcap)
{
    const struct cfg_server *s = &g->cfg->servers[server];
    if (access_log_path(s) && (g->access_logs[server] = open_access_log(s, err, errcap)) < 0)
        return -1;
    return 0;
}

void logs_close_access(struct gen *g)
{
    for (size_t i = 0; g->access_logs && i < g->cfg->n_servers; i++)
        if (g->access_logs[i] >= 0)
            close(g->access_logs[i]);
    free(g->access_logs);
    g->access_logs = NULL;
}

static void reopen_error_log(struct master *m, const struct herd_config *cfg)
{
    char why[1024];
    if (log_open(cfg->error_log, why, sizeof why) < 0) {
        log_error("reopen: %s", why);
        return;
    }
    for (struct child *c = m->children; c; c = c->next)
        if (channel_send_reopen(c->io.fd, log_fd()) < 0)
            log_warn("cannot pass the reopened error log to worker %d: %s", (int)c->pid,
                     strerror(errno));
}

static void reopen_access_logs(struct master *m, struct gen *g)
{
    for (uint32_t i = 0; i < g->cfg->n_servers; i++) {
        const char *path = access_log_path(&g->cfg->servers[i]);
        if (g->access_logs[i] < 0 || path == NULL)
            continue;
        char why[1024];
        int fd = log_file_open(path, why, sizeof why);
        if (fd < 0) {
            log_error("reopen: %s", why);
            continue;
        }
        close(g->access_logs[i]);
        g->access_logs[i] = fd;
        for (struct child *c = m->children; c; c = c->next)
            if (c->gen == g && channel_send_access_log(c->io.fd, i, fd) < 0)
                log_warn("cannot pass a reopened access log to worker %d: %s", (int)c->pid,
                         strerror(errno));
    }
}

/* USR1. */
void logs_reopen(struct master *m)
{
    const struct herd_config *cfg = m->current ? m->current->cfg : NULL;
    if (cfg && strcmp(cfg->error_log, "stderr") != 0)
        reopen_error_log(m, cfg);
    for (struct gen *g = m->gens; g; g = g->next)
        reopen_access_logs(m, g);
    log_info("reopened log files");
}
