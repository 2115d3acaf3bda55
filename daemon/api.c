/* api.c - the JSON API under /api/v1/ (docs/API.md): builds, jobs, logs, workers, recipes. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/api_bump.h"
#include "daemon/api_json.h"
#include "daemon/api_sources.h"
#include "daemon/internal.h"
#include "daemon/planner.h"
#include "daemon/recipe_repo.h"
#include "lib/channel.h"
#include "daemon/substitute.h"
#include "lib/log.h"

/* Log chunks handed out per request, so a huge log cannot balloon one response. */
#define API_LOG_CHUNK (1u << 20)
/* Bounds on a build request, so one client cannot queue unbounded work in one call. */
#define API_MAX_SPECS 256
#define API_MAX_JOBS 4096

static cJSON *artifact_json(const wf_artifact_row *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "filename", a->filename);
    cJSON_AddStringToObject(o, "sha256", a->sha256);
    cJSON_AddNumberToObject(o, "size", (double)a->size);
    wf_api_add_str_or_null(o, "platform_tag", a->platform_tag);
    wf_api_add_str_or_null(o, "requires_python", a->requires_python);
    /* Where the channel serves it (a wheel linked from main is served by the channel too). */
    char *prefix = wf_channel_url_prefix(a->channel);
    char *url = wf_asprintf("%s/files/%s/%s", prefix, a->project, a->filename);
    free(prefix);
    cJSON_AddStringToObject(o, "url", url);
    free(url);
    return o;
}

/* The request's trigger record: {kind, user, commit, ref, pr, head_sha, upstream_version,
 * detail, created_at}; absent fields are null. NULL when the request cannot be read. */
static cJSON *trigger_json(wf_daemon *d, int64_t request_id)
{
    char *kind = NULL, *user = NULL;
    int64_t created = 0;
    wf_request_origin o = {0};
    if (wf_store_request_get(d->store, request_id, &kind, &user, &created) != 0)
        return NULL;
    if (wf_store_request_origin(d->store, request_id, &o) != 0) {
        free(kind);
        free(user);
        return NULL;
    }
    cJSON *t = cJSON_CreateObject();
    wf_api_add_str_or_null(t, "kind", kind);
    wf_api_add_str_or_null(t, "user", user);
    wf_api_add_str_or_null(t, "commit", o.commit);
    wf_api_add_str_or_null(t, "ref", o.ref);
    if (o.pr > 0)
        cJSON_AddNumberToObject(t, "pr", (double)o.pr);
    else
        cJSON_AddNullToObject(t, "pr");
    wf_api_add_str_or_null(t, "head_sha", o.head_sha);
    wf_api_add_str_or_null(t, "upstream_version", o.upstream_version);
    wf_api_add_str_or_null(t, "detail", o.detail);
    cJSON_AddNumberToObject(t, "created_at", (double)created);
    free(kind);
    free(user);
    wf_request_origin_release(&o);
    return t;
}

/* Why a queued job waits: its backoff after an infrastructure failure, or what the scheduler
 * says. Heap string or NULL. */
static char *wait_reason(wf_daemon *d, const wf_job_row *j)
{
    if (j->state != WF_JOB_QUEUED)
        return NULL;
    if (j->not_before > wf_time_s()) {
        char at[16] = "?";
        struct tm tm;
        time_t t = (time_t)j->not_before;
        if (gmtime_r(&t, &tm) != NULL)
            strftime(at, sizeof(at), "%H:%M:%S", &tm);
        if (j->avoid_worker != NULL)
            return wf_asprintf("retrying after infrastructure failure on worker %s at %s UTC",
                               j->avoid_worker, at);
        return wf_asprintf("retrying after infrastructure failure at %s UTC", at);
    }
    return wf__sched_wait_reason(d, j->platform);
}

