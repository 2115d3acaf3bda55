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

/* Channels: where a job's wheel is published. "" is the main index (/simple/); "pr/<N>" is the
 * channel of pull request N (/pr/<N>/simple/). Functions without a channel argument work on
 * the main channel; the *_in variants take one (NULL means ""). */

/* One job. The strings belong to the row; wf_job_row_release frees them. */
typedef struct wf_job_row {
    int64_t id, request_id;
    char *recipe, *version, *python, *platform, *build_key;
    char *channel; /* "" for the main index */
    int forced, emulated, attempts;
    wf_job_state state;
    char *worker; /* NULL until assigned (and again after a requeue) */
    char *error;  /* NULL unless failed/cancelled */
    int64_t created_at, started_at, finished_at; /* 0 when not yet */
    int cancel_requested; /* 1 once a cancel was asked for while the job ran */
    int infra_failures;   /* infrastructure failures so far (they requeue, a bounded number) */
    int64_t not_before;   /* a queued job in backoff does not start before this; 0 = no backoff */
    char *avoid_worker;   /* the worker of the last infrastructure failure, or NULL */
    int64_t retry_of;     /* the job a person retried to create this one, or 0 */
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
    char *channel; /* "" (or NULL when adding) for the main index */
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

/* The lease of a job's running attempt: the daemon holds it while it drives the attempt and
 * renews it; finishing the attempt (or publishing its wheel) requires it to be live. Times are
 * milliseconds since the epoch. worker belongs to the row (free it). */
typedef struct wf_lease_row {
    int64_t job_id;
    int attempt;
    char *worker;
    int64_t acquired_ms, renewed_ms, expires_ms;
} wf_lease_row;
void wf_lease_row_release(wf_lease_row *r);

/* How infrastructure failures are retried: at most max_retries requeues, the n-th one waiting
 * backoff_s * 3^(n-1) seconds (10, 30, 90, ... for 10), capped at WF_RETRY_BACKOFF_MAX_S. */
typedef struct wf_retry_policy {
    unsigned max_retries;
    unsigned backoff_s;
} wf_retry_policy;
#define WF_RETRY_BACKOFF_MAX_S 3600
/* The wait before the n-th retry (n >= 1) under p, in seconds. Pure. */
int64_t wf_retry_delay_s(const wf_retry_policy *p, int n);

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

/* Where a request came from, beyond its trigger kind and user: the trigger record. Every field
 * may be NULL / 0. commit: the recipes' commit the request built (a watched repository's branch
 * head, or a pull request's head); ref: the branch or "refs/pull/N/head"; pr: pull request
 * number; head_sha: the pull request head; upstream_version: the version a bump found upstream;
 * detail: one line saying why ("recipe changed: recipes/x.yaml"). */
typedef struct wf_request_origin {
    char *commit, *ref, *head_sha, *upstream_version, *detail;
    int64_t pr;
} wf_request_origin;
/* Frees the strings and zeroes the struct; NULL ok. */
void wf_request_origin_release(wf_request_origin *o);
/* Records o on request id (usually inside the transaction that creates it). WF_ENOTFOUND. */
int wf_store_request_set_origin(wf_store *s, int64_t id, const wf_request_origin *o);
/* Fills *out (release it with wf_request_origin_release). WF_ENOTFOUND. */
int wf_store_request_origin(wf_store *s, int64_t id, wf_request_origin *out);

/* A queued job of an existing request (WF_ENOTFOUND if request_id does not exist). recipe is the
 * normalized recipe name; all strings are required. */
int wf_store_job_create(wf_store *s, int64_t request_id, const char *recipe, const char *version,
                        const char *python, const char *platform, const char *build_key, int forced,
                        int64_t *out_id);
/* The same, queuing the job for `channel` (NULL or "" = main). */
int wf_store_job_create_in(wf_store *s, int64_t request_id, const char *channel, const char *recipe,
                           const char *version, const char *python, const char *platform,
                           const char *build_key, int forced, int64_t *out_id);
/* Fills *out (release it with wf_job_row_release). WF_ENOTFOUND. */
int wf_store_job_get(wf_store *s, int64_t id, wf_job_row *out);
/* Jobs newest first. state NULL = any (else a state name, WF_EINVAL if unknown); request_id
 * 0 = any; limit <= 0 means 100, and at most WF_STORE_LIST_MAX rows are returned.
 * *out is freed with wf_job_rows_free (it is NULL when *n_out is 0). */
#define WF_STORE_LIST_MAX 10000
int wf_store_jobs_list(wf_store *s, const char *state, int64_t request_id, int limit,
                       wf_job_row **out, size_t *n_out);
/* Queued jobs that may start now (not in a backoff), oldest first (FIFO; a requeued job keeps
 * its place), at most limit (<= 0 means 100, capped at WF_STORE_LIST_MAX). */
int wf_store_jobs_queued(wf_store *s, int limit, wf_job_row **out, size_t *n_out);
/* The queued jobs of one platform that may start now (not in a backoff: not_before <= now) in
 * the order the scheduler starts them, at most limit (it asks per platform so that jobs waiting
 * for a busy platform never block another platform's):
 *   1. priority from the request's trigger: "cli", "api" and "retry" (a person) first, then
 *      "pr", then "watch" and "commit" (recipe changes) and unknown triggers, then "bump" and
 *      "nightly";
 *   2. fairness within a priority: each request's first queued job before any request's second
 *      one, and so on, the requests taking turns starting after request `after_request` (the
 *      one the scheduler served last; 0 = from the oldest);
 *   3. FIFO inside a request (a requeued job keeps its place).
 * Derived from requests.trigger in the query: no column stores the priority. */
int wf_store_jobs_next(wf_store *s, const char *platform, int64_t after_request, int limit,
                       wf_job_row **out, size_t *n_out);

/* Is there a queued or running job with this build key? *job_id_out is the oldest such job,
 * or 0 if none. */
int wf_store_job_active_for_key(wf_store *s, const char *build_key, int64_t *job_id_out);
/* The same within one channel. */
int wf_store_job_active_for_key_in(wf_store *s, const char *channel, const char *build_key,
                                   int64_t *job_id_out);
/* Queued and running jobs of a channel, oldest first (at most WF_STORE_LIST_MAX). */
int wf_store_jobs_active_in(wf_store *s, const char *channel, wf_job_row **out, size_t *n_out);
/* Jobs of the requests that pull request `pr` triggered at head `head_sha`, oldest first. */
int wf_store_jobs_for_pr_head(wf_store *s, int64_t pr, const char *head_sha, wf_job_row **out,
                              size_t *n_out);

/* queued -> running, in one transaction: increments attempts, sets worker, emulated and
 * started_at, inserts the attempt row n = attempts (returned in *attempt_out, may be NULL) and
 * the attempt's lease on worker, live for lease_ms (> 0) from now. Committed before the caller
 * starts anything for the attempt. WF_EINVAL if the job is not queued, WF_ENOTFOUND if it does
 * not exist. The job's not_before and avoid_worker stay (they describe its last failure). */
int wf_store_attempt_start(wf_store *s, int64_t job_id, const char *worker, int emulated,
                           int64_t lease_ms, int *attempt_out);
/* Extends the attempt's lease to lease_ms from now. WF_EINVAL when the lease is lost: it has
 * expired, or attempt is no longer the job's running attempt; the caller must then stop the
 * attempt and hand it to wf_store_lease_expire. */
int wf_store_lease_renew(wf_store *s, int64_t job_id, int attempt, int64_t lease_ms);
/* The job's lease (there is one only while an attempt runs). WF_ENOTFOUND. */
int wf_store_lease_get(wf_store *s, int64_t job_id, wf_lease_row *out);

/* Fencing, for the functions below that end an attempt or publish its result: they change
 * nothing and return WF_EINVAL unless the job is running, attempt is its current attempt AND the
 * attempt's lease is live. A late result of an attempt whose lease was lost is discarded, so a
 * requeued job is never finished (or published) twice. Ending an attempt removes its lease. */

/* Finishes the running attempt and the job, in one transaction. job_state is SUCCEEDED, FAILED
 * or CANCELLED (the attempt gets the same state), or QUEUED to requeue the job with the attempt
 * marked 'lost' and no backoff (the daemon's own shutdown; infrastructure failures use
 * wf_store_attempt_retry) - but a job whose cancel was requested becomes CANCELLED instead of
 * requeued. error (may be NULL) is stored on the attempt, and on the job unless it is requeued.
 * Fenced (WF_EINVAL). */
int wf_store_attempt_finish(wf_store *s, int64_t job_id, int attempt, wf_job_state job_state,
                            const char *error);
/* Ends the running attempt after an infrastructure failure (engine unreachable, engine error,
 * killed client, download failure), in one transaction: the job's infra_failures grows by one;
 * within p->max_retries the job is requeued (attempt 'lost') with not_before = now +
 * wf_retry_delay_s(p, infra_failures) and avoid_worker = avoid (may be NULL: the failure was not
 * the worker's); past it the job fails with error and the count. A job whose cancel was
 * requested becomes CANCELLED. *state_out (may be NULL) is the job's new state. Fenced. */
int wf_store_attempt_retry(wf_store *s, int64_t job_id, int attempt, const char *error,
                           const char *avoid, const wf_retry_policy *p, wf_job_state *state_out);
/* The same for an attempt whose lease was lost: WF_EINVAL unless the job is running, attempt is
 * its current attempt and the lease has expired (a live lease means the attempt is still
 * driven: end it with the functions above). The lease's worker is avoided. */
int wf_store_lease_expire(wf_store *s, int64_t job_id, int attempt, const char *error,
                          const wf_retry_policy *p, wf_job_state *state_out);
/* The job's attempts, oldest first; *out freed with wf_attempt_rows_free (NULL when none). */
int wf_store_attempts_list(wf_store *s, int64_t job_id, wf_attempt_row **out, size_t *n_out);
/* A queued job becomes cancelled directly; a running one gets cancel_requested=1 and stays
 * running (the caller stops the build, then finishes the attempt as CANCELLED); a finished job
 * is left unchanged. *new_state_out (may be NULL) is the job's state afterwards. WF_ENOTFOUND. */
int wf_store_job_cancel(wf_store *s, int64_t job_id, wf_job_state *new_state_out);
/* The same with the reason a queued job's error records (NULL: "cancelled before it started"). */
int wf_store_job_cancel_why(wf_store *s, int64_t job_id, const char *why,
                            wf_job_state *new_state_out);
/* After a crash: running jobs go back to queued (worker cleared), their running attempts become
 * 'lost' and every lease is removed: the attempts died with the daemon that held them (builds
 * die with it), so nobody waits for the leases to expire. Running jobs whose cancel was requested
 * become cancelled instead. The daemon's crash is not the job's or the worker's infrastructure
 * failure: infra_failures, not_before and avoid_worker are left as they were. *n_requeued (may
 * be NULL) is the number of jobs requeued. Call once at start-up, before scheduling. */
int wf_store_recover(wf_store *s, int *n_requeued);

/* A person's retry of a failed or cancelled job: in one transaction a new request (trigger
 * "retry", user may be NULL) and a new queued job for the same recipe, version, python,
 * platform, build key and force flag, with retry_of = job_id. The old job, its attempts and its
 * log stay as they are. WF_ENOTFOUND; WF_EINVAL if the job is queued, running or succeeded;
 * WF_EEXIST if its build key has a queued or running job, or (unless the job was forced) a
 * published artifact. *job_out and *request_out (may be NULL) are the new ids. */
int wf_store_job_retry(wf_store *s, int64_t job_id, const char *user, int64_t *job_out,
                       int64_t *request_out);
/* The earliest not_before still in the future among queued jobs (when the next backoff ends),
 * or 0 when no queued job waits for one. */
int wf_store_backoff_next(wf_store *s, int64_t *out);

/* Records the artifact AND marks the job and its attempt succeeded, in one transaction (the file
 * is already in place). Uses a's channel (NULL = main), build_key, project, version, filename,
 * sha256, size, path and the optional strings; a->id and a->job_id are ignored, a->created_at 0
 * means now. Fenced like wf_store_attempt_finish (WF_EINVAL). WF_EEXIST if the build key or
 * filename already has an artifact in that channel; then nothing changed. */
int wf_store_artifact_add(wf_store *s, int64_t job_id, int attempt, const wf_artifact_row *a);
/* Lists main's artifact a in `channel` too (same file, same job): a pull request whose build
 * key main has already built reuses that wheel. WF_EEXIST if the channel has the key or the
 * file name already. */
int wf_store_artifact_link(wf_store *s, const char *channel, const wf_artifact_row *a);
/* Deletes one artifact row (not its file). WF_ENOTFOUND. */
int wf_store_artifact_delete(wf_store *s, int64_t id);
/* *owned_out = 1 when some artifact row, in any channel, has this path. */
int wf_store_artifact_path_owned(wf_store *s, const char *path, int *owned_out);
/* Every artifact of a channel, sorted by project and filename. */
int wf_store_artifacts_in(wf_store *s, const char *channel, wf_artifact_row **out, size_t *n_out);
/* The artifact stored under this file name (WF_ENOTFOUND if none): several build keys can
 * produce one file (a pure or abi3 wheel), and they share the artifact when the bytes agree. */
int wf_store_artifact_by_filename(wf_store *s, const char *filename, wf_artifact_row *out);

int wf_store_artifact_by_filename_in(wf_store *s, const char *channel, const char *filename,
                                     wf_artifact_row *out);

/* Fill *out (release with wf_artifact_row_release). WF_ENOTFOUND. by_job gives the artifact
 * the job recorded in its own channel. */
int wf_store_artifact_by_key(wf_store *s, const char *build_key, wf_artifact_row *out);
int wf_store_artifact_by_key_in(wf_store *s, const char *channel, const char *build_key,
                                wf_artifact_row *out);
int wf_store_artifact_by_job(wf_store *s, int64_t job_id, wf_artifact_row *out);
/* The project's artifacts (project is a normalized name) sorted by filename; *out freed with
 * wf_artifact_rows_free (NULL when none). An unknown project gives 0 rows, not an error. */
int wf_store_artifacts_for_project(wf_store *s, const char *project, wf_artifact_row **out,
                                   size_t *n_out);
int wf_store_artifacts_for_project_in(wf_store *s, const char *channel, const char *project,
                                      wf_artifact_row **out, size_t *n_out);
/* Distinct normalized project names having artifacts, sorted; free each name and the array. */
int wf_store_projects(wf_store *s, char ***names_out, size_t *n_out);
int wf_store_projects_in(wf_store *s, const char *channel, char ***names_out, size_t *n_out);
/* Number of jobs in state st. */
int wf_store_count_jobs(wf_store *s, wf_job_state st, int64_t *out);

/* ---- version bumps (daemon/bump.c) ---- */

/* One bump run. kind: "schedule", "catch-up" or "manual"; state: "running", "finished" or
 * "interrupted" (the daemon stopped during it); queued: versions it queued; report: its JSON
 * report (docs/API.md), NULL while running. finished_at is 0 while running. */
typedef struct wf_bump_run_row {
    int64_t id;
    char *kind;
    int dry_run;
    char *state;
    int64_t started_at, finished_at, queued;
    char *report;
} wf_bump_run_row;
void wf_bump_run_row_release(wf_bump_run_row *r);
void wf_bump_run_rows_free(wf_bump_run_row *rows, size_t n);

/* Records a run as running, started now. */
int wf_store_bump_run_start(wf_store *s, const char *kind, int dry_run, int64_t *out_id);
/* running -> finished with its count and report (required). WF_ENOTFOUND if not running. */
int wf_store_bump_run_finish(wf_store *s, int64_t id, int64_t queued, const char *report);
/* Fills *out (release with wf_bump_run_row_release). WF_ENOTFOUND. */
int wf_store_bump_run_get(wf_store *s, int64_t id, wf_bump_run_row *out);
/* Runs newest first, at most limit (<= 0 means 100); freed with wf_bump_run_rows_free. */
int wf_store_bump_runs_list(wf_store *s, int limit, wf_bump_run_row **out, size_t *n_out);
/* When the newest finished run that was not a dry run started; 0 when there is none. */
int wf_store_bump_last_done(wf_store *s, int64_t *started_at_out);
/* At start-up: runs left running by a stop become interrupted; *n_out (may be NULL) counts
 * them. */
int wf_store_bump_recover(wf_store *s, int *n_out);
/* When (project, version) was first seen upstream: records `now` the first time it is asked,
 * then returns that same time forever. project is the normalized name, version normalized. */
int wf_store_bump_seen(wf_store *s, const char *project, const char *version, int64_t now,
                       int64_t *first_seen_out);
/* When scheduled bumps were first armed on this state: records `now` the first time. */
int wf_store_bump_armed(wf_store *s, int64_t now, int64_t *armed_at_out);

/* ---- pull requests ---- */

/* What the daemon knows of one pull request. state: "open" or "closed". head_sha: the head
 * whose builds the channel holds (or is getting). projects: normalized names of the recipes the
 * head changes, space-separated ("" none). errors: why the head could not be built (fetch or
 * recipe errors, file:line:column lines joined by '\n'), or NULL. status / status_sha: the last
 * commit status reported to the forge, and for which head (NULL: none yet). */
typedef struct wf_pr_row {
    int64_t number;
    char *state, *head_sha, *base_ref, *projects, *errors, *status, *status_sha;
    int64_t updated_at;
} wf_pr_row;
void wf_pr_row_release(wf_pr_row *r);
void wf_pr_rows_free(wf_pr_row *rows, size_t n);
/* WF_ENOTFOUND when the pull request was never seen. */
int wf_store_pr_get(wf_store *s, int64_t number, wf_pr_row *out);
/* Inserts or replaces the row r->number (state and head_sha required; updated_at 0 = now). */
int wf_store_pr_put(wf_store *s, const wf_pr_row *r);
/* *yes_out = 1 when a request was recorded for pull request `pr` at head `head_sha` (its builds
 * were planned, whether or not any job was needed). */
int wf_store_pr_head_requested(wf_store *s, int64_t pr, const char *head_sha, int *yes_out);
/* Pull requests in a state ("open", "closed"; NULL any), by number. */
int wf_store_prs_list(wf_store *s, const char *state, wf_pr_row **out, size_t *n_out);

/* ---- webhook deliveries (replay protection) ---- */

/* Records a forge's delivery id with its arrival time. *is_new_out = 0 when (forge, id) was
 * recorded before (a replay; nothing changed), 1 when it is new. */
int wf_store_delivery_add(wf_store *s, const char *forge, const char *id, int64_t at,
                          int *is_new_out);
/* *seen_out = 1 when (forge, id) is recorded. */
int wf_store_delivery_seen(wf_store *s, const char *forge, const char *id, int *seen_out);
/* Forgets deliveries that arrived before `before`; *n_out (may be NULL) how many. */
int wf_store_deliveries_prune(wf_store *s, int64_t before, int *n_out);

/* A worker a person drained (`wheelfarm drain`), by name; the flag outlives restarts and config
 * reloads. changed_at: when it was drained. */
typedef struct wf_worker_flag_row {
    char *name;
    int64_t changed_at;
} wf_worker_flag_row;
void wf_worker_flag_rows_free(wf_worker_flag_row *rows, size_t n);
/* Records that the worker is drained (1) or takes jobs again (0), at time `at`. */
int wf_store_worker_set_drained(wf_store *s, const char *name, int drained, int64_t at);
/* The drained workers, by name; *out freed with wf_worker_flag_rows_free (NULL when none). */
int wf_store_workers_drained(wf_store *s, wf_worker_flag_row **out, size_t *n_out);

#endif
