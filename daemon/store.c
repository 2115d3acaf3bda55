/* store.c - wheelfarmd's durable state in SQLite: the only file that includes <sqlite3.h>. */
#include "daemon/store.h"
#include "lib/log.h"
#include "lib/wf.h"

#include <assert.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a statement waits for a lock held by another connection (the CLI never opens the
 * database, but an operator's sqlite3 shell might). */
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_DEFAULT_LIMIT 100

/* Schema migrations: entry v takes a database from user_version v to v + 1. Append only. */
static const char *const store_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE requests("
    "  id INTEGER PRIMARY KEY,"
    "  \"trigger\" TEXT NOT NULL,"
    "  \"user\" TEXT,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE jobs("
    "  id INTEGER PRIMARY KEY,"
    "  request_id INTEGER NOT NULL REFERENCES requests(id),"
    "  recipe TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  python TEXT NOT NULL,"
    "  platform TEXT NOT NULL,"
    "  build_key TEXT NOT NULL,"
    "  forced INTEGER NOT NULL DEFAULT 0 CHECK(forced IN (0, 1)),"
    "  state TEXT NOT NULL DEFAULT 'queued'"
    "    CHECK(state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),"
    "  worker TEXT,"
    "  emulated INTEGER NOT NULL DEFAULT 0 CHECK(emulated IN (0, 1)),"
    "  created_at INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  finished_at INTEGER,"
    "  error TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK(cancel_requested IN (0, 1)));"
    /* (state, id): the FIFO queue and the newest-first lists by state read it in order. */
    "CREATE INDEX jobs_by_state ON jobs(state, id);"
    "CREATE INDEX jobs_by_request ON jobs(request_id);"
    "CREATE INDEX jobs_by_build_key ON jobs(build_key);"
    "CREATE TABLE attempts("
    "  job_id INTEGER NOT NULL REFERENCES jobs(id),"
    "  n INTEGER NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  state TEXT NOT NULL"
    "    CHECK(state IN ('running', 'succeeded', 'failed', 'cancelled', 'lost')),"
    "  started_at INTEGER NOT NULL,"
    "  finished_at INTEGER,"
    "  error TEXT,"
    "  PRIMARY KEY(job_id, n)) WITHOUT ROWID;"
    /* build_key and filename are UNIQUE, which gives each its index. */
    "CREATE TABLE artifacts("
    "  id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL REFERENCES jobs(id),"
    "  build_key TEXT NOT NULL UNIQUE,"
    "  project TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  filename TEXT NOT NULL UNIQUE,"
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  requires_python TEXT,"
    "  metadata_sha256 TEXT,"
    "  platform_tag TEXT,"
    "  path TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX artifacts_by_project ON artifacts(project, filename);"
    "CREATE INDEX artifacts_by_job ON artifacts(job_id);",
    /* 1 -> 2: where a request came from (the trigger record; see wf_request_origin). */
    "ALTER TABLE requests ADD COLUMN commit_sha TEXT;"
    "ALTER TABLE requests ADD COLUMN ref TEXT;"
    "ALTER TABLE requests ADD COLUMN pr INTEGER;"
    "ALTER TABLE requests ADD COLUMN head_sha TEXT;"
    "ALTER TABLE requests ADD COLUMN upstream_version TEXT;"
    "ALTER TABLE requests ADD COLUMN detail TEXT;",
    /* 2 -> 3: version bumps: their runs and reports, when each upstream version was first
     * seen (min_age without upload times), and when the bump schedule was first armed. */
    "CREATE TABLE bump_runs("
    "  id INTEGER PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK(kind IN ('schedule', 'catch-up', 'manual')),"
    "  dry_run INTEGER NOT NULL CHECK(dry_run IN (0, 1)),"
    "  state TEXT NOT NULL DEFAULT 'running'"
    "    CHECK(state IN ('running', 'finished', 'interrupted')),"
    "  started_at INTEGER NOT NULL,"
    "  finished_at INTEGER,"
    "  queued INTEGER NOT NULL DEFAULT 0,"
    "  report TEXT);"
    "CREATE TABLE bump_seen("
    "  project TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  PRIMARY KEY(project, version)) WITHOUT ROWID;"
    "CREATE TABLE bump_schedule("
    "  id INTEGER PRIMARY KEY CHECK(id = 1),"
    "  armed_at INTEGER NOT NULL);",
    /* 3 -> 4: leases, backoff after infrastructure failures, retries by people. A job running
     * under an older schema has no lease; wf_store_recover ends such attempts at the next start. */
    "ALTER TABLE jobs ADD COLUMN infra_failures INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN not_before INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN avoid_worker TEXT;"
    "ALTER TABLE jobs ADD COLUMN retry_of INTEGER REFERENCES jobs(id);"
    "CREATE TABLE leases("
    "  job_id INTEGER PRIMARY KEY REFERENCES jobs(id),"
    "  attempt INTEGER NOT NULL,"
    "  worker TEXT NOT NULL,"
    "  acquired_ms INTEGER NOT NULL,"
    "  renewed_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL);",
    /* 4 -> 5: channels (the main index "" and one per pull request, "pr/<N>"), pull requests,
     * webhook deliveries. Artifacts are unique per channel now, so the table is rebuilt (SQLite
     * cannot drop a UNIQUE constraint in place). */
    "ALTER TABLE jobs ADD COLUMN channel TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX jobs_by_channel ON jobs(channel, state);"
    "CREATE TABLE artifacts_v3("
    "  id INTEGER PRIMARY KEY,"
    "  job_id INTEGER NOT NULL REFERENCES jobs(id),"
    "  channel TEXT NOT NULL DEFAULT '',"
    "  build_key TEXT NOT NULL,"
    "  project TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  filename TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  requires_python TEXT,"
    "  metadata_sha256 TEXT,"
    "  platform_tag TEXT,"
    "  path TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  UNIQUE(channel, build_key),"
    "  UNIQUE(channel, filename));"
    "INSERT INTO artifacts_v3(id, job_id, channel, build_key, project, version, filename, sha256,"
    "  size, requires_python, metadata_sha256, platform_tag, path, created_at)"
    "  SELECT id, job_id, '', build_key, project, version, filename, sha256, size,"
    "  requires_python, metadata_sha256, platform_tag, path, created_at FROM artifacts;"
    "DROP TABLE artifacts;"
    "ALTER TABLE artifacts_v3 RENAME TO artifacts;"
    "CREATE INDEX artifacts_by_project ON artifacts(channel, project, filename);"
    "CREATE INDEX artifacts_by_job ON artifacts(job_id);"
    "CREATE INDEX artifacts_by_path ON artifacts(path);"
    "CREATE INDEX requests_by_pr ON requests(pr, head_sha);"
    "CREATE TABLE prs("
    "  number INTEGER PRIMARY KEY,"
    "  state TEXT NOT NULL CHECK(state IN ('open', 'closed')),"
    "  head_sha TEXT NOT NULL,"
    "  base_ref TEXT,"
    "  projects TEXT NOT NULL DEFAULT '',"
    "  errors TEXT,"
    "  status TEXT,"
    "  status_sha TEXT,"
    "  updated_at INTEGER NOT NULL);"
    "CREATE TABLE deliveries("
    "  forge TEXT NOT NULL,"
    "  id TEXT NOT NULL,"
    "  received_at INTEGER NOT NULL,"
    "  PRIMARY KEY(forge, id)) WITHOUT ROWID;"
    "CREATE INDEX deliveries_by_time ON deliveries(received_at);",
    /* 5 -> 6: what a person set on a worker (drained), kept by worker name across restarts and
     * reloads; and the scheduler's queue order (per platform, per request, FIFO). IF NOT EXISTS:
     * the statements are safe whichever order this and other migrations are merged in. */
    "CREATE TABLE IF NOT EXISTS worker_flags("
    "  name TEXT PRIMARY KEY,"
    "  drained INTEGER NOT NULL DEFAULT 0 CHECK(drained IN (0, 1)),"
    "  changed_at INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(state, platform, request_id, id, not_before);",
};
#define STORE_SCHEMA_VERSION ((int)WF_ARRAY_SIZE(store_migrations))

#define JOB_COLS                                                                                   \
    "id, request_id, recipe, version, python, platform, build_key, forced, emulated, attempts, "   \
    "state, worker, error, created_at, started_at, finished_at, cancel_requested, "                \
    "infra_failures, not_before, avoid_worker, retry_of, channel"
#define BUMP_COLS "id, kind, dry_run, state, started_at, finished_at, queued, report"
#define ART_COLS                                                                                   \
    "id, job_id, size, created_at, build_key, project, version, filename, sha256, "                \
    "requires_python, metadata_sha256, platform_tag, path, channel"
#define PR_COLS                                                                                    \
    "number, state, head_sha, base_ref, projects, errors, status, status_sha, updated_at"

/* A request's scheduling priority from its trigger (smaller first): a person's request (a retry
 * included), then PR builds, then recipe changes (and unknown triggers), then bumps and nightly. */
#define TRIGGER_PRIORITY                                                                           \
    "CASE requests.\"trigger\" WHEN 'cli' THEN 0 WHEN 'api' THEN 0 WHEN 'retry' THEN 0 WHEN 'pr' " \
    "THEN 1 WHEN 'watch' THEN 2 WHEN 'commit' THEN 2 WHEN 'bump' THEN 3 WHEN 'nightly' THEN 3 "    \
    "ELSE 2 END"

/* The prepared-statement cache: each statement is prepared on first use and kept. */
enum st_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_ROLLBACK_TO,
    ST_REQUEST_INSERT,
    ST_REQUEST_GET,
    ST_REQUEST_SET_ORIGIN,
    ST_REQUEST_ORIGIN,
    ST_JOB_INSERT,
    ST_JOB_GET,
    ST_JOB_BRIEF,
    ST_JOBS_ALL,
    ST_JOBS_BY_STATE,
    ST_JOBS_BY_REQUEST,
    ST_JOBS_BY_STATE_REQUEST,
    ST_JOBS_QUEUED,
    ST_QUEUE_REQUESTS,
    ST_QUEUE_OF_REQUEST,
    ST_JOB_ACTIVE_KEY,
    ST_JOBS_ACTIVE_CHANNEL,
    ST_JOBS_PR_HEAD,
    ST_JOB_START,
    ST_JOB_FINISH,
    ST_JOB_REQUEUE,
    ST_JOB_CANCEL_REQUEST,
    ST_JOB_BACKOFF,
    ST_JOB_RETRY_INSERT,
    ST_BACKOFF_NEXT,
    ST_COUNT_JOBS,
    ST_ATTEMPT_INSERT,
    ST_ATTEMPT_FINISH,
    ST_ATTEMPTS_LIST,
    ST_RECOVER_ATTEMPTS,
    ST_RECOVER_CANCELLED,
    ST_RECOVER_REQUEUE,
    ST_RECOVER_LEASES,
    ST_LEASE_INSERT,
    ST_LEASE_GET,
    ST_LEASE_RENEW,
    ST_LEASE_DELETE,
    ST_ARTIFACT_INSERT,
    ST_ARTIFACT_BY_KEY,
    ST_ARTIFACT_BY_JOB,
    ST_ARTIFACT_BY_FILENAME,
    ST_ARTIFACTS_PROJECT,
    ST_ARTIFACTS_CHANNEL,
    ST_ARTIFACT_DELETE,
    ST_ARTIFACT_PATH_OWNED,
    ST_PROJECTS,
    ST_BUMP_RUN_INSERT,
    ST_BUMP_RUN_FINISH,
    ST_BUMP_RUN_GET,
    ST_BUMP_RUNS_LIST,
    ST_BUMP_RUN_LAST_DONE,
    ST_BUMP_RUNS_RECOVER,
    ST_BUMP_SEEN_INSERT,
    ST_BUMP_SEEN_GET,
    ST_BUMP_ARMED_INSERT,
    ST_BUMP_ARMED_GET,
    ST_PR_GET,
    ST_PR_PUT,
    ST_PRS_ALL,
    ST_PRS_BY_STATE,
    ST_DELIVERY_ADD,
    ST_DELIVERY_SEEN,
    ST_DELIVERIES_PRUNE,
    ST_PR_HEAD_REQUESTED,
    ST_WORKER_DRAIN_SET,
    ST_WORKERS_DRAINED,
    ST__COUNT
};

