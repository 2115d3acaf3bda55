/* store.h - the durable state of wheelfarmd: requests, jobs, attempts and artifacts in SQLite.
 *
 * This is the only module that talks to SQLite. The database runs in WAL mode with
 * synchronous=FULL, so every function below that changes state has committed it to disk when it
 * returns 0: callers may then perform the action the change allows (start a build, publish a file).
 *
 * Threading: a wf_store belongs to one thread (the daemon's loop thread); every call is
 * synchronous. Nothing here may be called from the libuv thread pool.
 *
 * Errors: 0 on success, otherwise
 *   WF_ESTORE     the database failed; the SQLite message and the operation name were logged once
 *                 with wf_log_error, callers need not log it again
 *   WF_EEXIST     a uniqueness rule was broken (an artifact's build key or filename exists)
 *   WF_ENOTFOUND  the request or job named does not exist
 *   WF_EINVAL     a bad argument or a state transition the job's current state does not allow
 * Output parameters are written only on success. Strings handed out are heap copies the caller
 * frees (free(), or the *_release / *_free helpers for rows). Times are seconds since the epoch.
 */
#ifndef WF_DAEMON_STORE_H
#define WF_DAEMON_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct wf_store wf_store;

typedef enum {
    WF_JOB_QUEUED = 0,
    WF_JOB_RUNNING,
    WF_JOB_SUCCEEDED,
    WF_JOB_FAILED,
    WF_JOB_CANCELLED
} wf_job_state;

/* "queued", "running", "succeeded", "failed" or "cancelled"; "unknown" for other values.
 * The string is static. */
const char *wf_job_state_name(wf_job_state s);
/* Parses one of the names above into *out; WF_EINVAL otherwise (also for NULL). */
int wf_job_state_parse(const char *s, wf_job_state *out);

/* One job. The strings belong to the row; wf_job_row_release frees them. */
typedef struct wf_job_row {
    int64_t id, request_id;
    char *recipe, *version, *python, *platform, *build_key;
    int forced, emulated, attempts;
    wf_job_state state;
    char *worker; /* NULL until assigned (and again after a requeue) */
    char *error;  /* NULL unless failed/cancelled */
    int64_t created_at, started_at, finished_at; /* 0 when not yet */
    int cancel_requested; /* 1 once a cancel was asked for while the job ran */
} wf_job_row;
/* Frees the row's strings and zeroes it; NULL ok. The struct itself is the caller's. */
void wf_job_row_release(wf_job_row *r);
/* Releases n rows and frees the array (as returned by the list functions); NULL ok. */
void wf_job_rows_free(wf_job_row *rows, size_t n);

/* One published wheel. requires_python, metadata_sha256 and platform_tag may be NULL. */
typedef struct wf_artifact_row {
    int64_t id, job_id, size, created_at;
    char *build_key, *project, *version, *filename, *sha256, *requires_python, *metadata_sha256,
        *platform_tag, *path;
} wf_artifact_row;
void wf_artifact_row_release(wf_artifact_row *r);
void wf_artifact_rows_free(wf_artifact_row *rows, size_t n);

/* One attempt at running a job. state is "running", "succeeded", "failed", "cancelled" or
 * "lost" (the worker or the daemon went away; the job was requeued). error may be NULL;
 * finished_at is 0 while running. */
typedef struct wf_attempt_row {
    int64_t job_id;
    int n;
    char *worker;
    char *state;
    int64_t started_at, finished_at;
    char *error;
} wf_attempt_row;
void wf_attempt_rows_free(wf_attempt_row *rows, size_t n);

/* Opens (creating if needed) the database at path and brings its schema up to date.
 * A database written by a newer wheelfarmd (higher schema version) is refused with WF_ESTORE.
 * On success *out is the caller's, closed with wf_store_close. */
int wf_store_open(wf_store **out, const char *path);
/* Closes the database (rolling back an open transaction); NULL ok. */
void wf_store_close(wf_store *s);

/* Explicit transactions (BEGIN IMMEDIATE), used by the planner to create a request and its jobs
 * atomically. The other functions may run inside one; their own multi-step changes then become
 * part of it (savepoints). wf_store_commit rolls the transaction back when the commit fails.
 * wf_store_rollback is a no-op without an open transaction. Transactions do not nest. */
int wf_store_begin(wf_store *s);
int wf_store_commit(wf_store *s);
void wf_store_rollback(wf_store *s);

/* A build request. trigger is required ("cli", "watch", "nightly", ...); user may be NULL. */
int wf_store_request_create(wf_store *s, const char *trigger, const char *user, int64_t *out_id);
/* Any out pointer may be NULL. *user_out is NULL when no user was recorded. WF_ENOTFOUND. */
int wf_store_request_get(wf_store *s, int64_t id, char **trigger_out, char **user_out,
                         int64_t *created_at_out);

/* A queued job of an existing request (WF_ENOTFOUND if request_id does not exist). recipe is the
 * normalized recipe name; all strings are required. */
int wf_store_job_create(wf_store *s, int64_t request_id, const char *recipe, const char *version,
                        const char *python, const char *platform, const char *build_key, int forced,
                        int64_t *out_id);
