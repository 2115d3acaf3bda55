/* bump.c - version bumps of tracking recipes: the schedule, one run at a time, its report. */
#include "daemon/bump.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/upstream.h"
#include "lib/bump.h"
#include "lib/log.h"
#include "lib/pep503.h"
#include "lib/specifier.h"

/* Project pages fetched or parsed at once: polite to the upstream index, and bounded memory
 * (each page may be up to WF_FETCH_MAX_DOC). */
#define BUMP_MAX_IN_FLIGHT 4
/* A timer never sleeps longer, so a wall-clock jump delays a firing by at most this much. */
#define BUMP_MAX_SLEEP_MS (3600 * 1000)
/* Versions a report lists per recipe (newest first); the rest are only counted. */
#define BUMP_REPORT_MAX_VERSIONS 50

typedef struct bump_run bump_run;

typedef enum { ITEM_WAITING = 0, ITEM_FETCHING, ITEM_PARSING, ITEM_DONE } item_phase;

/* One tracking recipe in a run. What the run needs of the recipe is copied: the recipe set may
 * be replaced (reloaded) while its page is being fetched. */
typedef struct bump_item {
    bump_run *run;
    char *name;    /* as the recipe writes it */
    char *project; /* normalized */
    char *track;
    int64_t min_age_s;
    int prereleases;
    char *page_url; /* NULL when no upstream index is configured */
    item_phase phase;
    int html_only; /* asked again for HTML after the JSON answer was refused or unreadable */

    uv_work_t work; /* parsing the page on the thread pool */
    char *body;
    size_t len;
    char *content_type;
    int parse_rc;
    wf_upstream_listing listing;

    /* The verdict. outcome: "build" until the run decides between "queued", "would-build" and
     * "deferred"; else "built", "active", "nothing" or "error". */
    const char *outcome;
    char *error;
    char *version; /* the newest eligible version, or NULL */
    char *summary;
    cJSON *versions; /* the report's per-version entries, newest first */
    size_t versions_omitted;
    int64_t request_id;
    size_t n_jobs;
} bump_item;

struct bump_run {
    wf_bump *b;
    int64_t id;
    const char *kind; /* static: "schedule", "catch-up", "manual" */
    int dry_run;
    int64_t started_at;
    bump_item *items;
    size_t n, next, in_flight, n_done;
    int checking; /* inside run_check: a page failing at once must not end the run under it */
};

struct wf_bump {
    wf_daemon *d;
    uv_timer_t timer;
    int timer_open;
    int closing;
    void (*on_closed)(wf_daemon *d);
    int64_t next;  /* the next firing (epoch seconds), 0 without a schedule */
    bump_run *run; /* the run in flight */
    int pending;   /* a scheduled firing waits for the run in flight */
};

static void run_check(bump_run *run);
static void run_start_scheduled(wf_bump *b, const char *kind);

/* ---- time ---- */