static const char *const st_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT wf_store_op",
    [ST_RELEASE] = "RELEASE wf_store_op",
    [ST_ROLLBACK_TO] = "ROLLBACK TO wf_store_op",
    [ST_REQUEST_INSERT] =
        "INSERT INTO requests(\"trigger\", \"user\", created_at) VALUES(?1, ?2, ?3)",
    [ST_REQUEST_GET] = "SELECT \"trigger\", \"user\", created_at FROM requests WHERE id = ?1",
    [ST_REQUEST_SET_ORIGIN] =
        "UPDATE requests SET commit_sha = ?2, ref = ?3, pr = ?4, head_sha = ?5,"
        " upstream_version = ?6, detail = ?7 WHERE id = ?1",
    [ST_REQUEST_ORIGIN] = "SELECT commit_sha, ref, pr, head_sha, upstream_version, detail"
                          " FROM requests WHERE id = ?1",
    [ST_JOB_INSERT] =
        "INSERT INTO jobs(request_id, recipe, version, python, platform, build_key,"
        " forced, state, created_at, channel) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9)",
    [ST_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
    [ST_JOB_BRIEF] = "SELECT state, attempts, cancel_requested, infra_failures FROM jobs"
                     " WHERE id = ?1",
    [ST_JOBS_ALL] = "SELECT " JOB_COLS " FROM jobs ORDER BY id DESC LIMIT ?1",
    [ST_JOBS_BY_STATE] = "SELECT " JOB_COLS " FROM jobs WHERE state = ?1 ORDER BY id DESC LIMIT ?2",
    [ST_JOBS_BY_REQUEST] =
        "SELECT " JOB_COLS " FROM jobs WHERE request_id = ?1 ORDER BY id DESC LIMIT ?2",
    [ST_JOBS_BY_STATE_REQUEST] = "SELECT " JOB_COLS " FROM jobs WHERE state = ?1 AND"
                                 " request_id = ?2 ORDER BY id DESC LIMIT ?3",
    [ST_JOBS_QUEUED] = "SELECT " JOB_COLS " FROM jobs WHERE state = 'queued' AND"
                       " not_before <= ?2 ORDER BY id ASC LIMIT ?1",
    /* The requests with queued jobs of platform ?1 that may start at ?3 (not in a backoff), in
     * the order they take turns: by priority (from the trigger), then starting after ?2 (the
     * request served last, when it has this priority), then oldest first. DISTINCT reads the
     * covering index jobs_queue only. */
    [ST_QUEUE_REQUESTS] =
        "SELECT q.request_id, " TRIGGER_PRIORITY " AS prio FROM"
        " (SELECT DISTINCT request_id FROM jobs WHERE state = 'queued' AND platform = ?1 AND"
        " not_before <= ?3) q"
        " JOIN requests ON requests.id = q.request_id ORDER BY prio, q.request_id <= ?2 AND"
        " prio = (SELECT " TRIGGER_PRIORITY " FROM requests WHERE id = ?2), q.request_id",
    [ST_QUEUE_OF_REQUEST] = "SELECT " JOB_COLS " FROM jobs WHERE state = 'queued' AND"
                            " platform = ?1 AND request_id = ?2 AND not_before <= ?4"
                            " ORDER BY id LIMIT ?3",
    [ST_JOB_ACTIVE_KEY] = "SELECT id FROM jobs WHERE build_key = ?1 AND channel = ?2 AND"
                          " state IN ('queued', 'running') ORDER BY id ASC LIMIT 1",
    [ST_JOBS_ACTIVE_CHANNEL] = "SELECT " JOB_COLS " FROM jobs WHERE channel = ?1 AND"
                               " state IN ('queued', 'running') ORDER BY id ASC LIMIT ?2",
    [ST_JOBS_PR_HEAD] = "SELECT " JOB_COLS " FROM jobs WHERE channel = ?1 AND request_id IN"
                        " (SELECT id FROM requests WHERE pr = ?2 AND head_sha = ?3)"
                        " ORDER BY id ASC LIMIT ?4",
    [ST_JOB_START] = "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?2,"
                     " emulated = ?3, started_at = ?4, finished_at = NULL, error = NULL"
                     " WHERE id = ?1 AND state = 'queued'",
    [ST_JOB_FINISH] = "UPDATE jobs SET state = ?2, finished_at = ?3, error = ?4 WHERE id = ?1",
    [ST_JOB_REQUEUE] = "UPDATE jobs SET state = 'queued', worker = NULL, emulated = 0,"
                       " started_at = NULL, finished_at = NULL, error = NULL WHERE id = ?1",
    [ST_JOB_CANCEL_REQUEST] = "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1",
    [ST_JOB_BACKOFF] = "UPDATE jobs SET infra_failures = ?2, not_before = ?3, avoid_worker = ?4"
                       " WHERE id = ?1",
    [ST_JOB_RETRY_INSERT] =
        "INSERT INTO jobs(request_id, recipe, version, python, platform, build_key, forced,"
        " state, created_at, retry_of) SELECT ?2, recipe, version, python, platform, build_key,"
        " forced, 'queued', ?3, id FROM jobs WHERE id = ?1",
    [ST_BACKOFF_NEXT] =
        "SELECT coalesce(min(not_before), 0) FROM jobs WHERE state = 'queued' AND not_before > ?1",
    [ST_COUNT_JOBS] = "SELECT count(*) FROM jobs WHERE state = ?1",
    [ST_ATTEMPT_INSERT] = "INSERT INTO attempts(job_id, n, worker, state, started_at)"
                          " VALUES(?1, ?2, ?3, 'running', ?4)",
    [ST_ATTEMPT_FINISH] = "UPDATE attempts SET state = ?3, finished_at = ?4, error = ?5"
                          " WHERE job_id = ?1 AND n = ?2",
    [ST_ATTEMPTS_LIST] = "SELECT job_id, n, worker, state, started_at, finished_at, error"
                         " FROM attempts WHERE job_id = ?1 ORDER BY n ASC",
    [ST_RECOVER_ATTEMPTS] = "UPDATE attempts SET state = 'lost', finished_at = ?1,"
                            " error = coalesce(error, 'the daemon stopped while it ran')"
                            " WHERE state = 'running'",
    [ST_RECOVER_CANCELLED] =
        "UPDATE jobs SET state = 'cancelled', finished_at = ?1,"
        " error = 'cancelled' WHERE state = 'running' AND cancel_requested = 1",
    [ST_RECOVER_REQUEUE] = "UPDATE jobs SET state = 'queued', worker = NULL, emulated = 0,"
                           " started_at = NULL WHERE state = 'running'",
    [ST_RECOVER_LEASES] = "DELETE FROM leases",
    [ST_LEASE_INSERT] = "INSERT OR REPLACE INTO leases(job_id, attempt, worker, acquired_ms,"
                        " renewed_ms, expires_ms) VALUES(?1, ?2, ?3, ?4, ?4, ?5)",
    [ST_LEASE_GET] = "SELECT job_id, attempt, worker, acquired_ms, renewed_ms, expires_ms"
                     " FROM leases WHERE job_id = ?1",
    [ST_LEASE_RENEW] = "UPDATE leases SET renewed_ms = ?3, expires_ms = ?4"
                       " WHERE job_id = ?1 AND attempt = ?2",
    [ST_LEASE_DELETE] = "DELETE FROM leases WHERE job_id = ?1",
    [ST_ARTIFACT_INSERT] =
        "INSERT INTO artifacts(job_id, channel, build_key, project, version, filename, sha256,"
        " size, requires_python, metadata_sha256, platform_tag, path, created_at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_ARTIFACT_BY_KEY] =
        "SELECT " ART_COLS " FROM artifacts WHERE channel = ?1 AND build_key = ?2",
    [ST_ARTIFACT_BY_FILENAME] =
        "SELECT " ART_COLS " FROM artifacts WHERE channel = ?1 AND filename = ?2",
    [ST_ARTIFACT_BY_JOB] = "SELECT " ART_COLS " FROM artifacts WHERE job_id = ?1 AND"
                           " channel = (SELECT channel FROM jobs WHERE id = ?1)"
                           " ORDER BY id DESC LIMIT 1",
    [ST_ARTIFACTS_PROJECT] = "SELECT " ART_COLS " FROM artifacts WHERE channel = ?1 AND"
                             " project = ?2 ORDER BY filename",
    [ST_ARTIFACTS_CHANNEL] =
        "SELECT " ART_COLS " FROM artifacts WHERE channel = ?1 ORDER BY project, filename",
    [ST_ARTIFACT_DELETE] = "DELETE FROM artifacts WHERE id = ?1",
    [ST_ARTIFACT_PATH_OWNED] = "SELECT 1 FROM artifacts WHERE path = ?1 LIMIT 1",
    [ST_PROJECTS] = "SELECT DISTINCT project FROM artifacts WHERE channel = ?1 ORDER BY project",
    [ST_PR_GET] = "SELECT " PR_COLS " FROM prs WHERE number = ?1",
    [ST_PR_PUT] = "INSERT OR REPLACE INTO prs(" PR_COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                  " ?9)",
    [ST_PRS_ALL] = "SELECT " PR_COLS " FROM prs ORDER BY number",
    [ST_PRS_BY_STATE] = "SELECT " PR_COLS " FROM prs WHERE state = ?1 ORDER BY number",
    [ST_DELIVERY_ADD] =
        "INSERT OR IGNORE INTO deliveries(forge, id, received_at) VALUES(?1, ?2, ?3)",
    [ST_DELIVERY_SEEN] = "SELECT 1 FROM deliveries WHERE forge = ?1 AND id = ?2",
    [ST_DELIVERIES_PRUNE] = "DELETE FROM deliveries WHERE received_at < ?1",
    [ST_PR_HEAD_REQUESTED] = "SELECT 1 FROM requests WHERE pr = ?1 AND head_sha = ?2 LIMIT 1",
    [ST_BUMP_RUN_INSERT] = "INSERT INTO bump_runs(kind, dry_run, started_at) VALUES(?1, ?2, ?3)",
    [ST_BUMP_RUN_FINISH] = "UPDATE bump_runs SET state = 'finished', finished_at = ?2, queued = ?3,"
                           " report = ?4 WHERE id = ?1 AND state = 'running'",
    [ST_BUMP_RUN_GET] = "SELECT " BUMP_COLS " FROM bump_runs WHERE id = ?1",
    [ST_BUMP_RUNS_LIST] = "SELECT " BUMP_COLS " FROM bump_runs ORDER BY id DESC LIMIT ?1",
    [ST_BUMP_RUN_LAST_DONE] = "SELECT max(started_at) FROM bump_runs WHERE dry_run = 0 AND"
                              " state = 'finished'",
    [ST_BUMP_RUNS_RECOVER] = "UPDATE bump_runs SET state = 'interrupted', finished_at = ?1"
                             " WHERE state = 'running'",
    [ST_BUMP_SEEN_INSERT] = "INSERT OR IGNORE INTO bump_seen(project, version, first_seen)"
                            " VALUES(?1, ?2, ?3)",
    [ST_BUMP_SEEN_GET] = "SELECT first_seen FROM bump_seen WHERE project = ?1 AND version = ?2",
    [ST_BUMP_ARMED_INSERT] = "INSERT OR IGNORE INTO bump_schedule(id, armed_at) VALUES(1, ?1)",
    [ST_BUMP_ARMED_GET] = "SELECT armed_at FROM bump_schedule WHERE id = 1",
    [ST_WORKER_DRAIN_SET] = "INSERT INTO worker_flags(name, drained, changed_at) VALUES(?1, ?2, ?3)"
                            " ON CONFLICT(name) DO UPDATE SET drained = excluded.drained,"
                            " changed_at = excluded.changed_at",
    [ST_WORKERS_DRAINED] =
        "SELECT name, changed_at FROM worker_flags WHERE drained = 1 ORDER BY name",
};

