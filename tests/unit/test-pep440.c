/* test-pep440.c - unit tests for lib/pep440.c: parsing, normalization and PEP 440 ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pep440.h"
#include "lib/wf.h"

/* The ordered example list from PEP 440's "Examples of compliant version schemes" / summary of
 * permitted suffixes and relative ordering: each entry sorts strictly before the next. */
static const char *const spec_order[] = {
    "1.dev0",
    "1.0.dev456",
    "1.0a1",
    "1.0a2.dev456",
    "1.0a12.dev456",
    "1.0a12",
    "1.0b1.dev456",
    "1.0b2",
    "1.0b2.post345.dev456",
    "1.0b2.post345",
    "1.0rc1.dev456",
    "1.0rc1",
    "1.0",
    "1.0+abc.5",
    "1.0+abc.7",
    "1.0+5",
    "1.0.post456.dev34",
    "1.0.post456",
    "1.0.15",
    "1.1.dev1",
};

/* More orderings that exercise one rule each. */
static const char *const extra_order[] = {
    "0.9",
    "1.0.dev1", /* dev-only release sorts before any pre-release */
    "1.0a1.dev0",
    "1.0a1",
    "1.0a1.post1", /* a post of a pre-release is still before the next pre-release */
    "1.0a2.dev0",
    "1.0",
    "1.0+a", /* alphanumeric local parts sort below numeric ones */
    "1.0+abc",
    "1.0+abc.1", /* a prefix sorts first */
    "1.0+abd",
    "1.0+2",
    "1.0+10", /* numeric local parts compare as numbers */
    "1.0.post1.dev1",
    "1.0.post1",
    "2.0",
    "18446744073709551615",
    "1!0.1", /* any epoch beats any release without one */
    "1!1.0",
    "2!0.0.1",
};

static int cmp(const char *a, const char *b)
{
    wf_pep440 va, vb;
    if (wf_pep440_parse(&va, a, strlen(a)) != 0)
        fail_msg("'%s' should parse", a);
    if (wf_pep440_parse(&vb, b, strlen(b)) != 0)
        fail_msg("'%s' should parse", b);
    int r = wf_pep440_cmp(&va, &vb);
    wf_pep440_release(&va);
    wf_pep440_release(&vb);
    return r;
}

/* Checks every pair of an ordered list both ways, so a wrong rule cannot hide behind
 * transitivity. */
static void check_order(const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int r = cmp(list[i], list[j]);
            int want = (i > j) - (i < j);
            if ((r > 0) - (r < 0) != want)
                fail_msg("cmp('%s', '%s') = %d, want sign %d", list[i], list[j], r, want);
            if (wf_pep440_cmp_str(list[i], list[j]) != want)
                fail_msg("cmp_str('%s', '%s') wrong", list[i], list[j]);
        }
    }
}

static void test_spec_order(void **state)
{
    (void)state;
    check_order(spec_order, sizeof(spec_order) / sizeof(spec_order[0]));
}

static void test_extra_order(void **state)
{
    (void)state;
    check_order(extra_order, sizeof(extra_order) / sizeof(extra_order[0]));
}

static void test_equal(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"1.0.0", "1.0"},       {"1.0", "1"},           {"1.0.0.0", "1"},
        {"0!1.0", "1.0"},       {"1.0a1", "1.0alpha1"}, {"1.0c1", "1.0rc1"},
        {"1.0+abc", "1.0+ABC"}, {"1.0+1", "1.0+01"},    {"1.0-1", "1.0.post1"},
        {"v1.0", " 1.0 "},      {"01.02", "1.2"},       {"1.0+ubuntu-1", "1.0+ubuntu.1"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        if (cmp(pairs[i][0], pairs[i][1]) != 0)
            fail_msg("'%s' should equal '%s'", pairs[i][0], pairs[i][1]);
    }
    assert_true(cmp("1.0+abc", "1.0") > 0);
    assert_true(cmp("1.0.1", "1.0") > 0);
}

static void test_normalize(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"1.0-alpha1", "1.0a1"},
        {"1.0alpha1", "1.0a1"},
        {"1.0a.1", "1.0a1"},
        {"1.0-a-1", "1.0a1"},
        {"1.0_a_1", "1.0a1"},
        {"1.0beta1", "1.0b1"},
        {"1.0c1", "1.0rc1"},
        {"1.0pre1", "1.0rc1"},
        {"1.0preview1", "1.0rc1"},
        {"1.0-pre", "1.0rc0"},
        {"1.0a", "1.0a0"},
        {"1.0A1", "1.0a1"},
        {"1.0RC1", "1.0rc1"},
        {"1.0-post1", "1.0.post1"},
        {"1.0post1", "1.0.post1"},
        {"1.0.post", "1.0.post0"},
        {"1.0-r4", "1.0.post4"},
        {"1.0rev4", "1.0.post4"},
        {"1.0-1", "1.0.post1"},
        {"1.0-dev1", "1.0.dev1"},
        {"1.0.dev", "1.0.dev0"},
        {"1.0dev", "1.0.dev0"},
        {"1.0.dev.", "1.0.dev0"},
        {"1.0a1-1", "1.0a1.post1"},
        {"1.0a--1", "1.0a0.post1"},
        {"1.0a.post1", "1.0a0.post1"},
        {"1.0.a.", "1.0a0"},
        {"1.0-a-1.post-2-dev-3", "1.0a1.post2.dev3"},
        {"1.0RC1.POST2.DEV3+ABC", "1.0rc1.post2.dev3+abc"},
        {"1.0+ubuntu-1", "1.0+ubuntu.1"},
        {"1.0+Ubuntu_1", "1.0+ubuntu.1"},
        {"1.0+ubuntu.01", "1.0+ubuntu.1"},
        {"1.0+00", "1.0+0"},
        {"1.0+a.00b", "1.0+a.00b"},
        {"v1.0", "1.0"},
        {"V1.0", "1.0"},
        {" 1.0\n", "1.0"},
        {"\t1.0a1\t", "1.0a1"},
        {"01.02", "1.2"},
        {"1.0.0", "1.0.0"},
        {"1!2.0", "1!2.0"},
        {"0!1.0", "1.0"},
        {"1.dev0", "1.dev0"},
        {"18446744073709551615", "18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *n = wf_pep440_normalize(cases[i].in, strlen(cases[i].in));
        if (n == NULL || strcmp(n, cases[i].out) != 0)
            fail_msg("normalize('%s') = '%s', want '%s'", cases[i].in, n ? n : "(null)",
                     cases[i].out);
        free(n);
    }
}

