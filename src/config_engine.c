/* Reading a section through its table (config_engine.h): one reader per key
 * type, defaults written as strings and read by the same readers, unknown
 * keys refused, every error at FILE:LINE.
 * Tested by tests/unit/check_config_engine.c (a made-up section with a key
 * of every type), check_config.c (the real tables' errors) and
 * check_proto.c (made-up protocols through the core). */
#include "config_engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "config_include.h"
#include "log.h"
#include "units.h"

const char *cfg_source_file(struct cfg_ctx *ctx, const char *f)
{
    /* libconfig reports an @include name as written. */
    if (f == NULL || strcmp(f, ctx->main_file) == 0)
        return ctx->main_file;
    if (f[0] == '/' || ctx->include_dir == NULL)
        return f;
    snprintf(ctx->resolved, sizeof ctx->resolved, "%s/%s", ctx->include_dir, f);
    return ctx->resolved;
}

static const char *setting_file(struct cfg_ctx *ctx, const config_setting_t *s)
{
    return cfg_source_file(ctx, s ? config_setting_source_file(s) : NULL);
}

static int setting_line(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

int cfg_fail(struct cfg_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
    int line = setting_line(s);
    /* The top level has no line of its own: name the file alone. */
    int n = line > 0 ? snprintf(ctx->err, ctx->errcap, "%s:%d: ", setting_file(ctx, s), line)
                     : snprintf(ctx->err, ctx->errcap, "%s: ", setting_file(ctx, s));
    if (n < 0 || (size_t)n >= ctx->errcap)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err + n, ctx->errcap - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

void cfg_warn(struct cfg_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_warn("%s:%d: %s", setting_file(ctx, s), setting_line(s), msg);
}

int cfg_check_ranges(struct cfg_ctx *ctx, const config_setting_t *at, const char *key,
                     const struct cfg_strings *list, bool unix_ok)
{
    for (size_t i = 0; i < list->n; i++) {
        struct cidr c;
        char net[64];
        if (unix_ok && strcmp(list->v[i], "unix:") == 0)
            continue;
        if (cidr_parse(list->v[i], &c) < 0)
            return cfg_fail(ctx, at, "'%s': \"%s\" is not an address, a range such as "
                            "10.0.0.0/8, %s", key, list->v[i],
                            unix_ok ? "\"all\" or \"unix:\"" : "or \"all\"");
        if (cidr_has_host_bits(list->v[i])) {
            cidr_format(&c, net, sizeof net);
            cfg_warn(ctx, at, "'%s': low address bits of %s are meaningless (it means %s)",
                     key, list->v[i], net);
        }
    }
    return 0;
}

const char *cfg_where_seen(struct cfg_ctx *ctx, const config_setting_t *at,
                           const struct cfg_where *w, char *buf, size_t cap)
{
    const char *here = setting_file(ctx, at);
    if (w->file == NULL || strcmp(w->file, here) == 0)
        snprintf(buf, cap, "line %d", w->line);
    else
        snprintf(buf, cap, "%s:%d", w->file, w->line);
    return buf;
}

int cfg_line(const config_setting_t *group, const char *name)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    return setting_line(s ? s : group);
}

/* ------------------------------------------------------------------ */
/* Integers: libconfig 1.5 parses a literal that does not fit in 32 bits
 * (and has no L suffix) by silently wrapping it. Re-read the literal from
 * the source line and refuse the value when the two disagree. */

static char *source_line(const struct cfg_ctx *ctx, const char *file, int line)
{
    char *text = NULL, why[160];
    size_t len;
    if (file == ctx->main_file && ctx->main_text)
        text = strdup(ctx->main_text);
    else if (config_include_read(file, &text, &len, why, sizeof why) < 0)
        return NULL;    /* never blocks: see config_include.h */
    if (text == NULL)
        return NULL;
    char *p = text;
    for (int i = 1; i < line && p; i++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (p == NULL) {
        free(text);
        return NULL;
    }
    char *nl = strchr(p, '\n');
    if (nl)
        *nl = '\0';
    memmove(text, p, strlen(p) + 1);
    return text;
}

/* The literal after "name =" or "name :" in line; 1 when it reads as value
 * (or cannot be found), 0 when it does not. */
static int line_literal_matches(const char *line, const char *name, long long value)
{
    size_t nlen = strlen(name);
    for (const char *p = strstr(line, name); p; p = strstr(p + 1, name)) {
        if (p > line && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z')))
            continue;
        const char *q = p + nlen;
        q += strspn(q, " \t");
        if (*q != '=' && *q != ':')
            continue;
        q++;
        q += strspn(q, " \t");
        errno = 0;
        char *end;
        long long v = strtoll(q, &end, 0);
        if (end == q)
            continue;
        return errno == 0 && v == value;
    }
    return 1;
}

static int literal_matches(struct cfg_ctx *ctx, const config_setting_t *s, long long value)
{
    const char *name = config_setting_name(s);
    char *line = source_line(ctx, setting_file(ctx, s), setting_line(s));
    int ok = line == NULL || name == NULL || line_literal_matches(line, name, value);
    free(line);
    return ok;      /* what cannot be checked stands as libconfig read it */
}

static int get_int(struct cfg_ctx *ctx, const config_setting_t *s, int64_t *out)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return cfg_fail(ctx, s, "'%s' must be an integer", config_setting_name(s));
    long long v = config_setting_get_int64(s);
    if (t == CONFIG_TYPE_INT && !literal_matches(ctx, s, v))
        return cfg_fail(ctx, s, "'%s': number out of range", config_setting_name(s));
    *out = v;
    return 0;
}

static int check_range(struct cfg_ctx *ctx, const config_setting_t *s,
                       const struct cfg_key *k, int64_t v)
{
    if (v >= k->min && v <= k->max)
        return 0;
    char lo[32], hi[32];
    if (k->type == CT_DURATION) {
        units_format_duration(k->min, lo, sizeof lo);
        units_format_duration(k->max, hi, sizeof hi);
    } else if (k->type == CT_SIZE) {
        units_format_size(k->min, lo, sizeof lo);
        units_format_size(k->max, hi, sizeof hi);
    } else {
        snprintf(lo, sizeof lo, "%lld", (long long)k->min);
        snprintf(hi, sizeof hi, "%lld", (long long)k->max);
    }
    return cfg_fail(ctx, s, "'%s' must be between %s and %s", k->name, lo, hi);
}

/* ------------------------------------------------------------------ */
/* One reader per type: the setting s is the key k of the section's obj. */

typedef int reader_fn(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                      void *obj);

static void *field_of(const struct cfg_key *k, void *obj)
{
    return (char *)obj + k->offset;
}

static const char *string_of(const config_setting_t *s)
{
    return config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
}

static bool is_int(const config_setting_t *s)
{
    int t = config_setting_type(s);
    return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static int store_in_range(struct cfg_ctx *ctx, const struct cfg_key *k,
                          const config_setting_t *s, void *obj, int64_t v)
{
    if (check_range(ctx, s, k, v) < 0)
        return -1;
    *(int64_t *)field_of(k, obj) = v;
    return 0;
}

static int read_int(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                    void *obj)
{
    int64_t v;
    return get_int(ctx, s, &v) < 0 ? -1 : store_in_range(ctx, k, s, obj, v);
}

static int read_bool(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                     void *obj)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return cfg_fail(ctx, s, "'%s' must be true or false", k->name);
    *(bool *)field_of(k, obj) = config_setting_get_bool(s);
    return 0;
}

static int read_string(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                       void *obj)
{
    const char *str = string_of(s);
    if (str == NULL)
        return cfg_fail(ctx, s, "'%s' must be a string", k->name);
    char **field = field_of(k, obj);
    free(*field);
    *field = strdup(str);
    return *field ? 0 : cfg_fail(ctx, s, "out of memory");
}

static int read_duration(struct cfg_ctx *ctx, const struct cfg_key *k,
                         const config_setting_t *s, void *obj)
{
    const char *str = string_of(s);
    int64_t v = 0;
    if (config_setting_type(s) == CONFIG_TYPE_FLOAT) {
        double d = config_setting_get_float(s) * 1000.0;
        if (!(d >= 0 && d < 1e15))
            return cfg_fail(ctx, s, "'%s': invalid duration", k->name);
        v = (int64_t)(d + 0.5);
    } else if (is_int(s)) {
        if (get_int(ctx, s, &v) < 0)
            return -1;
        if (v < 0 || v > INT64_MAX / 1000)
            return cfg_fail(ctx, s, "'%s': invalid duration", k->name);
        v *= 1000;
    } else if (str == NULL || units_parse_duration(str, &v) < 0) {
        return cfg_fail(ctx, s, "'%s' must be a duration such as 500ms, 10s, 5m or 1h", k->name);
    }
    return store_in_range(ctx, k, s, obj, v);
}

static int read_size(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                     void *obj)
{
    const char *str = string_of(s);
    int64_t v = 0;
    if (is_int(s)) {
        if (get_int(ctx, s, &v) < 0)
            return -1;
    } else if (str == NULL || units_parse_size(str, &v) < 0) {
        return cfg_fail(ctx, s, "'%s' must be a size such as 512, 64k or 1m", k->name);
    }
    return store_in_range(ctx, k, s, obj, v);
}

static int read_workers(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                        void *obj)
{
    const char *str = string_of(s);
    if (str == NULL)
        return read_int(ctx, k, s, obj);
    if (strcmp(str, "auto") != 0)
        return cfg_fail(ctx, s, "'%s' must be \"auto\" or a number", k->name);
    *(int64_t *)field_of(k, obj) = 0;
    return 0;
}

/* "'key' must be one of "a", "b"", the names given by name(i) until NULL. */
static int fail_choice(struct cfg_ctx *ctx, const config_setting_t *s, const struct cfg_key *k,
                       const char *(*name)(struct cfg_ctx *ctx, const struct cfg_key *k, int i))
{
    char list[256] = "";
    for (int i = 0; name(ctx, k, i); i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"", i ? ", " : "",
                 name(ctx, k, i));
    return cfg_fail(ctx, s, "'%s' must be one of %s", k->name, list);
}

static const char *enum_name(struct cfg_ctx *ctx, const struct cfg_key *k, int i)
{
    (void)ctx;
    return k->names[i];
}

static int read_enum(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                     void *obj)
{
    const char *str = string_of(s);
    for (int i = 0; str && k->names[i]; i++)
        if (strcmp(str, k->names[i]) == 0) {
            *(int *)field_of(k, obj) = i;
            return 0;
        }
    return fail_choice(ctx, s, k, enum_name);
}

static const char *protocol_name(struct cfg_ctx *ctx, const struct cfg_key *k, int i)
{
    (void)k;
    return ctx->protocols[i] ? ctx->protocols[i]->name : NULL;
}

static int read_protocol(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                         void *obj)
{
    const char *str = string_of(s);
    for (int i = 0; str && ctx->protocols[i]; i++)
        if (strcmp(str, ctx->protocols[i]->name) == 0) {
            *(const struct cfg_protocol **)field_of(k, obj) = ctx->protocols[i];
            return 0;
        }
    return fail_choice(ctx, s, k, protocol_name);
}

static int read_loglevel(struct cfg_ctx *ctx, const struct cfg_key *k,
                         const config_setting_t *s, void *obj)
{
    const char *str = string_of(s);
    int lv = str ? log_level_from(str) : -1;
    if (lv < 0)
        return cfg_fail(ctx, s, "'%s' must be one of \"error\", \"warn\", \"info\", \"debug\"",
                        k->name);
    *(int *)field_of(k, obj) = lv;
    return 0;
}

static void free_strings(struct cfg_strings *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

static int read_strings(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                        void *obj)
{
    const char *one = string_of(s);
    if (one == NULL && config_setting_type(s) != CONFIG_TYPE_ARRAY)
        return cfg_fail(ctx, s, "'%s' must be a string or an array of strings", k->name);
    struct cfg_strings *a = field_of(k, obj);
    free_strings(a);
    int n = one ? 1 : config_setting_length(s);
    if (n == 0)
        return cfg_fail(ctx, s, "'%s' must not be empty", k->name);
    a->v = calloc((size_t)n, sizeof *a->v);
    if (a->v == NULL)
        return cfg_fail(ctx, s, "out of memory");
    for (int i = 0; i < n; i++) {
        const char *e = one ? one : config_setting_get_string_elem(s, i);
        if (e == NULL)
            return cfg_fail(ctx, s, "'%s' must hold strings", k->name);
        if ((a->v[a->n] = strdup(e)) == NULL)
            return cfg_fail(ctx, s, "out of memory");
        a->n++;
    }
    return 0;
}

static int read_fields(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                       void *obj)
{
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return cfg_fail(ctx, s, "'%s' must be a group { Name = \"value\"; }", k->name);
    struct cfg_strings *a = field_of(k, obj);
    free_strings(a);
    int n = config_setting_length(s);
    if ((a->v = calloc(n ? 2 * (size_t)n : 1, sizeof *a->v)) == NULL)
        return cfg_fail(ctx, s, "out of memory");
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        const char *name = config_setting_name(e), *value = string_of(e);
        if (value == NULL)
            return cfg_fail(ctx, e, "'%s' in '%s' must be a string", name, k->name);
        if (strpbrk(value, "\r\n") != NULL)
            return cfg_fail(ctx, e, "'%s' in '%s' must not contain line breaks", name, k->name);
        if ((a->v[a->n] = strdup(name)) == NULL || (a->v[a->n + 1] = strdup(value)) == NULL) {
            a->n += a->v[a->n] != NULL;
            return cfg_fail(ctx, e, "out of memory");
        }
        a->n += 2;
    }
    return 0;
}

static int read_group(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                      void *obj)
{
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return cfg_fail(ctx, s, "'%s' must be a group { ... }", k->name);
    void **field = field_of(k, obj);
    if ((*field = calloc(1, k->sub->size)) == NULL)
        return cfg_fail(ctx, s, "out of memory");
    return cfg_read_section(ctx, k->sub, s, *field);
}

static int read_list(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                     void *obj)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
        return cfg_fail(ctx, s, "'%s' must be a list ( { ... }, ... )", k->name);
    /* Appended to what the list holds: an included file's servers follow
     * the main file's (cfg_read_list_more). */
    size_t n = (size_t)config_setting_length(s);
    char **field = field_of(k, obj);
    size_t *count = (size_t *)((char *)obj + k->aux_offset);
    size_t have = *field ? *count : 0;
    char *grown = realloc(*field, (have + n ? have + n : 1) * k->sub->size);
    if (grown == NULL)
        return cfg_fail(ctx, s, "out of memory");
    memset(grown + have * k->sub->size, 0, n * k->sub->size);
    *field = grown;
    for (*count = have; *count < have + n; (*count)++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)(*count - have));
        if (config_setting_type(e) != CONFIG_TYPE_GROUP)
            return cfg_fail(ctx, e, "each element of '%s' must be a group { ... }", k->name);
        void *elem = *field + *count * k->sub->size;
        if (cfg_read_section(ctx, k->sub, e, elem) < 0) {
            (*count)++;     /* what it holds is freed with the rest */
            return -1;
        }
    }
    return 0;
}

