/* The configuration core: the top-level and server sections, loading a
 * file (or the embedded default) and the public calls of config.h. The
 * engine that reads, prints and frees a section from its table is in
 * config_engine.c and config_print.c; each section is a table of keys.
 * Tested by tests/unit/check_config.c and check_proto.c. */
#include "config.h"

#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <glob.h>
#include <libconfig.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cidr.h"
#include "config_engine.h"
#include "config_include.h"
#include "config_syntax.h"
#include "listen.h"
#include "log.h"
#include "transport_tls.h"
#include "upstream.h"

#ifndef HERD_RUNSTATEDIR
#define HERD_RUNSTATEDIR "/run"
#endif
#ifndef HERD_SYSCONFDIR
#define HERD_SYSCONFDIR "/etc"
#endif

/* The protocols and embedded configuration main gave (config_use_protocols). */
static const struct config_protocols *protocols;

void config_use_protocols(const struct config_protocols *p)
{
    protocols = p;
}

/* ------------------------------------------------------------------ */
/* Servers: the keys every protocol has; the protocol's own keys are in its
 * section (the registry's), read from the same group. */

/* unix_mode, unix_owner, unix_group: resolved now (the names in the
 * system's user database as the master reads it), applied to the socket
 * file of every unix: address of the server. */
static int check_unix_access(struct cfg_ctx *ctx, const config_setting_t *group,
                             struct cfg_server *srv, bool has_unix)
{
    srv->unix_mode_bits = 0666;
    srv->unix_uid = srv->unix_gid = -1;
    if (!has_unix && (srv->unix_mode || srv->unix_owner || srv->unix_group))
        return cfg_fail(ctx, config_setting_get_member(group, srv->unix_mode ? "unix_mode"
                                                       : srv->unix_owner ? "unix_owner"
                                                                         : "unix_group"),
                        "'unix_mode', 'unix_owner' and 'unix_group' apply to \"unix:\" "
                        "listen addresses, and this server has none");
    if (srv->unix_mode) {
        char *end;
        unsigned long m = strtoul(srv->unix_mode, &end, 8);
        if (srv->unix_mode[0] == '\0' || *end != '\0' || m > 0777)
            return cfg_fail(ctx, config_setting_get_member(group, "unix_mode"),
                            "'unix_mode' must be an octal file mode such as \"0660\"");
        srv->unix_mode_bits = (unsigned)m;
    }
    if (srv->unix_owner) {
        const struct passwd *pw = getpwnam(srv->unix_owner);
        if (pw == NULL)
            return cfg_fail(ctx, config_setting_get_member(group, "unix_owner"),
                            "unknown user '%s'", srv->unix_owner);
        srv->unix_uid = pw->pw_uid;
    }
    if (srv->unix_group) {
        const struct group *gr = getgrnam(srv->unix_group);
        if (gr == NULL)
            return cfg_fail(ctx, config_setting_get_member(group, "unix_group"),
                            "unknown group '%s'", srv->unix_group);
        srv->unix_gid = gr->gr_gid;
    }
    return 0;
}

static int validate_server(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct cfg_server *srv = obj;
    if (srv->listen.n == 0)
        return cfg_fail(ctx, group, "server has no 'listen' address");
    const config_setting_t *ls = config_setting_get_member(group, "listen");
    bool has_unix = false;
    for (size_t i = 0; i < srv->listen.n; i++) {
        struct listen_addr a;
        const char *why;
        if (listen_addr_parse(srv->listen.v[i], &a, &why) < 0)
            return cfg_fail(ctx, ls, "listen \"%s\": %s", srv->listen.v[i], why);
        const char *path = listen_addr_path(&a);
        if (path && (why = listen_path_problem(path)) != NULL)
            return cfg_fail(ctx, ls, "listen \"%s\": %s", srv->listen.v[i], why);
        has_unix = has_unix || path;
    }
    return check_unix_access(ctx, group, srv, has_unix);
}

