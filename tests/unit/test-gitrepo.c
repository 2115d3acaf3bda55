/* test-gitrepo.c - unit tests for daemon/gitrepo.c against real repositories made with the git
 * CLI in a temporary directory, and a silent TCP listener for the timeout and cancel paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/gitrepo.h"
#include "lib/fsutil.h"
#include "lib/hash.h"
#include "lib/wf.h"
#include "support/git_fixture.h"

typedef struct fixture {
    char root[64];
    char *src;    /* a non-bare repository with commits */
    char *mirror; /* where the mirror goes */
    char c1[41], c2[41];
} fixture;

static char *slurp(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (wf_fs_read_file(path, 1 << 20, &data, &len) != 0)
        return NULL;
    return data;
}

/* src: c1 = recipes/a.yaml, recipes/tools/run.sh (executable), README; c2 changes a.yaml, adds
 * recipes/b.yaml and changes README. Branch main points at c2; refs/pull/1/head at c1 and
 * refs/pull/2/head at c2. */
static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/wf-test-gitrepo.XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    git_fixture_isolate(f->root);
    f->src = wf_asprintf("%s/src", f->root);
    f->mirror = wf_asprintf("%s/state/git/mirror", f->root);
    assert_int_equal(wf_fs_mkdirs(f->src, 0755), 0);
    GIT(f->src, "init", "-q");
    git_fixture_put(f->src, "recipes/a.yaml", "name: a\n");
    git_fixture_put(f->src, "recipes/tools/run.sh", "#!/bin/sh\necho hi\n");
    char *sh = wf_asprintf("%s/recipes/tools/run.sh", f->src);
    assert_int_equal(chmod(sh, 0755), 0);
    free(sh);
    git_fixture_put(f->src, "README", "one\n");
    git_fixture_commit(f->src, "one", f->c1);
    git_fixture_put(f->src, "recipes/a.yaml", "name: a\nversions: [\"2\"]\n");
    git_fixture_put(f->src, "recipes/b.yaml", "name: b\n");
    git_fixture_put(f->src, "README", "two\n");
    git_fixture_commit(f->src, "two", f->c2);
    GIT(f->src, "update-ref", "refs/pull/1/head", f->c1);
    GIT(f->src, "update-ref", "refs/pull/2/head", f->c2);
    GIT(f->src, "update-ref", "refs/pull/2/merge", f->c2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    wf_fs_remove_tree(f->root);
    free(f->src);
    free(f->mirror);
    free(f);
    return 0;
}

static const char *const main_spec[] = {"+refs/heads/main:refs/heads/main"};

static wf_gitrepo *open_fetched(fixture *f, const char *url)
{
    wf_gitrepo *g = NULL;
    char *err = NULL;
    int rc = wf_gitrepo_open(&g, url, f->mirror, &err);
    assert_int_equal(rc, 0);
    rc = wf_gitrepo_fetch(g, main_spec, 1, &err);
    if (rc != 0)
        fail_msg("fetch: %s", err);
    return g;
}

static void test_fetch_and_resolve(void **state)
{
    fixture *f = *state;
    char *url = wf_asprintf("file://%s", f->src);
    wf_gitrepo *g = open_fetched(f, url);
    char out[41], *err = NULL;
    assert_int_equal(wf_gitrepo_resolve(g, "main", out, &err), 0);
    assert_string_equal(out, f->c2);
    assert_int_equal(wf_gitrepo_resolve(g, "refs/heads/main", out, &err), 0);
    assert_string_equal(out, f->c2);
    assert_int_equal(wf_gitrepo_resolve(g, f->c1, out, &err), 0);
    assert_string_equal(out, f->c1);
    /* Only the asked-for ref was fetched. */
    assert_int_equal(wf_gitrepo_resolve(g, "refs/pull/1/head", out, &err), WF_ENOTFOUND);
    assert_non_null(strstr(err, "refs/pull/1/head"));
    free(err);
    err = NULL;
    assert_int_equal(wf_gitrepo_resolve(g, "no-such-branch", out, &err), WF_ENOTFOUND);
    assert_non_null(strstr(err, "no-such-branch"));
    free(err);
    wf_gitrepo_close(g);
    /* Re-opening the existing mirror keeps what it holds; a plain path works as a URL too. */
    assert_int_equal(wf_gitrepo_open(&g, f->src, f->mirror, NULL), 0);
    assert_int_equal(wf_gitrepo_resolve(g, "main", out, NULL), 0);
    assert_string_equal(out, f->c2);
    char c3[41];
    git_fixture_commit(f->src, "three", c3);
    assert_int_equal(wf_gitrepo_fetch(g, main_spec, 1, NULL), 0);
    assert_int_equal(wf_gitrepo_resolve(g, "main", out, NULL), 0);
    assert_string_equal(out, c3);
    wf_gitrepo_close(g);
    free(url);
}

