/* duration.c - parses and prints "2d", "12h", "1h30m" style durations. */
#include "duration.h"

#include <stdio.h>

#include "wf.h"

static const struct {
    char unit;
    int64_t secs;
} units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

int wf_duration_parse(const char *s, size_t len, int64_t *out)
{
    size_t i = 0, next_unit = 0;
    int64_t total = 0;
    while (len > 0 && is_space(s[len - 1]))
        len--;
    while (i < len && is_space(s[i]))
        i++;
    if (i == len)
        return WF_EINVAL;
    while (i < len) {
        int64_t n = 0;
        size_t start = i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            n = n * 10 + (s[i] - '0');
            if (n > WF_DURATION_MAX_S)
                return WF_ELIMIT;
        }
        if (i == start)
            return WF_EINVAL;
        if (i == len && next_unit == 0) { /* digits alone: seconds */
            total = n;
            break;
        }
        if (i == len)
            return WF_EINVAL; /* "1d12": a later group needs its unit */
        size_t u = next_unit;
        while (u < WF_ARRAY_SIZE(units) && units[u].unit != s[i])
            u++;
        if (u == WF_ARRAY_SIZE(units))
            return WF_EINVAL; /* unknown unit, or one repeated or out of order */
        if (n > WF_DURATION_MAX_S / units[u].secs)
            return WF_ELIMIT;
        total += n * units[u].secs;
        if (total > WF_DURATION_MAX_S)
            return WF_ELIMIT;
        next_unit = u + 1;
        i++;
    }
    *out = total;
    return 0;
}

const char *wf_duration_format(char *buf, size_t n, int64_t secs)
{
    size_t used = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    if (secs <= 0) {
        snprintf(buf, n, "0s");
        return buf;
    }
    for (size_t u = 0; u < WF_ARRAY_SIZE(units) && used < n; u++) {
        int64_t q = secs / units[u].secs;
        if (q == 0)
            continue;
        int w = snprintf(buf + used, n - used, "%lld%c", (long long)q, units[u].unit);
        if (w < 0)
            break;
        used += (size_t)w;
        secs -= q * units[u].secs;
    }
    return buf;
}