static reader_fn *const readers[CT_TYPES] = {
    [CT_INT] = read_int,
    [CT_BOOL] = read_bool,
    [CT_STRING] = read_string,
    [CT_DURATION] = read_duration,
    [CT_SIZE] = read_size,
    [CT_ENUM] = read_enum,
    [CT_WORKERS] = read_workers,
    [CT_LOGLEVEL] = read_loglevel,
    [CT_STRINGS] = read_strings,
    [CT_GROUP] = read_group,
    [CT_LIST] = read_list,
    [CT_PROTOCOL] = read_protocol,
    [CT_FIELDS] = read_fields,
};

static int read_value(struct cfg_ctx *ctx, const struct cfg_key *k, const config_setting_t *s,
                      void *obj)
{
    return readers[k->type](ctx, k, s, obj);
}

/* ------------------------------------------------------------------ */

/* A default is written as the string form of a value ("30s", "64k",
 * "auto", "index.html") and read by the same reader as a value from a file:
 * through a tiny configuration built around it. Integers and booleans have
 * no string form, so they are converted here. */
static int apply_default(struct cfg_ctx *ctx, const struct cfg_key *k, void *obj)
{
    if (k->def == NULL && k->type != CT_PROTOCOL)
        return 0;
    if (k->type == CT_INT) {
        *(int64_t *)field_of(k, obj) = strtoll(k->def, NULL, 10);
        return 0;
    }
    if (k->type == CT_BOOL) {
        *(bool *)field_of(k, obj) = strcmp(k->def, "true") == 0;
        return 0;
    }
    if (k->type == CT_PROTOCOL) {
        *(const struct cfg_protocol **)field_of(k, obj) = ctx->protocols[0];
        return 0;
    }
    config_t tmp;
    config_init(&tmp);
    char text[512];
    snprintf(text, sizeof text, "%s = \"%s\";", k->name, k->def);
    int rc = -1;
    if (config_read_string(&tmp, text) == CONFIG_TRUE)
        rc = read_value(ctx, k, config_setting_get_member(config_root_setting(&tmp), k->name),
                        obj);
    else
        cfg_fail(ctx, NULL, "internal error: default of '%s'", k->name);
    config_destroy(&tmp);
    return rc;
}

