/* test-recipe-repo.c - unit tests for daemon/recipe_repo.c: an in-process daemon on a private
 * loop whose recipes come from a real git repository made with the git CLI. Commits on the
 * branch are picked up (trigger "commit"), broken commits keep the last good set, an
 * unreachable remote is an error that clears when it answers again, pull request heads are
 * caught up, a restart schedules nothing, and closing during a stalled fetch is prompt.
 *
 * No worker is configured, so jobs stay queued; the daemon still needs a Docker client binary to
 * start, and the test skips (exit 77) without one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "daemon/daemon.h"
#include "daemon/internal.h"
#include "daemon/recipe_repo.h"
#include "lib/config.h"
#include "lib/fsutil.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "lib/wf.h"
#include "support/daemon_fixture.h"
#include "support/git_fixture.h"

#define WAIT_MS 20000

typedef struct fixture {
    char root[64];
    char *src, *state, *log;
    uv_loop_t loop;
    uv_timer_t tick; /* wakes run_until() so it can look at its deadline */
    wf_daemon *d;
    int saved_stderr;
} fixture;

static const char demo_v1[] = "name: demo-pkg\n"
                              "versions: [\"1.0.0\"]\n"
                              "source: {sdist: upstream}\n"
                              "python: [cp311]\n"
                              "platforms: [linux/amd64]\n";
static const char demo_v2[] = "name: demo-pkg\n"
                              "versions: [\"1.0.0\", \"1.1\"]\n"
                              "source: {sdist: upstream}\n"
                              "python: [cp311]\n"
                              "platforms: [linux/amd64]\n";

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/wf-test-recipe-repo-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    git_fixture_isolate(f->root);
    f->src = wf_asprintf("%s/src", f->root);
    f->state = wf_asprintf("%s/state", f->root);
    f->log = wf_asprintf("%s/daemon.log", f->root);
    assert_int_equal(wf_fs_mkdirs(f->src, 0755), 0);
    GIT(f->src, "init", "-q");
    /* The daemon's log goes to a file the tests read (pull request catch-up is logged). */
    fflush(stderr);
    f->saved_stderr = dup(2);
    int fd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    dup2(fd, 2);
    close(fd);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    fflush(stderr);
    dup2(f->saved_stderr, 2);
    close(f->saved_stderr);
    wf_fs_remove_tree(f->root);
    free(f->src);
    free(f->state);
    free(f->log);
    free(f);
    return 0;
}

/* ---- the daemon ---- */

