/* workers.c - the worker table: probes each engine or builder (child processes on the loop, with
 * backoff), tracks health and drain, and applies configuration reloads without disturbing the
 * builds of untouched workers.
 *
 * A probe is a short chain of commands (workers/health.h says which): the engine's version,
 * then, for an emulated worker, one emulation check per platform that is not the engine's. Its
 * verdict updates the worker's wf_health and schedules the next probe: a steady interval when
 * healthy, exponential backoff when not.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/internal.h"
#include "lib/configdiff.h"
#include "lib/log.h"
#include "workers/command.h"

extern char **environ;

typedef enum { PROBE_VERSION = 0, PROBE_EMULATION, PROBE_BUILDX } probe_step;

struct wf_worker_probe {
    wf_worker *w; /* holds a reference */
    unsigned generation;
    int detached; /* the worker stopped waiting for it (replaced, removed, closing) */
    probe_step step;
    wf_command *cmd;
    char *engine;    /* what the version step found */
    char **emulate;  /* platforms to check under emulation (NULL-terminated) */
    size_t next_emu; /* index of the platform being checked */
    char *image;     /* the image that check runs */
};

static void probe_start(wf_worker *w);

/* ---- lifetime ---- */

static void on_timer_closed(uv_handle_t *h)
{
    wf_worker *w = h->data;
    wf_daemon *d = w->d;
    wf_worker_config_free(w->cfg);
    wf_worker_config_free(w->pending);
    wf_health_release(&w->health);
    free(w->engine);
    free(w);
    d->workers_live--;
}

static void worker_unref(wf_worker *w)
{
    if (--w->refs > 0)
        return;
    if (w->timer_open) {
        uv_close((uv_handle_t *)&w->timer, on_timer_closed);
        return;
    }
    w->timer.data = w;
    on_timer_closed((uv_handle_t *)&w->timer);
}

static wf_worker *worker_new(wf_daemon *d, wf_worker_config *cfg)
{
    wf_worker *w = wf_calloc(1, sizeof(*w));
    w->d = d;
    w->cfg = cfg;
    w->refs = 1; /* the table's */
    wf_health_init(&w->health, wf_time_s());
    w->timer.data = w;
    if (uv_timer_init(d->loop, &w->timer) == 0)
        w->timer_open = 1;
    d->workers_live++;
    return w;
}

/* The worker stops waiting for its probe; the probe's callback still comes and lets go. */
static void probe_detach(wf_worker *w)
{
    wf_worker_probe *p = w->probe;
    if (p == NULL)
        return;
    w->probe = NULL;
    p->detached = 1;
    if (p->cmd != NULL)
        wf_command_cancel(p->cmd);
}

static void table_remove(wf_worker *w)
{
    wf_daemon *d = w->d;
    if (!w->in_table)
        return;
    for (size_t i = 0; i < d->n_workers; i++) {
        if (d->workers[i] == w) {
            memmove(&d->workers[i], &d->workers[i + 1],
                    (d->n_workers - i - 1) * sizeof(d->workers[0]));
            d->n_workers--;
            break;
        }
    }
    w->in_table = 0;
    if (w->timer_open)
        uv_timer_stop(&w->timer);
    probe_detach(w);
    worker_unref(w);
}

static void on_probe_timer(uv_timer_t *t)
{
    probe_start(t->data);
}

static void schedule_probe(wf_worker *w, uint64_t delay_ms)
{
    if (!w->timer_open || !w->in_table || w->d->workers_closing)
        return;
    uv_timer_start(&w->timer, on_probe_timer, delay_ms, 0);
}

/* ---- verdicts ---- */

static void verdict(wf_worker *w, int ok, const char *reason, const char *engine)
{
    wf_daemon *d = w->d;
    int64_t now = wf_time_s();
    w->last_probe = now;
    if (engine != NULL) {
        free(w->engine);
        w->engine = wf_strdup(engine);
    }
    int was_healthy = w->health.state == WF_HEALTH_HEALTHY;
    int changed = wf_health_record(&w->health, ok, reason, now);
    if (!ok)
        w->emulation_ok_ms = 0;
    if (changed && ok) {
        wf_log_info("worker '%s': healthy (engine %s)", w->cfg->name,
                    w->engine != NULL ? w->engine : "?");
        wf__sched_kick(d);
    } else if (changed || (!ok && was_healthy)) {
        wf_log_warn("worker '%s': unhealthy: %s; probing again in %llu s", w->cfg->name, reason,
                    (unsigned long long)(wf_health_next_probe_ms(&w->health) / 1000));
    } else if (!ok) {
        wf_log_debug("worker '%s': still unhealthy (%u failures): %s", w->cfg->name,
                     w->health.failures, reason);
    }
    schedule_probe(w, wf_health_next_probe_ms(&w->health));
}

