/* test-pep503.c - unit tests for lib/pep503.c: project-name validity and normalization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pep503.h"

static int valid(const char *s)
{
    return wf_pep503_valid(s, strlen(s));
}

static void test_valid(void **state)
{
    (void)state;
    static const char *const good[] = {
        "a",
        "Z",
        "0",
        "requests",
        "Flask-SQLAlchemy",
        "zope.interface",
        "typing_extensions",
        "a-b",
        "A1",
        "FrIeNdLy-._.-bArD",
        "1-2",
    };
    static const char *const bad[] = {
        "", "-a", "a-", "_a", "a_", ".a", "a.", "a b", "a+b", "a/b", "é", "a\tb", "-", "--",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (!valid(good[i]))
            fail_msg("'%s' should be valid", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (valid(bad[i]))
            fail_msg("'%s' should be invalid", bad[i]);
    }
    /* Length is what counts, not a NUL: "ab" seen with len 1 is "a", and a NUL inside fails. */
    assert_true(wf_pep503_valid("a-", 1));
    assert_false(wf_pep503_valid("a\0b", 3));
}

static void test_normalize(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"FrIeNdLy-._.-bArD", "friendly-bard"},
        {"Friendly-Bard", "friendly-bard"},
        {"FRIENDLY_BARD", "friendly-bard"},
        {"friendly.bard", "friendly-bard"},
        {"friendly--bard", "friendly-bard"},
        {"Django", "django"},
        {"zope.interface", "zope-interface"},
        {"a", "a"},
        {"", ""},
        {"__x__", "-x-"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *n = wf_pep503_normalize(cases[i].in, strlen(cases[i].in));
        assert_string_equal(n, cases[i].out);
        free(n);
    }
    /* Only len bytes are read. */
    char *n = wf_pep503_normalize("Ab_Cd", 3);
    assert_string_equal(n, "ab-");
    free(n);
}

static void test_is_normalized(void **state)
{
    (void)state;
    assert_true(wf_pep503_is_normalized("friendly-bard", 13));
    assert_true(wf_pep503_is_normalized("a", 1));
    assert_true(wf_pep503_is_normalized("", 0));
    assert_false(wf_pep503_is_normalized("Friendly-bard", 13));
    assert_false(wf_pep503_is_normalized("friendly_bard", 13));
    assert_false(wf_pep503_is_normalized("friendly--bard", 14));
    assert_false(wf_pep503_is_normalized("friendly.bard", 13));
    assert_false(wf_pep503_is_normalized("a-_", 3));
}

static void test_equal(void **state)
{
    (void)state;
    assert_true(wf_pep503_equal("FrIeNdLy-._.-bArD", 17, "friendly-bard", 13));
    assert_true(wf_pep503_equal("", 0, "", 0));
    assert_false(wf_pep503_equal("friendly-bard", 13, "friendly-bar", 12));
    assert_false(wf_pep503_equal("friendly", 8, "friendly-", 9));
    assert_false(wf_pep503_equal("ab", 2, "a-b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_is_normalized),
        cmocka_unit_test(test_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