static void test_fetch_missing_branch(void **state)
{
    fixture *f = *state;
    wf_gitrepo *g = open_fetched(f, f->src);
    const char *spec[] = {"+refs/heads/nope:refs/heads/nope"};
    char out[41], *err = NULL;
    assert_int_equal(wf_gitrepo_fetch(g, spec, 1, &err), 0);
    assert_int_equal(wf_gitrepo_resolve(g, "refs/heads/nope", out, &err), WF_ENOTFOUND);
    free(err);
    wf_gitrepo_close(g);
}

static void test_fetch_pulls_and_prune(void **state)
{
    fixture *f = *state;
    wf_gitrepo *g = open_fetched(f, f->src);
    const char *spec[] = {"+refs/pull/*/head:refs/pull/*/head"};
    char out[41];
    assert_int_equal(wf_gitrepo_fetch(g, spec, 1, NULL), 0);
    assert_int_equal(wf_gitrepo_resolve(g, "refs/pull/1/head", out, NULL), 0);
    assert_string_equal(out, f->c1);
    GIT(f->src, "update-ref", "-d", "refs/pull/1/head");
    assert_int_equal(wf_gitrepo_fetch(g, spec, 1, NULL), 0);
    assert_int_equal(wf_gitrepo_resolve(g, "refs/pull/1/head", out, NULL), WF_ENOTFOUND);
    assert_int_equal(wf_gitrepo_resolve(g, "refs/pull/2/head", out, NULL), 0);
    /* Fetching the pull request heads never prunes the branch. */
    assert_int_equal(wf_gitrepo_resolve(g, "main", out, NULL), 0);
    wf_gitrepo_close(g);
}

static void test_fetch_commit(void **state)
{
    fixture *f = *state;
    wf_gitrepo *g = NULL;
    char *err = NULL, out[41];
    /* A commit only a pull request ref reaches: fetched by its id (the local transport allows
     * it), no refspec needed. */
    GIT(f->src, "checkout", "-q", "-b", "side", f->c1);
    char side[41];
    git_fixture_commit(f->src, "side", side);
    GIT(f->src, "update-ref", "refs/pull/3/head", side);
    GIT(f->src, "checkout", "-q", "main");
    GIT(f->src, "branch", "-q", "-D", "side");
    assert_int_equal(wf_gitrepo_open(&g, f->src, f->mirror, NULL), 0);
    assert_int_equal(wf_gitrepo_fetch_commit(g, side, NULL, 0, &err), 0);
    assert_int_equal(wf_gitrepo_resolve(g, side, out, NULL), 0);
    wf_gitrepo_close(g);
    /* Already present: no network at all, so even an unreachable URL succeeds. */
    assert_int_equal(wf_gitrepo_open(&g, "file:///nonexistent/repo", f->mirror, NULL), 0);
    assert_int_equal(wf_gitrepo_fetch_commit(g, side, main_spec, 1, &err), 0);
    wf_gitrepo_close(g);
    /* A commit the remote does not have. */
    assert_int_equal(wf_gitrepo_open(&g, f->src, f->mirror, NULL), 0);
    const char *ghost = "0123456789abcdef0123456789abcdef01234567";
    int rc = wf_gitrepo_fetch_commit(g, ghost, main_spec, 1, &err);
    assert_true(rc == WF_ENOTFOUND || rc == WF_EINFRA);
    assert_non_null(strstr(err, ghost));
    free(err);
    err = NULL;
    assert_int_equal(wf_gitrepo_fetch_commit(g, "main", NULL, 0, &err), WF_EINVAL);
    free(err);
    wf_gitrepo_close(g);
}

