/* test-bump.c - tests for lib/bump.c (which upstream version a tracking recipe builds, and why
 * not the others) and lib/duration.c (min_age). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/bump.h"
#include "lib/duration.h"
#include "lib/pep440.h"
#include "lib/wf.h"

#define NOW 1750000000LL
#define DAY 86400LL
#define MAX_RELEASES 12

/* One release as the tests write it; verdict is what the selection must say about it. */
typedef struct rel {
    const char *version;
    int has_sdist, yanked;
    int64_t age;      /* seconds before NOW; 0: time unknown */
    int since_upload; /* the age is an upload time (else a first-seen time) */
    wf_bump_have have;
    wf_bump_verdict verdict;
} rel;

typedef struct select_case {
    const char *name;
    const char *spec;
    int prereleases;
    int64_t min_age;
    rel releases[MAX_RELEASES];
    const char *chosen; /* NULL: nothing eligible */
    const char *summary;
} select_case;

#define R(v, verdict)                                                                              \
    {                                                                                              \
        v, 1, 0, 30 * DAY, 1, WF_BUMP_NOT_BUILT, verdict                                           \
    }

static const select_case cases[] = {
    {"the issue's fixture: 1.1 is the newest eligible version",
     ">=1.0,<2",
     -1,
     0,
     {R("1.0", WF_BUMP_OLDER),
      R("1.1", WF_BUMP_BUILD),
      {"1.2", 1, 1, DAY, 1, WF_BUMP_NOT_BUILT, WF_BUMP_YANKED},
      R("2.0rc1", WF_BUMP_EXCLUDED)},
     "1.1",
     "track >=1.0,<2: newest 1.1 (2.0rc1 excluded, 1.2 yanked)"},
    {"the newest eligible version built: nothing to do, no back-fill of 1.0",
     ">=1.0,<2",
     -1,
     0,
     {R("1.0", WF_BUMP_OLDER),
      {"1.1", 1, 0, DAY, 1, WF_BUMP_IS_BUILT, WF_BUMP_BUILT},
      {"1.2", 1, 1, DAY, 1, WF_BUMP_NOT_BUILT, WF_BUMP_YANKED}},
     "1.1",
     "track >=1.0,<2: newest 1.1 (1.2 yanked)"},
    {"the newest eligible version queued",
     ">=1.0",
     -1,
     0,
     {{"1.1", 1, 0, DAY, 1, WF_BUMP_IS_ACTIVE, WF_BUMP_ACTIVE}, R("1.0", WF_BUMP_OLDER)},
     "1.1",
     "track >=1.0: newest 1.1"},
    {"min_age: a young upload waits, the next older one is built",
     ">=1.0",
     -1,
     2 * DAY,
     {R("1.0", WF_BUMP_OLDER),
      R("1.1", WF_BUMP_BUILD),
      {"1.2", 1, 0, 3600, 1, WF_BUMP_NOT_BUILT, WF_BUMP_TOO_YOUNG},
      {"1.3", 1, 0, 2 * DAY - 1, 0, WF_BUMP_NOT_BUILT, WF_BUMP_TOO_YOUNG},
      {"1.4", 1, 0, 0, 0, WF_BUMP_NOT_BUILT, WF_BUMP_TOO_YOUNG}},
     "1.1",
     "track >=1.0: newest 1.1 (1.4 too young, 1.3 too young, 1.2 too young)"},
    {"min_age reached exactly, and a first-seen time that old",
     ">=1.0",
     -1,
     2 * DAY,
     {{"1.2", 1, 0, 2 * DAY, 0, WF_BUMP_NOT_BUILT, WF_BUMP_BUILD},
      {"1.1", 1, 0, 2 * DAY, 1, WF_BUMP_NOT_BUILT, WF_BUMP_OLDER}},
     "1.2",
     "track >=1.0: newest 1.2"},
    {"pre-releases excluded by default, even the newest",
     ">=1.0",
     -1,
     0,
     {R("1.4", WF_BUMP_BUILD), R("1.5rc1", WF_BUMP_PRERELEASE), R("1.6.dev1", WF_BUMP_PRERELEASE),
      R("1.5b2.post1", WF_BUMP_PRERELEASE)},
     "1.4",
     "track >=1.0: newest 1.4 (1.6.dev1 pre-release, 1.5rc1 pre-release, 1.5b2.post1 "
     "pre-release)"},
    {"prereleases: true admits them",
     ">=1.0",
     1,
     0,
     {R("1.4", WF_BUMP_OLDER), R("1.5rc1", WF_BUMP_BUILD)},
     "1.5rc1",
     "track >=1.0: newest 1.5rc1"},
    {"a specifier naming a pre-release admits them",
     ">=1.5rc1",
     -1,
     0,
     {R("1.4", WF_BUMP_EXCLUDED), R("1.5rc1", WF_BUMP_OLDER), R("1.5rc2", WF_BUMP_BUILD)},
     "1.5rc2",
     "track >=1.5rc1: newest 1.5rc2"},
    {"prereleases: false wins over the specifier",
     ">=1.5rc1",
     0,
     0,
     {R("1.4", WF_BUMP_EXCLUDED), R("1.5rc1", WF_BUMP_PRERELEASE)},
     NULL,
     "track >=1.5rc1: nothing eligible (1.5rc1 pre-release, 1.4 excluded)"},
    {"only pre-releases match: no fallback onto them",
     "<2",
     -1,
     0,
     {R("1.0a1", WF_BUMP_PRERELEASE), R("3.0", WF_BUMP_EXCLUDED)},
     NULL,
     "track <2: nothing eligible (3.0 excluded, 1.0a1 pre-release)"},
    {"~= and != with full PEP 440 semantics",
     "~=1.1, !=1.1.2",
     -1,
     0,
     {R("1.0.9", WF_BUMP_EXCLUDED), R("1.1.1", WF_BUMP_OLDER), R("1.1.2", WF_BUMP_EXCLUDED),
      R("1.2", WF_BUMP_BUILD), R("2.0", WF_BUMP_EXCLUDED)},
     "1.2",
     "track ~=1.1, !=1.1.2: newest 1.2 (2.0 excluded)"},
    {"> excludes post releases of its version; no sdist; not a version",
     ">1.0",
     -1,
     0,
     {R("1.0", WF_BUMP_EXCLUDED),
      R("1.0.post1", WF_BUMP_EXCLUDED),
      {"1.1", 0, 0, DAY, 1, WF_BUMP_NOT_BUILT, WF_BUMP_NO_SDIST},
      R("banana", WF_BUMP_INVALID)},
     NULL,
     "track >1.0: nothing eligible (1.1 no sdist, 1.0.post1 excluded, 1.0 excluded)"},
    {"equal versions: the first one listed wins; the empty specifier takes any final release",
     "",
     -1,
     0,
     {R("2.0.0", WF_BUMP_BUILD), R("2.0", WF_BUMP_OLDER), R("1.9", WF_BUMP_OLDER)},
     "2.0.0",
     "track (any version): newest 2.0.0"},
    {"an epoch outranks any release",
     ">=0",
     -1,
     0,
     {R("2024.1", WF_BUMP_OLDER), R("1!0.1", WF_BUMP_BUILD)},
     "1!0.1",
     "track >=0: newest 1!0.1"},
    {"more than five passed over are counted",
     "<1.5",
     -1,
     0,
     {R("1.0", WF_BUMP_BUILD), R("2.0", WF_BUMP_EXCLUDED), R("2.1", WF_BUMP_EXCLUDED),
      R("2.2", WF_BUMP_EXCLUDED), R("2.3", WF_BUMP_EXCLUDED), R("2.4", WF_BUMP_EXCLUDED),
      R("2.5", WF_BUMP_EXCLUDED), R("2.6", WF_BUMP_EXCLUDED)},
     "1.0",
     "track <1.5: newest 1.0 (2.6 excluded, 2.5 excluded, 2.4 excluded, 2.3 excluded, 2.2 "
     "excluded, and 2 more)"},
};

