/* test-store.c - unit tests for daemon/store.c: job lifecycle, fencing, recovery, durability. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h> /* only to write a database as wheelfarmd 0.1 (schema 1) left it */

#include "daemon/store.h"
#include "lib/wf.h"

/* A lease long enough that no test outlives it by accident. */
#define LEASE_MS 600000

typedef struct fixture {
    char dir[64];
    char *path;
    wf_store *s;
} fixture;

static void unlink_in(const char *dir, const char *name)
{
    char *p = wf_asprintf("%s/%s", dir, name);
    unlink(p);
    free(p);
}

static int teardown(void **state)
{
    fixture *f = *state;
    wf_store_close(f->s);
    unlink_in(f->dir, "state.db");
    unlink_in(f->dir, "state.db-wal");
    unlink_in(f->dir, "state.db-shm");
    unlink_in(f->dir, "garbage.db");
    int rc = rmdir(f->dir);
    free(f->path);
    free(f);
    return rc;
}

static int setup(void **state)
{
    fixture *f = wf_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/wf-test-store-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    f->path = wf_asprintf("%s/state.db", f->dir);
    *state = f;
    if (wf_store_open(&f->s, f->path) == 0)
        return 0;
    teardown(state); /* cmocka skips teardown when setup fails */
    return -1;
}

static void reopen(fixture *f)
{
    wf_store_close(f->s);
    f->s = NULL;
    assert_int_equal(wf_store_open(&f->s, f->path), 0);
}

static int64_t new_request(wf_store *s)
{
    int64_t id = 0;
    assert_int_equal(wf_store_request_create(s, "cli", "alice", &id), 0);
    assert_true(id > 0);
    return id;
}

static int64_t new_job(wf_store *s, int64_t req, const char *key)
{
    int64_t id = 0;
    assert_int_equal(
        wf_store_job_create(s, req, "fixture-ext", "1.0.0", "cp311", "linux/amd64", key, 0, &id),
        0);
    assert_true(id > 0);
    return id;
}

static wf_artifact_row make_artifact(const char *key, const char *filename)
{
    wf_artifact_row a = {0};
    a.build_key = (char *)key;
    a.project = (char *)"fixture-ext";
    a.version = (char *)"1.0.0";
    a.filename = (char *)filename;
    a.sha256 = (char *)"ab12";
    a.size = 1234;
    a.requires_python = (char *)">=3.8";
    a.platform_tag = (char *)"manylinux_2_36_x86_64";
    a.path = (char *)"/srv/files/fixture-ext/x.whl";
    return a;
}

static wf_job_state job_state(wf_store *s, int64_t id)
{
    wf_job_row r;
    assert_int_equal(wf_store_job_get(s, id, &r), 0);
    wf_job_state st = r.state;
    wf_job_row_release(&r);
    return st;
}

static int64_t count(wf_store *s, wf_job_state st)
{
    int64_t n = -1;
    assert_int_equal(wf_store_count_jobs(s, st, &n), 0);
    return n;
}

static void test_state_names(void **state)
{
    (void)state;
    wf_job_state st;
    for (int i = WF_JOB_QUEUED; i <= WF_JOB_CANCELLED; i++) {
        assert_int_equal(wf_job_state_parse(wf_job_state_name((wf_job_state)i), &st), 0);
        assert_int_equal(st, i);
    }
    assert_string_equal(wf_job_state_name(WF_JOB_SUCCEEDED), "succeeded");
    assert_int_equal(wf_job_state_parse("lost", &st), WF_EINVAL);
    assert_int_equal(wf_job_state_parse(NULL, &st), WF_EINVAL);
    assert_string_equal(wf_job_state_name((wf_job_state)42), "unknown");
}

