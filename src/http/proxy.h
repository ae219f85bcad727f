/* Inside the `proxy` handler: what handler_proxy.c (configuration, the
 * attempts, the request sent upstream) and proxy_response.c (the upstream's
 * response read and passed to the client) share. Not for use elsewhere. */
#ifndef HERD_HTTP_PROXY_H
#define HERD_HTTP_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "balance.h"
#include "conn.h"
#include "http/chunked.h"
#include "http/config.h"
#include "http/parse.h"
#include "http/req.h"
#include "http/template.h"

struct http_proxy_field;
struct upstream_pool;

/* A route's state in one worker. */
struct proxy_route {
    const struct cfg_proxy *conf;
    const struct upstream_config *up;
    struct balancer *bal;
    struct upstream_pool *pool;
    int64_t connect_timeout;        /* ms */
    struct http_proxy_field *fields;    /* `headers`, set on each request */
    size_t n_fields;
    /* The fields' values as templates (http/template.h) when one names a
     * variable (then rendered per request), else NULL. */
    struct http_template *values;
    struct http_template key;       /* the upstream's hash_key */
};

/* One proxied exchange (req->ctx), from start to its answer or abort. */
struct proxy_ex {
    struct http_req *req;
    const struct proxy_route *pr;
    struct conn *up;                /* the upstream connection; NULL: none */
    int server;                     /* its server */
    uint32_t key;                   /* balance = "hash" */
    int last_error;                 /* errno of the last failed attempt */
    uint16_t retried;               /* attempts after the first, so far */
    bool timed_out;                 /* the last failure was a timeout */
    bool reused;                    /* up came from the idle pool */
    bool no_reuse;                  /* a reused one failed: fresh ones only */
    bool connected;                 /* up is open and has the head */
    bool body_sent;                 /* a body byte went upstream: no retry */
    bool body_done;                 /* the client's body ended */
    bool got_byte;                  /* the upstream answered something */
    bool head_done;                 /* the final response head is read */
    bool resp_started;              /* a byte of a response reached the client */
    bool chunk_out;                 /* the client's body is framed in chunks */
    bool up_keep;                   /* the upstream connection may be kept */
    bool upgrade;                   /* a websocket handshake, passed on */
    bool tunnel;                    /* after its 101: bytes both ways */
    bool client_ended;              /* a tunnel: the client's half ended */
    bool up_ended;                  /* a tunnel: the upstream's half ended */
    bool accepted;                  /* the kernel took a byte of the request */
    bool hold_body;                 /* a reused connection: the body waits
                                       until the head has left (so a failure
                                       before that may be retried) */
    bool buffering;                 /* the response is held until whole */
    bool holding;                   /* its head is in: holding the body */
    uint64_t scanned;               /* held chunked body bytes checked */
    uint8_t rbody;                  /* enum http_resp_body */
    uint64_t left;                  /* Content-Length bytes still to come */
    size_t parsed_len;              /* resume point of the head parser */
    size_t max_headers;
    int64_t began;                  /* ms: the first attempt */
    struct http_chunked dec;        /* a chunked response body */
    struct balance_tried tried;
    /* max_headers for the parser, then max_headers passed on */
    struct http_header headers[];
};

/* The upstream connection's proto_state. */
struct proxy_up {
    struct proxy_ex *ex;            /* NULL once the exchange is over */
    struct balancer *bal;
    int server;
    bool counted;                   /* active in the balancer */
};

_Static_assert(sizeof(struct proxy_up) <= CONN_PROTO_STATE, "fits the connection");

static inline struct proxy_up *proxy_up_of(struct conn *c)
{
    return (struct proxy_up *)c->proto_state;
}

/* Deadline kind on the upstream connection (conn.h). */
enum { PROXY_TIMER_READ = CONN_TIMER_PROTO };

/* handler_proxy.c */
/* The exchange cannot go on: before any byte of a response reached the
 * client, answer status (502, 503, 504) and log cause; after, the client's
 * connection closes once what it has is sent. The upstream connection (if
 * any) is closed. ex is freed. */
void proxy_fail(struct proxy_ex *ex, int status, const char *cause);
/* The response is complete: the upstream connection goes back to the pool
 * when keep (and the request went out whole), else it closes; the exchange
 * is done. ex is freed. */
void proxy_finish(struct proxy_ex *ex, bool keep);
/* The upstream connection ended or broke before a response was complete:
 * retry when that is safe, else fail. */
void proxy_up_failed(struct proxy_ex *ex, int err, const char *cause);

/* (Re)arm the upstream's deadline: read_timeout, or websocket_timeout for
 * a tunnel. */
void proxy_arm_read(struct proxy_ex *ex);

/* proxy_response.c */
/* Bytes (or the end) arrived from the upstream: read the response head,
 * pass interim ones on, then the body, with the client's output as the
 * limit (the link holds the upstream meanwhile). */
void proxy_response_read(struct proxy_ex *ex);
/* One half of a tunnel ended (from_client: the client's, else the
 * upstream's): its end is passed to the other side, whose bytes still
 * flow; when both halves have ended, so has the exchange (ex is freed). */
void proxy_tunnel_ended(struct proxy_ex *ex, bool from_client);

#endif