void wf__worker_failed(wf_daemon *d, wf_worker *w, const char *reason)
{
    (void)d;
    if (w->health.state != WF_HEALTH_UNHEALTHY)
        wf_log_warn("worker '%s': unhealthy: %s", w->cfg->name, reason);
    wf_health_record(&w->health, 0, reason, wf_time_s());
    w->emulation_ok_ms = 0;
    /* A probe in flight decides soon enough; otherwise look again after the backoff. */
    if (w->probe == NULL)
        schedule_probe(w, wf_health_next_probe_ms(&w->health));
}

/* ---- probes ---- */

static void probe_free(wf_worker_probe *p)
{
    free(p->engine);
    free(p->image);
    wf_health_strings_free(p->emulate);
    wf_worker *w = p->w;
    if (w->probe == p)
        w->probe = NULL;
    free(p);
    worker_unref(w);
}

static void on_probe_done(const wf_command_result *r, void *ctx);

/* Spawns the command for the probe's current step. 0, or the spawn error. */
static int probe_spawn(wf_worker_probe *p, char **argv)
{
    wf_worker *w = p->w;
    char **env = wf_health_env(w->cfg, environ);
    int rc =
        wf_command_start(&p->cmd, w->d->loop, (const char *const *)argv, (const char *const *)env,
                         WF_HEALTH_PROBE_TIMEOUT_MS, on_probe_done, p);
    if (rc != 0)
        p->cmd = NULL;
    wf_health_strings_free(env);
    wf_health_strings_free(argv);
    return rc;
}

/* Ends the probe with a verdict (unless the worker stopped waiting for it). */
static void probe_end(wf_worker_probe *p, int ok, const char *reason)
{
    wf_worker *w = p->w;
    int current = !p->detached && w->probe == p && !w->d->workers_closing;
    if (current) {
        w->probe = NULL;
        verdict(w, ok, reason, p->engine);
    }
    probe_free(p);
}

/* The next emulation check, or the healthy verdict when none is left. */
static void probe_next_emulation(wf_worker_probe *p)
{
    wf_worker *w = p->w;
    const char *platform = p->emulate[p->next_emu];
    if (platform == NULL) {
        w->emulation_ok_ms = uv_now(w->d->loop);
        probe_end(p, 1, NULL);
        return;
    }
    const wf_image_config *img = wf_config_image(w->d->cfg, platform);
    if (img == NULL) {
        char *why = wf_asprintf("no image is configured for %s", platform);
        probe_end(p, 0, why);
        free(why);
        return;
    }
    p->step = PROBE_EMULATION;
    free(p->image);
    p->image = wf_strdup(img->runtime ? img->runtime : img->image);
    int rc =
        probe_spawn(p, wf_health_emulation_argv(w->cfg, w->d->docker.path, platform, p->image));
    if (rc != 0) {
        char *why = wf_asprintf("cannot run %s: %s", w->d->docker.path, wf_strerror(rc));
        probe_end(p, 0, why);
        free(why);
    }
}

static int emulation_due(const wf_worker *w)
{
    uint64_t now = uv_now(w->d->loop);
    return w->health.state != WF_HEALTH_HEALTHY || w->emulation_ok_ms == 0 ||
           now - w->emulation_ok_ms >= WF_HEALTH_EMULATION_RECHECK_MS;
}

static void after_version(wf_worker_probe *p, const wf_command_result *r)
{
    wf_worker *w = p->w;
    char *why = NULL;
    if (wf_health_check_version(w->cfg, r->exit_status, r->out, r->err, &p->engine, &p->emulate,
                                &why) != 0) {
        probe_end(p, 0, why);
        free(why);
        return;
    }
    if (p->emulate[0] == NULL || !emulation_due(w)) {
        probe_end(p, 1, NULL);
        return;
    }
    p->next_emu = 0;
    probe_next_emulation(p);
}