static int64_t now_ms(void)
{
    uv_timeval64_t tv;
    if (uv_gettimeofday(&tv) != 0)
        return wf_time_s() * 1000;
    return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- items ---- */

static void item_release(bump_item *it)
{
    free(it->name);
    free(it->project);
    free(it->track);
    free(it->page_url);
    free(it->body);
    free(it->content_type);
    wf_upstream_listing_release(&it->listing);
    free(it->error);
    free(it->version);
    free(it->summary);
    cJSON_Delete(it->versions);
}

static void item_init(bump_item *it, bump_run *run, const wf_recipe *r, const char *index)
{
    memset(it, 0, sizeof(*it));
    it->run = run;
    it->name = wf_strdup(r->name);
    it->project = wf_strdup(r->normalized);
    it->track = wf_strdup(r->track);
    it->min_age_s = r->min_age_s;
    it->prereleases = r->prereleases;
    if (index[0] != '\0') {
        size_t n = strlen(index);
        it->page_url = wf_asprintf("%s%s%s/", index, index[n - 1] == '/' ? "" : "/", r->normalized);
    }
}

/* Ends an item's part of the run: it frees its slot for the next page. */
static void item_done(bump_item *it)
{
    bump_run *run = it->run;
    if (it->phase == ITEM_FETCHING || it->phase == ITEM_PARSING)
        run->in_flight--;
    it->phase = ITEM_DONE;
    run->n_done++;
    run_check(run);
}

static void item_fail(bump_item *it, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void item_fail(bump_item *it, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(it->error);
    it->error = wf_vasprintf(fmt, ap);
    va_end(ap);
    it->outcome = "error";
    item_done(it);
}

/* ---- judging one recipe's versions ---- */

/* What wheelfarm has of project==version: built when every build key has a wheel, active when
 * the rest are queued or running. Plans with the recipe set in force now. */
static int version_have(wf_daemon *d, const char *project, const char *version, wf_bump_have *out,
                        char **errmsg)
{
    char *spec = wf_asprintf("%s==%s", project, version);
    const char *specs[] = {spec};
    const wf_plan_request req = {specs, 1, NULL, 0, NULL, 0};
    wf_plan plan = {NULL, 0};
    size_t built = 0, active = 0;
    int rc = wf_plan_build(&plan, d->recipes, d->cfg, &req, errmsg);
    free(spec);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < plan.n && rc == 0; i++) {
        wf_artifact_row a = {0};
        int64_t job = 0;
        if (wf_store_artifact_by_key(d->store, plan.jobs[i].build_key, &a) == 0) {
            built++;
            wf_artifact_row_release(&a);
        } else if ((rc = wf_store_job_active_for_key(d->store, plan.jobs[i].build_key, &job)) ==
                       0 &&
                   job != 0) {
            active++;
        }
    }
    if (rc == 0) {
        if (plan.n > 0 && built == plan.n)
            *out = WF_BUMP_IS_BUILT;
        else if (active > 0 && built + active == plan.n)
            *out = WF_BUMP_IS_ACTIVE;
        else
            *out = WF_BUMP_NOT_BUILT;
    } else {
        *errmsg = wf_strdup("cannot read the state database (see the daemon's log)");
    }
    wf_plan_release(&plan);
    return rc;
}

/* The time each release's age counts from: its upload time, else when wheelfarm first saw it
 * (recorded now, the first time). Only live sdists need one. */
static void fill_times(wf_daemon *d, const bump_item *it, wf_bump_release *rel, int64_t now)
{
    int tx = wf_store_begin(d->store) == 0;
    for (size_t i = 0; i < it->listing.n; i++) {
        const wf_upstream_release *u = &it->listing.items[i];
        if (u->upload_time > 0) {
            rel[i].since = u->upload_time;
            rel[i].since_upload = 1;
        } else if (u->has_sdist && !u->yanked) {
            int64_t seen = 0;
            if (wf_store_bump_seen(d->store, it->project, u->version, now, &seen) == 0)
                rel[i].since = seen;
        }
    }
    if (tx && wf_store_commit(d->store) != 0)
        wf_log_warn("bump run %lld: %s: cannot record when versions were first seen",
                    (long long)it->run->id, it->name);
}

static void add_time(cJSON *o, const char *key, int64_t t)
{
    if (t > 0)
        cJSON_AddNumberToObject(o, key, (double)t);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *versions_json(const wf_bump_release *rel, size_t n, const wf_bump_verdict *v,
                            const wf_bump_policy *p, size_t *omitted)
{
    cJSON *arr = cJSON_CreateArray();
    size_t *order = wf_calloc(n ? n : 1, sizeof(*order));
    wf_bump_order(rel, n, order);
    *omitted = n > BUMP_REPORT_MAX_VERSIONS ? n - BUMP_REPORT_MAX_VERSIONS : 0;
    for (size_t k = 0; k < n && k < BUMP_REPORT_MAX_VERSIONS; k++) {
        const wf_bump_release *r = &rel[order[k]];
        cJSON *o = cJSON_CreateObject();
        char *why = wf_bump_reason(r, v[order[k]], p);
        cJSON_AddStringToObject(o, "version", r->version);
        cJSON_AddStringToObject(o, "verdict", wf_bump_verdict_name(v[order[k]]));
        cJSON_AddStringToObject(o, "reason", why);
        add_time(o, "uploaded_at", r->since_upload ? r->since : 0);
        add_time(o, "first_seen", r->since_upload ? 0 : r->since);
        cJSON_AddItemToArray(arr, o);
        free(why);
    }
    free(order);
    return arr;
}

static void item_judge(bump_item *it)
{
    wf_daemon *d = it->run->b->d;
    size_t n = it->listing.n;
    wf_bump_release *rel = wf_calloc(n ? n : 1, sizeof(*rel));
    wf_bump_verdict *verdicts = wf_calloc(n ? n : 1, sizeof(*verdicts));
    wf_specifier *spec = NULL;
    char *err = NULL;
    int64_t now = wf_time_s();
    if (wf_specifier_parse(&spec, it->track, strlen(it->track), NULL) != 0) {
        it->outcome = "error";
        it->error = wf_asprintf("invalid track '%s'", it->track); /* validated at load */
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const wf_upstream_release *u = &it->listing.items[i];
        rel[i].version = u->version;
        rel[i].has_sdist = u->has_sdist;
        rel[i].yanked = u->yanked;
        rel[i].yanked_reason = u->yanked_reason;
    }
    fill_times(d, it, rel, now);
    const wf_bump_policy policy = {spec, it->track, it->prereleases, it->min_age_s, now};
    int chosen = wf_bump_select(rel, n, &policy, verdicts);
    if (chosen >= 0) {
        if (version_have(d, it->project, rel[chosen].version, &rel[chosen].have, &err) != 0) {
            it->outcome = "error";
            it->error = err;
            err = NULL;
            goto out;
        }
        chosen = wf_bump_select(rel, n, &policy, verdicts);
        it->version = wf_strdup(rel[chosen].version);
    }
    static const char *const outcomes[] = {
        [WF_BUMP_BUILD] = "build", [WF_BUMP_BUILT] = "built", [WF_BUMP_ACTIVE] = "active"};
    it->outcome = chosen >= 0 ? outcomes[verdicts[chosen]] : "nothing";
    it->summary = wf_bump_summary(rel, n, verdicts, chosen, &policy);
    it->versions = versions_json(rel, n, verdicts, &policy, &it->versions_omitted);
out:
    wf_specifier_free(spec);
    free(rel);
    free(verdicts);
    free(err);
}

/* ---- fetching and parsing one project page ---- */

static void fetch_item(bump_item *it);

static void parse_work(uv_work_t *w)
{
    bump_item *it = w->data;
    it->parse_rc = wf_upstream_list(&it->listing, it->content_type, it->body, it->len, it->project);
}

static void parse_after(uv_work_t *w, int status)
{
    bump_item *it = w->data;
    free(it->body);
    it->body = NULL;
    if (status != 0 || it->run->b->closing) {
        item_fail(it, "cancelled");
        return;
    }
    if (it->parse_rc != 0 && !it->html_only) {
        /* JSON that does not parse: the same page as HTML may still be usable. */
        wf_log_warn("bump run %lld: %s: %s is not valid PEP 691 JSON; asking for HTML",
                    (long long)it->run->id, it->name, it->page_url);
        it->html_only = 1;
        it->phase = ITEM_WAITING;
        it->run->in_flight--;
        fetch_item(it);
        return;
    }
    if (it->parse_rc != 0) {
        item_fail(it, "cannot read the project page %s: %s", it->page_url,
                  wf_strerror(it->parse_rc));
        return;
    }
    item_judge(it);
    item_done(it);
}

static void on_page(int err, long status, const char *content_type, const char *body, size_t len,
                    const char *message, void *ctx)
{
    bump_item *it = ctx;
    if (it->run->b->closing || err == UV_ECANCELED) {
        item_fail(it, "cancelled");
        return;
    }
    if (err != 0) {
        item_fail(it, "upstream index: %s (check upstream_index in the config)", message);
        return;
    }
    if ((status == 406 || status == 415) && !it->html_only) {
        it->html_only = 1; /* the index refuses our Accept header: ask for plain PEP 503 */
        it->phase = ITEM_WAITING;
        it->run->in_flight--;
        fetch_item(it);
        return;
    }
    if (status == 404) {
        item_fail(it, "the upstream index has no project '%s' (%s answered HTTP 404)", it->project,
                  it->page_url);
        return;
    }
    if (status < 200 || status > 299) {
        item_fail(it, "the upstream index answered HTTP %ld for %s", status, it->page_url);
        return;
    }
    it->body = wf_malloc(len + 1);
    memcpy(it->body, body, len);
    it->body[len] = '\0';
    it->len = len;
    free(it->content_type);
    it->content_type = content_type != NULL ? wf_strdup(content_type) : NULL;
    it->phase = ITEM_PARSING;
    it->work.data = it;
    int rc = uv_queue_work(it->run->b->d->loop, &it->work, parse_work, parse_after);
    if (rc != 0) {
        free(it->body);
        it->body = NULL;
        item_fail(it, "cannot queue parsing of %s: %s", it->page_url, uv_strerror(rc));
    }
}

static void fetch_item(bump_item *it)
{
    wf_daemon *d = it->run->b->d;
    it->run->in_flight++;
    it->phase = ITEM_FETCHING;
    if (it->page_url == NULL) {
        item_fail(it,
                  "no upstream index is configured; set upstream_index in %s or "
                  "WHEELFARM_UPSTREAM_INDEX",
                  d->cfg->file);
        return;
    }
    int rc = wf_fetch_doc(d->fetcher, it->page_url,
                          it->html_only ? "text/html" : WF_UPSTREAM_ACCEPT, on_page, it);
    if (rc != 0)
        item_fail(it, "cannot query the upstream index %s: %s", it->page_url, wf_strerror(rc));
}

/* ---- a run ---- */

static void run_free(bump_run *run)
{
    for (size_t i = 0; i < run->n; i++)
        item_release(&run->items[i]);
    free(run->items);
    free(run);
}

static void bump_maybe_free(wf_bump *b)
{
    if (!b->closing || b->timer_open || b->run != NULL)
        return;
    void (*cb)(wf_daemon *) = b->on_closed;
    wf_daemon *d = b->d;
    free(b);
    if (cb != NULL)
        cb(d);
}

/* Queues the chosen version of one recipe as its own request, so its trigger record names the
 * upstream version. */
static void item_submit(bump_item *it)
{
    wf_daemon *d = it->run->b->d;
    char *spec = wf_asprintf("%s==%s", it->project, it->version);
    const char *specs[] = {spec};
    const wf_plan_request req = {specs, 1, NULL, 0, NULL, 0};
    wf_plan plan = {NULL, 0};
    char *err = NULL;
    wf_submit_result sr = {0, 0, 0};
    if (wf_plan_build(&plan, d->recipes, d->cfg, &req, &err) != 0) {
        it->outcome = "error";
        it->error = err;
        goto out;
    }
    const wf_trigger t = {.kind = "bump", .upstream_version = it->version, .detail = it->summary};
    if (wf__submit(d, &plan, &t, 0, &sr, NULL) != 0) {
        it->outcome = "error";
        it->error = wf_strdup("cannot record the request in the state database (see the log)");
        goto out;
    }
    it->outcome = "queued";
    it->request_id = sr.request_id;
    it->n_jobs = sr.n_queued;
out:
    free(spec);
    wf_plan_release(&plan);
}

static cJSON *item_json(const bump_item *it)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "recipe", it->name);
    cJSON_AddStringToObject(o, "project", it->project);
    cJSON_AddStringToObject(o, "track", it->track);
    cJSON_AddNumberToObject(o, "min_age", (double)it->min_age_s);
    if (it->prereleases < 0)
        cJSON_AddNullToObject(o, "prereleases");
    else
        cJSON_AddBoolToObject(o, "prereleases", it->prereleases);
    if (it->page_url != NULL)
        cJSON_AddStringToObject(o, "index", it->page_url);
    else
        cJSON_AddNullToObject(o, "index");
    if (it->versions != NULL)
        cJSON_AddStringToObject(o, "format", it->listing.json ? "json" : "html");
    else
        cJSON_AddNullToObject(o, "format");
    cJSON_AddStringToObject(o, "outcome", it->outcome != NULL ? it->outcome : "error");
    if (it->version != NULL)
        cJSON_AddStringToObject(o, "version", it->version);
    else
        cJSON_AddNullToObject(o, "version");
    if (it->request_id > 0)
        cJSON_AddNumberToObject(o, "request", (double)it->request_id);
    else
        cJSON_AddNullToObject(o, "request");
    cJSON_AddNumberToObject(o, "jobs", (double)it->n_jobs);
    if (it->summary != NULL)
        cJSON_AddStringToObject(o, "summary", it->summary);
    else
        cJSON_AddNullToObject(o, "summary");
    if (it->error != NULL)
        cJSON_AddStringToObject(o, "error", it->error);
    else
        cJSON_AddNullToObject(o, "error");
    cJSON_AddItemToObject(o, "versions",
                          it->versions != NULL ? cJSON_Duplicate(it->versions, 1)
                                               : cJSON_CreateArray());
    cJSON_AddNumberToObject(o, "versions_omitted", (double)it->versions_omitted);
    return o;
}

