#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* Seconds the kernel may hold a connection that has sent nothing before
 * handing it to accept() anyway. Short, so that header_timeout still decides
 * when a silent client is dropped. */
#define DEFER_ACCEPT_SECONDS 1

static int parse_port(const char *s, in_port_t *port)
{
    if (*s == '\0')
        return -1;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return -1;
    }
    if (v == 0)
        return -1;
    *port = htons((in_port_t)v);
    return 0;
}

static int unix_parse(const char *path, struct listen_addr *out, const char **why)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&out->ss;
    if (path[0] != '/') {
        *why = "a unix socket path must be absolute (unix:/run/herd.sock)";
        return -1;
    }
    if (strlen(path) >= sizeof un->sun_path) {
        *why = "unix socket path too long (at most 107 bytes)";
        return -1;
    }
    un->sun_family = AF_UNIX;
    strcpy(un->sun_path, path);
    /* What getsockname() reports for it, so that an inherited socket is
     * recognised (same_sockaddr). */
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    snprintf(out->text, sizeof out->text, "unix:%s", path);
    return 0;
}

const char *listen_addr_path(const struct listen_addr *a)
{
    if (a->ss.ss_family != AF_UNIX)
        return NULL;
    return ((const struct sockaddr_un *)&a->ss)->sun_path;
}

const char *listen_path_problem(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0 || S_ISSOCK(st.st_mode))
        return NULL;
    return "the path exists and is not a socket (herd replaces only a socket left by a "
           "server that stopped)";
}

int listen_addr_parse(const char *s, struct listen_addr *out, const char **why)
{
    char host[256];
    const char *port;
    memset(out, 0, sizeof *out);

    if (strncmp(s, "unix:", 5) == 0)
        return unix_parse(s + 5, out, why);
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':') {
            *why = "expected [IPv6]:port";
            return -1;
        }
        size_t n = (size_t)(end - s - 1);
        if (n >= sizeof host) {
            *why = "address too long";
            return -1;
        }
        memcpy(host, s + 1, n);
        host[n] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL) {
            strcpy(host, "*");
            port = s;
        } else {
            size_t n = (size_t)(colon - s);
            if (n >= sizeof host || memchr(s, ':', n)) {
                *why = "write IPv6 addresses as [address]:port";
                return -1;
            }
            memcpy(host, s, n);
            host[n] = '\0';
            port = colon + 1;
        }
    }

    in_port_t p;
    if (parse_port(port, &p) < 0) {
        *why = "port must be a number from 1 to 65535";
        return -1;
    }

    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
    /* "*:80", ":80" and "80" mean every IPv4 address; "[]:80" and "[*]:80"
     * name no IPv6 address and must not quietly mean every IPv4 one. */
    if (s[0] != '[' && (strcmp(host, "*") == 0 || host[0] == '\0')) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_port = p;
        out->len = sizeof *v4;
    } else if (s[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = p;
        out->len = sizeof *v4;
    } else if (s[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = p;
        out->len = sizeof *v6;
    } else {
        *why = "not a numeric IPv4 or [IPv6] address";
        return -1;
    }

    char ip[INET6_ADDRSTRLEN];
    if (out->ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        snprintf(out->text, sizeof out->text, "%s:%u", ip, ntohs(p));
    } else {
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        snprintf(out->text, sizeof out->text, "[%s]:%u", ip, ntohs(p));
    }
    return 0;
}

static bool same_sockaddr(int fd, const struct listen_addr *addr)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || len != addr->len)
        return false;
    return memcmp(&ss, &addr->ss, len) == 0;
}

/* A socket left by the previous master for this address, if any. */
static int take_inherited(struct listen_set *set, const struct listen_addr *addr)
{
    for (size_t i = 0; i < set->n_inherited; i++) {
        int fd = set->inherited[i];
        if (fd >= 0 && same_sockaddr(fd, addr)) {
            set->inherited[i] = -1;
            return fd;
        }
    }
    return -1;
}

/* Is a process listening on the unix socket at path? A socket file stays
 * behind when its server dies without removing it: connect() then gets
 * ECONNREFUSED. 1 live (or cannot tell: errno), 0 stale. */