/* The running attempt's lease, or null. */
static cJSON *lease_json(wf_daemon *d, const wf_job_row *j)
{
    wf_lease_row l = {0};
    if (j->state != WF_JOB_RUNNING || wf_store_lease_get(d->store, j->id, &l) != 0)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "attempt", l.attempt);
    cJSON_AddStringToObject(o, "worker", l.worker);
    cJSON_AddNumberToObject(o, "acquired_at", (double)(l.acquired_ms / 1000));
    cJSON_AddNumberToObject(o, "renewed_at", (double)(l.renewed_ms / 1000));
    cJSON_AddNumberToObject(o, "expires_at", (double)(l.expires_ms / 1000));
    wf_lease_row_release(&l);
    return o;
}

static cJSON *job_json(wf_daemon *d, const wf_job_row *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)j->id);
    cJSON_AddNumberToObject(o, "request", (double)j->request_id);
    cJSON *trig = trigger_json(d, j->request_id);
    if (trig != NULL)
        cJSON_AddItemToObject(o, "trigger", trig);
    else
        cJSON_AddNullToObject(o, "trigger");
    cJSON_AddStringToObject(o, "recipe", j->recipe);
    cJSON_AddStringToObject(o, "version", j->version);
    cJSON_AddStringToObject(o, "python", j->python);
    cJSON_AddStringToObject(o, "platform", j->platform);
    cJSON_AddStringToObject(o, "channel", j->channel != NULL ? j->channel : "");
    cJSON_AddStringToObject(o, "state", wf_job_state_name(j->state));
    wf_api_add_str_or_null(o, "worker", j->worker);
    cJSON_AddBoolToObject(o, "emulated", j->emulated);
    cJSON_AddStringToObject(o, "build_key", j->build_key);
    cJSON_AddBoolToObject(o, "forced", j->forced);
    cJSON_AddNumberToObject(o, "attempt_count", j->attempts);
    cJSON_AddNumberToObject(o, "created_at", (double)j->created_at);
    cJSON_AddNumberToObject(o, "started_at", (double)j->started_at);
    cJSON_AddNumberToObject(o, "finished_at", (double)j->finished_at);
    wf_api_add_str_or_null(o, "error", j->error);
    char *why = wait_reason(d, j);
    wf_api_add_str_or_null(o, "wait_reason", why);
    free(why);
    cJSON_AddNumberToObject(o, "infra_failures", j->infra_failures);
    wf_api_add_id_or_null(o, "not_before", j->not_before);
    wf_api_add_str_or_null(o, "avoid_worker", j->avoid_worker);
    wf_api_add_id_or_null(o, "retry_of", j->retry_of);
    cJSON_AddItemToObject(o, "lease", lease_json(d, j));
    wf_api_add_str_or_null(o, "last_log_line", wf__run_last_line(d, j->id));
    wf_artifact_row a = {0};
    if (j->state == WF_JOB_SUCCEEDED &&
        (wf_store_artifact_by_job(d->store, j->id, &a) == 0 ||
         wf_store_artifact_by_key_in(d->store, j->channel, j->build_key, &a) == 0)) {
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
    wf_api_reply(res, 200, o);
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

static void api_build(wf_daemon *d, const wf_http_request *req, wf_http_response *res)
{
    cJSON *body = cJSON_ParseWithLength(req->body, req->body_len);
    const char **specs = NULL, **platforms = NULL, **python = NULL;
    size_t n_specs = 0, n_platforms = 0, n_python = 0;
    wf_plan plan = {NULL, 0};
    char *err = NULL;
    if (!cJSON_IsObject(body)) {
        wf_api_reply_error(res, 400, "the request body is not a JSON object",
                           "send {\"specs\": [\"NAME\" or \"NAME==VERSION\"]}");
        goto done;
    }
    if (string_array(cJSON_GetObjectItemCaseSensitive(body, "specs"), &specs, &n_specs) != 0 ||
        string_array(cJSON_GetObjectItemCaseSensitive(body, "platforms"), &platforms,
                     &n_platforms) != 0 ||
        string_array(cJSON_GetObjectItemCaseSensitive(body, "python"), &python, &n_python) != 0) {
        wf_api_reply_error(res, 400, "specs, platforms and python must be lists of strings",
                           "at most 256 entries each");
        goto done;
    }
    const wf_plan_request pr = {specs, n_specs, platforms, n_platforms, python, n_python};
    if (wf_plan_build(&plan, d->recipes, d->cfg, &pr, &err) != 0) {
        wf_api_reply_error(res, 400, err,
                           "'wheelfarm recipes' lists each recipe with its versions, platforms and "
                           "python tags");
        goto done;
    }
    /* "NAME" of a tracking recipe without versions plans nothing: say what to do instead. */
    for (size_t i = 0; i < n_specs && plan.n == 0; i++) {
        const wf_recipe *r = wf_recipe_list_find(d->recipes, specs[i]);
        if (r != NULL && r->n_versions == 0) {
            char *m = wf_asprintf("recipe '%s' lists no versions; it tracks '%s' upstream", r->name,
                                  r->track != NULL ? r->track : "");
            wf_api_reply_error(
                res, 400, m,
                "build one with NAME==VERSION, or run 'wheelfarm bump NAME' to build "
                "the newest version it tracks");
            free(m);
            goto done;
        }
    }
    if (plan.n > API_MAX_JOBS) {
        wf_api_reply_error(res, 400, "the request expands to too many jobs",
                           "ask for fewer recipes, versions, platforms or python tags at once");
        goto done;
    }
    if (d->state != WF_DAEMON_RUNNING) {
        wf_api_reply_error(res, 503, "the daemon is shutting down", "retry once it has restarted");
        goto done;
    }
    const cJSON *force = cJSON_GetObjectItemCaseSensitive(body, "force");
    if (force != NULL && !cJSON_IsBool(force)) {
        wf_api_reply_error(res, 400, "force must be true or false", NULL);
        goto done;
    }
    /* A person's request: only "cli" or "api" may be claimed over the API; the other trigger
     * kinds are the daemon's own (watch, commit, pr, bump). */
    const char *kind = json_string(body, "trigger", "api");
    if (strcmp(kind, "cli") != 0 && strcmp(kind, "api") != 0) {
        wf_api_reply_error(res, 400, "trigger must be \"cli\" or \"api\"",
                           "the other trigger kinds are recorded by the daemon itself");
        goto done;
    }
    const wf_trigger trigger = {.kind = kind, .user = json_string(body, "user", NULL)};
    wf_submit_result sr = {0, 0, 0};
    cJSON *out = cJSON_CreateObject();
    cJSON *skipped = cJSON_CreateArray();
    if (wf__submit(d, &plan, &trigger, cJSON_IsTrue(force), &sr, skipped) != 0) {
        cJSON_Delete(out);
        cJSON_Delete(skipped);
        wf_api_reply_error(res, 500, "cannot record the request in the state database",
                           "see the daemon's log");
        goto done;
    }
    wf_job_row *rows = NULL;
    size_t n = 0;
    wf_store_jobs_list(d->store, NULL, sr.request_id, API_MAX_JOBS, &rows, &n);
    cJSON_AddNumberToObject(out, "request", (double)sr.request_id);
    cJSON_AddItemToObject(out, "jobs", jobs_array(d, rows, n));
    cJSON_AddItemToObject(out, "skipped", skipped);
    wf_job_rows_free(rows, n);
    wf_api_reply(res, 201, out);
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
    cJSON *trig = trigger_json(d, id);
    if (trig == NULL) {
        wf_api_reply_error(res, 404, "no such request",
                           "'wheelfarm jobs' lists jobs and their requests");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddItemToObject(o, "trigger", trig);
    cJSON_AddNumberToObject(o, "created_at",
                            cJSON_GetNumberValue(cJSON_GetObjectItem(trig, "created_at")));
    wf_job_row *rows = NULL;
    size_t n = 0;
    wf_store_jobs_list(d->store, NULL, id, API_MAX_JOBS, &rows, &n);
    cJSON_AddItemToObject(o, "jobs", jobs_array(d, rows, n));
    wf_job_rows_free(rows, n);
    wf_api_reply(res, 200, o);
}

static void api_jobs(wf_daemon *d, const wf_http_request *req, wf_http_response *res)
{
    char *state = wf_http_request_query(req, "state");
    char *limit_s = wf_http_request_query(req, "limit");
    int64_t limit = 100;
    wf_job_state st;
    if (state != NULL && wf_job_state_parse(state, &st) != 0) {
        wf_api_reply_error(res, 400, "unknown job state",
                           "use one of queued, running, succeeded, failed, cancelled");
        goto done;
    }
    if (limit_s != NULL &&
        (wf_parse_i64(limit_s, strlen(limit_s), &limit) != 0 || limit < 1 || limit > 10000)) {
        wf_api_reply_error(res, 400, "limit must be a number from 1 to 10000",
                           "for example ?limit=50");
        goto done;
    }
    wf_job_row *rows = NULL;
    size_t n = 0;
    if (wf_store_jobs_list(d->store, state, 0, (int)limit, &rows, &n) != 0) {
        wf_api_reply_error(res, 500, "cannot list jobs", "see the daemon's log");
        goto done;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "jobs", jobs_array(d, rows, n));
    wf_job_rows_free(rows, n);
    wf_api_reply(res, 200, o);
done:
    free(state);
    free(limit_s);
}

/* The substitutes the job's build key covers (daemon/substitute.h): an array, or null when the
 * recipe or the config changed since the job was planned (its key no longer says which). */
static cJSON *substitutes_json(wf_daemon *d, const wf_job_row *j)
{
    const wf_recipe *r = wf_recipe_list_find(d->recipes, j->recipe);
    const wf_image_config *img = wf_config_image(d->cfg, j->platform);
    char key[65];
    if (r == NULL || img == NULL)
        return cJSON_CreateNull();
    wf_plan_build_key(r, d->cfg, j->version, j->python, j->platform, img->image, key);
    if (strcmp(key, j->build_key) != 0)
        return cJSON_CreateNull();
    wf_recipe_substitute *v;
    size_t n = wf_substitutes_for_recipe(d->cfg, r, &v);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "source", v[i].source);
        cJSON_AddStringToObject(o, "for", v[i].sub->pinned);
        cJSON_AddStringToObject(o, "use", v[i].sub->use);
        cJSON_AddStringToObject(o, "reason", v[i].sub->reason);
        cJSON_AddStringToObject(o, "declared_at", v[i].sub->where);
        cJSON_AddItemToArray(arr, o);
    }
    free(v);
    return arr;
}

