/* api.h - calls to the daemon's JSON API with the CLI's error handling: every failure is
 * printed once to stderr and turned into the wf_cli_exit code to return.
 */
#ifndef WF_CLI_API_H
#define WF_CLI_API_H

#include <cJSON.h>

#include "cli/client.h"

/* Sends the request and parses the JSON answer. Returns WF_CLI_EXIT_OK and sets *out (the
 * caller frees it with cJSON_Delete) on a 2xx answer with a JSON body; otherwise prints why to
 * stderr and returns the exit code: 3 unreachable, 2 for a 4xx, 1 for a 5xx or bad JSON. */
int wf_cli_api_call(wf_cli_client *c, const char *method, const char *path, const char *body,
                    cJSON **out);

/* Like wf_cli_api_call(c, "GET", path, NULL, out), but while the daemon cannot be reached it
 * retries once a second for up to patience_s seconds (a daemon restarting under a waiting
 * client is not an error). */
int wf_cli_api_get_patient(wf_cli_client *c, const char *path, unsigned patience_s, cJSON **out);

/* Prints the error of a wf_cli_client_request() that did not return 0, or of a non-2xx
 * response, and returns the exit code for it (as above). */
int wf_cli_api_fail(wf_cli_client *c, int rc, const wf_cli_response *resp);

/* Who runs the command, for the daemon's records: $USER, else the account's name, else
 * "unknown". Static or environment storage; do not free. */
const char *wf_cli_api_user(void);

/* Prints a JSON value pretty-printed on stdout with a final newline. */
void wf_cli_api_print_json(const cJSON *v);

#endif
