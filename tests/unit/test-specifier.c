/* test-specifier.c - unit tests for lib/specifier.c: the specification's examples, a table
 * cross-checked with the `packaging` library, picking the newest match, and error positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/specifier.h"
#include "lib/wf.h"

static wf_specifier *parse_ok(const char *s)
{
    wf_specifier *set = NULL;
    wf_specifier_error err;
    int r = wf_specifier_parse(&set, s, strlen(s), &err);
    if (r != 0)
        fail_msg("'%s' should parse, got %d: %s", s, r, err.msg);
    return set;
}

static int contains(const char *spec, const char *version, int prereleases)
{
    wf_specifier *set = parse_ok(spec);
    int r = wf_specifier_contains(set, version, strlen(version), prereleases);
    wf_specifier_free(set);
    return r;
}

typedef struct match_case {
    const char *spec;
    const char *version;
    int prereleases;
    int expect;
} match_case;

static void check_matches(const match_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int got = contains(cases[i].spec, cases[i].version, cases[i].prereleases);
        if (got != cases[i].expect)
            fail_msg("'%s' contains '%s' (prereleases %d): expected %d, got %d", cases[i].spec,
                     cases[i].version, cases[i].prereleases, cases[i].expect, got);
    }
}

/* Versions used to compare clause groups the specification calls equivalent. */
static const char *const grid[] = {
    "1.3",   "1.4",       "1.4.4",     "1.4.5a3",   "1.4.5a4", "1.4.5",     "1.4.5.0",
    "1.4.6", "1.4.99",    "1.5.dev0",  "1.5",       "2.1",     "2.2.dev0",  "2.2",
    "2.2.0", "2.2.post2", "2.2.post3", "2.2.post4", "2.2.1",   "2.3rc1",    "2.9.9",
    "3.0",   "3.1a1",     "3.1",       "3.1.0",     "3.1.2",   "3.1.3",     "3.1.9",
    "3.2.0", "4.0",       "1!2.2",     "2.2+local", "1.4.5.1", "1.4.5.0.1", "2.2a1",
};

/* "~=V.N" equals ">=V.N, ==V.*" on every grid version, with and without pre-releases. */
static void test_compatible_release_spec_examples(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"~= 2.2", ">= 2.2, == 2.*"},
        {"~= 1.4.5", ">= 1.4.5, == 1.4.*"},
        {"~= 2.2.post3", ">= 2.2.post3, == 2.*"},
        {"~= 1.4.5a4", ">= 1.4.5a4, == 1.4.*"},
        {"~= 2.2.0", ">= 2.2.0, == 2.2.*"},
        {"~= 1.4.5.0", ">= 1.4.5.0, == 1.4.5.*"},
        {"~=3.1.0", "==3.1.*"}, /* from "Examples"; differs on 3.1.0's own pre-releases */
    };
    for (size_t p = 0; p < WF_ARRAY_SIZE(pairs); p++) {
        int last_pre = p + 1 < WF_ARRAY_SIZE(pairs) ? 1 : 0;
        for (size_t v = 0; v < WF_ARRAY_SIZE(grid); v++) {
            for (int pre = 0; pre <= last_pre; pre++) {
                int a = contains(pairs[p][0], grid[v], pre);
                int b = contains(pairs[p][1], grid[v], pre);
                if (a != b)
                    fail_msg("'%s' and '%s' disagree on '%s': %d vs %d", pairs[p][0], pairs[p][1],
                             grid[v], a, b);
            }
        }
    }
    /* And the equivalences are not vacuous. */
    assert_int_equal(contains("~= 2.2", "2.9.9", 0), 1);
    assert_int_equal(contains("~= 2.2", "3.0", 0), 0);
    assert_int_equal(contains("~= 1.4.5", "1.4.99", 0), 1);
    assert_int_equal(contains("~= 1.4.5", "1.5", 0), 0);
    assert_int_equal(contains("~= 1.4.5.0", "1.4.5.1", 0), 1);
    assert_int_equal(contains("~= 1.4.5.0", "1.4.6", 0), 0);
}

