/* test-indexpage.c - unit tests for lib/indexpage.c: PEP 503 root and project pages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "lib/indexpage.h"

static void test_root(void **state)
{
    (void)state;
    const char *projects[] = {"Zeta_Pkg", "alpha", "confluent-kafka", "ALPHA"};
    char *html = wf_indexpage_root(projects, 4);
    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_non_null(strstr(html, "<meta name=\"pypi:repository-version\" content=\"1.0\">"));
    const char *a = strstr(html, "<a href=\"alpha/\">alpha</a>");
    const char *c = strstr(html, "<a href=\"confluent-kafka/\">confluent-kafka</a>");
    const char *z = strstr(html, "<a href=\"zeta-pkg/\">zeta-pkg</a>");
    assert_non_null(a);
    assert_non_null(c);
    assert_non_null(z);
    assert_true(a < c && c < z);
    /* "alpha" and "ALPHA" are one project: one link. */
    assert_null(strstr(a + strlen("<a href="), "href=\"alpha/\""));
    free(html);
}

static void test_root_empty(void **state)
{
    (void)state;
    char *html = wf_indexpage_root(NULL, 0);
    assert_non_null(strstr(html, "<body>"));
    assert_null(strstr(html, "<a "));
    free(html);
}

static void test_project(void **state)
{
    (void)state;
    wf_index_file files[] = {
        {"pkg-2.0-cp312-cp312-manylinux_2_28_aarch64.whl",
         "../../files/pkg/pkg-2.0-cp312-cp312-manylinux_2_28_aarch64.whl", "ab12", ">=3.8,<4",
         "cd34"},
        {"pkg-1.0+local-py3-none-any.whl", "../../files/pkg/pkg-1.0+local-py3-none-any.whl", "00ff",
         NULL, NULL},
    };
    char *html = wf_indexpage_project("pkg", files, 2);
    assert_non_null(strstr(html, "<!DOCTYPE html>"));
    assert_non_null(strstr(html, "<meta name=\"pypi:repository-version\" content=\"1.0\">"));
    assert_non_null(strstr(html, "<title>Links for pkg</title>"));
    const char *one = strstr(html, "<a href=\"../../files/pkg/pkg-1.0%2Blocal-py3-none-any.whl"
                                   "#sha256=00ff\">pkg-1.0+local-py3-none-any.whl</a>");
    const char *two = strstr(html, "<a href=\"../../files/pkg/"
                                   "pkg-2.0-cp312-cp312-manylinux_2_28_aarch64.whl#sha256=ab12\" "
                                   "data-requires-python=\"&gt;=3.8,&lt;4\" "
                                   "data-dist-info-metadata=\"sha256=cd34\" "
                                   "data-core-metadata=\"sha256=cd34\">");
    assert_non_null(one);
    assert_non_null(two);
    assert_true(one < two); /* sorted by filename */
    free(html);
}

static void test_escaping(void **state)
{
    (void)state;
    wf_index_file f = {"a&b<c>.whl", "x y\"&.whl", "not-hex!", "\"'<>&", NULL};
    char *html = wf_indexpage_project("p<q", &f, 1);
    assert_non_null(strstr(html, "<title>Links for p&lt;q</title>"));
    assert_non_null(strstr(html, "href=\"x%20y%22%26.whl\"")); /* no fragment: bad hex */
    assert_non_null(strstr(html, "data-requires-python=\"&quot;&#39;&lt;&gt;&amp;\""));
    assert_non_null(strstr(html, ">a&amp;b&lt;c&gt;.whl</a>"));
    assert_null(strstr(html, "#sha256"));
    free(html);

    char *e = wf_indexpage_escape("<&>", 3);
    assert_string_equal(e, "&lt;&amp;&gt;");
    free(e);
}

static void test_url_defaults_to_filename(void **state)
{
    (void)state;
    wf_index_file f = {"p-1.0-py3-none-any.whl", NULL, "aa", "", NULL};
    char *html = wf_indexpage_project("p", &f, 1);
    assert_non_null(strstr(html, "<a href=\"p-1.0-py3-none-any.whl#sha256=aa\">"));
    assert_null(strstr(html, "data-requires-python")); /* empty = absent */
    free(html);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root),
        cmocka_unit_test(test_root_empty),
        cmocka_unit_test(test_project),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_url_defaults_to_filename),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
