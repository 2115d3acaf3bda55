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
};
#define STORE_SCHEMA_VERSION ((int)WF_ARRAY_SIZE(store_migrations))

#define JOB_COLS                                                                                   \
    "id, request_id, recipe, version, python, platform, build_key, forced, emulated, attempts, "   \
    "state, worker, error, created_at, started_at, finished_at, cancel_requested"
#define ART_COLS                                                                                   \
    "id, job_id, size, created_at, build_key, project, version, filename, sha256, "                \
    "requires_python, metadata_sha256, platform_tag, path"

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
    ST_JOB_INSERT,
    ST_JOB_GET,
    ST_JOB_BRIEF,
    ST_JOBS_ALL,
    ST_JOBS_BY_STATE,
    ST_JOBS_BY_REQUEST,
    ST_JOBS_BY_STATE_REQUEST,
    ST_JOBS_QUEUED,
    ST_JOBS_QUEUED_PLATFORM,
    ST_JOB_ACTIVE_KEY,
    ST_JOB_START,
    ST_JOB_FINISH,
    ST_JOB_REQUEUE,
    ST_JOB_CANCEL_REQUEST,
    ST_COUNT_JOBS,
    ST_ATTEMPT_INSERT,
    ST_ATTEMPT_FINISH,
    ST_ATTEMPTS_LIST,
    ST_RECOVER_ATTEMPTS,
    ST_RECOVER_CANCELLED,
    ST_RECOVER_REQUEUE,
    ST_ARTIFACT_INSERT,
    ST_ARTIFACT_BY_KEY,
    ST_ARTIFACT_BY_JOB,
    ST_ARTIFACT_BY_FILENAME,
    ST_ARTIFACTS_PROJECT,
    ST_PROJECTS,
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
    [ST_JOB_INSERT] =
        "INSERT INTO jobs(request_id, recipe, version, python, platform, build_key,"
        " forced, state, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8)",
    [ST_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
    [ST_JOB_BRIEF] = "SELECT state, attempts, cancel_requested FROM jobs WHERE id = ?1",
    [ST_JOBS_ALL] = "SELECT " JOB_COLS " FROM jobs ORDER BY id DESC LIMIT ?1",
    [ST_JOBS_BY_STATE] = "SELECT " JOB_COLS " FROM jobs WHERE state = ?1 ORDER BY id DESC LIMIT ?2",
    [ST_JOBS_BY_REQUEST] =
        "SELECT " JOB_COLS " FROM jobs WHERE request_id = ?1 ORDER BY id DESC LIMIT ?2",
    [ST_JOBS_BY_STATE_REQUEST] = "SELECT " JOB_COLS " FROM jobs WHERE state = ?1 AND"
                                 " request_id = ?2 ORDER BY id DESC LIMIT ?3",
    [ST_JOBS_QUEUED] =
        "SELECT " JOB_COLS " FROM jobs WHERE state = 'queued' ORDER BY id ASC LIMIT ?1",
    [ST_JOBS_QUEUED_PLATFORM] = "SELECT " JOB_COLS " FROM jobs WHERE state = 'queued' AND"
                                " platform = ?1 ORDER BY id ASC LIMIT ?2",
    [ST_JOB_ACTIVE_KEY] = "SELECT id FROM jobs WHERE build_key = ?1 AND"
                          " state IN ('queued', 'running') ORDER BY id ASC LIMIT 1",
    [ST_JOB_START] = "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?2,"
                     " emulated = ?3, started_at = ?4, finished_at = NULL, error = NULL"
                     " WHERE id = ?1 AND state = 'queued'",
    [ST_JOB_FINISH] = "UPDATE jobs SET state = ?2, finished_at = ?3, error = ?4 WHERE id = ?1",
    [ST_JOB_REQUEUE] = "UPDATE jobs SET state = 'queued', worker = NULL, emulated = 0,"
                       " started_at = NULL, finished_at = NULL, error = NULL WHERE id = ?1",
    [ST_JOB_CANCEL_REQUEST] = "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1",
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
    [ST_ARTIFACT_INSERT] = "INSERT INTO artifacts(job_id, build_key, project, version, filename,"
                           " sha256, size, requires_python, metadata_sha256, platform_tag, path,"
                           " created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [ST_ARTIFACT_BY_KEY] = "SELECT " ART_COLS " FROM artifacts WHERE build_key = ?1",
    [ST_ARTIFACT_BY_FILENAME] = "SELECT " ART_COLS " FROM artifacts WHERE filename = ?1",
    [ST_ARTIFACT_BY_JOB] =
        "SELECT " ART_COLS " FROM artifacts WHERE job_id = ?1 ORDER BY id DESC LIMIT 1",
    [ST_ARTIFACTS_PROJECT] =
        "SELECT " ART_COLS " FROM artifacts WHERE project = ?1 ORDER BY filename",
    [ST_PROJECTS] = "SELECT DISTINCT project FROM artifacts ORDER BY project",
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

/* ---- jobs ------------------------------------------------------------------------------- */

int wf_store_job_create(wf_store *s, int64_t request_id, const char *recipe, const char *version,
                        const char *python, const char *platform, const char *build_key, int forced,
                        int64_t *out_id)
{
    if (!recipe || !version || !python || !platform || !build_key)
        return WF_EINVAL;
    store_op(s, "create job", "request", request_id);
    int err = stmt_exec(s, ST_JOB_INSERT, "itttttdi", request_id, recipe, version, python, platform,
                        build_key, forced ? 1 : 0, wf_time_s());
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
    int err = stmt_start(s, &st, ST_JOBS_QUEUED, "d", clamp_limit(limit));
    if (err == 0)
        err = collect_jobs(s, st, out, n_out);
    stmt_done(st);
    return err;
}

int wf_store_jobs_queued_platform(wf_store *s, const char *platform, int limit, wf_job_row **out,
                                  size_t *n_out)
{
    sqlite3_stmt *st = NULL;
    if (platform == NULL)
        return WF_EINVAL;
    store_op(s, "list queued jobs of a platform", NULL, 0);
    int err = stmt_start(s, &st, ST_JOBS_QUEUED_PLATFORM, "td", platform, clamp_limit(limit));
    if (err == 0)
        err = collect_jobs(s, st, out, n_out);
    stmt_done(st);
    return err;
}

int wf_store_job_active_for_key(wf_store *s, const char *build_key, int64_t *job_id_out)
{
    sqlite3_stmt *st = NULL;
    if (build_key == NULL)
        return WF_EINVAL;
    store_op(s, "find active job by build key", NULL, 0);
    int err = stmt_start(s, &st, ST_JOB_ACTIVE_KEY, "t", build_key);
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

/* ---- attempts --------------------------------------------------------------------------- */

/* The parts of a job that state transitions look at. */
typedef struct job_brief {
    wf_job_state state;
    int attempts;
    int cancel_requested;
} job_brief;

static int read_brief(wf_store *s, sqlite3_stmt *st, void *row)
{
    job_brief *b = row;
    b->attempts = sqlite3_column_int(st, 1);
    b->cancel_requested = sqlite3_column_int(st, 2);
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

/* The fence: only the job's current attempt, while it runs, may finish it. */
static int job_fence(wf_store *s, int64_t job_id, int attempt, job_brief *b)
{
    int err = job_brief_get(s, job_id, b);
    if (err != 0)
        return err;
    if (b->state != WF_JOB_RUNNING || b->attempts != attempt)
        return WF_EINVAL;
    return 0;
}

int wf_store_attempt_start(wf_store *s, int64_t job_id, const char *worker, int emulated,
                           int *attempt_out)
{
    job_brief b;
    int nested;
    if (worker == NULL)
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
done:
    err = tx_close(s, nested, err);
    if (err == 0 && attempt_out != NULL)
        *attempt_out = b.attempts + 1;
    return err;
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
    err = stmt_exec(s, ST_ATTEMPT_FINISH, "idtit", job_id, attempt, attempt_state, now,
                    default_error(job_state, error));
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
                        "cancelled before it started");
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
    n = sqlite3_changes(s->db);
done:
    err = tx_close(s, nested, err);
    if (err == 0 && n_requeued != NULL)
        *n_requeued = n;
    return err;
}

/* ---- artifacts -------------------------------------------------------------------------- */

int wf_store_artifact_add(wf_store *s, int64_t job_id, int attempt, const wf_artifact_row *a)
{
    job_brief b;
    int nested;
    if (!a->build_key || !a->project || !a->version || !a->filename || !a->sha256 || !a->path ||
        a->size < 0)
        return WF_EINVAL;
    store_op(s, "add artifact", "job", job_id);
    int err = tx_open(s, &nested);
    if (err != 0)
        return err;
    err = job_fence(s, job_id, attempt, &b);
    if (err != 0)
        goto done;
    int64_t now = wf_time_s();
    err = stmt_exec(s, ST_ARTIFACT_INSERT, "itttttitttti", job_id, a->build_key, a->project,
                    a->version, a->filename, a->sha256, a->size, a->requires_python,
                    a->metadata_sha256, a->platform_tag, a->path,
                    a->created_at ? a->created_at : now);
    if (err != 0)
        goto done;
    err = stmt_exec(s, ST_ATTEMPT_FINISH, "idtit", job_id, attempt, "succeeded", now,
                    (const char *)NULL);
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
    sqlite3_stmt *st = NULL;
    if (build_key == NULL)
        return WF_EINVAL;
    store_op(s, "get artifact by build key", NULL, 0);
    int err = stmt_start(s, &st, ST_ARTIFACT_BY_KEY, "t", build_key);
    return artifact_get(s, st, err, out);
}

int wf_store_artifact_by_filename(wf_store *s, const char *filename, wf_artifact_row *out)
{
    sqlite3_stmt *st = NULL;
    if (filename == NULL)
        return WF_EINVAL;
    store_op(s, "get artifact by file name", NULL, 0);
    int err = stmt_start(s, &st, ST_ARTIFACT_BY_FILENAME, "t", filename);
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
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    if (project == NULL)
        return WF_EINVAL;
    store_op(s, "list artifacts of a project", NULL, 0);
    int err = stmt_start(s, &st, ST_ARTIFACTS_PROJECT, "t", project);
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
    sqlite3_stmt *st = NULL;
    void *rows = NULL;
    store_op(s, "list projects", NULL, 0);
    int err = stmt_start(s, &st, ST_PROJECTS, "");
    if (err == 0)
        err = collect_rows(s, st, sizeof(char *), read_name, release_name, &rows, n_out);
    stmt_done(st);
    if (err == 0)
        *names_out = rows;
    return err;
}
