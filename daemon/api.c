/* api.c - the JSON API under /api/v1/ (docs/API.md): builds, jobs, logs, workers, recipes. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/api_sources.h"
#include "daemon/internal.h"
#include "daemon/planner.h"
#include "lib/log.h"

/* Log chunks handed out per request, so a huge log cannot balloon one response. */
#define API_LOG_CHUNK (1u << 20)
/* Bounds on a build request, so one client cannot queue unbounded work in one call. */
#define API_MAX_SPECS 256
#define API_MAX_JOBS 4096

static void reply_json(wf_http_response *res, int status, cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);
    res->status = status;
    res->content_type = "application/json";
    wf_buf_adds(&res->body, text ? text : "{}");
    wf_buf_adds(&res->body, "\n");
    cJSON_free(text);
    cJSON_Delete(body);
}

static void reply_error(wf_http_response *res, int status, const char *msg, const char *hint)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    if (hint != NULL)
        cJSON_AddStringToObject(o, "hint", hint);
    reply_json(res, status, o);
}

static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v != NULL)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *artifact_json(const wf_artifact_row *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "filename", a->filename);
    cJSON_AddStringToObject(o, "sha256", a->sha256);
    cJSON_AddNumberToObject(o, "size", (double)a->size);
    add_str_or_null(o, "platform_tag", a->platform_tag);
    add_str_or_null(o, "requires_python", a->requires_python);
    char *url = wf_asprintf("/files/%s/%s", a->project, a->filename);
    cJSON_AddStringToObject(o, "url", url);
    free(url);
    return o;
}

static cJSON *job_json(wf_daemon *d, const wf_job_row *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)j->id);
    cJSON_AddNumberToObject(o, "request", (double)j->request_id);
    cJSON_AddStringToObject(o, "recipe", j->recipe);
    cJSON_AddStringToObject(o, "version", j->version);
    cJSON_AddStringToObject(o, "python", j->python);
    cJSON_AddStringToObject(o, "platform", j->platform);
    cJSON_AddStringToObject(o, "state", wf_job_state_name(j->state));
    add_str_or_null(o, "worker", j->worker);
    cJSON_AddBoolToObject(o, "emulated", j->emulated);
    cJSON_AddStringToObject(o, "build_key", j->build_key);
    cJSON_AddBoolToObject(o, "forced", j->forced);
    cJSON_AddNumberToObject(o, "attempt_count", j->attempts);
    cJSON_AddNumberToObject(o, "created_at", (double)j->created_at);
    cJSON_AddNumberToObject(o, "started_at", (double)j->started_at);
    cJSON_AddNumberToObject(o, "finished_at", (double)j->finished_at);
    add_str_or_null(o, "error", j->error);
    char *why = j->state == WF_JOB_QUEUED ? wf__sched_wait_reason(d, j->platform) : NULL;
    add_str_or_null(o, "wait_reason", why);
    free(why);
    add_str_or_null(o, "last_log_line", wf__run_last_line(d, j->id));
    wf_artifact_row a = {0};
    if (j->state == WF_JOB_SUCCEEDED &&
        (wf_store_artifact_by_job(d->store, j->id, &a) == 0 ||
         wf_store_artifact_by_key(d->store, j->build_key, &a) == 0)) {
        cJSON_AddItemToObject(o, "artifact", artifact_json(&a));
        wf_artifact_row_release(&a);
    } else {
        cJSON_AddNullToObject(o, "artifact");
    }
    return o;
}

static cJSON *jobs_array(wf_daemon *d, const wf_job_row *rows, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, job_json(d, &rows[i]));
    return arr;
}

/* Parses the decimal id that follows `prefix` in the path; rest gets what comes after it. */
static int path_id(const wf_http_request *req, const char *prefix, int64_t *id, const char **rest,
                   size_t *rest_len)
{
    size_t pl = strlen(prefix);
    if (req->path_len <= pl || memcmp(req->path, prefix, pl) != 0)
        return 0;
    const char *p = req->path + pl;
    const char *end = req->path + req->path_len;
    const char *q = p;
    while (q < end && *q >= '0' && *q <= '9')
        q++;
    if (q == p || wf_parse_i64(p, (size_t)(q - p), id) != 0)
        return 0;
    *rest = q;
    *rest_len = (size_t)(end - q);
    return 1;
}

