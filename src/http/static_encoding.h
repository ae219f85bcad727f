/* Content negotiation of a static file's encoding (RFC 9110 section
 * 12.5.3): the q-values an Accept-Encoding field gives the codings herd
 * can serve (identity, gzip, br), and the choice among the codings a file
 * is available in. Pure: no I/O. */
#ifndef HERD_HTTP_STATIC_ENCODING_H
#define HERD_HTTP_STATIC_ENCODING_H

#include <stdbool.h>
#include <stddef.h>

enum static_coding { STATIC_CODING_IDENTITY, STATIC_CODING_GZIP, STATIC_CODING_BR,
                     STATIC_CODINGS };

/* What one Accept-Encoding field says, as q-values times 1000. */
struct static_accept {
    short named[STATIC_CODINGS];    /* -1: the coding is not named */
    short star;                     /* -1: no "*" */
    bool present;                   /* the request has the field */
};

/* Read the field value v[0..len) (v NULL: the request has no such field).
 * Coding names are case-insensitive, "x-gzip" is gzip; an element whose
 * q is not a valid qvalue is ignored, as are codings herd does not know. */
void static_accept_parse(struct static_accept *a, const char *v, size_t len);
/* Add one more Accept-Encoding field line v[0..len) to a (a list split over
 * several lines means the same as one line joined with commas). */
void static_accept_add(struct static_accept *a, const char *v, size_t len);

/* The q-value (0..1000) the field gives coding c: its own entry, else
 * "*"'s, else 0 for a content coding and 1000 for identity (acceptable
 * unless "identity;q=0" or "*;q=0" says otherwise). Without the field only
 * identity is chosen (1000; the codings 0), as every server does. */
int static_accept_q(const struct static_accept *a, enum static_coding c);

/* The best of the codings offered (in the server's order of preference,
 * identity not among them): the highest q above 0; among equal q the
 * earlier one; a coding with the same q as identity beats it, and so does
 * any coding when the field does not rate identity (neither "identity"
 * nor "*" in it). Returns its
 * index, or -1 for identity (also when nothing is acceptable: the file is
 * then sent as it is rather than answered 406). */
int static_accept_choose(const struct static_accept *a, const enum static_coding *offered,
                         size_t n);

/* "gzip", "br"; NULL for identity. */
const char *static_coding_name(enum static_coding c);

#endif
