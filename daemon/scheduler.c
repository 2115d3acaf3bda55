/* scheduler.c - hands queued jobs to workers: strict platform match, healthy and undrained
 * workers only, a free slot, no fallback; priorities and fairness come from the store's queue
 * order (wf_store_jobs_next), which leaves out jobs in a backoff. A job whose last
 * infrastructure failure happened on a worker goes elsewhere when another worker has a free
 * slot; a pass is due again when the next backoff ends.
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

static int has_slot(const wf_worker *w)
{
    return w->busy < w->cfg->slots;
}

wf_worker *wf__sched_pick_avoiding(wf_worker *const *workers, size_t n, const char *platform,
                                   const char *avoid)
{
    wf_worker *best = NULL, *avoided = NULL;
    for (size_t i = 0; i < n; i++) {
        wf_worker *w = workers[i];
        if (!wf__worker_available(w) || !worker_serves(w, platform) || !has_slot(w))
            continue;
        if (avoid != NULL && strcmp(w->cfg->name, avoid) == 0) {
            avoided = w;
            continue;
        }
        /* Least busy first; native before emulated at equal load (emulation is many times
         * slower); else the first listed. */
        if (best == NULL || w->busy < best->busy ||
            (w->busy == best->busy && best->cfg->emulated && !w->cfg->emulated))
            best = w;
    }
    return best != NULL ? best : avoided;
}

wf_worker *wf__sched_pick(wf_worker *const *workers, size_t n, const char *platform)
{
    return wf__sched_pick_avoiding(workers, n, platform, NULL);
}

/* Appends "'name' (detail)" entries of one kind to b, comma-separated. */
static void list_names(wf_buf *b, wf_worker *const *workers, size_t n, const char *platform,
                       const char *kind)
{
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        const wf_worker *w = workers[i];
        if (!worker_serves(w, platform) || strcmp(wf__worker_state(w), kind) != 0)
            continue;
        wf_buf_addf(b, "%s'%s'", first ? "" : ", ", w->cfg->name);
        if (strcmp(kind, "unhealthy") == 0 && w->health.reason != NULL)
            wf_buf_addf(b, " (%s)", w->health.reason);
        first = 0;
    }
}

char *wf__sched_explain(wf_worker *const *workers, size_t n, const char *platform)
{
    unsigned serving = 0, available = 0, unhealthy = 0, probing = 0, draining = 0;
    for (size_t i = 0; i < n; i++) {
        const wf_worker *w = workers[i];
        if (!worker_serves(w, platform))
            continue;
        serving++;
        const char *st = wf__worker_state(w);
        if (wf__worker_available(w)) {
            if (has_slot(w))
                return NULL;
            available++;
        } else if (strcmp(st, "draining") == 0) {
            draining++;
        } else if (strcmp(st, "unhealthy") == 0) {
            unhealthy++;
        } else {
            probing++;
        }
    }
    if (serving == 0)
        return wf_asprintf("no healthy worker for %s: no worker declares it (add one with '%s' in "
                           "its platforms to the config)",
                           platform, platform);
    if (available > 0)
        return wf_asprintf("all %u worker(s) for %s are busy", available, platform);
    wf_buf b = WF_BUF_INIT;
    wf_buf_addf(&b, "no healthy worker for %s:", platform);
    const struct {
        unsigned count;
        const char *kind, *verb;
    } parts[] = {
        {unhealthy, "unhealthy", "unhealthy"},
        {probing, "probing", "not probed yet"},
        {draining, "draining", "draining"},
    };
    const char *sep = " ";
    for (size_t i = 0; i < WF_ARRAY_SIZE(parts); i++) {
        if (parts[i].count == 0)
            continue;
        wf_buf_adds(&b, sep);
        list_names(&b, workers, n, platform, parts[i].kind);
        wf_buf_addf(&b, " %s %s", parts[i].count == 1 ? "is" : "are", parts[i].verb);
        sep = "; ";
    }
    return wf_buf_detach(&b);
}

char *wf__sched_wait_reason(wf_daemon *d, const char *platform)
{
    char *why = wf__sched_explain(d->workers, d->n_workers, platform);
    if (why == NULL && d->state != WF_DAEMON_RUNNING)
        return wf_strdup("the daemon is shutting down; the job runs after the next start");
    return why;
}

/* Free slots over every worker that may take a job of the platform now. */
static unsigned free_slots(wf_worker *const *workers, size_t n, const char *platform)
{
    unsigned slots = 0;
    for (size_t i = 0; i < n; i++) {
        const wf_worker *w = workers[i];
        if (wf__worker_available(w) && worker_serves(w, platform) && has_slot(w))
            slots += w->cfg->slots - w->busy;
    }
    return slots;
}