static void on_probe_done(const wf_command_result *r, void *ctx)
{
    wf_worker_probe *p = ctx;
    wf_worker *w = p->w;
    p->cmd = NULL;
    if (p->detached || w->probe != p || w->d->workers_closing || p->generation != w->generation) {
        probe_free(p);
        return;
    }
    char *why = NULL;
    if (r->status == WF_ETIMEOUT)
        why =
            wf_asprintf("the probe did not answer within %u s", WF_HEALTH_PROBE_TIMEOUT_MS / 1000);
    else if (r->status != 0)
        why = wf_asprintf("cannot read the probe's output: %s", wf_strerror(r->status));
    if (why != NULL) {
        probe_end(p, 0, why);
        free(why);
        return;
    }
    switch (p->step) {
    case PROBE_VERSION: after_version(p, r); break;
    case PROBE_EMULATION:
        if (wf_health_check_emulation(p->emulate[p->next_emu], p->image, r->exit_status, r->out,
                                      r->err, &why) != 0) {
            probe_end(p, 0, why);
            free(why);
            return;
        }
        p->next_emu++;
        probe_next_emulation(p);
        break;
    case PROBE_BUILDX:
        if (wf_health_check_buildx(w->cfg, r->exit_status, r->out, r->err, &why) != 0) {
            probe_end(p, 0, why);
            free(why);
            return;
        }
        probe_end(p, 1, NULL);
        break;
    }
}

static void probe_start(wf_worker *w)
{
    wf_daemon *d = w->d;
    if (w->probe != NULL || !w->in_table || d->workers_closing)
        return;
    wf_worker_probe *p = wf_calloc(1, sizeof(*p));
    p->w = w;
    p->generation = w->generation;
    w->refs++;
    w->probe = p;
    int buildx = strcmp(w->cfg->driver, "buildx") == 0;
    if (buildx && d->docker.mode != WF_DOCKER_BUILDX) {
        char *why = wf_asprintf("the docker client %s has no buildx plugin; driver buildx needs "
                                "it (install docker-buildx, or use driver docker)",
                                d->docker.path);
        probe_end(p, 0, why);
        free(why);
        return;
    }
    p->step = buildx ? PROBE_BUILDX : PROBE_VERSION;
    int rc = probe_spawn(p, buildx ? wf_health_buildx_argv(w->cfg, d->docker.path)
                                   : wf_health_version_argv(w->cfg, d->docker.path));
    if (rc != 0) {
        char *why = wf_asprintf("cannot run %s: %s", d->docker.path, wf_strerror(rc));
        probe_end(p, 0, why);
        free(why);
    }
}

/* ---- the table ---- */

static void table_add(wf_daemon *d, wf_worker *w)
{
    d->workers = wf_realloc(d->workers, (d->n_workers + 1) * sizeof(d->workers[0]));
    d->workers[d->n_workers++] = w;
    w->in_table = 1;
}

/* The drained flag a person set on a worker of this name, from the store. */
static void load_drained(wf_daemon *d, wf_worker *w)
{
    wf_worker_flag_row *rows = NULL;
    size_t n = 0;
    if (wf_store_workers_drained(d->store, &rows, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].name, w->cfg->name) == 0) {
            w->drained = 1;
            w->drained_since = rows[i].changed_at;
        }
    }
    wf_worker_flag_rows_free(rows, n);
}

static wf_worker *add_worker(wf_daemon *d, const wf_worker_config *cfg)
{
    wf_worker *w = worker_new(d, wf_worker_config_dup(cfg));
    load_drained(d, w);
    table_add(d, w);
    schedule_probe(w, 0);
    return w;
}

int wf__workers_start(wf_daemon *d)
{
    for (size_t i = 0; i < d->cfg->n_workers; i++) {
        wf_worker *w = add_worker(d, &d->cfg->workers[i]);
        if (w->drained)
            wf_log_info("worker '%s': drained since %lld (wheelfarm undrain %s)", w->cfg->name,
                        (long long)w->drained_since, w->cfg->name);
    }
    return 0;
}

void wf__workers_close(wf_daemon *d)
{
    d->workers_closing = 1;
    while (d->n_workers > 0)
        table_remove(d->workers[d->n_workers - 1]);
}

