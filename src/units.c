#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DURATION_MAX_MS (10LL * 365 * 24 * 3600 * 1000)

struct unit {
    const char *suffix;
    int64_t factor;
};

static const struct unit duration_units[] = {
    { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
    { "d", 86400000 }, { "", 1000 },
};

static const struct unit size_units[] = {
    { "k", 1024 }, { "K", 1024 }, { "m", 1024 * 1024 }, { "M", 1024 * 1024 },
    { "g", 1024LL * 1024 * 1024 }, { "G", 1024LL * 1024 * 1024 }, { "", 1 },
};

static const struct unit *unit_find(const struct unit *units, size_t n,
                                    const char *suffix)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(units[i].suffix, suffix) == 0)
            return &units[i];
    return NULL;
}

int units_parse_duration(const char *s, int64_t *ms)
{
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    /* strtod also reads hexadecimal ("0x10") and exponents ("1e3"), which
     * herd.conf(5) does not promise: a decimal number, maybe a fraction. */
    if (errno != 0 || end == s || strspn(s, "0123456789.") != (size_t)(end - s))
        return -1;
    const struct unit *u = unit_find(duration_units,
        sizeof duration_units / sizeof duration_units[0], end);
    if (u == NULL)
        return -1;
    double total = v * (double)u->factor;
    if (!(total >= 0) || total > (double)DURATION_MAX_MS)
        return -1;
    *ms = (int64_t)llround(total);
    return 0;
}

int units_parse_size(const char *s, int64_t *bytes)
{
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    const struct unit *u = unit_find(size_units,
        sizeof size_units / sizeof size_units[0], end);
    if (u == NULL)
        return -1;
    if (v > (unsigned long long)INT64_MAX / (unsigned long long)u->factor)
        return -1;
    *bytes = (int64_t)v * u->factor;
    return 0;
}

void units_format_duration(int64_t ms, char *out, size_t cap)
{
    static const struct unit order[] = {
        { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (ms != 0 && ms % order[i].factor == 0) {
            snprintf(out, cap, "%lld%s", (long long)(ms / order[i].factor),
                     order[i].suffix);
            return;
        }
    }
    if (ms == 0)
        snprintf(out, cap, "0s");
    else
        snprintf(out, cap, "%lldms", (long long)ms);
}

void units_format_size(int64_t bytes, char *out, size_t cap)
{
    static const struct unit order[] = {
        { "g", 1024LL * 1024 * 1024 }, { "m", 1024 * 1024 }, { "k", 1024 },
    };
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (bytes != 0 && bytes % order[i].factor == 0) {
            snprintf(out, cap, "%lld%s", (long long)(bytes / order[i].factor),
                     order[i].suffix);
            return;
        }
    }
    snprintf(out, cap, "%lld", (long long)bytes);
}