struct wf_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[ST__COUNT];
    /* What the current public call is doing, for the one log line a failure gets. */
    const char *op;
    const char *kind; /* "job", "request", ... or NULL */
    int64_t id;
};

static const char *const job_state_names[] = {
    [WF_JOB_QUEUED] = "queued", [WF_JOB_RUNNING] = "running",     [WF_JOB_SUCCEEDED] = "succeeded",
    [WF_JOB_FAILED] = "failed", [WF_JOB_CANCELLED] = "cancelled",
};

const char *wf_job_state_name(wf_job_state s)
{
    if ((unsigned)s >= WF_ARRAY_SIZE(job_state_names))
        return "unknown";
    return job_state_names[s];
}

int wf_job_state_parse(const char *s, wf_job_state *out)
{
    if (s == NULL)
        return WF_EINVAL;
    for (size_t i = 0; i < WF_ARRAY_SIZE(job_state_names); i++) {
        if (strcmp(s, job_state_names[i]) == 0) {
            *out = (wf_job_state)i;
            return 0;
        }
    }
    return WF_EINVAL;
}

/* ---- error reporting -------------------------------------------------------------------- */

static void store_op(wf_store *s, const char *op, const char *kind, int64_t id)
{
    s->op = op;
    s->kind = kind;
    s->id = id;
}

/* Logs the SQLite failure rc once, with the operation and object, and translates it. Must be
 * called right after the failing call, before another one overwrites the message. */
static int store_fail(wf_store *s, int rc)
{
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    if (s->kind != NULL)
        wf_log_error("store: %s failed for %s %" PRId64 ": %s (sqlite error %d, '%s')", s->op,
                     s->kind, s->id, msg, rc, s->path);
    else
        wf_log_error("store: %s failed: %s (sqlite error %d, '%s')", s->op, msg, rc, s->path);
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: return WF_EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY: return WF_ENOTFOUND;
    default: return WF_ESTORE;
    }
}

/* ---- statements ------------------------------------------------------------------------- */

static int stmt_vstart(wf_store *s, sqlite3_stmt **out, enum st_id id, const char *fmt, va_list ap)
{
    assert(st_sql[id] != NULL);
    if (s->st[id] == NULL) {
        int rc =
            sqlite3_prepare_v3(s->db, st_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL);
        if (rc != SQLITE_OK)
            return store_fail(s, rc);
    }
    sqlite3_stmt *st = s->st[id];
    assert(sqlite3_bind_parameter_count(st) == (int)strlen(fmt));
    for (int i = 0; fmt[i] != '\0'; i++) {
        int rc = SQLITE_MISUSE;
        const char *text;
        switch (fmt[i]) {
        case 't': /* text, NULL binds SQL NULL */
            text = va_arg(ap, const char *);
            rc = text ? sqlite3_bind_text(st, i + 1, text, -1, SQLITE_TRANSIENT)
                      : sqlite3_bind_null(st, i + 1);
            break;
        case 'i': rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t)); break;
        case 'd': rc = sqlite3_bind_int(st, i + 1, va_arg(ap, int)); break;
        default: assert(!"unknown bind format");
        }
        if (rc != SQLITE_OK) {
            int err = store_fail(s, rc);
            sqlite3_clear_bindings(st);
            return err;
        }
    }
    *out = st;
    return 0;
}

/* Takes cached statement id and binds the arguments fmt describes: 't' const char * (NULL binds
 * NULL), 'i' int64_t, 'd' int. The caller steps it and always ends with stmt_done. */
static int stmt_start(wf_store *s, sqlite3_stmt **out, enum st_id id, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int err = stmt_vstart(s, out, id, fmt, ap);
    va_end(ap);
    return err;
}

/* 1 with a row ready, 0 when done, or an error. */
static int stmt_step(wf_store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return store_fail(s, rc);
}

/* Resets a statement for its next use. sqlite3_reset repeats the error of a failed step, which
 * stmt_step has already reported, so its result is not looked at again. NULL ok. */
static void stmt_done(sqlite3_stmt *st)
{
    if (st == NULL)
        return;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs a statement that returns no rows. */
static int stmt_exec(wf_store *s, enum st_id id, const char *fmt, ...)
{
    sqlite3_stmt *st = NULL;
    va_list ap;
    va_start(ap, fmt);
    int err = stmt_vstart(s, &st, id, fmt, ap);
    va_end(ap);
    if (err != 0)
        return err;
    err = stmt_step(s, st);
    assert(err <= 0); /* such statements return no rows */
    stmt_done(st);
    return err;
}

/* ---- transactions ----------------------------------------------------------------------- */

/* Opens a transaction for one multi-step operation: BEGIN IMMEDIATE on its own, a savepoint
 * inside the caller's wf_store_begin. */
static int tx_open(wf_store *s, int *nested)
{
    *nested = !sqlite3_get_autocommit(s->db);
    return stmt_exec(s, *nested ? ST_SAVEPOINT : ST_BEGIN, "");
}

static void tx_abort(wf_store *s, int nested)
{
    /* After some errors (I/O, disk full) SQLite has rolled back already. */
    if (sqlite3_get_autocommit(s->db))
        return;
    if (!nested) {
        stmt_exec(s, ST_ROLLBACK, "");
        return;
    }
    if (stmt_exec(s, ST_ROLLBACK_TO, "") == 0)
        stmt_exec(s, ST_RELEASE, "");
}

/* Commits when err is 0, else rolls back; returns err or the commit's failure. */
static int tx_close(wf_store *s, int nested, int err)
{
    if (err == 0) {
        err = stmt_exec(s, nested ? ST_RELEASE : ST_COMMIT, "");
        if (err == 0)
            return 0;
    }
    tx_abort(s, nested);
    return err;
}

int wf_store_begin(wf_store *s)
{
    store_op(s, "begin transaction", NULL, 0);
    return stmt_exec(s, ST_BEGIN, "");
}

int wf_store_commit(wf_store *s)
{
    store_op(s, "commit transaction", NULL, 0);
    return tx_close(s, 0, 0);
}

void wf_store_rollback(wf_store *s)
{
    store_op(s, "roll back transaction", NULL, 0);
    tx_abort(s, 0);
}

/* ---- rows ------------------------------------------------------------------------------- */

/* A heap copy of text column i, NULL for SQL NULL; sets *bad when SQLite ran out of memory. */
static char *col_str(sqlite3_stmt *st, int i, int *bad)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return NULL;
    const unsigned char *t = sqlite3_column_text(st, i);
    if (t == NULL) {
        *bad = 1;
        return NULL;
    }
    return wf_strndup((const char *)t, (size_t)sqlite3_column_bytes(st, i));
}

/* Reads a row of JOB_COLS into *row (zeroed by the caller); releases it on failure. */
static int read_job(wf_store *s, sqlite3_stmt *st, void *row)
{
    wf_job_row *r = row;
    int bad = 0;
    r->id = sqlite3_column_int64(st, 0);
    r->request_id = sqlite3_column_int64(st, 1);
    r->recipe = col_str(st, 2, &bad);
    r->version = col_str(st, 3, &bad);
    r->python = col_str(st, 4, &bad);
    r->platform = col_str(st, 5, &bad);
    r->build_key = col_str(st, 6, &bad);
    r->forced = sqlite3_column_int(st, 7);
    r->emulated = sqlite3_column_int(st, 8);
    r->attempts = sqlite3_column_int(st, 9);
    const char *state = (const char *)sqlite3_column_text(st, 10);
    r->worker = col_str(st, 11, &bad);
    r->error = col_str(st, 12, &bad);
    r->created_at = sqlite3_column_int64(st, 13);
    r->started_at = sqlite3_column_int64(st, 14);
    r->finished_at = sqlite3_column_int64(st, 15);
    r->cancel_requested = sqlite3_column_int(st, 16);
    r->infra_failures = sqlite3_column_int(st, 17);
    r->not_before = sqlite3_column_int64(st, 18);
    r->avoid_worker = col_str(st, 19, &bad);
    r->retry_of = sqlite3_column_int64(st, 20);
    r->channel = col_str(st, 21, &bad);
    if (r->channel == NULL)
        r->channel = wf_strdup("");
    if (bad || wf_job_state_parse(state, &r->state) != 0) {
        wf_job_row_release(r);
        return store_fail(s, bad ? SQLITE_NOMEM : SQLITE_CORRUPT);
    }
    return 0;
}

/* Reads a row of ART_COLS into *row (zeroed by the caller); releases it on failure. */
static int read_artifact(wf_store *s, sqlite3_stmt *st, void *row)
{
    wf_artifact_row *r = row;
    int bad = 0;
    r->id = sqlite3_column_int64(st, 0);
    r->job_id = sqlite3_column_int64(st, 1);
    r->size = sqlite3_column_int64(st, 2);
    r->created_at = sqlite3_column_int64(st, 3);
    r->build_key = col_str(st, 4, &bad);
    r->project = col_str(st, 5, &bad);
    r->version = col_str(st, 6, &bad);
    r->filename = col_str(st, 7, &bad);
    r->sha256 = col_str(st, 8, &bad);
    r->requires_python = col_str(st, 9, &bad);
    r->metadata_sha256 = col_str(st, 10, &bad);
    r->platform_tag = col_str(st, 11, &bad);
    r->path = col_str(st, 12, &bad);
    r->channel = col_str(st, 13, &bad);
    if (r->channel == NULL)
        r->channel = wf_strdup("");
    if (bad) {
        wf_artifact_row_release(r);
        return store_fail(s, SQLITE_NOMEM);
    }
    return 0;
}

static void attempt_row_release(wf_attempt_row *r)
{
    free(r->worker);
    free(r->state);
    free(r->error);
    memset(r, 0, sizeof(*r));
}

static int read_attempt(wf_store *s, sqlite3_stmt *st, void *row)
{
    wf_attempt_row *r = row;
    int bad = 0;
    r->job_id = sqlite3_column_int64(st, 0);
    r->n = sqlite3_column_int(st, 1);
    r->worker = col_str(st, 2, &bad);
    r->state = col_str(st, 3, &bad);
    r->started_at = sqlite3_column_int64(st, 4);
    r->finished_at = sqlite3_column_int64(st, 5);
    r->error = col_str(st, 6, &bad);
    if (bad) {
        attempt_row_release(r);
        return store_fail(s, SQLITE_NOMEM);
    }
    return 0;
}

