/* Error log: one line per message with time, level and pid. */
#ifndef HERD_LOG_H
#define HERD_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Parse "error" | "warn" | "info" | "debug"; -1 when unknown. */
int log_level_from(const char *name);
const char *log_level_name(enum log_level level);

/* Where messages go: a file opened for appending, or stderr when path is
 * NULL or "stderr". Returns 0, or -1 with errno set (the old target stays). */
int log_open(const char *path);
/* Use an already open descriptor (a worker receiving a reopened file). */
void log_use_fd(int fd);
int log_fd(void);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) \
    do { if (log_get_level() >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