static void test_lifecycle(void **state)
{
    fixture *f = *state;
    char *trigger = NULL, *user = NULL;
    int64_t created = 0, job_id;
    int64_t req = new_request(f->s);
    assert_int_equal(wf_store_request_get(f->s, req, &trigger, &user, &created), 0);
    assert_string_equal(trigger, "cli");
    assert_string_equal(user, "alice");
    assert_true(created > 1600000000);
    free(trigger);
    free(user);
    assert_int_equal(wf_store_request_get(f->s, req + 100, &trigger, NULL, NULL), WF_ENOTFOUND);

    /* The trigger record: empty until set, then read back field by field. */
    wf_request_origin o = {0};
    assert_int_equal(wf_store_request_origin(f->s, req, &o), 0);
    assert_null(o.commit);
    assert_null(o.detail);
    assert_int_equal(o.pr, 0);
    const wf_request_origin set = {"c0ffee", "refs/pull/7/head", "beef", "1.1", "pr opened", 7};
    assert_int_equal(wf_store_request_set_origin(f->s, req, &set), 0);
    assert_int_equal(wf_store_request_origin(f->s, req, &o), 0);
    assert_string_equal(o.commit, "c0ffee");
    assert_string_equal(o.ref, "refs/pull/7/head");
    assert_string_equal(o.head_sha, "beef");
    assert_string_equal(o.upstream_version, "1.1");
    assert_string_equal(o.detail, "pr opened");
    assert_int_equal(o.pr, 7);
    wf_request_origin_release(&o);
    assert_int_equal(wf_store_request_set_origin(f->s, req + 100, &set), WF_ENOTFOUND);
    assert_int_equal(wf_store_request_origin(f->s, req + 100, &o), WF_ENOTFOUND);

    assert_int_equal(wf_store_job_create(f->s, req, "fixture-ext", "1.0.0", "cp311", "linux/arm64",
                                         "key-1", 1, &job_id),
                     0);
    wf_job_row r;
    assert_int_equal(wf_store_job_get(f->s, job_id, &r), 0);
    assert_int_equal(r.id, job_id);
    assert_int_equal(r.request_id, req);
    assert_string_equal(r.recipe, "fixture-ext");
    assert_string_equal(r.platform, "linux/arm64");
    assert_string_equal(r.build_key, "key-1");
    assert_int_equal(r.forced, 1);
    assert_int_equal(r.state, WF_JOB_QUEUED);
    assert_null(r.worker);
    assert_null(r.error);
    assert_int_equal(r.attempts, 0);
    assert_int_equal(r.started_at, 0);
    wf_job_row_release(&r);
    assert_null(r.recipe);

    int64_t active = -1;
    assert_int_equal(wf_store_job_active_for_key(f->s, "key-1", &active), 0);
    assert_int_equal(active, job_id);
    assert_int_equal(wf_store_job_active_for_key(f->s, "key-other", &active), 0);
    assert_int_equal(active, 0);

    int attempt = 0;
    assert_int_equal(wf_store_attempt_start(f->s, job_id, "arm-1", 1, LEASE_MS, &attempt), 0);
    assert_int_equal(attempt, 1);
    assert_int_equal(wf_store_job_get(f->s, job_id, &r), 0);
    assert_int_equal(r.state, WF_JOB_RUNNING);
    assert_string_equal(r.worker, "arm-1");
    assert_int_equal(r.emulated, 1);
    assert_int_equal(r.attempts, 1);
    assert_true(r.started_at > 0);
    wf_job_row_release(&r);
    assert_int_equal(count(f->s, WF_JOB_RUNNING), 1);

    wf_artifact_row a = make_artifact("key-1", "fixture_ext-1.0.0-cp311-cp311-linux_aarch64.whl");
    assert_int_equal(wf_store_artifact_add(f->s, job_id, attempt, &a), 0);

    assert_int_equal(wf_store_job_get(f->s, job_id, &r), 0);
    assert_int_equal(r.state, WF_JOB_SUCCEEDED);
    assert_true(r.finished_at >= r.started_at);
    assert_null(r.error);
    wf_job_row_release(&r);
    assert_int_equal(wf_store_job_active_for_key(f->s, "key-1", &active), 0);
    assert_int_equal(active, 0);

    wf_attempt_row *at = NULL;
    size_t n = 0;
    assert_int_equal(wf_store_attempts_list(f->s, job_id, &at, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(at[0].n, 1);
    assert_string_equal(at[0].state, "succeeded");
    assert_string_equal(at[0].worker, "arm-1");
    assert_true(at[0].finished_at > 0);
    wf_attempt_rows_free(at, n);

    wf_artifact_row got;
    assert_int_equal(wf_store_artifact_by_key(f->s, "key-1", &got), 0);
    assert_int_equal(got.job_id, job_id);
    assert_string_equal(got.filename, a.filename);
    assert_string_equal(got.requires_python, ">=3.8");
    assert_null(got.metadata_sha256);
    assert_int_equal(got.size, 1234);
    assert_true(got.created_at > 0);
    wf_artifact_row_release(&got);
    assert_int_equal(wf_store_artifact_by_job(f->s, job_id, &got), 0);
    assert_string_equal(got.build_key, "key-1");
    wf_artifact_row_release(&got);
    assert_int_equal(wf_store_artifact_by_key(f->s, "nope", &got), WF_ENOTFOUND);
    assert_int_equal(wf_store_artifact_by_job(f->s, job_id + 1, &got), WF_ENOTFOUND);

    wf_artifact_row *arts = NULL;
    assert_int_equal(wf_store_artifacts_for_project(f->s, "fixture-ext", &arts, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(arts[0].sha256, "ab12");
    wf_artifact_rows_free(arts, n);
    assert_int_equal(wf_store_artifacts_for_project(f->s, "unknown", &arts, &n), 0);
    assert_int_equal(n, 0);
    assert_null(arts);

    char **names = NULL;
    assert_int_equal(wf_store_projects(f->s, &names, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "fixture-ext");
    free(names[0]);
    free(names);
}

static void test_job_needs_request(void **state)
{
    fixture *f = *state;
    int64_t id = 0;
    assert_int_equal(wf_store_job_create(f->s, 999, "a", "1", "cp311", "linux/amd64", "k", 0, &id),
                     WF_ENOTFOUND);
    assert_int_equal(wf_store_job_create(f->s, 1, NULL, "1", "cp311", "linux/amd64", "k", 0, &id),
                     WF_EINVAL);
    assert_int_equal(count(f->s, WF_JOB_QUEUED), 0);
}

static void test_fifo_and_lists(void **state)
{
    fixture *f = *state;
    int64_t req1 = new_request(f->s), req2 = new_request(f->s);
    int64_t ids[6];
    for (int i = 0; i < 6; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        ids[i] = new_job(f->s, i % 2 ? req2 : req1, key);
    }
    wf_job_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(wf_store_jobs_queued(f->s, 4, &rows, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rows[i].id, ids[i]);
    wf_job_rows_free(rows, n);

    /* A requeued job keeps its place at the head of the queue. */
    int attempt;
    assert_int_equal(wf_store_attempt_start(f->s, ids[0], "w", 0, LEASE_MS, &attempt), 0);
    assert_int_equal(wf_store_jobs_queued(f->s, 1, &rows, &n), 0);
    assert_int_equal(rows[0].id, ids[1]);
    wf_job_rows_free(rows, n);
    assert_int_equal(wf_store_attempt_finish(f->s, ids[0], attempt, WF_JOB_QUEUED, "worker lost"),
                     0);
    assert_int_equal(wf_store_jobs_queued(f->s, 0, &rows, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(rows[0].id, ids[0]);
    assert_null(rows[0].worker);
    assert_int_equal(rows[0].attempts, 1);
    wf_job_rows_free(rows, n);

    /* Newest first, filtered by request and state. */
    assert_int_equal(wf_store_jobs_list(f->s, NULL, req2, 0, &rows, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].id, ids[5]);
    assert_int_equal(rows[2].id, ids[1]);
    wf_job_rows_free(rows, n);
    assert_int_equal(wf_store_jobs_list(f->s, NULL, 0, 2, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, ids[5]);
    wf_job_rows_free(rows, n);
    assert_int_equal(wf_store_job_cancel(f->s, ids[2], NULL), 0);
    assert_int_equal(wf_store_jobs_list(f->s, "cancelled", 0, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, ids[2]);
    wf_job_rows_free(rows, n);
    assert_int_equal(wf_store_jobs_list(f->s, "queued", req1, 0, &rows, &n), 0);
    assert_int_equal(n, 2); /* ids[0] and ids[4] */
    assert_int_equal(rows[0].id, ids[4]);
    wf_job_rows_free(rows, n);
    assert_int_equal(wf_store_jobs_list(f->s, "running", 0, 0, &rows, &n), 0);
    assert_int_equal(n, 0);
    assert_null(rows);
    assert_int_equal(wf_store_jobs_list(f->s, "bogus", 0, 0, &rows, &n), WF_EINVAL);
}

static void test_invalid_transitions(void **state)
{
    fixture *f = *state;
    int64_t job = new_job(f->s, new_request(f->s), "k");
    int attempt = 0, again = 0;
    assert_int_equal(wf_store_attempt_finish(f->s, job, 1, WF_JOB_FAILED, NULL), WF_EINVAL);
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, LEASE_MS, &attempt), 0);
    /* Starting a running job is refused and changes nothing. */
    assert_int_equal(wf_store_attempt_start(f->s, job, "w2", 0, LEASE_MS, &again), WF_EINVAL);
    assert_int_equal(wf_store_attempt_start(f->s, job + 50, "w2", 0, LEASE_MS, &again),
                     WF_ENOTFOUND);
    wf_job_row r;
    assert_int_equal(wf_store_job_get(f->s, job, &r), 0);
    assert_string_equal(r.worker, "w");
    assert_int_equal(r.attempts, 1);
    wf_job_row_release(&r);
    /* RUNNING is no way to finish; a stale attempt number is fenced off. */
    assert_int_equal(wf_store_attempt_finish(f->s, job, attempt, WF_JOB_RUNNING, NULL), WF_EINVAL);
    assert_int_equal(wf_store_attempt_finish(f->s, job, attempt + 1, WF_JOB_FAILED, NULL),
                     WF_EINVAL);
    wf_artifact_row a = make_artifact("k", "x.whl");
    assert_int_equal(wf_store_artifact_add(f->s, job, attempt + 1, &a), WF_EINVAL);
    assert_int_equal(job_state(f->s, job), WF_JOB_RUNNING);

    assert_int_equal(wf_store_attempt_finish(f->s, job, attempt, WF_JOB_FAILED, "gcc: error"), 0);
    assert_int_equal(wf_store_job_get(f->s, job, &r), 0);
    assert_int_equal(r.state, WF_JOB_FAILED);
    assert_string_equal(r.error, "gcc: error");
    wf_job_row_release(&r);
    /* A finished job cannot finish again, start again, or take an artifact. */
    assert_int_equal(wf_store_attempt_finish(f->s, job, attempt, WF_JOB_SUCCEEDED, NULL),
                     WF_EINVAL);
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, LEASE_MS, &again), WF_EINVAL);
    assert_int_equal(wf_store_artifact_add(f->s, job, attempt, &a), WF_EINVAL);
    assert_int_equal(job_state(f->s, job), WF_JOB_FAILED);
}

static void test_cancel(void **state)
{
    fixture *f = *state;
    int64_t req = new_request(f->s);
    int64_t queued = new_job(f->s, req, "a"), running = new_job(f->s, req, "b");
    int attempt;
    wf_job_state st = WF_JOB_RUNNING;
    assert_int_equal(wf_store_job_cancel(f->s, queued, &st), 0);
    assert_int_equal(st, WF_JOB_CANCELLED);
    wf_job_row r;
    assert_int_equal(wf_store_job_get(f->s, queued, &r), 0);
    assert_int_equal(r.state, WF_JOB_CANCELLED);
    assert_non_null(r.error);
    assert_true(r.finished_at > 0);
    wf_job_row_release(&r);
    /* Cancelled jobs are not started. */
    assert_int_equal(wf_store_attempt_start(f->s, queued, "w", 0, LEASE_MS, &attempt), WF_EINVAL);

    assert_int_equal(wf_store_attempt_start(f->s, running, "w", 0, LEASE_MS, &attempt), 0);
    assert_int_equal(wf_store_job_cancel(f->s, running, &st), 0);
    assert_int_equal(st, WF_JOB_RUNNING);
    assert_int_equal(wf_store_job_get(f->s, running, &r), 0);
    assert_int_equal(r.state, WF_JOB_RUNNING);
    assert_int_equal(r.cancel_requested, 1);
    wf_job_row_release(&r);
    /* The worker goes away: a cancelled job is not requeued. */
    assert_int_equal(wf_store_attempt_finish(f->s, running, attempt, WF_JOB_QUEUED, NULL), 0);
    assert_int_equal(job_state(f->s, running), WF_JOB_CANCELLED);
    wf_attempt_row *at;
    size_t n;
    assert_int_equal(wf_store_attempts_list(f->s, running, &at, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(at[0].state, "lost");
    wf_attempt_rows_free(at, n);

    /* Cancelling a finished job leaves it as it is. */
    assert_int_equal(wf_store_job_cancel(f->s, running, &st), 0);
    assert_int_equal(st, WF_JOB_CANCELLED);
    assert_int_equal(wf_store_job_cancel(f->s, running + 10, &st), WF_ENOTFOUND);
}

static void check_recovered(wf_store *s, int64_t job, int64_t cancelled, int64_t done)
{
    int n = -1;
    assert_int_equal(wf_store_recover(s, &n), 0);
    assert_int_equal(n, 1);
    wf_job_row r;
    assert_int_equal(wf_store_job_get(s, job, &r), 0);
    assert_int_equal(r.state, WF_JOB_QUEUED);
    assert_null(r.worker);
    assert_int_equal(r.attempts, 1);
    wf_job_row_release(&r);
    assert_int_equal(job_state(s, cancelled), WF_JOB_CANCELLED);
    assert_int_equal(job_state(s, done), WF_JOB_SUCCEEDED);
    wf_attempt_row *at;
    size_t na;
    assert_int_equal(wf_store_attempts_list(s, job, &at, &na), 0);
    assert_int_equal(na, 1);
    assert_string_equal(at[0].state, "lost");
    assert_non_null(at[0].error);
    wf_attempt_rows_free(at, na);
    /* The requeued job runs again as attempt 2; a second recover finds nothing. */
    int attempt = 0;
    assert_int_equal(wf_store_attempt_start(s, job, "w", 0, LEASE_MS, &attempt), 0);
    assert_int_equal(attempt, 2);
    assert_int_equal(wf_store_attempt_finish(s, job, 2, WF_JOB_FAILED, NULL), 0);
    assert_int_equal(wf_store_recover(s, &n), 0);
    assert_int_equal(n, 0);
}

/* Three jobs in flight: one running, one running with a cancel requested, one succeeded. */
static void start_three(wf_store *s, int64_t *job, int64_t *cancelled, int64_t *done)
{
    int64_t req = new_request(s);
    int a;
    *job = new_job(s, req, "a");
    *cancelled = new_job(s, req, "b");
    *done = new_job(s, req, "c");
    assert_int_equal(wf_store_attempt_start(s, *job, "w", 0, LEASE_MS, &a), 0);
    assert_int_equal(wf_store_attempt_start(s, *cancelled, "w", 0, LEASE_MS, &a), 0);
    assert_int_equal(wf_store_job_cancel(s, *cancelled, NULL), 0);
    assert_int_equal(wf_store_attempt_start(s, *done, "w", 0, LEASE_MS, &a), 0);
    assert_int_equal(wf_store_attempt_finish(s, *done, a, WF_JOB_SUCCEEDED, NULL), 0);
}

static void test_recover_after_close(void **state)
{
    fixture *f = *state;
    int64_t job, cancelled, done;
    start_three(f->s, &job, &cancelled, &done);
    reopen(f);
    check_recovered(f->s, job, cancelled, done);
}

/* A real crash: the child commits, then is killed without closing, leaving the WAL behind. */
static void test_recover_after_kill(void **state)
{
    fixture *f = *state;
    int64_t ids[3];
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    wf_store_close(f->s);
    f->s = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        wf_store *s = NULL;
        if (wf_store_open(&s, f->path) != 0)
            _exit(1);
        start_three(s, &ids[0], &ids[1], &ids[2]);
        if (write(pipefd[1], ids, sizeof(ids)) != (ssize_t)sizeof(ids))
            _exit(1);
        raise(SIGKILL);
        _exit(2);
    }
    close(pipefd[1]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(read(pipefd[0], ids, sizeof(ids)), (ssize_t)sizeof(ids));
    close(pipefd[0]);
    assert_int_equal(wf_store_open(&f->s, f->path), 0);
    check_recovered(f->s, ids[0], ids[1], ids[2]);
}

static void test_artifact_conflict(void **state)
{
    fixture *f = *state;
    int64_t req = new_request(f->s);
    int64_t j1 = new_job(f->s, req, "same-key"), j2 = new_job(f->s, req, "same-key");
    int a1, a2;
    assert_int_equal(wf_store_attempt_start(f->s, j1, "w", 0, LEASE_MS, &a1), 0);
    assert_int_equal(wf_store_attempt_start(f->s, j2, "w", 0, LEASE_MS, &a2), 0);
    wf_artifact_row a = make_artifact("same-key", "one.whl");
    assert_int_equal(wf_store_artifact_add(f->s, j1, a1, &a), 0);

    a.filename = (char *)"two.whl";
    assert_int_equal(wf_store_artifact_add(f->s, j2, a2, &a), WF_EEXIST);
    a.build_key = (char *)"other-key";
    a.filename = (char *)"one.whl";
    assert_int_equal(wf_store_artifact_add(f->s, j2, a2, &a), WF_EEXIST);

    /* The job and its attempt are untouched and can still finish another way. */
    wf_job_row r;
    assert_int_equal(wf_store_job_get(f->s, j2, &r), 0);
    assert_int_equal(r.state, WF_JOB_RUNNING);
    assert_int_equal(r.finished_at, 0);
    wf_job_row_release(&r);
    wf_attempt_row *at;
    size_t n;
    assert_int_equal(wf_store_attempts_list(f->s, j2, &at, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(at[0].state, "running");
    wf_attempt_rows_free(at, n);
    wf_artifact_row got;
    assert_int_equal(wf_store_artifact_by_job(f->s, j2, &got), WF_ENOTFOUND);
    assert_int_equal(wf_store_attempt_finish(f->s, j2, a2, WF_JOB_FAILED, "duplicate"), 0);
    assert_int_equal(job_state(f->s, j2), WF_JOB_FAILED);
}

static void read_header(const char *path, unsigned char hdr[100])
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(hdr, 1, 100, fp), 100);
    fclose(fp);
}

static void test_wal_and_schema_version(void **state)
{
    fixture *f = *state;
    struct stat sb;
    unsigned char hdr[100];
    new_request(f->s);
    /* While open after a write, the write-ahead log exists next to the database. */
    char *wal = wf_asprintf("%s-wal", f->path);
    assert_int_equal(stat(wal, &sb), 0);
    /* Header bytes 18/19 are 2 in WAL mode; 60..63 hold user_version (big-endian). */
    read_header(f->path, hdr);
    assert_int_equal(hdr[18], 2);
    assert_int_equal(hdr[19], 2);
    /* Closing checkpoints the log into the main file, which then carries the schema version. */
    reopen(f);
    read_header(f->path, hdr);
    assert_int_equal(hdr[18], 2);
    /* user_version (big-endian at offset 60): at least the worker flags' migration (5 -> 6). */
    assert_memory_equal(hdr + 60, "\0\0\0", 3);
    assert_true(hdr[63] >= 6);
    free(wal);

    /* A database from a newer wheelfarmd is refused, not downgraded. */
    wf_store_close(f->s);
    f->s = NULL;
    FILE *fp = fopen(f->path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 60, SEEK_SET), 0);
    assert_int_equal(fwrite("\0\0\0\x63", 1, 4, fp), 4);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(wf_store_open(&f->s, f->path), WF_ESTORE);
    assert_null(f->s);
}

static void test_not_a_database(void **state)
{
    fixture *f = *state;
    char *p = wf_asprintf("%s/garbage.db", f->dir);
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 64; i++)
        fputs("this is not an sqlite database, just text. ", fp);
    fclose(fp);
    wf_store *s = NULL;
    assert_int_equal(wf_store_open(&s, p), WF_ESTORE);
    assert_null(s);
    assert_int_equal(wf_store_open(&s, "/nonexistent-dir/x/state.db"), WF_ESTORE);
    free(p);
}

static void test_reopen_keeps_data(void **state)
{
    fixture *f = *state;
    int64_t req = new_request(f->s);
    int64_t job = new_job(f->s, req, "persist");
    int a;
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, LEASE_MS, &a), 0);
    wf_artifact_row art = make_artifact("persist", "p.whl");
    assert_int_equal(wf_store_artifact_add(f->s, job, a, &art), 0);
    reopen(f);
    char *trigger = NULL;
    assert_int_equal(wf_store_request_get(f->s, req, &trigger, NULL, NULL), 0);
    assert_string_equal(trigger, "cli");
    free(trigger);
    assert_int_equal(job_state(f->s, job), WF_JOB_SUCCEEDED);
    wf_artifact_row got;
    assert_int_equal(wf_store_artifact_by_key(f->s, "persist", &got), 0);
    assert_string_equal(got.filename, "p.whl");
    wf_artifact_row_release(&got);
}

static void test_transaction_rollback(void **state)
{
    fixture *f = *state;
    int64_t req, job;
    int a;
    assert_int_equal(wf_store_begin(f->s), 0);
    req = new_request(f->s);
    job = new_job(f->s, req, "tx");
    /* Multi-step operations nest inside the caller's transaction. */
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, LEASE_MS, &a), 0);
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, LEASE_MS, &a), WF_EINVAL);
    wf_store_rollback(f->s);
    assert_int_equal(wf_store_request_get(f->s, req, NULL, NULL, NULL), WF_ENOTFOUND);
    assert_int_equal(count(f->s, WF_JOB_RUNNING), 0);
    wf_store_rollback(f->s); /* no transaction: a no-op */

    assert_int_equal(wf_store_begin(f->s), 0);
    req = new_request(f->s);
    job = new_job(f->s, req, "tx");
    assert_int_equal(wf_store_commit(f->s), 0);
    reopen(f);
    assert_int_equal(job_state(f->s, job), WF_JOB_QUEUED);
    assert_int_equal(wf_store_commit(f->s), WF_ESTORE); /* nothing to commit */
}