static int is(const wf_http_request *req, const char *method, const char *path)
{
    return req->method_len == strlen(method) && memcmp(req->method, method, req->method_len) == 0 &&
           req->path_len == strlen(path) && memcmp(req->path, path, req->path_len) == 0;
}

static int method_is(const wf_http_request *req, const char *method)
{
    return req->method_len == strlen(method) && memcmp(req->method, method, req->method_len) == 0;
}

static void api_status(wf_daemon *d, wf_http_response *res)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", WF_VERSION);
    cJSON_AddNumberToObject(o, "workers", (double)d->n_workers);
    cJSON_AddStringToObject(o, "state", d->state == WF_DAEMON_RUNNING ? "running" : "draining");
    cJSON *jobs = cJSON_AddObjectToObject(o, "jobs");
    int64_t q = 0, r = 0;
    wf_store_count_jobs(d->store, WF_JOB_QUEUED, &q);
    wf_store_count_jobs(d->store, WF_JOB_RUNNING, &r);
    cJSON_AddNumberToObject(jobs, "queued", (double)q);
    cJSON_AddNumberToObject(jobs, "running", (double)r);
    reply_json(res, 200, o);
}

/* Reads a JSON array of strings; NULL array is fine (empty). Returns -1 on a wrong type. */
static int string_array(const cJSON *arr, const char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (arr == NULL || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr))
        return -1;
    size_t count = (size_t)cJSON_GetArraySize(arr);
    if (count > API_MAX_SPECS)
        return -1;
    const char **v = wf_calloc(count ? count : 1, sizeof(char *));
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it)) {
            free(v);
            return -1;
        }
        v[i++] = it->valuestring;
    }
    *out = v;
    *n = count;
    return 0;
}

static const char *json_string(const cJSON *o, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* Creates the request and its jobs in one transaction; skips keys already built or in flight. */
static int create_jobs(wf_daemon *d, const wf_plan *plan, int force, const char *trigger,
                       const char *user, int64_t *request_id, cJSON *skipped)
{
    int rc = wf_store_begin(d->store);
    if (rc != 0)
        return rc;
    if ((rc = wf_store_request_create(d->store, trigger, user, request_id)) != 0)
        goto fail;
    for (size_t i = 0; i < plan->n; i++) {
        const wf_plan_job *pj = &plan->jobs[i];
        const char *reason = NULL;
        wf_artifact_row a = {0};
        int64_t active = 0;
        if (!force && wf_store_artifact_by_key(d->store, pj->build_key, &a) == 0) {
            reason = "already built";
        } else if ((rc = wf_store_job_active_for_key(d->store, pj->build_key, &active)) != 0) {
            goto fail;
        } else if (active != 0) {
            reason = "already queued or running";
        }
        if (reason != NULL) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "recipe", pj->recipe->normalized);
            cJSON_AddStringToObject(s, "version", pj->version);
            cJSON_AddStringToObject(s, "python", pj->python);
            cJSON_AddStringToObject(s, "platform", pj->platform);
            cJSON_AddStringToObject(s, "reason", reason);
            if (a.filename != NULL)
                cJSON_AddStringToObject(s, "filename", a.filename);
            if (active != 0)
                cJSON_AddNumberToObject(s, "job", (double)active);
            cJSON_AddItemToArray(skipped, s);
            wf_artifact_row_release(&a);
            continue;
        }
        int64_t id = 0;
        rc = wf_store_job_create(d->store, *request_id, pj->recipe->normalized, pj->version,
                                 pj->python, pj->platform, pj->build_key, force, &id);
        if (rc != 0)
            goto fail;
    }
    return wf_store_commit(d->store);
fail:
    wf_store_rollback(d->store);
    return rc;
}