int wf__sched_pass(wf_store *store, wf_worker **const *workers, const size_t *n_workers,
                   wf_sched_cursor *cur, const char *platform, wf_sched_ready_fn ready,
                   wf_sched_start_fn start, void *ctx)
{
    unsigned slots = free_slots(*workers, *n_workers, platform);
    if (slots == 0)
        return 0;
    wf_job_row *jobs = NULL;
    size_t n = 0;
    int started = 0;
    if (wf_store_jobs_next(store, platform, cur->last_request, (int)slots, &jobs, &n) != 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (ready != NULL && !ready(&jobs[i], ctx))
            continue;
        /* Picked afresh each time: a start may end at once and change the table. */
        wf_worker *w =
            wf__sched_pick_avoiding(*workers, *n_workers, jobs[i].platform, jobs[i].avoid_worker);
        if (w == NULL)
            break;
        cur->last_request = jobs[i].request_id;
        if (start(&jobs[i], w, ctx) == 0)
            started++;
    }
    wf_job_rows_free(jobs, n);
    return started;
}

static wf_sched_cursor *cursor(wf_daemon *d, const char *platform)
{
    for (size_t i = 0; i < d->n_cursors; i++)
        if (strcmp(d->cursors[i].platform, platform) == 0)
            return &d->cursors[i];
    d->cursors = wf_realloc(d->cursors, (d->n_cursors + 1) * sizeof(*d->cursors));
    wf_sched_cursor *c = &d->cursors[d->n_cursors++];
    c->platform = wf_strdup(platform);
    c->last_request = 0;
    return c;
}

/* A pull request's job waits while its head's recipes are being loaded (after a restart). */
static int job_ready(const wf_job_row *job, void *ctx)
{
    wf_daemon *d = ctx;
    if (job->channel == NULL || job->channel[0] == '\0')
        return 1;
    wf_request_origin o = {0};
    wf_store_request_origin(d->store, job->request_id, &o);
    int ready = wf__channel_ready(d, job->channel, o.head_sha);
    wf_request_origin_release(&o);
    return ready;
}

static int start_run(const wf_job_row *job, wf_worker *w, void *ctx)
{
    wf_daemon *d = ctx;
    int rc = wf__run_start(d, job, w);
    if (rc != 0)
        wf_log_error("job %lld: cannot start on worker '%s': %s", (long long)job->id, w->cfg->name,
                     wf_strerror(rc));
    return rc;
}

/* Starts the next queued jobs of one platform on its free slots. Asking per platform keeps
 * jobs that wait for a busy or missing platform from blocking every other platform. */
static void sched_platform(wf_daemon *d, const char *platform)
{
    wf__sched_pass(d->store, &d->workers, &d->n_workers, cursor(d, platform), platform, job_ready,
                   start_run, d);
}

static void on_kick(uv_timer_t *t);

/* Jobs in a backoff start when it ends: the next pass is due then, unless one comes sooner. */
static void wake_after_backoff(wf_daemon *d)
{
    int64_t next = 0;
    if (uv_is_active((uv_handle_t *)&d->kick) || wf_store_backoff_next(d->store, &next) != 0 ||
        next == 0)
        return;
    int64_t wait_s = next - wf_time_s();
    d->kick.data = d;
    uv_timer_start(&d->kick, on_kick, wait_s > 0 ? (uint64_t)wait_s * 1000u : 0, 0);
}

void wf__sched_run(wf_daemon *d)
{
    if (d->state != WF_DAEMON_RUNNING)
        return;
    /* The platforms first: starting runs may change the worker table under a loop over it. */
    char **platforms = NULL;
    size_t n = 0;
    for (size_t i = 0; i < d->n_workers; i++) {
        const wf_worker_config *c = d->workers[i]->cfg;
        for (size_t p = 0; p < c->n_platforms; p++) {
            size_t j = 0;
            while (j < n && strcmp(platforms[j], c->platforms[p]) != 0)
                j++;
            if (j < n)
                continue;
            platforms = wf_realloc(platforms, (n + 1) * sizeof(char *));
            platforms[n++] = wf_strdup(c->platforms[p]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (d->state == WF_DAEMON_RUNNING)
            sched_platform(d, platforms[i]);
        free(platforms[i]);
    }
    free(platforms);
    if (d->state == WF_DAEMON_RUNNING)
        wake_after_backoff(d);
}

static void on_kick(uv_timer_t *t)
{
    wf__sched_run(t->data);
}

void wf__sched_kick(wf_daemon *d)
{
    /* A pending pass at the end of a backoff is brought forward; a due one is left alone. */
    if (d->state != WF_DAEMON_RUNNING ||
        (uv_is_active((uv_handle_t *)&d->kick) && uv_timer_get_due_in(&d->kick) == 0))
        return;
    d->kick.data = d;
    uv_timer_start(&d->kick, on_kick, 0, 0);
}
