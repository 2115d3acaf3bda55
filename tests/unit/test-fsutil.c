/* test-fsutil.c - unit tests for lib/fsutil.c: mkdir -p, rm -rf, atomic writes, bounded reads,
 * subpaths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "lib/fsutil.h"
#include "lib/wf.h"

typedef struct fixture {
    char root[64];
} fixture;

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/wf-test-fsutil-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = wf_fs_remove_tree(f->root);
    free(f);
    return rc;
}

static char *at(fixture *f, const char *rel)
{
    return wf_asprintf("%s/%s", f->root, rel);
}

static int is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void put(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void test_mkdirs(void **state)
{
    fixture *f = *state;
    char *deep = at(f, "a/b/c/d");
    assert_int_equal(wf_fs_mkdirs(deep, 0750), 0);
    assert_true(is_dir(deep));
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    mode_t um = umask(0);
    umask(um);
    assert_int_equal(st.st_mode & 0777, 0750 & ~um);
    /* Existing directories, and a trailing slash, are fine. */
    assert_int_equal(wf_fs_mkdirs(deep, 0750), 0);
    char *slash = at(f, "a/b/e/");
    assert_int_equal(wf_fs_mkdirs(slash, 0755), 0);
    assert_true(is_dir(slash));
    assert_int_equal(wf_fs_mkdirs(f->root, 0755), 0);

    /* A file in the way of a parent is an error. */
    char *file = at(f, "a/file");
    put(file, "x");
    char *under = at(f, "a/file/sub");
    assert_int_equal(wf_fs_mkdirs(under, 0755), UV_ENOTDIR);
    free(deep);
    free(slash);
    free(file);
    free(under);
}

/* mkdir -p on a path that exists as a regular file must fail: the caller would go on to create
 * files "inside" it. */
static void test_mkdirs_over_file(void **state)
{
    fixture *f = *state;
    char *file = at(f, "plain");
    put(file, "x");
    int rc = wf_fs_mkdirs(file, 0755);
    free(file);
    if (rc != UV_EEXIST && rc != UV_ENOTDIR)
        fail_msg("mkdirs over a regular file returned %d (%s), want UV_EEXIST or UV_ENOTDIR", rc,
                 wf_strerror(rc));
}

static void test_remove_tree(void **state)
{
    fixture *f = *state;
    char *top = at(f, "tree");
    char *deep = at(f, "tree/x/y/z");
    assert_int_equal(wf_fs_mkdirs(deep, 0755), 0);
    char *p1 = at(f, "tree/x/y/z/file");
    char *p2 = at(f, "tree/x/top-file");
    char *p3 = at(f, "tree/empty");
    put(p1, "1");
    put(p2, "2");
    assert_int_equal(mkdir(p3, 0700), 0);
    char *locked = at(f, "tree/x/second");
    assert_int_equal(mkdir(locked, 0755), 0);
    char *lf = at(f, "tree/x/second/f");
    put(lf, "3");

    assert_int_equal(wf_fs_remove_tree(top), 0);
    assert_false(exists(top));
    assert_int_equal(count_entries(f->root), 0);

    /* A missing path is success; so is a single file. */
    assert_int_equal(wf_fs_remove_tree(top), 0);
    char *single = at(f, "single");
    put(single, "s");
    assert_int_equal(wf_fs_remove_tree(single), 0);
    assert_false(exists(single));
    free(top);
    free(deep);
    free(p1);
    free(p2);
    free(p3);
    free(locked);
    free(lf);
    free(single);
}

/* Symlinks are removed, never followed: what they point at survives. */
static void test_remove_tree_symlinks(void **state)
{
    fixture *f = *state;
    char *outside = at(f, "outside");
    char *keep = at(f, "outside/keep.txt");
    char *keepdir = at(f, "outside/sub");
    assert_int_equal(wf_fs_mkdirs(keepdir, 0755), 0);
    put(keep, "precious");
    char *tree = at(f, "tree");
    assert_int_equal(mkdir(tree, 0755), 0);
    char *l1 = at(f, "tree/link-to-dir");
    char *l2 = at(f, "tree/link-to-file");
    char *l3 = at(f, "tree/dangling");
    assert_int_equal(symlink(outside, l1), 0);
    assert_int_equal(symlink(keep, l2), 0);
    assert_int_equal(symlink("/nonexistent/wf-test", l3), 0);

    assert_int_equal(wf_fs_remove_tree(tree), 0);
    assert_false(exists(tree));
    assert_true(is_dir(outside));
    assert_true(is_dir(keepdir));
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(wf_fs_read_file(keep, 100, &data, &len), 0);
    assert_string_equal(data, "precious");
    free(data);

    /* The top path itself a symlink to a directory: the link goes, the target stays. */
    char *toplink = at(f, "toplink");
    assert_int_equal(symlink(outside, toplink), 0);
    assert_int_equal(wf_fs_remove_tree(toplink), 0);
    assert_false(exists(toplink));
    assert_true(exists(keep));
    assert_true(is_dir(keepdir));

    free(outside);
    free(keep);
    free(keepdir);
    free(tree);
    free(l1);
    free(l2);
    free(l3);
    free(toplink);
}

