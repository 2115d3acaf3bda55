/* test-wheelfile.c - unit tests for lib/wheelfile.c: sound wheels pass, each kind of breakage
 * is caught with a message naming the member. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "lib/fsutil.h"
#include "lib/hash.h"
#include "lib/wf.h"
#include "lib/wheelfile.h"
#include "tests/fixtures/wheels/wheelgen.h"

#define DI "demo-1.0.dist-info"
#define META "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\nbody\n"
#define WHEEL "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"

static char tmpdir[] = "/tmp/wf-test-wheelfile-XXXXXX";

static char *tmp_path(const char *name)
{
    return wf_asprintf("%s/%s", tmpdir, name);
}

/* Writes a wheel of `files` with a RECORD computed from record_files (NULL: files). */
static char *make(const wg_file *files, size_t n, const wg_file *record_files, size_t rn)
{
    char *path = tmp_path("t.whl");
    char *record = record_files ? wg_record(record_files, rn, DI "/RECORD")
                                : wg_record(files, n, DI "/RECORD");
    unlink(path);
    wg_write_zip(path, files, n, DI "/RECORD", record);
    free(record);
    return path;
}

/* Inspects path, expecting failure `code` with a message containing each of the strings. */
static void expect_fail(const char *path, int code, const char *want1, const char *want2)
{
    wf_wheel_info info = {.dist_info = (char *)"untouched"};
    char *err = NULL;
    int rc = wf_wheel_inspect(path, &info, &err);
    if (rc != code || err == NULL || strstr(err, want1) == NULL ||
        (want2 && strstr(err, want2) == NULL))
        print_error("rc %d (%s), message: %s\n", rc, wf_strerror(rc), err ? err : "(null)");
    assert_int_equal(rc, code);
    assert_non_null(err);
    assert_non_null(strstr(err, want1));
    if (want2 != NULL)
        assert_non_null(strstr(err, want2));
    assert_string_equal(info.dist_info, "untouched");
    free(err);
}

static void test_python_made_wheel(void **state)
{
    (void)state;
    char *path =
        wf_asprintf("%s/tests/fixtures/wheels/"
                    "demo_pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
                    WF_SOURCE_ROOT);
    static const char meta[] =
        "Metadata-Version: 2.1\r\nName: demo_pkg\r\nVersion: 1.0\r\nRequires-Python: >=3.8\r\n"
        "Summary: a fixture\r\nDescription-Content-Type: text/plain\r\n\r\n"
        "Name: not-a-header\r\n";
    wf_wheel_info info;
    char *err = NULL;
    assert_int_equal(wf_wheel_inspect(path, &info, &err), 0);
    assert_null(err);
    assert_string_equal(info.dist_info, "demo_pkg-1.0.dist-info");
    assert_int_equal(info.metadata_len, sizeof(meta) - 1);
    assert_memory_equal(info.metadata, meta, sizeof(meta));
    assert_string_equal(info.meta_name, "demo_pkg");
    assert_string_equal(info.meta_version, "1.0");
    assert_string_equal(info.requires_python, ">=3.8");
    assert_string_equal(info.wheel_tags,
                        "cp311-cp311-manylinux_2_17_x86_64,cp311-cp311-manylinux2014_x86_64");
    assert_string_equal(info.root_is_purelib, "false");
    wf_wheel_info_release(&info);
    assert_null(info.metadata);
    wf_wheel_info_release(NULL);
    free(path);
}

static void test_generated_wheel(void **state)
{
    (void)state;
    char *path = tmp_path("demo-1.0-py3-none-any.whl");
    wg_good_wheel(path, "demo-1.0", "Demo", "1.0", "py3-none-any");
    wf_wheel_info info;
    assert_int_equal(wf_wheel_inspect(path, &info, NULL), 0);
    assert_string_equal(info.meta_name, "Demo");
    assert_string_equal(info.requires_python, ">=3.9");
    assert_string_equal(info.wheel_tags, "py3-none-any");
    assert_non_null(strstr(info.metadata, "long description\n"));
    wf_wheel_info_release(&info);
    free(path);
}

static void test_record_mismatch(void **state)
{
    (void)state;
    wg_file good[] = {
        {"demo/a.py", "A = 1\n", 0}, {DI "/METADATA", META, 0}, {DI "/WHEEL", WHEEL, 0}};
    wg_file bad[] = {
        {"demo/a.py", "A = 2\n", 0}, {DI "/METADATA", META, 0}, {DI "/WHEEL", WHEEL, 0}};
    char *path = make(bad, 3, good, 3);
    expect_fail(path, WF_EHASH, "'demo/a.py' does not match RECORD: RECORD says sha256=",
                "the content has sha256=");
    free(path);

    /* Same bytes at the start, one more at the end: the hash differs, and so would the size. */
    wg_file longer[] = {
        {"demo/a.py", "A = 1\n\n", 0}, {DI "/METADATA", META, 0}, {DI "/WHEEL", WHEEL, 0}};
    path = make(longer, 3, good, 3);
    expect_fail(path, WF_EHASH, "'demo/a.py' does not match RECORD", NULL);
    free(path);
}

