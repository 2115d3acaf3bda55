/* api_bump.c - POST /api/v1/bump, GET /api/v1/bump, GET /api/v1/bump/runs/ID. */
#include "daemon/api_bump.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api_json.h"
#include "daemon/bump.h"

/* Names one request may list, like the specs of a build request. */
#define API_BUMP_MAX_RECIPES 256
/* Runs GET /api/v1/bump lists. */
#define API_BUMP_RECENT_RUNS 20

static int path_is(const wf_http_request *req, const char *path)
{
    return req->path_len == strlen(path) && memcmp(req->path, path, req->path_len) == 0;
}

/* A run as the API shows it: its stored report when it finished, else its row. */
static cJSON *run_json(const wf_bump_run_row *r, int brief)
{
    cJSON *o = NULL;
    if (!brief && r->report != NULL && (o = cJSON_Parse(r->report)) != NULL)
        return o;
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    cJSON_AddStringToObject(o, "kind", r->kind);
    cJSON_AddBoolToObject(o, "dry_run", r->dry_run);
    cJSON_AddStringToObject(o, "state", r->state);
    cJSON_AddNumberToObject(o, "started_at", (double)r->started_at);
    if (r->finished_at > 0)
        cJSON_AddNumberToObject(o, "finished_at", (double)r->finished_at);
    else
        cJSON_AddNullToObject(o, "finished_at");
    cJSON_AddNumberToObject(o, "queued", (double)r->queued);
    return o;
}

static void bump_status(wf_daemon *d, wf_http_response *res)
{
    wf_bump_run_row *rows = NULL;
    size_t n = 0;
    if (wf_store_bump_runs_list(d->store, API_BUMP_RECENT_RUNS, &rows, &n) != 0) {
        wf_api_reply_error(res, 500, "cannot list bump runs", "see the daemon's log");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (d->cfg->bump_schedule[0] != '\0')
        cJSON_AddStringToObject(o, "schedule", d->cfg->bump_schedule);
    else
        cJSON_AddNullToObject(o, "schedule");
    cJSON_AddStringToObject(o, "timezone", "UTC");
    wf_api_add_id_or_null(o, "next_run", wf__bump_next(d));
    cJSON_AddNumberToObject(o, "max_builds", d->cfg->bump_max_builds);
    wf_api_add_id_or_null(o, "running", wf__bump_running(d));
    cJSON *arr = cJSON_AddArrayToObject(o, "runs");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, run_json(&rows[i], 1));
    wf_bump_run_rows_free(rows, n);
    wf_api_reply(res, 200, o);
}

static void bump_run_get(wf_daemon *d, int64_t id, wf_http_response *res)
{
    wf_bump_run_row r = {0};
    int rc = wf_store_bump_run_get(d->store, id, &r);
    if (rc == WF_ENOTFOUND) {
        wf_api_reply_error(res, 404, "no such bump run", "GET /api/v1/bump lists the recent runs");
        return;
    }
    if (rc != 0) {
        wf_api_reply_error(res, 500, "cannot read the bump run", "see the daemon's log");
        return;
    }
    wf_api_reply(res, 200, run_json(&r, 0));
    wf_bump_run_row_release(&r);
}

/* Reads {"dry_run": bool, "recipes": [names]}; both optional. 0, or -1 with *why set. */
static int read_body(const cJSON *body, wf_bump_options *o, const char ***names, const char **why)
{
    const cJSON *dry = cJSON_GetObjectItemCaseSensitive(body, "dry_run");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "recipes");
    const cJSON *it;
    if (dry != NULL && !cJSON_IsBool(dry) && !cJSON_IsNull(dry)) {
        *why = "dry_run must be true or false";
        return -1;
    }
    o->dry_run = cJSON_IsTrue(dry);
    if (list == NULL || cJSON_IsNull(list))
        return 0;
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > API_BUMP_MAX_RECIPES) {
        *why = "recipes must be a list of at most 256 recipe names";
        return -1;
    }
    *names = wf_calloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(char *));
    cJSON_ArrayForEach(it, list)
    {
        if (!cJSON_IsString(it)) {
            *why = "recipes must be a list of recipe names (strings)";
            return -1;
        }
        (*names)[o->n_recipes++] = it->valuestring;
    }
    o->recipes = *names;
    return 0;
}

static void bump_post(wf_daemon *d, const wf_http_request *req, wf_http_response *res)
{
    cJSON *body =
        req->body_len > 0 ? cJSON_ParseWithLength(req->body, req->body_len) : cJSON_CreateObject();
    wf_bump_options o = {0, NULL, 0};
    const char **names = NULL;
    const char *why = NULL;
    char *err = NULL;
    int64_t id = 0;
    if (!cJSON_IsObject(body)) {
        wf_api_reply_error(res, 400, "the request body is not a JSON object",
                           "send {\"dry_run\": true, \"recipes\": [\"NAME\"]} (both optional)");
        goto done;
    }
    if (read_body(body, &o, &names, &why) != 0) {
        wf_api_reply_error(res, 400, why, "send {\"dry_run\": true, \"recipes\": [\"NAME\"]}");
        goto done;
    }
    int rc = wf__bump_start(d, &o, &id, &err);
    if (rc == WF_EEXIST) {
        cJSON *e = cJSON_CreateObject();
        char *msg = wf_asprintf("bump run %lld is in progress", (long long)id);
        cJSON_AddStringToObject(e, "error", msg);
        cJSON_AddStringToObject(e, "hint", "wait for it (GET /api/v1/bump/runs/ID), then retry");
        cJSON_AddNumberToObject(e, "run", (double)id);
        free(msg);
        wf_api_reply(res, 409, e);
    } else if (rc == WF_EINVAL) {
        wf_api_reply_error(res, 400, err,
                           "'wheelfarm recipes' lists the recipes; tracking ones have "
                           "a track");
    } else if (rc == WF_ECANCELED) {
        wf_api_reply_error(res, 503, "the daemon is shutting down", "retry once it has restarted");
    } else if (rc != 0) {
        wf_api_reply_error(res, 500, "cannot start a bump run", "see the daemon's log");
    } else {
        wf_bump_run_row r = {0};
        if (wf_store_bump_run_get(d->store, id, &r) == 0) {
            wf_api_reply(res, 202, run_json(&r, 0));
            wf_bump_run_row_release(&r);
        } else {
            wf_api_reply_error(res, 500, "cannot read the bump run", "see the daemon's log");
        }
    }
done:
    free(err);
    free(names);
    cJSON_Delete(body);
}

int wf__api_bump(wf_daemon *d, const wf_http_request *req, wf_http_response *res)
{
    static const char runs[] = "/api/v1/bump/runs/";
    if (path_is(req, "/api/v1/bump")) {
        if (wf_api_method_is(req, "POST"))
            bump_post(d, req, res);
        else if (wf_api_method_is(req, "GET"))
            bump_status(d, res);
        else
            wf_api_reply_error(res, 405, "method not allowed on this path", "see docs/API.md");
        return 1;
    }
    size_t pl = sizeof(runs) - 1;
    if (req->path_len <= pl || memcmp(req->path, runs, pl) != 0)
        return 0;
    int64_t id = 0;
    if (wf_parse_i64(req->path + pl, req->path_len - pl, &id) != 0 || id <= 0)
        return 0;
    if (!wf_api_method_is(req, "GET")) {
        wf_api_reply_error(res, 405, "method not allowed on this path", "see docs/API.md");
        return 1;
    }
    bump_run_get(d, id, res);
    return 1;
}