static void api_build(wf_daemon *d, const wf_http_request *req, wf_http_response *res)
{
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    const char **specs = NULL, **platforms = NULL, **python = NULL;
    size_t n_specs = 0, n_platforms = 0, n_python = 0;
    wf_plan plan = {NULL, 0};
    char *err = NULL;
    if (!cJSON_IsObject(body)) {
        reply_error(res, 400, "the request body is not a JSON object",
                    "send {\"specs\": [\"NAME\" or \"NAME==VERSION\"]}");
        goto done;
    }
    if (string_array(cJSON_GetObjectItemCaseSensitive(body, "specs"), &specs, &n_specs) != 0 ||
        string_array(cJSON_GetObjectItemCaseSensitive(body, "platforms"), &platforms,
                     &n_platforms) != 0 ||
        string_array(cJSON_GetObjectItemCaseSensitive(body, "python"), &python, &n_python) != 0) {
        reply_error(res, 400, "specs, platforms and python must be lists of strings",
                    "at most 256 entries each");
        goto done;
    }
    const wf_plan_request pr = {specs, n_specs, platforms, n_platforms, python, n_python};
    if (wf_plan_build(&plan, d->recipes, d->cfg, &pr, &err) != 0) {
        reply_error(res, 400, err,
                    "'wheelfarm recipes' lists each recipe with its versions, platforms and "
                    "python tags");
        goto done;
    }
    if (plan.n > API_MAX_JOBS) {
        reply_error(res, 400, "the request expands to too many jobs",
                    "ask for fewer recipes, versions, platforms or python tags at once");
        goto done;
    }
    if (d->state != WF_DAEMON_RUNNING) {
        reply_error(res, 503, "the daemon is shutting down", "retry once it has restarted");
        goto done;
    }
    const cJSON *force = cJSON_GetObjectItemCaseSensitive(body, "force");
    if (force != NULL && !cJSON_IsBool(force)) {
        reply_error(res, 400, "force must be true or false", NULL);
        goto done;
    }
    const char *trigger = json_string(body, "trigger", "api");
    const char *user = json_string(body, "user", NULL);
    int64_t request_id = 0;
    cJSON *out = cJSON_CreateObject();
    cJSON *skipped = cJSON_CreateArray();
    int rc = create_jobs(d, &plan, cJSON_IsTrue(force), trigger, user, &request_id, skipped);
    if (rc != 0) {
        cJSON_Delete(out);
        cJSON_Delete(skipped);
        reply_error(res, 500, "cannot record the request in the state database",
                    "see the daemon's log");
        goto done;
    }
    wf_job_row *rows = NULL;
    size_t n = 0;
    wf_store_jobs_list(d->store, NULL, request_id, API_MAX_JOBS, &rows, &n);
    cJSON_AddNumberToObject(out, "request", (double)request_id);
    cJSON_AddItemToObject(out, "jobs", jobs_array(d, rows, n));
    cJSON_AddItemToObject(out, "skipped", skipped);
    wf_log_info("request %lld: %zu job(s) queued, %d skipped (trigger %s)", (long long)request_id,
                n, cJSON_GetArraySize(skipped), trigger);
    wf_job_rows_free(rows, n);
    reply_json(res, 201, out);
    wf__sched_kick(d);
done:
    free(err);
    wf_plan_release(&plan);
    free(specs);
    free(platforms);
    free(python);
    cJSON_Delete(body);
}

static void api_request(wf_daemon *d, int64_t id, wf_http_response *res)
{
    char *trigger = NULL, *user = NULL;
    int64_t created = 0;
    if (wf_store_request_get(d->store, id, &trigger, &user, &created) != 0) {
        reply_error(res, 404, "no such request", "'wheelfarm jobs' lists jobs and their requests");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    add_str_or_null(o, "trigger", trigger);
    add_str_or_null(o, "user", user);
    cJSON_AddNumberToObject(o, "created_at", (double)created);
    wf_job_row *rows = NULL;
    size_t n = 0;
    wf_store_jobs_list(d->store, NULL, id, API_MAX_JOBS, &rows, &n);
    cJSON_AddItemToObject(o, "jobs", jobs_array(d, rows, n));
    wf_job_rows_free(rows, n);
    free(trigger);
    free(user);
    reply_json(res, 200, o);
}

static void api_jobs(wf_daemon *d, const wf_http_request *req, wf_http_response *res)
{
    char *state = wf_http_request_query(req, "state");
    char *limit_s = wf_http_request_query(req, "limit");
    int64_t limit = 100;
    wf_job_state st;
    if (state != NULL && wf_job_state_parse(state, &st) != 0) {
        reply_error(res, 400, "unknown job state",
                    "use one of queued, running, succeeded, failed, cancelled");
        goto done;
    }
    if (limit_s != NULL &&
        (wf_parse_i64(limit_s, strlen(limit_s), &limit) != 0 || limit < 1 || limit > 10000)) {
        reply_error(res, 400, "limit must be a number from 1 to 10000", "for example ?limit=50");
        goto done;
    }
    wf_job_row *rows = NULL;
    size_t n = 0;
    if (wf_store_jobs_list(d->store, state, 0, (int)limit, &rows, &n) != 0) {
        reply_error(res, 500, "cannot list jobs", "see the daemon's log");
        goto done;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "jobs", jobs_array(d, rows, n));
    wf_job_rows_free(rows, n);
    reply_json(res, 200, o);
done:
    free(state);
    free(limit_s);
}

static void api_job(wf_daemon *d, int64_t id, wf_http_response *res)
{
    wf_job_row j = {0};
    if (wf_store_job_get(d->store, id, &j) != 0) {
        reply_error(res, 404, "no such job", "'wheelfarm jobs' lists them");
        return;
    }
    cJSON *o = job_json(d, &j);
    wf_attempt_row *att = NULL;
    size_t n = 0;
    cJSON *arr = cJSON_AddArrayToObject(o, "attempts");
    if (wf_store_attempts_list(d->store, id, &att, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "n", att[i].n);
            add_str_or_null(a, "worker", att[i].worker);
            add_str_or_null(a, "state", att[i].state);
            cJSON_AddNumberToObject(a, "started_at", (double)att[i].started_at);
            cJSON_AddNumberToObject(a, "finished_at", (double)att[i].finished_at);
            add_str_or_null(a, "error", att[i].error);
            cJSON_AddItemToArray(arr, a);
        }
        wf_attempt_rows_free(att, n);
    }
    wf_job_row_release(&j);
    reply_json(res, 200, o);
}

