/* test-collector.c - unit tests for daemon/collector.c: a good wheel lands in the store with its
 * .metadata; every mismatch is a clear error that leaves nothing in the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/collector.h"
#include "lib/fsutil.h"
#include "lib/hash.h"
#include "lib/wf.h"
#include "lib/wheelfile.h"
#include "tests/fixtures/wheels/wheelgen.h"

#define GOOD "demo_pkg-1.0-cp311-cp311-manylinux_2_36_x86_64.whl"

typedef struct fixture {
    char root[64];
    char *out, *dest;
    wf_collect_expect e;
} fixture;

/* Puts a sound wheel named filename into out/, with the given METADATA name and version. */
static void put_wheel(fixture *f, const char *filename, const char *name, const char *version)
{
    char *path = wf_asprintf("%s/%s", f->out, filename);
    wg_good_wheel(path, "demo_pkg-1.0", name, version, "cp311-cp311-manylinux_2_36_x86_64");
    free(path);
}

/* Number of entries in dir (0 when it does not exist); names them on stderr when > want. */
static size_t count_entries(const char *dir, size_t want)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n++;
        if (n > want)
            print_error("unexpected entry in '%s': '%s'\n", dir, de->d_name);
    }
    closedir(d);
    return n;
}

/* Collects, expecting failure `code` with a message containing want1 (and want2), and no new
 * file in the store beyond the `left` entries that were there before. */
static void expect_fail(fixture *f, int code, const char *want1, const char *want2, size_t left)
{
    wf_collected c = {.filename = (char *)"untouched"};
    char *err = NULL;
    int rc = wf_collect_wheel(f->out, &f->e, f->dest, &c, &err);
    if (rc != code || err == NULL || strstr(err, want1) == NULL ||
        (want2 && strstr(err, want2) == NULL))
        print_error("rc %d (%s), message: %s\n", rc, wf_strerror(rc), err ? err : "(null)");
    assert_int_equal(rc, code);
    assert_non_null(err);
    assert_non_null(strstr(err, want1));
    if (want2 != NULL)
        assert_non_null(strstr(err, want2));
    assert_string_equal(c.filename, "untouched");
    assert_int_equal(count_entries(f->dest, left), left);
    free(err);
}

/* Collects, expecting success; returns what was collected. */
static wf_collected expect_ok(fixture *f)
{
    wf_collected c;
    char *err = NULL;
    int rc = wf_collect_wheel(f->out, &f->e, f->dest, &c, &err);
    if (rc != 0)
        print_error("rc %d: %s\n", rc, err ? err : "(null)");
    assert_int_equal(rc, 0);
    assert_null(err);
    return c;
}

static void test_good_wheel(void **state)
{
    fixture *f = *state;
    put_wheel(f, GOOD, "Demo.Pkg", "1.0");
    wf_collected c = expect_ok(f);
    char *final = wf_asprintf("%s/%s", f->dest, GOOD);
    char *src = wf_asprintf("%s/%s", f->out, GOOD);
    char *meta_path = wf_asprintf("%s.metadata", final);
    assert_string_equal(c.filename, GOOD);
    assert_string_equal(c.path, final);
    assert_string_equal(c.platform_tag, "manylinux_2_36_x86_64");
    assert_string_equal(c.requires_python, ">=3.9");

    /* The stored bytes are the built bytes, and the hash is theirs. */
    char hex_src[WF_SHA256_HEX_LEN + 1], hex_final[WF_SHA256_HEX_LEN + 1];
    uint64_t size;
    assert_int_equal(wf_sha256_file(src, hex_src, &size), 0);
    assert_int_equal(wf_sha256_file(final, hex_final, NULL), 0);
    assert_string_equal(c.sha256, hex_src);
    assert_string_equal(c.sha256, hex_final);
    assert_int_equal(c.size, (int64_t)size);

    /* PEP 658: "<wheel>.metadata" is METADATA byte for byte. */
    wf_wheel_info info;
    char *meta = NULL;
    size_t meta_len = 0;
    char hex_meta[WF_SHA256_HEX_LEN + 1];
    assert_int_equal(wf_wheel_inspect(final, &info, NULL), 0);
    assert_int_equal(wf_fs_read_file(meta_path, 1 << 20, &meta, &meta_len), 0);
    assert_int_equal(meta_len, info.metadata_len);
    assert_memory_equal(meta, info.metadata, meta_len);
    wf_sha256_hex(meta, meta_len, hex_meta);
    assert_string_equal(c.metadata_sha256, hex_meta);
    assert_int_equal(count_entries(f->dest, 2), 2);
    assert_int_equal(count_entries(f->out, 1), 1); /* the build output is left alone */

    /* Collecting the same bytes again is success and changes nothing. */
    wf_collected again = expect_ok(f);
    assert_string_equal(again.sha256, c.sha256);
    assert_int_equal(count_entries(f->dest, 2), 2);

    /* A lost .metadata is written again next to the identical wheel. */
    assert_int_equal(unlink(meta_path), 0);
    wf_collected third = expect_ok(f);
    assert_int_equal(count_entries(f->dest, 2), 2);
    free(meta);
    assert_int_equal(wf_fs_read_file(meta_path, 1 << 20, &meta, &meta_len), 0);
    assert_memory_equal(meta, info.metadata, meta_len);

    wf_collected_release(&third);
    wf_collected_release(&again);
    wf_collected_release(&c);
    assert_null(c.path);
    wf_collected_release(NULL);
    wf_wheel_info_release(&info);
    free(meta);
    free(meta_path);
    free(src);
    free(final);
}

