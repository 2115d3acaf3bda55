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
#include <unistd.h>

#include "daemon/store.h"
#include "lib/wf.h"

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
    assert_int_equal(wf_store_attempt_start(f->s, job_id, "arm-1", 1, &attempt), 0);
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
    assert_int_equal(wf_store_attempt_start(f->s, ids[0], "w", 0, &attempt), 0);
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
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, &attempt), 0);
    /* Starting a running job is refused and changes nothing. */
    assert_int_equal(wf_store_attempt_start(f->s, job, "w2", 0, &again), WF_EINVAL);
    assert_int_equal(wf_store_attempt_start(f->s, job + 50, "w2", 0, &again), WF_ENOTFOUND);
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
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, &again), WF_EINVAL);
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
    assert_int_equal(wf_store_attempt_start(f->s, queued, "w", 0, &attempt), WF_EINVAL);

    assert_int_equal(wf_store_attempt_start(f->s, running, "w", 0, &attempt), 0);
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
    assert_int_equal(wf_store_attempt_start(s, job, "w", 0, &attempt), 0);
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
    assert_int_equal(wf_store_attempt_start(s, *job, "w", 0, &a), 0);
    assert_int_equal(wf_store_attempt_start(s, *cancelled, "w", 0, &a), 0);
    assert_int_equal(wf_store_job_cancel(s, *cancelled, NULL), 0);
    assert_int_equal(wf_store_attempt_start(s, *done, "w", 0, &a), 0);
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
    assert_int_equal(wf_store_attempt_start(f->s, j1, "w", 0, &a1), 0);
    assert_int_equal(wf_store_attempt_start(f->s, j2, "w", 0, &a2), 0);
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
    assert_memory_equal(hdr + 60, "\0\0\0\1", 4);
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
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, &a), 0);
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
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, &a), 0);
    assert_int_equal(wf_store_attempt_start(f->s, job, "w", 0, &a), WF_EINVAL);
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
    /* One commit, not 10,000 fsyncs. WF_TEST_SLOW (valgrind runs) relaxes the bound. */
    assert_true(elapsed < (getenv("WF_TEST_SLOW") ? 60000u : 5000u));
    assert_int_equal(count(f->s, WF_JOB_QUEUED), 10000);
    wf_job_row *rows;
    size_t n;
    assert_int_equal(wf_store_jobs_queued(f->s, 3, &rows, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].build_key, "key-0");
    assert_string_equal(rows[2].build_key, "key-2");
    wf_job_rows_free(rows, n);
    int64_t active;
    assert_int_equal(wf_store_job_active_for_key(f->s, "key-9999", &active), 0);
    assert_true(active > 0);
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
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