static wf_config *make_config(fixture *f, const char *url, int pull_requests)
{
    char *yaml = wf_asprintf("state_dir: %s\n"
                             "listen: {socket: %s/api.sock, http: \"\"}\n"
                             "recipes: {git: \"%s\", branch: main, path: recipes, poll: 5,\n"
                             "          pull_requests: %s}\n"
                             "docker: \"\"\n"
                             "log_level: info\n"
                             "shutdown_grace: 1\n"
                             "workers: []\n",
                             f->state, f->root, url, pull_requests ? "true" : "false");
    char *file = wf_asprintf("%s/wheelfarmd.yaml", f->root);
    wf_config *c = daemon_fixture_parse_config(file, yaml);
    free(file);
    free(yaml);
    return c;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* wf_daemon_new only: the recipes of the last commit in force are loaded here already. */
static void daemon_new(fixture *f, const char *url, int pull_requests)
{
    f->d = daemon_fixture_new(&f->loop, make_config(f, url, pull_requests));
}

static void daemon_start(fixture *f)
{
    daemon_fixture_start(f->d);
    assert_int_equal(uv_timer_init(&f->loop, &f->tick), 0);
    assert_int_equal(uv_timer_start(&f->tick, on_tick, 50, 50), 0);
}

/* Drains the daemon as SIGTERM would; the loop must end and close within `ms`. */
static void daemon_stop(fixture *f, uint64_t ms)
{
    uv_close((uv_handle_t *)&f->tick, NULL);
    uint64_t t0 = wf_now_ms();
    daemon_fixture_stop(&f->loop, &f->d);
    uint64_t took = wf_now_ms() - t0;
    if (took > ms)
        fail_msg("the daemon took %llu ms to stop, want at most %llu", (unsigned long long)took,
                 (unsigned long long)ms);
}

typedef int (*pred_fn)(fixture *f, const void *arg);

/* Runs the loop until pred holds; fails after WAIT_MS. */
static void run_until(fixture *f, pred_fn pred, const void *arg, const char *what)
{
    uint64_t deadline = wf_now_ms() + WAIT_MS;
    while (!pred(f, arg)) {
        if (wf_now_ms() > deadline)
            fail_msg("timed out waiting for %s", what);
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

/* A string field of the repository's API view ("" when null). */
static char *repo_field(fixture *f, const char *key)
{
    cJSON *o = wf__recipe_repo_json(f->d->recipe_repo);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    char *s = wf_strdup(cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(o);
    return s;
}

static int field_is(fixture *f, const void *arg)
{
    const char *const *kv = arg;
    char *v = repo_field(f, kv[0]);
    int same = strcmp(v, kv[1]) == 0;
    free(v);
    return same;
}

static void wait_field(fixture *f, const char *key, const char *want)
{
    const char *kv[2] = {key, want};
    char *what = wf_asprintf("repository %s = '%s'", key, want);
    run_until(f, field_is, kv, what);
    free(what);
}

static int has_error(fixture *f, const void *arg)
{
    (void)arg;
    char *v = repo_field(f, "error");
    int set = v[0] != '\0';
    free(v);
    return set;
}

static char *slurp(const char *path);

static int file_is(fixture *f, const void *arg)
{
    (void)f;
    const char *const *fw = arg;
    char *text = slurp(fw[0]);
    int same = strcmp(text, fw[1]) == 0;
    free(text);
    return same;
}

/* Polls now and waits until the branch head is `head`. */
static void poll_to(fixture *f, const char *head)
{
    wf__recipe_repo_poll_now(f->d->recipe_repo);
    wait_field(f, "head", head);
}

/* ---- store checks ---- */

static size_t count_jobs(fixture *f)
{
    wf_job_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(wf_store_jobs_list(f->d->store, NULL, 0, 100, &rows, &n), 0);
    wf_job_rows_free(rows, n);
    return n;
}

/* The newest job: its version, and its request's trigger kind and commit. */
static void newest_job(fixture *f, char **version, char **kind, wf_request_origin *origin)
{
    wf_job_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(wf_store_jobs_list(f->d->store, NULL, 0, 1, &rows, &n), 0);
    assert_int_equal(n, 1);
    *version = wf_strdup(rows[0].version);
    char *user = NULL;
    int64_t created = 0;
    assert_int_equal(wf_store_request_get(f->d->store, rows[0].request_id, kind, &user, &created),
                     0);
    free(user);
    assert_int_equal(wf_store_request_origin(f->d->store, rows[0].request_id, origin), 0);
    wf_job_rows_free(rows, n);
}

static void assert_newest_job(fixture *f, const char *version, const char *commit_sha)
{
    char *v = NULL, *kind = NULL;
    wf_request_origin o = {0};
    newest_job(f, &v, &kind, &o);
    assert_string_equal(v, version);
    assert_string_equal(kind, "commit");
    assert_string_equal(o.commit, commit_sha);
    assert_string_equal(o.ref, "main");
    assert_non_null(strstr(o.detail, "branch main of"));
    free(v);
    free(kind);
    wf_request_origin_release(&o);
}

static char *slurp(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (wf_fs_read_file(path, 1 << 24, &data, &len) != 0)
        return wf_strdup("");
    return data;
}

/* ---- scenarios ---- */

static void test_commits(void **state)
{
    fixture *f = *state;
    char c1[41], c2[41], c3[41], c4[41], c5[41], c6[41];
    git_fixture_put(f->src, "recipes/demo.yaml", demo_v1);
    git_fixture_put(f->src, "README", "recipes for the test\n");
    git_fixture_commit(f->src, "one", c1);
    GIT(f->src, "update-ref", "refs/pull/1/head", c1);

    daemon_new(f, f->src, 1);
    assert_int_equal(f->d->recipes->n, 0); /* nothing in force before the first poll */
    daemon_start(f);
    wait_field(f, "commit", c1);
    assert_int_equal(f->d->recipes->n, 1);
    assert_int_equal(count_jobs(f), 1);
    assert_newest_job(f, "1.0.0", c1);
    char *link = wf_asprintf("%s/recipes-git/current", f->state);
    char target[64] = "";
    assert_int_equal(readlink(link, target, sizeof(target) - 1), 40);
    assert_string_equal(target, c1);
    char *built_file = wf_asprintf("%s/recipes-git/built", f->state);
    char *built = slurp(built_file);
    assert_int_equal(strncmp(built, c1, 40), 0);
    free(built);
    free(built_file);
    /* The first listing of pull request heads is the baseline: nothing handed over. */
    char *pulls_file = wf_asprintf("%s/recipes-git/pulls", f->state);
    char *pulls = slurp(pulls_file);
    char *want = wf_asprintf("%s refs/pull/1/head\n", c1);
    assert_string_equal(pulls, want);
    free(want);
    free(pulls);

    /* A new version: only its job is queued, by a "commit" request. */
    git_fixture_put(f->src, "recipes/demo.yaml", demo_v2);
    git_fixture_commit(f->src, "two", c2);
    poll_to(f, c2);
    wait_field(f, "commit", c2);
    assert_int_equal(count_jobs(f), 2);
    assert_newest_job(f, "1.1", c2);

    /* A commit outside the recipes path schedules nothing. */
    git_fixture_put(f->src, "README", "changed\n");
    git_fixture_commit(f->src, "three", c3);
    poll_to(f, c3);
    wait_field(f, "commit", c3);
    assert_int_equal(count_jobs(f), 2);

    /* A broken recipe: the last good set stays, the error has its position. */
    git_fixture_put(f->src, "recipes/demo.yaml", "name: demo-pkg\nversions: [\"1.0.0\"\n");
    git_fixture_commit(f->src, "four", c4);
    poll_to(f, c4);
    assert_non_null(f->d->recipe_errors);
    assert_non_null(strstr(f->d->recipe_errors, "demo.yaml:"));
    assert_int_equal(f->d->recipes->n, 1);
    assert_int_equal(f->d->recipes->items[0]->n_versions, 2);
    char *c = repo_field(f, "commit");
    assert_string_equal(c, c3);
    free(c);

    /* The recipes path vanishes: an error naming the path and the commit. */
    GIT(f->src, "rm", "-q", "-r", "recipes");
    git_fixture_commit(f->src, "five", c5);
    poll_to(f, c5);
    char *e = repo_field(f, "error");
    assert_non_null(strstr(e, "'recipes' does not exist in commit"));
    assert_non_null(strstr(e, c5));
    assert_non_null(strstr(e, "recipes.path"));
    free(e);

    /* Fixed: the set of the new commit is in force, the errors are gone. */
    git_fixture_put(f->src, "recipes/demo.yaml", demo_v2);
    git_fixture_commit(f->src, "six", c6);
    poll_to(f, c6);
    wait_field(f, "commit", c6);
    assert_null(f->d->recipe_errors);
    e = repo_field(f, "error");
    assert_string_equal(e, "");
    free(e);
    assert_int_equal(count_jobs(f), 2);

    /* The remote goes away and comes back. */
    char *away = wf_asprintf("%s.away", f->src);
    assert_int_equal(rename(f->src, away), 0);
    wf__recipe_repo_poll_now(f->d->recipe_repo);
    run_until(f, has_error, NULL, "a poll error");
    e = repo_field(f, "error");
    assert_non_null(strstr(e, f->src));
    free(e);
    assert_int_equal(f->d->recipes->n, 1);
    assert_int_equal(rename(away, f->src), 0);
    wf__recipe_repo_poll_now(f->d->recipe_repo);
    wait_field(f, "error", "");

    /* Pull request heads that appear or move are handed over. */
    GIT(f->src, "update-ref", "refs/pull/1/head", c2);
    GIT(f->src, "update-ref", "refs/pull/2/head", c3);
    wf__recipe_repo_poll_now(f->d->recipe_repo);
    want = wf_asprintf("%s refs/pull/1/head\n%s refs/pull/2/head\n", c2, c3);
    const char *fw[2] = {pulls_file, want};
    run_until(f, file_is, fw, "the pull request heads to be recorded");
    free(want);
    daemon_stop(f, 5000);
    fflush(stderr);
    char *log = slurp(f->log);
    char *l1 = wf_asprintf("pull request 1 of %s has head %.12s", f->src, c2);
    char *l2 = wf_asprintf("pull request 2 of %s has head %.12s", f->src, c3);
    char *l0 = wf_asprintf("pull request 1 of %s has head %.12s", f->src, c1);
    assert_non_null(strstr(log, l1));
    assert_non_null(strstr(log, l2));
    assert_null(strstr(log, l0));
    free(l0);
    free(l1);
    free(l2);
    free(log);
    free(pulls_file);
    free(away);
    free(link);
}

static void test_restart(void **state)
{
    fixture *f = *state;
    char c1[41];
    git_fixture_put(f->src, "recipes/demo.yaml", demo_v1);
    git_fixture_commit(f->src, "one", c1);
    daemon_new(f, f->src, 0);
    daemon_start(f);
    wait_field(f, "commit", c1);
    assert_int_equal(count_jobs(f), 1);
    daemon_stop(f, 5000);

    /* The set of the commit in force is back before any poll; the poll schedules nothing. */
    daemon_new(f, f->src, 0);
    assert_int_equal(f->d->recipes->n, 1);
    daemon_start(f);
    wait_field(f, "head", c1);
    assert_int_equal(count_jobs(f), 1);
    daemon_stop(f, 5000);

    /* Without the export, the first poll exports and loads again; what is queued stays as is. */
    char *exp = wf_asprintf("%s/recipes-git/%s", f->state, c1);
    assert_int_equal(wf_fs_remove_tree(exp), 0);
    daemon_new(f, f->src, 0);
    assert_int_equal(f->d->recipes->n, 0);
    daemon_start(f);
    wait_field(f, "commit", c1);
    assert_int_equal(f->d->recipes->n, 1);
    assert_int_equal(count_jobs(f), 1);
    daemon_stop(f, 5000);
    free(exp);
}

static void test_unreachable_at_start(void **state)
{
    fixture *f = *state;
    int port = 0;
    close(git_fixture_silent_listener(&port)); /* nothing listens: connections are refused */
    char *url = wf_asprintf("git://127.0.0.1:%d/recipes.git", port);
    daemon_new(f, url, 1);
    daemon_start(f);
    run_until(f, has_error, NULL, "a poll error");
    assert_int_equal(f->d->recipes->n, 0);
    char *e = repo_field(f, "error");
    assert_non_null(strstr(e, url));
    assert_non_null(strstr(e, "refused"));
    free(e);
    cJSON *errors = cJSON_CreateArray();
    wf__recipe_repo_errors(f->d->recipe_repo, errors);
    assert_int_equal(cJSON_GetArraySize(errors), 1);
    cJSON_Delete(errors);
    daemon_stop(f, 5000);
    free(url);
}

static void stop_soon(uv_timer_t *t)
{
    fixture *f = t->data;
    uv_stop(&f->loop);
}

static void test_close_during_fetch(void **state)
{
    fixture *f = *state;
    int port = 0;
    int fd = git_fixture_silent_listener(&port);
    char *url = wf_asprintf("git://127.0.0.1:%d/recipes.git", port);
    daemon_new(f, url, 0);
    daemon_start(f);
    /* Let the first poll connect and block on its read. */
    uv_timer_t t;
    uv_timer_init(&f->loop, &t);
    t.data = f;
    uv_timer_start(&t, stop_soon, 500, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    assert_false(has_error(f, NULL));
    /* The fetch would wait 60 s for the silent server; closing cancels it. */
    daemon_stop(f, 3000);
    close(fd);
    free(url);
}

int main(void)
{
    if (wf_hash_init() != 0)
        return 1;
    if (!daemon_fixture_have_docker("test-recipe-repo"))
        return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_during_fetch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
