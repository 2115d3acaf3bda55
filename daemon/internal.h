/* internal.h - what the daemon's modules (daemon.c, workers.c, scheduler.c, run.c, api.c,
 * api_workers.c, publish.c) share.
 *
 * The daemon is single-threaded: every field here is touched on the loop thread only, except the
 * fields of a run's collect work item, which the thread pool owns while it runs.
 */
#ifndef WF_DAEMON_INTERNAL_H
#define WF_DAEMON_INTERNAL_H

#include <uv.h>

#include "daemon/daemon.h"
#include "daemon/fetch.h"
#include "daemon/httpd.h"
#include "daemon/planner.h"
#include "daemon/store.h"
#include "lib/config.h"
#include "lib/recipe.h"
#include "lib/wf.h"
#include "workers/docker.h"
#include "workers/health.h"

typedef enum { WF_DAEMON_RUNNING = 0, WF_DAEMON_DRAINING, WF_DAEMON_CLOSING } wf_daemon_state;

typedef struct wf_run wf_run;
typedef struct wf_prs wf_prs;
typedef struct wf_pr_recipes wf_pr_recipes;

/* watch.c: the recipe watcher's state. Its two handles are initialised with the daemon's others
 * and closed by close_all whether or not the watcher was started. */
#define WF_WATCH_MAX_NAMES 16
typedef struct wf_recipe_watch {
    uv_fs_event_t event; /* inotify on the recipes path (a file, or a directory one level deep) */
    uv_timer_t timer;    /* debounce after the last event; also retries a missing path */
    int enabled;         /* the recipes path is local and watched (a repository is polled) */
    int armed;           /* `event` is started on the path's current inode */
    int is_dir;
    uint64_t dev, ino;               /* what `event` watches, to notice the path being replaced */
    uint64_t first_event_at;         /* uv_now of the first event since the last reload, or 0 */
    char *names[WF_WATCH_MAX_NAMES]; /* file names seen since the last reload (heap) */
    size_t n_names;
    int more; /* more names than fit were seen */
} wf_recipe_watch;
typedef struct wf_worker_probe wf_worker_probe;

/* One entry of the worker table (workers.c). Reference-counted: the table holds one reference,
 * each run in flight one (wf__worker_run_started/ended) and a probe in flight one, so a worker a
 * reload removed stays valid until the last of them lets go. Its configuration is its own copy
 * and is replaced only while no run uses it. */
typedef struct wf_worker {
    wf_daemon *d;
    wf_worker_config *cfg;     /* owned; what runs and probes use */
    wf_worker_config *pending; /* a reload changed the target: replaces cfg once busy is 0 */
    int removed;               /* a reload removed it: leaves the table once busy is 0 */
    int64_t leaving_since;     /* when a reload removed or changed it */
    int in_table;              /* listed in d->workers */
    int refs;
    unsigned busy;         /* runs in flight */
    int drained;           /* a person drained it (kept in the store by name) */
    int64_t drained_since; /* when it was drained */
    wf_health health;
    int64_t last_probe;       /* when the last probe ended (epoch s), 0 never */
    char *engine;             /* the platform the engine reported, or NULL */
    uint64_t emulation_ok_ms; /* loop time the emulated platforms last passed, 0 = due */
    unsigned generation;      /* bumped when cfg is replaced: older probe results are dropped */
    uv_timer_t timer;         /* the next probe */
    int timer_open;
    wf_worker_probe *probe; /* in flight, or NULL */
} wf_worker;

/* The scheduler's turn cursor for one platform: the request it served last. */
typedef struct wf_sched_cursor {
    char *platform;
    int64_t last_request;
} wf_sched_cursor;