static int is_exec(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && (st.st_mode & 0111) != 0;
}

/* Entries of dir other than "." and ".."; fails on a leftover temporary directory. */
static int entries_without_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        assert_null(strstr(e->d_name, ".tmp-"));
        n++;
    }
    closedir(d);
    return n;
}

static void test_export(void **state)
{
    fixture *f = *state;
    wf_gitrepo *g = open_fetched(f, f->src);
    char *dest = wf_asprintf("%s/state/recipes-git/x", f->root);
    char *err = NULL;
    assert_int_equal(wf_gitrepo_export(g, f->c1, "recipes", dest, &err), 0);
    char *p = wf_asprintf("%s/a.yaml", dest);
    char *text = slurp(p);
    assert_string_equal(text, "name: a\n");
    free(text);
    char *sh = wf_asprintf("%s/tools/run.sh", dest);
    assert_true(is_exec(sh));
    assert_false(is_exec(p));
    char *b = wf_asprintf("%s/b.yaml", dest);
    assert_int_equal(access(b, F_OK), -1);
    char *readme = wf_asprintf("%s/README", dest);
    assert_int_equal(access(readme, F_OK), -1);
    /* Replacing an existing export with another commit's tree. */
    assert_int_equal(wf_gitrepo_export(g, f->c2, "./recipes/", dest, &err), 0);
    text = slurp(p);
    assert_string_equal(text, "name: a\nversions: [\"2\"]\n");
    free(text);
    assert_int_equal(access(b, F_OK), 0);
    /* The root, and a single file. */
    assert_int_equal(wf_gitrepo_export(g, f->c2, ".", dest, &err), 0);
    assert_int_equal(access(readme, F_OK), 0);
    assert_int_equal(wf_gitrepo_export(g, f->c2, "recipes/b.yaml", dest, &err), 0);
    assert_int_equal(access(b, F_OK), 0);
    assert_int_equal(access(readme, F_OK), -1);
    /* Nothing is left next to dest. */
    char *parent = wf_asprintf("%s/state/recipes-git", f->root);
    assert_int_equal(entries_without_tmp(parent), 1);
    /* Missing path and unknown commit: WF_ENOTFOUND, dest untouched. */
    assert_int_equal(wf_gitrepo_export(g, f->c2, "nope", dest, &err), WF_ENOTFOUND);
    assert_non_null(strstr(err, "'nope' does not exist"));
    assert_non_null(strstr(err, f->c2));
    free(err);
    err = NULL;
    assert_int_equal(access(b, F_OK), 0);
    assert_int_equal(
        wf_gitrepo_export(g, "0123456789abcdef0123456789abcdef01234567", "", dest, &err),
        WF_ENOTFOUND);
    free(err);
    err = NULL;
    assert_int_equal(wf_gitrepo_export(g, f->c2, "../etc", dest, &err), WF_EINVAL);
    free(err);
    free(parent);
    free(readme);
    free(b);
    free(sh);
    free(p);
    free(dest);
    wf_gitrepo_close(g);
}

static void test_export_links(void **state)
{
    fixture *f = *state;
    char *inside = wf_asprintf("%s/recipes/all.yaml", f->src);
    assert_int_equal(symlink("tools/../a.yaml", inside), 0);
    char ok[41];
    git_fixture_commit(f->src, "inside link", ok);
    char *outside = wf_asprintf("%s/recipes/tools/passwd", f->src);
    assert_int_equal(symlink("../../../../etc/passwd", outside), 0);
    char bad[41];
    git_fixture_commit(f->src, "outside link", bad);
    wf_gitrepo *g = open_fetched(f, f->src);
    char *dest = wf_asprintf("%s/out", f->root);
    char *err = NULL;
    assert_int_equal(wf_gitrepo_export(g, ok, "recipes", dest, &err), 0);
    char *p = wf_asprintf("%s/all.yaml", dest);
    char *text = slurp(p);
    assert_string_equal(text, "name: a\nversions: [\"2\"]\n");
    free(text);
    assert_int_equal(wf_gitrepo_export(g, bad, "recipes", dest, &err), WF_EINVAL);
    assert_non_null(strstr(err, "tools/passwd"));
    free(err);
    /* The failed export left the previous one in place. */
    text = slurp(p);
    assert_non_null(text);
    free(text);
    free(p);
    free(dest);
    free(outside);
    free(inside);
    wf_gitrepo_close(g);
}

