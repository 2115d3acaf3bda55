/* main.c - wheelfarmd: arguments, configuration, run, exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "daemon/daemon.h"
#include "daemon/gitrepo.h"
#include "lib/config.h"
#include "lib/hash.h"
#include "lib/log.h"
#include "lib/recipe.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wheelfarmd [--config FILE] [--check-config] [--log-level LEVEL]\n"
            "\n"
            "  --config FILE     configuration (YAML); without it the embedded defaults are used\n"
            "  --check-config    validate the configuration and the recipe list, then exit\n"
            "  --log-level L     error, warn, info (default) or debug\n"
            "  --version         print the version\n");
}

static void print_diags(const wf_diag_list *diags)
{
    for (size_t i = 0; i < diags->n; i++) {
        char *line = wf_diag_format(&diags->items[i]);
        fprintf(stderr, "%s\n", line);
        free(line);
    }
}

static int load_config(const char *path, wf_config **cfg)
{
    wf_diag_list diags = {NULL, 0};
    int rc = path ? wf_config_load(cfg, path, &diags)
                  : wf_config_parse(cfg, "<defaults>", wf_config_defaults,
                                    strlen(wf_config_defaults), &diags);
    if (rc != 0) {
        print_diags(&diags);
        fprintf(stderr, "wheelfarmd: %s is invalid; fix the errors above\n",
                path ? path : "the embedded default configuration");
    }
    wf_diag_list_release(&diags);
    for (size_t i = 0; rc == 0 && i < (*cfg)->n_workers; i++) {
        char *warning = wf_config_worker_warning(&(*cfg)->workers[i]);
        if (warning != NULL)
            wf_log_warn("%s", warning);
        free(warning);
    }
    return rc;
}

static int check_recipes(const wf_config *cfg)
{
    const wf_recipes_git *g = cfg->recipes_git;
    if (g != NULL) {
        /* Checking them needs a fetch; the daemon does that at each poll. */
        char *url = wf_gitrepo_redact_url(g->url);
        printf("%s: configuration OK; recipes from branch %s of the git repository %s (path "
               "%s), validated by the daemon at each poll\n",
               cfg->file, g->branch, url, g->path[0] != '\0' ? g->path : ".");
        free(url);
        return 0;
    }
    wf_diag_list diags = {NULL, 0};
    wf_recipe_list *list = NULL;
    int rc = wf_recipe_load_path(&list, cfg->recipes, &diags);
    print_diags(&diags);
    if (rc == 0)
        printf("%s: configuration OK; %zu recipe(s) in %s\n", cfg->file, list->n, cfg->recipes);
    wf_recipe_list_free(list);
    wf_diag_list_release(&diags);
    return rc;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--check-config") == 0)
            check = 1;
        else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            wf_log_level lvl;
            if (wf_log_parse_level(argv[++i], &lvl) != 0) {
                fprintf(stderr, "wheelfarmd: unknown log level '%s'\n", argv[i]);
                return 2;
            }
            wf_log_set_level(lvl);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("wheelfarmd %s\n", WF_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "wheelfarmd: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (wf_hash_init() != 0) {
        fprintf(stderr, "wheelfarmd: libsodium failed to initialise\n");
        return 1;
    }
    wf_config *cfg = NULL;
    if (load_config(config, &cfg) != 0)
        return 2;
    wf_config_apply_environment(cfg);
    if (check) {
        int rc = check_recipes(cfg);
        wf_config_free(cfg);
        return rc == 0 ? 0 : 2;
    }
    wf_log_level lvl;
    if (wf_log_parse_level(cfg->log_level, &lvl) == 0 && lvl > wf_log_threshold)
        wf_log_set_level(lvl);

    uv_loop_t loop;
    int lrc = uv_loop_init(&loop);
    if (lrc != 0) {
        fprintf(stderr, "wheelfarmd: cannot create the event loop: %s\n", uv_strerror(lrc));
        wf_config_free(cfg);
        return 1;
    }
    wf_daemon *d = NULL;
    char *err = NULL;
    int rc = wf_daemon_new(&d, &loop, cfg, &err);
    cfg = NULL;
    if (rc == 0)
        rc = wf_daemon_start(d, &err);
    if (rc == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    else
        fprintf(stderr, "wheelfarmd: %s\n", err ? err : wf_strerror(rc));
    free(err);
    wf_daemon_free(d);
    int lc = uv_loop_close(&loop);
    if (lc != 0)
        wf_log_error("daemon: event loop did not close cleanly: %s", uv_strerror(lc));
    else if (rc == 0)
        wf_log_info("daemon: stopped cleanly");
    return rc == 0 ? (lc == 0 ? 0 : 1) : 2;
}