struct wf_daemon {
    uv_loop_t *loop;
    wf_daemon_state state;
    wf_config *cfg;
    wf_recipe_list *recipes;      /* the set in force; never NULL after new() */
    char *recipe_errors;          /* last load's diagnostics joined by '\n', or NULL (recipes.c) */
    wf_diag_list recipe_diags;    /* the same, one per problem (the API's "errors") */
    wf_diag_list recipe_warnings; /* recipes in force that cannot be planned (python, image) */
    char **recipe_warning_names;  /* the normalized recipe name of each warning */
    char *recipes_source;         /* the path the set in force was loaded from */
    int64_t recipes_loaded_at;    /* when it was loaded (seconds since the epoch) */
    wf_recipe_watch watch;
    /* Recipes from a git repository (recipe_repo.c), or NULL. */
    struct wf_recipe_repo *recipe_repo;

    wf_store *store;
    wf_httpd *httpd;
    wf_fetcher *fetcher;
    wf_docker_client docker;
    wf_worker **workers; /* the table, in configuration order; removed ones that still finish
                            builds come last */
    size_t n_workers;
    wf_prs *prs;           /* pull requests (prs.c); NULL when the recipes have none */
    int workers_closing;   /* close_all ran: no new probes */
    unsigned workers_live; /* wf_worker objects not yet freed (their timers close first) */
    wf_sched_cursor *cursors;
    size_t n_cursors;

    char *index_root;    /* <state>/index: simple/ and files/ */
    char *logs_dir;      /* <state>/logs: job-<id>.log */
    char *work_dir;      /* <state>/work: per-attempt contexts and outputs */
    char *template_path; /* dockerfiles/job.Dockerfile.in */
    char *token;         /* bearer token for TCP clients */

    wf_run *runs; /* runs in flight (intrusive list) */
    unsigned n_runs;
    wf_run *collect_head, *collect_tail; /* builds waiting to be collected, in order */
    int collecting;                      /* a collect is on the thread pool */

    struct wf_bump *bump; /* version bumps (daemon/bump.h); NULL before start */
    int bump_open;        /* bump holds handles not yet closed */

    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t kick;   /* schedules soon, coalescing many wake-ups into one pass; or when the
                          next backoff ends */
    uv_timer_t drain;  /* shutdown deadline */
    uv_timer_t leases; /* renews the leases of the runs in flight */
    int open_handles;  /* closed in close_all; the daemon is done when this reaches 0 */
    int fetcher_open, httpd_open;
};

/* workers.c: the worker table, health probes, drain and reload. */
/* Builds the table from d->cfg->workers (the drained flags come from the store) and starts
 * probing every worker. Called once by wf_daemon_start(). */
int wf__workers_start(wf_daemon *d);
/* Stops probing and lets every worker go (at daemon close); their handles close on the loop. */
void wf__workers_close(wf_daemon *d);
/* Frees what wf__workers_close() left (after the loop ended). */
void wf__workers_free(wf_daemon *d);
/* Applies the workers of a reloaded configuration: kept workers are untouched, slots and labels
 * change in place, a changed or removed worker drains (its runs finish) and is then replaced or
 * removed, an added one starts probing. Copies what it needs from `next`. Appends one line per
 * change to `log` ("worker 'x' added"). */
void wf__workers_reload(wf_daemon *d, const wf_config *next, wf_buf *log);
/* The listed worker with this name (removed ones still finishing builds included), or NULL. */
wf_worker *wf__worker_find(wf_daemon *d, const char *name);
/* 1 when the worker may take a new job now: healthy, not drained, not leaving; slots aside. */
int wf__worker_available(const wf_worker *w);
/* The state shown to people: "draining" (drained, or leaving after a reload), else the health
 * ("probing", "healthy", "unhealthy"). Static. */
const char *wf__worker_state(const wf_worker *w);
/* Why the worker is in that state (heap string), or NULL when it is healthy and takes jobs. */
char *wf__worker_reason(const wf_worker *w);
/* When the shown state began (epoch s). */
int64_t wf__worker_since(const wf_worker *w);
/* A person drains (1) or undrains (0) the worker; persisted before it takes effect. */
int wf__worker_set_drained(wf_daemon *d, wf_worker *w, int drained);
/* An infrastructure failure seen on this worker (engine unreachable, engine error, lost lease):
 * it is unhealthy from now on, and probed again soon (with the usual backoff). */