static void test_accepted_variants(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *file, *platform, *version, *platform_tag;
    } cases[] = {
        {"demo_pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "linux/amd64",
         "1.0", "manylinux_2_17_x86_64.manylinux2014_x86_64"},
        {"demo_pkg-1.0-cp311-cp311-manylinux_2_36_aarch64.whl", "linux/arm64", "1.0",
         "manylinux_2_36_aarch64"},
        {"demo_pkg-1.0-cp38-abi3-manylinux_2_17_x86_64.whl", "linux/amd64", "1.0",
         "manylinux_2_17_x86_64"},
        {"demo_pkg-1.0-py3-none-any.whl", "linux/arm64", "1.0", "any"},
        {"Demo_Pkg-1.0-1-cp311-cp311-linux_x86_64.whl", "linux/amd64", "v1.0", "linux_x86_64"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char *dest = wf_asprintf("%s/store%zu", f->root, i);
        char *src = wf_asprintf("%s/%s", f->out, cases[i].file);
        const char *meta_version = i == 4 ? "01.0" : "1.0";
        put_wheel(f, cases[i].file, "demo-pkg", meta_version);
        f->e.platform = cases[i].platform;
        f->e.version = cases[i].version;
        wf_collected c;
        char *err = NULL;
        int rc = wf_collect_wheel(f->out, &f->e, dest, &c, &err);
        if (rc != 0)
            print_error("%s: %s\n", cases[i].file, err);
        assert_int_equal(rc, 0);
        assert_string_equal(c.platform_tag, cases[i].platform_tag);
        assert_string_equal(c.filename, cases[i].file);
        wf_collected_release(&c);
        assert_int_equal(unlink(src), 0);
        free(src);
        free(dest);
    }
}

static void test_out_dir_contents(void **state)
{
    fixture *f = *state;
    char *log = wf_asprintf("%s/build.log", f->out);
    assert_int_equal(wf_fs_write_atomic(log, "log\n", 4, 0644), 0);
    expect_fail(f, WF_ENOTFOUND, "the build left no wheel in", "found: 'build.log'", 0);

    put_wheel(f, GOOD, "demo-pkg", "1.0");
    put_wheel(f, "demo_pkg-1.0-cp311-cp311-manylinux_2_36_aarch64.whl", "demo-pkg", "1.0");
    expect_fail(f, WF_EINVAL, "the build left 2 wheels in", "expected exactly one", 0);
    free(log);

    char *saved = f->out;
    f->out = wf_asprintf("%s/nope", f->root);
    expect_fail(f, UV_ENOENT, "cannot open build output directory", "nope", 0);
    free(f->out);
    f->out = saved;
}

static void test_name_checks(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *file, *meta_name, *meta_version, *want1, *want2;
    } cases[] = {
        {"demo_pkg-1.0-cp311-cp311-manylinux_2_36_aarch64.whl", "demo-pkg", "1.0",
         "platform tag 'manylinux_2_36_aarch64', not one for x86_64", "linux/amd64"},
        {"demo_pkg-1.0-cp311-cp311-macosx_11_0_x86_64.whl", "demo-pkg", "1.0",
         "platform tag 'macosx_11_0_x86_64'", NULL},
        {"demo_pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux_2_17_aarch64.whl", "demo-pkg",
         "1.0", "platform tag 'manylinux_2_17_aarch64'", NULL},
        {"demo_pkg-1.0-cp310-cp310-manylinux_2_36_x86_64.whl", "demo-pkg", "1.0",
         "is not for python 'cp311'", NULL},
        {"demo_pkg-1.0-cp312-abi3-manylinux_2_36_x86_64.whl", "demo-pkg", "1.0",
         "is not for python 'cp311'", NULL},
        {"demo_pkg-1.0-py2-none-any.whl", "demo-pkg", "1.0", "is not for python 'cp311'", NULL},
        {"demo_pkg-1.1-cp311-cp311-manylinux_2_36_x86_64.whl", "demo-pkg", "1.1",
         "has version '1.1', expected '1.0'", NULL},
        {"other-1.0-cp311-cp311-manylinux_2_36_x86_64.whl", "other", "1.0",
         "is for project 'other', expected 'demo-pkg'", NULL},
        {"demo_pkg.whl", "demo-pkg", "1.0", "'demo_pkg.whl' is not a valid wheel file name", NULL},
        {GOOD, "other", "1.0", "METADATA says Name 'other'", "say 'demo-pkg'"},
        {GOOD, "demo-pkg", "2.0", "METADATA says Version '2.0'", "say '1.0'"},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char *src = wf_asprintf("%s/%s", f->out, cases[i].file);
        put_wheel(f, cases[i].file, cases[i].meta_name, cases[i].meta_version);
        expect_fail(f, WF_EINVAL, cases[i].want1, cases[i].want2, 0);
        assert_int_equal(unlink(src), 0);
        free(src);
    }
}

