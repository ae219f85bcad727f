/* Session ticket keys (transport_tls_tickets.h): the page the master
 * shares with every worker, its rotation, key files, and the callback
 * through which OpenSSL seals and opens tickets.
 *
 * The page is written by masters only (one, or two during a binary
 * upgrade) and read by workers, with a sequence lock: a writer makes the
 * sequence odd, writes, makes it even again; a reader copies the keys
 * between two readings of an equal, even sequence, or tries again. The key
 * words are C11 atomics (relaxed), so a reader racing a writer reads torn
 * but defined values that it then throws away; it never blocks the master
 * and the master never waits for a worker.
 *
 * Tested by tests/unit/check_transport_tls_tickets.c and
 * tests/integration/test_tls_resumption.py. */
#include "transport_tls_tickets.h"
#include "transport_tls.h"
#include "transport_tls_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "config_engine.h"
#include "log.h"
#include "shm_page.h"

#define KEY_BYTES (TLS_TICKET_NAME + 2 * TLS_TICKET_SECRET)    /* 80 */
#define KEY_WORDS (KEY_BYTES / 8)
#define TICKETS_FD_ENV "HERD_TICKETS_FD"
/* Tries of a reader that keeps meeting a write: a write copies 160 bytes,
 * so this many means the writer died half-way. */
#define READ_TRIES 1000
/* A sequence odd for this long belongs to a master killed while writing:
 * the next writer takes over. */
#define STUCK_MS 1000
#define FILE_KEYS_MAX 16

struct ticket_page {
    uint64_t magic;             /* PAGE_MAGIC: the layout of this build */
    uint64_t size;
    _Atomic uint32_t seq;       /* odd while a master writes */
    uint32_t unused;
    _Atomic int64_t next;       /* ms (CLOCK_MONOTONIC) of the next rotation; 0: unset */
    _Atomic uint64_t rotations;
    _Atomic uint64_t keys[2][KEY_WORDS];    /* current, previous: name, HMAC, AES */
};

#define PAGE_MAGIC (0x6865726474696b74ULL ^ ((uint64_t)sizeof(struct ticket_page) << 8) ^ 1)

static struct ticket_page *page;
static int page_fd = -1;
static int64_t odd_since;       /* when this master first saw a write ... */
static uint32_t odd_seq;        /* ... of this sequence number, unfinished */

static int rand_bytes(unsigned char *buf, int n)
{
    return RAND_bytes(buf, n) == 1 ? 0 : -1;
}

int (*tls_tickets_random)(unsigned char *buf, int n) = rand_bytes;

/* ------------------------------------------------------------------ */
/* Mapping */

/* Keys stay in memory: out of swap where the limit allows, and out of core
 * dumps. */
static void keep_in_memory(struct ticket_page *p)
{
    (void)mlock(p, sizeof *p);
    (void)madvise(p, sizeof *p, MADV_DONTDUMP);
}

/* The page of the master that started this one by a binary upgrade. */
static struct ticket_page *inherit(void)
{
    int fd;
    bool offered;
    struct ticket_page *p = shm_page_inherit(TICKETS_FD_ENV, sizeof *p, &fd, &offered);
    if (p && (p->magic != PAGE_MAGIC || p->size != sizeof *p)) {
        munmap(p, sizeof *p);
        close(fd);
        p = NULL;
    }
    if (p == NULL) {
        if (offered)
            log_warn("the TLS ticket keys passed on by the old master do not fit this binary; "
                     "making new ones (older tickets make a full handshake)");
        return NULL;
    }
    keep_in_memory(p);
    page_fd = fd;
    return p;
}

static void unpack(const uint64_t w[KEY_WORDS], struct tls_ticket_key *k)
{
    uint8_t b[KEY_BYTES];
    memcpy(b, w, sizeof b);
    memcpy(k->name, b, TLS_TICKET_NAME);
    memcpy(k->hmac, b + TLS_TICKET_NAME, TLS_TICKET_SECRET);
    memcpy(k->aes, b + TLS_TICKET_NAME + TLS_TICKET_SECRET, TLS_TICKET_SECRET);
    k->len = TLS_TICKET_SECRET;
    OPENSSL_cleanse(b, sizeof b);
}

static int new_key(uint64_t w[KEY_WORDS])
{
    return tls_tickets_random((unsigned char *)w, KEY_BYTES);
}

