/* internal.h - what the daemon's modules (daemon.c, scheduler.c, run.c, api.c, publish.c) share.
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
#include "daemon/store.h"
#include "lib/config.h"
#include "lib/recipe.h"
#include "lib/wf.h"
#include "workers/docker.h"

typedef enum { WF_DAEMON_RUNNING = 0, WF_DAEMON_DRAINING, WF_DAEMON_CLOSING } wf_daemon_state;

typedef struct wf_run wf_run;

typedef struct wf_worker {
    const wf_worker_config *cfg; /* borrowed from the daemon's config */
    unsigned busy;               /* runs in flight on this worker */
} wf_worker;

struct wf_daemon {
    uv_loop_t *loop;
    wf_daemon_state state;
    wf_config *cfg;
    wf_recipe_list *recipes; /* the set in force; never NULL after new() */
    char *recipe_errors;     /* last load's diagnostics joined by '\n', or NULL */
    wf_store *store;
    wf_httpd *httpd;
    wf_fetcher *fetcher;
    wf_docker_client docker;
    wf_worker *workers;
    size_t n_workers;

    char *index_root;    /* <state>/index: simple/ and files/ */
    char *logs_dir;      /* <state>/logs: job-<id>.log */
    char *work_dir;      /* <state>/work: per-attempt contexts and outputs */
    char *template_path; /* dockerfiles/job.Dockerfile.in */
    char *token;         /* bearer token for TCP clients */

    wf_run *runs; /* runs in flight (intrusive list) */
    unsigned n_runs;
    wf_run *collect_head, *collect_tail; /* builds waiting to be collected, in order */
    int collecting;                      /* a collect is on the thread pool */

    uv_signal_t sigterm, sigint;
    uv_timer_t kick;  /* schedules soon, coalescing many wake-ups into one pass */
    uv_timer_t drain; /* shutdown deadline */
    int open_handles; /* closed in close_all; the daemon is done when this reaches 0 */
    int fetcher_open, httpd_open;
};

/* scheduler.c */
void wf__sched_kick(wf_daemon *d);
void wf__sched_run(wf_daemon *d);
/* Why a queued job waits (heap string), or NULL when a worker could take it now. */
char *wf__sched_wait_reason(wf_daemon *d, const char *platform);

/* run.c: one attempt of one job, from sources to published wheel. */
int wf__run_start(wf_daemon *d, const wf_job_row *job, wf_worker *w);
/* Cancels the run of job_id if one is in flight; requeue=1 puts the job back in the queue
 * (daemon shutdown), 0 ends it as cancelled (a person asked). Returns 1 if a run was found. */
int wf__run_cancel(wf_daemon *d, int64_t job_id, int requeue);
void wf__run_cancel_all(wf_daemon *d, int requeue);
/* Last log line of a job in flight (borrowed), or NULL. */
const char *wf__run_last_line(wf_daemon *d, int64_t job_id);

/* publish.c: regenerate a project's index page and the root page from the store;
 * publish_all (at start) also removes files under files/ that no artifact row owns. */
int wf__publish_project(wf_daemon *d, const char *project);
int wf__publish_all(wf_daemon *d);

/* api.c */
void wf__api_handle(const wf_http_request *req, wf_http_response *res, void *ctx);

/* daemon.c: the run list changed or a run ended (draining daemons may now finish). */
void wf__daemon_run_ended(wf_daemon *d);
/* Path of a job's log file (caller frees). */
char *wf__daemon_log_path(wf_daemon *d, int64_t job_id);

#endif
