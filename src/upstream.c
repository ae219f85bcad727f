/* The `upstreams` list: its tables and checks (upstream.h). */
#include "upstream.h"

#include <stdio.h>
#include <string.h>

#include "balance.h"
#include "listen.h"

/* ------------------------------------------------------------------ */
/* Addresses */

int upstream_addr_parse(const char *s, struct upstream_addr *out, const char **why)
{
    memset(out, 0, sizeof *out);
    /* A listen address may leave out the host; a server to connect to may
     * not. Otherwise the two are written alike (listen.c parses both). */
    const char *colon = strrchr(s, ':');
    bool unix_path = strncmp(s, "unix:", 5) == 0;
    if (!unix_path && (colon == NULL || colon == s || (colon == s + 1 && s[0] == '*'))) {
        *why = "expected IPv4:port, [IPv6]:port or unix:/path";
        return -1;
    }
    struct listen_addr a;
    if (listen_addr_parse(s, &a, why) < 0)
        return -1;
    memcpy(&out->ss, &a.ss, sizeof out->ss);
    out->len = a.len;
    snprintf(out->text, sizeof out->text, "%s", a.text);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tables */

static int validate_server(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct upstream_server_config *s = obj;
    const char *why;
    if (s->address == NULL)
        return cfg_fail(ctx, group, "an upstream server needs an 'address'");
    if (upstream_addr_parse(s->address, &s->addr, &why) < 0)
        return cfg_fail(ctx, config_setting_get_member(group, "address"), "address \"%s\": %s",
                        s->address, why);
    return 0;
}

static const struct cfg_key server_keys[] = {
    { .name = "address", .type = CT_STRING, .offset = CFG_AT(upstream_server_config, address) },
    { .name = "weight", .type = CT_INT, .offset = CFG_AT(upstream_server_config, weight),
      .def = "1", .min = 1, .max = 1000 },
    { .name = "backup", .type = CT_BOOL, .offset = CFG_AT(upstream_server_config, backup),
      .def = "false" },
};

static const struct cfg_section server_section = {
    "upstream server", sizeof(struct upstream_server_config), server_keys,
    CFG_NKEYS(server_keys), validate_server,
};

static int validate_health(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct upstream_health_config *h = obj;
    /* Without a path a probe only connects (a TCP check, for tcp_proxy). */
    if (h->path && (h->path[0] != '/' || strpbrk(h->path, " \t\r\n")))
        return cfg_fail(ctx, config_setting_get_member(group, "path"),
                        "health_check 'path' must start with '/' and hold no blanks");
    /* A probe that outlives its interval would overlap the next one. */
    if (h->timeout > h->interval) {
        /* Either may be the default: point at the one written. */
        const config_setting_t *at = config_setting_get_member(group, "timeout");
        if (at == NULL)
            at = config_setting_get_member(group, "interval");
        return cfg_fail(ctx, at ? at : group, "health_check 'timeout' (%lld ms) is longer "
                        "than its 'interval' (%lld ms)", (long long)h->timeout,
                        (long long)h->interval);
    }
    return 0;
}

static const struct cfg_key health_keys[] = {
    { .name = "path", .type = CT_STRING, .offset = CFG_AT(upstream_health_config, path) },
    { .name = "interval", .type = CT_DURATION, .offset = CFG_AT(upstream_health_config, interval),
      .def = "5s", .min = 100, .max = CFG_DAY },
    { .name = "timeout", .type = CT_DURATION, .offset = CFG_AT(upstream_health_config, timeout),
      .def = "1s", .min = 1, .max = CFG_DAY },
    { .name = "fails", .type = CT_INT, .offset = CFG_AT(upstream_health_config, fails),
      .def = "1", .min = 1, .max = 100 },
    { .name = "passes", .type = CT_INT, .offset = CFG_AT(upstream_health_config, passes),
      .def = "1", .min = 1, .max = 100 },
};

static const struct cfg_section health_section = {
    "health_check", sizeof(struct upstream_health_config), health_keys, CFG_NKEYS(health_keys),
    validate_health,
};

static bool valid_name(const char *name)
{
    if (name[0] == '\0')
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

static int check_servers(struct cfg_ctx *ctx, const config_setting_t *group,
                         const struct upstream_config *u)
{
    if (u->n_servers == 0)
        return cfg_fail(ctx, group, "upstream '%s' has no 'servers'", u->name);
    if (u->n_servers > BALANCE_MAX_SERVERS)
        return cfg_fail(ctx, group, "upstream '%s' has %zu servers; at most %d", u->name,
                        u->n_servers, BALANCE_MAX_SERVERS);
    const config_setting_t *list = config_setting_get_member(group, "servers");
    for (size_t i = 0; i < u->n_servers; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(u->servers[i].addr.text, u->servers[j].addr.text) == 0)
                return cfg_fail(ctx, config_setting_get_elem(list, (unsigned)i),
                                "server %s is already in upstream '%s' (line %d); give it a "
                                "'weight' instead", u->servers[i].addr.text, u->name,
                                u->servers[j].where.line);
    return 0;
}

static int check_hash_key(struct cfg_ctx *ctx, const config_setting_t *group,
                          const struct upstream_config *u)
{
    const config_setting_t *at = config_setting_get_member(group, "hash_key");
    if (u->balance != UPSTREAM_HASH)
        return u->hash_key ? cfg_fail(ctx, at, "'hash_key' applies only to balance = \"hash\"")
                           : 0;
    if (u->hash_key == NULL)
        return cfg_fail(ctx, group, "balance = \"hash\" needs a 'hash_key' such as "
                        "\"$remote_addr\"");
    /* Without a variable every request would hash to the same server. */
    if (strchr(u->hash_key, '$') == NULL)
        return cfg_fail(ctx, at, "'hash_key' names no variable (such as $remote_addr)");
    return 0;
}

static int validate_upstream(struct cfg_ctx *ctx, const config_setting_t *group, void *obj)
{
    struct upstream_config *u = obj;
    if (u->name == NULL)
        return cfg_fail(ctx, group, "upstream has no 'name'");
    if (!valid_name(u->name))
        return cfg_fail(ctx, config_setting_get_member(group, "name"),
                        "upstream name '%s' must be letters, digits, '_', '-' or '.'", u->name);
    if (check_servers(ctx, group, u) < 0 || check_hash_key(ctx, group, u) < 0)
        return -1;
    return 0;
}

static const char *const balance_names[] = {
    [UPSTREAM_ROUND_ROBIN] = "round_robin",
    [UPSTREAM_LEAST_CONN] = "least_conn",
    [UPSTREAM_HASH] = "hash",
    [UPSTREAM_RANDOM_TWO] = "random_two",
    NULL,
};

static const struct cfg_key upstream_keys[] = {
    { .name = "name", .type = CT_STRING, .offset = CFG_AT(upstream_config, name) },
    { .name = "servers", .type = CT_LIST, .offset = CFG_AT(upstream_config, servers),
      .sub = &server_section, .aux_offset = CFG_AT(upstream_config, n_servers) },
    { .name = "balance", .type = CT_ENUM, .offset = CFG_AT(upstream_config, balance),
      .def = "round_robin", .names = balance_names },
    { .name = "hash_key", .type = CT_STRING, .offset = CFG_AT(upstream_config, hash_key) },
    { .name = "keepalive", .type = CT_INT, .offset = CFG_AT(upstream_config, keepalive),
      .def = "32", .min = 0, .max = 100000 },
    { .name = "keepalive_timeout", .type = CT_DURATION,
      .offset = CFG_AT(upstream_config, keepalive_timeout), .def = "60s", .min = 1,
      .max = CFG_DAY },
    { .name = "max_connections", .type = CT_INT,
      .offset = CFG_AT(upstream_config, max_connections), .def = "0", .min = 0, .max = 1000000 },
    { .name = "connect_timeout", .type = CT_DURATION,
      .offset = CFG_AT(upstream_config, connect_timeout), .def = "5s", .min = 1, .max = CFG_DAY },
    { .name = "max_fails", .type = CT_INT, .offset = CFG_AT(upstream_config, max_fails),
      .def = "1", .min = 0, .max = 1000 },
    { .name = "fail_timeout", .type = CT_DURATION, .offset = CFG_AT(upstream_config, fail_timeout),
      .def = "10s", .min = 1, .max = CFG_DAY },
    { .name = "health_check", .type = CT_GROUP, .offset = CFG_AT(upstream_config, health_check),
      .sub = &health_section },
};

const struct cfg_section upstream_section = {
    "upstream", sizeof(struct upstream_config), upstream_keys, CFG_NKEYS(upstream_keys),
    validate_upstream,
};

const struct upstream_config *upstream_find(const struct herd_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_upstreams; i++)
        if (strcmp(cfg->upstreams[i].name, name) == 0)
            return &cfg->upstreams[i];
    return NULL;
}

int upstream_key_var(const char *p, size_t *len, const char *const *vars, size_t n)
{
    *len = 0;
    while ((p[*len] >= 'a' && p[*len] <= 'z') || p[*len] == '_' ||
           (p[*len] >= '0' && p[*len] <= '9'))
        (*len)++;
    for (size_t i = 0; i < n; i++)
        if (strlen(vars[i]) == *len && strncmp(p, vars[i], *len) == 0)
            return (int)i;
    return -1;
}