/* Writes a broken wheel GOOD into out/: files as given, RECORD computed from record_files. */
static void put_broken(fixture *f, const wg_file *files, size_t n, const wg_file *rfiles, size_t rn)
{
    char *path = wf_asprintf("%s/%s", f->out, GOOD);
    char *record = wg_record(rfiles, rn, "demo_pkg-1.0.dist-info/RECORD");
    wg_write_zip(path, files, n, "demo_pkg-1.0.dist-info/RECORD", record);
    free(record);
    free(path);
}

static void test_broken_wheels(void **state)
{
    fixture *f = *state;
#define M "demo_pkg-1.0.dist-info/METADATA"
#define W "demo_pkg-1.0.dist-info/WHEEL"
    const char *meta = "Name: demo-pkg\nVersion: 1.0\n";
    const char *wheel = "Wheel-Version: 1.0\nTag: cp311-cp311-manylinux_2_36_x86_64\n";
    wg_file good[] = {{"pkg/a.so", "ELF", 0}, {M, meta, 0}, {W, wheel, 0}};
    wg_file tampered[] = {{"pkg/a.so", "FLE", 0}, {M, meta, 0}, {W, wheel, 0}};
    put_broken(f, tampered, 3, good, 3);
    expect_fail(f, WF_EHASH, "wheel '" GOOD "' is broken: 'pkg/a.so' does not match RECORD", NULL,
                0);

    wg_file extra[] = {{"pkg/a.so", "ELF", 0}, {"pkg/b.so", "x", 0}, {M, meta, 0}, {W, wheel, 0}};
    put_broken(f, extra, 4, good, 3);
    expect_fail(f, WF_EARCHIVE, "'pkg/b.so' is in the wheel but not listed in RECORD", NULL, 0);

    wg_file escape[] = {{"../../etc/cron.d/x", "x", 0}, {M, meta, 0}, {W, wheel, 0}};
    put_broken(f, escape, 3, escape, 3);
    expect_fail(f, WF_EARCHIVE, "member '../../etc/cron.d/x' points outside the archive", NULL, 0);
#undef M
#undef W
}

static void test_existing_different(void **state)
{
    fixture *f = *state;
    char *final = wf_asprintf("%s/%s", f->dest, GOOD);
    assert_int_equal(wf_fs_mkdirs(f->dest, 0755), 0);
    assert_int_equal(wf_fs_write_atomic(final, "older build", 11, 0644), 0);
    put_wheel(f, GOOD, "demo-pkg", "1.0");
    expect_fail(f, WF_EEXIST, "is already published with sha256",
                "a published file is never replaced", 1);
    char *kept = NULL;
    size_t len = 0;
    assert_int_equal(wf_fs_read_file(final, 100, &kept, &len), 0);
    assert_string_equal(kept, "older build");
    free(kept);
    free(final);
}

static void test_orphan_metadata(void **state)
{
    fixture *f = *state;
    /* A .metadata without its wheel (a collect interrupted between the two renames) is
     * replaced; one next to a stored wheel is not. */
    char *meta_path = wf_asprintf("%s/%s.metadata", f->dest, GOOD);
    assert_int_equal(wf_fs_mkdirs(f->dest, 0755), 0);
    assert_int_equal(wf_fs_write_atomic(meta_path, "stale", 5, 0644), 0);
    put_wheel(f, GOOD, "demo-pkg", "1.0");
    wf_collected c = expect_ok(f);
    char *meta = NULL;
    size_t len = 0;
    assert_int_equal(wf_fs_read_file(meta_path, 1 << 20, &meta, &len), 0);
    assert_non_null(strstr(meta, "Name: demo-pkg\n"));
    free(meta);
    assert_int_equal(wf_fs_write_atomic(meta_path, "tampered", 8, 0644), 0);
    expect_fail(f, WF_EEXIST, "differs from the METADATA of the identical", NULL, 2);
    assert_int_equal(wf_fs_read_file(meta_path, 1 << 20, &meta, &len), 0);
    assert_string_equal(meta, "tampered");
    free(meta);
    wf_collected_release(&c);
    free(meta_path);
}

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/wf-test-collector-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    f->out = wf_asprintf("%s/out", f->root);
    f->dest = wf_asprintf("%s/index/files/demo-pkg", f->root);
    if (mkdir(f->out, 0755) != 0)
        return -1;
    f->e = (wf_collect_expect){"demo-pkg", "1.0", "cp311", "linux/amd64"};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = wf_fs_remove_tree(f->root);
    free(f->out);
    free(f->dest);
    free(f);
    return rc == 0 ? 0 : -1;
}

int main(void)
{
    if (wf_hash_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_wheel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accepted_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_dir_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_name_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_wheels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_different, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_metadata, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