int tls_tickets_map(void)
{
    if (page)
        return 0;
    if ((page = inherit()) != NULL)
        return 0;
    /* Without a memfd (an old kernel, a sandbox) the keys just do not
     * survive an upgrade. */
    int fd = -1;
    struct ticket_page *p = shm_page_create("herd-tickets", sizeof *page, &fd);
    if (p)
        keep_in_memory(p);
    uint64_t w[2][KEY_WORDS];
    if (p == NULL || new_key(w[0]) < 0 || new_key(w[1]) < 0) {
        int e = p ? EIO : errno;
        if (p)
            munmap(p, sizeof *p);
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < KEY_WORDS; i++)
            atomic_store_explicit(&p->keys[k][i], w[k][i], memory_order_relaxed);
    OPENSSL_cleanse(w, sizeof w);
    p->magic = PAGE_MAGIC;
    p->size = sizeof *p;
    page_fd = fd;
    page = p;
    return 0;
}

void tls_tickets_unmap(void)
{
    if (page) {
        munlock(page, sizeof *page);
        munmap(page, sizeof *page);
    }
    if (page_fd >= 0)
        close(page_fd);
    page = NULL;
    page_fd = -1;
}

int tls_tickets_pass_on(int min_fd)
{
    return shm_page_pass_on(page_fd, TICKETS_FD_ENV, min_fd);
}

/* ------------------------------------------------------------------ */
/* Rotation (master) and reading (workers) */

/* The write lock: the sequence from even to odd. Another master holding it
 * makes this one try again later, unless it has held it for STUCK_MS. */
static bool lock_page(int64_t now, uint32_t *seq)
{
    uint32_t s = atomic_load_explicit(&page->seq, memory_order_relaxed);
    if (s & 1) {
        if (odd_since == 0 || s != odd_seq) {
            odd_since = now;
            odd_seq = s;
        }
        if (now - odd_since < STUCK_MS)
            return false;
        log_warn("TLS: a master stopped while writing the ticket keys; taking over");
        s++;
        atomic_store_explicit(&page->seq, s, memory_order_relaxed);
    }
    odd_since = 0;
    if (!atomic_compare_exchange_strong_explicit(&page->seq, &s, s + 1, memory_order_relaxed,
                                                 memory_order_relaxed))
        return false;
    atomic_thread_fence(memory_order_release);
    *seq = s;
    return true;
}

/* The current key becomes the previous one; a new key the current. */
static void shift_keys(const uint64_t fresh[KEY_WORDS])
{
    for (int i = 0; i < KEY_WORDS; i++) {
        uint64_t v = atomic_load_explicit(&page->keys[0][i], memory_order_relaxed);
        atomic_store_explicit(&page->keys[1][i], v, memory_order_relaxed);
        atomic_store_explicit(&page->keys[0][i], fresh[i], memory_order_relaxed);
    }
}

int64_t tls_tickets_rotate(int64_t now, int64_t interval, bool *rotated)
{
    *rotated = false;
    if (page == NULL)
        return -1;
    int64_t next = atomic_load(&page->next);
    if (next == 0 || next > now + interval) {
        /* The first schedule, or a reload that shortened the interval. */
        atomic_compare_exchange_strong(&page->next, &next, now + interval);
        return atomic_load(&page->next);
    }
    if (now < next)
        return next;
    uint64_t fresh[KEY_WORDS];
    uint32_t seq;
    if (new_key(fresh) < 0) {
        log_error("TLS: no random bytes for a new session ticket key; trying again in 1 s");
        return now + 1000;
    }
    if (!lock_page(now, &seq)) {
        OPENSSL_cleanse(fresh, sizeof fresh);
        return now + 100;
    }
    /* The other master (an upgrade) may have rotated in between. */
    if (atomic_load(&page->next) <= now) {
        shift_keys(fresh);
        atomic_store(&page->next, now + interval);
        atomic_fetch_add(&page->rotations, 1);
        *rotated = true;
    }
    atomic_store_explicit(&page->seq, seq + 2, memory_order_release);
    OPENSSL_cleanse(fresh, sizeof fresh);
    return atomic_load(&page->next);
}

uint64_t tls_tickets_rotations(void)
{
    return page ? atomic_load(&page->rotations) : 0;
}

