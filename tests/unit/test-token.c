/* test-token.c - unit tests for daemon/token.c: generate on first use, reread, refuse short ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/token.h"
#include "lib/fsutil.h"
#include "lib/hash.h"
#include "lib/wf.h"

typedef struct fixture {
    char root[64];
    char *path;
} fixture;

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/wf-test-token-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    f->path = wf_asprintf("%s/api-token", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = wf_fs_remove_tree(f->root);
    free(f->path);
    free(f);
    return rc;
}

static int is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void test_generated_then_reread(void **state)
{
    fixture *f = *state;
    char *tok = NULL, *err = NULL;
    assert_int_equal(wf_token_load(f->path, &tok, &err), 0);
    assert_null(err);
    assert_non_null(tok);
    assert_true(is_hex64(tok));

    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(wf_fs_read_file(f->path, 4096, &data, &len), 0);
    assert_int_equal(len, 65);
    assert_memory_equal(data, tok, 64);
    assert_int_equal(data[64], '\n');
    free(data);

    char *again = NULL;
    assert_int_equal(wf_token_load(f->path, &again, &err), 0);
    assert_null(err);
    assert_string_equal(again, tok);
    wf_token_free(again);

    /* Another missing file gets a different token (it is random). */
    char *other_path = wf_asprintf("%s/other", f->root);
    char *other = NULL;
    assert_int_equal(wf_token_load(other_path, &other, &err), 0);
    assert_true(is_hex64(other));
    assert_string_not_equal(other, tok);
    wf_token_free(other);
    free(other_path);
    wf_token_free(tok);
    wf_token_free(NULL);
}

/* A token written by a person: trailing whitespace is not part of it. */
static void test_user_token(void **state)
{
    fixture *f = *state;
    const char text[] = "my-own-token-of-24-chars \r\n";
    assert_int_equal(wf_fs_write_atomic(f->path, text, strlen(text), 0600), 0);
    char *tok = NULL, *err = NULL;
    assert_int_equal(wf_token_load(f->path, &tok, &err), 0);
    assert_null(err);
    assert_string_equal(tok, "my-own-token-of-24-chars");
    wf_token_free(tok);
}

static void test_too_short(void **state)
{
    fixture *f = *state;
    const char text[] = "short-token\n"; /* 11 characters */
    assert_int_equal(wf_fs_write_atomic(f->path, text, strlen(text), 0600), 0);
    char *tok = (char *)0x1, *err = NULL;
    assert_int_equal(wf_token_load(f->path, &tok, &err), WF_ECONFIG);
    assert_ptr_equal(tok, (char *)0x1);
    assert_non_null(err);
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "11 characters"));
    assert_non_null(strstr(err, "at least 16"));
    assert_non_null(strstr(err, "delete it"));
    free(err);
    /* The file is left as it was: the person decides. */
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(wf_fs_read_file(f->path, 4096, &data, &len), 0);
    assert_string_equal(data, text);
    free(data);

    /* Whitespace does not count toward the length. */
    assert_int_equal(wf_fs_write_atomic(f->path, "   \n\n", 5, 0600), 0);
    err = NULL;
    assert_int_equal(wf_token_load(f->path, &tok, &err), WF_ECONFIG);
    assert_non_null(strstr(err, "0 characters"));
    free(err);
}

static void test_unwritable(void **state)
{
    fixture *f = *state;
    char *path = wf_asprintf("%s/missing-dir/api-token", f->root);
    char *tok = NULL, *err = NULL;
    assert_int_equal(wf_token_load(path, &tok, &err), UV_ENOENT);
    assert_null(tok);
    assert_non_null(err);
    assert_non_null(strstr(err, "cannot create API token file"));
    assert_non_null(strstr(err, path));
    free(err);
    free(path);

    /* A directory where the file should be cannot be read. */
    err = NULL;
    assert_int_equal(wf_token_load(f->root, &tok, &err), UV_EISDIR);
    assert_non_null(strstr(err, "cannot read API token file"));
    free(err);
}

int main(void)
{
    if (wf_hash_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generated_then_reread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
