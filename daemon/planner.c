/* planner.c - turns "build NAME[==VERSION]" into concrete jobs with their build keys. */
#include "daemon/planner.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "daemon/substitute.h"
#include "lib/hash.h"
#include "lib/pep440.h"
#include "lib/specifier.h"

/* The recipe's canonical form without the lists that only say which jobs exist (versions,
 * python tags, platforms, and the tracking keys that pick versions): adding a version or a
 * platform to a recipe, or widening what it tracks, must not change the keys (and so force
 * rebuilds) of the wheels already built. The job's own version, python and platform enter the
 * key separately. The log-idle timeout only says when a silent build is given up on, so it
 * stays out too (and keys made before it existed stay valid). */
static char *canonical_for_key(const wf_recipe *r)
{
    char *canon = wf_recipe_canonical(r);
    cJSON *o = cJSON_Parse(canon);
    if (o == NULL)
        return canon;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "versions");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "python");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "platforms");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "track");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "min_age");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "prereleases");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "idle_timeout");
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text == NULL)
        return canon;
    free(canon);
    char *copy = wf_strdup(text);
    cJSON_free(text);
    return copy;
}

/* What every build key of one recipe shares: its canonical form for keys and the substitutes the
 * configuration declares for its pins. The canonical form is printed with the whole version list
 * and then trimmed, so it costs as much as the recipe is long: a plan computes it once per
 * recipe, not once per job (a recipe of V versions would otherwise plan in O(V^2)). */
typedef struct key_base {
    const wf_recipe *recipe; /* borrowed */
    char *canon;
    char *subs;
} key_base;

static void key_base_init(key_base *b, const wf_recipe *r, const wf_config *cfg)
{
    b->recipe = r;
    b->canon = canonical_for_key(r);
    b->subs = wf_substitutes_key_text(cfg, r);
}

static void key_base_release(key_base *b)
{
    free(b->canon);
    free(b->subs);
}

static void key_from_base(const key_base *b, const char *version, const char *python,
                          const char *platform, const char *image, char out[65])
{
    char *text = wf_asprintf("wheelfarm-build-v%d\n%s\n%s\n%s\n%s\n%s\n%s", WF_BUILD_SCHEMA,
                             b->canon, version, python, platform, image, b->subs);
    wf_sha256_hex(text, strlen(text), out);
    free(text);
}

void wf_plan_build_key(const wf_recipe *r, const wf_config *cfg, const char *version,
                       const char *python, const char *platform, const char *image, char out[65])
{
    key_base b;
    key_base_init(&b, r, cfg);
    key_from_base(&b, version, python, platform, image, out);
    key_base_release(&b);
}

/* One wf_plan_build() call: the jobs so far and the key bases of the recipes planned. Both live
 * only as long as the call, so a reloaded or copied recipe never meets a stale base. */
typedef struct planning {
    wf_plan plan;
    size_t cap;
    const wf_config *cfg;
    const wf_plan_request *req;
    key_base *bases;
    size_t n_bases;
} planning;

/* The key base of r, computed on first use in this call. A request names at most a few hundred
 * recipes, so a linear search is enough. Valid until the next call. */
static const key_base *base_for(planning *pl, const wf_recipe *r)
{
    for (size_t i = 0; i < pl->n_bases; i++)
        if (pl->bases[i].recipe == r)
            return &pl->bases[i];
    pl->bases = wf_realloc(pl->bases, (pl->n_bases + 1) * sizeof(*pl->bases));
    key_base *b = &pl->bases[pl->n_bases++];
    key_base_init(b, r, pl->cfg);
    return b;
}

static void planning_release_bases(planning *pl)
{
    for (size_t i = 0; i < pl->n_bases; i++)
        key_base_release(&pl->bases[i]);
    free(pl->bases);
    pl->bases = NULL;
    pl->n_bases = 0;
}

void wf_plan_release(wf_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->jobs[i].version);
        free(p->jobs[i].python);
        free(p->jobs[i].platform);
        free(p->jobs[i].image);
    }
    free(p->jobs);
    p->jobs = NULL;
    p->n = 0;
}

static int list_has(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static char *join(char *const *list, size_t n)
{
    wf_buf b = WF_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i)
            wf_buf_adds(&b, ", ");
        wf_buf_adds(&b, list[i]);
    }
    return wf_buf_detach(&b);
}

/* The version to build for `want`: the recipe version equal to it under PEP 440 (so 2.0 ==
 * 2.0.0 == v2.0), as the recipe writes it; else, for a tracking recipe, want's normalized form
 * when the specifier contains it (pre-releases included: a person or a bump asked for exactly
 * this version). NULL when the recipe has no such version. Caller frees. */
static char *match_version(const wf_recipe *r, const char *want)
{
    wf_pep440 w;
    char *found = NULL;
    if (wf_pep440_parse(&w, want, strlen(want)) != 0)
        return NULL;
    for (size_t i = 0; i < r->n_versions && found == NULL; i++) {
        wf_pep440 v;
        if (wf_pep440_parse(&v, r->versions[i], strlen(r->versions[i])) != 0)
            continue;
        if (wf_pep440_cmp(&v, &w) == 0)
            found = wf_strdup(r->versions[i]);
        wf_pep440_release(&v);
    }
    wf_specifier *spec = NULL;
    if (found == NULL && r->track != NULL &&
        wf_specifier_parse(&spec, r->track, strlen(r->track), NULL) == 0) {
        if (wf_specifier_contains(spec, want, strlen(want), 1))
            found = wf_pep440_str(&w);
        wf_specifier_free(spec);
    }
    wf_pep440_release(&w);
    return found;
}