static void log_item(const bump_run *run, const bump_item *it)
{
    if (it->error != NULL)
        wf_log_warn("bump run %lld: %s: %s", (long long)run->id, it->name, it->error);
    else if (it->request_id > 0)
        wf_log_info("bump run %lld: %s: queued %s as request %lld, %zu job(s) (%s)",
                    (long long)run->id, it->name, it->version, (long long)it->request_id,
                    it->n_jobs, it->summary);
    else
        wf_log_info("bump run %lld: %s: %s (%s)", (long long)run->id, it->name, it->outcome,
                    it->summary != NULL ? it->summary : "-");
}

/* Every page is judged: pick what to queue within max_builds, record the report. */
static void run_finish(bump_run *run)
{
    wf_bump *b = run->b;
    wf_daemon *d = b->d;
    size_t queued = 0, deferred = 0, errors = 0;
    for (size_t i = 0; i < run->n; i++) {
        bump_item *it = &run->items[i];
        if (it->outcome != NULL && strcmp(it->outcome, "build") == 0) {
            if (queued >= d->cfg->bump_max_builds) {
                it->outcome = "deferred";
                free(it->error);
                deferred++;
                it->error = NULL;
            } else if (run->dry_run) {
                it->outcome = "would-build";
                queued++;
            } else {
                item_submit(it);
                queued += strcmp(it->outcome, "queued") == 0;
            }
        }
        errors += it->error != NULL;
        log_item(run, it);
    }
    cJSON *rep = cJSON_CreateObject();
    cJSON_AddNumberToObject(rep, "id", (double)run->id);
    cJSON_AddStringToObject(rep, "kind", run->kind);
    cJSON_AddBoolToObject(rep, "dry_run", run->dry_run);
    cJSON_AddStringToObject(rep, "state", "finished");
    cJSON_AddNumberToObject(rep, "started_at", (double)run->started_at);
    cJSON_AddNumberToObject(rep, "finished_at", (double)wf_time_s());
    cJSON_AddNumberToObject(rep, "max_builds", d->cfg->bump_max_builds);
    cJSON_AddNumberToObject(rep, run->dry_run ? "would_queue" : "queued", (double)queued);
    cJSON_AddNumberToObject(rep, "deferred", (double)deferred);
    cJSON_AddNumberToObject(rep, "errors", (double)errors);
    cJSON *arr = cJSON_AddArrayToObject(rep, "recipes");
    for (size_t i = 0; i < run->n; i++)
        cJSON_AddItemToArray(arr, item_json(&run->items[i]));
    char *text = cJSON_PrintUnformatted(rep);
    cJSON_Delete(rep);
    if (text == NULL || wf_store_bump_run_finish(d->store, run->id, (int64_t)queued, text) != 0)
        wf_log_error("bump run %lld: cannot record its report", (long long)run->id);
    cJSON_free(text);
    wf_log_info("bump run %lld (%s%s): finished: %zu recipe(s), %zu version(s) %s, %zu deferred "
                "by max_builds %u, %zu error(s)",
                (long long)run->id, run->kind, run->dry_run ? ", dry run" : "", run->n, queued,
                run->dry_run ? "would be queued" : "queued", deferred, d->cfg->bump_max_builds,
                errors);
}

