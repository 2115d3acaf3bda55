/* commands.h - the wheelfarm commands. Each prints its output and its errors itself and
 * returns the process exit code (a wf_cli_exit value).
 */
#ifndef WF_CLI_COMMANDS_H
#define WF_CLI_COMMANDS_H

#include "cli/args.h"
#include "cli/client.h"

/* build SPEC... [--platform P]... [--python TAG]... [--force] [--wait] [--follow] [--json] */
int wf_cli_cmd_build(wf_cli_client *c, const wf_cli_args *a);

/* jobs [--state S] [--json], show JOB [--json], logs JOB [-f], cancel JOB, retry JOB [--json] */
int wf_cli_cmd_jobs(wf_cli_client *c, const wf_cli_args *a);
int wf_cli_cmd_show(wf_cli_client *c, const wf_cli_args *a);
int wf_cli_cmd_logs(wf_cli_client *c, const wf_cli_args *a);
int wf_cli_cmd_cancel(wf_cli_client *c, const wf_cli_args *a);
int wf_cli_cmd_retry(wf_cli_client *c, const wf_cli_args *a);

/* workers [--json], recipes [--json] */
int wf_cli_cmd_workers(wf_cli_client *c, const wf_cli_args *a);
/* drain NAME / undrain NAME [--json]: exit 2 for an unknown worker (the daemon's 404). */
int wf_cli_cmd_drain(wf_cli_client *c, const wf_cli_args *a);
int wf_cli_cmd_recipes(wf_cli_client *c, const wf_cli_args *a);
/* sources add FILE... [--json]: asks the daemon (over its Unix socket) to copy each file into
 * its sha256 source cache; prints "SHA256  SIZE  PATH" per file. Exit 1 if a file failed,
 * 2 when a FILE does not exist (nothing is sent) or the daemon refused (403 over TCP). */
int wf_cli_cmd_sources(wf_cli_client *c, const wf_cli_args *a);
/* bump [--dry-run] [RECIPE...] [--json]: starts a bump run, waits for its report and prints
 * it. Exit 1 when a recipe could not be judged. */
int wf_cli_cmd_bump(wf_cli_client *c, const wf_cli_args *a);
/* check PATH...: offline, needs no daemon. */
int wf_cli_cmd_check(const wf_cli_args *a);

#endif