static void plan_add(planning *pl, const key_base *base, const char *version, const char *python,
                     const char *platform, const char *image)
{
    wf_plan *p = &pl->plan;
    if (p->n == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 16;
        p->jobs = wf_realloc(p->jobs, pl->cap * sizeof(*p->jobs));
    }
    wf_plan_job *j = &p->jobs[p->n++];
    j->recipe = base->recipe;
    j->version = wf_strdup(version);
    j->python = wf_strdup(python);
    j->platform = wf_strdup(platform);
    j->image = wf_strdup(image);
    key_from_base(base, version, python, platform, image, j->build_key);
}

/* Checks the filters against what the recipe and the images offer. */
static char *check_filters(const wf_recipe *r, const wf_config *cfg, const wf_plan_request *req)
{
    for (size_t i = 0; i < req->n_platforms; i++) {
        if (!list_has(r->platforms, r->n_platforms, req->platforms[i])) {
            char *have = join(r->platforms, r->n_platforms);
            char *m = wf_asprintf("recipe '%s' does not build for platform '%s' (it lists: %s); "
                                  "add it to the recipe's platforms or drop --platform",
                                  r->name, req->platforms[i], have);
            free(have);
            return m;
        }
    }
    for (size_t i = 0; i < req->n_python; i++) {
        if (!list_has(r->python, r->n_python, req->python[i])) {
            char *have = join(r->python, r->n_python);
            char *m = wf_asprintf("recipe '%s' does not build for python '%s' (it lists: %s); "
                                  "add it to the recipe's python list or drop --python",
                                  r->name, req->python[i], have);
            free(have);
            return m;
        }
    }
    (void)cfg;
    return NULL;
}

static int selected(const char *const *filter, size_t n, const char *value)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(filter[i], value) == 0)
            return 1;
    return 0;
}

/* Adds the jobs of one recipe version; fails when an image lacks a platform or interpreter. */
static char *plan_version(planning *pl, const key_base *base, const char *version)
{
    const wf_recipe *r = base->recipe;
    const wf_config *cfg = pl->cfg;
    const wf_plan_request *req = pl->req;
    for (size_t pi = 0; pi < r->n_platforms; pi++) {
        const char *platform = r->platforms[pi];
        if (!selected(req->platforms, req->n_platforms, platform))
            continue;
        const wf_image_config *img = wf_config_image(cfg, platform);
        if (img == NULL)
            return wf_asprintf("no builder image is configured for %s (recipe '%s'); add it "
                               "under 'images:' in %s",
                               platform, r->name, cfg->file);
        for (size_t yi = 0; yi < r->n_python; yi++) {
            const char *py = r->python[yi];
            if (!selected(req->python, req->n_python, py))
                continue;
            if (!list_has(img->python, img->n_python, py)) {
                char *have = join(img->python, img->n_python);
                char *m =
                    wf_asprintf("builder image '%s' for %s has no %s interpreter (it has: "
                                "%s); list it under images.%s.python in %s or drop %s "
                                "from recipe '%s'",
                                img->image, platform, py, have, platform, cfg->file, py, r->name);
                free(have);
                return m;
            }
            plan_add(pl, base, version, py, platform, img->image);
        }
    }
    return NULL;
}

static char *plan_spec(planning *pl, const wf_recipe_list *recipes, const char *spec)
{
    const wf_config *cfg = pl->cfg;
    const wf_plan_request *req = pl->req;
    const char *eq = strstr(spec, "==");
    char *name = eq ? wf_strndup(spec, (size_t)(eq - spec)) : wf_strdup(spec);
    const char *want = eq ? eq + 2 : NULL;
    char *err = NULL;
    const wf_recipe *r = wf_recipe_list_find(recipes, name);
    if (r == NULL) {
        err = wf_asprintf("no recipe named '%s'; 'wheelfarm recipes' lists the known ones", name);
        goto done;
    }
    if ((err = check_filters(r, cfg, req)) != NULL)
        goto done;
    if (want != NULL) {
        char *v = match_version(r, want);
        if (v == NULL && r->track != NULL) {
            char *have = join(r->versions, r->n_versions);
            err = wf_asprintf("recipe '%s' has no version '%s' (it lists: %s; it tracks '%s', "
                              "which excludes it); add it to the recipe's versions",
                              r->name, want, have[0] ? have : "none", r->track);
            free(have);
            goto done;
        }
        if (v == NULL) {
            char *have = join(r->versions, r->n_versions);
            err = wf_asprintf("recipe '%s' has no version '%s' (it lists: %s); add it to the "
                              "recipe's versions",
                              r->name, want, have);
            free(have);
            goto done;
        }
        err = plan_version(pl, base_for(pl, r), v);
        free(v);
        goto done;
    }
    const key_base *base = base_for(pl, r);
    for (size_t i = 0; i < r->n_versions && err == NULL; i++)
        err = plan_version(pl, base, r->versions[i]);
done:
    free(name);
    return err;
}

int wf_plan_build(wf_plan *out, const wf_recipe_list *recipes, const wf_config *cfg,
                  const wf_plan_request *req, char **errmsg)
{
    planning pl = {{NULL, 0}, 0, cfg, req, NULL, 0};
    char *err = NULL;
    if (req->n_specs == 0) {
        *errmsg = wf_strdup("nothing to build: name at least one recipe, as NAME or NAME==VERSION");
        return WF_EINVAL;
    }
    for (size_t i = 0; i < req->n_specs && err == NULL; i++)
        err = plan_spec(&pl, recipes, req->specs[i]);
    planning_release_bases(&pl);
    if (err != NULL) {
        wf_plan_release(&pl.plan);
        *errmsg = err;
        return WF_EINVAL;
    }
    *out = pl.plan;
    return 0;
}