static void test_many_jobs(void **state)
{
    fixture *f = *state;
    uint64_t t0 = wf_now_ms();
    assert_int_equal(wf_store_begin(f->s), 0);
    int64_t req = new_request(f->s);
    for (int i = 0; i < 10000; i++) {
        char key[32];
        int64_t id;
        snprintf(key, sizeof(key), "key-%d", i);
        if (wf_store_job_create(f->s, req, "r", "1.0", "cp312", "linux/arm64", key, 0, &id) != 0)
            fail_msg("job %d not created", i);
    }
    assert_int_equal(wf_store_commit(f->s), 0);
    uint64_t elapsed = wf_now_ms() - t0;
    print_message("10000 jobs inserted in %" PRIu64 " ms\n", elapsed);
    /* No time bound here (a loaded CI machine makes it flaky): bench/scheduling.sh measures
     * enqueueing 10,000 jobs through the API. */
    assert_int_equal(count(f->s, WF_JOB_QUEUED), 10000);
    wf_job_row *rows;
    size_t n;
    assert_int_equal(wf_store_jobs_queued(f->s, 3, &rows, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].build_key, "key-0");
    assert_string_equal(rows[2].build_key, "key-2");
    wf_job_rows_free(rows, n);
    /* The scheduler's query orders all 10,000 queued jobs of the platform on each pass. */
    t0 = wf_now_ms();
    assert_int_equal(wf_store_jobs_next(f->s, "linux/arm64", 0, 4, &rows, &n), 0);
    elapsed = wf_now_ms() - t0;
    print_message("next 4 of 10000 queued jobs in %" PRIu64 " ms\n", elapsed);
    assert_int_equal(n, 4);
    assert_string_equal(rows[0].build_key, "key-0");
    assert_string_equal(rows[3].build_key, "key-3");
    wf_job_rows_free(rows, n);
    assert_true(elapsed < (getenv("WF_TEST_SLOW") ? 20000u : 2000u));
    int64_t active;
    assert_int_equal(wf_store_job_active_for_key(f->s, "key-9999", &active), 0);
    assert_true(active > 0);
}