int tls_tickets_read(struct tls_ticket_key out[2])
{
    if (page == NULL)
        return -1;
    uint64_t w[2][KEY_WORDS];
    for (int tries = 0; tries < READ_TRIES; tries++) {
        uint32_t s1 = atomic_load_explicit(&page->seq, memory_order_acquire);
        if (s1 & 1) {
            sched_yield();      /* the master is in the middle of a write */
            continue;
        }
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < KEY_WORDS; i++)
                w[k][i] = atomic_load_explicit(&page->keys[k][i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&page->seq, memory_order_relaxed) != s1)
            continue;
        unpack(w[0], &out[0]);
        unpack(w[1], &out[1]);
        OPENSSL_cleanse(w, sizeof w);
        return 0;
    }
    OPENSSL_cleanse(w, sizeof w);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Pure parts */

int tls_ticket_key_parse(const uint8_t *buf, size_t n, struct tls_ticket_key *out)
{
    memset(out, 0, sizeof *out);
    if (n == 80) {
        memcpy(out->name, buf, 16);
        memcpy(out->hmac, buf + 16, 32);
        memcpy(out->aes, buf + 48, 32);
        out->len = 32;
        return 0;
    }
    if (n == 48) {
        memcpy(out->name, buf, 16);
        memcpy(out->aes, buf + 16, 16);
        memcpy(out->hmac, buf + 32, 16);
        out->len = 16;
        return 0;
    }
    return -1;
}

void tls_ticket_identity(const char *const *names, size_t n, uint8_t out[TLS_TICKET_ID])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 0;
    if (md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        for (size_t i = 0; i < n; i++)
            EVP_DigestUpdate(md, names[i], strlen(names[i]) + 1);
        if (EVP_DigestFinal_ex(md, out, &len) == 1 && len == TLS_TICKET_ID) {
            EVP_MD_CTX_free(md);
            return;
        }
    }
    EVP_MD_CTX_free(md);
    memset(out, 0, TLS_TICKET_ID);      /* not reached: SHA-256 is always there */
}

static int derive_one(const uint8_t *secret, size_t len, const char *label,
                      const uint8_t id[TLS_TICKET_ID], uint8_t out[TLS_TICKET_SECRET])
{
    uint8_t msg[32 + TLS_TICKET_ID];
    size_t ll = strlen(label);
    memcpy(msg, label, ll);
    memcpy(msg + ll, id, TLS_TICKET_ID);
    unsigned int got = 0;
    unsigned char *r = HMAC(EVP_sha256(), secret, (int)len, msg, ll + TLS_TICKET_ID, out, &got);
    return r != NULL && got == TLS_TICKET_SECRET ? 0 : -1;
}

int tls_ticket_derive(const struct tls_ticket_key *base, const uint8_t id[TLS_TICKET_ID],
                      struct tls_ticket_key *out)
{
    memcpy(out->name, base->name, TLS_TICKET_NAME);
    out->len = TLS_TICKET_SECRET;
    if (derive_one(base->hmac, base->len, "herd ticket hmac", id, out->hmac) < 0 ||
        derive_one(base->aes, base->len, "herd ticket aes", id, out->aes) < 0) {
        OPENSSL_cleanse(out, sizeof *out);
        return -1;
    }
    return 0;
}

