/* The configuration engine: how a module declares the keys it owns.
 *
 * A module describes each section (a libconfig group) with a table of keys:
 * name, type, where the value lands in the section's struct, default and
 * range. The engine does the rest from the table alone: it type-checks and
 * range-checks every value, rejects unknown keys, reports every error at
 * FILE:LINE, fills in defaults, prints the effective configuration (herd -T),
 * frees it, and lists the keys for the manual page check. Checks that span
 * several keys go in the section's validate hook, which reports through
 * cfg_fail().
 *
 * Every section's struct begins with a struct cfg_where. */
#ifndef HERD_CONFIG_ENGINE_H
#define HERD_CONFIG_ENGINE_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

enum cfg_type {
    CT_INT,         /* int64_t */
    CT_BOOL,        /* bool */
    CT_STRING,      /* char * */
    CT_DURATION,    /* int64_t milliseconds; number of seconds or "10s" */
    CT_SIZE,        /* int64_t bytes; integer or "64k" */
    CT_ENUM,        /* int, index into names */
    CT_WORKERS,     /* int64_t; integer or "auto" (0) */
    CT_LOGLEVEL,    /* int, log_level_from() */
    CT_STRINGS,     /* struct cfg_strings: a string or an array of strings */
    CT_GROUP,       /* pointer to a sub-section's struct, NULL when absent */
    CT_LIST,        /* array of sub-section structs, count at aux_offset */
    CT_PROTOCOL,    /* const struct cfg_protocol *, one of config_use_protocols(),
                       default the first; the protocol's own keys share the
                       group and land in a struct of its section at aux_offset */
    CT_FIELDS,      /* struct cfg_strings: a group of header fields { Name = "value"; },
                       held as name, value, name, value...; a value may not
                       hold CR, LF or NUL */
};
#define CT_TYPES (CT_FIELDS + 1)

struct cfg_section;
struct cfg_ctx;

struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t offset;              /* where the value lands in the section's struct */
    const char *def;            /* default, as the string form of a value; NULL: none */
    int64_t min, max;           /* CT_INT, CT_DURATION (ms), CT_SIZE (bytes), CT_WORKERS */
    const char *const *names;   /* CT_ENUM: the values, NULL-terminated */
    const struct cfg_section *sub;  /* CT_GROUP, CT_LIST: the element's section */
    size_t aux_offset;          /* CT_LIST: where the element count (size_t) lands;
                                   CT_PROTOCOL: where the protocol's struct (void *) lands */
    /* CT_GROUP: frees what the sub-section's validate built beyond its keys
     * (a TLS context), also of a group read in part. NULL: nothing. */
    void (*release)(void *obj);
    /* CT_STRINGS naming files whose lists were merged into this section's
     * (`include`): -T shows it as a comment, the lists holding the rest. */
    bool merged;
};

struct cfg_section {
    const char *name;           /* in messages: "unknown key 'x' in route" */
    size_t size;                /* of the section's struct */
    const struct cfg_key *keys;
    size_t n_keys;
    /* Checks across keys, once every key is read: 0, or -1 after cfg_fail(). */
    int (*validate)(struct cfg_ctx *ctx, const config_setting_t *group, void *obj);
};

/* A protocol as the configuration knows it (the registry, proto.c, lists
 * them). A server's group holds the generic server keys and the keys of its
 * protocol's section; a key of another protocol is an error ("'x' does not
 * apply to protocol \"y\""). */
struct cfg_protocol {
    const char *name;                   /* protocol = "name" */
    const struct cfg_section *section;  /* its keys in a server's group */
    /* Servers a and b (b earlier in the file), both of this protocol, listen
     * on the same address (canonical text addr): may they? 0, or -1 after
     * cfg_fail(ctx, where, ...). NULL: never. */
    int (*share)(struct cfg_ctx *ctx, const config_setting_t *where, const struct cfg_server *a,
                 const struct cfg_server *b, const char *addr);
    /* What a server's own keys cannot check alone, once the whole file is
     * read (an upstream it names): s is a server of this protocol, group
     * its setting. 0, or -1 after cfg_fail(). NULL: nothing to check. */
    int (*check)(struct cfg_ctx *ctx, const config_setting_t *group,
                 const struct herd_config *cfg, struct cfg_server *s);
};