/* Bump runs, first-seen times and the schedule's first arming survive a reopen; a run left
 * running by a stop becomes interrupted and does not count as the last finished run. */
static void test_bump(void **state)
{
    fixture *f = *state;
    int64_t t = 0, run1 = 0, run2 = 0, run3 = 0, seen = 0;
    int n = -1;
    assert_int_equal(wf_store_bump_last_done(f->s, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(wf_store_bump_armed(f->s, 1000, &t), 0);
    assert_int_equal(t, 1000);
    assert_int_equal(wf_store_bump_armed(f->s, 2000, &t), 0);
    assert_int_equal(t, 1000); /* the first arming is kept */

    assert_int_equal(wf_store_bump_run_start(f->s, "schedule", 0, &run1), 0);
    assert_int_equal(wf_store_bump_run_start(f->s, "manual", 1, &run2), 0);
    assert_int_equal(wf_store_bump_run_start(f->s, "catch-up", 0, &run3), 0);
    assert_int_equal(wf_store_bump_run_start(f->s, "nightly", 0, &t), WF_ESTORE); /* CHECK */
    assert_int_equal(wf_store_bump_run_finish(f->s, run1, 2, "{\"id\":1}"), 0);
    assert_int_equal(wf_store_bump_run_finish(f->s, run1, 2, "{}"), WF_ENOTFOUND);
    assert_int_equal(wf_store_bump_run_finish(f->s, run2, 0, "{\"dry\":1}"), 0);
    assert_int_equal(wf_store_bump_last_done(f->s, &t), 0);
    wf_bump_run_row r = {0};
    assert_int_equal(wf_store_bump_run_get(f->s, run1, &r), 0);
    assert_int_equal(t, r.started_at); /* the dry run does not count */
    assert_string_equal(r.kind, "schedule");
    assert_string_equal(r.state, "finished");
    assert_int_equal(r.queued, 2);
    assert_string_equal(r.report, "{\"id\":1}");
    assert_true(r.finished_at >= r.started_at);
    wf_bump_run_row_release(&r);

    assert_int_equal(wf_store_bump_seen(f->s, "fixture-ext", "1.1", 5000, &seen), 0);
    assert_int_equal(seen, 5000);
    assert_int_equal(wf_store_bump_seen(f->s, "fixture-ext", "1.1", 9000, &seen), 0);
    assert_int_equal(seen, 5000);
    assert_int_equal(wf_store_bump_seen(f->s, "fixture-ext", "1.2", 9000, &seen), 0);
    assert_int_equal(seen, 9000);

    reopen(f);
    assert_int_equal(wf_store_bump_recover(f->s, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(wf_store_bump_run_get(f->s, run3, &r), 0);
    assert_string_equal(r.state, "interrupted");
    assert_null(r.report);
    assert_true(r.finished_at > 0);
    wf_bump_run_row_release(&r);
    assert_int_equal(wf_store_bump_seen(f->s, "fixture-ext", "1.1", 9999, &seen), 0);
    assert_int_equal(seen, 5000);
    assert_int_equal(wf_store_bump_armed(f->s, 3000, &t), 0);
    assert_int_equal(t, 1000);

    wf_bump_run_row *rows = NULL;
    size_t nr = 0;
    assert_int_equal(wf_store_bump_runs_list(f->s, 2, &rows, &nr), 0);
    assert_int_equal(nr, 2);
    assert_int_equal(rows[0].id, run3); /* newest first */
    assert_int_equal(rows[1].id, run2);
    assert_true(rows[1].dry_run);
    wf_bump_run_rows_free(rows, nr);
    assert_int_equal(wf_store_bump_run_get(f->s, 999, &r), WF_ENOTFOUND);
}

/* ---- leases, fencing, failure policy, retries ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static wf_job_row get_job(wf_store *s, int64_t id)
{
    wf_job_row r;
    assert_int_equal(wf_store_job_get(s, id, &r), 0);
    return r;
}

static void test_lease_lifecycle(void **state)
{
    fixture *f = *state;
    int64_t job = new_job(f->s, new_request(f->s), "k");
    int a = 0;
    wf_lease_row l;
    assert_int_equal(wf_store_lease_get(f->s, job, &l), WF_ENOTFOUND);
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, 0, &a), WF_EINVAL);
    assert_int_equal(job_state(f->s, job), WF_JOB_QUEUED);

    /* The lease is committed with the attempt, before anything runs. */
    int64_t t0 = now_ms();
    assert_int_equal(wf_store_attempt_start(f->s, job, "w1", 0, 30000, &a), 0);
    assert_int_equal(wf_store_lease_get(f->s, job, &l), 0);
    assert_int_equal(l.job_id, job);
    assert_int_equal(l.attempt, a);
    assert_string_equal(l.worker, "w1");
    assert_true(l.acquired_ms >= t0 && l.acquired_ms <= now_ms());
    assert_int_equal(l.renewed_ms, l.acquired_ms);
    assert_true(l.expires_ms >= t0 + 30000 && l.expires_ms <= now_ms() + 30000);
    int64_t first_expiry = l.expires_ms;
    wf_lease_row_release(&l);
    assert_null(l.worker);

    usleep(5000);
    assert_int_equal(wf_store_lease_renew(f->s, job, a, 60000), 0);
    assert_int_equal(wf_store_lease_get(f->s, job, &l), 0);
    assert_true(l.renewed_ms > l.acquired_ms);
    assert_true(l.expires_ms > first_expiry + 29000);
    wf_lease_row_release(&l);
    /* Another attempt number holds no lease; bad durations are refused. */
    assert_int_equal(wf_store_lease_renew(f->s, job, a + 1, 60000), WF_EINVAL);
    assert_int_equal(wf_store_lease_renew(f->s, job, a, 0), WF_EINVAL);
    assert_int_equal(wf_store_lease_renew(f->s, job + 9, 1, 60000), WF_ENOTFOUND);

    /* Ending the attempt ends the lease; it cannot be renewed afterwards. */
    assert_int_equal(wf_store_attempt_finish(f->s, job, a, WF_JOB_FAILED, "gcc: error"), 0);
    assert_int_equal(wf_store_lease_get(f->s, job, &l), WF_ENOTFOUND);
    assert_int_equal(wf_store_lease_renew(f->s, job, a, 60000), WF_EINVAL);

    /* Publishing ends it too. */
    int64_t job2 = new_job(f->s, new_request(f->s), "k2");
    assert_int_equal(wf_store_attempt_start(f->s, job2, "w1", 0, LEASE_MS, &a), 0);
    wf_artifact_row art = make_artifact("k2", "k2.whl");
    assert_int_equal(wf_store_artifact_add(f->s, job2, a, &art), 0);
    assert_int_equal(wf_store_lease_get(f->s, job2, &l), WF_ENOTFOUND);
}

/* An attempt whose lease expired can neither renew it, nor finish, nor publish: the store
 * requeues its job, and only the next attempt's result is published. */
static void test_lease_expiry_fences_late_results(void **state)
{
    fixture *f = *state;
    wf_retry_policy p = {3, 10};
    int64_t job = new_job(f->s, new_request(f->s), "key-x");
    int a1 = 0, a2 = 0;
    wf_job_state st = WF_JOB_RUNNING;
    assert_int_equal(wf_store_attempt_start(f->s, job, "w1", 0, LEASE_MS, &a1), 0);
    /* A live lease cannot be expired. */
    assert_int_equal(wf_store_lease_expire(f->s, job, a1, "x", &p, &st), WF_EINVAL);
    /* The last renewal gives it 1 ms (as if the daemon then stalled). */
    assert_int_equal(wf_store_lease_renew(f->s, job, a1, 1), 0);
    usleep(20000);

    wf_artifact_row art = make_artifact("key-x", "x-1.0-cp311-cp311-linux_x86_64.whl");
    assert_int_equal(wf_store_lease_renew(f->s, job, a1, LEASE_MS), WF_EINVAL);
    assert_int_equal(wf_store_artifact_add(f->s, job, a1, &art), WF_EINVAL);
    assert_int_equal(wf_store_attempt_finish(f->s, job, a1, WF_JOB_SUCCEEDED, NULL), WF_EINVAL);
    assert_int_equal(wf_store_attempt_finish(f->s, job, a1, WF_JOB_FAILED, "late"), WF_EINVAL);
    assert_int_equal(wf_store_attempt_retry(f->s, job, a1, "late", "w1", &p, &st), WF_EINVAL);
    wf_artifact_row got;
    assert_int_equal(wf_store_artifact_by_key(f->s, "key-x", &got), WF_ENOTFOUND);
    assert_int_equal(job_state(f->s, job), WF_JOB_RUNNING);

    int64_t t0 = wf_time_s();
    assert_int_equal(wf_store_lease_expire(f->s, job, a1, "lease lost", &p, &st), 0);
    assert_int_equal(st, WF_JOB_QUEUED);
    assert_int_equal(wf_store_lease_expire(f->s, job, a1, "lease lost", &p, &st), WF_EINVAL);
    wf_job_row r = get_job(f->s, job);
    assert_int_equal(r.state, WF_JOB_QUEUED);
    assert_null(r.worker);
    assert_int_equal(r.infra_failures, 1);
    assert_string_equal(r.avoid_worker, "w1");
    assert_true(r.not_before >= t0 + 10 && r.not_before <= wf_time_s() + 10);
    wf_job_row_release(&r);
    wf_lease_row l;
    assert_int_equal(wf_store_lease_get(f->s, job, &l), WF_ENOTFOUND);

    /* The next attempt, on another worker, publishes; the old one's result still cannot. */
    assert_int_equal(wf_store_attempt_start(f->s, job, "w2", 0, LEASE_MS, &a2), 0);
    assert_int_equal(a2, 2);
    assert_int_equal(wf_store_artifact_add(f->s, job, a1, &art), WF_EINVAL);
    assert_int_equal(wf_store_lease_renew(f->s, job, a1, LEASE_MS), WF_EINVAL);
    assert_int_equal(wf_store_artifact_add(f->s, job, a2, &art), 0);
    assert_int_equal(wf_store_artifact_add(f->s, job, a1, &art), WF_EINVAL);
    assert_int_equal(job_state(f->s, job), WF_JOB_SUCCEEDED);
    assert_int_equal(wf_store_artifact_by_key(f->s, "key-x", &got), 0);
    assert_int_equal(got.job_id, job);
    wf_artifact_row_release(&got);

    wf_attempt_row *at = NULL;
    size_t n = 0;
    assert_int_equal(wf_store_attempts_list(f->s, job, &at, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(at[0].state, "lost");
    assert_string_equal(at[0].worker, "w1");
    assert_string_equal(at[0].error, "lease lost");
    assert_string_equal(at[1].state, "succeeded");
    assert_string_equal(at[1].worker, "w2");
    wf_attempt_rows_free(at, n);
}

static void test_retry_delays(void **state)
{
    (void)state;
    wf_retry_policy p = {3, 10};
    assert_int_equal(wf_retry_delay_s(&p, 1), 10);
    assert_int_equal(wf_retry_delay_s(&p, 2), 30);
    assert_int_equal(wf_retry_delay_s(&p, 3), 90);
    assert_int_equal(wf_retry_delay_s(&p, 4), 270);
    assert_int_equal(wf_retry_delay_s(&p, 40), WF_RETRY_BACKOFF_MAX_S);
    wf_retry_policy slow = {3, 1000};
    assert_int_equal(wf_retry_delay_s(&slow, 2), 3000);
    assert_int_equal(wf_retry_delay_s(&slow, 3), WF_RETRY_BACKOFF_MAX_S);
}

/* Infrastructure failures requeue with a growing backoff, away from the failed worker, three
 * times; the fourth fails the job for good. */
static void test_bounded_infra_retries(void **state)
{
    fixture *f = *state;
    wf_retry_policy p = {3, 10};
    int64_t job = new_job(f->s, new_request(f->s), "k");
    wf_job_row *rows = NULL;
    size_t n = 0;
    for (int i = 1; i <= 3; i++) {
        int a = 0;
        wf_job_state st = WF_JOB_RUNNING;
        assert_int_equal(wf_store_attempt_start(f->s, job, "w1", 0, LEASE_MS, &a), 0);
        assert_int_equal(a, i);
        int64_t t0 = wf_time_s();
        assert_int_equal(wf_store_attempt_retry(f->s, job, a, "Cannot connect to the Docker daemon",
                                                "w1", &p, &st),
                         0);
        assert_int_equal(st, WF_JOB_QUEUED);
        wf_job_row r = get_job(f->s, job);
        assert_int_equal(r.state, WF_JOB_QUEUED);
        assert_int_equal(r.infra_failures, i);
        assert_string_equal(r.avoid_worker, "w1");
        assert_null(r.error);
        int64_t delay = wf_retry_delay_s(&p, i);
        assert_true(r.not_before >= t0 + delay && r.not_before <= wf_time_s() + delay);
        /* In its backoff the job is not handed out, and the scheduler learns when to look. */
        assert_int_equal(wf_store_jobs_queued(f->s, 0, &rows, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(wf_store_jobs_next(f->s, "linux/amd64", 0, 0, &rows, &n), 0);
        assert_int_equal(n, 0);
        int64_t next = 0;
        assert_int_equal(wf_store_backoff_next(f->s, &next), 0);
        assert_int_equal(next, r.not_before);
        assert_int_equal(count(f->s, WF_JOB_QUEUED), 1);
        wf_job_row_release(&r);
    }
    int a = 0;
    wf_job_state st = WF_JOB_RUNNING;
    assert_int_equal(wf_store_attempt_start(f->s, job, "w2", 0, LEASE_MS, &a), 0);
    assert_int_equal(wf_store_attempt_retry(f->s, job, a, "engine error", "w2", &p, &st), 0);
    assert_int_equal(st, WF_JOB_FAILED);
    wf_job_row r = get_job(f->s, job);
    assert_int_equal(r.state, WF_JOB_FAILED);
    assert_int_equal(r.attempts, 4);
    assert_int_equal(r.infra_failures, 4);
    assert_string_equal(r.error, "engine error (gave up after 4 infrastructure failures)");
    assert_true(r.finished_at > 0);
    wf_job_row_release(&r);
    int64_t next = -1;
    assert_int_equal(wf_store_backoff_next(f->s, &next), 0);
    assert_int_equal(next, 0);
    wf_attempt_row *at = NULL;
    assert_int_equal(wf_store_attempts_list(f->s, job, &at, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(at[2].state, "lost");
    assert_string_equal(at[3].state, "failed");
    assert_string_equal(at[3].error, "engine error");
    wf_attempt_rows_free(at, n);

    /* A failure that is not the worker's avoids no worker; no retries at all fails at once. */
    wf_retry_policy none = {0, 10};
    int64_t j2 = new_job(f->s, new_request(f->s), "k2");
    assert_int_equal(wf_store_attempt_start(f->s, j2, "w1", 0, LEASE_MS, &a), 0);
    assert_int_equal(wf_store_attempt_retry(f->s, j2, a, "download failed", NULL, &p, &st), 0);
    r = get_job(f->s, j2);
    assert_null(r.avoid_worker);
    assert_int_equal(r.infra_failures, 1);
    wf_job_row_release(&r);
    assert_int_equal(wf_store_attempt_start(f->s, j2, "w1", 0, LEASE_MS, &a), 0);
    assert_int_equal(wf_store_attempt_retry(f->s, j2, a, "download failed", NULL, &none, &st), 0);
    assert_int_equal(st, WF_JOB_FAILED);

    /* A job someone cancelled while it ran is not requeued by a failure. */
    int64_t j3 = new_job(f->s, new_request(f->s), "k3");
    assert_int_equal(wf_store_attempt_start(f->s, j3, "w1", 0, LEASE_MS, &a), 0);
    assert_int_equal(wf_store_job_cancel(f->s, j3, NULL), 0);
    assert_int_equal(wf_store_attempt_retry(f->s, j3, a, "engine error", "w1", &p, &st), 0);
    assert_int_equal(st, WF_JOB_CANCELLED);
    assert_int_equal(job_state(f->s, j3), WF_JOB_CANCELLED);
}

/* When the backoff ends, the job is handed out again. */
static void test_backoff_ends(void **state)
{
    fixture *f = *state;
    wf_retry_policy p = {3, 1};
    int64_t job = new_job(f->s, new_request(f->s), "k");
    int a = 0;
    assert_int_equal(wf_store_attempt_start(f->s, job, "w1", 0, LEASE_MS, &a), 0);
    assert_int_equal(wf_store_attempt_retry(f->s, job, a, "engine error", "w1", &p, NULL), 0);
    wf_job_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(wf_store_jobs_next(f->s, "linux/amd64", 0, 0, &rows, &n), 0);
    assert_int_equal(n, 0);
    int64_t next = 0;
    assert_int_equal(wf_store_backoff_next(f->s, &next), 0);
    assert_true(next > 0);
    while (wf_time_s() < next)
        usleep(50000);
    assert_int_equal(wf_store_backoff_next(f->s, &next), 0);
    assert_int_equal(next, 0);
    assert_int_equal(wf_store_jobs_next(f->s, "linux/amd64", 0, 0, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, job);
    assert_string_equal(rows[0].avoid_worker, "w1");
    wf_job_rows_free(rows, n);
}

/* The daemon's own crash is not the job's failure: recovery requeues without using up the
 * job's retries, and drops every lease. */
static void test_recover_keeps_retry_budget(void **state)
{
    fixture *f = *state;
    wf_retry_policy p = {3, 10};
    int64_t job = new_job(f->s, new_request(f->s), "k");
    int a = 0;
    assert_int_equal(wf_store_attempt_start(f->s, job, "w1", 0, LEASE_MS, &a), 0);
    assert_int_equal(wf_store_attempt_retry(f->s, job, a, "engine error", "w1", &p, NULL), 0);
    assert_int_equal(wf_store_attempt_start(f->s, job, "w2", 0, LEASE_MS, &a), 0);
    reopen(f);
    int requeued = 0;
    assert_int_equal(wf_store_recover(f->s, &requeued), 0);
    assert_int_equal(requeued, 1);
    wf_lease_row l;
    assert_int_equal(wf_store_lease_get(f->s, job, &l), WF_ENOTFOUND);
    wf_job_row r = get_job(f->s, job);
    assert_int_equal(r.state, WF_JOB_QUEUED);
    assert_int_equal(r.attempts, 2);
    assert_int_equal(r.infra_failures, 1);
    assert_string_equal(r.avoid_worker, "w1");
    wf_job_row_release(&r);
    /* The recovered attempt's late result is fenced like any other. */
    wf_artifact_row art = make_artifact("k", "k.whl");
    assert_int_equal(wf_store_artifact_add(f->s, job, a, &art), WF_EINVAL);
}

static int64_t run_to(wf_store *s, int64_t job, wf_job_state end)
{
    int a = 0;
    assert_int_equal(wf_store_attempt_start(s, job, "w", 0, LEASE_MS, &a), 0);
    if (end != WF_JOB_RUNNING)
        assert_int_equal(wf_store_attempt_finish(s, job, a, end, NULL), 0);
    return job;
}

/* A person may retry a failed or cancelled job; nothing else. */
static void test_retry_rules(void **state)
{
    fixture *f = *state;
    int64_t req = new_request(f->s);
    int64_t queued = new_job(f->s, req, "kq");
    int64_t running = run_to(f->s, new_job(f->s, req, "kr"), WF_JOB_RUNNING);
    int64_t done = run_to(f->s, new_job(f->s, req, "ks"), WF_JOB_SUCCEEDED);
    int64_t failed = run_to(f->s, new_job(f->s, req, "kf"), WF_JOB_FAILED);
    int64_t cancelled = new_job(f->s, req, "kc");
    assert_int_equal(wf_store_job_cancel(f->s, cancelled, NULL), 0);
    int64_t nj = 0, nr = 0;
    assert_int_equal(wf_store_job_retry(f->s, queued, "bob", &nj, &nr), WF_EINVAL);
    assert_int_equal(wf_store_job_retry(f->s, running, "bob", &nj, &nr), WF_EINVAL);
    assert_int_equal(wf_store_job_retry(f->s, done, "bob", &nj, &nr), WF_EINVAL);
    assert_int_equal(wf_store_job_retry(f->s, 999, "bob", &nj, &nr), WF_ENOTFOUND);
    assert_int_equal(count(f->s, WF_JOB_QUEUED), 1);

    assert_int_equal(wf_store_job_retry(f->s, failed, "bob", &nj, &nr), 0);
    assert_true(nj > cancelled && nr > req);
    wf_job_row r = get_job(f->s, nj), old = get_job(f->s, failed);
    assert_int_equal(r.state, WF_JOB_QUEUED);
    assert_int_equal(r.retry_of, failed);
    assert_int_equal(r.request_id, nr);
    assert_int_equal(r.attempts, 0);
    assert_int_equal(r.infra_failures, 0);
    assert_string_equal(r.build_key, old.build_key);
    assert_string_equal(r.recipe, old.recipe);
    assert_string_equal(r.platform, old.platform);
    assert_int_equal(old.state, WF_JOB_FAILED); /* the old job and its log stay as they are */
    wf_job_row_release(&r);
    wf_job_row_release(&old);
    char *trigger = NULL, *user = NULL;
    assert_int_equal(wf_store_request_get(f->s, nr, &trigger, &user, NULL), 0);
    assert_string_equal(trigger, "retry");
    assert_string_equal(user, "bob");
    free(trigger);
    free(user);
    /* The key is queued again: a second retry is refused until it ends. */
    int64_t other = 0;
    assert_int_equal(wf_store_job_retry(f->s, failed, "bob", &other, NULL), WF_EEXIST);
    run_to(f->s, nj, WF_JOB_FAILED);
    assert_int_equal(wf_store_job_retry(f->s, failed, NULL, &other, NULL), 0);
    assert_true(other > nj);

    /* A cancelled job may be retried; not once its key has a wheel, unless it was forced. */
    assert_int_equal(wf_store_job_retry(f->s, cancelled, "carol", &nj, NULL), 0);
    int a = 0;
    assert_int_equal(wf_store_attempt_start(f->s, nj, "w", 0, LEASE_MS, &a), 0);
    wf_artifact_row art = make_artifact("kc", "kc.whl");
    assert_int_equal(wf_store_artifact_add(f->s, nj, a, &art), 0);
    assert_int_equal(wf_store_job_retry(f->s, cancelled, "carol", &other, NULL), WF_EEXIST);
    int64_t forced = 0;
    assert_int_equal(wf_store_job_create(f->s, req, "fixture-ext", "1.0.0", "cp311", "linux/amd64",
                                         "kc", 1, &forced),
                     0);
    assert_int_equal(wf_store_job_cancel(f->s, forced, NULL), 0);
    assert_int_equal(wf_store_job_retry(f->s, forced, "carol", &other, NULL), 0);
    r = get_job(f->s, other);
    assert_int_equal(r.forced, 1);
    wf_job_row_release(&r);
}

/* The schema wheelfarmd 0.1 wrote (schema version 1), with a job it left running. */
static const char schema_v1[] =
    "CREATE TABLE requests(id INTEGER PRIMARY KEY, \"trigger\" TEXT NOT NULL, \"user\" TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE jobs(id INTEGER PRIMARY KEY,"
    "  request_id INTEGER NOT NULL REFERENCES requests(id), recipe TEXT NOT NULL,"
    "  version TEXT NOT NULL, python TEXT NOT NULL, platform TEXT NOT NULL,"
    "  build_key TEXT NOT NULL, forced INTEGER NOT NULL DEFAULT 0 CHECK(forced IN (0, 1)),"
    "  state TEXT NOT NULL DEFAULT 'queued'"
    "    CHECK(state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),"
    "  worker TEXT, emulated INTEGER NOT NULL DEFAULT 0 CHECK(emulated IN (0, 1)),"
    "  created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, error TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK(cancel_requested IN (0, 1)));"
    "CREATE INDEX jobs_by_state ON jobs(state, id);"
    "CREATE INDEX jobs_by_request ON jobs(request_id);"
    "CREATE INDEX jobs_by_build_key ON jobs(build_key);"
    "CREATE TABLE attempts(job_id INTEGER NOT NULL REFERENCES jobs(id), n INTEGER NOT NULL,"
    "  worker TEXT NOT NULL, state TEXT NOT NULL"
    "    CHECK(state IN ('running', 'succeeded', 'failed', 'cancelled', 'lost')),"
    "  started_at INTEGER NOT NULL, finished_at INTEGER, error TEXT,"
    "  PRIMARY KEY(job_id, n)) WITHOUT ROWID;"
    "CREATE TABLE artifacts(id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES jobs(id),"
    "  build_key TEXT NOT NULL UNIQUE, project TEXT NOT NULL, version TEXT NOT NULL,"
    "  filename TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
    "  requires_python TEXT, metadata_sha256 TEXT, platform_tag TEXT, path TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX artifacts_by_project ON artifacts(project, filename);"
    "CREATE INDEX artifacts_by_job ON artifacts(job_id);"
    "INSERT INTO requests VALUES(1, 'cli', 'alice', 1700000000);"
    "INSERT INTO jobs(id, request_id, recipe, version, python, platform, build_key, state, worker,"
    "  created_at, started_at, attempts) VALUES"
    "  (1, 1, 'fixture-ext', '1.0.0', 'cp311', 'linux/amd64', 'old-run', 'running', 'local',"
    "   1700000000, 1700000001, 1),"
    "  (2, 1, 'fixture-ext', '1.0.0', 'cp313', 'linux/amd64', 'old-wait', 'queued', NULL,"
    "   1700000000, NULL, 0);"
    "INSERT INTO attempts VALUES(1, 1, 'local', 'running', 1700000001, NULL, NULL);"
    "PRAGMA user_version = 1;";

static void test_migrate_schema_1(void **state)
{
    fixture *f = *state;
    wf_store_close(f->s);
    f->s = NULL;
    unlink(f->path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, schema_v1, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);

    assert_int_equal(wf_store_open(&f->s, f->path), 0);
    wf_job_row r = get_job(f->s, 2);
    assert_int_equal(r.state, WF_JOB_QUEUED);
    assert_int_equal(r.infra_failures, 0);
    assert_int_equal(r.not_before, 0);
    assert_null(r.avoid_worker);
    assert_int_equal(r.retry_of, 0);
    wf_job_row_release(&r);
    /* The job left running has no lease: it can neither finish nor renew; recovery requeues it. */
    assert_int_equal(wf_store_attempt_finish(f->s, 1, 1, WF_JOB_SUCCEEDED, NULL), WF_EINVAL);
    assert_int_equal(wf_store_lease_renew(f->s, 1, 1, LEASE_MS), WF_EINVAL);
    int requeued = 0;
    assert_int_equal(wf_store_recover(f->s, &requeued), 0);
    assert_int_equal(requeued, 1);
    assert_int_equal(job_state(f->s, 1), WF_JOB_QUEUED);
    wf_job_row *rows = NULL;
    size_t n = 0;
    assert_int_equal(wf_store_jobs_queued(f->s, 0, &rows, &n), 0);
    assert_int_equal(n, 2);
    wf_job_rows_free(rows, n);
    int a = 0;
    assert_int_equal(wf_store_attempt_start(f->s, 1, "local", 0, LEASE_MS, &a), 0);
    assert_int_equal(a, 2);
    reopen(f); /* a migrated database opens again without migrating */
    assert_int_equal(job_state(f->s, 1), WF_JOB_RUNNING);
}

static int64_t new_job_in(wf_store *s, int64_t req, const char *channel, const char *key)
{
    int64_t id = 0;
    assert_int_equal(wf_store_job_create_in(s, req, channel, "fixture-ext", "1.0.0", "cp311",
                                            "linux/amd64", key, 0, &id),
                     0);
    return id;
}

/* Channels: the same key and file name live side by side in main and a pull request's channel;
 * keys and file names are unique within a channel; main's wheel can be linked into a channel. */
static void test_channels(void **state)
{
    fixture *f = *state;
    int64_t req = new_request(f->s);
    int64_t jm = new_job(f->s, req, "k1");
    int64_t jp = new_job_in(f->s, req, "pr/7", "k1");
    int64_t active = 0;
    assert_int_equal(wf_store_job_active_for_key(f->s, "k1", &active), 0);
    assert_int_equal(active, jm);
    assert_int_equal(wf_store_job_active_for_key_in(f->s, "pr/7", "k1", &active), 0);
    assert_int_equal(active, jp);
    assert_int_equal(wf_store_job_active_for_key_in(f->s, "pr/8", "k1", &active), 0);
    assert_int_equal(active, 0);
    wf_job_row r;
    assert_int_equal(wf_store_job_get(f->s, jp, &r), 0);
    assert_string_equal(r.channel, "pr/7");
    wf_job_row_release(&r);
    assert_int_equal(wf_store_job_get(f->s, jm, &r), 0);
    assert_string_equal(r.channel, "");
    wf_job_row_release(&r);
    wf_job_row *rows;
    size_t n;
    assert_int_equal(wf_store_jobs_active_in(f->s, "pr/7", &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, jp);
    wf_job_rows_free(rows, n);

    int am, ap;
    assert_int_equal(wf_store_attempt_start(f->s, jm, "w", 0, LEASE_MS, &am), 0);
    assert_int_equal(wf_store_attempt_start(f->s, jp, "w", 0, LEASE_MS, &ap), 0);
    wf_artifact_row a = make_artifact("k1", "x.whl");
    a.path = (char *)"/i/files/fixture-ext/x.whl";
    assert_int_equal(wf_store_artifact_add(f->s, jm, am, &a), 0);
    /* Same key, same file name, other bytes: fine in the pull request's channel. */
    a.channel = (char *)"pr/7";
    a.sha256 = (char *)"cd34";
    a.path = (char *)"/i/pr/7/files/fixture-ext/x.whl";
    assert_int_equal(wf_store_artifact_add(f->s, jp, ap, &a), 0);

    wf_artifact_row got;
    assert_int_equal(wf_store_artifact_by_key(f->s, "k1", &got), 0);
    assert_string_equal(got.sha256, "ab12");
    assert_string_equal(got.channel, "");
    wf_artifact_row_release(&got);
    assert_int_equal(wf_store_artifact_by_key_in(f->s, "pr/7", "k1", &got), 0);
    assert_string_equal(got.sha256, "cd34");
    assert_string_equal(got.channel, "pr/7");
    wf_artifact_row_release(&got);
    assert_int_equal(wf_store_artifact_by_filename_in(f->s, "pr/7", "x.whl", &got), 0);
    assert_string_equal(got.sha256, "cd34");
    wf_artifact_row_release(&got);
    assert_int_equal(wf_store_artifact_by_filename_in(f->s, "pr/9", "x.whl", &got), WF_ENOTFOUND);

    /* Linking main's wheel into pr/8: once; the job's own artifact stays main's. */
    assert_int_equal(wf_store_artifact_by_key(f->s, "k1", &got), 0);
    assert_int_equal(wf_store_artifact_link(f->s, "pr/8", &got), 0);
    assert_int_equal(wf_store_artifact_link(f->s, "pr/8", &got), WF_EEXIST);
    assert_int_equal(wf_store_artifact_link(f->s, "", &got), WF_EINVAL);
    wf_artifact_row_release(&got);
    assert_int_equal(wf_store_artifact_by_job(f->s, jm, &got), 0);
    assert_string_equal(got.channel, "");
    wf_artifact_row_release(&got);
    assert_int_equal(wf_store_artifact_by_job(f->s, jp, &got), 0);
    assert_string_equal(got.channel, "pr/7");
    wf_artifact_row_release(&got);

    wf_artifact_row *arts;
    assert_int_equal(wf_store_artifacts_for_project_in(f->s, "pr/8", "fixture-ext", &arts, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(arts[0].path, "/i/files/fixture-ext/x.whl");
    int64_t linked = arts[0].id;
    wf_artifact_rows_free(arts, n);
    char **names;
    assert_int_equal(wf_store_projects_in(f->s, "pr/7", &names, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "fixture-ext");
    free(names[0]);
    free(names);
    assert_int_equal(wf_store_projects_in(f->s, "pr/9", &names, &n), 0);
    assert_int_equal(n, 0);

    /* A path stays owned while any row of any channel has it. */
    int owned = 0;
    assert_int_equal(wf_store_artifact_delete(f->s, linked), 0);
    assert_int_equal(wf_store_artifact_delete(f->s, linked), WF_ENOTFOUND);
    assert_int_equal(wf_store_artifact_path_owned(f->s, "/i/files/fixture-ext/x.whl", &owned), 0);
    assert_int_equal(owned, 1);
    assert_int_equal(wf_store_artifacts_in(f->s, "pr/7", &arts, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(wf_store_artifact_delete(f->s, arts[0].id), 0);
    wf_artifact_rows_free(arts, n);
    assert_int_equal(wf_store_artifact_path_owned(f->s, "/i/pr/7/files/fixture-ext/x.whl", &owned),
                     0);
    assert_int_equal(owned, 0);
}

static void test_pull_requests(void **state)
{
    fixture *f = *state;
    wf_pr_row row = {0};
    assert_int_equal(wf_store_pr_get(f->s, 7, &row), WF_ENOTFOUND);
    wf_pr_row put = {.number = 7,
                     .state = "open",
                     .head_sha = "aaaa",
                     .base_ref = "main",
                     .projects = "fixture-ext demo"};
    assert_int_equal(wf_store_pr_put(f->s, &put), 0);
    put.state = "merged";
    assert_int_equal(wf_store_pr_put(f->s, &put), WF_EINVAL);
    put.state = "open";
    put.number = 0;
    assert_int_equal(wf_store_pr_put(f->s, &put), WF_EINVAL);
    wf_pr_row other = {.number = 3, .state = "closed", .head_sha = "bbbb"};
    assert_int_equal(wf_store_pr_put(f->s, &other), 0);
    assert_int_equal(wf_store_pr_get(f->s, 7, &row), 0);
    assert_string_equal(row.head_sha, "aaaa");
    assert_string_equal(row.projects, "fixture-ext demo");
    assert_null(row.errors);
    assert_null(row.status);
    assert_true(row.updated_at > 0);
    /* Replaced whole. */
    free(row.head_sha);
    row.head_sha = wf_strdup("cccc");
    row.status = wf_strdup("pending");
    row.status_sha = wf_strdup("cccc");
    assert_int_equal(wf_store_pr_put(f->s, &row), 0);
    wf_pr_row_release(&row);
    reopen(f);
    assert_int_equal(wf_store_pr_get(f->s, 7, &row), 0);
    assert_string_equal(row.head_sha, "cccc");
    assert_string_equal(row.status, "pending");
    wf_pr_row_release(&row);
    wf_pr_row *rows;
    size_t n;
    assert_int_equal(wf_store_prs_list(f->s, "open", &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].number, 7);
    wf_pr_rows_free(rows, n);
    assert_int_equal(wf_store_prs_list(f->s, NULL, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].number, 3);
    wf_pr_rows_free(rows, n);

    /* A head counts as planned once a request records it; its jobs are listed by head. */
    int yes = 1;
    assert_int_equal(wf_store_pr_head_requested(f->s, 7, "cccc", &yes), 0);
    assert_int_equal(yes, 0);
    int64_t req = new_request(f->s);
    wf_request_origin o = {.head_sha = "cccc", .pr = 7};
    assert_int_equal(wf_store_request_set_origin(f->s, req, &o), 0);
    int64_t j = new_job_in(f->s, req, "pr/7", "k");
    new_job_in(f->s, new_request(f->s), "pr/7", "k2"); /* another head's (no origin) */
    assert_int_equal(wf_store_pr_head_requested(f->s, 7, "cccc", &yes), 0);
    assert_int_equal(yes, 1);
    wf_job_row *jobs;
    assert_int_equal(wf_store_jobs_for_pr_head(f->s, 7, "cccc", &jobs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(jobs[0].id, j);
    wf_job_rows_free(jobs, n);
    assert_int_equal(wf_store_jobs_for_pr_head(f->s, 8, "cccc", &jobs, &n), 0);
    assert_int_equal(n, 0);
    /* A cancel with a reason records it. */
    wf_job_state st;
    assert_int_equal(wf_store_job_cancel_why(f->s, j, "superseded by head dddd", &st), 0);
    assert_int_equal(st, WF_JOB_CANCELLED);
    wf_job_row r;
    assert_int_equal(wf_store_job_get(f->s, j, &r), 0);
    assert_string_equal(r.error, "superseded by head dddd");
    wf_job_row_release(&r);
}

static void test_deliveries(void **state)
{
    fixture *f = *state;
    int is_new = -1, seen = -1;
    assert_int_equal(wf_store_delivery_seen(f->s, "github", "d1", &seen), 0);
    assert_int_equal(seen, 0);
    assert_int_equal(wf_store_delivery_add(f->s, "github", "d1", 1000, &is_new), 0);
    assert_int_equal(is_new, 1);
    assert_int_equal(wf_store_delivery_add(f->s, "github", "d1", 2000, &is_new), 0);
    assert_int_equal(is_new, 0);
    /* Ids are per forge. */
    assert_int_equal(wf_store_delivery_add(f->s, "gitea", "d1", 1500, &is_new), 0);
    assert_int_equal(is_new, 1);
    assert_int_equal(wf_store_delivery_add(f->s, "github", "d2", 3000, &is_new), 0);
    reopen(f);
    assert_int_equal(wf_store_delivery_seen(f->s, "github", "d1", &seen), 0);
    assert_int_equal(seen, 1);
    int pruned = 0;
    assert_int_equal(wf_store_deliveries_prune(f->s, 1600, &pruned), 0);
    assert_int_equal(pruned, 2);
    assert_int_equal(wf_store_delivery_seen(f->s, "github", "d1", &seen), 0);
    assert_int_equal(seen, 0);
    assert_int_equal(wf_store_delivery_seen(f->s, "github", "d2", &seen), 0);
    assert_int_equal(seen, 1);
}

/* A database written by the previous schema (version 2) keeps its artifacts, now in the main
 * channel. Built with the sqlite3 shell, since only store.c links SQLite. */
static void test_migrate_from_v2(void **state)
{
    fixture *f = *state;
    if (access("/usr/bin/sqlite3", X_OK) != 0)
        skip(); /* the sqlite3 shell writes the old database; without it this cannot run */
    wf_store_close(f->s);
    f->s = NULL;
    unlink(f->path);
    static const char v2[] =
        "CREATE TABLE requests(id INTEGER PRIMARY KEY, \"trigger\" TEXT NOT NULL, \"user\" TEXT,"
        " created_at INTEGER NOT NULL, commit_sha TEXT, ref TEXT, pr INTEGER, head_sha TEXT,"
        " upstream_version TEXT, detail TEXT);"
        "CREATE TABLE jobs(id INTEGER PRIMARY KEY, request_id INTEGER NOT NULL REFERENCES"
        " requests(id), recipe TEXT NOT NULL, version TEXT NOT NULL, python TEXT NOT NULL,"
        " platform TEXT NOT NULL, build_key TEXT NOT NULL, forced INTEGER NOT NULL DEFAULT 0,"
        " state TEXT NOT NULL DEFAULT 'queued', worker TEXT, emulated INTEGER NOT NULL DEFAULT 0,"
        " created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, error TEXT,"
        " attempts INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0);"
        "CREATE INDEX jobs_by_state ON jobs(state, id);"
        "CREATE INDEX jobs_by_request ON jobs(request_id);"
        "CREATE INDEX jobs_by_build_key ON jobs(build_key);"
        "CREATE TABLE attempts(job_id INTEGER NOT NULL REFERENCES jobs(id), n INTEGER NOT NULL,"
        " worker TEXT NOT NULL, state TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at"
        " INTEGER, error TEXT, PRIMARY KEY(job_id, n)) WITHOUT ROWID;"
        "CREATE TABLE artifacts(id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES"
        " jobs(id), build_key TEXT NOT NULL UNIQUE, project TEXT NOT NULL, version TEXT NOT NULL,"
        " filename TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL, size INTEGER NOT NULL,"
        " requires_python TEXT, metadata_sha256 TEXT, platform_tag TEXT, path TEXT NOT NULL,"
        " created_at INTEGER NOT NULL);"
        "CREATE INDEX artifacts_by_project ON artifacts(project, filename);"
        "CREATE INDEX artifacts_by_job ON artifacts(job_id);"
        "INSERT INTO requests VALUES(1, 'cli', 'alice', 5, NULL, NULL, NULL, NULL, NULL, NULL);"
        "INSERT INTO jobs(id, request_id, recipe, version, python, platform, build_key, state,"
        " created_at) VALUES(1, 1, 'fixture-ext', '1.0.0', 'cp311', 'linux/amd64', 'old-key',"
        " 'succeeded', 5);"
        "INSERT INTO artifacts VALUES(1, 1, 'old-key', 'fixture-ext', '1.0.0', 'old.whl', 'ef56',"
        " 10, NULL, NULL, NULL, '/i/files/fixture-ext/old.whl', 6);"
        "PRAGMA user_version = 2;";
    pid_t pid = fork();
    if (pid == 0) {
        execl("/usr/bin/sqlite3", "sqlite3", f->path, v2, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(wf_store_open(&f->s, f->path), 0);
    wf_artifact_row got;
    assert_int_equal(wf_store_artifact_by_key(f->s, "old-key", &got), 0);
    assert_string_equal(got.filename, "old.whl");
    assert_string_equal(got.channel, "");
    wf_artifact_row_release(&got);
    wf_job_row r;
    assert_int_equal(wf_store_job_get(f->s, 1, &r), 0);
    assert_string_equal(r.channel, "");
    wf_job_row_release(&r);
    /* The old UNIQUE(filename) is gone: a channel may hold the same file name. */
    int64_t j = new_job_in(f->s, 1, "pr/2", "old-key");
    int a;
    assert_int_equal(wf_store_attempt_start(f->s, j, "w", 0, LEASE_MS, &a), 0);
    wf_artifact_row art = make_artifact("old-key", "old.whl");
    art.channel = (char *)"pr/2";
    assert_int_equal(wf_store_artifact_add(f->s, j, a, &art), 0);
}

/* A person's drain flag is kept by worker name, survives a reopen, and can be taken back. */
static void test_worker_drain_flags(void **state)
{
    fixture *f = *state;
    wf_worker_flag_row *rows = NULL;
    size_t n = 99;
    assert_int_equal(wf_store_workers_drained(f->s, &rows, &n), 0);
    assert_int_equal(n, 0);
    assert_null(rows);
    assert_int_equal(wf_store_worker_set_drained(f->s, "arm-2", 1, 1700000000), 0);
    assert_int_equal(wf_store_worker_set_drained(f->s, "arm-1", 1, 1700000100), 0);
    assert_int_equal(wf_store_worker_set_drained(f->s, "x86", 0, 1700000200), 0);
    reopen(f);
    assert_int_equal(wf_store_workers_drained(f->s, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].name, "arm-1");
    assert_int_equal(rows[0].changed_at, 1700000100);
    assert_string_equal(rows[1].name, "arm-2");
    wf_worker_flag_rows_free(rows, n);
    /* Undrained: gone from the list; drained again: back with the new time. */
    assert_int_equal(wf_store_worker_set_drained(f->s, "arm-2", 0, 1700000300), 0);
    assert_int_equal(wf_store_workers_drained(f->s, &rows, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].name, "arm-1");
    wf_worker_flag_rows_free(rows, n);
    assert_int_equal(wf_store_worker_set_drained(f->s, "arm-2", 1, 1700000400), 0);
    assert_int_equal(wf_store_workers_drained(f->s, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[1].changed_at, 1700000400);
    wf_worker_flag_rows_free(rows, n);
    assert_int_equal(wf_store_worker_set_drained(f->s, NULL, 1, 0), WF_EINVAL);
    wf_worker_flag_rows_free(NULL, 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_names),
        T(test_lifecycle),
        T(test_job_needs_request),
        T(test_fifo_and_lists),
        T(test_invalid_transitions),
        T(test_cancel),
        T(test_recover_after_close),
        T(test_recover_after_kill),
        T(test_artifact_conflict),
        T(test_wal_and_schema_version),
        T(test_not_a_database),
        T(test_reopen_keeps_data),
        T(test_transaction_rollback),
        T(test_many_jobs),
        T(test_bump),
        T(test_lease_lifecycle),
        T(test_lease_expiry_fences_late_results),
        cmocka_unit_test(test_retry_delays),
        T(test_bounded_infra_retries),
        T(test_backoff_ends),
        T(test_recover_keeps_retry_budget),
        T(test_retry_rules),
        T(test_migrate_schema_1),
        T(test_channels),
        T(test_pull_requests),
        T(test_deliveries),
        T(test_migrate_from_v2),
        T(test_worker_drain_flags),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