static int read_name(wf_store *s, sqlite3_stmt *st, void *row)
{
    int bad = 0;
    char *name = col_str(st, 0, &bad);
    if (bad || name == NULL)
        return store_fail(s, bad ? SQLITE_NOMEM : SQLITE_CORRUPT);
    *(char **)row = name;
    return 0;
}

static void release_job(void *row)
{
    wf_job_row_release(row);
}

static void release_artifact(void *row)
{
    wf_artifact_row_release(row);
}

static void release_attempt(void *row)
{
    attempt_row_release(row);
}

static void release_name(void *row)
{
    free(*(char **)row);
}

typedef int (*row_read_fn)(wf_store *s, sqlite3_stmt *st, void *row);
typedef void (*row_release_fn)(void *row);

/* Steps st to the end, reading each row into a growing array of rows of `size` bytes. On success
 * *out is the array (NULL when empty) and *n_out its length; on failure nothing is kept. */
static int collect_rows(wf_store *s, sqlite3_stmt *st, size_t size, row_read_fn read,
                        row_release_fn release, void **out, size_t *n_out)
{
    char *rows = NULL;
    size_t n = 0, cap = 0;
    int err;
    while ((err = stmt_step(s, st)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            rows = wf_realloc(rows, cap * size);
        }
        memset(rows + n * size, 0, size);
        err = read(s, st, rows + n * size);
        if (err != 0)
            break;
        n++;
    }
    if (err != 0) {
        for (size_t i = 0; i < n; i++)
            release(rows + i * size);
        free(rows);
        return err;
    }
    if (n == 0) {
        free(rows);
        rows = NULL;
    }
    *out = rows;
    *n_out = n;
    return 0;
}

/* Steps st once for a single row: 0 read into row, WF_ENOTFOUND, or an error. */
static int fetch_one(wf_store *s, sqlite3_stmt *st, row_read_fn read, void *row)
{
    int err = stmt_step(s, st);
    if (err < 0)
        return err;
    if (err == 0)
        return WF_ENOTFOUND;
    return read(s, st, row);
}

void wf_job_row_release(wf_job_row *r)
{
    if (r == NULL)
        return;
    free(r->recipe);
    free(r->version);
    free(r->python);
    free(r->platform);
    free(r->build_key);
    free(r->worker);
    free(r->error);
    free(r->avoid_worker);
    free(r->channel);
    memset(r, 0, sizeof(*r));
}

void wf_job_rows_free(wf_job_row *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        wf_job_row_release(&rows[i]);
    free(rows);
}

void wf_artifact_row_release(wf_artifact_row *r)
{
    if (r == NULL)
        return;
    free(r->build_key);
    free(r->project);
    free(r->version);
    free(r->filename);
    free(r->sha256);
    free(r->requires_python);
    free(r->metadata_sha256);
    free(r->platform_tag);
    free(r->path);
    free(r->channel);
    memset(r, 0, sizeof(*r));
}

void wf_artifact_rows_free(wf_artifact_row *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        wf_artifact_row_release(&rows[i]);
    free(rows);
}

void wf_attempt_rows_free(wf_attempt_row *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        attempt_row_release(&rows[i]);
    free(rows);
}

/* ---- open, configure, migrate ----------------------------------------------------------- */

/* Runs a one-off statement (a pragma); if text_out is set, copies the first column of the first
 * row into it (NULL if there was no row). */
static int exec_once(wf_store *s, const char *sql, char **text_out)
{
    sqlite3_stmt *st = NULL;
    char *text = NULL;
    int bad = 0;
    int err = 0;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        err = store_fail(s, rc);
        goto done;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (text_out != NULL && text == NULL)
            text = col_str(st, 0, &bad);
    }
    if (rc != SQLITE_DONE) {
        err = store_fail(s, rc);
        goto done;
    }
    if (bad) {
        err = store_fail(s, SQLITE_NOMEM);
        goto done;
    }
    if (text_out != NULL) {
        *text_out = text;
        text = NULL;
    }
done:
    sqlite3_finalize(st);
    free(text);
    return err;
}

static int store_configure(wf_store *s)
{
    char *mode = NULL;
    int err;
    store_op(s, "set journal_mode=WAL", NULL, 0);
    err = exec_once(s, "PRAGMA journal_mode=WAL", &mode);
    if (err != 0)
        goto done;
    /* An in-memory database (tests) cannot use WAL and says "memory". */
    if (mode == NULL || (strcmp(mode, "wal") != 0 && strcmp(s->path, ":memory:") != 0)) {
        wf_log_error("store: cannot use write-ahead logging for '%s' (journal mode is '%s'); put "
                     "the state file on a local filesystem",
                     s->path, mode ? mode : "?");
        err = WF_ESTORE;
        goto done;
    }
    store_op(s, "set synchronous=FULL", NULL, 0);
    err = exec_once(s, "PRAGMA synchronous=FULL", NULL);
    if (err != 0)
        goto done;
    store_op(s, "set foreign_keys=ON", NULL, 0);
    err = exec_once(s, "PRAGMA foreign_keys=ON", NULL);
done:
    free(mode);
    return err;
}

static int read_user_version(wf_store *s, int *out)
{
    char *text = NULL;
    int64_t v = 0;
    int err = exec_once(s, "PRAGMA user_version", &text);
    if (err != 0)
        return err;
    if (text == NULL || wf_parse_i64(text, strlen(text), &v) != 0 || v < 0 || v > INT32_MAX) {
        wf_log_error("store: '%s' has an unreadable schema version '%s'", s->path,
                     text ? text : "");
        free(text);
        return WF_ESTORE;
    }
    free(text);
    *out = (int)v;
    return 0;
}

/* Brings the schema to STORE_SCHEMA_VERSION in one transaction; the version is read inside it
 * so two daemons starting at once cannot both migrate. */
static int store_migrate(wf_store *s)
{
    int version = 0;
    int err;
    store_op(s, "migrate schema", NULL, 0);
    err = stmt_exec(s, ST_BEGIN, "");
    if (err != 0)
        return err;
    err = read_user_version(s, &version);
    if (err != 0)
        goto done;
    if (version > STORE_SCHEMA_VERSION) {
        wf_log_error("store: '%s' has schema version %d but this wheelfarmd knows only up to %d; "
                     "run a newer wheelfarmd or point it at another state file",
                     s->path, version, STORE_SCHEMA_VERSION);
        err = WF_ESTORE;
        goto done;
    }
    for (; version < STORE_SCHEMA_VERSION; version++) {
        char pragma[64];
        int rc = sqlite3_exec(s->db, store_migrations[version], NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            err = store_fail(s, rc);
            goto done;
        }
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
        err = exec_once(s, pragma, NULL);
        if (err != 0)
            goto done;
        wf_log_info("store: migrated '%s' to schema version %d", s->path, version + 1);
    }
done:
    return tx_close(s, 0, err);
}

int wf_store_open(wf_store **out, const char *path)
{
    wf_store *s = wf_calloc(1, sizeof(*s));
    int err = 0;
    s->path = wf_strdup(path);
    store_op(s, "open", NULL, 0);
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err = store_fail(s, rc);
        goto done;
    }
    sqlite3_extended_result_codes(s->db, 1);
    rc = sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK) {
        err = store_fail(s, rc);
        goto done;
    }
    err = store_configure(s);
    if (err != 0)
        goto done;
    err = store_migrate(s);
done:
    if (err != 0) {
        wf_store_close(s);
        return err;
    }
    *out = s;
    return 0;
}

void wf_store_close(wf_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]); /* repeats old step errors only; NULL ok */
    if (s->db != NULL) {
        /* Rolls back an open transaction; the last close checkpoints and removes the WAL. */
        int rc = sqlite3_close(s->db);
        if (rc != SQLITE_OK) {
            store_op(s, "close", NULL, 0);
            store_fail(s, rc);
        }
    }
    free(s->path);
    free(s);
}

/* ---- requests --------------------------------------------------------------------------- */