/* The specification's "Examples" section. */
static void test_spec_examples_section(void **state)
{
    (void)state;
    static const match_case cases[] = {
        {"~=3.1", "3.1", -1, 1},
        {"~=3.1", "3.9", -1, 1},
        {"~=3.1", "4.0", -1, 0},
        {"~=3.1", "3.0", -1, 0},
        {"~=3.1.2", "3.1.2", -1, 1},
        {"~=3.1.2", "3.1.9", -1, 1},
        {"~=3.1.2", "3.2.0", -1, 0},
        {"~=3.1a1", "3.1a1", -1, 1},
        {"~=3.1a1", "3.9", -1, 1},
        {"~=3.1a1", "4.0", -1, 0},
        {"~=3.1a1", "3.1", -1, 1},
        {"== 3.1", "3.1", -1, 1},
        {"== 3.1", "3.1.0", -1, 1},
        {"== 3.1", "3.1a1", 1, 0},
        {"== 3.1", "3.1.post1", -1, 0},
        {"== 3.1", "3.1.dev1", 1, 0},
        {"== 3.1", "3.1.1", -1, 0},
        {"== 3.1.*", "3.1.5", -1, 1},
        {"== 3.1.*", "3.2", -1, 0},
        {"~=3.1.0, != 3.1.3", "3.1.3", -1, 0},
        {"~=3.1.0, != 3.1.3", "3.1.4", -1, 1},
        {"~=3.1.0, != 3.1.3", "3.2.0", -1, 0},
    };
    check_matches(cases, WF_ARRAY_SIZE(cases));
}

/* "Version matching" and "Version exclusion": the three example candidates. */
static void test_version_matching_spec_examples(void **state)
{
    (void)state;
    static const match_case cases[] = {
        /* Given 1.1.post1. */
        {"== 1.1", "1.1.post1", -1, 0},
        {"== 1.1.post1", "1.1.post1", -1, 1},
        {"== 1.1.*", "1.1.post1", -1, 1},
        {"!= 1.1", "1.1.post1", -1, 1},
        {"!= 1.1.post1", "1.1.post1", -1, 0},
        {"!= 1.1.*", "1.1.post1", -1, 0},
        /* Given 1.1a1: the prefix matches only if pre-releases are requested. */
        {"== 1.1", "1.1a1", 1, 0},
        {"== 1.1a1", "1.1a1", -1, 1},
        {"== 1.1.*", "1.1a1", 1, 1},
        {"== 1.1.*", "1.1a1", -1, 0},
        /* Given 1.1. */
        {"== 1.1", "1.1", -1, 1},
        {"== 1.1.0", "1.1", -1, 1},
        {"== 1.1.dev1", "1.1", -1, 0},
        {"== 1.1a1", "1.1", -1, 0},
        {"== 1.1.post1", "1.1", -1, 0},
        {"== 1.1.*", "1.1", -1, 1},
        /* Padding works both ways; the prefix needs all its own numbers. */
        {"==1.1.0.*", "1.1", -1, 1},
        {"==1.1.*", "1.10", -1, 0},
        {"==1.*", "1", -1, 1},
        {"==1.*", "0!1.5", -1, 1},
        {"==1.*", "1!1.5", -1, 0},
        /* Local labels: ignored unless the specifier has one, then compared normalized. */
        {"==1.0", "1.0+ubuntu.1", -1, 1},
        {"==1.0.*", "1.0.3+ubuntu.1", -1, 1},
        {"==1.0+ubuntu.1", "1.0+ubuntu.1", -1, 1},
        {"==1.0+ubuntu.1", "1.0+Ubuntu-1", -1, 1},
        {"==1.0+ubuntu.1", "1.0+ubuntu.2", -1, 0},
        {"==1.0+ubuntu.1", "1.0", -1, 0},
        {"==1.0+ubuntu.1", "1.0.0+ubuntu.1", -1, 1},
        {"!=1.0+ubuntu.1", "1.0+ubuntu.2", -1, 1},
        {"!=1.0", "1.0+ubuntu.2", -1, 0},
    };
    check_matches(cases, WF_ARRAY_SIZE(cases));
}

