/* cmd_info.c - `wheelfarm workers`, `recipes` (from the daemon) and `check` (offline). */
#include <stdlib.h>

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
        char *table = wf_cli_render_workers(cJSON_GetObjectItemCaseSensitive(root, "workers"));
        fputs(table, stdout);
        free(table);
    }
out:
    cJSON_Delete(root);
    return code;
}

/* Lists the recipes the daemon loaded, then the errors in its recipe files on stderr; the
 * exit status is 1 when there are any, so scripts notice a broken recipe repository. */
int wf_cli_cmd_recipes(wf_cli_client *c, const wf_cli_args *a)
{
    cJSON *root = NULL;
    int code = wf_cli_api_call(c, "GET", "/api/v1/recipes", NULL, &root);
    if (code != WF_CLI_EXIT_OK)
        goto out;
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(root, "errors");
    const cJSON *e;
    if (a->json) {
        wf_cli_api_print_json(root);
    } else {
        char *table = wf_cli_render_recipes(cJSON_GetObjectItemCaseSensitive(root, "recipes"));
        fputs(table, stdout);
        free(table);
        if (cJSON_GetArraySize(errors) > 0)
            fprintf(stderr, "errors in the daemon's recipe files:\n");
        cJSON_ArrayForEach(e, errors)
        {
            char *line = wf_cli_render_clean(cJSON_IsString(e) ? e->valuestring : "?", 0);
            fprintf(stderr, "%s\n", line);
            free(line);
        }
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
