/* The argv area trick: the kernel shows /proc/PID/cmdline from the memory
 * that held the program's arguments (and, past a title that fills them,
 * the environment strings that follow). Once both are copied to the heap
 * that memory is free to hold a title of that length. */
#include "proctitle.h"

#include <stdlib.h>
#include <string.h>

extern char **environ;

static char *area;              /* where the argv (and environ) strings were */
static size_t area_len;
static char *command;           /* the original command line, for the master */

/* Copy the strings and repoint the vectors; false when out of memory (then
 * nothing was changed). */
static int copy_out(int argc, char **argv, size_t n_env)
{
    char **env = calloc(n_env + 1, sizeof *env);
    char **args = calloc((size_t)argc, sizeof *args);
    int ok = env != NULL && args != NULL;
    for (size_t i = 0; ok && i < n_env; i++)
        ok = (env[i] = strdup(environ[i])) != NULL;
    for (int i = 0; ok && i < argc; i++)
        ok = (args[i] = strdup(argv[i])) != NULL;
    if (!ok) {
        for (size_t i = 0; env && i < n_env; i++)
            free(env[i]);
        for (int i = 0; args && i < argc; i++)
            free(args[i]);
        free(env);
        free(args);
        return 0;
    }
    for (int i = 0; i < argc; i++)
        argv[i] = args[i];
    free(args);
    environ = env;
    return 1;
}

void proctitle_init(int argc, char **argv)
{
    if (argc < 1 || argv[0] == NULL)
        return;
    /* The room: argv[0] up to the end of the last string that follows it
     * without a gap. */
    char *start = argv[0];
    char *end = start + strlen(start) + 1;
    for (int i = 1; i < argc; i++)
        if (argv[i] == end)
            end = argv[i] + strlen(argv[i]) + 1;
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    for (size_t i = 0; i < n_env; i++)
        if (environ[i] == end)
            end = environ[i] + strlen(environ[i]) + 1;

    size_t len = 0;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    command = malloc(len + 1);
    if (command == NULL)
        return;
    command[0] = '\0';
    for (int i = 0; i < argc; i++)
        strcat(strcat(command, i ? " " : ""), argv[i]);
    if (!copy_out(argc, argv, n_env))
        return;
    area = start;
    area_len = (size_t)(end - start);
}

const char *proctitle_command(void)
{
    return command ? command : "herd";
}

void proctitle_set(const char *text)
{
    if (area == NULL || area_len < 2)
        return;
    static const char prefix[] = "herd: ";
    size_t room = area_len - 1, n = 0;
    for (const char *p = prefix; *p && n < room; p++)
        area[n++] = *p;
    for (const char *p = text; *p && n < room; p++)
        area[n++] = *p;
    /* Zeros after the title: ps shows the area up to the first one. */
    memset(area + n, 0, area_len - n);
}