static size_t to_releases(const select_case *c, wf_bump_release *out)
{
    size_t n = 0;
    for (; n < MAX_RELEASES && c->releases[n].version != NULL; n++) {
        const rel *r = &c->releases[n];
        out[n] = (wf_bump_release){
            r->version,      r->has_sdist, r->yanked, NULL, r->age > 0 ? NOW - r->age : 0,
            r->since_upload, r->have};
    }
    return n;
}

static void test_select(void **state)
{
    (void)state;
    for (size_t k = 0; k < WF_ARRAY_SIZE(cases); k++) {
        const select_case *c = &cases[k];
        wf_bump_release rels[MAX_RELEASES];
        wf_bump_verdict v[MAX_RELEASES];
        wf_specifier *spec = NULL;
        size_t n = to_releases(c, rels);
        assert_int_equal(wf_specifier_parse(&spec, c->spec, strlen(c->spec), NULL), 0);
        const wf_bump_policy p = {spec, c->spec, c->prereleases, c->min_age, NOW};
        int chosen = wf_bump_select(rels, n, &p, v);
        for (size_t i = 0; i < n; i++) {
            if (v[i] != c->releases[i].verdict)
                fail_msg("%s: %s is %s, want %s", c->name, rels[i].version,
                         wf_bump_verdict_name(v[i]), wf_bump_verdict_name(c->releases[i].verdict));
        }
        if (c->chosen == NULL)
            assert_int_equal(chosen, -1);
        else if (chosen < 0 || strcmp(rels[chosen].version, c->chosen) != 0)
            fail_msg("%s: chose %s, want %s", c->name,
                     chosen < 0 ? "nothing" : rels[chosen].version, c->chosen);
        char *sum = wf_bump_summary(rels, n, v, chosen, &p);
        if (strcmp(sum, c->summary) != 0)
            fail_msg("%s: summary\n  %s\nwant\n  %s", c->name, sum, c->summary);
        free(sum);
        wf_specifier_free(spec);
    }
}

