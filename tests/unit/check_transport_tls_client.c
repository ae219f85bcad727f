/* Client certificates and the session facts a request logs
 * (src/transport_tls_client.c), over a socket pair with an in-process
 * OpenSSL client on the other end: `client_certificate` and
 * `client_verify` checked at load (FILE:LINE), a client certificate from
 * the CA accepted and its subject given in RFC 2253 form, none or one from
 * another CA refused ("on"), none accepted ("optional"), mTLS on a server
 * SNI picks while the default server has none (and the reverse), and
 * $ssl_protocol / $ssl_cipher of a TLS 1.2 and a TLS 1.3 session (NULL
 * without TLS or before the handshake).
 *
 * The certificates are made by the openssl command in a scratch directory:
 * a CA, a server certificate for s.test, a client certificate from the CA
 * (O=herd test, CN=client.test), and a client certificate from another
 * CA. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config.h"
#include "config_engine.h"
#include "conn.h"
#include "conn_fixture.h"
#include "fixture.h"
#include "proto.h"
#include "tap.h"
#include "transport.h"
#include "transport_tls.h"

static char dir[64];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        exit(1);
    }
}

/* dir/name, in one of a few buffers. */
static const char *at(int slot, const char *name)
{
    static char buf[6][256];
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", dir, name);
    return buf[slot];
}

#define EC "ec -pkeyopt ec_paramgen_curve:P-256"

static void make_certificates(void)
{
    snprintf(dir, sizeof dir, "/tmp/herd-check-tls-client-XXXXXX");
    if (mkdtemp(dir) == NULL)
        abort();
    /* Two CAs; s.test (the server) and "client" from the first, "stranger"
     * from the second. */
    sh("cd %s && for ca in ca other; do openssl req -x509 -newkey " EC " -nodes "
       "-keyout $ca.key -out $ca.pem -days 2 -subj /CN=herd-$ca 2>/dev/null || exit 1; done", dir);
    sh("cd %s && for x in s:ca:/CN=s.test client:ca:/O=herd\\ test/CN=client.test "
       "stranger:other:/CN=stranger; do n=${x%%%%:*}; r=${x#*:}; ca=${r%%%%:*}; subj=${r#*:}; "
       "openssl req -newkey " EC " -nodes -keyout $n.key -out $n.csr -subj \"$subj\" "
       "2>/dev/null && openssl x509 -req -in $n.csr -CA $ca.pem -CAkey $ca.key "
       "-CAcreateserial -days 2 -out $n.pem 2>/dev/null || exit 1; done", dir);
}

/* A configuration of one or two echo servers with s.test's certificate,
 * the first one's `tls` group also holding tls (on line 5), the second's
 * tls2 (NULL: no second server). */
static struct herd_config *load(const char *tls, const char *tls2, char *err, size_t cap)
{
    char text[4096], conf[256], second[1024] = "";
    if (tls2)
        snprintf(second, sizeof second,
                 ",\n  { listen = [ \"127.0.0.1:7444\" ]; protocol = \"echo\";\n"
                 "    tls = { certificate = \"%s\"; key = \"%s\"; %s }; }",
                 at(2, "s.pem"), at(3, "s.key"), tls2);
    snprintf(text, sizeof text,
             "pid_file = \"/tmp/x.pid\";\n"
             "servers = (\n"
             "  { listen = [ \"127.0.0.1:7443\" ]; protocol = \"echo\";\n"
             "    tls = { certificate = \"%s\"; key = \"%s\";\n"
             "      %s }; }%s\n"
             ");\n", at(0, "s.pem"), at(1, "s.key"), tls, second);
    fixture_path(conf, sizeof conf, dir, "herd.conf");
    fixture_write(conf, text, strlen(text));
    return config_load(conf, err, cap);
}

/* ------------------------------------------------------------------ */
/* Loading */