static void api_job(wf_daemon *d, int64_t id, wf_http_response *res)
{
    wf_job_row j = {0};
    if (wf_store_job_get(d->store, id, &j) != 0) {
        wf_api_reply_error(res, 404, "no such job", "'wheelfarm jobs' lists them");
        return;
    }
    cJSON *o = job_json(d, &j);
    cJSON_AddItemToObject(o, "substitutes", substitutes_json(d, &j));
    wf_attempt_row *att = NULL;
    size_t n = 0;
    cJSON *arr = cJSON_AddArrayToObject(o, "attempts");
    if (wf_store_attempts_list(d->store, id, &att, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "n", att[i].n);
            wf_api_add_str_or_null(a, "worker", att[i].worker);
            wf_api_add_str_or_null(a, "state", att[i].state);
            cJSON_AddNumberToObject(a, "started_at", (double)att[i].started_at);
            cJSON_AddNumberToObject(a, "finished_at", (double)att[i].finished_at);
            wf_api_add_str_or_null(a, "error", att[i].error);
            cJSON_AddItemToArray(arr, a);
        }
        wf_attempt_rows_free(att, n);
    }
    wf_job_row_release(&j);
    wf_api_reply(res, 200, o);
}

static void api_log(wf_daemon *d, const wf_http_request *req, int64_t id, wf_http_response *res)
{
    wf_job_row j = {0};
    if (wf_store_job_get(d->store, id, &j) != 0) {
        wf_api_reply_error(res, 404, "no such job", "'wheelfarm jobs' lists them");
        return;
    }
    char *off_s = wf_http_request_query(req, "offset");
    int64_t off = 0;
    if (off_s != NULL && (wf_parse_i64(off_s, strlen(off_s), &off) != 0 || off < 0)) {
        wf_api_reply_error(res, 400, "offset must be a non-negative number",
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
        wf_api_reply_error(res, 404, "no such job", "'wheelfarm jobs' lists them");
        return;
    }
    if (rc != 0) {
        wf_api_reply_error(res, 500, "cannot cancel the job", "see the daemon's log");
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
    wf_job_row j = {0};
    if (wf_store_job_get(d->store, id, &j) == 0)
        wf__pr_job_changed(d, j.channel);
    wf_job_row_release(&j);
    api_job(d, id, res);
}

/* Says why the store refused to retry job j (its key is busy or built) with a 409. */
static void retry_conflict(wf_daemon *d, const wf_job_row *j, wf_http_response *res)
{
    int64_t active = 0;
    wf_artifact_row a = {0};
    char *msg = NULL, *hint = NULL;
    if (wf_store_job_active_for_key(d->store, j->build_key, &active) == 0 && active != 0) {
        msg = wf_asprintf("the build key of job %lld is already queued or running as job %lld",
                          (long long)j->id, (long long)active);
        hint = wf_asprintf("'wheelfarm show %lld' follows it", (long long)active);
    } else if (wf_store_artifact_by_key(d->store, j->build_key, &a) == 0) {
        msg = wf_asprintf("the build key of job %lld already has a wheel: %s (job %lld)",
                          (long long)j->id, a.filename, (long long)a.job_id);
        hint = wf_asprintf("'wheelfarm build %s==%s --platform %s --python %s --force' builds "
                           "it again",
                           j->recipe, j->version, j->platform, j->python);
        wf_artifact_row_release(&a);
    } else {
        msg = wf_asprintf("job %lld cannot be retried now", (long long)j->id);
    }
    wf_api_reply_error(res, 409, msg, hint);
    free(msg);
    free(hint);
}

/* A person's retry: a failed or cancelled job gets a new job for the same build key, even
 * though its key failed (automatic retries never follow a build failure). */
static void api_retry(wf_daemon *d, const wf_http_request *req, int64_t id, wf_http_response *res)
{
    wf_job_row j = {0};
    char *msg = NULL, *hint = NULL;
    cJSON *body = NULL;
    if (wf_store_job_get(d->store, id, &j) != 0) {
        wf_api_reply_error(res, 404, "no such job", "'wheelfarm jobs' lists them");
        return;
    }
    if (req->body_len > 0) {
        body = cJSON_ParseWithLength(req->body, req->body_len);
        if (!cJSON_IsObject(body)) {
            wf_api_reply_error(res, 400, "the request body is not a JSON object",
                               "send {\"user\": \"NAME\"} or nothing");
            goto done;
        }
    }
    if (j.state == WF_JOB_QUEUED || j.state == WF_JOB_RUNNING) {
        msg = wf_asprintf("job %lld is %s; only a failed or cancelled job can be retried",
                          (long long)id, wf_job_state_name(j.state));
        hint = wf_asprintf("wait for it to end ('wheelfarm show %lld'), or cancel it first",
                           (long long)id);
        wf_api_reply_error(res, 409, msg, hint);
        goto done;
    }
    if (j.state == WF_JOB_SUCCEEDED) {
        msg = wf_asprintf("job %lld succeeded; there is nothing to retry", (long long)id);
        hint = wf_asprintf("'wheelfarm build %s==%s --force' rebuilds a published wheel", j.recipe,
                           j.version);
        wf_api_reply_error(res, 409, msg, hint);
        goto done;
    }
    const wf_recipe *recipe = wf_recipe_list_find(d->recipes, j.recipe);
    if (recipe == NULL || !wf__run_key_valid(d, recipe, &j)) {
        msg = wf_asprintf("the recipe '%s' or its builder image changed since job %lld; a retry "
                          "would not build the same thing",
                          j.recipe, (long long)id);
        hint = wf_asprintf("request a new build: 'wheelfarm build %s==%s'", j.recipe, j.version);
        wf_api_reply_error(res, 409, msg, hint);
        goto done;
    }
    if (d->state != WF_DAEMON_RUNNING) {
        wf_api_reply_error(res, 503, "the daemon is shutting down", "retry once it has restarted");
        goto done;
    }
    const char *user = json_string(body, "user", NULL);
    int64_t new_id = 0, request = 0;
    int rc = wf_store_job_retry(d->store, id, user, &new_id, &request);
    if (rc == WF_EEXIST) {
        retry_conflict(d, &j, res);
        goto done;
    }
    if (rc != 0) {
        wf_api_reply_error(res, 500, "cannot record the retry in the state database",
                           "see the daemon's log");
        goto done;
    }
    wf_log_info("job %lld: retried as job %lld (request %lld) by %s", (long long)id,
                (long long)new_id, (long long)request, user ? user : "an unnamed user");
    wf_job_row_release(&j);
    if (wf_store_job_get(d->store, new_id, &j) != 0) {
        wf_api_reply_error(res, 500, "cannot read the new job", "see the daemon's log");
        goto done;
    }
    wf_api_reply(res, 201, job_json(d, &j));
    wf__sched_kick(d);
done:
    free(msg);
    free(hint);
    cJSON_Delete(body);
    wf_job_row_release(&j);
}

static cJSON *string_list(char *const *v, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
    return arr;
}

/* [{file, line, column, message, text}]: line and column are null when unknown; text is
 * "file:line:column: message". */
static void add_diags(cJSON *o, const char *key, const wf_diag_list *diags)
{
    cJSON *arr = cJSON_AddArrayToObject(o, key);
    for (size_t i = 0; i < diags->n; i++) {
        const wf_diag *g = &diags->items[i];
        cJSON *e = cJSON_CreateObject();
        wf_api_add_str_or_null(e, "file", g->file);
        if (g->line > 0)
            cJSON_AddNumberToObject(e, "line", g->line);
        else
            cJSON_AddNullToObject(e, "line");
        if (g->column > 0)
            cJSON_AddNumberToObject(e, "column", g->column);
        else
            cJSON_AddNullToObject(e, "column");
        wf_api_add_str_or_null(e, "message", g->message);
        char *text = wf_diag_format(g);
        cJSON_AddStringToObject(e, "text", text);
        free(text);
        cJSON_AddItemToArray(arr, e);
    }
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
        if (r->track != NULL) {
            cJSON *t = cJSON_AddObjectToObject(j, "track");
            cJSON_AddStringToObject(t, "specifier", r->track);
            cJSON_AddNumberToObject(t, "min_age", (double)r->min_age_s);
            if (r->prereleases < 0)
                cJSON_AddNullToObject(t, "prereleases");
            else
                cJSON_AddBoolToObject(t, "prereleases", r->prereleases);
        } else {
            cJSON_AddNullToObject(j, "track");
        }
        cJSON *nat = cJSON_AddArrayToObject(j, "native");
        for (size_t k = 0; k < r->n_native; k++)
            cJSON_AddItemToArray(nat, cJSON_CreateString(r->native[k].name));
        wf_api_add_str_or_null(j, "file", r->file);
        cJSON_AddNumberToObject(j, "line", r->line);
        cJSON_AddItemToArray(arr, j);
    }
    add_diags(o, "errors", &d->recipe_diags);
    add_diags(o, "warnings", &d->recipe_warnings);
    wf_api_add_str_or_null(o, "source", d->recipes_source);
    cJSON_AddNumberToObject(o, "loaded_at", (double)d->recipes_loaded_at);
    if (d->recipe_repo != NULL) {
        cJSON_AddItemToObject(o, "repository", wf__recipe_repo_json(d->recipe_repo));
        wf__recipe_repo_errors(d->recipe_repo, cJSON_GetObjectItemCaseSensitive(o, "errors"));
    }
    wf_api_reply(res, 200, o);
}

static void api_prs(wf_daemon *d, wf_http_response *res)
{
    wf_pr_row *rows = NULL;
    size_t n = 0;
    if (wf_store_prs_list(d->store, NULL, &rows, &n) != 0) {
        wf_api_reply_error(res, 500, "cannot list pull requests", "see the daemon's log");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "prs");
    for (size_t i = n; i-- > 0;) { /* newest number first */
        cJSON *p = wf__pr_json(d, rows[i].number);
        if (p != NULL)
            cJSON_AddItemToArray(arr, p);
    }
    wf_pr_rows_free(rows, n);
    wf_api_reply(res, 200, o);
}

static void api_pr(wf_daemon *d, int64_t number, wf_http_response *res)
{
    cJSON *p = wf__pr_json(d, number);
    if (p == NULL) {
        wf_api_reply_error(res, 404, "no such pull request",
                           "pull requests appear once a webhook or a poll reported them");
        return;
    }
    wf_api_reply(res, 200, p);
}

/* A known path asked with the wrong method is 405, not 404. */
static int known_path(const wf_http_request *req)
{
    static const char *const paths[] = {"/api/v1/status", "/api/v1/builds", "/api/v1/jobs",
                                        "/api/v1/recipes", "/api/v1/prs"};
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
    if (wf__api_workers(d, req, res))
        return;
    if (is(req, "GET", "/api/v1/status"))
        api_status(d, res);
    else if (is(req, "POST", "/api/v1/builds"))
        api_build(d, req, res);
    else if (is(req, "GET", "/api/v1/jobs"))
        api_jobs(d, req, res);
    else if (is(req, "GET", "/api/v1/recipes"))
        api_recipes(d, res);
    else if (is(req, "POST", "/api/v1/sources"))
        wf__api_sources_add(d, req, res);
    else if (wf__api_bump(d, req, res))
        ; /* answered there */
    else if (is(req, "GET", "/api/v1/prs"))
        api_prs(d, res);
    else if (wf_api_method_is(req, "GET") && path_id(req, "/api/v1/prs/", &id, &rest, &rest_len) &&
             rest_len == 0)
        api_pr(d, id, res);
    else if (wf_api_method_is(req, "GET") &&
             path_id(req, "/api/v1/requests/", &id, &rest, &rest_len) && rest_len == 0)
        api_request(d, id, res);
    else if (path_id(req, "/api/v1/jobs/", &id, &rest, &rest_len)) {
        if (wf_api_method_is(req, "GET") && rest_len == 0)
            api_job(d, id, res);
        else if (wf_api_method_is(req, "GET") && rest_len == 4 && memcmp(rest, "/log", 4) == 0)
            api_log(d, req, id, res);
        else if (wf_api_method_is(req, "POST") && rest_len == 7 && memcmp(rest, "/cancel", 7) == 0)
            api_cancel(d, id, res);
        else if (wf_api_method_is(req, "POST") && rest_len == 6 && memcmp(rest, "/retry", 6) == 0)
            api_retry(d, req, id, res);
        else
            wf_api_reply_error(res, 404, "no such endpoint", "see docs/API.md");
    } else if (known_path(req))
        wf_api_reply_error(res, 405, "method not allowed on this path", "see docs/API.md");
    else
        wf_api_reply_error(res, 404, "no such endpoint", "see docs/API.md");
}
