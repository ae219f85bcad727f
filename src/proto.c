#include "proto.h"

const struct proto *proto_for(enum cfg_protocol p)
{
    return p == PROTO_ECHO ? &proto_echo : &proto_http;
}
