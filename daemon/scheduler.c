/* scheduler.c - hands queued jobs to workers: strict platform match, free slot, no fallback.
 *
 * A pass runs from a zero-delay timer so that many wake-ups (a request with 40 jobs, several
 * builds ending at once) coalesce into one pass over the queue.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/internal.h"
#include "lib/log.h"

static int worker_serves(const wf_worker *w, const char *platform)
{
    for (size_t i = 0; i < w->cfg->n_platforms; i++)
        if (strcmp(w->cfg->platforms[i], platform) == 0)
            return 1;
    return 0;
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

/* Free slots over every worker serving the platform. */
static unsigned free_slots(wf_daemon *d, const char *platform)
{
    unsigned n = 0;
    for (size_t i = 0; i < d->n_workers; i++) {
        const wf_worker *w = &d->workers[i];
        if (worker_serves(w, platform) && w->busy < w->cfg->slots)
            n += w->cfg->slots - w->busy;
    }
    return n;
}

/* Starts the oldest queued jobs of one platform on its free slots. Asking per platform keeps
 * jobs that wait for a busy or missing platform from blocking every other platform. */
static void sched_platform(wf_daemon *d, const char *platform)
{
    unsigned slots = free_slots(d, platform);
    if (slots == 0)
        return;
    wf_job_row *jobs = NULL;
    size_t n = 0;
    if (wf_store_jobs_queued_platform(d->store, platform, (int)slots, &jobs, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        wf_worker *w = pick_worker(d, jobs[i].platform);
        if (w == NULL)
            break;
        int rc = wf__run_start(d, &jobs[i], w);
        if (rc != 0)
            wf_log_error("job %lld: cannot start on worker '%s': %s", (long long)jobs[i].id,
                         w->cfg->name, wf_strerror(rc));
    }
    wf_job_rows_free(jobs, n);
}

void wf__sched_run(wf_daemon *d)
{
    if (d->state != WF_DAEMON_RUNNING)
        return;
    for (size_t i = 0; i < d->n_workers; i++) {
        const wf_worker_config *c = d->workers[i].cfg;
        for (size_t p = 0; p < c->n_platforms; p++) {
            /* Each platform once, at the first worker that serves it. */
            int seen = 0;
            for (size_t j = 0; j < i && !seen; j++)
                seen = worker_serves(&d->workers[j], c->platforms[p]);
            if (!seen)
                sched_platform(d, c->platforms[p]);
        }
    }
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
