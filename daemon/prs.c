/* prs.c - pull requests of the recipe repository: each one's head is fetched, its recipes are
 * parsed, and the recipes it changes (compared with the set in force on main) are built into
 * the pull request's channel "pr/<N>" (/pr/<N>/simple/), never into the main index.
 *
 * Life of a head: an event (webhook or a poll's catch-up) records it as the pull request's head
 * at once, and cancels the jobs of the head before it (superseded); a work item on the thread
 * pool fetches the head by its sha from the repository, exports its recipe directory into
 * <state>/prs/<N>/<sha>/ and parses it; back on the loop the changed recipes are planned and
 * submitted (trigger "pr"), wheels of the old head whose build key the new one shares stay,
 * the others leave the channel. Work items run one at a time (they share one git mirror,
 * <state>/prs/git), in arrival order; one whose head was superseded or closed meanwhile is
 * discarded when it returns. A closed (or merged) pull request loses its channel: queued jobs
 * are cancelled, running ones stopped, pages and files no other channel owns removed.
 *
 * Commit statuses: when a forge is configured, the current head's state (lib/forge.h) is
 * reported whenever it changes, one call at a time per pull request so they arrive in order.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/gitrepo.h"
#include "daemon/internal.h"
#include "lib/channel.h"
#include "lib/forge.h"
#include "lib/fsutil.h"
#include "lib/log.h"

/* A head's recipes, shared by the runs that build them (a run may outlive its head). */
struct wf_pr_recipes {
    unsigned refs;
    wf_recipe_list *list;
    char *dir; /* the export; removed with the last reference */
};

/* An open pull request the daemon is working on. */
typedef struct pr_state {
    struct pr_state *next;
    int64_t number;
    char *head;             /* the current head (as recorded in the store) */
    wf_pr_recipes *recipes; /* its recipes, NULL while loading or when they are broken */
    int loading;            /* a work item for head is queued or running */
    int posting;            /* a commit status call is in flight */
} pr_state;

typedef struct pr_work {
    struct pr_work *next;
    wf_prs *prs;
    uv_work_t req;
    int64_t number;
    char *head, *ref, *dest, *subpath, *url, *mirror;
    int plan; /* submit the changed recipes (0: only load them, the head was planned before) */
    const char *action;
    /* results, written by the pool thread */
    wf_gitrepo *repo; /* in: the mirror (opened by the first item); out: still open */
    int rc;
    char *err;
    wf_recipe_list *list;
} pr_work;

struct wf_prs {
    wf_daemon *d;
    pr_state *open;
    pr_work *head, *tail; /* waiting work items */
    pr_work *running;     /* the one on the thread pool */
    wf_gitrepo *repo;     /* owned here; lent to the running work item */
    char *mirror;         /* <state>/prs/git */
    char *exports;        /* <state>/prs */
};

/* ---- recipe sets ---- */

static wf_pr_recipes *recipes_new(wf_recipe_list *list, const char *dir)
{
    wf_pr_recipes *h = wf_calloc(1, sizeof(*h));
    h->refs = 1;
    h->list = list;
    h->dir = wf_strdup(dir);
    return h;
}

void wf__pr_recipes_release(wf_pr_recipes *h)
{
    if (h == NULL || --h->refs > 0)
        return;
    wf_recipe_list_free(h->list);
    /* The export is a few small files; removing it on the loop is cheap. */
    wf_fs_remove_tree(h->dir);
    free(h->dir);
    free(h);
}

/* ---- pull request states ---- */

static pr_state *find_state(wf_prs *prs, int64_t number)
{
    for (pr_state *st = prs->open; st != NULL; st = st->next)
        if (st->number == number)
            return st;
    return NULL;
}

static pr_state *get_state(wf_prs *prs, int64_t number)
{
    pr_state *st = find_state(prs, number);
    if (st != NULL)
        return st;
    st = wf_calloc(1, sizeof(*st));
    st->number = number;
    st->next = prs->open;
    prs->open = st;
    return st;
}

static void set_head(pr_state *st, const char *head)
{
    free(st->head);
    st->head = wf_strdup(head);
    wf__pr_recipes_release(st->recipes);
    st->recipes = NULL;
}

static void drop_state(wf_prs *prs, int64_t number)
{
    for (pr_state **pp = &prs->open; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->number == number) {
            pr_state *st = *pp;
            *pp = st->next;
            wf__pr_recipes_release(st->recipes);
            free(st->head);
            free(st);
            return;
        }
    }
}

/* ---- commit statuses ---- */

static void update_status(wf_daemon *d, int64_t number);

