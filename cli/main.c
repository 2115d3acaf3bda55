/* main.c - wheelfarm, the client: parse the command line, find the daemon, run the command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/client.h"
#include "cli/commands.h"

typedef int (*command_fn)(wf_cli_client *c, const wf_cli_args *a);

static command_fn remote_command(wf_cli_command cmd)
{
    switch (cmd) {
    case WF_CLI_CMD_BUILD: return wf_cli_cmd_build;
    case WF_CLI_CMD_JOBS: return wf_cli_cmd_jobs;
    case WF_CLI_CMD_SHOW: return wf_cli_cmd_show;
    case WF_CLI_CMD_LOGS: return wf_cli_cmd_logs;
    case WF_CLI_CMD_CANCEL: return wf_cli_cmd_cancel;
    case WF_CLI_CMD_RETRY: return wf_cli_cmd_retry;
    case WF_CLI_CMD_WORKERS: return wf_cli_cmd_workers;
    case WF_CLI_CMD_RECIPES: return wf_cli_cmd_recipes;
    case WF_CLI_CMD_SOURCES: return wf_cli_cmd_sources;
    case WF_CLI_CMD_BUMP: return wf_cli_cmd_bump;
    case WF_CLI_CMD_DRAIN:
    case WF_CLI_CMD_UNDRAIN: return wf_cli_cmd_drain;
    default: return NULL;
    }
}

static wf_cli_command help_topic(const wf_cli_args *a)
{
    if (a->command != WF_CLI_CMD_HELP)
        return a->command;
    if (a->n_positional == 0)
        return WF_CLI_CMD_NONE;
    for (int c = WF_CLI_CMD_HELP; c <= WF_CLI_CMD_CHECK; c++)
        if (strcmp(wf_cli_args_command_name((wf_cli_command)c), a->positional[0]) == 0)
            return (wf_cli_command)c;
    return WF_CLI_CMD_NONE;
}

static int run_remote(const wf_cli_args *a)
{
    wf_cli_location loc = {0};
    wf_cli_client *client = NULL;
    struct stat st;
    char *err = NULL;
    int code = WF_CLI_EXIT_USAGE;
    int rc = wf_cli_args_locate(&loc, a, getenv("WHEELFARM_SOCKET"), getenv("WHEELFARM_URL"),
                                stat(WF_CLI_DEFAULT_SOCKET, &st) == 0, &err);
    if (rc != 0) {
        fprintf(stderr, "wheelfarm: %s\n", err);
        goto out;
    }
    rc = wf_cli_client_new(&client, &loc, getenv("WHEELFARM_TOKEN"));
    if (rc != 0) {
        fprintf(stderr, "wheelfarm: cannot set up the HTTP client: %s\n", wf_strerror(rc));
        code = WF_CLI_EXIT_FAILED;
        goto out;
    }
    code = remote_command(a->command)(client, a);
out:
    wf_cli_client_free(client);
    wf_cli_location_release(&loc);
    free(err);
    return code;
}

int main(int argc, char **argv)
{
    wf_cli_args args = {0};
    char *err = NULL;
    int code;
    if (wf_cli_args_parse(&args, argc, argv, &err) != 0) {
        fprintf(stderr, "wheelfarm: %s\n\n%s", err, wf_cli_args_usage(args.command));
        free(err);
        return WF_CLI_EXIT_USAGE;
    }
    if (args.version) {
        printf("wheelfarm %s\n", WF_VERSION);
        code = WF_CLI_EXIT_OK;
    } else if (args.help || args.command == WF_CLI_CMD_HELP) {
        fputs(wf_cli_args_usage(help_topic(&args)), stdout);
        code = WF_CLI_EXIT_OK;
    } else if (args.command == WF_CLI_CMD_CHECK) {
        code = wf_cli_cmd_check(&args);
    } else {
        code = run_remote(&args);
    }
    wf_cli_args_release(&args);
    return code;
}