/* Called after every item event: starts the next pages, or ends the run. */
static void run_check(bump_run *run)
{
    wf_bump *b = run->b;
    if (run->checking)
        return; /* the caller's loop below sees the change */
    run->checking = 1;
    if (b->closing) {
        for (; run->next < run->n; run->next++) {
            run->items[run->next].phase = ITEM_DONE;
            run->n_done++;
        }
    }
    while (!b->closing && run->in_flight < BUMP_MAX_IN_FLIGHT && run->next < run->n)
        fetch_item(&run->items[run->next++]);
    run->checking = 0;
    if (run->n_done < run->n || run->in_flight > 0)
        return;
    if (b->closing || b->d->state != WF_DAEMON_RUNNING)
        wf_log_info("bump run %lld: stopped by the shutdown; nothing queued", (long long)run->id);
    else
        run_finish(run);
    b->run = NULL;
    run_free(run);
    if (b->closing) {
        bump_maybe_free(b);
        return;
    }
    if (b->pending) {
        b->pending = 0;
        run_start_scheduled(b, "schedule");
    }
}

/* Makes and records a run over the given recipes (all tracking recipes when n_names is 0). */
static int run_begin(wf_bump *b, const char *kind, int dry_run, const wf_recipe *const *recipes,
                     size_t n, int64_t *run_id)
{
    wf_daemon *d = b->d;
    bump_run *run = wf_calloc(1, sizeof(*run));
    run->b = b;
    run->kind = kind;
    run->dry_run = dry_run;
    run->started_at = wf_time_s();
    int rc = wf_store_bump_run_start(d->store, kind, dry_run, &run->id);
    if (rc != 0) {
        free(run);
        return rc;
    }
    run->items = wf_calloc(n ? n : 1, sizeof(*run->items));
    run->n = n;
    for (size_t i = 0; i < n; i++)
        item_init(&run->items[i], run, recipes[i], d->cfg->upstream_index);
    wf_log_info("bump run %lld (%s%s): %zu tracking recipe(s)", (long long)run->id, kind,
                dry_run ? ", dry run" : "", n);
    b->run = run;
    *run_id = run->id;
    run_check(run);
    return 0;
}