void wf__workers_free(wf_daemon *d)
{
    free(d->workers);
    d->workers = NULL;
    d->n_workers = 0;
    for (size_t i = 0; i < d->n_cursors; i++)
        free(d->cursors[i].platform);
    free(d->cursors);
    d->cursors = NULL;
    d->n_cursors = 0;
}

wf_worker *wf__worker_find(wf_daemon *d, const char *name)
{
    for (size_t i = 0; i < d->n_workers; i++)
        if (strcmp(d->workers[i]->cfg->name, name) == 0)
            return d->workers[i];
    return NULL;
}

/* ---- state shown to people ---- */

int wf__worker_available(const wf_worker *w)
{
    return w->in_table && !w->drained && !w->removed && w->pending == NULL &&
           w->health.state == WF_HEALTH_HEALTHY;
}

const char *wf__worker_state(const wf_worker *w)
{
    if (w->drained || w->removed || w->pending != NULL)
        return "draining";
    return wf_health_state_name(w->health.state);
}

int64_t wf__worker_since(const wf_worker *w)
{
    if (w->removed || w->pending != NULL)
        return w->leaving_since;
    if (w->drained)
        return w->drained_since;
    return w->health.since;
}

char *wf__worker_reason(const wf_worker *w)
{
    wf_buf b = WF_BUF_INIT;
    if (w->removed)
        wf_buf_addf(&b, "removed from the configuration; leaves when its %u build(s) finish",
                    w->busy);
    else if (w->pending != NULL)
        wf_buf_addf(&b, "changed in the configuration; replaced when its %u build(s) finish",
                    w->busy);
    else if (w->drained)
        wf_buf_addf(&b, "drained: takes no new jobs%s ('wheelfarm undrain %s' resumes it)",
                    w->busy > 0 ? ", running builds finish" : "", w->cfg->name);
    if (w->health.state == WF_HEALTH_UNHEALTHY)
        wf_buf_addf(&b, "%s%s", b.len > 0 ? "; unhealthy: " : "", w->health.reason);
    else if (w->health.state == WF_HEALTH_PROBING)
        wf_buf_addf(&b, "%snot probed yet", b.len > 0 ? "; " : "");
    if (b.len == 0) {
        wf_buf_release(&b);
        return NULL;
    }
    return wf_buf_detach(&b);
}

int wf__worker_set_drained(wf_daemon *d, wf_worker *w, int drained)
{
    int64_t now = wf_time_s();
    int rc = wf_store_worker_set_drained(d->store, w->cfg->name, drained, now);
    if (rc != 0)
        return rc;
    if (w->drained != drained) {
        w->drained = drained;
        w->drained_since = now;
        wf_log_info("worker '%s': %s%s", w->cfg->name,
                    drained ? "drained: takes no new jobs" : "undrained: takes jobs again",
                    drained && w->busy > 0 ? ", running builds finish" : "");
    }
    if (!drained)
        wf__sched_kick(d);
    return 0;
}

/* ---- runs ---- */

/* Points the worker at a new target: its old probe results mean nothing now. */
static void replace_now(wf_worker *w, wf_worker_config *cfg)
{
    wf_worker_config_free(w->cfg);
    w->cfg = cfg;
    w->generation++;
    probe_detach(w);
    wf_health_release(&w->health);
    wf_health_init(&w->health, wf_time_s());
    free(w->engine);
    w->engine = NULL;
    w->emulation_ok_ms = 0;
    w->leaving_since = 0;
    wf_log_info("worker '%s': now %s %s; probing it", cfg->name, cfg->driver,
                cfg->context    ? cfg->context
                : cfg->builder  ? cfg->builder
                : cfg->endpoint ? cfg->endpoint
                                : "(the client's default engine)");
    schedule_probe(w, 0);
}

/* A leaving worker goes, or a changed one takes its new target, once no run uses it. */
static void settle(wf_worker *w)
{
    if (w->busy > 0 || !w->in_table)
        return;
    if (w->removed) {
        wf_log_info("worker '%s': removed (its builds have finished)", w->cfg->name);
        table_remove(w);
    } else if (w->pending != NULL) {
        wf_worker_config *next = w->pending;
        w->pending = NULL;
        replace_now(w, next);
    }
}