static const struct cfg_key *find_key(const struct cfg_section *sec, const char *name)
{
    for (size_t i = 0; i < sec->n_keys; i++)
        if (strcmp(sec->keys[i].name, name) == 0)
            return &sec->keys[i];
    return NULL;
}

static int set_where(struct cfg_ctx *ctx, void *obj, const char *file, int line)
{
    struct cfg_where *where = obj;
    where->file = strdup(file);
    where->line = line;
    return where->file ? 0 : cfg_fail(ctx, NULL, "out of memory");
}

static int apply_defaults(struct cfg_ctx *ctx, const struct cfg_section *sec, void *obj)
{
    for (size_t i = 0; i < sec->n_keys; i++)
        if (apply_default(ctx, &sec->keys[i], obj) < 0)
            return -1;
    return 0;
}

int cfg_defaults(struct cfg_ctx *ctx, const struct cfg_section *sec, void *obj,
                 const struct cfg_where *where)
{
    if (set_where(ctx, obj, where->file, where->line) < 0)
        return -1;
    return apply_defaults(ctx, sec, obj);
}

/* A section is read into one struct, or two when it has a protocol key:
 * the protocol's keys share the group and land in the protocol's struct. */
struct part {
    const struct cfg_section *sec;
    void *obj;
};

static const struct cfg_key *protocol_key(const struct cfg_section *sec)
{
    for (size_t i = 0; i < sec->n_keys; i++)
        if (sec->keys[i].type == CT_PROTOCOL)
            return &sec->keys[i];
    return NULL;
}

