/* Printing a configuration (src/config_print.c): the text of every key
 * type for a made-up section (config_fixture.h), strings escaped so that
 * libconfig reads back the same bytes, keys without a value left out;
 * freeing; the key list. Then the real tables: -T read back gives the
 * same text and the same value of every key of every section. */
#include <check.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_engine.h"
#include "log.h"
#include "proto.h"
#include "units.h"
#include "config_fixture.h"
#include "tap.h"

/* cfg_print_section of obj (a struct of sec) at depth, as a string. */
static char *print_text(const struct cfg_section *sec, const void *obj, int depth)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    cfg_print_section(f, sec, obj, depth);
    ck_assert_int_eq(fclose(f), 0);
    return text;
}

static void assert_prints(const struct cfg_section *sec, const void *obj, int depth,
                          const char *want)
{
    char *text = print_text(sec, obj, depth);
    ck_assert_str_eq(text, want);
    free(text);
}

static const char every_key[] =
    "count = 10;\n"
    "flag = false;\n"
    "name = \"a \\\"b\\\"\";\n"
    "wait = \"90s\";\n"
    "size = \"2g\";\n"
    "mode = \"c\";\n"
    "workers = 8;\n"
    "level = \"debug\";\n"
    "names = [ \"p\", \"q\" ];\n"
    "one = {\n"
    "  n = 7;\n"
    "  tag = \"t\";\n"
    "};\n"
    "items = (\n"
    "  {\n"
    "    n = 0;\n"
    "  },\n"
    "  {\n"
    "    n = 100;\n"
    "    tag = \"last\";\n"
    "  }\n"
    ");\n";

/* Each type in the syntax the reader takes (read back, the same text);
 * deeper, two blanks a level. */
START_TEST(every_type_printed)
{
    struct sample s;
    char err[512];
    ck_assert_msg(sample_read(&sample_section, every_key, &s, err, sizeof err) == 0, "%s", err);
    assert_prints(&sample_section, &s, 0, every_key);
    assert_prints(&sample_item_section, s.one, 2, "    n = 7;\n    tag = \"t\";\n");
    cfg_free_section(&sample_section, &s);
}
END_TEST

/* Keys without a value (a string, group or list not set, no strings) are
 * left out; the others print their zero. */
START_TEST(unset_keys_left_out)
{
    struct sample s;
    memset(&s, 0, sizeof s);
    assert_prints(&sample_section, &s, 0,
                  "count = 0;\nflag = false;\nwait = \"0s\";\nsize = \"0\";\nmode = \"a\";\n"
                  "workers = \"auto\";\nlevel = \"error\";\n");
    cfg_free_section(&sample_section, &s);
    cfg_free_section(&sample_section, NULL);
}
END_TEST