int wf_store_request_create(wf_store *s, const char *trigger, const char *user, int64_t *out_id)
{
    if (trigger == NULL)
        return WF_EINVAL;
    store_op(s, "create request", NULL, 0);
    int err = stmt_exec(s, ST_REQUEST_INSERT, "tti", trigger, user, wf_time_s());
    if (err != 0)
        return err;
    *out_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int wf_store_request_get(wf_store *s, int64_t id, char **trigger_out, char **user_out,
                         int64_t *created_at_out)
{
    sqlite3_stmt *st = NULL;
    char *trigger = NULL, *user = NULL;
    int bad = 0;
    store_op(s, "get request", "request", id);
    int err = stmt_start(s, &st, ST_REQUEST_GET, "i", id);
    if (err != 0)
        goto done;
    err = stmt_step(s, st);
    if (err <= 0) {
        err = err == 0 ? WF_ENOTFOUND : err;
        goto done;
    }
    trigger = col_str(st, 0, &bad);
    user = col_str(st, 1, &bad);
    if (bad || trigger == NULL) {
        err = store_fail(s, bad ? SQLITE_NOMEM : SQLITE_CORRUPT);
        goto done;
    }
    err = 0;
    if (created_at_out != NULL)
        *created_at_out = sqlite3_column_int64(st, 2);
    if (trigger_out != NULL) {
        *trigger_out = trigger;
        trigger = NULL;
    }
    if (user_out != NULL) {
        *user_out = user;
        user = NULL;
    }
done:
    stmt_done(st);
    free(trigger);
    free(user);
    return err;
}

void wf_request_origin_release(wf_request_origin *o)
{
    if (o == NULL)
        return;
    free(o->commit);
    free(o->ref);
    free(o->head_sha);
    free(o->upstream_version);
    free(o->detail);
    memset(o, 0, sizeof(*o));
}

int wf_store_request_set_origin(wf_store *s, int64_t id, const wf_request_origin *o)
{
    if (o == NULL || o->pr < 0)
        return WF_EINVAL;
    store_op(s, "record request origin", "request", id);
    int err = stmt_exec(s, ST_REQUEST_SET_ORIGIN, "ittittt", id, o->commit, o->ref, o->pr,
                        o->head_sha, o->upstream_version, o->detail);
    if (err != 0)
        return err;
    return sqlite3_changes(s->db) == 1 ? 0 : WF_ENOTFOUND;
}

int wf_store_request_origin(wf_store *s, int64_t id, wf_request_origin *out)
{
    sqlite3_stmt *st = NULL;
    wf_request_origin o = {0};
    int bad = 0;
    store_op(s, "get request origin", "request", id);
    int err = stmt_start(s, &st, ST_REQUEST_ORIGIN, "i", id);
    if (err != 0)
        goto done;
    err = stmt_step(s, st);
    if (err <= 0) {
        err = err == 0 ? WF_ENOTFOUND : err;
        goto done;
    }
    o.commit = col_str(st, 0, &bad);
    o.ref = col_str(st, 1, &bad);
    o.pr = sqlite3_column_int64(st, 2);
    o.head_sha = col_str(st, 3, &bad);
    o.upstream_version = col_str(st, 4, &bad);
    o.detail = col_str(st, 5, &bad);
    if (bad) {
        err = store_fail(s, SQLITE_NOMEM);
        goto done;
    }
    *out = o;
    memset(&o, 0, sizeof(o));
    err = 0;
done:
    stmt_done(st);
    wf_request_origin_release(&o);
    return err;
}

/* ---- jobs ------------------------------------------------------------------------------- */

int wf_store_job_create(wf_store *s, int64_t request_id, const char *recipe, const char *version,
                        const char *python, const char *platform, const char *build_key, int forced,
                        int64_t *out_id)
{
    return wf_store_job_create_in(s, request_id, "", recipe, version, python, platform, build_key,
                                  forced, out_id);
}

int wf_store_job_create_in(wf_store *s, int64_t request_id, const char *channel, const char *recipe,
                           const char *version, const char *python, const char *platform,
                           const char *build_key, int forced, int64_t *out_id)
{
    if (!recipe || !version || !python || !platform || !build_key)
        return WF_EINVAL;
    store_op(s, "create job", "request", request_id);
    int err = stmt_exec(s, ST_JOB_INSERT, "itttttdit", request_id, recipe, version, python,
                        platform, build_key, forced ? 1 : 0, wf_time_s(), channel ? channel : "");
    if (err != 0)
        return err;
    *out_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int wf_store_job_get(wf_store *s, int64_t id, wf_job_row *out)
{
    sqlite3_stmt *st = NULL;
    wf_job_row row = {0};
    store_op(s, "get job", "job", id);
    int err = stmt_start(s, &st, ST_JOB_GET, "i", id);
    if (err == 0)
        err = fetch_one(s, st, read_job, &row);
    stmt_done(st);
    if (err == 0)
        *out = row;
    return err;
}

static int clamp_limit(int limit)
{
    if (limit <= 0)
        return STORE_DEFAULT_LIMIT;
    return limit > WF_STORE_LIST_MAX ? WF_STORE_LIST_MAX : limit;
}

static int collect_jobs(wf_store *s, sqlite3_stmt *st, wf_job_row **out, size_t *n_out)
{
    void *rows = NULL;
    int err = collect_rows(s, st, sizeof(wf_job_row), read_job, release_job, &rows, n_out);
    if (err == 0)
        *out = rows;
    return err;
}

int wf_store_jobs_list(wf_store *s, const char *state, int64_t request_id, int limit,
                       wf_job_row **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    wf_job_state parsed;
    int err;
    if (state != NULL && wf_job_state_parse(state, &parsed) != 0)
        return WF_EINVAL;
    limit = clamp_limit(limit);
    store_op(s, "list jobs", request_id ? "request" : NULL, request_id);
    if (state != NULL && request_id != 0)
        err = stmt_start(s, &st, ST_JOBS_BY_STATE_REQUEST, "tid", state, request_id, limit);
    else if (state != NULL)
        err = stmt_start(s, &st, ST_JOBS_BY_STATE, "td", state, limit);
    else if (request_id != 0)
        err = stmt_start(s, &st, ST_JOBS_BY_REQUEST, "id", request_id, limit);
    else
        err = stmt_start(s, &st, ST_JOBS_ALL, "d", limit);
    if (err == 0)
        err = collect_jobs(s, st, out, n_out);
    stmt_done(st);
    return err;
}

int wf_store_jobs_queued(wf_store *s, int limit, wf_job_row **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    store_op(s, "list queued jobs", NULL, 0);
    int err = stmt_start(s, &st, ST_JOBS_QUEUED, "di", clamp_limit(limit), wf_time_s());
    if (err == 0)
        err = collect_jobs(s, st, out, n_out);
    stmt_done(st);
    return err;
}

/* One request's queued jobs of the platform, fetched when its turn first comes. */
typedef struct queue_req {
    int64_t id;
    int prio;
    int fetched;
    wf_job_row *jobs;
    size_t n;
} queue_req;

static int read_queue_req(wf_store *s, sqlite3_stmt *st, void *row)
{
    (void)s;
    queue_req *q = row;
    q->id = sqlite3_column_int64(st, 0);
    q->prio = sqlite3_column_int(st, 1);
    return 0;
}

static void release_queue_req(void *row)
{
    queue_req *q = row;
    wf_job_rows_free(q->jobs, q->n);
}

static int queue_fetch(wf_store *s, const char *platform, int64_t now, queue_req *q, int limit)
{
    sqlite3_stmt *st = NULL;
    q->fetched = 1;
    int err = stmt_start(s, &st, ST_QUEUE_OF_REQUEST, "tidi", platform, q->id, limit, now);
    if (err == 0)
        err = collect_jobs(s, st, &q->jobs, &q->n);
    stmt_done(st);
    return err;
}

/* Takes the row out of q (the caller owns its strings now). */
static void move_row(wf_job_row *dst, wf_job_row *src)
{
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

/* Fills out[*n] up to limit from one priority group reqs[0..count): the requests take turns,
 * each giving its next job per round, until the group is empty or out is full. */
static int queue_group(wf_store *s, const char *platform, int64_t now, queue_req *reqs,
                       size_t count, int limit, wf_job_row *out, size_t *n)
{
    for (size_t turn = 0; *n < (size_t)limit; turn++) {
        int any = 0;
        for (size_t i = 0; i < count && *n < (size_t)limit; i++) {
            if (!reqs[i].fetched) {
                int err = queue_fetch(s, platform, now, &reqs[i], limit);
                if (err != 0)
                    return err;
            }
            if (turn < reqs[i].n) {
                move_row(&out[(*n)++], &reqs[i].jobs[turn]);
                any = 1;
            }
        }
        if (!any)
            break;
    }
    return 0;
}

int wf_store_jobs_next(wf_store *s, const char *platform, int64_t after_request, int limit,
                       wf_job_row **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    size_t n_req = 0, n = 0;
    if (platform == NULL)
        return WF_EINVAL;
    limit = clamp_limit(limit);
    int64_t now = wf_time_s(); /* one instant for both statements: jobs whose backoff ends
                                  between them are picked up by the next pass */
    store_op(s, "list the next queued jobs of a platform", NULL, 0);
    int err = stmt_start(s, &st, ST_QUEUE_REQUESTS, "tii", platform, after_request, now);
    if (err == 0)
        err = collect_rows(s, st, sizeof(queue_req), read_queue_req, release_queue_req, &rows,
                           &n_req);
    stmt_done(st);
    if (err != 0)
        return err;
    queue_req *reqs = rows;
    wf_job_row *jobs = wf_calloc((size_t)limit, sizeof(*jobs));
    for (size_t g = 0; g < n_req && n < (size_t)limit && err == 0;) {
        size_t h = g;
        while (h < n_req && reqs[h].prio == reqs[g].prio)
            h++;
        err = queue_group(s, platform, now, &reqs[g], h - g, limit, jobs, &n);
        g = h;
    }
    for (size_t i = 0; i < n_req; i++)
        release_queue_req(&reqs[i]);
    free(reqs);
    if (err != 0) {
        wf_job_rows_free(jobs, n);
        return err;
    }
    if (n == 0) {
        free(jobs);
        jobs = NULL;
    }
    *out = jobs;
    *n_out = n;
    return 0;
}

int wf_store_job_active_for_key(wf_store *s, const char *build_key, int64_t *job_id_out)
{
    return wf_store_job_active_for_key_in(s, "", build_key, job_id_out);
}

int wf_store_jobs_active_in(wf_store *s, const char *channel, wf_job_row **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    store_op(s, "list active jobs of a channel", NULL, 0);
    int err =
        stmt_start(s, &st, ST_JOBS_ACTIVE_CHANNEL, "td", channel ? channel : "", WF_STORE_LIST_MAX);
    if (err == 0)
        err = collect_jobs(s, st, out, n_out);
    stmt_done(st);
    return err;
}

int wf_store_jobs_for_pr_head(wf_store *s, int64_t pr, const char *head_sha, wf_job_row **out,
                              size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    if (head_sha == NULL || pr <= 0)
        return WF_EINVAL;
    char *channel = wf_asprintf("pr/%lld", (long long)pr);
    store_op(s, "list jobs of a pull request head", NULL, 0);
    int err = stmt_start(s, &st, ST_JOBS_PR_HEAD, "titd", channel, pr, head_sha, WF_STORE_LIST_MAX);
    free(channel);
    if (err == 0)
        err = collect_jobs(s, st, out, n_out);
    stmt_done(st);
    return err;
}

int wf_store_job_active_for_key_in(wf_store *s, const char *channel, const char *build_key,
                                   int64_t *job_id_out)
{
    sqlite3_stmt *st = NULL;
    if (build_key == NULL)
        return WF_EINVAL;
    store_op(s, "find active job by build key", NULL, 0);
    int err = stmt_start(s, &st, ST_JOB_ACTIVE_KEY, "tt", build_key, channel ? channel : "");
    if (err != 0)
        goto done;
    err = stmt_step(s, st);
    if (err < 0)
        goto done;
    *job_id_out = err == 1 ? sqlite3_column_int64(st, 0) : 0;
    err = 0;
done:
    stmt_done(st);
    return err;
}

int wf_store_count_jobs(wf_store *s, wf_job_state state, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    if ((unsigned)state >= WF_ARRAY_SIZE(job_state_names))
        return WF_EINVAL;
    store_op(s, "count jobs", NULL, 0);
    int err = stmt_start(s, &st, ST_COUNT_JOBS, "t", wf_job_state_name(state));
    if (err != 0)
        goto done;
    err = stmt_step(s, st);
    if (err == 1) {
        *out = sqlite3_column_int64(st, 0);
        err = 0;
    } else if (err == 0) {
        err = store_fail(s, SQLITE_CORRUPT); /* count(*) always answers a row */
    }
done:
    stmt_done(st);
    return err;
}

/* ---- attempts and leases ---------------------------------------------------------------- */

/* Wall-clock milliseconds. Leases are compared with the clock other readers of the database
 * see (the API shows their expiry), and no lease outlives the daemon that took it:
 * wf_store_recover drops them all at the next start. */
static int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t wf_retry_delay_s(const wf_retry_policy *p, int n)
{
    int64_t d = p->backoff_s;
    for (int i = 1; i < n && d < WF_RETRY_BACKOFF_MAX_S; i++)
        d *= 3;
    return d < WF_RETRY_BACKOFF_MAX_S ? d : WF_RETRY_BACKOFF_MAX_S;
}

/* The parts of a job that state transitions look at. */
typedef struct job_brief {
    wf_job_state state;
    int attempts;
    int cancel_requested;
    int infra_failures;
} job_brief;

static int read_brief(wf_store *s, sqlite3_stmt *st, void *row)
{
    job_brief *b = row;
    b->attempts = sqlite3_column_int(st, 1);
    b->cancel_requested = sqlite3_column_int(st, 2);
    b->infra_failures = sqlite3_column_int(st, 3);
    if (wf_job_state_parse((const char *)sqlite3_column_text(st, 0), &b->state) != 0)
        return store_fail(s, SQLITE_CORRUPT);
    return 0;
}

static int job_brief_get(wf_store *s, int64_t job_id, job_brief *out)
{
    sqlite3_stmt *st = NULL;
    int err = stmt_start(s, &st, ST_JOB_BRIEF, "i", job_id);
    if (err == 0)
        err = fetch_one(s, st, read_brief, out);
    stmt_done(st);
    return err;
}

void wf_lease_row_release(wf_lease_row *r)
{
    if (r == NULL)
        return;
    free(r->worker);
    memset(r, 0, sizeof(*r));
}

static int read_lease(wf_store *s, sqlite3_stmt *st, void *row)
{
    wf_lease_row *r = row;
    int bad = 0;
    r->job_id = sqlite3_column_int64(st, 0);
    r->attempt = sqlite3_column_int(st, 1);
    r->worker = col_str(st, 2, &bad);
    r->acquired_ms = sqlite3_column_int64(st, 3);
    r->renewed_ms = sqlite3_column_int64(st, 4);
    r->expires_ms = sqlite3_column_int64(st, 5);
    if (bad || r->worker == NULL) {
        wf_lease_row_release(r);
        return store_fail(s, bad ? SQLITE_NOMEM : SQLITE_CORRUPT);
    }
    return 0;
}

static int lease_get(wf_store *s, int64_t job_id, wf_lease_row *out)
{
    sqlite3_stmt *st = NULL;
    wf_lease_row row = {0};
    int err = stmt_start(s, &st, ST_LEASE_GET, "i", job_id);
    if (err == 0)
        err = fetch_one(s, st, read_lease, &row);
    stmt_done(st);
    if (err == 0)
        *out = row;
    return err;
}

/* Whether attempt holds the job's lease and it is live now: 1 or 0 in *live. A missing lease
 * (a job left running by a schema-1 daemon) counts as lost. *worker_out (may be NULL) gets the
 * lease's worker, or NULL. */
static int lease_live(wf_store *s, int64_t job_id, int attempt, int *live, char **worker_out)
{
    wf_lease_row l = {0};
    int err = lease_get(s, job_id, &l);
    if (err != 0 && err != WF_ENOTFOUND)
        return err;
    *live = err == 0 && l.attempt == attempt && l.expires_ms > store_now_ms();
    if (worker_out != NULL) {
        *worker_out = l.worker;
        l.worker = NULL;
    }
    wf_lease_row_release(&l);
    return 0;
}

/* The job runs this attempt (whatever its lease says). */
static int attempt_current(wf_store *s, int64_t job_id, int attempt, job_brief *b)
{
    int err = job_brief_get(s, job_id, b);
    if (err != 0)
        return err;
    if (b->state != WF_JOB_RUNNING || b->attempts != attempt)
        return WF_EINVAL;
    return 0;
}

/* The fence: only the job's current attempt, while it runs and holds a live lease, may renew
 * the lease, finish the job or publish its result. */
static int job_fence(wf_store *s, int64_t job_id, int attempt, job_brief *b)
{
    int live = 0;
    int err = attempt_current(s, job_id, attempt, b);
    if (err == 0)
        err = lease_live(s, job_id, attempt, &live, NULL);
    if (err == 0 && !live)
        err = WF_EINVAL;
    return err;
}

/* Ends the attempt's row with attempt_state and drops its lease. */
static int attempt_end(wf_store *s, int64_t job_id, int attempt, const char *attempt_state,
                       int64_t now, const char *error)
{
    int err = stmt_exec(s, ST_ATTEMPT_FINISH, "idtit", job_id, attempt, attempt_state, now, error);
    if (err == 0)
        err = stmt_exec(s, ST_LEASE_DELETE, "i", job_id);
    return err;
}

int wf_store_attempt_start(wf_store *s, int64_t job_id, const char *worker, int emulated,
                           int64_t lease_ms, int *attempt_out)
{
    job_brief b;
    int nested;
    if (worker == NULL || lease_ms <= 0)
        return WF_EINVAL;
    store_op(s, "start attempt", "job", job_id);
    int err = tx_open(s, &nested);
    if (err != 0)
        return err;
    err = job_brief_get(s, job_id, &b);
    if (err != 0)
        goto done;
    if (b.state != WF_JOB_QUEUED) {
        err = WF_EINVAL;
        goto done;
    }
    int64_t now = wf_time_s();
    err = stmt_exec(s, ST_JOB_START, "itdi", job_id, worker, emulated ? 1 : 0, now);
    if (err != 0)
        goto done;
    err = stmt_exec(s, ST_ATTEMPT_INSERT, "idti", job_id, b.attempts + 1, worker, now);
    if (err != 0)
        goto done;
    int64_t now_ms = store_now_ms();
    err = stmt_exec(s, ST_LEASE_INSERT, "idtii", job_id, b.attempts + 1, worker, now_ms,
                    now_ms + lease_ms);
done:
    err = tx_close(s, nested, err);
    if (err == 0 && attempt_out != NULL)
        *attempt_out = b.attempts + 1;
    return err;
}

int wf_store_lease_renew(wf_store *s, int64_t job_id, int attempt, int64_t lease_ms)
{
    job_brief b;
    int nested;
    if (lease_ms <= 0)
        return WF_EINVAL;
    store_op(s, "renew lease", "job", job_id);
    int err = tx_open(s, &nested);
    if (err != 0)
        return err;
    err = job_fence(s, job_id, attempt, &b);
    if (err == 0) {
        int64_t now_ms = store_now_ms();
        err = stmt_exec(s, ST_LEASE_RENEW, "idii", job_id, attempt, now_ms, now_ms + lease_ms);
    }
    return tx_close(s, nested, err);
}

int wf_store_lease_get(wf_store *s, int64_t job_id, wf_lease_row *out)
{
    store_op(s, "get lease", "job", job_id);
    return lease_get(s, job_id, out);
}

static const char *default_error(wf_job_state state, const char *error)
{
    if (error != NULL)
        return error;
    if (state == WF_JOB_CANCELLED)
        return "cancelled";
    if (state == WF_JOB_FAILED)
        return "failed without a message";
    return NULL;
}

int wf_store_attempt_finish(wf_store *s, int64_t job_id, int attempt, wf_job_state job_state,
                            const char *error)
{
    job_brief b;
    int nested;
    if (job_state == WF_JOB_RUNNING || (unsigned)job_state >= WF_ARRAY_SIZE(job_state_names))
        return WF_EINVAL;
    store_op(s, "finish attempt", "job", job_id);
    int err = tx_open(s, &nested);
    if (err != 0)
        return err;
    err = job_fence(s, job_id, attempt, &b);
    if (err != 0)
        goto done;
    int64_t now = wf_time_s();
    const char *attempt_state = job_state == WF_JOB_QUEUED ? "lost" : wf_job_state_name(job_state);
    /* A job someone cancelled is not run again just because its worker went away. */
    if (job_state == WF_JOB_QUEUED && b.cancel_requested)
        job_state = WF_JOB_CANCELLED;
    err = attempt_end(s, job_id, attempt, attempt_state, now, default_error(job_state, error));
    if (err != 0)
        goto done;
    if (job_state == WF_JOB_QUEUED)
        err = stmt_exec(s, ST_JOB_REQUEUE, "i", job_id);
    else
        err = stmt_exec(s, ST_JOB_FINISH, "itit", job_id, wf_job_state_name(job_state), now,
                        default_error(job_state, error));
done:
    return tx_close(s, nested, err);
}

/* The policy for an attempt that ended in an infrastructure failure (the caller has fenced it):
 * requeue with a backoff, or fail once the retries are used up. */
static int end_after_failure(wf_store *s, int64_t job_id, int attempt, const job_brief *b,
                             const char *error, const char *avoid, const wf_retry_policy *p,
                             wf_job_state *state)
{
    int64_t now = wf_time_s();
    int failures = b->infra_failures + 1;
    int err;
    if (error == NULL)
        error = "infrastructure failure";
    if (b->cancel_requested) {
        *state = WF_JOB_CANCELLED;
        err = attempt_end(s, job_id, attempt, "lost", now, error);
        if (err == 0)
            err = stmt_exec(s, ST_JOB_FINISH, "itit", job_id, "cancelled", now,
                            "cancelled on request");
        return err;
    }
    if ((unsigned)failures > p->max_retries) {
        char *final = wf_asprintf("%s (gave up after %d infrastructure failure%s)", error, failures,
                                  failures == 1 ? "" : "s");
        *state = WF_JOB_FAILED;
        err = attempt_end(s, job_id, attempt, "failed", now, error);
        if (err == 0)
            err = stmt_exec(s, ST_JOB_FINISH, "itit", job_id, "failed", now, final);
        if (err == 0)
            err = stmt_exec(s, ST_JOB_BACKOFF, "idit", job_id, failures, (int64_t)0, avoid);
        free(final);
        return err;
    }
    *state = WF_JOB_QUEUED;
    err = attempt_end(s, job_id, attempt, "lost", now, error);
    if (err == 0)
        err = stmt_exec(s, ST_JOB_REQUEUE, "i", job_id);
    if (err == 0)
        err = stmt_exec(s, ST_JOB_BACKOFF, "idit", job_id, failures,
                        now + wf_retry_delay_s(p, failures), avoid);
    return err;
}

int wf_store_attempt_retry(wf_store *s, int64_t job_id, int attempt, const char *error,
                           const char *avoid, const wf_retry_policy *p, wf_job_state *state_out)
{
    job_brief b;
    wf_job_state st = WF_JOB_QUEUED;
    int nested;
    if (p == NULL)
        return WF_EINVAL;
    store_op(s, "requeue after an infrastructure failure", "job", job_id);
    int err = tx_open(s, &nested);
    if (err != 0)
        return err;
    err = job_fence(s, job_id, attempt, &b);
    if (err == 0)
        err = end_after_failure(s, job_id, attempt, &b, error, avoid, p, &st);
    err = tx_close(s, nested, err);
    if (err == 0 && state_out != NULL)
        *state_out = st;
    return err;
}

int wf_store_lease_expire(wf_store *s, int64_t job_id, int attempt, const char *error,
                          const wf_retry_policy *p, wf_job_state *state_out)
{
    job_brief b;
    wf_job_state st = WF_JOB_QUEUED;
    char *worker = NULL;
    int nested, live = 0;
    if (p == NULL)
        return WF_EINVAL;
    store_op(s, "end an attempt whose lease expired", "job", job_id);
    int err = tx_open(s, &nested);
    if (err != 0)
        return err;
    err = attempt_current(s, job_id, attempt, &b);
    if (err == 0)
        err = lease_live(s, job_id, attempt, &live, &worker);
    if (err == 0 && live)
        err = WF_EINVAL;
    if (err == 0)
        err = end_after_failure(s, job_id, attempt, &b, error, worker, p, &st);
    err = tx_close(s, nested, err);
    free(worker);
    if (err == 0 && state_out != NULL)
        *state_out = st;
    return err;
}

int wf_store_attempts_list(wf_store *s, int64_t job_id, wf_attempt_row **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    store_op(s, "list attempts", "job", job_id);
    int err = stmt_start(s, &st, ST_ATTEMPTS_LIST, "i", job_id);
    if (err == 0)
        err = collect_rows(s, st, sizeof(wf_attempt_row), read_attempt, release_attempt, &rows,
                           n_out);
    stmt_done(st);
    if (err == 0)
        *out = rows;
    return err;
}

int wf_store_job_cancel(wf_store *s, int64_t job_id, wf_job_state *new_state_out)
{
    return wf_store_job_cancel_why(s, job_id, NULL, new_state_out);
}

int wf_store_job_cancel_why(wf_store *s, int64_t job_id, const char *why,
                            wf_job_state *new_state_out)
{
    job_brief b;
    int nested;
    store_op(s, "cancel job", "job", job_id);
    int err = tx_open(s, &nested);
    if (err != 0)
        return err;
    err = job_brief_get(s, job_id, &b);
    if (err != 0)
        goto done;
    if (b.state == WF_JOB_QUEUED) {
        err = stmt_exec(s, ST_JOB_FINISH, "itit", job_id, "cancelled", wf_time_s(),
                        why != NULL ? why : "cancelled before it started");
        b.state = WF_JOB_CANCELLED;
    } else if (b.state == WF_JOB_RUNNING && !b.cancel_requested) {
        err = stmt_exec(s, ST_JOB_CANCEL_REQUEST, "i", job_id);
    }
done:
    err = tx_close(s, nested, err);
    if (err == 0 && new_state_out != NULL)
        *new_state_out = b.state;
    return err;
}

int wf_store_recover(wf_store *s, int *n_requeued)
{
    int nested, n = 0;
    int64_t now = wf_time_s();
    store_op(s, "recover running jobs", NULL, 0);
    int err = tx_open(s, &nested);
    if (err != 0)
        return err;
    err = stmt_exec(s, ST_RECOVER_ATTEMPTS, "i", now);
    if (err != 0)
        goto done;
    err = stmt_exec(s, ST_RECOVER_CANCELLED, "i", now);
    if (err != 0)
        goto done;
    err = stmt_exec(s, ST_RECOVER_REQUEUE, "");
    if (err != 0)
        goto done;
    n = sqlite3_changes(s->db);
    err = stmt_exec(s, ST_RECOVER_LEASES, "");
done:
    err = tx_close(s, nested, err);
    if (err == 0 && n_requeued != NULL)
        *n_requeued = n;
    return err;
}

/* ---- retries by people and backoff ------------------------------------------------------ */

/* WF_EEXIST when the build key already has a queued or running job, or an artifact that a
 * retry (not forced) would only skip. */
static int retry_key_free(wf_store *s, const wf_job_row *j)
{
    int64_t active = 0;
    int err = wf_store_job_active_for_key(s, j->build_key, &active);
    if (err != 0)
        return err;
    if (active != 0)
        return WF_EEXIST;
    if (j->forced)
        return 0;
    wf_artifact_row a = {0};
    err = wf_store_artifact_by_key(s, j->build_key, &a);
    wf_artifact_row_release(&a);
    if (err == 0)
        return WF_EEXIST;
    return err == WF_ENOTFOUND ? 0 : err;
}

int wf_store_job_retry(wf_store *s, int64_t job_id, const char *user, int64_t *job_out,
                       int64_t *request_out)
{
    wf_job_row j = {0};
    int64_t request = 0, job = 0;
    int nested;
    store_op(s, "retry job", "job", job_id);
    int err = tx_open(s, &nested);
    if (err != 0)
        return err;
    err = wf_store_job_get(s, job_id, &j);
    if (err != 0)
        goto done;
    if (j.state != WF_JOB_FAILED && j.state != WF_JOB_CANCELLED) {
        err = WF_EINVAL;
        goto done;
    }
    err = retry_key_free(s, &j);
    if (err != 0)
        goto done;
    int64_t now = wf_time_s();
    store_op(s, "retry job", "job", job_id);
    err = stmt_exec(s, ST_REQUEST_INSERT, "tti", "retry", user, now);
    if (err != 0)
        goto done;
    request = sqlite3_last_insert_rowid(s->db);
    err = stmt_exec(s, ST_JOB_RETRY_INSERT, "iii", job_id, request, now);
    job = sqlite3_last_insert_rowid(s->db);
done:
    wf_job_row_release(&j);
    err = tx_close(s, nested, err);
    if (err == 0 && job_out != NULL)
        *job_out = job;
    if (err == 0 && request_out != NULL)
        *request_out = request;
    return err;
}

int wf_store_backoff_next(wf_store *s, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    store_op(s, "find the next end of a backoff", NULL, 0);
    int err = stmt_start(s, &st, ST_BACKOFF_NEXT, "i", wf_time_s());
    if (err != 0)
        goto done;
    err = stmt_step(s, st);
    if (err == 1) {
        *out = sqlite3_column_int64(st, 0);
        err = 0;
    } else if (err == 0) {
        err = store_fail(s, SQLITE_CORRUPT); /* an aggregate always answers a row */
    }
done:
    stmt_done(st);
    return err;
}

/* ---- artifacts -------------------------------------------------------------------------- */

static int insert_artifact(wf_store *s, int64_t job_id, const char *channel,
                           const wf_artifact_row *a, int64_t now)
{
    return stmt_exec(s, ST_ARTIFACT_INSERT, "ittttttitttti", job_id, channel ? channel : "",
                     a->build_key, a->project, a->version, a->filename, a->sha256, a->size,
                     a->requires_python, a->metadata_sha256, a->platform_tag, a->path,
                     a->created_at ? a->created_at : now);
}

static int artifact_valid(const wf_artifact_row *a)
{
    return a->build_key && a->project && a->version && a->filename && a->sha256 && a->path &&
           a->size >= 0;
}

int wf_store_artifact_link(wf_store *s, const char *channel, const wf_artifact_row *a)
{
    if (!artifact_valid(a) || channel == NULL || channel[0] == '\0')
        return WF_EINVAL;
    store_op(s, "link artifact into a channel", "job", a->job_id);
    return insert_artifact(s, a->job_id, channel, a, wf_time_s());
}

int wf_store_artifact_delete(wf_store *s, int64_t id)
{
    store_op(s, "delete artifact", "artifact", id);
    int err = stmt_exec(s, ST_ARTIFACT_DELETE, "i", id);
    if (err != 0)
        return err;
    return sqlite3_changes(s->db) == 1 ? 0 : WF_ENOTFOUND;
}

int wf_store_artifact_path_owned(wf_store *s, const char *path, int *owned_out)
{
    sqlite3_stmt *st = NULL;
    if (path == NULL)
        return WF_EINVAL;
    store_op(s, "look up artifact path", NULL, 0);
    int err = stmt_start(s, &st, ST_ARTIFACT_PATH_OWNED, "t", path);
    if (err == 0)
        err = stmt_step(s, st);
    stmt_done(st);
    if (err < 0)
        return err;
    *owned_out = err == 1;
    return 0;
}

int wf_store_artifact_add(wf_store *s, int64_t job_id, int attempt, const wf_artifact_row *a)
{
    job_brief b;
    int nested;
    if (!artifact_valid(a))
        return WF_EINVAL;
    store_op(s, "add artifact", "job", job_id);
    int err = tx_open(s, &nested);
    if (err != 0)
        return err;
    err = job_fence(s, job_id, attempt, &b);
    if (err != 0)
        goto done;
    int64_t now = wf_time_s();
    err = insert_artifact(s, job_id, a->channel, a, now);
    if (err != 0)
        goto done;
    err = attempt_end(s, job_id, attempt, "succeeded", now, NULL);
    if (err != 0)
        goto done;
    err = stmt_exec(s, ST_JOB_FINISH, "itit", job_id, "succeeded", now, (const char *)NULL);
done:
    return tx_close(s, nested, err);
}

static int artifact_get(wf_store *s, sqlite3_stmt *st, int err, wf_artifact_row *out)
{
    wf_artifact_row row = {0};
    if (err == 0)
        err = fetch_one(s, st, read_artifact, &row);
    stmt_done(st);
    if (err == 0)
        *out = row;
    return err;
}

int wf_store_artifact_by_key(wf_store *s, const char *build_key, wf_artifact_row *out)
{
    return wf_store_artifact_by_key_in(s, "", build_key, out);
}

int wf_store_artifact_by_key_in(wf_store *s, const char *channel, const char *build_key,
                                wf_artifact_row *out)
{
    sqlite3_stmt *st = NULL;
    if (build_key == NULL)
        return WF_EINVAL;
    store_op(s, "get artifact by build key", NULL, 0);
    int err = stmt_start(s, &st, ST_ARTIFACT_BY_KEY, "tt", channel ? channel : "", build_key);
    return artifact_get(s, st, err, out);
}

int wf_store_artifact_by_filename(wf_store *s, const char *filename, wf_artifact_row *out)
{
    return wf_store_artifact_by_filename_in(s, "", filename, out);
}

int wf_store_artifact_by_filename_in(wf_store *s, const char *channel, const char *filename,
                                     wf_artifact_row *out)
{
    sqlite3_stmt *st = NULL;
    if (filename == NULL)
        return WF_EINVAL;
    store_op(s, "get artifact by file name", NULL, 0);
    int err = stmt_start(s, &st, ST_ARTIFACT_BY_FILENAME, "tt", channel ? channel : "", filename);
    return artifact_get(s, st, err, out);
}

int wf_store_artifact_by_job(wf_store *s, int64_t job_id, wf_artifact_row *out)
{
    sqlite3_stmt *st = NULL;
    store_op(s, "get artifact", "job", job_id);
    int err = stmt_start(s, &st, ST_ARTIFACT_BY_JOB, "i", job_id);
    return artifact_get(s, st, err, out);
}

int wf_store_artifacts_for_project(wf_store *s, const char *project, wf_artifact_row **out,
                                   size_t *n_out)
{
    return wf_store_artifacts_for_project_in(s, "", project, out, n_out);
}

static int collect_artifacts(wf_store *s, sqlite3_stmt *st, wf_artifact_row **out, size_t *n_out)
{
    void *rows = NULL;
    int err =
        collect_rows(s, st, sizeof(wf_artifact_row), read_artifact, release_artifact, &rows, n_out);
    if (err == 0)
        *out = rows;
    return err;
}

int wf_store_artifacts_in(wf_store *s, const char *channel, wf_artifact_row **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    store_op(s, "list artifacts of a channel", NULL, 0);
    int err = stmt_start(s, &st, ST_ARTIFACTS_CHANNEL, "t", channel ? channel : "");
    if (err == 0)
        err = collect_artifacts(s, st, out, n_out);
    stmt_done(st);
    return err;
}

int wf_store_artifacts_for_project_in(wf_store *s, const char *channel, const char *project,
                                      wf_artifact_row **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    if (project == NULL)
        return WF_EINVAL;
    store_op(s, "list artifacts of a project", NULL, 0);
    int err = stmt_start(s, &st, ST_ARTIFACTS_PROJECT, "tt", channel ? channel : "", project);
    if (err == 0)
        err = collect_rows(s, st, sizeof(wf_artifact_row), read_artifact, release_artifact, &rows,
                           n_out);
    stmt_done(st);
    if (err == 0)
        *out = rows;
    return err;
}

int wf_store_projects(wf_store *s, char ***names_out, size_t *n_out)
{
    return wf_store_projects_in(s, "", names_out, n_out);
}

int wf_store_projects_in(wf_store *s, const char *channel, char ***names_out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    store_op(s, "list projects", NULL, 0);
    int err = stmt_start(s, &st, ST_PROJECTS, "t", channel ? channel : "");
    if (err == 0)
        err = collect_rows(s, st, sizeof(char *), read_name, release_name, &rows, n_out);
    stmt_done(st);
    if (err == 0)
        *names_out = rows;
    return err;
}

/* ---- version bumps ---------------------------------------------------------------------- */

void wf_bump_run_row_release(wf_bump_run_row *r)
{
    if (r == NULL)
        return;
    free(r->kind);
    free(r->state);
    free(r->report);
    memset(r, 0, sizeof(*r));
}

void wf_bump_run_rows_free(wf_bump_run_row *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        wf_bump_run_row_release(&rows[i]);
    free(rows);
}

static int read_bump_run(wf_store *s, sqlite3_stmt *st, void *row)
{
    wf_bump_run_row *r = row;
    int bad = 0;
    r->id = sqlite3_column_int64(st, 0);
    r->kind = col_str(st, 1, &bad);
    r->dry_run = sqlite3_column_int(st, 2);
    r->state = col_str(st, 3, &bad);
    r->started_at = sqlite3_column_int64(st, 4);
    r->finished_at = sqlite3_column_int64(st, 5);
    r->queued = sqlite3_column_int64(st, 6);
    r->report = col_str(st, 7, &bad);
    if (bad || r->kind == NULL || r->state == NULL) {
        wf_bump_run_row_release(r);
        return store_fail(s, bad ? SQLITE_NOMEM : SQLITE_CORRUPT);
    }
    return 0;
}

static void release_bump_run(void *row)
{
    wf_bump_run_row_release(row);
}

int wf_store_bump_run_start(wf_store *s, const char *kind, int dry_run, int64_t *out_id)
{
    if (kind == NULL)
        return WF_EINVAL;
    store_op(s, "record bump run", NULL, 0);
    int err = stmt_exec(s, ST_BUMP_RUN_INSERT, "tdi", kind, dry_run ? 1 : 0, wf_time_s());
    if (err != 0)
        return err;
    *out_id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int wf_store_bump_run_finish(wf_store *s, int64_t id, int64_t queued, const char *report)
{
    store_op(s, "finish bump run", "bump run", id);
    int err = stmt_exec(s, ST_BUMP_RUN_FINISH, "iiit", id, wf_time_s(), queued, report);
    if (err != 0)
        return err;
    return sqlite3_changes(s->db) == 1 ? 0 : WF_ENOTFOUND;
}

int wf_store_bump_run_get(wf_store *s, int64_t id, wf_bump_run_row *out)
{
    sqlite3_stmt *st = NULL;
    wf_bump_run_row row = {0};
    store_op(s, "get bump run", "bump run", id);
    int err = stmt_start(s, &st, ST_BUMP_RUN_GET, "i", id);
    if (err == 0)
        err = fetch_one(s, st, read_bump_run, &row);
    stmt_done(st);
    if (err == 0)
        *out = row;
    return err;
}

int wf_store_bump_runs_list(wf_store *s, int limit, wf_bump_run_row **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    if (limit <= 0)
        limit = STORE_DEFAULT_LIMIT;
    if (limit > WF_STORE_LIST_MAX)
        limit = WF_STORE_LIST_MAX;
    store_op(s, "list bump runs", NULL, 0);
    int err = stmt_start(s, &st, ST_BUMP_RUNS_LIST, "d", limit);
    if (err == 0)
        err = collect_rows(s, st, sizeof(wf_bump_run_row), read_bump_run, release_bump_run, &rows,
                           n_out);
    stmt_done(st);
    if (err == 0)
        *out = rows;
    return err;
}

/* Runs a statement whose one row holds one integer (NULL reads as 0). */
static int query_i64(wf_store *s, enum st_id id, const char *fmt, const char *a, const char *b,
                     int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int err = fmt[0] == '\0' ? stmt_start(s, &st, id, "") : stmt_start(s, &st, id, fmt, a, b);
    if (err != 0)
        return err;
    err = stmt_step(s, st);
    if (err == 1) {
        *out = sqlite3_column_int64(st, 0);
        err = 0;
    } else if (err == 0) {
        err = WF_ENOTFOUND;
    }
    stmt_done(st);
    return err;
}

int wf_store_bump_last_done(wf_store *s, int64_t *started_at_out)
{
    int64_t t = 0;
    store_op(s, "find the last bump run", NULL, 0);
    int err = query_i64(s, ST_BUMP_RUN_LAST_DONE, "", NULL, NULL, &t);
    if (err != 0)
        return err;
    *started_at_out = t;
    return 0;
}

int wf_store_bump_recover(wf_store *s, int *n_out)
{
    store_op(s, "mark interrupted bump runs", NULL, 0);
    int err = stmt_exec(s, ST_BUMP_RUNS_RECOVER, "i", wf_time_s());
    if (err == 0 && n_out != NULL)
        *n_out = sqlite3_changes(s->db);
    return err;
}

int wf_store_bump_seen(wf_store *s, const char *project, const char *version, int64_t now,
                       int64_t *first_seen_out)
{
    if (project == NULL || version == NULL)
        return WF_EINVAL;
    store_op(s, "record a version seen upstream", NULL, 0);
    int err = stmt_exec(s, ST_BUMP_SEEN_INSERT, "tti", project, version, now);
    if (err != 0)
        return err;
    return query_i64(s, ST_BUMP_SEEN_GET, "tt", project, version, first_seen_out);
}

int wf_store_bump_armed(wf_store *s, int64_t now, int64_t *armed_at_out)
{
    store_op(s, "record when bumps were first scheduled", NULL, 0);
    int err = stmt_exec(s, ST_BUMP_ARMED_INSERT, "i", now);
    if (err != 0)
        return err;
    return query_i64(s, ST_BUMP_ARMED_GET, "", NULL, NULL, armed_at_out);
}

/* ---- pull requests ---------------------------------------------------------------------- */

void wf_pr_row_release(wf_pr_row *r)
{
    if (r == NULL)
        return;
    free(r->state);
    free(r->head_sha);
    free(r->base_ref);
    free(r->projects);
    free(r->errors);
    free(r->status);
    free(r->status_sha);
    memset(r, 0, sizeof(*r));
}

void wf_pr_rows_free(wf_pr_row *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        wf_pr_row_release(&rows[i]);
    free(rows);
}

static int read_pr(wf_store *s, sqlite3_stmt *st, void *row)
{
    wf_pr_row *r = row;
    int bad = 0;
    r->number = sqlite3_column_int64(st, 0);
    r->state = col_str(st, 1, &bad);
    r->head_sha = col_str(st, 2, &bad);
    r->base_ref = col_str(st, 3, &bad);
    r->projects = col_str(st, 4, &bad);
    r->errors = col_str(st, 5, &bad);
    r->status = col_str(st, 6, &bad);
    r->status_sha = col_str(st, 7, &bad);
    r->updated_at = sqlite3_column_int64(st, 8);
    if (bad || r->state == NULL || r->head_sha == NULL) {
        wf_pr_row_release(r);
        return store_fail(s, bad ? SQLITE_NOMEM : SQLITE_CORRUPT);
    }
    if (r->projects == NULL)
        r->projects = wf_strdup("");
    return 0;
}

static void release_pr(void *row)
{
    wf_pr_row_release(row);
}

int wf_store_pr_get(wf_store *s, int64_t number, wf_pr_row *out)
{
    sqlite3_stmt *st = NULL;
    wf_pr_row row = {0};
    store_op(s, "get pull request", "pull request", number);
    int err = stmt_start(s, &st, ST_PR_GET, "i", number);
    if (err == 0)
        err = fetch_one(s, st, read_pr, &row);
    stmt_done(st);
    if (err == 0)
        *out = row;
    return err;
}

int wf_store_pr_put(wf_store *s, const wf_pr_row *r)
{
    if (r->number <= 0 || r->state == NULL || r->head_sha == NULL ||
        (strcmp(r->state, "open") != 0 && strcmp(r->state, "closed") != 0))
        return WF_EINVAL;
    store_op(s, "record pull request", "pull request", r->number);
    return stmt_exec(s, ST_PR_PUT, "ittttttti", r->number, r->state, r->head_sha, r->base_ref,
                     r->projects ? r->projects : "", r->errors, r->status, r->status_sha,
                     r->updated_at ? r->updated_at : wf_time_s());
}

int wf_store_pr_head_requested(wf_store *s, int64_t pr, const char *head_sha, int *yes_out)
{
    sqlite3_stmt *st = NULL;
    if (head_sha == NULL)
        return WF_EINVAL;
    store_op(s, "look up pull request head", "pull request", pr);
    int err = stmt_start(s, &st, ST_PR_HEAD_REQUESTED, "it", pr, head_sha);
    if (err == 0)
        err = stmt_step(s, st);
    stmt_done(st);
    if (err < 0)
        return err;
    *yes_out = err == 1;
    return 0;
}

int wf_store_prs_list(wf_store *s, const char *state, wf_pr_row **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    store_op(s, "list pull requests", NULL, 0);
    int err = state != NULL ? stmt_start(s, &st, ST_PRS_BY_STATE, "t", state)
                            : stmt_start(s, &st, ST_PRS_ALL, "");
    if (err == 0)
        err = collect_rows(s, st, sizeof(wf_pr_row), read_pr, release_pr, &rows, n_out);
    stmt_done(st);
    if (err == 0)
        *out = rows;
    return err;
}

/* ---- webhook deliveries ----------------------------------------------------------------- */

int wf_store_delivery_add(wf_store *s, const char *forge, const char *id, int64_t at,
                          int *is_new_out)
{
    if (forge == NULL || id == NULL)
        return WF_EINVAL;
    store_op(s, "record webhook delivery", NULL, 0);
    int err = stmt_exec(s, ST_DELIVERY_ADD, "tti", forge, id, at);
    if (err != 0)
        return err;
    *is_new_out = sqlite3_changes(s->db) == 1;
    return 0;
}

int wf_store_delivery_seen(wf_store *s, const char *forge, const char *id, int *seen_out)
{
    sqlite3_stmt *st = NULL;
    if (forge == NULL || id == NULL)
        return WF_EINVAL;
    store_op(s, "look up webhook delivery", NULL, 0);
    int err = stmt_start(s, &st, ST_DELIVERY_SEEN, "tt", forge, id);
    if (err == 0)
        err = stmt_step(s, st);
    stmt_done(st);
    if (err < 0)
        return err;
    *seen_out = err == 1;
    return 0;
}

int wf_store_deliveries_prune(wf_store *s, int64_t before, int *n_out)
{
    store_op(s, "prune webhook deliveries", NULL, 0);
    int err = stmt_exec(s, ST_DELIVERIES_PRUNE, "i", before);
    if (err == 0 && n_out != NULL)
        *n_out = sqlite3_changes(s->db);
    return err;
}

/* ---- worker flags ----------------------------------------------------------------------- */

int wf_store_worker_set_drained(wf_store *s, const char *name, int drained, int64_t at)
{
    if (name == NULL)
        return WF_EINVAL;
    store_op(s, "record a worker's drain flag", NULL, 0);
    return stmt_exec(s, ST_WORKER_DRAIN_SET, "tdi", name, drained ? 1 : 0, at);
}

static int read_worker_flag(wf_store *s, sqlite3_stmt *st, void *row)
{
    wf_worker_flag_row *r = row;
    int bad = 0;
    r->name = col_str(st, 0, &bad);
    r->changed_at = sqlite3_column_int64(st, 1);
    if (bad || r->name == NULL) {
        free(r->name);
        r->name = NULL;
        return store_fail(s, bad ? SQLITE_NOMEM : SQLITE_CORRUPT);
    }
    return 0;
}

static void release_worker_flag(void *row)
{
    wf_worker_flag_row *r = row;
    free(r->name);
}

int wf_store_workers_drained(wf_store *s, wf_worker_flag_row **out, size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    store_op(s, "list drained workers", NULL, 0);
    int err = stmt_start(s, &st, ST_WORKERS_DRAINED, "");
    if (err == 0)
        err = collect_rows(s, st, sizeof(wf_worker_flag_row), read_worker_flag, release_worker_flag,
                           &rows, n_out);
    stmt_done(st);
    if (err == 0)
        *out = rows;
    return err;
}

void wf_worker_flag_rows_free(wf_worker_flag_row *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(rows[i].name);
    free(rows);
}
