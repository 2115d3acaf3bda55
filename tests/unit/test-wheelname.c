/* test-wheelname.c - unit tests for lib/wheelname.c: wheel file names, tags, machines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/wf.h"
#include "lib/wheelname.h"

static void parse_ok(wf_wheel_name *w, const char *s)
{
    if (wf_wheelname_parse(w, s, strlen(s)) != 0)
        fail_msg("'%s' should parse", s);
}

static void test_pure_python(void **state)
{
    (void)state;
    wf_wheel_name w;
    parse_ok(&w, "six-1.16.0-py2.py3-none-any.whl");
    assert_string_equal(w.name, "six");
    assert_string_equal(w.version, "1.16.0");
    assert_null(w.build);
    assert_int_equal(w.n_python, 2);
    assert_string_equal(w.python[0], "py2");
    assert_string_equal(w.python[1], "py3");
    assert_int_equal(w.n_abi, 1);
    assert_string_equal(w.abi[0], "none");
    assert_int_equal(w.n_platform, 1);
    assert_string_equal(w.platform[0], "any");
    assert_true(wf_wheelname_has_tag(&w, "py3", "none", "any"));
    assert_true(wf_wheelname_has_tag(&w, "py2", "none", "any"));
    assert_false(wf_wheelname_has_tag(&w, "py3", "cp311", "any"));
    assert_false(wf_wheelname_has_tag(&w, "py3", "none", "linux_x86_64"));
    assert_true(wf_wheelname_has_python(&w, "py2"));
    assert_false(wf_wheelname_has_python(&w, "py"));
    assert_false(wf_wheelname_has_python(&w, "cp311"));
    wf_wheelname_release(&w);
    assert_null(w.name);
    wf_wheelname_release(&w);
    wf_wheelname_release(NULL);
}

static void test_manylinux(void **state)
{
    (void)state;
    wf_wheel_name w;
    parse_ok(&w, "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
    assert_string_equal(w.name, "numpy");
    assert_string_equal(w.version, "1.26.4");
    assert_int_equal(w.n_platform, 2);
    assert_string_equal(w.platform[0], "manylinux_2_17_x86_64");
    assert_string_equal(w.platform[1], "manylinux2014_x86_64");
    assert_true(wf_wheelname_has_tag(&w, "cp311", "cp311", "manylinux2014_x86_64"));
    assert_true(wf_wheelname_has_tag(&w, "cp311", "cp311", "manylinux_2_17_x86_64"));
    assert_false(wf_wheelname_has_tag(&w, "cp311", "cp311", "manylinux_2_17_aarch64"));
    assert_false(wf_wheelname_has_tag(&w, "cp310", "cp311", "manylinux2014_x86_64"));
    assert_true(wf_wheelname_has_python(&w, "cp311"));
    wf_wheelname_release(&w);
}

static void test_build_tag(void **state)
{
    (void)state;
    wf_wheel_name w;
    parse_ok(&w, "typing_extensions-4.9.0-1local-py3-none-any.whl");
    assert_string_equal(w.name, "typing_extensions");
    assert_string_equal(w.build, "1local");
    assert_string_equal(w.python[0], "py3");
    wf_wheelname_release(&w);
    parse_ok(&w, "Foo.Bar-1!2.0rc1.post3+local.7-42-cp39.cp310-abi3-linux_aarch64.whl");
    assert_string_equal(w.name, "Foo.Bar");
    assert_string_equal(w.version, "1!2.0rc1.post3+local.7");
    assert_string_equal(w.build, "42");
    assert_true(wf_wheelname_has_tag(&w, "cp310", "abi3", "linux_aarch64"));
    wf_wheelname_release(&w);
}

static void test_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "six-1.16.0-py2.py3-none.whl", /* too few parts */
        "six-py3-none-any.whl",
        "six-1.16.0-py2.py3-none-any", /* missing .whl */
        "six-1.16.0-py2.py3-none-any.tar.gz",
        "six-1.16.0-py2.py3-none-any.WHL",
        ".whl",
        "",
        "six-1.16.0--py3-none-any.whl", /* empty component */
        "-1.16.0-py3-none-any.whl",
        "six-1.16.0-py3-none-.whl",
        "six-1.16.0-py3--any.whl",
        "six-1.16.0-py2..py3-none-any.whl", /* empty tag in a set */
        "six-1.16.0-.py3-none-any.whl",
        "six-1.16.0-py3.-none-any.whl",
        "six-1.16.0-1-2-py3-none-any.whl",    /* too many parts */
        "six-1.16.0-x1-py3-none-any.whl",     /* build tag must start with a digit */
        "six-not.a.version-py3-none-any.whl", /* invalid version */
        "six-1.0 -py3-none-any.whl",          /* spaces PEP 440 would have trimmed */
        "_six-1.16.0-py3-none-any.whl",       /* invalid project name */
        "si x-1.16.0-py3-none-any.whl",
        "six-1.16.0-py3-none-any+x.whl", /* bad tag characters */
        "six/x-1.16.0-py3-none-any.whl",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        wf_wheel_name w;
        memset(&w, 0xab, sizeof(w));
        if (wf_wheelname_parse(&w, bad[i], strlen(bad[i])) != WF_EINVAL)
            fail_msg("'%s' should be invalid", bad[i]);
        /* out is written only on success */
        unsigned char *p = (unsigned char *)&w;
        for (size_t j = 0; j < sizeof(w); j++)
            assert_int_equal(p[j], 0xab);
    }
    /* The length given is what counts: a valid name cut short is not a wheel name. */
    const char *s = "six-1.16.0-py3-none-any.whl";
    wf_wheel_name w;
    assert_int_equal(wf_wheelname_parse(&w, s, strlen(s) - 1), WF_EINVAL);
}

