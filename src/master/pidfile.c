/* Tested by tests/unit/check_pidfile.c. */
#include "master/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Create the directories above path that do not exist yet. */
static void make_parents(const char *path)
{
    char dir[sizeof ((struct pidfile *)0)->path];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        mkdir(dir, 0755);
        *p = '/';
    }
}

/* Whoever holds the lock wrote its pid into the file. */
static void refuse(int fd, const char *path, char *err, size_t errcap)
{
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    snprintf(err, errcap, "another herd master (pid %s) is running with pid file %s",
             buf[0] ? buf : "?", path);
}

int pidfile_lock(struct pidfile *pf, const char *path, char *err, size_t errcap)
{
    if (strlen(path) >= sizeof pf->path) {
        snprintf(err, errcap, "pid file path too long: %s", path);
        return -1;
    }
    snprintf(pf->path, sizeof pf->path, "%s", path);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) {
        make_parents(path);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        snprintf(err, errcap, "cannot open pid file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        refuse(fd, path, err, errcap);
        close(fd);
        return -1;
    }
    pf->fd = fd;
    return 0;
}

int pidfile_write(struct pidfile *pf, pid_t pid, char *err, size_t errcap)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)pid);
    if (ftruncate(pf->fd, 0) < 0 || pwrite(pf->fd, buf, (size_t)n, 0) != n) {
        snprintf(err, errcap, "cannot write pid file %s: %s", pf->path, strerror(errno));
        return -1;
    }
    return 0;
}

void pidfile_oldbin_path(const struct pidfile *pf, char *out, size_t cap)
{
    snprintf(out, cap, "%s.oldbin", pf->path);
}

bool pidfile_is_ours(const struct pidfile *pf, const char *path)
{
    struct stat a, b;
    return pf->fd >= 0 && fstat(pf->fd, &a) == 0 && stat(path, &b) == 0 &&
           a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

int pidfile_to_oldbin(struct pidfile *pf, char *err, size_t errcap)
{
    char old[sizeof pf->path + 8];
    pidfile_oldbin_path(pf, old, sizeof old);
    if (rename(pf->path, old) < 0) {
        snprintf(err, errcap, "cannot rename %s: %s", pf->path, strerror(errno));
        return -1;
    }
    return 0;
}

int pidfile_from_oldbin(struct pidfile *pf, char *err, size_t errcap)
{
    char old[sizeof pf->path + 8];
    pidfile_oldbin_path(pf, old, sizeof old);
    if (pidfile_is_ours(pf, old) && rename(old, pf->path) < 0) {
        snprintf(err, errcap, "cannot restore %s: %s", pf->path, strerror(errno));
        return -1;
    }
    return 0;
}

void pidfile_remove(struct pidfile *pf)
{
    if (pf->fd < 0)
        return;
    char old[sizeof pf->path + 8];
    pidfile_oldbin_path(pf, old, sizeof old);
    if (pidfile_is_ours(pf, pf->path))
        unlink(pf->path);
    else if (pidfile_is_ours(pf, old))
        unlink(old);
    close(pf->fd);
    pf->fd = -1;
}
