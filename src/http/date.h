/* The HTTP Date header value, formatted at most once per second. */
#ifndef HERD_HTTP_DATE_H
#define HERD_HTTP_DATE_H

#include <time.h>

#define HTTP_DATE_LEN 29    /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* The IMF-fixdate for `now`; the pointer stays valid until the next call. */
const char *http_date(time_t now);
/* Format any time (Last-Modified); out holds HTTP_DATE_LEN + 1 bytes. */
void http_date_format(time_t t, char *out);

#endif
