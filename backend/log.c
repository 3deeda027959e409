/*
 * privacy-backend: logging.
 */

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>


static const char  *pe_log_levels[] = {
    "emerg", "error", "warn", "notice", "info"
};


void
pe_log(pe_log_level_e level, const char *fmt, ...)
{
    char        line[2048], stamp[32];
    int         n;
    time_t      now;
    va_list     ap;
    struct tm   tm;

    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y/%m/%d %H:%M:%S", &tm);

    n = snprintf(line, sizeof(line), "%s [%s] %d: ", stamp,
                 pe_log_levels[level], (int) getpid());

    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);

    if (n > (int) sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }

    line[n++] = '\n';

    /* one write, so lines of concurrent threads do not interleave */
    (void) !write(STDERR_FILENO, line, n);
}
