/* The error log is process-wide state by nature: every module writes to it and
 * a reopen (USR1) must redirect all of them at once. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_target = STDERR_FILENO;
static enum log_level log_threshold = LOG_INFO;

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

int log_open(const char *path)
{
    if (path == NULL || strcmp(path, "stderr") == 0) {
        log_use_fd(STDERR_FILENO);
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
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
    (void)unused;
    errno = saved_errno;
}