static void test_too_long(void **state)
{
    (void)state;
    char name[WF_WHEELNAME_MAX_LEN + 2];
    const char *tail = "-1.0-py3-none-any.whl";
    size_t head = sizeof(name) - 1 - strlen(tail);
    memset(name, 'a', head);
    memcpy(name + head, tail, strlen(tail) + 1);
    wf_wheel_name w;
    assert_int_equal(wf_wheelname_parse(&w, name, strlen(name)), WF_EINVAL);
    /* One byte shorter fits. */
    assert_int_equal(wf_wheelname_parse(&w, name + 1, strlen(name + 1)), 0);
    wf_wheelname_release(&w);
}

static void test_platform_arch(void **state)
{
    (void)state;
    static const struct {
        const char *tag, *arch;
    } cases[] = {
        {"manylinux_2_17_x86_64", "x86_64"},
        {"manylinux2014_aarch64", "aarch64"},
        {"linux_x86_64", "x86_64"},
        {"musllinux_1_1_aarch64", "aarch64"},
        {"manylinux1_i686", "i686"},
        {"manylinux2010_x86_64", "x86_64"},
        {"manylinux_2_28_ppc64le", "ppc64le"},
        {"linux_armv7l", "armv7l"},
        {"musllinux_1_2_s390x", "s390x"},
        {"any", NULL},
        {"macosx_11_0_arm64", NULL},
        {"win_amd64", NULL},
        {"manylinux_2_x86_64", NULL},
        {"manylinux__17_x86_64", NULL},
        {"linux_", NULL},
        {"manylinux_2_17_", NULL},
        {"linux", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = 999;
        const char *a = wf_wheelname_platform_arch(cases[i].tag, &len);
        if (cases[i].arch == NULL) {
            if (a != NULL)
                fail_msg("'%s' should have no machine, got '%s'", cases[i].tag, a);
            assert_int_equal(len, 999);
            continue;
        }
        if (a == NULL || strcmp(a, cases[i].arch) != 0)
            fail_msg("'%s' machine '%s', want '%s'", cases[i].tag, a ? a : "(null)", cases[i].arch);
        assert_int_equal(len, strlen(cases[i].arch));
        /* Borrowed: points into the tag itself. */
        assert_ptr_equal(a, cases[i].tag + strlen(cases[i].tag) - len);
    }
    assert_non_null(wf_wheelname_platform_arch("linux_x86_64", NULL));
}

static void test_platform_to_arch(void **state)
{
    (void)state;
    assert_string_equal(wf_platform_to_arch("linux/amd64"), "x86_64");
    assert_string_equal(wf_platform_to_arch("linux/arm64"), "aarch64");
    assert_string_equal(wf_platform_to_arch("linux/arm64/v8"), "aarch64");
    assert_string_equal(wf_platform_to_arch("linux/arm/v7"), "armv7l");
    assert_null(wf_platform_to_arch("linux/amd64/v9"));
    assert_null(wf_platform_to_arch("windows/amd64"));
    assert_null(wf_platform_to_arch("amd64"));
    assert_null(wf_platform_to_arch(""));
    assert_null(wf_platform_to_arch(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pure_python),      cmocka_unit_test(test_manylinux),
        cmocka_unit_test(test_build_tag),        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_too_long),         cmocka_unit_test(test_platform_arch),
        cmocka_unit_test(test_platform_to_arch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