START_TEST(client_verify_defaults_to_on)
{
    char tls[512], err[512];
    snprintf(tls, sizeof tls, "client_certificate = \"%s\";", at(4, "ca.pem"));
    struct herd_config *cfg = load(tls, NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->servers[0].tls->client_verify, "on");
    config_free(cfg);
    cfg = load("", NULL, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_ptr_null(cfg->servers[0].tls->client_verify);
    ck_assert_ptr_null(cfg->servers[0].tls->client_certificate);
    config_free(cfg);
}
END_TEST

START_TEST(bad_client_settings_are_refused_at_their_line)
{
    char none[256], key[256];
    snprintf(none, sizeof none, "%s/none.pem", dir);
    snprintf(key, sizeof key, "%s/s.key", dir);
    struct {
        const char *ca, *verify, *says;
    } cases[] = {
        { NULL, "optional", "'client_verify' needs a 'client_certificate'" },
        { at(4, "ca.pem"), "maybe", "'client_verify' is \"on\" or \"optional\", not \"maybe\"" },
        { "ca.pem", NULL, "'client_certificate' must be an absolute path" },
        { none, NULL, "No such file" },
        { key, NULL, "no PEM CA certificate" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char tls[600] = "", err[512];
        if (cases[i].ca)
            snprintf(tls, sizeof tls, "client_certificate = \"%s\"; ", cases[i].ca);
        if (cases[i].verify)
            snprintf(tls + strlen(tls), sizeof tls - strlen(tls), "client_verify = \"%s\";",
                     cases[i].verify);
        struct herd_config *cfg = load(tls, NULL, err, sizeof err);
        ck_assert_msg(cfg == NULL, "case %zu loaded", i);
        ck_assert_msg(strstr(err, "herd.conf:5: ") && strstr(err, cases[i].says),
                      "case %zu: %s (want herd.conf:5: ... %s)", i, err, cases[i].says);
    }
}
END_TEST

/* ------------------------------------------------------------------ */
/* Handshakes */

static struct herd_config *cfg;
static struct tls_listen *listen_ab;
static SSL_CTX *client_ctx;
static SSL *client;
static int sv[2];
static struct conn c;

static void noop_timer(struct timer *t)
{
    (void)t;
}

static void setup(void)
{
    fx_setup();
    signal(SIGPIPE, SIG_IGN);
    client_ctx = SSL_CTX_new(TLS_client_method());
    ck_assert_int_eq(SSL_CTX_load_verify_locations(client_ctx, at(5, "ca.pem"), NULL), 1);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
    client = SSL_new(client_ctx);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    memset(&c, 0, sizeof c);
    c.io.fd = sv[0];
    c.tp = &transport_tls;
    c.owner = &fx.owner;
    timer_init(&c.timer, noop_timer);
    SSL_set_fd(client, sv[1]);
    SSL_set_connect_state(client);
}

static void teardown(void)
{
    if (c.tp_state)
        transport_tls.close(&c);
    loop_timer_cancel(fx.loop, &c.timer);
    SSL_free(client);
    SSL_CTX_free(client_ctx);
    tls_listen_free(listen_ab);
    listen_ab = NULL;
    config_free(cfg);
    cfg = NULL;
    close(sv[0]);
    close(sv[1]);
    fx_teardown();
}

/* The listener: server 0 with tls0, and server 1 (SNI "b.test") with
 * tls1 when not NULL. */
static void serve(const char *tls0, const char *tls1)
{
    char err[512];
    cfg = load(tls0, tls1, err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    static const char *const b_names[] = { "b.test" };
    static struct cfg_strings nb = { (char **)b_names, 1 };
    const struct tls_config *cfgs[2] = { cfg->servers[0].tls,
                                         tls1 ? cfg->servers[1].tls : NULL };
    const struct cfg_strings *names[2] = { NULL, &nb };
    listen_ab = tls_listen_new(cfgs, names, tls1 ? 2 : 1);
    ck_assert_ptr_nonnull(listen_ab);
}

/* The client shows cert (a name in dir) or nothing. */
static void client_shows(const char *name)
{
    char pem[300], key[300];
    snprintf(pem, sizeof pem, "%s/%s.pem", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    ck_assert_int_eq(SSL_use_certificate_file(client, pem, SSL_FILETYPE_PEM), 1);
    ck_assert_int_eq(SSL_use_PrivateKey_file(client, key, SSL_FILETYPE_PEM), 1);
}

/* Both ends step until both are done: 0; the server refused: -1; the
 * client gave up: -2. In TLS 1.3 the client is done before the server has
 * seen its certificate, so the server steps on after it. */
static int handshake_both(void)
{
    ck_assert_int_eq(transport_tls.accept(&c, listen_ab), 0);
    int server = 0, cl = 0;
    for (int i = 0; i < 1000 && (server != 1 || cl != 1); i++) {
        if (server == 0 && (server = transport_tls.handshake(&c)) < 0)
            return -1;
        if (cl != 1) {
            int rc = SSL_do_handshake(client);
            if (rc == 1)
                cl = 1;
            else if (SSL_get_error(client, rc) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(client, rc) != SSL_ERROR_WANT_WRITE)
                return -2;
        }
    }
    return server == 1 && cl == 1 ? 0 : -3;
}

static char ca_on[400], ca_optional[400];

static void make_settings(void)
{
    snprintf(ca_on, sizeof ca_on, "client_certificate = \"%s\";", at(0, "ca.pem"));
    snprintf(ca_optional, sizeof ca_optional,
             "client_certificate = \"%s\"; client_verify = \"optional\";", at(0, "ca.pem"));
}

START_TEST(a_certificate_from_the_ca_is_accepted)
{
    serve(_i == 0 ? ca_on : ca_optional, NULL);
    client_shows("client");
    ck_assert_int_eq(handshake_both(), 0);
    ck_assert_str_eq(tls_conn_client_dn(&c), "CN=client.test,O=herd test");
    /* Made once, then the same string. */
    ck_assert_ptr_eq(tls_conn_client_dn(&c), tls_conn_client_dn(&c));
}
END_TEST

/* _i: 0 "on" without a certificate, 1 "on" with another CA's, 2
 * "optional" with another CA's. */
START_TEST(a_missing_or_foreign_certificate_is_refused)
{
    serve(_i < 2 ? ca_on : ca_optional, NULL);
    if (_i > 0)
        client_shows("stranger");
    errno = 0;
    ck_assert_int_eq(handshake_both(), -1);
    ck_assert_int_eq(errno, EPROTO);
    ck_assert_uint_eq(ERR_peek_error(), 0);
}
END_TEST

START_TEST(optional_accepts_none)
{
    serve(ca_optional, NULL);
    ck_assert_int_eq(handshake_both(), 0);
    ck_assert_ptr_null(tls_conn_client_dn(&c));
    ck_assert_ptr_nonnull(tls_conn_protocol(&c));
}
END_TEST

/* The default server asks nothing; b.test, picked by SNI, requires a
 * certificate. _i: 0 SNI b.test without one (refused), 1 SNI b.test with
 * one, 2 no SNI without one (the default: accepted). */
START_TEST(sni_brings_the_picked_servers_verification)
{
    serve("", ca_on);
    if (_i < 2)
        SSL_set_tlsext_host_name(client, "b.test");
    if (_i == 1)
        client_shows("client");
    int rc = handshake_both();
    ck_assert_int_eq(rc, _i == 0 ? -1 : 0);
    if (_i == 1)
        ck_assert_str_eq(tls_conn_client_dn(&c), "CN=client.test,O=herd test");
    if (_i == 2)
        ck_assert_ptr_null(tls_conn_client_dn(&c));
}
END_TEST

/* The reverse: the default requires one, b.test (SNI) asks for none. */
START_TEST(sni_to_a_server_without_verification)
{
    serve(ca_on, "");
    SSL_set_tlsext_host_name(client, "b.test");
    ck_assert_int_eq(handshake_both(), 0);
    ck_assert_ptr_null(tls_conn_client_dn(&c));
}
END_TEST

/* _i: 0 TLS 1.2, 1 TLS 1.3. */
START_TEST(protocol_and_cipher)
{
    serve("", NULL);
    /* Nothing before the handshake, nor on a connection without TLS. */
    ck_assert_int_eq(transport_tls.accept(&c, listen_ab), 0);
    ck_assert_ptr_null(tls_conn_protocol(&c));
    ck_assert_ptr_null(tls_conn_cipher(&c));
    ck_assert_ptr_null(tls_conn_client_dn(&c));
    transport_tls.close(&c);
    struct conn plain = { .tp = &transport_plain };
    ck_assert_ptr_null(tls_conn_protocol(&plain));
    ck_assert_ptr_null(tls_conn_cipher(&plain));
    ck_assert_ptr_null(tls_conn_client_dn(&plain));

    int v = _i == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
    SSL_set_min_proto_version(client, v);
    SSL_set_max_proto_version(client, v);
    if (_i == 0)
        SSL_set_cipher_list(client, "ECDHE-ECDSA-CHACHA20-POLY1305");
    else
        SSL_set_ciphersuites(client, "TLS_AES_256_GCM_SHA384");
    ck_assert_int_eq(handshake_both(), 0);
    ck_assert_str_eq(tls_conn_protocol(&c), _i == 0 ? "TLSv1.2" : "TLSv1.3");
    ck_assert_str_eq(tls_conn_cipher(&c),
                     _i == 0 ? "ECDHE-ECDSA-CHACHA20-POLY1305" : "TLS_AES_256_GCM_SHA384");
    ck_assert_ptr_null(tls_conn_client_dn(&c));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("transport_tls_client");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, client_verify_defaults_to_on);
    tcase_add_test(tc, bad_client_settings_are_refused_at_their_line);
    suite_add_tcase(s, tc);

    tc = tcase_create("handshake");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, a_certificate_from_the_ca_is_accepted, 0, 2);
    tcase_add_loop_test(tc, a_missing_or_foreign_certificate_is_refused, 0, 3);
    tcase_add_test(tc, optional_accepts_none);
    tcase_add_loop_test(tc, sni_brings_the_picked_servers_verification, 0, 3);
    tcase_add_test(tc, sni_to_a_server_without_verification);
    tcase_add_loop_test(tc, protocol_and_cipher, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    config_use_protocols(&proto_registry);
    make_certificates();
    make_settings();
    int rc = run_suite_tap(suite());
    sh("rm -rf %s", dir);
    return rc;
}
