/* test-index.c - unit tests for daemon/index.c: atomic page writes and file placement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/index.h"
#include "lib/fsutil.h"
#include "lib/wf.h"

static char *read_all(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (wf_fs_read_file(path, 1 << 20, &data, &len) != 0)
        return NULL;
    return data;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static int setup(void **state)
{
    char tmpl[] = "/tmp/wf-test-index-XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (dir == NULL)
        return -1;
    *state = wf_strdup(dir);
    return 0;
}

static int teardown(void **state)
{
    wf_fs_remove_tree(*state);
    free(*state);
    return 0;
}

static void test_write_project(void **state)
{
    const char *root = *state;
    wf_index_file files[] = {
        {"foo_bar-1.0-py3-none-any.whl", NULL, "abcd", ">=3.9", NULL},
        {"foo_bar-0.9-py3-none-any.whl", "https://mirror.invalid/x.whl", "ef01", NULL, NULL},
    };
    assert_int_equal(wf_index_write_project(root, "foo-bar", files, 2), 0);
    char *path = wf_asprintf("%s/simple/foo-bar/index.html", root);
    char *html = read_all(path);
    assert_non_null(html);
    assert_non_null(strstr(html, "href=\"../../files/foo-bar/foo_bar-1.0-py3-none-any.whl"
                                 "#sha256=abcd\" data-requires-python=\"&gt;=3.9\""));
    assert_non_null(strstr(html, "href=\"https://mirror.invalid/x.whl#sha256=ef01\""));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    free(html);

    /* Rewriting replaces the page and leaves no temporary file behind. */
    assert_int_equal(wf_index_write_project(root, "foo-bar", files, 1), 0);
    html = read_all(path);
    assert_null(strstr(html, "x.whl"));
    free(html);
    free(path);
    char *dir = wf_asprintf("%s/simple/foo-bar", root);
    assert_int_equal(count_entries(dir), 1);
    free(dir);
}

static void test_write_project_rejects_bad_names(void **state)
{
    const char *root = *state;
    assert_int_equal(wf_index_write_project(root, "Foo_Bar", NULL, 0), WF_EINVAL);
    assert_int_equal(wf_index_write_project(root, "../etc", NULL, 0), WF_EINVAL);
    assert_int_equal(wf_index_write_project(root, "", NULL, 0), WF_EINVAL);
    char *dir = wf_asprintf("%s/simple", root);
    assert_int_equal(count_entries(dir), -1); /* nothing was created */
    free(dir);
}

static void test_write_root(void **state)
{
    const char *root = *state;
    const char *projects[] = {"Foo_Bar", "baz"};
    assert_int_equal(wf_index_write_root(root, projects, 2), 0);
    char *path = wf_asprintf("%s/simple/index.html", root);
    char *html = read_all(path);
    assert_non_null(html);
    assert_non_null(strstr(html, "<a href=\"baz/\">baz</a>"));
    assert_non_null(strstr(html, "<a href=\"foo-bar/\">foo-bar</a>"));
    free(html);
    free(path);
}

static void test_file_path(void **state)
{
    const char *root = *state;
    char *p = wf_index_file_path(root, "foo-bar", "foo_bar-1.0-py3-none-any.whl");
    assert_non_null(p);
    char *want = wf_asprintf("%s/files/foo-bar/foo_bar-1.0-py3-none-any.whl", root);
    assert_string_equal(p, want);
    char *dir = wf_asprintf("%s/files/foo-bar", root);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    free(dir);
    free(want);
    free(p);

    assert_null(wf_index_file_path(root, "Foo", "a.whl"));
    assert_null(wf_index_file_path(root, "foo", "../a.whl"));
    assert_null(wf_index_file_path(root, "foo", ".hidden"));
    assert_null(wf_index_file_path(root, "foo", ""));
    assert_int_equal(errno, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_project, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_project_rejects_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
