/* cmd_jobs.c - `wheelfarm jobs`, `show`, `logs`, `cancel` and `retry`: looking at, stopping and
 * restarting jobs. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/render.h"

int wf_cli_cmd_jobs(wf_cli_client *c, const wf_cli_args *a)
{
    cJSON *root = NULL;
    /* The state was checked against the fixed list of states, so it needs no escaping. */
    char *path = a->state != NULL ? wf_asprintf("/api/v1/jobs?state=%s", a->state)
                                  : wf_strdup("/api/v1/jobs");
    int code = wf_cli_api_call(c, "GET", path, NULL, &root);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    if (a->json) {
        wf_cli_api_print_json(root);
    } else {
        char *table =
            wf_cli_render_jobs(cJSON_GetObjectItemCaseSensitive(root, "jobs"), wf_time_s());
        fputs(table, stdout);
        free(table);
    }
out:
    cJSON_Delete(root);
    free(path);
    return code;
}

int wf_cli_cmd_show(wf_cli_client *c, const wf_cli_args *a)
{
    cJSON *job = NULL;
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/jobs/%" PRId64, a->job_id);
    int code = wf_cli_api_call(c, "GET", path, NULL, &job);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    if (a->json) {
        wf_cli_api_print_json(job);
    } else {
        char *text = wf_cli_render_job(job, wf_time_s());
        fputs(text, stdout);
        free(text);
    }
out:
    cJSON_Delete(job);
    return code;
}

static bool state_active(const char *state)
{
    return strcmp(state, "queued") == 0 || strcmp(state, "running") == 0;
}

/* Prints the log from offset on, and with -f keeps polling while the job is queued or running.
 * The daemon says the job's state in a header of every answer; an answer that says the job has
 * finished carries the rest of the log, so that is the last request. */
int wf_cli_cmd_logs(wf_cli_client *c, const wf_cli_args *a)
{
    int64_t offset = 0;
    int code = WF_CLI_EXIT_OK;
    for (;;) {
        wf_cli_response resp = WF_CLI_RESPONSE_INIT;
        char path[96];
        snprintf(path, sizeof(path), "/api/v1/jobs/%" PRId64 "/log?offset=%" PRId64, a->job_id,
                 offset);
        int rc = wf_cli_client_request(c, "GET", path, NULL, stdout, &resp);
        if (rc != 0 || resp.status < 200 || resp.status > 299) {
            code = wf_cli_api_fail(c, rc, &resp);
            wf_cli_response_release(&resp);
            break;
        }
        fflush(stdout);
        offset += (int64_t)resp.received;
        char state[sizeof(resp.job_state)];
        memcpy(state, resp.job_state, sizeof(state));
        size_t received = resp.received;
        wf_cli_response_release(&resp);
        if (!a->follow)
            break;
        if (state[0] == '\0' || !state_active(state)) {
            /* A build that did not succeed makes `logs -f` fail, like `build --follow`. */
            if (strcmp(state, "failed") == 0 || strcmp(state, "cancelled") == 0)
                code = WF_CLI_EXIT_FAILED;
            break;
        }
        if (received == 0)
            sleep(1);
    }
    return code;
}

int wf_cli_cmd_cancel(wf_cli_client *c, const wf_cli_args *a)
{
    cJSON *job = NULL;
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/jobs/%" PRId64 "/cancel", a->job_id);
    int code = wf_cli_api_call(c, "POST", path, NULL, &job);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(job, "state");
    const char *s = cJSON_IsString(state) ? state->valuestring : "unknown";
    if (strcmp(s, "cancelled") == 0)
        printf("job %" PRId64 " cancelled\n", a->job_id);
    else
        printf("job %" PRId64 " is %s; nothing to cancel\n", a->job_id, s);
out:
    cJSON_Delete(job);
    return code;
}

int wf_cli_cmd_retry(wf_cli_client *c, const wf_cli_args *a)
{
    cJSON *job = NULL;
    char path[64];
    snprintf(path, sizeof(path), "/api/v1/jobs/%" PRId64 "/retry", a->job_id);
    cJSON *body = cJSON_CreateObject();
    char *text = NULL;
    if (body != NULL && cJSON_AddStringToObject(body, "user", wf_cli_api_user()) != NULL)
        text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (text == NULL) {
        fprintf(stderr, "wheelfarm: out of memory\n");
        return WF_CLI_EXIT_FAILED;
    }
    int code = wf_cli_api_call(c, "POST", path, text, &job);
    cJSON_free(text);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    if (a->json) {
        wf_cli_api_print_json(job);
    } else {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(job, "id");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(job, "request");
        printf("job %" PRId64 " retried as job %.0f (request %.0f)\n", a->job_id,
               cJSON_IsNumber(id) ? id->valuedouble : 0.0,
               cJSON_IsNumber(req) ? req->valuedouble : 0.0);
    }
out:
    cJSON_Delete(job);
    return code;
}
