/* cron.c - five-field cron schedules: parsing into bitsets and finding the next firing time. */
#include "cron.h"
#include "wf.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* Search horizon of wf_cron_next(): enough for the rarest schedule that can fire at all (a
 * 29th of February on a given weekday recurs within 40 years). */
#define HORIZON_YEARS 50

typedef struct field_spec {
    const char *name;
    int min, max;             /* accepted values; day-of-week accepts 7 for Sunday */
    const char *const *names; /* 3-letter names for min, min+1, ...; or NULL */
} field_spec;

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const field_spec fields[5] = {
    {"minute", 0, 59, NULL},           {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},     {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, wday_names},
};

static const struct {
    const char *name;
    const char *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* A field's text and where it starts (1-based column) for messages. */
typedef struct cursor {
    const char *s;
    size_t len, pos, col;
    const field_spec *f;
    wf_cron_error *err;
} cursor;

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int fail(wf_cron_error *err, size_t column, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Fills *err (when given) with "column N (field): <message>"; returns WF_EINVAL. */
static int fail(wf_cron_error *err, size_t column, const char *field, const char *fmt, ...)
{
    if (err == NULL)
        return WF_EINVAL;
    err->column = column;
    err->field = field;
    int n = field ? snprintf(err->msg, sizeof(err->msg), "column %zu (%s): ", column, field)
                  : snprintf(err->msg, sizeof(err->msg), "column %zu: ", column);
    if (n < 0 || (size_t)n >= sizeof(err->msg))
        return WF_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return WF_EINVAL;
}

static int cur_fail(cursor *c, const char *what)
{
    return fail(c->err, c->col + c->pos, c->f->name, "%s", what);
}

static char peek(const cursor *c)
{
    return c->pos < c->len ? c->s[c->pos] : '\0';
}

/* A number or, where the field has names, a 3-letter name. */
static int read_value(cursor *c, int *out)
{
    size_t start = c->pos;
    char ch = peek(c);
    if (ch >= '0' && ch <= '9') {
        int v = 0;
        while ((ch = peek(c)) >= '0' && ch <= '9') {
            if (v > 1000)
                return fail(c->err, c->col + start, c->f->name, "number too large");
            v = v * 10 + (ch - '0');
            c->pos++;
        }
        if (v < c->f->min || v > c->f->max)
            return fail(c->err, c->col + start, c->f->name, "%d is out of range %d-%d", v,
                        c->f->min, c->f->max);
        *out = v;
        return 0;
    }
    if (c->f->names != NULL && c->len - c->pos >= 3) {
        for (int i = 0; c->f->names[i] != NULL; i++) {
            const char *n = c->f->names[i];
            if (to_lower(c->s[c->pos]) == n[0] && to_lower(c->s[c->pos + 1]) == n[1] &&
                to_lower(c->s[c->pos + 2]) == n[2]) {
                c->pos += 3;
                *out = c->f->min + i;
                return 0;
            }
        }
    }
    if (c->f->names != NULL)
        return fail(c->err, c->col + start, c->f->name,
                    "expected a number %d-%d or a name like '%s'", c->f->min, c->f->max,
                    c->f->names[0]);
    return fail(c->err, c->col + start, c->f->name, "expected '*' or a number %d-%d", c->f->min,
                c->f->max);
}

/* One list item: "*", "N", "N-M", with an optional "/S" after "*" or a range. */
static int parse_item(cursor *c, uint64_t *bits)
{
    int lo, hi, step = 1, r;
    int ranged = 1;
    if (peek(c) == '*') {
        c->pos++;
        lo = c->f->min;
        hi = c->f->max == 7 ? 6 : c->f->max;
    } else {
        if ((r = read_value(c, &lo)) != 0)
            return r;
        hi = lo;
        ranged = 0;
        if (peek(c) == '-') {
            c->pos++;
            size_t at = c->pos;
            if ((r = read_value(c, &hi)) != 0)
                return r;
            if (hi < lo)
                return fail(c->err, c->col + at, c->f->name,
                            "range %d-%d runs backwards (write the smaller value first)", lo, hi);
            ranged = 1;
        }
    }
    if (peek(c) == '/') {
        if (!ranged)
            return fail(c->err, c->col + c->pos, c->f->name,
                        "a step needs '*' or a range before it (write '%d-%d/...')", lo, c->f->max);
        c->pos++;
        size_t at = c->pos;
        step = 0;
        while (peek(c) >= '0' && peek(c) <= '9' && step <= 1000)
            step = step * 10 + (c->s[c->pos++] - '0');
        if (c->pos == at || step == 0 || step > 1000)
            return fail(c->err, c->col + at, c->f->name, "expected a step of 1 or more after '/'");
    }
    for (int v = lo; v <= hi; v += step)
        *bits |= (uint64_t)1 << (c->f->max == 7 && v == 7 ? 0 : v);
    return 0;
}

/* A whole field: items separated by commas, nothing else. */
static int parse_field(cursor *c, uint64_t *bits)
{
    int r;
    *bits = 0;
    for (;;) {
        if ((r = parse_item(c, bits)) != 0)
            return r;
        if (c->pos == c->len)
            return 0;
        if (peek(c) != ',')
            return cur_fail(c, "unexpected character (items are separated by ',')");
        c->pos++;
    }
}

/* Splits [s, s+len) into five fields and parses each. col is the column of s. */
static int parse_fields(wf_cron *out, const char *s, size_t len, size_t col, wf_cron_error *err)
{
    uint64_t bits[5];
    int stars[5] = {0};
    size_t pos = 0, n = 0;
    while (pos < len) {
        while (pos < len && is_space(s[pos]))
            pos++;
        if (pos == len)
            break;
        size_t start = pos;
        while (pos < len && !is_space(s[pos]))
            pos++;
        if (n == 5)
            return fail(err, col + start, NULL,
                        "more than 5 fields (minute hour day-of-month month day-of-week)");
        cursor c = {s + start, pos - start, 0, col + start, &fields[n], err};
        stars[n] = s[start] == '*';
        int r = parse_field(&c, &bits[n]);
        if (r != 0)
            return r;
        n++;
    }
    if (n < 5)
        return fail(err, col + len, NULL,
                    "expected 5 fields (minute hour day-of-month month day-of-week), got %zu", n);
    wf_cron c = {bits[0],          (uint32_t)bits[1], (uint32_t)bits[2], (uint16_t)bits[3],
                 (uint8_t)bits[4], (uint8_t)stars[2], (uint8_t)stars[4]};
    *out = c;
    return 0;
}

int wf_cron_parse(wf_cron *out, const char *s, size_t len, wf_cron_error *err)
{
    assert(out != NULL && (s != NULL || len == 0));
    size_t a = 0, b = len;
    while (a < b && is_space(s[a]))
        a++;
    while (b > a && is_space(s[b - 1]))
        b--;
    if (len > WF_CRON_MAX_LEN)
        return fail(err, 1, NULL, "schedule is %zu bytes long; the limit is %d", len,
                    WF_CRON_MAX_LEN);
    wf_cron c;
    int r;
    if (a < b && s[a] == '@') {
        size_t i;
        for (i = 0; i < WF_ARRAY_SIZE(macros); i++) {
            if (strlen(macros[i].name) == b - a && memcmp(macros[i].name, s + a, b - a) == 0)
                break;
        }
        if (i == WF_ARRAY_SIZE(macros))
            return fail(err, a + 1, NULL,
                        "unknown schedule '%.*s' (known: @yearly @monthly @weekly @daily "
                        "@hourly)",
                        (int)(b - a > 20 ? 20 : b - a), s + a);
        r = parse_fields(&c, macros[i].expansion, strlen(macros[i].expansion), 1, NULL);
        assert(r == 0);
    } else if ((r = parse_fields(&c, s + a, b - a, a + 1, err)) != 0) {
        return r;
    }
    /* A schedule that never fires is a mistake worth reporting now, not a silent no-op. */
    time_t t;
    if (wf_cron_next(&c, 0, 1, &t) != 0)
        return fail(err, a + 1, NULL,
                    "this schedule never fires: the selected days of the month do not occur in "
                    "the selected months");
    *out = c;
    return 0;
}

/* Whether the day in *tm is allowed (Vixie's rule for restricted day-of-month and -week). */
static int day_ok(const wf_cron *c, const struct tm *tm)
{
    int dom = (c->mdays >> tm->tm_mday) & 1;
    int dow = (c->wdays >> tm->tm_wday) & 1;
    if (c->mday_star || c->wday_star)
        return dom && dow;
    return dom || dow;
}

/* Finds the first wall-clock minute at or after *tm (fields read as UTC, normalized with
 * timegm) that matches; updates *tm. Returns 0, or WF_ENOTFOUND past the horizon. */
static int search(const wf_cron *c, struct tm *tm)
{
    int last_year = tm->tm_year + HORIZON_YEARS;
    for (;;) {
        time_t t = timegm(tm);
        gmtime_r(&t, tm);
        if (tm->tm_year > last_year)
            return WF_ENOTFOUND;
        if (!((c->months >> (tm->tm_mon + 1)) & 1)) {
            tm->tm_mon++;
            tm->tm_mday = 1;
            tm->tm_hour = 0;
            tm->tm_min = 0;
        } else if (!day_ok(c, tm)) {
            tm->tm_mday++;
            tm->tm_hour = 0;
            tm->tm_min = 0;
        } else if (!((c->hours >> tm->tm_hour) & 1)) {
            tm->tm_hour++;
            tm->tm_min = 0;
        } else if (!((c->minutes >> tm->tm_min) & 1)) {
            tm->tm_min++;
        } else {
            return 0;
        }
    }
}

static int same_minute(const struct tm *a, const struct tm *b)
{
    return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon && a->tm_mday == b->tm_mday &&
           a->tm_hour == b->tm_hour && a->tm_min == b->tm_min;
}

/* Local time: search wall-clock minutes, then map each hit back to an instant. Hits in a DST
 * gap do not exist and are skipped; in a repeated hour the first instant after `after` wins. */
static int next_local(const wf_cron *c, time_t after, time_t *out)
{
    struct tm wall;
    localtime_r(&after, &wall);
    struct tm start = {0};
    start.tm_year = wall.tm_year;
    start.tm_mon = wall.tm_mon;
    start.tm_mday = wall.tm_mday;
    start.tm_hour = wall.tm_hour;
    start.tm_min = wall.tm_min + 1;
    /* Bounded: a DST gap holds at most a few hours of candidate minutes. */
    for (int tries = 0; tries < 24 * 60; tries++) {
        int r = search(c, &start);
        if (r != 0)
            return r;
        /* Try the wall time as daylight and as standard time: in a repeated hour both exist
         * and the earlier one after `after` wins; outside of one, only one round-trips. */
        int found = 0;
        time_t best = 0;
        for (int isdst = -1; isdst <= 1; isdst++) {
            struct tm tm = start, back;
            tm.tm_isdst = isdst;
            time_t t = mktime(&tm);
            if (t == (time_t)-1 || t <= after || localtime_r(&t, &back) == NULL ||
                !same_minute(&back, &start))
                continue;
            if (!found || t < best)
                best = t;
            found = 1;
        }
        if (found) {
            *out = best;
            return 0;
        }
        start.tm_min++;
    }
    return WF_ENOTFOUND;
}

int wf_cron_next(const wf_cron *c, time_t after, int utc, time_t *out)
{
    assert(c != NULL && out != NULL);
    if (!utc)
        return next_local(c, after, out);
    /* The next whole minute strictly after `after` (floor division for times before 1970). */
    time_t m = after / 60 - (after % 60 < 0);
    time_t start_t = (m + 1) * 60;
    struct tm tm;
    if (gmtime_r(&start_t, &tm) == NULL)
        return WF_ENOTFOUND;
    int r = search(c, &tm);
    if (r != 0)
        return r;
    *out = timegm(&tm);
    return 0;
}