/* Fills *out (release it with wf_job_row_release). WF_ENOTFOUND. */
int wf_store_job_get(wf_store *s, int64_t id, wf_job_row *out);
/* Jobs newest first. state NULL = any (else a state name, WF_EINVAL if unknown); request_id
 * 0 = any; limit <= 0 means 100, and at most WF_STORE_LIST_MAX rows are returned.
 * *out is freed with wf_job_rows_free (it is NULL when *n_out is 0). */
#define WF_STORE_LIST_MAX 10000
int wf_store_jobs_list(wf_store *s, const char *state, int64_t request_id, int limit,
                       wf_job_row **out, size_t *n_out);
/* Queued jobs, oldest first (FIFO; a requeued job keeps its place), at most limit
 * (<= 0 means 100, capped at WF_STORE_LIST_MAX). */
int wf_store_jobs_queued(wf_store *s, int limit, wf_job_row **out, size_t *n_out);
/* Queued jobs of one platform, oldest first, at most limit (the scheduler asks per platform so
 * that jobs waiting for a busy platform never block another platform's). */
int wf_store_jobs_queued_platform(wf_store *s, const char *platform, int limit, wf_job_row **out,
                                  size_t *n_out);

/* Is there a queued or running job with this build key? *job_id_out is the oldest such job,
 * or 0 if none. */
int wf_store_job_active_for_key(wf_store *s, const char *build_key, int64_t *job_id_out);

/* queued -> running, in one transaction: increments attempts, sets worker, emulated and
 * started_at, and inserts the attempt row n = attempts (returned in *attempt_out, may be NULL).
 * WF_EINVAL if the job is not queued, WF_ENOTFOUND if it does not exist. */
int wf_store_attempt_start(wf_store *s, int64_t job_id, const char *worker, int emulated,
                           int *attempt_out);
/* Finishes the running attempt and the job, in one transaction. job_state is SUCCEEDED, FAILED
 * or CANCELLED (the attempt gets the same state), or QUEUED to requeue the job with the attempt
 * marked 'lost' - but a job whose cancel was requested becomes CANCELLED instead of requeued.
 * error (may be NULL) is stored on the attempt, and on the job unless it is requeued.
 * Fencing: WF_EINVAL unless the job is running and attempt is its current attempt, so a late
 * result from an old attempt changes nothing. */
int wf_store_attempt_finish(wf_store *s, int64_t job_id, int attempt, wf_job_state job_state,
                            const char *error);
/* The job's attempts, oldest first; *out freed with wf_attempt_rows_free (NULL when none). */
int wf_store_attempts_list(wf_store *s, int64_t job_id, wf_attempt_row **out, size_t *n_out);
/* A queued job becomes cancelled directly; a running one gets cancel_requested=1 and stays
 * running (the caller stops the build, then finishes the attempt as CANCELLED); a finished job
 * is left unchanged. *new_state_out (may be NULL) is the job's state afterwards. WF_ENOTFOUND. */
int wf_store_job_cancel(wf_store *s, int64_t job_id, wf_job_state *new_state_out);
/* After a crash: running jobs go back to queued (worker cleared), their running attempts become
 * 'lost'. Running jobs whose cancel was requested become cancelled instead. *n_requeued (may be
 * NULL) is the number of jobs requeued. Call once at start-up, before scheduling. */
int wf_store_recover(wf_store *s, int *n_requeued);

/* Records the artifact AND marks the job and its attempt succeeded, in one transaction (the file
 * is already in place). Uses a's build_key, project, version, filename, sha256, size, path and the
 * optional strings; a->id and a->job_id are ignored, a->created_at 0 means now. Fenced like
 * wf_store_attempt_finish (WF_EINVAL). WF_EEXIST if the build key or filename already has an
 * artifact; then nothing changed. */
int wf_store_artifact_add(wf_store *s, int64_t job_id, int attempt, const wf_artifact_row *a);
/* The artifact stored under this file name (WF_ENOTFOUND if none): several build keys can
 * produce one file (a pure or abi3 wheel), and they share the artifact when the bytes agree. */
int wf_store_artifact_by_filename(wf_store *s, const char *filename, wf_artifact_row *out);

/* Fill *out (release with wf_artifact_row_release). WF_ENOTFOUND. */
int wf_store_artifact_by_key(wf_store *s, const char *build_key, wf_artifact_row *out);
int wf_store_artifact_by_job(wf_store *s, int64_t job_id, wf_artifact_row *out);
/* The project's artifacts (project is a normalized name) sorted by filename; *out freed with
 * wf_artifact_rows_free (NULL when none). An unknown project gives 0 rows, not an error. */
int wf_store_artifacts_for_project(wf_store *s, const char *project, wf_artifact_row **out,
                                   size_t *n_out);
/* Distinct normalized project names having artifacts, sorted; free each name and the array. */
int wf_store_projects(wf_store *s, char ***names_out, size_t *n_out);
/* Number of jobs in state st. */
int wf_store_count_jobs(wf_store *s, wf_job_state st, int64_t *out);

#endif