/* The protocol is known before any other key is read: it decides which
 * keys the group may hold. */
static int start_protocol(struct cfg_ctx *ctx, const struct cfg_key *pk,
                          const config_setting_t *group, void *obj, struct part *part)
{
    const config_setting_t *s = config_setting_get_member(group, pk->name);
    if (s && read_value(ctx, pk, s, obj) < 0)
        return -1;
    const struct cfg_protocol *p = *(const struct cfg_protocol **)field_of(pk, obj);
    void **conf = (void **)((char *)obj + pk->aux_offset);
    if ((*conf = calloc(1, p->section->size)) == NULL)
        return cfg_fail(ctx, group, "out of memory");
    part->sec = p->section;
    part->obj = *conf;
    if (set_where(ctx, *conf, setting_file(ctx, group), setting_line(group)) < 0)
        return -1;
    return apply_defaults(ctx, p->section, *conf);
}

/* Keys meant for another protocol are mistakes, not options to ignore. */
static int unknown_key(struct cfg_ctx *ctx, const struct cfg_section *sec,
                       const struct cfg_key *pk, const void *obj, const config_setting_t *s,
                       const char *name)
{
    if (name == NULL)
        return cfg_fail(ctx, s, "unknown key '?' in %s", sec->name);
    const struct cfg_protocol *mine =
        pk ? *(const struct cfg_protocol *const *)((const char *)obj + pk->offset) : NULL;
    for (int i = 0; mine && ctx->protocols[i]; i++)
        if (ctx->protocols[i] != mine && find_key(ctx->protocols[i]->section, name))
            return cfg_fail(ctx, s, "'%s' does not apply to protocol \"%s\"", name, mine->name);
    return cfg_fail(ctx, s, "unknown key '%s' in %s", name, sec->name);
}

