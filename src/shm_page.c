#include "shm_page.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void *map_fd(int fd, size_t size)
{
    int flags = MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *shm_page_inherit(const char *env, size_t size, int *fd, bool *offered)
{
    *fd = -1;
    const char *v = getenv(env);
    *offered = v != NULL;
    if (v == NULL)
        return NULL;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    int f = !errno && end != v && *end == '\0' && n >= 3 && n <= INT_MAX ? (int)n : -1;
    unsetenv(env);
    struct stat st;
    bool file = f >= 0 && fstat(f, &st) == 0 && S_ISREG(st.st_mode);
    void *p = file && st.st_size == (off_t)size ? map_fd(f, size) : NULL;
    if (p == NULL) {
        /* Only a file is ours to close: another number may be anything. */
        if (file)
            close(f);
        return NULL;
    }
    fcntl(f, F_SETFD, FD_CLOEXEC);
    *fd = f;
    return p;
}

void *shm_page_create(const char *name, size_t size, int *fd)
{
    int f = memfd_create(name, MFD_CLOEXEC);
    if (f >= 0 && ftruncate(f, (off_t)size) < 0) {
        close(f);
        f = -1;
    }
    void *p = map_fd(f, size);
    if (p == NULL) {
        int e = errno;
        if (f >= 0)
            close(f);
        errno = e;
        return NULL;
    }
    *fd = f;
    return p;
}

int shm_page_pass_on(int fd, const char *env, int min_fd)
{
    if (fd < 0)
        return -1;
    int copy = fcntl(fd, F_DUPFD, min_fd);     /* without FD_CLOEXEC */
    if (copy < 0)
        return -1;
    char num[16];
    snprintf(num, sizeof num, "%d", copy);
    return setenv(env, num, 1);
}
