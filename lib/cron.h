/* cron.h - five-field cron schedules ("0 3 * * *") and their next firing time.
 *
 * Syntax (Vixie cron): minute (0-59), hour (0-23), day of month (1-31), month (1-12 or
 * jan-dec), day of week (0-7 or sun-sat; 0 and 7 are Sunday), separated by spaces or tabs.
 * Each field is a comma-separated list of "*", "N" or "N-M", where "*" and "N-M" may take a
 * step "/S" ("1-5/2"; a star with "/15" means every 15th). Names are case-insensitive and
 * allowed wherever a number is. "@yearly" (= "@annually"), "@monthly",
 * "@weekly", "@daily" (= "@midnight") and "@hourly" stand for their usual expansions.
 *
 * Day matching follows Vixie cron: if the day-of-month or the day-of-week field starts with
 * "*" (even with a step), a day must match both fields; if both are restricted, either one
 * suffices ("0 0 13 * 5" fires on every 13th and on every Friday). A schedule that can never
 * fire ("0 0 30 2 *") is rejected when parsed.
 *
 * Pure: parsing reads only [s, s+len); wf_cron_next() reads the TZ database when asked for
 * local time. Thread-safe.
 */
#ifndef WF_CRON_H
#define WF_CRON_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define WF_CRON_MAX_LEN 256

/* A parsed schedule: one bit per allowed value. A small value type: copy it freely. */
typedef struct wf_cron {
    uint64_t minutes;  /* bit m for minute m, 0..59 */
    uint32_t hours;    /* bit h, 0..23 */
    uint32_t mdays;    /* bit d, 1..31 */
    uint16_t months;   /* bit m, 1..12 */
    uint8_t wdays;     /* bit w, 0..6, 0 = Sunday */
    uint8_t mday_star; /* the day-of-month field starts with '*' */
    uint8_t wday_star; /* the day-of-week field starts with '*' */
} wf_cron;

/* Why a schedule was rejected. column is 1-based in bytes from the start of the text; field is
 * a static name ("minute", "hour", "day-of-month", "month", "day-of-week") or NULL when the
 * problem is not in one field; msg is "column N (field): what is wrong". */
typedef struct wf_cron_error {
    size_t column;
    const char *field;
    char msg[160];
} wf_cron_error;

/* Parses [s, s+len) into *out. Returns 0, or WF_EINVAL and, if err is not NULL, fills *err
 * (*out untouched). Leading and trailing whitespace is ignored; texts longer than
 * WF_CRON_MAX_LEN are rejected. */
int wf_cron_parse(wf_cron *out, const char *s, size_t len, wf_cron_error *err);

/* The first minute strictly after `after` at which the schedule fires, in *out. With utc
 * nonzero the fields are read in UTC (what the daemon uses: no DST surprises). With utc == 0
 * they are read in local time (TZ): a wall-clock time skipped by a DST change does not fire
 * that day, and one that occurs twice fires once (at the first occurrence when the previous
 * firing is passed as `after`). Returns 0, or
 * WF_ENOTFOUND if nothing fires within 50 years (impossible for a schedule that parsed). */
int wf_cron_next(const wf_cron *c, time_t after, int utc, time_t *out);

#endif
