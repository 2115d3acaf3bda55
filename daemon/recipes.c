/* recipes.c - the recipe set in force: (re)loading it, keeping the last good set when a file is
 * broken, reporting the problems, and scheduling the builds of the recipes that changed.
 *
 * "Changed" means the recipe's canonical form (wf_recipe_canonical: what the planner hashes into
 * build keys, plus the versions, python tags and platforms that say which builds exist) differs
 * from the same-named recipe's in the set before. A changed recipe gets all of its builds
 * planned and submitted; wf__submit skips the keys already built or queued, so adding a version
 * builds only that version's jobs, while editing the build (environment, source, native) gives
 * every job a new key.
 *
 * Loading runs on the loop thread. A recipe set is a directory of small YAML files: reloading
 * 500 recipes in 500 files takes about 40 ms of CPU here (parsing and validating them, then
 * comparing canonical forms; only new and changed recipes are planned, since computing build keys
 * is the costly part), and reloads are rare (a person saving a file, a repository commit). That
 * pause is cheaper than a thread-pool round trip would be in complexity: the callers (the
 * watcher, the repository poller) need the result synchronously.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/internal.h"
#include "lib/log.h"

static void diag_add(wf_diag_list *l, const char *file, int line, int column, const char *msg)
{
    l->items = wf_realloc(l->items, (l->n + 1) * sizeof(*l->items));
    wf_diag *d = &l->items[l->n++];
    d->file = wf_strdup(file);
    d->line = line;
    d->column = column;
    d->message = wf_strdup(msg);
}

static char *join_diags(const wf_diag_list *diags)
{
    wf_buf b = WF_BUF_INIT;
    for (size_t i = 0; i < diags->n; i++) {
        char *line = wf_diag_format(&diags->items[i]);
        if (i)
            wf_buf_adds(&b, "\n");
        wf_buf_adds(&b, line);
        free(line);
    }
    return wf_buf_detach(&b);
}

/* Makes *diags the set's errors (taking them over; diags is left empty). */
static void set_errors(wf_daemon *d, wf_diag_list *diags)
{
    wf_diag_list_release(&d->recipe_diags);
    free(d->recipe_errors);
    d->recipe_errors = NULL;
    d->recipe_diags = *diags;
    diags->items = NULL;
    diags->n = 0;
    if (d->recipe_diags.n > 0)
        d->recipe_errors = join_diags(&d->recipe_diags);
}

static void log_errors(const wf_daemon *d, const char *root)
{
    char stamp[32] = "";
    struct tm tm;
    time_t at = (time_t)d->recipes_loaded_at;
    if (gmtime_r(&at, &tm) != NULL)
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    wf_log_error("recipes: cannot load '%s' (%zu problem(s)); the %zu recipe(s) loaded at %s "
                 "stay in force until it is fixed:",
                 root, d->recipe_diags.n, d->recipes->n, stamp);
    for (size_t i = 0; i < d->recipe_diags.n; i++) {
        char *line = wf_diag_format(&d->recipe_diags.items[i]);
        wf_log_error("recipes: %s", line);
        free(line);
    }
}

void wf__recipes_set_error(wf_daemon *d, const char *where, const char *message)
{
    wf_diag_list diags = {NULL, 0};
    diag_add(&diags, where, 0, 0, message);
    set_errors(d, &diags);
    if (d->recipes != NULL)
        log_errors(d, where);
}

static int same_canonical(const wf_recipe *a, const wf_recipe *b)
{
    char *ca = wf_recipe_canonical(a), *cb = wf_recipe_canonical(b);
    int same = strcmp(ca, cb) == 0;
    free(ca);
    free(cb);
    return same;
}

int wf__recipes_changed(const wf_recipe_list *prev, const wf_recipe_list *next,
                        const wf_recipe ***out, size_t *n_out)
{
    const wf_recipe **v = NULL;
    size_t n = 0;
    for (size_t i = 0; i < next->n; i++) {
        const wf_recipe *r = next->items[i];
        const wf_recipe *old = prev != NULL ? wf_recipe_list_find(prev, r->normalized) : NULL;
        if (old != NULL && same_canonical(old, r))
            continue;
        v = wf_realloc(v, (n + 1) * sizeof(*v));
        v[n++] = r;
    }
    *out = v;
    *n_out = n;
    return 0;
}

static int is_listed(const wf_recipe *const *v, size_t n, const wf_recipe *r)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == r)
            return 1;
    return 0;
}

/* Moves src's jobs to the end of dst. */
static void plan_append(wf_plan *dst, wf_plan *src)
{
    if (src->n == 0)
        return;
    dst->jobs = wf_realloc(dst->jobs, (dst->n + src->n) * sizeof(*dst->jobs));
    memcpy(dst->jobs + dst->n, src->jobs, src->n * sizeof(*src->jobs));
    dst->n += src->n;
    free(src->jobs);
    src->jobs = NULL;
    src->n = 0;
}

/* The warning recorded for the recipe named `normalized` in the set before, or NULL. */
static const char *old_warning(const wf_daemon *d, const char *normalized)
{
    for (size_t i = 0; i < d->recipe_warnings.n; i++)
        if (strcmp(d->recipe_warning_names[i], normalized) == 0)
            return d->recipe_warnings.items[i].message;
    return NULL;
}