typedef struct status_call {
    wf_daemon *d;
    int64_t number;
    wf_commit_state state;
    char *sha;
} status_call;

/* The head's progress and, for a failure, the job whose log explains it (0 if none). */
static void head_progress(wf_daemon *d, const pr_state *st, const wf_pr_row *row, wf_pr_progress *p,
                          int64_t *failed_job)
{
    memset(p, 0, sizeof(*p));
    *failed_job = 0;
    p->loading = st != NULL && st->loading;
    p->broken = row->errors != NULL;
    wf_job_row *jobs = NULL;
    size_t n = 0;
    if (wf_store_jobs_for_pr_head(d->store, row->number, row->head_sha, &jobs, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        switch (jobs[i].state) {
        case WF_JOB_QUEUED: p->queued++; break;
        case WF_JOB_RUNNING: p->running++; break;
        case WF_JOB_SUCCEEDED: p->succeeded++; break;
        case WF_JOB_FAILED:
        case WF_JOB_CANCELLED:
            if (jobs[i].state == WF_JOB_FAILED)
                p->failed++;
            else
                p->cancelled++;
            if (*failed_job == 0)
                *failed_job = jobs[i].id;
            break;
        }
    }
    wf_job_rows_free(jobs, n);
}

/* Where a reviewer reads more: a failed job's log, the pull request's record, or its index. */
static char *target_url(wf_daemon *d, const wf_pr_row *row, wf_commit_state state,
                        int64_t failed_job)
{
    const char *base = d->cfg->forge != NULL ? d->cfg->forge->public_url : NULL;
    if (base == NULL)
        return NULL;
    if (state == WF_COMMIT_FAILURE && failed_job > 0)
        return wf_asprintf("%s/api/v1/jobs/%lld/log", base, (long long)failed_job);
    if (state == WF_COMMIT_FAILURE)
        return wf_asprintf("%s/api/v1/prs/%lld", base, (long long)row->number);
    return wf_asprintf("%s/pr/%lld/simple/", base, (long long)row->number);
}

static void on_status_posted(int err, long status, const char *content_type, const char *body,
                             size_t len, const char *message, void *ctx)
{
    status_call *c = ctx;
    wf_daemon *d = c->d;
    (void)content_type;
    if (err == UV_ECANCELED || d->prs == NULL) { /* the daemon is closing */
        free(c->sha);
        free(c);
        return;
    }
    pr_state *st = find_state(d->prs, c->number);
    if (st != NULL)
        st->posting = 0;
    wf_pr_row row = {0};
    if (err == 0 && status >= 200 && status < 300) {
        wf_log_info("pr %lld: reported %s for %.12s to the forge", (long long)c->number,
                    wf_commit_state_name(c->state), c->sha);
        if (wf_store_pr_get(d->store, c->number, &row) == 0) {
            free(row.status);
            free(row.status_sha);
            row.status = wf_strdup(wf_commit_state_name(c->state));
            row.status_sha = wf_strdup(c->sha);
            row.updated_at = 0;
            wf_store_pr_put(d->store, &row);
        }
    } else if (err == 0) {
        wf_log_warn("pr %lld: the forge answered HTTP %ld to the %s status of %.12s: %.*s "
                    "(check forge.api, forge.repo and the token's permissions)",
                    (long long)c->number, status, wf_commit_state_name(c->state), c->sha,
                    (int)(len < 200 ? len : 200), body);
    } else {
        wf_log_warn("pr %lld: cannot report the %s status of %.12s: %s", (long long)c->number,
                    wf_commit_state_name(c->state), c->sha, message);
    }
    int64_t number = c->number;
    int again = st != NULL && err == 0 && status >= 200 && status < 300;
    wf_pr_row_release(&row);
    free(c->sha);
    free(c);
    /* A change that happened during the call is reported now (after a failure: at the next
     * change, so a forge that is down is not hammered). */
    if (again)
        update_status(d, number);
}

static void post_status(wf_daemon *d, pr_state *st, const wf_pr_row *row, wf_commit_state state,
                        const char *description, const char *url)
{
    const wf_forge_config *f = d->cfg->forge;
    wf_forge_request req = {0};
    if (wf_forge_status_request(&req, f->kind, f->api, f->repo, f->token, row->head_sha, state, url,
                                description) != 0) {
        wf_log_error("pr %lld: cannot build the status call for head '%s'", (long long)row->number,
                     row->head_sha);
        return;
    }
    status_call *c = wf_calloc(1, sizeof(*c));
    c->d = d;
    c->number = row->number;
    c->state = state;
    c->sha = wf_strdup(row->head_sha);
    int rc = wf_fetch_post(d->fetcher, req.url, (const char *const *)req.headers, req.n_headers,
                           req.body, strlen(req.body), on_status_posted, c);
    if (rc != 0) {
        wf_log_error("pr %lld: cannot send the status call to '%s': %s", (long long)row->number,
                     req.url, wf_strerror(rc));
        free(c->sha);
        free(c);
    } else {
        st->posting = 1;
    }
    wf_forge_request_release(&req);
}

/* Re-evaluates the current head's status; reports it to the forge when it changed. */
static void update_status(wf_daemon *d, int64_t number)
{
    wf_prs *prs = d->prs;
    pr_state *st = prs != NULL ? find_state(prs, number) : NULL;
    wf_pr_row row = {0};
    if (st == NULL || d->cfg->forge == NULL || d->fetcher == NULL ||
        d->state != WF_DAEMON_RUNNING || wf_store_pr_get(d->store, number, &row) != 0)
        return;
    wf_pr_progress p;
    int64_t failed_job = 0;
    head_progress(d, st, &row, &p, &failed_job);
    wf_commit_state state = wf_pr_progress_state(&p);
    int same = row.status_sha != NULL && strcmp(row.status_sha, row.head_sha) == 0 &&
               wf_commit_state_parse(row.status) == state;
    if (!same && !st->posting && strcmp(row.state, "open") == 0) {
        char *desc = wf_pr_progress_describe(&p);
        char *url = target_url(d, &row, state, failed_job);
        post_status(d, st, &row, state, desc, url);
        free(url);
        free(desc);
    }
    wf_pr_row_release(&row);
}

void wf__pr_job_changed(wf_daemon *d, const char *channel)
{
    int64_t number = 0;
    if (wf_channel_pr_number(channel, &number) == 0)
        update_status(d, number);
}

/* ---- the work item: fetch, export, parse (thread pool) ---- */

static void work_free(pr_work *w)
{
    free(w->head);
    free(w->ref);
    free(w->dest);
    free(w->subpath);
    free(w->url);
    free(w->mirror);
    free(w->err);
    wf_recipe_list_free(w->list);
    free(w);
}

/* The diagnostics, one per line, with file names as they are in the repository
 * ("recipes/x.yaml:3:5: ..."), not in the export directory. */
static char *join_diags(const wf_diag_list *diags, const char *dest, const char *subpath)
{
    wf_buf b = WF_BUF_INIT;
    size_t dl = strlen(dest);
    for (size_t i = 0; i < diags->n; i++) {
        wf_diag d = diags->items[i];
        char *rel = NULL;
        if (d.file != NULL && strncmp(d.file, dest, dl) == 0 && d.file[dl] == '/') {
            rel = wf_asprintf("%s%s%s", subpath, subpath[0] ? "/" : "", d.file + dl + 1);
            d.file = rel;
        }
        char *line = wf_diag_format(&d);
        wf_buf_addf(&b, "%s%s", i ? "\n" : "", line);
        free(line);
        free(rel);
    }
    wf_buf_add(&b, "", 0);
    return wf_buf_detach(&b);
}

/* Touches only its own item (and the mirror lent to it). */
static void work_run(uv_work_t *req)
{
    pr_work *w = req->data;
    wf_diag_list diags = {NULL, 0};
    /* An export that exists is complete (it is renamed into place): after a restart the head's
     * recipes are read again without the network. */
    if (access(w->dest, F_OK) != 0) {
        if (w->repo == NULL && (w->rc = wf_gitrepo_open(&w->repo, w->url, w->mirror, &w->err)) != 0)
            return;
        const char *const specs[] = {w->head, w->ref};
        if ((w->rc = wf_gitrepo_fetch(w->repo, specs, 2, &w->err)) != 0)
            return;
        if ((w->rc = wf_gitrepo_export(w->repo, w->head, w->subpath, w->dest, &w->err)) != 0)
            return;
    }
    if ((w->rc = wf_recipe_load_path(&w->list, w->dest, &diags)) != 0) {
        w->err = join_diags(&diags, w->dest, w->subpath);
        w->rc = WF_ECONFIG;
    }
    wf_diag_list_release(&diags);
}

static void work_done(uv_work_t *req, int status);

static void work_next(wf_prs *prs)
{
    wf_daemon *d = prs->d;
    while (prs->running == NULL && prs->head != NULL && d->state == WF_DAEMON_RUNNING) {
        pr_work *w = prs->head;
        prs->head = w->next;
        if (prs->head == NULL)
            prs->tail = NULL;
        w->next = NULL;
        w->repo = prs->repo;
        prs->repo = NULL;
        w->req.data = w;
        int rc = uv_queue_work(d->loop, &w->req, work_run, work_done);
        if (rc == 0) {
            prs->running = w;
            return;
        }
        wf_log_error("pr %lld: cannot queue the fetch of %.12s: %s", (long long)w->number, w->head,
                     uv_strerror(rc));
        prs->repo = w->repo;
        pr_state *st = find_state(prs, w->number);
        if (st != NULL && st->head != NULL && strcmp(st->head, w->head) == 0)
            st->loading = 0;
        work_free(w);
    }
}

static char *pr_ref(wf_daemon *d, int64_t number)
{
    /* GitLab keeps merge request heads under refs/merge-requests/; the others under refs/pull/. */
    const wf_forge_config *f = d->cfg->forge;
    const wf_webhooks_config *h = d->cfg->webhooks;
    int gitlab = (f != NULL && strcmp(f->kind, "gitlab") == 0) ||
                 (f == NULL && h != NULL && h->gitlab.secret != NULL && h->github.secret == NULL &&
                  h->gitea.secret == NULL);
    return wf_asprintf(gitlab ? "refs/merge-requests/%lld/head" : "refs/pull/%lld/head",
                       (long long)number);
}

static void enqueue(wf_daemon *d, int64_t number, const char *head, int plan, const char *action)
{
    wf_prs *prs = d->prs;
    pr_work *w = wf_calloc(1, sizeof(*w));
    w->prs = prs;
    w->number = number;
    w->head = wf_strdup(head);
    char *ref = pr_ref(d, number);
    w->ref = wf_asprintf("+%s:%s", ref, ref);
    free(ref);
    w->dest = wf_asprintf("%s/%lld/%s", prs->exports, (long long)number, head);
    w->subpath = wf_strdup(d->cfg->recipes_git->path);
    w->url = wf_strdup(d->cfg->recipes_git->url);
    w->mirror = wf_strdup(prs->mirror);
    w->plan = plan;
    w->action = action;
    if (prs->tail != NULL)
        prs->tail->next = w;
    else
        prs->head = w;
    prs->tail = w;
    get_state(prs, number)->loading = 1;
    work_next(prs);
}

/* ---- planning a head ---- */

/* By the configured workers (a reload keeps d->cfg->workers current), not the table, which also
 * lists removed workers that still finish builds. */
static int platform_served(wf_daemon *d, const char *platform)
{
    for (size_t i = 0; i < d->cfg->n_workers; i++)
        for (size_t j = 0; j < d->cfg->workers[i].n_platforms; j++)
            if (strcmp(d->cfg->workers[i].platforms[j], platform) == 0)
                return 1;
    return 0;
}

/* Appends the jobs of one recipe (every version and python tag, the platforms some worker
 * serves: a job no worker can run would keep the head pending for ever) to *plan. */
static void plan_recipe(wf_daemon *d, const wf_recipe_list *list, const wf_recipe *r, wf_plan *plan,
                        int64_t number)
{
    const char **platforms = wf_calloc(r->n_platforms ? r->n_platforms : 1, sizeof(char *));
    size_t n_platforms = 0;
    for (size_t i = 0; i < r->n_platforms; i++)
        if (platform_served(d, r->platforms[i]))
            platforms[n_platforms++] = r->platforms[i];
    if (n_platforms == 0) {
        wf_log_warn("pr %lld: recipe '%s' changed, but no worker serves its platforms; nothing "
                    "to build",
                    (long long)number, r->name);
        free(platforms);
        return;
    }
    const char *spec = r->name;
    const wf_plan_request req = {&spec, 1, platforms, n_platforms, NULL, 0};
    wf_plan one = {NULL, 0};
    char *err = NULL;
    if (wf_plan_build(&one, list, d->cfg, &req, &err) != 0) {
        wf_log_warn("pr %lld: recipe '%s' cannot be planned: %s", (long long)number, r->name,
                    err ? err : "unknown reason");
    } else if (one.n > 0) {
        plan->jobs = wf_realloc(plan->jobs, (plan->n + one.n) * sizeof(*plan->jobs));
        memcpy(plan->jobs + plan->n, one.jobs, one.n * sizeof(*one.jobs));
        plan->n += one.n;
        free(one.jobs); /* the jobs' strings moved into *plan */
        one.jobs = NULL;
        one.n = 0;
    }
    wf_plan_release(&one);
    free(err);
    free(platforms);
}

static int plan_has_key(const wf_plan *plan, const char *key)
{
    for (size_t i = 0; i < plan->n; i++)
        if (strcmp(plan->jobs[i].build_key, key) == 0)
            return 1;
    return 0;
}

/* Deletes an artifact row of a channel and the file when no other row owns it. */
static void drop_artifact(wf_daemon *d, const wf_artifact_row *a)
{
    int owned = 1;
    if (wf_store_artifact_delete(d->store, a->id) != 0 ||
        wf_store_artifact_path_owned(d->store, a->path, &owned) != 0 || owned)
        return;
    char *meta = wf_asprintf("%s.metadata", a->path);
    unlink(a->path);
    unlink(meta);
    free(meta);
}

/* The channel keeps the wheels whose build key the new head plans too (same recipe content:
 * the same build); the others were built from an older head and leave it. */
static void prune_channel(wf_daemon *d, const char *channel, const wf_plan *plan)
{
    wf_artifact_row *rows = NULL;
    size_t n = 0;
    if (wf_store_artifacts_in(d->store, channel, &rows, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (plan == NULL || !plan_has_key(plan, rows[i].build_key))
            drop_artifact(d, &rows[i]);
    wf_artifact_rows_free(rows, n);
}

static char *join_names(const wf_recipe *const *recipes, size_t n, const char *sep)
{
    wf_buf b = WF_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        wf_buf_addf(&b, "%s%s", i ? sep : "", recipes[i]->normalized);
    wf_buf_add(&b, "", 0);
    return wf_buf_detach(&b);
}

/* Plans and submits the recipes the head changes; records them as the channel's projects. */
static void plan_head(wf_daemon *d, pr_state *st, wf_pr_row *row, const char *action)
{
    const wf_recipe_list *list = st->recipes->list;
    const wf_recipe **changed = NULL;
    size_t n_changed = 0;
    wf_plan plan = {NULL, 0};
    if (wf__recipes_changed(d->recipes, list, &changed, &n_changed) != 0)
        n_changed = 0;
    for (size_t i = 0; i < n_changed; i++)
        plan_recipe(d, list, changed[i], &plan, row->number);
    char *names = join_names(changed, n_changed, ", ");
    char *ref = wf_asprintf("refs/pull/%lld/head", (long long)row->number);
    char *detail =
        wf_asprintf("pull request #%lld %s: %zu recipe(s) changed%s%s", (long long)row->number,
                    action, n_changed, n_changed ? ": " : "", names);
    const wf_trigger t = {.kind = "pr",
                          .commit = row->head_sha,
                          .ref = ref,
                          .pr = row->number,
                          .head_sha = row->head_sha,
                          .detail = detail};
    wf_submit_result res = {0, 0, 0};
    char *channel = wf_channel_pr(row->number);
    if (wf__submit(d, &plan, &t, 0, &res, NULL) != 0)
        wf_log_error("pr %lld: cannot record the builds of head %.12s", (long long)row->number,
                     row->head_sha);
    prune_channel(d, channel, &plan);
    free(row->projects);
    row->projects = join_names(changed, n_changed, " ");
    row->updated_at = 0;
    wf_store_pr_put(d->store, row);
    wf__publish_channel(d, channel);
    free(channel);
    free(detail);
    free(ref);
    free(names);
    free(changed);
    wf_plan_release(&plan);
}

static void work_done(uv_work_t *req, int status)
{
    pr_work *w = req->data;
    wf_prs *prs = w->prs;
    wf_daemon *d = prs->d;
    prs->running = NULL;
    prs->repo = w->repo; /* the mirror stays open for the next item */
    w->repo = NULL;
    pr_state *st = find_state(prs, w->number);
    wf_pr_row row = {0};
    /* A head superseded or closed while it was fetched is of no use any more. */
    int current = status == 0 && d->state == WF_DAEMON_RUNNING && st != NULL && st->head != NULL &&
                  strcmp(st->head, w->head) == 0 &&
                  wf_store_pr_get(d->store, w->number, &row) == 0 &&
                  strcmp(row.state, "open") == 0 && strcmp(row.head_sha, w->head) == 0;
    if (!current) {
        wf_log_info("pr %lld: head %.12s is no longer current; its recipes are dropped",
                    (long long)w->number, w->head);
        if (w->rc == 0)
            wf_fs_remove_tree(w->dest);
        goto done;
    }
    st->loading = 0;
    if (st->recipes != NULL) {
        /* The same head came twice (it went away and back while queued): loaded already. */
        goto done;
    }
    if (w->rc != 0) {
        wf_log_error("pr %lld: head %.12s cannot be built: %s", (long long)w->number, w->head,
                     w->err ? w->err : wf_strerror(w->rc));
        free(row.errors);
        row.errors = w->err != NULL ? wf_strdup(w->err) : wf_strdup(wf_strerror(w->rc));
        row.updated_at = 0;
        wf_store_pr_put(d->store, &row);
        update_status(d, w->number);
        goto done;
    }
    st->recipes = recipes_new(w->list, w->dest);
    w->list = NULL;
    wf_log_info("pr %lld: head %.12s has %zu recipe(s)", (long long)w->number, w->head,
                st->recipes->list->n);
    if (w->plan)
        plan_head(d, st, &row, w->action);
    wf__sched_kick(d);
    update_status(d, w->number);
done:
    wf_pr_row_release(&row);
    work_free(w);
    work_next(prs);
}

/* ---- events ---- */

static int sha_valid(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    return (n == 40 || n == 64) && strspn(s, "0123456789abcdef") == n;
}

/* Cancels the channel's queued and running jobs, saying why. */
static void cancel_channel_jobs(wf_daemon *d, const char *channel, const char *why)
{
    wf_job_row *jobs = NULL;
    size_t n = 0;
    if (wf_store_jobs_active_in(d->store, channel, &jobs, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        wf_job_state st;
        if (wf_store_job_cancel_why(d->store, jobs[i].id, why, &st) != 0)
            continue;
        if (st == WF_JOB_RUNNING && !wf__run_cancel_why(d, jobs[i].id, why)) {
            /* Running in the store but not in this process: nothing will ever finish it. */
            wf_store_attempt_finish(d->store, jobs[i].id, jobs[i].attempts, WF_JOB_CANCELLED, why);
        }
        wf_log_info("job %lld: %s", (long long)jobs[i].id, why);
    }
    wf_job_rows_free(jobs, n);
}

static void close_pr(wf_daemon *d, wf_pr_row *row, int merged)
{
    char *channel = wf_channel_pr(row->number);
    char *why = wf_asprintf("pull request #%lld was %s", (long long)row->number,
                            merged ? "merged" : "closed");
    free(row->state);
    row->state = wf_strdup("closed");
    free(row->projects);
    row->projects = wf_strdup("");
    row->updated_at = 0;
    /* Closed first: a build that finishes now is not published into the channel. */
    if (wf_store_pr_put(d->store, row) != 0)
        wf_log_error("pr %lld: cannot record that it closed", (long long)row->number);
    cancel_channel_jobs(d, channel, why);
    prune_channel(d, channel, NULL);
    wf__channel_remove(d, channel);
    drop_state(d->prs, row->number);
    char *exports = wf_asprintf("%s/%lld", d->prs->exports, (long long)row->number);
    wf_fs_remove_tree(exports);
    free(exports);
    wf_log_info("pr %lld: %s; its channel /%s/simple/ is removed", (long long)row->number,
                merged ? "merged" : "closed", channel);
    free(why);
    free(channel);
}

/* A head the pull request has not had before (or a reopened pull request). */
static void new_head(wf_daemon *d, wf_pr_row *row, const wf_pr_event *ev, int reopened)
{
    char *old = row->head_sha != NULL && row->state != NULL && strcmp(row->state, "open") == 0 &&
                        strcmp(row->head_sha, ev->head_sha) != 0
                    ? wf_strdup(row->head_sha)
                    : NULL;
    row->number = ev->number;
    free(row->state);
    row->state = wf_strdup("open");
    free(row->head_sha);
    row->head_sha = wf_strdup(ev->head_sha);
    if (ev->base_ref != NULL) {
        free(row->base_ref);
        row->base_ref = wf_strdup(ev->base_ref);
    }
    free(row->errors);
    row->errors = NULL;
    if (row->projects == NULL)
        row->projects = wf_strdup("");
    row->updated_at = 0;
    if (wf_store_pr_put(d->store, row) != 0) {
        wf_log_error("pr %lld: cannot record head %.12s", (long long)ev->number, ev->head_sha);
        free(old);
        return;
    }
    pr_state *st = get_state(d->prs, ev->number);
    set_head(st, ev->head_sha);
    int planned = 0;
    if (!reopened && wf_store_pr_head_requested(d->store, ev->number, ev->head_sha, &planned) != 0)
        planned = 0;
    wf_log_info("pr %lld: %s at %.12s%s", (long long)ev->number, ev->action, ev->head_sha,
                ev->delivery != NULL ? "" : " (catch-up)");
    enqueue(d, ev->number, ev->head_sha, !planned, ev->action);
    /* The old head's jobs go after the new head is recorded, so the status their ends trigger
     * is the new head's, not a failure of the old one. */
    if (old != NULL) {
        char *channel = wf_channel_pr(ev->number);
        char *why = wf_asprintf("superseded by head %.12s of pull request #%lld", ev->head_sha,
                                (long long)ev->number);
        cancel_channel_jobs(d, channel, why);
        free(why);
        free(channel);
    }
    update_status(d, ev->number);
    free(old);
}

void wf__pr_event(wf_daemon *d, const wf_pr_event *ev)
{
    if (d->prs == NULL) {
        wf_log_warn("pr %lld: event '%s' ignored: the recipes are not a git repository with "
                    "pull_requests: true",
                    (long long)ev->number, ev->action ? ev->action : "?");
        return;
    }
    int closing = ev->action != NULL && strcmp(ev->action, "closed") == 0;
    int opening = ev->action != NULL &&
                  (strcmp(ev->action, "opened") == 0 || strcmp(ev->action, "reopened") == 0 ||
                   strcmp(ev->action, "synchronize") == 0);
    if (ev->number < 1 || (!closing && !opening) || (opening && !sha_valid(ev->head_sha))) {
        wf_log_warn("pr %lld: event '%s' ignored: not a usable pull request event",
                    (long long)ev->number, ev->action ? ev->action : "?");
        return;
    }
    wf_pr_row row = {0};
    int known = wf_store_pr_get(d->store, ev->number, &row) == 0;
    int open = known && strcmp(row.state, "open") == 0;
    if (closing) {
        if (open) {
            close_pr(d, &row, ev->merged);
        } else if (!known && sha_valid(ev->head_sha)) {
            /* Remembered as closed, so a later catch-up does not open it. */
            wf_pr_row closed = {.number = ev->number,
                                .state = "closed",
                                .head_sha = (char *)ev->head_sha,
                                .base_ref = (char *)ev->base_ref};
            wf_store_pr_put(d->store, &closed);
        }
    } else if (known && !open && ev->delivery == NULL) {
        wf_log_debug("pr %lld: catch-up ignored: the pull request is closed",
                     (long long)ev->number);
    } else if (open && strcmp(row.head_sha, ev->head_sha) == 0) {
        pr_state *st = find_state(d->prs, ev->number);
        if (st == NULL || (!st->loading && st->recipes == NULL && row.errors == NULL))
            new_head(d, &row, ev, 0); /* known but never loaded (a failed start): load it */
        else
            wf_log_info("pr %lld: head %.12s already handled; nothing to do", (long long)ev->number,
                        ev->head_sha);
    } else {
        new_head(d, &row, ev, known && !open);
    }
    wf_pr_row_release(&row);
}

/* ---- what runs and the API see ---- */

const wf_recipe_list *wf__channel_recipes(wf_daemon *d, const char *channel, const char *head_sha,
                                          wf_pr_recipes **hold)
{
    int64_t number = 0;
    *hold = NULL;
    if (wf_channel_is_main(channel))
        return d->recipes;
    if (d->prs == NULL || wf_channel_pr_number(channel, &number) != 0 || head_sha == NULL)
        return NULL;
    pr_state *st = find_state(d->prs, number);
    if (st == NULL || st->recipes == NULL || strcmp(st->head, head_sha) != 0)
        return NULL;
    st->recipes->refs++;
    *hold = st->recipes;
    return st->recipes->list;
}

int wf__channel_ready(wf_daemon *d, const char *channel, const char *head_sha)
{
    int64_t number = 0;
    if (wf_channel_is_main(channel))
        return 1;
    if (d->prs == NULL || wf_channel_pr_number(channel, &number) != 0)
        return 0;
    pr_state *st = find_state(d->prs, number);
    /* A superseded job is let through: its run ends it at once as superseded. */
    return st == NULL || !st->loading || head_sha == NULL || strcmp(st->head, head_sha) != 0;
}

static cJSON *words(const char *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (const char *p = s; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, " ");
        if (len > 0) {
            char *w = wf_strndup(p, len);
            cJSON_AddItemToArray(arr, cJSON_CreateString(w));
            free(w);
        }
        p += len + (p[len] == ' ');
    }
    return arr;
}

static cJSON *lines(const char *s)
{
    cJSON *arr = cJSON_CreateArray();
    for (const char *p = s; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, "\n");
        char *l = wf_strndup(p, len);
        cJSON_AddItemToArray(arr, cJSON_CreateString(l));
        free(l);
        p += len + (p[len] == '\n');
    }
    return arr;
}

cJSON *wf__pr_json(wf_daemon *d, int64_t number)
{
    wf_pr_row row = {0};
    if (wf_store_pr_get(d->store, number, &row) != 0)
        return NULL;
    pr_state *st = d->prs != NULL ? find_state(d->prs, number) : NULL;
    wf_pr_progress p;
    int64_t failed_job = 0;
    head_progress(d, st, &row, &p, &failed_job);
    int open = strcmp(row.state, "open") == 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "number", (double)row.number);
    cJSON_AddStringToObject(o, "state", row.state);
    cJSON_AddStringToObject(o, "head_sha", row.head_sha);
    if (row.base_ref != NULL)
        cJSON_AddStringToObject(o, "base_ref", row.base_ref);
    else
        cJSON_AddNullToObject(o, "base_ref");
    char *channel = wf_channel_pr(number);
    cJSON_AddStringToObject(o, "channel", channel);
    free(channel);
    if (open) {
        char *url = wf_asprintf("/pr/%lld/simple/", (long long)number);
        cJSON_AddStringToObject(o, "index", url);
        free(url);
    } else {
        cJSON_AddNullToObject(o, "index");
    }
    cJSON_AddItemToObject(o, "projects", words(row.projects));
    cJSON_AddItemToObject(o, "errors", lines(row.errors));
    cJSON_AddBoolToObject(o, "loading", p.loading);
    cJSON *jobs = cJSON_AddObjectToObject(o, "jobs");
    cJSON_AddNumberToObject(jobs, "queued", (double)p.queued);
    cJSON_AddNumberToObject(jobs, "running", (double)p.running);
    cJSON_AddNumberToObject(jobs, "succeeded", (double)p.succeeded);
    cJSON_AddNumberToObject(jobs, "failed", (double)p.failed);
    cJSON_AddNumberToObject(jobs, "cancelled", (double)p.cancelled);
    if (open)
        cJSON_AddStringToObject(o, "status", wf_commit_state_name(wf_pr_progress_state(&p)));
    else
        cJSON_AddNullToObject(o, "status");
    char *desc = wf_pr_progress_describe(&p);
    cJSON_AddStringToObject(o, "description", desc);
    free(desc);
    if (row.status != NULL && row.status_sha != NULL) {
        cJSON *r = cJSON_AddObjectToObject(o, "reported");
        cJSON_AddStringToObject(r, "state", row.status);
        cJSON_AddStringToObject(r, "sha", row.status_sha);
    } else {
        cJSON_AddNullToObject(o, "reported");
    }
    cJSON_AddNumberToObject(o, "updated_at", (double)row.updated_at);
    wf_pr_row_release(&row);
    return o;
}

/* ---- lifecycle ---- */

void wf__prs_new(wf_daemon *d)
{
    const wf_recipes_git *git = d->cfg->recipes_git;
    if (git == NULL || !git->pull_requests)
        return;
    wf_prs *prs = wf_calloc(1, sizeof(*prs));
    prs->d = d;
    prs->exports = wf_asprintf("%s/prs", d->cfg->state_dir);
    prs->mirror = wf_asprintf("%s/prs/git", d->cfg->state_dir);
    d->prs = prs;
}

void wf__prs_start(wf_daemon *d)
{
    wf_pr_row *rows = NULL;
    size_t n = 0;
    if (d->prs == NULL || wf_store_prs_list(d->store, "open", &rows, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        pr_state *st = get_state(d->prs, rows[i].number);
        set_head(st, rows[i].head_sha);
        if (rows[i].errors != NULL)
            continue; /* the same head fails the same way; its status stands */
        int planned = 0;
        wf_store_pr_head_requested(d->store, rows[i].number, rows[i].head_sha, &planned);
        enqueue(d, rows[i].number, rows[i].head_sha, !planned, "restored");
    }
    if (n > 0)
        wf_log_info("prs: %zu open pull request(s) restored", n);
    wf_pr_rows_free(rows, n);
}

void wf__prs_free(wf_daemon *d)
{
    wf_prs *prs = d->prs;
    if (prs == NULL)
        return;
    /* The loop has ended: no work item is on the pool any more. */
    while (prs->head != NULL) {
        pr_work *w = prs->head;
        prs->head = w->next;
        work_free(w);
    }
    while (prs->open != NULL)
        drop_state(prs, prs->open->number);
    wf_gitrepo_close(prs->repo);
    free(prs->exports);
    free(prs->mirror);
    free(prs);
    d->prs = NULL;
}