/* Durations and sizes in the largest unit that divides them. */
START_TEST(units_printed)
{
    static const struct {
        int64_t wait, size;
        const char *want;
    } rows[] = {
        { 1500, 65536, "wait = \"1500ms\";\nsize = \"64k\";\n" },
        { 60000, 1000, "wait = \"1m\";\nsize = \"1000\";\n" },
        { 0, 3 * 1024 * 1024, "wait = \"0s\";\nsize = \"3m\";\n" },
        { 90000, 0, "wait = \"90s\";\nsize = \"0\";\n" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct sample s = { .wait = rows[i].wait, .size = rows[i].size };
        char *text = print_text(&sample_section, &s, 0);
        ck_assert_msg(strstr(text, rows[i].want) != NULL, "'%s' does not hold '%s'", text,
                      rows[i].want);
        free(text);
    }
}
END_TEST

/* Quotes, backslashes and control bytes are escaped; other bytes (UTF-8)
 * are written as they are; libconfig reads back the same string. */
START_TEST(strings_escaped)
{
    static char name[] = "q\"b\\n\nr\rt\tf\f\x01\x1f\x7f \xc3\xa9 \xe2\x9c\x93";
    struct sample s = { .name = name };
    char *text = print_text(&sample_section, &s, 0);
    char *line = strstr(text, "name = \"q\\\"b\\\\n\\nr\\rt\\tf\\f\\x01\\x1f\\x7f "
                                 "\xc3\xa9 \xe2\x9c\x93\";\n");
    ck_assert_msg(line != NULL, "%s", text);
    *strchr(line, '\n') = '\0';
    struct sample back;
    char err[512];
    ck_assert_msg(sample_read(&sample_section, line, &back, err, sizeof err) == 0, "%s\n%s", err,
                  line);
    ck_assert_str_eq(back.name, name);
    cfg_free_section(&sample_section, &back);
    free(text);
    /* An array of strings, escaped alike. */
    char *v[] = { (char *)"a\"", (char *)"" };
    struct sample a = { .names = { v, 2 } };
    text = print_text(&sample_section, &a, 0);
    ck_assert_ptr_nonnull(strstr(text, "names = [ \"a\\\"\", \"\" ];\n"));
    free(text);
}
END_TEST

/* A protocol's own keys follow the generic ones, in the same group. */
START_TEST(protocol_keys_printed)
{
    struct sample_srv srv;
    char err[512];
    ck_assert_msg(sample_read(&sample_srv_section, "beta = \"x\"; kind = \"two\"; port = 8;",
                              &srv, err, sizeof err) == 0, "%s", err);
    assert_prints(&sample_srv_section, &srv, 1,
                  "  port = 8;\n  kind = \"two\";\n  beta = \"x\";\n");
    cfg_free_section(&sample_srv_section, &srv);
    ck_assert_msg(sample_read(&sample_srv_section, "", &srv, err, sizeof err) == 0, "%s", err);
    assert_prints(&sample_srv_section, &srv, 0, "port = 80;\nkind = \"one\";\nalpha = 1;\n");
    cfg_free_section(&sample_srv_section, &srv);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The key list: every key once per section it is in, sub-sections after
 * the key that holds them, every protocol's keys after the protocol key. */

static void add_key(const char *section, const char *key, void *arg)
{
    char *list = arg;
    size_t n = strlen(list);
    snprintf(list + n, 1024 - n, "%s.%s ", section, key);
}

START_TEST(each_key)
{
    char list[1024] = "";
    cfg_each_key(&sample_section, sample_protocols, true, add_key, list);
    ck_assert_str_eq(list, ".count .flag .name .wait .size .mode .workers .level .names .one "
                           "item.n item.tag .items item.n item.tag ");
    list[0] = '\0';
    cfg_each_key(&sample_srv_section, sample_protocols, false, add_key, list);
    ck_assert_str_eq(list, "srv.port srv.kind one.alpha two.beta ");
}
END_TEST

/* ------------------------------------------------------------------ */

/* herd -T prints what it read; reading that back gives the same thing. */
static void round_trip(const char *text)
{
    char err[512];
    struct herd_config *a = text ? fixture_load(text, err, sizeof err)
                                 : config_load(NULL, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    char *first = fixture_print(a);
    fixture_conf_write(fixture_conf, first);
    struct herd_config *b = config_load(fixture_conf, err, sizeof err);
    ck_assert_msg(b != NULL, "printed config does not parse: %s\n%s", err, first);
    char *second = fixture_print(b);
    /* Only the comment line naming the source differs. */
    ck_assert_str_eq(strchr(first, '\n'), strchr(second, '\n'));
    ck_assert_int_eq(a->n_servers, b->n_servers);
    ck_assert_int_eq(a->shutdown_timeout, b->shutdown_timeout);
    free(first);
    free(second);
    config_free(a);
    config_free(b);
}

/* The escapes of strings, -T of the embedded default, and a few hand-written
 * files: the printed text reads back to the same text. */
START_TEST(print_round_trip_text)
{
    round_trip(NULL);
    round_trip(BASE "workers = 7; shutdown_timeout = 0.25; log_level = \"warn\";\n"
               "servers = ( { listen = [\"[::]:81\", \"82\"]; max_body = 1000;\n"
               " routes = ( { path = \"/q\\\"uote\\\\\"; exact = true;\n"
               " return = { status = 418; type = \"text/x\"; body = \"tab\\there\\nnl\"; }; },\n"
               " { path = \"/r\"; return = { status = 308; location = \"https://x/\"; }; } ); },\n"
               " { listen = \"9\"; protocol = \"echo\"; idle_timeout = \"90s\"; reuseport = false; } );\n");
    round_trip(BASE "servers = ( { listen = [\"127.0.0.1:81\"]; access_log = \"/tmp/a.log\";\n"
               " access_log_format = \"$remote_addr $status\"; server_names = [ \"a.test\", \"*.b.test\" ];\n"
               " error_pages = ( { status = 404; file = \"/etc/passwd\"; } );\n"
               " routes = ( { path = \"/s\"; status = { format = \"prometheus\"; };\n"
               "   allow = [ \"127.0.0.1\", \"::1\" ]; deny = [ \"all\" ]; },\n"
               " { path = \"/\"; methods = [ \"GET\", \"POST\" ];\n"
               "   static = { root = \"/tmp\"; index = [ \"a.html\", \"b.html\" ]; autoindex = true;\n"
               "   cache = { valid = \"250ms\"; max_file = 0; size = \"8m\"; }; }; } ); },\n"
               " { listen = [\"127.0.0.1:81\"]; server_names = [ \"c.test\" ];\n"
               "   routes = ( { path = \"/\"; static = { root = \"/\"; }; } ); } );\n");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The round trip of every key of every section, generated from the tables:
 * a file that sets each key to a value other than its default is read,
 * printed (-T), read back, and the two readings are compared field by
 * field. A key added to a table is covered without touching this test,
 * unless its validator needs a particular value (then add it to `fixed`). */

/* A certificate and its key for the servers' `tls` groups, loaded and
 * checked as any: made by the openssl command, renamed into place whole
 * (a suite running at the same time finds the old pair or the new). */
#define ROUND_TRIP_PEM "/tmp/herd-round-trip-tls.pem"

/* And a session ticket key file (80 random bytes). */
#define ROUND_TRIP_TICKET_KEY "/tmp/herd-round-trip-ticket.key"

static void tls_pair(void)
{
    if (access(ROUND_TRIP_TICKET_KEY, R_OK) != 0)
        ck_assert_int_eq(system("f=$(mktemp /tmp/herd-ticket-XXXXXX) && "
                                "head -c 80 /dev/urandom > $f && chmod 600 $f && "
                                "mv $f " ROUND_TRIP_TICKET_KEY), 0);
    if (access(ROUND_TRIP_PEM, R_OK) == 0)
        return;
    ck_assert_int_eq(system("d=$(mktemp -d) && cd $d && "
                            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                            "-nodes -keyout k -out c -days 3650 -subj /CN=round.trip "
                            "2>/dev/null && cat c k > p && chmod 644 p && "
                            "mv p " ROUND_TRIP_PEM " && cd / && rm -rf $d"), 0);
}

/* A password file for the routes' `auth` groups (read when the file is
 * loaded): one bcrypt user, renamed into place whole like the TLS pair. */
#define ROUND_TRIP_HTPASSWD "/tmp/herd-round-trip-htpasswd"

static void htpasswd_file(void)
{
    if (access(ROUND_TRIP_HTPASSWD, R_OK) == 0)
        return;
    ck_assert_int_eq(system("f=$(mktemp) && echo 'alice:$2b$04$Wl1g9R0z9t9PqUOHLWQhLOAviNdm1"
                            "Fy7L2BPJ5i3DKyArgYYTZReW' > $f && chmod 644 $f && "
                            "mv $f " ROUND_TRIP_HTPASSWD), 0);
}

/* Values a validator constrains, by "section.key"; alternatives separated
 * by '|' go to the elements of a list in turn. */
static const struct {
    const char *key;
    const char *value;
} fixed[] = {
    { "configuration.user", "\"root\"" },
    { "configuration.group", "\"root\"" },
    { "configuration.pid_file", "\"/tmp/herd-round-trip.pid\"" },
    { "configuration.error_log", "\"/tmp/herd-round-trip.log\"" },
    /* Each with a unix socket, for unix_mode, unix_owner and unix_group. */
    { "server.listen", "[ \"127.0.0.1:9100\", \"[::1]:9100\", \"unix:/tmp/herd-rt-0.sock\" ]|"
                       "[ \"127.0.0.1:9101\", \"unix:/tmp/herd-rt-1.sock\" ]|"
                       "[ \"127.0.0.1:9102\", \"unix:/tmp/herd-rt-2.sock\" ]" },
    { "server.unix_mode", "\"0660\"" },
    { "server.unix_owner", "\"root\"" },
    { "server.unix_group", "\"root\"" },
    { "auth.user_file", "\"" ROUND_TRIP_HTPASSWD "\"" },
    { "limit.rate", "\"10r/s\"" },
    { "limit.key", "\"$http_x_api_key\"" },
    { "limit.status", "503" },
    { "server limit.rate", "\"30r/m\"" },
    { "server limit.key", "\"$host\"" },
    { "server limit.status", "503" },
    { "http.access_log", "\"/tmp/herd-round-trip-access.log\"" },
    { "http.access_log_format", "\"$remote_addr \\\"$request\\\" $status\"" },
    { "error page.status", "404|500" },
    { "error page.file", "\"/etc/passwd\"" },
    { "route.path", "\"/p0\"|\"/p1\"|\"/p2\"|\"/p3\"" },
    /* A backslash and a quote to escape: the same pattern read back. ('|'
     * separates the values here.) */
    { "route.regex", "\"^/r([0-9]+)\\\\.x\\\"?$\"" },
    { "route.methods", "[ \"GET\", \"POST\" ]" },
    { "route.allow", "[ \"127.0.0.1\", \"::1\" ]" },
    { "route.deny", "[ \"10.0.0.0/8\", \"all\" ]" },
    { "route.access_log", "\"off\"" },
    /* A pattern that matches no file: nothing is merged. */
    { "configuration.include", "\"/nonexistent-herd-test/*.conf\"" },
    { "proxy_protocol.from", "[ \"10.0.0.0/8\", \"::1\" ]" },
    { "real_ip.from", "[ \"10.0.0.0/8\", \"::1\", \"unix:\" ]" },
    { "real_ip.header", "\"X-Real-IP\"" },
    { "return.status", "301" },
    { "static.root", "\"/tmp\"" },
    { "static.expires", "\"1h\"" },
    { "static.precompressed", "[ \"gz\", \"br\" ]" },
    { "static.fallback", "\"/index.html\"" },
    { "compress.types", "[ \"text/css\", \"text/*\" ]" },
    { "upstream.balance", "\"hash\"" },
    /* Variables a tcp_proxy server and a proxy route (which use the first
     * upstream) have. */
    { "upstream.hash_key", "\"$remote_addr$remote_port\"" },
    { "upstream server.address", "\"127.0.0.1:9000\"|\"unix:/run/app.sock\"|\"[::1]:9000\"" },
    { "health_check.path", "\"/healthz\"" },
    { "tcp_proxy.upstream", "\"s-name-0\"" },
    /* One PEM file with both (see tls_pair). */
    { "tls.certificate", "\"" ROUND_TRIP_PEM "\"" },
    { "tls.key", "\"" ROUND_TRIP_PEM "\"" },
    { "tls.protocols", "[ \"TLSv1.3\" ]" },
    { "tls.ciphers", "\"ECDHE-ECDSA-AES128-GCM-SHA256\"" },
    { "tls.ciphersuites", "\"TLS_AES_256_GCM_SHA384\"" },
    { "tls.curves", "\"P-384:X25519\"" },
    { "tls.client_certificate", "\"" ROUND_TRIP_PEM "\"" },
    { "tls.client_verify", "\"optional\"" },
    { "tls.ticket_key_files", "[ \"" ROUND_TRIP_TICKET_KEY "\" ]" },
    /* The round trip's certificate has no issuer: stapling is warned off
     * before ocsp_file is read. */
    { "tls.ocsp_responder", "\"http://127.0.0.1:9/ocsp\"" },
    { "tls.ocsp_file", "\"/tmp/herd-round-trip.der\"" },
    { "proxy.upstream", "\"s-name-0\"" },
};

/* The (section, key) pairs the generator wrote, to check it reached all. */
struct seen {
    char v[256][80];
    int n;
};

static void mark_seen(struct seen *seen, const char *section, const char *key)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", section, key);
    for (int i = 0; i < seen->n; i++)
        if (strcmp(seen->v[i], name) == 0)
            return;
    ck_assert_int_lt(seen->n, (int)(sizeof seen->v / sizeof seen->v[0]));
    snprintf(seen->v[seen->n++], sizeof seen->v[0], "%s", name);
}

/* The idx-th of the '|'-separated alternatives of a fixed value, or NULL. */
static int fixed_value(const char *section, const char *key, int idx, char *out, size_t cap)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", section, key);
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (strcmp(fixed[i].key, name) != 0)
            continue;
        const char *v = fixed[i].value;
        int n = 1;
        for (const char *p = v; *p; p++)
            n += *p == '|';
        for (int k = idx % n; k > 0; k--)
            v = strchr(v, '|') + 1;
        snprintf(out, cap, "%.*s", (int)strcspn(v, "|"), v);
        return 1;
    }
    return 0;
}

/* A number in [min, max] next to the default d (step away from it). */
static int64_t other_number(const struct cfg_key *k, int64_t d, int64_t step)
{
    int64_t v = d <= k->max - step ? d + step : d - step;
    if (v < k->min)
        v = k->min == d ? k->min + 1 : k->min;
    return v;
}

static int64_t default_number(const struct cfg_key *k)
{
    int64_t d = 0;
    if (k->def == NULL)
        return 0;
    if (k->type == CT_DURATION)
        ck_assert_int_eq(units_parse_duration(k->def, &d), 0);
    else if (k->type == CT_SIZE)
        ck_assert_int_eq(units_parse_size(k->def, &d), 0);
    else if (k->type == CT_WORKERS && strcmp(k->def, "auto") == 0)
        d = 0;
    else
        d = strtoll(k->def, NULL, 10);
    return d;
}

static void gen_section(FILE *out, const struct cfg_section *sec, const struct cfg_key *only,
                        int idx, struct seen *seen);

static int enum_count(const struct cfg_key *k)
{
    int n = 0;
    while (k->names[n])
        n++;
    return n;
}

static int protocol_count(void)
{
    int n = 0;
    while (proto_registry.list[n])
        n++;
    return n;
}

/* Group keys that are not one of a list element's alternatives (a route's
 * handlers) but go with each of them, by "section.key". */
static bool companion(const struct cfg_section *sec, const struct cfg_key *k)
{
    static const char *const names[] = { "route.auth", "route.limit" };
    char name[80];
    snprintf(name, sizeof name, "%s.%s", sec->name, k->name);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

/* A route's group that is not a handler but goes with one (compress
 * applies to static routes only): written in the route of that handler. */
static const char *companion_of(const struct cfg_key *k)
{
    return strcmp(k->name, "compress") == 0 ? "static" : NULL;
}

/* A list's elements: one per group key of the element when it has several
 * (a route takes one handler), at least one per protocol for servers (whose
 * groups go round them), else two. */
static void gen_list(FILE *out, const struct cfg_key *k, struct seen *seen)
{
    const struct cfg_section *sub = k->sub;
    const struct cfg_key *groups[8];
    int n_groups = 0, n = 2;
    for (size_t i = 0; i < sub->n_keys; i++)
        if (sub->keys[i].type == CT_GROUP && n_groups < 8 && !companion_of(&sub->keys[i]) &&
            !companion(sub, &sub->keys[i]))
            groups[n_groups++] = &sub->keys[i];
    for (size_t i = 0; i < sub->n_keys; i++)
        if (sub->keys[i].type == CT_PROTOCOL)
            n = protocol_count();
    if (n_groups > 1 && n_groups > n)
        n = n_groups;
    fputs("(\n", out);
    for (int i = 0; i < n; i++) {
        fputs("{\n", out);
        gen_section(out, sub, n_groups > 1 ? groups[i % n_groups] : NULL, i, seen);
        fprintf(out, "}%s\n", i + 1 < n ? "," : "");
    }
    fputs(")", out);
}

static void gen_value(FILE *out, const struct cfg_section *sec, const struct cfg_key *k,
                      int idx, struct seen *seen)
{
    char buf[256];
    int64_t d = default_number(k);
    if (fixed_value(sec->name, k->name, idx, buf, sizeof buf)) {
        fputs(buf, out);
        return;
    }
    switch (k->type) {
    case CT_INT:
    case CT_WORKERS:
        fprintf(out, "%lld", (long long)other_number(k, d, k->type == CT_WORKERS ? 7 : 1));
        return;
    case CT_DURATION:
        units_format_duration(other_number(k, d, 1000), buf, sizeof buf);
        fprintf(out, "\"%s\"", buf);
        return;
    case CT_SIZE:
        units_format_size(other_number(k, d, 1024), buf, sizeof buf);
        fprintf(out, "\"%s\"", buf);
        return;
    case CT_BOOL:
        fputs(k->def && strcmp(k->def, "true") == 0 ? "false" : "true", out);
        return;
    case CT_STRING:
        fprintf(out, "\"s-%s-%d\"", k->name, idx);
        return;
    case CT_STRINGS:
        fprintf(out, "[ \"s-%s-a\", \"s-%s-b\" ]", k->name, k->name);
        return;
    case CT_FIELDS:
        fprintf(out, "{ X-A = \"s-%s-a\"; X-B = \"s %s b\"; }", k->name, k->name);
        return;
    case CT_ENUM: {
        const char *last = k->names[enum_count(k) - 1];
        fprintf(out, "\"%s\"", k->def && strcmp(k->def, last) == 0 ? k->names[0] : last);
        return;
    }
    case CT_LOGLEVEL:
        fputs(k->def && strcmp(k->def, "debug") == 0 ? "\"error\"" : "\"debug\"", out);
        return;
    case CT_GROUP:
        fputs("{\n", out);
        gen_section(out, k->sub, NULL, idx, seen);
        fputs("}", out);
        return;
    case CT_LIST:
        gen_list(out, k, seen);
        return;
    case CT_PROTOCOL:
        fprintf(out, "\"%s\"", proto_registry.list[idx]->name);
        return;
    }
    ck_abort_msg("key type %d of '%s' has no generated value", (int)k->type, k->name);
}

/* A route has a path (and exact) or a regex: the second route of the
 * list is the regex one. */
static bool left_out(const struct cfg_section *sec, const struct cfg_key *k, int idx)
{
    if (strcmp(sec->name, "route") != 0)
        return false;
    if (strcmp(k->name, "regex") == 0)
        return idx != 1;
    return idx == 1 && (strcmp(k->name, "path") == 0 || strcmp(k->name, "exact") == 0);
}

/* Every key of sec; of its group keys only `only` when given. A server
 * takes protocol number idx, whose keys follow in the same group. */
static void gen_section(FILE *out, const struct cfg_section *sec, const struct cfg_key *only,
                        int idx, struct seen *seen)
{
    const struct cfg_section *protocol = NULL;
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct cfg_key *k = &sec->keys[i];
        if (only && k->type == CT_GROUP && k != only && !companion(sec, k) &&
            !(companion_of(k) && strcmp(companion_of(k), only->name) == 0))
            continue;
        if (left_out(sec, k, idx))
            continue;
        if (k->type == CT_PROTOCOL)
            protocol = proto_registry.list[idx]->section;
        mark_seen(seen, sec == config_section() ? "" : sec->name, k->name);
        fprintf(out, "%s = ", k->name);
        gen_value(out, sec, k, idx, seen);
        fputs(";\n", out);
    }
    if (protocol)
        gen_section(out, protocol, NULL, idx, seen);
}

/* ---- comparing two readings, and a reading with the defaults */

static bool same_strings(const struct cfg_strings *a, const struct cfg_strings *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

static bool same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static size_t list_count(const struct cfg_key *k, const void *obj)
{
    return *(const size_t *)((const char *)obj + k->aux_offset);
}

static void compare_section(const struct cfg_section *sec, const void *a, const void *b,
                            const char *where, int *compared);

/* Field k of a and b hold the same value. */
static void compare_key(const struct cfg_key *k, const void *a, const void *b,
                        const char *where, int *compared)
{
    const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
    char at[512];
    snprintf(at, sizeof at, "%s.%s", where, k->name);
    (*compared)++;
    if (k->merged)          /* printed as a comment: what it named is in the lists */
        return;
    switch (k->type) {
    case CT_INT: case CT_DURATION: case CT_SIZE: case CT_WORKERS:
        ck_assert_msg(*(const int64_t *)fa == *(const int64_t *)fb, "%s: %lld, then %lld", at,
                      (long long)*(const int64_t *)fa, (long long)*(const int64_t *)fb);
        return;
    case CT_BOOL:
        ck_assert_msg(*(const bool *)fa == *(const bool *)fb, "%s differs", at);
        return;
    case CT_ENUM: case CT_LOGLEVEL:
        ck_assert_msg(*(const int *)fa == *(const int *)fb, "%s differs", at);
        return;
    case CT_STRING:
        ck_assert_msg(same_string(*(char *const *)fa, *(char *const *)fb), "%s: '%s', then '%s'",
                      at, *(char *const *)fa, *(char *const *)fb);
        return;
    case CT_STRINGS:
    case CT_FIELDS:
        ck_assert_msg(same_strings((const void *)fa, (const void *)fb), "%s differs", at);
        return;
    case CT_GROUP:
        ck_assert_msg((*(void *const *)fa == NULL) == (*(void *const *)fb == NULL),
                      "%s: present only once", at);
        if (*(void *const *)fa)
            compare_section(k->sub, *(void *const *)fa, *(void *const *)fb, at, compared);
        return;
    case CT_PROTOCOL: {
        const struct cfg_protocol *pa = *(const struct cfg_protocol *const *)fa;
        ck_assert_msg(pa == *(const struct cfg_protocol *const *)fb, "%s differs", at);
        compare_section(pa->section, *(void *const *)((const char *)a + k->aux_offset),
                        *(void *const *)((const char *)b + k->aux_offset), at, compared);
        return;
    }
    case CT_LIST:
        ck_assert_msg(list_count(k, a) == list_count(k, b), "%s: %zu elements, then %zu", at,
                      list_count(k, a), list_count(k, b));
        for (size_t i = 0; i < list_count(k, a); i++) {
            char elem[560];
            snprintf(elem, sizeof elem, "%s[%zu]", at, i);
            compare_section(k->sub, *(char *const *)fa + i * k->sub->size,
                            *(char *const *)fb + i * k->sub->size, elem, compared);
        }
        return;
    }
    ck_abort_msg("%s: key type %d is not compared", at, (int)k->type);
}

static void compare_section(const struct cfg_section *sec, const void *a, const void *b,
                            const char *where, int *compared)
{
    for (size_t i = 0; i < sec->n_keys; i++)
        compare_key(&sec->keys[i], a, b, where, compared);
}

/* Does field k of obj hold k's default? */
static bool is_default(const struct cfg_key *k, const void *obj)
{
    const char *f = (const char *)obj + k->offset;
    switch (k->type) {
    case CT_INT: case CT_DURATION: case CT_SIZE: case CT_WORKERS:
        return *(const int64_t *)f == default_number(k);
    case CT_BOOL:
        return *(const bool *)f == (k->def && strcmp(k->def, "true") == 0);
    case CT_ENUM:
        return k->def ? strcmp(k->names[*(const int *)f], k->def) == 0 : *(const int *)f == 0;
    case CT_LOGLEVEL:
        return *(const int *)f == log_level_from(k->def);
    case CT_STRING:
        return same_string(*(char *const *)f, k->def);
    case CT_STRINGS: {
        const struct cfg_strings *s = (const void *)f;
        return k->def ? s->n == 1 && strcmp(s->v[0], k->def) == 0 : s->n == 0;
    }
    case CT_GROUP:
        return *(void *const *)f == NULL;
    case CT_FIELDS:
        return ((const struct cfg_strings *)(const void *)f)->n == 0;
    case CT_LIST:
        return list_count(k, obj) == 0;
    case CT_PROTOCOL:
        return *(const struct cfg_protocol *const *)f == proto_registry.list[0];
    }
    return true;
}

/* Counts, per "section.key", the elements where the key is not at its
 * default: every key must be somewhere. */
static void collect_set(const struct cfg_section *sec, const void *obj, struct seen *set)
{
    for (size_t i = 0; i < sec->n_keys; i++) {
        const struct cfg_key *k = &sec->keys[i];
        const char *f = (const char *)obj + k->offset;
        if (!is_default(k, obj))
            mark_seen(set, sec == config_section() ? "" : sec->name, k->name);
        if (k->type == CT_GROUP && *(void *const *)f)
            collect_set(k->sub, *(void *const *)f, set);
        for (size_t j = 0; k->type == CT_LIST && j < list_count(k, obj); j++)
            collect_set(k->sub, *(char *const *)f + j * k->sub->size, set);
        if (k->type == CT_PROTOCOL)
            collect_set((*(const struct cfg_protocol *const *)f)->section,
                        *(void *const *)((const char *)obj + k->aux_offset), set);
    }
}

static bool has_seen(const struct seen *seen, const char *section, const char *key)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", section, key);
    for (int i = 0; i < seen->n; i++)
        if (strcmp(seen->v[i], name) == 0)
            return true;
    return false;
}

struct walk {
    const struct seen *seen;
    const char *what;
    int n;
};

static void assert_in(const char *section, const char *key, void *arg)
{
    struct walk *w = arg;
    w->n++;
    ck_assert_msg(has_seen(w->seen, section, key), "key '%s' of section '%s' %s", key,
                  section[0] ? section : "top", w->what);
}

/* The file setting every key, as text (malloc'ed). */
static char *every_key_file(struct seen *written)
{
    char *text = NULL;
    size_t len = 0;
    tls_pair();
    htpasswd_file();
    FILE *f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    gen_section(f, config_section(), NULL, 0, written);
    fclose(f);
    return text;
}

START_TEST(print_round_trip)
{
    struct seen written = { .n = 0 }, set = { .n = 0 };
    char err[512], *text = every_key_file(&written);
    struct herd_config *a = fixture_load(text, err, sizeof err);
    ck_assert_msg(a != NULL, "the generated file is refused: %s\n%s", err, text);

    /* Every key of every table is in the file, at a value of its own. */
    struct walk w = { &written, "is not in the generated file", 0 };
    config_each_key(assert_in, &w);
    collect_set(config_section(), a, &set);
    w = (struct walk){ &set, "is at its default after reading the generated file", 0 };
    config_each_key(assert_in, &w);

    /* -T, read back: the same, key by key. */
    char *printed = fixture_print(a);
    fixture_conf_write(fixture_conf, printed);
    struct herd_config *b = config_load(fixture_conf, err, sizeof err);
    ck_assert_msg(b != NULL, "printed config does not parse: %s\n%s", err, printed);
    int compared = 0;
    compare_section(config_section(), a, b, "top", &compared);
    ck_assert_int_ge(compared, w.n);
    char *again = fixture_print(b);
    /* The include comment names files already merged: b has no include. */
    char *inc = strstr(printed, "\n# include = ");
    ck_assert_ptr_nonnull(inc);
    memmove(inc + 1, strchr(inc + 1, '\n') + 1, strlen(strchr(inc + 1, '\n') + 1) + 1);
    ck_assert_str_eq(strchr(printed, '\n'), strchr(again, '\n'));
    free(again);
    free(printed);
    free(text);
    config_free(a);
    config_free(b);
}
END_TEST

/* The key list (for the manual check) is the keys -T prints: each once per
 * section, none missing, none extra. */
struct key_names {
    struct seen pairs;
    char names[256][64];
    int n;
};

static void list_key(const char *section, const char *key, void *arg)
{
    struct key_names *k = arg;
    ck_assert_msg(!has_seen(&k->pairs, section, key), "key '%s' of '%s' is listed twice", key,
                  section);
    mark_seen(&k->pairs, section, key);
    for (int i = 0; i < k->n; i++)
        if (strcmp(k->names[i], key) == 0)
            return;
    ck_assert_int_lt(k->n, 256);
    snprintf(k->names[k->n++], sizeof k->names[0], "%s", key);
}

START_TEST(key_list)
{
    static struct key_names listed;
    memset(&listed, 0, sizeof listed);
    config_each_key(list_key, &listed);

    struct seen written = { .n = 0 };
    char err[512], *text = every_key_file(&written);
    struct herd_config *cfg = fixture_load(text, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    char *printed = fixture_print(cfg);
    bool printed_it[256] = { false };
    for (char *line = strchr(printed, '\n'); line; line = strchr(line + 1, '\n')) {
        char name[64];
        const char *p = line + 1;
        int end = 0;
        if (strncmp(p, "# ", 2) == 0)
            p += 2;         /* a merged key (include) is printed as a comment */
        if (sscanf(p, " %63[a-z_] =%n", name, &end) != 1 || end == 0)
            continue;
        int i = 0;
        while (i < listed.n && strcmp(listed.names[i], name) != 0)
            i++;
        ck_assert_msg(i < listed.n, "-T prints '%s', which config_each_key does not list", name);
        printed_it[i] = true;
    }
    for (int i = 0; i < listed.n; i++)
        ck_assert_msg(printed_it[i], "config_each_key lists '%s', which -T never prints",
                      listed.names[i]);
    free(printed);
    free(text);
    config_free(cfg);
}
END_TEST


int main(void)
{
    config_use_protocols(&proto_registry);
    Suite *s = suite_create("config_print");
    TCase *tc = tcase_create("section");
    tcase_add_test(tc, every_type_printed);
    tcase_add_test(tc, unset_keys_left_out);
    tcase_add_test(tc, units_printed);
    tcase_add_test(tc, strings_escaped);
    tcase_add_test(tc, protocol_keys_printed);
    tcase_add_test(tc, each_key);
    suite_add_tcase(s, tc);
    tc = tcase_create("tables");
    tcase_add_checked_fixture(tc, fixture_conf_setup, fixture_conf_teardown);
    tcase_add_test(tc, print_round_trip_text);
    tcase_add_test(tc, print_round_trip);
    tcase_add_test(tc, key_list);
    suite_add_tcase(s, tc);
    return run_suite_tap(s);
}