/* One configuration being read. */
struct cfg_ctx {
    char *err;
    size_t errcap;
    const char *main_file;      /* the name to report for the main file */
    const char *main_text;      /* its text, for the integer range check */
    const char *include_dir;    /* where relative @include names resolve */
    const struct cfg_protocol *const *protocols;   /* NULL-terminated; the default first */
    char resolved[4096];        /* scratch for a resolved include name */
    void *included;             /* config.c: the files `include` named */
};

#define CFG_AT(type, field) offsetof(struct type, field)
#define CFG_NKEYS(keys) (sizeof(keys) / sizeof((keys)[0]))
#define CFG_MS(seconds) ((int64_t)(seconds) * 1000)
#define CFG_DAY CFG_MS(86400)

/* ---- for validate hooks */

/* Write "FILE:LINE: message" (the line of s; the file alone when s has no
 * line) into the context's error. Returns -1. */
int cfg_fail(struct cfg_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Log "FILE:LINE: message" as a warning: accepted, but likely a mistake. */
void cfg_warn(struct cfg_ctx *ctx, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Every entry of list (key's value, at `at`) an address or range
 * (cidr.h) or "all"; with unix_ok also "unix:" (a unix-socket peer). A
 * range with host bits is accepted as its network, as nginx does, but
 * warned (likely a typo). 0, or -1 with the error at FILE:LINE. */
int cfg_check_ranges(struct cfg_ctx *ctx, const config_setting_t *at, const char *key,
                     const struct cfg_strings *list, bool unix_ok);
/* Where w is, said from the setting at: "line N" in the same file,
 * "FILE:N" in another (an included file). Returns buf. */
const char *cfg_where_seen(struct cfg_ctx *ctx, const config_setting_t *at,
                           const struct cfg_where *w, char *buf, size_t cap);
/* The line of key `name` of group, or the group's own line when it is absent
 * (for messages about a value checked later, such as a log that cannot be
 * opened). */
int cfg_line(const config_setting_t *group, const char *name);
/* Fill obj (a zeroed struct of sec) with sec's defaults, as if its group
 * were present and empty, located at `where`. 0, or -1 after cfg_fail(). */
int cfg_defaults(struct cfg_ctx *ctx, const struct cfg_section *sec, void *obj,
                 const struct cfg_where *where);

/* ---- for the configuration core */

/* The file a setting came from, as a path the user can open. */
const char *cfg_source_file(struct cfg_ctx *ctx, const char *file);
/* Append the elements of list (a setting named like a CT_LIST key of sec,
 * from another file) to that list of obj, as if the main file had them.
 * -1 with errno ENOENT when sec has no such list (nothing written to the
 * context's error), else -1 after cfg_fail(). */
int cfg_read_list_more(struct cfg_ctx *ctx, const struct cfg_section *sec,
                       const config_setting_t *list, void *obj);
/* Read group into obj (a zeroed struct of sec): defaults, every key, then
 * validate. 0, or -1 with the message in ctx->err. */
int cfg_read_section(struct cfg_ctx *ctx, const struct cfg_section *sec,
                     const config_setting_t *group, void *obj);
/* Free what reading put into obj (not obj itself). */
void cfg_free_section(const struct cfg_section *sec, void *obj);
/* Print obj's keys in libconfig syntax, indented by depth levels. */
void cfg_print_section(FILE *out, const struct cfg_section *sec, const void *obj, int depth);
/* Call fn for every key of sec and of the sections below it, every
 * protocol's included; the section is "" for sec itself when top is true. */
void cfg_each_key(const struct cfg_section *sec, const struct cfg_protocol *const *protocols,
                  bool top, void (*fn)(const char *section, const char *key, void *arg),
                  void *arg);

#endif
