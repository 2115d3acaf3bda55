/* test-cron.c - unit tests for lib/cron.c: parsing, errors, and next firing times in UTC and
 * local time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/cron.h"
#include "lib/wf.h"

/* "YYYY-MM-DD HH:MM[:SS]" read as UTC. */
static time_t utc(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = sscanf(s, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &tm.tm_sec);
    assert_true(n >= 5);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

static wf_cron parse_ok(const char *s)
{
    wf_cron c;
    wf_cron_error err;
    if (wf_cron_parse(&c, s, strlen(s), &err) != 0)
        fail_msg("'%s' should parse: %s", s, err.msg);
    return c;
}

typedef struct next_case {
    const char *cron;
    const char *after;
    const char *expect;
} next_case;

static void test_next_utc(void **state)
{
    (void)state;
    static const next_case cases[] = {
        /* Strictly after: a firing time given as `after` is not returned again. */
        {"0 3 * * *", "2024-01-01 03:00", "2024-01-02 03:00"},
        {"0 3 * * *", "2024-01-01 02:59:59", "2024-01-01 03:00"},
        {"0 3 * * *", "2024-01-01 03:00:01", "2024-01-02 03:00"},
        {"*/15 * * * *", "2024-05-05 10:07", "2024-05-05 10:15"},
        {"*/15 * * * *", "2024-05-05 10:45", "2024-05-05 11:00"},
        {"1-5/2 * * * *", "2024-05-05 10:01", "2024-05-05 10:03"},
        {"1-5/2 * * * *", "2024-05-05 10:05", "2024-05-05 11:01"},
        {"* * * * *", "2024-05-05 10:05:59", "2024-05-05 10:06"},
        /* Month and year boundaries. */
        {"0 0 1 * *", "2024-01-31 12:00", "2024-02-01 00:00"},
        {"0 0 31 * *", "2024-04-01 00:00", "2024-05-31 00:00"},
        {"59 23 31 12 *", "2023-12-31 23:59", "2024-12-31 23:59"},
        {"0 0 1 1 *", "2023-12-31 23:59:30", "2024-01-01 00:00"},
        {"30 12 * * *", "2023-12-31 23:00", "2024-01-01 12:30"},
        /* 29 February: leap years only, and 2100 is not one. */
        {"0 12 29 2 *", "2024-03-01 00:00", "2028-02-29 12:00"},
        {"0 12 29 2 *", "2024-02-28 23:00", "2024-02-29 12:00"},
        {"0 12 29 2 *", "2096-03-01 00:00", "2104-02-29 12:00"},
        {"0 0 28-31 2 *", "2023-02-28 00:00", "2024-02-28 00:00"},
        /* Vixie: restricted day-of-month OR restricted day-of-week. */
        {"0 0 13 * 5", "2024-09-01 00:00", "2024-09-06 00:00"},   /* a Friday */
        {"0 0 13 * 5", "2024-10-11 00:00", "2024-10-13 00:00"},   /* the 13th, a Sunday */
        {"0 0 30 2 mon", "2024-02-01 00:00", "2024-02-05 00:00"}, /* Feb 30 never, Mondays do */
        /* ...but a field starting with '*' makes it AND: odd days that are Mondays. */
        {"0 0 */2 * 1", "2024-01-01 00:00", "2024-01-15 00:00"},
        {"0 0 */2 * 1", "2024-01-29 00:00", "2024-02-05 00:00"},
        /* 0 and 7 are Sunday; names work in lists and ranges. */
        {"0 0 * * 7", "2024-09-01 00:00", "2024-09-08 00:00"},
        {"0 0 * * 0", "2024-09-01 00:00", "2024-09-08 00:00"},
        {"0 0 * * 5-7", "2024-09-01 00:00", "2024-09-06 00:00"},
        {"0 9 * JAN,jul Mon-Fri", "2024-07-31 09:00", "2025-01-01 09:00"},
        {"0 9 * jan,jul sat", "2024-01-31 09:00", "2024-07-06 09:00"},
        {"@daily", "2024-05-05 10:07", "2024-05-06 00:00"},
        {"@hourly", "2024-05-05 10:07", "2024-05-05 11:00"},
        {"@weekly", "2024-09-01 00:00", "2024-09-08 00:00"},
        {"@monthly", "2024-12-15 00:00", "2025-01-01 00:00"},
        {"@yearly", "2024-12-15 00:00", "2025-01-01 00:00"},
        /* Before the epoch: the next whole minute is found by floor division. */
        {"0 0 1 1 *", "1969-12-31 23:59:59", "1970-01-01 00:00"},
        {"* * * * *", "1969-12-31 23:58:30", "1969-12-31 23:59"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        wf_cron c = parse_ok(cases[i].cron);
        time_t got = 0;
        int r = wf_cron_next(&c, utc(cases[i].after), 1, &got);
        struct tm tm;
        char buf[32] = "?";
        gmtime_r(&got, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
        if (r != 0 || got != utc(cases[i].expect))
            fail_msg("'%s' after %s: expected %s, got %s (%d)", cases[i].cron, cases[i].after,
                     cases[i].expect, buf, r);
    }
}

/* Chaining next() walks every firing in order: "0 8-10 * * mon" gives 3 per week. */
static void test_next_chain(void **state)
{
    (void)state;
    wf_cron c = parse_ok("0 8-10 * * mon");
    time_t t = utc("2024-09-01 00:00");
    int count = 0;
    while (t < utc("2024-10-01 00:00")) {
        assert_int_equal(wf_cron_next(&c, t, 1, &t), 0);
        struct tm tm;
        gmtime_r(&t, &tm);
        if (t < utc("2024-10-01 00:00")) {
            assert_int_equal(tm.tm_wday, 1);
            assert_true(tm.tm_hour >= 8 && tm.tm_hour <= 10);
            assert_int_equal(tm.tm_min, 0);
            count++;
        }
    }
    assert_int_equal(count, 5 * 3); /* five Mondays in September 2024 */
}

static void test_bitsets(void **state)
{
    (void)state;
    wf_cron c = parse_ok("  0,30\t*/6 1,15 */3 mon-fri  ");
    assert_true(c.minutes == ((1ull << 0) | (1ull << 30)));
    assert_int_equal(c.hours, (1u << 0) | (1u << 6) | (1u << 12) | (1u << 18));
    assert_int_equal(c.mdays, (1u << 1) | (1u << 15));
    assert_int_equal(c.months, (1u << 1) | (1u << 4) | (1u << 7) | (1u << 10));
    assert_int_equal(c.wdays, 0x3e);
    assert_int_equal(c.mday_star, 0);
    assert_int_equal(c.wday_star, 0);
    c = parse_ok("* * * * *");
    assert_true(c.minutes == (1ull << 60) - 1);
    assert_int_equal(c.hours, (1u << 24) - 1);
    assert_int_equal(c.mdays, 0xfffffffeu);
    assert_int_equal(c.months, 0x1ffe);
    assert_int_equal(c.wdays, 0x7f);
    assert_int_equal(c.mday_star, 1);
    assert_int_equal(c.wday_star, 1);
    c = parse_ok("0 0 * * 0-7/7");
    assert_int_equal(c.wdays, 1);
}

typedef struct bad_case {
    const char *cron;
    size_t column;
    const char *field;
    const char *says;
} bad_case;

static void test_errors(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"0 24 * * *", 3, "hour", "24 is out of range 0-23"},
        {"60 * * * *", 1, "minute", "60 is out of range 0-59"},
        {"0 0 0 * *", 5, "day-of-month", "0 is out of range 1-31"},
        {"0 0 * * 8", 9, "day-of-week", "8 is out of range 0-7"},
        {"0 0 * 13 *", 7, "month", "13 is out of range 1-12"},
        {"0 0 * foo *", 7, "month", "a name like 'jan'"},
        {"0 0 * * monday", 12, "day-of-week", "unexpected character"},
        {"* * * *", 8, NULL, "expected 5 fields"},
        {"", 1, NULL, "got 0"},
        {"* * * * * *", 11, NULL, "more than 5 fields"},
        {"5/10 * * * *", 2, "minute", "a step needs '*' or a range"},
        {"*/0 * * * *", 3, "minute", "a step of 1 or more"},
        {"*/ * * * *", 3, "minute", "a step of 1 or more"},
        {"10-5 * * * *", 4, "minute", "runs backwards"},
        {"1,,2 * * * *", 3, "minute", "expected '*' or a number 0-59"},
        {"0 9999999 * * *", 3, "hour", "too large"},
        {"0 0 30 2 *", 1, NULL, "never fires"},
        {"0 0 31 4,6,9,11 *", 1, NULL, "never fires"},
        {"@reboot", 1, NULL, "unknown schedule"},
        {"  @daily x", 3, NULL, "unknown schedule"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        wf_cron c;
        memset(&c, 0xab, sizeof(c));
        wf_cron_error err;
        memset(&err, 0, sizeof(err));
        int r = wf_cron_parse(&c, cases[i].cron, strlen(cases[i].cron), &err);
        if (r != WF_EINVAL)
            fail_msg("'%s' should be invalid, got %d", cases[i].cron, r);
        assert_int_equal(c.hours, 0xabababab); /* untouched */
        int field_ok = cases[i].field == NULL
                           ? err.field == NULL
                           : err.field != NULL && strcmp(err.field, cases[i].field) == 0;
        if (err.column != cases[i].column || !field_ok || strstr(err.msg, cases[i].says) == NULL)
            fail_msg("'%s': expected column %zu (%s) saying \"%s\", got column %zu (%s): %s",
                     cases[i].cron, cases[i].column, cases[i].field ? cases[i].field : "-",
                     cases[i].says, err.column, err.field ? err.field : "-", err.msg);
    }
    /* The message names column and field in front. */
    wf_cron c;
    wf_cron_error err;
    assert_int_equal(wf_cron_parse(&c, "0 24 * * *", 10, &err), WF_EINVAL);
    assert_string_equal(err.msg, "column 3 (hour): 24 is out of range 0-23");
    assert_int_equal(wf_cron_parse(&c, "0 24 * * *", 10, NULL), WF_EINVAL);
    /* Only [s, s+len) is read. */
    assert_int_equal(wf_cron_parse(&c, "0 3 * * *7", 9, NULL), 0);
    char long_text[WF_CRON_MAX_LEN + 2];
    memset(long_text, ' ', sizeof(long_text));
    memcpy(long_text, "* * * * *", 9);
    assert_int_equal(wf_cron_parse(&c, long_text, sizeof(long_text), &err), WF_EINVAL);
    assert_non_null(strstr(err.msg, "limit"));
}

/* Local time across Berlin's 2024 DST changes (skipped when the zone is not installed). */
static void test_next_local(void **state)
{
    (void)state;
    if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0) {
        print_message("skipped: no tzdata for Europe/Berlin\n");
        return;
    }
    char *old = getenv("TZ") ? wf_strdup(getenv("TZ")) : NULL;
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    wf_cron c = parse_ok("30 2 * * *");
    time_t t;
    /* 31 March: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day. */
    assert_int_equal(wf_cron_next(&c, utc("2024-03-30 02:00"), 0, &t), 0); /* 03:00 CET */
    assert_true(t == utc("2024-04-01 00:30"));                             /* 02:30 CEST */
    /* 27 October: 02:30 happens twice; it fires once, at the first (CEST) one. */
    assert_int_equal(wf_cron_next(&c, utc("2024-10-26 02:00"), 0, &t), 0);
    assert_true(t == utc("2024-10-27 00:30"));
    assert_int_equal(wf_cron_next(&c, t, 0, &t), 0);
    assert_true(t == utc("2024-10-28 01:30")); /* 02:30 CET */
    /* UTC mode ignores TZ. */
    assert_int_equal(wf_cron_next(&c, utc("2024-03-30 02:00"), 1, &t), 0);
    assert_true(t == utc("2024-03-30 02:30"));
    if (old != NULL)
        setenv("TZ", old, 1);
    else
        unsetenv("TZ");
    tzset();
    free(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_utc),   cmocka_unit_test(test_next_chain),
        cmocka_unit_test(test_bitsets),    cmocka_unit_test(test_errors),
        cmocka_unit_test(test_next_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
