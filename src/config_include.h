/* Checking the files libconfig will open, before it opens them.
 *
 * libconfig 1.5's scanner opens the main file and every @include itself and
 * is fragile about it: a directory makes flex call exit(2) ("input in flex
 * scanner failed") and a FIFO blocks the process forever, and there is no
 * hook to intervene. So herd reads the main file itself, opened without
 * blocking, and walks its @include lines (found with libconfig's own rules,
 * config_lex.h) through every level of inclusion, checking that each names
 * a regular file it can read. Configuration parsing then never kills or
 * blocks the master. */
#ifndef HERD_CONFIG_INCLUDE_H
#define HERD_CONFIG_INCLUDE_H

#include <stddef.h>

/* libconfig 1.5 refuses to nest includes deeper than this. */
#define CONFIG_INCLUDE_MAX_DEPTH 10

/* Read a whole file that must be a regular file, without ever blocking on
 * it (O_NONBLOCK, then fstat). *text is malloc'ed and NUL-terminated.
 * Returns 0, or -1 with the reason in why ("Is a directory", "not a regular
 * file", or the errno text). */
int config_include_read(const char *path, char **text, size_t *len, char *why, size_t whycap);

/* Check every @include of text (the file shown as `file`) and, recursively,
 * of the files they include. Names resolve as libconfig resolves them:
 * include_dir "/" name, or name alone when include_dir is NULL. Returns 0,
 * or -1 with "INCLUDING_FILE:LINE: @include \"name\": reason" in err. */
int config_include_check(const char *file, const char *text, size_t len,
                         const char *include_dir, char *err, size_t errcap);

/* The path libconfig opens for an @include name (and herd names in
 * messages): include_dir "/" name, or name. Malloc'ed; NULL if out of memory. */
char *config_include_path(const char *include_dir, const char *name);

#endif