static void test_record_size_mismatch(void **state)
{
    (void)state;
    wg_file files[] = {
        {"demo/a.py", "A = 1\n", 0}, {DI "/METADATA", META, 0}, {DI "/WHEEL", WHEEL, 0}};
    char *record = wg_record(files, 3, DI "/RECORD");
    char *six = strstr(record, ",6\n");
    assert_non_null(six);
    six[1] = '7';
    char *path = tmp_path("t.whl");
    wg_write_zip(path, files, 3, DI "/RECORD", record);
    expect_fail(path, WF_EHASH, "RECORD says 7 bytes, the content has 6", "demo/a.py");
    free(record);
    free(path);
}

static void test_not_in_record(void **state)
{
    (void)state;
    wg_file files[] = {{"demo/a.py", "A\n", 0},
                       {"demo/sneaky.py", "import os\n", 0},
                       {DI "/METADATA", META, 0},
                       {DI "/WHEEL", WHEEL, 0}};
    wg_file listed[] = {files[0], files[2], files[3]};
    char *path = make(files, 4, listed, 3);
    expect_fail(path, WF_EARCHIVE, "'demo/sneaky.py' is in the wheel but not listed in RECORD",
                NULL);
    free(path);

    /* And the other way: RECORD names a file the zip does not have. */
    path = make(listed, 3, files, 4);
    expect_fail(path, WF_EARCHIVE, "lists 'demo/sneaky.py', which is not in the wheel", NULL);
    free(path);
}

static void test_path_traversal(void **state)
{
    (void)state;
    /* libarchive (like Python's zipfile) reads '\' in zip names as '/'. */
    const char *names[][2] = {{"../evil.py", "'../evil.py'"},
                              {"/etc/evil.py", "'/etc/evil.py'"},
                              {"demo/../../evil.py", "'demo/../../evil.py'"},
                              {"demo//x.py", "'demo//x.py'"},
                              {"demo\\..\\x.py", "'demo/../x.py'"},
                              {"./x.py", "'./x.py'"}};
    for (size_t i = 0; i < WF_ARRAY_SIZE(names); i++) {
        wg_file files[] = {
            {names[i][0], "x\n", 0}, {DI "/METADATA", META, 0}, {DI "/WHEEL", WHEEL, 0}};
        char *path = make(files, 3, NULL, 0);
        expect_fail(path, WF_EARCHIVE, names[i][1], "points outside the archive");
        free(path);
    }
    /* A RECORD row pointing outside, while the zip itself is clean. */
    wg_file files[] = {{"demo/a.py", "A\n", 0}, {DI "/METADATA", META, 0}, {DI "/WHEEL", WHEEL, 0}};
    char *record = wg_record(files, 3, DI "/RECORD");
    char *rec2 = wf_asprintf("%s../../bin/evil,sha256=x,1\n", record);
    char *path = tmp_path("t.whl");
    wg_write_zip(path, files, 3, DI "/RECORD", rec2);
    expect_fail(path, WF_EARCHIVE, "RECORD line 5: '../../bin/evil' points outside", NULL);
    free(path);
    free(rec2);
    free(record);
}

static void test_dist_info_shape(void **state)
{
    (void)state;
    wg_file two[] = {{DI "/METADATA", META, 0},
                     {DI "/WHEEL", WHEEL, 0},
                     {"other-2.0.dist-info/METADATA", META, 0}};
    char *path = make(two, 3, NULL, 0);
    expect_fail(path, WF_EARCHIVE, "two .dist-info directories", "'other-2.0.dist-info/'");
    free(path);

    wg_file no_wheel[] = {{DI "/METADATA", META, 0}};
    path = make(no_wheel, 1, NULL, 0);
    expect_fail(path, WF_EARCHIVE, "no '" DI "/WHEEL'", NULL);
    free(path);

    wg_file none[] = {{"demo/a.py", "A\n", 0}};
    path = tmp_path("t.whl");
    wg_write_zip(path, none, 1, NULL, NULL);
    expect_fail(path, WF_EARCHIVE, "no '*.dist-info/' directory", NULL);

    wg_file no_record[] = {{DI "/METADATA", META, 0}, {DI "/WHEEL", WHEEL, 0}};
    wg_write_zip(path, no_record, 2, NULL, NULL);
    expect_fail(path, WF_EARCHIVE, "no '" DI "/RECORD'", NULL);
    free(path);

    wg_file no_name[] = {{DI "/METADATA", "Metadata-Version: 2.1\nVersion: 1.0\n", 0},
                         {DI "/WHEEL", WHEEL, 0}};
    path = make(no_name, 2, NULL, 0);
    expect_fail(path, WF_EARCHIVE, "'" DI "/METADATA' has no 'Name:' field", NULL);
    free(path);

    wg_file wheel2[] = {{DI "/METADATA", META, 0}, {DI "/WHEEL", "Wheel-Version: 2.0\n", 0}};
    path = make(wheel2, 2, NULL, 0);
    expect_fail(path, WF_EARCHIVE, "Wheel-Version '2.0'; expected 1.x", NULL);
    free(path);
}

