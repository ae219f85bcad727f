/* The protocol registry: the one place that names the protocols herd
 * speaks. Adding one is a line here (and its #include); everything else
 * about it lives with its code: its struct proto_module (proto.h), its keys
 * and its man page section.
 * Tested by tests/unit/check_proto.c. */
#include "proto.h"

#include <stddef.h>

#include "http/config.h"
#include "stream/echo.h"
#include "stream/tcp_proxy.h"

/* A server's protocol is the config member of one of these modules. */
_Static_assert(offsetof(struct proto_module, config) == 0,
               "a cfg_protocol of the registry is the start of its proto_module");

/* The first is the default protocol of a server. */
static const struct cfg_protocol *const protocols[] = {
    &http_module.config,
    &echo_module.config,
    &tcp_proxy_module.config,
    NULL,
};

/* Used when there is no configuration file: one server of each protocol. */
static const char embedded[] =
    "# herd's embedded default: used when no configuration file exists.\n"
    "upstreams = ( { name = \"echo\"; servers = ( { address = \"127.0.0.1:7007\"; } ); } );\n"
    "servers = (\n"
    "  { listen = [ \"127.0.0.1:8080\" ];\n"
    "    protocol = \"http\";\n"
    "    routes = (\n"
    "      { path = \"/\";\n"
    "        return = { status = 200; type = \"text/html\";\n"
    "                   body = \"<!DOCTYPE html>\\n<html><head><title>herd</title></head>\\n"
    "<body><h1>Hello from herd</h1>\\n<p>This page is herd's embedded default. "
    "Write a configuration file to serve your own site.</p></body></html>\\n\"; }; }\n"
    "    ); },\n"
    "  { listen = [ \"127.0.0.1:7007\" ]; protocol = \"echo\"; },\n"
    "  { listen = [ \"127.0.0.1:7008\" ]; protocol = \"tcp_proxy\"; upstream = \"echo\"; }\n"
    ");\n";

const struct config_protocols proto_registry = { protocols, embedded };

static const struct proto_module *module_of(const struct cfg_server *s)
{
    return (const struct proto_module *)s->protocol;
}

const struct proto *proto_for(const struct cfg_server *s)
{
    return module_of(s)->proto;
}

bool proto_defer_accept(const struct cfg_server *s)
{
    return module_of(s)->defer_accept;
}

const char *proto_access_log(const struct cfg_server *s, int *line)
{
    *line = s->where.line;
    return module_of(s)->access_log ? module_of(s)->access_log(s, line) : NULL;
}

const char *proto_stats_label(const struct cfg_server *s)
{
    return module_of(s)->stats_label ? module_of(s)->stats_label(s) : NULL;
}

const struct cfg_strings *proto_server_names(const struct cfg_server *s)
{
    return module_of(s)->server_names ? module_of(s)->server_names(s) : NULL;
}