static int unix_in_use(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1;
    int rc = connect(fd, sa, len);
    int saved = errno;
    close(fd);
    if (rc < 0 && (saved == ECONNREFUSED || saved == ENOENT))   /* ENOENT: gone meanwhile */
        return 0;
    /* Accepted, or EAGAIN (a live server with a full backlog), or an error
     * such as EACCES: not ours to remove. */
    errno = rc == 0 || saved == EAGAIN ? EADDRINUSE : saved;
    return 1;
}

/* A unix socket bound at a's path, replacing a stale one. Created with mode
 * 0600 (nobody else can connect before listen_unix_access sets the mode
 * the configuration asks for); its file recorded in l. */
static int bound_unix(const struct listen_addr *a, struct listener *l, const char **what)
{
    const char *path = listen_addr_path(a);
    struct stat st;
    *what = "bind";
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            errno = EEXIST;
            return -1;
        }
        *what = "connect";
        if (unix_in_use((const struct sockaddr *)&a->ss, a->len))
            return -1;
        log_info("%s: removing a stale socket left by a server that stopped", a->text);
        *what = "unlink (stale socket)";
        if (unlink(path) < 0 && errno != ENOENT)
            return -1;
    }
    *what = "socket";
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    *what = "bind";
    mode_t old = umask(0177);
    int rc = bind(fd, (const struct sockaddr *)&a->ss, a->len);
    umask(old);
    if (rc < 0 || lstat(path, &st) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    l->owns_path = true;
    l->path_dev = st.st_dev;
    l->path_ino = st.st_ino;
    return fd;
}

/* An inherited unix socket (binary upgrade): its file is ours to remove
 * at the end, as if we had created it. */