void wf__worker_failed(wf_daemon *d, wf_worker *w, const char *reason);
/* A run starts / ended on the worker: busy count and reference. After run_ended the caller must
 * not touch w again (a worker a reload removed may be gone). */
void wf__worker_run_started(wf_worker *w);
void wf__worker_run_ended(wf_worker *w);

/* scheduler.c */
/* Starts one job on one worker (wf__run_start in the daemon); 0 when it started. */
typedef int (*wf_sched_start_fn)(const wf_job_row *job, wf_worker *w, void *ctx);
/* 1 when the job may start now (a pull request's job waits for its head's recipes). */
typedef int (*wf_sched_ready_fn)(const wf_job_row *job, void *ctx);
/* One scheduling pass for one platform: asks the store for as many queued jobs as the available
 * workers have free slots (in wf_store_jobs_next order, turns starting after cur->last_request;
 * jobs in a backoff left out) and calls start() for each ready one (ready NULL: all are) with
 * the worker wf__sched_pick_avoiding chooses (avoiding the job's avoid_worker), until none is
 * left.
 * *workers / *n_workers are read afresh after each start (a start may change the table);
 * cur->last_request follows the jobs started. Returns how many started. */
int wf__sched_pass(wf_store *store, wf_worker **const *workers, const size_t *n_workers,
                   wf_sched_cursor *cur, const char *platform, wf_sched_ready_fn ready,
                   wf_sched_start_fn start, void *ctx);
void wf__sched_kick(wf_daemon *d);
void wf__sched_run(wf_daemon *d);
/* Why a queued job waits (heap string), or NULL when a worker could take it now. */
char *wf__sched_wait_reason(wf_daemon *d, const char *platform);
/* The worker a job of `platform` goes to now, among n workers: available (wf__worker_available),
 * serving the platform, with a free slot; the least busy, native before emulated at equal load,
 * then the first listed. NULL when none. */
wf_worker *wf__sched_pick(wf_worker *const *workers, size_t n, const char *platform);
/* The same, but the worker named avoid (where the job's last infrastructure failure happened;
 * NULL: none) is chosen only when no other such worker has a free slot. */
wf_worker *wf__sched_pick_avoiding(wf_worker *const *workers, size_t n, const char *platform,
                                   const char *avoid);
/* The wait reason for `platform` over n workers (heap string, NULL when one is free): "no healthy
 * worker for P: ..." naming the unhealthy, probing and draining ones, or "all N worker(s) for P
 * are busy". */
char *wf__sched_explain(wf_worker *const *workers, size_t n, const char *platform);

/* run.c: one attempt of one job, from sources to published wheel. */
int wf__run_start(wf_daemon *d, const wf_job_row *job, wf_worker *w);
/* Cancels the run of job_id if one is in flight; requeue=1 puts the job back in the queue
 * (daemon shutdown), 0 ends it as cancelled (a person asked). Returns 1 if a run was found. */
int wf__run_cancel(wf_daemon *d, int64_t job_id, int requeue);
void wf__run_cancel_all(wf_daemon *d, int requeue);
/* 1 when job's build key is still what recipe (not NULL) and the configured builder image
 * give, i.e. running the job would build what its key says. */
int wf__run_key_valid(wf_daemon *d, const wf_recipe *recipe, const wf_job_row *job);
/* wf__run_cancel(d, job_id, 0) with the reason the job's error records (copied). */
int wf__run_cancel_why(wf_daemon *d, int64_t job_id, const char *why);
/* Last log line of a job in flight (borrowed), or NULL. */
const char *wf__run_last_line(wf_daemon *d, int64_t job_id);
/* Starts d->leases (initialized by the daemon), which renews the lease of every run in flight
 * every lease_seconds / 3 and stops a run whose lease was lost. */
int wf__run_leases_start(wf_daemon *d);

/* publish.c: regenerate a project's index page and the root page from the store, per channel
 * ("" main, "pr/<N>"; see lib/channel.h). Publishing a main project also refreshes the open pull
 * request channels that show main's wheels of it. publish_channel rewrites all of a channel's
 * pages; publish_all (at start) also removes files no artifact row owns and the directories of
 * channels whose pull request is not open, then publishes every channel. channel_remove deletes
 * a pull request channel's directory (pages and its own files). */
