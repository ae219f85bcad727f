/* The other walks over a section's table (config_engine.h): printing the
 * effective configuration in the syntax the reader accepts (herd -T),
 * freeing it, and listing every key for the manual page check.
 * Tested by tests/unit/check_config_print.c (every type of a made-up
 * section, the -T round trip of every key of the real tables, key_list)
 * and tests/unit/check_docs.c. */
#include "config_engine.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "units.h"

static const void *field_of(const struct cfg_key *k, const void *obj)
{
    return (const char *)obj + k->offset;
}

static size_t count_of(const struct cfg_key *k, const void *obj)
{
    return *(const size_t *)((const char *)obj + k->aux_offset);
}

static const struct cfg_protocol *protocol_of(const struct cfg_key *k, const void *obj)
{
    return *(const struct cfg_protocol *const *)field_of(k, obj);
}

static void *aux_of(const struct cfg_key *k, const void *obj)
{
    return *(void *const *)((const char *)obj + k->aux_offset);
}

static void print_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(out, "\\x%02x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

static void print_strings(FILE *out, const struct cfg_strings *a)
{
    fputs("[ ", out);
    for (size_t i = 0; i < a->n; i++) {
        if (i)
            fputs(", ", out);
        print_string(out, a->v[i]);
    }
    fputs(" ]", out);
}

static void print_fields(FILE *out, const struct cfg_strings *a, int depth)
{
    fputs("{\n", out);
    for (size_t i = 0; i + 1 < a->n; i += 2) {
        fprintf(out, "%*s%s = ", (depth + 1) * 2, "", a->v[i]);
        print_string(out, a->v[i + 1]);
        fputs(";\n", out);
    }
    fprintf(out, "%*s}", depth * 2, "");
}

static void print_list(FILE *out, const struct cfg_key *k, const void *obj, int depth)
{
    const char *arr = *(char *const *)field_of(k, obj);
    size_t n = count_of(k, obj);
    fputs("(\n", out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%*s{\n", (depth + 1) * 2, "");
        cfg_print_section(out, k->sub, arr + i * k->sub->size, depth + 2);
        fprintf(out, "%*s}%s\n", (depth + 1) * 2, "", i + 1 < n ? "," : "");
    }
    fprintf(out, "%*s)", depth * 2, "");
}

/* The value of k, after "name = ". */
static void print_value(FILE *out, const struct cfg_key *k, const void *obj, int depth)
{
    const void *field = field_of(k, obj);
    char buf[64];
    switch (k->type) {
    case CT_INT:
        fprintf(out, "%lld", (long long)*(const int64_t *)field);
        break;
    case CT_BOOL:
        fputs(*(const bool *)field ? "true" : "false", out);
        break;
    case CT_STRING:
        print_string(out, *(char *const *)field);
        break;
    case CT_DURATION:
        units_format_duration(*(const int64_t *)field, buf, sizeof buf);
        print_string(out, buf);
        break;
    case CT_SIZE:
        units_format_size(*(const int64_t *)field, buf, sizeof buf);
        print_string(out, buf);
        break;
    case CT_WORKERS:
        if (*(const int64_t *)field == 0)
            print_string(out, "auto");
        else
            fprintf(out, "%lld", (long long)*(const int64_t *)field);
        break;
    case CT_ENUM:
        print_string(out, k->names[*(const int *)field]);
        break;
    case CT_LOGLEVEL:
        print_string(out, log_level_name((enum log_level) * (const int *)field));
        break;
    case CT_STRINGS:
        print_strings(out, field);
        break;
    case CT_FIELDS:
        print_fields(out, field, depth);
        break;
    case CT_GROUP:
        fputs("{\n", out);
        cfg_print_section(out, k->sub, *(void *const *)field, depth + 1);
        fprintf(out, "%*s}", depth * 2, "");
        break;
    case CT_LIST:
        print_list(out, k, obj, depth);
        break;
    case CT_PROTOCOL:
        print_string(out, protocol_of(k, obj)->name);
        break;
    }
}

/* Keys without a value (no default, not set) are left out. */
static bool is_set(const struct cfg_key *k, const void *obj)
{
    const void *field = field_of(k, obj);
    switch (k->type) {
    case CT_STRING:
    case CT_GROUP:
        return *(void *const *)field != NULL;
    case CT_STRINGS:
    case CT_FIELDS:
        return ((const struct cfg_strings *)field)->n > 0;
    case CT_LIST:
        return count_of(k, obj) > 0;
    default:
        return true;
    }
}

void cfg_print_section(FILE *out, const struct cfg_section *sec, const void *obj, int depth)
{
    const struct cfg_key *protocol = NULL;
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct cfg_key *k = &sec->keys[i];
        if (!is_set(k, obj))
            continue;
        /* Printed, the merged lists would be read twice. */
        fprintf(out, "%*s%s%s = ", depth * 2, "", k->merged ? "# " : "", k->name);
        print_value(out, k, obj, depth);
        fputs(k->merged ? ";  (what they hold is in the lists above)\n" : ";\n", out);
        if (k->type == CT_PROTOCOL)
            protocol = k;
    }
    /* The protocol's own keys follow the generic ones, in the same group. */
    if (protocol)
        cfg_print_section(out, protocol_of(protocol, obj)->section, aux_of(protocol, obj), depth);
}

/* ------------------------------------------------------------------ */

void cfg_free_section(const struct cfg_section *sec, void *obj)
{
    if (obj == NULL)
        return;
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct cfg_key *k = &sec->keys[i];
        void *field = (char *)obj + k->offset;
        switch (k->type) {
        case CT_STRING:
            free(*(char **)field);
            break;
        case CT_STRINGS:
        case CT_FIELDS: {
            struct cfg_strings *a = field;
            for (size_t j = 0; j < a->n; j++)
                free(a->v[j]);
            free(a->v);
            break;
        }
        case CT_GROUP:
            if (k->release && *(void **)field)
                k->release(*(void **)field);
            cfg_free_section(k->sub, *(void **)field);
            free(*(void **)field);
            break;
        case CT_LIST: {
            char *arr = *(char **)field;
            for (size_t j = 0; j < count_of(k, obj); j++)
                cfg_free_section(k->sub, arr + j * k->sub->size);
            free(arr);
            break;
        }
        case CT_PROTOCOL: {
            if (protocol_of(k, obj))
                cfg_free_section(protocol_of(k, obj)->section, aux_of(k, obj));
            free(aux_of(k, obj));
            break;
        }
        default:
            break;
        }
    }
    free(((struct cfg_where *)obj)->file);
}

void cfg_each_key(const struct cfg_section *sec, const struct cfg_protocol *const *protocols,
                  bool top, void (*fn)(const char *section, const char *key, void *arg),
                  void *arg)
{
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct cfg_key *k = &sec->keys[i];
        fn(top ? "" : sec->name, k->name, arg);
        if (k->sub)
            cfg_each_key(k->sub, protocols, false, fn, arg);
        for (size_t j = 0; k->type == CT_PROTOCOL && protocols[j]; j++)
            cfg_each_key(protocols[j]->section, protocols, false, fn, arg);
    }
}