static void test_duplicate_member(void **state)
{
    (void)state;
    wg_file files[] = {{"demo/a.py", "A\n", 0},
                       {DI "/METADATA", META, 0},
                       {DI "/WHEEL", WHEEL, 0},
                       {"demo/a.py", "B\n", 0}};
    char *path = make(files, 4, files, 3);
    expect_fail(path, WF_EARCHIVE, "member 'demo/a.py' appears twice", NULL);
    free(path);
}

static void test_bad_hash_fields(void **state)
{
    (void)state;
    wg_file files[] = {{"demo/a.py", "A\n", 0}, {DI "/METADATA", META, 0}, {DI "/WHEEL", WHEEL, 0}};
    const char *records[] = {
        "demo/a.py,md5=abc,2\n",
        "demo/a.py,,\n",
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(records); i++) {
        char *rest = wg_record(files + 1, 2, DI "/RECORD");
        char *record = wf_asprintf("%s%s", records[i], rest);
        char *path = tmp_path("t.whl");
        wg_write_zip(path, files, 3, DI "/RECORD", record);
        expect_fail(path, WF_EHASH, "RECORD line 1: 'demo/a.py' has hash", "expected 'sha256=");
        free(path);
        free(record);
        free(rest);
    }
    /* A broken CSV row and a row with too many fields. */
    char *rest = wg_record(files, 3, DI "/RECORD");
    char *record = wf_asprintf("%s\"unterminated,sha256=x,1\n", rest);
    char *path = tmp_path("t.whl");
    wg_write_zip(path, files, 3, DI "/RECORD", record);
    expect_fail(path, WF_EARCHIVE, "RECORD line 5: broken CSV quoting", NULL);
    free(record);
    record = wf_asprintf("demo/a.py,sha256=x,2,extra\n%s", rest);
    wg_write_zip(path, files, 3, DI "/RECORD", record);
    expect_fail(path, WF_EARCHIVE, "RECORD line 1 has 4 fields; expected 3", NULL);
    free(record);
    free(rest);
    free(path);
}

static void test_not_a_zip(void **state)
{
    (void)state;
    char *path = tmp_path("t.whl");
    const char junk[] = "this is not a zip file at all, just text\n";
    assert_int_equal(wf_fs_write_atomic(path, junk, sizeof(junk) - 1, 0644), 0);
    expect_fail(path, WF_EARCHIVE, "t.whl: not a readable zip file", NULL);
    free(path);

    path = tmp_path("missing.whl");
    expect_fail(path, UV_ENOENT, "missing.whl: cannot open", NULL);
    free(path);
}

static void test_symlink_member(void **state)
{
    (void)state;
    char *path = tmp_path("t.whl");
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "demo/link");
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_set_symlink(e, "/etc/passwd");
    archive_entry_set_perm(e, 0777);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    archive_entry_free(e);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    expect_fail(path, WF_EARCHIVE, "member 'demo/link' is not a regular file or directory", NULL);
    free(path);
}

static void test_entry_limit(void **state)
{
    (void)state;
    char *path = tmp_path("t.whl");
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format_zip(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (int i = 0; i <= WF_WHEEL_MAX_ENTRIES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "d/%d", i);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, 0);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    expect_fail(path, WF_ELIMIT, "more than 100000 members", NULL);
    free(path);
}

static int setup(void **state)
{
    (void)state;
    if (wf_hash_init() != 0 || mkdtemp(tmpdir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return wf_fs_remove_tree(tmpdir) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_python_made_wheel), cmocka_unit_test(test_generated_wheel),
        cmocka_unit_test(test_record_mismatch),   cmocka_unit_test(test_record_size_mismatch),
        cmocka_unit_test(test_not_in_record),     cmocka_unit_test(test_path_traversal),
        cmocka_unit_test(test_dist_info_shape),   cmocka_unit_test(test_duplicate_member),
        cmocka_unit_test(test_bad_hash_fields),   cmocka_unit_test(test_not_a_zip),
        cmocka_unit_test(test_symlink_member),    cmocka_unit_test(test_entry_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