void wf__worker_run_started(wf_worker *w)
{
    w->busy++;
    w->refs++;
}

void wf__worker_run_ended(wf_worker *w)
{
    w->busy--;
    settle(w); /* may drop the table's reference; the run's keeps w alive until below */
    worker_unref(w);
}

/* ---- reload ---- */

/* The configuration a worker will have once settled. */
static wf_worker_config *intended(wf_worker *w)
{
    return w->pending != NULL ? w->pending : w->cfg;
}

static void set_slots_labels(wf_worker_config *dst, const wf_worker_config *src)
{
    wf_worker_config *copy = wf_worker_config_dup(src);
    dst->slots = src->slots;
    char **labels = dst->labels;
    size_t n = dst->n_labels;
    dst->labels = copy->labels;
    dst->n_labels = copy->n_labels;
    copy->labels = labels;
    copy->n_labels = n;
    wf_worker_config_free(copy);
}

static void warn_about(const wf_worker_config *w)
{
    char *warning = wf_config_worker_warning(w);
    if (warning != NULL)
        wf_log_warn("reload: %s", warning);
    free(warning);
}

static void apply_change(wf_daemon *d, const wf_worker_change *c, wf_buf *log)
{
    wf_worker *w = wf__worker_find(d, c->name);
    switch (c->kind) {
    case WF_WORKER_KEPT: return;
    case WF_WORKER_UPDATED:
        if (w != NULL)
            set_slots_labels(intended(w), c->after);
        wf_buf_addf(log, "; worker '%s' updated in place (slots %u)", c->name, c->after->slots);
        break;
    case WF_WORKER_CHANGED:
    case WF_WORKER_ADDED:
        /* Said at start for the workers configured then; a reload says it for the ones it
         * brings in, and only once: kept and updated workers were warned about already. */
        warn_about(c->after);
        if (w == NULL) {
            add_worker(d, c->after);
            wf_buf_addf(log, "; worker '%s' added", c->name);
            break;
        }
        /* A changed worker, or one a previous reload removed that still finishes builds. */
        w->removed = 0;
        if (wf_worker_config_same_target(w->cfg, c->after)) {
            wf_worker_config_free(w->pending);
            w->pending = NULL;
            set_slots_labels(w->cfg, c->after);
            wf_buf_addf(log, "; worker '%s' kept", c->name);
            break;
        }
        wf_worker_config_free(w->pending);
        w->pending = wf_worker_config_dup(c->after);
        w->leaving_since = wf_time_s();
        wf_buf_addf(log, "; worker '%s' changed: %s", c->name,
                    w->busy > 0 ? "drains, then switches to its new settings"
                                : "switches to its new settings now");
        settle(w);
        break;
    case WF_WORKER_REMOVED:
        if (w == NULL)
            return;
        wf_worker_config_free(w->pending);
        w->pending = NULL;
        w->removed = 1;
        w->leaving_since = wf_time_s();
        wf_buf_addf(log, "; worker '%s' removed: %s", c->name,
                    w->busy > 0 ? "drains, then leaves" : "gone now");
        settle(w);
        break;
    }
}

/* Orders the table like `next`, with leaving workers last. */
static void reorder(wf_daemon *d, const wf_config *next)
{
    size_t n = 0;
    wf_worker **v = wf_calloc(d->n_workers ? d->n_workers : 1, sizeof(*v));
    for (size_t i = 0; i < next->n_workers; i++) {
        wf_worker *w = wf__worker_find(d, next->workers[i].name);
        if (w != NULL && !w->removed)
            v[n++] = w;
    }
    for (size_t i = 0; i < d->n_workers; i++)
        if (d->workers[i]->removed)
            v[n++] = d->workers[i];
    /* Every listed worker is in next or leaving: the table is only reordered. */
    assert(n == d->n_workers);
    free(d->workers);
    d->workers = v;
}

void wf__workers_reload(wf_daemon *d, const wf_config *next, wf_buf *log)
{
    wf_worker_change *changes = NULL;
    size_t n = 0;
    /* d->cfg holds the workers as last configured: what the table is settling towards. */
    wf_config_diff_workers(d->cfg, next, &changes, &n);
    for (size_t i = 0; i < n; i++)
        apply_change(d, &changes[i], log);
    free(changes);
    reorder(d, next);
    wf__sched_kick(d);
}