static void test_write_atomic(void **state)
{
    fixture *f = *state;
    char *path = at(f, "out.bin");
    const char data[] = "line one\nline two\0with a NUL";
    assert_int_equal(wf_fs_write_atomic(path, data, sizeof(data), 0640), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(st.st_size, sizeof(data));
    char *back = NULL;
    size_t len = 0;
    assert_int_equal(wf_fs_read_file(path, 1024, &back, &len), 0);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(back, data, sizeof(data));
    free(back);
    assert_int_equal(count_entries(f->root), 1); /* no temp file left behind */

    /* Replacing: new content and mode; the old inode is not written in place. */
    ino_t old_ino = st.st_ino;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(wf_fs_write_atomic(path, "new", 3, 0600), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_not_equal(st.st_ino, old_ino);
    char old[8] = {0};
    assert_int_equal(read(fd, old, 4), 4); /* a reader of the old file still sees it whole */
    assert_memory_equal(old, "line", 4);
    close(fd);
    assert_int_equal(wf_fs_read_file(path, 1024, &back, &len), 0);
    assert_string_equal(back, "new");
    assert_int_equal(len, 3);
    free(back);

    /* Empty content is a real, empty file. */
    assert_int_equal(wf_fs_write_atomic(path, "", 0, 0644), 0);
    assert_int_equal(wf_fs_read_file(path, 1024, &back, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(back, "");
    free(back);
    assert_int_equal(count_entries(f->root), 1);

    /* A missing directory fails cleanly and leaves nothing. */
    char *bad = at(f, "no/such/dir/file");
    assert_int_equal(wf_fs_write_atomic(bad, "x", 1, 0644), UV_ENOENT);
    assert_int_equal(count_entries(f->root), 1);
    free(bad);
    free(path);
}

static void test_read_file(void **state)
{
    fixture *f = *state;
    char *path = at(f, "in.txt");
    char big[200000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    assert_int_equal(wf_fs_write_atomic(path, big, sizeof(big), 0644), 0);

    char *data = (char *)0x1;
    size_t len = 777;
    /* One byte under the size: WF_ELIMIT, outputs untouched. */
    assert_int_equal(wf_fs_read_file(path, sizeof(big) - 1, &data, &len), WF_ELIMIT);
    assert_ptr_equal(data, (char *)0x1);
    assert_int_equal(len, 777);
    assert_int_equal(wf_fs_read_file(path, 10, &data, &len), WF_ELIMIT);
    /* Exactly the size is fine, and the buffer is NUL-terminated. */
    assert_int_equal(wf_fs_read_file(path, sizeof(big), &data, &len), 0);
    assert_int_equal(len, sizeof(big));
    assert_memory_equal(data, big, sizeof(big));
    assert_int_equal(data[len], '\0');
    free(data);

    char *missing = at(f, "missing");
    data = NULL;
    assert_int_equal(wf_fs_read_file(missing, 10, &data, &len), UV_ENOENT);
    assert_null(data);
    assert_int_equal(wf_fs_read_file(f->root, 10, &data, &len), UV_EISDIR);
    assert_null(data);
    free(missing);
    free(path);
}

/* The recipe repository's `path` (lib/config.c) and the subpaths gitrepo.c exports and diffs
 * go through this one check. */
static void test_subpath_normalize(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want; /* NULL: refused */
    } cases[] = {
        {"", ""},
        {".", ""},
        {"./", ""},
        {"recipes", "recipes"},
        {"recipes/", "recipes"},
        {"./recipes", "recipes"},
        {"./recipes/", "recipes"},
        {"a/./b/", "a/b"},
        {"a//b///c", "a/b/c"},
        {"recipes/b.yaml", "recipes/b.yaml"},
        {".hidden/..x/x..", ".hidden/..x/x.."},
        {"/a", NULL},
        {"/", NULL},
        {"..", NULL},
        {"../etc", NULL},
        {"a/../b", NULL},
        {"a/..", NULL},
        {"./../a", NULL},
    };
    for (size_t i = 0; i < WF_ARRAY_SIZE(cases); i++) {
        char *got = wf_fs_subpath_normalize(cases[i].in);
        if (cases[i].want == NULL && got != NULL)
            fail_msg("'%s': want it refused, got '%s'", cases[i].in, got);
        if (cases[i].want != NULL && (got == NULL || strcmp(got, cases[i].want) != 0))
            fail_msg("'%s': want '%s', got %s%s%s", cases[i].in, cases[i].want, got ? "'" : "",
                     got ? got : "NULL (refused)", got ? "'" : "");
        free(got);
    }
    /* No path at all is the root. */
    char *root = wf_fs_subpath_normalize(NULL);
    assert_string_equal(root, "");
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdirs_over_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_tree_symlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
        cmocka_unit_test(test_subpath_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