static void expect_reason(const wf_bump_release *r, wf_bump_verdict v, const wf_bump_policy *p,
                          const char *want)
{
    char *s = wf_bump_reason(r, v, p);
    assert_string_equal(s, want);
    free(s);
}

static void test_reasons(void **state)
{
    (void)state;
    wf_specifier *spec = NULL;
    assert_int_equal(wf_specifier_parse(&spec, ">=1.0,<2", 8, NULL), 0);
    const wf_bump_policy p = {spec, ">=1.0,<2", -1, 2 * DAY, NOW};
    wf_bump_release r = {"1.2", 1, 1, "broken build", NOW - 5400, 1, WF_BUMP_NOT_BUILT};
    expect_reason(&r, WF_BUMP_YANKED, &p, "yanked (broken build)");
    r.yanked_reason = NULL;
    expect_reason(&r, WF_BUMP_YANKED, &p, "yanked");
    expect_reason(&r, WF_BUMP_TOO_YOUNG, &p, "uploaded 1h30m ago; min_age is 2d");
    r.since_upload = 0;
    expect_reason(&r, WF_BUMP_TOO_YOUNG, &p,
                  "first seen 1h30m ago (the index gives no upload time); min_age is 2d");
    r.since = NOW - (10 * DAY + 3 * 3600 + 6);
    expect_reason(&r, WF_BUMP_TOO_YOUNG, &p,
                  "first seen 10d3h ago (the index gives no upload time); min_age is 2d");
    r.since = NOW - 59;
    expect_reason(&r, WF_BUMP_TOO_YOUNG, &p,
                  "first seen 59s ago (the index gives no upload time); min_age is 2d");
    r.since = 0;
    expect_reason(&r, WF_BUMP_TOO_YOUNG, &p, "upload time unknown; min_age is 2d");
    r.version = "2.0rc1";
    expect_reason(&r, WF_BUMP_EXCLUDED, &p, "pre-release, and 'track: >=1.0,<2' excludes it");
    r.version = "2.0";
    expect_reason(&r, WF_BUMP_EXCLUDED, &p, "'track: >=1.0,<2' excludes it");
    expect_reason(&r, WF_BUMP_PRERELEASE, &p,
                  "pre-release (set 'prereleases: true' to build them)");
    expect_reason(&r, WF_BUMP_BUILD, &p, "newest eligible version, not built yet");
    expect_reason(&r, WF_BUMP_BUILT, &p, "newest eligible version, already built");
    expect_reason(&r, WF_BUMP_NO_SDIST, &p, "no sdist on the index (wheels only)");
    assert_string_equal(wf_bump_verdict_name(WF_BUMP_TOO_YOUNG), "too-young");
    assert_string_equal(wf_bump_verdict_name((wf_bump_verdict)99), "unknown");
    wf_specifier_free(spec);
}