static void adopt_path(struct listener *l)
{
    struct stat st;
    const char *path = listen_addr_path(&l->addr);
    if (path == NULL || l->owns_path || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return;
    l->owns_path = true;
    l->path_dev = st.st_dev;
    l->path_ino = st.st_ino;
}

/* Remove l's socket file if it is still the one it made (a file put there
 * by someone else since is left alone). */
static void remove_path(const struct listen_set *set, struct listener *l)
{
    struct stat st;
    const char *path = listen_addr_path(&l->addr);
    if (!l->owns_path || set->keep_paths || path == NULL)
        return;
    l->owns_path = false;
    if (lstat(path, &st) == 0 && st.st_dev == l->path_dev && st.st_ino == l->path_ino &&
        unlink(path) < 0)
        log_warn("unlink(%s): %s", path, strerror(errno));
}

/* A TCP socket bound to a with herd's options; -1 with errno and the step
 * that failed in *what. */
static int bound_socket(const struct listen_addr *a, bool reuseport, bool defer_accept,
                        const char **what)
{
    int one = 1, secs = DEFER_ACCEPT_SECONDS;
    *what = "socket";
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    *what = "setsockopt(SO_REUSEADDR)";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        goto fail;
    *what = "setsockopt(SO_REUSEPORT)";
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        goto fail;
    *what = "setsockopt(IPV6_V6ONLY)";
    if (a->ss.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        goto fail;
    *what = "setsockopt(TCP_DEFER_ACCEPT)";
    if (defer_accept && setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs) < 0)
        goto fail;
    *what = "bind";
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
        goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int open_socket(struct listen_set *set, struct listener *l, char *err, size_t errcap)
{
    int fd = take_inherited(set, &l->addr);
    if (fd >= 0) {
        /* Keep the inherited socket but refresh its backlog. */
        if (listen(fd, l->backlog) < 0)
            log_warn("listen(%s): %s", l->addr.text, strerror(errno));
        adopt_path(l);
        return fd;
    }

    const char *what;
    if (listen_addr_path(&l->addr))
        fd = bound_unix(&l->addr, l, &what);
    else
        fd = bound_socket(&l->addr, l->reuseport, l->defer_accept, &what);
    if (fd < 0)
        goto fail;
    what = "listen";
    if (listen(fd, l->backlog) < 0)
        goto fail;
    return fd;

fail:
    snprintf(err, errcap, "%s %s: %s%s", what, l->addr.text, strerror(errno),
             errno == EEXIST ? " (the path exists and is not a socket)"
             : errno == EADDRINUSE ? " (another process listens there)" : "");
    if (fd >= 0) {
        close(fd);
        remove_path(set, l);
    }
    return -1;
}

/* Sockets of one user that all set SO_REUSEPORT share an address: a second
 * herd started with another pid file (or any other program that set it)
 * would silently join the group and take part of the traffic. Before the
 * first socket of an address, bind once without SO_REUSEPORT: that fails
 * if anybody listens there. SO_REUSEADDR lets connections in TIME_WAIT pass. */
static int probe_address(const struct listen_addr *a, char *err, size_t errcap)
{
    const char *what;
    int fd = bound_socket(a, false, false, &what);
    if (fd < 0) {
        snprintf(err, errcap, "%s %s: %s%s", what, a->text, strerror(errno),
                 errno == EADDRINUSE ? " (another process listens there)" : "");
        return -1;
    }
    close(fd);
    return 0;
}

/* Was a socket for this address passed down by the previous master? */
static bool inherited(const struct listen_set *set, const struct listen_addr *addr)
{
    for (size_t i = 0; i < set->n_inherited; i++)
        if (set->inherited[i] >= 0 && same_sockaddr(set->inherited[i], addr))
            return true;
    return false;
}

static int grow(struct listen_set *set, struct listener *l, size_t want, char *err,
                size_t errcap)
{
    size_t have = l->n_fds;
    if (have >= want)
        return 0;
    int *fds = realloc(l->fds, want * sizeof *fds);
    if (fds == NULL) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    l->fds = fds;
    for (size_t i = have; i < want; i++) {
        int fd = open_socket(set, l, err, errcap);
        if (fd < 0) {
            /* Close what this call opened, also in a steered group (which
             * listen_trim leaves alone). */
            while (l->n_fds > have)
                close(l->fds[--l->n_fds]);
            return -1;
        }
        l->fds[l->n_fds++] = fd;
    }
    /* After a binary upgrade, keep the old master's parked sockets of this
     * group too, in their order: the group's order is what steering counts
     * on, and closing them would reorder it. */
    int fd;
    while (l->reuseport && (fd = take_inherited(set, &l->addr)) >= 0) {
        int *more = realloc(l->fds, (l->n_fds + 1) * sizeof *more);
        if (more == NULL) {
            close(fd);
            break;
        }
        l->fds = more;
        l->fds[l->n_fds++] = fd;
    }
    return 0;
}

struct listener *listen_acquire(struct listen_set *set, const struct listen_addr *addr,
                                bool reuseport, bool defer_accept, int backlog, size_t slots,
                                char *err, size_t errcap)
{
    /* One socket file is one socket: SO_REUSEPORT does not apply, and
     * TCP_DEFER_ACCEPT is TCP's. The workers share it (EPOLLEXCLUSIVE). */
    if (listen_addr_path(addr)) {
        reuseport = false;
        defer_accept = false;
    }
    size_t want = reuseport ? slots : 1;
    for (struct listener *l = set->head; l; l = l->next) {
        if (strcmp(l->addr.text, addr->text) != 0 || l->reuseport != reuseport)
            continue;
        if (grow(set, l, want, err, errcap) < 0)
            return NULL;
        if (l->backlog != backlog) {
            l->backlog = backlog;
            for (size_t i = 0; i < l->n_fds; i++)
                listen(l->fds[i], backlog);
        }
        l->refs++;
        return l;
    }

    struct listener *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    l->addr = *addr;
    l->reuseport = reuseport;
    l->defer_accept = defer_accept;
    l->backlog = backlog;
    if ((reuseport && !inherited(set, addr) && probe_address(addr, err, errcap) < 0) ||
        grow(set, l, want, err, errcap) < 0) {
        remove_path(set, l);
        free(l->fds);
        free(l);
        return NULL;
    }
    l->refs = 1;
    l->next = set->head;
    set->head = l;
    return l;
}

void listen_trim(struct listener *l, size_t slots_in_use)
{
    /* A steered group keeps its sockets (see listen_steer) until unused. */
    if (l->steered && slots_in_use > 0)
        return;
    size_t keep = l->reuseport ? slots_in_use : (slots_in_use ? 1 : 0);
    while (l->n_fds > keep)
        close(l->fds[--l->n_fds]);
}

int listen_unix_access(const struct listener *l, mode_t mode, uid_t uid, gid_t gid, char *err,
                       size_t errcap)
{
    const char *path = listen_addr_path(&l->addr);
    if (path == NULL)
        return 0;
    const char *what = "chown";
    if ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0)
        goto fail;
    what = "chmod";
    if (chmod(path, mode) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errcap, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

void listen_release(struct listen_set *set, struct listener *l)
{
    if (--l->refs > 0)
        return;
    for (struct listener **pp = &set->head; *pp; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    listen_trim(l, 0);
    remove_path(set, l);
    free(l->fds);
    free(l);
}

/* The classic BPF program that picks a socket of the group for each new
 * connection: a random index below the number of serving slots, mapped to
 * the slot's position in the group. The group's order is the order the
 * sockets joined, which is slot order: sockets are opened for slots 0, 1, ...
 * and closed from the top. With every slot serving the map is the identity
 * and the program is three instructions; otherwise a chain of compares
 * (two instructions per serving slot, far below BPF_MAXINSNS). */
static size_t steer_program(struct sock_filter *code, const size_t *serving, size_t k,
                            bool identity)
{
    size_t n = 0;
    code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                             (uint32_t)(SKF_AD_OFF + SKF_AD_RANDOM));
    code[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)k);
    if (identity) {
        code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
        return n;
    }
    for (size_t i = 0; i + 1 < k; i++) {
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)i, 0, 1);
        code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)serving[i]);
    }
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (uint32_t)serving[k - 1]);
    return n;
}