/* proxy_protocol = { from; timeout; }: who may send a PROXY header. */
static int validate_proxy_protocol(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    const struct cfg_proxy_protocol *pp = obj;
    const config_setting_t *at = config_setting_get_member(group, "from");
    if (pp->from.n == 0)
        return cfg_fail(ctx, at ? at : group,
                        "'proxy_protocol' needs 'from': the addresses allowed to send the header");
    return cfg_check_ranges(ctx, at, "from", &pp->from, false);
}

static const struct cfg_key proxy_protocol_keys[] = {
    { .name = "from", .type = CT_STRINGS, .offset = CFG_AT(cfg_proxy_protocol, from) },
    { .name = "timeout", .type = CT_DURATION, .offset = CFG_AT(cfg_proxy_protocol, timeout),
      .def = "5s", .min = 1, .max = CFG_MS(3600) },
};

static const struct cfg_section proxy_protocol_section = {
    "proxy_protocol", sizeof(struct cfg_proxy_protocol), proxy_protocol_keys,
    CFG_NKEYS(proxy_protocol_keys), validate_proxy_protocol,
};

/* Does every range of a appear in b? (Both were checked when read.) */
static bool ranges_within(const struct cfg_strings *a, const struct cfg_strings *b)
{
    for (size_t i = 0; i < a->n; i++) {
        struct cidr x, y;
        bool found = false;
        cidr_parse(a->v[i], &x);
        for (size_t j = 0; j < b->n && !found; j++)
            found = cidr_parse(b->v[j], &y) == 0 && memcmp(&x, &y, sizeof x) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* The header is read before the server is known, so servers sharing a
 * socket share the rule: both without, or the same ranges and timeout. */
static bool same_proxy_protocol(const struct cfg_proxy_protocol *a,
                                const struct cfg_proxy_protocol *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return a->timeout == b->timeout && ranges_within(&a->from, &b->from) &&
           ranges_within(&b->from, &a->from);
}

static const struct cfg_key server_keys[] = {
    { .name = "listen", .type = CT_STRINGS, .offset = CFG_AT(cfg_server, listen) },
    /* default: the registry's first */
    { .name = "protocol", .type = CT_PROTOCOL, .offset = CFG_AT(cfg_server, protocol),
      .aux_offset = CFG_AT(cfg_server, conf) },
    { .name = "reuseport", .type = CT_BOOL, .offset = CFG_AT(cfg_server, reuseport),
      .def = "true" },
    { .name = "backlog", .type = CT_INT, .offset = CFG_AT(cfg_server, backlog), .def = "511",
      .min = 1, .max = 65535 },
    { .name = "proxy_protocol", .type = CT_GROUP,
      .offset = CFG_AT(cfg_server, proxy_protocol), .sub = &proxy_protocol_section },
    { .name = "tls", .type = CT_GROUP, .offset = CFG_AT(cfg_server, tls), .sub = &tls_section,
      .release = tls_config_release },
    { .name = "unix_mode", .type = CT_STRING, .offset = CFG_AT(cfg_server, unix_mode) },
    { .name = "unix_owner", .type = CT_STRING, .offset = CFG_AT(cfg_server, unix_owner) },
    { .name = "unix_group", .type = CT_STRING, .offset = CFG_AT(cfg_server, unix_group) },
};

static const struct cfg_section server_section = {
    "server", sizeof(struct cfg_server), server_keys, CFG_NKEYS(server_keys), validate_server,
};

/* Servers i and j (j before i) both listen on an address: only servers of
 * one protocol whose rule (its share callback) allows it, such as HTTP
 * virtual hosts that Host can tell apart. */
static int check_shared_address(struct cfg_ctx *ctx, const config_setting_t *where,
                                const struct herd_config *cfg, size_t i, size_t a, size_t j,
                                size_t b)
{
    const struct cfg_server *si = &cfg->servers[i], *sj = &cfg->servers[j];
    struct listen_addr x, y;
    const char *why;
    listen_addr_parse(si->listen.v[a], &x, &why);
    listen_addr_parse(sj->listen.v[b], &y, &why);
    if (strcmp(x.text, y.text) != 0)
        return 0;
    char seen[PATH_MAX + 32];
    cfg_where_seen(ctx, where, &sj->where, seen, sizeof seen);
    if (i == j || si->protocol != sj->protocol || si->protocol->share == NULL)
        return cfg_fail(ctx, where, "address %s is already used by the server at %s", x.text,
                        seen);
    if (si->reuseport != sj->reuseport && listen_addr_path(&x) == NULL)
        return cfg_fail(ctx, where, "servers sharing %s must agree on 'reuseport'", x.text);
    if (listen_addr_path(&x) && (si->unix_mode_bits != sj->unix_mode_bits ||
                                 si->unix_uid != sj->unix_uid || si->unix_gid != sj->unix_gid))
        return cfg_fail(ctx, where, "servers sharing %s must agree on 'unix_mode', "
                        "'unix_owner' and 'unix_group'", x.text);
    if (!same_proxy_protocol(si->proxy_protocol, sj->proxy_protocol))
        return cfg_fail(ctx, where, "servers sharing %s must agree on 'proxy_protocol'", x.text);
    if ((si->tls == NULL) != (sj->tls == NULL))
        return cfg_fail(ctx, where, "servers sharing %s must agree on TLS: the server at %s "
                        "has %s 'tls' group, this one %s", x.text, seen,
                        sj->tls ? "a" : "no", si->tls ? "has" : "has none");
    return si->protocol->share(ctx, where, si, sj, x.text);
}

/* ------------------------------------------------------------------ */
/* include: glob(3) patterns of files holding more `servers` and
 * `upstreams`, merged after the main file's lists, file by file in the
 * order of their names (glob(3) sorts them), so a site is added or
 * removed by a link, as with nginx's sites-enabled. Each file is checked
 * as an @include is (regular, read without blocking) and parsed on its own,
 * so its settings report its own FILE:LINE. */

static const struct cfg_section top_section;

struct included {
    config_t lc;
    struct stat id;
};

struct includes {
    struct included *v;
    size_t n;
};

static void includes_free(struct cfg_ctx *ctx)
{
    struct includes *inc = ctx->included;
    if (inc == NULL)
        return;
    for (size_t i = 0; i < inc->n; i++)
        config_destroy(&inc->v[i].lc);
    free(inc->v);
    free(inc);
    ctx->included = NULL;
}

static void read_error(struct cfg_ctx *ctx, const config_t *lc, char *err, size_t errcap);
static int check_text(const char *file, const char *text, size_t len, char *err, size_t errcap);

/* Check and parse one file into a new slot of inc. */
static int include_file(struct cfg_ctx *ctx, struct includes *inc, const config_setting_t *at,
                        const char *path)
{
    char *text = NULL, why[160];
    size_t len;
    struct stat id;
    if (config_include_read(path, &text, &len, why, sizeof why) < 0 || stat(path, &id) < 0) {
        free(text);
        return cfg_fail(ctx, at, "include %s: %s", path, text ? strerror(errno) : why);
    }
    int rc = check_text(path, text, len, ctx->err, ctx->errcap);
    if (rc == 0)
        rc = config_include_check(path, text, len, ctx->include_dir, ctx->err, ctx->errcap);
    free(text);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < inc->n; i++)
        if (inc->v[i].id.st_dev == id.st_dev && inc->v[i].id.st_ino == id.st_ino)
            return cfg_fail(ctx, at, "include %s: the file is included twice", path);
    struct included *grown = realloc(inc->v, (inc->n + 1) * sizeof *grown);
    if (grown == NULL)
        return cfg_fail(ctx, at, "out of memory");
    inc->v = grown;
    struct included *f = &inc->v[inc->n++];
    f->id = id;
    config_init(&f->lc);
    if (ctx->include_dir)
        config_set_include_dir(&f->lc, ctx->include_dir);
    if (config_read_file(&f->lc, path) != CONFIG_TRUE) {
        read_error(ctx, &f->lc, ctx->err, ctx->errcap);
        return -1;
    }
    return 0;
}

static int glob_failed(const char *path, int err)
{
    (void)path;
    /* A directory that does not exist matches nothing (as in nginx); one
     * herd cannot read is an error, not a silently smaller site list. */
    if (err == ENOENT || err == ENOTDIR)
        return 0;
    errno = err;
    return 1;
}

/* The files one pattern names. A pattern without wildcards names a file
 * that must exist; one with wildcards may match nothing (an empty
 * sites-enabled). */
static int include_pattern(struct cfg_ctx *ctx, struct includes *inc,
                           const config_setting_t *at, const char *pattern)
{
    char path[PATH_MAX];
    int n = pattern[0] == '/' || ctx->include_dir == NULL
                ? snprintf(path, sizeof path, "%s", pattern)
                : snprintf(path, sizeof path, "%s/%s", ctx->include_dir, pattern);
    if (n < 0 || (size_t)n >= sizeof path)
        return cfg_fail(ctx, at, "include \"%s\": %s", pattern, strerror(ENAMETOOLONG));
    glob_t g;
    errno = 0;
    int rc = glob(path, 0, glob_failed, &g);
    if (rc == GLOB_NOMATCH && strpbrk(pattern, "*?[") != NULL) {
        globfree(&g);
        return 0;
    }
    if (rc != 0) {
        int err = rc == GLOB_NOMATCH ? ENOENT : rc == GLOB_NOSPACE ? ENOMEM : errno;
        globfree(&g);
        return cfg_fail(ctx, at, "include \"%s\": %s", path, strerror(err ? err : EIO));
    }
    for (size_t i = 0; i < g.gl_pathc; i++)
        if (include_file(ctx, inc, at, g.gl_pathv[i]) < 0) {
            globfree(&g);
            return -1;
        }
    globfree(&g);
    return 0;
}

/* Merge the lists of the included files into cfg's. */
static int read_includes(struct cfg_ctx *ctx, const config_setting_t *group,
                         struct herd_config *cfg)
{
    const config_setting_t *at = config_setting_get_member(group, "include");
    if (cfg->include.n == 0)
        return 0;
    struct includes *inc = calloc(1, sizeof *inc);
    if (inc == NULL)
        return cfg_fail(ctx, at, "out of memory");
    ctx->included = inc;
    for (size_t i = 0; i < cfg->include.n; i++)
        if (include_pattern(ctx, inc, at, cfg->include.v[i]) < 0)
            return -1;
    for (size_t i = 0; i < inc->n; i++) {
        const config_setting_t *root = config_root_setting(&inc->v[i].lc);
        for (int k = 0; k < config_setting_length(root); k++) {
            const config_setting_t *s = config_setting_get_elem(root, (unsigned)k);
            errno = 0;
            if (cfg_read_list_more(ctx, &top_section, s, cfg) == 0)
                continue;
            if (errno != ENOENT)
                return -1;
            return cfg_fail(ctx, s, "'%s' cannot be set in an included file: it may hold "
                            "only 'servers' and 'upstreams'", config_setting_name(s));
        }
    }
    return 0;
}

/* The setting of the i-th element of list `name`, counting the main file's
 * elements first and then each included file's, as they were merged. */
static const config_setting_t *list_elem(struct cfg_ctx *ctx, const config_setting_t *group,
                                         const char *name, size_t i)
{
    const struct includes *inc = ctx->included;
    const config_setting_t *l = config_setting_get_member(group, name);
    for (size_t f = 0;; f++) {
        size_t n = l ? (size_t)config_setting_length(l) : 0;
        if (i < n)
            return config_setting_get_elem(l, (unsigned)i);
        i -= n;
        if (inc == NULL || f >= inc->n)
            return group;
        l = config_setting_get_member(config_root_setting(&inc->v[f].lc), name);
    }
}

/* Every upstream name is defined once, across the files. */
static int check_upstream_names(struct cfg_ctx *ctx, const config_setting_t *group,
                                const struct herd_config *cfg)
{
    for (size_t i = 0; i < cfg->n_upstreams; i++)
        for (size_t j = 0; j < i; j++) {
            const struct upstream_config *a = &cfg->upstreams[i], *b = &cfg->upstreams[j];
            if (strcmp(a->name, b->name) != 0)
                continue;
            const config_setting_t *at = list_elem(ctx, group, "upstreams", i);
            char seen[PATH_MAX + 32];
            return cfg_fail(ctx, at, "duplicate upstream '%s' (first at %s)", a->name,
                            cfg_where_seen(ctx, at, &b->where, seen, sizeof seen));
        }
    return 0;
}

static int validate_top(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct herd_config *cfg = obj;
    cfg->error_log_line = cfg_line(group, "error_log");
    if (read_includes(ctx, group, cfg) < 0)
        return -1;
    /* Without includes no server is a mistake; with them it is a state a
     * site directory passes through (every site disabled), and herd then
     * listens on nothing until a reload finds one, as nginx does. */
    if (cfg->n_servers == 0 && cfg->include.n == 0)
        return cfg_fail(ctx, group, "no 'servers' configured");
    if (cfg->n_servers == 0)
        cfg_warn(ctx, config_setting_get_member(group, "include"),
                 "no servers: 'include' matched no file that has one, so herd listens "
                 "on nothing");
    if (check_upstream_names(ctx, group, cfg) < 0)
        return -1;
    for (size_t i = 0; i < cfg->n_servers; i++) {
        struct cfg_server *s = &cfg->servers[i];
        if (s->protocol->check &&
            s->protocol->check(ctx, list_elem(ctx, group, "servers", i), cfg, s) < 0)
            return -1;
    }
    for (size_t i = 0; i < cfg->n_servers; i++)
        for (size_t a = 0; a < cfg->servers[i].listen.n; a++)
            for (size_t j = 0; j <= i; j++)
                for (size_t b = 0; b < cfg->servers[j].listen.n && (j < i || b < a); b++)
                    if (check_shared_address(ctx, list_elem(ctx, group, "servers", i), cfg,
                                             i, a, j, b) < 0)
                        return -1;
    if (cfg->pid_file[0] != '/')
        return cfg_fail(ctx, config_setting_get_member(group, "pid_file"),
                        "'pid_file' must be an absolute path");
    if (strcmp(cfg->error_log, "stderr") != 0 && cfg->error_log[0] != '/')
        return cfg_fail(ctx, config_setting_get_member(group, "error_log"),
                        "'error_log' must be \"stderr\" or an absolute path");
    if (cfg->user && cfg->user[0] == '\0')
        return cfg_fail(ctx, config_setting_get_member(group, "user"), "'user' is empty");
    /* Workers started by root switch to them: find out now, not at fork. */
    if (getpwnam(cfg->user) == NULL) {
        const config_setting_t *at = config_setting_get_member(group, "user");
        return cfg_fail(ctx, at ? at : group, "user \"%s\" does not exist", cfg->user);
    }
    if (cfg->group && getgrnam(cfg->group) == NULL)
        return cfg_fail(ctx, config_setting_get_member(group, "group"),
                        "group \"%s\" does not exist", cfg->group);
    return 0;
}

static const struct cfg_key top_keys[] = {
    { .name = "workers", .type = CT_WORKERS, .offset = CFG_AT(herd_config, workers),
      .def = "auto", .min = 1, .max = CONFIG_MAX_WORKERS },
    { .name = "user", .type = CT_STRING, .offset = CFG_AT(herd_config, user), .def = "nobody" },
    { .name = "group", .type = CT_STRING, .offset = CFG_AT(herd_config, group) },
    { .name = "pid_file", .type = CT_STRING, .offset = CFG_AT(herd_config, pid_file),
      .def = HERD_RUNSTATEDIR "/herd.pid" },
    { .name = "error_log", .type = CT_STRING, .offset = CFG_AT(herd_config, error_log),
      .def = "stderr" },
    { .name = "log_level", .type = CT_LOGLEVEL, .offset = CFG_AT(herd_config, log_level),
      .def = "info" },
    { .name = "worker_connections", .type = CT_INT,
      .offset = CFG_AT(herd_config, worker_connections), .def = "10000", .min = 1,
      .max = 1000000 },
    { .name = "shutdown_timeout", .type = CT_DURATION,
      .offset = CFG_AT(herd_config, shutdown_timeout), .def = "30s", .min = 0, .max = CFG_DAY },
    { .name = "ticket_key_rotation", .type = CT_DURATION,
      .offset = CFG_AT(herd_config, ticket_key_rotation), .def = "1h", .min = CFG_MS(1),
      .max = CFG_DAY },
    { .name = "limit_zone_size", .type = CT_SIZE, .offset = CFG_AT(herd_config, limit_zone_size),
      .def = "1m", .min = 4096, .max = 1024 * 1024 * 1024 },
    { .name = "upstreams", .type = CT_LIST, .offset = CFG_AT(herd_config, upstreams),
      .sub = &upstream_section, .aux_offset = CFG_AT(herd_config, n_upstreams) },
    { .name = "servers", .type = CT_LIST, .offset = CFG_AT(herd_config, servers),
      .sub = &server_section, .aux_offset = CFG_AT(herd_config, n_servers) },
    { .name = "include", .type = CT_STRINGS, .offset = CFG_AT(herd_config, include),
      .merged = true },
};

static const struct cfg_section top_section = {
    "configuration", sizeof(struct herd_config), top_keys, CFG_NKEYS(top_keys), validate_top,
};

void config_free(struct herd_config *cfg)
{
    if (cfg == NULL)
        return;
    cfg_free_section(&top_section, cfg);
    free(cfg);
}

/* libconfig reads the text up to the first NUL byte only. */
static int check_text(const char *file, const char *text, size_t len, char *err, size_t errcap)
{
    const char *nul = memchr(text, '\0', len);
    if (nul == NULL)
        return 0;
    int line = 1;
    for (const char *p = text; p < nul; p++)
        line += *p == '\n';
    snprintf(err, errcap, "%s:%d: a NUL byte (is this a text file?)", file, line);
    return -1;
}

/* libconfig's error as FILE:LINE: text; a syntax error also gets its likely
 * cause and the source line (config_syntax.h). */
static void read_error(struct cfg_ctx *ctx, const config_t *lc, char *err, size_t errcap)
{
    const char *file = cfg_source_file(ctx, config_error_file(lc));
    const char *what = config_error_text(lc);
    int line = config_error_line(lc);
    char *text = NULL, why[160], explained[900];
    size_t len = 0;
    if (strcmp(what, "syntax error") == 0) {
        const char *src = NULL;
        if (file == ctx->main_file) {
            src = ctx->main_text;
            len = strlen(src);
        } else if (config_include_read(file, &text, &len, why, sizeof why) == 0) {
            src = text;
        }
        if (src) {
            config_syntax_explain(src, len, line, explained, sizeof explained);
            what = explained;
        }
    }
    snprintf(err, errcap, "%s:%d: %s", file, line, what);
    free(text);
}

/* The main file's directory, where libconfig resolves @include names. */
static int set_include_dir(struct cfg_ctx *ctx, config_t *lc, const char *path, char **dir)
{
    if ((*dir = strdup(path)) == NULL) {
        snprintf(ctx->err, ctx->errcap, "out of memory");
        return -1;
    }
    char *slash = strrchr(*dir, '/');
    if (slash) {
        *slash = '\0';
        if ((*dir)[0] == '\0')
            strcpy(*dir, "/");
        config_set_include_dir(lc, *dir);
        ctx->include_dir = *dir;
    }
    return 0;
}

/* Parse path into lc. libconfig's scanner exits the process on a read error
 * and blocks on a FIFO: it gets text herd has read itself, and opens only
 * includes checked to be regular files. *text keeps the file's text. */
static int parse_file(struct cfg_ctx *ctx, config_t *lc, const char *path, char **dir,
                      char **text)
{
    size_t len;
    char why[160];
    if (set_include_dir(ctx, lc, path, dir) < 0)
        return -1;
    if (config_include_read(path, text, &len, why, sizeof why) < 0) {
        snprintf(ctx->err, ctx->errcap, "%s: cannot read: %s", path, why);
        return -1;
    }
    ctx->main_text = *text;
    if (check_text(path, *text, len, ctx->err, ctx->errcap) < 0 ||
        config_include_check(path, *text, len, ctx->include_dir, ctx->err, ctx->errcap) < 0)
        return -1;
    if (config_read_string(lc, *text) != CONFIG_TRUE) {
        read_error(ctx, lc, ctx->err, ctx->errcap);
        return -1;
    }
    return 0;
}

struct herd_config *config_load(const char *path, char *err, size_t errcap)
{
    struct cfg_ctx ctx = { .err = err, .errcap = errcap,
                           .main_file = path ? path : "(embedded)" };
    struct herd_config *cfg = NULL;
    char *dir = NULL, *text = NULL;
    config_t lc;
    config_init(&lc);
    err[0] = '\0';
    if (protocols == NULL || protocols->list[0] == NULL) {
        snprintf(err, errcap, "internal error: no protocols (config_use_protocols)");
        goto fail;
    }
    ctx.protocols = protocols->list;
    if (path) {
        if (parse_file(&ctx, &lc, path, &dir, &text) < 0)
            goto fail;
    } else {
        ctx.main_text = protocols->embedded;
        if (config_read_string(&lc, protocols->embedded) != CONFIG_TRUE) {
            read_error(&ctx, &lc, err, errcap);
            goto fail;
        }
    }
    if ((cfg = calloc(1, sizeof *cfg)) == NULL) {
        snprintf(err, errcap, "out of memory");
        goto fail;
    }
    cfg->embedded = path == NULL;
    if (cfg_read_section(&ctx, &top_section, config_root_setting(&lc), cfg) < 0)
        goto fail;
    includes_free(&ctx);
    config_destroy(&lc);
    free(dir);
    free(text);
    return cfg;

fail:
    config_free(cfg);
    includes_free(&ctx);
    config_destroy(&lc);
    free(dir);
    free(text);
    return NULL;
}

const char *config_default_path(void)
{
    return HERD_SYSCONFDIR "/herd/herd.conf";
}

int config_choose_path(const char *given, char **out)
{
    *out = NULL;
    if (given == NULL) {
        if (access(config_default_path(), F_OK) != 0)
            return 0;
        given = config_default_path();
    }
    /* Absolute, so reloads find it after the daemon has left the directory. */
    char *abs = realpath(given, NULL);
    *out = abs ? abs : strdup(given);
    return *out ? 0 : -1;
}

int config_workers(const struct herd_config *cfg)
{
    if (cfg->workers > 0)
        return (int)cfg->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > CONFIG_MAX_WORKERS)
        n = CONFIG_MAX_WORKERS;
    return (int)n;
}

int config_print(const struct herd_config *cfg, FILE *out)
{
    fprintf(out, "# effective configuration of %s\n",
            cfg->embedded ? "the embedded default" : cfg->where.file);
    cfg_print_section(out, &top_section, cfg, 0);
    return ferror(out) ? -1 : 0;
}

const struct cfg_section *config_section(void)
{
    return &top_section;
}

void config_each_key(void (*fn)(const char *section, const char *key, void *arg), void *arg)
{
    static const struct cfg_protocol *const none[] = { NULL };
    cfg_each_key(&top_section, protocols ? protocols->list : none, true, fn, arg);
}
