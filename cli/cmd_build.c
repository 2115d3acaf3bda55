/* cmd_build.c - `wheelfarm build`: requests builds, then optionally waits for and follows them. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/render.h"

#define POLL_PATIENCE_S 30 /* how long a waiting client tolerates an unreachable daemon */

/* The last state shown for a job, to print plain lines only on a change. */
struct shown {
    int64_t id;
    char state[16];
};

struct follow {
    bool live;    /* redraw lines in place (a terminal) instead of printing changes */
    size_t drawn; /* lines the last redraw printed */
    struct shown *shown;
    size_t n_shown;
};

static cJSON *string_array(const char **v, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (!cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]))) {
            cJSON_Delete(arr);
            arr = NULL;
        }
    }
    return arr;
}

/* The POST /api/v1/builds body, or NULL when out of memory. Caller frees with cJSON_free. */
static char *build_body(const wf_cli_args *a)
{
    char *text = NULL;
    cJSON *body = cJSON_CreateObject();
    if (body == NULL ||
        !cJSON_AddItemToObject(body, "specs", string_array(a->positional, a->n_positional)) ||
        !cJSON_AddItemToObject(body, "platforms", string_array(a->platforms, a->n_platforms)) ||
        !cJSON_AddItemToObject(body, "python", string_array(a->python, a->n_python)) ||
        cJSON_AddBoolToObject(body, "force", a->force) == NULL ||
        cJSON_AddStringToObject(body, "trigger", "cli") == NULL ||
        cJSON_AddStringToObject(body, "user", wf_cli_api_user()) == NULL)
        goto out;
    text = cJSON_PrintUnformatted(body);
out:
    cJSON_Delete(body);
    return text;
}

static bool is_finished(const char *state)
{
    return state != NULL && (strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
                             strcmp(state, "cancelled") == 0);
}

static const char *job_state(const cJSON *job)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(job, "state");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static bool all_finished(const cJSON *jobs)
{
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        if (!is_finished(job_state(j)))
            return false;
    }
    return true;
}

static size_t term_width(void)
{
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Redraws one line per job over the lines drawn last time. Lines stay one column short of the
 * terminal width so none wraps, which would break moving the cursor back up. */
static void draw_live(struct follow *f, const cJSON *jobs, int64_t now)
{
    size_t width = term_width(), pad = 0, n = 0;
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        char *head = wf_cli_render_job_head(j);
        size_t w = wf_cli_render_width(head);
        pad = w > pad ? w : pad;
        free(head);
    }
    if (f->drawn > 0)
        printf("\x1b[%zuA", f->drawn);
    cJSON_ArrayForEach(j, jobs)
    {
        char *line = wf_cli_render_live_line(j, now, pad, width > 1 ? width - 1 : 1);
        printf("\r\x1b[2K%s\n", line);
        free(line);
        n++;
    }
    f->drawn = n;
    fflush(stdout);
}

static struct shown *find_shown(struct follow *f, int64_t id)
{
    for (size_t i = 0; i < f->n_shown; i++)
        if (f->shown[i].id == id)
            return &f->shown[i];
    f->shown = wf_realloc(f->shown, (f->n_shown + 1) * sizeof(*f->shown));
    f->shown[f->n_shown] = (struct shown){id, ""};
    return &f->shown[f->n_shown++];
}

/* Prints a plain line for each job whose state changed since the last call. */
static void print_changes(struct follow *f, const cJSON *jobs, int64_t now)
{
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
        const char *state = job_state(j);
        struct shown *s = find_shown(f, cJSON_IsNumber(id) ? (int64_t)id->valuedouble : 0);
        if (state == NULL || strcmp(s->state, state) == 0)
            continue;
        snprintf(s->state, sizeof(s->state), "%s", state);
        char *line = wf_cli_render_state_line(j, now);
        printf("%s\n", line);
        free(line);
    }
    fflush(stdout);
}

static void print_states(const cJSON *jobs, int64_t now)
{
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        char *line = wf_cli_render_state_line(j, now);
        printf("%s\n", line);
        free(line);
    }
}

/* Prints the outcome (unless quiet) and returns the exit code: 1 if any job did not succeed. */
static int summarize(const cJSON *jobs, bool quiet)
{
    size_t ok = 0, failed = 0, cancelled = 0;
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        const char *state = job_state(j);
        if (state != NULL && strcmp(state, "succeeded") == 0)
            ok++;
        else if (state != NULL && strcmp(state, "cancelled") == 0)
            cancelled++;
        else
            failed++;
    }
    if (!quiet) {
        printf("%zu succeeded, %zu failed, %zu cancelled\n", ok, failed, cancelled);
        cJSON_ArrayForEach(j, jobs)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
            const char *state = job_state(j);
            if (cJSON_IsNumber(id) && state != NULL && strcmp(state, "failed") == 0)
                printf("job %" PRId64 " failed; its log: wheelfarm logs %" PRId64 "\n",
                       (int64_t)id->valuedouble, (int64_t)id->valuedouble);
        }
    }
    return failed + cancelled > 0 ? WF_CLI_EXIT_FAILED : WF_CLI_EXIT_OK;
}

/* Fetches the request's jobs (request 0: none) and each job in `adopted` (queued or running
 * for another request: the builds this one was skipped for) into one object
 * {"id", ..., "jobs": [...]}. */