static const wf_recipe **tracking_recipes(const wf_recipe_list *list, size_t *n_out)
{
    const wf_recipe **v = wf_calloc(list->n ? list->n : 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < list->n; i++)
        if (list->items[i]->track != NULL)
            v[n++] = list->items[i];
    *n_out = n;
    return v;
}

static void run_start_scheduled(wf_bump *b, const char *kind)
{
    wf_daemon *d = b->d;
    if (d->state != WF_DAEMON_RUNNING)
        return;
    if (b->run != NULL) {
        wf_log_info("bump: the %s run waits for run %lld to finish", kind, (long long)b->run->id);
        b->pending = 1;
        return;
    }
    size_t n = 0;
    const wf_recipe **v = tracking_recipes(d->recipes, &n);
    int64_t id = 0;
    if (run_begin(b, kind, 0, v, n, &id) != 0)
        wf_log_error("bump: cannot start the %s run (state database)", kind);
    free(v);
}

/* ---- the schedule ---- */

static void arm(wf_bump *b);

static void on_timer(uv_timer_t *t)
{
    wf_bump *b = t->data;
    int64_t now = now_ms();
    if (b->next == 0 || now < b->next * 1000) {
        arm(b); /* a capped sleep ended, or the clock went back */
        return;
    }
    time_t next = 0;
    if (wf_cron_next(&b->d->cfg->bump_cron, (time_t)(now / 1000), 1, &next) != 0)
        next = 0;
    b->next = next;
    run_start_scheduled(b, "schedule");
    arm(b);
}