static void release_warnings(wf_daemon *d)
{
    for (size_t i = 0; i < d->recipe_warnings.n; i++)
        free(d->recipe_warning_names[i]);
    free(d->recipe_warning_names);
    d->recipe_warning_names = NULL;
    wf_diag_list_release(&d->recipe_warnings);
}

/* Plans the new and changed recipes of the set in force, as `wheelfarm build NAME` would, and
 * collects their jobs into *out. A recipe the planner refuses (a python tag its platform's image
 * lacks, a platform without an image) becomes a warning on the set; an unchanged recipe keeps
 * the warning it had, since the configuration does not change while the daemon runs. Planning
 * only what changed keeps a reload of a big set cheap: the build keys are the costly part. */
static void plan_changed(wf_daemon *d, const wf_recipe *const *changed, size_t n_changed,
                         wf_plan *out)
{
    wf_diag_list warnings = {NULL, 0};
    char **names = NULL;
    for (size_t i = 0; i < d->recipes->n; i++) {
        const wf_recipe *r = d->recipes->items[i];
        char *err = NULL;
        if (!is_listed(changed, n_changed, r)) {
            const char *w = old_warning(d, r->normalized);
            err = w != NULL ? wf_strdup(w) : NULL;
        } else {
            const char *spec = r->normalized;
            wf_plan_request req = {&spec, 1, NULL, 0, NULL, 0};
            wf_plan p = {NULL, 0};
            if (wf_plan_build(&p, d->recipes, d->cfg, &req, &err) == 0)
                plan_append(out, &p);
            else
                wf_log_warn("recipes: %s:%d: recipe '%s' cannot be built: %s", r->file, r->line,
                            r->name, err);
            wf_plan_release(&p);
        }
        if (err == NULL)
            continue;
        diag_add(&warnings, r->file, r->line, 0, err);
        names = wf_realloc(names, warnings.n * sizeof(*names));
        names[warnings.n - 1] = wf_strdup(r->normalized);
        free(err);
    }
    release_warnings(d);
    d->recipe_warnings = warnings;
    d->recipe_warning_names = names;
}

/* One log line saying what the reload changed, naming the recipes. */
static void log_changes(const wf_recipe_list *prev, const wf_recipe_list *next, const char *root,
                        const wf_recipe *const *changed, size_t n_changed)
{
    wf_buf b = WF_BUF_INIT;
    for (size_t i = 0; i < n_changed; i++) {
        int is_new = wf_recipe_list_find(prev, changed[i]->normalized) == NULL;
        wf_buf_addf(&b, "%s%s (%s)", i ? ", " : "", changed[i]->name, is_new ? "new" : "changed");
    }
    size_t removed = 0;
    for (size_t i = 0; i < prev->n; i++) {
        if (wf_recipe_list_find(next, prev->items[i]->normalized) != NULL)
            continue;
        wf_buf_addf(&b, "%s%s (removed)", b.len ? ", " : "", prev->items[i]->name);
        removed++;
    }
    wf_log_info("recipes: loaded %zu recipe(s) from '%s': %zu new or changed, %zu removed%s%s",
                next->n, root, n_changed, removed, b.len ? ": " : "", b.len ? b.ptr : "");
    wf_buf_release(&b);
}

int wf__recipes_reload(wf_daemon *d, const char *root, const wf_trigger *t, size_t *n_changed)
{
    wf_diag_list diags = {NULL, 0};
    wf_recipe_list *next = NULL;
    const wf_recipe **changed = NULL;
    size_t n = 0;
    int rc = wf_recipe_load_path(&next, root, &diags);
    if (rc != 0) {
        if (diags.n == 0)
            diag_add(&diags, root, 0, 0, wf_strerror(rc));
        set_errors(d, &diags);
        if (d->recipes != NULL)
            log_errors(d, root);
        return WF_EINVAL;
    }
    wf__recipes_changed(d->recipes, next, &changed, &n);
    wf_recipe_list *prev = d->recipes;
    if (prev != NULL)
        log_changes(prev, next, root, changed, n);
    /* The new set is in force before anything is planned: jobs name recipes by their
     * normalized name and a run looks its recipe up in d->recipes when it starts. */
    d->recipes = next;
    set_errors(d, &diags);
    free(d->recipes_source);
    d->recipes_source = wf_strdup(root);
    d->recipes_loaded_at = (int64_t)time(NULL);

    wf_plan plan = {NULL, 0};
    plan_changed(d, changed, n, &plan);
    rc = 0;
    if (t != NULL && plan.n > 0)
        rc = wf__submit(d, &plan, t, 0, NULL, NULL);
    wf_plan_release(&plan);
    /* Runs in flight hold their own copy of their recipe (run.c), so the old set can go. */
    wf_recipe_list_free(prev);
    free(changed);
    if (n_changed != NULL)
        *n_changed = n;
    return rc;
}

void wf__recipes_release(wf_daemon *d)
{
    wf_recipe_list_free(d->recipes);
    d->recipes = NULL;
    free(d->recipe_errors);
    d->recipe_errors = NULL;
    wf_diag_list_release(&d->recipe_diags);
    release_warnings(d);
    free(d->recipes_source);
    d->recipes_source = NULL;
}