int cfg_read_list_more(struct cfg_ctx *ctx, const struct cfg_section *sec,
                       const config_setting_t *list, void *obj)
{
    const char *name = config_setting_name(list);
    const struct cfg_key *k = name ? find_key(sec, name) : NULL;
    if (k == NULL || k->type != CT_LIST) {
        errno = ENOENT;
        return -1;
    }
    return read_list(ctx, k, list, obj);
}

int cfg_read_section(struct cfg_ctx *ctx, const struct cfg_section *sec,
                     const config_setting_t *group, void *obj)
{
    struct part parts[2] = { { sec, obj } };
    size_t n_parts = 1;
    const struct cfg_key *pk = protocol_key(sec);
    if (set_where(ctx, obj, setting_file(ctx, group), setting_line(group)) < 0 ||
        apply_defaults(ctx, sec, obj) < 0 ||
        (pk && start_protocol(ctx, pk, group, obj, &parts[n_parts++]) < 0))
        return -1;
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        const struct cfg_key *k = NULL;
        size_t j = 0;
        while (name && j < n_parts && (k = find_key(parts[j].sec, name)) == NULL)
            j++;
        if (k == NULL)
            return unknown_key(ctx, sec, pk, obj, s, name);
        if (read_value(ctx, k, s, parts[j].obj) < 0)
            return -1;
    }
    for (size_t j = 0; j < n_parts; j++)
        if (parts[j].sec->validate && parts[j].sec->validate(ctx, group, parts[j].obj) < 0)
            return -1;
    return 0;
}