static void api_log(wf_daemon *d, const wf_http_request *req, int64_t id, wf_http_response *res)
{
    wf_job_row j = {0};
    if (wf_store_job_get(d->store, id, &j) != 0) {
        reply_error(res, 404, "no such job", "'wheelfarm jobs' lists them");
        return;
    }
    char *off_s = wf_http_request_query(req, "offset");
    int64_t off = 0;
    if (off_s != NULL && (wf_parse_i64(off_s, strlen(off_s), &off) != 0 || off < 0)) {
        reply_error(res, 400, "offset must be a non-negative number",
                    "pass the X-Wheelfarm-Log-Size of the previous answer");
        goto done;
    }
    char *path = wf__daemon_log_path(d, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    free(path);
    int64_t size = 0;
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0)
        size = st.st_size;
    if (fd >= 0 && off < size) {
        size_t want = (size_t)(size - off) < API_LOG_CHUNK ? (size_t)(size - off) : API_LOG_CHUNK;
        char *buf = wf_malloc(want);
        ssize_t got = pread(fd, buf, want, off);
        if (got > 0)
            wf_buf_add(&res->body, buf, (size_t)got);
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)size);
    res->status = 200;
    res->content_type = "text/plain; charset=utf-8";
    wf_http_response_header(res, "X-Wheelfarm-Job-State", wf_job_state_name(j.state));
    wf_http_response_header(res, "X-Wheelfarm-Log-Size", num);
done:
    free(off_s);
    wf_job_row_release(&j);
}

static void api_cancel(wf_daemon *d, int64_t id, wf_http_response *res)
{
    wf_job_state st;
    int rc = wf_store_job_cancel(d->store, id, &st);
    if (rc == WF_ENOTFOUND) {
        reply_error(res, 404, "no such job", "'wheelfarm jobs' lists them");
        return;
    }
    if (rc != 0) {
        reply_error(res, 500, "cannot cancel the job", "see the daemon's log");
        return;
    }
    if (st == WF_JOB_RUNNING && !wf__run_cancel(d, id, 0)) {
        /* Running in the store but not in this process: nothing will ever finish it. */
        wf_job_row j = {0};
        if (wf_store_job_get(d->store, id, &j) == 0) {
            wf_store_attempt_finish(d->store, id, j.attempts, WF_JOB_CANCELLED,
                                    "cancelled on request");
            wf_job_row_release(&j);
        }
    }
    wf_log_info("job %lld: cancel requested", (long long)id);
    api_job(d, id, res);
}

