/* Error log: one line per message with time, level and pid. */
#ifndef HERD_LOG_H
#define HERD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Parse "error" | "warn" | "info" | "debug"; -1 when unknown. */
int log_level_from(const char *name);
const char *log_level_name(enum log_level level);

/* Open a log file (the error log or an access log) for appending, as the
 * root master does at start, on reload and on USR1: never through a
 * symbolic link (O_NOFOLLOW), only a regular file or a character device; a
 * new file is created 0640 with the group of its directory. Returns the
 * descriptor, or -1 with "cannot open log file PATH: reason" in err. */
int log_file_open(const char *path, char *err, size_t errcap);

/* Where messages go: a file opened with log_file_open(), or stderr when
 * path is NULL or "stderr". Returns 0, or -1 with the reason in err (the
 * old target stays). */
int log_open(const char *path, char *err, size_t errcap);
/* Use an already open descriptor (a worker receiving a reopened file). */
void log_use_fd(int fd);
int log_fd(void);
void log_set_level(enum log_level level);
/* While herd starts (until its first generation serves), errors and
 * warnings also go to stderr when the log is a file: a start that fails
 * says why on the terminal or in the journal, as nginx's [emerg] does. */
void log_echo_stderr(bool on);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A budget of lines a second for messages that clients can provoke (bad
 * requests, failed handshakes, refused connections): a flood must neither
 * fill the disk nor bury other lines. Per process, that is per worker. A
 * line over the budget is counted instead, and the count is logged once
 * its second is over, as "WHAT: N more NOUN (at most M a second per
 * worker)". A level that is not logged spends nothing. */
struct log_budget {
    const char *what, *noun;
    enum log_level level;
    uint32_t per_second;
    uint32_t used;
    int64_t start;              /* ms: when the current second began */
    uint64_t suppressed;
};

#define LOG_BUDGET(what, noun, level, per_second) \
    { (what), (noun), (level), (per_second), 0, 0, 0 }

/* May a line at b->level be logged now? */
bool log_budget_take(struct log_budget *b, int64_t now_ms);
/* About once a second: report what a second that is over suppressed,
 * though no new line came to ask. */
void log_budget_tick(struct log_budget *b, int64_t now_ms);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) \
    do { if (log_get_level() >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
