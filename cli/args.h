/* args.h - the wheelfarm command line: commands, options, usage texts and where the daemon is.
 *
 * Everything here is pure (no I/O): the environment and the file system are passed in, so the
 * unit tests drive it directly.
 */
#ifndef WF_CLI_ARGS_H
#define WF_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes of the wheelfarm program; command functions return one of these. */
typedef enum {
    WF_CLI_EXIT_OK = 0,          /* success, or nothing to do */
    WF_CLI_EXIT_FAILED = 1,      /* a build failed or was cancelled, check found errors */
    WF_CLI_EXIT_USAGE = 2,       /* bad command line, bad configuration, 4xx from the daemon */
    WF_CLI_EXIT_UNREACHABLE = 3, /* the daemon could not be reached */
} wf_cli_exit;

typedef enum {
    WF_CLI_CMD_NONE = 0, /* only global options (--help, --version) */
    WF_CLI_CMD_HELP,
    WF_CLI_CMD_BUILD,
    WF_CLI_CMD_JOBS,
    WF_CLI_CMD_SHOW,
    WF_CLI_CMD_LOGS,
    WF_CLI_CMD_CANCEL,
    WF_CLI_CMD_RETRY,
    WF_CLI_CMD_WORKERS,
    WF_CLI_CMD_RECIPES,
    WF_CLI_CMD_SOURCES,
    WF_CLI_CMD_BUMP,
    WF_CLI_CMD_DRAIN,
    WF_CLI_CMD_UNDRAIN,
    WF_CLI_CMD_CHECK,
} wf_cli_command;

/* The parsed command line. Strings are borrowed from argv (they live as long as argv); the
 * arrays themselves are owned and freed by wf_cli_args_release(). */
typedef struct wf_cli_args {
    wf_cli_command command;
    const char **positional; /* build: SPECs; check: PATHs; help: the COMMAND;
                                sources: "add" then FILEs; bump: RECIPEs;
                                drain, undrain: the worker NAME */
    size_t n_positional;
    const char **platforms; /* build --platform, in order */
    size_t n_platforms;
    const char **python; /* build --python, in order */
    size_t n_python;
    const char *state;       /* jobs --state, or NULL */
    const char *socket_path; /* --socket, or NULL */
    const char *url;         /* --url, or NULL */
    int64_t job_id;          /* show, logs, cancel, retry: the JOB argument (> 0) */
    bool force, wait, follow, json, help, version;
    bool dry_run; /* bump --dry-run */
} wf_cli_args;

/* Parses argv[1..argc-1]. On success returns 0 and fills *out (release it). On a usage error
 * returns WF_EINVAL, sets *err to a one-line message (caller frees) and sets out->command to the
 * command named, if any, so the caller can print that command's usage; out holds nothing to
 * release then. */
int wf_cli_args_parse(wf_cli_args *out, int argc, char *const *argv, char **err);
void wf_cli_args_release(wf_cli_args *a);

/* Checks a build SPEC: "name" or "name==version" with a plausible project name. On error
 * returns WF_EINVAL and sets *err (caller frees). */
int wf_cli_args_check_spec(const char *spec, char **err);

/* The usage text of a command (WF_CLI_CMD_NONE: the overview). Static, never NULL. */
const char *wf_cli_args_usage(wf_cli_command cmd);
/* The command's name as typed ("build"), or "wheelfarm" for WF_CLI_CMD_NONE. */
const char *wf_cli_args_command_name(wf_cli_command cmd);

#define WF_CLI_DEFAULT_SOCKET "./var/wheelfarm.sock"
#define WF_CLI_DEFAULT_URL "http://127.0.0.1:8780"

/* Where the daemon is: exactly one of socket_path and url is set (owned; release frees them).
 * origin names what chose it ("--socket", "WHEELFARM_URL", "default", ...), a static string. */
typedef struct wf_cli_location {
    char *socket_path;
    char *url; /* without trailing slash */
    const char *origin;
} wf_cli_location;

/* Picks the daemon location: --socket, then --url (both at once is an error), then
 * WHEELFARM_SOCKET, then WHEELFARM_URL (empty values count as unset), then the default socket
 * if default_socket_exists, else the default URL. env_socket/env_url are the environment
 * values or NULL. On a bad value returns WF_ECONFIG and sets *err (caller frees). */
int wf_cli_args_locate(wf_cli_location *out, const wf_cli_args *a, const char *env_socket,
                       const char *env_url, bool default_socket_exists, char **err);
void wf_cli_location_release(wf_cli_location *loc);

#endif