int listen_steer(struct listener *l, size_t n, const bool *down)
{
    if (!l->reuseport || l->n_fds == 0 || n == 0) {
        l->active = n;
        return 0;
    }
    if (n > l->n_fds)
        n = l->n_fds;
    size_t *serving = calloc(n, sizeof *serving);
    struct sock_filter *code = calloc(2 * n + 3, sizeof *code);
    if (serving == NULL || code == NULL) {
        free(serving);
        free(code);
        log_warn("%s: cannot steer connections: out of memory", l->addr.text);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (down == NULL || !down[i])
            serving[k++] = i;
    /* No slot serving: keep every one in, the first to come back takes its
     * queue. */
    bool identity = k == n || k == 0;
    if (k == 0)
        for (k = 0; k < n; k++)
            serving[k] = k;
    struct sock_fprog prog = { .len = (unsigned short)steer_program(code, serving, k, identity),
                               .filter = code };
    int rc = setsockopt(l->fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
    if (rc < 0)
        log_warn("%s: cannot steer connections (SO_ATTACH_REUSEPORT_CBPF): %s", l->addr.text,
                 strerror(errno));
    free(serving);
    free(code);
    if (rc < 0)
        return -1;
    l->active = n;
    l->steered = true;
    return 0;
}

bool listen_slot_released(const struct listener *l, size_t slot)
{
    if (l->n_fds == 0)
        return true;
    return l->reuseport && (slot >= l->active || slot >= l->n_fds);
}

int listen_fd_for_slot(const struct listener *l, size_t slot)
{
    return l->reuseport ? l->fds[slot] : l->fds[0];
}

size_t listen_inherit_from_env(struct listen_set *set)
{
    const char *pid = getenv("LISTEN_PID");
    const char *fds = getenv("LISTEN_FDS");
    if (fds == NULL)
        return 0;
    if (pid && atol(pid) != (long)getpid())
        return 0;
    long n = atol(fds);
    if (n <= 0 || n > 65536)
        return 0;
    set->inherited = calloc((size_t)n, sizeof *set->inherited);
    if (set->inherited == NULL)
        return 0;
    for (long i = 0; i < n; i++) {
        int fd = 3 + (int)i;
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
            continue;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        set->inherited[set->n_inherited++] = fd;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return set->n_inherited;
}

void listen_drop_unadopted(struct listen_set *set)
{
    for (size_t i = 0; i < set->n_inherited; i++)
        if (set->inherited[i] >= 0)
            close(set->inherited[i]);
    free(set->inherited);
    set->inherited = NULL;
    set->n_inherited = 0;
}

void listen_close_all(struct listen_set *set)
{
    while (set->head) {
        struct listener *l = set->head;
        set->head = l->next;
        listen_trim(l, 0);
        remove_path(set, l);
        free(l->fds);
        free(l);
    }
    listen_drop_unadopted(set);
}
