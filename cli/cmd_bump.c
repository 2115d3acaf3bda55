/* cmd_bump.c - `wheelfarm bump [--dry-run] [RECIPE...]`: run a version bump and show why. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/render.h"

/* How often a running bump is polled, and how long the CLI waits for one to finish (a run
 * fetches one page per tracking recipe, each bounded by the daemon's transfer timeouts). */
#define BUMP_POLL_MS 250
#define BUMP_WAIT_S (30 * 60)
/* How many times a request that finds another run in progress waits for it and retries. */
#define BUMP_RETRIES 5

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *state_of(const cJSON *run)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(run, "state");
    return cJSON_IsString(s) ? s->valuestring : "?";
}

/* Polls run `id` until it is no longer running; *out is its final object. */
static int wait_run(wf_cli_client *c, long long id, cJSON **out)
{
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/bump/runs/%lld", id);
    for (long waited = 0;; waited += BUMP_POLL_MS) {
        cJSON *run = NULL;
        /* A daemon restarting under us is waited for, like `build --wait` does. */
        int code = wf_cli_api_get_patient(c, path, 30, &run);
        if (code != WF_CLI_EXIT_OK)
            return code;
        if (strcmp(state_of(run), "running") != 0) {
            *out = run;
            return WF_CLI_EXIT_OK;
        }
        cJSON_Delete(run);
        if (waited >= BUMP_WAIT_S * 1000L) {
            fprintf(stderr,
                    "wheelfarm: bump run %lld is still running after %d minutes; see "
                    "'GET /api/v1/bump/runs/%lld' later\n",
                    id, BUMP_WAIT_S / 60, id);
            return WF_CLI_EXIT_FAILED;
        }
        sleep_ms(BUMP_POLL_MS);
    }
}

/* A number field of a JSON body, or 0. */
static long long body_id(const wf_cli_response *resp, const char *key)
{
    cJSON *root = cJSON_ParseWithLength(resp->body.ptr ? resp->body.ptr : "", resp->body.len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    long long id = cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
    cJSON_Delete(root);
    return id;
}

/* POSTs the request; on 409 (another run in progress) waits for that run and tries again.
 * *id_out is the new run. */
static int start_run(wf_cli_client *c, const char *body, long long *id_out)
{
    for (int attempt = 0;; attempt++) {
        wf_cli_response resp = WF_CLI_RESPONSE_INIT;
        int rc = wf_cli_client_request(c, "POST", "/api/v1/bump", body, NULL, &resp);
        int code = WF_CLI_EXIT_OK;
        long long id = rc == 0 && resp.status == 202 ? body_id(&resp, "id") : 0;
        long long busy = rc == 0 && resp.status == 409 ? body_id(&resp, "run") : 0;
        if (id > 0) {
            *id_out = id;
        } else if (busy > 0 && attempt < BUMP_RETRIES) {
            cJSON *done = NULL;
            fprintf(stderr, "wheelfarm: bump run %lld is in progress; waiting for it\n", busy);
            code = wait_run(c, busy, &done);
            cJSON_Delete(done);
        } else if (rc == 0 && resp.status == 202) {
            fprintf(stderr, "wheelfarm: the daemon's answer names no bump run\n");
            code = WF_CLI_EXIT_FAILED;
        } else {
            code = wf_cli_api_fail(c, rc, &resp);
        }
        wf_cli_response_release(&resp);
        if (id > 0 || code != WF_CLI_EXIT_OK || busy == 0)
            return code;
    }
}

int wf_cli_cmd_bump(wf_cli_client *c, const wf_cli_args *a)
{
    cJSON *req = cJSON_CreateObject();
    cJSON_AddBoolToObject(req, "dry_run", a->dry_run);
    cJSON *names = cJSON_AddArrayToObject(req, "recipes");
    for (size_t i = 0; i < a->n_positional; i++)
        cJSON_AddItemToArray(names, cJSON_CreateString(a->positional[i]));
    char *body = cJSON_PrintUnformatted(req);
    cJSON *run = NULL;
    long long id = 0;
    int code = start_run(c, body, &id);
    if (code == WF_CLI_EXIT_OK)
        code = wait_run(c, id, &run);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    if (a->json) {
        wf_cli_api_print_json(run);
    } else {
        char *text = wf_cli_render_bump(run, (int64_t)time(NULL));
        fputs(text, stdout);
        free(text);
    }
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(run, "errors");
    if (strcmp(state_of(run), "finished") != 0) {
        fprintf(stderr, "wheelfarm: bump run %lld ended %s (the daemon stopped during it)\n", id,
                state_of(run));
        code = WF_CLI_EXIT_FAILED;
    } else if (cJSON_IsNumber(errors) && errors->valuedouble > 0) {
        code = WF_CLI_EXIT_FAILED;
    }
out:
    cJSON_Delete(run);
    cJSON_free(body);
    cJSON_Delete(req);
    return code;
}