int wf__publish_project(wf_daemon *d, const char *project);
int wf__publish_project_in(wf_daemon *d, const char *channel, const char *project);
int wf__publish_channel(wf_daemon *d, const char *channel);
int wf__publish_all(wf_daemon *d);
int wf__channel_remove(wf_daemon *d, const char *channel);

/* submit.c: what triggered a request (the trigger record). kind is required: "cli" or "api" (a
 * person), "watch" (the recipe files changed), "commit" (a recipe repository's branch moved),
 * "pr" (a pull request), "bump" (a new upstream version). Every other field may be NULL / 0;
 * they are stored as the request's wf_request_origin. Strings are borrowed. */
typedef struct wf_trigger {
    const char *kind;
    const char *user;
    const char *commit;
    const char *ref;
    int64_t pr;
    const char *head_sha;
    const char *upstream_version;
    const char *detail;
} wf_trigger;

typedef struct wf_submit_result {
    int64_t request_id;
    size_t n_queued, n_skipped;
} wf_submit_result;

struct cJSON;
/* Records a request for the plan with its trigger and queues its jobs in one transaction,
 * skipping builds whose key already has a wheel (unless force) or an active job; each skip is
 * appended to `skipped` (a cJSON array, may be NULL) as {recipe, version, python, platform,
 * reason[, filename][, job]}. Kicks the scheduler when something was queued. A request is
 * recorded even when every job was skipped. Store errors (already logged) are returned. */
int wf__submit(wf_daemon *d, const wf_plan *plan, const wf_trigger *t, int force,
               wf_submit_result *out, struct cJSON *skipped);

/* recipes.c: the recipe set in force.
 * Loads the recipe set at `root` (file or directory). On any error: keeps the set in force,
 * stores the diagnostics (file:line:column lines) in d->recipe_errors (and d->recipe_diags), logs
 * them, returns WF_EINVAL. On success: replaces d->recipes, clears d->recipe_errors, and for every
 * recipe whose canonical form is new or changed (compared with the previous set) submits its
 * missing builds with trigger *t in one request (t may be NULL: load only, schedule nothing —
 * used at start-up). *n_changed (may be NULL) = number of new/changed recipes. A store error
 * while submitting is returned after the new set is in force. The first load (no set in force
 * yet: start-up) logs nothing, because the daemon then refuses to start with d->recipe_errors
 * as its message. Runs on the loop thread (see recipes.c for why that is cheap enough). */
int wf__recipes_reload(wf_daemon *d, const char *root, const wf_trigger *t, size_t *n_changed);
/* Canonical-form comparison helper for PR diffs: names of recipes in `next` that are new or
 * whose canonical form differs from the same-named recipe in `prev` (heap array of borrowed
 * pointers into next; free the array only). prev may be NULL (everything is new). *out is NULL
 * when *n_out is 0. */
int wf__recipes_changed(const wf_recipe_list *prev, const wf_recipe_list *next,
                        const wf_recipe ***out, size_t *n_out);
/* Records a problem that is not in a recipe file (a repository that cannot be fetched) as the
 * recipe set's error, shown and logged like a load error; the set in force stays. */
void wf__recipes_set_error(wf_daemon *d, const char *where, const char *message);
/* Frees the recipe state (the set, its errors and warnings); at daemon free. */
void wf__recipes_release(wf_daemon *d);

/* watch.c: watches a local recipes path (uv_fs_event) and reloads it, debounced, with trigger
 * {kind "watch", detail "recipes changed: <files>"}. wf__watch_init (before start) initialises
 * the handles; wf__watch_start starts watching when the config names a local path. A path that
 * is missing or replaced (atomic saves, a swapped directory) is watched again as it reappears. */
void wf__watch_init(wf_daemon *d);
void wf__watch_start(wf_daemon *d);
/* Frees what the watcher holds besides its handles (after they closed). */
void wf__watch_release(wf_daemon *d);

