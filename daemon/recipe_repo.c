/* recipe_repo.c - polls a recipe repository: fetch and export on the thread pool, reload and
 * pull request catch-up on the loop. */
#include "daemon/recipe_repo.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/gitrepo.h"
#include "daemon/internal.h"
#include "lib/fsutil.h"
#include "lib/log.h"

#define PULLS_GLOB "refs/pull/*/head"
#define PULLS_FILE_MAX (64u * 1024u * 1024u)

typedef struct poll_work poll_work;

struct wf_recipe_repo {
    wf_daemon *d;
    const wf_recipes_git *cfg; /* borrowed from d->cfg */
    char *shown;               /* the URL without credentials */
    char *exports;             /* <state>/recipes-git */
    const char *current;       /* <state>/recipes-git/current: d->cfg->recipes */
    char *built_file, *pulls_file;
    wf_gitrepo *git; /* used by the poll in flight only (one at a time) */

    uv_timer_t timer;
    int timer_started, timer_open;
    poll_work *inflight; /* the poll on the thread pool, or NULL */
    int again;           /* poll once more as soon as the one in flight ends */
    int closing;
    void (*on_closed)(void *ctx);
    void *closed_ctx;

    char built[41];     /* the commit whose recipes are in force ("" before the first) */
    char attempted[41]; /* a newer head whose recipes failed to load or export ("" none) */
    char head[41];      /* the branch head at the last successful poll ("" none yet) */
    int64_t polled_at;  /* end of the last poll (wall clock), 0 before the first */
    char *error;        /* the last poll's failure, or NULL */
    char *commit_error; /* why `attempted` could not be exported, or NULL */

    wf_git_ref *pulls; /* pull request heads last handed to the PR module, by number */
    size_t n_pulls;
    int pulls_known; /* 0 until a first listing (or the pulls file) gives the baseline */
    char *pulls_error;
};

/* One poll: `in` fields are copied on the loop before queueing, `out` fields are written by the
 * pool thread and read on the loop after it finished. */
struct poll_work {
    uv_work_t req;
    wf_recipe_repo *r;
    /* in */
    char built[41], attempted[41];
    int want_pulls;
    /* out */
    int rc;
    char *err;
    char head[41];
    int exported;      /* head's recipes are at `current` now, to be loaded */
    int export_failed; /* rc/err are about head's content, not the network */
    wf_git_ref *pulls;
    size_t n_pulls;
    int pulls_rc;
    char *pulls_err;
};