static int fetch_jobs(wf_cli_client *c, int64_t request, const int64_t *adopted, size_t n_adopted,
                      cJSON **out)
{
    char path[64];
    cJSON *req = NULL;
    int code = WF_CLI_EXIT_OK;
    if (request > 0) {
        snprintf(path, sizeof(path), "/api/v1/requests/%" PRId64, request);
        code = wf_cli_api_get_patient(c, path, POLL_PATIENCE_S, &req);
        if (code != WF_CLI_EXIT_OK)
            return code;
    } else {
        req = cJSON_CreateObject();
    }
    cJSON *jobs = cJSON_GetObjectItemCaseSensitive(req, "jobs");
    if (!cJSON_IsArray(jobs))
        jobs = cJSON_AddArrayToObject(req, "jobs");
    for (size_t i = 0; i < n_adopted; i++) {
        cJSON *job = NULL;
        snprintf(path, sizeof(path), "/api/v1/jobs/%" PRId64, adopted[i]);
        code = wf_cli_api_get_patient(c, path, POLL_PATIENCE_S, &job);
        if (code != WF_CLI_EXIT_OK) {
            cJSON_Delete(req);
            return code;
        }
        cJSON_AddItemToArray(jobs, job);
    }
    *out = req;
    return WF_CLI_EXIT_OK;
}

/* Polls once a second until the request's jobs and the adopted ones (see fetch_jobs) have all
 * finished, showing progress as asked. On success sets *out to the last answer (caller
 * deletes). */
static int wait_request(wf_cli_client *c, const wf_cli_args *a, int64_t request,
                        const int64_t *adopted, size_t n_adopted, cJSON **out)
{
    struct follow f = {.live = isatty(STDOUT_FILENO) == 1};
    cJSON *req = NULL;
    int code;
    for (;;) {
        code = fetch_jobs(c, request, adopted, n_adopted, &req);
        if (code != WF_CLI_EXIT_OK)
            goto out;
        const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(req, "jobs");
        if (a->follow && !a->json && f.live)
            draw_live(&f, jobs, wf_time_s());
        else if (a->follow && !a->json)
            print_changes(&f, jobs, wf_time_s());
        if (all_finished(jobs))
            break;
        cJSON_Delete(req);
        req = NULL;
        sleep(1);
    }
    *out = req;
    req = NULL;
out:
    cJSON_Delete(req);
    free(f.shown);
    return code;
}

/* The jobs a request was skipped for because they were already queued or running: --wait
 * waits for those too, so "build X --wait" returns once X is built, whoever queued it. */
static size_t adopted_jobs(const cJSON *skipped, int64_t **out)
{
    const cJSON *s;
    size_t n = 0;
    *out = NULL;
    cJSON_ArrayForEach(s, skipped)
    {
        const cJSON *job = cJSON_GetObjectItemCaseSensitive(s, "job");
        if (!cJSON_IsNumber(job))
            continue;
        *out = wf_realloc(*out, (n + 1) * sizeof(**out));
        (*out)[n++] = (int64_t)job->valuedouble;
    }
    return n;
}

static void print_created(const cJSON *root)
{
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(root, "jobs");
    const cJSON *request = cJSON_GetObjectItemCaseSensitive(root, "request");
    char *skipped = wf_cli_render_skipped(cJSON_GetObjectItemCaseSensitive(root, "skipped"));
    if (cJSON_GetArraySize(jobs) > 0) {
        char *table = wf_cli_render_created(jobs);
        printf("request %" PRId64 ": %d job%s\n%s",
               cJSON_IsNumber(request) ? (int64_t)request->valuedouble : 0,
               cJSON_GetArraySize(jobs), cJSON_GetArraySize(jobs) == 1 ? "" : "s", table);
        free(table);
    }
    fputs(skipped, stdout);
    if (cJSON_GetArraySize(jobs) == 0)
        printf("nothing to build\n");
    free(skipped);
    fflush(stdout);
}

int wf_cli_cmd_build(wf_cli_client *c, const wf_cli_args *a)
{
    cJSON *root = NULL, *final = NULL;
    int64_t *adopted = NULL;
    size_t n_adopted = 0;
    char *body = build_body(a);
    int code = WF_CLI_EXIT_FAILED;
    if (body == NULL) {
        fprintf(stderr, "wheelfarm: out of memory building the request\n");
        goto out;
    }
    code = wf_cli_api_call(c, "POST", "/api/v1/builds", body, &root);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(root, "jobs");
    const cJSON *request = cJSON_GetObjectItemCaseSensitive(root, "request");
    n_adopted = adopted_jobs(cJSON_GetObjectItemCaseSensitive(root, "skipped"), &adopted);
    if (!a->json)
        print_created(root);
    if (!a->wait || (cJSON_GetArraySize(jobs) == 0 && n_adopted == 0) || !cJSON_IsNumber(request)) {
        if (a->json)
            wf_cli_api_print_json(root);
        goto out;
    }
    if (n_adopted > 0 && !a->json)
        printf("waiting also for %zu job(s) already queued or running for the same builds\n",
               n_adopted);
    code = wait_request(c, a, cJSON_GetArraySize(jobs) > 0 ? (int64_t)request->valuedouble : 0,
                        adopted, n_adopted, &final);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    if (a->json)
        wf_cli_api_print_json(final);
    else if (!a->follow)
        print_states(cJSON_GetObjectItemCaseSensitive(final, "jobs"), wf_time_s());
    code = summarize(cJSON_GetObjectItemCaseSensitive(final, "jobs"), a->json);
out:
    free(adopted);
    cJSON_Delete(final);
    cJSON_Delete(root);
    cJSON_free(body);
    return code;
}
