/* log.c - leveled log lines on stderr with a UTC timestamp (milliseconds). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

wf_log_level wf_log_threshold = WF_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void wf_log_set_level(wf_log_level level)
{
    wf_log_threshold = level;
}

int wf_log_parse_level(const char *name, wf_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (wf_log_level)i;
            return 0;
        }
    }
    return -1;
}

void wf_log_write(wf_log_level level, const char *fmt, ...)
{
    /* Milliseconds, so that lines can be put against other clocks (bench/scheduling.sh takes
     * the time a build's docker client started from here). */
    char stamp[48];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000L);

    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* One fprintf per line so concurrent writers do not interleave within a line. */
    fprintf(stderr, "%s %s %s\n", stamp, level_names[level], line);
}