static int is_sha(const char *s)
{
    size_t i = 0;
    for (; s[i] != '\0'; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return i == 40;
}

/* ---- files under <state>/recipes-git (blocking; start-up, pool, or a tiny write on the loop) */

/* Points `current` at the export directory named sha: a new link renamed over the old one. */
static int point_current(const wf_recipe_repo *r, const char *sha, char **err)
{
    char *tmp = wf_asprintf("%s.new", r->current);
    int rc = 0;
    unlink(tmp);
    if (symlink(sha, tmp) != 0 || rename(tmp, r->current) != 0) {
        rc = uv_translate_sys_error(errno);
        *err = wf_asprintf("cannot point %s at %s: %s", r->current, sha, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

/* Leftovers of an interrupted export or link swap. */
static int stale_name(const char *n)
{
    return strcmp(n, "current.new") == 0 || (strlen(n) > 45 && strncmp(n + 40, ".tmp-", 5) == 0);
}

/* Removes exports other than those of `keep1` and `keep2`, and leftovers of interrupted ones. */
static void remove_old_exports(const wf_recipe_repo *r, const char *keep1, const char *keep2)
{
    DIR *dir = opendir(r->exports);
    struct dirent *e;
    while (dir != NULL && (e = readdir(dir)) != NULL) {
        const char *n = e->d_name;
        int old = strlen(n) == 40 && is_sha(n) && strcmp(n, keep1) != 0 && strcmp(n, keep2) != 0;
        if (!old && !stale_name(n))
            continue;
        char *p = wf_asprintf("%s/%s", r->exports, n);
        wf_fs_remove_tree(p);
        free(p);
    }
    if (dir != NULL)
        closedir(dir);
}

static void read_built(wf_recipe_repo *r)
{
    char *data = NULL;
    size_t len = 0;
    if (wf_fs_read_file(r->built_file, 128, &data, &len) != 0)
        return;
    if (len >= 40) {
        data[40] = '\0';
        if (is_sha(data))
            memcpy(r->built, data, 41);
    }
    free(data);
}

static int cmp_pull(const void *a, const void *b)
{
    return strcmp(((const wf_git_ref *)a)->name, ((const wf_git_ref *)b)->name);
}

/* "<sha> <ref>\n" lines; a missing or unreadable file leaves the baseline unknown. */
static void read_pulls(wf_recipe_repo *r)
{
    char *data = NULL;
    size_t len = 0;
    if (wf_fs_read_file(r->pulls_file, PULLS_FILE_MAX, &data, &len) != 0)
        return;
    wf_git_ref *v = NULL;
    size_t n = 0;
    for (char *line = data, *nl; *line != '\0'; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl == NULL || nl - line < 42 || line[40] != ' ') {
            wf_log_warn("recipes: %s is malformed; pull request heads get a new baseline",
                        r->pulls_file);
            wf_git_refs_free(v, n);
            free(data);
            return;
        }
        *nl = '\0';
        line[40] = '\0';
        v = wf_realloc(v, (n + 1) * sizeof(*v));
        memcpy(v[n].sha, line, 41);
        v[n].name = wf_strdup(line + 41);
        n++;
    }
    free(data);
    if (n > 0)
        qsort(v, n, sizeof(*v), cmp_pull);
    r->pulls = v;
    r->n_pulls = n;
    r->pulls_known = 1;
}

static void write_pulls(wf_recipe_repo *r)
{
    wf_buf b = WF_BUF_INIT;
    for (size_t i = 0; i < r->n_pulls; i++)
        wf_buf_addf(&b, "%s %s\n", r->pulls[i].sha, r->pulls[i].name);
    int rc = wf_fs_write_atomic(r->pulls_file, b.ptr != NULL ? b.ptr : "", b.len, 0644);
    if (rc != 0)
        wf_log_error("recipes: cannot write %s: %s (pull request heads may be handed over again "
                     "after a restart)",
                     r->pulls_file, wf_strerror(rc));
    wf_buf_release(&b);
}

/* ---- the poll, on the thread pool ---- */

static void poll_run(uv_work_t *req)
{
    poll_work *w = wf_container_of(req, poll_work, req);
    wf_recipe_repo *r = w->r;
    const wf_recipes_git *c = r->cfg;
    char *spec = wf_asprintf("+refs/heads/%s:refs/heads/%s", c->branch, c->branch);
    char *ref = wf_asprintf("refs/heads/%s", c->branch);
    const char *const specs[] = {spec};
    if ((w->rc = wf_gitrepo_fetch(r->git, specs, 1, &w->err)) != 0)
        goto done;
    if ((w->rc = wf_gitrepo_resolve(r->git, ref, w->head, &w->err)) != 0) {
        if (w->rc == WF_ENOTFOUND) {
            free(w->err);
            w->err = wf_asprintf("branch '%s' does not exist in %s (check recipes.branch in the "
                                 "configuration)",
                                 c->branch, r->shown);
        }
        goto done;
    }
    if (strcmp(w->head, w->built) != 0 && strcmp(w->head, w->attempted) != 0) {
        char *dest = wf_asprintf("%s/%s", r->exports, w->head);
        w->rc = wf_gitrepo_export(r->git, w->head, c->path, dest, &w->err);
        free(dest);
        if (w->rc == WF_ENOTFOUND || w->rc == WF_EINVAL || w->rc == WF_ELIMIT) {
            char *why = w->err;
            w->err = wf_asprintf("%s (check recipes.path in the configuration)", why);
            free(why);
            w->export_failed = 1;
        }
        if (w->rc == 0 && (w->rc = point_current(r, w->head, &w->err)) == 0)
            w->exported = 1;
        remove_old_exports(r, w->built, w->head);
        if (w->rc != 0)
            goto done;
    }
    if (w->want_pulls)
        w->pulls_rc =
            wf_gitrepo_ls_remote(r->git, PULLS_GLOB, &w->pulls, &w->n_pulls, &w->pulls_err);
done:
    free(spec);
    free(ref);
}

/* ---- results, on the loop ---- */

static void poll_work_free(poll_work *w)
{
    free(w->err);
    free(w->pulls_err);
    wf_git_refs_free(w->pulls, w->n_pulls);
    free(w);
}

static void set_text(char **field, const char *text)
{
    free(*field);
    *field = text != NULL ? wf_strdup(text) : NULL;
}

static void write_built(wf_recipe_repo *r)
{
    char line[42];
    snprintf(line, sizeof(line), "%s\n", r->built);
    int rc = wf_fs_write_atomic(r->built_file, line, 41, 0644);
    if (rc != 0)
        wf_log_error("recipes: cannot write %s: %s (the next start compares with an older "
                     "commit and schedules again what is missing)",
                     r->built_file, wf_strerror(rc));
}

/* Loads the export of `head` (now at `current`) and submits the builds of what changed. */
static void load_commit(wf_recipe_repo *r, const char *head)
{
    char *detail = r->built[0] != '\0'
                       ? wf_asprintf("branch %s of %s moved from %.12s to %.12s", r->cfg->branch,
                                     r->shown, r->built, head)
                       : wf_asprintf("branch %s of %s at %.12s", r->cfg->branch, r->shown, head);
    const wf_trigger t = {
        .kind = "commit", .commit = head, .ref = r->cfg->branch, .detail = detail};
    size_t n = 0;
    int rc = wf__recipes_reload(r->d, r->current, &t, &n);
    set_text(&r->commit_error, NULL);
    if (rc == WF_EINVAL) {
        memcpy(r->attempted, head, 41);
        wf_log_warn("recipes: commit %.12s of %s has invalid recipes (above); %s stay in force",
                    head, r->shown,
                    r->built[0] != '\0' ? "those of the last good commit" : "no recipes");
    } else if (rc != 0) {
        /* The set is in force but its builds were not recorded: the next start, comparing with
         * the last commit written below, schedules them again. */
        memcpy(r->attempted, head, 41);
        wf_log_error("recipes: commit %.12s of %s is loaded but its builds could not be "
                     "recorded: %s",
                     head, r->shown, wf_strerror(rc));
    } else {
        wf_log_info("recipes: commit %.12s of %s (branch %s) is in force; %zu recipe(s) new or "
                    "changed",
                    head, r->shown, r->cfg->branch, n);
        memcpy(r->built, head, 41);
        r->attempted[0] = '\0';
        write_built(r);
    }
    free(detail);
}

static int64_t pull_number(const char *name)
{
    int64_t n = 0;
    const char *p = name + strlen("refs/pull/");
    const char *end = strchr(p, '/');
    if (end == NULL || wf_parse_i64(p, (size_t)(end - p), &n) != 0 || n <= 0)
        return 0;
    return n;
}

static const wf_git_ref *find_pull(const wf_recipe_repo *r, const char *name)
{
    wf_git_ref key = {(char *)name, ""};
    if (r->n_pulls == 0) /* bsearch's base must not be NULL, even for zero items */
        return NULL;
    return bsearch(&key, r->pulls, r->n_pulls, sizeof(*r->pulls), cmp_pull);
}

/* Hands every pull request head that is new or moved since the last listing to the PR module.
 * The first listing ever only records the baseline: forges keep refs/pull/N/head of closed pull
 * requests, and rebuilding the whole history is not a catch-up. */
static void catch_up_pulls(wf_recipe_repo *r, poll_work *w)
{
    if (w->pulls_rc != 0) {
        if (r->pulls_error == NULL || strcmp(r->pulls_error, w->pulls_err) != 0)
            wf_log_warn("recipes: %s", w->pulls_err);
        set_text(&r->pulls_error, w->pulls_err);
        return;
    }
    set_text(&r->pulls_error, NULL);
    if (w->n_pulls > 0)
        qsort(w->pulls, w->n_pulls, sizeof(*w->pulls), cmp_pull);
    int changed = !r->pulls_known || w->n_pulls != r->n_pulls;
    for (size_t i = 0; i < w->n_pulls; i++) {
        const wf_git_ref *old = find_pull(r, w->pulls[i].name);
        if (old != NULL && strcmp(old->sha, w->pulls[i].sha) == 0)
            continue;
        changed = 1;
        int64_t number = pull_number(w->pulls[i].name);
        if (!r->pulls_known || number == 0)
            continue;
        const wf_pr_event ev = {.action = "synchronize",
                                .number = number,
                                .head_sha = w->pulls[i].sha,
                                .base_ref = r->cfg->branch};
        wf_log_info("recipes: pull request %" PRId64 " of %s has head %.12s (caught up by "
                    "polling)",
                    number, r->shown, w->pulls[i].sha);
        wf__pr_event(r->d, &ev);
    }
    if (!r->pulls_known)
        wf_log_info("recipes: %zu pull request head(s) of %s recorded as the baseline; later "
                    "changes are caught up at each poll",
                    w->n_pulls, r->shown);
    wf_git_refs_free(r->pulls, r->n_pulls);
    r->pulls = w->pulls;
    r->n_pulls = w->n_pulls;
    r->pulls_known = 1;
    w->pulls = NULL;
    w->n_pulls = 0;
    if (changed)
        write_pulls(r);
}

static void poll_failed(wf_recipe_repo *r, poll_work *w)
{
    if (w->export_failed) {
        if (r->commit_error == NULL || strcmp(r->commit_error, w->err) != 0)
            wf_log_error("recipes: %s", w->err);
        memcpy(r->attempted, w->head, 41);
        memcpy(r->head, w->head, 41);
        set_text(&r->commit_error, w->err);
        set_text(&r->error, NULL);
        return;
    }
    if (r->error == NULL || strcmp(r->error, w->err) != 0)
        wf_log_warn("recipes: %s; %s, next try in %u s", w->err,
                    r->built[0] != '\0' ? "the recipes loaded before stay in force"
                                        : "no recipes are loaded yet",
                    r->cfg->poll_s);
    set_text(&r->error, w->err);
}

static void maybe_finish_close(wf_recipe_repo *r);
static void on_tick(uv_timer_t *t);

static void poll_done(uv_work_t *req, int status)
{
    poll_work *w = wf_container_of(req, poll_work, req);
    wf_recipe_repo *r = w->r;
    r->inflight = NULL;
    if (status == UV_ECANCELED || r->closing || r->d->state != WF_DAEMON_RUNNING) {
        /* What the poll wrote to disk is redone by the next start's first poll. */
        poll_work_free(w);
        maybe_finish_close(r);
        return;
    }
    r->polled_at = wf_time_s();
    if (w->rc != 0) {
        poll_failed(r, w);
    } else {
        if (r->error != NULL)
            wf_log_info("recipes: %s answers again", r->shown);
        set_text(&r->error, NULL);
        memcpy(r->head, w->head, 41);
        if (w->exported)
            load_commit(r, w->head);
        if (w->want_pulls)
            catch_up_pulls(r, w);
    }
    poll_work_free(w);
    if (r->again) {
        r->again = 0;
        on_tick(&r->timer);
    }
}

static void on_tick(uv_timer_t *t)
{
    wf_recipe_repo *r = t->data;
    if (r->closing || r->d->state != WF_DAEMON_RUNNING)
        return;
    if (r->inflight != NULL) {
        wf_log_debug("recipes: the previous poll of %s is still running; skipping this one",
                     r->shown);
        return;
    }
    poll_work *w = wf_calloc(1, sizeof(*w));
    w->r = r;
    memcpy(w->built, r->built, 41);
    memcpy(w->attempted, r->attempted, 41);
    w->want_pulls = r->cfg->pull_requests;
    int rc = uv_queue_work(r->d->loop, &w->req, poll_run, poll_done);
    if (rc != 0) {
        wf_log_error("recipes: cannot queue the poll of %s: %s", r->shown, uv_strerror(rc));
        poll_work_free(w);
        return;
    }
    r->inflight = w;
}

void wf__recipe_repo_poll_now(wf_recipe_repo *r)
{
    if (r->inflight != NULL)
        r->again = 1;
    else if (r->timer_open)
        on_tick(&r->timer);
}

/* ---- lifecycle ---- */

static void repo_free(wf_recipe_repo *r)
{
    wf_gitrepo_close(r->git);
    free(r->shown);
    free(r->exports);
    free(r->built_file);
    free(r->pulls_file);
    free(r->error);
    free(r->commit_error);
    free(r->pulls_error);
    wf_git_refs_free(r->pulls, r->n_pulls);
    free(r);
}

/* The commit in force at the last stop: its export becomes `current` again and is loaded
 * without scheduling (its builds were submitted then). */
static void load_last_commit(wf_recipe_repo *r)
{
    char *dir = wf_asprintf("%s/%s", r->exports, r->built);
    struct stat st;
    char *err = NULL;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        wf_log_warn("recipes: the export of commit %.12s is missing; the first poll exports "
                    "and schedules it again",
                    r->built);
        r->built[0] = '\0';
    } else if (point_current(r, r->built, &err) != 0) {
        wf_log_error("recipes: %s", err);
        r->built[0] = '\0';
    } else if (wf__recipes_reload(r->d, r->current, NULL, NULL) != 0) {
        r->built[0] = '\0';
    } else {
        wf_log_info("recipes: %zu recipe(s) of commit %.12s of %s loaded; polling every %u s",
                    r->d->recipes->n, r->built, r->shown, r->cfg->poll_s);
    }
    free(err);
    free(dir);
}

int wf__recipe_repo_new(wf_recipe_repo **out, wf_daemon *d, char **errmsg)
{
    const wf_config *cfg = d->cfg;
    wf_recipe_repo *r = wf_calloc(1, sizeof(*r));
    r->d = d;
    r->cfg = cfg->recipes_git;
    r->shown = wf_gitrepo_redact_url(r->cfg->url);
    r->exports = wf_asprintf("%s/recipes-git", cfg->state_dir);
    r->current = cfg->recipes;
    r->built_file = wf_asprintf("%s/built", r->exports);
    r->pulls_file = wf_asprintf("%s/pulls", r->exports);
    char *mirror = wf_gitrepo_mirror_dir(cfg->state_dir, r->cfg->url);
    char *err = NULL;
    int rc = wf_fs_mkdirs(r->exports, 0755);
    if (rc != 0) {
        *errmsg = wf_asprintf("cannot create %s: %s (check state_dir in %s)", r->exports,
                              wf_strerror(rc), cfg->file);
        goto fail;
    }
    if ((rc = wf_gitrepo_open(&r->git, r->cfg->url, mirror, &err)) != 0) {
        *errmsg = wf_asprintf("%s (check state_dir in %s)", err, cfg->file);
        goto fail;
    }
    read_built(r);
    if (r->cfg->pull_requests)
        read_pulls(r);
    if (r->built[0] != '\0')
        load_last_commit(r);
    free(err);
    free(mirror);
    *out = r;
    return 0;
fail:
    free(err);
    free(mirror);
    repo_free(r);
    return rc;
}

int wf__recipe_repo_start(wf_recipe_repo *r)
{
    int rc = uv_timer_init(r->d->loop, &r->timer);
    if (rc != 0)
        return rc;
    r->timer_open = 1;
    r->timer.data = r;
    r->timer_started = 1;
    return uv_timer_start(&r->timer, on_tick, 0, (uint64_t)r->cfg->poll_s * 1000u);
}

static void maybe_finish_close(wf_recipe_repo *r)
{
    if (!r->closing || r->timer_open || r->inflight != NULL)
        return;
    void (*cb)(void *) = r->on_closed;
    void *ctx = r->closed_ctx;
    repo_free(r);
    if (cb != NULL)
        cb(ctx);
}

static void on_timer_closed(uv_handle_t *h)
{
    wf_recipe_repo *r = h->data;
    r->timer_open = 0;
    maybe_finish_close(r);
}

void wf__recipe_repo_close(wf_recipe_repo *r, void (*on_closed)(void *ctx), void *ctx)
{
    if (r->closing)
        return;
    r->closing = 1;
    r->on_closed = on_closed;
    r->closed_ctx = ctx;
    /* A poll still queued is dropped; one running stops at its next socket wait. */
    if (r->inflight != NULL && uv_cancel((uv_req_t *)&r->inflight->req) != 0)
        wf_gitrepo_cancel(r->git);
    if (r->timer_open) {
        uv_close((uv_handle_t *)&r->timer, on_timer_closed);
        return;
    }
    maybe_finish_close(r);
}

/* ---- the API's view ---- */

static void add_sha(cJSON *o, const char *key, const char *sha)
{
    if (sha[0] != '\0')
        cJSON_AddStringToObject(o, key, sha);
    else
        cJSON_AddNullToObject(o, key);
}

cJSON *wf__recipe_repo_json(const wf_recipe_repo *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "git", r->shown);
    cJSON_AddStringToObject(o, "branch", r->cfg->branch);
    cJSON_AddStringToObject(o, "path", r->cfg->path[0] != '\0' ? r->cfg->path : ".");
    cJSON_AddNumberToObject(o, "poll", r->cfg->poll_s);
    cJSON_AddBoolToObject(o, "pull_requests", r->cfg->pull_requests);
    add_sha(o, "commit", r->built);
    add_sha(o, "head", r->head);
    if (r->polled_at > 0)
        cJSON_AddNumberToObject(o, "polled_at", (double)r->polled_at);
    else
        cJSON_AddNullToObject(o, "polled_at");
    const char *err = r->error != NULL ? r->error : r->commit_error;
    if (err != NULL)
        cJSON_AddStringToObject(o, "error", err);
    else
        cJSON_AddNullToObject(o, "error");
    return o;
}

void wf__recipe_repo_errors(const wf_recipe_repo *r, cJSON *errors)
{
    /* The same shape as a recipe file's problems (see api.c), without a position. */
    const char *const v[] = {r->error, r->commit_error, r->pulls_error};
    for (size_t i = 0; i < WF_ARRAY_SIZE(v); i++) {
        if (v[i] == NULL)
            continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "file", r->shown != NULL ? r->shown : "repository");
        cJSON_AddNullToObject(e, "line");
        cJSON_AddNullToObject(e, "column");
        cJSON_AddStringToObject(e, "message", v[i]);
        cJSON_AddStringToObject(e, "text", v[i]);
        cJSON_AddItemToArray(errors, e);
    }
}