/* "Exclusive ordered comparison", "Inclusive ordered comparison", "Arbitrary equality". */
static void test_ordered_and_arbitrary_spec_examples(void **state)
{
    (void)state;
    static const match_case cases[] = {
        {">1.7", "1.7.1", -1, 1},
        {">1.7", "1.7.0.post1", -1, 0},
        {">1.7", "1.7.post1", -1, 0},
        {">1.7", "1.7", -1, 0},
        {">1.7.post2", "1.7.1", -1, 1},
        {">1.7.post2", "1.7.0.post3", -1, 1},
        {">1.7.post2", "1.7.0", -1, 0},
        {">1.7.post2", "1.7.post2+local", -1, 0},
        {">1.7", "1.7+local", -1, 0},    /* not a local version of V */
        {">1.7", "1.7.1+local", -1, 1},  /* but one of a later version is fine */
        {">1.7a1", "1.7a1.post1", 1, 0}, /* post release of the pre-release V */
        {">1.7a1", "1.7a2", -1, 1},      /* V names a pre-release: pre-releases admitted */
        {">1.7a1", "1.7.post1", -1, 1},
        {"<1.7", "1.7.0.dev0", 1, 0}, /* pre-releases of V, even when asked for */
        {"<1.7", "1.7rc1", 1, 0},
        {"<1.7", "1.6.9", -1, 1},
        {"<1.7", "1.6.9rc1", 1, 1},  /* an earlier version's pre-release is fine... */
        {"<1.7", "1.6.9rc1", -1, 0}, /* ...if pre-releases are allowed */
        {"<1.7rc1", "1.7b2", -1, 1}, /* "<V.rc1 or similar" */
        {"<1.7rc1", "1.7rc1", -1, 0},
        {"<1.7", "1.7+local", -1, 0},
        {"<=1.7", "1.7+local", -1, 1}, /* inclusive: local labels ignored */
        {"<=1.7", "1.7.post1", -1, 0},
        {">=1.7", "1.7.0+local", -1, 1},
        {">=1.7", "1.7rc1", 1, 0},
        {"===foobar", "foobar", -1, 1},
        {"===foobar", "FooBar", -1, 1},
        {"===foobar", "foobar2", -1, 0},
        {"===1.0", "1.0+downstream1", -1, 0},
        {"===1.0", "1.0", -1, 1},
        {"===1.0", "1.0.0", -1, 0}, /* no zero padding either */
        {">=1.0", "foobar", 1, 0},  /* not a version: only === can match it */
        {"", "2.0", -1, 1},         /* the empty set matches everything... */
        {"", "2.0rc1", -1, 0},      /* ...but pre-releases only when asked for */
        {"", "2.0rc1", 1, 1},
    };
    check_matches(cases, WF_ARRAY_SIZE(cases));
}

/* "Handling of pre-releases": excluded by default unless a clause names one. */
static void test_prerelease_policy(void **state)
{
    (void)state;
    static const match_case cases[] = {
        {">=1.0", "2.0rc1", -1, 0},
        {">=1.0", "2.0rc1", 1, 1},
        {">=1.0", "2.0.dev3", -1, 0},
        {">=2.0rc1", "2.1a1", -1, 1},
        {">=2.0rc1", "2.1a1", 0, 0},
        {">=1.0,<2.0b1", "1.9a1", -1, 1},
        {"!=2.0rc1", "2.0rc2", -1, 0},
        {"==1.0.*", "1.0.1a1", -1, 0},
        {"===2.0rc1", "2.0rc1", -1, 1},
        {">=1.0", "1.5.post1", -1, 1}, /* post releases are not pre-releases */
    };
    check_matches(cases, WF_ARRAY_SIZE(cases));
    wf_specifier *set = parse_ok(">=1.0, !=1.5a1, ==1.*");
    assert_int_equal(wf_specifier_prereleases(set), 0);
    wf_specifier_free(set);
    set = parse_ok(">=1.0, <2.0.dev1");
    assert_int_equal(wf_specifier_prereleases(set), 1);
    wf_specifier_free(set);
}