static void api_workers(wf_daemon *d, wf_http_response *res)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "workers");
    for (size_t i = 0; i < d->n_workers; i++) {
        const wf_worker *w = &d->workers[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", w->cfg->name);
        cJSON_AddStringToObject(j, "driver", w->cfg->driver);
        add_str_or_null(j, "endpoint", w->cfg->endpoint);
        add_str_or_null(j, "builder", w->cfg->builder);
        cJSON *p = cJSON_AddArrayToObject(j, "platforms");
        for (size_t k = 0; k < w->cfg->n_platforms; k++)
            cJSON_AddItemToArray(p, cJSON_CreateString(w->cfg->platforms[k]));
        cJSON_AddNumberToObject(j, "slots", w->cfg->slots);
        cJSON_AddNumberToObject(j, "busy", w->busy);
        cJSON_AddBoolToObject(j, "emulated", w->cfg->emulated);
        cJSON_AddStringToObject(j, "state", d->state == WF_DAEMON_RUNNING ? "healthy" : "draining");
        cJSON_AddItemToArray(arr, j);
    }
    reply_json(res, 200, o);
}

static cJSON *string_list(char *const *v, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
    return arr;
}

static void api_recipes(wf_daemon *d, wf_http_response *res)
{
    static const char *const kinds[] = {"", "sdist", "url", "path"};
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "recipes");
    for (size_t i = 0; i < d->recipes->n; i++) {
        const wf_recipe *r = d->recipes->items[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", r->name);
        cJSON_AddItemToObject(j, "versions", string_list(r->versions, r->n_versions));
        cJSON_AddItemToObject(j, "python", string_list(r->python, r->n_python));
        cJSON_AddItemToObject(j, "platforms", string_list(r->platforms, r->n_platforms));
        cJSON_AddStringToObject(j, "source", kinds[r->source.kind]);
        cJSON *nat = cJSON_AddArrayToObject(j, "native");
        for (size_t k = 0; k < r->n_native; k++)
            cJSON_AddItemToArray(nat, cJSON_CreateString(r->native[k].name));
        add_str_or_null(j, "file", r->file);
        cJSON_AddNumberToObject(j, "line", r->line);
        cJSON_AddItemToArray(arr, j);
    }
    cJSON *errs = cJSON_AddArrayToObject(o, "errors");
    for (const char *p = d->recipe_errors; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = wf_strndup(p, n);
        cJSON_AddItemToArray(errs, cJSON_CreateString(line));
        free(line);
        p = nl ? nl + 1 : p + n;
    }
    reply_json(res, 200, o);
}

/* A known path asked with the wrong method is 405, not 404. */
static int known_path(const wf_http_request *req)
{
    static const char *const paths[] = {"/api/v1/status", "/api/v1/builds", "/api/v1/jobs",
                                        "/api/v1/workers", "/api/v1/recipes"};
    for (size_t i = 0; i < WF_ARRAY_SIZE(paths); i++)
        if (req->path_len == strlen(paths[i]) && memcmp(req->path, paths[i], req->path_len) == 0)
            return 1;
    return 0;
}

void wf__api_handle(const wf_http_request *req, wf_http_response *res, void *ctx)
{
    wf_daemon *d = ctx;
    int64_t id = 0;
    const char *rest = NULL;
    size_t rest_len = 0;
    if (is(req, "GET", "/api/v1/status"))
        api_status(d, res);
    else if (is(req, "POST", "/api/v1/builds"))
        api_build(d, req, res);
    else if (is(req, "GET", "/api/v1/jobs"))
        api_jobs(d, req, res);
    else if (is(req, "GET", "/api/v1/workers"))
        api_workers(d, res);
    else if (is(req, "GET", "/api/v1/recipes"))
        api_recipes(d, res);
    else if (is(req, "POST", "/api/v1/sources"))
        wf__api_sources_add(d, req, res);
    else if (method_is(req, "GET") && path_id(req, "/api/v1/requests/", &id, &rest, &rest_len) &&
             rest_len == 0)
        api_request(d, id, res);
    else if (path_id(req, "/api/v1/jobs/", &id, &rest, &rest_len)) {
        if (method_is(req, "GET") && rest_len == 0)
            api_job(d, id, res);
        else if (method_is(req, "GET") && rest_len == 4 && memcmp(rest, "/log", 4) == 0)
            api_log(d, req, id, res);
        else if (method_is(req, "POST") && rest_len == 7 && memcmp(rest, "/cancel", 7) == 0)
            api_cancel(d, id, res);
        else
            reply_error(res, 404, "no such endpoint", "see docs/API.md");
    } else if (known_path(req))
        reply_error(res, 405, "method not allowed on this path", "see docs/API.md");
    else
        reply_error(res, 404, "no such endpoint", "see docs/API.md");
}