static void test_diff_paths(void **state)
{
    fixture *f = *state;
    wf_gitrepo *g = open_fetched(f, f->src);
    char **paths = NULL, *err = NULL;
    size_t n = 0;
    assert_int_equal(wf_gitrepo_diff_paths(g, f->c1, f->c2, "recipes", &paths, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(paths[0], "recipes/a.yaml");
    assert_string_equal(paths[1], "recipes/b.yaml");
    wf_gitrepo_paths_free(paths, n);
    assert_int_equal(wf_gitrepo_diff_paths(g, f->c1, f->c2, ".", &paths, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(paths[0], "README");
    wf_gitrepo_paths_free(paths, n);
    /* No base: every file at head under the path. */
    assert_int_equal(wf_gitrepo_diff_paths(g, NULL, f->c1, "recipes/", &paths, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(paths[0], "recipes/a.yaml");
    assert_string_equal(paths[1], "recipes/tools/run.sh");
    wf_gitrepo_paths_free(paths, n);
    /* A prefix that is not a directory boundary matches nothing. */
    assert_int_equal(wf_gitrepo_diff_paths(g, f->c1, f->c2, "recipe", &paths, &n, &err), 0);
    assert_int_equal(n, 0);
    wf_gitrepo_paths_free(paths, n);
    assert_int_equal(wf_gitrepo_diff_paths(g, f->c2, f->c2, "", &paths, &n, &err), 0);
    assert_int_equal(n, 0);
    wf_gitrepo_paths_free(paths, n);
    assert_int_equal(wf_gitrepo_diff_paths(g, "nope", f->c2, "", &paths, &n, &err), WF_ENOTFOUND);
    free(err);
    wf_gitrepo_close(g);
}

static void test_ls_remote(void **state)
{
    fixture *f = *state;
    wf_gitrepo *g = NULL;
    char *url = wf_asprintf("file://%s", f->src);
    assert_int_equal(wf_gitrepo_open(&g, url, f->mirror, NULL), 0);
    wf_git_ref *refs = NULL;
    size_t n = 0;
    char *err = NULL;
    assert_int_equal(wf_gitrepo_ls_remote(g, "refs/pull/*/head", &refs, &n, &err), 0);
    assert_int_equal(n, 2);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(refs[i].name, "refs/pull/1/head") == 0) {
            assert_string_equal(refs[i].sha, f->c1);
            seen |= 1;
        } else if (strcmp(refs[i].name, "refs/pull/2/head") == 0) {
            assert_string_equal(refs[i].sha, f->c2);
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    wf_git_refs_free(refs, n);
    /* Nothing was fetched. */
    char out[41];
    assert_int_equal(wf_gitrepo_resolve(g, "refs/pull/1/head", out, NULL), WF_ENOTFOUND);
    assert_int_equal(wf_gitrepo_ls_remote(g, "refs/heads/*", &refs, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(refs[0].name, "refs/heads/main");
    wf_git_refs_free(refs, n);
    wf_gitrepo_close(g);
    free(url);
}

/* ---- network failures: a refused port, a server that never answers ---- */

static void test_refused(void **state)
{
    fixture *f = *state;
    int port = 0;
    int fd = git_fixture_silent_listener(&port);
    close(fd); /* the port is now closed: connect is refused */
    char *url = wf_asprintf("git://user:s3cret@127.0.0.1:%d/recipes.git", port);
    wf_gitrepo *g = NULL;
    char *err = NULL;
    assert_int_equal(wf_gitrepo_open(&g, url, f->mirror, NULL), 0);
    assert_int_equal(wf_gitrepo_fetch(g, main_spec, 1, &err), WF_EINFRA);
    char *shown = wf_asprintf("git://127.0.0.1:%d/recipes.git", port);
    assert_non_null(strstr(err, shown));
    assert_non_null(strstr(err, "refused"));
    assert_null(strstr(err, "s3cret"));
    free(err);
    err = NULL;
    wf_git_ref *refs = NULL;
    size_t n = 0;
    assert_int_equal(wf_gitrepo_ls_remote(g, "refs/pull/*/head", &refs, &n, &err), WF_EINFRA);
    assert_non_null(strstr(err, shown));
    free(err);
    free(shown);
    free(url);
    wf_gitrepo_close(g);
}

static void test_timeout(void **state)
{
    fixture *f = *state;
    int port = 0;
    int fd = git_fixture_silent_listener(&port);
    char *url = wf_asprintf("git://127.0.0.1:%d/recipes.git", port);
    wf_gitrepo *g = NULL;
    char *err = NULL;
    assert_int_equal(wf_gitrepo_open(&g, url, f->mirror, NULL), 0);
    wf_gitrepo_set_timeout(g, 300);
    uint64_t t0 = wf_now_ms();
    assert_int_equal(wf_gitrepo_fetch(g, main_spec, 1, &err), WF_ETIMEOUT);
    uint64_t took = wf_now_ms() - t0;
    assert_true(took >= 250 && took < 5000);
    assert_non_null(strstr(err, "timed out"));
    assert_non_null(strstr(err, url));
    free(err);
    err = NULL;
    wf_git_ref *refs = NULL;
    size_t n = 0;
    assert_int_equal(wf_gitrepo_ls_remote(g, "*", &refs, &n, &err), WF_ETIMEOUT);
    free(err);
    wf_gitrepo_close(g);
    free(url);
    close(fd);
}

typedef struct canceller {
    wf_gitrepo *g;
    pthread_t t;
} canceller;

static void *cancel_later(void *arg)
{
    canceller *c = arg;
    usleep(200 * 1000);
    wf_gitrepo_cancel(c->g);
    return NULL;
}

static void test_cancel(void **state)
{
    fixture *f = *state;
    int port = 0;
    int fd = git_fixture_silent_listener(&port);
    char *url = wf_asprintf("git://127.0.0.1:%d/recipes.git", port);
    canceller c = {NULL, 0};
    char *err = NULL;
    assert_int_equal(wf_gitrepo_open(&c.g, url, f->mirror, NULL), 0);
    assert_int_equal(pthread_create(&c.t, NULL, cancel_later, &c), 0);
    uint64_t t0 = wf_now_ms();
    assert_int_equal(wf_gitrepo_fetch(c.g, main_spec, 1, &err), WF_ECANCELED);
    assert_true(wf_now_ms() - t0 < 5000);
    pthread_join(c.t, NULL);
    free(err);
    err = NULL;
    /* Cancel is sticky: later operations stop at once. */
    assert_int_equal(wf_gitrepo_fetch(c.g, main_spec, 1, &err), WF_ECANCELED);
    free(err);
    wf_gitrepo_close(c.g);
    free(url);
    close(fd);
}

static void test_mirror_dir(void **state)
{
    (void)state;
    char *a = wf_gitrepo_mirror_dir("/var/wf", "https://tok:en@git.example.org/team/recipes.git");
    char *b = wf_gitrepo_mirror_dir("/var/wf", "https://git.example.org/team/recipes.git");
    char *c = wf_gitrepo_mirror_dir("/var/wf", "https://git.example.org/team/recipes2.git");
    /* Credentials are neither in the name nor in what it hashes. */
    assert_string_equal(a, b);
    assert_null(strstr(a, "tok"));
    assert_string_not_equal(b, c);
    assert_int_equal(strncmp(b, "/var/wf/git/git.example.org_team_recipes.git-", 45), 0);
    assert_int_equal(strlen(b), 45 + 12);
    char *d = wf_gitrepo_mirror_dir("/s", "../../x y");
    assert_null(strchr(d + 7, '/'));
    free(a);
    free(b);
    free(c);
    free(d);
}

int main(void)
{
    if (wf_hash_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fetch_and_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_missing_branch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_pulls_and_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_diff_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ls_remote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test(test_mirror_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