/* The candidate versions every row of the table below is checked against. */
static const char *const table_versions[] = {
    "0.9",         "1.0.dev0",  "1.0a1",          "1.0rc1", "1.0",       "1.0.0",
    "1.0+local.7", "1.0.post1", "1.0.post1.dev0", "1.0.1",  "1.0.1a1",   "1.1",
    "1.1.post1",   "1.4.5",     "2.0rc1",         "2.0",    "2.2.post3", "1!0.5",
};

/* One row per specifier, one character per table_versions entry: 'y' matches by default,
 * 'p' matches only when pre-releases are allowed, '.' never. Generated with packaging 26.3's
 * SpecifierSet (contains(v, prereleases=True), and the set's own prereleases for 'y'), then
 * reviewed by hand; a 200000-case random cross-check agreed with it during development. */
static const struct {
    const char *spec;
    const char *row;
} table[] = {
    {"~=1.0", "....yyyypypyyy...."},
    {"~=1.0.0", "....yyyypyp......."},
    {"~=1.0a1", "..yyyyyyyyyyyy...."},
    {"~=1.0.post1", ".......y.ypyyy...."},
    {"==1.0", "....yyy..........."},
    {"==1.0.0", "....yyy..........."},
    {"==1.0+local.7", "......y..........."},
    {"==1.0+LOCAL-7", "......y..........."},
    {"==1.0.*", ".pppyyyypyp......."},
    {"==1.*", ".pppyyyypypyyy...."},
    {"==1.0.0.*", ".pppyyyyp........."},
    {"!=1.0", "yppp...ypypyyypyyy"},
    {"!=1.0.*", "y..........yyypyyy"},
    {"<=1.0", "ypppyyy..........."},
    {">=1.0", "....yyyypypyyypyyy"},
    {">=1.0.dev0", ".yyyyyyyyyyyyyyyyy"},
    {"<1.0", "y................."},
    {"<1.0rc1", "yyy..............."},
    {"<1.0.post1", "ypppyyy..........."},
    {">1.0", ".........ypyyypyyy"},
    {">1.0.post1", ".........ypyyypyyy"},
    {">1.0a1", "...yyyyyyyyyyyyyyy"},
    {">1.0.dev0", "..yyyyyyyyyyyyyyyy"},
    {">=1.0,<2", "....yyyypypyyy...."},
    {">=1.0,!=1.0.1,<1.4", "....yyyyp.pyy....."},
    {"===1.0", "....y............."},
    {"===1.0+LOCAL.7", "......y..........."},
    {"==1!0.*", ".................y"},
    {">0.9,<1!0", ".pppyyyypypyyypyy."},
    {"", "ypppyyyypypyyypyyy"},
};

static void test_cross_checked_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < WF_ARRAY_SIZE(table); i++) {
        assert_int_equal(strlen(table[i].row), WF_ARRAY_SIZE(table_versions));
        wf_specifier *set = parse_ok(table[i].spec);
        for (size_t j = 0; j < WF_ARRAY_SIZE(table_versions); j++) {
            const char *v = table_versions[j];
            char want = table[i].row[j];
            int def = wf_specifier_contains(set, v, strlen(v), -1);
            int any = wf_specifier_contains(set, v, strlen(v), 1);
            int never = wf_specifier_contains(set, v, strlen(v), 0);
            char got = def ? 'y' : any ? 'p' : '.';
            if (got != want || def > any || never > def)
                fail_msg("'%s' on '%s': expected '%c', got '%c' (never %d)", table[i].spec, v, want,
                         got, never);
        }
        wf_specifier_free(set);
    }
}

