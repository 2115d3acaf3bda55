/* api_workers.c - the worker endpoints of the JSON API (docs/API.md): the table with health and
 * drain state, one worker, and a person's drain / undrain. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/api_json.h"
#include "daemon/internal.h"
#include "lib/log.h"

#define PREFIX "/api/v1/workers"

static cJSON *strings(char *const *v, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]));
    return arr;
}

static cJSON *worker_json(const wf_worker *w)
{
    const wf_worker_config *c = w->cfg;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", c->name);
    cJSON_AddStringToObject(j, "driver", c->driver);
    wf_api_add_str_or_null(j, "endpoint", c->endpoint);
    wf_api_add_str_or_null(j, "context", c->context);
    wf_api_add_str_or_null(j, "builder", c->builder);
    cJSON_AddItemToObject(j, "platforms", strings(c->platforms, c->n_platforms));
    cJSON_AddNumberToObject(j, "slots", c->slots);
    cJSON_AddNumberToObject(j, "busy", w->busy);
    cJSON_AddBoolToObject(j, "emulated", c->emulated);
    cJSON_AddItemToObject(j, "labels", strings(c->labels, c->n_labels));
    cJSON_AddStringToObject(j, "state", wf__worker_state(w));
    cJSON_AddStringToObject(j, "health", wf_health_state_name(w->health.state));
    char *why = wf__worker_reason(w);
    wf_api_add_str_or_null(j, "reason", why);
    free(why);
    cJSON_AddNumberToObject(j, "since", (double)wf__worker_since(w));
    cJSON_AddNumberToObject(j, "last_probe", (double)w->last_probe);
    cJSON_AddBoolToObject(j, "drained", w->drained);
    wf_api_add_str_or_null(j, "engine", w->engine);
    return j;
}

static void api_list(wf_daemon *d, wf_http_response *res)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "workers");
    for (size_t i = 0; i < d->n_workers; i++)
        cJSON_AddItemToArray(arr, worker_json(d->workers[i]));
    wf_api_reply(res, 200, o);
}

/* 404 for an unknown name, with the names there are. */
static void unknown_worker(wf_daemon *d, const char *name, wf_http_response *res)
{
    wf_buf hint = WF_BUF_INIT;
    if (d->n_workers == 0) {
        wf_buf_adds(&hint, "no worker is configured; add one under 'workers' in the config and "
                           "send the daemon SIGHUP");
    } else {
        wf_buf_adds(&hint, "'wheelfarm workers' lists them:");
        for (size_t i = 0; i < d->n_workers; i++)
            wf_buf_addf(&hint, "%s %s", i ? "," : "", d->workers[i]->cfg->name);
    }
    char *msg = wf_asprintf("no worker named '%s'", name);
    wf_api_reply_error(res, 404, msg, hint.ptr);
    free(msg);
    wf_buf_release(&hint);
}

static void api_drain(wf_daemon *d, wf_worker *w, int drained, wf_http_response *res)
{
    if (wf__worker_set_drained(d, w, drained) != 0) {
        wf_api_reply_error(res, 500, "cannot record the drain flag in the state database",
                           "see the daemon's log");
        return;
    }
    wf_api_reply(res, 200, worker_json(w));
}

int wf__api_workers(wf_daemon *d, const wf_http_request *req, wf_http_response *res)
{
    size_t pl = strlen(PREFIX);
    if (req->path_len < pl || memcmp(req->path, PREFIX, pl) != 0 ||
        (req->path_len > pl && req->path[pl] != '/'))
        return 0;
    if (req->path_len == pl) {
        if (wf_api_method_is(req, "GET"))
            api_list(d, res);
        else
            wf_api_reply_error(res, 405, "method not allowed on this path", "see docs/API.md");
        return 1;
    }
    /* /api/v1/workers/NAME[/drain|/undrain] */
    const char *name = req->path + pl + 1, *end = req->path + req->path_len;
    const char *slash = memchr(name, '/', (size_t)(end - name));
    size_t name_len = (size_t)((slash != NULL ? slash : end) - name);
    const char *action = slash != NULL ? slash + 1 : NULL;
    size_t action_len = slash != NULL ? (size_t)(end - action) : 0;
    int drain = action != NULL && action_len == 5 && memcmp(action, "drain", 5) == 0;
    int undrain = action != NULL && action_len == 7 && memcmp(action, "undrain", 7) == 0;
    if (name_len == 0 || (action != NULL && !drain && !undrain)) {
        wf_api_reply_error(res, 404, "no such endpoint", "see docs/API.md");
        return 1;
    }
    if ((action == NULL && !wf_api_method_is(req, "GET")) ||
        (action != NULL && !wf_api_method_is(req, "POST"))) {
        wf_api_reply_error(res, 405, "method not allowed on this path", "see docs/API.md");
        return 1;
    }
    char *n = wf_strndup(name, name_len);
    wf_worker *w = wf__worker_find(d, n);
    if (w == NULL)
        unknown_worker(d, n, res);
    else if (action == NULL)
        wf_api_reply(res, 200, worker_json(w));
    else
        api_drain(d, w, drain, res);
    free(n);
    return 1;
}