static void test_order(void **state)
{
    (void)state;
    const wf_bump_release rels[] = {
        {"1.0", 0, 0, NULL, 0, 0, 0},    {"x!y", 0, 0, NULL, 0, 0, 0},
        {"2.0rc1", 0, 0, NULL, 0, 0, 0}, {"1.10", 0, 0, NULL, 0, 0, 0},
        {"1.0.0", 0, 0, NULL, 0, 0, 0},  {"1!0.1", 0, 0, NULL, 0, 0, 0}};
    size_t order[WF_ARRAY_SIZE(rels)];
    static const size_t want[] = {5, 2, 3, 0, 4, 1};
    wf_bump_order(rels, WF_ARRAY_SIZE(rels), order);
    for (size_t i = 0; i < WF_ARRAY_SIZE(rels); i++)
        assert_int_equal(order[i], want[i]);
}

/* Thousands of releases in upload (ascending) order, with invalid texts mixed in: newest first,
 * invalid ones last in reverse strcmp order, equal versions in input order. */
static void test_order_many(void **state)
{
    (void)state;
    enum { N = 6000 };
    wf_bump_release *rels = wf_calloc(N, sizeof(*rels));
    char **texts = wf_calloc(N, sizeof(*texts));
    for (size_t i = 0; i < N; i++) {
        if (i % 1000 == 7)
            texts[i] = wf_asprintf("not-a-version-%zu", i);
        else if (i == 4000)
            texts[i] = wf_strdup("1.3999.0"); /* equals release 3999 ("1.3999"), comes later */
        else
            texts[i] = wf_asprintf("1.%zu", i);
        rels[i].version = texts[i];
    }
    size_t *order = wf_calloc(N, sizeof(*order));
    wf_bump_order(rels, N, order);
    assert_int_equal(order[0], N - 1);
    for (size_t k = 1; k < N - 6; k++) { /* the valid ones: never newer than the one before */
        assert_true(wf_pep440_cmp_str(texts[order[k - 1]], texts[order[k]]) >= 0);
        if (order[k] == 4000)
            assert_int_equal(order[k - 1], 3999); /* stable among equals */
    }
    static const size_t invalid[] = {7, 5007, 4007, 3007, 2007, 1007}; /* "…-7" > "…-5007" */
    for (size_t k = 0; k < 6; k++)
        assert_int_equal(order[N - 6 + k], invalid[k]);
    for (size_t i = 0; i < N; i++)
        free(texts[i]);
    free(texts);
    free(order);
    free(rels);
}

static void test_duration(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
        int64_t secs;
    } parse[] = {
        {"2d", 0, 2 * DAY},
        {"12h", 0, 12 * 3600},
        {"30m", 0, 1800},
        {"45s", 0, 45},
        {"1d12h", 0, 36 * 3600},
        {"1h30m15s", 0, 5415},
        {"3600", 0, 3600},
        {" 2d\t", 0, 2 * DAY},
        {"0", 0, 0},
        {"3650d", 0, 3650 * DAY},
        {"", WF_EINVAL, 0},
        {" ", WF_EINVAL, 0},
        {"d", WF_EINVAL, 0},
        {"2w", WF_EINVAL, 0},
        {"1h1d", WF_EINVAL, 0},
        {"1d1d", WF_EINVAL, 0},
        {"1d12", WF_EINVAL, 0},
        {"-1", WF_EINVAL, 0},
        {"1.5h", WF_EINVAL, 0},
        {"2 d", WF_EINVAL, 0},
        {"3651d", WF_ELIMIT, 0},
        {"3650d1s", WF_ELIMIT, 0},
        {"99999999999999999999", WF_ELIMIT, 0},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(parse); i++) {
        int64_t got = -7;
        int rc = wf_duration_parse(parse[i].text, strlen(parse[i].text), &got);
        if (rc != parse[i].rc)
            fail_msg("'%s': rc %d, want %d", parse[i].text, rc, parse[i].rc);
        assert_int_equal(got, rc == 0 ? parse[i].secs : -7);
    }
    static const struct {
        int64_t secs;
        const char *text;
    } fmt[] = {{0, "0s"},       {-5, "0s"},          {2 * DAY, "2d"},
               {5400, "1h30m"}, {90061, "1d1h1m1s"}, {59, "59s"}};
    for (size_t i = 0; i < WF_ARRAY_SIZE(fmt); i++) {
        char buf[24];
        assert_string_equal(wf_duration_format(buf, sizeof(buf), fmt[i].secs), fmt[i].text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),   cmocka_unit_test(test_reasons),
        cmocka_unit_test(test_order),    cmocka_unit_test(test_order_many),
        cmocka_unit_test(test_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
