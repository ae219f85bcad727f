/* File name extension → media type: /etc/mime.types when it exists, a
 * built-in table for the common types otherwise (and for what it lacks). */
#ifndef HERD_HTTP_MIME_H
#define HERD_HTTP_MIME_H

struct mime_table;

/* Load path (NULL: /etc/mime.types). Never NULL except out of memory. */
struct mime_table *mime_load(const char *path);
void mime_free(struct mime_table *t);

/* The type for a file name (by its last extension, case-insensitive);
 * "application/octet-stream" when unknown. */
const char *mime_type(const struct mime_table *t, const char *name);

#endif
