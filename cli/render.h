/* render.h - what the CLI prints: durations, tables, job lines, live lines and error messages.
 *
 * Pure functions of their arguments (the current time is passed in), so they are unit-tested.
 * Every returned char * is a new heap string the caller frees with free(). Strings that come
 * from the daemon (log lines, errors) are cleaned of control characters and escape sequences
 * before they reach the terminal.
 */
#ifndef WF_CLI_RENDER_H
#define WF_CLI_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

/* "45s", "3m07s", "2h05m", "3d04h"; negative counts as 0. Writes into buf, returns buf. */
const char *wf_cli_render_duration(char *buf, size_t n, int64_t secs);
/* The coarser "45s", "3m", "2h", "4d" for ages in tables. Writes into buf, returns buf. */
const char *wf_cli_render_age(char *buf, size_t n, int64_t secs);

/* Copies s for display on one terminal line: escape sequences and control characters are
 * removed (a carriage return keeps only the text after it, as a terminal would show it; tabs
 * and inner newlines become spaces, a final newline is dropped), invalid UTF-8 becomes '?', and
 * when the text is wider than max_cols columns (0: no limit) it is cut to fit with a trailing "…".
 */
char *wf_cli_render_clean(const char *s, size_t max_cols);
/* Display columns of UTF-8 text (one per code point). */
size_t wf_cli_render_width(const char *s);

/* A text table with a header row; columns are as wide as their widest cell, two spaces apart. */
typedef struct wf_cli_table wf_cli_table;
/* headers: ncols strings (copied). */
wf_cli_table *wf_cli_table_new(size_t ncols, const char *const *headers);
/* Adds a row of ncols cells (copied, cleaned, cut to 60 columns); a NULL cell shows "-". */
void wf_cli_table_add(wf_cli_table *t, const char *const *cells);
/* The whole table, one line per row, each ending in "\n", without trailing spaces. */
char *wf_cli_table_render(const wf_cli_table *t);
void wf_cli_table_free(wf_cli_table *t);

/* "#12 fixture-ext==1.0.0 cp311 linux/amd64" for a job object. */
char *wf_cli_render_job_head(const cJSON *job);
/* One live line for `build --follow` on a terminal: the head padded to head_pad columns, the
 * state, the elapsed time and a detail (last log line, wait reason, error or wheel name), cut
 * to width columns (0: no limit). */
char *wf_cli_render_live_line(const cJSON *job, int64_t now, size_t head_pad, size_t width);
/* A plain line saying a job's current state, for logs and pipes: "#12 x==1.0 cp311
 * linux/amd64: running on local". */
char *wf_cli_render_state_line(const cJSON *job, int64_t now);

/* Tables of GET /api/v1/jobs "jobs", of the jobs a build created, of workers and of recipes.
 * A non-array renders as an empty table. */
char *wf_cli_render_jobs(const cJSON *jobs, int64_t now);
char *wf_cli_render_created(const cJSON *jobs);
char *wf_cli_render_skipped(const cJSON *skipped);
/* The workers table; `now` (epoch s) turns each "since" into an age. Under it, after a blank
 * line, "NAME: REASON" for each worker that has a reason (unhealthy, draining, probing). */
char *wf_cli_render_workers(const cJSON *workers, int64_t now);
/* What `drain` / `undrain` print for the worker object the daemon answered. */
char *wf_cli_render_drained(const cJSON *worker);
char *wf_cli_render_recipes(const cJSON *recipes);
/* The problems of GET /api/v1/recipes (its "errors", "warnings", "source" and "loaded_at"), for
 * stderr: a heading, then one "file:line:column: message" line per problem; "" when none. */
char *wf_cli_render_recipe_problems(const cJSON *root, int64_t now);
/* The line saying where the daemon's recipes come from when they are a git repository (the
 * "repository" object of GET /api/v1/recipes): "recipes from branch B of URL (path P): commit
 * C, polled 5s ago\n"; NULL when repo is not an object. */
char *wf_cli_render_repository(const cJSON *repo, int64_t now);
/* A finished bump run (GET /api/v1/bump/runs/ID): a headline, a table of the recipes (RECIPE,
 * TRACK, OUTCOME, VERSION, WHY), then each recipe's versions newest first with their verdict and
 * reason, unabridged. */
char *wf_cli_render_bump(const cJSON *run, int64_t now);
/* Every field of one job (GET /api/v1/jobs/ID), attempts included. */
char *wf_cli_render_job(const cJSON *job, int64_t now);

/* The message for a non-2xx answer (status, body), without the program prefix; a "hint: ..."
 * line follows when the daemon sent one. *exit_code is set to the wf_cli_exit to use: usage
 * (2) for 4xx, failed (1) for 5xx. tcp tells whether a token applies (401). */
char *wf_cli_render_http_error(long status, const char *body, size_t len, bool tcp, int *exit_code);
/* The message when the daemon cannot be reached at where (chosen by origin, see
 * wf_cli_location), with what libcurl said and how to point elsewhere. */
char *wf_cli_render_unreachable(const char *where, const char *origin, bool is_socket,
                                const char *error);

#endif
