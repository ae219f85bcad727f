#include "http/date.h"

#include <string.h>

static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static void two_digits(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

void http_date_format(time_t t, char *out)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    /* "Sun, 06 Nov 1994 08:49:37 GMT", written by hand: fixed width. */
    memcpy(out, days[tm.tm_wday], 3);
    memcpy(out + 3, ", ", 2);
    two_digits(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, months[tm.tm_mon], 3);
    out[11] = ' ';
    int year = tm.tm_year + 1900;
    two_digits(out + 12, year / 100);
    two_digits(out + 14, year % 100);
    out[16] = ' ';
    two_digits(out + 17, tm.tm_hour);
    out[19] = ':';
    two_digits(out + 20, tm.tm_min);
    out[22] = ':';
    two_digits(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 4);
    out[HTTP_DATE_LEN] = '\0';
}

/* One cache per process; each worker is single-threaded. */
const char *http_date(time_t now)
{
    /* The cache starts out holding a real date, that of its key: an empty
     * one would be handed out for a first call with -1 (a failed time()). */
    static time_t cached_at = -1;
    static char cached[HTTP_DATE_LEN + 1] = "Wed, 31 Dec 1969 23:59:59 GMT";
    if (now != cached_at) {
        http_date_format(now, cached);
        cached_at = now;
    }
    return cached;
}