static void test_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        " ",
        "1.",
        ".1",
        "1..0",
        "1.0+",
        "1.0+a.",
        "1.0+a..b",
        "a",
        "1.0-",
        "1.0a1b1",
        "1.0.post1.post2",
        "1.0.dev1.a1",
        "1.0-dev-1-",
        "1!",
        "!1",
        "1!2!3",
        "1.0 a1",
        "1.0+ab c",
        "vv1.0",
        "1.0_1",
        "1.0/1",
        "1.0+-a",
        "1.0++a",
        "v",
        "1.0r c",
        "1.0re",
        "1.0alp",
        "1.0-a-.1",
        "1.0a1.1",
        "18446744073709551616",
        "1.99999999999999999999",
        "1.0a18446744073709551616",
        "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wf_pep440 v;
        if (wf_pep440_parse(&v, bad[i], strlen(bad[i])) != WF_EINVAL)
            fail_msg("'%s' should be invalid", bad[i]);
        assert_null(wf_pep440_normalize(bad[i], strlen(bad[i])));
    }
    /* An embedded NUL is just an invalid byte; a length cut short is honoured. */
    assert_null(wf_pep440_normalize("1.0\0", 4));
    char *n = wf_pep440_normalize("1.0a1", 3);
    assert_string_equal(n, "1.0");
    free(n);
}

static void test_release_limit(void **state)
{
    (void)state;
    const char *max = "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16";
    wf_pep440 v;
    assert_int_equal(wf_pep440_parse(&v, max, strlen(max)), 0);
    assert_int_equal(v.n_release, WF_PEP440_MAX_RELEASE);
    assert_int_equal(v.release[15], 16);
    wf_pep440_release(&v);
}

static void test_fields(void **state)
{
    (void)state;
    const char *s = "2!1.0b3.post4.dev5+Local-7";
    wf_pep440 v;
    assert_int_equal(wf_pep440_parse(&v, s, strlen(s)), 0);
    assert_int_equal(v.epoch, 2);
    assert_int_equal(v.n_release, 2);
    assert_int_equal(v.release[0], 1);
    assert_int_equal(v.release[1], 0);
    assert_int_equal(v.pre, WF_PEP440_PRE_B);
    assert_int_equal(v.pre_n, 3);
    assert_true(v.has_post);
    assert_int_equal(v.post_n, 4);
    assert_true(v.has_dev);
    assert_int_equal(v.dev_n, 5);
    assert_string_equal(v.local, "local.7");
    char *str = wf_pep440_str(&v);
    assert_string_equal(str, "2!1.0b3.post4.dev5+local.7");
    free(str);
    wf_pep440_release(&v);
    assert_null(v.local);
    wf_pep440_release(&v); /* a released struct can be released again */
    wf_pep440_release(NULL);
}

static int is_pre(const char *s)
{
    wf_pep440 v;
    if (wf_pep440_parse(&v, s, strlen(s)) != 0)
        fail_msg("'%s' should parse", s);
    int r = wf_pep440_is_prerelease(&v);
    wf_pep440_release(&v);
    return r;
}

static void test_prerelease(void **state)
{
    (void)state;
    assert_true(is_pre("1.0a1"));
    assert_true(is_pre("1.0rc1.post1"));
    assert_true(is_pre("1.0.dev0"));
    assert_true(is_pre("1.0.post1.dev1"));
    assert_false(is_pre("1.0"));
    assert_false(is_pre("1.0.post1"));
    assert_false(is_pre("1.0+dev"));
}

static int qsort_cmp(const void *a, const void *b)
{
    return wf_pep440_cmp_str(*(const char *const *)a, *(const char *const *)b);
}

static void test_cmp_str(void **state)
{
    (void)state;
    assert_int_equal(wf_pep440_cmp_str("1.0", "1.0.0"), 0);
    assert_int_equal(wf_pep440_cmp_str("not-a-version", "0"), -1);
    assert_int_equal(wf_pep440_cmp_str("0", "not-a-version"), 1);
    assert_int_equal(wf_pep440_cmp_str("bad-a", "bad-b"), -1);
    assert_int_equal(wf_pep440_cmp_str("bad", "bad"), 0);
    const char *list[] = {"2.0", "zzz", "1.0rc1", "1.0", "", "1.0.post1", "1!0.1", "1.0.dev0"};
    const char *want[] = {"", "zzz", "1.0.dev0", "1.0rc1", "1.0", "1.0.post1", "2.0", "1!0.1"};
    qsort(list, sizeof(list) / sizeof(list[0]), sizeof(list[0]), qsort_cmp);
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
        assert_string_equal(list[i], want[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_order), cmocka_unit_test(test_extra_order),
        cmocka_unit_test(test_equal),      cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_invalid),    cmocka_unit_test(test_release_limit),
        cmocka_unit_test(test_fields),     cmocka_unit_test(test_prerelease),
        cmocka_unit_test(test_cmp_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
