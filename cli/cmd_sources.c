/* cmd_sources.c - `wheelfarm sources add FILE...`: seed the daemon's source cache. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/render.h"

/* The daemon takes at most this many paths per request (daemon/api_sources.h). */
#define SOURCES_BATCH 64

/* Prints one entry of the daemon's answer; returns 1 when it is an error. */
static int print_item(const cJSON *it)
{
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(it, "path");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(it, "sha256");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(it, "size");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(it, "error");
    const cJSON *hint = cJSON_GetObjectItemCaseSensitive(it, "hint");
    char *p = wf_cli_render_clean(cJSON_IsString(path) ? path->valuestring : "?", 0);
    int failed = !cJSON_IsString(sha);
    if (!failed) {
        printf("%s  %" PRId64 "  %s\n", sha->valuestring,
               cJSON_IsNumber(size) ? (int64_t)size->valuedouble : (int64_t)-1, p);
    } else {
        char *e = wf_cli_render_clean(cJSON_IsString(error) ? error->valuestring : "failed", 0);
        fprintf(stderr, "wheelfarm: %s: %s\n", p, e);
        if (cJSON_IsString(hint))
            fprintf(stderr, "  hint: %s\n", hint->valuestring);
        free(e);
    }
    free(p);
    return failed;
}

/* Sends paths[0..n) in one request; prints the result. Returns the exit code. */
static int add_batch(wf_cli_client *c, const wf_cli_args *a, char *const *paths, size_t n)
{
    cJSON *req = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(req, "paths");
    cJSON *root = NULL;
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(paths[i]));
    char *body = cJSON_PrintUnformatted(req);
    int code = wf_cli_api_call(c, "POST", "/api/v1/sources", body, &root);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "sources");
    const cJSON *it;
    if (a->json)
        wf_cli_api_print_json(root);
    cJSON_ArrayForEach(it, items)
    {
        if (a->json ? cJSON_GetObjectItemCaseSensitive(it, "sha256") == NULL : print_item(it))
            code = WF_CLI_EXIT_FAILED;
    }
out:
    cJSON_free(body);
    cJSON_Delete(req);
    cJSON_Delete(root);
    return code;
}

int wf_cli_cmd_sources(wf_cli_client *c, const wf_cli_args *a)
{
    /* The daemon reads the files itself, so it needs absolute paths; a missing file is the
     * user's to fix before anything is sent. */
    size_t n = a->n_positional - 1;
    char **paths = wf_calloc(n, sizeof(*paths));
    int code = WF_CLI_EXIT_OK;
    for (size_t i = 0; i < n; i++) {
        const char *arg = a->positional[i + 1];
        paths[i] = realpath(arg, NULL);
        if (paths[i] == NULL) {
            fprintf(stderr, "wheelfarm: cannot add '%s': %s\n", arg, strerror(errno));
            code = WF_CLI_EXIT_USAGE;
        }
    }
    /* A file the daemon could not store fails the command but not the batches after it; an
     * unreachable daemon or a refusal (4xx) ends it. */
    for (size_t i = 0; code <= WF_CLI_EXIT_FAILED && i < n; i += SOURCES_BATCH) {
        int rc = add_batch(c, a, paths + i, n - i < SOURCES_BATCH ? n - i : SOURCES_BATCH);
        if (rc != WF_CLI_EXIT_OK)
            code = rc;
    }
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    return code;
}
