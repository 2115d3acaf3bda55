/* scheduler.c - hands queued jobs to workers: strict platform match, free slot, no fallback.
 *
 * A pass runs from a zero-delay timer so that many wake-ups (a request with 40 jobs, several
 * builds ending at once) coalesce into one pass over the queue.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/internal.h"
#include "lib/log.h"

/* How many queued jobs one pass looks at; the rest wait for the next pass. */
#define SCHED_WINDOW 512

static int worker_serves(const wf_worker *w, const char *platform)
{
    for (size_t i = 0; i < w->cfg->n_platforms; i++)
        if (strcmp(w->cfg->platforms[i], platform) == 0)
            return 1;
    return 0;
}

wf_worker *wf__sched_worker(wf_daemon *d, const char *name)
{
    for (size_t i = 0; i < d->n_workers; i++)
        if (strcmp(d->workers[i].cfg->name, name) == 0)
            return &d->workers[i];
    return NULL;
}

/* The least busy worker for the platform with a free slot, or NULL. Native workers win over
 * emulated ones at equal load, because emulation is many times slower. */
static wf_worker *pick_worker(wf_daemon *d, const char *platform)
{
    wf_worker *best = NULL;
    for (size_t i = 0; i < d->n_workers; i++) {
        wf_worker *w = &d->workers[i];
        if (!worker_serves(w, platform) || w->busy >= w->cfg->slots)
            continue;
        if (best == NULL || w->busy < best->busy ||
            (w->busy == best->busy && best->cfg->emulated && !w->cfg->emulated))
            best = w;
    }
    return best;
}

char *wf__sched_wait_reason(wf_daemon *d, const char *platform)
{
    int serving = 0;
    for (size_t i = 0; i < d->n_workers; i++)
        serving += worker_serves(&d->workers[i], platform);
    if (serving == 0)
        return wf_asprintf("no worker for %s: add one with '%s' in its platforms to the config",
                           platform, platform);
    if (d->state != WF_DAEMON_RUNNING)
        return wf_strdup("the daemon is shutting down; the job runs after the next start");
    if (pick_worker(d, platform) == NULL)
        return wf_asprintf("all %d worker(s) for %s are busy", serving, platform);
    return NULL;
}

void wf__sched_run(wf_daemon *d)
{
    if (d->state != WF_DAEMON_RUNNING)
        return;
    wf_job_row *jobs = NULL;
    size_t n = 0;
    if (wf_store_jobs_queued(d->store, SCHED_WINDOW, &jobs, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        wf_worker *w = pick_worker(d, jobs[i].platform);
        if (w == NULL)
            continue;
        int rc = wf__run_start(d, &jobs[i], w);
        if (rc != 0)
            wf_log_error("job %lld: cannot start on worker '%s': %s", (long long)jobs[i].id,
                         w->cfg->name, wf_strerror(rc));
    }
    wf_job_rows_free(jobs, n);
}

static void on_kick(uv_timer_t *t)
{
    wf__sched_run(t->data);
}

void wf__sched_kick(wf_daemon *d)
{
    if (d->state != WF_DAEMON_RUNNING || uv_is_active((uv_handle_t *)&d->kick))
        return;
    d->kick.data = d;
    uv_timer_start(&d->kick, on_kick, 0, 0);
}