static int best(const char *spec, const char *const *versions, size_t n, int prereleases)
{
    wf_specifier *set = parse_ok(spec);
    int r = wf_specifier_best(set, versions, n, prereleases);
    wf_specifier_free(set);
    return r;
}

static void test_best(void **state)
{
    (void)state;
    /* The bump scenario: 1.2 is yanked, so the caller left it out. */
    static const char *const upstream[] = {"1.0", "1.1", "2.0rc1"};
    assert_int_equal(best(">=1.0,<2", upstream, 3, -1), 1);
    assert_int_equal(best(">=1.0", upstream, 3, -1), 1);
    assert_int_equal(best(">=1.0", upstream, 3, 1), 2);
    assert_int_equal(best(">=1.0rc1", upstream, 3, -1), 2); /* a named pre-release */
    assert_int_equal(best(">=3", upstream, 3, -1), -1);
    assert_int_equal(best("", upstream, 3, -1), 1);

    /* Only a pre-release matches: the default falls back to it, 0 refuses it. */
    static const char *const pre_only[] = {"1.0", "2.0b1", "2.0rc1", "2.0rc1.post1.dev0"};
    assert_int_equal(best(">1.0", pre_only, 4, -1), 3);
    assert_int_equal(best(">1.0", pre_only, 4, 0), -1);
    assert_int_equal(best(">1.0", pre_only, 4, 1), 3);

    /* Ordering is PEP 440's, not the list's or strcmp's; the first of equals wins. */
    static const char *const mixed[] = {"1.10", "1.9", "1.10.0", "1.2.post3", "1.10+local"};
    assert_int_equal(best(">=1", mixed, 5, -1), 4);
    assert_int_equal(best("==1.10", mixed, 4, -1), 0);
    assert_int_equal(best("<1.10", mixed, 5, -1), 1);

    /* A non-version matched by "===" ranks below real versions. */
    static const char *const odd[] = {"foobar", "1.0"};
    assert_int_equal(best("===foobar", odd, 2, -1), 0);
    assert_int_equal(best("", odd, 2, -1), 1);
    assert_int_equal(best(">=0", odd, 0, -1), -1);
}

typedef struct bad_case {
    const char *spec;
    size_t column;
    const char *says;
} bad_case;

static void test_invalid(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"~=1", 3, "at least two release numbers"},
        {"==1.0.*+local", 6, "must be the last"},
        {"==1.0+local.*", 6, "cannot be combined with '.*'"},
        {"<=1.0.*", 6, "only allowed with '==' and '!='"},
        {">=1.0, ~=2.*", 11, "only allowed with '==' and '!='"},
        {"==1.0.dev1.*", 3, "plain release number"},
        {"==1.0a1.*", 3, "plain release number"},
        {">1.0+local", 5, "only allowed with '==' and '!='"},
        {"~=1.0+local", 6, "only allowed with '==' and '!='"},
        {"=>1.0", 1, "did you mean '>='"},
        {"1.0", 1, "no operator"},
        {"foo", 1, "expected an operator"},
        {">=1.0,<", 8, "missing version after '<'"},
        {">=1.0, <2, ==x", 14, "'x' is not a valid PEP 440 version"},
        {"== 1.0 .*", 7, "unexpected space"},
        {"===", 4, "missing version"},
        {"===foo bar", 7, "one word"},
        {">= 1.0 2.0", 7, "unexpected space"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        wf_specifier *set = (wf_specifier *)&set; /* must stay untouched */
        wf_specifier *before = set;
        wf_specifier_error err;
        memset(&err, 0, sizeof(err));
        int r = wf_specifier_parse(&set, cases[i].spec, strlen(cases[i].spec), &err);
        if (r != WF_EINVAL)
            fail_msg("'%s' should be invalid, got %d", cases[i].spec, r);
        assert_ptr_equal(set, before);
        if (err.column != cases[i].column || strstr(err.msg, cases[i].says) == NULL)
            fail_msg("'%s': expected column %zu saying \"%s\", got column %zu: %s", cases[i].spec,
                     cases[i].column, cases[i].says, err.column, err.msg);
        char prefix[32];
        snprintf(prefix, sizeof(prefix), "column %zu: ", cases[i].column);
        assert_true(strncmp(err.msg, prefix, strlen(prefix)) == 0);
    }
    /* err may be NULL. */
    wf_specifier *set = NULL;
    assert_int_equal(wf_specifier_parse(&set, "~=1", 3, NULL), WF_EINVAL);
    assert_null(set);
}