static unsigned get16(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

int tls_ticket_sni(const uint8_t *ext, size_t len, char *out, size_t cap)
{
    if (len < 2 || get16(ext) != len - 2)
        return -1;
    size_t at = 2;
    while (at + 3 <= len) {
        unsigned type = ext[at], n = get16(ext + at + 1);
        at += 3;
        if (n > len - at)
            return -1;
        if (type == 0) {        /* host_name */
            if (n == 0 || n >= cap || memchr(ext + at, '\0', n))
                return -1;
            memcpy(out, ext + at, n);
            out[n] = '\0';
            return 0;
        }
        at += n;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* A server's context: what the ticket callback needs (its ex_data) */

/* Derived keys of the last base keys, so that a handshake costs no HMAC
 * after the first of each key (a worker's copy: written after the fork). */
struct derived {
    struct tls_ticket_key base, key;
    bool valid;
};

struct tickets_ctx {
    bool enabled;               /* session_tickets */
    uint8_t id[TLS_TICKET_ID];  /* the server's identity */
    struct derived cache[3];
    unsigned next_slot;
    size_t n;                   /* keys from ticket_key_files; 0: the page's */
    struct tls_ticket_key keys[];
};

static int ex_index = -1;

static int on_key(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
                  EVP_MAC_CTX *hctx, int enc);

static void free_tickets(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    struct tickets_ctx *tx = ptr;
    if (tx == NULL)
        return;
    OPENSSL_cleanse(tx, sizeof *tx + tx->n * sizeof tx->keys[0]);
    free(tx);
}

/* The names of the server whose `tls` group this is (its parent). */
/* A server's identity: its names, and what it asks of clients. A session
 * made without a client certificate must not resume on a server that now
 * requires one (a reload that turned client_certificate on), nor one
 * verified against another CA. */
static void server_identity(const config_setting_t *group, const struct tls_config *tc,
                            uint8_t id[TLS_TICKET_ID])
{
    const config_setting_t *server = config_setting_parent(group);
    const config_setting_t *names = server ? config_setting_get_member(server, "server_names")
                                           : NULL;
    int n = names == NULL ? 0
            : config_setting_type(names) == CONFIG_TYPE_STRING ? 1
            : config_setting_length(names);
    const char **v = calloc((size_t)n + 2, sizeof *v);
    size_t k = 0;
    char client[4200];
    for (int i = 0; v && i < n; i++) {
        const char *s = n == 1 && config_setting_type(names) == CONFIG_TYPE_STRING
                        ? config_setting_get_string(names)
                        : config_setting_get_string_elem(names, i);
        if (s)
            v[k++] = s;
    }
    /* \001 cannot be in a server name (config.c checks them). */
    if (v && tc->client_certificate) {
        snprintf(client, sizeof client, "\001client_certificate=%s;verify=%s",
                 tc->client_certificate, tc->client_verify ? tc->client_verify : "on");
        v[k++] = client;
    }
    tls_ticket_identity(v, k, id);
    free(v);
}

static int read_key_file(struct cfg_ctx *ctx, const config_setting_t *at, const char *path,
                         struct tls_ticket_key *out)
{
    if (path[0] != '/')
        return cfg_fail(ctx, at, "'ticket_key_files': %s must be an absolute path", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cfg_fail(ctx, at, "ticket key file %s: %s", path, strerror(errno));
    struct stat st;
    uint8_t buf[80];
    int rc = -1;
    if (fstat(fd, &st) < 0)
        cfg_fail(ctx, at, "ticket key file %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        cfg_fail(ctx, at, "ticket key file %s: not a regular file", path);
    else if (st.st_size != 80 && st.st_size != 48)
        cfg_fail(ctx, at, "ticket key file %s has %lld bytes; it must have 80 (or 48): make "
                 "one with \"openssl rand 80 > %s\"", path, (long long)st.st_size, path);
    else if (read(fd, buf, (size_t)st.st_size) != (ssize_t)st.st_size)
        cfg_fail(ctx, at, "ticket key file %s: cannot read it whole", path);
    else if (tls_ticket_key_parse(buf, (size_t)st.st_size, out) == 0)
        rc = 0;
    if (rc == 0 && (st.st_mode & 0044))
        cfg_warn(ctx, at, "ticket key file %s can be read by other users (chmod 600 it)", path);
    OPENSSL_cleanse(buf, sizeof buf);
    close(fd);
    return rc;
}

/* Long: the configuration side of tickets in one place (files, identity,
 * session ID context, callback), each step a few lines. */
int tls_tickets_setup(struct cfg_ctx *ctx, const config_setting_t *group,
                      const struct tls_config *tc, SSL_CTX *sc)
{
    const config_setting_t *at = config_setting_get_member(group, "ticket_key_files");
    size_t n = tc->ticket_key_files.n;
    if (n > FILE_KEYS_MAX)
        return cfg_fail(ctx, at, "'ticket_key_files': at most %d files", FILE_KEYS_MAX);
    if (ex_index < 0 &&
        (ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_tickets)) < 0)
        return cfg_fail(ctx, group, "TLS: no room for the ticket keys");
    struct tickets_ctx *tx = calloc(1, sizeof *tx + n * sizeof tx->keys[0]);
    if (tx == NULL)
        return cfg_fail(ctx, group, "out of memory");
    tx->n = n;
    if (SSL_CTX_set_ex_data(sc, ex_index, tx) != 1) {
        free(tx);
        return cfg_fail(ctx, group, "out of memory");
    }
    tx->enabled = tc->session_tickets;
    server_identity(group, tc, tx->id);
    /* The session ID context is the identity too (not the file's line),
     * so that TLS 1.2 sessions survive a reload that moves the server in
     * its file, and resume on another instance with the same key files. */
    SSL_CTX_set_session_id_context(sc, tx->id, sizeof tx->id);
    for (size_t i = 0; i < n; i++)
        if (read_key_file(ctx, at, tc->ticket_key_files.v[i], &tx->keys[i]) < 0)
            return -1;
    if (n > 0 && !tc->session_tickets)
        cfg_warn(ctx, at, "'ticket_key_files' is not used: 'session_tickets' is false");
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(sc, on_key) != 1)
        return cfg_fail(ctx, group, "TLS: cannot set the ticket key callback");
    return 0;
}

/* ------------------------------------------------------------------ */
/* The callback */

/* The key derived for this server from base, from the cache if it is
 * there. */
static int derived_key(struct tickets_ctx *tx, const struct tls_ticket_key *base,
                       struct tls_ticket_key *out)
{
    for (size_t i = 0; i < sizeof tx->cache / sizeof tx->cache[0]; i++) {
        struct derived *d = &tx->cache[i];
        if (d->valid && CRYPTO_memcmp(&d->base, base, sizeof *base) == 0) {
            *out = d->key;
            return 0;
        }
    }
    if (tls_ticket_derive(base, tx->id, out) < 0)
        return -1;
    struct derived *d = &tx->cache[tx->next_slot++ % (sizeof tx->cache / sizeof tx->cache[0])];
    d->base = *base;
    d->key = *out;
    d->valid = true;
    return 0;
}

static int seal_or_open(struct tickets_ctx *tx, const struct tls_ticket_key *base,
                        unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    struct tls_ticket_key k;
    if (derived_key(tx, base, &k) < 0)
        return -1;
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    int ok = EVP_CipherInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv, enc) == 1 &&
             EVP_MAC_CTX_set_params(hctx, params) == 1;
    OPENSSL_cleanse(&k, sizeof k);
    return ok ? 0 : -1;
}

/* The context whose keys open a ticket: the one SNI will pick. OpenSSL
 * opens the ticket before it calls the SNI callback (TLS 1.2: before it
 * reads the extensions at all), so the name is read from the ClientHello
 * here. */
static SSL_CTX *opening_ctx(SSL *ssl)
{
    const unsigned char *ext;
    size_t len;
    char name[256];
    const char *sni = NULL;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) == 1 &&
        tls_ticket_sni(ext, len, name, sizeof name) == 0)
        sni = name;
    return tls_ssl_pick_ctx(ssl, sni);
}

/* OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb):
 * seal (enc) with the current key, or open with the key the ticket names.
 * Every failure is "no ticket" (0), never a failed handshake. */
static int on_key(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
                  EVP_MAC_CTX *hctx, int enc)
{
    SSL_CTX *sc = enc ? SSL_get_SSL_CTX(ssl) : opening_ctx(ssl);
    struct tickets_ctx *tx = ex_index < 0 ? NULL : SSL_CTX_get_ex_data(sc, ex_index);
    struct tls_ticket_key page_keys[2];
    const struct tls_ticket_key *keys = tx ? tx->keys : NULL;
    size_t n = tx ? tx->n : 0;
    int rc = 0;
    if (tx == NULL || !tx->enabled)
        return 0;               /* no ticket; a ticket offered is not opened */
    if (n == 0) {
        if (tls_tickets_read(page_keys) < 0)
            return 0;
        keys = page_keys;
        n = 2;
    }
    if (enc) {
        memcpy(name, keys[0].name, TLS_TICKET_NAME);
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) == 1 &&
            seal_or_open(tx, &keys[0], iv, cctx, hctx, 1) == 0)
            rc = 1;
    } else {
        for (size_t i = 0; i < n; i++)
            if (CRYPTO_memcmp(name, keys[i].name, TLS_TICKET_NAME) == 0) {
                /* 2: opened by an older key, so a new ticket is sent. */
                if (seal_or_open(tx, &keys[i], iv, cctx, hctx, 0) == 0)
                    rc = i == 0 ? 1 : 2;
                break;
            }
    }
    OPENSSL_cleanse(page_keys, sizeof page_keys);
    return rc;
}
