/* The error log is process-wide state by nature: every module writes to it and
 * a reopen (USR1) must redirect all of them at once. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_target = STDERR_FILENO;
static enum log_level log_threshold = LOG_INFO;
static bool log_echo;           /* errors and warnings to stderr as well */

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int log_level_from(const char *name)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return level_names[level];
}

/* A new log gets the group of its directory, as logrotate's "create 0640
 * root adm" gives the files it makes in a root:adm directory. Only root can
 * choose the group; anybody else keeps what the kernel gave. */
static void take_directory_group(int fd, const char *path)
{
    if (geteuid() != 0)
        return;
    char *copy = strdup(path);
    struct stat dir;
    if (copy && stat(dirname(copy), &dir) == 0 && fchown(fd, (uid_t)-1, dir.st_gid) < 0)
        log_warn("cannot give %s the group of its directory: %s", path, strerror(errno));
    free(copy);
}

int log_file_open(const char *path, char *err, size_t errcap)
{
    /* O_NOFOLLOW: whoever can write to the log directory must not be able
     * to point a log at another file for the root master to append to. */
    const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
    bool created = false;
    int fd = open(path, flags);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, flags | O_CREAT | O_EXCL, 0640);
        created = fd >= 0;
        if (fd < 0 && errno == EEXIST)
            fd = open(path, flags);
    }
    struct stat sb;
    if (fd < 0) {
        if (errno == ELOOP && lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
            snprintf(err, errcap, "cannot open log file %s: it is a symbolic link (herd "
                     "never writes a log through a link)", path);
        else
            snprintf(err, errcap, "cannot open log file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &sb) < 0 || !(S_ISREG(sb.st_mode) || S_ISCHR(sb.st_mode))) {
        snprintf(err, errcap, "cannot open log file %s: not a regular file", path);
        close(fd);
        return -1;
    }
    /* Appends to a regular file never block; a device may want to. */
    fcntl(fd, F_SETFL, O_WRONLY | O_APPEND);
    if (created)
        take_directory_group(fd, path);
    return fd;
}

int log_open(const char *path, char *err, size_t errcap)
{
    if (path == NULL || strcmp(path, "stderr") == 0) {
        log_use_fd(STDERR_FILENO);
        return 0;
    }
    int fd = log_file_open(path, err, errcap);
    if (fd < 0)
        return -1;
    log_use_fd(fd);
    return 0;
}

void log_use_fd(int fd)
{
    if (log_target != STDERR_FILENO && log_target != fd)
        close(log_target);
    log_target = fd;
}

int log_fd(void)
{
    return log_target;
}

void log_echo_stderr(bool on)
{
    log_echo = on;
}

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

enum log_level log_get_level(void)
{
    return log_threshold;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > log_threshold)
        return;
    int saved_errno = errno;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y/%m/%d %H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, " [%s] %d: ",
                  level_names[level], (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if (n > (int)sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    /* One write per line: O_APPEND keeps lines of all processes whole. */
    ssize_t unused = write(log_target, line, (size_t)n);
    if (log_echo && level <= LOG_WARN && log_target != STDERR_FILENO)
        unused = write(STDERR_FILENO, line, (size_t)n);
    (void)unused;
    errno = saved_errno;
}

static void budget_new_second(struct log_budget *b, int64_t now_ms)
{
    if (b->suppressed > 0)
        log_msg(b->level, "%s: %llu more %s (at most %u a second per worker)", b->what,
                (unsigned long long)b->suppressed, b->noun, (unsigned)b->per_second);
    b->suppressed = 0;
    b->start = now_ms;
    b->used = 0;
}

bool log_budget_take(struct log_budget *b, int64_t now_ms)
{
    if (b->level > log_get_level())
        return false;
    if (now_ms - b->start >= 1000 || now_ms < b->start)
        budget_new_second(b, now_ms);
    if (b->used >= b->per_second) {
        b->suppressed++;
        return false;
    }
    b->used++;
    return true;
}

void log_budget_tick(struct log_budget *b, int64_t now_ms)
{
    if (b->suppressed > 0 && now_ms - b->start >= 1000)
        budget_new_second(b, now_ms);
}
