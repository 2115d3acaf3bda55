/* recipe_repo.h - recipes from a git repository (`recipes: {git: URL, ...}`): a poll timer that
 * fetches the branch on the thread pool, exports the recipes of a new commit and reloads them
 * with trigger "commit"; with pull_requests, it also lists refs/pull/N/head and hands every new
 * or moved head to the pull request module (missed webhooks).
 *
 * State under <state_dir>: git/<name> (the bare mirror), recipes-git/<sha> (exports; the one in
 * force and the newest are kept), recipes-git/current (a symbolic link to the export in force;
 * the daemon's `recipes` path), recipes-git/built (the commit in force, whose builds were
 * submitted) and recipes-git/pulls (the pull request heads last handed over). The two small
 * files are written atomically on the loop thread, right after the store commit they follow.
 *
 * Loop thread only. At most one poll is on the thread pool at a time; a tick that finds one
 * still running is skipped.
 */
#ifndef WF_RECIPE_REPO_H
#define WF_RECIPE_REPO_H

struct cJSON;
typedef struct wf_daemon wf_daemon;
typedef struct wf_recipe_repo wf_recipe_repo;

/* Opens the mirror (creating it) and loads the recipes of the last commit in force, if any,
 * without scheduling anything (d->recipes must already hold a set, possibly empty). Blocking;
 * called from wf_daemon_new() before the loop runs. On failure *errmsg says what (caller
 * frees). */
int wf__recipe_repo_new(wf_recipe_repo **out, wf_daemon *d, char **errmsg);
/* Starts the poll timer; the first poll runs at once. */
int wf__recipe_repo_start(wf_recipe_repo *r);
/* Polls now (a push webhook, a test) rather than at the next tick; when a poll is running, one
 * more runs as soon as it ends. Nothing before wf__recipe_repo_start(). */
void wf__recipe_repo_poll_now(wf_recipe_repo *r);
/* Stops polling: a queued poll is cancelled, a running one is told to stop (its network
 * operation fails within ~100 ms), the timer is closed. Frees r and calls on_closed(ctx) once
 * nothing is left; that may happen before this returns. */
void wf__recipe_repo_close(wf_recipe_repo *r, void (*on_closed)(void *ctx), void *ctx);

/* {"git": URL without credentials, "branch", "path", "poll", "pull_requests", "commit": the
 * commit in force or null, "head": the branch head at the last successful poll or null,
 * "polled_at": seconds or null, "error": the last poll's error or null}. */
struct cJSON *wf__recipe_repo_json(const wf_recipe_repo *r);
/* Appends the repository's current problems (a failed poll, a commit whose recipes cannot be
 * exported) to a cJSON array of strings. */
void wf__recipe_repo_errors(const wf_recipe_repo *r, struct cJSON *errors);

#endif