/* api.c */
void wf__api_handle(const wf_http_request *req, wf_http_response *res, void *ctx);

/* hooks.c: POST /hooks/github|gitea|gitlab (the httpd's hooks callback; ctx is the daemon). */
void wf__hooks_handle(const wf_http_request *req, wf_http_response *res, void *ctx);

/* prs.c: pull requests of the recipe repository, each built into its channel "pr/<N>".
 * A verified pull request event (from a webhook or from a poll's catch-up). Strings borrowed. */
typedef struct wf_pr_event {
    const char *action; /* "opened", "synchronize", "reopened", "closed" (merged or not) */
    int64_t number;
    const char *head_sha, *base_sha, *base_ref; /* 40-hex, 40-hex (may be NULL), branch */
    int merged;
    const char *delivery; /* forge delivery id (NULL from catch-up) */
} wf_pr_event;
/* Loop thread. opened/reopened/synchronize: a new head supersedes the old head's jobs at once,
 * then its recipes are fetched and parsed on the thread pool and the recipes it changes are
 * built into the channel; closed: the channel and its queued jobs go. An event for a head
 * already handled changes nothing; a catch-up event never reopens a closed pull request. */
void wf__pr_event(wf_daemon *d, const wf_pr_event *ev);
/* Sets d->prs up when the recipes are a git repository with pull_requests (else leaves it
 * NULL: every event is then ignored with a log line). */
void wf__prs_new(wf_daemon *d);
/* At start, after recovery: reloads the recipes of the open pull requests' heads (on the
 * thread pool) and plans any head that was never planned. */
void wf__prs_start(wf_daemon *d);
void wf__prs_free(wf_daemon *d);
/* The recipes a job of `channel` built at `head_sha` (NULL for main) uses: main's set, or the
 * pull request head's. For a pull request *hold gets a reference the caller gives back with
 * wf__pr_recipes_release (main: NULL). NULL when the head is not the pull request's current one
 * or its recipes are not loaded. */
const wf_recipe_list *wf__channel_recipes(wf_daemon *d, const char *channel, const char *head_sha,
                                          wf_pr_recipes **hold);
void wf__pr_recipes_release(wf_pr_recipes *h);
/* 1 when jobs of `channel` at `head_sha` may start now (main: always; a pull request: it is open
 * and head_sha is its current head with loaded recipes). */
int wf__channel_ready(wf_daemon *d, const char *channel, const char *head_sha);
/* A job of a pull request channel changed state (ended, cancelled): re-evaluates the head's
 * commit status and reports it when it changed. Main channel: nothing. */
void wf__pr_job_changed(wf_daemon *d, const char *channel);
struct cJSON;
/* GET /api/v1/prs[/N]: the pull request as JSON, or NULL when unknown. */
struct cJSON *wf__pr_json(wf_daemon *d, int64_t number);

/* recipes.c (helper "watch"): names of recipes in `next` that are new or whose canonical form
 * differs from the same-named recipe in `prev` (heap array of borrowed pointers into next;
 * free the array only). */
int wf__recipes_changed(const wf_recipe_list *prev, const wf_recipe_list *next,
                        const wf_recipe ***out, size_t *n_out);

/* api_workers.c: GET /api/v1/workers, POST /api/v1/workers/NAME/drain and /undrain. Returns 1
 * when the request was one of these (answered), 0 otherwise. */
int wf__api_workers(wf_daemon *d, const wf_http_request *req, wf_http_response *res);

/* daemon.c: re-reads the configuration file (SIGHUP): workers change at once, log_level and
 * shutdown_grace too; other changed keys are reported as needing a restart; a broken file is
 * logged (file:line:column) and the configuration in force stays. */
void wf__daemon_reload(wf_daemon *d);
/* daemon.c: the run list changed or a run ended (draining daemons may now finish). */
void wf__daemon_run_ended(wf_daemon *d);
/* Path of a job's log file (caller frees). */
char *wf__daemon_log_path(wf_daemon *d, int64_t job_id);

#endif