static void test_syntax_and_limits(void **state)
{
    (void)state;
    /* Whitespace, empty clauses, 'v' and case are accepted as packaging does. */
    static const match_case cases[] = {
        {"  >= 1.0 ,\t< 2 ", "1.5", -1, 1}, {">=1.0,,<2,", "1.5", -1, 1}, {",", "7", -1, 1},
        {"==V1.0RC1", "1.0rc1", -1, 1},     {"== 1.0.*", "1.0.7", -1, 1}, {">=1.0", " 1.5 ", -1, 1},
    };
    check_matches(cases, WF_ARRAY_SIZE(cases));

    /* A length that does not stop at a NUL: only [s, s+len) is read. */
    wf_specifier *set = NULL;
    assert_int_equal(wf_specifier_parse(&set, ">=2.0,<3", 5, NULL), 0);
    assert_int_equal(wf_specifier_contains(set, "1.9", 3, -1), 0);
    assert_int_equal(wf_specifier_contains(set, "2.0.1", 3, -1), 1); /* "2.0" */
    assert_int_equal(wf_specifier_contains(set, "3.5", 3, -1), 1);
    wf_specifier_free(set);

    set = parse_ok("  >= 1.0 ,, <2,===x ");
    char *s = wf_specifier_str(set);
    assert_string_equal(s, ">= 1.0, <2, ===x");
    free(s);
    wf_specifier_free(set);
    set = parse_ok("");
    s = wf_specifier_str(set);
    assert_string_equal(s, "");
    free(s);
    wf_specifier_free(set);

    /* Clause and length limits. */
    wf_buf b = WF_BUF_INIT;
    for (int i = 0; i < WF_SPECIFIER_MAX_CLAUSES; i++)
        wf_buf_addf(&b, "%s!=%d", i ? "," : "", i);
    set = NULL;
    assert_int_equal(wf_specifier_parse(&set, b.ptr, b.len, NULL), 0);
    assert_int_equal(wf_specifier_contains(set, "64", 2, -1), 1);
    assert_int_equal(wf_specifier_contains(set, "63", 2, -1), 0);
    wf_specifier_free(set);
    wf_buf_adds(&b, ",!=64");
    wf_specifier_error err;
    assert_int_equal(wf_specifier_parse(&set, b.ptr, b.len, &err), WF_ELIMIT);
    assert_non_null(strstr(err.msg, "more than 64 clauses"));
    wf_buf_reset(&b);
    while (b.len <= WF_SPECIFIER_MAX_LEN)
        wf_buf_adds(&b, ">=1.0 ,");
    assert_int_equal(wf_specifier_parse(&set, b.ptr, b.len, &err), WF_ELIMIT);
    assert_int_equal(err.column, 1);
    wf_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compatible_release_spec_examples),
        cmocka_unit_test(test_spec_examples_section),
        cmocka_unit_test(test_version_matching_spec_examples),
        cmocka_unit_test(test_ordered_and_arbitrary_spec_examples),
        cmocka_unit_test(test_prerelease_policy),
        cmocka_unit_test(test_cross_checked_table),
        cmocka_unit_test(test_best),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_syntax_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