static void arm(wf_bump *b)
{
    if (!b->timer_open || b->closing || b->next == 0)
        return;
    int64_t wait = b->next * 1000 - now_ms();
    if (wait < 0)
        wait = 0;
    if (wait > BUMP_MAX_SLEEP_MS)
        wait = BUMP_MAX_SLEEP_MS;
    uv_timer_start(&b->timer, on_timer, (uint64_t)wait, 0);
}

/* 1 when a firing fell between the last run (or the first arming) and now. */
static int missed_firing(wf_bump *b, int64_t now)
{
    wf_daemon *d = b->d;
    int64_t armed = 0, last = 0;
    time_t due = 0;
    if (wf_store_bump_armed(d->store, now, &armed) != 0 ||
        wf_store_bump_last_done(d->store, &last) != 0)
        return 0;
    int64_t since = last > armed ? last : armed;
    return wf_cron_next(&d->cfg->bump_cron, (time_t)since, 1, &due) == 0 && due <= now;
}

int wf__bump_init(wf_daemon *d)
{
    wf_bump *b = wf_calloc(1, sizeof(*b));
    int interrupted = 0;
    b->d = d;
    d->bump = b;
    d->bump_open = 1;
    int rc = uv_timer_init(d->loop, &b->timer);
    if (rc != 0)
        return rc;
    b->timer.data = b;
    b->timer_open = 1;
    if ((rc = wf_store_bump_recover(d->store, &interrupted)) != 0)
        return rc;
    if (interrupted > 0)
        wf_log_info("bump: %d run(s) were interrupted by the last stop", interrupted);
    if (d->cfg->bump_schedule[0] == '\0') {
        wf_log_info("bump: no schedule (schedule.bump is \"\"); runs only on request");
        return 0;
    }
    int64_t now = wf_time_s();
    time_t next = 0;
    if (wf_cron_next(&d->cfg->bump_cron, (time_t)now, 1, &next) == 0)
        b->next = next;
    char when[32] = "never";
    struct tm tm;
    time_t t = (time_t)b->next;
    if (b->next > 0 && gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    wf_log_info("bump: schedule \"%s\" (UTC), next run %s", d->cfg->bump_schedule, when);
    if (missed_firing(b, now)) {
        wf_log_info("bump: a scheduled run was missed while the daemon was down; running it now");
        run_start_scheduled(b, "catch-up");
    }
    arm(b);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    wf_bump *b = h->data;
    b->timer_open = 0;
    bump_maybe_free(b);
}

void wf__bump_close(wf_bump *b, void (*on_closed)(wf_daemon *d))
{
    if (b == NULL || b->closing)
        return;
    b->closing = 1;
    b->on_closed = on_closed;
    if (b->run != NULL) {
        /* Pages being parsed finish or are cancelled; their callbacks end the run. */
        for (size_t i = 0; i < b->run->n; i++)
            if (b->run->items[i].phase == ITEM_PARSING)
                uv_cancel((uv_req_t *)&b->run->items[i].work);
    }
    if (b->timer_open) {
        uv_close((uv_handle_t *)&b->timer, on_timer_closed);
    } else {
        bump_maybe_free(b);
    }
}

/* ---- on request ---- */

int wf__bump_start(wf_daemon *d, const wf_bump_options *o, int64_t *run_id, char **errmsg)
{
    wf_bump *b = d->bump;
    const wf_recipe **v = NULL;
    size_t n = 0;
    int rc = 0;
    if (b == NULL || b->closing || d->state != WF_DAEMON_RUNNING)
        return WF_ECANCELED;
    if (b->run != NULL) {
        *run_id = b->run->id;
        return WF_EEXIST;
    }
    if (o->n_recipes == 0) {
        v = tracking_recipes(d->recipes, &n);
    } else {
        v = wf_calloc(o->n_recipes, sizeof(*v));
        for (size_t i = 0; i < o->n_recipes; i++) {
            const wf_recipe *r = wf_recipe_list_find(d->recipes, o->recipes[i]);
            if (r == NULL) {
                *errmsg = wf_asprintf("no recipe named '%s'", o->recipes[i]);
                rc = WF_EINVAL;
                goto out;
            }
            if (r->track == NULL) {
                *errmsg = wf_asprintf("recipe '%s' does not track upstream versions (give it "
                                      "'track: SPECIFIER' and 'source: {sdist: upstream}')",
                                      r->name);
                rc = WF_EINVAL;
                goto out;
            }
            int dup = 0;
            for (size_t j = 0; j < n && !dup; j++)
                dup = v[j] == r;
            if (!dup)
                v[n++] = r;
        }
    }
    rc = run_begin(b, "manual", o->dry_run, v, n, run_id);
out:
    free(v);
    return rc;
}

int64_t wf__bump_running(const wf_daemon *d)
{
    return d->bump != NULL && d->bump->run != NULL ? d->bump->run->id : 0;
}

int64_t wf__bump_next(const wf_daemon *d)
{
    return d->bump != NULL ? d->bump->next : 0;
}
