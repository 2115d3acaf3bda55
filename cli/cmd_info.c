/* cmd_info.c - `wheelfarm workers`, `drain`, `undrain`, `recipes` (from the daemon) and `check`
 * (offline). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/api.h"
#include "cli/commands.h"
#include "cli/render.h"
#include "lib/recipe.h"

int wf_cli_cmd_workers(wf_cli_client *c, const wf_cli_args *a)
{
    cJSON *root = NULL;
    int code = wf_cli_api_call(c, "GET", "/api/v1/workers", NULL, &root);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    if (a->json) {
        wf_cli_api_print_json(root);
    } else {
        char *table = wf_cli_render_workers(cJSON_GetObjectItemCaseSensitive(root, "workers"),
                                            (int64_t)time(NULL));
        fputs(table, stdout);
        free(table);
    }
out:
    cJSON_Delete(root);
    return code;
}

int wf_cli_cmd_drain(wf_cli_client *c, const wf_cli_args *a)
{
    int drain = a->command == WF_CLI_CMD_DRAIN;
    cJSON *w = NULL;
    char *path =
        wf_asprintf("/api/v1/workers/%s/%s", a->positional[0], drain ? "drain" : "undrain");
    int code = wf_cli_api_call(c, "POST", path, NULL, &w);
    free(path);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    if (a->json) {
        wf_cli_api_print_json(w);
    } else {
        char *line = wf_cli_render_drained(w);
        fputs(line, stdout);
        free(line);
    }
out:
    cJSON_Delete(w);
    return code;
}

/* Lists the recipes the daemon has in force, then the errors in its recipe files (the last load
 * failed; the set listed stays in force) and the recipes it cannot build on stderr; the exit
 * status is 1 when there are errors, so scripts notice a broken recipe repository. */
int wf_cli_cmd_recipes(wf_cli_client *c, const wf_cli_args *a)
{
    cJSON *root = NULL;
    int code = wf_cli_api_call(c, "GET", "/api/v1/recipes", NULL, &root);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(root, "errors");
    if (a->json) {
        wf_cli_api_print_json(root);
    } else {
        char *table = wf_cli_render_recipes(cJSON_GetObjectItemCaseSensitive(root, "recipes"));
        fputs(table, stdout);
        free(table);
        char *repo = wf_cli_render_repository(cJSON_GetObjectItemCaseSensitive(root, "repository"),
                                              wf_time_s());
        if (repo != NULL)
            fputs(repo, stdout);
        free(repo);
        char *problems = wf_cli_render_recipe_problems(root, wf_time_s());
        fputs(problems, stderr);
        free(problems);
    }
    if (cJSON_GetArraySize(errors) > 0)
        code = WF_CLI_EXIT_FAILED;
out:
    cJSON_Delete(root);
    return code;
}

static int check_one(const char *path)
{
    wf_recipe_list *list = NULL;
    wf_diag_list diags = {0};
    int rc = wf_recipe_load_path(&list, path, &diags);
    for (size_t i = 0; i < diags.n; i++) {
        char *line = wf_diag_format(&diags.items[i]);
        fprintf(stderr, "%s\n", line);
        free(line);
    }
    if (rc == 0)
        printf("%s: %zu recipe%s OK\n", path, list->n, list->n == 1 ? "" : "s");
    else if (diags.n > 0)
        fprintf(stderr, "%s: %zu problem%s found\n", path, diags.n, diags.n == 1 ? "" : "s");
    else
        fprintf(stderr, "%s: cannot be checked: %s\n", path, wf_strerror(rc));
    wf_diag_list_release(&diags);
    wf_recipe_list_free(list);
    return rc == 0 ? WF_CLI_EXIT_OK : WF_CLI_EXIT_FAILED;
}

int wf_cli_cmd_check(const wf_cli_args *a)
{
    int code = WF_CLI_EXIT_OK;
    for (size_t i = 0; i < a->n_positional; i++)
        if (check_one(a->positional[i]) != WF_CLI_EXIT_OK)
            code = WF_CLI_EXIT_FAILED;
    return code;
}
