/* Request-target -> decoded, normalised absolute path, the only form of a
 * path that may reach the file system. */
#ifndef HERD_HTTP_PATH_H
#define HERD_HTTP_PATH_H

#include <stddef.h>

/* Turn an origin-form target ("/a/b%20c?x=1") or an absolute-form target
 * ("http://host/a?x", scheme http or https, any case; path defaults to "/")
 * into a decoded, normalised absolute path in out (capacity out_cap,
 * NUL-terminated, length in *out_len).
 *
 * Query and fragment are dropped; %XX is decoded (hex in either case); "%00",
 * a literal NUL or a bad escape ("%4", "%zz") is an error. After decoding, "." segments are
 * removed, ".." pops the previous segment (going above "/" is an error),
 * repeated slashes collapse, and a trailing slash is kept (also the one left
 * by a final "." or ".."). A decoded "%2F" is a separator like "/" and is
 * reported through *had_encoded_slash; a backslash (literal or "%5C") is kept
 * as a byte and reported through *had_backslash (either pointer may be NULL).
 * "*" and any other form are errors; the caller handles "OPTIONS *".
 *
 * Returns 0, -1 on error (answer 400), or -2 if out_cap is too small (414);
 * len + 1 bytes are always enough. */
int http_path_normalize(const char *target, size_t len, char *out, size_t out_cap,
                        size_t *out_len, int *had_encoded_slash, int *had_backslash);

/* The authority of an absolute-form target ("http://b.test:8080/x": scheme
 * http or https, any case): returns 1 and sets [*auth, *auth + *auth_len) to
 * what lies between "//" and the first "/", "?" or "#" (possibly empty);
 * returns 0 for any other form. */
int http_target_authority(const char *target, size_t len, const char **auth, size_t *auth_len);

#endif
